//! Removing the location from photos (`media::strip::copy_without_gps` for JPEG, PNG and
//! WebP files, and `gps_patches` on a JPEG's header bytes).
//! Proves: no panic and no allocation from the file's length fields; every patch lies
//! inside the bytes it patches; a stripped copy has exactly the original's length.
#![no_main]

use std::sync::OnceLock;

use kith::media::strip::{copy_without_gps, gps_patches};
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
    for (off, bytes) in gps_patches(data) {
        assert!(off + bytes.len() <= data.len());
    }
    let (from, to) = (dir().join("in"), dir().join("out.jpg"));
    std::fs::write(&from, data).unwrap();
    let _ = std::fs::remove_file(&to);
    if let Ok(true) = copy_without_gps(&from, &to) {
        assert_eq!(std::fs::metadata(&to).unwrap().len(), data.len() as u64);
    }
});
