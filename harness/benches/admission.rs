//! `cargo bench --bench admission`: one admission decision for a 3-container
//! Pod with real lab signatures, warm (verification cached, as Kyverno's
//! `useCache` does; target p50 < 200 µs) and cold (a fresh verifier: every
//! signature and SBOM verified); and the full default run (lab build, static
//! check, every scenario x engine x vendor; target < 2 s).

use std::collections::BTreeMap;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use trustswap::admission::CompiledPolicySet;
use trustswap::admission::request::{AdmissionRequest, Operation};
use trustswap::admission::verifier::EvidenceVerifier;
use trustswap::experiment::lab::LabContext;
use trustswap::experiment::scenario::{self, IdentityMode};
use trustswap::lab_cli::LAB_NOW;
use trustswap::policy::render::render_with;
use trustswap::policy::{Contract, Engine};
use trustswap::profile::keys::KeyResolver;
use trustswap::profile::{self, Vendor};

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn inputs() -> (Contract, Vec<Vendor>) {
    let contract =
        Contract::load(&root().join("configs/policies/contract.yaml")).expect("contract");
    let vendors = profile::load_dir(&root().join("configs/vendors"), &KeyResolver::new(vec![]))
        .expect("vendors");
    (contract, vendors)
}

fn bench(c: &mut Criterion) {
    let (contract, vendors) = inputs();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = LabContext::build(
        &dir.path().join("lab"),
        0,
        &trustswap::profile::load_shipped(&trustswap::profile::keys::KeyResolver::new(Vec::new()))
            .expect("shipped profiles"),
    )
    .expect("lab");
    let chainguard = vendors
        .iter()
        .find(|v| v.name == "chainguard")
        .expect("vendor");
    let image = lab
        .fixture("chainguard", "good")
        .expect("fixture")
        .image_ref
        .clone();
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "web", "namespace": "apps" },
        "spec": { "containers": [
            { "name": "a", "image": image }, { "name": "b", "image": image }, { "name": "c", "image": image }
        ] }
    });
    let req = AdmissionRequest::pod(Operation::Create, "apps", BTreeMap::new(), pod);
    let now = chrono::DateTime::from_timestamp(LAB_NOW, 0).expect("time");

    let mut g = c.benchmark_group("admission (3-container Pod, real signatures)");
    for engine in Engine::ALL {
        let (v, t) = lab
            .vendor(chainguard, IdentityMode::Profile, engine)
            .expect("lab vendor");
        let docs: Vec<serde_json::Value> = render_with(&contract, &v, engine, &t)
            .expect("render")
            .documents
            .into_iter()
            .map(|d| d.value)
            .collect();
        let set = CompiledPolicySet::compile(&docs).expect("compile");
        let warm: Arc<dyn EvidenceVerifier> = lab.evidence.clone();
        assert!(set.evaluate(&req, now, &warm).allowed);
        g.bench_function(format!("{engine} warm"), |b| {
            b.iter(|| set.evaluate(&req, now, &warm))
        });
        g.bench_function(format!("{engine} cold (compile + verify)"), |b| {
            b.iter_batched(
                || Arc::new(lab.fresh_evidence().expect("evidence")) as Arc<dyn EvidenceVerifier>,
                |cold| {
                    CompiledPolicySet::compile(&docs)
                        .expect("compile")
                        .evaluate(&req, now, &cold)
                },
                criterion::BatchSize::PerIteration,
            )
        });
    }
    g.finish();

    let mut g = c.benchmark_group("run");
    g.sample_size(10);
    g.bench_function(
        "full default run (lab + static check + 12 scenarios x 2 engines x 4 vendors)",
        |b| {
            b.iter_batched(
                || tempfile::tempdir().expect("tempdir"),
                |d| {
                    trustswap::experiment::run(trustswap::experiment::RunPlan {
                        contract: &contract,
                        vendors: &vendors,
                        engines: &Engine::ALL,
                        baseline: None,
                        scenarios: scenario::load_dir(&root().join("scenarios"))
                            .expect("scenarios"),
                        lab_dir: d.path().join("lab"),
                        seed: 0,
                        own: &[],
                        cancel: Default::default(),
                    })
                    .expect("run")
                },
                criterion::BatchSize::PerIteration,
            )
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
