//! The snapshot proof: every vendor's rendering of the trust contract, with the
//! trust root, image scope and SBOM type redacted by explicit paths (not by the
//! classifier under test), matches ONE snapshot per engine. Any difference
//! outside those slots fails here. Per-vendor unredacted snapshots let a
//! reviewer read each trust root.

use crate::common;

use rstest::rstest;
use serde_json::Value;
use trustswap::policy::Engine;
use trustswap::policy::render::render;

const TRUST: &str = "[redacted: trust root]";
const SCOPE: &str = "[redacted: image scope]";
const EVIDENCE: &str = "[redacted: SBOM predicate type]";

/// Set `path` (segments; `*` = every element) to `placeholder`, inserting the
/// last key when its parent exists, so a field present for one vendor and
/// absent for another redacts the same.
fn redact(v: &mut Value, path: &[&str], placeholder: &str) {
    match path {
        [] => {}
        [last] => {
            if let Value::Object(m) = v {
                m.insert((*last).to_owned(), Value::String(placeholder.to_owned()));
            }
        }
        [head, rest @ ..] => match (v, *head) {
            (Value::Array(a), "*") => a.iter_mut().for_each(|x| redact(x, rest, placeholder)),
            (Value::Object(m), "*") => m.values_mut().for_each(|x| redact(x, rest, placeholder)),
            (Value::Object(m), k) => {
                if let Some(x) = m.get_mut(k) {
                    redact(x, rest, placeholder)
                }
            }
            _ => {}
        },
    }
}

fn redacted(engine: Engine, docs: Vec<Value>) -> Vec<Value> {
    docs.into_iter()
        .map(|mut d| {
            let kind = d["kind"].as_str().unwrap_or_default().to_owned();
            match (engine, kind.as_str()) {
                (Engine::Cpol, _) => {
                    let vi = ["spec", "rules", "*", "verifyImages", "*"];
                    let at = |tail: &[&'static str]| [&vi[..], tail].concat();
                    redact(&mut d, &at(&["attestors"]), TRUST);
                    redact(&mut d, &at(&["attestations", "*", "attestors"]), TRUST);
                    redact(&mut d, &at(&["attestations", "*", "type"]), EVIDENCE);
                    redact(&mut d, &at(&["imageReferences"]), SCOPE);
                    redact(&mut d, &at(&["repository"]), SCOPE);
                    redact(
                        &mut d,
                        &[
                            "spec", "rules", "*", "validate", "pattern", "spec", "*", "*", "image",
                        ],
                        SCOPE,
                    );
                }
                (Engine::Ivpol, "ImageValidatingPolicy") => {
                    redact(&mut d, &["spec", "attestors", "*", "cosign"], TRUST);
                    redact(&mut d, &["spec", "matchImageReferences"], SCOPE);
                    redact(
                        &mut d,
                        &["spec", "attestations", "*", "intoto", "type"],
                        EVIDENCE,
                    );
                }
                (Engine::Ivpol, _) => {
                    redact(&mut d, &["spec", "variables", "*", "expression"], SCOPE)
                }
            }
            d
        })
        .collect()
}

#[rstest]
fn only_the_trust_root_differs(
    #[values("chainguard", "dhi", "distroless", "selfbuilt")] vendor: &str,
    #[values(Engine::Ivpol, Engine::Cpol)] engine: Engine,
) {
    let set = render(&common::contract(), &common::vendor(vendor), engine).expect("renders");
    let docs = redacted(engine, set.documents.into_iter().map(|d| d.value).collect());
    // Maps sorted: a redacted field inserted for one vendor and present for
    // another must not differ by position.
    insta::with_settings!({ sort_maps => true }, {
        insta::allow_duplicates! {
            insta::assert_yaml_snapshot!(format!("{engine}_trust_contract"), docs);
        }
    });
}

/// Show each PEM public key by its SubjectPublicKeyInfo fingerprint: the
/// snapshot names the key without carrying vendor key material.
fn keys_by_fingerprint(text: &str) -> String {
    let re = regex::Regex::new(r"(?m)^(\s*)-----BEGIN PUBLIC KEY-----\n(?:\s*[A-Za-z0-9+/=]+\n)+\s*-----END PUBLIC KEY-----").expect("regex");
    re.replace_all(text, |c: &regex::Captures<'_>| {
        let pem: String = c[0].lines().map(str::trim).collect::<Vec<_>>().join("\n");
        let (_, fp) =
            trustswap::profile::keys::parse_public_key(&pem).expect("rendered keys parse");
        format!("{}[public key sha256:{fp}]", &c[1])
    })
    .into_owned()
}

