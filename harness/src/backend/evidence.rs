//! The admission engine's `EvidenceVerifier` backed by the real verifier over
//! a store (the lab layout, or a registry): every decision the embedded
//! engine makes rests on real cosign signatures. Verification results are
//! cached per digest and attestor, as Kyverno does by default (`useCache`).
//! Tags can be pinned to an earlier digest, so a scenario can move a tag
//! (a vendor re-push) in the middle of a run.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::admission::image::ImageRef;
use crate::admission::verifier::{
    AttestorSpec, EvidenceFormat, EvidenceVerifier, ResolveError, SignerIdentity, TrustSource,
    Verification,
};
use crate::supply::oci::{Descriptor, Digest};
use crate::supply::store::{Store, StoreError};
use crate::verify::identity::{IdentityRule, Pattern};
use crate::verify::image::{Evidence, ImageVerifier, SignerPolicy, resolve_in};
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

type CacheKey = (String, AttestorKey, Option<String>, Option<String>);

type Verifier<S> = ImageVerifier<Arc<PinnedStore<S>>>;

/// Real verification behind the engine's trait. The Sigstore trust each
/// verification uses is the attestor's, as Kyverno's ([`TrustSource`]): its
/// inline roots and log keys, the trusted root of the TUF repository it
/// names, or the cluster's default trust root for what it leaves out.
pub struct StoreEvidence<S: Store> {
    store: Arc<PinnedStore<S>>,
    /// What the cluster's Kyverno trusts when a policy names nothing: the
    /// TUF root it is configured with. `None` when trustswap does not hold it
    /// (Kyverno's default is Sigstore's public-good instance, which is not
    /// available offline and has never signed a lab image).
    default_trust: Option<TrustMaterial>,
    /// TUF repositories trustswap can read, by mirror URL.
    tuf_mirrors: Mutex<BTreeMap<String, PathBuf>>,
    /// One verifier per distinct trust material, by its key.
    verifiers: Mutex<HashMap<TrustKey, Arc<Verifier<S>>>>,
    now: i64,
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
        AttestorSpec::Keyless { ctlog, rekor, .. } => Ok(SignerPolicy::Keyless {
            rule: any_identity(),
            require_sct: !ctlog.as_ref().is_some_and(|c| c.ignore_sct),
            require_tlog: !rekor.as_ref().is_some_and(|r| r.ignore_tlog),
        }),
        AttestorSpec::Certificates { .. } => {
            Err("certificate attestors are not supported by the embedded verifier".into())
        }
        AttestorSpec::Notary { .. } => {
            Err("Notary attestors are not supported by the embedded verifier".into())
        }
    }
}

