//! Who may get what: the rules that decide whether a peer is let in at its hello, may get an
//! item or a thumbnail, may push an album, may ask for an introduction or a relay, and may use
//! an album's comment thread.
//!
//! [`Access`] holds the plain data these rules need: my friends, and for each album held here
//! its owner, audience and thumbnails, and which albums list each item. The actor builds it
//! from the store, refreshes it when albums or friends change, and asks it; what only the
//! store knows at the moment of a request (the owners of my copy of a file, whether a
//! thumbnail is held for an owner, the first owner bound to an album ID, an invite's record)
//! is passed in. Nothing here reads the store or the clock or touches the network.
//!
//! A refusal is a [`Denied`]; its [`Denied::code`] is the peer error code PROTOCOL.md gives and
//! its text is the message. A request for something not shared gets the same refusal whether
//! the file is here or not.

use std::collections::{HashMap, HashSet};

use crate::store::InviteRecord;
use kith_proto::album::Album;
use kith_proto::identity::PeerId;
use kith_proto::ids::{AlbumId, ItemId};
use kith_proto::peer::PeerCode;

/// Why a peer is refused; [`Denied::code`] is the error code it is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No album here that lists the item and admits the peer was signed by an owner of my
    /// copy (or the file is not here).
    #[error("nothing with this ID is shared with you")]
    NotShared,
    /// The album does not admit the peer, does not list the thumbnail, or the thumbnail is
    /// not held for the album's owner.
    #[error("no such thumbnail is shared with you")]
    ThumbNotShared,
    /// A hello from a key that is neither a friend nor a member of an album held here.
    #[error("not a friend")]
    Stranger,
    /// An album pushed by a peer who is not a friend.
    #[error("only friends may send albums")]
    PushByStranger,
    /// An album pushed by someone other than its owner.
    #[error("only an album's owner may send it")]
    PushByNonOwner,
    /// An album pushed under an ID first seen with another owner.
    #[error("this album ID belongs to another owner")]
    IdOfAnotherOwner,
    /// An introduction asked for by a key that is not my friend.
    #[error("I introduce only friends of mine")]
    IntroduceStranger,
    /// An introduction or relay to a key I cannot help with: not my friend, or not connected
    /// (one answer for both, so an asker learns nothing about my friends).
    #[error("I cannot reach that peer")]
    CannotReach,
    /// A relay asked of a node that does not relay for its friends.
    #[error("this node does not relay for its friends")]
    NoRelay,
    /// A relay asked for while this node runs as many as it takes (`core::reach::Relaying`).
    #[error("I relay as much as I can at the moment; try again later")]
    RelayBusy,
    /// A relay asked for by a key that is not my friend.
    #[error("I relay only for friends of mine")]
    RelayStranger,
    /// An introduction or relay to me, from or through a key that is not my friend.
    #[error("not a friend of mine")]
    FromStranger,
    /// An invite this node does not know.
    #[error("this invite is unknown here")]
    InviteUnknown,
    /// An invite already used (by anyone, even the friend who used it).
    #[error("this invite was already used; ask for a new one")]
    InviteUsed,
    /// An invite past its expiry.
    #[error("this invite expired; ask for a new one")]
    InviteExpired,
    /// A new album from an owner who has as many albums here as its [`Quota`] allows.
    #[error("you have as many albums on this node as it keeps for you")]
    QuotaExceeded,
}

impl Denied {
    /// The error code a peer is answered with.
    pub fn code(&self) -> PeerCode {
        match self {
            Denied::NotShared | Denied::ThumbNotShared => PeerCode::NotShared,
            Denied::Stranger
            | Denied::PushByStranger
            | Denied::IntroduceStranger
            | Denied::RelayStranger
            | Denied::FromStranger => PeerCode::NotFriend,
            Denied::PushByNonOwner | Denied::IdOfAnotherOwner => PeerCode::NotOwner,
            Denied::NoRelay => PeerCode::NoRelay,
            Denied::CannotReach => PeerCode::PeerUnreachable,
            Denied::RelayBusy => PeerCode::RelayBusy,
            Denied::InviteUnknown => PeerCode::InviteInvalid,
            Denied::InviteUsed => PeerCode::InviteUsed,
            Denied::InviteExpired => PeerCode::InviteExpired,
            Denied::QuotaExceeded => PeerCode::QuotaExceeded,
        }
    }
}

