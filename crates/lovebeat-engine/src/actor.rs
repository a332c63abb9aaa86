//! The actor: the one task that owns the [`Engine`].
//!
//! Ingest sends batches over a bounded channel; the actor applies whatever
//! is queued in one go, applies the deadlines that passed, publishes a new
//! snapshot and the changes, and then sleeps until the next message or the
//! next deadline, whichever comes first. No scan of all services ever.
//!
//! With a store ([`Actor::with_persistence`]) it also notes what each round
//! changed for the write-behind (`persist`), wakes for the interval save,
//! and holds the HTTP answers of rounds that must be durable until their
//! save is on disk; the actor itself never waits on the disk. With a
//! startup grace ([`Actor::with_startup_grace`]) it holds back the view
//! changes the restore caused (`grace`).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use lovebeat_alert::Alerter;
use lovebeat_alert::policy::ViewNow;
use lovebeat_core::clock::now_ms;
use lovebeat_core::{AckRefused, Acknowledgement, Changes, DeleteViewError, Engine, Event, Millis};
use lovebeat_telemetry::events::{BeatsApplied, Limited};
use lovebeat_telemetry::{Limit, Metrics};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::batch::{Applied, Batch, Op, Reply};
use crate::grace::Grace;
use crate::read_barrier::{self, ReadBarrier};
use crate::snapshot::Snapshot;
use crate::write_behind::{AfterSave, Persistence, StoreStatus, WriteBehind};

/// How long beats may wait to be published when nothing else changed (a
/// state change, a new service or a request waiting for its answer is
/// published at once).
const PUBLISH_EVERY: Duration = Duration::from_millis(50);

/// Batches applied before the actor publishes and looks at deadlines again.
const MAX_ROUND: usize = 1024;

pub(crate) enum Msg {
    Batch(Batch),
    /// A beat its sender answered once it was queued (see
    /// [`EngineHandle::beat_at_once`]).
    Answered(Batch),
    DeleteView(String, DeleteReply),
    Acknowledge(Acknowledgement, AckReply),
}

/// What one round changed, for subscribers (the websocket, logs, alerts).
#[derive(Debug)]
pub struct Published {
    /// The round's events and the names it touched.
    pub changes: Changes,
    /// The snapshot that shows them.
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

/// The cheap, cloneable way in: send batches; read snapshots (an API
/// read past the [`ReadBarrier`]), the published changes and the store's
/// health.
#[derive(Clone)]
pub struct EngineHandle {
    pub(crate) tx: mpsc::Sender<Msg>,
    pub(crate) snapshot: Arc<ArcSwap<Snapshot>>,
    published: broadcast::Sender<Arc<Published>>,
    store_status: watch::Receiver<StoreStatus>,
    pub(crate) barrier: ReadBarrier,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle")
            .field("queue", &self.queue_depth())
            .finish_non_exhaustive()
    }
}

impl EngineHandle {
    /// The latest published snapshot, behind no barrier: for followers of
    /// the published changes and periodic exporters. An API read, which
    /// must see the beats answered before it, takes [`EngineHandle::read`].
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The store's health, as the write-behind last sent it (the default,
    /// a store that never failed, without one).
    pub fn store_status(&self) -> watch::Receiver<StoreStatus> {
        self.store_status.clone()
    }