/// The signer of `e`, then every other signer whose evidence also verified.
fn identities(e: &Evidence, policy: &SignerPolicy) -> Vec<SignerIdentity> {
    let mut out = vec![identity(e, policy)];
    if let SignerPolicy::Keyless { .. } = policy {
        out.extend(e.also.iter().map(|(subject, issuer)| SignerIdentity {
            subject: Some(subject.clone()),
            issuer: issuer.clone(),
            ..Default::default()
        }));
    }
    out
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

/// Where an attestor's trust comes from, in the terms its verification
/// depends on: the base (the cluster default, a TUF repository, or nothing),
/// then the inline parts, which replace the base's for a ClusterPolicy and are
/// only loaded (a malformed one fails) for an ImageValidatingPolicy. A log key
/// whose check the attestor ignores is not loaded at all, as in Kyverno
/// (`cpol/cosign/cosign.go` buildCosignOptions).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
struct TrustKey {
    base: Base,
    /// The inline parts replace the base's (ClusterPolicy).
    inline_applies: bool,
    roots: Option<String>,
    rekor: Option<String>,
    ctlog: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
enum Base {
    /// What the cluster's Kyverno trusts when a policy names nothing.
    Default,
    /// A TUF repository: mirror, root path, root data.
    Tuf {
        mirror: Option<String>,
        root_path: Option<String>,
        root_data: Option<String>,
    },
    /// No Sigstore infrastructure.
    Nothing,
}

impl TrustKey {
    fn of(attestor: &AttestorSpec) -> TrustKey {
        let (source, roots, rekor, ctlog) = match attestor {
            AttestorSpec::Keys {
                rekor,
                ctlog,
                trust,
                ..
            } => (trust, None, rekor, ctlog),
            AttestorSpec::Keyless {
                roots,
                rekor,
                ctlog,
                trust,
                ..
            } => (trust, roots.clone(), rekor, ctlog),
            _ => (&TrustSource::Inline, None, &None, &None),
        };
        let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let rekor = rekor
            .as_ref()
            .filter(|r| !r.ignore_tlog)
            .and_then(|r| non_empty(r.pubkey.clone()));
        let ctlog = ctlog
            .as_ref()
            .filter(|c| !c.ignore_sct)
            .and_then(|c| non_empty(c.pubkey.clone()));
        let roots = non_empty(roots);
        let (base, inline_applies) = match source {
            TrustSource::Inline => (Base::Default, true),
            TrustSource::Nothing => {
                return TrustKey {
                    base: Base::Nothing,
                    inline_applies: false,
                    roots: None,
                    rekor: None,
                    ctlog: None,
                };
            }
            TrustSource::Tuf(tuf) => {
                let tuf = tuf.as_ref().map(|t| {
                    (
                        non_empty(t.mirror.clone()),
                        non_empty(t.root.as_ref().and_then(|r| r.path.clone())),
                        non_empty(t.root.as_ref().and_then(|r| r.data.clone())),
                    )
                });
                // `tuf: {}` is the default repository (opts.go:295-312).
                let base = match tuf {
                    None | Some((None, None, None)) => Base::Default,
                    Some((mirror, root_path, root_data)) => Base::Tuf {
                        mirror,
                        root_path,
                        root_data,
                    },
                };
                (base, false)
            }
        };
        TrustKey {
            base,
            inline_applies,
            roots,
            rekor,
            ctlog,
        }
    }
}

/// What a verification result depends on: the key material, the trust it is
/// checked against, the evidence format, and the transparency-log and SCT
/// requirements. Keyless identities are matched by the engine afterwards,
/// so they are not part of the key. (A structured key: a warm admission
/// looks it up for every image and attestor.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum AttestorKey {
    Keys {
        ignore_tlog: bool,
        ignore_sct: bool,
        trust: TrustKey,
        format: EvidenceFormat,
        public_keys: String,
    },
    Keyless {
        ignore_tlog: bool,
        ignore_sct: bool,
        trust: TrustKey,
        format: EvidenceFormat,
    },
    Other(String),
}

fn attestor_key(attestor: &AttestorSpec) -> AttestorKey {
    let ignores = |rekor: &Option<_>, ctlog: &Option<_>| {
        (
            rekor
                .as_ref()
                .is_some_and(|r: &crate::admission::verifier::RekorSpec| r.ignore_tlog),
            ctlog
                .as_ref()
                .is_some_and(|c: &crate::admission::verifier::CtlogSpec| c.ignore_sct),
        )
    };
    match attestor {
        AttestorSpec::Keys {
            public_keys,
            rekor,
            ctlog,
            ..
        } => {
            let (ignore_tlog, ignore_sct) = ignores(rekor, ctlog);
            AttestorKey::Keys {
                ignore_tlog,
                ignore_sct,
                trust: TrustKey::of(attestor),
                format: attestor.format(),
                public_keys: public_keys.clone(),
            }
        }
        AttestorSpec::Keyless { rekor, ctlog, .. } => {
            let (ignore_tlog, ignore_sct) = ignores(rekor, ctlog);
            AttestorKey::Keyless {
                ignore_tlog,
                ignore_sct,
                trust: TrustKey::of(attestor),
                format: attestor.format(),
            }
        }
        other => AttestorKey::Other(format!("{other:?}")),
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
    /// Verification over `store` at time `now`; `default_trust` is what the
    /// cluster's Kyverno trusts when a policy names nothing (`None`: a root
    /// trustswap does not hold, such as the public-good one).
    pub fn new(store: S, default_trust: Option<TrustMaterial>, now: i64) -> Self {
        StoreEvidence {
            store: Arc::new(PinnedStore::new(store)),
            default_trust,
            tuf_mirrors: Mutex::new(BTreeMap::new()),
            verifiers: Mutex::new(HashMap::new()),
            now,
            cache: Mutex::new(HashMap::new()),
            resolved: Mutex::new(HashMap::new()),
            calls: Mutex::new(0),
        }
    }

    /// Serve the TUF repository in `dir` to policies that name `mirror`
    /// (the lab's repository, under every URL a policy may give it).
    pub fn add_tuf_mirror(&self, mirror: &str, dir: &Path) {
        // A URL needs an absolute folder; `--lab` is relative by default.
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        if let Ok(mut m) = self.tuf_mirrors.lock() {
            m.insert(mirror.trim_end_matches('/').to_owned(), dir);
        }
    }

    fn default_trust(&self) -> TrustMaterial {
        self.default_trust
            .clone()
            .unwrap_or_else(TrustMaterial::empty)
    }

    /// The trusted root a policy's `tuf` names, fetched (and verified from
    /// its root up) from a repository trustswap holds.
    fn tuf_trust(
        &self,
        mirror: Option<&str>,
        root_path: Option<&str>,
        root_data: Option<&str>,
    ) -> Result<TrustMaterial, Verification> {
        let error = |reason: String| Verification::Error { reason };
        let refused = |reason: String| Verification::Refused { reason };
        // Kyverno reads `root.path` before `root.data` (opts.go:300-307).
        if root_path.is_some_and(|p| !p.is_empty()) {
            return Err(error(
                "tuf.root.path names a file inside Kyverno's pod, which trustswap cannot read; give the root as tuf.root.data".into(),
            ));
        }
        let Some(mirror) = mirror.filter(|m| !m.is_empty()) else {
            return Err(error(
                "the policy's tuf names no mirror: Kyverno fetches Sigstore's public-good repository, which trustswap does not hold".into(),
            ));
        };
        let dir = self
            .tuf_mirrors
            .lock()
            .ok()
            .and_then(|m| m.get(mirror.trim_end_matches('/')).cloned());
        let Some(dir) = dir else {
            return Err(error(format!(
                "the TUF mirror {mirror} is not one trustswap holds (the lab's repository is the only one it reads)"
            )));
        };
        let root = match root_data.filter(|d| !d.is_empty()) {
            Some(data) => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(data.trim())
                    .map_err(|e| refused(format!("tuf.root.data is not base64: {e}")))?
            }
            None => {
                return Err(refused(format!(
                    "the policy's tuf gives no root: Kyverno starts from Sigstore's public-good root, which never signed the repository at {mirror}"
                )));
            }
        };
        TrustMaterial::from_tuf_repository(&dir, &root)
            .map_err(|r| refused(format!("TUF repository at {mirror}: {}", r.reason)))
    }

    /// The verifier for the trust `attestor` names.
    fn verifier_for(&self, attestor: &AttestorSpec) -> Result<Arc<Verifier<S>>, Verification> {
        let key = TrustKey::of(attestor);
        let id = key.clone();
        if let Some(v) = self.verifiers.lock().ok().and_then(|m| m.get(&id).cloned()) {
            return Ok(v);
        }
        let base = match &key.base {
            Base::Default => self.default_trust(),
            Base::Nothing => TrustMaterial::empty(),
            Base::Tuf {
                mirror,
                root_path,
                root_data,
            } => self.tuf_trust(
                mirror.as_deref(),
                root_path.as_deref(),
                root_data.as_deref(),
            )?,
        };
        let inline = base
            .with_inline(
                key.roots.as_deref(),
                key.rekor.as_deref(),
                key.ctlog.as_deref(),
            )
            .map_err(|r| Verification::Refused { reason: r.reason })?;
        let trust = if key.inline_applies { inline } else { base };
        let verifier = Arc::new(
            ImageVerifier::new(Arc::clone(&self.store), &trust, self.now).map_err(outcome)?,
        );
        if let Ok(mut m) = self.verifiers.lock() {
            m.insert(id, Arc::clone(&verifier));
        }
        Ok(verifier)
    }

    /// Point `repo:tag` at `digest` until `unpin` (a vendor that has not re-pushed yet).
    pub fn pin(&self, repo: &str, tag: &str, digest: Digest) {
        self.store.pin(repo, tag, digest);
        self.forget_resolutions();
    }

    pub fn unpin(&self, repo: &str, tag: &str) {
        self.store.unpin(repo, tag);
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
        let (_, digest) = resolve_in(&*self.store, &name)?;
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

/// A registry that refuses connections ([`crate::experiment::patch::REFUSING_REGISTRY`]):
/// fetching signatures from it fails as Kyverno's registry client fails on a
/// refused connection, a network error (`net.OpError`), which Kyverno's
/// ClusterPolicy reports as a rule error and its ImageValidatingPolicy as an
/// evaluation error, both decided by `failurePolicy`
/// (`engine/SEMANTICS.md`). Real backends meet the real refusal.
pub fn refused_connection(repository: Option<&str>) -> Option<Verification> {
    let host = crate::experiment::patch::REFUSING_REGISTRY;
    repository
        .filter(|r| {
            r.strip_prefix(host)
                .is_some_and(|rest| rest.starts_with('/'))
        })
        .map(|_| Verification::Error {
            reason: format!("dial tcp {host}: connect: connection refused"),
        })
}

impl<S: Store + Send + Sync> EvidenceVerifier for StoreEvidence<S> {
    fn verify_signature(
        &self,
        image: &ImageRef,
        attestor: &AttestorSpec,
        repository: Option<&str>,
    ) -> Verification {
        if let Some(v) = refused_connection(repository) {
            return v;
        }
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
            let verifier = match self.verifier_for(attestor) {
                Ok(v) => v,
                Err(v) => return v,
            };
            match verifier.signature_in(attestor.format(), &at, repository, &policy) {
                Ok(e) => Verification::Verified {
                    digest: e.digest.to_string(),
                    identities: identities(&e, &policy),
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
        if let Some(v) = refused_connection(repository) {
            return v;
        }
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
            let verifier = match self.verifier_for(attestor) {
                Ok(v) => v,
                Err(v) => return v,
            };
            match verifier.attestation_in(
                attestor.format(),
                &at,
                repository,
                predicate_type,
                &policy,
            ) {
                Ok(e) => Verification::Verified {
                    digest: e.digest.to_string(),
                    identities: vec![identity(&e, &policy)],
                    payloads: e.statement.clone().into_iter().map(Arc::new).collect(),
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
        let evidence = StoreEvidence::new(OneSignature { layer }, None, 0);
        let image = ImageRef::kyverno(IMAGE).expect("image");
        let attestor = AttestorSpec::Keyless {
            identities: Vec::new(),
            roots: None,
            additional_extensions: BTreeMap::new(),
            rekor: None,
            ctlog: None,
            trust: TrustSource::Inline,
            format: Default::default(),
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
