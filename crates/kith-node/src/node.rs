//! The node: one actor task owns the state (store, friends, connections, invites) and receives
//! commands; network tasks do the I/O and report back to it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::core::access::{Access, Admit, HelloInvite};
use crate::core::links::{ConnInfo, Dials, Links, Registered};
use crate::home::{Config, Home};
use crate::net::dial::dial;
use crate::net::tls::{self, Admission, SelfSigned, SharedAdmission};
use crate::store::{AfterFlush, FriendRecord, InviteRecord, Store};
use crate::wire::{read_frame, read_request, write_frame};
use kith_proto::api::{reply, ApiError, Command, ErrorCode, Event};
use kith_proto::hash::random;
use kith_proto::identity::{safety_number, Identity, PeerId};
use kith_proto::ids::{AlbumId, ItemId};
use kith_proto::invite::{self, make_proof, InviteBody, InviteError};
use kith_proto::peer::{Hello, PeerCode, PeerMsg, MAX_ADDRS};

mod comments;
mod config;
mod control;
mod dht;
pub mod local_only;
mod media;
mod reach;
mod sharing;
mod uploads;
pub use sharing::PeerReply;

/// Default invite lifetime: 7 days.
pub const INVITE_TTL: u64 = 7 * 24 * 3600;
/// Longest invite lifetime: 30 days.
pub const INVITE_TTL_MAX: u64 = 30 * 24 * 3600;
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// A message that holds the actor longer than this is logged (debug level) with its kind.
const BUSY_LOG: Duration = Duration::from_millis(10);

pub use kith_proto::peer::close;

/// Seconds since the Unix epoch.
pub use crate::clock::{now, now_ms};

/// Where a command's answer goes: delivered once the store writes made before it are durable.
type Reply = AfterFlush<Result<Value, ApiError>>;

/// What the actor receives.
enum Msg {
    Api(Command, oneshot::Sender<Result<Value, ApiError>>),
    /// A peer's hello arrived on an incoming connection; the reply is our hello or a refusal.
    Incoming {
        conn: quinn::Connection,
        peer: PeerId,
        invite: Option<[u8; 16]>,
        hello: Hello,
        reply: oneshot::Sender<PeerMsg>,
    },
    /// A dial finished its hello exchange.
    Dialed {
        conn: quinn::Connection,
        peer: PeerId,
        hello: Hello,
        accept: Option<Reply>,
    },
    /// A dial failed.
    DialFailed {
        peer: PeerId,
        error: ApiError,
        accept: Option<Reply>,
    },
    /// A connection ended.
    Closed {
        peer: PeerId,
        conn_id: usize,
    },
    Tick,
    /// A friend's request on a stream (album push, manifest, segment, chunks).
    PeerRequest {
        peer: PeerId,
        msg: PeerMsg,
        reply: oneshot::Sender<PeerReply>,
    },
    /// Files for a new album (or to add to one) were listed and hashed.
    Hashed {
        result: Result<(sharing::ShareJob, Vec<sharing::Hashed>), ApiError>,
        reply: Reply,
    },
    /// An album reached a member.
    Delivered {
        peer: PeerId,
        album: AlbumId,
        version: u64,
    },
    /// A fetch ended.
    FetchDone {
        key: String,
        target: String,
        result: Result<
            (
                crate::transfer::fetch::Outcome,
                Vec<crate::transfer::fetch::Fetched>,
            ),
            ApiError,
        >,
        secs: f64,
    },
    /// A fetch asks who can serve an album now.
    Sources {
        album: AlbumId,
        reply: oneshot::Sender<Vec<quinn::Connection>>,
    },
    /// The gateway asks for a thumbnail or an item.
    Gateway {
        want: crate::gateway::Want,
        reply: oneshot::Sender<crate::gateway::Answer>,
    },
    /// Thread entries an album's owner sent in answer to `get_comments`.
    CommentsIn {
        peer: PeerId,
        msg: PeerMsg,
    },
    /// A node was heard on the LAN.
    LanHeard(crate::net::lan::Heard),
    /// My router's port mapping changed (None: no mapping now).
    Mapped(Option<SocketAddr>),
    /// The DHT client started.
    DhtReady(Arc<crate::net::dht::DhtClient>),
    /// The DHT client could not start.
    DhtFailed(String),
    /// A publish of my DHT record ended.
    DhtPublished {
        /// The reach secret the record was sealed under.
        secret: [u8; 32],
        addrs: Vec<SocketAddr>,
        /// The day whose DHT key it was published under.
        day: u64,
        result: Result<(), crate::net::dht::PublishError>,
    },
    /// A publish of my DHT record under an invite's lookup secret ended.
    DhtInvitePublished {
        /// The invite's lookup secret.
        secret: [u8; 32],
        addrs: Vec<SocketAddr>,
        /// The day whose DHT key it was published under.
        day: u64,
        result: Result<(), crate::net::dht::PublishError>,
    },
    /// Emptying the DHT record under a dead invite's lookup secret ended.
    DhtInviteEmptied {
        secret: [u8; 32],
        result: Result<(), crate::net::dht::PublishError>,
    },
    /// Emptying the DHT record under a retired reach secret ended.
    DhtEmptied {
        secret: [u8; 32],
        result: Result<(), crate::net::dht::PublishError>,
    },
    /// A lookup of a friend's DHT record found these addresses (the lookup may go on).
    DhtFound {
        peer: PeerId,
        addrs: Vec<SocketAddr>,
    },
    /// A lookup of a friend's DHT record ended; `found`: it reported addresses.
    DhtLookupDone {
        peer: PeerId,
        found: bool,
    },
    /// A friend relays between me and `peer`, which is dialling me through it now.
    Relayed {
        peer: PeerId,
        addr: SocketAddr,
    },
    /// A relay I ran (or was asked for) for `requester` ended: its socket closed, or none opened.
    RelayEnded {
        requester: PeerId,
    },
    /// A friend introduced me to `peer`, which is dialling me now: dial it too.
    Introduced {
        peer: PeerId,
        addrs: Vec<SocketAddr>,
    },
    /// A pull of an album's thread ended.
    CommentsPulled {
        peer: PeerId,
        album: AlbumId,
    },
    /// The owner answered a comment of mine.
    CommentPosted {
        owner: PeerId,
        comment: kith_proto::comment::SignedComment,
        answer: crate::core::outbox::Answer,
    },
    /// Thumbnails pulled from a peer (each checked against its hash), or None when the
    /// pull ended.
    Thumbs {
        album: AlbumId,
        got: Option<Vec<(String, Vec<u8>)>>,
    },
    /// A thumbnail from `thumb_set` was decoded and checked.
    ThumbChecked {
        item: ItemId,
        duration_ms: Option<u64>,
        checked: Result<media::CheckedThumb, ApiError>,
        reply: Reply,
    },
    /// Settings were written (`node/config.rs`): use them and answer.
    ConfigSaved {
        config: Config,
        reply: Reply,
    },
    /// An upload's writer failed, deleted the part file and answered: forget the upload.
    UploadGone {
        id: String,
    },
}

