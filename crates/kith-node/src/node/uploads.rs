//! Files arriving from the add-on in bounded pieces (images, videos and pages the browser
//! fetched), kept in the home's `uploads/` folder so they can be shared like any file.
//!
//! The actor only routes: each upload has a writer task that owns its part file and does every
//! file operation (open, decode and append, fsync and link, delete) in `spawn_blocking`, one job
//! after another in the order the actor queued them, and answers each command when its job is
//! done. A writer whose upload fails tells the actor with `Msg::UploadGone`.

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
/// Longest `data` of one `upload_chunk`: `MAX_PIECE` in base64.
const MAX_PIECE_B64: usize = MAX_PIECE / 3 * 4 + 4;
/// Pieces of one upload that may wait while another is written; one more place in the queue
/// is kept for `upload_end` or `upload_abort`, so those are never refused.
const MAX_WAITING: usize = 2;

/// An upload under way, as the actor sees it: the queue to the task that writes it.
pub(super) struct Upload {
    jobs: mpsc::Sender<Job>,
}

/// Work for an upload's writer.
enum Job {
    /// Decode and append a piece.
    Piece { data: String, reply: Reply },
    /// Check the size, fsync, and give the file its name.
    End { reply: Reply },
    /// Delete the part file, then give `answer`.
    Abort {
        reply: Reply,
        answer: Result<Value, ApiError>,
    },
}

impl Job {
    /// Answers the job without doing it, as for an upload that is gone.
    fn answer_gone(self, id: &str) {
        let (reply, answer) = match self {
            Job::Piece { reply, .. } | Job::End { reply } => (reply, Err(no_upload(id))),
            Job::Abort { reply, answer } => (reply, answer),
        };
        reply.send(answer);
    }
}

fn no_upload(id: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no upload {id}"))
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
    if crate::platform::is_disk_full(&e) {
        return ApiError::new(
            ErrorCode::DiskFull,
            format!("{}: the disk is full", p.display()),
        );
    }
    ApiError::new(ErrorCode::Io, format!("{}: {e}", p.display()))
}

/// Runs blocking file work on tokio's blocking threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

/// Why a piece was not appended.
enum PieceError {
    /// The upload stays open.
    Kept(ApiError),
    /// The upload is over.
    Dropped(ApiError),
}

/// An upload's part file and what was written to it (used on blocking threads only).
struct Part {
    file: std::fs::File,
    path: PathBuf,
    dir: PathBuf,
    name: String,
    expected: Option<u64>,
    written: u64,
}

