//! Hashing files into manifests (the format is `kith_proto::manifest`, re-exported here).

use std::io::Read;
use std::path::Path;

pub use kith_proto::manifest::*;

use crate::transfer::overlay::Patch;
use kith_proto::hash::sha256;

/// Hashes a file chunk by chunk; `progress` gets the bytes done so far. Returns the chunk hashes
/// and the size actually read.
pub fn hash_file(path: &Path, progress: impl FnMut(u64)) -> std::io::Result<(u64, Vec<Hash>)> {
    hash_patched(path, &[], progress)
}

/// Like [`hash_file`], with `patches` laid over the bytes read (what peers will be served).
pub fn hash_patched(
    path: &Path,
    patches: &[Patch],
    mut progress: impl FnMut(u64),
) -> std::io::Result<(u64, Vec<Hash>)> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; CHUNK_SIZE as usize];
    let mut hashes = Vec::new();
    let mut done = 0u64;
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            let n = f.read(&mut buf[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        crate::transfer::overlay::apply(&mut buf[..filled], done, patches);
        hashes.push(sha256(&buf[..filled]));
        done += filled as u64;
        progress(done);
        if filled < buf.len() {
            break;
        }
    }
    Ok((done, hashes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_a_file_gives_one_hash_per_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..(2 * CHUNK_SIZE + 10))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&p, &data).unwrap();
        let mut last = 0;
        let (size, hs) = hash_file(&p, |d| last = d).unwrap();
        assert_eq!(
            (size, hs.len(), last),
            (data.len() as u64, 3, data.len() as u64)
        );
        assert_eq!(hs[2], sha256(&data[2 * CHUNK_SIZE as usize..]));
        std::fs::write(&p, b"").unwrap();
        assert_eq!(hash_file(&p, |_| {}).unwrap(), (0, vec![]));
    }

    #[test]
    fn hashing_with_patches_hashes_the_patched_bytes_and_leaves_the_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..(CHUNK_SIZE + 10)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        // A patch straddling the chunk boundary changes both chunks' hashes.
        let patch = Patch {
            at: CHUNK_SIZE - 2,
            bytes: b"abcd".to_vec(),
        };
        let (_, hs) = hash_patched(&p, std::slice::from_ref(&patch), |_| {}).unwrap();
        let mut want = data.clone();
        want[(CHUNK_SIZE - 2) as usize..(CHUNK_SIZE + 2) as usize].copy_from_slice(b"abcd");
        assert_eq!(hs[0], sha256(&want[..CHUNK_SIZE as usize]));
        assert_eq!(hs[1], sha256(&want[CHUNK_SIZE as usize..]));
        assert_ne!(hs, hash_file(&p, |_| {}).unwrap().1);
        assert_eq!(std::fs::read(&p).unwrap(), data);
    }
}
