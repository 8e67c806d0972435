//! Deterministic synthetic fleet for the smoke test, the benchmark and the
//! memory example: `pods` pods x 3 containers over `namespaces` namespaces
//! and `teams` teams, against a manifest of `digests` signed digests from
//! four vendors, with a realistic mix of failure modes.
#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use trustswap::audit::drift::{
    Admission, AuditInput, Container, ContainerKind, Exception, Manifest, ManifestEntry, Namespace,
    OwnerRef, Pod, Revocation, RunningState, Signer, TrustPolicy, TrustRule, TrustedIdentity,
};
use trustswap::experiment::generate::SplitMix64;

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

struct Rng(SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn hex(&mut self, bytes: usize) -> String {
        let mut s = String::with_capacity(bytes * 2);
        while s.len() < bytes * 2 {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(bytes * 2);
        s
    }
}

const CG_ISSUER: &str = "https://token.actions.githubusercontent.com";
const CG_SUBJECT: &str =
    "https://github.com/chainguard-images/images/.github/workflows/release.yaml@refs/heads/main";
const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const DISTROLESS: &str = "keyless@distroless.iam.gserviceaccount.com";
pub const DHI2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
pub const DHI1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const PER_REPO: usize = 20;

fn repo_name(r: usize) -> String {
    match r % 4 {
        0 => format!("dhi.io/img{r}"),
        1 => format!("cgr.dev/chainguard/img{r}"),
        2 => format!("ghcr.io/acme/shop/img{r}"),
        _ => format!("gcr.io/distroless/img{r}"),
    }
}

pub fn trust_policy() -> TrustPolicy {
    TrustPolicy {
        rules: vec![
            TrustRule {
                name: "dhi".into(),
                images: vec!["dhi.io/*".into()],
                identities: vec![],
                // The broad matcher after key rotation: both keys still accepted.
                key_fingerprints: vec![DHI2.into(), DHI1.into()],
            },
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
                name: "self-built".into(),
                images: vec!["ghcr.io/acme/*".into()],
                identities: vec![TrustedIdentity {
                    issuer: Some(CG_ISSUER.into()),
                    issuer_reg_exp: None,
                    subject: None,
                    subject_reg_exp: Some(
                        r"https://github\.com/acme/shop/\.github/workflows/release\.yaml@refs/tags/v[0-9]+\.[0-9]+\.[0-9]+".into(),
                    ),
                }],
                key_fingerprints: vec![],
            },
            TrustRule {
                name: "distroless".into(),
                images: vec!["gcr.io/distroless/*".into()],
                identities: vec![TrustedIdentity {
                    issuer: Some(GOOGLE_ISSUER.into()),
                    issuer_reg_exp: None,
                    subject: Some(DISTROLESS.into()),
                    subject_reg_exp: None,
                }],
                key_fingerprints: vec![],
            },
        ],
    }
}

fn signer(r: usize, rng: &mut Rng) -> Signer {
    let untrusted = rng.below(100) < 2;
    match r % 4 {
        0 => Signer {
            subject: None,
            issuer: None,
            // 10% of DHI digests still signed by the retired (revoked) key.
            key_fingerprint: Some(if rng.below(10) == 0 { DHI1 } else { DHI2 }.into()),
        },
        1 => Signer {
            subject: Some(if untrusted {
                "https://github.com/evil/fork/.github/workflows/release.yaml@refs/heads/main".into()
            } else {
                CG_SUBJECT.into()
            }),
            issuer: Some(CG_ISSUER.into()),
            key_fingerprint: None,
        },
        2 => Signer {
            subject: Some(if untrusted {
                "https://github.com/acme/shop/.github/workflows/debug.yaml@refs/heads/dev".into()
            } else {
                format!(
                    "https://github.com/acme/shop/.github/workflows/release.yaml@refs/tags/v1.{}.{}",
                    rng.below(30),
                    rng.below(10)
                )
            }),
            issuer: Some(CG_ISSUER.into()),
            key_fingerprint: None,
        },
        _ => Signer {
            subject: Some(DISTROLESS.into()),
            issuer: Some(GOOGLE_ISSUER.into()),
            key_fingerprint: None,
        },
    }
}

