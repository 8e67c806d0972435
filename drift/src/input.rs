//! Input types: what the product loads from YAML or JSON.
//!
//! Every input type is `camelCase` and rejects unknown fields, so a typo in a
//! hand-written fixture is an error rather than a silently ignored key.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Everything one audit run reads, bundled so it can come from one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditInput {
    /// What is running in the cluster.
    pub state: RunningState,
    /// The last-known-good manifest of signed digests.
    pub manifest: Manifest,
    /// Revoked signer identities and keys.
    /// The registry's current tags, `repository:tag` -> digest: a tag the
    /// vendor moved to a digest outside the manifest still shows as moved.
    #[serde(default)]
    pub registry_tags: BTreeMap<String, String>,
    #[serde(default)]
    pub revocations: Vec<Revocation>,
    /// Break-glass exceptions.
    #[serde(default)]
    pub exceptions: Vec<Exception>,
    /// Which identities are trusted for which images.
    pub trust_policy: TrustPolicy,
}

/// A snapshot of the cluster: namespaces and pods.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunningState {
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
    #[serde(default)]
    pub pods: Vec<Pod>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Namespace {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The controlling owner reference (`metadata.ownerReferences[controller=true]`).
    #[serde(default)]
    pub owner: Option<OwnerRef>,
    pub creation_timestamp: DateTime<Utc>,
    pub containers: Vec<Container>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ContainerKind {
    #[default]
    Container,
    Init,
    Ephemeral,
}

impl ContainerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerKind::Container => "container",
            ContainerKind::Init => "init",
            ContainerKind::Ephemeral => "ephemeral",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Container {
    pub name: String,
    #[serde(default)]
    pub kind: ContainerKind,
    /// The image reference as written in the pod spec.
    pub image: String,
    /// `status.containerStatuses[].imageID`: `docker-pullable://repo@sha256:..`,
    /// `repo@sha256:..`, or `sha256:..`. Absent or empty while the container
    /// has not started; such a container gets the `unknown` status.
    #[serde(default, rename = "imageID", alias = "imageId")]
    pub image_id: Option<String>,
    /// What the admission controller admitted; absent when the pod did not go
    /// through admission.
    #[serde(default)]
    pub admitted: Option<Admission>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Admission {
    /// The digest the admission controller verified (and pinned, with mutateDigest).
    pub digest: String,
    /// The policy (and rule) that admitted it, e.g. `dhi-verify/verify-signature`.
    pub policy: String,
    /// The identity that verified it, as the admission report names it.
    #[serde(default)]
    pub identity: Option<String>,
    #[serde(default)]
    pub admitted_at: Option<DateTime<Utc>>,
}

/// The last-known-good manifest: every digest known to be signed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    pub entries: Vec<ManifestEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestEntry {
    /// `sha256:<64 hex>`.
    pub digest: String,
    /// The repository, e.g. `dhi.io/python` (normalised like a pod image:
    /// `nginx` means `docker.io/library/nginx`).
    pub repository: String,
    /// The tags that, as of this manifest, point at this digest. A tag may be
    /// claimed by one digest per repository only.
    #[serde(default)]
    pub tags: Vec<String>,
    pub signer: Signer,
    /// Attestation predicate types attached to the digest.
    #[serde(default)]
    pub attestations: Vec<String>,
    pub signed_at: DateTime<Utc>,
}

/// Who signed a digest: keyless (`subject` + `issuer`) or a key (`keyFingerprint`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Signer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// `sha256:<hex>` of the public key (the prefix and case are ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<String>,
}

/// A revoked signer: a key fingerprint, or a keyless subject (optionally
/// restricted to one issuer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Revocation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<String>,
    pub revoked_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A break-glass exception. `namespace`, `image` and `podName` are globs
/// (`*`, `?`); at least one of `image` and `podName` is required, and when
/// both are given both must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Exception {
    pub name: String,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustPolicy {
    pub rules: Vec<TrustRule>,
}

/// One vendor's trust root: which images it covers and which signers it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustRule {
    /// e.g. `chainguard`, `dhi`, `self-built`.
    pub name: String,
    /// Globs (`*` matches across `/`, `?` one character, as Kyverno's
    /// `imageReferences`) matched against the normalised reference
    /// (`docker.io/library/nginx:1.25`) and the bare repository.
    pub images: Vec<String>,
    #[serde(default)]
    pub identities: Vec<TrustedIdentity>,
    #[serde(default)]
    pub key_fingerprints: Vec<String>,
}

/// A keyless identity: an issuer (exact or regexp) and a subject (exact or regexp).
/// Regexps are anchored (they must match the whole value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustedIdentity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_reg_exp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_reg_exp: Option<String>,
}

/// Tuning knobs; all have defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct DriftOptions {
    /// Pod (then namespace) label naming the owning team.
    pub team_label: String,
    /// A signed digest older than this many days gets the `stale-digest` flag.
    /// `None` disables the flag.
    pub stale_after_days: Option<i64>,
    /// Predicate-type prefixes that count as an SBOM attestation.
    pub sbom_predicate_prefixes: Vec<String>,
}

impl Default for DriftOptions {
    fn default() -> Self {
        DriftOptions {
            team_label: "team".to_owned(),
            stale_after_days: Some(90),
            sbom_predicate_prefixes: vec![
                "https://cyclonedx.org/bom".to_owned(),
                "https://spdx.dev/Document".to_owned(),
                "https://scout.docker.com/sbom/".to_owned(),
            ],
        }
    }
}
