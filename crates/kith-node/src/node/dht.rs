//! The node's side of addresses through the Mainline DHT: publishing my sealed record and
//! looking up friends I cannot reach, when `core::dht_sched` says so.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{now_ms, Msg, Node};
use crate::core::dht_sched::{DhtSched, Effect, Now, Outcome};
use crate::net::dht::{DhtClient, PublishError};
use kith_proto::album::unhex32;
use kith_proto::dht_record::{day_of, lookup_days, RecordKeys, MAX_ADDRS};
use kith_proto::identity::PeerId;

/// The DHT state the actor keeps.
#[derive(Default)]
pub(super) struct DhtState {
    /// Whether the DHT is used at all.
    pub enabled: bool,
    /// The client, once started (None: off, or still starting).
    pub client: Option<Arc<DhtClient>>,
    /// When to publish and look up (`core::dht_sched`).
    pub sched: DhtSched,
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
        self.sched.publish_soon();
    }

    /// In words, for `status`: `off`, `starting`, `published` or `not published yet`.
    pub(super) fn state(&self) -> &'static str {
        match (self.enabled, &self.client, self.sched.is_published()) {
            (false, _, _) => "off",
            (true, None, _) => "starting",
            (true, Some(_), true) => "published",
            (true, Some(_), false) => "not published yet",
        }
    }

    /// What the last lookup of a friend gave: `found`, `nothing found`, or None (not looked
    /// up yet, or the DHT is off).
    pub(super) fn lookup_result(&self, peer: &PeerId) -> Option<&'static str> {
        self.sched.lookup_result(peer)
    }

    /// Forgets the lookups of a peer that is no longer a friend.
    pub(super) fn forget(&mut self, peer: &PeerId) {
        self.sched.forget(peer);
    }

    /// Publishes again at the next tick (my record keys changed).
    pub(super) fn forget_published(&mut self) {
        self.sched.forget_published();
    }
}

