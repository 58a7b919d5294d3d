//! The `.deb`'s files that come from code are committed under `packaging/`; these tests make
//! each again and fail when a committed one is stale (`KITH_BLESS=1` rewrites them). And the
//! systemd user unit: `systemd-analyze verify` accepts it, and its `ExecStart` brings up a node.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may panic on what it checks
#![cfg(unix)] // the .deb and systemd are Linux's

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::CommandFactory;
use clap_complete::Shell;

/// Where the package installs the binary.
const INSTALLED: &str = "/usr/bin/kith";

fn packaging_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging")
}

fn completion(shell: Shell) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut kith::cli::Cli::command(), "kith", &mut out);
    String::from_utf8(out).expect("completion is UTF-8")
}

/// The Debian copyright file: the licences the crate names, MIT's text in full and
/// Apache-2.0's by reference to the copy every Debian system has.
fn copyright() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mit = std::fs::read_to_string(root.join("LICENSE-MIT")).expect("LICENSE-MIT");
    assert_eq!(env!("CARGO_PKG_LICENSE"), "MIT OR Apache-2.0");
    assert!(
        root.join("LICENSE-APACHE").is_file(),
        "LICENSE-APACHE is missing"
    );
    let mut s = String::from(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: kith\n\
         Upstream-Contact: The Kith authors <kith@example.org>\n\n\
         Files: *\nCopyright: 2026 The Kith authors\nLicense: MIT or Apache-2.0\n\n\
         License: MIT\n",
    );
    for line in mit.trim_end().lines() {
        s.push_str(if line.is_empty() { " ." } else { " " });
        s.push_str(line);
        s.push('\n');
    }
    s.push_str(
        "\nLicense: Apache-2.0\n \
         On Debian systems, the complete text of the Apache License, Version 2.0, is\n \
         in /usr/share/common-licenses/Apache-2.0.\n",
    );
    s
}

/// The man pages, as `clap_mangen::generate_to` makes them: `kith.1`, and one page per
/// subcommand (`kith-serve.1`, `kith-identity-export.1`, …) that `kith.1` refers to.
fn man_pages() -> Vec<(String, String)> {
    fn add(cmd: clap::Command, out: &mut Vec<(String, String)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            add(sub.clone(), out);
        }
        let man = clap_mangen::Man::new(cmd);
        let mut text = Vec::new();
        man.render(&mut text).expect("render a man page");
        let text = String::from_utf8(text).expect("man page is UTF-8");
        out.push((format!("man/{}", man.get_filename()), text));
    }
    let mut cmd = kith::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    add(cmd, &mut out);
    out.sort();
    out
}

/// Every generated file under `packaging/`, with the text it must hold.
fn generated() -> Vec<(String, String)> {
    let bin = Path::new(INSTALLED);
    let mut files: Vec<(String, String)> = vec![
        (
            "firefox/kith.json",
            kith::install::manifest_text(bin).expect("Firefox manifest"),
        ),
        (
            "chromium/kith.json",
            kith::install::chromium_manifest_text(bin).expect("Chromium manifest"),
        ),
        (
            "kith.service",
            kith::service::systemd_unit(bin, None).expect("unit"),
        ),
        ("completions/kith.bash", completion(Shell::Bash)),
        ("completions/_kith", completion(Shell::Zsh)),
        ("completions/kith.fish", completion(Shell::Fish)),
        ("copyright", copyright()),
    ]
    .into_iter()
    .map(|(name, text)| (name.to_string(), text))
    .collect();
    files.extend(man_pages());
    files
}

