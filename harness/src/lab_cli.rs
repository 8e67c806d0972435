//! The supply-chain commands: `lab init`, `lab push` and `verify`. Glue between
//! the CLI, the lab, the stores and the image verifier.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::profile::{Identity, Matcher, Requirement, Vendor};
use crate::supply::lab::folder::{self, Access, LabLock};
use crate::supply::lab::{Catalogue, Lab, LabConfig, LabVendor, build_all};
use crate::supply::oci::Layout;
use crate::supply::oci::{Descriptor, Digest, LayoutError};
use crate::supply::registry::{Registry, Timeouts};
use crate::supply::store::{Store, StoreError};
use crate::verify::identity::{IdentityRule, Pattern};
use crate::verify::image::{Evidence, ImageVerifier, SignerPolicy};
use crate::verify::refusal::RefusalKind;
use crate::verify::trust::TrustMaterial;

/// The lab's fixed clock: 2026-01-01T00:00:00Z. Fixtures are signed ten
/// minutes before; verification of lab material happens at this time.
pub const LAB_NOW: i64 = 1_767_225_600;

/// The lab's TUF repository, served as a mirror by the real backends.
pub const TUF_DIR: &str = "tuf";

/// Placeholder mirror in the lab's ImageValidatingPolicies until a backend
/// serves the repository (the embedded engine reads the lab's root directly).
pub const TUF_MIRROR_UNSERVED: &str = "http://127.0.0.1:1/trustswap-lab-tuf-not-served";

/// How long trustswap waits for a registry (`lab push`, `verify --registry`,
/// `run --backend kind|cluster`).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct NetArgs {
    /// Seconds to wait for a registry connection
    #[arg(long, value_name = "SECS", default_value_t = Timeouts::DEFAULT_CONNECT_SECS, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub connect_timeout: u64,
    /// Seconds a registry may stay silent before a request fails (one
    /// operation gets at most connect + 4 x read); refused or reset
    /// connections and 5xx are retried twice
    #[arg(long, value_name = "SECS", default_value_t = Timeouts::DEFAULT_READ_SECS, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub read_timeout: u64,
}

impl NetArgs {
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(self.connect_timeout),
            read: Duration::from_secs(self.read_timeout),
            ..Timeouts::default()
        }
    }
}

/// A registry client, or the reason there is none (exit 3).
pub fn connect_registry(host: &str, timeouts: Timeouts) -> Result<Registry> {
    Registry::connect_with(host, timeouts).map_err(|e| Error::Internal {
        message: e.to_string(),
    })
}

pub fn layout_dir(lab: &Path) -> PathBuf {
    lab.join("layout")
}

/// Build the lab into `dir`: material, fixtures, catalogue, under the lab's
/// exclusive lock, which is returned so that the caller can keep the lab stable
/// while it uses it. The lab is built in a sibling temporary folder and swapped
/// in; `dir` must be new, empty or a lab trustswap built (see `folder`).
pub fn init(dir: &Path, seed: u64, vendors: &[LabVendor]) -> Result<(Catalogue, LabLock)> {
    let lock = folder::lock(dir, Access::Exclusive)?;
    let internal = |e: &dyn std::fmt::Display| Error::Internal {
        message: format!("failed to build the lab: {e}"),
    };
    let catalogue = folder::replace_with(dir, &lock, seed, |tmp| {
        let mut lab = Lab::new(LabConfig { seed, now: LAB_NOW }).map_err(|e| internal(&e))?;
        lab.write_material(tmp).map_err(|e| internal(&e))?;
        crate::supply::lab::tuf::write_repository(
            &tmp.join(TUF_DIR),
            seed,
            &lab.trusted_root_json().map_err(|e| internal(&e))?,
        )
        .map_err(|e| internal(&e))?;
        let mut layout = Layout::create(layout_dir(tmp)).map_err(|e| internal(&e))?;
        let catalogue = build_all(&mut lab, &mut layout, vendors).map_err(|e| internal(&e))?;
        // `<vendor>.pub`: the key the lab signs a key-based vendor's fixtures with.
        for keys in &catalogue.vendor_keys {
            crate::yaml::write_atomic(
                &tmp.join(format!("{}.pub", keys.vendor)),
                keys.active.as_bytes(),
            )?;
        }
        let json = serde_json::to_vec_pretty(&catalogue).map_err(|e| internal(&e))?;
        crate::yaml::write_atomic(&tmp.join("catalogue.json"), &json)?;
        Ok(catalogue)
    })?;
    Ok((catalogue, lock))
}

/// Hint for a layout file that cannot be read.
const LAYOUT_FAULT_HINT: &str = "every file of an OCI layout must be a regular file within its size limit (no FIFOs, devices or links to them); re-create the layout (`trustswap lab init`, `skopeo copy`)";

/// A Sigstore `trusted_root.json`; a file that is not one is bad input
/// naming it.
pub fn trusted_root(path: &Path) -> Result<crate::verify::trust::TrustMaterial> {
    crate::verify::trust::TrustMaterial::from_file(path).map_err(|r| {
        Error::invalid(
            path,
            None,
            "trusted_root.json",
            r.reason,
            "run `trustswap lab init`, or pass --trusted-root FILE",
        )
    })
}

