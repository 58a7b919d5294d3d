//! The node's side of comments: the owner keeps each album's thread, numbers what its audience
//! posts and relays it; members post through an outbox that survives restarts and catch up
//! on what they missed each time they reach the owner.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::sharing::{norm_id, refuse};
use super::{now_ms, Msg, Node, PeerReply};
use crate::api::{code, ApiError, Event};
use crate::identity::PeerId;
use crate::proto::album::{hex, Album, SignedAlbum};
use crate::proto::comment::{
    accept, reaction_id, text_ok, Accept, Comment, SignedComment, ThreadEntry, MAX_ENTRIES,
    MAX_TEXT, MAX_THREAD, REACTIONS,
};
use crate::proto::peer::PeerMsg;
use crate::store::ThreadMeta;

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

/// Why the owner refused a comment: a peer code and a text.
type Refusal = (&'static str, String);

impl Node {
    /// Posts a comment or reaction on an album or item.
    pub(super) fn comment(
        &mut self,
        target: &str,
        text: Option<String>,
        reaction: Option<String>,
        album: Option<String>,
    ) -> Result<Value, ApiError> {
        let (s, item) = self.comment_target(target, album.as_deref())?;
        let album = s.album.id.clone();
        let bad = |m: &str| Err(ApiError::new(code::BAD_REQUEST, m));
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
                    id: hex(&crate::hash::random::<16>()),
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
                let id = reaction_id(&self.me, &album, item.as_deref(), &r);
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
    pub(super) fn comment_edit(&mut self, id: &str, text: String) -> Result<Value, ApiError> {
        if text.trim().is_empty() || !text_ok(&text) {
            return Err(ApiError::new(
                code::BAD_REQUEST,
                format!("a comment has 1 to {MAX_TEXT} characters and no control characters"),
            ));
        }
        let old = self.my_comment(id)?;
        if old.reaction.is_some() {
            return Err(ApiError::new(code::BAD_REQUEST, "a reaction has no text"));
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
    pub(super) fn comment_delete(&mut self, id: &str) -> Result<Value, ApiError> {
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
    pub(super) fn comment_hide(&mut self, id: &str, hidden: bool) -> Result<Value, ApiError> {
        let id = norm_id(id);
        let (s, entry) = self.find_comment(&id)?;
        let Some(mut entry) = entry.filter(|_| s.album.owner == self.me) else {
            return Err(ApiError::new(
                code::BAD_REQUEST,
                "only the album's owner can hide a comment",
            ));
        };
        if entry.hidden != hidden {
            let mut meta = self.store.thread(&s.album.id).map_err(ApiError::internal)?;
            let old = entry.clone();
            meta.rev += 1;
            entry.hidden = hidden;
            entry.rev = meta.rev;
            self.count_unread(&s.album.id, &mut meta, Some(&old), &entry);
            self.store
                .put_thread(&s.album.id, &meta, std::slice::from_ref(&entry))
                .map_err(ApiError::internal)?;
            self.comment_event(&s.album, &entry.id, false);
            self.relay(&s.album, &entry);
        }
        self.comment_reply(&s.album.id, &id)
    }

    /// Lists the comments on an album, or on one item.
    pub(super) fn comments_json(
        &self,
        target: &str,
        album: Option<&str>,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<Value, ApiError> {
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
        let page: Vec<Value> = list
            .iter()
            .skip(offset)
            .take(limit)
            .map(|x| self.shown_json(a, &meta, x))
            .take_while(|c| {
                bytes += c.to_string().len();
                bytes <= PAGE_BYTES
            })
            .collect();
        Ok(json!({
            "album": a.id,
            "title": a.title,
            "item": item,
            "total": list.len(),
            "offset": offset,
            "unread": self.unread(a, &meta),
            "comments": page,
        }))
    }

    /// Marks an album as seen and its comments read.
    pub(super) fn album_read(&mut self, album: &str) -> Result<Value, ApiError> {
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
        Ok(json!({"unread": 0}))
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
    fn count_all_unread(&self, album: &str, read_seq: u64) -> usize {
        self.store
            .comments(album)
            .unwrap_or_default()
            .iter()
            .filter(|e| self.is_unread(e, read_seq))
            .count()
    }

    /// Whether an entry counts as unread: someone else's, shown, above the read mark.
    fn is_unread(&self, e: &ThreadEntry, read_seq: u64) -> bool {
        e.seq > read_seq
            && !e.hidden
            && e.comment
                .as_ref()
                .is_some_and(|c| c.comment.author != self.me && !c.comment.deleted)
    }

    /// Keeps the thread's unread count right as `old` (stored now) becomes `new`; call before
    /// storing `new`.
    fn count_unread(
        &self,
        album: &str,
        meta: &mut ThreadMeta,
        old: Option<&ThreadEntry>,
        new: &ThreadEntry,
    ) {
        let before = match meta.unread {
            Some(n) => n,
            None => self.count_all_unread(album, meta.read_seq) as u64,
        };
        let was = old.is_some_and(|o| self.is_unread(o, meta.read_seq));
        let is = self.is_unread(new, meta.read_seq);
        meta.unread = Some((before + u64::from(is)).saturating_sub(u64::from(was)));
    }

    /// The album a comment target names (an album, or an item of one) and the item.
    fn comment_target(
        &self,
        target: &str,
        album: Option<&str>,
    ) -> Result<(SignedAlbum, Option<String>), ApiError> {
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
            .map(|s| (s, Some(t)))
            .ok_or_else(|| {
                ApiError::new(code::NOT_FOUND, format!("no album or item {target} here"))
            })
    }

    /// The album holding a comment and its thread entry (None: only in my outbox).
    fn find_comment(&self, id: &str) -> Result<(SignedAlbum, Option<ThreadEntry>), ApiError> {
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
            code::NOT_FOUND,
            format!("no comment {id} here"),
        ))
    }

    fn outboxed(&self, album: &str, id: &str) -> Result<Option<SignedComment>, ApiError> {
        self.store
            .comment_outbox_get(album, id)
            .map_err(ApiError::internal)
    }

    /// The newest version of a comment I know: in my outbox or in the thread.
    fn newest_version(&self, album: &str, id: &str) -> Result<Option<SignedComment>, ApiError> {
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
        let id = norm_id(id);
        let (s, _) = self.find_comment(&id)?;
        let c = self
            .newest_version(&s.album.id, &id)?
            .ok_or_else(|| ApiError::new(code::NOT_FOUND, "that comment's text is hidden"))?
            .comment;
        if c.author != self.me {
            return Err(ApiError::new(
                code::BAD_REQUEST,
                "only its author can change a comment",
            ));
        }
        if c.deleted {
            return Err(ApiError::new(code::NOT_FOUND, "that comment was deleted"));
        }
        Ok(c)
    }

    /// Signs my comment and puts it in the thread (my album) or in my outbox for the owner.
    fn submit(&mut self, c: Comment) -> Result<Value, ApiError> {
        let signed = c.sign(&self.identity);
        let (album, id) = (signed.comment.album.clone(), signed.comment.id.clone());
        let s = self
            .store
            .album(&album)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::new(code::NOT_FOUND, "the album is gone"))?;
        if s.album.owner == self.me {
            let me = self.me;
            self.thread_accept(me, signed).map_err(|(c, m)| {
                let c = if c == code::INTERNAL {
                    c
                } else {
                    code::BAD_REQUEST
                };
                ApiError::new(c, m)
            })?;
        } else {
            self.store
                .comment_outbox_put(&signed)
                .map_err(ApiError::internal)?;
            self.comment_event(&s.album, &id, false);
            self.post_outbox();
        }
        let mut reply = self.comment_reply(&album, &id)?;
        // Whether it waits for an owner who is not connected (it is on its way otherwise).
        reply["owner_offline"] = json!(s.album.owner != self.me && !self.is_online(&s.album.owner));
        Ok(reply)
    }

    fn comment_reply(&self, album: &str, id: &str) -> Result<Value, ApiError> {
        let s = self
            .store
            .album(album)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::new(code::NOT_FOUND, "the album is gone"))?;
        let meta = self.store.thread(album).map_err(ApiError::internal)?;
        let shown = self.shown_one(album, id)?;
        Ok(json!({"comment": self.shown_json(&s.album, &meta, &shown)}))
    }

    /// Every comment of an album as shown here: thread order, then my pending ones by time.
    fn shown(&self, album: &str) -> Result<Vec<Shown>, ApiError> {
        let mut queued: HashMap<String, SignedComment> = self
            .store
            .comment_outbox(album)
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

    fn shown_one(&self, album: &str, id: &str) -> Result<Shown, ApiError> {
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

    fn shown_json(&self, a: &Album, meta: &ThreadMeta, x: &Shown) -> Value {
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
        json!({
            "id": x.entry.as_ref().map(|e| e.id.clone()).or_else(|| c.map(|c| c.id.clone())),
            "album": a.id,
            "item": c.and_then(|c| c.item.clone()),
            "author": author,
            "author_name": name,
            "author_verified": mine || friend.is_some_and(|f| f.verified),
            "mine": mine,
            "at": c.map(|c| c.at),
            "edited": c.and_then(|c| c.edited),
            "text": c.map(|c| c.text.clone()).unwrap_or_default(),
            "reaction": c.and_then(|c| c.reaction.clone()),
            "deleted": c.is_some_and(|c| c.deleted),
            "hidden": hidden,
            "seq": seq,
            "pending": x.pending,
            "unread": !mine
                && !hidden
                && !c.is_some_and(|c| c.deleted)
                && seq.is_some_and(|s| s > meta.read_seq),
        })
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

    fn comment_event(&self, a: &Album, id: &str, new: bool) {
        let meta = self.store.thread(&a.id).unwrap_or_default();
        if let Ok(shown) = self.shown_one(&a.id, id) {
            let _ = self.events.send(Event::Comment {
                album: a.id.clone(),
                title: a.title.clone(),
                comment: self.shown_json(a, &meta, &shown),
                new,
            });
        }
    }

    /// The owner's side: puts a posted comment in an album's thread and relays it.
    fn thread_accept(&mut self, from: PeerId, signed: SignedComment) -> Result<(), Refusal> {
        let c = &signed.comment;
        if c.author != from {
            return Err(("not_author", "a comment must come from its author".into()));
        }
        let s = self
            .store
            .album(&c.album)
            .ok()
            .flatten()
            .filter(|s| s.album.owner == self.me && s.album.admits(&c.author));
        let Some(s) = s else {
            return Err(("not_shared", "no such album is shared with you".into()));
        };
        if c.item
            .as_ref()
            .is_some_and(|i| !s.album.items.iter().any(|x| &x.id == i))
        {
            return Err(("not_shared", "no such item in this album".into()));
        }
        let internal = |e: crate::store::StoreError| ("internal", e.to_string());
        let existing = self.store.comment(&c.album, &c.id).map_err(internal)?;
        let previous = existing.clone();
        let old = existing.as_ref().and_then(|e| e.comment.as_ref());
        let decision = accept(old, &signed).map_err(|m| ("bad_comment", m.to_string()))?;
        let mut meta = self.store.thread(&c.album).map_err(internal)?;
        let (seq, hidden) = match (decision, existing) {
            (Accept::Known, _) => return Ok(()),
            (Accept::Update, Some(e)) => (e.seq, e.hidden),
            _ => {
                if meta.next_seq as usize >= MAX_THREAD {
                    return Err((
                        "thread_full",
                        format!("this album has {MAX_THREAD} comments, the most it can hold"),
                    ));
                }
                meta.next_seq += 1;
                (meta.next_seq, false)
            }
        };
        meta.rev += 1;
        let entry = ThreadEntry {
            id: c.id.clone(),
            seq,
            rev: meta.rev,
            hidden,
            name: Some(self.name_of(&c.author)).filter(|n| !n.is_empty()),
            comment: Some(signed.clone()),
        };
        self.count_unread(&s.album.id, &mut meta, previous.as_ref(), &entry);
        // The meta goes first: after a crash between the two writes a number is skipped,
        // never given twice (the unanswered author posts again).
        self.store
            .put_thread(&s.album.id, &meta, &[])
            .map_err(internal)?;
        self.store
            .put_thread(&s.album.id, &meta, std::slice::from_ref(&entry))
            .map_err(internal)?;
        let new = decision == Accept::New && from != self.me;
        tracing::info!(album = %s.album.id, seq, from = %from.short(), "comment in thread");
        self.comment_event(&s.album, &entry.id, new);
        self.relay(&s.album, &entry);
        Ok(())
    }

    /// Sends a changed entry of my album's thread to every member connected now; the others
    /// catch up when they next connect.
    fn relay(&self, a: &Album, entry: &ThreadEntry) {
        for p in &a.audience {
            let Some(link) = self.links.get(p).filter(|_| self.is_online(p)) else {
                continue;
            };
            let msg = PeerMsg::Comments {
                album: a.id.clone(),
                since: entry.rev - 1,
                rev: entry.rev,
                entries: vec![entry.relayed_to(p)],
                more: false,
            };
            let conn = link.conn.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(ASK_TIMEOUT, crate::wire::ask(&conn, &msg)).await;
            });
        }
    }

    /// A peer's comment request: a post to my thread, a member catching up, or entries from
    /// an album's owner.
    pub(super) fn comment_request(&mut self, peer: PeerId, msg: PeerMsg) -> PeerReply {
        match msg {
            PeerMsg::CommentPost { comment } => match self.thread_accept(peer, comment) {
                Ok(()) => PeerReply::Answer(PeerMsg::Ok),
                Err((c, m)) => {
                    tracing::info!(peer = %peer.short(), code = c, "refused a comment: {m}");
                    refuse(c, &m)
                }
            },
            PeerMsg::GetComments { album, since } => self.serve_comments(peer, &album, since),
            PeerMsg::Comments {
                album,
                since,
                rev,
                entries,
                more: _,
            } => self.comments_in(peer, &album, since, rev, entries, false),
            _ => refuse("unexpected", "not expected here"),
        }
    }

    /// Answers a member asking for the entries of my album's thread changed after `since`.
    fn serve_comments(&self, peer: PeerId, album: &str, since: u64) -> PeerReply {
        let s = self
            .store
            .album(album)
            .ok()
            .flatten()
            .filter(|s| s.album.owner == self.me && s.album.admits(&peer));
        if s.is_none() {
            tracing::info!(peer = %peer.short(), "refused comments of an album not shared with this peer");
            return refuse("not_shared", "no such album is shared with you");
        }
        let (Ok(meta), Ok(all)) = (self.store.thread(album), self.store.comments(album)) else {
            return refuse(code::INTERNAL, "the store failed");
        };
        let mut changed: Vec<ThreadEntry> = all.into_iter().filter(|e| e.rev > since).collect();
        changed.sort_by_key(|e| e.rev);
        let more = changed.len() > MAX_ENTRIES;
        changed.truncate(MAX_ENTRIES);
        let rev = match changed.last() {
            Some(e) if more => e.rev,
            _ => meta.rev.max(since),
        };
        PeerReply::Answer(PeerMsg::Comments {
            album: album.to_string(),
            since,
            rev,
            entries: changed.iter().map(|e| e.relayed_to(&peer)).collect(),
            more,
        })
    }

    /// A member's side: applies entries from an album's owner; a gap in revisions starts a
    /// catch-up from the owner.
    pub(super) fn comments_in(
        &mut self,
        from: PeerId,
        album: &str,
        since: u64,
        rev: u64,
        entries: Vec<ThreadEntry>,
        pulled: bool,
    ) -> PeerReply {
        let s = self
            .store
            .album(album)
            .ok()
            .flatten()
            .filter(|s| !s.album.deleted && s.album.owner == from && s.album.admits(&self.me));
        let Some(s) = s else {
            return refuse("not_shared", "only an album's owner sends its comments");
        };
        let Ok(mut meta) = self.store.thread(album) else {
            return refuse(code::INTERNAL, "the store failed");
        };
        let mut changed = Vec::new();
        for e in entries {
            let old = self.store.comment(album, &e.id).ok().flatten();
            if old.as_ref().is_some_and(|o| o.rev >= e.rev) {
                continue;
            }
            self.count_unread(album, &mut meta, old.as_ref(), &e);
            changed.push((e, old.is_none()));
        }
        if since <= meta.rev {
            meta.rev = meta.rev.max(rev);
        } else if !pulled {
            self.pull_comments(from, album);
        }
        let list: Vec<ThreadEntry> = changed.iter().map(|(e, _)| e.clone()).collect();
        if let Err(e) = self.store.put_thread(album, &meta, &list) {
            return refuse(code::INTERNAL, &e.to_string());
        }
        for (e, first) in &changed {
            let author = e.comment.as_ref().map(|c| &c.comment);
            if let Some(c) = author.filter(|c| c.author == self.me) {
                let _ = self.store.comment_outbox_done(album, &e.id, c.v);
            }
            let by_other = author.is_some_and(|c| c.author != self.me);
            self.comment_event(&s.album, &e.id, *first && by_other);
        }
        PeerReply::Answer(PeerMsg::Ok)
    }

    /// Asks an album's owner for the thread entries I have not got, page by page.
    /// One pull per album at a time: asked again while one runs, another follows it.
    pub(super) fn pull_comments(&mut self, owner: PeerId, album: &str) {
        let Some(link) = self.links.get(&owner) else {
            return;
        };
        if let Some(again) = self.pulls.get_mut(album) {
            *again = true;
            return;
        }
        self.pulls.insert(album.to_string(), false);
        let mut since = self.store.thread(album).unwrap_or_default().rev;
        let (conn, tx, album) = (link.conn.clone(), self.tx.clone(), album.to_string());
        tokio::spawn(async move {
            loop {
                let ask = PeerMsg::GetComments {
                    album: album.clone(),
                    since,
                };
                let answer = tokio::time::timeout(ASK_TIMEOUT, crate::wire::ask(&conn, &ask)).await;
                let Ok(Ok((msg @ PeerMsg::Comments { .. }, _))) = answer else {
                    break;
                };
                let PeerMsg::Comments { rev, more, .. } = &msg else {
                    break;
                };
                let (rev, more) = (*rev, *more);
                if tx.send(Msg::CommentsIn { peer: owner, msg }).await.is_err() || !more {
                    break;
                }
                since = rev;
            }
            let _ = tx.send(Msg::CommentsPulled { peer: owner, album }).await;
        });
    }

    /// A pull ended; another one follows when it was asked for meanwhile.
    pub(super) fn comments_pulled(&mut self, owner: PeerId, album: &str) {
        if self.pulls.remove(album) == Some(true) {
            self.pull_comments(owner, album);
        }
    }

    /// On a connection to a peer: catch up on the threads of its albums and post my
    /// comments waiting for it.
    pub(super) fn comments_on_connect(&mut self, peer: PeerId) {
        for (owner, album) in self.others_albums() {
            if owner == peer {
                self.pull_comments(peer, &album);
            }
        }
        self.post_outbox();
    }

    /// Now and then: catch up with every connected owner, in case a relayed entry was lost.
    pub(super) fn catch_up_comments(&mut self) {
        for (owner, album) in self.others_albums() {
            if self.is_online(&owner) {
                self.pull_comments(owner, &album);
            }
        }
    }

    /// The albums others shared with me, with their owners.
    fn others_albums(&self) -> Vec<(PeerId, String)> {
        self.store
            .albums()
            .unwrap_or_default()
            .into_iter()
            .filter(|s| !s.album.deleted && s.album.owner != self.me)
            .map(|s| (s.album.owner, s.album.id))
            .collect()
    }

    /// Sends my waiting comments to the owners connected now (each once at a time).
    pub(super) fn post_outbox(&mut self) {
        let queued = match self.store.comment_outbox("") {
            Ok(q) => q,
            Err(e) => {
                tracing::error!("comment outbox: {e}");
                return;
            }
        };
        for c in queued {
            let key = format!("{}/{}/{}", c.comment.album, c.comment.id, c.comment.v);
            if self.posting.contains(&key) {
                continue;
            }
            let owner = match self.store.album(&c.comment.album) {
                Ok(Some(s)) if !s.album.deleted => s.album.owner,
                _ => {
                    let gone =
                        ApiError::new(code::NOT_FOUND, "the album is no longer shared with you");
                    self.comment_posted(&key, c.comment, Some(Err(gone)));
                    continue;
                }
            };
            let Some(link) = self.links.get(&owner).filter(|_| self.is_online(&owner)) else {
                continue;
            };
            self.posting.insert(key.clone());
            let (conn, tx) = (link.conn.clone(), self.tx.clone());
            tokio::spawn(async move {
                let post = PeerMsg::CommentPost { comment: c.clone() };
                let answer =
                    tokio::time::timeout(ASK_TIMEOUT, crate::wire::ask(&conn, &post)).await;
                let result = match answer {
                    Ok(Ok((PeerMsg::Ok, _))) => Some(Ok(())),
                    Ok(Ok((PeerMsg::Error { code, message }, _))) => {
                        Some(Err(ApiError::new(&code, message)))
                    }
                    _ => None, // not reached: tried again later
                };
                let _ = tx
                    .send(Msg::CommentPosted {
                        key,
                        comment: c.comment,
                        result,
                    })
                    .await;
            });
        }
    }

    /// The owner answered a post of mine.
    pub(super) fn comment_posted(
        &mut self,
        key: &str,
        c: Comment,
        result: Option<Result<(), ApiError>>,
    ) {
        self.posting.remove(key);
        match result {
            None => {}
            Some(Ok(())) => {
                let _ = self.store.comment_outbox_done(&c.album, &c.id, c.v);
            }
            Some(Err(error)) => {
                tracing::warn!(album = %c.album, code = %error.code, "my comment was not taken: {}", error.message);
                // A newer version still queued keeps its chance.
                if !matches!(
                    self.store.comment_outbox_done(&c.album, &c.id, c.v),
                    Ok(true)
                ) {
                    return;
                }
                let _ = self.events.send(Event::CommentFailed {
                    album: c.album,
                    id: c.id,
                    error,
                });
            }
        }
    }

    /// Forgets an album's thread (the album was unshared or I left its audience).
    pub(super) fn forget_thread(&self, album: &str) {
        if let Err(e) = self.store.remove_thread(album) {
            tracing::error!(album, "forgetting comments: {e}");
        }
    }

    /// Marks that the safety number with a friend was compared (or not).
    pub(super) fn friend_verify(&self, key: &str, verified: bool) -> Result<Value, ApiError> {
        let mut f = self.resolve_friend(key)?;
        f.verified = verified;
        self.store.put_friend(&f).map_err(ApiError::internal)?;
        Ok(json!({"friend": self.friend_json(&f)}))
    }
}
