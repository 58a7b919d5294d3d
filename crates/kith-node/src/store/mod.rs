//! The metadata store: a small key-value interface (sled today) and typed records over it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use thiserror::Error;

use kith_proto::identity::PeerId;
use kith_proto::ids::{AlbumId, CommentId, ItemId};

pub mod flusher;
#[cfg(test)]
mod mem_kv;
mod sled_kv;
use flusher::Flusher;
pub use flusher::{AfterFlush, Durability};
#[cfg(test)]
pub use mem_kv::MemKv;
pub use sled_kv::SledKv;

/// Current schema version of the store.
/// Version 2 added album owner bindings (`album_owners`), item owners (`LocalItem::owners`)
/// and thumbnail owners (`thumb_owners`); `upgrade` fills them in from version 1's records.
pub const SCHEMA_VERSION: u32 = 2;

/// Errors from the store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database engine failed.
    #[error("store: {0}")]
    Db(String),
    /// A record could not be decoded.
    #[error("store record is damaged: {0}")]
    Corrupt(String),
    /// The store was written by a newer Kith.
    #[error("the store has schema {0}, newer than this Kith understands ({SCHEMA_VERSION}); update Kith")]
    TooNew(u32),
}

/// One key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// One write of a [`Kv::batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Writes a value.
    Put {
        /// The tree.
        tree: &'static str,
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Deletes a value (nothing when there is none).
    Remove {
        /// The tree.
        tree: &'static str,
        /// The key.
        key: Vec<u8>,
    },
}

impl Write {
    /// The tree the write goes to.
    pub fn tree(&self) -> &'static str {
        match self {
            Write::Put { tree, .. } | Write::Remove { tree, .. } => tree,
        }
    }
}

/// A key-value database with named trees: the seam where sled could be swapped for redb.
pub trait Kv: Send + Sync {
    /// Reads a value.
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes a value.
    fn put(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    /// Deletes a value; true when it existed.
    fn delete(&self, tree: &str, key: &[u8]) -> Result<bool, StoreError>;
    /// All entries of a tree in key order.
    fn scan(&self, tree: &str) -> Result<Vec<Entry>, StoreError>;
    /// The entries of a tree whose keys start with `prefix`, in key order.
    fn scan_prefix(&self, tree: &str, prefix: &[u8]) -> Result<Vec<Entry>, StoreError>;
    /// Applies several writes, across trees, all or none: a reader or a crash sees either
    /// none of them or all of them, in order (a later write to a key wins).
    fn batch(&self, writes: &[Write]) -> Result<(), StoreError>;
    /// Makes every write so far durable.
    fn flush(&self) -> Result<(), StoreError>;
}

/// A friend as the store keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FriendRecord {
    /// The friend's key.
    pub id: PeerId,
    /// The friend's display name as they gave it.
    pub name: String,
    /// Addresses the friend last told us (newest first).
    pub addrs: Vec<SocketAddr>,
    /// When the friendship began (Unix seconds).
    pub added_at: u64,
    /// When we last had a connection (Unix seconds), 0 for never.
    #[serde(default)]
    pub last_seen: u64,
    /// The user compared the safety number with this friend.
    #[serde(default)]
    pub verified: bool,
    /// The friend's reach secret (hex), from its hello: recognises its LAN announcements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reach: Option<String>,
}

/// An invite this node handed out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InviteRecord {
    /// Random invite ID (public part of the link).
    pub invite_id: [u8; 16],
    /// One-time secret.
    pub secret: [u8; 32],
    /// Expiry (Unix seconds).
    pub expires: u64,
    /// Who used it, once used.
    pub used_by: Option<PeerId>,
    /// The invite's own DHT lookup secret (in its link): my record is published under it
    /// while the invite lives (none for invites made before invites had one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<[u8; 32]>,
}

impl InviteRecord {
    /// The lookup secret of an invite that can still be used at `now` (Unix seconds).
    pub fn live_lookup(&self, now: u64) -> Option<[u8; 32]> {
        (self.used_by.is_none() && self.expires >= now)
            .then_some(self.lookup)
            .flatten()
    }
}

/// A file this node can serve: where it is and what it was when hashed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LocalItem {
    /// Item ID, hex.
    pub id: ItemId,
    /// Absolute path of the file.
    pub path: std::path::PathBuf,
    /// Size when hashed.
    pub size: u64,
    /// Modification time when hashed (nanoseconds since the epoch).
    pub mtime_ns: u128,
    /// The encoded manifest (base64).
    pub manifest: String,
    /// Owners of the albums this copy came through: this node for its own files, an album's
    /// owner for a file fetched through that album. Only an album by one of them lets a peer
    /// get it (empty: served to no one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<PeerId>,
    /// Changes laid over the file's bytes whenever it is hashed or served (a video's location
    /// blanked without a copy); none for most items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<crate::transfer::overlay::Patch>,
}

