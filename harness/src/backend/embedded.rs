//! The embedded backend: the in-process Kyverno engine (`admission`) deciding
//! with real verification from a store.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Backend;
use crate::admission::decision::Decision;
use crate::admission::request::AdmissionRequest;
use crate::admission::verifier::EvidenceVerifier;
use crate::admission::{CompiledPolicySet, EngineOptions};

pub struct Embedded {
    set: Option<CompiledPolicySet>,
    evidence: Arc<dyn EvidenceVerifier>,
}

impl Embedded {
    pub fn new(evidence: Arc<dyn EvidenceVerifier>) -> Self {
        Embedded {
            set: None,
            evidence,
        }
    }
}

impl Backend for Embedded {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn apply(&mut self, documents: &[Value]) -> Result<(), String> {
        let set = CompiledPolicySet::compile_with(documents, EngineOptions::default())
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
