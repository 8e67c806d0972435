//! Deterministic minimal image builder and package-database reader.
//!
//! [`build_image`] turns a [`Recipe`] and a seed into one gzip'd tar layer,
//! an image config and an image manifest. The output is byte-identical for
//! the same recipe and seed:
//!
//! * tar entries are sorted by path, parent directories are emitted before
//!   their contents, every header has mtime 0, uid/gid 0, empty user/group
//!   names, and mode 0755 (dirs) or the recipe's mode (default 0644);
//! * the gzip header has mtime 0, no file name, OS byte 255, level 6;
//! * packages are written sorted by (name, arch, version);
//! * the config has `created` = `1970-01-01T00:00:00Z` and records the seed
//!   as the `dev.trustswap.ocilab.seed` label (so different seeds give
//!   different image digests while layers stay shareable).
//!
//! [`read_package_db`] goes the other way: it unpacks an image's layers
//! from a [`Layout`] and parses the apk or dpkg database and os-release, so
//! an SBOM can be derived from content rather than from the recipe.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};

use flate2::read::MultiGzDecoder;
use flate2::{Compression, GzBuilder};

use crate::supply::oci::digest::{Digest, Hasher};
use crate::supply::oci::layout::{Document, Layout, LayoutError, to_json_bytes};
use crate::supply::oci::recipe::{FileSpec, OsRelease, Package, PackageDbFormat, Recipe};
use crate::supply::oci::spec::{
    ANNOTATION_TITLE, ContainerConfig, Descriptor, History, ImageConfig, ImageManifest,
    MEDIA_TYPE_IMAGE_CONFIG, MEDIA_TYPE_IMAGE_MANIFEST, MEDIA_TYPE_LAYER_TAR,
    MEDIA_TYPE_LAYER_TAR_GZIP, RootFs,
};

/// Fixed creation time used everywhere.
pub const EPOCH: &str = "1970-01-01T00:00:00Z";
pub const LABEL_SEED: &str = "dev.trustswap.ocilab.seed";
pub const APK_DB_PATH: &str = "lib/apk/db/installed";
pub const DPKG_STATUS_PATH: &str = "var/lib/dpkg/status";
pub const OS_RELEASE_PATH: &str = "etc/os-release";
const USR_LIB_OS_RELEASE_PATH: &str = "usr/lib/os-release";
const DEFAULT_PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Largest metadata file read out of a layer.
const MAX_METADATA_FILE: u64 = 64 * 1024 * 1024;

/// Errors from building or reading images. Messages read after "failed to ...".
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("build image {name:?}: {reason}")]
    InvalidRecipe { name: String, reason: String },
    #[error("build layer for image {name:?}: {source}")]
    BuildLayer {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("read image {manifest}: it is a {media_type}, not an image manifest")]
    NotAnImage {
        manifest: Digest,
        media_type: String,
    },
    #[error("parse config {digest} of image {manifest}: {source}")]
    InvalidConfig {
        manifest: Digest,
        digest: Digest,
        #[source]
        source: serde_json::Error,
    },
    #[error("read image {manifest}: config lists {diff_ids} diff_ids for {layers} layers")]
    LayerCountMismatch {
        manifest: Digest,
        diff_ids: usize,
        layers: usize,
    },
    #[error("read layer {layer} of image {manifest}: unsupported media type {media_type:?}")]
    UnsupportedLayer {
        manifest: Digest,
        layer: Digest,
        media_type: String,
    },
    #[error("read layer {layer} of image {manifest}: {source}")]
    LayerIo {
        manifest: Digest,
        layer: Digest,
        #[source]
        source: io::Error,
    },
    #[error(
        "read layer {layer}: uncompressed content hashes to {actual}, config diff_id is {expected}"
    )]
    DiffIdMismatch {
        layer: Digest,
        expected: Digest,
        actual: Digest,
    },
    #[error("read {path} in layer {layer}: file is larger than {MAX_METADATA_FILE} bytes")]
    FileTooLarge { path: String, layer: Digest },
    #[error("read image {manifest}: no package database ({APK_DB_PATH} or {DPKG_STATUS_PATH})")]
    NoPackageDb { manifest: Digest },
    #[error("parse /{path} in image {manifest}: {source}")]
    PackageDb {
        path: String,
        manifest: Digest,
        #[source]
        source: PackageDbError,
    },
}

