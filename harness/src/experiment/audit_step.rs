//! The experiment step `audit`: feeds the drift audit (`trustswap-drift`,
//! pure, no IO, no clock) from the simulated or live cluster and the lab: the
//! manifest of signed digests (from real verification), the registry's
//! current tags, revocations, exceptions and the vendor's trust.

use crate::audit::drift;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::admission::image::ImageRef;
use crate::admission::verifier::{
    AttestorSpec, CtlogSpec, EvidenceFormat, EvidenceVerifier, RekorSpec, TrustSource, Verification,
};
use crate::experiment::cluster::Cluster;
use crate::experiment::lab::LabContext;
use crate::experiment::scenario::IdentityMode;
use crate::policy::Engine;
use crate::profile::{Identity, Matcher, Requirement, Vendor};

/// One container's classification, as experiments and reports use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodFinding {
    pub namespace: String,
    pub pod: String,
    pub team: String,
    pub container: String,
    pub digest: String,
    pub status: drift::Status,
    pub hint: String,
}

fn time(t: i64) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp(t, 0).ok_or_else(|| format!("time {t} out of range"))
}

/// The attestors the manifest is built with: the vendor's own trust, plus a
/// key-based vendor's rotated-out key (its signatures exist and are what the
/// audit must attribute).
fn attestors(lab: &LabContext, vendor: &Vendor) -> Result<Vec<AttestorSpec>, String> {
    // The manifest is trustswap's record, verified against the lab's trust.
    let rekor = Some(RekorSpec {
        ignore_tlog: vendor.transparency_log == Requirement::Ignored,
        pubkey: lab.trust.rekor_pubkey.clone(),
        ..Default::default()
    });
    let ctlog = Some(CtlogSpec {
        ignore_sct: vendor.certificate_transparency == Requirement::Ignored,
        pubkey: lab.trust.ctlog_pubkey.clone(),
        ..Default::default()
    });
    let (lab_vendor, _) = lab
        .vendor(vendor, IdentityMode::Profile, Engine::Cpol)
        .map_err(|e| e.to_string())?;
    Ok(match &lab_vendor.identity {
        Identity::Key(k) => {
            let keys = vec![
                k.pem.clone().unwrap_or_default(),
                lab.rotated_key(&vendor.name).unwrap_or_default().to_owned(),
            ];
            keys.into_iter()
                .map(|public_keys| AttestorSpec::Keys {
                    public_keys,
                    kms: None,
                    secret: None,
                    signature_algorithm: None,
                    rekor: rekor.clone(),
                    ctlog: ctlog.clone(),
                    trust: TrustSource::Inline,
                    format: EvidenceFormat::Any,
                })
                .collect()
        }
        Identity::Keyless { .. } => vec![AttestorSpec::Keyless {
            identities: vec![],
            roots: lab.trust.fulcio_roots.clone(),
            additional_extensions: BTreeMap::new(),
            rekor,
            ctlog,
            trust: TrustSource::Inline,
            format: EvidenceFormat::Any,
        }],
    })
}

fn first_verified(
    evidence: &dyn EvidenceVerifier,
    image: &ImageRef,
    specs: &[AttestorSpec],
    repository: Option<&str>,
    predicate: Option<&str>,
) -> Option<Verification> {
    specs.iter().find_map(|a| {
        let v = match predicate {
            None => evidence.verify_signature(image, a, repository),
            Some(t) => evidence.verify_attestation(image, t, a, repository),
        };
        matches!(v, Verification::Verified { .. }).then_some(v)
    })
}

