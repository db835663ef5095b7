//! Walk of generated trees of about 100k and 1M entries at depths 2 to 4.
//!
//! Trees are created once under `target/bench-trees`. Set `ZKRSYNC_BENCH_SMALL=1` to use
//! only the 100k tree (for a quick `cargo bench -- --test`).

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use zkrsync_benches::{ensure_tree, TreeShape};
use zkrsync_core::walk::{walk, FsTree, WalkSpec};

fn trees_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-trees")
}

fn bench_walk(c: &mut Criterion) {
    let mut shapes = vec![("100k", TreeShape::ENTRIES_100K)];
    if std::env::var_os("ZKRSYNC_BENCH_SMALL").is_none() {
        shapes.push(("1M", TreeShape::ENTRIES_1M));
    }
    let mut group = c.benchmark_group("walk");
    group.sample_size(10);
    for (label, shape) in shapes {
        let root = ensure_tree(&trees_dir().join(shape.name()), shape).expect("generate tree");
        for depth in 2..=4 {
            let spec = WalkSpec::with_depth(depth);
            let units = walk(&FsTree, &root, &spec).expect("walk").units.len();
            group.throughput(Throughput::Elements(units as u64));
            group.bench_with_input(
                BenchmarkId::new(label, format!("depth{depth}")),
                &spec,
                |b, spec| b.iter(|| walk(&FsTree, &root, spec).expect("walk")),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench_walk);
criterion_main!(benches);
