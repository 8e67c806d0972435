//! kind support: detection and command construction with a faked runner; the
//! real Docker path only when Docker answers here.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::Path;

use trustswap::backend::kube::kind::{
    self, Cmd, CmdOutput, CommandRunner, KIND_NODE_IMAGE, KindCluster, KindError, SystemRunner,
};

/// Answers commands in order; records them.
struct FakeRunner {
    answers: RefCell<VecDeque<(String, std::io::Result<CmdOutput>)>>,
    seen: RefCell<Vec<Cmd>>,
}

fn ok(stdout: &str) -> std::io::Result<CmdOutput> {
    Ok(CmdOutput {
        code: Some(0),
        stdout: stdout.to_string(),
        stderr: String::new(),
    })
}

fn fail(code: i32, stderr: &str) -> std::io::Result<CmdOutput> {
    Ok(CmdOutput {
        code: Some(code),
        stdout: String::new(),
        stderr: stderr.to_string(),
    })
}

fn not_installed() -> std::io::Result<CmdOutput> {
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "No such file or directory (os error 2)",
    ))
}

impl FakeRunner {
    /// `answers`: (expected command line prefix, answer).
    fn new(answers: Vec<(&str, std::io::Result<CmdOutput>)>) -> FakeRunner {
        FakeRunner {
            answers: RefCell::new(
                answers
                    .into_iter()
                    .map(|(c, a)| (c.to_string(), a))
                    .collect(),
            ),
            seen: RefCell::new(Vec::new()),
        }
    }
}

impl CommandRunner for FakeRunner {
    fn run(&self, cmd: &Cmd) -> std::io::Result<CmdOutput> {
        self.seen.borrow_mut().push(cmd.clone());
        let (expected, answer) = self
            .answers
            .borrow_mut()
            .pop_front()
            .unwrap_or_else(|| panic!("unexpected command: {cmd}"));
        let line = cmd.to_string();
        assert!(
            line.starts_with(&expected),
            "expected `{expected}…`, got `{line}`"
        );
        answer
    }
}

#[test]
fn docker_missing_explains_what_to_install() {
    let runner = FakeRunner::new(vec![("docker info", not_installed())]);
    let dir = std::env::temp_dir().join("kubebackend-kind-missing");
    let err = kind::kind_up(&runner, "t1", &dir, &mut |_| {}).expect_err("no docker");
    assert!(matches!(err, KindError::DockerMissing { .. }));
    let text = err.to_string();
    assert!(
        text.starts_with("docker is not available (`docker` could not be started"),
        "{text}"
    );
    assert!(
        text.contains("https://docs.docker.com/engine/install/"),
        "{text}"
    );
    assert!(text.contains("--backend cluster"), "{text}");
}

#[test]
fn docker_daemon_down_is_told_apart() {
    let runner = FakeRunner::new(vec![(
        "docker info",
        fail(
            1,
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
        ),
    )]);
    let err = kind::detect(&runner).expect_err("daemon down");
    assert!(matches!(err, KindError::DockerDaemonDown { .. }));
    assert!(
        err.to_string()
            .contains("Cannot connect to the Docker daemon"),
        "{err}"
    );
    assert!(err.to_string().contains("systemctl start docker"), "{err}");
}

#[test]
fn kind_missing_names_the_pinned_release() {
    let runner = FakeRunner::new(vec![
        ("docker info", ok("28.3.0\n")),
        ("kind version", not_installed()),
    ]);
    let err = kind::detect(&runner).expect_err("no kind");
    let text = err.to_string();
    assert!(matches!(err, KindError::KindMissing { .. }));
    assert!(
        text.contains("https://kind.sigs.k8s.io/dl/v0.31.0/kind-linux-amd64"),
        "{text}"
    );
}

