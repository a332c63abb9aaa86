//! What the probes found: the last result and the recent ones of every
//! probe, for `/api/checks`, the status page and `/metrics`.
//!
//! Written by the probe tasks after each run, read by HTTP handlers and
//! scrapes; one short lock each.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Mutex;

use lovebeat_core::Millis;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use serde::Serialize;

use lovebeat_telemetry::names;

/// Results kept per probe.
pub(crate) const RECENT: usize = 60;

/// One run of one probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunResult {
    /// When the run ended, ms since the epoch.
    pub(crate) at: Millis,
    /// Whether it passed.
    pub ok: bool,
    /// How long the deciding attempt took, in ms.
    pub latency_ms: u64,
    /// Attempts made.
    pub(crate) attempts: u32,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
}

/// One probe as `/api/checks` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeStatus {
    pub(crate) name: String,
    /// `http`, `https` or `tcp`.
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    /// The URL, or `host:port`.
    pub(crate) target: String,
    pub(crate) interval_seconds: u64,
    pub(crate) runs: u64,
    pub(crate) failures: u64,
    /// The latest run; None before the first.
    pub last: Option<RunResult>,
    /// The most recent results, oldest first.
    pub(crate) recent: VecDeque<RunResult>,
}

/// Every probe's status, by name.
#[derive(Debug, Default)]
pub struct ProbeBoard {
    probes: Mutex<BTreeMap<String, ProbeStatus>>,
}

impl ProbeBoard {
    /// Lists a probe before its first run.
    pub(crate) fn add(
        &self,
        name: &str,
        kind: &'static str,
        target: String,
        interval_seconds: u64,
    ) {
        let status = ProbeStatus {
            name: name.to_owned(),
            kind,
            target,
            interval_seconds,
            runs: 0,
            failures: 0,
            last: None,
            recent: VecDeque::new(),
        };
        self.lock().insert(name.to_owned(), status);
    }

    /// Notes a run's result.
    pub(crate) fn record(&self, name: &str, result: RunResult) {
        let mut probes = self.lock();
        let Some(status) = probes.get_mut(name) else {
            return;
        };
        status.runs += 1;
        status.failures += u64::from(!result.ok);
        if status.recent.len() >= RECENT {
            status.recent.pop_front();
        }
        status.recent.push_back(result.clone());
        status.last = Some(result);
    }

    /// Every probe, in name order.
    pub fn list(&self) -> Vec<ProbeStatus> {
        self.lock().values().cloned().collect()
    }

    /// One probe.
    pub fn get(&self, name: &str) -> Option<ProbeStatus> {
        self.lock().get(name).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ProbeStatus>> {
        self.probes
            .lock()
            .expect("no panics while holding the lock")
    }
}

/// `/metrics` of the probes: up, latency and runs by result (their
/// names and labels say `check`, like the config key).
#[derive(Debug)]
pub struct ProbeMetrics(pub std::sync::Arc<ProbeBoard>);

impl Collector for ProbeMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let probes = self.0.list();
        if probes.is_empty() {
            return Ok(());
        }
        let ran = || {
            probes
                .iter()
                .filter_map(|c| c.last.as_ref().map(|l| (c, l)))
        };
        let mut m = encoder.encode_descriptor(
            names::CHECK_UP,
            "1 if the check's last run passed, 0 if it failed.",
            None,
            MetricType::Gauge,
        )?;
        for (c, last) in ran() {
            let g = ConstGauge::new(i64::from(last.ok));
            g.encode(m.encode_family(&[("check", c.name.as_str())])?)?;
        }
        let mut m = encoder.encode_descriptor(
            names::CHECK_LATENCY,
            "How long the check's last run took, in seconds.",
            None,
            MetricType::Gauge,
        )?;
        for (c, last) in ran() {
            let g = ConstGauge::new(last.latency_ms as f64 / 1000.0);
            g.encode(m.encode_family(&[("check", c.name.as_str())])?)?;
        }
        let mut m = encoder.encode_descriptor(
            names::CHECK_RUNS,
            "Runs of each check, by result.",
            None,
            MetricType::Counter,
        )?;
        for c in &probes {
            for (result, n) in [("pass", c.runs - c.failures), ("fail", c.failures)] {
                let labels = [("check", c.name.as_str()), ("result", result)];
                ConstCounter::new(n).encode(m.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(at: Millis, ok: bool) -> RunResult {
        RunResult {
            at,
            ok,
            latency_ms: 12,
            attempts: 1,
            reason: (!ok).then(|| "refused".to_owned()),
        }
    }

    #[test]
    fn runs_are_counted_and_the_recent_ones_kept() {
        let board = ProbeBoard::default();
        board.add("web", "http", "http://x/".into(), 10);
        for i in 0..(RECENT as i64 + 5) {
            board.record("web", result(i, i % 2 == 0));
        }
        let s = board.get("web").unwrap();
        assert_eq!(s.runs, RECENT as u64 + 5);
        assert_eq!(s.failures, (RECENT as u64 + 5) / 2);
        assert_eq!(s.recent.len(), RECENT);
        assert_eq!(s.last.unwrap().at, RECENT as i64 + 4);
        board.record("unknown", result(0, true));
        assert!(board.get("unknown").is_none());
    }
}
