//! Cosign-shaped signing into an ocilab layout: legacy `.sig`, legacy `.att` (DSSE) and
//! Sigstore bundle v0.3 referrers (domain.md section 3).

use std::collections::BTreeMap;

use crate::supply::oci::spec::{MEDIA_TYPE_IMAGE_CONFIG, MEDIA_TYPE_IMAGE_MANIFEST};
use crate::supply::oci::{Descriptor, Digest, Document, ImageManifest, Layout};
use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::supply::lab::ca::{CtLog, Identity, LabCa, Leaf, pem_cert};
use crate::supply::lab::error::{LabError, Result, json_err, layout_err};
use crate::supply::lab::keys::LabKey;
use crate::supply::lab::rekor::{LabRekor, LogEntry};

// The wire names are shared with the verifier (`trustswap_model::wire`).
pub use trustswap_model::wire::{
    BUNDLE_CONTENT_ANNOTATION as ANN_BUNDLE_CONTENT,
    BUNDLE_PREDICATE_TYPE_ANNOTATION as ANN_BUNDLE_PREDICATE_TYPE, BUNDLE_V03_MEDIA_TYPE,
    COSIGN_BUNDLE_ANNOTATION as ANN_BUNDLE, COSIGN_CERTIFICATE_ANNOTATION as ANN_CERT,
    COSIGN_CHAIN_ANNOTATION as ANN_CHAIN, COSIGN_SIGN_PREDICATE_TYPE,
    COSIGN_SIGNATURE_ANNOTATION as ANN_SIGNATURE, DSSE_MEDIA_TYPE,
    INTOTO_PAYLOAD_TYPE as IN_TOTO_PAYLOAD_TYPE, PREDICATE_TYPE_ANNOTATION as ANN_PREDICATE_TYPE,
    SIMPLESIGNING_MEDIA_TYPE, cosign_tag,
};

/// The image being signed and where its signatures go.
#[derive(Clone, Debug)]
pub struct Target {
    /// Image repository, used as `docker-reference` and statement subject name.
    pub repository: String,
    pub manifest: Descriptor,
    /// Repository holding `.sig`/`.att` tags (the image repository unless overridden, e.g.
    /// DHI's `registry.scout.docker.com/docker/dhi-<name>`).
    pub signature_repository: String,
}

impl Target {
    pub fn digest(&self) -> &Digest {
        &self.manifest.digest
    }
    pub fn sig_tag(&self) -> String {
        format!(
            "{}:{}",
            self.signature_repository,
            cosign_tag(&self.manifest.digest.to_string(), "sig")
        )
    }
    pub fn att_tag(&self) -> String {
        format!(
            "{}:{}",
            self.signature_repository,
            cosign_tag(&self.manifest.digest.to_string(), "att")
        )
    }
}

/// Who signs.
#[derive(Clone, Copy, Debug)]
pub enum Signer<'a> {
    /// Key-based (cosign `--key`), e.g. DHI.
    Key(&'a LabKey),
    /// Keyless: a Fulcio-like leaf from `ca` for `identity`. `ct` embeds an SCT.
    Keyless {
        ca: &'a LabCa,
        identity: &'a Identity,
        ct: Option<&'a CtLog>,
    },
}

/// Signing options.
#[derive(Clone, Debug)]
pub struct SignOptions {
    /// Unix time of signing (Rekor integratedTime; the leaf starts 5 s before).
    pub signed_at: i64,
    /// Upload to the lab Rekor and attach the SET bundle.
    pub tlog: bool,
    /// Change the payload after signing (the signature no longer matches).
    pub tamper_payload: bool,
    /// Distinguishes leaf keys of otherwise identical signings.
    pub key_label: String,
}

struct Material {
    key: LabKey,
    leaf: Option<Leaf>,
    chain_pem: Option<String>,
}

