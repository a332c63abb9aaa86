//! The alerter: takes view changes from the engine's actor, writes each
//! delivery to the outbox, and hands it to the worker of its entry and
//! back-end kind; plus `test-alert`.
//!
//! [`Alerter::raise`] never blocks: changes go over an unbounded channel
//! to the router task, which does the outbox writes. At start the router
//! first queues what the outbox still holds, in id order, so alerts left
//! by a previous run go out before new ones.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use lovebeat_core::ViewChange;
use lovebeat_core::clock::now_ms;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use crate::alert::{Alert, Kind, Target};
use crate::backend::{self, Backend, DeliveryError, Shared};
use crate::error::AlertError;
use crate::outbox::{Delivery, Outbox, blocking};
use crate::rules;
use crate::settings::Settings;
use crate::stats::{EntryStatus, Outcome, Stats};
use crate::worker::{Clock, Context, Queued, Worker};

/// The handle the engine's actor holds: cheap to clone.
#[derive(Clone)]
pub struct Alerter {
    /// None: no alerts configured or a test server.
    tx: Option<UnboundedSender<ViewChange>>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for Alerter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerter")
            .field("running", &self.tx.is_some())
            .finish()
    }
}

impl Alerter {
    /// An alerter that drops every change.
    pub fn disabled() -> Alerter {
        Alerter {
            tx: None,
            stats: Arc::default(),
        }
    }

    /// Starts the workers and the router (inside a tokio runtime), first
    /// queueing what `outbox` holds.
    pub fn start(settings: Settings, outbox: Arc<dyn Outbox>) -> Result<Alerter, AlertError> {
        let shared = Arc::new(Shared::new(settings.clone())?);
        let backends = backends(&shared);
        Alerter::start_with(settings, outbox, Arc::new(now_ms), backends)
    }

    /// [`Alerter::start`] with a clock and back-ends of the caller's.
    pub(crate) fn start_with(
        settings: Settings,
        outbox: Arc<dyn Outbox>,
        clock: Clock,
        backends: Backends,
    ) -> Result<Alerter, AlertError> {
        let ctx = Arc::new(Context {
            outbox,
            stats: Arc::default(),
            retry: settings.retry,
            timeout: settings.timeout,
            clock,
        });
        let router = Router::new(settings, ctx.clone(), backends);
        router.replay()?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(router.run(rx));
        Ok(Alerter {
            tx: Some(tx),
            stats: ctx.stats.clone(),
        })
    }

    /// Queues the alerts of a view change; never blocks.
    pub fn raise(&self, change: &ViewChange) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(change.clone());
        }
    }

    /// Every entry's back-ends, pending deliveries and last error.
    pub fn status(&self) -> Vec<EntryStatus> {
        self.stats.entries()
    }

    /// How often `kind` had `outcome`, since start.
    pub fn count(&self, kind: Kind, outcome: Outcome) -> u64 {
        self.stats.count(kind, outcome)
    }
}

/// The back-ends of each entry, by entry and kind.
pub(crate) type Backends = BTreeMap<(String, Kind), Vec<(Target, Arc<dyn Backend>)>>;

/// Every configured back-end of every entry.
fn backends(shared: &Arc<Shared>) -> Backends {
    let mut all = Backends::new();
    for (name, entry) in &shared.settings.entries {
        let commands = [Target::OnOk, Target::OnError];
        for target in Target::NOTIFY.into_iter().chain(commands) {
            if let Some(backend) = backend::build(shared, entry, target) {
                let key = (name.clone(), target.kind());
                all.entry(key).or_default().push((target, backend));
            }
        }
    }
    all
}

/// Routes deliveries to workers; owns the senders of their queues.
struct Router {
    settings: Settings,
    ctx: Arc<Context>,
    queues: HashMap<(String, Kind), UnboundedSender<Queued>>,
}

impl Router {
    /// Spawns one worker per entry and kind that has back-ends.
    fn new(settings: Settings, ctx: Arc<Context>, backends: Backends) -> Router {
        let mut queues = HashMap::new();
        for ((entry, kind), backends) in backends {
            ctx.stats.register(&entry, kind);
            let (tx, rx) = mpsc::unbounded_channel();
            let worker = Worker {
                entry: entry.clone(),
                kind,
                backends,
                ctx: ctx.clone(),
            };
            tokio::spawn(worker.run(rx));
            queues.insert((entry, kind), tx);
        }
        Router {
            settings,
            ctx,
            queues,
        }
    }