/// A fetch under way, kept so a restarted node resumes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingFetch {
    /// Album or item ID.
    pub target: String,
    /// Download folder.
    pub out: std::path::PathBuf,
    /// Seconds to wait for a source.
    pub timeout_secs: u64,
    /// Paused by the user: kept, but not resumed until asked.
    #[serde(default)]
    pub paused: bool,
}

const HINTS: &str = "hints";
const COMMENTS: &str = "comments";
const THREADS: &str = "threads";
const COMMENT_OUTBOX: &str = "comment_outbox";
const FETCHES: &str = "fetches";
const ALBUMS: &str = "albums";
const ITEMS: &str = "items";
const SEGMENTS: &str = "segments";
const THUMBS: &str = "thumbs";
const OUTBOX: &str = "outbox";
const FRIENDS: &str = "friends";
const INVITES: &str = "invites";
const META: &str = "meta";
const ALBUM_OWNERS: &str = "album_owners";
const THUMB_OWNERS: &str = "thumb_owners";

/// How many retired reach secrets are kept until their DHT records are emptied.
const MAX_RETIRED: usize = 8;

/// Typed access to the node's records. Writes are applied at once and made durable by the
/// store's flusher thread (see [`flusher`]): an answer that reports a write goes out through
/// [`AfterFlush`].
pub struct Store {
    kv: Arc<dyn Kv>,
    flusher: Flusher,
}

