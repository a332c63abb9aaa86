//! The lovebeat daemon: it owns the wiring of the rooms, and the order in
//! which they start and stop. Nothing here decides anything about beats,
//! state, storage or HTTP; it only starts each part with what it needs. It
//! imports every room; no room may import it (only the binary does).
//!
//! [`Server::start`] binds the UDP, TCP and HTTP listeners, subscribes the
//! self-monitoring tasks (`lovebeat_ops::Ops`: the state log, the event
//! log, statsd out, peer notify) to the engine's changes, then starts the
//! engine's actor, the listeners (`lovebeat-ingest`, `lovebeat-http`), the
//! probes, the status history and the S3 copy (`lovebeat-monitors`), the
//! self-monitoring tasks last, and adds the model's series to `/metrics`
//! (`lovebeat-ops`). Subscribed before the actor runs, the logs miss no
//! event of a start (the first state change of a probe's service happens
//! within milliseconds); spawned last, as they were when the binary
//! started them, they leave the start's scheduling as it was (spawned
//! before the actor, a burst of 100 000 new services was applied faster
//! but saved in one long save, and a change after it waited 8–10 s for
//! the disk instead of 2–5 s).
//! [`Server::shutdown`] stops taking beats, drains the queue, hands the
//! engine back after its final save, and then stops the self-monitoring
//! tasks once they wrote everything.
//!
//! # Layout
//! * this file: [`Settings`], [`Server`] and [`StartError`].

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use lovebeat_alert::Alerter;
use lovebeat_core::Engine;
use lovebeat_engine::{Actor, EngineHandle, Persistence};
use lovebeat_http::{AppState, HttpAccess, HttpLimits, HttpService, StatusPageSettings};
use lovebeat_ingest::Ingest;
use lovebeat_monitors::history::{self, StateHistory};
use lovebeat_monitors::messages::MessageBoard;
use lovebeat_monitors::probes::{ProbeMetrics, Probes};
use lovebeat_monitors::s3::{S3Copy, Uploader};
use lovebeat_monitors::signals::TokenBook;
use lovebeat_ops::alert_series::AlertSeries;
use lovebeat_ops::series::{ModelSeries, SeriesSettings};
use lovebeat_ops::{Ops, OpsError, OpsSettings};
use lovebeat_telemetry::{Metrics, UdpDrops};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long shutdown waits for each listener and task to stop.
const STOP_GRACE: Duration = Duration::from_millis(500);

/// Where to listen and how to run; addresses are tried in order until one
/// binds (e.g. `[::]:8127`, then `0.0.0.0:8127` where IPv6 is off).
#[derive(Debug)]
pub struct Settings {
    /// Where the line protocol listens for datagrams.
    pub udp: Vec<SocketAddr>,
    /// Where the line protocol listens for connections.
    pub tcp: Vec<SocketAddr>,
    /// Where HTTP listens.
    pub http: Vec<SocketAddr>,
    /// The path the HTTP server serves everything under, without a
    /// trailing `/`; `""` for the root.
    pub base_path: String,
    /// Batches the engine queue holds.
    pub queue: usize,
    /// What `/version` and `lovebeat_build_info` say.
    pub version: String,
    /// How large `/metrics` may grow.
    pub series: SeriesSettings,
    /// Where changes are saved; None keeps everything in memory only.
    pub persistence: Option<Persistence>,
    /// Where the store is copied to, if anywhere (needs `persistence`).
    pub s3: Option<S3Copy>,
    /// `[database] startup_grace`: how long the view changes caused by
    /// the restore are held back.
    pub startup_grace: Duration,
    /// Push tokens, loaded from the store.
    pub tokens: Arc<TokenBook>,
    /// Incident messages, loaded from the store.
    pub messages: Arc<MessageBoard>,
    /// The status page's hourly history, as [`history::load`] read it.
    pub history: Arc<StateHistory>,
    /// The active probes, run from start to shutdown.
    pub probes: Probes,
    /// `[status_page]`.
    pub status_page: StatusPageSettings,
    /// Where view changes go (`Alerter::disabled()` for none).
    pub alerter: Alerter,
    /// What the line protocol listeners enforce.
    pub ingest: lovebeat_ingest::Settings,
    /// `[limits]` of the HTTP server.
    pub http_limits: HttpLimits,
    /// `[http]` tokens and websocket origins.
    pub http_access: HttpAccess,
    /// The self-monitoring tasks to run.
    pub ops: OpsSettings,
}

