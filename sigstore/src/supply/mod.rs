//! The lab supply chain: a deterministic OCI image-layout fixture store and the
//! images, signatures and attestations trustswap's experiments judge.

pub mod lab;
pub mod oci;
pub mod registry;
pub mod store;
