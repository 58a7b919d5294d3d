//! The node's side of reaching friends across networks: it runs what `core::reach` decides
//! (asks for introductions and relays, dials), answers as introducer and relay, and feeds
//! in friends heard on the LAN and how each friend is connected (`path`).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::sharing::{denied, refuse};
use super::{Msg, Node, PeerReply};
use crate::core::access::Denied;
use crate::core::reach::{introduction_addrs, Effect, Relayed, PUNCH_TIMEOUT};
use crate::net::lan::{hour_now, matches, Heard};
use kith_proto::album::unhex32;
use kith_proto::identity::PeerId;
use kith_proto::peer::{PeerCode, PeerMsg};

/// Whether a private address is on one of this computer's IPv4 networks (loopback and
/// public networks left out).
fn on_my_lan(addr: SocketAddr) -> bool {
    let std::net::IpAddr::V4(ip) = addr.ip() else {
        return false;
    };
    if !(ip.is_private() || ip.is_link_local()) {
        return false;
    }
    let Ok(ifs) = if_addrs::get_if_addrs() else {
        return false;
    };
    ifs.iter().any(|i| match &i.addr {
        if_addrs::IfAddr::V4(v4) if !v4.ip.is_loopback() => {
            let mask = u32::from(v4.netmask);
            u32::from(v4.ip) & mask == u32::from(ip) & mask
        }
        _ => false,
    })
}

/// Whether an address is on one of this computer's links: loopback, link-local, or on the
/// same network (under the interface's netmask) as one of its interfaces. LAN announcements
/// are taken only for such addresses.
fn on_link(ip: IpAddr) -> bool {
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    if ip.is_loopback() || link_local {
        return true;
    }
    let Ok(ifs) = if_addrs::get_if_addrs() else {
        return false;
    };
    ifs.iter().any(|i| match (&i.addr, ip) {
        (if_addrs::IfAddr::V4(v4), IpAddr::V4(ip)) => {
            let mask = u32::from(v4.netmask);
            u32::from(v4.ip) & mask == u32::from(ip) & mask
        }
        (if_addrs::IfAddr::V6(v6), IpAddr::V6(ip)) => {
            let mask = u128::from(v6.netmask);
            u128::from(v6.ip) & mask == u128::from(ip) & mask
        }
        _ => false,
    })
}

impl Node {
    /// A node was heard on the LAN: when it is a friend's, its LAN addresses go first in the
    /// friend's record and an offline friend is dialled at once.
    pub(super) fn lan_heard(&mut self, h: Heard) {
        let hour = hour_now();
        let Ok(friends) = self.store.friends() else {
            return;
        };
        let Some(f) = friends.into_iter().find(|f| {
            f.reach
                .as_deref()
                .and_then(unhex32)
                .is_some_and(|s| matches(&s, &h.tag, hour))
        }) else {
            return;
        };
        let online = self.is_online(&f.id);
        let effects = self
            .reaching
            .lan_heard(f.id, h.addrs.clone(), &f.addrs, online, on_link);
        if !effects.is_empty() {
            tracing::info!(peer = %f.id.short(), addrs = ?h.addrs, "friend heard on the LAN");
        }
        self.run_reach(effects);
    }

    /// Remembers what a hello tells about router port mappings: the peer's mapped address,
    /// and whether it reached me through mine.
    pub(super) fn note_mapping(
        &mut self,
        peer: PeerId,
        hello: &kith_proto::peer::Hello,
        conn: &quinn::Connection,
        dialed_by_me: bool,
    ) {
        let via_mine = !dialed_by_me && self.mapped.is_some_and(|m| m == hello.observed);
        self.reaching
            .note_mapping(peer, hello.mapped, via_mine.then(|| conn.stable_id()));
    }

    /// How a friend is connected now: `lan` (at an address heard on the LAN, or on a network
    /// this computer is on), `relayed` (through a friend's relay), `mapped` (through a router's
    /// port mapping), `punched` (at an address an introduction gave), `direct`, or
    /// `unreachable`.
    pub(super) fn path_of(&self, peer: &PeerId) -> crate::core::reach::Path {
        let link = self
            .links
            .get(peer)
            .filter(|_| self.is_online(peer))
            .map(|l| (l.conn.remote_address(), l.conn.stable_id()));
        self.reaching.path(peer, link, on_my_lan)
    }

