//! When to use the Mainline DHT: publishing my sealed address record (again when my addresses
//! change, when the UTC day and with it the record's DHT key changes, every `REPUBLISH`, after
//! a failure), the same record under each live invite's own lookup secret (emptied once the
//! invite is used or expired), emptying the record of a reach secret given up,
//! and looking up each friend I cannot reach (often just after it went offline, then less).
//! Sans-IO: the actor (`node/dht.rs`) passes what it knows and the time, runs the effects and
//! reports how they ended.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kith_proto::identity::PeerId;

/// My record is published again this often even when nothing changed (BEP 44 items expire
/// after about two hours).
pub const REPUBLISH: Duration = Duration::from_secs(30 * 60);
/// A failed publish (or emptying) is tried again after this long: the DHT's nodes may answer
/// next time, and a few seconds cost nothing.
pub const RETRY: Duration = Duration::from_secs(5);
/// Time from the start of one lookup of a friend that went offline to the next, for its first
/// `LOOKUP_QUICK` lookups (it may be restarting somewhere else and publish any second).
pub const LOOKUP_FIRST: Duration = Duration::from_secs(1);
/// How many lookups go at `LOOKUP_FIRST` before the wait doubles (about the time a restart or
/// a move to another network takes).
pub const LOOKUP_QUICK: u32 = 15;
/// The longest wait between lookups of a friend (it still comes back within a minute).
pub const LOOKUP_MAX: Duration = Duration::from_secs(60);
/// A lookup due this close to a tick starts on it (ticks are a second apart, as is
/// `LOOKUP_FIRST`: without this, jitter would make every other tick miss).
pub const LOOKUP_SLACK: Duration = Duration::from_millis(100);

/// What the actor is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Publish these addresses under my reach secret in use, with that day's DHT key; report
    /// with `published`.
    Publish {
        /// My public addresses, best first.
        addrs: Vec<SocketAddr>,
        /// The day whose key to publish under (`dht_record::day_of`).
        day: u64,
    },
    /// Publish a record with no address under this retired secret, with that day's DHT key;
    /// report with `emptied`.
    Empty {
        /// The retired reach secret.
        secret: [u8; 32],
        /// The day whose key to publish under.
        day: u64,
    },
    /// Forget this retired secret (its record is emptied, or it is the secret in use).
    ForgetRetired {
        /// The retired reach secret.
        secret: [u8; 32],
    },
    /// Publish these addresses under a live invite's lookup secret, with that day's DHT key;
    /// report with `invite_published`.
    PublishInvite {
        /// The invite's lookup secret.
        secret: [u8; 32],
        /// My public addresses, best first.
        addrs: Vec<SocketAddr>,
        /// The day whose key to publish under.
        day: u64,
    },
    /// Publish a record with no address under the lookup secret of an invite that was used or
    /// expired; report with `invite_emptied`.
    EmptyInvite {
        /// The dead invite's lookup secret.
        secret: [u8; 32],
        /// The day whose key to publish under.
        day: u64,
    },
    /// Look this friend's record up; report with `lookup_done`.
    Lookup {
        /// The friend.
        peer: PeerId,
    },
    /// Make a new reach secret: someone else publishes under mine.
    RotateReach,
}

/// How a publish (or an emptying) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The record is stored.
    Stored,
    /// A record with a higher sequence number is stored under the key.
    Displaced,
    /// Anything else (no DHT node answered, a timeout).
    Failed,
}

/// What the actor knows at a tick.
#[derive(Debug, Clone, Copy)]
pub struct Now<'a> {
    /// The time.
    pub at: Instant,
    /// The UTC day number now (`dht_record::day_of`): the record's DHT key changes with it.
    pub day: u64,
    /// My public addresses as they are now, best first.
    pub addrs: &'a [SocketAddr],
    /// My reach secret in use.
    pub reach: [u8; 32],
    /// The oldest retired reach secret, if any.
    pub retired: Option<[u8; 32]>,
    /// The lookup secrets of my invites that can still be used (not used, not expired).
    pub invites: &'a [[u8; 32]],
    /// Friends I cannot reach directly now that have a reach secret to look them up by.
    pub unreachable: &'a [PeerId],
}