/// How much each owner's albums may take on this node (the settings' `quota_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Albums held per owner who is my friend.
    pub albums: u64,
    /// Albums held per owner who is not my friend (a member of an album that reached me).
    pub member_albums: u64,
    /// Bytes of thumbnails held per owner (pulled through that owner's albums).
    pub thumb_bytes: u64,
}

impl Quota {
    /// The defaults: room for 50 albums of a friend, and 6 GiB of thumbnails, enough for one
    /// album of 20 000 items with thumbnails of the largest size (256 KiB); 2 albums of an
    /// owner who is not a friend.
    pub const DEFAULT: Quota = Quota {
        albums: 50,
        member_albums: 2,
        thumb_bytes: 6 << 30,
    };

    /// Thumbnail bytes still free for an owner who holds `used` here.
    pub fn thumb_room(&self, used: u64) -> u64 {
        self.thumb_bytes.saturating_sub(used)
    }
}

impl Default for Quota {
    fn default() -> Self {
        Quota::DEFAULT
    }
}

/// The invite a peer presented at its hello, as this node's store knows it.
#[derive(Debug, Clone, Copy)]
pub enum HelloInvite<'a> {
    /// No invite: the peer comes as a friend or an album member.
    None,
    /// An invite ID this node has no record of.
    Unknown,
    /// An invite this node issued.
    Known(&'a InviteRecord),
}

/// How a peer is let in at its hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// With a live invite: the actor marks it used, then adds the peer as a friend (or
    /// updates the friend it already is).
    Invited,
    /// As a friend.
    Friend,
    /// As a member of an album held here, not a friend: it may swarm.
    Member,
}

/// What access needs of one album held here (not deleted).
#[derive(Debug, Clone)]
struct AlbumRule {
    /// The album's owner.
    owner: PeerId,
    /// The owner and the audience, this node left out.
    who: HashSet<PeerId>,
    /// The thumbnails it lists, by hash.
    thumbs: HashSet<String>,
}

/// Who may get what on this node (see the module's documentation).
#[derive(Debug, Clone)]
pub struct Access {
    me: PeerId,
    friends: HashSet<PeerId>,
    albums: HashMap<AlbumId, AlbumRule>,
    /// The albums listing each item.
    item_albums: HashMap<ItemId, Vec<AlbumId>>,
    /// Members seen fetching each album (they got the manifest of an item it lists): the
    /// only members whose addresses other members are told. Not kept across a restart.
    fetched: HashMap<AlbumId, HashSet<PeerId>>,
}

impl Access {
    /// Access for node `me` with these friends and no albums yet.
    pub fn new(me: PeerId, friends: impl IntoIterator<Item = PeerId>) -> Self {
        Access {
            me,
            friends: friends.into_iter().collect(),
            albums: HashMap::new(),
            item_albums: HashMap::new(),
            fetched: HashMap::new(),
        }
    }

