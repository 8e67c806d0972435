//! Entry points for fuzzing: each takes untrusted bytes and runs one of the
//! parsers the CLI runs on user input, the way the CLI runs it (through a file
//! where the CLI reads a file, so the checks of [`crate::input`] apply), then
//! checks the outcome against the CLI's contract.
//!
//! Two consumers call these and nothing else: the cargo-fuzz targets in
//! `fuzz/` (nightly, libFuzzer) and the property tests in
//! `harness/tests/cli/properties.rs` (stable, proptest, part of `cargo test`). So
//! the fuzz targets stay one-line wrappers, and everything they run is
//! compiled, linted and tested on stable.
//!
//! * `*_target` functions are the oracles: they return nothing and **panic**
//!   when the contract is broken (a panic inside the parser, an error that
//!   would not exit 2, a garbage bundle accepted, a policy set that differs
//!   from itself). A panic is what libFuzzer and proptest both report.
//! * The other functions return the result, for tests that want to look at it.
//!
//! Contract, from issue 9: bad input never panics, never hangs, and ends in a
//! clean [`Error`] whose exit code is 2 (usage/input); a bundle that does not
//! verify is never reported as verified.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use sigstore::bundle::verify::ArtifactDigest;

use crate::audit::drift::{self, AuditInput, DriftOptions, TableFilter, Verdict};
use crate::error::{Error, Result};
use crate::exit;
use crate::experiment::scenario::{self, Scenario};
use crate::policy::PolicySet;
use crate::supply::oci::spec::{
    Descriptor, ImageConfig, ImageManifest, MEDIA_TYPE_IMAGE_CONFIG, MEDIA_TYPE_IMAGE_INDEX,
    MEDIA_TYPE_IMAGE_MANIFEST, MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_LAYER_TAR_GZIP, RootFs,
};
use crate::supply::oci::{Digest, Layout};
use crate::verify::bundles::BundleVerifier;
use crate::verify::certs::IdentityPolicy;
use crate::verify::trust::TrustMaterial;

/// The clock of every fuzzed run (the lab's "now", 2026-01-01T00:00:00Z), so a
/// finding replays identically.
pub const NOW: i64 = 1_767_225_600;
/// The lab seed of the bundle bench.
pub const LAB_SEED: u64 = 20260101;

/// Panics unless `r` is a success or an error the CLI reports with exit code 2.
pub fn assert_clean<T>(what: &str, r: &Result<T>) {
    if let Err(e) = r {
        assert_eq!(
            e.exit_code(),
            exit::USAGE,
            "{what}: bad input must exit 2 (usage/input), got {}: {}",
            e.exit_code(),
            e.render()
        );
    }
}

// ---- scratch folders ---------------------------------------------------------

static SCRATCH: AtomicU64 = AtomicU64::new(0);

