//! Durability off the caller's thread: writes are applied at once (readers see them), and a
//! thread of the store's own makes them durable, many writes per flush. Whoever is about to
//! tell someone that a write happened — an API reply, a peer's acknowledgement — hands the
//! answer to [`AfterFlush`], which delivers it once every write made before it is durable.
//!
//! So a crash can lose a write, but never one that somebody was told about.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use super::Kv;

/// The longest wait between two tries of a flush that failed.
const RETRY_MAX: Duration = Duration::from_secs(5);

/// The write counter shared by the store, its flusher thread and every [`AfterFlush`].
#[derive(Clone)]
pub struct Durability {
    /// Writes applied so far (each write adds one).
    written: Arc<AtomicU64>,
    /// Writes made durable so far; `u64::MAX` once the store closed after a final flush.
    flushed: watch::Receiver<u64>,
}

impl Durability {
    /// True when every write applied so far is durable.
    pub fn settled(&self) -> bool {
        *self.flushed.borrow() >= self.written.load(Ordering::Acquire)
    }

    /// Waits until every write applied before this call is durable; false when the store
    /// closed without making them so.
    pub async fn settle(&self) -> bool {
        let target = self.written.load(Ordering::Acquire);
        let mut rx = self.flushed.clone();
        let settled = rx.wait_for(|f| *f >= target).await.is_ok();
        settled
    }
}

/// The store's side: counts writes and wakes the flusher thread.
pub(super) struct Flusher {
    durability: Durability,
    wake: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    /// Starts the flusher thread over a database.
    pub(super) fn start(kv: Arc<dyn Kv>) -> Flusher {
        let written = Arc::new(AtomicU64::new(0));
        let (flushed_tx, flushed) = watch::channel(0u64);
        let (wake, woken) = mpsc::channel::<()>();
        let counter = written.clone();
        let thread = std::thread::Builder::new()
            .name("kith-store-flush".into())
            .spawn(move || run(kv.as_ref(), &counter, &flushed_tx, &woken))
            .ok();
        if thread.is_none() {
            tracing::error!("could not start the store's flusher thread; writes flush on close");
        }
        Flusher {
            durability: Durability { written, flushed },
            wake: Some(wake),
            thread,
        }
    }

    /// Counts one applied write and asks for a flush.
    pub(super) fn wrote(&self) {
        self.durability.written.fetch_add(1, Ordering::AcqRel);
        if let Some(w) = &self.wake {
            let _ = w.send(());
        }
    }

    /// A handle for waiting on durability.
    pub(super) fn durability(&self) -> Durability {
        self.durability.clone()
    }
}

impl Drop for Flusher {
    /// Stops the thread after its last flush, so nothing applied is left unflushed.
    fn drop(&mut self) {
        self.wake = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The flusher thread: flush whenever woken, covering every write counted before the flush
/// began; publish how far it got. A failed flush is logged and tried again (answers wait).
fn run(kv: &dyn Kv, written: &AtomicU64, flushed: &watch::Sender<u64>, woken: &mpsc::Receiver<()>) {
    let mut retry = Duration::from_millis(50);
    loop {
        let closing = woken.recv().is_err();
        while woken.try_recv().is_ok() {} // one flush covers every write so far
        loop {
            let target = written.load(Ordering::Acquire);
            match kv.flush() {
                Ok(()) => {
                    flushed.send_replace(target);
                    retry = Duration::from_millis(50);
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "store flush failed; trying again");
                    std::thread::sleep(retry);
                    retry = (retry * 2).min(RETRY_MAX);
                    if closing && retry == RETRY_MAX {
                        return; // closing and the disk refuses: waiters learn it failed
                    }
                }
            }
        }
        if closing {
            flushed.send_replace(u64::MAX);
            return;
        }
    }
}

/// An answer that is delivered only once the store's writes made before it are durable.
pub struct AfterFlush<T> {
    tx: oneshot::Sender<T>,
    durability: Durability,
}

impl<T: Send + 'static> AfterFlush<T> {
    /// Wraps the channel an answer goes out on.
    pub fn new(tx: oneshot::Sender<T>, durability: Durability) -> Self {
        AfterFlush { tx, durability }
    }

    /// Delivers `value` now when every write so far is durable, else as soon as it is (on a
    /// task of its own, so the caller goes on at once). Dropped if the store closes first.
    pub fn send(self, value: T) {
        if self.durability.settled() {
            let _ = self.tx.send(value);
            return;
        }
        let settle = {
            let d = self.durability.clone();
            async move { d.settle().await }
        };
        let tx = self.tx;
        tokio::spawn(async move {
            if settle.await {
                let _ = tx.send(value);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicBool, AtomicUsize};

    use super::*;
    use crate::store::{Entry, StoreError, Write};

    /// A database whose flush waits while `stuck` is set (a slow disk) and counts calls.
    #[derive(Default)]
    struct SlowKv {
        flushes: AtomicUsize,
        stuck: AtomicBool,
    }

    impl Kv for SlowKv {
        fn get(&self, _: &str, _: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(None)
        }
        fn put(&self, _: &str, _: &[u8], _: &[u8]) -> Result<(), StoreError> {
            Ok(())
        }
        fn delete(&self, _: &str, _: &[u8]) -> Result<bool, StoreError> {
            Ok(false)
        }
        fn scan(&self, _: &str) -> Result<Vec<Entry>, StoreError> {
            Ok(Vec::new())
        }
        fn scan_prefix(&self, _: &str, _: &[u8]) -> Result<Vec<Entry>, StoreError> {
            Ok(Vec::new())
        }
        fn batch(&self, _: &[Write]) -> Result<(), StoreError> {
            Ok(())
        }
        fn flush(&self) -> Result<(), StoreError> {
            while self.stuck.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            self.flushes.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_answer_waits_for_the_flush_of_writes_made_before_it() {
        let kv = Arc::new(SlowKv::default());
        kv.stuck.store(true, Ordering::SeqCst); // the disk is slow: no flush finishes
        let flusher = Flusher::start(kv.clone());
        flusher.wrote();
        let (tx, mut rx) = oneshot::channel();
        AfterFlush::new(tx, flusher.durability()).send("stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            rx.try_recv().is_err(),
            "answered before the write was durable"
        );
        kv.stuck.store(false, Ordering::SeqCst);
        let answer = tokio::time::timeout(Duration::from_secs(5), rx).await;
        assert_eq!(answer.unwrap().unwrap(), "stored");
    }

    #[tokio::test]
    async fn an_answer_with_nothing_unflushed_goes_at_once() {
        let kv = Arc::new(SlowKv::default());
        let flusher = Flusher::start(kv.clone());
        let (tx, mut rx) = oneshot::channel();
        AfterFlush::new(tx, flusher.durability()).send(7);
        assert_eq!(rx.try_recv().unwrap(), 7);
        assert_eq!(kv.flushes.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn many_writes_share_flushes_and_closing_flushes_the_last() {
        let kv = Arc::new(SlowKv::default());
        kv.stuck.store(true, Ordering::SeqCst);
        let flusher = Flusher::start(kv.clone());
        let durability = flusher.durability();
        for _ in 0..1000 {
            flusher.wrote();
        }
        kv.stuck.store(false, Ordering::SeqCst);
        drop(flusher); // joins the thread after its final flush
        let flushes = kv.flushes.load(Ordering::SeqCst);
        assert!(
            (1..=3).contains(&flushes),
            "{flushes} flushes for 1000 writes"
        );
        assert!(durability.settled());
    }
}
