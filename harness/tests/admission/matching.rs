#![allow(clippy::unwrap_used)]
//! Wildcards, globs, image normalisation, identity matching, YAML message folding.

use regex::Regex;
use rstest::rstest;
use std::collections::BTreeMap;
use trustswap::admission::decision::yaml_scalar;
use trustswap::admission::verifier::match_identity;
use trustswap::admission::wildcard::{Glob, wildcard_match};
use trustswap::admission::*;

#[rstest]
#[case("*", "anything/with/slashes", true)]
#[case("*", "", true)]
#[case("", "", true)]
#[case("", "a", false)]
#[case("cgr.dev/chainguard/*", "cgr.dev/chainguard/nginx:latest", true)]
#[case("cgr.dev/chainguard/*", "cgr.dev/chainguard/sub/dir/nginx:1", true)] // * crosses /
#[case("cgr.dev/chainguard/*", "cgr.dev/chainguard-evil/nginx:1", false)]
#[case("cgr.dev/chainguard*", "cgr.dev/chainguard-evil/nginx:1", true)]
#[case("nginx*", "docker.io/nginx:latest", false)]
#[case("docker.io/nginx*", "docker.io/nginx:latest", true)]
#[case("ghcr.io/?/app", "ghcr.io/a/app", true)]
#[case("ghcr.io/?/app", "ghcr.io/ab/app", false)]
#[case("ghcr.io/?/app", "ghcr.io//app", false)]
#[case("a?c", "a/c", true)]
#[case("*:v1", "x.io/a:v1", true)]
#[case("*:v1", "x.io/a:v10", false)]
#[case("a**b", "ab", true)]
#[case("*a*b*", "xxaYYbzz", true)]
#[case("abc", "ABC", false)]
#[case(
    "https://github.com/example-org*",
    "https://github.com/example-org-evil/x",
    true
)]
fn go_wildcard(#[case] p: &str, #[case] s: &str, #[case] want: bool) {
    assert_eq!(wildcard_match(p, s), want, "{p} vs {s}");
}

#[rstest]
#[case("cgr.dev/chainguard/*", "cgr.dev/chainguard/nginx", true)]
#[case("cgr.dev/chainguard/*", "cgr.dev/chainguard/a/b", true)]
#[case("cgr.dev/chainguard/*", "nginx", false)]
#[case("dhi.io/python:*", "dhi.io/python:3.12", true)]
#[case("dhi.io/python:*", "dhi.io/python", false)]
#[case("ghcr.io/{a,b}/x", "ghcr.io/b/x", true)]
#[case("ghcr.io/{a,b}/x", "ghcr.io/c/x", false)]
#[case("ghcr.io/[a-c]?/x", "ghcr.io/bz/x", true)]
#[case("ghcr.io/[!a-c]/x", "ghcr.io/b/x", false)]
#[case("ghcr.io/\\*", "ghcr.io/*", true)]
#[case("ghcr.io/\\*", "ghcr.io/x", false)]
#[case("", "", true)]
#[case("", "x", false)]
fn gobwas_glob(#[case] p: &str, #[case] s: &str, #[case] want: bool) {
    assert_eq!(Glob::compile(p).unwrap().is_match(s), want, "{p} vs {s}");
}

#[rstest]
#[case("ghcr.io/[a")]
#[case("ghcr.io/{a,b")]
fn bad_globs(#[case] p: &str) {
    assert!(Glob::compile(p).is_err());
}

#[rstest]
#[case("nginx", "docker.io/nginx:latest")]
#[case("nginx:1.25", "docker.io/nginx:1.25")]
#[case("library/nginx", "docker.io/library/nginx:latest")]
#[case("myorg/app:v1", "docker.io/myorg/app:v1")]
#[case("localhost/app", "localhost/app:latest")]
#[case("localhost:5000/app:dev", "localhost:5000/app:dev")]
#[case("cgr.dev/chainguard/nginx", "cgr.dev/chainguard/nginx:latest")]
#[case("dhi.io/python:3.12", "dhi.io/python:3.12")]
#[case(
    "cgr.dev/chainguard/nginx@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "cgr.dev/chainguard/nginx@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)]
#[case(
    "cgr.dev/chainguard/nginx:1.0@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "cgr.dev/chainguard/nginx@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)]
fn normalisation(#[case] raw: &str, #[case] want: &str) {
    assert_eq!(ImageRef::kyverno(raw).unwrap().normalized(), want);
}

#[rstest]
#[case("")]
#[case("nginx@sha256:short")]
#[case("cgr.dev/chainguard/Nginx")]
#[case("cgr.dev/a b")]
#[case("cgr.dev/x:")]
fn bad_refs(#[case] raw: &str) {
    assert!(ImageRef::kyverno(raw).is_err(), "{raw}");
}

