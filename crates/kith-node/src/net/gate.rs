//! The door for incoming handshakes: per source IP address, a cap on handshakes in progress
//! and a rate; per source address and port, a time-out for one whose handshakes keep failing
//! (a stranger knocking). The shut-out keys on the port too, so a stranger behind the same
//! carrier-grade NAT as a friend (one public IP, another port) cannot lock the friend out.
//! Sans-IO: the accept loop asks and reports; time is passed in.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Most handshakes in progress from one address.
pub const PER_ADDR_IN_FLIGHT: u32 = 4;
/// Handshakes one address may start per second, on average…
pub const PER_ADDR_RATE: f64 = 5.0;
/// …and in a burst.
pub const PER_ADDR_BURST: f64 = 20.0;
/// Failed handshakes from one address and port within `FAIL_WINDOW` that shut it out for `SHUT_OUT`.
pub const FAILS_TO_SHUT_OUT: u32 = 10;
const FAIL_WINDOW: Duration = Duration::from_secs(60);
/// How long an address and port are ignored after too many failed handshakes.
pub const SHUT_OUT: Duration = Duration::from_secs(60);
/// Handshakes in progress (all addresses) above which unproven addresses must prove they own
/// their address first (a QUIC retry), so spoofed floods cost nothing.
pub const RETRY_ABOVE: usize = 16;
/// Addresses remembered at most; idle ones are forgotten past this.
const MAX_ADDRS: usize = 10_000;

/// How an admitted handshake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The peer was let in.
    LetIn,
    /// Refused: not a friend, a bad certificate or hello, a used invite.
    Refused,
    /// Given up by the other side or timed out (a dial that lost a race, a lost network).
    Abandoned,
}

/// What to do with one incoming handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Accept,
    /// Ask the client to prove its address first (stateless retry).
    Retry,
    /// Drop it without an answer.
    Ignore,
}

/// Per IP address: handshakes in progress and the rate.
#[derive(Debug)]
struct Addr {
    in_flight: u32,
    tokens: f64,
    last: Instant,
}

/// Per address and port: failed handshakes and the shut-out.
#[derive(Debug)]
struct Fails {
    fails: u32,
    fails_since: Instant,
    shut_until: Option<Instant>,
}

/// Per-address handshake bookkeeping.
#[derive(Debug, Default)]
pub struct Gate {
    addrs: HashMap<IpAddr, Addr>,
    fails: HashMap<SocketAddr, Fails>,
    in_flight: usize,
}

impl Gate {
    /// Decides about a handshake from `from`; `validated` says the client proved its address.
    /// An `Accept` must be followed by one `done` for the same address.
    pub fn admit(&mut self, from: SocketAddr, validated: bool, now: Instant) -> Decision {
        if self.addrs.len() >= MAX_ADDRS {
            self.addrs.retain(|_, a| a.in_flight > 0);
        }
        if self.fails.len() >= MAX_ADDRS {
            self.fails
                .retain(|_, f| f.shut_until.is_some_and(|t| t > now));
        }
        if self
            .fails
            .get(&from)
            .is_some_and(|f| f.shut_until.is_some_and(|t| t > now))
        {
            return Decision::Ignore;
        }
        let a = self.addrs.entry(from.ip()).or_insert(Addr {
            in_flight: 0,
            tokens: PER_ADDR_BURST,
            last: now,
        });
        let elapsed = now.saturating_duration_since(a.last).as_secs_f64();
        a.tokens = (a.tokens + elapsed * PER_ADDR_RATE).min(PER_ADDR_BURST);
        a.last = now;
        if a.in_flight >= PER_ADDR_IN_FLIGHT || a.tokens < 1.0 {
            return Decision::Ignore;
        }
        if !validated && self.in_flight >= RETRY_ABOVE {
            return Decision::Retry;
        }
        a.tokens -= 1.0;
        a.in_flight += 1;
        self.in_flight += 1;
        Decision::Accept
    }

    /// A handshake admitted from `from` ended; only refusals count towards shutting it out.
    pub fn done(&mut self, from: SocketAddr, outcome: Outcome, now: Instant) {
        let Some(a) = self.addrs.get_mut(&from.ip()) else {
            return;
        };
        a.in_flight = a.in_flight.saturating_sub(1);
        self.in_flight = self.in_flight.saturating_sub(1);
        match outcome {
            Outcome::LetIn => {
                self.fails.remove(&from);
                return;
            }
            Outcome::Abandoned => return,
            Outcome::Refused => {}
        }
        let a = self.fails.entry(from).or_insert(Fails {
            fails: 0,
            fails_since: now,
            shut_until: None,
        });
        if now.saturating_duration_since(a.fails_since) > FAIL_WINDOW {
            a.fails = 0;
            a.fails_since = now;
        }
        a.fails += 1;
        if a.fails >= FAILS_TO_SHUT_OUT {
            a.shut_until = Some(now + SHUT_OUT);
            a.fails = 0;
            tracing::info!(%from, "too many failed handshakes: ignoring this address and port for a minute");
        }
    }

