//! Connections to peers: at most one link per peer, which of two connections wins, and when
//! to dial a peer again.
//!
//! The connection handle `C` is opaque here (the actor uses `quinn::Connection`; tests use a
//! number): this module decides, the actor closes what it is told to close.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kith_proto::identity::PeerId;

/// The first wait after a failed dial, and after a link closes: a peer that restarts is back
/// within about a second.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// The longest wait between dials of an unreachable peer: a friend that comes online is found
/// within half a minute without flooding a peer that stays away.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What decides between two connections to the same peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    /// The connection's ID (unique among this node's connections).
    pub id: usize,
    /// The peer's `boot` from its hello: a new value is a restarted peer.
    pub boot: u64,
    /// Whether this node dialled it.
    pub dialed_by_me: bool,
    /// Whether it runs through a friend's relay rather than directly.
    pub relayed: bool,
}

/// A peer's link: its connection and what decided for it.
#[derive(Debug, Clone)]
pub struct Link<C> {
    /// The connection handle.
    pub conn: C,
    /// What decides between it and a newer one.
    pub info: ConnInfo,
}

/// The outcome of [`Links::connected`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered<C> {
    /// The new connection is the peer's link now; `replaced` is the old one, to close.
    Kept {
        /// The link it replaced (to close as a duplicate).
        replaced: Option<C>,
    },
    /// The existing link stays; the new connection is to be closed as a duplicate.
    Lost,
}

/// One link per peer.
#[derive(Debug)]
pub struct Links<C> {
    me: PeerId,
    up: HashMap<PeerId, Link<C>>,
}

impl<C: Clone> Links<C> {
    /// No links yet, for the node with key `me`.
    pub fn new(me: PeerId) -> Self {
        Links {
            me,
            up: HashMap::new(),
        }
    }

    /// A connection to `peer` finished its hello. `old_live`: whether the current link's
    /// connection is still open. Decides which of the two both ends keep:
    /// * a direct connection always wins over a relayed one;
    /// * when both sides dialled each other in the same run of the peer, the one dialled by
    ///   the smaller key wins (both ends compute the same answer);
    /// * otherwise the newer connection wins (the old one belongs to a past run or is dead).
    pub fn connected(
        &mut self,
        peer: PeerId,
        conn: C,
        new: ConnInfo,
        old_live: bool,
    ) -> Registered<C> {
        if let Some(old) = self.up.get(&peer) {
            let o = old.info;
            if old_live && o.relayed != new.relayed {
                if new.relayed {
                    return Registered::Lost;
                }
            } else if old_live && o.boot == new.boot && o.dialed_by_me != new.dialed_by_me {
                let dialer = |by_me: bool| if by_me { self.me } else { peer };
                if dialer(o.dialed_by_me) < dialer(new.dialed_by_me) {
                    return Registered::Lost;
                }
            }
        }
        let replaced = self
            .up
            .insert(peer, Link { conn, info: new })
            .map(|l| l.conn);
        Registered::Kept { replaced }
    }

    /// A connection closed; true when it was `peer`'s link (the peer is offline now).
    pub fn closed(&mut self, peer: &PeerId, conn_id: usize) -> bool {
        if self.up.get(peer).is_some_and(|l| l.info.id == conn_id) {
            self.up.remove(peer);
            return true;
        }
        false
    }

    /// The peer's link, if any (its connection may have closed a moment ago).
    pub fn get(&self, peer: &PeerId) -> Option<&Link<C>> {
        self.up.get(peer)
    }

    /// Takes the peer's link away (to close it).
    pub fn remove(&mut self, peer: &PeerId) -> Option<Link<C>> {
        self.up.remove(peer)
    }

    /// The peers with a link.
    pub fn keys(&self) -> impl Iterator<Item = &PeerId> {
        self.up.keys()
    }

    /// Each peer with its link.
    pub fn iter(&self) -> impl Iterator<Item = (&PeerId, &Link<C>)> {
        self.up.iter()
    }
}

