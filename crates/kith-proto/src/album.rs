//! Albums: what an owner shares (items, title, audience), signed by the owner so that any
//! member can check it and nobody can forge or alter it.

use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::identity::{Identity, PeerId};
use crate::ids::{AlbumId, ItemId};
use crate::manifest::{Hash, MAX_FILE_SIZE};

/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Most items in one album.
pub const MAX_ITEMS: usize = 20_000;
/// Most audience members.
pub const MAX_AUDIENCE: usize = 1_000;
/// Longest item path inside an album, in bytes.
pub const MAX_NAME: usize = 1_024;
/// Longest link, in bytes.
pub const MAX_LINK: usize = 2_048;
/// Largest width or height of an item, in pixels.
pub const MAX_PIXELS_SIDE: u32 = 1_000_000;
/// Longest video or sound, in milliseconds (a thousand hours).
pub const MAX_DURATION_MS: u64 = 1000 * 3600 * 1000;
/// Largest encoded signed album.
pub const MAX_ALBUM_BYTES: usize = 4 * 1024 * 1024 - 1024;

/// What is wrong with an album.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AlbumError {
    /// Not valid album JSON.
    #[error("malformed album: {0}")]
    Malformed(String),
    /// Fields out of bounds.
    #[error("invalid album: {0}")]
    Invalid(String),
    /// The owner's signature does not check out.
    #[error("the album's signature is not its owner's")]
    BadSignature,
}

/// Hex text of a hash.
pub fn hex(h: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(h)
}

/// A hash from hex text.
pub fn unhex32(s: &str) -> Option<Hash> {
    data_encoding::HEXLOWER
        .decode(s.as_bytes())
        .ok()?
        .try_into()
        .ok()
}

/// One file in an album.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AlbumItem {
    /// Item ID (hex SHA-256 of its manifest).
    pub id: ItemId,
    /// Path inside the album, `/`-separated (sanitised again by every receiver).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// `image`, `video`, `audio` or `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Width in pixels, as shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w: Option<u32>,
    /// Height in pixels, as shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h: Option<u32>,
    /// When it was taken (Unix seconds, camera clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken: Option<u64>,
    /// Length of a video or sound, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// SHA-256 (hex) of its thumbnail, fetched from the owner with `get_thumb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb: Option<String>,
}

/// Bytes of an album ID that name its owner: the first bytes of SHA-256 of this domain and the
/// owner's key.
const OWNER_TAG_LEN: usize = 10;
/// Random bytes after the owner tag.
const ID_RANDOM_LEN: usize = 10;

fn owner_tag(owner: &PeerId) -> [u8; OWNER_TAG_LEN] {
    let mut m = b"kith album owner\0".to_vec();
    m.extend_from_slice(owner.as_bytes());
    let h = crate::hash::sha256(&m);
    let mut t = [0u8; OWNER_TAG_LEN];
    t.copy_from_slice(&h[..OWNER_TAG_LEN]);
    t
}

/// A new album ID for `owner`: its owner tag (10 bytes) then 10 random bytes, 40 hex digits.
/// Only the owner's key carries the tag, so no one else can push an album under this ID.
pub fn new_album_id(owner: &PeerId) -> AlbumId {
    let mut id = owner_tag(owner).to_vec();
    id.extend_from_slice(&crate::hash::random::<ID_RANDOM_LEN>());
    AlbumId::from(hex(&id))
}

/// What an album ID says about its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdForm {
    /// 20 bytes starting with the owner's tag: bound to that owner by construction.
    Owned,
    /// 16 random bytes (albums made before owner-tagged IDs): bound to the first owner seen.
    Legacy,
}

/// The form of `id` for an album owned by `owner`, or None when the ID is malformed or
/// carries another owner's tag.
pub fn id_form(id: &str, owner: &PeerId) -> Option<IdForm> {
    let raw = data_encoding::HEXLOWER.decode(id.as_bytes()).ok()?;
    match raw.len() {
        16 => Some(IdForm::Legacy),
        n if n == OWNER_TAG_LEN + ID_RANDOM_LEN => {
            (raw[..OWNER_TAG_LEN] == owner_tag(owner)).then_some(IdForm::Owned)
        }
        _ => None,
    }
}

