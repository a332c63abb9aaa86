//! The metrics of the model, encoded per scrape from one published
//! [`Snapshot`]: state counts, queue depth, and the per-service and
//! per-view series, capped at `max_services` each (in name order).
//!
//! Per-service series:
//! * `lovebeat_service_state{service,state[,team]}`: one-hot over every
//!   state; services with a team label carry it as `team`;
//! * `lovebeat_service_last_beat_timestamp_seconds{service}`: only for
//!   services that ever beat;
//! * `lovebeat_service_last_run_duration_seconds{service}`: only for
//!   services that finished a run (`start`, then a success or failure);
//! * `lovebeat_service_timeout_seconds{service,kind="warn|err"}`: only for
//!   timeouts that can fire; `0` for "always", and AUTO as the value it
//!   stands for now (absent while AUTO has too little history).

use std::fmt;
use std::sync::Arc;

use lovebeat_core::{Millis, ServiceInfo, State, Timeout};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

use lovebeat_engine::{EngineHandle, Snapshot};
use lovebeat_telemetry::names;

/// `[prometheus]`: how large `/metrics` may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesSettings {
    /// Services (and views), in name order, that get their own series.
    pub max_services: usize,
}

impl Default for SeriesSettings {
    fn default() -> Self {
        SeriesSettings {
            max_services: 10_000,
        }
    }
}

/// The collector the daemon adds to the metrics: at each scrape, the
/// engine's latest snapshot and queue depth.
#[derive(Debug)]
pub struct ModelSeries {
    /// Where the snapshot and the queue are read.
    pub engine: EngineHandle,
    /// How large the series may grow.
    pub settings: SeriesSettings,
}

impl Collector for ModelSeries {
    fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
        let scrape = Scrape {
            snapshot: self.engine.snapshot(),
            queue: self.engine.queue_depth(),
        };
        let max_services = self.settings.max_services;
        SnapshotSeries {
            scrape,
            max_services,
        }
        .encode(encoder)
    }
}

/// What one scrape reads besides the counters.
#[derive(Debug, Clone)]
struct Scrape {
    snapshot: Arc<Snapshot>,
    /// Batches in the engine queue, and its capacity.
    queue: (usize, usize),
}

#[derive(Debug)]
struct SnapshotSeries {
    scrape: Scrape,
    max_services: usize,
}

impl Collector for SnapshotSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let snapshot = &self.scrape.snapshot;
        let (depth, capacity) = self.scrape.queue;
        gauge(
            &mut encoder,
            names::QUEUE_DEPTH,
            "Batches waiting in the engine queue.",
        )?
        .encode_gauge(&(depth as i64))?;
        gauge(
            &mut encoder,
            names::QUEUE_CAPACITY,
            "Batches the engine queue holds.",
        )?
        .encode_gauge(&(capacity as i64))?;

        let mut m = gauge(&mut encoder, names::SERVICES, "Services, by state.")?;
        for state in State::ALL {
            let n = snapshot.counts.get(state) as i64;
            sample(&mut m, &[("state", state.as_str())], n)?;
        }
        let mut view_counts = [0i64; State::ALL.len()];
        for view in snapshot.views.values() {
            view_counts[state_index(view.record.state)] += 1;
        }
        let mut m = gauge(&mut encoder, names::VIEWS, "Views, by state.")?;
        for state in State::ALL {
            let n = view_counts[state_index(state)];
            sample(&mut m, &[("state", state.as_str())], n)?;
        }

        self.encode_services(&mut encoder)?;
        self.encode_views(&mut encoder)?;

        let services = snapshot.services.len();
        let views = snapshot.views.len();
        let mut m = gauge(
            &mut encoder,
            names::SERIES_OMITTED,
            "Services and views left out of their own series by [prometheus] max_services.",
        )?;
        let omitted = |n: usize| n.saturating_sub(self.max_services) as i64;
        sample(&mut m, &[("kind", "service")], omitted(services))?;
        sample(&mut m, &[("kind", "view")], omitted(views))
    }
}

