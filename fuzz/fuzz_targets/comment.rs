//! Signed comments (`SignedComment::verify`) and thread entries (`ThreadEntry::validate`), as
//! decoded from `comment_post` and `comments` messages.
//! Proves: no panic on any bytes; a validated entry is hidden or carries a comment whose
//! author's signature holds; for fuzzer-shaped comments signed by a real author,
//! "verifies ⇔ within bounds", and any change after signing breaks the signature.
#![no_main]

use std::sync::OnceLock;

use kith_proto::identity::Identity;
use kith_proto::comment::{accept, Accept, Comment, SignedComment, ThreadEntry};
use kith_proto::ids::AlbumId;
use libfuzzer_sys::fuzz_target;

fn author() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| Identity::generate().unwrap())
}

const ALBUM: &str = "01010101010101010101010101010101";

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = serde_json::from_slice::<SignedComment>(data) {
        if s.verify().is_ok() {
            let again: SignedComment =
                serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap();
            assert_eq!(again.verify(), Ok(()));
        }
    }
    if let Ok(e) = serde_json::from_slice::<ThreadEntry>(data) {
        let album: AlbumId = e
            .comment
            .as_ref()
            .map_or_else(|| ALBUM.into(), |c| c.comment.album.clone());
        if e.validate(&album).is_ok() {
            assert!(e.hidden || e.comment.as_ref().is_some_and(|c| c.verify().is_ok()));
        }
        let _ = e.relayed_to(&author().peer_id());
    }
    if let Ok(mut c) = serde_json::from_slice::<Comment>(data) {
        c.author = author().peer_id();
        let valid = c.validate();
        let signed = c.sign(author());
        assert_eq!(signed.verify(), valid);
        assert_eq!(accept(Some(&signed), &signed), Ok(Accept::Known));
        let mut changed = signed;
        changed.comment.at ^= 1;
        assert!(changed.verify().is_err());
    }
});
