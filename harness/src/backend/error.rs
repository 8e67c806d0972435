//! What a [`super::Backend`] reports when it cannot do what was asked, typed
//! so that the runner tells a policy the engine cannot model from a cluster
//! that stopped answering, and so that every cause prints (`Caused by:`).
//! (Ctrl-C is not an error of the backend: the runner's `CancelToken`.)

use crate::admission::{PolicyError, PolicyErrorKind};

use super::kube::ClusterError;

/// A boxed cause.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The embedded engine refused the policy set: invalid, or a Kyverno
    /// field it does not model ([`PolicyError::kind`]).
    #[error("the embedded engine refused the policies")]
    Policy(#[source] PolicyError),
    /// A real API server (or Kyverno on it) failed or refused.
    #[error("the cluster failed")]
    Cluster(#[source] ClusterError),
    /// Anything else the backend could not do, with what it was doing.
    #[error("{context}")]
    Failed {
        context: String,
        #[source]
        source: Option<Cause>,
    },
}

impl BackendError {
    /// A failure described by `context` alone.
    pub fn failed(context: impl Into<String>) -> Self {
        BackendError::Failed {
            context: context.into(),
            source: None,
        }
    }

    /// A failure with its cause.
    pub fn caused(context: impl Into<String>, source: impl Into<Cause>) -> Self {
        BackendError::Failed {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// Whether the engine refused a field it does not model (the harness
    /// cannot decide; the policy itself may be fine).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, BackendError::Policy(p) if p.kind == PolicyErrorKind::Unsupported)
    }

    /// The error and its causes on one line, `a: b: c`, for reports.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    }
}

impl From<PolicyError> for BackendError {
    fn from(e: PolicyError) -> Self {
        BackendError::Policy(e)
    }
}

impl From<ClusterError> for BackendError {
    fn from(e: ClusterError) -> Self {
        BackendError::Cluster(e)
    }
}

/// The control plane's helpers (process start-up, readiness waits) still
/// describe failures as text; this keeps them as the context of a `Failed`.
impl From<String> for BackendError {
    fn from(context: String) -> Self {
        BackendError::failed(context)
    }
}

impl From<&str> for BackendError {
    fn from(context: &str) -> Self {
        BackendError::failed(context)
    }
}
