//! `--backend local`: a real Kubernetes control plane and real Kyverno as local
//! processes, without Docker. etcd, kube-apiserver, Kyverno's admission and
//! reports controllers (all built by `oracle/build` from the Go module proxy)
//! and Debian's `docker-registry` are started on loopback, in a private
//! temporary folder, and stopped (the folder removed) when the run ends, fails
//! or is interrupted. Kyverno runs out of cluster with its webhooks pointed at
//! `https://127.0.0.1:<port>` (`--serverIP`), with the flags, environment and
//! ConfigMaps of its own rendered Helm chart (read from the Kyverno module),
//! except the ports and paths a local process needs; every other change is
//! recorded in [`LocalCluster::non_default_flags`].
//!
//! There is no kubelet: pods stay unscheduled, and trustswap writes the status
//! a kubelet would (see `KubeBackend`), so that the drift audit reads real API
//! objects.

mod error;
pub mod kyverno;
pub mod pki;
pub mod process;
pub mod tuf_server;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub use error::{LocalError, Wait};
use process::{Proc, free_port, listening, wait_ready};

use trustswap_sigstore::supply::registry::LocalRegistry;

/// Names of the oracle binaries the local backend needs.
pub const BINARIES: [&str; 4] = ["etcd", "kube-apiserver", "kyverno", "reports-controller"];

/// The command that builds the oracle, for error hints.
pub const BUILD_HINT: &str = "build them with `oracle/build` (or `just oracle`) from the repository, then pass --oracle \"$(oracle/build | tail -1)\" or set TRUSTSWAP_ORACLE to that folder";

/// Deadlines of the start-up steps.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    pub etcd: Duration,
    pub apiserver: Duration,
    pub crds: Duration,
    pub kyverno: Duration,
    /// Kyverno flags a scenario needs beyond the chart's defaults (name, value).
    pub kyverno_overrides: Vec<(String, String)>,
    /// Leave everything running (and the folder) after the run.
    pub keep: bool,
    /// The lab's TUF repository, served as the mirror of its policies.
    pub tuf_dir: Option<PathBuf>,
}

impl Default for LocalSettings {
    fn default() -> Self {
        LocalSettings {
            etcd: Duration::from_secs(60),
            apiserver: Duration::from_secs(120),
            crds: Duration::from_secs(60),
            kyverno: Duration::from_secs(240),
            kyverno_overrides: Vec::new(),
            keep: false,
            tuf_dir: None,
        }
    }
}

/// The oracle folder: binaries plus Kyverno's CRDs and rendered chart beside them.
#[derive(Debug, Clone)]
pub struct Oracle {
    pub bin: PathBuf,
    pub crds: PathBuf,
    pub chart: PathBuf,
    pub versions: String,
}

impl Oracle {
    /// Check that `bin` holds every binary the backend needs.
    pub fn open(bin: &Path) -> Result<Oracle, LocalError> {
        let problem = |problem: String| LocalError::Oracle {
            dir: bin.to_path_buf(),
            problem,
        };
        let missing: Vec<&str> = BINARIES
            .iter()
            .copied()
            .filter(|b| !bin.join(b).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(problem(format!("lacks {}", missing.join(", "))));
        }
        let root = bin.parent().unwrap_or(bin);
        let crds = root.join("crds");
        let chart = root.join("kyverno-install.yaml");
        for p in [&crds, &chart] {
            if !p.exists() {
                return Err(problem(format!(
                    "lacks {} (built by an older oracle/build?)",
                    p.display()
                )));
            }
        }
        let versions = std::fs::read_to_string(bin.join("VERSIONS")).unwrap_or_default();
        if !versions.contains("kyverno v1.19.") {
            return Err(problem(format!(
                "is not Kyverno 1.19 (VERSIONS: {})",
                versions.lines().next().unwrap_or("missing")
            )));
        }
        Ok(Oracle {
            bin: bin.to_path_buf(),
            crds,
            chart,
            versions,
        })
    }
}

/// A running local control plane.
pub struct LocalCluster {
    pub dir: PathBuf,
    pub kubeconfig: String,
    pub kubeconfig_path: PathBuf,
    pub apiserver: String,
    pub registry: Option<LocalRegistry>,
    /// The lab TUF repository's server (its URL is the policies' mirror).
    pub tuf: Option<tuf_server::TufServer>,
    /// Seconds each start-up step took.
    pub timings: Vec<(String, f64)>,
    /// Kyverno flags that differ from the chart's defaults, with why.
    pub non_default_flags: Vec<String>,
    pub versions: String,
    procs: Vec<Proc>,
    keep: bool,
    _on_interrupt: Option<crate::interrupt::CleanupGuard>,
}

