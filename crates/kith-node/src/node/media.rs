//! The node's side of galleries: thumbnails pulled from an album's owner and served to its
//! audience, and the gateway's questions (where an item's verified bytes are).

use tokio::task::JoinSet;

use super::sharing::{denied, refuse};
use super::{Msg, Node, PeerReply, Reply};
use crate::gateway::{Answer, Want};
use crate::media::thumb::MAX_THUMB_BYTES;
use crate::transfer::manifest::{chunk_count, split_hashes, SEGMENT_CHUNKS};
use kith_proto::api::{reply, ApiError, ErrorCode, Event};
use kith_proto::identity::PeerId;
use kith_proto::ids::{AlbumId, ItemId};
use kith_proto::peer::{PeerCode, PeerMsg};

/// Thumbnails asked for at once from one peer.
const PULLS_IN_FLIGHT: usize = 8;

impl Node {
    /// Answers a member's request for a thumbnail of an album it may see.
    pub(super) fn serve_thumb(&self, peer: PeerId, album: &AlbumId, thumb: &str) -> PeerReply {
        let held_for = |owner: &PeerId| self.store.thumb_owned_by(owner, thumb).unwrap_or(false);
        if let Err(d) = self.access.may_get_thumb(&peer, album, thumb, held_for) {
            tracing::info!(peer = %peer.short(), "refused a thumbnail not shared with this peer");
            return denied(d);
        }
        match self.store.thumb(thumb) {
            Ok(Some(b)) => PeerReply::Blob(b),
            _ => refuse(PeerCode::NotFound, "that thumbnail is not here"),
        }
    }

