//! Files being fetched, as the gateway sees them: which chunks are verified on disk already,
//! and which chunks a player is waiting for (the fetcher asks for those first).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use kith_proto::ids::ItemId;

/// Most chunk wishes kept per file (older ones are dropped).
const MAX_WANTED: usize = 64;

/// One file being fetched.
pub struct LivePart {
    /// The part file it grows in (its descriptor stays valid after it is renamed).
    pub path: PathBuf,
    /// Its final size.
    pub size: u64,
    have: Mutex<Vec<bool>>,
    wanted: Mutex<VecDeque<u64>>,
    ended: AtomicBool,
    tick: watch::Sender<u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LivePart {
    /// A part file of `size` bytes whose verified chunks are `have`.
    pub fn new(path: PathBuf, size: u64, have: Vec<bool>) -> LivePart {
        LivePart {
            path,
            size,
            have: Mutex::new(have),
            wanted: Mutex::new(VecDeque::new()),
            ended: AtomicBool::new(false),
            tick: watch::channel(0).0,
        }
    }

    /// Whether chunk `i` is verified on disk.
    pub fn has(&self, i: u64) -> bool {
        lock(&self.have).get(i as usize).copied().unwrap_or(false)
    }

    /// Records that chunk `i` was verified and written.
    pub fn written(&self, i: u64) {
        if let Some(h) = lock(&self.have).get_mut(i as usize) {
            *h = true;
        }
        self.tick.send_modify(|t| *t += 1);
    }

    /// Asks the fetcher for chunk `i` before others.
    pub fn want(&self, i: u64) {
        let mut w = lock(&self.wanted);
        if !w.contains(&i) {
            if w.len() >= MAX_WANTED {
                w.pop_front();
            }
            w.push_back(i);
        }
    }

    /// The chunks wished for, oldest first, leaving none.
    pub fn take_wanted(&self) -> Vec<u64> {
        lock(&self.wanted).drain(..).collect()
    }

    /// Marks the fetch as over (done or stopped) and wakes everyone waiting.
    pub fn end(&self) {
        self.ended.store(true, Ordering::SeqCst);
        self.tick.send_modify(|t| *t += 1);
    }

    /// Whether the fetch is over.
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// A receiver that changes whenever a chunk arrives or the fetch ends.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.tick.subscribe()
    }
}

/// Every file being fetched, by item ID (hex).
#[derive(Default)]
pub struct Live {
    parts: Mutex<HashMap<ItemId, Arc<LivePart>>>,
}

impl Live {
    /// Registers a file being fetched.
    pub fn insert(&self, item: &ItemId, part: Arc<LivePart>) {
        lock(&self.parts).insert(item.clone(), part);
    }

    /// The file being fetched for `item`, if any.
    pub fn get(&self, item: &str) -> Option<Arc<LivePart>> {
        lock(&self.parts).get(item).cloned()
    }

    /// Ends and forgets the fetch of `item`, if `part` is still the registered one.
    pub fn remove(&self, item: &ItemId, part: &Arc<LivePart>) {
        let mut parts = lock(&self.parts);
        if parts.get(item).is_some_and(|p| Arc::ptr_eq(p, part)) {
            parts.remove(item);
        }
        part.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_chunks_wake_watchers_and_wishes_come_out_once_in_order() {
        let p = Arc::new(LivePart::new(PathBuf::from("/x"), 10, vec![false; 3]));
        let mut rx = p.watch();
        assert!(!p.has(1));
        p.written(1);
        assert!(p.has(1) && !p.has(7));
        assert!(rx.has_changed().unwrap_or(false));
        rx.mark_unchanged();
        p.want(2);
        p.want(0);
        p.want(2);
        assert_eq!(p.take_wanted(), vec![2, 0]);
        assert!(p.take_wanted().is_empty());
        let live = Live::default();
        live.insert(&"a".into(), p.clone());
        live.remove(&"a".into(), &p);
        assert!(live.get("a").is_none() && p.ended());
        assert!(rx.has_changed().unwrap_or(false));
    }
}
