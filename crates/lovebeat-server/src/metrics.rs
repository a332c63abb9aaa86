//! Counters shared by ingest, the actor and `/metrics`.
//!
//! Plain atomics, bumped on the hot path with relaxed ordering; metric
//! names live here and nowhere else.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use lovebeat_alert::{Alerter, Kind, Outcome};
use lovebeat_core::State;
use lovebeat_proto::Reject;

use crate::snapshot::Snapshot;

pub const BEATS_TOTAL: &str = "lovebeat_beats_total";
pub const LINES_REJECTED_TOTAL: &str = "lovebeat_lines_rejected_total";
pub const INGEST_DROPPED_TOTAL: &str = "lovebeat_ingest_dropped_total";
pub const SERVICES: &str = "lovebeat_services";
pub const VIEWS: &str = "lovebeat_views";
pub const ALERTS_TOTAL: &str = "lovebeat_alerts_total";
pub const ALERTS_PENDING: &str = "lovebeat_alerts_pending";

/// The transports beats arrive on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Udp,
    Tcp,
    Http,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Udp, Protocol::Tcp, Protocol::Http];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
            Protocol::Http => "http",
        }
    }
}

#[derive(Debug, Default)]
pub struct Counters {
    /// Accepted beats, all protocols (counted by the actor as it applies them).
    beats: AtomicU64,
    rejected: [AtomicU64; Reject::ALL.len()],
    dropped: [AtomicU64; Protocol::ALL.len()],
    /// Second of the last rejected-line log line, for rate limiting.
    last_reject_log: AtomicU64,
    suppressed_reject_logs: AtomicU64,
}

impl Counters {
    pub fn add_beats(&self, n: u64) {
        self.beats.fetch_add(n, Relaxed);
    }

    pub fn beats(&self) -> u64 {
        self.beats.load(Relaxed)
    }

    /// Counts a rejected line and logs it, at most once a second.
    pub fn reject(&self, protocol: Protocol, reason: Reject) {
        self.rejected[reason as usize].fetch_add(1, Relaxed);
        let second = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last_reject_log.load(Relaxed);
        if last != second
            && self
                .last_reject_log
                .compare_exchange(last, second, Relaxed, Relaxed)
                .is_ok()
        {
            let suppressed = self.suppressed_reject_logs.swap(0, Relaxed);
            tracing::warn!(
                protocol = protocol.as_str(),
                reason = reason.as_str(),
                suppressed,
                "rejected line: {reason}"
            );
        } else {
            self.suppressed_reject_logs.fetch_add(1, Relaxed);
        }
    }

    pub fn rejected(&self, reason: Reject) -> u64 {
        self.rejected[reason as usize].load(Relaxed)
    }

    /// Counts a batch that ingest could not hand to the actor.
    pub fn drop_batch(&self, protocol: Protocol, lines: u64) {
        self.dropped[protocol as usize].fetch_add(lines, Relaxed);
    }

    /// The Prometheus text exposition of the counters and the snapshot's
    /// state counts.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut out = String::with_capacity(2048);
        header(
            &mut out,
            BEATS_TOTAL,
            "counter",
            "Accepted beats, all protocols.",
        );
        let _ = writeln!(out, "{BEATS_TOTAL} {}", self.beats());
        header(
            &mut out,
            LINES_REJECTED_TOTAL,
            "counter",
            "Protocol lines rejected, by reason.",
        );
        for reason in Reject::ALL {
            let _ = writeln!(
                out,
                "{LINES_REJECTED_TOTAL}{{reason=\"{}\"}} {}",
                reason.as_str(),
                self.rejected(reason)
            );
        }
        header(
            &mut out,
            INGEST_DROPPED_TOTAL,
            "counter",
            "Lines dropped because the engine queue was full, by protocol.",
        );
        for protocol in Protocol::ALL {
            let _ = writeln!(
                out,
                "{INGEST_DROPPED_TOTAL}{{protocol=\"{}\"}} {}",
                protocol.as_str(),
                self.dropped[protocol as usize].load(Relaxed)
            );
        }
        header(&mut out, SERVICES, "gauge", "Services, by state.");
        for state in State::ALL {
            let _ = writeln!(
                out,
                "{SERVICES}{{state=\"{state}\"}} {}",
                snapshot.counts.get(state)
            );
        }
        header(&mut out, VIEWS, "gauge", "Views, by state.");
        for state in State::ALL {
            let n = snapshot
                .views
                .values()
                .filter(|v| v.record.state == state)
                .count();
            let _ = writeln!(out, "{VIEWS}{{state=\"{state}\"}} {n}");
        }
        out
    }
}

/// The alerter's counters: deliveries by back-end kind and result, and
/// what is waiting to be delivered.
pub fn render_alerts(alerter: &Alerter) -> String {
    let mut out = String::with_capacity(1024);
    header(
        &mut out,
        ALERTS_TOTAL,
        "counter",
        "Alert deliveries by back-end kind and result (sent, failed attempt, retried attempt, gave_up).",
    );
    for kind in Kind::ALL {
        for outcome in Outcome::ALL {
            let (kind_s, result) = (kind.as_str(), outcome.as_str());
            let n = alerter.count(kind, outcome);
            let _ = writeln!(
                out,
                "{ALERTS_TOTAL}{{kind=\"{kind_s}\",result=\"{result}\"}} {n}"
            );
        }
    }
    header(
        &mut out,
        ALERTS_PENDING,
        "gauge",
        "Alert deliveries waiting or being attempted, by back-end kind.",
    );
    let status = alerter.status();
    for kind in Kind::ALL {
        let pending: usize = status
            .iter()
            .flat_map(|e| &e.backends)
            .filter(|b| b.kind == kind)
            .map(|b| b.pending)
            .sum();
        let _ = writeln!(out, "{ALERTS_PENDING}{{kind=\"{kind}\"}} {pending}");
    }
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}
