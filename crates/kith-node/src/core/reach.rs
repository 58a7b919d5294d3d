//! How to reach a friend I cannot dial directly: which connected friends to ask for an
//! introduction (hole punching) or a relay, how often, which addresses to dial after an
//! introduction, a relay, the LAN or the DHT, when to try a relayed friend directly again, and
//! how each friend is connected (`Path`). Sans-IO: the actor (`node/reach.rs`) passes what it
//! sees and the time, and runs the effects.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::access::Denied;
use kith_proto::identity::PeerId;
use kith_proto::peer::MAX_ADDRS;

/// How long a punched dial waits per address: the other side is dialling at the same moment,
/// so an answer comes within a round trip or not at all.
pub const PUNCH_TIMEOUT: Duration = Duration::from_secs(2);
/// Introductions to (and relays to) one friend are asked for at most this often: each ask
/// costs every connected friend a message, and the answers take a few seconds.
pub const INTRO_EVERY: Duration = Duration::from_secs(10);
/// How often a friend connected through a relay is tried directly again (a relay costs a
/// friend bandwidth; a router's state may have changed).
pub const UPGRADE_EVERY: Duration = Duration::from_secs(15);
/// Most addresses dialled from one hint a peer gives (an introduction, a LAN announcement, a
/// DHT record, an album's member hints): a peer cannot make this node dial a long list of
/// addresses of its choice.
pub const MAX_HINT_DIALS: usize = 4;
/// Most relay addresses remembered per friend (the latest ones).
pub const MAX_RELAY_ADDRS: usize = 4;
/// An upgrade due this close to a tick runs on it (ticks are a second apart and jitter).
const UPGRADE_SLACK: Duration = Duration::from_millis(100);

/// What the actor is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Ask the connected friend `via` to introduce me to `target`; an answer's addresses come
    /// back through `introduced`.
    AskIntroduction {
        /// The friend asked.
        via: PeerId,
        /// The friend I cannot reach.
        target: PeerId,
    },
    /// Ask the connected friend `via` to relay between me and `target`; an answer comes back
    /// through `relayed`.
    AskRelay {
        /// The friend asked.
        via: PeerId,
        /// The friend I cannot reach.
        target: PeerId,
    },
    /// Dial `peer` at `addrs`, in order.
    Dial {
        /// The friend.
        peer: PeerId,
        /// Where, best first.
        addrs: Vec<SocketAddr>,
    },
    /// Dial `peer` at `addrs` with `PUNCH_TIMEOUT` per address (it dials me at the same time).
    Punch {
        /// The friend.
        peer: PeerId,
        /// Where, its router's public address first.
        addrs: Vec<SocketAddr>,
    },
    /// Store these as the friend's addresses (best first).
    StoreAddrs {
        /// The friend.
        peer: PeerId,
        /// Its addresses, best first.
        addrs: Vec<SocketAddr>,
    },
}

/// Most relays this node runs for one requester at once (being agreed to, or open).
pub const RELAYS_PER_REQUESTER: usize = 4;
/// Most relays this node runs at once in all.
pub const RELAYS_IN_ALL: usize = 64;

/// The relays this node runs for its friends, counted by requester: each from the moment it
/// is asked for until its socket closes, or until the ask ends without one (the target
/// refused or did not answer).
#[derive(Debug, Default)]
pub struct Relaying {
    by: HashMap<PeerId, usize>,
    total: usize,
}

impl Relaying {
    /// A relay asked for by `requester` may start (`RelayBusy` past `RELAYS_PER_REQUESTER`
    /// for it or `RELAYS_IN_ALL` in all); each `Ok` must be followed by one `ended`.
    pub fn start(&mut self, requester: PeerId) -> Result<(), Denied> {
        let n = self.by.entry(requester).or_default();
        if *n >= RELAYS_PER_REQUESTER || self.total >= RELAYS_IN_ALL {
            return Err(Denied::RelayBusy);
        }
        *n += 1;
        self.total += 1;
        Ok(())
    }

    /// A relay started for `requester` ended (closed, or never opened).
    pub fn ended(&mut self, requester: PeerId) {
        if let Some(n) = self.by.get_mut(&requester) {
            *n = n.saturating_sub(1);
            self.total = self.total.saturating_sub(1);
            if *n == 0 {
                self.by.remove(&requester);
            }
        }
    }

    /// Relays running now (being agreed to, or open).
    pub fn running(&self) -> usize {
        self.total
    }
}

