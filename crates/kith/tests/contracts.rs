//! The contracts users and the add-on rely on (API.md §3–§7), each checked against API.md.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{kith, kith_command, wait_until, Node};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// API.md, read at run time

/// API.md: the first one found walking up from this crate's folder.
fn api_md() -> String {
    let mut dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")));
    while let Some(d) = dir {
        if let Ok(text) = std::fs::read_to_string(d.join("API.md")) {
            return text;
        }
        dir = d.parent();
    }
    panic!("no API.md above {}", env!("CARGO_MANIFEST_DIR"));
}

/// The lines from the first one that starts with `heading` up to the next heading of the same
/// or a higher level.
fn doc_section<'a>(doc: &'a str, heading: &str) -> Vec<&'a str> {
    let level = heading.split(' ').next().unwrap();
    let mut lines = doc.lines().skip_while(|l| !l.starts_with(heading));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("API.md has no heading {heading:?}"));
    let stop = |l: &str| {
        let hashes = l.split(' ').next().unwrap_or("");
        !hashes.is_empty() && hashes.chars().all(|c| c == '#') && hashes.len() <= level.len()
    };
    std::iter::once(first)
        .chain(lines.take_while(|l| !stop(l)))
        .collect()
}

/// The field names (first column, in backticks) of the first table after the first line that
/// contains `marker`, inside the section under `heading`.
fn doc_table(doc: &str, heading: &str, marker: &str) -> BTreeSet<String> {
    let lines = doc_section(doc, heading);
    let start = lines
        .iter()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("API.md {heading:?} has no line with {marker:?}"));
    lines[start..]
        .iter()
        .map(|l| l.trim_start())
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`'))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Says that API.md's section under `heading` writes each field as `"field"` (the inline
/// `{"a": …, "b": …}` results of API.md §4 and §7).
fn assert_doc_quotes(doc: &str, heading: &str, fields: &[&str]) {
    let text = doc_section(doc, heading).join("\n");
    for f in fields {
        assert!(
            text.contains(&format!("\"{f}\"")),
            "API.md {heading:?} does not document the field \"{f}\""
        );
    }
}

// ---------------------------------------------------------------------------------------------
// JSON shapes

/// The JSON type API.md gives a field.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    Str,
    Int,
    Float,
    Bool,
    Arr,
    Obj,
    StrOrNull,
    IntOrNull,
    FloatOrNull,
    ObjOrNull,
}

impl Ty {
    fn fits(self, v: &Value) -> bool {
        match self {
            Ty::Str => v.is_string(),
            Ty::Int => v.is_u64(),
            Ty::Float => v.is_f64(),
            Ty::Bool => v.is_boolean(),
            Ty::Arr => v.is_array(),
            Ty::Obj => v.is_object(),
            Ty::StrOrNull => v.is_string() || v.is_null(),
            Ty::IntOrNull => v.is_u64() || v.is_null(),
            Ty::FloatOrNull => v.is_f64() || v.is_null(),
            Ty::ObjOrNull => v.is_object() || v.is_null(),
        }
    }
}

type Shape = &'static [(&'static str, Ty)];

/// Says that `v` is an object with exactly the fields of `shape`, each of its type.
fn assert_shape(what: &str, v: &Value, shape: Shape) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {v}"));
    let got: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = shape.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        got, want,
        "{what}: the fields differ from API.md's (left: the reply's): {v}"
    );
    for (k, ty) in shape {
        assert!(ty.fits(&v[*k]), "{what}: `{k}` is not {ty:?}: {v}");
    }
}

fn names(shape: Shape) -> BTreeSet<String> {
    shape.iter().map(|(k, _)| k.to_string()).collect()
}

/// Says that a table of API.md lists exactly the fields of `shape`.
fn assert_doc_table(doc: &str, heading: &str, marker: &str, shape: Shape) {
    assert_eq!(
        doc_table(doc, heading, marker),
        names(shape),
        "API.md {heading:?} ({marker:?}) lists other fields than this test (left: API.md)"
    );
}

/// API.md §4 `status`, **N**.
const STATUS: Shape = &[
    ("initialized", Ty::Bool),
    ("peer_id", Ty::Str),
    ("name", Ty::Str),
    ("friends", Ty::Int),
    ("online", Ty::Int),
    ("unread", Ty::Int),
    ("listen_addr", Ty::Str),
    ("addrs", Ty::Arr),
    ("reach", Ty::Obj),
    ("home", Ty::Str),
    ("download_dir", Ty::Str),
    ("gateway", Ty::Str),
    ("version", Ty::Str),
    ("pid", Ty::Int),
    ("binary", Ty::ObjOrNull),
];
/// API.md §4 `status`, the `reach` field.
const REACH: Shape = &[
    ("mapped", Ty::StrOrNull),
    ("public", Ty::StrOrNull),
    ("dht", Ty::Str),
];
/// API.md §4 `friends`, "Friend object".
const FRIEND: Shape = &[
    ("id", Ty::Str),
    ("name", Ty::Str),
    ("safety_number", Ty::Str),
    ("online", Ty::Bool),
    ("path", Ty::Str),
    ("addrs", Ty::Arr),
    ("added_at", Ty::Int),
    ("last_seen", Ty::Int),
    ("verified", Ty::Bool),
    ("last_error", Ty::StrOrNull),
    ("dht", Ty::StrOrNull),
];
/// API.md §4 `albums`, "Album object".
const ALBUM: Shape = &[
    ("id", Ty::Str),
    ("title", Ty::Str),
    ("owner", Ty::Str),
    ("owner_name", Ty::Str),
    ("mine", Ty::Bool),
    ("created", Ty::Int),
    ("version", Ty::Int),
    ("item_count", Ty::Int),
    ("bytes", Ty::Int),
    ("audience", Ty::Arr),
    ("link", Ty::StrOrNull),
    ("cover", Ty::StrOrNull),
    ("unread", Ty::Int),
    ("new", Ty::Bool),
];
/// API.md §4 `album`: the album object's two more fields.
const ALBUM_PAGE_MORE: Shape = &[("offset", Ty::Int), ("items", Ty::Arr)];
/// API.md §4 `album`, one of `items`.
const ITEM: Shape = &[
    ("id", Ty::Str),
    ("name", Ty::Str),
    ("size", Ty::Int),
    ("path", Ty::StrOrNull),
    ("kind", Ty::Str),
    ("w", Ty::IntOrNull),
    ("h", Ty::IntOrNull),
    ("taken", Ty::IntOrNull),
    ("duration_ms", Ty::IntOrNull),
    ("thumb", Ty::StrOrNull),
];
/// API.md §4 `comments`, "Comment object".
const COMMENT: Shape = &[
    ("id", Ty::Str),
    ("album", Ty::Str),
    ("item", Ty::StrOrNull),
    ("author", Ty::StrOrNull),
    ("author_name", Ty::Str),
    ("author_verified", Ty::Bool),
    ("mine", Ty::Bool),
    ("at", Ty::IntOrNull),
    ("edited", Ty::IntOrNull),
    ("text", Ty::Str),
    ("reaction", Ty::StrOrNull),
    ("deleted", Ty::Bool),
    ("hidden", Ty::Bool),
    ("seq", Ty::IntOrNull),
    ("pending", Ty::Bool),
    ("unread", Ty::Bool),
];
/// API.md §4 `comments`, the result.
const COMMENTS: Shape = &[
    ("album", Ty::Str),
    ("title", Ty::Str),
    ("item", Ty::StrOrNull),
    ("total", Ty::Int),
    ("offset", Ty::Int),
    ("unread", Ty::Int),
    ("comments", Ty::Arr),
];
/// API.md §4 `transfers`, one fetch.
const TRANSFER: Shape = &[
    ("target", Ty::Str),
    ("title", Ty::Str),
    ("out", Ty::Str),
    ("running", Ty::Bool),
    ("paused", Ty::Bool),
    ("bytes", Ty::Int),
    ("total", Ty::Int),
    ("secs", Ty::FloatOrNull),
];
/// API.md §7 `--json`: `init` prints `{"peer_id", "name", "home"}`.
const INIT: Shape = &[("peer_id", Ty::Str), ("name", Ty::Str), ("home", Ty::Str)];
/// API.md §4 `invite_create`.
const INVITE: Shape = &[("qr", Ty::Arr), ("link", Ty::Str), ("expires", Ty::Int)];
/// API.md §4 `invite_accept` and `friend_verify`.
const WITH_FRIEND: Shape = &[("friend", Ty::Obj)];
/// API.md §4 `unfriend`.
const UNFRIEND: Shape = &[("id", Ty::Str), ("name", Ty::Str)];
/// API.md §4 `share`.
const SHARE: Shape = &[
    ("id", Ty::Str),
    ("items", Ty::Int),
    ("bytes", Ty::Int),
    ("audience", Ty::Arr),
];
/// API.md §4 `unshare`.
const UNSHARE: Shape = &[("id", Ty::Str)];
/// API.md §4 `fetch`.
const FETCH: Shape = &[
    ("id", Ty::Str),
    ("paths", Ty::Arr),
    ("bytes", Ty::Int),
    ("received_bytes", Ty::Int),
    ("secs", Ty::Float),
];
/// API.md §4 `settings`.
const SETTINGS: Shape = &[
    ("upload_rate", Ty::Int),
    ("download_rate", Ty::Int),
    ("download_dir", Ty::Str),
    ("help_friends", Ty::Bool),
    ("relay_rate", Ty::Int),
    ("quota_albums", Ty::Int),
    ("quota_member_albums", Ty::Int),
    ("quota_thumb_bytes", Ty::Int),
];
/// API.md §4 `comment`.
const COMMENT_RESULT: Shape = &[("comment", Ty::Obj), ("owner_offline", Ty::Bool)];
/// API.md §3 and §7: a failure with `--json`, and `error` inside it.
const FAILURE: Shape = &[("error", Ty::Obj)];
const ERROR: Shape = &[("code", Ty::Str), ("message", Ty::Str)];
/// API.md §4 `hello`, **H**.
const HELLO_HOST: Shape = &[
    ("host_version", Ty::Str),
    ("protocol", Ty::Int),
    ("initialized", Ty::Bool),
    ("node_running", Ty::Bool),
    ("node", Ty::ObjOrNull),
    ("node_binary", Ty::StrOrNull),
];
/// API.md §4 `hello`, **N** (also `hello.node` of **H**).
const HELLO_NODE: Shape = &[
    ("node_version", Ty::Str),
    ("protocol", Ty::Int),
    ("binary", Ty::ObjOrNull),
];
/// API.md §4 `hello`, **N**: `binary` (also `status.binary`).
const BINARY: Shape = &[("path", Ty::Str), ("stamp", Ty::Str)];
/// API.md §4 `status`, **H** with no identity.
const STATUS_NO_IDENTITY: Shape = &[("initialized", Ty::Bool), ("home", Ty::Str)];
/// API.md §3: replies.
const REPLY_OK: Shape = &[("id", Ty::Int), ("ok", Ty::Bool), ("result", Ty::Obj)];
const REPLY_LIST: Shape = &[("id", Ty::Int), ("ok", Ty::Bool), ("result", Ty::Arr)];
const REPLY_ERR: Shape = &[("id", Ty::Int), ("ok", Ty::Bool), ("error", Ty::Obj)];

/// The `--json` output of a command that succeeded.
fn json_of(n: &Node, args: &[&str]) -> Value {
    let o = n.cli(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: stdout is not one JSON value ({e})"))
}

/// Says that a failed command printed exactly one compact line on stdout, the
/// `{"error": {"code", "message"}}` of API.md §7, with `code`; and `kith: MESSAGE` on stderr.
fn assert_json_failure(args: &[&str], o: &Output, code: &str, exit: i32) {
    let out = common::stdout(o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(exit), "{args:?}: {out} {err}");
    assert_eq!(
        out.lines().count(),
        1,
        "{args:?}: stdout holds more than the error line: {out:?}"
    );
    assert!(out.ends_with('\n'), "{args:?}: {out:?}");
    let v: Value = serde_json::from_str(out.trim_end()).unwrap_or_else(|e| {
        panic!("{args:?}: stdout is not JSON ({e}): {out:?}");
    });
    assert_eq!(
        out.trim_end(),
        serde_json::to_string(&v).unwrap(),
        "{args:?}: not one compact line"
    );
    assert_shape("the failure", &v, FAILURE);
    assert_shape("the failure's error", &v["error"], ERROR);
    assert_eq!(v["error"]["code"], code, "{args:?}: {v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        err.contains(&format!("kith: {message}")),
        "{args:?}: stderr lacks `kith: {message}`: {err}"
    );
}

// ---------------------------------------------------------------------------------------------
// 1. The command-line forms (API.md §7)

/// Every subcommand of API.md §7 with the options documented for it.
const FORMS: &[(&str, &[&str])] = &[
    ("init", &["--name", "--json"]),
    ("id", &[]),
    (
        "serve",
        &["--listen", "--rate", "--upload-rate", "--download-rate"],
    ),
    ("start", &[]),
    ("stop", &[]),
    ("status", &["--json"]),
    ("invite", &["--qr", "--days", "--json"]),
    ("accept", &["--json"]),
    ("friends", &["--json"]),
    ("unfriend", &["--json"]),
    ("verify", &["--undo", "--json"]),
    ("share", &["--to", "--title", "--keep-location", "--json"]),
    ("albums", &["--json"]),
    ("album", &["--offset", "--limit", "--json"]),
    ("unshare", &["--json"]),
    ("audience", &["--add", "--remove", "--title", "--json"]),
    (
        "comment",
        &[
            "--react", "--edit", "--delete", "--hide", "--unhide", "--json",
        ],
    ),
    ("comments", &["--json"]),
    (
        "settings",
        &[
            "--upload-rate",
            "--download-rate",
            "--download-dir",
            "--help-friends",
            "--relay-rate",
            "--json",
        ],
    ),
    ("transfers", &["--json"]),
    ("fetch", &["--out", "--timeout", "--json"]),
    ("identity", &[]),
    ("install", &["--autostart"]),
    ("uninstall", &["--purge", "--yes"]),
    ("logs", &["--lines", "--follow"]),
    ("doctor", &[]),
    ("demo", &["--once", "--friend"]),
];

/// The first cells of API.md §7's table rows about `cmd`, joined.
fn doc_rows(doc: &str, cmd: &str) -> String {
    doc_section(doc, "## 7.")
        .iter()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split(" | ").next())
        .filter(|cell| cell.contains(&format!("`{cmd} ")) || cell.contains(&format!("`{cmd}`")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The subcommands `kith --help` lists.
