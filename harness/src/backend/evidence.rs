//! The admission engine's `EvidenceVerifier` backed by the real verifier over
//! a store (the lab layout, or a registry): every decision the embedded
//! engine makes rests on real cosign signatures. Verification results are
//! cached per digest and attestor, as Kyverno does by default (`useCache`).
//! Tags can be pinned to an earlier digest, so a scenario can move a tag
//! (a vendor re-push) in the middle of a run.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::admission::image::ImageRef;
use crate::admission::verifier::{
    AttestorSpec, EvidenceVerifier, ResolveError, SignerIdentity, Verification,
};
use crate::supply::oci::{Descriptor, Digest};
use crate::supply::store::{Store, StoreError};
use crate::verify::identity::{IdentityRule, Pattern};
use crate::verify::image::{Evidence, ImageVerifier, SignerPolicy};
use crate::verify::refusal::Refusal;
use crate::verify::trust::TrustMaterial;

/// A store whose tags can be pinned to other digests (a registry where the
/// vendor has not re-pushed yet).
pub struct PinnedStore<S: Store> {
    inner: S,
    pins: Mutex<HashMap<(String, String), Digest>>,
}

impl<S: Store> PinnedStore<S> {
    pub fn new(inner: S) -> Self {
        PinnedStore {
            inner,
            pins: Mutex::new(HashMap::new()),
        }
    }

    pub fn pin(&self, repo: &str, tag: &str, digest: Digest) {
        if let Ok(mut p) = self.pins.lock() {
            p.insert((repo.to_owned(), tag.to_owned()), digest);
        }
    }

    pub fn unpin(&self, repo: &str, tag: &str) {
        if let Ok(mut p) = self.pins.lock() {
            p.remove(&(repo.to_owned(), tag.to_owned()));
        }
    }
}

