//! Files arriving from the add-on in bounded pieces (images, videos and pages the browser
//! fetched), kept in the home's `uploads/` folder so they can be shared like any file.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::*;
use crate::transfer::manifest::MAX_FILE_SIZE;
use crate::transfer::names;
use kith_proto::album::hex;

/// Most uploads open at once.
const MAX_OPEN: usize = 16;
/// Largest piece of one `upload_chunk`, decoded.
const MAX_PIECE: usize = 4 * 1024 * 1024;

/// An upload under way.
pub(super) struct Upload {
    file: std::fs::File,
    part: PathBuf,
    name: String,
    expected: Option<u64>,
    written: u64,
}

/// The folder uploads are kept in.
fn uploads_dir(home: &crate::home::Home) -> PathBuf {
    home.dir.join("uploads")
}

/// Deletes part files left by uploads a crash or a closed browser never finished.
pub(super) fn clean_stale(home: &crate::home::Home) {
    let Ok(rd) = std::fs::read_dir(uploads_dir(home)) else {
        return;
    };
    for e in rd.flatten() {
        let n = e.file_name();
        let n = n.to_string_lossy();
        if n.starts_with(".upload-") && n.ends_with(".part") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn io_err(p: &Path, e: std::io::Error) -> ApiError {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        return ApiError::new(
            code::DISK_FULL,
            format!("{}: the disk is full", p.display()),
        );
    }
    ApiError::new(code::IO, format!("{}: {e}", p.display()))
}

impl Node {
    pub(super) fn upload_begin(
        &mut self,
        name: &str,
        size: Option<u64>,
    ) -> Result<reply::UploadBegun, ApiError> {
        if self.uploads.len() >= MAX_OPEN {
            return Err(ApiError::new(
                code::BAD_REQUEST,
                "too many uploads at once; finish or abort one first",
            ));
        }
        if size.is_some_and(|s| s > MAX_FILE_SIZE) {
            return Err(ApiError::new(code::BAD_REQUEST, "that file is too large"));
        }
        let mut name = names::sanitize_component(name).unwrap_or_else(|| "file".into());
        if name.starts_with(".upload-") {
            // A kept file must never look like a part file `clean_stale` deletes at start-up.
            name.replace_range(..1, "_");
        }
        let dir = uploads_dir(&self.home);
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        let id = hex(&random::<12>());
        let part = dir.join(format!(".upload-{id}.part"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&part)
            .map_err(|e| io_err(&part, e))?;
        self.uploads.insert(
            id.clone(),
            Upload {
                file,
                part,
                name,
                expected: size,
                written: 0,
            },
        );
        Ok(reply::UploadBegun { upload: id })
    }

    fn open_upload(&mut self, id: &str) -> Result<&mut Upload, ApiError> {
        self.uploads
            .get_mut(id)
            .ok_or_else(|| ApiError::new(code::NOT_FOUND, format!("no upload {id}")))
    }

    pub(super) fn upload_chunk(
        &mut self,
        id: &str,
        data: &str,
    ) -> Result<reply::UploadProgress, ApiError> {
        if data.len() > MAX_PIECE / 3 * 4 + 4 {
            self.upload_abort(id)?;
            return Err(ApiError::new(
                code::BAD_REQUEST,
                "an upload piece holds at most 4 MiB",
            ));
        }
        let bytes = B64
            .decode(data)
            .map_err(|_| ApiError::new(code::BAD_REQUEST, "upload data must be base64"))?;
        let u = self.open_upload(id)?;
        let after = u.written + bytes.len() as u64;
        if after > u.expected.unwrap_or(MAX_FILE_SIZE) {
            self.upload_abort(id)?;
            return Err(ApiError::new(
                code::BAD_REQUEST,
                "the upload is larger than announced",
            ));
        }
        if let Err(e) = u.file.write_all(&bytes) {
            let e = io_err(&u.part, e);
            self.upload_abort(id)?;
            return Err(e);
        }
        u.written = after;
        Ok(reply::UploadProgress { bytes: after })
    }

    pub(super) fn upload_end(&mut self, id: &str) -> Result<reply::UploadDone, ApiError> {
        let u = self
            .uploads
            .remove(id)
            .ok_or_else(|| ApiError::new(code::NOT_FOUND, format!("no upload {id}")))?;
        let placed = (|| {
            if u.expected.is_some_and(|s| s != u.written) {
                return Err(ApiError::new(
                    code::BAD_REQUEST,
                    format!(
                        "the upload ended after {} of {} bytes",
                        u.written,
                        u.expected.unwrap_or(0)
                    ),
                ));
            }
            u.file.sync_all().map_err(|e| io_err(&u.part, e))?;
            let dir = uploads_dir(&self.home);
            // One hard link, so an existing file is never replaced.
            let mut target = names::unique_path(&dir.join(&u.name));
            while let Err(e) = std::fs::hard_link(&u.part, &target) {
                if e.kind() != std::io::ErrorKind::AlreadyExists {
                    return Err(io_err(&target, e));
                }
                target = names::unique_path(&target);
            }
            Ok(target)
        })();
        let _ = std::fs::remove_file(&u.part);
        let target = placed?;
        tracing::info!(bytes = u.written, "upload kept");
        Ok(reply::UploadDone {
            path: target,
            bytes: u.written,
        })
    }

    pub(super) fn upload_abort(&mut self, id: &str) -> Result<reply::Done, ApiError> {
        if let Some(u) = self.uploads.remove(id) {
            let _ = std::fs::remove_file(&u.part);
        }
        Ok(reply::Done {})
    }

    /// Deletes finished uploads that no share took: each must be a file directly in the home's
    /// `uploads/` folder (not a link) that no item record names. Anything else is
    /// `bad_request`, and nothing is deleted.
    pub(super) fn upload_discard(
        &mut self,
        paths: &[String],
    ) -> Result<reply::Discarded, ApiError> {
        let dir = uploads_dir(&self.home)
            .canonicalize()
            .map_err(|e| ApiError::new(code::BAD_REQUEST, format!("no uploads here: {e}")))?;
        let shared = self.store.item_paths().map_err(ApiError::internal)?;
        let mut doomed = Vec::with_capacity(paths.len());
        for p in paths {
            let p = PathBuf::from(p);
            let ok = p.parent().and_then(|d| d.canonicalize().ok()) == Some(dir.clone())
                && std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_file())
                && p.file_name()
                    .is_some_and(|n| !n.to_string_lossy().starts_with('.'));
            let real = dir.join(p.file_name().unwrap_or_default());
            if !ok || shared.contains(&p) || shared.contains(&real) {
                return Err(ApiError::new(
                    code::BAD_REQUEST,
                    format!("{} is not an upload that was never shared", p.display()),
                ));
            }
            doomed.push(real);
        }
        for p in &doomed {
            std::fs::remove_file(p).map_err(|e| io_err(p, e))?;
        }
        tracing::info!(
            files = doomed.len(),
            "discarded uploads that were not shared"
        );
        Ok(reply::Discarded {
            removed: doomed.len(),
        })
    }
}
