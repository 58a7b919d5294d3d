//! Invite links: `kith://invite/<base64url of a compact binary body and its signature>`, signed by
//! the inviter, and the proof of the invite secret that the acceptor carries in its TLS certificate.

use std::net::SocketAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use thiserror::Error;

use crate::hash::{hmac, hmac_verify};
use crate::identity::{Identity, PeerId};

/// The prefix every invite link starts with.
pub const PREFIX: &str = "kith://invite/";
/// Longest invite link accepted.
pub const MAX_LINK: usize = 4096;
/// Length of the proof carried in the acceptor's certificate: invite ID then HMAC.
pub const PROOF_LEN: usize = 16 + 32;

/// What is wrong with an invite link.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum InviteError {
    /// Not a Kith invite at all.
    #[error("this is not a Kith invite link (it should start with {PREFIX})")]
    NotInvite,
    /// Damaged, cut short or changed since it was made.
    #[error("this invite link is damaged or was altered; ask your friend for a new one")]
    Tampered,
    /// Past its expiry.
    #[error("this invite expired; ask your friend for a new one")]
    Expired,
}

/// The signed part of an invite.
#[derive(Debug, Clone, PartialEq)]
pub struct InviteBody {
    /// The inviter's key.
    pub peer: PeerId,
    /// The inviter's name.
    pub name: String,
    /// Where the inviter listens.
    pub addrs: Vec<SocketAddr>,
    /// Invite ID.
    pub invite_id: [u8; 16],
    /// One-time secret.
    pub secret: [u8; 32],
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// The invite's own lookup secret: finds the inviter's DHT record while the invite lives
    /// (absent in version 1). It is not the inviter's reach secret, which friends learn only
    /// in the hello; links made before invites had their own carried the reach secret here.
    pub lookup: Option<[u8; 32]>,
}

/// Format version byte: 2 ends with the lookup secret, 1 (still accepted) has none.
const VERSION: u8 = 2;
const SIG_LEN: usize = 64;

/// Compact binary form (short links make small QR codes):
/// `1 | peer 32 | invite id 16 | secret 32 | expiry u64 BE | name len u8 | name UTF-8 |
/// addr count u8 | (4 ipv4 4 | 6 ipv6 16) port u16 BE ... | lookup 32` (version 2; version 1
/// has no lookup secret); the signature (64) follows.
fn encode_body(b: &InviteBody) -> Vec<u8> {
    let mut out = vec![if b.lookup.is_some() { VERSION } else { 1 }];
    out.extend_from_slice(b.peer.as_bytes());
    out.extend_from_slice(&b.invite_id);
    out.extend_from_slice(&b.secret);
    out.extend_from_slice(&b.exp.to_be_bytes());
    // At most 255 bytes, cut on a character boundary.
    let mut name = String::new();
    for c in b.name.chars() {
        if name.len() + c.len_utf8() > 255 {
            break;
        }
        name.push(c);
    }
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    let addrs = &b.addrs[..b.addrs.len().min(crate::peer::MAX_ADDRS)];
    out.push(addrs.len() as u8);
    for a in addrs {
        match a.ip() {
            std::net::IpAddr::V4(ip) => {
                out.push(4);
                out.extend_from_slice(&ip.octets());
            }
            std::net::IpAddr::V6(ip) => {
                out.push(6);
                out.extend_from_slice(&ip.octets());
            }
        }
        out.extend_from_slice(&a.port().to_be_bytes());
    }
    if let Some(r) = &b.lookup {
        out.extend_from_slice(r);
    }
    out
}

/// A cursor that refuses to read past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], InviteError> {
        if self.0.len() < n {
            return Err(InviteError::Tampered);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], InviteError> {
        self.take(N)?.try_into().map_err(|_| InviteError::Tampered)
    }
    fn byte(&mut self) -> Result<u8, InviteError> {
        Ok(self.take(1)?[0])
    }
}

