//! Incident messages for the status page (checkup's "status messages"):
//! posted with `POST /api/messages`, shown until resolved with `POST
//! /api/messages/{id}/resolve`.
//!
//! Kept in memory and written through to the store's `messages` tree, so
//! they outlive a restart. Resolved messages stay listed on the page for
//! `RESOLVED_SHOWN` and are dropped from memory after `RESOLVED_KEPT`, or
//! sooner, oldest first, beyond `MAX_RESOLVED`: at most `MAX_OPEN` open
//! and `MAX_RESOLVED` resolved messages of `MAX_TEXT` bytes are kept.
//! Text is plain text: the page escapes it.

use std::sync::Mutex;

use lovebeat_core::Millis;
use lovebeat_store::{MessageRecord, Store, StoreError};

/// Longest message text, in bytes.
pub(crate) const MAX_TEXT: usize = 2000;
/// Most unresolved messages at once.
pub(crate) const MAX_OPEN: usize = 100;
/// Most resolved messages kept; resolving one more drops the one resolved
/// longest ago.
pub(crate) const MAX_RESOLVED: usize = 100;
/// How long a resolved message is still shown (as resolved).
pub(crate) const RESOLVED_SHOWN: Millis = 24 * 3600 * 1000;
/// How long a resolved message is kept at all.
const RESOLVED_KEPT: Millis = 7 * 24 * 3600 * 1000;

/// Why a message was not taken.
#[derive(Debug)]
pub enum MessageError {
    /// No text.
    Empty,
    /// More text than a message holds.
    TooLong,
    /// Too many messages are open already.
    TooMany,
    /// No message has that id.
    NotFound,
    /// The store could not save it.
    Store(StoreError),
}

impl std::fmt::Display for MessageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MessageError::Empty => f.write_str("the message text is empty: give text=…"),
            MessageError::TooLong => write!(f, "the message is longer than {MAX_TEXT} bytes"),
            MessageError::TooMany => {
                write!(f, "{MAX_OPEN} messages are open already; resolve some")
            }
            MessageError::NotFound => f.write_str("no such message"),
            MessageError::Store(e) => write!(f, "cannot save the message: {e}"),
        }
    }
}

impl std::error::Error for MessageError {}

/// The messages, oldest first; the store, if any, gets every change.
#[derive(Debug, Default)]
pub struct MessageBoard {
    messages: Mutex<Vec<MessageRecord>>,
    store: Option<Store>,
    /// Ids for a board without a store.
    next_id: Mutex<u64>,
}

impl MessageBoard {
    /// The messages kept in `store`, old resolved ones left out.
    pub fn load(store: Option<Store>, now: Millis) -> Result<MessageBoard, StoreError> {
        let mut messages = Vec::new();
        if let Some(store) = &store {
            for m in store.messages()? {
                if m.resolved.is_some_and(|at| now - at > RESOLVED_KEPT) {
                    store.remove_message(m.id)?;
                } else {
                    messages.push(m);
                }
            }
        }
        let next_id = messages.iter().map(|m| m.id + 1).max().unwrap_or(1);
        let board = MessageBoard {
            messages: Mutex::new(messages),
            store,
            next_id: Mutex::new(next_id),
        };
        board.drop_oldest_resolved()?;
        Ok(board)
    }

