//! trustswap: render the same admission policies for several hardened-image
//! vendors and check that only the trust root differs. See ARCHITECTURE.md.

pub mod admit;
pub mod audit;
pub mod backend;
pub mod check;
pub mod cli;
pub mod diff;
pub mod experiment;
pub mod fuzzing;
pub mod lab_cli;
pub mod policy;
pub mod profile;
pub mod report;
pub mod shipped;
pub mod swap;

// The workspace's library crates, under the module names the CLI, the tests
// and the benches use (ARCHITECTURE.md maps them).
pub use trustswap_engine as admission;
pub use trustswap_io::{error, exit, input, interrupt, owned, runtime, yaml};
pub use trustswap_sigstore::{supply, verify};