fn decode_body(bytes: &[u8]) -> Result<InviteBody, InviteError> {
    let mut r = Reader(bytes);
    let version = r.byte()?;
    if version != 1 && version != VERSION {
        return Err(InviteError::Tampered);
    }
    let peer = PeerId(r.array()?);
    let invite_id = r.array()?;
    let secret = r.array()?;
    let exp = u64::from_be_bytes(r.array()?);
    let name_len = r.byte()? as usize;
    let name = std::str::from_utf8(r.take(name_len)?).map_err(|_| InviteError::Tampered)?;
    let name = crate::names::validate_name(name).map_err(|_| InviteError::Tampered)?;
    let count = r.byte()? as usize;
    if count > crate::peer::MAX_ADDRS {
        return Err(InviteError::Tampered);
    }
    let mut addrs = Vec::with_capacity(count);
    for _ in 0..count {
        let ip = match r.byte()? {
            4 => std::net::IpAddr::from(r.array::<4>()?),
            6 => std::net::IpAddr::from(r.array::<16>()?),
            _ => return Err(InviteError::Tampered),
        };
        addrs.push(SocketAddr::new(ip, u16::from_be_bytes(r.array()?)));
    }
    let lookup = if version == VERSION {
        Some(r.array()?)
    } else {
        None
    };
    if !r.0.is_empty() {
        return Err(InviteError::Tampered);
    }
    Ok(InviteBody {
        peer,
        name,
        addrs,
        invite_id,
        secret,
        exp,
        lookup,
    })
}

fn signing_input(body: &[u8]) -> Vec<u8> {
    let mut m = b"kith invite v1\0".to_vec();
    m.extend_from_slice(body);
    m
}

/// Makes and signs the link text for an invite.
pub fn link(id: &Identity, body: &InviteBody) -> String {
    let mut bytes = encode_body(body);
    let sig = id.sign(&signing_input(&bytes));
    bytes.extend_from_slice(&sig);
    format!("{PREFIX}{}", B64.encode(bytes))
}

/// Parses a link and checks its signature and expiry against `now`.
pub fn parse(link: &str, now: u64) -> Result<InviteBody, InviteError> {
    let link = link.trim();
    if link.len() > MAX_LINK {
        return Err(InviteError::Tampered);
    }
    let data = link.strip_prefix(PREFIX).ok_or(InviteError::NotInvite)?;
    let raw = B64.decode(data).map_err(|_| InviteError::Tampered)?;
    if raw.len() < SIG_LEN {
        return Err(InviteError::Tampered);
    }
    let (body_bytes, sig) = raw.split_at(raw.len() - SIG_LEN);
    let body = decode_body(body_bytes)?;
    if !body.peer.verify(&signing_input(body_bytes), sig) {
        return Err(InviteError::Tampered);
    }
    if body.exp < now {
        return Err(InviteError::Expired);
    }
    Ok(body)
}

fn proof_input(acceptor: &PeerId) -> Vec<u8> {
    let mut m = b"kith invite proof v1\0".to_vec();
    m.extend_from_slice(acceptor.as_bytes());
    m
}

/// The proof an acceptor puts in its certificate: it knows the secret, bound to its own key.
pub fn make_proof(invite_id: &[u8; 16], secret: &[u8; 32], acceptor: &PeerId) -> Vec<u8> {
    let mut p = invite_id.to_vec();
    p.extend_from_slice(&hmac(secret, &proof_input(acceptor)));
    p
}

/// Splits a proof into invite ID and tag.
pub fn split_proof(proof: &[u8]) -> Option<([u8; 16], &[u8])> {
    if proof.len() != PROOF_LEN {
        return None;
    }
    let mut iid = [0u8; 16];
    iid.copy_from_slice(&proof[..16]);
    Some((iid, &proof[16..]))
}

