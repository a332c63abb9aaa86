//! Write-behind: the engine's changes reach the store without the actor
//! ever waiting on the disk.
//!
//! The actor notes the names of changed services and views after each
//! round (`WriteBehind::note`). Beats alone wait for the save interval;
//! a new or removed service, a timeout or team change, a mute or unmute, and any
//! view state change or removal make the save prompt (the same round). A
//! save takes the current record of every noted name (or its absence, for
//! a delete) and hands them to the `Writer` thread through a shared
//! pending map, where a newer record of a name replaces an older one not
//! yet written: memory stays bounded by the number of services however
//! slow the disk is. The writer applies one sled batch and flushes, then
//! runs the callbacks that waited for that save (HTTP answers). A failed
//! save is logged, counted, and retried with backoff (sooner for a change
//! whose HTTP request waits); its callbacks are dropped, which answers
//! their HTTP requests 503.
//!
//! What this gives, exactly: a change that an HTTP request made to a
//! service's existence, timeouts or mute is on disk before the request is
//! answered; every beat, from any protocol, is on disk at most one
//! interval (plus the time of one flush) after it was applied; a clean
//! shutdown saves everything, then writes the store's services image
//! (every service, for the next start to read in one pass) if that last
//! save succeeded.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use lovebeat_core::clock::now_ms;
use lovebeat_core::{Changes, Engine, Event, Millis, ServiceRecord, State, ViewRecord};
use lovebeat_store::{Save, Store};
use lovebeat_telemetry::Metrics;
use lovebeat_telemetry::events::{StoreFlushed, StoreSaveFailed, StoreSaved};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// How the engine keeps its state: the store, and how long beats may wait.
#[derive(Debug, Clone)]
pub struct Persistence {
    /// Where changes are saved.
    pub store: Store,
    /// `[database] interval`: the longest a beat waits to be saved.
    pub interval: Duration,
}

/// The store's health as the write-behind last saw it. The write-behind
/// owns it and sends it on a `watch` ([`EngineHandle::store_status`]):
/// `/status` reads it, the S3 copy uploads after each save, statsd out and
/// the peer notifier tick on each periodic flush.
///
/// [`EngineHandle::store_status`]: crate::EngineHandle::store_status
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStatus {
    /// Every change applied before this (ms since the epoch) is on disk;
    /// 0 before the first save.
    pub saved_through: Millis,
    /// Since when saves fail and the last error, while they do.
    pub failure: Option<StoreFailure>,
    /// Failed saves so far.
    pub save_errors: u64,
    /// The latest periodic flush; None before the first.
    pub flush: Option<Flush>,
}

/// Saves are failing: since when (ms since the epoch) and the last error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFailure {
    /// The first failure of this run of failures.
    pub since: Millis,
    /// What the store said last.
    pub error: String,
}

/// One save of the write-behind, numbered from 1, every `[database]
/// interval` even when idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flush {
    /// How many flushes there were, this one included.
    pub number: u64,
    /// How long the save took.
    pub duration: Duration,
}

impl StoreStatus {
    fn saved(&mut self, taken_at: Millis, duration: Duration) {
        self.saved_through = self.saved_through.max(taken_at);
        self.failure = None;
        let number = self.flush.map_or(1, |f| f.number + 1);
        self.flush = Some(Flush { number, duration });
    }

    fn failed(&mut self, now: Millis, error: String) {
        self.save_errors += 1;
        let since = self.failure.as_ref().map_or(now, |f| f.since);
        self.failure = Some(StoreFailure { since, error });
    }
}

/// Follows the store's periodic flushes: each [`Flushes::next`] is a flush
/// after the one before (flushes missed meanwhile are skipped).
#[derive(Debug)]
pub struct Flushes {
    status: watch::Receiver<StoreStatus>,
    seen: u64,
}

impl Flushes {
    /// Follows `status` from its current flush on.
    pub fn new(mut status: watch::Receiver<StoreStatus>) -> Flushes {
        let seen = status.borrow_and_update().flush.map_or(0, |f| f.number);
        Flushes { status, seen }
    }