    /// Where `peer`'s live connection reaches it (None: not connected).
    pub(super) fn live_remote(&self, peer: &PeerId) -> Option<SocketAddr> {
        self.links
            .get(peer)
            .filter(|l| l.conn.close_reason().is_none())
            .map(|l| l.conn.remote_address())
    }

    /// The friends connected now that are friends of `target` too (`core::mutual`): the only
    /// ones asked to introduce me to it or relay to it.
    fn friends_sharing(&self, target: &PeerId) -> Vec<PeerId> {
        let reach = self
            .store
            .friend(target)
            .ok()
            .flatten()
            .and_then(|f| kith_proto::album::unhex32(f.reach.as_deref()?));
        self.mutual
            .sharing(&self.connected_friends(), reach.as_ref())
    }

    /// The friends with a live connection now.
    fn connected_friends(&self) -> Vec<PeerId> {
        self.links
            .iter()
            .filter(|(p, l)| l.conn.close_reason().is_none() && self.is_friend(p))
            .map(|(p, _)| *p)
            .collect()
    }

    /// Runs what `core::reach` decided.
    pub(super) fn run_reach(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::AskIntroduction { via, target } => {
                    let Some(conn) = self.links.get(&via).map(|l| l.conn.clone()) else {
                        continue;
                    };
                    let tx = self.tx.clone();
                    tokio::spawn(async move {
                        let ask = PeerMsg::Introduce { peer: target };
                        let answer =
                            tokio::time::timeout(INTRO_TIMEOUT, crate::wire::ask(&conn, &ask))
                                .await;
                        if let Ok(Ok((PeerMsg::Introduced { addrs }, _))) = answer {
                            let _ = tx
                                .send(Msg::Introduced {
                                    peer: target,
                                    addrs,
                                })
                                .await;
                        }
                    });
                }
                Effect::AskRelay { via, target } => {
                    let Some(conn) = self.links.get(&via).map(|l| l.conn.clone()) else {
                        continue;
                    };
                    let tx = self.tx.clone();
                    tokio::spawn(async move {
                        let ask = PeerMsg::RelayAsk { peer: target };
                        let answer =
                            tokio::time::timeout(RELAY_ASK_TIMEOUT, crate::wire::ask(&conn, &ask))
                                .await;
                        if let Ok(Ok((PeerMsg::Relayed { port }, _))) = answer {
                            let addr = SocketAddr::new(conn.remote_address().ip(), port);
                            let _ = tx.send(Msg::Relayed { peer: target, addr }).await;
                        }
                    });
                }
                Effect::Dial { peer, addrs } => match self.client_config(peer, None) {
                    Ok(c) => self.spawn_dial(peer, addrs, c, None),
                    Err(e) => tracing::error!("client config: {e}"),
                },
                Effect::Punch { peer, addrs } => match self.client_config(peer, None) {
                    Ok(c) => self.spawn_dial_within(peer, addrs, c, None, PUNCH_TIMEOUT, None),
                    Err(e) => tracing::error!("client config: {e}"),
                },
                Effect::StoreAddrs { peer, addrs } => match self.store.friend(&peer) {
                    Ok(Some(mut f)) => {
                        f.addrs = addrs;
                        if let Err(e) = self.store.put_friend(&f) {
                            tracing::error!("storing a friend's addresses: {e}");
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!("reading a friend: {e}"),
                },
            }
        }
    }
}

/// How long a friend's introduction request may take (it waits for the other friend's answer).
const INTRO_TIMEOUT: Duration = Duration::from_secs(8);
/// How long a relay request may take: the relay asks the target twice (consent, then the port).
const RELAY_ASK_TIMEOUT: Duration = Duration::from_secs(16);

