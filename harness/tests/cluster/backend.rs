//! The kind / existing-cluster backend end to end against a fake API server
//! with Kyverno's decisions inside (tests/kube_cluster_fake): every scenario
//! through KubeBackend → ClusterBackend → kube-rs, per-run namespaces,
//! relocated fixtures, real pods for the drift audit, policy reports, policy
//! swaps, cleanup, the comparison with the embedded engine, and the faults a
//! real cluster brings (a deviating decision, a rejected policy, a namespace
//! that cannot be deleted).

use crate::common;
use crate::kube_cluster_fake;

use std::sync::{Arc, Mutex};

use kube_cluster_fake::{Knobs, kube_backend, remaining};
use trustswap::backend::BackendError;
use trustswap::backend::kube::adapter::{FixtureTags, substitution_only};
use trustswap::experiment::compare::compare;
use trustswap::experiment::runner::{ScenarioResult, Status};
use trustswap::experiment::scenario::{self, Scenario};
use trustswap::experiment::{RunPlan, embedded, prepare, scenarios};
use trustswap::policy::Engine;

/// Tag moves, recorded.
#[derive(Clone, Default)]
struct Tags(Arc<Mutex<Vec<String>>>);

impl FixtureTags for Tags {
    fn set_tag(&mut self, repository: &str, tag: &str, digest: &str) -> Result<(), BackendError> {
        self.0
            .lock()
            .expect("tags")
            .push(format!("{repository}:{tag} -> {digest}"));
        Ok(())
    }
}

struct Run {
    check: trustswap::check::CheckResult,
    results: Vec<ScenarioResult>,
    embedded: Vec<ScenarioResult>,
    swaps: Vec<trustswap::backend::kube::Swap>,
    leftovers: Vec<String>,
    remaining: std::collections::BTreeSet<String>,
    log: Vec<String>,
    tags: Vec<String>,
}

fn shipped(only: &[&str]) -> Vec<Scenario> {
    let mut all =
        scenario::load_dir(&common::root().join("scenarios")).expect("shipped scenarios load");
    if !only.is_empty() {
        all.retain(|s| only.contains(&s.id.as_str()));
    }
    all
}

fn run_on_fake(only: &[&str], knobs: Knobs, engines: &[Engine]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let contract = common::contract();
    let vendors = common::vendors();
    let plan = RunPlan {
        contract: &contract,
        vendors: &vendors,
        engines,
        baseline: None,
        scenarios: shipped(only),
        lab_dir: dir.path().join("lab"),
        seed: 0,
        own: &[],
        cancel: Default::default(),
    };
    let (lab, check, _own) = prepare(&plan).expect("lab and static check");
    let tags = Tags::default();
    let (mut backend, fake) = kube_backend(&lab, "cluster", "t1", knobs, Box::new(tags.clone()));
    let state = fake.state.clone();
    let results = scenarios(&plan, &lab, &mut backend).expect("scenarios run");
    let leftovers = backend.cleanup().iter().map(ToString::to_string).collect();
    let swaps = backend.swaps().to_vec();
    drop(backend);
    fake.join();
    let embedded = scenarios(&plan, &lab, embedded(&lab, &plan)).expect("embedded run");
    let st = state.lock().expect("state");
    Run {
        check,
        results,
        embedded,
        swaps,
        leftovers,
        remaining: remaining(&st),
        log: st.log.clone(),
        tags: tags.0.lock().expect("tags").clone(),
    }
}

fn full() -> &'static Run {
    static RUN: std::sync::OnceLock<Run> = std::sync::OnceLock::new();
    RUN.get_or_init(|| run_on_fake(&[], Knobs::default(), &Engine::ALL))
}

fn scenario<'a>(run: &'a Run, id: &str) -> &'a ScenarioResult {
    run.results
        .iter()
        .find(|s| s.id == id)
        .expect("scenario ran")
}

#[test]
fn every_scenario_runs_on_the_cluster_backend_and_agrees_with_the_embedded_engine() {
    let run = full();
    for s in &run.results {
        match s.id.as_str() {
            // Need a movable clock, a webhook outage or an admission bypass.
            "break-glass-expiry" | "admission-bypass" => {
                assert_eq!(s.status, Status::NotApplicable, "{}: {:?}", s.id, s.reason);
                let reason = s.runs[0].reason.as_deref().unwrap_or_default();
                assert!(
                    reason.contains(
                        "which the cluster backend cannot do (the embedded backend runs it)"
                    ),
                    "{reason}"
                );
            }
            id if common::KYVERNO_17109.contains(&id) => {
                assert_eq!(s.status, Status::Deviated, "{}: {:?}", s.id, s.reason)
            }
            _ => assert_eq!(s.status, Status::Held, "{}: {:?}", s.id, s.reason),
        }
    }
    let c = compare("cluster", &run.embedded, &run.results);
    assert!(c.agrees(), "{:#?}", c.disagreements);
    assert!(c.compared >= 150, "{} observations compared", c.compared);
}

