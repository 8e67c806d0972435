//! `trustswap admit`: Pods, and the pods that workloads create, against any
//! Kyverno policy set, on the embedded engine with real signatures (the lab's
//! or an OCI layout's).
//!
//! Reading: every policy file's documents are kept when they are Kyverno
//! objects and listed as skipped otherwise; every manifest document must be a
//! Pod or a workload whose pod template is evaluated as the Pod its controller
//! creates. Deciding: one CREATE request per Pod, on one compiled set (the
//! verification cache shared, as in a cluster). Nothing here formats text:
//! [`crate::report::terminal::admit`] does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use crate::admission::decision::Decision;
use crate::admission::request::{AdmissionRequest, Operation};
use crate::admission::{
    CompiledPolicySet, EngineOptions, EvidenceVerifier, ExceptionSettings, PolicyError,
    PolicyErrorKind, VerificationCache,
};
use crate::backend::evidence::StoreEvidence;
use crate::error::{Error, Result};

/// Version of `admit.json`'s layout (`harness/schema/admit.schema.json`);
/// bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Workload kinds and where their pod template sits (Kyverno's autogen
/// controllers, `pkg/autogen/v1/autogen.go`: `PodControllers`).
const WORKLOADS: &[(&str, &str)] = &[
    ("Deployment", "/spec/template"),
    ("StatefulSet", "/spec/template"),
    ("DaemonSet", "/spec/template"),
    ("ReplicaSet", "/spec/template"),
    ("ReplicationController", "/spec/template"),
    ("Job", "/spec/template"),
    ("CronJob", "/spec/jobTemplate/spec/template"),
];

/// A Pod to admit, as read from a manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// `file` and the document's position in it (1-based).
    pub file: String,
    pub document: usize,
    /// The manifest's kind: `Pod`, or the workload whose template this is.
    pub kind: String,
    pub name: String,
    pub namespace: String,
    /// The Pod sent for admission.
    #[serde(skip)]
    pub pod: Value,
}

/// A document of a policy file that is not a Kyverno object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    pub file: String,
    pub document: String,
    pub reason: String,
}

/// The policy documents to compile, with their files.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    /// (file, document)
    pub documents: Vec<(String, Value)>,
    pub skipped: Vec<Skipped>,
}

/// Kyverno kinds that never decide an admission request (cleanup, deletion,
/// global context, background requests): read past and listed.
const NO_ADMISSION_EFFECT: &[&str] = &[
    "CleanupPolicy",
    "ClusterCleanupPolicy",
    "DeletingPolicy",
    "NamespacedDeletingPolicy",
    "GlobalContextEntry",
    "UpdateRequest",
];

fn kind_name(doc: &Value) -> (String, String) {
    let s = |p: &str| doc.pointer(p).and_then(Value::as_str).unwrap_or_default();
    (s("/kind").to_owned(), s("/metadata/name").to_owned())
}

fn is_kyverno(doc: &Value) -> bool {
    let api = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    matches!(
        api.split('/').next(),
        Some("kyverno.io" | "policies.kyverno.io")
    )
}

