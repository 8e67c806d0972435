//! trustswap's boundary with the machine, shared by the Sigstore side and the
//! CLI: [`input`] reads files with a size cap (regular files only), [`owned`]
//! decides which folders trustswap may replace (never one it did not write)
//! and writes atomically, [`yaml`] parses with file and line in every error,
//! [`interrupt`] turns Ctrl-C into cleanup, [`runtime`] is the process's one
//! tokio runtime, and [`error`] is the one error type whose variants map to
//! the exit codes in [`exit`].

pub mod error;
pub mod exit;
pub mod input;
pub mod interrupt;
pub mod owned;
pub mod runtime;
pub mod yaml;
