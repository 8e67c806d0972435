//! Cosign legacy attestations (`.att`, DSSE in-toto envelopes in an OCI layout), offline.
//!
//! sigstore 0.15 has no public API for legacy `.att` layers (its `compute_pae` is pub(crate)),
//! so: PAE here, signature with the crate's `CosignVerificationKey`, SET with the crate,
//! chain with webpki at integratedTime, identity with `IdentityPolicy`.

use std::collections::BTreeMap;
use std::path::Path;

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sigstore::bundle::verify::VerificationPolicy;
use sigstore::crypto::{CosignVerificationKey, Signature};

use crate::verify::certs::{self, IdentityPolicy};
use crate::verify::legacy::{ANN_BUNDLE, ANN_CERT, ANN_CHAIN, verify_set};
use crate::verify::refusal::{Alternatives, Refusal, RefuseExt};
use crate::verify::trust::TrustMaterial;

pub use trustswap_model::wire::{
    DSSE_MEDIA_TYPE as DSSE_LAYER_MEDIA_TYPE, INTOTO_PAYLOAD_TYPE as IN_TOTO_PAYLOAD_TYPE,
};

pub use trustswap_model::wire::pae;

#[derive(Deserialize)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub payload: String,
    pub signatures: Vec<EnvSig>,
}
#[derive(Deserialize)]
pub struct EnvSig {
    pub sig: String,
}
#[derive(Deserialize)]
struct Statement {
    #[serde(rename = "_type")]
    type_: String,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    subject: Vec<Subject>,
}
#[derive(Deserialize)]
struct Subject {
    digest: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct AttVerified {
    /// The verified in-toto statement (for conditions and `extractPayload`).
    pub statement: serde_json::Value,
    pub predicate_type: String,
    pub integrated_time: i64,
    pub log_index: i64,
    pub entry_kind: String,
}

/// Parse a DSSE envelope holding one signature over an in-toto statement:
/// the envelope, the decoded payload and the raw signature.
fn open_envelope(envelope_json: &[u8]) -> Result<(Envelope, Vec<u8>, Vec<u8>), Refusal> {
    let env: Envelope =
        serde_json::from_slice(envelope_json).refuse_ctx("dsse", "envelope JSON")?;
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(Refusal::new(
            "dsse",
            format!("payloadType {}", env.payload_type),
        ));
    }
    let [sig] = env.signatures.as_slice() else {
        return Err(Refusal::new(
            "dsse",
            format!("expected 1 signature, got {}", env.signatures.len()),
        ));
    };
    let payload = B64
        .decode(&env.payload)
        .refuse_ctx("dsse", "payload base64")?;
    let sig_raw = B64.decode(&sig.sig).refuse_ctx("dsse", "sig base64")?;
    Ok((env, payload, sig_raw))
}

/// The statement, if one of its subjects is the image digest.
fn bound_statement(payload: &[u8], subject_digest: &str) -> Result<Statement, Refusal> {
    let st: Statement = serde_json::from_slice(payload).refuse_ctx("dsse", "in-toto statement")?;
    if !st.type_.starts_with("https://in-toto.io/Statement/") {
        return Err(Refusal::new(
            "dsse",
            format!("statement _type {}", st.type_),
        ));
    }
    let want = subject_digest
        .strip_prefix("sha256:")
        .refuse_ctx("dsse", "subject digest must be sha256:")?;
    if !st.subject.iter().any(|s| {
        s.digest
            .get("sha256")
            .is_some_and(|d| d.eq_ignore_ascii_case(want))
    }) {
        return Err(Refusal::new(
            "dsse",
            "no statement subject matches the image digest",
        ));
    }
    Ok(st)
}

