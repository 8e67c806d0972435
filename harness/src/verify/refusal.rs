//! Fail-closed error type: every failure of verification is a `Refusal` with a reason.

use std::fmt;

/// A verification refusal. Anything that is not a positive, fully checked result is a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Short machine-friendly stage name ("payload", "tlog", "chain", "sct", "policy", ...).
    pub stage: &'static str,
    /// Human-readable reason.
    pub reason: String,
}

impl Refusal {
    pub fn new(stage: &'static str, reason: impl Into<String>) -> Self {
        Self {
            stage,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused at {}: {}", self.stage, self.reason)
    }
}

impl std::error::Error for Refusal {}

/// `result.refuse("stage")?` turns any displayable error into a `Refusal`.
pub trait RefuseExt<T> {
    fn refuse(self, stage: &'static str) -> Result<T, Refusal>;
    fn refuse_ctx(self, stage: &'static str, ctx: &str) -> Result<T, Refusal>;
}

impl<T, E: fmt::Display> RefuseExt<T> for Result<T, E> {
    fn refuse(self, stage: &'static str) -> Result<T, Refusal> {
        self.map_err(|e| Refusal::new(stage, e.to_string()))
    }
    fn refuse_ctx(self, stage: &'static str, ctx: &str) -> Result<T, Refusal> {
        self.map_err(|e| Refusal::new(stage, format!("{ctx}: {e}")))
    }
}

impl<T> RefuseExt<T> for Option<T> {
    fn refuse(self, stage: &'static str) -> Result<T, Refusal> {
        self.ok_or_else(|| Refusal::new(stage, "missing"))
    }
    fn refuse_ctx(self, stage: &'static str, ctx: &str) -> Result<T, Refusal> {
        self.ok_or_else(|| Refusal::new(stage, ctx.to_string()))
    }
}
