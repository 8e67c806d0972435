//! A stateful fake API server with "Kyverno" inside: policies applied by
//! server-side apply are stored, reported Ready and compiled by the embedded
//! engine; dry-run and real Pod creates are decided by it and answered as the
//! API server answers for Kyverno's webhooks (denials as `Status` with the
//! webhook's message, warnings as `Warning` headers); real pods get
//! `imageID`s, Audit failures become PolicyReports. It runs on
//! `tower_test::mock::pair` in its own thread, so the whole kind/cluster
//! backend path (KubeBackend → ClusterBackend → kube-rs) runs here without
//! a cluster. Knobs inject what real clusters do: a decision that differs
//! from the engine, a policy Kyverno rejects, a namespace that cannot be
//! deleted.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use trustswap::admission::image::ImageRef;
use trustswap::admission::request::{AdmissionRequest, Operation};
use trustswap::admission::verifier::EvidenceVerifier;
use trustswap::backend::Backend;
use trustswap::backend::embedded::Embedded;
use trustswap::backend::relocate::{RelocatedEvidence, Relocation};

/// Faults and deviations to inject.
#[derive(Default, Clone)]
pub struct Knobs {
    /// Pods with an image containing this text get the opposite decision.
    pub flip_image: Option<String>,
    /// Server-side applies of this kind are rejected with this message.
    pub reject_kind: Option<(String, String)>,
    /// Namespace deletes answer 403.
    pub forbid_namespace_delete: bool,
}

#[derive(Default)]
pub struct State {
    /// (plural, namespace, name) → object.
    pub objects: BTreeMap<(String, String, String), Value>,
    pub namespaces: BTreeMap<String, Value>,
    pub pods: BTreeMap<(String, String), Value>,
    pub reports: BTreeMap<String, Vec<Value>>,
    /// `METHOD path?query` of every request, in order.
    pub log: Vec<String>,
}

pub struct FakeCluster {
    pub state: Arc<Mutex<State>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeCluster {
    /// Starts the fake; call inside the client's runtime (`runtime.enter()`).
    pub fn start(
        evidence: Arc<dyn EvidenceVerifier>,
        relocation: Relocation,
        now: i64,
        knobs: Knobs,
    ) -> (Client, FakeCluster) {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("fake runtime");
            let evidence: Arc<dyn EvidenceVerifier> = Arc::new(RelocatedEvidence {
                relocation,
                inner: evidence,
            });
            let mut server = Server {
                state: shared,
                engine: Embedded::new(evidence.clone()),
                evidence,
                now,
                knobs,
            };
            server.serve(&rt, handle);
        });
        (
            client,
            FakeCluster {
                state,
                thread: Some(thread),
            },
        )
    }

    /// Waits for the fake to stop (after every client is dropped).
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            t.join().expect("fake api server panicked");
        }
    }
}

struct Server {
    state: Arc<Mutex<State>>,
    engine: Embedded,
    evidence: Arc<dyn EvidenceVerifier>,
    now: i64,
    knobs: Knobs,
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": if code < 300 { "Success" } else { "Failure" }, "message": message, "reason": reason, "code": code })
}

fn selector_matches(selector: Option<&str>, obj: &Value) -> bool {
    let Some(sel) = selector else { return true };
    sel.split(',').filter(|s| !s.is_empty()).all(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        obj.pointer("/metadata/labels")
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
            == Some(v)
    })
}

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({ "apiVersion": "v1", "kind": format!("{kind}List"), "metadata": { "resourceVersion": "1" }, "items": items })
}

fn query(uri: &http::Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.to_owned(),
                v.replace("%3D", "=")
                    .replace("%2C", ",")
                    .replace("%2F", "/"),
            )
        })
        .collect()
}

