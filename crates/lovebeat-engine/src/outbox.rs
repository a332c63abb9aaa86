//! The alert outbox kept in the store: [`lovebeat_alert::Outbox`] over
//! the store's outbox tree, so alerts survive restarts and crashes.
//!
//! The alert crate knows no store and the store knows no alerts; this
//! newtype is where they meet. Every call is the store's, which flushes
//! before it returns.

use lovebeat_alert::{Outbox, OutboxError};
use lovebeat_store::Store;

/// The store, seen as an alert outbox.
pub struct StoreOutbox(pub Store);

impl Outbox for StoreOutbox {
    fn push(&self, entry: &[u8]) -> Result<u64, OutboxError> {
        self.0.outbox_push(entry).map_err(OutboxError::new)
    }

    fn replace(&self, id: u64, entry: &[u8]) -> Result<(), OutboxError> {
        self.0.outbox_replace(id, entry).map_err(OutboxError::new)
    }

    fn remove(&self, id: u64) -> Result<(), OutboxError> {
        self.0.outbox_remove(id).map_err(OutboxError::new)
    }

    fn entries(&self) -> Result<Vec<(u64, Vec<u8>)>, OutboxError> {
        self.0.outbox_entries().map_err(OutboxError::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_pushed_come_back_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = StoreOutbox(Store::open(&dir.path().join("db")).unwrap());
        let (a, b) = (outbox.push(b"a").unwrap(), outbox.push(b"b").unwrap());
        outbox.replace(a, b"a2").unwrap();
        outbox.remove(b).unwrap();
        assert_eq!(outbox.entries().unwrap(), [(a, b"a2".to_vec())]);
    }
}
