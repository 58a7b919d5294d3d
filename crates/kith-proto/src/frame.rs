//! Length-prefixed JSON frames: a 4-byte length in native byte order (little-endian on every
//! supported platform), then that many bytes of UTF-8 JSON. Used by native messaging, the
//! control socket and peer streams alike.

use thiserror::Error;

/// Largest reply the host may send to Firefox (its limit is 1 MiB).
pub const MAX_TO_BROWSER: usize = 1024 * 1024;
/// Largest frame accepted from the browser or a control client.
pub const MAX_FROM_CLIENT: usize = 8 * 1024 * 1024;
/// Largest frame accepted from a peer: an answer to my request, or one of the requests that
/// need it ([`crate::peer::PeerMsg::may_be_large`]).
pub const MAX_FROM_PEER: usize = 4 * 1024 * 1024;
/// Largest frame of any other request from a peer, the hello included.
pub const MAX_PEER_REQUEST: usize = 64 * 1024;

/// What can be wrong with a frame.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix says zero.
    #[error("empty frame (length 0)")]
    Empty,
    /// The length prefix is over the limit; `len` bytes follow and must be skipped.
    #[error("frame of {len} bytes is over the limit of {max}")]
    TooLarge {
        /// Declared length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Encodes one frame.
pub fn encode(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + json.len());
    out.extend_from_slice(&(json.len() as u32).to_ne_bytes());
    out.extend_from_slice(json);
    out
}

/// Checks a length prefix against a limit before anything is allocated for it.
pub fn check_len(prefix: [u8; 4], max: usize) -> Result<usize, FrameError> {
    let len = u32::from_ne_bytes(prefix) as usize;
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(len)
}

/// An incremental decoder: feed bytes, take whole frames.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    max: usize,
    skip: usize,
}

impl Decoder {
    /// A decoder that refuses frames over `max` bytes.
    pub fn new(max: usize) -> Self {
        Decoder {
            buf: Vec::new(),
            max,
            skip: 0,
        }
    }

    /// Adds received bytes.
    pub fn feed(&mut self, mut data: &[u8]) {
        if self.skip > 0 {
            let n = self.skip.min(data.len());
            self.skip -= n;
            data = &data[n..];
        }
        self.buf.extend_from_slice(data);
    }

    /// The next whole frame, an error for a bad one (after which decoding goes on), or None.
    pub fn next_frame(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        if self.skip > 0 || self.buf.len() < 4 {
            return None;
        }
        let prefix = [self.buf[0], self.buf[1], self.buf[2], self.buf[3]];
        match check_len(prefix, self.max) {
            Err(FrameError::Empty) => {
                self.buf.drain(..4);
                Some(Err(FrameError::Empty))
            }
            Err(e @ FrameError::TooLarge { len, .. }) => {
                self.buf.drain(..4);
                let have = self.buf.len().min(len);
                self.buf.drain(..have);
                self.skip = len - have;
                Some(Err(e))
            }
            Ok(len) => {
                if self.buf.len() < 4 + len {
                    return None;
                }
                let frame = self.buf[4..4 + len].to_vec();
                self.buf.drain(..4 + len);
                Some(Ok(frame))
            }
        }
    }

    /// How many more bytes the frame under way needs (the length prefix, the rest of the
    /// body, or the rest of a refused body to skip). Feeding at most this many never takes
    /// a byte past the frame's end: a reader that must leave what follows a frame on its
    /// stream reads this much at a time.
    pub fn wants(&self) -> usize {
        if self.skip > 0 {
            return self.skip;
        }
        if self.buf.len() < 4 {
            return 4 - self.buf.len();
        }
        let prefix = [self.buf[0], self.buf[1], self.buf[2], self.buf[3]];
        match check_len(prefix, self.max) {
            Ok(len) => (4 + len).saturating_sub(self.buf.len()),
            // `next_frame` settles these without more bytes.
            Err(_) => 0,
        }
    }

    /// True while the body of a refused frame is being skipped.
    pub fn skipping(&self) -> bool {
        self.skip > 0
    }

    /// True when bytes of an unfinished frame are waiting (a truncated frame at EOF).
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty() || self.skip > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeding_what_the_decoder_wants_never_takes_a_byte_past_the_frame() {
        let mut wire = encode(br#"{"a":1}"#);
        wire.extend(encode(&[b'x'; 20]));
        wire.extend(b"raw bytes after the frames");
        let mut d = Decoder::new(10);
        let mut at = 0;
        let mut got = vec![];
        while got.len() < 2 {
            if let Some(f) = d.next_frame() {
                got.push(f);
                continue;
            }
            let n = d.wants().min(3); // any read size up to what is wanted
            assert!(n > 0);
            d.feed(&wire[at..at + n]);
            at += n;
        }
        while d.skipping() {
            let n = d.wants();
            d.feed(&wire[at..at + n]);
            at += n;
        }
        assert_eq!(got[0], Ok(br#"{"a":1}"#.to_vec()));
        assert_eq!(got[1], Err(FrameError::TooLarge { len: 20, max: 10 }));
        assert_eq!(&wire[at..], b"raw bytes after the frames");
        assert!(!d.has_partial());
        assert_eq!(d.wants(), 4, "then the next frame's length prefix");
    }

    #[test]
    fn frames_split_anywhere_are_reassembled() {
        let mut wire = encode(br#"{"a":1}"#);
        wire.extend(encode(br#"{"b":2}"#));
        for cut in 0..wire.len() {
            let mut d = Decoder::new(100);
            d.feed(&wire[..cut]);
            let mut got = vec![];
            while let Some(f) = d.next_frame() {
                got.push(f.unwrap());
            }
            d.feed(&wire[cut..]);
            while let Some(f) = d.next_frame() {
                got.push(f.unwrap());
            }
            assert_eq!(got, vec![br#"{"a":1}"#.to_vec(), br#"{"b":2}"#.to_vec()]);
            assert!(!d.has_partial());
        }
    }

    #[test]
    fn zero_length_frame_is_an_error_and_decoding_continues() {
        let mut d = Decoder::new(100);
        d.feed(&0u32.to_ne_bytes());
        d.feed(&encode(b"{}"));
        assert_eq!(d.next_frame(), Some(Err(FrameError::Empty)));
        assert_eq!(d.next_frame(), Some(Ok(b"{}".to_vec())));
    }

    #[test]
    fn huge_declared_length_is_refused_without_allocating_and_skipped() {
        let mut d = Decoder::new(16);
        d.feed(&(u32::MAX).to_ne_bytes());
        assert!(matches!(
            d.next_frame(),
            Some(Err(FrameError::TooLarge { .. }))
        ));
        assert!(d.has_partial());
        assert!(d.buf.capacity() < 1024);
    }

    #[test]
    fn oversized_frame_is_skipped_and_the_next_one_read() {
        let mut d = Decoder::new(4);
        d.feed(&encode(b"0123456789"));
        d.feed(&encode(b"{}"));
        assert!(matches!(
            d.next_frame(),
            Some(Err(FrameError::TooLarge { len: 10, max: 4 }))
        ));
        assert_eq!(d.next_frame(), Some(Ok(b"{}".to_vec())));
    }

    #[test]
    fn truncated_frame_is_reported_as_partial() {
        let mut d = Decoder::new(100);
        let wire = encode(b"{\"x\": 1}");
        d.feed(&wire[..6]);
        assert_eq!(d.next_frame(), None);
        assert!(d.has_partial());
    }
}
