//! The JSON API shared by native messaging, the control socket and the CLI.

use serde::{Deserialize, Serialize};

pub mod reply;
use crate::ids::{AlbumId, CommentId, ItemId};
use serde_json::{json, Value};

/// Stable error codes (documented in API.md §6).
pub mod code {
    /// Frame with length 0.
    pub const BAD_FRAME: &str = "bad_frame";
    /// Frame longer than allowed.
    pub const FRAME_TOO_LARGE: &str = "frame_too_large";
    /// Not UTF-8 JSON.
    pub const BAD_JSON: &str = "bad_json";
    /// JSON of the wrong shape or with bad fields.
    pub const BAD_REQUEST: &str = "bad_request";
    /// `cmd` names no command.
    pub const UNKNOWN_COMMAND: &str = "unknown_command";
    /// This home has no identity yet.
    pub const NOT_INITIALIZED: &str = "not_initialized";
    /// This home already has an identity.
    pub const ALREADY_INITIALIZED: &str = "already_initialized";
    /// No node runs for this home.
    pub const NO_NODE: &str = "no_node";
    /// The calling add-on is not allowed.
    pub const ADDON_NOT_ALLOWED: &str = "addon_not_allowed";
    /// The link is not a Kith invite, or it was altered.
    pub const INVITE_INVALID: &str = "invite_invalid";
    /// The invite expired.
    pub const INVITE_EXPIRED: &str = "invite_expired";
    /// The invite was used already.
    pub const INVITE_USED: &str = "invite_used";
    /// The inviter refused the invite at the handshake.
    pub const INVITE_REFUSED: &str = "invite_refused";
    /// The invite is this node's own.
    pub const INVITE_OWN: &str = "invite_own";
    /// The peer could not be reached.
    pub const PEER_UNREACHABLE: &str = "peer_unreachable";
    /// No such friend.
    pub const NOT_FOUND: &str = "not_found";
    /// A name or prefix matches several friends.
    pub const AMBIGUOUS: &str = "ambiguous";
    /// The reply would exceed the 1 MiB native-messaging limit.
    pub const REPLY_TOO_LARGE: &str = "reply_too_large";
    /// A file could not be read or written.
    pub const IO: &str = "io";
    /// Wrong passphrase or damaged export.
    pub const BAD_PASSPHRASE: &str = "bad_passphrase";
    /// The node did not answer in time.
    pub const TIMEOUT: &str = "timeout";
    /// Not enough room on the disk.
    pub const DISK_FULL: &str = "disk_full";
    /// A shared file changed or vanished since it was shared.
    pub const CHANGED: &str = "changed";
    /// The transfer was paused or cancelled.
    pub const CANCELLED: &str = "cancelled";
    /// Something failed inside the node.
    pub const INTERNAL: &str = "internal";
    /// Files to share whose location Kith cannot remove (listed in the error's
    /// `location_kept`); sharing them takes `keep_location`.
    pub const LOCATION_KEPT: &str = "location_kept";
    /// `kith serve` under `KITH_LOCAL_ONLY=1` would send packets off the machine (exit 4).
    pub const OFF_MACHINE: &str = "off_machine";

    /// Every code above (a unit test checks this list against the module's source).
    pub const ALL: &[&str] = &[
        BAD_FRAME,
        FRAME_TOO_LARGE,
        BAD_JSON,
        BAD_REQUEST,
        UNKNOWN_COMMAND,
        NOT_INITIALIZED,
        ALREADY_INITIALIZED,
        NO_NODE,
        ADDON_NOT_ALLOWED,
        INVITE_INVALID,
        INVITE_EXPIRED,
        INVITE_USED,
        INVITE_REFUSED,
        INVITE_OWN,
        PEER_UNREACHABLE,
        NOT_FOUND,
        AMBIGUOUS,
        REPLY_TOO_LARGE,
        IO,
        BAD_PASSPHRASE,
        TIMEOUT,
        DISK_FULL,
        CHANGED,
        CANCELLED,
        INTERNAL,
        LOCATION_KEPT,
        OFF_MACHINE,
    ];
}

/// An error reply.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// Stable code.
    pub code: String,
    /// Human-readable text.
    pub message: String,
    /// With `location_kept`: each file whose location cannot be removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub location_kept: Vec<KeptLocation>,
}

/// A file whose location Kith cannot remove, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeptLocation {
    /// The file on this computer.
    pub path: String,
    /// Its name in the album.
    pub name: String,
    /// Why its location cannot be removed.
    pub reason: String,
}

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ApiError {
            code: code.to_string(),
            message: message.into(),
            location_kept: Vec::new(),
        }
    }
    /// An internal error from anything displayable.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::new(code::INTERNAL, e.to_string())
    }
}

