//! `trustswap fidelity`: the generated corpus (`generate.rs`) on a real
//! backend's Kyverno and on the embedded engine, every admission decision
//! compared. The answer is whether the embedded engine can stand in for that
//! Kyverno: `fidelity.json` (cases, compared, skipped with reasons, each
//! disagreement with both decisions and messages) and, per disagreement, a
//! reproducer folder (the policies, the pod, the evidence) that a test loads
//! with [`Reproducer::load`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::compare::Disagreement;
use super::real::{RealRun, Target};
use super::runner::ScenarioResult;
use super::scenario::{Action, Change, ImageSel, Scenario};
use super::{RunPlan, generate, runner};
use crate::error::{Error, Result};
use crate::exit::Verdict;
use crate::policy::Engine;
use crate::yaml::write_atomic;

/// The `fidelity.json` layout version.
pub const SCHEMA_VERSION: u32 = 1;

/// One side of a disagreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Side {
    pub decision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One admission request decided differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseDisagreement {
    /// `<variant>/<engine>/<vendor>/<request>`.
    pub case: String,
    /// The policy variant: contract, identity matcher, edits, trust root.
    pub variant: String,
    pub engine: String,
    pub vendor: String,
    pub request: String,
    pub embedded: Side,
    pub kyverno: Side,
    /// The reproducer folder, relative to the report.
    pub reproducer: String,
}

/// `fidelity.json`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FidelityReport {
    pub schema_version: u32,
    pub backend: String,
    /// What was compared with: Kubernetes and Kyverno versions.
    pub cluster: Value,
    pub seed: u64,
    /// Cases asked for.
    pub cases: usize,
    /// Cases generated: the admission requests (CREATEs and UPDATEs) of
    /// every variant, x engines x vendors.
    pub generated: usize,
    pub variants: usize,
    pub compared: usize,
    pub skipped: Vec<String>,
    pub disagreements: Vec<CaseDisagreement>,
    /// Seen once, not reproduced when the case ran again on the cluster.
    pub unconfirmed: Vec<Disagreement>,
    /// `agrees`, `disagrees` or `undecided`.
    pub verdict: &'static str,
}

/// A disagreement, on its own: what a test needs to decide it again.
#[derive(Debug, Clone)]
pub struct Reproducer {
    /// Folder name (`001`, `002`...).
    pub name: String,
    pub case: CaseDisagreement,
    /// The lab seed the evidence comes from.
    pub seed: u64,
    /// The policy documents as applied, under the lab's own image names.
    pub policies: Vec<Value>,
    /// The pod of the admission request, under the lab's own image names
    /// (for an UPDATE, the pod as sent).
    pub pod: Value,
    /// An UPDATE's stored pod and subresource; `None`: a CREATE.
    pub update: Option<ReproducerUpdate>,
    /// The evidence: the lab fixtures the pod names, and their digests.
    pub evidence: Value,
    /// The Kyverno flags the case ran under beyond its chart's defaults
    /// (`enablePolicyException`, `exceptionNamespace`), which the embedded
    /// engine models too ([`Reproducer::exceptions`]).
    pub kyverno_flags: BTreeMap<String, String>,
}

