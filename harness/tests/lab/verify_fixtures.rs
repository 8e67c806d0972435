//! Every good fixture verifies with /work/scratch/verify's verifier under the vendor policy and
//! the lab trusted_root.json; every adversarial variant is refused for the expected reason.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use sigstore::bundle::verify::ArtifactDigest;
use sigstore::crypto::{CosignVerificationKey, Signature};
use trustswap::supply::lab::fixtures::{Catalogue, Expect, Fixture, PolicySpec, Reason, Variant};
use trustswap::supply::lab::{Lab, LabConfig, ca::San};
use trustswap::supply::oci::{Digest, Document, Layout};
use trustswap::verify::bundles::BundleVerifier;
use trustswap::verify::certs::IdentityPolicy;
use trustswap::verify::dsse;
use trustswap::verify::legacy::{LegacyLayer, LegacyPolicy, LegacyVerifier, Signer};
use trustswap::verify::refusal::Refusal;
use trustswap::verify::trust::TrustMaterial;

const SEED: u64 = 20260101;
const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn build(dir: &Path) -> (Lab, Catalogue) {
    let mut lab = Lab::new(LabConfig {
        seed: SEED,
        now: NOW,
    })
    .expect("lab");
    let mut layout = Layout::create(dir.join("oci")).expect("layout");
    let cat = trustswap::supply::lab::build_all(
        &mut lab,
        &mut layout,
        &trustswap::supply::lab::shipped_vendors().expect("shipped vendors"),
    )
    .expect("build all");
    lab.write_material(&dir.join("lab")).expect("material");
    (lab, cat)
}

/// Map a verifier refusal to a reason category (by stage and the verifier's own reason text).
fn classify(r: &Refusal) -> Reason {
    let s = r.to_string();
    let has = |x: &str| s.contains(x);
    if has("at chain") || has("UnknownIssuer") {
        Reason::UntrustedCa
    } else if has("no Rekor bundle annotation") || has("no bundle annotation") {
        Reason::NoSignedTime
    } else if has("made with another key") {
        Reason::KeyMismatch
    } else if has("PublicKeyVerifier") || has("key signature over PAE") {
        Reason::KeySignatureInvalid
    } else if has("logged hash is not")
        || has("logged payloadHash")
        || has("logged signature")
        || has("CertificateVerifier")
        || has("signature over PAE")
    {
        Reason::SignatureInvalid
    } else if has("CertSubjectUrlVerifier")
        || has("CertSubjectEmailVerifier")
        || has("SubjectAltName does not match")
        || has("at policy")
        || has("extension")
    {
        Reason::IdentityMismatch
    } else if has("no signature") {
        Reason::NoSignature
    } else if has("no attestation") {
        Reason::NoAttestation
    } else {
        panic!("unclassified refusal: {s}")
    }
}

type Layers = Vec<(Vec<u8>, BTreeMap<String, String>)>;

fn layers_at(layout: &Layout, tag: &str) -> Option<Layers> {
    let d = layout.resolve(tag).ok()?;
    let Document::Manifest(m) = layout.get_manifest(&d).expect("manifest") else {
        panic!("index at {tag}")
    };
    Some(
        m.layers
            .iter()
            .map(|l| {
                (
                    layout.get_blob_checked(l).expect("layer blob"),
                    l.annotations.clone(),
                )
            })
            .collect(),
    )
}

fn sig_tag(f: &Fixture, digest: &str) -> String {
    format!(
        "{}:sha256-{}.sig",
        f.signature_repository,
        digest.trim_start_matches("sha256:")
    )
}

fn verify_signature(
    layout: &Layout,
    trust: &Path,
    f: &Fixture,
    digest: &str,
) -> Result<String, Refusal> {
    let Some(layers) = layers_at(layout, &sig_tag(f, digest)) else {
        return Err(Refusal::new("layers", "no signature for this digest"));
    };
    let layers: Vec<LegacyLayer> = layers
        .into_iter()
        .map(|(payload, annotations)| LegacyLayer {
            payload,
            annotations,
        })
        .collect();
    let v = LegacyVerifier::new(TrustMaterial::from_file(trust)?, NOW)?;
    let policy = match &f.policy {
        PolicySpec::Key {
            public_key_pem,
            require_tlog,
        } => LegacyPolicy::Key {
            public_key_pem: public_key_pem.clone().into_bytes(),
            require_tlog: *require_tlog,
        },
        PolicySpec::Keyless {
            san,
            issuer,
            require_sct,
        } => LegacyPolicy::Keyless {
            signer: match san {
                San::Uri(u) => Signer::Uri(u.clone()),
                San::Email(e) => Signer::Email(e.clone()),
            },
            issuer: Some(issuer.clone()),
            require_sct: *require_sct,
            require_tlog: true,
        },
    };
    v.verify_image(&layers, digest, &policy).map(|ok| {
        format!(
            "layer {} logIndex {:?} sct {}",
            ok.layer_index, ok.log_index, ok.sct_verified
        )
    })
}

