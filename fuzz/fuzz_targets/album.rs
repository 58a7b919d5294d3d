//! Album metadata (`SignedAlbum::from_bytes`: size cap, JSON, bounds, owner's signature).
//! Proves: no panic on any bytes; an accepted album re-encodes to the same album; and, for
//! fuzzer-shaped albums signed by a real owner, "accepted ⇔ within bounds" and any change
//! after signing breaks the signature.
#![no_main]

use std::sync::OnceLock;

use kith_proto::identity::Identity;
use kith_proto::album::{Album, SignedAlbum, MAX_ALBUM_BYTES};
use libfuzzer_sys::fuzz_target;

fn owner() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| Identity::generate().unwrap())
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = SignedAlbum::from_bytes(data) {
        let again = SignedAlbum::from_bytes(&serde_json::to_vec(&s).unwrap());
        assert_eq!(again.as_ref(), Ok(&s));
    }
    // Signed for real, bounds checks are reached with any field values the fuzzer finds.
    if let Ok(mut album) = serde_json::from_slice::<Album>(data) {
        album.owner = owner().peer_id();
        let valid = album.validate().is_ok();
        let signed = album.sign(owner());
        let bytes = serde_json::to_vec(&signed).unwrap();
        match SignedAlbum::from_bytes(&bytes) {
            Ok(s) => assert!(valid && s == signed),
            Err(e) => assert!(!valid || bytes.len() > MAX_ALBUM_BYTES, "{e}"),
        }
        let mut changed = signed;
        changed.album.version ^= 1;
        assert!(changed.verify().is_err());
    }
});
