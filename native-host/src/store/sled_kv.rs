//! The sled implementation of [`Kv`].

use std::path::Path;

use super::{Entry, Kv, StoreError};

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
    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(err)
    }
}
