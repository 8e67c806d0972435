//! Transparency-log entries of a Sigstore bundle, verified offline against
//! the trusted root's Rekor logs, as sigstore-go v1.3.0 `verify/tlog.go`
//! `VerifyTlogEntry` does:
//!
//! - **Rekor v1** entries (`hashedrekord` and `dsse` 0.0.1, `intoto` 0.0.2):
//!   the signed entry timestamp (SET) with the log key valid at the entry's
//!   integrated time, the inclusion proof against a checkpoint the log signed,
//!   and the logged body read back: its signature, its certificate or key, and
//!   its artifact digest or DSSE payload hash must be the bundle's;
//! - **Rekor v2** entries (`hashedrekord` 0.0.2, for message signatures and
//!   for DSSE envelopes alike): no integrated time and no SET; the entry is
//!   rebuilt from the bundle (sigstore-go `reconstructV2EntryHash`, rekor-tiles
//!   `hashedrekord.ToEntryHash`) and proved by the inclusion proof against a
//!   checkpoint signed under the log's host name (rekor-tiles `note`:
//!   Ed25519 keys hashed with the name, ECDSA keys by their DER key).
//!
//! The SET, checkpoint and Merkle proof are checked with the `sigstore`
//! crate's key and proof types.
use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use sha2::{Digest as _, Sha256};
use sigstore::crypto::{CosignVerificationKey, Signature};
use sigstore::rekor::models::InclusionProof;
use sigstore::rekor::models::checkpoint::SignedCheckpoint;
use sigstore_protobuf_specs::dev::sigstore::rekor::v1::TransparencyLogEntry;

use crate::verify::keys::{KeyKind, PublicKey};
use crate::verify::refusal::{Refusal, RefuseExt};
use crate::verify::trust::TrustMaterial;

/// What the bundle says was logged: the signature, the signer's certificate
/// or key, and what was signed.
pub struct Logged<'a> {
    pub signature: &'a [u8],
    /// The leaf certificate's DER, or `None` for a public-key bundle.
    pub cert_der: Option<&'a [u8]>,
    pub key: &'a PublicKey,
    pub content: LoggedContent<'a>,
}

pub enum LoggedContent<'a> {
    /// A message signature over the artifact's SHA-256 digest.
    Message { sha256: &'a [u8] },
    /// A DSSE envelope: its payload type and (decoded) payload.
    Envelope {
        payload_type: &'a str,
        payload: &'a [u8],
    },
}

/// What one verified entry proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryProof {
    /// The entry's integrated time, when it has one (Rekor v1).
    pub integrated_time: Option<i64>,
    /// The integrated time is signed (a verified SET): it dates the signature.
    pub signed_time: bool,
    /// A Rekor v2 log key's validity window, which every time that dates
    /// the signature must lie in (Rekor v1 keys are checked at the
    /// integrated time).
    pub key_window: Option<(Option<i64>, Option<i64>)>,
}

/// Is this entry of a Rekor v2 log (rekor-tiles entry types)?
pub fn is_v2(entry: &TransparencyLogEntry) -> bool {
    entry.kind_version.as_ref().is_some_and(|kv| {
        matches!(kv.kind.as_str(), "hashedrekord" | "dsse") && kv.version == "0.0.2"
    })
}

