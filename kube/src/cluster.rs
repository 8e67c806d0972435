//! The async client: every operation against a real API server with Kyverno.
//! [`crate::ClusterBackend`] wraps it behind a synchronous boundary.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::client::Body;
use kube::core::{GroupVersionKind, Status};
use kube::discovery::Scope;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::error::{ClusterError, Leftover};
use crate::message::{PolicyViolation, parse_denial, parse_warning};
use crate::resources::{self, KindInfo, Readiness};

/// Label every trustswap object carries.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "trustswap";
/// Label carrying the run id.
pub const RUN_LABEL: &str = "trustswap.dev/run";
/// Server-side apply field manager.
pub const FIELD_MANAGER: &str = "trustswap";
/// Kyverno's admission controller Deployment (Helm chart and install.yaml).
pub const KYVERNO_ADMISSION_DEPLOYMENT: &str = "kyverno-admission-controller";
/// CRDs whose presence means Kyverno (with the CEL policy types) is installed.
pub const KYVERNO_CRDS: [&str; 2] = [
    "clusterpolicies.kyverno.io",
    "imagevalidatingpolicies.policies.kyverno.io",
];

/// Timeouts, retries and names. Every wait is bounded by one of these.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Run id: the value of `trustswap.dev/run` on everything created.
    pub run_id: String,
    /// One HTTP request's deadline.
    pub request_timeout: Duration,
    /// Attempts for one request (timeouts, transport errors, 5xx, 429).
    pub request_attempts: u32,
    /// Pause between attempts (multiplied by the attempt number).
    pub retry_backoff: Duration,
    /// Deadline for all applied policies to report Ready.
    pub ready_timeout: Duration,
    /// Poll interval for every wait.
    pub poll_interval: Duration,
    /// Deadline for a really created pod to reach Running.
    pub pod_timeout: Duration,
    /// Deadline for Kyverno's admission controller and webhooks in `preflight`.
    pub kyverno_timeout: Duration,
    /// Namespace Kyverno is installed in.
    pub kyverno_namespace: String,
    /// Namespace of the dry-run webhook probe pod in `preflight`.
    pub probe_namespace: String,
    /// Image of the probe pod (never pulled: dry run).
    pub probe_image: String,
    /// Whether Kyverno runs as the Helm chart's Deployment (`preflight` waits
    /// for its ready replicas); false for the local backend's processes.
    pub kyverno_deployment: bool,
    /// Pause after an `apply` that created, changed or deleted a policy, once
    /// every policy reads Ready. Kyverno's Ready carries no observedGeneration
    /// (CEL policies: pkg/controllers/policystatus/controller.go sets only
    /// WebhookConfigured and RBACPermissionsGranted; ClusterPolicy:
    /// pkg/controllers/webhook/controller.go:650-659), and its engines load a
    /// changed spec through their own informers: a swapped policy reads Ready
    /// at once while the next decision may still be the old spec's (seen on
    /// real Kyverno 1.19.1: tests/cluster/local_real.rs).
    pub settle: Duration,
}

impl Settings {
    /// Defaults for a real cluster, for `run_id`.
    pub fn new(run_id: impl Into<String>) -> Settings {
        Settings {
            run_id: run_id.into(),
            request_timeout: Duration::from_secs(15),
            request_attempts: 4,
            retry_backoff: Duration::from_millis(500),
            ready_timeout: Duration::from_secs(90),
            poll_interval: Duration::from_secs(1),
            pod_timeout: Duration::from_secs(180),
            kyverno_timeout: Duration::from_secs(240),
            kyverno_namespace: "kyverno".to_string(),
            probe_namespace: "default".to_string(),
            probe_image: "registry.k8s.io/pause:3.10".to_string(),
            kyverno_deployment: true,
            settle: Duration::from_secs(1),
        }
    }
}

/// How a pod goes to the API server ([`ClusterClient::submit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submission {
    /// A server-side dry-run CREATE: admission decides, nothing is stored.
    DryRunCreate,
    /// A CREATE that stores the pod (no kubelet needed: it is never waited for).
    Create,
    /// A server-side dry-run UPDATE (PUT) of a stored pod, or of its
    /// subresource (`ephemeralcontainers`): the object carries the stored
    /// `resourceVersion`.
    DryRunUpdate { subresource: Option<String> },
}

impl Submission {
    fn describe(&self) -> String {
        match self {
            Submission::DryRunCreate => "dry-run create".into(),
            Submission::Create => "create".into(),
            Submission::DryRunUpdate { subresource: None } => "dry-run update".into(),
            Submission::DryRunUpdate {
                subresource: Some(s),
            } => format!("dry-run update of {s}"),
        }
    }
}

/// The outcome of a Pod submission (a dry-run create unless said otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDecision {
    /// True on 2xx.
    pub allowed: bool,
    /// The `Status.message` of a denial.
    pub message: Option<String>,
    /// `Warning` header texts, in order.
    pub warnings: Vec<String>,
    /// Policy results parsed from the denial message.
    pub policies: Vec<PolicyViolation>,
    /// HTTP status code of the answer.
    pub code: u16,
    /// The object the API server answered with when it admitted the pod (for
    /// a [`Submission::Create`], the stored pod: mutated, with its
    /// `resourceVersion`).
    pub object: Option<Value>,
}

/// The names of a pod spec's init containers (`init`) or other containers.
fn pod_spec_names(
    spec: &Option<k8s_openapi::api::core::v1::PodSpec>,
    init: bool,
) -> std::collections::BTreeSet<String> {
    spec.as_ref()
        .map(|s| {
            if init {
                s.init_containers
                    .iter()
                    .flatten()
                    .map(|c| c.name.clone())
                    .collect()
            } else {
                s.containers.iter().map(|c| c.name.clone()).collect()
            }
        })
        .unwrap_or_default()
}

/// A container of a pod with the image it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerImage {
    pub container: String,
    pub image: String,
    /// `status.containerStatuses[].imageID` (the resolved digest); empty until pulled.
    pub image_id: String,
}

