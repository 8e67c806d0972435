//! Image-level verification over a `Store` (an OCI layout or a registry), the
//! way cosign and Kyverno find evidence: the `sha256-<hex>.sig` tag and
//! `sha256-<hex>.att` tag in the image's repository or the override
//! repository, then Sigstore bundle v0.3 referrers. Any one satisfying piece of
//! evidence verifies; otherwise the refusal lists why each piece failed.

use std::collections::BTreeMap;

use sigstore::bundle::verify::ArtifactDigest;

use super::bundles::{BundleVerifier, leaf_identity};
use super::certs::{self, IdentityPolicy};
use super::dsse;
use super::identity::IdentityRule;
use super::legacy::{ANN_CERT, LegacyLayer, LegacyPolicy, LegacyVerifier, Signer};
use super::refusal::{Alternatives, Refusal, RefuseExt};
use super::trust::TrustMaterial;
use crate::supply::oci::spec::ImageManifest;
use crate::supply::oci::{Descriptor, Digest, LayoutError, Reference};
use crate::supply::store::{Store, StoreError};

/// Layers of a manifest: descriptor and content.
type Layers = Vec<(Descriptor, Vec<u8>)>;

pub use trustswap_model::wire::BUNDLE_V03_MEDIA_TYPE as BUNDLE_ARTIFACT_TYPE;
pub use trustswap_model::wire::{
    BUNDLE_CONTENT_ANNOTATION, BUNDLE_PREDICATE_TYPE_ANNOTATION as ANN_BUNDLE_PREDICATE_TYPE,
    EvidenceFormat, PREDICATE_TYPE_ANNOTATION as ANN_PREDICATE_TYPE, cosign_tag,
};

/// Who must have signed.
#[derive(Debug, Clone)]
pub enum SignerPolicy {
    /// A public key; `require_tlog: false` is `rekor.ignoreTlog` / `--insecure-ignore-tlog`.
    Key {
        public_key_pem: String,
        require_tlog: bool,
    },
    /// A Fulcio identity; `require_sct: false` is `ctlog.ignoreSCT`,
    /// `require_tlog: false` is `rekor.ignoreTlog` (the certificate must then
    /// be valid at the verification time: nothing else dates the signature).
    Keyless {
        rule: IdentityRule,
        require_sct: bool,
        require_tlog: bool,
    },
}

impl SignerPolicy {
    /// The same policy for cosign's legacy `.sig` layers.
    pub fn legacy(&self) -> LegacyPolicy {
        match self {
            SignerPolicy::Key {
                public_key_pem,
                require_tlog,
            } => LegacyPolicy::Key {
                public_key_pem: public_key_pem.as_bytes().to_vec(),
                require_tlog: *require_tlog,
            },
            SignerPolicy::Keyless {
                rule,
                require_sct,
                require_tlog,
            } => LegacyPolicy::Keyless {
                signer: Signer::Rule(rule.clone()),
                issuer: None,
                require_sct: *require_sct,
                require_tlog: *require_tlog,
            },
        }
    }
}

/// What was verified, for decisions and reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub repository: String,
    pub digest: Digest,
    /// `key`, or the certificate SAN that signed.
    pub signer: String,
    pub issuer: Option<String>,
    /// `legacy-sig`, `legacy-att`, `bundle`.
    pub via: &'static str,
    pub integrated_time: Option<i64>,
    /// For attestations: the verified in-toto statement.
    pub statement: Option<serde_json::Value>,
    /// For signatures: every other signer whose layer (or bundle, of the
    /// same format) also verifies, (SAN or `key`, issuer), in order. Identity
    /// rules checked afterwards must try each, as cosign does.
    pub also: Vec<(String, Option<String>)>,
}

