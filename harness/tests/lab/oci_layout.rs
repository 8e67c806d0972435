#![allow(clippy::unwrap_used)] // test helpers: a failed setup step should panic
use crate::oci_common;

use std::collections::BTreeMap;
use std::fs;

use trustswap::supply::oci::spec::{MEDIA_TYPE_IMAGE_INDEX, MEDIA_TYPE_IMAGE_MANIFEST};
use trustswap::supply::oci::{Digest, Layout, LayoutError, build_and_tag, build_image};

const STATIC: &str = "cgr.dev/chainguard/static:latest";
const DEBIAN: &str = "docker.io/library/debian:12-slim";

fn populated() -> (tempfile::TempDir, Layout) {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::create(dir.path()).unwrap();
    build_and_tag(&mut layout, &oci_common::apk_recipe(), 1, STATIC).unwrap();
    build_and_tag(&mut layout, &oci_common::dpkg_recipe(), 1, DEBIAN).unwrap();
    (dir, layout)
}

#[test]
fn create_writes_spec_files() {
    let dir = tempfile::tempdir().unwrap();
    Layout::create(dir.path()).unwrap();
    let marker: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("oci-layout")).unwrap()).unwrap();
    assert_eq!(marker, serde_json::json!({"imageLayoutVersion": "1.0.0"}));
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], MEDIA_TYPE_IMAGE_INDEX);
    assert!(dir.path().join("blobs/sha256").is_dir());
    // A second create must not clobber it.
    let err = Layout::create(dir.path()).unwrap_err();
    assert!(matches!(err, LayoutError::AlreadyExists { .. }), "{err}");
}

#[test]
fn round_trip_through_reopen() {
    let (dir, layout) = populated();
    let static_desc = layout.resolve(STATIC).unwrap();
    let reopened = Layout::open(dir.path()).unwrap();
    assert_eq!(reopened.resolve(STATIC).unwrap(), static_desc);
    assert_eq!(
        reopened.repositories(),
        vec!["cgr.dev/chainguard/static", "docker.io/library/debian"]
    );
    assert_eq!(
        reopened.list_tags("cgr.dev/chainguard/static"),
        vec!["latest"]
    );
    assert!(reopened.list_tags("nope/nope").is_empty());
    // Blob round trip with verification.
    let d = reopened.put_blob(b"hello").unwrap();
    assert_eq!(reopened.get_blob(&d).unwrap(), b"hello");
    // index.json names the full reference.
    let index = fs::read_to_string(dir.path().join("index.json")).unwrap();
    assert!(
        index.contains(
            "\"org.opencontainers.image.ref.name\": \"cgr.dev/chainguard/static:latest\""
        )
    );
    // No temporary files are left behind.
    for entry in fs::read_dir(dir.path().join("blobs/sha256")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(!name.starts_with('.'), "leftover temp file {name}");
    }
}

#[test]
fn index_json_is_sorted_and_insertion_order_independent() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let img1 = build_image(&oci_common::apk_recipe(), 1).unwrap();
    let img2 = build_image(&oci_common::dpkg_recipe(), 1).unwrap();
    let refs = [
        ("z.example/a/b:1", &img1),
        ("a.example/x:latest", &img2),
        ("a.example/x:0.1", &img1),
    ];
    let mut la = Layout::create(a.path()).unwrap();
    for (r, img) in refs {
        let d = img.store(&mut la).unwrap();
        la.tag(r, &d).unwrap();
    }
    let mut lb = Layout::create(b.path()).unwrap();
    for (r, img) in refs.iter().rev() {
        let d = img.store(&mut lb).unwrap();
        lb.tag(r, &d).unwrap();
    }
    let ia = fs::read(a.path().join("index.json")).unwrap();
    assert_eq!(ia, fs::read(b.path().join("index.json")).unwrap());
    let names: Vec<String> = la.references().iter().map(|r| r.to_string()).collect();
    assert_eq!(
        names,
        vec!["a.example/x:0.1", "a.example/x:latest", "z.example/a/b:1"]
    );
}

