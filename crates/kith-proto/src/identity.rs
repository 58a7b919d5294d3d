//! Keys, certificates, peer IDs and safety numbers.

use std::fmt;
use std::str::FromStr;

use rcgen::{KeyPair, PKCS_ED25519};
use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};
use rustls_pki_types::PrivatePkcs8KeyDer;
use thiserror::Error;

/// Errors about identities and peer IDs.
#[derive(Debug, Error)]
pub enum IdentityError {
    /// The peer ID text is not 53 base32 characters.
    #[error("a peer ID is 53 letters and digits (a-z, 2-7); this one has {0}")]
    BadLength(usize),
    /// The peer ID has a character outside base32.
    #[error("a peer ID has only the letters a-z and digits 2-7; {0:?} is not one")]
    BadChar(char),
    /// The check digit does not match: a typo.
    #[error("this peer ID has a typo: its check digit does not match")]
    BadCheck,
    /// The key file could not be read or parsed.
    #[error("the identity key is unreadable: {0}")]
    BadKey(String),
    /// Certificate generation failed.
    #[error("could not make a certificate: {0}")]
    Cert(String),
}

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A peer's identity: its Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 32]);

impl PeerId {
    /// The raw public key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Checks an Ed25519 signature made by this peer.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(msg, sig)
            .is_ok()
    }

    /// The first characters of the ID, for logs.
    pub fn short(&self) -> String {
        self.to_string()[..8].to_string()
    }
}

fn luhn32(body: &[u8]) -> Result<u8, IdentityError> {
    // Luhn mod N (N = 32) over base32 code points: catches every single-character error.
    let mut factor = 2;
    let mut sum = 0u32;
    for &c in body.iter().rev() {
        let cp = ALPHABET
            .iter()
            .position(|&a| a == c)
            .ok_or(IdentityError::BadChar(c as char))? as u32;
        let addend = factor * cp;
        factor = if factor == 2 { 1 } else { 2 };
        sum += addend / 32 + addend % 32;
    }
    let check = (32 - sum % 32) % 32;
    Ok(ALPHABET[check as usize])
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = data_encoding::BASE32_NOPAD
            .encode(&self.0)
            .to_ascii_lowercase();
        let check = luhn32(body.as_bytes()).map_err(|_| fmt::Error)?;
        write!(f, "{body}{}", check as char)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", self.short())
    }
}

impl FromStr for PeerId {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        let chars: Vec<char> = s.chars().collect();
        if chars.len() != 53 {
            return Err(IdentityError::BadLength(chars.len()));
        }
        if let Some(c) = chars
            .iter()
            .find(|c| !ALPHABET.contains(&(**c as u8)) || !c.is_ascii())
        {
            return Err(IdentityError::BadChar(*c));
        }
        let (body, check) = s.split_at(52);
        if luhn32(body.as_bytes())? != check.as_bytes()[0] {
            return Err(IdentityError::BadCheck);
        }
        let raw = data_encoding::BASE32_NOPAD
            .decode(body.to_ascii_uppercase().as_bytes())
            .map_err(|_| IdentityError::BadCheck)?;
        let key: [u8; 32] = raw.try_into().map_err(|_| IdentityError::BadLength(53))?;
        Ok(PeerId(key))
    }
}

impl serde::Serialize for PeerId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for PeerId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Rounds of SHA-512 over each key's half of a safety number (Signal's count: a key whose
/// half matches a chosen one costs 5200 hashes per try).
pub const SAFETY_ROUNDS: usize = 5200;

/// The 30 digits one key gives to a safety number: `h = "kith safety number v2" || key`, then
/// `SAFETY_ROUNDS` times `h = SHA-512(h || key)`; each of the first six 5-byte chunks of `h`, as
/// a big-endian number modulo 100000, gives 5 digits.
fn safety_half(key: &PeerId) -> String {
    let mut h = b"kith safety number v2".to_vec();
    for _ in 0..SAFETY_ROUNDS {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA512);
        ctx.update(&h);
        ctx.update(&key.0);
        h = ctx.finish().as_ref().to_vec();
    }
    h.chunks(5)
        .take(6)
        .map(|c| {
            let n = c.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
            format!("{:05}", n % 100_000)
        })
        .collect()
}

/// The number both friends compare to know no one sits between them: 60 digits in 12 groups
/// of 5, the half of the smaller key (by bytes) first, so both sides see the same number.
pub fn safety_number(a: &PeerId, b: &PeerId) -> String {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let digits = safety_half(lo) + &safety_half(hi);
    let groups: Vec<&str> = (0..12).map(|i| &digits[i * 5..i * 5 + 5]).collect();
    groups.join(" ")
}

/// OID of the certificate extension that proves an invite's secret (private arc).
pub const INVITE_PROOF_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 59999, 1, 1];

/// This node's key pair.
pub struct Identity {
    pkcs8: Vec<u8>,
    key: Ed25519KeyPair,
}

impl Identity {
    /// Makes a fresh identity.
    pub fn generate() -> Result<Self, IdentityError> {
        let kp =
            KeyPair::generate_for(&PKCS_ED25519).map_err(|e| IdentityError::Cert(e.to_string()))?;
        Self::from_pkcs8(kp.serialize_der())
    }

