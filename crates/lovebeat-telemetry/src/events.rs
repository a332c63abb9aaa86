//! One struct per thing that happens inside lovebeat worth counting or
//! logging (STYLE item 9). Each `emit` bumps its counter with a fixed label
//! set and writes its log line, rate-limited per event type where it can
//! come from the network at any rate, so every call site is one line:
//! `LineRejected { protocol, reason }.emit(&metrics)`.
//!
//! Model events (service and view state changes) are not here: they come
//! from the engine and are logged by the operations crate's state log.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lovebeat_proto::Reject;

use lovebeat_core::Millis;

use crate::Metrics;
use crate::labels::{Denial, Limit, PeerMetric, PeerResult, Protocol, Subscriber};

/// At most one log line a second for one call site; counts what it held
/// back so the next line can say so.
pub(crate) struct RateLimit {
    second: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimit {
    pub(crate) const fn new() -> RateLimit {
        RateLimit {
            second: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether to log now: `Some(lines held back since the last one)`.
    pub(crate) fn check(&self) -> Option<u64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.check_at(now)
    }

    fn check_at(&self, second: u64) -> Option<u64> {
        let last = self.second.load(Relaxed);
        if last != second
            && self
                .second
                .compare_exchange(last, second, Relaxed, Relaxed)
                .is_ok()
        {
            Some(self.suppressed.swap(0, Relaxed))
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            None
        }
    }
}

/// A protocol line that did not parse; the other lines of its packet apply.
pub struct LineRejected {
    /// Where the line came from.
    pub protocol: Protocol,
    /// Why it did not parse.
    pub reason: Reject,
}

impl LineRejected {
    /// Counts the line by reason and logs it (at most once a second).
    pub fn emit(self, metrics: &Metrics) {
        static LIMIT: RateLimit = RateLimit::new();
        metrics.rejected[self.reason as usize].inc();
        if let Some(suppressed) = LIMIT.check() {
            tracing::warn!(
                protocol = self.protocol.as_str(),
                reason = self.reason.as_str(),
                suppressed,
                "rejected line: {}",
                self.reason
            );
        }
    }
}

/// Empty lines of one TCP read: rejected lines like any other
/// (`reason="blank"`), counted at once: a connection that sends nothing but
/// blank lines shows no sign of life.
pub struct BlankLines {
    /// How many.
    pub lines: usize,
}

impl BlankLines {
    /// Counts them and logs them (at most once a second).
    pub fn emit(self, metrics: &Metrics) {
        static LIMIT: RateLimit = RateLimit::new();
        metrics.rejected[Reject::Blank as usize].inc_by(self.lines as u64);
        if let Some(suppressed) = LIMIT.check() {
            tracing::warn!(
                protocol = Protocol::Tcp.as_str(),
                reason = Reject::Blank.as_str(),
                lines = self.lines,
                suppressed,
                "rejected line: {}",
                Reject::Blank
            );
        }
    }
}

/// Commands ingest handed to the engine.
pub struct LinesAccepted {
    /// Where the commands came from.
    pub protocol: Protocol,
    /// How many.
    pub lines: usize,
}

impl LinesAccepted {
    /// Counts them by protocol.
    pub fn emit(self, metrics: &Metrics) {
        metrics.ingest_lines[self.protocol as usize].inc_by(self.lines as u64);
    }
}

/// Commands dropped because the engine queue was full (UDP only: TCP and
/// HTTP wait for room).
pub struct BatchDropped {
    /// Where the batch came from.
    pub protocol: Protocol,
    /// Commands in the batch.
    pub lines: usize,
}

impl BatchDropped {
    /// Counts the commands and logs the drop (at most once a second).
    pub fn emit(self, metrics: &Metrics) {
        static LIMIT: RateLimit = RateLimit::new();
        metrics.ingest_dropped[self.protocol as usize].inc_by(self.lines as u64);
        if let Some(suppressed) = LIMIT.check() {
            tracing::warn!(
                protocol = self.protocol.as_str(),
                lines = self.lines,
                suppressed,
                "engine queue full: dropped a batch"
            );
        }
    }
}

/// Beats the actor applied.
pub struct BeatsApplied {
    /// How many (0 counts nothing).
    pub beats: u64,
}

impl BeatsApplied {
    /// Counts the beats.
    pub fn emit(self, metrics: &Metrics) {
        if self.beats > 0 {
            metrics.beats.inc_by(self.beats);
        }
    }
}

/// A subscriber fell so far behind that the broadcast dropped rounds of
/// changes it had not read.
pub struct SubscriberLagged {
    /// Who fell behind.
    pub subscriber: Subscriber,
    /// Rounds of changes it never saw.
    pub missed: u64,
}

impl SubscriberLagged {
    /// Counts the missed rounds and logs them.
    pub fn emit(self, metrics: &Metrics) {
        metrics.lagged[self.subscriber as usize].inc_by(self.missed);
        tracing::warn!(
            subscriber = self.subscriber.as_str(),
            missed = self.missed,
            "{} fell behind and missed {} rounds of changes",
            self.subscriber.as_str(),
            self.missed
        );
    }
}

/// Lines appended to the event log.
pub struct EventLogWritten {
    /// How many.
    pub lines: usize,
}

impl EventLogWritten {
    /// Counts the lines.
    pub fn emit(self, metrics: &Metrics) {
        metrics.eventlog_lines.inc_by(self.lines as u64);
    }
}

/// The event log could not be opened or written.
pub struct EventLogFailed<'a> {
    /// The event log's file.
    pub path: &'a std::path::Path,
    /// What the system said.
    pub error: &'a io::Error,
}

impl EventLogFailed<'_> {
    /// Counts the failure and logs it (at most once a second).
    pub fn emit(self, metrics: &Metrics) {
        static LIMIT: RateLimit = RateLimit::new();
        metrics.eventlog_errors.inc();
        if let Some(suppressed) = LIMIT.check() {
            tracing::error!(
                path = %self.path.display(),
                error = %self.error,
                suppressed,
                "cannot write the event log"
            );
        }
    }
}

