//! RFC 3161 signed timestamps (`verificationMaterial.timestampVerificationData`)
//! verified against the trusted root's timestamp authorities, as sigstore-go
//! v1.3.0 does through sigstore's timestamp-authority
//! (`pkg/verification/verify.go` `VerifyTimestampResponse`):
//!
//! - the response is DER, granted, and its token is CMS SignedData over a
//!   TSTInfo with exactly one signer;
//! - the message imprint (SHA-256/384/512; SHA-1 is refused as weak) is the
//!   hash of the bundle's signature bytes;
//! - the signer certificate is one the token embeds, or the authority's leaf
//!   from the trusted root, and must equal that leaf when the root names one;
//! - the signed attributes carry the TSTInfo content type and its digest, and
//!   the signature over them verifies with the signer certificate's key;
//! - the signer chains to the authority's root at the timestamp's time, for
//!   time stamping: its extended key usage is critical and only
//!   id-kp-timeStamping;
//! - the time lies in the authority's `validFor` window, both ends inclusive.
//!
//! Parsing is RustCrypto's `cms` and `x509-tsp`; chains are rustls-webpki;
//! signatures are aws-lc-rs ([`crate::verify::keys`]).
use cms::cert::x509::der::{Decode, Encode, oid::ObjectIdentifier};
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use x509_tsp::{TimeStampResp, TstInfo};

use crate::verify::certs;
use crate::verify::keys::{Hash, PublicKey};
use crate::verify::refusal::{Refusal, RefuseExt};
use crate::verify::trust::{TrustMaterial, TsaEntry};

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SHA1: &str = "1.3.14.3.2.26";
/// DER contents of id-kp-timeStamping (1.3.6.1.5.5.7.3.8), for webpki's KeyUsage.
const EKU_TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// A verified timestamp: its time (Unix seconds) and the authority's URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timestamp {
    pub time: i64,
    pub uri: String,
}

/// A parsed timestamp response: the token's SignedData, its TSTInfo and the
/// TSTInfo's DER (what the signed attributes' digest covers).
pub struct Parsed {
    signed: SignedData,
    tst: TstInfo,
    tst_der: Vec<u8>,
}

/// A DER TimeStampResp, granted, whose token is CMS SignedData over a TSTInfo.
pub fn parse(der: &[u8]) -> Result<Parsed, String> {
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
    let tst_der = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or("the token carries no TSTInfo")?
        .value()
        .to_vec();
    let tst = TstInfo::from_der(&tst_der).map_err(|e| format!("TSTInfo: {e}"))?;
    Ok(Parsed {
        signed,
        tst,
        tst_der,
    })
}

/// Verify the timestamp response `der` over `signature` against the trusted
/// root's authorities: the first one it verifies under gives the time.
pub fn verify(der: &[u8], signature: &[u8], trust: &TrustMaterial) -> Result<Timestamp, Refusal> {
    let p = parse(der).map_err(|why| Refusal::new("timestamp", why))?;
    let alg = p.tst.message_imprint.hash_algorithm.oid.to_string();
    let hash = match Hash::from_oid(&alg) {
        Some(h) => h,
        None if alg == ID_SHA1 => {
            return Err(Refusal::new(
                "timestamp",
                "the message imprint is SHA-1, too weak",
            ));
        }
        None => {
            return Err(Refusal::new(
                "timestamp",
                format!("the message imprint's hash {alg} is not SHA-256, SHA-384 or SHA-512"),
            ));
        }
    };
    if p.tst.message_imprint.hashed_message.as_bytes() != hash.digest(signature).as_slice() {
        return Err(Refusal::new(
            "timestamp",
            "the timestamp's message imprint is not the hash of the bundle's signature",
        ));
    }
    let time = i64::try_from(p.tst.gen_time.to_unix_duration().as_secs())
        .refuse_ctx("timestamp", "genTime")?;
    let signer = match p.signed.signer_infos.0.as_slice() {
        [one] => one,
        more => {
            return Err(Refusal::new(
                "timestamp",
                format!("the token has {} signers, not one", more.len()),
            ));
        }
    };
    if trust.tsas.is_empty() {
        return Err(Refusal::new(
            "timestamp",
            "the trusted root names no timestamp authority",
        ));
    }
    let mut reasons = Vec::new();
    for tsa in &trust.tsas {
        match verify_with(&p, signer, time, tsa) {
            Ok(()) => {
                return Ok(Timestamp {
                    time,
                    uri: tsa.uri.clone(),
                });
            }
            Err(why) => reasons.push(format!("{}: {why}", tsa.uri)),
        }
    }
    Err(Refusal::new(
        "timestamp",
        format!(
            "no trusted timestamp authority verifies it: {}",
            reasons.join("; ")
        ),
    ))
}

