//! Kith node library: identity, peer protocol, networking, store, node actor and front ends.

pub mod api;
pub mod cli;
pub mod clock;
pub mod control;
pub mod core;
pub mod demo;
pub mod export;
pub mod gateway;
pub mod hash;
pub mod home;
pub mod identity;
pub mod install;
pub mod media;
pub mod native;
pub mod net;
pub mod node;
pub mod proto;
pub mod settings;
pub mod store;
pub mod transfer;
pub mod wire;

/// Native-messaging host name, as Firefox knows it.
pub const HOST_NAME: &str = "kith";
/// The add-on id allowed to start the host.
pub const ADDON_ID: &str = "kith@kith";
/// The Chromium extension's ID, pinned by the public key in `manifests/chromium-key.pub`
/// (the `key` of the Chromium manifest).
pub const CHROMIUM_EXTENSION_ID: &str = "bifkbjjdhhfehfjgpbnaninegkkojooj";

/// The origin a Chromium-family browser passes when it starts the host for Kith's extension.
pub fn chromium_origin() -> String {
    format!("chrome-extension://{CHROMIUM_EXTENSION_ID}/")
}
/// Peer protocol version, agreed in the QUIC ALPN.
pub const ALPN: &[u8] = b"kith/1";
/// Version of this program.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
