//! Sans-IO protocol code: frames, peer messages and invite links. Nothing here touches a socket.

pub mod album;
pub mod comment;
pub mod dht_record;
pub mod frame;
pub mod invite;
pub mod peer;
#[cfg(test)]
pub(crate) mod vectors;
