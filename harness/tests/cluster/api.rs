//! `ClusterClient` against a scripted fake API server.

use crate::kube_fake;
use kube_fake as fake;

use std::time::Duration;

use fake::{Step, fake, finish, not_found, status, step};
use serde_json::{Value, json};
use trustswap::backend::kube::cluster::ContainerImage;
use trustswap::backend::kube::{ClusterClient, ClusterError, Settings};

const CPOL: &str = "/apis/kyverno.io/v1/clusterpolicies/trustswap-verify-images";
const CPOL_APPLY: &str = "/apis/kyverno.io/v1/clusterpolicies/trustswap-verify-images?&force=true&fieldManager=trustswap";
const IVPOL: &str = "/apis/policies.kyverno.io/v1/imagevalidatingpolicies/trustswap-verify-images";
const IVPOL_APPLY: &str = "/apis/policies.kyverno.io/v1/imagevalidatingpolicies/trustswap-verify-images?&force=true&fieldManager=trustswap";
const VPOL: &str = "/apis/policies.kyverno.io/v1/validatingpolicies/trustswap-restrict-registries";
const VPOL_APPLY: &str = "/apis/policies.kyverno.io/v1/validatingpolicies/trustswap-restrict-registries?&force=true&fieldManager=trustswap";
const EXC: &str = "/apis/kyverno.io/v2/namespaces/apps/policyexceptions/break-glass";
const EXC_APPLY: &str = "/apis/kyverno.io/v2/namespaces/apps/policyexceptions/break-glass?&force=true&fieldManager=trustswap";
const CPOL_DELETE: &str = "/apis/kyverno.io/v1/clusterpolicies/trustswap-verify-images?";
const EXC_DELETE: &str = "/apis/kyverno.io/v2/namespaces/apps/policyexceptions/break-glass?";
const DRY_RUN_POD: &str = "/api/v1/namespaces/apps/pods?&dryRun=All";

fn settings() -> Settings {
    let mut s = Settings::new("r1");
    s.request_timeout = Duration::from_millis(200);
    s.request_attempts = 3;
    s.retry_backoff = Duration::from_millis(5);
    s.ready_timeout = Duration::from_millis(300);
    s.poll_interval = Duration::from_millis(20);
    s.pod_timeout = Duration::from_millis(300);
    s.kyverno_timeout = Duration::from_millis(300);
    s.settle = Duration::ZERO;
    s
}

fn cpol() -> Value {
    json!({
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": { "name": "trustswap-verify-images", "labels": { "app.kubernetes.io/managed-by": "trustswap" } },
        "spec": {
            "admission": true,
            "background": false,
            "webhookConfiguration": { "failurePolicy": "Fail", "timeoutSeconds": 30 },
            "rules": [{
                "name": "verify-signature-and-sbom",
                "match": { "any": [{ "resources": { "kinds": ["Pod"], "operations": ["CREATE", "UPDATE"] } }] },
                "verifyImages": [{
                    "failureAction": "Enforce",
                    "type": "Cosign",
                    "imageReferences": ["cgr.dev/chainguard/*"],
                    "attestors": [{ "entries": [{ "keyless": {
                        "issuer": "https://token.actions.githubusercontent.com",
                        "subject": "https://github.com/chainguard-images/images/.github/workflows/release.yaml@refs/heads/main"
                    } }] }]
                }]
            }]
        }
    })
}

fn ivpol() -> Value {
    json!({
        "apiVersion": "policies.kyverno.io/v1",
        "kind": "ImageValidatingPolicy",
        "metadata": { "name": "trustswap-verify-images", "labels": { "app.kubernetes.io/managed-by": "trustswap" } },
        "spec": {
            "validationActions": ["Deny"],
            "failurePolicy": "Fail",
            "matchImageReferences": [{ "glob": "cgr.dev/chainguard/*" }],
            "attestors": [{ "name": "trusted", "cosign": { "keyless": { "identities": [{
                "issuer": "https://token.actions.githubusercontent.com",
                "subject": "https://github.com/chainguard-images/images/.github/workflows/release.yaml@refs/heads/main"
            }] } } }],
            "validations": [{ "expression": "images.containers.map(image, verifyImageSignatures(image, [attestors.trusted])).all(e, e > 0)", "message": "failed to verify image signatures" }]
        }
    })
}

fn vpol() -> Value {
    json!({
        "apiVersion": "policies.kyverno.io/v1",
        "kind": "ValidatingPolicy",
        "metadata": { "name": "trustswap-restrict-registries" },
        "spec": {
            "validationActions": ["Deny"],
            "validations": [{ "expression": "object.spec.containers.all(c, c.image.startsWith('cgr.dev/'))", "message": "registry not allowed" }]
        }
    })
}

