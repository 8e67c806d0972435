//! `ocilab`: a deterministic OCI image-layout fixture store.
//!
//! * [`layout`]: an OCI image-layout directory with several repositories,
//!   tags named by full reference, OCI 1.1 referrers, atomic writes and
//!   verification on open.
//! * [`image`]: a deterministic minimal image builder (apk or dpkg package
//!   database, os-release, extra files) and a reader for the package
//!   database of a stored image.
//! * [`recipe`]: serde recipe types for the builder.

pub use trustswap_model::digest;
pub mod image;
pub mod layout;
pub mod recipe;
pub mod reference;
pub mod spec;

pub use digest::{Digest, DigestError};
pub use image::{
    BuiltImage, ImageError, InstalledContent, PackageDbError, build_and_tag, build_image,
    read_package_db,
};
pub use layout::{Document, Layout, LayoutError};
pub use recipe::{FileSpec, OsRelease, Package, PackageDbFormat, Recipe};
pub use reference::{Reference, ReferenceError};
pub use spec::{Descriptor, ImageConfig, ImageIndex, ImageManifest};
