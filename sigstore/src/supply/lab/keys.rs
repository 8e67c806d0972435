//! Deterministic ECDSA P-256 lab keys (RFC 6979 signatures via the `p256` crate), usable as an
//! rcgen signing key.

use p256::ecdsa::{Signature, SigningKey, signature::Signer};
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use sha2::{Digest as _, Sha256};
use x509_cert::der::Decode;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

use crate::supply::lab::error::{LabError, Result};

/// An ECDSA P-256 key derived from `(seed, label)`. Same inputs, same key; signatures are
/// deterministic (RFC 6979), so the same message gives the same signature bytes.
#[derive(Clone)]
pub struct LabKey {
    label: String,
    sk: SigningKey,
    spki_der: Vec<u8>,
    point: Vec<u8>,
}

impl std::fmt::Debug for LabKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print private material.
        f.debug_struct("LabKey")
            .field("label", &self.label)
            .field("key_id", &hex::encode(self.key_id()))
            .finish()
    }
}

impl LabKey {
    /// Derive the key: the scalar is sha256("trustswap-lab-key-v1" | seed | label | counter), for
    /// the first counter that gives a valid non-zero scalar below the group order.
    pub fn derive(seed: u64, label: &str) -> Result<Self> {
        for counter in 0u32..64 {
            let mut h = Sha256::new();
            h.update(b"trustswap-lab-key-v1\0");
            h.update(seed.to_be_bytes());
            h.update((label.len() as u64).to_be_bytes());
            h.update(label.as_bytes());
            h.update(counter.to_be_bytes());
            let scalar = h.finalize();
            if let Ok(sk) = SigningKey::from_slice(scalar.as_slice()) {
                return Self::from_signing_key(label, sk);
            }
        }
        Err(LabError::KeyDerivation {
            label: label.to_owned(),
        })
    }

    fn from_signing_key(label: &str, sk: SigningKey) -> Result<Self> {
        let enc = |reason: String| LabError::KeyEncoding {
            label: label.to_owned(),
            reason,
        };
        let spki_der = sk
            .verifying_key()
            .to_public_key_der()
            .map_err(|e| enc(e.to_string()))?
            .as_bytes()
            .to_vec();
        let spki =
            SubjectPublicKeyInfoOwned::from_der(&spki_der).map_err(|e| enc(e.to_string()))?;
        let point = spki.subject_public_key.raw_bytes().to_vec();
        Ok(Self {
            label: label.to_owned(),
            sk,
            spki_der,
            point,
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// ASN.1 DER ECDSA signature over SHA-256(msg), RFC 6979 nonce.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let sig: Signature = self.sk.sign(msg);
        sig.to_der().as_bytes().to_vec()
    }

    /// SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// sha256 of the SPKI DER: the Rekor log id / CT log id / checkpoint key hint source.
    pub fn key_id(&self) -> [u8; 32] {
        Sha256::digest(&self.spki_der).into()
    }

    /// `-----BEGIN PUBLIC KEY-----` PEM (LF line endings), as cosign writes `cosign.pub`.
    pub fn public_pem(&self) -> Result<String> {
        self.sk
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| LabError::KeyEncoding {
                label: self.label.clone(),
                reason: e.to_string(),
            })
    }

    /// Unencrypted PKCS#8 PEM. Only for the lab folder (written 0600); never print it.
    pub fn private_pkcs8_pem(&self) -> Result<String> {
        self.sk
            .to_pkcs8_pem(LineEnding::LF)
            .map(|z| z.to_string())
            .map_err(|e| LabError::KeyEncoding {
                label: self.label.clone(),
                reason: e.to_string(),
            })
    }
}

impl rcgen::PublicKeyData for LabKey {
    fn der_bytes(&self) -> &[u8] {
        &self.point
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for LabKey {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        Ok(LabKey::sign(self, msg))
    }
}
