//! The owner's side of an album's thread: which posted comments it takes, the `seq` and `rev`
//! each change gets, what is stored in one batch and which members it is relayed to; and the
//! pages a member catching up is sent.
//!
//! The thread's state is its stored [`ThreadMeta`] and entries: the actor reads them, calls a
//! function here and executes the [`Effect`]s in order. Nothing here reads the store or the
//! clock or touches the network. Unread counts, kept in the meta, are counted here too, for
//! the owner's thread and (through [`count_unread`]) for the members' copies.

use crate::core::access::thread_admits;
use crate::store::ThreadMeta;
use kith_proto::album::Album;
use kith_proto::comment::{accept, Accept, SignedComment, ThreadEntry, MAX_ENTRIES, MAX_THREAD};
use kith_proto::identity::PeerId;
use kith_proto::ids::{AlbumId, CommentId};
use kith_proto::peer::{PeerCode, PeerMsg};

/// Why a comment, or a request about a thread, is refused; [`Refusal::code`] is the peer
/// error code PROTOCOL.md gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The comment is posted by someone other than its author.
    #[error("a comment must come from its author")]
    NotAuthor,
    /// The album is not mine, or not shared with the peer.
    #[error("no such album is shared with you")]
    NotShared,
    /// The comment is about an item the album does not list.
    #[error("no such item in this album")]
    NoSuchItem,
    /// The comment clashes with the one it would replace.
    #[error("{0}")]
    BadComment(&'static str),
    /// The thread holds `MAX_THREAD` comments.
    #[error("this album has {MAX_THREAD} comments, the most it can hold")]
    ThreadFull,
    /// Thread entries came from someone other than the album's owner.
    #[error("only an album's owner sends its comments")]
    NotOwner,
    /// The author posted more than [`PostLimit`] allows: try again later.
    #[error(
        "too many comments at once: at most {POST_BURST} at once and {POSTS_PER_MINUTE} a minute"
    )]
    RateLimited,
}

impl Refusal {
    /// The error code a peer is answered with.
    pub fn code(&self) -> PeerCode {
        match self {
            Refusal::NotAuthor => PeerCode::NotAuthor,
            Refusal::NotShared | Refusal::NoSuchItem | Refusal::NotOwner => PeerCode::NotShared,
            Refusal::BadComment(_) => PeerCode::BadComment,
            Refusal::ThreadFull => PeerCode::ThreadFull,
            Refusal::RateLimited => PeerCode::RateLimited,
        }
    }
}

/// Comment posts (new comments, edits, deletions, reactions) an author may make at once.
pub const POST_BURST: u64 = 60;
/// Comment posts a minute an author may keep up after a burst.
pub const POSTS_PER_MINUTE: u64 = 60;
/// Authors whose buckets are kept before full ones are forgotten.
const KEPT_AUTHORS: usize = 1024;

/// A token bucket per author over comment posts: [`POST_BURST`] at once, then one every
/// 60 / [`POSTS_PER_MINUTE`] seconds (or the rate given to [`PostLimit::per_minute`]). The
/// owner asks it for every post from a peer, and the node for each of its user's own posts to
/// someone else's album; the time is given (milliseconds, any fixed origin).
#[derive(Debug)]
pub struct PostLimit {
    /// Per author: the credit in milliseconds of refill (a post costs one interval) and
    /// when it was counted.
    credit: std::collections::HashMap<PeerId, (u64, u64)>,
    /// Milliseconds of credit one post costs.
    cost: u64,
    /// The most credit an author has (a full bucket).
    full: u64,
}

impl Default for PostLimit {
    fn default() -> Self {
        PostLimit::per_minute(POSTS_PER_MINUTE, POST_BURST)
    }
}

impl PostLimit {
    /// A limit of `rate` posts a minute after a burst of `burst` (both at least 1).
    pub fn per_minute(rate: u64, burst: u64) -> Self {
        let cost = 60_000 / rate.clamp(1, 60_000);
        PostLimit {
            credit: Default::default(),
            cost,
            full: burst.max(1).saturating_mul(cost),
        }
    }

