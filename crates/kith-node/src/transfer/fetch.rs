//! Fetching items from peers: every chunk is checked against its hash before it is written,
//! the file gets its final name only when complete and fsynced, and a stopped fetch resumes
//! from what is already verified on disk.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::core::fetch_plan::{
    Failure, Fault, FetchPlan, Run, SourceId, Step, ITEMS_IN_FLIGHT, RUN, STRIKES,
};
use crate::transfer::live::{Live, LivePart};
use crate::transfer::manifest::{
    self, chunk_count, chunk_len, Hash, Manifest, CHUNK_SIZE, MAX_MANIFEST,
};
use crate::transfer::names;
use crate::transfer::rate::Limiter;
use kith_proto::album::hex;
use kith_proto::api::{ApiError, ErrorCode};
use kith_proto::hash::sha256;
use kith_proto::ids::ItemId;
use kith_proto::peer::{PeerCode, PeerMsg, MAX_CHUNKS_PER_REQUEST};

// A run must fit in one request.
const _: () = assert!(RUN <= MAX_CHUNKS_PER_REQUEST);

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

fn err(code: ErrorCode, m: impl Into<String>) -> ApiError {
    ApiError::new(code, m)
}

fn io_err(what: &str, e: std::io::Error) -> ApiError {
    if crate::platform::is_disk_full(&e) {
        return err(
            ErrorCode::DiskFull,
            format!("{what}: the disk is full; the partial download is kept"),
        );
    }
    err(ErrorCode::Io, format!("{what}: {e}"))
}

/// Sends one request and reads the answer frame; a refusal becomes a fault.
async fn request(
    conn: &quinn::Connection,
    msg: &PeerMsg,
) -> Result<(PeerMsg, quinn::RecvStream), Fault> {
    let (answer, recv) = crate::wire::ask(conn, msg).await.map_err(Fault::Failed)?;
    if let PeerMsg::Error { code, message } = &answer {
        if *code == PeerCode::NotShared {
            return Err(Fault::NotHere);
        }
        return Err(Fault::Failed(format!("{code}: {message}")));
    }
    Ok((answer, recv))
}

/// Fetches a small blob (manifest or segment) of at most `max` bytes.
async fn blob(conn: &quinn::Connection, msg: &PeerMsg, max: usize) -> Result<Vec<u8>, Fault> {
    let (answer, mut recv) = request(conn, msg).await?;
    let PeerMsg::Data { len } = answer else {
        return Err(Fault::Failed("unexpected answer".into()));
    };
    if len > max as u64 {
        return Err(Fault::Failed("blob over the limit".into()));
    }
    let mut buf = vec![0u8; len as usize];
    recv.read_exact(&mut buf)
        .await
        .map_err(|e| Fault::Failed(e.to_string()))?;
    Ok(buf)
}

/// Free bytes on the file system holding `dir`.
pub use crate::platform::free_space;

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
                && crate::platform::read_exact_at(file, &mut buf[..n], off).is_ok()
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
            ErrorCode::DiskFull,
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
        holders: Mutex::default(),
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

/// A job with its running byte count.
struct Shared {
    job: Job,
    done: AtomicU64,
    total: u64,
    /// Sources that gave the hashes of an earlier item: asked first for the next ones.
    holders: Mutex<HashSet<SourceId>>,
}

impl Shared {
    /// Counts bytes now in place and reports progress.
    fn advance(&self, bytes: u64) {
        let done = self.done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        (self.job.progress)(done, self.total);
    }