/// Reads policy files (or folders of `*.yaml`/`*.yml`). Documents that are
/// not Kyverno objects are skipped and listed; no Kyverno document at all is
/// a usage error. A PolicyException that names no namespace is given
/// `namespace`, as `kubectl apply -n` would.
pub fn read_policies(paths: &[PathBuf], namespace: &str) -> Result<Policies> {
    let mut out = Policies::default();
    for path in paths {
        let set = crate::policy::PolicySet::load(path)?;
        for d in set.documents {
            let (kind, name) = kind_name(&d.value);
            if is_kyverno(&d.value) && NO_ADMISSION_EFFECT.contains(&kind.as_str()) {
                out.skipped.push(Skipped {
                    file: d.origin,
                    document: format!("{kind}/{name}"),
                    reason: "a Kyverno kind that decides no admission request".into(),
                });
            } else if is_kyverno(&d.value) {
                let mut value = d.value;
                if kind == "PolicyException"
                    && value
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    && value.get("metadata").is_some_and(Value::is_object)
                {
                    value["metadata"]["namespace"] = json!(namespace);
                }
                out.documents.push((d.origin, value));
            } else {
                out.skipped.push(Skipped {
                    file: d.origin,
                    document: format!("{kind}/{name}"),
                    reason: "not a Kyverno object (kyverno.io or policies.kyverno.io)".into(),
                });
            }
        }
    }
    if out.documents.is_empty() {
        return Err(Error::Usage {
            message: format!(
                "no Kyverno policy in {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            hint: "give files holding ClusterPolicy, ImageValidatingPolicy, ValidatingPolicy or \
                   PolicyException documents"
                .into(),
        });
    }
    Ok(out)
}

/// Reads Pod and workload manifests: each document becomes the Pod Kyverno
/// would be asked to admit (a workload's pod template, named after it).
pub fn read_resources(paths: &[PathBuf], default_namespace: &str) -> Result<Vec<Resource>> {
    let mut out = Vec::new();
    for path in paths {
        let docs = crate::yaml::parse_documents(path)?;
        if docs.is_empty() {
            return Err(Error::invalid(
                path,
                None,
                "document 1",
                "no Kubernetes object in the file",
                "give Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob manifests",
            ));
        }
        for (i, doc) in docs.into_iter().enumerate() {
            out.push(resource(path, i + 1, doc, default_namespace)?);
        }
    }
    Ok(out)
}

fn resource(path: &Path, n: usize, doc: Value, default_namespace: &str) -> Result<Resource> {
    let bad = |field: &str, message: String| {
        Error::invalid(
            path,
            None,
            format!("document {n}: {field}"),
            message,
            "every manifest must be a Pod or a workload (Deployment, StatefulSet, DaemonSet, \
             ReplicaSet, ReplicationController, Job, CronJob) with a pod spec",
        )
    };
    let (kind, name) = kind_name(&doc);
    if name.is_empty() {
        return Err(bad("metadata.name", "required string".into()));
    }
    let namespace = doc
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(default_namespace)
        .to_owned();
    let pod = if kind == "Pod" {
        let mut pod = doc;
        pod["metadata"]["namespace"] = json!(namespace);
        pod
    } else if let Some((_, at)) = WORKLOADS.iter().find(|(k, _)| *k == kind) {
        let template = doc
            .pointer(at)
            .filter(|t| t.is_object())
            .ok_or_else(|| bad(&at[1..].replace('/', "."), "required object".into()))?;
        let mut metadata = template.get("metadata").cloned().unwrap_or(json!({}));
        if !metadata.is_object() {
            metadata = json!({});
        }
        metadata["name"] = json!(name);
        metadata["namespace"] = json!(namespace);
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": template.get("spec").cloned().unwrap_or(Value::Null),
        })
    } else {
        return Err(bad(
            "kind",
            format!("{kind:?} is not a Pod or a workload with a pod template"),
        ));
    };
    let containers = pod.pointer("/spec/containers").and_then(Value::as_array);
    if containers.is_none_or(|a| a.is_empty()) {
        return Err(bad(
            if kind == "Pod" {
                "spec.containers"
            } else {
                "the pod template's spec.containers"
            },
            "required non-empty list".into(),
        ));
    }
    Ok(Resource {
        file: path.display().to_string(),
        document: n,
        kind,
        name,
        namespace,
        pod,
    })
}

/// One rule's result for one resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleOutcome {
    pub policy: String,
    pub rule: String,
    /// pass, fail, skip, error or warn, as Kyverno reports it.
    pub status: &'static str,
    pub message: String,
    /// The container the result is about, when it is about an image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// What admission decided for one resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Admitted {
    #[serde(flatten)]
    pub resource: Resource,
    pub allowed: bool,
    /// The API server's message when denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub warnings: Vec<String>,
    /// The digest pins Kyverno's mutating webhook would add.
    pub patches: Vec<Value>,
    pub results: Vec<RuleOutcome>,
}

/// A field compiled as if absent (`--allow-unmodelled`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ignored {
    pub file: String,
    pub document: String,
    pub field: String,
}

