//! The harness [`Backend`] over a real API server with Kyverno: what the
//! kind and the existing-cluster backends share. Each (scenario, engine,
//! vendor) run gets its own labelled namespaces; pods and policies name the
//! fixtures where the cluster's registry serves them ([`Relocation`]); a
//! re-push moves the tag in that registry; the drift audit reads the pods'
//! `imageID`s; every policy swap is recorded with what changed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::backend::ClusterBackend;
use super::cluster::{ClusterDecision, ContainerImage, RUN_LABEL, Submission};
use super::error::Leftover;
use crate::admission::decision::{
    Action, Decision, Denial, Phase, PolicyKind, ReportEntry, RuleResult, RuleStatus,
};
use crate::admission::request::{AdmissionRequest, Operation};
use crate::audit::drift::image::parse_image_id;
use crate::backend::BackendError;
use crate::backend::relocate::Relocation;
use crate::backend::{Backend, Capabilities, LivePod};
use crate::diff::Class;
use crate::policy::{Document, PolicySet};
use crate::supply::oci::Layout;
use crate::supply::registry::Registry;

/// Moves tags in the registry the cluster pulls from.
pub trait FixtureTags {
    fn set_tag(&mut self, repository: &str, tag: &str, digest: &str) -> Result<(), BackendError>;
    /// The digest `repository:tag` resolves to now (the local backend's kubelet).
    fn resolve(&self, repository: &str, tag: &str) -> Result<String, BackendError> {
        Err(BackendError::failed(format!(
            "cannot resolve {repository}:{tag} here"
        )))
    }
}

/// Tags moved in a real registry, from the lab layout's manifests.
pub struct RegistryTags {
    pub registry: Registry,
    pub layout: Layout,
}

impl FixtureTags for RegistryTags {
    fn set_tag(&mut self, repository: &str, tag: &str, digest: &str) -> Result<(), BackendError> {
        let d = digest
            .parse()
            .map_err(|e| BackendError::failed(format!("digest {digest}: {e:?}")))?;
        self.registry
            .push_tag(&self.layout, repository, tag, &d)
            .map_err(|e| BackendError::caused(format!("moving {repository}:{tag}"), e))
    }

    fn resolve(&self, repository: &str, tag: &str) -> Result<String, BackendError> {
        use crate::supply::store::Store as _;
        match self.registry.resolve(repository, tag) {
            Ok(Some((descriptor, _))) => Ok(descriptor.digest.to_string()),
            Ok(None) => Err(BackendError::failed(format!(
                "{repository}:{tag} is not in the registry"
            ))),
            Err(e) => Err(BackendError::caused(
                format!("resolving {repository}:{tag}"),
                e,
            )),
        }
    }
}

/// One change of the applied policy set, as the API server saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Swap {
    /// The run (`scenario/engine/vendor`) that applied the set.
    pub case: String,
    /// The run whose set it replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// Applied objects with their `metadata.generation` after the apply.
    pub objects: Vec<(String, Option<i64>)>,
    pub deleted: Vec<String>,
    /// Changed paths per class (trust-root, image-scope, evidence, structural).
    pub classes: BTreeMap<String, usize>,
    /// The changed paths, `document path (class)`.
    pub paths: Vec<String>,
}

/// Timeouts of the adapter's own waits.
#[derive(Debug, Clone)]
pub struct AdapterSettings {
    /// How long to wait for Kyverno's reports controller to report a pod.
    pub report_timeout: Duration,
    pub poll_interval: Duration,
    /// No kubelet runs (the local backend): trustswap writes each created
    /// pod's container statuses, with the digest its tag resolved to.
    pub emulate_kubelet: bool,
    /// Stops waiting for reports once cancelled (Ctrl-C).
    pub cancel: crate::interrupt::CancelToken,
}

impl Default for AdapterSettings {
    fn default() -> Self {
        AdapterSettings {
            report_timeout: Duration::from_secs(90),
            poll_interval: Duration::from_secs(2),
            emulate_kubelet: false,
            cancel: crate::interrupt::CancelToken::new(),
        }
    }
}