/// What makes a reproducer an UPDATE.
#[derive(Debug, Clone)]
pub struct ReproducerUpdate {
    /// The pod as stored before the UPDATE (`old-pod.yaml`).
    pub old_pod: Value,
    /// `ephemeralcontainers`, or empty for the pod itself.
    pub sub_resource: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaseFile {
    seed: u64,
    /// `CREATE` (absent in folders written before UPDATEs) or `UPDATE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    operation: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    sub_resource: String,
    #[serde(flatten)]
    case: CaseDisagreement,
    evidence: Value,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    kyverno_flags: BTreeMap<String, String>,
}

impl Reproducer {
    /// Write the folder's files into `dir` (created if missing).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let case = CaseFile {
            seed: self.seed,
            operation: self.update.as_ref().map(|_| "UPDATE".to_owned()),
            sub_resource: self
                .update
                .as_ref()
                .map(|u| u.sub_resource.clone())
                .unwrap_or_default(),
            case: self.case.clone(),
            evidence: self.evidence.clone(),
            kyverno_flags: self.kyverno_flags.clone(),
        };
        let policies = self
            .policies
            .iter()
            .map(crate::yaml::to_yaml)
            .collect::<Result<Vec<_>>>()?
            .join("---\n");
        write_atomic(&dir.join("policies.yaml"), policies.as_bytes())?;
        write_atomic(
            &dir.join("pod.yaml"),
            crate::yaml::to_yaml(&self.pod)?.as_bytes(),
        )?;
        if let Some(u) = &self.update {
            write_atomic(
                &dir.join("old-pod.yaml"),
                crate::yaml::to_yaml(&u.old_pod)?.as_bytes(),
            )?;
        }
        write_atomic(
            &dir.join("case.json"),
            crate::report::pretty(&case)?.as_bytes(),
        )?;
        Ok(())
    }

    /// Read a reproducer folder back.
    pub fn load(dir: &Path) -> Result<Reproducer> {
        let path = dir.join("case.json");
        let case: CaseFile =
            serde_json::from_str(&crate::input::read_to_string(&path)?).map_err(|e| {
                Error::invalid(
                    path.clone(),
                    None,
                    "case",
                    e.to_string(),
                    "write it with `trustswap fidelity`",
                )
            })?;
        let policies = crate::yaml::parse_documents(&dir.join("policies.yaml"))?;
        let pod: Value = crate::yaml::parse_file(&dir.join("pod.yaml"))?;
        let update = match case.operation.as_deref() {
            None | Some("CREATE") => None,
            Some("UPDATE") => Some(ReproducerUpdate {
                old_pod: crate::yaml::parse_file(&dir.join("old-pod.yaml"))?,
                sub_resource: case.sub_resource.clone(),
            }),
            Some(other) => {
                return Err(Error::invalid(
                    path,
                    None,
                    "operation",
                    format!("`{other}` is not an operation a reproducer replays"),
                    "write CREATE or UPDATE",
                ));
            }
        };
        Ok(Reproducer {
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            case: case.case,
            seed: case.seed,
            policies,
            pod,
            update,
            evidence: case.evidence,
            kyverno_flags: case.kyverno_flags,
        })
    }

    /// The admission request the case decided: a CREATE of the pod, or the
    /// UPDATE of the stored pod to it.
    pub fn request(&self) -> crate::admission::request::AdmissionRequest {
        use crate::admission::request::{AdmissionRequest, Operation};
        let namespace = self.pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default");
        match &self.update {
            None => AdmissionRequest::pod(
                Operation::Create,
                namespace,
                BTreeMap::new(),
                self.pod.clone(),
            ),
            Some(u) => AdmissionRequest::pod_update(
                namespace,
                BTreeMap::new(),
                u.old_pod.clone(),
                self.pod.clone(),
                &u.sub_resource,
            ),
        }
    }

    /// The PolicyException flags the case ran under (Kyverno's default
    /// when the folder names none).
    pub fn exceptions(&self) -> crate::admission::ExceptionSettings {
        crate::admission::ExceptionSettings {
            enabled: self
                .kyverno_flags
                .get("enablePolicyException")
                .is_some_and(|v| v == "true"),
            namespace: self
                .kyverno_flags
                .get("exceptionNamespace")
                .cloned()
                .unwrap_or_default(),
        }
    }
}

/// The outcome of a fidelity run.
pub struct Fidelity {
    pub report: FidelityReport,
    pub reproducers: Vec<Reproducer>,
    pub verdict: Verdict,
}

