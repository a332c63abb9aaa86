//! The actor: the one task that owns the [`Engine`].
//!
//! Ingest sends batches over a bounded channel; the actor applies whatever
//! is queued in one go, applies the deadlines that passed, publishes a new
//! snapshot and the changes, and then sleeps until the next message or the
//! next deadline, whichever comes first. No scan of all services ever.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use lovebeat_alert::Alerter;
use lovebeat_core::{Changes, DeleteViewError, Engine, Event, Millis};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::batch::Batch;
use crate::internal_events::BeatsApplied;
use crate::metrics::{Metrics, Scrape};
use crate::snapshot::Snapshot;

/// Batches applied before the actor publishes and looks at deadlines again.
const MAX_ROUND: usize = 1024;

/// The wall clock in ms since the epoch.
pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

enum Msg {
    Batch(Batch),
    DeleteView(String, DeleteReply),
}

/// What one round changed, for subscribers (the websocket, logs, alerts).
#[derive(Debug)]
pub struct Published {
    pub changes: Changes,
    pub snapshot: Arc<Snapshot>,
}

/// Why a batch was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The queue is full (only from [`EngineHandle::try_send`]).
    Full,
    /// lovebeat is shutting down.
    Closed,
}

/// The cheap, cloneable way in: send batches, read snapshots.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Msg>,
    snapshot: Arc<ArcSwap<Snapshot>>,
    metrics: Arc<Metrics>,
    published: broadcast::Sender<Arc<Published>>,
    alerter: Alerter,
}

impl EngineHandle {
    /// The latest published snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Where view changes become alerts; its status and counters.
    pub fn alerter(&self) -> &Alerter {
        &self.alerter
    }

    /// Batches waiting in the engine queue, and the queue's capacity.
    pub fn queue_depth(&self) -> (usize, usize) {
        let capacity = self.tx.max_capacity();
        (capacity - self.tx.capacity(), capacity)
    }

    /// What a `/metrics` scrape reads: the latest snapshot and the queue.
    pub fn scrape(&self) -> Scrape {
        Scrape {
            snapshot: self.snapshot(),
            queue: self.queue_depth(),
        }
    }

    /// Changes as they are published. A subscriber that falls more than
    /// the channel's capacity behind gets `Lagged` and should resync from
    /// [`EngineHandle::snapshot`].
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.published.subscribe()
    }

    /// Queues a batch without waiting; a full queue is the caller's to count.
    pub fn try_send(&self, batch: Batch) -> Result<(), SendError> {
        self.tx.try_send(Msg::Batch(batch)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::Full,
            mpsc::error::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    /// Queues a batch, waiting for room (back-pressure).
    pub async fn send(&self, batch: Batch) -> Result<(), SendError> {
        self.tx
            .send(Msg::Batch(batch))
            .await
            .map_err(|_| SendError::Closed)
    }

    /// Applies a batch and waits until readers can see its effect.
    pub async fn apply(&self, mut batch: Batch) -> Result<(), SendError> {
        let (done, applied) = oneshot::channel();
        batch.done = Some(done);
        self.send(batch).await?;
        applied.await.map_err(|_| SendError::Closed)
    }

    /// Deletes a view that has no members.
    pub async fn delete_view(&self, name: &str) -> Result<Result<(), DeleteViewError>, SendError> {
        let (reply, result) = oneshot::channel();
        self.tx
            .send(Msg::DeleteView(name.to_owned(), reply))
            .await
            .map_err(|_| SendError::Closed)?;
        result.await.map_err(|_| SendError::Closed)
    }
}

/// The engine's owner; [`Actor::run`] until cancelled.
pub struct Actor {
    engine: Engine,
    rx: mpsc::Receiver<Msg>,
    handle: EngineHandle,
}

type DeleteReply = oneshot::Sender<Result<(), DeleteViewError>>;

/// Replies held back until the round's snapshot is published.
#[derive(Default)]
struct Replies {
    applied: Vec<oneshot::Sender<()>>,
    deleted: Vec<(DeleteReply, Result<(), DeleteViewError>)>,
}

impl Actor {
    /// An actor for `engine` with a queue of `capacity` batches, raising
    /// the alerts of view changes on `alerter`.
    pub fn new(
        engine: Engine,
        capacity: usize,
        metrics: Arc<Metrics>,
        alerter: Alerter,
    ) -> (Actor, EngineHandle) {
        let (tx, rx) = mpsc::channel(capacity);
        let snapshot = Snapshot::full(&engine, now_ms());
        let (published, _) = broadcast::channel(1024);
        let handle = EngineHandle {
            tx,
            snapshot: Arc::new(ArcSwap::from_pointee(snapshot)),
            metrics,
            published,
            alerter,
        };
        let actor = Actor {
            engine,
            rx,
            handle: handle.clone(),
        };
        (actor, handle)
    }

    /// Runs until `stop` is cancelled and the queue is drained (or every
    /// sender is gone); returns the engine for a final save.
    pub async fn run(mut self, stop: CancellationToken) -> Engine {
        loop {
            let wake = self.engine.next_deadline().map(instant_at);
            let first = tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(msg) => Some(msg),
                    None => break,
                },
                () = sleep_until(wake) => None,
                () = stop.cancelled() => break,
            };
            self.round(first);
        }
        self.rx.close();
        while let Some(msg) = self.rx.recv().await {
            self.round(Some(msg));
        }
        self.engine
    }

    /// Applies `first` and whatever else is queued, then the deadlines,
    /// then publishes.
    fn round(&mut self, first: Option<Msg>) {
        let now = now_ms();
        let mut replies = Replies::default();
        let mut next = first;
        let mut handled = 0;
        while let Some(msg) = next {
            self.handle(msg, now, &mut replies);
            handled += 1;
            next = if handled < MAX_ROUND {
                self.rx.try_recv().ok()
            } else {
                None
            };
        }
        self.engine.tick(now_ms());
        self.publish(now);
        for done in replies.applied {
            let _ = done.send(());
        }
        for (reply, result) in replies.deleted {
            let _ = reply.send(result);
        }
    }

    fn handle(&mut self, msg: Msg, now: Millis, replies: &mut Replies) {
        match msg {
            Msg::Batch(mut batch) => {
                let beats = batch.apply(&mut self.engine, now);
                BeatsApplied { beats }.emit(&self.handle.metrics);
                replies.applied.extend(batch.done.take());
            }
            Msg::DeleteView(name, reply) => {
                replies
                    .deleted
                    .push((reply, self.engine.delete_view(&name)));
            }
        }
    }

    fn publish(&mut self, now: Millis) {
        let changes = self.engine.take_changes();
        for event in &changes.events {
            if let Event::ViewStateChanged(change) = event {
                self.handle.alerter.raise(change);
            }
        }
        if changes.events.is_empty() && changes.services.is_empty() && changes.views.is_empty() {
            return;
        }
        let previous = self.handle.snapshot.load();
        let snapshot = Arc::new(previous.updated(&self.engine, &changes, now));
        self.handle.snapshot.store(snapshot.clone());
        if self.handle.published.receiver_count() > 0 {
            let _ = self
                .handle
                .published
                .send(Arc::new(Published { changes, snapshot }));
        }
    }
}

/// The instant at which the wall clock reads `at`.
fn instant_at(at: Millis) -> Instant {
    let ahead = at.saturating_sub(now_ms()).max(0) as u64;
    Instant::now() + Duration::from_millis(ahead)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
