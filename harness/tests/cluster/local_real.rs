//! `--backend local` against the REAL oracle (Kyverno 1.19, kube-apiserver,
//! etcd): what `backend/kube/NOTES.md` assumed about a real API server and
//! Kyverno, checked for real, and no process outliving a run or a Ctrl-C.
//!
//! These tests need the binaries `oracle/build` prints: set
//! `TRUSTSWAP_ORACLE=<that folder>` (`.ci/run` does). Without it each test
//! prints why it skips and passes.

use crate::common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use trustswap::backend::kube::{ClusterBackend, Settings};
use trustswap::backend::local::{LocalCluster, LocalSettings, Oracle};

/// One control plane at a time: three at once on a 2-core runner would only
/// test the readiness deadlines.
pub(crate) static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) fn oracle() -> Option<PathBuf> {
    match std::env::var_os("TRUSTSWAP_ORACLE") {
        Some(dir) if Path::new(&dir).join("kyverno").is_file() => Some(PathBuf::from(dir)),
        Some(dir) => {
            eprintln!(
                "skipping: TRUSTSWAP_ORACLE={} holds no kyverno binary (run oracle/build)",
                Path::new(&dir).display()
            );
            None
        }
        None => {
            eprintln!(
                "skipping: TRUSTSWAP_ORACLE is not set (real Kyverno: export TRUSTSWAP_ORACLE=\"$(oracle/build | tail -1)\")"
            );
            None
        }
    }
}

/// Processes whose command line names `needle` (the test's private TMPDIR).
fn processes_naming(needle: &Path) -> Vec<String> {
    let needle = needle.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("procfs").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true);
        if !zombie && cmd.contains(&needle) {
            found.push(format!("{pid}: {cmd}"));
        }
    }
    found
}

fn leftovers(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .expect("tmp")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("trustswap-local-"))
        .collect()
}

fn run_command(oracle: &Path, tmp: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trustswap"));
    c.current_dir(common::root())
        .env("TMPDIR", tmp)
        .env_remove("TRUSTSWAP_ORACLE")
        .args([
            "run",
            "--backend",
            "local",
            "--oracle",
            &oracle.display().to_string(),
            "--vendor",
            "chainguard",
            "--vendor",
            "selfbuilt",
            "--engine",
            "cpol",
            "--lab",
            &tmp.join("lab").display().to_string(),
            "--no-report",
        ])
        .args(extra);
    c
}

/// A whole run on the real control plane: the hypothesis holds, and when the
/// run is over no process it started is alive and its folder is gone.
#[test]
fn a_real_run_holds_and_leaves_no_process_and_no_folder() {
    let _one = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(oracle) = oracle() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let o = run_command(
        &oracle,
        tmp.path(),
        &["--scenario", "other-vendor-signer", "--format", "json"],
    )
    .output()
    .expect("trustswap runs");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // a real-cluster result.json (cluster, swaps) against the published schema
    let result: Value = serde_json::from_str(&out).expect("result.json on stdout");
    common::assert_matches_schema("run-result.schema.json", &result);
    assert_eq!(result["backend"], "local");
    assert_eq!(result["scenarios"][0]["id"], "other-vendor-signer");
    assert_eq!(result["scenarios"][0]["status"], "held", "{out}");
    assert!(
        result["cluster"].is_object() && result["swaps"].is_array(),
        "{out}"
    );
    assert_eq!(processes_naming(tmp.path()), Vec::<String>::new());
    assert_eq!(leftovers(tmp.path()), Vec::<String>::new());
}

/// `trustswap fidelity` on the real control plane: a small generated corpus
/// (64 cases: two policy variants) agrees, fidelity.json says so case by
/// case, and nothing outlives the run.
#[test]
fn a_generated_corpus_agrees_with_real_kyverno() {
    let _one = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(oracle) = oracle() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("fidelity");
    let o = Command::new(env!("CARGO_BIN_EXE_trustswap"))
        .current_dir(common::root())
        .env("TMPDIR", tmp.path())
        .env_remove("TRUSTSWAP_ORACLE")
        .args(["fidelity", "--backend", "local", "--oracle"])
        .arg(&oracle)
        .args(["--cases", "64", "--seed", "11", "--lab"])
        .arg(tmp.path().join("lab"))
        .arg("--out")
        .arg(&out)
        .output()
        .expect("trustswap runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("fidelity.json")).expect("fidelity.json"),
    )
    .expect("json");
    common::assert_matches_schema("fidelity.schema.json", &report);
    assert_eq!(report["backend"], "local");
    assert_eq!(report["verdict"], "agrees");
    assert_eq!(report["variants"], 2);
    // 2 variants x 8 runs x 4 requests, and one variant's pod created in
    // order to update it, then its UPDATE (decided when the create was
    // admitted).
    assert_eq!(report["generated"], 80);
    let compared = report["compared"].as_u64().expect("compared");
    assert!((72..=80).contains(&compared), "{report}");
    assert_eq!(report["disagreements"], json!([]));
    assert!(
        stdout.contains(&format!("{compared} compared, 0 skipped, 0 disagreements")),
        "{stdout}"
    );
    assert_eq!(processes_naming(tmp.path()), Vec::<String>::new());
    assert_eq!(leftovers(tmp.path()), Vec::<String>::new());
}