/// The event log was reopened.
pub struct EventLogReopened<'a> {
    /// The event log's file.
    pub path: &'a std::path::Path,
    /// "SIGHUP" or "rotated".
    pub why: &'static str,
}

impl EventLogReopened<'_> {
    /// Counts the reopen and logs it.
    pub fn emit(self, metrics: &Metrics) {
        metrics.eventlog_reopens.inc();
        tracing::info!(path = %self.path.display(), why = self.why, "reopened the event log");
    }
}

/// Datagrams went to the statsd server.
pub struct StatsdSent {
    /// How many.
    pub datagrams: usize,
}

impl StatsdSent {
    /// Counts them.
    pub fn emit(self, metrics: &Metrics) {
        metrics.statsd_datagrams.inc_by(self.datagrams as u64);
    }
}

/// A datagram could not be sent to the statsd server.
pub struct StatsdFailed<'a> {
    /// The statsd server's address.
    pub server: &'a str,
    /// What the system said.
    pub error: &'a io::Error,
}

impl StatsdFailed<'_> {
    /// Counts the failure and logs it (at most once a second).
    pub fn emit(self, metrics: &Metrics) {
        static LIMIT: RateLimit = RateLimit::new();
        metrics.statsd_errors.inc();
        if let Some(suppressed) = LIMIT.check() {
            tracing::warn!(
                server = self.server,
                error = %self.error,
                suppressed,
                "cannot send metrics to statsd"
            );
        }
    }
}

/// What became of one autobeat to one peer.
pub struct PeerBeat<'a> {
    /// The peer's base URL.
    pub peer: &'a str,
    /// Which autobeat.
    pub metric: PeerMetric,
    /// Sent, failed or dropped.
    pub result: PeerResult,
    /// Why it failed.
    pub error: Option<&'a str>,
}

impl PeerBeat<'_> {
    /// Counts the beat by metric and result; logs a failure or a drop (at most once a second).
    pub fn emit(self, metrics: &Metrics) {
        static LIMIT: RateLimit = RateLimit::new();
        metrics.peer_beats[self.metric as usize][self.result as usize].inc();
        let (peer, metric) = (self.peer, self.metric.as_str());
        match self.result {
            PeerResult::Sent => tracing::debug!(peer, metric, "notified peer"),
            PeerResult::Failed => {
                if let Some(suppressed) = LIMIT.check() {
                    let error = self.error.unwrap_or("");
                    tracing::warn!(peer, metric, error, suppressed, "cannot notify peer");
                }
            }
            // Go lovebeat's wording.
            PeerResult::Dropped => {
                if let Some(suppressed) = LIMIT.check() {
                    tracing::warn!(peer, metric, suppressed, "Failed to notify heartbeats!");
                }
            }
        }
    }
}

