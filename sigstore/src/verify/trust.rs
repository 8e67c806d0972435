//! Trust material loaded from a Sigstore `trusted_root.json` (offline, no TUF).
//!
//! sigstore 0.15 only offers `SigstoreTrustRoot::from_trusted_root_json_unchecked` behind the
//! `sigstore-trust-root` feature (which pulls tough + reqwest). Without it we parse the file with
//! the `sigstore_protobuf_specs` serde types (the same ones sigstore uses) and keep the validity
//! windows, which the crate's `TrustRoot` trait flattens away.

use std::collections::BTreeMap;

use rustls_pki_types::CertificateDer;
use sigstore::crypto::CosignVerificationKey;
use sigstore::trust::ManualTrustRoot;
use sigstore_protobuf_specs::dev::sigstore::common::v1::TimeRange;
use sigstore_protobuf_specs::dev::sigstore::trustroot::v1::{TransparencyLogInstance, TrustedRoot};

use crate::verify::keys::{Hash, PublicKey};
use crate::verify::refusal::{Refusal, RefuseExt};

/// One Fulcio CA from the trusted root: chain (leaf-most first, root last) and validity window.
#[derive(Debug, Clone)]
pub struct CaEntry {
    pub certs_der: Vec<Vec<u8>>,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
}

/// One transparency log (Rekor or CT) key with its id and validity window.
#[derive(Debug, Clone)]
pub struct LogKey {
    pub key_id_hex: String,
    pub spki_der: Vec<u8>,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
    /// The log's `baseUrl`: a Rekor v2 log signs its checkpoints under its host name.
    pub base_url: Option<String>,
}

/// One RFC 3161 timestamp authority: its chain (the TSA's leaf first when
/// the root names it, the root last), its URI and validity window.
#[derive(Debug, Clone)]
pub struct TsaEntry {
    pub certs_der: Vec<Vec<u8>>,
    pub uri: String,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct TrustMaterial {
    pub fulcio: Vec<CaEntry>,
    pub rekor: Vec<LogKey>,
    pub ctlogs: Vec<LogKey>,
    pub tsas: Vec<TsaEntry>,
}

fn window(tr: Option<&TimeRange>) -> (Option<i64>, Option<i64>) {
    match tr {
        Some(tr) => (
            tr.start.as_ref().map(|t| t.seconds),
            tr.end.as_ref().map(|t| t.seconds),
        ),
        None => (None, None),
    }
}

pub(crate) fn in_window(t: i64, from: Option<i64>, to: Option<i64>) -> bool {
    // A missing start is treated as "not valid" (fail closed, as sigstore-go does);
    // the end is inclusive.
    match from {
        Some(f) if t >= f => to.is_none_or(|e| t <= e),
        _ => false,
    }
}

fn log_keys(logs: &[TransparencyLogInstance]) -> Vec<LogKey> {
    logs.iter()
        .filter_map(|l| {
            let pk = l.public_key.as_ref()?;
            let raw = pk.raw_bytes.as_ref()?;
            let id = l.log_id.as_ref()?;
            let (valid_from, valid_to) = window(pk.valid_for.as_ref());
            Some(LogKey {
                key_id_hex: hex::encode(&id.key_id),
                spki_der: raw.clone(),
                valid_from,
                valid_to,
                base_url: (!l.base_url.is_empty()).then(|| l.base_url.clone()),
            })
        })
        .collect()
}

impl TrustMaterial {
    pub fn from_trusted_root_json(bytes: &[u8]) -> Result<Self, Refusal> {
        let root: TrustedRoot =
            serde_json::from_slice(bytes).refuse_ctx("trust", "trusted_root.json")?;
        if !root
            .media_type
            .starts_with("application/vnd.dev.sigstore.trustedroot")
        {
            return Err(Refusal::new(
                "trust",
                format!("unexpected mediaType {}", root.media_type),
            ));
        }
        let fulcio = root
            .certificate_authorities
            .iter()
            .map(|ca| {
                let (valid_from, valid_to) = window(ca.valid_for.as_ref());
                CaEntry {
                    certs_der: ca
                        .cert_chain
                        .as_ref()
                        .map(|c| c.certificates.iter().map(|x| x.raw_bytes.clone()).collect())
                        .unwrap_or_default(),
                    valid_from,
                    valid_to,
                }
            })
            .filter(|ca| !ca.certs_der.is_empty())
            .collect::<Vec<_>>();
        if fulcio.is_empty() {
            return Err(Refusal::new(
                "trust",
                "trusted root has no certificate authority",
            ));
        }
        Ok(Self {
            fulcio,
            rekor: log_keys(&root.tlogs),
            ctlogs: log_keys(&root.ctlogs),
            tsas: root
                .timestamp_authorities
                .iter()
                .map(|ta| {
                    let (valid_from, valid_to) = window(ta.valid_for.as_ref());
                    TsaEntry {
                        certs_der: ta
                            .cert_chain
                            .as_ref()
                            .map(|c| c.certificates.iter().map(|x| x.raw_bytes.clone()).collect())
                            .unwrap_or_default(),
                        uri: ta.uri.clone(),
                        valid_from,
                        valid_to,
                    }
                })
                .filter(|ta| !ta.certs_der.is_empty())
                .collect(),
        })
    }

