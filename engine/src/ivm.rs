//! Kyverno's image verification metadata (`pkg/engine/api/imageverifymetadata.go`):
//! what the mutating webhook records per image and per (policy, rule, image),
//! the two pod annotations it writes from it, and how they are read back: by
//! the validating webhook's `required` check on the new object, and on UPDATE
//! (`isPreviouslyVerified`) on the old one.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// `kyverno.io/verify-images` (`api/kyverno/annotations.go`): image → status.
pub const ANNOTATION: &str = "kyverno.io/verify-images";
/// `kyverno.io/verify-images-scoped`: `{"version":1,"policies":{"ns/policy":{rule:{image:status}}}}`.
pub const ANNOTATION_SCOPED: &str = "kyverno.io/verify-images-scoped";

/// An image's entry (`ImageVerificationMetadataStatus`; the status of a rule
/// response, `ruleStatusToImageVerificationStatus`, `pkg/engine/internal/utils.go:66-81`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Pass,
    /// Skipped (a skip list) or a warning.
    Skip,
    Fail,
    /// Any other string an annotation holds (a Go string type reads anything).
    Other(String),
}

impl Status {
    fn as_str(&self) -> &str {
        match self {
            Status::Pass => "pass",
            Status::Skip => "skip",
            Status::Fail => "fail",
            Status::Other(s) => s,
        }
    }

    fn parse(s: &str) -> Status {
        match s {
            "pass" => Status::Pass,
            "skip" => Status::Skip,
            "fail" => Status::Fail,
            other => Status::Other(other.to_owned()),
        }
    }
}

/// The metadata one admission request records, over every ClusterPolicy
/// (`verifiedImageData.Merge`, `pkg/webhooks/resource/imageverification/handler.go:88-118`).
#[derive(Debug, Default, Clone)]
pub struct Metadata {
    /// `Data`: image → status, the last write winning.
    data: BTreeMap<String, Status>,
    /// `Policies`: `namespace/policy` → rule → image → status.
    policies: BTreeMap<String, BTreeMap<String, BTreeMap<String, Status>>>,
}

/// `namespace/policy` → rule → image → status, as an annotation holds it.
type ByPolicy = BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>;

/// `imageVerificationPolicyKey`: a ClusterPolicy has no namespace.
fn policy_key(policy: &str) -> String {
    format!("/{policy}")
}

impl Metadata {
    /// `addImageVerificationMetadata` (`imageverifier.go:146-150`): `Add` and `AddScoped`.
    pub fn add(&mut self, policy: &str, rule: &str, image: &str, status: Status) {
        self.data.insert(image.to_owned(), status.clone());
        self.policies
            .entry(policy_key(policy))
            .or_default()
            .entry(rule.to_owned())
            .or_default()
            .insert(image.to_owned(), status);
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty() && self.policies.is_empty()
    }

    /// The JSON patches the mutating webhook puts first
    /// (`ImageVerificationMetadata.Patches`, `imageverifymetadata.go:99-135`;
    /// `handler.go:131-139`): an empty annotations map when the object has
    /// none, then both annotations, each replacing what the request held.
    /// Values are Go's `json.Marshal` of maps: compact, keys sorted.
    pub fn patches(&self, object: &Value) -> Vec<Value> {
        let has_annotations = object
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty());
        let mut out = Vec::new();
        if !has_annotations {
            out.push(json!({"op": "add", "path": "/metadata/annotations", "value": {}}));
        }
        let data: BTreeMap<&str, &str> = self
            .data
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        out.push(json!({
            "op": "add",
            "path": pointer(ANNOTATION),
            "value": compact(&json!(data)),
        }));
        if !self.policies.is_empty() {
            let policies: BTreeMap<&str, BTreeMap<&str, BTreeMap<&str, &str>>> = self
                .policies
                .iter()
                .map(|(p, rules)| {
                    (
                        p.as_str(),
                        rules
                            .iter()
                            .map(|(r, images)| {
                                (
                                    r.as_str(),
                                    images
                                        .iter()
                                        .map(|(i, s)| (i.as_str(), s.as_str()))
                                        .collect(),
                                )
                            })
                            .collect(),
                    )
                })
                .collect();
            out.push(json!({
                "op": "add",
                "path": pointer(ANNOTATION_SCOPED),
                "value": compact(&json!({"version": 1, "policies": policies})),
            }));
        }
        out
    }
}

fn pointer(annotation: &str) -> String {
    format!("/metadata/annotations/{}", annotation.replace('/', "~1"))
}

