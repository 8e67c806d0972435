//! The lab Sigstore: CAs, CT log, Rekor and vendor keys, all derived from one seed, with a fixed
//! clock. Exports a `trusted_root.json` and a lab folder of keys.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use crate::supply::lab::ca::{CtLog, LabCa};
use crate::supply::lab::error::{LabError, Result};
use crate::supply::lab::keys::LabKey;
use crate::supply::lab::rekor::LabRekor;
use crate::supply::lab::trustroot::{CaWindow, LogWindow, trusted_root_json};

const DAY: i64 = 86_400;
const YEAR: i64 = 365 * DAY;

/// Lab inputs. Everything derives from these; the wall clock is never read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LabConfig {
    pub seed: u64,
    /// The lab's "now" (unix seconds): verification time; signing happens 10 minutes earlier.
    pub now: i64,
}

/// What the exported trust root asks of verifiers. Reports must show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LabTrustConfig {
    /// `true`: every lab leaf carries an embedded SCT from the lab CT log, whose key is in the
    /// trusted root, so verifiers keep SCT checking ON. (`false` would mean Kyverno
    /// `ctlog.insecureIgnoreSCT: true`; the lab never produces that.)
    pub sct: bool,
    /// `true`: keyless signatures and attestations carry a lab Rekor SET (and bundles an
    /// inclusion proof + checkpoint). Key-based (DHI-style) signatures have no tlog entry, so
    /// their policies need `rekor.ignoreTlog: true` / `--insecure-ignore-tlog`.
    pub tlog_keyless: bool,
}

pub struct Lab {
    pub config: LabConfig,
    pub trust: LabTrustConfig,
    /// The active Fulcio-like CA (trusted from now-1y, open-ended).
    pub ca: LabCa,
    /// A retired CA: still in the trusted root, but its `validFor` ended 1 year ago.
    pub retired_ca: LabCa,
    /// A CA that is NOT in the trusted root (another lab).
    pub foreign_ca: LabCa,
    pub ct: CtLog,
    pub rekor: LabRekor,
    /// DHI-style active key ("dhi-2") and retired key ("dhi-1").
    pub dhi_active: LabKey,
    pub dhi_rotated: LabKey,
    /// A key published under a look-alike keyring (not trusted anywhere).
    pub impostor_key: LabKey,
}

pub const REKOR_URL: &str = "https://rekor.lab.trustswap.invalid";
pub const CT_URL: &str = "https://ctfe.lab.trustswap.invalid/lab";

impl Lab {
    /// A key-based vendor's lab keys, active and rotated: DHI's "dhi-2" and
    /// "dhi-1", or a pair derived from any other vendor's name.
    pub fn vendor_keys(&self, vendor: &str) -> Result<(LabKey, LabKey)> {
        if vendor == "dhi" {
            return Ok((self.dhi_active.clone(), self.dhi_rotated.clone()));
        }
        let seed = self.config.seed;
        Ok((
            LabKey::derive(seed, &format!("vendor/{vendor}/active"))?,
            LabKey::derive(seed, &format!("vendor/{vendor}/rotated"))?,
        ))
    }

    pub fn new(config: LabConfig) -> Result<Self> {
        let (seed, now) = (config.seed, config.now);
        Ok(Self {
            config,
            trust: LabTrustConfig {
                sct: true,
                tlog_keyless: true,
            },
            ca: LabCa::new(seed, "lab", now - YEAR, now + 10 * YEAR)?,
            retired_ca: LabCa::new(seed, "retired", now - 3 * YEAR, now + 10 * YEAR)?,
            foreign_ca: LabCa::new(seed ^ 0x5eed_f00d, "lab", now - YEAR, now + 10 * YEAR)?,
            ct: CtLog::new(seed, "lab")?,
            rekor: LabRekor::new(seed)?,
            dhi_active: LabKey::derive(seed, "vendor/dhi/dhi-2")?,
            dhi_rotated: LabKey::derive(seed, "vendor/dhi/dhi-1")?,
            impostor_key: LabKey::derive(seed, "vendor/dhi-lookalike/dhi-2")?,
        })
    }

