//! The lab fixtures pushed to a real registry (Debian's `docker-registry`,
//! started on 127.0.0.1 at a free port) verify with the same verdicts as from
//! the OCI layout. CI installs the package; a missing binary fails loudly.

mod common;

use trustswap::lab_cli::{LAB_NOW, init, layout_dir};
use trustswap::supply::lab::ca::San;
use trustswap::supply::lab::fixtures::{Expect, Fixture, PolicySpec};
use trustswap::supply::oci::Layout;
use trustswap::supply::registry::{LocalRegistry, Registry};
use trustswap::supply::store::Store;
use trustswap::verify::identity::{IdentityRule, Pattern};
use trustswap::verify::image::{ImageVerifier, SignerPolicy};
use trustswap::verify::trust::TrustMaterial;

fn policy(f: &Fixture) -> SignerPolicy {
    match &f.policy {
        PolicySpec::Key {
            public_key_pem,
            require_tlog,
        } => SignerPolicy::Key {
            public_key_pem: public_key_pem.clone(),
            require_tlog: *require_tlog,
        },
        PolicySpec::Keyless {
            san,
            issuer,
            require_sct,
        } => SignerPolicy::Keyless {
            rule: IdentityRule {
                subject: Pattern::Wildcard(match san {
                    San::Uri(s) | San::Email(s) => s.clone(),
                }),
                issuer: Some(Pattern::Wildcard(issuer.clone())),
            },
            require_sct: *require_sct,
        },
    }
}

type Verdicts = (String, Result<String, String>, Result<String, String>);

/// (signature verdict, SBOM verdict) per fixture: Ok(signer) or Err(refusal stage).
fn verdicts(store: &dyn Store, trust: &TrustMaterial, fixtures: &[Fixture]) -> Vec<Verdicts> {
    let v = ImageVerifier::new(store, trust, LAB_NOW).expect("verifier");
    fixtures
        .iter()
        .map(|f| {
            let repo =
                (f.signature_repository != f.repository).then_some(f.signature_repository.as_str());
            let p = policy(f);
            let sig = v
                .signature(&f.image_ref, repo, &p)
                .map(|e| e.signer)
                .map_err(|r| r.stage.to_owned());
            let sbom = match f.sbom_predicate_types.first() {
                Some(t) => v
                    .attestation(&f.image_ref, repo, t, &p)
                    .map(|e| e.signer)
                    .map_err(|r| r.stage.to_owned()),
                None => Err("no sbom type".into()),
            };
            (f.image_ref.clone(), sig, sbom)
        })
        .collect()
}

#[test]
fn fixtures_verify_alike_from_the_layout_and_a_real_registry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = dir.path().join("lab");
    let (catalogue, _lock) = init(&lab, 7).expect("lab init");
    let trust = TrustMaterial::from_file(&lab.join("trusted_root.json")).expect("trust");
    let layout = Layout::open(layout_dir(&lab)).expect("layout");

    let from_layout = verdicts(&layout, &trust, &catalogue.fixtures);
    for (f, (image, sig, sbom)) in catalogue.fixtures.iter().zip(&from_layout) {
        assert_eq!(
            sig.is_ok(),
            matches!(f.expect_signature, Expect::Accept),
            "{image} signature: {sig:?}"
        );
        assert_eq!(
            sbom.is_ok(),
            matches!(f.expect_sbom, Expect::Accept),
            "{image} sbom: {sbom:?}"
        );
    }

    let registry_dir = tempfile::tempdir().expect("tempdir");
    let local = LocalRegistry::start(registry_dir.path())
        .unwrap_or_else(|e| panic!("{e} (CI installs docker-registry)"));
    let registry = Registry::connect(&local.host).expect("connect");
    let pushed = registry.push_layout(&layout).expect("push");
    assert!(pushed.tags >= catalogue.fixtures.len(), "{pushed:?}");
    assert!(
        pushed.referrers >= 3,
        "self-built bundles are referrers: {pushed:?}"
    );

    let from_registry = verdicts(&registry, &trust, &catalogue.fixtures);
    assert_eq!(
        from_layout,
        from_registry,
        "identical verdicts from the layout and from {}",
        registry.describe()
    );
}

#[test]
fn a_registry_that_serves_wrong_bytes_is_an_error_not_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    let local = LocalRegistry::start(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let registry = Registry::connect(&local.host).expect("connect");
    let missing: trustswap::supply::oci::Digest =
        "sha256:1111111111111111111111111111111111111111111111111111111111111111"
            .parse()
            .expect("digest");
    assert!(registry.blob("nothing/here", &missing).is_err());
    assert!(
        registry
            .resolve("nothing/here", "latest")
            .expect("a missing tag is not an error")
            .is_none()
    );
}

/// skopeo (containers/image) reads the lab's layout: every vendor's good
/// fixture resolves to the digest the catalogue records.
#[test]
fn skopeo_reads_the_lab_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = dir.path().join("lab");
    let (catalogue, _lock) = init(&lab, 0).expect("lab init");
    for f in catalogue.fixtures.iter().filter(|f| {
        serde_json::to_value(f.variant)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .as_deref()
            == Some("good")
    }) {
        let target = format!("oci:{}:{}", layout_dir(&lab).display(), f.image_ref);
        let out = std::process::Command::new("skopeo")
            .args(["inspect", "--raw", &target])
            .output()
            .unwrap_or_else(|e| {
                panic!("skopeo is not installed ({e}): apt-get install skopeo (CI installs it)")
            });
        assert!(
            out.status.success(),
            "{target}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            trustswap::supply::oci::Digest::of(&out.stdout).to_string(),
            f.image_digest,
            "{target}"
        );
    }
}
