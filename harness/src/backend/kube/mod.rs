//! Real-cluster backends: the `trustswap-kube` crate (client, kind, local
//! control plane, message parsing), re-exported under its old path, and
//! [`adapter`], which makes its [`ClusterBackend`] a [`super::Backend`].

pub mod adapter;

pub use trustswap_kube::{
    AppliedObject, ApplyOutcome, ClusterBackend, ClusterClient, ClusterDecision, ClusterError,
    ContainerImage, Leftover, PodImages, PolicyViolation, PreflightReport, Settings, backend,
    cluster, error, kind, message, parse_denial, parse_warning, policy_ready, resources,
};

pub use adapter::{KubeBackend, RegistryTags, Swap};
