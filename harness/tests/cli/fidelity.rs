//! `trustswap fidelity` (issue 10): the generated corpus, its reproducers, and
//! the command's refusals. The comparison with real Kyverno runs in
//! `tests/cluster/local_real.rs` (with the oracle) and in `.ci/run`.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use trustswap::admission::request::{AdmissionRequest, Operation};
use trustswap::admission::verifier::EvidenceVerifier;
use trustswap::admission::{CompiledPolicySet, EngineOptions};
use trustswap::experiment::fidelity::{CaseDisagreement, Reproducer, Side};
use trustswap::experiment::runner::{Observation, policies_at};
use trustswap::experiment::scenario::Action;
use trustswap::experiment::{RunPlan, embedded, generate, scenarios};
use trustswap::policy::Engine;

use crate::common;

/// Every admission request of a generated corpus, decided again from what a
/// reproducer holds (the policies as applied at that step, the pod) on a
/// fresh policy set, decides as the run did: a reproducer reproduces.
#[test]
fn reproducers_decide_as_the_run_did() {
    let t = tempfile::tempdir().expect("tempdir");
    let contract = common::contract();
    let vendors = common::vendors();
    let runs = Engine::ALL.len() * vendors.len();
    // The first seed from 5 whose small corpus updates a pod it created from
    // the `good` fixture under the lab's trust and no edits (so that the pod
    // is created and the UPDATE decided).
    let seed = (5..)
        .find(|s| {
            generate::corpus(96, *s, runs).iter().any(|sc| {
                let created_good = sc.steps.iter().any(|st| {
                    matches!(&st.action, Action::Admit { pod } if pod.name == "u0" && pod.image.variant == "good")
                });
                created_good
                    && sc.trust_root == trustswap::experiment::scenario::TrustRootMode::Lab
                    && sc.patches.is_empty()
                    && sc
                        .steps
                        .iter()
                        .any(|st| matches!(st.action, Action::Update { .. }))
            })
        })
        .expect("a seed");
    let plan = RunPlan {
        contract: &contract,
        vendors: &vendors,
        engines: &Engine::ALL,
        baseline: None,
        scenarios: generate::corpus(96, seed, runs),
        lab_dir: t.path().join("lab"),
        seed,
        own: &[],
        cancel: Default::default(),
    };
    let lab =
        trustswap::experiment::lab::LabContext::build(&plan.lab_dir, seed, &vendors).expect("lab");
    let results = scenarios(&plan, &lab, embedded(&lab, &plan)).expect("run");
    // Decided again on evidence that has cached nothing from the run.
    let fresh = Arc::new(lab.fresh_evidence().expect("evidence"));
    let evidence: Arc<dyn EvidenceVerifier> = fresh.clone();
    let now = chrono::DateTime::from_timestamp(lab.now, 0).expect("time");
    let (mut checked, mut updates) = (0, 0);
    for (scenario, result) in plan.scenarios.iter().zip(&results) {
        assert_eq!(scenario.id, result.id);
        for run in &result.runs {
            let vendor = vendors
                .iter()
                .find(|v| v.name == run.vendor)
                .expect("vendor");
            // As every run starts: the moved tag at its earlier digest.
            if let Some((repo, tag, prev)) = lab.moved_tag(&run.vendor) {
                fresh.pin(&repo, &tag, prev.parse().expect("digest"));
            }
            for (index, (step, outcome)) in scenario.steps.iter().zip(&run.steps).enumerate() {
                if !matches!(step.action, Action::Admit { .. } | Action::Update { .. }) {
                    continue;
                }
                let seen = match &outcome.observed {
                    Observation::Decision { outcome: seen, .. } => seen,
                    // An update of a pod whose create was denied.
                    Observation::Quiet(_) if matches!(step.action, Action::Update { .. }) => {
                        continue;
                    }
                    other => panic!("{}: {other:?}", step.label),
                };
                let policies = policies_at(&lab, &contract, scenario, run.engine, vendor, index)
                    .expect("policies");
                let request = outcome.evidence.as_ref().expect("evidence")["request"].clone();
                let request = if request["operation"] == "UPDATE" {
                    updates += 1;
                    let ns = request["object"]["metadata"]["namespace"]
                        .as_str()
                        .expect("ns");
                    AdmissionRequest::pod_update(
                        ns,
                        BTreeMap::new(),
                        request["oldObject"].clone(),
                        request["object"].clone(),
                        request["subResource"].as_str().unwrap_or_default(),
                    )
                } else {
                    let ns = request["metadata"]["namespace"]
                        .as_str()
                        .expect("ns")
                        .to_owned();
                    AdmissionRequest::pod(Operation::Create, &ns, BTreeMap::new(), request)
                };
                let d = CompiledPolicySet::compile_with(
                    &policies,
                    EngineOptions {
                        exceptions: plan.exceptions(),
                        ..EngineOptions::default()
                    },
                )
                .expect("compiles")
                .evaluate(&request, now, &evidence);
                assert_eq!(
                    d.allowed,
                    *seen == trustswap::experiment::scenario::Outcome::Admitted,
                    "{} {}/{} {}: {:?}",
                    scenario.id,
                    run.engine,
                    run.vendor,
                    step.label,
                    d.message
                );
                checked += 1;
            }
            if let Some((repo, tag, _)) = lab.moved_tag(&run.vendor) {
                fresh.unpin(&repo, &tag);
            }
        }
    }
    assert!(checked >= 96, "{checked} requests checked");
    assert!(updates > 0, "no UPDATE among the {checked} requests");
}