impl Msg {
    /// The message's kind, for the actor's busy log (never its contents: a command may
    /// carry a passphrase).
    fn kind(&self) -> &'static str {
        match self {
            Msg::Api(..) => "api",
            Msg::Incoming { .. } => "incoming",
            Msg::Dialed { .. } => "dialed",
            Msg::DialFailed { .. } => "dial_failed",
            Msg::Closed { .. } => "closed",
            Msg::Tick => "tick",
            Msg::PeerRequest { .. } => "peer_request",
            Msg::Hashed { .. } => "hashed",
            Msg::Delivered { .. } => "delivered",
            Msg::FetchDone { .. } => "fetch_done",
            Msg::Sources { .. } => "sources",
            Msg::Gateway { .. } => "gateway",
            Msg::CommentsIn { .. } => "comments_in",
            Msg::LanHeard(..) => "lan_heard",
            Msg::Mapped(..) => "mapped",
            Msg::DhtReady(..) => "dht_ready",
            Msg::DhtFailed(..) => "dht_failed",
            Msg::DhtPublished { .. } => "dht_published",
            Msg::DhtEmptied { .. } => "dht_emptied",
            Msg::DhtInvitePublished { .. } => "dht_invite_published",
            Msg::DhtInviteEmptied { .. } => "dht_invite_emptied",
            Msg::DhtFound { .. } => "dht_found",
            Msg::DhtLookupDone { .. } => "dht_lookup_done",
            Msg::Relayed { .. } => "relayed",
            Msg::RelayEnded { .. } => "relay_ended",
            Msg::Introduced { .. } => "introduced",
            Msg::CommentsPulled { .. } => "comments_pulled",
            Msg::CommentPosted { .. } => "comment_posted",
            Msg::Thumbs { .. } => "thumbs",
            Msg::ThumbChecked { .. } => "thumb_checked",
            Msg::UploadGone { .. } => "upload_gone",
            Msg::ConfigSaved { .. } => "config_saved",
        }
    }
}

/// A way to talk to the node actor.
#[derive(Clone)]
pub struct NodeHandle {
    tx: mpsc::Sender<Msg>,
    events: broadcast::Sender<Event>,
}

impl NodeHandle {
    /// Runs a command and waits for its result.
    pub async fn call(&self, cmd: Command) -> Result<Value, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Api(cmd, tx))
            .await
            .map_err(|_| ApiError::new(ErrorCode::NoNode, "the node is shutting down"))?;
        rx.await
            .map_err(|_| ApiError::new(ErrorCode::NoNode, "the node is shutting down"))?
    }

    /// Receives the node's events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

/// Everything the actor owns.
struct Node {
    home: Home,
    /// The program file this node runs, read at its start (`hello`, `status`).
    binary: Option<reply::Binary>,
    /// The settings in use; changed only by `Msg::ConfigSaved`, after they are written.
    config: Config,
    /// Where `settings` changes go to be written (`node/config.rs`).
    config_writer: config::Writer,
    me: PeerId,
    identity: Arc<Identity>,
    store: Store,
    admission: SharedAdmission,
    endpoint: quinn::Endpoint,
    listen: SocketAddr,
    boot: u64,
    /// One link per peer (`core::links`).
    links: Links<quinn::Connection>,
    /// When to dial each peer.
    dials: Dials,
    tx: mpsc::Sender<Msg>,
    events: broadcast::Sender<Event>,
    shutdown: Option<oneshot::Sender<()>>,
    up: Arc<crate::transfer::rate::Limiter>,
    down: Arc<crate::transfer::rate::Limiter>,
    /// Fetches under way, by target and folder, with the requests waiting for each.
    fetching: HashMap<String, sharing::Running>,
    /// Files arriving from the add-on, by upload ID.
    uploads: HashMap<String, uploads::Upload>,
    /// Who may get what (`core::access`); its albums are refreshed from the store by
    /// `refresh_access`.
    access: Access,
    /// Files being fetched, as the gateway sees them.
    live: Arc<crate::transfer::live::Live>,
    /// The loopback gateway of this start.
    gateway: crate::gateway::Gateway,
    /// Thumbnails being pulled from peers, by hash.
    pulling: std::collections::HashSet<String>,
    /// Bytes of thumbnails held per owner, counted from the store on first use
    /// (`Node::thumb_use`) and kept up as thumbnails are pulled.
    thumb_use: HashMap<PeerId, u64>,
    /// My comment outbox and catch-up on others' threads (`core::outbox`).
    outbox: crate::core::outbox::Outbox,
    /// Comment posts per author (`core::thread::PostLimit`): peers' and my user's own.
    post_limit: crate::core::thread::PostLimit,
    /// Seconds the node has run (one tick a second).
    ticks: u64,
    /// This node's reach secret, told to friends in the hello.
    reach: [u8; 32],
    /// The LAN announcer and listener (None: off, or the node listens on loopback only).
    _lan: Option<crate::net::lan::Lan>,
    /// What was learnt about reaching each friend, and when to ask for help (`core::reach`).
    reaching: crate::core::reach::Reach,
    /// Which connected friends share which of my friends (`core::mutual`).
    mutual: crate::core::mutual::Mutual,
    /// The relays I run for friends, counted per requester (`core::reach::RELAYS_PER_REQUESTER`).
    relaying: crate::core::reach::Relaying,
    /// The limit on bytes relayed for friends.
    relay_limit: Arc<crate::transfer::rate::Limiter>,
    /// My address as a friend outside my network last saw it (from its hello).
    observed: Option<SocketAddr>,
    /// The public address my router maps to my port (None: no mapping).
    mapped: Option<SocketAddr>,
    /// The Mainline DHT client and what it is doing.
    dht: dht::DhtState,
    /// Safety numbers already computed, per friend (each costs 10,400 SHA-512 rounds).
    safety: std::cell::RefCell<HashMap<PeerId, String>>,
}

/// Rate limits for one run of the node (None: the home's settings).
#[derive(Debug, Default, Clone, Copy)]
pub struct Rates {
    /// Upload bytes per second.
    pub upload: Option<u64>,
    /// Download bytes per second.
    pub download: Option<u64>,
}

/// A typed reply as the JSON the API carries.
fn to_json<T: serde::Serialize>(r: Result<T, ApiError>) -> Result<Value, ApiError> {
    r.and_then(|v| serde_json::to_value(v).map_err(ApiError::internal))
}

/// A QR code of the text as rows of `0` (light) and `1` (dark), for the add-on to draw.
fn qr_rows(text: &str) -> Vec<String> {
    let Ok(code) = qrcode::QrCode::new(text.as_bytes()) else {
        return Vec::new();
    };
    let w = code.width();
    code.to_colors()
        .chunks(w)
        .map(|row| {
            row.iter()
                .map(|c| if *c == qrcode::Color::Dark { '1' } else { '0' })
                .collect()
        })
        .collect()
}

/// Where `serve` listens: an address, and a port (None: the one chosen at init).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAt {
    /// The address.
    pub ip: std::net::IpAddr,
    /// The port; None for the home's own.
    pub port: Option<u16>,
}

impl std::str::FromStr for ListenAt {
    type Err = String;

    /// `IP:PORT` (`[IPv6]:PORT`), or an address alone for the home's own port.
    fn from_str(s: &str) -> Result<ListenAt, String> {
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(ListenAt {
                ip: a.ip(),
                port: Some(a.port()),
            });
        }
        let bare = s.trim_start_matches('[').trim_end_matches(']');
        bare.parse()
            .map(|ip| ListenAt { ip, port: None })
            .map_err(|_| format!("{s:?} is neither IP:PORT nor an IP address"))
    }
}

