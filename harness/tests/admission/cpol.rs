#![allow(clippy::unwrap_used, clippy::cloned_ref_to_slice_refs)]
//! ClusterPolicy verifyImages / validate.pattern and kyverno.io/v2 PolicyException.

use crate::common::*;
use rstest::rstest;
use serde_json::{Value, json};
use trustswap::admission::*;

const CG_NGINX: &str = "cgr.dev/chainguard/nginx:1.25";

fn cg() -> Vec<Value> {
    snapshot("cpol_chainguard")
}

#[test]
fn rendered_chainguard_admits_signed_pod_and_pins_digests() {
    let p = pod(
        "web",
        &[
            CG_NGINX,
            "cgr.dev/chainguard/python:3",
            "cgr.dev/chainguard/busybox",
        ],
        &[],
        &[],
    );
    let d = eval(&cg(), &req("default", p), vendor_verifier());
    assert!(d.allowed, "{:?}", d.message);
    // The verification metadata's annotations first, then the digest pins.
    let paths: Vec<&str> = d
        .patches
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    // (the pod has no annotations: an empty map is added first)
    assert_eq!(
        paths[..3],
        [
            "/metadata/annotations",
            "/metadata/annotations/kyverno.io~1verify-images",
            "/metadata/annotations/kyverno.io~1verify-images-scoped"
        ],
        "{paths:?}"
    );
    let pins = digest_pins(&d);
    assert_eq!(pins.len(), 3);
    assert_eq!(
        *pins[0],
        json!({"op": "replace", "path": "/spec/containers/0/image", "value": format!("cgr.dev/chainguard/nginx:1.25@{DIGEST_A}")})
    );
    assert_eq!(
        d.status_of("trustswap-verify-images", "restrict-registries"),
        Some(RuleStatus::Pass)
    );
    let msgs: Vec<&str> = d.results.iter().map(|r| r.message.as_str()).collect();
    assert!(
        msgs.contains(
            &format!("verified image attestations for cgr.dev/chainguard/nginx@{DIGEST_A}")
                .as_str()
        ),
        "{msgs:?}"
    );
    assert!(msgs.contains(&"image verified"));
}

#[test]
fn rendered_chainguard_denies_lookalike_signer_with_kyverno_message() {
    let p = pod("web", &["cgr.dev/chainguard/evil:1"], &[], &[]);
    let d = eval(&cg(), &req("default", p), vendor_verifier());
    assert!(!d.allowed);
    let want = format!(
        "\n\nresource Pod/default/web was blocked due to the following policies \n\ntrustswap-verify-images:\n  verify-signature-and-sbom: 'failed to verify image cgr.dev/chainguard/evil:1: .attestors[0].entries[0].keyless:\n    subject mismatch: expected {CG_SUBJECT},\n    received https://github.com/attacker/images/.github/workflows/release.yaml@refs/heads/main'\n"
    );
    assert_eq!(d.message.as_deref(), Some(want.as_str()));
    assert_eq!(d.denials[0].webhook, "mutate.kyverno.svc-fail");
}

#[rstest]
#[case(
    "cgr.dev/chainguard/unsigned:1",
    false,
    "failed to verify image cgr.dev/chainguard/unsigned:1: .attestors[0].entries[0].keyless: no signatures found"
)]
#[case(
    "docker.io/library/nginx:1",
    false,
    "validation error: every image must come from an approved vendor registry. rule restrict-registries failed at path /spec/containers/0/image/"
)]
#[case(
    "nginx",
    false,
    "validation error: every image must come from an approved vendor registry. rule restrict-registries failed at path /spec/containers/0/image/"
)]
#[case(
    "cgr.dev/chainguard-evil/nginx:1",
    false,
    "rule restrict-registries failed at path /spec/containers/0/image/"
)]
fn rendered_chainguard_denials(#[case] image: &str, #[case] allowed: bool, #[case] contains: &str) {
    let d = eval(
        &cg(),
        &req("default", pod("p", &[image], &[], &[])),
        vendor_verifier(),
    );
    assert_eq!(d.allowed, allowed);
    assert!(failures(&d).contains(contains), "{}", failures(&d));
}

#[test]
fn init_and_ephemeral_containers_are_checked_by_conditional_anchors() {
    let ok = eval(
        &cg(),
        &req(
            "default",
            pod("p", &[CG_NGINX], &["cgr.dev/chainguard/busybox"], &[]),
        ),
        vendor_verifier(),
    );
    assert!(ok.allowed, "{:?}", ok.message);
    let bad = eval(
        &cg(),
        &req("default", pod("p", &[CG_NGINX], &[], &["busybox"])),
        vendor_verifier(),
    );
    assert!(!bad.allowed);
    assert!(failures(&bad).contains("failed at path /spec/ephemeralContainers/0/image/"));
}

#[rstest]
#[case("kube-system", true)]
#[case("kyverno", true)]
#[case("default", false)]
fn exclusions_by_namespace(#[case] ns: &str, #[case] allowed: bool) {
    let d = eval(
        &cg(),
        &req(ns, pod("p", &["nginx"], &[], &[])),
        vendor_verifier(),
    );
    assert_eq!(d.allowed, allowed, "{:?}", d.message);
}

#[test]
fn rendered_dhi_uses_key_and_signature_repository() {
    let d = eval(
        &snapshot("cpol_dhi"),
        &req("default", pod("p", &["dhi.io/python:3.12"], &[], &[])),
        vendor_verifier(),
    );
    assert!(d.allowed, "{:?}", d.message);
    // a different key does not verify
    let v = vendor_verifier().with_key(DHI_KEY, "someone-else");
    let d = eval(
        &snapshot("cpol_dhi"),
        &req("default", pod("p", &["dhi.io/python:3.12"], &[], &[])),
        v,
    );
    assert!(!d.allowed);
    assert!(failures(&d).contains(".attestors[0].entries[0].keys: no matching signatures"));
}

#[rstest]
#[case("ghcr.io/example-org/platform/api:1", true)]
#[case("ghcr.io/example-org/platform/evil:1", false)]
fn rendered_selfbuilt_anchored_regexp(#[case] image: &str, #[case] allowed: bool) {
    let d = eval(
        &snapshot("cpol_selfbuilt"),
        &req("default", pod("p", &[image], &[], &[])),
        vendor_verifier(),
    );
    assert_eq!(d.allowed, allowed, "{:?}", d.message);
}

