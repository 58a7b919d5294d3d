//! Kith's wire formats and the types every part agrees on: length-prefixed frames, peer
//! messages, signed albums and comments, invite links, sealed DHT records, peer IDs and keys, album, item and comment IDs (`ids`),
//! content manifests, display names and the local JSON API.
//!
//! Nothing here does I/O: no sockets, files, clocks or tasks (clippy's `disallowed-types` and
//! `disallowed-methods` in this crate's `clippy.toml`, and a test over `cargo metadata`, keep it
//! so). Times are passed in.

pub mod album;
pub mod api;
pub mod comment;
pub mod dht_record;
pub mod frame;
pub mod hash;
pub mod identity;
pub mod ids;
pub mod invite;
pub mod manifest;
pub mod names;
pub mod peer;
#[cfg(test)]
pub(crate) mod vectors;

/// Peer protocol version, agreed in the QUIC ALPN.
pub const ALPN: &[u8] = b"kith/1";
