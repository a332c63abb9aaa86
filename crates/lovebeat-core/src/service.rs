//! One monitored service: its timeouts, beat history and the state function.
//!
//! The engine owns services and decides when to look at them; this module
//! only answers "what is this service's state at time t" and "when does it
//! next change by itself".

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::auto::{Algorithm, Rhythm};
use crate::intervals::Intervals;
use crate::runs::{RunEnd, Runs};
use crate::schedule::Schedule;
use crate::types::{Failure, Millis, State, Timeout, TimeoutKind};

/// Beats closer together than this still count (they move `last_beat`),
/// but they add no interval to the history: a service hit from a hot path
/// keeps meaningful intervals and O(1) cost per beat.
pub const HISTORY_RESOLUTION_MS: Millis = 1000;

/// Everything there is to know about a service: what readers see and what
/// the store persists and restores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub name: Arc<str>,
    /// When the service was first seen; deadlines of a service that never
    /// beat count from here.
    pub created: Millis,
    pub last_beat: Option<Millis>,
    pub warn_timeout: Timeout,
    pub err_timeout: Timeout,
    pub state: State,
    pub muted_since: Option<Millis>,
    /// When the state last changed (0: never).
    pub last_state_change: Millis,
    /// Intervals between beats in ms, oldest first. Shared, never changed
    /// in place: the engine, the readers' snapshot and the store hold one
    /// copy between them.
    pub history: Intervals,
    /// An explicit failure report, kept until the next good beat.
    pub failure: Option<Box<Failure>>,
    /// Accepted beats since the service was created.
    pub beats: u64,
    /// This service's AUTO estimator, when not the configured one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_algorithm: Option<Algorithm>,
    /// What the `rhythm` estimator learned, for a service that uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rhythm: Option<Box<Rhythm>>,
    /// A free label (statuscope's team): views can select on it, and
    /// `/metrics` carries it. Absent in records older than lovebeat 1.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// When the service's job is expected (cron or `OnCalendar`), if it
    /// runs on a calendar rather than (or beside) an interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Arc<Schedule>>,
    /// Runs started and not finished, and the last run's duration, for a
    /// service that ever received `start`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<Box<Runs>>,
}

impl ServiceRecord {
    /// A service first seen at `created` that never beat: `new`, with no
    /// timeouts and no history.
    pub fn new(name: Arc<str>, created: Millis) -> ServiceRecord {
        ServiceRecord {
            name,
            created,
            last_beat: None,
            warn_timeout: Timeout::Never,
            err_timeout: Timeout::Never,
            state: State::New,
            muted_since: None,
            last_state_change: 0,
            history: Intervals::default(),
            failure: None,
            beats: 0,
            auto_algorithm: None,
            rhythm: None,
            team: None,
            schedule: None,
            runs: None,
        }
    }

    /// When the oldest open run is late: its start plus the runs'
    /// `max_duration`, else the schedule's grace, else the error timeout
    /// (AUTO standing for `auto_ms`). `None` with no open run or no limit.
    pub fn run_deadline(&self, auto_ms: Option<u64>) -> Option<Millis> {
        let runs = self.runs.as_deref()?;
        let started = runs.oldest_open()?.started;
        let limit = runs
            .max_duration
            .or_else(|| self.schedule.as_ref().map(|s| s.grace_ms()))
            .or(match self.err_timeout {
                Timeout::After(ms) => Some(ms),
                Timeout::Auto => auto_ms,
                Timeout::Never | Timeout::Always => None,
            })?;
        Some(started.saturating_add_unsigned(limit))
    }