/// Run the drift audit over the cluster, for a vendor's lab fixtures.
/// `mode` is the identity matcher the cluster enforces now: the audit judges
/// running images against the trust actually in force.
pub fn audit_cluster(
    lab: &LabContext,
    vendor: &Vendor,
    mode: IdentityMode,
    cluster: &Cluster,
) -> Result<Vec<PodFinding>, String> {
    let evidence: &dyn EvidenceVerifier = lab.evidence.as_ref();
    let specs = attestors(lab, vendor)?;
    let signed_at = time(lab.now - 600)?;
    let repository = vendor.signatures.repository.as_deref();

    // The last-known-good manifest: every fixture digest that verifies.
    let mut entries: BTreeMap<String, drift::ManifestEntry> = BTreeMap::new();
    for f in lab.catalogue.fixtures.iter().filter(|f| {
        lab.fixture(&vendor.name, "good")
            .is_some_and(|g| g.repository == f.repository)
    }) {
        for digest in std::iter::once(&f.image_digest).chain(f.previous_digest.as_ref()) {
            let image = ImageRef::kyverno(&format!("{}@{digest}", f.repository))?;
            let Some(Verification::Verified { identities, .. }) =
                first_verified(evidence, &image, &specs, repository, None)
            else {
                continue;
            };
            let id = identities.into_iter().next().unwrap_or_default();
            let attestations = vendor
                .attestations
                .sbom
                .iter()
                .filter(|t| first_verified(evidence, &image, &specs, repository, Some(t)).is_some())
                .cloned()
                .collect();
            entries.insert(
                digest.clone(),
                drift::ManifestEntry {
                    digest: digest.clone(),
                    repository: f.repository.clone(),
                    tags: vec![],
                    signer: drift::Signer {
                        subject: id.subject,
                        issuer: id.issuer,
                        key_fingerprint: id.key_fingerprint,
                    },
                    attestations,
                    signed_at,
                },
            );
        }
    }

    // The registry's current tags for the images that run.
    let mut registry_tags = BTreeMap::new();
    let mut pods = Vec::new();
    for p in &cluster.pods {
        let mut containers = Vec::new();
        for c in &p.containers {
            let r = ImageRef::kyverno(&c.image)?;
            if let (Some(tag), None) = (&r.tag, &r.digest)
                && let Ok(now) = evidence.resolve_digest(&r)
            {
                registry_tags.insert(format!("{}:{tag}", r.repository()), now);
            }
            let admitted = p.admission.as_ref().and_then(|a| {
                let digest = a
                    .digests
                    .iter()
                    .find(|(n, _)| n == &c.name)
                    .map(|(_, d)| d.clone())?;
                Some(drift::Admission {
                    digest,
                    policy: a.by.clone(),
                    identity: None,
                    admitted_at: time(p.created_at).ok(),
                })
            });
            containers.push(drift::Container {
                name: c.name.clone(),
                kind: if c.kind == "init" {
                    drift::ContainerKind::Init
                } else {
                    drift::ContainerKind::Container
                },
                image: c.image.clone(),
                image_id: Some(format!("{}@{}", c.repository, c.digest)),
                admitted,
            });
        }
        pods.push(drift::Pod {
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            labels: BTreeMap::from([("team".to_owned(), p.team.clone())]),
            owner: None,
            creation_timestamp: time(p.created_at)?,
            containers,
        });
    }
    let mut namespaces: Vec<String> = cluster.pods.iter().map(|p| p.namespace.clone()).collect();
    namespaces.sort();
    namespaces.dedup();

    let (lab_vendor, trust) = lab
        .vendor(vendor, mode, Engine::Ivpol)
        .map_err(|e| e.to_string())?;
    let mut rule = drift::TrustRule {
        name: vendor.name.clone(),
        images: vendor.images.clone(),
        identities: vec![],
        key_fingerprints: vec![],
    };
    match &lab_vendor.identity {
        Identity::Key(k) => {
            rule.key_fingerprints.push(k.sha256.clone());
            for pem in &trust.extra_keys {
                if let Ok((_, fp)) = crate::profile::keys::parse_public_key(pem) {
                    rule.key_fingerprints.push(fp);
                }
            }
        }
        Identity::Keyless { issuer, subject } => {
            let mut t = drift::TrustedIdentity {
                issuer: None,
                issuer_reg_exp: None,
                subject: None,
                subject_reg_exp: None,
            };
            match issuer {
                Matcher::Exact(s) => t.issuer = Some(s.clone()),
                Matcher::RegExp(r) => t.issuer_reg_exp = Some(r.clone()),
            }
            // The audit's regexps match whole values: an unanchored admission
            // regexp (a careless matcher) admits anything containing it.
            match subject {
                Matcher::Exact(s) => t.subject = Some(s.clone()),
                Matcher::RegExp(r) if r.starts_with('^') && r.ends_with('$') => {
                    t.subject_reg_exp = Some(r.clone())
                }
                Matcher::RegExp(r) => t.subject_reg_exp = Some(format!(".*(?:{r}).*")),
            }
            rule.identities.push(t);
        }
    }

    let input = drift::AuditInput {
        state: drift::RunningState {
            namespaces: namespaces
                .into_iter()
                .map(|name| drift::Namespace {
                    name,
                    labels: BTreeMap::new(),
                })
                .collect(),
            pods,
        },
        manifest: drift::Manifest {
            entries: entries.into_values().collect(),
        },
        registry_tags,
        revocations: cluster
            .revoked
            .iter()
            .map(|(who, at)| {
                Ok(drift::Revocation {
                    subject: who.strip_prefix("subject:").map(str::to_owned),
                    issuer: None,
                    key_fingerprint: who.strip_prefix("key:").map(str::to_owned),
                    revoked_at: time(*at)?,
                    reason: Some("revoked by the scenario".into()),
                })
            })
            .collect::<Result<_, String>>()?,
        exceptions: cluster
            .exceptions
            .iter()
            .map(|e| {
                Ok(drift::Exception {
                    name: e.name.clone(),
                    namespace: e.namespace.clone(),
                    image: None,
                    pod_name: Some(e.pod.clone()),
                    expires_at: time(e.expires_at)?,
                })
            })
            .collect::<Result<_, String>>()?,
        trust_policy: drift::TrustPolicy { rules: vec![rule] },
    };
    let report = drift::drift(&input, &drift::DriftOptions::default(), time(cluster.now)?)
        .map_err(|e| e.to_string())?;
    Ok(report
        .findings
        .iter()
        .map(|f| PodFinding {
            namespace: f.namespace.to_string(),
            pod: f.pod.to_string(),
            team: f.team.to_string(),
            container: f.container.to_string(),
            digest: f.digest.as_deref().unwrap_or("").to_owned(),
            status: f.status,
            hint: f.hint.to_string(),
        })
        .collect())
}

/// The status a pod shows: its worst container, by the drift audit's own
/// precedence (`Status` is ordered by it: `exception-expired` first,
/// `compliant` last; DRIFT.md).
pub fn pod_status<'a>(
    findings: impl Iterator<Item = &'a PodFinding>,
) -> BTreeMap<String, drift::Status> {
    let mut out: BTreeMap<String, drift::Status> = BTreeMap::new();
    for f in findings {
        out.entry(f.pod.clone())
            .and_modify(|cur| *cur = (*cur).min(f.status))
            .or_insert(f.status);
    }
    out
}
