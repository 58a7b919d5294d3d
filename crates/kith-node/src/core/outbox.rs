//! A member's side of comments: my comments queued for each album's owner, when each is
//! sent and what each answer does; and the catch-up on the threads of albums shared with
//! me (the `since` cursor per album, one pull at a time, page after page).
//!
//! The queue mirrors the stored outbox (the actor loads it at start and stores what the
//! effects say); posts to one owner go one at a time, oldest first, so the owner numbers them
//! in the order they were written. A post goes out when its owner is connected: at once, when
//! the owner connects, or after a failure on a retry timer that backs off. Inputs carry the
//! time; nothing here reads the clock, the store or the network.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::core::thread::{count_unread, Refusal};
use crate::store::ThreadMeta;
use kith_proto::album::Album;
use kith_proto::comment::{SignedComment, ThreadEntry};
use kith_proto::identity::PeerId;
use kith_proto::ids::{AlbumId, CommentId};
use kith_proto::peer::PeerCode;

/// The wait before posting again to an owner after a post that got no answer (a connection
/// that broke, a timeout); it doubles with each failure in a row.
pub const RETRY_FIRST: Duration = Duration::from_secs(1);
/// The longest wait between posts to an owner that keep failing while it stays connected.
pub const RETRY_MAX: Duration = Duration::from_secs(60);
/// How often every connected owner is asked for what I missed, in case a relay was lost.
pub const CATCH_UP_EVERY: Duration = Duration::from_secs(60);

/// An owner's answer to a post of mine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The owner has this version (or a newer one).
    Delivered,
    /// The owner refused it, with its error code and message.
    Refused {
        /// The peer error code.
        code: kith_proto::peer::PeerCode,
        /// The owner's message.
        message: String,
    },
    /// No answer: the connection broke or the post timed out.
    Failed,
}

/// What the actor does for the member's side, in this order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Post my comment to the album's owner, then report the answer with [`Outbox::on_answer`].
    Send {
        /// The album's owner.
        to: PeerId,
        /// The comment.
        comment: SignedComment,
    },
    /// Ask an album's owner for the entries changed after `since`, feed the answer to
    /// [`Outbox::on_entries`] (with `pulled`), then call [`Outbox::on_pulled`].
    Pull {
        /// The album's owner.
        owner: PeerId,
        /// Album ID.
        album: AlbumId,
        /// The revision I have.
        since: u64,
    },
    /// Take this version of my comment (or an older one) out of the stored outbox.
    Done {
        /// Album ID.
        album: AlbumId,
        /// Comment ID.
        id: CommentId,
        /// The version the owner has.
        v: u32,
    },
    /// Write entries from the owner with the thread's new meta, and take out of the stored
    /// outbox my comments they carry: one atomic batch.
    Store {
        /// Album ID.
        album: AlbumId,
        /// The thread's new meta (its `rev` is the catch-up cursor).
        meta: ThreadMeta,
        /// The entries that changed here.
        entries: Vec<ThreadEntry>,
        /// My comments the owner has, as (ID, version).
        outbox_done: Vec<(CommentId, u32)>,
    },
    /// Tell the user's pages a comment changed (after the store write).
    Event {
        /// Album ID.
        album: AlbumId,
        /// Comment ID.
        id: CommentId,
        /// A comment by someone else, seen here for the first time.
        new: bool,
    },
    /// Tell the user the owner refused a comment of mine (or its album is gone here); it is
    /// dropped.
    Failed {
        /// Album ID.
        album: AlbumId,
        /// Comment ID.
        id: CommentId,
        /// The owner's refusal code, or `not_found` when the album is gone here.
        code: PeerCode,
        /// The message.
        message: String,
    },
}

/// Entries an album's owner sent, with what the actor read for them.
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    /// This node.
    pub me: PeerId,
    /// Who sent them.
    pub from: PeerId,
    /// The album, as stored here (None: no such album).
    pub album: Option<&'a Album>,
    /// The thread's meta here, its unread count counted.
    pub meta: ThreadMeta,
    /// Each entry sent, with the one stored here under its ID.
    pub entries: Vec<(ThreadEntry, Option<ThreadEntry>)>,
    /// The revision the entries follow.
    pub since: u64,
    /// The thread's revision once they are applied.
    pub rev: u64,
    /// More follow (a page of a pull).
    pub more: bool,
    /// They answer my pull (not a relay).
    pub pulled: bool,
    /// The peers connected now.
    pub online: &'a [PeerId],
}