/// A pod and its container images (drift audit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodImages {
    pub namespace: String,
    pub name: String,
    pub phase: String,
    pub containers: Vec<ContainerImage>,
}

/// What `preflight` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightReport {
    /// `gitVersion` of the API server.
    pub server_version: String,
    /// Image of Kyverno's admission controller container.
    pub kyverno_image: Option<String>,
    /// Dry-run probe attempts until the webhooks answered.
    pub webhook_attempts: u32,
}

/// What one `apply` did on the API server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// `Kind [namespace/]name` and the server's `metadata.generation` after
    /// the apply (it moves only when the spec changed).
    pub applied: Vec<(String, Option<i64>)>,
    /// Objects of the previous set deleted because the new one lacks them.
    pub deleted: Vec<String>,
}

/// An object this client applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedObject {
    pub kind: KindInfo,
    pub namespace: Option<String>,
    pub name: String,
}

impl AppliedObject {
    fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {}/{}", self.kind.kind, ns, self.name),
            None => format!("{} {}", self.kind.kind, self.name),
        }
    }
}

enum CallError {
    /// A non-retryable answer from the API server.
    Status(Box<Status>),
    Unavailable {
        attempts: u32,
        last: String,
    },
    Other(String),
}

impl CallError {
    fn into_cluster(self, operation: &str) -> ClusterError {
        match self {
            CallError::Status(s) => status_error(operation, &s),
            CallError::Unavailable { attempts, last } => ClusterError::ApiUnavailable {
                operation: operation.to_string(),
                attempts,
                last,
            },
            CallError::Other(message) => ClusterError::Client {
                operation: operation.to_string(),
                message,
            },
        }
    }

    fn is_not_found(&self) -> bool {
        matches!(self, CallError::Status(s) if s.code == 404)
    }
}

fn status_error(operation: &str, s: &Status) -> ClusterError {
    ClusterError::Api {
        operation: operation.to_string(),
        code: s.code,
        reason: if s.reason.is_empty() {
            "Unknown".to_string()
        } else {
            s.reason.clone()
        },
        message: s.message.clone(),
    }
}

fn retryable_code(code: u16) -> bool {
    code == 429 || code >= 500
}

/// A raw answer to a request sent with `Client::send`.
struct RawAnswer {
    code: u16,
    warnings: Vec<String>,
    body: Vec<u8>,
}

/// Async operations against one cluster.
pub struct ClusterClient {
    client: Client,
    settings: Settings,
    applied: Vec<AppliedObject>,
    /// Server resourceVersion of each applied object, after its last apply.
    versions: std::collections::HashMap<String, Option<String>>,
}

impl ClusterClient {
    /// A client for `client` (any `kube::Client`, including a mocked one).
    pub fn new(client: Client, settings: Settings) -> ClusterClient {
        ClusterClient {
            client,
            settings,
            applied: Vec::new(),
            versions: std::collections::HashMap::new(),
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Objects applied and not deleted since.
    pub fn applied(&self) -> &[AppliedObject] {
        &self.applied
    }

    /// `managed-by=trustswap,run=<id>`.
    pub fn run_selector(&self) -> String {
        format!(
            "{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{RUN_LABEL}={}",
            self.settings.run_id
        )
    }

    // ------------------------------------------------------------------
    // request plumbing
    // ------------------------------------------------------------------

    /// Runs `f` with a per-attempt timeout, retrying timeouts, transport errors,
    /// 5xx and 429 up to `request_attempts` times.
    async fn call<T, F, Fut>(&self, mut f: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let attempts = self.settings.request_attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            match tokio::time::timeout(self.settings.request_timeout, f()).await {
                Err(_) => last = format!("no answer within {:?}", self.settings.request_timeout),
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(kube::Error::Api(s))) if retryable_code(s.code) => {
                    last = format!("http {} {}: {}", s.code, s.reason, s.message)
                }
                Ok(Err(kube::Error::Api(s))) => return Err(CallError::Status(s)),
                Ok(Err(
                    e @ (kube::Error::Service(_)
                    | kube::Error::HyperError(_)
                    | kube::Error::ReadEvents(_)),
                )) => last = e.to_string(),
                Ok(Err(e)) => return Err(CallError::Other(e.to_string())),
            }
            if attempt < attempts {
                tokio::time::sleep(self.settings.retry_backoff * attempt).await;
            }
        }
        Err(CallError::Unavailable { attempts, last })
    }

