//! Canonical form of a Kubernetes policy document, so that two documents which
//! Kyverno reads the same way compare equal: nulls and empty lists dropped, CRD
//! defaults filled in (`mutateDigest: true`, the public Rekor URL, ...), and
//! deprecated spellings moved to their successors (`validationFailureAction` to
//! each rule's `failureAction`, `predicateType` to `type`, spec-level
//! `failurePolicy`/`webhookTimeoutSeconds` to `webhookConfiguration`).
//! Defaults follow the Kyverno 1.19 CRDs; see ARCHITECTURE.md.

use serde_json::{Map, Value, json};

use trustswap_model::kyverno::defaults;

pub const DEFAULT_REKOR_URL: &str = defaults::REKOR_URL;
const DEFAULT_TIMEOUT_SECONDS: i64 = defaults::WEBHOOK_TIMEOUT_SECONDS;

pub fn canonicalise(doc: &Value) -> Value {
    let mut v = strip(doc);
    let api = v
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let kind = v
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
        match (api.split('/').next().unwrap_or(""), kind.as_str()) {
            ("kyverno.io", "ClusterPolicy" | "Policy") => cluster_policy(spec),
            (
                "policies.kyverno.io",
                "ImageValidatingPolicy" | "NamespacedImageValidatingPolicy",
            ) => {
                cel_policy(spec);
                image_validating_policy(spec);
            }
            ("policies.kyverno.io", "ValidatingPolicy" | "NamespacedValidatingPolicy") => {
                cel_policy(spec)
            }
            _ => {}
        }
    }
    v
}

/// Drop nulls and empty lists, recursively (Kyverno reads both as "unset").
fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null() && !matches!(v, Value::Array(a) if a.is_empty()))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
        other => other.clone(),
    }
}

fn default(m: &mut Map<String, Value>, key: &str, value: Value) {
    m.entry(key.to_owned()).or_insert(value);
}

fn obj<'a>(m: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = m.entry(key.to_owned()).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry.as_object_mut().expect("just made an object")
}

/// `audit`/`enforce` were accepted in lower case before 1.11.
fn action(v: &Value) -> Value {
    match v.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("audit") => json!("Audit"),
        Some("enforce") => json!("Enforce"),
        _ => v.clone(),
    }
}

fn cluster_policy(spec: &mut Map<String, Value>) {
    default(spec, "background", json!(true));
    default(spec, "admission", json!(true));
    let failure_policy = spec.remove("failurePolicy");
    let timeout = spec.remove("webhookTimeoutSeconds");
    let hook = obj(spec, "webhookConfiguration");
    default(
        hook,
        "failurePolicy",
        failure_policy.unwrap_or(json!("Fail")),
    );
    default(
        hook,
        "timeoutSeconds",
        timeout.unwrap_or(json!(DEFAULT_TIMEOUT_SECONDS)),
    );
    let spec_action = spec
        .remove("validationFailureAction")
        .map(|a| action(&a))
        .unwrap_or(json!("Audit"));
    let Some(rules) = spec.get_mut("rules").and_then(Value::as_array_mut) else {
        return;
    };
    for rule in rules.iter_mut().filter_map(Value::as_object_mut) {
        if let Some(validate) = rule.get_mut("validate").and_then(Value::as_object_mut) {
            let a = validate
                .get("failureAction")
                .map(action)
                .unwrap_or(spec_action.clone());
            validate.insert("failureAction".into(), a);
        }
        let Some(verify) = rule.get_mut("verifyImages").and_then(Value::as_array_mut) else {
            continue;
        };
        for iv in verify.iter_mut().filter_map(Value::as_object_mut) {
            let a = iv
                .get("failureAction")
                .map(action)
                .unwrap_or(spec_action.clone());
            iv.insert("failureAction".into(), a);
            for (k, d) in defaults::VERIFY_IMAGES_FLAGS {
                default(iv, k, json!(d));
            }
            default(iv, "type", json!(defaults::VERIFY_IMAGES_TYPE));
            if let Some(sets) = iv.get_mut("attestors").and_then(Value::as_array_mut) {
                attestor_sets(sets);
            }
            let Some(atts) = iv.get_mut("attestations").and_then(Value::as_array_mut) else {
                continue;
            };
            for att in atts.iter_mut().filter_map(Value::as_object_mut) {
                if let Some(pt) = att.remove("predicateType") {
                    att.entry("type").or_insert(pt);
                }
                if let Some(sets) = att.get_mut("attestors").and_then(Value::as_array_mut) {
                    attestor_sets(sets);
                }
            }
        }
    }
}

/// Fill each attestor entry's transparency-log defaults: with `rekor` unset
/// Kyverno uses the public Rekor and requires an entry; SCTs are required too.
fn attestor_sets(sets: &mut [Value]) {
    for set in sets.iter_mut().filter_map(Value::as_object_mut) {
        let Some(entries) = set.get_mut("entries").and_then(Value::as_array_mut) else {
            continue;
        };
        for entry in entries.iter_mut().filter_map(Value::as_object_mut) {
            for kind in ["keys", "keyless", "certificates"] {
                let Some(a) = entry.get_mut(kind).and_then(Value::as_object_mut) else {
                    continue;
                };
                let rekor = obj(a, "rekor");
                default(rekor, "url", json!(DEFAULT_REKOR_URL));
                default(rekor, "ignoreTlog", json!(false));
                default(obj(a, "ctlog"), "ignoreSCT", json!(false));
            }
            if let Some(nested) = entry.get_mut("attestor").and_then(Value::as_object_mut)
                && let Some(inner) = nested.get_mut("entries").and_then(Value::as_array_mut)
            {
                let mut wrapped = vec![json!({ "entries": std::mem::take(inner) })];
                attestor_sets(&mut wrapped);
                if let Some(Value::Array(filled)) = wrapped[0].get_mut("entries").map(Value::take) {
                    *inner = filled;
                }
            }
        }
    }
}

/// Defaults shared by the CEL policy kinds.
fn cel_policy(spec: &mut Map<String, Value>) {
    default(spec, "validationActions", json!(["Deny"]));
    default(spec, "failurePolicy", json!("Fail"));
    default(
        obj(spec, "webhookConfiguration"),
        "timeoutSeconds",
        json!(DEFAULT_TIMEOUT_SECONDS),
    );
}

fn image_validating_policy(spec: &mut Map<String, Value>) {
    let vc = obj(spec, "validationConfigurations");
    // IVP's validationConfigurations has no useCache.
    for (k, d) in &defaults::VERIFY_IMAGES_FLAGS[..3] {
        default(vc, k, json!(d));
    }
    let Some(attestors) = spec.get_mut("attestors").and_then(Value::as_array_mut) else {
        return;
    };
    for a in attestors.iter_mut().filter_map(Value::as_object_mut) {
        let Some(cosign) = a.get_mut("cosign").and_then(Value::as_object_mut) else {
            continue;
        };
        let ctlog = obj(cosign, "ctlog");
        default(ctlog, "insecureIgnoreTlog", json!(false));
        default(ctlog, "insecureIgnoreSCT", json!(false));
    }
}