pub struct KubeBackend {
    name: &'static str,
    cluster: ClusterBackend,
    relocation: Relocation,
    tags: Box<dyn FixtureTags>,
    settings: AdapterSettings,
    case: usize,
    label: String,
    /// Scenario namespace → the case's namespace.
    namespaces: BTreeMap<String, String>,
    last: Option<(String, Vec<Value>)>,
    swaps: Vec<Swap>,
}

impl KubeBackend {
    /// The namespace `name` itself, not a per-run one (`admit` on a cluster
    /// trustswap created: a user's policies name namespaces as written):
    /// created when missing (and deleted with the case), used as it is when
    /// it exists and is not trustswap's (`default`).
    pub fn namespace_as_named(&mut self, name: &str) -> Result<String, BackendError> {
        match self.cluster.create_namespace(name) {
            Ok(()) => {
                self.namespaces.insert(name.to_owned(), name.to_owned());
                Ok(name.to_owned())
            }
            Err(crate::backend::kube::ClusterError::NotOurs { .. }) => Ok(name.to_owned()),
            Err(e) => Err(e.into()),
        }
    }

    pub fn new(
        name: &'static str,
        cluster: ClusterBackend,
        relocation: Relocation,
        tags: Box<dyn FixtureTags>,
        settings: AdapterSettings,
    ) -> KubeBackend {
        KubeBackend {
            name,
            cluster,
            relocation,
            tags,
            settings,
            case: 0,
            label: String::new(),
            namespaces: BTreeMap::new(),
            last: None,
            swaps: Vec::new(),
        }
    }

    /// What a kubelet would report for `pod`'s containers: the digest each
    /// image's tag resolves to in the registry now (or the digest it names).
    fn kubelet_statuses(&self, pod: &Value) -> Result<Vec<ContainerImage>, BackendError> {
        let mut out = Vec::new();
        for key in ["initContainers", "containers"] {
            for c in pod["spec"][key].as_array().into_iter().flatten() {
                let name = c["name"].as_str().unwrap_or_default().to_owned();
                let image = c["image"].as_str().unwrap_or_default().to_owned();
                // Relocated: the registry is the one the fixtures were pushed
                // to, and the path is the lab reference's repository.
                let parsed = crate::admission::image::ImageRef::kyverno(&image)
                    .map_err(|e| BackendError::caused(format!("container {name}"), e))?;
                let digest = match &parsed.digest {
                    Some(d) => d.clone(),
                    None => self
                        .tags
                        .resolve(&parsed.path, parsed.tag.as_deref().unwrap_or("latest"))?,
                };
                out.push(ContainerImage {
                    container: name,
                    image_id: format!("{}/{}@{digest}", parsed.registry, parsed.path),
                    image,
                });
            }
        }
        Ok(out)
    }

    /// Every policy swap of the run, in order.
    pub fn swaps(&self) -> &[Swap] {
        &self.swaps
    }

    /// The label selector of everything this run created.
    pub fn selector(&self) -> String {
        format!("{RUN_LABEL}={}", self.cluster.client().settings().run_id)
    }

    /// Deletes everything the run created; returns what is left behind.
    pub fn cleanup(&mut self) -> Vec<Leftover> {
        self.cluster.cleanup()
    }

    fn scenario_namespace(&self, real: &str) -> String {
        self.namespaces
            .iter()
            .find(|(_, r)| r.as_str() == real)
            .map_or_else(|| real.to_owned(), |(s, _)| s.clone())
    }

    fn live(&self, namespace: &str, name: &str, images: &[ContainerImage]) -> LivePod {
        LivePod {
            namespace: self.scenario_namespace(namespace),
            name: name.to_owned(),
            // A container whose imageID is missing or unparsable is left out:
            // the audit then has no digest for it and the step errors.
            containers: images
                .iter()
                .filter_map(|c| {
                    let id = parse_image_id(&c.image_id).ok().flatten()?;
                    let image = self.relocation.original(&c.image).unwrap_or(&c.image);
                    Some((c.container.clone(), image.to_owned(), id.digest.to_owned()))
                })
                .collect(),
        }
    }