    pub fn from_file(path: &std::path::Path) -> Result<Self, Refusal> {
        let bytes = crate::input::read(path).map_err(|e| Refusal::new("trust", e.to_string()))?;
        Self::from_trusted_root_json(&bytes)
    }

    /// The crate's `ManualTrustRoot`: every CA certificate (roots and intermediates, all windows),
    /// every Rekor key and every CT key. This is exactly what `SigstoreTrustRoot` would give
    /// (except that one also drops expired Rekor/CT keys), i.e. validity windows are lost.
    pub fn manual_trust_root(&self) -> ManualTrustRoot<'static> {
        ManualTrustRoot {
            fulcio_certs: self
                .fulcio
                .iter()
                .flat_map(|ca| ca.certs_der.iter().map(|c| CertificateDer::from(c.clone())))
                .collect(),
            rekor_keys: self
                .rekor
                .iter()
                .map(|k| (k.key_id_hex.clone(), k.spki_der.clone()))
                .collect(),
            ctfe_keys: self
                .ctlogs
                .iter()
                .map(|k| (k.key_id_hex.clone(), k.spki_der.clone()))
                .collect(),
        }
    }

    /// Fulcio anchors (chain roots) and intermediates of the CAs whose window contains `t`.
    pub fn fulcio_at(&self, t: i64) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let mut roots = Vec::new();
        let mut inters = Vec::new();
        for ca in self
            .fulcio
            .iter()
            .filter(|ca| in_window(t, ca.valid_from, ca.valid_to))
        {
            if let Some((root, rest)) = ca.certs_der.split_last() {
                roots.push(root.clone());
                inters.extend(rest.iter().cloned());
            }
        }
        (roots, inters)
    }

    /// The Rekor key with this log id, if its validity window contains `t`.
    pub fn rekor_key_at(&self, key_id_hex: &str, t: i64) -> Result<CosignVerificationKey, Refusal> {
        let k = self
            .rekor
            .iter()
            .find(|k| k.key_id_hex.eq_ignore_ascii_case(key_id_hex))
            .refuse_ctx(
                "tlog",
                &format!("no trusted Rekor key with log id {key_id_hex}"),
            )?;
        if !in_window(t, k.valid_from, k.valid_to) {
            return Err(Refusal::new(
                "tlog",
                format!("Rekor key {key_id_hex} not valid at {t}"),
            ));
        }
        CosignVerificationKey::try_from_der(&k.spki_der).refuse_ctx("tlog", "Rekor key")
    }

    /// The CT log with this log id, if its validity window contains `t`.
    pub fn ctlog_at(&self, key_id_hex: &str, t: i64) -> Option<&LogKey> {
        self.ctlogs.iter().find(|k| {
            k.key_id_hex.eq_ignore_ascii_case(key_id_hex) && in_window(t, k.valid_from, k.valid_to)
        })
    }

    /// The DER SubjectPublicKeyInfo of the certificate that issued `leaf`
    /// (`leaf_der`): a Fulcio CA certificate of this root, or one of
    /// `intermediates` (a chain the signature carries, already
    /// path-validated), named as the leaf's issuer and whose key signed it
    /// (CAs rotate keys under one name). An embedded SCT is signed over this
    /// key's hash.
    pub fn issuer_spki(
        &self,
        leaf_der: &[u8],
        leaf: &x509_cert::Certificate,
        intermediates: &[Vec<u8>],
    ) -> Result<Vec<u8>, Refusal> {
        use x509_cert::der::{Decode as _, Encode as _};
        let issuer = leaf.tbs_certificate().issuer();
        let tbs = x509_cert::der::Any::from_der(leaf_der)
            .ok()
            .and_then(|c| c.decode_as::<Vec<x509_cert::der::Any>>().ok())
            .and_then(|fields| fields.first().and_then(|t| t.to_der().ok()))
            .refuse_ctx("sct", "the certificate's TBSCertificate")?;
        let hash = match leaf.signature_algorithm().oid.to_string().as_str() {
            "1.2.840.10045.4.3.2" | "1.2.840.113549.1.1.11" => Some(Hash::Sha256),
            "1.2.840.10045.4.3.3" | "1.2.840.113549.1.1.12" => Some(Hash::Sha384),
            "1.2.840.10045.4.3.4" | "1.2.840.113549.1.1.13" => Some(Hash::Sha512),
            _ => None,
        };
        let signature = leaf.signature().raw_bytes();
        self.fulcio
            .iter()
            .flat_map(|ca| ca.certs_der.iter())
            .chain(intermediates)
            .filter_map(|der| x509_cert::Certificate::from_der(der).ok())
            .filter(|ca| ca.tbs_certificate().subject() == issuer)
            .find(|ca| {
                PublicKey::from_cert(ca)
                    .and_then(|k| k.verify(hash, &tbs, signature))
                    .is_ok()
            })
            .and_then(|ca| ca.tbs_certificate().subject_public_key_info().to_der().ok())
            .refuse_ctx("sct", "the certificate's issuer is not in the trusted root")
    }

    /// The Rekor log with this log id, whatever its window.
    pub fn rekor_log(&self, key_id_hex: &str) -> Option<&LogKey> {
        self.rekor
            .iter()
            .find(|k| k.key_id_hex.eq_ignore_ascii_case(key_id_hex))
    }

    /// All Rekor keys (as the crate wants them) valid at `t`.
    pub fn rekor_keys_at(&self, t: i64) -> BTreeMap<String, CosignVerificationKey> {
        self.rekor
            .iter()
            .filter(|k| in_window(t, k.valid_from, k.valid_to))
            .filter_map(|k| {
                Some((
                    k.key_id_hex.clone(),
                    CosignVerificationKey::try_from_der(&k.spki_der).ok()?,
                ))
            })
            .collect()
    }
}