fn enc<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn dec<T: DeserializeOwned>(b: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(b).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// Opens (or creates) the store at a path, checking the schema version.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::with_kv(Box::new(SledKv::open(path)?))
    }

    /// Wraps a key-value database, checking or setting its schema version.
    pub fn with_kv(kv: Box<dyn Kv>) -> Result<Store, StoreError> {
        let kv: Arc<dyn Kv> = Arc::from(kv);
        let flusher = Flusher::start(kv.clone());
        let store = Store { kv, flusher };
        match store.kv.get(META, b"schema")? {
            None => {
                store.kv.put(META, b"schema", &enc(&SCHEMA_VERSION)?)?;
                store.kv.flush()?;
            }
            Some(v) => {
                let found: u32 = dec(&v)?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::TooNew(found));
                }
                // Older schemas are brought up to date by `upgrade`, which needs the identity.
            }
        }
        Ok(store)
    }

    /// A handle to wait on for the writes made so far to be durable (see [`AfterFlush`]).
    pub fn durability(&self) -> Durability {
        self.flusher.durability()
    }

    /// The schema version the records are in.
    pub fn schema(&self) -> Result<u32, StoreError> {
        self.kv
            .get(META, b"schema")?
            .map(|v| dec(&v))
            .transpose()
            .map(|v| v.unwrap_or(SCHEMA_VERSION))
    }

    /// Brings an older store up to the current schema, one step at a time; `me` is the
    /// identity of the node that owns the store. Safe to run again after a crash.
    pub fn upgrade(&self, me: &PeerId) -> Result<(), StoreError> {
        if self.schema()? < 2 {
            self.upgrade_to_2(me)?;
            self.kv.put(META, b"schema", &enc(&2u32)?)?;
            self.kv.flush()?; // before the node starts: synchronously
        }
        Ok(())
    }

    /// Version 2: each album ID is bound to the owner of the album held under it; each item
    /// and thumbnail is owned by the owners of the albums listing it — only by me when one
    /// of my albums lists it, so an album someone else pushed before this version cannot
    /// claim my files.
    fn upgrade_to_2(&self, me: &PeerId) -> Result<(), StoreError> {
        let albums = self.albums()?;
        for s in &albums {
            if self.album_owner(&s.album.id)?.is_none() {
                self.bind_album_owner(&s.album.id, &s.album.owner)?;
            }
        }
        let live: Vec<_> = albums.iter().filter(|s| !s.album.deleted).collect();
        let owners_of = |listed: &dyn Fn(&kith_proto::album::AlbumItem) -> bool| {
            let mut owners: Vec<PeerId> = Vec::new();
            for s in &live {
                if s.album.items.iter().any(listed) && !owners.contains(&s.album.owner) {
                    owners.push(s.album.owner);
                }
            }
            if owners.contains(me) {
                owners = vec![*me];
            }
            owners
        };
        for (k, v) in self.kv.scan(ITEMS)? {
            let mut item: LocalItem = dec(&v)?;
            if item.owners.is_empty() {
                item.owners = owners_of(&|i| i.id == item.id);
                self.kv.put(ITEMS, &k, &enc(&item)?)?;
            }
        }
        for (k, _) in self.kv.scan(THUMBS)? {
            let hash = String::from_utf8_lossy(&k).into_owned();
            for owner in owners_of(&|i| i.thumb.as_deref() == Some(hash.as_str())) {
                self.mark_thumb_owner(&owner, &hash)?;
            }
        }
        Ok(())
    }
    /// All friends.
    pub fn friends(&self) -> Result<Vec<FriendRecord>, StoreError> {
        self.kv.scan(FRIENDS)?.iter().map(|(_, v)| dec(v)).collect()
    }

    /// One friend.
    pub fn friend(&self, id: &PeerId) -> Result<Option<FriendRecord>, StoreError> {
        self.kv
            .get(FRIENDS, id.as_bytes())?
            .map(|v| dec(&v))
            .transpose()
    }

    /// Adds or updates a friend, durably.
    pub fn put_friend(&self, f: &FriendRecord) -> Result<(), StoreError> {
        self.kv.put(FRIENDS, f.id.as_bytes(), &enc(f)?)?;
        self.flusher.wrote();
        Ok(())
    }

    /// Removes a friend, durably; true when it was one.
    pub fn remove_friend(&self, id: &PeerId) -> Result<bool, StoreError> {
        let had = self.kv.delete(FRIENDS, id.as_bytes())?;
        self.flusher.wrote();
        Ok(had)
    }

    /// One invite.
    pub fn invite(&self, invite_id: &[u8; 16]) -> Result<Option<InviteRecord>, StoreError> {
        self.kv
            .get(INVITES, invite_id)?
            .map(|v| dec(&v))
            .transpose()
    }

    /// All invites.
    pub fn invites(&self) -> Result<Vec<InviteRecord>, StoreError> {
        self.kv.scan(INVITES)?.iter().map(|(_, v)| dec(v)).collect()
    }

    /// Writes an invite, durably.
    pub fn put_invite(&self, inv: &InviteRecord) -> Result<(), StoreError> {
        self.kv.put(INVITES, &inv.invite_id, &enc(inv)?)?;
        self.flusher.wrote();
        Ok(())
    }

    /// The UDP port this node's DHT client used last (None: never started).
    pub fn dht_port(&self) -> Result<Option<u16>, StoreError> {
        Ok(self
            .kv
            .get(META, b"dht_port")?
            .and_then(|v| <[u8; 2]>::try_from(v.as_slice()).ok())
            .map(u16::from_be_bytes))
    }

    /// Keeps the UDP port of this node's DHT client for the next start.
    pub fn set_dht_port(&self, port: u16) -> Result<(), StoreError> {
        self.kv.put(META, b"dht_port", &port.to_be_bytes())?;
        self.flusher.wrote();
        Ok(())
    }

    /// This node's reach secret, made on first use and kept.
    pub fn reach_secret(&self) -> Result<[u8; 32], StoreError> {
        if let Some(v) = self.kv.get(META, b"reach")? {
            if let Ok(s) = <[u8; 32]>::try_from(v.as_slice()) {
                return Ok(s);
            }
        }
        let s: [u8; 32] = kith_proto::hash::random();
        self.kv.put(META, b"reach", &s)?;
        self.flusher.wrote();
        Ok(s)
    }

    /// Replaces this node's reach secret with a new one and returns it; the old one joins the
    /// retired secrets (the newest `MAX_RETIRED` are kept), whose DHT records are to be
    /// emptied.
    pub fn new_reach_secret(&self) -> Result<[u8; 32], StoreError> {
        let old = self.reach_secret()?;
        let mut retired = self.retired_reach()?;
        retired.retain(|r| *r != old);
        retired.push(old);
        let skip = retired.len().saturating_sub(MAX_RETIRED);
        let s: [u8; 32] = kith_proto::hash::random();
        self.kv.batch(&[
            Write::Put {
                tree: META,
                key: b"retired_reach".to_vec(),
                value: retired[skip..].concat(),
            },
            Write::Put {
                tree: META,
                key: b"reach".to_vec(),
                value: s.to_vec(),
            },
        ])?;
        self.flusher.wrote();
        Ok(s)
    }

    /// Reach secrets given up whose DHT records are not emptied yet, oldest first.
    pub fn retired_reach(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        let v = self.kv.get(META, b"retired_reach")?.unwrap_or_default();
        Ok(v.chunks_exact(32)
            .filter_map(|c| <[u8; 32]>::try_from(c).ok())
            .collect())
    }

    /// Forgets a retired reach secret (its DHT record is emptied, or cannot be).
    pub fn drop_retired_reach(&self, secret: &[u8; 32]) -> Result<(), StoreError> {
        let mut retired = self.retired_reach()?;
        retired.retain(|r| r != secret);
        self.kv.put(META, b"retired_reach", &retired.concat())?;
        self.flusher.wrote();
        Ok(())
    }

    /// Drops invites that expired before `now` (keeping nothing that could be replayed).
    pub fn prune_invites(&self, now: u64) -> Result<(), StoreError> {
        for inv in self.invites()? {
            if inv.expires < now && inv.used_by.is_none() {
                self.kv.delete(INVITES, &inv.invite_id)?;
            }
        }
        self.flusher.wrote();
        Ok(())
    }
}

impl Store {
    /// Writes an album (mine or received), durably.
    pub fn put_album(&self, a: &kith_proto::album::SignedAlbum) -> Result<(), StoreError> {
        self.kv.put(ALBUMS, a.album.id.as_bytes(), &enc(a)?)?;
        self.flusher.wrote();
        Ok(())
    }

