//! The embedded backend: the in-process Kyverno engine (`admission`) deciding
//! with real verification from a store.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Backend;
use crate::admission::decision::Decision;
use crate::admission::request::AdmissionRequest;
use crate::admission::verifier::EvidenceVerifier;
use crate::admission::{CompiledPolicySet, EngineOptions, VerificationCache};

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
}

impl Embedded {
    pub fn new(evidence: Arc<dyn EvidenceVerifier>) -> Self {
        Embedded {
            set: None,
            evidence,
            cache: Arc::new(VerificationCache::kyverno_default()),
            objects: BTreeMap::new(),
            serial: 0,
        }
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

    fn apply(&mut self, documents: &[Value]) -> Result<(), String> {
        let documents = self.stamp(documents);
        let set = CompiledPolicySet::compile_with(
            &documents,
            EngineOptions {
                verification_cache: Some(self.cache.clone()),
                ..EngineOptions::default()
            },
        )
        .map_err(|e| e.to_string())?;
        self.set = Some(set);
        Ok(())
    }

    fn admit(&mut self, request: &AdmissionRequest, now: i64) -> Result<Decision, String> {
        let set = self.set.as_ref().ok_or("no policies applied")?;
        let now: DateTime<Utc> = DateTime::from_timestamp(now, 0).ok_or("clock out of range")?;
        Ok(set.evaluate(request, now, &self.evidence))
    }
}