fn private_dir() -> Result<PathBuf, LocalError> {
    use std::os::unix::fs::DirBuilderExt as _;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "trustswap-local-{}-{nanos:08x}",
        std::process::id()
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(LocalError::io(&dir))?;
    Ok(dir)
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf, LocalError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let p = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&p)
        .map_err(LocalError::io(&p))?;
    f.write_all(text.as_bytes()).map_err(LocalError::io(&p))?;
    Ok(p)
}

impl LocalCluster {
    /// Start everything, each step reported to `progress` before it starts.
    pub fn start(
        oracle: &Oracle,
        settings: &LocalSettings,
        progress: &mut dyn FnMut(&str),
    ) -> Result<LocalCluster, LocalError> {
        let dir = private_dir()?;
        let guard = (!settings.keep).then(|| crate::interrupt::remove_on_interrupt(dir.clone()));
        let mut cluster = LocalCluster {
            dir: dir.clone(),
            kubeconfig: String::new(),
            kubeconfig_path: dir.join("kubeconfig"),
            apiserver: String::new(),
            registry: None,
            tuf: None,
            timings: Vec::new(),
            non_default_flags: Vec::new(),
            versions: oracle.versions.clone(),
            procs: Vec::new(),
            keep: settings.keep,
            _on_interrupt: guard,
        };
        cluster.boot(oracle, settings, progress)?;
        Ok(cluster)
    }

    fn timed<T>(
        &mut self,
        step: &str,
        progress: &mut dyn FnMut(&str),
        f: impl FnOnce(&mut Self) -> Result<T, LocalError>,
    ) -> Result<T, LocalError> {
        progress(step);
        let start = Instant::now();
        let out = f(self)?;
        self.timings
            .push((step.to_owned(), start.elapsed().as_secs_f64()));
        Ok(out)
    }

