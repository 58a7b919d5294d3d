//! The node's side of comments: the API commands (post, edit, delete, hide, list, read marks)
//! and the driver of the comment protocol, whose decisions are in `core::thread` (the owner's
//! thread) and `core::outbox` (my outbox and catch-up): this file reads the store for them,
//! executes their effects (store batches, events, posts, pulls, relays) and reports back.

use std::collections::HashMap;
use std::time::Instant;

use super::sharing::{norm_id, refuse};
use super::{now_ms, Msg, Node, PeerReply};
use crate::core::outbox::{self, Answer};
use crate::core::thread;
use crate::store::ThreadMeta;
use kith_proto::album::{hex, Album, SignedAlbum};
use kith_proto::api::{reply, ApiError, ErrorCode, Event, PeerRefusal};
use kith_proto::comment::{
    reaction_id, text_ok, Comment, SignedComment, ThreadEntry, MAX_TEXT, REACTIONS,
};
use kith_proto::identity::PeerId;
use kith_proto::ids::{AlbumId, CommentId, ItemId};
use kith_proto::peer::{PeerCode, PeerMsg};

/// Most comments one `comments` reply lists.
const PAGE_MAX: usize = 500;
/// Most bytes of comments in one `comments` reply (under the add-on's 1 MiB limit).
const PAGE_BYTES: usize = 768 * 1024;
/// How long a comment request to a peer may take.
const ASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A comment as this node shows it: its thread entry (once the owner has it), the newest
/// version I know, and whether that version still waits in my outbox.
struct Shown {
    entry: Option<ThreadEntry>,
    comment: Option<SignedComment>,
    pending: bool,
}

/// Why the owner refused a comment: the thread's decision, or a failed store.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error(transparent)]
    Thread(#[from] thread::Refusal),
    #[error("{0}")]
    Internal(String),
}

impl Refusal {
    /// The peer error code.
    fn code(&self) -> PeerCode {
        match self {
            Refusal::Thread(r) => r.code(),
            Refusal::Internal(_) => PeerCode::Internal,
        }
    }
}

impl Node {
    /// Posts a comment or reaction on an album or item.
    pub(super) fn comment(
        &mut self,
        target: &str,
        text: Option<String>,
        reaction: Option<String>,
        album: Option<AlbumId>,
    ) -> Result<reply::CommentReply, ApiError> {
        let (s, item) = self.comment_target(target, album.as_ref())?;
        let album = s.album.id.clone();
        let bad = |m: &str| Err(ApiError::new(ErrorCode::BadRequest, m));
        let c = match (text, reaction) {
            (Some(t), None) => {
                if t.trim().is_empty() {
                    return bad("the comment is empty");
                }
                if !text_ok(&t) {
                    return bad(&format!(
                        "a comment has at most {MAX_TEXT} characters and no control characters"
                    ));
                }
                Comment {
                    id: CommentId::from(hex(&kith_proto::hash::random::<16>())),
                    album,
                    item,
                    author: self.me,
                    at: now_ms(),
                    v: 0,
                    edited: None,
                    text: t,
                    reaction: None,
                    deleted: false,
                }
            }
            (None, Some(r)) => {
                if !REACTIONS.contains(&r.as_str()) {
                    return bad(&format!("a reaction is one of {}", REACTIONS.join(" ")));
                }
                let id = reaction_id(&self.me, &album, item.as_ref(), &r);
                match self.newest_version(&album, &id)? {
                    Some(old) if !old.comment.deleted => return self.comment_reply(&album, &id),
                    Some(old) => Comment {
                        v: old.comment.v + 1,
                        deleted: false,
                        at: now_ms(),
                        edited: None,
                        ..old.comment
                    },
                    None => Comment {
                        id,
                        album,
                        item,
                        author: self.me,
                        at: now_ms(),
                        v: 0,
                        edited: None,
                        text: String::new(),
                        reaction: Some(r),
                        deleted: false,
                    },
                }
            }
            _ => return bad("give either a text or a reaction"),
        };
        self.submit(c)
    }

