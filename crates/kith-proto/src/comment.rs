//! Comments and reactions: signed by their author, ordered and relayed by the album's owner.
//!
//! A comment is signed by its author, so nobody (the owner included) can forge or alter one.
//! The owner keeps the album's thread: it gives each new comment the next sequence number
//! (`seq`), which fixes the order on every node, and counts every change in a revision
//! (`rev`), which members use to ask only for what they missed.

use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::album::{hex, unhex32};
use crate::identity::{Identity, PeerId};
use crate::ids::{AlbumId, CommentId, ItemId};

/// Longest comment, in characters.
pub const MAX_TEXT: usize = 2_000;
/// Most comments (reactions included) in one album's thread.
pub const MAX_THREAD: usize = 10_000;
/// Most thread entries in one `comments` message.
pub const MAX_ENTRIES: usize = 200;
/// The reactions one can give.
pub const REACTIONS: &[&str] = &["❤️", "👍", "😂", "😮", "😢", "🎉"];

/// What is wrong with a comment.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommentError {
    /// Fields out of bounds.
    #[error("invalid comment: {0}")]
    Invalid(&'static str),
    /// The author's signature does not check out.
    #[error("the comment's signature is not its author's")]
    BadSignature,
}

/// A comment or reaction as its author wrote it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Comment {
    /// Comment ID (hex, 16 bytes): random for a text, derived for a reaction.
    pub id: CommentId,
    /// The album it belongs to.
    pub album: AlbumId,
    /// The item it is about (hex item ID), or none for the whole album.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<ItemId>,
    /// Who wrote it.
    pub author: PeerId,
    /// When it was first written (Unix milliseconds, the author's clock).
    pub at: u64,
    /// Its version: 0 when written, one more with each edit or deletion.
    pub v: u32,
    /// When it was last edited (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited: Option<u64>,
    /// The text; empty for a reaction or a deleted comment.
    #[serde(default)]
    pub text: String,
    /// The reaction, one of [`REACTIONS`], for a reaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction: Option<String>,
    /// True once its author deleted it (or took the reaction back).
    #[serde(default)]
    pub deleted: bool,
}

/// A comment with its author's signature.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignedComment {
    /// The comment.
    pub comment: Comment,
    /// Ed25519 signature (base64) by `comment.author` over `"kith comment v1\0" || JSON(comment)`.
    pub sig: String,
}

/// One comment in an album's thread, as the owner keeps and relays it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ThreadEntry {
    /// The comment's ID.
    pub id: CommentId,
    /// Position in the thread, given by the owner.
    pub seq: u64,
    /// The thread revision of its last change.
    pub rev: u64,
    /// Hidden by the owner.
    #[serde(default)]
    pub hidden: bool,
    /// The author's name as the owner knows it (members who are not the author's friends show it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The signed comment; the owner leaves it out of a hidden entry it relays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<SignedComment>,
}

fn signing_input(c: &Comment) -> Vec<u8> {
    let mut m = b"kith comment v1\0".to_vec();
    m.extend(serde_json::to_vec(c).unwrap_or_default());
    m
}

fn is_hex16(s: &str) -> bool {
    data_encoding::HEXLOWER
        .decode(s.as_bytes())
        .is_ok_and(|v| v.len() == 16)
}

/// Checks a comment's text: length and no control characters but newlines.
pub fn text_ok(text: &str) -> bool {
    text.chars().count() <= MAX_TEXT && !text.chars().any(|c| c.is_control() && c != '\n')
}

/// The ID of an author's reaction on a target: the same every time, so it can be taken back.
pub fn reaction_id(
    author: &PeerId,
    album: &AlbumId,
    item: Option<&ItemId>,
    reaction: &str,
) -> CommentId {
    let mut m = b"kith reaction v1\0".to_vec();
    for part in [album.as_str(), item.map_or("", ItemId::as_str), reaction] {
        m.extend(part.as_bytes());
        m.push(0);
    }
    m.extend(author.as_bytes());
    CommentId::from(hex(&crate::hash::sha256(&m)[..16]))
}

impl Comment {
    /// Checks every bound.
    pub fn validate(&self) -> Result<(), CommentError> {
        let bad = |m| Err(CommentError::Invalid(m));
        if !is_hex16(&self.id) || !crate::album::album_id_ok(&self.album) {
            return bad("comment or album id");
        }
        if self.item.as_deref().is_some_and(|i| unhex32(i).is_none()) {
            return bad("item id");
        }
        if !text_ok(&self.text) {
            return bad("text too long or with control characters");
        }
        if self
            .reaction
            .as_deref()
            .is_some_and(|r| !REACTIONS.contains(&r))
        {
            return bad("not one of the reactions");
        }
        if let Some(r) = &self.reaction {
            if self.id != reaction_id(&self.author, &self.album, self.item.as_ref(), r) {
                return bad("a reaction's id is derived from its author, target and emoji");
            }
        }
        let has_text = !self.text.trim().is_empty();
        match (self.deleted, self.reaction.is_some()) {
            (true, _) if !self.text.is_empty() => bad("a deleted comment keeps no text"),
            (false, true) if !self.text.is_empty() => bad("a reaction has no text"),
            (false, false) if !has_text => bad("empty comment"),
            _ => Ok(()),
        }
    }