impl<S: Store> Store for PinnedStore<S> {
    fn resolve(&self, repo: &str, tag: &str) -> Result<Option<(Descriptor, Vec<u8>)>, StoreError> {
        let pinned = self
            .pins
            .lock()
            .ok()
            .and_then(|p| p.get(&(repo.to_owned(), tag.to_owned())).cloned());
        match pinned {
            Some(d) => {
                let bytes = self.inner.manifest(repo, &d)?;
                let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| {
                        v.get("mediaType")
                            .and_then(|m| m.as_str())
                            .map(str::to_owned)
                    })
                    .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".to_owned());
                Ok(Some((Descriptor::for_bytes(&media_type, &bytes), bytes)))
            }
            None => self.inner.resolve(repo, tag),
        }
    }
    fn manifest(&self, repo: &str, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        self.inner.manifest(repo, digest)
    }
    fn blob(&self, repo: &str, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        self.inner.blob(repo, digest)
    }
    fn referrers(&self, repo: &str, digest: &Digest) -> Result<Vec<Descriptor>, StoreError> {
        self.inner.referrers(repo, digest)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

type CacheKey = (String, String, Option<String>, Option<String>);

/// Real verification behind the engine's trait.
pub struct StoreEvidence<S: Store> {
    verifier: ImageVerifier<PinnedStore<S>>,
    cache: Mutex<HashMap<CacheKey, Verification>>,
    /// Tag resolutions (`repo:tag` -> digest); cleared when a tag is (un)pinned.
    resolved: Mutex<HashMap<String, Digest>>,
    calls: Mutex<u64>,
}

fn any_identity() -> IdentityRule {
    IdentityRule {
        subject: Pattern::kyverno("*"),
        issuer: None,
    }
}

fn fingerprint(pem: &str) -> Option<String> {
    trustswap_model::fingerprint::KeyFingerprint::of_pem(pem).map(|f| f.into_string())
}

/// The crypto-only policy for an attestor: identity constraints are the
/// engine's to apply, so keyless signatures are accepted from any identity
/// here and reported back.
fn signer_policy(attestor: &AttestorSpec) -> Result<SignerPolicy, String> {
    match attestor {
        AttestorSpec::Keys {
            public_keys, rekor, ..
        } => Ok(SignerPolicy::Key {
            public_key_pem: public_keys.clone(),
            require_tlog: !rekor.as_ref().is_some_and(|r| r.ignore_tlog),
        }),
        AttestorSpec::Keyless { ctlog, .. } => Ok(SignerPolicy::Keyless {
            rule: any_identity(),
            require_sct: !ctlog.as_ref().is_some_and(|c| c.ignore_sct),
        }),
        AttestorSpec::Certificates { .. } => {
            Err("certificate attestors are not supported by the embedded verifier".into())
        }
        AttestorSpec::Notary { .. } => {
            Err("Notary attestors are not supported by the embedded verifier".into())
        }
    }
}

fn identity(e: &Evidence, policy: &SignerPolicy) -> SignerIdentity {
    match policy {
        SignerPolicy::Key { public_key_pem, .. } => SignerIdentity {
            key_fingerprint: fingerprint(public_key_pem),
            ..Default::default()
        },
        SignerPolicy::Keyless { .. } => SignerIdentity {
            subject: Some(e.signer.clone()),
            issuer: e.issuer.clone(),
            ..Default::default()
        },
    }
}

/// What a verification result depends on: the key material and the
/// transparency-log and SCT requirements. Keyless identities are matched by
/// the engine afterwards, so they are not part of the key.
fn attestor_key(attestor: &AttestorSpec) -> String {
    match attestor {
        AttestorSpec::Keys {
            public_keys,
            rekor,
            ctlog,
            ..
        } => format!(
            "keys:{}:{}:{public_keys}",
            rekor.as_ref().is_some_and(|r| r.ignore_tlog),
            ctlog.as_ref().is_some_and(|c| c.ignore_sct)
        ),
        AttestorSpec::Keyless { rekor, ctlog, .. } => format!(
            "keyless:{}:{}",
            rekor.as_ref().is_some_and(|r| r.ignore_tlog),
            ctlog.as_ref().is_some_and(|c| c.ignore_sct)
        ),
        other => format!("{other:?}"),
    }
}

/// Evidence that could not be checked (an unsupported shape, a store that
/// could not be read) is an error; a refusal of the evidence, tampered
/// content included, is a policy failure.
fn outcome(r: Refusal) -> Verification {
    if r.kind.undecided() {
        Verification::Error {
            reason: r.to_string(),
        }
    } else {
        Verification::Refused { reason: r.reason }
    }
}

impl<S: Store> StoreEvidence<S> {
    pub fn new(store: S, trust: &TrustMaterial, now: i64) -> Result<Self, Refusal> {
        Ok(StoreEvidence {
            verifier: ImageVerifier::new(PinnedStore::new(store), trust, now)?,
            cache: Mutex::new(HashMap::new()),
            resolved: Mutex::new(HashMap::new()),
            calls: Mutex::new(0),
        })
    }

    /// Point `repo:tag` at `digest` until `unpin` (a vendor that has not re-pushed yet).
    pub fn pin(&self, repo: &str, tag: &str, digest: Digest) {
        self.verifier.store().pin(repo, tag, digest);
        self.forget_resolutions();
    }

    pub fn unpin(&self, repo: &str, tag: &str) {
        self.verifier.store().unpin(repo, tag);
        self.forget_resolutions();
    }

    fn forget_resolutions(&self) {
        if let Ok(mut r) = self.resolved.lock() {
            r.clear();
        }
    }

    /// The digest an image names, resolving tags once.
    fn digest_of(&self, image: &ImageRef) -> Result<Digest, Refusal> {
        let name = Self::image_name(image);
        if let Some(d) = self
            .resolved
            .lock()
            .ok()
            .and_then(|r| r.get(&name).cloned())
        {
            return Ok(d);
        }
        let (_, digest) = self.verifier.resolve(&name)?;
        if let Ok(mut r) = self.resolved.lock() {
            r.insert(name, digest.clone());
        }
        Ok(digest)
    }

    /// Cryptographic verifications actually performed (cache misses).
    pub fn verifications(&self) -> u64 {
        self.calls.lock().map(|c| *c).unwrap_or(0)
    }

    fn image_name(image: &ImageRef) -> String {
        match (&image.digest, &image.tag) {
            (Some(d), _) => format!("{}@{d}", image.repository()),
            (None, Some(t)) => format!("{}:{t}", image.repository()),
            (None, None) => format!("{}:latest", image.repository()),
        }
    }

    fn cached(&self, key: CacheKey, run: impl FnOnce() -> Verification) -> Verification {
        if let Some(v) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return v;
        }
        if let Ok(mut c) = self.calls.lock() {
            *c += 1;
        }
        let v = run();
        if let Ok(mut c) = self.cache.lock() {
            c.insert(key, v.clone());
        }
        v
    }

    fn key(
        &self,
        image: &ImageRef,
        attestor: &AttestorSpec,
        repository: Option<&str>,
        predicate: Option<&str>,
    ) -> Result<CacheKey, Verification> {
        let digest = self.digest_of(image).map_err(outcome)?;
        Ok((
            format!("{}@{digest}", image.repository()),
            attestor_key(attestor),
            repository.map(str::to_owned),
            predicate.map(str::to_owned),
        ))
    }
}

impl<S: Store + Send + Sync> EvidenceVerifier for StoreEvidence<S> {
    fn verify_signature(
        &self,
        image: &ImageRef,
        attestor: &AttestorSpec,
        repository: Option<&str>,
    ) -> Verification {
        let key = match self.key(image, attestor, repository, None) {
            Ok(k) => k,
            Err(v) => return v,
        };
        let at = key.0.clone();
        self.cached(key, || {
            let policy = match signer_policy(attestor) {
                Ok(p) => p,
                Err(reason) => return Verification::Error { reason },
            };
            match self.verifier.signature(&at, repository, &policy) {
                Ok(e) => Verification::Verified {
                    digest: e.digest.to_string(),
                    identities: vec![identity(&e, &policy)],
                    payloads: vec![],
                    bundle: e.via == "bundle",
                },
                Err(r) => outcome(r),
            }
        })
    }