#[rstest]
#[case("gcr.io/distroless/static:nonroot", true)]
#[case(
    "gcr.io/distroless/static@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    true
)]
#[case(
    "gcr.io/distroless/static@sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
    false
)]
fn rendered_distroless_digest_refs(#[case] image: &str, #[case] allowed: bool) {
    let d = eval(
        &snapshot("cpol_distroless"),
        &req("default", pod("p", &[image], &[], &[])),
        vendor_verifier(),
    );
    assert_eq!(d.allowed, allowed, "{:?}", d.message);
}

fn policy(
    action: &str,
    rule_action: Option<&str>,
    count: Option<u64>,
    entries: Value,
    extra: Value,
) -> Vec<Value> {
    let mut vi = json!({
        "imageReferences": ["cgr.dev/chainguard/*"],
        "mutateDigest": false,
        "verifyDigest": false,
        "attestors": [{"entries": entries}],
    });
    if let Some(c) = count {
        vi["attestors"][0]["count"] = json!(c);
    }
    if let Some(a) = rule_action {
        vi["failureAction"] = json!(a);
    }
    for (k, v) in extra.as_object().unwrap() {
        vi[k] = v.clone();
    }
    vec![json!({
        "apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy",
        "metadata": {"name": "verify"},
        "spec": {"validationFailureAction": action, "rules": [{
            "name": "check", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "exclude": {"any": [{"resources": {"namespaces": ["kube-*"]}}]},
            "verifyImages": [vi]
        }]}
    })]
}

fn kl(subject: &str) -> Value {
    json!({"keyless": {"subject": subject, "issuer": GH_ISSUER}})
}

#[rstest]
// count null: every entry must verify
#[case(None, false)]
// count 1: one entry is enough
#[case(Some(1), true)]
#[case(Some(2), false)]
fn count_null_vs_one(#[case] count: Option<u64>, #[case] allowed: bool) {
    let docs = policy(
        "Enforce",
        None,
        count,
        json!([kl("https://github.com/other/*"), kl(CG_SUBJECT)]),
        json!({}),
    );
    let d = eval(
        &docs,
        &req("default", pod("p", &[CG_NGINX], &[], &[])),
        vendor_verifier(),
    );
    assert_eq!(d.allowed, allowed, "{:?}", d.message);
    if !allowed {
        assert!(failures(&d).contains(".attestors[0].entries[0].keyless: subject mismatch: expected https://github.com/other/*"));
    }
}

#[test]
fn subject_wildcard_prefix_admits_lookalike_org() {
    let v = vendor_verifier().with_image(
        "cgr.dev/chainguard/x",
        signed(
            DIGEST_A,
            keyless(
                "https://github.com/example-org-evil/r/.github/workflows/a.yaml@refs/heads/main",
                GH_ISSUER,
            ),
            &[],
        ),
    );
    let p = || req("default", pod("p", &["cgr.dev/chainguard/x:1"], &[], &[]));
    let broad = policy(
        "Enforce",
        None,
        None,
        json!([kl("https://github.com/example-org*")]),
        json!({}),
    );
    assert!(eval(&broad, &p(), v).allowed);
    let v = vendor_verifier().with_image(
        "cgr.dev/chainguard/x",
        signed(
            DIGEST_A,
            keyless(
                "https://github.com/example-org-evil/r/.github/workflows/a.yaml@refs/heads/main",
                GH_ISSUER,
            ),
            &[],
        ),
    );
    let tight = policy(
        "Enforce",
        None,
        None,
        json!([kl("https://github.com/example-org/*")]),
        json!({}),
    );
    assert!(!eval(&tight, &p(), v).allowed);
}

#[rstest]
#[case(r"https://github\.com/example-org", true)]
#[case(r"^https://github\.com/example-org/", false)]
fn subject_regexp_anchoring(#[case] re: &str, #[case] allowed: bool) {
    let v = vendor_verifier().with_image(
        "cgr.dev/chainguard/x",
        signed(
            DIGEST_A,
            keyless(
                "https://github.com/example-org-evil/r/.github/workflows/a.yaml@refs/heads/main",
                GH_ISSUER,
            ),
            &[],
        ),
    );
    let docs = policy(
        "Enforce",
        None,
        None,
        json!([{"keyless": {"subjectRegExp": re, "issuer": GH_ISSUER}}]),
        json!({}),
    );
    let d = eval(
        &docs,
        &req("default", pod("p", &["cgr.dev/chainguard/x:1"], &[], &[])),
        v,
    );
    assert_eq!(d.allowed, allowed, "{:?}", d.message);
}

#[rstest]
#[case("Enforce", None, false, 0)]
#[case("enforce", None, false, 0)]
#[case("Audit", None, true, 2)]
#[case("audit", None, true, 2)]
#[case("Audit", Some("Enforce"), false, 0)]
#[case("Enforce", Some("Audit"), true, 2)]
fn audit_vs_enforce_and_rule_override(
    #[case] spec: &str,
    #[case] rule: Option<&str>,
    #[case] allowed: bool,
    #[case] reports: usize,
) {
    let docs = policy(spec, rule, None, json!([kl(CG_SUBJECT)]), json!({}));
    let d = eval(
        &docs,
        &req(
            "default",
            pod("p", &["cgr.dev/chainguard/evil:1"], &[], &[]),
        ),
        vendor_verifier(),
    );
    assert_eq!(d.allowed, allowed, "{:?}", d.message);
    assert_eq!(d.report.len(), reports, "{:?}", d.report);
    if reports > 0 {
        assert_eq!(d.report[0].policy, "verify");
        assert_eq!(d.report[0].rule, "check");
        assert_eq!(d.report[0].result, RuleStatus::Fail);
        assert!(d.report[0].message.starts_with("failed to verify image cgr.dev/chainguard/evil:1: .attestors[0].entries[0].keyless: subject mismatch"));
        assert_eq!(d.report[0].resource["name"], "p");
        // the validating phase then reports the unverified image
        assert_eq!(
            d.report[1].message,
            "unverified image cgr.dev/chainguard/evil:1"
        );
    }
}

