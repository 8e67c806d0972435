//! The lab's TUF repository. Kyverno's ImageValidatingPolicy takes its Sigstore
//! trust root through TUF (`tuf.mirror` + `tuf.root`) even when the policy
//! names roots, so the lab publishes its `trusted_root.json` as the one target
//! of a TUF repository of its own: a root key derived from the seed (Ed25519,
//! whose signatures are deterministic), consistent snapshots (as Sigstore's
//! repositories and clients use them), metadata that expires far after any
//! run. Built with AWS's `tough`; nothing is hand-signed here.
//!
//! Layout (the mirror's base URL serves this folder):
//! `root.json` (the trust anchor policies carry), `1.root.json`,
//! `timestamp.json`, `1.snapshot.json`, `1.targets.json`,
//! `targets/<sha256>.trusted_root.json`.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::path::Path;

use async_trait_shim::KeyBox;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tough::editor::RepositoryEditor;
use tough::editor::signed::{PathExists, SignedRole};
use tough::schema::{KeyHolder, RoleKeys, RoleType, Root};

use super::error::{LabError, Result};

/// The metadata's expiry: far beyond any run, as a lab's must be (real time
/// moves on; the lab's clock does not).
pub const EXPIRES: &str = "2099-01-01T00:00:00Z";

fn err(what: &str) -> impl FnOnce(String) -> LabError + '_ {
    move |reason| LabError::KeyEncoding {
        label: format!("tuf {what}"),
        reason,
    }
}

/// The lab TUF root key's PKCS#8 document, from the seed.
fn root_key_pkcs8(seed: u64) -> Result<Vec<u8>> {
    let mut h = Sha256::new();
    h.update(b"trustswap lab tuf root key\0");
    h.update(seed.to_be_bytes());
    let secret = h.finalize();
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&secret)
        .map_err(|e| err("root key")(e.to_string()))?;
    let doc = pair
        .to_pkcs8()
        .map_err(|e| err("root key")(e.to_string()))?;
    Ok(doc.as_ref().to_vec())
}

/// JSON with every object's keys sorted: deterministic bytes whatever the
/// hash maps' order.
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// Write the repository into `out` (created) for `trusted_root_json`; returns
/// the bytes of `root.json`.
pub fn write_repository(out: &Path, seed: u64, trusted_root_json: &[u8]) -> Result<Vec<u8>> {
    let rt = trustswap_io::runtime::shared().map_err(|e| LabError::Io {
        path: out.to_path_buf(),
        source: e,
    })?;
    rt.block_on(write_async(out, seed, trusted_root_json))
}

async fn write_async(out: &Path, seed: u64, trusted_root_json: &[u8]) -> Result<Vec<u8>> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LabError::Io { path, source }
    };
    let expires: jiff::Timestamp = EXPIRES
        .parse()
        .map_err(|e: jiff::Error| err("expiry")(e.to_string()))?;
    let pkcs8 = root_key_pkcs8(seed)?;
    let key = KeyBox(pkcs8);
    let signer = tough::sign::parse_keypair(&key.0).map_err(|e| err("root key")(e.to_string()))?;
    use tough::sign::Sign as _;
    let tuf_key = signer.tuf_key();
    let key_id = tuf_key.key_id().map_err(|e| err("key id")(e.to_string()))?;
    let one = NonZeroU64::MIN;
    let role = || RoleKeys {
        keyids: vec![key_id.clone()],
        threshold: one,
        _extra: HashMap::new(),
    };
    let root = Root {
        spec_version: "1.0.0".into(),
        consistent_snapshot: true,
        version: one,
        expires,
        keys: HashMap::from([(key_id.clone(), tuf_key)]),
        roles: HashMap::from([
            (RoleType::Root, role()),
            (RoleType::Snapshot, role()),
            (RoleType::Targets, role()),
            (RoleType::Timestamp, role()),
        ]),
        _extra: HashMap::new(),
    };
    let keys: Vec<Box<dyn tough::key_source::KeySource>> = vec![Box::new(key)];
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let signed = SignedRole::new(root.clone(), &KeyHolder::Root(root), &keys, &rng)
        .await
        .map_err(|e| err("root")(e.to_string()))?;
    let value =
        serde_json::to_value(signed.signed()).map_err(super::error::json_err("tuf root"))?;
    let mut root_bytes =
        serde_json::to_vec_pretty(&sorted(value)).map_err(super::error::json_err("tuf root"))?;
    root_bytes.push(b'\n');

    std::fs::create_dir_all(out).map_err(io(out))?;
    let root_path = out.join("root.json");
    std::fs::write(&root_path, &root_bytes).map_err(io(&root_path))?;
    let staging = out.join(".targets-in");
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    let target = staging.join("trusted_root.json");
    std::fs::write(&target, trusted_root_json).map_err(io(&target))?;

    let mut editor = RepositoryEditor::new(&root_path)
        .await
        .map_err(|e| err("editor")(e.to_string()))?;
    editor
        .snapshot_version(one)
        .snapshot_expires(expires)
        .timestamp_version(one)
        .timestamp_expires(expires)
        .targets_version(one)
        .map_err(|e| err("targets version")(e.to_string()))?
        .targets_expires(expires)
        .map_err(|e| err("targets expiry")(e.to_string()))?;
    editor
        .add_target_path(&target)
        .await
        .map_err(|e| err("target")(e.to_string()))?;
    let repo = editor
        .sign(&keys)
        .await
        .map_err(|e| err("repository")(e.to_string()))?;
    repo.write(out)
        .await
        .map_err(|e| err("metadata")(e.to_string()))?;
    repo.copy_targets(&staging, out.join("targets"), PathExists::Replace)
        .await
        .map_err(|e| err("targets")(e.to_string()))?;
    std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    Ok(root_bytes)
}

/// A key held in memory, handed to `tough` as a key source.
mod async_trait_shim {
    use tough::key_source::KeySource;
    use tough::sign::Sign;

    pub struct KeyBox(pub Vec<u8>);

    impl std::fmt::Debug for KeyBox {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("KeyBox(lab tuf root key)")
        }
    }

    type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

    #[async_trait::async_trait]
    impl KeySource for KeyBox {
        async fn as_sign(&self) -> Result<Box<dyn Sign>, BoxError> {
            let k = tough::sign::parse_keypair(&self.0)?;
            Ok(Box::new(k))
        }

        async fn write(&self, _value: &str, _key_id_hex: &str) -> Result<(), BoxError> {
            Err("the lab TUF key is never written".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_is_deterministic_per_seed_and_serves_the_trusted_root() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let tr = br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#;
        let ra = write_repository(a.path(), 7, tr).unwrap();
        let rb = write_repository(b.path(), 7, tr).unwrap();
        assert_eq!(ra, rb);
        for f in [
            "root.json",
            "1.root.json",
            "timestamp.json",
            "1.snapshot.json",
            "1.targets.json",
        ] {
            assert_eq!(
                std::fs::read(a.path().join(f)).unwrap(),
                std::fs::read(b.path().join(f)).unwrap(),
                "{f}"
            );
        }
        let digest = hex::encode(Sha256::digest(tr));
        let target = a.path().join(format!("targets/{digest}.trusted_root.json"));
        assert_eq!(std::fs::read(target).unwrap(), tr);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(write_repository(other.path(), 8, tr).unwrap(), ra);
    }
}