/// Verify one entry whose log is in `trust` (the caller skips others).
/// `promise_required`: a v0.1 bundle must carry a SET; later versions must
/// carry an inclusion proof.
pub fn verify_entry(
    entry: &TransparencyLogEntry,
    logged: &Logged<'_>,
    trust: &TrustMaterial,
    now: i64,
    promise_required: bool,
) -> Result<EntryProof, Refusal> {
    if entry.log_index < 0 {
        return Err(Refusal::new("tlog", "negative logIndex"));
    }
    let log_id = hex::encode(&entry.log_id.as_ref().refuse_ctx("tlog", "no logId")?.key_id);
    if is_v2(entry) {
        return verify_v2(entry, &log_id, logged, trust);
    }
    let t = entry.integrated_time;
    if t <= 0 || t > now + 60 {
        return Err(Refusal::new(
            "tlog",
            format!("integratedTime {t} missing or in the future"),
        ));
    }
    let key = trust.rekor_key_at(&log_id, t)?;
    let (promise, proof) = (
        entry.inclusion_promise.as_ref(),
        entry.inclusion_proof.as_ref(),
    );
    match (promise, proof) {
        (None, None) => {
            return Err(Refusal::new(
                "tlog",
                "the entry carries neither an inclusion promise (SET) nor an inclusion proof",
            ));
        }
        (None, _) if promise_required => {
            return Err(Refusal::new(
                "tlog",
                "a v0.1 bundle's entry must carry an inclusion promise (SET)",
            ));
        }
        (_, None) if !promise_required => {
            return Err(Refusal::new(
                "tlog",
                "a v0.2 or later bundle's entry must carry an inclusion proof",
            ));
        }
        _ => {}
    }
    if let Some(promise) = promise {
        // SET: signature over canonical JSON {body, integratedTime, logIndex, logID}.
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
    }
    // Inclusion proof + checkpoint, when present: a proof without a
    // checkpoint has an unauthenticated root, and sigstore-go refuses it
    // (`hasRekorV1STH` is false, so the entry is read as Rekor v2's).
    if let Some(p) = proof.filter(|p| p.checkpoint.is_none()) {
        // A v0.1 bundle's proof may predate checkpoints (sigstore-python
        // accepts them): the SET signs the entry, and the path must still
        // lead to the root the proof names. Later bundles need the checkpoint.
        if !promise_required {
            return Err(Refusal::new(
                "tlog",
                "the inclusion proof carries no checkpoint: its root hash is signed by nobody",
            ));
        }
        check_merkle_path(p, &entry.canonicalized_body)?;
    }
    if let Some((p, cp)) = proof.and_then(|p| Some((p, p.checkpoint.as_ref()?))) {
        let spki = &trust
            .rekor_log(&log_id)
            .refuse_ctx("tlog", "no trusted Rekor key")?
            .spki_der;
        let cp = check_checkpoint(&cp.envelope, &key, NoteSigner::RekorV1 { spki_der: spki })?;
        prove_inclusion(p.log_index, p, cp, &entry.canonicalized_body, &key)?;
    }
    check_v1_body(entry, logged)?;
    Ok(EntryProof {
        integrated_time: Some(t),
        signed_time: promise.is_some(),
        key_window: None,
    })
}

/// Prove `leaf` at `index` (Rekor v1: the proof's index in its shard; Rekor
/// v2: the entry's, as rekor-tiles `VerifyLogEntryWithHash` reads it).
fn prove_inclusion(
    index: i64,
    p: &sigstore_protobuf_specs::dev::sigstore::rekor::v1::InclusionProof,
    cp: SignedCheckpoint,
    leaf: &[u8],
    key: &CosignVerificationKey,
) -> Result<(), Refusal> {
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
    // The proof must be about the tree the log signed: its size and root
    // are the checkpoint's (rekor-tiles `VerifyInclusionProof` proves against
    // the checkpoint's). The crate's own tie is a consistency check, which an
    // empty signed tree satisfies for any proof.
    if size == 0 || cp.note.size != size || cp.note.hash != root {
        return Err(Refusal::new(
            "tlog",
            format!(
                "the inclusion proof's tree (size {size}) is not the checkpoint's (size {})",
                cp.note.size
            ),
        ));
    }
    InclusionProof::new(index, root, size, hashes, Some(cp))
        .verify(leaf, key)
        .refuse_ctx("tlog", "inclusion proof / checkpoint")
}

