//! The embedded verifier's trust comes from the policy, as Kyverno's does
//! (issue 10, item 4; `engine/SEMANTICS.md`, "Trust material"): a
//! ClusterPolicy's `roots`, `rekor.pubkey` and `ctlog.pubkey` replace the
//! cluster's default trust part by part; an ImageValidatingPolicy trusts the
//! TUF repository it names and never reads those fields. The lab's own policies
//! admit the lab's signed image; the same policies with another lab's trust
//! material (another seed: another CA, Rekor, CT log and TUF root) deny it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use trustswap::admission::CompiledPolicySet;
use trustswap::admission::decision::Decision;
use trustswap::admission::request::{AdmissionRequest, Operation};
use trustswap::admission::verifier::EvidenceVerifier;
use trustswap::experiment::lab::LabContext;
use trustswap::experiment::scenario::IdentityMode;
use trustswap::lab_cli::LAB_NOW;
use trustswap::policy::Engine;
use trustswap::policy::render::render_with;

use crate::common;

struct Labs {
    _dir: tempfile::TempDir,
    /// The lab the images are signed in.
    ours: LabContext,
    /// Another seed's lab: every piece of its trust material is wrong for ours.
    theirs: LabContext,
}

fn labs() -> &'static Labs {
    static LABS: OnceLock<Labs> = OnceLock::new();
    LABS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let ours = LabContext::build(
            &dir.path().join("ours"),
            0,
            &trustswap::profile::load_shipped(&trustswap::profile::keys::KeyResolver::new(
                Vec::new(),
            ))
            .expect("shipped profiles"),
        )
        .expect("lab");
        let theirs = LabContext::build(
            &dir.path().join("theirs"),
            1,
            &trustswap::profile::load_shipped(&trustswap::profile::keys::KeyResolver::new(
                Vec::new(),
            ))
            .expect("shipped profiles"),
        )
        .expect("lab");
        Labs {
            _dir: dir,
            ours,
            theirs,
        }
    })
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lab's policies for `vendor` on `engine`, as rendered for a lab run.
fn policies(vendor: &str, engine: Engine) -> Vec<Value> {
    let lab = &labs().ours;
    let (v, trust) = lab
        .vendor(&common::vendor(vendor), IdentityMode::Profile, engine)
        .expect("lab vendor");
    render_with(&common::contract(), &v, engine, &trust)
        .expect("render")
        .documents
        .into_iter()
        .map(|d| d.value)
        .collect()
}

/// Admit a pod running the lab's good `vendor` image under `docs`.
fn admit(vendor: &str, docs: &[Value]) -> Decision {
    let lab = &labs().ours;
    let image = &lab.fixture(vendor, "good").expect("fixture").image_ref;
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "web", "namespace": "apps" },
        "spec": { "containers": [{ "name": "app", "image": image }] }
    });
    let req = AdmissionRequest::pod(Operation::Create, "apps", BTreeMap::new(), pod);
    let now = chrono::DateTime::from_timestamp(LAB_NOW, 0).expect("time");
    let evidence: Arc<dyn EvidenceVerifier> = lab.evidence.clone();
    CompiledPolicySet::compile(docs)
        .expect("compiles")
        .evaluate(&req, now, &evidence)
}

/// Apply `edit` to every keyless attestor of a ClusterPolicy
/// (`verifyImages[]` and its `attestations[]`: `attestors[].entries[].keyless`).
fn each_cpol_keyless(docs: &mut [Value], edit: impl Fn(&mut Value)) {
    let mut seen = 0;
    let mut sets = |sets: &mut Value| {
        for set in sets.as_array_mut().into_iter().flatten() {
            for e in set["entries"].as_array_mut().into_iter().flatten() {
                if e["keyless"].is_object() {
                    edit(&mut e["keyless"]);
                    seen += 1;
                }
            }
        }
    };
    for doc in docs.iter_mut().filter(|d| d["kind"] == "ClusterPolicy") {
        for rule in doc["spec"]["rules"].as_array_mut().into_iter().flatten() {
            for vi in rule["verifyImages"].as_array_mut().into_iter().flatten() {
                sets(&mut vi["attestors"]);
                for att in vi["attestations"].as_array_mut().into_iter().flatten() {
                    sets(&mut att["attestors"]);
                }
            }
        }
    }
    assert!(seen > 0, "no keyless attestor in the rendered policy");
}

/// Apply `edit` to every cosign attestor of an ImageValidatingPolicy.
fn each_ivpol_cosign(docs: &mut [Value], edit: impl Fn(&mut Value)) {
    let mut seen = 0;
    for doc in docs
        .iter_mut()
        .filter(|d| d["kind"] == "ImageValidatingPolicy")
    {
        for a in doc["spec"]["attestors"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            if a["cosign"].is_object() {
                edit(&mut a["cosign"]);
                seen += 1;
            }
        }
    }
    assert!(seen > 0, "no cosign attestor in the rendered policy");
}