/// Runs the node for a home in the foreground until a signal or `stop`.
pub async fn serve(home: Home, listen: Option<ListenAt>, rates: Rates) -> Result<()> {
    // Read first: the file at this path may be replaced (upgraded) while the node runs.
    let binary = crate::binary::this_program();
    let identity = Arc::new(home.identity()?);
    let config = home.config()?;
    let bind = match listen {
        Some(l) => SocketAddr::new(l.ip, l.port.unwrap_or(config.port)),
        None => SocketAddr::from(([0, 0, 0, 0], config.port)),
    };
    local_only::check(&local_only::Plan {
        listen: bind,
        lan: lan_wanted(bind),
        port_mapping: port_mapping_wanted(&config, bind),
        dht: dht::dht_settings(&config, bind),
    })?;
    let up = Arc::new(crate::transfer::rate::Limiter::new(
        rates.upload.unwrap_or(config.upload_rate),
    ));
    let down = Arc::new(crate::transfer::rate::Limiter::new(
        rates.download.unwrap_or(config.download_rate),
    ));
    let _lock = lock_home(&home)?;
    let store = Store::open(&home.db_path()).context("opening the store")?;
    store
        .upgrade(&identity.peer_id())
        .context("upgrading the store")?;
    for p in home.tighten() {
        tracing::warn!(path = %p.display(), "was open to other users: now only yours");
    }
    let t = now();
    store.prune_invites(t)?;
    let mut admission = Admission::default();
    let friends: Vec<PeerId> = store.friends()?.iter().map(|f| f.id).collect();
    admission.friends.extend(friends.iter().copied());
    for inv in store.invites()? {
        if inv.used_by.is_none() {
            admission.invites.insert(inv.invite_id, inv.secret);
        }
    }
    let admission: SharedAdmission = Arc::new(RwLock::new(admission));

    let (cert, key) = identity.certificate(None)?;
    let verifier = Arc::new(tls::ClientVerifier::new(admission.clone()));
    let server = tls::server_config(cert, key, verifier)?;
    let endpoint = crate::net::endpoint(bind, server)?;
    let listen = endpoint.local_addr()?;

    let listener = crate::ipc::Listener::bind(&home)?;

    let (tx, rx) = mpsc::channel(256);
    let (events, _) = broadcast::channel(256);
    let (shutdown_tx, shutdown_rx) = oneshot::channel();
    let handle = NodeHandle {
        tx: tx.clone(),
        events: events.clone(),
    };
    let ask: crate::gateway::Ask = {
        let tx = tx.clone();
        Arc::new(move |want| {
            let (rtx, rrx) = oneshot::channel();
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(Msg::Gateway { want, reply: rtx }).await;
            });
            rrx
        })
    };
    let (gateway, gateway_task) = crate::gateway::start(ask)
        .await
        .context("starting the loopback gateway")?;
    let reach = store.reach_secret()?;
    let relay_limit = Arc::new(crate::transfer::rate::Limiter::new(config.relay_rate));
    let lan = start_lan(reach, listen, tx.clone());
    let dht_bootstrap = dht::dht_settings(&config, listen);
    let dht_on = dht_bootstrap.is_some();
    if let Some(bootstrap) = dht_bootstrap {
        dht::start(bootstrap, store.dht_port().ok().flatten(), tx.clone());
    }
    let portmap = start_port_mapping(&config, listen, tx.clone());
    let me = identity.peer_id();
    let config_writer = config::start(home.clone(), config.clone(), tx.clone());
    let mut node = Node {
        me,
        binary,
        home: home.clone(),
        config,
        config_writer,
        identity,
        store,
        admission,
        endpoint: endpoint.clone(),
        listen,
        boot: rand::random(),
        links: Links::new(me),
        dials: Dials::default(),
        tx: tx.clone(),
        events,
        shutdown: Some(shutdown_tx),
        up,
        down,
        fetching: HashMap::new(),
        uploads: HashMap::new(),
        access: Access::new(me, friends),
        live: Arc::default(),
        gateway,
        pulling: Default::default(),
        thumb_use: Default::default(),
        outbox: Default::default(),
        post_limit: match crate::settings::env().post_rate {
            Some(r) => crate::core::thread::PostLimit::per_minute(r, r),
            None => Default::default(),
        },
        ticks: 0,
        reach,
        _lan: lan,
        reaching: Default::default(),
        mutual: Default::default(),
        relaying: Default::default(),
        relay_limit,
        observed: None,
        mapped: None,
        dht: dht::DhtState::new(dht_on),
        safety: Default::default(),
    };
    node.load_comments();
    tracing::info!(peer = %node.me, %listen, home = %home.dir.display(), "node running");
    eprintln!("kith node {} listening on {listen}", node.me);

    let accept = tokio::spawn(accept_loop(endpoint.clone(), tx.clone()));
    let control = tokio::spawn(control::serve(listener, handle));
    let ticker = tokio::spawn({
        let tx = tx.clone();
        async move {
            let mut iv = tokio::time::interval(Duration::from_secs(1));
            loop {
                iv.tick().await;
                if tx.send(Msg::Tick).await.is_err() {
                    break;
                }
            }
        }
    });
    let actor = tokio::spawn(node.run(rx));

    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
        r = terminated() => { r?; tracing::info!("terminated") }
        _ = shutdown_rx => {
            tracing::info!("stop requested");
            // Let the answer to `stop` reach its client.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    if let Some(pm) = portmap {
        pm.release().await;
    }
    control.abort();
    gateway_task.abort();
    ticker.abort();
    accept.abort();
    endpoint.close(close::BYE.into(), b"node stopping");
    let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    drop(tx);
    actor.abort();
    let _ = actor.await; // the store is flushed on every write and dropped here
    let _ = control.await; // drops the listener, which removes the socket
    eprintln!("kith node stopped");
    Ok(())
}

/// Whether LAN discovery runs: not when the node listens on loopback only, or `KITH_NO_LAN=1`.
fn lan_wanted(listen: SocketAddr) -> bool {
    !(listen.ip().is_loopback() || crate::settings::env().no_lan)
}

/// Starts LAN discovery if [`lan_wanted`]; what it hears goes to the actor.
fn start_lan(
    reach: [u8; 32],
    listen: SocketAddr,
    tx: mpsc::Sender<Msg>,
) -> Option<crate::net::lan::Lan> {
    if !lan_wanted(listen) {
        return None;
    }
    let (htx, mut hrx) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Some(h) = hrx.recv().await {
            if tx.send(Msg::LanHeard(h)).await.is_err() {
                break;
            }
        }
    });
    match crate::net::lan::start(reach, listen.port(), htx) {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!("LAN discovery is off: {e}");
            None
        }
    }
}

/// Whether the router is asked to map the node's port: not when it listens on loopback only,
/// the settings say no, or `KITH_NO_PORTMAP=1`.
fn port_mapping_wanted(config: &Config, listen: SocketAddr) -> bool {
    !(listen.ip().is_loopback() || !config.port_mapping || crate::settings::env().no_portmap)
}

/// Asks the home router to map the node's port if [`port_mapping_wanted`]; changes of the
/// mapping go to the actor.
fn start_port_mapping(
    config: &Config,
    listen: SocketAddr,
    tx: mpsc::Sender<Msg>,
) -> Option<crate::net::portmap::PortMap> {
    if !port_mapping_wanted(config, listen) {
        return None;
    }
    let (mtx, mut mrx) = mpsc::channel(8);
    tokio::spawn(async move {
        while let Some(a) = mrx.recv().await {
            if tx.send(Msg::Mapped(a)).await.is_err() {
                break;
            }
        }
    });
    crate::net::portmap::PortMap::start(listen.port(), mtx)
}

/// Resolves when the system asks the node to end: SIGTERM on unix; on Windows Ctrl-Break
/// (Ctrl-C is `ctrl_c` for both), or the console closing.
#[cfg(unix)]
pub async fn terminated() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    term.recv().await;
    Ok(())
}

/// Resolves when the system asks the node to end: SIGTERM on unix; on Windows Ctrl-Break
/// (Ctrl-C is `ctrl_c` for both), or the console closing.
#[cfg(windows)]
pub async fn terminated() -> std::io::Result<()> {
    use tokio::signal::windows;
    let mut brk = windows::ctrl_break()?;
    let mut close = windows::ctrl_close()?;
    tokio::select! {
        _ = brk.recv() => {}
        _ = close.recv() => {}
    }
    Ok(())
}

/// Takes the home's lock so only one node runs for it; the lock file names the holder's pid.
fn lock_home(home: &Home) -> Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    let path = home.lock_path();
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    if f.try_lock().is_err() {
        let mut pid = String::new();
        let _ = f.read_to_string(&mut pid);
        bail!(
            "a Kith node is already running for {} (pid {}); stop it with `kith stop --home {}`",
            home.dir.display(),
            pid.trim(),
            home.dir.display()
        );
    }
    f.set_len(0)?;
    f.rewind()?;
    write!(f, "{}", std::process::id())?;
    f.flush()?;
    Ok(f)
}