/// A malformed package database line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {reason}")]
pub struct PackageDbError {
    pub line: usize,
    pub reason: String,
}

/// The blobs of a built image (not yet stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltImage {
    pub manifest: Descriptor,
    pub manifest_bytes: Vec<u8>,
    pub config: Descriptor,
    pub config_bytes: Vec<u8>,
    pub layer: Descriptor,
    pub layer_bytes: Vec<u8>,
    /// sha256 of the uncompressed layer tar.
    pub diff_id: Digest,
}

impl BuiltImage {
    /// Store the layer, config and manifest blobs; returns the manifest
    /// descriptor (not tagged).
    pub fn store(&self, layout: &mut Layout) -> Result<Descriptor, ImageError> {
        layout.put_blob(&self.layer_bytes)?;
        layout.put_blob(&self.config_bytes)?;
        Ok(layout.put_manifest(MEDIA_TYPE_IMAGE_MANIFEST, &self.manifest_bytes)?)
    }
}

/// Build, store and tag an image in one go; returns the manifest descriptor.
pub fn build_and_tag(
    layout: &mut Layout,
    recipe: &Recipe,
    seed: u64,
    reference: &str,
) -> Result<Descriptor, ImageError> {
    let image = build_image(recipe, seed)?;
    let desc = image.store(layout)?;
    layout.tag(reference, &desc)?;
    Ok(desc)
}

/// An entry of the layer being built.
enum Node {
    Dir,
    File { content: Vec<u8>, mode: u32 },
}

