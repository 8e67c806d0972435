//! Real-world acceptance: the verifier reaches the expected verdict on every
//! public signature, attestation and Sigstore conformance case under
//! `../shared/realworld/`, read in place. Missing data fails loudly.
//!
//! All 70 conformance cases reach their expected verdict (no `_fail` case may
//! ever pass, no valid one be refused), and every production bundle verifies.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use sha2::{Digest, Sha256};
use sigstore::bundle::verify::ArtifactDigest;
use trustswap::verify::bundles::{
    BundleVerifier, dsse_first_subject, leaf_identity, message_digest,
};
use trustswap::verify::certs::IdentityPolicy;
use trustswap::verify::dsse::{self, AttVerified};
use trustswap::verify::keys::PublicKey;
use trustswap::verify::legacy::{
    ANN_BUNDLE, ANN_CERT, ANN_SIGNATURE, LegacyLayer, LegacyPolicy, LegacyVerifier, Signer,
};
use trustswap::verify::refusal::Refusal;
use trustswap::verify::trust::TrustMaterial;

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("test data missing: {}: {e}", p.display()))
}

fn annotations(p: &Path) -> BTreeMap<String, String> {
    serde_json::from_slice(&read(p)).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

type Outcome = Result<String, String>;

/// Rows of (case, expected valid, result); `mismatches` lists the wrong verdicts.
#[derive(Default)]
struct Tally {
    rows: Vec<(String, bool, Result<String, String>)>,
}

impl Tally {
    fn report(&mut self, name: &str, expect_ok: bool, result: Result<String, String>) {
        self.rows.push((name.to_owned(), expect_ok, result));
    }
    fn mismatches(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|(_, e, r)| r.is_ok() != *e)
            .map(|(n, e, r)| {
                format!(
                    "{n}: expected {}, got {r:?}",
                    if *e { "valid" } else { "invalid" }
                )
            })
            .collect()
    }
    fn print(&self) {
        for (n, e, r) in &self.rows {
            let verdict = if r.is_ok() == *e { "ok" } else { "MISMATCH" };
            println!(
                "{verdict:8} {n} (expected {}): {}",
                if *e { "valid" } else { "invalid" },
                match r {
                    Ok(s) => format!("VALID {s}"),
                    Err(s) => format!("REFUSED {s}"),
                }
            );
        }
    }
}