fn material(signer: Signer<'_>, opts: &SignOptions) -> Result<Material> {
    match signer {
        Signer::Key(k) => Ok(Material {
            key: k.clone(),
            leaf: None,
            chain_pem: None,
        }),
        Signer::Keyless { ca, identity, ct } => {
            let leaf = ca.issue_leaf(identity, &opts.key_label, opts.signed_at - 5, ct)?;
            Ok(Material {
                key: leaf.key.clone(),
                chain_pem: Some(ca.chain_pem()?),
                leaf: Some(leaf),
            })
        }
    }
}

impl Material {
    /// PEM of what Rekor records as the verifier: the leaf certificate or the public key.
    fn verifier_pem(&self) -> Result<String> {
        match &self.leaf {
            Some(l) => pem_cert(&l.cert_der),
            None => self.key.public_pem(),
        }
    }

    fn cosign_annotations(
        &self,
        signature_b64: String,
        entry: Option<&LogEntry>,
    ) -> Result<BTreeMap<String, String>> {
        let mut a = BTreeMap::new();
        a.insert(ANN_SIGNATURE.to_owned(), signature_b64);
        if let Some(l) = &self.leaf {
            a.insert(ANN_CERT.to_owned(), pem_cert(&l.cert_der)?);
        }
        if let Some(c) = &self.chain_pem {
            a.insert(ANN_CHAIN.to_owned(), c.clone());
        }
        if let Some(e) = entry {
            a.insert(ANN_BUNDLE.to_owned(), e.cosign_bundle_annotation()?);
        }
        Ok(a)
    }
}

#[derive(Serialize)]
struct SimpleSigning<'a> {
    critical: Critical<'a>,
    optional: Option<BTreeMap<String, String>>,
}
#[derive(Serialize)]
struct Critical<'a> {
    identity: DockerIdentity<'a>,
    image: DockerImage,
    #[serde(rename = "type")]
    type_: &'static str,
}
#[derive(Serialize)]
struct DockerIdentity<'a> {
    #[serde(rename = "docker-reference")]
    docker_reference: &'a str,
}
#[derive(Serialize)]
struct DockerImage {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// The simplesigning payload bytes cosign signs.
pub fn simplesigning_payload(docker_reference: &str, digest: &Digest) -> Result<Vec<u8>> {
    let p = SimpleSigning {
        critical: Critical {
            identity: DockerIdentity { docker_reference },
            image: DockerImage {
                docker_manifest_digest: digest.to_string(),
            },
            type_: "cosign container image signature",
        },
        optional: None,
    };
    serde_json::to_vec(&p).map_err(json_err("simplesigning payload"))
}

fn hashedrekord_body(sig: &[u8], payload_sha256: &[u8], verifier_pem: &str) -> serde_json::Value {
    json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": { "hash": { "algorithm": "sha256", "value": hex::encode(payload_sha256) } },
            "signature": { "content": B64.encode(sig), "publicKey": { "content": B64.encode(verifier_pem) } }
        }
    })
}

/// Append one layer to the cosign signature/attestation manifest at `tag` (creating it).
fn append_cosign_layer(
    layout: &mut Layout,
    tag: &str,
    media_type: &str,
    payload: &[u8],
    annotations: BTreeMap<String, String>,
) -> Result<Descriptor> {
    let mut layers = match layout.resolve(tag) {
        Ok(d) => match layout.get_manifest(&d).map_err(layout_err(tag))? {
            Document::Manifest(m) => m.layers,
            Document::Index(_) => {
                return Err(LabError::SignatureManifest {
                    what: tag.to_owned(),
                    reason: "tag points at an index".into(),
                });
            }
        },
        Err(_) => Vec::new(),
    };
    layout.put_blob(payload).map_err(layout_err(tag))?;
    let mut layer = Descriptor::for_bytes(media_type, payload);
    layer.annotations = annotations;
    layers.push(layer);
    // cosign's config: one diff_id per layer, zero times.
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest.to_string()).collect();
    let config = json!({
        "architecture": "",
        "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": [{ "created": "0001-01-01T00:00:00Z" }],
        "os": "",
        "rootfs": { "type": "layers", "diff_ids": diff_ids }
    });
    let config_bytes = serde_json::to_vec(&config).map_err(json_err("cosign config"))?;
    layout.put_blob(&config_bytes).map_err(layout_err(tag))?;
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_IMAGE_MANIFEST.to_owned()),
        artifact_type: None,
        config: Descriptor::for_bytes(MEDIA_TYPE_IMAGE_CONFIG, &config_bytes),
        layers,
        subject: None,
        annotations: BTreeMap::new(),
    };
    let bytes = serde_json::to_vec(&manifest).map_err(json_err("cosign manifest"))?;
    let desc = layout
        .put_manifest(MEDIA_TYPE_IMAGE_MANIFEST, &bytes)
        .map_err(layout_err(tag))?;
    layout.tag(tag, &desc).map_err(layout_err(tag))?;
    Ok(desc)
}

