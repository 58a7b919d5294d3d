//! Which program file this process runs, and a stamp that changes when that file is replaced
//! (an upgrade writes a new file over the path): the node reports both in `hello` and
//! `status`, and the native host compares them with the file now at the path.

use std::path::Path;

use kith_proto::api::reply::Binary;

/// The stamp of the file at `path`: `<device>:<inode>:<size>:<mtime ns>` on unix,
/// `<size>:<mtime ns>` elsewhere.
pub fn stamp(path: &Path) -> std::io::Result<String> {
    let md = std::fs::metadata(path)?;
    let mtime_ns = md
        .modified()?
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok(format!("{}:{}:{}:{mtime_ns}", md.dev(), md.ino(), md.len()))
    }
    #[cfg(not(unix))]
    {
        Ok(format!("{}:{mtime_ns}", md.len()))
    }
}

/// The program file at `path` (made canonical) with its stamp now.
pub fn of_path(path: &Path) -> std::io::Result<Binary> {
    let path = path.canonicalize()?;
    let stamp = stamp(&path)?;
    Ok(Binary { path, stamp })
}

/// The program this process runs, as its file is now; None when it cannot be read (on Linux,
/// also once the file was replaced or removed after the process started).
pub fn this_program() -> Option<Binary> {
    let exe = std::env::current_exe().ok()?;
    match of_path(&exe) {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::warn!(path = %exe.display(), "cannot read this program's file: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_written_anew_over_the_path_gets_a_new_stamp_and_reading_twice_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kith");
        std::fs::write(&p, b"program").unwrap();
        let first = of_path(&p).unwrap();
        assert_eq!(first, of_path(&p).unwrap());
        assert_eq!(first.path, p.canonicalize().unwrap());
        // The same bytes, written to a new file and renamed over the path (as a package does).
        let new = dir.path().join("kith.new");
        std::fs::write(&new, b"program").unwrap();
        std::fs::rename(&new, &p).unwrap();
        assert_ne!(first.stamp, of_path(&p).unwrap().stamp);
    }
}