/// One comment waiting for its album's owner.
#[derive(Debug, Clone)]
struct Queued {
    /// The album's owner (None: the album is gone here).
    owner: Option<PeerId>,
    comment: SignedComment,
}

/// A post on its way: album, comment ID, version.
type Posting = (AlbumId, CommentId, u32);

/// Posting to one owner.
#[derive(Debug, Clone)]
struct Owner {
    in_flight: Option<Posting>,
    /// No post before this (after a failure).
    retry_at: Option<Instant>,
    /// The wait after the next failure.
    backoff: Duration,
}

impl Default for Owner {
    fn default() -> Owner {
        Owner {
            in_flight: None,
            retry_at: None,
            backoff: RETRY_FIRST,
        }
    }
}

/// An album shared with me whose thread I follow.
#[derive(Debug, Clone)]
struct Followed {
    owner: PeerId,
    /// The thread revision I have caught up to.
    since: u64,
}

/// A pull under way for one album.
#[derive(Debug, Clone, Default)]
struct Pull {
    /// The next page starts here.
    next: Option<u64>,
    /// Asked again while it ran: pull once more when it ends.
    again: bool,
}

/// The member's side: outbox and catch-up.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Oldest first.
    queue: Vec<Queued>,
    owners: HashMap<PeerId, Owner>,
    followed: HashMap<AlbumId, Followed>,
    pulls: HashMap<AlbumId, Pull>,
    next_catch_up: Option<Instant>,
}

fn posting(c: &SignedComment) -> Posting {
    (c.comment.album.clone(), c.comment.id.clone(), c.comment.v)
}

impl Outbox {
    /// Starts from the stored outbox (each comment with its album's owner, None when the
    /// album is gone) and the threads of albums shared with me (album, owner, revision).
    pub fn load(
        queued: Vec<(Option<PeerId>, SignedComment)>,
        threads: Vec<(AlbumId, PeerId, u64)>,
    ) -> Outbox {
        let mut queue: Vec<Queued> = queued
            .into_iter()
            .map(|(owner, comment)| Queued { owner, comment })
            .collect();
        queue.sort_by_key(|q| {
            let c = &q.comment.comment;
            (c.edited.unwrap_or(c.at), c.id.clone())
        });
        let followed = threads
            .into_iter()
            .map(|(album, owner, since)| (album, Followed { owner, since }))
            .collect();
        Outbox {
            queue,
            followed,
            ..Outbox::default()
        }
    }

    /// My comments waiting, oldest first.
    pub fn queued(&self) -> impl Iterator<Item = &SignedComment> {
        self.queue.iter().map(|q| &q.comment)
    }

    /// The revision of an album's thread I have caught up to (None: not followed).
    pub fn since(&self, album: &AlbumId) -> Option<u64> {
        self.followed.get(album).map(|f| f.since)
    }

    /// My new comment, or a new version of one, for the album's owner (stored by the actor
    /// already); a newer version takes the older one's place in the queue.
    pub fn queue(
        &mut self,
        owner: PeerId,
        c: SignedComment,
        now: Instant,
        online: &[PeerId],
    ) -> Vec<Effect> {
        let key = posting(&c);
        let q = Queued {
            owner: Some(owner),
            comment: c,
        };
        let same =
            |x: &&mut Queued| x.comment.comment.album == key.0 && x.comment.comment.id == key.1;
        match self.queue.iter_mut().find(same) {
            Some(old) if old.comment.comment.v < key.2 => *old = q,
            Some(_) => {}
            None => self.queue.push(q),
        }
        self.due(now, online)
    }

    /// Follows the thread of an album shared with me (from the revision stored), if not yet.
    pub fn follow(&mut self, owner: PeerId, album: &AlbumId, since: u64) {
        self.followed
            .entry(album.clone())
            .or_insert(Followed { owner, since });
    }

