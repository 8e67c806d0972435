//! Where evidence is read from: an OCI image layout on disk or a registry over
//! HTTP, behind one trait so the verifier reaches the same verdict from both.
//! Every manifest and blob is checked against its digest on the way in; a
//! mismatch is an error (and so a refusal), never content.
//!
//! Errors come in two kinds: about the evidence (missing, wrong digest, a
//! registry's 4xx), which verification turns into a refusal, and faults of
//! the store itself ([`StoreError::is_fault`]: a registry that cannot be
//! reached or times out, a layout file that cannot be read), which decide
//! nothing and are reported as such.

use super::oci::{Descriptor, Digest, Layout, LayoutError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Layout(#[from] LayoutError),
    #[error("registry {registry}: {operation} {target}: {message}")]
    Registry {
        registry: String,
        operation: &'static str,
        target: String,
        message: String,
    },
    /// The registry could not be reached, timed out, or kept failing (5xx):
    /// nothing was learned about the evidence.
    #[error("registry {registry}: {operation} {target}: {message}")]
    Transport {
        registry: String,
        operation: &'static str,
        target: String,
        message: String,
    },
    /// Not attempted: the store already failed with this fault.
    #[error("not attempted after an earlier failure: {0}")]
    Skipped(String),
    #[error("{target}: content hashes to {actual}, not the requested digest")]
    DigestMismatch { target: String, actual: Digest },
}

impl StoreError {
    /// A fault of the store rather than a fact about the evidence: the
    /// registry was unreachable or timed out, or a layout file could not be
    /// read (not a regular file, over its size limit, an I/O error).
    pub fn is_fault(&self) -> bool {
        match self {
            StoreError::Transport { .. } | StoreError::Skipped(_) => true,
            StoreError::Layout(e) => e.is_fault(),
            StoreError::Registry { .. } | StoreError::DigestMismatch { .. } => false,
        }
    }
}

/// Read access to repositories of images, signatures and attestations. A
/// repository is named by its full path (`cgr.dev/chainguard/static`).
pub trait Store {
    /// The manifest a tag points at, or `None` when the tag does not exist.
    fn resolve(&self, repo: &str, tag: &str) -> Result<Option<(Descriptor, Vec<u8>)>, StoreError>;
    /// A manifest by digest (checked).
    fn manifest(&self, repo: &str, digest: &Digest) -> Result<Vec<u8>, StoreError>;
    /// A blob by digest (checked).
    fn blob(&self, repo: &str, digest: &Digest) -> Result<Vec<u8>, StoreError>;
    /// OCI 1.1 referrers of a manifest (the referrers API, or the
    /// `sha256-<hex>` fallback tag holding an index of them).
    fn referrers(&self, repo: &str, digest: &Digest) -> Result<Vec<Descriptor>, StoreError>;
    /// A name for reports (`oci:<dir>` or `http://host`).
    fn describe(&self) -> String;
}

pub(crate) fn check_digest(
    target: String,
    digest: &Digest,
    bytes: Vec<u8>,
) -> Result<Vec<u8>, StoreError> {
    let actual = Digest::of(&bytes);
    if &actual != digest {
        return Err(StoreError::DigestMismatch { target, actual });
    }
    Ok(bytes)
}

impl Store for Layout {
    fn resolve(&self, repo: &str, tag: &str) -> Result<Option<(Descriptor, Vec<u8>)>, StoreError> {
        match Layout::resolve(self, &format!("{repo}:{tag}")) {
            Ok(desc) => {
                let bytes = self.get_blob_checked(&desc)?;
                Ok(Some((desc, bytes)))
            }
            Err(LayoutError::RefNotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn manifest(&self, repo: &str, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        check_digest(
            format!("{repo}@{digest}"),
            digest,
            self.get_manifest_blob(digest)?,
        )
    }

    fn blob(&self, repo: &str, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        check_digest(format!("{repo}@{digest}"), digest, self.get_blob(digest)?)
    }

    fn referrers(&self, repo: &str, digest: &Digest) -> Result<Vec<Descriptor>, StoreError> {
        Ok(Layout::referrers(self, repo, digest)?)
    }

    fn describe(&self) -> String {
        format!("oci:{}", self.root().display())
    }
}

impl<T: Store + ?Sized> Store for std::sync::Arc<T> {
    fn resolve(&self, repo: &str, tag: &str) -> Result<Option<(Descriptor, Vec<u8>)>, StoreError> {
        (**self).resolve(repo, tag)
    }
    fn manifest(&self, repo: &str, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        (**self).manifest(repo, digest)
    }
    fn blob(&self, repo: &str, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        (**self).blob(repo, digest)
    }
    fn referrers(&self, repo: &str, digest: &Digest) -> Result<Vec<Descriptor>, StoreError> {
        (**self).referrers(repo, digest)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

impl<T: Store + ?Sized> Store for &T {
    fn resolve(&self, repo: &str, tag: &str) -> Result<Option<(Descriptor, Vec<u8>)>, StoreError> {
        (**self).resolve(repo, tag)
    }
    fn manifest(&self, repo: &str, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        (**self).manifest(repo, digest)
    }
    fn blob(&self, repo: &str, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        (**self).blob(repo, digest)
    }
    fn referrers(&self, repo: &str, digest: &Digest) -> Result<Vec<Descriptor>, StoreError> {
        (**self).referrers(repo, digest)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}