#[test]
fn cluster_commands_are_pinned_and_named_after_the_run() {
    let c = KindCluster::for_run("20260901-1a2b", Path::new("/tmp/run/kind-cluster.yaml"));
    assert_eq!(c.name, "trustswap-20260901-1a2b");
    assert_eq!(c.context(), "kind-trustswap-20260901-1a2b");
    assert_eq!(
        c.create_command().to_string(),
        format!(
            "kind create cluster --name trustswap-20260901-1a2b --config /tmp/run/kind-cluster.yaml --image {KIND_NODE_IMAGE} --wait 180s"
        )
    );
    assert_eq!(
        c.kubeconfig_command().to_string(),
        "kind get kubeconfig --name trustswap-20260901-1a2b"
    );
    assert_eq!(
        c.delete_command().to_string(),
        "kind delete cluster --name trustswap-20260901-1a2b"
    );
    assert!(KIND_NODE_IMAGE.starts_with("kindest/node:v1.35.0@sha256:"));
    assert_eq!(
        kind::kyverno_install_command(Path::new("/tmp/run/kubeconfig")).to_string(),
        "kubectl --kubeconfig /tmp/run/kubeconfig apply --server-side -f https://github.com/kyverno/kyverno/releases/download/v1.19.0/install.yaml"
    );
}

#[test]
fn cluster_config_and_the_registry_mirror_serve_relocated_fixtures() {
    let yaml = kind::render_cluster_config(kind::REGISTRY_CONTAINER);
    assert!(yaml.contains("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4"));
    assert!(yaml.contains("config_path = \"/etc/containerd/certs.d\""));
    assert!(yaml.contains("trustswap-registry"));
    let cmds = kind::node_mirror_commands("trustswap-t1-control-plane");
    assert_eq!(cmds.len(), 1);
    let cmd = cmds[0].to_string();
    assert!(
        cmd.starts_with("docker exec trustswap-t1-control-plane sh -c"),
        "{cmd}"
    );
    assert!(
        cmd.contains("/etc/containerd/certs.d/trustswap-registry:5000/hosts.toml"),
        "{cmd}"
    );
    assert!(
        cmd.contains("server = \"http://trustswap-registry:5000\""),
        "{cmd}"
    );
    assert_eq!(
        kind::kyverno_insecure_registry_command(Path::new("/k")).to_string(),
        "kubectl --kubeconfig /k -n kyverno patch deployment kyverno-admission-controller --type=json '-p=[{\"op\":\"add\",\"path\":\"/spec/template/spec/containers/0/args/-\",\"value\":\"--allowInsecureRegistry=true\"}]'"
    );
}