/// How a friend is connected now (the API's `path` word).
pub use kith_proto::api::reply::LinkPath as Path;

/// A friend connected through a relay, as the actor sees it when upgrades are due.
#[derive(Debug, Clone)]
pub struct Relayed {
    /// The friend.
    pub peer: PeerId,
    /// Its stored addresses.
    pub stored: Vec<SocketAddr>,
    /// A dial to it is under way.
    pub dialling: bool,
}

/// What was learnt about reaching each friend.
#[derive(Debug, Default)]
pub struct Reach {
    /// Friends heard on the LAN, with the addresses heard.
    lan: HashMap<PeerId, Vec<SocketAddr>>,
    /// Friends dialled at addresses an introduction gave.
    punched: HashMap<PeerId, Vec<SocketAddr>>,
    /// Friends dialled through a relay, at the relay's addresses.
    relayed: HashMap<PeerId, Vec<SocketAddr>>,
    /// When an introduction to each friend was last asked for.
    intro_asked: HashMap<PeerId, Instant>,
    /// When a relay to each friend was last asked for.
    relay_asked: HashMap<PeerId, Instant>,
    /// Friends' router-mapped addresses, from their hellos.
    mapped_of: HashMap<PeerId, SocketAddr>,
    /// Friends whose connection (by its ID) came in through my router's mapping.
    via_mapping: HashMap<PeerId, usize>,
    /// When relayed friends are next tried directly (None: not scheduled yet).
    next_upgrade: Option<Instant>,
    /// The public address each friend last saw me at (its hello's `observed`).
    observed_by: HashMap<PeerId, SocketAddr>,
    /// My public address: one that at least `OBSERVED_AGREE` friends saw me at.
    public: Option<SocketAddr>,
}

/// How many different friends must see me at one public address before I use it (advertise
/// it in my hello, DHT record and `status`): one friend alone could make me announce any
/// address.
pub const OBSERVED_AGREE: usize = 2;

/// `first` (those already in `stored`, and new ones while there is room), then the rest of
/// `stored`: every stored address stays, at most `MAX_ADDRS` (unless `stored` had more).
fn addrs_never_evicting(first: &[SocketAddr], stored: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut room = MAX_ADDRS.saturating_sub(stored.len());
    let mut out: Vec<SocketAddr> = Vec::new();
    for a in first {
        if out.contains(a) {
            continue;
        }
        if stored.contains(a) {
            out.push(*a);
        } else if room > 0 {
            room -= 1;
            out.push(*a);
        }
    }
    out.extend(stored.iter().filter(|a| !first.contains(a)));
    out
}

/// `first`, then those of `then` not in it, at most `MAX_ADDRS`.
fn addrs_first(first: &[SocketAddr], then: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut out = first.to_vec();
    out.extend(then.iter().filter(|a| !first.contains(a)));
    out.truncate(MAX_ADDRS);
    out
}

/// The addresses of a hint worth dialling, in the order given: duplicates and addresses no
/// one can be reached at (unspecified, port 0, multicast, broadcast) left out, at most
/// `MAX_HINT_DIALS`.
pub fn hint_dials(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for a in addrs {
        let unusable = a.port() == 0
            || a.ip().is_unspecified()
            || a.ip().is_multicast()
            || matches!(a.ip(), IpAddr::V4(v4) if v4.is_broadcast());
        if !unusable && !out.contains(a) {
            out.push(*a);
            if out.len() == MAX_HINT_DIALS {
                break;
            }
        }
    }
    out
}

/// The addresses an introducer gives for the friend it introduces: where it sees that friend
/// (its router's public address, which the punch needs) first, then the friend's own.
pub fn introduction_addrs(seen: SocketAddr, stored: &[SocketAddr]) -> Vec<SocketAddr> {
    addrs_first(&[seen], stored)
}

impl Reach {
    /// Whether `addr` is a relay's socket I reach `peer` through.
    pub fn is_relay_addr(&self, peer: &PeerId, addr: SocketAddr) -> bool {
        self.relayed.get(peer).is_some_and(|r| r.contains(&addr))
    }

    /// Whether `peer`, connected at `remote` (None: not connected), is connected other than
    /// through a relay.
    pub fn direct(&self, peer: &PeerId, remote: Option<SocketAddr>) -> bool {
        remote.is_some_and(|r| !self.is_relay_addr(peer, r))
    }

