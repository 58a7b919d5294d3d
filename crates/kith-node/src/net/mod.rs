//! Networking: TLS verifiers that pin keys, quinn endpoint set-up, and dialing.

pub mod dht;
pub mod dial;
pub mod gate;
pub mod lan;
#[cfg(windows)]
pub mod plain_udp;
pub mod portmap;
pub mod relay;
pub mod tls;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

/// UDP socket buffer size: the kernel default loses datagram batches at speed.
const UDP_BUFFER: usize = 4 * 1024 * 1024;
/// Most connections in handshake at once before new ones are refused.
pub const MAX_INCOMING: usize = 64;
/// Most open connections a node keeps.
pub const MAX_CONNECTIONS: usize = 512;

/// Bytes a peer may have sent on one connection that this node has not read yet, all streams
/// together (quinn's default has no limit): with `STREAM_WINDOW` per stream, it bounds what
/// a peer's unread streams hold here, and still covers a fast fetch's round trip
/// (1 Gbit/s at 100 ms).
pub const CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;
/// Bytes unread per stream: quinn's default (12.5 MB/s at 100 ms), what one chunk request's
/// stream needs at speed.
pub const STREAM_WINDOW: u32 = 1_250_000;

/// Transport limits and keep-alive shared by both directions.
pub fn transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.receive_window(CONNECTION_WINDOW.into())
        .stream_receive_window(STREAM_WINDOW.into())
        .max_concurrent_bidi_streams(64u32.into())
        .max_concurrent_uni_streams(16u32.into())
        .keep_alive_interval(Some(Duration::from_secs(10)))
        .max_idle_timeout(Some(quinn::VarInt::from_u32(30_000).into()));
    Arc::new(t)
}

/// Binds the node's UDP socket and makes a quinn endpoint that serves with `server`.
pub fn endpoint(addr: SocketAddr, server: quinn::ServerConfig) -> Result<quinn::Endpoint> {
    endpoint_with(addr, Some(server))
}

/// A client-only endpoint on `addr` (tests speak QUIC to a node with it).
pub fn client_endpoint(addr: SocketAddr) -> Result<quinn::Endpoint> {
    endpoint_with(addr, None)
}

fn endpoint_with(addr: SocketAddr, server: Option<quinn::ServerConfig>) -> Result<quinn::Endpoint> {
    let socket = UdpSocket::bind(addr).with_context(|| format!("cannot listen on UDP {addr}"))?;
    let state = match quinn::udp::UdpSocketState::new((&socket).into()) {
        Ok(s) => s,
        #[cfg(windows)]
        Err(e) if options_unsupported(&e) => {
            tracing::warn!(
                "this UDP stack refuses ECN or packet-info options ({e}); plain datagrams"
            );
            let socket = plain_udp::PlainUdp::new(socket)?;
            return Ok(quinn::Endpoint::new_with_abstract_socket(
                quinn::EndpointConfig::default(),
                server,
                socket,
                Arc::new(quinn::TokioRuntime),
            )?);
        }
        Err(e) => return Err(e.into()),
    };
    // Best effort: the kernel may cap these (net.core.rmem_max); the node still works.
    let _ = state.set_recv_buffer_size((&socket).into(), UDP_BUFFER);
    let _ = state.set_send_buffer_size((&socket).into(), UDP_BUFFER);
    let ep = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        server,
        socket,
        Arc::new(quinn::TokioRuntime),
    )?;
    Ok(ep)
}

/// Whether a socket-option error says the option is not there (WSAENOPROTOOPT,
/// WSAEOPNOTSUPP), as under Wine, rather than that something failed.
#[cfg(windows)]
fn options_unsupported(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(10042) | Some(10045))
}

/// The addresses to announce for a listening address: itself, or every interface's address
/// when it is unspecified (loopback last).
pub fn announce_addrs(listen: SocketAddr) -> Vec<SocketAddr> {
    if !listen.ip().is_unspecified() {
        return vec![listen];
    }
    let mut out: Vec<SocketAddr> = Vec::new();
    let mut lo: Vec<SocketAddr> = Vec::new();
    if let Ok(ifs) = if_addrs::get_if_addrs() {
        for i in ifs {
            let ip = i.ip();
            if ip.is_ipv4() != listen.is_ipv4() {
                continue;
            }
            if let std::net::IpAddr::V6(v6) = ip {
                if (v6.segments()[0] & 0xffc0) == 0xfe80 {
                    continue; // link-local needs a scope id
                }
            }
            let a = SocketAddr::new(ip, listen.port());
            if ip.is_loopback() {
                lo.push(a)
            } else {
                out.push(a)
            }
        }
    }
    out.extend(lo);
    out.truncate(kith_proto::peer::MAX_ADDRS);
    out
}

/// Whether an address can be reached from the internet (not loopback, private, link-local,
/// unique-local, multicast or unspecified).
pub fn is_public(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast())
        }
        std::net::IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}