    /// The moment the service's warning or error timeout (`kind`) puts it
    /// in that state, if ever, with AUTO standing for `auto_ms`.
    /// `Some(Millis::MIN)` for a timeout of 0 ("always"). With a schedule,
    /// the error comes `grace` after the next expected run (or the error
    /// timeout, if that is sooner), and a warning timeout counts from the
    /// expected run. An open run past its limit is an error too.
    fn expiry(&self, kind: TimeoutKind, auto_ms: Option<u64>) -> Option<Millis> {
        let base = self.last_beat.unwrap_or(self.created);
        let after = |timeout: Timeout, base: Millis| match timeout {
            Timeout::Never => None,
            Timeout::Always => Some(Millis::MIN),
            Timeout::After(ms) => Some(base.saturating_add_unsigned(ms)),
            Timeout::Auto => auto_ms.map(|ms| base.saturating_add_unsigned(ms)),
        };
        let expected = self.schedule.as_ref().and_then(|s| s.expected_after(base));
        let sooner = |a: Option<Millis>, b: Option<Millis>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match (kind, expected) {
            (TimeoutKind::Err, expected) => {
                let grace = self.schedule.as_ref().map_or(0, |s| s.grace_ms());
                let by_schedule = expected.map(|at| at.saturating_add_unsigned(grace));
                let by_timeout = after(self.err_timeout, base);
                sooner(sooner(by_schedule, by_timeout), self.run_deadline(auto_ms))
            }
            (TimeoutKind::Warn, Some(expected)) => after(self.warn_timeout, expected),
            (TimeoutKind::Warn, None) => after(self.warn_timeout, base),
        }
    }

    /// The state at time `now`, AUTO standing for `auto_ms`: muted, then an
    /// explicit failure, then an expired error timeout, then an expired
    /// warning timeout; otherwise `new` until the first beat and `ok` after.
    pub fn state_at(&self, auto_ms: Option<u64>, now: Millis) -> State {
        if self.muted_since.is_some() {
            return State::Muted;
        }
        if let Some(failure) = &self.failure {
            return failure.severity.state();
        }
        let expired = |kind| self.expiry(kind, auto_ms).is_some_and(|at| now >= at);
        if expired(TimeoutKind::Err) {
            State::Error
        } else if expired(TimeoutKind::Warn) {
            State::Warning
        } else if self.last_beat.is_none() {
            State::New
        } else {
            State::Ok
        }
    }

    /// The next moment after `now` at which the state changes by itself,
    /// AUTO standing for `auto_ms`.
    pub fn next_deadline(&self, auto_ms: Option<u64>, now: Millis) -> Option<Millis> {
        if self.muted_since.is_some() || self.failure.is_some() {
            return None;
        }
        let err = self.expiry(TimeoutKind::Err, auto_ms);
        if err.is_some_and(|at| at <= now) {
            return None;
        }
        let warn = self
            .expiry(TimeoutKind::Warn, auto_ms)
            .filter(|&at| at > now);
        match (warn, err) {
            (Some(w), Some(e)) => Some(w.min(e)),
            (w, e) => w.or(e),
        }
    }
}

/// A service as the engine holds it: the record readers see, and what only
/// the engine needs.
///
/// The record is shared with the readers' snapshot;
/// [`Service::edit`] copies it first when someone else still holds it, so
/// a published record never changes and an unpublished one is changed in
/// place. A service is thus in memory once, plus the copies of the
/// services that changed since the last snapshot.
#[derive(Debug)]
pub(crate) struct Service {
    /// Everything but `rhythm`, which is below: it is the engine's own and
    /// readers have no use for it.
    pub record: Arc<ServiceRecord>,
    /// The beat that opened the interval being measured. Not persisted: the
    /// first beat after a restart opens a new interval, so that downtime
    /// never counts as an interval.
    pub history_anchor: Option<Millis>,
    /// The AUTO estimate for the current history, cached.
    pub auto_ms: Option<u64>,
    /// The `rhythm` state, kept while the service uses `rhythm` for AUTO.
    pub rhythm: Option<Box<Rhythm>>,
    /// Indices of the views this service is a member of.
    pub views: Vec<u32>,
    /// The time of this service's entry in the timer queue, if any.
    pub scheduled: Option<Millis>,
    /// Whether the service changed since readers last saw it.
    pub dirty: bool,
}

