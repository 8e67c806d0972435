#![allow(clippy::unwrap_used, clippy::cloned_ref_to_slice_refs)]
//! ImageValidatingPolicy, ValidatingPolicy and CEL PolicyException, on the rendered snapshots.

use crate::common::*;
use chrono::{TimeZone, Utc};
use rstest::rstest;
use serde_json::{Value, json};
use std::sync::Arc;
use trustswap::admission::*;

fn ivp_cg() -> Vec<Value> {
    snapshot("ivpol_chainguard")
}

const IVP: &str = "trustswap-verify-images";
const VP: &str = "trustswap-restrict-registries";

#[test]
fn rendered_snapshot_cel_compiles_and_evaluates_exactly() {
    for vendor in ["chainguard", "dhi", "distroless", "selfbuilt"] {
        let docs = snapshot(&format!("ivpol_{vendor}"));
        assert_eq!(docs.len(), 2);
        CompiledPolicySet::compile(&docs).unwrap();
    }
}

#[rstest]
#[case("ivpol_chainguard", &["cgr.dev/chainguard/nginx:1", "cgr.dev/chainguard/python:3", "cgr.dev/chainguard/busybox"])]
#[case("ivpol_distroless", &["gcr.io/distroless/static:nonroot"])]
#[case("ivpol_selfbuilt", &["ghcr.io/example-org/platform/api:1"])]
fn rendered_ivp_admits_signed_images(#[case] snap: &str, #[case] images: &[&str]) {
    let d = eval(
        &snapshot(snap),
        &req("default", pod("p", images, &[], &[])),
        vendor_verifier(),
    );
    assert!(d.allowed, "{:?}\n{:#?}", d.message, d.results);
    assert_eq!(d.patches.len(), images.len());
    assert_eq!(d.status_of(IVP, IVP), Some(RuleStatus::Pass));
    assert_eq!(d.status_of(VP, VP), Some(RuleStatus::Pass));
}

/// Kyverno 1.19's IVP refuses a legacy `.att` attestation verified with
/// `insecureIgnoreTlog` (cosign reports `bundleVerified=false`;
/// pkg/image/verifiers/ivpol/cosign/verifier.go:161, kyverno/kyverno#17109):
/// DHI's key-signed SBOM never verifies, so the signed DHI image is denied.
#[test]
fn rendered_ivp_denies_dhi_because_its_attestation_ignores_the_tlog() {
    let docs = snapshot("ivpol_dhi");
    assert!(
        serde_json::to_string(&docs)
            .unwrap()
            .contains("\"insecureIgnoreTlog\":true"),
        "the DHI policy ignores the tlog"
    );
    let d = eval(
        &docs,
        &req("default", pod("p", &["dhi.io/python:3.12"], &[], &[])),
        vendor_verifier(),
    );
    assert!(!d.allowed, "{:#?}", d.results);
    assert_eq!(d.status_of(IVP, IVP), Some(RuleStatus::Fail));
}

#[test]
fn ivp_denies_unsigned_with_policy_message() {
    let d = eval(
        &ivp_cg(),
        &req(
            "default",
            pod(
                "p",
                &[
                    "cgr.dev/chainguard/nginx:1",
                    "cgr.dev/chainguard/unsigned:1",
                ],
                &[],
                &[],
            ),
        ),
        vendor_verifier(),
    );
    assert!(!d.allowed);
    assert_eq!(
        d.message.as_deref(),
        Some("Policy trustswap-verify-images failed: failed to verify image signatures")
    );
    assert_eq!(d.denials[0].webhook, "ivpol.validate.kyverno.svc-fail");
}

#[test]
fn ivp_denies_lookalike_identity_and_selfbuilt_anchoring() {
    let d = eval(
        &ivp_cg(),
        &req(
            "default",
            pod("p", &["cgr.dev/chainguard/evil:1"], &[], &[]),
        ),
        vendor_verifier(),
    );
    assert_eq!(
        d.message.as_deref(),
        Some("Policy trustswap-verify-images failed: failed to verify image signatures")
    );
    let d = eval(
        &snapshot("ivpol_selfbuilt"),
        &req(
            "default",
            pod("p", &["ghcr.io/example-org/platform/evil:1"], &[], &[]),
        ),
        vendor_verifier(),
    );
    assert!(!d.allowed);
}

