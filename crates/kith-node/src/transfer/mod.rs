//! Transfers: content addressing, fetching, safe names in the download folder.

pub mod fetch;
pub mod live;
pub mod manifest;
pub mod names;
pub mod overlay;
pub mod rate;
