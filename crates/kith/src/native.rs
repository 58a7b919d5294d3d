//! Native-messaging host: a browser starts `kith` with its own arguments (Firefox:
//! `<manifest.json> <add-on ID>`; Chromium-family browsers: `chrome-extension://<ID>/`); this
//! relays the add-on's JSON requests to the home's node (starting a detached one when none runs).

use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::io::WriteHalf;
use tokio::sync::mpsc;

use kith_node::home::Home;
use kith_node::wire::{read_frame, write_frame, ReadError};
use kith_proto::api::{self, reply, ApiError, Command, ErrorCode};
use kith_proto::frame::{FrameError, MAX_FROM_CLIENT, MAX_TO_BROWSER};

/// A typed reply as the JSON the browser gets.
fn to_value(r: impl serde::Serialize) -> Value {
    serde_json::to_value(r).unwrap_or(Value::Null)
}

/// Who started the host, as its arguments say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Firefox: `kith <path of the host manifest>.json <add-on ID>`.
    Firefox {
        /// The calling add-on's ID.
        addon_id: String,
    },
    /// A Chromium-family browser: `kith chrome-extension://<ID>/` (on Windows followed by
    /// `--parent-window=<handle>`).
    Chromium {
        /// The calling extension's origin.
        origin: String,
    },
}

impl Caller {
    /// Whether this caller may use Kith: Firefox's add-on ID or the pinned Chromium origin.
    pub fn allowed(&self) -> bool {
        match self {
            Caller::Firefox { addon_id } => addon_id == crate::ADDON_ID,
            Caller::Chromium { origin } => *origin == crate::chromium_origin(),
        }
    }
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caller::Firefox { addon_id } => write!(f, "the add-on {addon_id:?}"),
            Caller::Chromium { origin } => write!(f, "the extension {origin:?}"),
        }
    }
}

/// The caller when the arguments are a browser starting a native-messaging host; None for a
/// command line.
pub fn host_caller(args: &[OsString]) -> Option<Caller> {
    let arg = |i: usize| args.get(i).map(|a| a.to_string_lossy().into_owned());
    let first = arg(1)?;
    if args.len() == 3 && first.ends_with(".json") {
        return Some(Caller::Firefox { addon_id: arg(2)? });
    }
    let windows_extra = |i: usize| arg(i).is_none_or(|a| a.starts_with("--parent-window="));
    if first.starts_with("chrome-extension://") && args.len() <= 3 && windows_extra(2) {
        return Some(Caller::Chromium { origin: first });
    }
    None
}

/// Makes a frame fit the browser's limit: an oversized reply becomes a `reply_too_large` error.
pub fn fit_for_browser(bytes: Vec<u8>) -> Option<Vec<u8>> {
    if bytes.len() <= MAX_TO_BROWSER {
        return Some(bytes);
    }
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let id = v.get("id")?.clone();
    tracing::warn!(len = bytes.len(), "reply over 1 MiB replaced by an error");
    let e = ApiError::new(
        ErrorCode::ReplyTooLarge,
        "the reply is over the 1 MiB native-messaging limit",
    );
    serde_json::to_vec(&api::err_reply(&id, &e)).ok()
}

struct Host {
    home: Home,
    out: mpsc::Sender<Vec<u8>>,
    node: Option<WriteHalf<kith_node::ipc::Stream>>,
    alive: Arc<AtomicBool>,
    /// The `hello` of the node attached last.
    node_hello: Option<reply::NodeHello>,
    /// What the last attach found about that node's program.
    node_binary: Option<reply::NodeBinary>,
}