    /// `trusted_root.json` bytes: lab CA (active) + retired CA (window closed), lab Rekor key,
    /// lab CT key.
    pub fn trusted_root_json(&self) -> Result<Vec<u8>> {
        let now = self.config.now;
        trusted_root_json(
            &[
                CaWindow {
                    ca: &self.ca,
                    start: now - YEAR,
                    end: None,
                },
                CaWindow {
                    ca: &self.retired_ca,
                    start: now - 3 * YEAR,
                    end: Some(now - YEAR),
                },
            ],
            &[LogWindow {
                key: self.rekor.key(),
                base_url: REKOR_URL,
                start: now - YEAR,
            }],
            &[LogWindow {
                key: &self.ct.key,
                base_url: CT_URL,
                start: now - YEAR,
            }],
        )
    }

    /// Write the lab folder: README ("lab material, never trust"), trusted_root.json, public
    /// keys, the Rekor log, and private keys (mode 0600, under `private/`).
    pub fn write_material(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        let private = dir.join("private");
        for d in [dir, private.as_path()] {
            std::fs::create_dir_all(d).map_err(|source| LabError::Io {
                path: d.to_owned(),
                source,
            })?;
        }
        let readme = "# lab material, never trust\n\nThis folder was generated by the trustswap `lab` crate from a fixed seed.\n\
            Every key here is public knowledge (derived from the seed). It is lab material, never trust:\n\
            never add trusted_root.json or any key here to a real policy.\n";
        let mut put = |name: &Path, bytes: &[u8], mode: u32| -> Result<()> {
            let io = |source| LabError::Io {
                path: name.to_owned(),
                source,
            };
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(mode)
                .open(name)
                .map_err(io)?;
            f.write_all(bytes).map_err(io)?;
            // Enforce the mode also when the file already existed.
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(name, std::fs::Permissions::from_mode(mode)).map_err(io)?;
            written.push(name.to_owned());
            Ok(())
        };
        put(&dir.join("README.md"), readme.as_bytes(), 0o644)?;
        put(
            &dir.join("trusted_root.json"),
            &self.trusted_root_json()?,
            0o644,
        )?;
        put(
            &dir.join("dhi-2.pub"),
            self.dhi_active.public_pem()?.as_bytes(),
            0o644,
        )?;
        // `<vendor>.pub`: the key the lab signs that key-based vendor's fixtures with.
        put(
            &dir.join("dhi.pub"),
            self.dhi_active.public_pem()?.as_bytes(),
            0o644,
        )?;
        put(
            &dir.join("dhi-1.pub"),
            self.dhi_rotated.public_pem()?.as_bytes(),
            0o644,
        )?;
        put(
            &dir.join("rekor.pub"),
            self.rekor.key().public_pem()?.as_bytes(),
            0o644,
        )?;
        put(
            &dir.join("ctlog.pub"),
            self.ct.key.public_pem()?.as_bytes(),
            0o644,
        )?;
        put(
            &dir.join("fulcio-chain.pem"),
            self.ca.chain_pem()?.as_bytes(),
            0o644,
        )?;
        // The foreign CA's chain: what a policy names when it trusts the wrong CA.
        put(
            &dir.join("foreign-ca-chain.pem"),
            self.foreign_ca.chain_pem()?.as_bytes(),
            0o644,
        )?;
        let keys: [(&str, &LabKey); 10] = [
            ("rekor.key", self.rekor.key()),
            ("ctlog.key", &self.ct.key),
            ("ca-root.key", &self.ca.root_key),
            ("ca-intermediate.key", &self.ca.intermediate_key),
            ("retired-ca-root.key", &self.retired_ca.root_key),
            (
                "retired-ca-intermediate.key",
                &self.retired_ca.intermediate_key,
            ),
            (
                "foreign-ca-intermediate.key",
                &self.foreign_ca.intermediate_key,
            ),
            ("dhi-2.key", &self.dhi_active),
            ("dhi-1.key", &self.dhi_rotated),
            ("impostor-dhi-2.key", &self.impostor_key),
        ];
        for (name, k) in keys {
            put(
                &private.join(name),
                k.private_pkcs8_pem()?.as_bytes(),
                0o600,
            )?;
        }
        let log = dir.join("rekor-log.json");
        self.rekor.save(&log)?;
        written.push(log);
        Ok(written)
    }
}
