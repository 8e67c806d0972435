//! Kyverno as its Helm chart installs it, run as local processes: the flags,
//! environment, ConfigMaps and RBAC are read from the chart Kyverno renders in
//! its own module (`config/install-latest-testing.yaml`, copied by
//! `oracle/build`), never retyped here. Only what a process outside a pod
//! needs is changed (kubeconfig, webhook address, ports, the TUF cache
//! folder), and each change is recorded with its reason.

use std::path::{Path, PathBuf};

use super::LocalError;

use serde_json::{Value, json};

pub const NAMESPACE: &str = "kyverno";
pub const ADMISSION: &str = "kyverno-admission-controller";
pub const REPORTS: &str = "kyverno-reports-controller";

/// The chart's objects trustswap uses.
pub struct Chart {
    docs: Vec<Value>,
    /// Where it was read from (named in errors).
    path: PathBuf,
}

/// Where a local controller listens and what it reads.
pub struct Local<'a> {
    pub kubeconfig: &'a Path,
    /// The admission webhook's port (admission controller only).
    pub webhook_port: Option<u16>,
    pub metrics_port: u16,
    pub runtime_metrics_port: u16,
    pub tuf_root: &'a Path,
}

/// A controller's command line and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Every difference from the chart, `--flag=value (why)`.
    pub changed: Vec<String>,
}

/// The kinds trustswap takes from the chart: the Deployments, then the
/// objects created before the controllers start.
const KINDS: [&str; 7] = [
    "Deployment",
    "ConfigMap",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
];

impl Chart {
    pub fn load(path: &Path) -> Result<Chart, LocalError> {
        let manifest = |reason: String| LocalError::Manifest {
            path: path.to_path_buf(),
            reason,
        };
        let text = crate::input::read_to_string(path).map_err(|e| manifest(e.to_string()))?;
        Self::parse(&text, path)
    }

    /// Parse the documents of the kinds used. The CRDs in the same file (most
    /// of its 5 MB) are skipped before parsing: `oracle/build` copies them apart.
    pub fn parse(text: &str, path: &Path) -> Result<Chart, LocalError> {
        let manifest = |reason: String| LocalError::Manifest {
            path: path.to_path_buf(),
            reason,
        };
        let mut docs = Vec::new();
        for chunk in text.split("\n---") {
            let wanted = chunk.lines().any(|l| {
                l.strip_prefix("kind: ")
                    .is_some_and(|k| KINDS.contains(&k.trim()))
            });
            if !wanted {
                continue;
            }
            let v: Value = serde_saphyr::from_str(chunk).map_err(|e| manifest(e.to_string()))?;
            if v.is_object() {
                docs.push(v);
            }
        }
        if !docs.iter().any(|d| d["kind"] == "Deployment") {
            return Err(manifest("no Deployment in the rendered chart".into()));
        }
        Ok(Chart {
            docs,
            path: path.to_path_buf(),
        })
    }

