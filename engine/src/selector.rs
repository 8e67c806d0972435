//! Kubernetes `LabelSelector` (matchLabels / matchExpressions).

use crate::error::PolicyError;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub enum SelectorOp {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    pub key: String,
    pub op: SelectorOp,
    pub values: Vec<String>,
}

/// A compiled label selector. `wildcards` enables Kyverno's wildcard support in
/// `matchLabels` keys and values (ClusterPolicy `selector`/`namespaceSelector`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    pub requirements: Vec<Requirement>,
    pub wildcards: bool,
}

impl LabelSelector {
    pub fn compile(
        v: &Value,
        doc: &str,
        field: &str,
        wildcards: bool,
    ) -> Result<LabelSelector, PolicyError> {
        let obj = v
            .as_object()
            .ok_or_else(|| PolicyError::new(doc, field, "must be an object"))?;
        let mut sel = LabelSelector {
            wildcards,
            ..Default::default()
        };
        if let Some(ml) = obj.get("matchLabels").filter(|v| !v.is_null()) {
            let m = ml.as_object().ok_or_else(|| {
                PolicyError::new(doc, format!("{field}.matchLabels"), "must be a map")
            })?;
            for (k, v) in m {
                let v = v.as_str().ok_or_else(|| {
                    PolicyError::new(doc, format!("{field}.matchLabels.{k}"), "must be a string")
                })?;
                sel.match_labels.insert(k.clone(), v.to_string());
            }
        }
        if let Some(me) = obj.get("matchExpressions").filter(|v| !v.is_null()) {
            let list = me.as_array().ok_or_else(|| {
                PolicyError::new(doc, format!("{field}.matchExpressions"), "must be a list")
            })?;
            for (i, e) in list.iter().enumerate() {
                let f = format!("{field}.matchExpressions[{i}]");
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or_else(|| PolicyError::new(doc, format!("{f}.key"), "required string"))?;
                let op = match e.get("operator").and_then(Value::as_str) {
                    Some("In") => SelectorOp::In,
                    Some("NotIn") => SelectorOp::NotIn,
                    Some("Exists") => SelectorOp::Exists,
                    Some("DoesNotExist") => SelectorOp::DoesNotExist,
                    other => {
                        return Err(PolicyError::new(
                            doc,
                            format!("{f}.operator"),
                            format!("unknown operator {other:?}"),
                        ));
                    }
                };
                let values: Vec<String> = match e.get("values") {
                    None | Some(Value::Null) => vec![],
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|x| {
                            x.as_str().map(str::to_string).ok_or_else(|| {
                                PolicyError::new(doc, format!("{f}.values"), "must be strings")
                            })
                        })
                        .collect::<Result<_, _>>()?,
                    Some(_) => {
                        return Err(PolicyError::new(
                            doc,
                            format!("{f}.values"),
                            "must be a list",
                        ));
                    }
                };
                match op {
                    SelectorOp::In | SelectorOp::NotIn if values.is_empty() => {
                        return Err(PolicyError::new(
                            doc,
                            format!("{f}.values"),
                            "must be non-empty for In/NotIn",
                        ));
                    }
                    SelectorOp::Exists | SelectorOp::DoesNotExist if !values.is_empty() => {
                        return Err(PolicyError::new(
                            doc,
                            format!("{f}.values"),
                            "must be empty for Exists/DoesNotExist",
                        ));
                    }
                    _ => {}
                }
                sel.requirements.push(Requirement {
                    key: key.to_string(),
                    op,
                    values,
                });
            }
        }
        Ok(sel)
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        for (k, v) in &self.match_labels {
            let ok = if self.wildcards
                && (trustswap_model::wildcard::contains_wildcard(k)
                    || trustswap_model::wildcard::contains_wildcard(v))
            {
                labels.iter().any(|(lk, lv)| {
                    trustswap_model::wildcard::wildcard_match(k, lk)
                        && trustswap_model::wildcard::wildcard_match(v, lv)
                })
            } else {
                labels.get(k) == Some(v)
            };
            if !ok {
                return false;
            }
        }
        self.requirements.iter().all(|r| {
            let val = labels.get(&r.key);
            match r.op {
                SelectorOp::In => val.is_some_and(|v| r.values.contains(v)),
                SelectorOp::NotIn => val.is_none_or(|v| !r.values.contains(v)),
                SelectorOp::Exists => val.is_some(),
                SelectorOp::DoesNotExist => val.is_none(),
            }
        })
    }
}

/// Reads `metadata.labels` of an object as a string map (non-string values are ignored).
pub fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj.get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}