/// A PolicyException Kyverno does not read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unread {
    pub file: String,
    pub document: String,
    pub why: String,
}

/// Where signatures come from, and what the cluster trusts by default.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceSource {
    /// `lab` or `layout`.
    pub kind: &'static str,
    pub path: String,
    /// What a policy that names no trust material trusts.
    pub default_trust: String,
    /// Admission time (RFC 3339) and where it comes from.
    pub clock: String,
}

/// `admit.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmitReport {
    pub schema_version: u32,
    pub evidence: EvidenceSource,
    /// Kyverno documents compiled, as `Kind/name (file)`.
    pub policies: Vec<String>,
    pub skipped: Vec<Skipped>,
    pub ignored: Vec<Ignored>,
    /// PolicyExceptions Kyverno would not read under the flags modelled
    /// (`--enable-policy-exceptions`), with why: never applied.
    pub unread_exceptions: Vec<Unread>,
    pub resources: Vec<Admitted>,
    /// `--backend local|kind`: `resources` are real Kyverno's decisions;
    /// this says where, what trust stood in for the cluster default, and
    /// where the embedded engine decides otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterSide>,
    pub exit_code: u8,
}

/// `admit` on a real cluster: the cluster, the trust named for it, and the
/// comparison with the embedded engine on the same inputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSide {
    pub backend: &'static str,
    /// Kubernetes and Kyverno versions, how the lab's images were served.
    pub cluster: Value,
    /// Where a policy named no trust material, the lab's, named explicitly
    /// (what the embedded engine's default is).
    pub default_trust: Vec<crate::experiment::own::TrustEdit>,
    /// Resources the embedded engine admits and Kyverno denies, or the reverse.
    pub disagreements: Vec<Disagreement>,
}

/// One resource decided differently by the embedded engine and Kyverno.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Disagreement {
    pub file: String,
    pub document: usize,
    pub resource: String,
    pub embedded: bool,
    pub kyverno: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedded_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kyverno_message: Option<String>,
}

impl AdmitReport {
    /// 0 every resource admitted, 1 something denied.
    fn code(resources: &[Admitted]) -> u8 {
        if resources.iter().all(|r| r.allowed) {
            crate::exit::HOLDS
        } else {
            crate::exit::FINDING
        }
    }
}

/// The file a compile error's document came from.
/// The file a compiled document came from, by its label: `Kind/name`, or
/// `Kind (document[i])` (its position among all documents) when unnamed.
/// Two documents of one kind and name are attributed to the first file.
fn file_of(policies: &Policies, label: &str) -> String {
    let by_index = label
        .rsplit_once("(document[")
        .and_then(|(_, rest)| rest.strip_suffix("])"))
        .and_then(|i| i.parse::<usize>().ok())
        .and_then(|i| policies.documents.get(i));
    by_index
        .or_else(|| {
            policies.documents.iter().find(|(_, d)| {
                let (k, n) = kind_name(d);
                format!("{k}/{n}") == label
            })
        })
        .map(|(f, _)| f.clone())
        .unwrap_or_default()
}

fn compile_error(policies: &Policies, e: PolicyError) -> Error {
    let file = file_of(policies, &e.document);
    match e.kind {
        PolicyErrorKind::Invalid => Error::invalid(
            &file,
            None,
            format!("{}: {}", e.document, e.field),
            e.message,
            "fix the policy: Kyverno and the API server would refuse it too",
        ),
        PolicyErrorKind::Unsupported => Error::harness(
            format!(
                "cannot decide: {file} uses a Kyverno field the embedded engine does not model \
                 (--allow-unmodelled compiles it as if absent and lists it)"
            ),
            e,
        ),
    }
}

