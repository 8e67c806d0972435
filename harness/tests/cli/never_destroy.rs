//! Issue 9: trustswap never deletes what it did not write, never hangs on a
//! file input, never reads one without bound, and never verifies with a trust
//! root the user did not choose. Every test here failed before the fix.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{root, text};

/// Run the binary in `cwd` with an isolated HOME and extra environment.
fn run_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().expect("tempdir");
    let mut c = Command::new(env!("CARGO_BIN_EXE_trustswap"));
    c.args(args)
        .current_dir(cwd)
        .env("HOME", home.path())
        .env_remove("TRUSTSWAP_KEY_CACHE")
        .env_remove("TRUSTSWAP_TRUSTED_ROOT")
        .env_remove("KUBECONFIG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("binary runs")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A folder of user files: `notes.txt` and `sub/keep.txt`.
fn user_folder(at: &Path) {
    std::fs::create_dir_all(at.join("sub")).expect("test step");
    std::fs::write(at.join("notes.txt"), "mine").expect("test step");
    std::fs::write(at.join("sub/keep.txt"), "mine too").expect("test step");
}

fn user_files_intact(at: &Path) {
    assert_eq!(
        std::fs::read_to_string(at.join("notes.txt")).expect("test step"),
        "mine"
    );
    assert_eq!(
        std::fs::read_to_string(at.join("sub/keep.txt")).expect("test step"),
        "mine too"
    );
}

fn no_temp_left(dir: &Path) {
    let left: Vec<String> = std::fs::read_dir(dir)
        .expect("test step")
        .map(|e| {
            e.expect("test step")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.contains(".tmp-") || n.contains(".old-"))
        .collect();
    assert!(left.is_empty(), "temporary folders left: {left:?}");
}

#[test]
fn lab_init_refuses_a_folder_of_user_files() {
    let t = tempfile::tempdir().expect("test step");
    let dir = t.path().join("mine");
    user_folder(&dir);
    let o = run_in(&root(), &["lab", "init", "--lab", &s(&dir)], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains(&s(&dir)) && err.contains("notes.txt"), "{err}");
    user_files_intact(&dir);
    no_temp_left(t.path());
}

#[test]
fn lab_init_refuses_the_current_folder_a_parent_and_a_repository_root() {
    let t = tempfile::tempdir().expect("test step");
    let work = t.path().join("repo/work");
    user_folder(&work);
    std::fs::create_dir_all(t.path().join("repo/.git")).expect("test step");
    std::fs::write(t.path().join("repo/README"), "mine").expect("test step");
    for dir in [".", "..", "../..", "./"] {
        let o = run_in(&work, &["lab", "init", "--lab", dir], &[]);
        assert_eq!(o.status.code(), Some(2), "--dir {dir}: {}", text(&o.stderr));
        user_files_intact(&work);
    }
    // A repository root, even empty but for .git, named from elsewhere.
    let repo = t.path().join("other");
    std::fs::create_dir_all(repo.join(".git")).expect("test step");
    let o = run_in(t.path(), &["lab", "init", "--lab", &s(&repo)], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("repository root"));
    assert!(repo.join(".git").is_dir());
    assert!(t.path().join("repo/README").is_file());
}

#[test]
fn run_refuses_a_lab_folder_of_user_files_before_building_anything() {
    let t = tempfile::tempdir().expect("test step");
    let dir = t.path().join("mine");
    user_folder(&dir);
    let started = Instant::now();
    let o = run_in(&root(), &["run", "--lab", &s(&dir), "--no-report"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(started.elapsed() < Duration::from_secs(20));
    user_files_intact(&dir);
    // `run --lab .` from a repository root would have deleted the checkout.
    let o = run_in(&root(), &["run", "--lab", ".", "--no-report"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(root().join("Cargo.toml").is_file());
}

#[test]
fn fidelity_refuses_folders_of_user_files_before_starting_anything() {
    let t = tempfile::tempdir().expect("test step");
    let mine = t.path().join("mine");
    user_folder(&mine);
    for flag in ["--out", "--lab"] {
        let started = Instant::now();
        let o = run_in(
            &root(),
            &["fidelity", flag, &s(&mine), "--cases", "8"],
            &[("TRUSTSWAP_ORACLE", "/nonexistent")],
        );
        assert_eq!(o.status.code(), Some(2), "{flag}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains(&s(&mine)),
            "{flag}: names the folder: {}",
            text(&o.stderr)
        );
        assert!(started.elapsed() < Duration::from_secs(20));
        user_files_intact(&mine);
    }
}

#[test]
fn lab_init_replaces_its_own_lab_and_cleans_what_dead_runs_left() {
    let t = tempfile::tempdir().expect("test step");
    let dir = t.path().join("lab");
    // What an interrupted earlier build left: a temporary folder with private keys.
    let stale = t.path().join(".lab.tmp-4000000");
    std::fs::create_dir_all(stale.join("private")).expect("test step");
    std::fs::write(stale.join("private/ca-root.key"), "secret").expect("test step");
    for _ in 0..2 {
        let o = run_in(&root(), &["lab", "init", "--lab", &s(&dir)], &[]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    }
    assert!(dir.join(".trustswap-lab.json").is_file());
    assert!(dir.join("catalogue.json").is_file());
    assert!(!stale.exists(), "stale private keys removed");
    no_temp_left(t.path());
    // A file dropped into the lab is not deleted by the next build either.
    std::fs::write(dir.join("layout/mine.txt"), "mine").expect("test step");
    let o = run_in(&root(), &["lab", "init", "--lab", &s(&dir)], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("layout/mine.txt"));
    assert!(dir.join("layout/mine.txt").is_file());
    assert!(
        dir.join("catalogue.json").is_file(),
        "the old lab is intact"
    );
}

#[test]
fn a_second_user_of_the_lab_waits_then_refuses_with_the_lock_named() {
    use trustswap::supply::lab::folder::{Access, lock};
    let t = tempfile::tempdir().expect("test step");
    let dir = t.path().join("lab");
    let _held = lock(&dir, Access::Exclusive).expect("test step");
    let o = run_in(
        &root(),
        &["lab", "init", "--lab", &s(&dir)],
        &[("TRUSTSWAP_LAB_LOCK_WAIT", "1")],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("waiting for another trustswap") && err.contains(".lab.lock"),
        "{err}"
    );
    assert!(!dir.exists());
}

#[test]
fn lab_init_refuses_the_contract_flag_it_would_ignore() {
    let o = run_in(
        &root(),
        &[
            "--contract",
            "configs/policies/contract.yaml",
            "lab",
            "init",
            "--dir",
            "/nonexistent/x",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--contract does not apply to `lab init`"));
}

/// A lab built once for the tests that verify from it.
fn lab() -> &'static Path {
    static LAB: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    &LAB.get_or_init(|| {
        let t = tempfile::tempdir().expect("test step");
        let dir = t.path().join("lab");
        let o = run_in(&root(), &["lab", "init", "--lab", &s(&dir)], &[]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        (t, dir)
    })
    .1
}

#[test]
fn verify_outside_the_lab_needs_a_trusted_root_it_is_given() {
    let layout = lab().join("layout");
    let o = run_in(
        &root(),
        &[
            "verify",
            "cgr.dev/chainguard/static:latest",
            "--vendor",
            "chainguard",
            "--layout",
            &s(&layout),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("no trusted root") && err.contains("trusted_root.json"),
        "{err}"
    );
    let o = run_in(
        &root(),
        &[
            "verify",
            "cgr.dev/chainguard/static:latest",
            "--vendor",
            "chainguard",
            "--registry",
            "127.0.0.1:9",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}

#[test]
fn verify_names_the_trust_root_and_clock_it_used() {
    let o = run_in(
        &root(),
        &[
            "verify",
            "cgr.dev/chainguard/static:latest",
            "--vendor",
            "chainguard",
            "--lab",
            &s(lab()),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("trust root: ") && out.contains("the lab's (lab material"),
        "{out}"
    );
    assert!(
        out.contains("clock: 2026-01-01T00:00:00Z (the lab's fixed clock)"),
        "{out}"
    );
    // The lab's root given as an explicit root, read from the layout: the system
    // clock, and said so.
    let o = run_in(
        &root(),
        &[
            "verify",
            "cgr.dev/chainguard/static:latest",
            "--vendor",
            "chainguard",
            "--layout",
            &s(&lab().join("layout")),
            "--trusted-root",
            &s(&lab().join("trusted_root.json")),
        ],
        &[],
    );
    let out = text(&o.stdout);
    assert!(out.contains("(given with --trusted-root)"), "{out}");
    assert!(out.contains("(the system clock)"), "{out}");
}

#[test]
fn verify_vendor_outside_the_lab_uses_the_vendors_real_key() {
    // Without the lab, `--vendor dhi` means Docker's key: absent from the key
    // cache, verification refuses to guess (exit 2); present, the lab-signed
    // fixture is refused (exit 1), never verified with the lab key.
    let args = |extra: &[&'static str]| {
        let mut v: Vec<String> = [
            "verify",
            "dhi.io/python:3.13",
            "--vendor",
            "dhi",
            "--layout",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push(s(&lab().join("layout")));
        v.push("--trusted-root".into());
        v.push(s(&lab().join("trusted_root.json")));
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let a = args(&[]);
    let o = run_in(
        &root(),
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("key cache"), "{}", text(&o.stderr));
    let cache = s(&common::dhi_key_dir());
    let mut a = args(&[]);
    a.splice(0..0, ["--key-cache".to_string(), cache]);
    let o = run_in(
        &root(),
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

#[test]
fn out_into_a_folder_of_other_files_needs_force_and_leaves_nothing_stale() {
    let t = tempfile::tempdir().expect("test step");
    let out = t.path().join("out");
    user_folder(&out);
    let cache = s(&common::dhi_key_dir());
    let check = |force: bool| {
        let mut a = vec!["--key-cache", &cache, "check", "--out"];
        let o = s(&out);
        a.push(&o);
        if force {
            a.push("--force");
        }
        run_in(&root(), &a, &[])
    };
    let o = check(false);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--force"), "{}", text(&o.stderr));
    user_files_intact(&out);
    let o = check(true);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(!out.join("notes.txt").exists() && out.join("result.json").is_file());
    // Its own report folder is replaced without --force.
    let o = check(false);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    no_temp_left(t.path());
}

#[test]
fn render_replaces_an_earlier_render_whole() {
    let t = tempfile::tempdir().expect("test step");
    let out = t.path().join("policies");
    let render = |engine: &str| {
        run_in(
            &root(),
            &[
                "render",
                "--vendor",
                "chainguard",
                "--engine",
                engine,
                "--out",
                &s(&out),
            ],
            &[],
        )
    };
    assert_eq!(render("ivpol").status.code(), Some(0));
    let o = render("cpol");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let yaml: Vec<String> = std::fs::read_dir(&out)
        .expect("test step")
        .map(|e| {
            e.expect("test step")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    let listed: Vec<String> = text(&o.stdout)
        .lines()
        .map(|l| {
            Path::new(l)
                .file_name()
                .expect("test step")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let mut a = yaml.clone();
    a.sort();
    let mut b = listed.clone();
    b.sort();
    assert_eq!(a, b, "only the cpol set is left");
}

#[test]
fn an_unusable_output_path_is_a_usage_error_and_leaves_no_verdict() {
    let t = tempfile::tempdir().expect("test step");
    let file = t.path().join("a-file");
    std::fs::write(&file, "x").expect("test step");
    let cache = s(&common::dhi_key_dir());
    for out in [file.clone(), file.join("below")] {
        let o = run_in(
            &root(),
            &["--key-cache", &cache, "check", "--out", &s(&out)],
            &[],
        );
        assert_eq!(o.status.code(), Some(2), "{}: {}", s(&out), text(&o.stderr));
        assert!(text(&o.stdout).is_empty(), "no verdict printed");
    }
    assert_eq!(std::fs::read_to_string(&file).expect("test step"), "x");
}

#[test]
fn diff_of_two_empty_sets_is_not_a_holding_claim() {
    let t = tempfile::tempdir().expect("test step");
    let (a, b) = (t.path().join("a.yaml"), t.path().join("b.yaml"));
    std::fs::write(&a, "").expect("test step");
    std::fs::write(&b, "---\n").expect("test step");
    let o = run_in(&root(), &["diff", &s(&a), &s(&b), "--no-report"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("holds no Kubernetes objects"));
}

#[test]
fn a_vendor_named_twice_is_checked_once() {
    let cache = s(&common::dhi_key_dir());
    let once = run_in(
        &root(),
        &[
            "--key-cache",
            &cache,
            "check",
            "--vendor",
            "dhi",
            "--vendor",
            "chainguard",
            "--format",
            "json",
            "--no-report",
        ],
        &[],
    );
    let twice = run_in(
        &root(),
        &[
            "--key-cache",
            &cache,
            "check",
            "--vendor",
            "dhi",
            "--vendor",
            "chainguard",
            "--vendor",
            "dhi",
            "--format",
            "json",
            "--no-report",
        ],
        &[],
    );
    assert_eq!(once.status.code(), Some(0), "{}", text(&once.stderr));
    assert_eq!(twice.status.code(), Some(0), "{}", text(&twice.stderr));
    assert_eq!(text(&once.stdout), text(&twice.stdout));
}

// ---- bounded inputs -------------------------------------------------------

/// The largest resident set the child reached (sampled from /proc while it runs).
fn run_measured(cwd: &Path, args: &[String]) -> (Option<i32>, String, u64, Duration) {
    let home = tempfile::tempdir().expect("test step");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trustswap"))
        .args(args)
        .current_dir(cwd)
        .env("HOME", home.path())
        .env_remove("TRUSTSWAP_KEY_CACHE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("test step");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    let status = loop {
        if let Ok(st) = std::fs::read_to_string(&status_file)
            && let Some(kb) = st
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(status) = child.try_wait().expect("test step") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("{args:?} still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut err = String::new();
    use std::io::Read as _;
    child
        .stderr
        .take()
        .expect("test step")
        .read_to_string(&mut err)
        .expect("test step");
    (status.code(), err, peak_kb * 1024, started.elapsed())
}

fn mkfifo(at: &Path) {
    let ok = Command::new("mkfifo")
        .arg(at)
        .status()
        .expect("test step")
        .success();
    assert!(ok, "mkfifo {}", at.display());
}

#[test]
fn devices_fifos_and_huge_files_are_refused_quickly_for_every_file_input() {
    let t = tempfile::tempdir().expect("test step");
    let fifo = t.path().join("fifo");
    mkfifo(&fifo);
    let big = t.path().join("big");
    std::fs::File::create(&big)
        .expect("test step")
        .set_len(2 << 30)
        .expect("test step");
    let zero_link = t.path().join("zero-link");
    std::os::unix::fs::symlink("/dev/zero", &zero_link).expect("test step");
    let lab_root = s(&lab().join("trusted_root.json"));
    let good_bundle = t.path().join("b.json");
    std::fs::write(&good_bundle, "{}").expect("test step");

    // A folder input holding `<name>` pointing at the bad file.
    let folder_with = |name: &str, bad: &Path| {
        let d = tempfile::tempdir_in(t.path()).expect("test step");
        std::os::unix::fs::symlink(bad, d.path().join(name)).expect("test step");
        d
    };
    let mut keep = Vec::new();
    for bad in [
        PathBuf::from("/dev/zero"),
        zero_link.clone(),
        fifo.clone(),
        big.clone(),
    ] {
        let b = s(&bad);
        let vendors = folder_with("x.yaml", &bad);
        let scenarios = folder_with("x.yaml", &bad);
        let cache = folder_with("x.pub", &bad);
        let cases: Vec<Vec<String>> = vec![
            vec![
                "--contract".into(),
                b.clone(),
                "check".into(),
                "--no-report".into(),
            ],
            vec![
                "--vendors".into(),
                s(vendors.path()),
                "check".into(),
                "--no-report".into(),
            ],
            vec![
                "--key-cache".into(),
                s(cache.path()),
                "check".into(),
                "--no-report".into(),
            ],
            vec!["diff".into(), b.clone(), b.clone(), "--no-report".into()],
            vec!["audit".into(), "drift".into(), "--input".into(), b.clone()],
            vec![
                "run".into(),
                "--scenarios".into(),
                s(scenarios.path()),
                "--no-report".into(),
                "--lab".into(),
                s(&t.path().join("lab-unused")),
            ],
            vec![
                "verify".into(),
                "x.test/a:1".into(),
                "--key".into(),
                b.clone(),
                "--lab".into(),
                s(lab()),
            ],
            vec![
                "verify".into(),
                "x.test/a:1".into(),
                "--vendor".into(),
                "chainguard".into(),
                "--layout".into(),
                s(&lab().join("layout")),
                "--trusted-root".into(),
                b.clone(),
            ],
            vec![
                "verify-bundle".into(),
                "--bundle".into(),
                b.clone(),
                "--certificate-identity".into(),
                "a".into(),
                "--certificate-oidc-issuer".into(),
                "b".into(),
                "--trusted-root".into(),
                lab_root.clone(),
                "sha256:0000000000000000000000000000000000000000000000000000000000000000".into(),
            ],
            vec![
                "verify-bundle".into(),
                "--bundle".into(),
                s(&good_bundle),
                "--certificate-identity".into(),
                "a".into(),
                "--certificate-oidc-issuer".into(),
                "b".into(),
                "--trusted-root".into(),
                b.clone(),
                "sha256:0000000000000000000000000000000000000000000000000000000000000000".into(),
            ],
        ];
        // The artifact of verify-bundle may legitimately be large: a 2 GiB file
        // is hashed as a stream and gets a verdict; a device or FIFO is refused.
        let artifact = vec![
            "verify-bundle".into(),
            "--bundle".into(),
            s(&good_bundle),
            "--certificate-identity".into(),
            "a".into(),
            "--certificate-oidc-issuer".into(),
            "b".into(),
            "--trusted-root".into(),
            lab_root.clone(),
            b.clone(),
        ];
        for args in cases.iter().chain(std::iter::once(&artifact)) {
            let (code, err, peak, took) = run_measured(&root(), args);
            let is_artifact = std::ptr::eq(args, &artifact);
            if is_artifact && bad == big {
                assert_ne!(code, Some(0), "{args:?}: {err}");
                assert_ne!(code, Some(3), "{args:?}: {err}");
            } else {
                assert_eq!(code, Some(2), "{args:?}: {err}");
            }
            assert!(peak < 300 << 20, "{args:?}: peak memory {} MiB", peak >> 20);
            assert!(took < Duration::from_secs(30), "{args:?}: {took:?}");
        }
        keep.extend([vendors, scenarios, cache]);
    }
}

#[test]
fn ctrl_c_during_a_lab_build_leaves_no_private_keys_behind() {
    let t = tempfile::tempdir().expect("test step");
    let dir = t.path().join("lab");
    let home = tempfile::tempdir().expect("test step");
    let mut child = Command::new(env!("CARGO_BIN_EXE_trustswap"))
        .args(["lab", "init", "--lab", &s(&dir)])
        .current_dir(root())
        .env("HOME", home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("test step");
    // Wait until the build has begun writing its temporary folder.
    let started = Instant::now();
    let tmp_seen = loop {
        let seen = std::fs::read_dir(t.path())
            .expect("test step")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains(".tmp-"));
        if seen || started.elapsed() > Duration::from_secs(20) {
            break seen;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("test step")
        .success();
    assert!(ok);
    let status = child.wait().expect("test step");
    assert!(tmp_seen, "the build never wrote its temporary folder");
    // Interrupted mid-build: exit 3 and nothing half-built (or, had the build
    // already finished, a whole lab); never a temporary folder with keys.
    match status.code() {
        Some(3) => assert!(!dir.exists(), "no half-built lab"),
        Some(0) => assert!(dir.join(".trustswap-lab.json").is_file()),
        other => panic!(
            "exit {other:?}: {}",
            text(&child.wait_with_output().expect("test step").stderr)
        ),
    }
    no_temp_left(t.path());
}