impl SnapshotSeries {
    fn shown(&self) -> impl Iterator<Item = &Arc<ServiceInfo>> + '_ {
        self.scrape
            .snapshot
            .services
            .values()
            .take(self.max_services)
    }

    fn encode_services(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        if self.scrape.snapshot.services.is_empty() || self.max_services == 0 {
            return Ok(());
        }
        let mut m = gauge(
            encoder,
            names::SERVICE_STATE,
            "1 for the state the service is in, 0 for the others.",
        )?;
        for s in self.shown() {
            for state in State::ALL {
                let one = i64::from(s.record.state == state);
                let (service, state) = (("service", &*s.record.name), ("state", state.as_str()));
                match s.record.team.as_deref() {
                    Some(team) => sample(&mut m, &[service, state, ("team", team)], one)?,
                    None => sample(&mut m, &[service, state], one)?,
                }
            }
        }
        let mut beaten = self
            .shown()
            .filter(|s| s.record.last_beat.is_some())
            .peekable();
        if beaten.peek().is_some() {
            let mut m = gauge(
                encoder,
                names::SERVICE_LAST_BEAT,
                "When the service last beat, in seconds since the epoch.",
            )?;
            for s in beaten {
                let at = s.record.last_beat.map_or(0.0, seconds);
                sample(&mut m, &[("service", &*s.record.name)], at)?;
            }
        }
        let mut timed = self
            .shown()
            .filter_map(|s| Some((&*s.record.name, s.record.runs.as_ref()?.last_duration?)))
            .peekable();
        if timed.peek().is_some() {
            let mut m = gauge(
                encoder,
                names::SERVICE_LAST_RUN_DURATION,
                "How long the service's last finished run took, in seconds.",
            )?;
            for (name, ms) in timed {
                sample(&mut m, &[("service", name)], ms as f64 / 1000.0)?;
            }
        }
        let mut m = gauge(
            encoder,
            names::SERVICE_TIMEOUT,
            "The service's warn or err timeout in seconds (0: always; AUTO as it stands now).",
        )?;
        for s in self.shown() {
            let r = &s.record;
            for (kind, timeout) in [("warn", r.warn_timeout), ("err", r.err_timeout)] {
                if let Some(value) = timeout_seconds(timeout, s.auto_timeout) {
                    sample(&mut m, &[("service", &*r.name), ("kind", kind)], value)?;
                }
            }
        }
        Ok(())
    }

    fn encode_views(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let views = &self.scrape.snapshot.views;
        if views.is_empty() || self.max_services == 0 {
            return Ok(());
        }
        let mut m = gauge(
            encoder,
            names::VIEW_STATE,
            "1 for the state the view is in, 0 for the others.",
        )?;
        for v in views.values().take(self.max_services) {
            for state in State::ALL {
                let labels = [("view", &*v.record.name), ("state", state.as_str())];
                sample(&mut m, &labels, i64::from(v.record.state == state))?;
            }
        }
        Ok(())
    }
}

/// A timeout as seconds, if it can ever fire.
fn timeout_seconds(timeout: Timeout, auto_ms: Option<u64>) -> Option<f64> {
    match timeout {
        Timeout::Never => None,
        Timeout::Always => Some(0.0),
        Timeout::After(ms) => Some(ms as f64 / 1000.0),
        Timeout::Auto => auto_ms.map(|ms| ms as f64 / 1000.0),
    }
}

fn seconds(ms: Millis) -> f64 {
    ms as f64 / 1000.0
}

fn state_index(state: State) -> usize {
    State::ALL
        .iter()
        .position(|&s| s == state)
        .expect("ALL has every state")
}

fn gauge<'a>(
    encoder: &'a mut DescriptorEncoder,
    name: &'a str,
    help: &str,
) -> Result<MetricEncoder<'a>, fmt::Error> {
    encoder.encode_descriptor(name, help, None, MetricType::Gauge)
}

