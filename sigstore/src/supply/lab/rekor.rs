//! Lab Rekor: an append-only in-memory log (saveable to a file) that issues SignedEntryTimestamps,
//! RFC 6962 inclusion proofs and signed checkpoints, with an ECDSA P-256 key.

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::supply::lab::error::{LabError, Result, json_err};
use crate::supply::lab::keys::LabKey;

/// One logged entry as a client sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub log_index: i64,
    pub integrated_time: i64,
    /// Hex sha256 of the Rekor public key DER.
    pub log_id: String,
    /// Canonicalized entry body (JSON bytes), as Rekor stores it.
    #[serde(with = "b64_bytes")]
    pub body: Vec<u8>,
    /// The SignedEntryTimestamp (DER ECDSA signature).
    #[serde(with = "b64_bytes")]
    pub set: Vec<u8>,
}

mod b64_bytes {
    use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(s).map_err(serde::de::Error::custom)
    }
}

impl LogEntry {
    /// The cosign `dev.sigstore.cosign/bundle` annotation:
    /// `{"SignedEntryTimestamp":..,"Payload":{"body","integratedTime","logIndex","logID"}}`.
    pub fn cosign_bundle_annotation(&self) -> Result<String> {
        let v = json!({
            "SignedEntryTimestamp": B64.encode(&self.set),
            "Payload": {
                "body": B64.encode(&self.body),
                "integratedTime": self.integrated_time,
                "logIndex": self.log_index,
                "logID": self.log_id,
            }
        });
        serde_json::to_string(&v).map_err(json_err("cosign bundle annotation"))
    }
}

/// An inclusion proof with a signed checkpoint, in Sigstore bundle terms.
#[derive(Clone, Debug)]
pub struct Inclusion {
    pub log_index: i64,
    pub tree_size: i64,
    pub root_hash: [u8; 32],
    pub hashes: Vec<[u8; 32]>,
    /// Signed note: "<origin>\n<size>\n<b64 root>\n\n— <name> <b64(keyhint|sig)>\n".
    pub checkpoint: String,
}

pub struct LabRekor {
    key: LabKey,
    tree_id: u64,
    entries: Vec<LogEntry>,
}

pub const REKOR_ORIGIN_NAME: &str = "rekor.lab.trustswap.invalid";

/// RFC 6962 leaf hash.
fn leaf_hash(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

fn node_hash(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

fn split_point(n: usize) -> usize {
    // Largest power of two strictly smaller than n (n >= 2).
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 6962 Merkle tree hash over leaf hashes.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split_point(n);
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// RFC 6962 audit path for leaf `m`.
fn path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split_point(n);
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

impl LabRekor {
    pub fn new(seed: u64) -> Result<Self> {
        let key = LabKey::derive(seed, "rekor")?;
        let tree_id = u64::from_be_bytes(key.key_id()[..8].try_into().unwrap_or([0; 8])) >> 1;
        Ok(Self {
            key,
            tree_id,
            entries: Vec::new(),
        })
    }

    pub fn key(&self) -> &LabKey {
        &self.key
    }

    pub fn log_id_hex(&self) -> String {
        hex::encode(self.key.key_id())
    }

    pub fn entries(&self) -> &[LogEntry] {
        &self.entries
    }

    /// Append an entry body (canonicalized here) at `integrated_time`; returns the entry with
    /// its SET = signature over canonical JSON {body, integratedTime, logID, logIndex}.
    pub fn append(&mut self, body: &serde_json::Value, integrated_time: i64) -> Result<LogEntry> {
        let canon = |what: &str, v: &serde_json::Value| {
            serde_json_canonicalizer::to_vec(v).map_err(|e| LabError::Canonical {
                what: what.to_owned(),
                reason: e.to_string(),
            })
        };
        let body = canon("rekor entry body", body)?;
        let log_index = self.entries.len() as i64;
        let log_id = self.log_id_hex();
        let set_payload = json!({
            "body": B64.encode(&body),
            "integratedTime": integrated_time,
            "logIndex": log_index,
            "logID": log_id,
        });
        let set = self
            .key
            .sign(&canon("signed entry timestamp", &set_payload)?);
        let e = LogEntry {
            log_index,
            integrated_time,
            log_id,
            body,
            set,
        };
        self.entries.push(e.clone());
        Ok(e)
    }

    /// Inclusion proof of `index` in the tree of the current size, with a checkpoint for it.
    pub fn inclusion(&self, index: i64) -> Result<Inclusion> {
        let size = self.entries.len();
        let idx =
            usize::try_from(index)
                .ok()
                .filter(|i| *i < size)
                .ok_or(LabError::NoSuchLogEntry {
                    index: index.max(0) as u64,
                    size: size as u64,
                })?;
        let leaves: Vec<[u8; 32]> = self.entries.iter().map(|e| leaf_hash(&e.body)).collect();
        let root = mth(&leaves);
        let note = format!(
            "{REKOR_ORIGIN_NAME} - {}\n{size}\n{}\n",
            self.tree_id,
            B64.encode(root)
        );
        let sig = self.key.sign(note.as_bytes());
        let mut hint_sig = self.key.key_id()[..4].to_vec();
        hint_sig.extend_from_slice(&sig);
        let checkpoint = format!(
            "{note}\n\u{2014} {REKOR_ORIGIN_NAME} {}\n",
            B64.encode(hint_sig)
        );
        Ok(Inclusion {
            log_index: index,
            tree_size: size as i64,
            root_hash: root,
            hashes: path(idx, &leaves),
            checkpoint,
        })
    }

    /// Save the log (entries only; no private key) as pretty JSON.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.entries).map_err(json_err("rekor log"))?;
        std::fs::write(path, bytes).map_err(|source| LabError::Io {
            path: path.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merkle_paths_recompute_root() {
        let leaves: Vec<[u8; 32]> = (0u8..7).map(|i| leaf_hash(&[i])).collect();
        let root = mth(&leaves);
        for m in 0..leaves.len() {
            // Recompute root from path (RFC 9162 2.1.3.2 algorithm).
            let p = path(m, &leaves);
            let (mut fnode, mut snode) = (m, leaves.len() - 1);
            let mut r = leaves[m];
            for h in &p {
                if fnode & 1 == 1 || fnode == snode {
                    r = node_hash(h, &r);
                    while fnode & 1 == 0 && fnode != 0 {
                        fnode >>= 1;
                        snode >>= 1;
                    }
                } else {
                    r = node_hash(&r, h);
                }
                fnode >>= 1;
                snode >>= 1;
            }
            assert_eq!(r, root, "leaf {m}");
        }
    }
}
