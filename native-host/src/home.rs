//! The Kith home: where one identity, its config, store and control socket live.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::identity::Identity;

/// Paths inside one Kith home.
#[derive(Debug, Clone)]
pub struct Home {
    /// The home folder.
    pub dir: PathBuf,
}

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
            None => match std::env::var_os("KITH_HOME").filter(|v| !v.is_empty()) {
                Some(d) => PathBuf::from(d),
                None => directories::ProjectDirs::from("", "", "kith")
                    .context("no home directory is known for this user; pass --home DIR")?
                    .data_dir()
                    .to_path_buf(),
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
    /// The log file of a detached node.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("node.log")
    }

    /// The control socket: in the home, or under `$XDG_RUNTIME_DIR` when that path is too long.
    pub fn socket_path(&self) -> PathBuf {
        let p = self.dir.join("kith.sock");
        // sun_path holds 108 bytes on Linux (104 on macOS), including the NUL.
        if p.as_os_str().len() < 100 {
            return p;
        }
        let tag = data_encoding::HEXLOWER
            .encode(&crate::hash::sha256(self.dir.as_os_str().as_encoded_bytes())[..8]);
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
        Identity::load(&self.key_path())
            .with_context(|| format!("reading {}", self.key_path().display()))
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
                Identity::load(&self.key_path())
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
        })?;
        write_atomic(&self.key_path(), id.to_pem()?.as_bytes(), 0o600)?;
        Ok(())
    }
}

/// Checks a display name: 1–64 characters, no control characters.
pub fn validate_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        bail!("a name cannot be empty");
    }
    if name.chars().count() > 64 {
        bail!("a name has at most 64 characters");
    }
    if name.chars().any(char::is_control) {
        bail!("a name cannot hold control characters");
    }
    Ok(name.to_string())
}

fn unsafe_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Creates a folder (and parents) readable only by this user.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Writes a file via a temporary name, fsync and rename, with the given mode.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    if let Some(parent) = path.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
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
