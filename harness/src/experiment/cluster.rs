//! The simulated cluster for the enforcement layer: namespaces and running
//! pods with the digest each container resolved to, the admission record (or
//! none, when the pod bypassed admission), policy exceptions with their
//! expiry, the webhook's availability, revocations, and a clock.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    /// `container`, `init`.
    pub kind: &'static str,
    pub image: String,
    /// The digest the kubelet pulled.
    pub digest: String,
    pub repository: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRecord {
    /// Digest per container name, as admitted.
    pub digests: Vec<(String, String)>,
    /// The policy set that admitted it (`<engine>/<vendor>`).
    pub by: String,
    /// The exception the admission relied on, if any.
    pub exception: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunningPod {
    pub namespace: String,
    pub name: String,
    pub team: String,
    pub created_at: i64,
    pub containers: Vec<Container>,
    pub admission: Option<AdmissionRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionRecord {
    pub name: String,
    pub namespace: String,
    pub pod: String,
    pub expires_at: i64,
    /// The rendered exception document.
    #[serde(skip)]
    pub document: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub now: i64,
    pub webhook_up: bool,
    pub pods: Vec<RunningPod>,
    pub exceptions: Vec<ExceptionRecord>,
    /// Revoked signers: key fingerprints or certificate subjects, with the time.
    pub revoked: Vec<(String, i64)>,
}

impl Cluster {
    pub fn new(now: i64) -> Cluster {
        Cluster {
            now,
            webhook_up: true,
            pods: Vec::new(),
            exceptions: Vec::new(),
            revoked: Vec::new(),
        }
    }

    /// Advance the clock; Kyverno's cleanup controller deletes exceptions
    /// whose `cleanup.kyverno.io/ttl` has passed. Returns whether any went.
    pub fn advance(&mut self, seconds: i64) -> bool {
        self.now += seconds;
        let before = self.exceptions.len();
        let now = self.now;
        self.exceptions.retain(|e| {
            !(e.document.get("apiVersion").and_then(|v| v.as_str()) == Some("kyverno.io/v2")
                && e.expires_at <= now)
        });
        before != self.exceptions.len()
    }

    pub fn run(&mut self, pod: RunningPod) {
        self.pods
            .retain(|p| !(p.namespace == pod.namespace && p.name == pod.name));
        self.pods.push(pod);
    }
}
