//! Messages between nodes. Each request is one frame on a new bidirectional stream, answered
//! by one frame. The first stream of a connection carries the `hello` exchange.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::album::{unhex32, SignedAlbum};
use crate::comment::{SignedComment, ThreadEntry, MAX_ENTRIES};
use crate::ids::{AlbumId, ItemId};
use crate::names::validate_name;

/// Most addresses a peer may announce.
pub const MAX_ADDRS: usize = 16;

/// A message on a peer stream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PeerMsg {
    /// First message each way: who I am and where I can be reached.
    Hello(Hello),
    /// A request was refused.
    Error {
        /// Stable code (PROTOCOL.md §8).
        code: PeerCode,
        /// Human-readable text.
        message: String,
    },
    /// Liveness check.
    Ping,
    /// Answer to `ping`.
    Pong,
    /// The owner delivers an album (new, changed or unshared) to a member.
    AlbumPush {
        /// The signed album.
        album: SignedAlbum,
        /// Where the owner last reached other members (a hint, checked by their keys on use).
        #[serde(default)]
        members: Vec<MemberHint>,
    },
    /// A request was done.
    Ok,
    /// Ask for an item's manifest.
    GetManifest {
        /// Item ID, hex.
        item: ItemId,
    },
    /// Ask for one segment (chunk hashes) of an item.
    GetSegment {
        /// Item ID, hex.
        item: ItemId,
        /// Segment index.
        seg: u64,
    },
    /// Ask for consecutive chunks of an item.
    GetChunks {
        /// Item ID, hex.
        item: ItemId,
        /// First chunk index.
        from: u64,
        /// Number of chunks (at most [`MAX_CHUNKS_PER_REQUEST`]).
        count: u64,
    },
    /// Ask for a thumbnail of an album's item.
    GetThumb {
        /// Album ID.
        album: AlbumId,
        /// The thumbnail's hash (hex), as the album lists it.
        thumb: String,
    },
    /// A member posts a comment (new, edited or deleted) to the album's owner.
    CommentPost {
        /// The signed comment; its author must be the sender.
        comment: SignedComment,
    },
    /// A member asks the album's owner for the thread entries changed after a revision.
    GetComments {
        /// Album ID.
        album: AlbumId,
        /// The revision the member has (0 for none).
        since: u64,
    },
    /// Thread entries from the album's owner: the answer to `get_comments`, or pushed to a
    /// member when the thread changes (answered `ok`).
    Comments {
        /// Album ID.
        album: AlbumId,
        /// The revision these entries follow.
        since: u64,
        /// The thread's revision once these are applied.
        rev: u64,
        /// Entries changed after `since`, by revision.
        entries: Vec<ThreadEntry>,
        /// More entries follow: ask again from `rev`.
        #[serde(default)]
        more: bool,
    },
    /// Ask a friend to introduce me to another of its friends I cannot reach.
    Introduce {
        /// Whom I want to reach.
        peer: crate::identity::PeerId,
    },
    /// The answer to `introduce`: where the introducer sees that peer (its public address
    /// first); the peer is dialling me at the same moment.
    Introduced {
        /// Addresses to dial now.
        addrs: Vec<SocketAddr>,
    },
    /// From a friend: another friend of mine wants to reach me; dial it at these addresses now.
    IntroduceFrom {
        /// Who wants to reach me.
        peer: crate::identity::PeerId,
        /// Where the introducer sees it (its public address first).
        addrs: Vec<SocketAddr>,
    },
    /// Ask a friend that helps its friends connect to relay between me and `peer`.
    RelayAsk {
        /// Whom I want to reach.
        peer: crate::identity::PeerId,
    },
    /// The answer to `relay_ask`: the relay's UDP port (at the address I reach the relay
    /// at); the peer is dialling me through it at the same moment.
    Relayed {
        /// The relay socket's port.
        port: u16,
    },
    /// From a friend: another friend of mine wants to reach me through it. Without `port`,
    /// a question (do I agree?); with it, the relay socket is open: dial it.
    RelayFrom {
        /// Who wants to reach me.
        peer: crate::identity::PeerId,
        /// The relay socket's port (at the address I reach the relay at); absent while the
        /// relay asks for consent, before it opens the socket.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
    },
    /// To friends: my reach secret changed (a friend was removed); use this one from now on.
    Reach {
        /// The new reach secret (hex).
        reach: String,
    },
    /// `len` raw bytes follow this frame on the stream.
    Data {
        /// Number of bytes that follow.
        len: u64,
    },
}

/// Addresses of an album member, as the owner knows them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemberHint {
    /// The member's key.
    pub id: crate::identity::PeerId,
    /// Its addresses.
    pub addrs: Vec<SocketAddr>,
}