fn legacy(root: &Path, t: &mut Tally) {
    let good = TrustMaterial::from_file(&root.join("trust/sigstore-public-good/trusted_root.json"))
        .expect("trust");
    let staging = TrustMaterial::from_file(&root.join("trust/sigstore-staging/trusted_root.json"))
        .expect("trust");
    let v = LegacyVerifier::new(good, now()).expect("verifier");
    let wrong = LegacyVerifier::new(staging, now()).expect("verifier");
    let ls = root.join("legacy-sig");
    let layer = |dir: &str, ann: &str| LegacyLayer {
        payload: read(&ls.join(dir).join("payload.json")),
        annotations: annotations(&ls.join(dir).join(ann)),
    };
    let show = |r: Result<
        trustswap::verify::legacy::LegacyVerified,
        trustswap::verify::refusal::Refusal,
    >| {
        r.map(|v| {
            format!(
                "layer={} signer={} issuer={:?} logIndex={:?} t={:?} sct={}",
                v.layer_index, v.signer, v.issuer, v.log_index, v.integrated_time, v.sct_verified
            )
        })
        .map_err(|e| e.to_string())
    };
    println!("\n### legacy-sig\n\n| case | expected | result | detail |\n|---|---|---|---|");

    // 01
    let d = "01-gha-keyless_salrashid123-server_image";
    let dg = "sha256:c05263d2ff654c3a94243662440913f045075d59c436e2c69e9145ec2b87a321";
    let gha = LegacyPolicy::Keyless {
        signer: Signer::Uri("https://github.com/salrashid123/go-bazel-github-workflow/.github/workflows/release.yaml@refs/tags/v0.0.30".into()),
        issuer: Some("https://token.actions.githubusercontent.com".into()),
        require_sct: true,
        require_tlog: true,
    };
    let l01 = layer(d, "annotations.json");
    t.report(
        "01 keyless GHA",
        true,
        show(v.verify_image(std::slice::from_ref(&l01), dg, &gha)),
    );
    t.report(
        "01 staging root (wrong root)",
        false,
        show(wrong.verify_image(std::slice::from_ref(&l01), dg, &gha)),
    );
    t.report(
        "01 other image digest",
        false,
        show(v.verify_image(
            std::slice::from_ref(&l01),
            "sha256:0489474da8ea22426ece86ace6c1c0026ab2fd3cdfbbd62b7e94650266c37d9a",
            &gha,
        )),
    );
    let mut tampered = l01.clone();
    tampered.annotations.insert(
        "dev.cosignproject.cosign/signature".into(),
        read(&ls.join("04-key-plus-rekor_containers-image-key-rekor/signature.b64"))
            .iter()
            .map(|&b| b as char)
            .collect::<String>()
            .trim()
            .to_owned(),
    );
    t.report(
        "01 signature swapped",
        false,
        show(v.verify_image(&[tampered], dg, &gha)),
    );
    let wrong_issuer = LegacyPolicy::Keyless {
        signer: Signer::Uri("https://github.com/salrashid123/go-bazel-github-workflow/.github/workflows/release.yaml@refs/tags/v0.0.30".into()),
        issuer: Some("https://accounts.google.com".into()),
        require_sct: true,
        require_tlog: true,
    };
    t.report(
        "01 wrong issuer",
        false,
        show(v.verify_image(std::slice::from_ref(&l01), dg, &wrong_issuer)),
    );

    // 02
    let d = "02-google-keyless-plus-kms_salrashid123-securebuild-bazel";
    let dg = "sha256:a2b109fb9baea555556561317fdd13cef9c3dfac22c8f8fea0c5a0b06ece9d00";
    let layers = vec![
        layer(d, "layer0-kms.annotations.json"),
        layer(d, "layer1-keyless.annotations.json"),
    ];
    let kms = read(&ls.join(d).join("layer0-kms.pub.pem"));
    t.report(
        "02 KMS key, tlog not required",
        true,
        show(v.verify_image(
            &layers,
            dg,
            &LegacyPolicy::Key {
                public_key_pem: kms.clone(),
                require_tlog: false,
            },
        )),
    );
    t.report(
        "02 KMS key, tlog required",
        false,
        show(v.verify_image(
            &layers,
            dg,
            &LegacyPolicy::Key {
                public_key_pem: kms,
                require_tlog: true,
            },
        )),
    );
    let google = LegacyPolicy::Keyless {
        signer: Signer::Email(
            "cosign-svc-account@mineral-minutia-820.iam.gserviceaccount.com".into(),
        ),
        issuer: Some("https://accounts.google.com".into()),
        require_sct: true,
        require_tlog: true,
    };
    t.report(
        "02 keyless google SA",
        true,
        show(v.verify_image(&layers, dg, &google)),
    );
    t.report(
        "02 keyless, staging root",
        false,
        show(wrong.verify_image(&layers, dg, &google)),
    );

    // 03
    let d = "03-github-oauth-keyless_containers-image-fulcio-rekor";
    let dg = "sha256:0489474da8ea22426ece86ace6c1c0026ab2fd3cdfbbd62b7e94650266c37d9a";
    let p = LegacyPolicy::Keyless {
        signer: Signer::Email("mitr@redhat.com".into()),
        issuer: Some("https://github.com/login/oauth".into()),
        require_sct: true,
        require_tlog: true,
    };
    t.report(
        "03 keyless github oauth (.1.1 only)",
        true,
        show(v.verify_image(&[layer(d, "annotations.json")], dg, &p)),
    );
    t.report(
        "03 staging root",
        false,
        show(wrong.verify_image(&[layer(d, "annotations.json")], dg, &p)),
    );

    // 04
    let d = "04-key-plus-rekor_containers-image-key-rekor";
    let l = layer(d, "annotations.json");
    t.report(
        "04 key cosign2.pub + Rekor",
        true,
        show(v.verify_image(
            std::slice::from_ref(&l),
            dg,
            &LegacyPolicy::Key {
                public_key_pem: read(&ls.join(d).join("cosign2.pub")),
                require_tlog: true,
            },
        )),
    );
    t.report(
        "04 wrong key",
        false,
        show(v.verify_image(
            std::slice::from_ref(&l),
            dg,
            &LegacyPolicy::Key {
                public_key_pem: read(&ls.join(d).join("wrong-key_cosign.pub")),
                require_tlog: true,
            },
        )),
    );
    t.report(
        "04 staging root (Rekor key unknown)",
        false,
        show(wrong.verify_image(
            &[l],
            dg,
            &LegacyPolicy::Key {
                public_key_pem: read(&ls.join(d).join("cosign2.pub")),
                require_tlog: true,
            },
        )),
    );

    // 05
    let d = "05-email-keyless-2021-rekord_sigstore-rs";
    let dg = "sha256:5f481572d088dc4023afb35fced9530ced3d9b03bf7299c6f492163cb9f0452e";
    let l = layer(d, "annotations.json");
    let mk = |issuer: Option<&str>, sct| LegacyPolicy::Keyless {
        signer: Signer::Email("flavio@castelli.me".into()),
        issuer: issuer.map(str::to_owned),
        require_sct: sct,
        require_tlog: true,
    };
    t.report(
        "05 2021 keyless, SCT not required, no issuer pin",
        true,
        show(v.verify_image(std::slice::from_ref(&l), dg, &mk(None, false))),
    );
    t.report(
        "05 SCT required (default)",
        false,
        show(v.verify_image(std::slice::from_ref(&l), dg, &mk(None, true))),
    );
    t.report(
        "05 issuer pinned",
        false,
        show(v.verify_image(
            std::slice::from_ref(&l),
            dg,
            &mk(Some("https://github.com/login/oauth"), false),
        )),
    );
    t.report(
        "05 staging root",
        false,
        show(wrong.verify_image(&[l], dg, &mk(None, false))),
    );

    // 08: certificate + chain + a bundle whose body was removed; no signature.
    let d = ls.join("08-PARTIAL-distroless-2021-cert-only_cosign-testdata");
    let mut ann = BTreeMap::new();
    ann.insert(
        "dev.sigstore.cosign/certificate".to_owned(),
        String::from_utf8_lossy(&read(&d.join("certificate.pem"))).into_owned(),
    );
    ann.insert(
        "dev.sigstore.cosign/chain".to_owned(),
        String::from_utf8_lossy(&read(&d.join("chain.pem"))).into_owned(),
    );
    ann.insert(
        "dev.sigstore.cosign/bundle".to_owned(),
        String::from_utf8_lossy(&read(&d.join("rekor-bundle.body-REMOVED.json"))).into_owned(),
    );
    let payload = br#"{"critical":{"identity":{"docker-reference":"gcr.io/distroless/static"},"image":{"docker-manifest-digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"},"type":"cosign container image signature"},"optional":null}"#.to_vec();
    let p = LegacyPolicy::Keyless {
        signer: Signer::Email("keyless@distroless.iam.gserviceaccount.com".into()),
        issuer: None,
        require_sct: false,
        require_tlog: true,
    };
    let l = LegacyLayer {
        payload: payload.clone(),
        annotations: ann.clone(),
    };
    t.report(
        "08 cert only, no signature",
        false,
        show(v.verify_image(
            &[l],
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            &p,
        )),
    );
    ann.insert("dev.cosignproject.cosign/signature".to_owned(), "MEUCIQDlWfOAdf0uQk6Eo0Ctc8M2wo4/aMK1Z4ZyGMODfSM6gAIgQypvyvw7fF05Z6y29Gf3N8jEg6zMgldkU6iQ9U/Cuks=".to_owned());
    let l = LegacyLayer {
        payload,
        annotations: ann,
    };
    t.report(
        "08 + some signature (body removed)",
        false,
        show(v.verify_image(
            &[l],
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            &p,
        )),
    );
}

fn attestations(root: &Path, t: &mut Tally) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let good = TrustMaterial::from_file(&root.join("trust/sigstore-public-good/trusted_root.json"));
    let staging = TrustMaterial::from_file(&root.join("trust/sigstore-staging/trusted_root.json"));
    let (Ok(good), Ok(staging)) = (good, staging) else {
        panic!("cannot load the trust roots under {}", root.display());
    };
    for (dir, tag) in [
        (
            "slsa-github-generator-container_v1.4.0_oci-layout-json-only",
            "v1.4.0",
        ),
        (
            "slsa-github-generator-container_v2.1.0_oci-layout-json-only",
            "v2.1.0",
        ),
    ] {
        let layout = root.join("legacy-att").join(dir);
        let policy = IdentityPolicy {
            identity: format!(
                "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/{tag}"
            ),
            issuer: Some("https://token.actions.githubusercontent.com".into()),
        };
        let show = |r: Result<(String, AttVerified), Refusal>| {
            r.map(|(d, v)| {
                format!(
                    "subject={d} predicate={} kind={} logIndex={} t={}",
                    v.predicate_type, v.entry_kind, v.log_index, v.integrated_time
                )
            })
            .map_err(|e| e.to_string())
        };
        t.report(
            &format!("att {tag}"),
            true,
            show(dsse::verify_layout(&good, &layout, &policy, now)),
        );
        t.report(
            &format!("att {tag} staging root"),
            false,
            show(dsse::verify_layout(&staging, &layout, &policy, now)),
        );
        let wrong = IdentityPolicy {
            identity: policy.identity.replace(tag, "v9.9.9"),
            issuer: policy.issuer.clone(),
        };
        t.report(
            &format!("att {tag} wrong identity"),
            false,
            show(dsse::verify_layout(&good, &layout, &wrong, now)),
        );
    }
}

