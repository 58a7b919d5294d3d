//! The native-messaging host as Firefox starts it: `kith <manifest.json> <addon-id>`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

mod common;

use std::time::Duration;

use serde_json::json;

use common::host::Host;

fn empty_home() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Stops a detached node when a test ends, even when it fails.
struct StopNode<'a>(&'a std::path::Path);

impl Drop for StopNode<'_> {
    fn drop(&mut self) {
        let _ = common::kith(self.0, &["stop"]);
    }
}

#[test]
fn hello_and_status_work_before_any_identity_exists() {
    let home = empty_home();
    let mut h = Host::start(home.path(), "kith@kith");
    let r = h.call(json!({"id": 1, "cmd": "hello", "version": "0.1.0"}));
    assert_eq!(r["id"], 1);
    assert_eq!(r["ok"], true);
    assert_eq!(r["result"]["host_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(r["result"]["initialized"], false);
    let r = h.call(json!({"id": 2, "cmd": "status"}));
    assert_eq!(r["result"]["initialized"], false);
    let r = h.call(json!({"id": 3, "cmd": "friends"}));
    assert_eq!(r["error"]["code"], "not_initialized");
    let (code, took, err) = h.close();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(2), "exit took {took:?}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn malformed_frames_get_error_replies_and_the_host_keeps_serving() {
    let home = empty_home();
    let mut h = Host::start(home.path(), "kith@kith");
    // Zero length.
    h.raw(&0u32.to_ne_bytes());
    assert_eq!(h.reply()["error"]["code"], "bad_frame");
    // Not UTF-8.
    h.frame(b"\xff\xfe\xfd");
    assert_eq!(h.reply()["error"]["code"], "bad_json");
    // UTF-8 but not JSON.
    h.frame(b"hello there");
    assert_eq!(h.reply()["error"]["code"], "bad_json");
    // JSON but not an object; no id; unknown command; missing field.
    h.frame(b"[1,2,3]");
    assert_eq!(h.reply()["error"]["code"], "bad_request");
    h.frame(br#"{"cmd":"status"}"#);
    assert_eq!(h.reply()["error"]["code"], "bad_request");
    let r = h.call(json!({"id": 9, "cmd": "teleport"}));
    assert_eq!(
        (r["id"].clone(), r["error"]["code"].clone()),
        (json!(9), json!("unknown_command"))
    );
    let r = h.call(json!({"id": 10, "cmd": "init"}));
    assert_eq!(r["error"]["code"], "bad_request");
    // Declared length over the limit: refused, its body skipped, the stream stays in step.
    let big = 9 * 1024 * 1024;
    let mut b = (big as u32).to_ne_bytes().to_vec();
    b.extend(std::iter::repeat_n(b'x', big));
    h.raw(&b);
    assert_eq!(h.reply()["error"]["code"], "frame_too_large");
    // Still serving.
    let r = h.call(json!({"id": 11, "cmd": "hello"}));
    assert_eq!(r["ok"], true);
    let (code, _, err) = h.close();
    assert_eq!(code, Some(0));
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_huge_declared_length_then_eof_exits_cleanly() {
    let home = empty_home();
    let mut h = Host::start(home.path(), "kith@kith");
    h.raw(&u32::MAX.to_ne_bytes());
    h.raw(b"a little");
    let (code, took, err) = h.close();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(2));
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_truncated_frame_then_eof_exits_cleanly() {
    let home = empty_home();
    let mut h = Host::start(home.path(), "kith@kith");
    h.raw(&100u32.to_ne_bytes());
    h.raw(br#"{"id":1,"#);
    let (code, _, err) = h.close();
    assert_eq!(code, Some(0));
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_wrong_addon_id_is_refused() {
    let home = empty_home();
    let mut h = Host::start(home.path(), "evil@example.com");
    let r = h.reply();
    assert_eq!(r["error"]["code"], "addon_not_allowed");
    let (code, _, _) = h.close();
    assert_eq!(code, Some(1));
}

#[test]
fn chromium_starting_the_host_with_the_pinned_origin_is_served() {
    let home = empty_home();
    let origin = kith::chromium_origin();
    for args in [
        vec![origin.as_str()],
        vec![origin.as_str(), "--parent-window=0"],
    ] {
        let mut h = Host::start_with(home.path(), &args);
        let r = h.call(json!({"id": 1, "cmd": "hello", "version": "0.1.0"}));
        assert_eq!(r["ok"], true, "{args:?}: {r}");
        assert_eq!(r["result"]["host_version"], env!("CARGO_PKG_VERSION"));
        let (code, _, _) = h.close();
        assert_eq!(code, Some(0));
    }
}

#[test]
fn another_chromium_extension_is_refused() {
    let home = empty_home();
    let mut h = Host::start_with(
        home.path(),
        &["chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/"],
    );
    let r = h.reply();
    assert_eq!(r["error"]["code"], "addon_not_allowed");
    let (code, _, _) = h.close();
    assert_eq!(code, Some(1));
}

#[test]
fn init_through_the_host_starts_a_detached_node_that_outlives_the_host() {
    let home = empty_home();
    let _stop = StopNode(home.path());
    let mut h = Host::start(home.path(), "kith@kith");
    let r = h.call(json!({"id": 1, "cmd": "init", "name": "Firefox User"}));
    assert_eq!(r["ok"], true, "{r}");
    let id = r["result"]["peer_id"].as_str().unwrap().to_string();
    let s = h.call(json!({"id": 2, "cmd": "status"}));
    assert_eq!(s["result"]["initialized"], true);
    assert_eq!(s["result"]["peer_id"], id.as_str());
    assert_eq!(s["result"]["name"], "Firefox User");
    assert_eq!(s["result"]["friends"], 0);
    assert!(s["result"]["listen_addr"].is_string());
    let r = h.call(json!({"id": 3, "cmd": "init", "name": "Again"}));
    assert_eq!(r["error"]["code"], "already_initialized");
    let r = h.call(json!({"id": 4, "cmd": "invite_create"}));
    assert!(r["result"]["link"]
        .as_str()
        .unwrap()
        .starts_with("kith://invite/"));
    let (code, _, _) = h.close();
    assert_eq!(code, Some(0));
    // Closing Firefox does not stop sharing: the node still runs.
    let st = common::kith(home.path(), &["status"]);
    assert!(st.status.success());
    // A new host attaches to the running node.
    let mut h2 = Host::start(home.path(), "kith@kith");
    let s = h2.call(json!({"id": 1, "cmd": "status"}));
    assert_eq!(s["result"]["peer_id"], id.as_str());
    h2.close();
    assert!(common::kith(home.path(), &["stop"]).status.success());
}

#[test]
fn the_host_reports_when_its_node_goes_away_and_restarts_it_on_demand() {
    let home = empty_home();
    let _stop = StopNode(home.path());
    let o = common::kith(home.path(), &["init", "--name", "Ann"]);
    assert!(o.status.success());
    let mut h = Host::start(home.path(), "kith@kith");
    let s = h.call(json!({"id": 1, "cmd": "status"}));
    let pid = s["result"]["pid"].as_u64().unwrap();
    assert!(common::kith(home.path(), &["stop"]).status.success());
    // The add-on learns that the node went down.
    h.event("node_down", Duration::from_secs(10));
    let s = h.call(json!({"id": 2, "cmd": "status"}));
    assert_eq!(s["ok"], true, "{s}");
    assert_ne!(s["result"]["pid"].as_u64().unwrap(), pid, "not a new node");
    h.close();
    assert!(common::kith(home.path(), &["stop"]).status.success());
}
