//! The address record a node publishes on the Mainline DHT (BEP 44), sealed for its friends.
//!
//! The record's DHT key and its encryption key both derive from a lookup secret: the node's
//! reach secret, which only friends learn (in the hello), or a live invite's own lookup secret.
//! A stranger who knows the peer ID can neither compute where the record is stored nor read
//! it: the peer ID appears nowhere on the DHT, and the value is ChaCha20-Poly1305 ciphertext.
//! The DHT key also changes every UTC day, so the DHT's nodes cannot link one day's publishes
//! to the next. Inside, the node's identity signs the addresses, so a friend cannot pass off
//! addresses for another friend.

use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};

use crate::hash::{hmac, random};
use crate::identity::{Identity, PeerId};

/// Most addresses in one record (BEP 44 values are at most 1000 bytes).
pub const MAX_ADDRS: usize = 8;
/// Longest sealed value accepted.
pub const MAX_VALUE: usize = 1000;
const AAD: &[u8] = b"kith dht record v1";
const SIGN_CONTEXT: &[u8] = b"kith dht addrs v1\0";

/// Length of an epoch of the DHT key: a UTC day, in seconds.
pub const EPOCH_SECS: u64 = 86_400;
/// For this long after midnight (UTC), a lookup also tries the day before's key: the
/// publisher's clock may be behind, or it has not republished yet.
pub const EPOCH_SLACK_SECS: u64 = 3_600;

/// The day number (Unix seconds / 86400) of a time in Unix seconds.
pub fn day_of(unix_secs: u64) -> u64 {
    unix_secs / EPOCH_SECS
}

/// The days whose keys a lookup at `unix_secs` tries: today, and yesterday within
/// `EPOCH_SLACK_SECS` after midnight.
pub fn lookup_days(unix_secs: u64) -> Vec<u64> {
    let today = day_of(unix_secs);
    if unix_secs % EPOCH_SECS < EPOCH_SLACK_SECS && today > 0 {
        vec![today, today - 1]
    } else {
        vec![today]
    }
}

/// The keys of one node's record on one day, derived from a lookup secret.
#[derive(Clone)]
pub struct RecordKeys {
    /// Seed of the Ed25519 key the DHT record is signed and found by (not the node's identity);
    /// it changes every day.
    pub dht_seed: [u8; 32],
    /// ChaCha20-Poly1305 key the value is sealed with.
    seal: [u8; 32],
}

impl RecordKeys {
    /// The keys for a lookup secret on day `day` (see [`day_of`]).
    pub fn derive(secret: &[u8; 32], day: u64) -> RecordKeys {
        let mut m = b"kith dht signing key v2\0".to_vec();
        m.extend_from_slice(&day.to_be_bytes());
        RecordKeys {
            dht_seed: hmac(secret, &m),
            seal: hmac(secret, b"kith dht sealing key v1"),
        }
    }
}

/// What the sealed value holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Plain {
    /// The publishing node.
    peer: PeerId,
    /// Milliseconds since the Unix epoch when published (also the BEP 44 sequence number).
    at: u64,
    /// Where it can be reached.
    addrs: Vec<SocketAddr>,
    /// Identity signature (base64) over `SIGN_CONTEXT || peer || at || addrs JSON`.
    sig: String,
}

fn signing_input(peer: &PeerId, at: u64, addrs: &[SocketAddr]) -> Vec<u8> {
    let mut m = SIGN_CONTEXT.to_vec();
    m.extend_from_slice(peer.as_bytes());
    m.extend_from_slice(&at.to_be_bytes());
    m.extend_from_slice(&serde_json::to_vec(addrs).unwrap_or_default());
    m
}

/// Seals a node's addresses (at most [`MAX_ADDRS`]) as a record value: nonce then ciphertext.
pub fn seal(keys: &RecordKeys, id: &Identity, at: u64, addrs: &[SocketAddr]) -> Vec<u8> {
    let addrs: Vec<SocketAddr> = addrs.iter().take(MAX_ADDRS).copied().collect();
    let peer = id.peer_id();
    let sig = id.sign(&signing_input(&peer, at, &addrs));
    let plain = Plain {
        peer,
        at,
        addrs,
        sig: B64.encode(sig),
    };
    let body = serde_json::to_vec(&plain).unwrap_or_default();
    let nonce: [u8; 12] = random();
    let sealed = ChaCha20Poly1305::new(Key::from_slice(&keys.seal))
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &body,
                aad: AAD,
            },
        )
        .unwrap_or_default();
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    out
}