#[derive(Debug, Default)]
struct Lookup {
    running: bool,
    /// When the last lookup started.
    started: Option<Instant>,
    /// When the next may start (None: at once).
    next: Option<Instant>,
    /// The current wait between starts.
    wait: Duration,
    /// Lookups since the friend went offline.
    count: u32,
    /// Whether the last lookup found a record that opens.
    found: Option<bool>,
}

/// The DHT schedule.
#[derive(Debug, Default)]
pub struct DhtSched {
    /// What I published last, when, and under which day's key (None: not yet).
    published: Option<(Vec<SocketAddr>, Instant, u64)>,
    /// When a failed publish may be tried again.
    retry_at: Option<Instant>,
    /// A publish is under way.
    publishing: bool,
    /// Emptying a retired secret's record is under way.
    emptying: bool,
    /// When a failed emptying may be tried again.
    empty_retry_at: Option<Instant>,
    /// Per friend: lookup under way, when the next may start, the current wait.
    lookups: HashMap<PeerId, Lookup>,
    /// My record under each live invite's lookup secret.
    invites: HashMap<[u8; 32], InviteRecord>,
    /// Lookup secrets of dead invites whose record is to be emptied, and when a failed
    /// emptying may be tried again; the ones being emptied are in `invites_emptying`.
    invites_to_empty: HashMap<[u8; 32], Option<Instant>>,
    invites_emptying: HashSet<[u8; 32]>,
}

/// My record under one invite's lookup secret.
#[derive(Debug, Default)]
struct InviteRecord {
    /// What was published last, when, under which day's key.
    published: Option<(Vec<SocketAddr>, Instant, u64)>,
    /// A publish is under way.
    publishing: bool,
    /// When a failed publish may be tried again.
    retry_at: Option<Instant>,
}

/// Whether a record last published as `last` is due again at `now`.
fn due(last: &Option<(Vec<SocketAddr>, Instant, u64)>, now: &Now<'_>) -> bool {
    match last {
        Some((addrs, at, day)) => {
            addrs != now.addrs || *day != now.day || now.at.duration_since(*at) >= REPUBLISH
        }
        None => true,
    }
}

impl DhtSched {
    /// Whether my record was published (and not forgotten since).
    pub fn is_published(&self) -> bool {
        self.published.is_some()
    }

    /// The invite lookup secrets my record is published (or being published) under now: only
    /// those of live invites. A dead invite's secret leaves this set at the first tick after
    /// its invite was used or expired, and its record is emptied.
    pub fn invite_secrets(&self) -> Vec<[u8; 32]> {
        let mut out: Vec<[u8; 32]> = self.invites.keys().copied().collect();
        out.sort();
        out
    }