fn verify_with(p: &Parsed, signer: &SignerInfo, time: i64, tsa: &TsaEntry) -> Result<(), String> {
    let (root, rest) = tsa.certs_der.split_last().ok_or("an empty chain")?;
    // The first certificate is the authority's own only when it is no CA
    // (sigstore-go `root/trusted_root.go`).
    let (leaf, intermediates) = match rest.split_first() {
        Some((first, inters)) if !is_ca(first) => (Some(first), inters),
        _ => (None, rest),
    };
    let embedded: Vec<Vec<u8>> = p
        .signed
        .certificates
        .as_ref()
        .map(|set| {
            set.0
                .iter()
                .filter_map(|c| match c {
                    cms::cert::CertificateChoices::Certificate(c) => c.to_der().ok(),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let candidates: Vec<&Vec<u8>> = if embedded.is_empty() {
        vec![leaf.ok_or("the token embeds no certificate and the trusted root names no TSA leaf")?]
    } else {
        embedded.iter().collect()
    };
    let signer_der = candidates
        .into_iter()
        .find(|der| names_signer(der, &signer.sid))
        .ok_or("no certificate matches the token's signer")?;
    if leaf.is_some_and(|l| l != signer_der) {
        return Err("the token's signer is not the trusted root's TSA certificate".into());
    }
    check_signed_attributes(p, signer)?;
    let signed_attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or("no signed attributes")?
        .to_der()
        .map_err(|e| format!("signed attributes: {e}"))?;
    let cert = certs::parse_cert(signer_der).map_err(|r| r.to_string())?;
    let key = PublicKey::from_cert(&cert).map_err(|r| r.to_string())?;
    let hash = signature_hash(signer)?;
    key.verify(Some(hash), &signed_attrs, signer.signature.as_bytes())
        .map_err(|_| "the token's signature does not verify with its signer's key".to_owned())?;
    check_time_stamping_eku(&cert)?;
    let mut inters: Vec<Vec<u8>> = intermediates.to_vec();
    inters.extend(embedded.iter().filter(|d| *d != signer_der).cloned());
    certs::verify_chain_if_present(
        signer_der,
        std::slice::from_ref(root),
        &inters,
        time,
        EKU_TIME_STAMPING,
    )
    .map_err(|r| format!("the TSA certificate does not chain to the authority at {time}: {r}"))?;
    let after_start = tsa.valid_from.is_none_or(|s| time >= s);
    let before_end = tsa.valid_to.is_none_or(|e| time <= e);
    if !(after_start && before_end) {
        return Err(format!(
            "the time {time} is outside the authority's validFor window ({:?}..={:?})",
            tsa.valid_from, tsa.valid_to
        ));
    }
    Ok(())
}

/// Is the certificate `der` a CA (basic constraints)?
fn is_ca(der: &[u8]) -> bool {
    use x509_cert::ext::pkix::BasicConstraints;
    certs::parse_cert(der).ok().is_some_and(|c| {
        c.tbs_certificate()
            .get_extension::<BasicConstraints>()
            .ok()
            .flatten()
            .is_some_and(|(_, bc)| bc.ca)
    })
}

/// Does the certificate `der` carry the signer identifier `sid`?
fn names_signer(der: &[u8], sid: &SignerIdentifier) -> bool {
    let Ok(cert) = cms::cert::x509::Certificate::from_der(der) else {
        return false;
    };
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            cert.tbs_certificate.issuer == ias.issuer
                && cert.tbs_certificate.serial_number == ias.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => cert
            .tbs_certificate
            .get::<cms::cert::x509::ext::pkix::SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .is_some_and(|(_, own)| own == *ski),
    }
}

/// The signed attributes name the TSTInfo content type and its digest.
fn check_signed_attributes(p: &Parsed, signer: &SignerInfo) -> Result<(), String> {
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or("the token's signer has no signed attributes")?;
    let one = |oid: ObjectIdentifier| -> Result<Vec<u8>, String> {
        let found: Vec<_> = attrs.iter().filter(|a| a.oid == oid).collect();
        match found.as_slice() {
            [a] if a.values.len() == 1 => a
                .values
                .iter()
                .next()
                .map(|v| v.value().to_vec())
                .ok_or_else(|| format!("attribute {oid} has no value")),
            _ => Err(format!("the signed attributes do not hold one {oid}")),
        }
    };
    let content_type = ObjectIdentifier::from_bytes(&one(ID_CONTENT_TYPE)?)
        .map_err(|e| format!("content-type attribute: {e}"))?;
    if content_type != ID_CT_TST_INFO {
        return Err(format!(
            "the signed content type is {content_type}, not TSTInfo"
        ));
    }
    let digest_alg = signer.digest_alg.oid.to_string();
    let hash = Hash::from_oid(&digest_alg)
        .ok_or_else(|| format!("the signer's digest algorithm {digest_alg} is not SHA-2"))?;
    if one(ID_MESSAGE_DIGEST)? != hash.digest(&p.tst_der) {
        return Err("the signed message digest is not the TSTInfo's".into());
    }
    Ok(())
}

/// The hash the signer's signature algorithm uses.
fn signature_hash(signer: &SignerInfo) -> Result<Hash, String> {
    let alg = signer.signature_algorithm.oid.to_string();
    match alg.as_str() {
        "1.2.840.10045.4.3.2" | "1.2.840.113549.1.1.11" => Ok(Hash::Sha256),
        "1.2.840.10045.4.3.3" | "1.2.840.113549.1.1.12" => Ok(Hash::Sha384),
        "1.2.840.10045.4.3.4" | "1.2.840.113549.1.1.13" => Ok(Hash::Sha512),
        // A bare key algorithm: the digest algorithm names the hash.
        "1.2.840.10045.2.1" | "1.2.840.113549.1.1.1" | "1.3.101.112" => {
            Hash::from_oid(&signer.digest_alg.oid.to_string())
                .ok_or_else(|| format!("digest algorithm {}", signer.digest_alg.oid))
        }
        other => Err(format!("signature algorithm {other}")),
    }
}

/// The TSA leaf's extended key usage is critical and only time stamping.
fn check_time_stamping_eku(cert: &x509_cert::Certificate) -> Result<(), String> {
    use x509_cert::ext::pkix::ExtendedKeyUsage;
    let (critical, eku) = cert
        .tbs_certificate()
        .get_extension::<ExtendedKeyUsage>()
        .ok()
        .flatten()
        .ok_or("the TSA certificate has no extended key usage")?;
    if !critical {
        return Err("the TSA certificate's extended key usage is not critical".into());
    }
    match eku.0.as_slice() {
        [one] if one.as_bytes() == EKU_TIME_STAMPING => Ok(()),
        _ => Err("the TSA certificate's extended key usage is not only time stamping".into()),
    }
}