/// The relay's two questions to the target (`conn`) for `from`: does it agree (`relay_from`
/// without a port)? Only then a socket is bound on `ip` and its port sent (`relay_from` with
/// it). The answer for the asker, and the relay when the target took the port; a relay
/// dropped here closes at once.
async fn relay_with_consent(
    conn: &quinn::Connection,
    from: PeerId,
    ip: std::net::IpAddr,
) -> (PeerMsg, Option<crate::net::relay::Relay>) {
    // Every failure gives the asker the same answer (see `introduce`): whether the target
    // counts the asker a friend, or is there at all, is not mine to tell.
    let unreachable = |why: &str| {
        tracing::info!("a relay did not open: {why}");
        PeerMsg::Error {
            code: Denied::CannotReach.code(),
            message: Denied::CannotReach.to_string(),
        }
    };
    let ask = |port| PeerMsg::RelayFrom { peer: from, port };
    // None for `ok`; else what the asker is answered.
    let refusal = |a: Result<Result<(PeerMsg, _), _>, _>| match a {
        Ok(Ok((PeerMsg::Ok, _))) => None,
        _ => Some(unreachable("the friend refused or did not answer")),
    };
    let consent = tokio::time::timeout(INTRO_TIMEOUT, crate::wire::ask(conn, &ask(None))).await;
    if let Some(e) = refusal(consent) {
        return (e, None);
    }
    let relay = match crate::net::relay::Relay::bind(ip).await {
        Ok(r) => r,
        Err(e) => return (unreachable(&format!("no relay socket: {e}")), None),
    };
    let port = relay.port();
    let told = tokio::time::timeout(INTRO_TIMEOUT, crate::wire::ask(conn, &ask(Some(port)))).await;
    match refusal(told) {
        None => (PeerMsg::Relayed { port }, Some(relay)),
        Some(e) => (e, None),
    }
}

impl Node {
    /// The introducer's side: `from` wants to reach `to`, both my friends. `to` is told first
    /// (and dials `from` at once, if `from` is its friend); then `from` gets `to`'s addresses
    /// and dials too, so both routers see outgoing packets at the same moment.
    pub(super) fn introduce(&mut self, from: PeerId, to: PeerId) -> PeerReply {
        tracing::info!(from = %from.short(), "asked for an introduction");
        if let Err(d) = self.access.may_introduce(&from, &to) {
            return denied(d);
        }
        let cannot = || denied(Denied::CannotReach);
        let (Some(a), Some(b)) = (self.links.get(&from), self.links.get(&to)) else {
            return cannot();
        };
        if !self.is_online(&to) {
            return cannot();
        }
        // Where I see each of them: their routers' public addresses. `from` hears the
        // addresses `to` announces too, once `to` agreed; `to` hears only where I see `from`.
        let a_seen = vec![a.conn.remote_address()];
        let stored = match self.store.friend(&to) {
            Ok(Some(f)) => f.addrs,
            _ => Vec::new(),
        };
        let b_addrs = introduction_addrs(b.conn.remote_address(), &stored);
        let conn = b.conn.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tracing::info!(from = %from.short(), to = %to.short(), "introducing two friends");
        tokio::spawn(async move {
            let ask = PeerMsg::IntroduceFrom {
                peer: from,
                addrs: a_seen,
            };
            let answer = tokio::time::timeout(INTRO_TIMEOUT, crate::wire::ask(&conn, &ask)).await;
            // A refusal, no answer and anything else look alike to the asker: whether `to`
            // counts it a friend is not mine to tell.
            let reply = match answer {
                Ok(Ok((PeerMsg::Ok, _))) => PeerMsg::Introduced { addrs: b_addrs },
                _ => PeerMsg::Error {
                    code: Denied::CannotReach.code(),
                    message: Denied::CannotReach.to_string(),
                },
            };
            let _ = tx.send(reply);
        });
        PeerReply::Later(rx)
    }

    /// My side when a friend (`via`) says another friend (`from`) wants to reach me: dial it
    /// at the addresses given, now.
    pub(super) fn introduced_to(
        &mut self,
        via: PeerId,
        from: PeerId,
        addrs: Vec<SocketAddr>,
    ) -> PeerReply {
        if let Err(d) = self.access.may_be_introduced(&via, &from) {
            tracing::info!(via = %via.short(), "refused an introduction to a stranger");
            return denied(d);
        }
        if !self.is_online(&from) || self.relayed_now(&from) {
            tracing::info!(peer = %from.short(), via = %via.short(), "punching towards a friend");
            self.punch(from, addrs);
        }
        PeerReply::Answer(PeerMsg::Ok)
    }