/// Runs the host for `caller` until stdin ends; returns the exit code.
pub async fn run(caller: &Caller) -> i32 {
    let (out, mut out_rx) = mpsc::channel::<Vec<u8>>(256);
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(bytes) = out_rx.recv().await {
            let Some(bytes) = fit_for_browser(bytes) else {
                continue;
            };
            if write_frame(&mut stdout, &bytes).await.is_err() {
                break;
            }
        }
        let _ = stdout.flush().await;
    });
    let send = |v: Value| {
        let out = out.clone();
        async move {
            let _ = out.send(serde_json::to_vec(&v).unwrap_or_default()).await;
        }
    };
    if !caller.allowed() {
        tracing::error!(
            "refused {caller}: this host serves only {} and {}",
            crate::ADDON_ID,
            crate::chromium_origin()
        );
        let e = ApiError::new(
            ErrorCode::AddonNotAllowed,
            format!("{caller} may not use Kith"),
        );
        send(api::err_reply(&Value::Null, &e)).await;
        drop(out);
        let _ = writer.await;
        return 1;
    }
    let home = match Home::resolve(None) {
        Ok(h) => h,
        Err(e) => {
            send(api::err_reply(
                &Value::Null,
                &ApiError::internal(format!("{e:#}")),
            ))
            .await;
            drop(out);
            let _ = writer.await;
            return 1;
        }
    };
    let mut host = Host {
        home,
        out: out.clone(),
        node: None,
        alive: Arc::new(AtomicBool::new(false)),
        node_hello: None,
        node_binary: None,
    };
    if host.home.initialized() {
        if let Err(e) = host.attach().await {
            tracing::warn!("{}", e.message);
        }
    }
    let mut stdin = tokio::io::stdin();
    loop {
        let frame = match read_frame(&mut stdin, MAX_FROM_CLIENT).await {
            Ok(Some(f)) => f,
            Ok(None) | Err(ReadError::Truncated) | Err(ReadError::Io(_)) => break,
            Err(ReadError::Frame(e)) => {
                let c = if e == FrameError::Empty {
                    ErrorCode::BadFrame
                } else {
                    ErrorCode::FrameTooLarge
                };
                send(api::err_reply(
                    &Value::Null,
                    &ApiError::new(c, e.to_string()),
                ))
                .await;
                continue;
            }
        };
        match api::parse_request(&frame) {
            Err((id, e)) => send(api::err_reply(&id, &e)).await,
            Ok(req) => {
                if let Some(v) = host.local(&req.id, &req.cmd).await {
                    send(v).await;
                } else if let Err(e) = host.forward(&frame).await {
                    send(api::err_reply(&req.id, &e)).await;
                }
            }
        }
    }
    // stdin closed: Firefox is done with us; leave promptly (the node keeps running).
    drop(host);
    drop(out);
    let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
    0
}

impl Host {
    /// Answers what the host itself handles; None means "forward to the node".
    async fn local(&mut self, id: &Value, cmd: &Command) -> Option<Value> {
        match cmd {
            Command::Hello { .. } => Some(api::ok_reply(
                id,
                to_value(reply::HostHello {
                    host_version: crate::VERSION.to_string(),
                    protocol: kith_node::settings::env().protocol(),
                    initialized: self.home.initialized(),
                    node_running: self.alive.load(Ordering::SeqCst),
                    node: self.node_hello.clone(),
                    node_binary: self.node_binary,
                }),
            )),
            Command::Autostart { enable } => Some(api::reply(id, self.autostart(*enable).await)),
            Command::Status {} if !self.home.initialized() => Some(api::ok_reply(
                id,
                to_value(reply::NoIdentity {
                    initialized: false,
                    home: self.home.dir.clone(),
                }),
            )),
            Command::Init { name } if !self.home.initialized() => {
                let r = match self.home.init(name) {
                    Ok(identity) => {
                        let attach = self.attach().await;
                        attach.map(|_| {
                            to_value(reply::Initialized {
                                peer_id: identity.peer_id(),
                                name: name.trim().to_string(),
                                home: None,
                            })
                        })
                    }
                    Err(e) => Err(ApiError::new(ErrorCode::BadRequest, format!("{e:#}"))),
                };
                Some(api::reply(id, r))
            }
            _ if !self.home.initialized() => Some(api::err_reply(
                id,
                &ApiError::new(
                    ErrorCode::NotInitialized,
                    "create your identity first (init)",
                ),
            )),
            _ => None,
        }
    }

    async fn forward(&mut self, frame: &[u8]) -> Result<(), ApiError> {
        if !self.alive.load(Ordering::SeqCst) {
            self.node = None;
        }
        if self.node.is_none() {
            self.attach().await?;
        }
        let w = self
            .node
            .as_mut()
            .ok_or_else(|| ApiError::new(ErrorCode::NoNode, "the node is not running"))?;
        if write_frame(w, frame).await.is_err() {
            self.node = None;
            return Err(ApiError::new(
                ErrorCode::NoNode,
                "lost the connection to the node; try again",
            ));
        }
        Ok(())
    }

