//! `/metrics`: lovebeat's Prometheus metrics, kept with prometheus-client.
//!
//! [`Metrics`] owns the registry of counters that ingest, the actor and the
//! self-monitoring tasks bump (through `internal_events`, never directly at
//! call sites), plus the process collector. Everything about the model
//! (state counts, per-service and per-view series, queue depth) is encoded
//! at scrape time from the published [`Snapshot`], by `series`, so a scrape
//! never asks the actor anything and never stalls ingest; the per-service
//! series are capped by `[prometheus] max_services`.
//!
//! A scrape is OpenMetrics when the `Accept` header asks for it (Prometheus
//! does) and the Prometheus text format 0.0.4 otherwise (curl, promtool).
//!
//! # Layout
//! * [`names`]: every metric name.
//! * `alerts`: the alerter's counters, per scrape.
//! * `series`: the snapshot's metrics, encoded per scrape.
//! * `process`: `process_*` from `/proc/self`.
//! * `text`: OpenMetrics to text format 0.0.4.

mod alerts;
pub mod names;
mod process;
mod series;
mod text;

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

use lovebeat_core::Millis;
use lovebeat_proto::Reject;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::broadcast;

pub use alerts::AlertSeries;

use crate::internal_events::Flush;
use crate::snapshot::Snapshot;

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

/// The tasks that follow the engine's published changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscriber {
    EventLog,
    Statsd,
    StateLog,
}

impl Subscriber {
    pub const ALL: [Subscriber; 3] = [
        Subscriber::EventLog,
        Subscriber::Statsd,
        Subscriber::StateLog,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Subscriber::EventLog => "eventlog",
            Subscriber::Statsd => "statsd",
            Subscriber::StateLog => "statelog",
        }
    }
}

/// The three autobeats lovebeat sends its `[[notify]]` peers (§7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerMetric {
    /// The engine answered within the interval.
    Monitor,
    /// The alerter is alive.
    Alerter,
    /// A periodic store flush finished.
    Save,
}

impl PeerMetric {
    pub const ALL: [PeerMetric; 3] = [PeerMetric::Monitor, PeerMetric::Alerter, PeerMetric::Save];

    pub fn as_str(self) -> &'static str {
        match self {
            PeerMetric::Monitor => "monitor",
            PeerMetric::Alerter => "alerter",
            PeerMetric::Save => "save",
        }
    }
}

/// What became of one autobeat to one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerResult {
    Sent,
    Failed,
    /// The peer's queue was full (it is slow or down).
    Dropped,
}

impl PeerResult {
    pub const ALL: [PeerResult; 3] = [PeerResult::Sent, PeerResult::Failed, PeerResult::Dropped];

    pub fn as_str(self) -> &'static str {
        match self {
            PeerResult::Sent => "sent",
            PeerResult::Failed => "failed",
            PeerResult::Dropped => "dropped",
        }
    }
}

/// A label set of fixed names and values, known when registering.
type Labels = Vec<(&'static str, &'static str)>;

/// How `/metrics` may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Services (and views), in name order, that get their own series.
    pub max_services: usize,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            max_services: 10_000,
        }
    }
}

/// The registry and the handles of every counter lovebeat bumps. Handles
/// share their atomics with the registry, so bumping one is a relaxed
/// atomic add, with no lock and no label lookup.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    settings: MetricsSettings,
    pub(crate) beats: Counter,
    pub(crate) rejected: [Counter; Reject::ALL.len()],
    pub(crate) ingest_lines: [Counter; Protocol::ALL.len()],
    pub(crate) ingest_dropped: [Counter; Protocol::ALL.len()],
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
    /// ms since the epoch: every change applied before it is on disk.
    store_saved_at: Arc<AtomicI64>,
    s3_uploads: Counter,
    s3_upload_errors: Counter,
    /// ms since the epoch: the S3 copy holds everything saved before it.
    s3_uploaded_at: Arc<AtomicI64>,
    /// Periodic flushes, for statsd out and the peer notifier.
    flushes: broadcast::Sender<Flush>,
    /// Collectors other parts add once running (the alert outbox).
    extra: RwLock<Vec<Arc<dyn Collector>>>,
}

/// What a scrape reads besides the counters.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub snapshot: Arc<Snapshot>,
    /// Batches in the engine queue, and its capacity.
    pub queue: (usize, usize),
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

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