/// Compiles the policies and admits every resource.
pub fn admit(
    policies: &Policies,
    resources: &[Resource],
    evidence: Arc<dyn EvidenceVerifier>,
    source: EvidenceSource,
    now: i64,
    allow_unmodelled: bool,
    exceptions: ExceptionSettings,
) -> Result<AdmitReport> {
    let docs: Vec<Value> = policies.documents.iter().map(|(_, d)| d.clone()).collect();
    let set = CompiledPolicySet::compile_with(
        &docs,
        EngineOptions {
            verification_cache: Some(Arc::new(VerificationCache::kyverno_default())),
            allow_unmodelled,
            exceptions,
            ..EngineOptions::default()
        },
    )
    .map_err(|e| compile_error(policies, e))?;
    let ignored = set
        .ignored()
        .iter()
        .map(|e| Ignored {
            file: file_of(policies, &e.document),
            document: e.document.clone(),
            field: e.field.clone(),
        })
        .collect();
    let at = chrono::DateTime::from_timestamp(now, 0).ok_or_else(|| Error::Internal {
        message: format!("clock out of range: {now}"),
    })?;
    let admitted: Vec<Admitted> = resources
        .iter()
        .map(|r| {
            let req = AdmissionRequest::pod(
                Operation::Create,
                &r.namespace,
                BTreeMap::new(),
                r.pod.clone(),
            );
            outcome(r, set.evaluate(&req, at, &evidence))
        })
        .collect();
    Ok(AdmitReport {
        schema_version: SCHEMA_VERSION,
        evidence: source,
        policies: policies
            .documents
            .iter()
            .map(|(f, d)| {
                let (k, n) = kind_name(d);
                format!("{k}/{n} ({f})")
            })
            .collect(),
        skipped: policies.skipped.clone(),
        ignored,
        unread_exceptions: set
            .unread_exceptions()
            .iter()
            .map(|(document, why)| Unread {
                file: file_of(policies, document),
                document: document.clone(),
                why: why.clone(),
            })
            .collect(),
        exit_code: AdmitReport::code(&admitted),
        resources: admitted,
        cluster: None,
    })
}

/// The same policies and resources on a real cluster's Kyverno (`backend`,
/// a cluster trustswap created, whose namespaces it may name as the
/// manifests do): the lab's trust named where a policy names none, images
/// served from the cluster's registry (`own::relocate`; `globs`: every
/// vendor's image globs), one dry-run CREATE per resource. `embedded` is
/// the embedded engine's report on the same inputs; the result is Kyverno's,
/// compared with it.
pub fn on_cluster(
    backend: &mut crate::backend::kube::KubeBackend,
    name: &'static str,
    policies: &Policies,
    resources: &[Resource],
    trust: &crate::policy::render::TrustOverrides,
    globs: &[String],
    embedded: AdmitReport,
) -> Result<AdmitReport> {
    use crate::backend::Backend as _;
    let harness = |e: crate::backend::BackendError| Error::harness("the cluster's Kyverno", e);
    let relocation = backend
        .relocation()
        .cloned()
        .ok_or_else(|| Error::Internal {
            message: "a cluster backend without a registry".into(),
        })?;
    let mut docs = policies.documents.clone();
    let default_trust = crate::experiment::own::default_trust(&mut docs, trust);
    let mut values: Vec<Value> = docs.into_iter().map(|(_, d)| d).collect();
    crate::experiment::own::relocate(&mut values, &relocation, globs);
    backend.begin_case("admit").map_err(harness)?;
    let namespaces: std::collections::BTreeSet<String> = resources
        .iter()
        .map(|r| r.namespace.clone())
        .chain(values.iter().filter_map(|d| {
            d.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_owned)
        }))
        .collect();
    let decided = (|| {
        for ns in &namespaces {
            backend.namespace_as_named(ns)?;
        }
        backend.apply(&values)?;
        resources
            .iter()
            .map(|r| {
                let mut pod = r.pod.clone();
                for key in ["initContainers", "containers", "ephemeralContainers"] {
                    for c in pod
                        .pointer_mut(&format!("/spec/{key}"))
                        .and_then(Value::as_array_mut)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(image) = c.get("image").and_then(Value::as_str) {
                            c["image"] = json!(relocation.image(&spelled_out(image)));
                        }
                    }
                }
                let req =
                    AdmissionRequest::pod(Operation::Create, &r.namespace, BTreeMap::new(), pod);
                backend
                    .admit(&req, 0)
                    .map(|d| outcome(r, unrelocated(d, &relocation.prefix)))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
    })();
    backend.end_case();
    let admitted = decided.map_err(harness)?;
    let disagreements = embedded
        .resources
        .iter()
        .zip(&admitted)
        .filter(|(e, k)| e.allowed != k.allowed)
        .map(|(e, k)| Disagreement {
            file: k.resource.file.clone(),
            document: k.resource.document,
            resource: format!("{}/{}", k.resource.kind, k.resource.name),
            embedded: e.allowed,
            kyverno: k.allowed,
            embedded_message: e.message.clone(),
            kyverno_message: k.message.clone(),
        })
        .collect::<Vec<_>>();
    Ok(AdmitReport {
        // A disagreement is a finding even when everything is admitted.
        exit_code: if disagreements.is_empty() {
            AdmitReport::code(&admitted)
        } else {
            crate::exit::FINDING
        },
        resources: admitted,
        cluster: Some(ClusterSide {
            backend: name,
            cluster: Value::Null,
            default_trust,
            disagreements,
        }),
        ..embedded
    })
}

