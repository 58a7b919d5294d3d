//! DHT address records (`proto::dht_record::open`), values anyone can put on the DHT.
//! The fuzzer's bytes are tried as a value, and sealed as the plaintext under the real keys
//! (the constants of proto/dht_record.rs), so the JSON and signature checks are reached.
//! Proves: no panic; nothing opens unless signed by the peer it is looked up for.
#![no_main]

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use kith_proto::hash::hmac;
use kith_proto::identity::PeerId;
use kith_proto::dht_record::{open, RecordKeys, MAX_ADDRS};
use libfuzzer_sys::fuzz_target;

const REACH: [u8; 32] = [7; 32];

fuzz_target!(|data: &[u8]| {
    let keys = RecordKeys::derive(&REACH, 20_000);
    let peer = PeerId([3; 32]);
    assert_eq!(open(&keys, &peer, data), None);
    let sealed = ChaCha20Poly1305::new(Key::from_slice(&hmac(&REACH, b"kith dht sealing key v1")))
        .encrypt(
            Nonce::from_slice(&[0; 12]),
            Payload {
                msg: data,
                aad: b"kith dht record v1",
            },
        )
        .unwrap();
    let value = [&[0u8; 12][..], &sealed].concat();
    // No key signs for PeerId([3; 32]): whatever the plaintext says, nothing opens.
    assert_eq!(open(&keys, &peer, &value), None);
    if let Some((_, addrs)) = open(&keys, &PeerId([0; 32]), &value) {
        assert!(addrs.len() <= MAX_ADDRS);
    }
});