    /// Takes one post of `author`'s at `now_ms`, or refuses it with
    /// [`Refusal::RateLimited`] (a refused post costs nothing).
    pub fn take(&mut self, author: &PeerId, now_ms: u64) -> Result<(), Refusal> {
        if self.credit.len() >= KEPT_AUTHORS && !self.credit.contains_key(author) {
            // A full bucket is the same as none: forget those.
            let full = self.full;
            self.credit
                .retain(|_, (c, at)| c.saturating_add(now_ms.saturating_sub(*at)) < full);
        }
        let (credit, at) = self.credit.entry(*author).or_insert((self.full, now_ms));
        *credit = credit
            .saturating_add(now_ms.saturating_sub(*at))
            .min(self.full);
        *at = now_ms.max(*at);
        if *credit < self.cost {
            return Err(Refusal::RateLimited);
        }
        *credit -= self.cost;
        Ok(())
    }
}

/// What the actor does for the owner's thread, in this order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Write the thread's meta and these entries in one atomic batch.
    Store {
        /// Album ID.
        album: AlbumId,
        /// The thread's new meta.
        meta: ThreadMeta,
        /// The changed entries.
        entries: Vec<ThreadEntry>,
    },
    /// Tell the user's pages a comment changed (after the store write).
    Event {
        /// Album ID.
        album: AlbumId,
        /// Comment ID.
        id: CommentId,
        /// A comment by someone else, new in the thread.
        new: bool,
    },
    /// Send a changed entry to a member connected now (others catch up when they connect).
    Relay {
        /// The member.
        to: PeerId,
        /// A `comments` message carrying the one entry, as that member may see it.
        msg: PeerMsg,
    },
}

/// A comment posted to an album's thread, with what the actor read for it.
#[derive(Debug, Clone)]
pub struct Post<'a> {
    /// This node (the album's owner, if the album is mine).
    pub me: PeerId,
    /// Who posted it (`me` for my own comment on my album).
    pub from: PeerId,
    /// The album the comment names, as stored here (None: no such album).
    pub album: Option<&'a Album>,
    /// The thread's meta, its unread count counted.
    pub meta: ThreadMeta,
    /// The thread's entry under the comment's ID, if any.
    pub existing: Option<ThreadEntry>,
    /// The author's name as I know it (empty: unknown).
    pub name: String,
    /// The album's members connected now.
    pub online: &'a [PeerId],
    /// The posted comment, its signature verified.
    pub comment: SignedComment,
}