    /// Changes the text of my comment.
    pub(super) fn comment_edit(
        &mut self,
        id: &str,
        text: String,
    ) -> Result<reply::CommentReply, ApiError> {
        if text.trim().is_empty() || !text_ok(&text) {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("a comment has 1 to {MAX_TEXT} characters and no control characters"),
            ));
        }
        let old = self.my_comment(id)?;
        if old.reaction.is_some() {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "a reaction has no text",
            ));
        }
        let edited = Comment {
            v: old.v + 1,
            edited: Some(now_ms()),
            text,
            ..old
        };
        self.submit(edited)
    }

    /// Deletes my comment or takes back my reaction.
    pub(super) fn comment_delete(&mut self, id: &str) -> Result<reply::CommentReply, ApiError> {
        let old = self.my_comment(id)?;
        let gone = Comment {
            v: old.v + 1,
            edited: Some(now_ms()),
            text: String::new(),
            deleted: true,
            ..old
        };
        self.submit(gone)
    }

    /// Hides or shows a comment on an album of mine.
    pub(super) fn comment_hide(
        &mut self,
        id: &str,
        hidden: bool,
    ) -> Result<reply::CommentReply, ApiError> {
        let id = CommentId::from(norm_id(id));
        let (s, entry) = self.find_comment(&id)?;
        let Some(entry) = entry.filter(|_| s.album.owner == self.me) else {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "only the album's owner can hide a comment",
            ));
        };
        let meta = self.thread_meta(&s.album.id).map_err(ApiError::internal)?;
        let online = self.online_peers();
        let effects = thread::on_hide(&self.me, &s.album, meta, entry, hidden, &online);
        self.run_thread(effects).map_err(ApiError::internal)?;
        self.comment_reply(&s.album.id, &id)
    }

    /// Lists the comments on an album, or on one item.
    pub(super) fn comments_page(
        &self,
        target: &str,
        album: Option<&AlbumId>,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<reply::CommentPage, ApiError> {
        let (s, item) = self.comment_target(target, album)?;
        let a = &s.album;
        let meta = self.store.thread(&a.id).map_err(ApiError::internal)?;
        let list: Vec<Shown> = self
            .shown(&a.id)?
            .into_iter()
            .filter(|x| x.comment.as_ref().is_none_or(|c| !c.comment.deleted))
            .filter(|x| {
                item.is_none() || x.comment.as_ref().is_some_and(|c| c.comment.item == item)
            })
            .collect();
        let limit = limit.unwrap_or(PAGE_MAX).min(PAGE_MAX);
        let mut bytes = 0;
        // Only the page is turned into JSON.
        let page: Vec<reply::CommentView> = list
            .iter()
            .skip(offset)
            .take(limit)
            .map(|x| self.shown_view(a, &meta, x))
            .take_while(|c| {
                bytes += serde_json::to_string(c).map_or(0, |s| s.len());
                bytes <= PAGE_BYTES
            })
            .collect();
        Ok(reply::CommentPage {
            album: a.id.clone(),
            title: a.title.clone(),
            item,
            total: list.len(),
            offset,
            unread: self.unread(a, &meta),
            comments: page,
        })
    }

    /// Marks an album as seen and its comments read.
    pub(super) fn album_read(&mut self, album: &str) -> Result<reply::Unread, ApiError> {
        let (s, _) = self.comment_target(album, None)?;
        let mut meta = self.store.thread(&s.album.id).map_err(ApiError::internal)?;
        let last = self
            .store
            .comments(&s.album.id)
            .map_err(ApiError::internal)?
            .iter()
            .map(|e| e.seq)
            .max()
            .unwrap_or(0);
        meta.read_seq = meta.read_seq.max(last);
        meta.seen = true;
        meta.unread = Some(0);
        self.store
            .put_thread(&s.album.id, &meta, &[])
            .map_err(ApiError::internal)?;
        Ok(reply::Unread { unread: 0 })
    }

    /// Unread comments on an album and whether it is new to me.
    pub(super) fn album_news(&self, a: &Album) -> (usize, bool) {
        let meta = self.store.thread(&a.id).unwrap_or_default();
        (self.unread(a, &meta), a.owner != self.me && !meta.seen)
    }

    /// Unread comments and new albums, all together (the toolbar's count).
    pub(super) fn unread_total(&self) -> usize {
        self.store
            .albums()
            .unwrap_or_default()
            .iter()
            .filter(|s| !s.album.deleted)
            .map(|s| {
                let (n, new) = self.album_news(&s.album);
                n + usize::from(new)
            })
            .sum()
    }

    fn unread(&self, a: &Album, meta: &ThreadMeta) -> usize {
        match meta.unread {
            Some(n) => n as usize,
            None => self.count_all_unread(&a.id, meta.read_seq),
        }
    }

    /// Reads the whole thread to count its unread comments (once, for a thread stored before
    /// the count was kept).
    fn count_all_unread(&self, album: &AlbumId, read_seq: u64) -> usize {
        self.store
            .comments(album)
            .unwrap_or_default()
            .iter()
            .filter(|e| thread::is_unread(&self.me, e, read_seq))
            .count()
    }

    /// The album a comment target names (an album, or an item of one) and the item.
    fn comment_target(
        &self,
        target: &str,
        album: Option<&AlbumId>,
    ) -> Result<(SignedAlbum, Option<ItemId>), ApiError> {
        let t = norm_id(target);
        let albums = self.store.albums().map_err(ApiError::internal)?;
        let live = albums.into_iter().filter(|s| !s.album.deleted);
        let mut holding: Vec<SignedAlbum> = Vec::new();
        for s in live {
            if s.album.id == t {
                return Ok((s, None));
            }
            let chosen = album.is_none_or(|a| norm_id(a) == s.album.id);
            if chosen && s.album.items.iter().any(|i| i.id == t) {
                holding.push(s);
            }
        }
        holding
            .into_iter()
            .max_by_key(|s| s.album.created)
            .map(|s| (s, Some(ItemId::from(t))))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    format!("no album or item {target} here"),
                )
            })
    }

    /// The album holding a comment and its thread entry (None: only in my outbox).
    fn find_comment(&self, id: &CommentId) -> Result<(SignedAlbum, Option<ThreadEntry>), ApiError> {
        for s in self.store.albums().map_err(ApiError::internal)? {
            if s.album.deleted {
                continue;
            }
            let entry = self
                .store
                .comment(&s.album.id, id)
                .map_err(ApiError::internal)?;
            let queued = self.outboxed(&s.album.id, id)?;
            if entry.is_some() || queued.is_some() {
                return Ok((s, entry));
            }
        }
        Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no comment {id} here"),
        ))
    }

    fn outboxed(&self, album: &AlbumId, id: &CommentId) -> Result<Option<SignedComment>, ApiError> {
        self.store
            .comment_outbox_get(album, id)
            .map_err(ApiError::internal)
    }

    /// The newest version of a comment I know: in my outbox or in the thread.
    fn newest_version(
        &self,
        album: &AlbumId,
        id: &CommentId,
    ) -> Result<Option<SignedComment>, ApiError> {
        let queued = self.outboxed(album, id)?;
        let threaded = self
            .store
            .comment(album, id)
            .map_err(ApiError::internal)?
            .and_then(|e| e.comment);
        Ok(match (queued, threaded) {
            (Some(q), Some(t)) if t.comment.v > q.comment.v => Some(t),
            (Some(q), _) => Some(q),
            (None, t) => t,
        })
    }

    /// My comment, as its newest version, or a clear error.
    fn my_comment(&self, id: &str) -> Result<Comment, ApiError> {
        let id = CommentId::from(norm_id(id));
        let (s, _) = self.find_comment(&id)?;
        let c = self
            .newest_version(&s.album.id, &id)?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "that comment's text is hidden"))?
            .comment;
        if c.author != self.me {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "only its author can change a comment",
            ));
        }
        if c.deleted {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                "that comment was deleted",
            ));
        }
        Ok(c)
    }

    /// Signs my comment and puts it in the thread (my album) or in my outbox for the owner.
    fn submit(&mut self, c: Comment) -> Result<reply::CommentReply, ApiError> {
        let signed = c.sign(&self.identity);
        let (album, id) = (signed.comment.album.clone(), signed.comment.id.clone());
        let s = self
            .store
            .album(&album)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "the album is gone"))?;
        if s.album.owner == self.me {
            let me = self.me;
            self.thread_accept(me, signed).map_err(|r| {
                let c = match r {
                    Refusal::Internal(_) => ErrorCode::Internal,
                    Refusal::Thread(_) => ErrorCode::BadRequest,
                };
                ApiError::new(c, r.to_string())
            })?;
        } else {
            // The owner limits my posts (`thread_accept` on its node): over that rate I am
            // refused here at once rather than by the owner later. My own album's thread
            // has no limit for me.
            if let Err(r) = self.post_limit.take(&self.me, now_ms()) {
                return Err(ApiError::new(ErrorCode::RateLimited, r.to_string()));
            }
            self.store
                .comment_outbox_put(&signed)
                .map_err(ApiError::internal)?;
            self.comment_event(&s.album, &id, false);
            let online = self.online_peers();
            let effects = self
                .outbox
                .queue(s.album.owner, signed, Instant::now(), &online);
            self.run_outbox_logged(effects);
        }
        let mut reply = self.comment_reply(&album, &id)?;
        // Whether it waits for an owner who is not connected (it is on its way otherwise).
        reply.owner_offline = Some(s.album.owner != self.me && !self.is_online(&s.album.owner));
        Ok(reply)
    }

    fn comment_reply(
        &self,
        album: &AlbumId,
        id: &CommentId,
    ) -> Result<reply::CommentReply, ApiError> {
        let s = self
            .store
            .album(album)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "the album is gone"))?;
        let meta = self.store.thread(album).map_err(ApiError::internal)?;
        let shown = self.shown_one(album, id)?;
        Ok(reply::CommentReply {
            comment: self.shown_view(&s.album, &meta, &shown),
            owner_offline: None,
        })
    }

    /// Every comment of an album as shown here: thread order, then my pending ones by time.
    fn shown(&self, album: &AlbumId) -> Result<Vec<Shown>, ApiError> {
        let mut queued: HashMap<CommentId, SignedComment> = self
            .store
            .comment_outbox(Some(album))
            .map_err(ApiError::internal)?
            .into_iter()
            .map(|c| (c.comment.id.clone(), c))
            .collect();
        let mut out = Vec::new();
        for e in self.store.comments(album).map_err(ApiError::internal)? {
            out.push(Self::merge(Some(e.clone()), queued.remove(&e.id)));
        }
        let mut rest: Vec<SignedComment> = queued.into_values().collect();
        rest.sort_by_key(|c| c.comment.at);
        out.extend(rest.into_iter().map(|c| Self::merge(None, Some(c))));
        Ok(out)
    }

    fn shown_one(&self, album: &AlbumId, id: &CommentId) -> Result<Shown, ApiError> {
        let entry = self.store.comment(album, id).map_err(ApiError::internal)?;
        Ok(Self::merge(entry, self.outboxed(album, id)?))
    }

    fn merge(entry: Option<ThreadEntry>, queued: Option<SignedComment>) -> Shown {
        let threaded_v = entry
            .as_ref()
            .and_then(|e| e.comment.as_ref())
            .map(|c| c.comment.v);
        match queued {
            Some(q) if threaded_v.is_none_or(|v| v < q.comment.v) => Shown {
                entry,
                comment: Some(q),
                pending: true,
            },
            _ => Shown {
                comment: entry.as_ref().and_then(|e| e.comment.clone()),
                entry,
                pending: false,
            },
        }
    }

    fn shown_view(&self, a: &Album, meta: &ThreadMeta, x: &Shown) -> reply::CommentView {
        let c = x.comment.as_ref().map(|c| &c.comment);
        let author = c.map(|c| c.author);
        let friend = author.and_then(|p| self.store.friend(&p).ok().flatten());
        let mine = author == Some(self.me);
        let name = match (&friend, author) {
            (Some(f), _) => f.name.clone(),
            (None, Some(p)) if p == self.me => self.config.name.clone(),
            _ => x
                .entry
                .as_ref()
                .and_then(|e| e.name.clone())
                .unwrap_or_default(),
        };
        let hidden = x.entry.as_ref().is_some_and(|e| e.hidden);
        let seq = x.entry.as_ref().map(|e| e.seq);
        reply::CommentView {
            id: x
                .entry
                .as_ref()
                .map(|e| e.id.clone())
                .or_else(|| c.map(|c| c.id.clone())),
            album: a.id.clone(),
            item: c.and_then(|c| c.item.clone()),
            author,
            author_name: name,
            author_verified: mine || friend.is_some_and(|f| f.verified),
            mine,
            at: c.map(|c| c.at),
            edited: c.and_then(|c| c.edited),
            text: c.map(|c| c.text.clone()).unwrap_or_default(),
            reaction: c.and_then(|c| c.reaction.clone()),
            deleted: c.is_some_and(|c| c.deleted),
            hidden,
            seq,
            pending: x.pending,
            unread: !mine
                && !hidden
                && !c.is_some_and(|c| c.deleted)
                && seq.is_some_and(|s| s > meta.read_seq),
        }
    }

    /// A peer's name as this node knows it: mine, a friend's, or empty.
    fn name_of(&self, p: &PeerId) -> String {
        if *p == self.me {
            return self.config.name.clone();
        }
        self.store
            .friend(p)
            .ok()
            .flatten()
            .map(|f| f.name)
            .unwrap_or_default()
    }

    /// Tells the pages about a comment of an album in the store.
    fn comment_event_of(&self, album: &AlbumId, id: &CommentId, new: bool) {
        if let Ok(Some(s)) = self.store.album(album) {
            self.comment_event(&s.album, id, new);
        }
    }

    fn comment_event(&self, a: &Album, id: &CommentId, new: bool) {
        let meta = self.store.thread(&a.id).unwrap_or_default();
        if let Ok(shown) = self.shown_one(&a.id, id) {
            let _ = self.events.send(Event::Comment {
                album: a.id.clone(),
                title: a.title.clone(),
                comment: self.shown_view(a, &meta, &shown),
                new,
            });
        }
    }

    /// The peers connected now.
    fn online_peers(&self) -> Vec<PeerId> {
        self.links
            .keys()
            .filter(|p| self.is_online(p))
            .copied()
            .collect()
    }

    /// A thread's meta with its unread count counted (once, for a thread stored before the
    /// count was kept).
    fn thread_meta(&self, album: &AlbumId) -> Result<ThreadMeta, crate::store::StoreError> {
        let mut meta = self.store.thread(album)?;
        if meta.unread.is_none() {
            meta.unread = Some(self.count_all_unread(album, meta.read_seq) as u64);
        }
        Ok(meta)
    }

    /// The owner's side: hands a posted comment to the thread's core and executes its answer.
    fn thread_accept(&mut self, from: PeerId, signed: SignedComment) -> Result<(), Refusal> {
        let internal = |e: crate::store::StoreError| Refusal::Internal(e.to_string());
        let c = &signed.comment;
        if from != self.me {
            self.post_limit.take(&from, now_ms())?;
        }
        let album = self.store.album(&c.album).ok().flatten();
        let existing = self.store.comment(&c.album, &c.id).map_err(internal)?;
        let meta = self.thread_meta(&c.album).map_err(internal)?;
        let online = self.online_peers();
        let effects = thread::on_post(thread::Post {
            me: self.me,
            from,
            album: album.as_ref().map(|s| &s.album),
            meta,
            existing,
            name: self.name_of(&c.author),
            online: &online,
            comment: signed.clone(),
        })
        .map_err(Refusal::Thread)?;
        if let Some(thread::Effect::Store { entries, .. }) = effects.first() {
            let seq = entries.first().map(|e| e.seq);
            tracing::info!(album = %c.album, ?seq, from = %from.short(), "comment in thread");
        }
        self.run_thread(effects).map_err(internal)
    }

    /// Executes what the thread's core decided, in order; stops at a failed store write.
    fn run_thread(&mut self, effects: Vec<thread::Effect>) -> Result<(), crate::store::StoreError> {
        for e in effects {
            match e {
                thread::Effect::Store {
                    album,
                    meta,
                    entries,
                } => self.store.put_thread(&album, &meta, &entries)?,
                thread::Effect::Event { album, id, new } => self.comment_event_of(&album, &id, new),
                thread::Effect::Relay { to, msg } => self.relay(to, msg),
            }
        }
        Ok(())
    }

    /// Executes what the outbox's core decided, in order; stops at a failed thread write.
    fn run_outbox(&mut self, effects: Vec<outbox::Effect>) -> Result<(), crate::store::StoreError> {
        for e in effects {
            match e {
                outbox::Effect::Send { to, comment } => self.post_to(to, comment),
                outbox::Effect::Pull {
                    owner,
                    album,
                    since,
                } => self.pull_from(owner, album, since),
                outbox::Effect::Done { album, id, v } => {
                    if let Err(e) = self.store.comment_outbox_done(&album, &id, v) {
                        tracing::error!(album = album.as_str(), "comment outbox: {e}");
                    }
                }
                outbox::Effect::Store {
                    album,
                    meta,
                    entries,
                    outbox_done,
                } => self
                    .store
                    .write_thread(&album, &meta, &entries, &outbox_done)?,
                outbox::Effect::Event { album, id, new } => self.comment_event_of(&album, &id, new),
                outbox::Effect::Failed {
                    album,
                    id,
                    code,
                    message,
                } => {
                    tracing::warn!(
                        album = album.as_str(),
                        %code,
                        "my comment was not taken: {message}"
                    );
                    let _ = self.events.send(Event::CommentFailed {
                        album,
                        id,
                        error: PeerRefusal { code, message },
                    });
                }
            }
        }
        Ok(())
    }

    /// Executes the outbox core's effects where no one waits for the outcome.
    fn run_outbox_logged(&mut self, effects: Vec<outbox::Effect>) {
        if let Err(e) = self.run_outbox(effects) {
            tracing::error!("comments: {e}");
        }
    }

    /// Sends a changed entry of my album's thread to a member (no answer awaited).
    fn relay(&self, to: PeerId, msg: PeerMsg) {
        let Some(link) = self.links.get(&to) else {
            return;
        };
        let conn = link.conn.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(ASK_TIMEOUT, crate::wire::ask(&conn, &msg)).await;
        });
    }

    /// A peer's comment request: a post to my thread, a member catching up, or entries from
    /// an album's owner.
    pub(super) fn comment_request(&mut self, peer: PeerId, msg: PeerMsg) -> PeerReply {
        match msg {
            PeerMsg::CommentPost { comment } => match self.thread_accept(peer, comment) {
                Ok(()) => PeerReply::Answer(PeerMsg::Ok),
                Err(r) => {
                    tracing::info!(peer = %peer.short(), code = %r.code(), "refused a comment: {r}");
                    refuse(r.code(), &r.to_string())
                }
            },
            PeerMsg::GetComments { album, since } => self.serve_comments(peer, &album, since),
            PeerMsg::Comments {
                album,
                since,
                rev,
                entries,
                more,
            } => self.comments_in(peer, &album, (since, rev, more), entries, false),
            _ => refuse(PeerCode::Unexpected, "not expected here"),
        }
    }

    /// Answers a member asking for the entries of my album's thread changed after `since`.
    fn serve_comments(&self, peer: PeerId, album: &AlbumId, since: u64) -> PeerReply {
        let s = self.store.album(album).ok().flatten();
        let (Ok(meta), Ok(all)) = (self.store.thread(album), self.store.comments(album)) else {
            return refuse(PeerCode::Internal, "the store failed");
        };
        match thread::serve(
            &self.me,
            &peer,
            s.as_ref().map(|s| &s.album),
            &meta,
            all,
            since,
        ) {
            Ok(msg) => PeerReply::Answer(msg),
            Err(r) => {
                tracing::info!(peer = %peer.short(), "refused comments of an album not shared with this peer");
                refuse(r.code(), &r.to_string())
            }
        }
    }

    /// A page I pulled from an album's owner.
    pub(super) fn comments_pulled_in(&mut self, from: PeerId, msg: PeerMsg) {
        if let PeerMsg::Comments {
            album,
            since,
            rev,
            entries,
            more,
        } = msg
        {
            self.comments_in(from, &album, (since, rev, more), entries, true);
        }
    }

    /// A member's side: hands entries from an album's owner to the outbox's core (relayed,
    /// or `pulled` by me) and executes its answer.
    fn comments_in(
        &mut self,
        from: PeerId,
        album: &AlbumId,
        (since, rev, more): (u64, u64, bool),
        entries: Vec<ThreadEntry>,
        pulled: bool,
    ) -> PeerReply {
        let s = self.store.album(album).ok().flatten();
        let Ok(meta) = self.thread_meta(album) else {
            return refuse(PeerCode::Internal, "the store failed");
        };
        let entries = entries
            .into_iter()
            .map(|e| {
                let old = self.store.comment(album, &e.id).ok().flatten();
                (e, old)
            })
            .collect();
        let online = self.online_peers();
        let answer = self.outbox.on_entries(outbox::Entries {
            me: self.me,
            from,
            album: s.as_ref().map(|s| &s.album),
            meta,
            entries,
            since,
            rev,
            more,
            pulled,
            online: &online,
        });
        match answer {
            Ok(effects) => match self.run_outbox(effects) {
                Ok(()) => PeerReply::Answer(PeerMsg::Ok),
                Err(e) => refuse(PeerCode::Internal, &e.to_string()),
            },
            Err(r) => refuse(r.code(), &r.to_string()),
        }
    }

    /// Catches up on an album's thread from its owner (an album just received, or asked for
    /// again); one pull per album at a time, another following when asked for meanwhile.
    pub(super) fn pull_comments(&mut self, owner: PeerId, album: &AlbumId) {
        let since = self.store.thread(album).unwrap_or_default().rev;
        self.outbox.follow(owner, album, since);
        let online = self.online_peers();
        let pull = self.outbox.pull(album, &online);
        self.run_outbox_logged(pull.into_iter().collect());
    }

    /// Asks an album's owner for one page of the entries changed after `since`; the answer
    /// comes back as `Msg::CommentsIn`, then `Msg::CommentsPulled` ends the ask.
    fn pull_from(&self, owner: PeerId, album: AlbumId, since: u64) {
        let conn = self.links.get(&owner).map(|l| l.conn.clone());
        let tx = self.tx.clone();
        tokio::spawn(async move {
            if let Some(conn) = conn {
                let ask = PeerMsg::GetComments {
                    album: album.clone(),
                    since,
                };
                let answer = tokio::time::timeout(ASK_TIMEOUT, crate::wire::ask(&conn, &ask)).await;
                if let Ok(Ok((msg @ PeerMsg::Comments { .. }, _))) = answer {
                    let _ = tx.send(Msg::CommentsIn { peer: owner, msg }).await;
                }
            }
            let _ = tx.send(Msg::CommentsPulled { peer: owner, album }).await;
        });
    }

    /// An ask of a pull ended; the core says whether another page or pull follows.
    pub(super) fn comments_pulled(&mut self, _owner: PeerId, album: &AlbumId) {
        let online = self.online_peers();
        let next = self.outbox.on_pulled(album, &online);
        self.run_outbox_logged(next.into_iter().collect());
    }

    /// On a connection to a peer: catch up on the threads of its albums and post my
    /// comments waiting for it.
    pub(super) fn comments_on_connect(&mut self, peer: PeerId) {
        let online = self.online_peers();
        let effects = self.outbox.on_connect(peer, Instant::now(), &online);
        self.run_outbox_logged(effects);
    }

    /// The one-second tick: posts due again, and now and then a catch-up with every
    /// connected owner, in case a relayed entry was lost.
    pub(super) fn comments_tick(&mut self) {
        let online = self.online_peers();
        let effects = self.outbox.on_tick(Instant::now(), &online);
        self.run_outbox_logged(effects);
    }

    /// Loads my outbox and the threads I follow from the store (once, at start).
    pub(super) fn load_comments(&mut self) {
        let mut queued = Vec::new();
        match self.store.comment_outbox(None) {
            Ok(q) => {
                for c in q {
                    let owner = match self.store.album(&c.comment.album) {
                        Ok(Some(s)) if !s.album.deleted => Some(s.album.owner),
                        _ => None,
                    };
                    queued.push((owner, c));
                }
            }
            Err(e) => tracing::error!("comment outbox: {e}"),
        }
        let threads = self
            .store
            .albums()
            .unwrap_or_default()
            .into_iter()
            .filter(|s| !s.album.deleted && s.album.owner != self.me)
            .map(|s| {
                let rev = self.store.thread(&s.album.id).unwrap_or_default().rev;
                (s.album.id, s.album.owner, rev)
            })
            .collect();
        self.outbox = outbox::Outbox::load(queued, threads);
    }

    /// Posts my comment to its album's owner; the answer comes back as `Msg::CommentPosted`.
    fn post_to(&self, owner: PeerId, c: SignedComment) {
        let conn = self.links.get(&owner).map(|l| l.conn.clone());
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let answer = match conn {
                None => Answer::Failed,
                Some(conn) => {
                    let post = PeerMsg::CommentPost { comment: c.clone() };
                    match tokio::time::timeout(ASK_TIMEOUT, crate::wire::ask(&conn, &post)).await {
                        Ok(Ok((PeerMsg::Ok, _))) => Answer::Delivered,
                        Ok(Ok((PeerMsg::Error { code, message }, _))) => {
                            Answer::Refused { code, message }
                        }
                        _ => Answer::Failed, // not reached: tried again later
                    }
                }
            };
            let _ = tx
                .send(Msg::CommentPosted {
                    owner,
                    comment: c,
                    answer,
                })
                .await;
        });
    }

    /// The owner answered a post of mine.
    pub(super) fn comment_posted(&mut self, owner: PeerId, c: SignedComment, answer: Answer) {
        let online = self.online_peers();
        let effects = self
            .outbox
            .on_answer(owner, &c, answer, Instant::now(), &online);
        self.run_outbox_logged(effects);
    }

    /// Forgets an album's thread (the album was unshared or I left its audience).
    pub(super) fn forget_thread(&mut self, album: &AlbumId) {
        self.outbox.forget(album);
        if let Err(e) = self.store.remove_thread(album) {
            tracing::error!(album = album.as_str(), "forgetting comments: {e}");
        }
    }
}
