//! Load: many friends fetching from one node at once, and a stranger flooding it with
//! handshakes (and the streams it would open) while a friend fetches.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

mod common;

use kith_node::net::tls::SelfSigned as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{last_line, random_bytes, wait_until, Node};

/// Shares `file` from `owner` with `to` (all of them) and waits until each has the album.
fn share(owner: &Node, file: &std::path::Path, to: &[&Node]) -> String {
    let mut args = vec!["share", file.to_str().expect("path")];
    let ids: Vec<String> = to.iter().map(|n| n.id()).collect();
    for id in &ids {
        args.extend(["--to", id.as_str()]);
    }
    let o = owner.cli(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let album = last_line(&o);
    for n in to {
        assert!(
            wait_until(Duration::from_secs(20), || n
                .json(&["albums", "--json"])
                .as_array()
                .is_some_and(|l| l.iter().any(|x| x["id"] == album.as_str()))),
            "album did not reach {}",
            n.name
        );
    }
    album
}

#[test]
fn fifty_simultaneous_fetches_by_five_friends_from_one_node_all_complete_verified() {
    let mut owner = Node::new("Ann");
    owner.start();
    let mut friends: Vec<Node> = ["Bo", "Cy", "Di", "Ed", "Flo"]
        .iter()
        .map(|n| {
            let mut f = Node::new(n);
            f.start();
            owner.befriend(&f);
            f
        })
        .collect();
    let refs: Vec<&Node> = friends.iter().collect();
    let src = owner.home().join("src");
    std::fs::create_dir_all(&src).expect("src");
    let mut albums = Vec::new();
    for i in 0..10u64 {
        let data = random_bytes(2 * 1024 * 1024, 100 + i);
        let path = src.join(format!("f{i}.bin"));
        std::fs::write(&path, &data).expect("write");
        albums.push((share(&owner, &path, &refs), data));
    }
    let t = Instant::now();
    let mut running = Vec::new();
    for f in &friends {
        for (i, (album, _)) in albums.iter().enumerate() {
            let out = f.home().join(format!("got{i}"));
            running.push((
                f.name.clone(),
                i,
                out.clone(),
                common::spawn_fetch(f, album, &out, 300),
            ));
        }
    }
    assert_eq!(running.len(), 50);
    for (name, i, out, child) in running {
        let o = child.wait_with_output().expect("fetch");
        assert!(
            o.status.success(),
            "{name}'s fetch {i} failed: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        let got = std::fs::read(out.join(format!("f{i}.bin"))).expect("fetched file");
        assert!(got == albums[i].1, "{name}'s copy of f{i}.bin differs");
    }
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "load: 50 fetches of 2 MiB by 5 friends from one node in {secs:.1} s ({:.1} MB/s in all)",
        100.0 * 1.048_576 / secs
    );
    for f in &mut friends {
        f.stop();
    }
}

/// A stranger (a key no one befriended) dialling `to` from 127.0.0.2 with `tasks` handshakes
/// at once, again and again until `stop`; counts attempts and connections that got through.
fn flood(
    to: &Node,
    tasks: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
    attempts: Arc<AtomicUsize>,
    through: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    let to_id: kith_proto::identity::PeerId = to.id().parse().expect("id");
    let addr: std::net::SocketAddr = to.listen_addr().parse().expect("addr");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            let stranger = kith_proto::identity::Identity::generate().expect("identity");
            let (cert, key) = stranger.certificate(None).expect("cert");
            let cfg = kith_node::net::tls::client_config(cert, key, to_id).expect("client config");
            let ep = quinn::Endpoint::client("127.0.0.2:0".parse().expect("addr")).expect("ep");
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..tasks {
                let (ep, cfg, stop) = (ep.clone(), cfg.clone(), stop.clone());
                let (attempts, through) = (attempts.clone(), through.clone());
                set.spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        attempts.fetch_add(1, Ordering::Relaxed);
                        let Ok(connecting) = ep.connect_with(cfg.clone(), addr, "kith") else {
                            continue;
                        };
                        let attempt = async {
                            // The client side may think the handshake done before the node
                            // checked its certificate: open streams and ask, as a peer would.
                            let conn = connecting.await.ok()?;
                            let mut answered = false;
                            for _ in 0..64 {
                                let Ok((mut send, mut recv)) = conn.open_bi().await else {
                                    break;
                                };
                                let _ = send.write_all(&[0, 0, 0, 2, b'{', b'}']).await;
                                let _ = send.finish();
                                let mut byte = [0u8; 1];
                                if let Ok(Some(_)) = recv.read(&mut byte).await {
                                    answered = true;
                                }
                            }
                            Some(answered)
                        };
                        if let Ok(Some(true)) =
                            tokio::time::timeout(Duration::from_millis(500), attempt).await
                        {
                            through.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
            while set.join_next().await.is_some() {}
        })
    })
}

