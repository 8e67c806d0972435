//! An OCI image-layout directory holding several repositories.
//!
//! On disk:
//!
//! ```text
//! DIR/oci-layout            {"imageLayoutVersion":"1.0.0"}
//! DIR/index.json            image index; tagged manifests carry
//!                           org.opencontainers.image.ref.name = "REPO:TAG"
//! DIR/blobs/sha256/<hex>    content-addressed blobs
//! ```
//!
//! Tagged manifests are named with the *full* reference
//! (`cgr.dev/chainguard/static:latest`), which is what
//! `skopeo inspect oci:DIR:cgr.dev/chainguard/static:latest` looks up.
//! Manifests that have a `subject` (OCI 1.1 referrers such as SBOMs or
//! signatures) are also listed in `index.json`, without a ref name, so the
//! layout stays self-describing.
//!
//! Every file is written to a temporary file in the same directory, synced
//! and renamed into place, so readers never see a half-written file.
//! `index.json` is written sorted (tagged entries by reference, then
//! untagged entries by digest) with sorted annotation keys, so the same
//! content always produces the same bytes.
//!
//! A `Layout` value caches `index.json`; use one writer per directory.
//!
//! Every file is read through [`crate::input`]: it must be a regular file (a
//! FIFO, a device or a link to one is refused before anything is read, so a
//! hostile layout can neither hang a reader nor grow its memory) and files
//! read into memory have a limit per kind ([`MAX_MANIFEST_BYTES`] ...).
//! Blobs are only hashed as a stream when the layout is verified, so image
//! layers of any size are fine there.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::supply::oci::digest::{Digest, Hasher, is_sha256_hex};
use crate::supply::oci::reference::{Reference, ReferenceError};
use crate::supply::oci::spec::{
    ANNOTATION_REF_NAME, Descriptor, ImageIndex, ImageManifest, MEDIA_TYPE_EMPTY,
    MEDIA_TYPE_IMAGE_INDEX, MEDIA_TYPE_IMAGE_MANIFEST, OciLayoutFile,
};

pub const OCI_LAYOUT_FILE: &str = "oci-layout";
pub const INDEX_FILE: &str = "index.json";
pub const IMAGE_LAYOUT_VERSION: &str = "1.0.0";
const TMP_PREFIX: &str = ".ocilab-tmp-";
/// Maximum nesting of image indexes followed during verification.
const MAX_INDEX_DEPTH: usize = 8;
/// Largest `oci-layout` marker read (it holds one short field).
pub const MAX_MARKER_BYTES: u64 = 64 * 1024;
/// Largest `index.json` read: every tag and referrer of the layout is listed
/// there (the lab's is about 35 KB).
pub const MAX_INDEX_BYTES: u64 = 64 * 1024 * 1024;
/// Largest manifest or image index read: registries accept up to 4 MiB (the
/// OCI distribution spec's minimum), and real ones are a few KB.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// Largest other blob read into memory: configs, signature payloads,
/// attestations and Sigstore bundles (an SBOM attestation can be tens of MB;
/// cosign's default cap on an attachment is the same).
pub const MAX_BLOB_BYTES: u64 = 128 * 1024 * 1024;