#[test]
fn admissions_are_dry_runs_in_per_run_namespaces_with_relocated_images() {
    let run = full();
    let dry: Vec<&String> = run
        .log
        .iter()
        .filter(|l| l.starts_with("POST /api/v1/namespaces/") && l.contains("dryRun=All"))
        .collect();
    assert!(dry.len() > 100, "{} dry runs", dry.len());
    assert!(
        dry.iter()
            .all(|l| l.starts_with("POST /api/v1/namespaces/ts-t1-")),
        "{dry:?}"
    );
    let s = scenario(run, "unsigned-image");
    let r = &s.runs[0];
    let request = &r.steps[0].evidence.as_ref().expect("evidence")["request"];
    let image = request["spec"]["containers"][0]["image"]
        .as_str()
        .expect("image");
    assert!(image.starts_with("trustswap-registry:5000/"), "{image}");
    assert!(
        request["metadata"]["namespace"]
            .as_str()
            .is_some_and(|n| n.starts_with("ts-t1-") && n.ends_with("-apps")),
        "{request}"
    );
}

#[test]
fn the_audit_reads_real_pods_and_audit_mode_reads_policy_reports() {
    let run = full();
    // Real pods were created only where a later audit (or a report) needs them.
    let creates = run
        .log
        .iter()
        .filter(|l| l.starts_with("POST /api/v1/namespaces/") && l.ends_with("/pods?"))
        .count();
    assert!(creates > 0, "real pods created");
    let s = scenario(run, "tag-repush");
    for r in &s.runs {
        let audit = r.steps.last().expect("audit step");
        if r.engine == Engine::Ivpol && r.vendor == "dhi" {
            // kyverno/kyverno#17109: the first pod was never admitted.
            assert_eq!(audit.observed.word(), "api=absent", "{audit:?}");
            continue;
        }
        assert_eq!(audit.ok, Some(true), "{}/{}: {audit:?}", r.engine, r.vendor);
        assert!(
            audit.observed.word().contains("=drifted"),
            "{}",
            audit.observed
        );
    }
    // Audit mode: the report comes from the reports controller (PolicyReport).
    let s = scenario(run, "unsigned-image");
    for r in &s.runs {
        let step = r.steps.last().expect("audit-mode step");
        assert_eq!(step.ok, Some(true), "{step:?}");
        assert!(
            step.detail
                .as_deref()
                .unwrap_or_default()
                .contains("trustswap-verify-images")
        );
    }
    assert!(
        run.log.iter().any(|l| l.contains("/policyreports")),
        "policy reports were read"
    );
}

#[test]
fn a_repush_moves_the_tag_in_the_registry_and_moves_it_back_for_the_next_run() {
    let run = full();
    let moves: Vec<&String> = run
        .tags
        .iter()
        .filter(|t| t.starts_with("cgr.dev/chainguard/static:latest-moved-tag"))
        .collect();
    let signed = moves.first().expect("moves").as_str();
    let pushed: Vec<&&String> = moves.iter().filter(|m| m.as_str() != signed).collect();
    // The two runs that re-push (tag-repush, tampered-or-misbound) on both
    // engines move the tag away from the signed digest...
    assert_eq!(pushed.len(), 4, "{moves:?}");
    // ...and the next run starts on the signed digest again.
    for w in moves.windows(2) {
        if w[0].as_str() != signed {
            assert_eq!(w[1].as_str(), signed, "{moves:?}");
        }
    }
}

#[test]
fn vendor_swaps_on_the_cluster_change_only_what_a_substitution_may_change() {
    let run = full();
    assert!(!run.swaps.is_empty());
    let matrix: Vec<_> = run
        .swaps
        .iter()
        .filter(|w| {
            w.case.starts_with("cross-vendor-trust/")
                && w.previous.as_deref() == Some(w.case.as_str())
        })
        .collect();
    assert!(
        matrix.len() >= 6,
        "{} swaps inside the matrix",
        matrix.len()
    );
    for w in matrix {
        assert!(substitution_only(w), "{w:#?}");
        assert!(w.classes.contains_key("trust-root"), "{w:#?}");
        assert!(
            w.classes
                .keys()
                .all(|c| ["trust-root", "image-scope", "evidence"].contains(&c.as_str())),
            "{w:#?}"
        );
        assert!(w.objects.iter().all(|(_, g)| g.is_some()), "{w:#?}");
    }
}

#[test]
fn cleanup_leaves_nothing_behind() {
    let run = full();
    assert!(run.leftovers.is_empty(), "{:?}", run.leftovers);
    assert!(run.remaining.is_empty(), "{:?}", run.remaining);
}

#[test]
fn a_decision_that_differs_from_the_embedded_engine_is_a_disagreement() {
    let run = run_on_fake(
        &["unsigned-image"],
        Knobs {
            flip_image: Some("-unsigned".into()),
            ..Knobs::default()
        },
        &[Engine::Cpol],
    );
    let c = compare("cluster", &run.embedded, &run.results);
    assert!(!c.agrees());
    // Per vendor: Enforce admits the unsigned image, Audit denies it.
    assert_eq!(c.disagreements.len(), 8, "{:#?}", c.disagreements);
    let d = &c.disagreements[0];
    assert_eq!(d.step, "unsigned image is denied in Enforce");
    assert_eq!(
        (d.embedded.as_str(), d.cluster.as_str()),
        ("denied", "admitted")
    );
    assert_eq!(scenario(&run, "unsigned-image").status, Status::Deviated);
}