/// Verify one `.att` layer: the envelope bytes and the layer annotations.
pub fn verify_attestation_layer(
    trust: &TrustMaterial,
    envelope_json: &[u8],
    annotations: &BTreeMap<String, String>,
    subject_digest: &str,
    policy: &IdentityPolicy,
    now: i64,
) -> Result<AttVerified, Refusal> {
    let (env, payload, sig_raw) = open_envelope(envelope_json)?;

    // Rekor: SET (crate) + body consistency.
    let (bundle, body) = verify_set(
        trust,
        annotations
            .get(ANN_BUNDLE)
            .refuse_ctx("tlog", "no bundle annotation")?,
        now,
    )?;
    let t = bundle.payload.integrated_time;
    let cert_pem = annotations
        .get(ANN_CERT)
        .refuse_ctx("certificate", "no certificate annotation")?;
    let cert_der = certs::pem_to_der(cert_pem.as_bytes(), "CERTIFICATE")?;
    let logged_cert =
        |pem: &[u8]| certs::pem_to_der(pem, "CERTIFICATE").is_ok_and(|d| d == cert_der);
    let kind = check_att_body(&body, envelope_json, &payload, &sig_raw, &logged_cert)?;

    // Chain at integratedTime, identity, signature over PAE.
    let (anchors, mut inters) = trust.fulcio_at(t);
    if let Some(chain) = annotations.get(ANN_CHAIN) {
        inters.extend(certs::pem_chain_to_der(chain)?);
    }
    certs::verify_chain_at(&cert_der, &anchors, &inters, t)?;
    let cert = certs::parse_cert(&cert_der)?;
    policy.verify(&cert).refuse("policy")?;
    let key = CosignVerificationKey::try_from(cert.tbs_certificate().subject_public_key_info())
        .refuse_ctx("certificate", "key")?;
    key.verify_signature(Signature::Raw(&sig_raw), &pae(&env.payload_type, &payload))
        .refuse_ctx("dsse", "signature over PAE")?;

    // Statement binds the image.
    let st = bound_statement(&payload, subject_digest)?;
    Ok(AttVerified {
        statement: serde_json::from_slice(&payload).refuse_ctx("dsse", "in-toto statement")?,
        predicate_type: st.predicate_type,
        integrated_time: t,
        log_index: bundle.payload.log_index,
        entry_kind: kind,
    })
}

/// Where a key-signed attestation's transparency-log entry is checked: the
/// trust material holding the log's keys, the layer's annotations (its Rekor
/// bundle), and the verification time.
pub struct KeyLog<'a> {
    pub trust: &'a TrustMaterial,
    pub annotations: &'a BTreeMap<String, String>,
    pub now: i64,
}

/// Verify a key-signed `.att` layer (DHI-style: no certificate): the
/// signature over the PAE with `public_key_pem`, then the statement's
/// subject binding to the image; with `log`, its Rekor entry too (SET, and a
/// logged body naming this envelope, signature and key), as cosign checks
/// a key-signed attestation when the log is not ignored.
pub fn verify_key_attestation_layer(
    envelope_json: &[u8],
    public_key_pem: &str,
    subject_digest: &str,
    log: Option<KeyLog<'_>>,
) -> Result<AttVerified, Refusal> {
    let (env, payload, sig_raw) = open_envelope(envelope_json)?;
    let key = CosignVerificationKey::try_from_pem(public_key_pem.as_bytes())
        .refuse_ctx("policy", "public key")?;
    key.verify_signature(Signature::Raw(&sig_raw), &pae(&env.payload_type, &payload))
        .refuse_ctx("dsse", "signature over PAE")?;
    let (integrated_time, log_index, entry_kind) = match log {
        None => (0, -1, "none".to_owned()),
        Some(log) => {
            let (bundle, body) = verify_set(
                log.trust,
                log.annotations
                    .get(ANN_BUNDLE)
                    .refuse_ctx("tlog", "no bundle annotation")?,
                log.now,
            )?;
            let ours = trustswap_model::fingerprint::KeyFingerprint::of_pem(public_key_pem)
                .refuse_ctx("policy", "public key fingerprint")?;
            let logged_key = |pem: &[u8]| {
                std::str::from_utf8(pem)
                    .ok()
                    .and_then(trustswap_model::fingerprint::KeyFingerprint::of_pem)
                    .is_some_and(|k| k == ours)
            };
            let kind = check_att_body(&body, envelope_json, &payload, &sig_raw, &logged_key)?;
            (
                bundle.payload.integrated_time,
                bundle.payload.log_index,
                kind,
            )
        }
    };
    let st = bound_statement(&payload, subject_digest)?;
    Ok(AttVerified {
        statement: serde_json::from_slice(&payload).refuse_ctx("dsse", "in-toto statement")?,
        predicate_type: st.predicate_type,
        integrated_time,
        log_index,
        entry_kind,
    })
}