/// Errors from layout operations. Messages read after "failed to ...".
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("create image layout at {path}: a layout already exists there")]
    AlreadyExists { path: PathBuf },
    #[error("open image layout: {path} is missing (not an OCI image layout?)")]
    MissingLayoutFile { path: PathBuf },
    #[error("open image layout: index.json is missing at {path}")]
    MissingIndex { path: PathBuf },
    #[error("parse {what} at {path}: {source}")]
    InvalidJson {
        what: String,
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("open image layout: {path} has imageLayoutVersion {found:?}, expected \"1.0.0\"")]
    UnsupportedLayoutVersion { path: PathBuf, found: String },
    #[error("open image layout: {path} is not named by a sha256 digest")]
    StrayBlob { path: PathBuf },
    #[error("read blob {digest}: {path} does not exist")]
    MissingBlob { digest: Digest, path: PathBuf },
    #[error("verify blob {expected} at {path}: content hashes to {actual}")]
    DigestMismatch {
        path: PathBuf,
        expected: Digest,
        actual: Digest,
    },
    #[error("verify blob {digest} at {path}: descriptor says {expected} bytes, file has {actual}")]
    SizeMismatch {
        digest: Digest,
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error("parse manifest {digest}: {source}")]
    InvalidManifest {
        digest: Digest,
        #[source]
        source: serde_json::Error,
    },
    #[error("store manifest {digest}: unsupported media type {media_type:?}")]
    UnsupportedMediaType { digest: Digest, media_type: String },
    #[error("store manifest {digest}: document mediaType {found:?} does not match {expected:?}")]
    MediaTypeMismatch {
        digest: Digest,
        expected: String,
        found: String,
    },
    #[error("resolve {reference}: no such tag in {path}")]
    RefNotFound { reference: String, path: PathBuf },
    #[error("tag {reference}: the tag already exists in {path}")]
    TagExists { reference: String, path: PathBuf },
    #[error("load {path}: reference {reference} is listed more than once")]
    DuplicateRef { reference: String, path: PathBuf },
    #[error("load {path}: bad ref name annotation: {source}")]
    BadRefAnnotation {
        path: PathBuf,
        #[source]
        source: ReferenceError,
    },
    #[error("load manifest {digest}: image indexes nest deeper than {MAX_INDEX_DEPTH} levels")]
    IndexTooDeep { digest: Digest },
    /// A layout file refused before it is read: not a regular file (a FIFO, a
    /// device, a link to one), or over the limit for its kind.
    #[error("read {what} {path}: {message}")]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error(transparent)]
    Reference(#[from] ReferenceError),
}

impl LayoutError {
    /// A file of the layout could not be read (as opposed to content that
    /// was read and is wrong or missing).
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            LayoutError::Io { .. } | LayoutError::Unreadable { .. }
        )
    }
}

pub type Result<T, E = LayoutError> = std::result::Result<T, E>;

/// Read a layout file of at most `cap` bytes through [`crate::input`];
/// `Ok(None)` when it does not exist.
fn read_file(what: &'static str, path: &Path, cap: u64) -> Result<Option<Vec<u8>>> {
    use crate::error::Error;
    match crate::input::read_capped(path, cap) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(Error::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(Error::Read { source, .. }) => Err(io_err("read", path)(source)),
        Err(Error::Input { message, .. }) => Err(LayoutError::Unreadable {
            what,
            path: path.to_owned(),
            message: message.replace("the input limit", &format!("the limit for a {what}")),
        }),
        Err(other) => Err(LayoutError::Unreadable {
            what,
            path: path.to_owned(),
            message: other.to_string(),
        }),
    }
}

