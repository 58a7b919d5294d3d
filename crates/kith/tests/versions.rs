//! Versions between the native host and the node (API.md §4 `hello`): the host restarts a
//! node still running a replaced copy of its own program file, leaves an up-to-date node and
//! another build's node alone, and passes on the protocol the node reports.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::host::Host;
use common::Node;
use serde_json::{json, Value};

/// A node started in the background by `PROGRAM start` (as a login entry does), stopped with
/// `kith stop` when dropped, whatever program runs it by then.
struct Background<'a> {
    node: &'a Node,
}

impl<'a> Background<'a> {
    fn start(program: &Path, node: &'a Node) -> Background<'a> {
        let o = common::program_command(program)
            .arg("start")
            .env("KITH_HOME", node.home())
            .env("KITH_NO_DHT", "1")
            .env("KITH_NO_PORTMAP", "1")
            .env("KITH_NO_LAN", "1")
            .env("KITH_LOG", "warn")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        Background { node }
    }

    /// The node's own `hello` and `status`, over its control socket.
    fn hello_and_status(&self) -> (Value, Value) {
        let mut c = common::Control::connect(self.node);
        let hello = common::ok(c.call(json!({"cmd": "hello"})));
        let status = common::ok(c.call(json!({"cmd": "status"})));
        (hello, status)
    }
}

impl Drop for Background<'_> {
    fn drop(&mut self) {
        let _ = self.node.cli(&["stop"]);
    }
}

/// A copy of the `kith` program at `dir/kith`, written as a new file and renamed over the
/// path (a new inode and time, as a package upgrade leaves it).
fn install_copy(dir: &Path) -> PathBuf {
    let path = dir.join("kith");
    let tmp = dir.join("kith.new");
    std::fs::copy(common::kith_bin(), &tmp).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn alive(pid: u64) -> bool {
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

#[test]
fn the_host_restarts_a_node_left_running_by_a_replaced_copy_of_its_program() {
    let bin = tempfile::tempdir().unwrap();
    let program = install_copy(bin.path());
    let node = Node::new("Ann");
    let bg = Background::start(&program, &node);
    let (hello, before) = bg.hello_and_status();
    let canonical = program.canonicalize().unwrap();
    assert_eq!(hello["binary"]["path"], canonical.to_str().unwrap());
    assert_eq!(before["binary"], hello["binary"]);
    let old_pid = before["pid"].as_u64().unwrap();

    // The program is upgraded while the node runs.
    install_copy(bin.path());
    let new_stamp = kith_node::binary::stamp(&canonical).unwrap();
    assert_ne!(hello["binary"]["stamp"], new_stamp.as_str());

    // `kith doctor` of the new program names the old node.
    let o = common::program_command(&program)
        .args(["doctor"])
        .env("KITH_HOME", node.home())
        .env("KITH_LOG", "warn")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!(
            "!!  the running node (version {}) runs an older copy of {}",
            kith::VERSION,
            canonical.display()
        )),
        "{text}"
    );

    let mut host = Host::start_program(&program, node.home(), &["/x/kith.json", "kith@kith"]);
    let h = common::ok(host.request(json!({"cmd": "hello"})));
    assert_eq!(h["node_binary"], "restarted", "{h}");
    assert_eq!(h["node"]["binary"]["stamp"], new_stamp.as_str(), "{h}");
    assert_eq!(h["node_running"], true);
    let up = host.event("node_up", Duration::from_secs(5));
    assert_eq!(up["node"], h["node"]);
    let after = common::ok(host.request(json!({"cmd": "status"})));
    let new_pid = after["pid"].as_u64().unwrap();
    assert_ne!(new_pid, old_pid, "the node was not restarted");
    assert!(!alive(old_pid), "the old node still runs");
    assert_eq!(after["binary"]["stamp"], new_stamp.as_str());
    assert_eq!(after["binary"]["path"], canonical.to_str().unwrap());
    let (code, _, err) = host.close();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("restarting"), "{err}");
    drop(bg);
}

#[test]
fn the_host_leaves_an_up_to_date_node_and_another_builds_node_running() {
    let bin = tempfile::tempdir().unwrap();
    let program = install_copy(bin.path());
    let node = Node::new("Ann");
    let bg = Background::start(&program, &node);
    let (_, before) = bg.hello_and_status();
    let pid = before["pid"].as_u64().unwrap();

    // The same file: nothing to do.
    let mut host = Host::start_program(&program, node.home(), &["/x/kith.json", "kith@kith"]);
    let h = common::ok(host.request(json!({"cmd": "hello"})));
    assert_eq!(h["node_binary"], "current", "{h}");
    assert_eq!(h["node"]["binary"], before["binary"], "{h}");
    assert_eq!(
        common::ok(host.request(json!({"cmd": "status"})))["pid"],
        pid
    );
    host.close();

    // A host from another path (a developer's other build: here the test's own binary),
    // even once the node's file is replaced: the node is not its to restart.
    install_copy(bin.path());
    let mut host = Host::start(node.home(), "kith@kith");
    let h = common::ok(host.request(json!({"cmd": "hello"})));
    assert_eq!(h["node_binary"], "other", "{h}");
    assert_eq!(
        common::ok(host.request(json!({"cmd": "status"})))["pid"],
        pid
    );
    let (_, _, err) = host.close();
    assert!(err.contains("another program"), "{err}");
    drop(bg);
}

#[test]
fn the_host_passes_on_the_protocol_a_node_reports_under_the_test_override() {
    let mut node = Node::new("Ann");
    node.start_with("127.0.0.1:0", &[], &[("KITH_FAULT_PROTOCOL", "7")]);
    let mut host = Host::start(node.home(), "kith@kith");
    let h = common::ok(host.request(json!({"cmd": "hello"})));
    assert_eq!(h["protocol"], kith_proto::api::PROTOCOL, "{h}");
    assert_eq!(h["node"]["protocol"], 7, "{h}");
    assert_eq!(h["node_binary"], "current", "{h}");
    host.close();
}