    /// Forgets what was learnt about reaching a peer (it is no longer a friend).
    pub fn forget(&mut self, peer: &PeerId) {
        self.lan.remove(peer);
        self.punched.remove(peer);
        self.relayed.remove(peer);
        self.intro_asked.remove(peer);
        self.relay_asked.remove(peer);
        self.mapped_of.remove(peer);
        self.via_mapping.remove(peer);
        if self.observed_by.remove(peer).is_some() {
            self.public = self.agreed();
        }
    }

    /// A friend's hello says it sees me at the public address `at`; returns my public address
    /// now: the one at least `OBSERVED_AGREE` friends last saw me at (the most agreed one;
    /// on a tie the one used so far, else the one just told), or None.
    pub fn observed(&mut self, friend: PeerId, at: SocketAddr) -> Option<SocketAddr> {
        self.observed_by.insert(friend, at);
        let count = |a: SocketAddr| self.observed_by.values().filter(|v| **v == a).count();
        let best = self.agreed();
        self.public = match (self.public, best) {
            (Some(cur), Some(b)) if count(cur) >= count(b) => Some(cur),
            (_, Some(b)) if count(at) >= count(b) => Some(at),
            (_, b) => b,
        };
        self.public
    }

    /// My public address as agreed now (see `observed`).
    pub fn public(&self) -> Option<SocketAddr> {
        self.public
    }

    /// The address most friends saw me at, when at least `OBSERVED_AGREE` did.
    fn agreed(&self) -> Option<SocketAddr> {
        let mut counts: HashMap<SocketAddr, usize> = HashMap::new();
        for a in self.observed_by.values() {
            *counts.entry(*a).or_default() += 1;
        }
        counts
            .into_iter()
            .filter(|(_, n)| *n >= OBSERVED_AGREE)
            .max_by_key(|(a, n)| (*n, std::cmp::Reverse(*a)))
            .map(|(a, _)| a)
    }

    /// Remembers what a hello tells about router port mappings: the friend's mapped address,
    /// and (`via_my_mapping`: the connection's ID) that it reached me through mine.
    pub fn note_mapping(
        &mut self,
        peer: PeerId,
        mapped: Option<SocketAddr>,
        via_my_mapping: Option<usize>,
    ) {
        match mapped {
            Some(m) => self.mapped_of.insert(peer, m),
            None => self.mapped_of.remove(&peer),
        };
        if let Some(id) = via_my_mapping {
            self.via_mapping.insert(peer, id);
        }
    }

    /// How `peer` is connected: `link` is its live connection's remote address and ID (None:
    /// not connected); `on_my_lan` says whether an address is on one of my networks.
    pub fn path(
        &self,
        peer: &PeerId,
        link: Option<(SocketAddr, usize)>,
        on_my_lan: impl FnOnce(SocketAddr) -> bool,
    ) -> Path {
        let Some((remote, id)) = link else {
            return Path::Unreachable;
        };
        let had =
            |m: &HashMap<PeerId, Vec<SocketAddr>>| m.get(peer).is_some_and(|a| a.contains(&remote));
        if had(&self.relayed) {
            Path::Relayed
        } else if had(&self.lan) || on_my_lan(remote) {
            Path::Lan
        } else if self.mapped_of.get(peer) == Some(&remote)
            || self.via_mapping.get(peer) == Some(&id)
        {
            Path::Mapped
        } else if had(&self.punched) {
            Path::Punched
        } else {
            Path::Direct
        }
    }

    /// A friend was heard on the LAN at `heard`: those on one of my links (`on_link`: the
    /// same network as one of my interfaces, link-local or loopback; at most
    /// `MAX_HINT_DIALS`) go first in its record, and it is dialled there at once when
    /// offline (even while a dial to a stale address waits for its timeout). Heard addresses
    /// never push stored ones out: they take only the room left. Nothing when none is on a
    /// link, or when already heard there and connected.
    pub fn lan_heard(
        &mut self,
        peer: PeerId,
        heard: Vec<SocketAddr>,
        stored: &[SocketAddr],
        online: bool,
        on_link: impl Fn(IpAddr) -> bool,
    ) -> Vec<Effect> {
        let on: Vec<SocketAddr> = heard.into_iter().filter(|a| on_link(a.ip())).collect();
        let heard = hint_dials(&on);
        if heard.is_empty() || (online && self.lan.get(&peer) == Some(&heard)) {
            return Vec::new();
        }
        let mut out = vec![Effect::StoreAddrs {
            peer,
            addrs: addrs_never_evicting(&heard, stored),
        }];
        if !online {
            out.push(Effect::Dial {
                peer,
                addrs: heard.clone(),
            });
        }
        self.lan.insert(peer, heard);
        out
    }

