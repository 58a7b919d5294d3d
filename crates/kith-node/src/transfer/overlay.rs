//! Small same-length changes laid over a shared file's bytes: a video's location is blanked this
//! way without copying the video. The file on disk is never written; whatever reads it to hash
//! or to serve (manifest hashing, chunk streaming to peers, the gateway) lays the patches over
//! the bytes read, so what leaves the node is the patched file and is verified like any chunk.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Most patches one item may carry.
pub const MAX_PATCHES: usize = 4096;
/// Most patched bytes one item may carry in all.
pub const MAX_BYTES: usize = 1 << 20;

/// New bytes for `bytes.len()` bytes of the file from offset `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patch {
    /// Offset in the file.
    pub at: u64,
    /// The bytes read there instead (base64 in the store).
    #[serde(with = "b64")]
    pub bytes: Vec<u8>,
}

/// Why a list of patches cannot be laid over a file.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum OverlayError {
    /// More patches or patched bytes than the limits allow.
    #[error("too many changes ({0} patches, {1} bytes)")]
    TooLarge(usize, usize),
    /// A patch reaches past the end of the file.
    #[error("a change at offset {0} reaches past the end of the file")]
    OutOfBounds(u64),
}

/// Checks that `patches` fit a file of `size` bytes and the limits.
pub fn check(patches: &[Patch], size: u64) -> Result<(), OverlayError> {
    let bytes: usize = patches.iter().map(|p| p.bytes.len()).sum();
    if patches.len() > MAX_PATCHES || bytes > MAX_BYTES {
        return Err(OverlayError::TooLarge(patches.len(), bytes));
    }
    for p in patches {
        if p.at
            .checked_add(p.bytes.len() as u64)
            .is_none_or(|end| end > size)
        {
            return Err(OverlayError::OutOfBounds(p.at));
        }
    }
    Ok(())
}

/// Lays `patches` over `buf`, which holds the file's bytes from offset `start`.
pub fn apply(buf: &mut [u8], start: u64, patches: &[Patch]) {
    let end = start + buf.len() as u64;
    for p in patches {
        let p_end = p.at + p.bytes.len() as u64;
        if p_end <= start || p.at >= end {
            continue;
        }
        let from = p.at.max(start);
        let to = p_end.min(end);
        let dst = (from - start) as usize..(to - start) as usize;
        let src = (from - p.at) as usize..(to - p.at) as usize;
        buf[dst].copy_from_slice(&p.bytes[src]);
    }
}

mod b64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(at: u64, bytes: &[u8]) -> Patch {
        Patch {
            at,
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn patches_overlay_any_window_of_the_file_including_ones_they_straddle() {
        let file: Vec<u8> = (0..100u8).collect();
        let patches = vec![p(8, b"ABCD"), p(50, b"xy"), p(98, b"!!")];
        let mut whole = file.clone();
        apply(&mut whole, 0, &patches);
        assert_eq!(&whole[6..14], &[6, 7, b'A', b'B', b'C', b'D', 12, 13]);
        assert_eq!(&whole[98..], b"!!");
        // Reading in windows (like chunks) gives the same bytes as the whole, at every cut.
        for cut in 1..100 {
            let mut out = Vec::new();
            for (k, w) in file.chunks(cut).enumerate() {
                let mut w = w.to_vec();
                apply(&mut w, (k * cut) as u64, &patches);
                out.extend(w);
            }
            assert_eq!(out, whole, "window {cut}");
        }
        assert_eq!(file.len(), whole.len());
    }

    #[test]
    fn patches_past_the_end_or_over_the_limits_are_refused_and_round_trip_in_json() {
        assert_eq!(check(&[p(98, b"!!")], 100), Ok(()));
        assert_eq!(
            check(&[p(99, b"!!")], 100),
            Err(OverlayError::OutOfBounds(99))
        );
        assert_eq!(
            check(&[p(u64::MAX, b"!")], 100),
            Err(OverlayError::OutOfBounds(u64::MAX))
        );
        let many = vec![p(0, b"a"); MAX_PATCHES + 1];
        assert!(matches!(check(&many, 100), Err(OverlayError::TooLarge(..))));
        let big = vec![p(0, &vec![0; MAX_BYTES + 1])];
        assert!(matches!(
            check(&big, u64::MAX),
            Err(OverlayError::TooLarge(..))
        ));
        let json = serde_json::to_string(&p(7, b"\0\xff")).unwrap();
        assert_eq!(json, r#"{"at":7,"bytes":"AP8="}"#);
        assert_eq!(
            serde_json::from_str::<Patch>(&json).unwrap(),
            p(7, b"\0\xff")
        );
    }
}