fn exception() -> Value {
    json!({
        "apiVersion": "kyverno.io/v2",
        "kind": "PolicyException",
        "metadata": { "name": "break-glass", "namespace": "apps", "labels": { "cleanup.kyverno.io/ttl": "3600s" } },
        "spec": {
            "exceptions": [{ "policyName": "trustswap-verify-images", "ruleNames": ["verify-signature-and-sbom"] }],
            "match": { "any": [{ "resources": { "kinds": ["Pod"], "namespaces": ["apps"], "names": ["debug-*"] } }] }
        }
    })
}

/// The object as the API server returns it, with labels and a status.
fn stored(doc: &Value, status: Value) -> Value {
    let mut v = doc.clone();
    v["metadata"]["labels"]["app.kubernetes.io/managed-by"] = json!("trustswap");
    v["metadata"]["labels"]["trustswap.dev/run"] = json!("r1");
    v["metadata"]["generation"] = json!(1);
    v["metadata"]["resourceVersion"] = json!("100");
    v["status"] = status;
    v
}

fn cpol_status(ready: bool, message: &str) -> Value {
    json!({
        "conditions": [{
            "type": "Ready",
            "status": if ready { "True" } else { "False" },
            "reason": if ready { "Succeeded" } else { "Failed" },
            "message": message,
            "lastTransitionTime": "2026-09-01T10:00:00Z"
        }],
        "autogen": {},
        "rulecount": { "validate": 0, "generate": 0, "mutate": 0, "verifyimages": 1 },
        "validatingadmissionpolicy": { "generated": false, "message": "" }
    })
}

fn cel_status(ready: bool, message: &str) -> Value {
    json!({
        "conditionStatus": {
            "ready": ready,
            "conditions": [
                { "type": "WebhookConfigured", "status": if ready { "True" } else { "False" }, "reason": if ready { "Succeeded" } else { "Failed" }, "message": if ready { "Webhook configured." } else { message }, "lastTransitionTime": "2026-09-01T10:00:00Z" },
                { "type": "PolicyCached", "status": "True", "reason": "Succeeded", "message": "Policy is ready for reporting.", "lastTransitionTime": "2026-09-01T10:00:00Z" },
                { "type": "RBACPermissionsGranted", "status": "True", "reason": "Succeeded", "message": "Policy is ready for reporting.", "lastTransitionTime": "2026-09-01T10:00:00Z" }
            ],
            "message": if ready { "" } else { message }
        },
        "autogen": {},
        "generated": false
    })
}