/// A periodic store flush finished, every `[database] interval` even
/// when idle: it feeds the flush histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreFlushed {
    /// How long the save took.
    pub duration: Duration,
}

impl StoreFlushed {
    /// Observes the duration and logs it at debug level.
    pub fn emit(self, metrics: &Metrics) {
        metrics.store_flush.observe(self.duration.as_secs_f64());
        tracing::debug!(
            duration_ms = self.duration.as_millis() as u64,
            "store flushed"
        );
    }
}

/// A save of the records taken at `taken_at` reached the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreSaved {
    /// Every change applied before this (ms since the epoch) is on disk.
    pub taken_at: Millis,
}

impl StoreSaved {
    /// Counts the save, sets `lovebeat_store_up` and the saved timestamp.
    pub fn emit(self, metrics: &Metrics) {
        metrics.store_saves.inc();
        metrics.store_up.set(1);
        metrics.store_saved_at.fetch_max(self.taken_at, Relaxed);
    }
}

/// A save failed; the write-behind retries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreSaveFailed<'a> {
    /// What the store said.
    pub error: &'a str,
}

impl StoreSaveFailed<'_> {
    /// Counts the failure and clears `lovebeat_store_up`.
    pub fn emit(self, metrics: &Metrics) {
        metrics.store_save_errors.inc();
        metrics.store_up.set(0);
    }
}

/// A snapshot of the database reached the S3 copy.
pub struct S3Uploaded<'a> {
    /// Where the copy is.
    pub url: &'a str,
    /// The size of the snapshot.
    pub bytes: usize,
    /// Services in the snapshot.
    pub services: usize,
    /// The snapshot holds every change saved before this (ms since the epoch).
    pub saved_at: Millis,
    /// How long the upload took.
    pub duration: Duration,
}

impl S3Uploaded<'_> {
    /// Counts the upload, moves the uploaded timestamp and logs it.
    pub fn emit(self, metrics: &Metrics) {
        metrics.s3_uploads.inc();
        metrics.s3_uploaded_at.fetch_max(self.saved_at, Relaxed);
        tracing::debug!(
            url = self.url,
            bytes = self.bytes,
            services = self.services,
            duration_ms = self.duration.as_millis() as u64,
            "uploaded the database to S3"
        );
    }
}

/// An upload to the S3 copy failed.
pub struct S3UploadFailed<'a> {
    /// Where the copy is.
    pub url: &'a str,
    /// What S3 or the network said.
    pub error: &'a str,
    /// When it is tried again; None: never, lovebeat is stopping.
    pub retry: Option<Duration>,
}

impl S3UploadFailed<'_> {
    /// Counts the failure and logs it with the retry.
    pub fn emit(self, metrics: &Metrics) {
        // Retries come no faster than one a second, so every one is logged.
        metrics.s3_upload_errors.inc();
        match self.retry {
            Some(retry) => tracing::error!(
                url = self.url,
                error = self.error,
                "cannot upload the database to S3; retrying in {retry:?}"
            ),
            None => tracing::error!(
                url = self.url,
                error = self.error,
                "cannot upload the database to S3 at shutdown; the S3 copy misses the changes \
                 since the previous upload"
            ),
        }
    }
}

/// A snapshot was not uploaded because the S3 copy already holds the same.
pub struct S3Unchanged {
    /// The copy holds every change saved before this (ms since the epoch).
    pub saved_at: Millis,
}

impl S3Unchanged {
    /// Moves the uploaded timestamp; nothing was sent.
    pub fn emit(self, metrics: &Metrics) {
        metrics.s3_uploaded_at.fetch_max(self.saved_at, Relaxed);
    }
}

/// The S3 copy took an upload again after failures.
pub struct S3UploadRecovered<'a> {
    /// Where the copy is.
    pub url: &'a str,
    /// Uploads that failed before this one.
    pub failures: u64,
}

impl S3UploadRecovered<'_> {
    /// Logs the recovery (the upload itself is an `S3Uploaded`).
    pub fn emit(self) {
        tracing::info!(
            url = self.url,
            failures = self.failures,
            "uploaded the database to S3 again"
        );
    }
}

