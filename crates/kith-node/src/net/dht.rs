//! The node's client of the BitTorrent Mainline DHT (BEP 44): publishes this node's sealed
//! address record and looks up friends' records (see `proto::dht_record` for what is in them).

use std::net::SocketAddr;
use std::time::Duration;

use futures_lite::StreamExt;
use mainline::async_dht::AsyncDht;
use mainline::errors::{ConcurrencyError, PutMutableError};
use mainline::{Dht, MutableItem, SigningKey};
use std::time::Instant;

use crate::core::dht_sched::LookupReport;
use kith_proto::dht_record::{self, RecordKeys};
use kith_proto::identity::{Identity, PeerId};

/// Longest a lookup waits for records before answering with the best one found.
pub const LOOKUP_TIME: Duration = Duration::from_secs(5);
/// How long a lookup goes on waiting for a newer record once one was found.
pub const LOOKUP_GRACE: Duration = Duration::from_millis(300);
/// How long a DHT node has to answer a request (mainline's default is 2 s). A query ends when
/// its last request is answered or timed out, and there are always some gone nodes in a
/// routing table: this bounds how long a publish (a query, then the puts) and a lookup take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

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
    port: u16,
}

impl DhtClient {
    /// Starts a client that bootstraps from `bootstrap` (`host:port` each; None: the public
    /// Mainline's bootstrap nodes), on UDP port `port` when it is free (else any port).
    /// It blocks: call it off the async runtime's threads.
    pub fn start(bootstrap: Option<&[String]>, port: Option<u16>) -> std::io::Result<DhtClient> {
        let build = |port: Option<u16>| {
            let mut b = Dht::builder();
            b.request_timeout(REQUEST_TIMEOUT);
            if let Some(nodes) = bootstrap {
                b.bootstrap(nodes);
            }
            if let Some(p) = port {
                b.port(p);
            }
            // mainline 8.0.1 panics instead of returning the bind error when its actor thread
            // fails to bind before being asked whether it started (a race): count it as one.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.build())).unwrap_or_else(
                |_| {
                    Err(std::io::Error::other(
                        "the DHT client could not bind its UDP port",
                    ))
                },
            )
        };
        // The same port as last time keeps the entries other DHT nodes hold for this node
        // good across a restart: queries don't wait for a dead node to time out.
        let dht = match port.filter(|p| *p != 0).map(|p| build(Some(p))) {
            Some(Ok(dht)) => dht,
            Some(Err(e)) => {
                tracing::debug!("DHT port {port:?} not free ({e}): using another");
                build(None)?
            }
            None => build(None)?,
        };
        let dht = dht.as_async();
        let port = futures_lite::future::block_on(dht.info())
            .local_addr()
            .port();
        Ok(DhtClient { dht, port })
    }

    /// The UDP port the client uses.
    pub fn port(&self) -> u16 {
        self.port
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

    /// Looks up a friend's record: its addresses from the newest record that opens, if any,
    /// as soon as one is found (after `LOOKUP_GRACE`, in case another node holds a newer one).
    pub async fn lookup(&self, keys: &RecordKeys, peer: &PeerId) -> Option<Vec<SocketAddr>> {
        let mut first = None;
        self.lookup_each(keys, peer, LOOKUP_GRACE, |addrs| {
            first = Some(addrs);
            std::future::ready(false)
        })
        .await;
        first
    }

    /// Looks up a friend's record to the end of the DHT query (at most `LOOKUP_TIME`): calls
    /// `found` with the addresses of the newest record that opens, `grace` after the first
    /// arrives and again at once for each newer one (`core::dht_sched::LookupReport`
    /// decides), until it answers false. Returns whether
    /// any record opened whose addresses were told (a record with no address, left under a
    /// reach secret given up, is not told and outranks older ones).
    pub async fn lookup_each<F: std::future::Future<Output = bool>>(
        &self,
        keys: &RecordKeys,
        peer: &PeerId,
        grace: Duration,
        mut found: impl FnMut(Vec<SocketAddr>) -> F,
    ) -> bool {
        let key = SigningKey::from_bytes(&keys.dht_seed)
            .verifying_key()
            .to_bytes();
        let mut items = self.dht.get_mutable(&key, None, None);
        let end = Instant::now() + LOOKUP_TIME;
        let mut report = LookupReport::new(grace);
        loop {
            let wake = report.wake_at().map_or(end, |t| t.min(end));
            match tokio::time::timeout_at(wake.into(), items.next()).await {
                Ok(Some(item)) => {
                    if let Some((at, addrs)) = dht_record::open(keys, peer, item.value()) {
                        report.record(at, addrs, Instant::now());
                    }
                }
                Ok(None) => break, // the query ended
                Err(_) if Instant::now() >= end => break,
                Err(_) => {}
            }
            if let Some(addrs) = report.due(Instant::now()) {
                if !found(addrs).await {
                    return true;
                }
            }
        }
        if let Some(addrs) = report.end() {
            found(addrs).await;
        }
        report.told_any()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mainline::Testnet;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn client(net: &Testnet, port: Option<u16>) -> DhtClient {
        DhtClient::start(Some(&net.bootstrap), port).unwrap()
    }

    /// Runs a lookup to its end: whether it found addresses, and every report it made.
    async fn lookup_all(
        c: &DhtClient,
        keys: &RecordKeys,
        id: &Identity,
    ) -> (bool, Vec<Vec<SocketAddr>>) {
        let mut told = Vec::new();
        let found = c
            .lookup_each(keys, &id.peer_id(), Duration::ZERO, |addrs| {
                told.push(addrs);
                std::future::ready(true)
            })
            .await;
        (found, told)
    }

    #[test]
    fn the_client_takes_the_port_it_is_given_when_free_and_another_when_taken() {
        let net = Testnet::new(3).unwrap();
        let taken = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let c = client(&net, Some(port));
        assert_ne!(c.port(), port);
        assert_ne!(c.port(), 0);
        drop(taken);
        drop(c);
        assert_eq!(client(&net, Some(port)).port(), port);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_finished_lookup_lets_the_next_find_a_moved_node_and_another_secret_finds_nothing() {
        let net = Testnet::new(5).unwrap();
        let (a, b) = (client(&net, None), client(&net, None));
        let id = Identity::generate().unwrap();
        let keys = RecordKeys::derive(&[7u8; 32], 20_000);
        let first = vec![addr("203.0.113.7:41000")];
        a.publish(&keys, &id, 1_000, &first).await.unwrap();
        let (found, told) = lookup_all(&b, &keys, &id).await;
        assert!(found);
        assert_eq!(told, vec![first.clone()]);

        // The node moved: the next lookup (a new query: the last one ran to its end) finds
        // its newer record.
        let moved = vec![addr("203.0.113.7:42000"), addr("10.0.0.5:42000")];
        a.publish(&keys, &id, 2_000, &moved).await.unwrap();
        assert_eq!(b.lookup(&keys, &id.peer_id()).await, Some(moved));

        // An older record cannot displace it.
        assert!(matches!(
            a.publish(&keys, &id, 1_500, &first).await,
            Err(PublishError::Displaced)
        ));
        // Under another secret there is nothing; the lookup ends with the query.
        let other = RecordKeys::derive(&[8u8; 32], 20_000);
        let t = Instant::now();
        assert_eq!(lookup_all(&b, &other, &id).await, (false, vec![]));
        assert!(
            t.elapsed() < LOOKUP_TIME,
            "the lookup waited for its time limit"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_emptied_record_hides_the_older_one_and_gives_no_address() {
        let net = Testnet::new(5).unwrap();
        let (a, b) = (client(&net, None), client(&net, None));
        let id = Identity::generate().unwrap();
        let keys = RecordKeys::derive(&[9u8; 32], 20_000);
        a.publish(&keys, &id, 1_000, &[addr("203.0.113.7:41000")])
            .await
            .unwrap();
        a.publish(&keys, &id, 2_000, &[]).await.unwrap();
        let (found, told) = lookup_all(&b, &keys, &id).await;
        assert!(!found);
        assert!(told.is_empty(), "told {told:?}");
        assert_eq!(b.lookup(&keys, &id.peer_id()).await, None);
    }
}
