//! Runs hypotheses against a backend, one (scenario, engine, vendor) at a
//! time, and emits results. The runner decides held / deviated / errored; it
//! never formats output (reports consume `ExperimentResult`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Value, json};

use super::cluster::{AdmissionRecord, Cluster, Container, ExceptionRecord, RunningPod};
use super::lab::LabContext;
use super::own::{self, OwnSet};
use super::scenario::{
    Action, AppliesTo, AuditStatus, Change, ContractPatch, Expect, IdentityMode, ImageSel, Kind,
    Outcome, Pod, Revocation, Scenario, TrustRootMode, Update,
};
use crate::admission::decision::Decision;
use crate::admission::image::ImageRef;
use crate::admission::request::{AdmissionRequest, Operation};
use crate::admission::verifier::EvidenceVerifier;
use crate::backend::BackendError;
use crate::backend::{Backend, Capabilities, LivePod};
use crate::policy::render::render_with;
use crate::policy::{Contract, Engine};
use crate::profile::{Identity, Vendor};
use crate::report::experiment::rfc3339;

/// Held / deviated / errored are never collapsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Held,
    NotApplicable,
    Deviated,
    Errored,
}

impl Status {
    pub fn id(self) -> &'static str {
        match self {
            Status::Held => "held",
            Status::NotApplicable => "not-applicable",
            Status::Deviated => "deviated",
            Status::Errored => "errored",
        }
    }
}

/// What a step did: the one observation that expectations, reports, the
/// cross-vendor comparison and the comparison with real Kyverno read.
/// Written as words (`admitted`, `admitted+reported`, `p=drifted, q=absent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// An admission decision, and whether a report entry or a warning said
    /// something about it.
    Decision { outcome: Outcome, reported: bool },
    /// A step that only changes the world (`clock advanced`, `tag re-pushed`).
    Quiet(&'static str),
    /// The drift audit's status of each pod the expectation names, in its
    /// order (`None`: the audit found no such pod).
    Audit(Vec<(String, Option<AuditStatus>)>),
    /// The step could not run.
    Errored,
}

impl Observation {
    /// The step's `observed` word.
    pub fn word(&self) -> String {
        match self {
            Observation::Decision { outcome, .. } => outcome_word(*outcome).to_owned(),
            Observation::Quiet(w) => (*w).to_owned(),
            Observation::Audit(pods) => pods
                .iter()
                .map(|(p, s)| format!("{p}={}", s.map_or("absent", |s| s.as_str())))
                .collect::<Vec<_>>()
                .join(", "),
            Observation::Errored => "errored".to_owned(),
        }
    }

    /// The behaviour record of the step: the word, `+reported` for a
    /// decision something reported on, and nothing for a quiet step (it
    /// behaves alike for every vendor by construction).
    pub fn record(&self) -> String {
        match self {
            Observation::Decision {
                reported: true,
                outcome,
            } => format!("{}+reported", outcome_word(*outcome)),
            Observation::Quiet(_) => String::new(),
            other => other.word(),
        }
    }
}

impl std::fmt::Display for Observation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.word())
    }
}

impl Serialize for Observation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.word())
    }
}

