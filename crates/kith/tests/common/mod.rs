//! Helpers for tests that start real `kith` processes.
#![allow(dead_code)]

pub mod host;

use kith_node::net::tls::SelfSigned as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The kith binary under test.
pub fn kith_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kith"))
}

/// A `kith` command as every test runs it: under the guard that refuses a node whose settings
/// would send anything off this machine (`KITH_LOCAL_ONLY=1`), and with nodes started without
/// `--listen` (by the native host or `demo --friend`) on loopback, on their home's port.
pub fn kith_command() -> Command {
    program_command(&kith_bin())
}

/// As [`kith_command`], for another copy of the program.
pub fn program_command(program: &Path) -> Command {
    let mut c = Command::new(program);
    c.env("KITH_LOCAL_ONLY", "1")
        .env("KITH_LISTEN", "127.0.0.1");
    c
}

/// Whether a test that cannot run here must fail (`CI=true`) rather than skip.
pub fn must_not_skip() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Says a test skips (prints `SKIPPED: why`), or fails it under `CI=true`.
pub fn skip(why: &str) {
    assert!(!must_not_skip(), "CI=true, and this test would skip: {why}");
    eprintln!("SKIPPED: {why}");
}

/// The arguments of `kith fetch ALBUM --out OUT --timeout SECS --json`.
fn fetch_args(home: &Path, album: &str, out: &Path, timeout_secs: u32) -> Vec<String> {
    let s = |p: &Path| p.to_string_lossy().into_owned();
    vec![
        "--home".into(),
        s(home),
        "fetch".into(),
        album.into(),
        "--out".into(),
        s(out),
        "--timeout".into(),
        timeout_secs.to_string(),
        "--json".into(),
    ]
}

/// Runs `kith fetch ALBUM --out OUT --timeout SECS --json` for a node; returns the output.
pub fn fetch_json(n: &Node, album: &str, out: &Path, timeout_secs: u32) -> Output {
    kith_command()
        .args(fetch_args(n.home(), album, out, timeout_secs))
        .env("KITH_LOG", "warn")
        .output()
        .expect("kith fetch")
}

/// Starts the same fetch without waiting (its JSON on stdout, stderr dropped).
pub fn spawn_fetch(n: &Node, album: &str, out: &Path, timeout_secs: u32) -> Child {
    kith_command()
        .args(fetch_args(n.home(), album, out, timeout_secs))
        .env("KITH_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kith fetch")
}

/// Runs `kith` with a home and arguments; returns the output.
pub fn kith(home: &Path, args: &[&str]) -> Output {
    kith_command()
        .arg("--home")
        .arg(home)
        .args(args)
        .env("KITH_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run kith")
}

/// Stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The last non-empty line of stdout.
pub fn last_line(o: &Output) -> String {
    stdout(o)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Polls `f` until it is true or the time is up.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

/// A node in its own temporary home.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub name: String,
}

impl Node {
    /// Makes a home with an identity (no node running yet).
    pub fn new(name: &str) -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = Node {
            dir,
            child: None,
            name: name.to_string(),
        };
        let o = kith(n.home(), &["init", "--name", name]);
        assert!(
            o.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        n
    }