/// Build the image for `recipe` deterministically.
pub fn build_image(recipe: &Recipe, seed: u64) -> Result<BuiltImage, ImageError> {
    let invalid = |reason: String| ImageError::InvalidRecipe {
        name: recipe.name.clone(),
        reason,
    };

    let mut files: BTreeMap<String, (Vec<u8>, u32)> = BTreeMap::new();
    files.insert(
        OS_RELEASE_PATH.to_owned(),
        (
            render_os_release(&recipe.os_release)
                .map_err(invalid)?
                .into_bytes(),
            0o644,
        ),
    );
    let mut packages = recipe.packages.clone();
    packages.sort();
    validate_packages(&packages, recipe.package_db).map_err(invalid)?;
    match recipe.package_db {
        PackageDbFormat::Apk => {
            files.insert(
                APK_DB_PATH.to_owned(),
                (render_apk_installed(&packages).into_bytes(), 0o644),
            );
        }
        PackageDbFormat::Dpkg => {
            files.insert(
                DPKG_STATUS_PATH.to_owned(),
                (render_dpkg_status(&packages).into_bytes(), 0o644),
            );
            for p in &packages {
                files.insert(
                    format!("usr/share/doc/{}/copyright", p.name),
                    (render_dpkg_copyright(p).into_bytes(), 0o644),
                );
            }
        }
    }
    let generated: BTreeSet<String> = files.keys().cloned().collect();
    for spec in &recipe.files {
        let (path, mode) = validate_file_spec(spec).map_err(invalid)?;
        if generated.contains(&path) {
            return Err(invalid(format!(
                "file /{path} would overwrite a generated file"
            )));
        }
        if files
            .insert(path.clone(), (spec.content.clone().into_bytes(), mode))
            .is_some()
        {
            return Err(invalid(format!("file /{path} is listed twice")));
        }
    }

    // Add parent directories; reject a file used as a directory.
    let mut tree: BTreeMap<String, Node> = BTreeMap::new();
    for path in files.keys() {
        let mut prefix = String::new();
        let components: Vec<&str> = path.split('/').collect();
        for dir in &components[..components.len() - 1] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(dir);
            if files.contains_key(&prefix) {
                return Err(invalid(format!(
                    "/{prefix} is a file but /{path} needs it to be a directory"
                )));
            }
            // Keyed by the emitted tar name (`dir/`) so the archive is
            // sorted by exactly the names it contains.
            tree.insert(format!("{prefix}/"), Node::Dir);
        }
    }
    for (path, (content, mode)) in files {
        tree.insert(path, Node::File { content, mode });
    }

    let tar_bytes = build_tar(&tree).map_err(|source| ImageError::BuildLayer {
        name: recipe.name.clone(),
        source,
    })?;
    let diff_id = Digest::of(&tar_bytes);
    let layer_bytes = gzip(&tar_bytes).map_err(|source| ImageError::BuildLayer {
        name: recipe.name.clone(),
        source,
    })?;
    let layer = Descriptor::for_bytes(MEDIA_TYPE_LAYER_TAR_GZIP, &layer_bytes);

    let mut labels = recipe.labels.clone();
    labels.insert(ANNOTATION_TITLE.to_owned(), recipe.name.clone());
    labels.insert(LABEL_SEED.to_owned(), seed.to_string());
    let config_doc = ImageConfig {
        created: Some(EPOCH.to_owned()),
        architecture: "amd64".to_owned(),
        os: "linux".to_owned(),
        config: Some(ContainerConfig {
            env: vec![DEFAULT_PATH_ENV.to_owned()],
            labels,
        }),
        rootfs: RootFs {
            kind: "layers".to_owned(),
            diff_ids: vec![diff_id.clone()],
        },
        history: vec![History {
            created: Some(EPOCH.to_owned()),
            created_by: Some(format!("ocilab recipe {}", recipe.name)),
        }],
    };
    let config_bytes = to_json_bytes(&config_doc);
    let config = Descriptor::for_bytes(MEDIA_TYPE_IMAGE_CONFIG, &config_bytes);

    let manifest_doc = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_IMAGE_MANIFEST.to_owned()),
        artifact_type: None,
        config: config.clone(),
        layers: vec![layer.clone()],
        subject: None,
        annotations: BTreeMap::new(),
    };
    let manifest_bytes = to_json_bytes(&manifest_doc);
    let manifest = Descriptor::for_bytes(MEDIA_TYPE_IMAGE_MANIFEST, &manifest_bytes);

    Ok(BuiltImage {
        manifest,
        manifest_bytes,
        config,
        config_bytes,
        layer,
        layer_bytes,
        diff_id,
    })
}

fn build_tar(tree: &BTreeMap<String, Node>) -> io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, node) in tree {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        match node {
            Node::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_data(&mut header, path, io::empty())?;
            }
            Node::File { content, mode } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(content.len() as u64);
                builder.append_data(&mut header, path, content.as_slice())?;
            }
        }
    }
    builder.into_inner()
}

fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::new(6));
    encoder.write_all(bytes)?;
    encoder.finish()
}

fn single_line(what: &str, value: &str) -> Result<(), String> {
    if value.contains(['\n', '\r']) {
        return Err(format!("{what} {value:?} contains a line break"));
    }
    Ok(())
}

fn validate_packages(packages: &[Package], format: PackageDbFormat) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for p in packages {
        if p.name.is_empty()
            || p.name.starts_with('.')
            || p.name
                .contains(|c: char| c.is_whitespace() || c == '/' || c == ':')
        {
            return Err(format!("package name {:?} is not a valid name", p.name));
        }
        if p.version.is_empty() || p.version.contains(char::is_whitespace) {
            return Err(format!(
                "package {} has invalid version {:?}",
                p.name, p.version
            ));
        }
        single_line("package arch", &p.arch)?;
        single_line("package license", &p.license)?;
        let key = match format {
            // dpkg keys the database (and the copyright file) by name alone.
            PackageDbFormat::Dpkg => (p.name.as_str(), ""),
            PackageDbFormat::Apk => (p.name.as_str(), p.arch.as_str()),
        };
        if !seen.insert(key) {
            return Err(format!("package {} is listed twice", p.name));
        }
    }
    Ok(())
}

