//! Behaviour of `trustswap::audit::drift::drift`: every status, precedence, parsing, exceptions,
//! revocations, attribution, determinism, a 10k-pod smoke test, serde, table.
#![allow(clippy::unwrap_used, clippy::panic)] // test helpers

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use trustswap::audit::drift::image::{parse_image_id, parse_image_ref};
use trustswap::audit::drift::{
    Admission, AuditInput, Container, ContainerKind, DriftError, DriftOptions, Exception, Flag,
    Manifest, ManifestEntry, Namespace, OwnerRef, Pod, Revocation, RunningState, Signer, Status,
    TableFilter, TrustPolicy, TrustRule, TrustedIdentity, Verdict, drift, render_table,
};

use crate::synth;

const CG_ISSUER: &str = "https://token.actions.githubusercontent.com";
const CG_SUBJECT: &str =
    "https://github.com/chainguard-images/images/.github/workflows/release.yaml@refs/heads/main";
const DHI_KEY: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const OLD_KEY: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn d(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

fn now() -> DateTime<Utc> {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn days_ago(n: i64) -> DateTime<Utc> {
    now() - Duration::days(n)
}

fn keyless(subject: &str) -> Signer {
    Signer {
        subject: Some(subject.into()),
        issuer: Some(CG_ISSUER.into()),
        key_fingerprint: None,
    }
}

fn key(fp: &str) -> Signer {
    Signer {
        subject: None,
        issuer: None,
        key_fingerprint: Some(fp.into()),
    }
}

fn entry(n: u8, repo: &str, tags: &[&str], signer: Signer, sbom: bool) -> ManifestEntry {
    let mut attestations = vec!["https://slsa.dev/provenance/v1".to_owned()];
    if sbom {
        attestations.push("https://spdx.dev/Document".into());
    }
    ManifestEntry {
        digest: d(n),
        repository: repo.into(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        signer,
        attestations,
        signed_at: days_ago(10),
    }
}

fn policy() -> TrustPolicy {
    TrustPolicy {
        rules: vec![
            TrustRule {
                name: "chainguard".into(),
                images: vec!["cgr.dev/chainguard/*".into()],
                identities: vec![TrustedIdentity {
                    issuer: Some(CG_ISSUER.into()),
                    issuer_reg_exp: None,
                    subject: Some(CG_SUBJECT.into()),
                    subject_reg_exp: None,
                }],
                key_fingerprints: vec![],
            },
            TrustRule {
                name: "dhi".into(),
                images: vec!["dhi.io/*".into()],
                identities: vec![],
                key_fingerprints: vec![DHI_KEY.into(), OLD_KEY.to_uppercase().replace("SHA256:", "")],
            },
            TrustRule {
                name: "self-built".into(),
                images: vec!["ghcr.io/acme/*".into()],
                identities: vec![TrustedIdentity {
                    issuer: Some(CG_ISSUER.into()),
                    issuer_reg_exp: None,
                    subject: None,
                    subject_reg_exp: Some(
                        r"https://github\.com/acme/app/\.github/workflows/release\.yaml@refs/tags/v.*"
                            .into(),
                    ),
                }],
                key_fingerprints: vec![],
            },
        ],
    }
}

fn container(
    name: &str,
    image: &str,
    image_id: Option<String>,
    admitted: Option<String>,
) -> Container {
    Container {
        name: name.into(),
        kind: ContainerKind::Container,
        image: image.into(),
        image_id,
        admitted: admitted.map(|digest| Admission {
            digest,
            policy: "verify-images/check".into(),
            identity: None,
            admitted_at: None,
        }),
    }
}

/// A container running digest `n` of `repo:tag`, admitted at the same digest.
fn ok_container(name: &str, image: &str, n: u8) -> Container {
    let repo = image.split(['@']).next().unwrap();
    let repo = repo.rsplit_once(':').map_or(repo, |(r, _)| r);
    container(name, image, Some(format!("{repo}@{}", d(n))), Some(d(n)))
}

fn pod(ns: &str, name: &str, containers: Vec<Container>) -> Pod {
    let mut labels = BTreeMap::new();
    labels.insert("team".to_owned(), "payments".to_owned());
    Pod {
        namespace: ns.into(),
        name: name.into(),
        labels,
        owner: None,
        creation_timestamp: days_ago(3),
        containers,
    }
}

fn input(entries: Vec<ManifestEntry>, pods: Vec<Pod>) -> AuditInput {
    AuditInput {
        registry_tags: Default::default(),
        state: RunningState {
            namespaces: vec![],
            pods,
        },
        manifest: Manifest { entries },
        revocations: vec![],
        exceptions: vec![],
        trust_policy: policy(),
    }
}

const CG: &str = "cgr.dev/chainguard/nginx";

fn base_entries() -> Vec<ManifestEntry> {
    vec![
        entry(1, CG, &["1.25"], keyless(CG_SUBJECT), true),
        entry(2, CG, &["latest"], keyless(CG_SUBJECT), true),
    ]
}

fn one(input: &AuditInput) -> trustswap::audit::drift::Finding<'_> {
    let report = drift(input, &DriftOptions::default(), now()).unwrap();
    assert_eq!(report.findings.len(), 1);
    report.findings.into_iter().next().unwrap()
}

// ---------------------------------------------------------------- statuses

#[test]
fn compliant() {
    let i = input(
        base_entries(),
        vec![pod(
            "web",
            "p",
            vec![ok_container("c", "cgr.dev/chainguard/nginx:1.25", 1)],
        )],
    );
    let f = one(&i);
    assert_eq!(f.status, Status::Compliant);
    assert!(f.flags.is_empty(), "{:?}", f.flags);
    assert_eq!(f.hint, "");
    assert_eq!(f.age_days, Some(10));
    assert_eq!(f.signer.as_deref(), Some(CG_SUBJECT));
    let r = drift(&i, &DriftOptions::default(), now()).unwrap();
    assert_eq!(r.summary.verdict, Verdict::Compliant);
}

#[test]
fn bypassed_admission() {
    let mut c = ok_container("c", "cgr.dev/chainguard/nginx:1.25", 1);
    c.admitted = None;
    let i = input(base_entries(), vec![pod("web", "p", vec![c])]);
    let f = one(&i);
    assert_eq!(f.status, Status::BypassedAdmission);
    assert!(f.hint.contains("no admission record"), "{}", f.hint);
    let r = drift(&i, &DriftOptions::default(), now()).unwrap();
    assert_eq!(r.summary.verdict, Verdict::NonCompliant);
}

#[test]
fn no_sbom() {
    let mut e = base_entries();
    e[0] = entry(1, CG, &["1.25"], keyless(CG_SUBJECT), false);
    let i = input(
        e,
        vec![pod(
            "web",
            "p",
            vec![ok_container("c", "cgr.dev/chainguard/nginx:1.25", 1)],
        )],
    );
    let f = one(&i);
    assert_eq!(f.status, Status::NoSbom);
    assert!(f.hint.contains("SBOM"));
}

#[test]
fn sbom_predicate_types_are_vendor_neutral() {
    for t in [
        "https://cyclonedx.org/bom/v1.6",
        "https://cyclonedx.org/bom",
        "https://spdx.dev/Document",
        "https://scout.docker.com/sbom/v0.1",
    ] {
        let mut e = base_entries();
        e[0].attestations = vec![t.to_owned()];
        let i = input(
            e,
            vec![pod(
                "web",
                "p",
                vec![ok_container("c", "cgr.dev/chainguard/nginx:1.25", 1)],
            )],
        );
        assert_eq!(one(&i).status, Status::Compliant, "{t}");
    }
    let mut e = base_entries();
    e[0].attestations = vec!["https://openvex.dev/ns/v0.2.0".to_owned()];
    let i = input(
        e,
        vec![pod(
            "web",
            "p",
            vec![ok_container("c", "cgr.dev/chainguard/nginx:1.25", 1)],
        )],
    );
    assert_eq!(one(&i).status, Status::NoSbom);
}

#[test]
fn signer_revoked() {
    let e = vec![entry(7, "dhi.io/python", &["3.13"], key(OLD_KEY), true)];
    let mut i = input(
        e,
        vec![pod(
            "web",
            "p",
            vec![ok_container("c", "dhi.io/python:3.13", 7)],
        )],
    );
    i.revocations.push(Revocation {
        subject: None,
        issuer: None,
        key_fingerprint: Some(OLD_KEY.into()),
        revoked_at: days_ago(2),
        reason: None,
    });
    let f = one(&i);
    assert_eq!(f.status, Status::SignerRevoked);
    assert!(!f.flags.contains(Flag::SignedAfterRevocation));
    assert_eq!(
        f.hint,
        format!(
            "rebuild from an image signed by the current key; {OLD_KEY} was revoked at 2026-05-30T00:00:00Z"
        )
    );
}

#[test]
fn untrusted_identity() {
    let e = vec![entry(
        1,
        CG,
        &["1.25"],
        keyless("https://github.com/evil/fork/.github/workflows/x.yaml@refs/heads/main"),
        true,
    )];
    let i = input(
        e,
        vec![pod(
            "web",
            "p",
            vec![ok_container("c", "cgr.dev/chainguard/nginx:1.25", 1)],
        )],
    );
    let f = one(&i);
    assert_eq!(f.status, Status::UntrustedIdentity);
    assert!(!f.flags.contains(Flag::NoTrustRule));
    assert!(f.hint.contains("evil/fork"), "{}", f.hint);
}

#[test]
fn untrusted_identity_wrong_issuer() {
    let mut s = keyless(CG_SUBJECT);
    s.issuer = Some("https://accounts.google.com".into());
    let e = vec![entry(1, CG, &["1.25"], s, true)];
    let i = input(
        e,
        vec![pod(
            "web",
            "p",
            vec![ok_container("c", "cgr.dev/chainguard/nginx:1.25", 1)],
        )],
    );
    assert_eq!(one(&i).status, Status::UntrustedIdentity);
}

#[test]
fn untrusted_identity_signed_by_another_vendor() {
    // A DHI-signed digest running under a Chainguard name: the chainguard
    // rule covers the image and does not accept the DHI key.
    let e = vec![entry(1, CG, &["1.25"], key(DHI_KEY), true)];
    let i = input(
        e,
        vec![pod(
            "web",
            "p",
            vec![ok_container("c", "cgr.dev/chainguard/nginx:1.25", 1)],
        )],
    );
    assert_eq!(one(&i).status, Status::UntrustedIdentity);
}

#[test]
fn no_trust_rule_is_untrusted() {
    let e = vec![entry(
        1,
        "quay.io/other/app",
        &["1"],
        keyless(CG_SUBJECT),
        true,
    )];
    let i = input(
        e,
        vec![pod(
            "web",
            "p",
            vec![ok_container("c", "quay.io/other/app:1", 1)],
        )],
    );
    let f = one(&i);
    assert_eq!(f.status, Status::UntrustedIdentity);
    assert!(f.flags.contains(Flag::NoTrustRule));
    assert!(f.hint.starts_with("no trust-policy rule covers"));
}

#[test]
fn subject_regexp_is_anchored() {
    let ok = "https://github.com/acme/app/.github/workflows/release.yaml@refs/tags/v1.2.3";
    let e = vec![
        entry(1, "ghcr.io/acme/app", &["v1"], keyless(ok), true),
        entry(
            2,
            "ghcr.io/acme/app",
            &["v2"],
            keyless(&format!("https://evil.example/{ok}")),
            true,
        ),
    ];
    let i = input(
        e,
        vec![pod(
            "web",
            "p",
            vec![
                ok_container("a", "ghcr.io/acme/app:v1", 1),
                ok_container("b", "ghcr.io/acme/app:v2", 2),
            ],
        )],
    );
    let r = drift(&i, &DriftOptions::default(), now()).unwrap();
    assert_eq!(r.findings[0].status, Status::Compliant);
    assert_eq!(r.findings[1].status, Status::UntrustedIdentity);
}

#[test]
fn unsigned() {
    let i = input(
        base_entries(),
        vec![pod(
            "web",
            "p",
            vec![ok_container(
                "c",
                &format!("cgr.dev/chainguard/nginx@{}", d(9)),
                9,
            )],
        )],
    );
    let f = one(&i);
    assert_eq!(f.status, Status::Unsigned);
    assert_eq!(f.age_days, None);
    assert!(f.signer.is_none());
    assert!(f.hint.contains("not in the last-known-good manifest"));
}

#[test]
fn drifted_from_admitted_digest() {
    // Admitted 1, running 2 (both signed): someone re-pushed 1.25? No: the
    // tag 1.25 holds 1 in the manifest, so this is both flags.
    let c = container(
        "c",
        "cgr.dev/chainguard/nginx:1.25",
        Some(format!("{CG}@{}", d(2))),
        Some(d(1)),
    );
    let i = input(base_entries(), vec![pod("web", "p", vec![c])]);
    let f = one(&i);
    assert_eq!(f.status, Status::Drifted);
    assert!(f.flags.contains(Flag::AdmittedDigestMismatch));
    assert_eq!(
        f.hint,
        format!(
            "redeploy Pod web/p to pick up the admitted digest {} or re-admit {}; check who re-pushed tag 1.25 of cgr.dev/chainguard/nginx:1.25",
            d(1),
            d(2)
        )
    );
}

#[test]
fn drifted_long_running_pod_on_old_digest() {
    // The manifest moved `latest` from 1 to 2; the pod was admitted on 1 and
    // still runs it, 180 days later.
    let mut e = vec![
        entry(1, CG, &[], keyless(CG_SUBJECT), true),
        entry(2, CG, &["latest"], keyless(CG_SUBJECT), true),
    ];
    e[0].signed_at = days_ago(180);
    let c = container(
        "c",
        "cgr.dev/chainguard/nginx",
        Some(format!("{CG}@{}", d(1))),
        Some(d(1)),
    );
    let i = input(e, vec![pod("web", "p", vec![c])]);
    let f = one(&i);
    assert_eq!(f.status, Status::Drifted);
    assert!(f.flags.contains(Flag::TagMoved));
    assert!(f.flags.contains(Flag::StaleDigest));
    assert!(!f.flags.contains(Flag::AdmittedDigestMismatch));
    assert_eq!(f.age_days, Some(180));
    assert_eq!(f.tag_digest.as_deref(), Some(d(2).as_str()));
    assert!(f.hint.contains("180 days old"), "{}", f.hint);
}

#[test]
fn drifted_vendor_repushed_tag_to_unsigned_digest() {
    let c = container(
        "c",
        "cgr.dev/chainguard/nginx:latest",
        Some(format!("docker-pullable://{CG}@{}", d(66))),
        Some(d(2)),
    );
    let i = input(base_entries(), vec![pod("web", "p", vec![c])]);
    let f = one(&i);
    assert_eq!(f.status, Status::Drifted);
    for fl in [Flag::AdmittedDigestMismatch, Flag::TagMoved, Flag::Unsigned] {
        assert!(f.flags.contains(fl), "{fl:?}");
    }
}

#[test]
fn unknown_when_image_id_missing_or_empty() {
    for id in [None, Some(String::new())] {
        let c = container("c", "cgr.dev/chainguard/nginx:1.25", id, Some(d(1)));
        let i = input(base_entries(), vec![pod("web", "p", vec![c])]);
        let f = one(&i);
        assert_eq!(f.status, Status::Unknown);
        assert!(f.digest.is_none());
        assert!(f.flags.contains(Flag::UnknownDigest));
    }
}

fn exception(
    name: &str,
    ns: &str,
    image: Option<&str>,
    pod_name: Option<&str>,
    expires: DateTime<Utc>,
) -> Exception {
    Exception {
        name: name.into(),
        namespace: ns.into(),
        image: image.map(Into::into),
        pod_name: pod_name.map(Into::into),
        expires_at: expires,
    }
}

#[test]
fn exception_expired() {
    let mut i = input(
        base_entries(),
        vec![pod(
            "web",
            "p",
            vec![ok_container(
                "c",
                &format!("cgr.dev/chainguard/nginx@{}", d(9)),
                9,
            )],
        )],
    );
    i.exceptions.push(exception(
        "bg-1",
        "web",
        Some("cgr.dev/chainguard/*"),
        None,
        days_ago(1),
    ));
    let f = one(&i);
    assert_eq!(f.status, Status::ExceptionExpired);
    assert!(f.flags.contains(Flag::Unsigned));
    assert_eq!(f.exception.as_deref(), Some("bg-1"));
    assert!(!f.waived);
    assert!(
        f.hint
            .contains("exception bg-1 expired at 2026-05-31T00:00:00Z: fix Pod web/p (unsigned)"),
        "{}",
        f.hint
    );
}

// ---------------------------------------------------------------- exceptions

#[test]
fn exception_before_and_after_expiry() {
    let mut i = input(
        base_entries(),
        vec![pod(
            "web",
            "debug-7",
            vec![ok_container(
                "c",
                &format!("cgr.dev/chainguard/nginx@{}", d(9)),
                9,
            )],
        )],
    );
    let expires: DateTime<Utc> = "2026-06-10T00:00:00Z".parse().unwrap();
    i.exceptions
        .push(exception("bg", "web", None, Some("debug-*"), expires));
    let opts = DriftOptions::default();

    let before = drift(&i, &opts, expires - Duration::seconds(1)).unwrap();
    let f = &before.findings[0];
    assert_eq!(f.status, Status::Unsigned);
    assert!(f.waived);
    assert!(f.flags.contains(Flag::ExceptionActive));
    assert!(
        f.hint
            .ends_with("(waived by exception bg until 2026-06-10T00:00:00Z)"),
        "{}",
        f.hint
    );
    assert_eq!(before.summary.verdict, Verdict::Compliant);
    assert_eq!(before.summary.waived, 1);

    // At expiresAt the exception no longer applies.
    let after = drift(&i, &opts, expires).unwrap();
    let f = &after.findings[0];
    assert_eq!(f.status, Status::ExceptionExpired);
    assert!(!f.waived);
    assert_eq!(after.summary.verdict, Verdict::NonCompliant);
}

#[test]
fn active_exception_beats_expired_one() {
    let mut i = input(
        base_entries(),
        vec![pod(
            "web",
            "p",
            vec![ok_container(
                "c",
                &format!("cgr.dev/chainguard/nginx@{}", d(9)),
                9,
            )],
        )],
    );
    i.exceptions
        .push(exception("old", "web", Some("*nginx*"), None, days_ago(5)));
    i.exceptions.push(exception(
        "new",
        "w*",
        Some("*nginx*"),
        None,
        now() + Duration::days(5),
    ));
    let f = one(&i);
    assert_eq!(f.status, Status::Unsigned);
    assert!(f.waived);
    assert_eq!(f.exception.as_deref(), Some("new"));
    assert!(!f.flags.contains(Flag::ExceptionExpired));
}

#[test]
fn exception_must_match_namespace_image_and_pod() {
    let mut i = input(
        base_entries(),
        vec![pod(
            "web",
            "p",
            vec![ok_container(
                "c",
                &format!("cgr.dev/chainguard/nginx@{}", d(9)),
                9,
            )],
        )],
    );
    i.exceptions
        .push(exception("other-ns", "shop", Some("*"), None, days_ago(5)));
    i.exceptions.push(exception(
        "other-img",
        "web",
        Some("dhi.io/*"),
        None,
        days_ago(5),
    ));
    i.exceptions.push(exception(
        "both",
        "web",
        Some("*nginx*"),
        Some("q*"),
        days_ago(5),
    ));
    assert_eq!(one(&i).status, Status::Unsigned);
}

// ---------------------------------------------------------------- revocation

fn revoked_input(signed: i64, revoked: i64) -> AuditInput {
    let mut e = vec![entry(7, "dhi.io/python", &["3.13"], key(OLD_KEY), true)];
    e[0].signed_at = days_ago(signed);
    let mut i = input(
        e,
        vec![pod(
            "web",
            "p",
            vec![ok_container("c", "dhi.io/python:3.13", 7)],
        )],
    );
    i.revocations.push(Revocation {
        subject: None,
        issuer: None,
        key_fingerprint: Some(OLD_KEY.trim_start_matches("sha256:").to_uppercase()),
        revoked_at: days_ago(revoked),
        reason: Some("rotated".into()),
    });
    i
}

#[test]
fn revocation_after_signing() {
    let i = revoked_input(100, 10);
    let f = one(&i);
    assert_eq!(f.status, Status::SignerRevoked);
    assert!(!f.flags.contains(Flag::SignedAfterRevocation));
}

#[test]
fn revocation_before_signing() {
    let i = revoked_input(10, 100);
    let f = one(&i);
    assert_eq!(f.status, Status::SignerRevoked);
    assert!(f.flags.contains(Flag::SignedAfterRevocation));
    assert!(f.hint.ends_with("and this digest was signed after that"));
}

#[test]
fn revocation_in_the_future_does_not_apply() {
    let i = revoked_input(10, -1);
    let f = one(&i);
    assert_eq!(f.status, Status::Compliant);
    // ... and exactly at `now` it does.
    let i = revoked_input(10, 0);
    let f = one(&i);
    assert_eq!(f.status, Status::SignerRevoked);
}

#[test]
fn keyless_revocation_matches_subject_and_issuer() {
    let mut i = input(
        base_entries(),
        vec![pod(
            "web",
            "p",
            vec![ok_container("c", "cgr.dev/chainguard/nginx:1.25", 1)],
        )],
    );
    i.revocations.push(Revocation {
        subject: Some(CG_SUBJECT.into()),
        issuer: Some("https://other.issuer".into()),
        key_fingerprint: None,
        revoked_at: days_ago(1),
        reason: None,
    });
    assert_eq!(one(&i).status, Status::Compliant);
    i.revocations[0].issuer = None;
    assert_eq!(one(&i).status, Status::SignerRevoked);
}

// ---------------------------------------------------------------- precedence

#[test]
fn precedence_when_several_apply() {
    let mut e = base_entries();
    e[0] = entry(1, CG, &["1.25"], keyless("https://evil/x"), false);
    let mut i = input(e, vec![]);
    i.revocations.push(Revocation {
        subject: Some("https://evil/x".into()),
        issuer: None,
        key_fingerprint: None,
        revoked_at: days_ago(1),
        reason: None,
    });
    // untrusted + revoked + no sbom + bypassed -> untrusted-identity
    let mut c = ok_container("a", "cgr.dev/chainguard/nginx:1.25", 1);
    c.admitted = None;
    // unsigned + bypassed -> unsigned
    let mut c2 = ok_container("b", &format!("cgr.dev/chainguard/nginx@{}", d(9)), 9);
    c2.admitted = None;
    // drifted + unsigned -> drifted
    let c3 = container(
        "c",
        "cgr.dev/chainguard/nginx:latest",
        Some(format!("{CG}@{}", d(9))),
        Some(d(2)),
    );
    // unknown + bypassed -> unknown
    let c4 = container("d", "cgr.dev/chainguard/nginx:latest", None, None);
    i.state.pods.push(pod("web", "p", vec![c, c2, c3, c4]));
    let r = drift(&i, &DriftOptions::default(), now()).unwrap();
    let s: Vec<_> = r.findings.iter().map(|f| f.status).collect();
    assert_eq!(
        s,
        [
            Status::UntrustedIdentity,
            Status::Unsigned,
            Status::Drifted,
            Status::Unknown
        ]
    );
    let a = &r.findings[0];
    for fl in [
        Flag::UntrustedIdentity,
        Flag::SignerRevoked,
        Flag::NoSbom,
        Flag::BypassedAdmission,
    ] {
        assert!(a.flags.contains(fl), "{fl:?}");
    }
    assert!(r.findings[3].flags.contains(Flag::BypassedAdmission));

    // trusted + revoked + no sbom -> signer-revoked; with an expired exception -> exception-expired
    let mut e = base_entries();
    e[0] = entry(1, CG, &["1.25"], keyless(CG_SUBJECT), false);
    let mut i = input(
        e,
        vec![pod(
            "web",
            "p",
            vec![ok_container("c", "cgr.dev/chainguard/nginx:1.25", 1)],
        )],
    );
    i.revocations.push(Revocation {
        subject: Some(CG_SUBJECT.into()),
        issuer: None,
        key_fingerprint: None,
        revoked_at: days_ago(1),
        reason: None,
    });
    assert_eq!(one(&i).status, Status::SignerRevoked);
    i.exceptions
        .push(exception("x", "web", None, Some("p"), days_ago(1)));
    assert_eq!(one(&i).status, Status::ExceptionExpired);
}

#[test]
fn primary_status_follows_declared_order() {
    use trustswap::audit::drift::{Flags, primary_status};
    let all: Flags = Flag::ALL
        .into_iter()
        .filter(|f| *f != Flag::ExceptionActive)
        .collect();
    assert_eq!(primary_status(all), Status::ExceptionExpired);
    assert_eq!(primary_status(Flags::empty()), Status::Compliant);
    let mut prev = Status::ExceptionExpired;
    let mut flags = all;
    for f in Flag::ALL {
        flags.remove(f);
        let s = primary_status(flags);
        assert!(s >= prev, "{f:?}: {s:?} < {prev:?}");
        prev = s;
    }
    assert_eq!(prev, Status::Compliant);
}

// ---------------------------------------------------------------- parsing

#[test]
fn image_id_forms() {
    let h = "a".repeat(64);
    let s = format!("docker-pullable://dhi.io/python@sha256:{h}");
    let p = parse_image_id(&s).unwrap().unwrap();
    assert_eq!(p.repository, Some("dhi.io/python"));
    assert_eq!(p.digest, format!("sha256:{h}"));
    let s = format!("docker.io/library/nginx@sha256:{h}");
    let p = parse_image_id(&s).unwrap().unwrap();
    assert_eq!(p.repository, Some("docker.io/library/nginx"));
    let s = format!("localhost:5000/app@sha256:{h}");
    let p = parse_image_id(&s).unwrap().unwrap();
    assert_eq!(p.repository, Some("localhost:5000/app"));
    let s = format!("sha256:{h}");
    let p = parse_image_id(&s).unwrap().unwrap();
    assert_eq!(p.repository, None);
    let s = format!("docker://sha256:{h}");
    let p = parse_image_id(&s).unwrap().unwrap();
    assert_eq!(p.repository, None);
    assert_eq!(parse_image_id("").unwrap(), None);
    assert_eq!(parse_image_id("  ").unwrap(), None);
    for bad in [
        "nginx:1.25".to_owned(),
        format!("docker.io/nginx@sha256:{}", "A".repeat(64)),
        format!("docker.io/nginx@sha256:{}", "a".repeat(63)),
        format!("docker.io/nginx@md5:{}", "a".repeat(32)),
        format!("@sha256:{h}"),
        format!("containerd://x@sha256:{h}"),
    ] {
        assert!(parse_image_id(&bad).is_err(), "{bad}");
    }
}

#[test]
fn image_ref_normalisation() {
    let r = parse_image_ref("nginx").unwrap();
    assert_eq!(
        (
            r.repository().as_str(),
            r.tag.as_deref(),
            r.digest.as_deref()
        ),
        ("docker.io/library/nginx", Some("latest"), None)
    );
    let r = parse_image_ref("bitnami/redis:7").unwrap();
    assert_eq!(
        (r.repository().as_str(), r.tag.as_deref()),
        ("docker.io/bitnami/redis", Some("7"))
    );
    let r = parse_image_ref("localhost:5000/app:v1").unwrap();
    assert_eq!(
        (r.repository().as_str(), r.tag.as_deref()),
        ("localhost:5000/app", Some("v1"))
    );
    let dg = d(3);
    let s = format!("dhi.io/python:3.13@{dg}");
    let r = parse_image_ref(&s).unwrap();
    assert_eq!(
        (
            r.repository().as_str(),
            r.tag.as_deref(),
            r.digest.as_deref()
        ),
        ("dhi.io/python", Some("3.13"), Some(dg.as_str()))
    );
    let s = format!("docker.io/nginx@{dg}");
    let r = parse_image_ref(&s).unwrap();
    assert_eq!(
        (r.repository().as_str(), r.tag.as_deref()),
        ("docker.io/library/nginx", None)
    );
    assert!(parse_image_ref("").is_err());
    assert!(parse_image_ref("nginx:").is_err());
    assert!(parse_image_ref("nginx@sha256:zz").is_err());
    assert!(parse_image_ref(" nginx").is_err());
    assert!(parse_image_ref("nginx:1 ").is_err());
}

#[test]
fn manifest_tag_matches_normalised_image() {
    let e = vec![entry(1, "nginx", &["1.27"], keyless(CG_SUBJECT), true)];
    let c = container(
        "c",
        "docker.io/library/nginx:1.27",
        Some(format!("docker-pullable://nginx@{}", d(2))),
        Some(d(2)),
    );
    let i = input(e, vec![pod("web", "p", vec![c])]);
    let f = one(&i);
    assert!(f.flags.contains(Flag::TagMoved));
    assert_eq!(f.repository.as_deref(), Some("nginx"));
}

#[test]
fn unparsable_image_id_is_an_error_naming_pod_and_container() {
    let c = container(
        "app",
        "cgr.dev/chainguard/nginx:1.25",
        Some("cgr.dev/chainguard/nginx:1.25".into()),
        Some(d(1)),
    );
    let i = input(base_entries(), vec![pod("web", "p-1", vec![c])]);
    let err = drift(&i, &DriftOptions::default(), now()).unwrap_err();
    assert!(matches!(err, DriftError::ImageId { .. }));
    let msg = err.to_string();
    assert!(
        msg.starts_with("pod web/p-1 container app: unparsable imageID"),
        "{msg}"
    );
}

#[test]
fn malformed_inputs_are_errors() {
    let opts = DriftOptions::default();
    // invalid admitted digest
    let c = container(
        "app",
        "cgr.dev/chainguard/nginx:1.25",
        Some(format!("{CG}@{}", d(1))),
        Some("sha256:xyz".into()),
    );
    let i = input(base_entries(), vec![pod("web", "p", vec![c])]);
    assert!(
        drift(&i, &opts, now())
            .unwrap_err()
            .to_string()
            .contains("invalid admitted.digest")
    );
    // duplicate pod
    let p = pod(
        "web",
        "p",
        vec![ok_container("c", "cgr.dev/chainguard/nginx:1.25", 1)],
    );
    let i = input(base_entries(), vec![p.clone(), p]);
    assert_eq!(
        drift(&i, &opts, now()).unwrap_err().to_string(),
        "duplicate pod web/p in state.pods"
    );
    // duplicate container
    let c = ok_container("c", "cgr.dev/chainguard/nginx:1.25", 1);
    let i = input(base_entries(), vec![pod("web", "p", vec![c.clone(), c])]);
    assert!(matches!(
        drift(&i, &opts, now()).unwrap_err(),
        DriftError::DuplicateContainer { .. }
    ));
    // conflicting tag
    let mut e = base_entries();
    e[1].tags.push("1.25".into());
    let i = input(e, vec![]);
    let msg = drift(&i, &opts, now()).unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "manifest: tag cgr.dev/chainguard/nginx:1.25 is claimed by both {} and {}",
            d(1),
            d(2)
        )
    );
    // bad regexp
    let mut i = input(base_entries(), vec![]);
    i.trust_policy.rules[2].identities[0].subject_reg_exp = Some("(".into());
    let msg = drift(&i, &opts, now()).unwrap_err().to_string();
    assert!(
        msg.starts_with("trustPolicy.rules[2].identities[0].subjectRegExp \"(\":"),
        "{msg}"
    );
    // signer with both forms
    let mut e = base_entries();
    e[0].signer.key_fingerprint = Some(DHI_KEY.into());
    let msg = drift(&input(e, vec![]), &opts, now())
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("manifest.entries[0].signer"), "{msg}");
    // bad manifest digest
    let mut e = base_entries();
    e[1].digest = "sha256:1234".into();
    let msg = drift(&input(e, vec![]), &opts, now())
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("manifest.entries[1].digest \"sha256:1234\""),
        "{msg}"
    );
    // duplicate digest
    let mut e = base_entries();
    e[1].digest = d(1);
    e[1].tags.clear();
    assert!(matches!(
        drift(&input(e, vec![]), &opts, now()).unwrap_err(),
        DriftError::DuplicateDigest { .. }
    ));
    // exception without selector
    let mut i = input(base_entries(), vec![]);
    i.exceptions.push(exception("x", "web", None, None, now()));
    assert_eq!(
        drift(&i, &opts, now()).unwrap_err().to_string(),
        "exceptions[0] (x): needs image or podName"
    );
    // identity without issuer
    let mut i = input(base_entries(), vec![]);
    i.trust_policy.rules[0].identities[0].issuer = None;
    assert!(
        drift(&i, &opts, now())
            .unwrap_err()
            .to_string()
            .contains("needs issuer or issuerRegExp")
    );
    // unparsable image
    let c = container("app", "bad image", Some(format!("{CG}@{}", d(1))), None);
    let i = input(base_entries(), vec![pod("web", "p", vec![c])]);
    assert!(
        drift(&i, &opts, now())
            .unwrap_err()
            .to_string()
            .starts_with("pod web/p container app: unparsable image ")
    );
}