    fn of_kind<'a>(&'a self, kinds: &'a [&str]) -> impl Iterator<Item = &'a Value> + 'a {
        self.docs
            .iter()
            .filter(move |d| kinds.iter().any(|k| d["kind"] == *k))
    }

    /// ConfigMaps, service accounts and RBAC, in the order to create them.
    pub fn objects(&self) -> Vec<Value> {
        let mut out: Vec<Value> = self.of_kind(&KINDS[1..]).cloned().collect();
        for o in &mut out {
            // Namespaced objects of the chart live in Kyverno's namespace.
            let namespaced = !matches!(
                o["kind"].as_str(),
                Some("ClusterRole" | "ClusterRoleBinding")
            );
            if namespaced && o["metadata"]["namespace"].is_null() {
                o["metadata"]["namespace"] = json!(NAMESPACE);
            }
        }
        out
    }

    /// The ConfigMaps only.
    pub fn config_maps(&self) -> Vec<Value> {
        self.objects()
            .into_iter()
            .filter(|o| o["kind"] == "ConfigMap")
            .collect()
    }

    /// The command line and environment of `deployment`'s main container,
    /// adapted to run outside a pod, with `overrides` (flag, value) applied.
    pub fn controller(
        &self,
        deployment: &str,
        local: &Local<'_>,
        overrides: &[(String, String)],
    ) -> Result<Controller, LocalError> {
        let manifest = |reason: String| LocalError::Manifest {
            path: self.path.clone(),
            reason,
        };
        let dep = self
            .of_kind(&["Deployment"])
            .find(|d| d["metadata"]["name"] == deployment)
            .ok_or_else(|| manifest(format!("no Deployment {deployment} in the rendered chart")))?;
        let container = &dep["spec"]["template"]["spec"]["containers"][0];
        let mut args: Vec<String> = container["args"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut changed = Vec::new();
        let mut set = |args: &mut Vec<String>, flag: &str, value: String, why: &str| {
            let prefix = format!("--{flag}=");
            let new = format!("{prefix}{value}");
            match args.iter_mut().find(|a| a.starts_with(&prefix)) {
                Some(a) if *a == new => return,
                Some(a) => *a = new.clone(),
                None => args.push(new.clone()),
            }
            changed.push(format!("{new} ({why})"));
        };
        set(
            &mut args,
            "kubeconfig",
            local.kubeconfig.display().to_string(),
            "out of cluster: the API server is reached by kubeconfig",
        );
        set(
            &mut args,
            "metricsPort",
            local.metrics_port.to_string(),
            "a free local port",
        );
        if args
            .iter()
            .any(|a| a.starts_with("--controllerRuntimeMetricsAddress="))
        {
            set(
                &mut args,
                "controllerRuntimeMetricsAddress",
                format!("127.0.0.1:{}", local.runtime_metrics_port),
                "a free local port",
            );
        }
        if let Some(port) = local.webhook_port {
            set(
                &mut args,
                "webhookServerPort",
                port.to_string(),
                "a free local port",
            );
            set(
                &mut args,
                "serverIP",
                format!("127.0.0.1:{port}"),
                "webhooks call the local process by URL instead of the kyverno-svc Service",
            );
        }
        for (flag, value) in overrides {
            set(&mut args, flag, value.clone(), "needed by a scenario");
        }
        let mut env = Vec::new();
        for e in container["env"].as_array().into_iter().flatten() {
            let Some(name) = e["name"].as_str() else {
                continue;
            };
            let value = if let Some(v) = e["value"].as_str() {
                v.to_owned()
            } else {
                match e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                    Some("metadata.namespace") => NAMESPACE.to_owned(),
                    Some("metadata.name") => format!("{deployment}-local"),
                    other => {
                        return Err(manifest(format!(
                            "{deployment}: env {name} comes from {other:?}, which a local process cannot have"
                        )));
                    }
                }
            };
            let value = if name == "TUF_ROOT" {
                changed.push(format!(
                    "TUF_ROOT={} (the run's private folder instead of the pod's)",
                    local.tuf_root.display()
                ));
                local.tuf_root.display().to_string()
            } else {
                value
            };
            env.push((name.to_owned(), value));
        }
        Ok(Controller { args, env, changed })
    }
}

/// No controller manager runs, so nothing aggregates ClusterRoles: fill each
/// aggregated ClusterRole's rules from the ClusterRoles its selectors match,
/// as kube-controller-manager's clusterrole-aggregation controller would.
pub fn aggregate(objects: &mut [Value]) {
    let roles: Vec<(serde_json::Map<String, Value>, Value)> = objects
        .iter()
        .filter(|o| o["kind"] == "ClusterRole")
        .map(|o| {
            (
                o["metadata"]["labels"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                o["rules"].clone(),
            )
        })
        .collect();
    for o in objects.iter_mut().filter(|o| o["kind"] == "ClusterRole") {
        let Some(selectors) = o["aggregationRule"]["clusterRoleSelectors"]
            .as_array()
            .cloned()
        else {
            continue;
        };
        let mut rules = Vec::new();
        for sel in &selectors {
            let Some(want) = sel["matchLabels"].as_object() else {
                continue;
            };
            for (labels, r) in &roles {
                if want.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                    rules.extend(r.as_array().cloned().unwrap_or_default());
                }
            }
        }
        o["rules"] = Value::Array(rules);
    }
}

