//! Serving the lab fixtures from a cluster's registry. Kyverno fetches
//! signatures and attestations itself, from inside the cluster, so pod images
//! and policy image scopes must name the registry the cluster reaches (e.g.
//! `trustswap-registry:5000/cgr.dev/chainguard/static:latest`), never the
//! vendors' real hosts. Relocation adds the same prefix for every vendor: the
//! trust roots, identities and evidence requirements are untouched, which is
//! what the static check proved on the unrelocated policies.

use std::sync::Arc;

use crate::admission::image::ImageRef;
use crate::admission::verifier::{AttestorSpec, EvidenceVerifier, Verification};
use crate::profile::Vendor;

/// Fixtures served under `prefix/<original reference>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relocation {
    /// Registry host (and optional path) as the cluster reaches it.
    pub prefix: String,
}

impl Relocation {
    pub fn new(prefix: impl Into<String>) -> Relocation {
        Relocation {
            prefix: prefix.into().trim_end_matches('/').to_owned(),
        }
    }

    /// The reference the cluster uses for a lab reference (or glob).
    pub fn image(&self, reference: &str) -> String {
        format!("{}/{reference}", self.prefix)
    }

    /// The lab reference behind a relocated one (`None`: not relocated).
    pub fn original<'a>(&self, reference: &'a str) -> Option<&'a str> {
        reference
            .strip_prefix(self.prefix.as_str())
            .and_then(|r| r.strip_prefix('/'))
    }

    /// The vendor with its image scope and signature repository relocated.
    pub fn vendor(&self, vendor: &Vendor) -> Vendor {
        let mut v = vendor.clone();
        v.images = v.images.iter().map(|g| self.image(g)).collect();
        v.signatures.repository = v.signatures.repository.as_deref().map(|r| self.image(r));
        v
    }

    /// The lab form of a parsed reference; references outside the prefix
    /// are returned unchanged.
    pub fn original_ref(&self, image: &ImageRef) -> ImageRef {
        self.original(&image.raw)
            .and_then(|o| ImageRef::kyverno(o).ok())
            .unwrap_or_else(|| image.clone())
    }
}

/// An evidence verifier reading relocated references from the lab store
/// (what a registry serving the layout under the prefix answers).
pub struct RelocatedEvidence {
    pub relocation: Relocation,
    pub inner: Arc<dyn EvidenceVerifier>,
}

impl EvidenceVerifier for RelocatedEvidence {
    fn verify_signature(
        &self,
        image: &ImageRef,
        attestor: &AttestorSpec,
        repository: Option<&str>,
    ) -> Verification {
        let repository = repository.map(|r| self.relocation.original(r).unwrap_or(r));
        self.inner
            .verify_signature(&self.relocation.original_ref(image), attestor, repository)
    }

    fn verify_attestation(
        &self,
        image: &ImageRef,
        predicate_type: &str,
        attestor: &AttestorSpec,
        repository: Option<&str>,
    ) -> Verification {
        let repository = repository.map(|r| self.relocation.original(r).unwrap_or(r));
        self.inner.verify_attestation(
            &self.relocation.original_ref(image),
            predicate_type,
            attestor,
            repository,
        )
    }

    fn resolve_digest(&self, image: &ImageRef) -> Result<String, crate::admission::ResolveError> {
        self.inner
            .resolve_digest(&self.relocation.original_ref(image))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relocates_and_restores_references() {
        let r = Relocation::new("trustswap-registry:5000/");
        let img = r.image("cgr.dev/chainguard/static:latest");
        assert_eq!(
            img,
            "trustswap-registry:5000/cgr.dev/chainguard/static:latest"
        );
        assert_eq!(r.original(&img), Some("cgr.dev/chainguard/static:latest"));
        assert_eq!(r.original("cgr.dev/chainguard/static:latest"), None);
        assert_eq!(r.original("trustswap-registry:50000/x"), None);
        let parsed = ImageRef::kyverno(&img).expect("parse");
        assert_eq!(parsed.registry, "trustswap-registry:5000");
        let o = r.original_ref(&parsed);
        assert_eq!(o.registry, "cgr.dev");
        assert_eq!(o.path, "chainguard/static");
        assert_eq!(o.tag.as_deref(), Some("latest"));
    }
}