/// A fresh folder under the system temp dir, removed when dropped.
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    pub fn new() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "trustswap-fuzz-{}-{}",
            std::process::id(),
            SCRATCH.fetch_add(1, Ordering::Relaxed)
        ));
        let internal = |e: std::io::Error| Error::Internal {
            message: format!("failed to create the scratch folder {}: {e}", dir.display()),
        };
        if dir.exists() {
            // Left over by an earlier process with the same pid.
            std::fs::remove_dir_all(&dir).map_err(internal)?;
        }
        std::fs::create_dir_all(&dir).map_err(internal)?;
        Ok(Scratch { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Write `bytes` at `rel` (creating folders), returning the full path.
    pub fn write(&self, rel: impl AsRef<Path>, bytes: &[u8]) -> Result<PathBuf> {
        let path = self.dir.join(rel);
        let err = |source| Error::Write {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        std::fs::write(&path, bytes).map_err(err)?;
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---- policy sets (`trustswap diff`) -------------------------------------------

/// `bytes` as one policy file, loaded with `trustswap diff`'s loader.
pub fn policy_set(bytes: &[u8]) -> Result<PolicySet> {
    let scratch = Scratch::new()?;
    let path = scratch.write("policy.yaml", bytes)?;
    PolicySet::load(&path)
}

/// Oracle: loading never panics and fails with exit 2; a set that loads
/// compares equal to itself (`trustswap diff A A` holds).
pub fn policy_set_target(bytes: &[u8]) {
    let r = policy_set(bytes);
    assert_clean("policy set", &r);
    if let Ok(set) = r {
        let same = crate::check::diff_paths(&set, &set);
        assert!(
            same.verdict.holds() && same.differences.is_empty(),
            "a policy set differs from itself: {:?}",
            same.differences
        );
    }
}

// ---- scenario files ------------------------------------------------------------

/// The file stem a scenario is saved under: its `id` when that is a plain
/// file name (so mutated valid scenarios pass the id/file-name check and reach
/// the step validation), else `scenario`.
fn scenario_stem(bytes: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|t| serde_saphyr::from_str::<Id>(t).ok())
        .map(|i| i.id)
        .filter(|id| {
            (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .unwrap_or_else(|| "scenario".to_owned())
}

/// `bytes` as a scenario file, loaded and validated as `trustswap experiment` does.
pub fn scenario(bytes: &[u8]) -> Result<Vec<Scenario>> {
    let scratch = Scratch::new()?;
    scratch.write(format!("{}.yaml", scenario_stem(bytes)), bytes)?;
    scenario::load_dir(scratch.path())
}

/// Oracle: never panics, fails with exit 2.
pub fn scenario_target(bytes: &[u8]) {
    assert_clean("scenario", &scenario(bytes));
}

// ---- drift audit input -----------------------------------------------------------

/// `bytes` as `trustswap audit drift --input FILE --now <NOW>`: parse the
/// input, classify every container, render the report as JSON and as a
/// table. Returns the exit code of a successful run (0 compliant, 1 findings).
pub fn drift_input(bytes: &[u8]) -> Result<u8> {
    let scratch = Scratch::new()?;
    let path = scratch.write("input.yaml", bytes)?;
    let data: AuditInput = crate::yaml::parse_file(&path)?;
    let now = DateTime::<Utc>::from_timestamp(NOW, 0).unwrap_or_default();
    let report = drift::drift(&data, &DriftOptions::default(), now).map_err(|e| {
        Error::invalid(
            &path,
            None,
            "input",
            e.to_string(),
            "fix the field named above",
        )
    })?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| Error::Internal {
        message: format!("failed to serialise the drift report: {e}"),
    })?;
    let table = drift::render_table(&report, TableFilter::All);
    if json.is_empty() || table.is_empty() {
        return Err(Error::Internal {
            message: "empty drift report".into(),
        });
    }
    Ok(if report.summary.verdict == Verdict::Compliant {
        exit::HOLDS
    } else {
        exit::FINDING
    })
}

/// Oracle: never panics, fails with exit 2.
pub fn drift_target(bytes: &[u8]) {
    assert_clean("drift input", &drift_input(bytes));
}

// ---- OCI image layouts -------------------------------------------------------------

/// Where the fuzzed bytes go in an otherwise valid layout: the first byte of
/// the input, modulo the number of places; the rest is the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OciPlace {
    /// `index.json` itself (the base layout's blobs stay).
    Index,
    /// A manifest blob, tagged in a generated `index.json`.
    Manifest,
    /// An image-index blob, tagged in a generated `index.json`.
    ImageIndex,
    /// The `oci-layout` marker.
    Marker,
    /// An uncompressed layer of a generated image; its package database is read.
    LayerTar,
    /// A gzip layer of a generated image; its package database is read.
    LayerTarGz,
}

impl OciPlace {
    pub const ALL: [OciPlace; 6] = [
        OciPlace::Index,
        OciPlace::Manifest,
        OciPlace::ImageIndex,
        OciPlace::Marker,
        OciPlace::LayerTar,
        OciPlace::LayerTarGz,
    ];

    /// A fuzz input putting `content` at this place.
    pub fn input(self, content: &[u8]) -> Vec<u8> {
        let tag = OciPlace::ALL.iter().position(|p| *p == self).unwrap_or(0) as u8;
        let mut v = Vec::with_capacity(content.len() + 1);
        v.push(tag);
        v.extend_from_slice(content);
        v
    }

    fn of(input: &[u8]) -> (OciPlace, &[u8]) {
        match input.split_first() {
            Some((b, rest)) => (OciPlace::ALL[usize::from(*b) % OciPlace::ALL.len()], rest),
            None => (OciPlace::Index, input),
        }
    }
}

/// The tag of the base layout's image.
pub const OCI_BASE_TAG: &str = "registry.example/app:1";
const OCI_FUZZ_TAG: &str = "registry.example/fuzz:1";

/// A small valid layout, as relative path and bytes: one tagged image with an
/// apk package database and an SBOM referrer. Built once (with [`Layout`]'s
/// own writer), then written afresh for every input.
pub fn oci_base_files() -> Result<&'static [(PathBuf, Vec<u8>)]> {
    type Files = Vec<(PathBuf, Vec<u8>)>;
    static BASE: std::sync::OnceLock<std::result::Result<Files, String>> =
        std::sync::OnceLock::new();
    BASE.get_or_init(|| build_oci_base().map_err(|e| e.render()))
        .as_ref()
        .map(Vec::as_slice)
        .map_err(|m| Error::Internal { message: m.clone() })
}

fn oci_recipe() -> crate::supply::oci::Recipe {
    use crate::supply::oci::{OsRelease, Package, PackageDbFormat, Recipe};
    Recipe {
        name: "fuzz".into(),
        os_release: OsRelease {
            id: "wolfi".into(),
            name: "Wolfi".into(),
            version_id: "20230201".into(),
            pretty_name: None,
            id_like: None,
            version_codename: None,
            home_url: None,
            extra: Default::default(),
        },
        package_db: PackageDbFormat::Apk,
        packages: vec![Package {
            name: "ca-certificates-bundle".into(),
            version: "20240226-r0".into(),
            arch: "x86_64".into(),
            license: "MPL-2.0 AND MIT".into(),
        }],
        files: Vec::new(),
        labels: Default::default(),
    }
}

fn build_oci_base() -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let internal = |e: &dyn std::fmt::Display| Error::Internal {
        message: format!("failed to build the base OCI layout: {e}"),
    };
    let scratch = Scratch::new()?;
    let mut layout = Layout::create(scratch.path()).map_err(|e| internal(&e))?;
    let desc = crate::supply::oci::build_and_tag(&mut layout, &oci_recipe(), 1, OCI_BASE_TAG)
        .map_err(|e| internal(&e))?;
    layout
        .attach(
            &desc,
            "application/spdx+json",
            &[("application/spdx+json", br#"{"spdxVersion":"SPDX-2.3"}"#)],
            Default::default(),
        )
        .map_err(|e| internal(&e))?;
    let mut files = Vec::new();
    let mut stack = vec![scratch.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| internal(&e))? {
            let path = entry.map_err(|e| internal(&e))?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(scratch.path())
                    .map_err(|e| internal(&e))?
                    .to_path_buf();
                files.push((rel, std::fs::read(&path).map_err(|e| internal(&e))?));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The base image's layer, uncompressed (a valid [`OciPlace::LayerTar`] seed).
pub fn oci_base_layer_tar() -> Result<Vec<u8>> {
    let image = crate::supply::oci::build_image(&oci_recipe(), 1).map_err(|e| Error::Internal {
        message: e.to_string(),
    })?;
    let mut tar = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::MultiGzDecoder::new(image.layer_bytes.as_slice()),
        &mut tar,
    )
    .map_err(|e| Error::Internal {
        message: e.to_string(),
    })?;
    Ok(tar)
}

/// Seeds for the OCI target: every place with its valid content.
pub fn oci_seeds() -> Result<Vec<(String, Vec<u8>)>> {
    let base = oci_base_files()?;
    let get = |name: &str| {
        base.iter()
            .find(|(p, _)| p == Path::new(name))
            .map(|(_, b)| b.clone())
            .unwrap_or_default()
    };
    let index: crate::supply::oci::ImageIndex = serde_json::from_slice(&get("index.json"))
        .map_err(|e| Error::Internal {
            message: e.to_string(),
        })?;
    let mut seeds = vec![
        (
            "index".to_owned(),
            OciPlace::Index.input(&get("index.json")),
        ),
        (
            "marker".to_owned(),
            OciPlace::Marker.input(&get("oci-layout")),
        ),
    ];
    for (i, d) in index.manifests.iter().enumerate() {
        let blob = get(&format!("blobs/sha256/{}", d.digest.hex()));
        seeds.push((format!("manifest-{i}"), OciPlace::Manifest.input(&blob)));
    }
    // An image index over the tagged image.
    let tagged: Vec<Descriptor> = index
        .manifests
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d.annotations.clear();
            d
        })
        .collect();
    let mut image_index = crate::supply::oci::ImageIndex::empty();
    image_index.manifests = tagged;
    seeds.push((
        "image-index".to_owned(),
        OciPlace::ImageIndex.input(&crate::supply::oci::layout::to_json_bytes(&image_index)),
    ));
    let tar = oci_base_layer_tar()?;
    seeds.push(("layer-tar".to_owned(), OciPlace::LayerTar.input(&tar)));
    let image = crate::supply::oci::build_image(&oci_recipe(), 1).map_err(|e| Error::Internal {
        message: e.to_string(),
    })?;
    seeds.push((
        "layer-tar-gz".to_owned(),
        OciPlace::LayerTarGz.input(&image.layer_bytes),
    ));
    Ok(seeds)
}

fn usage(dir: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Usage {
        message: format!("{what} in the OCI layout {}: {e}", dir.display()),
        hint: "pass --layout DIR of a valid OCI image layout".into(),
    }
}

/// A tagged manifest over one layer of `layer` bytes; returns the tag.
fn write_image(scratch: &Scratch, layer: &[u8], gzip: bool) -> Result<Vec<u8>> {
    let diff_id = if gzip {
        // The diff id is of the uncompressed tar; undecodable bytes get the
        // raw digest (the reader then fails on the gzip stream or the diff id).
        let mut tar = Vec::new();
        let read = std::io::Read::read_to_end(
            &mut std::io::Read::take(flate2::read::MultiGzDecoder::new(layer), 64 << 20),
            &mut tar,
        );
        Digest::of(if read.is_ok() { &tar } else { layer })
    } else {
        Digest::of(layer)
    };
    let config = ImageConfig {
        created: None,
        architecture: "amd64".into(),
        os: "linux".into(),
        config: None,
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![diff_id],
        },
        history: Vec::new(),
    };
    let config_bytes = crate::supply::oci::layout::to_json_bytes(&config);
    let layer_type = if gzip {
        MEDIA_TYPE_LAYER_TAR_GZIP
    } else {
        MEDIA_TYPE_LAYER_TAR
    };
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_IMAGE_MANIFEST.into()),
        artifact_type: None,
        config: Descriptor::for_bytes(MEDIA_TYPE_IMAGE_CONFIG, &config_bytes),
        layers: vec![Descriptor::for_bytes(layer_type, layer)],
        subject: None,
        annotations: Default::default(),
    };
    let manifest_bytes = crate::supply::oci::layout::to_json_bytes(&manifest);
    for b in [layer, &config_bytes, &manifest_bytes] {
        scratch.write(format!("blobs/sha256/{}", Digest::of(b).hex()), b)?;
    }
    Ok(manifest_bytes)
}

