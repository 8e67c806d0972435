//! Interoperability with real cosign (issue 10, item 6), both ways, through a
//! real registry (Debian's `docker-registry` on 127.0.0.1):
//! - real cosign v3 verifies every lab fixture (legacy `.sig`/`.att`, and the
//!   Sigstore bundle referrers the lab writes as cosign v3 does) to the
//!   verdict the catalogue expects, with the lab's `trusted_root.json`;
//! - trustswap verifies what real cosign writes with a key: `sign` and
//!   `attest` (CycloneDX and SPDX predicates), as Sigstore bundles (cosign
//!   v3's default) and in the legacy layout.
//!
//! cosign is the one `oracle/build` builds; `TRUSTSWAP_ORACLE` names its
//! folder (`.ci/run` sets it). Without it the tests say why and pass.

use std::path::{Path, PathBuf};
use std::process::Command;

use trustswap::lab_cli::{init, layout_dir};
use trustswap::supply::lab::fixtures::{Catalogue, Expect, Fixture, PolicySpec};
use trustswap::supply::oci::Layout;
use trustswap::supply::registry::{LocalRegistry, Registry};

fn cosign() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("TRUSTSWAP_ORACLE") else {
        eprintln!(
            "skipping: TRUSTSWAP_ORACLE is not set (real cosign: export TRUSTSWAP_ORACLE=\"$(oracle/build | tail -1)\")"
        );
        return None;
    };
    let bin = Path::new(&dir).join("cosign");
    if bin.is_file() {
        Some(bin)
    } else {
        eprintln!(
            "skipping: TRUSTSWAP_ORACLE={} holds no cosign binary (run oracle/build)",
            Path::new(&dir).display()
        );
        None
    }
}

/// The lab, pushed to a fresh local registry.
struct Pushed {
    dir: tempfile::TempDir,
    catalogue: Catalogue,
    host: String,
    _registry: LocalRegistry,
}

impl Pushed {
    fn new(seed: u64) -> Pushed {
        let dir = tempfile::tempdir().expect("tempdir");
        let lab = dir.path().join("lab");
        let (catalogue, _lock) = init(
            &lab,
            seed,
            &trustswap::supply::lab::shipped_vendors().expect("shipped vendors"),
        )
        .expect("lab init");
        let registry = LocalRegistry::start(&dir.path().join("registry"))
            .unwrap_or_else(|e| panic!("{e} (CI installs docker-registry)"));
        let layout = Layout::open(layout_dir(&lab)).expect("layout");
        Registry::connect(&registry.host)
            .expect("connect")
            .push_layout(&layout)
            .expect("push");
        Pushed {
            host: registry.host.clone(),
            dir,
            catalogue,
            _registry: registry,
        }
    }

    fn lab(&self) -> PathBuf {
        self.dir.path().join("lab")
    }

    /// cosign, offline: its TUF cache in the test's folder, the lab's root.
    fn cosign(&self, bin: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
        let home = self.dir.path().join("home");
        let out = Command::new(bin)
            .args(args)
            .env("HOME", &home)
            .env("TUF_ROOT", home.join("tuf"))
            .env("COSIGN_PASSWORD", "")
            .env_remove("COSIGN_REPOSITORY")
            .envs(env.iter().copied())
            .output()
            .expect("cosign runs");
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), text)
    }
}

fn accepts(e: &Expect) -> bool {
    matches!(e, Expect::Accept)
}

/// cosign's flags for a fixture's policy (the key written beside the lab).
fn policy_flags(p: &Pushed, f: &Fixture, n: usize) -> Vec<String> {
    let root = p.lab().join("trusted_root.json").display().to_string();
    let mut flags = vec!["--trusted-root".to_owned(), root];
    match &f.policy {
        PolicySpec::Key {
            public_key_pem,
            require_tlog,
        } => {
            let key = p.dir.path().join(format!("fixture-{n}.pub"));
            std::fs::write(&key, public_key_pem).expect("write key");
            flags.extend(["--key".to_owned(), key.display().to_string()]);
            if !require_tlog {
                flags.push("--insecure-ignore-tlog".to_owned());
            }
        }
        PolicySpec::Keyless {
            san,
            issuer,
            require_sct,
        } => {
            flags.extend([
                "--certificate-identity".to_owned(),
                san.as_str().to_owned(),
                "--certificate-oidc-issuer".to_owned(),
                issuer.clone(),
            ]);
            if !require_sct {
                flags.push("--insecure-ignore-sct".to_owned());
            }
        }
    }
    flags
}

