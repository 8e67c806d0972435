//! Sigstore bundle (v0.1-v0.3) verification, offline, with sigstore 0.15's
//! `bundle::verify::blocking::Verifier`, plus the checks the crate leaves out ("strict" mode).
//!
//! Crate (as is): leaf-only cert chain to any CA cert in the root (at the cert's notBefore),
//! embedded SCT, policy, signature (prehash sha256 or DSSE PAE), tlog body consistency
//! (hashedrekord 0.0.1 / dsse 0.0.1), integratedTime inside the cert validity.
//! Crate does NOT: verify the SET (inclusion promise), the inclusion proof, or the checkpoint
//! (TODO sigstore-rs#285); honour trusted-root validity windows; support public-key bundles,
//! Rekor v2 entries (hashedrekord/dsse 0.0.2), intoto entries, or RFC 3161 timestamps.
//! Strict mode adds SET + inclusion proof/checkpoint + key windows + sanity on times/indices and
//! refuses, with a reason, every bundle shape it cannot fully check.

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};

use sigstore::bundle::Bundle;
use sigstore::bundle::verify::ArtifactDigest;
use sigstore::bundle::verify::blocking::Verifier;
use sigstore::crypto::Signature;
use sigstore::rekor::models::InclusionProof;
use sigstore::rekor::models::checkpoint::SignedCheckpoint;
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::verification_material::Content as VmContent;

use crate::verify::certs::IdentityPolicy;
use crate::verify::legacy::source_chain;
use crate::verify::refusal::{Refusal, RefuseExt};
use crate::verify::trust::TrustMaterial;

pub struct BundleVerifier {
    trust: TrustMaterial,
    inner: Verifier,
    now: i64,
}

impl BundleVerifier {
    pub fn new(trust: TrustMaterial, now_unix: i64) -> Result<Self, Refusal> {
        let inner = Verifier::new(Default::default(), trust.manual_trust_root())
            .refuse_ctx("trust", "bundle verifier")?;
        Ok(Self {
            trust,
            inner,
            now: now_unix,
        })
    }

    pub fn parse(json: &[u8]) -> Result<Bundle, Refusal> {
        serde_json::from_slice(json).refuse_ctx("bundle", "JSON")
    }

    /// The crate's verifier alone. `digest` is the artifact's SHA-256 (or the DSSE subject digest).
    pub fn verify_crate_only(
        &self,
        bundle: Bundle,
        digest: ArtifactDigest,
        policy: &IdentityPolicy,
    ) -> Result<(), Refusal> {
        self.inner
            .verify_digest_with(digest, bundle, policy, true)
            .map_err(|e| Refusal::new("crate", format!("{e} ({})", source_chain(&e))))
    }

    /// Strict: pre-checks the crate skips, then the crate's verifier.
    pub fn verify_strict(
        &self,
        bundle: Bundle,
        digest: ArtifactDigest,
        policy: &IdentityPolicy,
    ) -> Result<(), Refusal> {
        self.check_tlog(&bundle)?;
        check_message_digest(&bundle, &digest)?;
        self.verify_crate_only(bundle, digest, policy)
    }

