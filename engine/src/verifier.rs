//! The evidence-verifier boundary: signature / attestation verification and digest resolution
//! are delegated to an [`EvidenceVerifier`]; keyless identity matching is done by the engine
//! (see [`match_identity`]) exactly as Kyverno's `matchCertificateData` does.

use crate::image::ImageRef;
use regex::Regex;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use trustswap_model::identity::{Identity, Pattern};
use trustswap_model::wildcard::wildcard_match;

/// `rekor` settings of an attestor (ClusterPolicy `rekor{url,pubkey,ignoreTlog}`, IVP
/// `ctlog{url,rekorPubKey,insecureIgnoreTlog}`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RekorSpec {
    pub url: Option<String>,
    pub pubkey: Option<String>,
    pub ignore_tlog: bool,
}

/// `ctlog` settings (ClusterPolicy `ctlog{ignoreSCT,pubkey,tsaCertChain}`, IVP
/// `ctlog{ctLogPubKey,insecureIgnoreSCT,tsaCertChain}`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CtlogSpec {
    pub ignore_sct: bool,
    pub pubkey: Option<String>,
    pub tsa_cert_chain: Option<String>,
}

/// One expected keyless identity. `subject`/`issuer` are go-wildcard patterns; the `*_regexp`
/// fields are RE2-style regular expressions (unanchored, as Go's `regexp.MatchString`).
#[derive(Debug, Clone, Default)]
pub struct IdentitySpec {
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub issuer_regexp: Option<Regex>,
    pub subject_regexp: Option<Regex>,
}

impl IdentitySpec {
    /// The spec as a `trustswap_model` identity with Kyverno's semantics:
    /// `subject`/`issuer` are go-wildcards (empty means unset), the regexps
    /// unanchored; Kyverno checks the subject fields first.
    pub fn identity(&self) -> Identity {
        let regex = |re: &Regex| Pattern::Regex {
            source: re.as_str().to_owned(),
            anchored: false,
            re: re.clone(),
        };
        let pick = |exact: &Option<String>, re: &Option<Regex>| {
            exact
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(Pattern::kyverno)
                .into_iter()
                .chain(re.as_ref().map(regex))
                .collect()
        };
        Identity {
            subject: pick(&self.subject, &self.subject_regexp),
            issuer: pick(&self.issuer, &self.issuer_regexp),
        }
    }
}

impl PartialEq for IdentitySpec {
    fn eq(&self, o: &Self) -> bool {
        self.issuer == o.issuer
            && self.subject == o.subject
            && self.issuer_regexp.as_ref().map(Regex::as_str)
                == o.issuer_regexp.as_ref().map(Regex::as_str)
            && self.subject_regexp.as_ref().map(Regex::as_str)
                == o.subject_regexp.as_ref().map(Regex::as_str)
    }
}

/// A typed view of one attestor entry.
#[derive(Debug, Clone, PartialEq)]
pub enum AttestorSpec {
    /// Static key(s): `keys.publicKeys` (PEM), `kms` or `secret` reference.
    Keys {
        public_keys: String,
        kms: Option<String>,
        secret: Option<(String, String)>,
        signature_algorithm: Option<String>,
        rekor: Option<RekorSpec>,
        ctlog: Option<CtlogSpec>,
    },
    /// Keyless (Fulcio) signatures. ClusterPolicy entries have exactly one identity;
    /// IVP `keyless.identities` may list several (any one matching is enough).
    Keyless {
        identities: Vec<IdentitySpec>,
        roots: Option<String>,
        additional_extensions: BTreeMap<String, String>,
        rekor: Option<RekorSpec>,
        ctlog: Option<CtlogSpec>,
    },
    /// Certificate (and optional chain).
    Certificates {
        cert: Option<String>,
        cert_chain: Option<String>,
        rekor: Option<RekorSpec>,
        ctlog: Option<CtlogSpec>,
    },
    /// Notary (IVP `notary.certs`).
    Notary {
        certs: Option<String>,
        tsa_certs: Option<String>,
    },
}

impl AttestorSpec {
    /// The path segment Kyverno uses in ClusterPolicy error messages.
    pub fn path_segment(&self) -> &'static str {
        match self {
            AttestorSpec::Keys { .. } => ".keys",
            AttestorSpec::Keyless { .. } => ".keyless",
            AttestorSpec::Certificates { .. } => ".certificates",
            AttestorSpec::Notary { .. } => ".notary",
        }
    }
}

/// The identity behind one verified signature, as reported by the verifier.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignerIdentity {
    /// Certificate subject (SAN) for keyless / certificate signatures.
    pub subject: Option<String>,
    /// OIDC issuer (Fulcio extension) for keyless signatures.
    pub issuer: Option<String>,
    /// Fingerprint of the verifying public key, when a key was used.
    pub key_fingerprint: Option<String>,
    /// Other certificate extensions (for `additionalExtensions`).
    pub extensions: BTreeMap<String, String>,
}

