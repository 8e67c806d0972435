//! `sha256:<hex>` content digests.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Errors from parsing a digest string.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("parse digest {value:?}: expected `sha256:` followed by 64 lowercase hex characters")]
    Malformed { value: String },
    #[error("parse digest {value:?}: unsupported algorithm {algorithm:?} (only sha256)")]
    UnsupportedAlgorithm { value: String, algorithm: String },
}

/// A validated `sha256:<64 lowercase hex>` digest.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_sha256_bytes(&Sha256::digest(bytes))
    }

    pub fn from_sha256_bytes(raw: &[u8]) -> Self {
        Digest {
            hex: hex::encode(raw),
        }
    }

    /// Caller guarantees `hex` passed [`is_sha256_hex`].
    pub fn from_sha256_hex_unchecked(hex: &str) -> Self {
        Digest {
            hex: hex.to_owned(),
        }
    }

    /// The algorithm; always `sha256`.
    pub fn algorithm(&self) -> &'static str {
        "sha256"
    }

    /// The 64-character lowercase hex part.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

/// Incremental sha256 hasher producing a [`Digest`].
#[derive(Default)]
pub struct Hasher(Sha256);

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    pub fn finish(self) -> Digest {
        Digest::from_sha256_bytes(&self.0.finalize())
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((algorithm, hex)) = s.split_once(':') else {
            return Err(DigestError::Malformed { value: s.into() });
        };
        if algorithm != "sha256" {
            return Err(DigestError::UnsupportedAlgorithm {
                value: s.into(),
                algorithm: algorithm.into(),
            });
        }
        if !is_sha256_hex(hex) {
            return Err(DigestError::Malformed { value: s.into() });
        }
        Ok(Digest { hex: hex.into() })
    }
}

/// True if `s` is exactly 64 lowercase hex characters.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl TryFrom<String> for Digest {
    type Error = DigestError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_json_object_digest() {
        assert_eq!(
            Digest::of(b"{}").to_string(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn parse_rejects_bad_input() {
        assert!("sha256:abc".parse::<Digest>().is_err());
        assert!("sha512:00".parse::<Digest>().is_err());
        assert!("nocolon".parse::<Digest>().is_err());
        let upper = format!("sha256:{}", "A".repeat(64));
        assert!(upper.parse::<Digest>().is_err());
        let ok = format!("sha256:{}", "a".repeat(64));
        assert_eq!(ok.parse::<Digest>().unwrap().to_string(), ok);
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let d = Digest::of(b"x");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        let err = serde_json::from_str::<Digest>("\"sha256:zz\"").unwrap_err();
        assert!(err.to_string().contains("parse digest"), "{err}");
    }
}