/// Fetches `album` into a fresh folder and checks it; returns MB/s.
fn timed_fetch(n: &Node, album: &str, out: &str, data: &[u8]) -> f64 {
    let out = n.home().join(out);
    let t = Instant::now();
    let o = common::spawn_fetch(n, album, &out, 300)
        .wait_with_output()
        .expect("fetch");
    let secs = t.elapsed().as_secs_f64();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(std::fs::read(out.join("f.bin")).expect("file") == data);
    data.len() as f64 / 1e6 / secs
}

#[test]
fn a_stranger_flooding_handshakes_and_streams_is_shut_out_and_a_friend_keeps_fetching() {
    let mut a = Node::new("Ann");
    let mut b = Node::new("Bo");
    a.start();
    b.start();
    a.befriend(&b);
    let dir = a.home().join("src");
    std::fs::create_dir_all(&dir).expect("src");
    let mut shared = Vec::new();
    for i in 0..2u64 {
        let d = dir.join(format!("{i}"));
        std::fs::create_dir_all(&d).expect("dir");
        let data = random_bytes(24 * 1024 * 1024, 7 + i);
        std::fs::write(d.join("f.bin"), &data).expect("write");
        shared.push((share(&a, &d.join("f.bin"), &[&b]), data));
    }

    let calm = timed_fetch(&b, &shared[0].0, "calm", &shared[0].1);

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (attempts, through) = (Arc::default(), Arc::default());
    let flooder = flood(
        &a,
        64,
        stop.clone(),
        Arc::clone(&attempts),
        Arc::clone(&through),
    );
    std::thread::sleep(Duration::from_secs(2));
    let flooded = timed_fetch(&b, &shared[1].0, "flooded", &shared[1].1);
    stop.store(true, Ordering::Relaxed);
    flooder.join().expect("flooder");

    let (attempts, through) = (
        attempts.load(Ordering::Relaxed),
        through.load(Ordering::Relaxed),
    );
    eprintln!(
        "flood: friend fetch {calm:.1} MB/s calm, {flooded:.1} MB/s during a flood of \
         {attempts} stranger handshakes ({through} got through)"
    );
    assert!(
        attempts > 100,
        "the flood did not flood ({attempts} attempts)"
    );
    assert_eq!(through, 0, "a stranger got past the handshake");
    assert!(
        a.log().contains("too many failed handshakes"),
        "the stranger was never shut out:\n{}",
        a.log()
    );
    // The node still answers its friend and its user.
    assert!(b.online_with(&a.id()));
    assert!(a.cli(&["status"]).status.success());
}

/// The node's resident memory (VmRSS), in MiB.
fn rss_mib(n: &Node) -> u64 {
    let pid = n.child.as_ref().expect("running").id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib / 1024
}

