//! Per-beat cost of the AUTO estimators (`cargo bench -p lovebeat-sim`),
//! here for the simulator's traces; the estimators are lovebeat-core's.
//!
//! One iteration is what the engine does for one new interval: `rhythm`
//! observes it and computes the next timeout; `median` and `adaptive`
//! estimate over a full history of 100. `engine/*` is a whole autobeat
//! through the engine, bookkeeping included.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use lovebeat_core::auto::{Algorithm, Rhythm};
use lovebeat_core::{Engine, EngineConfig, Millis};
use lovebeat_sim as sim;

/// A warmed-up rhythm state and the beats to feed it next, in a loop.
fn warmed(trace: &sim::Trace, warm: usize) -> (Rhythm, Vec<(u32, Millis)>) {
    let beats = &trace.beats;
    let mut rhythm = Rhythm::new();
    for w in beats[..=warm].windows(2) {
        rhythm.observe((w[1] - w[0]) as u32, w[1]);
    }
    let next = beats[warm..]
        .windows(2)
        .map(|w| ((w[1] - w[0]) as u32, w[1]))
        .collect();
    (rhythm, next)
}

fn bench_rhythm(c: &mut Criterion, family: &str, warm: usize) {
    let families = sim::families(1);
    let trace = &families.iter().find(|f| f.name == family).unwrap().traces[0];
    let (state, next) = warmed(trace, warm);
    let mut rhythm = state.clone();
    let mut i = 0;
    c.bench_function(&format!("rhythm/{family}"), |b| {
        b.iter(|| {
            if i == next.len() {
                (rhythm, i) = (state.clone(), 0);
            }
            let (interval, at) = next[i];
            rhythm.observe(interval, at);
            i += 1;
            black_box(rhythm.timeout(at))
        })
    });
}

fn estimators(c: &mut Criterion) {
    bench_rhythm(c, "regular 10 %", 5_000);
    bench_rhythm(c, "poisson", 5_000);
    bench_rhythm(c, "business hours", 5_000);
    bench_rhythm(c, "nightly", 400);
    let history: Vec<u32> = (0..100).map(|i| 60_000 + (i * 7919 % 1000)).collect();
    for algorithm in [Algorithm::Median, Algorithm::Adaptive] {
        c.bench_function(&format!("{algorithm}/100 intervals"), |b| {
            b.iter(|| black_box(algorithm.estimate(black_box(&history))))
        });
    }
}

fn engine(c: &mut Criterion) {
    for algorithm in Algorithm::ALL {
        let config = EngineConfig {
            algorithm,
            ..EngineConfig::default()
        };
        let mut engine = Engine::new(config, 0);
        let (mut now, mut n): (Millis, u64) = (0, 0);
        c.bench_function(&format!("engine/autobeat {algorithm}"), |b| {
            b.iter(|| {
                n += 1;
                now += 59_000 + (n * 7919 % 2000) as Millis;
                engine.autobeat(now, "bench.service");
                if n % 64 == 0 {
                    engine.take_changes();
                }
            })
        });
        engine.take_changes();
    }
}

criterion_group!(benches, estimators, engine);
criterion_main!(benches);
