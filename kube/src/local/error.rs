//! Typed errors of the local control plane. The oracle folder being unusable is
//! the user's to fix (build it); every other variant is the harness failing to
//! bring the control plane up, with the process, file or request it concerns.

use std::path::PathBuf;
use std::time::Duration;

/// What kept the local control plane from starting.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The oracle folder lacks something or holds another Kyverno: build it.
    #[error("the oracle folder {} {problem}", dir.display())]
    Oracle { dir: PathBuf, problem: String },
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The oracle's rendered chart or CRDs cannot be used as they are.
    #[error("{}: {reason}", path.display())]
    Manifest { path: PathBuf, reason: String },
    /// A process could not be started.
    #[error("{name}: cannot start {}: {source}", program.display())]
    Spawn {
        name: &'static str,
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A process is no longer running.
    #[error("{name} {status}")]
    Ended { name: &'static str, status: String },
    /// A process ended while trustswap waited for it to get ready.
    #[error("{} {status} while waiting for {}; last lines of {}:\n{}", wait.name, wait.what, wait.log.display(), wait.tail)]
    Died { wait: Box<Wait>, status: String },
    /// A process did not get ready within its deadline (it is stopped).
    #[error(
        "{} was not ready after {} s ({}{}); last lines of {}:\n{}",
        wait.name,
        waited.as_secs(),
        wait.what,
        last.as_deref().map(|l| format!(": {l}")).unwrap_or_default(),
        wait.log.display(),
        wait.tail
    )]
    NotReady {
        wait: Box<Wait>,
        waited: Duration,
        /// The last answer of the readiness probe, if it failed.
        last: Option<String>,
    },
    /// CRDs were not established in time.
    #[error("CRDs not established after {} s: {}", waited.as_secs(), pending.join(", "))]
    CrdsNotEstablished {
        waited: Duration,
        pending: Vec<String>,
    },
    /// A request to the local API server failed.
    #[error("{operation}: {message}")]
    Api { operation: String, message: String },
    /// The local registry (Debian's `docker-registry`) did not start.
    #[error("the registry: {0}")]
    Registry(#[from] trustswap_sigstore::supply::registry::LocalRegistryError),
    /// A piece of the run's set-up failed (certificates, a port, a server, the runtime).
    #[error("{what}: {message}")]
    Setup { what: &'static str, message: String },
}

/// A readiness wait that failed: the process, what was awaited, and its log.
#[derive(Debug)]
pub struct Wait {
    pub name: &'static str,
    pub what: String,
    pub log: PathBuf,
    /// Its last log lines.
    pub tail: String,
}

impl LocalError {
    /// Whether the user must act (build or point at another oracle), as opposed
    /// to the harness failing to start what it was given.
    pub fn is_usage(&self) -> bool {
        matches!(self, LocalError::Oracle { .. })
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LocalError {
        let path = path.into();
        move |source| LocalError::Io { path, source }
    }

    pub(crate) fn api(operation: impl Into<String>) -> impl FnOnce(kube::Error) -> LocalError {
        let operation = operation.into();
        move |e| LocalError::Api {
            operation,
            message: e.to_string(),
        }
    }
}
