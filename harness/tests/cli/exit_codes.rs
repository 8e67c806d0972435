//! Exit codes as documented, over every command and every class of bad input:
//! 0 the claim holds, 1 a finding, 2 usage or input error, 3 the harness could
//! not decide. One table; each row is a command line and the code it must end with.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{root, text};

struct Env {
    _t: tempfile::TempDir,
    dir: PathBuf,
}

impl Env {
    fn new() -> Self {
        let t = tempfile::tempdir().expect("tempdir");
        let dir = t.path().to_path_buf();
        let w = |name: &str, body: &str| std::fs::write(dir.join(name), body).expect("write");
        w("empty.yaml", "");
        w("broken.yaml", "kind: [\n");
        w("notk8s.yaml", "just: a map\n");
        w("a-file", "x");
        w("not-json.json", "{ not json");
        w(
            "bad-key.pem",
            "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n",
        );
        w(
            "unsupported-media.json",
            r#"{"mediaType":"unsupported","verificationMaterial":{},"messageSignature":{}}"#,
        );
        w(
            "drift-empty.yaml",
            "state: {pods: []}\nmanifest: {entries: []}\ntrustPolicy: {rules: []}\n",
        );
        std::fs::create_dir_all(dir.join("user-folder")).expect("mkdir");
        w("user-folder/notes.txt", "mine");
        Env { _t: t, dir }
    }