#[test]
fn audit_with_mutate_digest_is_a_policy_error() {
    let mut docs = policy("Audit", None, None, json!([kl(CG_SUBJECT)]), json!({}));
    docs[0]["spec"]["rules"][0]["verifyImages"][0]["mutateDigest"] = json!(true);
    let e = CompiledPolicySet::compile(&docs).unwrap_err();
    assert_eq!(e.document, "ClusterPolicy/verify");
    assert_eq!(e.field, "spec.rules[0].verifyImages[0].mutateDigest");
}

#[rstest]
#[case("Fail", false, 0)]
#[case("Ignore", true, 1)]
fn failure_policy_on_verifier_error(
    #[case] fp: &str,
    #[case] allowed: bool,
    #[case] ignored: usize,
) {
    let mut docs = policy(
        "Enforce",
        None,
        None,
        json!([kl(CG_SUBJECT)]),
        json!({"required": false}),
    );
    docs[0]["spec"]["webhookConfiguration"] = json!({"failurePolicy": fp});
    let d = eval(
        &docs,
        &req(
            "default",
            pod("p", &["cgr.dev/chainguard/flaky:1"], &[], &[]),
        ),
        vendor_verifier(),
    );
    assert_eq!(d.allowed, allowed);
    assert_eq!(d.ignored_errors.len(), ignored);
    let first = d.results.iter().find(|r| r.phase == Phase::Mutate).unwrap();
    assert_eq!(first.status, RuleStatus::Error);
    assert_eq!(
        first.message,
        "failed to verify image cgr.dev/chainguard/flaky:1: .attestors[0].entries[0].keyless: dial tcp 10.0.0.1:443: i/o timeout"
    );
}

#[test]
fn deprecated_spec_failure_policy_is_read() {
    let mut docs = policy(
        "Enforce",
        None,
        None,
        json!([kl(CG_SUBJECT)]),
        json!({"required": false}),
    );
    docs[0]["spec"]["failurePolicy"] = json!("Ignore");
    let d = eval(
        &docs,
        &req(
            "default",
            pod("p", &["cgr.dev/chainguard/flaky:1"], &[], &[]),
        ),
        vendor_verifier(),
    );
    assert!(d.allowed);
}

#[test]
fn ignore_still_denies_through_required_like_kyverno() {
    // Kyverno records the errored image as unverified, so the validating webhook's required
    // check ("unverified image") blocks even under failurePolicy Ignore.
    let mut docs = policy("Enforce", None, None, json!([kl(CG_SUBJECT)]), json!({}));
    docs[0]["spec"]["webhookConfiguration"] = json!({"failurePolicy": "Ignore"});
    let d = eval(
        &docs,
        &req(
            "default",
            pod("p", &["cgr.dev/chainguard/flaky:1"], &[], &[]),
        ),
        vendor_verifier(),
    );
    assert!(!d.allowed);
    assert_eq!(d.ignored_errors.len(), 1);
    assert_eq!(d.denials[0].webhook, "validate.kyverno.svc-fail");
    assert!(
        d.message
            .unwrap()
            .contains("check: unverified image cgr.dev/chainguard/flaky:1")
    );
}

#[test]
fn skip_image_references_and_unmatched_images() {
    let docs = policy(
        "Enforce",
        None,
        None,
        json!([kl(CG_SUBJECT)]),
        json!({"skipImageReferences": ["cgr.dev/chainguard/evil*"]}),
    );
    let d = eval(
        &docs,
        &req(
            "default",
            pod("p", &["cgr.dev/chainguard/evil:1", "nginx"], &[], &[]),
        ),
        vendor_verifier(),
    );
    assert!(d.allowed, "{:?}", d.message);
}

#[test]
fn verify_digest_without_mutation_fails_in_validation() {
    let docs = policy(
        "Enforce",
        None,
        None,
        json!([kl(CG_SUBJECT)]),
        json!({"verifyDigest": true}),
    );
    let d = eval(
        &docs,
        &req("default", pod("p", &[CG_NGINX], &[], &[])),
        vendor_verifier(),
    );
    assert!(!d.allowed);
    assert_eq!(d.denials[0].webhook, "validate.kyverno.svc-fail");
    assert!(
        d.message
            .unwrap()
            .contains("check: missing digest for cgr.dev/chainguard/nginx:1.25")
    );
}

#[test]
fn attestation_conditions() {
    let att = |op: &str, val: Value| {
        json!({"attestations": [{"type": "https://spdx.dev/Document", "attestors": [{"entries": [kl(CG_SUBJECT)]}],
        "conditions": [{"all": [{"key": "{{ packages }}", "operator": op, "value": val}]}]}]})
    };
    let p = || req("default", pod("p", &[CG_NGINX], &[], &[]));
    assert!(
        eval(
            &policy(
                "Enforce",
                None,
                None,
                json!([kl(CG_SUBJECT)]),
                att("GreaterThan", json!(2))
            ),
            &p(),
            vendor_verifier()
        )
        .allowed
    );
    let d = eval(
        &policy(
            "Enforce",
            None,
            None,
            json!([kl(CG_SUBJECT)]),
            att("LessThan", json!(2)),
        ),
        &p(),
        vendor_verifier(),
    );
    assert!(!d.allowed);
    assert!(failures(&d).contains(&format!(".attestations[0].attestors[0].entries[0].keyless: attestation checks failed for cgr.dev/chainguard/nginx@{DIGEST_A} and predicate https://spdx.dev/Document")));
    let missing = json!({"attestations": [{"type": "https://example.com/none", "attestors": [{"entries": [kl(CG_SUBJECT)]}]}]});
    let d = eval(
        &policy("Enforce", None, None, json!([kl(CG_SUBJECT)]), missing),
        &p(),
        vendor_verifier(),
    );
    assert!(
        failures(&d).contains("failed to verify image cgr.dev/chainguard/nginx@"),
        "{}",
        failures(&d)
    );
}