    fn boot(
        &mut self,
        oracle: &Oracle,
        settings: &LocalSettings,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), LocalError> {
        let dir = self.dir.clone();
        // etcd
        let (etcd_port, peer_port) = (free_port()?, free_port()?);
        self.timed("starting etcd", progress, |c| {
            let data = dir.join("etcd");
            let client = format!("http://127.0.0.1:{etcd_port}");
            let peer = format!("http://127.0.0.1:{peer_port}");
            let args = vec![
                "--name=trustswap".into(),
                format!("--data-dir={}", data.display()),
                format!("--listen-client-urls={client}"),
                format!("--advertise-client-urls={client}"),
                format!("--listen-peer-urls={peer}"),
                format!("--initial-advertise-peer-urls={peer}"),
                format!("--initial-cluster=trustswap={peer}"),
                "--listen-metrics-urls=".into(),
                "--unsafe-no-fsync=true".into(),
                "--log-level=warn".into(),
            ];
            let mut p = Proc::spawn("etcd", &oracle.bin.join("etcd"), &args, &[], &dir, c.keep)?;
            wait_ready(&mut p, "its client port", settings.etcd, || {
                Ok(listening(etcd_port))
            })?;
            c.procs.push(p);
            Ok(())
        })?;

        // kube-apiserver
        let pki = pki::Pki::generate().map_err(|e| LocalError::Setup {
            what: "the control plane's certificates",
            message: e.to_string(),
        })?;
        let api_port = free_port()?;
        self.apiserver = format!("https://127.0.0.1:{api_port}");
        self.kubeconfig = pki.kubeconfig(&self.apiserver);
        self.kubeconfig_path = write(&dir, "kubeconfig", &self.kubeconfig)?;
        let client = self.timed("starting kube-apiserver", progress, |c| {
            let ca = write(&dir, "ca.crt", &pki.ca_cert)?;
            let crt = write(&dir, "apiserver.crt", &pki.server_cert)?;
            let key = write(&dir, "apiserver.key", &pki.server_key)?;
            let sa_key = write(&dir, "sa.key", &pki.sa_key)?;
            let sa_pub = write(&dir, "sa.pub", &pki.sa_pub)?;
            let d = |p: &Path| p.display().to_string();
            let args = vec![
                format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
                format!("--secure-port={api_port}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                format!("--tls-cert-file={}", d(&crt)),
                format!("--tls-private-key-file={}", d(&key)),
                format!("--client-ca-file={}", d(&ca)),
                format!("--service-account-issuer=https://127.0.0.1:{api_port}"),
                format!("--service-account-key-file={}", d(&sa_pub)),
                format!("--service-account-signing-key-file={}", d(&sa_key)),
                "--service-cluster-ip-range=10.0.0.0/24".into(),
                "--authorization-mode=RBAC".into(),
                // No controller manager: nothing would create the service
                // accounts this admission plugin waits for.
                "--disable-admission-plugins=ServiceAccount".into(),
                "--allow-privileged=true".into(),
                format!("--cert-dir={}", d(&dir.join("pki"))),
                "--v=1".into(),
            ];
            let mut p = Proc::spawn(
                "kube-apiserver",
                &oracle.bin.join("kube-apiserver"),
                &args,
                &[],
                &dir,
                c.keep,
            )?;
            let client = Api::new(&c.kubeconfig)?;
            wait_ready(&mut p, "GET /readyz", settings.apiserver, || client.ready())?;
            c.procs.push(p);
            Ok(client)
        })?;

        // Kyverno's CRDs, namespace and ConfigMaps.
        let chart = kyverno::Chart::load(&oracle.chart)?;
        self.timed("installing Kyverno's CRDs", progress, |_| {
            let crds = kyverno::crds(&oracle.crds)?;
            for crd in &crds {
                client.create(crd)?;
            }
            let start = Instant::now();
            loop {
                let pending = client.crds_not_established(&crds)?;
                if pending.is_empty() {
                    break;
                }
                if start.elapsed() > settings.crds {
                    return Err(LocalError::CrdsNotEstablished {
                        waited: settings.crds,
                        pending,
                    });
                }
                std::thread::sleep(Duration::from_millis(300));
            }
            client.create(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": kyverno::NAMESPACE}}))?;
            // The chart's ConfigMaps, service accounts and RBAC, as Helm installs them.
            for obj in chart.objects() {
                client.create(&obj)?;
            }
            // The chart binds the reports controller to the bootstrap `view`
            // role, which only the controller manager's aggregation fills.
            client.aggregate_cluster_roles()?;
            Ok(())
        })?;

        // The registry the fixtures are served from.
        self.timed("starting the registry", progress, |c| {
            let d = dir.join("registry");
            std::fs::create_dir_all(&d).map_err(LocalError::io(&d))?;
            c.registry = Some(LocalRegistry::start(&d)?);
            if let Some(tuf) = &settings.tuf_dir {
                c.tuf = Some(tuf_server::TufServer::start(tuf)?);
            }
            Ok(())
        })?;

        // Kyverno.
        let kubeconfig = self.kubeconfig_path.clone();
        self.timed("starting Kyverno (admission and reports controllers)", progress, |c| {
            let webhook_port = free_port()?;
            let admission = chart.controller(
                kyverno::ADMISSION,
                &kyverno::Local {
                    kubeconfig: &kubeconfig,
                    webhook_port: Some(webhook_port),
                    metrics_port: free_port()?,
                    runtime_metrics_port: free_port()?,
                    // One TUF cache per process, as each pod has its own: two
                    // processes sharing one get EAGAIN on its lock ("creating
                    // cached local store: resource temporarily unavailable")
                    // and Kyverno then denies signed images.
                    tuf_root: &dir.join("sigstore-kyverno"),
                },
                &settings.kyverno_overrides,
            )?;
            let reports = chart.controller(
                kyverno::REPORTS,
                &kyverno::Local {
                    kubeconfig: &kubeconfig,
                    webhook_port: None,
                    metrics_port: free_port()?,
                    runtime_metrics_port: free_port()?,
                    tuf_root: &dir.join("sigstore-reports-controller"),
                },
                &settings.kyverno_overrides,
            )?;
            c.non_default_flags = admission.changed.clone();
            let mut a = Proc::spawn(
                "kyverno",
                &oracle.bin.join("kyverno"),
                &admission.args,
                &admission.env,
                &dir,
                c.keep,
            )?;
            let r = Proc::spawn(
                "reports-controller",
                &oracle.bin.join("reports-controller"),
                &reports.args,
                &reports.env,
                &dir,
                c.keep,
            )?;
            c.procs.push(r);
            wait_ready(
                &mut a,
                "its webhook configurations (kyverno-policy-validating-webhook-cfg) and leadership",
                settings.kyverno,
                || client.kyverno_ready(),
            )?;
            c.procs.push(a);
            Ok(())
        })?;
        Ok(())
    }

    /// What the report says about this control plane.
    pub fn describe(&self) -> Value {
        json!({
            "apiServer": self.apiserver,
            "registry": self.registry_host(),
            "tufMirror": self.tuf.as_ref().map(|t| t.url.clone()),
            "oracle": self.versions.lines().collect::<Vec<_>>(),
            "startup": self.timings.iter().map(|(s, t)| json!({"step": s, "seconds": (t * 10.0).round() / 10.0})).collect::<Vec<_>>(),
            "kyvernoNonDefaultFlags": self.non_default_flags,
            "kubelet": "none: pods stay unscheduled; trustswap writes the container statuses (imageID of the digest the tag resolved to at creation) a kubelet would",
        })
    }

    /// `127.0.0.1:PORT` of the registry.
    pub fn registry_host(&self) -> String {
        self.registry
            .as_ref()
            .map(|r| r.host.clone())
            .unwrap_or_default()
    }

    /// Process ids still running (for the no-leftover test).
    /// The last 4 MiB of each process's log (`<name>.log`), for the report.
    pub fn log_tails(&self) -> Vec<(String, Vec<u8>)> {
        const TAIL: u64 = 4 << 20;
        let mut out = Vec::new();
        for name in ["etcd", "kube-apiserver", "kyverno", "reports-controller"] {
            let path = self.dir.join(format!("{name}.log"));
            let Ok(mut f) = std::fs::File::open(&path) else {
                continue;
            };
            use std::io::{Read as _, Seek as _};
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(std::io::SeekFrom::Start(len.saturating_sub(TAIL)));
            let mut bytes = Vec::new();
            if f.take(TAIL).read_to_end(&mut bytes).is_ok() {
                out.push((format!("{name}.log"), bytes));
            }
        }
        out
    }

    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().filter_map(Proc::pid).collect()
    }

    /// A process's last log lines (for errors after start-up).
    pub fn logs(&self, name: &str, n: usize) -> String {
        self.procs
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.tail(n))
            .unwrap_or_default()
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if self.keep {
            eprintln!(
                "trustswap: kept the local control plane: KUBECONFIG={} (processes {:?}; logs in {})",
                self.kubeconfig_path.display(),
                self.pids(),
                self.dir.display()
            );
            // Forget the processes: they keep running.
            for p in self.procs.drain(..) {
                std::mem::forget(p);
            }
            return;
        }
        // Reverse order: Kyverno before the API server before etcd.
        while let Some(mut p) = self.procs.pop() {
            p.stop();
        }
        self.registry = None;
        self.tuf = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A small blocking client over kube-rs for the start-up steps.
pub struct Api {
    rt: &'static tokio::runtime::Runtime,
    client: kube::Client,
}

impl Api {
    pub fn new(kubeconfig: &str) -> Result<Api, LocalError> {
        let setup = |what: &'static str, e: &dyn std::fmt::Display| LocalError::Setup {
            what,
            message: e.to_string(),
        };
        let rt = crate::runtime::shared().map_err(|e| setup("the tokio runtime", &e))?;
        let kc = kube::config::Kubeconfig::from_yaml(kubeconfig)
            .map_err(|e| setup("the local kubeconfig", &e))?;
        let client = rt.block_on(async {
            let mut config = kube::Config::from_custom_kubeconfig(
                kc,
                &kube::config::KubeConfigOptions::default(),
            )
            .await
            .map_err(|e| setup("the local kubeconfig", &e))?;
            config.connect_timeout = Some(Duration::from_secs(5));
            config.read_timeout = Some(Duration::from_secs(30));
            kube::Client::try_from(config).map_err(|e| setup("the kubernetes client", &e))
        })?;
        Ok(Api { rt, client })
    }

    fn ready(&self) -> Result<bool, LocalError> {
        let req = http::Request::get("/readyz")
            .body(Vec::new())
            .map_err(|e| LocalError::Api {
                operation: "GET /readyz".into(),
                message: e.to_string(),
            })?;
        self.rt
            .block_on(self.client.request_text(req))
            .map(|t| t.trim() == "ok")
            .map_err(LocalError::api("GET /readyz"))
    }

    fn dynamic(&self, obj: &Value) -> Result<kube::Api<kube::api::DynamicObject>, LocalError> {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let kind = obj["kind"].as_str().unwrap_or_default();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let plural = match kind {
            "CustomResourceDefinition" => "customresourcedefinitions",
            "Namespace" => "namespaces",
            "ConfigMap" => "configmaps",
            "ServiceAccount" => "serviceaccounts",
            "ClusterRole" => "clusterroles",
            "ClusterRoleBinding" => "clusterrolebindings",
            "Role" => "roles",
            "RoleBinding" => "rolebindings",
            other => {
                return Err(LocalError::Api {
                    operation: format!("create {other}"),
                    message: "no plural known for this kind".into(),
                });
            }
        };
        let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, plural);
        Ok(match obj["metadata"]["namespace"].as_str() {
            Some(ns) => kube::Api::namespaced_with(self.client.clone(), ns, &ar),
            None => kube::Api::all_with(self.client.clone(), &ar),
        })
    }