    /// `autostart`: turns the login entry on (as `kith install --autostart` does, the node
    /// keeps running as it is) or off, and says which one is installed.
    async fn autostart(&mut self, enable: Option<bool>) -> Result<Value, ApiError> {
        let io = |e: anyhow::Error| ApiError::new(ErrorCode::Io, format!("{e:#}"));
        match enable {
            Some(true) => {
                crate::install::install_autostart(None, &self.home).map_err(io)?;
            }
            Some(false) => {
                crate::install::uninstall_autostart().map_err(io)?;
            }
            None => {}
        }
        let kind = crate::install::autostart_installed().map(|(k, _)| k.name().to_string());
        Ok(to_value(reply::Autostart { autostart: kind }))
    }

    /// Connects to the home's node, starting a detached one when none runs, and restarting
    /// one that still runs an older file of this program (`version.rs`).
    async fn attach(&mut self) -> Result<(), ApiError> {
        let mut client = match crate::control::Client::connect(&self.home).await {
            Ok(c) => c,
            Err(_) => {
                start_detached(&self.home)?;
                wait_for_node(&self.home, Duration::from_secs(10)).await?
            }
        };
        let mut hello = node_hello(&mut client).await;
        let verdict = hello
            .as_ref()
            .map_or(crate::version::Verdict::Unknown, |h| {
                let me = kith_node::binary::this_program();
                crate::version::judge(h, me.as_ref(), crate::VERSION)
            });
        match (&verdict, &hello) {
            (crate::version::Verdict::Stale, Some(h)) => {
                tracing::info!(
                    old = %h.node_version,
                    "the node runs an older copy of this program: restarting it"
                );
                crate::version::stop_and_wait(&self.home, client, Duration::from_secs(15)).await?;
                start_detached(&self.home)?;
                client = wait_for_node(&self.home, Duration::from_secs(10)).await?;
                hello = node_hello(&mut client).await;
            }
            (crate::version::Verdict::Other(path), Some(h)) => tracing::warn!(
                node = %path.display(),
                version = %h.node_version,
                "the node runs another program than this host; leaving it running"
            ),
            _ => {}
        }
        self.node_binary = Some(verdict.as_node_binary());
        self.node_hello = hello.clone();
        let (rd, wr) = tokio::io::split(client.into_inner());
        let alive = Arc::new(AtomicBool::new(true));
        self.alive = alive.clone();
        self.node = Some(wr);
        let out = self.out.clone();
        tokio::spawn(async move {
            let mut rd = tokio::io::BufReader::new(rd);
            while let Ok(Some(frame)) = read_frame(&mut rd, usize::MAX >> 1).await {
                if out.send(frame).await.is_err() {
                    return;
                }
            }
            alive.store(false, Ordering::SeqCst);
            let _ = out
                .send(serde_json::to_vec(&json!({"event": "node_down"})).unwrap_or_default())
                .await;
        });
        let up = json!({"event": "node_up", "node": hello});
        let _ = self
            .out
            .send(serde_json::to_vec(&up).unwrap_or_default())
            .await;
        Ok(())
    }
}

/// The node's own `hello` (None if it does not answer one as expected).
async fn node_hello(client: &mut crate::control::Client) -> Option<reply::NodeHello> {
    match client
        .call_as::<reply::NodeHello>(&Command::Hello { version: None })
        .await
    {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::warn!("the node's hello: {}", e.message);
            None
        }
    }
}

/// Starts `kith serve` for a home in its own session (on Windows: detached from the
/// console, without a window), logging to the home's rotating log ([`Home::log_path`]).
pub fn start_detached(home: &Home) -> Result<(), ApiError> {
    let exe = std::env::current_exe().map_err(ApiError::internal)?;
    let log = home.log_path();
    kith_node::home::create_private_dir(&home.log_dir())
        .map_err(|e| ApiError::new(ErrorCode::Io, format!("{}: {e:#}", log.display())))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("serve")
        .arg("--home")
        .arg(&home.dir)
        .arg("--log-file")
        .arg(&log)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    detach(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| {
        ApiError::new(
            ErrorCode::NoNode,
            format!("could not start the Kith node: {e}"),
        )
    })?;
    std::thread::spawn(move || child.wait()); // reap it if it exits while we live
    Ok(())
}