    /// Forgets an album (unshared, or I left its audience): its queued comments and thread.
    pub fn forget(&mut self, album: &AlbumId) {
        self.queue.retain(|q| q.comment.comment.album != *album);
        self.followed.remove(album);
    }

    /// A peer connected: catch up on the threads of its albums, and post to it at once.
    pub fn on_connect(&mut self, peer: PeerId, now: Instant, online: &[PeerId]) -> Vec<Effect> {
        let o = self.owners.entry(peer).or_default();
        o.retry_at = None;
        o.backoff = RETRY_FIRST;
        let mut albums: Vec<AlbumId> = self
            .followed
            .iter()
            .filter(|(_, f)| f.owner == peer)
            .map(|(a, _)| a.clone())
            .collect();
        albums.sort();
        let mut out: Vec<Effect> = albums.iter().filter_map(|a| self.pull(a, online)).collect();
        out.extend(self.due(now, online));
        out
    }

    /// The timer: posts whose retry is due; now and then, a catch-up with every connected
    /// owner.
    pub fn on_tick(&mut self, now: Instant, online: &[PeerId]) -> Vec<Effect> {
        let mut out = self.due(now, online);
        let next = *self.next_catch_up.get_or_insert(now + CATCH_UP_EVERY);
        if now >= next {
            self.next_catch_up = Some(now + CATCH_UP_EVERY);
            let mut albums: Vec<AlbumId> = self.followed.keys().cloned().collect();
            albums.sort();
            out.extend(albums.iter().filter_map(|a| self.pull(a, online)));
        }
        out
    }

    /// Asks an album's owner for what I missed: now, or once the pull under way ends.
    pub fn pull(&mut self, album: &AlbumId, online: &[PeerId]) -> Option<Effect> {
        let f = self
            .followed
            .get(album)
            .filter(|f| online.contains(&f.owner))?;
        if let Some(p) = self.pulls.get_mut(album) {
            p.again = true;
            return None;
        }
        self.pulls.insert(album.clone(), Pull::default());
        Some(Effect::Pull {
            owner: f.owner,
            album: album.clone(),
            since: f.since,
        })
    }

    /// One ask of a pull ended (answered or not): the next page, another pull if one was
    /// asked for meanwhile, or nothing.
    pub fn on_pulled(&mut self, album: &AlbumId, online: &[PeerId]) -> Option<Effect> {
        let p = self.pulls.remove(album)?;
        match (p.next, self.followed.get(album)) {
            (Some(since), Some(f)) if online.contains(&f.owner) => {
                let owner = f.owner;
                self.pulls.insert(
                    album.clone(),
                    Pull {
                        next: None,
                        again: p.again,
                    },
                );
                Some(Effect::Pull {
                    owner,
                    album: album.clone(),
                    since,
                })
            }
            _ if p.again => self.pull(album, online),
            _ => None,
        }
    }

    /// Entries from an album's owner (relayed, or answering my pull): the ones newer than
    /// mine are stored with the new cursor, my comments among them leave the outbox, and a
    /// gap in revisions starts a pull.
    pub fn on_entries(&mut self, e: Entries<'_>) -> Result<Vec<Effect>, Refusal> {
        let a = e
            .album
            .filter(|a| !a.deleted && a.owner == e.from && a.admits(&e.me))
            .ok_or(Refusal::NotOwner)?;
        let mut meta = e.meta;
        let mut changed = Vec::new();
        for (entry, old) in e.entries {
            if old.as_ref().is_some_and(|o| o.rev >= entry.rev) {
                continue;
            }
            count_unread(&e.me, &mut meta, old.as_ref(), &entry);
            changed.push((entry, old.is_none()));
        }
        let mut pull = None;
        if e.since <= meta.rev {
            meta.rev = meta.rev.max(e.rev);
        } else if !e.pulled {
            pull = Some(());
        }
        self.follow(a.owner, &a.id, meta.rev);
        if let Some(f) = self.followed.get_mut(&a.id) {
            f.since = meta.rev;
        }
        let mut outbox_done = Vec::new();
        for (entry, _) in &changed {
            let Some(c) = entry.comment.as_ref().map(|c| &c.comment) else {
                continue;
            };
            if c.author != e.me {
                continue;
            }
            let before = self.queue.len();
            self.queue.retain(|q| {
                let m = &q.comment.comment;
                !(m.album == c.album && m.id == c.id && m.v <= c.v)
            });
            if self.queue.len() < before {
                outbox_done.push((c.id.clone(), c.v));
            }
        }
        let mut out = vec![Effect::Store {
            album: a.id.clone(),
            meta,
            entries: changed.iter().map(|(x, _)| x.clone()).collect(),
            outbox_done,
        }];
        for (entry, first) in &changed {
            let by_other = entry
                .comment
                .as_ref()
                .is_some_and(|c| c.comment.author != e.me);
            out.push(Effect::Event {
                album: a.id.clone(),
                id: entry.id.clone(),
                new: *first && by_other,
            });
        }
        if e.pulled && e.more {
            if let Some(p) = self.pulls.get_mut(&a.id) {
                p.next = Some(e.rev);
            }
        }
        if pull.is_some() {
            out.extend(self.pull(&a.id, e.online));
        }
        Ok(out)
    }