    /// Batches waiting in the engine queue, and the queue's capacity.
    pub fn queue_depth(&self) -> (usize, usize) {
        let capacity = self.tx.max_capacity();
        (capacity - self.tx.capacity(), capacity)
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

    /// Applies a batch and waits until readers can see its effect. Waits
    /// at most `queue_wait` for room in the queue: [`SendError::Full`]
    /// after that (HTTP answers 503 and Retry-After rather than hang).
    pub async fn apply(
        &self,
        mut batch: Batch,
        queue_wait: Duration,
    ) -> Result<Applied, SendError> {
        let (done, applied) = oneshot::channel();
        batch.done = Some(done);
        (self.tx.send_timeout(Msg::Batch(batch), queue_wait).await).map_err(|e| match e {
            mpsc::error::SendTimeoutError::Timeout(_) => SendError::Full,
            mpsc::error::SendTimeoutError::Closed(_) => SendError::Closed,
        })?;
        applied.await.map_err(|_| SendError::Closed)
    }

    /// Acknowledges a failing view; answered once published (in the
    /// event log, and to the alerter).
    pub async fn acknowledge(
        &self,
        ack: Acknowledgement,
    ) -> Result<Result<(), AckRefused>, SendError> {
        let (reply, result) = oneshot::channel();
        self.tx
            .send(Msg::Acknowledge(ack, reply))
            .await
            .map_err(|_| SendError::Closed)?;
        result.await.map_err(|_| SendError::Closed)
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

/// Beats answered once queued, and the reads that must see them (see
/// [`read_barrier`]).
impl EngineHandle {
    /// Queues a beat of `name` that its caller may answer at once, if it
    /// is one: of a service readers see `ok` whose next deadline is more
    /// than a second away. Such a beat cannot be refused (the
    /// service exists) and needs no save before its answer, since it
    /// changes no state. False, having queued nothing, for any other beat
    /// and when the queue is full: apply it the usual way.
    pub fn beat_at_once(&self, name: &str) -> bool {
        if !read_barrier::stays_ok(&self.snapshot.load(), name, now_ms()) {
            return false;
        }
        let mut batch = Batch::new();
        batch.push(name, Op::Beat);
        (self.barrier).count_in(|| self.tx.try_send(Msg::Answered(batch)).is_ok())
    }

    /// The snapshot an API read answers from: the latest once it shows
    /// every beat answered before this call, at once when none is pending,
    /// else after the actor's next publication (see [`read_barrier`]).
    /// When the queue stays full for `queue_wait`, the latest as it is.
    pub async fn read(&self, queue_wait: Duration) -> Arc<Snapshot> {
        if self.barrier.pending() > 0 {
            let _ = self.apply(Batch::new(), queue_wait).await;
        }
        self.snapshot()
    }
}

/// The engine's owner; [`Actor::run`] until cancelled.
pub struct Actor {
    engine: Engine,
    rx: mpsc::Receiver<Msg>,
    handle: EngineHandle,
    metrics: Arc<Metrics>,
    alerter: Alerter,
    /// Where the write-behind sends the store's health, until it starts.
    store_status: Option<watch::Sender<StoreStatus>>,
    persist: Option<WriteBehind>,
    grace: Option<Grace>,
    /// When beats applied since the last publication must be published:
    /// beats alone are published at most every [`PUBLISH_EVERY`], so a
    /// busy engine does not rebuild the snapshot for every round.
    publish_due: Option<Instant>,
    /// Beats answered once queued applied since the last publication,
    /// which counts them out of the [`ReadBarrier`].
    answered: usize,
}

/// Why the actor woke up.
enum Wake {
    Msg(Msg),
    Deadline,
    Publish,
    Save,
    GraceOver,
}

type DeleteReply = oneshot::Sender<Result<(), DeleteViewError>>;
type AckReply = oneshot::Sender<Result<(), AckRefused>>;

/// Replies held back until the round's snapshot is published.
#[derive(Default)]
struct Replies {
    applied: Vec<Reply>,
    deleted: Vec<(DeleteReply, Result<(), DeleteViewError>)>,
    acknowledged: Vec<(AckReply, Result<(), AckRefused>)>,
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
        let (status_tx, store_status) = watch::channel(StoreStatus::default());
        let handle = EngineHandle {
            tx,
            snapshot: Arc::new(ArcSwap::from_pointee(snapshot)),
            published,
            store_status,
            barrier: ReadBarrier::default(),
        };
        let actor = Actor {
            engine,
            rx,
            handle: handle.clone(),
            metrics,
            alerter,
            store_status: Some(status_tx),
            persist: None,
            grace: None,
            publish_due: None,
            answered: 0,
        };
        (actor, handle)
    }

    /// Saves the engine's changes to `persistence.store`, write-behind.
    pub fn with_persistence(mut self, persistence: Persistence) -> Actor {
        let status = self.store_status.take().expect("persistence is set once");
        let metrics = self.metrics.clone();
        self.persist = Some(WriteBehind::start(persistence, metrics, status));
        self
    }

    /// Holds back the view changes of the engine's restore for `grace`
    /// (see `grace`); zero holds nothing.
    pub fn with_startup_grace(mut self, grace: Duration) -> Actor {
        self.grace = (!grace.is_zero())
            .then(|| Grace::new(now_ms().saturating_add(grace.as_millis() as Millis)));
        self
    }

    /// Runs until `stop` is cancelled and the queue is drained (or every
    /// sender is gone); returns the engine after a final save.
    pub async fn run(mut self, stop: CancellationToken) -> Engine {
        // The alert policy holds again what it held when lovebeat stopped.
        let views = self.engine.views().map(|v| ViewNow::of(&v)).collect();
        self.alerter.resume(views);
        // The restore's own changes: published (and saved) at once.
        let changes = self.engine.take_changes();
        self.finish_round(changes, true, Replies::default());
        loop {
            let wake = self.engine.next_deadline().map(instant_at);
            let save = self.persist.as_ref().and_then(WriteBehind::due);
            let grace_over = self.grace.as_ref().map(|g| instant_at(g.until));
            let woke = tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(msg) => Wake::Msg(msg),
                    None => break,
                },
                () = sleep_until(wake) => Wake::Deadline,
                () = sleep_until(self.publish_due) => Wake::Publish,
                () = sleep_until(save) => Wake::Save,
                () = sleep_until(grace_over) => Wake::GraceOver,
                () = stop.cancelled() => break,
            };
            match woke {
                Wake::Msg(msg) => self.round(Some(msg)),
                Wake::Deadline => self.round(None),
                Wake::Publish => self.publish_round(Replies::default()),
                Wake::Save => self.save(Vec::new()),
                Wake::GraceOver => self.end_grace(),
            }
        }
        self.rx.close();
        while let Some(msg) = self.rx.recv().await {
            self.round(Some(msg));
        }
        self.publish_round(Replies::default());
        self.end_grace();
        if let Some(persist) = self.persist.take() {
            persist.close(&self.engine).await;
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
        let waiting = !replies.applied.is_empty()
            || !replies.deleted.is_empty()
            || !replies.acknowledged.is_empty();
        if waiting || self.engine.has_events() {
            self.publish_round(replies);
        } else if self.publish_due.is_none() {
            self.publish_due = Some(Instant::now() + PUBLISH_EVERY);
        }
    }

    /// Takes the engine's changes and finishes the round with them.
    fn publish_round(&mut self, replies: Replies) {
        self.publish_due = None;
        let changes = self.engine.take_changes();
        self.finish_round(changes, false, replies);
    }

    /// Notes `changes` for the store, publishes them, and answers the
    /// round's requests: at once, or once saved when the round changed
    /// something that must be durable before it is acknowledged.
    fn finish_round(&mut self, changes: Changes, restoring: bool, replies: Replies) {
        let urgent = self
            .persist
            .as_mut()
            .is_some_and(|persist| persist.note(&changes));
        self.publish(changes, restoring);
        for (reply, result) in replies.deleted {
            let _ = reply.send(result);
        }
        for (reply, result) in replies.acknowledged {
            let _ = reply.send(result);
        }
        let answers =
            (replies.applied.into_iter()).map(|reply| Box::new(|| reply.send()) as AfterSave);
        if urgent {
            self.save(answers.collect());
        } else {
            answers.for_each(|answer| answer());
        }
    }

    /// Hands what changed to the store now; `after` runs once it is on disk.
    fn save(&mut self, after: Vec<AfterSave>) {
        match &mut self.persist {
            Some(persist) => persist.save(&self.engine, after),
            None => after.into_iter().for_each(|f| f()),
        }
    }

    /// Publishes the view changes held since the restore, if any.
    fn end_grace(&mut self) {
        let Some(grace) = self.grace.take() else {
            return;
        };
        let events = grace.release(&self.engine, now_ms());
        let changes = Changes {
            events,
            ..Changes::default()
        };
        self.publish(changes, false);
    }

    fn handle(&mut self, msg: Msg, now: Millis, replies: &mut Replies) {
        match msg {
            Msg::Answered(batch) => {
                self.answered += 1;
                self.handle(Msg::Batch(batch), now, replies);
            }
            Msg::Batch(mut batch) => {
                let (applied, reply) = batch.apply(&mut self.engine, now);
                BeatsApplied {
                    beats: applied.beats,
                }
                .emit(&self.metrics);
                for _ in 0..applied.refused {
                    let limit = Limit::Services;
                    Limited { limit }.emit(&self.metrics);
                }
                replies.applied.extend(reply);
            }
            Msg::DeleteView(name, reply) => {
                replies
                    .deleted
                    .push((reply, self.engine.delete_view(&name)));
            }
            Msg::Acknowledge(ack, reply) => {
                let result = self.engine.acknowledge(ack);
                replies.acknowledged.push((reply, result));
            }
        }
    }

    fn publish(&mut self, mut changes: Changes, restoring: bool) {
        let now = now_ms();
        if let Some(grace) = &mut self.grace {
            grace.hold(&mut changes.events, restoring);
        }
        for event in &changes.events {
            match event {
                Event::ViewStateChanged(change) => self.alerter.raise(change),
                Event::ViewAcknowledged(ack) => {
                    if let Some(view) = self.engine.view(&ack.name) {
                        self.alerter.acknowledged(ViewNow::of(&view), ack);
                    }
                }
                _ => {}
            }
        }
        let answered = std::mem::take(&mut self.answered);
        if changes.events.is_empty() && changes.services.is_empty() && changes.views.is_empty() {
            self.handle.barrier.shown(answered);
            return;
        }
        let previous = self.handle.snapshot.load();
        let snapshot = Arc::new(previous.updated(&self.engine, &changes, now));
        self.handle.snapshot.store(snapshot.clone());
        self.handle.barrier.shown(answered);
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

#[cfg(test)]
mod tests {
    use super::*;
    use lovebeat_core::{Event, State};

    /// An engine restored now, in which service `a` (in view `v`, which
    /// was ok) went late during the downtime.
    fn restored_late() -> Engine {
        let now = now_ms();
        crate::grace::restored(now - 60_000, now)
    }

    fn view_changes(published: &Published) -> Vec<(State, State)> {
        (published.changes.events.iter())
            .filter_map(|e| match e {
                Event::ViewStateChanged(c) => Some((c.from, c.to)),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn the_restore_s_view_changes_are_published_when_the_grace_ends() {
        let (actor, handle) = Actor::new(restored_late(), 16, Arc::default(), Alerter::disabled());
        let actor = actor.with_startup_grace(Duration::from_millis(300));
        let mut published = handle.subscribe();
        let stop = CancellationToken::new();
        tokio::spawn(actor.run(stop.clone()));
        let first = published.recv().await.unwrap();
        assert_eq!(view_changes(&first), [], "held during the grace");
        assert_eq!(first.snapshot.views["v"].record.state, State::Error);
        let released = published.recv().await.unwrap();
        assert_eq!(view_changes(&released), [(State::Ok, State::Error)]);
        stop.cancel();
    }

    #[tokio::test]
    async fn a_beat_answered_once_queued_is_pending_until_a_snapshot_shows_it() {
        let now = now_ms();
        let mut engine = Engine::new(lovebeat_core::EngineConfig::default(), now);
        engine.beat(now, "a");
        engine.beat(now, "b");
        let (actor, handle) = Actor::new(engine, 1, Arc::default(), Alerter::disabled());
        let pending = || handle.barrier.pending();
        assert!(handle.beat_at_once("a"));
        assert_eq!(pending(), 1);
        assert!(!handle.beat_at_once("b"), "the queue is full");
        assert_eq!(pending(), 1, "a beat the queue refused is not pending");
        assert!(
            !handle.beat_at_once("new"),
            "a new service takes the usual way"
        );
        assert_eq!(pending(), 1);
        let stop = CancellationToken::new();
        tokio::spawn(actor.run(stop.clone()));
        let snapshot = handle.read(Duration::from_secs(10)).await;
        assert_eq!(snapshot.services["a"].record.beats, 2);
        assert_eq!(pending(), 0);
        stop.cancel();
    }

    #[tokio::test]
    async fn without_a_grace_the_restore_s_view_changes_are_published_at_once() {
        let (actor, handle) = Actor::new(restored_late(), 16, Arc::default(), Alerter::disabled());
        let mut published = handle.subscribe();
        let stop = CancellationToken::new();
        tokio::spawn(actor.run(stop.clone()));
        let first = published.recv().await.unwrap();
        assert_eq!(view_changes(&first), [(State::Ok, State::Error)]);
        stop.cancel();
    }
}
