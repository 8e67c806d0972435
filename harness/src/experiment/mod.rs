//! Hypothesis experiments: scenario files (`scenario`), the lab as they see it
//! (`lab`), the simulated cluster (`cluster`) and the runner (`runner`).

pub mod audit_step;
pub mod cluster;
pub mod compare;
pub mod fidelity;
pub mod generate;
pub mod lab;
pub mod own;
pub mod patch;
pub mod real;
pub mod runner;
pub mod scenario;

use crate::exit::Verdict;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use crate::backend::Backend;
use crate::backend::embedded::Embedded;
use crate::check::{self, CheckResult};
use crate::error::{Error, Result};
use crate::policy::{Contract, Engine};
use crate::profile::Vendor;
use runner::{Event, Runner, ScenarioResult, Status};

use scenario::{IdentityMode, Scenario};

/// What `trustswap run` decided.
pub struct RunOutcome {
    pub check: CheckResult,
    pub scenarios: Vec<ScenarioResult>,
    pub lab: lab::LabContext,
    /// `run --policies`: each hand-written set's trust edits and their proof.
    pub own: Vec<own::OwnReport>,
}

impl RunOutcome {
    /// Deviated beats errored: a finding is a definite answer.
    pub fn verdict(&self) -> Verdict {
        let statuses: Vec<Status> = self.scenarios.iter().map(|s| s.status).collect();
        let repointing_holds = self.own.iter().all(|o| o.proof.verdict.holds());
        if statuses.contains(&Status::Deviated) || !self.check.verdict.holds() {
            Verdict::DoesNotHold
        } else if statuses.contains(&Status::Errored) || !repointing_holds {
            Verdict::Undecided
        } else {
            Verdict::Holds
        }
    }
}

pub struct RunPlan<'a> {
    pub contract: &'a Contract,
    pub vendors: &'a [Vendor],
    pub engines: &'a [Engine],
    pub baseline: Option<&'a str>,
    pub scenarios: Vec<Scenario>,
    pub lab_dir: PathBuf,
    pub seed: u64,
    /// Hand-written sets (`run --policies`) that replace the rendered
    /// policies of their vendors; the run's vendors are then theirs.
    pub own: &'a [own::OwnSet],
    /// Stops the run between steps (Ctrl-C on a real cluster); runs not
    /// started are errored "interrupted before this run".
    pub cancel: crate::interrupt::CancelToken,
}

/// The lab, the static check on the lab-rendered policies (or on the
/// hand-written sets, as written) and, for hand-written sets, their trust
/// edits: what every backend's run starts from.
pub fn prepare(plan: &RunPlan<'_>) -> Result<(lab::LabContext, CheckResult, Vec<own::OwnReport>)> {
    let lab = lab::LabContext::build(&plan.lab_dir, plan.seed, plan.vendors)?;
    if !plan.own.is_empty() {
        let reports = plan
            .vendors
            .iter()
            .filter_map(|v| {
                let set = plan.own.iter().find(|s| s.vendor == v.name)?;
                Some(set.report(v, &lab))
            })
            .collect::<Result<Vec<_>>>()?;
        let check = own_check(plan)?;
        return Ok((lab, check, reports));
    }
    let lab_vendors: Vec<Vendor> = plan
        .vendors
        .iter()
        .map(|v| {
            lab.vendor(v, IdentityMode::Profile, Engine::Cpol)
                .map(|(v, _)| v)
        })
        .collect::<Result<_>>()?;
    let check = check::check(
        plan.contract,
        &lab_vendors,
        plan.engines,
        plan.baseline,
        &lab.trust,
    )?;
    Ok((lab, check, Vec::new()))
}