    /// Starts pulling the thumbnails of an album that are not here yet, from `from` or else
    /// from whoever can serve the album.
    pub(super) fn pull_thumbs(&mut self, album: &AlbumId, from: Option<Vec<quinn::Connection>>) {
        let Ok(Some(s)) = self.store.album(album) else {
            return;
        };
        if s.album.owner == self.me {
            return;
        }
        // The owner's thumbnails stop at its quota (a pulled one over it is not kept).
        let mut room = self
            .config
            .quota()
            .thumb_room(self.thumb_use(&s.album.owner));
        if room == 0 {
            tracing::info!(album = %album, "thumbnails not pulled: the owner's quota is used up");
            return;
        }
        let mut wanted: Vec<String> = Vec::new();
        for t in s.album.items.iter().filter_map(|i| i.thumb.clone()) {
            if !self.pulling.contains(&t)
                && !wanted.contains(&t)
                && !matches!(self.store.thumb(&t), Ok(Some(_)))
            {
                wanted.push(t);
            }
        }
        if wanted.is_empty() {
            return;
        }
        let conns = from
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| self.sources(album));
        if conns.is_empty() {
            return;
        }
        self.pulling.extend(wanted.iter().cloned());
        let (tx, album) = (self.tx.clone(), album.clone());
        tokio::spawn(async move {
            let mut queue = wanted.into_iter();
            let mut tasks = JoinSet::new();
            let mut got = Vec::new();
            let mut turn = 0usize;
            loop {
                while tasks.len() < PULLS_IN_FLIGHT && room > 0 {
                    let Some(t) = queue.next() else { break };
                    let conn = conns[turn % conns.len()].clone();
                    turn += 1;
                    let album = album.clone();
                    tasks.spawn(async move {
                        let msg = PeerMsg::GetThumb {
                            album,
                            thumb: t.clone(),
                        };
                        (t, pull_one(&conn, &msg).await)
                    });
                }
                let Some(Ok((t, r))) = tasks.join_next().await else {
                    break;
                };
                match r {
                    Ok(b) if kith_proto::album::hex(&kith_proto::hash::sha256(&b)) == t => {
                        room = room.saturating_sub(b.len() as u64);
                        got.push((t, b));
                        if got.len() >= 32 {
                            let batch = std::mem::take(&mut got);
                            let msg = Msg::Thumbs {
                                album: album.clone(),
                                got: Some(batch),
                            };
                            let _ = tx.send(msg).await;
                        }
                    }
                    Ok(_) => tracing::warn!("a peer sent a thumbnail that does not match its hash"),
                    Err(e) => tracing::info!("thumbnail not pulled: {e}"),
                }
            }
            let _ = tx
                .send(Msg::Thumbs {
                    album: album.clone(),
                    got: Some(got),
                })
                .await;
            let _ = tx.send(Msg::Thumbs { album, got: None }).await;
        });
    }

    /// Keeps pulled thumbnails; when a pull ends, tells the pages the album's gallery changed.
    pub(super) fn thumbs_pulled(&mut self, album: &AlbumId, got: Option<Vec<(String, Vec<u8>)>>) {
        match got {
            Some(list) => {
                let owner = self
                    .store
                    .album(album)
                    .ok()
                    .flatten()
                    .map(|s| s.album.owner);
                let Some(owner) = owner else { return };
                let quota = self.config.quota();
                for (hash, jpeg) in list {
                    let used = self.thumb_use(&owner);
                    if quota.thumb_room(used) < jpeg.len() as u64 {
                        tracing::info!(album = %album, "thumbnail not kept: the owner's quota is used up");
                        continue;
                    }
                    let kept = self
                        .store
                        .put_thumb(&hash, &jpeg)
                        .and_then(|()| self.store.mark_thumb_owner(&owner, &hash));
                    match kept {
                        Ok(()) => {
                            self.thumb_use.insert(owner, used + jpeg.len() as u64);
                        }
                        Err(e) => tracing::error!("keeping a thumbnail: {e}"),
                    }
                }
            }
            None => {
                if let Ok(Some(s)) = self.store.album(album) {
                    for t in s.album.items.iter().filter_map(|i| i.thumb.as_ref()) {
                        self.pulling.remove(t);
                    }
                }
                let _ = self.events.send(Event::AlbumThumbs {
                    album: album.clone(),
                });
            }
        }
    }

    /// Bytes of thumbnails held for `owner`'s albums (counted from the store once).
    fn thumb_use(&mut self, owner: &PeerId) -> u64 {
        if let Some(n) = self.thumb_use.get(owner) {
            return *n;
        }
        match self.store.thumb_bytes_of(owner) {
            Ok(n) => {
                self.thumb_use.insert(*owner, n);
                n
            }
            Err(e) => {
                tracing::error!("counting thumbnails: {e}");
                u64::MAX // nothing more until the store can be read
            }
        }
    }

    /// Where the gateway finds what it was asked for.
    pub(super) fn gateway_want(&mut self, want: Want) -> Answer {
        match want {
            Want::Thumb(hash) => {
                if let Ok(Some(b)) = self.store.thumb(&hash) {
                    return Answer::Thumb(b);
                }
                if self.pulling.contains(&hash) {
                    return Answer::Wait;
                }
                let album = self
                    .store
                    .albums()
                    .unwrap_or_default()
                    .into_iter()
                    .find(|s| {
                        !s.album.deleted
                            && s.album.owner != self.me
                            && s.album
                                .items
                                .iter()
                                .any(|i| i.thumb.as_deref() == Some(&hash))
                    });
                match album {
                    Some(s) => {
                        self.pull_thumbs(&s.album.id, None);
                        if self.pulling.contains(&hash) {
                            Answer::Wait
                        } else {
                            Answer::Missing(
                                "no member of the album is online, or its owner's thumbnail quota is used up"
                                    .into(),
                            )
                        }
                    }
                    None => Answer::Missing("no such thumbnail".into()),
                }
            }
            Want::Item(id) => self.item_answer(&id),
        }
    }

    fn item_answer(&mut self, id: &ItemId) -> Answer {
        let albums = self.store.albums().unwrap_or_default();
        let Some((album, entry)) = albums.iter().filter(|s| !s.album.deleted).find_map(|s| {
            s.album
                .items
                .iter()
                .find(|i| i.id == *id)
                .map(|i| (s.album.clone(), i.clone()))
        }) else {
            return Answer::Missing("no such item is shared with you or by you".into());
        };
        let name = entry.name.clone();
        if let Ok(Some(local)) = self.store.item(id) {
            let current = std::fs::metadata(&local.path).is_ok_and(|md| {
                md.len() == local.size && super::sharing::mtime_ns(&md) == local.mtime_ns
            });
            if current {
                let mut hashes = Vec::new();
                for seg in 0..chunk_count(local.size).div_ceil(SEGMENT_CHUNKS) {
                    match self.store.segment(id, seg) {
                        Ok(Some(b)) => hashes.extend(split_hashes(&b)),
                        _ => return Answer::Missing("the item's record is damaged".into()),
                    }
                }
                return Answer::File {
                    item: local,
                    hashes,
                    name,
                };
            }
            if album.owner == self.me {
                return Answer::Missing("the file changed or is gone since it was shared".into());
            }
        }
        if let Some(part) = self.live.get(id) {
            return Answer::Live { part, name };
        }
        if album.owner == self.me {
            return Answer::Missing("the file is not here".into());
        }
        let under_way = self
            .fetching
            .values()
            .any(|r| r.target == *id || r.target == album.id);
        if !under_way {
            tracing::info!(item = id.as_str(), "fetching an item opened in the gallery");
            self.fetch(id, None, None, None);
        }
        Answer::Wait
    }

    /// Takes a video's thumbnail made by the add-on: it is decoded and checked on a blocking
    /// thread (a JPEG decode), then `thumb_checked` adds it to my albums holding the item.
    pub(super) fn thumb_set(
        &self,
        item: ItemId,
        data: String,
        duration_ms: Option<u64>,
        reply: Reply,
    ) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let checked = tokio::task::spawn_blocking(move || check_thumb(&data))
                .await
                .unwrap_or_else(|e| Err(ApiError::internal(e)));
            let _ = tx
                .send(Msg::ThumbChecked {
                    item,
                    duration_ms,
                    checked,
                    reply,
                })
                .await;
        });
    }

    /// Adds a checked thumbnail to my albums holding the item.
    pub(super) fn thumb_checked(
        &mut self,
        item: &str,
        duration_ms: Option<u64>,
        thumb: CheckedThumb,
    ) -> Result<reply::ThumbSet, ApiError> {
        let CheckedThumb { bytes, w, h, hash } = thumb;
        let item = ItemId::from(super::sharing::norm_id(item));
        let mut changed = 0;
        for mut s in self.store.albums().map_err(ApiError::internal)? {
            let a = &mut s.album;
            if a.owner != self.me || a.deleted || !a.items.iter().any(|i| i.id == item) {
                continue;
            }
            for i in a.items.iter_mut().filter(|i| i.id == item) {
                i.thumb = Some(hash.clone());
                i.duration_ms = duration_ms.or(i.duration_ms);
                // The thumbnail's shape is the video's.
                if i.w.is_none() {
                    i.w = Some(w);
                    i.h = Some(h);
                }
            }
            a.version += 1;
            self.store
                .put_thumb(&hash, &bytes)
                .and_then(|()| self.store.mark_thumb_owner(&self.me, &hash))
                .map_err(ApiError::internal)?;
            let signed = s.album.clone().sign(&self.identity);
            self.publish(&signed)?;
            changed += 1;
        }
        if changed == 0 {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("no album of yours holds {item}"),
            ));
        }
        Ok(reply::ThumbSet {
            thumb: hash,
            albums: changed,
        })
    }
}