#[test]
fn committed_packaging_files_match_what_the_code_generates() {
    let bless = std::env::var("KITH_BLESS").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    let files = generated();
    // A page whose subcommand is gone is stale too.
    let man_dir = packaging_dir().join("man");
    for entry in std::fs::read_dir(&man_dir).into_iter().flatten().flatten() {
        let name = format!("man/{}", entry.file_name().to_string_lossy());
        if !files.iter().any(|(n, _)| *n == name) {
            if bless {
                std::fs::remove_file(entry.path()).expect("remove");
                eprintln!("removed packaging/{name}");
            } else {
                stale.push(name);
            }
        }
    }
    for (name, want) in files {
        let path = packaging_dir().join(&name);
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have == want {
            continue;
        }
        if bless {
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(&path, want).expect("write");
            eprintln!("rewrote packaging/{name}");
        } else {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "stale under packaging/: {stale:?}; rerun this test with KITH_BLESS=1 to rewrite them \
         and commit the result"
    );
}

#[test]
fn packaging_changelog_names_this_version_first() {
    let text = std::fs::read_to_string(packaging_dir().join("changelog")).expect("changelog");
    let first = text.lines().next().unwrap_or_default();
    let want = format!("kith ({}-1) ", env!("CARGO_PKG_VERSION"));
    assert!(
        first.starts_with(&want),
        "packaging/changelog starts with {first:?}; add an entry for {want:?} (the .deb's version)"
    );
}

/// The unit's `ExecStart` split into the program and its arguments (the paths tests use hold
/// no quotes or specifiers).
fn exec_start(unit: &str) -> (PathBuf, Vec<String>) {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart=");
    let mut words = line.split_whitespace().map(str::to_string);
    let program = PathBuf::from(words.next().expect("a program"));
    (program, words.collect())
}

/// The unit for the built binary, written to `dir/kith.service`.
fn unit_for_built_binary(dir: &Path) -> PathBuf {
    let path = dir.join("kith.service");
    let unit = kith::service::systemd_unit(&common::kith_bin(), None).expect("unit");
    std::fs::write(&path, unit).expect("write unit");
    path
}

#[test]
fn systemd_analyze_verify_accepts_the_unit_for_the_built_binary() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        return common::skip("systemd-analyze is missing (tests/package/setup.sh installs it)");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_for_built_binary(dir.path());
    // A user manager's checks without a running one: it needs only a runtime directory. The man
    // page is not installed here (tests/package/check.sh verifies with it, from the package).
    let runtime = dir.path().join("run");
    std::fs::create_dir(&runtime).expect("mkdir");
    let o = Command::new("systemd-analyze")
        .args(["--user", "verify", "--man=no"])
        .arg(&unit)
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .expect("run systemd-analyze");
    let err = String::from_utf8_lossy(&o.stderr);
    // Unknown keys and bad values are warnings with exit 0: any line naming the unit fails.
    let about_unit: Vec<&str> = err.lines().filter(|l| l.contains("kith.service")).collect();
    assert!(
        o.status.success() && about_unit.is_empty(),
        "systemd-analyze verify: {}\n{err}",
        o.status
    );
}

#[test]
fn the_units_exec_start_brings_up_a_node_that_answers_status_and_stops_on_sigterm() {
    let home = tempfile::tempdir().expect("tempdir");
    let o = common::kith(home.path(), &["init", "--name", "unit"]);
    assert!(
        o.status.success(),
        "init: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let unit_dir = tempfile::tempdir().expect("tempdir");
    let unit = std::fs::read_to_string(unit_for_built_binary(unit_dir.path())).expect("unit");
    let (program, args) = exec_start(&unit);
    assert_eq!(program, common::kith_bin());
    assert_eq!(args, ["serve"]);
    // As systemd would run it, with the home from the environment (no --home), on loopback
    // with LAN discovery, the DHT and port mapping off.
    let log = std::fs::File::create(home.path().join("unit-node.log")).expect("log");
    let mut node = KillOnDrop(
        Command::new(&program)
            .args(&args)
            .env("KITH_HOME", home.path())
            .env("KITH_LOCAL_ONLY", "1")
            .env("KITH_LISTEN", "127.0.0.1:0")
            .env("KITH_NO_LAN", "1")
            .env("KITH_NO_DHT", "1")
            .env("KITH_NO_PORTMAP", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn ExecStart"),
    );
    let status = || {
        Command::new(common::kith_bin())
            .arg("status")
            .env("KITH_HOME", home.path())
            .env("KITH_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .expect("kith status")
    };
    let log_text =
        || std::fs::read_to_string(home.path().join("unit-node.log")).unwrap_or_default();
    let up = common::wait_until(Duration::from_secs(15), || status().status.success());
    assert!(
        up,
        "the unit's ExecStart did not bring up a node:\n{}",
        log_text()
    );
    // `systemctl --user stop` sends SIGTERM and waits TimeoutStopSec (15 s): the node must
    // exit cleanly well before, or the unit would be marked failed.
    let pid = i32::try_from(node.0.id()).expect("pid");
    // SAFETY: kill(2) of our own child, which has not been waited for, so the pid is its.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let exited = common::wait_until(Duration::from_secs(10), || {
        node.0.try_wait().ok().flatten().is_some()
    });
    assert!(
        exited,
        "the node did not stop within 10 s of SIGTERM:\n{}",
        log_text()
    );
    let code = node.0.wait().expect("wait");
    assert!(
        code.success(),
        "the node exited with {code} on SIGTERM:\n{}",
        log_text()
    );
    assert!(
        !status().status.success(),
        "a node still answers after the stop"
    );
}

/// A child process killed (if still running) and reaped when the test ends, passed or not.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
