//! Reach tests in the network lab (`tests/lab/lab.sh`: homes behind NAT routers, built from
//! network namespaces). They need root, iproute2 and nftables; without them they print
//! SKIPPED and pass (with `CI=true` they fail). The lab's namespaces are shared, so the tests
//! take turns. Nodes run under `KITH_LOCAL_ONLY=1` with `KITH_NETNS` naming their namespace:
//! they may use the lab's addresses only because they are inside it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{wait_until, Node};

static LAB_LOCK: Mutex<()> = Mutex::new(());

fn lab_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/lab/lab.sh")
}

fn can_build_a_lab() -> bool {
    let root = unsafe { libc::getuid() } == 0;
    let has = |cmd: &str| {
        Command::new(cmd)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    root && has("nft") && Command::new("ip").args(["netns", "list"]).output().is_ok()
}

/// The lab, up while this lives (holding `/tmp/kith-lab.lock`, so that other processes using
/// the lab's fixed namespace names wait their turn).
struct Lab {
    _lock: std::fs::File,
}

impl Lab {
    fn up() -> Option<Lab> {
        if !can_build_a_lab() {
            common::skip("the lab needs root, iproute2 and nftables");
            return None;
        }
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open("/tmp/kith-lab.lock")
            .expect("lab lock file");
        use std::os::fd::AsRawFd;
        assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
        let o = Command::new(lab_script())
            .arg("up")
            .output()
            .expect("lab.sh");
        assert!(
            o.status.success(),
            "lab up: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Some(Lab { _lock: lock })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(lab_script()).arg("down").status();
    }
}

/// Starts `kith serve` for a home inside a lab namespace, listening on `listen`, with the DHT
/// off (no lab DHT is running).
fn start_in(n: &mut Node, ns: &str, listen: &str) {
    start_in_env(n, ns, listen, &[("KITH_NO_DHT", "1")]);
}

/// `kith serve` for a home inside a lab namespace, under the guard, naming the namespace.
fn serve_in(n: &Node, ns: &str, listen: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns])
        .arg(common::kith_bin())
        .args(["serve", "--listen", listen, "--home"])
        .arg(n.home())
        .env("KITH_LOCAL_ONLY", "1")
        .env("KITH_NETNS", ns)
        .env("KITH_LOG", "debug");
    c
}

/// Starts `kith serve` inside a lab namespace with extra environment.
fn start_in_env(n: &mut Node, ns: &str, listen: &str, env: &[(&str, &str)]) {
    assert!(n.child.is_none());
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(n.home().join("test-node.log"))
        .expect("log");
    let child = serve_in(n, ns, listen)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn serve in the lab");
    n.child = Some(child);
    assert!(
        wait_until(Duration::from_secs(10), || n
            .cli(&["status"])
            .status
            .success()),
        "node {} did not start in {ns}",
        n.name
    );
}

fn path_to(n: &Node, id: &str) -> String {
    n.friend(id)
        .and_then(|f| f["path"].as_str().map(String::from))
        .unwrap_or_default()
}

#[test]
fn friends_on_one_lan_with_stale_addresses_find_each_other_by_mdns() {
    let _turn = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let Some(_lab) = Lab::up() else {
        return;
    };
    let mut x = Node::new("Xi");
    let mut y = Node::new("Yu");
    // The guard lets a node use the lab's addresses only in the namespace it names.
    for (netns, why) in [
        (None, "KITH_LOCAL_ONLY=1"),
        (Some("kk-l2"), "not in that namespace"),
    ] {
        let mut c = serve_in(&x, "kk-l1", "10.80.1.11:0");
        match netns {
            None => c.env_remove("KITH_NETNS"),
            Some(other) => c.env("KITH_NETNS", other),
        };
        let o = c.stdin(Stdio::null()).output().expect("serve");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(4), "{err}");
        assert!(err.contains(why) && err.contains("10.80.1.11:0"), "{err}");
    }
    start_in(&mut x, "kk-l1", "10.80.1.11:0");
    start_in(&mut y, "kk-l2", "10.80.1.12:0");
    x.befriend(&y);
    let (xi, yi) = (x.id(), y.id());
    assert!(wait_until(Duration::from_secs(10), || x.online_with(&yi)));
    let old_port = y.listen_addr();

    // Both restart on new ports: what each has stored for the other is wrong now.
    x.stop();
    y.stop();
    start_in(&mut x, "kk-l1", "10.80.1.11:0");
    start_in(&mut y, "kk-l2", "10.80.1.12:0");
    let t = Instant::now();
    assert_ne!(y.listen_addr(), old_port);
    assert!(
        wait_until(Duration::from_secs(10), || x.online_with(&yi)
            && y.online_with(&xi)),
        "not reconnected: {}",
        y.log()
    );
    eprintln!("LAN: reconnected by mDNS in {} ms", t.elapsed().as_millis());
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "slower than 3 s:\n{}\n---\n{}",
        x.log(),
        y.log()
    );
    assert_eq!(path_to(&x, &yi), "lan");
    assert_eq!(path_to(&y, &xi), "lan");
    assert!(
        y.log().contains("friend heard on the LAN") || x.log().contains("friend heard on the LAN")
    );
}

