//! The `trustswap` binary and the library calls behind its commands: `admit`,
//! commands
//! and reports (`commands`), bad input (`bad_input`), exit codes
//! (`exit_codes`), never destroying what a user owns (`never_destroy`), the
//! shipped hypotheses (`experiments`, `negative`), the static substitution check
//! (`substitution`), the drift audit (`audit_drift`), and property tests of
//! every input parser (`properties`). One test binary: see ARCHITECTURE.md,
//! "Tests".

#[path = "../common/mod.rs"]
mod common;
mod synth;

mod admit;
mod anywhere;
mod audit_drift;
mod bad_input;
mod commands;
mod exit_codes;
mod experiments;
mod fidelity;
mod negative;
mod never_destroy;
mod own_policies;
mod properties;
mod substitution;
mod swap;