/// The schedule's word for how a publish ended.
fn outcome(result: &Result<(), PublishError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Stored,
        Err(PublishError::Displaced) => Outcome::Displaced,
        Err(PublishError::Failed(_)) => Outcome::Failed,
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
    /// My record keys on a day (they follow my reach secret and the day).
    fn record_keys(&self, day: u64) -> RecordKeys {
        RecordKeys::derive(&self.reach, day)
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
        out.truncate(kith_proto::peer::MAX_ADDRS);
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

    /// Each tick (and whenever work may be due): runs what the schedule says is due now.
    pub(super) fn dht_tick(&mut self) {
        if self.dht.client.is_none() {
            return;
        }
        let addrs = self.my_public_addrs();
        let retired = self
            .store
            .retired_reach()
            .ok()
            .and_then(|r| r.first().copied());
        let unreachable: Vec<PeerId> = self
            .store
            .friends()
            .unwrap_or_default()
            .into_iter()
            .filter(|f| !self.reaching.direct(&f.id, self.live_remote(&f.id)))
            .filter(|f| f.reach.as_deref().and_then(unhex32).is_some())
            .map(|f| f.id)
            .collect();
        let now_secs = crate::clock::now();
        let invites: Vec<[u8; 32]> = self
            .store
            .invites()
            .unwrap_or_default()
            .iter()
            .filter_map(|i| i.live_lookup(now_secs))
            .collect();
        let effects = self.dht.sched.tick(Now {
            at: Instant::now(),
            day: day_of(now_secs),
            invites: &invites,
            addrs: &addrs,
            reach: self.reach,
            retired,
            unreachable: &unreachable,
        });
        self.run_dht(effects);
    }

    /// Runs what the DHT schedule decided.
    fn run_dht(&mut self, effects: Vec<Effect>) {
        let Some(client) = self.dht.client.clone() else {
            return;
        };
        for e in effects {
            match e {
                Effect::Publish { addrs, day } => {
                    let (keys, id, tx) = (
                        self.record_keys(day),
                        self.identity.clone(),
                        self.tx.clone(),
                    );
                    let (client, secret) = (client.clone(), self.reach);
                    tokio::spawn(async move {
                        let result = client.publish(&keys, &id, now_ms(), &addrs).await;
                        let _ = tx
                            .send(Msg::DhtPublished {
                                secret,
                                addrs,
                                day,
                                result,
                            })
                            .await;
                    });
                }
                // A record with no address under a retired reach secret, over the one
                // published under it: whoever still holds that secret (a removed friend, an
                // old invite) finds where I was no more.
                Effect::Empty { secret, day } => {
                    let (client, id, tx) = (client.clone(), self.identity.clone(), self.tx.clone());
                    tokio::spawn(async move {
                        let result = client
                            .publish(&RecordKeys::derive(&secret, day), &id, now_ms(), &[])
                            .await;
                        let _ = tx.send(Msg::DhtEmptied { secret, result }).await;
                    });
                }
                Effect::PublishInvite { secret, addrs, day } => {
                    let (client, id, tx) = (client.clone(), self.identity.clone(), self.tx.clone());
                    tokio::spawn(async move {
                        let keys = RecordKeys::derive(&secret, day);
                        let result = client.publish(&keys, &id, now_ms(), &addrs).await;
                        let _ = tx
                            .send(Msg::DhtInvitePublished {
                                secret,
                                addrs,
                                day,
                                result,
                            })
                            .await;
                    });
                }
                // The invite was used or expired: whoever still holds its link finds no
                // address of mine under its lookup secret.
                Effect::EmptyInvite { secret, day } => {
                    let (client, id, tx) = (client.clone(), self.identity.clone(), self.tx.clone());
                    tokio::spawn(async move {
                        let result = client
                            .publish(&RecordKeys::derive(&secret, day), &id, now_ms(), &[])
                            .await;
                        let _ = tx.send(Msg::DhtInviteEmptied { secret, result }).await;
                    });
                }
                Effect::ForgetRetired { secret } => {
                    if let Err(e) = self.store.drop_retired_reach(&secret) {
                        tracing::error!("forgetting a retired reach secret: {e}");
                    }
                }
                Effect::Lookup { peer } => {
                    let Some(secret) = self
                        .store
                        .friend(&peer)
                        .ok()
                        .flatten()
                        .and_then(|f| f.reach.as_deref().and_then(unhex32))
                    else {
                        // (it was a friend with a secret a moment ago, in this same turn)
                        self.dht.sched.lookup_done(peer, false, Instant::now());
                        continue;
                    };
                    let (client, tx) = (client.clone(), self.tx.clone());
                    tokio::spawn(async move {
                        // Each query to its end: the next lookup then starts a new one, which
                        // asks the nodes again (the DHT client answers a lookup of a target
                        // whose query is still going from that query's answers). Every newer
                        // record found is dialled at once: no waiting in case one comes.
                        // Just after midnight, yesterday's key too (§17.5).
                        let mut found = false;
                        for day in lookup_days(crate::clock::now()) {
                            let keys = RecordKeys::derive(&secret, day);
                            found |=
                                client
                                    .lookup_each(&keys, &peer, Duration::ZERO, |addrs| {
                                        let tx = tx.clone();
                                        async move {
                                            tx.send(Msg::DhtFound { peer, addrs }).await.is_ok()
                                        }
                                    })
                                    .await;
                        }
                        let _ = tx.send(Msg::DhtLookupDone { peer, found }).await;
                    });
                }
                Effect::RotateReach => {
                    tracing::warn!("my DHT record was displaced: making a new reach secret");
                    self.rotate_reach();
                }
            }
        }
    }

    /// Emptying a retired secret's record ended.
    pub(super) fn dht_emptied(&mut self, secret: [u8; 32], result: Result<(), PublishError>) {
        match &result {
            Err(PublishError::Failed(e)) => {
                tracing::debug!("emptying an old DHT record failed: {e}")
            }
            Err(PublishError::Displaced) => {}
            Ok(()) => tracing::info!("the DHT record under my old reach secret is emptied"),
        }
        let effects = self
            .dht
            .sched
            .emptied(secret, outcome(&result), Instant::now());
        if effects.is_empty() {
            return;
        }
        self.run_dht(effects);
        self.dht_tick();
    }

    /// A publish under an invite's lookup secret ended.
    pub(super) fn dht_invite_published(
        &mut self,
        secret: [u8; 32],
        addrs: Vec<SocketAddr>,
        day: u64,
        result: Result<(), PublishError>,
    ) {
        match &result {
            Ok(()) => tracing::debug!("addresses published under an invite's lookup secret"),
            Err(e) => tracing::debug!("publishing under an invite's lookup secret: {e}"),
        }
        self.dht
            .sched
            .invite_published(secret, addrs, day, outcome(&result), Instant::now());
    }

    /// Emptying a dead invite's record ended.
    pub(super) fn dht_invite_emptied(
        &mut self,
        secret: [u8; 32],
        result: Result<(), PublishError>,
    ) {
        match &result {
            Err(PublishError::Failed(e)) => {
                tracing::debug!("emptying a used invite's DHT record failed: {e}")
            }
            _ => tracing::info!("the DHT record under a used or expired invite is emptied"),
        }
        self.dht
            .sched
            .invite_emptied(secret, outcome(&result), Instant::now());
    }

    /// A publish ended.
    pub(super) fn dht_published(
        &mut self,
        secret: [u8; 32],
        addrs: Vec<SocketAddr>,
        day: u64,
        result: Result<(), PublishError>,
    ) {
        let current = secret == self.reach;
        match &result {
            Ok(()) if current => tracing::info!(?addrs, "addresses published on the DHT"),
            Err(PublishError::Failed(e)) if current => {
                tracing::debug!("publishing on the DHT failed: {e}")
            }
            _ => {}
        }
        let effects =
            self.dht
                .sched
                .published(current, addrs, day, outcome(&result), Instant::now());
        self.run_dht(effects);
    }

    /// A lookup ended: the next one is scheduled.
    pub(super) fn dht_lookup_done(&mut self, peer: PeerId, found: bool) {
        self.dht.sched.lookup_done(peer, found, Instant::now());
        self.dht_tick();
    }

    /// A lookup found a friend's addresses: new ones go first in the friend's record and are
    /// dialled at once.
    pub(super) fn dht_found(&mut self, peer: PeerId, found: Vec<SocketAddr>) {
        let Ok(Some(f)) = self.store.friend(&peer) else {
            return;
        };
        let dialling = self.dials.get(&peer).is_some_and(|d| d.in_flight);
        let effects =
            self.reaching
                .dht_found(peer, &found, &f.addrs, self.live_remote(&peer), dialling);
        if !effects.is_empty() {
            tracing::info!(peer = %peer.short(), addrs = ?found, "friend's addresses found on the DHT");
        }
        self.run_reach(effects);
    }

    /// A friend went offline: look it up now (it may be restarting somewhere else), and
    /// often for a while.
    pub(super) fn dht_lookup_now(&mut self, peer: PeerId) {
        self.dht.sched.lookup_now(peer);
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