async fn accept_loop(endpoint: quinn::Endpoint, tx: mpsc::Sender<Msg>) {
    use crate::net::gate::{Decision, Gate};
    let gate = Arc::new(std::sync::Mutex::new(Gate::default()));
    while let Some(incoming) = endpoint.accept().await {
        if endpoint.open_connections() >= crate::net::MAX_CONNECTIONS {
            incoming.refuse();
            continue;
        }
        let from = incoming.remote_address();
        let validated = incoming.remote_address_validated();
        let decision = match gate.lock() {
            Ok(mut g) => g.admit(from, validated, Instant::now()),
            Err(_) => Decision::Ignore,
        };
        match decision {
            Decision::Ignore => {
                incoming.ignore();
                continue;
            }
            Decision::Retry => {
                let _ = incoming.retry();
                continue;
            }
            Decision::Accept => {}
        }
        let (tx, gate) = (tx.clone(), gate.clone());
        tokio::spawn(async move {
            let (outcome, result) = handle_incoming(incoming, tx).await;
            if let Err(e) = &result {
                tracing::debug!("incoming connection ended: {e:#}");
            }
            if let Ok(mut g) = gate.lock() {
                g.done(from, outcome, Instant::now());
            }
        });
    }
}

/// Runs one incoming connection's handshake and hello: how it ended, for the gate.
async fn handle_incoming(
    incoming: quinn::Incoming,
    tx: mpsc::Sender<Msg>,
) -> (crate::net::gate::Outcome, Result<()>) {
    use crate::net::gate::Outcome;
    let remote = incoming.remote_address();
    let connecting = match incoming.accept() {
        Ok(c) => c,
        Err(e) => return (Outcome::Abandoned, Err(e.into())),
    };
    let conn = match tokio::time::timeout(HELLO_TIMEOUT, connecting).await {
        Err(_) => {
            return (
                Outcome::Abandoned,
                Err(anyhow::anyhow!("handshake timed out")),
            )
        }
        Ok(Err(e @ quinn::ConnectionError::TimedOut))
        | Ok(Err(e @ quinn::ConnectionError::ApplicationClosed(_)))
        | Ok(Err(e @ quinn::ConnectionError::ConnectionClosed(_))) => {
            return (Outcome::Abandoned, Err(e.into()))
        }
        // Refused by TLS: a key that is not a friend's, a bad certificate.
        Ok(Err(e)) => {
            return (
                Outcome::Refused,
                Err(anyhow::Error::new(e).context(format!("handshake with {remote} failed"))),
            )
        }
        Ok(Ok(c)) => c,
    };
    match hello_exchange(conn.clone(), tx).await {
        Ok(true) => (Outcome::LetIn, Ok(())),
        Ok(false) => (Outcome::Refused, Ok(())),
        Err(HelloError::TimedOut) => (
            Outcome::Abandoned,
            Err(anyhow::anyhow!("{}", HelloError::TimedOut)),
        ),
        // Closed by the other side before its hello: a dial that lost a race.
        Err(e)
            if matches!(
                conn.close_reason(),
                Some(
                    quinn::ConnectionError::ApplicationClosed(_)
                        | quinn::ConnectionError::ConnectionClosed(_)
                        | quinn::ConnectionError::TimedOut
                        | quinn::ConnectionError::Reset
                )
            ) =>
        {
            (Outcome::Abandoned, Err(e.into()))
        }
        Err(e) => (Outcome::Refused, Err(e.into())),
    }
}