/// Bytes received so far on a lab host's network interface.
fn rx_bytes(ns: &str) -> u64 {
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "cat",
            "/sys/class/net/eth0/statistics/rx_bytes",
        ])
        .output()
        .expect("read counters");
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Two friends who met somewhere else (both on the public host) and stopped: what they stored
/// of each other is of no use once they start at home.
fn met_elsewhere(x: &str, y: &str) -> (Node, Node) {
    let mut a = Node::new(x);
    let mut b = Node::new(y);
    start_in(&mut a, "kk-pub", "203.0.113.10:0");
    start_in(&mut b, "kk-pub", "203.0.113.10:0");
    a.befriend(&b);
    let bi = b.id();
    assert!(wait_until(Duration::from_secs(10), || a.online_with(&bi)));
    a.stop();
    b.stop();
    (a, b)
}

/// `from` shares `mib` MiB with `to`, who fetches it, byte-identical; returns how many bytes
/// the public host received meanwhile.
fn fetch_counting_public_host(from: &Node, to: &Node, mib: usize, seed: u64) -> u64 {
    let src = from.home().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let data = common::random_bytes(mib * 1024 * 1024, seed);
    std::fs::write(src.join("f.bin"), &data).unwrap();
    let o = from.cli(&[
        "share",
        src.join("f.bin").to_str().unwrap(),
        "--to",
        &to.id(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let album = common::last_line(&o);
    assert!(wait_until(Duration::from_secs(10), || to
        .json(&["albums", "--json"])
        .as_array()
        .is_some_and(|l| l.iter().any(|x| x["id"] == album.as_str()))));
    let before = rx_bytes("kk-pub");
    let out = to.home().join("got");
    let o = to.cli(&[
        "fetch",
        &album,
        "--out",
        out.to_str().unwrap(),
        "--timeout",
        "60",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read(out.join("f.bin")).unwrap() == data);
    rx_bytes("kk-pub") - before
}

#[test]
fn friends_behind_two_cone_nats_connect_directly_by_hole_punching_through_a_mutual_friend() {
    let _turn = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let Some(_lab) = Lab::up() else {
        return;
    };
    let (mut a, mut b) = met_elsewhere("Ann", "Bo");
    let (ai, bi) = (a.id(), b.id());

    // Now each is at home behind its own cone NAT; P, on the public host, is a friend of both.
    let mut p = Node::new("Pat");
    start_in(&mut p, "kk-pub", "203.0.113.10:0");
    start_in(&mut a, "kk-a", "10.80.1.2:0");
    start_in(&mut b, "kk-b", "10.80.2.2:0");
    p.befriend(&a);
    p.befriend(&b);
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(15), || a.online_with(&bi)
            && b.online_with(&ai)),
        "no punched connection:\n{}\n---\n{}",
        a.log(),
        b.log()
    );
    eprintln!(
        "cone-cone: punched through in {} ms",
        t.elapsed().as_millis()
    );
    assert_eq!(path_to(&a, &bi), "punched");
    assert_eq!(path_to(&b, &ai), "punched");
    assert!(p.log().contains("introducing two friends"));

    // 100 MB from A to B: the bytes go straight between the two homes, not through P.
    let through_p = fetch_counting_public_host(&a, &b, 100, 7);
    eprintln!("cone-cone: 100 MB fetched; the public host received {through_p} bytes meanwhile");
    assert!(
        through_p < 2_000_000,
        "{through_p} bytes passed the public host"
    );
}

#[test]
fn a_friend_behind_a_symmetric_nat_is_reached_through_a_relaying_mutual_friend() {
    let _turn = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let Some(_lab) = Lab::up() else {
        return;
    };
    let (mut b, mut c) = met_elsewhere("Bo", "Cy");
    let (bi, ci) = (b.id(), c.id());

    // B is behind a cone NAT, C behind a symmetric one: no hole can be punched between them.
    // P, on the public host, helps its friends connect (no rate limit here, for the test).
    let mut p = Node::new("Pat");
    start_in(&mut p, "kk-pub", "203.0.113.10:0");
    let r = common::api(
        &p,
        serde_json::json!({"cmd": "settings", "help_friends": true, "relay_rate": 0}),
    );
    assert_eq!(r["ok"], true, "{r}");
    let dht = LabDht::start();
    start_in_env(&mut b, "kk-b", "10.80.2.2:0", &dht.env());
    start_in_env(&mut c, "kk-c", "10.80.3.2:0", &dht.env());
    p.befriend(&b);
    p.befriend(&c);
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(20), || b.online_with(&ci)
            && c.online_with(&bi)),
        "no relayed connection:\n{}\n---\n{}",
        b.log(),
        c.log()
    );
    eprintln!(
        "cone-symmetric: connected through the relay in {} ms",
        t.elapsed().as_millis()
    );
    assert_eq!(path_to(&b, &ci), "relayed");
    assert_eq!(path_to(&c, &bi), "relayed");
    assert!(p.log().contains("relaying between two friends"));

    // A file goes through, verified: the relay passed the bytes it could not read.
    let through_p = fetch_counting_public_host(&b, &c, 20, 9);
    eprintln!("cone-symmetric: 20 MB fetched; {through_p} bytes passed the relay");
    assert!(
        through_p > 20 * 1024 * 1024,
        "the bytes did not pass the relay?"
    );

    // C's router turns UPnP on: C maps its port and publishes the mapped address on the DHT,
    // where B, which keeps looking up friends it reaches only through a relay, finds it. The
    // relayed connection gives way to a direct one without the friends noticing.
    if !has_miniupnpd() {
        common::skip("the upgrade to direct: miniupnpd is not installed");
        return;
    }
    assert!(upnp("start", "kk-rc"), "miniupnpd did not start in kk-rc");
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(90), || path_to(&b, &ci) == "mapped"
            && path_to(&c, &bi) == "mapped"),
        "still {} / {}:\n{}\n---\n{}",
        path_to(&b, &ci),
        path_to(&c, &bi),
        b.log(),
        c.log()
    );
    eprintln!(
        "relayed -> mapped: upgraded {} ms after the router offered UPnP",
        t.elapsed().as_millis()
    );
    assert!(b.log().contains("upgraded to direct") || c.log().contains("upgraded to direct"));
    let through_p = fetch_counting_public_host(&c, &b, 5, 10);
    assert!(
        through_p < 1024 * 1024,
        "{through_p} bytes still passed the relay"
    );
}

