//! Engine throughput: beats applied per second with one service and with
//! a million, and the cost of a tick with nothing due.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lovebeat_core::{Engine, EngineConfig, Timeout, TimeoutKind};
use std::hint::black_box;
use std::time::{Duration, Instant};

const MANY: usize = 1_000_000;

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("bench.service{i:07}")).collect()
}

/// An engine with `names` services, each with a 60 s error timeout.
fn engine(names: &[String]) -> Engine {
    let mut e = Engine::new(EngineConfig::default(), 0);
    for name in names {
        e.set_timeout(0, name, TimeoutKind::Err, Timeout::After(60_000));
        e.beat(0, name);
    }
    e.take_changes();
    e
}

fn beats(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(1));
    let one = names(1);
    let mut e = engine(&one);
    let mut now = 0;
    group.bench_function("beat_1_service", |b| {
        b.iter(|| {
            now += 1;
            e.beat(now, black_box(&one[0]));
        })
    });
    group.sample_size(10);
    let many = names(MANY);
    let mut e = engine(&many);
    let mut i = 0;
    group.bench_function("beat_1m_services", |b| {
        b.iter(|| {
            i = (i + 7919) % MANY;
            now += 1;
            e.beat(now, black_box(&many[i]));
        })
    });
    group.bench_function("take_changes_after_1000_beats_1m_services", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                for _ in 0..1000 {
                    i = (i + 7919) % MANY;
                    now += 1;
                    e.beat(now, &many[i]);
                }
                let start = Instant::now();
                black_box(e.take_changes());
                spent += start.elapsed();
            }
            spent
        })
    });
    group.bench_function("idle_tick_1m_services", |b| {
        b.iter(|| e.tick(black_box(now)))
    });
    group.finish();
}

criterion_group!(benches, beats);
criterion_main!(benches);