    /// What the last lookup of a friend gave: `found`, `nothing found`, or None (not looked
    /// up yet).
    pub fn lookup_result(&self, peer: &PeerId) -> Option<&'static str> {
        self.lookups
            .get(peer)
            .and_then(|l| l.found)
            .map(|f| if f { "found" } else { "nothing found" })
    }

    /// Publishes at the next chance, without waiting for a retry time (my addresses changed).
    pub fn publish_soon(&mut self) {
        self.retry_at = None;
    }

    /// Publishes again at the next tick (my record keys changed).
    pub fn forget_published(&mut self) {
        self.published = None;
        self.retry_at = None;
    }

    /// Forgets the lookups of a peer that is no longer a friend.
    pub fn forget(&mut self, peer: &PeerId) {
        self.lookups.remove(peer);
    }

    /// A tick (or anything that may make work due): publishes my record when my addresses
    /// changed, when the day changed, when it is due again, or after a failure's wait; empties the oldest retired
    /// secret's record; looks up the friends I cannot reach whose next lookup is due.
    pub fn tick(&mut self, now: Now<'_>) -> Vec<Effect> {
        let t = now.at;
        let mut out = Vec::new();
        if due(&self.published, &now)
            && !now.addrs.is_empty()
            && !self.publishing
            && self.retry_at.is_none_or(|r| r <= t)
        {
            self.publishing = true;
            out.push(Effect::Publish {
                addrs: now.addrs.to_vec(),
                day: now.day,
            });
        }
        if !self.emptying && self.empty_retry_at.is_none_or(|r| r <= t) {
            match now.retired {
                // Never empty the record of the secret in use (a crash can keep one write of
                // a new secret and lose the other).
                Some(secret) if secret == now.reach => out.push(Effect::ForgetRetired { secret }),
                Some(secret) => {
                    self.emptying = true;
                    out.push(Effect::Empty {
                        secret,
                        day: now.day,
                    });
                }
                None => {}
            }
        }
        self.tick_invites(&now, &mut out);
        for peer in now.unreachable {
            let l = self.lookups.entry(*peer).or_default();
            if l.running || l.next.is_some_and(|n| n > t + LOOKUP_SLACK) {
                continue;
            }
            l.running = true;
            l.started = Some(t);
            out.push(Effect::Lookup { peer: *peer });
        }
        out
    }

    /// My records under invites' lookup secrets: published while the invite lives, emptied
    /// once it died (used or expired), never published again after that.
    fn tick_invites(&mut self, now: &Now<'_>, out: &mut Vec<Effect>) {
        let t = now.at;
        let dead: Vec<[u8; 32]> = self
            .invites
            .keys()
            .filter(|s| !now.invites.contains(s))
            .copied()
            .collect();
        for secret in dead {
            if let Some(r) = self.invites.remove(&secret) {
                if r.published.is_some() || r.publishing {
                    self.invites_to_empty.insert(secret, None);
                }
            }
        }
        for secret in now.invites {
            if self.invites_to_empty.contains_key(secret) || self.invites_emptying.contains(secret)
            {
                continue; // (it died once: never again)
            }
            let r = self.invites.entry(*secret).or_default();
            if due(&r.published, now)
                && !now.addrs.is_empty()
                && !r.publishing
                && r.retry_at.is_none_or(|at| at <= t)
            {
                r.publishing = true;
                out.push(Effect::PublishInvite {
                    secret: *secret,
                    addrs: now.addrs.to_vec(),
                    day: now.day,
                });
            }
        }
        for (secret, retry) in self.invites_to_empty.iter_mut() {
            if self.invites_emptying.contains(secret) || retry.is_some_and(|r| r > t) {
                continue;
            }
            *retry = None;
            self.invites_emptying.insert(*secret);
            out.push(Effect::EmptyInvite {
                secret: *secret,
                day: now.day,
            });
        }
    }

    /// A publish under an invite's lookup secret ended. Displaced counts as stored: someone
    /// else holds the invite's secret (it was in the link), which tells nothing about my
    /// reach secret, so it changes nothing else.
    pub fn invite_published(
        &mut self,
        secret: [u8; 32],
        addrs: Vec<SocketAddr>,
        day: u64,
        outcome: Outcome,
        at: Instant,
    ) {
        let Some(r) = self.invites.get_mut(&secret) else {
            return; // the invite died meanwhile: its record is being emptied
        };
        r.publishing = false;
        match outcome {
            Outcome::Stored | Outcome::Displaced => {
                r.published = Some((addrs, at, day));
                r.retry_at = None;
            }
            Outcome::Failed => r.retry_at = Some(at + RETRY),
        }
    }

    /// Emptying a dead invite's record ended: done unless it failed (then tried again after
    /// `RETRY`).
    pub fn invite_emptied(&mut self, secret: [u8; 32], outcome: Outcome, at: Instant) {
        self.invites_emptying.remove(&secret);
        if outcome == Outcome::Failed {
            self.invites_to_empty.insert(secret, Some(at + RETRY));
        } else {
            self.invites_to_empty.remove(&secret);
        }
    }

    /// A publish ended; `current` says it was sealed under the reach secret still in use (else
    /// it is published again under the new one at the next tick).
    pub fn published(
        &mut self,
        current: bool,
        addrs: Vec<SocketAddr>,
        day: u64,
        outcome: Outcome,
        at: Instant,
    ) -> Vec<Effect> {
        self.publishing = false;
        if !current {
            return Vec::new();
        }
        match outcome {
            // A record that outranks mine: someone else holds my reach secret (a friend, a
            // link made before invites had their own lookup secret), or my clock went back.
            // A new secret ends both; no invite link holds the new one.
            Outcome::Displaced => return vec![Effect::RotateReach],
            Outcome::Stored => {
                self.published = Some((addrs, at, day));
                self.retry_at = None;
            }
            Outcome::Failed => self.retry_at = Some(at + RETRY),
        }
        Vec::new()
    }

    /// Emptying a retired secret's record ended. Displaced is as good as stored: a newer record
    /// is there, put by someone holding the old secret, and it gives no address of mine.
    pub fn emptied(&mut self, secret: [u8; 32], outcome: Outcome, at: Instant) -> Vec<Effect> {
        self.emptying = false;
        if outcome == Outcome::Failed {
            self.empty_retry_at = Some(at + RETRY);
            return Vec::new();
        }
        self.empty_retry_at = None;
        vec![Effect::ForgetRetired { secret }]
    }

    /// A lookup of `peer` ended (`found`: a record opened and gave addresses): the next one
    /// is scheduled, timed from this one's start so that a slow lookup is followed at once.
    pub fn lookup_done(&mut self, peer: PeerId, found: bool, at: Instant) {
        let l = self.lookups.entry(peer).or_default();
        l.running = false;
        l.found = Some(found);
        l.count += 1;
        l.wait = if l.count < LOOKUP_QUICK {
            LOOKUP_FIRST
        } else {
            (l.wait * 2).clamp(LOOKUP_FIRST, LOOKUP_MAX)
        };
        l.next = Some(l.started.unwrap_or(at) + l.wait);
    }

    /// A friend went offline: it is looked up at the next tick (it may be restarting
    /// somewhere else), and often for a while.
    pub fn lookup_now(&mut self, peer: PeerId) {
        let l = self.lookups.entry(peer).or_default();
        l.wait = LOOKUP_FIRST;
        l.count = 0;
        l.next = None;
    }
}