/// Asserts an SSA body: labels added, original content kept, apply content type.
fn expect_apply(kind: &'static str) -> impl Fn(&http::HeaderMap, &Value) + Send + 'static {
    move |headers, body| {
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/apply-patch+yaml")
        );
        assert_eq!(body["kind"], kind);
        assert_eq!(
            body["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "trustswap"
        );
        assert_eq!(body["metadata"]["labels"]["trustswap.dev/run"], "r1");
    }
}

#[tokio::test]
async fn apply_waits_for_ready_then_replaces_the_set() {
    let (client, task) = fake(vec![
        // first apply: ClusterPolicy + PolicyException
        step(
            "GET",
            CPOL,
            404,
            not_found("clusterpolicies.kyverno.io", "trustswap-verify-images"),
        ),
        step("PATCH", CPOL_APPLY, 200, stored(&cpol(), json!({})))
            .check(expect_apply("ClusterPolicy")),
        step(
            "GET",
            EXC,
            404,
            not_found("policyexceptions.kyverno.io", "break-glass"),
        ),
        step("PATCH", EXC_APPLY, 200, stored(&exception(), Value::Null)).check(|_, body| {
            assert_eq!(body["metadata"]["namespace"], "apps");
            // labels of the document are kept next to ours
            assert_eq!(
                body["metadata"]["labels"]["cleanup.kyverno.io/ttl"],
                "3600s"
            );
        }),
        step("GET", CPOL, 200, stored(&cpol(), json!({}))),
        step(
            "GET",
            CPOL,
            200,
            stored(
                &cpol(),
                cpol_status(false, "policy is not ready: webhook not configured"),
            ),
        ),
        step(
            "GET",
            CPOL,
            200,
            stored(&cpol(), cpol_status(true, "Ready")),
        ),
        // second apply: only the ImageValidatingPolicy; the old two are deleted
        step(
            "GET",
            IVPOL,
            404,
            not_found(
                "imagevalidatingpolicies.policies.kyverno.io",
                "trustswap-verify-images",
            ),
        ),
        step("PATCH", IVPOL_APPLY, 200, stored(&ivpol(), json!({})))
            .check(expect_apply("ImageValidatingPolicy")),
        step("DELETE", CPOL_DELETE, 200, stored(&cpol(), json!({}))),
        step(
            "DELETE",
            EXC_DELETE,
            404,
            not_found("policyexceptions.kyverno.io", "break-glass"),
        ),
        step(
            "GET",
            IVPOL,
            200,
            stored(&ivpol(), cel_status(false, "webhook not configured")),
        ),
        step("GET", IVPOL, 200, stored(&ivpol(), cel_status(true, ""))),
    ]);
    let mut cc = ClusterClient::new(client, settings());
    cc.apply(&[cpol(), exception()]).await.expect("first apply");
    assert_eq!(cc.applied().len(), 2);
    cc.apply(&[ivpol()]).await.expect("second apply");
    assert_eq!(cc.applied().len(), 1);
    assert_eq!(cc.applied()[0].kind.kind, "ImageValidatingPolicy");
    drop(cc);
    assert_eq!(finish(task).await, 13);
}

#[tokio::test]
async fn apply_readiness_deadline_names_policy_and_last_message() {
    let (client, task) = fake(vec![
        step(
            "GET",
            VPOL,
            404,
            not_found(
                "validatingpolicies.policies.kyverno.io",
                "trustswap-restrict-registries",
            ),
        ),
        step("PATCH", VPOL_APPLY, 200, stored(&vpol(), json!({}))),
        step(
            "GET",
            VPOL,
            200,
            stored(
                &vpol(),
                cel_status(
                    false,
                    "failed to compile expression: undeclared reference to 'objct'",
                ),
            ),
        )
        .repeated(),
    ]);
    let mut cc = ClusterClient::new(client, settings());
    let err = cc.apply(&[vpol()]).await.expect_err("never ready");
    let text = err.to_string();
    assert!(matches!(err, ClusterError::PolicyNotReady { .. }), "{text}");
    assert!(
        text.contains("ValidatingPolicy trustswap-restrict-registries was not ready after"),
        "{text}"
    );
    assert!(text.contains("undeclared reference to 'objct'"), "{text}");
    assert!(text.contains("WebhookConfigured=False"), "{text}");
    drop(cc);
    assert!(finish(task).await >= 4);
}

#[tokio::test]
async fn apply_shows_kyvernos_rejection() {
    let msg = "admission webhook \"validate-policy.kyverno.svc\" denied the request: spec.rules[0].verifyImages[0].attestors[0].entries[0].keyless: Invalid value: \"\": either a root certificate or an issuer and subject must be specified";
    let (client, task) = fake(vec![
        step(
            "GET",
            CPOL,
            404,
            not_found("clusterpolicies.kyverno.io", "trustswap-verify-images"),
        ),
        step("PATCH", CPOL_APPLY, 400, status(400, "BadRequest", msg)),
    ]);
    let mut cc = ClusterClient::new(client, settings());
    let err = cc.apply(&[cpol()]).await.expect_err("rejected");
    assert!(matches!(err, ClusterError::PolicyRejected { .. }));
    assert_eq!(
        err.to_string(),
        format!("ClusterPolicy trustswap-verify-images was rejected: {msg}")
    );
    drop(cc);
    finish(task).await;
}

#[tokio::test]
async fn apply_refuses_an_unlabelled_existing_policy() {
    let mut foreign = cpol();
    foreign["metadata"]["labels"] = json!({ "team": "platform" });
    let (client, task) = fake(vec![step("GET", CPOL, 200, foreign)]);
    let mut cc = ClusterClient::new(client, settings());
    let err = cc.apply(&[cpol()]).await.expect_err("not ours");
    assert!(
        err.to_string()
            .contains("ClusterPolicy trustswap-verify-images exists without the label"),
        "{err}"
    );
    drop(cc);
    finish(task).await;
}

fn pod(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name },
        "spec": { "containers": [{ "name": "app", "image": image }] }
    })
}

fn created(pod: &Value) -> Value {
    let mut v = pod.clone();
    v["metadata"]["namespace"] = json!("apps");
    v["metadata"]["uid"] = json!("0f6f3a4e-2b1c-4e7d-9a55-6c1f3b2d9e10");
    v["status"] = json!({ "phase": "Pending", "qosClass": "BestEffort" });
    v
}

