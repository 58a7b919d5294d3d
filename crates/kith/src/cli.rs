//! The command line: a thin front end over the JSON API.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde_json::Value;

use crate::control::Client;
use kith_node::home::Home;
use kith_proto::api::{reply, ApiError, Command, ErrorCode};

/// Kith: share photos, videos and files straight with friends.
#[derive(Debug, Parser)]
#[command(name = "kith", version, about)]
pub struct Cli {
    /// The Kith home (default: $KITH_HOME, else the OS data directory).
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create this home's identity (an Ed25519 key) and print the new peer ID.
    Init {
        /// Your name, as friends will see it.
        #[arg(long)]
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print this home's peer ID.
    Id,
    /// Run the node in the foreground until Ctrl-C or SIGTERM.
    Serve {
        /// Address to listen on, IP:PORT or an IP alone for the port chosen at init
        /// (default: all interfaces, the port chosen at init).
        #[arg(long, env = kith_node::settings::LISTEN, value_name = "ADDR")]
        listen: Option<kith_node::node::ListenAt>,
        /// Limit uploads and downloads to this many bytes per second (500K, 2M; 0: none).
        #[arg(long, value_parser = kith_node::transfer::rate::parse_rate)]
        rate: Option<u64>,
        /// Limit uploads (overrides --rate and the saved setting for this run).
        #[arg(long, value_parser = kith_node::transfer::rate::parse_rate)]
        upload_rate: Option<u64>,
        /// Limit downloads (overrides --rate and the saved setting for this run).
        #[arg(long, value_parser = kith_node::transfer::rate::parse_rate)]
        download_rate: Option<u64>,
        /// Log to this file, rotated at 10 MiB (set by `kith start`; default: stderr).
        #[arg(long, hide = true, value_name = "FILE")]
        log_file: Option<PathBuf>,
    },
    /// Start the node in the background unless one runs (exit 0 once it answers).
    Start,
    /// Stop the running node.
    Stop,
    /// Show the running node's state (exit 3 when none runs).
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make a one-time invite link for a friend.
    Invite {
        /// Also draw it as a QR code.
        #[arg(long)]
        qr: bool,
        /// Days the invite stays valid (default 7, at most 30).
        #[arg(long, default_value_t = 7)]
        days: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Accept a friend's invite link.
    Accept {
        /// The link (kith://invite/...).
        link: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List friends.
    Friends {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a friend (full ID, unique prefix or name).
    Unfriend {
        /// Who.
        peer: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Share files or folders with friends as a new album; prints its ID.
    Share {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// A friend to share with (repeat for several); all friends when none is named.
        #[arg(long = "to", value_name = "PEER")]
        to: Vec<String>,
        /// Album title.
        #[arg(long)]
        title: Option<String>,
        /// Share photos and videos with their location (by default it is removed, and a file whose
        /// location cannot be removed stops the share with `location_kept`).
        #[arg(long)]
        keep_location: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List albums shared with me and by me.
    Albums {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the files of one album.
    Album {
        /// Album ID.
        id: String,
        /// First file to list.
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Most files to list (at most 1000).
        #[arg(long)]
        limit: Option<usize>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Comment on an album or an item (prints the comment's ID), or change a comment.
    #[command(group(clap::ArgGroup::new("change").args(["edit", "delete", "hide", "unhide"])))]
    Comment {
        /// Album or item ID; with --edit, --delete, --hide or --unhide, a comment ID.
        id: String,
        /// The text.
        #[arg(required_unless_present_any = ["react", "delete", "hide", "unhide"])]
        text: Option<String>,
        /// React with one of ❤️ 👍 😂 😮 😢 🎉 instead of writing.
        #[arg(long, value_name = "EMOJI", conflicts_with_all = ["text", "change"])]
        react: Option<String>,
        /// Replace the text of my comment ID.
        #[arg(long, requires = "text")]
        edit: bool,
        /// Delete my comment (or take back my reaction) ID.
        #[arg(long, conflicts_with = "text")]
        delete: bool,
        /// Hide comment ID on an album of mine.
        #[arg(long, conflicts_with = "text")]
        hide: bool,
        /// Show hidden comment ID again.
        #[arg(long, conflicts_with = "text")]
        unhide: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the comments on an album (all of them) or on one item.
    Comments {
        /// Album or item ID.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Mark that you compared the safety number with a friend (full ID, prefix or name).
    Verify {
        /// Who.
        peer: String,
        /// Take the mark back.
        #[arg(long)]
        undo: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop sharing an album of mine.
    Unshare {
        /// Album ID.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List fetches under way or waiting to resume.
    Transfers {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add or remove members of an album of mine, or retitle it.
    Audience {
        /// Album ID.
        id: String,
        /// A friend to add (repeat for several).
        #[arg(long)]
        add: Vec<String>,
        /// A member to remove (repeat for several).
        #[arg(long)]
        remove: Vec<String>,
        /// A new title.
        #[arg(long)]
        title: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show or change settings (rate limits, in bytes per second; 500K, 2M; 0 for none).
    Settings {
        /// Upload limit.
        #[arg(long, value_parser = kith_node::transfer::rate::parse_rate)]
        upload_rate: Option<u64>,
        /// Download limit.
        #[arg(long, value_parser = kith_node::transfer::rate::parse_rate)]
        download_rate: Option<u64>,
        /// Default download folder (absolute; "" for the user's download folder).
        #[arg(long)]
        download_dir: Option<String>,
        /// Help my friends connect: relay between two friends who cannot reach each other.
        #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
        help_friends: Option<bool>,
        /// Most bytes per second relayed for friends (0: no limit).
        #[arg(long, value_parser = kith_node::transfer::rate::parse_rate)]
        relay_rate: Option<u64>,
        /// Albums kept per owner who is a friend.
        #[arg(long)]
        quota_albums: Option<u64>,
        /// Albums kept per owner who is not a friend.
        #[arg(long)]
        quota_member_albums: Option<u64>,
        /// Bytes of thumbnails kept per owner (500M, 6G; K, M, G are powers of 1000).
        #[arg(long, value_parser = kith_node::transfer::rate::parse_rate)]
        quota_thumb_bytes: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Download an album (or one item of it) shared with me.
    Fetch {
        /// Album ID or item ID.
        id: String,
        /// Download folder (default: your download folder, Kith/ inside it).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seconds to wait for someone who has it (default 30).
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Move an identity and its friends to another computer.
    Identity {
        /// export or import.
        #[command(subcommand)]
        op: IdentityOp,
    },
    /// Register Kith with Firefox and the Chromium-family browsers for this user.
    Install {
        /// Also start the node at login (a systemd user unit where one can run, otherwise an
        /// XDG autostart entry), and start it now.
        #[arg(long, value_name = "HOW", num_args = 0..=1, require_equals = true, default_missing_value = "auto")]
        autostart: Option<AutostartArg>,
    },
    /// Undo `install`: remove the registrations and the login entry, and stop the node.
    Uninstall {
        /// Also delete this home (identity, friends, albums' records) and its logs.
        #[arg(long)]
        purge: bool,
        /// Do not ask before deleting the home.
        #[arg(long, requires = "purge")]
        yes: bool,
    },
    /// Show the end of the log of the node started in the background.
    Logs {
        /// How many lines.
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: usize,
        /// Keep printing lines as they are written.
        #[arg(short, long)]
        follow: bool,
    },
    /// Explain what is wrong with this installation.
    Doctor,
    /// Start two local nodes in a temporary home, befriend them and show the handshake.
    Demo {
        /// Exit after showing the handshake instead of running until Ctrl-C.
        #[arg(long)]
        once: bool,
        /// Instead: start a demo friend for this home, who shares an album of photos with it.
        #[arg(long)]
        friend: bool,
    },
}

/// `install --autostart[=HOW]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AutostartArg {
    /// systemd when a user session manager runs, otherwise XDG.
    Auto,
    /// A systemd user unit.
    Systemd,
    /// An XDG autostart entry.
    Xdg,
}

impl Cmd {
    /// The file a background node logs to (`serve --log-file`).
    pub fn log_file(&self) -> Option<&std::path::Path> {
        match self {
            Cmd::Serve { log_file, .. } => log_file.as_deref(),
            _ => None,
        }
    }
}

/// Identity export/import.
#[derive(Debug, Subcommand)]
pub enum IdentityOp {
    /// Write a passphrase-protected file with the identity and friends.
    Export {
        /// Where to write it.
        file: PathBuf,
    },
    /// Make this (empty) home use an exported identity.
    Import {
        /// The export file.
        file: PathBuf,
    },
}

/// A CLI failure: message, exit code and JSON form.
#[derive(Debug)]
pub struct Failure {
    /// The error.
    pub error: ApiError,
    /// Process exit code.
    pub exit: i32,
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        let exit = match error.code {
            ErrorCode::NoNode => 3,
            ErrorCode::OffMachine => kith_node::node::local_only::EXIT_OFF_MACHINE,
            _ => 1,
        };
        Failure { error, exit }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure {
            error: ApiError::new(ErrorCode::Failed, format!("{e:#}")),
            exit: 1,
        }
    }
}

fn print_json(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Longest wait for the node's answer (accepting an invite tries several addresses).
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Sends a command and reads its reply as its typed value.
async fn call_as<T: serde::de::DeserializeOwned>(home: &Home, cmd: Command) -> Result<T, Failure> {
    Ok(crate::control::reply_as(call(home, cmd).await?)?)
}

async fn call(home: &Home, cmd: Command) -> Result<Value, Failure> {
    let mut c = Client::connect(home).await?;
    match tokio::time::timeout(CALL_TIMEOUT, c.call(&cmd)).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ApiError::new(
            ErrorCode::Timeout,
            format!(
                "the node for {} did not answer within {}s",
                home.dir.display(),
                CALL_TIMEOUT.as_secs()
            ),
        )
        .into()),
    }
}

/// Calls the node and draws a progress bar on a terminal from the given event.
async fn call_with_progress(
    home: &Home,
    cmd: Command,
    event: &str,
    label: &str,
) -> Result<Value, Failure> {
    let tty = std::io::stderr().is_terminal();
    let mut c = Client::connect(home).await?;
    let mut drawn = false;
    let r = c
        .call_with_events(&cmd, |ev| {
            if !tty || ev["event"] != event {
                return;
            }
            let (done, total) = (
                ev["bytes"].as_u64().unwrap_or(0),
                ev["total"].as_u64().unwrap_or(0),
            );
            let frac = if total == 0 {
                1.0
            } else {
                done as f64 / total as f64
            };
            let bar: String = (0..30)
                .map(|i| if (i as f64) < frac * 30.0 { '#' } else { '-' })
                .collect();
            eprint!(
                "\r{label} [{bar}] {:>5.1}%  {:.1}/{:.1} MB",
                frac * 100.0,
                done as f64 / 1e6,
                total as f64 / 1e6
            );
            drawn = true;
        })
        .await;
    if drawn {
        eprintln!();
    }
    Ok(r?)
}

fn passphrase(confirm: bool) -> Result<String, Failure> {
    if let Some(p) = &kith_node::settings::env().passphrase {
        return Ok(p.clone());
    }
    if !std::io::stdin().is_terminal() {
        return Err(ApiError::new(
            ErrorCode::BadPassphrase,
            "set KITH_PASSPHRASE or run in a terminal to type the passphrase",
        )
        .into());
    }
    let p = rpassword::prompt_password("Passphrase: ").map_err(anyhow::Error::from)?;
    if confirm && rpassword::prompt_password("Again: ").map_err(anyhow::Error::from)? != p {
        return Err(ApiError::new(ErrorCode::BadPassphrase, "the passphrases differ").into());
    }
    Ok(p)
}

/// `on` or `off` (also yes/no, true/false).
fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" => Ok(true),
        "off" | "no" | "false" => Ok(false),
        _ => Err(format!("{s:?}: say on or off")),
    }
}

/// How long ago a time in Unix milliseconds was, in words.
fn ago(ms: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let s = now.saturating_sub(ms) / 1000;
    match s {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", s / 60),
        3600..86400 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86400),
    }
}

/// Prints a `comments` reply for people: one line per comment, in thread order.
fn print_comments(r: &reply::CommentPage) {
    println!("{}: {} comments, {} unread", r.title, r.total, r.unread);
    for c in &r.comments {
        let seq = c.seq.map_or("…".to_string(), |s| format!("#{s}"));
        let who = Some(c.author_name.as_str())
            .filter(|n| !n.is_empty())
            .unwrap_or("?");
        let mark = if c.author_verified { " ✓" } else { "" };
        let body = if c.hidden {
            "(hidden by the album's owner)".to_string()
        } else if let Some(r) = &c.reaction {
            r.clone()
        } else {
            c.text.replace('\n', "\n    ")
        };
        let mut notes = Vec::new();
        if c.unread {
            notes.push("new".to_string());
        }
        if c.pending {
            notes.push("waiting for the owner".to_string());
        }
        if c.edited.is_some() {
            notes.push("edited".to_string());
        }
        if let Some(i) = &c.item {
            notes.push(format!("on {}", &i[..i.len().min(12)]));
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("  [{}]", notes.join(", "))
        };
        let when = c.at.map(|t| format!(", {}", ago(t))).unwrap_or_default();
        println!(
            "{seq:>5} {}  {who}{mark}{when}: {body}{notes}",
            c.id.as_deref().unwrap_or("")
        );
    }
}

/// Whether the command asked for JSON output.
pub fn wants_json(cmd: &Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Init { json: true, .. }
            | Cmd::Status { json: true }
            | Cmd::Invite { json: true, .. }
            | Cmd::Accept { json: true, .. }
            | Cmd::Friends { json: true }
            | Cmd::Unfriend { json: true, .. }
            | Cmd::Share { json: true, .. }
            | Cmd::Albums { json: true }
            | Cmd::Album { json: true, .. }
            | Cmd::Unshare { json: true, .. }
            | Cmd::Fetch { json: true, .. }
            | Cmd::Audience { json: true, .. }
            | Cmd::Transfers { json: true }
            | Cmd::Settings { json: true, .. }
            | Cmd::Comment { json: true, .. }
            | Cmd::Comments { json: true, .. }
            | Cmd::Verify { json: true, .. }
    )
}

/// Starts the home's node in the background unless one answers; true when it started one.
async fn start_node(home: &Home) -> Result<bool, Failure> {
    if !home.initialized() {
        return Err(ApiError::new(
            ErrorCode::NotInitialized,
            "this home has no identity yet: run `kith init --name NAME` first",
        )
        .into());
    }
    if Client::connect(home).await.is_ok() {
        return Ok(false);
    }
    crate::native::start_detached(home)?;
    crate::native::wait_for_node(home, std::time::Duration::from_secs(10)).await?;
    Ok(true)
}

/// Asks the node to stop and waits until it has let go of its socket.
async fn stop_node(home: &Home, client: &mut Client) -> Result<(), Failure> {
    match client.call(&Command::Stop {}).await {
        Ok(_) => {}
        // The node may close the socket before its answer is out: it is stopping.
        Err(e) if e.code == ErrorCode::NoNode => {}
        Err(e) => return Err(e.into()),
    }
    for _ in 0..100 {
        if Client::connect(home).await.is_err() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

/// `kith install [--autostart[=HOW]]`.
async fn install(home: &Home, autostart: Option<AutostartArg>) -> Result<(), Failure> {
    use crate::install::Autostart;
    for p in crate::install::install()? {
        eprintln!("wrote {}", p.display());
    }
    eprintln!("Firefox, Chromium, Chrome, Edge and Brave can now start Kith");
    let Some(how) = autostart else {
        return Ok(());
    };
    let kind = match how {
        AutostartArg::Auto => None,
        AutostartArg::Systemd => Some(Autostart::Systemd),
        AutostartArg::Xdg => Some(Autostart::Xdg),
    };
    let (kind, path) = crate::install::install_autostart(kind, home)?;
    eprintln!("wrote {}: the node starts at login", path.display());
    if !home.initialized() {
        eprintln!("It will serve once this home has an identity (`kith init --name NAME`)");
        return Ok(());
    }
    if kind == Autostart::Systemd && crate::install::has_user_systemd() {
        // Hand the node over to systemd: one started by the browser stops first.
        if let Ok(mut c) = Client::connect(home).await {
            stop_node(home, &mut c).await?;
        }
        let ok = std::process::Command::new("systemctl")
            .args(["--user", "start", "kith.service"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(ApiError::new(
                ErrorCode::NoNode,
                "`systemctl --user start kith.service` failed",
            )
            .into());
        }
        crate::native::wait_for_node(home, std::time::Duration::from_secs(10)).await?;
    } else {
        start_node(home).await?;
    }
    eprintln!("The node runs now");
    Ok(())
}

/// `kith uninstall [--purge [--yes]]`.
async fn uninstall(home: &Home, purge: bool, yes: bool) -> Result<(), Failure> {
    // Ask before changing anything, so a "no" leaves Kith as it was.
    let question = format!(
        "Delete {} (your identity, friends and albums' records)?",
        home.dir.display()
    );
    if purge && !yes && !confirm(&question)? {
        return Err(ApiError::new(ErrorCode::BadRequest, "nothing deleted").into());
    }
    for p in crate::install::uninstall_autostart()? {
        eprintln!("removed {}", p.display());
    }
    if let Ok(mut c) = Client::connect(home).await {
        stop_node(home, &mut c).await?;
        eprintln!("stopped the node for {}", home.dir.display());
    }
    for p in crate::install::uninstall()? {
        eprintln!("removed {}", p.display());
    }
    if !purge {
        eprintln!(
            "Kith is no longer registered; your home {} is kept",
            home.dir.display()
        );
        return Ok(());
    }
    let log_dir = home.log_dir();
    for dir in [&home.dir, &log_dir] {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => eprintln!("deleted {}", dir.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ApiError::new(
                    ErrorCode::Io,
                    format!("deleting {}: {e}", dir.display()),
                )
                .into())
            }
        }
    }
    Ok(())
}

/// Asks a yes/no question on the terminal; refuses when there is none to ask on.
fn confirm(question: &str) -> Result<bool, Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "refusing to delete the home without asking: pass --yes",
        )
        .into());
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(anyhow::Error::from)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `kith logs [-n N] [--follow]`.
async fn logs(home: &Home, lines: usize, follow: bool) -> Result<(), Failure> {
    let path = home.log_path();
    let tail = crate::logfile::tail(&path, lines).map_err(|e| {
        ApiError::new(
            ErrorCode::Io,
            format!(
                "no log at {} ({e}): a node started with `kith start` or by the browser writes one",
                path.display()
            ),
        )
    })?;
    for l in &tail {
        println!("{l}");
    }
    if !follow {
        return Ok(());
    }
    let mut at = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if len < at {
            at = 0; // rotated: read the new file from its start
        }
        if len > at {
            use std::io::{Read, Seek, SeekFrom};
            let mut f = std::fs::File::open(&path).map_err(anyhow::Error::from)?;
            f.seek(SeekFrom::Start(at)).map_err(anyhow::Error::from)?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf).map_err(anyhow::Error::from)?;
            at += buf.len() as u64;
            print!("{}", String::from_utf8_lossy(&buf));
        }
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let home = Home::resolve(cli.home)?;
    match cli.cmd {
        Cmd::Init { name, json } => {
            let id = home.init(&name)?;
            if json {
                print_json(&reply::Initialized {
                    peer_id: id.peer_id(),
                    name: name.trim().to_string(),
                    home: Some(home.dir.clone()),
                });
            } else {
                eprintln!(
                    "Created the identity of {} in {}",
                    name.trim(),
                    home.dir.display()
                );
                println!("{}", id.peer_id());
            }
        }
        Cmd::Id => println!("{}", home.identity()?.peer_id()),
        Cmd::Serve {
            listen,
            rate,
            upload_rate,
            download_rate,
            log_file: _,
        } => {
            let rates = kith_node::node::Rates {
                upload: upload_rate.or(rate),
                download: download_rate.or(rate),
            };
            use kith_node::node::local_only::Refused;
            kith_node::node::serve(home, listen, rates)
                .await
                .map_err(|e| match e.downcast_ref::<Refused>() {
                    Some(r) => ApiError::new(ErrorCode::OffMachine, r.to_string()).into(),
                    None => Failure::from(e),
                })?
        }
        Cmd::Start => {
            if start_node(&home).await? {
                eprintln!(
                    "Started the Kith node for {} (log: {})",
                    home.dir.display(),
                    home.log_path().display()
                );
            } else {
                eprintln!("The Kith node for {} runs already", home.dir.display());
            }
        }
        Cmd::Stop => {
            let mut client = Client::connect(&home).await?;
            stop_node(&home, &mut client).await?;
            eprintln!("Stopped the Kith node for {}", home.dir.display());
        }
        Cmd::Status { json } => {
            let s: reply::Status = call_as(&home, Command::Status {}).await?;
            if json {
                print_json(&s);
            } else {
                println!("Name:      {}", s.name);
                println!("Peer ID:   {}", s.peer_id);
                println!("Listening: {}", s.listen_addr);
                println!("Friends:   {} ({} online)", s.friends, s.online);
                println!("Home:      {}", s.home.display());
            }
        }
        Cmd::Invite { qr, days, json } => {
            let expires_secs = Some(days.saturating_mul(86400));
            let r: reply::Invite = call_as(&home, Command::InviteCreate { expires_secs }).await?;
            let link = r.link.clone();
            if json {
                print_json(&r);
                return Ok(());
            }
            if qr {
                match qrcode::QrCode::new(link.as_bytes()) {
                    Ok(code) => println!(
                        "{}",
                        code.render::<qrcode::render::unicode::Dense1x2>()
                            .quiet_zone(true)
                            .build()
                    ),
                    Err(e) => eprintln!("(no QR code: {e})"),
                }
            }
            eprintln!("Send this link to one friend; it works once, for {days} days:");
            println!("{link}");
        }
        Cmd::Accept { link, json } => {
            let r: reply::FriendReply = call_as(&home, Command::InviteAccept { link }).await?;
            if json {
                print_json(&r);
            } else if let Some(f) = r.friend {
                eprintln!(
                    "You and {} are now friends. Safety number: {} (compare it with theirs)",
                    f.name, f.safety_number
                );
                println!("{}", f.id);
            }
        }
        Cmd::Friends { json } => {
            let list: Vec<reply::Friend> = call_as(&home, Command::Friends {}).await?;
            if json {
                print_json(&list);
            } else {
                if list.is_empty() {
                    eprintln!("No friends yet: make an invite with `kith invite`.");
                }
                for f in list {
                    let state = if f.online { "online" } else { "offline" };
                    println!(
                        "{:<20} {:<8} {}  safety {}",
                        f.name, state, f.id, f.safety_number
                    );
                }
            }
        }
        Cmd::Unfriend { peer, json } => {
            let r: reply::Unfriended = call_as(&home, Command::Unfriend { peer }).await?;
            if json {
                print_json(&r);
            } else {
                eprintln!("Removed {} from your friends", r.name);
                println!("{}", r.id);
            }
        }
        Cmd::Share {
            paths,
            to,
            title,
            keep_location,
            json,
        } => {
            let paths: Vec<PathBuf> = paths
                .iter()
                .map(std::path::absolute)
                .collect::<Result<_, _>>()
                .map_err(anyhow::Error::from)?;
            let cmd = Command::Share {
                paths: paths
                    .iter()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect(),
                to,
                title,
                link: None,
                keep_location,
                album: None,
            };
            let r: reply::Shared = crate::control::reply_as(
                call_with_progress(&home, cmd, "share_progress", "Hashing").await?,
            )?;
            if json {
                print_json(&r);
            } else {
                eprintln!("Shared {} files ({} bytes)", r.items, r.bytes);
                println!("{}", r.id);
            }
        }
        Cmd::Albums { json } => {
            let list: Vec<reply::AlbumView> = call_as(&home, Command::Albums {}).await?;
            if json {
                print_json(&list);
            } else {
                if list.is_empty() {
                    eprintln!("No albums yet: share files with `kith share FILE...`.");
                }
                for a in list {
                    let who = if a.mine {
                        "by me".to_string()
                    } else {
                        format!("from {}", a.owner_name)
                    };
                    println!(
                        "{}  {:<30} {:<16} {} files, {} bytes",
                        a.id, a.title, who, a.item_count, a.bytes
                    );
                }
            }
        }
        Cmd::Album {
            id,
            offset,
            limit,
            json,
        } => {
            let cmd = Command::Album {
                album: id.into(),
                offset,
                limit,
            };
            let r: reply::AlbumPage = call_as(&home, cmd).await?;
            if json {
                print_json(&r);
            } else {
                let a = &r.album;
                println!("{}  ({} files, {} bytes)", a.title, a.item_count, a.bytes);
                if let Some(link) = &a.link {
                    println!("link: {link}");
                }
                for i in &r.items {
                    let here = if i.path.is_none() { " " } else { "*" };
                    println!("{here} {}  {:>12}  {}", i.id, i.size, i.name);
                }
            }
        }
        Cmd::Comment {
            id,
            text,
            react,
            edit,
            delete,
            hide,
            unhide,
            json,
        } => {
            let cmd = if edit {
                Command::CommentEdit {
                    comment: id.into(),
                    text: text.unwrap_or_default(),
                }
            } else if delete {
                Command::CommentDelete { comment: id.into() }
            } else if hide || unhide {
                Command::CommentHide {
                    comment: id.into(),
                    hidden: hide,
                }
            } else {
                Command::Comment {
                    target: id,
                    text,
                    reaction: react,
                    album: None,
                }
            };
            let r: reply::CommentReply = call_as(&home, cmd).await?;
            if json {
                print_json(&r);
            } else {
                if r.owner_offline == Some(true) {
                    eprintln!(
                        "Waiting for the album's owner to be online; it goes when they are back"
                    );
                }
                println!("{}", r.comment.id.as_deref().unwrap_or(""));
            }
        }
        Cmd::Comments { id, json } => {
            // Every page, so the whole thread is listed.
            let page = |offset| Command::Comments {
                target: id.clone(),
                album: None,
                offset,
                limit: None,
            };
            let mut r: reply::CommentPage = call_as(&home, page(0)).await?;
            loop {
                let got = r.comments.len();
                if got == 0 || got >= r.total {
                    break;
                }
                let more: reply::CommentPage = call_as(&home, page(got)).await?;
                if more.comments.is_empty() {
                    break;
                }
                r.comments.extend(more.comments);
            }
            if json {
                print_json(&r);
            } else {
                print_comments(&r);
            }
        }
        Cmd::Verify { peer, undo, json } => {
            let cmd = Command::FriendVerify {
                peer,
                verified: !undo,
            };
            let r: reply::FriendReply = call_as(&home, cmd).await?;
            if json {
                print_json(&r);
            } else if let Some(f) = r.friend {
                if undo {
                    eprintln!("{} is no longer marked as verified", f.name);
                } else {
                    eprintln!(
                        "{} is marked as verified (safety number {})",
                        f.name, f.safety_number
                    );
                }
            }
        }
        Cmd::Unshare { id, json } => {
            let r: reply::Unshared = call_as(
                &home,
                Command::Unshare {
                    album: id.as_str().into(),
                },
            )
            .await?;
            if json {
                print_json(&r);
            } else {
                eprintln!("Unshared {id}");
            }
        }
        Cmd::Fetch {
            id,
            out,
            timeout,
            json,
        } => {
            let out = out
                .map(|o| std::path::absolute(&o))
                .transpose()
                .map_err(anyhow::Error::from)?;
            let cmd = Command::Fetch {
                target: id,
                out: out.map(|o| o.to_string_lossy().into_owned()),
                timeout_secs: Some(timeout),
            };
            let r: reply::Fetched = crate::control::reply_as(
                call_with_progress(&home, cmd, "fetch_progress", "Fetching").await?,
            )?;
            if json {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
            } else {
                let (secs, got) = (r.secs, r.received_bytes);
                eprintln!(
                    "Fetched {} bytes in {:.1}s ({:.1} MB/s)",
                    got,
                    secs,
                    got as f64 / 1e6 / secs.max(1e-3)
                );
                for p in &r.paths {
                    println!("{}", p.display());
                }
            }
        }
        Cmd::Audience {
            id,
            add,
            remove,
            title,
            json,
        } => {
            let cmd = Command::AlbumUpdate {
                album: id.into(),
                add,
                remove,
                title,
            };
            let r: reply::AlbumView = call_as(&home, cmd).await?;
            if json {
                print_json(&r);
            } else {
                eprintln!("{} is now shared with {} people", r.title, r.audience.len());
                for p in &r.audience {
                    println!("{p}");
                }
            }
        }
        Cmd::Settings {
            upload_rate,
            download_rate,
            download_dir,
            help_friends,
            relay_rate,
            quota_albums,
            quota_member_albums,
            quota_thumb_bytes,
            json,
        } => {
            let download_dir = download_dir.map(|d| {
                if d.is_empty() {
                    d
                } else {
                    std::path::absolute(&d)
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or(d)
                }
            });
            let cmd = Command::Settings {
                upload_rate,
                download_rate,
                download_dir,
                help_friends,
                relay_rate,
                quota_albums,
                quota_member_albums,
                quota_thumb_bytes,
            };
            let r: reply::Settings = call_as(&home, cmd).await?;
            if json {
                print_json(&r);
            } else {
                let show = |v: u64| match v {
                    0 => "no limit".to_string(),
                    b => format!("{} bytes/s", b),
                };
                println!("upload:   {}", show(r.upload_rate));
                println!("download: {}", show(r.download_rate));
                println!("folder:   {}", r.download_dir.display());
                println!(
                    "relay:    {}",
                    if r.help_friends {
                        format!("helps friends connect, {}", show(r.relay_rate))
                    } else {
                        "off".to_string()
                    }
                );
                println!(
                    "quotas:   {} albums per friend, {} per other owner, {} bytes of thumbnails per owner",
                    r.quota_albums, r.quota_member_albums, r.quota_thumb_bytes
                );
            }
        }
        Cmd::Transfers { json } => {
            let list: Vec<reply::Transfer> = call_as(&home, Command::Transfers {}).await?;
            if json {
                print_json(&list);
            } else {
                for t in list {
                    let state = if t.running { "running" } else { "waiting" };
                    println!("{}  {}  {}", t.target, state, t.out.display());
                }
            }
        }
        Cmd::Identity {
            op: IdentityOp::Export { file },
        } => {
            let file = std::path::absolute(&file).map_err(anyhow::Error::from)?;
            let pass = passphrase(true)?;
            match Client::connect(&home).await {
                Ok(mut c) => {
                    let cmd = Command::IdentityExport {
                        path: file.to_string_lossy().into_owned(),
                        passphrase: pass,
                    };
                    c.call(&cmd).await?;
                }
                Err(_) => {
                    let id = home.identity()?;
                    let store = kith_node::store::Store::open(&home.db_path())
                        .map_err(anyhow::Error::from)?;
                    let friends = store.friends().map_err(anyhow::Error::from)?;
                    kith_node::export::write_export(&file, &id, &home.config()?, &friends, &pass)?;
                }
            }
            eprintln!(
                "Wrote {} (keep it safe: it holds your identity)",
                file.display()
            );
        }
        Cmd::Identity {
            op: IdentityOp::Import { file },
        } => {
            if home.initialized() {
                return Err(ApiError::new(
                    ErrorCode::AlreadyInitialized,
                    format!(
                        "{} already has an identity; import into a new home",
                        home.dir.display()
                    ),
                )
                .into());
            }
            let pass = passphrase(false)?;
            let bundle = kith_node::export::read_export(&file, &pass)?;
            let id = kith_proto::identity::Identity::from_pem(&bundle.key_pem).map_err(|e| {
                ApiError::new(
                    ErrorCode::BadPassphrase,
                    format!("the export's key is damaged: {e}"),
                )
            })?;
            home.install_identity(&id, &bundle.name)?;
            let store =
                kith_node::store::Store::open(&home.db_path()).map_err(anyhow::Error::from)?;
            for f in &bundle.friends {
                store.put_friend(f).map_err(anyhow::Error::from)?;
            }
            eprintln!(
                "Imported {} with {} friends into {}",
                bundle.name,
                bundle.friends.len(),
                home.dir.display()
            );
            println!("{}", id.peer_id());
        }
        Cmd::Install { autostart } => install(&home, autostart).await?,
        Cmd::Uninstall { purge, yes } => uninstall(&home, purge, yes).await?,
        Cmd::Logs { lines, follow } => logs(&home, lines, follow).await?,
        Cmd::Doctor => {
            use crate::install::Finding;
            let mut findings = crate::install::doctor_offline(&home);
            if home.initialized() {
                match call_as::<Vec<reply::Friend>>(&home, Command::Friends {}).await {
                    Ok(friends) => {
                        let all = friends.len();
                        let online = friends.iter().filter(|f| f.online).count();
                        let s = if all == 1 { "" } else { "s" };
                        findings.push(Finding::ok(format!(
                            "the node is running ({all} friend{s}, {online} connected)"
                        )));
                        if let Ok(st) = call_as::<reply::Status>(&home, Command::Status {}).await {
                            findings.push(crate::install::doctor_reach(&st.reach));
                        }
                        findings.push(crate::version::doctor_node(&home).await);
                        findings.extend(crate::install::doctor_friends(&friends));
                    }
                    Err(f) if f.error.code == ErrorCode::NoNode => findings.push(Finding::problem(
                        "no node is running: start one with `kith start`",
                    )),
                    Err(f) => findings.push(Finding::problem(format!(
                        "the node did not answer `friends`: {}",
                        f.error.message
                    ))),
                }
            }
            let bad = findings.iter().filter(|f| !f.ok).count();
            for f in &findings {
                println!("{}", f.lines());
            }
            if bad > 0 {
                return Err(
                    ApiError::new(ErrorCode::Doctor, format!("{bad} problem(s) found")).into(),
                );
            }
        }
        Cmd::Demo {
            once,
            friend: false,
        } => crate::demo::run(once).await?,
        Cmd::Demo { once, friend: true } => crate::demo::run_friend(home, once).await?,
    }
    Ok(())
}