/// Most chunks one `get_chunks` may ask for.
pub const MAX_CHUNKS_PER_REQUEST: u64 = 64;

/// Contents of a hello.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Hello {
    /// Sender's display name.
    pub name: String,
    /// Addresses the sender listens on.
    pub addrs: Vec<SocketAddr>,
    /// The address the sender sees the receiver at.
    pub observed: SocketAddr,
    /// Random per process start: tells a restarted peer from a duplicate connection.
    pub boot: u64,
    /// The sender's reach secret (hex), given to friends only: they recognise its LAN
    /// announcements by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reach: Option<String>,
    /// The public address the sender's router maps to it (UPnP-IGD, NAT-PMP or PCP), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapped: Option<SocketAddr>,
    /// To a friend only: one [`friend_tag`] (hex) for each friend of the sender whose reach
    /// secret it holds. A receiver who is a friend of the same friend can tell (it holds that
    /// reach secret too); nobody else learns anything from them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub knows: Vec<String>,
}

/// Most friend tags one hello carries (34 bytes each in JSON: 1000 keep a hello far under the
/// 64 KiB a request may take).
pub const MAX_FRIEND_TAGS: usize = 1000;

/// The tag by which `holder` shows its friends that it is a friend of the peer whose reach
/// secret is `reach`: the first 16 bytes of HMAC-SHA256(reach, "kith friend tag v1" ||
/// holder's 32-byte key). Only friends of that peer hold its reach secret, so only they can
/// compute or recognise the tag.
pub fn friend_tag(reach: &[u8; 32], holder: &crate::identity::PeerId) -> [u8; 16] {
    let mut msg = b"kith friend tag v1".to_vec();
    msg.extend_from_slice(holder.as_bytes());
    let mac = crate::hash::hmac(reach, &msg);
    let mut tag = [0u8; 16];
    tag.copy_from_slice(&mac[..16]);
    tag
}

/// A peer's refusal code (PROTOCOL.md §8). Sent and read as its word; a word this version
/// does not know (from a newer peer) is kept as [`PeerCode::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerCode {
    /// The invite ID is unknown here.
    InviteInvalid,
    /// The invite was used already.
    InviteUsed,
    /// The invite is past its expiry.
    InviteExpired,
    /// Not a friend (or the request names one who is not).
    NotFriend,
    /// This node does not relay for its friends.
    NoRelay,
    /// This node relays as much as it takes at once (for this requester, or in all).
    RelayBusy,
    /// The named friend is not connected, or did not answer.
    PeerUnreachable,
    /// Not the album's owner, or the ID is bound to another owner.
    NotOwner,
    /// Nothing with this ID is shared with the requester (the same whether it exists or not).
    NotShared,
    /// A thumbnail that passed the checks is not here (yet).
    NotFound,
    /// The comment's author is not the sender.
    NotAuthor,
    /// The comment conflicts with the one the thread holds.
    BadComment,
    /// The thread gave out all its sequence numbers.
    ThreadFull,
    /// The author posted too many comments at once; try again later.
    RateLimited,
    /// The owner has as many albums on this node as it keeps for that owner.
    QuotaExceeded,
    /// A segment or chunk past the item's end.
    OutOfRange,
    /// The shared file changed or vanished.
    Changed,
    /// Something failed inside the node.
    Internal,
    /// A valid message that is not a request.
    Unexpected,
    /// Not a valid request.
    Malformed,
    /// A code this version does not know.
    Other(String),
}

impl PeerCode {
    /// Every code this version knows.
    pub const KNOWN: [PeerCode; 20] = [
        PeerCode::InviteInvalid,
        PeerCode::InviteUsed,
        PeerCode::InviteExpired,
        PeerCode::NotFriend,
        PeerCode::NoRelay,
        PeerCode::RelayBusy,
        PeerCode::PeerUnreachable,
        PeerCode::NotOwner,
        PeerCode::NotShared,
        PeerCode::NotFound,
        PeerCode::NotAuthor,
        PeerCode::BadComment,
        PeerCode::ThreadFull,
        PeerCode::RateLimited,
        PeerCode::QuotaExceeded,
        PeerCode::OutOfRange,
        PeerCode::Changed,
        PeerCode::Internal,
        PeerCode::Unexpected,
        PeerCode::Malformed,
    ];

