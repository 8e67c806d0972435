//! Fulcio-like lab CA (root + intermediate) and a lab CT log that embeds an SCT in every leaf
//! through the RFC 6962 precertificate flow.

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyUsagePurpose, SanType, SerialNumber,
};
use sha2::{Digest as _, Sha256};
use tls_codec::TlsByteVecU16;
use x509_cert::der::{self, Encode, asn1::Utf8StringRef};
use x509_cert::ext::pkix::sct::{
    DigitallySigned as SctSig, HashAlgorithm, LogId, SerializedSct, SignatureAlgorithm,
    SignatureAndHashAlgorithm, SignedCertificateTimestamp, SignedCertificateTimestampList, Version,
};

use crate::supply::lab::error::{LabError, Result};
use crate::supply::lab::keys::LabKey;

/// Fulcio OIDC issuer (deprecated, raw string).
pub const OID_ISSUER_V1: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 1];
/// Fulcio OIDC issuer v2 (DER UTF8String).
pub const OID_ISSUER_V2: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 8];
pub const OID_BUILD_SIGNER_URI: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 9];
pub const OID_SOURCE_REPO_URI: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 12];
pub const OID_SOURCE_REPO_REF: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 14];
pub const OID_BUILD_TRIGGER: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 20];
/// RFC 6962 precertificate poison.
pub const OID_CT_POISON: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 3];
/// RFC 6962 embedded SCT list.
pub const OID_CT_SCT_LIST: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];
const OID_CT_POISON_STR: &str = "1.3.6.1.4.1.11129.2.4.3";

/// Fulcio leaves live 10 minutes.
pub const LEAF_LIFETIME_SECS: i64 = 600;

/// The SAN of a keyless signer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum San {
    Uri(String),
    Email(String),
}

impl San {
    pub fn as_str(&self) -> &str {
        match self {
            San::Uri(s) | San::Email(s) => s,
        }
    }
}

/// GitHub Actions claims that Fulcio copies into the certificate.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GithubClaims {
    /// `.1.9` build signer URI (the workflow ref).
    pub build_signer_uri: String,
    /// `.1.12` source repository URI.
    pub source_repo_uri: String,
    /// `.1.14` source repository ref.
    pub source_repo_ref: String,
    /// `.1.20` build trigger.
    pub build_trigger: String,
}

/// A keyless (OIDC) identity as Fulcio would certify it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    pub san: San,
    pub issuer: String,
    pub github: Option<GithubClaims>,
}

pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";

impl Identity {
    /// A GitHub Actions workflow identity: SAN `https://github.com/<repo>/<workflow>@<git_ref>`.
    pub fn github_workflow(repo: &str, workflow_path: &str, git_ref: &str) -> Self {
        let uri = format!("https://github.com/{repo}/{workflow_path}@{git_ref}");
        Identity {
            san: San::Uri(uri.clone()),
            issuer: GITHUB_ISSUER.to_owned(),
            github: Some(GithubClaims {
                build_signer_uri: uri,
                source_repo_uri: format!("https://github.com/{repo}"),
                source_repo_ref: git_ref.to_owned(),
                build_trigger: "push".to_owned(),
            }),
        }
    }

    pub fn email(email: &str, issuer: &str) -> Self {
        Identity {
            san: San::Email(email.to_owned()),
            issuer: issuer.to_owned(),
            github: None,
        }
    }
}

/// A leaf certificate issued by a lab CA.
#[derive(Clone, Debug)]
pub struct Leaf {
    pub cert_der: Vec<u8>,
    pub key: LabKey,
    pub not_before: i64,
    pub not_after: i64,
    pub sct_embedded: bool,
}

/// The lab CT log: only a key; SCTs are issued synchronously while issuing a leaf.
#[derive(Clone, Debug)]
pub struct CtLog {
    pub key: LabKey,
}

impl CtLog {
    pub fn new(seed: u64, name: &str) -> Result<Self> {
        Ok(Self {
            key: LabKey::derive(seed, &format!("ctlog/{name}"))?,
        })
    }

    /// An RFC 6962 v1 SCT for a precertificate entry: signature over the TLS `digitally-signed`
    /// struct {version, certificate_timestamp, timestamp, precert_entry(issuer_key_hash, tbs), ext}.
    pub fn sct_for_precert(
        &self,
        issuer_spki_der: &[u8],
        tbs_der: &[u8],
        timestamp_ms: u64,
    ) -> Result<SignedCertificateTimestamp> {
        let err = |reason: String| LabError::Sct {
            what: "precertificate".into(),
            reason,
        };
        let bytes = crate::verify::sct::signed_data(issuer_spki_der, tbs_der, timestamp_ms, &[])
            .map_err(|e| err(e.to_string()))?;
        let sig = self.key.sign(&bytes);
        Ok(SignedCertificateTimestamp {
            version: Version::V1,
            log_id: LogId {
                key_id: self.key.key_id(),
            },
            timestamp: timestamp_ms,
            extensions: TlsByteVecU16::from_slice(&[]),
            signature: SctSig {
                algorithm: SignatureAndHashAlgorithm {
                    hash: HashAlgorithm::Sha256,
                    signature: SignatureAlgorithm::Ecdsa,
                },
                signature: TlsByteVecU16::from_slice(&sig),
            },
        })
    }
}

