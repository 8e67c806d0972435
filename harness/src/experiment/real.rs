//! The hypotheses on a real API server with Kyverno: a throwaway kind
//! cluster (`--backend kind`) or an existing cluster (`--backend cluster`).
//! Same lab, same static check, same runner and reports as the embedded
//! backend; what differs is where admission happens and where the fixtures
//! are served from. Optionally the embedded engine runs the same inputs and
//! every disagreement is reported (`--compare embedded`).

use crate::exit::Verdict;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use super::compare::{Comparison, compare};
use super::{RunOutcome, RunPlan, embedded, prepare, scenarios};
use crate::backend::kube::adapter::{AdapterSettings, FixtureTags, KubeBackend, RegistryTags};
use crate::backend::kube::kind::{self, KindUp, SystemRunner};
use crate::backend::kube::{ClusterBackend, ClusterError, Leftover, Settings, Swap};
use crate::backend::relocate::Relocation;
use crate::error::{Error, Result};
use crate::lab_cli::layout_dir;
use crate::supply::oci::Layout;
use crate::supply::registry::{Registry, Timeouts};

/// Where the run happens.
pub enum Target {
    /// A new kind cluster (deleted afterwards unless `keep`).
    Kind { keep: bool, work_dir: PathBuf },
    /// A control plane of local processes (`--backend local`).
    Local {
        oracle: crate::backend::local::Oracle,
        keep: bool,
    },
    /// An existing cluster with Kyverno, reached by kubeconfig.
    Cluster {
        /// kubeconfig context (default: the current one).
        context: Option<String>,
        /// Registry trustswap pushes the fixtures to (`host[:port]`).
        registry: String,
        /// The same registry as the cluster's nodes and Kyverno reach it.
        registry_in_cluster: String,
        /// Where Kyverno reaches the lab's TUF repository (`--tuf-mirror`).
        tuf_mirror: Option<String>,
    },
}

/// A real-cluster run: the outcome plus what the cluster did.
pub struct RealRun {
    pub outcome: RunOutcome,
    pub backend: &'static str,
    /// Kubernetes and Kyverno versions, the relocation, kept cluster.
    pub cluster: Value,
    pub swaps: Vec<Swap>,
    pub comparison: Option<Comparison>,
    /// With the comparison: the embedded engine's results on the same inputs.
    pub embedded: Vec<super::runner::ScenarioResult>,
    /// What cleanup could not delete.
    pub leftovers: Vec<Leftover>,
    /// `--backend local`: the control plane's logs (name, last 4 MiB).
    pub logs: Vec<(String, Vec<u8>)>,
    pub interrupted: bool,
}

impl RealRun {
    /// As [`RunOutcome::verdict`], and a disagreement with the embedded
    /// engine is a finding; an interrupted run decides nothing.
    pub fn verdict(&self) -> Verdict {
        let v = self.outcome.verdict();
        if self.comparison.as_ref().is_some_and(|c| !c.agrees()) {
            return Verdict::DoesNotHold;
        }
        if self.interrupted && v == Verdict::Holds {
            return Verdict::Undecided;
        }
        v
    }

    /// `--claim agreement`: the embedded engine agrees with the cluster
    /// (known disagreements aside). A disagreement is a finding even when a
    /// run errored (a finding outranks an error, as for hypotheses); short of
    /// one, an interrupted or errored run decides nothing: its missing
    /// observations cannot be compared.
    pub fn agreement(&self) -> Verdict {
        let errored = self
            .outcome
            .scenarios
            .iter()
            .any(|s| s.status == crate::experiment::runner::Status::Errored);
        match &self.comparison {
            Some(c) if !c.agrees() => Verdict::DoesNotHold,
            _ if self.interrupted || errored => Verdict::Undecided,
            None => Verdict::Undecided,
            Some(_) => Verdict::Holds,
        }
    }
}

fn spinner(message: &str) -> ProgressBar {
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Prints a step to stderr (always: CI logs need it) and returns a spinner.
fn step(message: &str) -> ProgressBar {
    eprintln!("trustswap: {message}");
    spinner(message)
}

/// The settings of a new run on a real cluster (a fresh run id).
pub fn settings() -> Settings {
    Settings::new(run_id())
}

fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{:08x}",
        (nanos as u64 ^ u64::from(std::process::id())) & 0xffff_ffff
    )
}

