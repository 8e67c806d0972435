//! Sigstore bundle (v0.1-v0.3) verification, offline, as sigstore-go v1.3.0 verifies
//! (`verify/signed_entity.go`), by trustswap on the `sigstore` crate's key and proof types:
//! certificate or public-key bundles; message signatures (prehashed, any curve) or DSSE
//! envelopes; Rekor v1 (`hashedrekord`/`dsse` 0.0.1, `intoto` 0.0.2) and Rekor v2
//! (`hashedrekord` 0.0.2) entries ([`crate::verify::tlog`]); RFC 3161 timestamps
//! ([`crate::verify::tsa`]); the certificate's chain at every verified time, its embedded
//! SCT ([`crate::verify::sct`]) and the identity policy.
//!
//! The crate's own verifier (`bundle::verify::blocking::Verifier`) stays available as
//! [`BundleVerifier::verify_crate_only`], a baseline: it checks the chain at the
//! certificate's notBefore, no SET, proof or checkpoint, no validity windows, and verifies no
//! public-key bundle, Rekor v2 entry, intoto entry or timestamp.
//!
//! Strict reading first: every field the signatures do not cover is read as strictly as
//! the specification writes it: the bundle must re-encode to the JSON it came as (no unknown
//! field, no second spelling of a number or of base64), `messageDigest` must be the
//! artifact's digest, `kindVersion` must name the logged body's kind and version, the
//! checkpoint must re-encode to its own bytes and be signed under the log's name and key
//! hint, certificates must be DER and the chain free of repeats and of leaves, and every
//! RFC 3161 timestamp must parse (one that parses but does not verify is not a signed time).
use base64::{Engine as _, engine::general_purpose::STANDARD as B64};

use sigstore::bundle::Bundle;
use sigstore::bundle::verify::ArtifactDigest;
use sigstore::bundle::verify::blocking::Verifier;
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::bundle::Content as BundleContent;
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::verification_material::Content as VmContent;
use sigstore_protobuf_specs::dev::sigstore::common::v1::HashAlgorithm;
use sigstore_protobuf_specs::dev::sigstore::rekor::v1::TransparencyLogEntry;

use crate::verify::certs::IdentityPolicy;
use crate::verify::keys::{Hash, KeyKind, PublicKey};
use crate::verify::legacy::source_chain;
use crate::verify::refusal::{Refusal, RefuseExt};
use crate::verify::tlog::{self, Logged, LoggedContent};
use crate::verify::trust::TrustMaterial;
use crate::verify::{sct, tsa};

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
    now: i64,
}