/// A Fulcio-like CA: a self-signed root and an intermediate that issues leaves.
#[derive(Clone, Debug)]
pub struct LabCa {
    pub name: String,
    pub root_key: LabKey,
    pub root_der: Vec<u8>,
    pub intermediate_key: LabKey,
    pub intermediate_der: Vec<u8>,
    intermediate_params: CertificateParams,
    seed: u64,
    /// Start/end of the CA's validity (and of its trusted_root `validFor`, unless overridden).
    pub valid_from: i64,
    pub valid_to: i64,
}

fn odt(what: &str, t: i64) -> Result<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(t).map_err(|_| LabError::Time {
        what: what.to_owned(),
        value: t,
    })
}

fn serial(seed: u64, label: &str) -> SerialNumber {
    let mut h = Sha256::new();
    h.update(b"trustswap-lab-serial\0");
    h.update(seed.to_be_bytes());
    h.update(label.as_bytes());
    let mut s = h.finalize()[..16].to_vec();
    s[0] &= 0x7f;
    s[0] |= 0x01;
    SerialNumber::from_slice(&s)
}

fn cert_err(what: &str) -> impl FnOnce(rcgen::Error) -> LabError + '_ {
    move |source| LabError::Certificate {
        what: what.to_owned(),
        source,
    }
}

fn utf8_der(what: &str, s: &str) -> Result<Vec<u8>> {
    let enc = |e: der::Error| LabError::CertificateEncoding {
        what: what.to_owned(),
        reason: e.to_string(),
    };
    Utf8StringRef::new(s).map_err(enc)?.to_der().map_err(enc)
}

impl LabCa {
    /// Build the CA deterministically from `(seed, name)`, valid over `[valid_from, valid_to]`.
    pub fn new(seed: u64, name: &str, valid_from: i64, valid_to: i64) -> Result<Self> {
        let root_key = LabKey::derive(seed, &format!("ca/{name}/root"))?;
        let intermediate_key = LabKey::derive(seed, &format!("ca/{name}/intermediate"))?;
        let what_root = format!("{name} root");
        let what_inter = format!("{name} intermediate");

        let mut root = CertificateParams::default();
        root.distinguished_name = DistinguishedName::new();
        root.distinguished_name
            .push(DnType::OrganizationName, "trustswap-lab");
        root.distinguished_name
            .push(DnType::CommonName, format!("{name} lab root (never trust)"));
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        root.not_before = odt(&what_root, valid_from)?;
        root.not_after = odt(&what_root, valid_to)?;
        root.serial_number = Some(serial(seed, &what_root));
        let root_cert = root.self_signed(&root_key).map_err(cert_err(&what_root))?;

        let mut inter = CertificateParams::default();
        inter.distinguished_name = DistinguishedName::new();
        inter
            .distinguished_name
            .push(DnType::OrganizationName, "trustswap-lab");
        inter.distinguished_name.push(
            DnType::CommonName,
            format!("{name} lab intermediate (never trust)"),
        );
        inter.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        inter.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        inter.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        inter.not_before = odt(&what_inter, valid_from)?;
        inter.not_after = odt(&what_inter, valid_to)?;
        inter.serial_number = Some(serial(seed, &what_inter));
        inter.use_authority_key_identifier_extension = true;
        let root_issuer = Issuer::new(root.clone(), &root_key);
        let inter_cert = inter
            .signed_by(&intermediate_key, &root_issuer)
            .map_err(cert_err(&what_inter))?;

        Ok(Self {
            name: name.to_owned(),
            root_der: root_cert.der().to_vec(),
            root_key,
            intermediate_der: inter_cert.der().to_vec(),
            intermediate_key,
            intermediate_params: inter,
            seed,
            valid_from,
            valid_to,
        })
    }

    /// Chain PEM as cosign's `dev.sigstore.cosign/chain` annotation holds it: intermediate, root.
    pub fn chain_pem(&self) -> Result<String> {
        Ok(format!(
            "{}{}",
            pem_cert(&self.intermediate_der)?,
            pem_cert(&self.root_der)?
        ))
    }

