//! The lab's TUF repository (issue 14): Kyverno's ImageValidatingPolicy reads
//! its trust root through TUF, so the lab publishes its trusted_root.json as a
//! TUF target and the lab-trust policies carry `tuf.mirror` and `tuf.root`,
//! trust-root fields that keep the substitution claim holding.

use crate::common;

use base64::Engine as _;
use sha2::Digest as _;
use trustswap::check::diff_paths;
use trustswap::diff::Class;
use trustswap::policy::Engine;
use trustswap::policy::kyverno::ivpol::{Tuf, TufRoot};
use trustswap::policy::render::{TrustOverrides, render_with};

#[test]
fn the_lab_publishes_its_trusted_root_through_tuf() {
    let t = tempfile::tempdir().expect("test step");
    let lab = t.path().join("lab");
    let (_catalogue, _lock) = trustswap::lab_cli::init(
        &lab,
        3,
        &trustswap::supply::lab::shipped_vendors().expect("shipped vendors"),
    )
    .expect("lab");
    let tuf = lab.join("tuf");
    let root: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tuf.join("root.json")).expect("test step"))
            .expect("test step");
    assert_eq!(root["signed"]["_type"], "root");
    assert_eq!(root["signed"]["consistent_snapshot"], true);
    assert_eq!(root["signatures"].as_array().expect("test step").len(), 1);
    let trusted = std::fs::read(lab.join("trusted_root.json")).expect("test step");
    let digest = hex::encode(sha2::Sha256::digest(&trusted));
    assert_eq!(
        std::fs::read(tuf.join(format!("targets/{digest}.trusted_root.json"))).expect("test step"),
        trusted,
        "the TUF target is the lab's trusted root"
    );
    let targets: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tuf.join("1.targets.json")).expect("test step"))
            .expect("test step");
    assert_eq!(
        targets["signed"]["targets"]["trusted_root.json"]["hashes"]["sha256"],
        digest.as_str()
    );
}

#[test]
fn tuf_settings_are_trust_root_class() {
    let contract = common::contract();
    let vendor = common::vendor("chainguard");
    let with = |mirror: &str, root: &[u8]| {
        let trust = TrustOverrides {
            tuf: Some(Tuf {
                mirror: Some(mirror.into()),
                root: Some(TufRoot {
                    path: None,
                    data: Some(base64::engine::general_purpose::STANDARD.encode(root)),
                }),
            }),
            ..TrustOverrides::default()
        };
        render_with(&contract, &vendor, Engine::Ivpol, &trust).expect("render")
    };
    let a = with("http://127.0.0.1:1/tuf", b"{\"a\":1}");
    let b = with("http://127.0.0.1:2/tuf", b"{\"b\":2}");
    let text = serde_json::to_string(&a.documents[0].value).expect("test step");
    assert!(
        text.contains("\"tuf\"") && text.contains("\"mirror\""),
        "{text}"
    );
    let cmp = diff_paths(&a, &b);
    assert!(!cmp.differences.is_empty());
    assert!(
        cmp.differences.iter().all(|d| d.class == Class::TrustRoot),
        "{:?}",
        cmp.differences
    );
    assert!(cmp.verdict.holds());
}