/// Why the hello on an incoming connection failed.
#[derive(Debug, thiserror::Error)]
enum HelloError {
    /// No hello arrived within `HELLO_TIMEOUT`.
    #[error("hello timed out")]
    TimedOut,
    /// The hello was malformed, or the connection failed.
    #[error(transparent)]
    Bad(#[from] anyhow::Error),
}

/// The hello on a new incoming connection; true when the peer was let in.
async fn hello_exchange(
    conn: quinn::Connection,
    tx: mpsc::Sender<Msg>,
) -> Result<bool, HelloError> {
    let info = tls::peer_of(&conn).context("no peer certificate")?;
    let exchange = async {
        let (mut send, mut recv) = conn.accept_bi().await?;
        let frame = read_frame(&mut recv, kith_proto::frame::MAX_PEER_REQUEST)
            .await?
            .context("stream ended before hello")?;
        let PeerMsg::Hello(hello) = PeerMsg::from_bytes(&frame)? else {
            bail!("first message was not a hello");
        };
        let (rtx, rrx) = oneshot::channel();
        let invite = info
            .invite_proof
            .as_deref()
            .and_then(kith_proto::invite::split_proof)
            .map(|(iid, _)| iid);
        tx.send(Msg::Incoming {
            conn: conn.clone(),
            peer: info.peer,
            invite,
            hello,
            reply: rtx,
        })
        .await
        .ok()
        .context("node stopping")?;
        let answer = rrx.await.context("node stopping")?;
        write_frame(&mut send, &answer.to_bytes()).await?;
        send.finish()?;
        anyhow::Ok(answer)
    };
    match tokio::time::timeout(HELLO_TIMEOUT, exchange).await {
        Ok(Ok(PeerMsg::Hello(_))) => Ok(true),
        Ok(Ok(_)) => {
            // Give the refusal time to arrive before closing.
            let _ = tokio::time::timeout(Duration::from_secs(2), conn.closed()).await;
            conn.close(close::REFUSED.into(), b"refused");
            Ok(false)
        }
        Ok(Err(e)) => {
            conn.close(close::REFUSED.into(), b"bad hello");
            Err(e.into())
        }
        Err(_) => {
            conn.close(close::REFUSED.into(), b"hello timed out");
            Err(HelloError::TimedOut)
        }
    }
}

/// Requests read at once on one connection: a stream past these waits, unread, in quinn's
/// flow-controlled buffers (`net::transport`'s receive windows).
const READS_AT_ONCE: usize = 8;
/// Requests over `MAX_PEER_REQUEST` (album pushes, comment pages) read at once on one
/// connection: with `READS_AT_ONCE`, a peer's requests hold at most about 4.5 MiB here.
const LARGE_AT_ONCE: usize = 1;

/// Serves a friend's requests on a connection until it closes, then tells the actor.
async fn serve_conn(conn: quinn::Connection, peer: PeerId, tx: mpsc::Sender<Msg>) {
    let reads = Arc::new(tokio::sync::Semaphore::new(READS_AT_ONCE));
    let large = Arc::new(tokio::sync::Semaphore::new(LARGE_AT_ONCE));
    loop {
        // A stream is taken only when a read may start (the permit is held while it reads).
        let Ok(read) = reads.clone().acquire_owned().await else {
            break;
        };
        let (mut send, mut recv) = match conn.accept_bi().await {
            Ok(s) => s,
            Err(_) => break,
        };
        let (tx, large) = (tx.clone(), large.clone());
        tokio::spawn(async move {
            let read_one = read_request(
                &mut recv,
                kith_proto::frame::MAX_PEER_REQUEST,
                kith_proto::frame::MAX_FROM_PEER,
                async { large.acquire_owned().await.ok() },
            );
            let (frame, large_permit) = match read_one.await {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e) => {
                    // Dropped with no answer (PROTOCOL.md §1).
                    tracing::info!(peer = %peer.short(), "request not read: {e}");
                    return;
                }
            };
            drop(read);
            let parsed = PeerMsg::from_bytes(&frame).and_then(|m| {
                if large_permit.is_some() && !m.may_be_large() {
                    Err(kith_proto::peer::PeerMsgError::Invalid(format!(
                        "a request of {} bytes (at most {} but for album_push and comments)",
                        frame.len(),
                        kith_proto::frame::MAX_PEER_REQUEST
                    )))
                } else {
                    Ok(m)
                }
            });
            drop(frame);
            let answer = match parsed {
                Ok(PeerMsg::Ping) => PeerReply::Answer(PeerMsg::Pong),
                Ok(msg) => {
                    let (rtx, rrx) = oneshot::channel();
                    if tx
                        .send(Msg::PeerRequest {
                            peer,
                            msg,
                            reply: rtx,
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                    match rrx.await {
                        Ok(a) => a,
                        Err(_) => return,
                    }
                }
                Err(e) => {
                    tracing::info!(peer = %peer.short(), "malformed request: {e}");
                    PeerReply::Answer(PeerMsg::Error {
                        code: PeerCode::Malformed,
                        message: e.to_string(),
                    })
                }
            };
            drop(large_permit);
            if let Err(e) = sharing::answer(&mut send, answer).await {
                tracing::debug!(peer = %peer.short(), "answer not sent: {e}");
            }
            let _ = send.finish();
        });
    }
    let _ = tx
        .send(Msg::Closed {
            peer,
            conn_id: conn.stable_id(),
        })
        .await;
}

/// A peer's told addresses (duplicates left out), then where it was seen, at most `MAX_ADDRS`.
fn merge_addrs(told: &[SocketAddr], seen: SocketAddr) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for a in told.iter().chain([&seen]) {
        if !out.contains(a) {
            out.push(*a);
        }
    }
    out.truncate(kith_proto::peer::MAX_ADDRS);
    out
}

impl Node {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        self.refresh_access();
        self.dial_due(); // reach every friend at start
        uploads::clean_stale(&self.home);
        self.resume_fetches();
        while let Some(msg) = rx.recv().await {
            let (kind, started) = (msg.kind(), Instant::now());
            match msg {
                Msg::Api(cmd, reply) => self.command(cmd, self.after_flush(reply)),
                Msg::Incoming {
                    conn,
                    peer,
                    invite,
                    hello,
                    reply,
                } => {
                    let answer = self.incoming(conn, peer, invite, hello);
                    self.after_flush(reply).send(answer);
                }
                Msg::Dialed {
                    conn,
                    peer,
                    hello,
                    accept,
                } => self.dialed(conn, peer, hello, accept),
                Msg::DialFailed {
                    peer,
                    error,
                    accept,
                } => {
                    let online = self.is_online(&peer);
                    self.reach_dial_failed(peer, online);
                    self.dials
                        .failed(peer, online, error.message.clone(), Instant::now());
                    if let Some(r) = accept {
                        r.send(Err(error));
                    }
                }
                Msg::Closed { peer, conn_id } => {
                    if self.links.closed(&peer, conn_id) {
                        self.dials.lost(peer, Instant::now());
                        if self.is_friend(&peer) {
                            self.dht_lookup_now(peer);
                            tracing::info!(peer = %peer.short(), "friend offline");
                            let _ = self.events.send(Event::FriendOffline {
                                id: peer.to_string(),
                            });
                        }
                    }
                }
                Msg::Tick => {
                    self.ticks += 1;
                    self.dial_due();
                    self.dht_tick();
                    self.try_upgrades();
                    self.comments_tick();
                }
                Msg::PeerRequest { peer, msg, reply } => {
                    let answer = self.peer_request(peer, msg);
                    self.after_flush(reply).send(answer);
                }
                Msg::Hashed { result, reply } => {
                    reply.send(to_json(result.and_then(|(share, h)| self.hashed(share, h))));
                }
                Msg::FetchDone {
                    key,
                    target,
                    result,
                    secs,
                } => self.fetch_done(key, target, result, secs),
                Msg::Delivered {
                    peer,
                    album,
                    version,
                } => self.delivered(peer, &album, version),
                Msg::Sources { album, reply } => {
                    let _ = reply.send(self.sources(&album));
                }
                Msg::Gateway { want, reply } => {
                    let _ = reply.send(self.gateway_want(want));
                }
                Msg::Thumbs { album, got } => self.thumbs_pulled(&album, got),
                Msg::CommentsIn { peer, msg } => self.comments_pulled_in(peer, msg),
                Msg::CommentsPulled { peer, album } => self.comments_pulled(peer, &album),
                Msg::LanHeard(h) => self.lan_heard(h),
                Msg::DhtReady(c) => self.dht_ready(c),
                Msg::DhtFailed(e) => {
                    tracing::warn!("the DHT is off: {e}");
                    self.dht.enabled = false;
                }
                Msg::Mapped(a) => {
                    tracing::info!(mapped = ?a, "router port mapping");
                    self.mapped = a;
                    // My record should carry the new address now.
                    self.dht.publish_soon();
                    self.dht_tick();
                }
                Msg::DhtPublished {
                    secret,
                    addrs,
                    day,
                    result,
                } => self.dht_published(secret, addrs, day, result),
                Msg::DhtEmptied { secret, result } => self.dht_emptied(secret, result),
                Msg::DhtInvitePublished {
                    secret,
                    addrs,
                    day,
                    result,
                } => self.dht_invite_published(secret, addrs, day, result),
                Msg::DhtInviteEmptied { secret, result } => self.dht_invite_emptied(secret, result),
                Msg::DhtFound { peer, addrs } => self.dht_found(peer, addrs),
                Msg::DhtLookupDone { peer, found } => self.dht_lookup_done(peer, found),
                Msg::Introduced { peer, addrs } => self.punch(peer, addrs),
                Msg::Relayed { peer, addr } => self.dial_relayed(peer, addr),
                Msg::RelayEnded { requester } => self.relaying.ended(requester),
                Msg::CommentPosted {
                    owner,
                    comment,
                    answer,
                } => self.comment_posted(owner, comment, answer),
                Msg::UploadGone { id } => self.upload_gone(&id),
                Msg::ConfigSaved { config, reply } => {
                    reply.send(to_json(Ok(self.use_config(config))));
                }
                Msg::ThumbChecked {
                    item,
                    duration_ms,
                    checked,
                    reply,
                } => {
                    let r = checked.and_then(|t| self.thumb_checked(&item, duration_ms, t));
                    reply.send(to_json(r));
                }
            }
            let took = started.elapsed();
            if took > BUSY_LOG {
                tracing::debug!(
                    msg = kind,
                    ms = took.as_millis() as u64,
                    "the actor was busy"
                );
            }
        }
    }

