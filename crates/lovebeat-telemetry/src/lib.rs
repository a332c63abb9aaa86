//! What lovebeat says about itself: it owns the counters every room
//! bumps, their Prometheus rendering, and the log line that goes with each
//! counted happening. It imports nothing of lovebeat's but the protocol's
//! reject reasons and the model's time unit, and must never import the
//! engine, ingest, HTTP, the monitors or operations.
//!
//! [`Metrics`] owns the registry. Rooms never bump a counter at a call
//! site: they emit one of the [`events`] structs, whose `emit` writes the
//! rate-limited log line and bumps the counter with fixed labels. Parts
//! that know more than counters (the model's per-service series, the
//! alerter, the probes) add a collector with [`Metrics::add_collector`],
//! encoded at every scrape. Metrics only count: no room learns anything
//! from another through this crate.
//!
//! A scrape is OpenMetrics when the `Accept` header asks for it (Prometheus
//! does) and the Prometheus text format 0.0.4 otherwise (curl, promtool).
//!
//! # Layout
//! * this file: [`Metrics`], [`Format`] and the [`Open`] guard.
//! * [`names`]: every metric name.
//! * `labels`: the label values (re-exported here: [`Protocol`], [`Limit`]...).
//! * [`events`]: one struct per counted or logged happening.
//! * `process`: `process_*` from `/proc/self`.
//! * `text`: OpenMetrics to text format 0.0.4.

pub mod events;
mod labels;
pub mod names;
mod process;
mod socket;
mod text;

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

use lovebeat_proto::Reject;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use labels::{Denial, Limit, PeerMetric, PeerResult, Protocol, Subscriber};
pub use socket::UdpDrops;

/// A label set of fixed names and values, known when registering.
type Labels = Vec<(&'static str, &'static str)>;

/// The registry and the handles of every counter lovebeat bumps. Handles
/// share their atomics with the registry, so bumping one is a relaxed
/// atomic add, with no lock and no label lookup.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub(crate) beats: Counter,
    pub(crate) rejected: [Counter; Reject::ALL.len()],
    pub(crate) ingest_lines: [Counter; Protocol::ALL.len()],
    pub(crate) ingest_dropped: [Counter; Protocol::ALL.len()],
    pub(crate) limited: [Counter; Limit::ALL.len()],
    pub(crate) denied: [Counter; Denial::ALL.len()],
    pub(crate) http_bad_requests: Counter,
    pub(crate) tcp_connections: Gauge,
    pub(crate) websocket_clients: Gauge,
    pub(crate) lagged: [Counter; Subscriber::ALL.len()],
    pub(crate) eventlog_lines: Counter,
    pub(crate) eventlog_errors: Counter,
    pub(crate) eventlog_reopens: Counter,
    pub(crate) statsd_datagrams: Counter,
    pub(crate) statsd_errors: Counter,
    pub(crate) peer_beats: [[Counter; PeerResult::ALL.len()]; PeerMetric::ALL.len()],
    pub(crate) store_flush: Histogram,
    store_saves: Counter,
    store_save_errors: Counter,
    /// 1 while saves succeed, 0 while they fail.
    store_up: Gauge,
    /// ms since the epoch: every change applied before it is on disk.
    store_saved_at: Arc<AtomicI64>,
    s3_uploads: Counter,
    s3_upload_errors: Counter,
    /// ms since the epoch: the S3 copy holds everything saved before it.
    s3_uploaded_at: Arc<AtomicI64>,
    /// Collectors other parts add once running (the alert outbox).
    extra: RwLock<Vec<Arc<dyn Collector>>>,
}

/// The exposition format of a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text, what Prometheus asks for.
    OpenMetrics,
    /// The Prometheus text format 0.0.4, for everything else.
    Text,
}