fn cluster_error(what: &str, e: ClusterError) -> Error {
    match e {
        ClusterError::KyvernoMissing { .. } => Error::Usage {
            message: format!("{what}: {e}"),
            hint: "install Kyverno 1.19 (helm install kyverno kyverno/kyverno -n kyverno --create-namespace --set features.registryClient.allowInsecure=true), or use --backend kind".into(),
        },
        ClusterError::Config(_) | ClusterError::ApiUnavailable { .. } => Error::Usage {
            message: format!("{what}: {e}"),
            hint: "check the kubeconfig and --context, or use --backend embedded".into(),
        },
        other => Error::harness(what, other),
    }
}

/// A real cluster made ready for trustswap: connected (created, for kind),
/// Kyverno answering, the lab's fixtures pushed to the registry it pulls
/// from and the lab's TUF repository served. `run` and `admit` share it.
pub struct Session {
    pub backend: KubeBackend,
    pub name: &'static str,
    id: String,
    relocation: Relocation,
    preflight: crate::backend::kube::PreflightReport,
    kind_up: Option<KindUp>,
    keep: bool,
    local_cluster: Option<crate::backend::local::LocalCluster>,
    /// kind: the lab's TUF repository, served on the host's address on the kind network.
    kind_tuf: Option<crate::backend::local::tuf_server::TufServer>,
}

/// What a closed session leaves for the report.
pub struct Closed {
    /// Kubernetes and Kyverno versions, the relocation, kept cluster, leftovers.
    pub cluster: Value,
    pub swaps: Vec<Swap>,
    pub leftovers: Vec<Leftover>,
    pub logs: Vec<(String, Vec<u8>)>,
}

/// Checks what can fail before anything is built: kind's tools, and an
/// existing cluster's answer (its connection is returned for [`Session::open`]).
pub fn precheck(target: &Target, settings: &Settings) -> Result<Option<ClusterBackend>> {
    if let Target::Kind { .. } = target {
        kind::detect(&SystemRunner).map_err(|e| Error::Usage {
            message: format!("the kind backend cannot start: {e}"),
            hint: "install Docker and kind (https://kind.sigs.k8s.io), or use --backend cluster / --backend embedded (no Docker needed)".into(),
        })?;
    }
    Ok(match target {
        Target::Cluster { context, .. } => Some(
            match context {
                Some(ctx) => ClusterBackend::with_context(ctx, settings.clone()),
                None => ClusterBackend::connect(settings.clone()),
            }
            .map_err(|e| cluster_error("cannot reach the cluster", e))?,
        ),
        Target::Kind { .. } | Target::Local { .. } => None,
    })
}