/// Runs the child in a session of its own, so the browser's end does not end it.
#[cfg(unix)]
fn detach(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid is async-signal-safe; it detaches the node from the browser's session.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
}

/// Runs the child without a console and in a process group of its own, so closing the
/// browser (or its console's Ctrl-C) does not end it.
#[cfg(windows)]
fn detach(cmd: &mut std::process::Command) {
    use std::os::windows::process::CommandExt;
    const DETACHED_PROCESS: u32 = 0x0000_0008;
    const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;
    cmd.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW);
    kith_node::platform::keep_stdio_from_children();
}

/// Waits until the home's node answers on its control socket.
pub async fn wait_for_node(
    home: &Home,
    limit: Duration,
) -> Result<crate::control::Client, ApiError> {
    let start = Instant::now();
    loop {
        if let Ok(c) = crate::control::Client::connect(home).await {
            return Ok(c);
        }
        if start.elapsed() > limit {
            return Err(ApiError::new(
                ErrorCode::NoNode,
                format!(
                    "the Kith node did not start; see {}",
                    home.log_path().display()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn firefox_starts_the_host_with_a_json_manifest_and_an_addon_id() {
        assert_eq!(
            host_caller(&args(&["kith", "/x/kith.json", "kith@kith"])),
            Some(Caller::Firefox {
                addon_id: "kith@kith".into()
            })
        );
        assert_eq!(host_caller(&args(&["kith", "serve", "x"])), None);
        assert_eq!(host_caller(&args(&["kith", "/x/kith.json"])), None);
        assert_eq!(host_caller(&args(&["kith"])), None);
    }

    #[test]
    fn chromium_starts_the_host_with_its_origin_and_on_windows_a_parent_window() {
        let origin = crate::chromium_origin();
        let want = Some(Caller::Chromium {
            origin: origin.clone(),
        });
        assert_eq!(host_caller(&args(&["kith", &origin])), want);
        assert_eq!(
            host_caller(&args(&["kith", &origin, "--parent-window=0"])),
            want
        );
        assert_eq!(host_caller(&args(&["kith", &origin, "share"])), None);
        assert_eq!(host_caller(&args(&["kith", "share", &origin])), None);
    }

    #[test]
    fn only_the_firefox_addon_and_the_pinned_chromium_extension_are_allowed() {
        let ff = |id: &str| Caller::Firefox {
            addon_id: id.into(),
        };
        let cr = |o: &str| Caller::Chromium { origin: o.into() };
        assert!(ff(crate::ADDON_ID).allowed());
        assert!(!ff("evil@example.com").allowed());
        assert!(cr(&crate::chromium_origin()).allowed());
        assert!(!cr("chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/").allowed());
        assert!(!cr(crate::chromium_origin().trim_end_matches('/')).allowed());
    }

    #[test]
    fn the_pinned_chromium_id_is_the_one_the_committed_public_key_gives() {
        // Chromium derives an extension's ID from the `key` in its manifest: the first 16
        // bytes of SHA-256 of the DER public key, each hex digit written as a letter a-p.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../manifests/chromium-manifest.json"
        );
        let m: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let b64 = m["key"].as_str().unwrap();
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .unwrap();
        let id: String = kith_proto::hash::sha256(&der)[..16]
            .iter()
            .flat_map(|b| [b >> 4, b & 15])
            .map(|n| char::from(b'a' + n))
            .collect();
        assert_eq!(id, crate::CHROMIUM_EXTENSION_ID);
    }

    #[test]
    fn oversized_reply_becomes_an_error_with_its_id() {
        let big =
            serde_json::to_vec(&json!({"id": 5, "ok": true, "result": "x".repeat(MAX_TO_BROWSER)}))
                .unwrap();
        let fitted: Value = serde_json::from_slice(&fit_for_browser(big).unwrap()).unwrap();
        assert_eq!(fitted["id"], 5);
        assert_eq!(fitted["error"]["code"], ErrorCode::ReplyTooLarge.as_str());
        let small = br#"{"id":1}"#.to_vec();
        assert_eq!(fit_for_browser(small.clone()), Some(small));
    }
}