    fn record_swap(&mut self, documents: &[Value], outcome: super::ApplyOutcome) {
        let set = |label: &str, docs: &[Value]| PolicySet {
            label: label.to_owned(),
            documents: docs
                .iter()
                .map(|v| Document {
                    origin: "applied".into(),
                    value: v.clone(),
                    source: None,
                })
                .collect(),
            files: Vec::new(),
        };
        let (previous, differences) = match &self.last {
            Some((prev, docs)) => (
                Some(prev.clone()),
                crate::diff::diff_sets(&set(prev, docs), &set(&self.label, documents)).differences,
            ),
            None => (None, Vec::new()),
        };
        let changed = self.last.is_none()
            || !differences.is_empty()
            || !outcome.deleted.is_empty()
            || self
                .last
                .as_ref()
                .is_some_and(|(_, d)| d.len() != documents.len());
        if changed {
            let mut classes = BTreeMap::new();
            for d in &differences {
                *classes.entry(d.class.id().to_owned()).or_insert(0) += 1;
            }
            self.swaps.push(Swap {
                case: self.label.clone(),
                previous,
                objects: outcome.applied,
                deleted: outcome.deleted,
                classes,
                paths: differences
                    .iter()
                    .map(|d| format!("{} {} ({})", d.document, d.path, d.class.id()))
                    .collect(),
            });
        }
        self.last = Some((self.label.clone(), documents.to_vec()));
    }
}

/// Whether a swap changed only what a vendor substitution may change (trust
/// root, image scope, evidence types): the static check's rule, on the objects
/// the cluster holds.
pub fn substitution_only(swap: &Swap) -> bool {
    !swap.classes.contains_key(Class::Structural.id())
}

/// Kyverno's answer as the harness's decision. Results carry what the
/// denial names (policy, rule, message); reports come from `reports`.
pub fn decision(d: ClusterDecision) -> Decision {
    let webhook = d
        .message
        .as_deref()
        .and_then(|m| m.split_once("admission webhook \""))
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(w, _)| w.to_owned())
        .unwrap_or_default();
    let results = d
        .policies
        .iter()
        .map(|v| {
            let cel = v.rule.is_empty();
            RuleResult {
                policy: v.policy.clone(),
                policy_kind: if cel {
                    PolicyKind::ImageValidatingPolicy
                } else {
                    PolicyKind::ClusterPolicy
                },
                rule: if cel {
                    v.policy.clone()
                } else {
                    v.rule.clone()
                },
                status: RuleStatus::Fail,
                message: v.message.clone(),
                phase: if cel {
                    Phase::ImageValidatingPolicy
                } else {
                    Phase::Mutate
                },
                action: Action::Enforce,
                image: None,
            }
        })
        .collect();
    Decision {
        allowed: d.allowed,
        denials: match (&d.message, d.allowed) {
            (Some(m), false) => vec![Denial {
                webhook,
                message: m.clone(),
            }],
            _ => Vec::new(),
        },
        message: if d.allowed { None } else { d.message },
        warnings: d.warnings,
        results,
        report: Vec::new(),
        patches: Vec::new(),
        ignored_errors: Vec::new(),
    }
}

/// Failing (or erroring, warning) results about pod `name` in PolicyReports.
pub fn report_entries(reports: &[Value], namespace: &str, name: &str) -> Vec<ReportEntry> {
    let mut out = Vec::new();
    for r in reports {
        let scope_name = r.pointer("/scope/name").and_then(Value::as_str);
        for res in r
            .get("results")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let about = scope_name == Some(name)
                || res
                    .get("resources")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|x| x.get("name").and_then(Value::as_str) == Some(name));
            let status = match res.get("result").and_then(Value::as_str) {
                Some("fail") => RuleStatus::Fail,
                Some("error") => RuleStatus::Error,
                Some("warn") => RuleStatus::Warn,
                _ => continue,
            };
            if !about {
                continue;
            }
            let text = |k: &str| {
                res.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            out.push(ReportEntry {
                policy: text("policy"),
                rule: text("rule"),
                result: status,
                message: text("message"),
                resource: serde_json::json!({ "apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": name }),
            });
        }
    }
    out
}