impl BundleVerifier {
    pub fn new(trust: TrustMaterial, now_unix: i64) -> Result<Self, Refusal> {
        Ok(Self {
            trust,
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
        // Built per call: only this baseline uses the crate's verifier.
        Verifier::new(Default::default(), self.trust.manual_trust_root())
            .refuse_ctx("trust", "bundle verifier")?
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

    /// Strict: the unsigned fields read strictly, then every check sigstore-go
    /// v1.3.0 makes (`verify/signed_entity.go`), by trustswap: the signature
    /// with the leaf's key (any curve, any hash the format names), the
    /// transparency-log entries ([`crate::verify::tlog`]), RFC 3161
    /// timestamps ([`crate::verify::tsa`]), then the certificate at every
    /// verified time (chain to a Fulcio CA valid then), its embedded SCT
    /// ([`crate::verify::sct`]) and the identity policy.
    pub fn verify_strict(
        &self,
        bundle: Bundle,
        digest: ArtifactDigest,
        policy: &IdentityPolicy,
    ) -> Result<(), Refusal> {
        self.verify_as(&bundle, &digest, Signer::Identity(policy))
    }

    /// [`BundleVerifier::verify_strict`] for a public-key bundle: `key` is
    /// the signer's key (cosign `--key`), which no certificate vouches for.
    pub fn verify_with_key(
        &self,
        bundle: Bundle,
        digest: ArtifactDigest,
        key: &PublicKey,
    ) -> Result<(), Refusal> {
        self.verify_as(&bundle, &digest, Signer::Key(key))
    }

    fn verify_as(
        &self,
        bundle: &Bundle,
        digest: &ArtifactDigest,
        signer: Signer<'_>,
    ) -> Result<(), Refusal> {
        check_message_digest(bundle, digest)?;
        check_certificates(bundle)?;
        check_timestamps(bundle)?;
        check_kind_versions(bundle)?;
        let vm = bundle
            .verification_material
            .as_ref()
            .refuse_ctx("bundle", "no verificationMaterial")?;

        // 1. Who signed: the leaf certificate, or the key the caller trusts.
        let (cert_der, cert) = match (&vm.content, &signer) {
            (Some(VmContent::PublicKey(_)), Signer::Key(_)) => (None, None),
            (Some(VmContent::PublicKey(_)), Signer::Identity(_)) => {
                return Err(Refusal::new(
                    "bundle",
                    "a public-key bundle: no certificate names its signer (verify it with the signer's key, --key)",
                ));
            }
            (_, Signer::Key(_)) => {
                return Err(Refusal::new(
                    "bundle",
                    "a key was given, but the bundle's signer is a certificate (verify it with an identity)",
                ));
            }
            (_, Signer::Identity(_)) => {
                let der = leaf_der(bundle).refuse_ctx("bundle", "no signing certificate")?;
                let cert = crate::verify::certs::parse_cert(&der)?;
                (Some(der), Some(cert))
            }
        };
        let key = match (&signer, &cert) {
            (Signer::Key(k), _) => (*k).clone(),
            (_, Some(cert)) => PublicKey::from_cert(cert)?,
            _ => return Err(Refusal::new("bundle", "no signing key")),
        };

        // 2. The signature over the artifact or the DSSE envelope.
        let signed = SignedContent::of(bundle)?;
        signed.verify(&key, digest)?;

        // 3. Transparency-log entries from the trusted logs.
        let logged = Logged {
            signature: &signed.signature,
            cert_der: cert_der.as_deref(),
            key: &key,
            content: signed.logged_content(digest),
        };
        let promise_required = bundle.media_type.ends_with("version=0.1");
        check_limits(vm)?;
        let mut times: Vec<(i64, String)> = Vec::new();
        let mut logged_times = Vec::new();
        let mut verified_entries = 0;
        let mut key_windows = Vec::new();
        let mut skipped = Vec::new();
        for entry in &vm.tlog_entries {
            let id = entry
                .log_id
                .as_ref()
                .map(|l| hex::encode(&l.key_id))
                .unwrap_or_default();
            if self.trust.rekor_log(&id).is_none() {
                skipped.push(id);
                continue;
            }
            let proof =
                tlog::verify_entry(entry, &logged, &self.trust, self.now, promise_required)?;
            verified_entries += 1;
            key_windows.extend(proof.key_window);
            if let Some(t) = proof.integrated_time {
                logged_times.push(t);
                if proof.signed_time {
                    times.push((t, format!("the signed integrated time of log {id}")));
                }
            }
        }
        if verified_entries == 0 {
            return Err(Refusal::new(
                "tlog",
                match skipped.as_slice() {
                    [] => "no transparency log entry".to_owned(),
                    ids => format!("no trusted Rekor key with log id {}", ids.join(", ")),
                },
            ));
        }

        // 4. RFC 3161 timestamps: each one that verifies dates the signature.
        let mut ts_reasons = Vec::new();
        if let Some(tvd) = &vm.timestamp_verification_data {
            let mut uris = Vec::new();
            for ts in &tvd.rfc3161_timestamps {
                match tsa::verify(&ts.signed_timestamp, &signed.signature, &self.trust) {
                    Ok(t) if uris.contains(&t.uri) => {
                        ts_reasons.push(format!("a second timestamp from {} (ignored)", t.uri))
                    }
                    Ok(t) => {
                        uris.push(t.uri.clone());
                        times.push((t.time, format!("the timestamp of {}", t.uri)));
                    }
                    Err(r) => ts_reasons.push(r.to_string()),
                }
            }
        }
        if times.is_empty() {
            return Err(Refusal::new(
                "timestamp",
                format!(
                    "no verified time dates the signature (a signed entry timestamp or an RFC 3161 timestamp){}",
                    if ts_reasons.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", ts_reasons.join("; "))
                    }
                ),
            ));
        }

        for (from, to) in &key_windows {
            if let Some((t, what)) = times
                .iter()
                .find(|(t, _)| !crate::verify::trust::in_window(*t, *from, *to))
            {
                return Err(Refusal::new(
                    "tlog",
                    format!("{what} ({t}) is outside the Rekor v2 log key's validity window"),
                ));
            }
        }

        // 5. The certificate at every verified (and every logged) time, its
        //    SCT and the identity.
        if let (Some(der), Some(cert), Signer::Identity(policy)) = (&cert_der, &cert, &signer) {
            for t in &logged_times {
                crate::verify::certs::check_within_validity(cert, *t).map_err(|r| {
                    Refusal::new(
                        "certificate",
                        format!("integrated time outside the certificate's validity: {r}"),
                    )
                })?;
            }
            for (t, what) in &times {
                // Intermediates come from the trusted root only, never from the bundle.
                let (anchors, inters) = self.trust.fulcio_at(*t);
                crate::verify::certs::verify_chain_at(der, &anchors, &inters, *t)
                    .map_err(|r| Refusal::new("chain", format!("at {what} ({t}): {r}")))?;
            }
            let issuer = self.trust.issuer_spki(der, cert, &[])?;
            sct::verify_embedded(der, cert, &issuer, &self.trust)?;
            use sigstore::bundle::verify::VerificationPolicy as _;
            policy
                .verify(cert)
                .map_err(|e| Refusal::new("policy", e.to_string()))?;
        }
        Ok(())
    }
}

/// sigstore-go's bounds (`internal/limits`): at most 32 log entries and 32
/// timestamps, and no log entry twice (same log, same index).
fn check_limits(
    vm: &sigstore_protobuf_specs::dev::sigstore::bundle::v1::VerificationMaterial,
) -> Result<(), Refusal> {
    const MAX_TLOG_ENTRIES: usize = 32;
    const MAX_TIMESTAMPS: usize = 32;
    let entries = &vm.tlog_entries;
    if entries.len() > MAX_TLOG_ENTRIES {
        return Err(Refusal::new(
            "tlog",
            format!(
                "too many tlog entries: {} > {MAX_TLOG_ENTRIES}",
                entries.len()
            ),
        ));
    }
    let timestamps = vm
        .timestamp_verification_data
        .as_ref()
        .map_or(0, |t| t.rfc3161_timestamps.len());
    if timestamps > MAX_TIMESTAMPS {
        return Err(Refusal::new(
            "timestamp",
            format!("too many signed timestamps: {timestamps} > {MAX_TIMESTAMPS}"),
        ));
    }
    let id = |e: &TransparencyLogEntry| (e.log_id.as_ref().map(|l| l.key_id.clone()), e.log_index);
    for (i, e) in entries.iter().enumerate() {
        if entries[..i].iter().any(|f| id(f) == id(e)) {
            return Err(Refusal::new("tlog", "duplicate tlog entries"));
        }
    }
    Ok(())
}

/// Who the caller expects to have signed.
enum Signer<'a> {
    Identity(&'a IdentityPolicy),
    Key(&'a PublicKey),
}

/// What a bundle signs: a message digest or a DSSE envelope, and its signature.
struct SignedContent {
    signature: Vec<u8>,
    kind: SignedKind,
}

enum SignedKind {
    Message,
    Envelope {
        payload_type: String,
        payload: Vec<u8>,
    },
}

impl SignedContent {
    fn of(bundle: &Bundle) -> Result<Self, Refusal> {
        match &bundle.content {
            Some(BundleContent::MessageSignature(ms)) => Ok(Self {
                signature: ms.signature.clone(),
                kind: SignedKind::Message,
            }),
            Some(BundleContent::DsseEnvelope(env)) => {
                let [sig] = env.signatures.as_slice() else {
                    return Err(Refusal::new(
                        "dsse",
                        format!(
                            "the envelope carries {} signatures, not one",
                            env.signatures.len()
                        ),
                    ));
                };
                Ok(Self {
                    signature: sig.sig.clone(),
                    kind: SignedKind::Envelope {
                        payload_type: env.payload_type.clone(),
                        payload: env.payload.clone(),
                    },
                })
            }
            None => Err(Refusal::malformed(
                "bundle",
                "neither a message signature nor a DSSE envelope",
            )),
        }
    }

    fn logged_content<'a>(&'a self, digest: &'a ArtifactDigest) -> LoggedContent<'a> {
        match &self.kind {
            SignedKind::Message => LoggedContent::Message {
                sha256: digest.as_bytes(),
            },
            SignedKind::Envelope {
                payload_type,
                payload,
            } => LoggedContent::Envelope {
                payload_type,
                payload,
            },
        }
    }

    /// The signature verifies with `key`, over the artifact's digest or the
    /// envelope's PAE, and an envelope's statement names the artifact.
    fn verify(&self, key: &PublicKey, digest: &ArtifactDigest) -> Result<(), Refusal> {
        match &self.kind {
            SignedKind::Message => {
                let ArtifactDigest::Sha256(d) = digest else {
                    return Err(Refusal::new(
                        "signature",
                        "a message signature is over the artifact's SHA-256 digest",
                    ));
                };
                // Ed25519 signs the artifact whole, which a digest cannot check.
                key.verify_prehashed(crate::verify::keys::Hash::Sha256, d, &self.signature)
            }
            SignedKind::Envelope {
                payload_type,
                payload,
            } => {
                // sigstore-go `verify/statement.go`: only in-toto statements.
                if payload_type != crate::verify::dsse::IN_TOTO_PAYLOAD_TYPE {
                    return Err(Refusal::new(
                        "dsse",
                        format!("payloadType {payload_type:?} is not an in-toto statement"),
                    ));
                }
                let pae = crate::verify::dsse::pae(payload_type, payload);
                // The key's hash, then SHA-256 for P-384/P-521 keys, as
                // sigstore-go tries both for bundles up to v0.3 (`signature.go`).
                let fallback = matches!(key.kind, KeyKind::EcdsaP384 | KeyKind::EcdsaP521);
                key.verify(None, &pae, &self.signature)
                    .or_else(|e| match fallback {
                        true => key.verify(Some(Hash::Sha256), &pae, &self.signature),
                        false => Err(e),
                    })
                    .map_err(|_| {
                        Refusal::new(
                            "signature",
                            "the envelope's signature does not verify with the key",
                        )
                    })?;
                statement_names(payload, digest)
            }
        }
    }
}

/// The in-toto statement of a DSSE envelope names `digest` among its subjects.
fn statement_names(payload: &[u8], digest: &ArtifactDigest) -> Result<(), Refusal> {
    let st: Subjects = serde_json::from_slice(payload)
        .refuse_ctx("dsse", "the payload is not an in-toto statement")?;
    let (alg, want) = match digest {
        ArtifactDigest::Sha512(_) => ("sha512", digest.to_hex()),
        _ => ("sha256", digest.to_hex()),
    };
    if st.subject.iter().any(|s| {
        s.digest
            .get(alg)
            .is_some_and(|d| d.eq_ignore_ascii_case(&want))
    }) {
        Ok(())
    } else {
        Err(Refusal::new(
            "dsse",
            format!("no subject of the statement has the artifact's {alg} digest {want}"),
        ))
    }
}

/// The subjects of an in-toto statement (the rest is not read here).
#[derive(serde::Deserialize)]
struct Subjects {
    subject: Vec<Subject>,
}

#[derive(serde::Deserialize)]
struct Subject {
    digest: std::collections::BTreeMap<String, String>,
}

/// The leaf certificate's DER.
fn leaf_der(bundle: &Bundle) -> Option<Vec<u8>> {
    match bundle.verification_material.as_ref()?.content.as_ref()? {
        VmContent::Certificate(c) => Some(c.raw_bytes.clone()),
        VmContent::X509CertificateChain(ch) => Some(ch.certificates.first()?.raw_bytes.clone()),
        _ => None,
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

/// An RFC 3161 timestamp that does not parse is refused, not ignored (one that
/// parses is verified, or not counted, later).
fn check_timestamps(bundle: &Bundle) -> Result<(), Refusal> {
    let Some(tvd) = bundle
        .verification_material
        .as_ref()
        .and_then(|vm| vm.timestamp_verification_data.as_ref())
    else {
        return Ok(());
    };
    for (i, ts) in tvd.rfc3161_timestamps.iter().enumerate() {
        tsa::parse(&ts.signed_timestamp)
            .map(|_| ())
            .map_err(|why| {
                Refusal::new(
                    "timestamp",
                    format!("RFC 3161 timestamp {i} in timestampVerificationData: {why}"),
                )
            })?;
    }
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
    let b: B = serde_json::from_slice(bundle_json).ok()?;
    let st: Subjects = serde_json::from_slice(&B64.decode(b.dsse?.payload).ok()?).ok()?;
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
