//! The cluster backends: the Kubernetes client against scripted and stateful
//! fake API servers (`api`, `sync_backend`, `backend`, `interrupt`), kind
//! (`kind`; its real tests skip without Docker), and the local control plane
//! (`local_backend`; `local_real` runs real Kyverno when `TRUSTSWAP_ORACLE` names
//! the oracle's binaries). One test binary: see ARCHITECTURE.md, "Tests".

#[path = "../common/mod.rs"]
mod common;
mod kube_cluster_fake;
mod kube_fake;

mod admit_real;
mod api;
mod backend;
mod interrupt;
mod kind;
mod local_backend;
mod local_real;
mod sync_backend;
