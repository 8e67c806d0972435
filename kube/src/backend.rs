//! The synchronous boundary: a [`ClusterClient`] and the runtime it blocks on
//! (the process's shared one, or one a test built around its mock), so
//! trustswap's (synchronous) `Backend` trait can wrap it.

use serde_json::Value;
use tokio::runtime::Runtime;

use crate::cluster::{
    ApplyOutcome, ClusterClient, ClusterDecision, ContainerImage, PodImages, PreflightReport,
    Settings,
};
use crate::error::{ClusterError, Leftover};

/// A real API server with Kyverno, driven synchronously.
pub struct ClusterBackend {
    runtime: BackendRuntime,
    inner: ClusterClient,
}

/// The runtime a [`ClusterBackend`] blocks on.
pub enum BackendRuntime {
    /// The process's one runtime ([`crate::runtime::shared`]).
    Shared(&'static Runtime),
    /// A runtime the caller built (tests drive a mocked service on it).
    Owned(Runtime),
}

impl std::ops::Deref for BackendRuntime {
    type Target = Runtime;
    fn deref(&self) -> &Runtime {
        match self {
            BackendRuntime::Shared(r) => r,
            BackendRuntime::Owned(r) => r,
        }
    }
}

fn runtime() -> Result<BackendRuntime, ClusterError> {
    crate::runtime::shared()
        .map(BackendRuntime::Shared)
        .map_err(|e| ClusterError::Runtime(e.to_string()))
}

impl ClusterBackend {
    /// Connects with the default client configuration (`KUBECONFIG`, `~/.kube/config`
    /// or the in-cluster service account).
    pub fn connect(settings: Settings) -> Result<ClusterBackend, ClusterError> {
        let runtime = runtime()?;
        let client = runtime
            .block_on(kube::Client::try_default())
            .map_err(|e| ClusterError::Config(e.to_string()))?;
        Ok(ClusterBackend {
            inner: ClusterClient::new(client, settings),
            runtime,
        })
    }

    /// Connects with a kubeconfig document (e.g. from `kind get kubeconfig`).
    pub fn from_kubeconfig_yaml(
        kubeconfig: &str,
        context: Option<&str>,
        settings: Settings,
    ) -> Result<ClusterBackend, ClusterError> {
        let kc = kube::config::Kubeconfig::from_yaml(kubeconfig)
            .map_err(|e| ClusterError::Config(e.to_string()))?;
        Self::from_kubeconfig(kc, context, settings)
    }

    /// Connects to `context` of the user's kubeconfig as kubectl reads it:
    /// every `KUBECONFIG` entry merged by Kubernetes' rules (the first file
    /// to set a value wins), or `~/.kube/config`.
    pub fn with_context(context: &str, settings: Settings) -> Result<ClusterBackend, ClusterError> {
        let kc = kube::config::Kubeconfig::read()
            .map_err(|e| ClusterError::Config(format!("cannot read the kubeconfig: {e}")))?;
        Self::from_kubeconfig(kc, Some(context), settings)
    }

    /// Connects with a parsed (possibly merged) kubeconfig.
    pub fn from_kubeconfig(
        kc: kube::config::Kubeconfig,
        context: Option<&str>,
        settings: Settings,
    ) -> Result<ClusterBackend, ClusterError> {
        let runtime = runtime()?;
        let options = kube::config::KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let client = runtime.block_on(async {
            let config = kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| ClusterError::Config(e.to_string()))?;
            kube::Client::try_from(config).map_err(|e| ClusterError::Config(e.to_string()))
        })?;
        Ok(ClusterBackend {
            inner: ClusterClient::new(client, settings),
            runtime,
        })
    }

    /// Wraps a client built by the caller inside `runtime`'s context (tests use
    /// this with a mocked service).
    pub fn with_client(
        runtime: Runtime,
        client: kube::Client,
        settings: Settings,
    ) -> ClusterBackend {
        ClusterBackend {
            inner: ClusterClient::new(client, settings),
            runtime: BackendRuntime::Owned(runtime),
        }
    }

    /// The async client (for callers already inside `runtime()`).
    pub fn client(&self) -> &ClusterClient {
        &self.inner
    }

    /// The owned runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Takes the runtime and the async client apart (e.g. to drop the client
    /// before awaiting something else on the runtime).
    pub fn into_parts(self) -> (BackendRuntime, ClusterClient) {
        (self.runtime, self.inner)
    }

    /// See [`ClusterClient::apply`].
    pub fn apply(&mut self, documents: &[Value]) -> Result<ApplyOutcome, ClusterError> {
        self.runtime.block_on(self.inner.apply(documents))
    }

    /// See [`ClusterClient::admit`].
    pub fn admit(&self, namespace: &str, pod: &Value) -> Result<ClusterDecision, ClusterError> {
        self.runtime.block_on(self.inner.admit(namespace, pod))
    }

    /// See [`ClusterClient::submit`].
    pub fn submit(
        &self,
        namespace: &str,
        pod: &Value,
        how: &crate::Submission,
    ) -> Result<ClusterDecision, ClusterError> {
        self.runtime
            .block_on(self.inner.submit(namespace, pod, how))
    }

    /// See [`ClusterClient::run_pod`].
    pub fn run_pod(
        &self,
        namespace: &str,
        pod: &Value,
        kubelet: Option<&[ContainerImage]>,
    ) -> Result<Vec<ContainerImage>, ClusterError> {
        self.runtime
            .block_on(self.inner.run_pod(namespace, pod, kubelet))
    }

    /// See [`ClusterClient::list_pods`].
    pub fn list_pods(&self, namespace_selector: &str) -> Result<Vec<PodImages>, ClusterError> {
        self.runtime
            .block_on(self.inner.list_pods(namespace_selector))
    }

    /// See [`ClusterClient::get_pod`].
    pub fn get_pod(&self, namespace: &str, name: &str) -> Result<Value, ClusterError> {
        self.runtime.block_on(self.inner.get_pod(namespace, name))
    }

    /// See [`ClusterClient::pods_in`].
    pub fn pods_in(&self, namespace: &str) -> Result<Vec<PodImages>, ClusterError> {
        self.runtime.block_on(self.inner.pods_in(namespace))
    }

    /// See [`ClusterClient::delete_namespace`].
    pub fn delete_namespace(&self, name: &str) -> Result<(), ClusterError> {
        self.runtime.block_on(self.inner.delete_namespace(name))
    }

    /// See [`ClusterClient::policy_reports`].
    pub fn policy_reports(&self, namespace: &str) -> Result<Vec<Value>, ClusterError> {
        self.runtime.block_on(self.inner.policy_reports(namespace))
    }

    /// See [`ClusterClient::create_namespace`].
    pub fn create_namespace(&self, name: &str) -> Result<(), ClusterError> {
        self.runtime.block_on(self.inner.create_namespace(name))
    }

    /// See [`ClusterClient::cleanup`].
    pub fn cleanup(&mut self) -> Vec<Leftover> {
        self.runtime.block_on(self.inner.cleanup())
    }

    /// See [`ClusterClient::preflight`].
    pub fn preflight(&self) -> Result<PreflightReport, ClusterError> {
        self.runtime.block_on(self.inner.preflight())
    }
}
