//! The node's sharing side: albums, the outbox that delivers them, serving verified chunks
//! to an album's audience, and starting fetches.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::*;
use crate::core::access::Denied;
use crate::store::{LocalItem, PendingFetch};
use crate::transfer::overlay::Patch;
use kith_proto::album::{hex, new_album_id, unhex32, Album, AlbumItem, SignedAlbum, MAX_ITEMS};
use kith_proto::api::{reply, KeptLocation};
use kith_proto::ids::{AlbumId, ItemId};
use kith_proto::peer::{MemberHint, PeerCode};

/// How long a fetch resumed at start-up waits for a source (seconds).
const RESUME_TIMEOUT: u64 = 600;
use crate::transfer::fetch::{self, FetchItem};
use crate::transfer::manifest::{
    self, chunk_len, join_hashes, split_hashes, Hash, CHUNK_SIZE, SEGMENT_CHUNKS,
};

/// Test-only fault injection (builds with the `test-faults` feature): with
/// `KITH_FAULT_CORRUPT_CHUNKS=1` this node serves corrupt chunks, so tests can show that
/// receivers refuse them and strike the sender out.
fn fault_corrupt_chunks() -> bool {
    cfg!(feature = "test-faults") && crate::settings::env().fault_corrupt_chunks
}

/// What the actor answers to a peer's request; the connection task does the I/O.
pub enum PeerReply {
    /// One frame.
    Answer(PeerMsg),
    /// A `data` frame and these bytes.
    Blob(Vec<u8>),
    /// One frame, decided later by a task (an answer that needs another peer's).
    Later(tokio::sync::oneshot::Receiver<PeerMsg>),
    /// A `data` frame and the chunks read from the shared file, each checked against its hash.
    Chunks {
        /// The file.
        item: LocalItem,
        /// First chunk index.
        from: u64,
        /// Hashes of the chunks to send.
        hashes: Vec<Hash>,
        /// The node's upload limit.
        limit: Arc<crate::transfer::rate::Limiter>,
    },
}

/// A share waiting for its files to be hashed.
pub struct ShareJob {
    audience: Vec<PeerId>,
    title: String,
    link: Option<String>,
    /// An album of mine the files are added to (None: a new album).
    add_to: Option<AlbumId>,
}

/// Most items one `album` reply lists (with 1 KiB names, still under the 1 MiB reply limit).
const PAGE_MAX: usize = 500;

/// One hashed file, with what the gallery shows of it.
pub struct Hashed {
    entry: AlbumItem,
    item: LocalItem,
    segments: Vec<Vec<u8>>,
    thumb: Option<Vec<u8>>,
}

/// A refusal that core::access decided.
pub(super) fn denied(d: crate::core::access::Denied) -> PeerReply {
    refuse(d.code(), &d.to_string())
}

pub(super) fn refuse(code: PeerCode, message: &str) -> PeerReply {
    PeerReply::Answer(PeerMsg::Error {
        code,
        message: message.into(),
    })
}

pub(super) fn mtime_ns(md: &std::fs::Metadata) -> u128 {
    md.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Sends an answer on a stream.
pub async fn answer(send: &mut quinn::SendStream, a: PeerReply) -> anyhow::Result<()> {
    match a {
        PeerReply::Answer(m) => write_frame(send, &m.to_bytes()).await?,
        PeerReply::Later(rx) => {
            let m = rx.await.unwrap_or(PeerMsg::Error {
                code: PeerCode::Internal,
                message: "no answer".into(),
            });
            write_frame(send, &m.to_bytes()).await?
        }
        PeerReply::Blob(b) => {
            write_frame(
                send,
                &PeerMsg::Data {
                    len: b.len() as u64,
                }
                .to_bytes(),
            )
            .await?;
            send.write_all(&b).await?;
        }
        PeerReply::Chunks {
            item,
            from,
            hashes,
            limit,
        } => {
            let opened =
                std::fs::File::open(&item.path).and_then(|f| f.metadata().map(|md| (f, md)));
            let why_not = match &opened {
                Err(e) => Some(format!("the shared file is gone ({e})")),
                Ok((_, md)) if md.len() != item.size || mtime_ns(md) != item.mtime_ns => {
                    Some("the file changed since it was shared".to_string())
                }
                Ok(_) => None,
            };
            let file = match (opened, why_not) {
                (Ok((file, _)), None) => file,
                (_, why) => {
                    let message = why.unwrap_or_default();
                    tracing::warn!(path = %item.path.display(), "not serving: {message}");
                    let e = PeerMsg::Error {
                        code: PeerCode::Changed,
                        message,
                    };
                    write_frame(send, &e.to_bytes()).await?;
                    return Ok(());
                }
            };
            let total: u64 = (0..hashes.len() as u64)
                .map(|i| chunk_len(item.size, from + i))
                .sum();
            write_frame(send, &PeerMsg::Data { len: total }.to_bytes()).await?;
            // Read and check chunks on a blocking thread while earlier ones go out.
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, String>>(2);
            let size = item.size;
            let patches = item.patches.clone();
            tokio::task::spawn_blocking(move || {
                for (k, want) in hashes.into_iter().enumerate() {
                    let i = from + k as u64;
                    let mut buf = vec![0u8; chunk_len(size, i) as usize];
                    let read =
                        crate::platform::read_exact_at(&file, &mut buf, i * CHUNK_SIZE).map(|()| {
                            crate::transfer::overlay::apply(&mut buf, i * CHUNK_SIZE, &patches)
                        });
                    let r = match read {
                        Err(e) => Err(e.to_string()),
                        // Changed in place since it was shared: never serve it as the old content.
                        Ok(()) if kith_proto::hash::sha256(&buf) != want => {
                            Err(format!("chunk {i} changed"))
                        }
                        Ok(()) => Ok(buf),
                    };
                    let stop = r.is_err();
                    if tx.blocking_send(r).is_err() || stop {
                        return;
                    }
                }
            });
            while let Some(r) = rx.recv().await {
                let mut buf = match r {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(path = %item.path.display(), "shared file changed or unreadable ({e}); stopping");
                        let _ = send.reset(quinn::VarInt::from_u32(1));
                        return Ok(());
                    }
                };
                if fault_corrupt_chunks() && !buf.is_empty() {
                    buf[0] ^= 0xff; // test-only: play a peer that lies
                }
                limit.take(buf.len() as u64).await;
                send.write_chunk(bytes::Bytes::from(buf)).await?; // hands the buffer over, no copy
            }
        }
    }
    Ok(())
}

