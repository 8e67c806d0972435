//! The binary runs from any folder (issue 11, item 5): the shipped vendor
//! profiles, contract and hypotheses are built in, `init` writes editable
//! copies, and the flags read files instead.

use std::path::Path;

use crate::common::{self, text, trustswap_in};

#[test]
fn run_works_from_a_folder_without_the_repository() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = trustswap_in(
        cwd.path(),
        &[
            "run",
            "--scenario",
            "unsigned-image",
            "--vendor",
            "chainguard",
            "--vendor",
            "distroless",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("unsigned-image"),
        "{}",
        text(&out.stdout)
    );
    // the lab and the report land in the current folder
    assert!(cwd.path().join(".trustswap/lab/catalogue.json").is_file());
    assert!(cwd.path().join("reports").is_dir());
}

#[test]
fn the_built_in_inputs_render_as_the_repository_files_do() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let root = common::root();
    let render = |cwd: &Path, out: &Path, extra: &[&str]| {
        let mut args = vec![
            "render",
            "--vendor",
            "selfbuilt",
            "--engine",
            "cpol",
            "--out",
        ];
        let out_s = out.display().to_string();
        args.push(&out_s);
        args.extend_from_slice(extra);
        let o = trustswap_in(cwd, &args);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    };
    let (a, b) = (cwd.path().join("a"), cwd.path().join("b"));
    render(cwd.path(), &a, &[]);
    let vendors = root.join("configs/vendors").display().to_string();
    let contract = root
        .join("configs/policies/contract.yaml")
        .display()
        .to_string();
    render(
        cwd.path(),
        &b,
        &["--vendors", &vendors, "--contract", &contract],
    );
    let files = |d: &Path| {
        let mut v: Vec<(String, String)> = std::fs::read_dir(d)
            .expect("rendered")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .map(|p| {
                (
                    p.file_name().expect("name").to_string_lossy().into_owned(),
                    std::fs::read_to_string(&p).expect("read"),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert!(!files(&a).is_empty());
    assert_eq!(files(&a), files(&b));
}

#[test]
fn init_writes_editable_copies_that_the_flags_then_read() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = trustswap_in(cwd.path(), &["init", "mine"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("--vendors mine/configs/vendors"),
        "{}",
        text(&out.stdout)
    );
    let root = common::root();
    for f in [
        "configs/vendors/dhi.yaml",
        "configs/policies/contract.yaml",
        "scenarios/unsigned-image.yaml",
        "scenarios/README.md",
    ] {
        assert_eq!(
            std::fs::read_to_string(cwd.path().join("mine").join(f)).expect(f),
            std::fs::read_to_string(root.join(f)).expect(f),
            "{f}"
        );
    }
    // an edited copy is what runs: a scenario folder with one hypothesis
    let scenarios = cwd.path().join("mine/scenarios");
    for e in std::fs::read_dir(&scenarios).expect("scenarios") {
        let p = e.expect("entry").path();
        if p.file_name().is_some_and(|n| n != "unsigned-image.yaml") {
            std::fs::remove_file(p).expect("remove");
        }
    }
    let out = trustswap_in(
        cwd.path(),
        &[
            "run",
            "--scenarios",
            "mine/scenarios",
            "--vendors",
            "mine/configs/vendors",
            "--contract",
            "mine/configs/policies/contract.yaml",
            "--vendor",
            "chainguard",
            "--vendor",
            "selfbuilt",
            "--no-report",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        v["scenarios"].as_array().expect("scenarios").len(),
        1,
        "{v:#}"
    );
    // init again replaces its own folder; a folder of other files is refused
    let out = trustswap_in(cwd.path(), &["init", "mine"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::create_dir(cwd.path().join("other")).expect("dir");
    std::fs::write(cwd.path().join("other/notes.txt"), "mine").expect("write");
    let out = trustswap_in(cwd.path(), &["init", "other"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(cwd.path().join("other/notes.txt")).expect("kept"),
        "mine"
    );
}
