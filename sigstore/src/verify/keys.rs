//! Public keys as Sigstore uses them (ECDSA P-256/P-384/P-521, Ed25519, RSA),
//! read from a DER SubjectPublicKeyInfo with `x509-cert`'s `spki` types and
//! verified with aws-lc-rs. Unlike the `sigstore` crate's
//! `CosignVerificationKey`, which ties each curve to one hash, a key here
//! verifies under any hash a signature format names: a P-384 Fulcio leaf
//! signs a SHA-256 message digest (sigstore-python's CPython release bundles),
//! and an RFC 3161 token names its own digest algorithm.
use aws_lc_rs::digest;
use aws_lc_rs::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
use x509_cert::der::Decode as _;
use x509_cert::der::asn1::ObjectIdentifier as Oid;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

use crate::verify::refusal::{Refusal, RefuseExt};

const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
const P521: Oid = Oid::new_unwrap("1.3.132.0.35");
const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
const RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    EcdsaP256,
    EcdsaP384,
    EcdsaP521,
    Ed25519,
    Rsa,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.algorithm(), data).as_ref().to_vec()
    }

    fn algorithm(self) -> &'static digest::Algorithm {
        match self {
            Hash::Sha256 => &digest::SHA256,
            Hash::Sha384 => &digest::SHA384,
            Hash::Sha512 => &digest::SHA512,
        }
    }

    /// The protobuf-specs `HashAlgorithm` name.
    pub fn proto_name(self) -> &'static str {
        match self {
            Hash::Sha256 => "SHA2_256",
            Hash::Sha384 => "SHA2_384",
            Hash::Sha512 => "SHA2_512",
        }
    }

    /// The hash a DER AlgorithmIdentifier OID names (SHA-1 and others: none).
    pub fn from_oid(oid: &str) -> Option<Hash> {
        match oid {
            "2.16.840.1.101.3.4.2.1" => Some(Hash::Sha256),
            "2.16.840.1.101.3.4.2.2" => Some(Hash::Sha384),
            "2.16.840.1.101.3.4.2.3" => Some(Hash::Sha512),
            _ => None,
        }
    }
}

/// A verifying key: its kind, its DER SubjectPublicKeyInfo and the raw key
/// (the SPKI's bit string: an uncompressed point, 32 Ed25519 bytes, or an
/// RSAPublicKey), which is what aws-lc-rs reads.
#[derive(Clone, Debug)]
pub struct PublicKey {
    pub kind: KeyKind,
    spki_der: Vec<u8>,
    raw: Vec<u8>,
}

