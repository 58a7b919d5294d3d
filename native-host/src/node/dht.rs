//! The node's side of addresses through the Mainline DHT: publishing my sealed record when my
//! addresses change, and looking up friends I cannot reach.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{now_ms, Msg, Node};
use crate::identity::PeerId;
use crate::net::dht::{DhtClient, PublishError};
use crate::proto::album::unhex32;
use crate::proto::dht_record::{RecordKeys, MAX_ADDRS};

/// My record is published again this often even when nothing changed (BEP 44 items expire
/// after about two hours).
const REPUBLISH: Duration = Duration::from_secs(30 * 60);
/// A failed publish is tried again after this long.
const RETRY: Duration = Duration::from_secs(5);
/// Time from the start of one lookup of a friend that went offline to the next, for its
/// first `LOOKUP_QUICK` lookups (it may be restarting somewhere else); then the wait doubles
/// up to `LOOKUP_MAX`.
const LOOKUP_FIRST: Duration = Duration::from_secs(1);
const LOOKUP_QUICK: u32 = 15;
const LOOKUP_MAX: Duration = Duration::from_secs(60);
/// A lookup due this close to a tick starts on it (ticks are a second apart, as is
/// `LOOKUP_FIRST`: without this, jitter would make every other tick miss).
const LOOKUP_SLACK: Duration = Duration::from_millis(100);

/// The DHT state the actor keeps.
#[derive(Default)]
pub(super) struct DhtState {
    /// Whether the DHT is used at all.
    pub enabled: bool,
    /// The client, once started (None: off, or still starting).
    pub client: Option<Arc<DhtClient>>,
    /// What I published last and when (None: not yet).
    published: Option<(Vec<SocketAddr>, Instant)>,
    /// When a failed publish may be tried again.
    retry_at: Option<Instant>,
    /// A publish is under way.
    publishing: bool,
    /// Emptying a retired secret's record is under way.
    emptying: bool,
    /// When a failed emptying may be tried again.
    empty_retry_at: Option<Instant>,
    /// Per friend: lookup under way, when the next may start, the current wait.
    lookups: std::collections::HashMap<PeerId, Lookup>,
}

#[derive(Default)]
struct Lookup {
    running: bool,
    /// When the last lookup started.
    started: Option<Instant>,
    next: Option<Instant>,
    wait: Duration,
    /// Lookups since the friend went offline.
    count: u32,
    /// Whether the last lookup found a record that opens.
    found: Option<bool>,
}

impl DhtState {
    /// The state of a node that uses the DHT (`enabled`) or not.
    pub(super) fn new(enabled: bool) -> DhtState {
        DhtState {
            enabled,
            ..Default::default()
        }
    }

    /// Publishes at the next chance, without waiting for a retry time (my addresses changed).
    pub(super) fn publish_soon(&mut self) {
        self.retry_at = None;
    }

    /// In words, for `status`: `off`, `starting`, `published` or `not published yet`.
    pub(super) fn state(&self) -> &'static str {
        match (self.enabled, &self.client, &self.published) {
            (false, _, _) => "off",
            (true, None, _) => "starting",
            (true, Some(_), Some(_)) => "published",
            (true, Some(_), None) => "not published yet",
        }
    }

    /// What the last lookup of a friend gave: `found`, `nothing found`, or None (not looked
    /// up yet, or the DHT is off).
    pub(super) fn lookup_result(&self, peer: &PeerId) -> Option<&'static str> {
        self.lookups
            .get(peer)
            .and_then(|l| l.found)
            .map(|f| if f { "found" } else { "nothing found" })
    }

    /// Forgets the lookups of a peer that is no longer a friend.
    pub(super) fn forget(&mut self, peer: &PeerId) {
        self.lookups.remove(peer);
    }

    /// Publishes again at the next tick (my record keys changed).
    pub(super) fn forget_published(&mut self) {
        self.published = None;
        self.retry_at = None;
    }
}

/// Whether the DHT is used, and its bootstrap nodes: `KITH_NO_DHT=1` turns it off,
/// `KITH_DHT_BOOTSTRAP` (comma-separated `host:port`) overrides the settings; a node listening
/// on loopback only uses it only with bootstrap nodes given explicitly.
pub(super) fn dht_settings(
    config: &crate::home::Config,
    listen: SocketAddr,
) -> Option<Option<Vec<String>>> {
    let env = crate::settings::env();
    if env.no_dht || !config.dht {
        return None;
    }
    let bootstrap = env
        .dht_bootstrap
        .clone()
        .or_else(|| config.dht_bootstrap.clone());
    if listen.ip().is_loopback() && bootstrap.is_none() {
        return None;
    }
    Some(bootstrap)
}