impl Server {
    /// Answers requests until the client goes away. Deciding runs outside
    /// the runtime: the verifier blocks on its own runtime internally.
    fn serve(
        &mut self,
        rt: &tokio::runtime::Runtime,
        mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
    ) {
        while let Some((request, send)) = rt.block_on(handle.next_request()) {
            let method = request.method().as_str().to_owned();
            let uri = request.uri().clone();
            let bytes = rt
                .block_on(request.into_body().collect_bytes())
                .expect("request body");
            let body: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).expect("json request body")
            };
            self.state
                .lock()
                .expect("state")
                .log
                .push(format!("{method} {uri}"));
            let (code, answer, warnings) = self.route(&method, &uri, body);
            let mut b = Response::builder()
                .status(code)
                .header("content-type", "application/json");
            for w in warnings {
                b = b.header("warning", format!("299 - \"{}\"", w.replace('"', "\\\"")));
            }
            send.send_response(
                b.body(Body::from(serde_json::to_vec(&answer).expect("json")))
                    .expect("response"),
            );
        }
    }

    fn route(&mut self, method: &str, uri: &http::Uri, body: Value) -> (u16, Value, Vec<String>) {
        let q = query(uri);
        let selector = q.get("labelSelector").map(String::as_str);
        let segs: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
        match segs.as_slice() {
            ["api", "v1", "namespaces"] => self.namespaces(method, None, body, selector),
            ["api", "v1", "namespaces", ns] => self.namespaces(method, Some(ns), body, selector),
            ["api", "v1", "namespaces", ns, "pods"] => {
                if method == "POST" {
                    self.create_pod(ns, body, q.contains_key("dryRun"))
                } else {
                    let st = self.state.lock().expect("state");
                    let items = st
                        .pods
                        .iter()
                        .filter(|((n, _), _)| n == ns)
                        .map(|(_, p)| p.clone())
                        .collect();
                    (200, list("Pod", items), vec![])
                }
            }
            ["api", "v1", "namespaces", ns, "pods", name] if method == "PUT" => {
                self.update_pod(ns, name, body, "")
            }
            ["api", "v1", "namespaces", ns, "pods", name, sub] if method == "PUT" => {
                self.update_pod(ns, name, body, sub)
            }
            ["api", "v1", "namespaces", ns, "pods", name] => {
                let st = self.state.lock().expect("state");
                match st.pods.get(&(ns.to_string(), name.to_string())) {
                    Some(p) => (200, p.clone(), vec![]),
                    None => (404, status(404, "NotFound", "pod not found"), vec![]),
                }
            }
            [
                "apis",
                "wgpolicyk8s.io",
                "v1alpha2",
                "namespaces",
                ns,
                "policyreports",
            ] => {
                let st = self.state.lock().expect("state");
                let items = st.reports.get(*ns).cloned().unwrap_or_default();
                (200, list("PolicyReport", items), vec![])
            }
            ["apis", _group, _version, plural] => {
                self.objects(method, plural, "", None, body, selector)
            }
            ["apis", _group, _version, plural, name] => {
                self.objects(method, plural, "", Some(name), body, selector)
            }
            ["apis", _group, _version, "namespaces", ns, plural] => {
                self.objects(method, plural, ns, None, body, selector)
            }
            ["apis", _group, _version, "namespaces", ns, plural, name] => {
                self.objects(method, plural, ns, Some(name), body, selector)
            }
            _ => (
                404,
                status(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                ),
                vec![],
            ),
        }
    }

    fn namespaces(
        &mut self,
        method: &str,
        name: Option<&str>,
        body: Value,
        selector: Option<&str>,
    ) -> (u16, Value, Vec<String>) {
        let mut st = self.state.lock().expect("state");
        match (method, name) {
            ("POST", None) => {
                let n = body
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                if st.namespaces.contains_key(&n) {
                    return (
                        409,
                        status(409, "AlreadyExists", "namespace exists"),
                        vec![],
                    );
                }
                st.namespaces.insert(n, body.clone());
                (201, body, vec![])
            }
            ("GET", None) => {
                let items = st
                    .namespaces
                    .values()
                    .filter(|n| selector_matches(selector, n))
                    .cloned()
                    .collect();
                (200, list("Namespace", items), vec![])
            }
            ("GET", Some(n)) => match st.namespaces.get(n) {
                Some(v) => (200, v.clone(), vec![]),
                None => (404, status(404, "NotFound", "namespace not found"), vec![]),
            },
            ("DELETE", Some(n)) => {
                if self.knobs.forbid_namespace_delete {
                    return (
                        403,
                        status(
                            403,
                            "Forbidden",
                            &format!(
                                "namespaces \"{n}\" is forbidden: User \"ci\" cannot delete resource \"namespaces\""
                            ),
                        ),
                        vec![],
                    );
                }
                match st.namespaces.remove(n) {
                    Some(_) => {
                        st.pods.retain(|(ns, _), _| ns != n);
                        st.reports.remove(n);
                        st.objects.retain(|(_, ns, _), _| ns != n);
                        (200, status(200, "", "deleted"), vec![])
                    }
                    None => (404, status(404, "NotFound", "namespace not found"), vec![]),
                }
            }
            _ => (405, status(405, "MethodNotAllowed", method), vec![]),
        }
    }

    fn objects(
        &mut self,
        method: &str,
        plural: &str,
        ns: &str,
        name: Option<&str>,
        body: Value,
        selector: Option<&str>,
    ) -> (u16, Value, Vec<String>) {
        let key = |n: &str| (plural.to_owned(), ns.to_owned(), n.to_owned());
        match (method, name) {
            ("GET", None) => {
                let st = self.state.lock().expect("state");
                let items = st
                    .objects
                    .iter()
                    .filter(|((p, n, _), v)| {
                        p == plural && (ns.is_empty() || n == ns) && selector_matches(selector, v)
                    })
                    .map(|(_, v)| v.clone())
                    .collect();
                (200, list("Object", items), vec![])
            }
            ("GET", Some(n)) => match self.state.lock().expect("state").objects.get(&key(n)) {
                Some(v) => (200, v.clone(), vec![]),
                None => (
                    404,
                    status(404, "NotFound", &format!("{plural} \"{n}\" not found")),
                    vec![],
                ),
            },
            ("PATCH", Some(n)) => {
                let kind = body
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                if let Some((k, message)) = &self.knobs.reject_kind
                    && *k == kind
                {
                    return (
                        400,
                        status(
                            400,
                            "BadRequest",
                            &format!(
                                "admission webhook \"validate-policy.kyverno.svc\" denied the request: {message}"
                            ),
                        ),
                        vec![],
                    );
                }
                let mut obj = body;
                let previous = self
                    .state
                    .lock()
                    .expect("state")
                    .objects
                    .get(&key(n))
                    .cloned();
                let generation = match &previous {
                    Some(p) if p.get("spec") == obj.get("spec") => p
                        .pointer("/metadata/generation")
                        .cloned()
                        .unwrap_or(json!(1)),
                    Some(p) => json!(
                        p.pointer("/metadata/generation")
                            .and_then(Value::as_i64)
                            .unwrap_or(1)
                            + 1
                    ),
                    None => json!(1),
                };
                obj["metadata"]["generation"] = generation;
                match kind.as_str() {
                    "ClusterPolicy" | "Policy" => {
                        obj["status"] = json!({ "conditions": [{ "type": "Ready", "status": "True", "reason": "Succeeded", "message": "Ready" }] });
                    }
                    "ImageValidatingPolicy" | "ValidatingPolicy" => {
                        obj["status"] = json!({ "conditionStatus": { "ready": true, "conditions": [{ "type": "WebhookConfigured", "status": "True" }] } });
                    }
                    _ => {}
                }
                self.state
                    .lock()
                    .expect("state")
                    .objects
                    .insert(key(n), obj.clone());
                if let Err(e) = self.recompile() {
                    let mut st = self.state.lock().expect("state");
                    match previous {
                        Some(p) => st.objects.insert(key(n), p),
                        None => st.objects.remove(&key(n)),
                    };
                    return (
                        400,
                        status(
                            400,
                            "BadRequest",
                            &format!(
                                "admission webhook \"validate-policy.kyverno.svc\" denied the request: {e}"
                            ),
                        ),
                        vec![],
                    );
                }
                (200, obj, vec![])
            }
            ("DELETE", Some(n)) => {
                let gone = self.state.lock().expect("state").objects.remove(&key(n));
                let _ = self.recompile();
                match gone {
                    Some(_) => (200, status(200, "", "deleted"), vec![]),
                    None => (404, status(404, "NotFound", "not found"), vec![]),
                }
            }
            _ => (405, status(405, "MethodNotAllowed", method), vec![]),
        }
    }

    fn recompile(&mut self) -> Result<(), String> {
        let docs: Vec<Value> = {
            let st = self.state.lock().expect("state");
            st.objects
                .values()
                .map(|v| {
                    let mut d = v.clone();
                    if let Some(o) = d.as_object_mut() {
                        o.remove("status");
                    }
                    d
                })
                .collect()
        };
        // the fake API server answers with the message, as Kyverno's policy
        // validation webhook does
        self.engine.apply(&docs).map_err(|e| e.chain())
    }

    fn create_pod(&mut self, ns: &str, pod: Value, dry_run: bool) -> (u16, Value, Vec<String>) {
        let name = pod
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if !self
            .state
            .lock()
            .expect("state")
            .namespaces
            .contains_key(ns)
        {
            return (
                404,
                status(404, "NotFound", &format!("namespaces \"{ns}\" not found")),
                vec![],
            );
        }
        let req = AdmissionRequest::pod(Operation::Create, ns, BTreeMap::new(), pod.clone());
        let d = match self.engine.admit(&req, self.now) {
            Ok(d) => d,
            // No policy applied: nothing to decide.
            Err(_) => trustswap::admission::decision::Decision::admitted(),
        };
        let images: Vec<String> = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("image").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let flipped = self
            .knobs
            .flip_image
            .as_deref()
            .is_some_and(|f| images.iter().any(|i| i.contains(f)));
        let allowed = d.allowed != flipped;
        if !allowed {
            return denial(&d, "flipped by the fake");
        }
        if dry_run {
            return (201, pod, d.warnings);
        }
        if self
            .state
            .lock()
            .expect("state")
            .pods
            .contains_key(&(ns.to_owned(), name.clone()))
        {
            return (
                409,
                status(
                    409,
                    "AlreadyExists",
                    &format!("pods \"{name}\" already exists"),
                ),
                vec![],
            );
        }
        let mut statuses = Vec::new();
        for c in pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
            let parsed = ImageRef::kyverno(image).expect("pod image");
            let digest = self.evidence.resolve_digest(&parsed).expect("digest");
            statuses.push(json!({ "name": c["name"], "image": image, "imageID": format!("{}@{digest}", parsed.repository()), "ready": false, "restartCount": 1, "state": { "waiting": { "reason": "CrashLoopBackOff" } } }));
        }
        // Stored as admission mutated it (annotations, digest pins).
        let mut stored = pod;
        trustswap::admission::apply_patches(&mut stored, &d.patches);
        stored["metadata"]["namespace"] = json!(ns);
        stored["metadata"]["uid"] = json!(format!("uid-{ns}-{name}"));
        stored["status"] = json!({ "phase": "Running", "containerStatuses": statuses });
        let mut st = self.state.lock().expect("state");
        if !d.report.is_empty() {
            let results: Vec<Value> = d
                .report
                .iter()
                .map(|r| json!({ "policy": r.policy, "rule": r.rule, "result": r.result.as_str(), "message": r.message, "source": "kyverno" }))
                .collect();
            st.reports.entry(ns.to_owned()).or_default().push(json!({
                "apiVersion": "wgpolicyk8s.io/v1alpha2",
                "kind": "PolicyReport",
                "metadata": { "name": format!("uid-{ns}-{name}"), "namespace": ns },
                "scope": { "apiVersion": "v1", "kind": "Pod", "name": name, "namespace": ns },
                "results": results,
            }));
        }
        st.pods.insert((ns.to_owned(), name), stored.clone());
        (201, stored, d.warnings)
    }
}