#[rstest]
fn each_vendor_trust_root_as_rendered(
    #[values("chainguard", "dhi", "distroless", "selfbuilt")] vendor: &str,
    #[values(Engine::Ivpol, Engine::Cpol)] engine: Engine,
) {
    let set = render(&common::contract(), &common::vendor(vendor), engine).expect("renders");
    let text: String = set
        .files
        .iter()
        .map(|(name, yaml)| format!("# {name}\n{yaml}"))
        .collect::<Vec<_>>()
        .join("---\n");
    insta::assert_snapshot!(format!("{engine}_{vendor}"), keys_by_fingerprint(&text));
}

#[rstest]
fn rendered_yaml_round_trips_through_the_typed_crds(
    #[values("chainguard", "dhi", "distroless", "selfbuilt")] vendor: &str,
) {
    use trustswap::policy::kyverno::{
        cpol::ClusterPolicy,
        ivpol::{ImageValidatingPolicy, ValidatingPolicy},
    };
    for engine in Engine::ALL {
        let set = render(&common::contract(), &common::vendor(vendor), engine).expect("renders");
        for (name, yaml) in &set.files {
            let reparsed: Value = serde_saphyr::from_str(yaml).expect("rendered YAML parses");
            let doc = set
                .documents
                .iter()
                .find(|d| &d.origin == name)
                .expect("document for file");
            assert_eq!(reparsed, doc.value, "{name}: YAML and JSON forms agree");
            match doc.value["kind"].as_str() {
                Some("ClusterPolicy") => {
                    drop(serde_saphyr::from_str::<ClusterPolicy>(yaml).expect("typed cpol"))
                }
                Some("ImageValidatingPolicy") => drop(
                    serde_saphyr::from_str::<ImageValidatingPolicy>(yaml).expect("typed ivpol"),
                ),
                Some("ValidatingPolicy") => {
                    drop(serde_saphyr::from_str::<ValidatingPolicy>(yaml).expect("typed vpol"))
                }
                other => panic!("unexpected kind {other:?}"),
            }
        }
    }
}

#[test]
fn shipped_vendors_check_holds_on_both_engines() {
    let vendors = common::vendors();
    let result = trustswap::check::check(
        &common::contract(),
        &vendors,
        &Engine::ALL,
        None,
        &Default::default(),
    )
    .expect("check runs");
    assert!(result.verdict.holds());
    for e in &result.engines {
        assert_eq!(e.baseline, "chainguard");
        assert_eq!(e.comparisons.len(), 3);
        for c in &e.comparisons {
            assert_eq!(
                c.counts.structural, 0,
                "{} {}: {:#?}",
                e.engine, c.vendor, c.differences
            );
            assert!(
                c.counts.trust_root > 0,
                "{} {}: the trust root must differ",
                e.engine,
                c.vendor
            );
        }
    }
    // DHI publishes CycloneDX first, Chainguard SPDX: an evidence warning, not a failure.
    let dhi = result.engines[0]
        .comparisons
        .iter()
        .find(|c| c.vendor == "dhi")
        .expect("dhi compared");
    assert_eq!(dhi.counts.evidence, 1);
    assert!(
        dhi.warnings
            .iter()
            .any(|w| w.contains("not vendor-neutral"))
    );
}