fn sample<V>(m: &mut MetricEncoder, labels: &[(&str, &str)], value: V) -> fmt::Result
where
    V: prometheus_client::encoding::EncodeGaugeValue + fmt::Debug,
{
    ConstGauge::new(value).encode(m.encode_family(&labels)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lovebeat_core::{Engine, EngineConfig, TimeoutKind};
    use lovebeat_telemetry::{Format, Metrics};

    fn render(engine: &Engine, max_services: usize) -> String {
        let metrics = Metrics::new("test");
        let scrape = Scrape {
            snapshot: Arc::new(Snapshot::full(engine, 10_000)),
            queue: (2, 16),
        };
        metrics.add_collector(Arc::new(SnapshotSeries {
            scrape,
            max_services,
        }));
        metrics.render(Format::Text)
    }

    fn lines_of<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .collect()
    }

    #[test]
    fn each_service_has_a_one_hot_state() {
        let mut engine = Engine::new(EngineConfig::default(), 0);
        engine.beat(1000, "backup");
        let text = render(&engine, 10);
        let state = lines_of(&text, names::SERVICE_STATE);
        assert_eq!(state.len(), State::ALL.len());
        assert!(state.contains(&"lovebeat_service_state{service=\"backup\",state=\"ok\"} 1"));
        assert!(state.contains(&"lovebeat_service_state{service=\"backup\",state=\"error\"} 0"));
        assert_eq!(
            lines_of(&text, names::SERVICE_LAST_BEAT),
            ["lovebeat_service_last_beat_timestamp_seconds{service=\"backup\"} 1.0"]
        );
    }

    #[test]
    fn the_last_run_duration_is_a_series_of_services_that_ran() {
        let mut engine = Engine::new(EngineConfig::default(), 0);
        engine.beat(1000, "plain");
        engine.start_run(1000, "backup", None);
        engine.beat(62_500, "backup");
        let text = render(&engine, 10);
        assert_eq!(
            lines_of(&text, names::SERVICE_LAST_RUN_DURATION),
            ["lovebeat_service_last_run_duration_seconds{service=\"backup\"} 61.5"]
        );
    }

    #[test]
    fn a_team_label_is_carried_by_the_state_series() {
        let mut engine = Engine::new(EngineConfig::default(), 0);
        engine.beat(1000, "backup");
        engine.set_team(1000, "backup", Some("ops"));
        let text = render(&engine, 10);
        let state = lines_of(&text, names::SERVICE_STATE);
        assert!(
            state.contains(
                &"lovebeat_service_state{service=\"backup\",state=\"ok\",team=\"ops\"} 1"
            )
        );
    }

    #[test]
    fn timeouts_are_seconds_and_auto_is_resolved() {
        let mut engine = Engine::new(EngineConfig::default(), 0);
        engine.set_timeout(0, "a", TimeoutKind::Warn, Timeout::After(1500));
        engine.set_timeout(0, "a", TimeoutKind::Err, Timeout::Always);
        engine.set_timeout(0, "b", TimeoutKind::Err, Timeout::Auto);
        for i in 0..7 {
            engine.beat(i * 10_000, "b");
        }
        let text = render(&engine, 10);
        let lines = lines_of(&text, names::SERVICE_TIMEOUT);
        assert_eq!(
            lines,
            [
                "lovebeat_service_timeout_seconds{service=\"a\",kind=\"warn\"} 1.5",
                "lovebeat_service_timeout_seconds{service=\"a\",kind=\"err\"} 0.0",
                "lovebeat_service_timeout_seconds{service=\"b\",kind=\"err\"} 15.0",
            ]
        );
    }

    #[test]
    fn the_cap_keeps_the_first_services_by_name_and_counts_the_rest() {
        let mut engine = Engine::new(EngineConfig::default(), 0);
        for name in ["c", "a", "d", "b"] {
            engine.beat(0, name);
        }
        let text = render(&engine, 2);
        let beats = lines_of(&text, names::SERVICE_LAST_BEAT);
        assert_eq!(beats.len(), 2);
        assert!(beats[0].contains("\"a\"") && beats[1].contains("\"b\""));
        assert!(text.contains("lovebeat_series_omitted{kind=\"service\"} 2\n"));
        assert!(text.contains("lovebeat_services{state=\"ok\"} 4\n"));
        let none = render(&engine, 0);
        assert!(lines_of(&none, names::SERVICE_STATE).is_empty());
        assert!(none.contains("lovebeat_series_omitted{kind=\"service\"} 4\n"));
    }

    #[test]
    fn queue_depth_is_exposed() {
        let engine = Engine::new(EngineConfig::default(), 0);
        let text = render(&engine, 10);
        assert!(text.contains("\nlovebeat_queue_depth 2\n"), "{text}");
        assert!(text.contains("\nlovebeat_queue_capacity 16\n"));
    }
}