impl Server {
    /// A dry-run UPDATE (PUT) of a stored pod or of its subresource,
    /// decided by the embedded engine as an UPDATE (nothing is stored).
    fn update_pod(
        &mut self,
        ns: &str,
        name: &str,
        pod: Value,
        sub: &str,
    ) -> (u16, Value, Vec<String>) {
        let Some(old) = self
            .state
            .lock()
            .expect("state")
            .pods
            .get(&(ns.to_owned(), name.to_owned()))
            .cloned()
        else {
            return (
                404,
                status(404, "NotFound", &format!("pods \"{name}\" not found")),
                vec![],
            );
        };
        let req = AdmissionRequest::pod_update(ns, BTreeMap::new(), old, pod.clone(), sub);
        let d = match self.engine.admit(&req, self.now) {
            Ok(d) => d,
            Err(_) => trustswap::admission::decision::Decision::admitted(),
        };
        if !d.allowed {
            return denial(&d, "");
        }
        (200, pod, d.warnings)
    }
}

/// The API server's answer when a webhook denies: the first denying
/// webhook's name and the decision's message (`otherwise` when it has none).
fn denial(
    d: &trustswap::admission::decision::Decision,
    otherwise: &str,
) -> (u16, Value, Vec<String>) {
    let webhook = d
        .denials
        .first()
        .map_or("mutate.kyverno.svc-fail", |x| x.webhook.as_str());
    let message = d.message.clone().unwrap_or_else(|| otherwise.to_owned());
    (
        400,
        status(
            400,
            "BadRequest",
            &format!("admission webhook \"{webhook}\" denied the request: {message}"),
        ),
        vec![],
    )
}

