//! The lab as experiments use it: the fixture catalogue, the trust material,
//! and the lab form of each vendor profile (same identity matcher, the lab's
//! CA, Rekor and CT keys, the lab's key for key-based vendors).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::experiment::scenario::{IdentityMode, TrustRootMode};
use crate::lab_cli::{LAB_NOW, layout_dir};
use crate::policy::Engine;
use crate::policy::render::TrustOverrides;
use crate::profile::keys::{KeyMaterial, parse_public_key};
use crate::profile::{Identity, Matcher, Vendor};
use crate::supply::lab::ca::San;
use crate::supply::lab::{Catalogue, Fixture, PolicySpec};
use crate::supply::oci::Layout;

use crate::backend::evidence::StoreEvidence;

pub struct LabContext {
    pub dir: PathBuf,
    pub catalogue: Catalogue,
    pub evidence: Arc<StoreEvidence<Layout>>,
    pub trust: TrustOverrides,
    pub now: i64,
    /// The foreign CA's chain (`<lab>/foreign-ca-chain.pem`).
    foreign_roots: String,
    /// Held for the whole run: no other trustswap replaces the lab meanwhile.
    _lock: crate::supply::lab::folder::LabLock,
}

fn read(path: PathBuf) -> Result<String> {
    crate::input::read_to_string(&path)
}

/// The embedded engine's evidence over the lab's layout, on the lab's clock,
/// with the lab's TUF repository under its unserved mirror URL;
/// `default_trust` is what a policy naming no trust material trusts (`run`:
/// nothing, as a cluster trusting only the public-good root; `admit`: the
/// lab's root in its place).
pub(crate) fn evidence_over(
    layout: Layout,
    dir: &Path,
    default_trust: Option<crate::verify::trust::TrustMaterial>,
) -> StoreEvidence<Layout> {
    let evidence = StoreEvidence::new(layout, default_trust, LAB_NOW);
    evidence.add_tuf_mirror(
        crate::lab_cli::TUF_MIRROR_UNSERVED,
        &dir.join(crate::lab_cli::TUF_DIR),
    );
    evidence
}

impl LabContext {
    /// Evidence over the same layout with nothing cached and no tag pinned
    /// (what deciding a case again from scratch needs).
    pub fn fresh_evidence(&self) -> Result<StoreEvidence<Layout>> {
        let layout = Layout::open(layout_dir(&self.dir))
            .map_err(|e| Error::harness("failed to open the lab layout", e))?;
        Ok(evidence_over(layout, &self.dir, None))
    }

    /// The key a key-based vendor rotated away from (DHI's `<lab>/dhi-1.pub`),
    /// or `None` for a keyless vendor.
    pub fn rotated_key(&self, vendor: &str) -> Option<&str> {
        self.catalogue
            .vendor_keys
            .iter()
            .find(|k| k.vendor == vendor)
            .map(|k| k.rotated.as_str())
    }

    /// Points `vendor`'s moved tag at the digest it had before the vendor
    /// re-pushed it, as every run starts, in the lab's evidence; returns the
    /// repository, tag and digest for a backend to do the same.
    pub fn pin_before_repush(&self, vendor: &str) -> Option<(String, String, String)> {
        let (repo, tag, prev) = self.moved_tag(vendor)?;
        self.evidence.pin(&repo, &tag, prev.parse().ok()?);
        Some((repo, tag, prev))
    }

    /// Lets `vendor`'s moved tag point where the layout says (after the re-push).
    pub fn unpin_moved_tag(&self, vendor: &str) {
        if let Some((repo, tag, _)) = self.moved_tag(vendor) {
            self.evidence.unpin(&repo, &tag);
        }
    }

    /// `vendor`'s moved tag: repository, tag, and the digest it had before the re-push.
    pub fn moved_tag(&self, vendor: &str) -> Option<(String, String, String)> {
        let f = self.fixture(vendor, "moved-tag")?;
        let (repo, tag, _) = crate::verify::image::split_reference(&f.image_ref).ok()?;
        Some((repo, tag?, f.previous_digest.clone()?))
    }

    /// The trust overrides with `mode`'s certificate authorities in place of the lab's.
    pub fn trust_root(&self, mut trust: TrustOverrides, mode: TrustRootMode) -> TrustOverrides {
        match mode {
            TrustRootMode::Lab => {}
            TrustRootMode::ForeignCa => trust.fulcio_roots = Some(self.foreign_roots.clone()),
        }
        trust
    }