    /// Loads an identity from PKCS#8 DER bytes.
    pub fn from_pkcs8(pkcs8: Vec<u8>) -> Result<Self, IdentityError> {
        let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
            .map_err(|e| IdentityError::BadKey(e.to_string()))?;
        Ok(Identity { pkcs8, key })
    }

    /// Reads an identity from PEM text (a key file's contents).
    pub fn from_pem(pem: &str) -> Result<Self, IdentityError> {
        let kp = KeyPair::from_pem(pem).map_err(|e| IdentityError::BadKey(e.to_string()))?;
        Self::from_pkcs8(kp.serialize_der())
    }

    /// The key as PEM text (secret: write it with mode 0600).
    pub fn to_pem(&self) -> Result<String, IdentityError> {
        let kp = self.rcgen_key()?;
        Ok(kp.serialize_pem())
    }

    /// The PKCS#8 DER bytes (secret).
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key in rcgen's form, to sign certificates with (secret).
    pub fn rcgen_key(&self) -> Result<KeyPair, IdentityError> {
        let der = PrivatePkcs8KeyDer::from(self.pkcs8.clone());
        KeyPair::from_pkcs8_der_and_sign_algo(&der, &PKCS_ED25519)
            .map_err(|e| IdentityError::BadKey(e.to_string()))
    }

    /// This node's peer ID.
    pub fn peer_id(&self) -> PeerId {
        let mut k = [0u8; 32];
        k.copy_from_slice(self.key.public_key().as_ref());
        PeerId(k)
    }

    /// Signs a message with the identity key.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.key.sign(msg).as_ref().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_round_trips_through_text() {
        let id = Identity::generate().unwrap().peer_id();
        let text = id.to_string();
        assert_eq!(text.len(), 53);
        assert_eq!(text.parse::<PeerId>().unwrap(), id);
        assert_eq!(text.to_uppercase().parse::<PeerId>().unwrap(), id);
    }

    #[test]
    fn peer_id_check_digit_catches_every_one_character_typo() {
        let id = Identity::generate().unwrap().peer_id().to_string();
        for pos in 0..id.len() {
            for &c in ALPHABET.iter() {
                let mut typo = id.clone().into_bytes();
                if typo[pos] == c {
                    continue;
                }
                typo[pos] = c;
                let typo = String::from_utf8(typo).unwrap();
                assert!(
                    typo.parse::<PeerId>().is_err(),
                    "typo at {pos} not caught: {typo}"
                );
            }
        }
    }

    #[test]
    fn peer_id_typo_gives_a_clear_error() {
        let id = Identity::generate().unwrap().peer_id().to_string();
        let mut b = id.into_bytes();
        b[10] = if b[10] == b'a' { b'b' } else { b'a' };
        let err = String::from_utf8(b).unwrap().parse::<PeerId>().unwrap_err();
        assert!(err.to_string().contains("typo"), "{err}");
        assert!(matches!(
            "abc".parse::<PeerId>(),
            Err(IdentityError::BadLength(3))
        ));
    }

    #[test]
    fn safety_number_is_60_digits_in_12_groups_of_5_the_same_on_both_sides_and_differs_per_pair() {
        let a = Identity::generate().unwrap().peer_id();
        let b = Identity::generate().unwrap().peer_id();
        let c = Identity::generate().unwrap().peer_id();
        let ab = safety_number(&a, &b);
        assert_eq!(ab, safety_number(&b, &a));
        assert_ne!(ab, safety_number(&a, &c));
        assert_ne!(ab, safety_number(&c, &b));
        let groups: Vec<&str> = ab.split(' ').collect();
        assert_eq!(groups.len(), 12, "{ab}");
        assert!(groups
            .iter()
            .all(|g| g.len() == 5 && g.bytes().all(|d| d.is_ascii_digit())));
        // Each key owns one half: the pair (a, c) shares a's half with (a, b).
        let half = |n: &str| (n[..35].to_string(), n[36..].to_string());
        let (ac, bc) = (safety_number(&a, &c), safety_number(&b, &c));
        let mine = |n: &str, k: &PeerId, other: &PeerId| {
            let (lo, hi) = half(n);
            if k <= other {
                lo
            } else {
                hi
            }
        };
        assert_eq!(mine(&ab, &a, &b), mine(&ac, &a, &c));
        assert_eq!(mine(&bc, &c, &b), mine(&ac, &c, &a));
    }

    #[test]
    fn the_protocol_documents_safety_number_vector_is_what_the_code_makes() {
        use crate::vectors::{text, vectors};
        for v in vectors("safety_number") {
            let a: PeerId = text(&v, "a").parse().unwrap();
            let b: PeerId = text(&v, "b").parse().unwrap();
            assert_eq!(safety_number(&a, &b), text(&v, "safety_number"));
            assert_eq!(safety_number(&b, &a), text(&v, "safety_number"));
        }
    }

    #[test]
    fn identity_survives_pem_round_trip_and_signs() {
        let id = Identity::generate().unwrap();
        let back = Identity::from_pem(&id.to_pem().unwrap()).unwrap();
        assert_eq!(back.peer_id(), id.peer_id());
        let sig = back.sign(b"hello");
        assert!(id.peer_id().verify(b"hello", &sig));
        assert!(!id.peer_id().verify(b"hellO", &sig));
    }
}
