//! What the write-behind costs ingest: the actor's beat rate with and
//! without a store, for the same load.
//!
//! Run with `cargo bench --bench write_behind`. It drives the real actor
//! (the engine's owner) through its handle, as the UDP listener does: one
//! batch per "datagram" of 20 beats, each beat on a service picked from
//! `SERVICES` (all of them dirty within every save interval: the worst case
//! for the write-behind). It prints beats per second in memory only, and
//! with a sled store saving every second (`[database] interval = 1`).
//! Not a test: it asserts nothing, and takes about half a minute.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lovebeat_core::clock::now_ms;
use lovebeat_core::{Engine, EngineConfig};
use lovebeat_engine::{Actor, Batch, Op, Persistence};
use lovebeat_store::Store;
use tokio_util::sync::CancellationToken;

/// Distinct services beating.
const SERVICES: usize = 10_000;
/// Beats per batch (a datagram's worth of lines).
const PER_BATCH: usize = 20;
/// Batches per measured run.
const BATCHES: usize = 100_000;
/// Runs per mode; the best is reported.
const RUNS: usize = 3;

fn names() -> Vec<String> {
    (0..SERVICES)
        .map(|i| format!("bench.service.{i}"))
        .collect()
}

/// Beats per second through the actor for one run.
async fn run(names: &[String], persistence: Option<Persistence>) -> f64 {
    let engine = Engine::new(EngineConfig::default(), now_ms());
    let (mut actor, handle) = Actor::new(
        engine,
        4096,
        Arc::default(),
        lovebeat_alert::Alerter::disabled(),
    );
    if let Some(p) = persistence {
        actor = actor.with_persistence(p);
    }
    let stop = CancellationToken::new();
    let running = tokio::spawn(actor.run(stop.clone()));
    // Create every service first (creations are saved promptly).
    for chunk in names.chunks(PER_BATCH) {
        let mut batch = Batch::new();
        chunk.iter().for_each(|n| batch.push(n, Op::Beat));
        handle.send(batch).await.unwrap();
    }
    handle
        .apply(Batch::new(), Duration::from_secs(60))
        .await
        .unwrap();

    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let start = Instant::now();
    for _ in 0..BATCHES {
        let mut batch = Batch::new();
        for _ in 0..PER_BATCH {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            batch.push(&names[(seed % SERVICES as u64) as usize], Op::Beat);
        }
        handle.send(batch).await.unwrap();
    }
    handle
        .apply(Batch::new(), Duration::from_secs(60))
        .await
        .unwrap();
    let elapsed = start.elapsed();
    stop.cancel();
    running.await.unwrap();
    (BATCHES * PER_BATCH) as f64 / elapsed.as_secs_f64()
}

async fn best(names: &[String], with_store: bool) -> f64 {
    let mut best: f64 = 0.0;
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let persistence = with_store.then(|| Persistence {
            store: Store::open(&dir.path().join("db")).unwrap(),
            interval: Duration::from_secs(1),
        });
        best = best.max(run(names, persistence).await);
    }
    best
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let names = names();
    runtime.block_on(async {
        let memory = best(&names, false).await;
        let stored = best(&names, true).await;
        println!(
            "write_behind: {SERVICES} services, {PER_BATCH} beats per batch, {} beats per run",
            BATCHES * PER_BATCH
        );
        println!("  in memory only:            {:>10.0} beats/s", memory);
        println!("  with the store (1 s):      {:>10.0} beats/s", stored);
        println!(
            "  cost of the write-behind:  {:>9.1} %",
            (1.0 - stored / memory) * 100.0
        );
    });
}