/// Generate `cases` cases for `seed`, run them on `target` and on the
/// embedded engine, and compare every decision.
pub fn run(
    mut plan: RunPlan<'_>,
    cases: usize,
    target: Target,
    timeouts: crate::supply::registry::Timeouts,
) -> Result<Fidelity> {
    let runs = plan.engines.len() * plan.vendors.len();
    plan.scenarios = generate::corpus(cases, plan.seed, runs);
    let variants = plan.scenarios.len();
    let generated = runs
        * plan
            .scenarios
            .iter()
            .flat_map(|s| &s.steps)
            .filter(|st| matches!(st.action, Action::Admit { .. } | Action::Update { .. }))
            .count();
    let scenarios = plan.scenarios.clone();
    let contract = plan.contract.clone();
    let vendors = plan.vendors.to_vec();
    let seed = plan.seed;
    // The flags the cluster's Kyverno runs with: the local backend's are
    // trustswap's to set; a kind or existing cluster runs its own.
    let flags = match &target {
        Target::Local { .. } => super::kyverno_flags(&plan.exceptions()),
        _ => Vec::new(),
    };
    let real = super::real::run(plan, target, true, &[], timeouts)?;
    let comparison = real.comparison.clone();
    let (compared, skipped, unconfirmed, found) = match &comparison {
        Some(c) => (
            c.decisions,
            c.skipped.clone(),
            c.unconfirmed.clone(),
            c.disagreements.clone(),
        ),
        None => (0, Vec::new(), Vec::new(), Vec::new()),
    };
    let mut disagreements = Vec::new();
    let mut reproducers = Vec::new();
    for (i, d) in found.iter().enumerate() {
        let name = format!("{:03}", i + 1);
        let r = reproducer(
            &real, &scenarios, &contract, &vendors, seed, d, &name, &flags,
        )?;
        disagreements.push(r.case.clone());
        reproducers.push(r);
    }
    // A case real Kyverno decided both ways (unconfirmed) leaves the answer open.
    let verdict = if !disagreements.is_empty() {
        Verdict::DoesNotHold
    } else if comparison.is_none()
        || real.interrupted
        || !skipped.is_empty()
        || !unconfirmed.is_empty()
        || compared == 0
    {
        Verdict::Undecided
    } else {
        Verdict::Holds
    };
    Ok(Fidelity {
        report: FidelityReport {
            schema_version: SCHEMA_VERSION,
            backend: real.backend.to_owned(),
            cluster: serde_json::json!({
                "kubernetes": real.cluster["kubernetes"],
                "kyvernoImage": real.cluster["kyvernoImage"],
                "oracle": real.cluster["local"]["oracle"],
            }),
            seed,
            cases,
            generated,
            variants,
            compared,
            skipped,
            disagreements,
            unconfirmed,
            verdict: match verdict {
                Verdict::Holds => "agrees",
                Verdict::DoesNotHold => "disagrees",
                Verdict::Undecided => "undecided",
            },
        },
        reproducers,
        verdict,
    })
}

fn step_of<'a>(results: &'a [ScenarioResult], d: &Disagreement) -> Option<&'a runner::StepOutcome> {
    results
        .iter()
        .find(|s| s.id == d.scenario)?
        .runs
        .iter()
        .find(|r| r.engine.id() == d.engine && r.vendor == d.vendor)?
        .steps
        .iter()
        .find(|s| s.label == d.step)
}

