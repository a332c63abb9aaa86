//! The lovebeat runtime: the engine actor and everything that talks to it.
//!
//! [`Server::start`] binds the UDP, TCP and HTTP listeners, starts the
//! actor that owns the engine, and returns a handle with the bound
//! addresses; [`Server::shutdown`] stops ingest, drains the queue and hands
//! the engine back for a final save.
//!
//! # Layout
//! * [`access`]: source networks and bearer tokens (who may talk to it).
//! * [`actor`]: the engine's owner, snapshots and change publication.
//! * [`batch`]: the unit of work ingest sends the actor.
//! * `ingest`: UDP and TCP line-protocol listeners.
//! * [`http`]: the HTTP API, the dashboard and its websocket.
//! * [`snapshot`]: the immutable picture readers use.
//! * [`metrics`]: `/metrics`, the Prometheus registry and its rendering.
//! * `internal_events`: one struct per counted or logged happening.
//! * [`ops`]: the self-monitoring tasks beside the server, started by
//!   [`ops::Ops::start`]: `statelog` (§7.5 log lines), [`eventlog`] (§7.4),
//!   [`statsd`] (§7.3) and [`notify`] (§7.2 peers).
//! * [`persist`]: write-behind of changes to the store.
//! * [`s3`]: the S3 copy of the store: the startup download, and the
//!   upload task.
//! * [`outbox`]: the store as the alerts' durable outbox.
//! * `grace`: holding back the restore's view changes (`startup_grace`).
//! * [`tokens`]: statuscope push tokens, stored hashed.
//! * [`messages`]: the status page's incident messages.
//! * [`history`]: the last 24 hours of every service and view, by hour.
//! * [`probe`]: active HTTP, HTTPS and TCP checks (`[[checks]]`).
//! * [`fuzzing`]: entry points for the fuzz targets in `fuzz/`.

pub mod access;
pub mod actor;
pub mod batch;
mod datagrams;
pub mod eventlog;
#[doc(hidden)]
pub mod fuzzing;
mod grace;
pub mod history;
pub mod http;
mod ingest;
pub mod internal_events;
pub mod messages;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod outbox;
pub mod persist;
pub mod probe;
pub mod s3;
pub mod snapshot;
mod statelog;
pub mod statsd;
pub mod tokens;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lovebeat_core::Engine;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use actor::{EngineHandle, now_ms};
pub use persist::Persistence;

/// Where to listen and how to run; addresses are tried in order until one
/// binds (e.g. `[::]:8127`, then `0.0.0.0:8127` where IPv6 is off).
#[derive(Debug)]
pub struct Settings {
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
    pub http: Vec<SocketAddr>,
    /// The path the HTTP server serves everything under, without a
    /// trailing `/`; `""` for the root.
    pub base_path: String,
    /// Batches the engine queue holds.
    pub queue: usize,
    pub version: String,
    /// How large `/metrics` may grow.
    pub metrics: metrics::MetricsSettings,
    /// Where changes are saved; None keeps everything in memory only.
    pub persistence: Option<Persistence>,
    /// `[database] startup_grace`: how long the view changes caused by
    /// the restore are held back (see `grace`).
    pub startup_grace: Duration,
    /// Push tokens, loaded from the store.
    pub tokens: Arc<tokens::TokenBook>,
    /// Incident messages, loaded from the store.
    pub messages: Arc<messages::MessageBoard>,
    /// The status page's hourly history, as [`history::load`] read it.
    pub history: Arc<history::StateHistory>,
    /// The active checks, run from start to shutdown.
    pub probes: probe::Probes,
    pub status_page: http::StatusPageSettings,
    /// Where view changes go (`Alerter::disabled()` for none).
    pub alerter: lovebeat_alert::Alerter,
    /// What the line protocol listeners enforce.
    pub ingest: IngestSettings,
    /// `[limits]` of the HTTP server.
    pub http_limits: http::HttpLimits,
    /// `[http]` tokens and websocket origins.
    pub http_access: http::HttpAccess,
}

/// `[limits]` and `[udp]`/`[tcp] allow` of the line protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSettings {
    /// The longest line, in bytes.
    pub line_length: usize,
    /// Open TCP connections at most.
    pub tcp_connections: usize,
    /// A TCP connection silent this long is closed; None: never.
    pub tcp_idle_timeout: Option<Duration>,
    pub udp_allow: access::Allow,
    pub tcp_allow: access::Allow,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            line_length: lovebeat_proto::MAX_LINE,
            tcp_connections: 10_000,
            tcp_idle_timeout: None,
            udp_allow: access::Allow::default(),
            tcp_allow: access::Allow::default(),
        }
    }
}

/// A running lovebeat.
pub struct Server {
    pub udp_addr: SocketAddr,
    pub tcp_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub engine: EngineHandle,
    stop_ingest: CancellationToken,
    stop_actor: CancellationToken,
    ingest: Vec<JoinHandle<()>>,
    actor: JoinHandle<Engine>,
    /// Where the status page's history is saved at shutdown.
    history: Option<(lovebeat_store::Store, Arc<history::StateHistory>)>,
    /// Keeps the S3 copy up to date, when there is one.
    uploader: Option<s3::Uploader>,
}

