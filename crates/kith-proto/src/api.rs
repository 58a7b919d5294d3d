//! The JSON API shared by native messaging, the control socket and the CLI.

use serde::{Deserialize, Serialize};

use crate::peer::PeerCode;

pub mod reply;
use crate::ids::{AlbumId, CommentId, ItemId};
use serde_json::{json, Value};

/// A stable error code: the `code` of `{"error": {"code", "message"}}` (API.md §6).
///
/// Serde writes and reads each variant as its snake_case name, which [`ErrorCode::as_str`]
/// spells out (a unit test checks that the two agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Frame with length 0.
    BadFrame,
    /// Frame longer than allowed.
    FrameTooLarge,
    /// Not UTF-8 JSON.
    BadJson,
    /// JSON of the wrong shape or with bad fields.
    BadRequest,
    /// `cmd` names no command.
    UnknownCommand,
    /// This home has no identity yet.
    NotInitialized,
    /// This home already has an identity.
    AlreadyInitialized,
    /// No node runs for this home.
    NoNode,
    /// The calling add-on is not allowed.
    AddonNotAllowed,
    /// The link is not a Kith invite, or it was altered.
    InviteInvalid,
    /// The invite expired.
    InviteExpired,
    /// The invite was used already.
    InviteUsed,
    /// The inviter refused the invite at the handshake.
    InviteRefused,
    /// The invite is this node's own.
    InviteOwn,
    /// The peer could not be reached.
    PeerUnreachable,
    /// No such friend.
    NotFound,
    /// A name or prefix matches several friends.
    Ambiguous,
    /// The reply would exceed the 1 MiB native-messaging limit.
    ReplyTooLarge,
    /// A file could not be read or written.
    Io,
    /// Wrong passphrase or damaged export.
    BadPassphrase,
    /// The node did not answer in time.
    Timeout,
    /// Not enough room on the disk.
    DiskFull,
    /// A shared file changed or vanished since it was shared.
    Changed,
    /// The transfer was paused or cancelled.
    Cancelled,
    /// Something failed inside the node.
    Internal,
    /// Too many comments at once: the `comment` commands wait a little.
    RateLimited,
    /// Files to share whose location Kith cannot remove (listed in the error's
    /// `location_kept`); sharing them takes `keep_location`.
    LocationKept,
    /// `kith serve` under `KITH_LOCAL_ONLY=1` would send packets off the machine (exit 4).
    OffMachine,
    /// CLI only: a local step failed with a plain error (API.md §6.2).
    Failed,
    /// CLI only: `kith doctor` found at least one problem.
    Doctor,
    /// Any code this version does not know, read from a newer node's reply: the CLI still
    /// shows the message and exits 1. Never sent; serialized as `unknown`. (Serde allows
    /// `#[serde(other)]` on the last unit variant of this string-only enum.)
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Every code this version sends (all but [`ErrorCode::Unknown`]).
    pub const ALL: &[ErrorCode] = &[
        ErrorCode::BadFrame,
        ErrorCode::FrameTooLarge,
        ErrorCode::BadJson,
        ErrorCode::BadRequest,
        ErrorCode::UnknownCommand,
        ErrorCode::NotInitialized,
        ErrorCode::AlreadyInitialized,
        ErrorCode::NoNode,
        ErrorCode::AddonNotAllowed,
        ErrorCode::InviteInvalid,
        ErrorCode::InviteExpired,
        ErrorCode::InviteUsed,
        ErrorCode::InviteRefused,
        ErrorCode::InviteOwn,
        ErrorCode::PeerUnreachable,
        ErrorCode::NotFound,
        ErrorCode::Ambiguous,
        ErrorCode::ReplyTooLarge,
        ErrorCode::Io,
        ErrorCode::BadPassphrase,
        ErrorCode::Timeout,
        ErrorCode::DiskFull,
        ErrorCode::Changed,
        ErrorCode::Cancelled,
        ErrorCode::Internal,
        ErrorCode::RateLimited,
        ErrorCode::LocationKept,
        ErrorCode::OffMachine,
        ErrorCode::Failed,
        ErrorCode::Doctor,
    ];

    /// The code's word on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::BadJson => "bad_json",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownCommand => "unknown_command",
            ErrorCode::NotInitialized => "not_initialized",
            ErrorCode::AlreadyInitialized => "already_initialized",
            ErrorCode::NoNode => "no_node",
            ErrorCode::AddonNotAllowed => "addon_not_allowed",
            ErrorCode::InviteInvalid => "invite_invalid",
            ErrorCode::InviteExpired => "invite_expired",
            ErrorCode::InviteUsed => "invite_used",
            ErrorCode::InviteRefused => "invite_refused",
            ErrorCode::InviteOwn => "invite_own",
            ErrorCode::PeerUnreachable => "peer_unreachable",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Ambiguous => "ambiguous",
            ErrorCode::ReplyTooLarge => "reply_too_large",
            ErrorCode::Io => "io",
            ErrorCode::BadPassphrase => "bad_passphrase",
            ErrorCode::Timeout => "timeout",
            ErrorCode::DiskFull => "disk_full",
            ErrorCode::Changed => "changed",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::Internal => "internal",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::LocationKept => "location_kept",
            ErrorCode::OffMachine => "off_machine",
            ErrorCode::Failed => "failed",
            ErrorCode::Doctor => "doctor",
            ErrorCode::Unknown => "unknown",
        }
    }
}