    /// One attempt of a raw request (answers of any status code are returned).
    async fn send_once(&self, request: http::Request<Vec<u8>>) -> Result<RawAnswer, String> {
        let fut = async {
            let res = self
                .client
                .send(request.map(Body::from))
                .await
                .map_err(|e| e.to_string())?;
            let code = res.status().as_u16();
            let warnings = res
                .headers()
                .get_all(http::header::WARNING)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(parse_warning)
                .collect();
            let body = res
                .into_body()
                .collect_bytes()
                .await
                .map_err(|e| e.to_string())?
                .to_vec();
            Ok(RawAnswer {
                code,
                warnings,
                body,
            })
        };
        match tokio::time::timeout(self.settings.request_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "no answer within {:?}",
                self.settings.request_timeout
            )),
        }
    }

    fn dynamic_api(&self, kind: &KindInfo, namespace: Option<&str>) -> Api<DynamicObject> {
        let ar = kind.api_resource();
        match namespace {
            Some(ns) if kind.namespaced => Api::namespaced_with(self.client.clone(), ns, &ar),
            _ => Api::all_with(self.client.clone(), &ar),
        }
    }

    // ------------------------------------------------------------------
    // apply
    // ------------------------------------------------------------------

    async fn resolve_kind(
        &self,
        index: usize,
        api_version: &str,
        kind: &str,
    ) -> Result<KindInfo, ClusterError> {
        if let Some(k) = resources::lookup(api_version, kind) {
            return Ok(k);
        }
        let (group, version) = resources::split_api_version(api_version);
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) = self
            .call(|| kube::discovery::pinned_kind(&self.client, &gvk))
            .await
            .map_err(|e| match e {
                CallError::Status(s) if s.code == 404 => ClusterError::InvalidDocument {
                    index,
                    what: format!("{api_version} {kind}"),
                    reason: "the api server does not serve this kind (is its crd installed?)"
                        .to_string(),
                },
                e => e.into_cluster(&format!("discovery of {api_version} {kind}")),
            })?;
        Ok(KindInfo {
            group: ar.group,
            version: ar.version,
            kind: ar.kind,
            plural: ar.plural,
            namespaced: caps.scope == Scope::Namespaced,
        })
    }

    /// Replaces the active trustswap policy set with `documents`: server-side
    /// applies each (labelled), deletes what an earlier `apply` created and is
    /// not in the new set, then waits until every policy reports Ready.
    pub async fn apply(&mut self, documents: &[Value]) -> Result<ApplyOutcome, ClusterError> {
        let mut outcome = ApplyOutcome::default();
        let mut new_set: Vec<AppliedObject> = Vec::new();
        let mut changed = false;
        for (index, doc) in documents.iter().enumerate() {
            let (target, obj) = self.prepare(index, doc).await?;
            self.ensure_ours_or_absent(&target).await?;
            let (generation, version) = self.server_side_apply(&target, &obj).await?;
            // Any write (spec, labels, annotations) moves the resourceVersion;
            // so do Kyverno's status writes, which only makes us settle once
            // more than needed, never less.
            if version.is_none()
                || self.versions.insert(target.describe(), version.clone()) != Some(version)
            {
                changed = true;
            }
            outcome.applied.push((target.describe(), generation));
            if !self.applied.contains(&target) {
                self.applied.push(target.clone());
            }
            new_set.push(target);
        }
        let stale: Vec<AppliedObject> = self
            .applied
            .iter()
            .filter(|o| !new_set.contains(o))
            .cloned()
            .collect();
        for o in &stale {
            self.delete_applied(o).await?;
            self.applied.retain(|a| a != o);
            self.versions.remove(&o.describe());
            outcome.deleted.push(o.describe());
            changed = true;
        }
        let deadline = Instant::now() + self.settings.ready_timeout;
        for o in &new_set {
            if let Some(readiness) = o.kind.readiness() {
                self.wait_ready(o, readiness, deadline).await?;
            }
        }
        if changed && !self.settings.settle.is_zero() {
            tokio::time::sleep(self.settings.settle).await;
        }
        Ok(outcome)
    }

    async fn prepare(
        &self,
        index: usize,
        doc: &Value,
    ) -> Result<(AppliedObject, DynamicObject), ClusterError> {
        let field = |name: &str| doc.get(name).and_then(Value::as_str).unwrap_or_default();
        let api_version = field("apiVersion");
        let kind = field("kind");
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let what = format!("{kind} {name}");
        let invalid = |reason: &str| ClusterError::InvalidDocument {
            index,
            what: what.clone(),
            reason: reason.to_string(),
        };
        if api_version.is_empty() || kind.is_empty() {
            return Err(invalid("apiVersion and kind are required"));
        }
        if name.is_empty() {
            return Err(invalid("metadata.name is required"));
        }
        let info = self.resolve_kind(index, api_version, kind).await?;
        let namespace = doc
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let namespace = match (info.namespaced, namespace) {
            (true, None) => return Err(invalid("metadata.namespace is required for this kind")),
            (true, Some(ns)) => Some(ns),
            (false, _) => None,
        };
        let mut obj: DynamicObject = serde_json::from_value(doc.clone())
            .map_err(|e| invalid(&format!("not a kubernetes object: {e}")))?;
        obj.metadata.namespace = namespace.clone();
        let labels = obj.metadata.labels.get_or_insert_with(Default::default);
        labels.insert(MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string());
        labels.insert(RUN_LABEL.to_string(), self.settings.run_id.clone());
        Ok((
            AppliedObject {
                kind: info,
                namespace,
                name: name.to_string(),
            },
            obj,
        ))
    }

    /// Refuses to overwrite an object that exists without `managed-by=trustswap`.
    async fn ensure_ours_or_absent(&self, target: &AppliedObject) -> Result<(), ClusterError> {
        let api = self.dynamic_api(&target.kind, target.namespace.as_deref());
        let existing = self
            .call(|| api.get_opt(&target.name))
            .await
            .map_err(|e| e.into_cluster(&format!("get {}", target.describe())))?;
        match existing {
            None => Ok(()),
            Some(o) if has_label(&o.metadata.labels, MANAGED_BY_LABEL, MANAGED_BY_VALUE) => Ok(()),
            Some(_) => Err(ClusterError::NotOurs {
                what: target.describe(),
            }),
        }
    }

    async fn server_side_apply(
        &self,
        target: &AppliedObject,
        obj: &DynamicObject,
    ) -> Result<(Option<i64>, Option<String>), ClusterError> {
        let api = self.dynamic_api(&target.kind, target.namespace.as_deref());
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(obj);
        match self.call(|| api.patch(&target.name, &pp, &patch)).await {
            Ok(o) => Ok((o.metadata.generation, o.metadata.resource_version)),
            Err(CallError::Status(s)) if is_rejection(&s) => Err(ClusterError::PolicyRejected {
                kind: target.kind.kind.clone(),
                name: target.name.clone(),
                message: s.message.clone(),
            }),
            Err(e) => Err(e.into_cluster(&format!("apply {}", target.describe()))),
        }
    }

    async fn delete_applied(&self, o: &AppliedObject) -> Result<(), ClusterError> {
        let api = self.dynamic_api(&o.kind, o.namespace.as_deref());
        let dp = DeleteParams::default();
        match self.call(|| api.delete(&o.name, &dp)).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into_cluster(&format!("delete {}", o.describe()))),
        }
    }

    async fn wait_ready(
        &self,
        o: &AppliedObject,
        readiness: Readiness,
        deadline: Instant,
    ) -> Result<(), ClusterError> {
        let started = Instant::now();
        let api = self.dynamic_api(&o.kind, o.namespace.as_deref());
        let mut last_message;
        loop {
            match self.call(|| api.get_opt(&o.name)).await {
                Ok(Some(obj)) => {
                    let value = serde_json::to_value(&obj).map_err(|e| ClusterError::Client {
                        operation: format!("read status of {}", o.describe()),
                        message: e.to_string(),
                    })?;
                    let (ready, message) = policy_ready(readiness, &value);
                    if ready {
                        return Ok(());
                    }
                    last_message = message;
                }
                Ok(None) => last_message = "not found".to_string(),
                Err(e) => return Err(e.into_cluster(&format!("get {}", o.describe()))),
            }
            if Instant::now() + self.settings.poll_interval > deadline {
                return Err(ClusterError::PolicyNotReady {
                    kind: o.kind.kind.clone(),
                    name: o.name.clone(),
                    waited: started.elapsed(),
                    last_message,
                });
            }
            tokio::time::sleep(self.settings.poll_interval).await;
        }
    }

    // ------------------------------------------------------------------
    // admission
    // ------------------------------------------------------------------

    fn pod_request(
        &self,
        namespace: &str,
        pod: &Value,
        how: &Submission,
    ) -> Result<http::Request<Vec<u8>>, ClusterError> {
        let name = pod_name(pod);
        let body = serde_json::to_vec(pod).map_err(|e| ClusterError::InvalidPod {
            what: format!("{namespace}/{name}"),
            reason: e.to_string(),
        })?;
        let pods = kube::core::Request::new(format!("/api/v1/namespaces/{namespace}/pods"));
        let pp = PostParams {
            dry_run: *how != Submission::Create,
            ..Default::default()
        };
        match how {
            Submission::DryRunCreate | Submission::Create => pods.create(&pp, body),
            Submission::DryRunUpdate { subresource: None } => pods.replace(&name, &pp, body),
            Submission::DryRunUpdate {
                subresource: Some(sub),
            } => pods.replace_subresource(sub, &name, &pp, body),
        }
        .map_err(|e| ClusterError::Client {
            operation: format!("build {} of pod {namespace}/{name}", how.describe()),
            message: e.to_string(),
        })
    }

    /// Server-side dry-run create of `pod` in `namespace`: what admission decides.
    pub async fn admit(
        &self,
        namespace: &str,
        pod: &Value,
    ) -> Result<ClusterDecision, ClusterError> {
        self.submit(namespace, pod, &Submission::DryRunCreate).await
    }

    /// Sends `pod` as `how` says: what admission decides (and, admitted, the
    /// object the API server answered with). A stored pod is labelled with
    /// the run id, so that cleanup finds it.
    pub async fn submit(
        &self,
        namespace: &str,
        pod: &Value,
        how: &Submission,
    ) -> Result<ClusterDecision, ClusterError> {
        let mut pod = normalize_pod(namespace, pod)?;
        if *how == Submission::Create
            && let Some(meta) = pod.get_mut("metadata").and_then(Value::as_object_mut)
            && let Some(labels) = meta
                .entry("labels")
                .or_insert_with(|| json!({}))
                .as_object_mut()
        {
            labels.insert(MANAGED_BY_LABEL.into(), json!(MANAGED_BY_VALUE));
            labels.insert(RUN_LABEL.into(), json!(self.settings.run_id));
        }
        let name = pod_name(&pod);
        // A stored pod is created once: a retry after an answer that never
        // came could meet the pod it created.
        let attempts = if *how == Submission::Create {
            1
        } else {
            self.settings.request_attempts.max(1)
        };
        let mut last = String::new();
        let mut webhook_failed = false;
        for attempt in 1..=attempts {
            let request = self.pod_request(namespace, &pod, how)?;
            match self.send_once(request).await {
                Ok(answer) => match classify_admission(namespace, &name, how, answer)? {
                    Admission::Decided(d) => return Ok(d),
                    Admission::Retry(message) => {
                        webhook_failed = message.contains("failed calling webhook");
                        last = message;
                    }
                },
                Err(e) => {
                    webhook_failed = false;
                    last = e;
                }
            }
            if attempt < attempts {
                tokio::time::sleep(self.settings.retry_backoff * attempt).await;
            }
        }
        if webhook_failed {
            Err(ClusterError::WebhookUnavailable {
                namespace: namespace.to_string(),
                name,
                attempts,
                last,
            })
        } else {
            Err(ClusterError::ApiUnavailable {
                operation: format!("{} of pod {namespace}/{name}", how.describe()),
                attempts,
                last,
            })
        }
    }

    /// Really creates `pod` (labelled with the run id) and waits until it runs;
    /// returns its containers' resolved image ids.
    pub async fn run_pod(
        &self,
        namespace: &str,
        pod: &Value,
        kubelet: Option<&[ContainerImage]>,
    ) -> Result<Vec<ContainerImage>, ClusterError> {
        let mut pod = normalize_pod(namespace, pod)?;
        let name = pod_name(&pod);
        if let Some(meta) = pod.get_mut("metadata").and_then(Value::as_object_mut) {
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert(MANAGED_BY_LABEL.into(), json!(MANAGED_BY_VALUE));
                l.insert(RUN_LABEL.into(), json!(self.settings.run_id));
            }
        }
        let typed: Pod = serde_json::from_value(pod).map_err(|e| ClusterError::InvalidPod {
            what: format!("{namespace}/{name}"),
            reason: e.to_string(),
        })?;
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let pp = PostParams::default();
        let created = self
            .call(|| api.create(&pp, &typed))
            .await
            .map_err(|e| e.into_cluster(&format!("create pod {namespace}/{name}")))?;
        let name = created.metadata.name.unwrap_or(name);
        if let Some(statuses) = kubelet {
            // No kubelet on this API server: write the status one would, with
            // the digest each tag resolved to when the pod was created.
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let init: std::collections::BTreeSet<String> = pod_spec_names(&created.spec, true);
            let status = |c: &ContainerImage| {
                json!({
                    "name": c.container, "image": c.image, "imageID": c.image_id,
                    "ready": !init.contains(&c.container), "restartCount": 0, "started": true,
                    "state": { "running": { "startedAt": now } },
                })
            };
            let (inits, mains): (Vec<&ContainerImage>, Vec<&ContainerImage>) =
                statuses.iter().partition(|c| init.contains(&c.container));
            let patch = json!({ "status": {
                "phase": "Running",
                "containerStatuses": mains.iter().map(|c| status(c)).collect::<Vec<_>>(),
                "initContainerStatuses": inits.iter().map(|c| status(c)).collect::<Vec<_>>(),
            }});
            let (pp, merge) = (PatchParams::default(), Patch::Merge(&patch));
            self.call(|| api.patch_status(&name, &pp, &merge))
                .await
                .map_err(|e| {
                    e.into_cluster(&format!("write the status of pod {namespace}/{name}"))
                })?;
        }
        let started = Instant::now();
        let deadline = started + self.settings.pod_timeout;
        loop {
            let pod = self
                .call(|| api.get(&name))
                .await
                .map_err(|e| e.into_cluster(&format!("get pod {namespace}/{name}")))?;
            let phase = pod
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Pending".to_string());
            let images = container_images(&pod);
            // The audit needs what the node pulled, not a working process:
            // lab fixtures are not runnable, so a pod whose every container
            // has an imageID (running, crashed or completed) is enough.
            if !images.is_empty() && images.iter().all(|c| !c.image_id.is_empty()) {
                return Ok(images);
            }
            match phase.as_str() {
                "Failed" | "Succeeded" => {
                    return Err(ClusterError::PodFailed {
                        namespace: namespace.to_string(),
                        name,
                        phase,
                        detail: pod_detail(&pod),
                    });
                }
                _ => {}
            }
            if Instant::now() + self.settings.poll_interval > deadline {
                return Err(ClusterError::PodNotRunning {
                    namespace: namespace.to_string(),
                    name,
                    waited: started.elapsed(),
                    detail: format!("phase {phase}; {}", pod_detail(&pod)),
                });
            }
            tokio::time::sleep(self.settings.poll_interval).await;
        }
    }

    /// Pods (with container image ids) in every namespace matching
    /// `namespace_selector` (a label selector).
    pub async fn list_pods(
        &self,
        namespace_selector: &str,
    ) -> Result<Vec<PodImages>, ClusterError> {
        let ns_api: Api<Namespace> = Api::all(self.client.clone());
        let lp = ListParams::default().labels(namespace_selector);
        let namespaces = self
            .call(|| ns_api.list(&lp))
            .await
            .map_err(|e| e.into_cluster(&format!("list namespaces {namespace_selector}")))?;
        let mut out = Vec::new();
        for ns in namespaces.items {
            if let Some(ns_name) = ns.metadata.name {
                out.extend(self.pods_in(&ns_name).await?);
            }
        }
        Ok(out)
    }

    /// Pod `name` in `namespace` as the API server stores it now (bound to a
    /// node, its status written, its `resourceVersion` current).
    pub async fn get_pod(&self, namespace: &str, name: &str) -> Result<Value, ClusterError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let pod = self
            .call(|| api.get(name))
            .await
            .map_err(|e| e.into_cluster(&format!("get pod {namespace}/{name}")))?;
        serde_json::to_value(&pod).map_err(|e| ClusterError::InvalidPod {
            what: format!("{namespace}/{name}"),
            reason: e.to_string(),
        })
    }

    /// Pods (with container image ids) of one namespace.
    pub async fn pods_in(&self, namespace: &str) -> Result<Vec<PodImages>, ClusterError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let lp = ListParams::default();
        let pods = self
            .call(|| api.list(&lp))
            .await
            .map_err(|e| e.into_cluster(&format!("list pods in {namespace}")))?;
        Ok(pods
            .items
            .iter()
            .map(|pod| PodImages {
                namespace: namespace.to_string(),
                name: pod.metadata.name.clone().unwrap_or_default(),
                phase: pod
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_default(),
                containers: container_images(pod),
            })
            .collect())
    }

    /// Deletes test namespace `name` (only if it carries this run's label);
    /// does not wait for it to terminate.
    pub async fn delete_namespace(&self, name: &str) -> Result<(), ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let existing = match self.call(|| api.get_opt(name)).await {
            Ok(Some(ns)) => ns,
            Ok(None) => return Ok(()),
            Err(e) => return Err(e.into_cluster(&format!("get namespace {name}"))),
        };
        if !has_label(&existing.metadata.labels, RUN_LABEL, &self.settings.run_id) {
            return Err(ClusterError::NotOurs {
                what: format!("namespace {name}"),
            });
        }
        let dp = DeleteParams::default();
        match self.call(|| api.delete(name, &dp)).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into_cluster(&format!("delete namespace {name}"))),
        }
    }

    /// PolicyReports of `namespace` as JSON (`wgpolicyk8s.io/v1alpha2`, or
    /// `openreports.io/v1alpha1` Reports when only that API is served).
    pub async fn policy_reports(&self, namespace: &str) -> Result<Vec<Value>, ClusterError> {
        let mut last_not_found = None;
        for kind in [
            resources::policy_report_kind(),
            resources::openreports_kind(),
        ] {
            let api = self.dynamic_api(&kind, Some(namespace));
            let lp = ListParams::default();
            match self.call(|| api.list(&lp)).await {
                Ok(list) => {
                    return list
                        .items
                        .iter()
                        .map(|o| {
                            let mut v =
                                serde_json::to_value(o).map_err(|e| ClusterError::Client {
                                    operation: format!("read {} in {namespace}", kind.plural),
                                    message: e.to_string(),
                                })?;
                            if let Some(m) = v.as_object_mut() {
                                m.insert("apiVersion".into(), json!(kind.api_version()));
                                m.insert("kind".into(), json!(kind.kind));
                            }
                            Ok(v)
                        })
                        .collect();
                }
                Err(e) if e.is_not_found() => last_not_found = Some(kind),
                Err(e) => {
                    return Err(e.into_cluster(&format!(
                        "list {}.{} in {namespace}",
                        kind.plural, kind.group
                    )));
                }
            }
        }
        Err(ClusterError::Client {
            operation: format!("list policy reports in {namespace}"),
            message: format!(
                "the api server serves neither policyreports.wgpolicyk8s.io nor reports.openreports.io (last tried {})",
                last_not_found.map(|k| k.api_version()).unwrap_or_default()
            ),
        })
    }

    // ------------------------------------------------------------------
    // namespaces and cleanup
    // ------------------------------------------------------------------

    /// Creates test namespace `name` labelled with the run id. An existing
    /// namespace is reused only when it carries this run's label.
    pub async fn create_namespace(&self, name: &str) -> Result<(), ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns: Namespace = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": { MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_LABEL: self.settings.run_id }
            }
        }))
        .map_err(|e| ClusterError::Client {
            operation: format!("build namespace {name}"),
            message: e.to_string(),
        })?;
        let pp = PostParams::default();
        match self.call(|| api.create(&pp, &ns)).await {
            Ok(_) => Ok(()),
            Err(CallError::Status(s)) if s.code == 409 => {
                let existing = self
                    .call(|| api.get(name))
                    .await
                    .map_err(|e| e.into_cluster(&format!("get namespace {name}")))?;
                if has_label(&existing.metadata.labels, RUN_LABEL, &self.settings.run_id) {
                    Ok(())
                } else {
                    Err(ClusterError::NotOurs {
                        what: format!("namespace {name}"),
                    })
                }
            }
            Err(e) => Err(e.into_cluster(&format!("create namespace {name}"))),
        }
    }

    /// Deletes everything labelled with this run id (policies, exceptions,
    /// then namespaces). Returns what could not be deleted; never touches
    /// unlabelled objects.
    pub async fn cleanup(&mut self) -> Vec<Leftover> {
        let selector = format!("{RUN_LABEL}={}", self.settings.run_id);
        let mut kinds = resources::cleanup_kinds();
        for o in &self.applied {
            if !kinds
                .iter()
                .any(|k| k.group == o.kind.group && k.plural == o.kind.plural)
            {
                kinds.push(o.kind.clone());
            }
        }
        let mut leftovers = Vec::new();
        let dp = DeleteParams::default();
        for kind in &kinds {
            let api = self.dynamic_api(kind, None);
            let lp = ListParams::default().labels(&selector);
            let list = match self.call(|| api.list(&lp)).await {
                Ok(l) => l,
                Err(e) if e.is_not_found() => continue, // kind not served: nothing of ours
                Err(e) => {
                    leftovers.push(Leftover {
                        kind: kind.kind.clone(),
                        namespace: None,
                        name: "*".to_string(),
                        reason: e.into_cluster(&format!("list {}", kind.plural)).to_string(),
                    });
                    continue;
                }
            };
            for item in list.items {
                let name = item.metadata.name.clone().unwrap_or_default();
                let namespace = item.metadata.namespace.clone();
                if !has_label(&item.metadata.labels, RUN_LABEL, &self.settings.run_id) {
                    continue;
                }
                let api = self.dynamic_api(kind, namespace.as_deref());
                match self.call(|| api.delete(&name, &dp)).await {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => {
                        let what = match &namespace {
                            Some(ns) => format!("delete {} {ns}/{name}", kind.kind),
                            None => format!("delete {} {name}", kind.kind),
                        };
                        leftovers.push(Leftover {
                            kind: kind.kind.clone(),
                            namespace,
                            name,
                            reason: e.into_cluster(&what).to_string(),
                        });
                    }
                }
            }
        }
        self.applied.clear();
        let ns_api: Api<Namespace> = Api::all(self.client.clone());
        let lp = ListParams::default().labels(&selector);
        match self.call(|| ns_api.list(&lp)).await {
            Ok(list) => {
                for ns in list.items {
                    let Some(name) = ns.metadata.name.clone() else {
                        continue;
                    };
                    if !has_label(&ns.metadata.labels, RUN_LABEL, &self.settings.run_id) {
                        continue;
                    }
                    match self.call(|| ns_api.delete(&name, &dp)).await {
                        Ok(_) => {}
                        Err(e) if e.is_not_found() => {}
                        Err(e) => leftovers.push(Leftover {
                            kind: "Namespace".to_string(),
                            namespace: None,
                            reason: e
                                .into_cluster(&format!("delete namespace {name}"))
                                .to_string(),
                            name,
                        }),
                    }
                }
            }
            Err(e) => leftovers.push(Leftover {
                kind: "Namespace".to_string(),
                namespace: None,
                name: "*".to_string(),
                reason: e.into_cluster("list namespaces").to_string(),
            }),
        }
        leftovers
    }

    // ------------------------------------------------------------------
    // preflight
    // ------------------------------------------------------------------

    /// Checks an existing cluster: the API answers, Kyverno's CRDs exist, its
    /// admission controller is Ready and its webhooks answer a dry-run Pod create.
    pub async fn preflight(&self) -> Result<PreflightReport, ClusterError> {
        let info = self
            .call(|| self.client.apiserver_version())
            .await
            .map_err(|e| e.into_cluster("get /version"))?;

        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        for crd in KYVERNO_CRDS {
            let found = self
                .call(|| crds.get_opt(crd))
                .await
                .map_err(|e| e.into_cluster(&format!("get crd {crd}")))?;
            if found.is_none() {
                return Err(ClusterError::KyvernoMissing {
                    missing: format!("crd {crd}"),
                    fix: install_hint(),
                });
            }
        }

        let started = Instant::now();
        let deadline = started + self.settings.kyverno_timeout;
        let ns = &self.settings.kyverno_namespace;
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        let mut kyverno_image = None;
        loop {
            // The local backend runs Kyverno as processes: no Deployment.
            if !self.settings.kyverno_deployment {
                break;
            }
            let dep = self
                .call(|| deployments.get_opt(KYVERNO_ADMISSION_DEPLOYMENT))
                .await
                .map_err(|e| {
                    e.into_cluster(&format!(
                        "get deployment {ns}/{KYVERNO_ADMISSION_DEPLOYMENT}"
                    ))
                })?;
            let Some(dep) = dep else {
                return Err(ClusterError::KyvernoMissing {
                    missing: format!("deployment {ns}/{KYVERNO_ADMISSION_DEPLOYMENT}"),
                    fix: install_hint(),
                });
            };
            let ready = dep
                .status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0);
            if ready >= 1 {
                kyverno_image = dep
                    .spec
                    .template
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.image.clone());
                break;
            }
            if Instant::now() + self.settings.poll_interval > deadline {
                return Err(ClusterError::KyvernoNotReady {
                    namespace: ns.clone(),
                    deployment: KYVERNO_ADMISSION_DEPLOYMENT.to_string(),
                    waited: started.elapsed(),
                    detail: self.admission_pods_detail().await,
                });
            }
            tokio::time::sleep(self.settings.poll_interval).await;
        }

        let probe_ns = self.settings.probe_namespace.clone();
        let probe = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "trustswap-preflight-probe",
                "namespace": probe_ns,
                "labels": { MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_LABEL: self.settings.run_id }
            },
            "spec": { "containers": [{ "name": "probe", "image": self.settings.probe_image }] }
        });
        let mut attempts = 0;
        loop {
            attempts += 1;
            let request = self.pod_request(&probe_ns, &probe, &Submission::DryRunCreate)?;
            let last = match self.send_once(request).await {
                // Allowed, or denied by a policy: either way admission answered.
                Ok(a) if (200..300).contains(&a.code) || a.code == 400 || a.code == 403 => {
                    break;
                }
                Ok(a) if a.code == 404 => {
                    return Err(ClusterError::Api {
                        operation: format!("dry-run create of probe pod in {probe_ns}"),
                        code: 404,
                        reason: "NotFound".to_string(),
                        message: format!("namespace {probe_ns} does not exist"),
                    });
                }
                Ok(a) => status_message(&a),
                Err(e) => e,
            };
            if Instant::now() + self.settings.poll_interval > deadline {
                return Err(ClusterError::WebhookUnavailable {
                    namespace: probe_ns,
                    name: "trustswap-preflight-probe".to_string(),
                    attempts,
                    last,
                });
            }
            tokio::time::sleep(self.settings.poll_interval).await;
        }

        Ok(PreflightReport {
            server_version: info.git_version,
            kyverno_image,
            webhook_attempts: attempts,
        })
    }

    /// Phase and conditions of Kyverno's admission controller pods (for errors).
    async fn admission_pods_detail(&self) -> String {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.settings.kyverno_namespace);
        let lp = ListParams::default().labels("app.kubernetes.io/component=admission-controller");
        match self.call(|| api.list(&lp)).await {
            Ok(list) if list.items.is_empty() => {
                "no admission controller pods (label app.kubernetes.io/component=admission-controller)"
                    .to_string()
            }
            Ok(list) => list
                .items
                .iter()
                .map(|p| {
                    format!(
                        "pod {}: phase {}; {}",
                        p.metadata.name.clone().unwrap_or_default(),
                        p.status
                            .as_ref()
                            .and_then(|s| s.phase.clone())
                            .unwrap_or_else(|| "Unknown".to_string()),
                        pod_detail(p)
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            Err(e) => format!(
                "could not list admission controller pods: {}",
                e.into_cluster("list pods")
            ),
        }
    }
}

fn install_hint() -> String {
    format!(
        "install kyverno {} with `helm install kyverno kyverno/kyverno -n kyverno --create-namespace --version {}` (repo https://kyverno.github.io/kyverno/) or `kubectl create -f {}`",
        crate::kind::KYVERNO_VERSION,
        crate::kind::KYVERNO_CHART_VERSION,
        crate::kind::KYVERNO_INSTALL_MANIFEST
    )
}

fn is_rejection(s: &Status) -> bool {
    (400..500).contains(&s.code)
        && (s.code == 400
            || s.code == 422
            || s.message.contains("admission webhook")
            || s.message.contains("denied the request"))
}

fn has_label(
    labels: &Option<std::collections::BTreeMap<String, String>>,
    key: &str,
    value: &str,
) -> bool {
    labels
        .as_ref()
        .and_then(|l| l.get(key))
        .is_some_and(|v| v == value)
}

/// Readiness of a policy object per Kyverno 1.19's status shapes; returns
/// (ready, the status message explaining why not).
pub fn policy_ready(readiness: Readiness, obj: &Value) -> (bool, String) {
    let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64);
    let conditions = |path: &str| -> Vec<Value> {
        obj.pointer(path)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let ready_condition = |conds: &[Value]| -> Option<(bool, String)> {
        let c = conds
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))?;
        let fresh = match (
            c.get("observedGeneration").and_then(Value::as_i64),
            generation,
        ) {
            (Some(og), Some(g)) => og >= g,
            _ => true,
        };
        let ok = c.get("status").and_then(Value::as_str) == Some("True") && fresh;
        let msg = condition_text(c);
        Some((
            ok,
            if fresh {
                msg
            } else {
                format!("{msg} (status is for an older generation)")
            },
        ))
    };
    match readiness {
        Readiness::KyvernoV1 => {
            let conds = conditions("/status/conditions");
            ready_condition(&conds)
                .unwrap_or((false, "no Ready condition reported yet".to_string()))
        }
        Readiness::ConditionStatus => {
            let cs = obj.pointer("/status/conditionStatus");
            if cs.and_then(|c| c.get("ready")).and_then(Value::as_bool) == Some(true) {
                return (true, String::new());
            }
            let conds = conditions("/status/conditionStatus/conditions");
            if let Some((true, m)) = ready_condition(&conds) {
                return (true, m);
            }
            let message = cs
                .and_then(|c| c.get("message"))
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
                .map(str::to_string);
            let failing: Vec<String> = conds
                .iter()
                .filter(|c| c.get("status").and_then(Value::as_str) != Some("True"))
                .map(condition_text)
                .collect();
            let text = match (message, failing.is_empty()) {
                (Some(m), true) => m,
                (Some(m), false) => format!("{m} ({})", failing.join("; ")),
                (None, false) => failing.join("; "),
                (None, true) if cs.is_none() => "no status reported yet".to_string(),
                (None, true) => "conditionStatus.ready is not true".to_string(),
            };
            (false, text)
        }
    }
}