pub fn open_layout(dir: &Path) -> Result<Layout> {
    let fault = |path: &Path, message: String| Error::Input {
        path: path.to_path_buf(),
        message,
        hint: LAYOUT_FAULT_HINT.into(),
    };
    Layout::open(dir).map_err(|e| match &e {
        LayoutError::Unreadable {
            what,
            path,
            message,
        } => fault(
            path,
            format!("{what} of the OCI layout {}: {message}", dir.display()),
        ),
        LayoutError::Io { op, path, source } => fault(
            path,
            format!("cannot {op} (OCI layout {}): {source}", dir.display()),
        ),
        _ => Error::Usage {
            message: format!("cannot open the OCI layout {}: {e}", dir.display()),
            hint: "run `trustswap lab init` first, or pass --layout DIR of an OCI image layout"
                .into(),
        },
    })
}

pub fn push(lab: &Path, host: &str, timeouts: Timeouts) -> Result<String> {
    let _lock = folder::lock(lab, Access::Shared)?;
    let layout = open_layout(&layout_dir(lab))?;
    let registry = connect_registry(host, timeouts)?;
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
        // A profile's matchers are Kyverno's (what the rendered policies say).
        Matcher::Exact(s) => Ok(Pattern::kyverno(s)),
        Matcher::RegExp(r) => crate::verify::identity::regexp(r).map_err(|e| e.reason),
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
            require_tlog: vendor.transparency_log == Requirement::Required,
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
    // A malformed reference is bad input, before any evidence is looked for.
    crate::verify::image::split_reference(image).map_err(|r| Error::Usage {
        message: format!("not an image reference: {}", r.reason),
        hint: "give REGISTRY/REPOSITORY[:TAG] or REGISTRY/REPOSITORY@sha256:<64 hex digits>, lowercase repository".into(),
    })?;
    let guarded = FaultGuard::new(store);
    let verifier = ImageVerifier::new(&guarded, trust, now).map_err(|r| Error::Internal {
        message: r.to_string(),
    })?;
    let mut lines = Vec::new();
    let mut kinds = Vec::new();
    let mut record =
        |what: String, r: std::result::Result<Evidence, crate::verify::refusal::Refusal>| match r {
            Ok(e) => lines.push(describe(&what, &e)),
            Err(refusal) => {
                lines.push(format!(
                    "{}: {what} of {image}: {refusal}",
                    refusal.kind.label()
                ));
                kinds.push(refusal.kind);
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
    drop(verifier);
    // A store that failed decided nothing: not a refusal of the image.
    if let Some(fault) = guarded.fault.into_inner() {
        return Err(fault.into_error());
    }
    // Every check must hold: a refusal is a finding even when another check
    // could not be decided.
    let code = RefusalKind::combined_exit_code(kinds);
    Ok(VerifyOutcome { lines, code })
}

/// A store fault seen during verification (see [`StoreError::is_fault`]).
#[derive(Debug, Clone)]
enum Fault {
    /// The registry was unreachable, timed out or kept failing.
    Registry(String),
    /// A layout file could not be read.
    Layout { path: PathBuf, message: String },
}

impl Fault {
    fn of(e: &StoreError) -> Option<Fault> {
        if !e.is_fault() {
            return None;
        }
        Some(match e {
            StoreError::Layout(LayoutError::Unreadable {
                what,
                path,
                message,
            }) => Fault::Layout {
                path: path.clone(),
                message: format!("{what} of the OCI layout: {message}"),
            },
            StoreError::Layout(LayoutError::Io { op, path, source }) => Fault::Layout {
                path: path.clone(),
                message: format!("cannot {op} this file of the OCI layout: {source}"),
            },
            other => Fault::Registry(other.to_string()),
        })
    }

    /// What a later call returns without touching the store again.
    fn repeat(&self) -> StoreError {
        match self {
            Fault::Registry(m) | Fault::Layout { message: m, .. } => StoreError::Skipped(m.clone()),
        }
    }

    fn into_error(self) -> Error {
        match self {
            Fault::Registry(message) => Error::Internal {
                message: format!("could not verify: {message}"),
            },
            Fault::Layout { path, message } => Error::Input {
                path,
                message,
                hint: LAYOUT_FAULT_HINT.into(),
            },
        }
    }
}

/// Passes every call to `store`, remembers the first fault, and from then on
/// fails at once: one unreachable registry costs one timeout, not one per
/// lookup.
struct FaultGuard<'a> {
    store: &'a dyn Store,
    fault: RefCell<Option<Fault>>,
}

impl<'a> FaultGuard<'a> {
    fn new(store: &'a dyn Store) -> Self {
        FaultGuard {
            store,
            fault: RefCell::new(None),
        }
    }

    fn guard<T>(
        &self,
        call: impl FnOnce() -> std::result::Result<T, StoreError>,
    ) -> std::result::Result<T, StoreError> {
        if let Some(fault) = self.fault.borrow().as_ref() {
            return Err(fault.repeat());
        }
        let result = call();
        if let Err(e) = &result
            && let Some(fault) = Fault::of(e)
        {
            *self.fault.borrow_mut() = Some(fault);
        }
        result
    }
}

impl Store for FaultGuard<'_> {
    fn resolve(
        &self,
        repo: &str,
        tag: &str,
    ) -> std::result::Result<Option<(Descriptor, Vec<u8>)>, StoreError> {
        self.guard(|| self.store.resolve(repo, tag))
    }
    fn manifest(&self, repo: &str, digest: &Digest) -> std::result::Result<Vec<u8>, StoreError> {
        self.guard(|| self.store.manifest(repo, digest))
    }
    fn blob(&self, repo: &str, digest: &Digest) -> std::result::Result<Vec<u8>, StoreError> {
        self.guard(|| self.store.blob(repo, digest))
    }
    fn referrers(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> std::result::Result<Vec<Descriptor>, StoreError> {
        self.guard(|| self.store.referrers(repo, digest))
    }
    fn describe(&self) -> String {
        self.store.describe()
    }
}