/// Normalize `/a/b` to `a/b` and parse the octal mode.
fn validate_file_spec(spec: &FileSpec) -> Result<(String, u32), String> {
    let Some(rel) = spec.path.strip_prefix('/') else {
        return Err(format!("file path {:?} must be absolute", spec.path));
    };
    if rel.is_empty()
        || rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c.starts_with(".wh."))
        || rel.contains('\0')
    {
        return Err(format!(
            "file path {:?} is not a normalized file path",
            spec.path
        ));
    }
    let mode = match &spec.mode {
        None => 0o644,
        Some(m) => match u32::from_str_radix(m, 8) {
            Ok(v) if v <= 0o7777 => v,
            _ => return Err(format!("file {} has invalid octal mode {m:?}", spec.path)),
        },
    };
    Ok((rel.to_owned(), mode))
}

// ---- os-release ------------------------------------------------------------

fn quote_os_release(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Render `/etc/os-release` (NAME, ID, ID_LIKE, VERSION_ID, VERSION_CODENAME,
/// PRETTY_NAME, HOME_URL, then extra keys sorted).
fn render_os_release(os: &OsRelease) -> Result<String, String> {
    let mut lines: Vec<(String, &str)> = vec![("NAME".into(), &os.name), ("ID".into(), &os.id)];
    if let Some(v) = &os.id_like {
        lines.push(("ID_LIKE".into(), v));
    }
    lines.push(("VERSION_ID".into(), &os.version_id));
    if let Some(v) = &os.version_codename {
        lines.push(("VERSION_CODENAME".into(), v));
    }
    if let Some(v) = &os.pretty_name {
        lines.push(("PRETTY_NAME".into(), v));
    }
    if let Some(v) = &os.home_url {
        lines.push(("HOME_URL".into(), v));
    }
    for (k, v) in &os.extra {
        let valid = !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(format!("os-release key {k:?} must match [A-Z0-9_]+"));
        }
        if lines.iter().any(|(existing, _)| existing == k) {
            return Err(format!("os-release key {k} is set twice"));
        }
        lines.push((k.clone(), v));
    }
    let mut out = String::new();
    for (k, v) in lines {
        single_line(&format!("os-release {k}"), v)?;
        out.push_str(&k);
        out.push('=');
        out.push_str(&quote_os_release(v));
        out.push('\n');
    }
    Ok(out)
}

/// Parse os-release `KEY=value` lines (quoted or bare); comments and
/// malformed lines are skipped, as systemd does.
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let unquoted = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            let inner = &v[1..v.len() - 1];
            let mut s = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        s.push(n);
                    }
                } else {
                    s.push(c);
                }
            }
            s
        } else {
            v.to_owned()
        };
        out.insert(k.trim().to_owned(), unquoted);
    }
    out
}

// ---- apk -------------------------------------------------------------------

/// Render `/lib/apk/db/installed`: one stanza per package
/// (`P:`, `V:`, `A:`, `L:`), each followed by a blank line.
pub fn render_apk_installed(packages: &[Package]) -> String {
    let mut out = String::new();
    for p in packages {
        out.push_str(&format!(
            "P:{}\nV:{}\nA:{}\nL:{}\n\n",
            p.name, p.version, p.arch, p.license
        ));
    }
    out
}