    /// Wraps an answer's channel so that the answer leaves only once every store write made
    /// before it is durable: nobody is told of a write that a crash could still lose.
    fn after_flush<T: Send + 'static>(&self, tx: oneshot::Sender<T>) -> AfterFlush<T> {
        AfterFlush::new(tx, self.store.durability())
    }

    /// My hello; a friend also gets my reach secret.
    fn hello_for(&self, observed: SocketAddr, friend: bool) -> Hello {
        Hello {
            name: self.config.name.clone(),
            addrs: self.my_addrs(),
            observed,
            boot: self.boot,
            reach: friend.then(|| kith_proto::album::hex(&self.reach)),
            mapped: self.mapped,
            knows: if friend {
                self.friend_tags()
            } else {
                Vec::new()
            },
        }
    }

    /// The tags my hello to a friend carries (`core::mutual`): one per friend whose reach
    /// secret I hold.
    fn friend_tags(&self) -> Vec<String> {
        let reaches: Vec<[u8; 32]> = self
            .store
            .friends()
            .unwrap_or_default()
            .iter()
            .filter_map(|f| kith_proto::album::unhex32(f.reach.as_deref()?))
            .collect();
        crate::core::mutual::my_tags(&self.me, reaches.iter())
    }

    fn is_online(&self, peer: &PeerId) -> bool {
        self.links
            .get(peer)
            .is_some_and(|l| l.conn.close_reason().is_none())
    }

    fn command(&mut self, cmd: Command, reply: Reply) {
        let r = match cmd {
            Command::Hello { .. } => to_json(Ok(reply::NodeHello {
                node_version: crate::VERSION.to_string(),
                protocol: crate::settings::env().protocol(),
                binary: self.binary.clone(),
            })),
            Command::Status {} => to_json(self.status()),
            Command::AddonOrigin { origin } => {
                if kith_proto::api::extension_origin_ok(&origin) {
                    self.gateway.allow_origin(&origin);
                    to_json(Ok(reply::Done {}))
                } else {
                    Err(ApiError::new(
                        ErrorCode::BadRequest,
                        "not an extension origin (moz-extension://UUID or chrome-extension://ID)",
                    ))
                }
            }
            Command::Autostart { .. } => Err(ApiError::new(
                ErrorCode::BadRequest,
                "autostart is answered by the native-messaging host; use `kith install --autostart`",
            )),
            Command::Init { .. } => Err(ApiError::new(
                ErrorCode::AlreadyInitialized,
                "this home already has an identity",
            )),
            Command::InviteCreate { expires_secs } => to_json(self.invite_create(expires_secs)),
            Command::InviteAccept { link } => return self.invite_accept(&link, reply),
            Command::Friends {} => to_json(self.friends()),
            Command::Unfriend { peer } => to_json(self.unfriend(&peer)),
            Command::Stop {} => {
                if let Some(s) = self.shutdown.take() {
                    let _ = s.send(());
                }
                to_json(Ok(reply::Done {}))
            }
            Command::IdentityExport { path, passphrase } => {
                return self.export(path, passphrase, reply)
            }
            Command::Share {
                paths,
                to,
                title,
                link,
                keep_location,
                album,
            } => return self.share(paths, to, title, link, keep_location, album, reply),
            Command::Albums {} => to_json(self.albums()),
            Command::Album {
                album,
                offset,
                limit,
            } => to_json(self.album_page(&album, offset, limit)),
            // An upload's file work runs in its writer task, which answers (`uploads.rs`).
            Command::UploadBegin { name, size } => return self.upload_begin(&name, size, reply),
            Command::UploadChunk { upload, data } => {
                return self.upload_chunk(&upload, data, reply)
            }
            Command::UploadEnd { upload } => return self.upload_end(&upload, reply),
            Command::UploadAbort { upload } => {
                return self.upload_abort(&upload, reply, to_json(Ok(reply::Done {})))
            }
            Command::UploadDiscard { paths } => return self.upload_discard(paths, reply),
            Command::TransferPause { target } => to_json(self.transfer_pause(&target)),
            Command::TransferResume { target } => to_json(self.transfer_resume(&target)),
            Command::TransferCancel { target } => to_json(self.transfer_cancel(&target)),
            Command::Open { item } => to_json(self.open(&item)),
            Command::Transfers {} => to_json(self.transfers()),
            Command::ThumbSet {
                item,
                data,
                duration_ms,
            } => return self.thumb_set(item, data, duration_ms, reply),
            Command::Unshare { album } => to_json(self.unshare(&album)),
            Command::AlbumUpdate {
                album,
                add,
                remove,
                title,
            } => to_json(self.album_update(&album, &add, &remove, title)),
            Command::Settings {
                upload_rate,
                download_rate,
                download_dir,
                help_friends,
                relay_rate,
                quota_albums,
                quota_member_albums,
                quota_thumb_bytes,
            } => {
                let change = config::Change {
                    upload_rate,
                    download_rate,
                    download_dir,
                    help_friends,
                    relay_rate,
                    quota_albums,
                    quota_member_albums,
                    quota_thumb_bytes,
                };
                if let Err(refused) = self.config_writer.send((change, reply)) {
                    let (_, reply) = refused.0;
                    reply.send(Err(ApiError::new(
                        ErrorCode::NoNode,
                        "the node is stopping",
                    )));
                }
                return;
            }
            Command::Fetch {
                target,
                out,
                timeout_secs,
            } => return self.fetch(&target, out, timeout_secs, Some(reply)),
            Command::Comment {
                target,
                text,
                reaction,
                album,
            } => to_json(self.comment(&target, text, reaction, album)),
            Command::CommentEdit { comment, text } => to_json(self.comment_edit(&comment, text)),
            Command::CommentDelete { comment } => to_json(self.comment_delete(&comment)),
            Command::CommentHide { comment, hidden } => {
                to_json(self.comment_hide(&comment, hidden))
            }
            Command::Comments {
                target,
                album,
                offset,
                limit,
            } => to_json(self.comments_page(&target, album.as_ref(), offset, limit)),
            Command::AlbumRead { album } => to_json(self.album_read(&album)),
            Command::FriendVerify { peer, verified } => {
                to_json(self.friend_verify(&peer, verified))
            }
        };
        reply.send(r);
    }

    fn status(&self) -> Result<reply::Status, ApiError> {
        let friends = self.store.friends().map_err(ApiError::internal)?;
        let online = friends.iter().filter(|f| self.is_online(&f.id)).count();
        Ok(reply::Status {
            initialized: true,
            peer_id: self.me,
            name: self.config.name.clone(),
            friends: friends.len(),
            online,
            unread: self.unread_total(),
            listen_addr: self.listen,
            addrs: self.my_addrs(),
            reach: reply::ReachState {
                mapped: self.mapped,
                public: self.observed,
                dht: self.dht.state().to_string(),
            },
            home: self.home.dir.clone(),
            download_dir: self.download_dir(),
            gateway: self.gateway.base(),
            version: crate::VERSION.to_string(),
            pid: std::process::id(),
            binary: self.binary.clone(),
        })
    }

    fn friend_view(&self, f: &FriendRecord) -> reply::Friend {
        reply::Friend {
            id: f.id,
            name: f.name.clone(),
            safety_number: self
                .safety
                .borrow_mut()
                .entry(f.id)
                .or_insert_with(|| safety_number(&self.me, &f.id))
                .clone(),
            online: self.is_online(&f.id),
            path: self.path_of(&f.id),
            addrs: f.addrs.clone(),
            added_at: f.added_at,
            last_seen: f.last_seen,
            verified: f.verified,
            last_error: self.dials.get(&f.id).and_then(|d| d.last_error.clone()),
            dht: self.dht.lookup_result(&f.id).map(str::to_string),
        }
    }

    fn friends(&self) -> Result<Vec<reply::Friend>, ApiError> {
        let friends = self.store.friends().map_err(ApiError::internal)?;
        Ok(friends.iter().map(|f| self.friend_view(f)).collect())
    }

    fn invite_create(&mut self, expires_secs: Option<u64>) -> Result<reply::Invite, ApiError> {
        let ttl = expires_secs.unwrap_or(INVITE_TTL);
        if ttl == 0 || ttl > INVITE_TTL_MAX {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "an invite lasts between 1 second and 30 days",
            ));
        }
        let rec = InviteRecord {
            invite_id: random(),
            secret: random(),
            expires: now() + ttl,
            used_by: None,
            lookup: Some(random()),
        };
        self.store.put_invite(&rec).map_err(ApiError::internal)?;
        if let Ok(mut a) = self.admission.write() {
            a.invites.insert(rec.invite_id, rec.secret);
        }
        let body = InviteBody {
            peer: self.me,
            name: self.config.name.clone(),
            addrs: self.my_addrs(),
            invite_id: rec.invite_id,
            secret: rec.secret,
            exp: rec.expires,
            // Its own lookup secret, not my reach secret: friends learn that in the hello.
            lookup: rec.lookup,
        };
        let link = invite::link(&self.identity, &body);
        self.dht_tick(); // my record goes under the invite's lookup secret too
        Ok(reply::Invite {
            qr: qr_rows(&link),
            link,
            expires: rec.expires,
        })
    }

    fn client_config(
        &self,
        peer: PeerId,
        proof: Option<Vec<u8>>,
    ) -> Result<quinn::ClientConfig, ApiError> {
        let (cert, key) = self
            .identity
            .certificate(proof)
            .map_err(ApiError::internal)?;
        tls::client_config(cert, key, peer).map_err(ApiError::internal)
    }

    fn invite_accept(&mut self, link: &str, reply: Reply) {
        let inv = match invite::parse(link, now()) {
            Ok(i) => i,
            Err(e) => {
                let c = match e {
                    InviteError::Expired => ErrorCode::InviteExpired,
                    _ => ErrorCode::InviteInvalid,
                };
                reply.send(Err(ApiError::new(c, e.to_string())));
                return;
            }
        };
        let peer = inv.peer;
        if peer == self.me {
            reply.send(Err(ApiError::new(
                ErrorCode::InviteOwn,
                "this is your own invite; send it to a friend",
            )));
            return;
        }
        let proof = make_proof(&inv.invite_id, &inv.secret, &self.me);
        let client = match self.client_config(peer, Some(proof)) {
            Ok(c) => c,
            Err(e) => {
                reply.send(Err(e));
                return;
            }
        };
        let lookup = inv.lookup;
        self.spawn_dial_within(
            peer,
            inv.addrs.clone(),
            client,
            Some(reply),
            DIAL_TIMEOUT,
            lookup,
        );
    }

    fn spawn_dial(
        &mut self,
        peer: PeerId,
        addrs: Vec<SocketAddr>,
        client: quinn::ClientConfig,
        accept: Option<Reply>,
    ) {
        self.spawn_dial_within(peer, addrs, client, accept, DIAL_TIMEOUT, None);
    }

    /// Dials with a time limit per address (short for a punch: the other side dials too).
    fn spawn_dial_within(
        &mut self,
        peer: PeerId,
        addrs: Vec<SocketAddr>,
        client: quinn::ClientConfig,
        accept: Option<Reply>,
        per_addr: Duration,
        lookup: Option<[u8; 32]>,
    ) {
        self.dials.started(peer);
        // When the addresses fail, the peer's DHT record (found by this lookup secret) may
        // know better ones.
        let lookup = lookup.and_then(|k| Some((self.dht.client.clone()?, k)));
        let endpoint = self.endpoint.clone();
        let tx = self.tx.clone();
        let friend = accept.is_some() || self.is_friend(&peer);
        let base = self.hello_for(self.listen, friend);
        tokio::spawn(async move {
            let mk = move |observed| Hello {
                observed,
                ..base.clone()
            };
            let mut result = dial(
                endpoint.clone(),
                client.clone(),
                addrs.clone(),
                &mk,
                per_addr,
            )
            .await;
            if let (Err(e), Some((dht, secret))) = (&result, lookup) {
                if e.is_unreachable() {
                    let mut found = None;
                    for day in kith_proto::dht_record::lookup_days(crate::clock::now()) {
                        let keys = kith_proto::dht_record::RecordKeys::derive(&secret, day);
                        found = dht.lookup(&keys, &peer).await;
                        if found.is_some() {
                            break;
                        }
                    }
                    if let Some(found) = found {
                        let found = crate::core::reach::hint_dials(&found);
                        if found.iter().any(|a| !addrs.contains(a)) {
                            tracing::info!(peer = %peer.short(), addrs = ?found, "trying addresses found on the DHT");
                            result = dial(endpoint, client, found, &mk, per_addr).await;
                        }
                    }
                }
            }
            let result = result.map_err(|e| e.api_error(&peer));
            let msg = match result {
                Ok((conn, hello)) => Msg::Dialed {
                    conn,
                    peer,
                    hello,
                    accept,
                },
                Err(error) => Msg::DialFailed {
                    peer,
                    error,
                    accept,
                },
            };
            let _ = tx.send(msg).await;
        });
    }

    fn dial_due(&mut self) {
        let friends = match self.store.friends() {
            Ok(f) => f,
            Err(e) => {
                tracing::error!("reading friends: {e}");
                return;
            }
        };
        let t = Instant::now();
        for f in friends {
            if self.is_online(&f.id) {
                continue;
            }
            if !self.dials.may_dial(&f.id, t) {
                continue;
            }
            // Its addresses came from its hellos (and the LAN and DHT): a few of them only.
            let addrs = crate::core::reach::hint_dials(&f.addrs);
            match self.client_config(f.id, None) {
                Ok(c) => self.spawn_dial(f.id, addrs, c, None),
                Err(e) => tracing::error!("client config: {e}"),
            }
            // Its stored addresses may be stale or behind a router: a mutual friend can help.
            self.ask_introductions(f.id, None);
        }
    }

    /// Registers a connection to a friend; false when it lost to an existing one.
    fn register(
        &mut self,
        peer: PeerId,
        conn: quinn::Connection,
        boot: u64,
        dialed_by_me: bool,
    ) -> bool {
        let info = ConnInfo {
            id: conn.stable_id(),
            boot,
            dialed_by_me,
            relayed: self.is_relay_addr(&peer, conn.remote_address()),
        };
        let old_live = self
            .links
            .get(&peer)
            .is_some_and(|l| l.conn.close_reason().is_none());
        match self.links.connected(peer, conn.clone(), info, old_live) {
            Registered::Lost => {
                conn.close(close::DUPLICATE.into(), b"duplicate");
                return false;
            }
            Registered::Kept { replaced } => {
                if let Some(old) = replaced {
                    if old_live && info.relayed != self.is_relay_addr(&peer, old.remote_address()) {
                        tracing::info!(peer = %peer.short(), "relayed connection upgraded to direct");
                    }
                    old.close(close::DUPLICATE.into(), b"duplicate");
                }
            }
        }
        self.dials.connected(peer);
        tokio::spawn(serve_conn(conn, peer, self.tx.clone()));
        self.deliver(peer);
        self.comments_on_connect(peer);
        // Every link kept announces the friend (a replaced link was closed: a restarted peer
        // comes online again).
        if self.is_friend(&peer) {
            // A friend just connected: it may be able to introduce me to friends I cannot reach.
            let offline: Vec<PeerId> = self
                .store
                .friends()
                .unwrap_or_default()
                .into_iter()
                .map(|f| f.id)
                .filter(|f| *f != peer && !self.is_online(f))
                .collect();
            for f in offline {
                self.ask_introductions(f, Some(peer));
            }
            tracing::info!(peer = %peer.short(), "friend online");
            let _ = self.events.send(Event::FriendOnline {
                id: peer.to_string(),
            });
        }
        true
    }

    /// Whether a key is a friend's.
    fn is_friend(&self, peer: &PeerId) -> bool {
        self.access.is_friend(peer)
    }

    /// Whether a key is a member of an album this node holds.
    fn is_member(&self, peer: &PeerId) -> bool {
        self.access.is_member(peer)
    }

    /// Stores what a friend told us in its hello.
    fn update_friend(
        &mut self,
        peer: PeerId,
        hello: &Hello,
        seen: SocketAddr,
    ) -> Result<(), ApiError> {
        if let Some(mut f) = self.store.friend(&peer).map_err(ApiError::internal)? {
            self.mutual.hello(peer, &hello.knows);
            let via_relay = self.is_relay_addr(&peer, seen);
            if !via_relay {
                self.note_observed(peer, hello);
            }
            f.addrs = if via_relay {
                // A relay's socket is not the friend's address, and it ends when idle.
                hello.addrs.iter().take(MAX_ADDRS).copied().collect()
            } else {
                merge_addrs(&hello.addrs, seen)
            };
            f.name = hello.name.clone();
            if hello.reach.is_some() {
                f.reach = hello.reach.clone();
            }
            f.last_seen = now();
            self.store.put_friend(&f).map_err(ApiError::internal)?;
        }
        Ok(())
    }

    /// Remembers where a friend sees me, when that is a public address; it becomes my public
    /// address once two friends agree on it (`core::reach::OBSERVED_AGREE`).
    fn note_observed(&mut self, peer: PeerId, hello: &Hello) {
        if !crate::net::is_public(hello.observed.ip()) {
            return;
        }
        let public = self.reaching.observed(peer, hello.observed);
        self.set_public(public);
    }

    /// Uses `public` as my public address from now on.
    fn set_public(&mut self, public: Option<SocketAddr>) {
        if self.observed != public {
            self.observed = public;
            // My record should carry the new address now.
            self.dht.publish_soon();
            self.dht_tick();
        }
    }

    fn add_friend(
        &mut self,
        peer: PeerId,
        hello: &Hello,
        seen: SocketAddr,
    ) -> Result<FriendRecord, ApiError> {
        self.note_observed(peer, hello);
        let f = FriendRecord {
            id: peer,
            name: hello.name.clone(),
            addrs: merge_addrs(&hello.addrs, seen),
            added_at: now(),
            last_seen: now(),
            verified: false,
            reach: hello.reach.clone(),
        };
        self.store.put_friend(&f).map_err(ApiError::internal)?;
        self.access.add_friend(peer);
        self.mutual.hello(peer, &hello.knows);
        if let Ok(mut a) = self.admission.write() {
            a.friends.insert(peer);
        }
        tracing::info!(peer = %peer.short(), name = %f.name, "new friend");
        let _ = self.events.send(Event::FriendAdded {
            friend: self.friend_view(&f),
        });
        Ok(f)
    }

    fn incoming(
        &mut self,
        conn: quinn::Connection,
        peer: PeerId,
        invite: Option<[u8; 16]>,
        hello: Hello,
    ) -> PeerMsg {
        let refuse = |code: PeerCode, message: &str| PeerMsg::Error {
            code,
            message: message.into(),
        };
        let seen = conn.remote_address();
        let is_friend = self.is_friend(&peer);
        let record = invite.and_then(|iid| self.store.invite(&iid).ok().flatten());
        let presented = match (invite, &record) {
            (None, _) => HelloInvite::None,
            (Some(_), None) => HelloInvite::Unknown,
            (Some(_), Some(r)) => HelloInvite::Known(r),
        };
        match self.access.admit_at_hello(&peer, presented, now()) {
            Err(d) => return refuse(d.code(), &d.to_string()),
            Ok(Admit::Invited) => {
                let Some(mut rec) = record else {
                    return refuse(PeerCode::Internal, "invite record gone");
                };
                rec.used_by = Some(peer);
                if let Err(e) = self.store.put_invite(&rec) {
                    return refuse(PeerCode::Internal, &e.to_string());
                }
                if let Ok(mut a) = self.admission.write() {
                    a.invites.remove(&rec.invite_id);
                }
                // The link's lookup secret dies with the invite: its DHT record is emptied.
                self.dht_tick();
            }
            Ok(Admit::Friend) => {}
            Ok(Admit::Member) => {
                // Not a friend, but in the audience of an album held here: it may swarm.
                self.remember_member(peer, merge_addrs(&hello.addrs, seen));
                self.register(peer, conn, hello.boot, false);
                return PeerMsg::Hello(self.hello_for(seen, false));
            }
        }
        let stored = if is_friend {
            self.update_friend(peer, &hello, seen)
        } else {
            self.add_friend(peer, &hello, seen).map(|_| ())
        };
        // Both fail only on the store, with an `internal` error.
        if let Err(e) = stored {
            return refuse(PeerCode::Internal, &e.message);
        }
        self.note_mapping(peer, &hello, &conn, false);
        self.register(peer, conn, hello.boot, false);
        PeerMsg::Hello(self.hello_for(seen, true))
    }

    fn dialed(
        &mut self,
        conn: quinn::Connection,
        peer: PeerId,
        hello: Hello,
        accept: Option<Reply>,
    ) {
        self.dials.finished(&peer);
        let seen = conn.remote_address();
        let result = match self.store.friend(&peer) {
            Ok(Some(_)) => self.update_friend(peer, &hello, seen),
            Ok(None) if accept.is_some() => self.add_friend(peer, &hello, seen).map(|_| ()),
            Ok(None) if self.is_member(&peer) => {
                self.remember_member(peer, merge_addrs(&hello.addrs, seen));
                Ok(())
            }
            Ok(None) => {
                // Unfriended while the dial was under way.
                conn.close(close::UNFRIENDED.into(), b"not a friend");
                return;
            }
            Err(e) => Err(ApiError::internal(e)),
        };
        match result {
            Ok(()) => {
                self.note_mapping(peer, &hello, &conn, true);
                self.register(peer, conn, hello.boot, true);
                if let Some(r) = accept {
                    let f = self.store.friend(&peer).ok().flatten();
                    let friend = f.map(|f| self.friend_view(&f));
                    r.send(to_json(Ok(reply::FriendReply { friend })));
                }
            }
            Err(e) => {
                conn.close(close::REFUSED.into(), b"store error");
                if let Some(r) = accept {
                    r.send(Err(e));
                }
            }
        }
    }

    /// Finds a friend by full ID, unique ID prefix or name.
    fn resolve_friend(&self, key: &str) -> Result<FriendRecord, ApiError> {
        let friends = self.store.friends().map_err(ApiError::internal)?;
        let key_lc = key.trim().to_ascii_lowercase();
        if key_lc.len() == 53 {
            let id: PeerId = key_lc
                .parse()
                .map_err(|e: kith_proto::identity::IdentityError| {
                    ApiError::new(ErrorCode::BadRequest, e.to_string())
                })?;
            return friends
                .into_iter()
                .find(|f| f.id == id)
                .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no friend has this ID"));
        }
        let by_name: Vec<_> = friends.iter().filter(|f| f.name == key.trim()).collect();
        let matches: Vec<_> = if by_name.is_empty() && !key_lc.is_empty() {
            friends
                .iter()
                .filter(|f| f.id.to_string().starts_with(&key_lc))
                .collect()
        } else {
            by_name
        };
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(ApiError::new(
                ErrorCode::NotFound,
                format!("no friend matches {key:?}"),
            )),
            _ => Err(ApiError::new(
                ErrorCode::Ambiguous,
                format!("{key:?} matches several friends; use the full ID"),
            )),
        }
    }

    fn unfriend(&mut self, key: &str) -> Result<reply::Unfriended, ApiError> {
        let f = self.resolve_friend(key)?;
        self.access.remove_friend(&f.id);
        if let Ok(mut a) = self.admission.write() {
            a.friends.remove(&f.id);
        }
        self.store
            .remove_friend(&f.id)
            .map_err(ApiError::internal)?;
        if let Some(link) = self.links.remove(&f.id) {
            link.conn.close(close::UNFRIENDED.into(), b"unfriended");
        }
        self.dials.forget(&f.id);
        self.forget_reach_of(&f.id);
        // An old friend is no longer in the audience of my albums either, and their albums
        // leave my list (files already fetched stay where they are).
        self.drop_from_my_albums(&f.id)?;
        self.forget_albums_of(&f.id)?;
        // The old friend knows my reach secret: a new one keeps my addresses from it.
        self.rotate_reach();
        tracing::info!(peer = %f.id.short(), "unfriended");
        let _ = self.events.send(Event::FriendRemoved {
            id: f.id.to_string(),
        });
        Ok(reply::Unfriended {
            id: f.id,
            name: f.name,
        })
    }

    /// Marks that the safety number with a friend was compared (or not).
    fn friend_verify(&self, key: &str, verified: bool) -> Result<reply::FriendReply, ApiError> {
        let mut f = self.resolve_friend(key)?;
        f.verified = verified;
        self.store.put_friend(&f).map_err(ApiError::internal)?;
        Ok(reply::FriendReply {
            friend: Some(self.friend_view(&f)),
        })
    }

    /// Writes an identity export; the key derivation (Argon2, slow by design) and the write
    /// run on a blocking thread, which answers.
    fn export(&self, path: String, passphrase: String, reply: Reply) {
        let friends = match self.store.friends() {
            Ok(f) => f,
            Err(e) => {
                reply.send(Err(ApiError::internal(e)));
                return;
            }
        };
        let identity = self.identity.clone();
        let config = self.config.clone();
        tokio::spawn(async move {
            let written = tokio::task::spawn_blocking(move || {
                crate::export::write_export(
                    std::path::Path::new(&path),
                    &identity,
                    &config,
                    &friends,
                    &passphrase,
                )
                .map(|()| reply::Exported {
                    path,
                    friends: friends.len(),
                })
            })
            .await
            .unwrap_or_else(|e| Err(ApiError::internal(e)));
            reply.send(to_json(written));
        });
    }
}
