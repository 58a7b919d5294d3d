//! Typed replies of the local API (API.md §4): what the node sends, what front ends read.
//! Each serialises to exactly the JSON object API.md documents for its command.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::identity::PeerId;
use crate::ids::{AlbumId, CommentId, ItemId};

/// A reply with no fields: `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {}

/// `hello`, answered by the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeHello {
    /// The node's version.
    pub node_version: String,
    /// The API's version ([`crate::api::PROTOCOL`]).
    pub protocol: u32,
    /// The program file the node runs, as it was when the node started (null from nodes
    /// older than this field, or when the node could not read it).
    #[serde(default)]
    pub binary: Option<Binary>,
}

/// The program file a node runs, read when it started (`hello.binary`, `status.binary`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binary {
    /// The program's canonical path.
    pub path: PathBuf,
    /// What changes when the file at `path` is replaced: `<device>:<inode>:<size>:<mtime ns>`
    /// on unix, `<size>:<mtime ns>` elsewhere.
    pub stamp: String,
}

/// What the native host found about the node it attached to (`hello.node_binary` of **H**).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeBinary {
    /// The node runs the host's own program file, as it is now, and the host's version.
    Current,
    /// The node ran an older program at the host's path (or another version): the host
    /// stopped it and started the current program.
    Restarted,
    /// The node runs another program file (another build): left running.
    Other,
    /// The node did not say which program it runs (an older node): left running.
    Unknown,
}

/// `status` of a node with an identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Always true here (a home without an identity is answered by the host or CLI).
    pub initialized: bool,
    /// This node's peer ID.
    pub peer_id: PeerId,
    /// Display name.
    pub name: String,
    /// Number of friends.
    pub friends: usize,
    /// Friends with an open connection.
    pub online: usize,
    /// The toolbar's count of unread comments and new albums.
    pub unread: usize,
    /// The bound UDP address.
    pub listen_addr: SocketAddr,
    /// The addresses this node tells friends.
    pub addrs: Vec<SocketAddr>,
    /// How friends can reach this node.
    pub reach: ReachState,
    /// The home folder.
    pub home: PathBuf,
    /// The folder `fetch` uses when it names none.
    pub download_dir: PathBuf,
    /// The loopback gateway's base URL for this start.
    pub gateway: String,
    /// The node's version.
    pub version: String,
    /// The node's process ID.
    pub pid: u32,
    /// The program file the node runs, as it was when the node started.
    #[serde(default)]
    pub binary: Option<Binary>,
}

/// How friends can reach this node (`status.reach`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReachState {
    /// The public address the router's port mapping gives.
    pub mapped: Option<SocketAddr>,
    /// The public address a friend last saw this node at.
    pub public: Option<SocketAddr>,
    /// The state of this node's DHT record: `off`, `starting`, `not published yet`, `published`.
    pub dht: String,
}

/// How a friend is connected (`path` in `friends`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkPath {
    /// On the same network (found by mDNS).
    Lan,
    /// Through a mutual friend's relay.
    Relayed,
    /// Through the friend's router port mapping.
    Mapped,
    /// Through a hole punched with a mutual friend's introduction.
    Punched,
    /// Directly, some other way.
    Direct,
    /// Not connected.
    Unreachable,
}

impl LinkPath {
    /// Every path word, in the order API.md lists them.
    pub const ALL: [LinkPath; 6] = [
        LinkPath::Lan,
        LinkPath::Relayed,
        LinkPath::Mapped,
        LinkPath::Punched,
        LinkPath::Direct,
        LinkPath::Unreachable,
    ];

    /// The word `friends --json` gives.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPath::Lan => "lan",
            LinkPath::Relayed => "relayed",
            LinkPath::Mapped => "mapped",
            LinkPath::Punched => "punched",
            LinkPath::Direct => "direct",
            LinkPath::Unreachable => "unreachable",
        }
    }
}

/// A friend, as `friends`, `invite_accept` and events show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Friend {
    /// The friend's peer ID.
    pub id: PeerId,
    /// The friend's display name.
    pub name: String,
    /// The number both sides compare to verify each other.
    pub safety_number: String,
    /// Whether a connection is open now.
    pub online: bool,
    /// How the connection runs.
    pub path: LinkPath,
    /// The addresses known for the friend.
    pub addrs: Vec<SocketAddr>,
    /// When the friend was added (Unix seconds).
    pub added_at: u64,
    /// When the friend was last connected (Unix seconds).
    pub last_seen: u64,
    /// Whether the safety number was checked.
    pub verified: bool,
    /// Why the last dial failed, while the friend stays unreachable.
    pub last_error: Option<String>,
    /// What the last DHT lookup of the friend found, if one ran.
    pub dht: Option<String>,
}

