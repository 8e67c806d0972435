//! 100,000 pods x 3 containers over 2,000 namespaces and 50 teams, against a
//! 10,000-digest manifest with a realistic mix of failure modes.
//! Run: `nice -n 10 cargo bench --bench drift`.

#![allow(clippy::panic)] // a benchmark, not library code

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use trustswap::audit::drift::{CompiledAudit, DriftOptions, drift};

#[path = "../tests/cli/synth.rs"]
mod synth;

fn bench(c: &mut Criterion) {
    let input = synth::generate(100_000, 10_000, 2_000, 50);
    let opts = DriftOptions::default();
    let now = synth::now();
    let mut g = c.benchmark_group("drift_100k_pods_10k_digests");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.warm_up_time(Duration::from_secs(2));
    g.bench_function("drift (compile + audit)", |b| {
        b.iter_with_large_drop(|| drift(black_box(&input), &opts, now))
    });
    let compiled = match CompiledAudit::new(
        &input.manifest,
        &input.revocations,
        &input.exceptions,
        &input.trust_policy,
        &opts,
    ) {
        Ok(c) => c,
        Err(e) => panic!("compile: {e}"),
    };
    g.bench_function("audit only (precompiled)", |b| {
        b.iter_with_large_drop(|| compiled.audit(black_box(&input.state), now))
    });
    g.bench_function("compile only", |b| {
        b.iter_with_large_drop(|| {
            CompiledAudit::new(
                black_box(&input.manifest),
                &input.revocations,
                &input.exceptions,
                &input.trust_policy,
                &opts,
            )
            .map(|_| ())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
