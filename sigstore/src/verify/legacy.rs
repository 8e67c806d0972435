//! Cosign legacy `.sig` layer verification (simplesigning payload + OCI annotations), offline.
//!
//! What sigstore 0.15 gives publicly for this path, and how it is used here:
//! * `cosign::SignatureLayer` has only public *fields*; its constructor from an OCI layer and
//!   `CertificateSignature::from_certificate` (chain check) are `pub(crate)`. So the layer is
//!   assembled by hand and every trust decision that the private constructor would have made is
//!   made here explicitly.
//! * SET: `cosign::bundle::SignedArtifactBundle::new_verified` (public; verifies the Rekor SET).
//! * Signature: `verification_constraint::{PublicKeyVerifier, CertificateVerifier}` via
//!   `cosign::verify_constraints`. NOTE: `CertSubjectUrlVerifier`/`CertSubjectEmailVerifier`
//!   never check the signature; they only read `certificate_signature`, so they are always
//!   combined with `CertificateVerifier` here.
//! * Chain: rustls-webpki at integratedTime, anchors picked by trusted_root validity window.
//! * SCT: [`crate::verify::sct`], the embedded SCT against the trusted root's CT logs, with or
//!   without a transparency-log entry (the crate's only SCT check sits inside its bundle
//!   verifier, which re-did every other check and cost half of the verification time).
//! * Rekor body consistency (sig, key/cert, payload hash inside the SET-covered body): done here,
//!   the crate does not do it for legacy layers.

use std::collections::BTreeMap;

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sigstore::cosign::{
    self, SignatureLayer,
    bundle::{Bundle as RekorBundle, SignedArtifactBundle},
    bundle_content::BundleContent,
    payload::SimpleSigning,
    signature_layers::{CertificateSignature, CertificateSubject},
    verification_constraint::{
        CertSubjectEmailVerifier, CertSubjectUrlVerifier, CertificateVerifier, PublicKeyVerifier,
        VerificationConstraint, VerificationConstraintVec,
        cert_subject_email_verifier::StringVerifier,
    },
};
use sigstore::crypto::CosignVerificationKey;

use crate::verify::certs;
use crate::verify::refusal::{Alternatives, Refusal, RefuseExt};
use crate::verify::trust::TrustMaterial;

pub use trustswap_model::wire::{
    COSIGN_BUNDLE_ANNOTATION as ANN_BUNDLE, COSIGN_SIGNATURE_ANNOTATION as ANN_SIGNATURE,
};
pub use trustswap_model::wire::{
    COSIGN_CERTIFICATE_ANNOTATION as ANN_CERT, COSIGN_CHAIN_ANNOTATION as ANN_CHAIN,
};
const SIMPLESIGNING_TYPE: &str = "cosign container image signature";