#[tokio::test]
async fn admit_allowed_on_201() {
    let p = pod("web", "cgr.dev/chainguard/nginx@sha256:0123");
    let (client, task) = fake(vec![step("POST", DRY_RUN_POD, 201, created(&p)).check(
        |_, body| {
            assert_eq!(body["metadata"]["namespace"], "apps");
            assert_eq!(body["metadata"]["name"], "web");
        },
    )]);
    let cc = ClusterClient::new(client, settings());
    let d = cc.admit("apps", &p).await.expect("decision");
    assert!(d.allowed);
    assert_eq!(d.code, 201);
    assert_eq!(d.message, None);
    assert!(d.warnings.is_empty() && d.policies.is_empty());
    drop(cc);
    finish(task).await;
}

#[tokio::test]
async fn admit_denied_by_cluster_policy_parses_the_blocked_yaml() {
    let msg = "admission webhook \"mutate.kyverno.svc-fail\" denied the request: \n\nresource Pod/apps/web was blocked due to the following policies \n\ntrustswap-verify-images:\n  verify-signature-and-sbom: 'failed to verify image docker.io/library/nginx:1.27: .attestors[0].entries[0].keyless:\n    no matching signatures'\n";
    let (client, task) = fake(vec![step(
        "POST",
        DRY_RUN_POD,
        400,
        status(400, "BadRequest", msg),
    )]);
    let cc = ClusterClient::new(client, settings());
    let d = cc
        .admit("apps", &pod("web", "docker.io/library/nginx:1.27"))
        .await
        .expect("decision");
    assert!(!d.allowed);
    assert_eq!(d.code, 400);
    assert_eq!(d.message.as_deref(), Some(msg));
    assert_eq!(d.policies.len(), 1);
    assert_eq!(d.policies[0].policy, "trustswap-verify-images");
    assert_eq!(d.policies[0].rule, "verify-signature-and-sbom");
    assert_eq!(
        d.policies[0].message,
        "failed to verify image docker.io/library/nginx:1.27: .attestors[0].entries[0].keyless: no matching signatures"
    );
    drop(cc);
    finish(task).await;
}

#[tokio::test]
async fn admit_denied_by_image_validating_policy() {
    let msg = "admission webhook \"ivpol.validate.kyverno.svc-fail\" denied the request: Policy trustswap-verify-images failed: failed to verify image signatures";
    let (client, task) = fake(vec![step(
        "POST",
        DRY_RUN_POD,
        400,
        status(400, "BadRequest", msg),
    )]);
    let cc = ClusterClient::new(client, settings());
    let d = cc
        .admit("apps", &pod("web", "cgr.dev/chainguard/nginx:latest"))
        .await
        .expect("decision");
    assert!(!d.allowed);
    assert_eq!(d.policies.len(), 1);
    assert_eq!(d.policies[0].policy, "trustswap-verify-images");
    assert_eq!(d.policies[0].rule, "");
    assert_eq!(d.policies[0].message, "failed to verify image signatures");
    drop(cc);
    finish(task).await;
}

#[tokio::test]
async fn admit_collects_warning_headers() {
    let p = pod("web", "ghcr.io/example-org/platform/api:1.0");
    let (client, task) = fake(vec![
        step("POST", DRY_RUN_POD, 201, created(&p)).warnings(&[
            "299 - \"Policy trustswap-restrict-registries failed: registry ghcr.io is not allowed\"",
            "299 - \"would violate PodSecurity \\\"restricted:latest\\\": allowPrivilegeEscalation != false\"",
        ]),
    ]);
    let cc = ClusterClient::new(client, settings());
    let d = cc.admit("apps", &p).await.expect("decision");
    assert!(d.allowed);
    assert_eq!(
        d.warnings,
        vec![
            "Policy trustswap-restrict-registries failed: registry ghcr.io is not allowed"
                .to_string(),
            "would violate PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false"
                .to_string(),
        ]
    );
    drop(cc);
    finish(task).await;
}

