//! Parser throughput: lines per second for one-line datagrams, 20-line
//! datagrams, and rejected lines.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn datagram(lines: usize) -> Vec<u8> {
    (0..lines)
        .flat_map(|i| format!("bench.service{i:06}.beat:1|c\n").into_bytes())
        .collect()
}

fn count(buf: &[u8]) -> usize {
    lovebeat_proto::lines(buf).filter(Result::is_ok).count()
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for lines in [1, 20] {
        let buf = datagram(lines);
        group.throughput(Throughput::Elements(lines as u64));
        group.bench_function(format!("{lines}_lines"), |b| {
            b.iter(|| count(black_box(&buf)))
        });
    }
    let bad = b"Bad.Name.beat:1|c\nfoo.bar.frob:1|c\nfoo.bar.timeout:x|g\n".repeat(7);
    group.throughput(Throughput::Elements(21));
    group.bench_function("21_rejected_lines", |b| b.iter(|| count(black_box(&bad))));
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