/// Parse `/lib/apk/db/installed`. Stanzas are separated by blank lines;
/// each line is `K:value` with a one-letter key. `P` and `V` are required;
/// missing `A`/`L` become empty strings; other keys are ignored.
pub fn parse_apk_installed(text: &str) -> Result<Vec<Package>, PackageDbError> {
    let mut packages = Vec::new();
    let mut current: BTreeMap<char, (usize, String)> = BTreeMap::new();
    let mut start_line = 1;
    let mut finish = |fields: &mut BTreeMap<char, (usize, String)>,
                      start: usize|
     -> Result<(), PackageDbError> {
        if fields.is_empty() {
            return Ok(());
        }
        let mut take = |k: char| fields.remove(&k).map(|(_, v)| v);
        let name = take('P').ok_or_else(|| PackageDbError {
            line: start,
            reason: "package stanza has no P: line".into(),
        })?;
        let version = take('V').ok_or_else(|| PackageDbError {
            line: start,
            reason: format!("package {name} has no V: line"),
        })?;
        packages.push(Package {
            name,
            version,
            arch: take('A').unwrap_or_default(),
            license: take('L').unwrap_or_default(),
        });
        fields.clear();
        Ok(())
    };
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            finish(&mut current, start_line)?;
            start_line = line_no + 1;
            continue;
        }
        let mut chars = line.chars();
        let (Some(key), Some(':')) = (chars.next(), chars.next()) else {
            return Err(PackageDbError {
                line: line_no,
                reason: format!("expected `K:value`, found {line:?}"),
            });
        };
        let value = chars.as_str().to_owned();
        if let Some((first, _)) = current.get(&key)
            && matches!(key, 'P' | 'V' | 'A' | 'L')
        {
            return Err(PackageDbError {
                line: line_no,
                reason: format!("{key}: repeated in stanza (first on line {first})"),
            });
        }
        current.entry(key).or_insert((line_no, value));
    }
    finish(&mut current, start_line)?;
    Ok(packages)
}

// ---- dpkg ------------------------------------------------------------------

const FIXTURE_MAINTAINER: &str = "ocilab fixtures <fixtures@example.invalid>";

/// Render `/var/lib/dpkg/status`. dpkg has no license field; licenses go in
/// `/usr/share/doc/<name>/copyright` (see [`render_dpkg_copyright`]).
pub fn render_dpkg_status(packages: &[Package]) -> String {
    let mut out = String::new();
    for p in packages {
        out.push_str(&format!(
            "Package: {}\nStatus: install ok installed\nPriority: optional\nMaintainer: {FIXTURE_MAINTAINER}\nArchitecture: {}\nVersion: {}\nDescription: {} (ocilab fixture package)\n\n",
            p.name, p.arch, p.version, p.name
        ));
    }
    out
}

/// Render a machine-readable (DEP-5) copyright file carrying the license.
pub fn render_dpkg_copyright(p: &Package) -> String {
    format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: {}\n\nFiles: *\nCopyright: ocilab fixture\nLicense: {}\n",
        p.name, p.license
    )
}

/// First `License:` value of a DEP-5 copyright file.
pub fn parse_dpkg_copyright(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("License:"))
        .map(|v| v.trim().to_owned())
}

/// Parse `/var/lib/dpkg/status`. Only packages whose `Status` ends in
/// `installed` are returned; `licenses` maps package name to license
/// (from copyright files), missing entries give an empty license.
pub fn parse_dpkg_status(
    text: &str,
    licenses: &BTreeMap<String, String>,
) -> Result<Vec<Package>, PackageDbError> {
    let mut packages = Vec::new();
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut start_line = 1;
    let mut last_key: Option<String> = None;
    let mut finish =
        |fields: &mut BTreeMap<String, String>, start: usize| -> Result<(), PackageDbError> {
            if fields.is_empty() {
                return Ok(());
            }
            let name = fields.remove("Package").ok_or_else(|| PackageDbError {
                line: start,
                reason: "stanza has no Package: field".into(),
            })?;
            let installed = fields
                .get("Status")
                .is_some_and(|s| s.split_whitespace().last() == Some("installed"));
            if installed {
                let version = fields.remove("Version").ok_or_else(|| PackageDbError {
                    line: start,
                    reason: format!("package {name} has no Version: field"),
                })?;
                packages.push(Package {
                    license: licenses.get(&name).cloned().unwrap_or_default(),
                    arch: fields.remove("Architecture").unwrap_or_default(),
                    name,
                    version,
                });
            }
            fields.clear();
            Ok(())
        };
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            finish(&mut fields, start_line)?;
            start_line = line_no + 1;
            last_key = None;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if last_key.is_none() {
                return Err(PackageDbError {
                    line: line_no,
                    reason: "continuation line without a field".into(),
                });
            }
            continue; // multi-line values (Description, Conffiles) are not needed
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(PackageDbError {
                line: line_no,
                reason: format!("expected `Field: value`, found {line:?}"),
            });
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(PackageDbError {
                line: line_no,
                reason: format!("invalid field name {key:?}"),
            });
        }
        if fields.contains_key(key) {
            return Err(PackageDbError {
                line: line_no,
                reason: format!("field {key} repeated in stanza"),
            });
        }
        fields.insert(key.to_owned(), value.trim().to_owned());
        last_key = Some(key.to_owned());
    }
    finish(&mut fields, start_line)?;
    Ok(packages)
}