    /// Who can serve now, those who served this fetch before first; remembers the connections.
    async fn sources(&self, conns: &mut HashMap<SourceId, quinn::Connection>) -> Vec<SourceId> {
        let list = (self.job.sources)().await.unwrap_or_default();
        let mut ids: Vec<SourceId> = list
            .into_iter()
            .map(|c| {
                let id = SourceId(c.stable_id() as u64);
                conns.insert(id, c);
                id
            })
            .collect();
        let holders = self.holders.lock().unwrap_or_else(|p| p.into_inner());
        ids.sort_by_key(|id| !holders.contains(id));
        ids
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

/// What a task of one item's fetch returns.
enum Done {
    /// The manifest and chunk hashes from a source.
    Hashes(SourceId, Result<(Manifest, Vec<Hash>), Fault>),
    /// A run of chunks from a source.
    Run(SourceId, Run, RunEnd),
}

/// How a run of chunks ended.
struct RunEnd {
    /// Chunks from the run's start verified and written.
    written: u64,
    /// The bytes they held.
    bytes: u64,
    result: Result<(), RunError>,
}

/// Why a run stopped.
enum RunError {
    /// The source did not deliver.
    Source(Fault),
    /// The disk is full.
    DiskFull,
    /// Writing failed.
    Io(std::io::Error),
}

/// Fetches one item: `FetchPlan` decides whom to ask for what; this does the asking, the
/// checking and the writing.
async fn fetch_item(item: &FetchItem, shared: &Shared) -> Result<Fetched, ApiError> {
    let job = &shared.job;
    let rel = names::sanitize_relative(&item.name).unwrap_or_else(|| PathBuf::from(hex(&item.id)));
    let mut plan = FetchPlan::new(chunk_count(item.size), job.deadline);
    let mut conns: HashMap<SourceId, quinn::Connection> = HashMap::new();
    let mut tasks: JoinSet<Done> = JoinSet::new();
    let mut part: Option<Part> = None;
    let mut received = 0u64;
    loop {
        if let Some(p) = &part {
            for w in p.live.take_wanted() {
                plan.on_wish(w);
            }
        }
        let now = Instant::now();
        match plan.next(now) {
            Step::RefreshSources => {
                let ids = shared.sources(&mut conns).await;
                plan.on_sources(Instant::now(), &ids);
            }
            Step::AskHashes(s) => {
                let Some(conn) = conns.get(&s).cloned() else {
                    plan.on_hashes(now, s, Err(Fault::Failed("no connection".into())));
                    continue;
                };
                let id = item.id;
                tasks.spawn(async move { Done::Hashes(s, hashes_from(&conn, &id).await) });
            }
            Step::Request(s, run) => {
                let (Some(conn), Some(p)) = (conns.get(&s).cloned(), part.as_ref()) else {
                    let f = Fault::Failed("no connection".into());
                    plan.on_run_done(now, s, run, 0, Err(f));
                    continue;
                };
                let (file, hashes, id, limit, shown) = (
                    p.file.clone(),
                    p.hashes.clone(),
                    ItemId::from(hex(&item.id)),
                    job.limit.clone(),
                    p.live.clone(),
                );
                let size = item.size;
                tasks.spawn(async move {
                    let end = get_run(&conn, &id, run, size, &hashes, &file, &limit, &shown).await;
                    Done::Run(s, run, end)
                });
            }
            Step::Drop(s) => {
                tracing::warn!("source struck out after {STRIKES} bad chunks; dropping it");
                if let Some(c) = conns.get(&s) {
                    c.close(quinn::VarInt::from_u32(4), b"bad chunks");
                }
            }
            Step::Wait(until) => {
                let joined = tokio::select! {
                    j = tasks.join_next(), if !tasks.is_empty() => j,
                    _ = tokio::time::sleep_until(until.into()) => None,
                };
                let Some(joined) = joined else {
                    continue;
                };
                match joined.map_err(ApiError::internal)? {
                    Done::Hashes(s, Ok((m, h))) if m.size == item.size => {
                        shared
                            .holders
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(s);
                        match prepare(item, shared, &rel, m, h).await? {
                            Prepared::Complete(f) => return Ok(f),
                            Prepared::Part(p) => {
                                plan.on_hashes(Instant::now(), s, Ok(p.have.clone()));
                                part = Some(p);
                            }
                        }
                    }
                    Done::Hashes(s, Ok(_)) => {
                        let f =
                            Fault::Failed("the manifest's size differs from the album's".into());
                        plan.on_hashes(Instant::now(), s, Err(f));
                    }
                    Done::Hashes(s, Err(f)) => plan.on_hashes(Instant::now(), s, Err(f)),
                    Done::Run(s, run, end) => {
                        received += end.bytes;
                        shared.advance(end.bytes);
                        let result = match end.result {
                            Ok(()) => Ok(()),
                            Err(RunError::DiskFull) => {
                                return Err(err(
                                    ErrorCode::DiskFull,
                                    "the disk is full; the partial download is kept",
                                ))
                            }
                            Err(RunError::Io(e)) => {
                                let path = part.as_ref().map(|p| p.path.display().to_string());
                                return Err(err(
                                    ErrorCode::Io,
                                    format!("{}: io: {e}", path.unwrap_or_default()),
                                ));
                            }
                            Err(RunError::Source(f)) => Err(f),
                        };
                        let bad = matches!(result, Err(Fault::BadChunk));
                        if let Err(f) = &result {
                            if !bad {
                                tracing::info!("chunk request failed: {f}");
                            }
                        }
                        plan.on_run_done(Instant::now(), s, run, end.written, result);
                        if bad {
                            tracing::warn!(
                                strikes = plan.strikes(s),
                                "a source sent a chunk that does not match its hash"
                            );
                        }
                    }
                }
            }
            Step::Finished => break,
            Step::Failed(f) => {
                let message = match f {
                    Failure::NoHashes(last) => format!("could not get {}: {last}", item.name),
                    Failure::NoChunks(last) => {
                        format!("no source could serve {}: {last}", item.name)
                    }
                };
                return Err(err(ErrorCode::PeerUnreachable, message));
            }
        }
    }
    let Some(p) = part else {
        return Err(ApiError::internal(
            "a fetch finished without its chunk hashes",
        ));
    };
    finish(item, shared, &rel, p, received).await
}

async fn hashes_from(conn: &quinn::Connection, id: &Hash) -> Result<(Manifest, Vec<Hash>), Fault> {
    let item = ItemId::from(hex(id));
    let mb = blob(
        conn,
        &PeerMsg::GetManifest { item: item.clone() },
        MAX_MANIFEST,
    )
    .await?;
    let m = Manifest::decode_verified(&mb, id).map_err(|e| Fault::Failed(e.to_string()))?;
    let mut hashes = Vec::with_capacity(chunk_count(m.size) as usize);
    for seg in 0..m.segments.len() as u64 {
        let msg = PeerMsg::GetSegment {
            item: item.clone(),
            seg,
        };
        let sb = blob(conn, &msg, 32 * manifest::SEGMENT_CHUNKS as usize).await?;
        hashes.extend(
            m.verify_segment(seg, &sb)
                .map_err(|e| Fault::Failed(e.to_string()))?,
        );
    }
    Ok((m, hashes))
}

/// An item whose hashes are known, growing in its part file.
struct Part {
    path: PathBuf,
    file: Arc<std::fs::File>,
    manifest: Manifest,
    hashes: Arc<Vec<Hash>>,
    /// Chunks verified on disk when the fetch started.
    have: Vec<bool>,
    live: Arc<LivePart>,
    /// Shown to the gateway until the fetch ends.
    _shown: Shown,
}

/// What the verified hashes lead to: the file is there already, or a part file to fill.
enum Prepared {
    Complete(Fetched),
    Part(Part),
}

/// Finds what is already on disk: a complete file at the target, or verified chunks in the part
/// file (resume).
async fn prepare(
    item: &FetchItem,
    shared: &Shared,
    rel: &Path,
    m: Manifest,
    hashes: Vec<Hash>,
) -> Result<Prepared, ApiError> {
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
                return Ok(Prepared::Complete(Fetched {
                    path: target,
                    manifest: m,
                    hashes,
                    received: 0,
                }));
            }
        }
    }
    let path = part_path(out, &item.id, rel);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io_err(&path.display().to_string(), e))?;
    let file = Arc::new(file);
    let have = {
        let (f, h) = (file.clone(), hashes.clone());
        tokio::task::spawn_blocking(move || verified_chunks(&f, size, &h))
            .await
            .map_err(ApiError::internal)?
    };
    let missing: u64 = (0..hashes.len() as u64)
        .filter(|i| !have[*i as usize])
        .map(|i| chunk_len(size, i))
        .sum();
    let live = Arc::new(LivePart::new(path.clone(), size, have.clone()));
    let shown = Shown::new(&job.live, ItemId::from(hex(&item.id)), live.clone());
    shared.advance(size - missing);
    Ok(Prepared::Part(Part {
        path,
        file,
        manifest: m,
        hashes: Arc::new(hashes),
        have,
        live,
        _shown: shown,
    }))
}

