//! Exit codes, in one place. Each error variant maps to exactly one of these
//! (see `Error::exit_code`), and the README and `--help` document them.

/// The claim holds: every compared set differs only where it may, every hypothesis held.
pub const HOLDS: u8 = 0;
/// The claim does not hold: a finding (a structural difference, a deviated hypothesis).
pub const FINDING: u8 = 1;
/// Usage or input error: bad flags, malformed YAML, unknown vendor, unreadable key.
pub const USAGE: u8 = 2;
/// The harness could not decide (an internal or environment failure).
pub const UNDECIDED: u8 = 3;