    /// Build (or rebuild) the lab for `seed` and the vendor `profiles` in
    /// `dir`, and load it.
    pub fn build(dir: &Path, seed: u64, profiles: &[Vendor]) -> Result<LabContext> {
        let vendors = crate::profile::lab::lab_vendors(profiles)?;
        let (catalogue, lock) = crate::lab_cli::init(dir, seed, &vendors)?;
        let layout = Layout::open(layout_dir(dir))
            .map_err(|e| Error::harness("failed to open the lab layout", e))?;
        // What a cluster's Kyverno trusts when a policy names nothing is
        // Sigstore's public-good root (no lab image verifies against it); the
        // lab's policies name the lab's trust material, inline (ClusterPolicy)
        // or through the lab's TUF repository (ImageValidatingPolicy).
        let evidence = evidence_over(layout, dir, None);
        let chain = read(dir.join("fulcio-chain.pem"))?;
        Ok(LabContext {
            trust: TrustOverrides {
                fulcio_roots: Some(chain),
                rekor_pubkey: Some(read(dir.join("rekor.pub"))?),
                ctlog_pubkey: Some(read(dir.join("ctlog.pub"))?),
                extra_keys: Vec::new(),
                tuf: Some(crate::policy::kyverno::ivpol::Tuf {
                    mirror: Some(crate::lab_cli::TUF_MIRROR_UNSERVED.into()),
                    root: Some(crate::policy::kyverno::ivpol::TufRoot {
                        path: None,
                        data: Some({
                            use base64::Engine as _;
                            base64::engine::general_purpose::STANDARD.encode(crate::input::read(
                                &dir.join(crate::lab_cli::TUF_DIR).join("root.json"),
                            )?)
                        }),
                    }),
                }),
            },
            foreign_roots: read(dir.join("foreign-ca-chain.pem"))?,
            evidence: Arc::new(evidence),
            catalogue,
            dir: dir.to_path_buf(),
            now: LAB_NOW,
            _lock: lock,
        })
    }

    /// The lab fixture of `vendor` (profile name) and `variant`.
    pub fn fixture(&self, vendor: &str, variant: &str) -> Option<&Fixture> {
        self.catalogue.fixtures.iter().find(|f| {
            f.vendor == vendor
                && serde_json::to_value(f.variant)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .as_deref()
                    == Some(variant)
        })
    }

    /// Whether the lab has fixtures for this vendor profile.
    pub fn has_vendor(&self, vendor: &str) -> bool {
        self.fixture(vendor, "good").is_some()
    }

    /// The vendor as the lab signs it, with the identity matcher `mode` asks
    /// for, and the trust overrides to render it with.
    pub fn vendor(
        &self,
        profile: &Vendor,
        mode: IdentityMode,
        engine: Engine,
    ) -> Result<(Vendor, TrustOverrides)> {
        let mut v = profile.clone();
        let mut trust = self.trust.clone();
        match &profile.identity {
            Identity::Key(_) => {
                // A key-based vendor the lab does not sign for keeps its own key.
                let lab_key = self.dir.join(format!("{}.pub", profile.name));
                if lab_key.is_file() {
                    let (pem, sha256) =
                        parse_public_key(&read(lab_key)?).map_err(|m| Error::Internal {
                            message: format!("lab key for {}: {m}", profile.name),
                        })?;
                    v.identity = Identity::Key(KeyMaterial {
                        pem: Some(pem),
                        sha256,
                        origin: "lab".into(),
                    });
                }
                if mode == IdentityMode::TrustRotatedKey
                    && let Some(rotated) = self.rotated_key(&profile.name)
                {
                    trust.extra_keys.push(rotated.to_owned());
                }
            }
            Identity::Keyless { issuer, .. } if mode == IdentityMode::CarelessWildcard => {
                let prefix =
                    self.careless_prefix(&profile.name)
                        .ok_or_else(|| Error::Internal {
                            message: format!("no lab identity for {}", profile.name),
                        })?;
                let subject = match engine {
                    Engine::Cpol => Matcher::Exact(format!("{prefix}*")),
                    Engine::Ivpol => Matcher::RegExp(regex::escape(&prefix)),
                };
                v.identity = Identity::Keyless {
                    issuer: issuer.clone(),
                    subject,
                };
            }
            Identity::Keyless { .. } => {}
        }
        Ok((v, trust))
    }

    /// A careless prefix of the vendor's lab identity: the org of a GitHub
    /// workflow URI, the local part and first label of an email, the scheme
    /// and first host label of any other URI (what the lab's look-alike
    /// signer, `supply::lab::look_alike_of`, also starts with).
    fn careless_prefix(&self, vendor: &str) -> Option<String> {
        let PolicySpec::Keyless { san, issuer, .. } = &self.fixture(vendor, "good")?.policy else {
            return None;
        };
        // A GitHub workflow identity only with GitHub Actions' issuer, as the
        // lab certifies GitHub's claims only then.
        let github = (issuer == crate::profile::GITHUB_ACTIONS_ISSUER)
            .then(|| San::as_str(san).strip_prefix("https://github.com/"))
            .flatten();
        Some(match san {
            San::Uri(u) => match github {
                Some(rest) => format!("https://github.com/{}", rest.split('/').next()?),
                None => {
                    let host = u.find("://").map_or(0, |i| i + 3);
                    let end = u[host..]
                        .find(['.', '/', ':'])
                        .map_or(u.len(), |i| host + i);
                    u[..end].to_owned()
                }
            },
            San::Email(e) => {
                let (local, domain) = e.split_once('@')?;
                format!("{local}@{}", domain.split('.').next()?)
            }
        })
    }

    /// The image reference a pod uses for a fixture.
    pub fn image_ref(&self, f: &Fixture, previous: bool) -> String {
        match (previous, &f.previous_digest) {
            (true, Some(d)) => format!("{}@{d}", f.repository),
            _ => f.image_ref.clone(),
        }
    }
}
