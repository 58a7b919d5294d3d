//! Multi-process sharing tests: real nodes share albums and fetch them, verified.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

mod common;

use std::path::Path;
use std::time::Duration;

use common::{last_line, trio, wait_until, Node};
use serde_json::Value;

const SOON: Duration = Duration::from_secs(15);

fn random_file(path: &Path, len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    let mut x: u64 = 0x9E3779B97F4A7C15 ^ len as u64 ^ (path.as_os_str().len() as u64);
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(path, &data).unwrap();
    data
}

fn share(n: &Node, args: &[&str]) -> String {
    let mut a = vec!["share"];
    a.extend_from_slice(args);
    let o = n.cli(&a);
    assert!(
        o.status.success(),
        "share failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    last_line(&o)
}

fn albums(n: &Node) -> Vec<Value> {
    n.json(&["albums", "--json"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `kith fetch … --json`: its exit code and JSON.
fn fetch(n: &Node, id: &str, out: &Path, timeout_secs: u32) -> (Option<i32>, Value) {
    let o = common::fetch_json(n, id, out, timeout_secs);
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o.status.code(), v)
}

/// A shares one small file with B only and waits until B lists the album.
fn share_one_file_with(a: &Node, b: &Node) -> (String, tempfile::TempDir) {
    let src = tempfile::tempdir().unwrap();
    random_file(&src.path().join("x.bin"), 100_000);
    let id = share(
        a,
        &[src.path().join("x.bin").to_str().unwrap(), "--to", &b.id()],
    );
    assert!(wait_until(SOON, || albums(b).len() == 1));
    (id, src)
}

#[test]
fn an_album_shared_with_one_friend_is_fetched_verified_and_the_other_friend_cannot_list_or_fetch_it(
) {
    let (a, b, c) = trio();
    let src = tempfile::tempdir().unwrap();
    let data = random_file(&src.path().join("video.bin"), 3 * 1024 * 1024 + 12345);
    std::fs::create_dir_all(src.path().join("pics/2026")).unwrap();
    std::fs::write(src.path().join("pics/2026/a.jpg"), b"jpeg bytes").unwrap();
    let bo = b.id();
    let id = share(
        &a,
        &[
            src.path().join("video.bin").to_str().unwrap(),
            src.path().join("pics").to_str().unwrap(),
            "--keep-location", // a.jpg is not a real JPEG: Kith could not prove it clean
            "--to",
            &bo,
            "--title",
            "Beach 2026",
        ],
    );
    assert_eq!(id.len(), 40, "an owner-tagged album ID");
    assert!(wait_until(SOON, || albums(&b)
        .iter()
        .any(|x| x["id"] == id.as_str())));
    let listed = albums(&b)
        .into_iter()
        .find(|x| x["id"] == id.as_str())
        .unwrap();
    assert_eq!(listed["title"], "Beach 2026");
    assert_eq!(listed["owner_name"], "Ann");
    assert_eq!(listed["item_count"], 2);
    assert!(albums(&a)
        .iter()
        .any(|x| x["id"] == id.as_str() && x["mine"] == true));
    // C is A's friend but not in the audience.
    assert!(albums(&c).is_empty());
    let out_c = tempfile::tempdir().unwrap();
    let (code, v) = fetch(&c, &id, out_c.path(), 2);
    assert_eq!(code, Some(1));
    assert_eq!(v["error"]["code"], "not_found");
    // B fetches.
    let out = tempfile::tempdir().unwrap();
    let (code, v) = fetch(&b, &id, out.path(), 20);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["bytes"], data.len() as u64 + 10);
    assert_eq!(v["received_bytes"], data.len() as u64 + 10);
    assert!(v["secs"].as_f64().unwrap() > 0.0);
    let paths: Vec<String> = v["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert!(paths.iter().all(|p| Path::new(p).is_absolute()));
    assert_eq!(std::fs::read(out.path().join("video.bin")).unwrap(), data);
    assert_eq!(
        std::fs::read(out.path().join("pics/2026/a.jpg")).unwrap(),
        b"jpeg bytes"
    );
    // No partial files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty());
    // Fetching again moves nothing and reports the same paths.
    let (code, again) = fetch(&b, &id, out.path(), 20);
    assert_eq!(code, Some(0));
    assert_eq!(again["received_bytes"], 0);
    assert_eq!(again["paths"], v["paths"]);
}

#[test]
fn an_existing_different_file_is_never_overwritten() {
    let (a, b, _c) = trio();
    let src = tempfile::tempdir().unwrap();
    let data = random_file(&src.path().join("photo.jpg"), 200_000);
    let id = share(
        &a,
        &[
            src.path().join("photo.jpg").to_str().unwrap(),
            "--keep-location",
        ],
    );
    assert!(wait_until(SOON, || albums(&b)
        .iter()
        .any(|x| x["id"] == id.as_str())));
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("photo.jpg"), b"my own photo").unwrap();
    let (code, v) = fetch(&b, &id, out.path(), 20);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(
        std::fs::read(out.path().join("photo.jpg")).unwrap(),
        b"my own photo"
    );
    assert_eq!(
        std::fs::read(out.path().join("photo (1).jpg")).unwrap(),
        data
    );
    assert!(v["paths"][0].as_str().unwrap().ends_with("photo (1).jpg"));
}

#[test]
fn a_shared_file_modified_after_sharing_is_never_served_as_the_old_content() {
    let (a, b, _c) = trio();
    let src = tempfile::tempdir().unwrap();
    let f = src.path().join("doc.bin");
    random_file(&f, 2 * 1024 * 1024);
    let id = share(&a, &[f.to_str().unwrap()]);
    assert!(wait_until(SOON, || albums(&b)
        .iter()
        .any(|x| x["id"] == id.as_str())));
    // Same size, different bytes.
    let mut changed = std::fs::read(&f).unwrap();
    changed[10] ^= 0xff;
    std::fs::write(&f, &changed).unwrap();
    let out = tempfile::tempdir().unwrap();
    let (code, v) = fetch(&b, &id, out.path(), 3);
    assert_eq!(code, Some(1), "{v}");
    assert!(
        !out.path().join("doc.bin").exists(),
        "a file was placed from changed content"
    );
    assert!(wait_until(SOON, || a.log().contains("changed")));
}

#[test]
fn a_fetch_resumes_from_the_verified_part_already_on_disk() {
    let (a, b, _c) = trio();
    let src = tempfile::tempdir().unwrap();
    let data = random_file(&src.path().join("big.bin"), 5 * 1024 * 1024 + 99);
    let id = share(&a, &[src.path().join("big.bin").to_str().unwrap()]);
    assert!(wait_until(SOON, || albums(&b)
        .iter()
        .any(|x| x["id"] == id.as_str())));
    let listed = b.json(&["album", &id, "--json"]);
    let item = listed["items"][0]["id"].as_str().unwrap().to_string();
    // A stopped earlier fetch left the first 3 MiB in place (and garbage after it).
    let out = tempfile::tempdir().unwrap();
    let mut part = data[..3 * 1024 * 1024].to_vec();
    part.extend(vec![0xAB; 1024 * 1024]);
    let id: [u8; 32] = kith_proto::album::unhex32(&item).unwrap();
    let part_file = kith_node::transfer::fetch::part_path(out.path(), &id, Path::new("big.bin"));
    std::fs::write(part_file, &part).unwrap();
    let (code, v) = fetch(&b, &item, out.path(), 20);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["received_bytes"], (data.len() - 3 * 1024 * 1024) as u64);
    assert_eq!(std::fs::read(out.path().join("big.bin")).unwrap(), data);
}

#[test]
fn an_offline_member_gets_the_album_when_next_connected_even_after_the_owner_restarts() {
    let (mut a, mut b, _c) = trio();
    let ai = a.id();
    let (a_addr, b_addr) = (a.listen_addr(), b.listen_addr());
    b.stop();
    let src = tempfile::tempdir().unwrap();
    random_file(&src.path().join("x.bin"), 1000);
    let bo = b.id();
    let id = share(
        &a,
        &[src.path().join("x.bin").to_str().unwrap(), "--to", &bo],
    );
    a.stop();
    a.start_at(&a_addr); // the outbox survives the restart
    b.start_at(&b_addr);
    assert!(wait_until(SOON, || b.online_with(&ai)));
    assert!(
        wait_until(SOON, || albums(&b).iter().any(|x| x["id"] == id.as_str())),
        "album not delivered"
    );
}

#[test]
fn unshare_removes_the_album_from_members_and_stops_serving_it() {
    let (a, b, _c) = trio();
    let src = tempfile::tempdir().unwrap();
    random_file(&src.path().join("x.bin"), 1000);
    let id = share(&a, &[src.path().join("x.bin").to_str().unwrap()]);
    assert!(wait_until(SOON, || albums(&b)
        .iter()
        .any(|x| x["id"] == id.as_str())));
    assert!(a.cli(&["unshare", &id]).status.success());
    assert!(
        wait_until(SOON, || albums(&b).is_empty()),
        "member still lists the album"
    );
    assert!(albums(&a).is_empty());
    let out = tempfile::tempdir().unwrap();
    let (code, _) = fetch(&b, &id, out.path(), 2);
    assert_eq!(code, Some(1));
}

/// A (owner) shares with B and C, who are A's friends but not each other's. B has a copy.
type Swarm = (
    Node,
    Node,
    Node,
    String,
    Vec<u8>,
    (tempfile::TempDir, tempfile::TempDir),
);

fn swarm_setup(c_args: &[&str], b_env: &[(&str, &str)]) -> Swarm {
    let a = Node::started("Ann");
    let mut b = Node::new("Bo");
    b.start_with("127.0.0.1:0", &[], b_env);
    let mut c = Node::new("Cy");
    c.start_with("127.0.0.1:0", c_args, &[]);
    a.befriend(&b);
    a.befriend(&c);
    let (bi, ci) = (b.id(), c.id());
    assert!(wait_until(SOON, || a.online_with(&bi) && a.online_with(&ci)));
    let src = tempfile::tempdir().unwrap();
    let data = random_file(&src.path().join("film.bin"), 16 * 1024 * 1024 + 4321);
    let id = share(
        &a,
        &[
            src.path().join("film.bin").to_str().unwrap(),
            "--to",
            &bi,
            "--to",
            &ci,
        ],
    );
    assert!(wait_until(SOON, || albums(&b).len() == 1 && albums(&c).len() == 1));
    let out_b = tempfile::tempdir().unwrap();
    let (code, v) = fetch(&b, &id, out_b.path(), 20);
    assert_eq!(code, Some(0), "{v}");
    (a, b, c, id, data, (src, out_b))
}

#[test]
fn members_who_are_not_friends_swarm_and_the_fetch_completes_after_the_owner_stops() {
    // C downloads at 2 MB/s so the owner can stop midway.
    let (mut a, b, c, id, data, _keep) = swarm_setup(&["--download-rate", "2M"], &[]);
    let out = tempfile::tempdir().unwrap();
    let mut child = common::spawn_fetch(&c, &id, out.path(), 60);
    std::thread::sleep(Duration::from_millis(1500));
    a.stop();
    let status = common::wait_child(&mut child, Duration::from_secs(60)).expect("fetch hung");
    let mut text = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut text).unwrap();
    assert!(status.success(), "fetch failed: {text}");
    assert_eq!(std::fs::read(out.path().join("film.bin")).unwrap(), data);
    // B and C are not friends, yet they were connected through the album.
    assert!(b.friends().iter().all(|f| f["id"] != c.id().as_str()));
    assert!(b.log().contains("get_chunks") || c.log().contains("fetch complete"));
}

