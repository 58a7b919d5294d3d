//! The node's client of the BitTorrent Mainline DHT (BEP 44): publishes this node's sealed
//! address record and looks up friends' records (see `proto::dht_record` for what is in them).

use std::net::SocketAddr;
use std::time::Duration;

use futures_lite::StreamExt;
use mainline::async_dht::AsyncDht;
use mainline::errors::{ConcurrencyError, PutMutableError};
use mainline::{Dht, MutableItem, SigningKey};

use crate::identity::{Identity, PeerId};
use crate::proto::dht_record::{self, RecordKeys};

/// Longest a lookup waits for records before answering with the best one found.
pub const LOOKUP_TIME: Duration = Duration::from_secs(5);
/// How long a lookup goes on waiting for a newer record once one was found.
pub const LOOKUP_GRACE: Duration = Duration::from_millis(300);

/// Why a publish did not work.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// A record with a higher sequence number is already stored under my key.
    #[error("a newer record is stored under this key")]
    Displaced,
    /// Anything else (no DHT nodes reached, a timeout).
    #[error("{0}")]
    Failed(String),
}

/// A running DHT client.
pub struct DhtClient {
    dht: AsyncDht,
}

impl DhtClient {
    /// Starts a client that bootstraps from `bootstrap` (`host:port` each; None: the public
    /// Mainline's bootstrap nodes).
    pub fn start(bootstrap: Option<&[String]>) -> std::io::Result<DhtClient> {
        let mut b = Dht::builder();
        if let Some(nodes) = bootstrap {
            b.bootstrap(nodes);
        }
        Ok(DhtClient {
            dht: b.build()?.as_async(),
        })
    }

    /// Publishes my addresses, sealed under my record keys; `at` (ms) is the sequence number.
    pub async fn publish(
        &self,
        keys: &RecordKeys,
        id: &Identity,
        at: u64,
        addrs: &[SocketAddr],
    ) -> Result<(), PublishError> {
        let value = dht_record::seal(keys, id, at, addrs);
        let signer = SigningKey::from_bytes(&keys.dht_seed);
        let seq = i64::try_from(at).unwrap_or(i64::MAX);
        let item = MutableItem::new(signer, &value, seq, None);
        self.dht
            .put_mutable(item, None)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                PutMutableError::Concurrency(ConcurrencyError::NotMostRecent) => {
                    PublishError::Displaced
                }
                e => PublishError::Failed(e.to_string()),
            })
    }

    /// Looks up a friend's record: its addresses from the newest record that opens, if any.
    pub async fn lookup(&self, keys: &RecordKeys, peer: &PeerId) -> Option<Vec<SocketAddr>> {
        let key = SigningKey::from_bytes(&keys.dht_seed)
            .verifying_key()
            .to_bytes();
        let mut items = self.dht.get_mutable(&key, None, None);
        let mut best: Option<(u64, Vec<SocketAddr>)> = None;
        // The query ends when its slowest node times out; answer soon after the first record
        // that opens (other nodes may hold a newer one a moment later).
        let mut deadline = tokio::time::Instant::now() + LOOKUP_TIME;
        while let Ok(Some(item)) = tokio::time::timeout_at(deadline, items.next()).await {
            if let Some((at, addrs)) = dht_record::open(keys, peer, item.value()) {
                if best.is_none() {
                    deadline = deadline.min(tokio::time::Instant::now() + LOOKUP_GRACE);
                }
                if best.as_ref().is_none_or(|(b, _)| at > *b) {
                    best = Some((at, addrs));
                }
            }
        }
        best.map(|(_, a)| a)
    }
}
