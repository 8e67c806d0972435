//! Admission request input (AdmissionReview v1 shaped).

use crate::error::RequestError;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Admission operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }

    pub fn parse(s: &str) -> Option<Operation> {
        match s {
            "CREATE" => Some(Operation::Create),
            "UPDATE" => Some(Operation::Update),
            "DELETE" => Some(Operation::Delete),
            "CONNECT" => Some(Operation::Connect),
            _ => None,
        }
    }
}

/// The requesting user (`request.userInfo`), plus the roles Kyverno would resolve via RBAC
/// (which this engine cannot look up: pass them in `roles` / `cluster_roles` if needed).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserInfo {
    pub username: String,
    pub groups: Vec<String>,
    pub roles: Vec<String>,
    pub cluster_roles: Vec<String>,
}

/// A Pod admission request.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmissionRequest {
    pub uid: String,
    pub operation: Operation,
    /// Namespace of the request (empty for cluster-scoped objects).
    pub namespace: String,
    /// Labels of the namespace object (`kubernetes.io/metadata.name` is added when missing,
    /// as the API server always sets it).
    pub namespace_labels: BTreeMap<String, String>,
    /// `request.kind` group/version/kind.
    pub kind: (String, String, String),
    /// `request.resource` group/version/resource.
    pub resource: (String, String, String),
    pub sub_resource: String,
    /// `request.object` (the Pod). For DELETE this is `oldObject`.
    pub object: Value,
    pub old_object: Value,
    pub user_info: Option<UserInfo>,
    /// The whole `request` JSON (for the CEL `request` variable).
    pub raw: Value,
}

impl AdmissionRequest {
    /// Parses an `AdmissionReview` (with a `request` field) or a bare `AdmissionRequest`.
    pub fn from_review(
        review: &Value,
        namespace_labels: BTreeMap<String, String>,
    ) -> Result<AdmissionRequest, RequestError> {
        let req = review.get("request").unwrap_or(review);
        if !req.is_object() {
            return Err(RequestError::new("request", "must be an object"));
        }
        let op_s = req
            .get("operation")
            .and_then(Value::as_str)
            .ok_or_else(|| RequestError::new("request.operation", "required string"))?;
        let operation = Operation::parse(op_s).ok_or_else(|| {
            RequestError::new("request.operation", format!("unknown operation {op_s:?}"))
        })?;
        let object = req.get("object").cloned().unwrap_or(Value::Null);
        let old_object = req.get("oldObject").cloned().unwrap_or(Value::Null);
        let subject = if object.is_object() {
            &object
        } else {
            &old_object
        };
        if !subject.is_object() {
            return Err(RequestError::new("request.object", "required object"));
        }
        let namespace = req
            .get("namespace")
            .and_then(Value::as_str)
            .or_else(|| {
                subject
                    .get("metadata")
                    .and_then(|m| m.get("namespace"))
                    .and_then(Value::as_str)
            })
            .unwrap_or_default()
            .to_string();
        let gvk = |field: &str, last: &str, default_last: &str| -> (String, String, String) {
            let v = req.get(field);
            let g = |k: &str| {
                v.and_then(|x| x.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let l = v
                .and_then(|x| x.get(last))
                .and_then(Value::as_str)
                .map(str::to_string);
            (
                g("group"),
                v.and_then(|x| x.get("version"))
                    .and_then(Value::as_str)
                    .unwrap_or("v1")
                    .to_string(),
                l.unwrap_or_else(|| default_last.to_string()),
            )
        };
        let obj_kind = subject
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("Pod")
            .to_string();
        let kind = gvk("kind", "kind", &obj_kind);
        let default_resource = format!("{}s", obj_kind.to_ascii_lowercase());
        let resource = gvk("resource", "resource", &default_resource);
        let user_info = req
            .get("userInfo")
            .filter(|u| u.is_object())
            .map(|u| UserInfo {
                username: u
                    .get("username")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                groups: u
                    .get("groups")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                roles: vec![],
                cluster_roles: vec![],
            });
        let mut namespace_labels = namespace_labels;
        if !namespace.is_empty() {
            namespace_labels
                .entry("kubernetes.io/metadata.name".to_string())
                .or_insert_with(|| namespace.clone());
        }
        Ok(AdmissionRequest {
            uid: req
                .get("uid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            operation,
            namespace,
            namespace_labels,
            kind,
            resource,
            sub_resource: req
                .get("subResource")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            object,
            old_object,
            user_info,
            raw: req.clone(),
        })
    }

    /// Convenience constructor for a Pod CREATE/UPDATE request.
    pub fn pod(
        operation: Operation,
        namespace: &str,
        namespace_labels: BTreeMap<String, String>,
        pod: Value,
    ) -> AdmissionRequest {
        let mut pod = pod;
        if let Some(m) = pod.as_object_mut() {
            m.entry("apiVersion").or_insert(json!("v1"));
            m.entry("kind").or_insert(json!("Pod"));
        }
        let name = pod
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let review = json!({
            "uid": "00000000-0000-0000-0000-000000000000",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "name": name,
            "namespace": namespace,
            "operation": operation.as_str(),
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
            "object": pod,
            "oldObject": null,
            "dryRun": false,
        });
        // The constructed review always has an object and a valid operation.
        match AdmissionRequest::from_review(&review, namespace_labels) {
            Ok(r) => r,
            Err(_) => unreachable_request(),
        }
    }

    /// A Pod UPDATE: `old` as stored, `new` as sent; `sub_resource` names
    /// the subresource written (`ephemeralcontainers`), empty for the pod.
    pub fn pod_update(
        namespace: &str,
        namespace_labels: BTreeMap<String, String>,
        old: Value,
        new: Value,
        sub_resource: &str,
    ) -> AdmissionRequest {
        let mut r = AdmissionRequest::pod(Operation::Update, namespace, namespace_labels, new);
        r.raw["oldObject"] = old.clone();
        r.old_object = old;
        if !sub_resource.is_empty() {
            r.raw["subResource"] = json!(sub_resource);
            r.sub_resource = sub_resource.to_owned();
        }
        r
    }

    /// The object under admission (`object`, or `oldObject` for DELETE).
    pub fn subject(&self) -> &Value {
        if self.object.is_object() {
            &self.object
        } else {
            &self.old_object
        }
    }

    pub fn name(&self) -> String {
        let s = self.subject();
        s.get("metadata")
            .and_then(|m| m.get("name").or_else(|| m.get("generateName")))
            .and_then(Value::as_str)
            .or_else(|| self.raw.get("name").and_then(Value::as_str))
            .unwrap_or_default()
            .to_string()
    }

    /// `Kind/namespace/name` as Kyverno prints it in block messages.
    pub fn resource_key(&self) -> String {
        format!("{}/{}/{}", self.kind.2, self.namespace, self.name())
    }

    /// The namespace object given to CEL as `namespaceObject` (null when cluster-scoped).
    pub fn namespace_object(&self) -> Value {
        if self.namespace.is_empty() {
            return Value::Null;
        }
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": self.namespace, "labels": self.namespace_labels},
        })
    }
}

fn unreachable_request() -> AdmissionRequest {
    AdmissionRequest {
        uid: String::new(),
        operation: Operation::Create,
        namespace: String::new(),
        namespace_labels: BTreeMap::new(),
        kind: (String::new(), "v1".into(), "Pod".into()),
        resource: (String::new(), "v1".into(), "pods".into()),
        sub_resource: String::new(),
        object: json!({}),
        old_object: Value::Null,
        user_info: None,
        raw: Value::Null,
    }
}
