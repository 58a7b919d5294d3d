//! Multi-process tests: real `kith` nodes on loopback befriend each other by invite.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

mod common;

use std::time::Duration;

use common::{last_line, wait_until, Node};
use kith_proto::peer::PeerMsg;
use serde_json::json;

const SOON: Duration = Duration::from_secs(10);

#[test]
fn three_nodes_befriend_each_other_by_invites_both_ways() {
    let a = Node::started("Ann");
    let b = Node::started("Bo");
    let c = Node::started("Cy");
    a.befriend(&b); // A invites B
    c.befriend(&a); // C invites A: the other direction
    b.befriend(&c);
    for (x, y) in [(&a, &b), (&a, &c), (&b, &c)] {
        let (xi, yi) = (x.id(), y.id());
        assert!(
            wait_until(SOON, || x.online_with(&yi) && y.online_with(&xi)),
            "{} and {} not connected",
            x.name,
            y.name
        );
        let fx = x.friend(&yi).unwrap();
        let fy = y.friend(&xi).unwrap();
        assert_eq!(fx["name"], y.name.as_str());
        assert_eq!(fy["name"], x.name.as_str());
        assert_eq!(
            fx["safety_number"], fy["safety_number"],
            "both sides show one safety number"
        );
        // 60 digits (Signal's size) in 12 groups of 5.
        let n = fx["safety_number"].as_str().unwrap();
        let groups: Vec<&str> = n.split(' ').collect();
        assert_eq!(groups.len(), 12, "{n}");
        assert!(groups.iter().all(|g| g.len() == 5), "{n}");
    }
    assert_ne!(
        a.friend(&b.id()).unwrap()["safety_number"],
        a.friend(&c.id()).unwrap()["safety_number"]
    );
    // The text listing shows the safety number too.
    let text = common::stdout(&a.cli(&["friends"]));
    assert!(text.contains(
        a.friend(&b.id()).unwrap()["safety_number"]
            .as_str()
            .unwrap()
    ));
}

