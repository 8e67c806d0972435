#![allow(clippy::unwrap_used)]
//! `trustswap admit` (issue 11): hand-written policies against Pods and
//! workloads, on the embedded engine with the lab's real signatures; bad
//! input, unmodelled fields and `--allow-unmodelled`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{self, text, trustswap};

const CG_SUBJECT: &str =
    "https://github.com/chainguard-images/images/.github/workflows/release.yaml@refs/heads/main";
const GH_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn cpol(extra_entry: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: unrelated}}\n---\n\
         apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata:\n  name: require-signed\n\
         spec:\n  validationFailureAction: Enforce\n  rules:\n  - name: chainguard-signed\n\
         \x20   match:\n      any:\n      - resources: {{kinds: [Pod]}}\n\
         \x20   verifyImages:\n    - imageReferences: [\"cgr.dev/chainguard/*\"]\n\
         \x20     attestors:\n      - entries:\n        - keyless:\n\
         \x20           subject: \"{CG_SUBJECT}\"\n            issuer: \"{GH_ISSUER}\"\n{extra_entry}"
    )
}

fn ivpol() -> String {
    format!(
        "apiVersion: policies.kyverno.io/v1\nkind: ImageValidatingPolicy\nmetadata: {{name: cg}}\n\
         spec:\n  validationActions: [Deny]\n  matchConstraints:\n    resourceRules:\n\
         \x20   - apiGroups: [\"\"]\n      apiVersions: [v1]\n      operations: [CREATE]\n      resources: [pods]\n\
         \x20 matchImageReferences:\n  - glob: \"cgr.dev/chainguard/*\"\n\
         \x20 attestors:\n  - name: cg\n    cosign:\n      keyless:\n        identities:\n\
         \x20       - subject: \"{CG_SUBJECT}\"\n          issuer: \"{GH_ISSUER}\"\n\
         \x20 validations:\n  - expression: \"images.containers.map(i, verifyImageSignatures(i, [attestors.cg])).all(n, n > 0)\"\n\
         \x20   message: not signed by Chainguard\n"
    )
}

const PODS: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n\
    spec:\n  containers:\n  - {name: app, image: \"cgr.dev/chainguard/static:latest\"}\n---\n\
    apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad, namespace: shop}\n\
    spec:\n  template:\n    spec:\n      initContainers:\n\
    \x20     - {name: init, image: \"cgr.dev/chainguard/static:latest-unsigned\"}\n\
    \x20     containers:\n      - {name: app, image: \"cgr.dev/chainguard/static:latest-other-vendor\"}\n";

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new(policy: &str, pods: &str) -> Case {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("policy.yaml"), policy).unwrap();
        std::fs::write(dir.path().join("pods.yaml"), pods).unwrap();
        Case { dir }
    }
    fn p(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
    fn admit(&self, extra: &[&str]) -> (u8, String, String) {
        let (policy, pods, lab) = (self.p("policy.yaml"), self.p("pods.yaml"), lab());
        let mut args = vec!["admit", "--policies", &policy, "--lab", &lab];
        args.extend_from_slice(extra);
        args.push(&pods);
        let out = trustswap(&args);
        (
            out.status.code().unwrap_or(-1) as u8,
            text(&out.stdout),
            text(&out.stderr),
        )
    }
    fn json(&self, extra: &[&str]) -> (u8, Value) {
        let mut args = vec!["--format", "json"];
        args.extend_from_slice(extra);
        let (code, out, err) = self.admit(&args);
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        common::assert_matches_schema("admit.schema.json", &v);
        (code, v)
    }
}

/// One lab for the module, built by `admit` itself the first time.
fn lab() -> String {
    static LAB: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    let (_, dir) = LAB.get_or_init(|| {
        let t = tempfile::tempdir().expect("tempdir");
        let dir = t.path().join("lab");
        let case = Case::new(&cpol(""), PODS);
        let out = trustswap(&[
            "admit",
            "--policies",
            &case.p("policy.yaml"),
            "--lab",
            &dir.display().to_string(),
            &case.p("pods.yaml"),
        ]);
        assert!(
            text(&out.stderr).contains("lab: building"),
            "{}",
            text(&out.stderr)
        );
        assert!(dir.join("catalogue.json").is_file());
        (t, dir)
    });
    dir.display().to_string()
}