    /// A DHT lookup found `found` for `peer` (`remote`: where it is connected now, if it is):
    /// unless it is connected directly, or already being dialled at addresses it knew, the new
    /// addresses go first in its record and are dialled at once.
    pub fn dht_found(
        &self,
        peer: PeerId,
        found: &[SocketAddr],
        stored: &[SocketAddr],
        remote: Option<SocketAddr>,
        dialling: bool,
    ) -> Vec<Effect> {
        let found = hint_dials(found);
        if found.is_empty() || self.direct(&peer, remote) {
            return Vec::new();
        }
        if dialling && found.iter().all(|a| stored.contains(a)) {
            return Vec::new(); // already being dialled there
        }
        vec![
            Effect::StoreAddrs {
                peer,
                addrs: addrs_first(&found, stored),
            },
            Effect::Dial { peer, addrs: found },
        ]
    }

    /// Asks the friends connected now (`connected`), or only `via`, to introduce me to
    /// `target`, which I cannot reach. Without `via` at most every `INTRO_EVERY`; with it (a
    /// friend just connected and may know the way) at once.
    pub fn ask_introductions(
        &mut self,
        target: PeerId,
        via: Option<PeerId>,
        connected: &[PeerId],
        now: Instant,
    ) -> Vec<Effect> {
        if via.is_none() {
            if self
                .intro_asked
                .get(&target)
                .is_some_and(|at| now < *at + INTRO_EVERY)
            {
                return Vec::new();
            }
            self.intro_asked.insert(target, now);
        }
        connected
            .iter()
            .filter(|p| **p != target && via.is_none_or(|v| v == **p))
            .map(|p| Effect::AskIntroduction { via: *p, target })
            .collect()
    }

    /// An introduction gave `peer`'s addresses (it is dialling me now): punch towards the
    /// first `MAX_HINT_DIALS` of them, unless it is connected directly already (`remote`:
    /// where it is connected, if it is).
    pub fn introduced(
        &mut self,
        peer: PeerId,
        addrs: Vec<SocketAddr>,
        remote: Option<SocketAddr>,
    ) -> Vec<Effect> {
        let addrs = hint_dials(&addrs);
        if self.direct(&peer, remote) || addrs.is_empty() {
            return Vec::new();
        }
        self.punched.insert(peer, addrs.clone());
        vec![Effect::Punch { peer, addrs }]
    }

    /// A dial to `peer` failed: when it was punched towards and is still offline (a
    /// symmetric NAT), a relay may get through.
    pub fn dial_failed(
        &mut self,
        peer: PeerId,
        online: bool,
        connected: &[PeerId],
        now: Instant,
    ) -> Vec<Effect> {
        if online || !self.punched.contains_key(&peer) {
            return Vec::new();
        }
        self.ask_relays(peer, connected, now)
    }

    /// Asks the friends connected now to relay between me and `target`, at most every
    /// `INTRO_EVERY`.
    fn ask_relays(&mut self, target: PeerId, connected: &[PeerId], now: Instant) -> Vec<Effect> {
        if self
            .relay_asked
            .get(&target)
            .is_some_and(|at| now < *at + INTRO_EVERY)
        {
            return Vec::new();
        }
        self.relay_asked.insert(target, now);
        connected
            .iter()
            .filter(|p| **p != target)
            .map(|p| Effect::AskRelay { via: *p, target })
            .collect()
    }

    /// A friend relays between me and `peer` at `addr`: dial it there, unless connected. The
    /// latest `MAX_RELAY_ADDRS` relay addresses are remembered per friend.
    pub fn relayed(&mut self, peer: PeerId, addr: SocketAddr, online: bool) -> Vec<Effect> {
        if online || hint_dials(&[addr]).is_empty() {
            return Vec::new();
        }
        let known = self.relayed.entry(peer).or_default();
        known.retain(|a| *a != addr);
        known.push(addr);
        if known.len() > MAX_RELAY_ADDRS {
            known.remove(0);
        }
        vec![Effect::Dial {
            peer,
            addrs: vec![addr],
        }]
    }

    /// Whether relayed friends are to be tried directly now (every `UPGRADE_EVERY`, the
    /// first one `UPGRADE_EVERY` after the first call); a true moves the schedule on.
    pub fn upgrade_due(&mut self, now: Instant) -> bool {
        match self.next_upgrade {
            Some(next) if next <= now + UPGRADE_SLACK => {
                self.next_upgrade = Some(now + UPGRADE_EVERY);
                true
            }
            Some(_) => false,
            None => {
                self.next_upgrade = Some(now + UPGRADE_EVERY);
                false
            }
        }
    }