    /// Asks friends connected now (or only `via`) to introduce me to `target`, which I cannot
    /// reach; at most every few seconds unless a new friend just connected.
    pub(super) fn ask_introductions(&mut self, target: PeerId, via: Option<PeerId>) {
        let connected = self.friends_sharing(&target);
        let effects = self
            .reaching
            .ask_introductions(target, via, &connected, Instant::now());
        self.run_reach(effects);
    }

    /// Dials a friend at the addresses an introduction gave (its router's, first).
    pub(super) fn punch(&mut self, peer: PeerId, addrs: Vec<SocketAddr>) {
        let effects = self
            .reaching
            .introduced(peer, addrs, self.live_remote(&peer));
        self.run_reach(effects);
    }

    /// The relay's side: `from` wants to reach `to` through me. Only when I help my friends
    /// connect, only between two friends of mine, within `core::reach::Relaying`'s caps, and
    /// with `to`'s consent: asked first, and only then a relay socket between their two
    /// addresses, whose port both get. A refusal leaves no socket.
    pub(super) fn relay_for(&mut self, from: PeerId, to: PeerId) -> PeerReply {
        if let Err(d) = self.access.may_relay(&from, &to, self.config.help_friends) {
            return denied(d);
        }
        let cannot = || denied(Denied::CannotReach);
        let (Some(a), Some(b)) = (self.links.get(&from), self.links.get(&to)) else {
            return cannot();
        };
        if !self.is_online(&to) {
            return cannot();
        }
        let (a_ip, b_ip) = (a.conn.remote_address().ip(), b.conn.remote_address().ip());
        let (conn, limit, ip) = (b.conn.clone(), self.relay_limit.clone(), self.listen.ip());
        if let Err(d) = self.relaying.start(from) {
            tracing::info!(from = %from.short(), running = self.relaying.running(), "refused a relay: too many at once");
            return denied(d);
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let ended = self.tx.clone();
        tracing::info!(from = %from.short(), to = %to.short(), "relaying between two friends");
        tokio::spawn(async move {
            let (reply, relay) = relay_with_consent(&conn, from, ip).await;
            let Some(relay) = relay else {
                // Counted as ended before the asker hears, so its next ask finds the place free.
                let _ = ended.send(Msg::RelayEnded { requester: from }).await;
                let _ = tx.send(reply);
                return;
            };
            let _ = tx.send(reply);
            relay.run(a_ip, b_ip, limit).await;
            let _ = ended.send(Msg::RelayEnded { requester: from }).await;
        });
        PeerReply::Later(rx)
    }

    /// My side when a friend (`via`) relays for another friend (`from`): without `port`, it
    /// asks whether I agree (both must be my friends and `via` connected); with it, the relay
    /// is open: dial `from` through that port, at the address I reach `via` at.
    pub(super) fn relayed_to(&mut self, via: PeerId, from: PeerId, port: Option<u16>) -> PeerReply {
        if let Err(d) = self.access.may_be_introduced(&via, &from) {
            tracing::info!(via = %via.short(), "refused a relay to a stranger");
            return denied(d);
        }
        let Some(link) = self.links.get(&via) else {
            return refuse(PeerCode::PeerUnreachable, "not connected");
        };
        let Some(port) = port else {
            return PeerReply::Answer(PeerMsg::Ok); // consent; the port follows
        };
        let addr = SocketAddr::new(link.conn.remote_address().ip(), port);
        tracing::info!(peer = %from.short(), via = %via.short(), "dialling a friend through a relay");
        self.dial_relayed(from, addr);
        PeerReply::Answer(PeerMsg::Ok)
    }

    /// A dial to `peer` failed (`online`: it is connected anyway): when hole punching did
    /// not work out (a symmetric NAT), a relay may.
    pub(super) fn reach_dial_failed(&mut self, peer: PeerId, online: bool) {
        let connected = self.friends_sharing(&peer);
        let effects = self
            .reaching
            .dial_failed(peer, online, &connected, Instant::now());
        self.run_reach(effects);
    }

    /// Dials a friend through a relay.
    pub(super) fn dial_relayed(&mut self, peer: PeerId, addr: SocketAddr) {
        let effects = self.reaching.relayed(peer, addr, self.is_online(&peer));
        self.run_reach(effects);
    }
}

impl Node {
    /// Whether an address is a relay's socket I reach `peer` through.
    pub(super) fn is_relay_addr(&self, peer: &PeerId, addr: SocketAddr) -> bool {
        self.reaching.is_relay_addr(peer, addr)
    }

