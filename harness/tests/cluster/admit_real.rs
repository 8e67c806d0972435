//! `trustswap admit --backend local` (issue 11, item 1): the same policies and
//! manifests decided by real Kyverno 1.19 on a local control plane and by the
//! embedded engine, which must agree on every resource. Needs
//! `TRUSTSWAP_ORACLE` (see `local_real`); without it each test says why it
//! skips and passes.

use std::path::Path;

use serde_json::Value;

use crate::common::{self, text, trustswap_in};
use crate::local_real::{SERIAL, oracle};

/// Pods for every fixture variant of Chainguard's lab image, a Deployment
/// (admitted as the Pod its controller creates) with a signed init container
/// and an unsigned one, and an image from another registry.
fn chainguard_pods(dir: &Path) -> String {
    let variants = [
        "good",
        "unsigned",
        "other-vendor",
        "foreign-ca",
        "tampered",
        "moved-tag",
        "sbom-missing",
        "sbom-other-identity",
        "expired-no-tlog",
        "rotated",
        "look-alike",
    ];
    let mut docs: Vec<String> = variants
        .iter()
        .map(|v| {
            let tag = if *v == "good" { "latest".to_owned() } else { format!("latest-{v}") };
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: cg-{v}, namespace: apps}}\nspec:\n  containers:\n    - {{name: app, image: \"cgr.dev/chainguard/static:{tag}\"}}\n"
            )
        })
        .collect();
    docs.push("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: apps}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      initContainers: [{name: init, image: \"cgr.dev/chainguard/static:latest\"}]\n      containers: [{name: app, image: \"cgr.dev/chainguard/static:latest-unsigned\"}]\n".into());
    docs.push("apiVersion: v1\nkind: Pod\nmetadata: {name: hotfix, namespace: apps}\nspec:\n  containers:\n    - {name: app, image: \"cgr.dev/chainguard/static:latest-unsigned\"}\n".into());
    docs.push("apiVersion: v1\nkind: Pod\nmetadata: {name: other-registry}\nspec:\n  containers:\n    - {name: app, image: \"gcr.io/distroless/static-debian12:nonroot\"}\n".into());
    let path = dir.join("pods.yaml");
    std::fs::write(&path, docs.join("---\n")).expect("pods");
    path.display().to_string()
}

/// `trustswap admit --backend local --format json ARGS`: exit code and admit.json.
fn admit_local(dir: &Path, oracle: &Path, args: &[&str]) -> (Option<i32>, Value) {
    let lab = dir.join("lab").display().to_string();
    let oracle = oracle.display().to_string();
    let mut all = vec![
        "admit",
        "--backend",
        "local",
        "--oracle",
        &oracle,
        "--lab",
        &lab,
        "--format",
        "json",
    ];
    all.extend_from_slice(args);
    let o = trustswap_in(dir, &all);
    let json = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("admit.json: {e}\n{}\n{}", text(&o.stdout), text(&o.stderr)));
    (o.status.code(), json)
}