    /// The code's word on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            PeerCode::InviteInvalid => "invite_invalid",
            PeerCode::InviteUsed => "invite_used",
            PeerCode::InviteExpired => "invite_expired",
            PeerCode::NotFriend => "not_friend",
            PeerCode::NoRelay => "no_relay",
            PeerCode::RelayBusy => "relay_busy",
            PeerCode::PeerUnreachable => "peer_unreachable",
            PeerCode::NotOwner => "not_owner",
            PeerCode::NotShared => "not_shared",
            PeerCode::NotFound => "not_found",
            PeerCode::NotAuthor => "not_author",
            PeerCode::BadComment => "bad_comment",
            PeerCode::ThreadFull => "thread_full",
            PeerCode::RateLimited => "rate_limited",
            PeerCode::QuotaExceeded => "quota_exceeded",
            PeerCode::OutOfRange => "out_of_range",
            PeerCode::Changed => "changed",
            PeerCode::Internal => "internal",
            PeerCode::Unexpected => "unexpected",
            PeerCode::Malformed => "malformed",
            PeerCode::Other(s) => s,
        }
    }

    /// The code a word names.
    pub fn parse(word: &str) -> PeerCode {
        PeerCode::KNOWN
            .into_iter()
            .find(|c| c.as_str() == word)
            .unwrap_or_else(|| PeerCode::Other(word.to_string()))
    }
}

impl From<&str> for PeerCode {
    fn from(word: &str) -> Self {
        PeerCode::parse(word)
    }
}

impl std::fmt::Display for PeerCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for PeerCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for PeerCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PeerCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(PeerCode::parse(&String::deserialize(d)?))
    }
}

/// Why a peer message was refused.
#[derive(Debug, thiserror::Error)]
pub enum PeerMsgError {
    /// Not valid JSON of a known message.
    #[error("malformed peer message: {0}")]
    Malformed(String),
    /// Fields out of bounds.
    #[error("invalid peer message: {0}")]
    Invalid(String),
}

impl PeerMsg {
    /// Whether this request may come in a frame over
    /// [`MAX_PEER_REQUEST`](crate::frame::MAX_PEER_REQUEST) (up to
    /// [`MAX_FROM_PEER`](crate::frame::MAX_FROM_PEER)): an album push, or a page of comments.
    pub fn may_be_large(&self) -> bool {
        matches!(self, PeerMsg::AlbumPush { .. } | PeerMsg::Comments { .. })
    }

    /// Encodes the message as frame payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes and validates a frame payload.
    pub fn from_bytes(b: &[u8]) -> Result<PeerMsg, PeerMsgError> {
        let msg: PeerMsg =
            serde_json::from_slice(b).map_err(|e| PeerMsgError::Malformed(e.to_string()))?;
        let invalid = |m: String| Err(PeerMsgError::Invalid(m));
        match &msg {
            PeerMsg::Hello(h) => {
                validate_name(&h.name).map_err(|e| PeerMsgError::Invalid(e.to_string()))?;
                if h.addrs.len() > MAX_ADDRS {
                    return invalid(format!("more than {MAX_ADDRS} addresses"));
                }
                if h.reach.as_deref().is_some_and(|r| unhex32(r).is_none()) {
                    return invalid("bad reach secret".into());
                }
                if h.knows.len() > MAX_FRIEND_TAGS
                    || h.knows
                        .iter()
                        .any(|t| t.len() != 32 || !t.bytes().all(|b| b.is_ascii_hexdigit()))
                {
                    return invalid("bad friend tags".into());
                }
            }
            PeerMsg::AlbumPush { album, members } => {
                album
                    .verify()
                    .map_err(|e| PeerMsgError::Invalid(e.to_string()))?;
                if members.len() > crate::album::MAX_AUDIENCE + 1
                    || members.iter().any(|m| m.addrs.len() > MAX_ADDRS)
                {
                    return invalid("too many member hints".into());
                }
            }
            PeerMsg::Reach { reach } if unhex32(reach).is_none() => {
                return invalid("bad reach secret".into())
            }
            PeerMsg::Introduced { addrs } | PeerMsg::IntroduceFrom { addrs, .. }
                if addrs.len() > MAX_ADDRS =>
            {
                return invalid(format!("more than {MAX_ADDRS} addresses"))
            }
            PeerMsg::CommentPost { comment } => comment
                .verify()
                .map_err(|e| PeerMsgError::Invalid(e.to_string()))?,
            PeerMsg::Comments { album, entries, .. } => {
                if entries.len() > MAX_ENTRIES {
                    return invalid("too many thread entries".into());
                }
                for e in entries {
                    e.validate(album)
                        .map_err(|e| PeerMsgError::Invalid(e.to_string()))?;
                }
            }
            PeerMsg::GetManifest { item } | PeerMsg::GetSegment { item, .. }
                if unhex32(item).is_none() =>
            {
                return invalid("bad item id".into())
            }
            PeerMsg::GetChunks { item, count, .. }
                if unhex32(item).is_none() || *count == 0 || *count > MAX_CHUNKS_PER_REQUEST =>
            {
                return invalid("bad chunk request".into())
            }
            _ => {}
        }
        Ok(msg)
    }
}

