//! Output types: the findings and the summary, written as JSON by the product.
//!
//! Strings borrow from the input where they can (`Cow::Borrowed`), so a run
//! over 300k containers allocates little beyond the finding vector itself and
//! the hints of non-compliant containers. Deserializing yields owned strings.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::input::ContainerKind;

/// The one primary status of a container. The declaration order is the
/// precedence order: the first that applies wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Covered only by an expired break-glass exception.
    ExceptionExpired,
    /// No imageID reported yet (container not started): the running digest is unknown.
    Unknown,
    /// The running digest differs from the admitted digest, or from the
    /// digest the tag's manifest entry now holds.
    Drifted,
    /// The running digest is not in the last-known-good manifest.
    Unsigned,
    /// Signed, but by an identity no matching trust rule accepts.
    UntrustedIdentity,
    /// Signed by a signer revoked at or before `now`.
    SignerRevoked,
    /// Signed and trusted, but no SBOM attestation.
    NoSbom,
    /// Otherwise compliant, but there is no admission record.
    BypassedAdmission,
    Compliant,
}

impl Status {
    /// All statuses in precedence order.
    pub const ALL: [Status; 9] = [
        Status::ExceptionExpired,
        Status::Unknown,
        Status::Drifted,
        Status::Unsigned,
        Status::UntrustedIdentity,
        Status::SignerRevoked,
        Status::NoSbom,
        Status::BypassedAdmission,
        Status::Compliant,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::ExceptionExpired => "exception-expired",
            Status::Unknown => "unknown",
            Status::Drifted => "drifted",
            Status::Unsigned => "unsigned",
            Status::UntrustedIdentity => "untrusted-identity",
            Status::SignerRevoked => "signer-revoked",
            Status::NoSbom => "no-sbom",
            Status::BypassedAdmission => "bypassed-admission",
            Status::Compliant => "compliant",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Secondary observations; a finding carries every one that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flag {
    /// Matched only by expired exceptions.
    ExceptionExpired,
    /// Matched by an exception that has not expired: the finding is waived.
    ExceptionActive,
    /// No imageID yet.
    UnknownDigest,
    /// Running digest != admitted digest.
    AdmittedDigestMismatch,
    /// Running digest != the digest the manifest now records for the tag.
    TagMoved,
    /// Running digest not in the manifest.
    Unsigned,
    /// No trust rule accepts the signer (see also `no-trust-rule`).
    UntrustedIdentity,
    /// No trust rule's image globs cover the image at all.
    NoTrustRule,
    /// The signer was revoked at or before `now`.
    SignerRevoked,
    /// ... and the digest was signed at or after the revocation.
    SignedAfterRevocation,
    /// No SBOM attestation.
    NoSbom,
    /// No admission record.
    BypassedAdmission,
    /// The signed digest is older than `staleAfterDays`.
    StaleDigest,
}

impl Flag {
    pub const ALL: [Flag; 13] = [
        Flag::ExceptionExpired,
        Flag::ExceptionActive,
        Flag::UnknownDigest,
        Flag::AdmittedDigestMismatch,
        Flag::TagMoved,
        Flag::Unsigned,
        Flag::UntrustedIdentity,
        Flag::NoTrustRule,
        Flag::SignerRevoked,
        Flag::SignedAfterRevocation,
        Flag::NoSbom,
        Flag::BypassedAdmission,
        Flag::StaleDigest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Flag::ExceptionExpired => "exception-expired",
            Flag::ExceptionActive => "exception-active",
            Flag::UnknownDigest => "unknown-digest",
            Flag::AdmittedDigestMismatch => "admitted-digest-mismatch",
            Flag::TagMoved => "tag-moved",
            Flag::Unsigned => "unsigned",
            Flag::UntrustedIdentity => "untrusted-identity",
            Flag::NoTrustRule => "no-trust-rule",
            Flag::SignerRevoked => "signer-revoked",
            Flag::SignedAfterRevocation => "signed-after-revocation",
            Flag::NoSbom => "no-sbom",
            Flag::BypassedAdmission => "bypassed-admission",
            Flag::StaleDigest => "stale-digest",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of [`Flag`]s (a bitset; serialized as a list in declaration order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(u16);

impl Flags {
    pub fn empty() -> Self {
        Flags(0)
    }
    pub fn insert(&mut self, flag: Flag) {
        self.0 |= flag.bit();
    }
    pub fn remove(&mut self, flag: Flag) {
        self.0 &= !flag.bit();
    }
    pub fn contains(self, flag: Flag) -> bool {
        self.0 & flag.bit() != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Flag> {
        Flag::ALL.into_iter().filter(move |f| self.contains(*f))
    }
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
}

impl FromIterator<Flag> for Flags {
    fn from_iter<T: IntoIterator<Item = Flag>>(iter: T) -> Self {
        let mut flags = Flags::empty();
        for f in iter {
            flags.insert(f);
        }
        flags
    }
}

impl Serialize for Flags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Flags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let list = Vec::<Flag>::deserialize(deserializer)?;
        Ok(list.into_iter().collect())
    }
}

/// One running container, classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding<'a> {
    pub namespace: Cow<'a, str>,
    /// Owner kind (`Deployment` when a ReplicaSet carries the pod's
    /// `pod-template-hash`), or `Pod` for a bare pod.
    pub workload_kind: Cow<'a, str>,
    pub workload_name: Cow<'a, str>,
    pub pod: Cow<'a, str>,
    /// The team label of the pod, else of its namespace, else `unowned`.
    pub team: Cow<'a, str>,
    pub container: Cow<'a, str>,
    pub container_kind: ContainerKind,
    /// The image reference as written.
    pub image: Cow<'a, str>,
    /// The repository from the imageID, when it names one.
    pub repository: Option<Cow<'a, str>>,
    /// The running digest; `None` only with status `unknown`.
    pub digest: Option<Cow<'a, str>>,
    pub status: Status,
    pub flags: Flags,
    /// True when an unexpired exception covers the container: it does not
    /// count against the verdict, whatever its status.
    pub waived: bool,
    /// Days since the running digest was signed (`now - signedAt`, whole
    /// days); `None` when the digest is not in the manifest.
    pub age_days: Option<i64>,
    /// Days since the pod was created.
    pub pod_age_days: i64,
    /// The signer's subject or key fingerprint, from the manifest.
    pub signer: Option<Cow<'a, str>>,
    pub signer_issuer: Option<Cow<'a, str>>,
    pub admitted_digest: Option<Cow<'a, str>>,
    pub admitted_policy: Option<Cow<'a, str>>,
    /// The digest the manifest records for the image's tag, when there is one.
    pub tag_digest: Option<Cow<'a, str>>,
    /// The exception that matched (the active one, else the latest-expired one).
    pub exception: Option<Cow<'a, str>>,
    /// One line, specific to the status; empty for compliant containers.
    pub hint: Cow<'a, str>,
}

impl Finding<'_> {
    /// Counts against the verdict: not compliant and not waived.
    pub fn is_violation(&self) -> bool {
        self.status != Status::Compliant && !self.waived
    }
}

/// Counts for one namespace or team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupSummary<'a> {
    pub name: Cow<'a, str>,
    pub containers: usize,
    /// Containers that count against the verdict.
    pub non_compliant: usize,
    pub waived: usize,
    /// Non-zero counts only, keyed by status (in precedence order).
    pub by_status: BTreeMap<Status, usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Compliant,
    NonCompliant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary<'a> {
    pub pods: usize,
    pub containers: usize,
    pub non_compliant: usize,
    pub waived: usize,
    /// Every status, zeros included, in precedence order.
    pub by_status: BTreeMap<Status, usize>,
    /// Sorted by namespace name.
    pub by_namespace: Vec<GroupSummary<'a>>,
    /// Sorted by team name.
    pub by_team: Vec<GroupSummary<'a>>,
    /// `compliant` iff no container is non-compliant (waived ones excepted).
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftReport<'a> {
    /// The `now` the audit was evaluated at.
    pub now: DateTime<Utc>,
    /// Sorted by namespace, workload (kind, name), pod, container.
    pub findings: Vec<Finding<'a>>,
    pub summary: Summary<'a>,
}
