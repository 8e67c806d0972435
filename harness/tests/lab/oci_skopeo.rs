//! Interop with containers/image via the real `skopeo` binary.
//!
//! This test never installs anything. If `skopeo` is not on PATH it FAILS
//! (CI installs it with `apt-get install skopeo`).
#![allow(clippy::unwrap_used)] // test helpers: a failed setup step should panic

use crate::oci_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use trustswap::supply::oci::{Layout, build_and_tag, build_image};

fn skopeo() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("skopeo"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "skopeo is not on PATH; this interop test needs it: run `apt-get install skopeo` \
                 (CI installs it)"
            )
        })
}

fn run(args: &[&str]) -> Vec<u8> {
    let out = Command::new(skopeo())
        .args(args)
        .output()
        .expect("spawn skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn oci(dir: &Path, reference: &str) -> String {
    let dir = dir.to_str().expect("utf-8 temp dir");
    // containers/image splits `oci:DIR:REF` at the first colon.
    assert!(
        !dir.contains(':'),
        "layout dir must not contain ':' for skopeo"
    );
    format!("oci:{dir}:{reference}")
}

#[test]
fn skopeo_inspects_fixture_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("layout");
    let mut layout = Layout::create(&dir).unwrap();
    let refs = [
        ("cgr.dev/chainguard/static:latest", oci_common::apk_recipe()),
        (
            "docker.io/library/debian:12-slim",
            oci_common::dpkg_recipe(),
        ),
        ("localhost:5000/team/app:v1.0.0", oci_common::apk_recipe()),
    ];
    for (i, (r, recipe)) in refs.iter().enumerate() {
        build_and_tag(&mut layout, recipe, i as u64, r).unwrap();
    }
    // A referrer in index.json (untagged) must not confuse skopeo.
    let subject = layout.resolve(refs[0].0).unwrap();
    layout
        .attach(
            &subject,
            "application/spdx+json",
            &[("application/spdx+json", b"{}")],
            BTreeMap::new(),
        )
        .unwrap();

    for (i, (r, recipe)) in refs.iter().enumerate() {
        let want = layout.resolve(r).unwrap();
        let built = build_image(recipe, i as u64).unwrap();
        let out = run(&["inspect", &oci(&dir, r)]);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["Digest"], want.digest.to_string(), "digest of {r}");
        assert_eq!(v["Architecture"], "amd64");
        assert_eq!(v["Os"], "linux");
        assert_eq!(v["Layers"][0], built.layer.digest.to_string());
        let raw = run(&["inspect", "--raw", &oci(&dir, r)]);
        assert_eq!(raw, built.manifest_bytes, "raw manifest of {r}");
    }

    // A short ref is not how this store names things: skopeo must not find it.
    let out = Command::new(skopeo())
        .args(["inspect", &oci(&dir, "latest")])
        .output()
        .unwrap();
    assert!(!out.status.success());

    // skopeo copy verifies every blob digest; the layout it writes opens here.
    let copy_dir = tmp.path().join("copy");
    let r = refs[1].0;
    run(&[
        "--insecure-policy",
        "copy",
        &oci(&dir, r),
        &oci(&copy_dir, r),
    ]);
    let copied = Layout::open(&copy_dir).unwrap();
    assert_eq!(
        copied.resolve(r).unwrap().digest,
        layout.resolve(r).unwrap().digest
    );
    let content =
        trustswap::supply::oci::read_package_db(&copied, &copied.resolve(r).unwrap()).unwrap();
    assert_eq!(content.packages.len(), refs[1].1.packages.len());
}