fn condition_text(c: &Value) -> String {
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
    let mut text = format!("{}={}", s("type"), s("status"));
    if !s("reason").is_empty() {
        text.push_str(&format!(" ({})", s("reason")));
    }
    if !s("message").is_empty() {
        text.push_str(&format!(": {}", s("message")));
    }
    text
}

enum Admission {
    Decided(ClusterDecision),
    Retry(String),
}

fn status_message(a: &RawAnswer) -> String {
    match serde_json::from_slice::<Status>(&a.body) {
        Ok(s) if !s.message.is_empty() => format!("http {} {}: {}", a.code, s.reason, s.message),
        _ => format!("http {}: {}", a.code, String::from_utf8_lossy(&a.body)),
    }
}

fn classify_admission(
    namespace: &str,
    name: &str,
    how: &Submission,
    a: RawAnswer,
) -> Result<Admission, ClusterError> {
    let code = a.code;
    if (200..300).contains(&code) {
        return Ok(Admission::Decided(ClusterDecision {
            allowed: true,
            message: None,
            warnings: a.warnings,
            policies: Vec::new(),
            code,
            object: serde_json::from_slice(&a.body).ok(),
        }));
    }
    if retryable_code(code) {
        return Ok(Admission::Retry(status_message(&a)));
    }
    let status: Option<Status> = serde_json::from_slice(&a.body).ok();
    let message = status
        .as_ref()
        .map(|s| s.message.clone())
        .unwrap_or_else(|| String::from_utf8_lossy(&a.body).into_owned());
    let reason = status
        .as_ref()
        .map(|s| s.reason.clone())
        .unwrap_or_default();
    match code {
        422 => Err(ClusterError::InvalidPod {
            what: format!("{namespace}/{name}"),
            reason: message,
        }),
        401 | 404 | 409 => Err(ClusterError::Api {
            operation: format!("{} of pod {namespace}/{name}", how.describe()),
            code,
            reason,
            message,
        }),
        _ => Ok(Admission::Decided(ClusterDecision {
            allowed: false,
            policies: parse_denial(&message),
            message: Some(message),
            warnings: a.warnings,
            code,
            object: None,
        })),
    }
}

