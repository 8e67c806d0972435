//! Structural edits of rendered policy documents: the knobs of the generated
//! fidelity corpus (`generate.rs`) that a contract, an identity mode or a
//! trust root cannot express. Each edit names the Kyverno fields it sets on
//! each policy kind; one that has no counterpart on a kind leaves it as it is
//! (`applies_to` says so, and the corpus records it).

use serde::Serialize;
use serde_json::Value;

use crate::policy::Engine;

/// One edit of a rendered policy set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "set", content = "to")]
pub enum PolicyPatch {
    /// ClusterPolicy `verifyImages[].mutateDigest`; ImageValidatingPolicy
    /// `validationConfigurations.mutateDigest`.
    MutateDigest(bool),
    /// `verifyDigest`, in the same two places.
    VerifyDigest(bool),
    /// `required`, in the same two places.
    Required(bool),
    /// ClusterPolicy `verifyImages[].useCache` (an ImageValidatingPolicy's
    /// cache cannot be turned off).
    UseCache(bool),
    /// ClusterPolicy `verifyImages[].skipImageReferences` set to the rule's
    /// own `imageReferences`: every image it verifies is skipped.
    SkipOwnImages,
    /// The transparency-log requirement of every attestor: ClusterPolicy
    /// `rekor.ignoreTlog`, ImageValidatingPolicy `ctlog.insecureIgnoreTlog`.
    IgnoreTlog(bool),
    /// The SCT requirement of every keyless attestor: ClusterPolicy
    /// `ctlog.ignoreSCT`, ImageValidatingPolicy `ctlog.insecureIgnoreSCT`.
    IgnoreSct(bool),
    /// ClusterPolicy: a second entry in every attestor set that nothing in
    /// the lab satisfies (another subject, or a key that signed nothing),
    /// with `count: 1` (either entry will do) or no count (every entry must
    /// verify). An ImageValidatingPolicy names its attestors in CEL, so this
    /// has no counterpart there.
    ExtraEntry { any: bool },
    /// A ValidatingPolicy beside the set (either engine): a CEL variable
    /// reads the pod's `team` label and a validation requires the team the
    /// generated pods carry (`holds`) or another one, with a
    /// `messageExpression`, under one validation action.
    TeamPolicy { holds: bool, action: VpAction },
    /// ClusterPolicy `verifyImages[].type: SigstoreBundle`: signatures and
    /// attestations are read from Sigstore bundle referrers only (an
    /// ImageValidatingPolicy has no such field).
    SigstoreBundle,
    /// ClusterPolicy `attestations[].conditions` on the SBOM's predicate
    /// (Kyverno merges the predicate into the context:
    /// `pkg/engine/internal/utils.go:43-54`): its format field equals what
    /// the lab's SBOMs hold (`holds`) or another value. An
    /// ImageValidatingPolicy checks payloads in CEL instead.
    SbomCondition { holds: bool },
    /// ImageValidatingPolicy: a CEL validation on the verified SBOM
    /// statement `extractPayload` returns (after the SBOM's own
    /// validation): its format field equals what the lab's SBOMs hold
    /// (`holds`) or another value.
    SbomPayload { holds: bool },
    /// Signatures and attestations read from a repository on a registry
    /// that refuses connections ([`REFUSING_REGISTRY`]): ClusterPolicy
    /// `verifyImages[].repository` (and any entry's), ImageValidatingPolicy
    /// `attestors[].cosign.source.repository`.
    SignaturesUnreachable,
}

/// A registry address nothing listens on: a connection to it is refused
/// (the embedded backend models the same, [`crate::backend::evidence::refused_connection`]).
pub const REFUSING_REGISTRY: &str = "127.0.0.1:1";

/// The repository [`PolicyPatch::SignaturesUnreachable`] names.
pub fn unreachable_repository() -> String {
    format!("{REFUSING_REGISTRY}/trustswap/signatures")
}

/// A ValidatingPolicy's `validationActions` (one of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub enum VpAction {
    Deny,
    Audit,
    Warn,
}

/// A public key that signed nothing in the lab (Sigstore's public-good Rekor key).
const UNRELATED_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwr\nkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==\n-----END PUBLIC KEY-----\n";

/// A certificate subject no lab identity has.
const UNRELATED_SUBJECT: &str =
    "https://github.com/trustswap-nobody/none/.github/workflows/none.yaml@refs/heads/main";

