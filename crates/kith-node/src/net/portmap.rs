//! Router port mapping for the node's UDP port (UPnP-IGD, NAT-PMP or PCP, whichever the home
//! router offers, through the `portmapper` crate), renewed while the node runs and removed
//! when it stops.

use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::time::Duration;

use tokio::sync::mpsc;

/// Longest the node waits at exit for the router to drop the mapping.
const RELEASE_WAIT: Duration = Duration::from_secs(2);
/// While there is no mapping, the router is asked again this often (it may turn UPnP on, or
/// the computer may move to another network).
const RETRY: Duration = Duration::from_secs(20);

/// A port mapping being kept for this node.
pub struct PortMap {
    client: portmapper::Client,
    retry: tokio::task::JoinHandle<()>,
}

impl PortMap {
    /// Asks the router to map `port`; each change of the mapped public address (None: lost)
    /// is sent to `changes`.
    pub fn start(port: u16, changes: mpsc::Sender<Option<SocketAddr>>) -> Option<PortMap> {
        let port = NonZeroU16::new(port)?;
        let client = portmapper::Client::default();
        client.update_local_port(port);
        let mut watch = client.watch_external_address();
        tokio::spawn(async move {
            while watch.changed().await.is_ok() {
                let addr = (*watch.borrow_and_update()).map(SocketAddr::V4);
                if changes.send(addr).await.is_err() {
                    break;
                }
            }
        });
        let retry = tokio::spawn({
            let client = client.clone();
            async move {
                let mut iv = tokio::time::interval(RETRY);
                iv.tick().await;
                loop {
                    iv.tick().await;
                    if client.watch_external_address().borrow().is_none() {
                        client.procure_mapping();
                    }
                }
            }
        });
        Some(PortMap { client, retry })
    }

    /// Removes the mapping from the router (waiting a little for it to be done).
    pub async fn release(self) {
        self.retry.abort();
        let mut watch = self.client.watch_external_address();
        if watch.borrow().is_none() {
            return;
        }
        self.client.deactivate();
        let _ = tokio::time::timeout(RELEASE_WAIT, async {
            while watch.borrow_and_update().is_some() {
                if watch.changed().await.is_err() {
                    break;
                }
            }
            // The address is forgotten first; the request to the router follows.
            tokio::time::sleep(Duration::from_millis(300)).await;
        })
        .await;
    }
}