#[test]
fn a_peer_serving_corrupt_chunks_is_struck_out_and_the_file_is_still_correct() {
    if !cfg!(feature = "test-faults") {
        return common::skip("the corrupt-chunks fault needs `--features test-faults`");
    }
    let (a, b, c, id, data, _keep) = swarm_setup(&[], &[("KITH_FAULT_CORRUPT_CHUNKS", "1")]);
    // The owner now sends at 2 MB/s, so B (which lies, and answers fast) serves much of the
    // file to C once connected: C dials B when its fetch starts, members being told only of
    // fellow members who fetch.
    let r = common::api(
        &a,
        serde_json::json!({"cmd": "settings", "upload_rate": 2_000_000}),
    );
    assert_eq!(r["result"]["upload_rate"], 2_000_000, "{r}");
    let out = tempfile::tempdir().unwrap();
    let (code, v) = fetch(&c, &id, out.path(), 30);
    let logs = |n: &Node| {
        n.log()
            .lines()
            .filter(|l| l.contains("kith::"))
            .take(30)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        code,
        Some(0),
        "{v}\nA:\n{}\nB:\n{}\nC:\n{}",
        logs(&a),
        logs(&b),
        logs(&c)
    );
    assert_eq!(std::fs::read(out.path().join("film.bin")).unwrap(), data);
    assert!(
        c.log().contains("does not match its hash"),
        "no bad chunk seen"
    );
    assert!(
        c.log().contains("struck out"),
        "the lying peer was not struck out\nC:\n{}",
        c.log()
    );
    drop(a);
}

