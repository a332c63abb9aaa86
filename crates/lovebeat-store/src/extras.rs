//! The push tokens of services and the status page's incident messages:
//! small trees written through at once (every call flushes), read whole at
//! startup.
//!
//! Callers: the monitors' token book (`POST /api/tokens/{name}`, `POST
//! /signal`) and message board (`POST /api/messages`). Neither knows how
//! a token is hashed or what a message says; they keep the records.

use std::io::{self, Write};

use lovebeat_core::Millis;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::replace;
use crate::schema::{self, MESSAGES, STATUS_HISTORY_KEY, TOKENS};
use crate::store::Store;

/// The file in the store directory that holds the status page's history.
const STATUS_HISTORY_FILE: &str = "status-history";

/// The push token of one service (statuscope's per-application token).
/// Only its SHA-256 is kept: the token itself is shown once, when made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub service: String,
    /// The SHA-256 of the token, lowercase hex.
    pub sha256: String,
    /// When the token was made, ms since the epoch.
    pub created: Millis,
}

/// An incident message of the status page, shown until resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub id: u64,
    pub text: String,
    pub created: Millis,
    /// When it was resolved; `None` while it is shown.
    pub resolved: Option<Millis>,
}

impl Store {
    /// Every stored token, in service-name order (read at startup: what
    /// goes wrong is reported as damage).
    pub fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let mut records = Vec::new();
        for entry in self.handles()?.tokens.iter() {
            let read = entry.map_err(|e| StoreError::database("read", e));
            let record = read.and_then(|(key, value)| schema::decode(TOKENS, &key, &value));
            records.push(record.map_err(|e| e.into_damage(self.path()))?);
        }
        Ok(records)
    }

    /// Adds or replaces the token of `record.service`; on disk when this returns.
    pub fn put_token(&self, record: &TokenRecord) -> Result<(), StoreError> {
        self.handles()?
            .tokens
            .insert(record.service.as_bytes(), schema::encode(record))
            .map_err(|e| StoreError::database("write", e))?;
        self.flush()
    }

    /// Removes the token of `service`; removing one that is not there is fine.
    pub fn remove_token(&self, service: &str) -> Result<(), StoreError> {
        self.handles()?
            .tokens
            .remove(service.as_bytes())
            .map_err(|e| StoreError::database("write", e))?;
        self.flush()
    }

    /// Every stored message, in id order (read at startup: what goes
    /// wrong is reported as damage).
    pub fn messages(&self) -> Result<Vec<MessageRecord>, StoreError> {
        let mut records = Vec::new();
        for entry in self.handles()?.messages.iter() {
            let read = entry.map_err(|e| StoreError::database("read", e));
            let record = read.and_then(|(key, value)| schema::decode(MESSAGES, &key, &value));
            records.push(record.map_err(|e| e.into_damage(self.path()))?);
        }
        Ok(records)
    }

    /// A fresh message id: greater than every id handed out before.
    pub fn next_message_id(&self) -> Result<u64, StoreError> {
        self.handles()?
            .db
            .generate_id()
            .map_err(|e| StoreError::database("write", e))
    }

    /// Adds or replaces a message; on disk when this returns.
    pub fn put_message(&self, record: &MessageRecord) -> Result<(), StoreError> {
        self.handles()?
            .messages
            .insert(schema::outbox_key(record.id), schema::encode(record))
            .map_err(|e| StoreError::database("write", e))?;
        self.flush()
    }

    /// The status page's hourly history as last saved, if ever: the
    /// `status-history` file in the store directory, or where lovebeat
    /// 1.1.0 kept it, under a key of the database.
    pub fn status_history(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path().join(STATUS_HISTORY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => return Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                let action = "read";
                return Err(StoreError::Io {
                    path,
                    action,
                    source,
                });
            }
        }
        let stored = (self.handles()?.db.get(STATUS_HISTORY_KEY))
            .map_err(|e| StoreError::database("read", e))?;
        Ok(stored.map(|bytes| bytes.to_vec()))
    }

    /// Saves the status page's hourly history (`lovebeat-monitors`' bytes) in
    /// the `status-history` file, through a temporary renamed over it.
    /// Not in the database: sled reads every large value written since
    /// its last snapshot when it opens, and this one is tens of bytes per
    /// service. Not synced either: it is only a picture of the past, and
    /// the monitors' reader refuses one a crash cut short.
    pub fn put_status_history(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.path().join(STATUS_HISTORY_FILE);
        replace::replace(&path, |mut file| file.write_all(bytes)).map_err(|source| {
            StoreError::Io {
                path,
                action: "write",
                source,
            }
        })?;
        // lovebeat 1.1.0's copy in the database, now out of date.
        let h = self.handles()?;
        let removed =
            (h.db.remove(STATUS_HISTORY_KEY)).map_err(|e| StoreError::database("write", e))?;
        drop(h);
        if removed.is_some() {
            self.flush()?;
        }
        Ok(())
    }

    /// Removes a message for good.
    pub fn remove_message(&self, id: u64) -> Result<(), StoreError> {
        self.handles()?
            .messages
            .remove(schema::outbox_key(id))
            .map_err(|e| StoreError::database("write", e))?;
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_kept_replaced_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path).unwrap();
        let token = |service: &str, sha256: &str| TokenRecord {
            service: service.into(),
            sha256: sha256.into(),
            created: 1,
        };
        store.put_token(&token("b", "00")).unwrap();
        store.put_token(&token("a", "11")).unwrap();
        store.put_token(&token("a", "22")).unwrap();
        store.remove_token("b").unwrap();
        drop(store);
        let store = crate::testing::open_again(&path).unwrap();
        assert_eq!(store.tokens().unwrap(), vec![token("a", "22")]);
    }

    #[test]
    fn messages_sort_by_id_and_outlive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path).unwrap();
        let first = store.next_message_id().unwrap();
        let second = store.next_message_id().unwrap();
        assert!(second > first);
        for (id, text) in [(second, "later"), (first, "earlier")] {
            let record = MessageRecord {
                id,
                text: text.into(),
                created: 1,
                resolved: None,
            };
            store.put_message(&record).unwrap();
        }
        drop(store);
        let store = crate::testing::open_again(&path).unwrap();
        let texts: Vec<String> = store
            .messages()
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert_eq!(texts, ["earlier", "later"]);
        assert!(store.is_empty(), "messages are not services or views");
    }

    #[test]
    fn the_status_history_is_kept_as_given() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        assert_eq!(store.status_history().unwrap(), None);
        store.put_status_history(b"[1,2]").unwrap();
        assert_eq!(
            store.status_history().unwrap().as_deref(),
            Some(&b"[1,2]"[..])
        );
    }

    #[test]
    fn the_history_lovebeat_1_1_0_kept_in_the_database_is_read_then_moved() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let db = || store.handles().unwrap().db.clone();
        db().insert(STATUS_HISTORY_KEY, &b"old"[..]).unwrap();
        assert_eq!(
            store.status_history().unwrap().as_deref(),
            Some(&b"old"[..])
        );
        store.put_status_history(b"new").unwrap();
        assert_eq!(db().get(STATUS_HISTORY_KEY).unwrap(), None);
        assert_eq!(
            store.status_history().unwrap().as_deref(),
            Some(&b"new"[..])
        );
    }

    /// Format 1 records as this version writes them.
    #[test]
    fn format_1_token_and_message_records_still_read() {
        let token = r#"{"service":"my_app","sha256":"ab","created":5}"#;
        let t: TokenRecord = schema::decode(TOKENS, b"my_app", token.as_bytes()).unwrap();
        assert_eq!(t.sha256, "ab");
        let message = r#"{"id":3,"text":"db slow","created":5,"resolved":null}"#;
        let m: MessageRecord = schema::decode(MESSAGES, b"3", message.as_bytes()).unwrap();
        assert_eq!((m.id, m.resolved), (3, None));
    }
}
