//! Offline verification of cosign signatures, attestations and Sigstore bundles
//! on top of the `sigstore` crate, fail closed: every failure is a `Refusal`
//! with a stage and a reason, never a pass and never a panic. The crate's gaps
//! (identity constraints that do not check signatures, no Rekor body
//! consistency, chains checked at the wrong time, issuer only from the
//! deprecated extension) are closed here; see ARCHITECTURE.md.

pub mod bundles;
pub mod certs;
pub mod dsse;
pub mod identity;
pub mod image;
pub mod keys;
pub mod legacy;
pub mod refusal;
pub mod sct;
pub mod tlog;
pub mod trust;
pub mod tsa;