#[test]
fn corrupt_blob_is_named_in_open_error() {
    let (dir, layout) = populated();
    let desc = layout.resolve(STATIC).unwrap();
    let path = layout.blob_path(&desc.digest);
    fs::write(&path, b"tampered").unwrap();
    let err = Layout::open(dir.path()).unwrap_err();
    assert!(matches!(err, LayoutError::DigestMismatch { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains(&desc.digest.to_string()), "{msg}");
    assert!(msg.contains(&Digest::of(b"tampered").to_string()), "{msg}");
    // get_blob on an already-open layout verifies too.
    let err = layout.get_blob(&desc.digest).unwrap_err();
    assert!(matches!(err, LayoutError::DigestMismatch { .. }), "{err:?}");
}

#[test]
fn missing_index_json_is_named() {
    let (dir, _layout) = populated();
    let path = dir.path().join("index.json");
    fs::remove_file(&path).unwrap();
    let err = Layout::open(dir.path()).unwrap_err();
    assert!(matches!(err, LayoutError::MissingIndex { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("index.json"), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

#[test]
fn broken_index_json_is_named() {
    let (dir, _layout) = populated();
    let path = dir.path().join("index.json");
    fs::write(&path, b"{\"schemaVersion\": 2, \"manifests\": [").unwrap();
    let err = Layout::open(dir.path()).unwrap_err();
    assert!(matches!(err, LayoutError::InvalidJson { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("parse index.json at "), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

#[test]
fn broken_manifest_json_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::create(dir.path()).unwrap();
    let desc = build_and_tag(&mut layout, &oci_common::apk_recipe(), 1, STATIC).unwrap();
    // Replace the manifest with non-JSON under a *matching* name, so only the
    // JSON check can catch it.
    let garbage = b"not json".to_vec();
    let gd = layout.put_blob(&garbage).unwrap();
    let mut index: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"] = serde_json::json!(gd.to_string());
    index["manifests"][0]["size"] = serde_json::json!(garbage.len());
    fs::write(
        dir.path().join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let err = Layout::open(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, LayoutError::InvalidJson { .. }), "{err:?}");
    assert!(msg.contains(&format!("manifest {gd}")), "{msg}");
    assert!(msg.contains(gd.hex()), "{msg}");
    assert_ne!(gd, desc.digest);
}

#[test]
fn missing_marker_duplicate_ref_and_missing_blob() {
    let (dir, layout) = populated();
    // Missing referenced layer blob.
    let desc = layout.resolve(DEBIAN).unwrap();
    let trustswap::supply::oci::Document::Manifest(m) = layout.get_manifest(&desc).unwrap() else {
        panic!("not a manifest")
    };
    let layer_path = layout.blob_path(&m.layers[0].digest);
    let saved = fs::read(&layer_path).unwrap();
    fs::remove_file(&layer_path).unwrap();
    let err = Layout::open(dir.path()).unwrap_err();
    assert!(matches!(err, LayoutError::MissingBlob { .. }), "{err:?}");
    assert!(err.to_string().contains(&m.layers[0].digest.to_string()));
    fs::write(&layer_path, saved).unwrap();
    Layout::open(dir.path()).unwrap();

    // Duplicate ref name.
    let index_path = dir.path().join("index.json");
    let original = fs::read(&index_path).unwrap();
    let mut index: serde_json::Value = serde_json::from_slice(&original).unwrap();
    let first = index["manifests"][0].clone();
    index["manifests"].as_array_mut().unwrap().push(first);
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let err = Layout::open(dir.path()).unwrap_err();
    assert!(matches!(err, LayoutError::DuplicateRef { .. }), "{err:?}");
    fs::write(&index_path, original).unwrap();

    // Missing oci-layout.
    fs::remove_file(dir.path().join("oci-layout")).unwrap();
    let err = Layout::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("oci-layout"), "{err}");
}

#[test]
fn tag_move_untag_and_rename() {
    let (dir, mut layout) = populated();
    let old = layout.resolve(STATIC).unwrap();
    let newer = build_image(&oci_common::apk_recipe(), 2).unwrap();
    let new_desc = newer.store(&mut layout).unwrap();
    assert_ne!(old.digest, new_desc.digest);

    let prev = layout.move_tag(STATIC, &new_desc).unwrap();
    assert_eq!(prev.digest, old.digest);
    assert_eq!(layout.resolve(STATIC).unwrap().digest, new_desc.digest);
    assert_eq!(
        Layout::open(dir.path())
            .unwrap()
            .resolve(STATIC)
            .unwrap()
            .digest,
        new_desc.digest
    );

    // Moving a tag that does not exist fails, naming ref and index.json.
    let err = layout
        .move_tag("cgr.dev/chainguard/static:nope", &new_desc)
        .unwrap_err();
    assert!(matches!(err, LayoutError::RefNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("cgr.dev/chainguard/static:nope"));
    assert!(err.to_string().contains("index.json"));

    // Keep the old one under another tag, then rename.
    layout.tag("cgr.dev/chainguard/static:old", &old).unwrap();
    layout
        .rename_tag(
            "cgr.dev/chainguard/static:old",
            "cgr.dev/chainguard/static:previous",
        )
        .unwrap();
    assert_eq!(
        layout.list_tags("cgr.dev/chainguard/static"),
        vec!["latest", "previous"]
    );
    let err = layout
        .rename_tag("cgr.dev/chainguard/static:previous", STATIC)
        .unwrap_err();
    assert!(matches!(err, LayoutError::TagExists { .. }), "{err:?}");

    let removed = layout.untag("cgr.dev/chainguard/static:previous").unwrap();
    assert_eq!(removed.digest, old.digest);
    assert!(
        layout
            .resolve("cgr.dev/chainguard/static:previous")
            .is_err()
    );
    assert!(layout.untag("cgr.dev/chainguard/static:previous").is_err());
    assert_eq!(
        layout.list_tags("cgr.dev/chainguard/static"),
        vec!["latest"]
    );
    // Blobs are not garbage collected.
    assert!(layout.has_blob(&old.digest));
    Layout::open(dir.path()).unwrap();
}

#[test]
fn tag_rejects_bad_input() {
    let (_dir, mut layout) = populated();
    let desc = layout.resolve(STATIC).unwrap();
    assert!(layout.tag("no-tag", &desc).is_err());
    assert!(layout.tag("Upper/Case:1", &desc).is_err());
    let mut missing = desc.clone();
    missing.digest = Digest::of(b"absent");
    let err = layout.tag("x/y:1", &missing).unwrap_err();
    assert!(matches!(err, LayoutError::MissingBlob { .. }), "{err:?}");
    let mut wrong_size = desc.clone();
    wrong_size.size += 1;
    let err = layout.tag("x/y:1", &wrong_size).unwrap_err();
    assert!(matches!(err, LayoutError::SizeMismatch { .. }), "{err:?}");
}

#[test]
fn put_manifest_validates() {
    let (_dir, mut layout) = populated();
    let err = layout.put_manifest("text/plain", b"{}").unwrap_err();
    assert!(
        matches!(err, LayoutError::UnsupportedMediaType { .. }),
        "{err:?}"
    );
    let err = layout
        .put_manifest(MEDIA_TYPE_IMAGE_MANIFEST, b"{oops")
        .unwrap_err();
    assert!(
        matches!(err, LayoutError::InvalidManifest { .. }),
        "{err:?}"
    );
    let idx = serde_json::json!({
        "schemaVersion": 2, "mediaType": MEDIA_TYPE_IMAGE_INDEX, "manifests": []
    });
    let err = layout
        .put_manifest(
            MEDIA_TYPE_IMAGE_MANIFEST,
            &serde_json::to_vec(&idx).unwrap(),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            LayoutError::InvalidManifest { .. } | LayoutError::MediaTypeMismatch { .. }
        ),
        "{err:?}"
    );
    // Manifest pointing at an absent layer.
    let img = build_image(&oci_common::apk_recipe(), 99).unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let mut fresh = Layout::create(dir2.path()).unwrap();
    let err = fresh
        .put_manifest(MEDIA_TYPE_IMAGE_MANIFEST, &img.manifest_bytes)
        .unwrap_err();
    assert!(matches!(err, LayoutError::MissingBlob { .. }), "{err:?}");
}

#[test]
fn image_index_can_be_tagged_and_children_have_referrers() {
    let (dir, mut layout) = populated();
    let child = layout.resolve(DEBIAN).unwrap();
    let idx = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_IMAGE_INDEX,
        "manifests": [{
            "mediaType": child.media_type, "digest": child.digest, "size": child.size,
            "platform": {"architecture": "amd64", "os": "linux"}
        }]
    });
    let idx_desc = layout
        .put_manifest(MEDIA_TYPE_IMAGE_INDEX, &serde_json::to_vec(&idx).unwrap())
        .unwrap();
    layout.tag("example.com/multi:1", &idx_desc).unwrap();
    let sig = layout
        .attach(
            &child,
            "application/vnd.dev.cosign.artifact.sig.v1+json",
            &[],
            BTreeMap::new(),
        )
        .unwrap();
    // The child belongs to example.com/multi through the index.
    let found = layout
        .referrers("example.com/multi", &child.digest)
        .unwrap();
    assert_eq!(
        found.iter().map(|d| &d.digest).collect::<Vec<_>>(),
        vec![&sig.digest]
    );
    Layout::open(dir.path()).unwrap();
}

#[test]
fn referrers_lookup() {
    let (dir, mut layout) = populated();
    let image = layout.resolve(STATIC).unwrap();
    let mut ann = BTreeMap::new();
    ann.insert(
        "org.opencontainers.image.created".to_owned(),
        "1970-01-01T00:00:00Z".to_owned(),
    );
    let sbom = layout
        .attach(
            &image,
            "application/spdx+json",
            &[("application/spdx+json", b"{\"spdxVersion\":\"SPDX-2.3\"}")],
            ann.clone(),
        )
        .unwrap();
    let sig = layout
        .attach(
            &image,
            "application/vnd.dev.sigstore.bundle.v0.3+json",
            &[],
            BTreeMap::new(),
        )
        .unwrap();
    // A referrer of the SBOM (e.g. an attestation about the SBOM).
    let att = layout
        .attach(&sbom, "application/vnd.in-toto+json", &[], BTreeMap::new())
        .unwrap();

    let mut expected = vec![sbom.digest.clone(), sig.digest.clone()];
    expected.sort();
    let found = layout
        .referrers("cgr.dev/chainguard/static", &image.digest)
        .unwrap();
    assert_eq!(
        found.iter().map(|d| d.digest.clone()).collect::<Vec<_>>(),
        expected
    );
    let sbom_entry = found.iter().find(|d| d.digest == sbom.digest).unwrap();
    assert_eq!(
        sbom_entry.artifact_type.as_deref(),
        Some("application/spdx+json")
    );
    assert_eq!(sbom_entry.annotations, ann);

    // Transitive: referrers of the SBOM are in the repo too.
    let found = layout
        .referrers("cgr.dev/chainguard/static", &sbom.digest)
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].digest, att.digest);

    // Scoped by repository; unknown digests give an empty list.
    assert!(
        layout
            .referrers("docker.io/library/debian", &image.digest)
            .unwrap()
            .is_empty()
    );
    assert!(
        layout
            .referrers("cgr.dev/chainguard/static", &Digest::of(b"unknown"))
            .unwrap()
            .is_empty()
    );

    // Survives reopen; untagged entries are in index.json without ref names.
    let reopened = Layout::open(dir.path()).unwrap();
    assert_eq!(
        reopened
            .referrers("cgr.dev/chainguard/static", &image.digest)
            .unwrap()
            .len(),
        2
    );
    let untagged = reopened
        .index()
        .manifests
        .iter()
        .filter(|d| d.ref_name().is_none())
        .count();
    assert_eq!(untagged, 3);

    // Tagging a referrer and removing the tag keeps it discoverable.
    layout
        .tag("cgr.dev/chainguard/static:sha256-sig", &sig)
        .unwrap();
    layout
        .untag("cgr.dev/chainguard/static:sha256-sig")
        .unwrap();
    assert_eq!(
        layout
            .referrers("cgr.dev/chainguard/static", &image.digest)
            .unwrap()
            .len(),
        2
    );
}

/// Runs `f` on a thread and fails the test if it has not returned within
/// `secs` (a hang fails instead of blocking the suite).
fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("{what}: still running after {secs} s"))
}

fn mkfifo(path: &std::path::Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

/// What a hostile layout can put where a file should be.
#[derive(Clone, Copy, Debug)]
enum Trap {
    Fifo,
    DevZero,
}

impl Trap {
    fn plant(self, path: &std::path::Path) {
        let _ = fs::remove_file(path);
        match self {
            Trap::Fifo => mkfifo(path),
            Trap::DevZero => std::os::unix::fs::symlink("/dev/zero", path).unwrap(),
        }
    }
}

#[test]
fn fifo_and_dev_zero_layout_files_are_refused_promptly() {
    let (dir, layout) = populated();
    let blob = layout.blob_path(&layout.resolve(STATIC).unwrap().digest);
    let files = [
        blob,
        dir.path().join("index.json"),
        dir.path().join("oci-layout"),
    ];
    for path in files {
        let saved = fs::read(&path).unwrap();
        for trap in [Trap::Fifo, Trap::DevZero] {
            trap.plant(&path);
            let root = dir.path().to_path_buf();
            let err = within(
                10,
                &format!("open with {trap:?} at {}", path.display()),
                move || Layout::open(root),
            )
            .unwrap_err();
            assert!(
                matches!(err, LayoutError::Unreadable { .. }) && err.is_fault(),
                "{trap:?}: {err:?}"
            );
            let msg = err.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains("not a regular file"), "{msg}");
        }
        fs::remove_file(&path).unwrap();
        fs::write(&path, saved).unwrap();
    }
    Layout::open(dir.path()).unwrap();

    // An already open layout refuses too, when the file is swapped later.
    let desc = layout.resolve(STATIC).unwrap();
    let path = layout.blob_path(&desc.digest);
    Trap::DevZero.plant(&path);
    let err = within(10, "get_blob_checked of /dev/zero", move || {
        layout.get_blob_checked(&desc)
    })
    .unwrap_err();
    assert!(matches!(err, LayoutError::Unreadable { .. }), "{err:?}");
}

#[test]
fn a_manifest_over_its_size_limit_is_refused() {
    use trustswap::supply::oci::layout::MAX_MANIFEST_BYTES;
    let (dir, mut layout) = populated();
    let config = layout.resolve(STATIC).unwrap();
    let trustswap::supply::oci::Document::Manifest(m) = layout.get_manifest(&config).unwrap()
    else {
        panic!("not a manifest")
    };
    // A valid manifest, padded past the limit with an annotation.
    let padding = "x".repeat(MAX_MANIFEST_BYTES as usize);
    let big = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_IMAGE_MANIFEST,
        "config": m.config,
        "layers": m.layers,
        "annotations": {"padding": padding},
    });
    let bytes = serde_json::to_vec(&big).unwrap();
    let desc = layout
        .put_manifest(MEDIA_TYPE_IMAGE_MANIFEST, &bytes)
        .unwrap();
    layout.tag("big.example/padded:1", &desc).unwrap_err();
    // `tag` reads the manifest back and refuses it; so does `open` once it is listed.
    let mut index: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let mut entry = serde_json::to_value(&desc).unwrap();
    entry["annotations"] =
        serde_json::json!({"org.opencontainers.image.ref.name": "big.example/padded:1"});
    index["manifests"].as_array_mut().unwrap().push(entry);
    fs::write(
        dir.path().join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let err = Layout::open(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, LayoutError::Unreadable { .. }), "{err:?}");
    assert!(
        msg.contains(desc.digest.hex()) && msg.contains("over the limit for a manifest"),
        "{msg}"
    );
}

