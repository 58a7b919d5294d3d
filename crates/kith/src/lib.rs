//! The `kith` program's front ends over the node's API: the command line, the native-messaging
//! host, the control-socket client, install and doctor, and the demo.

pub mod cli;
pub mod control;
pub mod demo;
pub mod install;
#[cfg(windows)]
pub mod install_windows;
pub mod logfile;
pub mod native;
pub mod service;
pub mod version;

/// Native-messaging host name, as browsers know it.
pub const HOST_NAME: &str = "kith";
/// The Firefox add-on id allowed to start the host; the Chromium extension's ID, pinned by
/// the public key that is the `key` of the Chromium manifest (`manifests/chromium-manifest.json`).
pub use kith_proto::api::{ADDON_ID, CHROMIUM_EXTENSION_ID};

/// The origin a Chromium-family browser passes when it starts the host for Kith's extension.
pub fn chromium_origin() -> String {
    format!("chrome-extension://{CHROMIUM_EXTENSION_ID}/")
}

/// Version of this program.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
