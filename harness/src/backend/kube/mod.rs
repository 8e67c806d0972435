//! Real-cluster backends for trustswap: an existing API server with Kyverno
//! ([`ClusterBackend`], synchronous, over the async [`ClusterClient`]) and a
//! throwaway `kind` cluster ([`kind`]).

pub mod adapter;
pub mod backend;
pub mod cluster;
pub mod error;
pub mod kind;
pub mod message;
pub mod resources;

pub use adapter::{KubeBackend, RegistryTags, Swap};
pub use backend::ClusterBackend;
pub use cluster::{
    AppliedObject, ApplyOutcome, ClusterClient, ClusterDecision, ContainerImage, PodImages,
    PreflightReport, Settings, policy_ready,
};
pub use error::{ClusterError, Leftover};
pub use message::{PolicyViolation, parse_denial, parse_warning};