/// `observations`: each step's record.
fn records<S: serde::Serializer>(
    list: &[Observation],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(list.iter().map(Observation::record))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepOutcome {
    pub label: String,
    /// What was expected, in words (absent for steps without an expectation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    pub observed: Observation,
    /// Whether the expectation was met (absent without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    /// The admission message, or the audit findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The evidence record (admission request and decision) for this step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    pub engine: Engine,
    pub vendor: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub steps: Vec<StepOutcome>,
    /// The behaviour, step by step, with no vendor-specific text: what the
    /// cross-vendor comparison compares (written as records).
    #[serde(serialize_with = "records")]
    pub observations: Vec<Observation>,
}

impl RunResult {
    /// A run that ended before any step: not applicable, or errored.
    fn without_steps(engine: Engine, vendor: &str, status: Status, reason: String) -> RunResult {
        RunResult {
            engine,
            vendor: vendor.to_owned(),
            status,
            reason: Some(reason),
            steps: vec![],
            observations: vec![],
        }
    }
}

/// Why a run could not be completed (it is then errored, never held or
/// deviated). Typed so that a policy the embedded engine does not model, a
/// backend that failed and a scenario the lab cannot serve stay apart, and
/// so that every cause reaches the report ([`RunError::chain`]).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The backend could not apply, admit, or inspect.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The lab or the renderer failed.
    #[error(transparent)]
    Harness(#[from] crate::error::Error),
    /// The scenario asks for something the lab does not hold (a fixture, a
    /// well-formed reference).
    #[error("{0}")]
    Scenario(String),
    /// A lab reference that does not parse.
    #[error(transparent)]
    Reference(#[from] trustswap_model::image::ImageRefError),
    /// The lab's store could not resolve a tag.
    #[error("resolving a tag in the lab")]
    Resolve(#[from] crate::admission::ResolveError),
    /// A lab key that does not parse.
    #[error("the lab's rotated key")]
    LabKey(#[from] trustswap_model::fingerprint::KeyError),
    /// Ctrl-C: the run stopped before this point.
    #[error("interrupted")]
    Interrupted,
}

impl RunError {
    /// The error and its causes on one line, `a: b: c`.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        // `transparent` forwards Display to the wrapped error, so its own
        // source comes next
        while let Some(c) = cause {
            let text = c.to_string();
            if !out.ends_with(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            cause = c.source();
        }
        out
    }
}

impl RunError {
    /// The reason of a run that ended before its first step.
    fn before_run(&self) -> String {
        match self {
            RunError::Interrupted => "interrupted before this run".to_owned(),
            e => e.chain(),
        }
    }
}

impl From<String> for RunError {
    fn from(s: String) -> Self {
        RunError::Scenario(s)
    }
}

impl From<&str> for RunError {
    fn from(s: &str) -> Self {
        RunError::Scenario(s.to_owned())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Matrix {
    pub engine: Engine,
    /// Rows: policy vendor; columns: signer vendor; `true`: admitted.
    pub vendors: Vec<String>,
    pub admitted: Vec<Vec<bool>>,
    pub diagonal: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioResult {
    pub id: String,
    pub title: String,
    pub layer: super::scenario::Layer,
    pub hypothesis: String,
    pub status: Status,
    pub identical_across_vendors: bool,
    /// Per engine: whether every vendor behaved the same (when required).
    pub substitution: BTreeMap<String, bool>,
    pub runs: Vec<RunResult>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matrices: Vec<Matrix>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One line of progress, for the terminal.
pub enum Event<'a> {
    Started {
        total: usize,
    },
    Finished {
        done: usize,
        total: usize,
        scenario: &'a str,
        engine: Engine,
        vendor: &'a str,
        status: Status,
    },
}

pub struct Runner<'a, B: Backend> {
    pub backend: B,
    pub lab: &'a LabContext,
    pub contract: &'a Contract,
    pub vendors: &'a [Vendor],
    pub engines: &'a [Engine],
    /// Hand-written sets that replace the rendered policies of their vendors.
    pub own: &'a [OwnSet],
    /// Checked before each run and each step.
    pub cancel: crate::interrupt::CancelToken,
}

/// The state's contract rendered for the lab vendor (served from
/// `relocation`, when given), with the scenario's edits; or the vendor's
/// hand-written set (`own`, with the contract the scenario edits are measured
/// from) re-pointed at the lab, with the same edits made structurally.
fn rendered(
    lab: &LabContext,
    st: &RunState,
    contract: &Contract,
    relocation: Option<&crate::backend::relocate::Relocation>,
    own: Option<(&OwnSet, &Contract)>,
) -> Result<Vec<Value>, RunError> {
    if let Some((set, base)) = own {
        let state = own::State {
            engine: st.engine,
            identity: st.identity,
            trust_root: st.trust_root,
            contract,
            base,
        };
        let mut docs = own::documents(set, &st.vendor, lab, &state)?;
        crate::experiment::patch::apply(&mut docs, &st.patches);
        if let Some(r) = relocation {
            own::relocate(&mut docs, r, &st.vendor.images);
        }
        return Ok(docs);
    }
    let (vendor, trust) = lab.vendor(&st.vendor, st.identity, st.engine)?;
    let trust = lab.trust_root(trust, st.trust_root);
    let vendor = match relocation {
        Some(r) => r.vendor(&vendor),
        None => vendor,
    };
    let set = render_with(contract, &vendor, st.engine, &trust)?;
    let mut docs: Vec<Value> = set.documents.into_iter().map(|d| d.value).collect();
    crate::experiment::patch::apply(&mut docs, &st.patches);
    Ok(docs)
}

/// The policies a run of `scenario` for (`engine`, `vendor`) has applied when
/// it reaches step `upto`, under the lab's own image names: the setup, then
/// every earlier step that changes them, the exceptions created so far included. What a
/// reproducer of one of that step's decisions holds.
pub fn policies_at(
    lab: &LabContext,
    contract: &Contract,
    scenario: &Scenario,
    engine: Engine,
    vendor: &Vendor,
    upto: usize,
) -> Result<Vec<Value>, RunError> {
    let mut st = RunState {
        contract: patched(contract, &scenario.contract),
        identity: scenario.identity,
        trust_root: scenario.trust_root,
        patches: scenario.patches.clone(),
        cluster: Cluster::new(lab.now),
        vendor: vendor.clone(),
        engine,
        kept: BTreeSet::new(),
        stored: BTreeMap::new(),
    };
    let mut exceptions = Vec::new();
    for step in scenario.steps.iter().take(upto) {
        match &step.action {
            Action::Contract { patch } => st.contract = patched(&st.contract, patch),
            Action::Identity { mode } => st.identity = *mode,
            Action::TrustRoot { mode } => st.trust_root = *mode,
            Action::Exception { exception } => exceptions.push((
                exception.clone(),
                st.cluster.now + exception.expires_in_seconds,
            )),
            Action::Advance { seconds } => {
                st.cluster.advance(*seconds);
            }
            _ => {}
        }
    }
    let mut docs = rendered(lab, &st, &st.contract, None, None)?;
    // The exceptions created so far, under the lab's namespace names, as the
    // embedded backend applies them.
    docs.extend(
        exceptions
            .iter()
            .map(|(e, expires_at)| exception_document(&st, e, &e.namespace, *expires_at)),
    );
    Ok(docs)
}

fn patched(contract: &Contract, patch: &ContractPatch) -> Contract {
    let mut c = contract.clone();
    if let Some(a) = patch.failure_action {
        c.failure_action = a;
    }
    if let Some(p) = patch.failure_policy {
        c.failure_policy = p;
    }
    if let Some(r) = patch.require_sbom {
        c.require_sbom = r;
    }
    c
}

fn applies(scenario: &Scenario, vendor: &Vendor) -> bool {
    matches!(
        (scenario.applies_to, &vendor.identity),
        (AppliesTo::All, _)
            | (AppliesTo::Keyless, Identity::Keyless { .. })
            | (AppliesTo::KeyBased, Identity::Key(_))
    )
}

/// The state of one (scenario, engine, vendor) run.
struct RunState {
    contract: Contract,
    identity: IdentityMode,
    trust_root: TrustRootMode,
    patches: Vec<crate::experiment::patch::PolicyPatch>,
    cluster: Cluster,
    vendor: Vendor,
    engine: Engine,
    /// The pods a later `update` step changes: their `admit` step stores
    /// them ((namespace, name), the scenario's namespace).
    kept: BTreeSet<(String, String)>,
    /// Those pods as stored when admitted.
    stored: BTreeMap<(String, String), Value>,
}

/// A decision's detail: the denial message, or else what `report` says.
fn detail_of(d: &Decision, report: &[crate::admission::decision::ReportEntry]) -> Option<String> {
    d.message.clone().or_else(|| {
        (!report.is_empty()).then(|| {
            report
                .iter()
                .map(|r| format!("{}/{}: {}", r.policy, r.rule, r.message))
                .collect::<Vec<_>>()
                .join("; ")
        })
    })
}

/// What an `update` step observes when its pod's create was denied.
pub const NOT_CREATED: &str = "not created: nothing to update";

/// The label a `relabel` update adds.
pub const UPDATED_LABEL: &str = "trustswap.dev/updated";

/// The pods `update` steps change.
fn kept_pods(s: &Scenario) -> BTreeSet<(String, String)> {
    s.steps
        .iter()
        .filter_map(|st| match &st.action {
            Action::Update { update } => Some((update.namespace.clone(), update.pod.clone())),
            _ => None,
        })
        .collect()
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Admitted => "admitted",
        Outcome::Denied => "denied",
    }
}

fn reported(d: &Decision) -> bool {
    !d.report.is_empty() || !d.warnings.is_empty()
}

impl<'a, B: Backend> Runner<'a, B> {
    pub fn run(
        &mut self,
        scenarios: &[Scenario],
        mut on: impl FnMut(Event<'_>),
    ) -> Vec<ScenarioResult> {
        let total: usize = scenarios
            .iter()
            .map(|s| {
                self.engines.len()
                    * if s.kind == Kind::Matrix {
                        1
                    } else {
                        self.vendors.len()
                    }
            })
            .sum();
        on(Event::Started { total });
        let mut done = 0;
        let mut out = Vec::new();
        for s in scenarios {
            let mut runs = Vec::new();
            let mut matrices = Vec::new();
            for &engine in self.engines {
                if s.kind == Kind::Matrix {
                    let m = if self.cancel.is_cancelled() {
                        Err(RunError::Interrupted)
                    } else {
                        self.matrix(s, engine)
                    };
                    done += 1;
                    let status = match &m {
                        Ok(m) if m.diagonal => Status::Held,
                        Ok(_) => Status::Deviated,
                        Err(_) => Status::Errored,
                    };
                    on(Event::Finished {
                        done,
                        total,
                        scenario: &s.id,
                        engine,
                        vendor: "all",
                        status,
                    });
                    match m {
                        Ok(m) => matrices.push(m),
                        Err(e) => runs.push(RunResult::without_steps(
                            engine,
                            "all",
                            status,
                            e.before_run(),
                        )),
                    }
                    continue;
                }
                for vendor in self.vendors {
                    let r = if !applies(s, vendor) {
                        RunResult::without_steps(
                            engine,
                            &vendor.name,
                            Status::NotApplicable,
                            format!("applies to {:?} vendors only", s.applies_to).to_lowercase(),
                        )
                    } else if self.cancel.is_cancelled() {
                        RunResult::without_steps(
                            engine,
                            &vendor.name,
                            Status::Errored,
                            "interrupted before this run".into(),
                        )
                    } else if let Some(why) = self.own_set(&vendor.name).and_then(|set| {
                        let relocated = self.backend.relocation().is_some();
                        own::not_applicable(s, engine, set, self.contract, relocated)
                    }) {
                        RunResult::without_steps(engine, &vendor.name, Status::NotApplicable, why)
                    } else if !self.lab.has_vendor(&vendor.name) {
                        RunResult::without_steps(
                            engine,
                            &vendor.name,
                            Status::Errored,
                            format!("the lab has no fixtures for vendor `{}`", vendor.name),
                        )
                    } else {
                        self.run_one(s, engine, vendor)
                    };
                    done += 1;
                    on(Event::Finished {
                        done,
                        total,
                        scenario: &s.id,
                        engine,
                        vendor: &vendor.name,
                        status: r.status,
                    });
                    runs.push(r);
                }
            }
            out.push(self.conclude(s, runs, matrices));
        }
        out
    }

    fn conclude(
        &self,
        s: &Scenario,
        runs: Vec<RunResult>,
        matrices: Vec<Matrix>,
    ) -> ScenarioResult {
        let mut substitution = BTreeMap::new();
        let mut reason = None;
        if s.identical_across_vendors && s.kind == Kind::Steps {
            for &engine in self.engines {
                let vectors: Vec<&RunResult> = runs
                    .iter()
                    .filter(|r| {
                        r.engine == engine
                            && r.status != Status::NotApplicable
                            && r.status != Status::Errored
                    })
                    .collect();
                let same = vectors
                    .windows(2)
                    .all(|w| w[0].observations == w[1].observations);
                if !same && reason.is_none() {
                    let first = vectors
                        .first()
                        .map(|r| r.vendor.clone())
                        .unwrap_or_default();
                    let odd = vectors
                        .iter()
                        .find(|r| Some(&r.observations) != vectors.first().map(|f| &f.observations))
                        .map(|r| r.vendor.clone())
                        .unwrap_or_default();
                    reason = Some(format!(
                        "{engine}: vendors behave differently ({first} vs {odd})"
                    ));
                }
                substitution.insert(engine.id().to_owned(), same);
            }
        }
        let mut status = runs
            .iter()
            .map(|r| r.status)
            .chain(matrices.iter().map(|m| {
                if m.diagonal {
                    Status::Held
                } else {
                    Status::Deviated
                }
            }))
            .filter(|s| *s != Status::NotApplicable)
            .max()
            .unwrap_or(Status::NotApplicable);
        if substitution.values().any(|same| !same) && status == Status::Held {
            status = Status::Deviated;
        }
        if reason.is_none() {
            reason = runs
                .iter()
                .find(|r| r.status == status && r.status != Status::Held)
                .and_then(|r| {
                    r.reason
                        .clone()
                        .map(|x| format!("{}/{}: {x}", r.engine, r.vendor))
                });
        }
        ScenarioResult {
            id: s.id.clone(),
            title: s.title.clone(),
            layer: s.layer,
            hypothesis: s.hypothesis.clone(),
            status,
            identical_across_vendors: s.identical_across_vendors,
            substitution,
            runs,
            matrices,
            reason,
        }
    }

    /// Policy documents for the state: the contract rendered for the lab
    /// vendor, plus the live exceptions. The namespaces the contract excludes
    /// are named as the backend names them (a real cluster gives every run
    /// namespaces of its own).
    fn apply(&mut self, st: &RunState) -> Result<(), RunError> {
        let mut contract = st.contract.clone();
        for ns in &mut contract.exclude_namespaces {
            *ns = self.backend.namespace(ns)?;
        }
        let own = self.own_set(&st.vendor.name).map(|s| (s, self.contract));
        let mut docs = rendered(self.lab, st, &contract, self.backend.relocation(), own)?;
        docs.extend(st.cluster.exceptions.iter().map(|e| e.document.clone()));
        Ok(self.backend.apply(&docs)?)
    }

    fn own_set(&self, vendor: &str) -> Option<&'a OwnSet> {
        self.own.iter().find(|s| s.vendor == vendor)
    }

    fn run_one(&mut self, s: &Scenario, engine: Engine, vendor: &Vendor) -> RunResult {
        if let Some(missing) = missing_capability(s, self.backend.capabilities()) {
            return RunResult::without_steps(
                engine,
                &vendor.name,
                Status::NotApplicable,
                format!(
                    "needs {missing}, which the {} backend cannot do (the embedded backend runs it)",
                    self.backend.name()
                ),
            );
        }
        if let Err(e) = self
            .backend
            .begin_case(&format!("{}/{engine}/{}", s.id, vendor.name))
        {
            return RunResult::without_steps(
                engine,
                &vendor.name,
                Status::Errored,
                RunError::from(e).chain(),
            );
        }
        let result = self.run_case(s, engine, vendor);
        self.backend.end_case();
        result
    }

    fn run_case(&mut self, s: &Scenario, engine: Engine, vendor: &Vendor) -> RunResult {
        let live = s.steps.iter().any(|st| matches!(st.action, Action::Audit));
        let mut st = RunState {
            contract: patched(self.contract, &s.contract),
            identity: s.identity,
            trust_root: s.trust_root,
            patches: s.patches.clone(),
            cluster: Cluster::new(self.lab.now),
            vendor: vendor.clone(),
            engine,
            kept: kept_pods(s),
            stored: BTreeMap::new(),
        };
        let mut result = RunResult {
            engine,
            vendor: vendor.name.clone(),
            status: Status::Held,
            reason: None,
            steps: Vec::new(),
            observations: Vec::new(),
        };
        // Before a re-push, the moved tag still points at the signed digest.
        if let Some((repo, tag, prev)) = self.lab.pin_before_repush(&vendor.name)
            && let Err(e) = self.backend.set_tag(&repo, &tag, &prev)
        {
            result.status = Status::Errored;
            result.reason = Some(format!("cannot point {repo}:{tag} at {prev}: {e}"));
            return result;
        }
        if let Err(e) = self.apply(&st) {
            result.status = Status::Errored;
            result.reason = Some(e.chain());
            return result;
        }
        for step in &s.steps {
            if self.cancel.is_cancelled() {
                result.status = Status::Errored;
                result.reason = Some(format!("{}: interrupted", step.label));
                break;
            }
            let expect = step.expect.as_ref().map(|e| e.for_engine(engine));
            match self.step(&mut st, &step.action, expect.as_ref(), live) {
                Ok((observed, detail, evidence)) => {
                    let (expected, ok) = match &expect {
                        Some(e) => {
                            let ok = meets(e, &observed, detail.as_deref());
                            (Some(describe(e)), Some(ok))
                        }
                        None => (None, None),
                    };
                    if ok == Some(false) && result.status == Status::Held {
                        result.status = Status::Deviated;
                        result.reason = Some(format!(
                            "{}: expected {}, observed {}",
                            step.label,
                            expected.clone().unwrap_or_default(),
                            observed.word()
                        ));
                    }
                    result.observations.push(observed.clone());
                    result.steps.push(StepOutcome {
                        label: step.label.clone(),
                        expected,
                        observed,
                        ok,
                        detail,
                        evidence,
                    });
                }
                Err(e) => {
                    let e = e.chain();
                    result.status = Status::Errored;
                    result.reason = Some(format!("{}: {e}", step.label));
                    result.steps.push(StepOutcome {
                        label: step.label.clone(),
                        expected: expect.as_ref().map(describe),
                        observed: Observation::Errored,
                        ok: None,
                        detail: Some(e),
                        evidence: None,
                    });
                    break;
                }
            }
        }
        self.lab.unpin_moved_tag(&vendor.name);
        result
    }

    /// The pod as the backend sees it (its namespace, relocated images), and
    /// its containers with the lab's image references.
    fn pod_json(&mut self, st: &RunState, pod: &Pod) -> Result<(Value, Vec<PodImage>), RunError> {
        let (main, served) = self.image_for(st, &pod.image)?;
        let mut spec = json!({ "containers": [{ "name": "app", "image": served }] });
        let mut images = vec![("app".to_owned(), "container", main)];
        if let Some(init) = &pod.init_image {
            let (i, served) = self.image_for(st, init)?;
            spec["initContainers"] = json!([{ "name": "init", "image": served }]);
            images.push(("init".to_owned(), "init", i));
        }
        let namespace = self.backend.namespace(&pod.namespace)?;
        let json = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "name": pod.name, "namespace": namespace, "labels": { "team": pod.team, "app": pod.name } },
            "spec": spec,
        });
        Ok((json, images))
    }

    /// A fixture image: its lab reference, and the reference the backend
    /// pulls it by.
    fn image_for(&self, st: &RunState, sel: &ImageSel) -> Result<(String, String), RunError> {
        let f = self
            .lab
            .fixture(&st.vendor.name, &sel.variant)
            .ok_or_else(|| format!("vendor {} has no `{}` fixture", st.vendor.name, sel.variant))?;
        let image = if sel.pinned {
            format!("{}@{}", f.repository, f.image_digest)
        } else {
            self.lab.image_ref(f, sel.previous)
        };
        let served = match self.backend.relocation() {
            Some(rel) => rel.image(&image),
            None => image.clone(),
        };
        Ok((image, served))
    }

    /// An `update` step: the stored pod, changed, sent as a dry-run UPDATE.
    fn update(
        &mut self,
        st: &mut RunState,
        update: &Update,
    ) -> Result<(Observation, Option<String>, Option<Value>), RunError> {
        let key = (update.namespace.clone(), update.pod.clone());
        let Some(stored) = st.stored.get(&key).cloned() else {
            // Its `admit` step was denied: there is nothing to update.
            return Ok((Observation::Quiet(NOT_CREATED), None, None));
        };
        let namespace = self.backend.namespace(&update.namespace)?;
        // A real cluster's copy is current (bound, its status written).
        let old = self
            .backend
            .stored_pod(&namespace, &update.pod)?
            .unwrap_or(stored);
        let mut new = old.clone();
        let mut sub_resource = "";
        match &update.change {
            Change::Relabel => {
                new["metadata"]["labels"][UPDATED_LABEL] = json!("true");
            }
            Change::Image(sel) => {
                let (_, served) = self.image_for(st, sel)?;
                new["spec"]["containers"][0]["image"] = json!(served);
            }
            Change::Debug(sel) => {
                let (_, served) = self.image_for(st, sel)?;
                let debug = json!({ "name": "debug", "image": served });
                match new["spec"]["ephemeralContainers"].as_array_mut() {
                    Some(list) => list.push(debug),
                    None => new["spec"]["ephemeralContainers"] = json!([debug]),
                }
                sub_resource = "ephemeralcontainers";
            }
        }
        let req = AdmissionRequest::pod_update(
            &namespace,
            BTreeMap::new(),
            old.clone(),
            new.clone(),
            sub_resource,
        );
        let d = self.backend.admit(&req, st.cluster.now)?;
        let outcome = if d.allowed {
            Outcome::Admitted
        } else {
            Outcome::Denied
        };
        let detail = detail_of(&d, &d.report);
        let mut evidence = json!({
            "request": { "operation": "UPDATE", "subResource": sub_resource, "oldObject": old, "object": new },
            "decision": decision_json(&d),
        });
        if self.backend.reports_later() {
            evidence["reportsRead"] = json!(false);
        }
        Ok((
            Observation::Decision {
                outcome,
                reported: reported(&d),
            },
            detail,
            Some(evidence),
        ))
    }

    fn running(
        &self,
        st: &RunState,
        pod: &Pod,
        images: &[(String, &'static str, String)],
        admission: Option<AdmissionRecord>,
        live: Option<&LivePod>,
    ) -> Result<RunningPod, RunError> {
        let mut containers = Vec::new();
        for (name, kind, image) in images {
            let r = ImageRef::kyverno(image)?;
            let digest = match live {
                Some(l) => l
                    .containers
                    .iter()
                    .find(|(c, _, _)| c == name)
                    .map(|(_, _, d)| d.clone())
                    .ok_or_else(|| format!("the cluster reports no image for container {name}"))?,
                None => self.lab.evidence.resolve_digest(&r)?,
            };
            containers.push(Container {
                name: name.clone(),
                kind,
                image: image.clone(),
                digest,
                repository: r.repository(),
            });
        }
        Ok(RunningPod {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            team: pod.team.clone(),
            created_at: st.cluster.now,
            containers,
            admission,
        })
    }

    #[allow(clippy::type_complexity)]
    fn step(
        &mut self,
        st: &mut RunState,
        action: &Action,
        expect: Option<&Expect>,
        live: bool,
    ) -> Result<(Observation, Option<String>, Option<Value>), RunError> {
        let quiet = |word: &'static str| (Observation::Quiet(word), None, None);
        match action {
            Action::Admit { pod } => {
                let (json, images) = self.pod_json(st, pod)?;
                let namespace = json["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let req = AdmissionRequest::pod(
                    Operation::Create,
                    &namespace,
                    BTreeMap::new(),
                    json.clone(),
                );
                // A pod a later step updates is stored, not dry-run.
                let key = (pod.namespace.clone(), pod.name.clone());
                let kept = st.kept.contains(&key);
                let d = if kept {
                    let (d, stored) = self.backend.create(&req, st.cluster.now)?;
                    if let Some(object) = stored {
                        st.stored.insert(key, object);
                    }
                    d
                } else {
                    self.backend.admit(&req, st.cluster.now)?
                };
                let outcome = if d.allowed {
                    Outcome::Admitted
                } else {
                    Outcome::Denied
                };
                let mut reported = reported(&d);
                let mut cluster_report = None;
                if d.allowed {
                    // A real backend runs the pod when a later audit needs it,
                    // or when reports are expected (none for dry runs).
                    let wants_report = expect.is_some_and(|e| e.reported.is_some());
                    // (A stored pod is not run again: no kubelet runs it.)
                    let live_pod = if !kept && (live || wants_report) {
                        self.backend.run_pod(&req)?
                    } else {
                        None
                    };
                    if wants_report
                        && live_pod.is_some()
                        && let Some(entries) = self.backend.reports(&namespace, &pod.name)?
                    {
                        reported = !entries.is_empty() || !d.warnings.is_empty();
                        cluster_report = Some(entries);
                    }
                    let exception = d
                        .results
                        .iter()
                        .find(|r| r.message.contains("polic") && r.message.contains("exception"))
                        .map(|r| r.message.clone());
                    let digests = Vec::new();
                    let mut running = self.running(
                        st,
                        pod,
                        &images,
                        Some(AdmissionRecord {
                            digests,
                            by: format!("{}/{}", st.engine, st.vendor.name),
                            exception,
                        }),
                        live_pod.as_ref(),
                    )?;
                    if let Some(rec) = running.admission.as_mut() {
                        rec.digests = running
                            .containers
                            .iter()
                            .map(|c| (c.name.clone(), c.digest.clone()))
                            .collect();
                    }
                    st.cluster.run(running);
                }
                let report = cluster_report.as_ref().unwrap_or(&d.report);
                let detail = detail_of(&d, report);
                let mut evidence = json!({ "request": json, "decision": decision_json(&d) });
                if self.backend.reports_later() && cluster_report.is_none() {
                    // Nothing asked for the reports controller's verdict: the
                    // `reported` flag here stands for warnings only.
                    evidence["reportsRead"] = json!(false);
                }
                Ok((
                    Observation::Decision { outcome, reported },
                    detail,
                    Some(evidence),
                ))
            }
            Action::Update { update } => self.update(st, update),
            Action::Outage { pod } => {
                let (json, images) = self.pod_json(st, pod)?;
                let fail =
                    st.contract.failure_policy == crate::policy::kyverno::FailurePolicy::Fail;
                let (outcome, detail) = if fail {
                    (Outcome::Denied, "Internal error occurred: failed calling webhook \"mutate.kyverno.svc-fail\": failed to call webhook: connection refused (webhook unavailable, failurePolicy: Fail)".to_owned())
                } else {
                    let running = self.running(st, pod, &images, None, None)?;
                    st.cluster.run(running);
                    (Outcome::Admitted, "admitted without verification: the webhook was unavailable and failurePolicy is Ignore".to_owned())
                };
                let evidence = json!({ "request": json, "webhook": "unavailable", "failurePolicy": if fail { "Fail" } else { "Ignore" } });
                Ok((
                    Observation::Decision {
                        outcome,
                        reported: false,
                    },
                    Some(detail),
                    Some(evidence),
                ))
            }
            Action::Bypass { pod } => {
                let (_, images) = self.pod_json(st, pod)?;
                let running = self.running(st, pod, &images, None, None)?;
                st.cluster.run(running);
                Ok(quiet("running (no admission)"))
            }
            Action::Contract { patch } => {
                st.contract = patched(&st.contract, patch);
                self.apply(st)?;
                Ok(quiet("policies re-applied"))
            }
            Action::Identity { mode } => {
                st.identity = *mode;
                self.apply(st)?;
                Ok(quiet("policies re-applied"))
            }
            Action::TrustRoot { mode } => {
                st.trust_root = *mode;
                self.apply(st)?;
                Ok(quiet("policies re-applied"))
            }
            Action::Exception { exception } => {
                let expires_at = st.cluster.now + exception.expires_in_seconds;
                let namespace = self.backend.namespace(&exception.namespace)?;
                let document = match self.own_set(&st.vendor.name) {
                    Some(set) => {
                        let docs =
                            rendered(self.lab, st, &st.contract, None, Some((set, self.contract)))?;
                        own::exception_document(
                            &docs,
                            st.engine,
                            exception,
                            &namespace,
                            &rfc3339(expires_at),
                        )
                    }
                    None => exception_document(st, exception, &namespace, expires_at),
                };
                st.cluster.exceptions.push(ExceptionRecord {
                    name: exception.name.clone(),
                    namespace: exception.namespace.clone(),
                    pod: exception.pod.clone(),
                    expires_at,
                    document,
                });
                self.apply(st)?;
                Ok(quiet("exception created"))
            }
            Action::Advance { seconds } => {
                if st.cluster.advance(*seconds) {
                    self.apply(st)?;
                }
                Ok(quiet("clock advanced"))
            }
            Action::Repush { variant } => {
                let f = self
                    .lab
                    .fixture(&st.vendor.name, variant)
                    .ok_or("no moved-tag fixture")?;
                let (repo, tag, _) = crate::verify::image::split_reference(&f.image_ref)
                    .map_err(|r| r.to_string())?;
                let tag = tag.as_deref().unwrap_or("latest");
                self.backend.set_tag(&repo, tag, &f.image_digest)?;
                self.lab.evidence.unpin(&repo, tag);
                Ok(quiet("tag re-pushed"))
            }
            Action::Revoke { revocation } => {
                let Revocation::RotatedKey = revocation;
                let rotated = self
                    .lab
                    .rotated_key(&st.vendor.name)
                    .ok_or("a keyless vendor has no rotated key to revoke")?;
                let fp = crate::profile::keys::parse_public_key(rotated).map(|(_, fp)| fp)?;
                st.cluster
                    .revoked
                    .push((format!("key:{fp}"), st.cluster.now));
                Ok(quiet("signer revoked"))
            }
            Action::Audit => {
                let view = match self.backend.live_pods()? {
                    Some(pods) => Some(live_view(&st.cluster, &pods)?),
                    None => None,
                };
                let cluster = view.as_ref().unwrap_or(&st.cluster);
                let findings =
                    super::audit_step::audit_cluster(self.lab, &st.vendor, st.identity, cluster)?;
                let wanted: Vec<&String> = expect
                    .map(|e| e.findings.keys().collect())
                    .unwrap_or_default();
                let statuses = super::audit_step::pod_status(findings.iter());
                let observed: Vec<(String, Option<AuditStatus>)> = wanted
                    .iter()
                    .map(|p| ((*p).clone(), statuses.get(*p).copied()))
                    .collect();
                let detail = findings
                    .iter()
                    .map(|f| format!("{} {}: {} ({})", f.pod, f.container, f.status, f.hint))
                    .collect::<Vec<_>>()
                    .join("; ");
                let evidence = serde_json::to_value(&findings).ok();
                Ok((Observation::Audit(observed), Some(detail), evidence))
            }
        }
    }

    /// The policy-vendor x signer-vendor matrix for one engine.
    fn matrix(&mut self, s: &Scenario, engine: Engine) -> Result<Matrix, RunError> {
        self.backend.begin_case(&format!("{}/{engine}", s.id))?;
        let m = self.matrix_case(s, engine);
        self.backend.end_case();
        m
    }

    fn matrix_case(&mut self, s: &Scenario, engine: Engine) -> Result<Matrix, RunError> {
        let vendors: Vec<&Vendor> = self
            .vendors
            .iter()
            .filter(|v| self.lab.has_vendor(&v.name))
            .collect();
        let mut admitted = Vec::new();
        for p in &vendors {
            let st = RunState {
                contract: patched(self.contract, &s.contract),
                identity: s.identity,
                trust_root: s.trust_root,
                patches: s.patches.clone(),
                cluster: Cluster::new(self.lab.now),
                vendor: (*p).clone(),
                engine,
                kept: BTreeSet::new(),
                stored: BTreeMap::new(),
            };
            self.apply(&st)?;
            let mut row = Vec::new();
            for signer in &vendors {
                let f = self
                    .lab
                    .fixture(&signer.name, "good")
                    .ok_or("no good fixture")?;
                let image = match self.backend.relocation() {
                    Some(r) => r.image(&f.image_ref),
                    None => f.image_ref.clone(),
                };
                let namespace = self.backend.namespace("apps")?;
                let pod = json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "matrix", "namespace": namespace }, "spec": { "containers": [{ "name": "app", "image": image }] } });
                let d = self.backend.admit(
                    &AdmissionRequest::pod(Operation::Create, &namespace, BTreeMap::new(), pod),
                    st.cluster.now,
                )?;
                row.push(d.allowed);
            }
            admitted.push(row);
        }
        let diagonal = admitted
            .iter()
            .enumerate()
            .all(|(i, row)| row.iter().enumerate().all(|(j, a)| *a == (i == j)));
        Ok(Matrix {
            engine,
            vendors: vendors.iter().map(|v| v.name.clone()).collect(),
            admitted,
            diagonal,
        })
    }
}

/// The first capability `s` needs that the backend lacks, in words.
fn missing_capability(s: &Scenario, caps: Capabilities) -> Option<String> {
    s.steps.iter().find_map(|step| match &step.action {
        Action::Advance { seconds } if !caps.clock => Some(format!(
            "a movable clock (step `{}` advances it by {seconds}s; a real cluster keeps its own time)",
            step.label
        )),
        Action::Outage { .. } if !caps.outage => Some(format!(
            "a webhook outage (step `{}`; trustswap never takes down admission on a cluster it shares)",
            step.label
        )),
        Action::Bypass { .. } if !caps.bypass => Some(format!(
            "a pod that skips admission (step `{}`)",
            step.label
        )),
        _ => None,
    })
}

/// The simulated cluster with its pods replaced by what the real cluster
/// runs: digests from the nodes, admission records from the runner.
fn live_view(cluster: &Cluster, pods: &[LivePod]) -> Result<Cluster, RunError> {
    let mut view = cluster.clone();
    view.pods = Vec::new();
    for p in pods {
        let known = cluster
            .pods
            .iter()
            .find(|r| r.namespace == p.namespace && r.name == p.name);
        let mut containers = Vec::new();
        for (name, image, digest) in &p.containers {
            let kind = known
                .and_then(|k| k.containers.iter().find(|c| &c.name == name))
                .map_or("container", |c| c.kind);
            containers.push(Container {
                name: name.clone(),
                kind,
                image: image.clone(),
                digest: digest.clone(),
                repository: ImageRef::kyverno(image)?.repository(),
            });
        }
        view.pods.push(RunningPod {
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            team: known.map(|k| k.team.clone()).unwrap_or_default(),
            created_at: known.map_or(cluster.now, |k| k.created_at),
            containers,
            admission: known.and_then(|k| k.admission.clone()),
        });
    }
    Ok(view)
}

/// A container of a pod being created: name, kind and image reference.
type PodImage = (String, &'static str, String);

fn meets(e: &Expect, o: &Observation, detail: Option<&str>) -> bool {
    if let Some(want) = e.decision
        && !matches!(o, Observation::Decision { outcome, .. } if *outcome == want)
    {
        return false;
    }
    if let Some(r) = e.reported {
        let reported = matches!(o, Observation::Decision { reported: true, .. });
        if reported != r {
            return false;
        }
    }
    if let Some(m) = &e.message
        && !detail.is_some_and(|d| d.contains(m.as_str()))
    {
        return false;
    }
    if !e.findings.is_empty() {
        let Observation::Audit(pods) = o else {
            return false;
        };
        let want: Vec<(&String, Option<AuditStatus>)> =
            e.findings.iter().map(|(p, s)| (p, Some(*s))).collect();
        let got: Vec<(&String, Option<AuditStatus>)> = pods.iter().map(|(p, s)| (p, *s)).collect();
        if want != got {
            return false;
        }
    }
    true
}

fn describe(e: &Expect) -> String {
    let mut parts = Vec::new();
    if let Some(d) = e.decision {
        parts.push(match d {
            Outcome::Admitted => "admitted".to_owned(),
            Outcome::Denied => "denied".to_owned(),
        });
    }
    if let Some(r) = e.reported {
        parts.push(if r {
            "reported".into()
        } else {
            "not reported".into()
        });
    }
    if let Some(m) = &e.message {
        parts.push(format!("message contains `{m}`"));
    }
    if !e.findings.is_empty() {
        parts.push(
            e.findings
                .iter()
                .map(|(p, s)| format!("{p}={s}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    parts.join(", ")
}

fn decision_json(d: &Decision) -> Value {
    json!({
        "allowed": d.allowed,
        "message": d.message,
        "warnings": d.warnings,
        "results": d.results.iter().map(|r| json!({ "policy": r.policy, "rule": r.rule, "status": r.status.as_str(), "message": r.message })).collect::<Vec<_>>(),
        "report": d.report.iter().map(|r| json!({ "policy": r.policy, "rule": r.rule, "result": r.result.as_str(), "message": r.message })).collect::<Vec<_>>(),
        "patches": d.patches,
        "ignoredErrors": d.ignored_errors.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>(),
    })
}

/// The break-glass exception for the engine: ClusterPolicy exceptions
/// (`kyverno.io/v2`) have no expiry field, so they carry Kyverno's cleanup
/// TTL label and the cleanup controller deletes them; CEL exceptions carry
/// `expiresAt`.
fn exception_document(
    st: &RunState,
    e: &super::scenario::Exception,
    namespace: &str,
    expires_at: i64,
) -> Value {
    let policy = trustswap_model::kyverno::names::verify_images_policy(&st.contract.name);
    match st.engine {
        Engine::Cpol => json!({
            "apiVersion": "kyverno.io/v2",
            "kind": "PolicyException",
            "metadata": { "name": e.name, "namespace": namespace, "labels": { "cleanup.kyverno.io/ttl": format!("{}s", e.expires_in_seconds) } },
            "spec": {
                "exceptions": [{ "policyName": policy, "ruleNames": [trustswap_model::kyverno::names::VERIFY_RULE] }],
                "match": { "any": [{ "resources": { "kinds": ["Pod"], "namespaces": [namespace], "names": [e.pod] } }] }
            }
        }),
        Engine::Ivpol => {
            let expires = chrono::DateTime::from_timestamp(expires_at, 0)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default();
            json!({
                "apiVersion": "policies.kyverno.io/v1",
                "kind": "PolicyException",
                "metadata": { "name": e.name, "namespace": namespace },
                "spec": {
                    "policyRefs": [{ "name": policy, "kind": "ImageValidatingPolicy" }],
                    "matchConditions": [{ "name": "break-glass-pod", "expression": format!("object.metadata.namespace == '{}' && object.metadata.name.matches('{}')", namespace, crate::policy::render::glob_to_regex(&e.pod)) }],
                    "expiresAt": expires
                }
            })
        }
    }
}