impl Service {
    pub fn new(name: Arc<str>, now: Millis) -> Service {
        Service::with_record(ServiceRecord::new(name, now), None)
    }

    pub fn from_record(
        mut record: ServiceRecord,
        algorithm: Algorithm,
        capacity: usize,
    ) -> Service {
        record.history = record.history.newest(capacity);
        let rhythm = record
            .rhythm
            .take()
            .and_then(|r| r.restored())
            .map(Box::new);
        let mut service = Service::with_record(record, rhythm);
        service.recompute_auto(algorithm);
        service
    }

    fn with_record(record: ServiceRecord, rhythm: Option<Box<Rhythm>>) -> Service {
        Service {
            record: Arc::new(record),
            history_anchor: None,
            auto_ms: None,
            rhythm,
            views: Vec::new(),
            scheduled: None,
            dirty: false,
        }
    }

    /// The record to change: copied first if readers still hold it.
    pub fn edit(&mut self) -> &mut ServiceRecord {
        Arc::make_mut(&mut self.record)
    }

    /// The stored form: the record with the `rhythm` state.
    pub fn to_record(&self) -> ServiceRecord {
        ServiceRecord {
            rhythm: self.rhythm.clone(),
            ..ServiceRecord::clone(&self.record)
        }
    }

    /// Registers a beat, closing the runs `end` names; returns whether the
    /// history (and so AUTO) changed.
    pub fn beat(&mut self, now: Millis, capacity: usize, end: RunEnd<'_>) -> bool {
        let record = self.edit();
        record.beats += 1;
        record.last_beat = Some(now);
        record.failure = None;
        if let Some(runs) = &mut record.runs {
            runs.end(now, end);
        }
        match self.history_anchor {
            None => {
                self.history_anchor = Some(now);
                false
            }
            Some(anchor) if now - anchor >= HISTORY_RESOLUTION_MS => {
                let interval = u32::try_from(now - anchor).unwrap_or(u32::MAX);
                self.push_interval(interval, capacity);
                self.history_anchor = Some(now);
                true
            }
            Some(_) => false,
        }
    }

    /// Appends an interval, dropping the oldest beyond `capacity`. A new
    /// copy each time (at most one a [`HISTORY_RESOLUTION_MS`]): readers
    /// may hold the current one.
    fn push_interval(&mut self, interval: u32, capacity: usize) {
        let history = self.record.history.pushed(interval, capacity);
        self.edit().history = history;
    }

    /// Recomputes the AUTO timeout with this service's estimator, or
    /// `default` when it has none of its own.
    pub fn recompute_auto(&mut self, default: Algorithm) {
        let algorithm = self.record.auto_algorithm.unwrap_or(default);
        if algorithm != Algorithm::Rhythm {
            self.rhythm = None;
            self.auto_ms = self.record.history.with_slice(|h| algorithm.estimate(h));
        } else if !self.uses_auto() {
            // Not kept up to date without AUTO: rebuilt when AUTO comes.
            self.rhythm = None;
            self.auto_ms = None;
        } else {
            self.auto_ms = self.sync_rhythm().and_then(|(r, at)| r.timeout(at));
        }
    }

    /// Whether a timeout is AUTO.
    pub fn uses_auto(&self) -> bool {
        self.record.warn_timeout == Timeout::Auto || self.record.err_timeout == Timeout::Auto
    }

    /// The `rhythm` state brought up to the newest interval (built from the
    /// history if there is none), and the beat its timeout counts from.
    fn sync_rhythm(&mut self) -> Option<(&Rhythm, Millis)> {
        let at = self.history_anchor.or(self.record.last_beat)?;
        let history = &self.record.history;
        let rhythm = self
            .rhythm
            .get_or_insert_with(|| Box::new(history.with_slice(|h| Rhythm::replay(h, at))));
        if let (Some(interval), Some(anchor)) = (history.last(), self.history_anchor)
            && rhythm.last() < anchor
        {
            rhythm.observe(interval, anchor);
        }
        Some((rhythm, at))
    }

