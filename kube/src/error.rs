//! Typed errors of the cluster backend. Messages are lowercase and name the object.

use std::time::Duration;

/// What went wrong talking to a real API server with Kyverno.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The API server did not answer (timeouts, connection errors, 5xx) within the bounded retries.
    #[error("api server did not answer {operation} after {attempts} attempts: {last}")]
    ApiUnavailable {
        operation: String,
        attempts: u32,
        last: String,
    },
    /// The API server answered with an error that is not an admission denial.
    #[error("{operation} failed with http {code} ({reason}): {message}")]
    Api {
        operation: String,
        code: u16,
        reason: String,
        message: String,
    },
    /// The client failed before or after talking to the server (bad request, undecodable answer).
    #[error("{operation} failed: {message}")]
    Client { operation: String, message: String },
    /// A document cannot be applied as-is.
    #[error("document {index} ({what}) is invalid: {reason}")]
    InvalidDocument {
        index: usize,
        what: String,
        reason: String,
    },
    /// Kyverno (its policy validation webhook) or the API server refused a policy document.
    #[error("{kind} {name} was rejected: {message}")]
    PolicyRejected {
        kind: String,
        name: String,
        message: String,
    },
    /// A policy never reported Ready within the deadline.
    #[error("{kind} {name} was not ready after {waited:?}: {last_message}")]
    PolicyNotReady {
        kind: String,
        name: String,
        waited: Duration,
        last_message: String,
    },
    /// An object with the same identity exists but is not labelled as ours.
    #[error(
        "{what} exists without the label app.kubernetes.io/managed-by=trustswap (or belongs to another run); refusing to touch it"
    )]
    NotOurs { what: String },
    /// Kyverno (or a part of it) is missing from the cluster.
    #[error("kyverno is not installed: {missing} not found; {fix}")]
    KyvernoMissing { missing: String, fix: String },
    /// Kyverno is installed but its admission controller is not ready in time.
    #[error(
        "kyverno admission controller {namespace}/{deployment} not ready after {waited:?}: {detail}"
    )]
    KyvernoNotReady {
        namespace: String,
        deployment: String,
        waited: Duration,
        detail: String,
    },
    /// The admission webhooks did not answer a dry-run pod create within the deadline.
    #[error(
        "kyverno webhooks did not answer a dry-run create of pod {namespace}/{name} after {attempts} attempts: {last}"
    )]
    WebhookUnavailable {
        namespace: String,
        name: String,
        attempts: u32,
        last: String,
    },
    /// The pod to admit is not a usable Pod object.
    #[error("pod {what} is invalid: {reason}")]
    InvalidPod { what: String, reason: String },
    /// A really created pod did not reach Running in time.
    #[error("pod {namespace}/{name} not running after {waited:?}: {detail}")]
    PodNotRunning {
        namespace: String,
        name: String,
        waited: Duration,
        detail: String,
    },
    /// A really created pod terminated instead of running.
    #[error("pod {namespace}/{name} ended in phase {phase}: {detail}")]
    PodFailed {
        namespace: String,
        name: String,
        phase: String,
        detail: String,
    },
    /// Client configuration (kubeconfig) could not be loaded.
    #[error("could not load the kubernetes client configuration: {0}")]
    Config(String),
    /// The internal tokio runtime could not be started.
    #[error("could not start the tokio runtime: {0}")]
    Runtime(String),
}

/// Something left behind by [`crate::ClusterClient::cleanup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// `Kind` of the object (or of the list that failed).
    pub kind: String,
    /// Namespace, for namespaced objects.
    pub namespace: Option<String>,
    /// Object name (`*` when listing the kind failed).
    pub name: String,
    /// Why it could not be deleted.
    pub reason: String,
}

impl std::fmt::Display for Leftover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}: {}", self.kind, ns, self.name, self.reason),
            None => write!(f, "{} {}: {}", self.kind, self.name, self.reason),
        }
    }
}