fn conformance(root: &Path, t: &mut Tally, prod: &mut Tally) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let prod_path = root.join("trust/sigstore-public-good/trusted_root.json");
    let suite = root.join("bundles/sigstore-conformance/bundle-verify");
    let mut dirs: Vec<_> = std::fs::read_dir(&suite)
        .unwrap_or_else(|e| panic!("{}: {e}", suite.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    dirs.sort();
    let default_artifact =
        std::fs::read(suite.join("a.txt")).unwrap_or_else(|e| panic!("a.txt: {e}"));
    let mut rows: Vec<(String, bool, Outcome, Outcome)> = Vec::new();
    for dir in &dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let expect_ok = !name.ends_with("_fail");
        let rd = |f: &str| std::fs::read(dir.join(f)).ok();
        let trust_path = if dir.join("trusted_root.json").exists() {
            dir.join("trusted_root.json")
        } else {
            prod_path.clone()
        };
        let artifact = rd("artifact").unwrap_or_else(|| default_artifact.clone());
        let identity = rd("identity").map(|b| String::from_utf8_lossy(&b).trim().to_owned()).unwrap_or_else(|| {
            "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main".into()
        });
        let issuer = rd("issuer")
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .unwrap_or_else(|| "https://token.actions.githubusercontent.com".into());
        let policy = IdentityPolicy {
            identity,
            issuer: Some(issuer),
        };
        let digest: [u8; 32] = Sha256::digest(&artifact).into();
        let digest = ArtifactDigest::Sha256(digest);
        let bundle_json = rd("bundle.sigstore.json").unwrap_or_default();
        let run = |strict: bool| -> Result<String, String> {
            let tm = TrustMaterial::from_file(&trust_path).map_err(|e| e.to_string())?;
            let v = BundleVerifier::new(tm, now).map_err(|e| e.to_string())?;
            let b = BundleVerifier::parse(&bundle_json).map_err(|e| e.to_string())?;
            let r = match (strict, rd("key.pub")) {
                (true, Some(pem)) => {
                    let key = PublicKey::from_pem(&pem).map_err(|e| e.to_string())?;
                    v.verify_with_key(b, digest, &key)
                }
                (false, Some(_)) => {
                    return Err(
                        "key.pub case: sigstore 0.15 has no public-key bundle verification".into(),
                    );
                }
                (true, None) => v.verify_strict(b, digest, &policy),
                (false, None) => v.verify_crate_only(b, digest, &policy),
            };
            r.map(|_| String::new()).map_err(|e| e.to_string())
        };
        let crate_only = run(false);
        let strict = run(true);
        rows.push((name, expect_ok, crate_only, strict));
    }
    for (n, e, c, s) in &rows {
        t.report(&format!("crate: {n}"), *e, c.clone());
        t.report(&format!("strict: {n}"), *e, s.clone());
    }

    // Production bundles (no artifacts shipped except the wheel): digest from the bundle itself,
    // identity from its own certificate, so this checks trust/signature/log, not artifact binding.
    let b = root.join("bundles");
    let cases: Vec<(&str, &str, Option<&str>, Option<&str>)> = vec![
        (
            "sigstore-go/dsse-email-keyless_slsa-provenance-0.0.7.sigstore.json",
            "trust/sigstore-public-good/trusted_root.json",
            None,
            None,
        ),
        (
            "sigstore-go/sigstore.js@1.3.0-provenance.sigstore.json",
            "trust/sigstore-public-good/trusted_root.json",
            None,
            None,
        ),
        (
            "sigstore-go/sigstore.js@2.0.0-provenance.sigstore.json",
            "trust/sigstore-public-good/trusted_root.json",
            None,
            None,
        ),
        (
            "sigstore-go/sigstore.js@1.3.0-npm-publish.sigstore.json",
            "trust/sigstore-public-good/trusted_root.json",
            None,
            Some("sigstore-go/npm-registry-publish_key.pub"),
        ),
        (
            "sigstore-python/rfc8785-0.1.2-py3-none-any.whl.sigstore",
            "trust/sigstore-public-good/trusted_root.json",
            Some("sigstore-python/rfc8785-0.1.2-py3-none-any.whl"),
            None,
        ),
        (
            "sigstore-python/Python-3.12.5.tgz.sigstore",
            "trust/sigstore-public-good/trusted_root.json",
            None,
            None,
        ),
        (
            "cosign/oci-attestation.sigstore.json",
            "bundles/cosign/trusted_root_pgi.json",
            None,
            None,
        ),
    ];
    for (file, trust, artifact, key) in cases {
        let r = (|| -> Result<String, String> {
            let json = std::fs::read(b.join(file)).map_err(|e| e.to_string())?;
            let tm = TrustMaterial::from_file(&root.join(trust)).map_err(|e| e.to_string())?;
            let v = BundleVerifier::new(tm, now).map_err(|e| e.to_string())?;
            let bundle = BundleVerifier::parse(&json).map_err(|e| e.to_string())?;
            let (digest, how) = match artifact {
                Some(a) => {
                    let d: [u8; 32] =
                        Sha256::digest(std::fs::read(b.join(a)).map_err(|e| e.to_string())?).into();
                    (ArtifactDigest::Sha256(d), "artifact")
                }
                None => match (dsse_first_subject(&json), message_digest(&json)) {
                    (Some(d), _) => (d, "first subject digest of the statement"),
                    (None, Some(d)) => (ArtifactDigest::Sha256(d), "messageDigest from bundle"),
                    _ => return Err("no digest to check against".into()),
                },
            };
            if let Some(key) = key {
                let key =
                    PublicKey::from_pem(&std::fs::read(b.join(key)).map_err(|e| e.to_string())?)
                        .map_err(|e| e.to_string())?;
                return v
                    .verify_with_key(bundle, digest, &key)
                    .map(|_| format!("digest: {how}; signer: the key of {file}"))
                    .map_err(|e| e.to_string());
            }
            let (id, iss) =
                leaf_identity(&bundle).ok_or("no certificate identity (public-key bundle?)")?;
            v.verify_strict(
                bundle,
                digest,
                &IdentityPolicy {
                    identity: id.clone(),
                    issuer: iss.clone(),
                },
            )
            .map(|_| format!("digest: {how}; signer {id} / {iss:?}"))
            .map_err(|e| e.to_string())
        })();
        prod.report(file, true, r);
    }
}

#[test]
fn legacy_signatures_reach_the_expected_verdicts() {
    let mut t = Tally::default();
    legacy(&common::realworld(), &mut t);
    t.print();
    assert_eq!(t.rows.len(), 20);
    assert!(t.mismatches().is_empty(), "{:#?}", t.mismatches());
}

#[test]
fn legacy_attestations_reach_the_expected_verdicts() {
    let mut t = Tally::default();
    attestations(&common::realworld(), &mut t);
    t.print();
    assert_eq!(t.rows.len(), 6);
    assert!(t.mismatches().is_empty(), "{:#?}", t.mismatches());
}