#[test]
fn a_used_invite_is_refused_for_anyone_and_adds_no_friend() {
    let a = Node::started("Ann");
    let b = Node::started("Bo");
    let c = Node::started("Cy");
    let link = a.invite();
    assert!(b.cli(&["accept", &link]).status.success());
    // Someone else with the same link: the used invite admits nobody at the handshake.
    let o = c.cli(&["accept", &link, "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(err["error"]["code"], "invite_refused", "{err}");
    assert!(c.friends().is_empty());
    assert_eq!(a.friends().len(), 1);
    // The friend who used it cannot use it twice either.
    let o = b.cli(&["accept", &link]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already used"));
    assert_eq!(a.friends().len(), 1);
}

/// A (stopped) node's reach secret, read from its store (made there on first use).
fn reach_secret(n: &Node) -> [u8; 32] {
    let store = kith_node::store::Store::open(&n.home().join("db")).expect("the store opens");
    store.reach_secret().expect("the reach secret")
}

#[test]
fn an_invite_link_carries_its_own_lookup_secret_and_an_old_link_holder_changes_no_reach_secret() {
    let mut a = Node::new("Ann");
    let before = reach_secret(&a);
    a.start();
    let mut b = Node::started("Bo");
    let c = Node::started("Cy");
    let link = a.invite();
    let now = kith_node::clock::now();
    let inv = kith_proto::invite::parse(&link, now).unwrap();
    let lookup = inv.lookup.expect("the link carries a lookup secret");
    // The link does not carry A's reach secret: whoever sees it cannot find A's own record.
    assert_ne!(lookup, before, "the invite link carries the reach secret");
    // Every invite has its own.
    let other = kith_proto::invite::parse(&a.invite(), now).unwrap();
    assert_ne!(other.lookup, Some(lookup));
    assert_ne!(other.lookup, Some(before));
    assert!(b.cli(&["accept", &link]).status.success());
    // Someone holding the old link tries it again, twice: refused, and nothing changes.
    for _ in 0..2 {
        assert_eq!(c.cli(&["accept", &link]).status.code(), Some(1));
    }
    let (ai, bi) = (a.id(), b.id());
    assert!(wait_until(SOON, || a.online_with(&bi) && b.online_with(&ai)));
    a.stop();
    b.stop();
    assert_eq!(reach_secret(&a), before, "A's reach secret changed");
    // B learnt A's real reach secret in the authenticated hello, not from the link.
    let bs = kith_node::store::Store::open(&b.home().join("db")).unwrap();
    let f = bs
        .friend(&ai.parse().unwrap())
        .unwrap()
        .expect("A is B's friend");
    assert_eq!(f.reach, Some(kith_proto::album::hex(&before)));
}

#[test]
fn an_expired_invite_is_refused_and_adds_no_friend() {
    let a = Node::started("Ann");
    let b = Node::started("Bo");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let home = kith_node::home::Home {
        dir: a.home().to_path_buf(),
    };
    let link = rt.block_on(async {
        let mut c = kith::control::Client::connect(&home).await.unwrap();
        let cmd = kith_proto::api::Command::InviteCreate {
            expires_secs: Some(1),
        };
        let r: kith_proto::api::reply::Invite = c.call_as(&cmd).await.unwrap();
        r.link
    });
    std::thread::sleep(Duration::from_millis(2100));
    let o = b.cli(&["accept", &link, "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(err["error"]["code"], "invite_expired");
    assert!(a.friends().is_empty() && b.friends().is_empty());
}

#[test]
fn a_tampered_invite_is_refused_with_a_clear_error_and_adds_no_friend() {
    let a = Node::started("Ann");
    let b = Node::started("Bo");
    let link = a.invite();
    // Change one character in the middle of the payload.
    let mut bytes = link.into_bytes();
    let mid = bytes.len() / 2;
    bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let o = b.cli(&["accept", &tampered]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("damaged or was altered"));
    let o = b.cli(&["accept", "https://example.com/not-an-invite"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(a.friends().is_empty() && b.friends().is_empty());
}

#[test]
fn unfriend_drops_the_connection_and_the_old_friend_cannot_reconnect() {
    let a = Node::started("Ann");
    let b = Node::started("Bo");
    a.befriend(&b);
    let (ai, bi) = (a.id(), b.id());
    assert!(wait_until(SOON, || a.online_with(&bi) && b.online_with(&ai)));
    // By name.
    let o = a.cli(&["unfriend", "Bo"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(last_line(&o), bi);
    assert!(a.friends().is_empty());
    assert!(
        wait_until(SOON, || !b.online_with(&ai)),
        "B still connected after unfriend"
    );
    // B keeps trying to reach A; A refuses it at the handshake.
    std::thread::sleep(Duration::from_secs(4));
    assert!(!b.online_with(&ai));
    assert!(a.friends().is_empty());
    assert!(
        a.log().contains("refused a connection from a stranger"),
        "A did not log the refusal"
    );
}

#[test]
fn unfriend_accepts_a_unique_prefix_and_refuses_unknown_or_ambiguous_ones() {
    let a = Node::started("Ann");
    let b = Node::started("Bo");
    a.befriend(&b);
    assert_eq!(
        a.cli(&["unfriend", "nobody-like-this"]).status.code(),
        Some(1)
    );
    let bi = b.id();
    let o = a.cli(&["unfriend", &bi[..10]]);
    assert!(o.status.success());
    assert!(a.friends().is_empty());
}

#[test]
fn a_friend_whose_port_changed_is_reached_again_after_it_reconnects() {
    let mut a = Node::started("Ann");
    let mut b = Node::started("Bo");
    a.befriend(&b);
    let (ai, bi) = (a.id(), b.id());
    assert!(wait_until(SOON, || a.online_with(&bi)));
    let old = a.friend(&bi).unwrap()["addrs"].clone();
    b.kill9();
    b.start(); // a new random port
    let new_port = b.json(&["status", "--json"])["listen_addr"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!old.to_string().contains(&new_port));
    // B dials A (whose address it knows); A learns B's new address from the hello.
    assert!(wait_until(SOON, || a.friend(&bi).unwrap()["addrs"]
        .to_string()
        .contains(&new_port)));
    assert!(wait_until(SOON, || a.online_with(&bi) && b.online_with(&ai)));
    // Now A restarts (on a new port too) and reaches B at B's new address.
    a.stop();
    assert!(wait_until(SOON, || !b.online_with(&ai)));
    a.start();
    assert!(wait_until(SOON, || a.online_with(&bi) && b.online_with(&ai)));
}

#[test]
fn second_init_refuses_and_changes_nothing() {
    let n = Node::new("Ann");
    let id = n.id();
    let before = std::fs::read(n.home().join("identity.key")).unwrap();
    let o = n.cli(&["init", "--name", "Other"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        std::fs::read(n.home().join("identity.key")).unwrap(),
        before
    );
    assert_eq!(n.id(), id);
}

// Unix only: file modes; on Windows the pipe's descriptor is unit-tested in kith_node::ipc.
#[cfg(unix)]
#[test]
fn key_file_and_control_socket_are_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;
    let n = Node::started("Ann");
    let mode = |p: &str| {
        std::fs::metadata(n.home().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("identity.key"), 0o600);
    assert_eq!(mode("kith.sock"), 0o600);
}

#[test]
fn one_node_per_home_and_stop_ends_it() {
    let mut n = Node::started("Ann");
    let o = n.cli(&["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already running"));
    assert!(n.cli(&["stop"]).status.success());
    let mut child = n.child.take().unwrap();
    assert!(common::wait_child(&mut child, SOON).is_some_and(|s| s.success()));
    assert_eq!(n.cli(&["status"]).status.code(), Some(3));
    assert_eq!(n.cli(&["friends"]).status.code(), Some(3));
    assert_eq!(n.cli(&["stop"]).status.code(), Some(3));
    let o = n.cli(&["status", "--json"]);
    let err: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(err["error"]["code"], "no_node");
    n.start(); // a stopped node starts again on the same home
}

// Unix only: socket paths and XDG_RUNTIME_DIR; Windows names a pipe from a hash of the home.
#[cfg(unix)]
#[test]
fn long_home_path_puts_the_control_socket_under_xdg_runtime_dir() {
    let base = tempfile::tempdir().unwrap();
    let runtime = tempfile::tempdir().unwrap();
    // A runtime folder is private to its user (XDG Base Directory spec); serve checks it.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(runtime.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let deep = base.path().join("a".repeat(60)).join("b".repeat(60));
    let run = |args: &[&str]| {
        common::kith_command()
            .arg("--home")
            .arg(&deep)
            .args(args)
            .env("XDG_RUNTIME_DIR", runtime.path())
            .output()
            .unwrap()
    };
    assert!(run(&["init", "--name", "Deep"]).status.success());
    let mut child = common::kith_command()
        .arg("--home")
        .arg(&deep)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(SOON, || run(&["status"]).status.success()));
    let socks: Vec<_> = std::fs::read_dir(runtime.path())
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(socks.len(), 1, "socket not under XDG_RUNTIME_DIR");
    assert!(run(&["stop"]).status.success());
    assert!(common::wait_child(&mut child, SOON).is_some());
}

// Unix only: the socket's folder and its modes; a Windows pipe has no folder.
#[cfg(unix)]
#[test]
fn a_planted_link_or_open_folder_for_the_control_socket_makes_serve_refuse() {
    use std::os::unix::fs::PermissionsExt;
    let base = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    // A home path too long for a socket: the socket falls back to $TMPDIR/kith-<uid>/.
    let deep = base.path().join("a".repeat(60)).join("b".repeat(60));
    let uid = unsafe { libc::getuid() };
    let fallback = tmp.path().join(format!("kith-{uid}"));
    let run = |args: &[&str]| {
        common::kith_command()
            .arg("--home")
            .arg(&deep)
            .args(args)
            .env_remove("XDG_RUNTIME_DIR")
            .env("TMPDIR", tmp.path())
            .output()
            .unwrap()
    };
    assert!(run(&["init", "--name", "Deep"]).status.success());
    let spawn = |stderr: std::process::Stdio| {
        common::kith_command()
            .arg("--home")
            .arg(&deep)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("XDG_RUNTIME_DIR")
            .env("TMPDIR", tmp.path())
            .stderr(stderr)
            .spawn()
            .unwrap()
    };
    let serve = || {
        let mut child = spawn(std::process::Stdio::piped());
        let ended = common::wait_child(&mut child, SOON);
        let mut err = String::new();
        if ended.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        (ended, err)
    };
    // Someone planted a link to a folder of theirs where my socket would go.
    std::os::unix::fs::symlink(elsewhere.path(), &fallback).unwrap();
    let (ended, err) = serve();
    assert!(
        ended.is_some_and(|s| !s.success()),
        "served through a planted link"
    );
    assert!(err.contains("is a link"), "{err}");
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    // A real folder, but open to others.
    std::fs::remove_file(&fallback).unwrap();
    std::fs::create_dir(&fallback).unwrap();
    std::fs::set_permissions(&fallback, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (ended, err) = serve();
    assert!(
        ended.is_some_and(|s| !s.success()),
        "served in an open folder"
    );
    assert!(err.contains("open to others"), "{err}");
    // Made private, the same folder serves.
    std::fs::set_permissions(&fallback, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut child = spawn(std::process::Stdio::null());
    assert!(wait_until(SOON, || run(&["status"]).status.success()));
    assert!(run(&["stop"]).status.success());
    assert!(common::wait_child(&mut child, SOON).is_some());
}

#[test]
fn identity_export_and_import_move_the_identity_with_its_friends() {
    let a = Node::started("Ann");
    let b = Node::started("Bo");
    a.befriend(&b);
    let out = a.home().join("ann.kithid");
    let exp = common::kith_command()
        .arg("--home")
        .arg(a.home())
        .args(["identity", "export"])
        .arg(&out)
        .env("KITH_PASSPHRASE", "long enough secret")
        .output()
        .unwrap();
    assert!(
        exp.status.success(),
        "{}",
        String::from_utf8_lossy(&exp.stderr)
    );
    let new_home = tempfile::tempdir().unwrap();
    let import = |pass: &str| {
        common::kith_command()
            .arg("--home")
            .arg(new_home.path())
            .args(["identity", "import"])
            .arg(&out)
            .env("KITH_PASSPHRASE", pass)
            .output()
            .unwrap()
    };
    let bad = import("wrong passphrase");
    assert_eq!(bad.status.code(), Some(1));
    assert!(!new_home.path().join("identity.key").exists());
    let good = import("long enough secret");
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert_eq!(last_line(&good), a.id());
    let mut moved = Node {
        dir: new_home,
        child: None,
        name: "Ann2".into(),
    };
    moved.start();
    let friends = moved.friends();
    assert_eq!(friends.len(), 1);
    assert_eq!(friends[0]["id"], b.id());
    // A second import into the same home refuses.
    assert_eq!(
        common::kith_command()
            .arg("--home")
            .arg(moved.home())
            .args(["identity", "import"])
            .arg(&out)
            .env("KITH_PASSPHRASE", "long enough secret")
            .output()
            .unwrap()
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn serve_without_a_port_uses_the_stable_port_chosen_at_init() {
    let n = Node::new("Ann");
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(n.home().join("config.json")).unwrap()).unwrap();
    let port = cfg["port"].as_u64().unwrap();
    let mut child = common::kith_command()
        .arg("--home")
        .arg(n.home())
        .arg("serve")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(SOON, || n.cli(&["status"]).status.success()));
    let listen = n.json(&["status", "--json"])["listen_addr"]
        .as_str()
        .unwrap()
        .to_string();
    // No --listen: the address from KITH_LISTEN (127.0.0.1, set by `kith_command`) with the
    // port from init; without it, all interfaces (0.0.0.0), which the guard refuses in tests.
    let stopped = n.cli(&["stop"]).status.success();
    let exited = common::wait_child(&mut child, SOON).is_some_and(|s| s.success());
    assert_eq!(listen, format!("127.0.0.1:{port}"));
    assert!(stopped && exited);
}

#[test]
fn introductions_and_relays_are_made_only_between_two_friends_and_relays_only_when_opted_in() {
    let p = Node::started("Pat");
    let mut a = Node::started("Ann");
    let c = Node::started("Cy");
    p.befriend(&a);
    p.befriend(&c);
    let ci = c.id();
    assert!(wait_until(Duration::from_secs(10), || p.online_with(&ci)));
    a.stop();
    let stranger: kith_proto::identity::PeerId = Node::new("Stranger").id().parse().unwrap();
    // Ann asks Pat to introduce her to Cy, who is Pat's friend but not hers; and to a key
    // that is nobody's friend.
    let answers = common::as_peer(
        &a,
        &p,
        vec![
            PeerMsg::Introduce {
                peer: ci.parse().unwrap(),
            },
            PeerMsg::Introduce { peer: stranger },
            // Pat does not relay unless it opted in …
            PeerMsg::RelayAsk {
                peer: ci.parse().unwrap(),
            },
        ],
    );
    // One answer whether Cy refused or the key is nobody's friend: Ann learns nothing about
    // Pat's friends from it.
    assert_eq!(
        answers[0], answers[1],
        "a refusal and a stranger look alike"
    );
    assert_eq!(common::code_of(&answers[0]), "peer_unreachable");
    assert_eq!(common::code_of(&answers[2]), "no_relay");
    assert!(c.log().contains("refused an introduction to a stranger"));
    // … and then only between two friends of each other's.
    let r = common::api(&p, json!({"cmd": "settings", "help_friends": true}));
    assert_eq!(r["result"]["help_friends"], true, "{r}");
    let answers = common::as_peer(
        &a,
        &p,
        vec![PeerMsg::RelayAsk {
            peer: ci.parse().unwrap(),
        }],
    );
    assert_eq!(
        common::code_of(&answers[0]),
        "peer_unreachable",
        "Cy refuses the relay, and Ann is told only that it cannot be reached"
    );
    assert!(c.log().contains("refused a relay to a stranger"));
}

#[test]
fn an_impostor_friend_is_never_asked_to_introduce_me_to_a_friend_it_does_not_share() {
    let ann = Node::started("Ann");
    let xi = Node::started("Xi");
    let pat = Node::started("Pat");
    let imp = Node::started("Imp");
    // Pat is a friend of both Ann and Xi; Imp is Ann's friend only.
    pat.befriend(&xi);
    ann.befriend(&xi);
    ann.befriend(&pat);
    ann.befriend(&imp);
    let (xi_id, pat_id, imp_id) = (xi.id(), pat.id(), imp.id());
    assert!(wait_until(SOON, || ann.online_with(&pat_id)
        && ann.online_with(&imp_id)
        && ann.online_with(&xi_id)));
    // Xi goes away: Ann looks for a way to it through friends who know it.
    let mut xi = xi;
    xi.stop();
    assert!(
        wait_until(Duration::from_secs(30), || pat
            .log()
            .contains("asked for an introduction")),
        "Pat, who shares Xi, was never asked"
    );
    assert!(
        !imp.log().contains("asked for an introduction"),
        "Imp learnt that Ann has a friend it does not know"
    );
}

/// One friend's `observed` does not become my public address (`status` keeps `public` null);
/// a second friend seeing me at the same address makes it so.
#[test]
fn one_friends_observed_address_is_not_my_public_address_until_a_second_friend_agrees() {
    let a = Node::started("Ann");
    let mut b = Node::started("Bo");
    let mut c = Node::started("Cy");
    a.befriend(&b);
    a.befriend(&c);
    b.stop();
    c.stop();
    let public = || a.json(&["status", "--json"])["reach"]["public"].clone();
    let seen: std::net::SocketAddr = "203.0.113.7:41000".parse().unwrap();
    // The ping's answer comes after the hello was taken in.
    let answers = common::as_peer_observed(&b, &a, seen, vec![PeerMsg::Ping]);
    assert_eq!(answers, vec![PeerMsg::Pong]);
    assert_eq!(public(), serde_json::Value::Null, "one friend alone");
    common::as_peer_observed(&c, &a, seen, vec![PeerMsg::Ping]);
    assert!(
        wait_until(Duration::from_secs(5), || public()
            == json!(seen.to_string())),
        "two friends agree: {}",
        public()
    );
}

/// Open file descriptors of a running node.
#[cfg(unix)]
fn open_fds(n: &Node) -> usize {
    let pid = n.child.as_ref().expect("running").id();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc")
        .count()
}

/// A relay asks its target first and opens a socket only once it agrees: 2,000 asks the
/// target refuses leave the helping node's descriptors within 64 of where they were. And a
/// friend gets at most 4 relays at once: the fifth is refused with `relay_busy`.
// Unix only: counts the node's descriptors in /proc.
#[cfg(unix)]
#[test]
fn refused_relay_asks_open_no_socket_and_a_fifth_relay_at_once_for_one_friend_is_refused() {
    let p = Node::started("Pat");
    let mut a = Node::started("Ann");
    let c = Node::started("Cy");
    p.befriend(&a);
    p.befriend(&c);
    let ci: kith_proto::identity::PeerId = c.id().parse().unwrap();
    assert!(wait_until(Duration::from_secs(10), || p.online_with(&ci.to_string())));
    let r = common::api(&p, json!({"cmd": "settings", "help_friends": true}));
    assert_eq!(r["result"]["help_friends"], true, "{r}");
    a.stop();
    let before = open_fds(&p);
    // Cy is not Ann's friend: it refuses each relay (Ann hears only that Cy cannot be reached).
    let asks = vec![PeerMsg::RelayAsk { peer: ci }; 2000];
    let answers = common::as_peer(&a, &p, asks);
    assert!(
        answers
            .iter()
            .all(|m| common::code_of(m) == "peer_unreachable"),
        "{:?}",
        answers
            .iter()
            .find(|m| common::code_of(m) != "peer_unreachable")
    );
    assert!(c.log().contains("refused a relay to a stranger"));
    let after = open_fds(&p);
    assert!(
        after < before + 64,
        "{before} descriptors before 2,000 refused relay asks, {after} after"
    );
    // Now Cy agrees: four relays at once for Ann, and no fifth.
    a.start();
    c.befriend(&a);
    a.stop();
    let answers = common::as_peer(&a, &p, vec![PeerMsg::RelayAsk { peer: ci }; 5]);
    for m in &answers[..4] {
        assert!(matches!(m, PeerMsg::Relayed { .. }), "{m:?}");
    }
    assert_eq!(common::code_of(&answers[4]), "relay_busy");
}

/// An introduction naming 16 addresses (the most a message may carry) makes the node dial at
/// most 4 of them: 16 UDP sockets stand in for the addresses, and at most 4 hear a packet.
#[test]
fn an_introduction_with_sixteen_addresses_makes_the_node_dial_at_most_four() {
    let b = Node::started("Bo");
    let mut p = Node::started("Pat");
    let mut x = Node::started("Xan");
    b.befriend(&p);
    b.befriend(&x);
    p.stop();
    x.stop();
    let socks: Vec<std::net::UdpSocket> = (0..16)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let addrs = socks.iter().map(|s| s.local_addr().unwrap()).collect();
    let answers = common::as_peer(
        &p,
        &b,
        vec![PeerMsg::IntroduceFrom {
            peer: x.id().parse().unwrap(),
            addrs,
        }],
    );
    assert_eq!(answers, vec![PeerMsg::Ok]);
    // A punched dial starts one address every 250 ms: 16 would all have started by 5 s.
    std::thread::sleep(Duration::from_secs(5));
    let mut buf = [0u8; 2048];
    let dialled = socks
        .iter()
        .filter(|s| {
            s.set_nonblocking(true).unwrap();
            s.recv_from(&mut buf).is_ok()
        })
        .count();
    assert!(
        (1..=4).contains(&dialled),
        "{dialled} of 16 addresses dialled"
    );
}