/// The static check between hand-written sets as written, per engine: one
/// set per vendor, compared with the baseline's (a vendor whose set has no
/// policy of that engine compares as an empty set).
fn own_check(plan: &RunPlan<'_>) -> Result<CheckResult> {
    let base_idx = match plan.baseline {
        None => 0,
        Some(b) => plan
            .vendors
            .iter()
            .position(|v| v.name == b)
            .ok_or_else(|| Error::UnknownVendor {
                name: b.to_owned(),
                known: plan.vendors.iter().map(|v| v.name.clone()).collect(),
            })?,
    };
    let mut results = Vec::new();
    for &engine in plan.engines {
        let sets = plan
            .vendors
            .iter()
            .map(|v| {
                let documents = plan
                    .own
                    .iter()
                    .find(|s| s.vendor == v.name)
                    .map(|s| s.documents_for(engine))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(origin, value)| crate::policy::Document {
                        origin,
                        value,
                        source: None,
                    })
                    .collect();
                crate::policy::PolicySet {
                    label: v.name.clone(),
                    documents,
                    files: Vec::new(),
                }
            })
            .collect();
        results.push(check::compare(engine, plan.vendors, sets, base_idx));
    }
    Ok(CheckResult {
        verdict: check::Verdict::of(results.iter().all(|r| r.verdict.holds())),
        vendors: plan.vendors.iter().map(|v| v.name.clone()).collect(),
        engines: results,
    })
}

/// Every scenario of the plan on `backend`, with a progress line on a terminal.
pub fn scenarios<B: Backend>(
    plan: &RunPlan<'_>,
    lab: &lab::LabContext,
    backend: B,
) -> Result<Vec<ScenarioResult>> {
    let mut runner = Runner {
        backend,
        lab,
        contract: plan.contract,
        vendors: plan.vendors,
        engines: plan.engines,
        own: plan.own,
        cancel: plan.cancel.clone(),
    };
    let tty = std::io::stderr().is_terminal();
    let name = runner.backend.name();
    let results = runner.run(&plan.scenarios, |e| {
        if let Event::Finished {
            done,
            total,
            scenario,
            engine,
            vendor,
            status,
        } = e
            && tty
        {
            eprint!(
                "\r\x1b[2K[{name} {done}/{total}] {scenario} {engine}/{vendor}: {}",
                status.id()
            );
            if done == total {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        }
    });
    if results.is_empty() {
        return Err(Error::Usage {
            message: "no scenario selected".into(),
            hint: "check --scenario names against scenarios/".into(),
        });
    }
    Ok(results)
}

/// The embedded backend over the lab's evidence, under the plan's
/// PolicyException flags ([`RunPlan::exceptions`]).
pub fn embedded(lab: &lab::LabContext, plan: &RunPlan<'_>) -> Embedded {
    let evidence: std::sync::Arc<dyn crate::admission::verifier::EvidenceVerifier> =
        lab.evidence.clone();
    Embedded::new(evidence).with_exceptions(plan.exceptions())
}

impl RunPlan<'_> {
    /// The PolicyException flags of the cluster the run models: Kyverno's
    /// default (off: every exception ignored) unless a scenario creates an
    /// exception, then on for every namespace (`--enablePolicyException=true
    /// --exceptionNamespace=*`), on the embedded engine and on the local
    /// backend's Kyverno alike ([`kyverno_flags`]). A kind cluster or your
    /// own runs its Kyverno's flags, which `--compare` then shows.
    pub fn exceptions(&self) -> crate::admission::ExceptionSettings {
        let creates = self.scenarios.iter().any(|s| {
            s.steps
                .iter()
                .any(|st| matches!(st.action, scenario::Action::Exception { .. }))
        });
        if creates {
            crate::admission::ExceptionSettings::every_namespace()
        } else {
            crate::admission::ExceptionSettings::default()
        }
    }
}

/// Kyverno's command-line flags for `exceptions` beyond its chart's (the
/// local backend sets them on its admission and reports controllers).
pub fn kyverno_flags(exceptions: &crate::admission::ExceptionSettings) -> Vec<(String, String)> {
    if !exceptions.enabled {
        return Vec::new();
    }
    let mut flags = vec![(
        "enablePolicyException".to_owned(),
        exceptions.enabled.to_string(),
    )];
    if !exceptions.namespace.is_empty() {
        flags.push((
            "exceptionNamespace".to_owned(),
            exceptions.namespace.clone(),
        ));
    }
    flags
}

/// Build the lab, run the static check on the lab-rendered policies, then
/// every scenario on the embedded backend.
pub fn run(plan: RunPlan<'_>) -> Result<RunOutcome> {
    let (lab, check, own) = prepare(&plan)?;
    let scenarios = scenarios(&plan, &lab, embedded(&lab, &plan))?;
    Ok(RunOutcome {
        check,
        scenarios,
        lab,
        own,
    })
}
