//! Kyverno 1.19 as data: the typed CRD model ([`cpol`]: ClusterPolicy and
//! PolicyException; [`ivpol`]: ImageValidatingPolicy and ValidatingPolicy;
//! [`meta`]: the shared Kubernetes types), its defaults, and the well-known
//! names trustswap renders. The renderer builds these types, the embedded
//! engine compiles from them, and the canonicaliser (`diff`) reads the same
//! defaults, so the three cannot disagree on what a field or its omission means.

pub mod cpol;
pub mod ivpol;
pub mod meta;

pub use meta::{
    FailurePolicy, LabelSelector, LabelSelectorRequirement, ObjectMeta, SelectorOperator,
};

/// CRD defaults of Kyverno 1.19 (`api/kyverno/v1/image_verification_types.go`,
/// `api/policies.kyverno.io/v1/image_validating_policy_types.go`).
pub mod defaults {
    /// `verifyImages[].mutateDigest`, IVP `validationConfigurations.mutateDigest`.
    pub const MUTATE_DIGEST: bool = true;
    /// `verifyImages[].verifyDigest`, IVP `validationConfigurations.verifyDigest`.
    pub const VERIFY_DIGEST: bool = true;
    /// `verifyImages[].required`, IVP `validationConfigurations.required`.
    pub const REQUIRED: bool = true;
    /// `verifyImages[].useCache`.
    pub const USE_CACHE: bool = true;
    /// `verifyImages[].type`.
    pub const VERIFY_IMAGES_TYPE: &str = "Cosign";
    /// The public-good Rekor, `rekor.url`'s default.
    pub const REKOR_URL: &str = "https://rekor.sigstore.dev";
    /// `webhookConfiguration.timeoutSeconds`.
    pub const WEBHOOK_TIMEOUT_SECONDS: i64 = 10;
    /// The `verifyImages` boolean defaults, by field name.
    pub const VERIFY_IMAGES_FLAGS: [(&str, bool); 4] = [
        ("mutateDigest", MUTATE_DIGEST),
        ("verifyDigest", VERIFY_DIGEST),
        ("required", REQUIRED),
        ("useCache", USE_CACHE),
    ];
}

/// Names trustswap gives the policies it renders from a contract; the
/// scenarios that forge documents against them (a break-glass exception) use
/// the same functions.
pub mod names {
    /// The attestor name every vendor uses, so CEL validations never name a vendor.
    pub const ATTESTOR: &str = "trusted";
    /// The attestation name the SBOM requirement uses.
    pub const SBOM: &str = "sbom";
    /// The CEL variable holding the registry allow-list.
    pub const ALLOWED_IMAGES: &str = "allowedImages";
    /// The ClusterPolicy rule that verifies signatures and the SBOM.
    pub const VERIFY_RULE: &str = "verify-signature-and-sbom";

    /// The suffix of the image verification policy (both dialects).
    pub const VERIFY_IMAGES: &str = "verify-images";

    /// `<contract>-<suffix>`: every rendered policy's name.
    pub fn policy(contract: &str, suffix: &str) -> String {
        format!("{contract}-{suffix}")
    }

    /// The image verification policy of a contract (both dialects).
    pub fn verify_images_policy(contract: &str) -> String {
        policy(contract, VERIFY_IMAGES)
    }
}
