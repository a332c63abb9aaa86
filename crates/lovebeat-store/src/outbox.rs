//! The alert outbox: alerts waiting to be delivered, durable so that a
//! crash or restart never loses one.
//!
//! Entries are opaque bytes (the alerter owns their format) under a `u64`
//! id. Ids come from sled's id generator: they increase with every push,
//! also across restarts and crashes, and are never reused. Every call
//! flushes before it returns, so a pushed entry survives `kill -9` once
//! [`Store::outbox_push`] returned, and a removed one stays removed.

use crate::error::StoreError;
use crate::schema::{outbox_id, outbox_key};
use crate::store::Store;

impl Store {
    /// Adds an entry; it is on disk when this returns. Returns its id,
    /// greater than every id handed out before.
    pub fn outbox_push(&self, entry: &[u8]) -> Result<u64, StoreError> {
        let h = self.handles()?;
        let id = (h.db.generate_id()).map_err(|e| StoreError::database("outbox write", e))?;
        (h.outbox.insert(outbox_key(id), entry))
            .map_err(|e| StoreError::database("outbox write", e))?;
        drop(h);
        self.flush()?;
        Ok(id)
    }

    /// Replaces the entry `id` (e.g. with its attempt count raised);
    /// [`StoreError::NoSuchOutboxEntry`] if it is not there.
    pub fn outbox_replace(&self, id: u64, entry: &[u8]) -> Result<(), StoreError> {
        let previous = (self.handles()?.outbox)
            .fetch_and_update(outbox_key(id), |old| old.map(|_| entry.to_vec()))
            .map_err(|e| StoreError::database("outbox write", e))?;
        if previous.is_none() {
            return Err(StoreError::NoSuchOutboxEntry(id));
        }
        self.flush()
    }

    /// Removes the entry `id`; removing one that is not there is fine.
    pub fn outbox_remove(&self, id: u64) -> Result<(), StoreError> {
        (self.handles()?.outbox)
            .remove(outbox_key(id))
            .map_err(|e| StoreError::database("outbox write", e))?;
        self.flush()
    }

    /// Every entry, in id order (read at startup: what goes wrong is
    /// reported as damage).
    pub fn outbox_entries(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut entries = Vec::new();
        for item in self.handles()?.outbox.iter() {
            let damage = |e: StoreError| e.into_damage(self.path());
            let (key, value) = item.map_err(|e| damage(StoreError::database("outbox read", e)))?;
            let id = outbox_id(&key).ok_or_else(|| {
                damage(StoreError::Record {
                    tree: crate::schema::OUTBOX,
                    key: format!("{key:?}"),
                    detail: "an outbox key is 8 bytes".to_owned(),
                })
            })?;
            entries.push((id, value.to_vec()));
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        (dir, store)
    }

    #[test]
    fn pushed_entries_come_back_in_id_order() {
        let (_dir, store) = store();
        let a = store.outbox_push(b"a").unwrap();
        let b = store.outbox_push(b"b").unwrap();
        assert!(b > a);
        let entries = store.outbox_entries().unwrap();
        assert_eq!(entries, vec![(a, b"a".to_vec()), (b, b"b".to_vec())]);
    }

    #[test]
    fn a_replaced_entry_keeps_its_id_and_place() {
        let (_dir, store) = store();
        let a = store.outbox_push(b"a").unwrap();
        let b = store.outbox_push(b"b").unwrap();
        store.outbox_replace(a, b"a, attempt 2").unwrap();
        let entries = store.outbox_entries().unwrap();
        assert_eq!(
            entries,
            vec![(a, b"a, attempt 2".to_vec()), (b, b"b".to_vec())]
        );
    }

    #[test]
    fn replacing_a_missing_entry_is_an_error() {
        let (_dir, store) = store();
        let a = store.outbox_push(b"a").unwrap();
        store.outbox_remove(a).unwrap();
        let err = store.outbox_replace(a, b"x").unwrap_err();
        assert!(matches!(err, StoreError::NoSuchOutboxEntry(id) if id == a));
        assert!(store.outbox_entries().unwrap().is_empty());
    }

    #[test]
    fn removing_twice_is_fine() {
        let (_dir, store) = store();
        let a = store.outbox_push(b"a").unwrap();
        store.outbox_remove(a).unwrap();
        store.outbox_remove(a).unwrap();
    }

    #[test]
    fn ids_keep_increasing_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = crate::testing::open_again(&path).unwrap();
        let a = store.outbox_push(b"a").unwrap();
        store.outbox_remove(a).unwrap();
        drop(store);
        let store = crate::testing::open_again(&path).unwrap();
        let b = store.outbox_push(b"b").unwrap();
        assert!(b > a, "{b} > {a}");
    }

    #[test]
    fn entries_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = crate::testing::open_again(&path).unwrap();
        let a = store.outbox_push(b"alert").unwrap();
        drop(store);
        let store = crate::testing::open_again(&path).unwrap();
        assert_eq!(
            store.outbox_entries().unwrap(),
            vec![(a, b"alert".to_vec())]
        );
    }

    #[test]
    fn the_store_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Store>();
    }
}
