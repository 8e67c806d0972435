//! trustswap's Kubernetes side, with no knowledge of experiments or reports:
//! - [`backend::ClusterBackend`]: a real API server with Kyverno, driven
//!   synchronously over the async [`cluster::ClusterClient`] (apply and wait
//!   for readiness, dry-run admission, real pods, policy reports, preflight,
//!   cleanup of everything a run labelled);
//! - [`kind`]: kind tooling (every command pinned and named after the run);
//! - [`local`]: the local control plane (etcd, kube-apiserver, Kyverno's
//!   controllers, a registry and a TUF mirror as local processes, built from
//!   the Go module proxy: no Docker);
//! - [`message`]: Kyverno's denial messages and `Warning` headers, parsed.
//!
//! The CLI crate adapts [`backend::ClusterBackend`] to its `Backend` trait
//! (`trustswap::backend::kube::adapter`).

#![forbid(unsafe_code)]

pub mod backend;
pub mod cluster;
pub mod error;
pub mod kind;
pub mod local;
pub mod message;
pub mod resources;

pub use backend::ClusterBackend;
pub use cluster::{
    AppliedObject, ApplyOutcome, ClusterClient, ClusterDecision, ContainerImage, PodImages,
    PreflightReport, Settings, Submission, policy_ready,
};
pub use error::{ClusterError, Leftover};
pub use message::{PolicyViolation, parse_denial, parse_warning};

pub(crate) use trustswap_io::{input, interrupt, runtime, yaml};