fn denied_with(d: &Decision, needle: &str) {
    assert!(!d.allowed, "admitted: {d:?}");
    let message = d.message.clone().unwrap_or_default();
    assert!(message.contains(needle), "{message}");
}

#[test]
fn the_lab_policies_admit_the_lab_image_on_both_engines() {
    for engine in Engine::ALL {
        let d = admit("chainguard", &policies("chainguard", engine));
        assert!(d.allowed, "{engine}: {:?}", d.message);
    }
}

#[test]
fn a_cluster_policy_with_another_ca_as_roots_denies() {
    let mut docs = policies("chainguard", Engine::Cpol);
    let theirs = read(&labs().theirs.dir.join("fulcio-chain.pem"));
    each_cpol_keyless(&mut docs, |k| k["roots"] = Value::String(theirs.clone()));
    denied_with(&admit("chainguard", &docs), "refused at chain");
}

#[test]
fn a_cluster_policy_with_roots_that_are_not_pem_denies() {
    let mut docs = policies("chainguard", Engine::Cpol);
    each_cpol_keyless(&mut docs, |k| {
        k["roots"] = Value::String("not a certificate".into())
    });
    denied_with(
        &admit("chainguard", &docs),
        "failed to load Root certificates",
    );
}

#[test]
fn a_cluster_policy_without_roots_uses_the_cluster_default_and_denies() {
    // Kyverno then trusts its TUF root (Sigstore's public-good instance by
    // default), which never signed a lab certificate.
    let mut docs = policies("chainguard", Engine::Cpol);
    each_cpol_keyless(&mut docs, |k| {
        k.as_object_mut().expect("object").remove("roots");
    });
    denied_with(
        &admit("chainguard", &docs),
        "no Fulcio CA in the trusted root",
    );
}

#[test]
fn a_cluster_policy_with_another_rekor_key_denies() {
    let mut docs = policies("chainguard", Engine::Cpol);
    let theirs = read(&labs().theirs.dir.join("rekor.pub"));
    each_cpol_keyless(&mut docs, |k| {
        k["rekor"]["pubkey"] = Value::String(theirs.clone())
    });
    denied_with(&admit("chainguard", &docs), "Rekor");
}

#[test]
fn a_cluster_policy_with_another_ct_log_key_denies() {
    let mut docs = policies("chainguard", Engine::Cpol);
    let theirs = read(&labs().theirs.dir.join("ctlog.pub"));
    each_cpol_keyless(&mut docs, |k| {
        k["ctlog"]["pubkey"] = Value::String(theirs.clone())
    });
    denied_with(&admit("chainguard", &docs), "refused at sct");
}

#[test]
fn a_cluster_policy_verdict_is_not_shared_with_one_that_trusts_another_root() {
    // The verification cache is keyed by the trust material too: the right
    // root's verdict is not reused for a policy naming another root.
    let good = policies("chainguard", Engine::Cpol);
    assert!(admit("chainguard", &good).allowed);
    let mut docs = good.clone();
    let theirs = read(&labs().theirs.dir.join("fulcio-chain.pem"));
    each_cpol_keyless(&mut docs, |k| k["roots"] = Value::String(theirs.clone()));
    assert!(!admit("chainguard", &docs).allowed);
    assert!(admit("chainguard", &good).allowed);
}

#[test]
fn an_image_validating_policy_with_another_tuf_root_denies() {
    use base64::Engine as _;
    let mut docs = policies("chainguard", Engine::Ivpol);
    let theirs = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(labs().theirs.dir.join("tuf/root.json")).expect("their TUF root"));
    each_ivpol_cosign(&mut docs, |c| {
        c["tuf"]["root"]["data"] = Value::String(theirs.clone())
    });
    denied_with(
        &admit("chainguard", &docs),
        "failed to verify image signatures",
    );
}