fn listed_subcommands(help: &str) -> BTreeSet<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_documented_subcommand_and_option_is_in_the_help_and_parses_and_a_usage_error_exits_2() {
    let doc = api_md();
    // `kith help` (and `--help`) lists exactly the documented subcommands (and `help`).
    let documented: BTreeSet<String> = FORMS.iter().map(|(c, _)| c.to_string()).collect();
    let home = tempfile::tempdir().unwrap();
    for args in [&["help"][..], &["--help"]] {
        let o = kith(home.path(), args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        let mut listed = listed_subcommands(&common::stdout(&o));
        assert!(listed.remove("help"), "{args:?}: no help subcommand");
        assert_eq!(listed, documented, "{args:?} (left: listed by kith)");
    }
    let o = kith(home.path(), &["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(common::stdout(&o).contains(env!("CARGO_PKG_VERSION")));
    // Each subcommand's help shows its documented options, which API.md §7's table names.
    for (cmd, opts) in FORMS {
        let rows = doc_rows(&doc, cmd);
        assert!(!rows.is_empty(), "API.md §7 has no row for `{cmd}`");
        let o = kith(home.path(), &[cmd, "--help"]);
        assert_eq!(o.status.code(), Some(0), "{cmd} --help");
        let help = common::stdout(&o);
        for opt in opts.iter().copied().chain(["--home"]) {
            assert!(
                help.contains(opt),
                "`kith {cmd} --help` lacks {opt}: {help}"
            );
        }
        for opt in *opts {
            assert!(rows.contains(opt), "API.md §7 does not give `{cmd}` {opt}");
        }
        // A usage error exits 2, says why on stderr and prints nothing on stdout.
        let o = kith(home.path(), &[cmd, "--no-such-option", "--json"]);
        assert_eq!(o.status.code(), Some(2), "{cmd} --no-such-option");
        assert!(o.stdout.is_empty(), "{cmd}: {}", common::stdout(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains("--no-such-option"));
    }
    for args in [
        &["accept"][..],                                 // no LINK
        &["comment", "ID", "--react", "❤️", "--delete"], // exclusive
        &["comment", "ID", "--hide", "--unhide"],
        &["comment", "ID"], // neither TEXT nor an option
        &["settings", "--help-friends", "maybe"],
        &["settings", "--upload-rate", "fast"],
        &["serve", "--rate", "fast"],
        &["invite", "--days", "seven"],
        &["album", "ID", "--offset", "-1"],
        &["share"], // no PATH
        &["identity", "lend", "FILE"],
    ] {
        let o = kith(home.path(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?} is a usage error");
        assert!(o.stdout.is_empty(), "{args:?}: {}", common::stdout(&o));
    }

    // The full documented forms parse: against a home with no node they get as far as the node
    // (exit 3, `no_node`), not a usage error.
    let n = Node::new("Ann");
    let h = n.home().to_str().unwrap().to_string();
    let file = n.home().join("a.txt");
    std::fs::write(&file, b"a").unwrap();
    let f = file.to_str().unwrap();
    let id = "0123456789abcdef0123456789abcdef01234567";
    let forms: &[&[&str]] = &[
        &["stop"],
        &["status", "--json"],
        &["invite", "--qr", "--days", "3", "--json"],
        &["accept", "kith://invite/x", "--json"],
        &["friends", "--json"],
        &["unfriend", "Bo", "--json"],
        &["verify", "Bo", "--undo", "--json"],
        &[
            "share",
            f,
            f,
            "--to",
            "Bo",
            "--to",
            "Cy",
            "--title",
            "T",
            "--keep-location",
            "--json",
        ],
        &["albums", "--json"],
        &["album", id, "--offset", "1", "--limit", "2", "--json"],
        &["unshare", id, "--json"],
        &[
            "audience", id, "--add", "Bo", "--add", "Cy", "--remove", "Di", "--title", "T",
            "--json",
        ],
        &["comment", id, "nice", "--json"],
        &["comment", id, "--react", "❤️", "--json"],
        &["comment", id, "--edit", "nicer", "--json"],
        &["comment", id, "--delete", "--json"],
        &["comment", id, "--hide", "--json"],
        &["comment", id, "--unhide", "--json"],
        &["comments", id, "--json"],
        &[
            "settings",
            "--upload-rate",
            "500K",
            "--download-rate",
            "1.5M",
            "--download-dir",
            &h,
            "--help-friends",
            "off",
            "--relay-rate",
            "0",
            "--json",
        ],
        &["transfers", "--json"],
        &["fetch", id, "--out", &h, "--timeout", "5", "--json"],
    ];
    for args in forms {
        let o = n.cli(args);
        if args.contains(&"--json") {
            assert_json_failure(args, &o, "no_node", 3);
        } else {
            assert_eq!(o.status.code(), Some(3), "{args:?}");
        }
    }
    // The forms that need no node do their work.
    let o = n.cli(&["id"]);
    assert_eq!(o.status.code(), Some(0));
    let export = n.home().join("me.kith-identity");
    let e = export.to_str().unwrap();
    let o = kith_command()
        .args(["--home", &h, "identity", "export", e])
        .env("KITH_PASSPHRASE", "correct horse")
        .env("KITH_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let other = tempfile::tempdir().unwrap();
    let o = kith_command()
        .arg("--home")
        .arg(other.path())
        .args(["identity", "import", e])
        .env("KITH_PASSPHRASE", "correct horse")
        .env("KITH_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(common::last_line(&o), n.id());
    let user = tempfile::tempdir().unwrap();
    for (args, exit) in [(&["install"][..], 0), (&["doctor"], 1), (&["uninstall"], 0)] {
        let o = kith_command()
            .args(["--home", &h])
            .args(args)
            .env("HOME", user.path())
            .env("KITH_LOG", "warn")
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(exit),
            "{args:?}: {}",
            common::stdout(&o)
        );
    }
    // `serve` with every option is `serve_in_the_foreground_…` below; `demo` and
    // `demo --friend` are in tests/cli.rs.
}

// ---------------------------------------------------------------------------------------------
// 2 and 3. Exit codes and the `--json` failure

#[test]
fn a_request_the_node_refuses_exits_1_with_only_the_error_object_on_stdout() {
    let a = Node::started("Ann");
    let nobody = "0123456789abcdef0123456789abcdef01234567";
    for (args, code) in [
        (&["unshare", nobody, "--json"][..], "not_found"),
        (&["album", nobody, "--json"], "not_found"),
        (&["unfriend", "Nobody", "--json"], "not_found"),
        (&["invite", "--days", "0", "--json"], "bad_request"),
        (
            &["accept", "kith://invite/garbage", "--json"],
            "invite_invalid",
        ),
    ] {
        assert_json_failure(args, &a.cli(args), code, 1);
    }
    // A local failure (CLI-only code `failed`, API.md §6.2) has the same shape.
    let args = ["init", "--name", "Again", "--json"];
    assert_json_failure(&args, &a.cli(&args), "failed", 1);
    // Without --json the failure is on stderr only.
    let o = a.cli(&["unshare", nobody]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty(), "{}", common::stdout(&o));
}

// ---------------------------------------------------------------------------------------------
// 4. Every `--json` object (API.md §4 and §7), on a real pair

#[test]
fn every_json_object_of_the_cli_has_the_fields_and_types_api_md_documents() {
    let doc = api_md();
    // The lists above are API.md's.
    assert_doc_table(&doc, "### `status`", "| field |", STATUS);
    assert_doc_table(&doc, "### `friends`", "Friend object", FRIEND);
    assert_doc_table(&doc, "### `albums`", "Album object", ALBUM);
    assert_doc_table(&doc, "### `album`", "| field |", ALBUM_PAGE_MORE);
    assert_doc_table(&doc, "### `comments`", "| field |", COMMENTS);
    assert_doc_table(&doc, "### `comments`", "Comment object", COMMENT);
    assert_doc_table(&doc, "### `transfers`", "| field |", TRANSFER);
    assert_doc_quotes(&doc, "### `status`", &["mapped", "public", "dht"]);
    assert_doc_quotes(&doc, "### `album`", &names_of(ITEM));
    assert_doc_quotes(&doc, "## 7.", &names_of(INIT));
    assert_doc_quotes(&doc, "### `invite_create`", &names_of(INVITE));
    assert_doc_quotes(&doc, "### `invite_accept`", &names_of(WITH_FRIEND));
    assert_doc_quotes(&doc, "### `friend_verify`", &names_of(WITH_FRIEND));
    assert_doc_quotes(&doc, "### `unfriend`", &names_of(UNFRIEND));
    assert_doc_quotes(&doc, "### `share`", &names_of(SHARE));
    assert_doc_quotes(&doc, "### `unshare`", &names_of(UNSHARE));
    assert_doc_quotes(&doc, "### `fetch`", &names_of(FETCH));
    assert_doc_quotes(&doc, "### `settings`", &names_of(SETTINGS));
    assert_doc_quotes(&doc, "### `comment`", &names_of(COMMENT_RESULT));

    // init --json, on a fresh home.
    let dir = tempfile::tempdir().unwrap();
    let o = kith(dir.path(), &["init", "--name", "Ann", "--json"]);
    assert!(o.status.success());
    let init: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_shape("init --json", &init, INIT);
    let mut a = Node {
        dir,
        child: None,
        name: "Ann".into(),
    };
    a.start();
    let b = Node::started("Bo");
    assert_eq!(init["peer_id"], a.id());

    let status = json_of(&a, &["status", "--json"]);
    assert_shape("status --json", &status, STATUS);
    assert_shape("status --json reach", &status["reach"], REACH);

    let invite = json_of(&a, &["invite", "--json"]);
    assert_shape("invite --json", &invite, INVITE);
    assert!(invite["qr"]
        .as_array()
        .unwrap()
        .iter()
        .all(Value::is_string));
    let link = invite["link"].as_str().unwrap();
    let accepted = json_of(&b, &["accept", link, "--json"]);
    assert_shape("accept --json", &accepted, WITH_FRIEND);
    assert_shape("accept --json friend", &accepted["friend"], FRIEND);
    let bi = b.id();
    assert!(wait_until(Duration::from_secs(15), || a.online_with(&bi)));

    let friends = json_of(&a, &["friends", "--json"]);
    assert_eq!(friends.as_array().unwrap().len(), 1, "{friends}");
    assert_shape("friends --json [0]", &friends[0], FRIEND);
    let verified = json_of(&a, &["verify", "Bo", "--json"]);
    assert_shape("verify --json", &verified, WITH_FRIEND);
    assert_shape("verify --json friend", &verified["friend"], FRIEND);

    let settings = json_of(&b, &["settings", "--json"]);
    assert_shape("settings --json", &settings, SETTINGS);
    let dl = b.home().join("dl");
    let settings = json_of(
        &b,
        &["settings", "--download-dir", dl.to_str().unwrap(), "--json"],
    );
    assert_shape("settings --download-dir --json", &settings, SETTINGS);

    // Two albums for Bo: one to fetch and comment on, one to leave waiting in `transfers`.
    let file = a.home().join("note.txt");
    std::fs::write(&file, common::random_bytes(70_000, 1)).unwrap();
    let f = file.to_str().unwrap();
    let shared = json_of(&a, &["share", f, "--to", "Bo", "--title", "One", "--json"]);
    assert_shape("share --json", &shared, SHARE);
    let one = shared["id"].as_str().unwrap().to_string();
    let file2 = a.home().join("other.bin");
    std::fs::write(&file2, common::random_bytes(50_000, 2)).unwrap();
    let two = json_of(
        &a,
        &["share", file2.to_str().unwrap(), "--to", "Bo", "--json"],
    )["id"]
        .as_str()
        .unwrap()
        .to_string();

    let albums = json_of(&a, &["albums", "--json"]);
    assert_eq!(albums.as_array().unwrap().len(), 2, "{albums}");
    for al in albums.as_array().unwrap() {
        assert_shape("albums --json []", al, ALBUM);
    }
    let page = json_of(&a, &["album", &one, "--json"]);
    assert_shape("album --json", &page, concat(ALBUM, ALBUM_PAGE_MORE));
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert_shape("album --json items[0]", &page["items"][0], ITEM);
    let updated = json_of(&a, &["audience", &one, "--title", "One!", "--json"]);
    assert_shape("audience --json", &updated, ALBUM);

    // Bo fetches the first album.
    let holds = |id: &str| {
        b.json(&["albums", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == id)
    };
    assert!(wait_until(Duration::from_secs(20), || holds(&one) && holds(&two)));
    let o = common::fetch_json(&b, &one, &b.home().join("out"), 20);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        common::stdout(&o).lines().count(),
        1,
        "fetch --json is one line"
    );
    let fetched: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_shape("fetch --json", &fetched, FETCH);

    // Comments: Bo's waits for Ann's thread (pending), Ann's goes in at once.
    let mine = json_of(&b, &["comment", &one, "lovely", "--json"]);
    assert_shape("comment --json", &mine, COMMENT_RESULT);
    assert_shape("comment --json comment", &mine["comment"], COMMENT);
    let hers = json_of(&a, &["comment", &one, "thanks", "--json"]);
    assert_shape("comment --json (owner)", &hers, COMMENT_RESULT);
    assert_shape("comment --json comment (owner)", &hers["comment"], COMMENT);
    assert!(wait_until(Duration::from_secs(15), || {
        json_of(&b, &["comments", &one, "--json"])["total"] == 2
    }));
    for n in [&a, &b] {
        let thread = json_of(n, &["comments", &one, "--json"]);
        assert_shape("comments --json", &thread, COMMENTS);
        for c in thread["comments"].as_array().unwrap() {
            assert_shape("comments --json comments[]", c, COMMENT);
        }
    }

    let unshared = json_of(&a, &["unshare", &one, "--json"]);
    assert_shape("unshare --json", &unshared, UNSHARE);

    // With Ann gone, Bo's fetch of the second album fails and stays recorded.
    a.stop();
    let o = common::fetch_json(&b, &two, &b.home().join("out"), 1);
    assert_json_failure(&["fetch", &two], &o, "peer_unreachable", 1);
    let transfers = json_of(&b, &["transfers", "--json"]);
    assert_eq!(transfers.as_array().unwrap().len(), 1, "{transfers}");
    assert_shape("transfers --json []", &transfers[0], TRANSFER);

    let gone = json_of(&b, &["unfriend", "Ann", "--json"]);
    assert_shape("unfriend --json", &gone, UNFRIEND);
}

fn names_of(shape: Shape) -> Vec<&'static str> {
    shape.iter().map(|(k, _)| *k).collect()
}

/// Two shapes as one (leaked: a test's few bytes).
fn concat(a: Shape, b: Shape) -> Shape {
    Box::leak([a, b].concat().into_boxed_slice())
}

// ---------------------------------------------------------------------------------------------
// 5. The `path` words of `friends --json`

/// The word `friends --json` gives for each way a friend can be connected; the exhaustive
/// match makes a new way a compile error here until it is listed.
fn every_path_word() -> Vec<&'static str> {
    use kith_node::core::reach::Path as P;
    let all = [
        P::Lan,
        P::Relayed,
        P::Mapped,
        P::Punched,
        P::Direct,
        P::Unreachable,
    ];
    for p in all {
        match p {
            P::Lan | P::Relayed | P::Mapped | P::Punched | P::Direct | P::Unreachable => {}
        }
    }
    all.iter().map(|p| p.as_str()).collect()
}

#[test]
fn every_path_word_the_node_can_give_is_in_api_md_and_a_loopback_pair_is_direct_then_unreachable() {
    let doc = api_md();
    let row = doc_section(&doc, "### `friends`")
        .into_iter()
        .find(|l| l.starts_with("| `path` |"))
        .expect("API.md §4 friends has a `path` row")
        .to_string();
    let documented: BTreeSet<&str> = row
        .split('`')
        .skip(3) // "| ", "path", " | how ... (PROTOCOL.md ..."
        .step_by(2)
        .filter(|w| w.chars().all(|c| c.is_ascii_lowercase()))
        .collect();
    let in_code: BTreeSet<&str> = every_path_word().into_iter().collect();
    assert_eq!(
        documented, in_code,
        "the `path` words of API.md §4 friends (left) and of the code (right)"
    );
    // Doctor explains each connected path (API.md §7).
    let doctor = doc_section(&doc, "## 7.").join("\n");
    for w in in_code.iter().filter(|w| **w != "unreachable") {
        assert!(
            doctor.contains(&format!("(`{w}`)")),
            "doctor says nothing for {w}"
        );
    }

    // On loopback, with no LAN, relay, mapping or introduction: direct; once gone: unreachable.
    let a = Node::started("Ann");
    let mut b = Node::started("Bo");
    a.befriend(&b);
    let (ai, bi) = (a.id(), b.id());
    let path = |n: &Node, id: &str| n.friend(id).map(|f| f["path"].clone());
    assert!(wait_until(Duration::from_secs(15), || a.online_with(&bi)
        && b.online_with(&ai)));
    assert_eq!(path(&a, &bi), Some(json!("direct")));
    assert_eq!(path(&b, &ai), Some(json!("direct")));
    b.stop();
    assert!(wait_until(Duration::from_secs(15), || !a.online_with(&bi)));
    assert_eq!(path(&a, &bi), Some(json!("unreachable")));
}

// ---------------------------------------------------------------------------------------------
// 6. What the add-on sees over native messaging

use common::host::Host;

/// Says that an event frame is `{"event": name, …fields}` with exactly these fields
/// (API.md §5), and that §5's row for it names each field.
fn assert_event(doc: &str, ev: &Value, name: &str, fields: Shape) {
    assert_eq!(ev["event"], name);
    let row = doc_section(doc, "## 5.")
        .into_iter()
        .find(|l| l.starts_with(&format!("| `{name}` |")))
        .unwrap_or_else(|| panic!("API.md §5 has no row for {name}"));
    for (f, _) in fields {
        assert!(
            row.contains(&format!("`{f}`")),
            "API.md §5 {name} lacks `{f}`"
        );
    }
    let shape = concat(&[("event", Ty::Str)], fields);
    assert_shape(&format!("the {name} event"), ev, shape);
}

#[test]
fn the_frames_the_addon_sees_keep_their_shape_replies_errors_hello_and_events() {
    let doc = api_md();
    assert_doc_quotes(&doc, "### `hello`", &names_of(HELLO_HOST));
    // Before any identity: hello, status and the not_initialized error.
    let empty = tempfile::tempdir().unwrap();
    let mut h = Host::start(empty.path(), "kith@kith");
    let r = h.request(json!({"cmd": "hello", "version": "0.1.0"}));
    assert_shape("hello reply", &r, REPLY_OK);
    assert_shape("hello (no identity)", &r["result"], HELLO_HOST);
    assert_eq!(r["result"]["protocol"], 1);
    assert_eq!(r["result"]["initialized"], false);
    assert_eq!(r["result"]["node_running"], false);
    let r = h.request(json!({"cmd": "status"}));
    assert_shape("status (no identity)", &r["result"], STATUS_NO_IDENTITY);
    let r = h.request(json!({"cmd": "friends"}));
    assert_shape("an error reply", &r, REPLY_ERR);
    assert_shape("an error reply's error", &r["error"], ERROR);
    assert_eq!(r["ok"], false);
    assert_eq!(r["error"]["code"], "not_initialized");
    drop(h);

    // With a node: Bo's browser, and Ann who shares with Bo.
    let mut a = Node::started("Ann");
    let b = Node::started("Bo");
    let mut h = Host::start(b.home(), "kith@kith");
    let up = h.event("node_up", Duration::from_secs(10));
    assert_event(&doc, &up, "node_up", &[("node", Ty::ObjOrNull)]);
    let r = h.request(json!({"cmd": "hello"}));
    assert_shape("hello (with a node)", &r["result"], HELLO_HOST);
    assert_doc_quotes(&doc, "### `hello`", &names_of(HELLO_NODE));
    assert_doc_quotes(&doc, "### `hello`", &names_of(BINARY));
    assert_shape("the node's hello", &r["result"]["node"], HELLO_NODE);
    assert_shape("the node's binary", &r["result"]["node"]["binary"], BINARY);
    assert_eq!(up["node"], r["result"]["node"]);
    assert_eq!(r["result"]["node_binary"], "current");
    assert_eq!(r["result"]["initialized"], true);
    assert_eq!(r["result"]["node_running"], true);
    let r = h.request(json!({"cmd": "status"}));
    assert_shape("status reply", &r, REPLY_OK);
    assert_shape("status through the host", &r["result"], STATUS);

    let r = h.request(json!({"cmd": "invite_accept", "link": a.invite()}));
    assert_shape("invite_accept through the host", &r["result"], WITH_FRIEND);
    let added = h.event("friend_added", Duration::from_secs(10));
    assert_event(&doc, &added, "friend_added", &[("friend", Ty::Obj)]);
    assert_shape("friend_added's friend", &added["friend"], FRIEND);
    let r = h.request(json!({"cmd": "friends"}));
    assert_shape("friends reply", &r, REPLY_LIST);
    assert_shape("friends through the host [0]", &r["result"][0], FRIEND);

    let file = a.home().join("pic.bin");
    std::fs::write(&file, common::random_bytes(300_000, 3)).unwrap();
    let album = json_of(&a, &["share", file.to_str().unwrap(), "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let received = h.event("album_received", Duration::from_secs(15));
    assert_event(&doc, &received, "album_received", &[("album", Ty::Obj)]);
    assert_shape("album_received's album", &received["album"], ALBUM);
    let r = h.request(json!({"cmd": "albums"}));
    assert_shape("albums through the host [0]", &r["result"][0], ALBUM);

    let out = b.home().join("dl");
    let r = h.request(json!({"cmd": "fetch", "target": album, "out": out, "timeout_secs": 20}));
    assert_shape("fetch through the host", &r["result"], FETCH);
    let progress = h.event("fetch_progress", Duration::from_secs(5));
    assert_event(
        &doc,
        &progress,
        "fetch_progress",
        &[("id", Ty::Str), ("bytes", Ty::Int), ("total", Ty::Int)],
    );
    let done = h.event("fetch_done", Duration::from_secs(5));
    assert_event(
        &doc,
        &done,
        "fetch_done",
        &[
            ("id", Ty::Str),
            ("paths", Ty::Arr),
            ("files", Ty::Int),
            ("bytes", Ty::Int),
        ],
    );
    let r = h.request(json!({"cmd": "fetch", "target": "ab".repeat(20), "out": out}));
    assert_shape("a node's error through the host", &r, REPLY_ERR);
    assert_shape("its error", &r["error"], ERROR);

    let r = h.request(json!({"cmd": "comment", "target": album, "text": "wow"}));
    assert_shape("comment through the host", &r["result"], COMMENT_RESULT);
    let c = h.event("comment", Duration::from_secs(10));
    assert_event(
        &doc,
        &c,
        "comment",
        &[
            ("album", Ty::Str),
            ("title", Ty::Str),
            ("comment", Ty::Obj),
            ("new", Ty::Bool),
        ],
    );
    assert_shape("the comment event's comment", &c["comment"], COMMENT);

    assert!(a.cli(&["unshare", &album]).status.success());
    let removed = h.event("album_removed", Duration::from_secs(10));
    assert_event(&doc, &removed, "album_removed", &[("id", Ty::Str)]);
    a.stop();
    let offline = h.event("friend_offline", Duration::from_secs(15));
    assert_event(&doc, &offline, "friend_offline", &[("id", Ty::Str)]);
    let r = h.request(json!({"cmd": "unfriend", "peer": "Ann"}));
    assert_shape("unfriend through the host", &r["result"], UNFRIEND);
    let gone = h.event("friend_removed", Duration::from_secs(10));
    assert_event(&doc, &gone, "friend_removed", &[("id", Ty::Str)]);
    assert!(b.cli(&["stop"]).status.success());
    let down = h.event("node_down", Duration::from_secs(10));
    assert_event(&doc, &down, "node_down", &[]);
}

#[test]
fn a_friend_connecting_reaches_the_addon_as_friend_online_when_befriended_and_after_a_restart() {
    let doc = api_md();
    let mut a = Node::started("Ann");
    let b = Node::started("Bo");
    let mut h = Host::start(b.home(), "kith@kith");
    h.event("node_up", Duration::from_secs(10));
    let ai = a.id();
    // API.md §4 invite_accept: friend_added, then friend_online, on both sides.
    let r = h.request(json!({"cmd": "invite_accept", "link": a.invite()}));
    assert_eq!(r["ok"], true, "{r}");
    let online = h.event("friend_online", Duration::from_secs(10));
    assert_event(&doc, &online, "friend_online", &[("id", Ty::Str)]);
    assert_eq!(online["id"], ai.as_str());
    // API.md §5: the friend's connection was set up and they were not online before.
    a.stop();
    assert_eq!(
        h.event("friend_offline", Duration::from_secs(15))["id"],
        ai.as_str()
    );
    a.start();
    let again = h.event("friend_online", Duration::from_secs(30));
    assert_eq!(again["id"], ai.as_str());
}

// ---------------------------------------------------------------------------------------------
// 7. `kith serve` in the foreground

#[test]
fn serve_in_the_foreground_logs_to_stderr_and_writes_nothing_to_stdout_until_it_stops() {
    let mut n = Node::new("Ann");
    let mut child = kith_command()
        .arg("--home")
        .arg(n.home())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--rate",
            "2M",
            "--upload-rate",
            "1.5M",
            "--download-rate",
            "500K",
        ])
        .env("KITH_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = |mut r: Box<dyn Read + Send>| {
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(k) = r.read(&mut buf) {
                if k == 0 || tx.send(buf[..k].to_vec()).is_err() {
                    return;
                }
            }
        });
        rx
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let pid = child.id();
    n.child = Some(child); // killed when the test ends, even when it fails
    let drain = |rx: &mpsc::Receiver<Vec<u8>>, acc: &mut Vec<u8>| {
        while let Ok(b) = rx.try_recv() {
            acc.extend(b);
        }
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    assert!(
        wait_until(Duration::from_secs(10), || n
            .cli(&["status"])
            .status
            .success()),
        "the node did not start"
    );
    // Some work, so that it has things to log.
    let b = Node::started("Bo");
    n.befriend(&b);
    let bi = b.id();
    assert!(wait_until(Duration::from_secs(15), || n.online_with(&bi)));
    drain(&err, &mut stderr);
    drain(&out, &mut stdout);
    let text = String::from_utf8_lossy(&stderr).into_owned();
    assert!(text.contains("listening on"), "{text}");
    assert!(
        text.contains("node running"),
        "no log line on stderr: {text}"
    );
    assert!(text.contains("new friend"), "{text}");
    assert!(stdout.is_empty(), "stdout while serving: {stdout:?}");
    // SAFETY: kill with a valid pid and signal has no memory effects.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let mut child = n.child.take().unwrap();
    let status = common::wait_child(&mut child, Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    // The pipes close when it exits; whatever was left is in the channels.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
        drain(&err, &mut stderr);
        drain(&out, &mut stdout);
    }
    assert!(
        stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&stdout)
    );
    assert!(String::from_utf8_lossy(&stderr).contains("kith node stopped"));
}