#[test]
fn a_policy_kyverno_rejects_errors_the_run_with_kyvernos_message() {
    let run = run_on_fake(
        &["unsigned-image"],
        Knobs {
            reject_kind: Some((
                "ImageValidatingPolicy".into(),
                "spec.validations[0].expression: compilation failed".into(),
            )),
            ..Knobs::default()
        },
        &[Engine::Ivpol],
    );
    let s = scenario(&run, "unsigned-image");
    assert_eq!(s.status, Status::Errored);
    let reason = s.runs[0].reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("ImageValidatingPolicy trustswap-verify-images was rejected")
            && reason.contains("compilation failed"),
        "{reason}"
    );
    assert!(run.remaining.is_empty(), "{:?}", run.remaining);
}

#[test]
fn cleanup_names_what_it_could_not_delete() {
    let run = run_on_fake(
        &["other-vendor-signer"],
        Knobs {
            forbid_namespace_delete: true,
            ..Knobs::default()
        },
        &[Engine::Cpol],
    );
    assert_eq!(scenario(&run, "other-vendor-signer").status, Status::Held);
    assert!(!run.leftovers.is_empty());
    assert!(
        run.leftovers
            .iter()
            .all(|l| l.starts_with("Namespace ts-t1-") && l.contains("403")),
        "{:?}",
        run.leftovers
    );
    // Policies were still removed.
    assert!(
        run.remaining.iter().all(|r| r.starts_with("namespace ")),
        "{:?}",
        run.remaining
    );
}

#[test]
fn the_report_shows_the_cluster_the_comparison_and_the_swaps() {
    use trustswap::report::experiment::{Counts, RunReport, write};
    let run = full();
    let comparison = compare("cluster", &run.embedded, &run.results);
    let report = RunReport {
        schema_version: trustswap::report::SCHEMA_VERSION,
        tool: serde_json::json!({ "name": "trustswap", "version": "0.1.0" }),
        command: "run",
        backend: "cluster",
        seed: 0,
        verdict: trustswap::exit::Verdict::Holds,
        exit_code: 0,
        counts: Counts::of(&run.results),
        lab: serde_json::json!({
            "sctRequired": true,
            "fixtures": 0,
            "notApplicable": 0,
            "trustRoot": "the lab's trusted_root.json (built from the seed)",
            "clock": "2026-12-01T00:00:00Z",
        }),
        static_check: &run.check,
        own_policies: &[],
        scenarios: &run.results,
        cluster: Some(serde_json::json!({
            "runId": "t1",
            "kubernetes": "v1.35.0",
            "kyvernoImage": "reg.kyverno.io/kyverno/kyverno:v1.19.0",
            "fixturesServedAs": "trustswap-registry:5000/<reference>",
            "leftovers": ["Namespace ts-t1-001-apps: delete namespace failed"],
            "interrupted": false,
        })),
        swaps: Some(&run.swaps),
        comparison: Some(&comparison),
        claim: None,
        logs: &[],
        clock: 0,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), &report).expect("report written");
    let md = std::fs::read_to_string(dir.path().join("summary.md")).expect("summary");
    assert!(md.contains("Backend: cluster, seed 0."), "{md}");
    assert!(md.contains("## Cluster\n\nBackend cluster: Kubernetes v1.35.0, Kyverno image `reg.kyverno.io/kyverno/kyverno:v1.19.0`; fixtures served as `trustswap-registry:5000/<reference>`; run id `t1`."), "{md}");
    assert!(
        md.contains(
            "Left behind by cleanup:\n\n- Namespace ts-t1-001-apps: delete namespace failed"
        ),
        "{md}"
    );
    assert!(md.contains(&format!("## Comparison with the embedded engine\n\n{} observations compared, **0 disagreements**", comparison.compared)), "{md}");
    assert!(md.contains("## Policy swaps on the cluster"), "{md}");
    assert!(md.contains("| cross-vendor-trust/cpol | cross-vendor-trust/cpol | ClusterPolicy trustswap-verify-images (2)"), "{md}");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("result.json")).expect("json"),
    )
    .expect("result.json parses");
    common::assert_matches_schema("run-result.schema.json", &json);
    assert_eq!(json["comparison"]["disagreements"], serde_json::json!([]));
    assert!(json["swaps"].as_array().is_some_and(|s| !s.is_empty()));
    assert_eq!(json["cluster"]["runId"], "t1");
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("html");
    assert!(
        html.contains("<h2>Cluster</h2>") && html.contains("&quot;runId&quot;: &quot;t1&quot;"),
        "{html}"
    );
    assert!(
        html.contains("<h2>Comparison with the embedded engine</h2>"),
        "{html}"
    );
    assert!(html.contains("<b>0 disagreements</b>"), "{html}");
    assert!(
        html.contains("<h2>Policy swaps on the cluster</h2>"),
        "{html}"
    );
    assert!(html.contains("<td>cross-vendor-trust/cpol</td>"), "{html}");
}
