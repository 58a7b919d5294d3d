//! Crash and disk tests: `kill -9` of a fetching node at random moments, and a full disk.
//! Rounds: `KITH_CRASH_ROUNDS` (default 20; the soak command in tests/README.md runs more).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{last_line, wait_until, Node};
use serde_json::Value;

const SOON: Duration = Duration::from_secs(20);

fn pseudo_random(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn write_random(path: &Path, len: usize, mut seed: u64) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|_| pseudo_random(&mut seed) as u8).collect();
    std::fs::write(path, &data).unwrap();
    data
}

fn start_fetch(n: &Node, id: &str, out: &Path) -> std::process::Child {
    Command::new(common::kith_bin())
        .arg("--home")
        .arg(n.home())
        .args([
            "fetch",
            id,
            "--out",
            out.to_str().unwrap(),
            "--timeout",
            "60",
            "--json",
        ])
        .env("KITH_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A owner serving at a limited rate, B a friend who received the album.
fn pair(file_len: usize, a_args: &[&str]) -> (Node, Node, String, Vec<u8>, tempfile::TempDir) {
    let mut a = Node::new("Ann");
    a.start_with("127.0.0.1:0", a_args, &[]);
    let b = Node::started("Bo");
    a.befriend(&b);
    let src = tempfile::tempdir().unwrap();
    let data = write_random(
        &src.path().join("movie.bin"),
        file_len,
        0x1234_5678_9abc_def1,
    );
    let o = a.cli(&["share", src.path().join("movie.bin").to_str().unwrap()]);
    assert!(o.status.success());
    let id = last_line(&o);
    assert!(wait_until(SOON, || b
        .json(&["albums", "--json"])
        .as_array()
        .is_some_and(|l| l.len() == 1)));
    (a, b, id, data, src)
}

#[test]
fn kill_9_of_the_fetching_node_at_random_moments_always_ends_with_a_correct_file() {
    let rounds: usize = std::env::var("KITH_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    // 12 MiB at 8 MB/s: each fetch takes about a second and a half, so kills land mid-transfer.
    let (_a, mut b, id, data, _src) = pair(12 * 1024 * 1024, &["--upload-rate", "8M"]);
    let b_addr = b.listen_addr();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut resumed_with_less = 0;
    for round in 0..rounds {
        let out = tempfile::tempdir().unwrap();
        let mut child = start_fetch(&b, &id, out.path());
        let wait = 100 + pseudo_random(&mut seed) % 1400;
        std::thread::sleep(Duration::from_millis(wait));
        b.kill9();
        let _ = common::wait_child(&mut child, Duration::from_secs(5));
        // No file ever has its final name before it is complete and verified.
        if let Ok(bytes) = std::fs::read(out.path().join("movie.bin")) {
            assert_eq!(bytes, data, "round {round}: a wrong file was placed");
        }
        b.start_at(&b_addr);
        // The restarted node resumes by itself; asking again joins it and reports the result.
        let o = b.cli(&[
            "fetch",
            &id,
            "--out",
            out.path().to_str().unwrap(),
            "--timeout",
            "60",
            "--json",
        ]);
        assert!(
            o.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        if v["received_bytes"].as_u64().unwrap() < data.len() as u64 {
            resumed_with_less += 1;
        }
        assert_eq!(
            std::fs::read(out.path().join("movie.bin")).unwrap(),
            data,
            "round {round}"
        );
        let names: Vec<String> = std::fs::read_dir(out.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec!["movie.bin".to_string()],
            "round {round}: leftovers"
        );
        // The store agrees with the disk: nothing is left to resume.
        assert!(
            wait_until(SOON, || b
                .json(&["transfers", "--json"])
                .as_array()
                .is_some_and(|t| t.is_empty())),
            "round {round}"
        );
    }
    eprintln!("{rounds} rounds; {resumed_with_less} resumed from a partial download");
    assert!(
        resumed_with_less > 0,
        "no round resumed from partial data: kills never landed mid-transfer"
    );
}

fn mount_tmpfs(dir: &Path, size: &str) -> bool {
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

struct Unmount<'a>(&'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

#[test]
fn a_full_disk_gives_a_clear_error_keeps_the_partial_file_and_completes_later() {
    let disk = tempfile::tempdir().unwrap();
    if !mount_tmpfs(disk.path(), "12m") {
        // Mounting needs root (CI runs as root); say so rather than pass silently.
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root?)");
        return;
    }
    let _unmount = Unmount(disk.path());
    let (_a, b, id, data, _src) = pair(8 * 1024 * 1024, &["--upload-rate", "4M"]);
    let out = disk.path().join("Kith");
    // Too big from the start: refused before anything is written.
    let filler = disk.path().join("filler");
    std::fs::write(&filler, vec![1u8; 6 * 1024 * 1024]).unwrap();
    let o = b.cli(&[
        "fetch",
        &id,
        "--out",
        out.to_str().unwrap(),
        "--timeout",
        "20",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["code"], "disk_full", "{v}");
    std::fs::remove_file(&filler).unwrap();
    // The disk fills up during the transfer.
    let mut child = start_fetch(&b, &id, &out);
    std::thread::sleep(Duration::from_millis(700));
    let free = kith::transfer::fetch::free_space(disk.path()).unwrap();
    let _ = std::fs::write(&filler, vec![1u8; free as usize]);
    let status = common::wait_child(&mut child, Duration::from_secs(30)).expect("fetch hung");
    let mut text = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut text).unwrap();
    assert_eq!(status.code(), Some(1), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"]["code"], "disk_full", "{v}");
    let part = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".part"));
    assert!(part.is_some(), "the partial download was not kept");
    assert!(!out.join("movie.bin").exists());
    // Room again: the fetch completes, pulling only what was missing.
    std::fs::remove_file(&filler).unwrap();
    let o = b.cli(&[
        "fetch",
        &id,
        "--out",
        out.to_str().unwrap(),
        "--timeout",
        "30",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["received_bytes"].as_u64().unwrap() < data.len() as u64);
    assert_eq!(std::fs::read(out.join("movie.bin")).unwrap(), data);
}
