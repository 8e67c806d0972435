//! `trustswap swap --from V1 --to V2 PATH... --out DIR` (issue 11, item 4): a
//! hand-written Chainguard set becomes a DHI set and a self-built set that
//! `diff` proves differ only in trust root, image scope and evidence, and that
//! pass the hypothesis suite.

use std::path::Path;

use crate::common::{self, text, trustswap_in};

fn own(name: &str) -> String {
    common::root()
        .join("fixtures/policies/own")
        .join(name)
        .display()
        .to_string()
}

fn key_cache() -> String {
    common::dhi_key_dir().display().to_string()
}

/// `trustswap --key-cache <DHI's key> ARGS` in `dir`: exit code, stdout, stderr.
fn ts(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let cache = key_cache();
    let mut all = vec!["--key-cache", cache.as_str()];
    all.extend_from_slice(args);
    let o = trustswap_in(dir, &all);
    (o.status.code(), text(&o.stdout), text(&o.stderr))
}

#[test]
fn a_chainguard_set_swapped_to_dhi_and_self_built_differs_only_in_trust_root_scope_and_evidence_and_passes_the_suite()
 {
    let t = tempfile::tempdir().expect("tempdir");
    let (dhi, sb) = (t.path().join("dhi"), t.path().join("selfbuilt"));
    let (dhi_s, sb_s) = (dhi.display().to_string(), sb.display().to_string());
    let cg = own("chainguard");

    // DHI keeps signatures in a repository per image: a finding, exit 1.
    let (code, out, err) = ts(
        t.path(),
        &[
            "swap",
            "--from",
            "chainguard",
            "--to",
            "dhi",
            &cg,
            "--out",
            &dhi_s,
        ],
    );
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(out.contains("repository of its own"), "{out}");
    assert!(out.contains("1 finding(s)"), "{out}");
    let yaml = std::fs::read_to_string(dhi.join("verify-images.yaml")).expect("written");
    assert!(yaml.contains("repository: registry.scout.docker.com/docker/dhi-python"));
    assert!(
        yaml.contains("ignoreTlog: true"),
        "DHI's Rekor setting comes with its key"
    );
    assert!(
        !yaml.contains("chainguard-images"),
        "no Chainguard identity left"
    );
    // The leading comment block is kept.
    assert!(yaml.starts_with("# A Chainguard policy"), "{yaml}");

    let (code, out, err) = ts(
        t.path(),
        &[
            "swap",
            "--from",
            "chainguard",
            "--to",
            "selfbuilt",
            &cg,
            "--out",
            &sb_s,
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let yaml = std::fs::read_to_string(sb.join("verify-images.yaml")).expect("written");
    assert!(
        yaml.contains("type: https://cyclonedx.org/bom/v1.6"),
        "{yaml}"
    );
    assert!(yaml.contains("subjectRegExp"), "{yaml}");

    for swapped in [&dhi_s, &sb_s] {
        let (code, out, err) = ts(t.path(), &["diff", &cg, swapped, "--no-report"]);
        assert_eq!(code, Some(0), "diff {swapped}: {out}\n{err}");
        assert!(
            out.contains("only trust root, image scope and evidence differ"),
            "{out}"
        );
    }

    let lab = t.path().join("lab").display().to_string();
    let report = t.path().join("report").display().to_string();
    let (code, out, err) = ts(
        t.path(),
        &[
            "run",
            "--policies",
            &format!("dhi={dhi_s}"),
            "--policies",
            &format!("selfbuilt={sb_s}"),
            "--lab",
            &lab,
            "--out",
            &report,
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("14 held, 0 deviated, 0 errored, 0 not applicable"),
        "{out}"
    );
}

#[test]
fn image_validating_policies_swap_their_globs_identities_and_registry_lists() {
    let t = tempfile::tempdir().expect("tempdir");
    let out_dir = t.path().join("out");
    let (code, out, err) = ts(
        t.path(),
        &[
            "swap",
            "--from",
            "chainguard",
            "--to",
            "selfbuilt",
            &own("chainguard-ivpol"),
            "--out",
            &out_dir.display().to_string(),
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let yaml = std::fs::read_to_string(out_dir.join("verify-images.yaml")).expect("written");
    assert!(
        yaml.contains("glob: ghcr.io/example-org/platform/*"),
        "{yaml}"
    );
    assert!(yaml.contains("['ghcr.io/example-org/platform/']"), "{yaml}");
    assert!(yaml.contains("subjectRegExp"), "{yaml}");
    assert!(!yaml.contains("cgr.dev"), "{yaml}");
}

#[test]
fn an_entry_that_also_verifies_other_vendors_images_is_a_finding_and_left_as_written() {
    let t = tempfile::tempdir().expect("tempdir");
    let mixed = t.path().join("mixed.yaml");
    let src = std::fs::read_to_string(Path::new(&own("chainguard")).join("verify-images.yaml"))
        .expect("fixture")
        .replace(
            "        - imageReferences:\n            - \"cgr.dev/chainguard/*\"",
            "        - imageReferences:\n            - \"cgr.dev/chainguard/*\"\n            - \"ghcr.io/acme/*\"",
        );
    std::fs::write(&mixed, src).expect("write");
    let out_dir = t.path().join("out");
    let (code, out, _) = ts(
        t.path(),
        &[
            "swap",
            "--from",
            "chainguard",
            "--to",
            "distroless",
            &mixed.display().to_string(),
            "--out",
            &out_dir.display().to_string(),
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("also verifies `ghcr.io/acme/*`"), "{out}");
    assert!(out.contains("one verifyImages entry per vendor"), "{out}");
    let yaml = std::fs::read_to_string(out_dir.join("mixed.yaml")).expect("written");
    assert!(
        yaml.contains("chainguard-images"),
        "the mixed entry keeps its attestors"
    );
}

#[test]
fn bad_swaps_are_usage_errors_and_write_nothing() {
    let t = tempfile::tempdir().expect("tempdir");
    let out_dir = t.path().join("out");
    let out_s = out_dir.display().to_string();
    let cg = own("chainguard");
    // A key-based target whose key is not in the cache cannot be named.
    let o = trustswap_in(
        t.path(),
        &[
            "swap",
            "--from",
            "chainguard",
            "--to",
            "dhi",
            &cg,
            "--out",
            &out_s,
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("not in the key cache"),
        "{}",
        text(&o.stderr)
    );
    for (args, says) in [
        (
            vec![
                "swap",
                "--from",
                "chainguard",
                "--to",
                "nobody",
                &cg,
                "--out",
                &out_s,
            ],
            "nobody",
        ),
        (
            vec![
                "swap",
                "--from",
                "chainguard",
                "--to",
                "chainguard",
                &cg,
                "--out",
                &out_s,
            ],
            "both",
        ),
    ] {
        let (code, _, err) = ts(t.path(), &args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert!(!out_dir.exists(), "nothing half-written");
}

#[test]
fn an_attestor_that_is_not_the_source_vendor_s_is_kept_and_nothing_to_swap_is_bad_input() {
    let t = tempfile::tempdir().expect("tempdir");
    // A second signer beside Chainguard's (a team's countersignature key).
    let countersigned = t.path().join("countersigned.yaml");
    let src = std::fs::read_to_string(Path::new(&own("chainguard")).join("verify-images.yaml"))
        .expect("fixture");
    let second = "                - keys:\n                    publicKeys: |-\n                      -----BEGIN PUBLIC KEY-----\n                      MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4mJOrMCiscVexqjExTTrzO5mWjf0\n                      WVq+hIWfVrvc+n58XMMgWfMiq1zE6XItfgO1/7KdyaE8tNL2JPLhe4zxtw==\n                      -----END PUBLIC KEY-----\n";
    let src = src.replacen(
        "                    rekor:\n                      url: https://rekor.sigstore.dev\n",
        &format!("                    rekor:\n                      url: https://rekor.sigstore.dev\n{second}"),
        1,
    );
    std::fs::write(&countersigned, &src).expect("write");
    let out_dir = t.path().join("out");
    let (code, out, err) = ts(
        t.path(),
        &[
            "swap",
            "--from",
            "chainguard",
            "--to",
            "distroless",
            &countersigned.display().to_string(),
            "--out",
            &out_dir.display().to_string(),
        ],
    );
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        out.contains("does not name `chainguard`'s signer is kept"),
        "{out}"
    );
    let yaml = std::fs::read_to_string(out_dir.join("countersigned.yaml")).expect("written");
    assert!(
        yaml.contains("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4mJOrMCiscVexqjExTTrzO5mWjf0"),
        "{yaml}"
    );
    assert!(
        yaml.contains("keyless@distroless.iam.gserviceaccount.com"),
        "{yaml}"
    );

    // Nothing in the set verifies the vendor named with --from.
    let (code, _, err) = ts(
        t.path(),
        &[
            "swap",
            "--from",
            "distroless",
            "--to",
            "selfbuilt",
            &own("chainguard"),
            "--out",
            &t.path().join("none").display().to_string(),
        ],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("nothing to swap"), "{err}");
}
