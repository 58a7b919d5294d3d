//! Albums belong to their owner (finding C1 of the security review): a friend or a member
//! who is not a friend, speaking QUIC with its own key, can never delete, replace or take
//! over an album it does not own, and can never get an item or a thumbnail through an album
//! that the item's owner did not sign for it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

mod common;

use std::path::Path;
use std::time::Duration;

use common::{as_peer, code_of, last_line, wait_until, Node};
use kith_node::media::exif_build::{jpeg_with_exif, ExifSpec};
use kith_proto::album::{Album, AlbumItem};
use kith_proto::identity::PeerId;
use kith_proto::peer::PeerMsg;
use serde_json::Value;

const SOON: Duration = Duration::from_secs(15);

/// What a push of my album's ID under another key gets: new album IDs start with their
/// owner's tag, so the album is refused as it is decoded, before any lookup.
const NOT_ITS_ID: &str = "malformed";

fn photo(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8, y as u8, seed]));
    jpeg_with_exif(&img, 85, &ExifSpec::default())
}

/// `kith share` of the files in `dir` with the given friends; the album ID.
fn share(n: &Node, dir: &Path, to: &[&Node]) -> String {
    let mut args = vec!["share".to_string(), dir.to_string_lossy().into_owned()];
    for f in to {
        args.push("--to".into());
        args.push(f.id());
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = n.cli(&a);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    last_line(&o)
}

/// A folder with one photo and one plain file, different for each seed.
fn files(n: &Node, seed: u8) -> std::path::PathBuf {
    let dir = n.home().join(format!("src{seed}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.jpg"), photo(seed)).unwrap();
    std::fs::write(
        dir.join("f.bin"),
        common::random_bytes(200_000, seed as u64),
    )
    .unwrap();
    dir
}

fn album(n: &Node, id: &str) -> Value {
    n.json(&["album", id, "--json"])
}

fn holds(n: &Node, id: &str) -> bool {
    n.json(&["albums", "--json"])
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x["id"] == id))
}

/// The album items of a listing, as an album carries them.
fn items_of(listing: &Value) -> Vec<AlbumItem> {
    listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| AlbumItem {
            id: i["id"].as_str().unwrap().into(),
            name: i["name"].as_str().unwrap().into(),
            size: i["size"].as_u64().unwrap(),
            thumb: i["thumb"].as_str().map(String::from),
            ..Default::default()
        })
        .collect()
}

/// An album push signed by the (stopped) node `from` as its owner.
fn push(from: &Node, id: &str, version: u64, items: Vec<AlbumItem>, audience: &[&Node]) -> PeerMsg {
    let me = kith_node::home::Home {
        dir: from.home().to_path_buf(),
    }
    .identity()
    .unwrap();
    let a = Album {
        id: id.into(),
        owner: me.peer_id(),
        version,
        title: "mine now".into(),
        created: 1,
        items,
        audience: audience
            .iter()
            .map(|n| n.id().parse::<PeerId>().unwrap())
            .collect(),
        deleted: false,
        link: None,
    };
    PeerMsg::AlbumPush {
        album: a.sign(&me),
        members: vec![],
    }
}

fn thread_len(n: &Node, album: &str) -> usize {
    n.json(&["comments", album, "--json"])["comments"]
        .as_array()
        .map_or(0, Vec::len)
}