#[test]
fn conformance_bundle_verify_cases() {
    let root = common::realworld();
    let (mut t, mut prod) = (Tally::default(), Tally::default());
    conformance(&root, &mut t, &mut prod);
    let strict: Vec<&(String, bool, Result<String, String>)> = t
        .rows
        .iter()
        .filter(|r| r.0.starts_with("strict: "))
        .collect();
    let total = strict.len();
    let passed = strict.iter().filter(|(_, e, r)| r.is_ok() == *e).count();
    println!("conformance bundle-verify (strict): {passed}/{total} reach the expected verdict");
    for (n, e, r) in &strict {
        if r.is_ok() != *e {
            println!("  {n}: {r:?}");
        }
    }
    let false_accepts: Vec<&String> = strict
        .iter()
        .filter(|(_, e, r)| !*e && r.is_ok())
        .map(|r| &r.0)
        .collect();
    assert!(
        false_accepts.is_empty(),
        "a _fail case verified: {false_accepts:?}"
    );
    let refused_valid: Vec<&String> = strict
        .iter()
        .filter(|(_, e, r)| *e && r.is_err())
        .map(|r| &r.0)
        .collect();
    assert!(
        refused_valid.is_empty(),
        "valid bundles refused: {refused_valid:?}"
    );
    assert_eq!(total, 70, "the conformance suite has 70 cases");
    prod.print();
    assert_eq!(prod.rows.len(), 7);
    assert!(
        prod.mismatches().is_empty(),
        "production bundles refused: {:#?}",
        prod.mismatches()
    );
}

/// `trustswap verify-bundle` as the conformance suite drives it: exit 0
/// verified, 1 refused, 2 bad input (3, a shape it cannot check, is below).
#[test]
fn verify_bundle_command_exit_codes() {
    let suite = common::realworld().join("bundles/sigstore-conformance/bundle-verify");
    let trusted_root = common::realworld().join("trust/sigstore-public-good/trusted_root.json");
    let identity = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
    let run = |case: &str, extra: &[&str], artifact: &str| {
        let bundle = suite
            .join(case)
            .join("bundle.sigstore.json")
            .display()
            .to_string();
        let root = trusted_root.display().to_string();
        let mut args = vec![
            "verify-bundle",
            "--bundle",
            &bundle,
            "--trusted-root",
            &root,
        ];
        args.extend_from_slice(extra);
        args.push(artifact);
        let o = common::trustswap(&args);
        (
            o.status.code(),
            common::text(&o.stdout) + &common::text(&o.stderr),
        )
    };
    let a = suite.join("a.txt").display().to_string();
    let id = [
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        "https://token.actions.githubusercontent.com",
    ];
    let (code, out) = run("happy-path-v0.1", &id, &a);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.lines().any(|l| l.starts_with("verified: ")), "{out}");
    let digest = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(read(&suite.join("a.txt"))))
    );
    assert_eq!(run("happy-path-v0.1", &id, &digest).0, Some(0), "by digest");
    let (code, out) = run("signature-mismatch_fail", &id, &a);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("refused at"), "{out}");
    let wrong_id = [
        "--certificate-identity",
        "https://github.com/someone/else/.github/workflows/x.yml@refs/heads/main",
        "--certificate-oidc-issuer",
        "https://token.actions.githubusercontent.com",
    ];
    assert_eq!(
        run("happy-path-v0.1", &wrong_id, &a).0,
        Some(1),
        "wrong identity is refused"
    );
    let key = suite
        .join("managed-key-happy-path/key.pub")
        .display()
        .to_string();
    let (code, out) = run("managed-key-happy-path", &["--key", &key], &a);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("signed by the key"), "{out}");
    // The wrong key, and a public-key bundle checked against an identity.
    let other = common::realworld()
        .join("bundles/sigstore-go/npm-registry-publish_key.pub")
        .display()
        .to_string();
    assert_eq!(
        run("managed-key-happy-path", &["--key", &other], &a).0,
        Some(1)
    );
    // The conformance suite's "wrong key" is no PEM at all: bad input.
    let broken = suite
        .join("managed-key-wrong-key_fail/key.pub")
        .display()
        .to_string();
    assert_eq!(
        run("managed-key-happy-path", &["--key", &broken], &a).0,
        Some(2)
    );
    let (code, out) = run("managed-key-happy-path", &id, &a);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("--key"), "{out}");
    // A key file that is not a key names the file.
    let (code, out) = run("managed-key-happy-path", &["--key", &a], &a);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("a.txt"), "{out}");
    assert_eq!(run("happy-path-v0.1", &id, "sha256:zz").0, Some(2));
}

// ---------------------------------------------------------------------------
// Strict reading of what no signature covers: real conformance bundles that
// verify, changed in one unsigned field each. Every change must be refused,
// at the stage that names the field; the unchanged bundle must still verify.
// Then exit codes and kinds of `verify-bundle`, decided by type, never by text.

const BEACON: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const GHA: &str = "https://token.actions.githubusercontent.com";

fn suite() -> std::path::PathBuf {
    common::realworld().join("bundles/sigstore-conformance/bundle-verify")
}

fn case_json(case: &str) -> serde_json::Value {
    serde_json::from_slice(&read(&suite().join(case).join("bundle.sigstore.json")))
        .unwrap_or_else(|e| panic!("{case}: {e}"))
}

/// Strict verification of `bundle` (JSON) for `a.txt` under the default
/// identity and the public-good root.
fn strict(bundle: &serde_json::Value) -> Result<(), Refusal> {
    let trust = TrustMaterial::from_file(
        &common::realworld().join("trust/sigstore-public-good/trusted_root.json"),
    )
    .expect("trust");
    let v = BundleVerifier::new(trust, now()).expect("verifier");
    let digest: [u8; 32] = Sha256::digest(read(&suite().join("a.txt"))).into();
    let json = serde_json::to_vec(bundle).expect("json");
    v.verify_strict(
        BundleVerifier::parse(&json)?,
        ArtifactDigest::Sha256(digest),
        &IdentityPolicy {
            identity: BEACON.into(),
            issuer: Some(GHA.into()),
        },
    )
}

/// `case` verifies as shipped; with `change` applied it is refused at `stage`.
fn refused_at(case: &str, stage: &str, change: impl FnOnce(&mut serde_json::Value)) -> Refusal {
    let mut b = case_json(case);
    strict(&b).unwrap_or_else(|r| panic!("{case} as shipped must verify: {r}"));
    change(&mut b);
    match strict(&b) {
        Ok(()) => panic!("{case} changed ({stage}) was accepted"),
        Err(r) => {
            assert_eq!(r.stage, stage, "{case}: {r}");
            r
        }
    }
}

fn at<'a>(v: &'a mut serde_json::Value, pointer: &str) -> &'a mut serde_json::Value {
    v.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in the bundle"))
}

const ENTRY: &str = "/verificationMaterial/tlogEntries/0";
const ENVELOPE: &str = "/verificationMaterial/tlogEntries/0/inclusionProof/checkpoint/envelope";

fn edit_envelope(b: &mut serde_json::Value, edit: impl FnOnce(&str) -> String) {
    let env = at(b, ENVELOPE);
    let new = edit(env.as_str().expect("envelope is a string"));
    *env = serde_json::Value::String(new);
}

#[test]
fn message_digest_must_be_the_artifacts_digest() {
    for case in ["happy-path-v0.1", "happy-path-v0.3-new-mediaType"] {
        refused_at(case, "messageDigest", |b| {
            *at(b, "/messageSignature/messageDigest/digest") =
                B64.encode(Sha256::digest(b"another artifact")).into();
        });
        let r = refused_at(case, "messageDigest", |b| {
            *at(b, "/messageSignature/messageDigest/algorithm") = "SHA2_512".into();
        });
        assert!(r.reason.contains("SHA2_512"), "{r}");
    }
}