    fn p(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

fn run(args: &[String]) -> Output {
    let home = tempfile::tempdir().expect("tempdir");
    Command::new(env!("CARGO_BIN_EXE_trustswap"))
        .args(args)
        .current_dir(root())
        .env("HOME", home.path())
        .env("TRUSTSWAP_LAB_LOCK_WAIT", "5")
        .env_remove("TRUSTSWAP_KEY_CACHE")
        .env_remove("TRUSTSWAP_TRUSTED_ROOT")
        .env_remove("TRUSTSWAP_ORACLE")
        .env_remove("KUBECONFIG")
        .output()
        .expect("binary runs")
}

fn lab_dir() -> &'static Path {
    static LAB: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    &LAB.get_or_init(|| {
        let t = tempfile::tempdir().expect("tempdir");
        let dir = t.path().join("lab");
        let o = run(&[
            "lab".into(),
            "init".into(),
            "--dir".into(),
            dir.display().to_string(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        (t, dir)
    })
    .1
}

/// A port on loopback where nothing listens.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = l.local_addr().expect("addr");
    drop(l);
    a.to_string()
}

const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

#[test]
fn every_command_ends_with_its_documented_code() {
    let e = Env::new();
    let lab = lab_dir().display().to_string();
    let layout = lab_dir().join("layout").display().to_string();
    let lab_root = lab_dir().join("trusted_root.json").display().to_string();
    let dhi_keys = common::dhi_key_dir().display().to_string();
    let closed = closed_port();
    let rows: Vec<(&str, u8, Vec<String>)> = vec![
        // ---- usage: flags and arguments
        ("unknown command", 2, v(&["frobnicate"])),
        ("unknown flag", 2, v(&["check", "--frobnicate"])),
        ("bad engine", 2, v(&["check", "--engine", "opa"])),
        ("bad seed", 2, v(&["run", "--seed", "minus-one"])),
        (
            "bad input size",
            2,
            v(&["--max-input-size", "lots", "check"]),
        ),
        (
            "unknown vendor",
            2,
            v(&["check", "--vendor", "acme", "--no-report"]),
        ),
        (
            "unknown scenario",
            2,
            v(&["run", "--scenario", "nope", "--no-report"]),
        ),
        (
            "compare on embedded",
            2,
            v(&["run", "--compare", "embedded", "--no-report"]),
        ),
        (
            "claim agreement without compare",
            2,
            v(&["run", "--claim", "agreement", "--no-report"]),
        ),
        (
            "cluster without registry",
            2,
            v(&["run", "--backend", "cluster", "--no-report"]),
        ),
        (
            "fidelity on the embedded backend",
            2,
            v(&["fidelity", "--backend", "embedded"]),
        ),
        ("fidelity of no case", 2, v(&["fidelity", "--cases", "0"])),
        ("fidelity without the oracle", 2, v(&["fidelity"])),
        (
            "fidelity with a flag of another backend",
            2,
            v(&["fidelity", "--registry", "localhost:5000"]),
        ),
        (
            "no-report with out",
            2,
            v(&["check", "--no-report", "--out", "x"]),
        ),
        ("force without out", 2, v(&["check", "--force"])),
        // ---- input files
        (
            "missing contract",
            2,
            v(&["--contract", &e.p("nope.yaml"), "check", "--no-report"]),
        ),
        (
            "malformed contract",
            2,
            v(&["--contract", &e.p("broken.yaml"), "check", "--no-report"]),
        ),
        (
            "missing vendors folder",
            2,
            v(&["--vendors", &e.p("nope"), "check", "--no-report"]),
        ),
        (
            "diff missing file",
            2,
            v(&["diff", &e.p("nope.yaml"), &e.p("nope.yaml"), "--no-report"]),
        ),
        (
            "diff malformed",
            2,
            v(&[
                "diff",
                &e.p("broken.yaml"),
                &e.p("broken.yaml"),
                "--no-report",
            ]),
        ),
        (
            "diff empty",
            2,
            v(&[
                "diff",
                &e.p("empty.yaml"),
                &e.p("empty.yaml"),
                "--no-report",
            ]),
        ),
        (
            "diff not kubernetes",
            2,
            v(&[
                "diff",
                &e.p("notk8s.yaml"),
                &e.p("notk8s.yaml"),
                "--no-report",
            ]),
        ),
        (
            "drift missing",
            2,
            v(&["audit", "drift", "--input", &e.p("nope.yaml")]),
        ),
        (
            "drift malformed",
            2,
            v(&["audit", "drift", "--input", &e.p("broken.yaml")]),
        ),
        (
            "drift empty state",
            2,
            v(&["audit", "drift", "--input", &e.p("drift-empty.yaml")]),
        ),
        (
            "drift bad time",
            2,
            v(&[
                "audit",
                "drift",
                "--input",
                "fixtures/audit/drift-example.yaml",
                "--now",
                "yesterday",
            ]),
        ),
        // ---- output folders
        (
            "render without key",
            2,
            v(&[
                "render",
                "--vendor",
                "dhi",
                "--engine",
                "cpol",
                "--out",
                &e.p("r"),
            ]),
        ),
        (
            "render into a file",
            2,
            v(&[
                "render",
                "--vendor",
                "chainguard",
                "--engine",
                "cpol",
                "--out",
                &e.p("a-file"),
            ]),
        ),
        (
            "report into a user folder",
            2,
            v(&[
                "--key-cache",
                &dhi_keys,
                "check",
                "--out",
                &e.p("user-folder"),
            ]),
        ),
        (
            "report below a file",
            2,
            v(&["--key-cache", &dhi_keys, "check", "--out", &e.p("a-file/r")]),
        ),
        (
            "lab into a user folder",
            2,
            v(&["lab", "init", "--lab", &e.p("user-folder")]),
        ),
        (
            "lab into a file",
            2,
            v(&["lab", "init", "--lab", &e.p("a-file")]),
        ),
        (
            "run lab into a user folder",
            2,
            v(&["run", "--lab", &e.p("user-folder"), "--no-report"]),
        ),
        (
            "lab ignores a contract",
            2,
            v(&[
                "--contract",
                "configs/policies/contract.yaml",
                "lab",
                "init",
                "--dir",
                &e.p("l"),
            ]),
        ),
        (
            "push without a lab",
            2,
            v(&["lab", "push", "--lab", &e.p("nolab"), "--registry", &closed]),
        ),
        // ---- verify
        (
            "verify no policy",
            2,
            v(&["verify", "x.test/a:1", "--lab", &lab]),
        ),
        (
            "verify no trusted root",
            2,
            v(&[
                "verify",
                "x.test/a:1",
                "--vendor",
                "chainguard",
                "--layout",
                &layout,
            ]),
        ),
        (
            "verify bad key",
            2,
            v(&[
                "verify",
                "x.test/a:1",
                "--key",
                &e.p("bad-key.pem"),
                "--lab",
                &lab,
            ]),
        ),
        (
            "verify bad trusted root",
            2,
            v(&[
                "verify",
                "x.test/a:1",
                "--vendor",
                "chainguard",
                "--layout",
                &layout,
                "--trusted-root",
                &e.p("not-json.json"),
            ]),
        ),
        (
            "verify bad image reference",
            2,
            v(&[
                "verify",
                "UPPER CASE::ref",
                "--vendor",
                "chainguard",
                "--lab",
                &lab,
            ]),
        ),
        (
            "verify missing layout",
            2,
            v(&[
                "verify",
                "x.test/a:1",
                "--vendor",
                "chainguard",
                "--layout",
                &e.p("nope"),
                "--trusted-root",
                &lab_root,
            ]),
        ),
        (
            "verify unsigned image",
            1,
            v(&[
                "verify",
                "cgr.dev/chainguard/static:latest-unsigned",
                "--vendor",
                "chainguard",
                "--lab",
                &lab,
            ]),
        ),
        (
            "verify good image",
            0,
            v(&[
                "verify",
                "cgr.dev/chainguard/static:latest",
                "--vendor",
                "chainguard",
                "--lab",
                &lab,
            ]),
        ),
        (
            "verify exact certificate identity",
            0,
            v(&[
                "verify",
                "cgr.dev/chainguard/static:latest",
                "--certificate-identity",
                CG_SAN,
                "--certificate-oidc-issuer",
                GITHUB_ISSUER,
                "--lab",
                &lab,
            ]),
        ),
        // Regression (issue 13): `--certificate-identity` was a Kyverno
        // wildcard in `verify` and exact in `verify-bundle`; it is exact in
        // both, as in cosign, so a `*` is a literal character.
        (
            "verify certificate identity is not a wildcard",
            1,
            v(&[
                "verify",
                "cgr.dev/chainguard/static:latest",
                "--certificate-identity",
                "https://github.com/chainguard-images/*",
                "--certificate-oidc-issuer",
                GITHUB_ISSUER,
                "--lab",
                &lab,
            ]),
        ),
        (
            "verify certificate identity regexp is unanchored",
            0,
            v(&[
                "verify",
                "cgr.dev/chainguard/static:latest",
                "--certificate-identity-regexp",
                "github\\.com/chainguard-images/",
                "--certificate-oidc-issuer",
                GITHUB_ISSUER,
                "--lab",
                &lab,
            ]),
        ),
        (
            "verify unreachable registry",
            3,
            v(&[
                "verify",
                "x.test/a:1",
                "--vendor",
                "chainguard",
                "--registry",
                &closed,
                "--trusted-root",
                &lab_root,
            ]),
        ),
        (
            "push unreachable registry",
            3,
            v(&["lab", "push", "--lab", &lab, "--registry", &closed]),
        ),
        // ---- verify-bundle
        (
            "bundle missing",
            2,
            v(&[
                "verify-bundle",
                "--bundle",
                &e.p("nope.json"),
                "--certificate-identity",
                "a",
                "--certificate-oidc-issuer",
                "b",
                "--trusted-root",
                &lab_root,
                DIGEST,
            ]),
        ),
        (
            "bundle not json",
            2,
            v(&[
                "verify-bundle",
                "--bundle",
                &e.p("not-json.json"),
                "--certificate-identity",
                "a",
                "--certificate-oidc-issuer",
                "b",
                "--trusted-root",
                &lab_root,
                DIGEST,
            ]),
        ),
        (
            "bundle unknown media type",
            2,
            v(&[
                "verify-bundle",
                "--bundle",
                &e.p("unsupported-media.json"),
                "--certificate-identity",
                "a",
                "--certificate-oidc-issuer",
                "b",
                "--trusted-root",
                &lab_root,
                DIGEST,
            ]),
        ),
        (
            "bundle bad digest",
            2,
            v(&[
                "verify-bundle",
                "--bundle",
                &e.p("not-json.json"),
                "--certificate-identity",
                "a",
                "--certificate-oidc-issuer",
                "b",
                "--trusted-root",
                &lab_root,
                "sha256:xyz",
            ]),
        ),
        (
            "bundle no policy",
            2,
            v(&[
                "verify-bundle",
                "--bundle",
                &e.p("not-json.json"),
                "--trusted-root",
                &lab_root,
                DIGEST,
            ]),
        ),
        (
            "bundle bad trusted root",
            2,
            v(&[
                "verify-bundle",
                "--bundle",
                &e.p("not-json.json"),
                "--certificate-identity",
                "a",
                "--certificate-oidc-issuer",
                "b",
                "--trusted-root",
                &e.p("not-json.json"),
                DIGEST,
            ]),
        ),
        // ---- claims that hold and findings
        (
            "check holds",
            0,
            v(&["--key-cache", &dhi_keys, "check", "--no-report"]),
        ),
        (
            "diff finding",
            1,
            v(&[
                "diff",
                "fixtures/policies/handwritten/dhi",
                "fixtures/policies/handwritten/dhi-audit",
                "--no-report",
            ]),
        ),
        (
            "drift finding",
            1,
            v(&[
                "audit",
                "drift",
                "--input",
                "fixtures/audit/drift-example.yaml",
                "--now",
                "2026-07-01T00:00:00Z",
            ]),
        ),
    ];
    let mut wrong = Vec::new();
    for (what, want, args) in &rows {
        let o = run(args);
        if o.status.code() != Some(i32::from(*want)) {
            wrong.push(format!(
                "{what}: exit {:?}, want {want}\n  args: {args:?}\n  stderr: {}",
                o.status.code(),
                text(&o.stderr).trim()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

const CG_SAN: &str =
    "https://github.com/chainguard-images/images/.github/workflows/release.yaml@refs/heads/main";
const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn v(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}