impl Metrics {
    pub fn new(settings: MetricsSettings, version: &str) -> Metrics {
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
            settings,
            beats,
            rejected,
            ingest_lines,
            ingest_dropped,
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
            store_saved_at,
            s3_uploads,
            s3_upload_errors,
            s3_uploaded_at,
            flushes: broadcast::channel(16).0,
            extra: RwLock::new(Vec::new()),
        }
    }

    /// Counts a successful save of the records taken at `taken_at` (ms).
    pub fn saved(&self, taken_at: Millis) {
        self.store_saves.inc();
        self.store_saved_at.fetch_max(taken_at, Relaxed);
    }

    /// Counts a failed save.
    pub fn save_failed(&self) {
        self.store_save_errors.inc();
    }

    /// Counts an upload to the S3 copy of what was saved by `saved_at` (ms).
    pub fn s3_uploaded(&self, saved_at: Millis) {
        self.s3_uploads.inc();
        self.s3_uploaded_at.fetch_max(saved_at, Relaxed);
    }

    /// Notes that the S3 copy holds what was saved by `saved_at` (ms),
    /// without an upload: nothing changed.
    pub fn s3_current(&self, saved_at: Millis) {
        self.s3_uploaded_at.fetch_max(saved_at, Relaxed);
    }

    /// Counts a failed upload to the S3 copy.
    pub fn s3_upload_failed(&self) {
        self.s3_upload_errors.inc();
    }

    /// Uploads to the S3 copy so far: (successful, failed).
    pub fn s3_uploads(&self) -> (u64, u64) {
        (self.s3_uploads.get(), self.s3_upload_errors.get())
    }

    /// When the newest save on disk was taken (ms since the epoch; 0: none).
    pub fn saved_at(&self) -> Millis {
        self.store_saved_at.load(Relaxed)
    }

    /// Periodic flushes from now on.
    pub fn subscribe_flushes(&self) -> broadcast::Receiver<Flush> {
        self.flushes.subscribe()
    }

    pub(crate) fn announce_flush(&self, flush: Flush) {
        let _ = self.flushes.send(flush);
    }

    /// Adds a collector encoded at every scrape, after lovebeat's own
    /// metrics: the way in for parts that start after the server, such as
    /// the alert outbox's `lovebeat_alerts{kind,result}` (see
    /// [`names::ALERTS`]). It must not name a family already exposed.
    pub fn add_collector(&self, collector: Arc<dyn Collector>) {
        self.extra
            .write()
            .expect("no panics while holding the lock")
            .push(collector);
    }

    /// Accepted beats so far.
    pub fn beats(&self) -> u64 {
        self.beats.get()
    }

    /// Lines rejected for `reason` so far.
    pub fn rejected(&self, reason: Reject) -> u64 {
        self.rejected[reason as usize].get()
    }

    /// The whole exposition, in `format`. Costs one pass over at most
    /// `max_services` services and views; call it off the async workers
    /// when that is large.
    pub fn render(&self, scrape: Scrape, format: Format) -> String {
        let shown = scrape
            .snapshot
            .services
            .len()
            .min(self.settings.max_services);
        let mut out = String::with_capacity(8192 + shown * 400);
        let mut per_scrape = Registry::default();
        per_scrape.register_collector(Box::new(series::SnapshotSeries {
            scrape,
            max_services: self.settings.max_services,
        }));
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
    /// Default settings, this crate's version.
    fn default() -> Metrics {
        Metrics::new(MetricsSettings::default(), env!("CARGO_PKG_VERSION"))
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

    fn scrape() -> Scrape {
        Scrape {
            snapshot: Arc::new(Snapshot::default()),
            queue: (0, 16),
        }
    }

    #[test]
    fn counters_keep_their_sample_names() {
        let m = Metrics::new(MetricsSettings::default(), "1.2.3");
        m.beats.inc_by(3);
        m.rejected[Reject::BadName as usize].inc();
        let text = m.render(scrape(), Format::Text);
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
        let m = Metrics::new(MetricsSettings::default(), "1.2.3");
        let om = m.render(scrape(), Format::OpenMetrics);
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
            let text = m.render(scrape(), Format::Text);
            assert!(
                text.contains("\n# TYPE lovebeat_alerts_total counter\nlovebeat_alerts_total 2\n")
            );
        }
    }

    #[test]
    fn store_saves_are_counted_as_the_store_branch_did() {
        let m = Metrics::default();
        m.saved(1_500);
        m.saved(1_000);
        m.save_failed();
        let text = m.render(scrape(), Format::Text);
        assert!(text.contains("\nlovebeat_store_saves_total 2\n"));
        assert!(text.contains("\nlovebeat_store_save_errors_total 1\n"));
        assert!(
            text.contains("\nlovebeat_store_saved_timestamp_seconds 1.5\n"),
            "{text}"
        );
    }

    #[test]
    fn negotiation_follows_accept() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate([prometheus]), Format::OpenMetrics);
        assert_eq!(Format::negotiate(["text/plain"]), Format::Text);
        assert_eq!(Format::negotiate([]), Format::Text);
    }
}
