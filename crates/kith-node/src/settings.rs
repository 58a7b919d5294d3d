//! Every `KITH_*` environment variable Kith reads, read here and nowhere else.
//!
//! The process reads its environment once ([`env`]); the rest of the program asks this module.
//! (`KITH_LISTEN` is read by the command-line parser as the default of `serve --listen`, and
//! `KITH_LOG` by the log filter in `main.rs`; both are named here.)

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::sync::LazyLock;

/// The home directory (`--home` wins over it).
pub const HOME: &str = "KITH_HOME";
/// The log filter (`tracing_subscriber::EnvFilter` syntax; default `info`).
pub const LOG: &str = "KITH_LOG";
/// The default of `serve --listen`.
pub const LISTEN: &str = "KITH_LISTEN";
/// The passphrase for `identity export`/`import` without a terminal.
pub const PASSPHRASE: &str = "KITH_PASSPHRASE";
/// `1`: no LAN discovery (mDNS).
pub const NO_LAN: &str = "KITH_NO_LAN";
/// `1`: no router port mapping.
pub const NO_PORTMAP: &str = "KITH_NO_PORTMAP";
/// `1`: no Mainline DHT.
pub const NO_DHT: &str = "KITH_NO_DHT";
/// Comma-separated `host:port` DHT bootstrap nodes (over the saved settings).
pub const DHT_BOOTSTRAP: &str = "KITH_DHT_BOOTSTRAP";
/// `1`: `serve` refuses anything that would send packets off the machine (tests, CI).
pub const LOCAL_ONLY: &str = "KITH_LOCAL_ONLY";
/// The network namespace a lab node runs in (exempts it from `KITH_LOCAL_ONLY`).
pub const NETNS: &str = "KITH_NETNS";
/// The program that opens a fetched file or folder (default `xdg-open`, `open` on macOS).
pub const OPENER: &str = "KITH_OPENER";
/// Comment posts a minute (and at once) an author may make on my albums, instead of
/// `core::thread::POSTS_PER_MINUTE` (benchmarks that pipeline thousands of comments set it).
pub const POST_RATE: &str = "KITH_POST_RATE";
/// Test builds only (cargo feature `test-faults`): `1` makes the node serve corrupt chunks.
pub const FAULT_CORRUPT_CHUNKS: &str = "KITH_FAULT_CORRUPT_CHUNKS";
/// Test builds only (cargo feature `test-faults`): milliseconds each upload piece's write is
/// delayed, so tests can show the node answers while an upload is written.
pub const FAULT_SLOW_UPLOAD_MS: &str = "KITH_FAULT_SLOW_UPLOAD_MS";
/// Test builds only (cargo feature `test-faults`): the API version (`hello.protocol`) the
/// node and the native host report instead of `kith_proto::api::PROTOCOL`.
pub const FAULT_PROTOCOL: &str = "KITH_FAULT_PROTOCOL";

/// The settings the environment gives this process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    /// `KITH_HOME`, when set and not empty.
    pub home: Option<PathBuf>,
    /// `KITH_PASSPHRASE`.
    pub passphrase: Option<String>,
    /// `KITH_NO_LAN=1`.
    pub no_lan: bool,
    /// `KITH_NO_PORTMAP=1`.
    pub no_portmap: bool,
    /// `KITH_NO_DHT=1`.
    pub no_dht: bool,
    /// `KITH_DHT_BOOTSTRAP`, split at commas (empty parts dropped).
    pub dht_bootstrap: Option<Vec<String>>,
    /// `KITH_LOCAL_ONLY=1`.
    pub local_only: bool,
    /// `KITH_NETNS`.
    pub netns: Option<String>,
    /// `KITH_OPENER`.
    pub opener: Option<OsString>,
    /// `KITH_POST_RATE`, a number of comment posts a minute.
    pub post_rate: Option<u64>,
    /// `KITH_FAULT_CORRUPT_CHUNKS=1`, honoured only in builds with the `test-faults` feature.
    pub fault_corrupt_chunks: bool,
    /// `KITH_FAULT_SLOW_UPLOAD_MS`, honoured only in builds with the `test-faults` feature.
    pub fault_slow_upload_ms: Option<u64>,
    /// `KITH_FAULT_PROTOCOL`, honoured only in builds with the `test-faults` feature.
    pub fault_protocol: Option<u32>,
}