/// What one lookup reports, and when: the addresses of the newest record that opens, `grace`
/// after the first arrives (in case another DHT node holds a newer one) and at once for each
/// newer one after that. A record with no address (left under a reach secret given up) is
/// told to nobody but outranks older ones. Sans-IO: the DHT client feeds records and the
/// time.
#[derive(Debug)]
pub struct LookupReport {
    grace: Duration,
    /// The newest record so far: its sequence number, addresses, and whether they were told
    /// (or are not to be: no address).
    best: Option<(u64, Vec<SocketAddr>, bool)>,
    /// When to tell the best record.
    tell_at: Option<Instant>,
    /// Whether any addresses were told.
    told_any: bool,
}

impl LookupReport {
    /// A lookup that waits `grace` after the first record before telling it.
    pub fn new(grace: Duration) -> LookupReport {
        LookupReport {
            grace,
            best: None,
            tell_at: None,
            told_any: false,
        }
    }

    /// A record that opened arrived: sequence number `seq`, addresses `addrs`.
    pub fn record(&mut self, seq: u64, addrs: Vec<SocketAddr>, now: Instant) {
        if self.best.as_ref().is_some_and(|(b, _, _)| seq <= *b) {
            return;
        }
        let told = addrs.is_empty();
        if self.tell_at.is_none() && !told {
            self.tell_at = Some(match self.best {
                None => now + self.grace,
                Some(_) => now,
            });
        }
        self.best = Some((seq, addrs, told));
    }

    /// When the next report is due (None: none waits).
    pub fn wake_at(&self) -> Option<Instant> {
        self.tell_at
    }

    /// The addresses to tell now, if a report is due.
    pub fn due(&mut self, now: Instant) -> Option<Vec<SocketAddr>> {
        if self.tell_at.is_none_or(|t| t > now) {
            return None;
        }
        self.tell_at = None;
        self.take()
    }

    /// The query ended: the addresses not told yet, if any.
    pub fn end(&mut self) -> Option<Vec<SocketAddr>> {
        self.tell_at = None;
        self.take()
    }

    /// Whether any addresses were told.
    pub fn told_any(&self) -> bool {
        self.told_any
    }

