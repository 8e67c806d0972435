//! A throwaway `kind` cluster with Kyverno and a local registry serving the
//! lab fixtures. Kyverno fetches signatures itself, so pods and policies name
//! the fixtures under the registry's in-cluster name
//! ([`REGISTRY_IN_CLUSTER`], see `backend::relocate`): nodes pull from it
//! through a containerd `hosts.toml` (plain http), Kyverno reaches it through
//! cluster DNS (forwarded to Docker's) with `--allowInsecureRegistry`. Every
//! external command goes through [`CommandRunner`], so tests can fake Docker,
//! kind and kubectl.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::ClusterError;

/// Pinned kind release (CLI binary).
pub const KIND_VERSION: &str = "v0.31.0";
/// Pinned node image (Kubernetes 1.35, within Kyverno 1.19's supported 1.33-1.35).
pub const KIND_NODE_IMAGE: &str =
    "kindest/node:v1.35.0@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f";
/// Pinned Kyverno release.
pub const KYVERNO_VERSION: &str = "v1.19.0";
/// Helm chart `kyverno/kyverno` version shipping [`KYVERNO_VERSION`].
pub const KYVERNO_CHART_VERSION: &str = "3.9.0";
/// Kyverno's release install manifest (needs `kubectl apply --server-side`: its CRDs are large).
pub const KYVERNO_INSTALL_MANIFEST: &str =
    "https://github.com/kyverno/kyverno/releases/download/v1.19.0/install.yaml";
/// Name of the local registry container (joined to the `kind` docker network).
pub const REGISTRY_CONTAINER: &str = "trustswap-registry";
/// Pinned registry image.
pub const REGISTRY_IMAGE: &str = "registry:2.8.3";
/// Port of the registry on the host (push fixtures to `localhost:5001/...`).
pub const REGISTRY_HOST_PORT: u16 = 5001;
/// The registry as nodes and pods reach it (the container's name on the
/// `kind` network): the prefix of every relocated fixture reference.
pub const REGISTRY_IN_CLUSTER: &str = "trustswap-registry:5000";
/// The cluster config template (`{{REGISTRY}}` is the registry container name).
pub const CLUSTER_TEMPLATE: &str = include_str!("../../configs/kind/cluster.yaml");

/// An external command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
}

impl Cmd {
    pub fn new<I, S>(program: &str, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cmd {
            program: program.to_string(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.program)?;
        for a in &self.args {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
                write!(f, " '{}'", a.replace('\'', "'\\''"))?;
            } else {
                write!(f, " {a}")?;
            }
        }
        Ok(())
    }
}

/// What a command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CmdOutput {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs external commands (faked in tests).
pub trait CommandRunner {
    /// Runs `cmd` to completion; `Err` when it could not be started (e.g. not installed).
    fn run(&self, cmd: &Cmd) -> std::io::Result<CmdOutput>;
}

/// Runs commands with `std::process::Command`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRunner;

impl CommandRunner for SystemRunner {
    fn run(&self, cmd: &Cmd) -> std::io::Result<CmdOutput> {
        let out = std::process::Command::new(&cmd.program)
            .args(&cmd.args)
            .stdin(std::process::Stdio::null())
            .output()?;
        Ok(CmdOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Why the kind backend cannot run.
#[derive(Debug, thiserror::Error)]
pub enum KindError {
    #[error(
        "docker is not available ({detail}): kind runs kubernetes nodes as docker containers; install docker engine (https://docs.docker.com/engine/install/) and start it, or run with --backend cluster against an existing cluster"
    )]
    DockerMissing { detail: String },
    #[error(
        "the docker daemon does not answer (`docker info`: {detail}); start it (`sudo systemctl start docker`) and make sure this user may reach it (docker group or DOCKER_HOST)"
    )]
    DockerDaemonDown { detail: String },
    #[error(
        "the kind cli is not available ({detail}); install kind {version}: `curl -Lo kind https://kind.sigs.k8s.io/dl/{version}/kind-linux-amd64 && chmod +x kind && sudo mv kind /usr/local/bin/` (or `go install sigs.k8s.io/kind@{version}`)"
    )]
    KindMissing { detail: String, version: String },
    #[error(
        "kubectl is not available ({detail}); it installs kyverno into the kind cluster: https://kubernetes.io/docs/tasks/tools/"
    )]
    KubectlMissing { detail: String },
    #[error("`{command}` failed (exit {code}): {stderr}")]
    CommandFailed {
        command: String,
        code: String,
        stderr: String,
    },
    #[error("could not start `{command}`: {message}")]
    Spawn { command: String, message: String },
    #[error("could not write {path}: {message}")]
    Io { path: String, message: String },
    #[error("kind cluster {cluster} is up but not usable: {source}")]
    Cluster {
        cluster: String,
        #[source]
        source: ClusterError,
    },
}