impl PolicyPatch {
    /// Whether the edit has a counterpart on policies of `engine`.
    pub fn applies_to(self, engine: Engine) -> bool {
        !matches!(
            (self, engine),
            (
                PolicyPatch::UseCache(_)
                    | PolicyPatch::SkipOwnImages
                    | PolicyPatch::ExtraEntry { .. }
                    | PolicyPatch::SigstoreBundle
                    | PolicyPatch::SbomCondition { .. },
                Engine::Ivpol
            ) | (PolicyPatch::SbomPayload { .. }, Engine::Cpol)
        )
    }

    /// A short description for reports and reproducers.
    pub fn describe(self) -> String {
        match self {
            PolicyPatch::MutateDigest(b) => format!("mutateDigest: {b}"),
            PolicyPatch::VerifyDigest(b) => format!("verifyDigest: {b}"),
            PolicyPatch::Required(b) => format!("required: {b}"),
            PolicyPatch::UseCache(b) => format!("useCache: {b}"),
            PolicyPatch::SkipOwnImages => "skipImageReferences: the rule's imageReferences".into(),
            PolicyPatch::IgnoreTlog(b) => format!("ignore the transparency log: {b}"),
            PolicyPatch::IgnoreSct(b) => format!("ignore SCTs: {b}"),
            PolicyPatch::ExtraEntry { any: true } => {
                "a second attestor entry nothing satisfies, count 1".into()
            }
            PolicyPatch::ExtraEntry { any: false } => {
                "a second attestor entry nothing satisfies, no count".into()
            }
            PolicyPatch::SigstoreBundle => "type: SigstoreBundle".into(),
            PolicyPatch::SbomCondition { holds } => format!(
                "an attestation condition on the SBOM's format that {}",
                if holds { "holds" } else { "fails" }
            ),
            PolicyPatch::TeamPolicy { holds, action } => format!(
                "a ValidatingPolicy ({action:?}) whose CEL validation {} the pods' team",
                if holds { "accepts" } else { "refuses" }
            ),
            PolicyPatch::SbomPayload { holds } => format!(
                "a CEL validation on the extracted SBOM's format that {}",
                if holds { "holds" } else { "fails" }
            ),
            PolicyPatch::SignaturesUnreachable => {
                format!(
                    "signatures read from a registry that refuses connections ({REFUSING_REGISTRY})"
                )
            }
        }
    }
}

/// The conditions of [`PolicyPatch::SbomCondition`] for an attestation of
/// `predicate_type`: the lab's CycloneDX SBOMs say `bomFormat: CycloneDX`,
/// its SPDX ones `spdxVersion: SPDX-2.3`.
fn sbom_condition(predicate_type: &Value, holds: bool) -> Value {
    let cyclonedx = predicate_type
        .as_str()
        .is_some_and(|t| t.contains("cyclonedx"));
    let (key, good, bad) = match cyclonedx {
        true => ("{{ bomFormat }}", "CycloneDX", "SPDX"),
        false => ("{{ spdxVersion }}", "SPDX-2.3", "SPDX-2.2"),
    };
    serde_json::json!([{"all": [{
        "key": key,
        "operator": "Equals",
        "value": if holds { good } else { bad },
    }]}])
}

/// [`PolicyPatch::SbomPayload`]: a validation, after the others, on the
/// statement of the policy's in-toto SBOM attestation (a policy without one
/// is left as it is). The lab's CycloneDX SBOMs say `bomFormat: CycloneDX`,
/// its SPDX ones `spdxVersion: SPDX-2.3`.
fn sbom_payload(spec: &mut Value, holds: bool) {
    let Some((name, cyclonedx)) = spec["attestations"].as_array().and_then(|atts| {
        atts.iter().find_map(|a| {
            let t = a["intoto"]["type"].as_str()?;
            Some((a["name"].as_str()?.to_owned(), t.contains("cyclonedx")))
        })
    }) else {
        return;
    };
    let (field, good, bad) = match cyclonedx {
        true => ("bomFormat", "CycloneDX", "SPDX"),
        false => ("spdxVersion", "SPDX-2.3", "SPDX-2.2"),
    };
    let value = if holds { good } else { bad };
    if let Some(validations) = spec["validations"].as_array_mut() {
        validations.push(serde_json::json!({
            "expression": format!(
                "({}).map(image, extractPayload(image, attestations.{name}).predicate.{field} == '{value}').all(e, e)",
                crate::policy::render::image_lists()
            ),
            "message": format!("the SBOM's {field} is not {value}"),
        }));
    }
}

/// The team label the generated pods carry.
pub const GENERATED_TEAM: &str = "payments";

