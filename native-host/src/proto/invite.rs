//! Invite links: `kith://invite/<base64url JSON>`, signed by the inviter, and the proof of the
//! invite's secret that the acceptor carries in its TLS certificate.

use std::net::SocketAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InviteBody {
    /// Format version.
    pub v: u32,
    /// The inviter's key.
    pub peer: PeerId,
    /// The inviter's name.
    pub name: String,
    /// Where the inviter listens.
    pub addrs: Vec<SocketAddr>,
    /// Invite ID, hex.
    pub iid: String,
    /// One-time secret, hex.
    pub secret: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
}

#[derive(Serialize, Deserialize)]
struct Signed {
    body: InviteBody,
    sig: String,
}

fn signing_input(body: &InviteBody) -> Vec<u8> {
    let mut m = b"kith invite v1\0".to_vec();
    m.extend(serde_json::to_vec(body).unwrap_or_default());
    m
}

/// A parsed, signature-checked invite.
#[derive(Debug, Clone, PartialEq)]
pub struct Invite {
    /// The signed contents.
    pub body: InviteBody,
    /// Invite ID.
    pub invite_id: [u8; 16],
    /// Secret.
    pub secret: [u8; 32],
}

fn hex_array<const N: usize>(s: &str) -> Result<[u8; N], InviteError> {
    let v = data_encoding::HEXLOWER
        .decode(s.as_bytes())
        .map_err(|_| InviteError::Tampered)?;
    v.try_into().map_err(|_| InviteError::Tampered)
}

impl Invite {
    /// Makes and signs the link text for an invite.
    pub fn link(id: &Identity, body: &InviteBody) -> String {
        let sig = id.sign(&signing_input(body));
        let signed = Signed {
            body: body.clone(),
            sig: B64.encode(sig),
        };
        format!(
            "{PREFIX}{}",
            B64.encode(serde_json::to_vec(&signed).unwrap_or_default())
        )
    }

    /// Parses a link and checks its signature and expiry against `now`.
    pub fn parse(link: &str, now: u64) -> Result<Invite, InviteError> {
        let link = link.trim();
        if link.len() > MAX_LINK {
            return Err(InviteError::Tampered);
        }
        let data = link.strip_prefix(PREFIX).ok_or(InviteError::NotInvite)?;
        let raw = B64.decode(data).map_err(|_| InviteError::Tampered)?;
        let signed: Signed = serde_json::from_slice(&raw).map_err(|_| InviteError::Tampered)?;
        let sig = B64.decode(&signed.sig).map_err(|_| InviteError::Tampered)?;
        if signed.body.v != 1 || !signed.body.peer.verify(&signing_input(&signed.body), &sig) {
            return Err(InviteError::Tampered);
        }
        let invite_id = hex_array(&signed.body.iid)?;
        let secret = hex_array(&signed.body.secret)?;
        if signed.body.exp < now {
            return Err(InviteError::Expired);
        }
        Ok(Invite {
            body: signed.body,
            invite_id,
            secret,
        })
    }
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

    fn sample() -> (Identity, String, Invite) {
        let id = Identity::generate().unwrap();
        let body = InviteBody {
            v: 1,
            peer: id.peer_id(),
            name: "Ann".into(),
            addrs: vec!["127.0.0.1:4000".parse().unwrap()],
            iid: data_encoding::HEXLOWER.encode(&[7u8; 16]),
            secret: data_encoding::HEXLOWER.encode(&[9u8; 32]),
            exp: 2_000,
        };
        let link = Invite::link(&id, &body);
        let inv = Invite::parse(&link, 1_000).unwrap();
        (id, link, inv)
    }

    #[test]
    fn invite_link_round_trips() {
        let (id, _, inv) = sample();
        assert_eq!(inv.body.peer, id.peer_id());
        assert_eq!(inv.invite_id, [7u8; 16]);
        assert_eq!(inv.secret, [9u8; 32]);
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
                match Invite::parse(&t, 1_000) {
                    Err(_) => {}
                    // base64 padding bits at the very end may not change the decoded bytes
                    Ok(inv) => assert_eq!(Invite::parse(&link, 1_000).unwrap(), inv),
                }
            }
        }
    }

    #[test]
    fn invite_past_expiry_is_refused_and_junk_is_not_an_invite() {
        let (_, link, _) = sample();
        assert_eq!(Invite::parse(&link, 3_000), Err(InviteError::Expired));
        assert_eq!(
            Invite::parse("https://example.com", 0),
            Err(InviteError::NotInvite)
        );
        assert_eq!(
            Invite::parse("kith://invite/!!!", 0),
            Err(InviteError::Tampered)
        );
        let long = format!("{PREFIX}{}", "A".repeat(10_000));
        assert_eq!(Invite::parse(&long, 0), Err(InviteError::Tampered));
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
}