impl Session {
    /// Sets up `target` for `lab` (whose TUF mirror becomes the served one),
    /// with Kyverno's PolicyException flags (`exceptions`, local backend).
    pub fn open(
        target: &Target,
        existing: Option<ClusterBackend>,
        settings: Settings,
        lab: &mut super::lab::LabContext,
        exceptions: &crate::admission::ExceptionSettings,
        cancel: &crate::interrupt::CancelToken,
        timeouts: Timeouts,
    ) -> Result<Session> {
        let id = settings.run_id.clone();
        let mut local_cluster: Option<crate::backend::local::LocalCluster> = None;
        let mut kind_tuf: Option<crate::backend::local::tuf_server::TufServer> = None;
        let mut settings = settings;
        if let Target::Local { .. } = target {
            settings.kyverno_deployment = false;
        }
        let (connected, push_host, relocation, kind_up, name) = match (target, existing) {
            (Target::Local { oracle, keep }, _) => {
                let local_settings = crate::backend::local::LocalSettings {
                    keep: *keep,
                    kyverno_overrides: super::kyverno_flags(exceptions),
                    tuf_dir: Some(lab.dir.join(crate::lab_cli::TUF_DIR)),
                    ..Default::default()
                };
                let mut bar = step("starting the local control plane");
                let started =
                    crate::backend::local::LocalCluster::start(oracle, &local_settings, &mut |s| {
                        bar.finish_and_clear();
                        bar = step(s);
                    });
                bar.finish_and_clear();
                let cluster = started
                    .map_err(|e| Error::harness("the local control plane could not start", e))?;
                let backend = ClusterBackend::from_kubeconfig_yaml(
                    &cluster.kubeconfig,
                    None,
                    settings.clone(),
                )
                .map_err(|e| cluster_error("the local API server does not answer", e))?;
                let host = cluster.registry_host();
                // The lab's ImageValidatingPolicies name the mirror now served.
                if let (Some(tuf), Some(server)) = (lab.trust.tuf.as_mut(), cluster.tuf.as_ref()) {
                    tuf.mirror = Some(server.url.clone());
                    lab.evidence
                        .add_tuf_mirror(&server.url, &lab.dir.join(crate::lab_cli::TUF_DIR));
                }
                local_cluster = Some(cluster);
                (backend, host.clone(), Relocation::new(host), None, "local")
            }
            (Target::Kind { work_dir, .. }, _) => {
                let mut bar = step("creating the kind cluster");
                let up = kind::kind_up(&SystemRunner, &id, work_dir, &mut |s| {
                    bar.finish_and_clear();
                    bar = step(s.describe());
                })
                .map_err(|e| Error::harness("the kind cluster could not be set up", e))?;
                bar.finish_and_clear();
                let backend = ClusterBackend::from_kubeconfig_yaml(
                    &up.kubeconfig,
                    Some(&up.cluster.context()),
                    settings,
                );
                let backend = match backend {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = kind::kind_down(&SystemRunner, &up.cluster);
                        return Err(cluster_error("the kind cluster does not answer", e));
                    }
                };
                // Kyverno's ImageValidatingPolicy fetches the lab's trust root through
                // TUF: serve it where the cluster's pods reach the host.
                let served = up
                    .host_gateway
                    .parse::<std::net::Ipv4Addr>()
                    .map_err(|e| crate::backend::local::LocalError::Setup {
                        what: "the kind network's host gateway",
                        message: e.to_string(),
                    })
                    .and_then(|ip| {
                        crate::backend::local::tuf_server::TufServer::start_on(
                            &lab.dir.join(crate::lab_cli::TUF_DIR),
                            ip,
                        )
                    });
                match served {
                    Ok(server) => {
                        if let Some(tuf) = lab.trust.tuf.as_mut() {
                            tuf.mirror = Some(server.url.clone());
                            lab.evidence.add_tuf_mirror(
                                &server.url,
                                &lab.dir.join(crate::lab_cli::TUF_DIR),
                            );
                        }
                        kind_tuf = Some(server);
                    }
                    Err(e) => {
                        let _ = kind::kind_down(&SystemRunner, &up.cluster);
                        return Err(Error::harness(
                            format!(
                                "cannot serve the lab's TUF repository on the kind network ({})",
                                up.host_gateway
                            ),
                            e,
                        ));
                    }
                }
                (
                    backend,
                    format!("localhost:{}", kind::REGISTRY_HOST_PORT),
                    Relocation::new(kind::REGISTRY_IN_CLUSTER),
                    Some(up),
                    "kind",
                )
            }
            (
                Target::Cluster {
                    registry,
                    registry_in_cluster,
                    tuf_mirror,
                    ..
                },
                existing,
            ) => {
                let backend = existing.ok_or_else(|| Error::Internal {
                    message: "the cluster connection was lost before the run".into(),
                })?;
                match (lab.trust.tuf.as_mut(), tuf_mirror) {
                    (Some(tuf), Some(url)) => {
                        tuf.mirror = Some(url.clone());
                        lab.evidence
                            .add_tuf_mirror(url, &lab.dir.join(crate::lab_cli::TUF_DIR));
                    }
                    _ => eprintln!(
                        "trustswap: warning: no --tuf-mirror: keyless ImageValidatingPolicies name {} and Kyverno cannot fetch the lab's trust root (serve {} and pass its URL)",
                        crate::lab_cli::TUF_MIRROR_UNSERVED,
                        lab.dir.join(crate::lab_cli::TUF_DIR).display()
                    ),
                }
                (
                    backend,
                    registry.clone(),
                    Relocation::new(registry_in_cluster.clone()),
                    None,
                    "cluster",
                )
            }
        };
        let keep = matches!(target, Target::Kind { keep: true, .. });
        let teardown = |up: &Option<KindUp>| teardown_kind(up, keep);

        let bar = step("waiting for Kyverno's admission controller and webhooks");
        let preflight = connected.preflight();
        bar.finish_and_clear();
        let preflight = match preflight {
            Ok(p) => p,
            Err(e) => {
                teardown(&kind_up);
                return Err(cluster_error("the cluster is not ready for trustswap", e));
            }
        };

