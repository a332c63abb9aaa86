//! The write-behind through the actor, as the daemon runs it: what is on
//! disk when a change is answered, when beats are saved, and what a stop
//! saves.

use std::sync::Arc;
use std::time::Duration;

use lovebeat_core::clock::now_ms;
use lovebeat_core::{Engine, ServiceRecord};
use lovebeat_core::{EngineConfig, Timeout, TimeoutKind};
use lovebeat_engine::{Actor, Batch, EngineHandle, Op, Persistence};
use lovebeat_store::Store;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a test waits for room in the queue.
const WAIT: Duration = Duration::from_secs(10);

/// An actor on an empty engine, saving to a fresh store every
/// `interval`; returns the store too, to look at what is on disk.
fn start(interval: Duration) -> (tempfile::TempDir, Store, EngineHandle, CancellationToken) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    let engine = Engine::new(EngineConfig::default(), now_ms());
    let (actor, handle) = Actor::new(
        engine,
        16,
        Arc::default(),
        lovebeat_alert::Alerter::disabled(),
    );
    let actor = actor.with_persistence(Persistence {
        store: store.clone(),
        interval,
    });
    let stop = CancellationToken::new();
    tokio::spawn(actor.run(stop.clone()));
    (dir, store, handle, stop)
}

fn one(name: &str, op: Op) -> Batch {
    let mut batch = Batch::new();
    batch.push(name, op);
    batch
}

fn stored(store: &Store, name: &str) -> Option<ServiceRecord> {
    let contents = store.load().unwrap();
    contents.services.into_iter().find(|s| &*s.name == name)
}

#[tokio::test]
async fn a_timeout_change_is_on_disk_when_it_is_answered() {
    let (_dir, store, handle, _stop) = start(Duration::from_secs(3600));
    let timeout = Op::SetTimeout(TimeoutKind::Err, Timeout::After(60_000));
    handle.apply(one("a", timeout), WAIT).await.unwrap();
    let record = stored(&store, "a").expect("saved before the answer");
    assert_eq!(record.err_timeout, Timeout::After(60_000));
}

#[tokio::test]
async fn a_delete_is_on_disk_when_it_is_answered() {
    let (_dir, store, handle, _stop) = start(Duration::from_secs(3600));
    handle.apply(one("a", Op::Beat), WAIT).await.unwrap();
    handle.apply(one("a", Op::Delete), WAIT).await.unwrap();
    assert_eq!(stored(&store, "a"), None);
}

#[tokio::test]
async fn beats_of_a_known_service_wait_for_the_interval() {
    let (_dir, store, handle, _stop) = start(Duration::from_millis(200));
    handle.apply(one("a", Op::Beat), WAIT).await.unwrap();
    let first = stored(&store, "a").unwrap().beats;
    handle.apply(one("a", Op::Beat), WAIT).await.unwrap();
    assert_eq!(stored(&store, "a").unwrap().beats, first, "not saved yet");
    let deadline = Instant::now() + Duration::from_secs(10);
    while stored(&store, "a").unwrap().beats == first {
        assert!(Instant::now() < deadline, "the beat was never saved");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stored(&store, "a").unwrap().beats, first + 1);
}

#[tokio::test]
async fn stopping_saves_what_waits_for_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    let engine = Engine::new(EngineConfig::default(), now_ms());
    let (actor, handle) = Actor::new(
        engine,
        16,
        Arc::default(),
        lovebeat_alert::Alerter::disabled(),
    );
    let actor = actor.with_persistence(Persistence {
        store: store.clone(),
        interval: Duration::from_secs(3600),
    });
    let stop = CancellationToken::new();
    let running = tokio::spawn(actor.run(stop.clone()));
    handle.apply(one("a", Op::Beat), WAIT).await.unwrap();
    handle.apply(one("a", Op::Beat), WAIT).await.unwrap();
    handle.apply(one("b", Op::Mute), WAIT).await.unwrap();
    let timeout = Op::SetTimeout(TimeoutKind::Err, Timeout::After(60_000));
    handle.apply(one("c", timeout), WAIT).await.unwrap();
    stop.cancel();
    running.await.unwrap();
    assert!(dir.path().join("db/services.image").exists());
    // The first load takes the image the shutdown wrote; the second,
    // with the image gone, reads the database.
    let imaged = store.load().unwrap();
    let saved = store.load().unwrap();
    assert_eq!(
        imaged, saved,
        "the image is the database as shutdown left it"
    );
    assert_eq!(stored(&store, "a").unwrap().beats, 2);
}
