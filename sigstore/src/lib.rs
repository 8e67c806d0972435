//! trustswap's Sigstore side. [`supply`] builds the lab supply chain: a
//! deterministic CA, certificates, a Rekor log, CT, a TUF repository, images
//! in OCI layouts and cosign signatures on them, pushed to registries.
//! [`verify`] checks cosign signatures and Sigstore bundles as cosign and
//! Kyverno do. The two share their wire formats (`trustswap_model::wire`),
//! so the lab cannot drift away from what the verifier reads.

pub mod supply;
pub mod verify;

// The machine boundary, under the paths these modules have always used.
pub(crate) use trustswap_io::{error, exit, input, interrupt, owned};
