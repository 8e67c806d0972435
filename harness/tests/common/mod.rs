//! Shared test helpers: project paths, the real-world data (read in place, and a
//! loud failure if it is missing), and the shipped vendors.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use trustswap::policy::Contract;
use trustswap::profile::{self, Vendor, keys::KeyResolver};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared/realworld` beside the project (or beside a folder holding it, as
/// for a git worktree under `wt/NAME`). CI always has it: missing data is a
/// failure, never a skip.
pub fn realworld() -> PathBuf {
    let beside = root().join("../shared/realworld");
    let found = root()
        .canonicalize()
        .ok()
        .and_then(|r| {
            r.ancestors()
                .skip(1)
                .map(|a| a.join("shared/realworld"))
                .find(|p| p.is_dir())
        })
        .unwrap_or_else(|| beside.clone());
    assert!(
        found.is_dir(),
        "real-world test data missing: expected {} (CI always has it)",
        beside.display()
    );
    found
}

pub fn dhi_key_dir() -> PathBuf {
    realworld().join("trust/docker-hardened-images")
}

pub fn keys() -> KeyResolver {
    KeyResolver::new(vec![dhi_key_dir()])
}

pub fn contract() -> Contract {
    Contract::load(&root().join("configs/policies/contract.yaml")).expect("shipped contract loads")
}

pub fn vendors() -> Vec<Vendor> {
    profile::load_dir(&root().join("configs/vendors"), &keys()).expect("shipped vendors load")
}

pub fn vendor(name: &str) -> Vendor {
    vendors()
        .into_iter()
        .find(|v| v.name == name)
        .expect("shipped vendor")
}

/// Run the binary from the project root with an isolated HOME and no key-cache
/// environment, so that only what the test passes is used.
pub fn trustswap(args: &[&str]) -> std::process::Output {
    trustswap_in(&root(), args)
}

/// [`trustswap`] from the folder `cwd`.
pub fn trustswap_in(cwd: &Path, args: &[&str]) -> std::process::Output {
    let home = tempfile::tempdir().expect("tempdir");
    std::process::Command::new(env!("CARGO_BIN_EXE_trustswap"))
        .args(args)
        .current_dir(cwd)
        .env("HOME", home.path())
        .env_remove("TRUSTSWAP_KEY_CACHE")
        .env_remove("TRUSTSWAP_ORACLE")
        .env_remove("KUBECONFIG")
        .output()
        .expect("binary runs")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Where the shipped matrix does not hold, on the embedded engine as on real
/// Kyverno 1.19: an ImageValidatingPolicy never verifies DHI's key-signed SBOM
/// attestation (a legacy `.att` verified with `insecureIgnoreTlog`, which
/// cosign reports as not bundle-verified; kyverno/kyverno#17109), so every
/// DHI image these scenarios expect admitted under `ivpol` is denied, and the
/// `ivpol` cross-vendor matrix loses its DHI cell.
#[allow(dead_code)]
pub const KYVERNO_17109: [&str; 4] = [
    "cross-vendor-trust",
    "pod-update",
    "tag-repush",
    "unsigned-image",
];

/// Asserts that `value` (a `result.json`) validates against its published
/// JSON Schema in `harness/schema/` (`run-result` refers to `check-result`,
/// registered here: nothing is fetched).
pub fn assert_matches_schema(schema: &str, value: &serde_json::Value) {
    let errors = schema_errors(schema, value);
    assert!(errors.is_empty(), "{schema}: {errors:#?}");
}

/// The schema violations of `value`, one line each (`<message> at <pointer>`).
pub fn schema_errors(schema: &str, value: &serde_json::Value) -> Vec<String> {
    let dir = root().join("harness/schema");
    let load = |name: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(dir.join(name)).expect("schema file");
        serde_json::from_str(&text).expect("schema is JSON")
    };
    let registry = jsonschema::Registry::new()
        .add(
            "https://trustswap.dev/schema/check-result.schema.json",
            load("check-result.schema.json"),
        )
        .expect("registry")
        .prepare()
        .expect("registry");
    let validator = jsonschema::options()
        .with_registry(&registry)
        .should_validate_formats(true)
        .build(&load(schema))
        .expect("the schema compiles");
    validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path().as_str()))
        .collect()
}