/// A small Mainline DHT of its own on the public host (`examples/lab_dht.rs`); ends when
/// dropped.
struct LabDht {
    child: std::process::Child,
    bootstrap: String,
}

impl LabDht {
    fn start() -> LabDht {
        let tool = lab_dht_tool();
        let mut child = Command::new("ip")
            .args(["netns", "exec", "kk-pub"])
            .arg(&tool)
            .args(["testnet", "203.0.113.10", "8"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the lab DHT");
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("bootstrap list");
        assert!(line.contains("203.0.113.10:"), "lab DHT said {line:?}");
        LabDht {
            child,
            bootstrap: line.trim().to_string(),
        }
    }

    /// The environment that points a node at this DHT.
    fn env(&self) -> [(&str, &str); 1] {
        [("KITH_DHT_BOOTSTRAP", self.bootstrap.as_str())]
    }

    /// Runs the probe in a namespace: what a stranger (and, with an invite, a friend) finds.
    fn probe(&self, ns: &str, peer: &str, invite: Option<&str>) -> String {
        let o = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(lab_dht_tool())
            .args(["probe", &self.bootstrap, peer])
            .args(invite)
            .output()
            .expect("probe");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    /// From a namespace, publishes over the record under an invite link's lookup key, as
    /// whoever holds the link could.
    fn displace(&self, ns: &str, invite: &str) {
        let o = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(lab_dht_tool())
            .args(["displace", &self.bootstrap, invite])
            .output()
            .expect("displace");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

impl Drop for LabDht {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lab DHT tool, built with the tests (`cargo test` and `cargo build --all-targets` build
/// examples).
fn lab_dht_tool() -> PathBuf {
    let tool = common::kith_bin()
        .parent()
        .expect("target dir")
        .join("examples/lab_dht");
    assert!(
        tool.exists(),
        "{} is missing: build it with cargo build --examples",
        tool.display()
    );
    tool
}

/// The port a node listens on, as text.
fn port_of(n: &Node) -> String {
    n.listen_addr()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_friend_that_moved_is_found_again_through_the_dht_and_a_stranger_finds_nothing() {
    let _turn = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let Some(_lab) = Lab::up() else {
        return;
    };
    let dht = LabDht::start();
    // A and B met elsewhere: the addresses they stored are stale. No mutual friend, no LAN:
    // only the DHT can bring them together.
    let (mut a, mut b) = met_elsewhere("Ann", "Bo");
    let (ai, bi) = (a.id(), b.id());
    start_in_env(&mut a, "kk-pub", "203.0.113.10:0", &dht.env());
    start_in_env(&mut b, "kk-b", "10.80.2.2:0", &dht.env());
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(30), || b.online_with(&ai)
            && a.online_with(&bi)),
        "B did not find A through the DHT:\n{}\n---\n{}",
        b.log(),
        a.log()
    );
    eprintln!(
        "DHT: found and connected {} ms after both started",
        t.elapsed().as_millis()
    );
    assert!(b.log().contains("found on the DHT"), "{}", b.log());

    // A moves to a new port; B finds its new record without any new invite.
    let old = a.listen_addr();
    a.stop();
    start_in_env(&mut a, "kk-pub", "203.0.113.10:0", &dht.env());
    assert_ne!(a.listen_addr(), old);
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(30), || b.online_with(&ai)),
        "B did not find A's new address:\n{}",
        b.log()
    );
    eprintln!(
        "DHT: a moved friend found again {} ms after it restarted",
        t.elapsed().as_millis()
    );
    let new_port = port_of(&a);
    let f = b.friend(&ai).expect("A is B's friend");
    assert!(
        f["addrs"].to_string().contains(&new_port),
        "B stored {f} (new port {new_port})"
    );

    // A stranger who knows A's peer ID finds nothing; with a live invite of A's (which carries
    // its own lookup secret, under which A publishes while the invite lives), the same probe
    // finds A's new address: the record is there.
    let invite = a.invite();
    let out = dht.probe("kk-c", &ai, Some(&invite));
    assert!(out.contains("stranger: 0"), "{out}");
    assert!(out.contains(&format!("203.0.113.10:{new_port}")), "{out}");

    // X uses that invite: its record is emptied at once. Then A removes X, who learnt A's
    // reach secret in the hello: A's reach secret changes and B, connected, is told the new
    // one. A moves again; B finds it, the used link finds nothing.
    let mut x = Node::new("Xan");
    start_in(&mut x, "kk-pub", "203.0.113.10:0");
    let o = x.cli(&["accept", &invite]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        wait_until(Duration::from_secs(10), || a.log().contains(
            "the DHT record under a used or expired invite is emptied"
        )),
        "A did not empty the used invite's record:\n{}",
        a.log()
    );
    let used = dht.probe("kk-c", &ai, Some(&invite));
    assert!(
        used.contains("friend: none"),
        "the used link found A: {used}"
    );
    // Whoever holds the used link publishes over its record: A, restarted, publishes its own
    // record as before and keeps its reach secret (a link carrying the reach secret would
    // have made A give it up, stranding its offline friends).
    dht.displace("kk-c", &invite);
    a.stop();
    let from = a.log().len();
    start_in_env(&mut a, "kk-pub", "203.0.113.10:0", &dht.env());
    let since = |n: &Node| n.log().get(from..).unwrap_or_default().to_string();
    assert!(
        wait_until(Duration::from_secs(30), || since(&a)
            .contains("addresses published on the DHT")),
        "A did not publish after its restart:\n{}",
        since(&a)
    );
    assert!(
        !since(&a).contains("my DHT record was displaced"),
        "an old link's holder made A give up its reach secret:\n{}",
        since(&a)
    );
    assert!(
        wait_until(Duration::from_secs(30), || b.online_with(&ai)),
        "B did not find A again:\n{}",
        b.log()
    );
    let o = a.cli(&["unfriend", "Xan"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        wait_until(Duration::from_secs(10), || b
            .log()
            .contains("friend's reach secret changed")),
        "B was not told A's new reach secret:\n{}",
        a.log()
    );
    a.stop();
    start_in_env(&mut a, "kk-pub", "203.0.113.10:0", &dht.env());
    assert!(
        wait_until(Duration::from_secs(30), || b.online_with(&ai)),
        "B did not find A after the new secret:\n{}",
        b.log()
    );
    let third_port = port_of(&a);
    // Nor anything: A empties the record under its old secret (before it stopped, or after).
    assert!(
        wait_until(Duration::from_secs(10), || a
            .log()
            .contains("the DHT record under my old reach secret is emptied")),
        "A did not empty its old record:\n{}",
        a.log()
    );
    let with_old = dht.probe("kk-c", &ai, Some(&invite));
    assert!(
        with_old.contains("friend: none"),
        "the used link found an address of A's: {with_old}"
    );
    let new_invite = a.invite();
    let with_new = dht.probe("kk-c", &ai, Some(&new_invite));
    assert!(with_new.contains(&format!(":{third_port}")), "{with_new}");
}

/// Whether miniupnpd is installed (tests/lab/setup.sh installs it where it can).
fn has_miniupnpd() -> bool {
    Command::new("miniupnpd").arg("--version").output().is_ok()
}

/// Runs `tests/lab/upnp.sh VERB ROUTER_NS` (miniupnpd in a lab router).
fn upnp(verb: &str, router: &str) -> bool {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/lab/upnp.sh");
    let o = Command::new(script)
        .args([verb, router])
        .output()
        .expect("upnp.sh");
    if !o.status.success() {
        eprintln!("upnp.sh {verb}: {}", String::from_utf8_lossy(&o.stderr));
    }
    o.status.success()
}

/// The port mappings miniupnpd has made in a router (its DNAT rules).
fn router_mappings(router: &str) -> String {
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            router,
            "nft",
            "list",
            "table",
            "inet",
            "miniupnpd",
        ])
        .output()
        .expect("nft");
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// The router-mapped address a node announces (the first 203.0.113.2 address in its status).
fn mapped_addr(n: &Node) -> Option<String> {
    n.json(&["status", "--json"])["addrs"]
        .as_array()?
        .iter()
        .filter_map(|a| a.as_str())
        .find(|a| a.starts_with("203.0.113.2:"))
        .map(String::from)
}

#[test]
fn a_node_behind_a_upnp_router_is_reached_through_its_port_mapping_and_found_again_after_moving() {
    let _turn = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if !has_miniupnpd() {
        common::skip("miniupnpd is not installed (tests/lab/setup.sh installs it)");
        return;
    }
    let Some(_lab) = Lab::up() else {
        return;
    };
    assert!(upnp("start", "kk-rb"), "miniupnpd did not start in kk-rb");
    let dht = LabDht::start();
    // B's router offers UPnP-IGD / NAT-PMP / PCP; A's does not. No mutual friend, no LAN.
    let mut a = Node::new("Ann");
    let mut b = Node::new("Bo");
    start_in_env(&mut b, "kk-b", "10.80.2.2:0", &dht.env());
    start_in_env(&mut a, "kk-a", "10.80.1.2:0", &dht.env());
    assert!(
        wait_until(Duration::from_secs(15), || mapped_addr(&b).is_some()),
        "B got no port mapping:\n{}",
        b.log()
    );
    let mapped = mapped_addr(&b).unwrap_or_default();
    let port = port_of(&b);
    assert!(
        router_mappings("kk-rb").contains(&format!("10.80.2.2:{port}")),
        "{}",
        router_mappings("kk-rb")
    );

    let doctor = String::from_utf8_lossy(&b.cli(&["doctor"]).stdout).to_string();
    assert!(
        doctor.contains(&format!(
            "your router maps your port: friends can reach you at {mapped}"
        )),
        "{doctor}"
    );

    // A accepts B's invite (it carries the mapped address) and reaches B through the mapping.
    let (ai, bi) = (a.id(), b.id());
    let t = Instant::now();
    b.befriend(&a);
    eprintln!(
        "mapped: A connected to B through {mapped} in {} ms",
        t.elapsed().as_millis()
    );
    assert!(wait_until(Duration::from_secs(5), || b.online_with(&ai)));
    assert_eq!(path_to(&a, &bi), "mapped");
    assert_eq!(path_to(&b, &ai), "mapped");

    // B stops: its mapping leaves the router. It starts again on a new port behind its NAT,
    // gets a new mapping and publishes it; A finds it through the DHT, no new invite.
    b.stop();
    assert!(
        wait_until(Duration::from_secs(5), || !router_mappings("kk-rb")
            .contains(&format!("10.80.2.2:{port}"))),
        "the mapping stayed after B stopped:\n{}",
        router_mappings("kk-rb")
    );
    start_in_env(&mut b, "kk-b", "10.80.2.2:0", &dht.env());
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(30), || a.online_with(&bi)),
        "A did not find B again:\n{}\n---\n{}",
        a.log(),
        b.log()
    );
    eprintln!(
        "DHT: a friend that moved behind its NAT found again {} ms after it restarted",
        t.elapsed().as_millis()
    );
    assert_ne!(mapped_addr(&b), Some(mapped));
    assert_eq!(path_to(&a, &bi), "mapped");
    assert!(a.log().contains("found on the DHT"));
    b.stop();
    upnp("stop", "kk-rb");
}