/// Whether `id` has the shape of an album ID of either form (owner not checked).
pub fn album_id_ok(id: &str) -> bool {
    data_encoding::HEXLOWER
        .decode(id.as_bytes())
        .is_ok_and(|v| v.len() == 16 || v.len() == OWNER_TAG_LEN + ID_RANDOM_LEN)
}

/// An album as its owner made it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Album {
    /// Album ID: 40 hex digits that start with the owner's tag (`new_album_id`), or 32 hex
    /// digits for albums made before (`IdForm::Legacy`).
    pub id: AlbumId,
    /// Who shared it.
    pub owner: PeerId,
    /// Increases with every change; a receiver keeps the highest.
    pub version: u64,
    /// Title.
    pub title: String,
    /// When it was first shared (Unix seconds).
    pub created: u64,
    /// Files.
    pub items: Vec<AlbumItem>,
    /// Who may see it (besides the owner).
    pub audience: Vec<PeerId>,
    /// True once the owner unshared it.
    #[serde(default)]
    pub deleted: bool,
    /// The web page this album is about (a link card), `http` or `https` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// Whether a link is one a friend may be shown: `http(s)://`, bounded, no spaces or controls.
pub fn link_ok(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://"))
        && url.len() > lower.find("//").unwrap_or(0) + 2
        && url.len() <= MAX_LINK
        && !url.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// An album with its owner's signature.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignedAlbum {
    /// The album.
    pub album: Album,
    /// Ed25519 signature (base64) by `album.owner` over `"kith album v1\0" || JSON(album)`.
    pub sig: String,
}

fn signing_input(a: &Album) -> Vec<u8> {
    let mut m = b"kith album v1\0".to_vec();
    m.extend(serde_json::to_vec(a).unwrap_or_default());
    m
}

impl Album {
    /// Checks every bound.
    pub fn validate(&self) -> Result<(), AlbumError> {
        let bad = |m: &str| Err(AlbumError::Invalid(m.to_string()));
        if id_form(&self.id, &self.owner).is_none() {
            return bad("album id");
        }
        if self.title.chars().count() > MAX_TITLE || self.title.chars().any(char::is_control) {
            return bad("title too long or with control characters");
        }
        if self.items.len() > MAX_ITEMS {
            return bad("too many items");
        }
        if self.audience.len() > MAX_AUDIENCE {
            return bad("audience too large");
        }
        if self.link.as_deref().is_some_and(|l| !link_ok(l)) {
            return bad("link must be an http or https address");
        }
        for it in &self.items {
            if unhex32(&it.id).is_none() {
                return bad("item id");
            }
            if it.name.is_empty() || it.name.len() > MAX_NAME {
                return bad("item name");
            }
            if it.size > MAX_FILE_SIZE {
                return bad("item size");
            }
            if it.kind.as_deref().is_some_and(|k| Kind::parse(k).is_none()) {
                return bad("item kind");
            }
            if it.w.is_some_and(|v| v > MAX_PIXELS_SIDE)
                || it.h.is_some_and(|v| v > MAX_PIXELS_SIDE)
            {
                return bad("item dimensions");
            }
            if it.duration_ms.is_some_and(|d| d > MAX_DURATION_MS) {
                return bad("item duration");
            }
            if it.thumb.as_deref().is_some_and(|t| unhex32(t).is_none()) {
                return bad("item thumbnail");
            }
        }
        Ok(())
    }

    /// Signs the album with the owner's identity.
    pub fn sign(self, id: &Identity) -> SignedAlbum {
        let sig = B64.encode(id.sign(&signing_input(&self)));
        SignedAlbum { album: self, sig }
    }

    /// Whether `peer` may see this album.
    pub fn admits(&self, peer: &PeerId) -> bool {
        !self.deleted && (self.owner == *peer || self.audience.contains(peer))
    }

