//! The guard of test machines: with `KITH_LOCAL_ONLY=1` (set by every test harness, benchmark
//! and CI), `kith serve` refuses to start when its configuration would send anything off this
//! machine — unless it runs in a network namespace of its own (the network lab), named by
//! `KITH_NETNS` and checked against the namespace it is really in.

use std::net::{IpAddr, SocketAddr};

use thiserror::Error;

/// The variable that turns the guard on (value `1`).
pub const LOCAL_ONLY_VAR: &str = crate::settings::LOCAL_ONLY;
/// The variable naming the network namespace (under `/run/netns`) the node runs in.
pub const NETNS_VAR: &str = crate::settings::NETNS;
/// The exit code of `kith serve` refused by the guard.
pub const EXIT_OFF_MACHINE: i32 = 4;

/// What a node is about to start that could reach other machines.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The address the QUIC endpoint binds.
    pub listen: SocketAddr,
    /// LAN discovery (mDNS) on the machine's interfaces.
    pub lan: bool,
    /// Asking the router for a port mapping.
    pub port_mapping: bool,
    /// The DHT: None when off; Some(None) with the public Mainline's bootstrap nodes.
    pub dht: Option<Option<Vec<String>>>,
}

/// One thing that would leave the machine.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OffMachine {
    /// The endpoint would listen on an address other machines can reach.
    #[error("it would listen on {0}, not on loopback (use --listen 127.0.0.1:0 or KITH_LISTEN)")]
    Listen(SocketAddr),
    /// mDNS would announce and listen on the network.
    #[error(
        "LAN discovery (mDNS) would run on the network interfaces (KITH_NO_LAN=1 turns it off)"
    )]
    Lan,
    /// The router would be asked to map a port.
    #[error("port mapping would ask the router to open a port (KITH_NO_PORTMAP=1 turns it off)")]
    PortMapping,
    /// The DHT would start from the public Mainline bootstrap nodes.
    #[error("the DHT would contact the public Mainline network (KITH_NO_DHT=1 turns it off)")]
    PublicDht,
    /// The DHT would start from a bootstrap node that is not on this machine.
    #[error("the DHT would contact {0}, which is not this machine")]
    DhtBootstrap(String),
}

/// The guard refused to start the node.
#[derive(Debug, Error)]
#[error("{LOCAL_ONLY_VAR}=1 and this node would send packets off this machine: {}{}",
    .reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
    .netns_note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default())]
pub struct Refused {
    /// Each thing that would leave the machine.
    pub reasons: Vec<OffMachine>,
    /// Why `KITH_NETNS`, when set, did not exempt the node.
    pub netns_note: Option<String>,
}

/// Whether a bootstrap node (`host:port`) is on this machine, without resolving any name.
fn bootstrap_is_local(b: &str) -> bool {
    if let Ok(a) = b.parse::<SocketAddr>() {
        return a.ip().is_loopback();
    }
    let host = b.rsplit_once(':').map_or(b, |(h, _)| h);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// What in a plan would leave the machine (empty: nothing).
pub fn off_machine(plan: &Plan) -> Vec<OffMachine> {
    let mut out = Vec::new();
    if !plan.listen.ip().is_loopback() {
        out.push(OffMachine::Listen(plan.listen));
    }
    if plan.lan {
        out.push(OffMachine::Lan);
    }
    if plan.port_mapping {
        out.push(OffMachine::PortMapping);
    }
    match &plan.dht {
        None => {}
        Some(None) => out.push(OffMachine::PublicDht),
        Some(Some(list)) if list.is_empty() => out.push(OffMachine::PublicDht),
        Some(Some(list)) => out.extend(
            list.iter()
                .filter(|b| !bootstrap_is_local(b))
                .map(|b| OffMachine::DhtBootstrap(b.clone())),
        ),
    }
    out
}

/// Whether this process runs in the network namespace `name` (a file under `/run/netns`), and
/// that namespace is not the machine's (process 1's, else my parent's).
pub fn in_named_netns(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(format!("{NETNS_VAR}={name:?} is not a namespace name"));
    }
    in_netns(name)
}

#[cfg(not(target_os = "linux"))]
fn in_netns(name: &str) -> Result<(), String> {
    Err(format!(
        "{NETNS_VAR}={name}: network namespaces exist only on Linux"
    ))
}