// ---------------------------------------------------------------- attribution

#[test]
fn attribution_to_team_and_workload() {
    let c = || ok_container("c", "cgr.dev/chainguard/nginx:1.25", 1);
    let mut rs = pod("shop", "cart-7d9f8b-x2x", vec![c()]);
    rs.owner = Some(OwnerRef {
        kind: "ReplicaSet".into(),
        name: "cart-7d9f8b".into(),
    });
    rs.labels
        .insert("pod-template-hash".into(), "7d9f8b".into());
    let mut sts = pod("shop", "db-0", vec![c()]);
    sts.owner = Some(OwnerRef {
        kind: "StatefulSet".into(),
        name: "db".into(),
    });
    sts.labels.clear(); // team from the namespace label
    let mut lone_rs = pod("shop", "lone-abc", vec![c()]);
    lone_rs.owner = Some(OwnerRef {
        kind: "ReplicaSet".into(),
        name: "lone".into(),
    });
    let mut bare = pod("other", "debug", vec![c()]);
    bare.labels.clear(); // no team anywhere
    let mut i = input(base_entries(), vec![rs, sts, lone_rs, bare]);
    let mut labels = BTreeMap::new();
    labels.insert("team".to_owned(), "storefront".to_owned());
    i.state.namespaces.push(Namespace {
        name: "shop".into(),
        labels,
    });
    let r = drift(&i, &DriftOptions::default(), now()).unwrap();
    let got: Vec<_> = r
        .findings
        .iter()
        .map(|f| {
            (
                f.namespace.as_ref(),
                f.workload_kind.as_ref(),
                f.workload_name.as_ref(),
                f.pod.as_ref(),
                f.team.as_ref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("other", "Pod", "debug", "debug", "unowned"),
            ("shop", "Deployment", "cart", "cart-7d9f8b-x2x", "payments"),
            ("shop", "ReplicaSet", "lone", "lone-abc", "payments"),
            ("shop", "StatefulSet", "db", "db-0", "storefront"),
        ]
    );
    let teams: Vec<_> = r
        .summary
        .by_team
        .iter()
        .map(|t| (t.name.as_ref(), t.containers))
        .collect();
    assert_eq!(teams, [("payments", 2), ("storefront", 1), ("unowned", 1)]);
    let nss: Vec<_> = r
        .summary
        .by_namespace
        .iter()
        .map(|t| (t.name.as_ref(), t.containers))
        .collect();
    assert_eq!(nss, [("other", 1), ("shop", 3)]);

    // A custom team label.
    let opts = DriftOptions {
        team_label: "owner".into(),
        ..DriftOptions::default()
    };
    i.state.pods[0].labels.insert("owner".into(), "sre".into());
    let r = drift(&i, &opts, now()).unwrap();
    let teams: Vec<&str> = r.findings.iter().map(|f| &*f.team).collect();
    assert_eq!(teams, ["unowned", "sre", "unowned", "unowned"]);
}

#[test]
fn finding_and_summary_carry_container_attribution() {
    let mut init = ok_container("setup", "cgr.dev/chainguard/nginx:1.25", 1);
    init.kind = ContainerKind::Init;
    init.admitted = None;
    let mut dbg = ok_container("debugger", &format!("cgr.dev/chainguard/nginx@{}", d(9)), 9);
    dbg.kind = ContainerKind::Ephemeral;
    let i = input(
        base_entries(),
        vec![pod(
            "web",
            "p",
            vec![
                init,
                dbg,
                ok_container("app", "cgr.dev/chainguard/nginx:1.25", 1),
            ],
        )],
    );
    let r = drift(&i, &DriftOptions::default(), now()).unwrap();
    let got: Vec<_> = r
        .findings
        .iter()
        .map(|f| (f.container.as_ref(), f.container_kind, f.status))
        .collect();
    assert_eq!(
        got,
        [
            ("app", ContainerKind::Container, Status::Compliant),
            ("debugger", ContainerKind::Ephemeral, Status::Unsigned),
            ("setup", ContainerKind::Init, Status::BypassedAdmission),
        ]
    );
    assert_eq!(r.summary.non_compliant, 2);
    assert_eq!(r.summary.by_status[&Status::Compliant], 1);
    assert_eq!(r.summary.by_status[&Status::Drifted], 0);
    assert_eq!(r.summary.by_namespace[0].by_status.len(), 3);
}

// ---------------------------------------------------------------- determinism

fn shuffle<T>(v: &mut [T], seed: &mut u64) {
    for i in (1..v.len()).rev() {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = (*seed >> 33) as usize % (i + 1);
        v.swap(i, j);
    }
}

#[test]
fn determinism_under_shuffled_input() {
    let mut i = synth::generate(600, 400, 20, 5);
    let opts = DriftOptions::default();
    let a = serde_json::to_string(&drift(&i, &opts, synth::now()).unwrap()).unwrap();
    let mut seed = 42;
    for _ in 0..3 {
        shuffle(&mut i.state.pods, &mut seed);
        for p in &mut i.state.pods {
            shuffle(&mut p.containers, &mut seed);
        }
        shuffle(&mut i.state.namespaces, &mut seed);
        shuffle(&mut i.manifest.entries, &mut seed);
        shuffle(&mut i.exceptions, &mut seed);
        shuffle(&mut i.revocations, &mut seed);
        let b = serde_json::to_string(&drift(&i, &opts, synth::now()).unwrap()).unwrap();
        assert!(a == b, "output changed after shuffling the input");
    }
}

#[test]
fn smoke_10k_pods() {
    let i = synth::generate(10_000, 2_000, 200, 50);
    let r = drift(&i, &DriftOptions::default(), synth::now()).unwrap();
    assert_eq!(r.summary.pods, 10_000);
    assert_eq!(r.findings.len(), 30_000);
    assert_eq!(r.summary.containers, 30_000);
    let sum: usize = r.summary.by_status.values().sum();
    assert_eq!(sum, 30_000);
    // Every status appears in the realistic mix.
    for s in Status::ALL {
        assert!(r.summary.by_status[&s] > 0, "{s} never occurs");
    }
    assert!(r.summary.by_status[&Status::Compliant] > 15_000);
    assert_eq!(r.summary.by_namespace.len(), 200);
    // 50 teams, plus `unowned` for unlabelled pods in unlabelled namespaces.
    assert_eq!(r.summary.by_team.len(), 51);
    assert!(r.summary.by_team.iter().any(|t| t.name == "unowned"));
    assert!(
        r.summary
            .by_namespace
            .windows(2)
            .all(|w| w[0].name < w[1].name)
    );
    assert!(r.findings.windows(2).all(|w| {
        fn k<'x>(
            f: &'x trustswap::audit::drift::Finding<'_>,
        ) -> (&'x str, &'x str, &'x str, &'x str, &'x str) {
            (
                &f.namespace,
                &f.workload_kind,
                &f.workload_name,
                &f.pod,
                &f.container,
            )
        }
        k(&w[0]) < k(&w[1])
    }));
    assert_eq!(r.summary.verdict, Verdict::NonCompliant);
    // Every non-compliant finding has a hint; compliant ones have none.
    assert!(
        r.findings
            .iter()
            .all(|f| (f.status == Status::Compliant && !f.waived) == f.hint.is_empty())
    );
}

