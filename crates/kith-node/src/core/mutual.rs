//! Which connected friends share a given friend with me: the only ones I ask for an
//! introduction or a relay to it, so no friend learns the IDs of friends it does not have.
//!
//! Each friend's hello lists a blinded tag per friend of its own (`kith_proto::peer::friend_tag`:
//! keyed by that friend's reach secret, which only that friend's friends hold). I recognise
//! the tag of a friend `T` of mine in friend `F`'s list when F is T's friend too; a tag of
//! anyone I am not friends with tells me nothing. Sans-IO: the actor passes hellos in and asks
//! whom to ask.

use std::collections::{HashMap, HashSet};

use kith_proto::identity::PeerId;
use kith_proto::peer::{friend_tag, MAX_FRIEND_TAGS};

/// The friend tags each connected friend showed in its last hello.
#[derive(Debug, Default)]
pub struct Mutual {
    tags: HashMap<PeerId, HashSet<[u8; 16]>>,
}

impl Mutual {
    /// Keeps the tags of `peer`'s hello (hex; malformed ones are skipped, at most
    /// `MAX_FRIEND_TAGS`).
    pub fn hello(&mut self, peer: PeerId, knows: &[String]) {
        let tags = knows
            .iter()
            .take(MAX_FRIEND_TAGS)
            .filter_map(|t| {
                let b = data_encoding::HEXLOWER_PERMISSIVE
                    .decode(t.as_bytes())
                    .ok()?;
                <[u8; 16]>::try_from(b.as_slice()).ok()
            })
            .collect();
        self.tags.insert(peer, tags);
    }

    /// Forgets a peer (no longer a friend).
    pub fn forget(&mut self, peer: &PeerId) {
        self.tags.remove(peer);
    }

    /// Those of `connected` that are friends of the friend whose reach secret is
    /// `target_reach` (none when I do not hold it).
    pub fn sharing(&self, connected: &[PeerId], target_reach: Option<&[u8; 32]>) -> Vec<PeerId> {
        let Some(reach) = target_reach else {
            return Vec::new();
        };
        connected
            .iter()
            .filter(|p| {
                self.tags
                    .get(*p)
                    .is_some_and(|t| t.contains(&friend_tag(reach, p)))
            })
            .copied()
            .collect()
    }
}

/// The tags a hello to a friend carries: one for each friend whose reach secret I hold.
pub fn my_tags<'a>(me: &PeerId, reaches: impl Iterator<Item = &'a [u8; 32]>) -> Vec<String> {
    reaches
        .take(MAX_FRIEND_TAGS)
        .map(|r| kith_proto::album::hex(&friend_tag(r, me)))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use kith_proto::identity::Identity;

    fn peer() -> PeerId {
        Identity::generate().unwrap().peer_id()
    }

    #[test]
    fn core_only_friends_who_share_the_target_are_asked() {
        let (shared, impostor, target_reach) = (peer(), peer(), [7u8; 32]);
        let other_reach = [8u8; 32];
        let mut m = Mutual::default();
        // `shared` is a friend of the target (holds its reach secret); `impostor` is not: it
        // knows only some other friend.
        m.hello(
            shared,
            &my_tags(&shared, [&other_reach, &target_reach].into_iter()),
        );
        m.hello(impostor, &my_tags(&impostor, [&other_reach].into_iter()));
        let connected = [shared, impostor];
        assert_eq!(m.sharing(&connected, Some(&target_reach)), vec![shared]);
        // A tag is bound to who shows it: the impostor cannot replay the shared friend's list.
        m.hello(impostor, &my_tags(&shared, [&target_reach].into_iter()));
        assert_eq!(m.sharing(&connected, Some(&target_reach)), vec![shared]);
        // Without the target's reach secret I ask nobody; a forgotten friend is not asked.
        assert!(m.sharing(&connected, None).is_empty());
        m.forget(&shared);
        assert!(m.sharing(&connected, Some(&target_reach)).is_empty());
    }

    #[test]
    fn core_tags_differ_by_friend_and_by_holder_and_reveal_no_key() {
        let (a, b) = (peer(), peer());
        let (r1, r2) = ([1u8; 32], [2u8; 32]);
        let t = |r: &[u8; 32], p: &PeerId| friend_tag(r, p);
        assert_ne!(t(&r1, &a), t(&r2, &a));
        assert_ne!(t(&r1, &a), t(&r1, &b));
        assert_eq!(t(&r1, &a), t(&r1, &a));
        let hex = my_tags(&a, [&r1].into_iter());
        assert_eq!(hex[0].len(), 32);
        assert!(!hex[0].contains(&kith_proto::album::hex(&a.as_bytes()[..16])));
    }
}