    /// Issue a 10-minute leaf for `identity` starting at `not_before`. The leaf key is derived
    /// from `(seed, ca, key_label)`. With a CT log, the RFC 6962 precertificate flow is used and
    /// the SCT is embedded; without, the leaf has no SCT (verifiers requiring SCT refuse it).
    pub fn issue_leaf(
        &self,
        identity: &Identity,
        key_label: &str,
        not_before: i64,
        ct: Option<&CtLog>,
    ) -> Result<Leaf> {
        let what = format!("leaf {} ({key_label})", identity.san.as_str());
        let key = LabKey::derive(self.seed, &format!("ca/{}/leaf/{key_label}", self.name))?;
        let not_after = not_before + LEAF_LIFETIME_SECS;

        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        p.not_before = odt(&what, not_before)?;
        p.not_after = odt(&what, not_after)?;
        p.serial_number = Some(serial(
            self.seed,
            &format!("{}/{what}/{not_before}", self.name),
        ));
        p.use_authority_key_identifier_extension = true;
        let ia5 = |s: &str| {
            s.try_into()
                .map_err(|e: rcgen::Error| LabError::Certificate {
                    what: what.clone(),
                    source: e,
                })
        };
        p.subject_alt_names = vec![match &identity.san {
            San::Uri(u) => SanType::URI(ia5(u)?),
            San::Email(e) => SanType::Rfc822Name(ia5(e)?),
        }];
        let mut exts = vec![
            CustomExtension::from_oid_content(OID_ISSUER_V1, identity.issuer.as_bytes().to_vec()),
            CustomExtension::from_oid_content(OID_ISSUER_V2, utf8_der(&what, &identity.issuer)?),
        ];
        if let Some(gh) = &identity.github {
            exts.push(CustomExtension::from_oid_content(
                OID_BUILD_SIGNER_URI,
                utf8_der(&what, &gh.build_signer_uri)?,
            ));
            exts.push(CustomExtension::from_oid_content(
                OID_SOURCE_REPO_URI,
                utf8_der(&what, &gh.source_repo_uri)?,
            ));
            exts.push(CustomExtension::from_oid_content(
                OID_SOURCE_REPO_REF,
                utf8_der(&what, &gh.source_repo_ref)?,
            ));
            exts.push(CustomExtension::from_oid_content(
                OID_BUILD_TRIGGER,
                utf8_der(&what, &gh.build_trigger)?,
            ));
        }
        let issuer = Issuer::new(self.intermediate_params.clone(), &self.intermediate_key);

        let Some(ct) = ct else {
            p.custom_extensions = exts;
            let cert = p.signed_by(&key, &issuer).map_err(cert_err(&what))?;
            return Ok(Leaf {
                cert_der: cert.der().to_vec(),
                key,
                not_before,
                not_after,
                sct_embedded: false,
            });
        };

        // 1. Precertificate: same TBS plus the critical poison extension (last).
        let mut poison = CustomExtension::from_oid_content(OID_CT_POISON, vec![0x05, 0x00]);
        poison.set_criticality(true);
        let mut pre = p.clone();
        pre.custom_extensions = exts.clone();
        pre.custom_extensions.push(poison);
        let pre_cert = pre.signed_by(&key, &issuer).map_err(cert_err(&what))?;
        let tbs = tbs_without_extension(pre_cert.der(), OID_CT_POISON_STR).map_err(|e| {
            LabError::Sct {
                what: what.clone(),
                reason: e.to_string(),
            }
        })?;

        // 2. SCT over the TBS without poison, keyed by the issuer (intermediate) key hash.
        let ts_ms = u64::try_from(not_before).map_err(|_| LabError::Time {
            what: what.clone(),
            value: not_before,
        })? * 1000;
        let sct = ct.sct_for_precert(self.intermediate_key.spki_der(), &tbs, ts_ms)?;
        let sct_err = |reason: String| LabError::Sct {
            what: what.clone(),
            reason,
        };
        let list = SignedCertificateTimestampList::new(&[
            SerializedSct::new(sct).map_err(|e| sct_err(e.to_string()))?
        ])
        .map_err(|e| sct_err(format!("{e:?}")))?;
        let list_der = list.to_der().map_err(|e| sct_err(e.to_string()))?;

        // 3. Final certificate: the poison replaced by the SCT list at the same position, so
        //    "final TBS minus SCT extension" is byte-identical to "precert TBS minus poison".
        let mut fin = p;
        fin.custom_extensions = exts;
        fin.custom_extensions
            .push(CustomExtension::from_oid_content(OID_CT_SCT_LIST, list_der));
        let cert = fin.signed_by(&key, &issuer).map_err(cert_err(&what))?;
        let cert_der = cert.der().to_vec();
        let check = tbs_without_extension(&cert_der, "1.3.6.1.4.1.11129.2.4.2")
            .map_err(|e| sct_err(e.to_string()))?;
        if check != tbs {
            return Err(sct_err(
                "final certificate tbs differs from the precertificate tbs".into(),
            ));
        }
        Ok(Leaf {
            cert_der,
            key,
            not_before,
            not_after,
            sct_embedded: true,
        })
    }
}

pub use crate::verify::sct::tbs_without_extension;

/// PEM of a certificate, LF line endings (byte-identical to what sigstore-rs expects in Rekor
/// bodies).
pub fn pem_cert(der_bytes: &[u8]) -> Result<String> {
    x509_cert::der::pem::encode_string(
        "CERTIFICATE",
        x509_cert::der::pem::LineEnding::LF,
        der_bytes,
    )
    .map_err(|e| LabError::CertificateEncoding {
        what: "pem".into(),
        reason: e.to_string(),
    })
}
