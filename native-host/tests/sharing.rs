//! Multi-process sharing tests: real nodes share albums and fetch them, verified.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{last_line, wait_until, Node};
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

fn fetch(n: &Node, id: &str, out: &Path, timeout: &str) -> (Option<i32>, Value) {
    let o = n.cli(&[
        "fetch",
        id,
        "--out",
        out.to_str().unwrap(),
        "--timeout",
        timeout,
        "--json",
    ]);
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o.status.code(), v)
}

/// A and two friends B and C, all connected.
fn trio() -> (Node, Node, Node) {
    let a = Node::started("Ann");
    let b = Node::started("Bo");
    let c = Node::started("Cy");
    a.befriend(&b);
    a.befriend(&c);
    let (bi, ci) = (b.id(), c.id());
    assert!(wait_until(SOON, || a.online_with(&bi) && a.online_with(&ci)));
    (a, b, c)
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
            "--to",
            &bo,
            "--title",
            "Beach 2026",
        ],
    );
    assert_eq!(id.len(), 32);
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
    let (code, v) = fetch(&c, &id, out_c.path(), "2");
    assert_eq!(code, Some(1));
    assert_eq!(v["error"]["code"], "not_found");
    // B fetches.
    let out = tempfile::tempdir().unwrap();
    let (code, v) = fetch(&b, &id, out.path(), "20");
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
    let (code, again) = fetch(&b, &id, out.path(), "20");
    assert_eq!(code, Some(0));
    assert_eq!(again["received_bytes"], 0);
    assert_eq!(again["paths"], v["paths"]);
}

#[test]
fn an_existing_different_file_is_never_overwritten() {
    let (a, b, _c) = trio();
    let src = tempfile::tempdir().unwrap();
    let data = random_file(&src.path().join("photo.jpg"), 200_000);
    let id = share(&a, &[src.path().join("photo.jpg").to_str().unwrap()]);
    assert!(wait_until(SOON, || albums(&b)
        .iter()
        .any(|x| x["id"] == id.as_str())));
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("photo.jpg"), b"my own photo").unwrap();
    let (code, v) = fetch(&b, &id, out.path(), "20");
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
    let (code, v) = fetch(&b, &id, out.path(), "3");
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
    let item = albums(&b)[0]["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A stopped earlier fetch left the first 3 MiB in place (and garbage after it).
    let out = tempfile::tempdir().unwrap();
    let mut part = data[..3 * 1024 * 1024].to_vec();
    part.extend(vec![0xAB; 1024 * 1024]);
    std::fs::write(
        out.path().join(format!(".kith-{}.part", &item[..32])),
        &part,
    )
    .unwrap();
    let (code, v) = fetch(&b, &item, out.path(), "20");
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
    let (code, _) = fetch(&b, &id, out.path(), "2");
    assert_eq!(code, Some(1));
}