    /// Queues the deliveries a previous run left in the outbox.
    fn replay(&self) -> Result<(), AlertError> {
        let entries = blocking(|| self.ctx.outbox.entries()).map_err(AlertError::Outbox)?;
        if !entries.is_empty() {
            tracing::info!("{} alert(s) left from the last run", entries.len());
        }
        for (id, bytes) in entries {
            match Delivery::decode(&bytes) {
                Ok(delivery) => self.route(Some(id), delivery),
                Err(e) => {
                    tracing::error!(id, error = %e, "dropping unreadable alert from the outbox");
                    self.remove(id);
                }
            }
        }
        Ok(())
    }

    async fn run(self, mut rx: UnboundedReceiver<ViewChange>) {
        while let Some(change) = rx.recv().await {
            self.raise(&change);
        }
    }

    /// Writes a change's deliveries to the outbox and queues them.
    fn raise(&self, change: &ViewChange) {
        let settings = &self.settings;
        let names = settings.views.get(change.template).map_or(&[][..], |v| v);
        let mut alert = Alert::from_change(change);
        alert.team = settings.view_teams.get(change.template).cloned().flatten();
        for name in names {
            let Some(entry) = settings.entries.get(name) else {
                tracing::warn!(
                    "Alarm {} references alert {name} which can't be found",
                    change.name
                );
                continue;
            };
            for target in rules::targets(entry, change.from, change.to) {
                let delivery = Delivery {
                    entry: name.clone(),
                    target,
                    alert: alert.clone(),
                    created: (self.ctx.clock)(),
                    failures: 0,
                };
                let id = blocking(|| self.ctx.outbox.push(&delivery.encode()));
                let id = id.map_err(|e| tracing::error!(error = %e, "alert not in the outbox; delivering from memory")).ok();
                self.route(id, delivery);
            }
        }
    }

    /// Hands a delivery to its worker, or drops it if the entry no longer
    /// has that back-end.
    fn route(&self, id: Option<u64>, delivery: Delivery) {
        let key = (delivery.entry.clone(), delivery.target.kind());
        let configured = self
            .settings
            .entries
            .get(&delivery.entry)
            .is_some_and(|e| rules::has(e, delivery.target));
        match self.queues.get(&key).filter(|_| configured) {
            Some(queue) => {
                self.ctx.stats.queued(&key.0, key.1);
                let _ = queue.send(Queued { id, delivery });
            }
            None => {
                tracing::warn!(
                    entry = %delivery.entry, kind = %key.1,
                    "dropping alert: [alerts.{}] has no {:?} any more", delivery.entry, delivery.target
                );
                if let Some(id) = id {
                    self.remove(id);
                }
            }
        }
    }

    fn remove(&self, id: u64) {
        if let Err(e) = blocking(|| self.ctx.outbox.remove(id)) {
            tracing::error!(error = %e, "cannot remove alert from the outbox");
        }
    }
}

/// What `lovebeat test-alert NAME` does: sends a sample alert once through
/// every notification back-end of entry `name` (not `on_ok`/`on_error`);
/// the channels that keep an incident open (PagerDuty, Opsgenie,
/// Alertmanager) are sent its recovery next, so none stays open.
pub async fn test_alert(
    settings: Settings,
    name: &str,
) -> Result<Vec<(Target, Result<(), DeliveryError>)>, AlertError> {
    let entry = settings
        .entries
        .get(name)
        .cloned()
        .ok_or_else(|| AlertError::UnknownEntry(name.to_owned()))?;
    let timeout = settings.timeout;
    let shared = Arc::new(Shared::new(settings)?);
    let alert = Alert::sample(now_ms());
    let mut results = Vec::new();
    for target in Target::NOTIFY {
        let Some(backend) = backend::build(&shared, &entry, target) else {
            continue;
        };
        let mut result = deliver_once(backend.as_ref(), &alert, timeout).await;
        if result.is_ok() && matches!(target, Target::Channel(c) if c.keeps_incidents_open()) {
            let recovery = alert.sample_recovery();
            result = deliver_once(backend.as_ref(), &recovery, timeout).await;
        }
        results.push((target, result));
    }
    Ok(results)
}

/// One attempt, within `timeout`.
async fn deliver_once(
    backend: &dyn Backend,
    alert: &Alert,
    timeout: std::time::Duration,
) -> Result<(), DeliveryError> {
    tokio::time::timeout(timeout, backend.deliver(alert))
        .await
        .unwrap_or(Err(DeliveryError::TimedOut(timeout)))
}

#[cfg(test)]
#[path = "alerter_tests.rs"]
mod tests;