#[test]
fn a_removed_audience_member_gets_nothing_more() {
    let (a, b, _c) = trio();
    let (id, _src) = share_one_file_with(&a, &b);
    let bi = b.id();
    let o = a.cli(&["audience", &id, "--remove", &bi]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        wait_until(SOON, || albums(&b).is_empty()),
        "the removed member still lists it"
    );
    let out = tempfile::tempdir().unwrap();
    let (code, _) = fetch(&b, &id, out.path(), 2);
    assert_eq!(code, Some(1));
    assert!(std::fs::read_dir(out.path())
        .map(|d| d.count() == 0)
        .unwrap_or(true));
}

#[test]
fn an_unfriended_member_leaves_my_albums_and_cannot_fetch_or_reconnect() {
    let (a, b, _c) = trio();
    let (id, _src) = share_one_file_with(&a, &b);
    let bi = b.id();
    assert!(a.cli(&["unfriend", &bi]).status.success());
    let mine = albums(&a);
    assert!(
        mine[0]["audience"].as_array().unwrap().is_empty(),
        "still in the audience: {}",
        mine[0]
    );
    let out = tempfile::tempdir().unwrap();
    let (code, _) = fetch(&b, &id, out.path(), 3);
    assert_eq!(code, Some(1));
    assert!(!b.online_with(&a.id()));
}

