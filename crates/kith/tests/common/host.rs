//! The native-messaging host as a browser starts it, driven over its stdin and stdout.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A running `kith` in host mode.
pub struct Host {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: mpsc::Receiver<Value>,
    stderr: Arc<Mutex<String>>,
    next_id: u64,
    /// Events that arrived while waiting for replies, oldest first.
    events: Vec<Value>,
}

impl Host {
    /// The host as Firefox starts it: the manifest's path and the add-on's ID.
    pub fn start(home: &Path, addon: &str) -> Host {
        let manifest = home.join("kith.json").to_string_lossy().into_owned();
        Host::start_with(home, &[&manifest, addon])
    }

    /// The host started with these arguments.
    pub fn start_with(home: &Path, args: &[&str]) -> Host {
        Host::start_program(&super::kith_bin(), home, args)
    }

    /// The host started from another copy of the `kith` program, as Firefox does.
    pub fn start_program(program: &Path, home: &Path, args: &[&str]) -> Host {
        let mut child = super::program_command(program)
            .args(args)
            .env("KITH_HOME", home)
            .env("KITH_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || loop {
            let mut len = [0u8; 4];
            if out.read_exact(&mut len).is_err() {
                return;
            }
            let len = u32::from_ne_bytes(len) as usize;
            assert!(len <= 1024 * 1024, "host sent a frame over 1 MiB");
            let mut buf = vec![0; len];
            if out.read_exact(&mut buf).is_err() {
                return;
            }
            let v = serde_json::from_slice(&buf).expect("the host sends JSON");
            if tx.send(v).is_err() {
                return;
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            sink.lock().unwrap().push_str(&s);
        });
        Host {
            stdin: child.stdin.take(),
            child,
            rx,
            stderr,
            next_id: 1,
            events: Vec::new(),
        }
    }

    /// Writes bytes as they are.
    pub fn raw(&mut self, bytes: &[u8]) {
        let s = self.stdin.as_mut().unwrap();
        s.write_all(bytes).unwrap();
        s.flush().unwrap();
    }

    /// Writes one frame.
    pub fn frame(&mut self, payload: &[u8]) {
        let mut b = (payload.len() as u32).to_ne_bytes().to_vec();
        b.extend_from_slice(payload);
        self.raw(&b);
    }

    /// Writes one JSON frame.
    pub fn send(&mut self, v: Value) {
        self.frame(&serde_json::to_vec(&v).unwrap());
    }

    fn next(&mut self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.rx.recv_timeout(left).ok()
    }

    /// The next reply, keeping the events that come first.
    pub fn reply(&mut self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let v = self.next(deadline).expect("no reply from the host");
            if v.get("event").is_none() {
                return v;
            }
            self.events.push(v);
        }
    }

    /// Sends a frame as it is and returns the next reply.
    pub fn call(&mut self, v: Value) -> Value {
        self.send(v);
        self.reply()
    }

    /// Sends a request under a fresh numeric `id` and returns the reply with that `id`.
    pub fn request(&mut self, mut cmd: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        cmd["id"] = json!(id);
        self.send(cmd.clone());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self
                .next(deadline)
                .unwrap_or_else(|| panic!("no reply to {cmd}"));
            if v.get("event").is_some() {
                self.events.push(v);
            } else if v["id"] == id {
                return v;
            }
        }
    }

    /// The first event named `name`, already received or arriving within `limit`.
    pub fn event(&mut self, name: &str, limit: Duration) -> Value {
        if let Some(i) = self.events.iter().position(|e| e["event"] == name) {
            return self.events.remove(i);
        }
        let deadline = Instant::now() + limit;
        loop {
            let v = self
                .next(deadline)
                .unwrap_or_else(|| panic!("no {name} event within {limit:?}"));
            if v["event"] == name {
                return v;
            }
            if v.get("event").is_some() {
                self.events.push(v);
            }
        }
    }

    /// Closes stdin and waits for the exit; returns the code, how long it took, and stderr.
    pub fn close(mut self) -> (Option<i32>, Duration, String) {
        drop(self.stdin.take());
        let t = Instant::now();
        let status = super::wait_child(&mut self.child, Duration::from_secs(5));
        let took = t.elapsed();
        std::thread::sleep(Duration::from_millis(100));
        let err = self.stderr.lock().unwrap().clone();
        (status.and_then(|s| s.code()), took, err)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = super::wait_child(&mut self.child, Duration::from_secs(5));
    }
}
