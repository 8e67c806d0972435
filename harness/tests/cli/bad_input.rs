//! Bad input gets a one-line error naming the input and the fix, exit code 2,
//! and nothing half-written.

use crate::common;

use std::path::Path;

use common::{text, trustswap};

const GOOD: &str = "name: acme\nimages:\n  - registry.acme.test/*\ntrustRoot:\n  keyless:\n    issuer: https://token.actions.githubusercontent.com\n    subject: https://github.com/acme/app/.github/workflows/release.yaml@refs/heads/main\n";

/// A vendors folder holding the good profile plus `file` with `content`.
fn vendors_with(file: &str, content: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("acme.yaml"), GOOD).expect("write");
    std::fs::write(dir.path().join(file), content).expect("write");
    dir
}

fn check_with(dir: &Path) -> (Option<i32>, String) {
    let o = trustswap(&[
        "--vendors",
        &dir.display().to_string(),
        "check",
        "--no-report",
    ]);
    (o.status.code(), text(&o.stderr))
}

#[test]
fn malformed_yaml_names_file_line_and_column() {
    let dir = vendors_with("broken.yaml", "name: broken\nimages: [a\n");
    let (code, err) = check_with(dir.path());
    assert_eq!(code, Some(2));
    assert!(err.contains("broken.yaml: error: line 2 column"), "{err}");
}

#[test]
fn unknown_field_is_named_with_the_allowed_ones() {
    let dir = vendors_with(
        "typo.yaml",
        &GOOD.replace("name: acme", "name: typo\nimagez: []"),
    );
    let (code, err) = check_with(dir.path());
    assert_eq!(code, Some(2));
    assert!(err.contains("typo.yaml"), "{err}");
    assert!(
        err.contains("unknown field `imagez`, expected one of"),
        "{err}"
    );
    assert!(err.contains("images"), "{err}");
}