    /// Signs the comment with its author's identity.
    pub fn sign(self, id: &Identity) -> SignedComment {
        let sig = B64.encode(id.sign(&signing_input(&self)));
        SignedComment { comment: self, sig }
    }
}

impl SignedComment {
    /// Checks bounds and the author's signature.
    pub fn verify(&self) -> Result<(), CommentError> {
        self.comment.validate()?;
        let sig = B64
            .decode(&self.sig)
            .map_err(|_| CommentError::BadSignature)?;
        if !self
            .comment
            .author
            .verify(&signing_input(&self.comment), &sig)
        {
            return Err(CommentError::BadSignature);
        }
        Ok(())
    }
}

impl ThreadEntry {
    /// Checks a relayed entry of an album's thread: a verified comment of that album, or a
    /// hidden entry.
    pub fn validate(&self, album: &AlbumId) -> Result<(), CommentError> {
        if !is_hex16(&self.id) {
            return Err(CommentError::Invalid("comment id"));
        }
        if self
            .name
            .as_deref()
            .is_some_and(|n| crate::names::validate_name(n).is_err())
        {
            return Err(CommentError::Invalid("author name"));
        }
        match &self.comment {
            Some(c) => {
                c.verify()?;
                if c.comment.album != *album || c.comment.id != self.id {
                    return Err(CommentError::Invalid("comment of another album or ID"));
                }
                Ok(())
            }
            None if self.hidden => Ok(()),
            None => Err(CommentError::Invalid("an entry without its comment")),
        }
    }

    /// The entry as relayed to a member: a hidden comment's content stays with the owner and
    /// its author.
    pub fn relayed_to(&self, member: &PeerId) -> ThreadEntry {
        let author = self.comment.as_ref().map(|c| c.comment.author);
        if !self.hidden || author == Some(*member) {
            return self.clone();
        }
        ThreadEntry {
            comment: None,
            name: None,
            ..self.clone()
        }
    }
}

/// What the owner does with a comment posted to its thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// A new comment: give it the next `seq`.
    New,
    /// A newer version of a comment in the thread: keep its `seq`.
    Update,
    /// This version (or a newer one) is there already.
    Known,
}