/// An album's title: the one given, else the first file's top folder or name, else the
/// link, else "Album"; at most `MAX_TITLE` characters, none of them control characters.
fn album_title(
    given: Option<String>,
    files: &[(PathBuf, String)],
    link: Option<&str>,
) -> Result<String, ApiError> {
    let title = given
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().to_string())
        .or_else(|| Some(files.first()?.1.split('/').next()?.to_string()))
        .or_else(|| Some(link?.chars().take(kith_proto::album::MAX_TITLE).collect()))
        .unwrap_or_else(|| "Album".into());
    if title.chars().count() > kith_proto::album::MAX_TITLE || title.chars().any(char::is_control) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "a title has at most 200 characters, none of them control characters",
        ));
    }
    Ok(title)
}

/// Lists the files of the paths given to `share`, with their names inside the album.
fn expand(paths: &[String]) -> Result<Vec<(PathBuf, String)>, ApiError> {
    let mut out = Vec::new();
    for p in paths {
        let path = PathBuf::from(p);
        let md = std::fs::metadata(&path)
            .map_err(|e| ApiError::new(ErrorCode::Io, format!("{p}: {e}")))?;
        let base = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        if md.is_dir() {
            walk(&path, &base, &mut out)?;
        } else if md.is_file() {
            out.push((
                path.canonicalize()
                    .map_err(|e| ApiError::new(ErrorCode::Io, format!("{p}: {e}")))?,
                base,
            ));
        } else {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("{p} is not a file or folder"),
            ));
        }
        if out.len() > MAX_ITEMS {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("an album holds at most {MAX_ITEMS} files"),
            ));
        }
    }
    if out.is_empty() {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "nothing to share: no files found",
        ));
    }
    Ok(out)
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<(PathBuf, String)>) -> Result<(), ApiError> {
    let io = |e: std::io::Error| ApiError::new(ErrorCode::Io, format!("{}: {e}", dir.display()));
    let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(io)?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let ft = e.file_type().map_err(io)?;
        let name = format!("{prefix}/{}", e.file_name().to_string_lossy());
        if ft.is_dir() {
            walk(&e.path(), &name, out)?;
        } else if ft.is_file() {
            out.push((e.path().canonicalize().map_err(io)?, name));
        }
        if out.len() > MAX_ITEMS {
            return Ok(());
        }
    }
    Ok(())
}

/// The file to share in place of `original` and the patches laid over it, without its
/// location: a photo's copy in the home's `stripped/` folder (named by the original's path, so
/// sharing it again reuses the copy's name), or the original with patches (a video). `Ok(Err)`
/// gives why its location cannot be removed.
#[allow(clippy::type_complexity)]
fn without_location(
    dir: &Path,
    original: &Path,
    name: &str,
) -> Result<Result<(PathBuf, Vec<Patch>), String>, ApiError> {
    use crate::media::strip::{remove_location, Removal, StripError};
    let tag = hex(&kith_proto::hash::sha256(
        original.as_os_str().as_encoded_bytes(),
    ));
    let file = name.rsplit('/').next().unwrap_or(name);
    let to = dir.join(format!("{}-{file}", &tag[..16]));
    let fail = |e: String| {
        ApiError::new(
            ErrorCode::Io,
            format!(
                "cannot make a copy of {} without its location: {e}",
                original.display()
            ),
        )
    };
    crate::home::create_private_dir(dir).map_err(|e| fail(e.to_string()))?;
    match remove_location(original, name, &to) {
        Ok(Removal::Clean) => Ok(Ok((original.to_path_buf(), Vec::new()))),
        Ok(Removal::Copied) => Ok(Ok((to, Vec::new()))),
        Ok(Removal::Overlay(p)) => Ok(Ok((original.to_path_buf(), p))),
        Err(StripError::Io(e)) => Err(fail(e)),
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// The `location_kept` error naming each file.
fn location_kept(kept: Vec<KeptLocation>) -> ApiError {
    let list: Vec<String> = kept
        .iter()
        .map(|k| format!("{} ({})", k.path, k.reason))
        .collect();
    let mut e = ApiError::new(
        ErrorCode::LocationKept,
        format!(
            "Kith cannot remove the location from {} file(s): {}. Share them with their location \
             (--keep-location) or leave them out",
            kept.len(),
            list.join("; ")
        ),
    );
    e.location_kept = kept;
    e
}

/// The gallery's view of a file: its kind, and for a photo its size, date and thumbnail (a
/// photo that cannot be decoded gets none, and the gallery shows a placeholder).
fn describe(path: &Path, name: &str, size: u64, id: &ItemId) -> (AlbumItem, Option<Vec<u8>>) {
    let kind = crate::media::kind_of(name);
    let mut entry = AlbumItem {
        id: id.clone(),
        name: name.to_string(),
        size,
        kind: Some(kind.as_str().to_string()),
        ..Default::default()
    };
    if kind != crate::media::Kind::Image {
        return (entry, None);
    }
    match crate::media::thumb::describe(path) {
        Ok(m) => {
            entry.w = Some(m.width);
            entry.h = Some(m.height);
            entry.taken = m.taken;
            entry.thumb = Some(hex(&kith_proto::hash::sha256(&m.thumb)));
            (entry, Some(m.thumb))
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), "no thumbnail: {e}");
            (entry, None)
        }
    }
}

