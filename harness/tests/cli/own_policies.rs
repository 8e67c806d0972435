//! Your own policies in the hypothesis suite (`run --policies VENDOR=PATH`,
//! issue 11 item 2) and vendors a user adds to the lab (item 3). The sets are
//! `fixtures/policies/own/*`; the user-added profiles `fixtures/vendors/*`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{self, text, trustswap_in};

/// The shipped profiles plus the user-added ones (`acme`: keyless with a
/// regexp subject and its own OIDC issuer; `keyco`: key-based).
fn vendors_dir(dir: &Path) -> PathBuf {
    let v = dir.join("vendors");
    std::fs::create_dir_all(&v).expect("vendors dir");
    for from in ["configs/vendors", "fixtures/vendors"] {
        for e in std::fs::read_dir(common::root().join(from)).expect("profiles") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "yaml") {
                std::fs::copy(&p, v.join(p.file_name().expect("name"))).expect("copy");
            }
        }
    }
    v
}

fn own(name: &str) -> String {
    common::root()
        .join("fixtures/policies/own")
        .join(name)
        .display()
        .to_string()
}

/// `trustswap --vendors <user vendors> run ARGS --out <tmp>/out`: the exit
/// code, `result.json` and stderr.
fn run(dir: &Path, args: &[&str]) -> (Option<i32>, Value, String) {
    let vendors = vendors_dir(dir).display().to_string();
    let out = dir.join("out").display().to_string();
    let lab = dir.join("lab").display().to_string();
    let mut all = vec!["--vendors", &vendors, "run", "--lab", &lab, "--out", &out];
    all.extend_from_slice(args);
    let o = trustswap_in(dir, &all);
    let result = std::fs::read_to_string(dir.join("out/result.json"))
        .map(|s| serde_json::from_str(&s).expect("result.json"))
        .unwrap_or(Value::Null);
    (o.status.code(), result, text(&o.stderr))
}

fn status<'a>(result: &'a Value, scenario: &str) -> &'a str {
    result["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .find(|s| s["id"] == scenario)
        .and_then(|s| s["status"].as_str())
        .unwrap_or_else(|| panic!("no scenario {scenario}"))
}

/// Per (scenario, engine): the run's status and reason for `vendor`.
fn runs_of(result: &Value, vendor: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for s in result["scenarios"].as_array().expect("scenarios") {
        for r in s["runs"].as_array().into_iter().flatten() {
            if r["vendor"] == vendor {
                out.push((
                    format!(
                        "{}/{}",
                        s["id"].as_str().unwrap_or(""),
                        r["engine"].as_str().unwrap_or("")
                    ),
                    r["status"].as_str().unwrap_or("").to_owned(),
                    r["reason"].as_str().unwrap_or("").to_owned(),
                ));
            }
        }
    }
    out
}

#[test]
fn handwritten_sets_that_differ_only_in_identity_hold() {
    let t = tempfile::tempdir().expect("tempdir");
    let (code, result, err) = run(
        t.path(),
        &[
            "--policies",
            &format!("chainguard={}", own("chainguard")),
            "--policies",
            &format!("acme={}", own("acme")),
        ],
    );
    assert_eq!(code, Some(0), "{err}\n{result:#}");
    common::assert_matches_schema("run-result.schema.json", &result);
    assert_eq!(result["staticCheck"]["verdict"], "holds");
    let sets = result["ownPolicies"].as_array().expect("ownPolicies");
    assert_eq!(sets.len(), 2);
    for set in sets {
        assert_eq!(set["proof"]["verdict"], "holds", "{set:#}");
        let edits = set["edits"].as_array().expect("edits");
        // Keyless: the roots, Rekor and CT keys of both the signature's and
        // the SBOM's attestor, nothing else; identity matchers as written.
        assert_eq!(edits.len(), 6, "{edits:#?}");
        for e in edits {
            let field = e["field"].as_str().expect("field");
            assert!(
                field.ends_with(".keyless.roots")
                    || field.ends_with(".rekor.pubkey")
                    || field.ends_with(".ctlog.pubkey"),
                "{field}"
            );
        }
    }
    // The policies as run keep the identity the user wrote.
    let applied =
        std::fs::read_to_string(t.path().join("out/evidence/unsigned-image/cpol-acme.json"))
            .expect("evidence");
    assert!(
        !applied.contains("chainguard-images"),
        "acme's run saw another identity"
    );
    assert_eq!(status(&result, "unsigned-image"), "held");
    assert_eq!(status(&result, "look-alike-identity"), "held");
    assert_eq!(status(&result, "break-glass-expiry"), "held");
    // keyless vendors: the key-rotation hypothesis is for key-based ones
    assert_eq!(status(&result, "key-rotation"), "not-applicable");
}