/// `invite_create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// The link's QR code as rows of `0` (light) and `1` (dark).
    pub qr: Vec<String>,
    /// The invite link.
    pub link: String,
    /// When it expires (Unix seconds).
    pub expires: u64,
}

/// `invite_accept` and `friend_verify`: the friend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendReply {
    /// The friend (null only if it was removed in the meantime).
    pub friend: Option<Friend>,
}

/// `unfriend`: who was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unfriended {
    /// Their peer ID.
    pub id: PeerId,
    /// Their name.
    pub name: String,
}

/// `identity_export`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exported {
    /// The file written.
    pub path: String,
    /// How many friends it holds.
    pub friends: usize,
}

/// `upload_begin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadBegun {
    /// The upload's ID.
    pub upload: String,
}

/// `upload_chunk`: the bytes received so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadProgress {
    /// Bytes received so far.
    pub bytes: u64,
}

/// `upload_end`: the kept file, ready for `share`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadDone {
    /// The file's path.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
}

/// `upload_discard`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discarded {
    /// How many files were deleted.
    pub removed: usize,
}

/// A comment as this node shows it (`comment`, `comments`, the `comment` event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentView {
    /// The comment's ID.
    pub id: Option<CommentId>,
    /// The album it is on.
    pub album: AlbumId,
    /// The item it is about (None: the album).
    pub item: Option<ItemId>,
    /// Its author's peer ID (None: a hidden entry without its comment).
    pub author: Option<PeerId>,
    /// The author's name as this node knows it.
    pub author_name: String,
    /// Whether the author is me or a friend whose safety number was checked.
    pub author_verified: bool,
    /// Whether I wrote it.
    pub mine: bool,
    /// When it was written (Unix milliseconds).
    pub at: Option<u64>,
    /// When it was last edited (Unix milliseconds).
    pub edited: Option<u64>,
    /// Its text (empty for a reaction or a deleted comment).
    pub text: String,
    /// Its reaction, if it is one.
    pub reaction: Option<String>,
    /// Whether its author deleted it.
    pub deleted: bool,
    /// Whether the album's owner hid it.
    pub hidden: bool,
    /// Its place in the thread (None: still in my outbox).
    pub seq: Option<u64>,
    /// Whether it waits in my outbox for the owner.
    pub pending: bool,
    /// Whether it is unread.
    pub unread: bool,
}

/// `comment`, `comment_edit`, `comment_delete`, `comment_hide`: the comment as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentReply {
    /// The comment.
    pub comment: CommentView,
    /// With a change of mine: whether it waits for an album owner who is not connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_offline: Option<bool>,
}

/// `comments`: a page of an album's or an item's comments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentPage {
    /// The album.
    pub album: AlbumId,
    /// Its title.
    pub title: String,
    /// The item, when the comments of one item were asked for.
    pub item: Option<ItemId>,
    /// How many comments there are in all.
    pub total: usize,
    /// The first listed.
    pub offset: usize,
    /// Unread comments of the album.
    pub unread: usize,
    /// The page.
    pub comments: Vec<CommentView>,
}

/// `album_read`: nothing is unread now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unread {
    /// Unread comments left (0).
    pub unread: usize,
}

/// `thumb_set`: the new thumbnail and the albums that show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThumbSet {
    /// The thumbnail's hash.
    pub thumb: String,
    /// How many of my albums were pushed again with it.
    pub albums: usize,
}

/// `share`: the new (or grown) album.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shared {
    /// The album's ID.
    pub id: AlbumId,
    /// How many items it lists.
    pub items: usize,
    /// Their total size.
    pub bytes: u64,
    /// Who it is shared with.
    pub audience: Vec<PeerId>,
}

/// An album as `albums`, `album` and `album_update` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlbumView {
    /// The album's ID.
    pub id: AlbumId,
    /// Its title.
    pub title: String,
    /// Its owner's peer ID.
    pub owner: PeerId,
    /// Its owner's name as this node knows it.
    pub owner_name: String,
    /// Whether it is mine.
    pub mine: bool,
    /// When it was made (Unix seconds).
    pub created: u64,
    /// Its version.
    pub version: u64,
    /// How many items it lists.
    pub item_count: usize,
    /// Their total size.
    pub bytes: u64,
    /// Who it is shared with.
    pub audience: Vec<PeerId>,
    /// The web page it is about, if any.
    pub link: Option<String>,
    /// The first item's thumbnail hash.
    pub cover: Option<String>,
    /// Unread comments.
    pub unread: usize,
    /// Whether it was never opened here.
    pub new: bool,
}

