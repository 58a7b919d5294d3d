//! Homes written by an earlier release open with this one and keep what they held.
//!
//! `fixtures/home-v1/` holds two homes (Ann and Bo) made by `fixtures/make-home-v1.sh` with
//! the `kith` of commit 1802de7 (store schema 1). Records hold absolute paths, so the homes go
//! back to the path they were made at, /tmp/kith-fixture-v1, one test at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use common::{fetch_json, Node};
use kith_node::store::{Kv, SledKv, Store, SCHEMA_VERSION};
use kith_proto::identity::PeerId;
use serde_json::Value;

/// Where the fixture homes were made, and so must be restored.
const ROOT: &str = "/tmp/kith-fixture-v1";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/home-v1")
}

/// The fixture restored at `ROOT`, its two nodes not yet started. Holds a lock so that only
/// one test (of any process) uses `ROOT` at a time; removes `ROOT` when dropped.
struct Restored {
    ann: Node,
    bo: Node,
    /// What the fixture script wrote down: peer IDs, album IDs, addresses.
    expected: Value,
    _lock: std::fs::File,
}

impl Restored {
    fn new() -> Restored {
        let lock = std::fs::File::create(format!("{ROOT}.lock")).expect("lock file");
        let start = Instant::now();
        while lock.try_lock().is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "{ROOT} stayed in use by another test"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let root = Path::new(ROOT);
        let _ = std::fs::remove_dir_all(root);
        std::fs::create_dir_all(root).unwrap();
        let from = fixture_dir();
        for d in ["ann-files", "bo-files", "bo-downloads"] {
            common::copy_tree(&from.join(d), &root.join(d));
        }
        // A node's home is a TempDir; with no random part its name is the fixture's.
        let home = |name: &str| {
            let dir = tempfile::Builder::new()
                .prefix(name)
                .rand_bytes(0)
                .tempdir_in(root)
                .unwrap();
            common::copy_tree(&from.join(name), dir.path());
            dir
        };
        let (ann, bo) = (home("ann"), home("bo"));
        // A node serves a file only while its modification time is as recorded.
        let mtimes: Value =
            serde_json::from_slice(&std::fs::read(from.join("mtimes.json")).unwrap()).unwrap();
        for (rel, ns) in mtimes.as_object().unwrap() {
            let ns = ns.as_u64().unwrap();
            let t = SystemTime::UNIX_EPOCH + Duration::from_nanos(ns);
            let f = std::fs::File::options()
                .write(true)
                .open(root.join(rel))
                .unwrap_or_else(|e| panic!("{rel}: {e}"));
            f.set_modified(t).unwrap();
        }
        let expected: Value =
            serde_json::from_slice(&std::fs::read(from.join("expected.json")).unwrap()).unwrap();
        Restored {
            ann: Node {
                dir: ann,
                child: None,
                name: "Ann".into(),
            },
            bo: Node {
                dir: bo,
                child: None,
                name: "Bo".into(),
            },
            expected,
            _lock: lock,
        }
    }

    fn want(&self, key: &str) -> String {
        self.expected[key].as_str().unwrap().to_string()
    }

    /// Starts both nodes on the addresses their friend knows them by.
    fn start(&mut self) {
        for (node, key) in [(&mut self.ann, "ann_addr"), (&mut self.bo, "bo_addr")] {
            let addr = self.expected[key].as_str().unwrap();
            assert!(
                std::net::UdpSocket::bind(addr).is_ok(),
                "{addr}, where the fixture's {} listened, is taken on this machine",
                node.name
            );
            node.start_at(addr);
        }
    }
}

impl Drop for Restored {
    fn drop(&mut self) {
        self.ann.kill9();
        self.bo.kill9();
        let _ = std::fs::remove_dir_all(ROOT);
    }
}

/// The store schema written in a (stopped) node's database.
fn schema_of(home: &Path) -> u32 {
    let kv = SledKv::open(&home.join("db")).unwrap();
    let raw = kv
        .get("meta", b"schema")
        .unwrap()
        .expect("a schema version");
    serde_json::from_slice(&raw).unwrap()
}