// ---- reading images back ---------------------------------------------------

/// What [`read_package_db`] found in an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledContent {
    pub format: PackageDbFormat,
    /// Sorted by (name, arch, version).
    pub packages: Vec<Package>,
    /// Parsed `/etc/os-release` (or `/usr/lib/os-release`); empty if absent.
    pub os_release: BTreeMap<String, String>,
}

/// Files of interest collected while applying layers in order.
#[derive(Default)]
struct Collected {
    files: BTreeMap<String, Vec<u8>>,
}

fn wanted(path: &str) -> bool {
    path == OS_RELEASE_PATH
        || path == USR_LIB_OS_RELEASE_PATH
        || path == APK_DB_PATH
        || path == DPKG_STATUS_PATH
        || (path.starts_with("usr/share/doc/")
            && path.ends_with("/copyright")
            && path.matches('/').count() == 4)
}

fn normalize_tar_path(raw: &str) -> String {
    let trimmed = raw.trim_start_matches("./").trim_start_matches('/');
    trimmed.trim_end_matches('/').to_owned()
}

/// Read the package database and os-release out of the image whose
/// manifest is `manifest`, applying its layers in order (later layers
/// override earlier ones; `.wh.` whiteouts delete). Layer content is
/// checked against the config's `diff_ids`.
pub fn read_package_db(
    layout: &Layout,
    manifest: &Descriptor,
) -> Result<InstalledContent, ImageError> {
    let Document::Manifest(m) = layout.get_manifest(manifest)? else {
        return Err(ImageError::NotAnImage {
            manifest: manifest.digest.clone(),
            media_type: manifest.media_type.clone(),
        });
    };
    let config_bytes = layout.get_blob_checked(&m.config)?;
    let config: ImageConfig =
        serde_json::from_slice(&config_bytes).map_err(|source| ImageError::InvalidConfig {
            manifest: manifest.digest.clone(),
            digest: m.config.digest.clone(),
            source,
        })?;
    if config.rootfs.diff_ids.len() != m.layers.len() {
        return Err(ImageError::LayerCountMismatch {
            manifest: manifest.digest.clone(),
            diff_ids: config.rootfs.diff_ids.len(),
            layers: m.layers.len(),
        });
    }

    let mut collected = Collected::default();
    for (layer, diff_id) in m.layers.iter().zip(&config.rootfs.diff_ids) {
        let blob = layout.get_blob_checked(layer)?;
        let layer_err = |source| ImageError::LayerIo {
            manifest: manifest.digest.clone(),
            layer: layer.digest.clone(),
            source,
        };
        let reader: Box<dyn Read + '_> = match layer.media_type.as_str() {
            MEDIA_TYPE_LAYER_TAR_GZIP => Box::new(MultiGzDecoder::new(blob.as_slice())),
            MEDIA_TYPE_LAYER_TAR => Box::new(blob.as_slice()),
            other => {
                return Err(ImageError::UnsupportedLayer {
                    manifest: manifest.digest.clone(),
                    layer: layer.digest.clone(),
                    media_type: other.to_owned(),
                });
            }
        };
        let mut hashing = HashingReader {
            inner: reader,
            hasher: Hasher::default(),
        };
        apply_layer(&mut hashing, &layer.digest, &mut collected).map_err(|e| match e {
            ApplyError::Io(source) => layer_err(source),
            ApplyError::Image(e) => e,
        })?;
        io::copy(&mut hashing, &mut io::sink()).map_err(layer_err)?;
        let actual = hashing.hasher.finish();
        if &actual != diff_id {
            return Err(ImageError::DiffIdMismatch {
                layer: layer.digest.clone(),
                expected: diff_id.clone(),
                actual,
            });
        }
    }

    let files = collected.files;
    let os_release = files
        .get(OS_RELEASE_PATH)
        .or_else(|| files.get(USR_LIB_OS_RELEASE_PATH))
        .map(|b| parse_os_release(&String::from_utf8_lossy(b)))
        .unwrap_or_default();
    let db_err = |path: &str| {
        let path = path.to_owned();
        let manifest = manifest.digest.clone();
        move |source| ImageError::PackageDb {
            path,
            manifest,
            source,
        }
    };
    let (format, mut packages) = if let Some(db) = files.get(APK_DB_PATH) {
        let text = String::from_utf8_lossy(db);
        (
            PackageDbFormat::Apk,
            parse_apk_installed(&text).map_err(db_err(APK_DB_PATH))?,
        )
    } else if let Some(db) = files.get(DPKG_STATUS_PATH) {
        let licenses: BTreeMap<String, String> = files
            .iter()
            .filter_map(|(path, bytes)| {
                let name = path
                    .strip_prefix("usr/share/doc/")?
                    .strip_suffix("/copyright")?;
                let license = parse_dpkg_copyright(&String::from_utf8_lossy(bytes))?;
                Some((name.to_owned(), license))
            })
            .collect();
        let text = String::from_utf8_lossy(db);
        (
            PackageDbFormat::Dpkg,
            parse_dpkg_status(&text, &licenses).map_err(db_err(DPKG_STATUS_PATH))?,
        )
    } else {
        return Err(ImageError::NoPackageDb {
            manifest: manifest.digest.clone(),
        });
    };
    packages.sort();
    Ok(InstalledContent {
        format,
        packages,
        os_release,
    })
}