/// An item of an album page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemView {
    /// The item's ID.
    pub id: ItemId,
    /// Its name in the album.
    pub name: String,
    /// Its size.
    pub size: u64,
    /// Where a copy is on this computer (None: not here).
    pub path: Option<PathBuf>,
    /// `image`, `video`, `audio` or `file`.
    pub kind: String,
    /// Width in pixels, when known.
    pub w: Option<u32>,
    /// Height in pixels, when known.
    pub h: Option<u32>,
    /// When it was taken (Unix seconds), when known.
    pub taken: Option<u64>,
    /// A video's length in milliseconds, when known.
    pub duration_ms: Option<u64>,
    /// Its thumbnail's hash.
    pub thumb: Option<String>,
}

/// `album`: the album with a page of its items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlbumPage {
    /// The album.
    #[serde(flatten)]
    pub album: AlbumView,
    /// The first item listed.
    pub offset: usize,
    /// The page of items.
    pub items: Vec<ItemView>,
}

/// `unshare`: the album withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unshared {
    /// The album's ID.
    pub id: AlbumId,
}

/// `settings`: the settings now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Upload limit in bytes per second (0: none).
    pub upload_rate: u64,
    /// Download limit in bytes per second (0: none).
    pub download_rate: u64,
    /// The folder `fetch` uses when it names none.
    pub download_dir: PathBuf,
    /// Whether this node relays between friends who cannot reach each other.
    pub help_friends: bool,
    /// Most bytes per second relayed (0: no limit).
    pub relay_rate: u64,
    /// Albums kept per owner who is a friend.
    pub quota_albums: u64,
    /// Albums kept per owner who is not a friend.
    pub quota_member_albums: u64,
    /// Bytes of thumbnails kept per owner.
    pub quota_thumb_bytes: u64,
}

/// `fetch`: what was fetched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fetched {
    /// The album or item fetched.
    pub id: String,
    /// Where the files are.
    pub paths: Vec<PathBuf>,
    /// Their total size.
    pub bytes: u64,
    /// Bytes that came over the network this time.
    pub received_bytes: u64,
    /// How long it took.
    pub secs: f64,
}

/// A fetch in `transfers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    /// The album or item.
    pub target: String,
    /// Its title.
    pub title: String,
    /// The download folder.
    pub out: PathBuf,
    /// Whether it runs now.
    pub running: bool,
    /// Whether the user paused it.
    pub paused: bool,
    /// Bytes verified so far.
    pub bytes: u64,
    /// Bytes in all.
    pub total: u64,
    /// Seconds it has run, while it runs.
    pub secs: Option<f64>,
}

/// `transfer_pause`, `transfer_resume`, `transfer_cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferState {
    /// The fetch's target.
    pub target: String,
    /// After pause or resume: whether it is paused now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// After cancel: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<bool>,
}

/// `open`: what was opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opened {
    /// The item's file.
    pub path: PathBuf,
    /// The file or folder handed to the opener.
    pub opened: PathBuf,
}

/// `hello`, answered by the native-messaging host itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostHello {
    /// The host's version.
    pub host_version: String,
    /// The API's version (1).
    pub protocol: u32,
    /// Whether the home has an identity.
    pub initialized: bool,
    /// Whether the host is attached to a running node.
    pub node_running: bool,
    /// The `hello` of the node the host attached to last (null before any).
    #[serde(default)]
    pub node: Option<NodeHello>,
    /// What the host found about that node's program (null before any attach).
    #[serde(default)]
    pub node_binary: Option<NodeBinary>,
}

/// `autostart`, answered by the native-messaging host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Autostart {
    /// How the node starts at login: `"systemd"` (a user unit), `"xdg"` (an autostart entry),
    /// or null (it starts when the browser starts it).
    pub autostart: Option<String>,
}

/// `status` of a home without an identity (answered by the host or the CLI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoIdentity {
    /// Always false.
    pub initialized: bool,
    /// The home folder.
    pub home: PathBuf,
}

/// `init`: the identity made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Initialized {
    /// The new peer ID.
    pub peer_id: PeerId,
    /// The display name.
    pub name: String,
    /// The home folder (`kith init --json` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_words_serialise_as_their_documented_words() {
        for p in LinkPath::ALL {
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::Value::String(p.as_str().into())
            );
        }
    }
}
