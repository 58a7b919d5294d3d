//! `kith demo`: two local nodes in a temporary home, befriended by invite.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::control::Client;
use crate::home::Home;
use crate::native::wait_for_node;

struct DemoNode {
    name: &'static str,
    home: Home,
    child: Child,
}

impl Drop for DemoNode {
    fn drop(&mut self) {
        // SIGTERM for a clean close, then reap.
        // SAFETY: kill with a valid pid and signal has no memory effects.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(root: &std::path::Path, name: &'static str) -> Result<DemoNode> {
    let home = Home {
        dir: root.join(name.to_lowercase()),
    };
    home.init(name)?;
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--listen", "127.0.0.1:0", "--home"])
        .arg(&home.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(home.log_path())?)
        .spawn()
        .context("starting a demo node")?;
    Ok(DemoNode { name, home, child })
}

async fn call(home: &Home, cmd: Value) -> Result<Value> {
    let mut c = Client::connect(home).await?;
    Ok(c.call(cmd).await?)
}

/// Runs the demo; with `once`, exits after the handshake.
pub async fn run(once: bool) -> Result<()> {
    let root: PathBuf = std::env::temp_dir().join(format!("kith-demo-{}", std::process::id()));
    crate::home::create_private_dir(&root)?;
    let result = demo(&root, once).await;
    let _ = std::fs::remove_dir_all(&root);
    result
}

async fn demo(root: &std::path::Path, once: bool) -> Result<()> {
    eprintln!(
        "Kith demo: two nodes on this computer, in {}",
        root.display()
    );
    let alice = start(root, "Alice")?;
    let bob = start(root, "Bob")?;
    for n in [&alice, &bob] {
        wait_for_node(&n.home, Duration::from_secs(10)).await?;
        let s = call(&n.home, json!({"cmd": "status"})).await?;
        eprintln!(
            "  {:<6} {}  on {}",
            n.name,
            s["peer_id"].as_str().unwrap_or(""),
            s["listen_addr"].as_str().unwrap_or("")
        );
    }
    let inv = call(&alice.home, json!({"cmd": "invite_create"})).await?;
    let link = inv["link"].as_str().unwrap_or_default();
    eprintln!("Alice invites Bob:\n  {link}");
    let acc = call(&bob.home, json!({"cmd": "invite_accept", "link": link})).await?;
    eprintln!(
        "Bob accepted: QUIC with mutual TLS, each side pinned the other's key.\n  Bob sees {} with safety number {}",
        acc["friend"]["name"].as_str().unwrap_or("?"),
        acc["friend"]["safety_number"].as_str().unwrap_or("?")
    );
    let fa = call(&alice.home, json!({"cmd": "friends"})).await?;
    for f in fa.as_array().into_iter().flatten() {
        eprintln!(
            "  Alice sees {} ({}) with safety number {}",
            f["name"].as_str().unwrap_or("?"),
            if f["online"] == json!(true) {
                "online"
            } else {
                "offline"
            },
            f["safety_number"].as_str().unwrap_or("?")
        );
    }
    // Alice shares a photo folder; Bob fetches it, every chunk verified.
    let photos = root.join("alice-photos");
    std::fs::create_dir_all(&photos)?;
    for (i, size) in [(1, 3_000_000usize), (2, 5_000_000), (3, 60_000_000)] {
        let bytes: Vec<u8> = (0..size)
            .map(|j| (j.wrapping_mul(2_654_435_761) >> 13) as u8 ^ i as u8)
            .collect();
        std::fs::write(photos.join(format!("beach-{i}.raw")), bytes)?;
    }
    let shared = call(
        &alice.home,
        json!({"cmd": "share", "paths": [photos], "title": "Beach 2026"}),
    )
    .await?;
    let album = shared["id"].as_str().unwrap_or_default().to_string();
    eprintln!(
        "Alice shares the album \"Beach 2026\" ({} files, {} MB) with Bob",
        shared["items"],
        shared["bytes"].as_u64().unwrap_or(0) / 1_000_000
    );
    let bob_out = root.join("bob-downloads");
    for _ in 0..100 {
        let albums = call(&bob.home, json!({"cmd": "albums"})).await?;
        if albums.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = call(
        &bob.home,
        json!({"cmd": "fetch", "target": album, "out": bob_out}),
    )
    .await?;
    let secs = got["secs"].as_f64().unwrap_or(0.0);
    eprintln!(
        "Bob fetched it, verified, in {:.2}s ({:.0} MB/s) into {}",
        secs,
        got["bytes"].as_u64().unwrap_or(0) as f64 / 1e6 / secs.max(1e-3),
        bob_out.display()
    );
    if once {
        eprintln!("Demo done.");
        return Ok(());
    }
    eprintln!("\nBoth nodes keep running. Try, in another terminal:");
    eprintln!("  kith --home {} friends", alice.home.dir.display());
    eprintln!("  kith --home {} status", bob.home.dir.display());
    eprintln!("  kith --home {} albums", bob.home.dir.display());
    eprintln!("Press Ctrl-C to stop the demo.");
    tokio::signal::ctrl_c().await?;
    eprintln!("Stopping the demo nodes.");
    Ok(())
}