    /// The next flush; None once the write-behind is gone.
    pub async fn next(&mut self) -> Option<Flush> {
        loop {
            self.status.changed().await.ok()?;
            let flush = self.status.borrow_and_update().flush;
            if let Some(flush) = flush.filter(|f| f.number > self.seen) {
                self.seen = flush.number;
                return Some(flush);
            }
        }
    }
}

/// Runs once the save it was handed with is on disk.
pub(crate) type AfterSave = Box<dyn FnOnce() + Send>;

/// How long shutdown waits for the last save before giving up on it.
const CLOSE_DEADLINE: Duration = Duration::from_millis(1500);

/// How long shutdown then waits for the services image (about a second
/// per million services) before leaving the next start to read the
/// database.
const IMAGE_DEADLINE: Duration = Duration::from_secs(10);

/// Retry delays after a failed save: from the first to the longest.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// The actor's side: what changed since the last save, and when the next
/// interval save is due.
pub(crate) struct WriteBehind {
    writer: Writer,
    interval: Duration,
    services: HashSet<Arc<str>>,
    views: HashSet<Arc<str>>,
    due: Option<Instant>,
}

impl WriteBehind {
    pub fn start(
        persistence: Persistence,
        counters: Arc<Metrics>,
        status: watch::Sender<StoreStatus>,
    ) -> WriteBehind {
        WriteBehind {
            writer: Writer::start(persistence.store, counters, status),
            interval: persistence.interval,
            services: HashSet::new(),
            views: HashSet::new(),
            due: None,
        }
    }

    /// Notes what `changes` touched; returns whether it must be saved
    /// promptly rather than at the interval.
    pub fn note(&mut self, changes: &Changes) -> bool {
        self.services.extend(changes.services.iter().cloned());
        self.views.extend(changes.views.iter().cloned());
        let mut urgent = false;
        for event in &changes.events {
            match event {
                Event::ServiceRemoved { record } => {
                    self.services.insert(record.name.clone());
                    urgent = true;
                }
                Event::ViewRemoved { name } => {
                    self.views.insert(name.clone());
                    urgent = true;
                }
                Event::ServiceStateChanged { from, to, .. } => {
                    urgent |= *from == State::Muted || *to == State::Muted;
                }
                Event::ServiceAdded { .. }
                | Event::ServiceTimeoutChanged { .. }
                | Event::ServiceTeamChanged { .. }
                | Event::ViewStateChanged(_) => urgent = true,
                // The alerter keeps the acknowledgement, in its outbox.
                Event::ViewAdded { .. } | Event::ViewAcknowledged(_) => {}
            }
        }
        let dirty = !self.services.is_empty() || !self.views.is_empty();
        if dirty && self.due.is_none() {
            self.due = Some(Instant::now() + self.interval);
        }
        urgent
    }

    /// When the interval save is due, if anything waits for one.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// Hands the current record of every noted name to the writer; `after`
    /// runs once they are on disk.
    pub fn save(&mut self, engine: &Engine, after: Vec<AfterSave>) {
        // The next save comes an interval later even when nothing changes:
        // an idle daemon still proves, every interval, that it can save
        // (statsd's `db.save.*`, the peers' `lovebeat.HOST.save`).
        self.due = Some(Instant::now() + self.interval);
        let services = self
            .services
            .drain()
            .map(|name| {
                let record = engine.service_record(&name);
                (name, record)
            })
            .collect();
        let views = self
            .views
            .drain()
            .map(|name| {
                let record = engine.view(&name).map(|v| v.record);
                (name, record)
            })
            .collect();
        self.writer.submit(services, views, after, now_ms());
    }

