//! The door for incoming handshakes: per source address, a cap on handshakes in progress, a
//! rate, and a time-out for an address whose handshakes keep failing (a stranger knocking).
//! Sans-IO: the accept loop asks and reports; time is passed in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Most handshakes in progress from one address.
pub const PER_ADDR_IN_FLIGHT: u32 = 4;
/// Handshakes one address may start per second, on average…
pub const PER_ADDR_RATE: f64 = 5.0;
/// …and in a burst.
pub const PER_ADDR_BURST: f64 = 20.0;
/// Failed handshakes from one address within `FAIL_WINDOW` that shut it out for `SHUT_OUT`.
pub const FAILS_TO_SHUT_OUT: u32 = 10;
const FAIL_WINDOW: Duration = Duration::from_secs(60);
/// How long an address is ignored after too many failed handshakes.
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

#[derive(Debug)]
struct Addr {
    in_flight: u32,
    tokens: f64,
    last: Instant,
    fails: u32,
    fails_since: Instant,
    shut_until: Option<Instant>,
}

/// Per-address handshake bookkeeping.
#[derive(Debug, Default)]
pub struct Gate {
    addrs: HashMap<IpAddr, Addr>,
    in_flight: usize,
}

impl Gate {
    /// Decides about a handshake from `ip`; `validated` says the client proved its address.
    /// An `Accept` must be followed by one `done` for the same address.
    pub fn admit(&mut self, ip: IpAddr, validated: bool, now: Instant) -> Decision {
        if self.addrs.len() >= MAX_ADDRS {
            self.addrs
                .retain(|_, a| a.in_flight > 0 || a.shut_until.is_some_and(|t| t > now));
        }
        let a = self.addrs.entry(ip).or_insert(Addr {
            in_flight: 0,
            tokens: PER_ADDR_BURST,
            last: now,
            fails: 0,
            fails_since: now,
            shut_until: None,
        });
        if a.shut_until.is_some_and(|t| t > now) {
            return Decision::Ignore;
        }
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

    /// A handshake admitted from `ip` ended; only refusals count towards shutting it out.
    pub fn done(&mut self, ip: IpAddr, outcome: Outcome, now: Instant) {
        let Some(a) = self.addrs.get_mut(&ip) else {
            return;
        };
        a.in_flight = a.in_flight.saturating_sub(1);
        self.in_flight = self.in_flight.saturating_sub(1);
        match outcome {
            Outcome::LetIn => {
                a.fails = 0;
                return;
            }
            Outcome::Abandoned => return,
            Outcome::Refused => {}
        }
        if now.saturating_duration_since(a.fails_since) > FAIL_WINDOW {
            a.fails = 0;
            a.fails_since = now;
        }
        a.fails += 1;
        if a.fails >= FAILS_TO_SHUT_OUT {
            a.shut_until = Some(now + SHUT_OUT);
            a.fails = 0;
            tracing::info!(%ip, "too many failed handshakes: ignoring this address for a minute");
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

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([198, 51, 100, n])
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
}
