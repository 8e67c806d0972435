//! RFC 6962 signed certificate timestamps embedded in a Fulcio leaf, verified
//! against the trusted root's CT logs. The `sigstore` crate checks SCTs only
//! inside its bundle verifier; this is the same check (sigstore-go
//! `verify/sct.go`: at least one SCT from a CT log of the trusted root, valid
//! at the SCT's time, whose signature covers the precertificate entry) for
//! every verification path. The lab signs what [`signed_data`] encodes.
use sha2::{Digest as _, Sha256};
use tls_codec::{SerializeBytes, TlsByteVecU16, TlsByteVecU24, TlsSerializeBytes, TlsSize};
use x509_cert::Certificate;
use x509_cert::der::{self, Decode as _, Encode as _, Tag, TagNumber, Tagged as _};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::sct::{SignedCertificateTimestampList, Version};

use crate::verify::keys::{Hash, PublicKey};
use crate::verify::refusal::{Refusal, RefuseExt};
use crate::verify::trust::TrustMaterial;

/// The embedded SCT list extension.
const SCT_LIST: &str = "1.3.6.1.4.1.11129.2.4.2";

// RFC 6962 section 3.2 `digitally-signed` input, TLS-encoded with tls_codec.
#[derive(TlsSerializeBytes, TlsSize)]
#[repr(u8)]
enum CtSignatureType {
    CertificateTimestamp = 0,
}
#[repr(u16)]
enum CtLogEntryType {
    #[allow(dead_code)]
    X509Entry = 0,
    PrecertEntry = 1,
}
#[derive(TlsSerializeBytes, TlsSize)]
struct CtPreCert {
    issuer_key_hash: [u8; 32],
    tbs_certificate: TlsByteVecU24,
}
#[derive(TlsSerializeBytes, TlsSize)]
#[repr(u16)]
enum CtSignedEntry {
    #[tls_codec(discriminant = "CtLogEntryType::PrecertEntry")]
    PrecertEntry(CtPreCert),
}
#[derive(TlsSerializeBytes, TlsSize)]
struct CtSignedData {
    version: Version,
    signature_type: CtSignatureType,
    timestamp: u64,
    signed_entry: CtSignedEntry,
    extensions: TlsByteVecU16,
}

/// The bytes a CT log signs for a precertificate entry: the issuer's key hash
/// and the leaf's TBSCertificate without its SCT list.
pub fn signed_data(
    issuer_spki_der: &[u8],
    precert_tbs_der: &[u8],
    timestamp_ms: u64,
    extensions: &[u8],
) -> Result<Vec<u8>, tls_codec::Error> {
    CtSignedData {
        version: Version::V1,
        signature_type: CtSignatureType::CertificateTimestamp,
        timestamp: timestamp_ms,
        signed_entry: CtSignedEntry::PrecertEntry(CtPreCert {
            issuer_key_hash: Sha256::digest(issuer_spki_der).into(),
            tbs_certificate: precert_tbs_der.into(),
        }),
        extensions: TlsByteVecU16::from_slice(extensions),
    }
    .tls_serialize()
}

/// At least one embedded SCT of `leaf` (issued by the certificate whose
/// SubjectPublicKeyInfo is `issuer_spki_der`) is signed by a CT log of
/// `trust` whose window holds the SCT's time. SCTs from unknown logs are
/// skipped, as sigstore-go skips them; one that names a known log and does
/// not verify is refused.
pub fn verify_embedded(
    leaf_der: &[u8],
    leaf: &Certificate,
    issuer_spki_der: &[u8],
    trust: &TrustMaterial,
) -> Result<(), Refusal> {
    let tbs = leaf.tbs_certificate();
    let list = tbs
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id.to_string() == SCT_LIST)
        .refuse_ctx("sct", "the certificate embeds no SCT")?;
    let list = SignedCertificateTimestampList::from_der(list.extn_value.as_bytes())
        .refuse_ctx("sct", "the SCT list is not DER")?;
    let scts = list
        .parse_timestamps()
        .map_err(|e| Refusal::new("sct", format!("the SCT list does not parse: {e:?}")))?;
    // The precertificate: the TBS without the SCT list.
    let pre_der =
        tbs_without_extension(leaf_der, SCT_LIST).refuse_ctx("sct", "precertificate TBS")?;
    let mut reasons = Vec::new();
    for serialized in scts {
        let sct = serialized
            .parse_timestamp()
            .map_err(|e| Refusal::new("sct", format!("an SCT does not parse: {e:?}")))?;
        let log_id = hex::encode(sct.log_id.key_id);
        let at = i64::try_from(sct.timestamp / 1000).unwrap_or(i64::MAX);
        let Some(log) = trust.ctlog_at(&log_id, at) else {
            reasons.push(format!("no trusted CT log {log_id} valid at {at}"));
            continue;
        };
        let hash = match sct.signature.algorithm.hash {
            x509_cert::ext::pkix::sct::HashAlgorithm::Sha256 => Hash::Sha256,
            x509_cert::ext::pkix::sct::HashAlgorithm::Sha384 => Hash::Sha384,
            x509_cert::ext::pkix::sct::HashAlgorithm::Sha512 => Hash::Sha512,
            other => {
                reasons.push(format!("SCT by {log_id} hashed with {other:?}"));
                continue;
            }
        };
        let data = signed_data(
            issuer_spki_der,
            &pre_der,
            sct.timestamp,
            sct.extensions.as_slice(),
        )
        .map_err(|e| Refusal::new("sct", format!("SCT signed data: {e}")))?;
        // An SCT that does not verify is skipped, as sigstore-go skips it.
        match PublicKey::from_spki_der(&log.spki_der)
            .and_then(|key| key.verify(Some(hash), &data, sct.signature.signature.as_slice()))
        {
            Ok(()) => return Ok(()),
            Err(_) => reasons.push(format!("the SCT by CT log {log_id} does not verify")),
        }
    }
    Err(Refusal::new(
        "sct",
        format!("no SCT from a trusted CT log: {}", reasons.join("; ")),
    ))
}

/// The TBSCertificate of `cert_der` with the extension `oid` removed, working on the original
/// DER elements (no re-encoding of the other fields).
pub fn tbs_without_extension(cert_der: &[u8], oid: &str) -> der::Result<Vec<u8>> {
    const EXTENSIONS_TAG: Tag = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(3),
    };
    let oid =
        der::asn1::ObjectIdentifier::new(oid).map_err(|_| Tag::ObjectIdentifier.value_error())?;
    let cert_fields = Vec::<der::Any>::from_der(cert_der)?;
    let tbs = cert_fields
        .first()
        .ok_or_else(|| Tag::Sequence.value_error())?;
    let mut tbs_fields: Vec<der::Any> = tbs.decode_as()?;
    if let Some(extensions) = tbs_fields.iter_mut().find(|f| f.tag() == EXTENSIONS_TAG) {
        let mut kept = Vec::new();
        for extension in Vec::<der::Any>::from_der(extensions.value())? {
            if extension.decode_as::<Extension>()?.extn_id != oid {
                kept.push(extension);
            }
        }
        *extensions = der::Any::new(EXTENSIONS_TAG, kept.to_der()?)?;
    }
    tbs_fields.to_der()
}
