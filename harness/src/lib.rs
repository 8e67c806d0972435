//! trustswap: render the same admission policies for several hardened-image
//! vendors and check that only the trust root differs. See ARCHITECTURE.md.

pub use trustswap_engine as admission;
pub mod audit;
pub mod backend;
pub mod check;
pub mod cli;
pub mod diff;
pub mod error;
pub mod exit;
pub mod experiment;
pub mod fuzzing;
pub mod input;
pub mod interrupt;
pub mod lab_cli;
pub mod owned;
pub mod policy;
pub mod profile;
pub mod report;
pub mod supply;
pub mod verify;
pub mod yaml;