/// Whether a descriptor's media type names a manifest or an image index.
fn is_manifest_type(media_type: &str) -> bool {
    matches!(
        media_type,
        MEDIA_TYPE_IMAGE_MANIFEST
            | MEDIA_TYPE_IMAGE_INDEX
            | "application/vnd.docker.distribution.manifest.v2+json"
            | "application/vnd.docker.distribution.manifest.list.v2+json"
    )
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LayoutError + 'a {
    move |source| LayoutError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// A parsed manifest or index.
#[derive(Clone, Debug)]
pub enum Document {
    Manifest(ImageManifest),
    Index(ImageIndex),
}

impl Document {
    /// Parse `bytes` as the document type named by `media_type`.
    pub fn parse(media_type: &str, digest: &Digest, bytes: &[u8]) -> Result<Self> {
        let invalid = |source| LayoutError::InvalidManifest {
            digest: digest.clone(),
            source,
        };
        let (doc, found) = match media_type {
            MEDIA_TYPE_IMAGE_MANIFEST => {
                let m: ImageManifest = serde_json::from_slice(bytes).map_err(invalid)?;
                let found = m.media_type.clone();
                (Document::Manifest(m), found)
            }
            MEDIA_TYPE_IMAGE_INDEX => {
                let i: ImageIndex = serde_json::from_slice(bytes).map_err(invalid)?;
                let found = i.media_type.clone();
                (Document::Index(i), found)
            }
            other => {
                return Err(LayoutError::UnsupportedMediaType {
                    digest: digest.clone(),
                    media_type: other.to_owned(),
                });
            }
        };
        if let Some(found) = found
            && found != media_type
        {
            return Err(LayoutError::MediaTypeMismatch {
                digest: digest.clone(),
                expected: media_type.to_owned(),
                found,
            });
        }
        Ok(doc)
    }

    pub fn subject(&self) -> Option<&Descriptor> {
        match self {
            Document::Manifest(m) => m.subject.as_ref(),
            Document::Index(i) => i.subject.as_ref(),
        }
    }

    pub fn annotations(&self) -> &BTreeMap<String, String> {
        match self {
            Document::Manifest(m) => &m.annotations,
            Document::Index(i) => &i.annotations,
        }
    }

    /// `artifactType`, falling back to the config media type for manifests
    /// (the OCI 1.1 referrers-API rule).
    pub fn referrer_artifact_type(&self) -> Option<String> {
        match self {
            Document::Manifest(m) => m
                .artifact_type
                .clone()
                .or_else(|| Some(m.config.media_type.clone())),
            Document::Index(i) => i.artifact_type.clone(),
        }
    }

    /// Descriptors this document points at (config + layers, or children).
    pub fn children(&self) -> Vec<&Descriptor> {
        match self {
            Document::Manifest(m) => std::iter::once(&m.config).chain(&m.layers).collect(),
            Document::Index(i) => i.manifests.iter().collect(),
        }
    }
}

/// An open OCI image layout.
#[derive(Debug)]
pub struct Layout {
    root: PathBuf,
    index: ImageIndex,
}

impl Layout {
    /// Create a new, empty layout at `dir` (creating `dir` if needed).
    /// Fails if `dir` already holds an `oci-layout` or `index.json`.
    pub fn create(dir: impl AsRef<Path>) -> Result<Self> {
        let root = dir.as_ref().to_path_buf();
        for name in [OCI_LAYOUT_FILE, INDEX_FILE] {
            let path = root.join(name);
            if path.exists() {
                return Err(LayoutError::AlreadyExists { path });
            }
        }
        let blobs = root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(io_err("create directory", &blobs))?;
        let marker = OciLayoutFile {
            image_layout_version: IMAGE_LAYOUT_VERSION.to_owned(),
        };
        let marker_bytes = to_json_bytes(&marker);
        let mut layout = Layout {
            root,
            index: ImageIndex::empty(),
        };
        layout.save_index()?;
        write_atomic(&layout.root.join(OCI_LAYOUT_FILE), &marker_bytes)?;
        Ok(layout)
    }

    /// Open and fully verify an existing layout: the `oci-layout` marker,
    /// `index.json` (valid JSON, valid and unique ref names), the digest of
    /// every blob under `blobs/sha256`, and that every manifest reachable
    /// from `index.json` parses and points only at present blobs of the
    /// right size.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let root = dir.as_ref().to_path_buf();

        let marker_path = root.join(OCI_LAYOUT_FILE);
        let Some(marker_bytes) = read_file("layout marker", &marker_path, MAX_MARKER_BYTES)? else {
            return Err(LayoutError::MissingLayoutFile { path: marker_path });
        };
        let marker: OciLayoutFile =
            serde_json::from_slice(&marker_bytes).map_err(|source| LayoutError::InvalidJson {
                what: OCI_LAYOUT_FILE.to_owned(),
                path: marker_path.clone(),
                source,
            })?;
        if marker.image_layout_version != IMAGE_LAYOUT_VERSION {
            return Err(LayoutError::UnsupportedLayoutVersion {
                path: marker_path,
                found: marker.image_layout_version,
            });
        }

        let index_path = root.join(INDEX_FILE);
        let Some(index_bytes) = read_file("index", &index_path, MAX_INDEX_BYTES)? else {
            return Err(LayoutError::MissingIndex { path: index_path });
        };
        let index: ImageIndex =
            serde_json::from_slice(&index_bytes).map_err(|source| LayoutError::InvalidJson {
                what: INDEX_FILE.to_owned(),
                path: index_path.clone(),
                source,
            })?;

        let mut seen = BTreeSet::new();
        for d in &index.manifests {
            if let Some(name) = d.ref_name() {
                name.parse::<Reference>()
                    .map_err(|source| LayoutError::BadRefAnnotation {
                        path: index_path.clone(),
                        source,
                    })?;
                if !seen.insert(name.to_owned()) {
                    return Err(LayoutError::DuplicateRef {
                        reference: name.to_owned(),
                        path: index_path,
                    });
                }
            }
        }

        let layout = Layout { root, index };
        layout.verify()?;
        Ok(layout)
    }

    /// Re-run the integrity checks that [`Layout::open`] performs on blobs
    /// and manifests.
    pub fn verify(&self) -> Result<()> {
        let dir = self.root.join("blobs").join("sha256");
        let entries = fs::read_dir(&dir).map_err(io_err("list", &dir))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("list", &dir))?;
            names.push(entry.file_name());
        }
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let Some(name) = name.to_str() else {
                return Err(LayoutError::StrayBlob { path });
            };
            if name.starts_with(TMP_PREFIX) {
                continue; // leftover from an interrupted write; never referenced
            }
            if !is_sha256_hex(name) {
                return Err(LayoutError::StrayBlob { path });
            }
            let expected = Digest::from_sha256_hex_unchecked(name);
            let (actual, _) = hash_file(&path)?;
            if actual != expected {
                return Err(LayoutError::DigestMismatch {
                    path,
                    expected,
                    actual,
                });
            }
        }
        let mut visited = BTreeSet::new();
        for d in &self.index.manifests {
            self.verify_tree(d, 0, &mut visited)?;
        }
        Ok(())
    }

    fn verify_tree(
        &self,
        desc: &Descriptor,
        depth: usize,
        visited: &mut BTreeSet<Digest>,
    ) -> Result<()> {
        if !visited.insert(desc.digest.clone()) {
            return Ok(());
        }
        if depth > MAX_INDEX_DEPTH {
            return Err(LayoutError::IndexTooDeep {
                digest: desc.digest.clone(),
            });
        }
        let bytes = self.get_blob_checked(desc)?;
        let doc = self.parse_blob_document(desc, &bytes)?;
        match &doc {
            Document::Manifest(m) => {
                for child in std::iter::once(&m.config).chain(&m.layers) {
                    self.check_present(child)?;
                }
            }
            Document::Index(i) => {
                for child in &i.manifests {
                    self.verify_tree(child, depth + 1, visited)?;
                }
            }
        }
        Ok(())
    }

    fn parse_blob_document(&self, desc: &Descriptor, bytes: &[u8]) -> Result<Document> {
        Document::parse(&desc.media_type, &desc.digest, bytes).map_err(|e| match e {
            LayoutError::InvalidManifest { digest, source } => LayoutError::InvalidJson {
                what: format!("manifest {digest}"),
                path: self.blob_path(&digest),
                source,
            },
            other => other,
        })
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The in-memory copy of `index.json`.
    pub fn index(&self) -> &ImageIndex {
        &self.index
    }

    /// Where the blob for `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Store `bytes` as a blob and return its digest. Idempotent: an
    /// existing blob with the right content is left alone; one with wrong
    /// content (corruption) is replaced.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of(bytes);
        let path = self.blob_path(&digest);
        if path.is_file()
            && let Ok((actual, _)) = hash_file(&path)
            && actual == digest
        {
            return Ok(digest);
        }
        write_atomic(&path, bytes)?;
        Ok(digest)
    }

    /// Read a blob (at most [`MAX_BLOB_BYTES`]) and verify its digest.
    pub fn get_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        self.read_blob(digest, "blob", MAX_BLOB_BYTES)
    }

    /// Read a manifest or index blob (at most [`MAX_MANIFEST_BYTES`]) and
    /// verify its digest.
    pub fn get_manifest_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        self.read_blob(digest, "manifest", MAX_MANIFEST_BYTES)
    }

    fn read_blob(&self, digest: &Digest, what: &'static str, cap: u64) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let Some(bytes) = read_file(what, &path, cap)? else {
            return Err(LayoutError::MissingBlob {
                digest: digest.clone(),
                path,
            });
        };
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(LayoutError::DigestMismatch {
                path,
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Read the blob for `desc`, verifying digest and size; a manifest or
    /// index (by the descriptor's media type) is limited to
    /// [`MAX_MANIFEST_BYTES`], any other blob to [`MAX_BLOB_BYTES`].
    pub fn get_blob_checked(&self, desc: &Descriptor) -> Result<Vec<u8>> {
        let bytes = if is_manifest_type(&desc.media_type) {
            self.get_manifest_blob(&desc.digest)?
        } else {
            self.get_blob(&desc.digest)?
        };
        if bytes.len() as u64 != desc.size {
            return Err(LayoutError::SizeMismatch {
                digest: desc.digest.clone(),
                path: self.blob_path(&desc.digest),
                expected: desc.size,
                actual: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    fn check_present(&self, desc: &Descriptor) -> Result<()> {
        let path = self.blob_path(&desc.digest);
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(LayoutError::MissingBlob {
                    digest: desc.digest.clone(),
                    path,
                });
            }
            Err(e) => return Err(io_err("stat", &path)(e)),
        };
        if meta.len() != desc.size {
            return Err(LayoutError::SizeMismatch {
                digest: desc.digest.clone(),
                path,
                expected: desc.size,
                actual: meta.len(),
            });
        }
        Ok(())
    }

    /// Store a manifest or index. `media_type` must be the OCI image
    /// manifest or image index type; the document must parse, its own
    /// `mediaType` (if set) must agree, and every blob it points at
    /// (config, layers, child manifests) must already be present. A
    /// `subject` need not be present (OCI 1.1 allows referrers first).
    ///
    /// Manifests with a `subject` are recorded in `index.json` (untagged)
    /// so [`Layout::referrers`] finds them; others stay unreferenced until
    /// [`Layout::tag`]ged.
    pub fn put_manifest(&mut self, media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
        let mut desc = Descriptor::for_bytes(media_type, bytes);
        let doc = Document::parse(media_type, &desc.digest, bytes)?;
        for child in doc.children() {
            self.check_present(child)?;
        }
        if let Document::Manifest(m) = &doc {
            desc.artifact_type = m.artifact_type.clone();
        }
        if let Document::Index(i) = &doc {
            desc.artifact_type = i.artifact_type.clone();
        }
        self.put_blob(bytes)?;
        if doc.subject().is_some() && !self.is_listed(&desc.digest) {
            self.index.manifests.push(untagged_entry(&desc));
            self.save_index()?;
        }
        Ok(desc)
    }

    /// Read and parse the manifest or index `desc` points at.
    pub fn get_manifest(&self, desc: &Descriptor) -> Result<Document> {
        let bytes = self.get_blob_checked(desc)?;
        self.parse_blob_document(desc, &bytes)
    }

    /// Point `reference` (`REPO:TAG`) at `desc`, creating or overwriting the
    /// tag. Returns the descriptor the tag pointed at before, if any. The
    /// manifest blob must be present and match `desc`.
    pub fn tag(&mut self, reference: &str, desc: &Descriptor) -> Result<Option<Descriptor>> {
        let reference: Reference = reference.parse()?;
        self.get_manifest(desc)?;
        let previous = self.remove_entry(&reference);
        let mut entry = desc.clone();
        entry
            .annotations
            .insert(ANNOTATION_REF_NAME.to_owned(), reference.to_string());
        self.index.manifests.push(entry);
        if let Some(prev) = &previous {
            self.relist_if_referrer(prev)?;
        }
        self.save_index()?;
        Ok(previous.map(strip_ref_name))
    }

    /// Move an existing tag to `desc`; returns the old target. Fails with
    /// [`LayoutError::RefNotFound`] if the tag does not exist.
    pub fn move_tag(&mut self, reference: &str, desc: &Descriptor) -> Result<Descriptor> {
        self.resolve(reference)?;
        self.tag(reference, desc)?
            .ok_or_else(|| self.ref_not_found(reference))
    }

    /// Rename tag `from` to `to` (which must not exist yet); returns the
    /// descriptor both pointed/point at.
    pub fn rename_tag(&mut self, from: &str, to: &str) -> Result<Descriptor> {
        let to_ref: Reference = to.parse()?;
        if self.find_entry(&to_ref).is_some() {
            return Err(LayoutError::TagExists {
                reference: to_ref.to_string(),
                path: self.index_path(),
            });
        }
        let desc = self.resolve(from)?;
        // Add the new name first so a failure never loses the tag.
        self.tag(to, &desc)?;
        self.untag(from)?;
        Ok(desc)
    }

    /// Remove a tag; returns what it pointed at. The manifest's blobs are
    /// kept (no garbage collection).
    pub fn untag(&mut self, reference: &str) -> Result<Descriptor> {
        let parsed: Reference = reference.parse()?;
        let removed = self
            .remove_entry(&parsed)
            .ok_or_else(|| self.ref_not_found(reference))?;
        if let Err(e) = self.relist_if_referrer(&removed) {
            self.index.manifests.push(removed);
            return Err(e);
        }
        self.save_index()?;
        Ok(strip_ref_name(removed))
    }

    /// Look up `reference` (`REPO:TAG`). The returned descriptor carries no
    /// ref-name annotation.
    pub fn resolve(&self, reference: &str) -> Result<Descriptor> {
        let parsed: Reference = reference.parse()?;
        self.find_entry(&parsed)
            .cloned()
            .map(strip_ref_name)
            .ok_or_else(|| self.ref_not_found(reference))
    }

    /// All tagged references, sorted.
    pub fn references(&self) -> Vec<Reference> {
        let mut refs: Vec<Reference> = self
            .index
            .manifests
            .iter()
            .filter_map(|d| d.ref_name()?.parse().ok())
            .collect();
        refs.sort();
        refs
    }

    /// Repositories with at least one tag, sorted.
    pub fn repositories(&self) -> Vec<String> {
        let set: BTreeSet<String> = self
            .references()
            .into_iter()
            .map(|r| r.repository().to_owned())
            .collect();
        set.into_iter().collect()
    }

    /// Tags of `repo`, sorted (empty if the repository is unknown).
    pub fn list_tags(&self, repo: &str) -> Vec<String> {
        self.references()
            .into_iter()
            .filter(|r| r.repository() == repo)
            .map(|r| r.tag().to_owned())
            .collect()
    }

    /// OCI 1.1 referrers of `digest` within `repo`: manifests listed in
    /// `index.json` whose `subject` is `digest`, provided `digest` belongs
    /// to `repo` (tagged there, a child of an index tagged there, or itself
    /// a referrer of something in `repo`). Returned descriptors carry the
    /// referrer's `artifactType` (falling back to its config media type)
    /// and annotations, like the registry referrers API; sorted by digest.
    /// An unknown digest yields an empty list, as a registry would.
    pub fn referrers(&self, repo: &str, digest: &Digest) -> Result<Vec<Descriptor>> {
        let mut docs: BTreeMap<Digest, (Descriptor, Document)> = BTreeMap::new();
        for d in &self.index.manifests {
            if !docs.contains_key(&d.digest) {
                let doc = self.get_manifest(d)?;
                docs.insert(d.digest.clone(), (strip_ref_name(d.clone()), doc));
            }
        }

        // Digests belonging to the repository.
        let mut in_repo: BTreeSet<Digest> = BTreeSet::new();
        let mut queue: Vec<Descriptor> = self
            .index
            .manifests
            .iter()
            .filter(|d| {
                d.ref_name()
                    .and_then(|n| n.parse::<Reference>().ok())
                    .is_some_and(|r| r.repository() == repo)
            })
            .cloned()
            .collect();
        loop {
            while let Some(d) = queue.pop() {
                if !in_repo.insert(d.digest.clone()) {
                    continue;
                }
                if d.media_type == MEDIA_TYPE_IMAGE_INDEX {
                    let doc = match docs.get(&d.digest) {
                        Some((_, doc)) => doc.clone(),
                        None => self.get_manifest(&d)?,
                    };
                    queue.extend(doc.children().into_iter().cloned());
                }
            }
            for (digest, (desc, doc)) in &docs {
                if !in_repo.contains(digest)
                    && doc.subject().is_some_and(|s| in_repo.contains(&s.digest))
                {
                    queue.push(desc.clone());
                }
            }
            if queue.is_empty() {
                break;
            }
        }

        if !in_repo.contains(digest) {
            return Ok(Vec::new());
        }
        let mut out: Vec<Descriptor> = docs
            .into_values()
            .filter(|(_, doc)| doc.subject().is_some_and(|s| &s.digest == digest))
            .map(|(desc, doc)| Descriptor {
                media_type: desc.media_type,
                digest: desc.digest,
                size: desc.size,
                artifact_type: doc.referrer_artifact_type(),
                annotations: doc.annotations().clone(),
                platform: None,
            })
            .collect();
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }

    /// Attach an OCI 1.1 artifact (e.g. an SBOM) to `subject`: stores each
    /// `(media_type, bytes)` payload as a layer, uses the empty config, and
    /// stores the manifest with `artifactType` and `subject` set. Returns
    /// the artifact manifest's descriptor.
    pub fn attach(
        &mut self,
        subject: &Descriptor,
        artifact_type: &str,
        payloads: &[(&str, &[u8])],
        annotations: BTreeMap<String, String>,
    ) -> Result<Descriptor> {
        let empty: &[u8] = b"{}";
        self.put_blob(empty)?;
        let empty_desc = Descriptor::for_bytes(MEDIA_TYPE_EMPTY, empty);
        let mut layers = Vec::new();
        for (media_type, bytes) in payloads {
            self.put_blob(bytes)?;
            layers.push(Descriptor::for_bytes(media_type, bytes));
        }
        if layers.is_empty() {
            layers.push(empty_desc.clone());
        }
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_IMAGE_MANIFEST.to_owned()),
            artifact_type: Some(artifact_type.to_owned()),
            config: empty_desc,
            layers,
            subject: Some(Descriptor {
                media_type: subject.media_type.clone(),
                digest: subject.digest.clone(),
                size: subject.size,
                artifact_type: None,
                annotations: BTreeMap::new(),
                platform: None,
            }),
            annotations,
        };
        self.put_manifest(MEDIA_TYPE_IMAGE_MANIFEST, &to_json_bytes(&manifest))
    }

    // ---- index.json bookkeeping ------------------------------------------

    fn index_path(&self) -> PathBuf {
        self.root.join(INDEX_FILE)
    }

    fn ref_not_found(&self, reference: &str) -> LayoutError {
        LayoutError::RefNotFound {
            reference: reference.to_owned(),
            path: self.index_path(),
        }
    }

    fn find_entry(&self, reference: &Reference) -> Option<&Descriptor> {
        let name = reference.to_string();
        self.index
            .manifests
            .iter()
            .find(|d| d.ref_name() == Some(name.as_str()))
    }

    fn remove_entry(&mut self, reference: &Reference) -> Option<Descriptor> {
        let name = reference.to_string();
        let pos = self
            .index
            .manifests
            .iter()
            .position(|d| d.ref_name() == Some(name.as_str()))?;
        Some(self.index.manifests.remove(pos))
    }

    fn is_listed(&self, digest: &Digest) -> bool {
        self.index.manifests.iter().any(|d| &d.digest == digest)
    }

    /// After a tag is removed, keep a referrer manifest discoverable by
    /// listing it untagged if nothing else lists it.
    fn relist_if_referrer(&mut self, removed: &Descriptor) -> Result<()> {
        if self.is_listed(&removed.digest) {
            return Ok(());
        }
        let doc = self.get_manifest(removed)?;
        if doc.subject().is_some() {
            self.index.manifests.push(untagged_entry(removed));
        }
        Ok(())
    }

    /// Sort, drop untagged duplicates of tagged manifests, write atomically.
    fn save_index(&mut self) -> Result<()> {
        let tagged: BTreeSet<Digest> = self
            .index
            .manifests
            .iter()
            .filter(|d| d.ref_name().is_some())
            .map(|d| d.digest.clone())
            .collect();
        let mut seen_untagged = BTreeSet::new();
        self.index.manifests.retain(|d| {
            d.ref_name().is_some()
                || (!tagged.contains(&d.digest) && seen_untagged.insert(d.digest.clone()))
        });
        self.index.manifests.sort_by(|a, b| {
            let key = |d: &Descriptor| (d.ref_name().is_none(), d.ref_name().map(str::to_owned));
            key(a).cmp(&key(b)).then_with(|| a.digest.cmp(&b.digest))
        });
        let bytes = to_json_bytes(&self.index);
        write_atomic(&self.index_path(), &bytes)
    }
}

fn untagged_entry(desc: &Descriptor) -> Descriptor {
    let mut entry = strip_ref_name(desc.clone());
    entry.annotations.clear();
    entry
}

fn strip_ref_name(mut d: Descriptor) -> Descriptor {
    d.annotations.remove(ANNOTATION_REF_NAME);
    d
}

/// Pretty JSON with a trailing newline. Serializing these plain structs
/// (strings, numbers, BTreeMaps) cannot fail.
pub fn to_json_bytes<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Hash a file as a stream (no size limit: image layers may be large); a
/// FIFO, a device or a link to one is refused before it is opened for reading.
fn hash_file(path: &Path) -> Result<(Digest, u64)> {
    let (mut file, _) = crate::input::open_regular(path).map_err(|e| match e {
        crate::error::Error::Read { source, .. } => io_err("open", path)(source),
        other => LayoutError::Unreadable {
            what: "blob",
            path: path.to_owned(),
            message: match other {
                crate::error::Error::Input { message, .. } => message,
                e => e.to_string(),
            },
        },
    })?;
    let mut hasher = Hasher::default();
    let n = io::copy(&mut file, &mut hasher).map_err(io_err("read", path))?;
    Ok((hasher.finish(), n))
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Write `bytes` to `path` via a synced temporary file in the same
/// directory and a rename, so `path` is either old or new, never partial.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        "{TMP_PREFIX}{}-{}-{file_name}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        f.write_all(bytes).map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("sync", &tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(io_err("rename into place", path))?;
        // Persist the rename itself; best effort (not all filesystems allow it).
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