    /// One line on the current AUTO timeout, clock times shifted by
    /// `utc_offset_min`.
    pub fn auto_reason(&self, default: Algorithm, utc_offset_min: i32) -> String {
        let history = &self.record.history;
        let at = self.history_anchor.or(self.record.last_beat);
        match (
            self.record.auto_algorithm.unwrap_or(default),
            &self.rhythm,
            at,
        ) {
            (Algorithm::Rhythm, Some(rhythm), Some(at)) => rhythm.explain(at, utc_offset_min),
            (Algorithm::Rhythm, _, _) => Rhythm::learning(history.len()),
            (algorithm, _, _) => history.with_slice(|h| algorithm.explain(h)),
        }
    }

    pub fn timeout(&self, kind: TimeoutKind) -> Timeout {
        match kind {
            TimeoutKind::Warn => self.record.warn_timeout,
            TimeoutKind::Err => self.record.err_timeout,
        }
    }

    pub fn set_timeout(&mut self, kind: TimeoutKind, timeout: Timeout) {
        match kind {
            TimeoutKind::Warn => self.edit().warn_timeout = timeout,
            TimeoutKind::Err => self.edit().err_timeout = timeout,
        }
    }

    /// The state at time `now` (see [`ServiceRecord::state_at`]).
    pub fn state_at(&self, now: Millis) -> State {
        self.record.state_at(self.auto_ms, now)
    }

    /// When the state next changes by itself (see
    /// [`ServiceRecord::next_deadline`]).
    pub fn next_deadline(&self, now: Millis) -> Option<Millis> {
        self.record.next_deadline(self.auto_ms, now)
    }
}

/// A lone service with an AUTO error timeout, beaten through the engine's
/// own code: how `lovebeat-sim` scores the estimators without an engine.
/// The engine does not use it.
#[derive(Debug)]
pub struct AutoService {
    service: Service,
    algorithm: Algorithm,
    capacity: usize,
}

impl AutoService {
    /// A service created at `now` that estimates with `algorithm` over a
    /// history of up to `capacity` intervals.
    pub fn new(algorithm: Algorithm, capacity: usize, now: Millis) -> AutoService {
        let mut service = Service::new("".into(), now);
        service.edit().err_timeout = Timeout::Auto;
        service.edit().auto_algorithm = Some(algorithm);
        AutoService {
            service,
            algorithm,
            capacity,
        }
    }

    /// A beat at `now`; returns the AUTO timeout in ms from this beat on,
    /// or None while the estimator sets no deadline.
    pub fn beat(&mut self, now: Millis) -> Option<u64> {
        if self.service.beat(now, self.capacity, RunEnd::All) {
            self.service.recompute_auto(self.algorithm);
        }
        self.service.auto_ms
    }
}

/// The spread of a service's beat intervals, for people (§2.3 of the Go
/// reference): the 10th and 90th percentile in seconds. Never used for
/// alerting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Analysis {
    pub lower: u64,
    pub upper: u64,
    pub percentage: u8,
    pub unstable: bool,
}