/// Checks a proof's tag for a given acceptor key.
pub fn check_proof(secret: &[u8; 32], acceptor: &PeerId, tag: &[u8]) -> bool {
    hmac_verify(secret, &proof_input(acceptor), tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Identity, String, InviteBody) {
        let id = Identity::generate().unwrap();
        let body = InviteBody {
            peer: id.peer_id(),
            name: "Ann ✓".into(),
            addrs: vec![
                "127.0.0.1:4000".parse().unwrap(),
                "[2001:db8::1]:5".parse().unwrap(),
            ],
            invite_id: [7u8; 16],
            secret: [9u8; 32],
            exp: 2_000,
            lookup: Some([5u8; 32]),
        };
        let link = link(&id, &body);
        let inv = parse(&link, 1_000).unwrap();
        (id, link, inv)
    }

    #[test]
    fn invite_link_round_trips_and_is_short() {
        let (id, l, inv) = sample();
        assert_eq!(inv.peer, id.peer_id());
        assert_eq!(inv.invite_id, [7u8; 16]);
        assert_eq!(inv.secret, [9u8; 32]);
        assert_eq!(inv.name, "Ann ✓");
        assert_eq!(inv.addrs.len(), 2);
        assert_eq!(inv.lookup, Some([5u8; 32]));
        assert!(l.len() < 350, "link of {} characters", l.len());
        // A version-1 link (no lookup secret) is still accepted.
        let v1 = InviteBody {
            lookup: None,
            ..inv.clone()
        };
        assert_eq!(parse(&link(&id, &v1), 1_000), Ok(v1));
        // The longest name (64 four-byte characters) still makes a valid link.
        let long = InviteBody {
            name: "😀".repeat(64),
            ..inv
        };
        assert!(parse(&link(&id, &long), 1_000).is_ok());
    }

    #[test]
    fn every_changed_character_of_an_invite_is_refused() {
        let (_, link, _) = sample();
        let alphabet = b"AZaz09-_";
        for pos in PREFIX.len()..link.len() {
            for &c in alphabet {
                let mut b = link.clone().into_bytes();
                if b[pos] == c {
                    continue;
                }
                b[pos] = c;
                let t = String::from_utf8(b).unwrap();
                match parse(&t, 1_000) {
                    Err(_) => {}
                    // base64 padding bits at the very end may not change the decoded bytes
                    Ok(inv) => assert_eq!(parse(&link, 1_000).unwrap(), inv),
                }
            }
        }
    }

    #[test]
    fn invite_past_expiry_is_refused_and_junk_is_not_an_invite() {
        let (_, link, _) = sample();
        assert_eq!(parse(&link, 3_000), Err(InviteError::Expired));
        assert_eq!(parse("https://example.com", 0), Err(InviteError::NotInvite));
        assert_eq!(parse("kith://invite/!!!", 0), Err(InviteError::Tampered));
        let long = format!("{PREFIX}{}", "A".repeat(10_000));
        assert_eq!(parse(&long, 0), Err(InviteError::Tampered));
    }

    #[test]
    fn proof_is_bound_to_the_acceptor_key_and_the_secret() {
        let a = Identity::generate().unwrap().peer_id();
        let b = Identity::generate().unwrap().peer_id();
        let p = make_proof(&[1; 16], &[2; 32], &a);
        let (iid, tag) = split_proof(&p).unwrap();
        assert_eq!(iid, [1; 16]);
        assert!(check_proof(&[2; 32], &a, tag));
        assert!(!check_proof(&[2; 32], &b, tag));
        assert!(!check_proof(&[3; 32], &a, tag));
        assert!(split_proof(&p[..20]).is_none());
    }

    #[test]
    fn the_protocol_documents_invite_vectors_are_what_the_code_makes() {
        use crate::vectors::{bytes, identity, text, vectors};
        for v in vectors("invite") {
            let id = identity(&v);
            let exp = v["exp"].as_u64().unwrap();
            let body = parse(text(&v, "link"), exp).expect("the link parses");
            assert_eq!(body.peer, id.peer_id());
            assert_eq!(body.peer.to_string(), text(&v, "peer"));
            assert_eq!(body.name, text(&v, "name"));
            let addrs: Vec<SocketAddr> = serde_json::from_value(v["addrs"].clone()).unwrap();
            assert_eq!(body.addrs, addrs);
            assert_eq!(body.invite_id.to_vec(), bytes(&v, "invite_id"));
            assert_eq!(body.secret.to_vec(), bytes(&v, "secret"));
            assert_eq!(body.lookup.map(|r| r.to_vec()), Some(bytes(&v, "lookup")));
            assert_eq!(link(&id, &body), text(&v, "link"));
        }
        for v in vectors("invite_proof") {
            let acceptor: PeerId = text(&v, "acceptor").parse().unwrap();
            let iid: [u8; 16] = bytes(&v, "invite_id").try_into().unwrap();
            let secret: [u8; 32] = bytes(&v, "secret").try_into().unwrap();
            assert_eq!(make_proof(&iid, &secret, &acceptor), bytes(&v, "proof"));
        }
    }
}