/// Key-based DSSE attestation check. The verify crate has no key-based `.att` path (its dsse.rs
/// is keyless-only), so this composes its public pieces: `dsse::pae`, `dsse::Envelope` and the
/// sigstore crate's `CosignVerificationKey`.
fn verify_key_attestation(envelope: &[u8], pem: &str, digest: &str) -> Result<String, Refusal> {
    let env: dsse::Envelope =
        serde_json::from_slice(envelope).map_err(|e| Refusal::new("dsse", e.to_string()))?;
    let [sig] = env.signatures.as_slice() else {
        return Err(Refusal::new("dsse", "signature count"));
    };
    let payload = B64
        .decode(&env.payload)
        .map_err(|e| Refusal::new("dsse", e.to_string()))?;
    let raw = B64
        .decode(&sig.sig)
        .map_err(|e| Refusal::new("dsse", e.to_string()))?;
    let key = CosignVerificationKey::try_from_pem(pem.as_bytes())
        .map_err(|e| Refusal::new("policy", e.to_string()))?;
    key.verify_signature(
        Signature::Raw(&raw),
        &dsse::pae(&env.payload_type, &payload),
    )
    .map_err(|e| Refusal::new("dsse", format!("key signature over PAE: {e}")))?;
    let st: serde_json::Value =
        serde_json::from_slice(&payload).map_err(|e| Refusal::new("dsse", e.to_string()))?;
    let want = digest.trim_start_matches("sha256:");
    let ok = st["subject"]
        .as_array()
        .is_some_and(|s| s.iter().any(|x| x["digest"]["sha256"] == want));
    if !ok {
        return Err(Refusal::new(
            "dsse",
            "no statement subject matches the image digest",
        ));
    }
    Ok(st["predicateType"].as_str().unwrap_or_default().to_owned())
}

fn verify_sbom(layout: &Layout, trust: &Path, f: &Fixture) -> Result<String, Refusal> {
    let tag = format!(
        "{}:sha256-{}.att",
        f.signature_repository,
        f.image_digest.trim_start_matches("sha256:")
    );
    let Some(layers) = layers_at(layout, &tag) else {
        return Err(Refusal::new("layers", "no attestation for this digest"));
    };
    let sboms: Vec<_> = layers
        .into_iter()
        .filter(|(_, a)| {
            a.get("predicateType")
                .is_some_and(|p| f.sbom_predicate_types.contains(p))
        })
        .collect();
    if sboms.is_empty() {
        return Err(Refusal::new(
            "layers",
            "no attestation with an sbom predicate type",
        ));
    }
    let tm = TrustMaterial::from_file(trust)?;
    let mut reasons = Vec::new();
    for (env, ann) in &sboms {
        let r = match &f.policy {
            PolicySpec::Key { public_key_pem, .. } => {
                verify_key_attestation(env, public_key_pem, &f.image_digest)
            }
            PolicySpec::Keyless { san, issuer, .. } => {
                let p = IdentityPolicy {
                    identity: san.as_str().to_owned(),
                    issuer: Some(issuer.clone()),
                };
                dsse::verify_attestation_layer(&tm, env, ann, &f.image_digest, &p, NOW)
                    .map(|v| format!("{} {}", v.predicate_type, v.entry_kind))
            }
        };
        match r {
            Ok(v) => return Ok(v),
            Err(e) => reasons.push(e),
        }
    }
    Err(reasons.remove(0))
}