/// One layer of a `.sig` manifest: the exact payload bytes and the descriptor annotations.
#[derive(Debug, Clone)]
pub struct LegacyLayer {
    pub payload: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub enum Signer {
    Email(String),
    Uri(String),
    /// Kyverno-style patterns: the matched SAN (and the certificate's issuer)
    /// become the exact identity every later check pins.
    Rule(crate::verify::identity::IdentityRule),
}

#[derive(Debug, Clone)]
pub enum LegacyPolicy {
    /// Key-based. `require_tlog=false` is cosign's `--insecure-ignore-tlog`.
    Key {
        public_key_pem: Vec<u8>,
        require_tlog: bool,
    },
    /// Keyless (Fulcio). The Rekor bundle gives the signing time; with
    /// `require_tlog=false` (`rekor.ignoreTlog`, cosign's
    /// `--insecure-ignore-tlog`) it is not read, and the certificate must be
    /// valid at the verification time, as cosign requires when no signed
    /// timestamp dates the signature (`pkg/cosign/verify.go`: "expected a
    /// signed timestamp to verify an expired certificate").
    /// `require_sct=false` only for pre-2022 certificates without embedded SCT.
    Keyless {
        signer: Signer,
        issuer: Option<String>,
        require_sct: bool,
        require_tlog: bool,
    },
}

#[derive(Debug, Clone)]
pub struct LegacyVerified {
    pub layer_index: usize,
    pub manifest_digest: String,
    pub integrated_time: Option<i64>,
    pub log_index: Option<i64>,
    pub signer: String,
    pub issuer: Option<String>,
    pub sct_verified: bool,
}

/// Rekor entry body, hashedrekord/0.0.1 or rekord/0.0.1 (same fields for what we check).
#[derive(Deserialize)]
struct RekorBody {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
    spec: RekorSpec,
}
#[derive(Deserialize)]
struct RekorSpec {
    data: RekorData,
    signature: RekorSig,
}
#[derive(Deserialize)]
struct RekorData {
    hash: RekorHash,
}
#[derive(Deserialize)]
struct RekorHash {
    algorithm: String,
    value: String,
}
#[derive(Deserialize)]
struct RekorSig {
    content: String,
    #[serde(rename = "publicKey")]
    public_key: RekorPk,
}
#[derive(Deserialize)]
struct RekorPk {
    content: String,
}

/// What the SET-covered Rekor body says was logged.
struct LoggedEntry {
    bundle: RekorBundle,
    /// DER of the logged key material (certificate or SPKI) and its PEM label.
    logged_key_label: String,
    logged_key_der: Vec<u8>,
}

/// Holds the trust material and the verification clock.
pub struct LegacyVerifier {
    trust: TrustMaterial,
    now: i64,
}

impl LegacyVerifier {
    pub fn new(trust: TrustMaterial, now_unix: i64) -> Result<Self, Refusal> {
        Ok(Self {
            trust,
            now: now_unix,
        })
    }

    /// Image-level verdict: valid if any layer satisfies the policy (cosign semantics).
    pub fn verify_image(
        &self,
        layers: &[LegacyLayer],
        manifest_digest: &str,
        policy: &LegacyPolicy,
    ) -> Result<LegacyVerified, Refusal> {
        let mut all = self.verify_image_all(layers, manifest_digest, policy)?;
        // `verify_image_all` refuses when none verifies.
        Ok(all.remove(0))
    }

    /// Every layer that verifies, in order (a refusal when none does): the
    /// signers a caller matching identities afterwards must try, as cosign
    /// checks the identity of each layer.
    pub fn verify_image_all(
        &self,
        layers: &[LegacyLayer],
        manifest_digest: &str,
        policy: &LegacyPolicy,
    ) -> Result<Vec<LegacyVerified>, Refusal> {
        if layers.is_empty() {
            return Err(Refusal::new("layers", "no signature layer"));
        }
        let mut reasons = Alternatives::default();
        let mut verified = Vec::new();
        for (i, layer) in layers.iter().enumerate() {
            match self.verify_layer(layer, manifest_digest, policy) {
                Ok(mut v) => {
                    v.layer_index = i;
                    verified.push(v);
                }
                Err(e) => reasons.push(format!("layer {i}"), &e),
            }
        }
        if verified.is_empty() {
            return Err(reasons.into_refusal("layers"));
        }
        Ok(verified)
    }

