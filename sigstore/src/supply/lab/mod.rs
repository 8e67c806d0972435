//! `lab`: trustswap's lab supply chain (scratch module).
//!
//! * [`sigstore`]: a lab Sigstore from one seed and a fixed clock: Fulcio-like CA ([`ca`]), CT log with
//!   embedded SCTs, Rekor ([`rekor`]) with SETs, inclusion proofs and checkpoints, DHI-style keys,
//!   and a `trusted_root.json` export ([`trustroot`]).
//! * [`sign`]: cosign-shaped `.sig`, `.att` and Sigstore bundle v0.3 referrers in an ocilab layout.
//! * [`sbom`]: CycloneDX 1.6 / SPDX 2.3 from image content, plus SLSA, OpenVEX, vuln predicates.
//! * [`fixtures`]: vendor-shaped fixtures and adversarial variants with expected verdicts.
//!
//! Lab material, never trust.

pub mod ca;
pub mod error;
pub mod fixtures;
pub mod folder;
pub mod keys;
pub mod rekor;
pub mod sbom;
pub mod sign;
pub mod sigstore;
pub mod trustroot;
pub mod tuf;

pub use error::{LabError, Result};
pub use fixtures::{
    Catalogue, Expect, Fixture, LabVendor, PolicySpec, Reason, Variant, VendorKeys, build_all,
    look_alike_of, shipped_vendors,
};
pub use sigstore::{Lab, LabConfig, LabTrustConfig};