/// The far past: trust material a policy names inline has no validity window
/// of its own (Kyverno puts it in a certificate pool or a key map).
const ALWAYS: Option<i64> = Some(i64::MIN);

/// The log id of a transparency log key: the SHA-256 of its DER
/// SubjectPublicKeyInfo, hex (cosign `GetTransparencyLogID`).
fn log_id(spki_der: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(spki_der))
}

/// Every block of `pem` with `tag`, DER; an error when the text holds none.
fn pem_blocks(pem_text: &str, tag: &str, what: &str) -> Result<Vec<Vec<u8>>, Refusal> {
    let blocks = pem::parse_many(pem_text)
        .map_err(|e| Refusal::new("trust", format!("failed to load {what}: {e}")))?;
    let ders: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == tag)
        .map(|b| b.into_contents())
        .collect();
    if ders.is_empty() {
        return Err(Refusal::new(
            "trust",
            format!("failed to load {what}: no PEM block of type {tag}"),
        ));
    }
    Ok(ders)
}

fn inline_log_key(pem_text: &str, what: &str) -> Result<LogKey, Refusal> {
    let spki_der = pem_blocks(pem_text, "PUBLIC KEY", what)?.remove(0);
    CosignVerificationKey::try_from_der(&spki_der)
        .map_err(|e| Refusal::new("trust", format!("failed to load {what}: {e}")))?;
    Ok(LogKey {
        key_id_hex: log_id(&spki_der),
        spki_der,
        valid_from: ALWAYS,
        valid_to: None,
        base_url: None,
    })
}

