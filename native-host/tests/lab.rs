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