#[tokio::test]
async fn admit_retries_a_webhook_outage_then_reports_it() {
    let msg = "Internal error occurred: failed calling webhook \"mutate.kyverno.svc-fail\": failed to call webhook: Post \"https://kyverno-svc.kyverno.svc:443/mutate/fail?timeout=30s\": no endpoints available for service \"kyverno-svc\"";
    let (client, task) = fake(vec![
        step("POST", DRY_RUN_POD, 500, status(500, "InternalError", msg)).repeated(),
    ]);
    let cc = ClusterClient::new(client, settings());
    let err = cc
        .admit("apps", &pod("web", "cgr.dev/chainguard/nginx:latest"))
        .await
        .expect_err("webhook down");
    assert!(
        matches!(err, ClusterError::WebhookUnavailable { attempts: 3, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("no endpoints available for service"),
        "{err}"
    );
    drop(cc);
    assert_eq!(finish(task).await, 3);
}

#[tokio::test]
async fn api_not_answering_is_retried_then_reported() {
    let (client, task) = fake(vec![
        Step::hang("GET", "/version"),
        Step::hang("GET", "/version"),
        Step::hang("GET", "/version"),
    ]);
    let cc = ClusterClient::new(client, settings());
    let started = std::time::Instant::now();
    let err = cc.preflight().await.expect_err("no api");
    assert!(started.elapsed() < Duration::from_secs(3), "bounded");
    assert!(
        matches!(err, ClusterError::ApiUnavailable { attempts: 3, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "api server did not answer get /version after 3 attempts: no answer within 200ms"
    );
    drop(cc);
    finish(task).await;
}

fn version() -> Value {
    json!({
        "major": "1", "minor": "35", "gitVersion": "v1.35.0", "gitCommit": "abc",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25.5",
        "compiler": "gc", "platform": "linux/amd64"
    })
}

const CRD_CPOL: &str =
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/clusterpolicies.kyverno.io";
const CRD_IVPOL: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/imagevalidatingpolicies.policies.kyverno.io";
const DEPLOY: &str = "/apis/apps/v1/namespaces/kyverno/deployments/kyverno-admission-controller";

fn crd(name: &str) -> Value {
    let (plural, group) = name.split_once('.').unwrap_or((name, ""));
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": name },
        "spec": {
            "group": group,
            "names": { "plural": plural, "kind": "X" },
            "scope": "Cluster",
            "versions": [{ "name": "v1", "served": true, "storage": true }]
        }
    })
}

fn deployment(ready: i32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": "kyverno-admission-controller", "namespace": "kyverno" },
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": { "app.kubernetes.io/component": "admission-controller" } },
            "template": {
                "metadata": { "labels": { "app.kubernetes.io/component": "admission-controller" } },
                "spec": { "containers": [{ "name": "kyverno", "image": "reg.kyverno.io/kyverno/kyverno:v1.19.0" }] }
            }
        },
        "status": { "replicas": 1, "readyReplicas": ready, "availableReplicas": ready }
    })
}

#[tokio::test]
async fn preflight_reports_missing_kyverno_and_how_to_fix_it() {
    let (client, task) = fake(vec![
        step("GET", "/version", 200, version()),
        step(
            "GET",
            CRD_CPOL,
            404,
            not_found(
                "customresourcedefinitions.apiextensions.k8s.io",
                "clusterpolicies.kyverno.io",
            ),
        ),
    ]);
    let cc = ClusterClient::new(client, settings());
    let err = cc.preflight().await.expect_err("no kyverno");
    let text = err.to_string();
    assert!(matches!(err, ClusterError::KyvernoMissing { .. }));
    assert!(
        text.starts_with("kyverno is not installed: crd clusterpolicies.kyverno.io not found"),
        "{text}"
    );
    assert!(
        text.contains(
            "helm install kyverno kyverno/kyverno -n kyverno --create-namespace --version 3.9.0"
        ),
        "{text}"
    );
    drop(cc);
    finish(task).await;
}

#[tokio::test]
async fn preflight_waits_for_kyverno_and_retries_the_webhook_probe() {
    let outage = "Internal error occurred: failed calling webhook \"mutate.kyverno.svc-fail\": failed to call webhook: Post \"https://kyverno-svc.kyverno.svc:443/mutate/fail?timeout=10s\": dial tcp 10.96.120.7:443: connect: connection refused";
    let (client, task) = fake(vec![
        step("GET", "/version", 200, version()),
        step("GET", CRD_CPOL, 200, crd("clusterpolicies.kyverno.io")),
        step(
            "GET",
            CRD_IVPOL,
            200,
            crd("imagevalidatingpolicies.policies.kyverno.io"),
        ),
        step("GET", DEPLOY, 200, deployment(0)),
        step("GET", DEPLOY, 200, deployment(1)),
        step(
            "POST",
            "/api/v1/namespaces/default/pods?&dryRun=All",
            500,
            status(500, "InternalError", outage),
        )
        .check(|_, body| assert_eq!(body["metadata"]["name"], "trustswap-preflight-probe")),
        step(
            "POST",
            "/api/v1/namespaces/default/pods?&dryRun=All",
            201,
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "trustswap-preflight-probe"}}),
        ),
    ]);
    let cc = ClusterClient::new(client, settings());
    let report = cc.preflight().await.expect("ready");
    assert_eq!(report.server_version, "v1.35.0");
    assert_eq!(
        report.kyverno_image.as_deref(),
        Some("reg.kyverno.io/kyverno/kyverno:v1.19.0")
    );
    assert_eq!(report.webhook_attempts, 2);
    drop(cc);
    assert_eq!(finish(task).await, 7);
}