fn sbom_type(r: usize) -> &'static str {
    match r % 4 {
        0 => "https://cyclonedx.org/bom/v1.6",
        1 => "https://spdx.dev/Document",
        2 => "https://cyclonedx.org/bom/v1.6",
        _ => "https://spdx.dev/Document/v2.3",
    }
}

/// Generates the fleet. `digests` is rounded down to a multiple of 20.
pub fn generate(pods: usize, digests: usize, namespaces: usize, teams: usize) -> AuditInput {
    let now = now();
    let mut rng = Rng(SplitMix64(0x5eed));
    let repos = (digests / PER_REPO).max(1);
    let mut entries = Vec::with_capacity(repos * PER_REPO);
    // digest_of[r][i]
    let mut digest_of: Vec<Vec<String>> = Vec::with_capacity(repos);
    for r in 0..repos {
        let repository = repo_name(r);
        let mut ds = Vec::with_capacity(PER_REPO);
        for i in 0..PER_REPO {
            let digest = format!("sha256:{}", rng.hex(32));
            let mut tags = vec![format!("1.{i}")];
            if i == PER_REPO - 1 {
                tags.push("stable".into());
            }
            let mut attestations = vec!["https://slsa.dev/provenance/v1".to_owned()];
            if rng.below(100) >= 4 {
                attestations.push(sbom_type(r).into());
            }
            entries.push(ManifestEntry {
                digest: digest.clone(),
                repository: repository.clone(),
                tags,
                signer: signer(r, &mut rng),
                attestations,
                signed_at: now - Duration::days(((PER_REPO - i) * 9) as i64),
            });
            ds.push(digest);
        }
        digest_of.push(ds);
    }

    let ns: Vec<Namespace> = (0..namespaces)
        .map(|n| {
            let mut labels = BTreeMap::new();
            labels.insert(
                "kubernetes.io/metadata.name".to_owned(),
                format!("ns-{n:04}"),
            );
            if n % 2 == 0 {
                labels.insert("team".to_owned(), format!("team-{:02}", n % teams.max(1)));
            }
            Namespace {
                name: format!("ns-{n:04}"),
                labels,
            }
        })
        .collect();

    let mut out_pods = Vec::with_capacity(pods);
    for p in 0..pods {
        let w = p / 3;
        let n = w % namespaces.max(1);
        let team = format!("team-{:02}", n % teams.max(1));
        let hash = format!("{:x}", (w as u64).wrapping_mul(0x9e37_79b9) & 0xff_ffff);
        let roll = rng.below(100);
        let (owner, wname) = match w % 20 {
            0 => (None, format!("bare{w}")),
            1 | 2 => (
                Some(OwnerRef {
                    kind: "StatefulSet".into(),
                    name: format!("db{w}"),
                }),
                format!("db{w}"),
            ),
            3 => (
                Some(OwnerRef {
                    kind: "DaemonSet".into(),
                    name: format!("agent{w}"),
                }),
                format!("agent{w}"),
            ),
            _ => (
                Some(OwnerRef {
                    kind: "ReplicaSet".into(),
                    name: format!("svc{w}-{hash}"),
                }),
                format!("svc{w}-{hash}"),
            ),
        };
        let mut labels = BTreeMap::new();
        labels.insert("app".to_owned(), wname.clone());
        if owner.as_ref().is_some_and(|o| o.kind == "ReplicaSet") {
            labels.insert("pod-template-hash".to_owned(), hash.clone());
        }
        if !roll.is_multiple_of(10) {
            labels.insert("team".to_owned(), team);
        }
        let mut containers = Vec::with_capacity(3);
        for (ci, (cname, kind)) in [
            ("init", ContainerKind::Init),
            ("app", ContainerKind::Container),
            ("sidecar", ContainerKind::Container),
        ]
        .into_iter()
        .enumerate()
        {
            let r =
                ((w as u64).wrapping_mul(31).wrapping_add(ci as u64 * 7) % repos as u64) as usize;
            let repo = repo_name(r);
            let latest = digest_of[r][PER_REPO - 1].clone();
            let scenario = rng.below(1000);
            let (image, running, admitted): (String, Option<String>, Option<String>) =
                match scenario {
                    // long-running pod on an old digest of a moved tag
                    0..=39 => {
                        let old = digest_of[r][rng.below(PER_REPO as u64 - 1) as usize].clone();
                        (format!("{repo}:stable"), Some(old.clone()), Some(old))
                    }
                    // vendor re-pushed the tag to an unsigned digest
                    40..=59 => (
                        format!("{repo}:stable"),
                        Some(format!("sha256:{}", rng.hex(32))),
                        Some(latest),
                    ),
                    // unsigned image pinned by digest (admitted by an Audit-mode policy)
                    60..=79 => {
                        let d = format!("sha256:{}", rng.hex(32));
                        (
                            format!("docker.io/library/busybox@{d}"),
                            Some(d.clone()),
                            Some(d),
                        )
                    }
                    // bypassed admission
                    80..=99 => (format!("{repo}:stable"), Some(latest), None),
                    // not started yet
                    100..=104 => (format!("{repo}:stable"), None, Some(latest)),
                    // pinned version tag
                    105..=129 => {
                        let i = rng.below(PER_REPO as u64) as usize;
                        let d = digest_of[r][i].clone();
                        (format!("{repo}:1.{i}"), Some(d.clone()), Some(d))
                    }
                    _ => (format!("{repo}:stable"), Some(latest.clone()), Some(latest)),
                };
            let image_id = running.map(|d| {
                if p % 3 == 0 {
                    format!(
                        "docker-pullable://{}@{d}",
                        image.split(['@', ':']).next().unwrap_or("")
                    )
                } else {
                    let repo_part = image.rsplit_once(':').map_or(image.as_str(), |(a, _)| a);
                    let repo_part = repo_part.split('@').next().unwrap_or(repo_part);
                    format!("{repo_part}@{d}")
                }
            });
            containers.push(Container {
                name: cname.into(),
                kind,
                image,
                image_id,
                admitted: admitted.map(|digest| Admission {
                    digest,
                    policy: format!(
                        "verify-{}/check-image",
                        ["dhi", "chainguard", "self-built", "distroless"][r % 4]
                    ),
                    identity: None,
                    admitted_at: None,
                }),
            });
        }
        out_pods.push(Pod {
            namespace: format!("ns-{n:04}"),
            name: format!("{wname}-{p:06}"),
            labels,
            owner,
            creation_timestamp: now - Duration::days(rng.below(200) as i64),
            containers,
        });
    }

    let exceptions = (0..200)
        .map(|k| {
            let n = (k * 10) % namespaces.max(1);
            Exception {
                name: format!("break-glass-{k:03}"),
                namespace: format!("ns-{n:04}"),
                image: if k % 2 == 0 {
                    Some("docker.io/library/busybox*".into())
                } else {
                    None
                },
                pod_name: if k % 2 == 1 { Some("db*".into()) } else { None },
                expires_at: now + Duration::days(if (k % 20) % 3 == 0 { -5 } else { 20 }),
            }
        })
        .collect();

    AuditInput {
        registry_tags: Default::default(),
        state: RunningState {
            namespaces: ns,
            pods: out_pods,
        },
        manifest: Manifest { entries },
        revocations: vec![
            Revocation {
                subject: None,
                issuer: None,
                key_fingerprint: Some(DHI1.into()),
                revoked_at: now - Duration::days(120),
                reason: Some("dhi-1 retired".into()),
            },
            Revocation {
                subject: Some(
                    "https://github.com/acme/shop/.github/workflows/release.yaml@refs/tags/v1.3.1"
                        .into(),
                ),
                issuer: Some(CG_ISSUER.into()),
                key_fingerprint: None,
                revoked_at: now - Duration::days(30),
                reason: Some("compromised release".into()),
            },
        ],
        exceptions,
        trust_policy: trust_policy(),
    }
}
