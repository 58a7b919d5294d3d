//! Peer frames (`PeerMsg::from_bytes`), the first thing done with every frame a peer sends.
//! Proves: no panic on any bytes; an accepted message re-encodes to one that decodes to
//! the same message (what we relay or answer is what we checked).
#![no_main]

use kith_proto::peer::PeerMsg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = PeerMsg::from_bytes(data) {
        let again = PeerMsg::from_bytes(&msg.to_bytes()).expect("re-encoded message refused");
        assert_eq!(again, msg);
    }
});
