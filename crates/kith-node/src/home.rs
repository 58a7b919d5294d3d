//! The Kith home: where one identity, its config, store and control socket live.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use kith_proto::identity::Identity;

/// Paths inside one Kith home.
#[derive(Debug, Clone)]
pub struct Home {
    /// The home folder.
    pub dir: PathBuf,
}

use crate::core::access::Quota;

/// Settings kept in `config.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Display name given at init.
    pub name: String,
    /// The stable UDP port chosen at init.
    pub port: u16,
    /// Upload limit in bytes per second (0: none).
    #[serde(default)]
    pub upload_rate: u64,
    /// Download limit in bytes per second (0: none).
    #[serde(default)]
    pub download_rate: u64,
    /// Default download folder (None: the user's download folder, `Kith/` inside it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_dir: Option<std::path::PathBuf>,
    /// "Help my friends connect": relay between two friends who cannot reach each other.
    #[serde(default)]
    pub help_friends: bool,
    /// Most bytes per second relayed for friends (0: no limit).
    #[serde(default = "default_relay_rate")]
    pub relay_rate: u64,
    /// Publish my addresses on the Mainline DHT and look friends up there.
    #[serde(default = "yes")]
    pub dht: bool,
    /// Ask the home router to map my port (UPnP-IGD, NAT-PMP or PCP).
    #[serde(default = "yes")]
    pub port_mapping: bool,
    /// DHT bootstrap nodes (`host:port`; None: the public Mainline's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dht_bootstrap: Option<Vec<String>>,
    /// Albums kept per owner who is a friend.
    #[serde(default = "default_quota_albums")]
    pub quota_albums: u64,
    /// Albums kept per owner who is not a friend (a member of an album that reached me).
    #[serde(default = "default_quota_member_albums")]
    pub quota_member_albums: u64,
    /// Bytes of thumbnails kept per owner.
    #[serde(default = "default_quota_thumb_bytes")]
    pub quota_thumb_bytes: u64,
}

fn default_quota_albums() -> u64 {
    Quota::DEFAULT.albums
}

fn default_quota_member_albums() -> u64 {
    Quota::DEFAULT.member_albums
}

fn default_quota_thumb_bytes() -> u64 {
    Quota::DEFAULT.thumb_bytes
}

impl Config {
    /// The storage quotas these settings give each owner.
    pub fn quota(&self) -> Quota {
        Quota {
            albums: self.quota_albums,
            member_albums: self.quota_member_albums,
            thumb_bytes: self.quota_thumb_bytes,
        }
    }
}

fn yes() -> bool {
    true
}

/// The relay's default limit: 1 MB/s.
fn default_relay_rate() -> u64 {
    1_000_000
}

impl Home {
    /// The home from `--home`, else `KITH_HOME`, else the OS data directory.
    pub fn resolve(explicit: Option<PathBuf>) -> Result<Home> {
        let dir = match explicit {
            Some(d) => d,
            None => match crate::settings::env().home.clone() {
                Some(d) => d,
                None => default_dir()
                    .context("no home directory is known for this user; pass --home DIR")?,
            },
        };
        let dir = if dir.is_absolute() {
            dir
        } else {
            std::env::current_dir()?.join(dir)
        };
        Ok(Home { dir })
    }

