//! IDs of albums, items and comments as their own types, so that one kind cannot be passed
//! where another is meant: a function taking an [`AlbumId`] refuses an [`ItemId`] at compile
//! time (a property of the type system, so no test checks it).
//!
//! Each is the hex text it always was, and nothing more: it serialises as that bare string
//! (`#[serde(transparent)]`), so peer messages, API JSON and store records are byte for byte
//! what they were. Deserialising does not check the text; the checks stay where they were
//! (`Album::validate`, `Comment::validate`, `PeerMsg::from_bytes`), so a malformed ID is
//! refused with the same error as before.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// Defines a string newtype for one kind of hex ID.
macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The ID's text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The ID's text, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

hex_id! {
    /// An album's ID: 40 hex digits that start with its owner's tag
    /// ([`crate::album::new_album_id`]), or 32 for albums made before.
    AlbumId
}

hex_id! {
    /// An item's ID: the hex SHA-256 of its manifest.
    ItemId
}

hex_id! {
    /// A comment's ID: 32 hex digits, random for a text, derived for a reaction
    /// ([`crate::comment::reaction_id`]).
    CommentId
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn an_id_serialises_as_its_bare_string_and_reads_back() {
        let id = AlbumId::from("00ff".repeat(10));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", "00ff".repeat(10)));
        assert_eq!(serde_json::from_str::<AlbumId>(&json).unwrap(), id);
        let item: ItemId = serde_json::from_str("\"ab\"").unwrap();
        assert_eq!(item, "ab");
        // Reading does not check the text: validation stays where it was.
        let odd: CommentId = serde_json::from_str("\"not hex\"").unwrap();
        assert_eq!(odd.as_str(), "not hex");
    }

    #[test]
    fn a_map_keyed_by_id_is_looked_up_by_str() {
        let mut m: HashMap<AlbumId, u32> = HashMap::new();
        m.insert(AlbumId::from("abc"), 7);
        assert_eq!(m.get("abc"), Some(&7));
        assert_eq!(m.get("abd"), None);
        let mut b = std::collections::BTreeMap::new();
        b.insert(ItemId::from("x"), 1);
        assert_eq!(b.get("x"), Some(&1));
    }

    #[test]
    fn an_id_shows_and_compares_as_its_text() {
        let id = CommentId::from("0a1b".to_string());
        assert_eq!(id.to_string(), "0a1b");
        assert_eq!(format!("{id:?}"), "\"0a1b\"");
        assert_eq!(id, "0a1b".to_string());
        assert_eq!(&*id, "0a1b");
        assert_eq!(id.clone().into_string(), "0a1b");
    }
}