/// An RFC 9162 section 2.1.3.2 inclusion path from the leaf `entry` to the
/// proof's root hash (for a v0.1 proof without a checkpoint, whose root no
/// log signed: the SET is what vouches for the entry).
fn check_merkle_path(
    p: &sigstore_protobuf_specs::dev::sigstore::rekor::v1::InclusionProof,
    entry: &[u8],
) -> Result<(), Refusal> {
    let node = |l: &[u8], r: &[u8]| -> Vec<u8> {
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(l);
        h.update(r);
        h.finalize().to_vec()
    };
    let bad = || Refusal::new("tlog", "the inclusion proof does not lead to its root hash");
    let (index, size) = (
        u64::try_from(p.log_index).map_err(|_| bad())?,
        u64::try_from(p.tree_size).map_err(|_| bad())?,
    );
    if index >= size {
        return Err(bad());
    }
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    let mut r = h.finalize().to_vec();
    let (mut f, mut s) = (index, size - 1);
    for sibling in &p.hashes {
        if s == 0 {
            return Err(bad());
        }
        if f & 1 == 1 || f == s {
            r = node(sibling, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node(&r, sibling);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 || r != p.root_hash {
        return Err(bad());
    }
    Ok(())
}

/// The Rekor v1 body read back: its signature, signer and content must be the bundle's.
fn check_v1_body(entry: &TransparencyLogEntry, logged: &Logged<'_>) -> Result<(), Refusal> {
    let body: serde_json::Value = serde_json::from_slice(&entry.canonicalized_body)
        .refuse_ctx("tlog", "canonicalizedBody is not JSON")?;
    let s = |ptr: &str| -> Result<&str, Refusal> {
        body.pointer(ptr)
            .and_then(|v| v.as_str())
            .ok_or_else(|| Refusal::new("tlog", format!("the logged body has no {ptr}")))
    };
    let b64 = |ptr: &str| -> Result<Vec<u8>, Refusal> {
        B64.decode(s(ptr)?)
            .map_err(|_| Refusal::new("tlog", format!("the logged {ptr} is not base64")))
    };
    let kind = s("/kind")?;
    let version = s("/apiVersion")?;
    // (signature, signer PEM, hash the body names, what that hash must be)
    let (sig, pem_bytes, logged_hash, want): (Vec<u8>, Vec<u8>, String, Vec<u8>) =
        match ((kind, version), &logged.content) {
            (("hashedrekord", "0.0.1"), LoggedContent::Message { sha256 }) => {
                if s("/spec/data/hash/algorithm")? != "sha256" {
                    return Err(Refusal::new("tlog", "the logged hash is not SHA-256"));
                }
                (
                    b64("/spec/signature/content")?,
                    b64("/spec/signature/publicKey/content")?,
                    s("/spec/data/hash/value")?.to_owned(),
                    sha256.to_vec(),
                )
            }
            (("dsse", "0.0.1"), LoggedContent::Envelope { payload, .. }) => (
                b64("/spec/signatures/0/signature")?,
                b64("/spec/signatures/0/verifier")?,
                s("/spec/payloadHash/value")?.to_owned(),
                Sha256::digest(payload).to_vec(),
            ),
            (("intoto", "0.0.2"), LoggedContent::Envelope { payload, .. }) => {
                // intoto 0.0.2 encodes the envelope's signature twice.
                let once = b64("/spec/content/envelope/signatures/0/sig")?;
                let sig = B64.decode(&once).map_err(|_| {
                    Refusal::new("tlog", "the logged intoto signature is not base64")
                })?;
                (
                    sig,
                    b64("/spec/content/envelope/signatures/0/publicKey")?,
                    s("/spec/content/payloadHash/value")?.to_owned(),
                    Sha256::digest(payload).to_vec(),
                )
            }
            ((k, v), LoggedContent::Message { .. }) => {
                return Err(Refusal::new(
                    "tlog",
                    format!("a message signature logged as {k} {v}, not hashedrekord 0.0.1"),
                ));
            }
            ((k, v), LoggedContent::Envelope { .. }) => {
                return Err(Refusal::new(
                    "tlog",
                    format!("a DSSE envelope logged as {k} {v}, not dsse 0.0.1 or intoto 0.0.2"),
                ));
            }
        };
    if sig != logged.signature {
        return Err(Refusal::new(
            "tlog",
            "the logged signature is not the bundle's",
        ));
    }
    if hex::decode(&logged_hash).ok().as_deref() != Some(want.as_slice()) {
        return Err(Refusal::new(
            "tlog",
            format!(
                "the logged digest {logged_hash} is not the bundle's {}",
                hex::encode(&want)
            ),
        ));
    }
    let signer = pem::parse(&pem_bytes).refuse_ctx("tlog", "the logged signer is not PEM")?;
    let same = match (signer.tag(), logged.cert_der) {
        ("CERTIFICATE", Some(cert)) => signer.contents() == cert,
        ("PUBLIC KEY", None) => signer.contents() == logged.key.spki_der(),
        _ => false,
    };
    if !same {
        return Err(Refusal::new(
            "tlog",
            "the logged certificate or key is not the bundle's",
        ));
    }
    Ok(())
}

/// A Rekor v2 entry: rebuilt from the bundle and proved by its checkpoint.
fn verify_v2(
    entry: &TransparencyLogEntry,
    log_id: &str,
    logged: &Logged<'_>,
    trust: &TrustMaterial,
) -> Result<EntryProof, Refusal> {
    let kv = entry
        .kind_version
        .as_ref()
        .refuse_ctx("tlog", "no kindVersion")?;
    if kv.kind != "hashedrekord" {
        return Err(Refusal::unsupported(
            "tlog",
            format!(
                "a Rekor v2 {} {} entry (sigstore-go v1.3.0 verifies hashedrekord 0.0.2 only)",
                kv.kind, kv.version
            ),
        ));
    }
    if entry.inclusion_promise.is_some() {
        // sigstore-go skips such an entry: its SET cannot verify.
        return Err(Refusal::new(
            "tlog",
            "a Rekor v2 entry carries an inclusion promise (SET), which Rekor v2 never signs",
        ));
    }
    let proof = entry
        .inclusion_proof
        .as_ref()
        .ok_or_else(|| Refusal::new("tlog", "a Rekor v2 entry must carry an inclusion proof"))?;
    let cp = proof
        .checkpoint
        .as_ref()
        .refuse_ctx("tlog", "the inclusion proof carries no checkpoint")?;
    let log = trust
        .rekor_log(log_id)
        .refuse_ctx("tlog", "no trusted Rekor key")?;
    let base = log.base_url.as_deref().ok_or_else(|| {
        Refusal::new(
            "tlog",
            "a Rekor v2 entry needs the log's baseUrl in the trusted root",
        )
    })?;
    let name = url::Url::parse(base)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .ok_or_else(|| Refusal::new("tlog", format!("the log's baseUrl {base:?} has no host")))?;
    if log.valid_from.is_none() {
        return Err(Refusal::new(
            "tlog",
            "the trusted root's key for this log has no validFor start (a malformed trust root)",
        ));
    }
    let log_key = PublicKey::from_spki_der(&log.spki_der)?;
    let key = CosignVerificationKey::try_from_der(&log.spki_der).refuse_ctx("tlog", "Rekor key")?;
    let hint = note_key_hint(&name, &log_key);
    let cp = check_checkpoint(
        &cp.envelope,
        &key,
        NoteSigner::RekorV2 { name: &name, hint },
    )?;
    let rebuilt = rebuild_v2_hashedrekord(logged)?;
    if entry.canonicalized_body != rebuilt {
        return Err(Refusal::new(
            "tlog",
            "the logged Rekor v2 entry is not this bundle's signature, digest and signer",
        ));
    }
    prove_inclusion(entry.log_index, proof, cp, &rebuilt, &key)?;
    Ok(EntryProof {
        integrated_time: None,
        signed_time: false,
        key_window: Some((log.valid_from, log.valid_to)),
    })
}

/// The canonical JSON of the `hashedrekord` 0.0.2 entry the bundle's
/// signature makes (rekor-tiles `hashedrekord.ToEntryHash`).
fn rebuild_v2_hashedrekord(logged: &Logged<'_>) -> Result<Vec<u8>, Refusal> {
    let hash = logged
        .key
        .default_hash()
        .unwrap_or(crate::verify::keys::Hash::Sha512);
    let digest = match &logged.content {
        LoggedContent::Message { sha256 } => sha256.to_vec(),
        LoggedContent::Envelope {
            payload_type,
            payload,
        } => hash.digest(&crate::verify::dsse::pae(payload_type, payload)),
    };
    let mut verifier = serde_json::Map::new();
    match logged.cert_der {
        Some(cert) => verifier.insert(
            "x509Certificate".into(),
            serde_json::json!({ "rawBytes": B64.encode(cert) }),
        ),
        None => verifier.insert(
            "publicKey".into(),
            serde_json::json!({ "rawBytes": B64.encode(logged.key.spki_der()) }),
        ),
    };
    verifier.insert("keyDetails".into(), logged.key.key_details()?.into());
    let entry = serde_json::json!({
        "apiVersion": "0.0.2",
        "kind": "hashedrekord",
        "spec": { "hashedRekordV002": {
            "data": { "algorithm": hash.proto_name(), "digest": B64.encode(&digest) },
            "signature": { "content": B64.encode(logged.signature), "verifier": verifier },
        } },
    });
    serde_json_canonicalizer::to_vec(&entry).refuse_ctx("tlog", "canonicalize the Rekor v2 entry")
}

/// The signer of a checkpoint: a Rekor v1 log (named by the checkpoint's
/// origin) or a Rekor v2 log (named by its host).
pub enum NoteSigner<'a> {
    RekorV1 { spki_der: &'a [u8] },
    RekorV2 { name: &'a str, hint: [u8; 4] },
}

/// The 4-byte key hint a signed note carries (rekor-tiles `note.KeyHash`):
/// SHA-256 over `name \n 0x01 key` for Ed25519, over `name \n 0xff
/// "PKIX-RSA-PKCS#1v1.5" key` for RSA, and over the DER key for ECDSA.
pub fn note_key_hint(name: &str, key: &PublicKey) -> [u8; 4] {
    let mut h = Sha256::new();
    match key.kind {
        KeyKind::Ed25519 => {
            h.update(name.as_bytes());
            h.update(b"\n\x01");
            h.update(key.raw());
        }
        KeyKind::Rsa => {
            h.update(name.as_bytes());
            h.update(b"\n\xffPKIX-RSA-PKCS#1v1.5");
            h.update(key.spki_der());
        }
        _ => h.update(key.spki_der()),
    }
    let sum = h.finalize();
    [sum[0], sum[1], sum[2], sum[3]]
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
/// The log's name: for Rekor v1 ([`NoteSigner::RekorV1`]) the origin, or for an
/// origin `<name> - <tree id>` the name before the tree id, and the key hint
/// is the first 4 bytes of the SHA-256 of the key's DER
/// SubjectPublicKeyInfo (its log id); for Rekor v2 the host name of the
/// log's `baseUrl`, which must be the origin, and the hint of
/// [`note_key_hint`]. Only the log's first signature line is verified: later
/// ones by the same name and hint are dropped, as x/mod `note.Open` drops them.
fn check_checkpoint(
    envelope: &str,
    key: &CosignVerificationKey,
    log: NoteSigner<'_>,
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

    if sig_lines.split('\n').count() > 100 {
        return Err(bad("more than 100 signatures"));
    }
    let (name, hint) = match log {
        NoteSigner::RekorV1 { spki_der } => {
            let name = match origin.split_once(" - ") {
                Some((name, tree))
                    if !tree.is_empty() && tree.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    name
                }
                _ => origin,
            };
            let hint: [u8; 4] = Sha256::digest(spki_der)[..4]
                .try_into()
                .refuse_ctx("checkpoint", "key hint")?;
            (name, hint)
        }
        NoteSigner::RekorV2 { name, hint } => {
            if origin != name {
                return Err(Refusal::new(
                    "checkpoint",
                    format!("the checkpoint's origin {origin:?} is not the log {name:?}"),
                ));
            }
            (name, hint)
        }
    };
    let mut ours: Vec<CheckpointSignature> = signatures
        .into_iter()
        .filter(|s| s.name == name && s.key_fingerprint == hint)
        .collect();
    // Repeated signatures by the log are dropped after the first (x/mod
    // `note.Open`: "Drop repeated signatures by a single verifier").
    ours.truncate(1);
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