    pub fn verify_layer(
        &self,
        layer: &LegacyLayer,
        manifest_digest: &str,
        policy: &LegacyPolicy,
    ) -> Result<LegacyVerified, Refusal> {
        // 1. Payload: simplesigning, bound to the image digest.
        let simple_signing: SimpleSigning =
            serde_json::from_slice(&layer.payload).refuse_ctx("payload", "simplesigning JSON")?;
        if simple_signing.critical.type_name != SIMPLESIGNING_TYPE {
            return Err(Refusal::new(
                "payload",
                format!("type is {:?}", simple_signing.critical.type_name),
            ));
        }
        if !simple_signing.satisfies_manifest_digest(manifest_digest) {
            return Err(Refusal::new(
                "payload",
                format!(
                    "signed digest {} != {manifest_digest}",
                    simple_signing.critical.image.docker_manifest_digest
                ),
            ));
        }
        let payload_sha256 = hex::encode(Sha256::digest(&layer.payload));

        // 2. Signature annotation.
        let sig_b64 = layer
            .annotations
            .get(ANN_SIGNATURE)
            .refuse_ctx("signature", "no signature annotation")?;
        let sig_raw = B64
            .decode(sig_b64.trim())
            .refuse_ctx("signature", "base64")?;
        if sig_raw.is_empty() {
            return Err(Refusal::new("signature", "empty"));
        }

        // 3. Transparency log: SET + body consistency. A policy that ignores
        // the log does not read it at all, as cosign does not.
        let needs_tlog = match policy {
            LegacyPolicy::Key { require_tlog, .. } | LegacyPolicy::Keyless { require_tlog, .. } => {
                *require_tlog
            }
        };
        let logged = match layer.annotations.get(ANN_BUNDLE) {
            Some(raw) if needs_tlog => {
                Some(self.verify_rekor_bundle(raw, &sig_raw, &payload_sha256)?)
            }
            _ => None,
        };
        if needs_tlog && logged.is_none() {
            return Err(Refusal::new(
                "tlog",
                "no Rekor bundle annotation, and the policy requires one",
            ));
        }

        // 4. The layer as the crate models it.
        let mut sl = SignatureLayer {
            simple_signing,
            oci_digest: format!("sha256:{payload_sha256}"),
            certificate_signature: None,
            bundle: logged
                .as_ref()
                .map(|l| BundleContent::RekorBundle(l.bundle.clone())),
            signature: Some(sig_b64.trim().to_owned()),
            raw_data: layer.payload.clone(),
        };

        match policy {
            LegacyPolicy::Key { public_key_pem, .. } => {
                let spki = certs::pem_to_der(public_key_pem, "PUBLIC KEY")?;
                if let Some(l) = &logged
                    && (l.logged_key_label != "PUBLIC KEY" || l.logged_key_der != spki)
                {
                    return Err(Refusal::new(
                        "tlog",
                        "Rekor entry was made with another key",
                    ));
                }
                let vc: VerificationConstraintVec = vec![Box::new(
                    PublicKeyVerifier::try_from(public_key_pem)
                        .refuse_ctx("policy", "public key")?,
                )];
                run_constraints(&sl, &vc)?;
                Ok(LegacyVerified {
                    layer_index: 0,
                    manifest_digest: manifest_digest.to_owned(),
                    integrated_time: logged.as_ref().map(|l| l.bundle.payload.integrated_time),
                    log_index: logged.as_ref().map(|l| l.bundle.payload.log_index),
                    signer: "key".into(),
                    issuer: None,
                    sct_verified: false,
                })
            }
            LegacyPolicy::Keyless {
                signer,
                issuer,
                require_sct,
                require_tlog,
            } => {
                let cert_pem = layer
                    .annotations
                    .get(ANN_CERT)
                    .refuse_ctx("certificate", "no certificate annotation")?;
                let cert_der = certs::pem_to_der(cert_pem.as_bytes(), "CERTIFICATE")?;
                let cert = certs::parse_cert(&cert_der)?;
                // The time the certificate must have been valid at: the log's,
                // or, when the policy ignores the log, the verification time.
                let t = match &logged {
                    Some(logged) => {
                        if logged.logged_key_label != "CERTIFICATE"
                            || logged.logged_key_der != cert_der
                        {
                            return Err(Refusal::new(
                                "tlog",
                                "Rekor entry does not carry this certificate",
                            ));
                        }
                        logged.bundle.payload.integrated_time
                    }
                    None if !*require_tlog => {
                        certs::check_valid_at(&cert, self.now)?;
                        self.now
                    }
                    None => return Err(Refusal::new("tlog", "keyless needs a Rekor bundle")),
                };
                let resolved;
                let (signer, issuer) = match signer {
                    Signer::Rule(rule) => {
                        let cert_issuer = certs::oidc_issuer(&cert)?;
                        let san =
                            rule.check(&certs::san_identities(&cert)?, cert_issuer.as_deref())?;
                        resolved = (
                            if san.contains("://") {
                                Signer::Uri(san)
                            } else {
                                Signer::Email(san)
                            },
                            cert_issuer,
                        );
                        (&resolved.0, &resolved.1)
                    }
                    _ => (signer, issuer),
                };

                // Chain at integratedTime to a CA valid at that time. The chain annotation is
                // only a source of untrusted intermediates.
                let (anchors, mut inters) = self.trust.fulcio_at(t);
                if let Some(chain) = layer.annotations.get(ANN_CHAIN) {
                    inters.extend(certs::pem_chain_to_der(chain)?);
                }
                certs::verify_chain_at(&cert_der, &anchors, &inters, t)?;

                // Fill the crate's CertificateSignature (its own constructor is private).
                let cert_issuer = certs::oidc_issuer(&cert)?;
                sl.certificate_signature = Some(CertificateSignature {
                    verification_key: CosignVerificationKey::try_from(
                        cert.tbs_certificate().subject_public_key_info(),
                    )
                    .refuse_ctx("certificate", "public key")?,
                    subject: CertificateSubject::from_certificate(&cert)
                        .refuse_ctx("certificate", "subject")?,
                    issuer: cert_issuer.clone(),
                    github_workflow_trigger: None,
                    github_workflow_sha: None,
                    github_workflow_name: None,
                    github_workflow_repository: None,
                    github_workflow_ref: None,
                });

                // Signature by the certificate key, integratedTime inside the cert validity
                // (CertificateVerifier), and identity (CertSubject*Verifier), all on this layer.
                let mut vc: VerificationConstraintVec = vec![Box::new(
                    CertificateVerifier::from_pem(cert_pem.as_bytes(), *require_tlog, None)
                        .refuse_ctx("certificate", "CertificateVerifier")?,
                )];
                vc.push(identity_constraint(signer, issuer)?);
                run_constraints(&sl, &vc)?;

                // SCT embedded in the leaf, signed by a trusted CT log over the
                // precertificate and the issuer's key (the chain just validated).
                let sct_verified = if *require_sct {
                    let issuer = self.trust.issuer_spki(&cert_der, &cert, &inters)?;
                    crate::verify::sct::verify_embedded(&cert_der, &cert, &issuer, &self.trust)?;
                    true
                } else {
                    false
                };
                Ok(LegacyVerified {
                    layer_index: 0,
                    manifest_digest: manifest_digest.to_owned(),
                    integrated_time: logged.as_ref().map(|_| t),
                    log_index: logged.as_ref().map(|l| l.bundle.payload.log_index),
                    signer: signer_str(signer).to_owned(),
                    issuer: cert_issuer,
                    sct_verified,
                })
            }
        }
    }