#[allow(clippy::too_many_arguments)]
fn reproducer(
    real: &RealRun,
    scenarios: &[Scenario],
    contract: &crate::policy::Contract,
    vendors: &[crate::profile::Vendor],
    seed: u64,
    d: &Disagreement,
    name: &str,
    flags: &[(String, String)],
) -> Result<Reproducer> {
    let missing = |what: &str| Error::Internal {
        message: format!(
            "the disagreement {}/{}/{}/{} has no {what}",
            d.scenario, d.engine, d.vendor, d.step
        ),
    };
    let scenario = scenarios
        .iter()
        .find(|s| s.id == d.scenario)
        .ok_or_else(|| missing("scenario"))?;
    let vendor = vendors
        .iter()
        .find(|v| v.name == d.vendor)
        .ok_or_else(|| missing("vendor"))?;
    let engine = Engine::ALL
        .into_iter()
        .find(|e| e.id() == d.engine)
        .ok_or_else(|| missing("engine"))?;
    let index = scenario
        .steps
        .iter()
        .position(|s| s.label == d.step)
        .ok_or_else(|| missing("step"))?;
    let lab = &real.outcome.lab;
    let policies = runner::policies_at(lab, contract, scenario, engine, vendor, index)
        .map_err(|e| Error::harness("rendering a reproducer's policies", e))?;
    let embedded = step_of(&real.embedded, d);
    let kyverno = step_of(&real.outcome.scenarios, d);
    let request = embedded
        .and_then(|s| s.evidence.as_ref())
        .map(|e| e["request"].clone())
        .unwrap_or(Value::Null);
    let (pod, update) = if request["operation"] == "UPDATE" {
        (
            request["object"].clone(),
            Some(ReproducerUpdate {
                old_pod: request["oldObject"].clone(),
                sub_resource: request["subResource"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            }),
        )
    } else {
        (request, None)
    };
    let fixture = |sel: &ImageSel| {
        lab.fixture(&vendor.name, &sel.variant).map(|f| {
            // The corpus never re-pushes: a moved tag still points at its
            // earlier, signed digest (`LabContext::pin_before_repush`).
            let tag_points_at = f.previous_digest.as_ref().unwrap_or(&f.image_digest);
            serde_json::json!({
                "variant": sel.variant,
                "image": f.image_ref,
                "digest": f.image_digest,
                "tagPointsAt": tag_points_at,
                "byDigest": sel.pinned,
                "signature": f.expect_signature,
                "sbom": f.expect_sbom,
            })
        })
    };
    let evidence = match &scenario.steps[index].action {
        Action::Admit { pod } => serde_json::json!({
            "lab": format!("trustswap lab init --seed {seed}"),
            "app": fixture(&pod.image),
            "init": pod.init_image.as_ref().and_then(fixture),
        }),
        Action::Update { update } => {
            // The pod as its `admit` step created it, then the change.
            let created = scenario.steps[..index]
                .iter()
                .find_map(|s| match &s.action {
                    Action::Admit { pod }
                        if pod.name == update.pod && pod.namespace == update.namespace =>
                    {
                        Some(pod)
                    }
                    _ => None,
                });
            let image = match &update.change {
                Change::Relabel => None,
                Change::Image(sel) | Change::Debug(sel) => fixture(sel),
            };
            serde_json::json!({
                "lab": format!("trustswap lab init --seed {seed}"),
                "created": created.map(|p| serde_json::json!({
                    "app": fixture(&p.image),
                    "init": p.init_image.as_ref().and_then(fixture),
                })),
                "update": update.change.describe(),
                "image": image,
            })
        }
        _ => Value::Null,
    };
    Ok(Reproducer {
        name: name.to_owned(),
        case: CaseDisagreement {
            case: format!("{}/{}/{}/{}", d.scenario, d.engine, d.vendor, d.step),
            variant: scenario.hypothesis.clone(),
            engine: d.engine.clone(),
            vendor: d.vendor.clone(),
            request: d.step.clone(),
            embedded: Side {
                decision: d.embedded.clone(),
                message: embedded.and_then(|s| s.detail.clone()),
            },
            kyverno: Side {
                decision: d.cluster.clone(),
                message: kyverno
                    .and_then(|s| s.detail.as_deref())
                    .map(|m| lab_names(m, real)),
            },
            reproducer: format!("reproducers/{name}"),
        },
        seed,
        policies,
        pod,
        update,
        evidence,
        kyverno_flags: flags.iter().cloned().collect(),
    })
}

/// A cluster's message under the lab's names: images without the registry
/// they were served from, namespaces without the run's prefix, so that a
/// report does not change from one run to the next.
fn lab_names(message: &str, real: &RealRun) -> String {
    let served = real.cluster["fixturesServedAs"]
        .as_str()
        .and_then(|s| s.strip_suffix("<reference>"))
        .unwrap_or_default();
    unserved(message, served)
}

/// `message` without the `served` prefix of image names and the run's
/// namespace prefix.
fn unserved(message: &str, served: &str) -> String {
    let m = if served.is_empty() {
        message.to_owned()
    } else {
        message.replace(served, "")
    };
    match regex::Regex::new(r"\bts-[0-9a-f]+-[0-9]{3}-") {
        Ok(run_prefix) => run_prefix.replace_all(&m, "").into_owned(),
        Err(_) => m,
    }
}

/// Write `fidelity.json` and the reproducers into `dir` (an empty folder).
pub fn write(dir: &Path, f: &Fidelity) -> Result<()> {
    write_atomic(
        &dir.join("fidelity.json"),
        crate::report::pretty(&f.report)?.as_bytes(),
    )?;
    for r in &f.reproducers {
        // `write_atomic` creates the folder.
        r.write(&dir.join("reproducers").join(&r.name))?;
    }
    Ok(())
}

/// The terminal summary.
pub fn summary(r: &FidelityReport) -> String {
    let mut o = format!(
        "fidelity on {} (seed {}): {} cases generated ({} variants), {} compared, {} skipped, {} disagreements, {} unconfirmed\n",
        r.backend,
        r.seed,
        r.generated,
        r.variants,
        r.compared,
        r.skipped.len(),
        r.disagreements.len(),
        r.unconfirmed.len()
    );
    for s in &r.skipped {
        o.push_str(&format!("  skipped: {s}\n"));
    }
    for d in &r.disagreements {
        o.push_str(&format!(
            "  {}: embedded {}, kyverno {} ({})\n",
            d.case, d.embedded.decision, d.kyverno.decision, d.reproducer
        ));
    }
    o.push_str(&format!("verdict: {}\n", r.verdict));
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_written_under_the_lab_s_names() {
        let m = "resource Pod/ts-c942bb3d-005-apps/r0 was blocked: missing digest for 127.0.0.1:38779/cgr.dev/chainguard/static:latest";
        assert_eq!(
            unserved(m, "127.0.0.1:38779/"),
            "resource Pod/apps/r0 was blocked: missing digest for cgr.dev/chainguard/static:latest"
        );
        assert_eq!(unserved("no prefix here", ""), "no prefix here");
    }
}