/// An image reference with its registry written out as Kyverno reads it
/// (`nginx:1.25` is `docker.io/nginx:1.25`), so that a prefix puts it, not
/// its first path segment, under the cluster's registry.
fn spelled_out(image: &str) -> String {
    match crate::admission::image::ImageRef::kyverno(image) {
        Ok(r) => {
            let mut s = r.repository();
            if let Some(t) = &r.tag {
                s.push(':');
                s.push_str(t);
            }
            if let Some(d) = &r.digest {
                s.push('@');
                s.push_str(d);
            }
            s
        }
        Err(_) => image.to_owned(),
    }
}

/// A decision with the cluster registry's prefix taken off every image it
/// names (as the manifests name them).
fn unrelocated(mut d: Decision, prefix: &str) -> Decision {
    let p = format!("{prefix}/");
    let strip = |s: &mut String| *s = s.replace(&p, "");
    if let Some(m) = d.message.as_mut() {
        strip(m);
    }
    d.warnings.iter_mut().for_each(strip);
    for r in &mut d.results {
        strip(&mut r.message);
        if let Some(i) = r.image.as_mut() {
            strip(i);
        }
    }
    for patch in &mut d.patches {
        if let Some(v) = patch.get("value").and_then(Value::as_str) {
            patch["value"] = json!(v.replace(&p, ""));
        }
    }
    d
}

