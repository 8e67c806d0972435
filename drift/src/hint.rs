//! One-line remediation hints, specific to the status.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::engine::primary_status;
use crate::input::{Exception, Revocation};
use crate::output::{Finding, Flag, Status};

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn opt<'s>(v: &'s Option<Cow<'_, str>>) -> &'s str {
    v.as_deref().unwrap_or("?")
}

/// Builds the hint for a classified finding. `tag` is the image's tag (if
/// any), `revocation` the earliest revocation of the signer, `exception`
/// the matching exception.
pub(crate) fn hint<'a>(
    f: &Finding<'a>,
    tag: Option<&str>,
    revocation: Option<&Revocation>,
    exception: Option<&Exception>,
) -> Cow<'a, str> {
    if f.status == Status::Compliant && !f.waived {
        return Cow::Borrowed("");
    }
    let workload = format!("{} {}/{}", f.workload_kind, f.namespace, f.workload_name);
    let digest = opt(&f.digest);
    let tagged = match tag {
        Some(t) => format!("tag {t} of {}", f.image),
        None => format!("{}", f.image),
    };
    let line = match f.status {
        Status::Compliant => String::from("compliant: the exception is no longer needed"),
        Status::ExceptionExpired => {
            let mut rest = f.flags;
            rest.remove(Flag::ExceptionExpired);
            let underlying = primary_status(rest);
            let (name, at) = exception.map_or(("?", String::from("?")), |e| {
                (e.name.as_str(), ts(e.expires_at))
            });
            if underlying == Status::Compliant {
                format!(
                    "exception {name} expired at {at}: delete it (the container is otherwise compliant)"
                )
            } else {
                format!(
                    "exception {name} expired at {at}: fix {workload} ({underlying}) or renew the exception deliberately"
                )
            }
        }
        Status::Unknown => format!(
            "no imageID reported for container {} of pod {}/{} (not started or pull failing): re-run the audit once it runs",
            f.container, f.namespace, f.pod
        ),
        Status::Drifted => {
            if f.flags.contains(Flag::AdmittedDigestMismatch) {
                format!(
                    "redeploy {workload} to pick up the admitted digest {} or re-admit {digest}; check who re-pushed {tagged}",
                    opt(&f.admitted_digest)
                )
            } else if f.flags.contains(Flag::Unsigned) {
                format!(
                    "{tagged} resolved to {digest}, not the manifest's {}: pin {workload} to the manifest digest and check who re-pushed the tag",
                    opt(&f.tag_digest)
                )
            } else {
                let age = f.age_days.map_or(String::from("?"), |d| d.to_string());
                format!(
                    "redeploy {workload} to move from {digest} ({age} days old) to {}, which {tagged} holds in the manifest",
                    opt(&f.tag_digest)
                )
            }
        }
        Status::Unsigned => format!(
            "{digest} is not in the last-known-good manifest: pin {workload} to a signed digest of {}, or sign and record this one; find out who pushed it",
            f.image
        ),
        Status::UntrustedIdentity => {
            if f.flags.contains(Flag::NoTrustRule) {
                format!(
                    "no trust-policy rule covers {}: add its vendor's trust root or stop running it in {workload}",
                    f.image
                )
            } else {
                format!(
                    "{digest} is signed by {}, which no trust rule for {} accepts: move {workload} to a trusted build or add that identity deliberately",
                    opt(&f.signer),
                    f.image
                )
            }
        }
        Status::SignerRevoked => {
            let at = revocation.map_or(String::from("?"), |r| ts(r.revoked_at));
            let mut s = format!(
                "rebuild from an image signed by the current key; {} was revoked at {at}",
                opt(&f.signer)
            );
            if f.flags.contains(Flag::SignedAfterRevocation) {
                s.push_str(" and this digest was signed after that");
            }
            s
        }
        Status::NoSbom => format!(
            "attach a signed SBOM attestation (CycloneDX or SPDX) to {digest}, or move {workload} to a build that ships one"
        ),
        Status::BypassedAdmission => format!(
            "{workload} has no admission record: find the path that created it (static pod, admission-exempt namespace, webhook failurePolicy Ignore) and recreate it through admission"
        ),
    };
    match (f.waived, exception) {
        (true, Some(e)) => Cow::Owned(format!(
            "{line} (waived by exception {} until {})",
            e.name,
            ts(e.expires_at)
        )),
        _ => Cow::Owned(line),
    }
}
