//! Fetching items from peers: every chunk is checked against its hash before it is written,
//! the file gets its final name only when complete and fsynced, and a stopped fetch resumes
//! from what is already verified on disk.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::transfer::live::{Live, LivePart};
use crate::transfer::manifest::{
    self, chunk_count, chunk_len, Hash, Manifest, CHUNK_SIZE, MAX_MANIFEST,
};
use crate::transfer::names;
use crate::transfer::rate::Limiter;
use kith_proto::album::hex;
use kith_proto::api::{code, ApiError};
use kith_proto::hash::sha256;
use kith_proto::peer::{PeerMsg, MAX_CHUNKS_PER_REQUEST};

/// Chunks asked for in one request.
const RUN: u64 = 4;
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

/// Sends one request and reads the answer frame; a refusal becomes an error.
async fn request(
    conn: &quinn::Connection,
    msg: &PeerMsg,
) -> Result<(PeerMsg, quinn::RecvStream), String> {
    let (answer, recv) = crate::wire::ask(conn, msg).await?;
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

/// What every item of one fetch shares.
pub struct Job {
    /// The download folder.
    pub out: PathBuf,
    /// When to give up waiting for sources.
    pub deadline: Instant,
    /// Who can serve now.
    pub sources: Sources,
    /// Progress callback.
    pub progress: Progress,
    /// Download rate limit.
    pub limit: Arc<Limiter>,
    /// Where files being fetched are shown to the gateway.
    pub live: Arc<Live>,
}

/// What one fetched item left: where it is and its verified manifest and chunk hashes.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Final path.
    pub path: PathBuf,
    /// Verified manifest.
    pub manifest: Manifest,
    /// Verified chunk hashes.
    pub hashes: Vec<Hash>,
    /// Bytes pulled over the network.
    pub received: u64,
}

