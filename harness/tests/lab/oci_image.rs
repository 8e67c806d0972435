#![allow(clippy::unwrap_used)] // test helpers: a failed setup step should panic
use crate::oci_common;

use std::collections::BTreeMap;
use std::io::Read;

use flate2::read::GzDecoder;
use trustswap::supply::oci::image::{
    parse_apk_installed, parse_dpkg_status, render_apk_installed, render_dpkg_status,
};
use trustswap::supply::oci::spec::MEDIA_TYPE_IMAGE_CONFIG;
use trustswap::supply::oci::{
    ImageConfig, ImageError, Layout, Package, PackageDbFormat, Recipe, build_and_tag, build_image,
    read_package_db,
};

#[test]
fn build_is_deterministic() {
    for recipe in [oci_common::apk_recipe(), oci_common::dpkg_recipe()] {
        let a = build_image(&recipe, 7).unwrap();
        let b = build_image(&recipe, 7).unwrap();
        assert_eq!(a, b, "byte-identical rebuild of {}", recipe.name);
        // Recipe package order does not matter.
        let mut shuffled = recipe.clone();
        shuffled.packages.reverse();
        assert_eq!(build_image(&shuffled, 7).unwrap().manifest, a.manifest);
        // A different seed changes the image but not the layer.
        let c = build_image(&recipe, 8).unwrap();
        assert_ne!(c.manifest.digest, a.manifest.digest);
        assert_eq!(c.layer, a.layer);
    }
}

#[test]
fn layouts_written_twice_are_identical() {
    let mk = || {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Layout::create(dir.path()).unwrap();
        build_and_tag(
            &mut l,
            &oci_common::apk_recipe(),
            1,
            "cgr.dev/chainguard/static:latest",
        )
        .unwrap();
        build_and_tag(
            &mut l,
            &oci_common::dpkg_recipe(),
            1,
            "docker.io/library/debian:12",
        )
        .unwrap();
        dir
    };
    let (a, b) = (mk(), mk());
    let list = |d: &std::path::Path| {
        let mut v: Vec<(String, Vec<u8>)> = Vec::new();
        let mut stack = vec![d.to_path_buf()];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).unwrap() {
                let e = e.unwrap().path();
                if e.is_dir() {
                    stack.push(e);
                } else {
                    let rel = e.strip_prefix(d).unwrap().display().to_string();
                    v.push((rel, std::fs::read(&e).unwrap()));
                }
            }
        }
        v.sort();
        v
    };
    assert_eq!(list(a.path()), list(b.path()));
}

/// Pins the fixture digests so an accidental change (or a tar/flate2 upgrade
/// that changes bytes) is noticed: fixtures in other tests may depend on them.
#[test]
fn golden_digests() {
    let img = build_image(&oci_common::apk_recipe(), 1).unwrap();
    assert_eq!(
        img.diff_id.to_string(),
        "sha256:e09ab8da318ca66373c9b8409bc18801ebac0bf5191189966c49df05d3eea2f4",
        "uncompressed layer changed"
    );
    assert_eq!(
        img.manifest.digest.to_string(),
        "sha256:61efbb7ab060f1900088ce513978f30d154dae858662859757e9c3f315126e8f",
        "manifest digest changed"
    );
}

#[test]
fn layer_tar_and_gzip_are_normalized() {
    let img = build_image(&oci_common::dpkg_recipe(), 1).unwrap();
    let gz = &img.layer_bytes;
    // gzip header: magic, deflate, no flags (no name), mtime 0, OS 255.
    assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0]);
    assert_eq!(&gz[4..8], &[0, 0, 0, 0]);
    assert_eq!(gz[9], 255);
    let mut tar_bytes = Vec::new();
    GzDecoder::new(gz.as_slice())
        .read_to_end(&mut tar_bytes)
        .unwrap();
    assert_eq!(trustswap::supply::oci::Digest::of(&tar_bytes), img.diff_id);

    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let mut paths = Vec::new();
    for e in archive.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!(h.mtime().unwrap(), 0);
        assert_eq!(h.uid().unwrap(), 0);
        assert_eq!(h.gid().unwrap(), 0);
        paths.push(String::from_utf8(e.path_bytes().to_vec()).unwrap());
    }
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    for p in [
        "etc/",
        "etc/os-release",
        "var/lib/dpkg/status",
        "usr/share/doc/libc6/copyright",
    ] {
        assert!(paths.iter().any(|x| x == p), "{p} missing from {paths:?}");
    }

    let config: ImageConfig = serde_json::from_slice(&img.config_bytes).unwrap();
    assert_eq!(img.config.media_type, MEDIA_TYPE_IMAGE_CONFIG);
    assert_eq!(config.architecture, "amd64");
    assert_eq!(config.os, "linux");
    assert_eq!(config.created.as_deref(), Some("1970-01-01T00:00:00Z"));
    assert_eq!(config.rootfs.diff_ids, vec![img.diff_id.clone()]);
}

fn sorted(mut p: Vec<Package>) -> Vec<Package> {
    p.sort();
    p
}