        let bar = step(&format!("pushing the lab fixtures to {push_host}"));
        let pushed = push_fixtures(&lab.dir, &push_host, timeouts);
        bar.finish_and_clear();
        let tags = match pushed {
            Ok(t) => t,
            Err(e) => {
                teardown(&kind_up);
                return Err(e);
            }
        };

        let backend = KubeBackend::new(
            name,
            connected,
            relocation.clone(),
            tags,
            AdapterSettings {
                emulate_kubelet: local_cluster.is_some(),
                cancel: cancel.clone(),
                ..AdapterSettings::default()
            },
        );
        Ok(Session {
            backend,
            name,
            id,
            relocation,
            preflight,
            kind_up,
            keep,
            local_cluster,
            kind_tuf,
        })
    }

    /// Deletes what the session created (a kept kind cluster or local
    /// control plane aside) and says what it could not.
    pub fn close(mut self, interrupted: bool) -> Closed {
        let bar = step("cleaning up");
        let leftovers = self.backend.cleanup();
        bar.finish_and_clear();
        for l in &leftovers {
            eprintln!("trustswap: left behind: {l}");
        }
        let swaps = self.backend.swaps().to_vec();
        drop(self.backend);
        teardown_kind(&self.kind_up, self.keep);
        let local = self.local_cluster.as_ref().map(|c| c.describe());
        let logs = self
            .local_cluster
            .as_ref()
            .map(crate::backend::local::LocalCluster::log_tails)
            .unwrap_or_default();
        drop(self.local_cluster);
        // Served for the whole run; stopped with the cluster.
        drop(self.kind_tuf);
        let (keep, kind_up, preflight) = (self.keep, &self.kind_up, &self.preflight);
        Closed {
            cluster: json!({
                "runId": self.id,
                "kubernetes": preflight.server_version,
                "kyvernoImage": preflight.kyverno_image,
                "webhookAttempts": preflight.webhook_attempts,
                "fixturesServedAs": format!("{}/<reference>", self.relocation.prefix),
                "kind": kind_up.as_ref().map(|u| json!({ "cluster": u.cluster.name, "nodeImage": u.cluster.node_image, "kept": keep })),
                "local": local,
                "leftovers": leftovers.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "interrupted": interrupted,
            }),
            swaps,
            leftovers,
            logs,
        }
    }
}

fn teardown_kind(up: &Option<KindUp>, keep: bool) {
    if let Some(up) = up {
        if keep {
            eprintln!(
                "trustswap: kept kind cluster {} (kubeconfig {}); delete it with `kind delete cluster --name {}`",
                up.cluster.name,
                up.kubeconfig_path.display(),
                up.cluster.name
            );
        } else {
            let bar = step("deleting the kind cluster");
            if let Err(e) = kind::kind_down(&SystemRunner, &up.cluster) {
                eprintln!("trustswap: {e}");
            }
            bar.finish_and_clear();
        }
    }
}