fn verify_bundles(layout: &Layout, trust: &Path, f: &Fixture) -> Result<String, Refusal> {
    let digest: Digest = f.image_digest.parse().expect("digest");
    let refs = layout.referrers(&f.repository, &digest).expect("referrers");
    let bundles: Vec<_> = refs
        .iter()
        .filter(|d| {
            d.artifact_type.as_deref() == Some(trustswap::supply::lab::sign::BUNDLE_V03_MEDIA_TYPE)
        })
        .collect();
    if bundles.is_empty() {
        return Err(Refusal::new("layers", "no signature bundle referrer"));
    }
    let PolicySpec::Keyless { san, issuer, .. } = &f.policy else {
        panic!("bundles are keyless")
    };
    let policy = IdentityPolicy {
        identity: san.as_str().to_owned(),
        issuer: Some(issuer.clone()),
    };
    let d: [u8; 32] = hex::decode(digest.hex())
        .expect("hex")
        .try_into()
        .expect("32");
    let mut ok = Vec::new();
    for b in bundles {
        let Document::Manifest(m) = layout.get_manifest(b).expect("bundle manifest") else {
            panic!()
        };
        let json = layout.get_blob_checked(&m.layers[0]).expect("bundle blob");
        let v = BundleVerifier::new(TrustMaterial::from_file(trust)?, NOW)?;
        v.verify_strict(
            BundleVerifier::parse(&json)?,
            ArtifactDigest::Sha256(d),
            &policy,
        )?;
        ok.push(
            b.annotations
                .get("dev.sigstore.bundle.content")
                .cloned()
                .unwrap_or_default(),
        );
    }
    Ok(ok.join(","))
}

fn check(
    what: &str,
    expect: Expect,
    got: Result<String, Refusal>,
    rows: &mut Vec<String>,
    failures: &mut Vec<String>,
) {
    let (pass, shown) = match (&expect, &got) {
        (Expect::Accept, Ok(v)) => (true, format!("VALID ({v})")),
        (Expect::Refuse(want), Err(e)) => {
            let c = classify(e);
            (c == *want, format!("refused [{c:?}] {e}"))
        }
        (_, Ok(v)) => (false, format!("VALID ({v})")),
        (_, Err(e)) => (false, format!("refused [{:?}] {e}", classify(e))),
    };
    let short: String = shown.chars().take(160).collect();
    rows.push(format!(
        "| {what} | {expect:?} | {} | {short} |",
        if pass { "ok" } else { "MISMATCH" }
    ));
    if !pass {
        failures.push(format!("{what}: expected {expect:?}, got {shown}"));
    }
}

#[test]
fn fixtures_verify_with_expected_reasons() {
    let dir = tempfile::tempdir().expect("tmp");
    let t0 = Instant::now();
    let (_lab, cat) = build(dir.path());
    eprintln!("build all fixtures (+ lab material): {:?}", t0.elapsed());
    let layout = Layout::open(dir.path().join("oci")).expect("layout reopens and verifies");
    let trust = dir.path().join("lab/trusted_root.json");
    let mut rows = vec![
        "| fixture | expected | result | detail |".to_owned(),
        "|---|---|---|---|".to_owned(),
    ];
    let mut failures = Vec::new();
    for f in &cat.fixtures {
        let name = format!("{}/{}", f.vendor, f.variant.slug());
        check(
            &format!("{name} sig"),
            f.expect_signature,
            verify_signature(&layout, &trust, f, &f.image_digest),
            &mut rows,
            &mut failures,
        );
        check(
            &format!("{name} sbom"),
            f.expect_sbom,
            verify_sbom(&layout, &trust, f),
            &mut rows,
            &mut failures,
        );
        if let Some(e) = f.expect_bundle {
            check(
                &format!("{name} bundle"),
                e,
                verify_bundles(&layout, &trust, f),
                &mut rows,
                &mut failures,
            );
        }
        if let (Variant::MovedTag, Some(prev)) = (f.variant, &f.previous_digest) {
            check(
                &format!("{name} sig@old-digest"),
                Expect::Accept,
                verify_signature(&layout, &trust, f, prev),
                &mut rows,
                &mut failures,
            );
        }
    }
    println!("sct embedded and required: {}", cat.trust.sct);
    println!("{}", rows.join("\n"));
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Every vendor has a good fixture that verifies.
    for v in ["dhi", "chainguard", "selfbuilt", "distroless"] {
        assert!(
            cat.fixtures
                .iter()
                .any(|f| f.vendor == v && f.variant == Variant::Good)
        );
    }
}

#[test]
fn private_keys_are_0600_and_readme_says_never_trust() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    let _ = build(dir.path());
    let lab_dir = dir.path().join("lab");
    let readme = std::fs::read_to_string(lab_dir.join("README.md")).expect("readme");
    assert!(readme.contains("lab material, never trust"));
    let mut n = 0;
    for e in std::fs::read_dir(lab_dir.join("private")).expect("private") {
        let e = e.expect("entry");
        assert_eq!(
            e.metadata().expect("meta").permissions().mode() & 0o777,
            0o600,
            "{:?}",
            e.path()
        );
        n += 1;
    }
    assert!(n >= 10);
}