    fn check_tlog(&self, bundle: &Bundle) -> Result<(), Refusal> {
        let vm = bundle
            .verification_material
            .as_ref()
            .refuse_ctx("bundle", "no verificationMaterial")?;
        if let Some(VmContent::PublicKey(_)) = vm.content {
            return Err(Refusal::new(
                "bundle",
                "public-key bundles are not supported by sigstore 0.15's verifier",
            ));
        }
        if vm
            .timestamp_verification_data
            .as_ref()
            .is_some_and(|t| !t.rfc3161_timestamps.is_empty())
        {
            // We could ignore them if a SET is present, but a bundle relying on them can't be checked.
            if vm
                .tlog_entries
                .iter()
                .all(|e| e.inclusion_promise.is_none())
            {
                return Err(Refusal::new(
                    "tlog",
                    "RFC 3161 timestamp is the only signed time (unsupported)",
                ));
            }
        }
        let [entry] = vm.tlog_entries.as_slice() else {
            return Err(Refusal::new(
                "tlog",
                format!("need exactly 1 tlog entry, got {}", vm.tlog_entries.len()),
            ));
        };
        let kv = entry
            .kind_version
            .as_ref()
            .refuse_ctx("tlog", "no kindVersion")?;
        match (kv.kind.as_str(), kv.version.as_str()) {
            ("hashedrekord" | "dsse", "0.0.1") => {}
            ("hashedrekord" | "dsse", v) => {
                return Err(Refusal::new(
                    "tlog",
                    format!("{} {v} is a Rekor v2 entry (unsupported)", kv.kind),
                ));
            }
            (k, v) => {
                return Err(Refusal::new(
                    "tlog",
                    format!("entry kind {k} {v} unsupported by the crate's consistency check"),
                ));
            }
        }
        if entry.log_index < 0 {
            return Err(Refusal::new("tlog", "negative logIndex"));
        }
        let t = entry.integrated_time;
        if t <= 0 || t > self.now + 60 {
            return Err(Refusal::new(
                "tlog",
                format!("integratedTime {t} missing or in the future"),
            ));
        }
        let log_id = hex::encode(&entry.log_id.as_ref().refuse_ctx("tlog", "no logId")?.key_id);
        let key = self.trust.rekor_key_at(&log_id, t)?;

        // SET: signature over canonical JSON {body, integratedTime, logIndex, logID}.
        let promise = entry.inclusion_promise.as_ref().refuse_ctx(
            "tlog",
            "no inclusion promise (SET); signed time would need RFC 3161 (unsupported)",
        )?;
        let set_payload = serde_json::json!({
            "body": B64.encode(&entry.canonicalized_body),
            "integratedTime": t,
            "logIndex": entry.log_index,
            "logID": log_id,
        });
        let canon =
            serde_json_canonicalizer::to_vec(&set_payload).refuse_ctx("tlog", "canonicalize")?;
        key.verify_signature(Signature::Raw(&promise.signed_entry_timestamp), &canon)
            .refuse_ctx("tlog", "SET signature")?;

        // Inclusion proof + checkpoint, when present (required by the crate for v0.2+).
        // (A v0.1 proof without checkpoint has an unauthenticated root: the SET alone counts.)
        if let Some((p, cp)) = entry
            .inclusion_proof
            .as_ref()
            .and_then(|p| Some((p, p.checkpoint.as_ref()?)))
        {
            let cp: SignedCheckpoint =
                serde_json::from_value(serde_json::Value::String(cp.envelope.clone()))
                    .refuse_ctx("tlog", "checkpoint")?;
            // The crate does not look at the key hint; require one signature from our log key.
            let hint = entry
                .log_id
                .as_ref()
                .map(|l| l.key_id.get(..4).unwrap_or_default().to_vec())
                .unwrap_or_default();
            if !cp
                .signatures
                .iter()
                .any(|s| s.key_fingerprint.as_slice() == hint.as_slice())
            {
                return Err(Refusal::new(
                    "tlog",
                    "no checkpoint signature carries the log's key hint",
                ));
            }
            let root: [u8; 32] = p
                .root_hash
                .as_slice()
                .try_into()
                .refuse_ctx("tlog", "root hash length")?;
            let hashes = p
                .hashes
                .iter()
                .map(|h| <[u8; 32]>::try_from(h.as_slice()))
                .collect::<Result<Vec<_>, _>>()
                .refuse_ctx("tlog", "proof hash length")?;
            let size = u64::try_from(p.tree_size).refuse_ctx("tlog", "tree size")?;
            InclusionProof::new(p.log_index, root, size, hashes, Some(cp))
                .verify(&entry.canonicalized_body, &key)
                .refuse_ctx("tlog", "inclusion proof / checkpoint")?;
        }
        Ok(())
    }
}