#[test]
fn real_cosign_verifies_every_lab_fixture_to_its_expected_verdict() {
    let Some(bin) = cosign() else { return };
    let p = Pushed::new(0);
    let mut checked = 0;
    let mut wrong = Vec::new();
    let mut bundles = 0;
    for (n, f) in p.catalogue.fixtures.iter().enumerate() {
        let image = format!("{}/{}", p.host, f.image_ref);
        let sig_repo = format!("{}/{}", p.host, f.signature_repository);
        let env: Vec<(&str, &str)> = if f.signature_repository != f.repository {
            vec![("COSIGN_REPOSITORY", sig_repo.as_str())]
        } else {
            vec![]
        };
        let flags = policy_flags(&p, f, n);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        bundles += usize::from(f.expect_bundle.is_some());

        // The legacy `.sig`/`.att` (cosign v3 reads an image's Sigstore
        // bundles instead whenever it has any: that is the bundle check).
        let mut args = vec!["verify", "--new-bundle-format=false"];
        args.extend(&flags);
        args.push(&image);
        let (ok, text) = p.cosign(&bin, &args, &env);
        checked += 1;
        if let Some(e) = &f.expect_bundle {
            let mut args = vec!["verify"];
            args.extend(&flags);
            args.push(&image);
            let (ok, text) = p.cosign(&bin, &args, &env);
            checked += 1;
            if ok != accepts(e) {
                wrong.push(format!(
                    "{} bundle: cosign {}, expected {e:?}\n{text}",
                    f.image_ref,
                    if ok { "accepted" } else { "refused" },
                ));
            }
        }
        if ok != accepts(&f.expect_signature) {
            wrong.push(format!(
                "{} signature: cosign {}, expected {:?}\n{text}",
                f.image_ref,
                if ok { "accepted" } else { "refused" },
                f.expect_signature
            ));
        }
        for t in f.sbom_predicate_types.iter().take(1) {
            let mut args = vec![
                "verify-attestation",
                "--new-bundle-format=false",
                "--type",
                t,
            ];
            args.extend(&flags);
            args.push(&image);
            let (ok, text) = p.cosign(&bin, &args, &env);
            checked += 1;
            if ok != accepts(&f.expect_sbom) {
                wrong.push(format!(
                    "{} attestation {t}: cosign {}, expected {:?}\n{text}",
                    f.image_ref,
                    if ok { "accepted" } else { "refused" },
                    f.expect_sbom
                ));
            }
        }
    }
    eprintln!(
        "real cosign: {checked} checks on {} fixtures ({bundles} with bundle referrers)",
        p.catalogue.fixtures.len()
    );
    assert!(bundles > 0, "the lab writes bundle referrers");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `trustswap verify` against the registry, as a user runs it.
fn trustswap_verify(p: &Pushed, key: &Path, image: &str, extra: &[&str]) -> (i32, String) {
    let root = p.lab().join("trusted_root.json");
    let out = Command::new(env!("CARGO_BIN_EXE_trustswap"))
        .args(["verify", "--registry", &p.host, "--key"])
        .arg(key)
        .arg("--trusted-root")
        .arg(&root)
        .args(extra)
        .arg(image)
        .env_remove("TRUSTSWAP_TRUSTED_ROOT")
        .output()
        .expect("trustswap runs");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn trustswap_verifies_what_real_cosign_writes() {
    let Some(bin) = cosign() else { return };
    let p = Pushed::new(3);
    let keys = p.dir.path().join("keys");
    std::fs::create_dir_all(&keys).expect("keys folder");
    let out = Command::new(&bin)
        .arg("generate-key-pair")
        .current_dir(&keys)
        .env("COSIGN_PASSWORD", "")
        .output()
        .expect("cosign runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (key, public) = (keys.join("cosign.key"), keys.join("cosign.pub"));
    let key_s = key.display().to_string();
    std::fs::write(
        keys.join("bom.json"),
        r#"{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"components":[]}"#,
    )
    .expect("bom");
    std::fs::write(
        keys.join("spdx.json"),
        r#"{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"x","dataLicense":"CC0-1.0","documentNamespace":"https://example.test/x","creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: test"]},"packages":[]}"#,
    )
    .expect("spdx");
    let (bom, spdx) = (
        keys.join("bom.json").display().to_string(),
        keys.join("spdx.json").display().to_string(),
    );
    // cosign offline with a key: no signing config, no log upload
    let offline = [
        "--key",
        key_s.as_str(),
        "--use-signing-config=false",
        "--tlog-upload=false",
        "--yes",
    ];
    let write = |format: &str, command: &[&str], image: &str| {
        let mut args: Vec<&str> = command.to_vec();
        args.push(format);
        args.extend(offline);
        args.push(image);
        let (ok, text) = p.cosign(&bin, &args, &[]);
        assert!(ok, "cosign {args:?}: {text}");
    };
    // two unsigned lab images: one gets cosign v3's default bundles, one the
    // legacy layout
    let unsigned = |vendor: &str| {
        p.catalogue
            .fixtures
            .iter()
            .find(|f| {
                serde_json::to_value(f.variant).ok() == Some(serde_json::json!("unsigned"))
                    && f.vendor == vendor
            })
            .map(|f| f.image_ref.clone())
            .expect("an unsigned fixture")
    };
    let (bundled, legacy) = (unsigned("chainguard"), unsigned("distroless"));
    for (image, format) in [
        (&bundled, "--new-bundle-format=true"),
        (&legacy, "--new-bundle-format=false"),
    ] {
        let at = format!("{}/{image}", p.host);
        write(format, &["sign"], &at);
        write(
            format,
            &["attest", "--type", "cyclonedx", "--predicate", &bom],
            &at,
        );
        write(
            format,
            &["attest", "--type", "spdxjson", "--predicate", &spdx],
            &at,
        );
    }
    let types = [
        "--type",
        "https://cyclonedx.org/bom",
        "--type",
        "https://spdx.dev/Document",
    ];
    for (image, via) in [(&bundled, "via bundle"), (&legacy, "via legacy-")] {
        let mut args = vec!["--insecure-ignore-tlog"];
        args.extend(types);
        let (code, text) = trustswap_verify(&p, &public, image, &args);
        assert_eq!(code, 0, "{image}: {text}");
        assert_eq!(text.matches("verified: ").count(), 3, "{text}");
        assert!(text.contains(via), "{text}");
        // another key: refused (exit 1)
        let other = p.lab().join("dhi.pub");
        let (code, text) = trustswap_verify(&p, &other, image, &["--insecure-ignore-tlog"]);
        assert_eq!(code, 1, "{image} with another key: {text}");
        // a predicate type cosign did not attest: refused
        let (code, text) = trustswap_verify(
            &p,
            &public,
            image,
            &[
                "--insecure-ignore-tlog",
                "--type",
                "https://slsa.dev/provenance/v1",
            ],
        );
        assert_eq!(code, 1, "{text}");
    }
    // A key-signed bundle carries no log entry here: requiring one refuses it
    // (exit 1), as cosign refuses it; the legacy signature has none either.
    let (code, text) = trustswap_verify(&p, &public, &bundled, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("no transparency log entry"), "{text}");
    let (code, text) = trustswap_verify(&p, &public, &legacy, &[]);
    assert_eq!(code, 1, "{text}");
    let (ok, _) = p.cosign(
        &bin,
        &[
            "verify",
            "--key",
            &public.display().to_string(),
            "--trusted-root",
            &p.lab().join("trusted_root.json").display().to_string(),
            "--new-bundle-format=false",
            &format!("{}/{legacy}", p.host),
        ],
        &[],
    );
    assert!(
        !ok,
        "cosign refuses a legacy signature without its log entry"
    );
}