/// A listener that could not be opened.
#[derive(Debug)]
pub struct BindError {
    pub what: &'static str,
    pub source: io::Error,
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot listen for {} on {}", self.what, self.source)
    }
}

impl std::error::Error for BindError {}

impl Server {
    /// Binds every listener, then starts serving `engine`.
    pub async fn start(settings: Settings, engine: Engine) -> Result<Server, BindError> {
        let bind_error = |what| move |source| BindError { what, source };
        let udp = ingest::bind_udp(&settings.udp).map_err(bind_error("UDP"))?;
        let tcp = ingest::bind_tcp(&settings.tcp).map_err(bind_error("TCP"))?;
        let http = ingest::bind_tcp(&settings.http).map_err(bind_error("HTTP"))?;
        let local = |r: io::Result<SocketAddr>, what| r.map_err(bind_error(what));
        let udp_addr = local(udp.local_addr(), "UDP")?;
        let tcp_addr = local(tcp.local_addr(), "TCP")?;
        let http_addr = local(http.local_addr(), "HTTP")?;

        let store = settings.persistence.as_ref().map(|p| p.store.clone());
        let metrics = Arc::new(metrics::Metrics::new(settings.metrics, &settings.version));
        metrics.add_collector(Arc::new(metrics::AlertSeries(settings.alerter.clone())));
        let (mut actor, handle) =
            actor::Actor::new(engine, settings.queue, metrics.clone(), settings.alerter);
        let mut uploader = None;
        if let Some(persistence) = settings.persistence {
            if let Some(copy) = &persistence.s3 {
                let store = persistence.store.clone();
                uploader = Some(s3::Uploader::start(copy.clone(), store, metrics));
            }
            actor = actor.with_persistence(persistence);
        }
        let actor = actor.with_startup_grace(settings.startup_grace);
        let stop_actor = CancellationToken::new();
        let actor = tokio::spawn(actor.run(stop_actor.clone()));

        let stop_ingest = CancellationToken::new();
        let history = settings.history;
        let checks = settings.probes.board.clone();
        let (metrics, stop) = (handle.metrics().clone(), stop_ingest.clone());
        metrics.add_collector(Arc::new(probe::CheckMetrics(checks.clone())));
        metrics.add_collector(Arc::new(http::StatuscopeMetrics {
            snapshots: handle.snapshots(),
            tokens: settings.tokens.clone(),
        }));
        let app = http::HttpService::new(
            http::AppState {
                tokens: settings.tokens,
                messages: settings.messages,
                history: history.clone(),
                checks,
                status_page: Arc::new(settings.status_page),
                ..http::AppState::new(handle.clone(), &settings.version, &settings.base_path)
            }
            .limited(settings.http_limits.clone(), settings.http_access),
        );
        let limits = Arc::new(ingest::IngestLimits {
            max_line: settings.ingest.line_length,
            tcp_connections: settings.ingest.tcp_connections,
            tcp_idle_timeout: settings.ingest.tcp_idle_timeout,
            udp_allow: settings.ingest.udp_allow,
            tcp_allow: settings.ingest.tcp_allow,
        });
        let mut ingest = vec![
            tokio::spawn(ingest::serve_udp(
                udp,
                handle.clone(),
                limits.clone(),
                stop.clone(),
            )),
            tokio::spawn(ingest::serve_tcp(tcp, handle.clone(), limits, stop.clone())),
            tokio::spawn(http::serve::serve(
                http,
                app,
                settings.http_limits,
                metrics,
                stop.clone(),
            )),
            tokio::spawn(history::follow(history.clone(), handle.clone(), stop)),
        ];
        ingest.extend(settings.probes.start(&handle, &stop_ingest));
        tracing::info!("UDP listening on {udp_addr}");
        tracing::info!("TCP listening on {tcp_addr}");
        tracing::info!("HTTP listening on {http_addr}");
        Ok(Server {
            udp_addr,
            tcp_addr,
            http_addr,
            engine: handle,
            stop_ingest,
            stop_actor,
            ingest,
            actor,
            history: store.map(|store| (store, history)),
            uploader,
        })
    }

    /// Stops taking beats, applies what is queued, saves it, uploads it to
    /// the S3 copy if there is one, and returns the engine.
    pub async fn shutdown(self) -> Engine {
        self.stop_ingest.cancel();
        let grace = std::time::Duration::from_millis(500);
        for task in self.ingest {
            let abort = task.abort_handle();
            if tokio::time::timeout(grace, task).await.is_err() {
                abort.abort();
            }
        }
        if let Some((store, history)) = self.history {
            let saved = tokio::task::spawn_blocking(move || history::save(&store, &history));
            let _ = saved.await;
        }
        self.stop_actor.cancel();
        let engine = self.actor.await.expect("the actor does not panic");
        if let Some(uploader) = self.uploader {
            uploader.finish().await;
        }
        engine
    }
}