    fn verify_attestation(
        &self,
        image: &ImageRef,
        predicate_type: &str,
        attestor: &AttestorSpec,
        repository: Option<&str>,
    ) -> Verification {
        let key = match self.key(image, attestor, repository, Some(predicate_type)) {
            Ok(k) => k,
            Err(v) => return v,
        };
        let at = key.0.clone();
        self.cached(key, || {
            let policy = match signer_policy(attestor) {
                Ok(p) => p,
                Err(reason) => return Verification::Error { reason },
            };
            match self
                .verifier
                .attestation(&at, repository, predicate_type, &policy)
            {
                Ok(e) => Verification::Verified {
                    digest: e.digest.to_string(),
                    identities: vec![identity(&e, &policy)],
                    payloads: e.statement.clone().into_iter().collect(),
                    bundle: e.via == "bundle",
                },
                Err(r) => outcome(r),
            }
        })
    }

    fn resolve_digest(&self, image: &ImageRef) -> Result<String, ResolveError> {
        self.digest_of(image)
            .map(|d| d.to_string())
            .map_err(ResolveError::from_cause)
    }
}

/// Annotations a pod's admission record keeps (who verified what).
pub type AdmissionNotes = BTreeMap<String, String>;

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = "registry.example/app@sha256:1111111111111111111111111111111111111111111111111111111111111111";

    /// A store holding an image and its `.sig` manifest, whose one layer is
    /// served by `layer`: content that does not match its digest (a tampering
    /// registry), or a failure to read it.
    struct OneSignature {
        layer: fn() -> StoreError,
    }

    fn sig_manifest() -> Vec<u8> {
        let layer = Descriptor::for_bytes(
            "application/vnd.dev.cosign.simplesigning.v1+json",
            b"{\"critical\":{}}",
        );
        let config = Descriptor::for_bytes("application/vnd.oci.image.config.v1+json", b"{}");
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": [layer],
        }))
        .unwrap_or_default()
    }

    impl Store for OneSignature {
        fn resolve(
            &self,
            _repo: &str,
            tag: &str,
        ) -> Result<Option<(Descriptor, Vec<u8>)>, StoreError> {
            if !tag.ends_with(".sig") {
                return Ok(None);
            }
            let bytes = sig_manifest();
            Ok(Some((
                Descriptor::for_bytes("application/vnd.oci.image.manifest.v1+json", &bytes),
                bytes,
            )))
        }
        fn manifest(&self, _repo: &str, _digest: &Digest) -> Result<Vec<u8>, StoreError> {
            Ok(b"{}".to_vec())
        }
        fn blob(&self, _repo: &str, _digest: &Digest) -> Result<Vec<u8>, StoreError> {
            Err((self.layer)())
        }
        fn referrers(&self, _repo: &str, _digest: &Digest) -> Result<Vec<Descriptor>, StoreError> {
            Ok(Vec::new())
        }
        fn describe(&self) -> String {
            "test store".into()
        }
    }

    fn verify(layer: fn() -> StoreError) -> Verification {
        let trust = TrustMaterial {
            fulcio: Vec::new(),
            rekor: Vec::new(),
            ctlogs: Vec::new(),
            tsas: 0,
        };
        let evidence = StoreEvidence::new(OneSignature { layer }, &trust, 0).expect("verifier");
        let image = ImageRef::kyverno(IMAGE).expect("image");
        let attestor = AttestorSpec::Keyless {
            identities: Vec::new(),
            roots: None,
            additional_extensions: BTreeMap::new(),
            rekor: None,
            ctlog: None,
        };
        evidence.verify_signature(&image, &attestor, None)
    }

    /// Tampered content is a refusal of the evidence, never a harness error.
    #[test]
    fn tampered_content_is_refused() {
        let v = verify(|| StoreError::DigestMismatch {
            target: "registry.example/app@sha256:..".into(),
            actual: Digest::of(b"tampered"),
        });
        assert!(
            matches!(&v, Verification::Refused { reason } if reason.contains("hashes to")),
            "{v:?}"
        );
    }

    /// A store that cannot be read leaves the answer open.
    #[test]
    fn unreadable_evidence_is_undecided() {
        let v = verify(|| StoreError::Registry {
            registry: "registry.example".into(),
            operation: "pull blob",
            target: "registry.example/app".into(),
            message: "connection refused".into(),
        });
        assert!(matches!(v, Verification::Error { .. }), "{v:?}");
    }
}