/// An `index.json` tagging `bytes` (a manifest or an image index) as [`OCI_FUZZ_TAG`].
fn index_tagging(media_type: &str, bytes: &[u8]) -> Vec<u8> {
    let mut d = Descriptor::for_bytes(media_type, bytes);
    d.annotations.insert(
        crate::supply::oci::spec::ANNOTATION_REF_NAME.into(),
        OCI_FUZZ_TAG.into(),
    );
    let mut index = crate::supply::oci::ImageIndex::empty();
    index.manifests.push(d);
    crate::supply::oci::layout::to_json_bytes(&index)
}

/// `input` (see [`OciPlace`]) written into a layout, which is then opened
/// (fully verified) and read as `trustswap` reads layouts: every tag resolved
/// and its manifest parsed, referrers listed, package databases read.
/// Returns how many documents were read.
pub fn oci_layout(input: &[u8]) -> Result<usize> {
    let (place, content) = OciPlace::of(input);
    let scratch = Scratch::new()?;
    for (rel, bytes) in oci_base_files()? {
        scratch.write(rel, bytes)?;
    }
    match place {
        OciPlace::Index => {
            scratch.write("index.json", content)?;
        }
        OciPlace::Marker => {
            scratch.write("oci-layout", content)?;
        }
        OciPlace::Manifest | OciPlace::ImageIndex => {
            let media_type = if place == OciPlace::Manifest {
                MEDIA_TYPE_IMAGE_MANIFEST
            } else {
                MEDIA_TYPE_IMAGE_INDEX
            };
            scratch.write(
                format!("blobs/sha256/{}", Digest::of(content).hex()),
                content,
            )?;
            scratch.write("index.json", &index_tagging(media_type, content))?;
        }
        OciPlace::LayerTar | OciPlace::LayerTarGz => {
            let manifest = write_image(&scratch, content, place == OciPlace::LayerTarGz)?;
            scratch.write(
                "index.json",
                &index_tagging(MEDIA_TYPE_IMAGE_MANIFEST, &manifest),
            )?;
        }
    }
    let dir = scratch.path();
    let layout = crate::lab_cli::open_layout(dir)?;
    let mut read = 0;
    for reference in layout.references() {
        let reference = reference.to_string();
        let desc = layout
            .resolve(&reference)
            .map_err(|e| usage(dir, "resolve", e))?;
        layout
            .get_manifest(&desc)
            .map_err(|e| usage(dir, "read a manifest", e))?;
        read += 1;
        if desc.media_type == MEDIA_TYPE_IMAGE_MANIFEST {
            // Not every manifest is an image (referrers, artifacts): a failure
            // to find a package database is an answer, not a crash.
            let _ = crate::supply::oci::read_package_db(&layout, &desc);
        }
    }
    for repo in layout.repositories() {
        let _ = layout.list_tags(&repo);
        for d in &layout.index().manifests {
            read += layout
                .referrers(&repo, &d.digest)
                .map_err(|e| usage(dir, "list referrers", e))?
                .len();
        }
    }
    Ok(read)
}