/// `registry/path:tag`, `registry/path@sha256:..` or both, split into the
/// repository and the tag or digest. The repository and tag must follow the
/// distribution grammar (`supply::oci::Reference`); anything else is a
/// malformed reference, not an image that is missing.
pub fn split_reference(image: &str) -> Result<(String, Option<String>, Option<Digest>), Refusal> {
    let bad = |why: String| Refusal::malformed("reference", format!("`{image}`: {why}"));
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (
            n,
            Some(d.parse::<Digest>().map_err(|e| bad(e.to_string()))?),
        ),
        None => (image, None),
    };
    let slash = name.rfind('/').unwrap_or(0);
    let (repo, tag) = match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], Some(name[slash + i + 1..].to_owned())),
        None => (name, None),
    };
    if repo.is_empty() {
        return Err(bad("names no repository".into()));
    }
    Reference::new(repo, tag.as_deref().unwrap_or("latest")).map_err(|e| bad(e.reason.into()))?;
    Ok((repo.to_owned(), tag, digest))
}

/// A store failure. Content that does not match its digest or does not parse
/// is tampered evidence: a refusal. Anything else (I/O, the network, a
/// missing blob) means the evidence could not be read: undecided.
fn store_refusal(stage: &'static str, ctx: &str, e: StoreError) -> Refusal {
    let tampered = matches!(
        e,
        StoreError::DigestMismatch { .. }
            | StoreError::Layout(
                LayoutError::DigestMismatch { .. }
                    | LayoutError::SizeMismatch { .. }
                    | LayoutError::InvalidJson { .. }
                    | LayoutError::InvalidManifest { .. }
                    | LayoutError::MediaTypeMismatch { .. }
            )
    );
    let reason = format!("{ctx}: {e}");
    if tampered {
        Refusal::new(stage, reason)
    } else {
        Refusal::unavailable(stage, reason)
    }
}

/// The repository and manifest digest `image` names in `store` (no trust
/// material involved): a tag is resolved, a digest must exist there.
pub fn resolve_in<S: Store + ?Sized>(store: &S, image: &str) -> Result<(String, Digest), Refusal> {
    let (repo, tag, digest) = split_reference(image)?;
    if let Some(d) = digest {
        store
            .manifest(&repo, &d)
            .map_err(|e| store_refusal("resolve", image, e))?;
        return Ok((repo, d));
    }
    let tag = tag.unwrap_or_else(|| "latest".to_owned());
    match store
        .resolve(&repo, &tag)
        .map_err(|e| store_refusal("resolve", image, e))?
    {
        Some((desc, _)) => Ok((repo, desc.digest)),
        None => Err(Refusal::new(
            "resolve",
            format!("{repo}:{tag} not found in {}", store.describe()),
        )),
    }
}

pub struct ImageVerifier<S: Store> {
    store: S,
    legacy: LegacyVerifier,
    bundles: BundleVerifier,
    trust: TrustMaterial,
    now: i64,
}