/// The owner takes a posted comment into its thread, or refuses it. A version the thread
/// has already (a post repeated after a lost answer) changes nothing and is no refusal.
pub fn on_post(p: Post<'_>) -> Result<Vec<Effect>, Refusal> {
    let c = &p.comment.comment;
    if c.author != p.from {
        return Err(Refusal::NotAuthor);
    }
    let a = p
        .album
        .filter(|a| thread_admits(&p.me, a, &c.author))
        .ok_or(Refusal::NotShared)?;
    if c.item
        .as_ref()
        .is_some_and(|i| !a.items.iter().any(|x| &x.id == i))
    {
        return Err(Refusal::NoSuchItem);
    }
    let old = p.existing.as_ref().and_then(|e| e.comment.as_ref());
    let decision = accept(old, &p.comment).map_err(Refusal::BadComment)?;
    let mut meta = p.meta;
    let (seq, hidden) = match (decision, &p.existing) {
        (Accept::Known, _) => return Ok(Vec::new()),
        (Accept::Update, Some(e)) => (e.seq, e.hidden),
        _ => {
            if meta.next_seq as usize >= MAX_THREAD {
                return Err(Refusal::ThreadFull);
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
        name: Some(p.name).filter(|n| !n.is_empty()),
        comment: Some(p.comment.clone()),
    };
    count_unread(&p.me, &mut meta, p.existing.as_ref(), &entry);
    let new = decision == Accept::New && p.from != p.me;
    Ok(changed(a, meta, entry, new, p.online))
}

/// The owner hides or shows an entry of its thread (nothing when it already is so).
pub fn on_hide(
    me: &PeerId,
    a: &Album,
    mut meta: ThreadMeta,
    mut entry: ThreadEntry,
    hidden: bool,
    online: &[PeerId],
) -> Vec<Effect> {
    if entry.hidden == hidden {
        return Vec::new();
    }
    let old = entry.clone();
    meta.rev += 1;
    entry.hidden = hidden;
    entry.rev = meta.rev;
    count_unread(me, &mut meta, Some(&old), &entry);
    changed(a, meta, entry, false, online)
}

/// A changed entry: stored with the meta, shown, relayed to the members connected now.
fn changed(
    a: &Album,
    meta: ThreadMeta,
    entry: ThreadEntry,
    new: bool,
    online: &[PeerId],
) -> Vec<Effect> {
    let mut out = vec![
        Effect::Store {
            album: a.id.clone(),
            meta,
            entries: vec![entry.clone()],
        },
        Effect::Event {
            album: a.id.clone(),
            id: entry.id.clone(),
            new,
        },
    ];
    for p in a.audience.iter().filter(|p| online.contains(p)) {
        out.push(Effect::Relay {
            to: *p,
            msg: PeerMsg::Comments {
                album: a.id.clone(),
                since: entry.rev - 1,
                rev: entry.rev,
                entries: vec![entry.relayed_to(p)],
                more: false,
            },
        });
    }
    out
}

/// The owner's answer to a member asking for the entries changed after `since`: at most
/// `MAX_ENTRIES`, oldest change first, with `more` when others follow.
pub fn serve(
    me: &PeerId,
    peer: &PeerId,
    album: Option<&Album>,
    meta: &ThreadMeta,
    all: Vec<ThreadEntry>,
    since: u64,
) -> Result<PeerMsg, Refusal> {
    let a = album
        .filter(|a| thread_admits(me, a, peer))
        .ok_or(Refusal::NotShared)?;
    let mut changed: Vec<ThreadEntry> = all.into_iter().filter(|e| e.rev > since).collect();
    changed.sort_by_key(|e| e.rev);
    let more = changed.len() > MAX_ENTRIES;
    changed.truncate(MAX_ENTRIES);
    let rev = match changed.last() {
        Some(e) if more => e.rev,
        _ => meta.rev.max(since),
    };
    Ok(PeerMsg::Comments {
        album: a.id.clone(),
        since,
        rev,
        entries: changed.iter().map(|e| e.relayed_to(peer)).collect(),
        more,
    })
}

/// Whether an entry counts as unread for `me`: someone else's, shown, above the read mark.
pub fn is_unread(me: &PeerId, e: &ThreadEntry, read_seq: u64) -> bool {
    e.seq > read_seq
        && !e.hidden
        && e.comment
            .as_ref()
            .is_some_and(|c| c.comment.author != *me && !c.comment.deleted)
}

/// Keeps the thread's unread count right as `old` (stored now) becomes `new`. A count not
/// kept yet (`None`) stays so; the actor counts the whole thread when it needs one.
pub fn count_unread(
    me: &PeerId,
    meta: &mut ThreadMeta,
    old: Option<&ThreadEntry>,
    new: &ThreadEntry,
) {
    let Some(before) = meta.unread else {
        return;
    };
    let was = old.is_some_and(|o| is_unread(me, o, meta.read_seq));
    let is = is_unread(me, new, meta.read_seq);
    meta.unread = Some((before + u64::from(is)).saturating_sub(u64::from(was)));
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kith_proto::album::{hex, AlbumItem};
    use kith_proto::comment::Comment;
    use kith_proto::identity::Identity;

    /// An album of `owner`'s shared with `audience`, listing one item.
    pub(crate) fn album(owner: &PeerId, audience: &[PeerId]) -> Album {
        Album {
            id: hex(&[1; 16]).into(),
            owner: *owner,
            version: 1,
            title: "Beach".into(),
            created: 1,
            items: vec![AlbumItem {
                id: hex(&[7; 32]).into(),
                name: "a.jpg".into(),
                size: 1,
                ..Default::default()
            }],
            audience: audience.to_vec(),
            deleted: false,
            link: None,
        }
    }

    /// A comment by `who` on `album`, its ID made of `n`.
    pub(crate) fn comment(who: &Identity, album: &Album, n: u8, text: &str) -> SignedComment {
        Comment {
            id: hex(&[n; 16]).into(),
            album: album.id.clone(),
            item: None,
            author: who.peer_id(),
            at: 1_700_000_000_000 + u64::from(n),
            v: 0,
            edited: None,
            text: text.into(),
            reaction: None,
            deleted: false,
        }
        .sign(who)
    }

    fn counted() -> ThreadMeta {
        ThreadMeta {
            unread: Some(0),
            ..Default::default()
        }
    }

    struct Three {
        owner: Identity,
        m: Identity,
        n: Identity,
        a: Album,
    }

    fn three() -> Three {
        let (owner, m, n) = (
            Identity::generate().unwrap(),
            Identity::generate().unwrap(),
            Identity::generate().unwrap(),
        );
        let a = album(&owner.peer_id(), &[m.peer_id(), n.peer_id()]);
        Three { owner, m, n, a }
    }

    fn post<'a>(t: &'a Three, from: &Identity, c: SignedComment, online: &'a [PeerId]) -> Post<'a> {
        Post {
            me: t.owner.peer_id(),
            from: from.peer_id(),
            album: Some(&t.a),
            meta: counted(),
            existing: None,
            name: "Mia".into(),
            online,
            comment: c,
        }
    }

    fn stored(effects: &[Effect]) -> (ThreadMeta, ThreadEntry) {
        match &effects[0] {
            Effect::Store { meta, entries, .. } => (meta.clone(), entries[0].clone()),
            e => panic!("expected the store write first, got {e:?}"),
        }
    }

    #[test]
    fn a_new_comment_gets_the_next_seq_and_rev_is_stored_shown_and_relayed_to_connected_members() {
        let t = three();
        let online = [t.n.peer_id()];
        let c = comment(&t.m, &t.a, 3, "lovely");
        let mut p = post(&t, &t.m, c.clone(), &online);
        p.meta.next_seq = 4;
        p.meta.rev = 9;
        let effects = on_post(p).unwrap();
        let (meta, entry) = stored(&effects);
        assert_eq!((meta.next_seq, meta.rev, meta.unread), (5, 10, Some(1)));
        assert_eq!((entry.seq, entry.rev), (5, 10));
        assert_eq!(entry.name.as_deref(), Some("Mia"));
        assert_eq!(entry.comment, Some(c.clone()));
        let id = c.comment.id.clone();
        assert_eq!(
            effects[1],
            Effect::Event {
                album: t.a.id.clone(),
                id,
                new: true
            }
        );
        // Only N is connected: M, the author, gets the entry when it next catches up.
        assert_eq!(effects.len(), 3);
        let Effect::Relay {
            to,
            msg:
                PeerMsg::Comments {
                    since,
                    rev,
                    entries,
                    ..
                },
        } = &effects[2]
        else {
            panic!("expected a relay, got {:?}", effects[2]);
        };
        assert_eq!((*to, *since, *rev), (t.n.peer_id(), 9, 10));
        assert_eq!(entries, &vec![entry]);
    }

    #[test]
    fn a_repeated_post_changes_nothing_and_an_edit_keeps_its_seq() {
        let t = three();
        let c = comment(&t.m, &t.a, 3, "lovely");
        let (meta, entry) = stored(&on_post(post(&t, &t.m, c.clone(), &[])).unwrap());
        let mut again = post(&t, &t.m, c.clone(), &[]);
        again.meta = meta.clone();
        again.existing = Some(entry.clone());
        assert_eq!(
            on_post(again).unwrap(),
            vec![],
            "delivered twice, threaded once"
        );

        let mut edit = c.comment.clone();
        edit.v = 1;
        edit.text = "lovelier".into();
        let mut p = post(&t, &t.m, edit.sign(&t.m), &[]);
        p.meta = meta;
        p.existing = Some(entry);
        let (meta, edited) = stored(&on_post(p).unwrap());
        assert_eq!((edited.seq, edited.rev, meta.next_seq), (1, 2, 1));
        assert_eq!(meta.unread, Some(1), "still one unread comment");
    }

    #[test]
    fn posts_by_another_than_the_author_strangers_or_about_unknown_items_are_refused() {
        let t = three();
        let c = comment(&t.m, &t.a, 3, "hi");
        assert_eq!(
            on_post(post(&t, &t.n, c.clone(), &[])),
            Err(Refusal::NotAuthor)
        );
        let stranger = Identity::generate().unwrap();
        let s = comment(&stranger, &t.a, 4, "let me in");
        assert_eq!(
            on_post(post(&t, &stranger, s, &[])),
            Err(Refusal::NotShared)
        );
        let mut p = post(&t, &t.m, c.clone(), &[]);
        p.album = None;
        assert_eq!(on_post(p), Err(Refusal::NotShared));
        let not_mine = album(&t.n.peer_id(), &[t.m.peer_id()]);
        let mut p = post(&t, &t.m, c.clone(), &[]);
        p.album = Some(&not_mine);
        assert_eq!(
            on_post(p),
            Err(Refusal::NotShared),
            "only the owner keeps a thread"
        );
        let mut x = c.comment.clone();
        x.item = Some(hex(&[8; 32]).into());
        assert_eq!(
            on_post(post(&t, &t.m, x.sign(&t.m), &[])),
            Err(Refusal::NoSuchItem)
        );
        // Someone else's comment ID cannot be taken over.
        let (_, entry) = stored(&on_post(post(&t, &t.m, c, &[])).unwrap());
        let mut theirs = comment(&t.n, &t.a, 3, "mine now").comment;
        theirs.v = 5;
        let mut p = post(&t, &t.n, theirs.sign(&t.n), &[]);
        p.existing = Some(entry);
        assert!(matches!(on_post(p), Err(Refusal::BadComment(_))));
        assert_eq!(Refusal::NoSuchItem.code(), PeerCode::NotShared);
    }

    #[test]
    fn a_full_thread_refuses_new_comments_but_takes_edits() {
        let t = three();
        let c = comment(&t.m, &t.a, 3, "one too many");
        let mut p = post(&t, &t.m, c.clone(), &[]);
        p.meta.next_seq = MAX_THREAD as u64;
        assert_eq!(on_post(p), Err(Refusal::ThreadFull));
        assert_eq!(Refusal::ThreadFull.code(), PeerCode::ThreadFull);
        let (_, entry) = stored(&on_post(post(&t, &t.m, c.clone(), &[])).unwrap());
        let mut edit = c.comment;
        edit.v = 1;
        let mut p = post(&t, &t.m, edit.sign(&t.m), &[]);
        p.meta.next_seq = MAX_THREAD as u64;
        p.existing = Some(entry);
        assert!(on_post(p).is_ok());
    }

    #[test]
    fn my_own_comment_is_not_new_to_me_nor_unread() {
        let t = three();
        let mine = comment(&t.owner, &t.a, 3, "welcome");
        let effects = on_post(post(&t, &t.owner, mine, &[])).unwrap();
        let (meta, _) = stored(&effects);
        assert_eq!(meta.unread, Some(0));
        assert!(matches!(effects[1], Effect::Event { new: false, .. }));
    }

    #[test]
    fn hiding_bumps_the_rev_clears_the_unread_and_relays_the_entry_without_its_text() {
        let t = three();
        let online = [t.m.peer_id(), t.n.peer_id()];
        let c = comment(&t.m, &t.a, 3, "oops");
        let (meta, entry) = stored(&on_post(post(&t, &t.m, c, &[])).unwrap());
        assert_eq!(meta.unread, Some(1));
        let me = t.owner.peer_id();
        let effects = on_hide(&me, &t.a, meta.clone(), entry.clone(), true, &online);
        let (hid_meta, hidden) = stored(&effects);
        assert_eq!((hid_meta.rev, hidden.rev, hidden.seq), (2, 2, 1));
        assert_eq!(hid_meta.unread, Some(0));
        let relayed: Vec<(PeerId, bool)> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Relay {
                    to,
                    msg: PeerMsg::Comments { entries, .. },
                } => Some((*to, entries[0].comment.is_some())),
                _ => None,
            })
            .collect();
        // The author still sees its hidden comment; the other member gets no text.
        assert_eq!(relayed, vec![(t.m.peer_id(), true), (t.n.peer_id(), false)]);
        assert!(on_hide(&me, &t.a, hid_meta, hidden, true, &online).is_empty());
    }

    #[test]
    fn a_member_catching_up_gets_pages_of_changes_after_its_rev_and_a_stranger_nothing() {
        let t = three();
        let me = t.owner.peer_id();
        let all: Vec<ThreadEntry> = (1..=(MAX_ENTRIES as u64 + 5))
            .map(|i| ThreadEntry {
                id: hex(&[0; 16]).into(),
                seq: i,
                rev: i,
                hidden: false,
                name: None,
                comment: None,
            })
            .collect();
        let meta = ThreadMeta {
            rev: MAX_ENTRIES as u64 + 5,
            ..Default::default()
        };
        let m = t.m.peer_id();
        let page = |since| serve(&me, &m, Some(&t.a), &meta, all.clone(), since).unwrap();
        let PeerMsg::Comments {
            rev, entries, more, ..
        } = page(0)
        else {
            panic!("expected comments");
        };
        assert_eq!(
            (rev, entries.len(), more),
            (MAX_ENTRIES as u64, MAX_ENTRIES, true)
        );
        let PeerMsg::Comments {
            rev, entries, more, ..
        } = page(rev)
        else {
            panic!("expected comments");
        };
        assert_eq!((rev, entries.len(), more), (meta.rev, 5, false));
        assert_eq!(entries[0].rev, MAX_ENTRIES as u64 + 1);
        let stranger = Identity::generate().unwrap().peer_id();
        assert_eq!(
            serve(&me, &stranger, Some(&t.a), &meta, all, 0),
            Err(Refusal::NotShared)
        );
    }

    #[test]
    fn an_uncounted_unread_stays_uncounted() {
        let t = three();
        let mut p = post(&t, &t.m, comment(&t.m, &t.a, 3, "hi"), &[]);
        p.meta.unread = None;
        let (meta, _) = stored(&on_post(p).unwrap());
        assert_eq!(meta.unread, None);
    }

    #[test]
    fn core_a_post_limit_of_another_rate_refills_at_that_rate() {
        let author = Identity::generate().unwrap().peer_id();
        let mut limit = PostLimit::per_minute(600, 2); // one every 100 ms, two at once
        assert!(limit.take(&author, 0).is_ok() && limit.take(&author, 0).is_ok());
        assert_eq!(limit.take(&author, 0), Err(Refusal::RateLimited));
        assert_eq!(limit.take(&author, 99), Err(Refusal::RateLimited));
        assert!(limit.take(&author, 100).is_ok());
    }

    #[test]
    fn the_hundredth_post_within_a_second_is_refused_with_rate_limited_and_the_bucket_refills() {
        let (ann, ben) = (
            Identity::generate().unwrap().peer_id(),
            Identity::generate().unwrap().peer_id(),
        );
        let mut limit = PostLimit::default();
        let t0 = 5_000_000; // fake clock, milliseconds
        let taken: Vec<bool> = (0..100u64)
            .map(|i| limit.take(&ann, t0 + i * 10).is_ok())
            .collect();
        assert_eq!(taken.iter().filter(|t| **t).count(), POST_BURST as usize);
        assert!(taken[..POST_BURST as usize].iter().all(|t| *t));
        assert_eq!(limit.take(&ann, t0 + 999), Err(Refusal::RateLimited));
        assert_eq!(Refusal::RateLimited.code(), PeerCode::RateLimited);
        assert_eq!(PeerCode::RateLimited.as_str(), "rate_limited");
        // Another author has a bucket of its own.
        assert_eq!(limit.take(&ben, t0 + 999), Ok(()));
        // Credit refills from the start: one post more each 60 / POSTS_PER_MINUTE seconds.
        let every = 60_000 / POSTS_PER_MINUTE;
        assert_eq!(limit.take(&ann, t0 + every - 1), Err(Refusal::RateLimited));
        assert_eq!(limit.take(&ann, t0 + every), Ok(()));
        assert_eq!(limit.take(&ann, t0 + every + 1), Err(Refusal::RateLimited));
        let later = t0 + 3_600_000;
        for _ in 0..POST_BURST {
            assert_eq!(limit.take(&ann, later), Ok(()));
        }
        assert_eq!(limit.take(&ann, later), Err(Refusal::RateLimited));
        // A clock that steps back gives no credit and takes none.
        assert_eq!(limit.take(&ann, t0), Err(Refusal::RateLimited));
    }
}
