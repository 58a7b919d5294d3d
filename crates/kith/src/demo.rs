//! `kith demo`: two local nodes in a temporary home, befriended by invite; and
//! `kith demo --friend`: a demo friend for this home, sharing an album of generated photos.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::control::Client;
use crate::native::wait_for_node;
use kith_node::home::Home;
use kith_proto::api::{reply, Command};

struct DemoNode {
    name: String,
    home: Home,
    child: Child,
}

impl Drop for DemoNode {
    fn drop(&mut self) {
        // SIGTERM for a clean close (Windows: `kith stop`), then reap.
        #[cfg(unix)]
        // SAFETY: kill with a valid pid and signal has no memory effects.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM)
        };
        #[cfg(windows)]
        if let Ok(exe) = std::env::current_exe() {
            let _ = std::process::Command::new(exe)
                .arg("--home")
                .arg(&self.home.dir)
                .arg("stop")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
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

fn start(root: &std::path::Path, name: &str) -> Result<DemoNode> {
    let home = Home {
        dir: root.join(name.split(' ').next().unwrap_or("node").to_lowercase()),
    };
    home.init(name)?;
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--listen", "127.0.0.1:0", "--home"])
        .arg(&home.dir)
        .arg("--log-file")
        .arg(home.log_path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting a demo node")?;
    Ok(DemoNode {
        name: name.to_string(),
        home,
        child,
    })
}

async fn call(home: &Home, cmd: Command) -> Result<Value> {
    let mut c = Client::connect(home).await?;
    Ok(c.call(&cmd).await?)
}

async fn call_as<T: serde::de::DeserializeOwned>(home: &Home, cmd: Command) -> Result<T> {
    let mut c = Client::connect(home).await?;
    Ok(c.call_as(&cmd).await?)
}

/// `share` of these paths with every friend, under a title.
fn share(paths: Vec<PathBuf>, title: &str) -> Command {
    Command::Share {
        paths: paths
            .into_iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect(),
        to: vec![],
        title: Some(title.to_string()),
        link: None,
        keep_location: false,
        album: None,
    }
}

/// A comment (text or reaction) on an album.
fn comment(album: &str, text: Option<&str>, reaction: Option<&str>) -> Command {
    Command::Comment {
        target: album.to_string(),
        text: text.map(str::to_string),
        reaction: reaction.map(str::to_string),
        album: None,
    }
}

/// Runs the demo; with `once`, exits after the handshake.
pub async fn run(once: bool) -> Result<()> {
    let root: PathBuf = std::env::temp_dir().join(format!("kith-demo-{}", std::process::id()));
    kith_node::home::create_private_dir(&root)?;
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
        let s: reply::Status = call_as(&n.home, Command::Status {}).await?;
        eprintln!("  {:<6} {}  on {}", n.name, s.peer_id, s.listen_addr);
    }
    let inv: reply::Invite =
        call_as(&alice.home, Command::InviteCreate { expires_secs: None }).await?;
    eprintln!("Alice invites Bob:\n  {}", inv.link);
    let acc: reply::FriendReply =
        call_as(&bob.home, Command::InviteAccept { link: inv.link }).await?;
    if let Some(f) = acc.friend {
        eprintln!(
            "Bob accepted: QUIC with mutual TLS, each side pinned the other's key.\n  Bob sees {} with safety number {}",
            f.name, f.safety_number
        );
    }
    let fa: Vec<reply::Friend> = call_as(&alice.home, Command::Friends {}).await?;
    for f in fa {
        eprintln!(
            "  Alice sees {} ({}) with safety number {}",
            f.name,
            if f.online { "online" } else { "offline" },
            f.safety_number
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
    let shared = call(&alice.home, share(vec![photos], "Beach 2026")).await?;
    let album = shared["id"].as_str().unwrap_or_default().to_string();
    eprintln!(
        "Alice shares the album \"Beach 2026\" ({} files, {} MB) with Bob",
        shared["items"],
        shared["bytes"].as_u64().unwrap_or(0) / 1_000_000
    );
    let bob_out = root.join("bob-downloads");
    for _ in 0..100 {
        let albums = call(&bob.home, Command::Albums {}).await?;
        if albums.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = call(
        &bob.home,
        Command::Fetch {
            target: album,
            out: Some(bob_out.to_string_lossy().into_owned()),
            timeout_secs: None,
        },
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

/// Name of the demo friend.
const FRIEND: &str = "Sam (demo friend)";

/// Runs a demo friend for `me` until Ctrl-C (or, with `once`, until it has shared its album):
/// befriends `me`'s node (starting it when needed) and shares generated photos with it.
pub async fn run_friend(me: Home, once: bool) -> Result<()> {
    if !me.initialized() {
        anyhow::bail!(
            "{} has no identity yet: run `kith init --name NAME` first",
            me.dir.display()
        );
    }
    let root: PathBuf =
        std::env::temp_dir().join(format!("kith-demo-friend-{}", std::process::id()));
    kith_node::home::create_private_dir(&root)?;
    let result = befriend_and_share(&me, &root, once).await;
    let _ = std::fs::remove_dir_all(&root);
    result
}

async fn befriend_and_share(me: &Home, root: &std::path::Path, once: bool) -> Result<()> {
    if Client::connect(me).await.is_err() {
        crate::native::start_detached(me).map_err(|e| anyhow::anyhow!(e.message))?;
    }
    wait_for_node(me, Duration::from_secs(10)).await?;
    let sam = start(root, FRIEND)?;
    wait_for_node(&sam.home, Duration::from_secs(10)).await?;
    let inv: reply::Invite =
        call_as(&sam.home, Command::InviteCreate { expires_secs: None }).await?;
    let acc: reply::FriendReply = call_as(me, Command::InviteAccept { link: inv.link }).await?;
    let sam_id = acc.friend.map(|f| f.id.to_string()).unwrap_or_default();
    eprintln!(
        "{FRIEND} is now your friend (a node in {}).",
        sam.home.dir.display()
    );
    let photos = root.join("photos");
    std::fs::create_dir_all(&photos)?;
    for (i, scene) in SCENES.iter().enumerate() {
        let path = photos.join(format!("{:02}-{}.jpg", i + 1, scene.name));
        // Taken an hour apart one summer afternoon, at a beach (the location is removed when
        // shared, as for any photo).
        let spec = kith_node::media::exif_build::ExifSpec {
            make: Some("Kith demo camera".into()),
            orientation: Some(1),
            taken: Some(format!("2026:07:14 {:02}:10:00", 10 + i)),
            gps: Some((43.5528, 7.0174)),
        };
        let jpeg =
            kith_node::media::exif_build::jpeg_with_exif(&photo(scene, 1600, 1067), 88, &spec);
        std::fs::write(&path, jpeg).with_context(|| format!("writing {}", path.display()))?;
    }
    let shared = call(&sam.home, share(vec![photos], "Beach day (demo)")).await?;
    let album = shared["id"].as_str().unwrap_or_default();
    // A comment and a reaction, so the album's thread has something to show.
    let text = "What a day! The light at sunset was unreal.";
    call(&sam.home, comment(album, Some(text), None)).await?;
    call(&sam.home, comment(album, None, Some("❤️"))).await?;
    eprintln!(
        "{FRIEND} shared the album \"Beach day (demo)\" ({} photos) with you, and commented on it.",
        shared["items"]
    );
    if !once {
        eprintln!(
            "Open the Kith sidebar in Firefox to see it. Press Ctrl-C to stop the demo friend."
        );
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            r = kith_node::node::terminated() => r?,
        }
    }
    // Leave no friend behind who will never come back.
    let _ = call(me, Command::Unfriend { peer: sam_id }).await;
    eprintln!("The demo friend left.");
    drop(sam);
    Ok(())
}

/// A generated scene: sky, sea and sun colours.
struct Scene {
    name: &'static str,
    sky: [u8; 3],
    horizon: [u8; 3],
    sea: [u8; 3],
    sun: [u8; 3],
}

const SCENES: [Scene; 6] = [
    Scene {
        name: "morning",
        sky: [120, 170, 230],
        horizon: [250, 220, 180],
        sea: [30, 90, 150],
        sun: [255, 250, 220],
    },
    Scene {
        name: "noon",
        sky: [60, 140, 230],
        horizon: [180, 220, 250],
        sea: [20, 110, 170],
        sun: [255, 255, 240],
    },
    Scene {
        name: "sandcastle",
        sky: [90, 160, 220],
        horizon: [230, 230, 210],
        sea: [210, 180, 120],
        sun: [255, 240, 200],
    },
    Scene {
        name: "afternoon",
        sky: [90, 130, 200],
        horizon: [250, 200, 150],
        sea: [30, 80, 130],
        sun: [255, 220, 160],
    },
    Scene {
        name: "sunset",
        sky: [70, 40, 110],
        horizon: [250, 120, 60],
        sea: [40, 30, 80],
        sun: [255, 170, 80],
    },
    Scene {
        name: "night",
        sky: [10, 15, 40],
        horizon: [40, 50, 90],
        sea: [5, 10, 30],
        sun: [240, 240, 255],
    },
];

fn mix(a: [u8; 3], b: [u8; 3], t: f32) -> image::Rgb<u8> {
    let f = |x: u8, y: u8| (x as f32 + (y as f32 - x as f32) * t.clamp(0.0, 1.0)) as u8;
    image::Rgb([f(a[0], b[0]), f(a[1], b[1]), f(a[2], b[2])])
}

/// Paints a simple beach picture: a sky gradient, a sun, and a sea with waves.
fn photo(s: &Scene, w: u32, h: u32) -> image::RgbImage {
    let horizon = h as f32 * 0.6;
    let (sx, sy, r) = (w as f32 * 0.7, h as f32 * 0.35, h as f32 * 0.08);
    image::RgbImage::from_fn(w, h, |x, y| {
        let (xf, yf) = (x as f32, y as f32);
        if yf < horizon {
            let d = ((xf - sx).powi(2) + (yf - sy).powi(2)).sqrt();
            if d < r {
                return image::Rgb(s.sun);
            }
            let glow = (1.0 - (d - r) / (h as f32 * 0.5)).max(0.0) * 0.35;
            let base = mix(s.sky, s.horizon, yf / horizon);
            mix(base.0, s.sun, glow)
        } else {
            let depth = (yf - horizon) / (h as f32 - horizon);
            let wave = ((xf / 37.0 + yf / 5.0).sin() * 0.5 + 0.5) * 0.15 * (1.0 - depth);
            let base = mix(s.horizon, s.sea, depth.sqrt());
            mix(base.0, [255, 255, 255], wave)
        }
    })
}