/// intoto/0.0.1, intoto/0.0.2 and dsse/0.0.1 bodies: payload hash, signature (or the hash of
/// the whole envelope, which contains it) and signer (`verifier`: whether a logged PEM, a
/// certificate or a key, is the signer's) must match.
fn check_att_body(
    body: &[u8],
    envelope_json: &[u8],
    payload: &[u8],
    sig_raw: &[u8],
    verifier: &dyn Fn(&[u8]) -> bool,
) -> Result<String, Refusal> {
    let v: serde_json::Value = serde_json::from_slice(body).refuse_ctx("tlog", "body JSON")?;
    let kind = v
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_owned();
    let ver = v
        .get("apiVersion")
        .and_then(|k| k.as_str())
        .unwrap_or_default();
    let is_sha256_of = |h: Option<&serde_json::Value>, data: &[u8]| {
        h.is_some_and(|h| {
            h.get("algorithm").and_then(|a| a.as_str()) == Some("sha256")
                && h.get("value").and_then(|a| a.as_str())
                    == Some(hex::encode(Sha256::digest(data)).as_str())
        })
    };
    if (kind.as_str(), ver) == ("intoto", "0.0.1") {
        // The envelope as stored in the layer is hashed whole (it contains the signature).
        let cert_ok = v
            .pointer("/spec/publicKey")
            .and_then(|k| k.as_str())
            .and_then(|k| B64.decode(k).ok())
            .is_some_and(|pem| verifier(&pem));
        if !is_sha256_of(v.pointer("/spec/content/hash"), envelope_json)
            || !is_sha256_of(v.pointer("/spec/content/payloadHash"), payload)
            || !cert_ok
        {
            return Err(Refusal::new(
                "tlog",
                "intoto/0.0.1 entry does not match envelope/payload/certificate",
            ));
        }
        return Ok(kind);
    }
    let (hash, sigs) = match (kind.as_str(), ver) {
        ("intoto", "0.0.2") => (
            v.pointer("/spec/content/payloadHash"),
            v.pointer("/spec/content/envelope/signatures"),
        ),
        ("dsse", "0.0.1") => (
            v.pointer("/spec/payloadHash"),
            v.pointer("/spec/signatures"),
        ),
        _ => {
            return Err(Refusal::unsupported(
                "tlog",
                format!("unsupported attestation entry {kind}/{ver}"),
            ));
        }
    };
    let hash = hash.refuse_ctx("tlog", "no payloadHash")?;
    let want = hex::encode(Sha256::digest(payload));
    if hash.get("algorithm").and_then(|a| a.as_str()) != Some("sha256")
        || hash.get("value").and_then(|a| a.as_str()) != Some(want.as_str())
    {
        return Err(Refusal::new("tlog", "logged payloadHash differs"));
    }
    let sigs = sigs
        .and_then(|s| s.as_array())
        .refuse_ctx("tlog", "no signatures in body")?;
    let matched = sigs.iter().any(|s| {
        // intoto/0.0.2 logs sig as base64(base64(sig)) and publicKey; dsse/0.0.1 as signature + verifier.
        let sig_ok = match (s.get("sig"), s.get("signature")) {
            (Some(x), _) => {
                x.as_str()
                    .and_then(|x| B64.decode(x).ok())
                    .and_then(|x| B64.decode(x).ok())
                    .as_deref()
                    == Some(sig_raw)
            }
            (_, Some(x)) => x.as_str().and_then(|x| B64.decode(x).ok()).as_deref() == Some(sig_raw),
            _ => false,
        };
        let key_ok = s
            .get("publicKey")
            .or_else(|| s.get("verifier"))
            .and_then(|k| k.as_str())
            .and_then(|k| B64.decode(k).ok())
            .is_some_and(|pem| verifier(&pem));
        sig_ok && key_ok
    });
    if !matched {
        return Err(Refusal::new(
            "tlog",
            "logged signature/certificate differ from the envelope's",
        ));
    }
    Ok(kind)
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Desc>,
}
#[derive(Deserialize)]
struct Desc {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}
#[derive(Deserialize)]
struct Manifest {
    layers: Vec<Desc>,
}

