//! Packing and encoding a plan of 100k and 1M units, and decoding it.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use zkrsync_benches::synthetic_units;
use zkrsync_core::plan::{pack, Chunk, PackLimits};

fn bench_plan(c: &mut Criterion) {
    let mut group = c.benchmark_group("plan");
    group.sample_size(10);
    for count in [100_000usize, 1_000_000] {
        let units = synthetic_units(count);
        let total: u64 = units.iter().map(|u| u.weight).sum();
        let limits = PackLimits::balanced(total, 256, 1);
        group.throughput(Throughput::Elements(count as u64));
        group.bench_with_input(
            BenchmarkId::new("pack+encode", count),
            &units,
            |b, units| {
                b.iter(|| {
                    pack(units.iter().cloned(), limits)
                        .iter()
                        .map(|c| c.encode().len())
                        .sum::<usize>()
                })
            },
        );
        let encoded: Vec<Vec<u8>> = pack(units, limits).iter().map(Chunk::encode).collect();
        group.bench_with_input(BenchmarkId::new("decode", count), &encoded, |b, encoded| {
            b.iter(|| {
                encoded
                    .iter()
                    .map(|e| Chunk::decode(e).expect("decode").units.len())
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_plan);
criterion_main!(benches);
