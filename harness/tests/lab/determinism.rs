//! Same seed, same bytes: two builds into two layouts are byte-identical.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use trustswap::supply::lab::{Lab, LabConfig};
use trustswap::supply::oci::Layout;

fn build(dir: &Path, seed: u64) -> (serde_json::Value, BTreeMap<String, Vec<u8>>) {
    let mut lab = Lab::new(LabConfig {
        seed,
        now: 1_767_225_600,
    })
    .expect("lab");
    let mut layout = Layout::create(dir.join("oci")).expect("layout");
    let cat = trustswap::supply::lab::build_all(
        &mut lab,
        &mut layout,
        &trustswap::supply::lab::shipped_vendors().expect("shipped vendors"),
    )
    .expect("build");
    lab.write_material(&dir.join("lab")).expect("material");
    let mut files = BTreeMap::new();
    for sub in ["oci", "oci/blobs/sha256", "lab", "lab/private"] {
        for e in std::fs::read_dir(dir.join(sub)).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_file() {
                files.insert(
                    p.strip_prefix(dir).expect("prefix").display().to_string(),
                    std::fs::read(&p).expect("read"),
                );
            }
        }
    }
    (serde_json::to_value(&cat).expect("catalogue json"), files)
}

#[test]
fn same_seed_same_bytes() {
    let (a, b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let (cat_a, files_a) = build(a.path(), 7);
    let (cat_b, files_b) = build(b.path(), 7);
    assert_eq!(cat_a, cat_b, "catalogues differ");
    assert_eq!(
        files_a.keys().collect::<Vec<_>>(),
        files_b.keys().collect::<Vec<_>>()
    );
    for (k, v) in &files_a {
        assert!(files_b[k] == *v, "{k} differs");
    }
    println!(
        "identical: {} files (all blobs incl. certificates, signatures, SETs, bundles; index.json; trusted_root.json; keys)",
        files_a.len()
    );
    let (cat_c, _) = build(tempfile::tempdir().expect("c").path(), 8);
    assert_ne!(
        cat_a["fixtures"][0]["image_digest"], cat_c["fixtures"][0]["image_digest"],
        "another seed gives other digests"
    );
}

#[test]
fn timing_build_all_fixtures() {
    let dir = tempfile::tempdir().expect("tmp");
    let t0 = Instant::now();
    let mut lab = Lab::new(LabConfig {
        seed: 1,
        now: 1_767_225_600,
    })
    .expect("lab");
    let t_lab = t0.elapsed();
    let mut layout = Layout::create(dir.path().join("oci")).expect("layout");
    let cat = trustswap::supply::lab::build_all(
        &mut lab,
        &mut layout,
        &trustswap::supply::lab::shipped_vendors().expect("shipped vendors"),
    )
    .expect("build");
    let t_all = t0.elapsed();
    println!(
        "TIMING lab setup {:?}; build all fixtures ({} fixtures, {} rekor entries) {:?} (profile: {})",
        t_lab,
        cat.fixtures.len(),
        lab.rekor.entries().len(),
        t_all,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
}

/// The lab's bytes for the shipped vendors are part of every report's
/// reproducibility: a change to them (a new attestation, another signing
/// order) must be deliberate. This pins seed 0's fixtures (image digests,
/// signature and attestation manifests, log indices): update the value when
/// the lab is meant to change, and say so in the commit.
#[test]
fn the_shipped_vendors_lab_is_pinned() {
    use sha2::{Digest as _, Sha256};
    let dir = tempfile::tempdir().expect("tempdir");
    let profiles =
        trustswap::profile::load_shipped(&trustswap::profile::keys::KeyResolver::new(Vec::new()))
            .expect("shipped profiles");
    let vendors = trustswap::profile::lab::lab_vendors(&profiles).expect("lab vendors");
    let mut lab = Lab::new(LabConfig {
        seed: 0,
        now: 1_767_225_600,
    })
    .expect("lab");
    let mut layout = Layout::create(dir.path().join("oci")).expect("layout");
    let cat = trustswap::supply::lab::build_all(&mut lab, &mut layout, &vendors).expect("build");
    let mut h = Sha256::new();
    for f in &cat.fixtures {
        h.update(format!("{}/{:?} {}\n", f.vendor, f.variant, f.image_digest));
        for p in &f.published {
            h.update(format!("  {} {:?}\n", p.manifest_digest, p.log_index));
        }
    }
    let got = hex::encode(h.finalize());
    assert_eq!(
        got, "679d6977a80483772566b50984282ed036bd069f22df52d4d1d072448014224c",
        "the shipped vendors' lab changed (seed 0); if that is meant, pin {got}"
    );
}