#[test]
fn a_set_that_flips_to_audit_deviates_on_the_unsigned_image_hypothesis() {
    let t = tempfile::tempdir().expect("tempdir");
    let (code, result, err) = run(
        t.path(),
        &[
            "--policies",
            &format!("chainguard={}", own("chainguard-audit")),
            "--policies",
            &format!("acme={}", own("acme")),
            "--scenario",
            "unsigned-image",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(status(&result, "unsigned-image"), "deviated");
    // The static diff names the difference where it is written.
    assert_eq!(result["staticCheck"]["verdict"], "does-not-hold");
    let runs = runs_of(&result, "chainguard");
    assert!(
        runs.iter()
            .any(|(_, s, why)| s == "deviated" && why.contains("unsigned image is denied")),
        "{runs:?}"
    );
}

#[test]
fn handwritten_image_validating_policies_hold_and_say_what_they_cannot_run() {
    let t = tempfile::tempdir().expect("tempdir");
    let (code, result, err) = run(
        t.path(),
        &[
            "--policies",
            &format!("chainguard={}", own("chainguard-ivpol")),
            "--policies",
            &format!("acme={}", own("acme-ivpol")),
        ],
    );
    assert_eq!(code, Some(0), "{err}\n{result:#}");
    let engines: Vec<&str> = result["staticCheck"]["engines"]
        .as_array()
        .expect("engines")
        .iter()
        .filter_map(|e| e["engine"].as_str())
        .collect();
    assert_eq!(engines, ["ivpol"], "only the engine the sets hold runs");
    for set in result["ownPolicies"].as_array().expect("ownPolicies") {
        let fields: Vec<&str> = set["edits"]
            .as_array()
            .expect("edits")
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(
            fields.contains(&"spec.attestors[0].cosign.tuf"),
            "{fields:?}"
        );
    }
    let runs = runs_of(&result, "acme");
    let trust_root = runs
        .iter()
        .find(|(id, ..)| id == "policy-trust-root/ivpol")
        .expect("policy-trust-root");
    assert_eq!(trust_root.1, "not-applicable");
    assert!(trust_root.2.contains("CEL"), "{trust_root:?}");
}

#[test]
fn a_key_based_set_is_pointed_at_the_lab_key_and_runs_the_rotation() {
    let t = tempfile::tempdir().expect("tempdir");
    let (code, result, err) = run(
        t.path(),
        &[
            "--policies",
            &format!("keyco={}", own("keyco")),
            "--policies",
            &format!("chainguard={}", own("chainguard")),
        ],
    );
    assert_eq!(code, Some(0), "{err}\n{result:#}");
    assert_eq!(status(&result, "key-rotation"), "held");
    let keyco = result["ownPolicies"]
        .as_array()
        .expect("ownPolicies")
        .iter()
        .find(|s| s["vendor"] == "keyco")
        .expect("keyco");
    let keys: Vec<&Value> = keyco["edits"]
        .as_array()
        .expect("edits")
        .iter()
        .filter(|e| {
            e["field"]
                .as_str()
                .is_some_and(|f| f.ends_with("keys.publicKeys"))
        })
        .collect();
    assert_eq!(
        keys.len(),
        2,
        "the signature's and the SBOM's key: {keyco:#}"
    );
    assert!(
        keys[0]["change"]
            .as_str()
            .expect("change")
            .contains("the lab's key for `keyco`")
    );
}

#[test]
fn a_set_that_trusts_another_key_is_a_finding_not_something_to_fix_up() {
    // fixtures/policies/handwritten/dhi pins a throwaway key, not the one the
    // DHI profile names: nothing is re-pointed, and DHI's signed image is denied.
    let t = tempfile::tempdir().expect("tempdir");
    let dhi = common::root()
        .join("fixtures/policies/handwritten/dhi")
        .display()
        .to_string();
    let (code, result, err) = run(
        t.path(),
        &[
            "--policies",
            &format!("dhi={dhi}"),
            "--policies",
            &format!("chainguard={}", own("chainguard")),
            "--scenario",
            "unsigned-image",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    let set = result["ownPolicies"]
        .as_array()
        .expect("ownPolicies")
        .iter()
        .find(|s| s["vendor"] == "dhi")
        .expect("dhi");
    assert_eq!(set["edits"], serde_json::json!([]));
    let runs = runs_of(&result, "dhi");
    assert!(
        runs.iter()
            .any(|(_, s, why)| s == "deviated" && why.contains("signed image is admitted")),
        "{runs:?}"
    );
}

#[test]
fn bad_policies_arguments_are_usage_errors_naming_the_fix() {
    let t = tempfile::tempdir().expect("tempdir");
    let cg = format!("chainguard={}", own("chainguard"));
    let cases: [(&[&str], &str); 4] = [
        (&["--policies", "nobody=fixtures"], "nobody"),
        (
            &[
                "--policies",
                &cg,
                "--policies",
                &format!("chainguard={}", own("acme")),
            ],
            "two policy sets",
        ),
        (
            &["--policies", &cg, "--vendor", "chainguard"],
            "--vendor and --policies",
        ),
        (&["--policies", "chainguard"], "VENDOR=PATH"),
    ];
    for (args, says) in cases {
        let (code, _, err) = run(t.path(), args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // A folder with no image-verification policy for the vendor.
    let empty = t.path().join("vp-only");
    std::fs::create_dir_all(&empty).expect("dir");
    std::fs::write(
        empty.join("vp.yaml"),
        "apiVersion: policies.kyverno.io/v1\nkind: ValidatingPolicy\nmetadata: {name: x}\nspec: {validations: [{expression: 'true'}]}\n",
    )
    .expect("write");
    let (code, _, err) = run(
        t.path(),
        &["--policies", &format!("acme={}", empty.display())],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("no ClusterPolicy or ImageValidatingPolicy"),
        "{err}"
    );
}

#[test]
fn a_vendor_a_user_adds_runs_every_scenario_in_the_lab() {
    let t = tempfile::tempdir().expect("tempdir");
    let (code, result, err) = run(
        t.path(),
        &[
            "--vendor",
            "acme",
            "--vendor",
            "keyco",
            "--vendor",
            "dhi",
            "--vendor",
            "chainguard",
        ],
    );
    // ImageValidatingPolicy refuses key-signed legacy attestations without a
    // log entry (SEMANTICS.md): dhi and keyco deviate there alike.
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(result["counts"]["errored"], 0, "{result:#}");
    let acme = runs_of(&result, "acme");
    assert!(acme.len() >= 20, "{acme:?}");
    for (id, s, why) in &acme {
        assert!(
            s == "held" || (s == "not-applicable" && id.starts_with("key-rotation")),
            "{id}: {s} {why}"
        );
    }
    // A key-based vendor the user adds behaves as the shipped key-based one.
    let strip = |v: Vec<(String, String, String)>| {
        v.into_iter().map(|(id, s, _)| (id, s)).collect::<Vec<_>>()
    };
    assert_eq!(
        strip(runs_of(&result, "keyco")),
        strip(runs_of(&result, "dhi"))
    );
    // Its fixtures are signed with a key of its own, under its own name.
    let lab = t.path().join("lab");
    let key = std::fs::read_to_string(lab.join("keyco.pub")).expect("keyco.pub");
    assert_ne!(
        key,
        std::fs::read_to_string(lab.join("dhi.pub")).expect("dhi.pub")
    );
    let catalogue: Value = serde_json::from_str(
        &std::fs::read_to_string(lab.join("catalogue.json")).expect("catalogue"),
    )
    .expect("json");
    let acme_good = catalogue["fixtures"]
        .as_array()
        .expect("fixtures")
        .iter()
        .find(|f| f["vendor"] == "acme" && f["variant"] == "good")
        .expect("acme good");
    assert_eq!(
        acme_good["image_ref"],
        "registry.acme.example/base/lab:1.0.0"
    );
    assert_eq!(
        acme_good["policy"]["san"]["value"],
        "https://ci.acme.example/pipelines/release/0"
    );
}