#[test]
fn vp_denies_foreign_registry_in_any_container_list() {
    for p in [
        pod("p", &["docker.io/nginx:1"], &[], &[]),
        pod("p", &["cgr.dev/chainguard/nginx:1"], &["busybox"], &[]),
        pod(
            "p",
            &["cgr.dev/chainguard/nginx:1"],
            &[],
            &["cgr.dev/chainguardx/a:1"],
        ),
    ] {
        let d = eval(&ivp_cg(), &req("default", p.clone()), vendor_verifier());
        assert!(!d.allowed, "{p}");
        assert_eq!(d.status_of(VP, VP), Some(RuleStatus::Fail));
        assert_eq!(
            d.denials[0].message,
            "Policy trustswap-restrict-registries failed: every image must come from an approved vendor registry"
        );
    }
}

#[rstest]
#[case("kube-system", true)]
#[case("kyverno", true)]
#[case("default", false)]
fn namespace_selector_excludes_system_namespaces(#[case] ns: &str, #[case] allowed: bool) {
    let d = eval(
        &ivp_cg(),
        &req(ns, pod("p", &["nginx"], &[], &[])),
        vendor_verifier(),
    );
    assert_eq!(d.allowed, allowed);
}

fn ivp_doc(vc: Value, validations: Value, extra: Value) -> Value {
    let mut d = yaml(
        r#"
apiVersion: policies.kyverno.io/v1
kind: ImageValidatingPolicy
metadata: {name: ivp}
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: [v1]
      operations: [CREATE, UPDATE]
      resources: [pods]
  matchImageReferences:
  - glob: cgr.dev/chainguard/*
  attestors:
  - name: trusted
    cosign:
      keyless:
        identities:
        - issuer: https://token.actions.githubusercontent.com
          subject: https://github.com/chainguard-images/images/.github/workflows/release.yaml@refs/heads/main
  attestations:
  - name: sbom
    intoto: {type: https://spdx.dev/Document}
"#,
    );
    d["spec"]["validationConfigurations"] = vc;
    d["spec"]["validations"] = validations;
    for (k, v) in extra.as_object().unwrap() {
        d["spec"][k] = v.clone();
    }
    d
}

fn sig_check() -> Value {
    json!([{"expression": "images.containers.map(i, verifyImageSignatures(i, [attestors.trusted])).all(e, e > 0)", "message": "sig"}])
}

#[rstest]
// verifyDigest without mutation: tag-only image fails before validations
#[case(json!({"mutateDigest": false, "verifyDigest": true, "required": false}), sig_check(), "cgr.dev/chainguard/nginx:1", Some("Policy ivp failed: image cgr.dev/chainguard/nginx:1 does not have a digest"))]
#[case(json!({"mutateDigest": false, "verifyDigest": false, "required": false}), sig_check(), "cgr.dev/chainguard/nginx:1", None)]
// required: validations pass without verifying anything -> not verified
#[case(json!({"mutateDigest": false, "verifyDigest": false}), json!([{"expression": "true"}]), "cgr.dev/chainguard/nginx:1", Some("Policy ivp failed: image cgr.dev/chainguard/nginx:1 is not verified: no policy performed a signature or attestation check on it"))]
#[case(json!({"mutateDigest": false, "verifyDigest": false}), json!([{"expression": "images.containers.map(i, verifyImageSignatures(i, [attestors.trusted])).all(e, e >= 0)"}]), "cgr.dev/chainguard/unsigned:1", Some("Policy ivp failed: image cgr.dev/chainguard/unsigned:1 failed signature or attestation verification"))]
#[case(json!({"mutateDigest": false, "verifyDigest": false, "required": false}), json!([{"expression": "true"}]), "cgr.dev/chainguard/unsigned:1", None)]
// default message / messageExpression
#[case(json!({"mutateDigest": false, "verifyDigest": false, "required": false}), json!([{"expression": "false"}]), "cgr.dev/chainguard/nginx:1", Some("Policy ivp failed: CEL expression validation failed at index 0"))]
#[case(json!({"mutateDigest": false, "verifyDigest": false, "required": false}), json!([{"expression": "false", "messageExpression": "'bad ' + object.metadata.name"}]), "cgr.dev/chainguard/nginx:1", Some("Policy ivp failed: bad p"))]
// extractPayload before verification errors; after verification returns the statement
#[case(json!({"mutateDigest": false, "verifyDigest": false, "required": false}), json!([{"expression": "images.containers.all(i, has(extractPayload(i, attestations.sbom).predicate))"}]), "cgr.dev/chainguard/nginx:1", Some("Policy ivp error: failed to evaluate policy: Error executing function 'extractPayload': intoto attestation payload cannot be fetch before verifying intoto attestation"))]
#[case(json!({"mutateDigest": false, "verifyDigest": false}), json!([{"expression": "images.containers.map(i, verifyAttestationSignatures(i, attestations.sbom, [attestors.trusted])).all(e, e > 0)"}, {"expression": "images.containers.all(i, extractPayload(i, attestations.sbom).predicate.packages == 3)"}]), "cgr.dev/chainguard/nginx:1", None)]
fn ivp_configurations(
    #[case] vc: Value,
    #[case] validations: Value,
    #[case] image: &str,
    #[case] denial: Option<&str>,
) {
    let d = eval(
        &[ivp_doc(vc, validations, json!({}))],
        &req("default", pod("p", &[image], &[], &[])),
        vendor_verifier(),
    );
    assert_eq!(d.message.as_deref(), denial, "{:#?}", d.results);
}

#[test]
fn ivp_match_image_references_uses_raw_string_and_expression() {
    // raw "nginx" does not match a docker.io glob (no normalisation in IVP)
    let vc = json!({"mutateDigest": false, "verifyDigest": false, "required": true});
    let mut doc = ivp_doc(vc.clone(), json!([{"expression": "true"}]), json!({}));
    doc["spec"]["matchImageReferences"] = json!([{"glob": "docker.io/*"}]);
    let d = eval(
        &[doc.clone()],
        &req("default", pod("p", &["nginx"], &[], &[])),
        vendor_verifier(),
    );
    assert!(d.allowed, "raw nginx must not match docker.io/*");
    let d = eval(
        &[doc],
        &req("default", pod("p", &["docker.io/nginx"], &[], &[])),
        vendor_verifier(),
    );
    assert!(!d.allowed);
    let mut doc = ivp_doc(vc, json!([{"expression": "true"}]), json!({}));
    doc["spec"]["matchImageReferences"] = json!([{"expression": "ref.startsWith('quay.io/')"}]);
    assert!(
        eval(
            &[doc.clone()],
            &req(
                "default",
                pod("p", &["cgr.dev/chainguard/nginx:1"], &[], &[])
            ),
            vendor_verifier()
        )
        .allowed
    );
    assert!(
        !eval(
            &[doc],
            &req("default", pod("p", &["quay.io/x:1"], &[], &[])),
            vendor_verifier()
        )
        .allowed
    );
}

#[rstest]
#[case(vec!["Audit"], true, 0, 1)]
#[case(vec!["Warn"], true, 1, 1)]
#[case(vec!["Deny"], false, 0, 0)]
#[case(vec!["Deny", "Audit"], false, 0, 0)]
fn ivp_validation_actions(
    #[case] actions: Vec<&str>,
    #[case] allowed: bool,
    #[case] warnings: usize,
    #[case] reports: usize,
) {
    let doc = ivp_doc(
        json!({"mutateDigest": false, "verifyDigest": false, "required": false}),
        sig_check(),
        json!({"validationActions": actions}),
    );
    let d = eval(
        &[doc],
        &req(
            "default",
            pod("p", &["cgr.dev/chainguard/unsigned:1"], &[], &[]),
        ),
        vendor_verifier(),
    );
    assert_eq!(d.allowed, allowed);
    assert_eq!(d.warnings.len(), warnings);
    assert_eq!(d.report.len(), reports);
    if warnings > 0 {
        assert_eq!(d.warnings[0], "Policy ivp failed: sig");
    }
}

#[rstest]
#[case(IvpVerifierErrorMode::CountAsUnverified, "Fail", false, 0)]
#[case(IvpVerifierErrorMode::CountAsUnverified, "Ignore", false, 0)]
#[case(IvpVerifierErrorMode::PolicyError, "Fail", false, 0)]
#[case(IvpVerifierErrorMode::PolicyError, "Ignore", true, 1)]
fn ivp_verifier_error_and_failure_policy(
    #[case] mode: IvpVerifierErrorMode,
    #[case] fp: &str,
    #[case] allowed: bool,
    #[case] ignored: usize,
) {
    let doc = ivp_doc(
        json!({"mutateDigest": false, "verifyDigest": false, "required": false}),
        sig_check(),
        json!({"failurePolicy": fp}),
    );
    let set = CompiledPolicySet::compile_with(
        &[doc],
        EngineOptions {
            ivp_verifier_errors: mode,
            ..Default::default()
        },
    )
    .unwrap();
    let v: Arc<dyn EvidenceVerifier> = Arc::new(vendor_verifier());
    let d = set.evaluate(
        &req(
            "default",
            pod("p", &["cgr.dev/chainguard/flaky:1"], &[], &[]),
        ),
        now(),
        &v,
    );
    assert_eq!(d.allowed, allowed, "{:?}", d.message);
    assert_eq!(d.ignored_errors.len(), ignored);
}

#[rstest]
#[case(
    "Fail",
    "Policy ivp error: failed to update digest: failed to resolve digest for image cgr.dev/chainguard/missing:1: ",
    0
)]
// Ignore skips the mutation error, but verifyDigest then fails closed in validation
#[case(
    "Ignore",
    "Policy ivp failed: image cgr.dev/chainguard/missing:1 does not have a digest",
    1
)]
fn ivp_digest_resolution_error(#[case] fp: &str, #[case] prefix: &str, #[case] ignored: usize) {
    let doc = ivp_doc(
        json!({"mutateDigest": true, "verifyDigest": true, "required": false}),
        sig_check(),
        json!({"failurePolicy": fp}),
    );
    let d = eval(
        &[doc],
        &req(
            "default",
            pod("p", &["cgr.dev/chainguard/missing:1"], &[], &[]),
        ),
        vendor_verifier(),
    );
    assert!(!d.allowed);
    assert!(d.message.unwrap().starts_with(prefix));
    assert_eq!(d.ignored_errors.len(), ignored);
}

fn cel_polex(expires: Option<&str>) -> Value {
    let mut e = yaml(
        r#"
apiVersion: policies.kyverno.io/v1
kind: PolicyException
metadata: {name: break-glass, namespace: platform}
spec:
  policyRefs:
  - name: trustswap-verify-images
    kind: ImageValidatingPolicy
  - name: trustswap-restrict-registries
    kind: ValidatingPolicy
  matchConditions:
  - name: debug-pod
    expression: "object.metadata.name.startsWith('debug-') && namespaceObject.metadata.name == 'ops'"
"#,
    );
    if let Some(x) = expires {
        e["spec"]["expiresAt"] = json!(x);
    }
    e
}

#[rstest]
#[case(None, "debug-1", "ops", true)]
#[case(Some("2026-07-01T00:00:00Z"), "debug-1", "ops", true)]
#[case(Some("2026-05-01T00:00:00Z"), "debug-1", "ops", false)]
#[case(Some("2026-06-01T12:00:00Z"), "debug-1", "ops", true)] // now == expiresAt: not yet expired (now.After)
#[case(None, "web", "ops", false)]
#[case(None, "debug-1", "default", false)]
fn cel_policy_exception_and_expiry(
    #[case] expires: Option<&str>,
    #[case] name: &str,
    #[case] ns: &str,
    #[case] allowed: bool,
) {
    let mut docs = ivp_cg();
    docs.push(cel_polex(expires));
    let d = eval_exceptions(
        &docs,
        &req(ns, pod(name, &["nginx"], &[], &[])),
        vendor_verifier(),
    );
    assert_eq!(d.allowed, allowed, "{:?}", d.message);
    if allowed {
        assert_eq!(d.status_of(IVP, IVP), Some(RuleStatus::Skip));
        assert!(
            d.results
                .iter()
                .any(|r| r.message
                    == "rule is skipped due to policy exception: platform/break-glass")
        );
        assert!(d.patches.is_empty());
    }
}

#[test]
fn expiry_uses_the_given_now_not_the_wall_clock() {
    let mut docs = ivp_cg();
    docs.push(cel_polex(Some("2030-01-01T00:00:00Z")));
    let set = compile_exceptions(&docs);
    let v: Arc<dyn EvidenceVerifier> = Arc::new(vendor_verifier());
    let r = req("ops", pod("debug-1", &["nginx"], &[], &[]));
    assert!(
        set.evaluate(&r, Utc.with_ymd_and_hms(2029, 12, 31, 0, 0, 0).unwrap(), &v)
            .allowed
    );
    assert!(
        !set.evaluate(&r, Utc.with_ymd_and_hms(2030, 1, 2, 0, 0, 0).unwrap(), &v)
            .allowed
    );
}

#[test]
fn vp_variables_has_matches_and_match_conditions() {
    let doc = yaml(
        r#"
apiVersion: policies.kyverno.io/v1
kind: ValidatingPolicy
metadata: {name: vp}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: ["*"], resources: [pods]}
    objectSelector: {matchLabels: {app: web}}
  matchConditions:
  - {name: not-dry, expression: "request.dryRun != true"}
  variables:
  - {name: prefixes, expression: "[r'^cgr\\.dev/', 'quay.io/']"}
  - {name: count, expression: "size(variables.prefixes)"}
  validations:
  - expression: "variables.count == 2 && object.spec.containers.all(c, variables.prefixes.exists(p, c.image.matches(p)))"
    messageExpression: "'image not allowed in ' + object.metadata.name"
"#,
    );
    let d = eval(
        &[doc.clone()],
        &req(
            "default",
            pod("web", &["cgr.dev/x/y:1", "quay.io/a:1"], &[], &[]),
        ),
        FakeVerifier::new(),
    );
    assert!(d.allowed, "{:?}", d.message);
    let d = eval(
        &[doc.clone()],
        &req("default", pod("web", &["docker.io/x:1"], &[], &[])),
        FakeVerifier::new(),
    );
    assert_eq!(
        d.message.as_deref(),
        Some("Policy vp failed: image not allowed in web")
    );
    // objectSelector: other app labels are not matched
    assert!(
        eval(
            &[doc],
            &req("default", pod("other", &["docker.io/x:1"], &[], &[])),
            FakeVerifier::new()
        )
        .allowed
    );
}

#[rstest]
#[case(json!({"apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy", "metadata": {"name": "v"}, "spec": {"validations": [{"expression": "object.("}]}}), "spec.validations[0].expression")]
#[case(json!({"apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy", "metadata": {"name": "v"}, "spec": {"validations": []}}), "spec.validations")]
#[case(json!({"apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy", "metadata": {"name": "v"}, "spec": {"validationActions": ["Block"], "validations": [{"expression": "true"}]}}), "spec.validationActions[0]")]
#[case(json!({"apiVersion": "policies.kyverno.io/v1", "kind": "ImageValidatingPolicy", "metadata": {"name": "i"}, "spec": {"attestors": [], "validations": [{"expression": "true"}]}}), "spec.attestors")]
#[case(json!({"apiVersion": "policies.kyverno.io/v1", "kind": "ImageValidatingPolicy", "metadata": {"name": "i"}, "spec": {"matchImageReferences": [{"glob": "a[b"}], "attestors": [{"name": "a", "cosign": {"key": {"data": "k"}}}], "validations": [{"expression": "true"}]}}), "spec.matchImageReferences[0].glob")]
#[case(json!({"apiVersion": "policies.kyverno.io/v1", "kind": "ImageValidatingPolicy", "metadata": {"name": "i"}, "spec": {"attestors": [{"name": "a", "cosign": {"keyless": {"identities": [{"subjectRegExp": "(["}]}}}], "validations": [{"expression": "true"}]}}), "spec.attestors[0].cosign.keyless.identities[0].subjectRegExp")]
#[case(json!({"apiVersion": "policies.kyverno.io/v1", "kind": "PolicyException", "metadata": {"name": "e"}, "spec": {"policyRefs": [{"name": "x", "kind": "ValidatingPolicy"}], "expiresAt": "tomorrow"}}), "spec.expiresAt")]
#[case(json!({"apiVersion": "policies.kyverno.io/v9", "kind": "ValidatingPolicy", "metadata": {"name": "v"}}), "apiVersion")]
fn malformed_cel_policies(#[case] doc: Value, #[case] field: &str) {
    let e = CompiledPolicySet::compile(&[doc]).unwrap_err();
    assert_eq!(e.field, field, "{e}");
}

#[test]
fn garbage_requests_do_not_panic() {
    let set = CompiledPolicySet::compile(&ivp_cg()).unwrap();
    let v: Arc<dyn EvidenceVerifier> = Arc::new(vendor_verifier());
    for p in [
        json!({"metadata": {"name": "x"}, "spec": {"containers": [{"image": 5}, {"name": "n"}, {"image": ""}, {"image": "UPPER/Case"}]}}),
        json!({"spec": "nope"}),
        json!({"spec": {"containers": {"a": 1}}}),
    ] {
        let _ = set.evaluate(&req("default", p), now(), &v);
    }
    assert!(
        AdmissionRequest::from_review(
            &json!({"request": {"operation": "PATCH"}}),
            Default::default()
        )
        .is_err()
    );
    assert!(AdmissionRequest::from_review(&json!("x"), Default::default()).is_err());
}

#[rstest]
#[case("c.image.matches(p)", "c.image.__matchesCached(p)")]
#[case(
    "'x.matches(y)'.matches(r'^a\\.matches(')",
    "'x.matches(y)'.__matchesCached(r'^a\\.matches(')"
)]
#[case(
    "\"a\\\".matches(\" + b.matches('c')",
    "\"a\\\".matches(\" + b.__matchesCached('c')"
)]
#[case("'''.matches('''.size()", "'''.matches('''.size()")]
fn matches_rewrite_skips_string_literals(#[case] src: &str, #[case] want: &str) {
    assert_eq!(trustswap::admission::celpol::rewrite_matches(src), want);
}

#[rstest]
#[case("'abc'.matches('b')", true)]
#[case("'abc'.matches('^b')", false)]
#[case("'cgr.dev/chainguard/x'.matches(r'^cgr\\.dev/chainguard/.*$')", true)]
fn cached_matches_is_unanchored_re2(#[case] expr: &str, #[case] want: bool) {
    let doc = json!({"apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy", "metadata": {"name": "v"},
        "spec": {"validations": [{"expression": expr, "message": "m"}]}});
    let d = eval(
        &[doc],
        &req("default", pod("p", &["x"], &[], &[])),
        FakeVerifier::new(),
    );
    assert_eq!(d.allowed, want);
}

#[test]
fn invalid_regex_in_matches_is_a_policy_error() {
    let doc = json!({"apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy", "metadata": {"name": "v"},
        "spec": {"validations": [{"expression": "'a'.matches('(')", "message": "m"}]}});
    let d = eval(
        &[doc],
        &req("default", pod("p", &["x"], &[], &[])),
        FakeVerifier::new(),
    );
    assert!(!d.allowed);
    assert!(
        d.message
            .unwrap()
            .starts_with("Policy v error: failed to evaluate policy:")
    );
}

// ------------------------------------------------------------- the typed model

#[rstest]
#[case("/spec/credentials", json!({"allowInsecureRegistry": true}), "spec.credentials")]
#[case("/spec/images", json!([{"name": "x", "expression": "[]"}]), "spec.images")]
#[case("/spec/evaluation", json!({"admission": {"enabled": false}}), "spec.evaluation")]
#[case("/spec/attestors/0/cosign/annotations", json!({"a": "b"}), "spec.attestors[0].cosign.annotations")]
#[case("/spec/attestors/0/cosign/trustedRoot", json!({"value": "{}"}), "spec.attestors[0].cosign.trustedRoot")]
#[case("/spec/attestors/0/cosign/keyless/identities/0/subjectExpression", json!("'x'"), "spec.attestors[0].cosign.keyless.identities[0].subjectExpression")]
#[case("/spec/attestors/0/cosign/keyless/additionalExtensions", json!({"githubWorkflowRepository": "x"}), "spec.attestors[0].cosign.keyless.additionalExtensions")]
fn ivp_fields_the_engine_does_not_model_are_refused_by_name(
    #[case] pointer: &str,
    #[case] value: Value,
    #[case] field: &str,
) {
    let mut docs = ivp_cg();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    docs[0].pointer_mut(parent).unwrap()[key] = value;
    let e = CompiledPolicySet::compile(&docs).unwrap_err();
    assert_eq!(e.kind, PolicyErrorKind::Unsupported, "{e}");
    assert_eq!(e.field, field, "{e}");
}

#[test]
fn cel_policy_misspellings_and_unmodelled_exception_fields_are_named() {
    let mut docs = ivp_cg();
    docs[0]["spec"]["matchImageReference"] = json!([{"glob": "*"}]);
    let e = CompiledPolicySet::compile(&docs).unwrap_err();
    assert_eq!(
        (e.field.as_str(), e.kind),
        ("spec.matchImageReference", PolicyErrorKind::Invalid)
    );
    assert!(
        e.message.contains("unknown field `matchImageReference`"),
        "{e}"
    );
    let mut exc = cel_polex(None);
    exc["spec"]["images"] = json!(["cgr.dev/chainguard/*"]);
    let e = CompiledPolicySet::compile(&[exc]).unwrap_err();
    assert_eq!(
        (e.field.as_str(), e.kind),
        ("spec.images", PolicyErrorKind::Unsupported)
    );
}

#[test]
fn cluster_scoped_resource_rules_never_match_a_pod() {
    let mut docs = ivp_cg();
    let vp = docs
        .iter_mut()
        .find(|d| d["kind"] == "ValidatingPolicy")
        .unwrap();
    let foreign = req("default", pod("p", &["quay.io/x:1"], &[], &[]));
    let set = CompiledPolicySet::compile(&[vp.clone()]).unwrap();
    assert!(
        !set.evaluate(&foreign, now(), &verifier(vendor_verifier()))
            .allowed
    );
    vp["spec"]["matchConstraints"]["resourceRules"][0]["scope"] = json!("Cluster");
    let set = CompiledPolicySet::compile(&[vp.clone()]).unwrap();
    assert!(
        set.evaluate(&foreign, now(), &verifier(vendor_verifier()))
            .allowed
    );
    vp["spec"]["matchConstraints"]["resourceRules"][0]["scope"] = json!("Global");
    let e = CompiledPolicySet::compile(&[vp.clone()]).unwrap_err();
    assert_eq!(e.field, "spec.matchConstraints.resourceRules[0].scope");
}
