//! Removing the location from photos and videos (`media::strip::remove_location` on a file,
//! which reaches `media::matroska` for EBML input,
//! `jpeg_patches` on a JPEG's bytes, `isobmff::patches` on ISOBMFF boxes).
//! Proves: no panic and no allocation from the file's length fields; every patch lies
//! inside the bytes it patches; a stripped copy has exactly the original's length (but a
//! PNG, whose compressed XMP is deflated anew).
#![no_main]

use std::sync::OnceLock;

use kith_node::media::isobmff;
use kith_node::media::strip::{jpeg_patches, remove_location, Removal};
use libfuzzer_sys::fuzz_target;

fn dir() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let d = base.join(format!("kith-fuzz-strip-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

fuzz_target!(|data: &[u8]| {
    for (off, bytes) in jpeg_patches(data).unwrap_or_default() {
        assert!(off + bytes.len() <= data.len());
    }
    for (off, bytes) in isobmff::patches(data, 0, data.len() as u64).unwrap_or_default() {
        assert!(off + bytes.len() <= data.len());
    }
    let (from, to) = (dir().join("in"), dir().join("out.jpg"));
    std::fs::write(&from, data).unwrap();
    let _ = std::fs::remove_file(&to);
    match remove_location(&from, "in.jpg", &to) {
        Ok(Removal::Copied) if !data.starts_with(b"\x89PNG") => {
            assert_eq!(std::fs::metadata(&to).unwrap().len(), data.len() as u64);
        }
        Ok(Removal::Overlay(p)) => {
            assert!(p.iter().all(|p| p.at + p.bytes.len() as u64 <= data.len() as u64));
        }
        _ => {}
    }
});