#[test]
fn invalid_regexp_names_the_field_and_line() {
    let content = GOOD.replace("name: acme", "name: rx").replace(
        "subject: https://github.com/acme/app/.github/workflows/release.yaml@refs/heads/main",
        "subjectRegExp: ^https://github\\.com/(acme$",
    );
    let dir = vendors_with("rx.yaml", &content);
    let (code, err) = check_with(dir.path());
    assert_eq!(code, Some(2));
    assert!(
        err.contains("rx.yaml:7: trustRoot.keyless.subjectRegExp: invalid regular expression"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn unparsable_pem_is_refused() {
    let content = "name: k\nimages: [k.test/*]\ntrustRoot:\n  key:\n    data: \"-----BEGIN PUBLIC KEY-----\\nnot base64\\n-----END PUBLIC KEY-----\"\n";
    let dir = vendors_with("k.yaml", content);
    let (code, err) = check_with(dir.path());
    assert_eq!(code, Some(2));
    assert!(
        err.contains("k.yaml: trustRoot.key.data: not a PEM block"),
        "{err}"
    );
}

#[test]
fn fingerprint_mismatch_is_refused() {
    let key = common::dhi_key_dir().join("dhi-1.pub");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("acme.yaml"), GOOD).expect("write");
    let content = format!(
        "name: k\nimages: [k.test/*]\ntrustRoot:\n  key:\n    path: {}\n    sha256: 118ba556dd52f4aec67018efd316c285c783cd3e54cc0f4527605715c643887c\n",
        key.display()
    );
    std::fs::write(dir.path().join("k.yaml"), content).expect("write");
    let (code, err) = check_with(dir.path());
    assert_eq!(code, Some(2));
    assert!(
        err.contains("trustRoot.key.sha256: fingerprint mismatch: the key is sha256:1b431f0d"),
        "{err}"
    );
}

#[test]
fn a_key_with_no_source_or_two_sources_is_refused() {
    let dir = vendors_with(
        "k.yaml",
        "name: k\nimages: [k.test/*]\ntrustRoot:\n  key: {}\n",
    );
    let (code, err) = check_with(dir.path());
    assert_eq!(code, Some(2));
    assert!(
        err.contains("trustRoot.key: a key needs exactly one of `data`, `path` or `url`"),
        "{err}"
    );
}

#[test]
fn both_keyless_and_key_is_refused() {
    let dir = vendors_with(
        "both.yaml",
        &format!(
            "{}  key:\n    url: https://k.test/k.pub\n    sha256: {}\n",
            GOOD.replace("name: acme", "name: both"),
            "0".repeat(64)
        ),
    );
    let (code, err) = check_with(dir.path());
    assert_eq!(code, Some(2));
    assert!(
        err.contains("both.yaml: trustRoot: both `keyless` and `key` are set"),
        "{err}"
    );
}

#[test]
fn duplicate_vendor_names_are_refused() {
    let dir = vendors_with("again.yaml", GOOD);
    let (code, err) = check_with(dir.path());
    assert_eq!(code, Some(2));
    assert!(err.contains("vendor `acme` is also defined in"), "{err}");
}

#[test]
fn unknown_vendor_lists_the_known_ones() {
    let o = trustswap(&[
        "check",
        "--vendor",
        "nope",
        "--vendor",
        "dhi",
        "--no-report",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("unknown vendor `nope` (known: chainguard, dhi, distroless, selfbuilt)"),
        "{err}"
    );
}

#[test]
fn unknown_engine_is_a_usage_error() {
    let o = trustswap(&["check", "--engine", "opa", "--no-report"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("unknown engine `opa` (known: ivpol, cpol)"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn render_refuses_an_unresolved_key_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let o = trustswap(&[
        "render",
        "--vendor",
        "dhi",
        "--engine",
        "cpol",
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("configs/vendors/dhi.yaml: trustRoot.key.url: no key with sha256:118ba556"),
        "{err}"
    );
    assert!(err.contains("hint: download it once"), "{err}");
    assert!(!out.exists(), "nothing is written on error");
}

#[test]
fn a_policy_file_that_is_not_a_kubernetes_object_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p.yaml"), "just: data\n").expect("write");
    let o = trustswap(&[
        "diff",
        &dir.path().display().to_string(),
        "fixtures/policies/handwritten/dhi",
        "--no-report",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("p.yaml: document 1: not a Kubernetes object"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn a_bad_contract_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let contract = std::fs::read_to_string(common::root().join("configs/policies/contract.yaml"))
        .expect("read")
        .replace("failureAction: Enforce", "failureAction: Block");
    let path = dir.path().join("contract.yaml");
    std::fs::write(&path, contract).expect("write");
    let o = trustswap(&[
        "--contract",
        &path.display().to_string(),
        "check",
        "--no-report",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("contract.yaml: error: line") && err.contains("Block"),
        "{err}"
    );
}

/// `verify` with an image reference that is not one: bad input (exit 2)
/// naming the reference, not a refusal of an image that is missing (exit 1).
#[test]
fn verify_refuses_a_malformed_image_reference_as_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = dir.path().join("oci");
    trustswap::supply::oci::Layout::create(&layout).expect("empty layout");
    let layout = layout.display().to_string();
    let root = common::realworld()
        .join("trust/sigstore-public-good/trusted_root.json")
        .display()
        .to_string();
    let verify = |image: &str| {
        let o = trustswap(&[
            "verify",
            "--layout",
            &layout,
            "--trusted-root",
            &root,
            "--certificate-identity",
            "https://github.com/acme/app/.github/workflows/release.yaml@refs/heads/main",
            "--certificate-oidc-issuer",
            "https://token.actions.githubusercontent.com",
            image,
        ]);
        (o.status.code(), text(&o.stdout) + &text(&o.stderr))
    };
    for image in [
        "registry.example/Acme/App:1.0",
        "registry.example/app@sha256:zz",
        "registry.example/app:-1.0",
        "registry.example//app:1.0",
        "registry.example/app:1.0 extra",
    ] {
        let (code, out) = verify(image);
        assert_eq!(code, Some(2), "{image}: {out}");
        assert!(out.contains("not an image reference"), "{image}: {out}");
        assert!(out.contains("hint:"), "{image}: {out}");
    }
    // A well-formed reference to an image that is not there is a refusal.
    let (code, out) = verify("registry.example/app:1.0");
    assert_eq!(code, Some(1), "{out}");
}