#[tokio::test]
async fn preflight_kyverno_not_ready_reports_pod_phase_and_conditions() {
    let (client, task) = fake(vec![
        step("GET", "/version", 200, version()),
        step("GET", CRD_CPOL, 200, crd("clusterpolicies.kyverno.io")),
        step(
            "GET",
            CRD_IVPOL,
            200,
            crd("imagevalidatingpolicies.policies.kyverno.io"),
        ),
        step("GET", DEPLOY, 200, deployment(0)).repeated(),
        step(
            "GET",
            "/api/v1/namespaces/kyverno/pods?&labelSelector=app.kubernetes.io%2Fcomponent%3Dadmission-controller",
            200,
            json!({
                "apiVersion": "v1", "kind": "PodList", "metadata": { "resourceVersion": "7" },
                "items": [{
                    "metadata": { "name": "kyverno-admission-controller-6d9f7c-x2x4q", "namespace": "kyverno" },
                    "status": {
                        "phase": "Pending",
                        "conditions": [{ "type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": "containers with unready status: [kyverno]" }],
                        "containerStatuses": [{ "name": "kyverno", "image": "reg.kyverno.io/kyverno/kyverno:v1.19.0", "imageID": "", "ready": false, "restartCount": 0,
                            "state": { "waiting": { "reason": "ImagePullBackOff", "message": "Back-off pulling image" } } }]
                    }
                }]
            }),
        ),
    ]);
    let cc = ClusterClient::new(client, settings());
    let err = cc.preflight().await.expect_err("not ready");
    let text = err.to_string();
    assert!(
        matches!(err, ClusterError::KyvernoNotReady { .. }),
        "{text}"
    );
    assert!(
        text.contains("kyverno-admission-controller-6d9f7c-x2x4q: phase Pending"),
        "{text}"
    );
    assert!(text.contains("Ready=False (ContainersNotReady)"), "{text}");
    assert!(text.contains("ImagePullBackOff"), "{text}");
    drop(cc);
    finish(task).await;
}

fn list(kind: &str, api_version: &str, items: Vec<Value>) -> Value {
    json!({ "apiVersion": api_version, "kind": format!("{kind}List"), "metadata": { "resourceVersion": "9" }, "items": items })
}

fn labelled(api_version: &str, kind: &str, name: &str, namespace: Option<&str>) -> Value {
    let mut v = json!({
        "apiVersion": api_version, "kind": kind,
        "metadata": { "name": name, "labels": { "app.kubernetes.io/managed-by": "trustswap", "trustswap.dev/run": "r1" } }
    });
    if let Some(ns) = namespace {
        v["metadata"]["namespace"] = json!(ns);
    }
    v
}

#[tokio::test]
async fn cleanup_reports_what_it_could_not_delete() {
    let sel = "labelSelector=trustswap.dev%2Frun%3Dr1";
    let (client, task) = fake(vec![
        step(
            "GET",
            &format!("/apis/kyverno.io/v1/clusterpolicies?&{sel}"),
            200,
            list(
                "ClusterPolicy",
                "kyverno.io/v1",
                vec![
                    labelled(
                        "kyverno.io/v1",
                        "ClusterPolicy",
                        "trustswap-verify-images",
                        None,
                    ),
                    labelled(
                        "kyverno.io/v1",
                        "ClusterPolicy",
                        "trustswap-restrict-registries",
                        None,
                    ),
                ],
            ),
        ),
        step(
            "DELETE",
            "/apis/kyverno.io/v1/clusterpolicies/trustswap-verify-images?",
            200,
            labelled(
                "kyverno.io/v1",
                "ClusterPolicy",
                "trustswap-verify-images",
                None,
            ),
        ),
        step(
            "DELETE",
            "/apis/kyverno.io/v1/clusterpolicies/trustswap-restrict-registries?",
            403,
            status(
                403,
                "Forbidden",
                "clusterpolicies.kyverno.io \"trustswap-restrict-registries\" is forbidden: User \"ci\" cannot delete resource \"clusterpolicies\" in API group \"kyverno.io\" at the cluster scope",
            ),
        ),
        step(
            "GET",
            &format!("/apis/kyverno.io/v1/policies?&{sel}"),
            200,
            list("Policy", "kyverno.io/v1", vec![]),
        ),
        step(
            "GET",
            &format!("/apis/policies.kyverno.io/v1/imagevalidatingpolicies?&{sel}"),
            200,
            list("ImageValidatingPolicy", "policies.kyverno.io/v1", vec![]),
        ),
        step(
            "GET",
            &format!("/apis/policies.kyverno.io/v1/validatingpolicies?&{sel}"),
            404,
            status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
        ),
        step(
            "GET",
            &format!("/apis/kyverno.io/v2/policyexceptions?&{sel}"),
            200,
            list(
                "PolicyException",
                "kyverno.io/v2",
                vec![labelled(
                    "kyverno.io/v2",
                    "PolicyException",
                    "break-glass",
                    Some("apps"),
                )],
            ),
        ),
        step("DELETE", EXC_DELETE, 200, status(200, "", "")),
        step(
            "GET",
            &format!("/apis/policies.kyverno.io/v1/policyexceptions?&{sel}"),
            200,
            list("PolicyException", "policies.kyverno.io/v1", vec![]),
        ),
        step(
            "GET",
            &format!("/api/v1/namespaces?&{sel}"),
            200,
            list(
                "Namespace",
                "v1",
                vec![labelled("v1", "Namespace", "trustswap-r1-apps", None)],
            ),
        ),
        step(
            "DELETE",
            "/api/v1/namespaces/trustswap-r1-apps?",
            200,
            json!({
                "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "trustswap-r1-apps" }, "status": { "phase": "Terminating" }
            }),
        ),
    ]);
    let mut cc = ClusterClient::new(client, settings());
    let left = cc.cleanup().await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].kind, "ClusterPolicy");
    assert_eq!(left[0].name, "trustswap-restrict-registries");
    let shown = left[0].to_string();
    assert!(shown.starts_with("ClusterPolicy trustswap-restrict-registries: delete ClusterPolicy trustswap-restrict-registries failed with http 403 (Forbidden)"), "{shown}");
    drop(cc);
    assert_eq!(finish(task).await, 11);
}