impl TrustMaterial {
    /// A trust root that holds nothing: every certificate chain, SET and SCT is
    /// refused against it.
    pub fn empty() -> Self {
        TrustMaterial {
            fulcio: Vec::new(),
            rekor: Vec::new(),
            ctlogs: Vec::new(),
            tsas: Vec::new(),
        }
    }

    /// This trust root with the parts a policy names inline put in place of
    /// its own, as Kyverno's ClusterPolicy verifier does
    /// (`pkg/image/verifiers/cpol/cosign/cosign.go:70-74,148-164`): `roots`
    /// replaces the certificate authorities (every certificate in it becomes
    /// an anchor, as in the certificate pool Kyverno builds), `rekor` the
    /// Rekor keys and `ctlog` the CT log keys. A part that is named but holds
    /// no usable PEM is an error, as Kyverno's `failed to load ...`.
    pub fn with_inline(
        &self,
        roots: Option<&str>,
        rekor: Option<&str>,
        ctlog: Option<&str>,
    ) -> Result<Self, Refusal> {
        let mut out = self.clone();
        if let Some(pem) = roots.filter(|p| !p.trim().is_empty()) {
            out.fulcio = pem_blocks(pem, "CERTIFICATE", "Root certificates")?
                .into_iter()
                .map(|der| CaEntry {
                    certs_der: vec![der],
                    valid_from: ALWAYS,
                    valid_to: None,
                })
                .collect();
        }
        if let Some(pem) = rekor.filter(|p| !p.trim().is_empty()) {
            out.rekor = vec![inline_log_key(pem, "Rekor public key")?];
        }
        if let Some(pem) = ctlog.filter(|p| !p.trim().is_empty()) {
            out.ctlogs = vec![inline_log_key(pem, "CT log public key")?];
        }
        Ok(out)
    }

    /// The `trusted_root.json` target of the TUF repository in `dir` (its
    /// metadata at the top, targets under `targets/`), verified from
    /// `root_json` up with AWS's `tough` as Kyverno's TUF client verifies a
    /// mirror: a root that did not sign the repository, or metadata past its
    /// expiry, is refused.
    pub fn from_tuf_repository(dir: &std::path::Path, root_json: &[u8]) -> Result<Self, Refusal> {
        let refuse = |m: String| Refusal::new("trust", m);
        let dir =
            &std::path::absolute(dir).map_err(|e| refuse(format!("{}: {e}", dir.display())))?;
        let base = url::Url::from_directory_path(dir)
            .map_err(|()| refuse(format!("{} is not an absolute folder", dir.display())))?;
        let targets = base
            .join("targets/")
            .map_err(|e| refuse(format!("{}: {e}", dir.display())))?;
        let root = root_json.to_vec();
        let load = async move {
            let repo = tough::RepositoryLoader::new(&root, base, targets)
                .transport(tough::FilesystemTransport)
                .load()
                .await
                .map_err(|e| format!("the TUF repository does not verify: {e}"))?;
            let name = tough::TargetName::new("trusted_root.json").map_err(|e| e.to_string())?;
            let stream = repo
                .read_target(&name)
                .await
                .map_err(|e| format!("trusted_root.json: {e}"))?
                .ok_or("the TUF repository has no trusted_root.json target")?;
            use tough::IntoVec as _;
            stream
                .into_vec()
                .await
                .map_err(|e| format!("trusted_root.json: {e}"))
        };
        // A runtime of its own, on a thread of its own: callers may be inside
        // another runtime (a fake API server deciding with the engine).
        let bytes = std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("the TUF client's runtime: {e}"))?
                    .block_on(load)
            })
            .join()
            .unwrap_or_else(|_| Err("the TUF client panicked".into()))
        })
        .map_err(refuse)?;
        Self::from_trusted_root_json(&bytes)
    }
}
