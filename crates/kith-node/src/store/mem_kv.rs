//! An in-memory [`Kv`] for tests, with a crash switch: after a set number of writes, every
//! write fails as if the process had died there.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{Entry, Kv, StoreError, Write};

type Trees = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

/// Trees in memory; `crash_after` makes later writes fail. Clones share the same trees, so a
/// test keeps one to reach the crash switch of a `Store` it gave the other to.
#[derive(Default, Clone)]
pub struct MemKv {
    trees: Arc<Mutex<Trees>>,
    /// Writes (a put, a delete or a whole batch) that still succeed; None: no limit.
    writes_left: Arc<Mutex<Option<usize>>>,
}

impl MemKv {
    /// After `n` more writes, every write fails and changes nothing (the crash point).
    pub fn crash_after(&self, n: usize) {
        *self.writes_left.lock().unwrap() = Some(n);
    }

    /// Counts a write against the crash point; an error once it is reached.
    fn write(&self) -> Result<(), StoreError> {
        let mut left = self.writes_left.lock().unwrap();
        match left.as_mut() {
            Some(0) => Err(StoreError::Db("crashed".into())),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl Kv for MemKv {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let trees = self.trees.lock().unwrap();
        Ok(trees.get(tree).and_then(|t| t.get(key)).cloned())
    }
    fn put(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.write()?;
        let mut trees = self.trees.lock().unwrap();
        trees
            .entry(tree.to_string())
            .or_default()
            .insert(key.to_vec(), value.to_vec());
        Ok(())
    }
    fn delete(&self, tree: &str, key: &[u8]) -> Result<bool, StoreError> {
        self.write()?;
        let mut trees = self.trees.lock().unwrap();
        Ok(trees.get_mut(tree).and_then(|t| t.remove(key)).is_some())
    }
    fn scan(&self, tree: &str) -> Result<Vec<Entry>, StoreError> {
        self.scan_prefix(tree, b"")
    }
    fn scan_prefix(&self, tree: &str, prefix: &[u8]) -> Result<Vec<Entry>, StoreError> {
        let trees = self.trees.lock().unwrap();
        Ok(trees
            .get(tree)
            .map(|t| {
                t.iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }
    /// Applies the writes to a copy and swaps it in: one write for the crash point.
    fn batch(&self, writes: &[Write]) -> Result<(), StoreError> {
        self.write()?;
        let mut trees = self.trees.lock().unwrap();
        let mut next = trees.clone();
        for w in writes {
            let t = next.entry(w.tree().to_string()).or_default();
            match w {
                Write::Put { key, value, .. } => {
                    t.insert(key.clone(), value.clone());
                }
                Write::Remove { key, .. } => {
                    t.remove(key);
                }
            }
        }
        *trees = next;
        Ok(())
    }
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