/// What a signing step produced (for reports; never private material).
#[derive(Clone, Debug, Serialize)]
pub struct Published {
    pub tag_or_subject: String,
    pub manifest_digest: String,
    pub log_index: Option<i64>,
    pub sct_embedded: bool,
}

/// cosign `sign` (legacy storage): one simplesigning layer on `sha256-<hex>.sig`.
pub fn sign_legacy(
    layout: &mut Layout,
    rekor: &mut LabRekor,
    target: &Target,
    signer: Signer<'_>,
    opts: &SignOptions,
) -> Result<Published> {
    let m = material(signer, opts)?;
    let payload = simplesigning_payload(&target.repository, target.digest())?;
    let sig = m.key.sign(&payload);
    let entry = if opts.tlog {
        let body = hashedrekord_body(&sig, &Sha256::digest(&payload), &m.verifier_pem()?);
        Some(rekor.append(&body, opts.signed_at)?)
    } else {
        None
    };
    let stored_payload = if opts.tamper_payload {
        simplesigning_payload(&format!("{}-tampered", target.repository), target.digest())?
    } else {
        payload
    };
    let ann = m.cosign_annotations(B64.encode(&sig), entry.as_ref())?;
    let tag = target.sig_tag();
    let d = append_cosign_layer(layout, &tag, SIMPLESIGNING_MEDIA_TYPE, &stored_payload, ann)?;
    Ok(Published {
        tag_or_subject: tag,
        manifest_digest: d.digest.to_string(),
        log_index: entry.map(|e| e.log_index),
        sct_embedded: m.leaf.as_ref().is_some_and(|l| l.sct_embedded),
    })
}

/// An in-toto v1 statement about the image.
pub fn statement(
    target: &Target,
    predicate_type: &str,
    predicate: &serde_json::Value,
) -> Result<Vec<u8>> {
    let st = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{ "name": target.repository, "digest": { "sha256": target.digest().hex() } }],
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    serde_json::to_vec(&st).map_err(json_err("in-toto statement"))
}

pub use trustswap_model::wire::pae;

