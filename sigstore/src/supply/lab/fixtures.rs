//! Vendor-shaped fixtures (DHI, Chainguard, self-built, distroless) and their adversarial
//! variants, written into an ocilab layout, with the expected verdicts.

use crate::supply::oci::{Layout, Recipe, build_image, read_package_db};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::supply::lab::ca::{GOOGLE_ISSUER, Identity, San};
use crate::supply::lab::error::{LabError, Result, layout_err};
use crate::supply::lab::keys::LabKey;
use crate::supply::lab::sbom;
use crate::supply::lab::sign::{self, BundleContent, Published, SignOptions, Signer, Target};
use crate::supply::lab::sigstore::Lab;

/// How long before the lab's admissions (`now`) its fixtures are signed: an
/// hour, so that their 10-minute certificates have expired by the time a pod
/// is admitted, as every Fulcio certificate has in a real cluster. Only the
/// transparency log's time proves they were valid when used; a policy that
/// ignores the log has nothing else to date them by (and Kyverno, on the real
/// clock, sees them expired).
pub const SIGNED_BEFORE_ADMISSION: i64 = 3600;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    Good,
    Unsigned,
    OtherVendor,
    ForeignCa,
    Tampered,
    MovedTag,
    SbomMissing,
    SbomOtherIdentity,
    ExpiredNoTlog,
    Rotated,
    LookAlike,
    /// Two signature layers on one `.sig` tag: another signer's first, then
    /// the vendor's (an image re-signed by a mirror, a countersignature).
    TwoSigners,
    /// The vendor's legacy `.sig` and `.att`, and Sigstore-bundle referrers
    /// (a signature and attestations) by another signer: cosign v3 and an
    /// ImageValidatingPolicy read only the bundles of an image that has any.
    BundleOtherSigner,
}

pub const VARIANTS: [Variant; 13] = [
    Variant::Good,
    Variant::Unsigned,
    Variant::OtherVendor,
    Variant::ForeignCa,
    Variant::Tampered,
    Variant::MovedTag,
    Variant::SbomMissing,
    Variant::SbomOtherIdentity,
    Variant::ExpiredNoTlog,
    Variant::Rotated,
    Variant::LookAlike,
    Variant::TwoSigners,
    Variant::BundleOtherSigner,
];

impl Variant {
    pub fn slug(self) -> &'static str {
        match self {
            Variant::Good => "good",
            Variant::Unsigned => "unsigned",
            Variant::OtherVendor => "other-vendor",
            Variant::ForeignCa => "foreign-ca",
            Variant::Tampered => "tampered",
            Variant::MovedTag => "moved-tag",
            Variant::SbomMissing => "sbom-missing",
            Variant::SbomOtherIdentity => "sbom-other-identity",
            Variant::ExpiredNoTlog => "expired-no-tlog",
            Variant::Rotated => "rotated",
            Variant::LookAlike => "look-alike",
            Variant::TwoSigners => "two-signers",
            Variant::BundleOtherSigner => "bundle-other-signer",
        }
    }
}

/// Why a verifier must refuse. Categories, not message text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// No signature (no `.sig` tag / no bundle referrer) for the image digest.
    NoSignature,
    /// No attestation (`.att`) for the image digest.
    NoAttestation,
    /// Keyless: the signature/payload no longer matches what was signed and logged.
    SignatureInvalid,
    /// Key-based: the signature does not verify with the pinned key (wrong or rotated-out key,
    /// or a tampered payload: these are cryptographically indistinguishable).
    KeySignatureInvalid,
    /// Key-based: the transparency log entry was made with another key/certificate.
    KeyMismatch,
    /// The certificate does not chain to a CA trusted at the signing time (a foreign CA, or a
    /// retired CA whose trusted-root `validFor` ended: the verifier reports both as a chain
    /// refusal and cannot tell them apart).
    UntrustedCa,
    /// The certificate's SAN/issuer is not the pinned identity.
    IdentityMismatch,
    /// Keyless without a tlog entry: nothing proves the signing time inside the cert validity.
    NoSignedTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "kebab-case")]
pub enum Expect {
    Accept,
    Refuse(Reason),
}