    /// Saves what is left, then the services image for the next start,
    /// and stops the writer; waits for the last save for at most
    /// [`CLOSE_DEADLINE`], and for the image at most [`IMAGE_DEADLINE`].
    pub async fn close(mut self, engine: &Engine) {
        self.save(engine, Vec::new());
        let (saved, imaged) = self.writer.close(engine.service_records().collect());
        match tokio::time::timeout(CLOSE_DEADLINE, saved).await {
            Ok(_) => tracing::debug!("database saved"),
            Err(_) => {
                tracing::error!(
                    "the last database save did not finish in {CLOSE_DEADLINE:?}; changes since \
                     the previous save may be lost"
                );
                return;
            }
        }
        if tokio::time::timeout(IMAGE_DEADLINE, imaged).await.is_err() {
            tracing::warn!(
                "the services image was not written in {IMAGE_DEADLINE:?}; the next start reads \
                 the database, which takes longer"
            );
        }
    }
}

/// What waits for the writer thread.
#[derive(Default)]
struct Pending {
    /// Latest record per name; None: delete it.
    services: HashMap<Arc<str>, Option<ServiceRecord>>,
    views: HashMap<Arc<str>, Option<ViewRecord>>,
    after: Vec<AfterSave>,
    /// When the newest records were taken (ms since the epoch).
    taken_at: Millis,
    /// Whether anything was submitted since the writer last looked.
    submitted: bool,
    closing: Option<Closing>,
}

/// What shutdown hands the writer: every service as the engine has it,
/// for the image, and who waits for the last save and for the image.
struct Closing {
    image: Vec<ServiceRecord>,
    saved: oneshot::Sender<()>,
    imaged: oneshot::Sender<()>,
}

impl Pending {
    /// Puts records of a failed save back, under any newer ones.
    fn restore(&mut self, work: Pending) {
        for (name, record) in work.services {
            self.services.entry(name).or_insert(record);
        }
        for (name, record) in work.views {
            self.views.entry(name).or_insert(record);
        }
        self.taken_at = self.taken_at.max(work.taken_at);
        self.submitted = true;
    }

    fn into_save(self) -> (Save, Vec<AfterSave>, Millis) {
        let mut save = Save::default();
        for (name, record) in self.services {
            match record {
                Some(record) => save.services.push(record),
                None => save.removed_services.push(name),
            }
        }
        for (name, record) in self.views {
            match record {
                Some(record) => save.views.push(record),
                None => save.removed_views.push(name),
            }
        }
        (save, self.after, self.taken_at)
    }
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
}

/// The thread that writes to the store. Its lock is held only to move
/// records in and out, never across disk I/O.
struct Writer {
    shared: Arc<Shared>,
    _thread: JoinHandle<()>,
}

impl Writer {
    fn start(store: Store, counters: Arc<Metrics>, status: watch::Sender<StoreStatus>) -> Writer {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("lovebeat-store".into())
            .spawn(move || write_loop(&store, &thread_shared, &counters, &status))
            .expect("the store writer thread starts");
        Writer {
            shared,
            _thread: thread,
        }
    }

    fn submit(
        &self,
        services: Vec<(Arc<str>, Option<ServiceRecord>)>,
        views: Vec<(Arc<str>, Option<ViewRecord>)>,
        after: Vec<AfterSave>,
        taken_at: Millis,
    ) {
        let mut pending = self.shared.pending.lock().expect("not poisoned");
        pending.services.extend(services);
        pending.views.extend(views);
        pending.after.extend(after);
        pending.taken_at = taken_at;
        pending.submitted = true;
        drop(pending);
        self.shared.wake.notify_one();
    }

    /// Asks the writer to save what is pending, write `image` if that
    /// save succeeds, and stop; the receivers fire once it has saved and
    /// once it is done with the image.
    fn close(self, image: Vec<ServiceRecord>) -> (oneshot::Receiver<()>, oneshot::Receiver<()>) {
        let ((saved, on_saved), (imaged, on_imaged)) = (oneshot::channel(), oneshot::channel());
        self.shared.pending.lock().expect("not poisoned").closing = Some(Closing {
            image,
            saved,
            imaged,
        });
        self.shared.wake.notify_one();
        (on_saved, on_imaged)
    }
}