/// Kyverno's CRDs from the oracle folder, sorted by file name.
pub fn crds(dir: &Path) -> Result<Vec<Value>, LocalError> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(LocalError::io(dir))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let manifest = |reason: String| LocalError::Manifest {
            path: f.clone(),
            reason,
        };
        let text = crate::input::read_to_string(&f).map_err(|e| manifest(e.to_string()))?;
        let v: Value = serde_saphyr::from_str_with_options(
            &text,
            // Kyverno's CRD schemas are larger and deeper than a config file.
            serde_saphyr::options! {
                budget: serde_saphyr::budget! {
                    max_nodes: 10_000_000,
                    max_events: 50_000_000,
                    max_depth: 1_024,
                    max_total_scalar_bytes: 256 << 20,
                },
            },
        )
        .map_err(|e| manifest(e.to_string()))?;
        out.push(v);
    }
    if out.is_empty() {
        return Err(LocalError::Manifest {
            path: dir.to_path_buf(),
            reason: "holds no CRDs (*.yaml)".into(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHART: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: kyverno
data:
  defaultRegistry: docker.io
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: skipped
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kyverno-admission-controller
spec:
  template:
    spec:
      containers:
        - name: kyverno
          args:
            - --caSecretName=kyverno-svc.kyverno.svc.kyverno-tls-ca
            - --webhookServerPort=9443
            - --metricsPort=8000
            - --controllerRuntimeMetricsAddress=:8080
            - --enablePolicyException=false
          env:
            - name: KYVERNO_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            - name: INIT_CONFIG
              value: kyverno
            - name: TUF_ROOT
              value: /.sigstore
"#;

    #[test]
    fn the_chart_flags_are_kept_and_every_local_change_is_recorded() {
        let chart = Chart::parse(CHART, Path::new("kyverno-install.yaml")).unwrap();
        let c = chart
            .controller(
                ADMISSION,
                &Local {
                    kubeconfig: Path::new("/tmp/kc"),
                    webhook_port: Some(19443),
                    metrics_port: 18000,
                    runtime_metrics_port: 18080,
                    tuf_root: Path::new("/tmp/tuf"),
                },
                &[("enablePolicyException".into(), "true".into())],
            )
            .unwrap();
        assert!(
            c.args
                .contains(&"--caSecretName=kyverno-svc.kyverno.svc.kyverno-tls-ca".into())
        );
        assert!(c.args.contains(&"--serverIP=127.0.0.1:19443".into()));
        assert!(c.args.contains(&"--webhookServerPort=19443".into()));
        assert!(c.args.contains(&"--enablePolicyException=true".into()));
        assert!(!c.args.iter().any(|a| a == "--metricsPort=8000"));
        assert!(
            c.env
                .contains(&("KYVERNO_NAMESPACE".into(), "kyverno".into()))
        );
        assert!(c.env.contains(&("TUF_ROOT".into(), "/tmp/tuf".into())));
        assert!(
            c.changed
                .iter()
                .any(|s| s.starts_with("--enablePolicyException=true (needed by a scenario)"))
        );
        assert_eq!(c.changed.len(), 7, "{:?}", c.changed);
        assert_eq!(chart.config_maps()[0]["metadata"]["namespace"], "kyverno");
    }

    #[test]
    fn aggregated_cluster_roles_get_the_rules_of_the_roles_they_select() {
        let mut objs = vec![
            json!({"kind": "ClusterRole", "metadata": {"name": "agg"},
                   "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.kyverno.io/aggregate-to-reports-controller": "true"}}]}}),
            json!({"kind": "ClusterRole", "metadata": {"name": "core", "labels": {"rbac.kyverno.io/aggregate-to-reports-controller": "true"}},
                   "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]}),
            json!({"kind": "ClusterRole", "metadata": {"name": "other", "labels": {"x": "y"}}, "rules": [{"verbs": ["*"]}]}),
        ];
        aggregate(&mut objs);
        assert_eq!(objs[0]["rules"][0]["resources"][0], "pods");
        assert_eq!(objs[0]["rules"].as_array().unwrap().len(), 1);
    }
}
