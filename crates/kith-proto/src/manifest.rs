//! Content addressing: a file is cut into 1 MiB chunks; each chunk's SHA-256 goes into a
//! *segment* (up to 4096 hashes); the *manifest* lists the segments' hashes. An item's ID is the
//! SHA-256 of its manifest. Two levels keep every message small whatever the file size
//! (a 1 TiB file has a 8 KiB manifest and 256 segments of 128 KiB).

use thiserror::Error;

use crate::hash::sha256;

/// A SHA-256 hash.
pub type Hash = [u8; 32];
/// Bytes per chunk (the last chunk of a file may be shorter).
pub const CHUNK_SIZE: u64 = 1 << 20;
/// Chunk hashes per segment.
pub const SEGMENT_CHUNKS: u64 = 4096;
/// Largest manifest accepted (32,768 segments: files up to 128 TiB).
pub const MAX_MANIFEST: usize = HEADER + 32 * 32_768;
/// Largest file size a manifest may declare (follows from [`MAX_MANIFEST`]).
pub const MAX_FILE_SIZE: u64 = 32_768 * SEGMENT_CHUNKS * CHUNK_SIZE;

const MAGIC: &[u8; 8] = b"KITHMAN1";
const HEADER: usize = 8 + 8 + 4 + 4;

/// What is wrong with a manifest or segment.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ManifestError {
    /// Bytes do not form a manifest.
    #[error("malformed manifest: {0}")]
    Malformed(&'static str),
    /// Bytes do not hash to the expected value.
    #[error("content does not match its hash")]
    HashMismatch,
}

/// Number of chunks of a file of `size` bytes.
pub fn chunk_count(size: u64) -> u64 {
    size.div_ceil(CHUNK_SIZE)
}

/// Number of segments of a file of `size` bytes.
pub fn segment_count(size: u64) -> u64 {
    chunk_count(size).div_ceil(SEGMENT_CHUNKS)
}

/// Length of chunk `index` of a file of `size` bytes.
pub fn chunk_len(size: u64, index: u64) -> u64 {
    let start = index * CHUNK_SIZE;
    size.saturating_sub(start).min(CHUNK_SIZE)
}

/// Number of chunks in segment `seg` of a file of `size` bytes.
pub fn segment_len(size: u64, seg: u64) -> u64 {
    let chunks = chunk_count(size);
    chunks
        .saturating_sub(seg * SEGMENT_CHUNKS)
        .min(SEGMENT_CHUNKS)
}

/// The top level of an item: its size and its segments' hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// File size in bytes.
    pub size: u64,
    /// SHA-256 of each segment's bytes.
    pub segments: Vec<Hash>,
}

impl Manifest {
    /// Encodes the manifest: magic, size, chunk size, segment count, then the hashes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + 32 * self.segments.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&(CHUNK_SIZE as u32).to_be_bytes());
        out.extend_from_slice(&(self.segments.len() as u32).to_be_bytes());
        for h in &self.segments {
            out.extend_from_slice(h);
        }
        out
    }

    /// The item ID: SHA-256 of the encoded manifest.
    pub fn id(&self) -> Hash {
        sha256(&self.encode())
    }

    /// Decodes and checks a manifest, refusing absurd sizes before allocating anything.
    pub fn decode(b: &[u8]) -> Result<Manifest, ManifestError> {
        if b.len() > MAX_MANIFEST {
            return Err(ManifestError::Malformed("too large"));
        }
        if b.len() < HEADER || &b[..8] != MAGIC {
            return Err(ManifestError::Malformed("bad header"));
        }
        let size = u64::from_be_bytes(
            b[8..16]
                .try_into()
                .map_err(|_| ManifestError::Malformed("size"))?,
        );
        let chunk = u32::from_be_bytes(
            b[16..20]
                .try_into()
                .map_err(|_| ManifestError::Malformed("chunk"))?,
        );
        let n = u32::from_be_bytes(
            b[20..24]
                .try_into()
                .map_err(|_| ManifestError::Malformed("count"))?,
        ) as u64;
        if u64::from(chunk) != CHUNK_SIZE {
            return Err(ManifestError::Malformed("unsupported chunk size"));
        }
        if size > MAX_FILE_SIZE {
            return Err(ManifestError::Malformed("file size over the limit"));
        }
        if n != segment_count(size) || b.len() as u64 != HEADER as u64 + 32 * n {
            return Err(ManifestError::Malformed(
                "segment count does not fit the size",
            ));
        }
        let segments = b[HEADER..]
            .chunks_exact(32)
            .map(|c| c.try_into().map_err(|_| ManifestError::Malformed("hash")))
            .collect::<Result<Vec<Hash>, _>>()?;
        Ok(Manifest { size, segments })
    }

    /// Decodes a manifest and checks it hashes to `id`.
    pub fn decode_verified(b: &[u8], id: &Hash) -> Result<Manifest, ManifestError> {
        if b.len() > MAX_MANIFEST {
            return Err(ManifestError::Malformed("too large"));
        }
        if &sha256(b) != id {
            return Err(ManifestError::HashMismatch);
        }
        Manifest::decode(b)
    }

    /// Checks a segment's bytes against this manifest and splits them into chunk hashes.
    pub fn verify_segment(&self, seg: u64, b: &[u8]) -> Result<Vec<Hash>, ManifestError> {
        let expected = self
            .segments
            .get(seg as usize)
            .ok_or(ManifestError::Malformed("no such segment"))?;
        if b.len() as u64 != 32 * segment_len(self.size, seg) {
            return Err(ManifestError::Malformed("segment length"));
        }
        if &sha256(b) != expected {
            return Err(ManifestError::HashMismatch);
        }
        Ok(split_hashes(b))
    }
}