    /// Replaces the albums held here (deleted ones grant nothing and are left out).
    pub fn set_albums<'a>(&mut self, albums: impl IntoIterator<Item = &'a Album>) {
        self.albums.clear();
        self.item_albums.clear();
        for a in albums.into_iter().filter(|a| !a.deleted) {
            let mut who: HashSet<PeerId> = a.audience.iter().copied().collect();
            who.insert(a.owner);
            who.remove(&self.me);
            let thumbs = a.items.iter().filter_map(|i| i.thumb.clone()).collect();
            self.albums.insert(
                a.id.clone(),
                AlbumRule {
                    owner: a.owner,
                    who,
                    thumbs,
                },
            );
            for it in &a.items {
                self.item_albums
                    .entry(it.id.clone())
                    .or_default()
                    .push(a.id.clone());
            }
        }
    }

    /// `peer` got the manifest of `item`: it fetches the albums here that list the item and
    /// admit it. Returns the albums it was not known to fetch before (their fetchers are to
    /// learn of it).
    pub fn fetching(&mut self, peer: &PeerId, item: &ItemId) -> Vec<AlbumId> {
        let mut new = Vec::new();
        for a in self.item_albums.get(item).into_iter().flatten() {
            if self.albums.get(a).is_some_and(|r| r.who.contains(peer))
                && self.fetched.entry(a.clone()).or_default().insert(*peer)
            {
                new.push(a.clone());
            }
        }
        new
    }

    /// The members of `album` whose addresses `to` may be told: those seen fetching it (not
    /// `to`, not me, still members), so a member learns the fellow members who fetch and
    /// nothing about the owner's other friends.
    pub fn hinted_members(&self, album: &AlbumId, to: &PeerId) -> Vec<PeerId> {
        let (Some(rule), Some(f)) = (self.albums.get(album), self.fetched.get(album)) else {
            return Vec::new();
        };
        let mut out: Vec<PeerId> = f
            .iter()
            .filter(|p| *p != to && **p != self.me && rule.who.contains(p))
            .copied()
            .collect();
        out.sort_by_key(|p| *p.as_bytes());
        out
    }

    /// A new friend.
    pub fn add_friend(&mut self, peer: PeerId) {
        self.friends.insert(peer);
    }

    /// A friend no more.
    pub fn remove_friend(&mut self, peer: &PeerId) {
        self.friends.remove(peer);
    }

    /// Whether a key is a friend's.
    pub fn is_friend(&self, peer: &PeerId) -> bool {
        self.friends.contains(peer)
    }

    /// Whether a key is the owner or in the audience of an album held here.
    pub fn is_member(&self, peer: &PeerId) -> bool {
        self.albums.values().any(|a| a.who.contains(peer))
    }

    /// Every key that is the owner or in the audience of an album held here (not me).
    pub fn members(&self) -> HashSet<PeerId> {
        self.albums
            .values()
            .flat_map(|a| a.who.iter().copied())
            .collect()
    }

    /// Whether a connection with `peer` may stay open: a friend, or an album member.
    pub fn may_stay(&self, peer: &PeerId) -> bool {
        self.is_friend(peer) || self.is_member(peer)
    }

    /// Who may get an album and so serve its items: its owner and audience, not me (None:
    /// no such album here).
    pub fn sources(&self, album: &AlbumId) -> Option<&HashSet<PeerId>> {
        self.albums.get(album).map(|a| &a.who)
    }

    /// Whether `peer` may get item `item`, of which this node holds a copy held for
    /// `copy_owners` (`LocalItem::owners`; None: no copy here). Only through an album here
    /// that lists the item, admits the peer, and whose owner is an owner of my copy: an album
    /// of the requester's own, or of anyone who is not an owner of my copy, grants nothing.
    /// Without a copy the refusal is the same as without an album.
    pub fn may_get_item(
        &self,
        peer: &PeerId,
        item: &ItemId,
        copy_owners: Option<&[PeerId]>,
    ) -> Result<(), Denied> {
        let granted_by: Vec<PeerId> = self
            .item_albums
            .get(item)
            .into_iter()
            .flatten()
            .filter_map(|id| self.albums.get(id))
            .filter(|a| a.who.contains(peer))
            .map(|a| a.owner)
            .collect();
        let owners = copy_owners.ok_or(Denied::NotShared)?;
        if owners.iter().any(|o| granted_by.contains(o)) {
            Ok(())
        } else {
            Err(Denied::NotShared)
        }
    }

    /// Whether `peer` may get thumbnail `thumb` of album `album`: the album admits the peer
    /// and lists the thumbnail, and the thumbnail is held here for the album's owner
    /// (`held_for(owner)`: made here for my album, or pulled through one of the owner's).
    pub fn may_get_thumb(
        &self,
        peer: &PeerId,
        album: &AlbumId,
        thumb: &str,
        held_for: impl FnOnce(&PeerId) -> bool,
    ) -> Result<(), Denied> {
        match self.albums.get(album) {
            Some(a) if a.who.contains(peer) && a.thumbs.contains(thumb) && held_for(&a.owner) => {
                Ok(())
            }
            _ => Err(Denied::ThumbNotShared),
        }
    }

    /// Whether I take an album `from` pushes, signed by `owner`, whose ID the store has bound
    /// to `bound_to` (the first owner seen under it, kept for good; None: never seen). Only
    /// from a friend who is the album's owner, and never under an ID another owner holds.
    pub fn may_push_album(
        &self,
        from: &PeerId,
        owner: &PeerId,
        bound_to: Option<&PeerId>,
    ) -> Result<(), Denied> {
        if !self.is_friend(from) {
            return Err(Denied::PushByStranger);
        }
        if owner != from {
            return Err(Denied::PushByNonOwner);
        }
        match bound_to {
            Some(b) if b != owner => Err(Denied::IdOfAnotherOwner),
            _ => Ok(()),
        }
    }

    /// Whether I store an album of `owner`'s that is not held here yet: an owner has at most
    /// its [`Quota`] of albums here (as a friend, or as a member who is not my friend).
    /// Updates of albums held here are not counted again.
    pub fn may_hold_new_album(&self, owner: &PeerId, quota: &Quota) -> Result<(), Denied> {
        let held = self.albums.values().filter(|a| &a.owner == owner).count() as u64;
        let most = if self.is_friend(owner) {
            quota.albums
        } else {
            quota.member_albums
        };
        if held >= most {
            return Err(Denied::QuotaExceeded);
        }
        Ok(())
    }

    /// Whether I introduce `asker` to `target`: both must be my friends, and two.
    pub fn may_introduce(&self, asker: &PeerId, target: &PeerId) -> Result<(), Denied> {
        if !self.is_friend(asker) {
            return Err(Denied::IntroduceStranger);
        }
        if asker == target || !self.is_friend(target) {
            return Err(Denied::CannotReach);
        }
        Ok(())
    }

    /// Whether I relay between `asker` and `target`: only when I help my friends connect
    /// (`help_friends`), and only between two friends of mine.
    pub fn may_relay(
        &self,
        asker: &PeerId,
        target: &PeerId,
        help_friends: bool,
    ) -> Result<(), Denied> {
        if !help_friends {
            return Err(Denied::NoRelay);
        }
        if !self.is_friend(asker) {
            return Err(Denied::RelayStranger);
        }
        if asker == target || !self.is_friend(target) {
            return Err(Denied::CannotReach);
        }
        Ok(())
    }

    /// Whether I act on `via` introducing me to `from`, or relaying for it: both must be my
    /// friends.
    pub fn may_be_introduced(&self, via: &PeerId, from: &PeerId) -> Result<(), Denied> {
        if !self.is_friend(via) || !self.is_friend(from) {
            return Err(Denied::FromStranger);
        }
        Ok(())
    }

    /// Whether `peer` gets in at its hello, presenting `invite`, at `now` (Unix seconds). An
    /// invite works once, whoever presents it again (even the friend who used it); without
    /// one, only friends and members of albums held here get in.
    pub fn admit_at_hello(
        &self,
        peer: &PeerId,
        invite: HelloInvite<'_>,
        now: u64,
    ) -> Result<Admit, Denied> {
        match invite {
            HelloInvite::Unknown => Err(Denied::InviteUnknown),
            HelloInvite::Known(r) if r.used_by.is_some() => Err(Denied::InviteUsed),
            HelloInvite::Known(r) if r.expires < now => Err(Denied::InviteExpired),
            HelloInvite::Known(_) => Ok(Admit::Invited),
            HelloInvite::None if self.is_friend(peer) => Ok(Admit::Friend),
            HelloInvite::None if self.is_member(peer) => Ok(Admit::Member),
            HelloInvite::None => Err(Denied::Stranger),
        }
    }
}