    /// The identity key file (PEM, mode 0600).
    pub fn key_path(&self) -> PathBuf {
        self.dir.join("identity.key")
    }
    /// The settings file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    /// The metadata database directory.
    pub fn db_path(&self) -> PathBuf {
        self.dir.join("db")
    }
    /// The lock file held by the running node.
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join("node.lock")
    }
    /// Where a node started in the background logs: the platform's state folder for the
    /// default home (`$XDG_STATE_HOME/kith`, `~/.local/state/kith`; macOS `~/Library/Logs/kith`;
    /// Windows the local app-data folder's `kith\logs`), `<home>/logs` for any other home (a
    /// test's or a second identity's), so two homes never share a log.
    pub fn log_dir(&self) -> PathBuf {
        let is_default = default_dir().is_some_and(|d| d == self.dir);
        match state_dir().filter(|_| is_default) {
            Some(d) => d,
            None => self.dir.join("logs"),
        }
    }
    /// The current log file of a node started in the background (older ones: `node.log.1`, `.2`).
    pub fn log_path(&self) -> PathBuf {
        self.log_dir().join("node.log")
    }

    /// The control socket: in the home, or under `$XDG_RUNTIME_DIR` when that path is too long.
    /// (On Windows the control channel is a named pipe: `ipc::pipe_name`.)
    #[cfg(unix)]
    pub fn socket_path(&self) -> PathBuf {
        let p = self.dir.join("kith.sock");
        // sun_path holds 108 bytes on Linux (104 on macOS), including the NUL.
        if p.as_os_str().len() < 100 {
            return p;
        }
        let tag = data_encoding::HEXLOWER
            .encode(&kith_proto::hash::sha256(self.dir.as_os_str().as_encoded_bytes())[..8]);
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|d| d.is_dir())
            .unwrap_or_else(|| std::env::temp_dir().join(format!("kith-{}", unsafe_uid())));
        base.join(format!("kith-{tag}.sock"))
    }

    /// Whether this home has an identity.
    pub fn initialized(&self) -> bool {
        self.key_path().exists()
    }

    /// Loads the identity, with a clear error when there is none.
    pub fn identity(&self) -> Result<Identity> {
        if !self.initialized() {
            bail!(
                "no identity in {}: create one with `kith init --name NAME`",
                self.dir.display()
            );
        }
        let read = || -> Result<Identity> {
            let pem = std::fs::read_to_string(self.key_path())?;
            Ok(Identity::from_pem(&pem)?)
        };
        read().with_context(|| format!("reading {}", self.key_path().display()))
    }

    /// Loads the settings.
    pub fn config(&self) -> Result<Config> {
        let text = std::fs::read_to_string(self.config_path())
            .with_context(|| format!("reading {}", self.config_path().display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is damaged", self.config_path().display()))
    }

    /// Writes the settings atomically.
    pub fn save_config(&self, cfg: &Config) -> Result<()> {
        write_atomic(
            &self.config_path(),
            serde_json::to_string_pretty(cfg)?.as_bytes(),
            0o600,
        )
    }

    /// Creates a new identity here; refuses when one exists, changing nothing.
    pub fn init(&self, name: &str) -> Result<Identity> {
        let id = Identity::generate()?;
        self.install_identity(&id, name)?;
        Ok(id)
    }

    /// Stores a given identity and a fresh config; refuses when one exists.
    pub fn install_identity(&self, id: &Identity, name: &str) -> Result<()> {
        let name = validate_name(name)?;
        if self.initialized() {
            bail!(
                "{} already has an identity ({}); nothing was changed",
                self.dir.display(),
                self.identity()
                    .map(|i| i.peer_id().to_string())
                    .unwrap_or_default()
            );
        }
        create_private_dir(&self.dir)?;
        let port = pick_port()?;
        self.save_config(&Config {
            name,
            port,
            upload_rate: 0,
            download_rate: 0,
            download_dir: None,
            help_friends: false,
            relay_rate: default_relay_rate(),
            dht: true,
            port_mapping: true,
            dht_bootstrap: None,
            quota_albums: default_quota_albums(),
            quota_member_albums: default_quota_member_albums(),
            quota_thumb_bytes: default_quota_thumb_bytes(),
        })?;
        write_atomic(&self.key_path(), id.to_pem()?.as_bytes(), 0o600)?;
        Ok(())
    }
}

pub use kith_proto::names::validate_name;

/// The home used when neither `--home` nor `KITH_HOME` names one: the OS data folder.
pub fn default_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "kith").map(|d| d.data_dir().to_path_buf())
}

