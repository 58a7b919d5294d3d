//! Frame reading: `wire::read_frame` (peer QUIC streams, native messaging, control socket)
//! over a byte stream, and the sans-IO `frame::Decoder` fed the same bytes in pieces.
//! Proves: no panic, no frame over the limit, and both readers agree frame for frame and
//! on whether the stream ended inside a frame.
#![no_main]

use std::sync::OnceLock;

use kith_proto::frame::{Decoder, FrameError};
use kith_node::wire::{read_frame, ReadError};
use libfuzzer_sys::fuzz_target;

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, stream)) = data.split_first() else {
        return;
    };
    // Small limits, so that oversized frames (skipped unread) are reached too.
    let max = 1 + (cfg & 0x3f) as usize;
    let mut r = stream;
    let mut by_wire: Vec<Result<Vec<u8>, FrameError>> = Vec::new();
    let truncated = rt().block_on(async {
        loop {
            match read_frame(&mut r, max).await {
                Ok(Some(f)) => by_wire.push(Ok(f)),
                Ok(None) => return false,
                Err(ReadError::Frame(e)) => by_wire.push(Err(e)),
                Err(ReadError::Truncated) => return true,
                Err(ReadError::Io(e)) => panic!("reading a slice failed: {e}"),
            }
        }
    });
    assert!(by_wire
        .iter()
        .flatten()
        .all(|f| !f.is_empty() && f.len() <= max));
    let mut d = Decoder::new(max);
    let mut by_decoder = Vec::new();
    for piece in stream.chunks(1 + (cfg >> 6) as usize * 7) {
        d.feed(piece);
        while let Some(f) = d.next_frame() {
            by_decoder.push(f);
        }
    }
    // A stream that ends inside an oversized frame's body: the async reader says only
    // `Truncated`, the decoder first refuses the frame, then holds a partial one.
    if truncated
        && matches!(by_decoder.last(), Some(Err(FrameError::TooLarge { .. })))
        && by_decoder.len() == by_wire.len() + 1
    {
        by_decoder.pop();
    }
    assert_eq!(by_wire, by_decoder);
    assert_eq!(truncated, d.has_partial());
});
