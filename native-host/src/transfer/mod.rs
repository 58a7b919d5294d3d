//! Transfers: content addressing, safe names in the download folder.

pub mod manifest;
pub mod names;
