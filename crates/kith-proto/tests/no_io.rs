//! kith-proto stays free of I/O: none of the crates it builds on (its normal dependencies,
//! followed all the way down) is a runtime, a network stack, a store or an HTTP server.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

/// Crates that do I/O, or exist to serve those that do.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "mio",
    "socket2",
    "quinn",
    "quinn-proto",
    "quinn-udp",
    "sled",
    "hyper",
    "hyper-util",
    "h2",
    "mdns-sd",
    "mainline",
    "portmapper",
    "if-addrs",
    "reqwest",
    "async-std",
    "smol",
    "kith-node",
    "kith",
];

/// `cargo metadata` for the workspace, resolved for this machine.
fn metadata() -> Value {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// The names of the packages `root` depends on for its build, transitively (not dev or build
/// dependencies).
fn normal_closure(meta: &Value, root: &str) -> BTreeSet<String> {
    let names: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let start = names
        .iter()
        .find(|(_, n)| **n == root)
        .map(|(id, _)| *id)
        .expect("the package is in the workspace");
    let (mut seen, mut todo) = (BTreeSet::new(), vec![start]);
    while let Some(id) = todo.pop() {
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            let dep_id = dep["pkg"].as_str().unwrap();
            if normal && seen.insert(names[dep_id].to_string()) {
                todo.push(dep_id);
            }
        }
    }
    seen
}

#[test]
fn the_protocol_crate_depends_on_no_runtime_network_stack_store_or_server() {
    let deps = normal_closure(&metadata(), "kith-proto");
    let bad: Vec<&String> = deps
        .iter()
        .filter(|d| FORBIDDEN.contains(&d.as_str()))
        .collect();
    assert!(bad.is_empty(), "kith-proto depends on {bad:?}");
    assert!(
        deps.contains("ring"),
        "the walk found the real dependencies: {deps:?}"
    );
}

#[test]
fn the_check_would_catch_the_node_crate() {
    let deps = normal_closure(&metadata(), "kith-node");
    assert!(deps.contains("tokio") && deps.contains("quinn") && deps.contains("sled"));
}
