//! `cargo bench --bench supply`: keyless legacy-signature verifications per
//! second on one core (target >= 2,000/s in release), and the time to build
//! the whole lab: Sigstore, every vendor fixture and adversarial variant
//! (target < 2 s).

use std::collections::BTreeMap;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trustswap::lab_cli::{LAB_NOW, init, layout_dir};
use trustswap::supply::lab::{Lab, LabConfig, build_all};
use trustswap::supply::oci::Layout;
use trustswap::supply::oci::spec::ImageManifest;
use trustswap::supply::store::Store;
use trustswap::verify::identity::{IdentityRule, Pattern};
use trustswap::verify::image::{ImageVerifier, SignerPolicy};
use trustswap::verify::legacy::{LegacyLayer, LegacyPolicy, LegacyVerifier, Signer};
use trustswap::verify::trust::TrustMaterial;

const IMAGE: &str = "cgr.dev/chainguard/static:latest";
const SUBJECT: &str =
    "https://github.com/chainguard-images/images/.github/workflows/release.yaml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = dir.path().join("lab");
    init(
        &lab,
        0,
        &trustswap::supply::lab::shipped_vendors().expect("shipped vendors"),
    )
    .expect("lab");
    let trust = TrustMaterial::from_file(&lab.join("trusted_root.json")).expect("trust");
    let layout = Layout::open(layout_dir(&lab)).expect("layout");

    // The layers of the good Chainguard fixture's `.sig`, fetched once.
    let digest = layout.resolve(IMAGE).expect("image").digest;
    let (_, sig) = Store::resolve(
        &layout,
        "cgr.dev/chainguard/static",
        &format!("sha256-{}.sig", digest.hex()),
    )
    .expect("sig")
    .expect("sig tag");
    let manifest: ImageManifest = serde_json::from_slice(&sig).expect("manifest");
    let layers: Vec<LegacyLayer> = manifest
        .layers
        .iter()
        .map(|l| LegacyLayer {
            payload: layout.get_blob(&l.digest).expect("blob"),
            annotations: l
                .annotations
                .clone()
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
        })
        .collect();
    let legacy = LegacyVerifier::new(trust.clone(), LAB_NOW).expect("verifier");
    let policy = LegacyPolicy::Keyless {
        signer: Signer::Uri(SUBJECT.into()),
        issuer: Some(ISSUER.into()),
        require_sct: true,
        require_tlog: true,
    };
    assert!(
        legacy
            .verify_image(&layers, &digest.to_string(), &policy)
            .is_ok()
    );

    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(1));
    g.bench_function(
        "keyless legacy signature (chain, SET, body, SCT, identity)",
        |b| {
            b.iter(|| {
                legacy
                    .verify_image(&layers, &digest.to_string(), &policy)
                    .expect("verifies")
            })
        },
    );
    let verifier = ImageVerifier::new(&layout, &trust, LAB_NOW).expect("verifier");
    let rule = SignerPolicy::Keyless {
        rule: IdentityRule {
            subject: Pattern::Wildcard(SUBJECT.into()),
            issuer: Some(Pattern::Wildcard(ISSUER.into())),
        },
        require_sct: true,
        require_tlog: true,
    };
    g.bench_function(
        "keyless image signature from the layout (resolve + fetch + verify)",
        |b| b.iter(|| verifier.signature(IMAGE, None, &rule).expect("verifies")),
    );
    g.finish();

    let mut g = c.benchmark_group("lab");
    g.sample_size(10);
    g.bench_function(
        "build all fixtures (lab Sigstore + 43 fixtures into a layout)",
        |b| {
            b.iter_batched(
                || tempfile::tempdir().expect("tempdir"),
                |d| {
                    let mut lab = Lab::new(LabConfig {
                        seed: 0,
                        now: LAB_NOW,
                    })
                    .expect("lab");
                    let mut layout = Layout::create(d.path().join("layout")).expect("layout");
                    build_all(
                        &mut lab,
                        &mut layout,
                        &trustswap::supply::lab::shipped_vendors().expect("shipped vendors"),
                    )
                    .expect("fixtures")
                },
                criterion::BatchSize::PerIteration,
            )
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
