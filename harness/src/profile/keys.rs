//! Public-key material for key-based vendors: parse and fingerprint PEM
//! SubjectPublicKeyInfo keys, and resolve a profile's `key` (inline, file, or a
//! published URL pinned by fingerprint and looked up in a local key cache).
//! The harness never fetches keys itself: a key reached by URL must already be in
//! a cache folder, and its fingerprint must match the pin.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::RawKey;
use crate::error::{Error, Result};

/// A PEM public key is a few hundred bytes; a key file over this is refused.
pub const KEY_MAX_BYTES: u64 = 64 * 1024;

/// A public key: parsed, or (for a pinned URL not in the cache) known only by
/// its fingerprint. An unresolved key can be compared but never rendered as an
/// apply-ready policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyMaterial {
    /// Normalised PEM (`-----BEGIN PUBLIC KEY-----`, LF line endings); `None`
    /// when the pinned key is not in the key cache.
    pub pem: Option<String>,
    /// Hex SHA-256 of the DER SubjectPublicKeyInfo.
    pub sha256: String,
    /// Where the key came from, for reports (`url` when published).
    pub origin: String,
}

/// Parse a PEM public key: its LF-encoded PEM and fingerprint. Errors are
/// plain sentences for the caller to place.
pub fn parse_public_key(
    text: &str,
) -> std::result::Result<(String, String), trustswap_model::fingerprint::KeyError> {
    trustswap_model::fingerprint::parse_public_key(text).map(|(pem, fp)| (pem, fp.into_string()))
}

/// Resolves `key` sections of vendor profiles.
#[derive(Debug, Clone, Default)]
pub struct KeyResolver {
    /// Folders searched, in order, for a key whose fingerprint matches a pin.
    pub cache_dirs: Vec<PathBuf>,
}

impl KeyResolver {
    pub fn new(cache_dirs: Vec<PathBuf>) -> Self {
        Self { cache_dirs }
    }

    /// The default cache: `$TRUSTSWAP_KEY_CACHE` (colon-separated) then
    /// `~/.cache/trustswap/keys`, plus any folders given on the command line first.
    pub fn with_defaults(mut extra: Vec<PathBuf>) -> Self {
        if let Ok(env) = std::env::var("TRUSTSWAP_KEY_CACHE") {
            extra.extend(std::env::split_paths(&env));
        }
        if let Some(home) = std::env::var_os("HOME") {
            extra.push(PathBuf::from(home).join(".cache/trustswap/keys"));
        }
        Self::new(extra)
    }