#[test]
fn policy_exception_v2_skips_named_rule_for_matching_requests() {
    let mut docs = cg();
    docs.push(yaml(
        r#"
apiVersion: kyverno.io/v2
kind: PolicyException
metadata: {name: allow-debug, namespace: platform}
spec:
  exceptions:
  - policyName: trustswap-verify-images
    ruleNames: ["verify-*", "restrict-registries"]
  match:
    any:
    - resources:
        kinds: [Pod]
        namespaces: [debug]
        names: ["tool-*"]
"#,
    ));
    let r = req("debug", pod("tool-1", &["nginx"], &[], &[]));
    // Kyverno's default (--enablePolicyException=false) reads no exception
    let off = CompiledPolicySet::compile(&docs).unwrap();
    assert!(
        !off.evaluate(&r, now(), &verifier(vendor_verifier()))
            .allowed
    );
    assert_eq!(off.unread_exceptions().len(), 1);
    assert!(
        off.unread_exceptions()[0]
            .1
            .contains("--enablePolicyException=false"),
        "{:?}",
        off.unread_exceptions()
    );
    let d = eval_exceptions(&docs, &r, vendor_verifier());
    assert!(d.allowed, "{:?}", d.message);
    assert_eq!(
        d.status_of("trustswap-verify-images", "restrict-registries"),
        Some(RuleStatus::Skip)
    );
    assert!(
        d.results
            .iter()
            .any(|r| r.message == "rule is skipped due to policy exceptionsplatform/allow-debug")
    );
    // other names / namespaces are still checked
    assert!(
        !eval(
            &docs,
            &req("debug", pod("web", &["nginx"], &[], &[])),
            vendor_verifier()
        )
        .allowed
    );
    assert!(
        !eval(
            &docs,
            &req("default", pod("tool-1", &["nginx"], &[], &[])),
            vendor_verifier()
        )
        .allowed
    );
}

#[test]
fn pattern_allow_list_with_alternatives_and_anchors() {
    let docs = vec![yaml(
        r#"
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: registries}
spec:
  validationFailureAction: Enforce
  rules:
  - name: allow
    match: {any: [{resources: {kinds: [Pod], operations: [CREATE]}}]}
    validate:
      message: bad registry
      pattern:
        spec:
          containers:
          - image: "cgr.dev/chainguard/* | dhi.io/?ython:*"
          =(initContainers):
          - image: "!*:latest"
          X(hostNetwork): "null"
"#,
    )];
    let cases: &[(Value, bool)] = &[
        (
            pod(
                "p",
                &["cgr.dev/chainguard/nginx:1", "dhi.io/python:3"],
                &[],
                &[],
            ),
            true,
        ),
        (pod("p", &["dhi.io/jython:3"], &["cgr.dev/x:1"], &[]), true),
        (pod("p", &["dhi.io/python"], &[], &[]), false),
        (
            pod(
                "p",
                &["cgr.dev/chainguard/nginx:1"],
                &["busybox:latest"],
                &[],
            ),
            false,
        ),
        (pod("p", &["quay.io/x:1"], &[], &[]), false),
    ];
    for (p, allowed) in cases {
        let d = eval(&docs, &req("default", p.clone()), FakeVerifier::new());
        assert_eq!(d.allowed, *allowed, "{p} {:?}", d.message);
    }
    let mut host = pod("p", &["cgr.dev/chainguard/nginx:1"], &[], &[]);
    host["spec"]["hostNetwork"] = json!(true);
    let d = eval(&docs, &req("default", host), FakeVerifier::new());
    assert_eq!(
        d.message.unwrap(),
        "\n\nresource Pod/default/p was blocked due to the following policies \n\nregistries:\n  allow: 'validation error: bad registry. rule allow failed at path /spec/hostNetwork/'\n"
    );
    // UPDATE is not matched by operations: [CREATE]
    let upd = AdmissionRequest::pod(
        Operation::Update,
        "default",
        Default::default(),
        pod("p", &["quay.io/x:1"], &[], &[]),
    );
    assert!(eval(&docs, &upd, FakeVerifier::new()).allowed);
}