/// Starts the DHT client off the actor (building it may resolve bootstrap names) on `port`
/// if it is free, and hands it to the actor.
pub(super) fn start(
    bootstrap: Option<Vec<String>>,
    port: Option<u16>,
    tx: tokio::sync::mpsc::Sender<Msg>,
) {
    tokio::task::spawn_blocking(move || match DhtClient::start(bootstrap.as_deref(), port) {
        Ok(c) => {
            let _ = tx.blocking_send(Msg::DhtReady(Arc::new(c)));
        }
        Err(e) => {
            let _ = tx.blocking_send(Msg::DhtFailed(e.to_string()));
        }
    });
}

impl Node {
    /// My record keys (they follow my reach secret).
    fn record_keys(&self) -> RecordKeys {
        RecordKeys::derive(&self.reach)
    }

    /// Addresses of mine that friends outside my network can use: the one my router maps to
    /// me, and the one they see me at.
    fn extra_addrs(&self) -> Vec<SocketAddr> {
        let mut out: Vec<SocketAddr> = self.mapped.into_iter().collect();
        out.extend(self.observed.filter(|o| Some(*o) != self.mapped));
        out
    }

    /// Every address of mine to tell a friend: the public ones first, then my interfaces'
    /// (loopback last).
    pub(super) fn my_addrs(&self) -> Vec<SocketAddr> {
        let mut out = self.extra_addrs();
        for a in crate::net::announce_addrs(self.listen) {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out.truncate(crate::proto::peer::MAX_ADDRS);
        out
    }

    /// The addresses my record gives: my interfaces' (loopback left out) and the public
    /// address friends see me at.
    pub(super) fn my_public_addrs(&self) -> Vec<SocketAddr> {
        let mut out: Vec<SocketAddr> = Vec::new();
        for a in self.extra_addrs() {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        for a in crate::net::announce_addrs(self.listen) {
            if !a.ip().is_loopback() && !a.ip().is_unspecified() && !out.contains(&a) {
                out.push(a);
            }
        }
        out.truncate(MAX_ADDRS);
        out
    }

    /// Each tick: publishes my record when my addresses changed, when it is due again, or
    /// after a failure; looks up friends I cannot reach.
    pub(super) fn dht_tick(&mut self) {
        let Some(client) = self.dht.client.clone() else {
            return;
        };
        let t = Instant::now();
        let addrs = self.my_public_addrs();
        let due = match &self.dht.published {
            Some((last, at)) => *last != addrs || t.duration_since(*at) >= REPUBLISH,
            None => true,
        };
        if due
            && !addrs.is_empty()
            && !self.dht.publishing
            && self.dht.retry_at.is_none_or(|r| r <= t)
        {
            self.dht.publishing = true;
            let (keys, id, tx) = (self.record_keys(), self.identity.clone(), self.tx.clone());
            let (client, secret) = (client.clone(), self.reach);
            tokio::spawn(async move {
                let result = client.publish(&keys, &id, now_ms(), &addrs).await;
                let _ = tx
                    .send(Msg::DhtPublished {
                        secret,
                        addrs,
                        result,
                    })
                    .await;
            });
        }
        self.empty_retired(&client, t);
        let Ok(friends) = self.store.friends() else {
            return;
        };
        for f in friends {
            if self.is_online(&f.id) && !self.relayed_now(&f.id) {
                continue;
            }
            let Some(secret) = f.reach.as_deref().and_then(unhex32) else {
                continue;
            };
            let l = self.dht.lookups.entry(f.id).or_default();
            if l.running || l.next.is_some_and(|n| n > t + LOOKUP_SLACK) {
                continue;
            }
            l.running = true;
            l.started = Some(t);
            let (client, tx, peer) = (client.clone(), self.tx.clone(), f.id);
            tokio::spawn(async move {
                // Each query to its end: the next lookup then starts a new one, which asks
                // the nodes again (the DHT client answers a lookup of a target whose query
                // is still going from that query's answers). Every newer record found is
                // dialled at once: no waiting in case one comes.
                let keys = RecordKeys::derive(&secret);
                let found = client
                    .lookup_each(&keys, &peer, Duration::ZERO, |addrs| {
                        let tx = tx.clone();
                        async move { tx.send(Msg::DhtFound { peer, addrs }).await.is_ok() }
                    })
                    .await;
                let _ = tx.send(Msg::DhtLookupDone { peer, found }).await;
            });
        }
    }

    /// Publishes a record with no address under the oldest retired reach secret, over the
    /// one published under it: whoever still holds that secret (a removed friend, an old
    /// invite) finds where I was no more.
    fn empty_retired(&mut self, client: &Arc<DhtClient>, t: Instant) {
        if self.dht.emptying || self.dht.empty_retry_at.is_some_and(|r| r > t) {
            return;
        }
        let Some(secret) = self
            .store
            .retired_reach()
            .ok()
            .and_then(|r| r.first().copied())
        else {
            return;
        };
        if secret == self.reach {
            // Never empty the record of the secret in use (a crash can keep one write of
            // `new_reach_secret` and lose the other).
            self.forget_retired(&secret);
            return;
        }
        self.dht.emptying = true;
        let (client, id, tx) = (client.clone(), self.identity.clone(), self.tx.clone());
        tokio::spawn(async move {
            let result = client
                .publish(&RecordKeys::derive(&secret), &id, now_ms(), &[])
                .await;
            let _ = tx.send(Msg::DhtEmptied { secret, result }).await;
        });
    }

    /// Emptying a retired secret's record ended.
    pub(super) fn dht_emptied(&mut self, secret: [u8; 32], result: Result<(), PublishError>) {
        self.dht.emptying = false;
        match result {
            Err(PublishError::Failed(e)) => {
                tracing::debug!("emptying an old DHT record failed: {e}");
                self.dht.empty_retry_at = Some(Instant::now() + RETRY);
                return;
            }
            // A newer record is there: someone holding the old secret put it, and it gives no
            // address of mine (it would not open). Nothing more to do.
            Err(PublishError::Displaced) => {}
            Ok(()) => tracing::info!("the DHT record under my old reach secret is emptied"),
        }
        self.dht.empty_retry_at = None;
        self.forget_retired(&secret);
        self.dht_tick();
    }

    /// Forgets a retired reach secret (logged if the store fails).
    fn forget_retired(&self, secret: &[u8; 32]) {
        if let Err(e) = self.store.drop_retired_reach(secret) {
            tracing::error!("forgetting a retired reach secret: {e}");
        }
    }

    /// A publish ended.
    pub(super) fn dht_published(
        &mut self,
        secret: [u8; 32],
        addrs: Vec<SocketAddr>,
        result: Result<(), PublishError>,
    ) {
        self.dht.publishing = false;
        if secret != self.reach {
            return; // sealed under a secret given up since: publish again
        }
        match result {
            Err(PublishError::Displaced) => {
                // A record that outranks mine: someone else holds my reach secret (an old
                // invite, a removed friend), or my clock went back. A new secret ends both.
                tracing::warn!("my DHT record was displaced: making a new reach secret");
                self.rotate_reach();
            }
            Ok(()) => {
                tracing::info!(?addrs, "addresses published on the DHT");
                self.dht.published = Some((addrs, Instant::now()));
                self.dht.retry_at = None;
            }
            Err(PublishError::Failed(e)) => {
                tracing::debug!("publishing on the DHT failed: {e}");
                self.dht.retry_at = Some(Instant::now() + RETRY);
            }
        }
    }

    /// A lookup ended: the next one is scheduled.
    pub(super) fn dht_lookup_done(&mut self, peer: PeerId, found: bool) {
        let l = self.dht.lookups.entry(peer).or_default();
        l.running = false;
        l.found = Some(found);
        l.count += 1;
        l.wait = if l.count < LOOKUP_QUICK {
            LOOKUP_FIRST
        } else {
            (l.wait * 2).clamp(LOOKUP_FIRST, LOOKUP_MAX)
        };
        // Timed from the start: a slow lookup is followed by the next one at once.
        l.next = Some(l.started.unwrap_or_else(Instant::now) + l.wait);
        self.dht_tick();
    }

    /// A lookup found a friend's addresses: new ones go first in the friend's record and are
    /// dialled at once.
    pub(super) fn dht_found(&mut self, peer: PeerId, found: Vec<SocketAddr>) {
        if found.is_empty() {
            return;
        }
        if self.is_online(&peer) && !self.relayed_now(&peer) {
            return;
        }
        let Ok(Some(mut f)) = self.store.friend(&peer) else {
            return;
        };
        let known = found.iter().all(|a| f.addrs.contains(a));
        let in_flight = self.dials.get(&peer).is_some_and(|d| d.in_flight);
        if known && in_flight {
            return; // already being dialled there
        }
        tracing::info!(peer = %peer.short(), addrs = ?found, "friend's addresses found on the DHT");
        let mut addrs = found.clone();
        addrs.extend(f.addrs.iter().filter(|a| !found.contains(a)));
        addrs.truncate(crate::proto::peer::MAX_ADDRS);
        f.addrs = addrs;
        if let Err(e) = self.store.put_friend(&f) {
            tracing::error!("storing a friend's DHT addresses: {e}");
        }
        match self.client_config(peer, None) {
            Ok(c) => self.spawn_dial(peer, found, c, None),
            Err(e) => tracing::error!("client config: {e}"),
        }
    }

    /// A friend went offline: look it up now (it may be restarting somewhere else), and
    /// often for a while.
    pub(super) fn dht_lookup_now(&mut self, peer: PeerId) {
        let l = self.dht.lookups.entry(peer).or_default();
        l.wait = LOOKUP_FIRST;
        l.count = 0;
        l.next = None;
        self.dht_tick();
    }

    /// The DHT client started: keep its port for the next start, publish and look up at once.
    pub(super) fn dht_ready(&mut self, client: Arc<DhtClient>) {
        if let Err(e) = self.store.set_dht_port(client.port()) {
            tracing::warn!("keeping the DHT port: {e}");
        }
        self.dht.client = Some(client);
        self.dht_tick();
    }
}