    pub fn resolve(&self, profile: &Path, key: &RawKey) -> Result<KeyMaterial> {
        let pin = key
            .sha256
            .as_ref()
            .map(|s| (s.value.to_ascii_lowercase(), s));
        if let Some((hexpin, spanned)) = &pin
            && (hexpin.len() != 64 || !hexpin.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(Error::invalid(
                profile,
                Some(spanned.referenced.line()).filter(|l| *l > 0),
                "trustRoot.key.sha256",
                format!("`{}` is not a hex SHA-256 fingerprint", spanned.value),
                "give 64 hex digits: `openssl pkey -pubin -in KEY -outform DER | sha256sum`",
            ));
        }
        let pin = pin.map(|(h, _)| h);
        let set = [key.data.is_some(), key.path.is_some(), key.url.is_some()];
        if set.iter().filter(|b| **b).count() != 1 {
            return Err(Error::invalid(
                profile,
                None,
                "trustRoot.key",
                "a key needs exactly one of `data`, `path` or `url`",
                "give the PEM inline (`data`), a file (`path`), or the published `url` with its `sha256`",
            ));
        }
        let (text, origin, field) = if let Some(data) = &key.data {
            (data.clone(), "inline".to_owned(), "trustRoot.key.data")
        } else if let Some(rel) = &key.path {
            let base = profile.parent().unwrap_or(Path::new("."));
            let file = base.join(rel);
            let text = crate::input::read_capped(&file, KEY_MAX_BYTES)
                .and_then(|b| {
                    String::from_utf8(b).map_err(|_| Error::Input {
                        path: file.clone(),
                        message: "is not UTF-8 text".into(),
                        hint: "give a PEM public key".into(),
                    })
                })
                .map_err(|e| {
                    Error::invalid(
                        profile,
                        None,
                        "trustRoot.key.path",
                        format!("cannot read {}: {e}", file.display()),
                        "the path is relative to the profile file; give a regular PEM file",
                    )
                })?;
            (text, file.display().to_string(), "trustRoot.key.path")
        } else {
            let url = key.url.clone().unwrap_or_default();
            let Some(pin) = &pin else {
                return Err(Error::invalid(
                    profile,
                    None,
                    "trustRoot.key.sha256",
                    format!("key URL {url} has no pinned fingerprint"),
                    "a key fetched by URL must be pinned: add `sha256: <hex of the DER key>`",
                ));
            };
            return self.lookup_cache(&url, pin);
        };
        let (pem, sha256) = parse_public_key(&text).map_err(|msg| {
            Error::invalid(
                profile,
                None,
                field,
                msg.to_string(),
                "give an ECDSA/RSA/Ed25519 public key as PEM `-----BEGIN PUBLIC KEY-----`",
            )
        })?;
        if let Some(pin) = pin
            && pin != sha256
        {
            return Err(Error::invalid(
                profile,
                None,
                "trustRoot.key.sha256",
                format!(
                    "fingerprint mismatch: the key is sha256:{sha256}, the pin is sha256:{pin}"
                ),
                "check that the key is the vendor's; update the pin only after verifying it out of band",
            ));
        }
        Ok(KeyMaterial {
            pem: Some(pem),
            sha256,
            origin,
        })
    }

    /// Look for the pinned key in the cache folders. A key-named entry that is not a
    /// regular file (a FIFO, a device, a link to one) or is over [`KEY_MAX_BYTES`]
    /// is refused with its path, never read and never silently skipped.
    fn lookup_cache(&self, url: &str, pin: &str) -> Result<KeyMaterial> {
        for dir in &self.cache_dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            files.sort();
            for file in files {
                let is_key = matches!(
                    file.extension().and_then(|e| e.to_str()),
                    Some("pub" | "pem" | "key")
                );
                if !is_key {
                    continue;
                }
                let text = match crate::input::read_capped(&file, KEY_MAX_BYTES) {
                    Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    Err(e @ Error::Input { .. }) => return Err(e),
                    // Unreadable (permissions, vanished): not this key.
                    Err(_) => continue,
                };
                if let Ok((pem, sha256)) = parse_public_key(&text)
                    && sha256 == pin
                {
                    return Ok(KeyMaterial {
                        pem: Some(pem),
                        sha256,
                        origin: url.to_owned(),
                    });
                }
            }
        }
        Ok(KeyMaterial {
            pem: None,
            sha256: pin.to_owned(),
            origin: url.to_owned(),
        })
    }
}

impl KeyMaterial {
    /// The text placed in a policy: the PEM, or a marker naming the missing key.
    pub fn policy_text(&self) -> String {
        match &self.pem {
            Some(pem) => pem.clone(),
            None => format!(
                "UNRESOLVED: key sha256:{} from {} is not in the key cache",
                self.sha256, self.origin
            ),
        }
    }

    /// Why this key cannot be rendered, and how to fix it.
    pub fn unresolved(&self, cache_dirs: &[PathBuf]) -> Option<(String, String)> {
        if self.pem.is_some() {
            return None;
        }
        let searched = if cache_dirs.is_empty() {
            "no key cache folders".to_owned()
        } else {
            cache_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let url = &self.origin;
        let file = url
            .rsplit('/')
            .next()
            .filter(|f| !f.is_empty())
            .unwrap_or("vendor.pub");
        Some((
            format!(
                "no key with sha256:{} for {url} in the key cache (searched {searched})",
                self.sha256
            ),
            format!(
                "download it once: `curl -fsSL --create-dirs -o ~/.cache/trustswap/keys/{file} {url}`, or pass --key-cache DIR holding it; the fingerprint is checked"
            ),
        ))
    }
}
