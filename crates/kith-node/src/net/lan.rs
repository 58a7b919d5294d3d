//! LAN discovery: the node announces itself on the local network with mDNS under a name that
//! only its friends can recognise, and reports the nodes it hears there.
//!
//! The announced name is a tag derived from the node's *reach secret* (given to friends only,
//! in the hello) and the current hour, so a stranger on the LAN sees a meaningless name that
//! changes every hour and cannot be linked to a peer ID.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};
use tokio::sync::mpsc;

use kith_proto::album::hex;
use kith_proto::hash::hmac;

/// The DNS-SD service type Kith nodes announce.
pub const SERVICE: &str = "_kith._udp.local.";

/// The tag a node with this reach secret announces during an hour (Unix time / 3600).
pub fn tag(secret: &[u8; 32], hour: u64) -> String {
    let mut m = b"kith lan v1\0".to_vec();
    m.extend(hour.to_be_bytes());
    hex(&hmac(secret, &m)[..12])
}

/// The current hour, as tags count it.
pub fn hour_now() -> u64 {
    crate::clock::now() / 3600
}

/// Whether a heard tag is the one a node with this secret announces now (or announced in
/// the previous hour, or will in the next: clocks differ a little).
pub fn matches(secret: &[u8; 32], heard: &str, hour: u64) -> bool {
    [hour.saturating_sub(1), hour, hour + 1]
        .iter()
        .any(|h| tag(secret, *h) == heard)
}

/// A node heard on the LAN: its tag and addresses.
#[derive(Debug, Clone)]
pub struct Heard {
    /// The announced tag.
    pub tag: String,
    /// Where it listens.
    pub addrs: Vec<SocketAddr>,
}

/// The running mDNS announcer and listener; dropping it withdraws the announcement.
pub struct Lan {
    daemon: ServiceDaemon,
}

impl Drop for Lan {
    fn drop(&mut self) {
        let _ = self.daemon.shutdown();
    }
}

fn announcement(secret: &[u8; 32], hour: u64, port: u16) -> Result<ServiceInfo, mdns_sd::Error> {
    let t = tag(secret, hour);
    Ok(ServiceInfo::new(SERVICE, &t, &format!("{t}.local."), "", port, None)?.enable_addr_auto())
}

/// Starts announcing this node (its UDP `port`) and listening for others; what is heard goes
/// to `heard`.
pub fn start(
    secret: [u8; 32],
    port: u16,
    heard: mpsc::Sender<Heard>,
) -> Result<Lan, mdns_sd::Error> {
    let daemon = ServiceDaemon::new()?;
    let mut hour = hour_now();
    daemon.register(announcement(&secret, hour, port)?)?;
    let events = daemon.browse(SERVICE)?;
    let d = daemon.clone();
    tokio::spawn(async move {
        let mut renew = tokio::time::interval(Duration::from_secs(30));
        loop {
            tokio::select! {
                ev = events.recv_async() => {
                    let Ok(ev) = ev else { break };
                    if let ServiceEvent::ServiceResolved(info) = ev {
                        let Some(t) = info.fullname.strip_suffix(&format!(".{SERVICE}")) else {
                            continue;
                        };
                        let addrs: Vec<SocketAddr> = info
                            .addresses
                            .iter()
                            .map(|a| a.to_ip_addr())
                            .filter(|ip| matches!(ip, IpAddr::V4(v4) if !v4.is_loopback()))
                            .map(|ip| SocketAddr::new(ip, info.port))
                            .collect();
                        if addrs.is_empty() {
                            continue;
                        }
                        let h = Heard { tag: t.to_string(), addrs };
                        if heard.send(h).await.is_err() {
                            break;
                        }
                    }
                }
                _ = renew.tick() => {
                    // A new hour: withdraw the old name and announce the new one.
                    let now = hour_now();
                    if now != hour {
                        if let Ok(old) = announcement(&secret, hour, port) {
                            let _ = d.unregister(old.get_fullname());
                        }
                        hour = now;
                        if let Ok(new) = announcement(&secret, hour, port) {
                            let _ = d.register(new);
                        }
                    }
                }
            }
        }
    });
    Ok(Lan { daemon })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_changes_every_hour_and_only_the_secret_gives_it() {
        let (s, other) = ([7u8; 32], [8u8; 32]);
        let t = tag(&s, 1000);
        assert_eq!(t.len(), 24);
        assert_eq!(t, tag(&s, 1000));
        assert_ne!(t, tag(&s, 1001));
        assert_ne!(t, tag(&other, 1000));
        assert!(matches(&s, &t, 1000));
        assert!(matches(&s, &t, 1001), "an hour's skew is tolerated");
        assert!(!matches(&s, &t, 1002));
        assert!(!matches(&other, &t, 1000));
    }
}
