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
//!
//! Strict mode also reads every field the signatures do not cover as strictly as the
//! specification writes it: the bundle must re-encode to the JSON it came as (no unknown
//! field, no second spelling of a number or of base64), `messageDigest` must be the
//! artifact's digest, `kindVersion` must name the logged body's kind and version, the
//! checkpoint must re-encode to its own bytes and be signed under the log's name and key
//! hint, certificates must be DER and the chain free of repeats and of leaves, and an
//! RFC 3161 timestamp must parse (it is not verified yet: it is never the only signed time).
use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use sha2::{Digest as _, Sha256};

use sigstore::bundle::Bundle;
use sigstore::bundle::verify::ArtifactDigest;
use sigstore::bundle::verify::blocking::Verifier;
use sigstore::crypto::{CosignVerificationKey, Signature};
use sigstore::rekor::models::InclusionProof;
use sigstore::rekor::models::checkpoint::SignedCheckpoint;
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::bundle::Content as BundleContent;
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::verification_material::Content as VmContent;
use sigstore_protobuf_specs::dev::sigstore::common::v1::HashAlgorithm;
use sigstore_protobuf_specs::dev::sigstore::rekor::v1::TransparencyLogEntry;

use crate::verify::certs::IdentityPolicy;
use crate::verify::legacy::source_chain;
use crate::verify::refusal::{Refusal, RefuseExt};
use crate::verify::trust::TrustMaterial;

