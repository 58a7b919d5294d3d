//! The Kith node: the sans-IO core (`core`), the actor that runs it (`node`), networking,
//! the store, transfers, media handling and the loopback gateway. Front ends reach it through
//! `node::serve` and the control socket; the wire formats are `kith_proto`'s.

pub mod binary;
pub mod clock;
pub mod core;
pub mod export;
pub mod gateway;
pub mod home;
pub mod ipc;
pub mod media;
pub mod net;
pub mod node;
pub mod platform;
pub mod settings;
pub mod store;
pub mod transfer;
pub mod wire;

/// Version of this node.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
