//! Where admission happens: the embedded engine today (Kyverno semantics in
//! process, real signatures from the lab); kind and existing clusters later,
//! behind the same trait so scenarios and reports are shared.

pub mod embedded;
pub mod evidence;
pub mod kube;

use serde_json::Value;

use crate::admission::decision::Decision;
use crate::admission::request::AdmissionRequest;

/// An admission backend: policies in, decisions out.
pub trait Backend {
    /// A short name for reports (`embedded`, `kind`, `cluster`).
    fn name(&self) -> &'static str;
    /// Replace the active policy set (and exceptions) with `documents`.
    fn apply(&mut self, documents: &[Value]) -> Result<(), String>;
    /// Decide an admission request at time `now` (unix seconds).
    fn admit(&mut self, request: &AdmissionRequest, now: i64) -> Result<Decision, String>;
}