/// Connects to the cluster of `target` (creating it for kind), checks that
/// Kyverno answers, pushes the fixtures, runs every scenario, compares with
/// the embedded engine when asked, and cleans up.
/// `known`: disagreements real Kyverno's source explains (`--known-disagreements`).
/// `timeouts` bound every request to the registry the fixtures are pushed to.
pub fn run(
    plan: RunPlan<'_>,
    target: Target,
    compare_embedded: bool,
    known: &[super::compare::Known],
    timeouts: Timeouts,
) -> Result<RealRun> {
    let settings = settings();
    // Bad input, and an existing cluster that does not answer, fail before
    // the lab is built.
    let existing = precheck(&target, &settings)?;
    let (mut lab, check, own) = prepare(&plan)?;
    let mut session = Session::open(
        &target,
        existing,
        settings,
        &mut lab,
        &plan.exceptions(),
        &plan.cancel,
        timeouts,
    )?;
    let name = session.name;
    let backend = &mut session.backend;
    crate::interrupt::install(
        format!(
            "everything labelled {} (kubectl delete ns,clusterpolicies,imagevalidatingpolicies,validatingpolicies,policyexceptions -A -l {})",
            backend.selector(),
            backend.selector()
        ),
        &plan.cancel,
    );
    let results = scenarios(&plan, &lab, &mut *backend);
    let mut interrupted = plan.cancel.is_cancelled();
    // --compare: the embedded engine on the same inputs, then each case with a
    // disagreement once more on the cluster, before it goes away: a decision
    // real Kyverno does not repeat is reported as such, not as a disagreement.
    let mut comparison = None;
    let mut embedded_error = None;
    let mut embedded_seen = Vec::new();
    if let (true, false, Ok(found)) = (compare_embedded, interrupted, &results) {
        let bar = step("running the embedded engine on the same inputs");
        let embedded_results = scenarios(&plan, &lab, embedded(&lab, &plan));
        bar.finish_and_clear();
        match embedded_results {
            Ok(embedded_results) => {
                let mut c = compare(name, &embedded_results, found);
                c.apply_known(known);
                for case in c.cases_to_confirm() {
                    if plan.cancel.is_cancelled() {
                        break;
                    }
                    let bar = step(&format!(
                        "running {} {}/{} again on {name} (a disagreement must reproduce)",
                        case.scenario, case.engine, case.vendor
                    ));
                    let again = confirm_case(&plan, &lab, &mut *backend, &case);
                    bar.finish_and_clear();
                    match again {
                        Ok(rerun) => {
                            let mut c2 = compare(name, &embedded_results, &rerun);
                            c2.apply_known(known);
                            c.confirm(&case, &c2);
                        }
                        Err(e) => eprintln!(
                            "trustswap: could not run {} {}/{} again: {e}",
                            case.scenario, case.engine, case.vendor
                        ),
                    }
                }
                comparison = Some(c);
                embedded_seen = embedded_results;
            }
            Err(e) => embedded_error = Some(e),
        }
        interrupted = plan.cancel.is_cancelled();
    }

    let closed = session.close(interrupted);
    let results = results?;
    if let Some(e) = embedded_error {
        return Err(e);
    }
    let comparison = comparison.filter(|_| !interrupted);
    Ok(RealRun {
        cluster: closed.cluster,
        outcome: RunOutcome {
            check,
            scenarios: results,
            lab,
            own,
        },
        backend: name,
        swaps: closed.swaps,
        comparison,
        embedded: embedded_seen,
        leftovers: closed.leftovers,
        interrupted,
        logs: closed.logs,
    })
}

/// Runs one case of a disagreement again on the cluster: the scenario for
/// that engine, and for that vendor (every vendor for a matrix).
fn confirm_case(
    plan: &RunPlan<'_>,
    lab: &super::lab::LabContext,
    backend: &mut KubeBackend,
    case: &super::compare::Case,
) -> Result<Vec<super::runner::ScenarioResult>> {
    let Some(scenario) = plan.scenarios.iter().find(|s| s.id == case.scenario) else {
        return Ok(Vec::new());
    };
    let Some(engine) = plan.engines.iter().find(|e| e.id() == case.engine) else {
        return Ok(Vec::new());
    };
    let vendors: Vec<_> = if scenario.kind == super::scenario::Kind::Matrix {
        plan.vendors.to_vec()
    } else {
        plan.vendors
            .iter()
            .filter(|v| v.name == case.vendor)
            .cloned()
            .collect()
    };
    let again = RunPlan {
        contract: plan.contract,
        vendors: &vendors,
        engines: std::slice::from_ref(engine),
        baseline: None,
        scenarios: vec![scenario.clone()],
        lab_dir: plan.lab_dir.clone(),
        seed: plan.seed,
        own: plan.own,
        cancel: plan.cancel.clone(),
    };
    scenarios(&again, lab, &mut *backend)
}

/// Pushes the lab layout to `host` and returns the tag mover over it. A
/// registry that cannot be reached or times out is exit 3 (the harness could
/// not decide), one that refuses the push a usage error.
pub fn push_fixtures(
    lab_dir: &std::path::Path,
    host: &str,
    timeouts: Timeouts,
) -> Result<Box<dyn FixtureTags>> {
    let layout = Layout::open(layout_dir(lab_dir))
        .map_err(|e| Error::harness("failed to open the lab layout", e))?;
    let registry = Registry::connect_with(host, timeouts)
        .map_err(|e| Error::harness(format!("cannot reach the registry {host}"), e))?;
    registry.push_layout(&layout).map_err(|e| {
        if e.is_fault() {
            Error::harness(format!("cannot push the lab fixtures to {host}"), e)
        } else {
            Error::Usage {
                message: format!("cannot push the lab fixtures to {host}: {e}"),
                hint: "the registry must accept anonymous pushes from this machine (--registry HOST[:PORT])"
                    .into(),
            }
        }
    })?;
    Ok(Box::new(RegistryTags { registry, layout }))
}