/// Versions found by [`detect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    pub docker_server_version: String,
    pub kind_version: String,
    pub kubectl_version: String,
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim().to_string()
}

/// Checks that `docker` is installed and its daemon answers, and that `kind`
/// and `kubectl` are installed.
pub fn detect(runner: &dyn CommandRunner) -> Result<Tools, KindError> {
    let docker = Cmd::new("docker", ["info", "--format", "{{.ServerVersion}}"]);
    let out = runner.run(&docker).map_err(|e| KindError::DockerMissing {
        detail: format!("`docker` could not be started: {e}"),
    })?;
    if !out.success() || out.stdout.trim().is_empty() {
        return Err(KindError::DockerDaemonDown {
            detail: first_line(if out.stderr.trim().is_empty() {
                &out.stdout
            } else {
                &out.stderr
            }),
        });
    }
    let docker_server_version = first_line(&out.stdout);
    let kind = Cmd::new("kind", ["version"]);
    let out = runner.run(&kind).map_err(|e| KindError::KindMissing {
        detail: format!("`kind` could not be started: {e}"),
        version: KIND_VERSION.to_string(),
    })?;
    if !out.success() {
        return Err(KindError::KindMissing {
            detail: format!("`kind version` failed: {}", first_line(&out.stderr)),
            version: KIND_VERSION.to_string(),
        });
    }
    let kind_version = first_line(&out.stdout);
    let kubectl = Cmd::new("kubectl", ["version", "--client", "--output=yaml"]);
    let out = runner
        .run(&kubectl)
        .map_err(|e| KindError::KubectlMissing {
            detail: format!("`kubectl` could not be started: {e}"),
        })?;
    if !out.success() {
        return Err(KindError::KubectlMissing {
            detail: format!(
                "`kubectl version --client` failed: {}",
                first_line(&out.stderr)
            ),
        });
    }
    let kubectl_version = out
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("gitVersion:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    Ok(Tools {
        docker_server_version,
        kind_version,
        kubectl_version,
    })
}

/// A kind cluster for one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindCluster {
    /// `trustswap-<run id>`.
    pub name: String,
    /// Rendered cluster config.
    pub config_path: PathBuf,
    /// Node image.
    pub node_image: String,
}

impl KindCluster {
    /// The cluster of run `run_id`, with its config at `config_path`.
    pub fn for_run(run_id: &str, config_path: &Path) -> KindCluster {
        KindCluster {
            name: format!("trustswap-{run_id}"),
            config_path: config_path.to_path_buf(),
            node_image: KIND_NODE_IMAGE.to_string(),
        }
    }

    /// kubectl context name kind creates.
    pub fn context(&self) -> String {
        format!("kind-{}", self.name)
    }

    pub fn create_command(&self) -> Cmd {
        Cmd::new(
            "kind",
            [
                "create".to_string(),
                "cluster".to_string(),
                "--name".to_string(),
                self.name.clone(),
                "--config".to_string(),
                self.config_path.display().to_string(),
                "--image".to_string(),
                self.node_image.clone(),
                "--wait".to_string(),
                "180s".to_string(),
            ],
        )
    }

    pub fn kubeconfig_command(&self) -> Cmd {
        Cmd::new("kind", ["get", "kubeconfig", "--name", self.name.as_str()])
    }

    pub fn nodes_command(&self) -> Cmd {
        Cmd::new("kind", ["get", "nodes", "--name", self.name.as_str()])
    }

    pub fn delete_command(&self) -> Cmd {
        Cmd::new("kind", ["delete", "cluster", "--name", self.name.as_str()])
    }
}

/// The cluster config for the registry container `registry`.
pub fn render_cluster_config(registry: &str) -> String {
    CLUSTER_TEMPLATE.replace("{{REGISTRY}}", registry)
}