    /// Whether `peer` is connected now through a relay.
    pub(super) fn relayed_now(&self, peer: &PeerId) -> bool {
        self.links
            .get(peer)
            .is_some_and(|l| self.is_relay_addr(peer, l.conn.remote_address()))
    }

    /// When due (`core::reach::UPGRADE_EVERY`), friends connected through a relay are tried
    /// directly: at their own addresses, and by hole punching through a mutual friend. A
    /// direct connection that gets through replaces the relayed one (`register`).
    pub(super) fn try_upgrades(&mut self) {
        let now = Instant::now();
        if !self.reaching.upgrade_due(now) {
            return;
        }
        let relayed: Vec<Relayed> = self
            .links
            .keys()
            .copied()
            .filter(|p| self.relayed_now(p))
            .filter_map(|peer| match self.store.friend(&peer) {
                Ok(Some(f)) => Some(Relayed {
                    peer,
                    stored: f.addrs,
                    dialling: self.dials.get(&peer).is_some_and(|d| d.in_flight),
                }),
                _ => None,
            })
            .collect();
        if relayed.is_empty() {
            return;
        }
        let connected = self.connected_friends();
        let effects = self.reaching.upgrades(&relayed, &connected, now);
        self.run_reach(effects);
    }
}

impl Node {
    /// Makes a new reach secret (after a friend was removed): my LAN announcements and DHT
    /// record follow it, and every friend connected now is told (the others get it in the
    /// next hello).
    pub(super) fn rotate_reach(&mut self) {
        let secret = match self.store.new_reach_secret() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("making a new reach secret: {e}");
                return;
            }
        };
        self.reach = secret;
        if self._lan.take().is_some() {
            self._lan = super::start_lan(secret, self.listen, self.tx.clone());
        }
        self.dht.forget_published();
        self.dht_tick(); // publishes under the new secret, empties the old one's record
        let msg = PeerMsg::Reach {
            reach: kith_proto::album::hex(&secret),
        };
        let friends = self.friend_links(|_| true);
        tracing::info!(told = friends.len(), "new reach secret");
        for conn in friends {
            let msg = msg.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(INTRO_TIMEOUT, crate::wire::ask(&conn, &msg)).await;
            });
        }
    }

    /// A friend's reach secret changed.
    pub(super) fn reach_changed(&mut self, peer: PeerId, reach: String) -> PeerReply {
        match self.store.friend(&peer) {
            Ok(Some(mut f)) => {
                f.reach = Some(reach);
                if let Err(e) = self.store.put_friend(&f) {
                    return refuse(PeerCode::Internal, &e.to_string());
                }
                tracing::info!(peer = %peer.short(), "friend's reach secret changed");
                PeerReply::Answer(PeerMsg::Ok)
            }
            _ => refuse(PeerCode::NotFriend, "not a friend of mine"),
        }
    }
}

impl Node {
    /// Forgets what was learnt about reaching a peer (it is no longer a friend).
    pub(super) fn forget_reach_of(&mut self, peer: &PeerId) {
        self.reaching.forget(peer);
        self.mutual.forget(peer);
        self.dht.forget(peer);
        self.set_public(self.reaching.public());
    }
}

impl Node {
    /// The open connections to friends that `keep` accepts.
    fn friend_links(&self, keep: impl Fn(&PeerId) -> bool) -> Vec<quinn::Connection> {
        self.links
            .iter()
            .filter(|(p, l)| keep(p) && l.conn.close_reason().is_none() && self.is_friend(p))
            .map(|(_, l)| l.conn.clone())
            .collect()
    }
}
