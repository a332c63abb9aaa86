//! Operating lovebeat: the tasks that let other tools watch it, started
//! beside a running [`crate::Server`] by [`Ops::start`].
//!
//! Each follows the actor's published changes on its own subscription, so
//! none can slow ingest or each other: the state log (§7.5, always), the
//! event log (§7.4, `[eventlog] path`), statsd out (§7.3, `[metrics]
//! server`) and the peer notifier (§7.2, `[[notify]]`). `/metrics` needs no
//! task: it reads the snapshot per scrape.
//!
//! Periodic flushes (statsd's `db.save.*`, the peers' `save` beat) arrive
//! through [`Metrics::subscribe_flushes`](crate::metrics::Metrics::subscribe_flushes): the store emits
//! [`StoreFlushed`](crate::internal_events::StoreFlushed) after each
//! periodic save, which comes every `[database] interval` even when idle.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::actor::EngineHandle;
use crate::eventlog::{self, EventLog, EventLogSettings};
pub use crate::internal_events::Flush;
use crate::notify::{self, PeerSettings, Peers};
use crate::statelog;
use crate::statsd::{self, StatsdSettings};

/// How long [`Ops::shutdown`] waits for the tasks to write what is left.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What to run; the binary builds it from the configuration.
#[derive(Debug, Clone, Default)]
pub struct OpsSettings {
    pub statsd: Option<StatsdSettings>,
    pub eventlog: Option<EventLogSettings>,
    /// No peers: no notifier.
    pub peers: Option<PeerSettings>,
}

/// Why the operating tasks could not start.
#[derive(Debug)]
pub enum OpsError {
    /// The event log could not be opened.
    EventLog(std::path::PathBuf, std::io::Error),
    /// A notifier thread could not be started.
    Notifier(std::io::Error),
}

impl std::fmt::Display for OpsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpsError::EventLog(path, e) => {
                write!(f, "cannot open the event log {}: {e}", path.display())
            }
            OpsError::Notifier(e) => write!(f, "cannot start the peer notifier: {e}"),
        }
    }
}

impl std::error::Error for OpsError {}

/// The running tasks.
pub struct Ops {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    reopen: Arc<Notify>,
}

impl Ops {
    /// Starts every task `settings` asks for, following `engine`.
    pub fn start(engine: &EngineHandle, settings: OpsSettings) -> Result<Ops, OpsError> {
        let stop = CancellationToken::new();
        let reopen = Arc::new(Notify::new());
        let metrics = engine.metrics().clone();
        let mut tasks = vec![tokio::spawn(statelog::run(
            engine.clone(),
            engine.subscribe(),
            stop.clone(),
        ))];
        if let Some(eventlog) = settings.eventlog {
            let path = eventlog.path.clone();
            let log = EventLog::open(eventlog).map_err(|e| OpsError::EventLog(path, e))?;
            tasks.push(tokio::spawn(eventlog::run(
                log,
                engine.subscribe(),
                reopen.clone(),
                metrics.clone(),
                stop.clone(),
            )));
        }
        if let Some(statsd) = settings.statsd {
            tasks.push(tokio::spawn(statsd::run(
                statsd,
                engine.clone(),
                engine.subscribe(),
                metrics.subscribe_flushes(),
                stop.clone(),
            )));
        }
        if let Some(peers) = settings.peers.filter(|p| !p.urls.is_empty()) {
            let interval = peers.interval;
            let queues = Peers::start(&peers, metrics.clone()).map_err(OpsError::Notifier)?;
            tasks.push(tokio::spawn(notify::run(
                queues,
                interval,
                engine.clone(),
                metrics.subscribe_flushes(),
                stop.clone(),
            )));
        }
        Ok(Ops {
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
    /// after [`crate::Server::shutdown`], so that is everything).
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
