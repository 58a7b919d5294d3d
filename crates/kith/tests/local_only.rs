//! The guard every test harness sets: under `KITH_LOCAL_ONLY=1`, `kith serve` refuses (exit 4,
//! code `off_machine`) a configuration that would send anything off this machine.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{kith_command, wait_child, Node};

/// `kith serve` for a home with the guard on, no `KITH_LISTEN`, the given arguments and
/// environment, run until it exits or `limit`; None when it was still running (then stopped).
fn serve(n: &Node, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Option<(i32, String)> {
    let log = n.home().join("serve.err");
    let mut c: Command = kith_command();
    c.env_remove("KITH_LISTEN")
        .arg("--home")
        .arg(n.home())
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .env("KITH_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut child = c.spawn().expect("spawn serve");
    let started = common::wait_until(limit, || {
        matches!(child.try_wait(), Ok(Some(_))) || n.cli(&["status"]).status.success()
    });
    assert!(started, "neither started nor refused");
    let status = match child.try_wait().unwrap() {
        Some(s) => Some(s),
        None => {
            // It is running: stop it the ordinary way.
            assert!(n.cli(&["stop"]).status.success());
            wait_child(&mut child, Duration::from_secs(10));
            None
        }
    };
    let err = std::fs::read_to_string(&log).unwrap_or_default();
    status.map(|s| (s.code().unwrap_or(-1), err))
}

fn refused(n: &Node, args: &[&str], env: &[(&str, &str)], says: &[&str]) {
    let (code, err) = serve(n, args, env, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("{args:?} {env:?} started a node"));
    assert_eq!(code, 4, "{args:?} {env:?}: {err}");
    assert!(err.contains("KITH_LOCAL_ONLY=1"), "{err}");
    for s in says {
        assert!(err.contains(s), "{args:?} {env:?} should say {s:?}: {err}");
    }
}

fn starts(n: &Node, args: &[&str], env: &[(&str, &str)]) {
    if let Some((code, err)) = serve(n, args, env, Duration::from_secs(10)) {
        panic!("{args:?} {env:?} was refused ({code}): {err}");
    }
}

#[test]
fn the_guard_refuses_each_setting_that_would_leave_the_machine_and_starts_local_ones() {
    let n = Node::new("Ann");
    let cfg_port = {
        let c: serde_json::Value =
            serde_json::from_slice(&std::fs::read(n.home().join("config.json")).unwrap()).unwrap();
        c["port"].as_u64().unwrap()
    };

    // The default: all interfaces, with mDNS, port mapping and the public DHT.
    refused(
        &n,
        &[],
        &[],
        &[
            &format!("0.0.0.0:{cfg_port}"),
            "LAN discovery",
            "port mapping",
            "public Mainline",
        ],
    );
    refused(&n, &["--listen", "0.0.0.0:0"], &[], &["0.0.0.0:0"]);
    refused(&n, &["--listen", "[::]:0"], &[], &["[::]:0"]);
    // An address of the machine's own network is still on the network.
    refused(
        &n,
        &["--listen", "0.0.0.0:0"],
        &[
            ("KITH_NO_LAN", "1"),
            ("KITH_NO_PORTMAP", "1"),
            ("KITH_NO_DHT", "1"),
        ],
        &["0.0.0.0:0"],
    );
    // Loopback, but the DHT pointed at a node elsewhere (from the environment or the settings).
    refused(
        &n,
        &["--listen", "127.0.0.1:0"],
        &[("KITH_DHT_BOOTSTRAP", "router.bittorrent.com:6881")],
        &["router.bittorrent.com:6881"],
    );
    let cfg_path = n.home().join("config.json");
    let original = std::fs::read(&cfg_path).unwrap();
    let mut cfg: serde_json::Value = serde_json::from_slice(&original).unwrap();
    cfg["dht_bootstrap"] = serde_json::json!(["127.0.0.1:6881", "192.0.2.7:6881"]);
    std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    refused(&n, &["--listen", "127.0.0.1:0"], &[], &["192.0.2.7:6881"]);
    std::fs::write(&cfg_path, &original).unwrap();
    // A namespace name does not help a node that is not in it.
    refused(
        &n,
        &["--listen", "0.0.0.0:0"],
        &[("KITH_NETNS", "kith-no-such-namespace")],
        &["no such namespace"],
    );
    refused(
        &n,
        &["--listen", "0.0.0.0:0"],
        &[("KITH_NETNS", "../x")],
        &["not a namespace name"],
    );

    // Local settings start: loopback (v4, v6, KITH_LISTEN with the home's port), and the DHT
    // only with bootstrap nodes on this machine.
    starts(&n, &["--listen", "127.0.0.1:0"], &[]);
    if std::net::UdpSocket::bind("[::1]:0").is_ok() {
        starts(&n, &["--listen", "[::1]:0"], &[]);
    }
    starts(&n, &[], &[("KITH_LISTEN", "127.0.0.1")]);
    starts(
        &n,
        &["--listen", "127.0.0.1:0"],
        &[("KITH_DHT_BOOTSTRAP", "127.0.0.1:9")],
    );
}

/// A network namespace of this test's own, removed when dropped.
struct Netns(String);

impl Netns {
    fn make() -> Option<Netns> {
        let name = format!("kith-guard-{}", std::process::id());
        let ip = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ip(&["netns", "add", &name]) {
            return None;
        }
        let ns = Netns(name);
        let ok = ip(&["-n", &ns.0, "link", "set", "lo", "up"])
            && ip(&["-n", &ns.0, "addr", "add", "10.99.7.1/24", "dev", "lo"]);
        ok.then_some(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn a_node_inside_the_namespace_it_names_may_use_its_addresses_and_nowhere_else() {
    let Some(ns) = Netns::make() else {
        common::skip("making a network namespace needs root and iproute2");
        return;
    };
    let n = Node::new("Lab");
    let run = |netns: &str, via_shell: bool| {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &ns.0]);
        let serve = format!(
            "{} --home {} serve --listen 10.99.7.1:0",
            common::kith_bin().display(),
            n.home().display()
        );
        if via_shell {
            // Started by a process inside the namespace: not a namespace of its own.
            c.args(["sh", "-c", &serve]);
        } else {
            c.args(serve.split(' '));
        }
        let mut child = c
            .env("KITH_LOCAL_ONLY", "1")
            .env("KITH_NETNS", netns)
            .env("KITH_NO_LAN", "1")
            .env("KITH_NO_PORTMAP", "1")
            .env("KITH_NO_DHT", "1")
            .env("KITH_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ip netns exec");
        let ran = common::wait_until(Duration::from_secs(10), || {
            matches!(child.try_wait(), Ok(Some(_))) || n.cli(&["status"]).status.success()
        });
        assert!(ran);
        match child.try_wait().unwrap() {
            Some(s) => {
                let mut err = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
                Some((s.code(), err))
            }
            None => {
                assert!(n.cli(&["stop"]).status.success());
                wait_child(&mut child, Duration::from_secs(10));
                None
            }
        }
    };
    assert_eq!(run(&ns.0, false), None, "refused in its own namespace");
    let (code, err) = run("kith-no-such-namespace", false).expect("refused");
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("no such namespace"), "{err}");
    let (code, err) = run(&ns.0, true).expect("refused");
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("of the machine or of my parent"), "{err}");
}