impl PublicKey {
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Refusal> {
        let spki = SubjectPublicKeyInfoOwned::from_der(der)
            .refuse_ctx("key", "not a DER SubjectPublicKeyInfo")?;
        let alg = spki.algorithm.oid;
        let kind = if alg == EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<Oid>().ok())
                .refuse_ctx("key", "an EC key without a named curve")?;
            match curve {
                c if c == P256 => KeyKind::EcdsaP256,
                c if c == P384 => KeyKind::EcdsaP384,
                c if c == P521 => KeyKind::EcdsaP521,
                c => {
                    return Err(Refusal::unsupported(
                        "key",
                        format!("EC curve {c} (Sigstore uses P-256, P-384 and P-521)"),
                    ));
                }
            }
        } else if alg == ED25519 {
            KeyKind::Ed25519
        } else if alg == RSA {
            KeyKind::Rsa
        } else {
            return Err(Refusal::unsupported(
                "key",
                format!("public key algorithm {alg}"),
            ));
        };
        let raw = spki
            .subject_public_key
            .as_bytes()
            .refuse_ctx("key", "public key bit string")?
            .to_vec();
        Ok(Self {
            kind,
            spki_der: der.to_vec(),
            raw,
        })
    }

    pub fn from_pem(pem_text: &[u8]) -> Result<Self, Refusal> {
        let p = pem::parse(pem_text).refuse_ctx("key", "not a PEM public key")?;
        if p.tag() != "PUBLIC KEY" {
            return Err(Refusal::new(
                "key",
                format!("PEM block is {:?}, not PUBLIC KEY", p.tag()),
            ));
        }
        Self::from_spki_der(p.contents())
    }

    pub fn from_cert(cert: &x509_cert::Certificate) -> Result<Self, Refusal> {
        use x509_cert::der::Encode as _;
        let der = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .refuse_ctx("key", "certificate public key")?;
        Self::from_spki_der(&der)
    }

    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The raw key: for Ed25519 the 32 bytes a signed note's key hash covers.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The hash the key signs with by default (sigstore-go
    /// `GetDefaultAlgorithmDetails`); Ed25519 signs messages whole.
    pub fn default_hash(&self) -> Option<Hash> {
        match self.kind {
            KeyKind::EcdsaP256 | KeyKind::Rsa => Some(Hash::Sha256),
            KeyKind::EcdsaP384 => Some(Hash::Sha384),
            KeyKind::EcdsaP521 => Some(Hash::Sha512),
            KeyKind::Ed25519 => None,
        }
    }

    /// The protobuf-specs `PublicKeyDetails` name of the key's default
    /// algorithm, as Rekor v2 logs it (Ed25519 prehashed, as sigstore-go asks
    /// with `WithED25519ph`).
    pub fn key_details(&self) -> Result<&'static str, Refusal> {
        Ok(match self.kind {
            KeyKind::EcdsaP256 => "PKIX_ECDSA_P256_SHA_256",
            KeyKind::EcdsaP384 => "PKIX_ECDSA_P384_SHA_384",
            KeyKind::EcdsaP521 => "PKIX_ECDSA_P521_SHA_512",
            KeyKind::Ed25519 => "PKIX_ED25519_PH",
            KeyKind::Rsa => match self.raw.len() {
                // DER RSAPublicKey sizes of 2048, 3072 and 4096-bit moduli.
                0..=300 => "PKIX_RSA_PKCS1V15_2048_SHA256",
                301..=430 => "PKIX_RSA_PKCS1V15_3072_SHA256",
                _ => "PKIX_RSA_PKCS1V15_4096_SHA256",
            },
        })
    }

    fn algorithm(&self, hash: Option<Hash>) -> Result<&'static dyn VerificationAlgorithm, Refusal> {
        use Hash::*;
        use KeyKind::*;
        Ok(match (self.kind, hash) {
            (EcdsaP256, Some(Sha256)) => &sig::ECDSA_P256_SHA256_ASN1,
            (EcdsaP256, Some(Sha384)) => &sig::ECDSA_P256_SHA384_ASN1,
            (EcdsaP256, Some(Sha512)) => &sig::ECDSA_P256_SHA512_ASN1,
            (EcdsaP384, Some(Sha256)) => &sig::ECDSA_P384_SHA256_ASN1,
            (EcdsaP384, Some(Sha384)) => &sig::ECDSA_P384_SHA384_ASN1,
            (EcdsaP384, Some(Sha512)) => &sig::ECDSA_P384_SHA512_ASN1,
            (EcdsaP521, Some(Sha256)) => &sig::ECDSA_P521_SHA256_ASN1,
            (EcdsaP521, Some(Sha384)) => &sig::ECDSA_P521_SHA384_ASN1,
            (EcdsaP521, Some(Sha512)) => &sig::ECDSA_P521_SHA512_ASN1,
            (Rsa, Some(Sha256)) => &sig::RSA_PKCS1_2048_8192_SHA256,
            (Rsa, Some(Sha384)) => &sig::RSA_PKCS1_2048_8192_SHA384,
            (Rsa, Some(Sha512)) => &sig::RSA_PKCS1_2048_8192_SHA512,
            (Ed25519, None) => &sig::ED25519,
            (kind, hash) => {
                return Err(Refusal::unsupported(
                    "signature",
                    format!("a {kind:?} key with {hash:?}"),
                ));
            }
        })
    }

    /// Verify `signature` over `message` hashed with `hash` (`None`: the
    /// key's default, Ed25519's whole message).
    pub fn verify(
        &self,
        hash: Option<Hash>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), Refusal> {
        let hash = hash.or(self.default_hash());
        UnparsedPublicKey::new(self.algorithm(hash)?, &self.raw)
            .verify(message, signature)
            .map_err(|_| Refusal::new("signature", "the signature does not verify with the key"))
    }

    /// Verify `signature` over a message known only by its `hash` digest.
    pub fn verify_prehashed(
        &self,
        hash: Hash,
        digest_bytes: &[u8],
        signature: &[u8],
    ) -> Result<(), Refusal> {
        if self.kind == KeyKind::Ed25519 {
            return Err(Refusal::unsupported(
                "signature",
                "an Ed25519 signature over a prehashed digest (Ed25519ph)",
            ));
        }
        let d = digest::Digest::import_less_safe(digest_bytes, hash.algorithm()).map_err(|_| {
            Refusal::new("signature", format!("the digest is not a {hash:?} digest"))
        })?;
        UnparsedPublicKey::new(self.algorithm(Some(hash))?, &self.raw)
            .verify_digest(&d, signature)
            .map_err(|_| Refusal::new("signature", "the signature does not verify with the key"))
    }
}