    fn take(&mut self) -> Option<Vec<SocketAddr>> {
        match self.best.as_mut() {
            Some((_, addrs, told @ false)) => {
                *told = true;
                self.told_any = true;
                Some(addrs.clone())
            }
            _ => None,
        }
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

    const MINE: [u8; 32] = [1; 32];
    const OLD: [u8; 32] = [2; 32];
    const DAY: u64 = 20_000;

    /// A tick at `base + secs` with these addresses and friends to look up.
    fn tick(
        s: &mut DhtSched,
        base: Instant,
        secs: f64,
        addrs: &[SocketAddr],
        unreachable: &[PeerId],
    ) -> Vec<Effect> {
        s.tick(Now {
            day: DAY,
            at: base + Duration::from_secs_f64(secs),
            addrs,
            reach: MINE,
            retired: None,
            invites: &[],
            unreachable,
        })
    }

    fn publishes(effects: &[Effect]) -> bool {
        effects.iter().any(|e| matches!(e, Effect::Publish { .. }))
    }

    fn lookups(effects: &[Effect]) -> Vec<PeerId> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Lookup { peer } => Some(*peer),
                _ => None,
            })
            .collect()
    }

    /// Starts and ends one lookup of `p` at `base + secs`, taking `took` seconds; whether it
    /// started.
    fn one_lookup(s: &mut DhtSched, base: Instant, secs: f64, took: f64, p: PeerId) -> bool {
        let started = lookups(&tick(s, base, secs, &[], &[p])) == vec![p];
        if started {
            s.lookup_done(p, false, base + Duration::from_secs_f64(secs + took));
        }
        started
    }

    #[test]
    fn core_dht_publishes_at_once_then_only_when_addresses_change_or_republish_is_due() {
        let (mut s, base) = (DhtSched::default(), Instant::now());
        let a = [addr("203.0.113.7:41000")];
        let e = tick(&mut s, base, 0.0, &a, &[]);
        assert_eq!(
            e,
            vec![Effect::Publish {
                addrs: a.to_vec(),
                day: DAY
            }]
        );
        // Under way: not again.
        assert!(!publishes(&tick(&mut s, base, 1.0, &a, &[])));
        assert!(s
            .published(
                true,
                a.to_vec(),
                DAY,
                Outcome::Stored,
                base + Duration::from_secs(2)
            )
            .is_empty());
        assert!(s.is_published());
        // Same addresses: nothing until REPUBLISH after the publish ended.
        assert!(!publishes(&tick(&mut s, base, 60.0, &a, &[])));
        let republish = 2.0 + REPUBLISH.as_secs_f64();
        assert!(!publishes(&tick(&mut s, base, republish - 1.0, &a, &[])));
        assert!(publishes(&tick(&mut s, base, republish, &a, &[])));
        s.published(
            true,
            a.to_vec(),
            DAY,
            Outcome::Stored,
            base + Duration::from_secs_f64(republish),
        );
        // New addresses: at once.
        let b = [addr("203.0.113.7:42000")];
        assert_eq!(
            tick(&mut s, base, republish + 1.0, &b, &[]),
            vec![Effect::Publish {
                addrs: b.to_vec(),
                day: DAY
            }]
        );
    }

    #[test]
    fn core_dht_publishes_again_under_the_new_days_key_when_the_day_changes() {
        let (mut s, base) = (DhtSched::default(), Instant::now());
        let a = [addr("203.0.113.7:41000")];
        let at = |secs: u64, day: u64| Now {
            at: base + Duration::from_secs(secs),
            day,
            addrs: &a,
            reach: MINE,
            retired: None,
            invites: &[],
            unreachable: &[],
        };
        assert!(publishes(&s.tick(at(0, DAY))));
        s.published(true, a.to_vec(), DAY, Outcome::Stored, base);
        // The same day, the same addresses: nothing.
        assert!(!publishes(&s.tick(at(60, DAY))));
        // Midnight (UTC): the key changed, so publish at once under the new day's.
        assert_eq!(
            s.tick(at(61, DAY + 1)),
            vec![Effect::Publish {
                addrs: a.to_vec(),
                day: DAY + 1
            }]
        );
        s.published(
            true,
            a.to_vec(),
            DAY + 1,
            Outcome::Stored,
            base + Duration::from_secs(62),
        );
        assert!(!publishes(&s.tick(at(63, DAY + 1))));
    }

    /// A tick at `base + secs` with these live invites (the reach record already published).
    fn tick_invites(
        s: &mut DhtSched,
        base: Instant,
        secs: u64,
        invites: &[[u8; 32]],
    ) -> Vec<Effect> {
        let a = [addr("203.0.113.7:41000")];
        s.tick(Now {
            at: base + Duration::from_secs(secs),
            day: DAY,
            addrs: &a,
            reach: MINE,
            retired: None,
            invites,
            unreachable: &[],
        })
    }

    fn invite_effects(effects: &[Effect]) -> Vec<Effect> {
        effects
            .iter()
            .filter(|e| matches!(e, Effect::PublishInvite { .. } | Effect::EmptyInvite { .. }))
            .cloned()
            .collect()
    }

    #[test]
    fn core_dht_an_invites_record_lives_with_the_invite_then_is_emptied_and_never_published_again()
    {
        const LINK: [u8; 32] = [9; 32];
        let (mut s, base) = (DhtSched::default(), Instant::now());
        let a = vec![addr("203.0.113.7:41000")];
        // The invite lives: my record goes under its lookup secret too, not only my reach's.
        let e = tick_invites(&mut s, base, 0, &[LINK]);
        assert!(publishes(&e));
        assert_eq!(
            invite_effects(&e),
            vec![Effect::PublishInvite {
                secret: LINK,
                addrs: a.clone(),
                day: DAY
            }]
        );
        s.published(true, a.clone(), DAY, Outcome::Stored, base);
        s.invite_published(LINK, a.clone(), DAY, Outcome::Stored, base);
        assert_eq!(s.invite_secrets(), vec![LINK]);
        assert!(invite_effects(&tick_invites(&mut s, base, 1, &[LINK])).is_empty());
        // The invite is used (or expires): its record is emptied at once…
        let e = tick_invites(&mut s, base, 2, &[]);
        assert_eq!(
            invite_effects(&e),
            vec![Effect::EmptyInvite {
                secret: LINK,
                day: DAY
            }]
        );
        assert!(s.invite_secrets().is_empty());
        // …tried again after a failure…
        s.invite_emptied(LINK, Outcome::Failed, base + Duration::from_secs(2));
        assert!(invite_effects(&tick_invites(&mut s, base, 3, &[])).is_empty());
        let e = tick_invites(&mut s, base, 2 + RETRY.as_secs(), &[]);
        assert_eq!(invite_effects(&e).len(), 1);
        s.invite_emptied(LINK, Outcome::Stored, base + Duration::from_secs(8));
        // …and never published again, whatever the day or the addresses.
        for secs in [9, 10, 4_000] {
            assert!(invite_effects(&tick_invites(&mut s, base, secs, &[])).is_empty());
        }
        assert!(s.invite_secrets().is_empty());
    }

    #[test]
    fn core_dht_a_displaced_invite_record_makes_no_new_reach_secret() {
        // Whoever holds the link can publish over the invite's record: that must not make me
        // give up my reach secret (which would strand my offline friends).
        const LINK: [u8; 32] = [9; 32];
        let (mut s, base) = (DhtSched::default(), Instant::now());
        let a = vec![addr("203.0.113.7:41000")];
        tick_invites(&mut s, base, 0, &[LINK]);
        s.published(true, a.clone(), DAY, Outcome::Stored, base);
        s.invite_published(LINK, a.clone(), DAY, Outcome::Displaced, base);
        let e = tick_invites(&mut s, base, 1, &[LINK]);
        assert!(!e.contains(&Effect::RotateReach));
        assert!(
            invite_effects(&e).is_empty(),
            "published again at once: {e:?}"
        );
        assert!(s.is_published());
    }

    #[test]
    fn core_dht_publishes_nothing_while_it_has_no_address() {
        let (mut s, base) = (DhtSched::default(), Instant::now());
        assert!(tick(&mut s, base, 0.0, &[], &[]).is_empty());
        assert!(!s.is_published());
    }

    #[test]
    fn core_dht_a_failed_publish_waits_retry_unless_my_addresses_changed() {
        let (mut s, base) = (DhtSched::default(), Instant::now());
        let a = [addr("203.0.113.7:41000")];
        tick(&mut s, base, 0.0, &a, &[]);
        s.published(
            true,
            a.to_vec(),
            DAY,
            Outcome::Failed,
            base + Duration::from_secs(1),
        );
        assert!(!publishes(&tick(
            &mut s,
            base,
            1.0 + RETRY.as_secs_f64() - 0.5,
            &a,
            &[]
        )));
        assert!(publishes(&tick(
            &mut s,
            base,
            1.0 + RETRY.as_secs_f64(),
            &a,
            &[]
        )));
        s.published(
            true,
            a.to_vec(),
            DAY,
            Outcome::Failed,
            base + Duration::from_secs(7),
        );
        // My addresses changed: no waiting.
        s.publish_soon();
        assert!(publishes(&tick(&mut s, base, 7.5, &a, &[])));
    }

    #[test]
    fn core_dht_a_displaced_record_makes_a_new_reach_secret_and_a_stale_one_is_published_again() {
        let (mut s, base) = (DhtSched::default(), Instant::now());
        let a = [addr("203.0.113.7:41000")];
        tick(&mut s, base, 0.0, &a, &[]);
        assert_eq!(
            s.published(true, a.to_vec(), DAY, Outcome::Displaced, base),
            vec![Effect::RotateReach]
        );
        assert!(!s.is_published());
        // Sealed under a secret given up meanwhile: it does not count as published.
        tick(&mut s, base, 1.0, &a, &[]);
        assert!(s
            .published(false, a.to_vec(), DAY, Outcome::Stored, base)
            .is_empty());
        assert!(!s.is_published());
        assert!(publishes(&tick(&mut s, base, 2.0, &a, &[])));
        // A new secret: publish again at once.
        s.published(
            true,
            a.to_vec(),
            DAY,
            Outcome::Stored,
            base + Duration::from_secs(3),
        );
        s.forget_published();
        assert!(publishes(&tick(&mut s, base, 4.0, &a, &[])));
    }

    #[test]
    fn core_dht_a_retired_secret_is_emptied_once_retried_after_a_failure_and_then_forgotten() {
        let (mut s, base) = (DhtSched::default(), Instant::now());
        let at = |secs: u64| base + Duration::from_secs(secs);
        let now = |secs: u64| Now {
            day: DAY,
            at: at(secs),
            addrs: &[],
            reach: MINE,
            retired: Some(OLD),
            invites: &[],
            unreachable: &[],
        };
        assert_eq!(
            s.tick(now(0)),
            vec![Effect::Empty {
                secret: OLD,
                day: DAY
            }]
        );
        assert!(s.tick(now(1)).is_empty(), "emptied twice at once");
        assert!(s.emptied(OLD, Outcome::Failed, at(1)).is_empty());
        assert!(s.tick(now(5)).is_empty(), "retried before RETRY");
        assert_eq!(
            s.tick(now(6)),
            vec![Effect::Empty {
                secret: OLD,
                day: DAY
            }]
        );
        assert_eq!(
            s.emptied(OLD, Outcome::Displaced, at(7)),
            vec![Effect::ForgetRetired { secret: OLD }]
        );
    }

    #[test]
    fn core_dht_the_record_of_the_secret_in_use_is_never_emptied() {
        let (mut s, base) = (DhtSched::default(), Instant::now());
        let e = s.tick(Now {
            day: DAY,
            at: base,
            addrs: &[],
            reach: MINE,
            retired: Some(MINE),
            invites: &[],
            unreachable: &[],
        });
        assert_eq!(e, vec![Effect::ForgetRetired { secret: MINE }]);
    }

    #[test]
    fn core_dht_a_friend_is_looked_up_every_second_at_first_then_the_wait_doubles_to_a_minute() {
        let (mut s, base) = (DhtSched::default(), Instant::now());
        let p = peer(3);
        let mut t = 0.0;
        let mut starts = Vec::new();
        // One tick a second, each lookup taking 0.3 s, with a little jitter on the ticks.
        while t < 400.0 {
            let jitter = if (t as u64).is_multiple_of(2) {
                0.04
            } else {
                -0.04
            };
            if one_lookup(&mut s, base, t + jitter, 0.3, p) {
                starts.push(t as u64);
            }
            t += 1.0;
        }
        // LOOKUP_QUICK lookups a second apart (the slack keeps jitter from skipping a tick)…
        assert_eq!(starts[..15], (0..15).collect::<Vec<u64>>()[..]);
        // …then waits of 2, 4, 8, 16, 32 s, then a minute at most.
        let gaps: Vec<u64> = starts.windows(2).map(|w| w[1] - w[0]).skip(14).collect();
        assert_eq!(gaps[..7], [2, 4, 8, 16, 32, 60, 60]);
        assert!(gaps.iter().all(|g| *g <= 60));
    }

    #[test]
    fn core_dht_a_friend_going_offline_resets_its_lookups_to_every_second() {
        let (mut s, base) = (DhtSched::default(), Instant::now());
        let p = peer(3);
        let mut t = 0.0;
        while t < 200.0 {
            one_lookup(&mut s, base, t, 0.1, p);
            t += 1.0;
        }
        // Deep in backoff: not due for a while.
        assert!(!one_lookup(&mut s, base, t, 0.1, p));
        s.lookup_now(p);
        for i in 0..5 {
            assert!(one_lookup(&mut s, base, t + i as f64, 0.1, p), "second {i}");
        }
    }

    #[test]
    fn core_dht_a_slow_lookup_is_followed_at_once_and_never_runs_twice() {
        let (mut s, base) = (DhtSched::default(), Instant::now());
        let p = peer(3);
        assert_eq!(lookups(&tick(&mut s, base, 0.0, &[], &[p])), vec![p]);
        // Still running: no second lookup.
        assert!(lookups(&tick(&mut s, base, 1.0, &[], &[p])).is_empty());
        assert!(lookups(&tick(&mut s, base, 4.0, &[], &[p])).is_empty());
        s.lookup_done(p, true, base + Duration::from_millis(4500));
        assert_eq!(s.lookup_result(&p), Some("found"));
        assert_eq!(lookups(&tick(&mut s, base, 5.0, &[], &[p])), vec![p]);
    }

    #[test]
    fn core_dht_only_unreachable_friends_are_looked_up_and_forgetting_a_friend_drops_its_result() {
        let (mut s, base) = (DhtSched::default(), Instant::now());
        let (p, q) = (peer(3), peer(4));
        assert_eq!(lookups(&tick(&mut s, base, 0.0, &[], &[q])), vec![q]);
        assert_eq!(s.lookup_result(&p), None);
        s.lookup_done(q, false, base);
        assert_eq!(s.lookup_result(&q), Some("nothing found"));
        s.forget(&q);
        assert_eq!(s.lookup_result(&q), None);
    }

    #[test]
    fn core_dht_a_lookup_tells_the_first_record_after_the_grace_and_newer_ones_at_once() {
        let (mut r, t) = (
            LookupReport::new(Duration::from_millis(300)),
            Instant::now(),
        );
        let ms = |n: u64| t + Duration::from_millis(n);
        let (a, b, c) = (
            vec![addr("203.0.113.7:41000")],
            vec![addr("203.0.113.7:42000")],
            vec![addr("203.0.113.7:43000")],
        );
        r.record(1_000, a.clone(), t);
        assert_eq!(r.wake_at(), Some(ms(300)));
        assert_eq!(r.due(ms(299)), None);
        // A newer one within the grace replaces it; an older one changes nothing.
        r.record(2_000, b.clone(), ms(100));
        r.record(1_500, a.clone(), ms(150));
        assert_eq!(r.due(ms(300)), Some(b.clone()));
        assert_eq!(r.due(ms(400)), None, "told twice");
        r.record(3_000, c.clone(), ms(500));
        assert_eq!(r.due(ms(500)), Some(c));
        assert_eq!(r.end(), None);
        assert!(r.told_any());
    }

    #[test]
    fn core_dht_an_emptied_record_is_never_told_and_hides_older_ones() {
        let (mut r, t) = (LookupReport::new(Duration::ZERO), Instant::now());
        r.record(2_000, vec![], t);
        assert_eq!(r.wake_at(), None);
        r.record(1_000, vec![addr("203.0.113.7:41000")], t);
        assert_eq!(r.due(t), None);
        assert_eq!(r.end(), None);
        assert!(!r.told_any());
    }

    #[test]
    fn core_dht_a_lookup_that_ends_within_the_grace_tells_its_record_then() {
        let (mut r, t) = (LookupReport::new(Duration::from_secs(1)), Instant::now());
        let a = vec![addr("203.0.113.7:41000")];
        r.record(1_000, a.clone(), t);
        assert_eq!(r.end(), Some(a));
        assert!(r.told_any());
    }
}