/// A `KubeBackend` (backend `name`, run id `run_id`) on a fresh fake
/// cluster deciding with `lab`'s evidence, with short waits.
pub fn kube_backend(
    lab: &trustswap::experiment::lab::LabContext,
    name: &'static str,
    run_id: &str,
    knobs: Knobs,
    tags: Box<dyn trustswap::backend::kube::adapter::FixtureTags>,
) -> (trustswap::backend::kube::KubeBackend, FakeCluster) {
    use std::time::Duration;
    use trustswap::backend::kube::adapter::AdapterSettings;
    use trustswap::backend::kube::{ClusterBackend, KubeBackend, Settings};
    let relocation = Relocation::new("trustswap-registry:5000");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (client, fake) = {
        let _guard = runtime.enter();
        FakeCluster::start(lab.evidence.clone(), relocation.clone(), lab.now, knobs)
    };
    let mut settings = Settings::new(run_id);
    settings.poll_interval = Duration::from_millis(5);
    settings.ready_timeout = Duration::from_secs(5);
    settings.request_timeout = Duration::from_secs(10);
    settings.retry_backoff = Duration::from_millis(5);
    settings.settle = Duration::ZERO;
    let backend = KubeBackend::new(
        name,
        ClusterBackend::with_client(runtime, client, settings),
        relocation,
        tags,
        AdapterSettings {
            report_timeout: Duration::from_secs(2),
            poll_interval: Duration::from_millis(5),
            ..AdapterSettings::default()
        },
    );
    (backend, fake)
}

/// Everything left in the fake: objects, namespaces, pods.
pub fn remaining(state: &State) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (p, ns, n) in state.objects.keys() {
        out.insert(format!("{p} {ns}/{n}"));
    }
    for n in state.namespaces.keys() {
        out.insert(format!("namespace {n}"));
    }
    for (ns, n) in state.pods.keys() {
        out.insert(format!("pod {ns}/{n}"));
    }
    out
}