    /// Makes a home with an identity and starts its node on a loopback port.
    pub fn started(name: &str) -> Node {
        let mut n = Node::new(name);
        n.start();
        n
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    /// Starts `kith serve` on 127.0.0.1 with a fresh port and waits until it answers.
    pub fn start(&mut self) {
        self.start_at("127.0.0.1:0");
    }

    /// The address the running node listens on.
    pub fn listen_addr(&self) -> String {
        self.json(&["status", "--json"])["listen_addr"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Starts `kith serve` on a given address and waits until it answers.
    pub fn start_at(&mut self, listen: &str) {
        self.start_with(listen, &[], &[]);
    }

    /// Starts `kith serve` with extra arguments and environment, and waits until it answers.
    pub fn start_with(&mut self, listen: &str, args: &[&str], env: &[(&str, &str)]) {
        assert!(self.child.is_none());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.home().join("test-node.log"))
            .expect("log");
        let child = kith_command()
            .args(["serve", "--listen", listen, "--home"])
            .arg(self.home())
            .args(args)
            .envs(env.iter().copied())
            .env("KITH_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn serve");
        self.child = Some(child);
        assert!(
            wait_until(Duration::from_secs(10), || self
                .cli(&["status"])
                .status
                .success()),
            "node {} did not start",
            self.name
        );
    }

    /// Stops the node with SIGTERM (on Windows, where no signal reaches a process of another
    /// console, with `kith stop`) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            #[cfg(unix)]
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM)
            };
            #[cfg(windows)]
            let _ = self.cli(&["stop"]);
            let _ = wait_child(&mut c, Duration::from_secs(5));
        }
    }

    /// Kills the node with SIGKILL.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        kith(self.home(), args)
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let o = self.cli(args);
        assert!(
            o.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).expect("json output")
    }

    pub fn id(&self) -> String {
        last_line(&self.cli(&["id"]))
    }

    pub fn friends(&self) -> Vec<Value> {
        self.json(&["friends", "--json"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn friend(&self, id: &str) -> Option<Value> {
        self.friends().into_iter().find(|f| f["id"] == id)
    }

    pub fn online_with(&self, id: &str) -> bool {
        self.friend(id).is_some_and(|f| f["online"] == true)
    }

    pub fn invite(&self) -> String {
        let o = self.cli(&["invite"]);
        assert!(
            o.status.success(),
            "invite failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        last_line(&o)
    }

    /// Makes `other` a friend through an invite from `self`.
    pub fn befriend(&self, other: &Node) {
        let link = self.invite();
        let o = other.cli(&["accept", &link]);
        assert!(
            o.status.success(),
            "accept failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(last_line(&o), self.id());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home().join("test-node.log")).unwrap_or_default()
    }

    /// Replaces the (stopped) node's home with a copy made by `copy_tree`, at the same path,
    /// as a machine finds its disk after a power cut (records hold absolute paths). The test
    /// log is kept.
    pub fn restore_home(&mut self, copy: &Path) {
        assert!(self.child.is_none(), "stop the node first");
        for e in std::fs::read_dir(self.home()).unwrap().flatten() {
            if e.file_name() == "test-node.log" {
                continue;
            }
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(&p).unwrap();
            } else {
                std::fs::remove_file(&p).unwrap();
            }
        }
        copy_tree(copy, self.home());
    }
}

/// A plain recursive copy of folders and regular files (sockets and the test log are left
/// out), reading each file as it is at that moment: run while a node writes, it keeps a torn
/// state such as a power cut leaves.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let Ok(t) = e.file_type() else { continue };
        let dest = to.join(e.file_name());
        if t.is_dir() {
            copy_tree(&e.path(), &dest);
        } else if t.is_file() && e.file_name() != "test-node.log" {
            // A file removed while we copy is simply not in the copy.
            let _ = std::fs::copy(e.path(), &dest);
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Waits for a child to exit, up to a limit; kills it past the limit.
pub fn wait_child(c: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(s)) = c.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = c.kill();
    let _ = c.wait();
    None
}

/// One connection to a node's control channel (socket or pipe, `kith_node::ipc`):
/// length-prefixed JSON frames both ways. A task on its own runtime reads the frames as they
/// come, so waiting for one can time out without losing part of the next.
pub struct Control {
    rt: tokio::runtime::Runtime,
    write: tokio::io::WriteHalf<kith_node::ipc::Stream>,
    frames: std::sync::mpsc::Receiver<Vec<u8>>,
    next_id: u64,
    /// Events that arrived while waiting for replies, oldest first.
    pub events: Vec<Value>,
}

impl Control {
    pub fn connect(n: &Node) -> Control {
        let home = kith_node::home::Home {
            dir: n.home().to_path_buf(),
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let stream = rt
            .block_on(kith_node::ipc::connect(&home))
            .expect("connect to the node");
        let (read, write) = tokio::io::split(stream);
        let (tx, frames) = std::sync::mpsc::channel();
        rt.spawn(async move {
            let mut read = tokio::io::BufReader::new(read);
            while let Ok(Some(f)) = kith_node::wire::read_frame(&mut read, usize::MAX >> 1).await {
                if tx.send(f).is_err() {
                    break;
                }
            }
        });
        Control {
            rt,
            write,
            frames,
            next_id: 1,
            events: Vec::new(),
        }
    }

    /// Sends one request (`id` is added) and returns its id without waiting.
    pub fn send(&mut self, mut cmd: Value) -> u64 {
        use tokio::io::AsyncWriteExt;
        let id = self.next_id;
        self.next_id += 1;
        cmd["id"] = json!(id);
        let body = serde_json::to_vec(&cmd).unwrap();
        self.rt
            .block_on(self.write.write_all(&kith_proto::frame::encode(&body)))
            .unwrap();
        id
    }

    /// The next frame; None when nothing arrives before `limit`.
    pub fn frame(&mut self, limit: Duration) -> Option<Value> {
        use std::sync::mpsc::RecvTimeoutError;
        match self
            .frames
            .recv_timeout(limit.max(Duration::from_millis(1)))
        {
            Ok(body) => Some(serde_json::from_slice(&body).unwrap()),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!("control socket: closed by the node"),
        }
    }

    /// Waits for the reply to request `id` (the whole reply: `ok`, `result` or `error`).
    pub fn reply(&mut self, id: u64, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .frame(left)
                .unwrap_or_else(|| panic!("no reply to request {id} within {limit:?}"));
            if v.get("event").is_some() {
                self.events.push(v);
            } else if v["id"] == id {
                return v;
            }
        }
    }

    /// Sends a request and waits for its reply.
    pub fn call(&mut self, cmd: Value) -> Value {
        let id = self.send(cmd);
        self.reply(id, Duration::from_secs(60))
    }

    /// The first event (already received or arriving before `limit`) that `f` accepts.
    pub fn event(&mut self, limit: Duration, f: impl Fn(&Value) -> bool) -> Option<Value> {
        if let Some(i) = self.events.iter().position(&f) {
            return Some(self.events.remove(i));
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let v = self.frame(left)?;
            if v.get("event").is_some() && f(&v) {
                return Some(v);
            }
            if v.get("event").is_some() {
                self.events.push(v);
            }
        }
    }
}

/// Sends one request on a fresh connection and returns the whole reply.
pub fn api(n: &Node, cmd: Value) -> Value {
    Control::connect(n).call(cmd)
}

/// The result of a successful reply.
pub fn ok(reply: Value) -> Value {
    assert_eq!(reply["ok"], true, "expected success: {reply}");
    reply["result"].clone()
}

/// Bytes that do not compress, the same for the same length and seed.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x: u64 = 0x9E3779B97F4A7C15 ^ seed.wrapping_mul(0x2545F4914F6CDD1D) ^ len as u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Talks to `to` as the identity of the (stopped) node `as_node`, over a real QUIC
/// connection: the hello, then each message in turn; returns the answers.
pub fn as_peer(
    as_node: &Node,
    to: &Node,
    msgs: Vec<kith_proto::peer::PeerMsg>,
) -> Vec<kith_proto::peer::PeerMsg> {
    let addr: std::net::SocketAddr = to.listen_addr().parse().unwrap();
    as_peer_observed(as_node, to, addr, msgs)
}

/// As `as_peer`, with a hello that says it sees `to` at `observed`.
pub fn as_peer_observed(
    as_node: &Node,
    to: &Node,
    observed: std::net::SocketAddr,
    msgs: Vec<kith_proto::peer::PeerMsg>,
) -> Vec<kith_proto::peer::PeerMsg> {
    let me = kith_node::home::Home {
        dir: as_node.home().to_path_buf(),
    }
    .identity()
    .unwrap();
    let to_id: kith_proto::identity::PeerId = to.id().parse().unwrap();
    let addr: std::net::SocketAddr = to.listen_addr().parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (cert, key) = me.certificate(None).unwrap();
        let cfg = kith_node::net::tls::client_config(cert, key, to_id).unwrap();
        let ep = kith_node::net::client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
        let conn = ep.connect_with(cfg, addr, "kith").unwrap().await.unwrap();
        let hello = kith_proto::peer::PeerMsg::Hello(kith_proto::peer::Hello {
            name: as_node.name.clone(),
            addrs: vec![],
            observed,
            boot: 77,
            reach: None,
            mapped: None,
            knows: Vec::new(),
        });
        let (answer, _) = kith_node::wire::ask(&conn, &hello).await.unwrap();
        assert!(
            matches!(answer, kith_proto::peer::PeerMsg::Hello(_)),
            "{answer:?}"
        );
        let mut out = Vec::new();
        for m in msgs {
            // Sent as raw bytes, so that messages this crate would refuse to build go out too.
            out.push(kith_node::wire::ask(&conn, &m).await.unwrap().0);
        }
        conn.close(0u32.into(), b"done");
        out
    })
}

pub fn code_of(m: &kith_proto::peer::PeerMsg) -> String {
    match m {
        kith_proto::peer::PeerMsg::Error { code, .. } => code.to_string(),
        other => format!("{other:?}"),
    }
}

/// Two friends, Ann and Ben, each with a download folder (`dl`) inside its home.
pub fn pair_with_download_folders() -> (Node, Node) {
    let a = Node::started("Ann");
    let b = Node::started("Ben");
    a.befriend(&b);
    for n in [&a, &b] {
        let dl = n.home().join("dl");
        n.cli(&["settings", "--download-dir", dl.to_str().unwrap()]);
    }
    (a, b)
}

/// A and two friends B and C, all connected (B and C are not each other's friends).
pub fn trio() -> (Node, Node, Node) {
    let a = Node::started("Ann");
    let b = Node::started("Bo");
    let c = Node::started("Cy");
    a.befriend(&b);
    a.befriend(&c);
    let (bi, ci) = (b.id(), c.id());
    assert!(wait_until(Duration::from_secs(15), || a.online_with(&bi)
        && a.online_with(&ci)));
    (a, b, c)
}