/// Outcome of one verifier call.
#[derive(Debug, Clone, PartialEq)]
pub enum Verification {
    /// Cryptographically valid evidence was found. For keyless attestors `identities` lists the
    /// certificate identity of every valid signature; the engine then applies the expected
    /// subject/issuer. `payloads` holds the in-toto statements of verified attestations.
    Verified {
        digest: String,
        identities: Vec<SignerIdentity>,
        payloads: Vec<Value>,
        /// The evidence came from a Sigstore bundle (cosign's new bundle
        /// format, OCI referrers), not from a legacy `.sig`/`.att` tag.
        /// Cosign reports a legacy attestation verified with the tlog
        /// ignored as `bundleVerified=false`, which Kyverno's
        /// ImageValidatingPolicy refuses.
        bundle: bool,
    },
    /// The evidence is missing or does not verify (a policy failure).
    Refused { reason: String },
    /// The verifier could not decide (network, registry, internal error): fails closed
    /// according to `failurePolicy`.
    Error { reason: String },
}

/// Verifies signatures and attestations and resolves digests.
///
/// Implementations must verify cryptographic material only; keyless identity constraints
/// (`subject`, `issuer`, `*RegExp`, `additionalExtensions`) are applied by the engine on the
/// returned [`SignerIdentity`] list.
pub trait EvidenceVerifier: Send + Sync {
    fn verify_signature(
        &self,
        image: &ImageRef,
        attestor: &AttestorSpec,
        repository: Option<&str>,
    ) -> Verification;

    fn verify_attestation(
        &self,
        image: &ImageRef,
        predicate_type: &str,
        attestor: &AttestorSpec,
        repository: Option<&str>,
    ) -> Verification;

    /// Resolves the image's tag to a digest (`sha256:...`).
    fn resolve_digest(&self, image: &ImageRef) -> Result<String, String>;
}

/// Kyverno `matchSignatures`: passes when no constraint is set, or when at least one signature's
/// identity satisfies every constraint of at least one expected identity. Otherwise returns the
/// "; "-joined mismatch errors (`subject mismatch: expected X, received Y`,
/// `issuer mismatch: ...`, `extension mismatch: ...`).
pub fn match_identity(
    expected: &[IdentitySpec],
    extensions: &BTreeMap<String, String>,
    received: &[SignerIdentity],
) -> Result<(), String> {
    let unconstrained = extensions.is_empty()
        && expected.iter().all(|e| {
            e.subject.as_deref().unwrap_or("").is_empty()
                && e.issuer.as_deref().unwrap_or("").is_empty()
                && e.subject_regexp.is_none()
                && e.issuer_regexp.is_none()
        });
    if unconstrained {
        return Ok(());
    }
    if received.is_empty() {
        return Err("invalid signature".to_string());
    }
    let specs: Vec<IdentitySpec> = if expected.is_empty() {
        vec![IdentitySpec::default()]
    } else {
        expected.to_vec()
    };
    let mut errs = Vec::new();
    for id in received {
        for spec in &specs {
            match match_certificate_data(spec, extensions, id) {
                Ok(()) => return Ok(()),
                Err(e) => errs.push(e),
            }
        }
    }
    Err(errs.join("; "))
}