    fn verify_rekor_bundle(
        &self,
        raw: &str,
        sig_raw: &[u8],
        payload_sha256: &str,
    ) -> Result<LoggedEntry, Refusal> {
        let (bundle, body_bytes) = verify_set(&self.trust, raw, self.now)?;
        // The SET covers the body; now make sure the body is about *this* signature.
        let body: RekorBody =
            serde_json::from_slice(&body_bytes).refuse_ctx("tlog", "body JSON")?;
        if !matches!(body.kind.as_str(), "hashedrekord" | "rekord") || body.api_version != "0.0.1" {
            return Err(Refusal::unsupported(
                "tlog",
                format!("unsupported entry {}/{}", body.kind, body.api_version),
            ));
        }
        if body.spec.data.hash.algorithm != "sha256"
            || !body
                .spec
                .data
                .hash
                .value
                .eq_ignore_ascii_case(payload_sha256)
        {
            return Err(Refusal::new(
                "tlog",
                "logged hash is not the payload's sha256",
            ));
        }
        if B64
            .decode(&body.spec.signature.content)
            .refuse_ctx("tlog", "logged signature")?
            != sig_raw
        {
            return Err(Refusal::new(
                "tlog",
                "logged signature differs from the layer's",
            ));
        }
        let pk_pem = B64
            .decode(&body.spec.signature.public_key.content)
            .refuse_ctx("tlog", "logged key")?;
        let (label, der) =
            x509_cert::der::pem::decode_vec(&pk_pem).refuse_ctx("tlog", "logged key PEM")?;
        Ok(LoggedEntry {
            bundle,
            logged_key_label: label.to_owned(),
            logged_key_der: der,
        })
    }
}

/// Verify a cosign Rekor bundle (`dev.sigstore.cosign/bundle` annotation): log id known and its key
/// valid at integratedTime, sane index/time, SET signature (by the crate). Returns the bundle and
/// the decoded (SET-covered) entry body. Body consistency is the caller's job.
pub fn verify_set(
    trust: &TrustMaterial,
    raw: &str,
    now: i64,
) -> Result<(RekorBundle, Vec<u8>), Refusal> {
    let bundle: RekorBundle =
        serde_json::from_str(raw).refuse_ctx("tlog", "bundle annotation JSON")?;
    let p = &bundle.payload;
    if p.log_index < 0 {
        return Err(Refusal::new("tlog", "negative log index"));
    }
    if p.integrated_time > now + 60 {
        return Err(Refusal::new("tlog", "integratedTime is in the future"));
    }
    let key = trust.rekor_key_at(&p.log_id, p.integrated_time)?;
    // SET, verified by the crate (SignedArtifactBundle::new_verified is the public entry point).
    let keys = BTreeMap::from([(p.log_id.clone(), key)]);
    let wrapper = serde_json::to_string(&SignedArtifactBundle {
        base64_signature: String::new(),
        cert: String::new(),
        rekor_bundle: bundle.clone(),
    })
    .refuse("tlog")?;
    SignedArtifactBundle::new_verified(&wrapper, &keys).refuse_ctx("tlog", "SET")?;
    let body = B64.decode(&p.body).refuse_ctx("tlog", "body base64")?;
    Ok((bundle, body))
}

fn signer_str(s: &Signer) -> &str {
    match s {
        Signer::Email(e) | Signer::Uri(e) => e,
        Signer::Rule(_) => "",
    }
}

fn identity_constraint(
    signer: &Signer,
    issuer: &Option<String>,
) -> Result<Box<dyn VerificationConstraint>, Refusal> {
    Ok(match signer {
        Signer::Uri(url) => Box::new(CertSubjectUrlVerifier {
            url: url.clone(),
            issuer: issuer
                .clone()
                .refuse_ctx("policy", "a URI identity needs a pinned issuer")?,
        }),
        Signer::Email(email) => Box::new(CertSubjectEmailVerifier {
            email: StringVerifier::ExactMatch(email.clone()),
            issuer: issuer.clone().map(StringVerifier::ExactMatch),
        }),
        Signer::Rule(_) => {
            return Err(Refusal::new(
                "policy",
                "identity rule not resolved to a SAN",
            ));
        }
    })
}

fn run_constraints(sl: &SignatureLayer, vc: &VerificationConstraintVec) -> Result<(), Refusal> {
    cosign::verify_constraints(std::slice::from_ref(sl), vc.iter()).map_err(|e| {
        let names: Vec<String> = e
            .unsatisfied_constraints
            .iter()
            .map(|c| format!("{c:?}"))
            .collect();
        Refusal::new("policy", format!("unsatisfied: {}", names.join(", ")))
    })
}

/// Flatten an error's `source()` chain for reporting.
pub fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out.join(" <- ")
}