/// cosign `attest` (legacy storage): one DSSE layer on `sha256-<hex>.att`, logged as intoto/0.0.2.
pub fn attest_legacy(
    layout: &mut Layout,
    rekor: &mut LabRekor,
    target: &Target,
    signer: Signer<'_>,
    opts: &SignOptions,
    predicate_type: &str,
    predicate: &serde_json::Value,
) -> Result<Published> {
    let m = material(signer, opts)?;
    let payload = statement(target, predicate_type, predicate)?;
    let sig = m.key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, &payload));
    let stored_payload = if opts.tamper_payload {
        statement(target, predicate_type, &json!({ "tampered": true }))?
    } else {
        payload.clone()
    };
    let envelope = json!({
        "payloadType": IN_TOTO_PAYLOAD_TYPE,
        "payload": B64.encode(&stored_payload),
        "signatures": [{ "keyid": "", "sig": B64.encode(&sig) }],
    });
    let envelope_bytes = serde_json::to_vec(&envelope).map_err(json_err("dsse envelope"))?;
    let entry = if opts.tlog {
        let body = json!({
            "apiVersion": "0.0.2",
            "kind": "intoto",
            "spec": { "content": {
                "envelope": {
                    "payloadType": IN_TOTO_PAYLOAD_TYPE,
                    "signatures": [{ "publicKey": B64.encode(m.verifier_pem()?), "sig": B64.encode(B64.encode(&sig)) }]
                },
                "hash": { "algorithm": "sha256", "value": hex::encode(Sha256::digest(&envelope_bytes)) },
                "payloadHash": { "algorithm": "sha256", "value": hex::encode(Sha256::digest(&payload)) }
            }}
        });
        Some(rekor.append(&body, opts.signed_at)?)
    } else {
        None
    };
    // cosign leaves the signature annotation empty on attestation layers.
    let mut ann = m.cosign_annotations(String::new(), entry.as_ref())?;
    ann.insert(ANN_PREDICATE_TYPE.to_owned(), predicate_type.to_owned());
    let tag = target.att_tag();
    let d = append_cosign_layer(layout, &tag, DSSE_MEDIA_TYPE, &envelope_bytes, ann)?;
    Ok(Published {
        tag_or_subject: tag,
        manifest_digest: d.digest.to_string(),
        log_index: entry.map(|e| e.log_index),
        sct_embedded: m.leaf.as_ref().is_some_and(|l| l.sct_embedded),
    })
}

/// What a bundle carries.
#[derive(Clone, Debug)]
pub enum BundleContent<'a> {
    /// An image signature as cosign v3 writes it: DSSE over a
    /// `https://sigstore.dev/cosign/sign/v1` statement about the image.
    ImageSignature,
    /// A message signature over the image manifest bytes (digest = image
    /// digest): the shape `cosign sign-blob --bundle` writes for an artifact,
    /// which cosign v3 never attaches to an image (the fuzz bench's sample).
    MessageSignature,
    /// A DSSE in-toto attestation.
    Attestation {
        predicate_type: &'a str,
        predicate: &'a serde_json::Value,
    },
}

fn tlog_entry_json(e: &LogEntry, kind: &str, rekor: &LabRekor) -> Result<serde_json::Value> {
    let inc = rekor.inclusion(e.log_index)?;
    let log_id = hex::decode(&e.log_id).map_err(|err| LabError::SignatureManifest {
        what: "log id".into(),
        reason: err.to_string(),
    })?;
    Ok(json!({
        "logIndex": e.log_index.to_string(),
        "logId": { "keyId": B64.encode(log_id) },
        "kindVersion": { "kind": kind, "version": "0.0.1" },
        "integratedTime": e.integrated_time.to_string(),
        "inclusionPromise": { "signedEntryTimestamp": B64.encode(&e.set) },
        "inclusionProof": {
            "logIndex": inc.log_index.to_string(),
            "rootHash": B64.encode(inc.root_hash),
            "treeSize": inc.tree_size.to_string(),
            "hashes": inc.hashes.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
            "checkpoint": { "envelope": inc.checkpoint },
        },
        "canonicalizedBody": B64.encode(&e.body),
    }))
}

