//! Where admission happens: the embedded engine (Kyverno semantics in
//! process, real signatures from the lab), a kind cluster, or an existing
//! cluster with Kyverno. All three sit behind [`Backend`], so scenarios,
//! reports and the snapshot checks are shared.

pub mod embedded;
pub mod error;
pub mod evidence;
pub mod kube;
pub use trustswap_kube::local;
pub mod relocate;

use serde_json::Value;

pub use error::BackendError;

use crate::admission::decision::{Decision, ReportEntry};
use crate::admission::request::AdmissionRequest;

/// What a backend can do beyond applying policies and deciding admissions.
/// A scenario step that needs a missing capability makes the run
/// not-applicable on that backend, with the reason in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Move the clock (`advance`): only a simulated cluster can.
    pub clock: bool,
    /// Take the admission webhook down (`outage`).
    pub outage: bool,
    /// Run a pod without admission (`bypass`).
    pub bypass: bool,
}

impl Capabilities {
    /// The simulated cluster: everything.
    pub const SIMULATED: Capabilities = Capabilities {
        clock: true,
        outage: true,
        bypass: true,
    };
    /// A real API server shared with others: no fault injection, real time.
    pub const REAL: Capabilities = Capabilities {
        clock: false,
        outage: false,
        bypass: false,
    };
}

/// A pod the backend really runs: each container's name, image (as the
/// scenario wrote it, before relocation) and the digest the node pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePod {
    /// The scenario's namespace (not the backend's).
    pub namespace: String,
    pub name: String,
    /// (container, image, digest `sha256:…`)
    pub containers: Vec<(String, String, String)>,
}

/// An admission backend: policies in, decisions out. The defaults describe a
/// simulated backend (the runner keeps the cluster state itself).
pub trait Backend {
    /// A short name for reports (`embedded`, `kind`, `cluster`).
    fn name(&self) -> &'static str;
    /// Replace the active policy set (and exceptions) with `documents`.
    fn apply(&mut self, documents: &[Value]) -> Result<(), BackendError>;
    /// Decide an admission request at time `now` (unix seconds; a real
    /// cluster decides on its own clock).
    fn admit(&mut self, request: &AdmissionRequest, now: i64) -> Result<Decision, BackendError>;

    /// Decide a CREATE that stores the pod when admitted (a later UPDATE
    /// changes it): the decision, and the object as stored, mutated as
    /// admission mutated it. A simulated backend stores the request's object
    /// with the decision's patches applied.
    fn create(
        &mut self,
        request: &AdmissionRequest,
        now: i64,
    ) -> Result<(Decision, Option<Value>), BackendError> {
        let d = self.admit(request, now)?;
        let stored = d.allowed.then(|| {
            let mut object = request.object.clone();
            crate::admission::apply_patches(&mut object, &d.patches);
            object
        });
        Ok((d, stored))
    }

    /// Pod `name` in the backend's `namespace` as stored now, when the
    /// backend stores pods (a real cluster: a scheduler and a kubelet may
    /// have changed it since it was created, and an UPDATE must carry its
    /// current `resourceVersion`); `None`: the runner's copy is current.
    fn stored_pod(&mut self, _namespace: &str, _name: &str) -> Result<Option<Value>, BackendError> {
        Ok(None)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::SIMULATED
    }
    /// Starts one (scenario, engine, vendor) run on a clean slate.
    fn begin_case(&mut self, _label: &str) -> Result<(), BackendError> {
        Ok(())
    }
    /// Ends the run started by `begin_case` (deletes what it created).
    fn end_case(&mut self) {}
    /// The backend's namespace for a scenario namespace (created on first use).
    fn namespace(&mut self, scenario_namespace: &str) -> Result<String, BackendError> {
        Ok(scenario_namespace.to_owned())
    }
    /// Where the lab fixtures are served from, when not under their own names.
    fn relocation(&self) -> Option<&relocate::Relocation> {
        None
    }
    /// Points `repository:tag` at `digest` in the registry the backend pulls
    /// from (the lab pins tags itself for simulated backends).
    fn set_tag(
        &mut self,
        _repository: &str,
        _tag: &str,
        _digest: &str,
    ) -> Result<(), BackendError> {
        Ok(())
    }
    /// Really runs an admitted pod (`request.object`, already relocated) and
    /// returns what its containers pulled; `None`: the backend simulates.
    fn run_pod(&mut self, _request: &AdmissionRequest) -> Result<Option<LivePod>, BackendError> {
        Ok(None)
    }
    /// Whether policy reports come from a reports controller, later than the
    /// decision (a real cluster): then a step that does not ask for them
    /// (no `reported` expectation) has not observed them.
    fn reports_later(&self) -> bool {
        false
    }
    /// Policy report results about a pod run with `run_pod`, waiting for the
    /// reports controller; `None`: the decision's own report is the answer.
    fn reports(
        &mut self,
        _namespace: &str,
        _pod: &str,
    ) -> Result<Option<Vec<ReportEntry>>, BackendError> {
        Ok(None)
    }
    /// The pods running in this case's namespaces; `None`: simulated.
    fn live_pods(&mut self) -> Result<Option<Vec<LivePod>>, BackendError> {
        Ok(None)
    }
}

/// A backend borrowed for one run (the caller keeps it for cleanup).
impl<B: Backend + ?Sized> Backend for &mut B {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn apply(&mut self, documents: &[Value]) -> Result<(), BackendError> {
        (**self).apply(documents)
    }
    fn admit(&mut self, request: &AdmissionRequest, now: i64) -> Result<Decision, BackendError> {
        (**self).admit(request, now)
    }
    fn create(
        &mut self,
        request: &AdmissionRequest,
        now: i64,
    ) -> Result<(Decision, Option<Value>), BackendError> {
        (**self).create(request, now)
    }
    fn stored_pod(&mut self, namespace: &str, name: &str) -> Result<Option<Value>, BackendError> {
        (**self).stored_pod(namespace, name)
    }
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    fn begin_case(&mut self, label: &str) -> Result<(), BackendError> {
        (**self).begin_case(label)
    }
    fn end_case(&mut self) {
        (**self).end_case()
    }
    fn namespace(&mut self, scenario_namespace: &str) -> Result<String, BackendError> {
        (**self).namespace(scenario_namespace)
    }
    fn relocation(&self) -> Option<&relocate::Relocation> {
        (**self).relocation()
    }
    fn set_tag(&mut self, repository: &str, tag: &str, digest: &str) -> Result<(), BackendError> {
        (**self).set_tag(repository, tag, digest)
    }
    fn run_pod(&mut self, request: &AdmissionRequest) -> Result<Option<LivePod>, BackendError> {
        (**self).run_pod(request)
    }
    fn reports_later(&self) -> bool {
        (**self).reports_later()
    }
    fn reports(
        &mut self,
        namespace: &str,
        pod: &str,
    ) -> Result<Option<Vec<ReportEntry>>, BackendError> {
        (**self).reports(namespace, pod)
    }
    fn live_pods(&mut self) -> Result<Option<Vec<LivePod>>, BackendError> {
        (**self).live_pods()
    }
}