enum ApplyError {
    Io(io::Error),
    Image(ImageError),
}

impl From<io::Error> for ApplyError {
    fn from(e: io::Error) -> Self {
        ApplyError::Io(e)
    }
}

fn apply_layer(
    reader: &mut dyn Read,
    layer: &Digest,
    collected: &mut Collected,
) -> Result<(), ApplyError> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = normalize_tar_path(&raw_path);
        // Whiteouts: `.wh..wh..opq` clears a directory, `.wh.NAME` deletes NAME.
        let (dir, base) = match path.rsplit_once('/') {
            Some((d, b)) => (d.to_owned(), b.to_owned()),
            None => (String::new(), path.clone()),
        };
        if base == ".wh..wh..opq" {
            let prefix = format!("{dir}/");
            collected
                .files
                .retain(|p, _| !(dir.is_empty() || p.starts_with(&prefix)));
            continue;
        }
        if let Some(victim) = base.strip_prefix(".wh.") {
            let victim = if dir.is_empty() {
                victim.to_owned()
            } else {
                format!("{dir}/{victim}")
            };
            let prefix = format!("{victim}/");
            collected
                .files
                .retain(|p, _| p != &victim && !p.starts_with(&prefix));
            continue;
        }
        // Anything at this path replaces what was there.
        collected.files.remove(&path);
        if !wanted(&path) || !entry.header().entry_type().is_file() {
            continue;
        }
        if entry.size() > MAX_METADATA_FILE {
            return Err(ApplyError::Image(ImageError::FileTooLarge {
                path,
                layer: layer.clone(),
            }));
        }
        let mut content = Vec::new();
        (&mut entry)
            .take(MAX_METADATA_FILE)
            .read_to_end(&mut content)?;
        collected.files.insert(path, content);
    }
    Ok(())
}

struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