    /// Tries friends connected through a relay directly: at their own addresses (a relay's
    /// are left out), and by hole punching through a mutual friend. A direct connection that
    /// gets through replaces the relayed one. Friends being dialled are left alone.
    pub fn upgrades(
        &mut self,
        relayed: &[Relayed],
        connected: &[PeerId],
        now: Instant,
    ) -> Vec<Effect> {
        let mut out = Vec::new();
        for r in relayed.iter().filter(|r| !r.dialling) {
            let own: Vec<SocketAddr> = r
                .stored
                .iter()
                .copied()
                .filter(|a| !self.is_relay_addr(&r.peer, *a))
                .collect();
            let own = hint_dials(&own);
            if !own.is_empty() {
                out.push(Effect::Dial {
                    peer: r.peer,
                    addrs: own,
                });
            }
            out.extend(self.ask_introductions(r.peer, None, connected, now));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn peer(n: u8) -> PeerId {
        PeerId([n; 32])
    }

    fn asked(effects: &[Effect]) -> Vec<PeerId> {
        let mut v: Vec<PeerId> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::AskIntroduction { via, .. } | Effect::AskRelay { via, .. } => Some(*via),
                _ => None,
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn core_reach_an_introduction_is_asked_only_of_connected_friends_other_than_the_target() {
        let (mut r, t) = (Reach::default(), Instant::now());
        let (target, a, b) = (peer(1), peer(2), peer(3));
        let e = r.ask_introductions(target, None, &[a, target, b], t);
        assert_eq!(asked(&e), vec![a, b]);
        assert!(e.iter().all(|e| matches!(
            e,
            Effect::AskIntroduction { target: x, .. } if *x == target
        )));
        // Nobody connected: nobody asked.
        let mut r = Reach::default();
        assert!(r.ask_introductions(target, None, &[], t).is_empty());
    }

    #[test]
    fn core_reach_introductions_to_one_friend_are_asked_at_most_every_ten_seconds() {
        let (mut r, t) = (Reach::default(), Instant::now());
        let (target, other, a) = (peer(1), peer(4), peer(2));
        assert_eq!(asked(&r.ask_introductions(target, None, &[a], t)), vec![a]);
        let soon = t + INTRO_EVERY - Duration::from_millis(1);
        assert!(r.ask_introductions(target, None, &[a], soon).is_empty());
        // Per target: another friend is asked about at once.
        assert_eq!(
            asked(&r.ask_introductions(other, None, &[a], soon)),
            vec![a]
        );
        assert_eq!(
            asked(&r.ask_introductions(target, None, &[a], t + INTRO_EVERY)),
            vec![a]
        );
    }

    #[test]
    fn core_reach_a_friend_that_just_connected_is_asked_at_once_and_alone() {
        let (mut r, t) = (Reach::default(), Instant::now());
        let (target, a, b) = (peer(1), peer(2), peer(3));
        r.ask_introductions(target, None, &[a], t);
        // b just connected: asked despite the recent ask, and a is not asked again.
        let e = r.ask_introductions(target, Some(b), &[a, b], t + Duration::from_secs(1));
        assert_eq!(asked(&e), vec![b]);
        // …and it does not hold back the next periodic ask.
        assert_eq!(
            asked(&r.ask_introductions(target, None, &[a, b], t + INTRO_EVERY)),
            vec![a, b]
        );
    }

    #[test]
    fn core_reach_an_introduction_is_punched_towards_unless_the_friend_is_connected_directly() {
        let mut r = Reach::default();
        let p = peer(1);
        let addrs = vec![addr("198.51.100.9:40000"), addr("10.0.0.9:40000")];
        assert!(r.introduced(p, vec![], None).is_empty(), "no address");
        assert!(r
            .introduced(p, addrs.clone(), Some(addr("198.51.100.9:40000")))
            .is_empty());
        assert_eq!(
            r.introduced(p, addrs.clone(), None),
            vec![Effect::Punch {
                peer: p,
                addrs: addrs.clone()
            }]
        );
        // Connected through a relay: punching may give a direct connection.
        let relay = addr("203.0.113.1:50000");
        r.relayed(p, relay, false);
        assert_eq!(r.introduced(p, addrs.clone(), Some(relay)).len(), 1);
    }

    #[test]
    fn core_reach_a_failed_punch_asks_connected_friends_for_a_relay_at_most_every_ten_seconds() {
        let (mut r, t) = (Reach::default(), Instant::now());
        let (p, a, b) = (peer(1), peer(2), peer(3));
        // A failed ordinary dial asks for nothing.
        assert!(r.dial_failed(p, false, &[a, b], t).is_empty());
        r.introduced(p, vec![addr("198.51.100.9:40000")], None);
        // Online after all (another dial got through): nothing.
        assert!(r.dial_failed(p, true, &[a, b], t).is_empty());
        let e = r.dial_failed(p, false, &[a, p, b], t);
        assert_eq!(asked(&e), vec![a, b]);
        assert!(e
            .iter()
            .all(|e| matches!(e, Effect::AskRelay { target, .. } if *target == p)));
        assert!(r
            .dial_failed(p, false, &[a, b], t + Duration::from_secs(9))
            .is_empty());
        assert_eq!(r.dial_failed(p, false, &[a, b], t + INTRO_EVERY).len(), 2);
    }

    #[test]
    fn core_reach_a_relay_is_dialled_while_offline_and_its_address_is_never_a_friends_own() {
        let mut r = Reach::default();
        let p = peer(1);
        let relay = addr("203.0.113.1:50000");
        assert!(r.relayed(p, relay, true).is_empty());
        assert!(!r.is_relay_addr(&p, relay));
        assert_eq!(
            r.relayed(p, relay, false),
            vec![Effect::Dial {
                peer: p,
                addrs: vec![relay]
            }]
        );
        assert!(r.is_relay_addr(&p, relay));
        assert!(!r.direct(&p, Some(relay)));
        assert_eq!(r.path(&p, Some((relay, 7)), |_| true), Path::Relayed);
        r.forget(&p);
        assert!(!r.is_relay_addr(&p, relay));
    }

    #[test]
    fn core_reach_relayed_friends_are_tried_directly_every_fifteen_seconds() {
        let (mut r, t) = (Reach::default(), Instant::now());
        let (p, q, a) = (peer(1), peer(5), peer(2));
        let relay = addr("203.0.113.1:50000");
        let own = addr("198.51.100.9:40000");
        r.relayed(p, relay, false);
        let at = |s: u64| t + Duration::from_secs(s);
        let due: Vec<u64> = (0..50).filter(|s| r.upgrade_due(at(*s))).collect();
        assert_eq!(due, vec![15, 30, 45]);
        let relayed = [
            Relayed {
                peer: p,
                stored: vec![relay, own],
                dialling: false,
            },
            Relayed {
                peer: q,
                stored: vec![own],
                dialling: true,
            },
        ];
        let e = r.upgrades(&relayed, &[a, p], at(45));
        // The relay's address is not dialled; a friend being dialled is left alone.
        assert_eq!(
            e,
            vec![
                Effect::Dial {
                    peer: p,
                    addrs: vec![own]
                },
                Effect::AskIntroduction { via: a, target: p },
            ]
        );
    }

    #[test]
    fn core_reach_lan_addresses_go_first_and_an_offline_friend_is_dialled_there_once() {
        let mut r = Reach::default();
        let p = peer(1);
        let heard = vec![addr("192.168.1.20:40000")];
        let stored = vec![addr("198.51.100.9:40000"), addr("192.168.1.20:40000")];
        let e = r.lan_heard(p, heard.clone(), &stored, false, |_| true);
        assert_eq!(
            e,
            vec![
                Effect::StoreAddrs {
                    peer: p,
                    addrs: vec![heard[0], stored[0]]
                },
                Effect::Dial {
                    peer: p,
                    addrs: heard.clone()
                },
            ]
        );
        // Connected and heard at the same addresses: nothing to do.
        assert!(r
            .lan_heard(p, heard.clone(), &stored, true, |_| true)
            .is_empty());
        assert_eq!(r.path(&p, Some((heard[0], 1)), |_| false), Path::Lan);
        // Heard elsewhere while connected: stored, not dialled.
        let moved = vec![addr("192.168.1.21:40000")];
        let e = r.lan_heard(p, moved, &stored, true, |_| true);
        assert!(matches!(e[..], [Effect::StoreAddrs { .. }]));
    }

    #[test]
    fn core_reach_dht_addresses_are_dialled_unless_connected_directly_or_already_being_dialled() {
        let r = Reach::default();
        let p = peer(1);
        let stored: Vec<SocketAddr> = (0..MAX_ADDRS as u16)
            .map(|i| SocketAddr::from(([10, 0, 0, 1], 40000 + i)))
            .collect();
        let found = vec![addr("198.51.100.9:41000")];
        assert!(r.dht_found(p, &[], &stored, None, false).is_empty());
        assert!(r
            .dht_found(p, &found, &stored, Some(stored[0]), false)
            .is_empty());
        let e = r.dht_found(p, &found, &stored, None, true);
        let Effect::StoreAddrs { addrs, .. } = &e[0] else {
            panic!("{e:?}")
        };
        assert_eq!(addrs[0], found[0]);
        assert_eq!(addrs.len(), MAX_ADDRS, "kept to MAX_ADDRS");
        assert_eq!(
            e[1],
            Effect::Dial {
                peer: p,
                addrs: found
            }
        );
        // Known addresses with a dial under way: nothing new.
        assert!(r.dht_found(p, &stored[..1], &stored, None, true).is_empty());
    }

    #[test]
    fn core_reach_paths_name_how_a_friend_is_connected() {
        let mut r = Reach::default();
        let p = peer(1);
        let (m, x) = (addr("198.51.100.9:41000"), addr("198.51.100.9:42000"));
        assert_eq!(r.path(&p, None, |_| true), Path::Unreachable);
        assert_eq!(r.path(&p, Some((x, 1)), |_| false), Path::Direct);
        assert_eq!(r.path(&p, Some((x, 1)), |_| true), Path::Lan);
        r.note_mapping(p, Some(m), None);
        assert_eq!(r.path(&p, Some((m, 1)), |_| false), Path::Mapped);
        r.note_mapping(p, None, Some(9));
        assert_eq!(r.path(&p, Some((m, 1)), |_| false), Path::Direct);
        assert_eq!(r.path(&p, Some((x, 9)), |_| false), Path::Mapped);
        r.introduced(p, vec![m], None);
        assert_eq!(r.path(&p, Some((m, 1)), |_| false), Path::Punched);
        assert_eq!(Path::Punched.as_str(), "punched");
    }

    #[test]
    fn core_reach_an_introducer_gives_where_it_sees_the_friend_first() {
        let seen = addr("198.51.100.9:41000");
        let stored = vec![addr("10.0.0.9:40000"), seen];
        assert_eq!(introduction_addrs(seen, &stored), vec![seen, stored[0]]);
    }

    fn many(n: u16) -> Vec<SocketAddr> {
        (0..n)
            .map(|i| SocketAddr::from(([198, 51, 100, (i % 250) as u8], 40000 + i)))
            .collect()
    }

    fn dialled(effects: &[Effect]) -> usize {
        effects
            .iter()
            .map(|e| match e {
                Effect::Dial { addrs, .. } | Effect::Punch { addrs, .. } => addrs.len(),
                _ => 0,
            })
            .sum()
    }

    #[test]
    fn core_reach_a_hint_of_fifty_addresses_leads_to_at_most_four_dials() {
        let p = peer(1);
        let hint = many(50);
        let mut r = Reach::default();
        // An introduction, a LAN announcement, a DHT record: four dials each.
        let e = r.introduced(p, hint.clone(), None);
        assert_eq!(dialled(&e), MAX_HINT_DIALS);
        assert_eq!(
            e,
            vec![Effect::Punch {
                peer: p,
                addrs: hint[..MAX_HINT_DIALS].to_vec()
            }]
        );
        assert_eq!(
            dialled(&r.lan_heard(p, hint.clone(), &[], false, |_| true)),
            MAX_HINT_DIALS
        );
        assert_eq!(
            dialled(&r.dht_found(p, &hint, &[], None, false)),
            MAX_HINT_DIALS
        );
        // Duplicates and unusable addresses do not count, and are not dialled.
        let dup = vec![
            hint[0],
            hint[0],
            addr("0.0.0.0:40000"),
            addr("198.51.100.1:0"),
            addr("224.0.0.1:40000"),
            hint[1],
        ];
        assert_eq!(hint_dials(&dup), vec![hint[0], hint[1]]);
        // A relayed friend tried directly: four of its stored addresses.
        let relayed = [Relayed {
            peer: peer(9),
            stored: hint.clone(),
            dialling: false,
        }];
        let e = r.upgrades(&relayed, &[], Instant::now());
        assert_eq!(dialled(&e), MAX_HINT_DIALS);
        // Relays: the latest four relay addresses of a friend are remembered, once each.
        for a in &hint[..10] {
            r.relayed(p, *a, false);
            r.relayed(p, *a, false);
        }
        assert_eq!(r.relayed[&p], hint[6..10].to_vec());
        assert!(!r.is_relay_addr(&p, hint[5]));
    }

    #[test]
    fn core_reach_a_replayed_lan_announcement_never_evicts_stored_addresses() {
        let mut r = Reach::default();
        let p = peer(1);
        let stored: Vec<SocketAddr> = (0..12u16)
            .map(|i| SocketAddr::from(([203, 0, 113, 1], 41000 + i)))
            .collect();
        // 16 addresses announced; only those on my link (192.168.1.0/24 here) are taken.
        let mut heard: Vec<SocketAddr> = (0..12u16)
            .map(|i| SocketAddr::from(([198, 51, 100, 9], 42000 + i)))
            .collect();
        heard.extend((0..4u8).map(|i| SocketAddr::from(([192, 168, 1, 20 + i], 40000))));
        let on_link =
            |ip: IpAddr| matches!(ip, IpAddr::V4(v4) if v4.octets()[..3] == [192, 168, 1]);
        let e = r.lan_heard(p, heard.clone(), &stored, false, on_link);
        let Effect::StoreAddrs { addrs, .. } = &e[0] else {
            panic!("{e:?}")
        };
        assert!(stored.iter().all(|a| addrs.contains(a)), "{addrs:?}");
        assert_eq!(addrs.len(), MAX_ADDRS);
        assert_eq!(addrs[..4], heard[12..16]);
        assert!(addrs.iter().all(|a| !heard[..12].contains(a)));
        assert_eq!(
            e[1],
            Effect::Dial {
                peer: p,
                addrs: heard[12..16].to_vec()
            }
        );
        // With the record full, heard addresses take no stored one's place.
        let full = many(MAX_ADDRS as u16);
        let e = r.lan_heard(p, heard.clone(), &full, false, on_link);
        assert_eq!(
            e[0],
            Effect::StoreAddrs {
                peer: p,
                addrs: full.clone()
            }
        );
        // Nothing on my link: nothing stored, nothing dialled.
        let e = r.lan_heard(p, heard[..12].to_vec(), &stored, false, on_link);
        assert!(e.is_empty(), "{e:?}");
    }

    #[test]
    fn core_reach_an_observed_address_is_used_only_when_two_friends_agree() {
        let mut r = Reach::default();
        let (a, b, c) = (peer(1), peer(2), peer(3));
        let (x, y) = (addr("203.0.113.7:41000"), addr("203.0.113.8:41000"));
        assert_eq!(r.observed(a, x), None, "one friend alone");
        assert_eq!(r.observed(a, x), None, "the same friend twice");
        assert_eq!(r.observed(b, y), None, "two friends disagree");
        assert_eq!(r.observed(c, x), Some(x), "two friends agree");
        assert_eq!(r.public(), Some(x));
        // Two others agreeing on another address make a tie, which keeps the one used…
        let d = peer(4);
        assert_eq!(r.observed(d, y), Some(x), "a tie keeps the one used");
        // …and a friend forgotten takes its word with it.
        r.forget(&c);
        assert_eq!(r.public(), Some(y));
        r.forget(&b);
        assert_eq!(r.public(), None);
    }

    #[test]
    fn core_reach_relays_are_capped_per_requester_and_in_all() {
        let mut r = Relaying::default();
        let (a, b) = (peer(1), peer(2));
        for _ in 0..RELAYS_PER_REQUESTER {
            assert_eq!(r.start(a), Ok(()));
        }
        assert_eq!(
            r.start(a),
            Err(Denied::RelayBusy),
            "a fifth for one requester"
        );
        assert_eq!(Denied::RelayBusy.code(), "relay_busy");
        r.ended(a);
        assert_eq!(r.start(a), Ok(()), "a place freed is taken again");
        // In all: other requesters up to RELAYS_IN_ALL.
        let mut n = 10u8;
        while r.running() < RELAYS_IN_ALL {
            let p = peer(n);
            while r.running() < RELAYS_IN_ALL && r.start(p).is_ok() {}
            n += 1;
        }
        assert_eq!(r.start(b), Err(Denied::RelayBusy), "full in all");
        r.ended(peer(10));
        assert_eq!(r.start(b), Ok(()));
        // An end for a requester with nothing running changes nothing.
        r.ended(peer(200));
        assert_eq!(r.running(), RELAYS_IN_ALL);
    }
}
