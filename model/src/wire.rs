//! DSSE, in-toto and cosign wire names, shared by the lab's signer and the
//! verifier so that the two cannot drift apart together.

/// DSSE pre-authentication encoding (DSSE v1.0 `PAE`):
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// The in-toto payload type of a DSSE envelope.
pub const INTOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// A DSSE envelope as an OCI layer (cosign's `.att` layers).
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// A Sigstore bundle v0.3 as an OCI artifact (cosign v3 referrers).
pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// cosign's simple-signing payload (the `.sig` layer's media type).
pub const SIMPLESIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The cosign signature annotation of a `.sig` layer.
pub const COSIGN_SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The cosign bundle (Rekor entry) annotation of a `.sig` or `.att` layer.
pub const COSIGN_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// The signing certificate (PEM) annotation of a `.sig` or `.att` layer.
pub const COSIGN_CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The certificate chain (PEM) annotation of a `.sig` or `.att` layer.
pub const COSIGN_CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// The predicate type annotation of a legacy `.att` layer.
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";
/// What a cosign v3 bundle referrer holds (`dev.sigstore.bundle.content`).
pub const BUNDLE_CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";
/// The predicate type of a cosign v3 attestation bundle referrer.
pub const BUNDLE_PREDICATE_TYPE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
/// The predicate type of the in-toto statement cosign v3 signs as an image
/// signature in a Sigstore bundle (`cosign sign`'s default since v3: a DSSE
/// envelope over a statement whose subject is the image, empty predicate).
pub const COSIGN_SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";

/// Which of an image's evidence a verification reads: cosign's legacy
/// `.sig`/`.att` tags, its Sigstore bundle referrers, or both (legacy first).
/// Kyverno's ClusterPolicy reads one format per `verifyImages[].type`:
/// `Cosign` (the default) the legacy tags only, since it never sets cosign's
/// `NewBundleFormat` (`pkg/image/verifiers/cpol/cosign/verifier.go:31-60`,
/// `cosign.go` buildCosignOptions), `SigstoreBundle` the bundles only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum EvidenceFormat {
    #[default]
    Any,
    Legacy,
    Bundle,
    /// cosign v3's choice per image, which Kyverno's ImageValidatingPolicy
    /// makes too: the bundles when the image has any Sigstore-bundle
    /// referrer, its legacy tags otherwise, never both
    /// (`pkg/image/verifiers/ivpol/cosign/verifier.go:32-47`,
    /// `cosign.GetBundles`).
    Detect,
}

impl EvidenceFormat {
    pub fn reads_legacy(self) -> bool {
        self != EvidenceFormat::Bundle
    }

    pub fn reads_bundles(self) -> bool {
        self != EvidenceFormat::Legacy
    }
}

/// cosign's tag for the legacy signature or attestation of a digest:
/// `<algorithm>-<hex>.<suffix>` (`sha256-ab…cd.sig`).
pub fn cosign_tag(digest: &str, suffix: &str) -> String {
    format!("{}.{suffix}", digest.replacen(':', "-", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_specification_example() {
        // DSSE spec, protocol.md: PAE("http://example.com/HelloWorld", "hello world").
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn cosign_tag_keeps_the_algorithm() {
        assert_eq!(cosign_tag("sha256:abcd", "sig"), "sha256-abcd.sig");
        assert_eq!(cosign_tag("sha512:ef", "att"), "sha512-ef.att");
    }
}