/// A command from a client (front ends build these values; the node parses them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Version exchange, first thing.
    Hello {
        /// The add-on's version.
        #[serde(default)]
        version: Option<String>,
    },
    /// The node's identity and state.
    Status {},
    /// Create the identity.
    Init {
        /// Display name.
        name: String,
    },
    /// Make an invite link.
    InviteCreate {
        /// Lifetime in seconds (default 7 days, at most 30).
        #[serde(default)]
        expires_secs: Option<u64>,
    },
    /// Redeem a friend's invite link.
    InviteAccept {
        /// The link.
        link: String,
    },
    /// List friends.
    Friends {},
    /// Remove a friend.
    Unfriend {
        /// Full ID, unique prefix or name.
        peer: String,
    },
    /// Stop the node.
    Stop {},
    /// Share files or folders as a new album.
    Share {
        /// Absolute paths of files or folders.
        paths: Vec<String>,
        /// Friends to share with (ID, prefix or name); all friends when empty.
        #[serde(default)]
        to: Vec<String>,
        /// Album title (default: the first file's or folder's name).
        #[serde(default)]
        title: Option<String>,
        /// A web page the album is about (`http`/`https`); with it, `paths` may be empty.
        #[serde(default)]
        link: Option<String>,
        /// Share photos with their GPS location (default: a copy without it is shared).
        #[serde(default)]
        keep_location: bool,
        /// Add the files to this album of mine instead of making a new one.
        #[serde(default)]
        album: Option<AlbumId>,
    },
    /// List albums shared with me and by me (without their items: see `album`).
    Albums {},
    /// One album with a page of its items.
    Album {
        /// Album ID.
        album: AlbumId,
        /// First item to list (default 0).
        #[serde(default)]
        offset: usize,
        /// Most items to list (default and maximum 1000).
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Start receiving a file from the add-on, kept in the home's `uploads/` folder.
    UploadBegin {
        /// Suggested file name (sanitised).
        name: String,
        /// Expected size in bytes, when known.
        #[serde(default)]
        size: Option<u64>,
    },
    /// Append bytes to an upload.
    UploadChunk {
        /// Upload ID from `upload_begin`.
        upload: String,
        /// Base64 bytes (at most 4 MiB decoded).
        data: String,
    },
    /// Finish an upload; replies with the file's path, ready for `share`.
    UploadEnd {
        /// Upload ID.
        upload: String,
    },
    /// Drop an unfinished upload and its bytes.
    UploadAbort {
        /// Upload ID.
        upload: String,
    },
    /// Delete finished uploads that were never shared (the share was cancelled).
    UploadDiscard {
        /// Paths `upload_end` gave.
        paths: Vec<String>,
    },
    /// Pause a fetch (its verified part stays; it is not resumed at restart).
    TransferPause {
        /// The fetch's target (album or item ID).
        target: String,
    },
    /// Resume a paused fetch.
    TransferResume {
        /// The fetch's target.
        target: String,
    },
    /// Cancel a fetch and delete its partial files.
    TransferCancel {
        /// The fetch's target.
        target: String,
    },
    /// Open a file this node has (fetched or shared) with the desktop's default program.
    Open {
        /// Item ID.
        item: ItemId,
    },
    /// Stop sharing an album of mine.
    Unshare {
        /// Album ID (`id` is the request's own).
        album: AlbumId,
    },
    /// Download an album or one item of it.
    Fetch {
        /// Album ID or item ID (`id` is the request's own).
        target: String,
        /// Absolute download folder (default: the user's download folder, `Kith/` inside it).
        #[serde(default)]
        out: Option<String>,
        /// Seconds to wait for a source (default 30).
        #[serde(default)]
        timeout_secs: Option<u64>,
    },
    /// Change an album of mine: add or remove audience members, or retitle it.
    AlbumUpdate {
        /// Album ID.
        album: AlbumId,
        /// Friends to add (ID, prefix or name).
        #[serde(default)]
        add: Vec<String>,
        /// Members to remove (ID, prefix or friend's name).
        #[serde(default)]
        remove: Vec<String>,
        /// New title.
        #[serde(default)]
        title: Option<String>,
    },
    /// Read or change settings (rates in bytes per second, 0 for no limit); saved in the home.
    Settings {
        /// New upload limit.
        #[serde(default)]
        upload_rate: Option<u64>,
        /// New download limit.
        #[serde(default)]
        download_rate: Option<u64>,
        /// New default download folder (absolute; empty for the default).
        #[serde(default)]
        download_dir: Option<String>,
        /// "Help my friends connect": relay between friends who cannot reach each other.
        #[serde(default)]
        help_friends: Option<bool>,
        /// Most bytes per second relayed for friends (0: no limit).
        #[serde(default)]
        relay_rate: Option<u64>,
    },
    /// Fetches under way or waiting to resume.
    Transfers {},
    /// Give a video of mine a thumbnail made by the add-on (JPEG or PNG, at most 640 px).
    ThumbSet {
        /// Item ID.
        item: ItemId,
        /// Base64 image bytes (at most 256 KiB).
        data: String,
        /// The video's length in milliseconds, when known.
        #[serde(default)]
        duration_ms: Option<u64>,
    },
    /// Post a comment or a reaction on an album or on one of its items.
    Comment {
        /// Album ID, or item ID.
        target: String,
        /// The text (exactly one of `text` and `reaction`).
        #[serde(default)]
        text: Option<String>,
        /// One of the reactions.
        #[serde(default)]
        reaction: Option<String>,
        /// The album, when the item is in several.
        #[serde(default)]
        album: Option<AlbumId>,
    },
    /// Change the text of my comment.
    CommentEdit {
        /// Comment ID.
        comment: CommentId,
        /// The new text.
        text: String,
    },
    /// Delete my comment, or take back my reaction.
    CommentDelete {
        /// Comment ID.
        comment: CommentId,
    },
    /// Hide (or show again) a comment on an album of mine.
    CommentHide {
        /// Comment ID.
        comment: CommentId,
        /// Hide (true) or show (false).
        hidden: bool,
    },
    /// The comments on an album (all of them) or on one item.
    Comments {
        /// Album ID, or item ID.
        target: String,
        /// The album, when the item is in several.
        #[serde(default)]
        album: Option<AlbumId>,
        /// How many to skip.
        #[serde(default)]
        offset: usize,
        /// How many at most (and at most 500).
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Mark an album as seen and its comments as read.
    AlbumRead {
        /// Album ID.
        album: AlbumId,
    },
    /// Mark that the safety number was compared with a friend (or not).
    FriendVerify {
        /// Full ID, unique prefix or name.
        peer: String,
        /// Compared (true) or not (false).
        verified: bool,
    },
    /// Write a passphrase-protected export of the identity and friends.
    IdentityExport {
        /// Absolute path of the file to write.
        path: String,
        /// Passphrase (at least 8 characters).
        passphrase: String,
    },
}

/// Names of every command, to tell an unknown command from a malformed one.
pub const COMMANDS: &[&str] = &[
    "hello",
    "status",
    "init",
    "invite_create",
    "invite_accept",
    "friends",
    "unfriend",
    "stop",
    "identity_export",
    "share",
    "albums",
    "unshare",
    "fetch",
    "album_update",
    "settings",
    "transfers",
    "thumb_set",
    "album",
    "upload_begin",
    "upload_chunk",
    "upload_end",
    "upload_abort",
    "upload_discard",
    "transfer_pause",
    "transfer_resume",
    "transfer_cancel",
    "open",
    "comment",
    "comment_edit",
    "comment_delete",
    "comment_hide",
    "comments",
    "album_read",
    "friend_verify",
];

/// A request: its id and command.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Client-chosen id echoed in the reply.
    pub id: Value,
    /// The command.
    pub cmd: Command,
}