    /// Create `obj`; one that exists already is left as it is.
    pub fn create(&self, obj: &Value) -> Result<(), LocalError> {
        let operation = format!(
            "create {} {}",
            obj["kind"].as_str().unwrap_or("?"),
            obj["metadata"]["name"].as_str().unwrap_or("?")
        );
        let api = self.dynamic(obj)?;
        let dynamic: kube::api::DynamicObject =
            serde_json::from_value(obj.clone()).map_err(|e| LocalError::Api {
                operation: operation.clone(),
                message: e.to_string(),
            })?;
        match self
            .rt
            .block_on(api.create(&kube::api::PostParams::default(), &dynamic))
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(LocalError::api(operation)(e)),
        }
    }

    /// Fill every aggregated ClusterRole's rules from the roles its selectors
    /// match, as kube-controller-manager's aggregation controller would.
    fn aggregate_cluster_roles(&self) -> Result<(), LocalError> {
        let gvk =
            kube::api::GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", "ClusterRole");
        let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, "clusterroles");
        let api: kube::Api<kube::api::DynamicObject> =
            kube::Api::all_with(self.client.clone(), &ar);
        let list = self
            .rt
            .block_on(api.list(&kube::api::ListParams::default()))
            .map_err(LocalError::api("list clusterroles"))?;
        let mut roles: Vec<Value> = list
            .items
            .into_iter()
            .map(|o| {
                let mut v = serde_json::to_value(&o).unwrap_or_default();
                v["kind"] = json!("ClusterRole");
                v
            })
            .collect();
        kyverno::aggregate(&mut roles);
        for r in roles.iter().filter(|r| !r["aggregationRule"].is_null()) {
            let name = r["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let patch = json!({ "rules": r["rules"] });
            self.rt
                .block_on(api.patch(
                    &name,
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(&patch),
                ))
                .map_err(LocalError::api(format!("aggregate clusterrole {name}")))?;
        }
        Ok(())
    }

    fn crds_not_established(&self, crds: &[Value]) -> Result<Vec<String>, LocalError> {
        let mut pending = Vec::new();
        for crd in crds {
            let api = self.dynamic(crd)?;
            let name = crd["metadata"]["name"].as_str().unwrap_or_default();
            let got = self
                .rt
                .block_on(api.get(name))
                .map_err(LocalError::api(format!("get crd {name}")))?;
            let established = got.data["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Established" && c["status"] == "True")
                });
            if !established {
                pending.push(name.to_owned());
            }
        }
        Ok(pending)
    }

    /// Kyverno is up when it holds its leader lease and has registered the
    /// policy-validating webhook (it then answers admission for policies).
    fn kyverno_ready(&self) -> Result<bool, LocalError> {
        const HOOK: &str = "kyverno-policy-validating-webhook-cfg";
        let waiting = |message: &str| LocalError::Api {
            operation: format!("get validatingwebhookconfiguration {HOOK}"),
            message: message.to_owned(),
        };
        let gvk = kube::api::GroupVersionKind::gvk(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingWebhookConfiguration",
        );
        let ar =
            kube::api::ApiResource::from_gvk_with_plural(&gvk, "validatingwebhookconfigurations");
        let api: kube::Api<kube::api::DynamicObject> =
            kube::Api::all_with(self.client.clone(), &ar);
        let hook = self
            .rt
            .block_on(api.get_opt(HOOK))
            .map_err(LocalError::api(format!(
                "get validatingwebhookconfiguration {HOOK}"
            )))?;
        let Some(hook) = hook else {
            return Err(waiting("not created yet"));
        };
        let has_ca = hook.data["webhooks"][0]["clientConfig"]["caBundle"]
            .as_str()
            .is_some_and(|s| !s.is_empty());
        if !has_ca {
            return Err(waiting("it has no caBundle yet"));
        }
        Ok(true)
    }
}
