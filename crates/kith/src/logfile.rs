//! The log of a node started in the background: `node.log` in the home's log folder, rotated
//! when it would pass 10 MiB, keeping three files (`node.log`, `node.log.1`, `node.log.2`).
//!
//! Written here rather than with a rotating-file crate because the process's standard error
//! must follow each rotation (on unix it is pointed at the new file), so a panic or an early
//! error lands in the current log too, not in a file already renamed away.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Size at which the log is rotated.
pub const LIMIT: u64 = 10 * 1024 * 1024;
/// How many files are kept, the current one included.
pub const KEEP: usize = 3;

/// A log file that rotates itself at a size limit.
pub struct Rotating {
    path: PathBuf,
    limit: u64,
    keep: usize,
    file: File,
    written: u64,
    /// Whether stdout and stderr follow the file (off in tests, which keep their own; unix only).
    #[cfg_attr(not(unix), allow(dead_code))]
    redirect: bool,
}

impl Rotating {
    /// Opens (appending to) the log at `path`, creating its folder readable only by this user.
    pub fn open(path: &Path, limit: u64, keep: usize) -> io::Result<Rotating> {
        if let Some(dir) = path.parent() {
            kith_node::home::create_private_dir(dir).map_err(io::Error::other)?;
        }
        let file = open_append(path)?;
        let written = file.metadata()?.len();
        let mut log = Rotating {
            path: path.to_path_buf(),
            limit,
            keep: keep.max(1),
            file,
            written,
            redirect: true,
        };
        log.redirect_stderr();
        Ok(log)
    }

    fn nth(&self, n: usize) -> PathBuf {
        nth(&self.path, n)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let _ = std::fs::remove_file(self.nth(self.keep - 1));
        for n in (0..self.keep - 1).rev() {
            match std::fs::rename(self.nth(n), self.nth(n + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        self.file = open_append(&self.path)?;
        self.written = 0;
        self.redirect_stderr();
        Ok(())
    }

    /// Points standard output and error at the current file, so whatever is printed outside
    /// `tracing` (a panic) lands beside the log lines.
    fn redirect_stderr(&mut self) {
        #[cfg(unix)]
        if self.redirect {
            use std::os::fd::AsRawFd;
            let fd = self.file.as_raw_fd();
            // SAFETY: dup2 on two valid descriptors; 1 and 2 are this process's own.
            unsafe {
                libc::dup2(fd, 1);
                libc::dup2(fd, 2);
            }
        }
    }
}

/// `path`, `path.1`, `path.2`, …: the n-th newest file of the log at `path`.
fn nth(path: &Path, n: usize) -> PathBuf {
    if n == 0 {
        return path.to_path_buf();
    }
    let mut p = path.to_path_buf().into_os_string();
    p.push(format!(".{n}"));
    PathBuf::from(p)
}

fn open_append(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

impl Write for Rotating {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written > 0 && self.written + buf.len() as u64 > self.limit {
            self.rotate()?;
        }
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// The last `lines` lines of the log at `path`, reaching into the rotated file before it when
/// the current one holds fewer.
pub fn tail(path: &Path, lines: usize) -> io::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for n in 0..KEEP {
        let text = match std::fs::read(nth(path, n)) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) if e.kind() == io::ErrorKind::NotFound && n > 0 => break,
            Err(e) => return Err(e),
        };
        let mut older: Vec<String> = text.lines().map(str::to_string).collect();
        older.append(&mut out);
        out = older;
        if out.len() >= lines {
            break;
        }
    }
    let skip = out.len().saturating_sub(lines);
    Ok(out.split_off(skip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_rotates_at_the_size_cap_and_keeps_three_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/node.log");
        // Rotating::open points stdout and stderr at the file; this test keeps its own.
        let mut log = Rotating {
            path: path.clone(),
            limit: 1000,
            keep: KEEP,
            file: {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                open_append(&path).unwrap()
            },
            written: 0,
            redirect: false,
        };
        // One write per line, as tracing's formatter writes each event.
        for i in 0..100 {
            let line = format!("line {i:04} {}\n", "x".repeat(40));
            log.write_all(line.as_bytes()).unwrap();
        }
        let names = |n: usize| log.nth(n);
        for n in 0..KEEP {
            let len = std::fs::metadata(names(n)).unwrap().len();
            assert!(len > 0 && len <= 1000, "file {n} holds {len} bytes");
        }
        assert!(!names(KEEP).exists(), "a fourth file was kept");
        let last = tail(&path, 1).unwrap();
        assert_eq!(last.len(), 1);
        assert!(last[0].starts_with("line 0099 "), "{last:?}");
        // The tail reaches back into node.log.1 when node.log holds fewer lines.
        let all = tail(&path, 25).unwrap();
        assert_eq!(all.len(), 25);
        assert!(all[0].starts_with("line 0075 "), "{:?}", all[0]);
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(sorted, all, "the tail is out of order");
    }
}