/// A thumbnail the add-on made, decoded and checked.
pub(super) struct CheckedThumb {
    bytes: Vec<u8>,
    w: u32,
    h: u32,
    /// Its SHA-256, hex.
    hash: String,
}

/// Decodes and checks a thumbnail sent in base64 (blocking: it decodes the JPEG).
fn check_thumb(data: &str) -> Result<CheckedThumb, ApiError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| ApiError::new(ErrorCode::BadRequest, "the thumbnail is not base64"))?;
    if bytes.len() > MAX_THUMB_BYTES {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "the thumbnail is over 256 KiB",
        ));
    }
    let (w, h) = crate::media::thumb::check_thumb(&bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("not a usable thumbnail: {e}"),
        )
    })?;
    let hash = kith_proto::album::hex(&kith_proto::hash::sha256(&bytes));
    Ok(CheckedThumb { bytes, w, h, hash })
}

/// Gets one thumbnail from a peer.
async fn pull_one(conn: &quinn::Connection, msg: &PeerMsg) -> Result<Vec<u8>, String> {
    let (answer, mut recv) = crate::wire::ask(conn, msg).await?;
    match answer {
        PeerMsg::Data { len } if len as usize <= MAX_THUMB_BYTES => {
            let mut buf = vec![0u8; len as usize];
            recv.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            Ok(buf)
        }
        PeerMsg::Error { code, message } => Err(format!("{code}: {message}")),
        _ => Err("unexpected answer to get_thumb".into()),
    }
}