/// Fetches every item into the job's folder; stops at the first item that fails.
pub async fn run(items: Vec<FetchItem>, mut job: Job) -> Result<(Outcome, Vec<Fetched>), ApiError> {
    std::fs::create_dir_all(&job.out).map_err(|e| io_err(&job.out.display().to_string(), e))?;
    job.out = job
        .out
        .canonicalize()
        .map_err(|e| io_err(&job.out.display().to_string(), e))?;
    let total: u64 = items.iter().map(|i| i.size).sum();
    // A fetch that cannot fit says so before it starts (bytes already in place count as done).
    let present: u64 = items.iter().map(|i| already_present(&job.out, i)).sum();
    let free = free_space(&job.out).map_err(|e| io_err("checking free space", e))?;
    if total.saturating_sub(present) > free {
        return Err(err(
            code::DISK_FULL,
            format!(
                "this needs {} MB but only {} MB are free in {}",
                total.saturating_sub(present).div_ceil(1_000_000),
                free / 1_000_000,
                job.out.display()
            ),
        ));
    }
    let mut outcome = Outcome {
        bytes: total,
        ..Default::default()
    };
    let job = Arc::new(Shared {
        job,
        done: AtomicU64::new(0),
        total,
    });
    // Several items at once (small files are round trips, not bandwidth); chunks of one
    // large item are spread over sources inside `place_item`.
    let mut tasks: JoinSet<(usize, Result<Fetched, ApiError>)> = JoinSet::new();
    let mut queue = items.into_iter().enumerate();
    let mut results: Vec<Option<Fetched>> = Vec::new();
    loop {
        while tasks.len() < ITEMS_IN_FLIGHT {
            let Some((i, item)) = queue.next() else { break };
            results.push(None);
            let job = job.clone();
            tasks.spawn(async move { (i, fetch_item(&item, &job).await) });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (i, r) = joined.map_err(ApiError::internal)?;
        match r {
            Ok(f) => results[i] = Some(f),
            Err(e) => {
                tasks.abort_all();
                return Err(e);
            }
        }
    }
    let fetched: Vec<Fetched> = results.into_iter().flatten().collect();
    for f in &fetched {
        outcome.paths.push(f.path.clone());
        outcome.received += f.received;
    }
    Ok((outcome, fetched))
}

/// Items fetched at once.
const ITEMS_IN_FLIGHT: usize = 8;

/// A job with its running byte count.
struct Shared {
    job: Job,
    done: AtomicU64,
    total: u64,
}

impl Shared {
    /// Counts bytes now in place and reports progress.
    fn advance(&self, bytes: u64) {
        let done = self.done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        (self.job.progress)(done, self.total);
    }
}

/// Bytes of an item already on disk (a finished file of the right size, or a part file).
fn already_present(out: &Path, item: &FetchItem) -> u64 {
    let rel = names::sanitize_relative(&item.name).unwrap_or_else(|| PathBuf::from(hex(&item.id)));
    let done = std::fs::metadata(out.join(&rel))
        .map(|m| m.len() == item.size)
        .unwrap_or(false);
    if done {
        return item.size;
    }
    std::fs::metadata(part_path(out, &item.id, &rel))
        .map(|m| m.len().min(item.size))
        .unwrap_or(0)
}

/// About how many bytes of these items are in `out` (finished files, and part files' lengths,
/// which may include chunks not yet written or verified).
pub fn bytes_present(out: &Path, items: &[FetchItem]) -> u64 {
    items.iter().map(|i| already_present(out, i)).sum()
}

/// Deletes the part files a cancelled fetch of these items left in `out`.
pub fn remove_parts(out: &Path, items: &[FetchItem]) {
    for item in items {
        let rel =
            names::sanitize_relative(&item.name).unwrap_or_else(|| PathBuf::from(hex(&item.id)));
        let _ = std::fs::remove_file(part_path(out, &item.id, &rel));
    }
}

/// The hidden file a download grows in, inside the download folder (named by the item and
/// its place, so two copies of one file in an album never share one).
pub fn part_path(out: &Path, id: &Hash, rel: &Path) -> PathBuf {
    let place = sha256(rel.as_os_str().as_encoded_bytes());
    out.join(format!(
        ".kith-{}-{}.part",
        &hex(id)[..24],
        &hex(&place)[..8]
    ))
}

async fn fetch_item(item: &FetchItem, shared: &Shared) -> Result<Fetched, ApiError> {
    let job = &shared.job;
    let rel = names::sanitize_relative(&item.name).unwrap_or_else(|| PathBuf::from(hex(&item.id)));
    // Find a source that gives the verified manifest and chunk hashes.
    loop {
        let conns = (job.sources)().await.unwrap_or_default();
        let mut last = String::from("no member of the album is online");
        for c in &conns {
            match hashes_from(c, &item.id).await {
                Ok((m, h)) if m.size == item.size => {
                    return place_item(item, shared, &rel, m, h).await
                }
                Ok(_) => last = "the manifest's size differs from the album's".into(),
                Err(e) => last = e,
            }
        }
        if Instant::now() >= job.deadline {
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
        let msg = PeerMsg::GetSegment {
            item: item.clone(),
            seg,
        };
        let sb = blob(conn, &msg, 32 * manifest::SEGMENT_CHUNKS as usize).await?;
        hashes.extend(m.verify_segment(seg, &sb).map_err(|e| e.to_string())?);
    }
    Ok((m, hashes))
}

/// Bad chunks a source may send before it is dropped.
const STRIKES: u32 = 3;

async fn place_item(
    item: &FetchItem,
    shared: &Shared,
    rel: &Path,
    m: Manifest,
    hashes: Vec<Hash>,
) -> Result<Fetched, ApiError> {
    let job = &shared.job;
    let size = m.size;
    let out = job.out.as_path();
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
                // A crash between the hard link in `place` and the unlink of the part file
                // leaves the part file as a second name of this very file: remove it.
                let part = part_path(out, &item.id, rel);
                if same_file(&part, &target) {
                    let _ = std::fs::remove_file(&part);
                }
                shared.advance(size);
                return Ok(Fetched {
                    path: target,
                    manifest: m,
                    hashes,
                    received: 0,
                });
            }
        }
    }
    let part = part_path(out, &item.id, rel);
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
    let live_part = Arc::new(LivePart::new(part.clone(), size, have));
    let _shown = Shown::new(&job.live, hex(&item.id), live_part.clone());
    shared.advance(size - missing.iter().map(|i| chunk_len(size, *i)).sum::<u64>());
    // Runs of consecutive missing chunks, at most RUN long.
    let mut pending: Vec<(u64, u64)> = Vec::new();
    for &i in &missing {
        match pending.last_mut() {
            Some((from, n)) if *from + *n == i && *n < RUN.min(MAX_CHUNKS_PER_REQUEST) => *n += 1,
            _ => pending.push((i, 1)),
        }
    }
    pending.reverse(); // popped from the end: lowest chunks first
    let hashes = Arc::new(hashes);
    let mut received = 0u64;
    let mut tasks: JoinSet<RunResult> = JoinSet::new();
    let mut conns: Vec<quinn::Connection> = Vec::new();
    let mut strikes: std::collections::HashMap<usize, u32> = Default::default();
    let mut turn = 0usize;
    let mut last_error = String::new();
    loop {
        while tasks.len() < IN_FLIGHT && !pending.is_empty() {
            if conns.is_empty() {
                conns = (job.sources)().await.unwrap_or_default();
                conns.retain(|c| strikes.get(&c.stable_id()).copied().unwrap_or(0) < STRIKES);
            }
            if conns.is_empty() {
                break;
            }
            for w in live_part.take_wanted() {
                prioritise(&mut pending, w);
            }
            let Some((from, n)) = pending.pop() else {
                break;
            };
            let conn = conns[turn % conns.len()].clone();
            turn += 1;
            let (file, hashes, id, limit, shown) = (
                file.clone(),
                hashes.clone(),
                hex(&item.id),
                job.limit.clone(),
                live_part.clone(),
            );
            tasks.spawn(async move {
                let sid = conn.stable_id();
                get_run(&conn, &id, from, n, size, &hashes, &file, &limit, &shown)
                    .await
                    .map_err(|(k, bytes, e)| RunFailure {
                        conn: conn.clone(),
                        sid,
                        from: from + k,
                        n: n - k,
                        bytes,
                        error: e,
                    })
            });
        }
        let Some(joined) = tasks.join_next().await else {
            if pending.is_empty() {
                break;
            }
            if Instant::now() >= job.deadline {
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
            Ok(bytes) => {
                received += bytes;
                shared.advance(bytes);
            }
            Err(f) => {
                received += f.bytes;
                shared.advance(f.bytes);
                pending.push((f.from, f.n));
                if f.error.starts_with("disk_full") {
                    tasks.abort_all();
                    return Err(err(
                        code::DISK_FULL,
                        "the disk is full; the partial download is kept",
                    ));
                }
                if f.error.starts_with("io:") {
                    tasks.abort_all();
                    return Err(err(code::IO, format!("{}: {}", part.display(), f.error)));
                }
                if f.error == BAD_CHUNK {
                    let s = strikes.entry(f.sid).or_insert(0);
                    *s += 1;
                    tracing::warn!(
                        strikes = *s,
                        "a source sent a chunk that does not match its hash"
                    );
                    if *s >= STRIKES {
                        tracing::warn!("source struck out after {STRIKES} bad chunks; dropping it");
                        f.conn.close(quinn::VarInt::from_u32(4), b"bad chunks");
                    }
                } else {
                    tracing::info!("chunk request failed: {}", f.error);
                }
                last_error = f.error;
                conns.clear();
                if Instant::now() >= job.deadline {
                    tasks.abort_all();
                    return Err(err(
                        code::PEER_UNREACHABLE,
                        format!("no source could serve {}: {last_error}", item.name),
                    ));
                }
                // Give the sources a moment before asking again.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    // Complete: make it durable, then give it its name.
    let f2 = file.clone();
    let synced = std::time::Instant::now();
    tokio::task::spawn_blocking(move || f2.set_len(size).and_then(|_| f2.sync_all()))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| io_err(&part.display().to_string(), e))?;
    tracing::debug!(ms = synced.elapsed().as_millis() as u64, "final fsync");
    let wanted = names::prepare_target(out, rel)
        .map_err(|e| io_err(&out.join(rel).display().to_string(), e))?;
    let path = place(&part, &wanted)?;
    if let Some(parent) = path.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    let hashes = Arc::try_unwrap(hashes).unwrap_or_else(|a| (*a).clone());
    Ok(Fetched {
        path,
        manifest: m,
        hashes,
        received,
    })
}

/// Shows a file being fetched to the gateway for as long as its fetch runs.
struct Shown {
    live: Arc<Live>,
    id: String,
    part: Arc<LivePart>,
}

impl Shown {
    fn new(live: &Arc<Live>, id: String, part: Arc<LivePart>) -> Shown {
        live.insert(&id, part.clone());
        Shown {
            live: live.clone(),
            id,
            part,
        }
    }
}

impl Drop for Shown {
    fn drop(&mut self) {
        self.live.remove(&self.id, &self.part);
    }
}

/// Reorders the pending runs (a stack, next on top) so that chunk `w` comes next and the
/// chunks after it follow in order (a player reads on from where it asked), the earlier ones
/// after those.
fn prioritise(pending: &mut Vec<(u64, u64)>, w: u64) {
    let Some(k) = pending.iter().position(|(f, n)| *f <= w && w < f + n) else {
        return; // in flight or done already
    };
    let (from, n) = pending[k];
    if from < w {
        pending[k] = (from, w - from);
        pending.push((w, from + n - w));
    }
    let (mut upper, mut lower): (Vec<_>, Vec<_>) = pending.drain(..).partition(|(f, _)| *f >= w);
    upper.sort_by_key(|r| std::cmp::Reverse(r.0));
    lower.sort_by_key(|r| std::cmp::Reverse(r.0));
    pending.extend(lower);
    pending.extend(upper);
}

/// Why a run of chunks stopped, and what is left of it.
struct RunFailure {
    conn: quinn::Connection,
    sid: usize,
    from: u64,
    n: u64,
    bytes: u64,
    error: String,
}

/// A chunk run's result: bytes written, or where and why it stopped.
type RunResult = Result<u64, RunFailure>;

const BAD_CHUNK: &str = "bad_chunk";

/// Starts writing a verified range to disk now, so the final fsync has little left to wait for.
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid descriptor and range; SYNC_FILE_RANGE_WRITE only queues writeback.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as i64,
            len as i64,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &std::fs::File, _offset: u64, _len: u64) {}

/// Whether two paths name the same file (one inode), without following a final symlink.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::symlink_metadata(a), std::fs::symlink_metadata(b)) {
        (Ok(x), Ok(y)) => x.is_file() && x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
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

/// Fetches `n` chunks from `from`, verifying each before writing it. On failure gives how
/// many chunks were written, the bytes they held, and why it stopped.
#[allow(clippy::too_many_arguments)]
async fn get_run(
    conn: &quinn::Connection,
    item: &str,
    from: u64,
    n: u64,
    size: u64,
    hashes: &[Hash],
    file: &Arc<std::fs::File>,
    limit: &Limiter,
    shown: &Arc<LivePart>,
) -> Result<u64, (u64, u64, String)> {
    let msg = PeerMsg::GetChunks {
        item: item.to_string(),
        from,
        count: n,
    };
    let (answer, mut recv) = request(conn, &msg).await.map_err(|e| (0, 0, e))?;
    let expected: u64 = (from..from + n).map(|i| chunk_len(size, i)).sum();
    match answer {
        PeerMsg::Data { len } if len == expected => {}
        _ => return Err((0, 0, "bad answer to get_chunks".into())),
    }
    // Hash and write on a blocking thread while the next chunk arrives.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u64, Vec<u8>)>(2);
    let (file, hashes, shown) = (
        file.clone(),
        hashes[from as usize..(from + n) as usize].to_vec(),
        shown.clone(),
    );
    let writer = tokio::task::spawn_blocking(move || -> Result<(u64, u64), (u64, u64, String)> {
        let (mut written, mut bytes) = (0u64, 0u64);
        while let Some((i, buf)) = rx.blocking_recv() {
            let fail = |e: String| (written, bytes, e);
            if sha256(&buf) != hashes[(i - from) as usize] {
                return Err(fail(BAD_CHUNK.to_string()));
            }
            file.write_all_at(&buf, i * CHUNK_SIZE).map_err(|e| {
                fail(if e.raw_os_error() == Some(libc::ENOSPC) {
                    "disk_full".to_string()
                } else {
                    format!("io: {e}")
                })
            })?;
            start_writeback(&file, i * CHUNK_SIZE, buf.len() as u64);
            shown.written(i);
            written += 1;
            bytes += buf.len() as u64;
        }
        Ok((written, bytes))
    });
    let mut read_error = None;
    for i in from..from + n {
        let len = chunk_len(size, i) as usize;
        limit.take(len as u64).await;
        // Gather the chunk from the stream's own buffers: one copy, no zero-fill.
        let mut buf = Vec::with_capacity(len);
        while buf.len() < len {
            match recv.read_chunk(len - buf.len(), true).await {
                Ok(Some(c)) => buf.extend_from_slice(&c.bytes),
                Ok(None) => {
                    read_error = Some("stream ended early".to_string());
                    break;
                }
                Err(e) => {
                    read_error = Some(e.to_string());
                    break;
                }
            }
        }
        if read_error.is_some() {
            break;
        }
        if tx.send((i, buf)).await.is_err() {
            break; // the writer stopped: its error says why
        }
    }
    drop(tx);
    let (written, bytes) = writer.await.map_err(|e| (0, 0, e.to_string()))??;
    if let Some(e) = read_error {
        return Err((written, bytes, e));
    }
    if written < n {
        return Err((written, bytes, "run cut short".into()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wished_chunk_comes_next_then_the_ones_after_it_then_the_earlier_ones() {
        // Runs of four from chunk 0 to 15, next on top (lowest first).
        let mut pending: Vec<(u64, u64)> = vec![(12, 4), (8, 4), (4, 4), (0, 4)];
        prioritise(&mut pending, 9);
        let order: Vec<_> = pending.iter().rev().copied().collect();
        assert_eq!(order, vec![(9, 3), (12, 4), (0, 4), (4, 4), (8, 1)]);
        // A chunk already in flight changes nothing.
        let before = pending.clone();
        prioritise(&mut pending, 100);
        assert_eq!(pending, before);
    }
}
