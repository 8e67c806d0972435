//! `--backend local` (issue 14): the control plane's start-up faults, with fake
//! binaries standing in for the oracle, and no process outliving a failed start.
//! The real control plane runs in `.ci/run`'s fidelity gate
//! (`trustswap run --backend local --compare embedded`).

use std::path::Path;
use std::time::Duration;

use trustswap::backend::local::{LocalCluster, LocalSettings, Oracle};

/// An oracle folder whose binaries are shell scripts.
fn fake_oracle(root: &Path, etcd: &str) -> Oracle {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).expect("test step");
    std::fs::create_dir_all(root.join("crds")).expect("test step");
    std::fs::write(
        root.join("kyverno-install.yaml"),
        "kind: Deployment\nmetadata: {name: x}\n",
    )
    .expect("test step");
    std::fs::write(bin.join("VERSIONS"), "kyverno v1.19.1\n").expect("test step");
    for (name, body) in [
        ("etcd", etcd),
        ("kube-apiserver", "sleep 300"),
        ("kyverno", "sleep 300"),
        ("reports-controller", "sleep 300"),
    ] {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("test step");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("test step");
    }
    Oracle::open(&bin).expect("fake oracle opens")
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[test]
fn an_oracle_folder_without_the_binaries_says_which_and_how_to_build() {
    let t = tempfile::tempdir().expect("test step");
    let err = Oracle::open(t.path()).unwrap_err();
    assert!(err.is_usage(), "{err:?}");
    let err = err.to_string();
    assert!(
        err.contains("etcd") && err.contains("kube-apiserver") && err.contains("kyverno"),
        "{err}"
    );
    std::fs::create_dir_all(t.path().join("bin")).expect("test step");
    let o = fake_oracle(t.path(), "exit 0");
    std::fs::write(o.bin.join("VERSIONS"), "kyverno v1.18.0\n").expect("test step");
    let err = Oracle::open(&o.bin).unwrap_err().to_string();
    assert!(err.contains("not Kyverno 1.19"), "{err}");
}

#[test]
fn etcd_failing_to_start_is_reported_with_its_last_log_lines() {
    let t = tempfile::tempdir().expect("test step");
    let oracle = fake_oracle(
        t.path(),
        "echo 'etcdmain: listen tcp: address already in use' >&2; exit 1",
    );
    let mut steps = Vec::new();
    let err = LocalCluster::start(&oracle, &LocalSettings::default(), &mut |s| {
        steps.push(s.to_owned())
    })
    .err()
    .expect("start fails");
    assert!(!err.is_usage(), "{err:?}");
    assert!(
        matches!(&err, trustswap::backend::local::LocalError::Died { wait, .. } if wait.name == "etcd"),
        "{err:?}"
    );
    let err = err.to_string();
    assert!(err.contains("etcd exited"), "{err}");
    assert!(err.contains("address already in use"), "{err}");
    assert_eq!(steps, ["starting etcd"]);
}

#[test]
fn a_process_that_never_gets_ready_is_stopped_and_the_folder_removed() {
    let t = tempfile::tempdir().expect("test step");
    // An "etcd" that runs but never listens.
    let pid_file = t.path().join("pid");
    let oracle = fake_oracle(
        t.path(),
        &format!("echo $$ > {}; exec sleep 300", pid_file.display()),
    );
    let settings = LocalSettings {
        etcd: Duration::from_secs(2),
        ..LocalSettings::default()
    };
    let before: Vec<_> = private_dirs();
    let err = LocalCluster::start(&oracle, &settings, &mut |_| {})
        .err()
        .expect("start fails")
        .to_string();
    assert!(err.contains("etcd was not ready after 2 s"), "{err}");
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .expect("test step")
        .trim()
        .parse()
        .expect("test step");
    assert!(!alive(pid), "etcd (pid {pid}) outlived the failed start");
    let after: Vec<_> = private_dirs();
    let new: Vec<_> = after.iter().filter(|d| !before.contains(d)).collect();
    assert!(new.is_empty(), "private folders left: {new:?}");
}

fn private_dirs() -> Vec<std::path::PathBuf> {
    let me = format!("trustswap-local-{}-", std::process::id());
    std::fs::read_dir(std::env::temp_dir())
        .expect("test step")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&me))
        })
        .collect()
}

#[test]
fn the_shipped_known_disagreements_cite_kyverno_source_lines() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let list =
        trustswap::experiment::compare::load_known(&root.join("fidelity/known-disagreements.yaml"))
            .expect("the shipped list loads");
    for k in &list {
        assert!(
            k.source.starts_with("pkg/") || k.source.starts_with("cmd/"),
            "{k:?}"
        );
        assert!(!k.why.is_empty(), "{k:?}");
    }
}