// ---------------------------------------------------------------- serde and table

#[test]
fn inputs_load_from_yaml_and_reject_unknown_fields() {
    let yaml = format!(
        r#"
state:
  namespaces:
    - name: web
      labels: {{team: payments}}
  pods:
    - namespace: web
      name: p
      creationTimestamp: 2026-05-01T00:00:00Z
      owner: {{kind: Deployment, name: web}}
      containers:
        - name: c
          image: cgr.dev/chainguard/nginx:1.25
          imageID: docker-pullable://cgr.dev/chainguard/nginx@{d1}
          admitted: {{digest: "{d1}", policy: cg/verify}}
manifest:
  entries:
    - digest: "{d1}"
      repository: cgr.dev/chainguard/nginx
      tags: ["1.25"]
      signer: {{subject: "{CG_SUBJECT}", issuer: "{CG_ISSUER}"}}
      attestations: [https://spdx.dev/Document]
      signedAt: 2026-05-01T00:00:00Z
trustPolicy:
  rules:
    - name: chainguard
      images: ["cgr.dev/chainguard/*"]
      identities:
        - issuer: {CG_ISSUER}
          subjectRegExp: "https://github\\.com/chainguard-images/images/.*"
"#,
        d1 = d(1)
    );
    let i: AuditInput = serde_saphyr::from_str(&yaml).unwrap();
    let r = drift(&i, &DriftOptions::default(), now()).unwrap();
    assert_eq!(r.findings[0].status, Status::Compliant);
    assert_eq!(r.findings[0].team, "payments");

    let bad = yaml.replace("      tags:", "      tagz:");
    assert!(serde_saphyr::from_str::<AuditInput>(&bad).is_err());
    let bad = serde_json::json!({"teamLabel": "team", "bogus": 1});
    assert!(serde_json::from_value::<DriftOptions>(bad).is_err());
    let opts: DriftOptions = serde_json::from_str(r#"{"teamLabel":"owner"}"#).unwrap();
    assert_eq!(opts.stale_after_days, Some(90));
}

#[test]
fn report_json_is_camel_case_and_round_trips() {
    let mut c = ok_container("c", "cgr.dev/chainguard/nginx:1.25", 1);
    c.admitted = None;
    let i = input(base_entries(), vec![pod("web", "p", vec![c])]);
    let r = drift(&i, &DriftOptions::default(), now()).unwrap();
    let v = serde_json::to_value(&r).unwrap();
    let f = &v["findings"][0];
    assert_eq!(f["status"], "bypassed-admission");
    assert_eq!(f["flags"], serde_json::json!(["bypassed-admission"]));
    assert_eq!(f["workloadKind"], "Pod");
    assert_eq!(f["ageDays"], 10);
    assert_eq!(v["summary"]["verdict"], "non-compliant");
    assert_eq!(v["summary"]["byStatus"]["bypassed-admission"], 1);
    let back: trustswap::audit::drift::DriftReport<'static> = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);
}

#[test]
fn table_has_fixed_columns() {
    let i = synth::generate(30, 100, 3, 2);
    let r = drift(&i, &DriftOptions::default(), synth::now()).unwrap();
    let t = render_table(&r, TableFilter::All);
    let lines: Vec<&str> = t.lines().collect();
    assert!(lines[0].starts_with("STATUS              NAMESPACE"));
    let hint_col = lines[0].find("HINT").unwrap();
    for l in lines.iter().skip(1).take(r.findings.len()) {
        // every row's columns line up: the digest column starts at the same offset
        let digest_col = lines[0].find("DIGEST").unwrap();
        assert!(l.chars().count() >= digest_col, "{l}");
        assert!(
            l.chars().nth(hint_col - 1) == Some(' ') || l.chars().count() <= hint_col,
            "{l}"
        );
    }
    assert_eq!(lines.len(), 1 + r.findings.len() + 2 + Status::ALL.len());
    assert!(t.contains("verdict: non-compliant"));
    let only = render_table(&r, TableFilter::NotCompliant);
    assert!(only.lines().count() < t.lines().count());
    assert!(!only.lines().skip(1).any(|l| l.starts_with("compliant ")));
}

// ---------------------------------------------------------------- the CLI at scale

/// Runs `trustswap audit drift --input FILE` (bounded: a hang fails).
fn audit_cli(input: &std::path::Path, extra: &[&str]) -> std::process::Output {
    use std::process::{Command, Stdio};
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trustswap"))
        .args(["audit", "drift", "--input"])
        .arg(input)
        .args(["--now", "2026-06-01T00:00:00Z"])
        .args(extra)
        .env("HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    // Drain stdout while waiting: a full pipe would stall the child.
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut { stdout }, &mut out).unwrap();
        out
    });
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(300) {
            let _ = child.kill();
            panic!("audit drift {} still running after 300 s", input.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut out = child.wait_with_output().unwrap();
    out.stdout = reader.join().unwrap();
    out
}

/// YAML nodes of a document (scalars, keys included, plus sequences and
/// mappings), counted on its JSON form: the same tree.
fn nodes(v: &serde_json::Value) -> usize {
    1 + match v {
        serde_json::Value::Array(a) => a.iter().map(nodes).sum(),
        serde_json::Value::Object(o) => o.values().map(|v| 1 + nodes(v)).sum(),
        _ => 0,
    }
}

/// 9,000 pods: over 300,000 YAML nodes, past serde-saphyr's default budget of
/// 250,000 nodes, which refused states of a few thousand pods (JSON too: it
/// went through the YAML parser). Loads from YAML and from JSON, through the
/// CLI, to the library's report.
#[test]
fn a_state_past_the_default_yaml_budget_loads_from_yaml_and_json() {
    const PODS: usize = 9_000;
    let i = synth::generate(PODS, 200, 100, 10);
    let yaml = serde_saphyr::to_string(&i).unwrap();

    let n = nodes(&serde_json::to_value(&i).unwrap());
    assert!(
        n > 300_000 && n > serde_saphyr::Budget::default().max_nodes,
        "{n} nodes"
    );

    let dir = tempfile::tempdir().unwrap();
    let as_yaml = dir.path().join("state.yaml");
    let as_json = dir.path().join("state.json");
    // JSON without the extension is recognised by its first byte.
    let sniffed = dir.path().join("state.txt");
    std::fs::write(&as_yaml, &yaml).unwrap();
    let json = serde_json::to_vec(&i).unwrap();
    std::fs::write(&as_json, &json).unwrap();
    std::fs::write(&sniffed, &json).unwrap();
    let want = drift(&i, &DriftOptions::default(), synth::now()).unwrap();
    let want = format!(
        "{} pods, {} containers: {} non-compliant",
        PODS,
        PODS * 3,
        want.findings
            .iter()
            .filter(|f| f.status != Status::Compliant && !f.waived)
            .count()
    );
    for path in [&as_yaml, &as_json, &sniffed] {
        let o = audit_cli(path, &[]);
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{}: {err}", path.display());
        assert!(
            out.contains(&want),
            "{}: want `{want}` in {out}",
            path.display()
        );
    }
}

#[test]
fn json_errors_are_json_errors_and_flow_yaml_still_parses() {
    let dir = tempfile::tempdir().unwrap();
    // A `.json` file with an unknown field: serde_json's message, with line and column.
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        "{\"state\": {\"pods\": []},\n \"manifest\": {\"entries\": []},\n \"trustPolicy\": {\"rules\": []}, \"revocation\": []}",
    )
    .unwrap();
    let o = audit_cli(&bad, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad.json: invalid JSON: unknown field `revocation`")
            && err.contains("line 3"),
        "{err}"
    );
    // YAML in flow style also starts with `{`: not JSON, parsed as YAML.
    let flow = dir.path().join("flow.yaml");
    let i = synth::generate(3, 20, 2, 2);
    let json = serde_json::to_string(&i).unwrap();
    // Unquote one key: valid YAML, invalid JSON.
    let yaml = json.replacen("\"state\":", "state: ", 1);
    assert!(serde_json::from_str::<serde_json::Value>(&yaml).is_err());
    std::fs::write(&flow, yaml).unwrap();
    let o = audit_cli(&flow, &[]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// No pods (or pods without containers) audit nothing: an input error, not
/// a "compliant" verdict.
#[test]
fn an_empty_state_is_an_input_error_not_compliant() {
    let dir = tempfile::tempdir().unwrap();
    let i = synth::generate(3, 20, 2, 2);
    let mut empty = i.clone();
    empty.state.pods.clear();
    let mut hollow = i.clone();
    for p in &mut hollow.state.pods {
        p.containers.clear();
    }
    for (name, input, says) in [
        ("empty.yaml", empty, "the state lists no pods"),
        (
            "hollow.json",
            hollow,
            "none of the state's 3 pods lists a container",
        ),
    ] {
        let path = dir.path().join(name);
        if name.ends_with(".json") {
            std::fs::write(&path, serde_json::to_vec(&input).unwrap()).unwrap();
        } else {
            std::fs::write(&path, serde_saphyr::to_string(&input).unwrap()).unwrap();
        }
        for format in ["table", "json"] {
            let o = audit_cli(&path, &["--format", format]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{name}: {err}");
            assert!(
                err.contains(name) && err.contains(says) && err.contains("nothing to audit"),
                "{name}: {err}"
            );
            assert!(o.stdout.is_empty(), "no verdict is printed");
        }
    }
    // The same fleet with its pods audits as usual.
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, serde_saphyr::to_string(&i).unwrap()).unwrap();
    assert_ne!(audit_cli(&path, &[]).status.code(), Some(2));
}

// ---------------------------------------------------------------- regressions

/// Regression (issue 13): registry tags of Docker Hub official images were
/// stored as written (`docker.io/nginx:1.25`, the form Kyverno and the
/// experiment step use) but looked up in the runtime form
/// (`docker.io/library/nginx:1.25`), so a moved tag was never reported.
/// Every spelling of the key now finds the tag.
#[test]
fn regression_docker_hub_official_image_tag_drift_is_found_for_every_key_spelling() {
    for key in [
        "nginx:1.25",
        "docker.io/nginx:1.25",
        "docker.io/library/nginx:1.25",
        "index.docker.io/library/nginx:1.25",
    ] {
        let e = vec![entry(1, "nginx", &[], keyless(CG_SUBJECT), true)];
        let c = container(
            "c",
            "nginx:1.25",
            Some(format!(
                "docker-pullable://docker.io/library/nginx@{}",
                d(1)
            )),
            Some(d(1)),
        );
        let mut i = input(e, vec![pod("web", "p", vec![c])]);
        i.registry_tags.insert(key.to_owned(), d(2));
        let f = one(&i);
        assert!(f.flags.contains(Flag::TagMoved), "{key}: {:?}", f.flags);
        assert_eq!(f.status, Status::Drifted, "{key}");
    }
}

/// Two spellings of one Docker Hub tag that name different digests were
/// resolved by map order (last wins); they are now an input error naming both.
#[test]
fn two_spellings_of_one_registry_tag_with_different_digests_are_refused() {
    let e = vec![entry(1, "nginx", &[], keyless(CG_SUBJECT), true)];
    let c = container("c", "nginx:1.25", None, Some(d(1)));
    let mut i = input(e, vec![pod("web", "p", vec![c])]);
    i.registry_tags.insert("nginx:1.25".to_owned(), d(1));
    i.registry_tags
        .insert("docker.io/library/nginx:1.25".to_owned(), d(2));
    let err = drift(&i, &DriftOptions::default(), now()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "registryTags: docker.io/library/nginx:1.25 and nginx:1.25 are the same tag \
             (docker.io/library/nginx:1.25) but name different digests ({}, {}); keep one",
            d(2),
            d(1)
        )
    );
    // the same digest under both spellings is fine
    i.registry_tags.insert("nginx:1.25".to_owned(), d(2));
    drift(&i, &DriftOptions::default(), now()).expect("one digest, two spellings");
}

/// The registry serving the running digest is not drift, whatever the spelling.
#[test]
fn docker_hub_tag_on_the_running_digest_is_not_drift() {
    let e = vec![entry(1, "nginx", &[], keyless(CG_SUBJECT), true)];
    let c = container(
        "c",
        "docker.io/nginx:1.25",
        Some(format!("docker.io/library/nginx@{}", d(1))),
        Some(d(1)),
    );
    let mut i = input(e, vec![pod("web", "p", vec![c])]);
    i.registry_tags.insert("nginx:1.25".to_owned(), d(1));
    let f = one(&i);
    assert!(!f.flags.contains(Flag::TagMoved), "{:?}", f.flags);
}

/// Regression (issue 13): the experiment step ranked pod statuses with its own
/// list, which put `exception-expired` after everything else, against the
/// drift audit's precedence (DRIFT.md: it comes first). There is one ranking
/// now, `Status`'s order.
#[test]
fn regression_one_drift_ranking_exception_expired_wins_a_pod() {
    use trustswap::experiment::audit_step::{PodFinding, pod_status};
    let finding = |container: &str, status| PodFinding {
        namespace: "apps".into(),
        pod: "p".into(),
        team: "payments".into(),
        container: container.into(),
        digest: d(1),
        status,
        hint: String::new(),
    };
    for order in [
        [Status::Drifted, Status::ExceptionExpired],
        [Status::ExceptionExpired, Status::Drifted],
    ] {
        let findings = [finding("a", order[0]), finding("b", order[1])];
        assert_eq!(
            pod_status(findings.iter()).get("p"),
            Some(&Status::ExceptionExpired)
        );
    }
    // And the ranking is the audit's precedence, end to end.
    let mut all = Status::ALL.to_vec();
    all.sort();
    assert_eq!(all, Status::ALL.to_vec());
    let findings: Vec<PodFinding> = Status::ALL
        .iter()
        .rev()
        .map(|s| finding(s.as_str(), *s))
        .collect();
    assert_eq!(pod_status(findings.iter()).get("p"), Some(&Status::ALL[0]));
}