/// The ValidatingPolicy of [`PolicyPatch::TeamPolicy`].
fn team_policy(holds: bool, action: VpAction) -> Value {
    let team = if holds { GENERATED_TEAM } else { "platform" };
    serde_json::json!({
        "apiVersion": "policies.kyverno.io/v1",
        "kind": "ValidatingPolicy",
        "metadata": {"name": "trustswap-gen-team"},
        "spec": {
            "validationActions": [action],
            "matchConstraints": {"resourceRules": [{
                "apiGroups": [""], "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"], "resources": ["pods"],
            }]},
            "variables": [{
                "name": "team",
                "expression": "has(object.metadata.labels) && 'team' in object.metadata.labels ? object.metadata.labels['team'] : ''",
            }],
            "validations": [{
                "expression": format!("variables.team == '{team}'"),
                "messageExpression": "'pods of team ' + variables.team + ' may not run here'",
            }],
        },
    })
}

/// Apply `patches` to the rendered documents (exceptions included: they are
/// left as they are).
pub fn apply(docs: &mut Vec<Value>, patches: &[PolicyPatch]) {
    for p in patches {
        if let PolicyPatch::TeamPolicy { holds, action } = p {
            docs.push(team_policy(*holds, *action));
        }
    }
    for doc in docs.iter_mut() {
        match doc["kind"].as_str() {
            Some("ClusterPolicy") => {
                for p in patches {
                    cpol(doc, *p);
                }
            }
            Some("ImageValidatingPolicy") => {
                for p in patches {
                    ivpol(doc, *p);
                }
            }
            _ => {}
        }
    }
}