impl Part {
    fn open(dir: PathBuf, id: &str, name: String, expected: Option<u64>) -> Result<Part, ApiError> {
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        let path = dir.join(format!(".upload-{id}.part"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        Ok(Part {
            file,
            path,
            dir,
            name,
            expected,
            written: 0,
        })
    }

    /// Appends a piece; returns the bytes written so far.
    fn append(&mut self, data: &str) -> Result<u64, PieceError> {
        if let Some(ms) = crate::settings::env().fault_slow_upload_ms {
            // Test builds only: a slow disk.
            std::thread::sleep(Duration::from_millis(ms));
        }
        let bytes = B64.decode(data).map_err(|_| {
            PieceError::Kept(ApiError::new(
                ErrorCode::BadRequest,
                "upload data must be base64",
            ))
        })?;
        let after = self.written + bytes.len() as u64;
        if after > self.expected.unwrap_or(MAX_FILE_SIZE) {
            return Err(PieceError::Dropped(ApiError::new(
                ErrorCode::BadRequest,
                "the upload is larger than announced",
            )));
        }
        self.file
            .write_all(&bytes)
            .map_err(|e| PieceError::Dropped(io_err(&self.path, e)))?;
        self.written = after;
        Ok(after)
    }

    /// Checks the size, fsyncs, and links the file to its name; the part file is deleted in
    /// every case.
    fn finish(self) -> Result<reply::UploadDone, ApiError> {
        let placed = (|| {
            if self.expected.is_some_and(|s| s != self.written) {
                return Err(ApiError::new(
                    ErrorCode::BadRequest,
                    format!(
                        "the upload ended after {} of {} bytes",
                        self.written,
                        self.expected.unwrap_or(0)
                    ),
                ));
            }
            self.file.sync_all().map_err(|e| io_err(&self.path, e))?;
            // One hard link, so an existing file is never replaced.
            let mut target = names::unique_path(&self.dir.join(&self.name));
            while let Err(e) = std::fs::hard_link(&self.path, &target) {
                if e.kind() != std::io::ErrorKind::AlreadyExists {
                    return Err(io_err(&target, e));
                }
                target = names::unique_path(&target);
            }
            Ok(target)
        })();
        let _ = std::fs::remove_file(&self.path);
        let target = placed?;
        tracing::info!(bytes = self.written, "upload kept");
        Ok(reply::UploadDone {
            path: target,
            bytes: self.written,
        })
    }
}

/// What an upload's writer starts from.
struct Writer {
    id: String,
    dir: PathBuf,
    name: String,
    expected: Option<u64>,
    /// The actor, told when the upload fails.
    actor: mpsc::Sender<Msg>,
}

impl Writer {
    /// Opens the part file, answers `upload_begin`, then does the upload's jobs in order.
    async fn run(self, begun: Reply, mut jobs: mpsc::Receiver<Job>) {
        let Writer {
            id,
            dir,
            name,
            expected,
            actor,
        } = self;
        let opened = {
            let id = id.clone();
            blocking(move || Part::open(dir, &id, name, expected)).await
        };
        let mut part = match opened.and_then(|r| r) {
            Ok(p) => {
                begun.send(to_json(Ok(reply::UploadBegun { upload: id.clone() })));
                p
            }
            Err(e) => {
                return Self::failed(&id, &actor, None, begun, e, jobs).await;
            }
        };
        while let Some(job) = jobs.recv().await {
            match job {
                Job::Piece { data, reply } => {
                    let path = part.path.clone();
                    let done = blocking(move || {
                        let r = part.append(&data);
                        (part, r)
                    })
                    .await;
                    match done {
                        Ok((p, Ok(bytes))) => {
                            part = p;
                            reply.send(to_json(Ok(reply::UploadProgress { bytes })));
                        }
                        Ok((p, Err(PieceError::Kept(e)))) => {
                            part = p;
                            reply.send(Err(e));
                        }
                        Ok((p, Err(PieceError::Dropped(e)))) => {
                            drop(p);
                            return Self::failed(&id, &actor, Some(path), reply, e, jobs).await;
                        }
                        Err(e) => {
                            return Self::failed(&id, &actor, Some(path), reply, e, jobs).await;
                        }
                    }
                }
                Job::End { reply } => {
                    let r = blocking(move || part.finish()).await.and_then(|r| r);
                    reply.send(to_json(r));
                    return;
                }
                Job::Abort { reply, answer } => {
                    let _ = blocking(move || {
                        let _ = std::fs::remove_file(&part.path);
                    })
                    .await;
                    reply.send(answer);
                    return;
                }
            }
        }
        // The actor dropped the queue (the node is stopping): the part file stays for
        // `clean_stale` at the next start.
    }

    /// Ends a failed upload: deletes its part file, tells the actor, answers `reply` with
    /// `error`, then answers what is still queued as for an upload that is gone.
    async fn failed(
        id: &str,
        actor: &mpsc::Sender<Msg>,
        part: Option<PathBuf>,
        reply: Reply,
        error: ApiError,
        mut jobs: mpsc::Receiver<Job>,
    ) {
        if let Some(p) = part {
            let _ = blocking(move || std::fs::remove_file(p)).await;
        }
        // Before the answer, so a command sent after it finds the upload gone.
        let _ = actor.send(Msg::UploadGone { id: id.to_string() }).await;
        reply.send(Err(error));
        // Until the actor has dropped the queue.
        while let Some(job) = jobs.recv().await {
            job.answer_gone(id);
        }
    }
}

impl Node {
    /// Starts an upload; its writer answers once the part file is open.
    pub(super) fn upload_begin(&mut self, name: &str, size: Option<u64>, reply: Reply) {
        if self.uploads.len() >= MAX_OPEN {
            reply.send(Err(ApiError::new(
                ErrorCode::BadRequest,
                "too many uploads at once; finish or abort one first",
            )));
            return;
        }
        if size.is_some_and(|s| s > MAX_FILE_SIZE) {
            reply.send(Err(ApiError::new(
                ErrorCode::BadRequest,
                "that file is too large",
            )));
            return;
        }
        let mut name = names::sanitize_component(name).unwrap_or_else(|| "file".into());
        if name.starts_with(".upload-") {
            // A kept file must never look like a part file `clean_stale` deletes at start-up.
            name.replace_range(..1, "_");
        }
        let id = hex(&random::<12>());
        let (jobs, queue) = mpsc::channel(MAX_WAITING + 1);
        self.uploads.insert(id.clone(), Upload { jobs });
        let writer = Writer {
            id,
            dir: uploads_dir(&self.home),
            name,
            expected: size,
            actor: self.tx.clone(),
        };
        tokio::spawn(writer.run(reply, queue));
    }

    /// Queues a piece for the upload's writer, which answers once it is written.
    pub(super) fn upload_chunk(&mut self, id: &str, data: String, reply: Reply) {
        if data.len() > MAX_PIECE_B64 {
            let too_big = Err(ApiError::new(
                ErrorCode::BadRequest,
                "an upload piece holds at most 4 MiB",
            ));
            return self.upload_abort(id, reply, too_big);
        }
        let Some(u) = self.uploads.get(id) else {
            reply.send(Err(no_upload(id)));
            return;
        };
        if u.jobs.capacity() <= 1 {
            reply.send(Err(ApiError::new(
                ErrorCode::BadRequest,
                "too many pieces of this upload at once; send one after the last is answered",
            )));
            return;
        }
        if let Err(e) = u.jobs.try_send(Job::Piece { data, reply }) {
            // The writer ended without telling: the upload is gone.
            self.uploads.remove(id);
            e.into_inner().answer_gone(id);
        }
    }

    /// Ends an upload; its writer answers once the file is fsynced and named.
    pub(super) fn upload_end(&mut self, id: &str, reply: Reply) {
        let Some(u) = self.uploads.remove(id) else {
            reply.send(Err(no_upload(id)));
            return;
        };
        if let Err(e) = u.jobs.try_send(Job::End { reply }) {
            e.into_inner().answer_gone(id);
        }
    }

    /// Drops an upload; `answer` is given once its part file is deleted (at once when there
    /// is no such upload).
    pub(super) fn upload_abort(&mut self, id: &str, reply: Reply, answer: Result<Value, ApiError>) {
        let job = Job::Abort { reply, answer };
        match self.uploads.remove(id) {
            Some(u) => {
                if let Err(e) = u.jobs.try_send(job) {
                    e.into_inner().answer_gone(id);
                }
            }
            None => job.answer_gone(id),
        }
    }

    /// A writer reported its upload failed.
    pub(super) fn upload_gone(&mut self, id: &str) {
        self.uploads.remove(id);
    }

    /// Deletes finished uploads that no share took: each must be a file directly in the home's
    /// `uploads/` folder (not a link) that no item record names. Anything else is
    /// `bad_request`, and nothing is deleted. The store is read here; the checks and the
    /// deletes run on a blocking thread, which answers.
    pub(super) fn upload_discard(&mut self, paths: Vec<String>, reply: Reply) {
        let shared = match self.store.item_paths() {
            Ok(s) => s,
            Err(e) => {
                reply.send(Err(ApiError::internal(e)));
                return;
            }
        };
        let dir = uploads_dir(&self.home);
        tokio::spawn(async move {
            let r = blocking(move || discard(&dir, &shared, &paths)).await;
            reply.send(to_json(r.and_then(|r| r)));
        });
    }
}

/// `upload_discard`'s checks and deletes.
fn discard(
    dir: &Path,
    shared: &std::collections::HashSet<PathBuf>,
    paths: &[String],
) -> Result<reply::Discarded, ApiError> {
    let dir = dir
        .canonicalize()
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("no uploads here: {e}")))?;
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
                ErrorCode::BadRequest,
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
