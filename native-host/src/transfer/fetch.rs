//! Fetching items from peers: every chunk is checked against its hash before it is written,
//! the file gets its final name only when complete and fsynced, and a stopped fetch resumes
//! from what is already verified on disk.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::api::{code, ApiError};
use crate::hash::sha256;
use crate::proto::album::hex;
use crate::proto::peer::{PeerMsg, MAX_CHUNKS_PER_REQUEST};
use crate::transfer::manifest::{
    self, chunk_count, chunk_len, Hash, Manifest, CHUNK_SIZE, MAX_MANIFEST,
};
use crate::transfer::names;
use crate::wire::{read_frame, write_frame};

/// A chunk run's result: (first chunk, bytes) or (first chunk, count, why it failed).
type RunResult = Result<(u64, u64), (u64, u64, String)>;

/// Chunks asked for in one request.
const RUN: u64 = 16;
/// Requests in flight at once.
const IN_FLIGHT: usize = 4;

/// One file to fetch.
#[derive(Debug, Clone)]
pub struct FetchItem {
    /// Item ID.
    pub id: Hash,
    /// Its path inside the album (untrusted; sanitised here).
    pub name: String,
    /// Its size.
    pub size: u64,
}

/// Gives the connections that can serve the album right now.
pub type Sources = Arc<dyn Fn() -> oneshot::Receiver<Vec<quinn::Connection>> + Send + Sync>;
/// Called with (bytes done, total bytes).
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// What a finished fetch reports.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Final paths, one per item.
    pub paths: Vec<PathBuf>,
    /// Total size.
    pub bytes: u64,
    /// Bytes pulled over the network in this run.
    pub received: u64,
}

fn err(code: &str, m: impl Into<String>) -> ApiError {
    ApiError::new(code, m)
}

fn io_err(what: &str, e: std::io::Error) -> ApiError {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        return err(
            "disk_full",
            format!("{what}: the disk is full; the partial download is kept"),
        );
    }
    err(code::IO, format!("{what}: {e}"))
}

/// Sends one request and reads the answer frame.
async fn request(
    conn: &quinn::Connection,
    msg: &PeerMsg,
) -> Result<(PeerMsg, quinn::RecvStream), String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    write_frame(&mut send, &msg.to_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let _ = send.finish();
    let frame = read_frame(&mut recv, crate::proto::frame::MAX_FROM_PEER)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("stream closed")?;
    let answer = PeerMsg::from_bytes(&frame).map_err(|e| e.to_string())?;
    if let PeerMsg::Error { code, message } = &answer {
        return Err(format!("{code}: {message}"));
    }
    Ok((answer, recv))
}

/// Fetches a small blob (manifest or segment) of at most `max` bytes.
async fn blob(conn: &quinn::Connection, msg: &PeerMsg, max: usize) -> Result<Vec<u8>, String> {
    let (answer, mut recv) = request(conn, msg).await?;
    let PeerMsg::Data { len } = answer else {
        return Err("unexpected answer".into());
    };
    if len > max as u64 {
        return Err("blob over the limit".into());
    }
    let mut buf = vec![0u8; len as usize];
    recv.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
    Ok(buf)
}

/// Free bytes on the file system holding `dir`.
pub fn free_space(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid NUL-terminated path and s a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(s.f_bavail as u64 * s.f_frsize as u64)
}

/// Which chunks of `file` already match their hashes.
fn verified_chunks(file: &std::fs::File, size: u64, hashes: &[Hash]) -> Vec<bool> {
    let mut buf = vec![0u8; CHUNK_SIZE as usize];
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    hashes
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let n = chunk_len(size, i as u64) as usize;
            let off = i as u64 * CHUNK_SIZE;
            off + n as u64 <= len
                && file.read_exact_at(&mut buf[..n], off).is_ok()
                && sha256(&buf[..n]) == *h
        })
        .collect()
}

/// Fetches every item into `out`, waiting up to `timeout` for a source.
pub async fn run(
    items: Vec<FetchItem>,
    out: PathBuf,
    timeout: Duration,
    sources: Sources,
    progress: Progress,
) -> Result<Outcome, ApiError> {
    std::fs::create_dir_all(&out).map_err(|e| io_err(&out.display().to_string(), e))?;
    let out = out
        .canonicalize()
        .map_err(|e| io_err(&out.display().to_string(), e))?;
    let total: u64 = items.iter().map(|i| i.size).sum();
    let deadline = Instant::now() + timeout;
    let mut outcome = Outcome {
        bytes: total,
        ..Default::default()
    };
    let mut done_before = 0u64;
    for item in &items {
        let (path, received) = fetch_item(
            item,
            &out,
            deadline,
            &sources,
            &progress,
            done_before,
            total,
        )
        .await?;
        outcome.paths.push(path);
        outcome.received += received;
        done_before += item.size;
    }
    Ok(outcome)
}