fn pod_name(pod: &Value) -> String {
    pod.pointer("/metadata/name")
        .or_else(|| pod.pointer("/metadata/generateName"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Checks the pod shape and pins its namespace.
fn normalize_pod(namespace: &str, pod: &Value) -> Result<Value, ClusterError> {
    let what = format!("{namespace}/{}", pod_name(pod));
    let invalid = |reason: &str| ClusterError::InvalidPod {
        what: what.clone(),
        reason: reason.to_string(),
    };
    let mut pod = pod.clone();
    let obj = pod
        .as_object_mut()
        .ok_or_else(|| invalid("not a json object"))?;
    match obj.get("kind").and_then(Value::as_str) {
        None => {
            obj.insert("kind".into(), json!("Pod"));
        }
        Some("Pod") => {}
        Some(other) => return Err(invalid(&format!("kind is {other}, not Pod"))),
    }
    obj.entry("apiVersion").or_insert_with(|| json!("v1"));
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| invalid("metadata is not an object"))?;
    if meta.get("name").and_then(Value::as_str).is_none()
        && meta.get("generateName").and_then(Value::as_str).is_none()
    {
        return Err(invalid(
            "metadata.name or metadata.generateName is required",
        ));
    }
    match meta.get("namespace").and_then(Value::as_str) {
        Some(ns) if ns != namespace => {
            return Err(invalid(&format!(
                "metadata.namespace is {ns}, but the request is for {namespace}"
            )));
        }
        _ => {
            meta.insert("namespace".into(), json!(namespace));
        }
    }
    Ok(pod)
}

fn container_images(pod: &Pod) -> Vec<ContainerImage> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .map(|c| ContainerImage {
            container: c.name.clone(),
            image: c.image.clone(),
            image_id: c.image_id.clone(),
        })
        .collect()
}

/// Conditions and container waiting/terminated reasons, for error messages.
fn pod_detail(pod: &Pod) -> String {
    let Some(status) = pod.status.as_ref() else {
        return "no status yet".to_string();
    };
    let mut parts = Vec::new();
    for c in status.conditions.iter().flatten() {
        let mut s = format!("{}={}", c.type_, c.status);
        if let Some(r) = &c.reason {
            s.push_str(&format!(" ({r})"));
        }
        if let Some(m) = &c.message {
            s.push_str(&format!(": {m}"));
        }
        parts.push(s);
    }
    for cs in status.container_statuses.iter().flatten() {
        if let Some(state) = &cs.state {
            if let Some(w) = &state.waiting {
                parts.push(format!(
                    "container {} waiting: {} {}",
                    cs.name,
                    w.reason.clone().unwrap_or_default(),
                    w.message.clone().unwrap_or_default()
                ));
            }
            if let Some(t) = &state.terminated {
                parts.push(format!(
                    "container {} terminated: {} (exit {}) {}",
                    cs.name,
                    t.reason.clone().unwrap_or_default(),
                    t.exit_code,
                    t.message.clone().unwrap_or_default()
                ));
            }
        }
    }
    if let Some(m) = &status.message {
        parts.push(m.clone());
    }
    if parts.is_empty() {
        "no conditions reported".to_string()
    } else {
        parts.join("; ").trim().to_string()
    }
}