/// Dialling one peer.
#[derive(Debug, Default, Clone)]
pub struct Dial {
    /// Not before this time (None: now).
    pub next: Option<Instant>,
    /// The wait after the next failure is twice this (within the bounds above).
    pub backoff: Duration,
    /// A dial is under way.
    pub in_flight: bool,
    /// Why the last dial failed, while the peer stays unreachable.
    pub last_error: Option<String>,
}

/// When to dial each peer.
#[derive(Debug, Default)]
pub struct Dials {
    by_peer: HashMap<PeerId, Dial>,
}

impl Dials {
    /// Whether a dial of `peer` may start now: none is under way and its wait is over.
    pub fn may_dial(&self, peer: &PeerId, now: Instant) -> bool {
        self.by_peer
            .get(peer)
            .is_none_or(|d| !d.in_flight && d.next.is_none_or(|n| n <= now))
    }

    /// A dial of `peer` started.
    pub fn started(&mut self, peer: PeerId) {
        self.by_peer.entry(peer).or_default().in_flight = true;
    }

    /// A dial of `peer` failed; the next waits twice as long as the last (1 s to 30 s).
    /// `online`: another connection got through meanwhile, so the failure is no error.
    pub fn failed(&mut self, peer: PeerId, online: bool, error: String, now: Instant) {
        let d = self.by_peer.entry(peer).or_default();
        d.in_flight = false;
        d.backoff = (d.backoff * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
        d.next = Some(now + d.backoff);
        if !online {
            d.last_error = Some(error);
        }
    }

    /// A dial of `peer` got through its hello.
    pub fn finished(&mut self, peer: &PeerId) {
        if let Some(d) = self.by_peer.get_mut(peer) {
            d.in_flight = false;
        }
    }

    /// `peer` is connected (either way): the next loss starts over with a short wait.
    pub fn connected(&mut self, peer: PeerId) {
        let d = self.by_peer.entry(peer).or_default();
        d.backoff = BACKOFF_MIN;
        d.last_error = None;
    }

    /// `peer`'s link closed: dial again after the shortest wait.
    pub fn lost(&mut self, peer: PeerId, now: Instant) {
        let d = self.by_peer.entry(peer).or_default();
        d.backoff = BACKOFF_MIN;
        d.next = Some(now + d.backoff);
    }

    /// What is known about dialling `peer`.
    pub fn get(&self, peer: &PeerId) -> Option<&Dial> {
        self.by_peer.get(peer)
    }

    /// Forgets `peer` (no longer a friend).
    pub fn forget(&mut self, peer: &PeerId) {
        self.by_peer.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_proto::identity::Identity;

    fn key() -> PeerId {
        Identity::generate().expect("a fresh key").peer_id()
    }

    fn info(id: usize, boot: u64, dialed_by_me: bool, relayed: bool) -> ConnInfo {
        ConnInfo {
            id,
            boot,
            dialed_by_me,
            relayed,
        }
    }

    /// Both ends of a crossed dial, each with its own view of who dialled.
    fn crossed_dial(a: PeerId, b: PeerId) -> (usize, usize) {
        let (mut at_a, mut at_b) = (Links::new(a), Links::new(b));
        // Connection 1: a dialled b. Connection 2: b dialled a. Each end sees both, in
        // opposite orders.
        let keep = |l: &mut Links<usize>, peer, first: ConnInfo, second: ConnInfo| {
            l.connected(peer, first.id, first, true);
            l.connected(peer, second.id, second, true);
            l.get(&peer).map(|x| x.conn).unwrap_or(0)
        };
        let kept_a = keep(
            &mut at_a,
            b,
            info(1, 7, true, false),
            info(2, 7, false, false),
        );
        let kept_b = keep(
            &mut at_b,
            a,
            info(1, 9, false, false),
            info(2, 9, true, false),
        );
        (kept_a, kept_b)
    }

    #[test]
    fn both_ends_of_a_crossed_dial_keep_the_same_connection() {
        for _ in 0..8 {
            let (a, b) = (key(), key());
            let (kept_a, kept_b) = crossed_dial(a, b);
            assert_eq!(kept_a, kept_b, "the two ends disagree");
            let by_smaller = if a < b { 1 } else { 2 };
            assert_eq!(
                kept_a, by_smaller,
                "the connection dialled by the smaller key wins"
            );
        }
    }

    #[test]
    fn a_direct_connection_wins_over_a_relayed_one_either_way_round() {
        let (me, peer) = (key(), key());
        let mut l = Links::new(me);
        l.connected(peer, 1, info(1, 5, true, true), false);
        let r = l.connected(peer, 2, info(2, 5, false, false), true);
        assert_eq!(r, Registered::Kept { replaced: Some(1) });
        let r = l.connected(peer, 3, info(3, 5, true, true), true);
        assert_eq!(r, Registered::Lost);
        assert_eq!(l.get(&peer).map(|x| x.conn), Some(2));
    }

    #[test]
    fn a_restarted_peer_replaces_its_old_link() {
        let (me, peer) = (key(), key());
        let mut l = Links::new(me);
        l.connected(peer, 1, info(1, 5, true, false), true);
        let r = l.connected(peer, 2, info(2, 6, false, false), true);
        assert_eq!(r, Registered::Kept { replaced: Some(1) });
    }

    #[test]
    fn a_dead_link_is_replaced_whoever_dialled() {
        let (me, peer) = (key(), key());
        let mut l = Links::new(me);
        l.connected(peer, 1, info(1, 5, true, false), true);
        let r = l.connected(peer, 2, info(2, 5, false, true), false);
        assert_eq!(r, Registered::Kept { replaced: Some(1) });
    }

    #[test]
    fn only_the_current_link_closing_takes_a_peer_offline() {
        let (me, peer) = (key(), key());
        let mut l = Links::new(me);
        l.connected(peer, 1, info(1, 5, true, false), true);
        l.connected(peer, 2, info(2, 6, true, false), true);
        assert!(
            !l.closed(&peer, 1),
            "the replaced connection closing is no news"
        );
        assert!(l.closed(&peer, 2));
        assert!(l.get(&peer).is_none());
    }

    #[test]
    fn dial_backoff_doubles_to_thirty_seconds_and_resets_on_connect() {
        let peer = key();
        let mut d = Dials::default();
        let t0 = Instant::now();
        assert!(d.may_dial(&peer, t0));
        let mut waits = Vec::new();
        let mut t = t0;
        for _ in 0..7 {
            d.started(peer);
            assert!(!d.may_dial(&peer, t), "one dial at a time");
            d.failed(peer, false, "no answer".into(), t);
            let next = d.get(&peer).and_then(|x| x.next).unwrap_or(t);
            waits.push((next - t).as_secs());
            assert!(!d.may_dial(&peer, next - Duration::from_millis(1)));
            assert!(d.may_dial(&peer, next));
            t = next;
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(
            d.get(&peer).and_then(|x| x.last_error.clone()).as_deref(),
            Some("no answer")
        );
        d.connected(peer);
        assert_eq!(d.get(&peer).and_then(|x| x.last_error.clone()), None);
        d.lost(peer, t);
        assert_eq!(
            d.get(&peer).and_then(|x| x.next),
            Some(t + BACKOFF_MIN),
            "a lost link is dialled again after the shortest wait"
        );
    }

    #[test]
    fn a_dial_that_lost_to_another_connection_records_no_error() {
        let peer = key();
        let mut d = Dials::default();
        d.started(peer);
        d.failed(peer, true, "duplicate".into(), Instant::now());
        assert_eq!(d.get(&peer).and_then(|x| x.last_error.clone()), None);
    }
}