#[test]
fn checkpoint_tree_size_with_a_leading_zero_is_refused() {
    refused_at("happy-path-v0.2", "checkpoint", |b| {
        edit_envelope(b, |e| {
            let (origin, rest) = e.split_once('\n').expect("origin line");
            format!("{origin}\n0{rest}")
        });
    });
}

#[test]
fn checkpoint_tree_size_with_a_plus_sign_is_refused() {
    refused_at("happy-path-v0.2", "checkpoint", |b| {
        edit_envelope(b, |e| {
            let (origin, rest) = e.split_once('\n').expect("origin line");
            format!("{origin}\n+{rest}")
        });
    });
}

#[test]
fn checkpoint_signed_under_another_name_is_refused() {
    let r = refused_at("happy-path-v0.2", "checkpoint", |b| {
        edit_envelope(b, |e| {
            e.replace(
                "\u{2014} rekor.sigstore.dev ",
                "\u{2014} rekor.example.com ",
            )
        });
    });
    assert!(r.reason.contains("rekor.sigstore.dev"), "{r}");
    // A cosignature by another name is not the log's, and is ignored.
    let mut b = case_json("happy-path-v0.2");
    edit_envelope(&mut b, |e| {
        let line = e.lines().last().expect("signature line");
        format!(
            "{e}{}\n",
            line.replace("rekor.sigstore.dev", "witness.example")
        )
    });
    strict(&b).expect("an extra cosignature line by another name");
}

#[test]
fn garbage_rfc3161_timestamp_is_refused_not_ignored() {
    for garbage in [
        B64.encode(b"not a timestamp"),
        // A real TimeStampResp, cut short.
        {
            let donor = case_json("intoto-with-custom-trust-root");
            let ts = donor
                .pointer("/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp")
                .and_then(|t| t.as_str())
                .expect("donor timestamp");
            let der = B64.decode(ts).expect("base64");
            B64.encode(&der[..der.len() - 9])
        },
    ] {
        refused_at("happy-path-v0.2", "timestamp", |b| {
            at(b, "/verificationMaterial")
                .as_object_mut()
                .expect("object")
                .insert(
                    "timestampVerificationData".into(),
                    serde_json::json!({ "rfc3161Timestamps": [{ "signedTimestamp": garbage }] }),
                );
        });
    }
}

#[test]
fn kind_version_must_name_the_logged_body() {
    let r = refused_at("happy-path-v0.2", "kindVersion", |b| {
        *at(b, &format!("{ENTRY}/kindVersion/kind")) = "dsse".into();
    });
    assert!(r.reason.contains("hashedrekord"), "{r}");
    refused_at("happy-path-intoto-in-dsse-v3", "kindVersion", |b| {
        *at(b, &format!("{ENTRY}/kindVersion/kind")) = "hashedrekord".into();
    });
}

#[test]
fn duplicated_leaf_in_a_certificate_chain_is_refused() {
    refused_at("happy-path-v0.1", "certificate", |b| {
        let certs = at(b, "/verificationMaterial/x509CertificateChain/certificates");
        let leaf = certs[0].clone();
        certs.as_array_mut().expect("array").push(leaf);
    });
}

#[test]
fn v03_bundle_must_carry_a_single_certificate_not_a_chain() {
    refused_at("happy-path-v0.3-new-mediaType", "certificate", |b| {
        let vm = at(b, "/verificationMaterial")
            .as_object_mut()
            .expect("object");
        let cert = vm.remove("certificate").expect("certificate");
        vm.insert(
            "x509CertificateChain".into(),
            serde_json::json!({ "certificates": [cert] }),
        );
    });
}

#[test]
fn unsigned_fields_that_do_not_round_trip_are_refused() {
    // An int64 spelled as a JSON number (proto3 JSON reads it, writes a string).
    refused_at("happy-path-v0.2", "bundle", |b| {
        let index = at(b, &format!("{ENTRY}/logIndex"));
        let n: u64 = index
            .as_str()
            .and_then(|i| i.parse().ok())
            .expect("logIndex");
        *index = n.into();
    });
    // A leading zero in the proof's tree size (an int64 spelled as a string).
    refused_at("happy-path-v0.2", "bundle", |b| {
        let size = at(b, &format!("{ENTRY}/inclusionProof/treeSize"));
        *size = format!("0{}", size.as_str().expect("string")).into();
    });
    // The URL-safe base64 alphabet, which proto3 JSON also reads.
    refused_at("happy-path-v0.2", "bundle", |b| {
        let sig = at(b, "/messageSignature/signature");
        let url = sig
            .as_str()
            .expect("string")
            .replace('+', "-")
            .replace('/', "_");
        assert_ne!(Some(url.as_str()), sig.as_str(), "the signature has + or /");
        *sig = url.into();
    });
}

/// Bad bundles exit 2 (bad input) whatever their text says; shapes trustswap
/// cannot check exit 3; refusals exit 1.
#[test]
fn verify_bundle_exit_codes_do_not_depend_on_the_inputs_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = common::realworld()
        .join("trust/sigstore-public-good/trusted_root.json")
        .display()
        .to_string();
    let a = suite().join("a.txt").display().to_string();
    let run_in = |bundle: &Path, root: &str| {
        let b = bundle.display().to_string();
        let o = common::trustswap(&[
            "verify-bundle",
            "--bundle",
            &b,
            "--trusted-root",
            root,
            "--certificate-identity",
            BEACON,
            "--certificate-oidc-issuer",
            GHA,
            &a,
        ]);
        (
            o.status.code(),
            common::text(&o.stdout) + &common::text(&o.stderr),
        )
    };
    let run = |bundle: &Path| run_in(bundle, &root);
    let write = |name: &str, v: &serde_json::Value| {
        let p = dir.path().join(name);
        std::fs::write(&p, serde_json::to_vec(v).expect("json")).expect("write");
        p
    };

    // Not JSON at all.
    let (code, out) = run(&suite().join("bundle-malformed-json_fail/bundle.sigstore.json"));
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("not JSON"), "{out}");

    // A media type that is the word "unsupported", or any other unknown one.
    for media_type in ["unsupported", "application/json"] {
        let mut b = case_json("happy-path-v0.2");
        *at(&mut b, "/mediaType") = media_type.into();
        let (code, out) = run(&write("media.json", &b));
        assert_eq!(code, Some(2), "{media_type}: {out}");
        assert!(out.contains("not a Sigstore bundle media type"), "{out}");
    }

    // A field the bundle schema does not have.
    let mut b = case_json("happy-path-v0.2");
    at(&mut b, ENTRY)
        .as_object_mut()
        .expect("object")
        .insert("note".into(), "unsigned".into());
    let (code, out) = run(&write("field.json", &b));
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("not a Sigstore bundle"), "{out}");

    // A refusal whose reason happens to contain the word "unsupported".
    let mut b = case_json("happy-path-v0.2");
    *at(&mut b, &format!("{ENTRY}/kindVersion/kind")) = "unsupported".into();
    let (code, out) = run(&write("kind.json", &b));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("refused at kindVersion"), "{out}");

    // A shape trustswap cannot check: a Rekor v2 entry of the dsse kind
    // (sigstore-go v1.3.0 verifies Rekor v2 hashedrekord entries only).
    let mut b = case_json("rekor2-happy-path");
    *at(&mut b, &format!("{ENTRY}/kindVersion/kind")) = "dsse".into();
    let body = at(&mut b, &format!("{ENTRY}/canonicalizedBody"));
    let text = String::from_utf8(B64.decode(body.as_str().expect("body")).expect("base64"))
        .expect("utf-8")
        .replace("\"kind\":\"hashedrekord\"", "\"kind\":\"dsse\"");
    *body = B64.encode(text).into();
    let staging = suite().join("rekor2-happy-path/trusted_root.json");
    let (code, out) = run_in(&write("dsse-v2.json", &b), &staging.display().to_string());
    assert_eq!(code, Some(3), "{out}");
    assert!(out.lines().any(|l| l.starts_with("undecided: ")), "{out}");
}