    /// Handshakes in progress.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> SocketAddr {
        SocketAddr::from(([198, 51, 100, n], 40000))
    }

    #[test]
    fn one_address_gets_a_few_handshakes_at_once_and_others_still_get_theirs() {
        let mut g = Gate::default();
        let t = Instant::now();
        for _ in 0..PER_ADDR_IN_FLIGHT {
            assert_eq!(g.admit(ip(1), true, t), Decision::Accept);
        }
        assert_eq!(g.admit(ip(1), true, t), Decision::Ignore);
        assert_eq!(g.admit(ip(2), true, t), Decision::Accept);
        g.done(ip(1), Outcome::LetIn, t);
        assert_eq!(g.admit(ip(1), true, t), Decision::Accept);
    }

    #[test]
    fn an_address_past_its_rate_waits_for_tokens() {
        let mut g = Gate::default();
        let t = Instant::now();
        let mut accepted = 0;
        for _ in 0..100 {
            if g.admit(ip(1), true, t) == Decision::Accept {
                accepted += 1;
                g.done(ip(1), Outcome::LetIn, t);
            }
        }
        assert_eq!(accepted, PER_ADDR_BURST as usize);
        let later = t + Duration::from_secs(1);
        assert_eq!(g.admit(ip(1), true, later), Decision::Accept);
    }

    #[test]
    fn repeated_failed_handshakes_shut_an_address_out_for_a_while() {
        let mut g = Gate::default();
        let mut t = Instant::now();
        for _ in 0..FAILS_TO_SHUT_OUT {
            assert_eq!(g.admit(ip(1), true, t), Decision::Accept);
            g.done(ip(1), Outcome::Refused, t);
            t += Duration::from_millis(300);
        }
        assert_eq!(g.admit(ip(1), true, t), Decision::Ignore);
        assert_eq!(g.admit(ip(2), true, t), Decision::Accept);
        // Abandoned handshakes (a dial that lost a race) never shut an address out.
        for _ in 0..FAILS_TO_SHUT_OUT + 5 {
            assert_eq!(g.admit(ip(3), true, t), Decision::Accept);
            g.done(ip(3), Outcome::Abandoned, t);
        }
        assert_eq!(
            g.admit(ip(1), true, t + SHUT_OUT + Duration::from_secs(1)),
            Decision::Accept
        );
    }

    #[test]
    fn under_load_unproven_addresses_must_prove_themselves_first() {
        let mut g = Gate::default();
        let t = Instant::now();
        for n in 0..RETRY_ABOVE as u8 {
            assert_eq!(g.admit(ip(n), false, t), Decision::Accept);
        }
        assert_eq!(g.admit(ip(200), false, t), Decision::Retry);
        assert_eq!(g.admit(ip(200), true, t), Decision::Accept);
        assert_eq!(g.in_flight(), RETRY_ABOVE + 1);
    }

    #[test]
    fn a_shut_out_port_does_not_shut_out_another_port_of_the_same_address() {
        // A stranger and a friend behind one carrier-grade NAT: one public IP, two ports.
        let mut g = Gate::default();
        let mut t = Instant::now();
        let stranger = SocketAddr::from(([198, 51, 100, 7], 40001));
        let friend = SocketAddr::from(([198, 51, 100, 7], 40002));
        for _ in 0..FAILS_TO_SHUT_OUT {
            assert_eq!(g.admit(stranger, true, t), Decision::Accept);
            g.done(stranger, Outcome::Refused, t);
            t += Duration::from_millis(300);
        }
        assert_eq!(g.admit(stranger, true, t), Decision::Ignore);
        assert_eq!(g.admit(friend, true, t), Decision::Accept);
        g.done(friend, Outcome::LetIn, t);
        // The rate and the cap on handshakes in progress stay per IP address.
        let t = t + Duration::from_secs(10);
        for _ in 0..PER_ADDR_IN_FLIGHT {
            assert_eq!(g.admit(friend, true, t), Decision::Accept);
        }
        let third = SocketAddr::from(([198, 51, 100, 7], 40003));
        assert_eq!(g.admit(third, true, t), Decision::Ignore);
    }
}
