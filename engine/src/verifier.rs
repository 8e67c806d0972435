//! The evidence-verifier boundary: signature / attestation verification and digest resolution
//! are delegated to an [`EvidenceVerifier`]; keyless identity matching is done by the engine
//! (see [`match_identity`]) exactly as Kyverno's `matchCertificateData` does.

use crate::image::ImageRef;
use regex::Regex;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
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
        /// Where the Sigstore trust comes from ([`TrustSource`]).
        trust: TrustSource,
        /// Which evidence is read (ClusterPolicy `verifyImages[].type`).
        format: EvidenceFormat,
    },
    /// Keyless (Fulcio) signatures. ClusterPolicy entries have exactly one identity;
    /// IVP `keyless.identities` may list several (any one matching is enough).
    Keyless {
        identities: Vec<IdentitySpec>,
        roots: Option<String>,
        additional_extensions: BTreeMap<String, String>,
        rekor: Option<RekorSpec>,
        ctlog: Option<CtlogSpec>,
        /// Where the Sigstore trust comes from ([`TrustSource`]).
        trust: TrustSource,
        /// Which evidence is read (ClusterPolicy `verifyImages[].type`).
        format: EvidenceFormat,
    },
    /// Certificate (and optional chain).
    Certificates {
        cert: Option<String>,
        cert_chain: Option<String>,
        rekor: Option<RekorSpec>,
        ctlog: Option<CtlogSpec>,
        /// Which evidence is read (ClusterPolicy `verifyImages[].type`).
        format: EvidenceFormat,
    },
    /// Notary (IVP `notary.certs`).
    Notary {
        certs: Option<String>,
        tsa_certs: Option<String>,
    },
}

/// Where an attestor's Sigstore trust (certificate authorities, Rekor and CT
/// log keys) comes from. The two policy kinds differ in Kyverno 1.19
/// (`engine/SEMANTICS.md`, "Trust material").
#[derive(Debug, Clone, PartialEq, Default)]
pub enum TrustSource {
    /// ClusterPolicy: the attestor's `roots`, `rekor.pubkey` and `ctlog.pubkey`
    /// in place of the cluster's default trust root, part by part
    /// (`pkg/image/verifiers/cpol/cosign/cosign.go:70-74,148-164`).
    #[default]
    Inline,
    /// ImageValidatingPolicy: the trusted root of the TUF repository the
    /// attestor names in `cosign.tuf`, or the default one when it names none;
    /// `roots`, `rekorPubKey` and `ctLogPubKey` are not read
    /// (`pkg/image/verifiers/ivpol/cosign/opts.go:145`: `TrustedMaterial`
    /// takes precedence over them in cosign).
    Tuf(Option<trustswap_model::kyverno::ivpol::Tuf>),
    /// ImageValidatingPolicy key or certificate attestor that ignores the
    /// transparency log: no Sigstore infrastructure at all, no TUF
    /// (`pkg/image/verifiers/ivpol/cosign/opts.go:82-87`, `skipSigstoreInfra`).
    Nothing,
}

pub use trustswap_model::wire::EvidenceFormat;

