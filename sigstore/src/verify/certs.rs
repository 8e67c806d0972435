//! Certificate helpers on top of x509-cert and rustls-webpki (no hand-rolled X.509).

use std::time::Duration;
use trustswap_model::identity::{Identity, Pattern};

use const_oid::ObjectIdentifier;
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_cert::Certificate;
use x509_cert::der::{Decode, asn1::Utf8StringRef, pem};
use x509_cert::ext::pkix::{SubjectAltName, name::GeneralName};

use crate::verify::refusal::{Refusal, RefuseExt};

/// Fulcio OIDC issuer, deprecated form: raw UTF-8 bytes as the extension value.
pub const OID_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio OIDC issuer, current form: DER UTF8String.
pub const OID_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Sigstore "other name" SAN type (e.g. for usernames).
pub const OID_OTHERNAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");
/// DER contents of id-kp-codeSigning (1.3.6.1.5.5.7.3.3), for webpki's KeyUsage.
const EKU_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// Decode one PEM block of the expected label.
pub fn pem_to_der(pem_bytes: &[u8], label: &str) -> Result<Vec<u8>, Refusal> {
    let (got, der) = pem::decode_vec(pem_bytes).refuse_ctx("pem", label)?;
    if got != label {
        return Err(Refusal::new(
            "pem",
            format!("expected PEM {label}, got {got}"),
        ));
    }
    Ok(der)
}

/// Split a PEM bundle (e.g. the chain annotation) into DER certificates.
pub fn pem_chain_to_der(pem_text: &str) -> Result<Vec<Vec<u8>>, Refusal> {
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    for block in pem_text
        .split_inclusive(END)
        .filter(|b| b.contains("-----BEGIN"))
    {
        let start = block.find("-----BEGIN").unwrap_or(0);
        out.push(pem_to_der(&block.as_bytes()[start..], "CERTIFICATE")?);
    }
    Ok(out)
}

pub fn parse_cert(der: &[u8]) -> Result<Certificate, Refusal> {
    Certificate::from_der(der).refuse_ctx("certificate", "parse")
}