/// The vendor's trust root as a policy would pin it.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PolicySpec {
    /// Key-based; `require_tlog: false` (= `rekor.ignoreTlog: true`).
    Key {
        public_key_pem: String,
        require_tlog: bool,
    },
    /// Keyless identity + issuer (exact); SCT required iff `require_sct`.
    Keyless {
        san: San,
        issuer: String,
        require_sct: bool,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct Fixture {
    /// The vendor profile's name (`dhi`, `chainguard`, ... or one a user added).
    pub vendor: String,
    pub variant: Variant,
    /// Full tag reference of the image, e.g. `cgr.dev/chainguard/static:latest-tampered`.
    pub image_ref: String,
    pub repository: String,
    /// The digest the tag points at now.
    pub image_digest: String,
    /// For `moved-tag`: the digest the tag pointed at (and that is still signed).
    pub previous_digest: Option<String>,
    pub signature_repository: String,
    pub policy: PolicySpec,
    /// Predicate types a neutral SBOM check accepts for this vendor.
    pub sbom_predicate_types: Vec<String>,
    pub expect_signature: Expect,
    pub expect_sbom: Expect,
    /// Only for fixtures that also publish Sigstore bundle referrers.
    pub expect_bundle: Option<Expect>,
    pub published: Vec<Published>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Catalogue {
    pub config: crate::supply::lab::sigstore::LabConfig,
    pub trust: crate::supply::lab::sigstore::LabTrustConfig,
    pub fixtures: Vec<Fixture>,
    /// Fixture variants not produced, with the reason.
    pub not_applicable: Vec<(String, Variant, &'static str)>,
    /// The keys the lab signs each key-based vendor's fixtures with.
    pub vendor_keys: Vec<VendorKeys>,
}

/// A key-based vendor's lab keys (PEM): the active key its fixtures are
/// signed with and the key it rotated away from.
#[derive(Clone, Debug, Serialize)]
pub struct VendorKeys {
    pub vendor: String,
    pub active: String,
    pub rotated: String,
}

/// A vendor as the lab signs it: where its images live, who signs them, and
/// what it attests. The four shipped vendors are [`shipped_vendors`]; any
/// other comes from its profile ([`LabVendor::new`]).
#[derive(Clone, Debug)]
pub struct LabVendor {
    /// The profile name.
    pub name: String,
    /// The name the vendor's seeds and signing labels are derived under (part
    /// of the lab's byte-for-byte determinism: the shipped vendors keep the
    /// names their seeds have always used).
    seed_name: String,
    pub repository: String,
    pub tag: String,
    pub signature_repository: String,
    recipe: Recipe,
    /// `None`: key-based (the lab derives the vendor's keys from its name).
    pub identity: Option<Identity>,
    /// Who signs the look-alike variant: an identity a careless wildcard on the
    /// vendor's own would also match.
    look_alike: Option<Identity>,
    pub sbom_type: String,
    pub extra_predicates: Vec<String>,
    /// The vendor also publishes Sigstore bundle referrers (cosign v3).
    pub bundles: bool,
    /// A key-based vendor's signatures carry a Rekor entry (keyless ones
    /// always do).
    pub tlog: bool,
    /// The builder and source a provenance predicate names.
    provenance: (String, String),
    /// The author an OpenVEX document names.
    vex_author: String,
}

impl LabVendor {
    /// A vendor from its profile: images at `repository:tag`, signed by
    /// `identity` (keyless) or a lab key derived from `name` (`None`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        repository: &str,
        tag: &str,
        signature_repository: &str,
        identity: Option<Identity>,
        sbom_type: &str,
        extra_predicates: Vec<String>,
        bundles: bool,
        tlog: bool,
    ) -> Result<Self> {
        let look_alike = identity.as_ref().map(look_alike_of);
        let tlog = tlog || identity.is_some();
        Ok(LabVendor {
            name: name.to_owned(),
            seed_name: name.to_owned(),
            repository: repository.to_owned(),
            tag: tag.to_owned(),
            signature_repository: signature_repository.to_owned(),
            recipe: generic_recipe(name)?,
            identity,
            look_alike,
            sbom_type: sbom_type.to_owned(),
            extra_predicates,
            bundles,
            tlog,
            provenance: (
                format!("https://build.lab.trustswap.invalid/{name}"),
                format!("https://source.lab.trustswap.invalid/{name}"),
            ),
            vex_author: format!("{name} (lab)"),
        })
    }

    /// Also attests `types` (a predicate type it already attests is skipped).
    pub fn also_attest(&mut self, types: &[String]) {
        for t in types {
            if *t != self.sbom_type && !self.extra_predicates.contains(t) {
                self.extra_predicates.push(t.clone());
            }
        }
    }

    /// Whether this vendor signs with a key (no certificate identity).
    pub fn keyed(&self) -> bool {
        self.identity.is_none()
    }
}

/// A look-alike of `id` that a careless prefix wildcard on it would also
/// match: a GitHub org or an email's first domain label with `-evil`
/// appended, or any other URI's first host label.
pub fn look_alike_of(id: &Identity) -> Identity {
    let evil = |s: &str, at: usize| format!("{}-evil{}", &s[..at], &s[at..]);
    match &id.san {
        San::Email(e) => {
            let (local, domain) = e.split_once('@').unwrap_or((e, ""));
            let label = domain.find('.').unwrap_or(domain.len());
            Identity::email(&format!("{local}@{}", evil(domain, label)), &id.issuer)
        }
        San::Uri(u) => {
            if let Some(gh) = &id.github
                && let Some(repo) = gh.source_repo_uri.strip_prefix("https://github.com/")
                && let Some(workflow) = u
                    .strip_prefix(&format!("{}/", gh.source_repo_uri))
                    .and_then(|w| w.split('@').next())
            {
                let org_end = repo.find('/').unwrap_or(repo.len());
                return Identity::github_workflow(
                    &evil(repo, org_end),
                    workflow,
                    &gh.source_repo_ref,
                );
            }
            let host_start = u.find("://").map_or(0, |i| i + 3);
            let label_end = u[host_start..]
                .find(['.', '/', ':'])
                .map_or(u.len(), |i| host_start + i);
            Identity {
                san: San::Uri(evil(u, label_end)),
                issuer: id.issuer.clone(),
                github: None,
            }
        }
    }
}

/// A small Debian-shaped image named after the vendor, for vendors the lab
/// has no hand-made recipe for.
fn generic_recipe(name: &str) -> Result<Recipe> {
    recipe(serde_json::json!({
        "name": name,
        "os_release": { "id": "debian", "name": "Debian GNU/Linux", "version_id": "12", "version_codename": "bookworm",
                        "pretty_name": "Debian GNU/Linux 12 (bookworm)" },
        "package_db": "dpkg",
        "packages": [
            {"name": "base-files", "version": "12.4+deb12u8", "arch": "amd64", "license": "GPL-2.0-or-later"},
            {"name": "libc6", "version": "2.36-9+deb12u9", "arch": "amd64", "license": "LGPL-2.1"}
        ],
        "files": [ {"path": "/etc/trustswap-lab-vendor", "content": format!("{name}\n"), "mode": "0644"} ]
    }))
}

fn recipe(v: serde_json::Value) -> Result<Recipe> {
    serde_json::from_value(v).map_err(crate::supply::lab::error::json_err("vendor recipe"))
}

fn chainguard_identity() -> Identity {
    Identity::github_workflow(
        "chainguard-images/images",
        ".github/workflows/release.yaml",
        "refs/heads/main",
    )
}
fn self_built_identity() -> Identity {
    Identity::github_workflow(
        "example-org/platform",
        ".github/workflows/release.yaml",
        "refs/heads/main",
    )
}
fn distroless_identity() -> Identity {
    Identity::email("keyless@distroless.iam.gserviceaccount.com", GOOGLE_ISSUER)
}

/// The four shipped vendors as the lab has always signed them (their hand-made
/// image recipes, look-alikes and seeds are part of the lab's determinism).
pub fn shipped_vendors() -> Result<Vec<LabVendor>> {
    let debian = |name: &str, pkgs: serde_json::Value| {
        recipe(serde_json::json!({
            "name": name,
            "os_release": { "id": "debian", "name": "Debian GNU/Linux", "version_id": "12", "version_codename": "bookworm",
                            "pretty_name": "Debian GNU/Linux 12 (bookworm)" },
            "package_db": "dpkg",
            "packages": pkgs,
        }))
    };
    #[allow(clippy::too_many_arguments)]
    let vendor = |name: &str,
                  seed_name: &str,
                  (repository, tag, signature_repository): (&str, &str, &str),
                  recipe: Recipe,
                  identity: Option<Identity>,
                  look_alike: Identity,
                  sbom_type: &str,
                  extra_predicates: &[&str],
                  bundles: bool| LabVendor {
        name: name.to_owned(),
        seed_name: seed_name.to_owned(),
        repository: repository.to_owned(),
        tag: tag.to_owned(),
        signature_repository: signature_repository.to_owned(),
        recipe,
        identity,
        look_alike: Some(look_alike),
        sbom_type: sbom_type.to_owned(),
        extra_predicates: extra_predicates.iter().map(|s| (*s).to_owned()).collect(),
        bundles,
        // DHI signs with its key and no Rekor entry; keyless vendors log.
        tlog: name != "dhi",
        vex_author: if name == "dhi" {
            "Docker Hardened Images (lab)".to_owned()
        } else {
            format!("{name} (lab)")
        },
        provenance: if name == "dhi" {
            (
                "https://github.com/docker-hardened-images/build@lab".to_owned(),
                "https://github.com/docker-hardened-images/definitions".to_owned(),
            )
        } else {
            (
                "https://github.com/chainguard-images/images/.github/workflows/release.yaml@refs/heads/main".to_owned(),
                "https://github.com/chainguard-images/images".to_owned(),
            )
        },
    };
    let example_org_evil = Identity::github_workflow(
        "example-org-evil/platform",
        ".github/workflows/release.yaml",
        "refs/heads/main",
    );
    Ok(vec![
        vendor(
            "dhi",
            "Dhi",
            (
                "dhi.io/python",
                "3.13",
                "registry.scout.docker.com/docker/dhi-python",
            ),
            debian(
                "dhi-python",
                serde_json::json!([
                    {"name": "libc6", "version": "2.36-9+deb12u9", "arch": "amd64", "license": "LGPL-2.1"},
                    {"name": "python3.13", "version": "3.13.1-1", "arch": "amd64", "license": "PSF-2.0"},
                    {"name": "openssl", "version": "3.0.15-1~deb12u1", "arch": "amd64", "license": "Apache-2.0"}
                ]),
            )?,
            None,
            example_org_evil.clone(),
            sbom::PT_CYCLONEDX_16,
            &[sbom::PT_SPDX, sbom::PT_SLSA_02, sbom::PT_OPENVEX],
            false,
        ),
        vendor(
            "chainguard",
            "Chainguard",
            (
                "cgr.dev/chainguard/static",
                "latest",
                "cgr.dev/chainguard/static",
            ),
            recipe(serde_json::json!({
                "name": "chainguard-static",
                "os_release": { "id": "wolfi", "name": "Wolfi", "version_id": "20230201", "pretty_name": "Wolfi" },
                "package_db": "apk",
                "packages": [
                    {"name": "wolfi-baselayout", "version": "20230201-r15", "arch": "x86_64", "license": "MIT"},
                    {"name": "ca-certificates-bundle", "version": "20241121-r1", "arch": "x86_64", "license": "MPL-2.0 AND MIT"},
                    {"name": "tzdata", "version": "2024b-r0", "arch": "x86_64", "license": "CC-PDDC"}
                ]
            }))?,
            Some(chainguard_identity()),
            Identity::github_workflow(
                "chainguard-images-fork/images",
                ".github/workflows/release.yaml",
                "refs/heads/main",
            ),
            sbom::PT_SPDX,
            &["https://cyclonedx.org/bom", sbom::PT_SLSA_1],
            false,
        ),
        vendor(
            "selfbuilt",
            "SelfBuilt",
            (
                "ghcr.io/example-org/platform/api",
                "1.0.0",
                "ghcr.io/example-org/platform/api",
            ),
            recipe(serde_json::json!({
                "name": "platform-api",
                "os_release": { "id": "alpine", "name": "Alpine Linux", "version_id": "3.20.3", "pretty_name": "Alpine Linux v3.20" },
                "package_db": "apk",
                "packages": [
                    {"name": "musl", "version": "1.2.5-r0", "arch": "x86_64", "license": "MIT"},
                    {"name": "busybox", "version": "1.36.1-r29", "arch": "x86_64", "license": "GPL-2.0-only"},
                    {"name": "libssl3", "version": "3.3.2-r1", "arch": "x86_64", "license": "Apache-2.0"}
                ],
                "files": [ {"path": "/usr/local/bin/api", "content": "#!/bin/sh\necho api\n", "mode": "0755"} ]
            }))?,
            Some(self_built_identity()),
            example_org_evil,
            sbom::PT_CYCLONEDX_16,
            &[sbom::PT_COSIGN_VULN],
            true,
        ),
        vendor(
            "distroless",
            "Distroless",
            (
                "gcr.io/distroless/static-debian12",
                "nonroot",
                "gcr.io/distroless/static-debian12",
            ),
            debian(
                "distroless-static",
                serde_json::json!([
                    {"name": "base-files", "version": "12.4+deb12u8", "arch": "amd64", "license": "GPL-2.0-or-later"},
                    {"name": "netbase", "version": "6.4", "arch": "all", "license": "GPL-2.0-only"},
                    {"name": "tzdata", "version": "2024b-0+deb12u1", "arch": "all", "license": "public-domain"}
                ]),
            )?,
            Some(distroless_identity()),
            Identity::email(
                "keyless@distroless-evil.iam.gserviceaccount.com",
                GOOGLE_ISSUER,
            ),
            sbom::PT_SPDX,
            &[],
            false,
        ),
    ])
}

/// The identity of another vendor, used to sign "other-vendor" variants:
/// Chainguard's, or distroless's for a vendor that signs as Chainguard.
fn other_vendor_identity(spec: &LabVendor) -> Identity {
    let chainguard = chainguard_identity();
    if spec.identity.as_ref() == Some(&chainguard) {
        distroless_identity()
    } else {
        chainguard
    }
}

fn seed_for(lab_seed: u64, seed_name: &str, variant: &str) -> u64 {
    let vendor = seed_name;
    let h = Sha256::digest(format!("{lab_seed}/{vendor}/{variant}").as_bytes());
    u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
}

struct Ctx<'a> {
    lab: &'a mut Lab,
    layout: &'a mut Layout,
    /// A key-based vendor's keys: active and rotated.
    keys: Option<(LabKey, LabKey)>,
}

impl Ctx<'_> {
    fn active_key(&self) -> Result<LabKey> {
        self.keys.as_ref().map(|k| k.0.clone()).ok_or_else(no_key)
    }

    fn build(&mut self, spec: &LabVendor, variant_seed: &str, reference: &str) -> Result<Target> {
        let seed = seed_for(self.lab.config.seed, &spec.seed_name, variant_seed);
        let img = build_image(&spec.recipe, seed).map_err(|source| LabError::Image {
            what: reference.to_owned(),
            source,
        })?;
        let desc = img.store(self.layout).map_err(|source| LabError::Image {
            what: reference.to_owned(),
            source,
        })?;
        self.layout
            .tag(reference, &desc)
            .map_err(layout_err(reference))?;
        Ok(Target {
            repository: spec.repository.clone(),
            manifest: desc,
            signature_repository: spec.signature_repository.clone(),
        })
    }

    /// A legacy signature with `key` (an impostor's, a rotated one), made
    /// when the vendor signs and logged as the vendor logs.
    fn sign_with_key(
        &mut self,
        spec: &LabVendor,
        t: &Target,
        key: &LabKey,
        label: &str,
    ) -> Result<Published> {
        let at = self.lab.config.now - SIGNED_BEFORE_ADMISSION;
        let o = self.opts(label.to_owned(), spec.tlog, false, at);
        sign::sign_legacy(self.layout, &mut self.lab.rekor, t, Signer::Key(key), &o)
    }

    fn opts(&self, label: String, tlog: bool, tamper: bool, signed_at: i64) -> SignOptions {
        SignOptions {
            signed_at,
            tlog,
            tamper_payload: tamper,
            key_label: label,
        }
    }

    /// Sign with the vendor's own trust (key or keyless identity from the active lab CA).
    fn sign_vendor(
        &mut self,
        spec: &LabVendor,
        t: &Target,
        label: &str,
        tamper: bool,
    ) -> Result<Published> {
        let now = self.lab.config.now;
        match &spec.identity {
            None => {
                let key = self.active_key()?;
                let o = self.opts(
                    label.to_owned(),
                    spec.tlog,
                    tamper,
                    now - SIGNED_BEFORE_ADMISSION,
                );
                sign::sign_legacy(self.layout, &mut self.lab.rekor, t, Signer::Key(&key), &o)
            }
            Some(id) => self.sign_keyless(
                t,
                id,
                label,
                tamper,
                CaChoice::Active,
                true,
                now - SIGNED_BEFORE_ADMISSION,
            ),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn sign_keyless(
        &mut self,
        t: &Target,
        id: &Identity,
        label: &str,
        tamper: bool,
        ca: CaChoice,
        tlog: bool,
        at: i64,
    ) -> Result<Published> {
        let o = self.opts(label.to_owned(), tlog, tamper, at);
        let lab = &mut *self.lab;
        let ca_ref = match ca {
            CaChoice::Active => &lab.ca,
            CaChoice::Retired => &lab.retired_ca,
            CaChoice::Foreign => &lab.foreign_ca,
        };
        let signer = Signer::Keyless {
            ca: ca_ref,
            identity: id,
            ct: Some(&lab.ct),
        };
        sign::sign_legacy(self.layout, &mut lab.rekor, t, signer, &o)
    }

    /// Publish the vendor's attestations (SBOM first) with `signer_override` if given.
    fn attest_vendor(
        &mut self,
        spec: &LabVendor,
        t: &Target,
        label: &str,
        other: Option<AttSigner>,
    ) -> Result<Vec<Published>> {
        let now = self.lab.config.now;
        let content =
            read_package_db(self.layout, &t.manifest).map_err(|source| LabError::Image {
                what: t.digest().to_string(),
                source,
            })?;
        let sbom_pred = if spec.sbom_type.contains("spdx") {
            sbom::spdx(t, &content, now)?
        } else {
            sbom::cyclonedx(t, &content, now)?
        };
        let mut preds: Vec<(&str, serde_json::Value)> = vec![(&spec.sbom_type, sbom_pred)];
        if other.is_none() {
            let (builder, source) = (&spec.provenance.0, &spec.provenance.1);
            for pt in &spec.extra_predicates {
                let v = match pt.as_str() {
                    sbom::PT_SLSA_02 => sbom::slsa_v02(builder, source, now)?,
                    sbom::PT_SLSA_1 => sbom::slsa_v1(builder, source, now)?,
                    sbom::PT_OPENVEX => sbom::openvex(t, &spec.vex_author, now)?,
                    // Every SBOM format the vendor publishes, not only the first.
                    other if other.contains("spdx") => sbom::spdx(t, &content, now)?,
                    other if other.contains("cyclonedx") => sbom::cyclonedx(t, &content, now)?,
                    _ => sbom::cosign_vuln(now)?,
                };
                preds.push((pt, v));
            }
        }
        let mut out = Vec::new();
        for (i, (pt, pred)) in preds.iter().enumerate() {
            let o = self.opts(
                format!("{label}/att{i}"),
                spec.identity.is_some()
                    || matches!(other, Some(AttSigner::Keyless(_)))
                    || spec.tlog,
                false,
                now - SIGNED_BEFORE_ADMISSION,
            );
            let lab = &mut *self.lab;
            let p = match (&other, &spec.identity) {
                (Some(AttSigner::Key(k)), _) => sign::attest_legacy(
                    self.layout,
                    &mut lab.rekor,
                    t,
                    Signer::Key(k),
                    &o,
                    pt,
                    pred,
                )?,
                (Some(AttSigner::Keyless(id)), _) | (None, Some(id)) => {
                    let s = Signer::Keyless {
                        ca: &lab.ca,
                        identity: id,
                        ct: Some(&lab.ct),
                    };
                    sign::attest_legacy(self.layout, &mut lab.rekor, t, s, &o, pt, pred)?
                }
                (None, None) => {
                    let k = self.keys.as_ref().map(|k| k.0.clone()).ok_or_else(no_key)?;
                    sign::attest_legacy(
                        self.layout,
                        &mut lab.rekor,
                        t,
                        Signer::Key(&k),
                        &o,
                        pt,
                        pred,
                    )?
                }
            };
            out.push(p);
        }
        Ok(out)
    }

    /// Publish one keyless Sigstore bundle referrer, logged and with an SCT.
    fn keyless_bundle(
        &mut self,
        t: &Target,
        id: &Identity,
        label: &str,
        content: BundleContent<'_>,
    ) -> Result<Published> {
        let o = self.opts(
            label.to_owned(),
            true,
            false,
            self.lab.config.now - SIGNED_BEFORE_ADMISSION,
        );
        let lab = &mut *self.lab;
        let s = Signer::Keyless {
            ca: &lab.ca,
            identity: id,
            ct: Some(&lab.ct),
        };
        sign::publish_bundle(self.layout, &mut lab.rekor, t, s, &o, content)
    }

    fn bundles(
        &mut self,
        spec: &LabVendor,
        t: &Target,
        id: &Identity,
        label: &str,
        with_atts: bool,
    ) -> Result<Vec<Published>> {
        let now = self.lab.config.now;
        let mut out = Vec::new();
        out.push(self.keyless_bundle(
            t,
            id,
            &format!("{label}/bundle-sig"),
            BundleContent::ImageSignature,
        )?);
        if with_atts {
            let content =
                read_package_db(self.layout, &t.manifest).map_err(|source| LabError::Image {
                    what: t.digest().to_string(),
                    source,
                })?;
            let preds = [
                (spec.sbom_type.as_str(), sbom::cyclonedx(t, &content, now)?),
                (sbom::PT_COSIGN_VULN, sbom::cosign_vuln(now)?),
            ];
            for (i, (pt, pred)) in preds.iter().enumerate() {
                let content = BundleContent::Attestation {
                    predicate_type: pt,
                    predicate: pred,
                };
                out.push(self.keyless_bundle(t, id, &format!("{label}/bundle-att{i}"), content)?);
            }
        }
        Ok(out)
    }
}

#[derive(Clone, Copy)]
enum CaChoice {
    Active,
    Retired,
    Foreign,
}

enum AttSigner {
    Key(crate::supply::lab::keys::LabKey),
    Keyless(Identity),
}

/// Build every vendor fixture and adversarial variant into `layout`. Deterministic for a given
/// lab config (same digests, same Rekor indices, same bytes).
pub fn build_all(lab: &mut Lab, layout: &mut Layout, vendors: &[LabVendor]) -> Result<Catalogue> {
    let mut fixtures = Vec::new();
    let mut not_applicable = Vec::new();
    let mut vendor_keys = Vec::new();
    for (i, spec) in vendors.iter().enumerate() {
        if vendors[..i].iter().any(|v| v.name == spec.name) {
            return Err(LabError::Reference {
                reference: spec.name.clone(),
                reason: "two lab vendors share this name".into(),
            });
        }
        let keys = match spec.identity {
            None => {
                let (active, rotated) = lab.vendor_keys(&spec.name)?;
                vendor_keys.push(VendorKeys {
                    vendor: spec.name.clone(),
                    active: active.public_pem()?,
                    rotated: rotated.public_pem()?,
                });
                Some((active, rotated))
            }
            Some(_) => None,
        };
        for variant in VARIANTS {
            if spec.identity.is_none() && variant == Variant::ExpiredNoTlog {
                not_applicable.push((
                    spec.name.clone(),
                    variant,
                    "key-based signing has no certificate to expire",
                ));
                continue;
            }
            let mut cx = Ctx {
                lab: &mut *lab,
                layout: &mut *layout,
                keys: keys.clone(),
            };
            fixtures.push(build_one(&mut cx, spec, variant)?);
        }
    }
    Ok(Catalogue {
        config: lab.config,
        trust: lab.trust,
        fixtures,
        not_applicable,
        vendor_keys,
    })
}

fn no_key() -> LabError {
    LabError::Reference {
        reference: "lab vendor".into(),
        reason: "a key-based vendor without lab keys".into(),
    }
}

fn build_one(cx: &mut Ctx<'_>, spec: &LabVendor, variant: Variant) -> Result<Fixture> {
    let now = cx.lab.config.now;
    let reference = if variant == Variant::Good {
        format!("{}:{}", spec.repository, spec.tag)
    } else {
        format!("{}:{}-{}", spec.repository, spec.tag, variant.slug())
    };
    let label = format!("{}/{}", spec.seed_name, variant.slug());
    let keyed = spec.identity.is_none();
    let mut t = cx.build(spec, variant.slug(), &reference)?;
    let mut published = Vec::new();
    let mut previous_digest = None;
    let mut expect_bundle = None;
    use Expect::{Accept, Refuse};
    let (sig, sbom_expect) = match variant {
        Variant::Good => {
            published.push(cx.sign_vendor(spec, &t, &label, false)?);
            published.extend(cx.attest_vendor(spec, &t, &label, None)?);
            if let (true, Some(id)) = (spec.bundles, &spec.identity) {
                published.extend(cx.bundles(spec, &t, id, &label, true)?);
                expect_bundle = Some(Accept);
            }
            (Accept, Accept)
        }
        Variant::Unsigned => {
            if spec.bundles {
                expect_bundle = Some(Refuse(Reason::NoSignature));
            }
            (Refuse(Reason::NoSignature), Refuse(Reason::NoAttestation))
        }
        Variant::OtherVendor => {
            let id = other_vendor_identity(spec);
            published.push(cx.sign_keyless(
                &t,
                &id,
                &label,
                false,
                CaChoice::Active,
                true,
                now - SIGNED_BEFORE_ADMISSION,
            )?);
            (
                // A key-based vendor's policy ignores the log (`require_tlog:
                // false` below), so the other signer's Rekor entry is not
                // read, as cosign does not read it: the signature simply fails
                // the pinned key.
                Refuse(if keyed {
                    Reason::KeySignatureInvalid
                } else {
                    Reason::IdentityMismatch
                }),
                Refuse(Reason::NoAttestation),
            )
        }
        Variant::ForeignCa => {
            if keyed {
                // Same key name ("dhi-2"), other key material: the key-based analogue.
                let k = cx.lab.impostor_key.clone();
                published.push(cx.sign_with_key(spec, &t, &k, &label)?);
                (
                    Refuse(Reason::KeySignatureInvalid),
                    Refuse(Reason::NoAttestation),
                )
            } else {
                let id = spec.identity.clone().ok_or_else(|| LabError::Reference {
                    reference: reference.clone(),
                    reason: "no identity".into(),
                })?;
                published.push(cx.sign_keyless(
                    &t,
                    &id,
                    &label,
                    false,
                    CaChoice::Foreign,
                    true,
                    now - SIGNED_BEFORE_ADMISSION,
                )?);
                (Refuse(Reason::UntrustedCa), Refuse(Reason::NoAttestation))
            }
        }
        Variant::Tampered => {
            published.push(cx.sign_vendor(spec, &t, &label, true)?);
            (
                Refuse(if keyed {
                    Reason::KeySignatureInvalid
                } else {
                    Reason::SignatureInvalid
                }),
                Refuse(Reason::NoAttestation),
            )
        }
        Variant::MovedTag => {
            // Signed + attested at the old digest; the tag then moves to a rebuilt, unsigned digest.
            published.push(cx.sign_vendor(spec, &t, &label, false)?);
            published.extend(cx.attest_vendor(spec, &t, &label, None)?);
            previous_digest = Some(t.digest().to_string());
            let seed = seed_for(cx.lab.config.seed, &spec.seed_name, "moved-tag/new");
            let img = build_image(&spec.recipe, seed).map_err(|source| LabError::Image {
                what: reference.clone(),
                source,
            })?;
            let desc = img.store(cx.layout).map_err(|source| LabError::Image {
                what: reference.clone(),
                source,
            })?;
            cx.layout
                .move_tag(&reference, &desc)
                .map_err(layout_err(&reference))?;
            t.manifest = desc;
            (Refuse(Reason::NoSignature), Refuse(Reason::NoAttestation))
        }
        Variant::SbomMissing => {
            published.push(cx.sign_vendor(spec, &t, &label, false)?);
            (Accept, Refuse(Reason::NoAttestation))
        }
        Variant::SbomOtherIdentity => {
            published.push(cx.sign_vendor(spec, &t, &label, false)?);
            if keyed {
                let k = cx.lab.impostor_key.clone();
                published.extend(cx.attest_vendor(spec, &t, &label, Some(AttSigner::Key(k)))?);
                (Accept, Refuse(Reason::KeySignatureInvalid))
            } else {
                published.extend(cx.attest_vendor(
                    spec,
                    &t,
                    &label,
                    Some(AttSigner::Keyless(other_vendor_identity(spec))),
                )?);
                (Accept, Refuse(Reason::IdentityMismatch))
            }
        }
        Variant::ExpiredNoTlog => {
            let id = spec.identity.clone().ok_or_else(|| LabError::Reference {
                reference: reference.clone(),
                reason: "no identity".into(),
            })?;
            published.push(cx.sign_keyless(
                &t,
                &id,
                &label,
                false,
                CaChoice::Active,
                false,
                now - 2 * 86_400,
            )?);
            (Refuse(Reason::NoSignedTime), Refuse(Reason::NoAttestation))
        }
        Variant::Rotated => {
            if keyed {
                let k = cx.keys.as_ref().map(|k| k.1.clone()).ok_or_else(no_key)?;
                published.push(cx.sign_with_key(spec, &t, &k, &label)?);
                // The old pipeline also attached its SBOM with the old key.
                published.extend(cx.attest_vendor(spec, &t, &label, Some(AttSigner::Key(k)))?);
                (
                    Refuse(Reason::KeySignatureInvalid),
                    Refuse(Reason::KeySignatureInvalid),
                )
            } else {
                let id = spec.identity.clone().ok_or_else(|| LabError::Reference {
                    reference: reference.clone(),
                    reason: "no identity".into(),
                })?;
                published.push(cx.sign_keyless(
                    &t,
                    &id,
                    &label,
                    false,
                    CaChoice::Retired,
                    true,
                    now - SIGNED_BEFORE_ADMISSION,
                )?);
                (Refuse(Reason::UntrustedCa), Refuse(Reason::NoAttestation))
            }
        }
        Variant::TwoSigners => {
            // Another signer's layer first: a verifier must try every layer,
            // not trust or refuse on the first one.
            if keyed {
                let k = cx.lab.impostor_key.clone();
                published.push(cx.sign_with_key(spec, &t, &k, &format!("{label}/first"))?);
            } else {
                let id = other_vendor_identity(spec);
                published.push(cx.sign_keyless(
                    &t,
                    &id,
                    &format!("{label}/first"),
                    false,
                    CaChoice::Active,
                    true,
                    now - SIGNED_BEFORE_ADMISSION,
                )?);
            }
            published.push(cx.sign_vendor(spec, &t, &label, false)?);
            published.extend(cx.attest_vendor(spec, &t, &label, None)?);
            (Accept, Accept)
        }
        Variant::BundleOtherSigner => {
            published.push(cx.sign_vendor(spec, &t, &label, false)?);
            published.extend(cx.attest_vendor(spec, &t, &label, None)?);
            // Another vendor's identity signs the bundles (keyless: lab
            // bundles are keyless). Legacy evidence verifies; the bundles,
            // which cosign v3 reads instead, do not.
            let other = other_vendor_identity(spec);
            published.extend(cx.bundles(spec, &t, &other, &format!("{label}/other"), true)?);
            if spec.bundles && !keyed {
                expect_bundle = Some(Refuse(Reason::IdentityMismatch));
            }
            (Accept, Accept)
        }
        Variant::LookAlike => {
            if keyed {
                // Signatures made with a key from a look-alike keyring ("dhi-2" of a fork).
                let k = cx.lab.impostor_key.clone();
                published.push(cx.sign_with_key(spec, &t, &k, &format!("{label}/lookalike"))?);
                (
                    Refuse(Reason::KeySignatureInvalid),
                    Refuse(Reason::NoAttestation),
                )
            } else {
                let id = spec.look_alike.clone().ok_or_else(no_key)?;
                published.push(cx.sign_keyless(
                    &t,
                    &id,
                    &label,
                    false,
                    CaChoice::Active,
                    true,
                    now - SIGNED_BEFORE_ADMISSION,
                )?);
                // The look-alike signer attaches its own SBOM, as an attacker would.
                published.extend(cx.attest_vendor(
                    spec,
                    &t,
                    &label,
                    Some(AttSigner::Keyless(id.clone())),
                )?);
                // In the vendor's own format too: a Sigstore-bundle vendor's
                // look-alike publishes bundle attestations (DSSE), which is
                // what Kyverno's ImageValidatingPolicy reads as signatures.
                if spec.bundles {
                    published.extend(cx.bundles(spec, &t, &id, &label, true)?);
                    expect_bundle = Some(Refuse(Reason::IdentityMismatch));
                }
                (
                    Refuse(Reason::IdentityMismatch),
                    Refuse(Reason::IdentityMismatch),
                )
            }
        }
    };
    let policy = match &spec.identity {
        None => PolicySpec::Key {
            public_key_pem: cx.active_key()?.public_pem()?,
            require_tlog: spec.tlog,
        },
        Some(id) => PolicySpec::Keyless {
            san: id.san.clone(),
            issuer: id.issuer.clone(),
            require_sct: cx.lab.trust.sct,
        },
    };
    let mut sbom_types = vec![spec.sbom_type.clone()];
    sbom_types.sort();
    Ok(Fixture {
        vendor: spec.name.clone(),
        variant,
        image_ref: reference,
        repository: spec.repository.clone(),
        image_digest: t.digest().to_string(),
        previous_digest,
        signature_repository: spec.signature_repository.clone(),
        policy,
        sbom_predicate_types: sbom_types,
        expect_signature: sig,
        expect_sbom: sbom_expect,
        expect_bundle,
        published,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_look_alike_starts_with_what_a_careless_prefix_keeps() {
        let gh = Identity::github_workflow(
            "acme/images",
            ".github/workflows/release.yaml",
            "refs/tags/v1",
        );
        let la = look_alike_of(&gh);
        assert_eq!(
            la.san.as_str(),
            "https://github.com/acme-evil/images/.github/workflows/release.yaml@refs/tags/v1"
        );
        assert_eq!(
            la.github.map(|g| g.source_repo_uri).as_deref(),
            Some("https://github.com/acme-evil/images")
        );
        let mail = look_alike_of(&Identity::email(
            "ci@builds.acme.example",
            "https://issuer.example",
        ));
        assert_eq!(mail.san, San::Email("ci@builds-evil.acme.example".into()));
        assert_eq!(mail.issuer, "https://issuer.example");
        let uri = Identity {
            san: San::Uri("https://ci.acme.example/pipelines/release/0".into()),
            issuer: "https://token.ci.acme.example".into(),
            github: None,
        };
        assert_eq!(
            look_alike_of(&uri).san.as_str(),
            "https://ci-evil.acme.example/pipelines/release/0"
        );
    }

    #[test]
    fn the_other_vendor_is_never_the_vendor_itself() {
        for v in shipped_vendors().unwrap() {
            assert_ne!(Some(other_vendor_identity(&v)), v.identity, "{}", v.name);
        }
    }
}
