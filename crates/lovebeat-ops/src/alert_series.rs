//! The alerter's metrics, read from its counters at each scrape:
//! `lovebeat_alerts_total{kind,result}` (sent, failed attempt, retried
//! attempt, gave_up) and `lovebeat_alerts_pending{kind}`.
//!
//! The daemon adds it with `Metrics::add_collector`.

use std::fmt;

use lovebeat_alert::{Alerter, Kind, Outcome};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use lovebeat_telemetry::names;

/// The collector: a handle on the alerter.
#[derive(Debug)]
pub struct AlertSeries(pub Alerter);

impl Collector for AlertSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let help = "Alert deliveries by back-end kind and result (sent, failed attempt, retried attempt, gave_up).";
        let mut m = encoder.encode_descriptor(names::ALERTS, help, None, MetricType::Counter)?;
        for kind in Kind::ALL {
            for outcome in Outcome::ALL {
                let labels = [("kind", kind.as_str()), ("result", outcome.as_str())];
                let count = ConstCounter::new(self.0.count(kind, outcome));
                count.encode(m.encode_family(&labels)?)?;
            }
        }
        let help = "Alert deliveries waiting or being attempted, by back-end kind.";
        let mut m =
            encoder.encode_descriptor(names::ALERTS_PENDING, help, None, MetricType::Gauge)?;
        let status = self.0.status();
        for kind in Kind::ALL {
            let pending: usize = status
                .iter()
                .flat_map(|e| &e.backends)
                .filter(|b| b.kind == kind)
                .map(|b| b.pending)
                .sum();
            let gauge = ConstGauge::new(pending as i64);
            gauge.encode(m.encode_family(&[("kind", kind.as_str())])?)?;
        }
        Ok(())
    }
}