#[cfg(target_os = "linux")]
fn in_netns(name: &str) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &str| std::fs::metadata(p).map(|m| (m.dev(), m.ino()));
    let mine = id("/proc/self/ns/net").map_err(|e| format!("reading my namespace: {e}"))?;
    let named = id(&format!("/run/netns/{name}"))
        .map_err(|e| format!("{NETNS_VAR}={name}: no such namespace ({e})"))?;
    if named != mine {
        return Err(format!(
            "{NETNS_VAR}={name}, but this process is not in that namespace"
        ));
    }
    // The machine's namespace is process 1's; where that cannot be read (a container), the
    // one of the process that started me (`ip netns exec` runs me in its own place).
    let parent = format!("/proc/{}/ns/net", std::os::unix::process::parent_id());
    let outside = id("/proc/1/ns/net")
        .or_else(|_| id(&parent))
        .map_err(|e| format!("reading the namespace I was started from: {e}"))?;
    if mine == outside {
        return Err(format!(
            "{NETNS_VAR}={name} is the namespace of the machine or of my parent"
        ));
    }
    Ok(())
}

/// The guard: Ok unless `KITH_LOCAL_ONLY=1` and the plan would leave the machine outside a
/// lab namespace.
pub fn check(plan: &Plan) -> Result<(), Refused> {
    let env = crate::settings::env();
    if !env.local_only {
        return Ok(());
    }
    let reasons = off_machine(plan);
    if reasons.is_empty() {
        return Ok(());
    }
    let netns_note = match &env.netns {
        None => None,
        Some(name) => match in_named_netns(name) {
            Ok(()) => {
                tracing::info!(netns = %name, "{LOCAL_ONLY_VAR}: in a lab namespace of its own");
                return Ok(());
            }
            Err(why) => Some(why),
        },
    };
    Err(Refused {
        reasons,
        netns_note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Plan {
        Plan {
            listen: "127.0.0.1:0".parse().unwrap(),
            lan: false,
            port_mapping: false,
            dht: None,
        }
    }

    #[test]
    fn each_setting_that_leaves_the_machine_is_named_and_local_ones_pass() {
        assert_eq!(off_machine(&local()), vec![]);
        for listen in ["[::1]:5000", "127.0.0.2:1"] {
            let p = Plan {
                listen: listen.parse().unwrap(),
                ..local()
            };
            assert_eq!(off_machine(&p), vec![], "{listen}");
        }
        for listen in ["0.0.0.0:0", "[::]:0", "192.168.1.4:9", "10.80.1.11:0"] {
            let a: SocketAddr = listen.parse().unwrap();
            let p = Plan {
                listen: a,
                ..local()
            };
            assert_eq!(off_machine(&p), vec![OffMachine::Listen(a)]);
        }
        let lan = Plan {
            lan: true,
            ..local()
        };
        assert_eq!(off_machine(&lan), vec![OffMachine::Lan]);
        let pm = Plan {
            port_mapping: true,
            ..local()
        };
        assert_eq!(off_machine(&pm), vec![OffMachine::PortMapping]);
        for public in [None, Some(vec![])] {
            let p = Plan {
                dht: Some(public),
                ..local()
            };
            assert_eq!(off_machine(&p), vec![OffMachine::PublicDht]);
        }
        let boot = |list: &[&str]| Plan {
            dht: Some(Some(list.iter().map(|s| s.to_string()).collect())),
            ..local()
        };
        let ok = [
            "127.0.0.1:6881",
            "[::1]:6881",
            "localhost:6881",
            "127.9.9.9:1",
        ];
        assert_eq!(off_machine(&boot(&ok)), vec![]);
        // A name other than localhost is not resolved: it may well be elsewhere.
        for far in [
            "router.bittorrent.com:6881",
            "10.0.0.1:6881",
            "localhost.example:1",
        ] {
            assert_eq!(
                off_machine(&boot(&["127.0.0.1:1", far])),
                vec![OffMachine::DhtBootstrap(far.into())]
            );
        }
    }

    #[test]
    fn a_namespace_name_must_be_a_plain_name_of_the_namespace_this_process_is_in() {
        for bad in ["", "../x", "a/b", ".hidden"] {
            assert!(in_named_netns(bad).is_err(), "{bad:?}");
        }
        assert!(in_named_netns("kith-no-such-namespace").is_err());
    }
}