fn id(subject: &str, issuer: &str) -> SignerIdentity {
    SignerIdentity {
        subject: Some(subject.into()),
        issuer: Some(issuer.into()),
        ..Default::default()
    }
}

fn spec(subject: Option<&str>, subject_re: Option<&str>, issuer: Option<&str>) -> IdentitySpec {
    IdentitySpec {
        subject: subject.map(str::to_string),
        subject_regexp: subject_re.map(|r| Regex::new(r).unwrap()),
        issuer: issuer.map(str::to_string),
        issuer_regexp: None,
    }
}

const GOOD: &str =
    "https://github.com/example-org/platform/.github/workflows/release.yaml@refs/heads/main";
const EVIL: &str =
    "https://github.com/example-org-evil/platform/.github/workflows/release.yaml@refs/heads/main";
const GHI: &str = "https://token.actions.githubusercontent.com";

#[rstest]
// unanchored regexp admits a look-alike org, anchored one does not
#[case(spec(None, Some(r"https://github\.com/example-org"), None), EVIL, true)]
#[case(
    spec(None, Some(r"^https://github\.com/example-org/"), None),
    EVIL,
    false
)]
#[case(
    spec(None, Some(r"^https://github\.com/example-org/"), None),
    GOOD,
    true
)]
// prefix wildcards admit example-org-evil
#[case(spec(Some("https://github.com/example-org*"), None, None), EVIL, true)]
#[case(
    spec(Some("https://github.com/example-org/*"), None, None),
    EVIL,
    false
)]
#[case(spec(Some(GOOD), None, Some(GHI)), GOOD, true)]
#[case(
    spec(Some(GOOD), None, Some("https://accounts.google.com")),
    GOOD,
    false
)]
#[case(spec(None, None, None), EVIL, true)]
fn identity_matching(#[case] s: IdentitySpec, #[case] subject: &str, #[case] ok: bool) {
    assert_eq!(
        match_identity(&[s], &BTreeMap::new(), &[id(subject, GHI)]).is_ok(),
        ok
    );
}

#[test]
fn identity_mismatch_messages() {
    let e = match_identity(
        &[spec(Some(GOOD), None, None)],
        &BTreeMap::new(),
        &[id(EVIL, GHI)],
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        format!("subject mismatch: expected {GOOD}, received {EVIL}")
    );
    let e = match_identity(
        &[spec(None, None, Some("https://accounts.google.com"))],
        &BTreeMap::new(),
        &[id(GOOD, GHI)],
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        format!("issuer mismatch: expected https://accounts.google.com, received {GHI}")
    );
    // two signatures, neither matches: "; "-joined
    let e = match_identity(
        &[spec(Some("x"), None, None)],
        &BTreeMap::new(),
        &[id("a", GHI), id("b", GHI)],
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "subject mismatch: expected x, received a; subject mismatch: expected x, received b"
    );
    let mut ext = BTreeMap::new();
    ext.insert(
        "githubWorkflowRepository".to_string(),
        "example-org/platform".to_string(),
    );
    let e = match_identity(&[spec(None, None, None)], &ext, &[id(GOOD, GHI)])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "extension mismatch: expected example-org/platform for key githubWorkflowRepository, received "
    );
}

#[rstest]
#[case("image verified", 2, "image verified")]
#[case("a: b", 2, "'a: b'")]
#[case("it's: x", 0, "'it''s: x'")]
#[case("true", 0, "'true'")]
#[case("", 0, "''")]
fn yaml_scalars(#[case] s: &str, #[case] col: usize, #[case] want: &str) {
    assert_eq!(yaml_scalar(s, col, 4), want);
}

#[test]
fn yaml_folding_matches_kyverno_output() {
    // shape observed in Kyverno denials: folded after column 80 at a space, 4-space continuation
    let msg = "failed to verify image cgr.dev/chainguard/nginx:latest: .attestors[0].entries[0].keyless: subject mismatch: expected ^https://issuer.enforce.dev/(...|...)$, received https://github.com/chainguard-images/images/.github/workflows/release.yaml@refs/heads/main";
    let prefix = "  verify-image-signatures: ";
    let out = format!("{prefix}{}", yaml_scalar(msg, prefix.len(), 4));
    assert_eq!(
        out,
        "  verify-image-signatures: 'failed to verify image cgr.dev/chainguard/nginx:latest:\n    .attestors[0].entries[0].keyless: subject mismatch: expected ^https://issuer.enforce.dev/(...|...)$,\n    received https://github.com/chainguard-images/images/.github/workflows/release.yaml@refs/heads/main'"
    );
}