impl Format {
    /// OpenMetrics when an `Accept` header value names it.
    pub fn negotiate<'a>(accept: impl IntoIterator<Item = &'a str>) -> Format {
        let wants_openmetrics = accept
            .into_iter()
            .flat_map(|v| v.split(','))
            .filter_map(|v| v.split(';').next())
            .any(|mime| {
                mime.trim()
                    .eq_ignore_ascii_case("application/openmetrics-text")
            });
        if wants_openmetrics {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    /// The `Content-Type` of a scrape in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

impl Metrics {
    /// Every counter at zero, registered; `version` labels `lovebeat_build_info`.
    pub fn new(version: &str) -> Metrics {
        let mut registry = Registry::default();
        let beats = Counter::default();
        registry.register(names::BEATS, "Accepted beats, all protocols", beats.clone());
        let rejected = labelled(
            &mut registry,
            names::LINES_REJECTED,
            "Protocol lines rejected, by reason",
            Reject::ALL.map(|r| vec![("reason", r.as_str())]),
        );
        let ingest_lines = labelled(
            &mut registry,
            names::INGEST_LINES,
            "Commands handed to the engine, by protocol",
            Protocol::ALL.map(|p| vec![("protocol", p.as_str())]),
        );
        let ingest_dropped = labelled(
            &mut registry,
            names::INGEST_DROPPED,
            "Commands dropped because the engine queue was full, by protocol",
            Protocol::ALL.map(|p| vec![("protocol", p.as_str())]),
        );
        let limited = labelled(
            &mut registry,
            names::LIMITED,
            "Connections, requests and new services refused, and connections closed, by [limits] key",
            Limit::ALL.map(|l| vec![("limit", l.as_str())]),
        );
        let denied = labelled(
            &mut registry,
            names::DENIED,
            "Datagrams, connections and requests refused by access control",
            Denial::ALL.map(|d| {
                let (protocol, reason) = d.labels();
                vec![("protocol", protocol), ("reason", reason)]
            }),
        );
        let http_bad_requests = Counter::default();
        registry.register(
            names::HTTP_BAD_REQUESTS,
            "HTTP requests answered 400 Bad Request",
            http_bad_requests.clone(),
        );
        let tcp_connections = Gauge::default();
        registry.register(
            names::TCP_CONNECTIONS,
            "Open line-protocol TCP connections",
            tcp_connections.clone(),
        );
        let websocket_clients = Gauge::default();
        registry.register(
            names::WEBSOCKET_CLIENTS,
            "Open websocket clients",
            websocket_clients.clone(),
        );
        let lagged = labelled(
            &mut registry,
            names::EVENTS_LAGGED,
            "Rounds of changes a subscriber fell behind on and missed",
            Subscriber::ALL.map(|s| vec![("subscriber", s.as_str())]),
        );
        let mut counter = |name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let eventlog_lines = counter(names::EVENTLOG_LINES, "Lines appended to the event log");
        let eventlog_errors = counter(
            names::EVENTLOG_ERRORS,
            "Failures to open or write the event log",
        );
        let eventlog_reopens = counter(
            names::EVENTLOG_REOPENS,
            "Times the event log was reopened (SIGHUP or rotation)",
        );
        let statsd_datagrams = counter(
            names::STATSD_DATAGRAMS,
            "Datagrams sent to the statsd server",
        );
        let statsd_errors = counter(
            names::STATSD_ERRORS,
            "Datagrams that could not be sent to the statsd server",
        );
        let peer_beats = peer_beat_counters(&mut registry);
        // Persistence. Alert delivery (`lovebeat_alerts{kind,result}`,
        // names.rs) comes in through `add_collector`.
        let store_flush = Histogram::new(exponential_buckets(0.001, 4.0, 8));
        registry.register(
            names::STORE_FLUSH_DURATION,
            "How long each periodic store flush took",
            store_flush.clone(),
        );
        let store_saves = Counter::default();
        registry.register(
            names::STORE_SAVES,
            "Successful database saves",
            store_saves.clone(),
        );
        let store_save_errors = Counter::default();
        registry.register(
            names::STORE_SAVE_ERRORS,
            "Failed database saves (each is retried)",
            store_save_errors.clone(),
        );
        let store_up = Gauge::default();
        store_up.set(1);
        registry.register(
            names::STORE_UP,
            "1 while the store saves, 0 from a failed save until one succeeds",
            store_up.clone(),
        );
        let store_saved_at = Arc::new(AtomicI64::new(0));
        registry.register_collector(Box::new(Timestamp {
            ms: store_saved_at.clone(),
            name: names::STORE_SAVED_TIMESTAMP,
            help: "Every change applied before this time is on disk (0: no save yet).",
        }));
        let s3_uploads = Counter::default();
        registry.register(
            names::S3_UPLOADS,
            "Snapshots of the database uploaded to the S3 copy",
            s3_uploads.clone(),
        );
        let s3_upload_errors = Counter::default();
        registry.register(
            names::S3_UPLOAD_ERRORS,
            "Failed uploads to the S3 copy (each is retried)",
            s3_upload_errors.clone(),
        );
        let s3_uploaded_at = Arc::new(AtomicI64::new(0));
        registry.register_collector(Box::new(Timestamp {
            ms: s3_uploaded_at.clone(),
            name: names::S3_UPLOADED_TIMESTAMP,
            help: "The S3 copy holds every change saved before this time (0: no upload yet).",
        }));
        let build_info: Family<Vec<(&'static str, String)>, Gauge> = Family::default();
        build_info
            .get_or_create(&vec![("version", version.to_owned())])
            .set(1);
        registry.register(names::BUILD_INFO, "The running version", build_info);
        registry.register_collector(Box::new(process::ProcessCollector));
        Metrics {
            registry,
            beats,
            rejected,
            ingest_lines,
            ingest_dropped,
            limited,
            denied,
            http_bad_requests,
            tcp_connections,
            websocket_clients,
            lagged,
            eventlog_lines,
            eventlog_errors,
            eventlog_reopens,
            statsd_datagrams,
            statsd_errors,
            peer_beats,
            store_flush,
            store_saves,
            store_save_errors,
            store_up,
            store_saved_at,
            s3_uploads,
            s3_upload_errors,
            s3_uploaded_at,
            extra: RwLock::new(Vec::new()),
        }
    }

    /// Times `limit` refused or closed something so far.
    pub fn limited(&self, limit: Limit) -> u64 {
        self.limited[limit as usize].get()
    }

    /// HTTP requests answered 400 so far.
    pub fn http_bad_requests(&self) -> u64 {
        self.http_bad_requests.get()
    }

    /// Lines appended to the event log so far.
    pub fn eventlog_lines(&self) -> u64 {
        self.eventlog_lines.get()
    }

    /// Times the event log was reopened so far.
    pub fn eventlog_reopens(&self) -> u64 {
        self.eventlog_reopens.get()
    }

    /// Autobeats of `metric` to peers that ended in `result` so far.
    pub fn peer_beats(&self, metric: PeerMetric, result: PeerResult) -> u64 {
        self.peer_beats[metric as usize][result as usize].get()
    }

    /// Commands dropped so far because the engine queue was full.
    pub fn dropped(&self, protocol: Protocol) -> u64 {
        self.ingest_dropped[protocol as usize].get()
    }

    /// Counts an open line-protocol TCP connection until the guard drops.
    pub fn tcp_connection(&self) -> Open {
        Open::new(&self.tcp_connections)
    }

    /// Counts an open websocket client until the guard drops.
    pub fn websocket_client(&self) -> Open {
        Open::new(&self.websocket_clients)
    }

    /// Uploads to the S3 copy so far: (successful, failed).
    #[cfg(test)]
    pub(crate) fn s3_uploads(&self) -> (u64, u64) {
        (self.s3_uploads.get(), self.s3_upload_errors.get())
    }

    /// Adds a collector encoded at every scrape, after lovebeat's own
    /// metrics: the way in for what other crates know, such as
    /// the alert outbox's `lovebeat_alerts{kind,result}` (see
    /// [`names::ALERTS`]). It must not name a family already exposed.
    pub fn add_collector(&self, collector: Arc<dyn Collector>) {
        self.extra
            .write()
            .expect("no panics while holding the lock")
            .push(collector);
    }

    /// Accepted beats so far.
    #[cfg(test)]
    pub(crate) fn beats(&self) -> u64 {
        self.beats.get()
    }

    /// Lines rejected for `reason` so far.
    pub fn rejected(&self, reason: Reject) -> u64 {
        self.rejected[reason as usize].get()
    }

    /// The whole exposition, in `format`. Costs what the added
    /// collectors cost (the model's series: one pass over at most
    /// `[prometheus] max_services` services); call it off the async
    /// workers when that is large.
    pub fn render(&self, format: Format) -> String {
        let mut out = String::with_capacity(64 * 1024);
        let mut per_scrape = Registry::default();
        for collector in self
            .extra
            .read()
            .expect("no panics while holding the lock")
            .iter()
        {
            per_scrape.register_collector(Box::new(Shared(collector.clone())));
        }
        encode_registry(&mut out, &self.registry).expect("writing to a String cannot fail");
        encode_registry(&mut out, &per_scrape).expect("writing to a String cannot fail");
        match format {
            Format::OpenMetrics => {
                encode_eof(&mut out).expect("writing to a String cannot fail");
                out
            }
            Format::Text => text::downgrade(&out),
        }
    }
}

impl Default for Metrics {
    /// This crate's version.
    fn default() -> Metrics {
        Metrics::new(env!("CARGO_PKG_VERSION"))
    }
}

/// Something open, counted in its gauge while this lives.
#[derive(Debug)]
#[must_use = "the count drops with the guard"]
pub struct Open(Gauge);

impl Open {
    fn new(gauge: &Gauge) -> Open {
        gauge.inc();
        Open(gauge.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A collector added with [`Metrics::add_collector`], registered anew in
/// each scrape's registry.
#[derive(Debug)]
struct Shared(Arc<dyn Collector>);

impl Collector for Shared {
    fn encode(&self, encoder: DescriptorEncoder) -> std::fmt::Result {
        self.0.encode(encoder)
    }
}

/// A timestamp gauge kept in ms, exposed in seconds with ms:
/// `lovebeat_store_saved_timestamp_seconds` and
/// `lovebeat_s3_uploaded_timestamp_seconds`.
#[derive(Debug)]
struct Timestamp {
    ms: Arc<AtomicI64>,
    name: &'static str,
    help: &'static str,
}

impl Collector for Timestamp {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        use prometheus_client::encoding::EncodeMetric;
        let gauge = prometheus_client::metrics::gauge::ConstGauge::new(
            self.ms.load(Relaxed) as f64 / 1000.0,
        );
        gauge.encode(encoder.encode_descriptor(self.name, self.help, None, gauge.metric_type())?)
    }
}

/// One counter family with a fixed set of label sets; returns a handle per
/// label set, in order.
fn labelled<const N: usize>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    label_sets: [Labels; N],
) -> [Counter; N] {
    let family: Family<Labels, Counter> = Family::default();
    let handles = label_sets.map(|labels| family.get_or_create_owned(&labels));
    registry.register(name, help, family);
    handles
}

fn peer_beat_counters(
    registry: &mut Registry,
) -> [[Counter; PeerResult::ALL.len()]; PeerMetric::ALL.len()] {
    let family: Family<Labels, Counter> = Family::default();
    let handles = PeerMetric::ALL.map(|metric| {
        PeerResult::ALL.map(|result| {
            let labels = vec![("metric", metric.as_str()), ("result", result.as_str())];
            family.get_or_create_owned(&labels)
        })
    });
    registry.register(
        names::PEER_BEATS,
        "Autobeats to [[notify]] peers, by metric and result",
        family,
    );
    handles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_keep_their_sample_names() {
        let m = Metrics::new("1.2.3");
        m.beats.inc_by(3);
        m.rejected[Reject::BadName as usize].inc();
        let text = m.render(Format::Text);
        assert!(
            text.contains("\n# TYPE lovebeat_beats_total counter\n"),
            "{text}"
        );
        assert!(text.contains("\nlovebeat_beats_total 3\n"), "{text}");
        assert!(text.contains("\nlovebeat_lines_rejected_total{reason=\"bad_name\"} 1\n"));
        assert!(text.contains("\nlovebeat_build_info{version=\"1.2.3\"} 1\n"));
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
        let m = Metrics::new("1.2.3");
        let om = m.render(Format::OpenMetrics);
        assert!(om.contains("\n# TYPE lovebeat_beats counter\nlovebeat_beats_total 0\n"));
        assert!(om.ends_with("# EOF\n"), "{om}");
    }

    #[test]
    fn added_collectors_are_encoded_at_every_scrape() {
        #[derive(Debug)]
        struct Alerts;
        impl Collector for Alerts {
            fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
                use prometheus_client::encoding::EncodeMetric;
                let c = prometheus_client::metrics::counter::ConstCounter::new(2u64);
                let m =
                    encoder.encode_descriptor(names::ALERTS, "Alerts.", None, c.metric_type())?;
                c.encode(m)
            }
        }
        let m = Metrics::default();
        m.add_collector(Arc::new(Alerts));
        for _ in 0..2 {
            let text = m.render(Format::Text);
            assert!(
                text.contains("\n# TYPE lovebeat_alerts_total counter\nlovebeat_alerts_total 2\n")
            );
        }
    }

    #[test]
    fn store_saves_are_counted_as_the_store_branch_did() {
        use events::{StoreSaveFailed, StoreSaved};
        let m = Metrics::default();
        StoreSaved { taken_at: 1_500 }.emit(&m);
        StoreSaved { taken_at: 1_000 }.emit(&m);
        StoreSaveFailed { error: "disk full" }.emit(&m);
        let text = m.render(Format::Text);
        assert!(text.contains("\nlovebeat_store_saves_total 2\n"));
        assert!(text.contains("\nlovebeat_store_save_errors_total 1\n"));
        assert!(
            text.contains("\nlovebeat_store_saved_timestamp_seconds 1.5\n"),
            "{text}"
        );
        assert!(text.contains("\nlovebeat_store_up 0\n"), "{text}");
        StoreSaved { taken_at: 2_000 }.emit(&m);
        assert!(m.render(Format::Text).contains("\nlovebeat_store_up 1\n"));
    }

    #[test]
    fn limits_and_denials_are_counted_by_key() {
        let m = Metrics::default();
        m.limited[Limit::Services as usize].inc();
        m.denied[Denial::TcpSource as usize].inc();
        let text = m.render(Format::Text);
        assert!(text.contains("\nlovebeat_limited_total{limit=\"services\"} 1\n"));
        assert!(text.contains("\nlovebeat_denied_total{protocol=\"tcp\",reason=\"source\"} 1\n"));
        assert!(text.contains("\nlovebeat_tcp_connections 0\n"));
    }

    #[test]
    fn negotiation_follows_accept() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate([prometheus]), Format::OpenMetrics);
        assert_eq!(Format::negotiate(["text/plain"]), Format::Text);
        assert_eq!(Format::negotiate([]), Format::Text);
    }
}
