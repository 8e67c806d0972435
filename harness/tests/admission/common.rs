#![allow(dead_code, clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use trustswap::admission::*;

pub const CG_SUBJECT: &str =
    "https://github.com/chainguard-images/images/.github/workflows/release.yaml@refs/heads/main";
pub const GH_ISSUER: &str = "https://token.actions.githubusercontent.com";
pub const DIGEST_A: &str =
    "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const DIGEST_B: &str =
    "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
pub const DIGEST_C: &str =
    "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
pub const DHI_KEY: &str =
    "[public key sha256:118ba556dd52f4aec67018efd316c285c783cd3e54cc0f4527605715c643887c]";

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

/// Parses the YAML documents of an insta snapshot (after its header) or a plain YAML file.
pub fn yaml_docs(text: &str) -> Vec<Value> {
    let body = if text.starts_with("---\nsource:") {
        let rest = &text[4..];
        let end = rest.find("\n---\n").unwrap();
        &rest[end + 5..]
    } else {
        text
    };
    body.split("\n---\n")
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap())
        .collect()
}

pub fn snapshot(name: &str) -> Vec<Value> {
    let p = format!(
        "{}/tests/cli/snapshots/cli__substitution__{name}.snap",
        env!("CARGO_MANIFEST_DIR")
    );
    yaml_docs(&std::fs::read_to_string(p).unwrap())
}

pub fn yaml(s: &str) -> Value {
    serde_saphyr::from_str::<Value>(s).unwrap()
}

pub fn pod(name: &str, containers: &[&str], init: &[&str], eph: &[&str]) -> Value {
    let mk = |prefix: &str, list: &[&str]| -> Vec<Value> {
        list.iter()
            .enumerate()
            .map(|(i, img)| json!({"name": format!("{prefix}{i}"), "image": img}))
            .collect()
    };
    let mut spec = serde_json::Map::new();
    spec.insert("containers".into(), Value::Array(mk("c", containers)));
    if !init.is_empty() {
        spec.insert("initContainers".into(), Value::Array(mk("i", init)));
    }
    if !eph.is_empty() {
        spec.insert("ephemeralContainers".into(), Value::Array(mk("e", eph)));
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}}, "spec": spec})
}

pub fn req(ns: &str, pod: Value) -> AdmissionRequest {
    AdmissionRequest::pod(Operation::Create, ns, BTreeMap::new(), pod)
}

pub fn keyless(subject: &str, issuer: &str) -> FakeSigner {
    FakeSigner::Keyless {
        subject: subject.into(),
        issuer: issuer.into(),
    }
}

pub fn signed(digest: &str, signer: FakeSigner, att_types: &[&str]) -> FakeImage {
    FakeImage {
        digest: digest.into(),
        signatures: vec![signer.clone()],
        attestations: att_types
            .iter()
            .map(|t| FakeAttestation {
                predicate_type: t.to_string(),
                signer: signer.clone(),
                predicate: json!({"name": "sbom", "packages": 3}),
            })
            .collect(),
        ..Default::default()
    }
}

/// A verifier knowing the vendor images used across the tests.
pub fn vendor_verifier() -> FakeVerifier {
    FakeVerifier::new()
        .with_image("cgr.dev/chainguard/nginx", signed(DIGEST_A, keyless(CG_SUBJECT, GH_ISSUER), &["https://spdx.dev/Document"]))
        .with_image("cgr.dev/chainguard/python", signed(DIGEST_B, keyless(CG_SUBJECT, GH_ISSUER), &["https://spdx.dev/Document"]))
        .with_image("cgr.dev/chainguard/busybox", signed(DIGEST_C, keyless(CG_SUBJECT, GH_ISSUER), &["https://spdx.dev/Document"]))
        .with_image("cgr.dev/chainguard/unsigned", FakeImage { digest: DIGEST_C.into(), ..Default::default() })
        .with_image(
            "cgr.dev/chainguard/evil",
            signed(DIGEST_C, keyless("https://github.com/attacker/images/.github/workflows/release.yaml@refs/heads/main", GH_ISSUER), &["https://spdx.dev/Document"]),
        )
        .with_image("cgr.dev/chainguard/flaky", FakeImage { digest: DIGEST_C.into(), error: Some("dial tcp 10.0.0.1:443: i/o timeout".into()), ..Default::default() })
        .with_image(
            "dhi.io/python",
            FakeImage {
                signature_repository: Some("registry.scout.docker.com/docker/dhi-python".into()),
                ..signed(DIGEST_A, FakeSigner::Key { fingerprint: "dhi".into() }, &["https://cyclonedx.org/bom/v1.6"])
            },
        )
        .with_key(DHI_KEY, "dhi")
        .with_image("gcr.io/distroless/static", signed(DIGEST_B, keyless("keyless@distroless.iam.gserviceaccount.com", "https://accounts.google.com"), &["https://spdx.dev/Document"]))
        .with_image(
            "ghcr.io/example-org/platform/api",
            signed(DIGEST_A, keyless("https://github.com/example-org/platform/.github/workflows/release.yaml@refs/tags/v1.2.3", GH_ISSUER), &["https://cyclonedx.org/bom/v1.6"]),
        )
        .with_image(
            "ghcr.io/example-org/platform/evil",
            signed(DIGEST_B, keyless("https://github.com/example-org-evil/platform/.github/workflows/release.yaml@refs/heads/main", GH_ISSUER), &["https://cyclonedx.org/bom/v1.6"]),
        )
}

pub fn verifier(v: FakeVerifier) -> Arc<dyn EvidenceVerifier> {
    Arc::new(v)
}

pub fn eval(docs: &[Value], r: &AdmissionRequest, v: FakeVerifier) -> Decision {
    let set = CompiledPolicySet::compile(docs).unwrap();
    set.evaluate(r, now(), &verifier(v))
}

/// [`eval`] on a Kyverno that reads PolicyExceptions in every namespace
/// (`--enablePolicyException=true --exceptionNamespace=*`).
pub fn eval_exceptions(docs: &[Value], r: &AdmissionRequest, v: FakeVerifier) -> Decision {
    compile_exceptions(docs).evaluate(r, now(), &verifier(v))
}

pub fn compile_exceptions(docs: &[Value]) -> CompiledPolicySet {
    CompiledPolicySet::compile_with(
        docs,
        EngineOptions {
            exceptions: ExceptionSettings::every_namespace(),
            ..EngineOptions::default()
        },
    )
    .unwrap()
}

/// Unfolded messages of every failing / erroring result.
pub fn failures(d: &Decision) -> String {
    d.results
        .iter()
        .filter(|r| matches!(r.status, RuleStatus::Fail | RuleStatus::Error))
        .map(|r| r.message.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}