#[test]
fn a_shared_file_deleted_after_sharing_is_refused_and_nothing_is_placed() {
    let (a, b, _c) = trio();
    let src = tempfile::tempdir().unwrap();
    let f = src.path().join("gone.bin");
    random_file(&f, 1024 * 1024 + 5);
    let id = share(&a, &[f.to_str().unwrap()]);
    assert!(wait_until(SOON, || albums(&b)
        .iter()
        .any(|x| x["id"] == id.as_str())));
    std::fs::remove_file(&f).unwrap();
    let out = tempfile::tempdir().unwrap();
    let (code, v) = fetch(&b, &id, out.path(), 3);
    assert_eq!(code, Some(1), "{v}");
    assert!(!out.path().join("gone.bin").exists());
    assert!(wait_until(SOON, || a
        .log()
        .contains("the shared file is gone")));
}

#[test]
fn chunk_requests_out_of_range_or_for_content_not_shared_are_refused_and_logged() {
    let (a, mut b, mut c) = common::trio();
    let dir = a.home().join("src");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("f.bin"), common::random_bytes(300_000, 5)).unwrap();
    let o = a.cli(&[
        "share",
        dir.join("f.bin").to_str().unwrap(),
        "--to",
        &b.id(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let album = common::last_line(&o);
    let listing = a.json(&["album", &album, "--json"]);
    let item = kith_proto::ids::ItemId::from(listing["items"][0]["id"].as_str().expect("item id"));
    use kith_proto::peer::PeerMsg;
    let chunks = |from: u64, count: u64| PeerMsg::GetChunks {
        item: item.clone(),
        from,
        count,
    };

    // B is in the audience: in-range chunks come, out-of-range ones are refused.
    b.stop();
    let answers = common::as_peer(
        &b,
        &a,
        vec![
            chunks(0, 1),
            chunks(1_000_000, 1),
            chunks(1, 5),
            PeerMsg::GetSegment {
                item: item.clone(),
                seg: 99,
            },
            // More chunks than one request may ask for: refused before any lookup.
            chunks(0, 1_000_000),
        ],
    );
    assert!(
        matches!(answers[0], PeerMsg::Data { .. }),
        "chunk 0: {:?}",
        answers[0]
    );
    for (i, want) in [
        (1, "out_of_range"),
        (2, "out_of_range"),
        (3, "out_of_range"),
        (4, "malformed"),
    ] {
        assert_eq!(common::code_of(&answers[i]), want, "answer {i}");
    }

    // C is A's friend but not in the audience: the item is not shared with it.
    c.stop();
    let answers = common::as_peer(
        &c,
        &a,
        vec![chunks(0, 1), PeerMsg::GetManifest { item: item.clone() }],
    );
    for m in &answers {
        assert_eq!(common::code_of(m), "not_shared");
    }
    let log = a.log();
    assert!(log.contains("chunk request out of range"), "{log}");
    assert!(
        log.contains("refused a request for content not shared"),
        "{log}"
    );
}

/// Bytes of every file under a folder (part files included).
fn bytes_under(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

#[test]
fn a_friend_removed_mid_transfer_loses_the_connection_at_once_and_gets_no_more_bytes() {
    let mut a = Node::new("Ann");
    a.start_with("127.0.0.1:0", &["--upload-rate", "2M"], &[]);
    let b = Node::started("Bo");
    a.befriend(&b);
    let (ai, bi) = (a.id(), b.id());
    let src = a.home().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("big.bin"),
        common::random_bytes(32 * 1024 * 1024, 21),
    )
    .unwrap();
    let o = a.cli(&["share", src.join("big.bin").to_str().unwrap(), "--to", &bi]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let album = last_line(&o);
    assert!(wait_until(Duration::from_secs(10), || b
        .json(&["albums", "--json"])
        .as_array()
        .is_some_and(|l| l.iter().any(|x| x["id"] == album.as_str()))));
    let out = b.home().join("got");
    let mut fetch = common::spawn_fetch(&b, &album, &out, 300);
    assert!(
        wait_until(Duration::from_secs(20), || bytes_under(&out) > 1024 * 1024),
        "the transfer did not start"
    );

    // A removes B while the transfer runs.
    let t = std::time::Instant::now();
    let o = a.cli(&["unfriend", "Bo"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        wait_until(Duration::from_secs(2), || !b.online_with(&ai)),
        "B still connected 2 s after the unfriend"
    );
    eprintln!(
        "unfriend mid-transfer: B disconnected within {} ms",
        t.elapsed().as_millis()
    );
    // Chunks already in flight may land; after that, nothing more arrives.
    std::thread::sleep(Duration::from_millis(500));
    let settled = bytes_under(&out);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        bytes_under(&out),
        settled,
        "bytes kept arriving after the unfriend"
    );
    assert!(settled < 32 * 1024 * 1024, "the whole file arrived");
    assert!(!b.online_with(&ai), "B reconnected");
    assert!(a.log().contains("refused a connection from a stranger"));
    let _ = fetch.kill();
    let _ = fetch.wait();
}