/// Splits concatenated hashes.
pub fn split_hashes(b: &[u8]) -> Vec<Hash> {
    b.chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect()
}

/// Concatenates hashes (a segment's bytes).
pub fn join_hashes(hs: &[Hash]) -> Vec<u8> {
    hs.iter().flat_map(|h| h.iter().copied()).collect()
}

/// Builds the manifest from all chunk hashes of a file.
pub fn build(size: u64, chunks: &[Hash]) -> Manifest {
    let segments = chunks
        .chunks(SEGMENT_CHUNKS as usize)
        .map(|s| sha256(&join_hashes(s)))
        .collect();
    Manifest { size, segments }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_and_segment_arithmetic_covers_edges() {
        assert_eq!(chunk_count(0), 0);
        assert_eq!(chunk_count(1), 1);
        assert_eq!(chunk_count(CHUNK_SIZE), 1);
        assert_eq!(chunk_count(CHUNK_SIZE + 1), 2);
        assert_eq!(chunk_len(CHUNK_SIZE + 5, 1), 5);
        assert_eq!(chunk_len(CHUNK_SIZE + 5, 2), 0);
        let big = SEGMENT_CHUNKS * CHUNK_SIZE + 1;
        assert_eq!(segment_count(big), 2);
        assert_eq!(segment_len(big, 0), SEGMENT_CHUNKS);
        assert_eq!(segment_len(big, 1), 1);
    }

    #[test]
    fn manifest_round_trips_and_its_id_is_its_hash() {
        let hashes: Vec<Hash> = (0..5000u32).map(|i| sha256(&i.to_be_bytes())).collect();
        let size = 4999 * CHUNK_SIZE + 7;
        let m = build(size, &hashes);
        assert_eq!(m.segments.len(), 2);
        let bytes = m.encode();
        assert_eq!(Manifest::decode_verified(&bytes, &m.id()).unwrap(), m);
        let seg1 = join_hashes(&hashes[4096..]);
        assert_eq!(m.verify_segment(1, &seg1).unwrap().len(), 904);
        assert_eq!(
            m.verify_segment(0, &seg1),
            Err(ManifestError::Malformed("segment length"))
        );
        let mut bad = seg1.clone();
        bad[0] ^= 1;
        assert_eq!(m.verify_segment(1, &bad), Err(ManifestError::HashMismatch));
    }

    #[test]
    fn absurd_manifests_are_refused_before_allocation() {
        // A billion chunks claimed with no hashes behind them.
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&(1_000_000_000 * CHUNK_SIZE).to_be_bytes());
        b.extend_from_slice(&(CHUNK_SIZE as u32).to_be_bytes());
        b.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(Manifest::decode(&b).is_err());
        assert!(Manifest::decode(&vec![0u8; MAX_MANIFEST + 1]).is_err());
        assert!(Manifest::decode(b"KITHMAN1").is_err());
        // Size beyond the limit, with a consistent count, is refused too.
        let mut c = MAGIC.to_vec();
        c.extend_from_slice(&u64::MAX.to_be_bytes());
        c.extend_from_slice(&(CHUNK_SIZE as u32).to_be_bytes());
        c.extend_from_slice(&0u32.to_be_bytes());
        assert!(Manifest::decode(&c).is_err());
        let m = build(3, &[sha256(b"abc")]);
        assert_eq!(
            Manifest::decode_verified(&m.encode(), &[0; 32]),
            Err(ManifestError::HashMismatch)
        );
    }
}
