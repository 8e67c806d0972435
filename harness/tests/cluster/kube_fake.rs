//! A scripted fake API server on `tower_test::mock::pair`, after kube-rs's
//! `kube/src/mock_tests.rs`: each step asserts one request's method and
//! path+query (and optionally its body) and answers it.

#![allow(dead_code)]

use std::time::Duration;

use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

pub type ApiServerHandle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

pub enum Reply {
    Json {
        code: u16,
        body: Value,
        warnings: Vec<String>,
    },
    /// Take the request and never answer it.
    Hang,
}

/// Assertions on a request's headers and JSON body.
pub type Check = Box<dyn Fn(&http::HeaderMap, &Value) + Send>;

pub struct Step {
    pub method: &'static str,
    pub uri: String,
    pub reply: Reply,
    /// Answer every further request matching method+uri, until one does not match.
    pub repeat: bool,
    pub check: Option<Check>,
}

pub fn step(method: &'static str, uri: &str, code: u16, body: Value) -> Step {
    Step {
        method,
        uri: uri.to_string(),
        reply: Reply::Json {
            code,
            body,
            warnings: Vec::new(),
        },
        repeat: false,
        check: None,
    }
}

impl Step {
    pub fn hang(method: &'static str, uri: &str) -> Step {
        Step {
            method,
            uri: uri.to_string(),
            reply: Reply::Hang,
            repeat: false,
            check: None,
        }
    }

    pub fn repeated(mut self) -> Step {
        self.repeat = true;
        self
    }

    pub fn warnings(mut self, w: &[&str]) -> Step {
        if let Reply::Json { warnings, .. } = &mut self.reply {
            *warnings = w.iter().map(|s| s.to_string()).collect();
        }
        self
    }

    pub fn check(mut self, f: impl Fn(&http::HeaderMap, &Value) + Send + 'static) -> Step {
        self.check = Some(Box::new(f));
        self
    }
}

/// `kind: Status` failure body.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code
    })
}

pub fn not_found(resource: &str, name: &str) -> Value {
    status(404, "NotFound", &format!("{resource} \"{name}\" not found"))
}

/// Starts the fake; returns the client and the task to await (with a timeout).
pub fn fake(steps: Vec<Step>) -> (Client, JoinHandle<usize>) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    (client, tokio::spawn(run(handle, steps)))
}

/// Runs the script; returns how many requests were answered.
async fn run(mut handle: ApiServerHandle, steps: Vec<Step>) -> usize {
    let mut held = Vec::new();
    let mut answered = 0;
    let mut pending: Option<(
        Request<Body>,
        tower_test::mock::SendResponse<Response<Body>>,
    )> = None;
    for (i, st) in steps.into_iter().enumerate() {
        let mut first = true;
        loop {
            let next = match pending.take() {
                Some(p) => Some(p),
                None => handle.next_request().await,
            };
            let Some((request, send)) = next else {
                assert!(
                    !first,
                    "step {i}: client went away before {} {}",
                    st.method, st.uri
                );
                return answered;
            };
            let uri = request.uri().to_string();
            let matches = request.method().as_str() == st.method && uri == st.uri;
            if !first && !matches {
                // End of a repeated step: this request belongs to the next one.
                pending = Some((request, send));
                break;
            }
            assert!(
                matches,
                "step {i}: expected {} {}, got {} {}",
                st.method,
                st.uri,
                request.method(),
                uri
            );
            let headers = request.headers().clone();
            let bytes = request
                .into_body()
                .collect_bytes()
                .await
                .expect("request body");
            let body: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).expect("json request body")
            };
            if let Some(check) = &st.check {
                check(&headers, &body);
            }
            match &st.reply {
                Reply::Json {
                    code,
                    body,
                    warnings,
                } => {
                    let mut b = Response::builder()
                        .status(*code)
                        .header("content-type", "application/json");
                    for w in warnings {
                        b = b.header("warning", w.as_str());
                    }
                    let resp = b
                        .body(Body::from(serde_json::to_vec(body).expect("json")))
                        .expect("response");
                    send.send_response(resp);
                }
                Reply::Hang => held.push(send),
            }
            answered += 1;
            first = false;
            if !st.repeat {
                break;
            }
        }
    }
    if let Some((request, _)) = pending {
        panic!(
            "unexpected request after the script: {} {}",
            request.method(),
            request.uri()
        );
    }
    // Keep unanswered requests pending until the client goes away; any further
    // request is a failure.
    if let Some((request, _)) = handle.next_request().await {
        panic!(
            "unexpected request after the script: {} {}",
            request.method(),
            request.uri()
        );
    }
    drop(held);
    answered
}

/// Awaits the fake with a timeout (as kube-rs's mock tests do); drop the client first.
pub async fn finish(task: JoinHandle<usize>) -> usize {
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("fake api server timed out (a scripted request never came)")
        .expect("fake api server scenario failed")
}
