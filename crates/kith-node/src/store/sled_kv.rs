//! The sled implementation of [`Kv`].

use std::path::Path;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::{Entry, Kv, StoreError, Write};

/// A sled database with a bounded page cache.
pub struct SledKv {
    db: sled::Db,
}

fn err(e: sled::Error) -> StoreError {
    StoreError::Db(e.to_string())
}

impl SledKv {
    /// Opens or creates the database.
    pub fn open(path: &Path) -> Result<SledKv, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(16 * 1024 * 1024)
            .open()
            .map_err(err)?;
        Ok(SledKv { db })
    }
}

impl Kv for SledKv {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let t = self.db.open_tree(tree).map_err(err)?;
        Ok(t.get(key).map_err(err)?.map(|v| v.to_vec()))
    }
    fn put(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let t = self.db.open_tree(tree).map_err(err)?;
        t.insert(key, value).map_err(err)?;
        Ok(())
    }
    fn delete(&self, tree: &str, key: &[u8]) -> Result<bool, StoreError> {
        let t = self.db.open_tree(tree).map_err(err)?;
        Ok(t.remove(key).map_err(err)?.is_some())
    }
    fn scan(&self, tree: &str) -> Result<Vec<Entry>, StoreError> {
        let t = self.db.open_tree(tree).map_err(err)?;
        t.iter()
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(err))
            .collect()
    }
    fn scan_prefix(&self, tree: &str, prefix: &[u8]) -> Result<Vec<Entry>, StoreError> {
        let t = self.db.open_tree(tree).map_err(err)?;
        t.scan_prefix(prefix)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(err))
            .collect()
    }
    /// One sled transaction over every tree the batch touches: atomic across the trees.
    fn batch(&self, writes: &[Write]) -> Result<(), StoreError> {
        let mut names: Vec<&str> = writes.iter().map(Write::tree).collect();
        names.sort_unstable();
        names.dedup();
        let trees = names
            .iter()
            .map(|n| self.db.open_tree(n))
            .collect::<Result<Vec<sled::Tree>, _>>()
            .map_err(err)?;
        let at = |tree: &str| names.binary_search(&tree).unwrap_or_default();
        trees
            .as_slice()
            .transaction(|txs| {
                for w in writes {
                    let t = &txs[at(w.tree())];
                    match w {
                        Write::Put { key, value, .. } => {
                            t.insert(key.as_slice(), value.as_slice())?;
                        }
                        Write::Remove { key, .. } => {
                            t.remove(key.as_slice())?;
                        }
                    }
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => err(e),
                TransactionError::Abort(()) => StoreError::Db("a batch was aborted".into()),
            })
    }
    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(err)
    }
}