async fn fetch_item(
    item: &FetchItem,
    out: &Path,
    deadline: Instant,
    sources: &Sources,
    progress: &Progress,
    base: u64,
    total: u64,
) -> Result<(PathBuf, u64), ApiError> {
    let id_hex = hex(&item.id);
    let rel = names::sanitize_relative(&item.name).unwrap_or_else(|| PathBuf::from(&id_hex));
    // Find a source that gives the verified manifest and chunk hashes.
    loop {
        let conns = (sources)().await.unwrap_or_default();
        let mut last = String::from("no member of the album is online");
        for c in &conns {
            match hashes_from(c, &item.id).await {
                Ok(r) if r.0.size == item.size => {
                    return finish_or_resume(
                        item, out, &rel, r, deadline, sources, progress, base, total,
                    )
                    .await;
                }
                Ok(_) => last = "the manifest's size differs from the album's".into(),
                Err(e) => last = e,
            }
        }
        if Instant::now() >= deadline {
            return Err(err(
                code::PEER_UNREACHABLE,
                format!("could not get {}: {last}", item.name),
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn hashes_from(conn: &quinn::Connection, id: &Hash) -> Result<(Manifest, Vec<Hash>), String> {
    let item = hex(id);
    let mb = blob(
        conn,
        &PeerMsg::GetManifest { item: item.clone() },
        MAX_MANIFEST,
    )
    .await?;
    let m = Manifest::decode_verified(&mb, id).map_err(|e| e.to_string())?;
    let mut hashes = Vec::with_capacity(chunk_count(m.size) as usize);
    for seg in 0..m.segments.len() as u64 {
        let sb = blob(
            conn,
            &PeerMsg::GetSegment {
                item: item.clone(),
                seg,
            },
            32 * manifest::SEGMENT_CHUNKS as usize,
        )
        .await?;
        hashes.extend(m.verify_segment(seg, &sb).map_err(|e| e.to_string())?);
    }
    Ok((m, hashes))
}

#[allow(clippy::too_many_arguments)]
async fn finish_or_resume(
    item: &FetchItem,
    out: &Path,
    rel: &Path,
    (m, hashes): (Manifest, Vec<Hash>),
    deadline: Instant,
    sources: &Sources,
    progress: &Progress,
    base: u64,
    total: u64,
) -> Result<(PathBuf, u64), ApiError> {
    let size = m.size;
    let target = out.join(rel);
    // Already complete there? Report it and move nothing.
    if let Ok(f) = std::fs::File::open(&target) {
        if f.metadata()
            .map(|md| md.len() == size && md.is_file())
            .unwrap_or(false)
        {
            let h = hashes.clone();
            let same = tokio::task::spawn_blocking(move || {
                verified_chunks(&f, size, &h).iter().all(|v| *v)
            })
            .await
            .unwrap_or(false);
            if same {
                progress(base + size, total);
                return Ok((target, 0));
            }
        }
    }
    let part = out.join(format!(".kith-{}.part", &hex(&item.id)[..32]));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&part)
        .map_err(|e| io_err(&part.display().to_string(), e))?;
    let file = Arc::new(file);
    let have = {
        let (f, h) = (file.clone(), hashes.clone());
        tokio::task::spawn_blocking(move || verified_chunks(&f, size, &h))
            .await
            .map_err(ApiError::internal)?
    };
    let missing: Vec<u64> = (0..hashes.len() as u64)
        .filter(|i| !have[*i as usize])
        .collect();
    let missing_bytes: u64 = missing.iter().map(|i| chunk_len(size, *i)).sum();
    let on_disk = file.metadata().map(|m| m.len()).unwrap_or(0);
    let needed = size.saturating_sub(on_disk);
    let free = free_space(out).map_err(|e| io_err("checking free space", e))?;
    if needed > free {
        return Err(err(
            "disk_full",
            format!(
                "{} needs {} more bytes but only {} are free in {}",
                item.name,
                needed,
                free,
                out.display()
            ),
        ));
    }
    let mut done = size - missing_bytes;
    progress(base + done, total);
    // Runs of consecutive missing chunks, at most RUN long.
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for &i in &missing {
        match runs.last_mut() {
            Some((from, n)) if *from + *n == i && *n < RUN.min(MAX_CHUNKS_PER_REQUEST) => *n += 1,
            _ => runs.push((i, 1)),
        }
    }
    let hashes = Arc::new(hashes);
    let mut received = 0u64;
    let mut pending = runs.into_iter();
    let mut tasks: JoinSet<RunResult> = JoinSet::new();
    let mut conns: Vec<quinn::Connection> = Vec::new();
    let mut turn = 0usize;
    let mut retry: Vec<(u64, u64)> = Vec::new();
    let mut last_error = String::new();
    loop {
        while tasks.len() < IN_FLIGHT {
            let Some((from, n)) = retry.pop().or_else(|| pending.next()) else {
                break;
            };
            if conns.is_empty() {
                conns = (sources)().await.unwrap_or_default();
            }
            let Some(conn) = conns.get(turn % conns.len().max(1)).cloned() else {
                retry.push((from, n));
                break;
            };
            turn += 1;
            let (file, hashes, id) = (file.clone(), hashes.clone(), hex(&item.id));
            tasks.spawn(async move {
                get_run(&conn, &id, from, n, size, &hashes, &file)
                    .await
                    .map_err(|e| (from, n, e))
            });
        }
        let Some(joined) = tasks.join_next().await else {
            if retry.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(err(
                    code::PEER_UNREACHABLE,
                    format!("no source could serve {}: {last_error}", item.name),
                ));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            conns.clear();
            continue;
        };
        match joined.map_err(ApiError::internal)? {
            Ok((_, bytes)) => {
                received += bytes;
                done += bytes;
                progress(base + done, total);
            }
            Err((from, n, e)) => {
                if e.starts_with("io:") {
                    return Err(io_err(
                        &part.display().to_string(),
                        std::io::Error::other(e),
                    ));
                }
                if e.starts_with("disk_full") {
                    return Err(err(
                        "disk_full",
                        "the disk is full; the partial download is kept",
                    ));
                }
                tracing::info!("chunk request failed: {e}");
                last_error = e;
                conns.clear();
                retry.push((from, n));
                if Instant::now() >= deadline {
                    tasks.abort_all();
                    return Err(err(
                        code::PEER_UNREACHABLE,
                        format!("no source could serve {}: {last_error}", item.name),
                    ));
                }
                // Give the sources a moment before asking again.
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
    // Complete: make it durable, then give it its name.
    let f2 = file.clone();
    tokio::task::spawn_blocking(move || f2.set_len(size).and_then(|_| f2.sync_all()))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| io_err(&part.display().to_string(), e))?;
    let final_path = names::prepare_target(out, rel)
        .map_err(|e| io_err(&out.join(rel).display().to_string(), e))?;
    let final_path = place(&part, &final_path)?;
    if let Some(parent) = final_path.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok((final_path, received))
}

/// Gives the finished part file its name without ever replacing an existing file: a hard link
/// fails when the name is taken (then the next ` (n)` name is tried); rename is the fallback
/// on file systems without hard links.
fn place(part: &Path, wanted: &Path) -> Result<PathBuf, ApiError> {
    for _ in 0..100 {
        let target = names::unique_path(wanted);
        match std::fs::hard_link(part, &target) {
            Ok(()) => {
                let _ = std::fs::remove_file(part);
                return Ok(target);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(_) => {
                std::fs::rename(part, &target)
                    .map_err(|e| io_err(&target.display().to_string(), e))?;
                return Ok(target);
            }
        }
    }
    Err(err(
        code::IO,
        format!("no free name for {}", wanted.display()),
    ))
}

/// Fetches `n` chunks from `from`, verifying each before writing it.
async fn get_run(
    conn: &quinn::Connection,
    item: &str,
    from: u64,
    n: u64,
    size: u64,
    hashes: &[Hash],
    file: &Arc<std::fs::File>,
) -> Result<(u64, u64), String> {
    let (answer, mut recv) = request(
        conn,
        &PeerMsg::GetChunks {
            item: item.to_string(),
            from,
            count: n,
        },
    )
    .await?;
    let expected: u64 = (from..from + n).map(|i| chunk_len(size, i)).sum();
    match answer {
        PeerMsg::Data { len } if len == expected => {}
        _ => return Err("bad answer to get_chunks".into()),
    }
    let mut bytes = 0;
    for i in from..from + n {
        let len = chunk_len(size, i) as usize;
        let mut buf = vec![0u8; len];
        recv.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        let want = hashes
            .get(i as usize)
            .copied()
            .ok_or("chunk out of range")?;
        let f = file.clone();
        let wrote = tokio::task::spawn_blocking(move || {
            if sha256(&buf) != want {
                return Err("bad_chunk".to_string());
            }
            f.write_all_at(&buf, i * CHUNK_SIZE).map_err(|e| {
                if e.raw_os_error() == Some(libc::ENOSPC) {
                    "disk_full".to_string()
                } else {
                    format!("io: {e}")
                }
            })
        })
        .await
        .map_err(|e| e.to_string())?;
        wrote?;
        bytes += len as u64;
    }
    Ok((from, bytes))
}