/// The media types of the Sigstore bundle versions (protobuf-specs `Bundle.mediaType`).
pub const MEDIA_TYPES: &[&str] = &[
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    MEDIA_TYPE_V03_OLD,
    "application/vnd.dev.sigstore.bundle.v0.3+json",
];
/// v0.3 under its first name: valid, but the crate's verifier rejects it.
const MEDIA_TYPE_V03_OLD: &str = "application/vnd.dev.sigstore.bundle+json;version=0.3";

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

    /// Parse a bundle. Not JSON, an unknown media type, or JSON that is not a
    /// bundle is malformed input; a bundle that does not re-encode to the
    /// JSON it came as carries something no signature covers, and is refused.
    pub fn parse(json: &[u8]) -> Result<Bundle, Refusal> {
        let value: serde_json::Value = serde_json::from_slice(json)
            .map_err(|e| Refusal::malformed("bundle", format!("not JSON: {e}")))?;
        let media_type = match value.get("mediaType") {
            Some(serde_json::Value::String(m)) => m.as_str(),
            _ => {
                return Err(Refusal::malformed(
                    "bundle",
                    "no mediaType: not a Sigstore bundle",
                ));
            }
        };
        if !MEDIA_TYPES.contains(&media_type) {
            return Err(Refusal::malformed(
                "bundle",
                format!(
                    "mediaType {media_type:?} is not a Sigstore bundle media type (known: {})",
                    MEDIA_TYPES.join(", ")
                ),
            ));
        }
        let bundle: Bundle = serde_json::from_value(value.clone())
            .map_err(|e| Refusal::malformed("bundle", format!("not a Sigstore bundle: {e}")))?;
        let again = serde_json::to_value(&bundle).refuse_ctx("bundle", "re-encode")?;
        if let Some(at) = first_difference(&value, &again, "") {
            return Err(Refusal::new(
                "bundle",
                format!(
                    "{at} does not round-trip: an unknown field or a non-canonical encoding, covered by no signature"
                ),
            ));
        }
        Ok(bundle)
    }

    /// The crate's verifier alone. `digest` is the artifact's SHA-256 (or the DSSE subject digest).
    pub fn verify_crate_only(
        &self,
        bundle: Bundle,
        digest: ArtifactDigest,
        policy: &IdentityPolicy,
    ) -> Result<(), Refusal> {
        use sigstore::bundle::verify::{BundleErrorKind, SignatureErrorKind, VerificationError};
        self.inner
            .verify_digest_with(digest, bundle, policy, true)
            .map_err(|e| {
                // What the crate cannot check is undecided, decided by the
                // error's type; everything else is a refusal.
                let unsupported = matches!(
                    e,
                    VerificationError::Signature(
                        SignatureErrorKind::AlgoUnsupported(_)
                            | SignatureErrorKind::DigestAlgorithmUnsupported(_)
                    ) | VerificationError::Bundle(
                        BundleErrorKind::VerificationMaterialContentUnsupported
                    )
                );
                let reason = format!("{e} ({})", source_chain(&e));
                if unsupported {
                    Refusal::unsupported("crate", reason)
                } else {
                    Refusal::new("crate", reason)
                }
            })
    }

    /// Strict: the unsigned fields read strictly, the checks the crate skips,
    /// then the crate's verifier. Fields that can be refused whatever the
    /// bundle's shape are checked before shapes trustswap cannot check are
    /// reported as unsupported.
    pub fn verify_strict(
        &self,
        bundle: Bundle,
        digest: ArtifactDigest,
        policy: &IdentityPolicy,
    ) -> Result<(), Refusal> {
        check_message_digest(&bundle, &digest)?;
        check_certificates(&bundle)?;
        check_timestamps(&bundle)?;
        check_kind_versions(&bundle)?;
        self.check_tlog(&bundle)?;
        if bundle.media_type == MEDIA_TYPE_V03_OLD {
            return Err(Refusal::unsupported(
                "bundle",
                format!(
                    "mediaType {MEDIA_TYPE_V03_OLD} is valid v0.3, but the sigstore crate only accepts its new name"
                ),
            ));
        }
        self.verify_crate_only(bundle, digest, policy)
    }

    fn check_tlog(&self, bundle: &Bundle) -> Result<(), Refusal> {
        let vm = bundle
            .verification_material
            .as_ref()
            .refuse_ctx("bundle", "no verificationMaterial")?;
        if let Some(VmContent::PublicKey(_)) = vm.content {
            return Err(Refusal::unsupported(
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
                return Err(Refusal::unsupported(
                    "tlog",
                    "an RFC 3161 timestamp is the only signed time, and timestamps are not verified yet",
                ));
            }
        }
        let entry = match vm.tlog_entries.as_slice() {
            [entry] => entry,
            [] => return Err(Refusal::new("tlog", "no transparency log entry")),
            more => {
                return Err(Refusal::unsupported(
                    "tlog",
                    format!("need exactly 1 tlog entry, got {}", more.len()),
                ));
            }
        };
        let kv = entry
            .kind_version
            .as_ref()
            .refuse_ctx("tlog", "no kindVersion")?;
        match (kv.kind.as_str(), kv.version.as_str()) {
            ("hashedrekord" | "dsse", "0.0.1") => {}
            ("hashedrekord" | "dsse", v) => {
                return Err(Refusal::unsupported(
                    "tlog",
                    format!(
                        "{} {v} is a Rekor v2 entry, which the sigstore crate cannot check",
                        kv.kind
                    ),
                ));
            }
            (k, v) => {
                return Err(Refusal::unsupported(
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
        let promise = entry.inclusion_promise.as_ref().ok_or_else(|| {
            Refusal::unsupported(
                "tlog",
                "no inclusion promise (SET): the signed time would need an RFC 3161 timestamp, not verified yet",
            )
        })?;
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
            let spki = self
                .trust
                .rekor
                .iter()
                .find(|k| k.key_id_hex.eq_ignore_ascii_case(&log_id))
                .map(|k| k.spki_der.as_slice())
                .refuse_ctx("tlog", "no trusted Rekor key")?;
            let cp = check_checkpoint(&cp.envelope, &key, spki)?;
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

/// `messageSignature.messageDigest`, when present, names the artifact: its
/// algorithm and value must be the artifact's.
fn check_message_digest(bundle: &Bundle, digest: &ArtifactDigest) -> Result<(), Refusal> {
    let Some(BundleContent::MessageSignature(ms)) = &bundle.content else {
        return Ok(());
    };
    let Some(md) = &ms.message_digest else {
        return Ok(());
    };
    let want = match digest {
        ArtifactDigest::Sha512(_) => HashAlgorithm::Sha2512,
        _ => HashAlgorithm::Sha2256,
    };
    let got = HashAlgorithm::try_from(md.algorithm)
        .map(|a| a.as_str_name())
        .unwrap_or("an unknown algorithm");
    if md.algorithm != want as i32 {
        return Err(Refusal::new(
            "messageDigest",
            format!(
                "the bundle's messageDigest is {got}, the artifact's digest is {}",
                want.as_str_name()
            ),
        ));
    }
    if md.digest.as_slice() != digest.as_bytes() {
        return Err(Refusal::new(
            "messageDigest",
            format!(
                "the bundle's messageDigest {} is not the artifact's digest {}",
                hex::encode(&md.digest),
                digest.to_hex()
            ),
        ));
    }
    Ok(())
}

/// Every certificate must be DER (re-encode to its own bytes); a chain starts
/// with its one leaf, holds no certificate twice, and the rest are CAs. A v0.3
/// bundle carries a single certificate, not a chain.
fn check_certificates(bundle: &Bundle) -> Result<(), Refusal> {
    use x509_cert::Certificate;
    use x509_cert::der::{Decode, Encode};
    use x509_cert::ext::pkix::BasicConstraints;

    let Some(vm) = &bundle.verification_material else {
        return Ok(());
    };
    let ders: Vec<&[u8]> = match &vm.content {
        Some(VmContent::Certificate(c)) => vec![c.raw_bytes.as_slice()],
        Some(VmContent::X509CertificateChain(ch)) => {
            if bundle.media_type.ends_with("0.3+json") || bundle.media_type == MEDIA_TYPE_V03_OLD {
                return Err(Refusal::new(
                    "certificate",
                    "a v0.3 bundle carries its leaf as `certificate`, not as an x509CertificateChain",
                ));
            }
            ch.certificates
                .iter()
                .map(|c| c.raw_bytes.as_slice())
                .collect()
        }
        _ => return Ok(()),
    };
    for (i, der) in ders.iter().enumerate() {
        let cert = Certificate::from_der(der)
            .refuse_ctx("certificate", &format!("certificate {i} is not DER"))?;
        if cert.to_der().ok().as_deref() != Some(*der) {
            return Err(Refusal::new(
                "certificate",
                format!("certificate {i} does not re-encode to its own bytes (not DER)"),
            ));
        }
        if ders[..i].contains(der) {
            return Err(Refusal::new(
                "certificate",
                format!("certificate {i} repeats an earlier certificate of the chain"),
            ));
        }
        if i > 0 {
            let ca = cert
                .tbs_certificate()
                .get_extension::<BasicConstraints>()
                .ok()
                .flatten()
                .is_some_and(|(_, bc)| bc.ca);
            if !ca {
                return Err(Refusal::new(
                    "certificate",
                    format!("certificate {i} of the chain is not a CA: only the first is a leaf"),
                ));
            }
        }
    }
    Ok(())
}

/// RFC 3161 timestamps are not verified yet (they are never the only signed
/// time trustswap accepts), but one that does not parse is refused, not ignored.
fn check_timestamps(bundle: &Bundle) -> Result<(), Refusal> {
    let Some(tvd) = bundle
        .verification_material
        .as_ref()
        .and_then(|vm| vm.timestamp_verification_data.as_ref())
    else {
        return Ok(());
    };
    for (i, ts) in tvd.rfc3161_timestamps.iter().enumerate() {
        parse_rfc3161(&ts.signed_timestamp).map_err(|why| {
            Refusal::new(
                "timestamp",
                format!("RFC 3161 timestamp {i} in timestampVerificationData: {why}"),
            )
        })?;
    }
    Ok(())
}

/// A DER TimeStampResp, granted, whose token is CMS SignedData over a TSTInfo.
fn parse_rfc3161(der: &[u8]) -> Result<(), String> {
    use cms::cert::x509::der::{Decode, Encode, oid::ObjectIdentifier};
    use cms::signed_data::SignedData;
    use x509_tsp::{TimeStampResp, TstInfo};

    const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
    const ID_CT_TST_INFO: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

    let resp = TimeStampResp::from_der(der).map_err(|e| format!("not a TimeStampResp: {e}"))?;
    if resp.to_der().ok().as_deref() != Some(der) {
        return Err("does not re-encode to its own bytes (not DER)".into());
    }
    let status = resp.status.status as u8;
    // PKIStatus granted (0) or grantedWithMods (1).
    if status > 1 {
        return Err(format!("status {status}: no timestamp was granted"));
    }
    let token = resp
        .time_stamp_token
        .ok_or("granted, but carries no timeStampToken")?;
    if token.content_type != ID_SIGNED_DATA {
        return Err(format!(
            "the token is {}, not CMS SignedData",
            token.content_type
        ));
    }
    let signed = SignedData::from_der(
        &token
            .content
            .to_der()
            .map_err(|e| format!("token content: {e}"))?,
    )
    .map_err(|e| format!("the token is not CMS SignedData: {e}"))?;
    if signed.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(format!(
            "the token signs {}, not a TSTInfo",
            signed.encap_content_info.econtent_type
        ));
    }
    if signed.signer_infos.0.is_empty() {
        return Err("the token has no signer".into());
    }
    let content = signed
        .encap_content_info
        .econtent
        .ok_or("the token carries no TSTInfo")?;
    TstInfo::from_der(content.value()).map_err(|e| format!("TSTInfo: {e}"))?;
    Ok(())
}

/// `kindVersion` is not signed: it must name the logged (signed) body's kind
/// and apiVersion.
fn check_kind_versions(bundle: &Bundle) -> Result<(), Refusal> {
    let Some(vm) = &bundle.verification_material else {
        return Ok(());
    };
    for entry in &vm.tlog_entries {
        check_kind_version(entry)?;
    }
    Ok(())
}

fn check_kind_version(entry: &TransparencyLogEntry) -> Result<(), Refusal> {
    let kv = entry
        .kind_version
        .as_ref()
        .refuse_ctx("kindVersion", "no kindVersion")?;
    let body: serde_json::Value = serde_json::from_slice(&entry.canonicalized_body)
        .refuse_ctx("kindVersion", "canonicalizedBody is not JSON")?;
    let field = |name: &str| body.get(name).and_then(|v| v.as_str()).unwrap_or_default();
    let (kind, version) = (field("kind"), field("apiVersion"));
    if (kv.kind.as_str(), kv.version.as_str()) != (kind, version) {
        return Err(Refusal::new(
            "kindVersion",
            format!(
                "kindVersion says {} {}, the logged body is {kind:?} {version:?}",
                kv.kind, kv.version
            ),
        ));
    }
    Ok(())
}

/// A checkpoint is a signed note (transparency-dev `log` and `note` formats):
/// origin, decimal size, base64 root hash and any other lines, a blank line,
/// then `— <name> <base64(4-byte key hint ‖ signature)>` lines. It is read
/// strictly (the size in shortest decimal, base64 as written by the log, so
/// the note re-encodes to its own bytes: the crate's parser reads `021` or
/// `+21` as 21 and verifies its own re-encoding), and a signature line must
/// name the log, carry the hint of the log's key, and verify. Lines by other
/// signers (witness cosignatures) are allowed and not checked.
///
/// The log's name is the origin, or for a Rekor v1 origin `<name> - <tree
/// id>` the name before the tree id. The key hint is the first 4 bytes of the
/// SHA-256 of the key's DER SubjectPublicKeyInfo (Rekor v1's log id).
fn check_checkpoint(
    envelope: &str,
    key: &CosignVerificationKey,
    spki_der: &[u8],
) -> Result<SignedCheckpoint, Refusal> {
    use sigstore::rekor::models::checkpoint::{Checkpoint, CheckpointSignature, OtherContent};

    let bad = |why: &str| Refusal::new("checkpoint", format!("not a canonical signed note: {why}"));
    let (text, sig_block) = envelope
        .split_once("\n\n")
        .ok_or_else(|| bad("no blank line before the signatures"))?;
    let mut lines = text.split('\n');
    let origin = lines
        .next()
        .filter(|o| !o.is_empty())
        .ok_or_else(|| bad("no origin"))?;
    let size_text = lines.next().ok_or_else(|| bad("no tree size"))?;
    let size: u64 = size_text
        .parse()
        .ok()
        .filter(|n: &u64| n.to_string() == size_text)
        .ok_or_else(|| {
            bad(&format!(
                "tree size {size_text:?} is not a decimal number in shortest form"
            ))
        })?;
    let hash_text = lines.next().ok_or_else(|| bad("no root hash"))?;
    let hash: [u8; 32] = B64
        .decode(hash_text)
        .ok()
        .filter(|h| B64.encode(h) == hash_text)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| bad("root hash is not 32 bytes of standard base64"))?;
    let other_content = lines
        .map(|l| {
            (!l.is_empty())
                .then(|| OtherContent::Value(l.to_owned()))
                .ok_or_else(|| bad("empty line in the note"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let sig_lines = sig_block
        .strip_suffix('\n')
        .ok_or_else(|| bad("the last signature line does not end with a newline"))?;
    let mut signatures = Vec::new();
    for line in sig_lines.split('\n') {
        let (name, b64) = line
            .strip_prefix("\u{2014} ")
            .and_then(|l| l.split_once(' '))
            .filter(|(n, b)| !n.is_empty() && !b.contains(' '))
            .ok_or_else(|| bad(&format!("signature line {line:?}")))?;
        let blob = B64
            .decode(b64)
            .ok()
            .filter(|d| B64.encode(d) == b64 && d.len() > 4)
            .ok_or_else(|| bad(&format!("signature of {name:?} is not standard base64")))?;
        let (hint, raw) = blob.split_at(4);
        signatures.push(CheckpointSignature {
            key_fingerprint: hint.try_into().refuse_ctx("checkpoint", "key hint")?,
            raw: raw.to_vec(),
            name: name.to_owned(),
        });
    }

    let name = match origin.split_once(" - ") {
        Some((name, tree)) if !tree.is_empty() && tree.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => origin,
    };
    let hint: [u8; 4] = Sha256::digest(spki_der)[..4]
        .try_into()
        .refuse_ctx("checkpoint", "key hint")?;
    let ours: Vec<CheckpointSignature> = signatures
        .into_iter()
        .filter(|s| s.name == name && s.key_fingerprint == hint)
        .collect();
    if ours.is_empty() {
        return Err(Refusal::new(
            "checkpoint",
            format!(
                "no signature line by {name:?} with the log key's hint {}",
                hex::encode(hint)
            ),
        ));
    }
    // The signed text is the note up to and including its last newline.
    let note = format!("{text}\n");
    for s in &ours {
        key.verify_signature(Signature::Raw(&s.raw), note.as_bytes())
            .refuse_ctx("checkpoint", "signature of the log")?;
    }
    Ok(SignedCheckpoint {
        note: Checkpoint {
            origin: origin.to_owned(),
            size,
            hash,
            other_content,
        },
        signatures: ours,
    })
}

/// Proto3 JSON may spell a field at its default value, or `null`, or leave it out.
fn proto_default(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty() || s == "0",
        Value::Number(n) => n.as_u64() == Some(0),
        Value::Bool(b) => !b,
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// The JSON pointer of the first place where `a` and `b` differ (a field
/// at its proto3 default may be missing from either side).
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, at: &str) -> Option<String> {
    use serde_json::Value;
    let here = || {
        Some(if at.is_empty() {
            "/".to_owned()
        } else {
            at.to_owned()
        })
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let path = format!("{at}/{k}");
                match y.get(k) {
                    Some(w) => {
                        if let Some(d) = first_difference(v, w, &path) {
                            return Some(d);
                        }
                    }
                    None if proto_default(v) => {}
                    None => return Some(path),
                }
            }
            y.iter()
                .find(|(k, w)| !x.contains_key(*k) && !proto_default(w))
                .map(|(k, _)| format!("{at}/{k}"))
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                if let Some(d) = first_difference(v, w, &format!("{at}/{i}")) {
                    return Some(d);
                }
            }
            (x.len() != y.len()).then(|| format!("{at}/{}", x.len().min(y.len())))
        }
        _ => (a != b).then(here).flatten(),
    }
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

/// The leaf certificate of a bundle's verification material.
pub fn leaf_cert(bundle: &Bundle) -> Option<x509_cert::Certificate> {
    let vm = bundle.verification_material.as_ref()?;
    let der = match vm.content.as_ref()? {
        VmContent::Certificate(c) => c.raw_bytes.clone(),
        VmContent::X509CertificateChain(ch) => ch.certificates.first()?.raw_bytes.clone(),
        _ => return None,
    };
    crate::verify::certs::parse_cert(&der).ok()
}

/// SAN + issuer of the bundle's leaf certificate (for bundles with no published policy).
pub fn leaf_identity(bundle: &Bundle) -> Option<(String, Option<String>)> {
    let cert = leaf_cert(bundle)?;
    let id = crate::verify::certs::san_identities(&cert)
        .ok()?
        .into_iter()
        .next()?;
    Some((id, crate::verify::certs::oidc_issuer(&cert).ok()?))
}
