//! Pictures from outside: thumbnails and metadata made from any picture file
//! (`media::thumb::describe_reader`, JPEG/PNG/GIF/WebP, EXIF orientation and date) and
//! thumbnails handed in by the add-on (`media::thumb::check_thumb`).
//! Proves: no panic, no allocation past the decoder limits; a thumbnail made is a JPEG
//! of at most 320 pixels a side.
#![no_main]

use std::io::Cursor;

use kith_node::media::thumb::{check_thumb, describe_reader, THUMB_SIZE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(meta) = describe_reader(Cursor::new(data)) {
        let (w, h) = check_thumb(&meta.thumb).expect("our own thumbnail refused");
        assert!(w <= THUMB_SIZE && h <= THUMB_SIZE);
    }
    let _ = check_thumb(data);
});
