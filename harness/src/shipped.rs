//! The shipped inputs, built into the binary: the vendor profiles, the trust
//! contract and the hypotheses. `trustswap` runs from any folder with them;
//! `--vendors`, `--contract` and `--scenarios` read files instead, and
//! `trustswap init DIR` writes the editable copies. Each keeps the path it
//! has in the repository, which is also what errors and reports name.

use std::path::Path;

use crate::error::Result;

/// A file of the repository, built in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shipped {
    /// Its path in the repository (and in a folder `init` writes).
    pub path: &'static str,
    pub text: &'static str,
}

macro_rules! shipped {
    ($($path:literal),* $(,)?) => {
        &[$(Shipped {
            path: $path,
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../", $path)),
        }),*]
    };
}

/// `configs/vendors/*.yaml`.
pub const VENDORS: &[Shipped] = shipped!(
    "configs/vendors/chainguard.yaml",
    "configs/vendors/dhi.yaml",
    "configs/vendors/distroless.yaml",
    "configs/vendors/selfbuilt.yaml",
);

/// `configs/policies/contract.yaml`.
pub const CONTRACT: &[Shipped] = shipped!("configs/policies/contract.yaml");

/// `scenarios/*.yaml` and their README.
pub const SCENARIOS: &[Shipped] = shipped!(
    "scenarios/README.md",
    "scenarios/admission-bypass.yaml",
    "scenarios/break-glass-expiry.yaml",
    "scenarios/cross-vendor-trust.yaml",
    "scenarios/expired-cert-no-tlog.yaml",
    "scenarios/foreign-ca.yaml",
    "scenarios/key-rotation.yaml",
    "scenarios/look-alike-identity.yaml",
    "scenarios/missing-sbom.yaml",
    "scenarios/other-vendor-signer.yaml",
    "scenarios/pod-update.yaml",
    "scenarios/policy-trust-root.yaml",
    "scenarios/tag-repush.yaml",
    "scenarios/tampered-or-misbound.yaml",
    "scenarios/unsigned-image.yaml",
);

/// The YAML files of a shipped set, as (path, text).
pub fn yaml(set: &'static [Shipped]) -> impl Iterator<Item = (&'static Path, &'static str)> {
    set.iter()
        .filter(|f| f.path.ends_with(".yaml"))
        .map(|f| (Path::new(f.path), f.text))
}

/// `trustswap init DIR`: writes every shipped file under `dir`, as an owned
/// folder (written whole, then swapped in; a folder of other files is
/// refused unless `force`). Returns the paths written.
pub fn init(dir: &Path, force: bool) -> Result<Vec<String>> {
    crate::owned::Owner::output().replace_with(dir, force, |tmp| {
        let mut written = Vec::new();
        for f in VENDORS.iter().chain(CONTRACT).chain(SCENARIOS) {
            crate::yaml::write_atomic(&tmp.join(f.path), f.text.as_bytes())?;
            written.push(f.path.to_owned());
        }
        Ok(written)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in lists hold exactly the repository's files: a profile or
    /// scenario added to the folder and not here fails.
    #[test]
    fn the_built_in_sets_are_the_repository_folders() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (dir, set, ext) in [
            ("configs/vendors", VENDORS, ".yaml"),
            ("configs/policies", CONTRACT, ".yaml"),
            ("scenarios", SCENARIOS, ""),
        ] {
            let mut on_disk: Vec<String> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| format!("{dir}/{}", e.unwrap().file_name().to_string_lossy()))
                .filter(|p| p.ends_with(ext))
                .collect();
            on_disk.sort();
            let built: Vec<&str> = set.iter().map(|f| f.path).collect();
            assert_eq!(on_disk, built, "{dir}");
        }
    }
}