impl<S: Store> ImageVerifier<S> {
    pub fn new(store: S, trust: &TrustMaterial, now: i64) -> Result<Self, Refusal> {
        Ok(ImageVerifier {
            store,
            legacy: LegacyVerifier::new(trust.clone(), now)?,
            bundles: BundleVerifier::new(trust.clone(), now)?,
            trust: trust.clone(),
            now,
        })
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The repository and manifest digest an image reference names. A tag is
    /// resolved in the store; a digest must exist there.
    pub fn resolve(&self, image: &str) -> Result<(String, Digest), Refusal> {
        resolve_in(&self.store, image)
    }

    fn layers(&self, repo: &str, tag: &str) -> Result<Option<Layers>, Refusal> {
        let Some((_, bytes)) = self
            .store
            .resolve(repo, tag)
            .map_err(|e| store_refusal("fetch", tag, e))?
        else {
            return Ok(None);
        };
        let manifest: ImageManifest = serde_json::from_slice(&bytes).refuse_ctx("fetch", tag)?;
        let mut out = Vec::new();
        for l in manifest.layers {
            let blob = self
                .store
                .blob(repo, &l.digest)
                .map_err(|e| store_refusal("fetch", tag, e))?;
            out.push((l, blob));
        }
        Ok(Some(out))
    }

    fn bundle_referrers(
        &self,
        repo: &str,
        digest: &Digest,
        content: Option<&str>,
    ) -> Result<Vec<(Descriptor, Vec<u8>)>, Refusal> {
        let mut out = Vec::new();
        for r in self
            .store
            .referrers(repo, digest)
            .map_err(|e| store_refusal("fetch", "referrers", e))?
        {
            if r.artifact_type.as_deref() != Some(BUNDLE_ARTIFACT_TYPE) {
                continue;
            }
            if let Some(content) = content
                && r.annotations
                    .get(BUNDLE_CONTENT_ANNOTATION)
                    .is_some_and(|c| c != content)
            {
                continue;
            }
            let bytes = self
                .store
                .manifest(repo, &r.digest)
                .map_err(|e| store_refusal("fetch", "bundle manifest", e))?;
            let m: ImageManifest =
                serde_json::from_slice(&bytes).refuse_ctx("fetch", "bundle manifest")?;
            for l in m.layers {
                let blob = self
                    .store
                    .blob(repo, &l.digest)
                    .map_err(|e| store_refusal("fetch", "bundle", e))?;
                out.push((r.clone(), blob));
            }
        }
        Ok(out)
    }

    fn sig_repo(image_repo: &str, repository: Option<&str>) -> String {
        repository.unwrap_or(image_repo).to_owned()
    }

    /// Verify the image signature: `.sig` layers, then bundle referrers.
    pub fn signature(
        &self,
        image: &str,
        repository: Option<&str>,
        policy: &SignerPolicy,
    ) -> Result<Evidence, Refusal> {
        self.signature_in(EvidenceFormat::Any, image, repository, policy)
    }

    /// [`ImageVerifier::signature`] reading only the evidence of `format`.
    pub fn signature_in(
        &self,
        format: EvidenceFormat,
        image: &str,
        repository: Option<&str>,
        policy: &SignerPolicy,
    ) -> Result<Evidence, Refusal> {
        let (repo, digest) = self.resolve(image)?;
        let sig_repo = Self::sig_repo(&repo, repository);
        let format = self.detected(format, &sig_repo, &digest);
        let mut reasons = Alternatives::default();
        let tag = cosign_tag(&digest.to_string(), "sig");
        let legacy = match format.reads_legacy() {
            true => self.layers(&sig_repo, &tag)?,
            false => None,
        };
        if let Some(layers) = legacy {
            let layers: Vec<LegacyLayer> = layers
                .into_iter()
                .map(|(d, payload)| LegacyLayer {
                    payload,
                    annotations: d.annotations,
                })
                .collect();
            let legacy_policy = policy.legacy();
            match self
                .legacy
                .verify_image_all(&layers, &digest.to_string(), &legacy_policy)
            {
                Ok(mut all) => {
                    let v = all.remove(0);
                    return Ok(Evidence {
                        repository: repo,
                        digest,
                        signer: v.signer,
                        issuer: v.issuer,
                        via: "legacy-sig",
                        integrated_time: v.integrated_time,
                        statement: None,
                        also: all.into_iter().map(|o| (o.signer, o.issuer)).collect(),
                    });
                }
                Err(e) => reasons.push(format!("{sig_repo}:{tag}"), &e),
            }
        }
        // Every bundle that verifies for the image's digest is a signature,
        // whatever it signs: cosign v3's `sign/v1` statement, a message
        // signature, or an attestation (cosign `verify` and Kyverno's
        // SigstoreBundle verifier do not filter on the predicate type:
        // pkg/image/verifiers/cpol/cosign/sigstore.go:76-88 verifies every
        // bundle referrer against the image digest).
        let bundles = match format.reads_bundles() {
            true => self.bundle_referrers(&sig_repo, &digest, None)?,
            false => Vec::new(),
        };
        let mut signers = Vec::new();
        for (r, bundle_json) in bundles {
            match self.verify_bundle(&bundle_json, &digest, policy) {
                Ok(signer) => signers.push(signer),
                Err(e) => reasons.push(format!("bundle {}", r.digest), &e),
            }
        }
        if !signers.is_empty() {
            let (signer, issuer) = signers.remove(0);
            return Ok(Evidence {
                repository: repo,
                digest,
                signer,
                issuer,
                via: "bundle",
                integrated_time: None,
                statement: None,
                also: signers,
            });
        }
        if reasons.is_empty() {
            return Err(Refusal::new(
                "signature",
                format!("no signatures found for {repo}@{digest} in {sig_repo}"),
            ));
        }
        Err(reasons.into_refusal("signature"))
    }

    /// [`EvidenceFormat::Detect`] made for this image: the bundles when its
    /// signature repository holds any Sigstore-bundle referrer for the
    /// digest, the legacy tags otherwise.
    fn detected(&self, format: EvidenceFormat, sig_repo: &str, digest: &Digest) -> EvidenceFormat {
        match format {
            // A failed lookup reads as "no bundles", as Kyverno reads a
            // `GetBundles` error (`bundleDetected := len(newBundles) > 0 &&
            // err == nil`): the legacy tags are read then.
            EvidenceFormat::Detect => match self.bundle_referrers(sig_repo, digest, None) {
                Ok(found) if !found.is_empty() => EvidenceFormat::Bundle,
                _ => EvidenceFormat::Legacy,
            },
            other => other,
        }
    }

    fn verify_bundle(
        &self,
        json: &[u8],
        digest: &Digest,
        policy: &SignerPolicy,
    ) -> Result<(String, Option<String>), Refusal> {
        let (rule, require_tlog) = match policy {
            SignerPolicy::Keyless {
                rule, require_tlog, ..
            } => (rule, require_tlog),
            SignerPolicy::Key {
                public_key_pem,
                require_tlog: true,
            } => {
                // The log entry is required: the whole bundle is verified,
                // the key standing in for a certificate.
                let bundle = BundleVerifier::parse(json).map_err(Refusal::as_evidence)?;
                let key = crate::verify::keys::PublicKey::from_pem(public_key_pem.as_bytes())?;
                self.bundles.verify_with_key(
                    bundle,
                    ArtifactDigest::Sha256(raw_digest(digest)?),
                    &key,
                )?;
                return Ok(("key".into(), None));
            }
            SignerPolicy::Key {
                public_key_pem,
                require_tlog: false,
            } => return self.verify_key_bundle(json, digest, public_key_pem),
        };
        // A bundle found in a store is evidence, not input the user named:
        // one that does not parse is refused.
        let bundle = BundleVerifier::parse(json).map_err(Refusal::as_evidence)?;
        if !*require_tlog {
            // The log's entries are not read: nothing dates the signature but
            // the verification time.
            let cert = crate::verify::bundles::leaf_cert(&bundle)
                .refuse_ctx("bundle", "no leaf certificate")?;
            certs::check_valid_at(&cert, self.now)?;
            return Err(Refusal::unsupported(
                "bundle",
                "a Sigstore bundle verified without its transparency-log entry is not supported by the embedded verifier",
            ));
        }
        let (san, issuer) =
            leaf_identity(&bundle).refuse_ctx("bundle", "no certificate identity")?;
        let san = rule.check(&[san], issuer.as_deref())?;
        self.bundles.verify_strict(
            bundle,
            ArtifactDigest::Sha256(raw_digest(digest)?),
            &IdentityPolicy {
                identity: san.clone(),
                issuer: issuer.clone(),
            },
        )?;
        Ok((san, issuer))
    }

    /// A key-signed bundle read without its log entry (`ignoreTlog`,
    /// `--insecure-ignore-tlog`), as `cosign sign --key --tlog-upload=false`
    /// and `cosign attest --key` write them: a DSSE envelope whose signature
    /// verifies with the key over its PAE, and whose in-toto statement names
    /// the image's digest.
    fn verify_key_bundle(
        &self,
        json: &[u8],
        digest: &Digest,
        public_key_pem: &str,
    ) -> Result<(String, Option<String>), Refusal> {
        let bundle: serde_json::Value =
            serde_json::from_slice(json).refuse_ctx("bundle", "bundle JSON")?;
        let Some(envelope) = bundle.get("dsseEnvelope") else {
            return Err(Refusal::unsupported(
                "bundle",
                "a key-signed message-signature bundle (trustswap checks key-signed DSSE bundles only)",
            ));
        };
        let envelope = serde_json::to_vec(envelope).refuse_ctx("bundle", "DSSE envelope")?;
        dsse::verify_key_attestation_layer(&envelope, public_key_pem, &digest.to_string(), None)?;
        Ok(("key".into(), None))
    }

    /// Verify an attestation of `predicate_type` for the image: `.att` layers,
    /// then DSSE bundle referrers. Returns the verified statement.
    pub fn attestation(
        &self,
        image: &str,
        repository: Option<&str>,
        predicate_type: &str,
        policy: &SignerPolicy,
    ) -> Result<Evidence, Refusal> {
        self.attestation_in(
            EvidenceFormat::Any,
            image,
            repository,
            predicate_type,
            policy,
        )
    }

    /// [`ImageVerifier::attestation`] reading only the evidence of `format`.
    pub fn attestation_in(
        &self,
        format: EvidenceFormat,
        image: &str,
        repository: Option<&str>,
        predicate_type: &str,
        policy: &SignerPolicy,
    ) -> Result<Evidence, Refusal> {
        let (repo, digest) = self.resolve(image)?;
        let sig_repo = Self::sig_repo(&repo, repository);
        let format = self.detected(format, &sig_repo, &digest);
        let mut reasons = Alternatives::default();
        let mut seen_types = Vec::new();
        let tag = cosign_tag(&digest.to_string(), "att");
        let legacy = match format.reads_legacy() {
            true => self.layers(&sig_repo, &tag)?.unwrap_or_default(),
            false => Vec::new(),
        };
        for (desc, envelope) in legacy {
            let annotated = desc.annotations.get(ANN_PREDICATE_TYPE).cloned();
            if let Some(t) = &annotated {
                seen_types.push(t.clone());
                if t != predicate_type {
                    continue;
                }
            }
            match self.verify_att_layer(&envelope, &desc.annotations, &digest, policy) {
                Ok((v, signer, issuer)) if v.predicate_type == predicate_type => {
                    return Ok(Evidence {
                        repository: repo,
                        digest,
                        signer,
                        issuer,
                        via: "legacy-att",
                        integrated_time: (v.integrated_time > 0).then_some(v.integrated_time),
                        statement: Some(v.statement),
                        also: Vec::new(),
                    });
                }
                Ok((v, ..)) => seen_types.push(v.predicate_type),
                Err(e) => reasons.push(
                    format!("{sig_repo}:{tag} ({})", annotated.unwrap_or_default()),
                    &e,
                ),
            }
        }
        let bundles = match format.reads_bundles() {
            true => self.bundle_referrers(&sig_repo, &digest, Some("dsse-envelope"))?,
            false => Vec::new(),
        };
        for (r, bundle_json) in bundles {
            if r.annotations
                .get(ANN_BUNDLE_PREDICATE_TYPE)
                .is_some_and(|t| t != predicate_type)
            {
                seen_types.extend(r.annotations.get(ANN_BUNDLE_PREDICATE_TYPE).cloned());
                continue;
            }
            match self
                .verify_bundle(&bundle_json, &digest, policy)
                .and_then(|id| Ok((id, bundle_statement(&bundle_json)?)))
            {
                Ok(((signer, issuer), statement))
                    if statement.get("predicateType").and_then(|t| t.as_str())
                        == Some(predicate_type) =>
                {
                    return Ok(Evidence {
                        repository: repo,
                        digest,
                        signer,
                        issuer,
                        via: "bundle",
                        integrated_time: None,
                        statement: Some(statement),
                        also: Vec::new(),
                    });
                }
                Ok(_) => {}
                Err(e) => reasons.push(format!("bundle {}", r.digest), &e),
            }
        }
        if reasons.is_empty() {
            seen_types.sort();
            seen_types.dedup();
            return Err(Refusal::new(
                "attestation",
                format!(
                    "no attestation of type {predicate_type} for {repo}@{digest} (found: {})",
                    if seen_types.is_empty() {
                        "none".to_owned()
                    } else {
                        seen_types.join(", ")
                    }
                ),
            ));
        }
        Err(reasons.into_refusal("attestation"))
    }

    fn verify_att_layer(
        &self,
        envelope: &[u8],
        annotations: &BTreeMap<String, String>,
        digest: &Digest,
        policy: &SignerPolicy,
    ) -> Result<(dsse::AttVerified, String, Option<String>), Refusal> {
        match policy {
            SignerPolicy::Key {
                public_key_pem,
                require_tlog,
            } => {
                let log = require_tlog.then_some(dsse::KeyLog {
                    trust: &self.trust,
                    annotations,
                    now: self.now,
                });
                Ok((
                    dsse::verify_key_attestation_layer(
                        envelope,
                        public_key_pem,
                        &digest.to_string(),
                        log,
                    )?,
                    "key".to_owned(),
                    None,
                ))
            }
            SignerPolicy::Keyless {
                rule, require_tlog, ..
            } => {
                let cert_pem = annotations
                    .get(ANN_CERT)
                    .refuse_ctx("certificate", "no certificate annotation")?;
                let cert =
                    certs::parse_cert(&certs::pem_to_der(cert_pem.as_bytes(), "CERTIFICATE")?)?;
                if !*require_tlog {
                    // Nothing but the verification time dates it.
                    certs::check_valid_at(&cert, self.now)?;
                    return Err(Refusal::unsupported(
                        "tlog",
                        "a keyless attestation verified without its transparency-log entry is not supported by the embedded verifier",
                    ));
                }
                let issuer = certs::oidc_issuer(&cert)?;
                let san = rule.check(&certs::san_identities(&cert)?, issuer.as_deref())?;
                let v = dsse::verify_attestation_layer(
                    &self.trust,
                    envelope,
                    annotations,
                    &digest.to_string(),
                    &IdentityPolicy {
                        identity: san.clone(),
                        issuer: issuer.clone(),
                    },
                    self.now,
                )?;
                Ok((v, san, issuer))
            }
        }
    }
}

/// The in-toto statement inside a DSSE bundle (already verified by the caller).
fn bundle_statement(json: &[u8]) -> Result<serde_json::Value, Refusal> {
    use base64::Engine as _;
    let v: serde_json::Value = serde_json::from_slice(json).refuse_ctx("bundle", "JSON")?;
    let payload = v
        .pointer("/dsseEnvelope/payload")
        .and_then(|p| p.as_str())
        .refuse_ctx("bundle", "no DSSE payload")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .refuse_ctx("bundle", "payload base64")?;
    serde_json::from_slice(&bytes).refuse_ctx("bundle", "in-toto statement")
}

/// The SHA-256 bytes of an image digest.
fn raw_digest(digest: &Digest) -> Result<[u8; 32], Refusal> {
    hex::decode(digest.hex())
        .ok()
        .and_then(|d| d.try_into().ok())
        .refuse_ctx("bundle", "digest")
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn references_split_into_repository_tag_and_digest() {
        let d = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        let (r, t, g) = split_reference("cgr.dev/chainguard/static:latest").unwrap();
        assert_eq!(
            (r.as_str(), t.as_deref(), g),
            ("cgr.dev/chainguard/static", Some("latest"), None)
        );
        let (r, t, g) = split_reference(&format!("localhost:5000/a/b@{d}")).unwrap();
        assert_eq!(
            (r.as_str(), t, g.map(|g| g.to_string())),
            ("localhost:5000/a/b", None, Some(d.to_owned()))
        );
        let (r, t, _) = split_reference("localhost:5000/a").unwrap();
        assert_eq!((r.as_str(), t), ("localhost:5000/a", None));
        assert!(split_reference("x@sha256:zz").is_err());
    }
}
