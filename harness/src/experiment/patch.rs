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
}

impl PolicyPatch {
    /// Whether the edit has a counterpart on policies of `engine`.
    pub fn applies_to(self, engine: Engine) -> bool {
        !matches!(
            (self, engine),
            (
                PolicyPatch::UseCache(_) | PolicyPatch::SkipOwnImages,
                Engine::Ivpol
            )
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
        }
    }
}

/// Apply `patches` to the rendered documents (exceptions included: they are
/// left as they are).
pub fn apply(docs: &mut [Value], patches: &[PolicyPatch]) {
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
        PolicyPatch::UseCache(_) | PolicyPatch::SkipOwnImages => {}
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
}
