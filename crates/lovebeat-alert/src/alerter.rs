//! The alerter: takes view changes from the engine's actor through each
//! view's [`Policies`] (hold-down, reminders, acknowledgements), writes
//! each delivery to the outbox, and hands it to the worker of its entry
//! and back-end kind; plus `test-alert`.
//!
//! [`Alerter::raise`] never blocks: changes go over an unbounded channel
//! to the router task, which does the outbox writes and wakes when the
//! policy next has something due. At start the router first queues what
//! the outbox still holds, in id order, so alerts left by a previous run
//! go out before new ones; the policy records saved there wait for
//! [`Alerter::resume`] (the views' states after the engine's restore).
//! A step's deliveries are written before the records that count them,
//! and handed to workers only after, so a crash anywhere in between
//! neither repeats nor loses one (see [`Record::adopt`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use lovebeat_core::clock::now_ms;
use lovebeat_core::{Acknowledgement, ViewChange};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use crate::alert::{Ack, Alert, Kind, Target};
use crate::backend::{self, Backend, DeliveryError, Shared};
use crate::error::AlertError;
use crate::outbox::{Delivery, Outbox, blocking};
use crate::policy::{Policies, Record, Step, ViewNow};
use crate::rules;
use crate::settings::Settings;
use crate::stats::{EntryStatus, Outcome, Stats};
use crate::worker::{Clock, Context, Queued, Worker};

/// The handle the engine's actor holds: cheap to clone.
#[derive(Clone)]
pub struct Alerter {
    /// None: no alerts configured or a test server.
    tx: Option<UnboundedSender<Notice>>,
    stats: Arc<Stats>,
}

/// What the router is told.
enum Notice {
    Change(ViewChange),
    /// Every view's state after the engine's restore.
    Resume(Vec<ViewNow>),
    Ack(ViewNow, Ack),
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
        let mut router = Router::new(settings, ctx.clone(), backends);
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
            let _ = tx.send(Notice::Change(change.clone()));
        }
    }

    /// Tells the policy every view's state after a restart, so changes
    /// held when lovebeat stopped are held again; never blocks.
    pub fn resume(&self, views: Vec<ViewNow>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Notice::Resume(views));
        }
    }

    /// The failing view `current` was acknowledged (the engine checked
    /// it): its entries are told, and reminders stop until its next
    /// change; never blocks.
    pub fn acknowledged(&self, current: ViewNow, ack: &Acknowledgement) {
        if let Some(tx) = &self.tx {
            let ack = Ack {
                author: ack.author.clone(),
                comment: ack.comment.clone(),
                at: ack.at,
            };
            let _ = tx.send(Notice::Ack(current, ack));
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

/// Routes deliveries to workers; owns the senders of their queues and the
/// views' policies.
struct Router {
    settings: Settings,
    ctx: Arc<Context>,
    queues: HashMap<(String, Kind), UnboundedSender<Queued>>,
    policies: Policies,
    /// The outbox id of each view's policy record.
    records: HashMap<String, u64>,
    /// Records read at start, until [`Alerter::resume`].
    restored: Vec<Record>,
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
            policies: Policies::new(settings.clone()),
            settings,
            ctx,
            queues,
            records: HashMap::new(),
            restored: Vec::new(),
        }
    }

    /// Queues the deliveries a previous run left in the outbox, and keeps
    /// the policy records, brought up to those deliveries.
    fn replay(&mut self) -> Result<(), AlertError> {
        let entries = blocking(|| self.ctx.outbox.entries()).map_err(AlertError::Outbox)?;
        let mut deliveries = Vec::new();
        for (id, bytes) in entries {
            if let Ok(delivery) = Delivery::decode(&bytes) {
                deliveries.push((id, delivery));
            } else if let Ok(record) = Record::decode(&bytes) {
                self.records.insert(record.view.clone(), id);
                self.restored.push(record);
            } else {
                tracing::error!(id, "dropping unreadable alert from the outbox");
                self.remove(id);
            }
        }
        if !deliveries.is_empty() {
            tracing::info!("{} alert(s) left from the last run", deliveries.len());
        }
        for (_, delivery) in &deliveries {
            for record in &mut self.restored {
                record.adopt(&delivery.entry, &delivery.alert);
            }
        }
        for (id, delivery) in deliveries {
            self.route(Some(id), delivery);
        }
        Ok(())
    }

    async fn run(mut self, mut rx: UnboundedReceiver<Notice>) {
        loop {
            let wait = self.policies.next_due().map(|due| {
                let ms = due.saturating_sub((self.ctx.clock)()).max(0);
                Duration::from_millis(u64::try_from(ms).unwrap_or(0))
            });
            let notice = tokio::select! {
                notice = rx.recv() => match notice {
                    Some(notice) => notice,
                    None => break,
                },
                () = sleep(wait) => {
                    let step = self.policies.due((self.ctx.clock)());
                    self.apply(step);
                    continue;
                }
            };
            self.notice(notice);
        }
    }

    fn notice(&mut self, notice: Notice) {
        let now = (self.ctx.clock)();
        match notice {
            Notice::Change(change) => {
                let step = self.policies.observe(&change, now);
                self.apply(step);
            }
            Notice::Resume(views) => {
                let restored = std::mem::take(&mut self.restored);
                for view in self.policies.resume(restored, &views) {
                    if let Some(id) = self.records.remove(&view) {
                        self.remove(id);
                    }
                }
                let step = self.policies.due(now);
                self.apply(step);
            }
            Notice::Ack(current, ack) => match self.policies.acknowledge(&current, ack) {
                Ok(step) => self.apply(step),
                Err(e) => tracing::warn!(view = %current.name, "acknowledgement dropped: {e}"),
            },
        }
    }

    /// Writes a step's deliveries to the outbox, then its records, then
    /// queues the deliveries.
    fn apply(&mut self, step: Step) {
        let created = (self.ctx.clock)();
        let mut queued = Vec::with_capacity(step.sends.len());
        for (entry, target, alert) in step.sends {
            let delivery = Delivery {
                entry,
                target,
                alert,
                created,
                failures: 0,
            };
            let id = blocking(|| self.ctx.outbox.push(&delivery.encode()));
            let id = id.map_err(|e| tracing::error!(error = %e, "alert not in the outbox; delivering from memory")).ok();
            queued.push((id, delivery));
        }
        for record in step.saves {
            self.save(&record);
        }
        for (id, delivery) in queued {
            self.route(id, delivery);
        }
    }

    /// Saves a view's policy record in the outbox, in place of its last.
    fn save(&mut self, record: &Record) {
        let bytes = record.encode();
        let saved = match self.records.get(&record.view) {
            Some(&id) => blocking(|| self.ctx.outbox.replace(id, &bytes)),
            None => blocking(|| self.ctx.outbox.push(&bytes)).map(|id| {
                self.records.insert(record.view.clone(), id);
            }),
        };
        if let Err(e) = saved {
            tracing::error!(error = %e, view = %record.view, "alert policy not saved; a restart may repeat or miss a reminder");
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

/// Sleeps `wait`, or forever for None.
async fn sleep(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
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
