//! Every good fixture verifies with /work/scratch/verify's verifier under the vendor policy and
//! the lab trusted_root.json; every adversarial variant is refused for the expected reason.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use sigstore::bundle::verify::ArtifactDigest;
use sigstore::crypto::{CosignVerificationKey, Signature};
use trustswap::supply::lab::fixtures::{
    Catalogue, Expect, Fixture, PolicySpec, Reason, Variant, VendorId,
};
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
    let cat = trustswap::supply::lab::build_all(&mut lab, &mut layout).expect("build all");
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
        let name = format!("{:?}/{}", f.vendor, f.variant.slug());
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
    for v in [
        VendorId::Dhi,
        VendorId::Chainguard,
        VendorId::SelfBuilt,
        VendorId::Distroless,
    ] {
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
