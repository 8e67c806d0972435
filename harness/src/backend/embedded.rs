//! The embedded backend: the in-process Kyverno engine (`admission`) deciding
//! with real verification from a store.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Backend, BackendError};
use crate::admission::decision::Decision;
use crate::admission::request::AdmissionRequest;
use crate::admission::verifier::EvidenceVerifier;
use crate::admission::{CompiledPolicySet, EngineOptions, ExceptionSettings, VerificationCache};

pub struct Embedded {
    set: Option<CompiledPolicySet>,
    evidence: Arc<dyn EvidenceVerifier>,
    /// Kyverno's ClusterPolicy verification cache, kept across policy
    /// re-applies as the admission controller keeps it.
    cache: Arc<VerificationCache>,
    /// name -> (content, uid, resourceVersion) of the policies applied last:
    /// what the API server would give them.
    objects: BTreeMap<String, (Value, u64, u64)>,
    serial: u64,
    /// Kyverno's PolicyException flags (off by default, as in Kyverno).
    exceptions: ExceptionSettings,
}

impl Embedded {
    pub fn new(evidence: Arc<dyn EvidenceVerifier>) -> Self {
        Embedded {
            set: None,
            evidence,
            cache: Arc::new(VerificationCache::kyverno_default()),
            objects: BTreeMap::new(),
            serial: 0,
            exceptions: ExceptionSettings::default(),
        }
    }

    /// The same engine under other PolicyException flags.
    pub fn with_exceptions(mut self, exceptions: ExceptionSettings) -> Self {
        self.exceptions = exceptions;
        self
    }
}

impl Embedded {
    /// Gives each document the `metadata.uid` and `metadata.resourceVersion`
    /// the API server would: a policy re-applied unchanged keeps both, a
    /// changed one gets a new resourceVersion, and one absent from the
    /// previous set (deleted since) a new uid. Kyverno's verification cache
    /// is keyed by them ([`VerificationCache`]).
    fn stamp(&mut self, documents: &[Value]) -> Vec<Value> {
        let mut objects = BTreeMap::new();
        let mut out = Vec::with_capacity(documents.len());
        for doc in documents {
            let key = format!(
                "{}/{}/{}",
                doc.get("kind").and_then(Value::as_str).unwrap_or_default(),
                doc.pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
                doc.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            );
            let (uid, rv) = match self.objects.get(&key) {
                Some((content, uid, rv)) if content == doc => (*uid, *rv),
                Some((_, uid, _)) => {
                    self.serial += 1;
                    (*uid, self.serial)
                }
                None => {
                    self.serial += 1;
                    (self.serial, self.serial)
                }
            };
            objects.insert(key, (doc.clone(), uid, rv));
            let mut stamped = doc.clone();
            if let Some(meta) = stamped.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("uid".into(), Value::String(format!("embedded-{uid}")));
                meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
            }
            out.push(stamped);
        }
        self.objects = objects;
        out
    }
}

impl Backend for Embedded {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn apply(&mut self, documents: &[Value]) -> Result<(), BackendError> {
        let documents = self.stamp(documents);
        let set = CompiledPolicySet::compile_with(
            &documents,
            EngineOptions {
                verification_cache: Some(self.cache.clone()),
                exceptions: self.exceptions.clone(),
                ..EngineOptions::default()
            },
        )?;
        self.set = Some(set);
        Ok(())
    }

    fn admit(&mut self, request: &AdmissionRequest, now: i64) -> Result<Decision, BackendError> {
        let set = self.set.as_ref().ok_or("no policies applied")?;
        let now: DateTime<Utc> = DateTime::from_timestamp(now, 0).ok_or("clock out of range")?;
        Ok(set.evaluate(request, now, &self.evidence))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::PolicyErrorKind;
    use crate::admission::testing::FakeVerifier;
    use serde_json::json;

    fn policy(rule_extra: Value) -> Value {
        let mut rule = json!({
            "name": "r",
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "validate": {"pattern": {"spec": {"containers": [{"image": "cgr.dev/*"}]}}},
        });
        for (k, v) in rule_extra.as_object().into_iter().flatten() {
            rule[k] = v.clone();
        }
        json!({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy",
               "metadata": {"name": "p"}, "spec": {"rules": [rule]}})
    }

    #[test]
    fn a_refused_policy_keeps_its_kind_and_cause() {
        let mut backend = Embedded::new(Arc::new(FakeVerifier::new()));
        let e = backend
            .apply(&[policy(
                json!({"context": [{"name": "x", "variable": {"value": 1}}]}),
            )])
            .unwrap_err();
        assert!(e.is_unsupported(), "{e:?}");
        assert_eq!(
            e.chain(),
            "the embedded engine refused the policies: ClusterPolicy/p: field spec.rules[0].context: \
             a Kyverno 1.19 field the embedded engine does not model; it refuses the policy rather \
             than decide without it"
        );
        let e = backend
            .apply(&[policy(json!({"mutateRules": true}))])
            .unwrap_err();
        assert!(!e.is_unsupported());
        match &e {
            BackendError::Policy(p) => assert_eq!(p.kind, PolicyErrorKind::Invalid),
            other => panic!("{other:?}"),
        }
        assert!(
            e.chain().contains("unknown field `mutateRules`"),
            "{}",
            e.chain()
        );
    }

    #[test]
    fn admitting_before_any_policy_is_an_error_not_a_decision() {
        let mut backend = Embedded::new(Arc::new(FakeVerifier::new()));
        let req = AdmissionRequest::pod(
            crate::admission::Operation::Create,
            "default",
            BTreeMap::new(),
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}),
        );
        let e = backend.admit(&req, 0).unwrap_err();
        assert_eq!(e.chain(), "no policies applied");
    }
}