#[test]
fn package_db_round_trips_from_content() {
    for recipe in [oci_common::apk_recipe(), oci_common::dpkg_recipe()] {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = Layout::create(dir.path()).unwrap();
        let desc = build_and_tag(&mut layout, &recipe, 3, "example.com/img:1").unwrap();
        let layout = Layout::open(dir.path()).unwrap();
        let content = read_package_db(&layout, &desc).unwrap();
        assert_eq!(content.format, recipe.package_db);
        assert_eq!(content.packages, sorted(recipe.packages.clone()));
        assert_eq!(content.os_release["ID"], recipe.os_release.id);
        assert_eq!(
            content.os_release["VERSION_ID"],
            recipe.os_release.version_id
        );
        assert_eq!(content.os_release["NAME"], recipe.os_release.name);
    }
}

#[test]
fn apk_db_text_format() {
    let pkgs = oci_common::apk_recipe().packages;
    let text = render_apk_installed(&pkgs);
    assert!(
        text.contains("P:tzdata\nV:2024b-r0\nA:x86_64\nL:CC-PDDC\n\n"),
        "{text}"
    );
    assert_eq!(parse_apk_installed(&text).unwrap(), pkgs);
    // Real apk databases carry more keys; they are ignored.
    let real = "C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\nS:1\nI:2\nT:the musl c library\nU:https://musl.libc.org/\nL:MIT\no:musl\n\n";
    let parsed = parse_apk_installed(real).unwrap();
    assert_eq!(parsed[0].name, "musl");
    assert_eq!(parsed[0].license, "MIT");
    let err = parse_apk_installed("P:x\nbogus line\n").unwrap_err();
    assert_eq!(err.line, 2);
    let err = parse_apk_installed("V:1\n\n").unwrap_err();
    assert!(err.reason.contains("no P:"), "{err}");
}

#[test]
fn dpkg_status_text_format() {
    let pkgs = sorted(oci_common::dpkg_recipe().packages);
    let text = render_dpkg_status(&pkgs);
    assert!(
        text.contains("Package: libc6\nStatus: install ok installed\n"),
        "{text}"
    );
    let licenses: BTreeMap<String, String> = pkgs
        .iter()
        .map(|p| (p.name.clone(), p.license.clone()))
        .collect();
    assert_eq!(parse_dpkg_status(&text, &licenses).unwrap(), pkgs);
    let with_removed = "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: here\nStatus: install ok installed\nVersion: 2\nArchitecture: all\nDescription: x\n more text\n";
    let parsed = parse_dpkg_status(with_removed, &BTreeMap::new()).unwrap();
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0].name, "here");
    assert!(parse_dpkg_status("Version: 1\n", &BTreeMap::new()).is_err());
    assert!(parse_dpkg_status(" leading continuation\n", &BTreeMap::new()).is_err());
}

#[test]
fn recipe_rejects_unknown_fields() {
    let mut v = serde_json::to_value(oci_common::apk_recipe()).unwrap();
    v["surprise"] = serde_json::json!(1);
    let err = serde_json::from_value::<Recipe>(v).unwrap_err();
    assert!(err.to_string().contains("surprise"), "{err}");
    let mut v = serde_json::to_value(oci_common::apk_recipe()).unwrap();
    v["packages"][0]["purl"] = serde_json::json!("x");
    assert!(serde_json::from_value::<Recipe>(v).is_err());
    let mut v = serde_json::to_value(oci_common::apk_recipe()).unwrap();
    v["package_db"] = serde_json::json!("rpm");
    assert!(serde_json::from_value::<Recipe>(v).is_err());
    let _: PackageDbFormat = serde_json::from_str("\"dpkg\"").unwrap();
}

#[test]
fn invalid_recipes_are_errors_not_panics() {
    let base = oci_common::apk_recipe();
    type Mutation = Box<dyn Fn(&mut Recipe)>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "relative path",
            Box::new(|r| r.files[0].path = "etc/x".into()),
        ),
        ("dotdot", Box::new(|r| r.files[0].path = "/etc/../x".into())),
        (
            "overwrite generated",
            Box::new(|r| r.files[0].path = "/etc/os-release".into()),
        ),
        (
            "file as dir",
            Box::new(|r| r.files[0].path = "/etc/os-release/x".into()),
        ),
        (
            "bad mode",
            Box::new(|r| r.files[0].mode = Some("999".into())),
        ),
        (
            "dup package",
            Box::new(|r| {
                let p = r.packages[0].clone();
                r.packages.push(p)
            }),
        ),
        (
            "newline in license",
            Box::new(|r| r.packages[0].license = "MIT\nP:evil".into()),
        ),
        (
            "bad os-release key",
            Box::new(|r| {
                r.os_release.extra.insert("lower".into(), "x".into());
            }),
        ),
        (
            "newline in os-release",
            Box::new(|r| r.os_release.name = "a\nb".into()),
        ),
    ];
    for (what, mutate) in cases {
        let mut r = base.clone();
        mutate(&mut r);
        let err = build_image(&r, 0).unwrap_err();
        assert!(
            matches!(err, ImageError::InvalidRecipe { .. }),
            "{what}: {err:?}"
        );
        assert!(
            err.to_string().starts_with("build image \"static\": "),
            "{what}: {err}"
        );
    }
}

#[test]
fn tampered_layer_content_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::create(dir.path()).unwrap();
    let desc = build_and_tag(&mut layout, &oci_common::apk_recipe(), 1, "a/b:c").unwrap();
    let img = build_image(&oci_common::apk_recipe(), 1).unwrap();
    std::fs::write(layout.blob_path(&img.layer.digest), b"junk").unwrap();
    let err = read_package_db(&layout, &desc).unwrap_err();
    assert!(
        err.to_string().contains(&img.layer.digest.to_string()),
        "{err}"
    );
}