    /// One album.
    pub fn album(
        &self,
        id: &AlbumId,
    ) -> Result<Option<kith_proto::album::SignedAlbum>, StoreError> {
        self.kv
            .get(ALBUMS, id.as_bytes())?
            .map(|v| dec(&v))
            .transpose()
    }

    /// All albums.
    pub fn albums(&self) -> Result<Vec<kith_proto::album::SignedAlbum>, StoreError> {
        self.kv.scan(ALBUMS)?.iter().map(|(_, v)| dec(v)).collect()
    }

    /// Forgets an album, durably.
    pub fn remove_album(&self, id: &AlbumId) -> Result<(), StoreError> {
        self.kv.delete(ALBUMS, id.as_bytes())?;
        self.flusher.wrote();
        Ok(())
    }

    /// Records many files with their segments, with one flush at the end. A file already
    /// recorded keeps the owners it had besides the new record's.
    pub fn put_items(&self, items: &[(LocalItem, Vec<Vec<u8>>)]) -> Result<(), StoreError> {
        for (item, segments) in items {
            for (i, s) in segments.iter().enumerate() {
                self.kv.put(SEGMENTS, &segment_key(&item.id, i as u64), s)?;
            }
            let mut item = item.clone();
            if let Some(old) = self.item(&item.id)? {
                for o in old.owners {
                    if !item.owners.contains(&o) {
                        item.owners.push(o);
                    }
                }
            }
            self.kv.put(ITEMS, item.id.as_bytes(), &enc(&item)?)?;
        }
        self.flusher.wrote();
        Ok(())
    }

    /// The owner an album ID is bound to: the owner of the first album accepted under it.
    pub fn album_owner(&self, id: &AlbumId) -> Result<Option<PeerId>, StoreError> {
        self.kv
            .get(ALBUM_OWNERS, id.as_bytes())?
            .map(|v| dec(&v))
            .transpose()
    }

    /// Binds an album ID to its owner for good (kept after the album is gone), durably.
    pub fn bind_album_owner(&self, id: &AlbumId, owner: &PeerId) -> Result<(), StoreError> {
        self.kv.put(ALBUM_OWNERS, id.as_bytes(), &enc(owner)?)?;
        self.flusher.wrote();
        Ok(())
    }

    /// Notes that this node holds thumbnail `hash` for `owner`'s albums: made here for its own
    /// albums, or pulled through an album of `owner`'s.
    pub fn mark_thumb_owner(&self, owner: &PeerId, hash: &str) -> Result<(), StoreError> {
        self.kv.put(THUMB_OWNERS, &owned_key(owner, hash), b"")?;
        self.flusher.wrote();
        Ok(())
    }

    /// Bytes of the thumbnails held for `owner`'s albums (a thumbnail held for several owners
    /// counts for each).
    pub fn thumb_bytes_of(&self, owner: &PeerId) -> Result<u64, StoreError> {
        let mut total = 0u64;
        for (k, _) in self.kv.scan_prefix(THUMB_OWNERS, owner.as_bytes())? {
            let hash = &k[owner.as_bytes().len()..];
            if let Some(t) = self.kv.get(THUMBS, hash)? {
                total += t.len() as u64;
            }
        }
        Ok(total)
    }

    /// Whether thumbnail `hash` is held for `owner`'s albums.
    pub fn thumb_owned_by(&self, owner: &PeerId, hash: &str) -> Result<bool, StoreError> {
        Ok(self
            .kv
            .get(THUMB_OWNERS, &owned_key(owner, hash))?
            .is_some())
    }

    /// The paths of every file this node has a record of.
    pub fn item_paths(&self) -> Result<std::collections::HashSet<std::path::PathBuf>, StoreError> {
        self.kv
            .scan(ITEMS)?
            .iter()
            .map(|(_, v)| dec::<LocalItem>(v).map(|i| i.path))
            .collect()
    }

    /// A file this node can serve.
    pub fn item(&self, id: &ItemId) -> Result<Option<LocalItem>, StoreError> {
        self.kv
            .get(ITEMS, id.as_bytes())?
            .map(|v| dec(&v))
            .transpose()
    }

    /// Keeps a thumbnail (JPEG) under its hash (hex).
    pub fn put_thumb(&self, hash: &str, jpeg: &[u8]) -> Result<(), StoreError> {
        self.kv.put(THUMBS, hash.as_bytes(), jpeg)?;
        self.flusher.wrote();
        Ok(())
    }

    /// A thumbnail by its hash.
    pub fn thumb(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.kv.get(THUMBS, hash.as_bytes())
    }

    /// One segment of a local item.
    pub fn segment(&self, id: &ItemId, seg: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.kv.get(SEGMENTS, &segment_key(id, seg))
    }