/// Every chunk is in the part file: make it durable, then give it its name.
async fn finish(
    item: &FetchItem,
    shared: &Shared,
    rel: &Path,
    p: Part,
    received: u64,
) -> Result<Fetched, ApiError> {
    let out = shared.job.out.as_path();
    let size = item.size;
    let f2 = p.file.clone();
    let synced = std::time::Instant::now();
    tokio::task::spawn_blocking(move || f2.set_len(size).and_then(|_| f2.sync_all()))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| io_err(&p.path.display().to_string(), e))?;
    tracing::debug!(ms = synced.elapsed().as_millis() as u64, "final fsync");
    let wanted = names::prepare_target(out, rel)
        .map_err(|e| io_err(&out.join(rel).display().to_string(), e))?;
    let path = place(&p.path, &wanted)?;
    if let Some(parent) = path.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    let hashes = Arc::try_unwrap(p.hashes).unwrap_or_else(|a| (*a).clone());
    Ok(Fetched {
        path,
        manifest: p.manifest,
        hashes,
        received,
    })
}

/// Shows a file being fetched to the gateway for as long as its fetch runs.
struct Shown {
    live: Arc<Live>,
    id: ItemId,
    part: Arc<LivePart>,
}

impl Shown {
    fn new(live: &Arc<Live>, id: ItemId, part: Arc<LivePart>) -> Shown {
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

use crate::platform::same_file;

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
        ErrorCode::Io,
        format!("no free name for {}", wanted.display()),
    ))
}