fn results_of<'a>(r: &'a Value, container: &str) -> Vec<(&'a str, &'a str)> {
    r["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["container"] == container)
        .map(|x| {
            (
                x["status"].as_str().unwrap(),
                x["message"].as_str().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_hand_written_cluster_policy_admits_the_signed_pod_and_denies_the_deployment() {
    let case = Case::new(&cpol(""), PODS);
    let (code, v) = case.json(&[]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["exitCode"], 1);
    assert_eq!(v["evidence"]["kind"], "lab");
    assert_eq!(v["skipped"][0]["document"], "ConfigMap/unrelated");
    assert_eq!(v["policies"].as_array().unwrap().len(), 1);
    let (web, bad) = (&v["resources"][0], &v["resources"][1]);
    assert_eq!(
        (web["kind"].as_str(), web["allowed"].as_bool()),
        (Some("Pod"), Some(true))
    );
    assert_eq!(results_of(web, "app")[0].0, "pass");
    // the verification metadata Kyverno's mutating webhook records in the
    // pod's annotations, then the digest pin it adds
    let patches = web["patches"].as_array().unwrap();
    let paths: Vec<&str> = patches
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/metadata/annotations",
            "/metadata/annotations/kyverno.io~1verify-images",
            "/metadata/annotations/kyverno.io~1verify-images-scoped",
            "/spec/containers/0/image"
        ],
        "{web:#}"
    );
    assert!(
        patches[3]["value"]
            .as_str()
            .unwrap()
            .starts_with("cgr.dev/chainguard/static:latest@sha256:"),
        "{web:#}"
    );
    assert_eq!(
        (
            bad["kind"].as_str(),
            bad["namespace"].as_str(),
            bad["allowed"].as_bool()
        ),
        (Some("Deployment"), Some("shop"), Some(false))
    );
    let init = results_of(bad, "init");
    assert_eq!(init[0].0, "fail");
    assert!(init[0].1.contains("no signatures found"), "{init:?}");
    let app = results_of(bad, "app");
    assert!(app[0].1.contains("subject mismatch"), "{app:?}");
    assert!(
        bad["message"]
            .as_str()
            .unwrap()
            .contains("resource Pod/shop/bad was blocked"),
        "{bad:#}"
    );
}

#[test]
fn the_table_names_each_container_and_the_verdict_and_no_report_is_written() {
    let case = Case::new(&cpol(""), PODS);
    let before: Vec<_> = std::fs::read_dir(common::root()).unwrap().collect();
    let (code, out, _) = case.admit(&[]);
    assert_eq!(code, 1);
    for line in [
        "Pod default/web (",
        "): ADMITTED",
        "Deployment shop/bad, as the Pod its controller creates (",
        "  container init: cgr.dev/chainguard/static:latest-unsigned",
        "    fail  require-signed/chainguard-signed: failed to verify image",
        "skipped: ConfigMap/unrelated in ",
        "2 resources: 1 admitted, 1 denied",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }
    // a denied request is not mutated
    assert_eq!(out.matches("mutate: ").count(), 1, "{out}");
    assert_eq!(
        out.matches("annotate: kyverno.io/verify-images").count(),
        2,
        "{out}"
    );
    let after: Vec<_> = std::fs::read_dir(common::root()).unwrap().collect();
    assert_eq!(
        before.len(),
        after.len(),
        "admit wrote into the project root"
    );
}

#[test]
fn an_image_validating_policy_uses_the_default_trust_when_it_names_none() {
    let pods = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n\
        spec:\n  containers:\n  - {name: app, image: \"cgr.dev/chainguard/static:latest\"}\n\
        \x20 - {name: other, image: \"cgr.dev/chainguard/static:latest-look-alike\"}\n";
    let case = Case::new(&ivpol(), pods);
    let (code, v) = case.json(&[]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["resources"][0]["allowed"], false);
    assert!(
        v["resources"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not signed by Chainguard"),
        "{v:#}"
    );
    let single = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n\
        spec:\n  containers:\n  - {name: app, image: \"cgr.dev/chainguard/static:latest\"}\n";
    let (code, v) = Case::new(&ivpol(), single).json(&[]);
    assert_eq!(
        (code, &v["resources"][0]["allowed"]),
        (0, &Value::Bool(true)),
        "{v:#}"
    );
}

#[test]
fn an_unmodelled_field_cannot_be_decided_unless_allowed_and_then_it_is_listed() {
    let annotations = "          annotations: {team: platform}\n";
    let case = Case::new(&cpol(annotations), PODS);
    let (code, _, err) = case.admit(&[]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("policy.yaml"), "{err}");
    assert!(
        err.contains("spec.rules[0].verifyImages[0].attestors[0].entries[0].annotations"),
        "{err}"
    );
    assert!(err.contains("--allow-unmodelled"), "{err}");
    let (code, v) = case.json(&["--allow-unmodelled"]);
    assert_eq!(code, 1);
    assert_eq!(v["ignored"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["ignored"][0]["field"],
        "spec.rules[0].verifyImages[0].attestors[0].entries[0].annotations"
    );
    assert!(
        v["ignored"][0]["file"]
            .as_str()
            .unwrap()
            .ends_with("policy.yaml")
    );
    let (_, out, _) = case.admit(&["--allow-unmodelled"]);
    assert!(
        out.contains("warning: ClusterPolicy/require-signed in ")
            && out.contains("was ignored (--allow-unmodelled)"),
        "{out}"
    );
}

#[test]
fn bad_input_names_the_file_and_writes_nothing() {
    // a policy Kyverno would refuse: exit 2 naming the file and field
    let bad_policy = cpol("").replace(
        "validationFailureAction: Enforce",
        "validationFailureAction: Block",
    );
    let case = Case::new(&bad_policy, PODS);
    let (code, _, err) = case.admit(&[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("policy.yaml") && err.contains("validationFailureAction"),
        "{err}"
    );
    // a manifest that is not a Pod or workload
    let case = Case::new(
        &cpol(""),
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
    );
    let out = case.p("out");
    let (code, _, err) = case.admit(&["--out", &out]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("pods.yaml") && err.contains("\"Service\""),
        "{err}"
    );
    assert!(!Path::new(&out).exists());
    // policy files without a Kyverno document
    let case = Case::new(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        PODS,
    );
    let (code, _, err) = case.admit(&[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no Kyverno policy"), "{err}");
}

#[test]
fn out_writes_admit_json_as_printed() {
    let case = Case::new(&cpol(""), PODS);
    let out = case.p("report");
    let (code, printed) = case.json(&["--out", &out]);
    assert_eq!(code, 1);
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(&out).join("admit.json")).unwrap())
            .unwrap();
    assert_eq!(written, printed);
}

#[test]
fn policy_exceptions_are_read_only_when_kyverno_is_told_to() {
    let exception = "---\napiVersion: kyverno.io/v2\nkind: PolicyException\n\
        metadata: {name: break-glass, namespace: platform}\nspec:\n  exceptions:\n\
        \x20 - policyName: require-signed\n    ruleNames: [chainguard-signed]\n  match:\n    any:\n\
        \x20   - resources: {kinds: [Pod], namespaces: [shop], names: [bad]}\n";
    let case = Case::new(&format!("{}{exception}", cpol("")), PODS);
    // Kyverno's default: the exception is never applied, and said so
    let (code, v) = case.json(&[]);
    assert_eq!(code, 1);
    assert_eq!(
        v["unreadExceptions"][0]["document"],
        "PolicyException/break-glass"
    );
    assert!(
        v["unreadExceptions"][0]["why"]
            .as_str()
            .unwrap()
            .contains("--enablePolicyException=false"),
        "{v:#}"
    );
    let (_, out, _) = case.admit(&[]);
    assert!(
        out.contains("warning: PolicyException/break-glass in "),
        "{out}"
    );
    // enabled for every namespace: the Deployment's pod is exempted
    let (code, v) = case.json(&["--enable-policy-exceptions"]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["unreadExceptions"].as_array().unwrap().len(), 0);
    // enabled for another namespace only: not read
    let (code, v) = case.json(&["--enable-policy-exceptions=kyverno"]);
    assert_eq!(code, 1);
    assert!(
        v["unreadExceptions"][0]["why"]
            .as_str()
            .unwrap()
            .contains("\"kyverno\" only"),
        "{v:#}"
    );
}

#[test]
fn kyverno_kinds_are_skipped_refused_or_listed_by_what_they_do() {
    let extra = "---\napiVersion: kyverno.io/v2\nkind: ClusterCleanupPolicy\nmetadata: {name: tidy}\n\
        spec: {schedule: '* * * * *', match: {any: [{resources: {kinds: [Pod]}}]}}\n\
        ---\napiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: add-label}\n\
        spec:\n  rules:\n  - name: label\n    match: {any: [{resources: {kinds: [Pod]}}]}\n\
        \x20   mutate: {patchStrategicMerge: {metadata: {labels: {x: y}}}}\n\
        ---\napiVersion: policies.kyverno.io/v1\nkind: MutatingPolicy\nmetadata: {name: m}\n\
        spec: {mutations: []}\n";
    let case = Case::new(&format!("{}{extra}", cpol("")), PODS);
    // a mutate rule, a MutatingPolicy: cannot decide
    let (code, _, err) = case.admit(&[]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("spec.rules[0].mutate"), "{err}");
    // allowed: the mutate-only rule and the MutatingPolicy are listed and
    // left out; the cleanup policy decides no admission and is skipped
    let (code, v) = case.json(&["--allow-unmodelled"]);
    assert_eq!(code, 1, "{v:#}");
    let ignored: Vec<&str> = v["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["field"].as_str().unwrap())
        .collect();
    assert_eq!(ignored, ["spec.rules[0].mutate", "kind"], "{v:#}");
    assert_eq!(v["ignored"][1]["document"], "MutatingPolicy/m");
    assert!(
        v["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["document"] == "ClusterCleanupPolicy/tidy"),
        "{v:#}"
    );
    // the verifying policy still decides
    assert_eq!(v["resources"][1]["allowed"], false);
}

#[test]
fn admit_on_a_real_backend_refuses_what_it_cannot_do_before_starting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let policy = write("p.yaml", &cpol(""));
    let pod = write(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: a, image: cgr.dev/chainguard/static:latest}]}\n",
    );
    let (p, m) = (policy.display().to_string(), pod.display().to_string());
    for (args, says) in [
        (
            vec!["admit", "--backend", "cluster", "--policies", &p, &m],
            "shared cluster",
        ),
        (
            vec![
                "admit",
                "--backend",
                "local",
                "--layout",
                "x",
                "--policies",
                &p,
                &m,
            ],
            "--layout applies to the embedded backend",
        ),
        (
            vec!["admit", "--oracle", "x", "--policies", &p, &m],
            "--oracle applies to --backend local",
        ),
    ] {
        let o = trustswap(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains(says),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
}

#[test]
fn a_lab_from_another_seed_is_rebuilt_and_the_same_one_reused() {
    let t = tempfile::tempdir().unwrap();
    let lab = t.path().join("lab").display().to_string();
    let case = Case::new(&cpol(""), PODS);
    let admit = |seed: &str| {
        let o = trustswap(&[
            "admit",
            "--policies",
            &case.p("policy.yaml"),
            "--lab",
            &lab,
            "--seed",
            seed,
            &case.p("pods.yaml"),
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
        text(&o.stderr)
    };
    assert!(admit("0").contains("from seed 0"));
    assert!(
        !admit("0").contains("lab: building"),
        "the same lab is reused"
    );
    assert!(
        admit("1").contains("from seed 1"),
        "another seed's lab is rebuilt"
    );
}
