//! Typed errors. Messages are lowercase and name the object they are about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("derive lab key {label:?}: no valid p-256 scalar found")]
    KeyDerivation { label: String },
    #[error("encode lab key {label:?}: {reason}")]
    KeyEncoding { label: String, reason: String },
    #[error("issue certificate {what}: {source}")]
    Certificate {
        what: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("encode certificate {what}: {reason}")]
    CertificateEncoding { what: String, reason: String },
    #[error("issue sct for {what}: {reason}")]
    Sct { what: String, reason: String },
    #[error("invalid time {value} for {what}")]
    Time { what: String, value: i64 },
    #[error("canonicalize json for {what}: {reason}")]
    Canonical { what: String, reason: String },
    #[error("serialize json for {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("rekor log entry {index} does not exist (log size {size})")]
    NoSuchLogEntry { index: u64, size: u64 },
    #[error("write lab material {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("layout operation {what}: {source}")]
    Layout {
        what: String,
        #[source]
        source: crate::supply::oci::LayoutError,
    },
    #[error("image {what}: {source}")]
    Image {
        what: String,
        #[source]
        source: crate::supply::oci::ImageError,
    },
    #[error("image reference {reference:?}: {reason}")]
    Reference { reference: String, reason: String },
    #[error("signature manifest {what}: {reason}")]
    SignatureManifest { what: String, reason: String },
}

pub type Result<T, E = LabError> = std::result::Result<T, E>;

pub(crate) fn json_err(what: &str) -> impl FnOnce(serde_json::Error) -> LabError + '_ {
    move |source| LabError::Json {
        what: what.to_owned(),
        source,
    }
}

pub(crate) fn layout_err(
    what: &str,
) -> impl FnOnce(crate::supply::oci::LayoutError) -> LabError + '_ {
    move |source| LabError::Layout {
        what: what.to_owned(),
        source,
    }
}