/// As the (stopped) node `as_node`: `conns` connections to `to`, each with a hello, then
/// `streams` request streams on each, every one a frame announcing 4 MiB whose body comes
/// in pieces and never ends. Runs until `stop`; returns the connections still open then.
fn slow_requests(
    as_node: &Node,
    to: &Node,
    conns: usize,
    streams: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    let me = kith_node::home::Home {
        dir: as_node.home().to_path_buf(),
    }
    .identity()
    .expect("identity");
    let name = as_node.name.clone();
    let to_id: kith_proto::identity::PeerId = to.id().parse().expect("id");
    let addr: std::net::SocketAddr = to.listen_addr().parse().expect("addr");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            let (cert, key) = me.certificate(None).expect("cert");
            let cfg = kith_node::net::tls::client_config(cert, key, to_id).expect("client config");
            let ep = quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("ep");
            let mut open = Vec::new();
            let mut tasks = tokio::task::JoinSet::new();
            for c in 0..conns {
                let conn = ep
                    .connect_with(cfg.clone(), addr, "kith")
                    .expect("connect")
                    .await
                    .expect("handshake");
                let hello = kith_proto::peer::PeerMsg::Hello(kith_proto::peer::Hello {
                    name: name.clone(),
                    addrs: vec![],
                    observed: addr,
                    boot: 1000 + c as u64,
                    reach: None,
                    mapped: None,
                    knows: Vec::new(),
                });
                let (answer, _) = kith_node::wire::ask(&conn, &hello).await.expect("hello");
                assert!(matches!(answer, kith_proto::peer::PeerMsg::Hello(_)));
                for _ in 0..streams {
                    let (conn, stop) = (conn.clone(), stop.clone());
                    tasks.spawn(async move {
                        let Ok((mut send, _recv)) = conn.open_bi().await else {
                            return;
                        };
                        let len = kith_proto::frame::MAX_FROM_PEER;
                        if send.write_all(&(len as u32).to_ne_bytes()).await.is_err() {
                            return;
                        }
                        let piece = vec![b' '; 256 * 1024];
                        let mut sent = 0;
                        while sent + piece.len() < len && !stop.load(Ordering::Relaxed) {
                            let wrote = tokio::time::timeout(
                                Duration::from_millis(500),
                                send.write_all(&piece),
                            )
                            .await;
                            match wrote {
                                Ok(Ok(())) => sent += piece.len(),
                                Ok(Err(_)) => return,
                                Err(_) => {} // held up by flow control: try again
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        // The last bytes never come.
                        while !stop.load(Ordering::Relaxed) {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    });
                }
                open.push(conn);
            }
            while tasks.join_next().await.is_some() {}
            let still = open.iter().filter(|c| c.close_reason().is_none()).count();
            for c in &open {
                c.close(0u32.into(), b"done");
            }
            still
        })
    })
}

#[test]
fn a_member_with_64_slow_4_mib_requests_on_each_of_4_connections_keeps_the_node_under_200_mib_while_a_friend_fetches(
) {
    let (a, b, mut m) = common::trio();
    let file = a.home().join("f.bin");
    let data = random_bytes(24 * 1024 * 1024, 11);
    std::fs::write(&file, &data).expect("write");
    let album = share(&a, &file, &[&b, &m]);
    m.stop();
    let before = rss_mib(&a);

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attacker = slow_requests(&m, &a, 4, 64, stop.clone());
    let mut peak = before;
    let watch_until = Instant::now() + Duration::from_secs(12);
    let out = b.home().join("out");
    let mut fetch = common::spawn_fetch(&b, &album, &out, 300);
    while Instant::now() < watch_until {
        peak = peak.max(rss_mib(&a));
        std::thread::sleep(Duration::from_millis(200));
    }
    let fetched = common::wait_child(&mut fetch, Duration::from_secs(300));
    peak = peak.max(rss_mib(&a));
    stop.store(true, Ordering::Relaxed);
    let open = attacker.join().expect("attacker");
    eprintln!("slow requests: node RSS {before} MiB before, {peak} MiB at most; {open} of the member's 4 connections open at the end");
    assert!(
        fetched.is_some_and(|s| s.success()),
        "the friend's fetch did not complete"
    );
    assert!(std::fs::read(out.join("f.bin")).expect("file") == data);
    assert!(peak < 200, "the node reached {peak} MiB");
    assert!(a.cli(&["status"]).status.success());
}