/// Fetches a run of chunks, verifying each before writing it; says how many were written, the
/// bytes they held, and why it stopped if it did not finish.
#[allow(clippy::too_many_arguments)]
async fn get_run(
    conn: &quinn::Connection,
    item: &ItemId,
    run: Run,
    size: u64,
    hashes: &[Hash],
    file: &Arc<std::fs::File>,
    limit: &Limiter,
    shown: &Arc<LivePart>,
) -> RunEnd {
    let Run { from, n } = run;
    let stopped = |e: RunError| RunEnd {
        written: 0,
        bytes: 0,
        result: Err(e),
    };
    let msg = PeerMsg::GetChunks {
        item: item.clone(),
        from,
        count: n,
    };
    let (answer, mut recv) = match request(conn, &msg).await {
        Ok(a) => a,
        Err(f) => return stopped(RunError::Source(f)),
    };
    let expected: u64 = (from..from + n).map(|i| chunk_len(size, i)).sum();
    match answer {
        PeerMsg::Data { len } if len == expected => {}
        _ => {
            let f = Fault::Failed("bad answer to get_chunks".into());
            return stopped(RunError::Source(f));
        }
    }
    // Hash and write on a blocking thread while the next chunk arrives.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u64, Vec<u8>)>(2);
    let (file, hashes, shown) = (
        file.clone(),
        hashes[from as usize..(from + n) as usize].to_vec(),
        shown.clone(),
    );
    let writer = tokio::task::spawn_blocking(move || -> RunEnd {
        let (mut written, mut bytes) = (0u64, 0u64);
        while let Some((i, buf)) = rx.blocking_recv() {
            let stop = |e: RunError| RunEnd {
                written,
                bytes,
                result: Err(e),
            };
            if sha256(&buf) != hashes[(i - from) as usize] {
                return stop(RunError::Source(Fault::BadChunk));
            }
            if let Err(e) = crate::platform::write_all_at(&file, &buf, i * CHUNK_SIZE) {
                return stop(if crate::platform::is_disk_full(&e) {
                    RunError::DiskFull
                } else {
                    RunError::Io(e)
                });
            }
            start_writeback(&file, i * CHUNK_SIZE, buf.len() as u64);
            shown.written(i);
            written += 1;
            bytes += buf.len() as u64;
        }
        RunEnd {
            written,
            bytes,
            result: Ok(()),
        }
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
    let mut end = match writer.await {
        Ok(end) => end,
        Err(e) => return stopped(RunError::Source(Fault::Failed(e.to_string()))),
    };
    if end.result.is_ok() {
        if let Some(e) = read_error {
            end.result = Err(RunError::Source(Fault::Failed(e)));
        } else if end.written < n {
            end.result = Err(RunError::Source(Fault::Failed("run cut short".into())));
        }
    }
    end
}