/// Every leaf of every verifying conformance bundle, changed on its own (one
/// bit of decoded base64 flipped, a number moved by one, a character added to
/// text), is refused: no false accept over the whole sweep.
#[test]
fn every_single_field_change_to_a_verifying_bundle_is_refused() {
    fn leaves(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, w) in m {
                    leaves(w, format!("{at}/{k}"), out);
                }
            }
            serde_json::Value::Array(a) => {
                for (i, w) in a.iter().enumerate() {
                    leaves(w, format!("{at}/{i}"), out);
                }
            }
            _ => out.push(at),
        }
    }
    fn changed(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::String(s) => match s.parse::<i64>() {
                Ok(n) => (n + 1).to_string().into(),
                Err(_) => match B64.decode(s) {
                    Ok(mut bytes) if !bytes.is_empty() && B64.encode(&bytes) == *s => {
                        let mid = bytes.len() / 2;
                        bytes[mid] ^= 0x01;
                        B64.encode(bytes).into()
                    }
                    _ => {
                        let mut t = s.clone();
                        t.insert(t.len() / 2, 'x');
                        t.into()
                    }
                },
            },
            serde_json::Value::Number(n) => (n.as_i64().unwrap_or(0) + 1).into(),
            serde_json::Value::Bool(b) => (!b).into(),
            other => other.clone(),
        }
    }
    let cases = [
        "happy-path-v0.1",
        "happy-path-v0.2",
        "happy-path-v0.3-new-mediaType",
        "happy-path-intoto-in-dsse-v3",
    ];
    let (mut tried, mut accepted) = (0, Vec::new());
    for case in cases {
        let b = case_json(case);
        strict(&b).unwrap_or_else(|r| panic!("{case} as shipped must verify: {r}"));
        let mut paths = Vec::new();
        leaves(&b, String::new(), &mut paths);
        for p in paths {
            let mut m = b.clone();
            let leaf = at(&mut m, &p);
            *leaf = changed(leaf);
            tried += 1;
            if strict(&m).is_ok() {
                accepted.push(format!("{case}{p}"));
            }
        }
    }
    println!("{tried} single-field changes, {} accepted", accepted.len());
    assert!(tried > 60, "{tried}");
    assert!(accepted.is_empty(), "accepted after a change: {accepted:?}");
}

/// Every valid conformance bundle verifies through `verify_strict` (or
/// `verify_with_key` where the case gives a key), never undecided.
#[test]
fn valid_conformance_bundles_all_verify() {
    let prod = common::realworld().join("trust/sigstore-public-good/trusted_root.json");
    let mut dirs: Vec<_> = std::fs::read_dir(suite())
        .expect("suite")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let (mut verified, mut wrong) = (0, Vec::new());
    for dir in dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with("_fail") {
            continue;
        }
        let rd = |f: &str| std::fs::read(dir.join(f)).ok();
        let trust_path = if dir.join("trusted_root.json").exists() {
            dir.join("trusted_root.json")
        } else {
            prod.clone()
        };
        let trimmed = |b: Vec<u8>| String::from_utf8_lossy(&b).trim().to_owned();
        let policy = IdentityPolicy {
            identity: rd("identity").map(trimmed).unwrap_or_else(|| BEACON.into()),
            issuer: Some(rd("issuer").map(trimmed).unwrap_or_else(|| GHA.into())),
        };
        let artifact = rd("artifact").unwrap_or_else(|| read(&suite().join("a.txt")));
        let digest = ArtifactDigest::Sha256(Sha256::digest(&artifact).into());
        let v = BundleVerifier::new(TrustMaterial::from_file(&trust_path).expect("trust"), now())
            .expect("verifier");
        let r = BundleVerifier::parse(&rd("bundle.sigstore.json").expect("bundle")).and_then(|b| {
            match rd("key.pub") {
                Some(pem) => v.verify_with_key(b, digest, &PublicKey::from_pem(&pem)?),
                None => v.verify_strict(b, digest, &policy),
            }
        });
        match r {
            Ok(()) => verified += 1,
            Err(r) => wrong.push(format!("{name}: {:?} {r}", r.kind)),
        }
    }
    println!("valid conformance bundles: {verified} verified");
    assert!(wrong.is_empty(), "valid bundles refused: {wrong:#?}");
    assert_eq!(verified, 21);
}

// ---------------------------------------------------------------------------
// The newer shapes, each broken on its own: a Rekor v2 entry dated only by an
// RFC 3161 timestamp (`rekor2-happy-path` under its staging trusted root).
// Each variant is refused at the stage that names what broke.

/// `rekor2-happy-path` with `edit` applied to its bundle and trusted root,
/// verified strictly for `a.txt` under the default identity.
fn rekor2_variant(
    edit: impl FnOnce(&mut serde_json::Value, &mut serde_json::Value),
) -> Result<(), Refusal> {
    let mut bundle = case_json("rekor2-happy-path");
    let mut root: serde_json::Value =
        serde_json::from_slice(&read(&suite().join("rekor2-happy-path/trusted_root.json")))
            .expect("trusted root");
    edit(&mut bundle, &mut root);
    let trust = TrustMaterial::from_trusted_root_json(&serde_json::to_vec(&root).expect("json"))?;
    let v = BundleVerifier::new(trust, now())?;
    v.verify_strict(
        BundleVerifier::parse(&serde_json::to_vec(&bundle).expect("json"))?,
        ArtifactDigest::Sha256(Sha256::digest(read(&suite().join("a.txt"))).into()),
        &IdentityPolicy {
            identity: BEACON.into(),
            issuer: Some(GHA.into()),
        },
    )
}

const TSA0: &str = "/timestampAuthorities/0";
const V2_LOG: &str = "/tlogs/1";