/// A running lovebeat.
pub struct Server {
    /// The engine's handle, for the binary's own tasks.
    pub engine: EngineHandle,
    /// What is counted.
    pub metrics: Arc<Metrics>,
    stop_ingest: CancellationToken,
    stop_actor: CancellationToken,
    ingest: Vec<JoinHandle<()>>,
    actor: JoinHandle<Engine>,
    /// Where the status page's history is saved at shutdown.
    history: Option<(lovebeat_store::Store, Arc<StateHistory>)>,
    /// Keeps the S3 copy up to date, when there is one.
    uploader: Option<Uploader>,
    /// The state log, event log, statsd out and peer notify.
    ops: Ops,
}

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    /// A listener could not be opened: which ("UDP", "TCP" or "HTTP"),
    /// and why.
    Bind(&'static str, io::Error),
    /// A self-monitoring task could not start (the event log's file).
    Ops(OpsError),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Bind(what, source) => write!(f, "cannot listen for {what} on {source}"),
            StartError::Ops(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StartError {}

impl Server {
    /// Binds every listener, starts the self-monitoring tasks, then
    /// starts serving `engine`.
    pub async fn start(settings: Settings, engine: Engine) -> Result<Server, StartError> {
        let bind_error = |what| move |source| StartError::Bind(what, source);
        let receive_buffer = settings.ingest.udp_receive_buffer;
        let udp =
            lovebeat_ingest::bind_udp(&settings.udp, receive_buffer).map_err(bind_error("UDP"))?;
        let tcp = lovebeat_ingest::bind_tcp(&settings.tcp).map_err(bind_error("TCP"))?;
        let http = lovebeat_ingest::bind_tcp(&settings.http).map_err(bind_error("HTTP"))?;
        let local = |r: io::Result<SocketAddr>, what| r.map_err(bind_error(what));
        let udp_addr = local(udp.local_addr(), "UDP")?;
        let tcp_addr = local(tcp.local_addr(), "TCP")?;
        let http_addr = local(http.local_addr(), "HTTP")?;

        let metrics = Arc::new(Metrics::new(&settings.version));
        let alerter = settings.alerter;
        let (mut actor, engine) =
            Actor::new(engine, settings.queue, metrics.clone(), alerter.clone());
        // Before the actor runs: the logs' subscriptions then see its
        // first change (a probe's new service can be one within a
        // millisecond of the start). They run once everything else does.
        let ops = Ops::subscribe(&engine, &metrics, settings.ops).map_err(StartError::Ops)?;
        let store = settings.persistence.as_ref().map(|p| p.store.clone());
        if let Some(persistence) = settings.persistence {
            actor = actor.with_persistence(persistence);
        }
        let uploader = (settings.s3.zip(store.clone())).map(|(copy, store)| {
            Uploader::start(copy, store, metrics.clone(), engine.store_status())
        });
        let actor = actor.with_startup_grace(settings.startup_grace);
        let stop_actor = CancellationToken::new();
        let actor = tokio::spawn(actor.run(stop_actor.clone()));

        let probes = settings.probes.board.clone();
        metrics.add_collector(Arc::new(ModelSeries {
            engine: engine.clone(),
            settings: settings.series,
        }));
        metrics.add_collector(Arc::new(AlertSeries(alerter.clone())));
        if let Some(drops) = UdpDrops::of(udp.as_raw_fd()) {
            metrics.add_collector(Arc::new(drops));
        }
        metrics.add_collector(Arc::new(ProbeMetrics(probes.clone())));
        metrics.add_collector(Arc::new(lovebeat_http::StatuscopeMetrics {
            engine: engine.clone(),
            tokens: settings.tokens.clone(),
        }));
        let history = settings.history;
        let app = HttpService::new(
            AppState {
                metrics: metrics.clone(),
                alerter,
                tokens: settings.tokens,
                messages: settings.messages,
                history: history.clone(),
                checks: probes,
                status_page: Arc::new(settings.status_page),
                ..AppState::new(engine.clone(), &settings.version, &settings.base_path)
            }
            .limited(settings.http_limits.clone(), settings.http_access),
        );
        let listeners = Ingest {
            engine: engine.clone(),
            metrics: metrics.clone(),
            settings: Arc::new(settings.ingest),
        };
        let stop_ingest = CancellationToken::new();
        let stop = stop_ingest.clone();
        let mut ingest = vec![
            tokio::spawn(lovebeat_ingest::serve_udp(
                udp,
                listeners.clone(),
                stop.clone(),
            )),
            tokio::spawn(lovebeat_ingest::serve_tcp(tcp, listeners, stop.clone())),
            tokio::spawn(lovebeat_http::serve(
                http,
                app,
                settings.http_limits,
                metrics.clone(),
                stop.clone(),
            )),
            tokio::spawn(history::follow(history.clone(), engine.clone(), stop)),
        ];
        ingest.extend(settings.probes.start(&engine, &stop_ingest));
        let ops = ops.spawn();
        tracing::info!("UDP listening on {udp_addr}");
        tracing::info!("TCP listening on {tcp_addr}");
        tracing::info!("HTTP listening on {http_addr}");
        Ok(Server {
            engine,
            metrics,
            stop_ingest,
            stop_actor,
            ingest,
            actor,
            history: store.map(|store| (store, history)),
            uploader,
            ops,
        })
    }

    /// Reopens the event log (SIGHUP).
    pub fn reopen_eventlog(&self) {
        self.ops.reopen_eventlog();
    }

    /// Stops taking beats, applies what is queued, saves it, uploads it to
    /// the S3 copy if there is one, lets the self-monitoring tasks write
    /// what was published, and returns the engine.
    pub async fn shutdown(self) -> Engine {
        self.stop_ingest.cancel();
        for task in self.ingest {
            let abort = task.abort_handle();
            if tokio::time::timeout(STOP_GRACE, task).await.is_err() {
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
        self.ops.shutdown().await;
        engine
    }
}