#[test]
fn a_reproducer_folder_reads_back_as_written() {
    let t = tempfile::tempdir().expect("tempdir");
    let r = Reproducer {
        name: "001".into(),
        case: CaseDisagreement {
            case: "gen-1-0000/cpol/chainguard/request 0: good".into(),
            variant: "failureAction Enforce".into(),
            engine: "cpol".into(),
            vendor: "chainguard".into(),
            request: "request 0: good".into(),
            embedded: Side {
                decision: "admitted".into(),
                message: None,
            },
            kyverno: Side {
                decision: "denied".into(),
                message: Some("policy trustswap-verify-images: failed".into()),
            },
            reproducer: "reproducers/001".into(),
        },
        seed: 1,
        policies: vec![
            serde_json::json!({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "a"}}),
            serde_json::json!({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "b"}}),
        ],
        pod: serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "r0", "namespace": "apps"}}),
        update: Some(trustswap::experiment::fidelity::ReproducerUpdate {
            old_pod: serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "r0", "namespace": "apps", "annotations": {"a": "b"}}}),
            sub_resource: "ephemeralcontainers".into(),
        }),
        evidence: serde_json::json!({"lab": "trustswap lab init --seed 1"}),
        kyverno_flags: [
            ("enablePolicyException".to_owned(), "true".to_owned()),
            ("exceptionNamespace".to_owned(), "*".to_owned()),
        ]
        .into(),
    };
    let dir = t.path().join("001");
    std::fs::create_dir(&dir).expect("dir");
    r.write(&dir).expect("write");
    let back = Reproducer::load(&dir).expect("load");
    assert_eq!(back.case, r.case);
    assert_eq!(back.seed, 1);
    assert_eq!(back.policies, r.policies);
    assert_eq!(back.pod, r.pod);
    // An UPDATE reads back as one, stored pod and subresource included.
    let update = back.update.as_ref().expect("an update");
    assert_eq!(update.old_pod["metadata"]["annotations"]["a"], "b");
    let request = back.request();
    assert_eq!(
        request.operation,
        trustswap::admission::request::Operation::Update
    );
    assert_eq!(request.sub_resource, "ephemeralcontainers");
    assert_eq!(request.namespace, "apps");
    assert_eq!(request.old_object, update.old_pod);
    assert_eq!(
        back.exceptions(),
        trustswap::admission::ExceptionSettings::every_namespace()
    );
    assert_eq!(back.evidence, r.evidence);
}

/// fidelity.json matches its published schema, disagreements included.
#[test]
fn fidelity_json_matches_its_schema() {
    use trustswap::experiment::fidelity::{FidelityReport, SCHEMA_VERSION};
    let case = CaseDisagreement {
        case: "gen-1-0000/ivpol/dhi/request 0: good".into(),
        variant: "failureAction Enforce".into(),
        engine: "ivpol".into(),
        vendor: "dhi".into(),
        request: "request 0: good".into(),
        embedded: Side {
            decision: "admitted".into(),
            message: None,
        },
        kyverno: Side {
            decision: "denied".into(),
            message: Some("Policy trustswap-verify-images failed".into()),
        },
        reproducer: "reproducers/001".into(),
    };
    let report = FidelityReport {
        schema_version: SCHEMA_VERSION,
        backend: "local".into(),
        cluster: serde_json::json!({"kubernetes": "v1.36.3", "kyvernoImage": null, "oracle": ["kyverno v1.19.1"]}),
        seed: 1,
        cases: 500,
        generated: 512,
        variants: 16,
        compared: 512,
        skipped: vec![],
        disagreements: vec![case],
        unconfirmed: vec![],
        verdict: "disagrees",
    };
    let value = serde_json::to_value(&report).expect("json");
    common::assert_matches_schema("fidelity.schema.json", &value);
    let mut bad = value.clone();
    bad["verdict"] = serde_json::json!("maybe");
    assert!(!common::schema_errors("fidelity.schema.json", &bad).is_empty());
}

fn trustswap(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_trustswap"))
        .args(args)
        .current_dir(common::root())
        .env_remove("TRUSTSWAP_ORACLE")
        .output()
        .expect("trustswap runs")
}

#[test]
fn fidelity_on_the_embedded_backend_has_nothing_to_compare_with() {
    let out = trustswap(&["fidelity", "--backend", "embedded"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing to compare with"), "{err}");
}

#[test]
fn fidelity_without_the_oracle_says_how_to_build_it() {
    let out = trustswap(&["fidelity", "--cases", "10"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("oracle/build"), "{err}");
}

#[test]
fn fidelity_refuses_zero_cases() {
    let out = trustswap(&["fidelity", "--cases", "0"]);
    assert_eq!(out.status.code(), Some(2));
}