#[tokio::test]
async fn namespaces_are_created_labelled_and_foreign_ones_refused() {
    let (client, task) = fake(vec![
        step(
            "POST",
            "/api/v1/namespaces?",
            201,
            labelled("v1", "Namespace", "trustswap-r1-apps", None),
        )
        .check(|_, body| {
            assert_eq!(body["metadata"]["labels"]["trustswap.dev/run"], "r1");
            assert_eq!(
                body["metadata"]["labels"]["app.kubernetes.io/managed-by"],
                "trustswap"
            );
        }),
        step(
            "POST",
            "/api/v1/namespaces?",
            409,
            status(409, "AlreadyExists", "namespaces \"apps\" already exists"),
        ),
        step(
            "GET",
            "/api/v1/namespaces/apps",
            200,
            json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "apps" } }),
        ),
    ]);
    let cc = ClusterClient::new(client, settings());
    cc.create_namespace("trustswap-r1-apps")
        .await
        .expect("created");
    let err = cc.create_namespace("apps").await.expect_err("foreign");
    assert!(
        err.to_string()
            .starts_with("namespace apps exists without the label"),
        "{err}"
    );
    drop(cc);
    finish(task).await;
}

#[tokio::test]
async fn run_pod_waits_for_running_and_returns_image_ids() {
    let p = pod("drift", "cgr.dev/chainguard/nginx:latest");
    let mut running = created(&p);
    running["status"] = json!({
        "phase": "Running",
        "containerStatuses": [{ "name": "app", "image": "cgr.dev/chainguard/nginx:latest",
            "imageID": "cgr.dev/chainguard/nginx@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "ready": true, "restartCount": 0, "state": { "running": { "startedAt": "2026-09-01T10:00:00Z" } } }]
    });
    let (client, task) = fake(vec![
        step("POST", "/api/v1/namespaces/apps/pods?", 201, created(&p))
            .check(|_, body| assert_eq!(body["metadata"]["labels"]["trustswap.dev/run"], "r1")),
        step(
            "GET",
            "/api/v1/namespaces/apps/pods/drift",
            200,
            created(&p),
        ),
        step("GET", "/api/v1/namespaces/apps/pods/drift", 200, running),
    ]);
    let cc = ClusterClient::new(client, settings());
    let images = cc.run_pod("apps", &p, None).await.expect("running");
    assert_eq!(images.len(), 1);
    assert_eq!(
        images[0].image_id,
        "cgr.dev/chainguard/nginx@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    );
    drop(cc);
    finish(task).await;
}

#[tokio::test]
async fn without_a_kubelet_trustswap_writes_the_container_statuses() {
    let p = pod("drift", "127.0.0.1:5000/cgr.dev/chainguard/nginx:latest");
    let id = "127.0.0.1:5000/cgr.dev/chainguard/nginx@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let mut running = created(&p);
    running["status"] = json!({
        "phase": "Running",
        "containerStatuses": [{ "name": "app", "image": "127.0.0.1:5000/cgr.dev/chainguard/nginx:latest",
            "imageID": id, "ready": true, "restartCount": 0 }]
    });
    let (client, task) = fake(vec![
        step("POST", "/api/v1/namespaces/apps/pods?", 201, created(&p)),
        step(
            "PATCH",
            "/api/v1/namespaces/apps/pods/drift/status?",
            200,
            running.clone(),
        )
        .check(move |_, body| {
            assert_eq!(body["status"]["phase"], "Running");
            let c = &body["status"]["containerStatuses"][0];
            assert_eq!(c["name"], "app");
            assert_eq!(c["imageID"], id);
            assert_eq!(c["restartCount"], 0);
            assert_eq!(body["status"]["initContainerStatuses"], json!([]));
        }),
        step("GET", "/api/v1/namespaces/apps/pods/drift", 200, running),
    ]);
    let cc = ClusterClient::new(client, settings());
    let statuses = [ContainerImage {
        container: "app".into(),
        image: "127.0.0.1:5000/cgr.dev/chainguard/nginx:latest".into(),
        image_id: id.into(),
    }];
    let images = cc
        .run_pod("apps", &p, Some(&statuses))
        .await
        .expect("running");
    assert_eq!(images[0].image_id, id);
    drop(cc);
    finish(task).await;
}

#[tokio::test]
async fn list_pods_and_policy_reports() {
    let mut running = created(&pod("web", "cgr.dev/chainguard/nginx:latest"));
    running["status"] = json!({ "phase": "Running", "containerStatuses": [{ "name": "app", "image": "cgr.dev/chainguard/nginx:latest", "imageID": "cgr.dev/chainguard/nginx@sha256:aa", "ready": true, "restartCount": 0 }] });
    let report = json!({
        "apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
        "metadata": { "name": "6b1f8a8e-5d3c-4b0a-9a7e-1c2d3e4f5a6b", "namespace": "apps" },
        "scope": { "apiVersion": "v1", "kind": "Pod", "name": "web", "namespace": "apps" },
        "summary": { "pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 0 },
        "results": [{ "policy": "trustswap-verify-images", "rule": "verify-signature-and-sbom", "result": "fail", "message": "failed to verify image", "source": "kyverno", "scored": true }]
    });
    let (client, task) = fake(vec![
        step(
            "GET",
            "/api/v1/namespaces?&labelSelector=trustswap.dev%2Frun%3Dr1",
            200,
            list(
                "Namespace",
                "v1",
                vec![labelled("v1", "Namespace", "apps", None)],
            ),
        ),
        step(
            "GET",
            "/api/v1/namespaces/apps/pods?",
            200,
            list("Pod", "v1", vec![running]),
        ),
        step(
            "GET",
            "/apis/wgpolicyk8s.io/v1alpha2/namespaces/apps/policyreports?",
            200,
            list("PolicyReport", "wgpolicyk8s.io/v1alpha2", vec![report]),
        ),
    ]);
    let cc = ClusterClient::new(client, settings());
    let pods = cc.list_pods("trustswap.dev/run=r1").await.expect("pods");
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].phase, "Running");
    assert_eq!(
        pods[0].containers[0].image_id,
        "cgr.dev/chainguard/nginx@sha256:aa"
    );
    let reports = cc.policy_reports("apps").await.expect("reports");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["kind"], "PolicyReport");
    assert_eq!(reports[0]["results"][0]["result"], "fail");
    drop(cc);
    finish(task).await;
}

/// `--context` reads the kubeconfig as kubectl does: every `KUBECONFIG`
/// entry merged (here two files; the context lives in the second).
#[test]
fn a_context_from_the_second_kubeconfig_file_is_found_after_merging() {
    use trustswap::backend::kube::ClusterBackend;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = |name: &str, context: &str, server: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: {context}\n  cluster:\n    server: {server}\ncontexts:\n- name: {context}\n  context:\n    cluster: {context}\n    user: {context}\nusers:\n- name: {context}\n  user:\n    token: t\ncurrent-context: {context}\n"
            ),
        )
        .expect("write");
        kube::config::Kubeconfig::read_from(&path).expect("kubeconfig")
    };
    let first = file("a", "first", "https://127.0.0.1:1");
    let second = file("b", "second", "https://127.0.0.1:2");
    let merged = first.clone().merge(second).expect("merge");
    let settings = Settings::new("t");
    ClusterBackend::from_kubeconfig(merged, Some("second"), settings.clone())
        .expect("the second file's context");
    match ClusterBackend::from_kubeconfig(first, Some("second"), settings) {
        Err(ClusterError::Config(m)) => assert!(m.contains("second"), "{m}"),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("a context no file defines"),
    }
}
