//! Ctrl-C during a cluster run (its own test binary: the interrupt flag is
//! process-wide). The run stops after the current step, every later run is
//! errored as interrupted, and cleanup still removes what was created.

use crate::common;
use crate::kube_cluster_fake;

use kube_cluster_fake::{Knobs, kube_backend, remaining};
use trustswap::backend::kube::KubeBackend;
use trustswap::backend::kube::adapter::FixtureTags;
use trustswap::backend::relocate::Relocation;
use trustswap::backend::{Backend, BackendError};
use trustswap::experiment::lab::LabContext;
use trustswap::experiment::runner::Status;
use trustswap::experiment::{RunPlan, scenario, scenarios};
use trustswap::interrupt::CancelToken;
use trustswap::policy::Engine;

struct NoTags;

impl FixtureTags for NoTags {
    fn set_tag(&mut self, _: &str, _: &str, _: &str) -> Result<(), BackendError> {
        Ok(())
    }
}

/// Interrupts as soon as the first policy set is applied.
struct InterruptAfterApply<'a>(&'a mut KubeBackend, CancelToken);

impl Backend for InterruptAfterApply<'_> {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn apply(&mut self, documents: &[serde_json::Value]) -> Result<(), BackendError> {
        let r = self.0.apply(documents);
        self.1.cancel();
        r
    }
    fn admit(
        &mut self,
        request: &trustswap::admission::request::AdmissionRequest,
        now: i64,
    ) -> Result<trustswap::admission::decision::Decision, BackendError> {
        self.0.admit(request, now)
    }
    fn capabilities(&self) -> trustswap::backend::Capabilities {
        self.0.capabilities()
    }
    fn begin_case(&mut self, label: &str) -> Result<(), BackendError> {
        self.0.begin_case(label)
    }
    fn end_case(&mut self) {
        self.0.end_case()
    }
    fn namespace(&mut self, ns: &str) -> Result<String, BackendError> {
        self.0.namespace(ns)
    }
    fn relocation(&self) -> Option<&Relocation> {
        self.0.relocation()
    }
}

#[test]
fn an_interrupt_stops_the_run_and_cleanup_still_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = LabContext::build(
        &dir.path().join("lab"),
        0,
        &trustswap::profile::load_shipped(&trustswap::profile::keys::KeyResolver::new(Vec::new()))
            .expect("shipped profiles"),
    )
    .expect("lab");
    let contract = common::contract();
    let vendors = common::vendors();
    let mut all = scenario::load_dir(&common::root().join("scenarios")).expect("scenarios");
    all.retain(|s| s.id == "unsigned-image" || s.id == "foreign-ca");
    let plan = RunPlan {
        contract: &contract,
        vendors: &vendors,
        engines: &[Engine::Cpol],
        baseline: None,
        scenarios: all,
        lab_dir: dir.path().join("lab"),
        seed: 0,
        own: &[],
        cancel: CancelToken::new(),
    };
    let (mut backend, fake) = kube_backend(&lab, "kind", "int", Knobs::default(), Box::new(NoTags));
    let state = fake.state.clone();
    let results = scenarios(
        &plan,
        &lab,
        InterruptAfterApply(&mut backend, plan.cancel.clone()),
    )
    .expect("scenarios");
    assert!(plan.cancel.is_cancelled());
    let runs: Vec<_> = results.iter().flat_map(|s| &s.runs).collect();
    assert_eq!(runs.len(), 8);
    assert!(
        runs.iter().all(|r| r.status == Status::Errored),
        "{runs:#?}"
    );
    assert!(
        runs[0]
            .reason
            .as_deref()
            .unwrap_or_default()
            .ends_with(": interrupted"),
        "{:?}",
        runs[0].reason
    );
    assert!(
        runs[1..]
            .iter()
            .all(|r| r.reason.as_deref() == Some("interrupted before this run")),
        "{runs:#?}"
    );
    let log_before_cleanup = state.lock().expect("state").log.len();
    let leftovers = backend.cleanup();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    drop(backend);
    fake.join();
    let st = state.lock().expect("state");
    assert!(
        st.log.len() > log_before_cleanup,
        "cleanup talked to the api"
    );
    assert!(remaining(&st).is_empty(), "{:?}", remaining(&st));
}
