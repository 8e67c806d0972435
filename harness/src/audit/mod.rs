//! The drift audit (`trustswap audit drift`): the pure engine is its own crate,
//! `trustswap-drift` (`drift/` at the top of the workspace); the experiment
//! step that feeds it a simulated or live cluster is
//! `experiment::audit_step`.

pub use trustswap_drift as drift;