    /// The owner answered a post of mine (`to` is the owner it was sent to).
    pub fn on_answer(
        &mut self,
        to: PeerId,
        c: &SignedComment,
        answer: Answer,
        now: Instant,
        online: &[PeerId],
    ) -> Vec<Effect> {
        let key = posting(c);
        let o = self.owners.entry(to).or_default();
        if o.in_flight.as_ref() == Some(&key) {
            o.in_flight = None;
        }
        let mut out = Vec::new();
        match answer {
            // Refused for posting too fast: tried again later, as when not answered.
            Answer::Failed
            | Answer::Refused {
                code: kith_proto::peer::PeerCode::RateLimited,
                ..
            } => {
                o.retry_at = Some(now + o.backoff);
                o.backoff = (o.backoff * 2).min(RETRY_MAX);
            }
            Answer::Delivered => {
                o.backoff = RETRY_FIRST;
                if self.take(&key) {
                    out.push(done(&key));
                }
            }
            Answer::Refused { code, message } => {
                o.backoff = RETRY_FIRST;
                // A newer version still queued keeps its chance.
                if self.take(&key) {
                    out.push(done(&key));
                    out.push(Effect::Failed {
                        album: key.0,
                        id: key.1,
                        code,
                        message,
                    });
                }
            }
        }
        out.extend(self.due(now, online));
        out
    }

    /// Takes a comment out of the queue if the version queued is this one or older.
    fn take(&mut self, key: &Posting) -> bool {
        let before = self.queue.len();
        self.queue.retain(|q| {
            let c = &q.comment.comment;
            !(c.album == key.0 && c.id == key.1 && c.v <= key.2)
        });
        self.queue.len() < before
    }

    /// The posts that can go now: the oldest queued for each connected owner with nothing
    /// on its way and no retry pending; a comment whose album is gone is dropped.
    fn due(&mut self, now: Instant, online: &[PeerId]) -> Vec<Effect> {
        let mut out = Vec::new();
        let mut seen: Vec<PeerId> = Vec::new();
        let mut gone = Vec::new();
        for q in &self.queue {
            let Some(owner) = q.owner else {
                gone.push(posting(&q.comment));
                continue;
            };
            if seen.contains(&owner) {
                continue;
            }
            seen.push(owner);
            let o = self.owners.entry(owner).or_default();
            let waiting = o.retry_at.is_some_and(|t| t > now);
            if o.in_flight.is_some() || waiting || !online.contains(&owner) {
                continue;
            }
            o.retry_at = None;
            o.in_flight = Some(posting(&q.comment));
            out.push(Effect::Send {
                to: owner,
                comment: q.comment.clone(),
            });
        }
        for key in gone {
            self.take(&key);
            out.push(done(&key));
            out.push(Effect::Failed {
                album: key.0,
                id: key.1,
                code: PeerCode::NotFound,
                message: "the album is no longer shared with you".into(),
            });
        }
        out
    }
}