#[rstest]
#[case("chainguard")]
#[case("dhi")]
#[case("dhi-audit")]
fn handwritten_policies_compile(#[case] dir: &str) {
    let p = format!(
        "{}/../fixtures/policies/handwritten/{dir}/verify-images.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
    CompiledPolicySet::compile(&yaml_docs(&text)).unwrap();
}

#[test]
fn handwritten_dhi_audit_admits_and_reports() {
    let text = include_str!("../../../fixtures/policies/handwritten/dhi-audit/verify-images.yaml");
    let v = vendor_verifier();
    let d = eval(
        &yaml_docs(text),
        &req("default", pod("p", &["dhi.io/python:3.12"], &[], &[])),
        v,
    );
    assert!(d.allowed);
    // no digest pin: only the verification metadata (a failure) is recorded
    assert!(digest_pins(&d).is_empty(), "{:?}", d.patches);
    // the key in the fixture is not the fake's DHI key -> audit failure + missing digest, reported
    assert!(
        d.report
            .iter()
            .any(|r| r.message.contains("no matching signatures")),
        "{:?}",
        d.report
    );
    assert!(
        d.report
            .iter()
            .any(|r| r.message.contains("missing digest for dhi.io/python:3.12")),
        "{:?}",
        d.report
    );
}

#[rstest]
#[case(json!({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "x"}, "spec": {"rules": [{"name": "r", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]}, "verifyImages": [{"imageReferences": ["*"], "attestors": [{"count": 0, "entries": [{"keys": {"publicKeys": "k"}}]}]}]}]}}), "spec.rules[0].verifyImages[0].attestors[0].count")]
#[case(json!({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "x"}, "spec": {"rules": [{"name": "r", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]}, "verifyImages": [{"imageReferences": ["*"], "attestors": [{"entries": [{"keyless": {"subjectRegExp": "("}}]}]}]}]}}), "spec.rules[0].verifyImages[0].attestors[0].entries[0].keyless.subjectRegExp")]
#[case(json!({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "x"}, "spec": {"rules": [{"name": "r", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]}, "verifyImages": [{"imageReferences": ["*"], "attestors": [{"entries": [{}]}]}]}]}}), "spec.rules[0].verifyImages[0].attestors[0].entries[0]")]
#[case(json!({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "x"}, "spec": {"rules": "nope"}}), "spec.rules")]
#[case(json!({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "x"}, "spec": {"validationFailureAction": "Block"}}), "spec.validationFailureAction")]
#[case(json!({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "x"}, "spec": {"rules": [{"name": "r", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]}, "mutate": {}}]}}), "spec.rules[0].mutate")]
#[case(json!({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "spec": {}}), "metadata.name")]
#[case(json!({"apiVersion": "kyverno.io/v2", "kind": "PolicyException", "metadata": {"name": "e"}, "spec": {"exceptions": [], "match": {}}}), "spec.exceptions")]
#[case(json!(42), "apiVersion/kind")]
fn malformed_policies_are_typed_errors(#[case] doc: Value, #[case] field: &str) {
    let e = CompiledPolicySet::compile(&[doc]).unwrap_err();
    assert_eq!(e.field, field, "{e}");
}

/// A policy set with Kyverno's verification cache (default TTL), and the cache.
fn with_cache(docs: &[Value]) -> (CompiledPolicySet, std::sync::Arc<VerificationCache>) {
    let cache = std::sync::Arc::new(VerificationCache::kyverno_default());
    let set = CompiledPolicySet::compile_with(
        docs,
        EngineOptions {
            verification_cache: Some(cache.clone()),
            ..EngineOptions::default()
        },
    )
    .unwrap();
    (set, cache)
}

/// A pod on `cgr.dev/chainguard/nginx:1` (a tag reference).
fn nginx_by_tag() -> AdmissionRequest {
    req(
        "default",
        pod("p", &["cgr.dev/chainguard/nginx:1"], &[], &[]),
    )
}

/// The verifier after the vendor re-pushed nginx's tag to an unsigned digest.
fn repushed_nginx() -> std::sync::Arc<dyn EvidenceVerifier> {
    verifier(FakeVerifier::new().with_image(
        "cgr.dev/chainguard/nginx",
        FakeImage {
            digest: DIGEST_C.into(),
            ..Default::default()
        },
    ))
}

/// Kyverno's verification cache (pkg/engine/internal/imageverifier.go:83-125,
/// key pkg/image/verification/cache/client.go:91): a passed verification of a
/// tag is reused for the TTL, so the tag re-pushed to an unsigned digest is
/// admitted "verified from cache" and pinned to the unsigned digest.
#[test]
fn a_passed_verification_is_cached_by_the_tag_for_the_ttl() {
    let docs = cg();
    let (set, cache) = with_cache(&docs);
    let r = nginx_by_tag();
    assert!(
        set.evaluate(&r, now(), &verifier(vendor_verifier()))
            .allowed
    );
    assert_eq!(cache.len(), 1);

    // The vendor re-pushes the tag to an unsigned digest.
    let d = set.evaluate(&r, now(), &repushed_nginx());
    assert!(d.allowed, "{}", failures(&d));
    assert!(
        d.results.iter().any(|x| x.message == "verified from cache"),
        "{:#?}",
        d.results
    );
    let pinned = digest_pins(&d)[0]["value"].as_str().unwrap_or_default();
    assert!(
        pinned.ends_with(DIGEST_C),
        "pinned to the unsigned digest: {pinned}"
    );

    // The digest reference is another key.
    let by_digest = req(
        "default",
        pod(
            "p",
            &[&format!("cgr.dev/chainguard/nginx@{DIGEST_C}")],
            &[],
            &[],
        ),
    );
    assert!(!set.evaluate(&by_digest, now(), &repushed_nginx()).allowed);
    // At the TTL (60 min) still cached; after it the tag is verified again: denied.
    let at_ttl = now() + chrono::Duration::seconds(3600);
    assert!(set.evaluate(&r, at_ttl, &repushed_nginx()).allowed);
    let later = now() + chrono::Duration::seconds(3601);
    assert!(!set.evaluate(&r, later, &repushed_nginx()).allowed);
    // The key holds the policy's uid and resourceVersion: one cache, three
    // compiled revisions.
    let shared = std::sync::Arc::new(VerificationCache::kyverno_default());
    let revision = |rv: &str| {
        let mut d = docs.clone();
        d[0]["metadata"]["uid"] = json!("u1");
        d[0]["metadata"]["resourceVersion"] = json!(rv);
        CompiledPolicySet::compile_with(
            &d,
            EngineOptions {
                verification_cache: Some(shared.clone()),
                ..EngineOptions::default()
            },
        )
        .unwrap()
    };
    assert!(
        revision("2")
            .evaluate(&r, now(), &verifier(vendor_verifier()))
            .allowed
    );
    assert!(
        revision("2").evaluate(&r, now(), &repushed_nginx()).allowed,
        "same uid and rv: a hit"
    );
    assert!(
        !revision("3").evaluate(&r, now(), &repushed_nginx()).allowed,
        "new rv: verified again"
    );
    // Without the cache (--imageVerifyCacheEnabled=false) it is denied at once.
    let plain = CompiledPolicySet::compile(&docs).unwrap();
    assert!(
        plain
            .evaluate(&r, now(), &verifier(vendor_verifier()))
            .allowed
    );
    assert!(!plain.evaluate(&r, now(), &repushed_nginx()).allowed);
}

/// `useCache: false` opts a verifyImages entry out of the cache.
#[test]
fn use_cache_false_verifies_every_time() {
    let mut docs = cg();
    for d in docs.iter_mut() {
        if let Some(rules) = d.pointer_mut("/spec/rules").and_then(Value::as_array_mut) {
            for r in rules {
                if let Some(ivs) = r.get_mut("verifyImages").and_then(Value::as_array_mut) {
                    for iv in ivs {
                        iv["useCache"] = json!(false);
                    }
                }
            }
        }
    }
    let (set, cache) = with_cache(&docs);
    let r = nginx_by_tag();
    assert!(
        set.evaluate(&r, now(), &verifier(vendor_verifier()))
            .allowed
    );
    assert!(cache.is_empty());
    // So the re-pushed tag is verified, and denied.
    assert!(!set.evaluate(&r, now(), &repushed_nginx()).allowed);
}

// ------------------------------------------------------------- the typed model

/// A registry allow-list ClusterPolicy (one validate rule), with `extra` merged
/// into the rule's `validate`.
fn allow_list(action: &str, extra: Value) -> Vec<Value> {
    let mut validate = json!({
        "failureAction": action,
        "message": "bad registry",
        "pattern": {"spec": {"containers": [{"image": "cgr.dev/*"}]}},
    });
    for (k, v) in extra.as_object().unwrap() {
        validate[k] = v.clone();
    }
    vec![json!({
        "apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy",
        "metadata": {"name": "registries"},
        "spec": {"rules": [{"name": "allow",
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": validate}]},
    })]
}

/// The digest pins among a decision's patches (the rest record the
/// verification metadata in annotations).
fn digest_pins(d: &Decision) -> Vec<&Value> {
    d.patches
        .iter()
        .filter(|p| p["path"].as_str().is_some_and(|p| p.starts_with("/spec/")))
        .collect()
}

/// The pod as the API server stores it once `d` admitted it.
fn stored(mut pod: Value, d: &Decision) -> Value {
    apply_patches(&mut pod, &d.patches);
    pod
}

/// On UPDATE, an unchanged image is skipped only when the old object's
/// scoped annotation says this policy and rule verified it
/// (`imageverifier.go:75-80, 140-144`): a pod stored by a Kyverno that
/// verified it keeps running through a relabel even once its signature no
/// longer verifies; one without the annotation (created before the policy)
/// is verified again, and denied.
#[test]
fn an_update_skips_an_unchanged_image_only_if_the_old_object_vouches_for_it() {
    let docs = policy("Enforce", None, None, json!([kl(CG_SUBJECT)]), json!({}));
    let created = pod("p", &[CG_NGINX], &[], &[]);
    let d = eval(&docs, &req("default", created.clone()), vendor_verifier());
    assert!(d.allowed, "{}", failures(&d));
    let old = stored(created.clone(), &d);
    let scoped = old["metadata"]["annotations"]["kyverno.io/verify-images-scoped"]
        .as_str()
        .unwrap();
    assert_eq!(
        scoped,
        r#"{"version":1,"policies":{"/verify":{"check":{"cgr.dev/chainguard/nginx:1.25":"pass"}}}}"#
    );
    let relabel = |old: &Value| {
        let mut new = old.clone();
        new["metadata"]["labels"]["touched"] = json!("yes");
        AdmissionRequest::pod_update("default", Default::default(), old.clone(), new, "")
    };
    // Nothing verifies any more: the relabel of the vouched-for pod passes.
    let d = eval(&docs, &relabel(&old), FakeVerifier::new());
    assert!(d.allowed, "{}", failures(&d));
    // The same pod stored without the annotation is verified again.
    let d = eval(&docs, &relabel(&created), FakeVerifier::new());
    assert!(!d.allowed, "re-verified and denied");
    // So is an image the update changes, vouched for or not.
    let mut changed = old.clone();
    changed["spec"]["containers"][0]["image"] = json!("cgr.dev/chainguard/unsigned:1");
    let r = AdmissionRequest::pod_update("default", Default::default(), old.clone(), changed, "");
    assert!(!eval(&docs, &r, vendor_verifier()).allowed);
    // Another policy's entry vouches for nothing.
    let other = old.to_string().replace("/verify", "/other");
    let other: Value = serde_json::from_str(&other).unwrap();
    assert!(!eval(&docs, &relabel(&other), FakeVerifier::new()).allowed);
}

/// `required` reads the new object's scoped annotation
/// (`validate_image.go:122-131`). The mutating webhook rewrites it when it
/// recorded anything; a rule with no attestors records nothing, so the
/// annotation the request itself carries decides: Kyverno admits a pod that
/// claims its own verification.
#[test]
fn required_reads_the_annotation_the_request_carries_when_nothing_was_recorded() {
    let docs = vec![json!({
        "apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy",
        "metadata": {"name": "verify"},
        "spec": {"validationFailureAction": "Enforce", "rules": [{
            "name": "check", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "verifyImages": [{"imageReferences": ["cgr.dev/chainguard/*"], "mutateDigest": false, "verifyDigest": false, "required": true}]
        }]}
    })];
    let plain = pod("p", &[CG_NGINX], &[], &[]);
    let d = eval(&docs, &req("default", plain.clone()), vendor_verifier());
    assert!(!d.allowed);
    assert!(
        failures(&d).contains("unverified image cgr.dev/chainguard/nginx:1.25"),
        "{}",
        failures(&d)
    );
    let mut claims = plain;
    claims["metadata"]["annotations"] = json!({
        "kyverno.io/verify-images-scoped": r#"{"version":1,"policies":{"/verify":{"check":{"cgr.dev/chainguard/nginx:1.25":"pass"}}}}"#
    });
    let d = eval(&docs, &req("default", claims), vendor_verifier());
    assert!(d.allowed, "{}", failures(&d));
    assert!(d.patches.is_empty(), "nothing recorded, nothing rewritten");
}

fn update(old: Value, new: Value) -> AdmissionRequest {
    let mut r = AdmissionRequest::pod(Operation::Update, "default", Default::default(), new);
    r.old_object = old;
    r
}

#[rstest]
// a misspelt field is an input error naming it, as the API server's strict
// field validation (kubectl's default) refuses it
#[case(json!({"imageReference": ["*"]}), "spec.rules[0].verifyImages[0].imageReference", "unknown field `imageReference`")]
#[case(json!({"mutateDigest": "yes"}), "spec.rules[0].verifyImages[0].mutateDigest", "invalid type: string \"yes\", expected a boolean")]
#[case(json!({"failureAction": "Block"}), "spec.rules[0].verifyImages[0].failureAction", "unknown variant `Block`")]
fn unknown_and_mistyped_fields_are_invalid(
    #[case] extra: Value,
    #[case] field: &str,
    #[case] message: &str,
) {
    let docs = policy("Enforce", None, None, json!([kl(CG_SUBJECT)]), extra);
    let e = CompiledPolicySet::compile(&docs).unwrap_err();
    assert_eq!(e.kind, PolicyErrorKind::Invalid, "{e}");
    assert_eq!(e.field, field, "{e}");
    assert!(e.message.contains(message), "{e}");
}

#[rstest]
#[case("/spec/rules/0/verifyImages/0/annotations", json!({"a": "b"}), "spec.rules[0].verifyImages[0].annotations")]
#[case("/spec/rules/0/verifyImages/0/type", json!("Notary"), "spec.rules[0].verifyImages[0].type")]
#[case("/spec/rules/0/verifyImages/0/cosignOCI11", json!(true), "spec.rules[0].verifyImages[0].cosignOCI11")]
#[case("/spec/rules/0/verifyImages/0/validate", json!({"deny": {}}), "spec.rules[0].verifyImages[0].validate.deny")]
#[case("/spec/rules/0/verifyImages/0/attestors/0/entries/0/annotations", json!({"a": "b"}), "spec.rules[0].verifyImages[0].attestors[0].entries[0].annotations")]
#[case("/spec/rules/0/context", json!([{"name": "x", "variable": {"value": 1}}]), "spec.rules[0].context")]
#[case("/spec/applyRules", json!("One"), "spec.applyRules")]
#[case("/spec/validationFailureActionOverrides", json!([{"action": "Audit", "namespaces": ["x"]}]), "spec.validationFailureActionOverrides")]
#[case("/spec/webhookConfiguration", json!({"matchConditions": [{"name": "x", "expression": "true"}]}), "spec.webhookConfiguration.matchConditions")]
fn kyverno_fields_the_engine_does_not_model_are_refused_by_name(
    #[case] pointer: &str,
    #[case] value: Value,
    #[case] field: &str,
) {
    let mut docs = policy("Enforce", None, None, json!([kl(CG_SUBJECT)]), json!({}));
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    docs[0].pointer_mut(parent).unwrap()[key] = value;
    let e = CompiledPolicySet::compile(&docs).unwrap_err();
    assert_eq!(e.kind, PolicyErrorKind::Unsupported, "{e}");
    assert_eq!(e.field, field, "{e}");
    // `--allow-unmodelled`: the field is listed and compiled as if absent,
    // except a verifier type, which nothing can stand in for
    let lenient = CompiledPolicySet::compile_with(
        &docs,
        EngineOptions {
            allow_unmodelled: true,
            ..EngineOptions::default()
        },
    );
    if field.ends_with(".type") {
        assert_eq!(lenient.unwrap_err(), e);
        return;
    }
    let set = lenient.unwrap();
    let ignored: Vec<(&str, PolicyErrorKind)> = set
        .ignored()
        .iter()
        .map(|e| (e.field.as_str(), e.kind))
        .collect();
    assert_eq!(ignored, [(field, PolicyErrorKind::Unsupported)]);
    assert_eq!(set.ignored()[0].document, "ClusterPolicy/verify");
    let d = set.evaluate(
        &req("default", pod("p", &[CG_NGINX], &[], &[])),
        now(),
        &verifier(vendor_verifier()),
    );
    assert!(d.allowed, "{:?}", d.message);
}

#[test]
fn allow_unmodelled_lists_every_ignored_field_in_compile_order() {
    let mut docs = policy("Enforce", None, None, json!([kl(CG_SUBJECT)]), json!({}));
    docs[0]["spec"]["applyRules"] = json!("One");
    docs[0]["spec"]["rules"][0]["context"] = json!([{"name": "x", "variable": {"value": 1}}]);
    docs[0]["spec"]["rules"][0]["verifyImages"][0]["annotations"] = json!({"a": "b"});
    let set = CompiledPolicySet::compile_with(
        &docs,
        EngineOptions {
            allow_unmodelled: true,
            ..EngineOptions::default()
        },
    )
    .unwrap();
    let fields: Vec<&str> = set.ignored().iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "spec.applyRules",
            "spec.rules[0].context",
            "spec.rules[0].verifyImages[0].annotations",
        ]
    );
    // strict compilation names the first one only
    let e = CompiledPolicySet::compile(&docs).unwrap_err();
    assert_eq!(e.field, "spec.applyRules");
}

#[test]
fn kyverno_fields_without_admission_effect_are_accepted() {
    // a policy as `kubectl get -o yaml` returns it: server-set metadata,
    // status, and fields that do not change an admission decision
    let mut docs = policy("Enforce", None, None, json!([kl(CG_SUBJECT)]), json!({}));
    docs[0]["metadata"]["uid"] = json!("0b9c6c1e-0000-4000-8000-000000000001");
    docs[0]["metadata"]["resourceVersion"] = json!("4242");
    docs[0]["metadata"]["generation"] = json!(3);
    docs[0]["metadata"]["creationTimestamp"] = json!("2026-12-01T00:00:00Z");
    docs[0]["metadata"]["managedFields"] = json!([{"manager": "kubectl"}]);
    docs[0]["status"] = json!({"conditions": [{"type": "Ready", "status": "True"}]});
    for (k, v) in [
        ("background", json!(true)),
        ("emitWarning", json!(true)),
        ("webhookTimeoutSeconds", json!(15)),
        ("schemaValidation", json!(false)),
        ("useServerSideApply", json!(false)),
        ("applyRules", json!("All")),
        ("validationFailureActionOverrides", Value::Null),
    ] {
        docs[0]["spec"][k] = v;
    }
    docs[0]["spec"]["rules"][0]["skipBackgroundRequests"] = json!(true);
    // what Go writes for every entry (value types with omitempty)
    docs[0]["spec"]["rules"][0]["verifyImages"][0]["validate"] = json!({});
    docs[0]["spec"]["rules"][0]["match"]["any"][0]["resources"]["selector"] = Value::Null;
    docs[0]["spec"]["rules"][0]["reportProperties"] = json!({"team": "platform"});
    docs[0]["spec"]["rules"][0]["match"]["all"] = Value::Null;
    let d = eval(
        &docs,
        &req("default", pod("p", &[CG_NGINX], &[], &[])),
        vendor_verifier(),
    );
    assert!(d.allowed, "{:?}", d.message);
}

#[test]
fn admission_false_policies_are_not_evaluated_at_admission() {
    let mut docs = allow_list("Enforce", json!({}));
    let quay = req("default", pod("p", &["quay.io/x:1"], &[], &[]));
    assert!(!eval(&docs, &quay, FakeVerifier::new()).allowed);
    docs[0]["spec"]["admission"] = json!(false);
    let d = eval(&docs, &quay, FakeVerifier::new());
    assert!(d.allowed, "{:?}", d.message);
    assert!(d.results.is_empty(), "{:?}", d.results);
    // Kyverno's policy validation refuses the combinations it cannot run
    docs[0]["spec"]["background"] = json!(false);
    let e = CompiledPolicySet::compile(&docs).unwrap_err();
    assert_eq!(
        (e.field.as_str(), e.kind),
        ("spec.admission", PolicyErrorKind::Invalid)
    );
    let mut verify = policy("Enforce", None, None, json!([kl(CG_SUBJECT)]), json!({}));
    verify[0]["spec"]["admission"] = json!(false);
    let e = CompiledPolicySet::compile(&verify).unwrap_err();
    assert!(
        e.message.contains("only allowed with validation policies"),
        "{e}"
    );
}

#[rstest]
// both the old and the new pod violate: an enforced rule is skipped (default)
#[case(json!({}), "quay.io/old:1", RuleStatus::Skip)]
#[case(json!({"allowExistingViolations": true}), "quay.io/old:1", RuleStatus::Skip)]
#[case(json!({"allowExistingViolations": false}), "quay.io/old:1", RuleStatus::Fail)]
// the old pod complied: the new violation is not pre-existing
#[case(json!({}), "cgr.dev/chainguard/nginx:1", RuleStatus::Fail)]
fn pre_existing_violations_are_allowed_on_update(
    #[case] extra: Value,
    #[case] old_image: &str,
    #[case] status: RuleStatus,
) {
    let docs = allow_list("Enforce", extra);
    let r = update(
        pod("p", &[old_image], &[], &[]),
        pod("p", &["quay.io/new:1"], &[], &[]),
    );
    let d = eval(&docs, &r, FakeVerifier::new());
    assert_eq!(
        d.status_of("registries", "allow"),
        Some(status),
        "{:?}",
        d.results
    );
    assert_eq!(d.allowed, status != RuleStatus::Fail);
    if status == RuleStatus::Skip {
        assert_eq!(
            d.results[0].message,
            "skipping the rule evaluation as pre-existing violations are allowed"
        );
    }
    // Audit rules are never skipped this way
    let audit = eval(&allow_list("Audit", json!({})), &r, FakeVerifier::new());
    assert_eq!(
        audit.status_of("registries", "allow"),
        Some(RuleStatus::Fail)
    );
}

#[rstest]
// key: converted to a static-key attestor
#[case(json!({"key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}), json!({}), true)]
// issuer + subject: converted to a keyless attestor
#[case(json!({"issuer": GH_ISSUER, "subject": CG_SUBJECT}), json!({}), true)]
// subject alone: upstream converts nothing without image, key or issuer
#[case(json!({"subject": CG_SUBJECT}), json!({}), false)]
// with attestations, upstream drops the converted attestor
#[case(json!({"issuer": GH_ISSUER, "subject": CG_SUBJECT}), json!({"attestations": [{"type": "https://spdx.dev/Document", "attestors": [{"entries": [{"keyless": {"subjectRegExp": ".*", "issuerRegExp": ".*"}}]}]}]}), false)]
fn deprecated_top_level_attestors_convert_as_kyverno_does(
    #[case] deprecated: Value,
    #[case] extra: Value,
    #[case] converted: bool,
) {
    let doc = |fields: &[&Value]| {
        let mut vi = json!({"imageReferences": ["cgr.dev/chainguard/*"], "mutateDigest": false, "verifyDigest": false});
        for f in fields {
            for (k, v) in f.as_object().unwrap() {
                vi[k] = v.clone();
            }
        }
        vec![json!({
            "apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy",
            "metadata": {"name": "verify"},
            "spec": {"validationFailureAction": "Enforce", "rules": [{"name": "r",
                "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                "verifyImages": [vi]}]},
        })]
    };
    // an image signed by another identity: any converted attestor refuses it
    let evil = req(
        "default",
        pod("p", &["cgr.dev/chainguard/evil:1"], &[], &[]),
    );
    let with = eval(&doc(&[&deprecated, &extra]), &evil, vendor_verifier());
    let without = eval(&doc(&[&extra]), &evil, vendor_verifier());
    if converted {
        assert!(!with.allowed, "{:?}", with.results);
        assert!(
            failures(&with).contains(".attestors[0].entries[0]"),
            "{}",
            failures(&with)
        );
    } else {
        assert_eq!(with.allowed, without.allowed);
        assert_eq!(with.results, without.results);
    }
}

#[rstest]
// a precondition on the operation: the old object, checked as a CREATE, does
// not meet it, so the violation is not pre-existing (utils.go:15-20)
#[case(json!({"preconditions": {"all": [{"key": "{{request.operation}}", "operator": "Equals", "value": "UPDATE"}]}}))]
// a rule matched on the requester: Kyverno matches the old object with a
// placeholder user, so it does not match (utils.go:22-31)
#[case(json!({"match": {"any": [{"resources": {"kinds": ["Pod"]}, "subjects": [{"kind": "User", "name": "kubernetes-admin"}]}]}}))]
fn the_old_object_is_checked_as_kyverno_checks_it(#[case] rule_extra: Value) {
    let mut docs = allow_list("Enforce", json!({}));
    for (k, v) in rule_extra.as_object().unwrap() {
        docs[0]["spec"]["rules"][0][k] = v.clone();
    }
    let r = update(
        pod("p", &["quay.io/old:1"], &[], &[]),
        pod("p", &["quay.io/new:1"], &[], &[]),
    );
    let d = eval(&docs, &r, FakeVerifier::new());
    assert_eq!(
        d.status_of("registries", "allow"),
        Some(RuleStatus::Fail),
        "{:?}",
        d.results
    );
    assert!(!d.allowed);
}

#[rstest]
// the feature off: nothing is read
#[case(false, "*", false, false)]
// on, without --exceptionNamespace: no kyverno.io/v2 exception, every CEL one
#[case(true, "", false, true)]
// on, one namespace: only the exceptions there
#[case(true, "platform", true, true)]
#[case(true, "elsewhere", false, false)]
#[case(true, "*", true, true)]
fn kyverno_reads_policy_exceptions_as_its_flags_say(
    #[case] enabled: bool,
    #[case] namespace: &str,
    #[case] v2_read: bool,
    #[case] cel_read: bool,
) {
    let settings = ExceptionSettings {
        enabled,
        namespace: namespace.into(),
    };
    let v2 = settings.refuses_v2("platform");
    let cel = settings.refuses_cel("platform");
    assert_eq!(
        (v2.is_none(), cel.is_none()),
        (v2_read, cel_read),
        "{v2:?} {cel:?}"
    );
}
