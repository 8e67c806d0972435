//! The lab and the evidence it is made of: real cosign both ways
//! (`cosign_interop`), OCI images and layouts (`oci_*`),
//! the real registry (`registry`), determinism per seed (`determinism`), the
//! lab's TUF repository (`tuf`), the fixtures' signatures verified
//! independently (`verify_fixtures`), and the real-world signatures and bundles
//! read in place (`realworld`). One test binary: see ARCHITECTURE.md, "Tests".

#[path = "../common/mod.rs"]
mod common;
mod oci_common;

mod cosign_interop;
mod determinism;
mod oci_image;
mod oci_layout;
mod oci_skopeo;
mod policy_trust;
mod realworld;
mod registry;
mod reproducers;
mod tuf;
mod verify_fixtures;