/// The platform's folder for this user's logs (see [`Home::log_dir`]).
fn state_dir() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "kith")?;
    if let Some(d) = dirs.state_dir() {
        return Some(d.to_path_buf());
    }
    if cfg!(target_os = "macos") {
        let home = directories::BaseDirs::new()?;
        return Some(home.home_dir().join("Library/Logs/kith"));
    }
    Some(dirs.data_local_dir().join("logs"))
}

#[cfg(unix)]
fn unsafe_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Creates a folder (and parents) readable only by this user.
#[cfg(unix)]
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Creates a folder (and parents). On Windows a new folder inherits its parent's access list;
/// the home and the downloads sit in the user's profile, which only the user (and the
/// system and administrators) may open, so no mode is set here.
#[cfg(windows)]
pub fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Checks that a folder is private to this user: a real folder (not a link), owned by this
/// user, with no group or other permission bits. The control socket lives only in such a
/// folder, so nobody else can plant, replace or watch it. (Unix only: on Windows the control
/// pipe's own security descriptor keeps others out, see `ipc`.)
#[cfg(unix)]
pub fn check_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let md = std::fs::symlink_metadata(dir).with_context(|| format!("{}", dir.display()))?;
    if md.file_type().is_symlink() {
        bail!(
            "{} is a link; remove it (a folder of the control socket may not be a link)",
            dir.display()
        );
    }
    if !md.is_dir() {
        bail!("{} is not a folder", dir.display());
    }
    if md.uid() != unsafe_uid() {
        bail!(
            "{} belongs to user {}, not to you; remove it",
            dir.display(),
            md.uid()
        );
    }
    let mode = md.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{} is open to others (mode {mode:o}); make it private with chmod 700",
            dir.display()
        );
    }
    Ok(())
}

/// This process's user ID.
#[cfg(unix)]
pub fn my_uid() -> u32 {
    unsafe_uid()
}

/// Writes a file via a temporary name, fsync and rename, with the given mode. The temporary
/// file has an unpredictable name beside `path` and is created exclusively without following
/// links (`O_CREAT|O_EXCL|O_NOFOLLOW`), so nothing planted there is written through.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    write_atomic_via(path, data, mode, temp_name)
}

/// A random temporary name beside `path`: `.NAME.<16 hex>.tmp`.
fn temp_name(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tag = data_encoding::HEXLOWER.encode(&rand::random::<[u8; 8]>());
    path.with_file_name(format!(".{}.{tag}.tmp", name.unwrap_or_default()))
}

/// [`write_atomic`] with the choice of temporary names given (tests plant files there); a name
/// that exists is never opened, another is tried.
fn write_atomic_via(
    path: &Path,
    data: &[u8],
    mode: u32,
    mut name: impl FnMut(&Path) -> PathBuf,
) -> Result<()> {
    let mut tries = 0;
    let (tmp, mut f) = loop {
        let tmp = name(path);
        let mut open = std::fs::OpenOptions::new();
        open.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            open.custom_flags(libc::O_NOFOLLOW).mode(mode);
        }
        #[cfg(windows)]
        let _ = mode; // no modes: the file inherits the home's access list
                      // create_new never opens an existing name, a link included (CREATE_NEW on Windows).
        match open.open(&tmp) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 8 => tries += 1,
            Err(e) => return Err(e).with_context(|| format!("writing {}", tmp.display())),
        }
    };
    let written = f
        .write_all(data)
        .and_then(|()| f.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    if let Some(parent) = path.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Entries of a home open to group or others, path and mode: the home and every folder in it,
/// and the files with secrets (`identity.key`, `config.json`, the store under `db/`). Links
/// are not followed. (Other files — copies of shared photos, logs — sit in 0700 folders.)
/// Windows has no modes: the home inherits the private access list of the user's profile,
/// so nothing is reported there.
#[cfg(windows)]
pub fn loose_entries(_dir: &Path) -> Vec<(PathBuf, u32)> {
    Vec::new()
}

/// Entries of a home open to group or others, path and mode: the home and every folder in it,
/// and the files with secrets (`identity.key`, `config.json`, the store under `db/`). Links
/// are not followed. (Other files — copies of shared photos, logs — sit in 0700 folders.)
#[cfg(unix)]
pub fn loose_entries(dir: &Path) -> Vec<(PathBuf, u32)> {
    let secret = |p: &Path| {
        p.parent() == Some(&dir.join("db"))
            || p == dir.join("identity.key")
            || p == dir.join("config.json")
    };
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(p) = todo.pop() {
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let t = md.file_type();
        if !(t.is_dir() || t.is_file()) {
            continue;
        }
        let mode = md.permissions().mode() & 0o777;
        if mode & 0o077 != 0 && (t.is_dir() || secret(&p)) {
            out.push((p.clone(), mode));
        }
        if t.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                todo.extend(rd.flatten().map(|e| e.path()));
            }
        }
    }
    out.sort();
    out
}