// `ALL` is complete, checked when the crate compiles: it lists the variants in declaration
// order, and `Unknown` (last, as `#[serde(other)]` requires) comes right after it. A variant
// added without adding it to `ALL` stops the build here.
const _: () = {
    let mut i = 0;
    while i < ErrorCode::ALL.len() {
        assert!(
            ErrorCode::ALL[i] as usize == i,
            "ErrorCode::ALL must list every variant, in declaration order"
        );
        i += 1;
    }
    assert!(
        ErrorCode::Unknown as usize == ErrorCode::ALL.len(),
        "ErrorCode::ALL must list every variant but Unknown"
    );
};

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error reply.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// Stable code.
    pub code: ErrorCode,
    /// Human-readable text.
    pub message: String,
    /// With `location_kept`: each file whose location cannot be removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub location_kept: Vec<KeptLocation>,
}

/// A peer's refusal passed on to the user (`comment_failed`), in the JSON shape of an
/// [`ApiError`]; its `code` is a peer code (PROTOCOL.md §8), not an [`ErrorCode`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PeerRefusal {
    /// The peer's code.
    pub code: PeerCode,
    /// The peer's message.
    pub message: String,
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
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            location_kept: Vec::new(),
        }
    }
    /// An internal error from anything displayable.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::new(ErrorCode::Internal, e.to_string())
    }
}

/// The version of this API (`hello.protocol`); the add-on speaks exactly this one.
pub const PROTOCOL: u32 = 1;

/// The Firefox add-on's ID (the host manifest's `allowed_extensions`).
pub const ADDON_ID: &str = "kith@kith";
/// The Chromium build's extension ID, pinned by the public key of its manifest.
pub const CHROMIUM_EXTENSION_ID: &str = "bifkbjjdhhfehfjgpbnaninegkkojooj";

