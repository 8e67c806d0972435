//! Drift audit for trustswap: is every running container still on a digest
//! that was admitted, signed by a trusted and unrevoked identity, with an
//! SBOM, and did anything bypass admission?
//!
//! [`drift`] is pure: no IO, no clock (`now` is a parameter). For repeated
//! runs against the same manifest, compile once with [`CompiledAudit::new`]
//! and call [`CompiledAudit::audit`] per snapshot.
//!
//! See `DRIFT.md` beside this crate for the statuses, their precedence and the decisions taken.

mod engine;
mod error;
mod hint;
pub mod image;
mod input;
mod output;
mod table;

pub use engine::{CompiledAudit, primary_status};
pub use error::DriftError;
pub use input::{
    Admission, AuditInput, Container, ContainerKind, DriftOptions, Exception, Manifest,
    ManifestEntry, Namespace, OwnerRef, Pod, Revocation, RunningState, Signer, TrustPolicy,
    TrustRule, TrustedIdentity,
};
pub use output::{DriftReport, Finding, Flag, Flags, GroupSummary, Status, Summary, Verdict};
pub use table::{TableFilter, render_table};

use chrono::{DateTime, Utc};

/// Classifies every running container of `input.state` at time `now`.
///
/// Errors on malformed input (an unparsable imageID or image, an invalid
/// digest, a bad regexp, duplicate pods, conflicting manifest tags, ...);
/// never panics.
pub fn drift<'a>(
    input: &'a AuditInput,
    options: &DriftOptions,
    now: DateTime<Utc>,
) -> Result<DriftReport<'a>, DriftError> {
    CompiledAudit::new(
        &input.manifest,
        &input.revocations,
        &input.exceptions,
        &input.trust_policy,
        options,
    )?
    .with_registry_tags(&input.registry_tags)?
    .audit(&input.state, now)
}