    /// Queues an album for delivery to a peer (kept until delivered, across restarts).
    pub fn outbox_add(&self, peer: &PeerId, album: &AlbumId) -> Result<(), StoreError> {
        self.kv.put(OUTBOX, &outbox_key(peer, album), b"")?;
        self.flusher.wrote();
        Ok(())
    }

    /// Albums waiting for a peer.
    pub fn outbox_for(&self, peer: &PeerId) -> Result<Vec<AlbumId>, StoreError> {
        let prefix = peer.as_bytes();
        Ok(self
            .kv
            .scan(OUTBOX)?
            .into_iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| AlbumId::from(String::from_utf8_lossy(&k[32..]).into_owned()))
            .collect())
    }

    /// Marks an album delivered to a peer.
    pub fn outbox_remove(&self, peer: &PeerId, album: &AlbumId) -> Result<(), StoreError> {
        self.kv.delete(OUTBOX, &outbox_key(peer, album))?;
        self.flusher.wrote();
        Ok(())
    }
}

fn owned_key(owner: &PeerId, hash: &str) -> Vec<u8> {
    let mut k = owner.as_bytes().to_vec();
    k.extend_from_slice(hash.as_bytes());
    k
}

impl Store {
    /// Remembers a fetch under way, durably.
    pub fn put_fetch(&self, key: &str, f: &PendingFetch) -> Result<(), StoreError> {
        self.kv.put(FETCHES, key.as_bytes(), &enc(f)?)?;
        self.flusher.wrote();
        Ok(())
    }

    /// Forgets a fetch.
    pub fn remove_fetch(&self, key: &str) -> Result<(), StoreError> {
        self.kv.delete(FETCHES, key.as_bytes())?;
        self.flusher.wrote();
        Ok(())
    }

    /// Remembers where an album member (not a friend) can be reached.
    pub fn put_hint(&self, peer: &PeerId, addrs: &[SocketAddr]) -> Result<(), StoreError> {
        self.kv.put(HINTS, peer.as_bytes(), &enc(&addrs)?)?;
        self.flusher.wrote();
        Ok(())
    }

    /// Where an album member was last reached.
    pub fn hint(&self, peer: &PeerId) -> Result<Vec<SocketAddr>, StoreError> {
        Ok(self
            .kv
            .get(HINTS, peer.as_bytes())?
            .map(|v| dec(&v))
            .transpose()?
            .unwrap_or_default())
    }

    /// Fetches under way when the node stopped.
    pub fn fetches(&self) -> Result<Vec<PendingFetch>, StoreError> {
        self.kv.scan(FETCHES)?.iter().map(|(_, v)| dec(v)).collect()
    }
}

/// What this node knows of an album's thread besides its entries.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ThreadMeta {
    /// The thread's revision: the owner's count of changes, or the one a member has caught up to.
    pub rev: u64,
    /// The last sequence number the owner gave (numbers skipped by a crash included).
    #[serde(default)]
    pub next_seq: u64,
    /// Comments up to this `seq` are read.
    #[serde(default)]
    pub read_seq: u64,
    /// The user opened the album.
    #[serde(default)]
    pub seen: bool,
    /// Unread comments by others, kept up to date as entries change (None: not counted yet).
    #[serde(default)]
    pub unread: Option<u64>,
}

impl Store {
    /// The meta of an album's thread (default when none).
    pub fn thread(&self, album: &AlbumId) -> Result<ThreadMeta, StoreError> {
        Ok(self
            .kv
            .get(THREADS, album.as_bytes())?
            .map(|v| dec(&v))
            .transpose()?
            .unwrap_or_default())
    }

    /// Writes a thread's meta and entries together, durably: one atomic batch.
    pub fn put_thread(
        &self,
        album: &AlbumId,
        meta: &ThreadMeta,
        entries: &[kith_proto::comment::ThreadEntry],
    ) -> Result<(), StoreError> {
        self.write_thread(album, meta, entries, &[])
    }

    /// Writes a thread's meta and entries and takes the given versions of my comments out of
    /// my outbox (each `(id, v)` only if the version queued is `v` or older), all in one
    /// atomic batch, durably.
    pub fn write_thread(
        &self,
        album: &AlbumId,
        meta: &ThreadMeta,
        entries: &[kith_proto::comment::ThreadEntry],
        outbox_done: &[(CommentId, u32)],
    ) -> Result<(), StoreError> {
        let mut writes = Vec::with_capacity(entries.len() + outbox_done.len() + 1);
        for e in entries {
            writes.push(Write::Put {
                tree: COMMENTS,
                key: comment_key(album, &e.id),
                value: enc(e)?,
            });
        }
        for (id, v) in outbox_done {
            if self.outbox_holds_at_most(album, id, *v)? {
                writes.push(Write::Remove {
                    tree: COMMENT_OUTBOX,
                    key: comment_key(album, id),
                });
            }
        }
        writes.push(Write::Put {
            tree: THREADS,
            key: album.as_bytes().to_vec(),
            value: enc(meta)?,
        });
        self.kv.batch(&writes)?;
        self.flusher.wrote();
        Ok(())
    }

