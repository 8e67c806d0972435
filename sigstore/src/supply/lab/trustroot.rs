//! Export of the lab trust material as a Sigstore `trusted_root.json`
//! (`application/vnd.dev.sigstore.trustedroot+json;version=0.1`).

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use serde::Serialize;

use crate::supply::lab::ca::LabCa;
use crate::supply::lab::error::{LabError, Result, json_err};
use crate::supply::lab::keys::LabKey;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TrustedRoot {
    media_type: &'static str,
    tlogs: Vec<LogInstance>,
    certificate_authorities: Vec<CertificateAuthority>,
    ctlogs: Vec<LogInstance>,
    timestamp_authorities: Vec<serde_json::Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogInstance {
    base_url: String,
    hash_algorithm: &'static str,
    public_key: PublicKey,
    log_id: LogId,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PublicKey {
    raw_bytes: String,
    key_details: &'static str,
    valid_for: ValidFor,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogId {
    key_id: String,
}

#[derive(Serialize)]
struct ValidFor {
    start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CertificateAuthority {
    subject: Subject,
    uri: String,
    cert_chain: CertChain,
    valid_for: ValidFor,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Subject {
    organization: String,
    common_name: String,
}

#[derive(Serialize)]
struct CertChain {
    certificates: Vec<RawBytes>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RawBytes {
    raw_bytes: String,
}

/// RFC 3339 UTC, e.g. `2026-01-01T00:00:00Z`.
pub fn rfc3339(t: i64) -> Result<String> {
    let bad = || LabError::Time {
        what: "rfc3339".into(),
        value: t,
    };
    let odt = time::OffsetDateTime::from_unix_timestamp(t).map_err(|_| bad())?;
    odt.format(&time::format_description::well_known::Rfc3339)
        .map_err(|_| bad())
}

/// A CA as listed in the trusted root, with its `validFor` window.
pub struct CaWindow<'a> {
    pub ca: &'a LabCa,
    pub start: i64,
    pub end: Option<i64>,
}

/// A log key (Rekor or CT) with its `validFor` start.
pub struct LogWindow<'a> {
    pub key: &'a LabKey,
    pub base_url: &'a str,
    pub start: i64,
}

fn window(start: i64, end: Option<i64>) -> Result<ValidFor> {
    Ok(ValidFor {
        start: rfc3339(start)?,
        end: end.map(rfc3339).transpose()?,
    })
}

fn log(l: &LogWindow<'_>) -> Result<LogInstance> {
    Ok(LogInstance {
        base_url: l.base_url.to_owned(),
        hash_algorithm: "SHA2_256",
        public_key: PublicKey {
            raw_bytes: B64.encode(l.key.spki_der()),
            key_details: "PKIX_ECDSA_P256_SHA_256",
            valid_for: window(l.start, None)?,
        },
        log_id: LogId {
            key_id: B64.encode(l.key.key_id()),
        },
    })
}

/// Render `trusted_root.json` bytes (pretty, trailing newline).
pub fn trusted_root_json(
    cas: &[CaWindow<'_>],
    tlogs: &[LogWindow<'_>],
    ctlogs: &[LogWindow<'_>],
) -> Result<Vec<u8>> {
    let root = TrustedRoot {
        media_type: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        tlogs: tlogs.iter().map(log).collect::<Result<_>>()?,
        certificate_authorities: cas
            .iter()
            .map(|w| {
                Ok(CertificateAuthority {
                    subject: Subject {
                        organization: "trustswap-lab".into(),
                        common_name: format!("{} lab ca (never trust)", w.ca.name),
                    },
                    uri: format!("https://fulcio.{}.lab.trustswap.invalid", w.ca.name),
                    cert_chain: CertChain {
                        certificates: vec![
                            RawBytes {
                                raw_bytes: B64.encode(&w.ca.intermediate_der),
                            },
                            RawBytes {
                                raw_bytes: B64.encode(&w.ca.root_der),
                            },
                        ],
                    },
                    valid_for: window(w.start, w.end)?,
                })
            })
            .collect::<Result<_>>()?,
        ctlogs: ctlogs.iter().map(log).collect::<Result<_>>()?,
        timestamp_authorities: Vec::new(),
    };
    let mut out = serde_json::to_vec_pretty(&root).map_err(json_err("trusted_root.json"))?;
    out.push(b'\n');
    Ok(out)
}