/// Hashes files (blocking), reporting progress through `progress`; photos are first copied
/// without their location into `strip_to` unless it is None.
fn hash_all(
    files: Vec<(PathBuf, String)>,
    strip_to: Option<PathBuf>,
    mut progress: impl FnMut(u64, u64),
) -> Result<Vec<Hashed>, ApiError> {
    let total: u64 = files
        .iter()
        .map(|(p, _)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let mut done = 0u64;
    let mut out = Vec::new();
    // Every location is removed (or found to stay) before anything is hashed.
    let mut ready = Vec::with_capacity(files.len());
    let mut kept = Vec::new();
    for (path, name) in files {
        let Some(dir) = &strip_to else {
            ready.push((path, name, Vec::new()));
            continue;
        };
        match without_location(dir, &path, &name)? {
            Ok((p, patches)) => ready.push((p, name, patches)),
            Err(reason) => kept.push(KeptLocation {
                path: path.display().to_string(),
                name,
                reason,
            }),
        }
    }
    if !kept.is_empty() {
        return Err(location_kept(kept));
    }
    for (path, name, patches) in ready {
        let io =
            |e: std::io::Error| ApiError::new(ErrorCode::Io, format!("{}: {e}", path.display()));
        let before = std::fs::metadata(&path).map_err(io)?;
        let (size, hashes) =
            manifest::hash_patched(&path, &patches, |d| progress(done + d, total)).map_err(io)?;
        let after = std::fs::metadata(&path).map_err(io)?;
        if size != after.len() || mtime_ns(&before) != mtime_ns(&after) {
            return Err(ApiError::new(
                ErrorCode::Changed,
                format!(
                    "{} changed while it was hashed; share it again",
                    path.display()
                ),
            ));
        }
        done += size;
        let m = manifest::build(size, &hashes);
        let segments = hashes
            .chunks(SEGMENT_CHUNKS as usize)
            .map(join_hashes)
            .collect();
        let id = ItemId::from(hex(&m.id()));
        let (entry, thumb) = describe(&path, &name, size, &id);
        let item = LocalItem {
            id,
            path,
            size,
            mtime_ns: mtime_ns(&after),
            manifest: B64.encode(m.encode()),
            owners: vec![],
            patches,
        };
        out.push(Hashed {
            entry,
            item,
            segments,
            thumb,
        });
    }
    Ok(out)
}

/// The user's download folder for Kith.
pub fn default_download_dir() -> PathBuf {
    let base = directories::UserDirs::new()
        .and_then(|u| u.download_dir().map(Path::to_path_buf))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join("Downloads")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("Kith")
}

impl Node {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn share(
        &mut self,
        paths: Vec<String>,
        to: Vec<String>,
        title: Option<String>,
        link: Option<String>,
        keep_location: bool,
        add_to: Option<AlbumId>,
        reply: Reply,
    ) {
        let strip_to = (!keep_location).then(|| self.home.dir.join("stripped"));
        // On the actor: what needs the store. The folder walk, the default title and the
        // hashing touch the disk, so they run on a blocking thread.
        let prepared = (|| {
            if let Some(id) = &add_to {
                let a = self.my_album(id)?.album;
                if paths.is_empty() {
                    return Err(ApiError::new(ErrorCode::BadRequest, "no files to add"));
                }
                let job = ShareJob {
                    audience: a.audience,
                    title: a.title,
                    link: a.link,
                    add_to: Some(a.id),
                };
                return Ok((job, title));
            }
            if let Some(l) = &link {
                if !kith_proto::album::link_ok(l) {
                    return Err(ApiError::new(
                        ErrorCode::BadRequest,
                        "a link must be an http:// or https:// address of at most 2048 bytes",
                    ));
                }
            }
            let audience = if to.is_empty() {
                self.store
                    .friends()
                    .map_err(ApiError::internal)?
                    .into_iter()
                    .map(|f| f.id)
                    .collect()
            } else {
                to.iter()
                    .map(|k| self.resolve_friend(k).map(|f| f.id))
                    .collect::<Result<Vec<_>, _>>()?
            };
            let job = ShareJob {
                audience,
                title: String::new(), // chosen once the files are known
                link,
                add_to: None,
            };
            Ok((job, title))
        })();
        let (mut share, title) = match prepared {
            Ok(p) => p,
            Err(e) => {
                reply.send(Err(e));
                return;
            }
        };
        let tx = self.tx.clone();
        let events = self.events.clone();
        tokio::spawn(async move {
            let result = tokio::task::spawn_blocking(move || {
                let files = if paths.is_empty() && share.link.is_some() {
                    Vec::new() // a link alone (adding files takes some: checked above)
                } else {
                    expand(&paths)?
                };
                if share.add_to.is_none() {
                    share.title = album_title(title, &files, share.link.as_deref())?;
                }
                let mut last = std::time::Instant::now();
                let hashed = hash_all(files, strip_to, |bytes, total| {
                    if last.elapsed() > Duration::from_millis(200) || bytes == total {
                        last = std::time::Instant::now();
                        let _ = events.send(Event::ShareProgress { bytes, total });
                    }
                })?;
                Ok((share, hashed))
            })
            .await
            .unwrap_or_else(|e| Err(ApiError::internal(e)));
            let _ = tx.send(Msg::Hashed { result, reply }).await;
        });
    }

    pub(super) fn hashed(
        &mut self,
        share: ShareJob,
        files: Vec<Hashed>,
    ) -> Result<reply::Shared, ApiError> {
        let album = match &share.add_to {
            Some(id) => {
                let mut a = self.my_album(id)?.album;
                for h in &files {
                    if !a.items.iter().any(|i| i.id == h.entry.id) {
                        a.items.push(h.entry.clone());
                    }
                }
                a.version += 1;
                a
            }
            None => Album {
                id: new_album_id(&self.me),
                owner: self.me,
                version: 1,
                title: share.title,
                created: now(),
                items: files.iter().map(|h| h.entry.clone()).collect(),
                audience: share.audience,
                deleted: false,
                link: share.link,
            },
        };
        album
            .validate()
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
        let records: Vec<_> = files
            .iter()
            .map(|h| {
                let mut item = h.item.clone();
                item.owners = vec![self.me];
                (item, h.segments.clone())
            })
            .collect();
        self.store.put_items(&records).map_err(ApiError::internal)?;
        for h in &files {
            if let (Some(t), Some(hash)) = (&h.thumb, &h.entry.thumb) {
                self.store.put_thumb(hash, t).map_err(ApiError::internal)?;
                self.store
                    .mark_thumb_owner(&self.me, hash)
                    .map_err(ApiError::internal)?;
            }
        }
        let signed = album.sign(&self.identity);
        self.publish(&signed)?;
        tracing::info!(album = %signed.album.id, items = files.len(), "shared");
        Ok(reply::Shared {
            id: signed.album.id.clone(),
            items: signed.album.items.len(),
            bytes: signed.album.total_size(),
            audience: signed.album.audience.clone(),
        })
    }

    /// Removes a peer from the audience of every album of mine (new signed versions).
    pub(super) fn drop_from_my_albums(&mut self, peer: &PeerId) -> Result<(), ApiError> {
        let mine = self.store.albums().map_err(ApiError::internal)?;
        for mut s in mine {
            if s.album.owner != self.me || s.album.deleted || !s.album.audience.contains(peer) {
                continue;
            }
            s.album.audience.retain(|p| p != peer);
            s.album.version += 1;
            let signed = s.album.sign(&self.identity);
            self.publish(&signed)?;
        }
        self.refresh_access();
        Ok(())
    }

    /// Forgets the albums a former friend shared with me.
    pub(super) fn forget_albums_of(&mut self, peer: &PeerId) -> Result<(), ApiError> {
        for s in self.store.albums().map_err(ApiError::internal)? {
            if s.album.owner == *peer {
                for p in self.store.fetches().map_err(ApiError::internal)? {
                    let of_album =
                        p.target == s.album.id || s.album.items.iter().any(|i| i.id == p.target);
                    if of_album {
                        let key = fetch_key(&p.target, &p.out);
                        self.stop_fetch(&key, &p.target, "the album's owner is no longer a friend");
                        self.store.remove_fetch(&key).map_err(ApiError::internal)?;
                    }
                }
                self.store
                    .remove_album(&s.album.id)
                    .map_err(ApiError::internal)?;
                self.forget_thread(&s.album.id);
                let _ = self.events.send(Event::AlbumRemoved { id: s.album.id });
            }
        }
        self.refresh_access();
        Ok(())
    }

    /// Stores an album of mine and queues it for everyone who should get this version.
    pub(super) fn publish(&mut self, signed: &SignedAlbum) -> Result<(), ApiError> {
        let encoded = serde_json::to_vec(signed)
            .map_err(ApiError::internal)?
            .len();
        if encoded > kith_proto::album::MAX_ALBUM_BYTES {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("this album's description is {encoded} bytes, over the limit; share fewer files per album"),
            ));
        }
        let previous = self
            .store
            .album(&signed.album.id)
            .map_err(ApiError::internal)?;
        self.store
            .bind_album_owner(&signed.album.id, &self.me)
            .and_then(|()| self.store.put_album(signed))
            .map_err(ApiError::internal)?;
        self.refresh_access();
        let mut to: Vec<PeerId> = signed.album.audience.clone();
        if let Some(p) = previous {
            to.extend(
                p.album
                    .audience
                    .iter()
                    .filter(|x| !to.contains(x))
                    .copied()
                    .collect::<Vec<_>>(),
            );
        }
        for peer in to {
            if !self.is_friend(&peer) {
                continue; // only friends can be reached with albums
            }
            self.store
                .outbox_add(&peer, &signed.album.id)
                .map_err(ApiError::internal)?;
            if self.is_online(&peer) {
                self.deliver(peer);
            }
        }
        Ok(())
    }

    pub(super) fn album_view(&self, a: &Album) -> reply::AlbumView {
        let (unread, new) = self.album_news(a);
        let owner_name = if a.owner == self.me {
            self.config.name.clone()
        } else {
            self.store
                .friend(&a.owner)
                .ok()
                .flatten()
                .map(|f| f.name)
                .unwrap_or_default()
        };
        reply::AlbumView {
            id: a.id.clone(),
            title: a.title.clone(),
            owner: a.owner,
            owner_name,
            mine: a.owner == self.me,
            created: a.created,
            version: a.version,
            item_count: a.items.len(),
            bytes: a.total_size(),
            audience: a.audience.clone(),
            link: a.link.clone(),
            cover: a.items.iter().find_map(|i| i.thumb.clone()),
            unread,
            new,
        }
    }

    /// One album (mine or shared with me) with a page of its items, each marked when a copy is here.
    pub(super) fn album_page(
        &self,
        id: &str,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<reply::AlbumPage, ApiError> {
        let s = self
            .store
            .album(&AlbumId::from(norm_id(id)))
            .map_err(ApiError::internal)?
            .filter(|s| !s.album.deleted)
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no album {id}")))?;
        let limit = limit.unwrap_or(PAGE_MAX).min(PAGE_MAX);
        let items: Vec<reply::ItemView> = s
            .album
            .items
            .iter()
            .skip(offset)
            .take(limit)
            .map(|i| {
                let local = self.store.item(&i.id).ok().flatten();
                let kind = i
                    .kind
                    .clone()
                    .unwrap_or_else(|| crate::media::kind_of(&i.name).as_str().to_string());
                reply::ItemView {
                    id: i.id.clone(),
                    name: i.name.clone(),
                    size: i.size,
                    path: local.map(|l| l.path),
                    kind,
                    w: i.w,
                    h: i.h,
                    taken: i.taken,
                    duration_ms: i.duration_ms,
                    thumb: i.thumb.clone(),
                }
            })
            .collect();
        Ok(reply::AlbumPage {
            album: self.album_view(&s.album),
            offset,
            items,
        })
    }

    pub(super) fn albums(&self) -> Result<Vec<reply::AlbumView>, ApiError> {
        let mut list: Vec<_> = self
            .store
            .albums()
            .map_err(ApiError::internal)?
            .into_iter()
            .filter(|s| !s.album.deleted)
            .collect();
        list.sort_by_key(|a| std::cmp::Reverse(a.album.created));
        Ok(list.iter().map(|s| self.album_view(&s.album)).collect())
    }

    /// One of my albums (not unshared), or a clear error.
    fn my_album(&self, id: &str) -> Result<SignedAlbum, ApiError> {
        let s = self
            .store
            .album(&AlbumId::from(norm_id(id)))
            .map_err(ApiError::internal)?
            .filter(|s| !s.album.deleted)
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no album {id}")))?;
        if s.album.owner != self.me {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "only an album's owner can change it",
            ));
        }
        Ok(s)
    }

    pub(super) fn unshare(&mut self, id: &str) -> Result<reply::Unshared, ApiError> {
        let mut s = self.my_album(id)?;
        s.album.deleted = true;
        s.album.version += 1;
        let signed = s.album.sign(&self.identity);
        self.publish(&signed)?;
        self.forget_thread(&signed.album.id);
        Ok(reply::Unshared {
            id: signed.album.id.clone(),
        })
    }

    /// Adds or removes audience members of an album of mine, or retitles it.
    pub(super) fn album_update(
        &mut self,
        id: &str,
        add: &[String],
        remove: &[String],
        title: Option<String>,
    ) -> Result<reply::AlbumView, ApiError> {
        let mut s = self.my_album(id)?;
        for k in add {
            let f = self.resolve_friend(k)?;
            if !s.album.audience.contains(&f.id) {
                s.album.audience.push(f.id);
            }
        }
        for k in remove {
            let who = match k.trim().parse::<PeerId>() {
                Ok(p) => p,
                Err(_) => self.resolve_friend(k)?.id,
            };
            if !s.album.audience.contains(&who) {
                return Err(ApiError::new(
                    ErrorCode::NotFound,
                    format!("{k} is not in this album's audience"),
                ));
            }
            s.album.audience.retain(|p| *p != who);
        }
        if let Some(t) = title {
            s.album.title = t;
        }
        s.album.version += 1;
        s.album
            .validate()
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
        let signed = s.album.sign(&self.identity);
        self.publish(&signed)?;
        Ok(self.album_view(&signed.album))
    }

    /// Uses settings that `node/config.rs` wrote, and shows them.
    pub(super) fn use_config(&mut self, config: Config) -> reply::Settings {
        self.up.set_rate(config.upload_rate);
        self.down.set_rate(config.download_rate);
        self.relay_limit.set_rate(config.relay_rate);
        self.config = config;
        reply::Settings {
            upload_rate: self.config.upload_rate,
            download_rate: self.config.download_rate,
            download_dir: self.download_dir(),
            help_friends: self.config.help_friends,
            relay_rate: self.config.relay_rate,
            quota_albums: self.config.quota_albums,
            quota_member_albums: self.config.quota_member_albums,
            quota_thumb_bytes: self.config.quota_thumb_bytes,
        }
    }

    pub(super) fn deliver(&mut self, peer: PeerId) {
        let Some(link) = self.links.get(&peer) else {
            return;
        };
        let ids = match self.store.outbox_for(&peer) {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!("outbox: {e}");
                return;
            }
        };
        for id in ids {
            let Ok(Some(album)) = self.store.album(&id) else {
                let _ = self.store.outbox_remove(&peer, &id);
                continue;
            };
            let members = self.member_hints(&album.album, &peer);
            let (conn, tx) = (link.conn.clone(), self.tx.clone());
            tokio::spawn(async move {
                let version = album.album.version;
                let sent = async {
                    let push = PeerMsg::AlbumPush { album, members };
                    let (answer, _) = crate::wire::ask(&conn, &push).await.ok()?;
                    matches!(answer, PeerMsg::Ok).then_some(())
                };
                if tokio::time::timeout(Duration::from_secs(30), sent)
                    .await
                    .ok()
                    .flatten()
                    .is_some()
                {
                    let _ = tx
                        .send(Msg::Delivered {
                            peer,
                            album: id,
                            version,
                        })
                        .await;
                }
            });
        }
    }

    pub(super) fn delivered(&mut self, peer: PeerId, album: &AlbumId, version: u64) {
        let current = self
            .store
            .album(album)
            .ok()
            .flatten()
            .map(|a| a.album.version);
        if current.is_none_or(|v| v <= version) {
            let _ = self.store.outbox_remove(&peer, album);
        }
    }

    pub(super) fn sources(&mut self, album: &AlbumId) -> Vec<quinn::Connection> {
        let Some(everyone) = self.access.sources(album).cloned() else {
            return vec![];
        };
        // Reach the members that are not connected yet (friends are dialled anyway).
        let t = Instant::now();
        for &p in &everyone {
            if self.is_online(&p) || self.is_friend(&p) {
                continue;
            }
            if !self.dials.may_dial(&p, t) {
                continue;
            }
            // Member hints come from other members: a few of them only.
            let addrs = crate::core::reach::hint_dials(&self.addrs_of(&p));
            tracing::debug!(peer = %p.short(), ?addrs, "dialling an album member");
            if let Ok(c) = self.client_config(p, None) {
                self.spawn_dial(p, addrs, c, None);
            }
        }
        self.links
            .iter()
            .filter(|(p, l)| everyone.contains(p) && l.conn.close_reason().is_none())
            .map(|(_, l)| l.conn.clone())
            .collect()
    }

    /// The local file for `item` when `peer` may get it (`core::access`, from the owners of
    /// this copy, `LocalItem::owners`).
    fn servable(&self, peer: &PeerId, item: &ItemId) -> Option<LocalItem> {
        let local = self.store.item(item).ok().flatten();
        let owners = local.as_ref().map(|l| l.owners.as_slice());
        self.access.may_get_item(peer, item, owners).ok()?;
        local
    }

    pub(super) fn peer_request(&mut self, peer: PeerId, msg: PeerMsg) -> PeerReply {
        match msg {
            PeerMsg::AlbumPush { album, members } => self.album_pushed(peer, album, members),
            PeerMsg::GetThumb { album, thumb } => self.serve_thumb(peer, &album, &thumb),
            PeerMsg::Introduce { peer: to } => self.introduce(peer, to),
            PeerMsg::IntroduceFrom { peer: from, addrs } => self.introduced_to(peer, from, addrs),
            PeerMsg::RelayAsk { peer: to } => self.relay_for(peer, to),
            PeerMsg::RelayFrom { peer: from, port } => self.relayed_to(peer, from, port),
            PeerMsg::Reach { reach } => self.reach_changed(peer, reach),
            m @ (PeerMsg::CommentPost { .. }
            | PeerMsg::GetComments { .. }
            | PeerMsg::Comments { .. }) => self.comment_request(peer, m),
            PeerMsg::GetManifest { item } => match self.servable(&peer, &item) {
                Some(local) => match B64.decode(&local.manifest) {
                    Ok(b) => {
                        self.new_fetcher(peer, &item);
                        PeerReply::Blob(b)
                    }
                    Err(_) => refuse(PeerCode::Internal, "damaged record"),
                },
                None => self.not_shared(peer, &item),
            },
            PeerMsg::GetSegment { item, seg } => match self.servable(&peer, &item) {
                Some(_) => match self.store.segment(&item, seg) {
                    Ok(Some(b)) => PeerReply::Blob(b),
                    _ => refuse(PeerCode::OutOfRange, "no such segment"),
                },
                None => self.not_shared(peer, &item),
            },
            PeerMsg::GetChunks { item, from, count } => {
                let Some(local) = self.servable(&peer, &item) else {
                    return self.not_shared(peer, &item);
                };
                let chunks = manifest::chunk_count(local.size);
                if from >= chunks || count > chunks - from {
                    tracing::info!(peer = %peer.short(), "chunk request out of range");
                    return refuse(PeerCode::OutOfRange, "chunks out of range");
                }
                let mut hashes = Vec::with_capacity(count as usize);
                for i in from..from + count {
                    let seg = i / SEGMENT_CHUNKS;
                    let Ok(Some(b)) = self.store.segment(&item, seg) else {
                        return refuse(PeerCode::Internal, "missing segment");
                    };
                    match split_hashes(&b).get((i % SEGMENT_CHUNKS) as usize) {
                        Some(h) => hashes.push(*h),
                        None => return refuse(PeerCode::Internal, "damaged segment"),
                    }
                }
                PeerReply::Chunks {
                    item: local,
                    from,
                    hashes,
                    limit: self.up.clone(),
                }
            }
            _ => refuse(PeerCode::Unexpected, "not expected here"),
        }
    }

    fn not_shared(&self, peer: PeerId, item: &ItemId) -> PeerReply {
        tracing::info!(peer = %peer.short(), item = item.as_str(), "refused a request for content not shared with this peer");
        let d = Denied::NotShared;
        denied(d)
    }

    /// `peer` fetches `item`: for each album of mine that it starts fetching, the members
    /// connected now get the album again with the fetchers' addresses, so members who fetch
    /// can serve each other (and nobody learns of a member who never fetched).
    fn new_fetcher(&mut self, peer: PeerId, item: &ItemId) {
        for album in self.access.fetching(&peer, item) {
            let Some(signed) = self.store.album(&album).ok().flatten() else {
                continue;
            };
            if signed.album.owner != self.me {
                continue;
            }
            for m in signed.album.audience {
                if !self.is_online(&m) {
                    continue;
                }
                if let Err(e) = self.store.outbox_add(&m, &album) {
                    tracing::error!("outbox: {e}");
                    continue;
                }
                self.deliver(m);
            }
        }
    }

    /// Where the fellow members of an album who fetch it can be reached (`core::access`
    /// `hinted_members`), as far as this node knows.
    fn member_hints(&self, a: &Album, to: &PeerId) -> Vec<MemberHint> {
        self.access
            .hinted_members(&a.id, to)
            .into_iter()
            .filter_map(|m| {
                let addrs = self.addrs_of(&m);
                (!addrs.is_empty()).then_some(MemberHint { id: m, addrs })
            })
            .collect()
    }

    /// Known addresses of a friend or album member.
    fn addrs_of(&self, peer: &PeerId) -> Vec<SocketAddr> {
        match self.store.friend(peer) {
            Ok(Some(f)) => f.addrs,
            _ => self.store.hint(peer).unwrap_or_default(),
        }
    }

    /// Keeps the addresses an album's owner gave for fellow members that are not my friends.
    fn remember_members(&self, a: &Album, members: &[MemberHint]) {
        for m in members
            .iter()
            .filter(|m| m.id != self.me && a.audience.contains(&m.id))
        {
            if !self.is_friend(&m.id) {
                self.remember_member(m.id, crate::core::reach::hint_dials(&m.addrs));
            }
        }
    }

    pub(super) fn remember_member(&self, peer: PeerId, addrs: Vec<SocketAddr>) {
        if let Err(e) = self.store.put_hint(&peer, &addrs) {
            tracing::error!("storing a member's address: {e}");
        }
    }

    /// Gives `core::access` the albums held here, recomputes which non-friend keys are
    /// admitted (members of those albums) and drops connections of keys that are neither
    /// friends nor members any more.
    pub(super) fn refresh_access(&mut self) {
        let albums = self.store.albums().unwrap_or_default();
        self.access.set_albums(albums.iter().map(|s| &s.album));
        if let Ok(mut a) = self.admission.write() {
            a.members = self.access.members();
        }
        let gone: Vec<PeerId> = self
            .links
            .keys()
            .filter(|p| !self.access.may_stay(p))
            .copied()
            .collect();
        for p in gone {
            if let Some(l) = self.links.remove(&p) {
                l.conn
                    .close(close::UNFRIENDED.into(), b"no longer a member");
            }
        }
    }

    fn album_pushed(
        &mut self,
        peer: PeerId,
        signed: SignedAlbum,
        members: Vec<MemberHint>,
    ) -> PeerReply {
        let a = &signed.album;
        // An album ID belongs to the first owner seen under it, for good (new IDs also carry
        // their owner's tag, checked when the album was decoded).
        let bound = match self.store.album_owner(&a.id) {
            Ok(b) => b,
            Err(e) => return refuse(PeerCode::Internal, &e.to_string()),
        };
        if let Err(d) = self.access.may_push_album(&peer, &a.owner, bound.as_ref()) {
            tracing::info!(peer = %peer.short(), album = %a.id, "refused a pushed album: {d}");
            return denied(d);
        }
        let current = self.store.album(&a.id).ok().flatten();
        if current
            .as_ref()
            .is_some_and(|c| c.album.version >= a.version)
        {
            if current.is_some_and(|c| c.album.version == a.version) {
                self.remember_members(a, &members); // the owner tells of new fetchers
            }
            return PeerReply::Answer(PeerMsg::Ok);
        }
        if a.admits(&self.me) {
            if current.is_none() {
                if let Err(d) = self
                    .access
                    .may_hold_new_album(&a.owner, &self.config.quota())
                {
                    tracing::info!(peer = %peer.short(), album = %a.id, "refused a pushed album: {d}");
                    return denied(d);
                }
            }
            let stored = self
                .store
                .bind_album_owner(&a.id, &a.owner)
                .and_then(|()| self.store.put_album(&signed));
            if let Err(e) = stored {
                return refuse(PeerCode::Internal, &e.to_string());
            }
            self.remember_members(a, &members);
            self.refresh_access();
            tracing::info!(album = %a.id, from = %peer.short(), "album received");
            let _ = self.events.send(Event::AlbumReceived {
                album: self.album_view(a),
            });
            let from = self.links.get(&peer).map(|l| vec![l.conn.clone()]);
            self.pull_thumbs(&a.id, from);
            self.pull_comments(peer, &a.id);
        } else if current.is_some() {
            let _ = self.store.remove_album(&a.id);
            self.forget_thread(&a.id);
            self.refresh_access();
            tracing::info!(album = %a.id, "album withdrawn");
            let _ = self.events.send(Event::AlbumRemoved { id: a.id.clone() });
        }
        PeerReply::Answer(PeerMsg::Ok)
    }

    /// The album holding a target and the items to fetch for it.
    fn fetch_items(&self, id: &str) -> Result<(AlbumId, Vec<FetchItem>), ApiError> {
        let albums = self.store.albums().map_err(ApiError::internal)?;
        for s in albums.iter().filter(|s| !s.album.deleted) {
            let items: Vec<&AlbumItem> = if s.album.id == id {
                s.album.items.iter().collect()
            } else {
                s.album
                    .items
                    .iter()
                    .filter(|i| i.id == id)
                    .take(1)
                    .collect()
            };
            if items.is_empty() {
                continue;
            }
            if s.album.owner == self.me {
                return Err(ApiError::new(
                    ErrorCode::BadRequest,
                    "this album is yours: its files are already here",
                ));
            }
            let list = items
                .iter()
                .filter_map(|i| {
                    Some(FetchItem {
                        id: unhex32(&i.id)?,
                        name: i.name.clone(),
                        size: i.size,
                    })
                })
                .collect();
            return Ok((s.album.id.clone(), list));
        }
        Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no album or item {id} is shared with you"),
        ))
    }

    /// A fetch target's album title, with the file's name when it is one item.
    fn target_title(&self, target: &str) -> String {
        let albums = self.store.albums().unwrap_or_default();
        for s in &albums {
            if s.album.id == target {
                return s.album.title.clone();
            }
            if let Some(i) = s.album.items.iter().find(|i| i.id == target) {
                return format!("{} — {}", s.album.title, i.name);
            }
        }
        target.to_string()
    }

    /// The download folder when a request names none.
    pub(super) fn download_dir(&self) -> PathBuf {
        self.config
            .download_dir
            .clone()
            .unwrap_or_else(default_download_dir)
    }

    pub(super) fn fetch(
        &mut self,
        id: &str,
        out: Option<String>,
        timeout: Option<u64>,
        reply: Option<Reply>,
    ) {
        // `secs` counts from the request to the last file fsynced and in place.
        let start = std::time::Instant::now();
        let id = norm_id(id);
        let found = self.fetch_items(&id);
        let out = out
            .map(PathBuf::from)
            .unwrap_or_else(|| self.download_dir());
        let key = fetch_key(&id, &out);
        let (album, items) = match found {
            Ok(f) => f,
            Err(e) => {
                // Nothing to resume any more (unshared, or no longer shared with me).
                let _ = self.store.remove_fetch(&key);
                if let Some(r) = reply {
                    r.send(Err(e));
                }
                return;
            }
        };
        if let Some(running) = self.fetching.get_mut(&key) {
            // Already under way (a resumed fetch, or a second request): share its result.
            running.waiters.extend(reply);
            return;
        }
        let timeout_secs = timeout.unwrap_or(30);
        let pending = PendingFetch {
            target: id.clone(),
            out: out.clone(),
            timeout_secs,
            paused: false,
        };
        if let Err(e) = self.store.put_fetch(&key, &pending) {
            if let Some(r) = reply {
                r.send(Err(ApiError::internal(e)));
            }
            return;
        }
        let tx = self.tx.clone();
        let album_id = album.clone();
        let sources: fetch::Sources = Arc::new(move || {
            let (rtx, rrx) = oneshot::channel();
            let (tx, album) = (tx.clone(), album.clone());
            tokio::spawn(async move {
                let _ = tx.send(Msg::Sources { album, reply: rtx }).await;
            });
            rrx
        });
        let total = items.iter().map(|i| i.size).sum();
        let seen = Arc::new(std::sync::Mutex::new((0u64, total)));
        let (events, fid) = (self.events.clone(), id.clone());
        let last = Arc::new(std::sync::Mutex::new(std::time::Instant::now()));
        let shown = seen.clone();
        let progress: fetch::Progress = Arc::new(move |bytes, total| {
            if let Ok(mut s) = shown.lock() {
                *s = (bytes, total);
            }
            let mut l = last.lock().unwrap_or_else(|p| p.into_inner());
            if l.elapsed() > Duration::from_millis(200) || bytes == total {
                *l = std::time::Instant::now();
                let _ = events.send(Event::FetchProgress {
                    id: fid.clone(),
                    bytes,
                    total,
                });
            }
        });
        let job = fetch::Job {
            out,
            deadline: std::time::Instant::now() + Duration::from_secs(timeout_secs),
            sources,
            progress,
            limit: self.down.clone(),
            live: self.live.clone(),
        };
        let (tx, target, task_key) = (self.tx.clone(), id.clone(), key.clone());
        let task = tokio::spawn(async move {
            let result = fetch::run(items, job).await;
            let secs = start.elapsed().as_secs_f64();
            let _ = tx
                .send(Msg::FetchDone {
                    key: task_key,
                    target,
                    result,
                    secs,
                })
                .await;
        });
        self.fetching.insert(
            key,
            Running {
                target: id.clone(),
                album: album_id,
                waiters: reply.into_iter().collect(),
                abort: task.abort_handle(),
                progress: seen,
                started: start,
            },
        );
    }

    /// The pending fetch of a target (any folder), or a clear error.
    fn pending_fetch(&self, target: &str) -> Result<(String, PendingFetch), ApiError> {
        let target = norm_id(target);
        self.store
            .fetches()
            .map_err(ApiError::internal)?
            .into_iter()
            .find(|p| p.target == target)
            .map(|p| (fetch_key(&p.target, &p.out), p))
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no transfer of {target}")))
    }

    /// Stops a running fetch task and tells its waiters why.
    fn stop_fetch(&mut self, key: &str, target: &str, why: &str) {
        if let Some(r) = self.fetching.remove(key) {
            r.abort.abort();
            let e = ApiError::new(ErrorCode::Cancelled, why);
            for w in r.waiters {
                w.send(Err(e.clone()));
            }
            let _ = self.events.send(Event::FetchFailed {
                id: target.to_string(),
                error: e,
            });
        }
    }

    /// Pauses a fetch: its verified part stays, and it waits for `transfer_resume`.
    pub(super) fn transfer_pause(
        &mut self,
        target: &str,
    ) -> Result<reply::TransferState, ApiError> {
        let (key, mut p) = self.pending_fetch(target)?;
        p.paused = true;
        self.store.put_fetch(&key, &p).map_err(ApiError::internal)?;
        self.stop_fetch(&key, &p.target, "the transfer was paused");
        tracing::info!(target = %p.target, "fetch paused");
        Ok(reply::TransferState {
            target: p.target,
            paused: Some(true),
            cancelled: None,
        })
    }

    /// Resumes a paused (or stalled) fetch in the background.
    pub(super) fn transfer_resume(
        &mut self,
        target: &str,
    ) -> Result<reply::TransferState, ApiError> {
        let (key, p) = self.pending_fetch(target)?;
        if let Err(e) = self.fetch_items(&p.target) {
            let _ = self.store.remove_fetch(&key);
            return Err(e);
        }
        let out = p.out.to_string_lossy().into_owned();
        self.fetch(&p.target, Some(out), Some(RESUME_TIMEOUT), None);
        Ok(reply::TransferState {
            target: p.target,
            paused: Some(false),
            cancelled: None,
        })
    }

    /// Cancels a fetch and deletes its partial files (complete files stay).
    pub(super) fn transfer_cancel(
        &mut self,
        target: &str,
    ) -> Result<reply::TransferState, ApiError> {
        let (key, p) = self.pending_fetch(target)?;
        self.stop_fetch(&key, &p.target, "the transfer was cancelled");
        self.store.remove_fetch(&key).map_err(ApiError::internal)?;
        if let Ok((_, items)) = self.fetch_items(&p.target) {
            fetch::remove_parts(&p.out, &items);
        }
        tracing::info!(target = %p.target, "fetch cancelled");
        Ok(reply::TransferState {
            target: p.target,
            paused: None,
            cancelled: Some(true),
        })
    }

    /// Opens a file this node holds with the desktop's default program (`KITH_OPENER` overrides).
    pub(super) fn open(&self, item: &str) -> Result<reply::Opened, ApiError> {
        let local = self
            .store
            .item(&ItemId::from(norm_id(item)))
            .map_err(ApiError::internal)?
            .ok_or_else(|| {
                ApiError::new(ErrorCode::NotFound, "that item is not on this computer yet")
            })?;
        if !local.path.is_file() {
            return Err(ApiError::new(
                ErrorCode::Changed,
                format!("{} is gone", local.path.display()),
            ));
        }
        // A file from a friend could be a program: only media and documents open directly;
        // anything else opens its folder.
        let target = if opens_directly(&local.path) {
            local.path.clone()
        } else {
            local
                .path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| local.path.clone())
        };
        let opener = crate::settings::env().opener.clone().unwrap_or_else(|| {
            if cfg!(target_os = "macos") {
                "open".into()
            } else {
                "xdg-open".into()
            }
        });
        let mut child = std::process::Command::new(&opener)
            .arg(&target)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::Io,
                    format!("could not run {}: {e}", opener.to_string_lossy()),
                )
            })?;
        std::thread::spawn(move || child.wait());
        Ok(reply::Opened {
            path: local.path,
            opened: target,
        })
    }

    pub(super) fn fetch_done(
        &mut self,
        key: String,
        target: String,
        result: Result<(fetch::Outcome, Vec<fetch::Fetched>), ApiError>,
        secs: f64,
    ) {
        let (waiters, album) = self
            .fetching
            .remove(&key)
            .map(|r| (r.waiters, r.album))
            .unwrap_or_default();
        // The copy is owned by the album's owner, and served through that owner's albums only
        // when bytes really came through this fetch: a file already here (which an album could
        // list without its owner holding it) gains no owner.
        let owner = self
            .store
            .album(&album)
            .ok()
            .flatten()
            .map(|s| s.album.owner);
        let reply = match result {
            Ok((o, fetched)) => {
                let mut records = Vec::with_capacity(fetched.len());
                for f in fetched {
                    let Ok(md) = std::fs::metadata(&f.path) else {
                        continue;
                    };
                    let item = LocalItem {
                        patches: Vec::new(),
                        id: ItemId::from(hex(&f.manifest.id())),
                        path: f.path.clone(),
                        size: f.manifest.size,
                        mtime_ns: mtime_ns(&md),
                        manifest: B64.encode(f.manifest.encode()),
                        owners: owner.filter(|_| f.received > 0).into_iter().collect(),
                    };
                    let segments: Vec<Vec<u8>> = f
                        .hashes
                        .chunks(SEGMENT_CHUNKS as usize)
                        .map(join_hashes)
                        .collect();
                    records.push((item, segments));
                }
                if let Err(e) = self.store.put_items(&records) {
                    tracing::error!("recording fetched items: {e}");
                }
                if let Err(e) = self.store.remove_fetch(&key) {
                    tracing::error!("forgetting a finished fetch: {e}");
                }
                tracing::info!(target = %target, received = o.received, secs, "fetch complete");
                let _ = self.events.send(Event::FetchDone {
                    id: target.clone(),
                    paths: o
                        .paths
                        .iter()
                        .take(EVENT_PATHS)
                        .map(|p| p.to_string_lossy().into_owned())
                        .collect(),
                    files: o.paths.len(),
                    bytes: o.bytes,
                });
                super::to_json(Ok(reply::Fetched {
                    id: target.clone(),
                    paths: o.paths,
                    bytes: o.bytes,
                    received_bytes: o.received,
                    secs,
                }))
            }
            Err(e) => {
                if e.code == ErrorCode::NotFound || e.code == ErrorCode::BadRequest {
                    let _ = self.store.remove_fetch(&key);
                }
                tracing::info!(target = %target, "fetch stopped: {}", e.message);
                let _ = self.events.send(Event::FetchFailed {
                    id: target.clone(),
                    error: e.clone(),
                });
                Err(e)
            }
        };
        for w in waiters {
            w.send(reply.clone());
        }
    }

    /// Fetches under way (`running`) or waiting to be resumed.
    /// Fetches under way (`running`), paused, or waiting to be resumed, with their progress.
    pub(super) fn transfers(&self) -> Result<Vec<reply::Transfer>, ApiError> {
        let pending = self.store.fetches().map_err(ApiError::internal)?;
        Ok(pending
            .iter()
            .map(|p| {
                let running = self.fetching.get(&fetch_key(&p.target, &p.out));
                let live = running.and_then(|r| r.progress.lock().ok().map(|g| *g));
                let items = self
                    .fetch_items(&p.target)
                    .map(|(_, i)| i)
                    .unwrap_or_default();
                let (bytes, total) = live.unwrap_or_else(|| {
                    let total = items.iter().map(|i| i.size).sum();
                    (fetch::bytes_present(&p.out, &items), total)
                });
                reply::Transfer {
                    target: p.target.clone(),
                    title: self.target_title(&p.target),
                    out: p.out.clone(),
                    running: running.is_some(),
                    paused: p.paused,
                    bytes,
                    total,
                    secs: running.map(|r| r.started.elapsed().as_secs_f64()),
                }
            })
            .collect())
    }

    /// Restarts the fetches that were under way when the node stopped (not the paused ones).
    pub(super) fn resume_fetches(&mut self) {
        let pending = match self.store.fetches() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("reading pending fetches: {e}");
                return;
            }
        };
        for p in pending.into_iter().filter(|p| !p.paused) {
            tracing::info!(target = %p.target, "resuming a fetch");
            self.fetch(
                &p.target,
                Some(p.out.to_string_lossy().into_owned()),
                Some(RESUME_TIMEOUT.max(p.timeout_secs)),
                None,
            );
        }
    }
}

