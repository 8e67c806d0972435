//! Every disagreement `trustswap fidelity` found with real Kyverno, kept as
//! its reproducer folder under `fixtures/fidelity/` (policies.yaml, pod.yaml,
//! case.json): the embedded engine now decides each as Kyverno did.

use std::collections::BTreeMap;
use std::sync::Arc;

use trustswap::admission::verifier::EvidenceVerifier;
use trustswap::admission::{CompiledPolicySet, EngineOptions};
use trustswap::experiment::fidelity::Reproducer;
use trustswap::experiment::lab::LabContext;

use crate::common;

#[test]
fn every_kept_reproducer_decides_as_kyverno_did() {
    let dir = common::root().join("fixtures/fidelity");
    let mut folders: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    assert!(!folders.is_empty(), "no reproducer in {}", dir.display());
    let t = tempfile::tempdir().expect("tempdir");
    let mut labs: BTreeMap<u64, LabContext> = BTreeMap::new();
    for folder in &folders {
        let r = Reproducer::load(folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
        let lab = labs.entry(r.seed).or_insert_with(|| {
            LabContext::build(
                &t.path().join(format!("lab-{}", r.seed)),
                r.seed,
                &trustswap::profile::load_shipped(&trustswap::profile::keys::KeyResolver::new(
                    Vec::new(),
                ))
                .expect("shipped profiles"),
            )
            .expect("lab")
        });
        // Nothing cached from another reproducer.
        let fresh = Arc::new(lab.fresh_evidence().expect("evidence"));
        let evidence: Arc<dyn EvidenceVerifier> = fresh.clone();
        let now = chrono::DateTime::from_timestamp(lab.now, 0).expect("time");
        // The corpus never re-pushes: a moved tag is at its earlier digest.
        if let Some((repo, tag, prev)) = lab.moved_tag(&r.case.vendor) {
            fresh.pin(&repo, &tag, prev.parse().expect("digest"));
        }
        let d = CompiledPolicySet::compile_with(
            &r.policies,
            EngineOptions {
                exceptions: r.exceptions(),
                ..EngineOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .evaluate(&r.request(), now, &evidence);
        let decision = if d.allowed { "admitted" } else { "denied" };
        assert_eq!(
            decision,
            r.case.kyverno.decision,
            "{}: {} (Kyverno: {:?}; embedded now: {:?})",
            folder.display(),
            r.case.case,
            r.case.kyverno.message,
            d.message
        );
    }
}
