//! `cargo bench --bench check`: the static substitution check for the shipped
//! vendors, and for generated fleets of N vendors x 20 policies (N = 50, 100,
//! 200) to show that the cost grows linearly with the number of vendors.

use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use trustswap::check::{check, compare};
use trustswap::policy::render::render;
use trustswap::policy::{Contract, Engine, PolicySet};
use trustswap::profile::keys::KeyResolver;
use trustswap::profile::{self, Identity, Matcher, Vendor};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn inputs() -> (Contract, Vec<Vendor>) {
    let contract =
        Contract::load(&root().join("configs/policies/contract.yaml")).expect("contract");
    let keys = KeyResolver::new(vec![
        root().join("../shared/realworld/trust/docker-hardened-images"),
    ]);
    let vendors = profile::load_dir(&root().join("configs/vendors"), &keys).expect("vendors");
    (contract, vendors)
}

/// `n` keyless vendors derived from the shipped ones, each with its own
/// identity and registry.
fn fleet(base: &[Vendor], n: usize) -> Vec<Vendor> {
    (0..n)
        .map(|i| {
            let mut v = base[i % base.len()].clone();
            v.name = format!("vendor-{i:03}");
            v.images = vec![format!("registry-{i:03}.example/*")];
            if let Identity::Keyless { subject, .. } = &mut v.identity {
                *subject = Matcher::Exact(format!("https://github.com/org-{i}/images/.github/workflows/release.yaml@refs/heads/main"));
            }
            v
        })
        .collect()
}

/// Each vendor's set holds 20 policies: the contract rendered under 20 names.
fn sets(contract: &Contract, vendors: &[Vendor], engine: Engine) -> Vec<PolicySet> {
    vendors
        .iter()
        .map(|v| {
            let mut set = PolicySet {
                label: v.name.clone(),
                documents: vec![],
                files: vec![],
            };
            for p in 0..20 {
                let c = Contract {
                    name: format!("policy-{p:02}"),
                    ..contract.clone()
                };
                set.documents
                    .extend(render(&c, v, engine).expect("renders").documents);
            }
            set
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let (contract, vendors) = inputs();
    c.bench_function(
        "check/shipped vendors x both engines (render + diff)",
        |b| {
            b.iter(|| {
                check(&contract, &vendors, &Engine::ALL, None, &Default::default()).expect("check")
            })
        },
    );
    let mut group = c.benchmark_group("check/generated fleet x 20 policies (cpol, diff only)");
    group.sample_size(10);
    for n in [50usize, 100, 200] {
        let fleet = fleet(&vendors, n);
        let rendered = sets(&contract, &fleet, Engine::Cpol);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_batched(
                || rendered.clone(),
                |s| compare(Engine::Cpol, &fleet, s, 0),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
