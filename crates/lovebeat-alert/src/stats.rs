//! What the alerter did: counters per back-end kind for `/metrics`, and per
//! entry and kind the pending count and the last error, for the HTTP API.
//!
//! Counters are relaxed atomics. The per-entry status sits behind a std
//! mutex that is only taken for a moment, never across an `.await`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use lovebeat_core::Millis;
use serde::Serialize;

use crate::alert::Kind;

/// The `result` label of `lovebeat_alerts_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered.
    Sent,
    /// One attempt failed.
    Failed,
    /// An attempt after a failure was started.
    Retried,
    /// Dropped undelivered, too old to try again.
    GaveUp,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Sent,
        Outcome::Failed,
        Outcome::Retried,
        Outcome::GaveUp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Failed => "failed",
            Outcome::Retried => "retried",
            Outcome::GaveUp => "gave_up",
        }
    }
}

/// A failed attempt, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastError {
    pub kind: Kind,
    /// When, ms since the epoch.
    pub at: Millis,
    pub message: String,
}

/// One back-end of one entry, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendStatus {
    pub kind: Kind,
    /// Deliveries waiting or being attempted.
    pub pending: usize,
    pub sent: u64,
    pub failed: u64,
    pub last_sent: Option<Millis>,
    pub last_error: Option<LastError>,
}

/// One `[alerts.NAME]` entry, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryStatus {
    pub name: String,
    pub pending: usize,
    /// The latest failure of any of its back-ends.
    pub last_error: Option<LastError>,
    pub backends: Vec<BackendStatus>,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    counts: [[AtomicU64; Outcome::ALL.len()]; Kind::ALL.len()],
    channels: Mutex<BTreeMap<(String, Kind), BackendStatus>>,
}

impl Stats {
    /// Lists a configured back-end, so the API shows it before it acts.
    pub fn register(&self, entry: &str, kind: Kind) {
        self.update(entry, kind, |_| {});
    }

    pub fn count(&self, kind: Kind, outcome: Outcome) -> u64 {
        self.counts[kind.index()][outcome as usize].load(Relaxed)
    }

    pub fn queued(&self, entry: &str, kind: Kind) {
        self.update(entry, kind, |s| s.pending += 1);
    }

    pub fn sent(&self, entry: &str, kind: Kind, at: Millis) {
        self.bump(kind, Outcome::Sent);
        self.update(entry, kind, |s| {
            s.pending = s.pending.saturating_sub(1);
            s.sent += 1;
            s.last_sent = Some(at);
        });
    }

    pub fn failed(&self, entry: &str, kind: Kind, at: Millis, message: String) {
        self.bump(kind, Outcome::Failed);
        self.update(entry, kind, |s| {
            s.failed += 1;
            s.last_error = Some(LastError { kind, at, message });
        });
    }

    pub fn retried(&self, kind: Kind) {
        self.bump(kind, Outcome::Retried);
    }

    /// A delivery left the queue undelivered (given up, or unconfigured).
    pub fn dropped(&self, entry: &str, kind: Kind, gave_up: bool) {
        if gave_up {
            self.bump(kind, Outcome::GaveUp);
        }
        self.update(entry, kind, |s| s.pending = s.pending.saturating_sub(1));
    }

    /// Every entry with its back-ends, by name.
    pub fn entries(&self) -> Vec<EntryStatus> {
        let channels = self.channels.lock().expect("stats lock");
        let mut entries: Vec<EntryStatus> = Vec::new();
        for ((name, _), backend) in channels.iter() {
            if entries.last().is_none_or(|e| &e.name != name) {
                entries.push(EntryStatus {
                    name: name.clone(),
                    pending: 0,
                    last_error: None,
                    backends: Vec::new(),
                });
            }
            let entry = entries.last_mut().expect("just pushed");
            entry.pending += backend.pending;
            if let Some(error) = &backend.last_error
                && entry.last_error.as_ref().is_none_or(|e| e.at <= error.at)
            {
                entry.last_error = Some(error.clone());
            }
            entry.backends.push(backend.clone());
        }
        entries
    }

    fn bump(&self, kind: Kind, outcome: Outcome) {
        self.counts[kind.index()][outcome as usize].fetch_add(1, Relaxed);
    }

    fn update(&self, entry: &str, kind: Kind, f: impl FnOnce(&mut BackendStatus)) {
        let mut channels = self.channels.lock().expect("stats lock");
        let status = channels
            .entry((entry.to_owned(), kind))
            .or_insert_with(|| BackendStatus {
                kind,
                pending: 0,
                sent: 0,
                failed: 0,
                last_sent: None,
                last_error: None,
            });
        f(status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_per_kind_and_outcome() {
        let stats = Stats::default();
        stats.sent("ops", Kind::Mail, 1);
        stats.failed("ops", Kind::Webhook, 2, "down".into());
        assert_eq!(stats.count(Kind::Mail, Outcome::Sent), 1);
        assert_eq!(stats.count(Kind::Webhook, Outcome::Failed), 1);
        assert_eq!(stats.count(Kind::Webhook, Outcome::Sent), 0);
    }

    #[test]
    fn pending_counts_queued_until_done() {
        let stats = Stats::default();
        stats.queued("ops", Kind::Mail);
        stats.queued("ops", Kind::Mail);
        stats.sent("ops", Kind::Mail, 1);
        assert_eq!(stats.entries()[0].pending, 1);
        stats.dropped("ops", Kind::Mail, true);
        assert_eq!(stats.entries()[0].pending, 0);
        assert_eq!(stats.count(Kind::Mail, Outcome::GaveUp), 1);
    }

    #[test]
    fn an_entry_shows_its_latest_error() {
        let stats = Stats::default();
        stats.failed("ops", Kind::Webhook, 5, "late".into());
        stats.failed("ops", Kind::Mail, 3, "early".into());
        stats.register("quiet", Kind::Script);
        let entries = stats.entries();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].last_error.as_ref().unwrap().message, "late");
        assert_eq!(entries[0].backends.len(), 2);
        assert_eq!(entries[1].last_error, None);
    }
}