/// The analysis of at least 10 intervals; sorts a copy (the Go version
/// sorted the live history in place and so broke AUTO).
pub fn analyze(history: &[u32]) -> Option<Analysis> {
    let n = history.len();
    if n < 10 {
        return None;
    }
    let mut sorted = history.to_vec();
    sorted.sort_unstable();
    let seconds = |ms: u32| (u64::from(ms) + 500) / 1000;
    let lower = seconds(sorted[n / 10]);
    let upper = seconds(sorted[n * 9 / 10]);
    Some(Analysis {
        lower,
        upper,
        percentage: 90,
        unstable: upper >= 5 * lower,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Service {
        Service::new("svc".into(), 0)
    }

    #[test]
    fn a_new_service_is_new_and_never_expires() {
        let s = service();
        assert_eq!(s.state_at(1_000_000), State::New);
        assert_eq!(s.next_deadline(0), None);
    }

    #[test]
    fn deadlines_of_a_service_that_never_beat_count_from_creation() {
        let mut s = Service::new("svc".into(), 5000);
        s.edit().warn_timeout = Timeout::After(1000);
        assert_eq!(s.next_deadline(5000), Some(6000));
        assert_eq!(s.state_at(5999), State::New);
        assert_eq!(s.state_at(6000), State::Warning);
    }

    #[test]
    fn error_wins_over_warning() {
        let mut s = service();
        s.beat(0, 100, RunEnd::All);
        s.edit().warn_timeout = Timeout::After(1000);
        s.edit().err_timeout = Timeout::After(2000);
        assert_eq!(s.state_at(999), State::Ok);
        assert_eq!(s.next_deadline(0), Some(1000));
        assert_eq!(s.state_at(1000), State::Warning);
        assert_eq!(s.next_deadline(1000), Some(2000));
        assert_eq!(s.state_at(2000), State::Error);
        assert_eq!(s.next_deadline(2000), None);
    }

    #[test]
    fn always_means_always() {
        let mut s = service();
        s.edit().err_timeout = Timeout::Always;
        assert_eq!(s.state_at(0), State::Error);
        s.edit().err_timeout = Timeout::Never;
        s.edit().warn_timeout = Timeout::Always;
        assert_eq!(s.state_at(0), State::Warning);
    }

    #[test]
    fn muted_wins_over_everything() {
        let mut s = service();
        s.edit().err_timeout = Timeout::Always;
        s.edit().muted_since = Some(1);
        assert_eq!(s.state_at(0), State::Muted);
        assert_eq!(s.next_deadline(0), None);
    }

    #[test]
    fn fast_beats_count_but_coalesce_in_the_history() {
        let mut s = service();
        assert!(!s.beat(0, 100, RunEnd::All));
        assert!(!s.beat(500, 100, RunEnd::All));
        assert!(s.beat(1200, 100, RunEnd::All));
        assert!(!s.beat(1300, 100, RunEnd::All));
        assert_eq!(s.record.beats, 4);
        assert_eq!(s.record.last_beat, Some(1300));
        assert_eq!(s.record.history.to_vec(), [1200]);
    }

    #[test]
    fn history_is_a_bounded_ring_in_arrival_order() {
        let mut s = service();
        for i in 0..=5 {
            s.beat(i * 10_000 + i * i * 1000, 3, RunEnd::All);
        }
        assert_eq!(s.record.history.to_vec(), [15_000, 17_000, 19_000]);
    }

    #[test]
    fn an_auto_service_estimates_after_each_beat_as_the_engine_does() {
        let mut s = AutoService::new(Algorithm::Median, 5, 0);
        let timeouts: Vec<Option<u64>> = (0..=6).map(|i| s.beat(i * 60_000)).collect();
        assert_eq!(timeouts[..5], [None; 5]);
        assert_eq!(timeouts[5..], [Some(90_000); 2]);
        assert_eq!(s.beat(6 * 60_000 + 500), Some(90_000));
    }

    #[test]
    fn auto_without_an_estimate_sets_no_deadline() {
        let mut s = service();
        s.edit().err_timeout = Timeout::Auto;
        s.beat(0, 100, RunEnd::All);
        s.recompute_auto(Algorithm::Adaptive);
        assert_eq!(s.next_deadline(0), None);
        assert_eq!(s.state_at(1_000_000), State::Ok);
    }

    #[test]
    fn a_service_can_use_its_own_estimator() {
        let mut s = service();
        s.edit().err_timeout = Timeout::Auto;
        for i in 0..=6 {
            s.beat(i * 60_000, 100, RunEnd::All);
        }
        s.recompute_auto(Algorithm::Median);
        assert_eq!(s.auto_ms, Some(90_000));
        s.edit().auto_algorithm = Some(Algorithm::Rhythm);
        s.recompute_auto(Algorithm::Median);
        assert_eq!(s.auto_ms, Some(120_000));
        assert!(s.rhythm.is_some());
        s.edit().auto_algorithm = None;
        s.recompute_auto(Algorithm::Median);
        assert_eq!((s.auto_ms, s.rhythm.is_none()), (Some(90_000), true));
    }

    #[test]
    fn rhythm_follows_each_new_interval() {
        let mut s = service();
        s.edit().err_timeout = Timeout::Auto;
        s.edit().auto_algorithm = Some(Algorithm::Rhythm);
        for i in 0..=40 {
            if s.beat(i * 60_000, 100, RunEnd::All) {
                s.recompute_auto(Algorithm::Median);
            }
        }
        let rhythm = s.rhythm.as_ref().unwrap();
        assert_eq!(rhythm.last(), 40 * 60_000);
        assert!(s.auto_ms.unwrap() < 61_000, "{:?}", s.auto_ms);
        assert!(
            s.auto_reason(Algorithm::Median, 0)
                .starts_with("every ~60 s")
        );
    }

    #[test]
    fn the_rhythm_state_survives_a_restart() {
        let mut s = service();
        s.edit().err_timeout = Timeout::Auto;
        s.edit().auto_algorithm = Some(Algorithm::Rhythm);
        for i in 0..=40 {
            if s.beat(i * 60_000, 100, RunEnd::All) {
                s.recompute_auto(Algorithm::Median);
            }
        }
        let record = s.to_record();
        let back = Service::from_record(record.clone(), Algorithm::Median, 100);
        assert_eq!(back.rhythm, s.rhythm);
        assert_eq!(back.auto_ms, s.auto_ms);
        assert_eq!(back.to_record(), record);
    }

    #[test]
    fn rhythm_keeps_no_state_without_auto() {
        let mut s = service();
        s.edit().auto_algorithm = Some(Algorithm::Rhythm);
        for i in 0..=5 {
            s.beat(i * 60_000, 100, RunEnd::All);
        }
        s.recompute_auto(Algorithm::Median);
        assert_eq!((s.auto_ms, s.rhythm.is_none()), (None, true));
    }

    #[test]
    fn median_reasons_name_the_window() {
        let mut s = service();
        s.edit().history = Intervals::from([60_000; 30]);
        assert_eq!(
            s.auto_reason(Algorithm::Median, 0),
            "1.5 × the median of the last 19 intervals; late after 90 s"
        );
    }

    #[test]
    fn analysis_needs_ten_intervals() {
        assert_eq!(analyze(&[60_000; 9]), None);
        let a = analyze(&[60_000; 10]).unwrap();
        assert_eq!((a.lower, a.upper, a.unstable), (60, 60, false));
    }

    #[test]
    fn analysis_of_a_ramp_is_unstable() {
        let ramp: Vec<u32> = (1..=10).map(|i| i * 1000).collect();
        let a = analyze(&ramp).unwrap();
        assert_eq!((a.lower, a.upper, a.unstable), (2, 10, true));
    }

    #[test]
    fn analysis_leaves_the_history_alone() {
        let history: Vec<u32> = (1..=10).rev().map(|i| i * 1000).collect();
        let before = history.clone();
        analyze(&history);
        assert_eq!(history, before);
    }

    #[test]
    fn a_good_beat_clears_a_failure() {
        let mut s = service();
        s.edit().failure = Some(Box::new(Failure {
            at: 0,
            severity: crate::types::Severity::Error,
            message: "backup failed".into(),
        }));
        assert_eq!(s.state_at(0), State::Error);
        s.beat(1, 100, RunEnd::All);
        assert_eq!(s.state_at(1), State::Ok);
    }
}
