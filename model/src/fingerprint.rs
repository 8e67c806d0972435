//! Public key fingerprints: lowercase hex SHA-256 of the DER
//! SubjectPublicKeyInfo, as cosign and the profiles pin keys.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// A key fingerprint: 64 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyFingerprint(String);

impl KeyFingerprint {
    /// The fingerprint of a DER SubjectPublicKeyInfo.
    pub fn of_spki_der(der: &[u8]) -> KeyFingerprint {
        KeyFingerprint(hex::encode(Sha256::digest(der)))
    }

    /// The fingerprint of a PEM public key (any PEM label; the block's
    /// contents are hashed). `None` when the text is not PEM.
    pub fn of_pem(pem: &str) -> Option<KeyFingerprint> {
        let block = pem::parse(pem.trim()).ok()?;
        Some(Self::of_spki_der(block.contents()))
    }

    /// A fingerprint as users write it: case-insensitive, with or without a
    /// `sha256:` prefix, surrounding whitespace ignored.
    pub fn normalise(written: &str) -> KeyFingerprint {
        let lower = written.trim().to_ascii_lowercase();
        KeyFingerprint(match lower.strip_prefix("sha256:") {
            Some(rest) => rest.to_owned(),
            None => lower,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a text is not a public key. The messages are plain sentences for the
/// caller to place after a file or field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM block: {0}")]
    NotPem(String),
    #[error("PEM block is `{0}`, expected `PUBLIC KEY` (a SubjectPublicKeyInfo)")]
    WrongBlock(String),
    #[error("PEM does not hold a SubjectPublicKeyInfo: {0}")]
    NotSpki(String),
}

/// Parses a PEM `PUBLIC KEY` (a SubjectPublicKeyInfo) and returns it
/// re-encoded with LF line endings, with its fingerprint.
pub fn parse_public_key(text: &str) -> Result<(String, KeyFingerprint), KeyError> {
    let block = pem::parse(text.trim()).map_err(|e| KeyError::NotPem(e.to_string()))?;
    if block.tag() != "PUBLIC KEY" {
        return Err(KeyError::WrongBlock(block.tag().to_owned()));
    }
    spki::SubjectPublicKeyInfoRef::try_from(block.contents())
        .map_err(|e| KeyError::NotSpki(e.to_string()))?;
    let fingerprint = KeyFingerprint::of_spki_der(block.contents());
    let pem = pem::encode_config(
        &block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    );
    Ok((pem, fingerprint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_forms_normalise_to_one() {
        let h = "AB".repeat(32);
        assert_eq!(
            KeyFingerprint::normalise(&format!(" sha256:{h} ")),
            KeyFingerprint::normalise(&h.to_ascii_lowercase())
        );
        assert_eq!(KeyFingerprint::normalise("SHA256:AbC").as_str(), "abc");
    }
}