    /// One entry of a thread.
    pub fn comment(
        &self,
        album: &AlbumId,
        id: &CommentId,
    ) -> Result<Option<kith_proto::comment::ThreadEntry>, StoreError> {
        self.kv
            .get(COMMENTS, &comment_key(album, id))?
            .map(|v| dec(&v))
            .transpose()
    }

    /// Every entry of an album's thread, in `seq` order.
    pub fn comments(
        &self,
        album: &AlbumId,
    ) -> Result<Vec<kith_proto::comment::ThreadEntry>, StoreError> {
        let mut v: Vec<kith_proto::comment::ThreadEntry> = self
            .kv
            .scan_prefix(COMMENTS, &comment_key(album, ""))?
            .iter()
            .map(|(_, v)| dec(v))
            .collect::<Result<_, _>>()?;
        v.sort_by_key(|e| e.seq);
        Ok(v)
    }

    /// Forgets an album's thread and my comments waiting for it, durably, in one batch.
    pub fn remove_thread(&self, album: &AlbumId) -> Result<(), StoreError> {
        let mut writes = Vec::new();
        for tree in [COMMENTS, COMMENT_OUTBOX] {
            for (key, _) in self.kv.scan_prefix(tree, &comment_key(album, ""))? {
                writes.push(Write::Remove { tree, key });
            }
        }
        writes.push(Write::Remove {
            tree: THREADS,
            key: album.as_bytes().to_vec(),
        });
        self.kv.batch(&writes)?;
        self.flusher.wrote();
        Ok(())
    }

    /// Queues my comment for the album's owner (kept until accepted, across restarts).
    pub fn comment_outbox_put(
        &self,
        c: &kith_proto::comment::SignedComment,
    ) -> Result<(), StoreError> {
        let key = comment_key(&c.comment.album, &c.comment.id);
        self.kv.put(COMMENT_OUTBOX, &key, &enc(c)?)?;
        self.flusher.wrote();
        Ok(())
    }

    /// One of my comments waiting for an album's owner.
    pub fn comment_outbox_get(
        &self,
        album: &AlbumId,
        id: &CommentId,
    ) -> Result<Option<kith_proto::comment::SignedComment>, StoreError> {
        self.kv
            .get(COMMENT_OUTBOX, &comment_key(album, id))?
            .map(|b| dec(&b))
            .transpose()
    }

    /// My comments waiting for an album's owner (every album's when `album` is None).
    pub fn comment_outbox(
        &self,
        album: Option<&AlbumId>,
    ) -> Result<Vec<kith_proto::comment::SignedComment>, StoreError> {
        let prefix = match album {
            None => Vec::new(),
            Some(album) => comment_key(album, ""),
        };
        self.kv
            .scan_prefix(COMMENT_OUTBOX, &prefix)?
            .iter()
            .map(|(_, v)| dec(v))
            .collect()
    }

    /// Takes a comment out of my outbox once the owner has this version (or a newer one).
    /// True when it was taken out.
    pub fn comment_outbox_done(
        &self,
        album: &AlbumId,
        id: &CommentId,
        v: u32,
    ) -> Result<bool, StoreError> {
        if !self.outbox_holds_at_most(album, id, v)? {
            return Ok(false);
        }
        self.kv.delete(COMMENT_OUTBOX, &comment_key(album, id))?;
        self.flusher.wrote();
        Ok(true)
    }

    /// Whether my outbox holds this comment at version `v` or older.
    fn outbox_holds_at_most(
        &self,
        album: &AlbumId,
        id: &CommentId,
        v: u32,
    ) -> Result<bool, StoreError> {
        Ok(self
            .comment_outbox_get(album, id)?
            .is_some_and(|q| q.comment.v <= v))
    }
}

/// Keys of comment records: the album ID, a slash, the comment ID.
fn comment_key(album: &str, id: &str) -> Vec<u8> {
    format!("{album}/{id}").into_bytes()
}

fn segment_key(id: &str, seg: u64) -> Vec<u8> {
    let mut k = id.as_bytes().to_vec();
    k.extend_from_slice(&seg.to_be_bytes());
    k
}