/// Oracle: never panics, fails with exit 2.
pub fn oci_layout_target(input: &[u8]) {
    assert_clean("OCI layout", &oci_layout(input));
}

// ---- Sigstore bundles ------------------------------------------------------------

/// A fixed lab trust root, and two lab bundles (a message signature and a
/// DSSE attestation) over the same image, both of which verify.
pub struct BundleBench {
    verifier: BundleVerifier,
    policy: IdentityPolicy,
    /// The signed image digest: what both samples verify against.
    pub digest: [u8; 32],
    /// `trusted_root.json` of the lab.
    pub trusted_root: Vec<u8>,
    /// `(name, bundle JSON)`, each verifying against `digest`.
    pub samples: Vec<(String, Vec<u8>)>,
}

/// A digest no bundle signs: verifying anything against it must be refused.
pub const UNSIGNED_DIGEST: [u8; 32] = [0x5a; 32];

impl BundleBench {
    /// Build the lab (fixed seed and clock), one image, and its two bundles.
    pub fn lab() -> Result<Self> {
        use crate::supply::lab::ca::Identity;
        use crate::supply::lab::sign::{BundleContent, SignOptions, Signer, Target};
        use crate::supply::lab::{Lab, LabConfig};

        let lab_err = |e: &dyn std::fmt::Display| Error::Internal {
            message: format!("failed to build the lab bundle bench: {e}"),
        };
        let mut lab = Lab::new(LabConfig {
            seed: LAB_SEED,
            now: NOW,
        })
        .map_err(|e| lab_err(&e))?;
        let scratch = Scratch::new()?;
        let mut layout = Layout::create(scratch.path()).map_err(|e| lab_err(&e))?;
        let repository = "registry.example/app";
        let manifest = crate::supply::oci::build_and_tag(
            &mut layout,
            &oci_recipe(),
            1,
            &format!("{repository}:1"),
        )
        .map_err(|e| lab_err(&e))?;
        let target = Target {
            repository: repository.into(),
            manifest,
            signature_repository: repository.into(),
        };
        let identity = Identity::github_workflow(
            "example/app",
            ".github/workflows/release.yaml",
            "refs/heads/main",
        );
        let opts = SignOptions {
            signed_at: NOW - 600,
            tlog: true,
            tamper_payload: false,
            key_label: "fuzz".into(),
        };
        let predicate = serde_json::json!({"spdxVersion": "SPDX-2.3", "name": "fuzz"});
        let contents = [
            ("message-signature", BundleContent::MessageSignature),
            (
                "dsse-attestation",
                BundleContent::Attestation {
                    predicate_type: "https://spdx.dev/Document",
                    predicate: &predicate,
                },
            ),
        ];
        for (_, content) in contents.iter() {
            let signer = Signer::Keyless {
                ca: &lab.ca,
                identity: &identity,
                ct: Some(&lab.ct),
            };
            let rekor = &mut lab.rekor;
            crate::supply::lab::sign::publish_bundle(
                &mut layout,
                rekor,
                &target,
                signer,
                &opts,
                content.clone(),
            )
            .map_err(|e| lab_err(&e))?;
        }
        let referrers = layout
            .referrers(repository, target.digest())
            .map_err(|e| lab_err(&e))?;
        let mut samples = Vec::new();
        for (name, _) in contents.iter() {
            let want = name.replace("-attestation", "-envelope");
            let d = referrers
                .iter()
                .find(|d| {
                    d.annotations
                        .get(crate::supply::lab::sign::ANN_BUNDLE_CONTENT)
                        .is_some_and(|c| *c == want)
                })
                .ok_or_else(|| lab_err(&format!("no {name} bundle")))?;
            let crate::supply::oci::Document::Manifest(m) =
                layout.get_manifest(d).map_err(|e| lab_err(&e))?
            else {
                return Err(lab_err(&"a bundle referrer is an index"));
            };
            let layer = m.layers.first().ok_or_else(|| lab_err(&"no layer"))?;
            let json = layout.get_blob_checked(layer).map_err(|e| lab_err(&e))?;
            samples.push(((*name).to_owned(), json));
        }
        let trusted_root = lab.trusted_root_json().map_err(|e| lab_err(&e))?;
        let trust = TrustMaterial::from_trusted_root_json(&trusted_root)
            .map_err(|r| lab_err(&r.to_string()))?;
        let verifier = BundleVerifier::new(trust, NOW).map_err(|r| lab_err(&r.to_string()))?;
        let digest: [u8; 32] = hex::decode(target.digest().hex())
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| lab_err(&"image digest"))?;
        Ok(BundleBench {
            verifier,
            policy: IdentityPolicy {
                identity: identity.san.as_str().to_owned(),
                issuer: Some(identity.issuer.clone()),
            },
            digest,
            trusted_root,
            samples,
        })
    }

    /// `trustswap verify-bundle`'s verdict on `json` for an artifact of
    /// `digest`: 0 only when verified, else the refusal kind's exit code:
    /// 1 refused, 2 not a bundle, 3 undecided.
    pub fn verdict(&self, json: &[u8], digest: [u8; 32]) -> u8 {
        let outcome = BundleVerifier::parse(json).and_then(|b| {
            self.verifier
                .verify_strict(b, ArtifactDigest::Sha256(digest), &self.policy)
        });
        match outcome {
            Ok(()) => exit::HOLDS,
            // The refusal's kind decides, as in `verify-bundle` (never its text).
            Err(r) => r.kind.exit_code(),
        }
    }

    /// Oracle: verifying `json` against the signed digest never panics, and
    /// against a digest nothing signs it is never accepted.
    pub fn target(&self, json: &[u8]) {
        let _ = self.verdict(json, self.digest);
        assert_ne!(
            self.verdict(json, UNSIGNED_DIGEST),
            exit::HOLDS,
            "a bundle was accepted for a digest it does not sign"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_files_are_saved_under_their_id() {
        assert_eq!(scenario_stem(b"id: tag-repush\ntitle: x\n"), "tag-repush");
        assert_eq!(scenario_stem(b"id: ../../etc/passwd\n"), "scenario");
        assert_eq!(scenario_stem(b"\xff\xfe"), "scenario");
    }

    #[test]
    fn oci_places_wrap_around() {
        for (i, p) in OciPlace::ALL.iter().enumerate() {
            assert_eq!(OciPlace::of(&p.input(b"x")), (*p, &b"x"[..]));
            assert_eq!(OciPlace::of(&[(i + OciPlace::ALL.len()) as u8]).0, *p);
        }
        assert_eq!(OciPlace::of(b"").0, OciPlace::Index);
    }

    #[test]
    fn scratch_folders_are_removed() {
        let s = Scratch::new().unwrap();
        let p = s.write("a/b", b"x").unwrap();
        assert!(p.is_file());
        let dir = s.path().to_path_buf();
        drop(s);
        assert!(!dir.exists());
    }
}
