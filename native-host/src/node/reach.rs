//! The node's side of reaching friends across networks: friends heard on the LAN, and how
//! each friend is connected (`path`).

use std::net::SocketAddr;

use super::Node;
use crate::identity::PeerId;
use crate::net::lan::{hour_now, matches, Heard};
use crate::proto::album::unhex32;
use crate::proto::peer::MAX_ADDRS;

/// Whether an address is on one of this computer's IPv4 networks (loopback left out).
fn on_my_lan(addr: SocketAddr) -> bool {
    let std::net::IpAddr::V4(ip) = addr.ip() else {
        return false;
    };
    let Ok(ifs) = if_addrs::get_if_addrs() else {
        return false;
    };
    ifs.iter().any(|i| match &i.addr {
        if_addrs::IfAddr::V4(v4) if !v4.ip.is_loopback() => {
            let mask = u32::from(v4.netmask);
            u32::from(v4.ip) & mask == u32::from(ip) & mask
        }
        _ => false,
    })
}

impl Node {
    /// A node was heard on the LAN: when it is a friend's, its LAN addresses go first in the
    /// friend's record and an offline friend is dialled at once.
    pub(super) fn lan_heard(&mut self, h: Heard) {
        let hour = hour_now();
        let Ok(friends) = self.store.friends() else {
            return;
        };
        let Some(mut f) = friends.into_iter().find(|f| {
            f.reach
                .as_deref()
                .and_then(unhex32)
                .is_some_and(|s| matches(&s, &h.tag, hour))
        }) else {
            return;
        };
        if self.lan_addrs.get(&f.id) == Some(&h.addrs) && self.is_online(&f.id) {
            return;
        }
        tracing::info!(peer = %f.id.short(), addrs = ?h.addrs, "friend heard on the LAN");
        let mut addrs = h.addrs.clone();
        addrs.extend(f.addrs.iter().filter(|a| !h.addrs.contains(a)));
        addrs.truncate(MAX_ADDRS);
        f.addrs = addrs;
        if let Err(e) = self.store.put_friend(&f) {
            tracing::error!("storing a friend's LAN address: {e}");
        }
        self.lan_addrs.insert(f.id, h.addrs);
        if !self.is_online(&f.id) {
            // Dial the LAN address now, even while a dial to a stale address waits for its
            // timeout.
            match self.client_config(f.id, None) {
                Ok(c) => self.spawn_dial(f.id, self.lan_addrs[&f.id].clone(), c, None),
                Err(e) => tracing::error!("client config: {e}"),
            }
        }
    }

    /// How a friend is connected now: `lan` (at an address heard on the LAN, or on a network
    /// this computer is on), `direct`, or `unreachable`.
    pub(super) fn path_of(&self, peer: &PeerId) -> &'static str {
        let Some(link) = self.links.get(peer).filter(|_| self.is_online(peer)) else {
            return "unreachable";
        };
        let remote: SocketAddr = link.conn.remote_address();
        if self
            .lan_addrs
            .get(peer)
            .is_some_and(|a| a.contains(&remote))
            || on_my_lan(remote)
        {
            "lan"
        } else {
            "direct"
        }
    }
}