fn match_certificate_data(
    spec: &IdentitySpec,
    extensions: &BTreeMap<String, String>,
    id: &SignerIdentity,
) -> Result<(), String> {
    spec.identity()
        .check_subject(
            id.subject.as_deref().unwrap_or_default(),
            id.issuer.as_deref().unwrap_or_default(),
        )
        .map_err(|m| m.to_string())?;
    for (k, v) in extensions {
        let got = id.extensions.get(k).cloned().unwrap_or_default();
        if !wildcard_match(v, &got) {
            return Err(format!(
                "extension mismatch: expected {v} for key {k}, received {got}"
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Fake verifier for tests.

/// Who signed a piece of fake evidence.
#[derive(Debug, Clone, PartialEq)]
pub enum FakeSigner {
    /// Keyless: certificate subject and issuer.
    Keyless { subject: String, issuer: String },
    /// Static key, identified by its fingerprint (see [`FakeVerifier::with_key`]).
    Key { fingerprint: String },
}

/// An attestation attached to a fake image.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeAttestation {
    pub predicate_type: String,
    pub signer: FakeSigner,
    pub predicate: Value,
}

/// A fake image entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FakeImage {
    pub digest: String,
    pub signatures: Vec<FakeSigner>,
    pub attestations: Vec<FakeAttestation>,
    /// Signatures live in this repository (cosign `repository`), if set; a verifier call for
    /// another repository finds nothing.
    pub signature_repository: Option<String>,
    /// When set, every call for this image returns `Verification::Error` with this reason.
    pub error: Option<String>,
}

/// A table-driven [`EvidenceVerifier`].
///
/// Images are looked up by `registry/path` (tag and digest ignored). Public keys are mapped to
/// fingerprints with [`FakeVerifier::with_key`]; an unknown key text is its own fingerprint
/// (trimmed). Calls are counted.
#[derive(Debug, Default)]
pub struct FakeVerifier {
    images: HashMap<String, FakeImage>,
    keys: HashMap<String, String>,
    calls: std::sync::atomic::AtomicUsize,
}

impl FakeVerifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an image (`registry/path`, normalised like Kyverno: `nginx` is `docker.io/nginx`).
    pub fn with_image(mut self, repository: &str, image: FakeImage) -> Self {
        let key = ImageRef::kyverno(repository)
            .map(|r| r.repository())
            .unwrap_or_else(|_| repository.to_string());
        self.images.insert(key, image);
        self
    }

    /// Maps a public key text (PEM or any placeholder) to a fingerprint.
    pub fn with_key(mut self, key_text: &str, fingerprint: &str) -> Self {
        self.keys
            .insert(key_text.trim().to_string(), fingerprint.to_string());
        self
    }

    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn fingerprint(&self, key: &str) -> String {
        self.keys
            .get(key.trim())
            .cloned()
            .unwrap_or_else(|| key.trim().to_string())
    }

    fn lookup(
        &self,
        image: &ImageRef,
        repository: Option<&str>,
    ) -> Result<&FakeImage, Verification> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(img) = self.images.get(&image.repository()) else {
            return Err(Verification::Refused {
                reason: "no signatures found".into(),
            });
        };
        if let Some(e) = &img.error {
            return Err(Verification::Error { reason: e.clone() });
        }
        if let Some(d) = &image.digest
            && d != &img.digest
        {
            return Err(Verification::Refused {
                reason: format!(
                    "no matching signatures: image digest {d} is not the signed digest"
                ),
            });
        }
        if img.signature_repository.as_deref() != repository && img.signature_repository.is_some() {
            return Err(Verification::Refused {
                reason: "no signatures found".into(),
            });
        }
        Ok(img)
    }

    fn signer_matches(
        &self,
        signer: &FakeSigner,
        attestor: &AttestorSpec,
    ) -> Option<SignerIdentity> {
        match (signer, attestor) {
            (FakeSigner::Keyless { subject, issuer }, AttestorSpec::Keyless { .. }) => {
                Some(SignerIdentity {
                    subject: Some(subject.clone()),
                    issuer: Some(issuer.clone()),
                    ..Default::default()
                })
            }
            (FakeSigner::Key { fingerprint }, AttestorSpec::Keys { public_keys, .. }) => {
                let fp = self.fingerprint(public_keys);
                (&fp == fingerprint).then(|| SignerIdentity {
                    key_fingerprint: Some(fp),
                    ..Default::default()
                })
            }
            _ => None,
        }
    }
}

impl EvidenceVerifier for FakeVerifier {
    fn verify_signature(
        &self,
        image: &ImageRef,
        attestor: &AttestorSpec,
        repository: Option<&str>,
    ) -> Verification {
        let img = match self.lookup(image, repository) {
            Ok(i) => i,
            Err(v) => return v,
        };
        if img.signatures.is_empty() {
            return Verification::Refused {
                reason: "no signatures found".into(),
            };
        }
        let identities: Vec<SignerIdentity> = img
            .signatures
            .iter()
            .filter_map(|s| self.signer_matches(s, attestor))
            .collect();
        if identities.is_empty() {
            return Verification::Refused {
                reason: "no matching signatures".into(),
            };
        }
        Verification::Verified {
            digest: img.digest.clone(),
            identities,
            payloads: vec![],
            bundle: false,
        }
    }

    fn verify_attestation(
        &self,
        image: &ImageRef,
        predicate_type: &str,
        attestor: &AttestorSpec,
        repository: Option<&str>,
    ) -> Verification {
        let img = match self.lookup(image, repository) {
            Ok(i) => i,
            Err(v) => return v,
        };
        let mut identities = Vec::new();
        let mut payloads = Vec::new();
        for a in img
            .attestations
            .iter()
            .filter(|a| a.predicate_type == predicate_type)
        {
            if let Some(id) = self.signer_matches(&a.signer, attestor) {
                identities.push(id);
                payloads.push(serde_json::json!({
                    "_type": "https://in-toto.io/Statement/v0.1",
                    "predicateType": a.predicate_type,
                    "subject": [{"name": image.repository(), "digest": {"sha256": img.digest.trim_start_matches("sha256:")}}],
                    "predicate": a.predicate,
                }));
            }
        }
        if identities.is_empty() {
            return Verification::Refused {
                reason: "no matching attestations".into(),
            };
        }
        Verification::Verified {
            digest: img.digest.clone(),
            identities,
            payloads,
            bundle: false,
        }
    }

    fn resolve_digest(&self, image: &ImageRef) -> Result<String, String> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.images.get(&image.repository()) {
            Some(img) if img.error.is_some() => Err(img.error.clone().unwrap_or_default()),
            Some(img) => Ok(img.digest.clone()),
            None => Err(format!(
                "GET https://{}/v2/{}/manifests/{}: MANIFEST_UNKNOWN: manifest unknown",
                image.registry,
                image.path,
                image.tag.clone().unwrap_or_default()
            )),
        }
    }
}