impl AttestorSpec {
    /// Which evidence the attestor reads ([`EvidenceFormat::Any`] for the
    /// kinds that do not say).
    pub fn format(&self) -> EvidenceFormat {
        match self {
            AttestorSpec::Keys { format, .. }
            | AttestorSpec::Keyless { format, .. }
            | AttestorSpec::Certificates { format, .. } => *format,
            AttestorSpec::Notary { .. } => EvidenceFormat::Any,
        }
    }

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
    /// subject/issuer. `payloads` holds the in-toto statements of verified attestations
    /// (shared: a cached verification hands them out without copying an SBOM).
    Verified {
        digest: String,
        identities: Vec<SignerIdentity>,
        payloads: Vec<Arc<Value>>,
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
    fn resolve_digest(&self, image: &ImageRef) -> Result<String, ResolveError>;
}

/// Why a tag could not be resolved to a digest. Its text is what Kyverno
/// shows after `failed to resolve digest for image <image>:`; the cause (a
/// registry or store error), when there is one, is its source.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ResolveError {
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl ResolveError {
    /// A failure described by its message alone (what a registry answered).
    pub fn new(message: impl Into<String>) -> Self {
        ResolveError {
            message: message.into(),
            source: None,
        }
    }

    /// A failure whose message is its cause's.
    pub fn from_cause(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        ResolveError {
            message: cause.to_string(),
            source: Some(Box::new(cause)),
        }
    }
}

/// Kyverno `matchSignatures`: passes when no constraint is set, or when at least one signature's
/// identity satisfies every constraint of at least one expected identity. Otherwise returns the
/// "; "-joined mismatch errors (`subject mismatch: expected X, received Y`,
/// `issuer mismatch: ...`, `extension mismatch: ...`).
pub fn match_identity(
    expected: &[IdentitySpec],
    extensions: &BTreeMap<String, String>,
    received: &[SignerIdentity],
) -> Result<(), IdentityMismatch> {
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
        return Err(IdentityMismatch {
            reasons: vec!["invalid signature".to_owned()],
        });
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
    Err(IdentityMismatch { reasons: errs })
}

/// An ImageValidatingPolicy's keyless identities, which Kyverno hands to
/// cosign as `CheckOpts.Identities` (`pkg/image/verifiers/ivpol/cosign/opts.go:189-197`):
/// cosign v3.1.2 `CheckCertificatePolicy` (`pkg/cosign/verify.go:463-512`)
/// reads `subject` and `issuer` literally, a regexp (unanchored) taking
/// precedence over the literal, an absent criterion matching anything; one
/// identity of the list must match.
pub fn match_cosign_identity(expected: &[IdentitySpec], received: &[SignerIdentity]) -> bool {
    fn criterion(exact: &Option<String>, re: &Option<Regex>, value: &str) -> bool {
        match (re, exact.as_deref().filter(|s| !s.is_empty())) {
            (Some(re), _) => re.is_match(value),
            (None, Some(exact)) => exact == value,
            (None, None) => true,
        }
    }
    received.iter().any(|id| {
        let (subject, issuer) = (
            id.subject.as_deref().unwrap_or_default(),
            id.issuer.as_deref().unwrap_or_default(),
        );
        expected.iter().any(|e| {
            criterion(&e.issuer, &e.issuer_regexp, issuer)
                && criterion(&e.subject, &e.subject_regexp, subject)
        })
    })
}

/// Kyverno's `SigstoreBundle` verifier asks sigstore-go for the identity
/// (`pkg/image/verifiers/cpol/cosign/sigstore.go:174-197` buildPolicy,
/// `verify.NewShortCertificateIdentity`): `subject` and `issuer` are literal,
/// not go-wildcards, the regexps unanchored, and every criterion given must
/// hold (sigstore-go `verify/certificate_identity.go:120-169`). Without a
/// subject or without an issuer criterion there is no identity policy and
/// no bundle verifies; `additionalExtensions` are not read. A bundle whose
/// identity does not match simply does not verify, so the reason is the one
/// Kyverno gives when none does (`verifier.go:36-39`).
pub fn match_bundle_identity(
    expected: &[IdentitySpec],
    received: &[SignerIdentity],
) -> Result<(), String> {
    const NONE: &str = "sigstore bundle verification failed: no matching signatures found";
    let Some(spec) = expected.first() else {
        return Err(NONE.into());
    };
    fn given(s: &Option<String>) -> Option<&str> {
        s.as_deref().filter(|v| !v.is_empty())
    }
    let (subject, issuer) = (given(&spec.subject), given(&spec.issuer));
    if (subject.is_none() && spec.subject_regexp.is_none())
        || (issuer.is_none() && spec.issuer_regexp.is_none())
    {
        return Err(NONE.into());
    }
    let holds = |exact: Option<&str>, re: &Option<Regex>, value: &str| {
        exact.is_none_or(|e| e == value) && re.as_ref().is_none_or(|r| r.is_match(value))
    };
    received
        .iter()
        .any(|id| {
            holds(
                subject,
                &spec.subject_regexp,
                id.subject.as_deref().unwrap_or_default(),
            ) && holds(
                issuer,
                &spec.issuer_regexp,
                id.issuer.as_deref().unwrap_or_default(),
            )
        })
        .then_some(())
        .ok_or_else(|| NONE.into())
}

/// Why no signature's identity satisfied the expected identities: one reason
/// per (signature, expected identity) pair tried, in that order, written as
/// Kyverno writes them and `"; "`-joined as it joins them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityMismatch {
    pub reasons: Vec<String>,
}

impl std::fmt::Display for IdentityMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reasons.join("; "))
    }
}

impl std::error::Error for IdentityMismatch {}

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

#[cfg(test)]
mod tests {
    use super::*;

    const SAN: &str =
        "https://github.com/example-org/platform/.github/workflows/release.yaml@refs/heads/main";
    const GHA: &str = "https://token.actions.githubusercontent.com";

    fn spec(subject: Option<&str>, subject_re: Option<&str>, issuer: Option<&str>) -> IdentitySpec {
        IdentitySpec {
            subject: subject.map(str::to_owned),
            subject_regexp: subject_re.map(|r| Regex::new(r).expect("regex")),
            issuer: issuer.map(str::to_owned),
            issuer_regexp: None,
        }
    }

    #[test]
    fn a_sigstore_bundle_identity_is_literal_and_needs_subject_and_issuer() {
        let signer = [SignerIdentity {
            subject: Some(SAN.into()),
            issuer: Some(GHA.into()),
            ..Default::default()
        }];
        let ok = |s: IdentitySpec| match_bundle_identity(&[s], &signer).is_ok();
        assert!(ok(spec(Some(SAN), None, Some(GHA))));
        // go-wildcards are not read: `*` is a character like any other
        assert!(!ok(spec(
            Some("https://github.com/example-org*"),
            None,
            Some(GHA)
        )));
        // the regexp is unanchored, and both criteria must hold when both are given
        assert!(ok(spec(None, Some("example-org/platform"), Some(GHA))));
        assert!(!ok(spec(Some(SAN), Some("other-org"), Some(GHA))));
        // no issuer (or no subject) criterion: nothing verifies
        assert!(!ok(spec(Some(SAN), None, None)));
        assert!(!ok(spec(None, None, Some(GHA))));
        // an ImageValidatingPolicy's identity is cosign's: literal, the
        // regexp first
        assert!(!match_cosign_identity(
            &[spec(
                Some("https://github.com/example-org*"),
                None,
                Some(GHA)
            )],
            &signer
        ));
        assert!(match_cosign_identity(
            &[spec(Some("https://other"), Some("example-org/"), Some(GHA))],
            &signer
        ));
        assert!(match_cosign_identity(
            &[spec(Some(SAN), None, None)],
            &signer
        ));
        // the careless wildcard still matches on the legacy path
        assert!(
            match_identity(
                &[spec(
                    Some("https://github.com/example-org*"),
                    None,
                    Some(GHA)
                )],
                &BTreeMap::new(),
                &signer
            )
            .is_ok()
        );
    }
}