/// Whether `peer` may post to or read the comment thread of `album`, held by me: only when
/// the album is mine and admits the peer (its audience; a deleted album admits no one).
/// `core::thread` answers `not_shared` otherwise.
pub fn thread_admits(me: &PeerId, album: &Album, peer: &PeerId) -> bool {
    album.owner == *me && album.admits(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_proto::album::{hex, AlbumItem};
    use kith_proto::identity::Identity;

    fn key() -> PeerId {
        Identity::generate().unwrap().peer_id()
    }

    const ITEM: &str = "item-1";

    fn item(id: &str) -> ItemId {
        ItemId::from(id)
    }
    const THUMB: &str = "thumb-1";

    /// Album `n` of `owner`'s, shared with `audience`, listing `ITEM` with `THUMB`.
    fn album(n: u8, owner: &PeerId, audience: &[PeerId]) -> Album {
        Album {
            id: hex(&[n; 16]).into(),
            owner: *owner,
            version: 1,
            title: "Beach".into(),
            created: 1,
            items: vec![AlbumItem {
                id: ITEM.into(),
                name: "a.jpg".into(),
                size: 1,
                thumb: Some(THUMB.into()),
                ..Default::default()
            }],
            audience: audience.to_vec(),
            deleted: false,
            link: None,
        }
    }

    fn invite(expires: u64, used_by: Option<PeerId>) -> InviteRecord {
        InviteRecord {
            invite_id: [1; 16],
            secret: [2; 32],
            expires,
            used_by,
            lookup: None,
        }
    }

    #[test]
    fn an_item_is_served_only_through_an_album_an_owner_of_my_copy_signed_that_admits_the_peer() {
        let (me, friend, other) = (key(), key(), key());
        let mut access = Access::new(me, [friend, other]);
        access.set_albums([&album(1, &me, &[friend])]);
        let mine: &[PeerId] = &[me];
        assert_eq!(
            access.may_get_item(&friend, &item(ITEM), Some(mine)),
            Ok(())
        );
        // Not in the audience.
        assert_eq!(
            access.may_get_item(&other, &item(ITEM), Some(mine)),
            Err(Denied::NotShared)
        );
        // An item no album lists.
        assert_eq!(
            access.may_get_item(&friend, &item("other"), Some(mine)),
            Err(Denied::NotShared)
        );
        // My copy was fetched for someone else's albums: my album grants nothing of it.
        let theirs: &[PeerId] = &[other];
        assert_eq!(
            access.may_get_item(&friend, &item(ITEM), Some(theirs)),
            Err(Denied::NotShared)
        );
        assert_eq!(Denied::NotShared.code(), "not_shared");
    }

    #[test]
    fn an_album_of_the_requesters_own_never_grants_it_my_files() {
        let (me, friend) = (key(), key());
        let mut access = Access::new(me, [friend]);
        // The friend lists my item's ID in an album of its own, with me in the audience.
        access.set_albums([&album(1, &friend, &[me])]);
        let mine: &[PeerId] = &[me];
        assert_eq!(
            access.may_get_item(&friend, &item(ITEM), Some(mine)),
            Err(Denied::NotShared)
        );
        // A copy I fetched through that album is served back to its owner, who admits itself.
        let fetched: &[PeerId] = &[friend];
        assert_eq!(
            access.may_get_item(&friend, &item(ITEM), Some(fetched)),
            Ok(())
        );
    }

    #[test]
    fn a_file_that_is_not_here_gets_the_same_refusal_as_one_not_shared() {
        let (me, friend, stranger) = (key(), key(), key());
        let mut access = Access::new(me, [friend]);
        access.set_albums([&album(1, &me, &[friend])]);
        let absent = access.may_get_item(&friend, &item(ITEM), None);
        let unshared = access.may_get_item(&stranger, &item(ITEM), Some(&[me]));
        assert_eq!(absent, Err(Denied::NotShared));
        assert_eq!(absent, unshared);
        assert_eq!(
            access.may_get_item(&stranger, &item(ITEM), None),
            Err(Denied::NotShared)
        );
    }

    #[test]
    fn a_removed_member_or_a_deleted_album_gets_nothing_and_the_link_may_close() {
        let (me, friend, member) = (key(), key(), key());
        let mut access = Access::new(me, [friend]);
        let mut a = album(1, &me, &[friend, member]);
        access.set_albums([&a]);
        assert!(access.is_member(&member) && access.may_stay(&member));
        assert_eq!(
            access.may_get_item(&member, &item(ITEM), Some(&[me])),
            Ok(())
        );
        assert_eq!(
            access.may_get_thumb(&member, &a.id, THUMB, |_| true),
            Ok(())
        );

        a.audience.retain(|p| *p != member);
        a.version += 1;
        access.set_albums([&a]);
        assert_eq!(
            access.may_get_item(&member, &item(ITEM), Some(&[me])),
            Err(Denied::NotShared)
        );
        assert_eq!(
            access.may_get_thumb(&member, &a.id, THUMB, |_| true),
            Err(Denied::ThumbNotShared)
        );
        assert!(!access.is_member(&member) && !access.may_stay(&member));
        assert!(access.may_stay(&friend), "a friend stays");

        a.deleted = true;
        access.set_albums([&a]);
        assert_eq!(
            access.may_get_item(&friend, &item(ITEM), Some(&[me])),
            Err(Denied::NotShared)
        );
        assert!(access.sources(&a.id).is_none());
    }

    #[test]
    fn a_thumbnail_is_served_only_when_listed_admitted_and_held_for_the_albums_owner() {
        let (me, owner, member, stranger) = (key(), key(), key(), key());
        let mut access = Access::new(me, [owner]);
        let a = album(1, &owner, &[me, member]);
        access.set_albums([&a]);
        assert_eq!(
            access.may_get_thumb(&member, &a.id, THUMB, |o| *o == owner),
            Ok(())
        );
        // Held only for another owner's albums.
        assert_eq!(
            access.may_get_thumb(&member, &a.id, THUMB, |o| *o == stranger),
            Err(Denied::ThumbNotShared)
        );
        // Not listed, not admitted, no such album.
        for (peer, album_id, thumb) in [
            (&member, a.id.clone(), "other"),
            (&stranger, a.id.clone(), THUMB),
            (&member, AlbumId::from("nope"), THUMB),
        ] {
            assert_eq!(
                access.may_get_thumb(peer, &album_id, thumb, |_| true),
                Err(Denied::ThumbNotShared)
            );
        }
        assert_eq!(Denied::ThumbNotShared.code(), "not_shared");
    }

    #[test]
    fn a_push_is_taken_only_from_a_friend_who_owns_the_album_under_an_id_bound_to_it() {
        let (me, friend, stranger, other) = (key(), key(), key(), key());
        let access = Access::new(me, [friend, other]);
        assert_eq!(access.may_push_album(&friend, &friend, None), Ok(()));
        assert_eq!(
            access.may_push_album(&friend, &friend, Some(&friend)),
            Ok(())
        );

        let by_stranger = access.may_push_album(&stranger, &stranger, None);
        assert_eq!(by_stranger, Err(Denied::PushByStranger));
        assert_eq!(Denied::PushByStranger.code(), "not_friend");

        // A friend forwarding another's album is not its owner.
        let by_non_owner = access.may_push_album(&friend, &other, None);
        assert_eq!(by_non_owner, Err(Denied::PushByNonOwner));
        assert_eq!(Denied::PushByNonOwner.code(), "not_owner");

        // An ID already bound to another owner (a legacy ID without an owner tag stays with
        // the first owner seen under it).
        let taken = access.may_push_album(&friend, &friend, Some(&other));
        assert_eq!(taken, Err(Denied::IdOfAnotherOwner));
        assert_eq!(Denied::IdOfAnotherOwner.code(), "not_owner");
    }

    #[test]
    fn core_members_are_told_only_of_fellow_members_who_fetch_the_album() {
        let (me, a, b, c, outsider) = (key(), key(), key(), key(), key());
        let mut access = Access::new(me, [a, b, c, outsider]);
        let mut album = Album {
            id: kith_proto::album::new_album_id(&me),
            owner: me,
            version: 1,
            title: "t".into(),
            created: 0,
            items: vec![kith_proto::album::AlbumItem {
                id: ItemId::from("ab".repeat(32)),
                ..Default::default()
            }],
            audience: vec![a, b, c],
            deleted: false,
            link: None,
        };
        access.set_albums([&album]);
        let item = album.items[0].id.clone();
        assert!(
            access.hinted_members(&album.id, &a).is_empty(),
            "nobody fetched yet"
        );
        assert_eq!(access.fetching(&b, &item), vec![album.id.clone()]);
        assert!(access.fetching(&b, &item).is_empty(), "known already");
        assert!(
            access.fetching(&outsider, &item).is_empty(),
            "not in the audience"
        );
        assert_eq!(access.hinted_members(&album.id, &a), vec![b]);
        assert!(
            access.hinted_members(&album.id, &b).is_empty(),
            "not told of itself"
        );
        // c never fetched, so a learns nothing of c; one removed from the audience is no
        // longer told about.
        album.audience = vec![a, c];
        access.set_albums([&album]);
        assert!(access.hinted_members(&album.id, &a).is_empty());
    }

    #[test]
    fn introductions_and_relays_happen_only_between_two_distinct_friends() {
        let (me, a, b, stranger) = (key(), key(), key(), key());
        let access = Access::new(me, [a, b]);
        assert_eq!(access.may_introduce(&a, &b), Ok(()));
        // A stranger asking is told so; a friend asking about itself, a stranger or anyone I
        // cannot reach gets one answer, which says nothing about my friends.
        assert_eq!(
            access.may_introduce(&stranger, &b),
            Err(Denied::IntroduceStranger)
        );
        assert_eq!(
            access.may_relay(&stranger, &b, true),
            Err(Denied::RelayStranger)
        );
        for (x, y) in [(&a, &a), (&a, &stranger)] {
            assert_eq!(access.may_introduce(x, y), Err(Denied::CannotReach));
            assert_eq!(access.may_relay(x, y, true), Err(Denied::CannotReach));
        }
        assert_eq!(Denied::CannotReach.code(), "peer_unreachable");
        assert_eq!(access.may_relay(&a, &b, true), Ok(()));
        assert_eq!(access.may_relay(&a, &b, false), Err(Denied::NoRelay));
        assert_eq!(Denied::NoRelay.code(), "no_relay");
        assert_eq!(Denied::IntroduceStranger.code(), "not_friend");

        assert_eq!(access.may_be_introduced(&a, &b), Ok(()));
        assert_eq!(
            access.may_be_introduced(&stranger, &b),
            Err(Denied::FromStranger)
        );
        assert_eq!(
            access.may_be_introduced(&a, &stranger),
            Err(Denied::FromStranger)
        );
        assert_eq!(Denied::FromStranger.code(), "not_friend");
    }

    #[test]
    fn at_the_hello_only_friends_live_invites_and_album_members_get_in() {
        let (me, friend, member, stranger) = (key(), key(), key(), key());
        let mut access = Access::new(me, [friend]);
        access.set_albums([&album(1, &me, &[friend, member])]);
        let none = HelloInvite::None;
        assert_eq!(access.admit_at_hello(&friend, none, 100), Ok(Admit::Friend));
        assert_eq!(access.admit_at_hello(&member, none, 100), Ok(Admit::Member));
        assert_eq!(
            access.admit_at_hello(&stranger, none, 100),
            Err(Denied::Stranger)
        );
        assert_eq!(Denied::Stranger.code(), "not_friend");

        let live = invite(200, None);
        assert_eq!(
            access.admit_at_hello(&stranger, HelloInvite::Known(&live), 100),
            Ok(Admit::Invited)
        );
        let used = invite(200, Some(friend));
        // Used: refused even to the friend who used it.
        assert_eq!(
            access.admit_at_hello(&friend, HelloInvite::Known(&used), 100),
            Err(Denied::InviteUsed)
        );
        assert_eq!(
            access.admit_at_hello(&stranger, HelloInvite::Known(&live), 201),
            Err(Denied::InviteExpired)
        );
        assert_eq!(
            access.admit_at_hello(&friend, HelloInvite::Unknown, 100),
            Err(Denied::InviteUnknown)
        );
        assert_eq!(Denied::InviteUnknown.code(), PeerCode::InviteInvalid);
        assert_eq!(Denied::InviteUsed.code(), PeerCode::InviteUsed);
        assert_eq!(Denied::InviteExpired.code(), PeerCode::InviteExpired);
    }

    #[test]
    fn an_unfriended_key_is_let_in_only_while_it_is_an_album_member() {
        let (me, friend) = (key(), key());
        let mut access = Access::new(me, [friend]);
        access.set_albums([&album(1, &me, &[friend])]);
        access.remove_friend(&friend);
        assert!(!access.is_friend(&friend));
        assert_eq!(
            access.admit_at_hello(&friend, HelloInvite::None, 1),
            Ok(Admit::Member)
        );
        access.set_albums([]);
        assert_eq!(
            access.admit_at_hello(&friend, HelloInvite::None, 1),
            Err(Denied::Stranger)
        );
        access.add_friend(friend);
        assert_eq!(
            access.admit_at_hello(&friend, HelloInvite::None, 1),
            Ok(Admit::Friend)
        );
    }

    #[test]
    fn an_albums_sources_are_its_owner_and_audience_without_me() {
        let (me, owner, member) = (key(), key(), key());
        let mut access = Access::new(me, [owner]);
        let a = album(1, &owner, &[me, member]);
        access.set_albums([&a]);
        let who = access.sources(&a.id).unwrap();
        assert_eq!(who, &HashSet::from([owner, member]));
        assert_eq!(access.members(), HashSet::from([owner, member]));
        assert!(access.sources(&"nope".into()).is_none());
    }

    #[test]
    fn a_thread_is_open_only_to_the_audience_of_an_album_of_mine() {
        let (me, member, stranger, other) = (key(), key(), key(), key());
        let mut a = album(1, &me, &[member]);
        assert!(thread_admits(&me, &a, &member));
        assert!(!thread_admits(&me, &a, &stranger));
        // Someone else's album: its thread is not mine to serve.
        let theirs = album(2, &other, &[me, member]);
        assert!(!thread_admits(&me, &theirs, &member));
        a.deleted = true;
        assert!(!thread_admits(&me, &a, &member));
    }

    #[test]
    fn an_owner_holds_at_most_its_quota_of_albums_here_as_a_friend_or_as_a_member() {
        let (me, friend, member) = (key(), key(), key());
        let mut acc = Access::new(me, [friend]);
        let q = Quota {
            albums: 2,
            member_albums: 1,
            thumb_bytes: 0,
        };
        assert_eq!(acc.may_hold_new_album(&friend, &q), Ok(()));
        assert_eq!(acc.may_hold_new_album(&member, &q), Ok(()));
        let mut gone = album(9, &friend, &[me]);
        gone.deleted = true; // a deleted album takes no room
        let held = [album(1, &friend, &[me]), album(2, &member, &[me]), gone];
        acc.set_albums(held.iter());
        assert_eq!(acc.may_hold_new_album(&friend, &q), Ok(()));
        assert_eq!(
            acc.may_hold_new_album(&member, &q),
            Err(Denied::QuotaExceeded)
        );
        let held = [
            album(1, &friend, &[me]),
            album(3, &friend, &[me]),
            album(2, &member, &[me]),
        ];
        acc.set_albums(held.iter());
        assert_eq!(
            acc.may_hold_new_album(&friend, &q),
            Err(Denied::QuotaExceeded)
        );
        assert_eq!(Denied::QuotaExceeded.code().as_str(), "quota_exceeded");
        // The defaults admit one album of 20 000 items with thumbnails of the largest size.
        let d = Quota::default();
        assert!(d.thumb_room(0) >= 20_000 * 256 * 1024);
        assert_eq!((d.albums, d.member_albums), (50, 2));
        assert_eq!(d.thumb_room(d.thumb_bytes + 1), 0);
    }
}