/// Parses one request frame; on error returns the id (if one could be read) and the error.
pub fn parse_request(frame: &[u8]) -> Result<Request, (Value, ApiError)> {
    let v: Value = serde_json::from_slice(frame).map_err(|e| {
        let code = if std::str::from_utf8(frame).is_err() {
            "not UTF-8"
        } else {
            "not JSON"
        };
        (
            Value::Null,
            ApiError::new(code::BAD_JSON, format!("request is {code}: {e}")),
        )
    })?;
    let Value::Object(map) = &v else {
        return Err((
            Value::Null,
            ApiError::new(code::BAD_REQUEST, "request must be a JSON object"),
        ));
    };
    let id = map.get("id").cloned().unwrap_or(Value::Null);
    if !(id.is_u64() || id.is_string()) {
        return Err((
            Value::Null,
            ApiError::new(
                code::BAD_REQUEST,
                "request needs an \"id\" (number or string)",
            ),
        ));
    }
    let Some(name) = map.get("cmd").and_then(Value::as_str) else {
        return Err((
            id,
            ApiError::new(code::BAD_REQUEST, "request needs a \"cmd\" string"),
        ));
    };
    if !COMMANDS.contains(&name) {
        return Err((
            id,
            ApiError::new(code::UNKNOWN_COMMAND, format!("unknown command {name:?}")),
        ));
    }
    let cmd: Command = serde_json::from_value(v.clone()).map_err(|e| {
        (
            id.clone(),
            ApiError::new(code::BAD_REQUEST, format!("{name}: {e}")),
        )
    })?;
    Ok(Request { id, cmd })
}

/// A success reply.
pub fn ok_reply(id: &Value, result: Value) -> Value {
    json!({"id": id, "ok": true, "result": result})
}