fn compact(v: &Value) -> String {
    // Serialising a `Value` cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}

/// What an object's scoped annotation says of (policy, rule, image)
/// (`IsImageVerifiedForPolicy`, `pkg/engine/utils/image.go:72-86`;
/// `ParseImageMetadata` and `ScopedImageVerificationStatus`,
/// `imageverifymetadata.go:74-97`): `Fail` when the annotation is missing, is
/// the unscoped form, or names no such entry; an error when it is not JSON.
pub fn scoped_status(
    object: &Value,
    policy: &str,
    rule: &str,
    image: &str,
) -> Result<Status, String> {
    let Some(raw) = object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(ANNOTATION_SCOPED))
        .and_then(Value::as_str)
    else {
        return Ok(Status::Fail);
    };
    // Go's `json.Unmarshal` into the scoped struct (every status a string),
    // then, failing that, into the unscoped `map[string]status`.
    #[derive(serde::Deserialize)]
    struct Scoped {
        #[serde(default)]
        version: i64,
        #[serde(default)]
        policies: Option<ByPolicy>,
    }
    if let Ok(Scoped {
        version: 1,
        policies: Some(policies),
    }) = serde_json::from_str::<Scoped>(raw)
    {
        return Ok(policies
            .get(&policy_key(policy))
            .and_then(|rules| rules.get(rule))
            .and_then(|images| images.get(image))
            .map_or(Status::Fail, |s| Status::parse(s)));
    }
    match serde_json::from_str::<BTreeMap<String, String>>(raw) {
        // The unscoped form has no policies: every lookup fails.
        Ok(_) => Ok(Status::Fail),
        Err(e) => Err(format!("failed to parse scoped image metadata: {e}")),
    }
}

/// `isPreviouslyVerified` (`imageverifier.go:140-144`): the old object's
/// scoped annotation passed or skipped this image for this policy and rule.
pub fn previously_verified(old_object: &Value, policy: &str, rule: &str, image: &str) -> bool {
    matches!(
        scoped_status(old_object, policy, rule, image),
        Ok(Status::Pass | Status::Skip)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_are_kyvernos_and_read_back() {
        let mut m = Metadata::default();
        m.add("p", "r", "ghcr.io/a/b@sha256:aa", Status::Pass);
        m.add("p", "r2", "ghcr.io/a/c:1", Status::Fail);
        let mut pod = json!({"metadata": {"name": "x"}});
        let patches = m.patches(&pod);
        assert_eq!(patches.len(), 3);
        assert_eq!(
            patches[1]["path"],
            "/metadata/annotations/kyverno.io~1verify-images"
        );
        assert_eq!(
            patches[2]["value"],
            r#"{"version":1,"policies":{"/p":{"r":{"ghcr.io/a/b@sha256:aa":"pass"},"r2":{"ghcr.io/a/c:1":"fail"}}}}"#
        );
        pod["metadata"]["annotations"] = json!({ANNOTATION_SCOPED: patches[2]["value"]});
        assert!(previously_verified(&pod, "p", "r", "ghcr.io/a/b@sha256:aa"));
        assert!(!previously_verified(&pod, "p", "r2", "ghcr.io/a/c:1"));
        assert!(!previously_verified(
            &pod,
            "q",
            "r",
            "ghcr.io/a/b@sha256:aa"
        ));
        assert_eq!(
            scoped_status(&pod, "p", "r9", "x"),
            Ok(Status::Fail),
            "no entry is unverified"
        );
        // an object with annotations gets no empty map first
        assert_eq!(m.patches(&pod).len(), 2);
    }

    #[test]
    fn an_unscoped_or_broken_annotation_verifies_nothing() {
        let unscoped =
            json!({"metadata": {"annotations": {ANNOTATION_SCOPED: r#"{"img":"pass"}"#}}});
        assert_eq!(scoped_status(&unscoped, "p", "r", "img"), Ok(Status::Fail));
        let broken = json!({"metadata": {"annotations": {ANNOTATION_SCOPED: "{"}}});
        assert!(scoped_status(&broken, "p", "r", "img").is_err());
        // a status that is no string fails Go's unmarshal of both forms
        let mistyped = json!({"metadata": {"annotations": {ANNOTATION_SCOPED:
            r#"{"version":1,"policies":{"/p":{"r":{"img":"pass","x":5}}}}"#}}});
        assert!(scoped_status(&mistyped, "p", "r", "img").is_err());
        assert!(!previously_verified(&mistyped, "p", "r", "img"));
        assert!(!previously_verified(&broken, "p", "r", "img"));
        assert!(!previously_verified(&json!({}), "p", "r", "img"));
    }
}