/// Opens a record value found under `peer`'s keys: its addresses and publication time, or None
/// when it does not decrypt, is not `peer`'s or its signature does not hold.
pub fn open(keys: &RecordKeys, peer: &PeerId, value: &[u8]) -> Option<(u64, Vec<SocketAddr>)> {
    if value.len() < 12 || value.len() > MAX_VALUE {
        return None;
    }
    let (nonce, sealed) = value.split_at(12);
    let body = ChaCha20Poly1305::new(Key::from_slice(&keys.seal))
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: AAD,
            },
        )
        .ok()?;
    let plain: Plain = serde_json::from_slice(&body).ok()?;
    if plain.peer != *peer || plain.addrs.len() > MAX_ADDRS {
        return None;
    }
    let sig = B64.decode(&plain.sig).ok()?;
    peer.verify(&signing_input(peer, plain.at, &plain.addrs), &sig)
        .then_some((plain.at, plain.addrs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> Vec<SocketAddr> {
        vec![
            "203.0.113.7:41000".parse().unwrap(),
            "10.0.0.5:41000".parse().unwrap(),
        ]
    }

    #[test]
    fn a_sealed_record_opens_only_with_the_same_secret_and_for_its_own_peer() {
        let id = Identity::generate().unwrap();
        let keys = RecordKeys::derive(&[1u8; 32], 20_000);
        let v = seal(&keys, &id, 1234, &addrs());
        assert!(v.len() <= MAX_VALUE);
        assert_eq!(open(&keys, &id.peer_id(), &v), Some((1234, addrs())));
        // Another secret: nothing.
        assert_eq!(
            open(&RecordKeys::derive(&[2u8; 32], 20_000), &id.peer_id(), &v),
            None
        );
        // Another peer's ID with the right secret: refused.
        let other = Identity::generate().unwrap().peer_id();
        assert_eq!(open(&keys, &other, &v), None);
        // One flipped bit: refused.
        let mut bad = v.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(open(&keys, &id.peer_id(), &bad), None);
    }

    #[test]
    fn the_dht_key_differs_between_two_days_and_is_the_same_within_one() {
        let secret = [6u8; 32];
        // Two times on one UTC day, and one on the next (a fake clock: Unix seconds).
        let (morning, evening, next) = (1_795_000_000, 1_795_000_000 + 3_600, 1_795_046_400);
        assert_eq!(day_of(morning), day_of(evening));
        assert_eq!(day_of(next), day_of(morning) + 1);
        let key = |t: u64| RecordKeys::derive(&secret, day_of(t)).dht_seed;
        assert_eq!(key(morning), key(evening));
        assert_ne!(key(morning), key(next));
        // Another secret on the same day: another key.
        assert_ne!(
            RecordKeys::derive(&[7u8; 32], day_of(morning)).dht_seed,
            key(morning)
        );
        // A record sealed on one day still opens with the next day's keys (only the DHT key
        // moves).
        let id = Identity::generate().unwrap();
        let v = seal(&RecordKeys::derive(&secret, 1), &id, 5, &addrs());
        assert!(open(&RecordKeys::derive(&secret, 2), &id.peer_id(), &v).is_some());
    }

    #[test]
    fn just_after_midnight_a_lookup_also_tries_yesterdays_key() {
        let midnight = 20_000 * EPOCH_SECS;
        assert_eq!(lookup_days(midnight), vec![20_000, 19_999]);
        assert_eq!(
            lookup_days(midnight + EPOCH_SLACK_SECS - 1),
            vec![20_000, 19_999]
        );
        assert_eq!(lookup_days(midnight + EPOCH_SLACK_SECS), vec![20_000]);
        assert_eq!(lookup_days(midnight - 1), vec![19_999]);
    }

    #[test]
    fn a_record_sealed_with_another_identity_is_refused_even_with_the_secret() {
        // A friend knows the secret and could seal a record; it cannot sign as the owner.
        let owner = Identity::generate().unwrap();
        let friend = Identity::generate().unwrap();
        let keys = RecordKeys::derive(&[3u8; 32], 20_000);
        let forged = seal(&keys, &friend, 99, &addrs());
        assert_eq!(open(&keys, &owner.peer_id(), &forged), None);
    }

    #[test]
    fn the_sealed_value_shows_neither_addresses_nor_peer_id() {
        let id = Identity::generate().unwrap();
        let keys = RecordKeys::derive(&[4u8; 32], 20_000);
        let v = seal(&keys, &id, 5, &addrs());
        let hay = String::from_utf8_lossy(&v);
        assert!(!hay.contains("203.0.113.7") && !hay.contains("41000"));
        assert!(!v.windows(4).any(|w| w == [203, 0, 113, 7]));
        assert!(!v.windows(32).any(|w| w == id.peer_id().as_bytes()));
        assert_ne!(keys.dht_seed, *id.peer_id().as_bytes());
    }

    #[test]
    fn the_protocol_documents_address_vector_is_the_input_the_code_signs() {
        use crate::vectors::{identity, text, vectors};
        for v in vectors("dht_addrs") {
            let id = identity(&v);
            assert_eq!(id.peer_id().to_string(), text(&v, "peer"));
            let addrs: Vec<SocketAddr> = serde_json::from_value(v["addrs"].clone()).unwrap();
            assert_eq!(
                serde_json::to_string(&addrs).unwrap(),
                text(&v, "canonical")
            );
            let at = v["at"].as_u64().unwrap();
            let sig = id.sign(&signing_input(&id.peer_id(), at, &addrs));
            assert_eq!(B64.encode(sig), text(&v, "sig"));
        }
    }
}