fn each_mut<'a>(v: &'a mut Value, key: &str) -> impl Iterator<Item = &'a mut Value> + 'a {
    v.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// Every attestor entry of a `verifyImages` item, its attestations' included.
fn cpol_entries(vi: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    for set in each_mut(vi, "attestors") {
        for e in each_mut(set, "entries") {
            f(e);
        }
    }
    for att in each_mut(vi, "attestations") {
        for set in each_mut(att, "attestors") {
            for e in each_mut(set, "entries") {
                f(e);
            }
        }
    }
}

/// Every attestor set of a `verifyImages` item, its attestations' included.
fn cpol_sets(vi: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    for set in each_mut(vi, "attestors") {
        f(set);
    }
    for att in each_mut(vi, "attestations") {
        for set in each_mut(att, "attestors") {
            f(set);
        }
    }
}

/// A copy of `entry` that nothing in the lab satisfies.
fn unrelated(entry: &Value) -> Value {
    let mut e = entry.clone();
    if e["keys"].is_object() {
        e["keys"]["publicKeys"] = Value::String(UNRELATED_KEY.into());
    }
    if e["keyless"].is_object() {
        let k = &mut e["keyless"];
        if let Some(o) = k.as_object_mut() {
            o.remove("subjectRegExp");
        }
        k["subject"] = Value::String(UNRELATED_SUBJECT.into());
    }
    e
}

fn cpol(doc: &mut Value, p: PolicyPatch) {
    let Some(rules) = doc
        .get_mut("spec")
        .and_then(|s| s.get_mut("rules"))
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for rule in rules {
        for vi in each_mut(rule, "verifyImages") {
            match p {
                PolicyPatch::MutateDigest(b) => vi["mutateDigest"] = Value::Bool(b),
                PolicyPatch::VerifyDigest(b) => vi["verifyDigest"] = Value::Bool(b),
                PolicyPatch::Required(b) => vi["required"] = Value::Bool(b),
                PolicyPatch::UseCache(b) => vi["useCache"] = Value::Bool(b),
                PolicyPatch::SkipOwnImages => {
                    vi["skipImageReferences"] = vi["imageReferences"].clone()
                }
                PolicyPatch::IgnoreTlog(b) => cpol_entries(vi, &mut |e| {
                    for kind in ["keys", "keyless", "certificates"] {
                        if e[kind].is_object() {
                            e[kind]["rekor"]["ignoreTlog"] = Value::Bool(b);
                        }
                    }
                }),
                PolicyPatch::IgnoreSct(b) => cpol_entries(vi, &mut |e| {
                    for kind in ["keys", "keyless", "certificates"] {
                        if e[kind].is_object() {
                            e[kind]["ctlog"]["ignoreSCT"] = Value::Bool(b);
                        }
                    }
                }),
                PolicyPatch::ExtraEntry { any } => cpol_sets(vi, &mut |set| {
                    let Some(first) = set["entries"].get(0).cloned() else {
                        return;
                    };
                    if let Some(entries) = set["entries"].as_array_mut() {
                        entries.push(unrelated(&first));
                    }
                    if any {
                        set["count"] = Value::from(1);
                    } else if let Some(o) = set.as_object_mut() {
                        o.remove("count");
                    }
                }),
                PolicyPatch::SigstoreBundle => vi["type"] = Value::from("SigstoreBundle"),
                PolicyPatch::SignaturesUnreachable => {
                    let repo = Value::from(unreachable_repository());
                    vi["repository"] = repo.clone();
                    // An entry's own repository wins over the rule's.
                    cpol_entries(vi, &mut |e| {
                        if e.get("repository").is_some() {
                            e["repository"] = repo.clone();
                        }
                    });
                }
                PolicyPatch::SbomCondition { holds } => {
                    for att in each_mut(vi, "attestations") {
                        att["conditions"] = sbom_condition(&att["type"], holds);
                    }
                }
                // A document of its own (`apply`); an ImageValidatingPolicy's.
                PolicyPatch::TeamPolicy { .. } | PolicyPatch::SbomPayload { .. } => {}
            }
        }
    }
}

fn ivpol(doc: &mut Value, p: PolicyPatch) {
    let Some(spec) = doc.get_mut("spec") else {
        return;
    };
    let config = |spec: &mut Value, key: &str, b: bool| {
        spec["validationConfigurations"][key] = Value::Bool(b);
    };
    match p {
        PolicyPatch::MutateDigest(b) => config(spec, "mutateDigest", b),
        PolicyPatch::VerifyDigest(b) => config(spec, "verifyDigest", b),
        PolicyPatch::Required(b) => config(spec, "required", b),
        PolicyPatch::UseCache(_)
        | PolicyPatch::SkipOwnImages
        | PolicyPatch::ExtraEntry { .. }
        | PolicyPatch::SigstoreBundle
        | PolicyPatch::SbomCondition { .. }
        | PolicyPatch::TeamPolicy { .. } => {}
        PolicyPatch::SbomPayload { holds } => sbom_payload(spec, holds),
        PolicyPatch::SignaturesUnreachable => {
            for a in each_mut(spec, "attestors") {
                if a["cosign"].is_object() {
                    a["cosign"]["source"]["repository"] = Value::from(unreachable_repository());
                }
            }
        }
        PolicyPatch::IgnoreTlog(b) | PolicyPatch::IgnoreSct(b) => {
            let field = match p {
                PolicyPatch::IgnoreTlog(_) => "insecureIgnoreTlog",
                _ => "insecureIgnoreSCT",
            };
            for a in each_mut(spec, "attestors") {
                if a["cosign"].is_object() {
                    a["cosign"]["ctlog"][field] = Value::Bool(b);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_team_policy_is_a_validating_policy_of_its_own() {
        let mut docs = vec![json!({"kind": "ClusterPolicy", "spec": {"rules": []}})];
        apply(
            &mut docs,
            &[PolicyPatch::TeamPolicy {
                holds: false,
                action: VpAction::Warn,
            }],
        );
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["kind"], "ValidatingPolicy");
        assert_eq!(docs[1]["spec"]["validationActions"], json!(["Warn"]));
        assert_eq!(
            docs[1]["spec"]["validations"][0]["expression"],
            "variables.team == 'platform'"
        );
        // it compiles on the embedded engine
        crate::admission::CompiledPolicySet::compile(&docs[1..]).unwrap();
    }

    #[test]
    fn cluster_policy_fields_are_set_on_every_verify_images_item_and_entry() {
        let mut docs = vec![json!({
            "kind": "ClusterPolicy",
            "spec": {"rules": [{"verifyImages": [{
                "imageReferences": ["cgr.dev/chainguard/*"],
                "attestors": [{"entries": [{"keyless": {"subject": "x"}}]}],
                "attestations": [{"attestors": [{"entries": [{"keys": {"publicKeys": "k"}}]}]}]
            }]}]}
        })];
        apply(
            &mut docs,
            &[
                PolicyPatch::MutateDigest(false),
                PolicyPatch::SkipOwnImages,
                PolicyPatch::IgnoreTlog(true),
                PolicyPatch::IgnoreSct(true),
            ],
        );
        let vi = &docs[0]["spec"]["rules"][0]["verifyImages"][0];
        assert_eq!(vi["mutateDigest"], false);
        assert_eq!(vi["skipImageReferences"], json!(["cgr.dev/chainguard/*"]));
        let keyless = &vi["attestors"][0]["entries"][0]["keyless"];
        assert_eq!(keyless["rekor"]["ignoreTlog"], true);
        assert_eq!(keyless["ctlog"]["ignoreSCT"], true);
        let keys = &vi["attestations"][0]["attestors"][0]["entries"][0]["keys"];
        assert_eq!(keys["rekor"]["ignoreTlog"], true);
    }

    #[test]
    fn an_extra_entry_nothing_satisfies_with_or_without_a_count() {
        let policy = json!({
            "kind": "ClusterPolicy",
            "spec": {"rules": [{"verifyImages": [{
                "attestors": [{"count": 1, "entries": [{"keyless": {"subject": "x", "subjectRegExp": "y"}}]}],
                "attestations": [{"attestors": [{"entries": [{"keys": {"publicKeys": "k"}}]}]}]
            }]}]}
        });
        let mut docs = vec![policy.clone()];
        apply(&mut docs, &[PolicyPatch::ExtraEntry { any: false }]);
        let vi = &docs[0]["spec"]["rules"][0]["verifyImages"][0];
        let set = &vi["attestors"][0];
        assert!(set.get("count").is_none());
        assert_eq!(set["entries"][1]["keyless"]["subject"], UNRELATED_SUBJECT);
        assert!(set["entries"][1]["keyless"].get("subjectRegExp").is_none());
        assert_eq!(
            set["entries"][0],
            policy["spec"]["rules"][0]["verifyImages"][0]["attestors"][0]["entries"][0]
        );
        let att = &vi["attestations"][0]["attestors"][0];
        assert_eq!(att["entries"][1]["keys"]["publicKeys"], UNRELATED_KEY);
        let mut docs = vec![policy];
        apply(&mut docs, &[PolicyPatch::ExtraEntry { any: true }]);
        assert_eq!(
            docs[0]["spec"]["rules"][0]["verifyImages"][0]["attestors"][0]["count"],
            1
        );
    }

    #[test]
    fn image_validating_policy_fields_and_what_it_has_no_counterpart_for() {
        let original = json!({
            "kind": "ImageValidatingPolicy",
            "spec": {"attestors": [{"name": "a", "cosign": {"keyless": {}}}]}
        });
        let mut docs = vec![original.clone()];
        apply(
            &mut docs,
            &[PolicyPatch::UseCache(false), PolicyPatch::SkipOwnImages],
        );
        assert_eq!(docs[0], original);
        assert!(!PolicyPatch::UseCache(false).applies_to(Engine::Ivpol));
        apply(
            &mut docs,
            &[PolicyPatch::Required(false), PolicyPatch::IgnoreTlog(true)],
        );
        assert_eq!(
            docs[0]["spec"]["validationConfigurations"]["required"],
            false
        );
        assert_eq!(
            docs[0]["spec"]["attestors"][0]["cosign"]["ctlog"]["insecureIgnoreTlog"],
            true
        );
    }

    #[test]
    fn unreachable_signatures_name_the_refusing_registry_in_both_kinds() {
        let mut docs = vec![
            json!({
                "kind": "ClusterPolicy",
                "spec": {"rules": [{"verifyImages": [{
                    "imageReferences": ["dhi.io/python:*"],
                    "repository": "registry.scout.docker.com/docker/dhi-python",
                    "attestors": [{"entries": [
                        {"keys": {"publicKeys": "k"}, "repository": "elsewhere.example/sigs"},
                        {"keys": {"publicKeys": "k2"}}
                    ]}]
                }]}]}
            }),
            json!({
                "kind": "ImageValidatingPolicy",
                "spec": {"attestors": [{"name": "a", "cosign": {"keyless": {}}}, {"name": "n", "notary": {}}]}
            }),
        ];
        apply(&mut docs, &[PolicyPatch::SignaturesUnreachable]);
        let repo = "127.0.0.1:1/trustswap/signatures";
        let vi = &docs[0]["spec"]["rules"][0]["verifyImages"][0];
        assert_eq!(vi["repository"], repo);
        assert_eq!(vi["attestors"][0]["entries"][0]["repository"], repo);
        // an entry without its own repository reads the rule's
        assert!(vi["attestors"][0]["entries"][1].get("repository").is_none());
        let attestors = &docs[1]["spec"]["attestors"];
        assert_eq!(attestors[0]["cosign"]["source"]["repository"], repo);
        assert!(attestors[1].get("cosign").is_none());
        // the embedded backend refuses the connection, and only to that host
        assert!(matches!(
            crate::backend::evidence::refused_connection(Some(repo)),
            Some(crate::admission::verifier::Verification::Error { .. })
        ));
        assert!(crate::backend::evidence::refused_connection(Some("127.0.0.1:10/x")).is_none());
        assert!(crate::backend::evidence::refused_connection(None).is_none());
    }
}