    /// Total size of its items.
    pub fn total_size(&self) -> u64 {
        self.items.iter().map(|i| i.size).sum()
    }
}

impl SignedAlbum {
    /// Checks bounds and the owner's signature.
    pub fn verify(&self) -> Result<(), AlbumError> {
        self.album.validate()?;
        let sig = B64
            .decode(&self.sig)
            .map_err(|_| AlbumError::BadSignature)?;
        if !self.album.owner.verify(&signing_input(&self.album), &sig) {
            return Err(AlbumError::BadSignature);
        }
        Ok(())
    }

    /// Decodes bytes into a verified album, refusing oversized input first.
    pub fn from_bytes(b: &[u8]) -> Result<SignedAlbum, AlbumError> {
        if b.len() > MAX_ALBUM_BYTES {
            return Err(AlbumError::Invalid("album over the size limit".into()));
        }
        let s: SignedAlbum =
            serde_json::from_slice(b).map_err(|e| AlbumError::Malformed(e.to_string()))?;
        s.verify()?;
        Ok(s)
    }
}

/// What an item is, for the gallery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A photo or picture.
    Image,
    /// A film.
    Video,
    /// Sound.
    Audio,
    /// Anything else.
    File,
}

impl Kind {
    /// The name used in album metadata and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Video => "video",
            Kind::Audio => "audio",
            Kind::File => "file",
        }
    }

    /// The kind named `s`, if it is one.
    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::Image, Kind::Video, Kind::Audio, Kind::File]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(owner: &Identity) -> Album {
        Album {
            id: hex(&[1; 16]).into(),
            owner: owner.peer_id(),
            version: 1,
            title: "Beach 2026".into(),
            created: 5,
            items: vec![AlbumItem {
                kind: Some("image".into()),
                thumb: Some(hex(&[7; 32])),
                id: hex(&[2; 32]).into(),
                name: "a/b.jpg".into(),
                size: 10,
                ..Default::default()
            }],
            audience: vec![Identity::generate().unwrap().peer_id()],
            deleted: false,
            link: None,
        }
    }

    #[test]
    fn a_signed_album_verifies_and_any_change_breaks_it() {
        let owner = Identity::generate().unwrap();
        let s = sample(&owner).sign(&owner);
        let bytes = serde_json::to_vec(&s).unwrap();
        assert_eq!(SignedAlbum::from_bytes(&bytes).unwrap(), s);
        let mut t = s.clone();
        t.album.title = "Altered".into();
        assert_eq!(t.verify(), Err(AlbumError::BadSignature));
        let mut t = s.clone();
        t.album
            .audience
            .push(Identity::generate().unwrap().peer_id());
        assert_eq!(t.verify(), Err(AlbumError::BadSignature));
        // Someone else re-signing under the owner's name fails too.
        let other = Identity::generate().unwrap();
        let forged = sample(&owner).sign(&other);
        assert_eq!(forged.verify(), Err(AlbumError::BadSignature));
    }

    #[test]
    fn a_new_album_id_carries_its_owners_tag_and_no_other_key_can_use_it() {
        let (owner, other) = (Identity::generate().unwrap(), Identity::generate().unwrap());
        let id = new_album_id(&owner.peer_id());
        assert_eq!(id.len(), 40);
        assert_ne!(id, new_album_id(&owner.peer_id()), "random part");
        assert_eq!(id_form(&id, &owner.peer_id()), Some(IdForm::Owned));
        assert_eq!(id_form(&id, &other.peer_id()), None);
        // The same ID in another key's album is refused, even signed by that key.
        let mut a = sample(&other);
        a.id = id.clone();
        assert!(matches!(
            a.sign(&other).verify(),
            Err(AlbumError::Invalid(_))
        ));
        let mut a = sample(&owner);
        a.id = id;
        assert_eq!(a.sign(&owner).verify(), Ok(()));
        // Old 16-byte IDs stay readable for any owner; other lengths and non-hex are refused.
        assert_eq!(
            id_form(&hex(&[1; 16]), &other.peer_id()),
            Some(IdForm::Legacy)
        );
        for bad in [
            hex(&[1; 15]),
            hex(&[1; 21]),
            "zz".repeat(20),
            hex(&[0xab; 20]).to_uppercase(),
        ] {
            assert_eq!(id_form(&bad, &owner.peer_id()), None, "{bad}");
        }
    }

    #[test]
    fn absurd_albums_are_refused() {
        let owner = Identity::generate().unwrap();
        let mut a = sample(&owner);
        a.title = "x".repeat(MAX_TITLE + 1);
        assert!(a.clone().sign(&owner).verify().is_err());
        let mut a = sample(&owner);
        a.items = vec![a.items[0].clone(); MAX_ITEMS + 1];
        assert!(a.sign(&owner).verify().is_err());
        let mut a = sample(&owner);
        a.items[0].size = u64::MAX;
        assert!(a.sign(&owner).verify().is_err());
        assert!(SignedAlbum::from_bytes(&vec![b' '; MAX_ALBUM_BYTES + 1]).is_err());
        assert!(SignedAlbum::from_bytes(b"{}").is_err());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "http://",
            "https://a b",
            "file:///etc",
        ] {
            let mut a = sample(&owner);
            a.link = Some(bad.into());
            assert!(a.sign(&owner).verify().is_err(), "{bad}");
        }
        let mut a = sample(&owner);
        a.link = Some("HTTPS://example.org/a?b=c#d".into());
        assert!(a.sign(&owner).verify().is_ok());
    }

    #[test]
    fn gallery_fields_out_of_bounds_are_refused_and_those_in_bounds_pass() {
        let owner = Identity::generate().unwrap();
        let with = |f: &dyn Fn(&mut AlbumItem)| {
            let mut a = sample(&owner);
            f(&mut a.items[0]);
            a.sign(&owner).verify()
        };
        assert!(with(&|it| it.kind = Some("text/html".into())).is_err());
        assert!(with(&|it| it.kind = Some("<script>".into())).is_err());
        assert!(with(&|it| it.w = Some(MAX_PIXELS_SIDE + 1)).is_err());
        assert!(with(&|it| it.h = Some(u32::MAX)).is_err());
        assert!(with(&|it| it.duration_ms = Some(MAX_DURATION_MS + 1)).is_err());
        assert!(with(&|it| it.thumb = Some("not a hash".into())).is_err());
        assert!(with(&|it| it.thumb = Some("ab".repeat(33))).is_err());
        // The largest values allowed still pass.
        assert!(with(&|it| {
            it.kind = Some("video".into());
            it.w = Some(MAX_PIXELS_SIDE);
            it.h = Some(MAX_PIXELS_SIDE);
            it.duration_ms = Some(MAX_DURATION_MS);
            it.thumb = Some(hex(&[1; 32]));
        })
        .is_ok());
    }

    #[test]
    fn the_protocol_documents_album_id_vector_is_the_owner_tag_the_code_makes() {
        use crate::vectors::{identity, text, vectors};
        for v in vectors("album_id") {
            let owner = identity(&v).peer_id();
            assert_eq!(hex(&owner_tag(&owner)), text(&v, "owner_tag"));
            assert_eq!(id_form(text(&v, "id"), &owner), Some(IdForm::Owned));
            let other = Identity::generate().unwrap().peer_id();
            assert_eq!(id_form(text(&v, "id"), &other), None);
        }
    }

    #[test]
    fn the_protocol_documents_album_vectors_are_the_bytes_the_code_signs() {
        use crate::vectors::{identity, text, vectors};
        for v in vectors("album") {
            let s = SignedAlbum::from_bytes(v["input"].to_string().as_bytes()).expect("verifies");
            assert_eq!(
                serde_json::to_string(&s.album).unwrap(),
                text(&v, "canonical")
            );
            let owner = identity(&v);
            assert_eq!(s.album.owner, owner.peer_id());
            assert_eq!(
                s.album.clone().sign(&owner).sig,
                s.sig,
                "Ed25519 is deterministic"
            );
        }
    }
}