#[test]
fn kind_up_runs_every_step_and_deletes_the_cluster_when_install_fails() {
    let dir = std::env::temp_dir().join(format!("kubebackend-kind-up-{}", std::process::id()));
    let mut answers = vec![
        ("docker info --format", ok("28.3.0\n")),
        ("kind version", ok("kind v0.31.0 go1.25.5 linux/amd64\n")),
        (
            "kubectl version --client",
            ok("clientVersion:\n  gitVersion: v1.35.0\n"),
        ),
        (
            "docker inspect --format",
            fail(1, "Error: No such object: trustswap-registry"),
        ),
        (
            "docker run -d --restart=always --name trustswap-registry -p 127.0.0.1:5001:5000 registry:2.8.3",
            ok("c0ffee\n"),
        ),
        ("kind create cluster --name trustswap-t2 --config", ok("")),
        ("docker network connect kind trustswap-registry", ok("")),
        (
            "docker network inspect kind --format",
            ok("fc00:f853:ccd:e793::1 172.18.0.1 \n"),
        ),
        (
            "kind get nodes --name trustswap-t2",
            ok("trustswap-t2-control-plane\n"),
        ),
    ];
    answers.push(("docker exec trustswap-t2-control-plane sh -c", ok("")));
    answers.push((
        "kind get kubeconfig --name trustswap-t2",
        ok("apiVersion: v1\nkind: Config\n"),
    ));
    answers.push(("kubectl --kubeconfig", fail(1, "error: unable to read URL \"https://github.com/kyverno/kyverno/releases/download/v1.19.0/install.yaml\"")));
    answers.push(("kind delete cluster --name trustswap-t2", ok("")));
    let runner = FakeRunner::new(answers);
    let mut steps = Vec::new();
    let err =
        kind::kind_up(&runner, "t2", &dir, &mut |s| steps.push(s)).expect_err("install fails");
    assert_eq!(
        steps,
        [
            kind::KindStep::Registry,
            kind::KindStep::CreateCluster,
            kind::KindStep::Mirror,
            kind::KindStep::InstallKyverno
        ]
    );
    assert!(matches!(err, KindError::CommandFailed { .. }), "{err}");
    assert!(err.to_string().contains("unable to read URL"), "{err}");
    assert!(
        runner.answers.borrow().is_empty(),
        "every step ran, cluster deleted"
    );
    let written = std::fs::read_to_string(dir.join("kind-cluster.yaml")).expect("config written");
    assert!(written.contains("config_path"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The kind network's IPv4 gateway is where the lab's TUF repository is
/// served (Kyverno's ImageValidatingPolicy fetches the lab's trust root
/// through TUF); a network without one stops the set-up and deletes the
/// cluster.
#[test]
fn the_lab_tuf_repository_is_served_on_the_kind_network_gateway() {
    assert_eq!(
        kind::kind_gateway_command().to_string(),
        "docker network inspect kind --format '{{range .IPAM.Config}}{{.Gateway}} {{end}}'"
    );
    assert_eq!(
        kind::parse_gateway("fc00:f853:ccd:e793::1 172.18.0.1 \n").as_deref(),
        Some("172.18.0.1")
    );
    assert_eq!(kind::parse_gateway("fc00::1 \n"), None);

    let dir = std::env::temp_dir().join(format!("kubebackend-kind-gw-{}", std::process::id()));
    let runner = FakeRunner::new(vec![
        ("docker info --format", ok("28.3.0\n")),
        ("kind version", ok("kind v0.31.0 go1.25.5 linux/amd64\n")),
        (
            "kubectl version --client",
            ok("clientVersion:\n  gitVersion: v1.35.0\n"),
        ),
        ("docker inspect --format", ok("true\n")),
        ("kind create cluster --name trustswap-t3 --config", ok("")),
        ("docker network connect kind trustswap-registry", ok("")),
        ("docker network inspect kind --format", ok("fc00::1 \n")),
        ("kind delete cluster --name trustswap-t3", ok("")),
    ]);
    let err = kind::kind_up(&runner, "t3", &dir, &mut |_| {}).expect_err("no IPv4 gateway");
    assert!(
        err.to_string()
            .contains("no IPv4 gateway on the kind network"),
        "{err}"
    );
    assert!(runner.answers.borrow().is_empty(), "cluster deleted");
    let _ = std::fs::remove_dir_all(&dir);

    // The server listens on that address only, and its URL names it.
    let tuf = tempfile::tempdir().expect("tmp");
    std::fs::write(tuf.path().join("1.root.json"), "{}").expect("write");
    let server = trustswap::backend::local::tuf_server::TufServer::start_on(
        tuf.path(),
        std::net::Ipv4Addr::LOCALHOST,
    )
    .expect("serves");
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
}

/// The real Docker path: only detection here (a cluster is created only with
/// TRUSTSWAP_KIND_E2E=1, as in CI).
#[test]
fn real_docker_path() {
    let tools = match kind::detect(&SystemRunner) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("skipping: docker not available: {e}");
            return;
        }
    };
    assert!(!tools.docker_server_version.is_empty());
    if std::env::var("TRUSTSWAP_KIND_E2E").as_deref() != Ok("1") {
        eprintln!("skipping: set TRUSTSWAP_KIND_E2E=1 to create a kind cluster");
        return;
    }
    let dir = std::env::temp_dir().join(format!("kubebackend-e2e-{}", std::process::id()));
    let up = match kind::kind_up(&SystemRunner, "e2e", &dir, &mut |_| {}) {
        Ok(up) => up,
        Err(e) => panic!("kind_up failed: {e}"),
    };
    let result = kind::kind_down(&SystemRunner, &up.cluster);
    assert!(result.is_ok(), "{result:?}");
}