/// containerd `hosts.toml` for the in-cluster registry name: plain http.
pub fn hosts_toml() -> String {
    format!(
        "server = \"http://{REGISTRY_IN_CLUSTER}\"\n\n[host.\"http://{REGISTRY_IN_CLUSTER}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
    )
}

/// Commands writing the registry's containerd configuration into `node`.
pub fn node_mirror_commands(node: &str) -> Vec<Cmd> {
    let dir = format!("/etc/containerd/certs.d/{REGISTRY_IN_CLUSTER}");
    let script = format!(
        "mkdir -p {dir} && printf '%s' '{}' > {dir}/hosts.toml",
        hosts_toml()
    );
    vec![Cmd::new(
        "docker",
        ["exec", node, "sh", "-c", script.as_str()],
    )]
}

/// `docker inspect` of the registry container (fails when it does not exist).
pub fn registry_inspect_command() -> Cmd {
    Cmd::new(
        "docker",
        [
            "inspect",
            "--format",
            "{{.State.Running}}",
            REGISTRY_CONTAINER,
        ],
    )
}

/// Starts the registry container, published on `127.0.0.1:5001`.
pub fn registry_run_command() -> Cmd {
    let publish = format!("127.0.0.1:{REGISTRY_HOST_PORT}:5000");
    Cmd::new(
        "docker",
        [
            "run",
            "-d",
            "--restart=always",
            "--name",
            REGISTRY_CONTAINER,
            "-p",
            publish.as_str(),
            REGISTRY_IMAGE,
        ],
    )
}

/// Joins the registry container to the `kind` network.
pub fn registry_connect_command() -> Cmd {
    Cmd::new("docker", ["network", "connect", "kind", REGISTRY_CONTAINER])
}

/// The gateways of the `kind` network: the host's addresses on it, where the
/// nodes and Kyverno reach a server trustswap runs on the host (the lab's TUF
/// repository).
pub fn kind_gateway_command() -> Cmd {
    Cmd::new(
        "docker",
        [
            "network",
            "inspect",
            "kind",
            "--format",
            "{{range .IPAM.Config}}{{.Gateway}} {{end}}",
        ],
    )
}

/// The first IPv4 gateway in `kind_gateway_command`'s output.
pub fn parse_gateway(out: &str) -> Option<String> {
    out.split_whitespace()
        .find(|s| s.parse::<std::net::Ipv4Addr>().is_ok())
        .map(str::to_owned)
}

/// Installs Kyverno from the pinned release manifest.
pub fn kyverno_install_command(kubeconfig: &Path) -> Cmd {
    Cmd::new(
        "kubectl",
        [
            "--kubeconfig".to_string(),
            kubeconfig.display().to_string(),
            "apply".to_string(),
            "--server-side".to_string(),
            "-f".to_string(),
            KYVERNO_INSTALL_MANIFEST.to_string(),
        ],
    )
}

/// Lets Kyverno's admission controller fetch from the plain-http lab
/// registry (`--allowInsecureRegistry`; without it every verification fails
/// with "server gave HTTP response to HTTPS client").
pub fn kyverno_insecure_registry_command(kubeconfig: &Path) -> Cmd {
    Cmd::new(
        "kubectl",
        [
            "--kubeconfig".to_string(),
            kubeconfig.display().to_string(),
            "-n".to_string(),
            "kyverno".to_string(),
            "patch".to_string(),
            "deployment".to_string(),
            "kyverno-admission-controller".to_string(),
            "--type=json".to_string(),
            "-p=[{\"op\":\"add\",\"path\":\"/spec/template/spec/containers/0/args/-\",\"value\":\"--allowInsecureRegistry=true\"}]".to_string(),
        ],
    )
}

/// The long steps of [`kind_up`], for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindStep {
    Registry,
    CreateCluster,
    Mirror,
    InstallKyverno,
}

impl KindStep {
    pub fn describe(self) -> &'static str {
        match self {
            KindStep::Registry => "starting the registry container",
            KindStep::CreateCluster => "creating the kind cluster",
            KindStep::Mirror => "wiring the registry into the nodes",
            KindStep::InstallKyverno => "installing Kyverno",
        }
    }
}

