//! A relay for two friends who cannot reach each other: a UDP socket that passes each side's
//! packets to the other. The two ends run their own mutual-TLS QUIC connection through it, so
//! the relay forwards ciphertext it cannot read.
//!
//! Each side is known by the IP address its connection to the relay comes from; its port is
//! learnt from its first packet (a symmetric NAT gives a new port towards the relay socket),
//! and from then on only that address is that side. The relay never sends first, so it must
//! be on an address both can reach (a public one, or a mapped port).
//!
//! The socket is bound only once the target agreed (`node/reach.rs`); dropping a [`Relay`]
//! before [`Relay::run`] closes it at once.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::transfer::rate::Limiter;

/// A relay ends after this long without a packet.
const IDLE: Duration = Duration::from_secs(60);
/// Largest datagram passed on.
const MAX_DATAGRAM: usize = 2048;

/// A bound relay socket, not forwarding yet.
pub struct Relay {
    sock: UdpSocket,
    at: SocketAddr,
}

impl Relay {
    /// Binds a relay socket on `ip` (a port the OS picks).
    pub async fn bind(ip: IpAddr) -> std::io::Result<Relay> {
        let sock = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        let at = sock.local_addr()?;
        Ok(Relay { sock, at })
    }

    /// The socket's port.
    pub fn port(&self) -> u16 {
        self.at.port()
    }

    /// Forwards between hosts `a` and `b`, at most `limit` bytes per second, until `IDLE`
    /// passes without a packet; the socket closes when this returns.
    pub async fn run(self, a: IpAddr, b: IpAddr, limit: Arc<Limiter>) {
        let Relay { sock, at } = self;
        let (mut leg_a, mut leg_b): (Option<SocketAddr>, Option<SocketAddr>) = (None, None);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut forwarded: u64 = 0;
        loop {
            let Ok(Ok((n, from))) = tokio::time::timeout(IDLE, sock.recv_from(&mut buf)).await
            else {
                break;
            };
            // With both ends behind one address, the first sender is `a`.
            // Each leg is the first address a packet came from at its side's IP; later packets
            // from any other address are dropped, so nobody else behind that IP can take it.
            let to = if leg_a == Some(from) {
                leg_b
            } else if leg_b == Some(from) {
                leg_a
            } else if leg_a.is_none() && from.ip() == a {
                leg_a = Some(from);
                leg_b
            } else if leg_b.is_none() && from.ip() == b {
                leg_b = Some(from);
                leg_a
            } else {
                continue; // not one of the two
            };
            if let Some(to) = to {
                limit.take(n as u64).await;
                if sock.send_to(&buf[..n], to).await.is_ok() {
                    forwarded += n as u64;
                }
            }
        }
        tracing::info!(%at, forwarded, "relay closed");
    }
}