fn done(key: &Posting) -> Effect {
    Effect::Done {
        album: key.0.clone(),
        id: key.1.clone(),
        v: key.2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::thread::tests::{album, comment};
    use kith_proto::identity::Identity;

    struct Member {
        me: Identity,
        owner: PeerId,
        a: Album,
        t0: Instant,
    }

    fn member() -> Member {
        let me = Identity::generate().unwrap();
        let owner = Identity::generate().unwrap().peer_id();
        let a = album(&owner, &[me.peer_id()]);
        Member {
            me,
            owner,
            a,
            t0: Instant::now(),
        }
    }

    fn sends(effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send { comment, .. } => Some(comment.comment.text.clone()),
                _ => None,
            })
            .collect()
    }

    fn entry(c: &SignedComment, seq: u64, rev: u64) -> ThreadEntry {
        ThreadEntry {
            id: c.comment.id.clone(),
            seq,
            rev,
            hidden: false,
            name: None,
            comment: Some(c.clone()),
        }
    }

    fn entries<'a>(
        m: &'a Member,
        list: Vec<(ThreadEntry, Option<ThreadEntry>)>,
        since: u64,
        rev: u64,
        online: &'a [PeerId],
    ) -> Entries<'a> {
        Entries {
            me: m.me.peer_id(),
            from: m.owner,
            album: Some(&m.a),
            meta: ThreadMeta {
                unread: Some(0),
                ..Default::default()
            },
            entries: list,
            since,
            rev,
            more: false,
            pulled: false,
            online,
        }
    }

    #[test]
    fn comments_wait_while_the_owner_is_away_and_go_one_at_a_time_oldest_first_when_it_connects() {
        let m = member();
        let mut o = Outbox::default();
        let (c1, c2) = (
            comment(&m.me, &m.a, 1, "first"),
            comment(&m.me, &m.a, 2, "second"),
        );
        assert!(o.queue(m.owner, c1.clone(), m.t0, &[]).is_empty());
        assert!(o.queue(m.owner, c2.clone(), m.t0, &[]).is_empty());
        assert!(o.on_tick(m.t0 + Duration::from_secs(5), &[]).is_empty());
        let online = [m.owner];
        let t = m.t0 + Duration::from_secs(6);
        let out = o.on_connect(m.owner, t, &online);
        assert_eq!(sends(&out), vec!["first"]);
        assert!(
            sends(&o.on_tick(t, &online)).is_empty(),
            "one on its way at a time"
        );
        let out = o.on_answer(m.owner, &c1, Answer::Delivered, t, &online);
        assert_eq!(out[0], done(&posting(&c1)));
        assert_eq!(sends(&out), vec!["second"]);
        let out = o.on_answer(m.owner, &c2, Answer::Delivered, t, &online);
        assert_eq!(out, vec![done(&posting(&c2))]);
        assert_eq!(o.queued().count(), 0);
    }

    #[test]
    fn a_post_refused_as_rate_limited_stays_queued_and_is_sent_again_later() {
        let m = member();
        let mut o = Outbox::default();
        let online = [m.owner];
        let c = comment(&m.me, &m.a, 1, "hello");
        o.queue(m.owner, c.clone(), m.t0, &online);
        let limited = Answer::Refused {
            code: PeerCode::RateLimited,
            message: "slow down".into(),
        };
        assert!(o.on_answer(m.owner, &c, limited, m.t0, &online).is_empty());
        assert_eq!(o.queued().count(), 1);
        assert_eq!(
            sends(&o.on_tick(m.t0 + RETRY_FIRST, &online)),
            vec!["hello"]
        );
    }

    #[test]
    fn a_post_that_gets_no_answer_is_retried_later_and_later_until_the_owner_reconnects() {
        let m = member();
        let mut o = Outbox::default();
        let online = [m.owner];
        let c = comment(&m.me, &m.a, 1, "hello");
        assert_eq!(
            sends(&o.queue(m.owner, c.clone(), m.t0, &online)),
            vec!["hello"]
        );
        let mut t = m.t0;
        for wait in [1, 2, 4, 8, 16, 32, 60, 60] {
            assert!(o
                .on_answer(m.owner, &c, Answer::Failed, t, &online)
                .is_empty());
            let wait = Duration::from_secs(wait);
            let early = t + wait - Duration::from_millis(1);
            assert!(
                sends(&o.on_tick(early, &online)).is_empty(),
                "not before {wait:?}"
            );
            t += wait;
            assert_eq!(
                sends(&o.on_tick(t, &online)),
                vec!["hello"],
                "again after {wait:?}"
            );
        }
        // The owner reconnects: the wait starts over, and a post goes at once.
        assert!(o
            .on_answer(m.owner, &c, Answer::Failed, t, &online)
            .is_empty());
        assert_eq!(sends(&o.on_connect(m.owner, t, &online)), vec!["hello"]);
        assert!(o
            .on_answer(m.owner, &c, Answer::Failed, t, &online)
            .is_empty());
        assert!(sends(&o.on_tick(t + Duration::from_millis(999), &online)).is_empty());
        assert_eq!(sends(&o.on_tick(t + RETRY_FIRST, &online)), vec!["hello"]);
    }

    #[test]
    fn a_refused_comment_is_dropped_and_told_unless_a_newer_version_waits() {
        let m = member();
        let mut o = Outbox::default();
        let online = [m.owner];
        let c = comment(&m.me, &m.a, 1, "rude");
        o.queue(m.owner, c.clone(), m.t0, &online);
        let refused = Answer::Refused {
            code: "bad_comment".into(),
            message: "no".into(),
        };
        let out = o.on_answer(m.owner, &c, refused.clone(), m.t0, &online);
        assert_eq!(
            out,
            vec![
                done(&posting(&c)),
                Effect::Failed {
                    album: m.a.id.clone(),
                    id: c.comment.id.clone(),
                    code: PeerCode::BadComment,
                    message: "no".into()
                }
            ]
        );
        assert_eq!(o.queued().count(), 0);

        // v0 is on its way when the author edits it: v1 replaces it in the queue, and the
        // answer to v0 leaves v1 queued and sends it.
        let v0 = comment(&m.me, &m.a, 2, "typo");
        o.queue(m.owner, v0.clone(), m.t0, &online);
        let mut v1 = v0.comment.clone();
        v1.v = 1;
        v1.text = "fixed".into();
        let v1 = v1.sign(&m.me);
        assert!(sends(&o.queue(m.owner, v1.clone(), m.t0, &online)).is_empty());
        let out = o.on_answer(m.owner, &v0, refused, m.t0, &online);
        assert_eq!(sends(&out), vec!["fixed"]);
        assert!(!out.iter().any(|e| matches!(e, Effect::Failed { .. })));
        // An older version queued again changes nothing.
        o.queue(m.owner, v0, m.t0, &[]);
        assert_eq!(o.queued().cloned().collect::<Vec<_>>(), vec![v1]);
    }

    #[test]
    fn a_comment_whose_album_is_gone_is_dropped_and_told() {
        let m = member();
        let c = comment(&m.me, &m.a, 1, "orphan");
        let mut o = Outbox::load(vec![(None, c.clone())], vec![]);
        let out = o.on_tick(m.t0, &[]);
        assert_eq!(out[0], done(&posting(&c)));
        assert!(matches!(&out[1], Effect::Failed { code, .. } if *code == PeerCode::NotFound));
        assert_eq!(o.queued().count(), 0);
        // Forgetting an album drops its queue silently.
        o.queue(m.owner, c, m.t0, &[]);
        o.forget(&m.a.id);
        assert_eq!(o.queued().count(), 0);
    }

    #[test]
    fn loading_the_stored_outbox_queues_by_the_time_each_version_was_written() {
        let m = member();
        let early = comment(&m.me, &m.a, 1, "early");
        let mut edited = comment(&m.me, &m.a, 0, "edited late").comment;
        edited.v = 1;
        edited.edited = Some(edited.at + 10_000);
        let edited = edited.sign(&m.me);
        let late = comment(&m.me, &m.a, 9, "late");
        let o = Outbox::load(
            vec![
                (Some(m.owner), edited),
                (Some(m.owner), late),
                (Some(m.owner), early),
            ],
            vec![],
        );
        let texts: Vec<&str> = o.queued().map(|c| c.comment.text.as_str()).collect();
        assert_eq!(texts, vec!["early", "late", "edited late"]);
    }

    #[test]
    fn entries_from_the_owner_advance_the_cursor_drop_my_delivered_comments_and_a_gap_pulls() {
        let m = member();
        let other = Identity::generate().unwrap();
        let mut o = Outbox::load(vec![], vec![(m.a.id.clone(), m.owner, 0)]);
        let online = [m.owner];
        let mine = comment(&m.me, &m.a, 1, "mine");
        o.queue(m.owner, mine.clone(), m.t0, &[]);
        let theirs = comment(&other, &m.a, 2, "theirs");
        let list = vec![(entry(&mine, 1, 1), None), (entry(&theirs, 2, 2), None)];
        let out = o.on_entries(entries(&m, list, 0, 2, &online)).unwrap();
        let Effect::Store {
            meta,
            entries: stored,
            outbox_done,
            ..
        } = &out[0]
        else {
            panic!("expected the store write first");
        };
        assert_eq!((meta.rev, meta.unread, stored.len()), (2, Some(1), 2));
        assert_eq!(outbox_done, &vec![(mine.comment.id.clone(), 0)]);
        assert_eq!(
            o.queued().count(),
            0,
            "delivered by the relay: not posted again"
        );
        let news: Vec<bool> = out[1..]
            .iter()
            .map(|e| matches!(e, Effect::Event { new: true, .. }))
            .collect();
        assert_eq!(
            news,
            vec![false, true],
            "only someone else's comment is news"
        );
        assert_eq!(o.since(&m.a.id), Some(2));

        // An entry I have at that revision already changes nothing; a relay after a gap
        // (rev 5 follows 4, I have 2) keeps the cursor and pulls from 2.
        let again = entry(&theirs, 2, 2);
        let list = vec![(again.clone(), Some(again))];
        let mut relay = entries(&m, list, 4, 5, &online);
        relay.meta.rev = 2;
        let out = o.on_entries(relay).unwrap();
        assert!(
            matches!(&out[0], Effect::Store { entries, meta, .. } if entries.is_empty() && meta.rev == 2)
        );
        assert_eq!(
            out.last(),
            Some(&Effect::Pull {
                owner: m.owner,
                album: m.a.id.clone(),
                since: 2
            })
        );
        let stranger = Identity::generate().unwrap().peer_id();
        let mut e = entries(&m, vec![], 0, 9, &online);
        e.from = stranger;
        assert_eq!(o.on_entries(e), Err(Refusal::NotOwner));
    }

    #[test]
    fn a_pull_goes_page_by_page_and_one_asked_for_meanwhile_follows_it() {
        let m = member();
        let mut o = Outbox::load(vec![], vec![(m.a.id.clone(), m.owner, 3)]);
        let online = [m.owner];
        assert!(o.pull(&m.a.id, &[]).is_none(), "the owner is away");
        let pull = |since| Effect::Pull {
            owner: m.owner,
            album: m.a.id.clone(),
            since,
        };
        assert_eq!(o.on_connect(m.owner, m.t0, &online), vec![pull(3)]);
        assert_eq!(o.pull(&m.a.id, &online), None, "one pull at a time");
        let mut page = entries(&m, vec![], 3, 200, &online);
        page.meta.rev = 3;
        page.pulled = true;
        page.more = true;
        o.on_entries(page).unwrap();
        assert_eq!(o.on_pulled(&m.a.id, &online), Some(pull(200)));
        assert_eq!(
            o.on_pulled(&m.a.id, &online),
            Some(pull(200)),
            "asked again meanwhile"
        );
        assert_eq!(o.on_pulled(&m.a.id, &online), None);
    }

    #[test]
    fn every_minute_each_connected_owner_is_asked_for_what_i_missed() {
        let m = member();
        let away = Identity::generate().unwrap().peer_id();
        let b = kith_proto::album::hex(&[2; 16]);
        let mut o = Outbox::load(
            vec![],
            vec![(m.a.id.clone(), m.owner, 7), (b.into(), away, 0)],
        );
        let online = [m.owner];
        assert!(o.on_tick(m.t0, &online).is_empty());
        assert!(o.on_tick(m.t0 + CATCH_UP_EVERY / 2, &online).is_empty());
        let out = o.on_tick(m.t0 + CATCH_UP_EVERY, &online);
        assert_eq!(
            out,
            vec![Effect::Pull {
                owner: m.owner,
                album: m.a.id.clone(),
                since: 7
            }]
        );
    }
}