/// A created cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindUp {
    pub cluster: KindCluster,
    /// `kind get kubeconfig` output.
    pub kubeconfig: String,
    pub kubeconfig_path: PathBuf,
    pub tools: Tools,
    /// The host's IPv4 address on the `kind` network (see [`kind_gateway_command`]).
    pub host_gateway: String,
}

fn run_ok(runner: &dyn CommandRunner, cmd: &Cmd) -> Result<CmdOutput, KindError> {
    let out = runner.run(cmd).map_err(|e| KindError::Spawn {
        command: cmd.to_string(),
        message: e.to_string(),
    })?;
    if out.success() {
        Ok(out)
    } else {
        Err(KindError::CommandFailed {
            command: cmd.to_string(),
            code: out
                .code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "signal".to_string()),
            stderr: out.stderr.trim().to_string(),
        })
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), KindError> {
    std::fs::write(path, text).map_err(|e| KindError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Creates cluster `trustswap-<run_id>` (config and kubeconfig in `work_dir`),
/// the local registry mirror, and installs Kyverno. Readiness of Kyverno is
/// then checked with [`crate::ClusterBackend::preflight`]. When a step after
/// cluster creation fails the cluster is deleted again.
pub fn kind_up(
    runner: &dyn CommandRunner,
    run_id: &str,
    work_dir: &Path,
    progress: &mut dyn FnMut(KindStep),
) -> Result<KindUp, KindError> {
    let tools = detect(runner)?;
    std::fs::create_dir_all(work_dir).map_err(|e| KindError::Io {
        path: work_dir.display().to_string(),
        message: e.to_string(),
    })?;
    let config_path = work_dir.join("kind-cluster.yaml");
    write_file(&config_path, &render_cluster_config(REGISTRY_CONTAINER))?;
    let cluster = KindCluster::for_run(run_id, &config_path);

    let registry_running = runner
        .run(&registry_inspect_command())
        .map(|o| o.success() && o.stdout.trim() == "true")
        .unwrap_or(false);
    if !registry_running {
        progress(KindStep::Registry);
        run_ok(runner, &registry_run_command())?;
    }
    progress(KindStep::CreateCluster);
    run_ok(runner, &cluster.create_command())?;

    let mut rest = || -> Result<(String, PathBuf, String), KindError> {
        progress(KindStep::Mirror);
        if let Err(e) = run_ok(runner, &registry_connect_command()) {
            // Already connected from an earlier run is fine.
            if !e.to_string().contains("already exists") {
                return Err(e);
            }
        }
        let gateway_cmd = kind_gateway_command();
        let gateways = run_ok(runner, &gateway_cmd)?.stdout;
        let gateway = parse_gateway(&gateways).ok_or_else(|| KindError::CommandFailed {
            command: gateway_cmd.to_string(),
            code: "0".into(),
            stderr: format!(
                "no IPv4 gateway on the kind network in {:?}",
                gateways.trim()
            ),
        })?;
        let nodes = run_ok(runner, &cluster.nodes_command())?;
        for node in nodes
            .stdout
            .lines()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            for cmd in node_mirror_commands(node) {
                run_ok(runner, &cmd)?;
            }
        }
        let kubeconfig = run_ok(runner, &cluster.kubeconfig_command())?.stdout;
        let kubeconfig_path = work_dir.join("kubeconfig");
        write_file(&kubeconfig_path, &kubeconfig)?;
        progress(KindStep::InstallKyverno);
        run_ok(runner, &kyverno_install_command(&kubeconfig_path))?;
        run_ok(runner, &kyverno_insecure_registry_command(&kubeconfig_path))?;
        Ok((kubeconfig, kubeconfig_path, gateway))
    };
    match rest() {
        Ok((kubeconfig, kubeconfig_path, host_gateway)) => Ok(KindUp {
            cluster,
            kubeconfig,
            kubeconfig_path,
            tools,
            host_gateway,
        }),
        Err(e) => {
            let _ = runner.run(&cluster.delete_command());
            Err(e)
        }
    }
}

/// Deletes the cluster (the registry container is kept for the next run).
pub fn kind_down(runner: &dyn CommandRunner, cluster: &KindCluster) -> Result<(), KindError> {
    run_ok(runner, &cluster.delete_command()).map(|_| ())
}