impl Home {
    /// Takes group and other permissions off everything in the home (0700 folders, files
    /// without group or other bits): the store holds invite and reach secrets. Returns what
    /// was changed.
    pub fn tighten(&self) -> Vec<PathBuf> {
        let mut changed = Vec::new();
        for (p, mode) in loose_entries(&self.dir) {
            match set_mode(&p, mode & !0o077) {
                Ok(()) => changed.push(p),
                Err(e) => tracing::warn!(path = %p.display(), "cannot tighten: {e}"),
            }
        }
        changed
    }
}

#[cfg(unix)]
fn set_mode(p: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
}

#[cfg(windows)]
fn set_mode(_p: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(()) // no modes (and `loose_entries` names nothing there)
}

/// A free UDP port in the dynamic range, for the node's stable listening port.
fn pick_port() -> Result<u16> {
    for _ in 0..64 {
        let port = 20000 + (rand::random::<u16>() % 40000);
        if UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], port))).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free UDP port found for the node")
}

// Both tests are about unix links and modes (Windows has no modes; see loose_entries).
#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_planted_link_at_the_old_or_a_chosen_temporary_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep me").unwrap();
        let path = dir.path().join("config.json");
        // The old predictable name.
        std::os::unix::fs::symlink(&victim, path.with_extension("tmp")).unwrap();
        write_atomic(&path, b"one", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        // A link at the very name chosen first: it is not opened; the next name is used.
        let planted = dir.path().join(".config.json.planted.tmp");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let mut names = vec![planted.clone(), dir.path().join(".config.json.next.tmp")].into_iter();
        write_atomic_via(&path, b"two", 0o600, |_| names.next().unwrap()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        assert!(std::fs::symlink_metadata(&planted).unwrap().is_symlink());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Names are unpredictable.
        assert_ne!(temp_name(&path), temp_name(&path));
    }

    #[test]
    fn a_loose_home_is_tightened_and_links_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("db")).unwrap();
        let set = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
        };
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"x").unwrap();
        set(&outside, 0o644);
        std::os::unix::fs::symlink(&outside, home.join("link")).unwrap();
        for (f, m) in [
            ("identity.key", 0o644),
            ("db/db", 0o664),
            ("config.json", 0o600),
        ] {
            std::fs::write(home.join(f), b"x").unwrap();
            set(&home.join(f), m);
        }
        set(&home.join("db"), 0o755);
        set(&home, 0o755);
        let loose: Vec<PathBuf> = loose_entries(&home).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            loose,
            vec![
                home.clone(),
                home.join("db"),
                home.join("db/db"),
                home.join("identity.key")
            ]
        );
        let h = Home { dir: home.clone() };
        assert_eq!(h.tighten().len(), 4);
        assert!(loose_entries(&home).is_empty());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&home), 0o700);
        assert_eq!(mode(&home.join("db")), 0o700);
        assert_eq!(mode(&home.join("identity.key")), 0o600);
        assert_eq!(mode(&home.join("db/db")), 0o660 & !0o077);
        assert_eq!(mode(&outside), 0o644, "a link's target is not touched");
    }
}
