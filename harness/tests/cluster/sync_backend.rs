//! The synchronous `ClusterBackend` boundary over its own runtime, with the fake API server.

use crate::kube_fake;
use kube_fake as fake;

use std::time::Duration;

use fake::{fake, finish, status, step};
use serde_json::json;
use trustswap::backend::kube::{ClusterBackend, Settings};

#[test]
fn sync_admit_runs_on_the_owned_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let msg = "admission webhook \"ivpol.validate.kyverno.svc-fail\" denied the request: Policy trustswap-verify-images failed: failed to verify image signatures";
    let (client, task) = {
        let _guard = runtime.enter();
        fake(vec![step(
            "POST",
            "/api/v1/namespaces/apps/pods?&dryRun=All",
            400,
            status(400, "BadRequest", msg),
        )])
    };
    let mut settings = Settings::new("r1");
    settings.request_timeout = Duration::from_millis(500);
    settings.settle = Duration::ZERO;
    let backend = ClusterBackend::with_client(runtime, client, settings);
    let pod = json!({ "metadata": { "name": "web" }, "spec": { "containers": [{ "name": "app", "image": "cgr.dev/chainguard/nginx:latest" }] } });
    let d = backend.admit("apps", &pod).expect("decision");
    assert!(!d.allowed);
    assert_eq!(d.policies[0].policy, "trustswap-verify-images");
    let (runtime, client) = backend.into_parts();
    drop(client);
    assert_eq!(runtime.block_on(finish(task)), 1);
}