impl Env {
    /// The settings from these variables (the process's, or a test's).
    pub fn from_vars(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Env {
        let mut env = Env::default();
        let on = |v: &OsStr| v == "1";
        for (k, v) in vars {
            let Some(k) = k.to_str() else { continue };
            match k {
                HOME if !v.is_empty() => env.home = Some(PathBuf::from(v)),
                PASSPHRASE => env.passphrase = v.into_string().ok(),
                NO_LAN => env.no_lan = on(&v),
                NO_PORTMAP => env.no_portmap = on(&v),
                NO_DHT => env.no_dht = on(&v),
                DHT_BOOTSTRAP => {
                    env.dht_bootstrap = v.to_str().map(|s| {
                        s.split(',')
                            .map(|p| p.trim().to_string())
                            .filter(|p| !p.is_empty())
                            .collect()
                    })
                }
                LOCAL_ONLY => env.local_only = on(&v),
                NETNS => env.netns = Some(v.to_string_lossy().into_owned()),
                OPENER => env.opener = Some(v),
                POST_RATE => env.post_rate = v.to_str().and_then(|s| s.parse().ok()),
                FAULT_CORRUPT_CHUNKS => {
                    env.fault_corrupt_chunks = cfg!(feature = "test-faults") && on(&v)
                }
                FAULT_SLOW_UPLOAD_MS if cfg!(feature = "test-faults") => {
                    env.fault_slow_upload_ms = v.to_str().and_then(|s| s.parse().ok())
                }
                FAULT_PROTOCOL if cfg!(feature = "test-faults") => {
                    env.fault_protocol = v.to_str().and_then(|s| s.parse().ok())
                }
                _ => {}
            }
        }
        env
    }

    /// The API version this process reports in `hello`: `kith_proto::api::PROTOCOL`, unless a
    /// test build was told another (`KITH_FAULT_PROTOCOL`).
    pub fn protocol(&self) -> u32 {
        self.fault_protocol.unwrap_or(kith_proto::api::PROTOCOL)
    }
}

static ENV: LazyLock<Env> = LazyLock::new(|| Env::from_vars(std::env::vars_os()));

/// This process's settings from its environment, read once.
pub fn env() -> &'static Env {
    &ENV
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Env {
        Env::from_vars(pairs.iter().map(|(k, v)| (k.into(), v.into())))
    }

    #[test]
    fn switches_are_on_only_when_set_to_one() {
        let e = vars(&[(NO_LAN, "1"), (NO_DHT, "yes"), (LOCAL_ONLY, "1")]);
        assert!(e.no_lan && e.local_only);
        assert!(!e.no_dht, "only 1 turns a switch on");
        assert!(!e.no_portmap);
    }

    #[test]
    fn an_empty_home_is_no_home_and_bootstrap_nodes_are_split_at_commas() {
        let e = vars(&[(HOME, ""), (DHT_BOOTSTRAP, " a:1, ,b:2 ")]);
        assert_eq!(e.home, None);
        assert_eq!(
            e.dht_bootstrap,
            Some(vec!["a:1".to_string(), "b:2".to_string()])
        );
    }

    #[test]
    fn the_corrupt_chunks_fault_exists_only_in_test_fault_builds() {
        let e = vars(&[(FAULT_CORRUPT_CHUNKS, "1")]);
        assert_eq!(e.fault_corrupt_chunks, cfg!(feature = "test-faults"));
    }

    #[test]
    fn the_protocol_override_exists_only_in_test_fault_builds() {
        let e = vars(&[(FAULT_PROTOCOL, "7")]);
        let want = if cfg!(feature = "test-faults") {
            7
        } else {
            kith_proto::api::PROTOCOL
        };
        assert_eq!(e.protocol(), want);
        assert_eq!(vars(&[]).protocol(), kith_proto::api::PROTOCOL);
    }

    #[test]
    fn the_slow_upload_fault_exists_only_in_test_fault_builds() {
        let e = vars(&[(FAULT_SLOW_UPLOAD_MS, "1500")]);
        let want = cfg!(feature = "test-faults").then_some(1500);
        assert_eq!(e.fault_slow_upload_ms, want);
    }
}