/// Whether `origin` has the form of a browser extension's origin: `moz-extension://` and a
/// UUID, or `chrome-extension://` and 32 letters `a` to `p` (no trailing slash).
pub fn extension_origin_ok(origin: &str) -> bool {
    if let Some(uuid) = origin.strip_prefix("moz-extension://") {
        uuid.len() == 36
            && uuid.char_indices().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => c == '-',
                _ => c.is_ascii_hexdigit(),
            })
    } else if let Some(id) = origin.strip_prefix("chrome-extension://") {
        id.len() == 32 && id.bytes().all(|b| (b'a'..=b'p').contains(&b))
    } else {
        false
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
        /// Albums kept per owner who is a friend.
        #[serde(default)]
        quota_albums: Option<u64>,
        /// Albums kept per owner who is not a friend.
        #[serde(default)]
        quota_member_albums: Option<u64>,
        /// Bytes of thumbnails kept per owner.
        #[serde(default)]
        quota_thumb_bytes: Option<u64>,
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
    /// The add-on tells the node its pages' origin (`moz-extension://UUID`, which Firefox picks
    /// per install), so the gateway lets those pages read what they load; the gateway refuses
    /// every other origin but the Chromium build's pinned one.
    AddonOrigin {
        /// The origin, without a trailing slash.
        origin: String,
    },
    /// Whether the node starts at login, and turning that on or off (answered by the
    /// native-messaging host, which writes the login entry as `kith install --autostart` does).
    Autostart {
        /// Turn it on (true) or off (false); absent: only ask.
        #[serde(default)]
        enable: Option<bool>,
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
    "addon_origin",
    "autostart",
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
            ApiError::new(ErrorCode::BadJson, format!("request is {code}: {e}")),
        )
    })?;
    let Value::Object(map) = &v else {
        return Err((
            Value::Null,
            ApiError::new(ErrorCode::BadRequest, "request must be a JSON object"),
        ));
    };
    let id = map.get("id").cloned().unwrap_or(Value::Null);
    if !(id.is_u64() || id.is_string()) {
        return Err((
            Value::Null,
            ApiError::new(
                ErrorCode::BadRequest,
                "request needs an \"id\" (number or string)",
            ),
        ));
    }
    let Some(name) = map.get("cmd").and_then(Value::as_str) else {
        return Err((
            id,
            ApiError::new(ErrorCode::BadRequest, "request needs a \"cmd\" string"),
        ));
    };
    if !COMMANDS.contains(&name) {
        return Err((
            id,
            ApiError::new(
                ErrorCode::UnknownCommand,
                format!("unknown command {name:?}"),
            ),
        ));
    }
    let cmd: Command = serde_json::from_value(v.clone()).map_err(|e| {
        (
            id.clone(),
            ApiError::new(ErrorCode::BadRequest, format!("{name}: {e}")),
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
        error: PeerRefusal,
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
        assert_eq!(code_of(b"\xff\xfe"), ErrorCode::BadJson);
        assert_eq!(code_of(b"nope"), ErrorCode::BadJson);
        assert_eq!(code_of(b"[1]"), ErrorCode::BadRequest);
        assert_eq!(code_of(br#"{"cmd":"status"}"#), ErrorCode::BadRequest);
        assert_eq!(code_of(br#"{"id":2}"#), ErrorCode::BadRequest);
        assert_eq!(
            code_of(br#"{"id":2,"cmd":"fly"}"#),
            ErrorCode::UnknownCommand
        );
        assert_eq!(code_of(br#"{"id":2,"cmd":"init"}"#), ErrorCode::BadRequest);
        assert_eq!(
            parse_request(br#"{"id":7,"cmd":"fly"}"#).unwrap_err().0,
            json!(7)
        );
    }

    #[test]
    fn error_codes_serialize_as_their_as_str_word() {
        for &c in ErrorCode::ALL.iter().chain([&ErrorCode::Unknown]) {
            let word = c.as_str();
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{word}\""));
            assert_eq!(c.to_string(), word);
            if c != ErrorCode::Unknown {
                assert_eq!(serde_json::from_value::<ErrorCode>(json!(word)).unwrap(), c);
            }
        }
    }

    #[test]
    fn an_error_code_from_a_newer_node_reads_as_unknown_and_keeps_its_message() {
        let e: ApiError =
            serde_json::from_value(json!({"code": "moon_phase", "message": "later"})).unwrap();
        assert_eq!(e.code, ErrorCode::Unknown);
        assert_eq!(e.message, "later");
    }

    #[test]
    fn an_api_error_keeps_its_json_shape() {
        let e = ApiError::new(ErrorCode::NoNode, "none");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"code": "no_node", "message": "none"})
        );
    }

    #[test]
    fn comment_failed_gives_the_peer_code_in_the_error_shape() {
        let refused = Event::CommentFailed {
            album: "a".into(),
            id: "c".into(),
            error: PeerRefusal {
                code: PeerCode::BadComment,
                message: "no".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&refused).unwrap(),
            json!({"event": "comment_failed", "album": "a", "id": "c",
                   "error": {"code": "bad_comment", "message": "no"}})
        );
    }
}
