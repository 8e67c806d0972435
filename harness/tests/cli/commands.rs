//! The binary as users drive it: `check`, `run`, `diff`, `render`, their
//! reports and exit codes.

use crate::common;

use std::path::Path;

use common::{text, trustswap};

fn key_cache() -> String {
    common::dhi_key_dir().display().to_string()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn check_on_shipped_vendors_holds_and_writes_a_full_report() {
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = out_dir.path().join("report");
    let o = trustswap(&[
        "--key-cache",
        &key_cache(),
        "check",
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(
        stdout.contains("verdict: the substitution holds"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("warning: dhi"),
        "the key cache resolves the DHI key: {stdout}"
    );

    let result: serde_json::Value =
        serde_json::from_str(&read(&out.join("result.json"))).expect("result.json");
    common::assert_matches_schema("check-result.schema.json", &result);
    assert_eq!(result["schemaVersion"], 2);
    assert_eq!(result["command"], "check");
    assert_eq!(result["verdict"], "holds");
    assert_eq!(result["exitCode"], 0);
    assert_eq!(
        result["vendors"],
        serde_json::json!(["chainguard", "dhi", "distroless", "selfbuilt"])
    );
    let engines = result["engines"].as_array().expect("engines");
    assert_eq!(engines.len(), 2);
    let diff = &engines[0]["comparisons"][0]["differences"][0];
    for field in ["document", "path", "class"] {
        assert!(diff.get(field).is_some(), "difference has {field}: {diff}");
    }

    let summary = read(&out.join("summary.md"));
    assert!(
        summary.starts_with("# trustswap check: holds\n"),
        "verdict first: {summary}"
    );
    assert!(summary.contains("| cpol | dhi | chainguard |"), "{summary}");

    let junit = read(&out.join("junit.xml"));
    assert_eq!(
        junit.matches("<testcase ").count(),
        8,
        "engine x vendor: {junit}"
    );
    assert!(!junit.contains("<failure"), "{junit}");

    for (engine, file) in [
        (
            "ivpol",
            "imagevalidatingpolicy-trustswap-verify-images.yaml",
        ),
        (
            "ivpol",
            "validatingpolicy-trustswap-restrict-registries.yaml",
        ),
        ("cpol", "clusterpolicy-trustswap-verify-images.yaml"),
    ] {
        for vendor in ["chainguard", "dhi", "distroless", "selfbuilt"] {
            let p = out.join("policies").join(engine).join(vendor).join(file);
            assert!(p.is_file(), "{} missing", p.display());
        }
    }
    assert!(
        read(&out.join("policies/cpol/dhi/clusterpolicy-trustswap-verify-images.yaml"))
            .contains("BEGIN PUBLIC KEY")
    );
}

#[test]
fn reports_are_byte_identical_between_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["a", "b"] {
        let o = trustswap(&[
            "--key-cache",
            &key_cache(),
            "run",
            "--out",
            &dir.path().join(name).display().to_string(),
        ]);
        // 1: the shipped matrix does not hold for DHI under ImageValidatingPolicy.
        assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    }
    for file in [
        "result.json",
        "summary.md",
        "junit.xml",
        "policies/ivpol/dhi/imagevalidatingpolicy-trustswap-verify-images.yaml",
    ] {
        assert_eq!(
            read(&dir.path().join("a").join(file)),
            read(&dir.path().join("b").join(file)),
            "{file} differs between runs"
        );
    }
}

#[test]
fn default_report_folder_is_time_and_content_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = trustswap(&[
        "--key-cache",
        &key_cache(),
        "check",
        "--engine",
        "cpol",
        "--reports-dir",
        &dir.path().display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let entries: Vec<String> = std::fs::read_dir(dir.path())
        .expect("reports dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries.len(), 1);
    let re = regex::Regex::new(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$").expect("regex");
    assert!(re.is_match(&entries[0]), "{entries:?}");
}

#[test]
fn json_format_prints_the_result_document() {
    let o = trustswap(&[
        "--key-cache",
        &key_cache(),
        "check",
        "--vendor",
        "chainguard",
        "--vendor",
        "distroless",
        "--format",
        "json",
        "--no-report",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    assert_eq!(v["verdict"], "holds");
    assert_eq!(v["engines"][1]["engine"], "cpol");
    assert_eq!(v["engines"][1]["comparisons"][0]["counts"]["trustRoot"], 4);
}

#[test]
fn without_the_key_the_check_still_decides_but_warns() {
    let o = trustswap(&["check", "--no-report"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(
        stdout.contains("warning: dhi: no key with sha256:118ba556"),
        "{stdout}"
    );
    assert!(stdout.contains("not apply-ready"), "{stdout}");
}

#[test]
fn diff_of_hand_written_sets() {
    let base = "fixtures/policies/handwritten/chainguard";
    let o = trustswap(&[
        "diff",
        base,
        "fixtures/policies/handwritten/dhi",
        "--no-report",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    assert!(text(&o.stdout).contains("image-scope"));

    let dir = tempfile::tempdir().expect("tempdir");
    let o = trustswap(&[
        "diff",
        base,
        "fixtures/policies/handwritten/dhi-audit",
        "--out",
        &dir.path().display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    for path in [
        "/spec/rules/name=verify-signature/verifyImages/0/failureAction",
        "/spec/rules/name=verify-signature/verifyImages/0/mutateDigest",
        "/spec/rules/name=verify-signature/exclude/any/0/resources/namespaces",
    ] {
        assert!(stdout.contains(path), "{path} named: {stdout}");
    }
    let junit = read(&dir.path().join("junit.xml"));
    assert!(
        junit.contains("<failure") && junit.contains("3 structural difference(s)"),
        "{junit}"
    );
    let result: serde_json::Value =
        serde_json::from_str(&read(&dir.path().join("result.json"))).expect("json");
    common::assert_matches_schema("check-result.schema.json", &result);
    assert_eq!(result["command"], "diff");
    assert_eq!(result["verdict"], "does-not-hold");
    assert_eq!(result["exitCode"], 1);

    // Each difference where the user wrote it: the spec-level action the
    // canonical path moved into each entry, a value written on one side only
    // (the other side's is Kyverno's default), and a list both sides write.
    let audit = "fixtures/policies/handwritten/dhi-audit/verify-images.yaml";
    let chainguard = "fixtures/policies/handwritten/chainguard/verify-images.yaml";
    for line in [
        format!("spec.validationFailureAction at {chainguard}:6:3"),
        format!("spec.validationFailureAction at {audit}:6:3"),
        format!("spec.rules[0].verifyImages[0].mutateDigest at {audit}:20:11"),
        format!(
            "spec.rules[0].verifyImages[0].mutateDigest at {chainguard}:20:11 (not written: Kyverno's default)"
        ),
        format!("spec.rules[0].exclude.any[0].resources.namespaces at {audit}:18:15"),
    ] {
        assert!(stdout.contains(&line), "{line} shown: {stdout}");
    }
    let differences = result["comparison"]["differences"]
        .as_array()
        .expect("differences");
    let action = differences
        .iter()
        .find(|d| d["path"] == "/spec/rules/name=verify-signature/verifyImages/0/failureAction")
        .expect("the action differs");
    assert_eq!(
        action["rightAt"],
        serde_json::json!({
            "file": audit, "line": 6, "column": 3, "field": "spec.validationFailureAction"
        })
    );
}

#[test]
fn render_writes_apply_ready_yaml() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = trustswap(&[
        "--key-cache",
        &key_cache(),
        "render",
        "--vendor",
        "dhi",
        "--engine",
        "ivpol",
        "--out",
        &dir.path().display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let files: Vec<String> = text(&o.stdout).lines().map(str::to_owned).collect();
    assert_eq!(files.len(), 2, "{files:?}");
    let ivp = read(
        &dir.path()
            .join("imagevalidatingpolicy-trustswap-verify-images.yaml"),
    );
    assert!(
        ivp.starts_with("apiVersion: policies.kyverno.io/v1\nkind: ImageValidatingPolicy\n"),
        "{ivp}"
    );
    assert!(ivp.contains("repository: registry.scout.docker.com/docker/dhi-python"));
}

#[test]
fn help_documents_exit_codes() {
    let o = trustswap(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = text(&o.stdout);
    for line in [
        "0  the claim holds",
        "1  the claim does not hold",
        "2  usage or input error",
        "3  the harness could not decide",
    ] {
        assert!(help.contains(line), "{help}");
    }
}

#[test]
fn clap_definition_is_consistent() {
    use clap::CommandFactory;
    trustswap::cli::Cli::command().debug_assert();
}

#[test]
fn the_kind_backend_explains_what_is_missing() {
    let docker = std::process::Command::new("docker")
        .arg("info")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if docker {
        eprintln!(
            "skipping: a Docker daemon answers here, so the kind backend does not stop at the tool check"
        );
        return;
    }
    let o = trustswap(&["run", "--backend", "kind", "--no-report"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("the kind backend cannot start: "), "{err}");
    assert!(err.contains("docker"), "{err}");
    assert!(err.contains("hint: install Docker and kind"), "{err}");
}

#[test]
fn the_cluster_backend_explains_an_unreachable_cluster() {
    let o = trustswap(&[
        "run",
        "--backend",
        "cluster",
        "--registry",
        "localhost:5999",
        "--no-report",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("cannot reach the cluster"), "{err}");
    assert!(
        err.contains("hint: check the kubeconfig and --context"),
        "{err}"
    );
}

#[test]
fn the_cluster_backend_needs_a_registry_kyverno_can_reach() {
    let o = trustswap(&["run", "--backend", "cluster", "--no-report"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("--backend cluster needs a registry for the lab fixtures"),
        "{err}"
    );
    assert!(err.contains("hint: pass --registry HOST[:PORT]"), "{err}");
}

#[test]
fn real_cluster_flags_are_refused_on_the_embedded_backend() {
    for args in [
        &["run", "--compare", "embedded", "--no-report"][..],
        &["run", "--keep", "--no-report"][..],
        &["run", "--registry", "localhost:5000", "--no-report"][..],
        &["run", "--backend", "kind", "--context", "x", "--no-report"][..],
    ] {
        let o = trustswap(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("apply to --backend"),
            "{}",
            text(&o.stderr)
        );
    }
}

#[test]
fn audit_drift_classifies_and_exits_1_on_findings() {
    let args = [
        "audit",
        "drift",
        "--input",
        "fixtures/audit/drift-example.yaml",
        "--now",
        "2026-07-01T00:00:00Z",
    ];
    let o = trustswap(&args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let table = text(&o.stdout);
    assert!(
        table.contains("drifted") && table.contains("exception-expired"),
        "{table}"
    );
    assert!(table.contains("verdict: non-compliant"), "{table}");
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json", "--all"]);
    let o = trustswap(&json_args);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let findings = v["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 3);
    let status = |pod: &str| {
        findings
            .iter()
            .find(|f| f["pod"] == pod)
            .map(|f| f["status"].clone())
            .expect("pod")
    };
    assert_eq!(status("api-7d9f-abcde"), "compliant");
    assert_eq!(status("worker"), "drifted");
    assert_eq!(status("indexer"), "exception-expired");
    let api = findings
        .iter()
        .find(|f| f["pod"] == "api-7d9f-abcde")
        .expect("api");
    assert_eq!(
        api["workloadKind"], "Deployment",
        "a ReplicaSet with the pod-template-hash is reported as its Deployment"
    );
    assert_eq!(api["team"], "payments");
}

#[test]
fn audit_drift_rejects_bad_input_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("in.yaml");
    std::fs::write(
        &path,
        "state: {pods: []}\nmanifest: {entries: []}\ntrustPolicy: {rules: []}\nrevocation: []\n",
    )
    .expect("write");
    let o = trustswap(&["audit", "drift", "--input", &path.display().to_string()]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("in.yaml: error: line 4") && err.contains("unknown field `revocation`"),
        "{err}"
    );
}

/// The default `--lab` is a relative path: the lab's TUF repository (what a
/// keyless ImageValidatingPolicy trusts) must be found from it as from an
/// absolute one.
#[test]
fn run_with_a_relative_lab_holds_on_image_validating_policies() {
    let name = format!("target/test-relative-lab-{}", std::process::id());
    let lab = common::root().join(&name);
    let o = trustswap(&[
        "run",
        "--scenario",
        "unsigned-image",
        "--vendor",
        "chainguard",
        "--vendor",
        "distroless",
        "--engine",
        "ivpol",
        "--lab",
        &name,
        "--no-report",
    ]);
    let _ = std::fs::remove_dir_all(&lab);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
}