impl Backend for KubeBackend {
    fn name(&self) -> &'static str {
        self.name
    }

    fn apply(&mut self, documents: &[Value]) -> Result<(), BackendError> {
        let outcome = self.cluster.apply(documents)?;
        self.record_swap(documents, outcome);
        Ok(())
    }

    /// A CREATE is sent as a server-side dry run; an UPDATE as a dry-run
    /// PUT of the stored pod (or of its subresource).
    fn admit(&mut self, request: &AdmissionRequest, _now: i64) -> Result<Decision, BackendError> {
        let how = match request.operation {
            Operation::Update => Submission::DryRunUpdate {
                subresource: (!request.sub_resource.is_empty())
                    .then(|| request.sub_resource.clone()),
            },
            _ => Submission::DryRunCreate,
        };
        Ok(self
            .cluster
            .submit(&request.namespace, &request.object, &how)
            .map(decision)?)
    }

    fn stored_pod(&mut self, namespace: &str, name: &str) -> Result<Option<Value>, BackendError> {
        Ok(Some(self.cluster.get_pod(namespace, name)?))
    }

    fn create(
        &mut self,
        request: &AdmissionRequest,
        _now: i64,
    ) -> Result<(Decision, Option<Value>), BackendError> {
        let d = self
            .cluster
            .submit(&request.namespace, &request.object, &Submission::Create)?;
        let stored = d.object.clone();
        Ok((decision(d), stored))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::REAL
    }

    fn begin_case(&mut self, label: &str) -> Result<(), BackendError> {
        self.case += 1;
        self.label = label.to_owned();
        self.namespaces.clear();
        Ok(())
    }

    fn end_case(&mut self) {
        for real in std::mem::take(&mut self.namespaces).into_values() {
            // Whatever fails here is retried by the final cleanup.
            let _ = self.cluster.delete_namespace(&real);
        }
    }

    fn namespace(&mut self, scenario_namespace: &str) -> Result<String, BackendError> {
        if let Some(n) = self.namespaces.get(scenario_namespace) {
            return Ok(n.clone());
        }
        let run = &self.cluster.client().settings().run_id;
        let mut name = format!("ts-{run}-{:03}-{scenario_namespace}", self.case);
        name.truncate(63);
        let name = name.trim_end_matches('-').to_owned();
        self.cluster.create_namespace(&name)?;
        self.namespaces
            .insert(scenario_namespace.to_owned(), name.clone());
        Ok(name)
    }

    fn relocation(&self) -> Option<&Relocation> {
        Some(&self.relocation)
    }

    fn set_tag(&mut self, repository: &str, tag: &str, digest: &str) -> Result<(), BackendError> {
        self.tags.set_tag(repository, tag, digest)
    }

    fn run_pod(&mut self, request: &AdmissionRequest) -> Result<Option<LivePod>, BackendError> {
        let name = request
            .object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let kubelet = if self.settings.emulate_kubelet {
            Some(self.kubelet_statuses(&request.object)?)
        } else {
            None
        };
        let images =
            self.cluster
                .run_pod(&request.namespace, &request.object, kubelet.as_deref())?;
        Ok(Some(self.live(&request.namespace, &name, &images)))
    }

    fn reports_later(&self) -> bool {
        true
    }

    fn reports(
        &mut self,
        namespace: &str,
        pod: &str,
    ) -> Result<Option<Vec<ReportEntry>>, BackendError> {
        let deadline = Instant::now() + self.settings.report_timeout;
        loop {
            let reports = self.cluster.policy_reports(namespace)?;
            let entries = report_entries(&reports, namespace, pod);
            if !entries.is_empty()
                || Instant::now() + self.settings.poll_interval > deadline
                || self.settings.cancel.is_cancelled()
            {
                return Ok(Some(entries));
            }
            std::thread::sleep(self.settings.poll_interval);
        }
    }

    fn live_pods(&mut self) -> Result<Option<Vec<LivePod>>, BackendError> {
        let mut out = Vec::new();
        let namespaces: Vec<String> = self.namespaces.values().cloned().collect();
        for real in namespaces {
            for p in self.cluster.pods_in(&real)? {
                out.push(self.live(&real, &p.name, &p.containers));
            }
        }
        out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        Ok(Some(out))
    }
}
