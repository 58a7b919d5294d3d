//! Invite links (`proto::invite::parse`), pasted by users from anywhere.
//! Proves: no panic on any text; a body under a signature that does not hold is refused;
//! a body really signed by the key it names parses, and its re-made link parses back to it.
#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use kith_proto::identity::Identity;
use kith_proto::invite::{link, parse, PREFIX};
use libfuzzer_sys::fuzz_target;

fn inviter() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| Identity::generate().unwrap())
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse(text, 0);
        let _ = parse(text, u64::MAX);
    }
    // The bytes as a link body behind a dummy signature: reaches the binary decoder directly.
    let unsigned = format!("{PREFIX}{}", B64.encode([data, &[0u8; 64]].concat()));
    assert!(parse(&unsigned, 0).is_err());
    // The same body naming our key and signed with it (as `invite::link` signs).
    if data.len() > 33 {
        let mut body = data.to_vec();
        body[1..33].copy_from_slice(inviter().peer_id().as_bytes());
        let mut input = b"kith invite v1\0".to_vec();
        input.extend_from_slice(&body);
        let sig = inviter().sign(&input);
        let signed = format!("{PREFIX}{}", B64.encode([&body[..], &sig].concat()));
        if let Ok(b) = parse(&signed, 0) {
            assert_eq!(parse(&link(inviter(), &b), 0), Ok(b));
        }
    }
});