/// A shares an album with B (and M); everybody holds it.
fn setup() -> (Node, Node, Node, String, Value) {
    let (a, b, m) = common::trio();
    let id = share(&a, &files(&a, 1), &[&b, &m]);
    assert!(wait_until(SOON, || holds(&b, &id) && holds(&m, &id)));
    let o = a.cli(&["comment", &id, "first!"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listing = album(&a, &id);
    (a, b, m, id, listing)
}

fn assert_still_owned(n: &Node, id: &str, owner: &Node, title: &str) {
    let l = album(n, id);
    assert_eq!(l["owner"], owner.id(), "{title}: {l}");
    assert_ne!(l["title"], "mine now", "{title}: {l}");
}

#[test]
fn a_friend_cannot_delete_my_album_by_pushing_a_newer_version_without_me() {
    let (a, b, mut m, id, listing) = setup();
    let v = listing["version"].as_u64().unwrap();
    m.stop();
    let answers = as_peer(&m, &a, vec![push(&m, &id, v + 1, vec![], &[])]);
    assert_eq!(code_of(&answers[0]), NOT_ITS_ID);
    assert!(holds(&a, &id), "A lost its own album");
    assert_still_owned(&a, &id, &a, "A");
    assert_eq!(thread_len(&a, &id), 1, "A lost its comment thread");
    // The same against a member: B keeps A's album.
    let answers = as_peer(&m, &b, vec![push(&m, &id, v + 1, vec![], &[])]);
    assert_eq!(code_of(&answers[0]), NOT_ITS_ID);
    assert!(holds(&b, &id));
}

#[test]
fn a_friend_cannot_seize_my_album_by_pushing_it_under_its_own_key_even_across_a_restart() {
    let (mut a, b, mut m, id, listing) = setup();
    let v = listing["version"].as_u64().unwrap();
    let items = items_of(&listing);
    m.stop();
    for to in [&a, &b] {
        let answers = as_peer(&m, to, vec![push(&m, &id, v + 1, items.clone(), &[&a, &b])]);
        assert_eq!(code_of(&answers[0]), NOT_ITS_ID);
        assert_still_owned(to, &id, &a, "after the push");
    }
    a.stop();
    a.start();
    assert_still_owned(&a, &id, &a, "after A restarted");
    // Pushed again after the restart: still refused.
    let answers = as_peer(&m, &a, vec![push(&m, &id, v + 5, items.clone(), &[&a])]);
    assert_eq!(code_of(&answers[0]), NOT_ITS_ID);
    // A's own later version still reaches B: it is still A's album everywhere.
    let o = a.cli(&["audience", &id, "--remove", &m.id()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let newer = album(&a, &id)["version"].as_u64().unwrap();
    assert!(newer > v);
    assert!(
        wait_until(SOON, || album(&b, &id)["version"].as_u64() == Some(newer)),
        "B did not get A's genuine new version"
    );
    assert_still_owned(&b, &id, &a, "B after A's update");
}

#[test]
fn an_album_id_of_the_old_form_stays_with_the_first_owner_seen_even_across_a_restart() {
    // Albums made before owner-tagged IDs have 16 random bytes: the first owner keeps them.
    let (mut a, mut b, mut c) = common::trio();
    let old = "00112233445566778899aabbccddeeff";
    b.stop();
    c.stop();
    let answers = as_peer(&b, &a, vec![push(&b, old, 1, vec![], &[&a])]);
    assert_eq!(code_of(&answers[0]), "Ok");
    assert_eq!(album(&a, old)["owner"], b.id());
    let answers = as_peer(&c, &a, vec![push(&c, old, 2, vec![], &[&a])]);
    assert_eq!(code_of(&answers[0]), "not_owner");
    a.stop();
    a.start();
    // Even withdrawn by its owner, the ID is not free for another.
    let answers = as_peer(&b, &a, vec![push(&b, old, 3, vec![], &[])]);
    assert_eq!(code_of(&answers[0]), "Ok");
    assert!(!holds(&a, old));
    let answers = as_peer(&c, &a, vec![push(&c, old, 4, vec![], &[&a])]);
    assert_eq!(code_of(&answers[0]), "not_owner");
    assert!(!holds(&a, old));
}

#[test]
fn a_member_who_is_not_my_friend_cannot_push_albums_to_me() {
    // A shares with B and C; B and C are members of the same album but not friends.
    let (a, b, mut c) = common::trio();
    let id = share(&a, &files(&a, 2), &[&b, &c]);
    assert!(wait_until(SOON, || holds(&b, &id) && holds(&c, &id)));
    let listing = album(&a, &id);
    let v = listing["version"].as_u64().unwrap();
    c.stop();
    let answers = as_peer(
        &c,
        &b,
        vec![
            // A's album under C's key, and a new album of C's own.
            push(&c, &id, v + 1, items_of(&listing), &[&b]),
            push(&c, "00112233445566778899aabbccddeeff", 1, vec![], &[&b]),
        ],
    );
    assert_eq!(code_of(&answers[0]), NOT_ITS_ID);
    assert_eq!(code_of(&answers[1]), "not_friend");
    assert_still_owned(&b, &id, &a, "B");
    assert!(!holds(&b, "00112233445566778899aabbccddeeff"));
}

/// Asks for an item's manifest and first chunk, and a thumbnail through an album.
fn asks(item: &str, album: &str, thumb: &str) -> Vec<PeerMsg> {
    vec![
        PeerMsg::GetManifest { item: item.into() },
        PeerMsg::GetChunks {
            item: item.into(),
            from: 0,
            count: 1,
        },
        PeerMsg::GetThumb {
            album: album.into(),
            thumb: thumb.into(),
        },
    ]
}

#[test]
fn a_member_removed_from_my_album_cannot_get_its_items_or_thumbnails_through_an_album_of_its_own() {
    let (a, _b, mut m, id, listing) = setup();
    let items = items_of(&listing);
    let photo = items.iter().find(|i| i.thumb.is_some()).expect("a photo");
    let thumb = photo.thumb.clone().unwrap();
    // While M is a member, it gets them: the requests below are ones that can succeed.
    m.stop();
    let before = as_peer(&m, &a, asks(&photo.id, &id, &thumb));
    assert!(matches!(before[0], PeerMsg::Data { .. }), "{:?}", before[0]);
    assert!(matches!(before[2], PeerMsg::Data { .. }), "{:?}", before[2]);

    let o = a.cli(&["audience", &id, "--remove", &m.id()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let own = "0f0e0d0c0b0a09080706050403020100";
    let mut msgs = vec![push(&m, own, 1, items.clone(), &[&a])];
    msgs.extend(asks(&photo.id, own, &thumb));
    msgs.extend(asks(&photo.id, &id, &thumb));
    let answers = as_peer(&m, &a, msgs);
    for (i, ans) in answers.iter().enumerate().skip(1) {
        assert_eq!(code_of(ans), "not_shared", "answer {i}: {ans:?}");
    }
}

#[test]
fn a_third_partys_item_i_fetched_is_not_served_to_a_friend_outside_its_album_whatever_it_pushes() {
    // C shares with A only; A fetches. M is A's friend, not in C's album.
    let (a, c, mut m) = common::trio();
    let id = share(&c, &files(&c, 3), &[&a]);
    assert!(wait_until(SOON, || holds(&a, &id)));
    let out = tempfile::tempdir().unwrap();
    let o = common::fetch_json(&a, &id, out.path(), 30);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listing = album(&a, &id);
    assert!(listing["items"][0]["path"].is_string(), "{listing}");
    let items = items_of(&listing);
    let photo = items.iter().find(|i| i.thumb.is_some()).expect("a photo");
    let thumb = photo.thumb.clone().unwrap();
    m.stop();
    // By ID alone, and through an album of M's own that lists them.
    let own = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";
    let mut msgs = asks(&photo.id, own, &thumb);
    msgs.push(push(&m, own, 1, items.clone(), &[&a]));
    msgs.extend(asks(&photo.id, own, &thumb));
    msgs.extend(asks(&items[1].id, &id, &thumb));
    let answers = as_peer(&m, &a, msgs);
    for (i, ans) in answers.iter().enumerate() {
        if i == 3 {
            continue; // M's own album is accepted: it is M's.
        }
        assert_eq!(code_of(ans), "not_shared", "answer {i}: {ans:?}");
    }
}

#[test]
fn knowing_an_item_id_or_thumbnail_hash_tells_nothing_about_what_i_hold() {
    let (a, _b, m, id, listing) = setup();
    drop(m);
    let c = Node::started("Cy2");
    a.befriend(&c);
    let cid = c.id();
    assert!(wait_until(SOON, || a.online_with(&cid)));
    let mut c = c;
    let items = items_of(&listing);
    let photo = items.iter().find(|i| i.thumb.is_some()).unwrap();
    let held = asks(&photo.id, &id, photo.thumb.as_deref().unwrap());
    let absent = asks(&"ab".repeat(32), &id, &"cd".repeat(32));
    c.stop();
    let mut msgs = held;
    msgs.extend(absent);
    let answers = as_peer(&c, &a, msgs);
    let codes: Vec<String> = answers.iter().map(code_of).collect();
    assert_eq!(
        codes[..3],
        codes[3..],
        "held and absent answered differently"
    );
    assert!(codes.iter().all(|c| c == "not_shared"), "{codes:?}");
}

#[test]
fn an_album_pushed_over_its_owners_quota_gets_quota_exceeded_and_is_not_stored() {
    let a = Node::started("Ann");
    let mut b = Node::started("Ben");
    a.befriend(&b);
    let set = a.json(&["settings", "--quota-albums", "2", "--json"]);
    assert_eq!(set["quota_albums"], 2, "{set}");
    assert_eq!(set["quota_member_albums"], 2, "{set}");
    assert_eq!(set["quota_thumb_bytes"], 6u64 << 30, "{set}");
    let ben: PeerId = b.id().parse().unwrap();
    b.stop();
    let ids: Vec<String> = (0..3)
        .map(|_| kith_proto::album::new_album_id(&ben).into_string())
        .collect();
    let answers = as_peer(
        &b,
        &a,
        vec![
            push(&b, &ids[0], 1, vec![], &[&a]),
            push(&b, &ids[1], 1, vec![], &[&a]),
            push(&b, &ids[2], 1, vec![], &[&a]),
            // A new version of an album held here takes no more room.
            push(&b, &ids[0], 2, vec![], &[&a]),
        ],
    );
    let codes: Vec<String> = answers.iter().map(code_of).collect();
    assert_eq!(codes, ["Ok", "Ok", "quota_exceeded", "Ok"]);
    assert!(holds(&a, &ids[0]) && holds(&a, &ids[1]));
    assert!(!holds(&a, &ids[2]), "an album over the quota was stored");
    assert_eq!(album(&a, &ids[0])["version"], 2);
    // Ben withdraws an album: there is room for the refused one, whose ID was not taken.
    let answers = as_peer(
        &b,
        &a,
        vec![
            push(&b, &ids[1], 2, vec![], &[]),
            push(&b, &ids[2], 1, vec![], &[&a]),
        ],
    );
    let codes: Vec<String> = answers.iter().map(code_of).collect();
    assert_eq!(codes, ["Ok", "Ok"]);
    assert!(holds(&a, &ids[2]) && !holds(&a, &ids[1]));
}
