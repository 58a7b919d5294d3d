//! Multi-process comment tests: real nodes post, relay and catch up on album threads, with
//! nodes going offline, outsiders and forgers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

mod common;

use std::time::{Duration, Instant};

use common::{as_peer, code_of, last_line, trio, wait_until, Control, Node};
use kith_proto::album::hex;
use kith_proto::comment::{Comment, SignedComment};
use kith_proto::identity::PeerId;
use kith_proto::peer::PeerMsg;
use serde_json::{json, Value};

const SOON: Duration = Duration::from_secs(15);

/// Shares a small file from `owner` with `to` and waits until each of them lists the album.
fn share_with(owner: &Node, to: &[&Node], title: &str) -> String {
    let dir = owner.home().join(format!("src-{title}"));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("photo.bin");
    std::fs::write(&f, common::random_bytes(5000, title.len() as u64)).unwrap();
    let mut args = vec!["share".to_string(), f.to_str().unwrap().into()];
    args.extend(["--title".into(), title.into()]);
    for n in to {
        args.extend(["--to".into(), n.id()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = owner.cli(&args);
    assert!(
        o.status.success(),
        "share: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let id = last_line(&o);
    for n in to.iter().filter(|n| n.child.is_some()) {
        assert!(
            wait_until(SOON, || has_album(n, &id)),
            "{} did not get the album",
            n.name
        );
    }
    id
}

fn has_album(n: &Node, id: &str) -> bool {
    n.json(&["albums", "--json"])
        .as_array()
        .is_some_and(|l| l.iter().any(|a| a["id"] == id))
}

fn post(n: &Node, target: &str, text: &str) -> Value {
    n.json(&["comment", target, text, "--json"])["comment"].clone()
}

fn thread(n: &Node, album: &str) -> Vec<Value> {
    n.json(&["comments", album, "--json"])["comments"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The thread as (seq, id, text, hidden), the part every node must agree on.
fn settled(n: &Node, album: &str) -> Vec<(u64, String, String, bool)> {
    thread(n, album)
        .iter()
        .map(|c| {
            (
                c["seq"].as_u64().unwrap_or(0),
                c["id"].as_str().unwrap_or("").to_string(),
                c["text"].as_str().unwrap_or("").to_string(),
                c["hidden"] == true,
            )
        })
        .collect()
}

fn texts(n: &Node, album: &str) -> Vec<String> {
    settled(n, album).into_iter().map(|c| c.2).collect()
}

#[test]
fn three_nodes_end_with_the_same_ordered_thread_after_each_was_offline_at_a_comment() {
    let (mut a, mut b, mut c) = trio();
    let (a_addr, c_addr) = (a.listen_addr(), c.listen_addr());
    let album = share_with(&a, &[&b, &c], "Beach 2026");
    let first = post(&a, &album, "look at the baby!");
    assert_eq!(first["seq"], 1);

    // B comments while C is offline; C sees it when it comes back.
    c.stop();
    let reply = b.json(&["comment", &album, "she has your nose", "--json"]);
    assert_eq!(reply["owner_offline"], false, "the owner is connected");
    let by_b = reply["comment"].clone();
    assert!(wait_until(SOON, || texts(&a, &album).len() == 2));
    c.start_at(&c_addr);
    assert!(
        wait_until(SOON, || texts(&c, &album)
            == ["look at the baby!", "she has your nose"]),
        "C did not catch up: {:?}",
        texts(&c, &album)
    );
    let c_sees = thread(&c, &album);
    assert_eq!(c_sees[1]["id"], by_b["id"]);
    assert_eq!(c_sees[1]["author"], b.id());
    assert_eq!(c_sees[1]["unread"], true);

    // A goes offline; C comments: it waits in C's outbox, across a restart of C.
    let ai = a.id();
    a.stop();
    assert!(wait_until(SOON, || !c.online_with(&ai)));
    let reply = c.json(&["comment", &album, "grandma's eyes, though", "--json"]);
    assert_eq!(reply["owner_offline"], true);
    let pending = reply["comment"].clone();
    assert_eq!(pending["pending"], true);
    assert!(pending["seq"].is_null());
    c.stop();
    c.start_at(&c_addr);
    let mine = thread(&c, &album);
    assert_eq!(mine.len(), 3);
    assert_eq!(
        mine[2]["pending"], true,
        "the outbox did not survive a restart"
    );

    // A returns: C's comment reaches A, and B gets it relayed.
    a.start_at(&a_addr);
    let want = [
        "look at the baby!",
        "she has your nose",
        "grandma's eyes, though",
    ];
    assert!(
        wait_until(SOON, || texts(&b, &album) == want),
        "B: {:?}",
        texts(&b, &album)
    );
    assert!(wait_until(SOON, || settled(&c, &album)
        .iter()
        .all(|x| x.0 > 0)));
    let on_a = settled(&a, &album);
    assert_eq!(on_a.iter().map(|x| x.0).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(settled(&b, &album), on_a);
    assert_eq!(settled(&c, &album), on_a);
    b.stop();
}

#[test]
fn edits_deletions_reactions_and_hiding_reach_every_member_and_unread_counts_clear() {
    let (a, b, c) = trio();
    let album = share_with(&a, &[&b, &c], "Picnic");
    let item = a.json(&["album", &album, "--json"])["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut events = Control::connect(&c);

    let hello = post(&b, &album, "lovely day");
    let on_item = post(&b, &item, "nice light here");
    assert!(wait_until(SOON, || texts(&c, &album).len() == 2));
    let ev = events
        .event(SOON, |e| {
            e["event"] == "comment" && e["comment"]["text"] == "lovely day"
        })
        .expect("a comment event");
    assert_eq!(ev["new"], true);
    assert_eq!(ev["title"], "Picnic");
    assert_eq!(ev["comment"]["author_name"], "Bo");

    // Unread and new, then read.
    let listed = |n: &Node| {
        n.json(&["albums", "--json"])
            .as_array()
            .and_then(|l| l.iter().find(|x| x["id"] == album.as_str()).cloned())
            .unwrap()
    };
    assert_eq!(listed(&c)["unread"], 2);
    assert_eq!(listed(&c)["new"], true);
    assert_eq!(c.json(&["status", "--json"])["unread"], 3);
    assert_eq!(listed(&a)["new"], false);
    assert_eq!(listed(&b)["unread"], 0, "my own comments are not unread");
    assert_eq!(
        events.call(json!({"cmd": "album_read", "album": album}))["ok"],
        true
    );
    assert_eq!(listed(&c)["unread"], 0);
    assert_eq!(listed(&c)["new"], false);
    assert_eq!(c.json(&["status", "--json"])["unread"], 0);
    // A new comment counts, and stops counting once its author deletes it.
    let fleeting = post(&b, &album, "oops, wrong album");
    assert!(wait_until(SOON, || listed(&c)["unread"] == 1));
    let fid = fleeting["id"].as_str().unwrap();
    assert!(b.cli(&["comment", "--delete", fid]).status.success());
    assert!(wait_until(SOON, || listed(&c)["unread"] == 0));
    assert_eq!(c.json(&["status", "--json"])["unread"], 0);

    // Item comments are listed under the item only.
    let on = thread(&c, &item);
    assert_eq!(on.len(), 1);
    assert_eq!(on[0]["id"], on_item["id"]);
    assert_eq!(on[0]["item"], item.as_str());

    // An edit keeps the place in the thread; a deletion removes it everywhere.
    let hid = hello["id"].as_str().unwrap();
    let o = b.cli(&["comment", "--edit", hid, "lovely day!!"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(wait_until(SOON, || texts(&c, &album)
        == ["lovely day!!", "nice light here"]));
    let edited = &thread(&c, &album)[0];
    assert_eq!(edited["seq"], 1);
    assert!(edited["edited"].is_u64());
    // Nobody else may edit it.
    let o = c.cli(&["comment", "--edit", hid, "hijacked"]);
    assert!(!o.status.success());
    let oid = on_item["id"].as_str().unwrap();
    assert!(b.cli(&["comment", "--delete", oid]).status.success());
    assert!(wait_until(SOON, || texts(&c, &album) == ["lovely day!!"]));
    assert!(wait_until(SOON, || texts(&a, &album) == ["lovely day!!"]));

    // Reactions: one per person and emoji, taken back by deleting.
    let r1 = c.json(&["comment", &album, "--react", "❤️", "--json"])["comment"].clone();
    let r2 = c.json(&["comment", &album, "--react", "❤️", "--json"])["comment"].clone();
    assert_eq!(r1["id"], r2["id"]);
    let bad = c.cli(&["comment", &album, "--react", "💩"]);
    assert!(!bad.status.success());
    let reactions = |n: &Node| {
        thread(n, &album)
            .iter()
            .filter(|x| x["reaction"] == "❤️")
            .count()
    };
    assert!(wait_until(SOON, || reactions(&b) == 1));
    assert!(c
        .cli(&["comment", "--delete", r1["id"].as_str().unwrap()])
        .status
        .success());
    assert!(wait_until(SOON, || reactions(&b) == 0));
    let again = c.json(&["comment", &album, "--react", "❤️", "--json"])["comment"].clone();
    assert_eq!(again["id"], r1["id"]);
    assert!(wait_until(SOON, || reactions(&b) == 1));

    // The owner hides B's comment: members get no text, the owner keeps it; then shows it.
    assert!(
        !c.cli(&["comment", "--hide", hid]).status.success(),
        "only the owner hides"
    );
    assert!(a.cli(&["comment", "--hide", hid]).status.success());
    let hidden_on = |n: &Node| {
        thread(n, &album)
            .into_iter()
            .find(|x| x["id"] == hid)
            .map(|x| {
                (
                    x["hidden"] == true,
                    x["text"].as_str().unwrap_or("").to_string(),
                )
            })
    };
    assert!(wait_until(SOON, || hidden_on(&c) == Some((true, String::new()))));
    assert_eq!(hidden_on(&a), Some((true, "lovely day!!".into())));
    // Its author still sees it, marked hidden.
    assert!(wait_until(SOON, || hidden_on(&b)
        == Some((true, "lovely day!!".into()))));
    assert!(a.cli(&["comment", "--unhide", hid]).status.success());
    assert!(wait_until(SOON, || hidden_on(&c)
        == Some((false, "lovely day!!".into()))));
}

#[test]
fn a_long_thread_comes_in_pages_that_fit_the_native_messaging_limit() {
    let a = Node::started("Ann");
    let b = Node::started("Bo");
    a.befriend(&b);
    let album = share_with(&a, &[&b], "Long talk");
    let mut ctl = Control::connect(&a);
    let long = "é".repeat(1990); // about 4 KB of JSON each
    for i in 0..300 {
        let r = ctl.call(json!({"cmd": "comment", "target": album, "text": format!("{i} {long}")}));
        assert_eq!(r["ok"], true, "{r}");
    }
    let first = ctl.call(json!({"cmd": "comments", "target": album}));
    assert!(first.to_string().len() < 1024 * 1024, "a page over 1 MiB");
    let page = first["result"]["comments"].as_array().unwrap().len();
    assert_eq!(first["result"]["total"], 300);
    assert!(page > 0 && page < 300, "{page} comments in one page");
    let next = ctl.call(json!({"cmd": "comments", "target": album, "offset": page}));
    let second = &next["result"]["comments"];
    assert!(second[0]["text"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{page} ")));
    // The CLI pages through all of them, in order.
    let all = thread(&a, &album);
    assert_eq!(all.len(), 300);
    assert!(all[299]["text"].as_str().unwrap().starts_with("299 "));
    // And the member gets them all (pages of entries between nodes too).
    assert!(wait_until(SOON, || thread(&b, &album).len() == 300));
}

fn comment_by(node: &Node, author: PeerId, album: &str, text: &str) -> SignedComment {
    let id = kith_node::home::Home {
        dir: node.home().to_path_buf(),
    }
    .identity()
    .unwrap();
    Comment {
        id: hex(&kith_proto::hash::random::<16>()).into(),
        album: album.into(),
        item: None,
        author,
        at: 1,
        v: 0,
        edited: None,
        text: text.into(),
        reaction: None,
        deleted: false,
    }
    .sign(&id)
}

#[test]
fn a_friend_outside_the_audience_can_neither_read_nor_post_and_forged_comments_are_refused() {
    let (a, mut b, c) = trio();
    let mut d = Node::started("Di");
    a.befriend(&d);
    let album = share_with(&a, &[&b, &c], "Family only");
    post(&b, &album, "first!");
    assert!(wait_until(SOON, || texts(&a, &album).len() == 1));

    // D, A's friend but not in the audience, sees nothing through its node …
    assert!(!d.cli(&["comments", &album]).status.success());
    assert!(!d.cli(&["comment", &album, "let me in"]).status.success());
    // … nor by asking A directly as D.
    let di: PeerId = d.id().parse().unwrap();
    d.stop();
    let answers = as_peer(
        &d,
        &a,
        vec![
            PeerMsg::GetComments {
                album: album.as_str().into(),
                since: 0,
            },
            PeerMsg::CommentPost {
                comment: comment_by(&d, di, &album, "let me in"),
            },
        ],
    );
    assert_eq!(code_of(&answers[0]), "not_shared");
    assert_eq!(code_of(&answers[1]), "not_shared");

    // B, a member, cannot post under C's name, nor post an altered comment.
    let bi: PeerId = b.id().parse().unwrap();
    let ci: PeerId = c.id().parse().unwrap();
    b.stop();
    let forged = comment_by(&b, ci, &album, "C says hi"); // signed by B, claims C
    let mut altered = comment_by(&b, bi, &album, "I like it");
    altered.comment.text = "I hate it".into();
    // C's genuine comment, replayed by B, is refused too: the author must send it.
    let c_home = kith_node::home::Home {
        dir: c.home().to_path_buf(),
    };
    let genuine = Comment {
        text: "a real one from C".into(),
        ..comment_by(&b, ci, &album, "x").comment
    }
    .sign(&c_home.identity().unwrap());
    let answers = as_peer(
        &b,
        &a,
        vec![
            PeerMsg::CommentPost { comment: forged },
            PeerMsg::CommentPost { comment: altered },
            PeerMsg::CommentPost { comment: genuine },
            // Entries pushed by a member as if it were the owner are refused.
            PeerMsg::Comments {
                album: album.as_str().into(),
                since: 0,
                rev: 9,
                entries: vec![],
                more: false,
            },
            PeerMsg::GetComments {
                album: album.as_str().into(),
                since: 0,
            },
        ],
    );
    assert_eq!(code_of(&answers[0]), "malformed", "forged author");
    assert_eq!(code_of(&answers[1]), "malformed", "altered text");
    assert_eq!(code_of(&answers[2]), "not_author", "replayed by another");
    assert_eq!(
        code_of(&answers[3]),
        "not_shared",
        "entries from a non-owner"
    );
    // A member may read the thread.
    match &answers[4] {
        PeerMsg::Comments { entries, .. } => assert_eq!(entries.len(), 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(texts(&a, &album), ["first!"], "nothing forged got in");
    assert_eq!(texts(&c, &album), ["first!"]);
    assert!(a.log().contains("refused a comment"));
}

/// A small xorshift generator, seeded for a reproducible chaos run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// An album of the chaos run: its ID, who holds it (owner and audience), what was posted.
struct Shared {
    id: String,
    holders: Vec<usize>,
    posted: Vec<String>,
}

/// Whether every holder of each album has the same thread, made of exactly the comments
/// posted on it, and every other node has neither the album nor its comments.
fn converged(nodes: &[Node], albums: &[Shared]) -> Result<(), String> {
    for a in albums {
        let first = settled(&nodes[a.holders[0]], &a.id);
        let mut got: Vec<String> = first.iter().map(|c| c.2.clone()).collect();
        got.sort();
        let mut want = a.posted.clone();
        want.sort();
        if got != want {
            return Err(format!(
                "{}: {} comments, want {}",
                a.id,
                got.len(),
                want.len()
            ));
        }
        if first.iter().any(|c| c.0 == 0) {
            return Err(format!("{}: pending comments", a.id));
        }
        for (i, n) in nodes.iter().enumerate() {
            if a.holders.contains(&i) {
                if settled(n, &a.id) != first {
                    return Err(format!("{}: {} differs", a.id, n.name));
                }
            } else if has_album(n, &a.id) || n.cli(&["comments", &a.id]).status.success() {
                return Err(format!(
                    "{}: {} has it but is not in its audience",
                    a.id, n.name
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn chaos_three_nodes_stopped_and_started_at_random_end_with_every_album_and_comment_they_should_and_none_they_should_not(
) {
    let secs: u64 = std::env::var("KITH_CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("KITH_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| kith_node::clock::now() | 1);
    eprintln!("chaos: {secs} s, seed {seed} (KITH_CHAOS_SEED to replay)");
    let mut rng = Rng(seed);
    let mut nodes = vec![
        Node::started("Ann"),
        Node::started("Bo"),
        Node::started("Cy"),
    ];
    nodes[0].befriend(&nodes[1]);
    nodes[0].befriend(&nodes[2]);
    nodes[1].befriend(&nodes[2]);
    let addrs: Vec<String> = nodes.iter().map(Node::listen_addr).collect();
    let ids: Vec<String> = nodes.iter().map(Node::id).collect();
    assert!(wait_until(SOON, || (0..3).all(|i| (0..3)
        .filter(|j| *j != i)
        .all(|j| nodes[i].online_with(&ids[j])))));

    let mut albums: Vec<Shared> = Vec::new();
    let (mut posts, mut restarts, mut kills) = (0, 0, 0);
    let start = Instant::now();
    let mut step = 0;
    while start.elapsed() < Duration::from_secs(secs) {
        step += 1;
        let i = rng.below(3);
        let up = nodes[i].child.is_some();
        match rng.below(10) {
            0 | 1 if up => {
                if rng.below(2) == 0 {
                    nodes[i].kill9();
                    kills += 1;
                } else {
                    nodes[i].stop();
                }
            }
            0 | 1 => {
                nodes[i].start_at(&addrs[i]);
                restarts += 1;
            }
            2 if up && albums.len() < 8 => {
                // Shared with both others, or with one of them only.
                let mut holders: Vec<usize> = (0..3).filter(|j| *j != i).collect();
                if rng.below(3) == 0 {
                    holders.remove(rng.below(2));
                }
                let title = format!("album {step}");
                let dir = nodes[i].home().join(format!("src{step}"));
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join("a.bin"), common::random_bytes(2000, step)).unwrap();
                let mut args = vec!["share", dir.to_str().unwrap(), "--title", &title];
                for j in &holders {
                    args.extend(["--to", &ids[*j]]);
                }
                let o = nodes[i].cli(&args);
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                holders.insert(0, i);
                albums.push(Shared {
                    id: last_line(&o),
                    holders,
                    posted: Vec::new(),
                });
            }
            _ if up && !albums.is_empty() => {
                let k = rng.below(albums.len());
                let text = format!("comment {step} by {}", nodes[i].name);
                // Only a node that has the album can comment on it; others are told so.
                let o = nodes[i].cli(&["comment", &albums[k].id, &text]);
                if o.status.success() {
                    assert!(albums[k].holders.contains(&i), "an outsider commented");
                    albums[k].posted.push(text);
                    posts += 1;
                } else {
                    assert!(
                        albums[k].holders[0] != i,
                        "the owner could not comment: {}",
                        String::from_utf8_lossy(&o.stderr)
                    );
                }
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for (i, n) in nodes.iter_mut().enumerate() {
        if n.child.is_none() {
            n.start_at(&addrs[i]);
        }
    }
    eprintln!(
        "chaos: {step} steps, {} albums, {posts} comments, {restarts} starts, {kills} kill -9",
        albums.len()
    );
    assert!(
        posts >= 20 && restarts >= 5,
        "too little happened to prove anything"
    );
    let mut last = Err(String::new());
    let settled_by = wait_until(Duration::from_secs(60), || {
        last = converged(&nodes, &albums);
        last.is_ok()
    });
    assert!(
        settled_by,
        "not converged after 60 s: {last:?} (seed {seed})"
    );
    for a in &albums {
        for &i in &a.holders {
            assert!(
                has_album(&nodes[i], &a.id),
                "{} lacks {}",
                nodes[i].name,
                a.id
            );
        }
    }
}

#[test]
fn the_hundredth_comment_edit_within_a_second_is_refused_with_rate_limited_from_a_peer_and_locally()
{
    let (a, mut b, c) = trio();
    let album = share_with(&a, &[&b, &c], "Busy");
    let started = Instant::now();

    // Cy's own edits of its comment on Ann's album, through its API: refused at once, locally.
    let mine = post(&c, &album, "mine");
    let id = mine["id"].as_str().unwrap().to_string();
    let mut ctl = Control::connect(&c);
    let ids: Vec<u64> = (0..100)
        .map(|i| ctl.send(json!({"cmd": "comment_edit", "comment": id, "text": format!("e{i}")})))
        .collect();
    // Requests run side by side: their replies come in any order, so they are counted.
    let mut by_id = std::collections::HashMap::new();
    while by_id.len() < ids.len() {
        let v = ctl.frame(Duration::from_secs(30)).expect("a reply");
        if let Some(i) = v["id"].as_u64().filter(|i| ids.contains(i)) {
            by_id.insert(i, v);
        }
    }
    // One more post is earned each second.
    let earned = started.elapsed().as_secs() as usize + 1;
    let ok = by_id.values().filter(|r| r["ok"] == true).count();
    let limited = by_id
        .values()
        .filter(|r| r["error"]["code"] == "rate_limited")
        .count();
    let other: Vec<&Value> = by_id
        .values()
        .filter(|r| r["ok"] != true && r["error"]["code"] != "rate_limited")
        .collect();
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(ok + limited, 100);
    assert!((1..=59 + earned).contains(&ok), "{ok} of 100 edits taken");

    // Ben, as a peer: one comment and 99 edits of it, sent as fast as the owner answers.
    let bi: PeerId = b.id().parse().unwrap();
    b.stop();
    let first = comment_by(&b, bi, &album, "v0");
    let identity = kith_node::home::Home {
        dir: b.home().to_path_buf(),
    }
    .identity()
    .unwrap();
    let posts: Vec<PeerMsg> = (0..100u32)
        .map(|v| PeerMsg::CommentPost {
            comment: Comment {
                v,
                text: format!("v{v}"),
                ..first.comment.clone()
            }
            .sign(&identity),
        })
        .collect();
    let started = Instant::now();
    let answers = as_peer(&b, &a, posts);
    let earned = started.elapsed().as_secs() as usize + 1;
    let codes: Vec<String> = answers.iter().map(code_of).collect();
    assert_eq!(codes[0], "Ok");
    assert!(
        codes.iter().all(|c| c == "Ok" || c == "rate_limited"),
        "{codes:?}"
    );
    let taken = codes.iter().filter(|c| *c == "Ok").count();
    assert!(
        (60..=60 + earned).contains(&taken),
        "{taken} of 100 taken: {codes:?}"
    );
    // The thread holds the last version taken, not a refused one.
    let last = codes.iter().rposition(|c| c == "Ok").unwrap_or(0);
    let texts = texts(&a, &album);
    assert!(texts.contains(&format!("v{last}")), "{texts:?}");
}
