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

/// The answer to a claim, and the exit code it maps to: one enum for every
/// command that decides (`run`, `--claim agreement`), so that the word in the
/// report and the process's exit code cannot disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Holds,
    DoesNotHold,
    Undecided,
}

impl Verdict {
    /// The word reports use.
    pub fn id(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::DoesNotHold => "does-not-hold",
            Verdict::Undecided => "undecided",
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Holds => HOLDS,
            Verdict::DoesNotHold => FINDING,
            Verdict::Undecided => UNDECIDED,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_verdict_has_its_word_and_its_exit_code() {
        let all = [Verdict::Holds, Verdict::DoesNotHold, Verdict::Undecided];
        let words: Vec<String> = all
            .iter()
            .map(|v| {
                serde_json::to_value(v)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(words, ["holds", "does-not-hold", "undecided"]);
        assert_eq!(
            all.map(Verdict::id),
            ["holds", "does-not-hold", "undecided"]
        );
        assert_eq!(all.map(Verdict::exit_code), [HOLDS, FINDING, UNDECIDED]);
    }
}