/// Application close codes on peer connections.
pub mod close {
    /// Node shutting down.
    pub const BYE: u32 = 0;
    /// A second connection to the same peer; this one lost.
    pub const DUPLICATE: u32 = 1;
    /// The peer is no longer a friend.
    pub const UNFRIENDED: u32 = 2;
    /// The hello exchange failed.
    pub const REFUSED: u32 = 3;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_codes_travel_as_their_words_and_unknown_words_are_kept() {
        for c in PeerCode::KNOWN {
            let json = serde_json::to_value(&c).unwrap();
            assert_eq!(json, serde_json::Value::String(c.as_str().into()));
            assert_eq!(serde_json::from_value::<PeerCode>(json).unwrap(), c);
        }
        let newer: PeerCode = serde_json::from_str("\"too_new\"").unwrap();
        assert_eq!(newer, PeerCode::Other("too_new".into()));
        assert_eq!(newer.to_string(), "too_new");
    }

    #[test]
    fn only_album_pushes_and_comment_pages_may_be_large_requests() {
        let pages = PeerMsg::Comments {
            album: "a".into(),
            since: 0,
            rev: 1,
            entries: vec![],
            more: false,
        };
        assert!(pages.may_be_large());
        for small in [
            PeerMsg::Ping,
            PeerMsg::GetComments {
                album: "a".into(),
                since: 0,
            },
            PeerMsg::Reach { reach: "00".into() },
        ] {
            assert!(!small.may_be_large(), "{small:?}");
        }
    }

    #[test]
    fn hello_round_trips_and_bad_ones_are_refused() {
        let h = PeerMsg::Hello(Hello {
            name: "Bo".into(),
            addrs: vec!["10.0.0.1:5".parse().unwrap()],
            observed: "1.2.3.4:5".parse().unwrap(),
            boot: 7,
            reach: Some(crate::album::hex(&[9; 32])),
            mapped: Some("203.0.113.2:40000".parse().unwrap()),
            knows: vec![crate::album::hex(&[3; 16])],
        });
        assert_eq!(PeerMsg::from_bytes(&h.to_bytes()).unwrap(), h);
        assert!(PeerMsg::from_bytes(b"not json").is_err());
        assert!(PeerMsg::from_bytes(br#"{"type":"nope"}"#).is_err());
        let bad_tag = br#"{"type":"hello","name":"Bo","addrs":[],"observed":"1.2.3.4:5","boot":1,"knows":["zz"]}"#;
        assert!(matches!(
            PeerMsg::from_bytes(bad_tag),
            Err(PeerMsgError::Invalid(_))
        ));
        let bad_name = br#"{"type":"hello","name":"","addrs":[],"observed":"1.2.3.4:5","boot":1}"#;
        assert!(matches!(
            PeerMsg::from_bytes(bad_name),
            Err(PeerMsgError::Invalid(_))
        ));
        let many: Vec<String> = (0..17).map(|i| format!("\"1.1.1.1:{}\"", i + 1)).collect();
        let too_many = format!(
            r#"{{"type":"hello","name":"x","addrs":[{}],"observed":"1.2.3.4:5","boot":1}}"#,
            many.join(",")
        );
        assert!(matches!(
            PeerMsg::from_bytes(too_many.as_bytes()),
            Err(PeerMsgError::Invalid(_))
        ));
    }

    #[test]
    fn a_hello_needs_name_addrs_observed_and_boot_and_ignores_unknown_fields() {
        let full = serde_json::json!({"type": "hello", "name": "Bo", "addrs": ["10.0.0.1:5"],
            "observed": "1.2.3.4:5", "boot": 7, "reach": null, "mapped": null, "later": [1]});
        let Ok(PeerMsg::Hello(h)) = PeerMsg::from_bytes(full.to_string().as_bytes()) else {
            panic!("a hello with nulls and an unknown field is refused");
        };
        assert_eq!((h.reach, h.mapped), (None, None));
        for field in ["name", "addrs", "observed", "boot"] {
            let mut less = full.clone();
            less.as_object_mut().unwrap().remove(field);
            assert!(
                matches!(
                    PeerMsg::from_bytes(less.to_string().as_bytes()),
                    Err(PeerMsgError::Malformed(_))
                ),
                "a hello without {field} is accepted"
            );
        }
    }
}
