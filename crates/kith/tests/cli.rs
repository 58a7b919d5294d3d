//! The command line's contract: install, doctor, demo, usage errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks

mod common;

fn with_home_env(
    user_home: &std::path::Path,
    kith_home: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    common::kith_command()
        .args(args)
        .env("HOME", user_home)
        .env("KITH_HOME", kith_home)
        .env("KITH_LOG", "warn")
        .output()
        .unwrap()
}

// Unix only: manifests under HOME; Windows has its own test below (registry).
#[cfg(unix)]
#[test]
fn install_writes_the_firefox_manifest_for_this_binary_and_uninstall_removes_it() {
    let user = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let o = with_home_env(user.path(), home.path(), &["install"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let path = user
        .path()
        .join(".mozilla/native-messaging-hosts/kith.json");
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(m["name"], "kith");
    assert_eq!(m["type"], "stdio");
    assert_eq!(m["allowed_extensions"], serde_json::json!(["kith@kith"]));
    let bin = std::fs::canonicalize(common::kith_bin()).unwrap();
    assert_eq!(m["path"], bin.to_str().unwrap());
    let o = with_home_env(user.path(), home.path(), &["uninstall"]);
    assert!(o.status.success());
    assert!(!path.exists());
}

// Unix only: keeps its manifests apart by HOME, and checks file modes; Windows installs in the registry.
#[cfg(unix)]
#[test]
fn doctor_names_each_problem_and_passes_when_all_is_well() {
    let user = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let o = with_home_env(user.path(), home.path(), &["doctor"]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("kith install"), "{text}");
    assert!(text.contains("kith init"), "{text}");
    assert!(with_home_env(user.path(), home.path(), &["install"])
        .status
        .success());
    assert!(
        with_home_env(user.path(), home.path(), &["init", "--name", "Ann"])
            .status
            .success()
    );
    let o = with_home_env(user.path(), home.path(), &["doctor"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("no node is running"), "{text}");
    let mut node = common::Node {
        dir: home,
        child: None,
        name: "Ann".into(),
    };
    node.start();
    let o = with_home_env(user.path(), node.home(), &["doctor"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("the home is readable only by you"), "{text}");
    // A file with secrets opened to others is named.
    use std::os::unix::fs::PermissionsExt;
    let cfg = node.home().join("config.json");
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = with_home_env(user.path(), node.home(), &["doctor"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("{} has mode 644", cfg.display())),
        "{text}"
    );
    // The node makes it private again when it starts.
    node.stop();
    node.start();
    let o = with_home_env(user.path(), node.home(), &["doctor"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // A friend that went away is explained.
    let mut b = common::Node::started("Bo");
    node.befriend(&b);
    b.stop();
    let bi = b.id();
    assert!(common::wait_until(
        std::time::Duration::from_secs(10),
        || !node.online_with(&bi)
    ));
    let o = with_home_env(user.path(), node.home(), &["doctor"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1));
    assert!(text.contains("friend Bo is not reachable"), "{text}");
}

#[test]
fn doctor_explains_a_friend_whose_node_stopped() {
    let user = tempfile::tempdir().unwrap();
    let ann = common::Node::started("Ann");
    let mut bo = common::Node::started("Bo");
    ann.befriend(&bo);
    let bi = bo.id();
    assert!(common::wait_until(
        std::time::Duration::from_secs(10),
        || ann.online_with(&bi)
    ));
    let doctor = || {
        let o = with_home_env(user.path(), ann.home(), &["doctor"]);
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let (_, text) = doctor();
    assert!(
        text.contains("ok  the node is running (1 friend, 1 connected)"),
        "{text}"
    );
    assert!(text.contains("ok  friend Bo is connected"), "{text}");
    assert!(!text.contains("not reachable"), "{text}");

    let addr = bo.listen_addr();
    bo.stop();
    // Once Ann's node has redialled Bo and failed, doctor says where it tried and what failed.
    assert!(common::wait_until(
        std::time::Duration::from_secs(30),
        || ann
            .friend(&bi)
            .is_some_and(|f| f["online"] == false && f["last_error"].is_string())
    ));
    let (code, text) = doctor();
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("ok  the node is running (1 friend, 0 connected)"),
        "{text}"
    );
    let line = text
        .lines()
        .position(|l| l.starts_with("!!  friend Bo is not reachable: tried "))
        .unwrap_or_else(|| panic!("no line for Bo in {text}"));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[line].contains(&addr), "{text}");
    assert!(lines[line].contains("; last error: "), "{text}");
    assert_eq!(
        lines.get(line + 1).copied(),
        Some(format!("    {}", kith::install::UNREACHABLE_HINT).as_str()),
        "{text}"
    );
}

#[test]
fn usage_errors_exit_2_and_id_prints_the_peer_id_alone() {
    let home = tempfile::tempdir().unwrap();
    assert_eq!(
        common::kith(home.path(), &["frobnicate"]).status.code(),
        Some(2)
    );
    assert_eq!(common::kith(home.path(), &["init"]).status.code(), Some(2));
    assert_eq!(common::kith(home.path(), &["id"]).status.code(), Some(1));
    let o = common::kith(home.path(), &["init", "--name", "Ann"]);
    let id = common::last_line(&o);
    assert_eq!(id.len(), 53);
    assert_eq!(
        common::stdout(&common::kith(home.path(), &["id"])).trim(),
        id
    );
    // KITH_HOME is the same as --home.
    let o = common::kith_command()
        .arg("id")
        .env("KITH_HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(common::last_line(&o), id);
}

#[test]
fn demo_starts_two_nodes_befriends_them_shares_an_album_and_cleans_up() {
    let o = common::kith_command()
        .args(["demo", "--once"])
        .env("KITH_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("Bob accepted"), "{err}");
    assert!(err.contains("Alice sees Bob (online)"), "{err}");
    assert!(err.contains("Bob fetched it, verified"), "{err}");
}

// Unix only: it ends the demo with SIGINT, which Windows cannot send to another console's process.
#[cfg(unix)]
#[test]
fn demo_friend_befriends_my_node_shares_photos_comments_and_leaves_no_friend_behind() {
    let me = common::Node::started("Me");
    let mut demo = common::kith_command()
        .args(["demo", "--friend", "--home"])
        .arg(me.home())
        .env("KITH_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let album = common::wait_until(std::time::Duration::from_secs(30), || {
        me.json(&["albums", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["title"] == "Beach day (demo)")
    });
    assert!(album, "the demo album never reached me");
    let albums = me.json(&["albums", "--json"]);
    assert_eq!(albums[0]["item_count"], 6);
    assert_eq!(albums[0]["owner_name"], "Sam (demo friend)");
    assert_eq!(me.json(&["friends", "--json"])[0]["online"], true);
    let id = albums[0]["id"].as_str().unwrap().to_string();
    let thread = || me.json(&["comments", &id, "--json"])["comments"].clone();
    assert!(
        common::wait_until(std::time::Duration::from_secs(15), || thread()
            .as_array()
            .is_some_and(|c| c.len() == 2)),
        "the demo friend's comment and reaction never arrived"
    );
    assert_eq!(thread()[0]["author_name"], "Sam (demo friend)");
    assert_eq!(thread()[1]["reaction"], "❤️");
    // Ctrl-C: the demo friend leaves, and its album with it.
    // SAFETY: kill with a valid pid and signal has no memory effects.
    unsafe { libc::kill(demo.id() as i32, libc::SIGINT) };
    assert!(demo.wait().unwrap().success());
    assert_eq!(me.json(&["friends", "--json"]), serde_json::json!([]));
    assert_eq!(me.json(&["albums", "--json"]), serde_json::json!([]));
}

/// Stops a home's background node when dropped, also when an assertion failed.
struct StopOnDrop<'a>(&'a common::Node);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.cli(&["stop"]);
    }
}

#[test]
fn start_brings_up_one_background_node_and_status_never_starts_one() {
    let n = common::Node::new("Ann");
    let _stop = StopOnDrop(&n);
    // `status` reports that no node runs, and starts none.
    assert_eq!(n.cli(&["status"]).status.code(), Some(3));
    assert_eq!(n.cli(&["status"]).status.code(), Some(3));
    // `start` returns once the node answers; `status` then works at once.
    let o = n.cli(&["start"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = n.json(&["status", "--json"]);
    // Starting again keeps the node that runs.
    let o = n.cli(&["start"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("runs already"));
    assert_eq!(
        n.json(&["status", "--json"])["listen_addr"],
        first["listen_addr"]
    );
    assert!(n.cli(&["stop"]).status.success());
    assert_eq!(n.cli(&["status"]).status.code(), Some(3));
    // A home without an identity cannot start a node.
    let empty = tempfile::tempdir().unwrap();
    let o = common::kith(empty.path(), &["start"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("kith init"));
}

/// The Windows tests share HKCU's real keys: one at a time.
#[cfg(windows)]
static REGISTRY: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(windows)]
#[test]
fn install_on_windows_writes_both_manifests_and_the_four_registry_keys_doctor_checks_them_and_uninstall_removes_them(
) {
    use kith::install::Family as Browser;
    use kith::install_windows::{Places, BROWSER_KEYS};
    use winreg::{enums::HKEY_CURRENT_USER, RegKey};
    let _one = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let home = tempfile::tempdir().unwrap();
    let places = Places::user().unwrap();
    let o = with_home_env(home.path(), home.path(), &["install"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let hkcu = RegKey::predef(HKEY_CURRENT_USER);
    let bin = common::kith_bin();
    for (browser_key, b) in BROWSER_KEYS {
        let file: String = hkcu
            .open_subkey(places.key(browser_key))
            .unwrap()
            .get_value("")
            .unwrap();
        assert_eq!(std::path::PathBuf::from(&file), places.manifest(b));
        let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(
            std::fs::canonicalize(m["path"].as_str().unwrap()).unwrap(),
            std::fs::canonicalize(&bin).unwrap()
        );
        let allowed = match b {
            Browser::Firefox => &m["allowed_extensions"],
            Browser::Chromium => &m["allowed_origins"],
        };
        assert_eq!(allowed.as_array().map(|a| a.len()), Some(1), "{m}");
    }
    // doctor checks every key, and names one that is gone.
    let doctor = |want: &str| {
        let o = with_home_env(home.path(), home.path(), &["doctor"]);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(out.contains(want), "doctor lacks {want:?}: {out}");
    };
    let edge = places.key(r"Microsoft\Edge\NativeMessagingHosts");
    doctor(&format!(r"ok  HKCU\{edge} names "));
    hkcu.delete_subkey_all(&edge).unwrap();
    doctor(&format!(
        r"!!  no registry key HKCU\{edge}: run `kith install`"
    ));
    let o = with_home_env(home.path(), home.path(), &["uninstall"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (browser_key, b) in BROWSER_KEYS {
        assert!(hkcu.open_subkey(places.key(browser_key)).is_err());
        assert!(!places.manifest(b).exists());
    }
}

#[cfg(windows)]
#[test]
fn install_autostart_on_windows_sets_the_run_value_starts_the_node_and_uninstall_undoes_both() {
    use kith::install_windows::{program_of, run_command, Places};
    let _one = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let user = tempfile::tempdir().unwrap();
    let n = common::Node::new("Win");
    let _stop = StopOnDrop(&n);
    let o = with_home_env(user.path(), n.home(), &["install", "--autostart"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let places = Places::user().unwrap();
    let cmd = run_command(&places).expect("the Run value");
    let program = program_of(&cmd).expect("a quoted program");
    assert_eq!(
        std::fs::canonicalize(program).unwrap(),
        std::fs::canonicalize(common::kith_bin()).unwrap()
    );
    assert!(
        cmd.ends_with(&format!(" start --home \"{}\"", n.home().display())),
        "{cmd}"
    );
    assert!(
        n.cli(&["status"]).status.success(),
        "install --autostart started the node"
    );
    let o = with_home_env(user.path(), n.home(), &["doctor"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("ok  starts at login: HKCU\\"), "{out}");
    let o = with_home_env(user.path(), n.home(), &["uninstall"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(run_command(&places), None);
    assert_eq!(n.cli(&["status"]).status.code(), Some(3));
}