/// A message-signature bundle names the digest it was made for
/// (`messageDigest`). The signature does not cover it, so the crate ignores it;
/// strict mode refuses a bundle that names another artifact (or another
/// algorithm) than the one verified, as the Sigstore conformance suite requires
/// (`message-digest-mismatch_fail`).
fn check_message_digest(bundle: &Bundle, digest: &ArtifactDigest) -> Result<(), Refusal> {
    use sigstore_protobuf_specs::dev::sigstore::bundle::v1::bundle::Content;
    use sigstore_protobuf_specs::dev::sigstore::common::v1::HashAlgorithm;
    let Some(Content::MessageSignature(sig)) = &bundle.content else {
        return Ok(());
    };
    let Some(named) = &sig.message_digest else {
        return Ok(());
    };
    let (algorithm, bytes): (HashAlgorithm, &[u8]) = match digest {
        ArtifactDigest::Sha256(d) => (HashAlgorithm::Sha2256, d),
        ArtifactDigest::Sha512(d) => (HashAlgorithm::Sha2512, d),
        _ => return Err(Refusal::new("signature", "unsupported artifact digest")),
    };
    if named.algorithm != algorithm as i32 || named.digest.as_slice() != bytes {
        return Err(Refusal::new(
            "signature",
            "the bundle's messageDigest names another artifact than the one verified",
        ));
    }
    Ok(())
}

/// The subject digest of a DSSE in-toto bundle, for bundles whose artifact we don't have.
pub fn dsse_first_subject(bundle_json: &[u8]) -> Option<ArtifactDigest> {
    #[derive(serde::Deserialize)]
    struct B {
        #[serde(rename = "dsseEnvelope")]
        dsse: Option<E>,
    }
    #[derive(serde::Deserialize)]
    struct E {
        payload: String,
    }
    #[derive(serde::Deserialize)]
    struct St {
        subject: Vec<Sub>,
    }
    #[derive(serde::Deserialize)]
    struct Sub {
        digest: std::collections::BTreeMap<String, String>,
    }
    let b: B = serde_json::from_slice(bundle_json).ok()?;
    let st: St = serde_json::from_slice(&B64.decode(b.dsse?.payload).ok()?).ok()?;
    let s = st.subject.first()?;
    if let Some(h) = s.digest.get("sha256") {
        return Some(ArtifactDigest::Sha256(
            hex::decode(h).ok()?.try_into().ok()?,
        ));
    }
    Some(ArtifactDigest::Sha512(
        hex::decode(s.digest.get("sha512")?).ok()?.try_into().ok()?,
    ))
}

/// The signed message digest of a message-signature bundle.
pub fn message_digest(bundle_json: &[u8]) -> Option<[u8; 32]> {
    let v: serde_json::Value = serde_json::from_slice(bundle_json).ok()?;
    let d = v
        .pointer("/messageSignature/messageDigest/digest")?
        .as_str()?;
    B64.decode(d).ok()?.try_into().ok()
}

/// SAN + issuer of the bundle's leaf certificate (for bundles with no published policy).
pub fn leaf_identity(bundle: &Bundle) -> Option<(String, Option<String>)> {
    let vm = bundle.verification_material.as_ref()?;
    let der = match vm.content.as_ref()? {
        VmContent::Certificate(c) => c.raw_bytes.clone(),
        VmContent::X509CertificateChain(ch) => ch.certificates.first()?.raw_bytes.clone(),
        _ => return None,
    };
    let cert = crate::verify::certs::parse_cert(&der).ok()?;
    let id = crate::verify::certs::san_identities(&cert)
        .ok()?
        .into_iter()
        .next()?;
    Some((id, crate::verify::certs::oidc_issuer(&cert).ok()?))
}