/// Ctrl-C while Kyverno starts: exit 3, every process stopped, the folder
/// (certificates, service-account key) removed.
#[test]
fn ctrl_c_while_kyverno_starts_stops_every_process() {
    let _one = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(oracle) = oracle() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let mut child = run_command(&oracle, tmp.path(), &["--scenario", "unsigned-image"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("trustswap starts");
    // Read stderr to its end on a thread (a closed pipe would fail the
    // child's own messages), and interrupt once Kyverno is starting.
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let started = Instant::now();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(180))
            .unwrap_or_else(|e| {
                panic!("no progress ({e}) after {:?}: {seen:?}", started.elapsed())
            });
        seen.push(line.clone());
        if line.contains("starting Kyverno") {
            let status = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .expect("kill");
            assert!(status.success());
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no exit 60 s after Ctrl-C: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    reader.join().expect("stderr reader");
    seen.extend(rx.try_iter());
    assert_eq!(status.code(), Some(3), "{seen:#?}");
    // Children die with their parent (setpriv --pdeathsig), the folder is removed.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(processes_naming(tmp.path()), Vec::<String>::new());
    assert_eq!(leftovers(tmp.path()), Vec::<String>::new());
}

const TEAM_CPOL: &str = "trustswap-team";
const TEAM_VP: &str = "trustswap-team-vp";

fn cpol(team: &str) -> Value {
    json!({
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": TEAM_CPOL},
        "spec": {
            "validationFailureAction": "Enforce",
            "rules": [{
                "name": "team",
                "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                "validate": {
                    "message": format!("team must be {team}"),
                    "pattern": {"metadata": {"labels": {"team": team}}}
                }
            }]
        }
    })
}

fn vp(team: &str) -> Value {
    json!({
        "apiVersion": "policies.kyverno.io/v1",
        "kind": "ValidatingPolicy",
        "metadata": {"name": TEAM_VP},
        "spec": {
            "validationActions": ["Deny"],
            "matchConstraints": {"resourceRules": [{
                "apiGroups": [""], "apiVersions": ["v1"],
                "operations": ["CREATE"], "resources": ["pods"]
            }]},
            "validations": [{
                "expression": format!("object.metadata.labels.team == '{team}'"),
                "message": format!("team must be {team}")
            }]
        }
    })
}

fn pod(team: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "labels": {"team": team}},
        "spec": {"containers": [{"name": "c", "image": "registry.example/app:1"}]}
    })
}

/// NOTES.md "readiness after re-applying a changed policy": Kyverno's Ready
/// carries no observedGeneration (pkg/controllers/policystatus/controller.go
/// sets WebhookConfigured and RBACPermissionsGranted only), so a swapped
/// policy reads Ready at once while the engine may still hold the old spec.
/// The adapter settles after every change (`Settings::settle`); with it, every
/// decision right after a swap is the new policy's, for a ClusterPolicy and
/// a ValidatingPolicy, and a denial is HTTP 400 with Kyverno's webhook name.
#[test]
fn after_a_policy_swap_the_next_decision_is_the_new_policy_s() {
    let _one = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(bin) = oracle() else { return };
    let oracle = Oracle::open(&bin).expect("oracle");
    let cluster = LocalCluster::start(&oracle, &LocalSettings::default(), &mut |_| {})
        .expect("control plane");
    let mut settings = Settings::new("real1");
    settings.kyverno_deployment = false;
    let mut backend =
        ClusterBackend::from_kubeconfig_yaml(&cluster.kubeconfig, None, settings).expect("client");
    backend.preflight().expect("Kyverno answers");
    backend
        .create_namespace("ts-real1-apps")
        .expect("namespace");
    let mut stale = Vec::new();
    for (i, team) in ["a", "b", "a", "b", "a", "b"].into_iter().enumerate() {
        let started = Instant::now();
        backend.apply(&[cpol(team), vp(team)]).expect("apply");
        let applied = started.elapsed();
        let ok = backend
            .admit("ts-real1-apps", &pod(team))
            .expect("admission answers");
        if !ok.allowed {
            stale.push(format!(
                "swap {i} to team {team} (apply {applied:?}): denied: {:?}",
                ok.message
            ));
        }
        let other = if team == "a" { "b" } else { "a" };
        let denied = backend
            .admit("ts-real1-apps", &pod(other))
            .expect("admission answers");
        assert!(!denied.allowed, "team {other} under policy {team}");
        assert_eq!(denied.code, 400, "{denied:?}");
        let message = denied.message.as_deref().unwrap_or_default();
        assert!(
            message.contains(&format!("team must be {team}")),
            "{message}"
        );
    }
    assert_eq!(stale, Vec::<String>::new(), "decisions from the old policy");
    let leftovers = backend.cleanup();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    drop(backend);
    drop(cluster);
}
