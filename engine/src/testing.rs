//! Test doubles (feature `testing`): a table-driven [`EvidenceVerifier`], so
//! the engine's semantics can be tested without signatures, registries or the
//! Sigstore crates.

use std::collections::HashMap;

use serde_json::Value;

use crate::image::ImageRef;
use crate::verifier::{AttestorSpec, EvidenceVerifier, SignerIdentity, Verification};

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
                payloads.push(std::sync::Arc::new(serde_json::json!({
                    "_type": "https://in-toto.io/Statement/v0.1",
                    "predicateType": a.predicate_type,
                    "subject": [{"name": image.repository(), "digest": {"sha256": img.digest.trim_start_matches("sha256:")}}],
                    "predicate": a.predicate,
                })));
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

    fn resolve_digest(&self, image: &ImageRef) -> Result<String, crate::ResolveError> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.images.get(&image.repository()) {
            Some(img) if img.error.is_some() => Err(crate::ResolveError::new(
                img.error.clone().unwrap_or_default(),
            )),
            Some(img) => Ok(img.digest.clone()),
            None => Err(crate::ResolveError::new(format!(
                "GET https://{}/v2/{}/manifests/{}: MANIFEST_UNKNOWN: manifest unknown",
                image.registry,
                image.path,
                image.tag.clone().unwrap_or_default()
            ))),
        }
    }
}