/// A `[limits]` key refused or closed something.
pub struct Limited {
    /// The key that did it.
    pub limit: Limit,
}

impl Limited {
    /// Counts it by key and logs it (at most once a second per key).
    pub fn emit(self, metrics: &Metrics) {
        static LIMITS: [RateLimit; Limit::ALL.len()] =
            [const { RateLimit::new() }; Limit::ALL.len()];
        metrics.limited[self.limit as usize].inc();
        if let Some(suppressed) = LIMITS[self.limit as usize].check() {
            let limit = self.limit.as_str();
            tracing::warn!(limit, suppressed, "limit reached: [limits] {limit}");
        }
    }
}

/// An HTTP request answered 400: a head hyper could not parse, or a
/// parameter or body a handler refused. Client mistakes are not logged
/// above debug (the client got the reason).
pub struct BadRequest {
    /// Who sent it, when known.
    pub peer: Option<std::net::IpAddr>,
}

impl BadRequest {
    /// Counts it.
    pub fn emit(self, metrics: &Metrics) {
        metrics.http_bad_requests.inc();
        let peer = self.peer.map(|p| p.to_string()).unwrap_or_default();
        tracing::debug!(peer, "bad request");
    }
}

/// Access control refused a datagram, connection or request.
pub struct Denied {
    /// What refused it, and where.
    pub denial: Denial,
    /// Who was refused, when known.
    pub peer: Option<std::net::IpAddr>,
}

impl Denied {
    /// Counts it by protocol and reason and logs it (at most once a second per reason).
    pub fn emit(self, metrics: &Metrics) {
        static LIMITS: [RateLimit; Denial::ALL.len()] =
            [const { RateLimit::new() }; Denial::ALL.len()];
        metrics.denied[self.denial as usize].inc();
        if let Some(suppressed) = LIMITS[self.denial as usize].check() {
            let (protocol, reason) = self.denial.labels();
            let peer = self.peer.map(|p| p.to_string()).unwrap_or_default();
            tracing::warn!(protocol, reason, peer, suppressed, "access denied");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_allows_one_line_a_second_and_counts_the_rest() {
        let limit = RateLimit::new();
        assert_eq!(limit.check_at(10), Some(0));
        assert_eq!(limit.check_at(10), None);
        assert_eq!(limit.check_at(10), None);
        assert_eq!(limit.check_at(11), Some(2));
        assert_eq!(limit.check_at(11), None);
    }

    #[test]
    fn a_store_flush_is_timed() {
        let metrics = Metrics::new("test");
        StoreFlushed {
            duration: Duration::from_millis(3),
        }
        .emit(&metrics);
        let text = metrics.render(crate::Format::Text);
        assert!(text.contains("\nlovebeat_store_flush_duration_seconds_count 1\n"));
    }

    #[test]
    fn s3_uploads_are_counted_and_timestamped() {
        let metrics = Metrics::new("test");
        S3Uploaded {
            url: "s3://b/k",
            bytes: 10,
            services: 1,
            saved_at: 5_000,
            duration: Duration::from_millis(2),
        }
        .emit(&metrics);
        S3UploadFailed {
            url: "s3://b/k",
            error: "down",
            retry: Some(Duration::from_secs(1)),
        }
        .emit(&metrics);
        assert_eq!(metrics.s3_uploads(), (1, 1));
        let text = metrics.render(crate::Format::Text);
        assert!(text.contains("\nlovebeat_s3_uploads_total 1\n"), "{text}");
        assert!(
            text.contains("\nlovebeat_s3_upload_errors_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("\nlovebeat_s3_uploaded_timestamp_seconds 5.0\n"),
            "{text}"
        );
    }

    #[test]
    fn emit_bumps_the_labelled_counter() {
        let metrics = Metrics::new("test");
        LineRejected {
            protocol: Protocol::Udp,
            reason: Reject::BadType,
        }
        .emit(&metrics);
        assert_eq!(metrics.rejected(Reject::BadType), 1);
        BeatsApplied { beats: 2 }.emit(&metrics);
        assert_eq!(metrics.beats(), 2);
        PeerBeat {
            peer: "http://x",
            metric: PeerMetric::Save,
            result: PeerResult::Dropped,
            error: None,
        }
        .emit(&metrics);
        assert_eq!(
            metrics.peer_beats[PeerMetric::Save as usize][PeerResult::Dropped as usize].get(),
            1
        );
    }
}