/// An error reply.
pub fn err_reply(id: &Value, e: &ApiError) -> Value {
    json!({"id": id, "ok": false, "error": e})
}

/// A reply built from a result.
pub fn reply(id: &Value, r: Result<Value, ApiError>) -> Value {
    match r {
        Ok(v) => ok_reply(id, v),
        Err(e) => err_reply(id, &e),
    }
}

/// An event pushed by the node.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A friend was added (invite made or accepted).
    FriendAdded {
        /// The friend.
        friend: reply::Friend,
    },
    /// A friend was removed.
    FriendRemoved {
        /// Their ID.
        id: String,
    },
    /// A friend connected.
    FriendOnline {
        /// Their ID.
        id: String,
    },
    /// A friend's connection ended.
    FriendOffline {
        /// Their ID.
        id: String,
    },
    /// Hashing files for a new album.
    ShareProgress {
        /// Bytes hashed so far.
        bytes: u64,
        /// Bytes to hash.
        total: u64,
    },
    /// An album was shared with me, or changed.
    AlbumReceived {
        /// The album, as `albums` lists it.
        album: reply::AlbumView,
    },
    /// Thumbnails of an album arrived (its gallery may be drawn again).
    AlbumThumbs {
        /// Album ID.
        album: AlbumId,
    },
    /// An album shared with me was unshared, or I was removed from its audience.
    AlbumRemoved {
        /// Album ID.
        id: AlbumId,
    },
    /// A fetch made progress.
    FetchProgress {
        /// Album or item ID being fetched.
        id: String,
        /// Bytes in place so far.
        bytes: u64,
        /// Total bytes.
        total: u64,
    },
    /// A fetch completed: every file verified and in place.
    FetchDone {
        /// Album or item ID fetched.
        id: String,
        /// Where the files are (the first 20).
        paths: Vec<String>,
        /// How many files.
        files: usize,
        /// Total bytes.
        bytes: u64,
    },
    /// A comment arrived, was posted or changed.
    Comment {
        /// Album ID.
        album: AlbumId,
        /// The album's title.
        title: String,
        /// The comment, as `comments` lists it.
        comment: reply::CommentView,
        /// The first time this node sees this comment by someone else.
        new: bool,
    },
    /// The album's owner refused a comment of mine; it was taken out of my outbox.
    CommentFailed {
        /// Album ID.
        album: AlbumId,
        /// Comment ID.
        id: CommentId,
        /// Why.
        error: ApiError,
    },
    /// A fetch stopped without completing (it may resume later).
    FetchFailed {
        /// Album or item ID.
        id: String,
        /// Why.
        error: ApiError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_bad_ones_get_stable_codes() {
        let r = parse_request(br#"{"id":1,"cmd":"status"}"#).unwrap();
        assert_eq!(r.cmd, Command::Status {});
        let r = parse_request(br#"{"id":"a","cmd":"init","name":"Ann"}"#).unwrap();
        assert_eq!(r.cmd, Command::Init { name: "Ann".into() });
        let code_of = |b: &[u8]| parse_request(b).unwrap_err().1.code;
        assert_eq!(code_of(b"\xff\xfe"), code::BAD_JSON);
        assert_eq!(code_of(b"nope"), code::BAD_JSON);
        assert_eq!(code_of(b"[1]"), code::BAD_REQUEST);
        assert_eq!(code_of(br#"{"cmd":"status"}"#), code::BAD_REQUEST);
        assert_eq!(code_of(br#"{"id":2}"#), code::BAD_REQUEST);
        assert_eq!(code_of(br#"{"id":2,"cmd":"fly"}"#), code::UNKNOWN_COMMAND);
        assert_eq!(code_of(br#"{"id":2,"cmd":"init"}"#), code::BAD_REQUEST);
        assert_eq!(
            parse_request(br#"{"id":7,"cmd":"fly"}"#).unwrap_err().0,
            json!(7)
        );
    }

    #[test]
    fn code_all_lists_every_error_code_of_the_code_module() {
        let source = include_str!("api.rs");
        let start = source.find("pub mod code {").expect("api.rs has mod code");
        let body = &source[start..];
        let body = &body[..body.find("\n}\n").expect("mod code ends")];
        let declared: Vec<&str> = body
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub const "))
            .filter_map(|l| l.split_once(": &str = \""))
            .map(|(_, value)| value.trim_end_matches("\";"))
            .collect();
        assert!(declared.len() > 20, "found only {declared:?}");
        let mut all = code::ALL.to_vec();
        let mut declared_sorted = declared.clone();
        all.sort_unstable();
        declared_sorted.sort_unstable();
        assert_eq!(all, declared_sorted, "code::ALL must list every code const");
    }
}
