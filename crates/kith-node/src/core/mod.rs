//! The sans-IO core: protocol decisions as small state machines.
//!
//! Each module here takes inputs and the time and returns effects; none of them does I/O,
//! spawns tasks or reads the clock. The node's actor (`crate::node`) feeds them and executes
//! what they return. Each module has unit tests; `scenarios` runs several nodes' core types
//! in memory with a fake clock. Test names contain `core`, so `cargo test core` runs them.

pub mod access;
pub mod dht_sched;
pub mod fetch_plan;
pub mod links;
pub mod mutual;
pub mod outbox;
pub mod reach;
#[cfg(test)]
mod scenarios;
pub mod thread;