fn allowed(report: &Value) -> Vec<(String, bool)> {
    report["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_owned(),
                r["allowed"].as_bool().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn real_kyverno_and_the_embedded_engine_agree_on_the_rendered_policies_of_both_engines() {
    let Some(oracle) = oracle() else { return };
    let _one = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let t = tempfile::tempdir().expect("tempdir");
    let mut policies = Vec::new();
    for engine in ["cpol", "ivpol"] {
        let out = t.path().join(engine);
        let o = trustswap_in(
            t.path(),
            &[
                "render",
                "--vendor",
                "chainguard",
                "--engine",
                engine,
                "--out",
                &out.display().to_string(),
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        policies.extend(["--policies".to_owned(), out.display().to_string()]);
    }
    let pods = chainguard_pods(t.path());
    let mut args: Vec<&str> = policies.iter().map(String::as_str).collect();
    args.push(&pods);
    let (code, report) = admit_local(t.path(), &oracle, &args);
    common::assert_matches_schema("admit.schema.json", &report);
    let cluster = &report["cluster"];
    assert_eq!(cluster["backend"], "local");
    assert_eq!(
        cluster["disagreements"],
        serde_json::json!([]),
        "{report:#}"
    );
    // Rendered for the real Chainguard, the policies name no trust: the lab's
    // stands in for the cluster default, named explicitly.
    assert!(
        !cluster["defaultTrust"]
            .as_array()
            .expect("defaultTrust")
            .is_empty()
    );
    let decided = allowed(&report);
    assert_eq!(decided.len(), 14);
    let admitted: Vec<&str> = decided
        .iter()
        .filter(|(_, a)| *a)
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(admitted, ["cg-good"], "{decided:?}");
    assert_eq!(code, Some(1));
    // Kyverno's messages name the images as the manifests do.
    let resources = report["resources"].to_string();
    assert!(
        !resources.contains("127.0.0.1:"),
        "relocated names leaked: {resources}"
    );
    assert!(
        resources.contains("cgr.dev/chainguard/static@sha256:"),
        "{resources}"
    );
}

#[test]
fn real_kyverno_and_the_embedded_engine_agree_on_hand_written_sets_and_exceptions() {
    let Some(oracle) = oracle() else { return };
    let _one = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let t = tempfile::tempdir().expect("tempdir");
    let own = |n: &str| {
        common::root()
            .join("fixtures/policies/own")
            .join(n)
            .display()
            .to_string()
    };
    let exceptions = t.path().join("exceptions.yaml");
    std::fs::write(
        &exceptions,
        "apiVersion: kyverno.io/v2\nkind: PolicyException\nmetadata: {name: hotfix, namespace: apps}\nspec:\n  exceptions: [{policyName: verify-base-images, ruleNames: [verify-signature-and-sbom]}]\n  match: {any: [{resources: {kinds: [Pod], namespaces: [apps], names: [hotfix]}}]}\n---\napiVersion: policies.kyverno.io/v1\nkind: PolicyException\nmetadata: {name: hotfix-ivpol, namespace: apps}\nspec:\n  policyRefs: [{name: verify-base-images, kind: ImageValidatingPolicy}]\n  matchConditions: [{name: hotfix, expression: \"object.metadata.name == 'hotfix'\"}]\n",
    )
    .expect("exceptions");
    let pods = chainguard_pods(t.path());
    let (cg, cg_iv, exc) = (
        own("chainguard"),
        own("chainguard-ivpol"),
        exceptions.display().to_string(),
    );
    let (code, report) = admit_local(
        t.path(),
        &oracle,
        &[
            "--policies",
            &cg,
            "--policies",
            &cg_iv,
            "--policies",
            &exc,
            "--enable-policy-exceptions",
            &pods,
        ],
    );
    assert_eq!(
        report["cluster"]["disagreements"],
        serde_json::json!([]),
        "{report:#}"
    );
    let decided = allowed(&report);
    let admitted: Vec<&str> = decided
        .iter()
        .filter(|(_, a)| *a)
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(admitted, ["cg-good", "hotfix"], "{decided:?}");
    assert_eq!(code, Some(1));
}

#[test]
fn every_fidelity_reproducer_is_decided_by_admit_on_real_kyverno_as_it_was_and_as_the_embedded_engine_now_does()
 {
    let Some(oracle) = oracle() else { return };
    let _one = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let t = tempfile::tempdir().expect("tempdir");
    let root = common::root().join("fixtures/fidelity");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("reproducers")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("case.json").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 6, "{dirs:?}");
    for dir in dirs {
        let case: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("case.json")).expect("case.json"),
        )
        .expect("json");
        if case["operation"] == "UPDATE" {
            // `admit` decides the CREATE of a manifest: an UPDATE's
            // reproducer is replayed by tests/lab/reproducers.rs.
            println!(
                "skipping {}: an UPDATE, which `admit` does not send",
                dir.display()
            );
            continue;
        }
        let seed = case["seed"].as_u64().expect("seed").to_string();
        let kyverno_admitted = case["kyverno"]["decision"] == "admitted";
        let (policies, pod) = (
            dir.join("policies.yaml").display().to_string(),
            dir.join("pod.yaml").display().to_string(),
        );
        // The Kyverno flags the case was found under (PolicyExceptions read).
        let flags = &case["kyvernoFlags"];
        let exceptions = (flags["enablePolicyException"] == "true").then(|| {
            format!(
                "--enable-policy-exceptions={}",
                flags["exceptionNamespace"].as_str().unwrap_or("*")
            )
        });
        let mut args = vec!["--seed", &seed, "--policies", &policies];
        args.extend(exceptions.as_deref());
        args.push(&pod);
        let (_, report) = admit_local(t.path(), &oracle, &args);
        assert_eq!(
            report["cluster"]["disagreements"],
            serde_json::json!([]),
            "{}: {report:#}",
            dir.display()
        );
        assert_eq!(
            report["resources"][0]["allowed"],
            kyverno_admitted,
            "{}: Kyverno decided otherwise when the case was found: {report:#}",
            dir.display()
        );
    }
}
