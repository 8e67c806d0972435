//! The supply-chain commands: `lab init`, `lab push` and `verify`. Glue between
//! the CLI, the lab, the stores and the image verifier.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::exit;
use crate::profile::{Identity, Matcher, Requirement, Vendor};
use crate::supply::lab::{Catalogue, Lab, LabConfig, build_all};
use crate::supply::oci::Layout;
use crate::supply::registry::Registry;
use crate::supply::store::Store;
use crate::verify::identity::{IdentityRule, Pattern};
use crate::verify::image::{Evidence, ImageVerifier, SignerPolicy};
use crate::verify::trust::TrustMaterial;

/// The lab's fixed clock: 2026-01-01T00:00:00Z. Fixtures are signed ten
/// minutes before; verification of lab material happens at this time.
pub const LAB_NOW: i64 = 1_767_225_600;

pub fn layout_dir(lab: &Path) -> PathBuf {
    lab.join("layout")
}

/// Build the lab into `dir`: material, fixtures, catalogue. Written into a
/// sibling temporary folder and renamed, so a failure leaves nothing behind.
pub fn init(dir: &Path, seed: u64) -> Result<Catalogue> {
    let internal = |e: &dyn std::fmt::Display| Error::Internal {
        message: format!("failed to build the lab: {e}"),
    };
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|source| Error::Write {
        path: parent.to_path_buf(),
        source,
    })?;
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("lab"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = (|| {
        let mut lab = Lab::new(LabConfig { seed, now: LAB_NOW }).map_err(|e| internal(&e))?;
        lab.write_material(&tmp).map_err(|e| internal(&e))?;
        let mut layout = Layout::create(layout_dir(&tmp)).map_err(|e| internal(&e))?;
        let catalogue = build_all(&mut lab, &mut layout).map_err(|e| internal(&e))?;
        let json = serde_json::to_vec_pretty(&catalogue).map_err(|e| internal(&e))?;
        crate::yaml::write_atomic(&tmp.join("catalogue.json"), &json)?;
        Ok(catalogue)
    })();
    match result {
        Ok(catalogue) => {
            if dir.exists() {
                std::fs::remove_dir_all(dir).map_err(|source| Error::Write {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            std::fs::rename(&tmp, dir).map_err(|source| Error::Write {
                path: dir.to_path_buf(),
                source,
            })?;
            Ok(catalogue)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

pub fn open_layout(dir: &Path) -> Result<Layout> {
    Layout::open(dir).map_err(|e| Error::Usage {
        message: format!("cannot open the OCI layout {}: {e}", dir.display()),
        hint: "run `trustswap lab init` first, or pass --layout DIR of an OCI image layout".into(),
    })
}

pub fn push(lab: &Path, host: &str) -> Result<String> {
    let layout = open_layout(&layout_dir(lab))?;
    let registry = Registry::connect(host).map_err(|e| Error::Internal {
        message: e.to_string(),
    })?;
    let s = registry.push_layout(&layout).map_err(|e| Error::Internal {
        message: format!("failed to push: {e}"),
    })?;
    Ok(format!(
        "pushed {} tags, {} referrers, {} blobs to {}",
        s.tags,
        s.referrers,
        s.blobs,
        registry.describe()
    ))
}

fn pattern(m: &Matcher) -> std::result::Result<Pattern, String> {
    match m {
        Matcher::Exact(s) => Ok(Pattern::Wildcard(s.clone())),
        Matcher::RegExp(r) => Pattern::regexp(r).map_err(|e| e.reason),
    }
}

/// The signer policy a vendor profile asks for. In lab mode a key-based
/// vendor's key is the lab's `<lab>/<vendor>.pub` (the lab signs with its own
/// key; the vendor's real key never signs lab fixtures).
pub fn vendor_policy(vendor: &Vendor, lab: Option<&Path>) -> Result<SignerPolicy> {
    let bad = |message: String, hint: &str| {
        Error::invalid(&vendor.source, None, "trustRoot", message, hint)
    };
    match &vendor.identity {
        Identity::Keyless { issuer, subject } => Ok(SignerPolicy::Keyless {
            rule: IdentityRule {
                subject: pattern(subject).map_err(|m| bad(m, "fix the subject pattern"))?,
                issuer: Some(pattern(issuer).map_err(|m| bad(m, "fix the issuer pattern"))?),
            },
            require_sct: vendor.certificate_transparency == Requirement::Required,
        }),
        Identity::Key(key) => {
            let pem = match lab.map(|l| l.join(format!("{}.pub", vendor.name))) {
                Some(p) if p.is_file() => crate::input::read_to_string(&p)?,
                _ => key.pem.clone().ok_or_else(|| {
                    bad(
                        format!("the key sha256:{} is not in the key cache", key.sha256),
                        "pass --key-cache DIR holding the vendor key, or --key FILE",
                    )
                })?,
            };
            Ok(SignerPolicy::Key {
                public_key_pem: pem,
                require_tlog: vendor.transparency_log == Requirement::Required,
            })
        }
    }
}

/// Outcome of `verify`, printed by the CLI.
pub struct VerifyOutcome {
    pub lines: Vec<String>,
    pub code: u8,
}

fn describe(what: &str, e: &Evidence) -> String {
    format!(
        "verified: {what} of {}@{} via {} signed by {}{}",
        e.repository,
        e.digest,
        e.via,
        e.signer,
        e.issuer
            .as_ref()
            .map(|i| format!(" ({i})"))
            .unwrap_or_default()
    )
}

#[allow(clippy::too_many_arguments)]
pub fn verify(
    store: &dyn Store,
    trust: &TrustMaterial,
    now: i64,
    image: &str,
    repository: Option<&str>,
    policy: &SignerPolicy,
    predicate_types: &[String],
) -> Result<VerifyOutcome> {
    let verifier = ImageVerifier::new(store, trust, now).map_err(|r| Error::Internal {
        message: r.to_string(),
    })?;
    let mut lines = Vec::new();
    let (mut refused, mut undecided) = (false, false);
    let mut record =
        |what: String, r: std::result::Result<Evidence, crate::verify::refusal::Refusal>| match r {
            Ok(e) => lines.push(describe(&what, &e)),
            Err(refusal) => {
                let unsupported = refusal.reason.contains("(unsupported)");
                lines.push(format!(
                    "{}: {what} of {image}: {refusal}",
                    if unsupported { "undecided" } else { "refused" }
                ));
                refused |= !unsupported;
                undecided |= unsupported;
            }
        };
    record(
        "signature".into(),
        verifier.signature(image, repository, policy),
    );
    for t in predicate_types {
        record(
            format!("attestation {t}"),
            verifier.attestation(image, repository, t, policy),
        );
    }
    // A refusal is a finding even when another check could not be decided.
    let code = if refused {
        exit::FINDING
    } else if undecided {
        exit::UNDECIDED
    } else {
        exit::HOLDS
    };
    Ok(VerifyOutcome { lines, code })
}
