//! Operating lovebeat: what lets other tools watch it. It owns the model's
//! series of `/metrics` ([`series`], [`alert_series`]), the tasks the
//! daemon starts with [`Ops::subscribe`], the event log's file and the
//! peers' queues. It imports the engine's handle, the model, the alerter
//! and the counters; it must never import ingest, HTTP or the monitors
//! (only the daemon, the binary and `lovebeat-config`, which builds its
//! settings types, import it).
//!
//! Each task follows the engine's published changes on its own
//! subscription, so none can slow ingest or each other: the state log
//! (§7.5, always), the event log (§7.4, `[eventlog] path`), statsd out
//! (§7.3, `[metrics] server`) and the peer notifier (§7.2, `[[notify]]`).
//! Statsd's `db.save.*` and the peers' `save` beat follow the store's
//! periodic flushes through [`Flushes`], from the write-behind's status.
//!
//! # Layout
//! * this file: [`OpsSettings`], [`Ops`], [`Subscribed`] and [`OpsError`].
//! * [`series`]: the snapshot's metrics, per scrape.
//! * [`alert_series`]: the alerter's metrics, per scrape.
//! * [`eventlog`]: every event as a JSON line (§7.4).
//! * `statelog`: state changes as log lines (§7.5).
//! * [`statsd`]: lovebeat's own numbers to a statsd server (§7.3).
//! * [`notify`]: autobeats to `[[notify]]` peers (§7.2).

pub mod alert_series;
pub mod eventlog;
pub mod notify;
pub mod series;
mod statelog;
pub mod statsd;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use lovebeat_engine::{EngineHandle, Flushes};
use lovebeat_telemetry::Metrics;

use crate::eventlog::{EventLog, EventLogSettings};
use crate::notify::{PeerSettings, Peers};
use crate::statsd::StatsdSettings;

/// How long [`Ops::shutdown`] waits for the tasks to write what is left.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What to run; the binary builds it from the settings `lovebeat-config`
/// made.
#[derive(Debug, Clone, Default)]
pub struct OpsSettings {
    /// No server: no statsd output.
    pub statsd: Option<StatsdSettings>,
    /// No file: no event log.
    pub eventlog: Option<EventLogSettings>,
    /// No peers: no notifier.
    pub peers: Option<PeerSettings>,
}

/// Why the operating tasks could not start.
#[derive(Debug)]
pub enum OpsError {
    /// The event log could not be opened.
    EventLog(std::path::PathBuf, std::io::Error),
    /// The peer notifier's HTTP client could not be built.
    Notifier(reqwest::Error),
}

impl std::fmt::Display for OpsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpsError::EventLog(path, e) => {
                write!(f, "cannot open the event log {}: {e}", path.display())
            }
            OpsError::Notifier(e) => write!(
                f,
                "cannot start the peer notifier: {}",
                lovebeat_alert::error_chain(e)
            ),
        }
    }
}

impl std::error::Error for OpsError {}

/// One task, subscribed and not yet running.
type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The tasks, subscribed to the engine's changes, not yet running: what
/// is published meanwhile waits in their subscriptions.
pub struct Subscribed {
    stop: CancellationToken,
    tasks: Vec<Task>,
    reopen: Arc<Notify>,
}

impl Subscribed {
    /// Runs every task.
    pub fn spawn(self) -> Ops {
        Ops {
            tasks: self.tasks.into_iter().map(tokio::spawn).collect(),
            stop: self.stop,
            reopen: self.reopen,
        }
    }
}

/// The running tasks.
pub struct Ops {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    reopen: Arc<Notify>,
}

impl Ops {
    /// Prepares every task `settings` asks for, following `engine`,
    /// counting in `metrics`: each subscribes to the engine's changes now,
    /// and runs once [`Subscribed::spawn`]ed. Called before the engine's
    /// actor runs (as the daemon does), none misses an event.
    pub fn subscribe(
        engine: &EngineHandle,
        metrics: &Arc<Metrics>,
        settings: OpsSettings,
    ) -> Result<Subscribed, OpsError> {
        let stop = CancellationToken::new();
        let reopen = Arc::new(Notify::new());
        let mut tasks: Vec<Task> = vec![Box::pin(statelog::run(
            metrics.clone(),
            engine.subscribe(),
            stop.clone(),
        ))];
        if let Some(eventlog) = settings.eventlog {
            let path = eventlog.path.clone();
            let log = EventLog::open(eventlog).map_err(|e| OpsError::EventLog(path, e))?;
            tasks.push(Box::pin(eventlog::run(
                log,
                engine.subscribe(),
                reopen.clone(),
                metrics.clone(),
                stop.clone(),
            )));
        }
        if let Some(statsd) = settings.statsd {
            tasks.push(Box::pin(statsd::run(
                statsd,
                engine.clone(),
                metrics.clone(),
                engine.subscribe(),
                Flushes::new(engine.store_status()),
                stop.clone(),
            )));
        }
        if let Some(peers) = settings.peers.filter(|p| !p.urls.is_empty()) {
            let interval = peers.interval;
            let queues = Peers::start(&peers, metrics.clone()).map_err(OpsError::Notifier)?;
            tasks.push(Box::pin(notify::run(
                queues,
                interval,
                engine.clone(),
                Flushes::new(engine.store_status()),
                stop.clone(),
            )));
        }
        Ok(Subscribed {
            stop,
            tasks,
            reopen,
        })
    }

    /// Reopens the event log (SIGHUP).
    pub fn reopen_eventlog(&self) {
        // Stores a permit if the task is busy writing: the ask is not lost.
        self.reopen.notify_one();
    }

    /// Stops every task after it wrote what was published so far (call it
    /// after the engine's actor stopped, so that is everything).
    pub async fn shutdown(self) {
        self.stop.cancel();
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
    }
}