/// Decides what a posted, verified comment does to the thread entry it would replace.
pub fn accept(
    existing: Option<&SignedComment>,
    posted: &SignedComment,
) -> Result<Accept, &'static str> {
    let Some(old) = existing else {
        return Ok(Accept::New);
    };
    let (old, new) = (&old.comment, &posted.comment);
    if old.author != new.author {
        return Err("a comment with this ID is someone else's");
    }
    if old.item != new.item || old.reaction.is_some() != new.reaction.is_some() {
        return Err("a comment cannot move or change its kind");
    }
    if new.v <= old.v {
        return Ok(Accept::Known);
    }
    Ok(Accept::Update)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(author: &Identity, text: &str) -> Comment {
        Comment {
            id: hex(&[3; 16]).into(),
            album: hex(&[1; 16]).into(),
            item: None,
            author: author.peer_id(),
            at: 1_700_000_000_000,
            v: 0,
            edited: None,
            text: text.into(),
            reaction: None,
            deleted: false,
        }
    }

    #[test]
    fn a_signed_comment_verifies_and_an_altered_or_forged_one_does_not() {
        let me = Identity::generate().unwrap();
        let s = comment(&me, "she has your nose").sign(&me);
        assert_eq!(s.verify(), Ok(()));
        let mut t = s.clone();
        t.comment.text = "she has my nose".into();
        assert_eq!(t.verify(), Err(CommentError::BadSignature));
        let mut t = s.clone();
        t.comment.at += 1;
        assert_eq!(t.verify(), Err(CommentError::BadSignature));
        // Signed by someone else under my name: refused.
        let other = Identity::generate().unwrap();
        let forged = comment(&me, "hi").sign(&other);
        assert_eq!(forged.verify(), Err(CommentError::BadSignature));
        let mut t = s;
        t.sig = "!!".into();
        assert_eq!(t.verify(), Err(CommentError::BadSignature));
    }

    #[test]
    fn comments_out_of_bounds_are_refused() {
        let me = Identity::generate().unwrap();
        let check = |c: Comment| c.sign(&me).verify();
        assert!(check(comment(&me, &"x".repeat(MAX_TEXT))).is_ok());
        assert!(check(comment(&me, "two\nlines")).is_ok());
        // Both forms of album ID: owner-tagged (40 hex digits) and legacy (32).
        let mut c = comment(&me, "hi");
        c.album = crate::album::new_album_id(&me.peer_id());
        assert!(check(c.clone()).is_ok());
        c.album = format!("{}00", c.album).into();
        assert!(check(c).is_err());
        assert!(check(comment(&me, &"x".repeat(MAX_TEXT + 1))).is_err());
        assert!(check(comment(&me, "bell\u{7}")).is_err());
        assert!(check(comment(&me, "  ")).is_err());
        let react = |r: &str| {
            let mut c = comment(&me, "");
            c.id = reaction_id(&me.peer_id(), &c.album, None, r);
            c.reaction = Some(r.into());
            c
        };
        assert!(check(react("❤️")).is_ok());
        assert!(check(react("💩")).is_err());
        let mut c = react("👍");
        c.text = "and text".into();
        assert!(check(c).is_err());
        // A reaction under any other ID would let one person give the same emoji many times.
        let mut c = react("👍");
        c.id = hex(&[5; 16]).into();
        assert!(check(c).is_err());
        let mut c = comment(&me, "gone");
        c.deleted = true;
        assert!(check(c.clone()).is_err());
        c.text.clear();
        assert!(check(c).is_ok());
        let mut c = comment(&me, "x");
        c.item = Some("zz".into());
        assert!(check(c).is_err());
        let mut c = comment(&me, "x");
        c.id = "short".into();
        assert!(check(c).is_err());
    }

    #[test]
    fn the_owner_takes_new_versions_only_from_the_same_author() {
        let (a, b) = (Identity::generate().unwrap(), Identity::generate().unwrap());
        let first = comment(&a, "one").sign(&a);
        assert_eq!(accept(None, &first), Ok(Accept::New));
        assert_eq!(accept(Some(&first), &first), Ok(Accept::Known));
        let mut c = comment(&a, "two");
        c.v = 1;
        let edit = c.sign(&a);
        assert_eq!(accept(Some(&first), &edit), Ok(Accept::Update));
        assert_eq!(accept(Some(&edit), &first), Ok(Accept::Known));
        let mut c = comment(&b, "mine now");
        c.v = 5;
        assert!(accept(Some(&first), &c.sign(&b)).is_err());
        let mut c = comment(&a, "");
        c.v = 2;
        c.reaction = Some("👍".into());
        assert!(
            accept(Some(&first), &c.sign(&a)).is_err(),
            "a comment cannot become a reaction"
        );
    }

    #[test]
    fn a_relayed_entry_must_carry_a_verified_comment_of_its_album_unless_hidden() {
        let a = Identity::generate().unwrap();
        let album = AlbumId::from(hex(&[1; 16]));
        let e = ThreadEntry {
            id: hex(&[3; 16]).into(),
            seq: 1,
            rev: 1,
            hidden: false,
            name: Some("Ann".into()),
            comment: Some(comment(&a, "hi").sign(&a)),
        };
        assert!(e.validate(&album).is_ok());
        assert!(e.validate(&hex(&[2; 16]).into()).is_err());
        let bad_name = ThreadEntry {
            name: Some("bell\u{7}name".into()),
            ..e.clone()
        };
        assert!(bad_name.validate(&album).is_err());
        let other_id = ThreadEntry {
            id: hex(&[4; 16]).into(),
            ..e.clone()
        };
        assert!(other_id.validate(&album).is_err());
        let stranger = Identity::generate().unwrap().peer_id();
        let hidden_entry = ThreadEntry {
            hidden: true,
            ..e.clone()
        };
        let hidden = hidden_entry.relayed_to(&stranger);
        assert!(hidden.comment.is_none() && hidden.name.is_none());
        assert!(hidden.validate(&album).is_ok());
        // Its author still gets it, and a shown entry goes out whole.
        assert_eq!(hidden_entry.relayed_to(&a.peer_id()), hidden_entry);
        assert_eq!(e.relayed_to(&stranger), e);
        let empty = ThreadEntry {
            hidden: false,
            ..hidden
        };
        assert!(empty.validate(&album).is_err());
    }

    #[test]
    fn a_reaction_id_depends_on_author_target_and_emoji() {
        let (a, b) = (
            Identity::generate().unwrap().peer_id(),
            Identity::generate().unwrap().peer_id(),
        );
        let album = AlbumId::from(hex(&[1; 16]));
        let x = reaction_id(&a, &album, None, "❤️");
        assert_eq!(x, reaction_id(&a, &album, None, "❤️"));
        assert_eq!(x.len(), 32);
        assert_ne!(x, reaction_id(&b, &album, None, "❤️"));
        assert_ne!(x, reaction_id(&a, &album, None, "👍"));
        assert_ne!(
            x,
            reaction_id(&a, &album, Some(&hex(&[9; 32]).into()), "❤️")
        );
    }

    #[test]
    fn the_protocol_documents_comment_vectors_are_the_bytes_the_code_signs() {
        use crate::vectors::{identity, text, vectors};
        for v in vectors("comment") {
            let s: SignedComment = serde_json::from_value(v["input"].clone()).unwrap();
            assert_eq!(s.verify(), Ok(()));
            assert_eq!(
                serde_json::to_string(&s.comment).unwrap(),
                text(&v, "canonical")
            );
            let author = identity(&v);
            assert_eq!(s.comment.author, author.peer_id());
            assert_eq!(s.comment.clone().sign(&author).sig, s.sig);
        }
    }
}
