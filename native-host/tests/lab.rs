//! Reach tests in the network lab (`tests/lab/lab.sh`: homes behind NAT routers, built from
//! network namespaces). They need root, iproute2 and nftables; without them they print
//! SKIPPED and pass. The lab's namespaces are shared, so the tests take turns.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{wait_until, Node};

static LAB_LOCK: Mutex<()> = Mutex::new(());

fn lab_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/lab/lab.sh")
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

/// The lab, up while this lives.
struct Lab;

impl Lab {
    fn up() -> Option<Lab> {
        if !can_build_a_lab() {
            eprintln!("SKIPPED: the lab needs root, iproute2 and nftables");
            return None;
        }
        let o = Command::new(lab_script())
            .arg("up")
            .output()
            .expect("lab.sh");
        assert!(
            o.status.success(),
            "lab up: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Some(Lab)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(lab_script()).arg("down").status();
    }
}

/// Starts `kith serve` for a home inside a lab namespace, listening on `listen`.
fn start_in(n: &mut Node, ns: &str, listen: &str) {
    assert!(n.child.is_none());
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(n.home().join("test-node.log"))
        .expect("log");
    let child = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(common::kith_bin())
        .args(["serve", "--listen", listen, "--home"])
        .arg(n.home())
        .env("KITH_LOG", "debug")
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
    start_in(&mut b, "kk-b", "10.80.2.2:0");
    start_in(&mut c, "kk-c", "10.80.3.2:0");
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
}