/// The writer thread. After a failed save it reopens the store before the
/// next try ([`Store::reopen`]): sled refuses every write after an I/O
/// error until then, so this is how saves resume, with everything that
/// waited, once the disk has room again or is writable again.
fn write_loop(
    store: &Store,
    shared: &Shared,
    counters: &Metrics,
    status: &watch::Sender<StoreStatus>,
) {
    let mut failed = false;
    let mut retry = RETRY_FIRST;
    loop {
        let mut pending = shared.pending.lock().expect("not poisoned");
        while !pending.submitted && pending.closing.is_none() {
            pending = shared.wake.wait(pending).expect("not poisoned");
        }
        let closing = pending.closing.take();
        let work = std::mem::take(&mut *pending);
        drop(pending);
        if !work.submitted {
            finish(store, closing.expect("woken to close"), !failed);
            return;
        }
        let (save, after, taken_at) = work.into_save();
        let started = std::time::Instant::now();
        let reopened = if failed { store.reopen() } else { Ok(()) };
        match reopened.and_then(|()| store.save(&save)) {
            Ok(()) => {
                if failed {
                    tracing::info!("database saves resumed");
                }
                (failed, retry) = (false, RETRY_FIRST);
                let duration = started.elapsed();
                StoreSaved { taken_at }.emit(counters);
                StoreFlushed { duration }.emit(counters);
                status.send_modify(|status| status.saved(taken_at, duration));
                after.into_iter().for_each(|f| f());
            }
            Err(e) => {
                let error = e.to_string();
                StoreSaveFailed { error: &error }.emit(counters);
                status.send_modify(|status| status.failed(now_ms(), error));
                failed = true;
                let mut pending = shared.pending.lock().expect("not poisoned");
                pending.restore(Pending::from_save(save, taken_at));
                if let Some(closing) = closing {
                    drop(pending);
                    tracing::error!(error = %e, "the last database save failed");
                    finish(store, closing, false);
                    return;
                }
                tracing::error!(
                    error = %e,
                    "database save failed; retrying in {retry:?}, or sooner for a change \
                     that waits to be saved"
                );
                let deadline = std::time::Instant::now() + retry;
                drop(wait_for_retry(&shared.wake, pending, deadline));
                retry = (retry * 2).min(RETRY_MAX);
                continue;
            }
        }
        if let Some(closing) = closing {
            // Anything submitted meanwhile (nothing, once the actor closed).
            shared.pending.lock().expect("not poisoned").closing = Some(closing);
        }
    }
}

/// Waits, after a failed save, until `deadline`, or sooner once a change
/// waits to be saved (an HTTP request, to be answered) or shutdown asks
/// for the last save. The actor's interval saves do not cut the wait
/// short, so a failing disk is tried as often as the log says.
fn wait_for_retry<'a>(
    wake: &Condvar,
    mut pending: MutexGuard<'a, Pending>,
    deadline: std::time::Instant,
) -> MutexGuard<'a, Pending> {
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || !pending.after.is_empty() || pending.closing.is_some() {
            return pending;
        }
        pending = wake.wait_timeout(pending, left).expect("not poisoned").0;
    }
}

/// The last act: record how far the store got and say so, then write the
/// image if the database holds just what it does (the last save succeeded).
fn finish(store: &Store, closing: Closing, saved: bool) {
    if let Err(e) = store.checkpoint() {
        tracing::error!(error = %e, "database checkpoint failed");
    }
    let _ = closing.saved.send(());
    if saved {
        let started = std::time::Instant::now();
        match store.write_image(closing.image) {
            Ok(()) => tracing::debug!("services image written in {:?}", started.elapsed()),
            Err(e) => tracing::warn!(error = %e, "the services image was not written"),
        }
    }
    let _ = closing.imaged.send(());
}

impl Pending {
    /// A failed save's records, to retry (its callbacks are gone).
    fn from_save(save: Save, taken_at: Millis) -> Pending {
        let mut pending = Pending {
            taken_at,
            submitted: true,
            ..Pending::default()
        };
        for record in save.services {
            pending.services.insert(record.name.clone(), Some(record));
        }
        for name in save.removed_services {
            pending.services.insert(name, None);
        }
        for record in save.views {
            pending.views.insert(record.name.clone(), Some(record));
        }
        for name in save.removed_views {
            pending.views.insert(name, None);
        }
        pending
    }
}