#[test]
fn a_tuf_root_that_did_not_sign_the_repository_is_the_refusal_reason() {
    use base64::Engine as _;
    use trustswap::admission::image::ImageRef;
    use trustswap::admission::verifier::{AttestorSpec, TrustSource, Verification};
    use trustswap::policy::kyverno::ivpol::{Tuf, TufRoot};
    let lab = &labs().ours;
    let image = &lab
        .fixture("chainguard", "good")
        .expect("fixture")
        .image_ref;
    let image = ImageRef::kyverno(image).expect("image");
    let verify_with = |root: &Path, mirror: &str, path: Option<&str>| {
        let tuf = Tuf {
            mirror: Some(mirror.into()),
            root: Some(TufRoot {
                path: path.map(str::to_owned),
                data: Some(
                    base64::engine::general_purpose::STANDARD
                        .encode(std::fs::read(root).expect("TUF root")),
                ),
            }),
        };
        let attestor = AttestorSpec::Keyless {
            identities: Vec::new(),
            roots: None,
            additional_extensions: BTreeMap::new(),
            rekor: None,
            ctlog: None,
            trust: TrustSource::Tuf(Some(tuf)),
            format: Default::default(),
        };
        lab.evidence.verify_signature(&image, &attestor, None)
    };
    let verify = |root: &Path, mirror: &str| verify_with(root, mirror, None);
    let ours = lab.dir.join("tuf/root.json");
    let theirs = labs().theirs.dir.join("tuf/root.json");
    let mirror = trustswap::lab_cli::TUF_MIRROR_UNSERVED;
    assert!(
        matches!(verify(&ours, mirror), Verification::Verified { .. }),
        "{:?}",
        verify(&ours, mirror)
    );
    let v = verify(&theirs, mirror);
    assert!(
        matches!(&v, Verification::Refused { reason } if reason.contains("does not verify")),
        "{v:?}"
    );
    // A mirror trustswap does not hold cannot be decided.
    let v = verify(&ours, "https://tuf.example.invalid");
    assert!(matches!(&v, Verification::Error { .. }), "{v:?}");
    // Kyverno reads `root.path` (a file in its pod) before `root.data`.
    let v = verify_with(&ours, mirror, Some("/var/run/tuf/root.json"));
    assert!(
        matches!(&v, Verification::Error { reason } if reason.contains("root.path")),
        "{v:?}"
    );
}

#[test]
fn an_image_validating_policy_without_tuf_uses_the_default_repository_and_denies() {
    let mut docs = policies("chainguard", Engine::Ivpol);
    each_ivpol_cosign(&mut docs, |c| {
        c.as_object_mut().expect("object").remove("tuf");
    });
    assert!(!admit("chainguard", &docs).allowed);
}

#[test]
fn a_log_key_whose_check_is_ignored_is_not_loaded() {
    // Kyverno loads `rekor.pubkey` only when the log is checked
    // (cpol/cosign/cosign.go buildCosignOptions): a malformed one is then
    // harmless. Here the SCT key is ignored with the SCT check.
    let mut docs = policies("chainguard", Engine::Cpol);
    each_cpol_keyless(&mut docs, |k| {
        k["ctlog"]["pubkey"] = Value::String("not a key".into());
        k["ctlog"]["ignoreSCT"] = Value::Bool(true);
    });
    let d = admit("chainguard", &docs);
    assert!(d.allowed, "{:?}", d.message);
    // Checked, the same key is refused.
    let mut docs = policies("chainguard", Engine::Cpol);
    each_cpol_keyless(&mut docs, |k| {
        k["ctlog"]["pubkey"] = Value::String("not a key".into())
    });
    denied_with(
        &admit("chainguard", &docs),
        "failed to load CT log public key",
    );
}

#[test]
fn an_image_validating_policy_still_loads_its_roots() {
    // Not used (TUF decides), but loaded: a malformed `roots` fails.
    let mut docs = policies("chainguard", Engine::Ivpol);
    each_ivpol_cosign(&mut docs, |c| {
        c["keyless"]["roots"] = Value::String("not a certificate".into())
    });
    assert!(!admit("chainguard", &docs).allowed);
}

#[test]
fn an_image_validating_policy_with_an_empty_tuf_uses_the_default_repository() {
    let mut docs = policies("chainguard", Engine::Ivpol);
    each_ivpol_cosign(&mut docs, |c| c["tuf"] = serde_json::json!({}));
    assert!(!admit("chainguard", &docs).allowed);
}

#[test]
fn an_image_validating_policy_ignores_roots_and_log_keys() {
    // TrustedMaterial from TUF takes precedence over them in cosign
    // (ivpol/cosign/opts.go:145): wrong values change nothing.
    let mut docs = policies("chainguard", Engine::Ivpol);
    let theirs = &labs().theirs.dir;
    each_ivpol_cosign(&mut docs, |c| {
        c["keyless"]["roots"] = Value::String(read(&theirs.join("fulcio-chain.pem")));
        c["ctlog"]["rekorPubKey"] = Value::String(read(&theirs.join("rekor.pub")));
        c["ctlog"]["ctLogPubKey"] = Value::String(read(&theirs.join("ctlog.pub")));
    });
    let d = admit("chainguard", &docs);
    assert!(d.allowed, "{:?}", d.message);
}