/// Every container of a Pod (init, regular, ephemeral) with its image.
fn containers(pod: &Value) -> Vec<(String, String)> {
    ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| {
            pod.pointer(&format!("/spec/{k}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .map(|c| {
            let s = |f: &str| c.get(f).and_then(Value::as_str).unwrap_or_default();
            (s("name").to_owned(), s("image").to_owned())
        })
        .collect()
}

fn outcome(r: &Resource, d: Decision) -> Admitted {
    let containers = containers(&r.pod);
    let results = d
        .results
        .iter()
        .map(|x| RuleOutcome {
            policy: x.policy.clone(),
            rule: x.rule.clone(),
            status: x.status.as_str(),
            message: x.message.clone(),
            container: x.image.as_ref().and_then(|i| {
                containers
                    .iter()
                    .find(|(_, img)| img == i)
                    .map(|(n, _)| n.clone())
            }),
            image: x.image.clone(),
        })
        .collect();
    Admitted {
        resource: r.clone(),
        allowed: d.allowed,
        message: d.message,
        warnings: d.warnings,
        patches: d.patches,
        results,
    }
}

/// The lab as admission evidence: its layout, its trusted root standing in
/// for Sigstore's public-good one (the lab signs as each vendor signs, under
/// its own CA and logs), its TUF repository, its clock.
pub fn lab_evidence(dir: &Path) -> Result<(Arc<dyn EvidenceVerifier>, EvidenceSource, i64)> {
    let layout = crate::lab_cli::open_layout(&crate::lab_cli::layout_dir(dir))?;
    let root = dir.join("trusted_root.json");
    let trust = crate::lab_cli::trusted_root(&root)?;
    let now = crate::lab_cli::LAB_NOW;
    let evidence = crate::experiment::lab::evidence_over(layout, dir, Some(trust));
    Ok((
        Arc::new(evidence),
        EvidenceSource {
            kind: "lab",
            path: dir.display().to_string(),
            default_trust: format!(
                "{} (the lab's Sigstore stands in for the public-good one; trust material a \
                 policy names is used as written)",
                root.display()
            ),
            clock: format!(
                "{} (the lab's fixed clock)",
                crate::report::experiment::rfc3339(now)
            ),
        },
        now,
    ))
}

/// An OCI image layout as admission evidence, on the system clock.
pub fn layout_evidence(
    dir: &Path,
    trusted_root_file: Option<&Path>,
) -> Result<(Arc<dyn EvidenceVerifier>, EvidenceSource, i64)> {
    let layout = crate::lab_cli::open_layout(dir)?;
    let trust = trusted_root_file
        .map(crate::lab_cli::trusted_root)
        .transpose()?;
    let now = chrono::Utc::now().timestamp();
    let default_trust = match trusted_root_file {
        Some(f) => format!("{} (given with --trusted-root)", f.display()),
        None => "nothing (no --trusted-root: only trust material a policy names verifies)".into(),
    };
    Ok((
        Arc::new(StoreEvidence::new(layout, trust, now)),
        EvidenceSource {
            kind: "layout",
            path: dir.display().to_string(),
            default_trust,
            clock: format!(
                "{} (the system clock)",
                crate::report::experiment::rfc3339(now)
            ),
        },
        now,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn workloads_become_the_pod_their_controller_creates() {
        let tmp = tempfile::tempdir().unwrap();
        let f = write(
            tmp.path(),
            "w.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n\
             spec:\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - {name: c, image: cgr.dev/chainguard/static:latest}\n\
             ---\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly}\n\
             spec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - {name: j, image: busybox}\n",
        );
        let r = read_resources(&[f], "default").unwrap();
        assert_eq!(
            r.iter()
                .map(|r| (r.kind.as_str(), r.name.as_str(), r.namespace.as_str()))
                .collect::<Vec<_>>(),
            [
                ("Deployment", "web", "shop"),
                ("CronJob", "nightly", "default")
            ]
        );
        assert_eq!(r[0].pod["kind"], "Pod");
        assert_eq!(r[0].pod["metadata"]["labels"]["app"], "web");
        assert_eq!(r[1].pod["spec"]["containers"][0]["image"], "busybox");
    }

    #[test]
    fn a_manifest_that_is_not_a_pod_or_workload_is_refused_with_its_place() {
        let tmp = tempfile::tempdir().unwrap();
        let f = write(
            tmp.path(),
            "cm.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: ok}\nspec: {containers: [{name: a, image: x}]}\n\
             ---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        );
        let e = read_resources(std::slice::from_ref(&f), "default").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("cm.yaml") && text.contains("document 2: kind"),
            "{text}"
        );
        assert!(text.contains("\"ConfigMap\""), "{text}");
        assert_eq!(e.exit_code(), crate::exit::USAGE);
        let g = write(
            tmp.path(),
            "empty.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n",
        );
        let e = read_resources(&[g], "default").unwrap_err().to_string();
        assert!(e.contains("document 1: spec.template"), "{e}");
    }

    #[test]
    fn non_kyverno_documents_are_skipped_and_listed() {
        let tmp = tempfile::tempdir().unwrap();
        let f = write(
            tmp.path(),
            "p.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n\
             apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: p}\nspec: {rules: []}\n",
        );
        let p = read_policies(std::slice::from_ref(&f), "default").unwrap();
        assert_eq!(p.documents.len(), 1);
        assert_eq!(p.skipped.len(), 1);
        assert_eq!(p.skipped[0].document, "ConfigMap/c");
        let only = write(
            tmp.path(),
            "q.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        );
        let e = read_policies(&[only], "default").unwrap_err();
        assert_eq!(e.exit_code(), crate::exit::USAGE);
    }
}