/// OIDC issuer: the .1.8 extension if present, else the deprecated .1.1 one.
pub fn oidc_issuer(cert: &Certificate) -> Result<Option<String>, Refusal> {
    let exts = cert
        .tbs_certificate()
        .extensions()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let find = |oid| {
        let mut it = exts.iter().filter(move |e| e.extn_id == oid);
        match (it.next(), it.next()) {
            (Some(e), None) => Ok(Some(e)),
            (None, _) => Ok(None),
            _ => Err(Refusal::new(
                "certificate",
                format!("duplicate extension {oid}"),
            )),
        }
    };
    let v2 = find(OID_ISSUER_V2)?;
    let v1 = find(OID_ISSUER_V1)?;
    let v2 = match v2 {
        Some(e) => Some(
            Utf8StringRef::from_der(e.extn_value.as_bytes())
                .refuse_ctx("certificate", "issuer (.1.8) is not a DER UTF8String")?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    let v1 = match v1 {
        Some(e) => Some(
            std::str::from_utf8(e.extn_value.as_bytes())
                .refuse_ctx("certificate", "issuer (.1.1) not UTF-8")?
                .to_owned(),
        ),
        None => None,
    };
    match (v2, v1) {
        (Some(a), Some(b)) if a != b => Err(Refusal::new(
            "certificate",
            format!("issuer extensions disagree: .1.8={a} .1.1={b}"),
        )),
        (Some(a), _) => Ok(Some(a)),
        (None, b) => Ok(b),
    }
}

/// All SAN identities that Sigstore uses: emails, URIs and the Sigstore other-name.
pub fn san_identities(cert: &Certificate) -> Result<Vec<String>, Refusal> {
    let (_, san): (bool, SubjectAltName) = cert
        .tbs_certificate()
        .get_extension()
        .refuse_ctx("certificate", "SAN")?
        .refuse_ctx("certificate", "no SAN extension")?;
    Ok(san
        .0
        .iter()
        .filter_map(|n| match n {
            GeneralName::Rfc822Name(s) => Some(s.as_str().to_owned()),
            GeneralName::UniformResourceIdentifier(s) => Some(s.as_str().to_owned()),
            GeneralName::OtherName(o) if o.type_id == OID_OTHERNAME => {
                std::str::from_utf8(o.value.value()).ok().map(str::to_owned)
            }
            _ => None,
        })
        .collect())
}

/// Path validation with webpki at time `t` (the Rekor integrated time), to anchors chosen from
/// the trusted root by their validity window. Extended key usage as Go's `x509.Verify` with
/// `KeyUsages: [CodeSigning]` reads it (cosign `TrustedCert`, sigstore-go
/// `VerifyLeafCertificate`): a certificate of the path that names usages must name code
/// signing, one that names none is unrestricted (GitHub's Fulcio intermediate names none).
/// The leaf's own validity is checked at `t` too, i.e. "certificate valid at integratedTime".
pub fn verify_chain_at(
    leaf_der: &[u8],
    anchors_der: &[Vec<u8>],
    intermediates_der: &[Vec<u8>],
    t: i64,
) -> Result<(), Refusal> {
    chain(
        leaf_der,
        anchors_der,
        intermediates_der,
        t,
        webpki::KeyUsage::required_if_present(EKU_CODE_SIGNING),
    )
}

/// [`verify_chain_at`] for a path whose certificates may leave their
/// extended key usage out; one that names it must include `eku` (DER contents
/// of its OID). The leaf's own usage is the caller's to check (a timestamp
/// authority's intermediate without EKU is unrestricted, as in sigstore's
/// timestamp-authority `verifyIntermediateExtendedKeyUsage`).
pub fn verify_chain_if_present(
    leaf_der: &[u8],
    anchors_der: &[Vec<u8>],
    intermediates_der: &[Vec<u8>],
    t: i64,
    eku: &'static [u8],
) -> Result<(), Refusal> {
    chain(
        leaf_der,
        anchors_der,
        intermediates_der,
        t,
        webpki::KeyUsage::required_if_present(eku),
    )
}

fn chain(
    leaf_der: &[u8],
    anchors_der: &[Vec<u8>],
    intermediates_der: &[Vec<u8>],
    t: i64,
    usage: webpki::KeyUsage,
) -> Result<(), Refusal> {
    if anchors_der.is_empty() {
        return Err(Refusal::new(
            "chain",
            format!("no Fulcio CA in the trusted root is valid at {t}"),
        ));
    }
    let t = u64::try_from(t).refuse_ctx("chain", "negative time")?;
    let leaf = CertificateDer::from(leaf_der);
    let ee = webpki::EndEntityCert::try_from(&leaf).refuse_ctx("chain", "leaf")?;
    let anchor_ders: Vec<CertificateDer<'_>> = anchors_der
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    let anchors = anchor_ders
        .iter()
        .map(|d| webpki::anchor_from_trusted_cert(d).map(|a| a.to_owned()))
        .collect::<Result<Vec<_>, _>>()
        .refuse_ctx("chain", "trust anchor")?;
    let inters: Vec<CertificateDer<'_>> = intermediates_der
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &inters,
        UnixTime::since_unix_epoch(Duration::from_secs(t)),
        usage,
        None,
        None,
    )
    .map(|_| ())
    .refuse_ctx("chain", &format!("path validation at {t}"))
}

/// A `sigstore::bundle::verify::VerificationPolicy` that pins SAN identity and OIDC issuer,
/// reading the issuer from .1.8 or .1.1 (the crate's own `Identity` reads only .1.1).
pub struct IdentityPolicy {
    pub identity: String,
    pub issuer: Option<String>,
}

impl sigstore::bundle::verify::VerificationPolicy for IdentityPolicy {
    fn verify(&self, cert: &Certificate) -> sigstore::bundle::verify::policy::PolicyResult {
        use sigstore::bundle::verify::PolicyError;
        let mismatch = |ext: &str, actual: String| PolicyError::ExtensionCheckFailed {
            extension: ext.to_owned(),
            expected: match ext {
                "issuer" => self.issuer.clone().unwrap_or_default(),
                _ => self.identity.clone(),
            },
            actual,
        };
        if let Some(want) = &self.issuer {
            match oidc_issuer(cert) {
                Ok(Some(got)) if Pattern::cosign(want).matches(&got) => {}
                Ok(Some(got)) => return Err(mismatch("issuer", got)),
                _ => return Err(PolicyError::ExtensionNotFound),
            }
        }
        let names = san_identities(cert).map_err(|_| PolicyError::ExtensionNotFound)?;
        // cosign's `--certificate-identity`: literal, any SAN.
        let rule = Identity::new(Pattern::cosign(&self.identity), None);
        if rule.first_matching_san(&names, None).is_ok() {
            Ok(())
        } else {
            Err(mismatch("SubjectAltName", names.join(", ")))
        }
    }
}

/// `t` lies within the certificate's validity, both ends inclusive
/// (sigstore-go `Certificate.ValidAtTime`).
pub fn check_within_validity(cert: &Certificate, t: i64) -> Result<(), Refusal> {
    let validity = cert.tbs_certificate().validity();
    let secs = |x: &x509_cert::time::Time| {
        i64::try_from(x.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
    };
    let (from, to) = (secs(&validity.not_before), secs(&validity.not_after));
    if t < from || t > to {
        return Err(Refusal::new(
            "certificate",
            format!("{t} is outside the certificate's validity {from}..={to}"),
        ));
    }
    Ok(())
}

/// A certificate checked against the verification time when nothing else
/// dates its signature (a policy that ignores the transparency log, no signed
/// timestamp): cosign v3.1.2 `pkg/cosign/verify.go:948-958` checks the expiry
/// at the current time and refuses an expired certificate with "expected a
/// signed timestamp to verify an expired certificate".
pub fn check_valid_at(cert: &Certificate, now: i64) -> Result<(), Refusal> {
    let validity = cert.tbs_certificate().validity();
    let secs = |t: &x509_cert::time::Time| {
        i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
    };
    if now > secs(&validity.not_after) {
        return Err(Refusal::new(
            "certificate",
            "expected a signed timestamp to verify an expired certificate",
        ));
    }
    if now < secs(&validity.not_before) {
        return Err(Refusal::new(
            "certificate",
            "the certificate is not valid yet",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose as Eku, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };

    /// Root, intermediate and leaf DER, each usage list as given.
    fn path(inter: Vec<Eku>, leaf: Vec<Eku>) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let params = |cn: &str, ca: Option<BasicConstraints>, eku: Vec<Eku>| {
            let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
            p.distinguished_name.push(DnType::CommonName, cn);
            match ca {
                Some(bc) => {
                    p.is_ca = IsCa::Ca(bc);
                    p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
                }
                None => p.key_usages = vec![KeyUsagePurpose::DigitalSignature],
            }
            p.extended_key_usages = eku;
            p
        };
        let root_key = KeyPair::generate().expect("key");
        let root = params("root", Some(BasicConstraints::Unconstrained), vec![]);
        let root_der = root.self_signed(&root_key).expect("root").der().to_vec();
        let inter_key = KeyPair::generate().expect("key");
        let inter = params(
            "intermediate",
            Some(BasicConstraints::Constrained(0)),
            inter,
        );
        let inter_der = inter
            .signed_by(&inter_key, &Issuer::new(root, &root_key))
            .expect("intermediate")
            .der()
            .to_vec();
        let leaf_key = KeyPair::generate().expect("key");
        let leaf_der = params("leaf", None, leaf)
            .signed_by(&leaf_key, &Issuer::new(inter, &inter_key))
            .expect("leaf")
            .der()
            .to_vec();
        (root_der, inter_der, leaf_der)
    }

    const T: i64 = 1_767_225_600;

    #[test]
    fn an_intermediate_that_names_no_usage_is_unrestricted() {
        let (root, inter, leaf) = path(vec![], vec![Eku::CodeSigning]);
        verify_chain_at(&leaf, &[root], &[inter], T).expect("as Go's x509.Verify accepts it");
    }

    #[test]
    fn a_certificate_that_names_other_usages_is_refused() {
        let (root, inter, leaf) = path(vec![], vec![Eku::ServerAuth]);
        assert!(verify_chain_at(&leaf, &[root], &[inter], T).is_err());
        let (root, inter, leaf) = path(vec![Eku::ServerAuth], vec![Eku::CodeSigning]);
        assert!(verify_chain_at(&leaf, &[root], &[inter], T).is_err());
    }
}