fn outbox_key(peer: &PeerId, album: &AlbumId) -> Vec<u8> {
    let mut k = peer.as_bytes().to_vec();
    k.extend_from_slice(album.as_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens the store, again for a few seconds while sled's own threads of a store just
    /// dropped still hold its file lock.
    fn open_retrying(path: &std::path::Path) -> Store {
        for _ in 0..50 {
            if let Ok(s) = Store::open(path) {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Store::open(path).unwrap()
    }
    use kith_proto::identity::Identity;

    #[test]
    fn friends_survive_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::generate().unwrap().peer_id();
        {
            let s = open_retrying(&dir.path().join("db"));
            s.put_friend(&FriendRecord {
                id,
                name: "Ann".into(),
                addrs: vec!["127.0.0.1:5000".parse().unwrap()],
                added_at: 1,
                last_seen: 0,
                verified: false,
                reach: None,
            })
            .unwrap();
        }
        let s = open_retrying(&dir.path().join("db"));
        assert_eq!(s.friend(&id).unwrap().unwrap().name, "Ann");
        assert!(s.remove_friend(&id).unwrap());
        assert!(s.friends().unwrap().is_empty());
    }

    #[test]
    fn upgrading_a_version_1_store_binds_albums_and_gives_my_files_to_me_alone() {
        use kith_proto::album::{hex, Album, AlbumItem};
        let dir = tempfile::tempdir().unwrap();
        let (me, other) = (Identity::generate().unwrap(), Identity::generate().unwrap());
        let album = |owner: &Identity, id: u8, items: &[(u8, u8)]| {
            Album {
                id: hex(&[id; 16]).into(),
                owner: owner.peer_id(),
                version: 1,
                title: String::new(),
                created: 1,
                items: items
                    .iter()
                    .map(|&(i, t)| AlbumItem {
                        id: hex(&[i; 32]).into(),
                        name: "f".into(),
                        size: 1,
                        thumb: Some(hex(&[t; 32])),
                        ..Default::default()
                    })
                    .collect(),
                audience: vec![],
                deleted: false,
                link: None,
            }
            .sign(owner)
        };
        let item = |i: u8| LocalItem {
            id: hex(&[i; 32]).into(),
            path: "/f".into(),
            size: 1,
            mtime_ns: 0,
            manifest: String::new(),
            owners: vec![],
            patches: vec![],
        };
        {
            let kv = SledKv::open(&dir.path().join("db")).unwrap();
            kv.put(META, b"schema", b"1").unwrap();
            // Mine lists item 1 (thumb 11); another's lists item 1 too, and item 2 (thumb 12).
            for a in [
                album(&me, 1, &[(1, 11)]),
                album(&other, 2, &[(1, 11), (2, 12)]),
            ] {
                kv.put(ALBUMS, a.album.id.as_bytes(), &enc(&a).unwrap())
                    .unwrap();
            }
            for i in [1, 2, 3] {
                kv.put(ITEMS, hex(&[i; 32]).as_bytes(), &enc(&item(i)).unwrap())
                    .unwrap();
            }
            for t in [11, 12] {
                kv.put(THUMBS, hex(&[t; 32]).as_bytes(), b"jpeg").unwrap();
            }
            kv.flush().unwrap();
        }
        let s = open_retrying(&dir.path().join("db"));
        assert_eq!(s.schema().unwrap(), 1);
        for _ in 0..2 {
            s.upgrade(&me.peer_id()).unwrap();
            assert_eq!(s.schema().unwrap(), SCHEMA_VERSION);
            let owners = |i: u8| s.item(&hex(&[i; 32]).into()).unwrap().unwrap().owners;
            assert_eq!(owners(1), vec![me.peer_id()]);
            assert_eq!(owners(2), vec![other.peer_id()]);
            assert!(owners(3).is_empty(), "listed nowhere: served to no one");
            assert_eq!(
                s.album_owner(&hex(&[1; 16]).into()).unwrap(),
                Some(me.peer_id())
            );
            assert_eq!(
                s.album_owner(&hex(&[2; 16]).into()).unwrap(),
                Some(other.peer_id())
            );
            let t = |o: &Identity, h: u8| s.thumb_owned_by(&o.peer_id(), &hex(&[h; 32])).unwrap();
            assert!(t(&me, 11) && !t(&other, 11));
            assert!(t(&other, 12) && !t(&me, 12));
        }
    }

    #[test]
    fn store_from_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let kv = SledKv::open(&dir.path().join("db")).unwrap();
            kv.put(META, b"schema", b"99").unwrap();
            kv.flush().unwrap();
        }
        let err = Store::open(&dir.path().join("db")).err().unwrap();
        assert!(matches!(err, StoreError::TooNew(99)));
    }

    #[test]
    fn a_new_reach_secret_retires_the_old_one_until_dropped_and_keeps_the_newest_eight() {
        let dir = tempfile::tempdir().unwrap();
        let s = open_retrying(&dir.path().join("db"));
        let first = s.reach_secret().unwrap();
        let second = s.new_reach_secret().unwrap();
        assert_ne!(first, second);
        assert_eq!(s.reach_secret().unwrap(), second);
        assert_eq!(s.retired_reach().unwrap(), vec![first]);
        s.drop_retired_reach(&first).unwrap();
        assert!(s.retired_reach().unwrap().is_empty());

        let mut given_up = vec![second];
        for _ in 0..10 {
            s.new_reach_secret().unwrap();
            given_up.push(s.reach_secret().unwrap());
        }
        given_up.pop(); // the current one
        drop(s);
        let s = open_retrying(&dir.path().join("db"));
        assert_eq!(s.retired_reach().unwrap(), given_up[given_up.len() - 8..]);
    }

    fn entry(id: u8, seq: u64) -> kith_proto::comment::ThreadEntry {
        kith_proto::comment::ThreadEntry {
            id: kith_proto::album::hex(&[id; 16]).into(),
            seq,
            rev: seq,
            hidden: false,
            name: None,
            comment: None,
        }
    }

    #[test]
    fn a_batch_lands_across_trees_with_its_removals_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let kv = SledKv::open(&dir.path().join("db")).unwrap();
            kv.put(COMMENT_OUTBOX, b"a/1", b"queued").unwrap();
            kv.batch(&[
                Write::Put {
                    tree: COMMENTS,
                    key: b"a/1".to_vec(),
                    value: b"entry".to_vec(),
                },
                Write::Remove {
                    tree: COMMENT_OUTBOX,
                    key: b"a/1".to_vec(),
                },
                Write::Put {
                    tree: THREADS,
                    key: b"a".to_vec(),
                    value: b"old".to_vec(),
                },
                Write::Put {
                    tree: THREADS,
                    key: b"a".to_vec(),
                    value: b"meta".to_vec(),
                },
            ])
            .unwrap();
            kv.flush().unwrap();
        }
        // sled's flusher thread may hold the file lock a moment after the drop.
        let mut kv = SledKv::open(&dir.path().join("db"));
        for _ in 0..50 {
            if kv.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            kv = SledKv::open(&dir.path().join("db"));
        }
        let kv = kv.unwrap();
        assert_eq!(
            kv.get(COMMENTS, b"a/1").unwrap().as_deref(),
            Some(&b"entry"[..])
        );
        assert_eq!(kv.get(COMMENT_OUTBOX, b"a/1").unwrap(), None);
        assert_eq!(
            kv.get(THREADS, b"a").unwrap().as_deref(),
            Some(&b"meta"[..]),
            "a later write to a key wins"
        );
    }

    #[test]
    fn a_threads_meta_and_entry_land_together_or_not_at_all_when_the_node_dies() {
        let album = AlbumId::from(kith_proto::album::hex(&[1; 16]));
        let meta = ThreadMeta {
            rev: 1,
            next_seq: 1,
            ..Default::default()
        };
        // Dies at the first write: nothing of the thread is there.
        let kv = MemKv::default();
        let s = Store::with_kv(Box::new(kv.clone())).unwrap();
        kv.crash_after(0);
        assert!(s.put_thread(&album, &meta, &[entry(3, 1)]).is_err());
        assert_eq!(s.thread(&album).unwrap(), ThreadMeta::default());
        assert!(s.comments(&album).unwrap().is_empty());
        // Dies right after one write: the meta and the entry were that one write.
        let kv = MemKv::default();
        let s = Store::with_kv(Box::new(kv.clone())).unwrap();
        kv.crash_after(1);
        s.put_thread(&album, &meta, &[entry(3, 1), entry(4, 2)])
            .unwrap();
        assert_eq!(s.thread(&album).unwrap(), meta);
        assert_eq!(s.comments(&album).unwrap().len(), 2);
        assert!(s.put_thread(&album, &meta, &[entry(5, 3)]).is_err());
        assert_eq!(s.comments(&album).unwrap().len(), 2);
    }

    #[test]
    fn my_comment_leaves_the_outbox_in_the_same_write_that_threads_it() {
        use kith_proto::comment::Comment;
        let me = Identity::generate().unwrap();
        let album = AlbumId::from(kith_proto::album::hex(&[1; 16]));
        let c = |v: u32| {
            Comment {
                id: kith_proto::album::hex(&[3; 16]).into(),
                album: album.clone(),
                item: None,
                author: me.peer_id(),
                at: 1,
                v,
                edited: None,
                text: "hi".into(),
                reaction: None,
                deleted: false,
            }
            .sign(&me)
        };
        let kv = MemKv::default();
        let s = Store::with_kv(Box::new(kv.clone())).unwrap();
        s.comment_outbox_put(&c(0)).unwrap();
        let id = c(0).comment.id;
        kv.crash_after(1);
        s.write_thread(
            &album,
            &ThreadMeta::default(),
            &[entry(3, 1)],
            &[(id.clone(), 0)],
        )
        .unwrap();
        assert!(s.comment_outbox(None).unwrap().is_empty());
        assert_eq!(s.comments(&album).unwrap().len(), 1);
        // A newer version queued meanwhile stays queued.
        kv.crash_after(2);
        s.comment_outbox_put(&c(1)).unwrap();
        s.write_thread(&album, &ThreadMeta::default(), &[entry(3, 1)], &[(id, 0)])
            .unwrap();
        assert_eq!(s.comment_outbox(None).unwrap(), vec![c(1)]);
    }

    #[test]
    fn the_dht_port_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let s = open_retrying(&dir.path().join("db"));
        assert_eq!(s.dht_port().unwrap(), None);
        s.set_dht_port(41414).unwrap();
        drop(s);
        let s = open_retrying(&dir.path().join("db"));
        assert_eq!(s.dht_port().unwrap(), Some(41414));
    }
}