/// A checkpoint the log really signed, for the empty tree, must not vouch for
/// an inclusion proof of another tree: the proof is checked against the
/// checkpoint's own size and root (rekor-tiles proves against them), not tied
/// to it by a consistency check, which the empty tree passes for any proof.
#[test]
fn a_log_signed_empty_tree_checkpoint_proves_no_inclusion() {
    use sha2::{Digest as _, Sha256};
    let dir = tempfile::tempdir().expect("tmp");
    let (lab, cat) = build(dir.path());
    let layout = Layout::open(dir.path().join("oci")).expect("layout");
    let trust = TrustMaterial::from_file(&dir.path().join("lab/trusted_root.json")).expect("trust");
    let f = cat
        .fixtures
        .iter()
        .find(|f| {
            let digest: Digest = f.image_digest.parse().expect("digest");
            // (a fixture whose bundles are the vendor's own)
            matches!(f.expect_bundle, Some(Expect::Accept))
                && matches!(f.policy, PolicySpec::Keyless { .. })
                && layout
                    .referrers(&f.repository, &digest)
                    .expect("referrers")
                    .iter()
                    .any(|d| {
                        d.artifact_type.as_deref()
                            == Some(trustswap::supply::lab::sign::BUNDLE_V03_MEDIA_TYPE)
                    })
        })
        .expect("a keyless fixture with a bundle");
    let PolicySpec::Keyless { san, issuer, .. } = &f.policy else {
        unreachable!()
    };
    let policy = IdentityPolicy {
        identity: san.as_str().to_owned(),
        issuer: Some(issuer.clone()),
    };
    let digest: Digest = f.image_digest.parse().expect("digest");
    let referrer = layout
        .referrers(&f.repository, &digest)
        .expect("referrers")
        .into_iter()
        .find(|d| {
            d.artifact_type.as_deref() == Some(trustswap::supply::lab::sign::BUNDLE_V03_MEDIA_TYPE)
        })
        .expect("bundle referrer");
    let Document::Manifest(m) = layout.get_manifest(&referrer).expect("manifest") else {
        panic!("a bundle referrer is a manifest")
    };
    let json = layout.get_blob_checked(&m.layers[0]).expect("bundle");
    let raw: [u8; 32] = hex::decode(digest.hex())
        .expect("hex")
        .try_into()
        .expect("32");
    let verify = |b: &serde_json::Value| {
        let v = BundleVerifier::new(trust.clone(), NOW).expect("verifier");
        v.verify_strict(
            BundleVerifier::parse(&serde_json::to_vec(b).expect("json"))?,
            ArtifactDigest::Sha256(raw),
            &policy,
        )
    };
    let original: serde_json::Value = serde_json::from_slice(&json).expect("bundle json");
    verify(&original).expect("the unchanged bundle verifies");

    // The proof, rewritten for a one-leaf tree whose root is the entry's leaf
    // hash, under a checkpoint the log signs for the empty tree.
    let mut forged = original.clone();
    let entry = forged
        .pointer_mut("/verificationMaterial/tlogEntries/0")
        .expect("entry");
    let body = B64
        .decode(entry["canonicalizedBody"].as_str().expect("body"))
        .expect("base64");
    let mut leaf = Sha256::new();
    leaf.update([0u8]);
    leaf.update(&body);
    let root = leaf.finalize();
    entry["logIndex"] = "0".into();
    let empty = Sha256::digest(b"");
    let origin = trustswap::supply::lab::rekor::REKOR_ORIGIN_NAME;
    let tree = entry["inclusionProof"]["checkpoint"]["envelope"]
        .as_str()
        .and_then(|e| e.lines().next())
        .expect("origin line")
        .to_owned();
    let note = format!("{tree}\n0\n{}\n", B64.encode(empty));
    let mut hint_sig = lab.rekor.key().key_id()[..4].to_vec();
    hint_sig.extend(lab.rekor.key().sign(note.as_bytes()));
    entry["inclusionProof"] = serde_json::json!({
        "logIndex": "0",
        "rootHash": B64.encode(root),
        "treeSize": "1",
        "hashes": [],
        "checkpoint": { "envelope": format!("{note}\n\u{2014} {origin} {}\n", B64.encode(hint_sig)) },
    });
    // The SET names the entry's original index: it must not be what refuses.
    entry
        .as_object_mut()
        .expect("entry")
        .remove("inclusionPromise");
    let refusal = verify(&forged).expect_err("an empty signed tree proves nothing");
    assert_eq!(refusal.stage, "tlog", "{refusal}");
    assert!(
        refusal.reason.contains("is not the checkpoint's"),
        "{refusal}"
    );
}