/// The texts (or reactions) of every comment on an album, as a node lists them.
fn comment_texts(n: &Node, album: &str) -> Vec<String> {
    let r = n.json(&["comments", album, "--json"]);
    let mut out: Vec<String> = r["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["reaction"]
                .as_str()
                .or(c["text"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    out.sort();
    out
}

#[test]
fn homes_written_by_release_1_open_and_keep_friends_albums_files_comments_invites_and_settings() {
    let mut f = Restored::new();
    let (holiday, garden) = (f.want("holiday"), f.want("garden"));
    assert_eq!(
        schema_of(f.ann.home()),
        1,
        "the fixture is a schema-1 store"
    );
    assert_eq!(schema_of(f.bo.home()), 1);
    f.start();
    let (ann, bo) = (&f.ann, &f.bo);

    // Git keeps no modes: the node made the restored homes private when it opened them.
    for n in [ann, bo] {
        assert_eq!(
            kith_node::home::loose_entries(n.home()),
            vec![],
            "{}",
            n.name
        );
    }

    // Identity and friends.
    assert_eq!(ann.id(), f.want("ann"));
    assert_eq!(bo.id(), f.want("bo"));
    assert_eq!(ann.friend(&f.want("bo")).expect("Bo")["name"], "Bo");
    assert_eq!(bo.friend(&f.want("ann")).expect("Ann")["name"], "Ann");
    assert_eq!(ann.friends().len(), 1);
    let bo_id = f.want("bo");
    assert!(
        common::wait_until(Duration::from_secs(15), || ann.online_with(&bo_id)),
        "the friends reconnected at their known addresses"
    );

    // Both albums, on both sides, with their owners.
    for n in [ann, bo] {
        let albums = n.json(&["albums", "--json"]);
        let by_id = |id: &str| {
            albums
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["id"] == id)
                .cloned()
                .unwrap_or_else(|| panic!("{} lost album {id}: {albums}", n.name))
        };
        let (h, g) = (by_id(&holiday), by_id(&garden));
        assert_eq!(
            (h["title"].as_str(), h["item_count"].as_u64()),
            (Some("Holiday"), Some(3))
        );
        assert_eq!(
            (g["title"].as_str(), g["item_count"].as_u64()),
            (Some("Garden"), Some(1))
        );
        assert_eq!(h["mine"], n.name == "Ann");
        assert_eq!(g["mine"], n.name == "Bo");
    }

    // Files: Ann's shared ones and Bo's fetched ones are where the records say, same sizes.
    let listed = |n: &Node, album: &str| n.json(&["album", album, "--json"])["items"].clone();
    for (n, album, folder) in [
        (ann, &holiday, None),
        (bo, &holiday, Some("bo-downloads")),
        (bo, &garden, None),
    ] {
        for i in listed(n, album).as_array().unwrap() {
            let path = PathBuf::from(
                i["path"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{} has no local copy of {}", n.name, i["name"])),
            );
            let size = std::fs::metadata(&path).unwrap().len();
            assert_eq!(Some(size), i["size"].as_u64(), "{}", path.display());
            if let Some(folder) = folder {
                assert_eq!(
                    path,
                    Path::new(ROOT)
                        .join(folder)
                        .join(i["name"].as_str().unwrap())
                );
            }
        }
    }
    let ann_holiday = listed(ann, &holiday);
    let beach = ann_holiday
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == f.want("beach_item"))
        .expect("the photo's item");
    assert!(
        beach["thumb"].is_string(),
        "the photo kept its thumbnail: {beach}"
    );
    // Ann has not fetched Bo's album.
    assert!(listed(ann, &garden)[0]["path"].is_null());

    // Comments and reactions, on both sides, also the one on an item.
    let holiday_comments = vec!["Next year again", "That sky", "What a trip!", "🎉"];
    let garden_comments = vec!["Lovely tulips", "❤️"];
    for n in [ann, bo] {
        assert_eq!(comment_texts(n, &holiday), holiday_comments, "{}", n.name);
        assert_eq!(comment_texts(n, &garden), garden_comments, "{}", n.name);
    }
    let on_item = bo.json(&["comments", &f.want("beach_item"), "--json"]);
    assert_eq!(on_item["comments"][0]["text"], "That sky");

    // Settings.
    let s = ann.json(&["settings", "--json"]);
    assert_eq!(
        (s["upload_rate"].as_u64(), s["help_friends"].as_bool()),
        (Some(2_000_000), Some(true))
    );
    let s = bo.json(&["settings", "--json"]);
    assert_eq!(s["download_rate"].as_u64(), Some(500_000));
    assert_eq!(s["download_dir"], format!("{ROOT}/bo-downloads"));

    // Bo can still fetch Ann's album, every chunk checked against the stored manifests.
    let out = tempfile::tempdir().unwrap();
    let o = fetch_json(bo, &holiday, out.path(), 30);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: Value = serde_json::from_str(&common::last_line(&o)).unwrap();
    assert_eq!(
        got["received_bytes"], got["bytes"],
        "all of it came from Ann: {got}"
    );
    assert!(got["bytes"].as_u64() > Some(0));
    for name in ["beach.jpg", "dot.png", "notes.txt"] {
        assert_eq!(
            std::fs::read(out.path().join("Holiday").join(name)).unwrap(),
            std::fs::read(Path::new(ROOT).join("bo-downloads/Holiday").join(name)).unwrap(),
            "{name}"
        );
    }

    // Stopped, the stores have the current schema and Ann's invites are kept: the one Bo used,
    // and the unused one until it expires (30 days after the fixture was made).
    f.ann.stop();
    f.bo.stop();
    assert_eq!(schema_of(f.ann.home()), SCHEMA_VERSION);
    assert_eq!(schema_of(f.bo.home()), SCHEMA_VERSION);
    let invites = Store::open(&f.ann.home().join("db"))
        .unwrap()
        .invites()
        .unwrap();
    let used = invites
        .iter()
        .find(|i| i.used_by.is_some_and(|p| p.to_string() == bo_id))
        .expect("the invite Bo used");
    let made = used.expires - 7 * 86400;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let unused = invites.iter().filter(|i| i.used_by.is_none()).count();
    assert_eq!(unused, usize::from(made + 30 * 86400 >= now), "{invites:?}");

    // Version 2's owners, filled in from the albums held: each album ID is bound to its owner
    // on both sides; Ann owns her shared files, Bo's fetched copies of them are Ann's album's,
    // and each thumbnail is held for its album's owner.
    let (ann_id, bo_id): (PeerId, PeerId) =
        (f.want("ann").parse().unwrap(), bo_id.parse().unwrap());
    let items: Vec<String> = ann_holiday
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    let thumb = beach["thumb"].as_str().unwrap().to_string();
    for home in [f.ann.home(), f.bo.home()] {
        let store = Store::open(&home.join("db")).unwrap();
        assert_eq!(
            store.album_owner(&holiday.as_str().into()).unwrap(),
            Some(ann_id)
        );
        assert_eq!(
            store.album_owner(&garden.as_str().into()).unwrap(),
            Some(bo_id)
        );
        for i in &items {
            let rec = store
                .item(&i.as_str().into())
                .unwrap()
                .expect("a record of the file");
            assert_eq!(rec.owners, vec![ann_id], "{}: {i}", home.display());
        }
        assert!(store.thumb_owned_by(&ann_id, &thumb).unwrap());
        assert!(!store.thumb_owned_by(&bo_id, &thumb).unwrap());
    }

    // And they hold: Bo, a friend, cannot take Ann's album of the old ID form over.
    f.ann.start_at(f.expected["ann_addr"].as_str().unwrap());
    let listing = f.ann.json(&["album", &holiday, "--json"]);
    let me = kith_node::home::Home {
        dir: f.bo.home().to_path_buf(),
    }
    .identity()
    .unwrap();
    let seized = kith_proto::album::Album {
        id: holiday.as_str().into(),
        owner: bo_id,
        version: listing["version"].as_u64().unwrap() + 1,
        title: "mine now".into(),
        created: 1,
        items: vec![],
        audience: vec![ann_id],
        deleted: false,
        link: None,
    };
    let answers = common::as_peer(
        &f.bo,
        &f.ann,
        vec![kith_proto::peer::PeerMsg::AlbumPush {
            album: seized.sign(&me),
            members: vec![],
        }],
    );
    assert_eq!(common::code_of(&answers[0]), "not_owner");
    let after = f.ann.json(&["album", &holiday, "--json"]);
    assert_eq!(
        (after["owner"].as_str(), after["title"].as_str()),
        (Some(ann_id.to_string().as_str()), Some("Holiday"))
    );
}
