//! The kinds trustswap applies, with their REST plural and scope, so documents
//! map to API paths without a discovery round trip (unknown kinds fall back to
//! discovery).

use kube::core::{ApiResource, GroupVersionKind};

/// A kind the backend knows how to address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KindInfo {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
}

impl KindInfo {
    fn new(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> KindInfo {
        KindInfo {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            plural: plural.to_string(),
            namespaced,
        }
    }

    /// `group/version` (or `version` for the core group).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The kube `ApiResource` for dynamic objects of this kind.
    pub fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(&self.group, &self.version, &self.kind),
            &self.plural,
        )
    }

    /// How readiness is reported, if this kind is a policy.
    pub fn readiness(&self) -> Option<Readiness> {
        match (self.group.as_str(), self.kind.as_str()) {
            ("kyverno.io", "ClusterPolicy" | "Policy") => Some(Readiness::KyvernoV1),
            (
                "policies.kyverno.io",
                "ImageValidatingPolicy"
                | "ValidatingPolicy"
                | "NamespacedImageValidatingPolicy"
                | "NamespacedValidatingPolicy"
                | "MutatingPolicy"
                | "GeneratingPolicy"
                | "DeletingPolicy",
            ) => Some(Readiness::ConditionStatus),
            _ => None,
        }
    }
}

/// The two status shapes Kyverno 1.19 uses for policy readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// `kyverno.io/v1` ClusterPolicy/Policy: `status.conditions[type=Ready].status == "True"`.
    KyvernoV1,
    /// `policies.kyverno.io/v1` CEL policies: `status.conditionStatus.ready == true`.
    ConditionStatus,
}

/// Kinds known without discovery.
pub fn known_kinds() -> Vec<KindInfo> {
    vec![
        KindInfo::new(
            "kyverno.io",
            "v1",
            "ClusterPolicy",
            "clusterpolicies",
            false,
        ),
        KindInfo::new("kyverno.io", "v1", "Policy", "policies", true),
        KindInfo::new(
            "policies.kyverno.io",
            "v1",
            "ImageValidatingPolicy",
            "imagevalidatingpolicies",
            false,
        ),
        KindInfo::new(
            "policies.kyverno.io",
            "v1",
            "ValidatingPolicy",
            "validatingpolicies",
            false,
        ),
        KindInfo::new(
            "kyverno.io",
            "v2",
            "PolicyException",
            "policyexceptions",
            true,
        ),
        KindInfo::new(
            "policies.kyverno.io",
            "v1",
            "PolicyException",
            "policyexceptions",
            true,
        ),
        // Same storage as kyverno.io/v2; accepted on input, not listed in cleanup.
        KindInfo::new(
            "kyverno.io",
            "v2beta1",
            "PolicyException",
            "policyexceptions",
            true,
        ),
    ]
}

/// The kinds [`crate::ClusterClient::cleanup`] lists by label (one version per storage).
pub fn cleanup_kinds() -> Vec<KindInfo> {
    known_kinds()
        .into_iter()
        .filter(|k| k.version != "v2beta1")
        .collect()
}

/// Looks a kind up in the built-in table.
pub fn lookup(api_version: &str, kind: &str) -> Option<KindInfo> {
    let (group, version) = split_api_version(api_version);
    known_kinds()
        .into_iter()
        .find(|k| k.group == group && k.version == version && k.kind == kind)
}

/// Splits `group/version` (the core group has no slash).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// The `wgpolicyk8s.io/v1alpha2` PolicyReport (Kyverno's default report API).
pub fn policy_report_kind() -> KindInfo {
    KindInfo::new(
        "wgpolicyk8s.io",
        "v1alpha2",
        "PolicyReport",
        "policyreports",
        true,
    )
}

/// The `openreports.io/v1alpha1` Report, used when Kyverno runs with openreports enabled.
pub fn openreports_kind() -> KindInfo {
    KindInfo::new("openreports.io", "v1alpha1", "Report", "reports", true)
}