/// Most paths a `fetch_done` event lists (events, too, must stay under 1 MiB).
const EVENT_PATHS: usize = 20;

/// A fetch under way.
pub(super) struct Running {
    /// Album or item ID.
    pub(super) target: String,
    /// The album it is from.
    pub(super) album: AlbumId,
    /// Requests waiting for its result.
    waiters: Vec<Reply>,
    /// Stops its task.
    abort: tokio::task::AbortHandle,
    /// Bytes in place and in all.
    progress: Arc<std::sync::Mutex<(u64, u64)>>,
    /// When it started.
    started: std::time::Instant,
}

/// Whether a file is a picture, sound, video or document the desktop may open directly.
fn opens_directly(path: &Path) -> bool {
    const SAFE: &[&str] = &[
        "jpg", "jpeg", "png", "gif", "webp", "avif", "heic", "heif", "bmp", "tif", "tiff", "mp4",
        "m4v", "webm", "mkv", "mov", "avi", "mp3", "m4a", "ogg", "oga", "opus", "flac", "wav",
        "pdf", "txt",
    ];
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| SAFE.contains(&e.to_ascii_lowercase().as_str()))
}

/// An album or item ID as typed: trimmed and lowercased.
pub(super) fn norm_id(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

/// The store key of a fetch: its target and folder.
fn fetch_key(target: &str, out: &Path) -> String {
    format!("{target}\0{}", out.display())
}