#[rstest::rstest]
#[case::unchanged(|_: &mut serde_json::Value, _: &mut serde_json::Value| {}, None)]
#[case::wrong_tsa(
    |_: &mut serde_json::Value, r: &mut serde_json::Value| {
        // The authority's chain replaced by the Fulcio CA's: another issuer.
        let ca = r.pointer("/certificateAuthorities/0/certChain").cloned().expect("ca");
        *at(r, &format!("{TSA0}/certChain")) = ca;
    },
    Some(("timestamp", "no trusted timestamp authority verifies it"))
)]
#[case::timestamp_after_the_window(
    |_: &mut serde_json::Value, r: &mut serde_json::Value| {
        // One second before the token's genTime (2025-06-12T12:02:20Z).
        at(r, &format!("{TSA0}/validFor")).as_object_mut().expect("validFor")
            .insert("end".into(), "2025-06-12T12:02:19Z".into());
    },
    Some(("timestamp", "outside the authority's validFor window"))
)]
#[case::timestamp_before_the_window(
    |_: &mut serde_json::Value, r: &mut serde_json::Value| {
        *at(r, &format!("{TSA0}/validFor/start")) = "2025-06-12T12:02:21Z".into();
    },
    Some(("timestamp", "outside the authority's validFor window"))
)]
#[case::timestamp_over_another_signature(
    |b: &mut serde_json::Value, _: &mut serde_json::Value| {
        let other = case_json("rekor2-timestamp-payload-mismatch_fail");
        *at(b, "/verificationMaterial/timestampVerificationData") =
            other["verificationMaterial"]["timestampVerificationData"].clone();
    },
    Some(("timestamp", "message imprint is not the hash of the bundle's signature"))
)]
#[case::checkpoint_bad_log_signature(
    |b: &mut serde_json::Value, _: &mut serde_json::Value| {
        edit_envelope(b, |e| {
            let (text, sig) = e.rsplit_once(' ').expect("signature line");
            let mut raw = B64.decode(sig.trim_end()).expect("base64");
            let last = raw.len() - 1;
            raw[last] ^= 1;
            format!("{text} {}\n", B64.encode(raw))
        });
    },
    Some(("checkpoint", "signature of the log"))
)]
#[case::checkpoint_signed_twice_by_the_log(
    |b: &mut serde_json::Value, _: &mut serde_json::Value| {
        edit_envelope(b, |e| {
            let line = e.lines().last().expect("line").to_owned();
            format!("{e}{line}\n")
        });
    },
    None
)]
#[case::checkpoint_with_a_bad_second_log_signature(
    // x/mod `note.Open` verifies the first signature by a key and drops repeats.
    |b: &mut serde_json::Value, _: &mut serde_json::Value| {
        edit_envelope(b, |e| {
            let line = e.lines().last().expect("line").to_owned();
            let (name, sig) = line.rsplit_once(' ').expect("signature line");
            let mut raw = B64.decode(sig).expect("base64");
            let last = raw.len() - 1;
            raw[last] ^= 1;
            format!("{e}{name} {}\n", B64.encode(raw))
        });
    },
    None
)]
#[case::entry_at_another_index(
    // Rekor v2 proves the entry's own index (rekor-tiles `VerifyLogEntryWithHash`).
    |b: &mut serde_json::Value, _: &mut serde_json::Value| {
        *at(b, &format!("{ENTRY}/logIndex")) = "734".into();
    },
    Some(("tlog", "inclusion proof"))
)]
#[case::checkpoint_of_another_origin(
    |b: &mut serde_json::Value, _: &mut serde_json::Value| {
        edit_envelope(b, |e| e.replacen("log2025-alpha1.rekor.sigstage.dev\n", "rekor.sigstage.dev\n", 1));
    },
    Some(("checkpoint", "is not the log"))
)]
#[case::mismatched_log_id(
    |b: &mut serde_json::Value, r: &mut serde_json::Value| {
        // The entry names the other (Rekor v1) log of the trusted root.
        let v1 = r.pointer("/tlogs/0/logId/keyId").cloned().expect("v1 log");
        *at(b, &format!("{ENTRY}/logId/keyId")) = v1;
    },
    Some(("checkpoint", "is not the log \"rekor.sigstage.dev\""))
)]
#[case::unknown_log_id(
    |b: &mut serde_json::Value, _: &mut serde_json::Value| {
        *at(b, &format!("{ENTRY}/logId/keyId")) = B64.encode([7u8; 32]).into();
    },
    Some(("tlog", "no trusted Rekor key"))
)]
#[case::log_key_outside_its_window(
    |_: &mut serde_json::Value, r: &mut serde_json::Value| {
        *at(r, &format!("{V2_LOG}/publicKey/validFor/start")) = "2025-06-13T00:00:00Z".into();
    },
    Some(("tlog", "outside the Rekor v2 log key's validity window"))
)]
#[case::the_same_entry_twice(
    |b: &mut serde_json::Value, _: &mut serde_json::Value| {
        let entries = at(b, "/verificationMaterial/tlogEntries").as_array_mut().expect("entries");
        entries.push(entries[0].clone());
    },
    Some(("tlog", "duplicate tlog entries"))
)]
#[case::more_timestamps_than_sigstore_go_reads(
    |b: &mut serde_json::Value, _: &mut serde_json::Value| {
        let ts = at(b, "/verificationMaterial/timestampVerificationData/rfc3161Timestamps")
            .as_array_mut()
            .expect("timestamps");
        let one = ts[0].clone();
        ts.extend(std::iter::repeat_n(one, 32));
    },
    Some(("timestamp", "too many signed timestamps: 33 > 32"))
)]
#[case::no_timestamp(
    |b: &mut serde_json::Value, _: &mut serde_json::Value| {
        at(b, "/verificationMaterial").as_object_mut().expect("vm").remove("timestampVerificationData");
    },
    Some(("timestamp", "no verified time dates the signature"))
)]
fn rekor_v2_and_timestamp_variants_are_refused_at_their_stage(
    #[case] edit: fn(&mut serde_json::Value, &mut serde_json::Value),
    #[case] expected: Option<(&str, &str)>,
) {
    let r = rekor2_variant(edit);
    match expected {
        None => assert!(r.is_ok(), "{r:?}"),
        Some((stage, why)) => {
            let refusal = r.expect_err("the variant must be refused");
            assert_eq!(refusal.stage, stage, "{refusal}");
            assert!(refusal.reason.contains(why), "{refusal}");
            assert_ne!(
                refusal.kind,
                trustswap::verify::refusal::RefusalKind::Unsupported,
                "{refusal}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Real Chainguard release signatures (2022-2023, legacy `.sig` + Rekor SET)
// under the shipped `chainguard` profile and the public-good root, through the
// legacy verifier `trustswap verify` and `verify-signature` use: the catalogue's
// release workflow verifies, a per-repository workflow is refused for identity.

/// Each record of a Chainguard JSONL file as the `.sig` layer it was.
fn chainguard_layers(file: &str) -> Vec<(String, LegacyLayer)> {
    let path = common::realworld().join("vendors/chainguard").join(file);
    let text = String::from_utf8(read(&path)).expect("utf-8");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let r: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{file}: {e}"));
            let s = |k: &str| {
                r[k].as_str()
                    .unwrap_or_else(|| panic!("{file}: no {k}"))
                    .to_owned()
            };
            let annotations = BTreeMap::from([
                (ANN_SIGNATURE.to_owned(), s("base64_signature")),
                (ANN_CERT.to_owned(), s("cert_pem")),
                (ANN_BUNDLE.to_owned(), r["bundle"].to_string()),
            ]);
            (
                s("signed_digest"),
                LegacyLayer {
                    payload: s("payload").into_bytes(),
                    annotations,
                },
            )
        })
        .collect()
}

#[test]
fn chainguard_release_signatures_verify_and_per_repository_ones_are_refused() {
    let keys = trustswap::profile::keys::KeyResolver::new(Vec::new());
    let vendors = trustswap::profile::load_shipped(&keys).expect("shipped profiles");
    let chainguard = vendors
        .iter()
        .find(|v| v.name == "chainguard")
        .expect("chainguard profile");
    let policy = trustswap::lab_cli::vendor_policy(chainguard, None)
        .expect("policy")
        .legacy();
    let trust = TrustMaterial::from_file(
        &common::realworld().join("trust/sigstore-public-good/trusted_root.json"),
    )
    .expect("trust");
    let v = LegacyVerifier::new(trust, now()).expect("verifier");
    let mut release = Vec::new();
    for file in [
        "php-monorepo-identity.jsonl",
        "musl-dynamic-monorepo-identity.jsonl",
    ] {
        release.extend(chainguard_layers(file));
    }
    let per_repo = chainguard_layers("hello-world-per-repo-identity.jsonl");
    assert_eq!((release.len(), per_repo.len()), (120, 82));

    let refused: Vec<String> = release
        .iter()
        .filter_map(|(digest, layer)| {
            v.verify_image(std::slice::from_ref(layer), digest, &policy)
                .err()
                .map(|r| format!("{digest}: {r}"))
        })
        .collect();
    assert!(
        refused.is_empty(),
        "release signatures refused: {refused:#?}"
    );

    let mut not_for_identity = Vec::new();
    for (digest, layer) in &per_repo {
        match v.verify_image(std::slice::from_ref(layer), digest, &policy) {
            Ok(ok) => not_for_identity.push(format!("{digest}: accepted as {}", ok.signer)),
            Err(r) if r.reason.contains("refused at identity: subject mismatch") => {}
            Err(r) => not_for_identity.push(format!("{digest}: {r}")),
        }
        // The same record passes under its own identity: refused for
        // identity only, never for its cryptography.
        let own = LegacyPolicy::Keyless {
            signer: trustswap::verify::legacy::Signer::Uri(
                "https://github.com/chainguard-images/hello-world/.github/workflows/release.yaml@refs/heads/main".into(),
            ),
            issuer: Some(GHA.into()),
            require_sct: true,
            require_tlog: true,
        };
        if let Err(r) = v.verify_image(std::slice::from_ref(layer), digest, &own) {
            not_for_identity.push(format!("{digest} under its own identity: {r}"));
        }
    }
    assert!(
        not_for_identity.is_empty(),
        "per-repository signatures not refused for identity alone: {not_for_identity:#?}"
    );
}

/// `trustswap verify-signature` on one record unpacked into files, as a user
/// checks one from the command line (README "Check a real signature").
#[test]
fn verify_signature_checks_a_chainguard_record_from_its_files() {
    let root = common::realworld();
    let trusted = root
        .join("trust/sigstore-public-good/trusted_root.json")
        .display()
        .to_string();
    let ex = root.join("vendors/chainguard/example-php-logindex-14311171");
    let f = |n: &str| ex.join(n).display().to_string();
    let meta: serde_json::Value =
        serde_json::from_slice(&read(&ex.join("meta.json"))).expect("meta");
    let digest = meta["signed_digest"].as_str().expect("digest").to_owned();
    let run = |digest: &str, extra: &[&str]| {
        let mut args = vec!["verify-signature", digest, "--payload"];
        let (p, s, c, b) = (
            f("payload.json"),
            f("signature.b64"),
            f("cert.pem"),
            f("bundle.json"),
        );
        let owned = [p, s, c, b, trusted.clone()];
        args.push(&owned[0]);
        args.extend(["--signature", &owned[1], "--certificate", &owned[2]]);
        args.extend(["--rekor-bundle", &owned[3], "--trusted-root", &owned[4]]);
        args.extend_from_slice(extra);
        let o = common::trustswap(&args);
        (
            o.status.code(),
            common::text(&o.stdout) + &common::text(&o.stderr),
        )
    };
    let (code, out) = run(&digest, &["--vendor", "chainguard"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("signed by https://github.com/chainguard-images/images/.github/workflows/release.yaml@refs/heads/main"),
        "{out}"
    );
    // Another vendor's identity, and another image's digest, are refused.
    let (code, out) = run(&digest, &["--vendor", "distroless"]);
    assert_eq!(code, Some(1), "{out}");
    let other = format!("sha256:{}", "0".repeat(64));
    let (code, out) = run(&other, &["--vendor", "chainguard"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("refused at"), "{out}");
    // Not a digest: bad input.
    assert_eq!(run("latest", &["--vendor", "chainguard"]).0, Some(2));
}

/// `rekor.ignoreTlog` without `ctlog.ignoreSCT`: nothing dates the signature
/// but the verification time, and the embedded SCT is still checked against
/// the trust root's CT logs, as cosign checks it whatever the log
/// (`pkg/cosign/verify.go:405-420`).
#[test]
fn an_sct_is_checked_when_the_log_is_ignored() {
    let (digest, layer) = chainguard_layers("php-monorepo-identity.jsonl").remove(0);
    let bundle: serde_json::Value =
        serde_json::from_str(&layer.annotations[ANN_BUNDLE]).expect("bundle");
    let logged = bundle["Payload"]["integratedTime"].as_i64().expect("time");
    let policy = |require_sct| {
        LegacyPolicy::Keyless {
        signer: Signer::Uri(
            "https://github.com/chainguard-images/images/.github/workflows/release.yaml@refs/heads/main"
                .into(),
        ),
        issuer: Some(GHA.into()),
        require_sct,
        require_tlog: false,
    }
    };
    let root = common::realworld().join("trust/sigstore-public-good/trusted_root.json");
    let trust = TrustMaterial::from_file(&root).expect("trust");
    // Verified while the certificate is valid: the SCT verifies.
    let v = LegacyVerifier::new(trust.clone(), logged).expect("verifier");
    let ok = v
        .verify_image(std::slice::from_ref(&layer), &digest, &policy(true))
        .expect("the SCT verifies without the log");
    assert!(ok.sct_verified);
    // Against a root whose CT logs are another instance's: refused at sct.
    let mut other = trust.clone();
    other.ctlogs = TrustMaterial::from_file(
        &common::realworld().join("trust/sigstore-staging/trusted_root.json"),
    )
    .expect("staging")
    .ctlogs;
    let v = LegacyVerifier::new(other.clone(), logged).expect("verifier");
    let refusal = v
        .verify_image(std::slice::from_ref(&layer), &digest, &policy(true))
        .expect_err("no trusted CT log signed the SCT");
    assert!(refusal.to_string().contains("refused at sct"), "{refusal}");
    // ctlog.ignoreSCT: the same signature verifies.
    assert!(
        v.verify_image(std::slice::from_ref(&layer), &digest, &policy(false))
            .is_ok()
    );
}