fn lab_with_trap(trap: Trap) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("lab");
    let (catalogue, _lock) = trustswap::lab_cli::init(
        &lab,
        0,
        &trustswap::supply::lab::shipped_vendors().expect("shipped vendors"),
    )
    .unwrap();
    let image = catalogue.fixtures[0].image_ref.clone();
    let layout = Layout::open(trustswap::lab_cli::layout_dir(&lab)).unwrap();
    let blob = layout.blob_path(&layout.resolve(&image).unwrap().digest);
    trap.plant(&blob);
    (dir, blob, image)
}

#[test]
fn verify_exits_2_naming_a_fifo_or_dev_zero_blob() {
    for trap in [Trap::Fifo, Trap::DevZero] {
        let (dir, blob, image) = lab_with_trap(trap);
        let lab = dir.path().join("lab").display().to_string();
        let home = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_trustswap"))
            .args([
                "verify",
                &image,
                "--lab",
                &lab,
                "--certificate-identity",
                "https://example.com/ci",
                "--certificate-oidc-issuer",
                "https://example.com",
            ])
            .env("HOME", home.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > std::time::Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{trap:?}: verify still running after 20 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{trap:?}: {err}");
        assert!(
            err.contains(&blob.display().to_string()) && err.contains("not a regular file"),
            "{trap:?}: {err}"
        );
    }
}

#[test]
fn a_blob_swapped_for_a_fifo_after_open_is_an_input_error_not_a_refusal() {
    use trustswap::verify::identity::{IdentityRule, Pattern};
    use trustswap::verify::image::SignerPolicy;
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("lab");
    let (catalogue, _lock) = trustswap::lab_cli::init(
        &lab,
        0,
        &trustswap::supply::lab::shipped_vendors().expect("shipped vendors"),
    )
    .unwrap();
    let image = catalogue.fixtures[0].image_ref.clone();
    let trust =
        trustswap::verify::trust::TrustMaterial::from_file(&lab.join("trusted_root.json")).unwrap();
    let layout = Layout::open(trustswap::lab_cli::layout_dir(&lab)).unwrap();
    let blob = layout.blob_path(&layout.resolve(&image).unwrap().digest);
    Trap::Fifo.plant(&blob);
    let policy = SignerPolicy::Keyless {
        rule: IdentityRule {
            subject: Pattern::Wildcard("*".into()),
            issuer: Some(Pattern::Wildcard("*".into())),
        },
        require_sct: true,
        require_tlog: true,
    };
    let result = within(20, "verify over a FIFO blob", move || {
        trustswap::lab_cli::verify(
            &layout,
            &trust,
            trustswap::lab_cli::LAB_NOW,
            &image,
            None,
            &policy,
            &["https://spdx.dev/Document".to_owned()],
        )
        .map(|o| (o.code, o.lines))
    });
    let err = result.expect_err("a layout fault decides nothing");
    assert_eq!(err.exit_code(), trustswap::exit::USAGE, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&blob.display().to_string()) && msg.contains("FIFO"),
        "{msg}"
    );
}
