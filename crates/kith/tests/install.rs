//! `kith install`, `uninstall`, `doctor` and `logs` against a temporary HOME: every browser's
//! manifest, the login entry, the background node's log, and the way back out.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use serde_json::Value;

/// `kith` with HOME = `h` and nothing from the caller's XDG folders or `KITH_HOME`, so the
/// default home is `h/.local/share/kith` and its log folder `h/.local/state/kith`.
fn kith_in(h: &Path, args: &[&str]) -> Output {
    let mut c = common::kith_command();
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("XDG_") || k == "KITH_HOME" {
            c.env_remove(k);
        }
    }
    c.env("HOME", h)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kith")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The five user-level manifests: (file, field, allowed value).
fn manifests(h: &Path) -> Vec<(PathBuf, &'static str, String)> {
    let chromium = format!("chrome-extension://{}/", kith::CHROMIUM_EXTENSION_ID);
    let mut v = vec![(
        h.join(".mozilla/native-messaging-hosts/kith.json"),
        "allowed_extensions",
        "kith@kith".to_string(),
    )];
    for dir in [
        ".config/chromium",
        ".config/google-chrome",
        ".config/microsoft-edge",
        ".config/BraveSoftware/Brave-Browser",
    ] {
        v.push((
            h.join(dir).join("NativeMessagingHosts/kith.json"),
            "allowed_origins",
            chromium.clone(),
        ));
    }
    v
}

/// Stops the node of a home if a test fails half-way: `kith [ARGS…] stop` with HOME = the path.
struct StopOnDrop<'a>(&'a Path, Vec<String>);
impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let mut args: Vec<&str> = self.1.iter().map(String::as_str).collect();
        args.push("stop");
        let _ = kith_in(self.0, &args);
    }
}

#[test]
fn install_registers_every_browser_and_autostart_and_uninstall_purge_removes_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path();
    let _stop = StopOnDrop(h, vec![]);
    ok(&kith_in(h, &["init", "--name", "Ann"]));
    let home = h.join(".local/share/kith");
    assert!(
        home.join("identity.key").is_file(),
        "the default home is under HOME"
    );

    // install --autostart=xdg: five manifests naming this binary, the autostart entry, a node.
    ok(&kith_in(h, &["install", "--autostart=xdg"]));
    let bin = common::kith_bin().canonicalize().unwrap();
    for (file, field, allowed) in manifests(h) {
        let m: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(m["name"], "kith", "{}", file.display());
        assert_eq!(m["type"], "stdio");
        assert_eq!(m["path"], bin.to_str().unwrap(), "{}", file.display());
        assert_eq!(m[field][0], allowed.as_str(), "{}", file.display());
    }
    let entry = std::fs::read_to_string(h.join(".config/autostart/kith.desktop")).unwrap();
    assert!(
        entry.contains(&format!("Exec={} start\n", bin.display())),
        "the default home needs no --home: {entry}"
    );
    let status: Value = serde_json::from_str(&ok(&kith_in(h, &["status", "--json"]))).unwrap();
    assert_eq!(
        status["name"], "Ann",
        "install --autostart started the node"
    );

    // The background node logs to the state folder, and `logs` shows its end.
    let log = h.join(".local/state/kith/node.log");
    assert!(log.is_file(), "no log at {}", log.display());
    let shown = ok(&kith_in(h, &["logs", "-n", "3"]));
    let lines: Vec<&str> = shown.lines().collect();
    assert!(
        !lines.is_empty() && lines.len() <= 3,
        "logs -n 3 printed: {shown}"
    );
    let file = std::fs::read_to_string(&log).unwrap();
    assert!(file.ends_with(&format!("{}\n", lines[lines.len() - 1])));

    // doctor: all well, then a broken registration is named.
    let o = kith_in(h, &["doctor"]);
    let out = ok(&o);
    assert!(out.contains("ok  Brave: "), "{out}");
    assert!(out.contains("ok  starts at login: "), "{out}");
    let chrome = &manifests(h)[2].0;
    std::fs::write(chrome, "{ not json").unwrap();
    let o = kith_in(h, &["doctor"]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!(
            "!!  Google Chrome: {} is not valid JSON",
            chrome.display()
        )),
        "{out}"
    );

    // --purge without a terminal and without --yes changes nothing.
    let o = kith_in(h, &["uninstall", "--purge"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--yes"));
    assert!(manifests(h)[0].0.is_file() && home.is_dir());
    ok(&kith_in(h, &["status"]));

    // uninstall --purge --yes: the node stops, and every file is gone.
    ok(&kith_in(h, &["uninstall", "--purge", "--yes"]));
    assert_eq!(kith_in(h, &["status"]).status.code(), Some(3));
    for (file, _, _) in manifests(h) {
        assert!(!file.exists(), "{} is left", file.display());
    }
    assert!(!h.join(".config/autostart/kith.desktop").exists());
    assert!(!home.exists(), "the home is left");
    assert!(!log.parent().unwrap().exists(), "the log folder is left");
}

#[test]
fn autostart_systemd_writes_a_unit_for_this_home_and_uninstall_keeps_the_home() {
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path().join("user");
    let n = common::Node::new("Bo");
    let kith_home = n.home().to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["--home", kith_home.as_str()];
        all.extend_from_slice(args);
        kith_in(&h, &all)
    };
    let _stop = StopOnDrop(&h, vec!["--home".into(), kith_home.clone()]);
    ok(&run(&["install", "--autostart=systemd"]));
    let unit = std::fs::read_to_string(h.join(".config/systemd/user/kith.service")).unwrap();
    let bin = common::kith_bin().canonicalize().unwrap();
    assert!(
        unit.contains(&format!(
            "ExecStart={} serve --home {kith_home}\n",
            bin.display()
        )),
        "a home that is not the default one is named: {unit}"
    );
    assert!(unit.contains("WantedBy=default.target"));
    // No systemd runs here, so the node was started as `kith start` does.
    ok(&run(&["status"]));
    // The logs of a home that is not the default one stay in that home.
    assert!(n.home().join("logs/node.log").is_file());

    ok(&run(&["uninstall"]));
    assert!(!h.join(".config/systemd/user/kith.service").exists());
    assert_eq!(run(&["status"]).status.code(), Some(3));
    assert!(
        n.home().join("identity.key").is_file(),
        "uninstall without --purge keeps the home"
    );
}