/// A Sigstore bundle v0.3 (keyless only), stored as an OCI 1.1 referrer of the image
/// (artifactType `application/vnd.dev.sigstore.bundle.v0.3+json`, empty config, one layer).
pub fn publish_bundle(
    layout: &mut Layout,
    rekor: &mut LabRekor,
    target: &Target,
    signer: Signer<'_>,
    opts: &SignOptions,
    content: BundleContent<'_>,
) -> Result<Published> {
    let m = material(signer, opts)?;
    let Some(leaf) = &m.leaf else {
        return Err(LabError::SignatureManifest {
            what: format!("bundle for {}", target.digest()),
            reason: "lab bundles are keyless only (sigstore 0.15 cannot verify public-key bundles)"
                .into(),
        });
    };
    let cert_pem = pem_cert(&leaf.cert_der)?;
    let mut ann = BTreeMap::new();
    // An image signature is what cosign v3 `sign` writes by default: a DSSE
    // envelope over an in-toto statement of predicate type
    // `https://sigstore.dev/cosign/sign/v1` with an empty predicate.
    let empty = json!({});
    let (content_json, entry, kind) = if let BundleContent::MessageSignature = content {
        let manifest_bytes = layout
            .get_blob(target.digest())
            .map_err(layout_err("image manifest"))?;
        let digest = Sha256::digest(&manifest_bytes);
        let sig = m.key.sign(&manifest_bytes);
        let e = rekor.append(&hashedrekord_body(&sig, &digest, &cert_pem), opts.signed_at)?;
        ann.insert(
            ANN_BUNDLE_CONTENT.to_owned(),
            "message-signature".to_owned(),
        );
        let c = json!({ "messageSignature": {
            "messageDigest": { "algorithm": "SHA2_256", "digest": B64.encode(digest) },
            "signature": B64.encode(&sig),
        }});
        (c, e, "hashedrekord")
    } else {
        use sigstore_protobuf_specs::io::intoto::{Envelope, Signature};
        let (predicate_type, predicate) = match content {
            BundleContent::Attestation {
                predicate_type,
                predicate,
            } => (predicate_type, predicate),
            _ => (COSIGN_SIGN_PREDICATE_TYPE, &empty),
        };
        let payload = statement(target, predicate_type, predicate)?;
        let sig = m.key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, &payload));
        let env = Envelope {
            payload: payload.clone(),
            payload_type: IN_TOTO_PAYLOAD_TYPE.to_owned(),
            signatures: vec![Signature {
                sig: sig.clone(),
                keyid: String::new(),
            }],
        };
        // envelopeHash as sigstore-rs 0.15 recomputes it: serde JSON of the proto envelope.
        let env_json = serde_json::to_vec(&env).map_err(json_err("dsse envelope"))?;
        let body = json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": { "algorithm": "sha256", "value": hex::encode(Sha256::digest(&env_json)) },
                "payloadHash": { "algorithm": "sha256", "value": hex::encode(Sha256::digest(&payload)) },
                "signatures": [{ "signature": B64.encode(&sig), "verifier": B64.encode(&cert_pem) }]
            }
        });
        let e = rekor.append(&body, opts.signed_at)?;
        ann.insert(ANN_BUNDLE_CONTENT.to_owned(), "dsse-envelope".to_owned());
        ann.insert(
            ANN_BUNDLE_PREDICATE_TYPE.to_owned(),
            predicate_type.to_owned(),
        );
        let c = json!({ "dsseEnvelope": serde_json::to_value(&env).map_err(json_err("dsse envelope"))? });
        (c, e, "dsse")
    };
    let mut bundle = json!({
        "mediaType": BUNDLE_V03_MEDIA_TYPE,
        "verificationMaterial": {
            "certificate": { "rawBytes": B64.encode(&leaf.cert_der) },
            "tlogEntries": [ tlog_entry_json(&entry, kind, rekor)? ],
        },
    });
    if let (Some(b), Some(c)) = (bundle.as_object_mut(), content_json.as_object()) {
        b.extend(c.clone());
    }
    let bytes = serde_json::to_vec(&bundle).map_err(json_err("sigstore bundle"))?;
    let d = layout
        .attach(
            &target.manifest,
            BUNDLE_V03_MEDIA_TYPE,
            &[(BUNDLE_V03_MEDIA_TYPE, &bytes)],
            ann,
        )
        .map_err(layout_err("bundle referrer"))?;
    Ok(Published {
        tag_or_subject: format!("{}@{}", target.repository, target.digest()),
        manifest_digest: d.digest.to_string(),
        log_index: Some(entry.log_index),
        sct_embedded: leaf.sct_embedded,
    })
}
