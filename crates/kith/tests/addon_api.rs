//! Multi-process tests of the JSON API the Firefox add-on uses: uploads in pieces, link albums,
//! album pages, transfer pause/resume/cancel, `open` and the download folder setting. Commands
//! without a CLI subcommand go straight to the node's control socket.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::{api, ok, random_bytes, wait_until, Control, Node};
use serde_json::{json, Value};

const SOON: Duration = Duration::from_secs(15);
const MIB: usize = 1024 * 1024;

/// The error code of a failed reply.
fn err_code(reply: &Value) -> String {
    assert_eq!(reply["ok"], false, "expected an error: {reply}");
    reply["error"]["code"].as_str().unwrap_or("").to_string()
}

fn albums(n: &Node) -> Vec<Value> {
    n.json(&["albums", "--json"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Two started nodes, friends and connected; `b_env` is B's environment.
fn pair_with(b_env: &[(&str, &str)]) -> (Node, Node) {
    let a = Node::started("Ann");
    let mut b = Node::new("Bo");
    b.start_with("127.0.0.1:0", &[], b_env);
    a.befriend(&b);
    let bi = b.id();
    assert!(wait_until(SOON, || a.online_with(&bi)), "B never connected");
    (a, b)
}

fn pair() -> (Node, Node) {
    pair_with(&[])
}

/// A shares these paths with B only; returns the album ID once B lists it.
fn share_with(a: &Node, b: &Node, paths: &[&Path]) -> String {
    let paths: Vec<&str> = paths.iter().map(|p| p.to_str().unwrap()).collect();
    let r = ok(api(
        a,
        // The files here are made-up bytes named like photos, which Kith cannot prove free of a
        // location (`location_kept`); these tests are about the API, not the location.
        json!({"cmd": "share", "paths": paths, "to": [b.id()], "keep_location": true}),
    ));
    let id = r["id"].as_str().unwrap().to_string();
    assert!(
        wait_until(SOON, || albums(b).iter().any(|x| x["id"] == id.as_str())),
        "album never reached B"
    );
    id
}

/// B fetches a target into `out` and waits for the result.
fn fetch(b: &Node, target: &str, out: &Path) -> Value {
    api(
        b,
        json!({"cmd": "fetch", "target": target, "out": out, "timeout_secs": 20}),
    )
}

/// Uploads `data` in pieces of `piece` bytes; returns the kept file's path.
fn upload(ctl: &mut Control, name: &str, data: &[u8], piece: usize) -> PathBuf {
    let r = ok(ctl.call(json!({"cmd": "upload_begin", "name": name, "size": data.len()})));
    let up = r["upload"].as_str().unwrap().to_string();
    let mut sent = 0;
    for p in data.chunks(piece) {
        let r = ok(ctl.call(json!({"cmd": "upload_chunk", "upload": up, "data": B64.encode(p)})));
        sent += p.len();
        assert_eq!(r["bytes"], sent as u64);
    }
    let r = ok(ctl.call(json!({"cmd": "upload_end", "upload": up})));
    assert_eq!(r["bytes"], data.len() as u64);
    PathBuf::from(r["path"].as_str().unwrap())
}

/// Files in a folder whose names match `f`.
fn files_named(dir: &Path, f: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| f(&e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Upload part files left in a home's `uploads/` folder.
fn upload_parts(n: &Node) -> Vec<PathBuf> {
    files_named(&n.home().join("uploads"), |s| {
        s.starts_with(".upload-") && s.ends_with(".part")
    })
}

/// Fetch part files in a download folder.
fn fetch_parts(dir: &Path) -> Vec<PathBuf> {
    files_named(dir, |s| s.ends_with(".part"))
}

/// Size of the one fetch part file in `dir` (0 when there is none).
fn part_len(dir: &Path) -> u64 {
    fetch_parts(dir)
        .first()
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .unwrap_or(0)
}

fn transfers(n: &Node) -> Vec<Value> {
    ok(api(n, json!({"cmd": "transfers"})))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

// --- uploads -------------------------------------------------------------------------------

#[test]
fn an_upload_sent_in_pieces_is_kept_byte_identical_and_a_friend_fetches_it_once_shared() {
    let (a, b) = pair();
    let data = random_bytes(3 * MIB + 777, 1);
    let mut ctl = Control::connect(&a);
    let path = upload(&mut ctl, "photo.jpg", &data, MIB);
    assert_eq!(path, a.home().join("uploads").join("photo.jpg"));
    assert_eq!(std::fs::read(&path).unwrap(), data);
    assert!(upload_parts(&a).is_empty(), "a part file was left behind");
    // The kept file is shared like any other and reaches a friend intact.
    let id = share_with(&a, &b, &[&path]);
    let out = tempfile::tempdir().unwrap();
    let r = ok(fetch(&b, &id, out.path()));
    assert_eq!(r["bytes"], data.len() as u64);
    assert_eq!(std::fs::read(out.path().join("photo.jpg")).unwrap(), data);
}

#[test]
fn a_cancelled_shares_uploads_are_discarded_and_nothing_else_can_be() {
    let (a, b) = pair();
    let mut ctl = Control::connect(&a);
    let data = random_bytes(1000, 9);
    let kept = upload(&mut ctl, "shared.bin", &data, 400);
    let cancelled = upload(&mut ctl, "cancelled.bin", &data, 400);
    share_with(&a, &b, &[&kept]);
    std::fs::write(a.home().join("outside.txt"), b"x").unwrap();
    std::os::unix::fs::symlink(
        a.home().join("outside.txt"),
        a.home().join("uploads").join("link.bin"),
    )
    .unwrap();
    let discard = |ctl: &mut Control, p: &Path| {
        ctl.call(json!({"cmd": "upload_discard", "paths": [p.to_str().unwrap()]}))
    };
    // A shared upload, a file outside uploads/, a link in it, and one that is not there.
    for p in [
        kept.clone(),
        a.home().join("outside.txt"),
        a.home().join("uploads").join("link.bin"),
        a.home().join("uploads").join("gone.bin"),
        a.home().join("uploads").join("..").join("outside.txt"),
    ] {
        assert_eq!(
            err_code(&discard(&mut ctl, &p)),
            "bad_request",
            "{}",
            p.display()
        );
    }
    // All or nothing: one bad path in the list deletes none.
    let r = ctl.call(json!({"cmd": "upload_discard",
        "paths": [cancelled.to_str().unwrap(), kept.to_str().unwrap()]}));
    assert_eq!(err_code(&r), "bad_request");
    for p in [&kept, &cancelled, &a.home().join("outside.txt")] {
        assert!(p.exists(), "{} was deleted", p.display());
    }
    let r = ok(discard(&mut ctl, &cancelled));
    assert_eq!(r["removed"], 1);
    assert!(!cancelled.exists());
    assert_eq!(std::fs::read(&kept).unwrap(), data);
}

#[test]
fn an_upload_larger_than_announced_is_refused_and_leaves_no_part_file() {
    let a = Node::started("Ann");
    let mut ctl = Control::connect(&a);
    let up = ok(ctl.call(json!({"cmd": "upload_begin", "name": "small.bin", "size": 10})))
        ["upload"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(upload_parts(&a).len(), 1);
    let r =
        ok(ctl.call(json!({"cmd": "upload_chunk", "upload": up, "data": B64.encode([1u8; 6])})));
    assert_eq!(r["bytes"], 6);
    let r = ctl.call(json!({"cmd": "upload_chunk", "upload": up, "data": B64.encode([2u8; 5])}));
    assert_eq!(err_code(&r), "bad_request");
    assert!(upload_parts(&a).is_empty(), "the part file was kept");
    assert!(!a.home().join("uploads/small.bin").exists());
    // The upload is gone: more bytes or an end find nothing.
    let r = ctl.call(json!({"cmd": "upload_chunk", "upload": up, "data": B64.encode([3u8; 1])}));
    assert_eq!(err_code(&r), "not_found");
    let r = ctl.call(json!({"cmd": "upload_end", "upload": up}));
    assert_eq!(err_code(&r), "not_found");
}

#[test]
fn an_upload_ended_before_all_its_bytes_arrived_is_refused_and_nothing_is_kept() {
    let a = Node::started("Ann");
    let mut ctl = Control::connect(&a);
    let up = ok(ctl.call(json!({"cmd": "upload_begin", "name": "short.bin", "size": 100})))
        ["upload"]
        .as_str()
        .unwrap()
        .to_string();
    ok(ctl.call(json!({"cmd": "upload_chunk", "upload": up, "data": B64.encode([7u8; 50])})));
    let r = ctl.call(json!({"cmd": "upload_end", "upload": up}));
    assert_eq!(err_code(&r), "bad_request");
    assert!(upload_parts(&a).is_empty(), "the part file was kept");
    assert!(files_named(&a.home().join("uploads"), |_| true).is_empty());
    // Aborting works too, and an aborted upload takes no more bytes.
    let up = ok(ctl.call(json!({"cmd": "upload_begin", "name": "gone.bin"})))["upload"]
        .as_str()
        .unwrap()
        .to_string();
    ok(ctl.call(json!({"cmd": "upload_chunk", "upload": up, "data": B64.encode([8u8; 9])})));
    ok(ctl.call(json!({"cmd": "upload_abort", "upload": up})));
    assert!(upload_parts(&a).is_empty());
    let r = ctl.call(json!({"cmd": "upload_chunk", "upload": up, "data": B64.encode([9u8; 1])}));
    assert_eq!(err_code(&r), "not_found");
}

#[test]
fn two_uploads_of_the_same_name_never_overwrite_each_other() {
    let a = Node::started("Ann");
    let mut ctl = Control::connect(&a);
    let uploads = a.home().join("uploads");
    // Both under way at once, ended in turn.
    let begin = |ctl: &mut Control| {
        ok(ctl.call(json!({"cmd": "upload_begin", "name": "same.txt", "size": 5})))["upload"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (u1, u2) = (begin(&mut ctl), begin(&mut ctl));
    ok(ctl.call(json!({"cmd": "upload_chunk", "upload": u1, "data": B64.encode(b"first")})));
    ok(ctl.call(json!({"cmd": "upload_chunk", "upload": u2, "data": B64.encode(b"secon")})));
    let p1 = ok(ctl.call(json!({"cmd": "upload_end", "upload": u1})))["path"]
        .as_str()
        .unwrap()
        .to_string();
    let p2 = ok(ctl.call(json!({"cmd": "upload_end", "upload": u2})))["path"]
        .as_str()
        .unwrap()
        .to_string();
    let p3 = upload(&mut ctl, "same.txt", b"third", 2);
    assert_eq!(Path::new(&p1), uploads.join("same.txt"));
    assert_eq!(Path::new(&p2), uploads.join("same (1).txt"));
    assert_eq!(p3, uploads.join("same (2).txt"));
    assert_eq!(std::fs::read(&p1).unwrap(), b"first");
    assert_eq!(std::fs::read(&p2).unwrap(), b"secon");
    assert_eq!(std::fs::read(&p3).unwrap(), b"third");
    // A name with folders in it stays inside the uploads folder.
    let p = upload(&mut ctl, "../../escape.txt", b"x", 1);
    assert_eq!(p.parent().unwrap(), uploads);
}

#[test]
fn the_node_answers_status_while_an_upload_piece_is_being_written() {
    // Each piece's write takes SLOW (a test fault: a slow disk). A node that wrote on its
    // actor's thread could not answer `status` until the write was over.
    const SLOW: Duration = Duration::from_millis(1500);
    let mut a = Node::new("Ann");
    let slow = SLOW.as_millis().to_string();
    a.start_with("127.0.0.1:0", &[], &[("KITH_FAULT_SLOW_UPLOAD_MS", &slow)]);
    let mut up = Control::connect(&a);
    let mut ctl = Control::connect(&a);
    let data = random_bytes(16 * MIB, 7);
    let id = ok(up.call(json!({"cmd": "upload_begin", "name": "big.bin", "size": data.len()})))
        ["upload"]
        .as_str()
        .unwrap()
        .to_string();
    let mut sent = 0;
    for p in data.chunks(4 * MIB) {
        let piece = up.send(json!({"cmd": "upload_chunk", "upload": id, "data": B64.encode(p)}));
        // Time for the piece to reach the node and its write to begin.
        std::thread::sleep(Duration::from_millis(200));
        let asked = Instant::now();
        ok(ctl.call(json!({"cmd": "status"})));
        let took = asked.elapsed();
        assert!(
            took < SLOW / 2,
            "status took {took:?} while an upload piece was written"
        );
        sent += p.len();
        assert_eq!(ok(up.reply(piece, SOON))["bytes"], sent as u64);
    }
    let r = ok(up.call(json!({"cmd": "upload_end", "upload": id})));
    let kept = PathBuf::from(r["path"].as_str().unwrap());
    assert!(
        std::fs::read(&kept).unwrap() == data,
        "the kept file differs"
    );
    assert!(upload_parts(&a).is_empty());
}

#[test]
fn an_upload_named_like_a_part_file_survives_a_node_restart() {
    let mut a = Node::started("Ann");
    let mut ctl = Control::connect(&a);
    let p = upload(
        &mut ctl,
        ".upload-0123456789abcdef01234567.part",
        b"kept",
        4,
    );
    assert_eq!(std::fs::read(&p).unwrap(), b"kept");
    drop(ctl);
    a.stop();
    a.start();
    assert_eq!(
        std::fs::read(&p).ok().as_deref(),
        Some(&b"kept"[..]),
        "a kept upload was deleted at start-up as if it were a stale part file"
    );
}

// --- link albums ---------------------------------------------------------------------------

#[test]
fn a_link_album_without_files_reaches_a_friend_who_sees_its_link() {
    let (a, b) = pair();
    let link = "https://example.org/recipes?id=7#top";
    let r = ok(api(
        &a,
        json!({"cmd": "share", "paths": [], "link": link, "to": [b.id()]}),
    ));
    assert_eq!(r["items"], 0);
    let id = r["id"].as_str().unwrap().to_string();
    assert!(wait_until(SOON, || albums(&b)
        .iter()
        .any(|x| x["id"] == id.as_str())));
    let got = albums(&b)
        .into_iter()
        .find(|x| x["id"] == id.as_str())
        .unwrap();
    assert_eq!(got["link"], link);
    assert_eq!(got["item_count"], 0);
    assert_eq!(
        got["title"], link,
        "a link album without a title is named by its link"
    );
    assert_eq!(got["owner_name"], "Ann");
    let page = ok(api(&b, json!({"cmd": "album", "album": id})));
    assert_eq!(page["link"], link);
    assert_eq!(page["items"], json!([]));
}

#[test]
fn javascript_data_and_other_non_web_links_are_refused_as_bad_request() {
    let a = Node::started("Ann");
    for link in [
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "http://",
        "https://a b.example",
    ] {
        let r = api(&a, json!({"cmd": "share", "paths": [], "link": link}));
        assert_eq!(err_code(&r), "bad_request", "{link}");
    }
    // Nothing at all to share is refused too.
    let r = api(&a, json!({"cmd": "share", "paths": []}));
    assert_eq!(err_code(&r), "bad_request");
    assert!(albums(&a).is_empty());
}

// --- album pages ---------------------------------------------------------------------------

fn names_of(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn album_pages_return_the_right_slice_of_a_30_file_album_and_albums_lists_no_items() {
    let (a, b) = pair();
    let src = tempfile::tempdir().unwrap();
    let trip = src.path().join("trip");
    std::fs::create_dir(&trip).unwrap();
    for i in 0..30 {
        std::fs::write(trip.join(format!("f{i:02}.txt")), format!("file {i}")).unwrap();
    }
    let id = share_with(&a, &b, &[&trip]);
    let want = |r: std::ops::Range<usize>| -> Vec<String> {
        r.map(|i| format!("trip/f{i:02}.txt")).collect()
    };
    // Through the CLI.
    let page = b.json(&["album", &id, "--offset", "10", "--limit", "5", "--json"]);
    assert_eq!(names_of(&page), want(10..15));
    assert_eq!(page["offset"], 10);
    assert_eq!(page["item_count"], 30);
    assert_eq!(page["id"], id.as_str());
    // Through the socket.
    let page_at = |n: &Node, offset: usize, limit: Option<usize>| {
        let mut cmd = json!({"cmd": "album", "album": id, "offset": offset});
        if let Some(l) = limit {
            cmd["limit"] = json!(l);
        }
        ok(api(n, cmd))
    };
    assert_eq!(names_of(&page_at(&b, 0, None)), want(0..30));
    assert_eq!(names_of(&page_at(&b, 28, Some(5))), want(28..30));
    assert_eq!(names_of(&page_at(&b, 30, Some(5))), want(0..0));
    assert_eq!(names_of(&page_at(&b, 1000, None)), want(0..0));
    assert_eq!(names_of(&page_at(&b, 3, Some(0))), want(0..0));
    assert_eq!(names_of(&page_at(&a, 25, Some(100))), want(25..30));
    // The owner has every file; the friend has none until it fetches one.
    assert!(page_at(&a, 0, None)["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["path"].is_string()));
    let page = page_at(&b, 0, None);
    assert!(page["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["path"].is_null()));
    let third = page["items"][3]["id"].as_str().unwrap().to_string();
    let out = tempfile::tempdir().unwrap();
    ok(fetch(&b, &third, out.path()));
    let page = page_at(&b, 0, None);
    let here: Vec<usize> = (0..30)
        .filter(|&i| page["items"][i]["path"].is_string())
        .collect();
    assert_eq!(here, vec![3]);
    // `albums` carries counts, never items.
    for n in [&a, &b] {
        let list = albums(n);
        assert_eq!(list.len(), 1);
        assert!(
            list[0].get("items").is_none(),
            "albums lists items: {}",
            list[0]
        );
        assert_eq!(list[0]["item_count"], 30);
    }
}

#[test]
fn an_unknown_or_unshared_album_is_not_found() {
    let a = Node::started("Ann");
    let r = api(&a, json!({"cmd": "album", "album": "00".repeat(16)}));
    assert_eq!(err_code(&r), "not_found");
    let o = a.cli(&["album", &"11".repeat(16), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["code"], "not_found");
    // An album of mine, once unshared, is gone from `album` too.
    let src = tempfile::tempdir().unwrap();
    let f = src.path().join("x.txt");
    std::fs::write(&f, b"x").unwrap();
    let id = ok(api(&a, json!({"cmd": "share", "paths": [f]})))["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(api(&a, json!({"cmd": "album", "album": id})));
    ok(api(&a, json!({"cmd": "unshare", "album": id})));
    let r = api(&a, json!({"cmd": "album", "album": id}));
    assert_eq!(err_code(&r), "not_found");
}

// --- transfers -----------------------------------------------------------------------------

/// A shares one 6 MiB file with B, whose downloads are limited to 1 MB/s; B starts fetching it
/// on its own connection and this returns once the first verified chunk is on disk.
struct SlowFetch {
    a: Node,
    b: Node,
    album: String,
    data: Vec<u8>,
    out: tempfile::TempDir,
    fetcher: Control,
    request: u64,
    _src: tempfile::TempDir,
}

fn slow_fetch() -> SlowFetch {
    let (a, b) = pair();
    let src = tempfile::tempdir().unwrap();
    let data = random_bytes(6 * MIB + 5, 6);
    std::fs::write(src.path().join("big.bin"), &data).unwrap();
    let album = share_with(&a, &b, &[&src.path().join("big.bin")]);
    let s = ok(api(
        &b,
        json!({"cmd": "settings", "download_rate": 1_000_000}),
    ));
    assert_eq!(s["download_rate"], 1_000_000);
    let out = tempfile::tempdir().unwrap();
    let mut fetcher = Control::connect(&b);
    let request = fetcher
        .send(json!({"cmd": "fetch", "target": album, "out": out.path(), "timeout_secs": 60}));
    assert!(
        wait_until(SOON, || part_len(out.path()) >= MIB as u64),
        "the fetch never got a first chunk"
    );
    assert!(
        !out.path().join("big.bin").exists(),
        "the fetch was not slow enough to stop midway"
    );
    SlowFetch {
        a,
        b,
        album,
        data,
        out,
        fetcher,
        request,
        _src: src,
    }
}

/// The bytes B says it received in its last completed fetch (from its log).
fn last_received(n: &Node) -> Option<u64> {
    let log = n.log();
    let line = log.lines().rev().find(|l| l.contains("fetch complete"))?;
    let at = line.find("received=")? + "received=".len();
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn a_paused_transfer_keeps_its_part_stays_paused_across_a_restart_and_resumes_to_the_right_bytes() {
    let SlowFetch {
        a,
        mut b,
        album,
        data,
        out,
        mut fetcher,
        request,
        _src,
    } = slow_fetch();
    let r = ok(api(&b, json!({"cmd": "transfer_pause", "target": album})));
    assert_eq!(r["paused"], true);
    assert_eq!(r["target"], album.as_str());
    // The waiting fetch is told, by its reply and by an event.
    let r = fetcher.reply(request, SOON);
    assert_eq!(err_code(&r), "cancelled");
    let ev = fetcher.event(SOON, |e| {
        e["event"] == "fetch_failed" && e["id"] == album.as_str()
    });
    assert_eq!(
        ev.expect("no fetch_failed event")["error"]["code"],
        "cancelled"
    );
    // The verified part stays and does not grow.
    assert_eq!(fetch_parts(out.path()).len(), 1);
    std::thread::sleep(Duration::from_millis(300));
    let kept = part_len(out.path());
    assert!(kept >= MIB as u64);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(part_len(out.path()), kept, "a paused transfer kept going");
    assert!(!out.path().join("big.bin").exists());
    let t = transfers(&b);
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0]["target"], album.as_str());
    assert_eq!(t[0]["paused"], true);
    assert_eq!(t[0]["running"], false);
    // Without a rate limit, a transfer resumed by mistake would finish at once.
    ok(api(&b, json!({"cmd": "settings", "download_rate": 0})));
    drop(fetcher);
    let b_addr = b.listen_addr();
    b.stop();
    b.start_at(&b_addr);
    let ai = a.id();
    assert!(wait_until(SOON, || b.online_with(&ai)));
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !out.path().join("big.bin").exists(),
        "the paused transfer resumed by itself at start-up"
    );
    assert_eq!(part_len(out.path()), kept);
    let t = transfers(&b);
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0]["paused"], true);
    assert_eq!(t[0]["running"], false);
    // Resume: it completes from the part, with the right bytes, and says so by an event.
    let mut ctl = Control::connect(&b);
    let r = ok(ctl.call(json!({"cmd": "transfer_resume", "target": album})));
    assert_eq!(r["paused"], false);
    let done = ctl
        .event(Duration::from_secs(30), |e| {
            e["event"] == "fetch_done" && e["id"] == album.as_str()
        })
        .expect("no fetch_done event");
    let placed = out.path().canonicalize().unwrap().join("big.bin");
    assert_eq!(done["paths"], json!([placed]));
    assert_eq!(done["bytes"], data.len() as u64);
    assert_eq!(std::fs::read(out.path().join("big.bin")).unwrap(), data);
    assert!(fetch_parts(out.path()).is_empty());
    assert!(transfers(&b).is_empty());
    let received = last_received(&b).expect("no fetch complete line in the log");
    // The part file's length is not what was verified (chunks land out of order), but at
    // least the first chunk was kept and not fetched again.
    assert!(
        received <= (data.len() - MIB) as u64,
        "the resumed fetch received {received} of {} bytes: the part was not reused",
        data.len()
    );
}

#[test]
fn a_cancelled_transfer_is_forgotten_and_its_part_files_are_deleted() {
    let SlowFetch {
        a: _a,
        b,
        album,
        data: _,
        out,
        mut fetcher,
        request,
        _src,
    } = slow_fetch();
    let r = ok(api(&b, json!({"cmd": "transfer_cancel", "target": album})));
    assert_eq!(r["cancelled"], true);
    let r = fetcher.reply(request, SOON);
    assert_eq!(err_code(&r), "cancelled");
    assert!(transfers(&b).is_empty());
    assert!(fetch_parts(out.path()).is_empty(), "a part file was kept");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        files_named(out.path(), |_| true).is_empty(),
        "files appeared after the cancel: {:?}",
        files_named(out.path(), |_| true)
    );
    // Nothing is left to pause, resume or cancel.
    for cmd in ["transfer_cancel", "transfer_pause", "transfer_resume"] {
        let r = api(&b, json!({"cmd": cmd, "target": album}));
        assert_eq!(err_code(&r), "not_found", "{cmd}");
    }
}

// --- open ----------------------------------------------------------------------------------

#[test]
fn open_runs_the_opener_with_the_fetched_files_path_and_an_unknown_item_is_not_found() {
    let tools = tempfile::tempdir().unwrap();
    let opened = tools.path().join("opened.txt");
    let script = tools.path().join("opener.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n",
            opened.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (a, b) = pair_with(&[("KITH_OPENER", script.to_str().unwrap())]);
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("holiday photo.jpg"), b"jpeg").unwrap();
    let album = share_with(&a, &b, &[&src.path().join("holiday photo.jpg")]);
    let item = ok(api(&b, json!({"cmd": "album", "album": album})))["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Not fetched yet: nothing to open.
    let r = api(&b, json!({"cmd": "open", "item": item}));
    assert_eq!(err_code(&r), "not_found");
    let out = tempfile::tempdir().unwrap();
    ok(fetch(&b, &album, out.path()));
    let placed = out.path().canonicalize().unwrap().join("holiday photo.jpg");
    let r = ok(api(&b, json!({"cmd": "open", "item": item})));
    assert_eq!(r["path"], json!(placed));
    assert!(wait_until(SOON, || opened.exists()), "the opener never ran");
    assert!(wait_until(SOON, || std::fs::read_to_string(&opened)
        .unwrap()
        .ends_with('\n')));
    assert_eq!(
        std::fs::read_to_string(&opened).unwrap(),
        format!("{}\n", placed.display()),
        "the opener got the wrong argument"
    );
    let r = api(&b, json!({"cmd": "open", "item": "00".repeat(32)}));
    assert_eq!(err_code(&r), "not_found");
    // A file deleted since is not opened.
    std::fs::remove_file(&placed).unwrap();
    let r = api(&b, json!({"cmd": "open", "item": item}));
    assert_eq!(err_code(&r), "changed");
    assert_eq!(std::fs::read_to_string(&opened).unwrap().lines().count(), 1);
}

#[test]
fn open_of_a_file_that_could_be_a_program_opens_its_folder_instead() {
    let tools = tempfile::tempdir().unwrap();
    let opened = tools.path().join("opened.txt");
    let script = tools.path().join("opener.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n",
            opened.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (a, b) = pair_with(&[("KITH_OPENER", script.to_str().unwrap())]);
    let src = tempfile::tempdir().unwrap();
    for name in ["run-me.desktop", "install.sh"] {
        std::fs::write(src.path().join(name), b"#!/bin/sh\necho hi\n").unwrap();
    }
    let album = share_with(
        &a,
        &b,
        &[
            &src.path().join("run-me.desktop"),
            &src.path().join("install.sh"),
        ],
    );
    let out = tempfile::tempdir().unwrap();
    ok(fetch(&b, &album, out.path()));
    let items = ok(api(&b, json!({"cmd": "album", "album": album})))["items"].clone();
    for i in items.as_array().unwrap() {
        let r = ok(api(&b, json!({"cmd": "open", "item": i["id"]})));
        assert_eq!(r["opened"], json!(out.path().canonicalize().unwrap()));
    }
    assert!(wait_until(SOON, || std::fs::read_to_string(&opened)
        .is_ok_and(|t| t.lines().count() == 2)));
    let folder = format!("{}", out.path().canonicalize().unwrap().display());
    for line in std::fs::read_to_string(&opened).unwrap().lines() {
        assert_eq!(line, folder, "a program was handed to the opener");
    }
}

// --- download folder -----------------------------------------------------------------------

#[test]
fn a_relative_download_folder_is_refused_and_an_empty_one_means_the_default() {
    let a = Node::started("Ann");
    let before = ok(api(&a, json!({"cmd": "status"})))["download_dir"].clone();
    assert!(before.is_string());
    for dir in ["Downloads/kith", "./here", "~/Downloads"] {
        let r = api(&a, json!({"cmd": "settings", "download_dir": dir}));
        assert_eq!(err_code(&r), "bad_request", "{dir:?}");
    }
    assert_eq!(
        ok(api(&a, json!({"cmd": "status"})))["download_dir"],
        before
    );
    assert_eq!(
        ok(api(&a, json!({"cmd": "settings"})))["download_dir"],
        before
    );
    // An empty folder means the default again.
    let elsewhere = tempfile::tempdir().unwrap();
    ok(api(
        &a,
        json!({"cmd": "settings", "download_dir": elsewhere.path()}),
    ));
    let r = ok(api(&a, json!({"cmd": "settings", "download_dir": ""})));
    assert_eq!(r["download_dir"], before);
}

#[test]
fn an_absolute_download_folder_receives_fetches_without_out_and_status_reports_it() {
    let (a, mut b) = pair();
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("My Kith").join("inbox");
    let r = ok(api(&b, json!({"cmd": "settings", "download_dir": dir})));
    assert_eq!(r["download_dir"], json!(dir));
    assert!(dir.is_dir(), "the folder was not created");
    assert_eq!(
        ok(api(&b, json!({"cmd": "status"})))["download_dir"],
        json!(dir)
    );
    let src = tempfile::tempdir().unwrap();
    let data = random_bytes(300_000, 9);
    std::fs::write(src.path().join("x.bin"), &data).unwrap();
    let album = share_with(&a, &b, &[&src.path().join("x.bin")]);
    let r = ok(api(
        &b,
        json!({"cmd": "fetch", "target": album, "timeout_secs": 20}),
    ));
    let placed = dir.canonicalize().unwrap().join("x.bin");
    assert_eq!(r["paths"], json!([placed]));
    assert_eq!(std::fs::read(&placed).unwrap(), data);
    // The setting is kept in the home.
    b.stop();
    b.start();
    assert_eq!(
        ok(api(&b, json!({"cmd": "status"})))["download_dir"],
        json!(dir)
    );
}