    /// Posts a message; blocks on the store's flush.
    pub fn post(&self, text: &str, now: Millis) -> Result<MessageRecord, MessageError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(MessageError::Empty);
        }
        if text.len() > MAX_TEXT {
            return Err(MessageError::TooLong);
        }
        if self.lock().iter().filter(|m| m.resolved.is_none()).count() >= MAX_OPEN {
            return Err(MessageError::TooMany);
        }
        let record = MessageRecord {
            id: self.fresh_id()?,
            text: text.to_owned(),
            created: now,
            resolved: None,
        };
        self.save(&record)?;
        self.lock().push(record.clone());
        Ok(record)
    }

    /// Marks a message resolved (again is fine); blocks on the store's flush.
    pub fn resolve(&self, id: u64, now: Millis) -> Result<MessageRecord, MessageError> {
        let mut record =
            (self.lock().iter().find(|m| m.id == id).cloned()).ok_or(MessageError::NotFound)?;
        record.resolved.get_or_insert(now);
        self.save(&record)?;
        let mut messages = self.lock();
        if let Some(m) = messages.iter_mut().find(|m| m.id == id) {
            *m = record.clone();
        }
        drop(messages);
        if let Err(e) = self.drop_oldest_resolved() {
            // Kept for now; the next resolve or start drops them.
            tracing::warn!(error = %e, "cannot drop old resolved messages");
        }
        Ok(record)
    }

    /// Forgets the resolved messages beyond [`MAX_RESOLVED`], those
    /// resolved longest ago first: from the store, then from memory.
    fn drop_oldest_resolved(&self) -> Result<(), StoreError> {
        let mut resolved: Vec<(Millis, u64)> = (self.lock().iter())
            .filter_map(|m| Some((m.resolved?, m.id)))
            .collect();
        let Some(excess) = resolved.len().checked_sub(MAX_RESOLVED) else {
            return Ok(());
        };
        resolved.sort_unstable();
        let dropped: Vec<u64> = resolved[..excess].iter().map(|&(_, id)| id).collect();
        if let Some(store) = &self.store {
            dropped
                .iter()
                .try_for_each(|&id| store.remove_message(id))?;
        }
        self.lock().retain(|m| !dropped.contains(&m.id));
        Ok(())
    }

    /// Every message, oldest first.
    pub fn list(&self) -> Vec<MessageRecord> {
        self.lock().clone()
    }

    /// What the status page shows at `now`: open messages, and those
    /// resolved within `RESOLVED_SHOWN`; newest first.
    pub fn shown(&self, now: Millis) -> Vec<MessageRecord> {
        let mut shown: Vec<MessageRecord> = (self.lock().iter())
            .filter(|m| m.resolved.is_none_or(|at| now - at <= RESOLVED_SHOWN))
            .cloned()
            .collect();
        shown.reverse();
        shown
    }

    fn fresh_id(&self) -> Result<u64, MessageError> {
        match &self.store {
            Some(store) => store.next_message_id().map_err(MessageError::Store),
            None => {
                let mut next = self
                    .next_id
                    .lock()
                    .expect("no panics while holding the lock");
                *next += 1;
                Ok(*next - 1)
            }
        }
    }

    fn save(&self, record: &MessageRecord) -> Result<(), MessageError> {
        match &self.store {
            Some(store) => store.put_message(record).map_err(MessageError::Store),
            None => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<MessageRecord>> {
        self.messages
            .lock()
            .expect("no panics while holding the lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_shown_until_a_day_after_it_is_resolved() {
        let board = MessageBoard::default();
        let m = board.post("  database slow  ", 1000).unwrap();
        assert_eq!(m.text, "database slow");
        assert_eq!(board.shown(2000).len(), 1);
        board.resolve(m.id, 3000).unwrap();
        assert_eq!(board.shown(3000 + RESOLVED_SHOWN).len(), 1);
        assert!(board.shown(3001 + RESOLVED_SHOWN).is_empty());
        assert_eq!(board.list().len(), 1);
    }

    #[test]
    fn newest_messages_come_first() {
        let board = MessageBoard::default();
        board.post("first", 1).unwrap();
        board.post("second", 2).unwrap();
        let texts: Vec<String> = board.shown(3).into_iter().map(|m| m.text).collect();
        assert_eq!(texts, ["second", "first"]);
    }

    #[test]
    fn bad_messages_are_refused() {
        let board = MessageBoard::default();
        assert!(matches!(board.post(" ", 0), Err(MessageError::Empty)));
        let long = "x".repeat(MAX_TEXT + 1);
        assert!(matches!(board.post(&long, 0), Err(MessageError::TooLong)));
        assert!(matches!(board.resolve(42, 0), Err(MessageError::NotFound)));
    }

    #[test]
    fn beyond_max_resolved_the_oldest_resolved_messages_go_and_stay_gone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let board = MessageBoard::load(Some(store.clone()), 0).unwrap();
        let open = board.post("still open", 0).unwrap();
        for i in 0..MAX_RESOLVED as i64 + 5 {
            let m = board.post(&format!("incident {i}"), i).unwrap();
            board.resolve(m.id, 1000 + i).unwrap();
        }
        let kept = board.list();
        assert_eq!(kept.len(), MAX_RESOLVED + 1, "the cap and the open one");
        assert!(kept.iter().any(|m| m.id == open.id));
        let texts: Vec<&str> = kept.iter().map(|m| m.text.as_str()).collect();
        assert!(!texts.contains(&"incident 4") && texts.contains(&"incident 5"));
        let reloaded = MessageBoard::load(Some(store), 2000).unwrap();
        assert_eq!(reloaded.list(), kept, "dropped from the store too");
    }

    #[test]
    fn messages_outlive_a_restart_and_old_resolved_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let board = MessageBoard::load(Some(store.clone()), 0).unwrap();
        let old = board.post("old", 0).unwrap();
        board.resolve(old.id, 0).unwrap();
        board.post("open", 0).unwrap();
        let board = MessageBoard::load(Some(store), RESOLVED_KEPT + 1).unwrap();
        let texts: Vec<String> = board.list().into_iter().map(|m| m.text).collect();
        assert_eq!(texts, ["open"]);
    }
}