fn blob(layout: &Path, digest: &str, cap: u64) -> Result<Vec<u8>, Refusal> {
    let hexd = digest
        .strip_prefix("sha256:")
        .refuse_ctx("layout", "digest must be sha256")?;
    if hexd.len() != 64 || !hexd.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Refusal::new("layout", "bad digest"));
    }
    // Regular files only, and capped: a FIFO or a link to /dev/zero is refused.
    let data = crate::input::read_capped(&layout.join("blobs/sha256").join(hexd), cap)
        .refuse_ctx("layout", digest)?;
    if hex::encode(Sha256::digest(&data)) != hexd {
        return Err(Refusal::new(
            "layout",
            format!("blob {digest} does not match its digest"),
        ));
    }
    Ok(data)
}

/// Verify a `cosign save` layout: any attestation layer satisfying the policy makes it valid.
pub fn verify_layout(
    trust: &TrustMaterial,
    layout: &Path,
    policy: &IdentityPolicy,
    now: i64,
) -> Result<(String, AttVerified), Refusal> {
    let index: Index = serde_json::from_slice(
        &crate::input::read_capped(
            &layout.join("index.json"),
            crate::supply::oci::layout::MAX_INDEX_BYTES,
        )
        .refuse_ctx("layout", "index.json")?,
    )
    .refuse_ctx("layout", "index.json")?;
    let subject = index
        .manifests
        .iter()
        .find(|m| {
            matches!(
                m.annotations.get("kind").map(String::as_str),
                Some("dev.cosignproject.cosign/image" | "dev.cosignproject.cosign/imageIndex")
            )
        })
        .refuse_ctx("layout", "no image in layout")?;
    let att = index
        .manifests
        .iter()
        .find(|m| {
            m.annotations.get("kind").map(String::as_str) == Some("dev.cosignproject.cosign/atts")
        })
        .refuse_ctx("layout", "no attestations manifest")?;
    let manifest: Manifest = serde_json::from_slice(&blob(
        layout,
        &att.digest,
        crate::supply::oci::layout::MAX_MANIFEST_BYTES,
    )?)
    .refuse_ctx("layout", "attestation manifest")?;
    let mut reasons = Alternatives::default();
    for (i, l) in manifest.layers.iter().enumerate() {
        if l.media_type != DSSE_LAYER_MEDIA_TYPE {
            reasons.refused(format!("layer {i}: media type {}", l.media_type));
            continue;
        }
        let r = blob(
            layout,
            &l.digest,
            crate::supply::oci::layout::MAX_BLOB_BYTES,
        )
        .and_then(|env| {
            verify_attestation_layer(trust, &env, &l.annotations, &subject.digest, policy, now)
        });
        match r {
            Ok(v) => return Ok((subject.digest.clone(), v)),
            Err(e) => reasons.push(format!("layer {i}"), &e),
        }
    }
    Err(reasons.into_refusal("layers"))
}
