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
    /// Compiles the typed model's selector.
    pub fn from_model(
        m: &trustswap_model::kyverno::LabelSelector,
        doc: &str,
        field: &str,
        wildcards: bool,
    ) -> Result<LabelSelector, PolicyError> {
        use trustswap_model::kyverno::SelectorOperator as O;
        let mut sel = LabelSelector {
            wildcards,
            match_labels: m.match_labels.clone(),
            ..Default::default()
        };
        for (i, e) in m.match_expressions.iter().enumerate() {
            let f = format!("{field}.matchExpressions[{i}]");
            let op = match e.operator {
                O::In => SelectorOp::In,
                O::NotIn => SelectorOp::NotIn,
                O::Exists => SelectorOp::Exists,
                O::DoesNotExist => SelectorOp::DoesNotExist,
            };
            match op {
                SelectorOp::In | SelectorOp::NotIn if e.values.is_empty() => {
                    return Err(PolicyError::new(
                        doc,
                        format!("{f}.values"),
                        "must be non-empty for In/NotIn",
                    ));
                }
                SelectorOp::Exists | SelectorOp::DoesNotExist if !e.values.is_empty() => {
                    return Err(PolicyError::new(
                        doc,
                        format!("{f}.values"),
                        "must be empty for Exists/DoesNotExist",
                    ));
                }
                _ => {}
            }
            sel.requirements.push(Requirement {
                key: e.key.clone(),
                op,
                values: e.values.clone(),
            });
        }
        Ok(sel)
    }

    /// Compiles a selector given as JSON (the CEL policies' match constraints).
    pub fn compile(
        v: &Value,
        doc: &str,
        field: &str,
        wildcards: bool,
    ) -> Result<LabelSelector, PolicyError> {
        let m = crate::util::Doc::strict(doc).decode(v).map_err(|mut e| {
            e.field = if e.field.is_empty() {
                field.to_string()
            } else {
                format!("{field}.{}", e.field)
            };
            e
        })?;
        Self::from_model(&m, doc, field, wildcards)
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
