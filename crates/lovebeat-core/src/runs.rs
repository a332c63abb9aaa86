//! Runs of a job: a `start`, then a success or a failure that closes the
//! run and records how long it took. A run still open past its limit makes
//! the service late (`ServiceRecord::state_at`).
//!
//! Pairing follows healthchecks: an end that names a run id closes the run
//! started with that id (and only it); an end without one closes every open
//! run, its duration measured from the latest start. A start older than
//! [`UNPAIRED_AFTER_MS`] is dropped when the next one comes, and at most
//! [`MAX_OPEN`] runs are open at once (the oldest makes room).

use serde::{Deserialize, Serialize};

use crate::Millis;

/// Runs open at once, at most.
pub const MAX_OPEN: usize = 16;

/// A start this old is no longer paired with an end (72 hours).
pub const UNPAIRED_AFTER_MS: Millis = 72 * 3600 * 1000;

/// A service's runs: those still open, and the last one's duration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runs {
    /// Runs started and not yet finished, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open: Vec<OpenRun>,
    /// How long the last finished run took, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_duration: Option<u64>,
    /// How long a run may take before the service is late, ms; `None`:
    /// the schedule's grace, else the error timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<u64>,
}

/// One run in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRun {
    /// The run id the start gave (healthchecks' `rid`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Box<str>>,
    /// When it started.
    pub started: Millis,
}

/// Which open runs an end closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd<'a> {
    /// Every open run (an end without a run id).
    All,
    /// The run started with this id.
    Id(&'a str),
}

impl Runs {
    /// A run starts at `now`; a start with the id of an open run starts it
    /// again.
    pub fn start(&mut self, now: Millis, id: Option<&str>) {
        self.open.retain(|run| {
            now - run.started < UNPAIRED_AFTER_MS && (id.is_none() || run.id.as_deref() != id)
        });
        if self.open.len() == MAX_OPEN {
            self.open.remove(0);
        }
        self.open.push(OpenRun {
            id: id.map(Box::from),
            started: now,
        });
    }

    /// Closes the runs `end` names at `now`; returns the duration measured,
    /// if a start was found for it.
    pub fn end(&mut self, now: Millis, end: RunEnd<'_>) -> Option<u64> {
        let started = match end {
            RunEnd::All => {
                let latest = self.open.last().map(|run| run.started);
                self.open.clear();
                latest
            }
            RunEnd::Id(id) => {
                let at = self
                    .open
                    .iter()
                    .position(|run| run.id.as_deref() == Some(id));
                at.map(|at| self.open.remove(at).started)
            }
        };
        let duration = started.map(|started| u64::try_from(now - started).unwrap_or(0));
        if duration.is_some() {
            self.last_duration = duration;
        }
        duration
    }

    /// The oldest run still open, if any.
    pub fn oldest_open(&self) -> Option<&OpenRun> {
        self.open.first()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_without_an_id_closes_every_run_from_the_latest_start() {
        let mut runs = Runs::default();
        runs.start(1000, None);
        runs.start(3000, Some("a"));
        assert_eq!(runs.end(10_000, RunEnd::All), Some(7000));
        assert!(runs.open.is_empty());
        assert_eq!(runs.last_duration, Some(7000));
        assert_eq!(runs.end(11_000, RunEnd::All), None, "nothing was open");
        assert_eq!(runs.last_duration, Some(7000));
    }

    #[test]
    fn an_id_pairs_overlapping_runs() {
        let mut runs = Runs::default();
        runs.start(1000, Some("a"));
        runs.start(2000, Some("b"));
        assert_eq!(runs.end(5000, RunEnd::Id("a")), Some(4000));
        assert_eq!(runs.oldest_open().unwrap().id.as_deref(), Some("b"));
        assert_eq!(runs.end(6000, RunEnd::Id("a")), None, "a is closed");
        assert_eq!(runs.end(9000, RunEnd::Id("b")), Some(7000));
    }

    #[test]
    fn old_starts_are_dropped_and_open_runs_are_bounded() {
        let mut runs = Runs::default();
        runs.start(0, Some("old"));
        runs.start(UNPAIRED_AFTER_MS, Some("new"));
        assert_eq!(runs.open.len(), 1);
        for i in 0..40 {
            runs.start(UNPAIRED_AFTER_MS + i, None);
        }
        assert_eq!(runs.open.len(), MAX_OPEN);
        runs.start(UNPAIRED_AFTER_MS + 50, Some("x"));
        runs.start(UNPAIRED_AFTER_MS + 60, Some("x"));
        assert_eq!(
            runs.open
                .iter()
                .filter(|r| r.id.as_deref() == Some("x"))
                .count(),
            1
        );
    }
}
