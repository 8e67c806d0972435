//! Fail-closed error type: every failure of verification is a `Refusal` with a
//! stage, a reason and a kind. The kind is decided where the refusal is made
//! (never read back from the reason's text) and maps to one exit code.

use std::fmt;

use crate::exit;

/// What a refusal means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalKind {
    /// The evidence was checked and does not hold (a bad signature, a
    /// tampered or non-canonical field, the wrong signer): a finding.
    Refused,
    /// A valid shape trustswap cannot check yet (public-key bundles, Rekor v2
    /// entries, an RFC 3161 timestamp as the only signed time): undecided.
    Unsupported,
    /// The evidence could not be read (a store or network failure): undecided.
    Unavailable,
    /// The input handed to trustswap is not what it must be (not JSON, not a
    /// Sigstore bundle, not an image reference): a usage error.
    Malformed,
}

impl RefusalKind {
    /// The one mapping from refusal kinds to exit codes.
    pub const fn exit_code(self) -> u8 {
        match self {
            RefusalKind::Refused => exit::FINDING,
            RefusalKind::Unsupported | RefusalKind::Unavailable => exit::UNDECIDED,
            RefusalKind::Malformed => exit::USAGE,
        }
    }

    /// `undecided` for kinds that leave the answer open, `refused` otherwise.
    pub const fn label(self) -> &'static str {
        match self {
            RefusalKind::Refused => "refused",
            RefusalKind::Unsupported | RefusalKind::Unavailable => "undecided",
            RefusalKind::Malformed => "malformed",
        }
    }

    /// Whether the evidence may still hold (it could not be checked).
    pub const fn undecided(self) -> bool {
        matches!(self, RefusalKind::Unsupported | RefusalKind::Unavailable)
    }

    /// The exit code of several independent checks that must all hold: bad
    /// input first, then any refusal (one failed check decides), then any
    /// undecided check.
    pub fn combined_exit_code(kinds: impl IntoIterator<Item = RefusalKind>) -> u8 {
        let (mut malformed, mut refused, mut undecided) = (false, false, false);
        for k in kinds {
            match k {
                RefusalKind::Malformed => malformed = true,
                RefusalKind::Refused => refused = true,
                RefusalKind::Unsupported | RefusalKind::Unavailable => undecided = true,
            }
        }
        if malformed {
            exit::USAGE
        } else if refused {
            exit::FINDING
        } else if undecided {
            exit::UNDECIDED
        } else {
            exit::HOLDS
        }
    }
}

/// A verification refusal. Anything that is not a positive, fully checked result is a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Short machine-friendly stage name ("payload", "tlog", "chain", "sct", "policy", ...).
    pub stage: &'static str,
    /// Human-readable reason.
    pub reason: String,
    /// What the refusal means (finding, undecided, bad input).
    pub kind: RefusalKind,
}

impl Refusal {
    /// The evidence does not hold.
    pub fn new(stage: &'static str, reason: impl Into<String>) -> Self {
        Self::of(RefusalKind::Refused, stage, reason)
    }

    /// A valid shape trustswap cannot check yet.
    pub fn unsupported(stage: &'static str, reason: impl Into<String>) -> Self {
        Self::of(RefusalKind::Unsupported, stage, reason)
    }

    /// The evidence could not be read.
    pub fn unavailable(stage: &'static str, reason: impl Into<String>) -> Self {
        Self::of(RefusalKind::Unavailable, stage, reason)
    }

    /// The input is not what it must be.
    pub fn malformed(stage: &'static str, reason: impl Into<String>) -> Self {
        Self::of(RefusalKind::Malformed, stage, reason)
    }

    pub fn of(kind: RefusalKind, stage: &'static str, reason: impl Into<String>) -> Self {
        Self {
            stage,
            reason: reason.into(),
            kind,
        }
    }

    /// Evidence found in a store (not named by the user) that is malformed
    /// is a refusal of that evidence, not bad input.
    pub fn as_evidence(mut self) -> Self {
        if self.kind == RefusalKind::Malformed {
            self.kind = RefusalKind::Refused;
        }
        self
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused at {}: {}", self.stage, self.reason)
    }
}

impl std::error::Error for Refusal {}

/// The refusals of alternative pieces of evidence, any one of which would
/// have sufficed. The aggregate is undecided when some piece could not be
/// checked (it may have held), and refused only when every piece was checked
/// and refused.
#[derive(Debug, Default)]
pub struct Alternatives {
    reasons: Vec<String>,
    undecided: Option<RefusalKind>,
}

impl Alternatives {
    /// One piece of evidence refused, described by `context`.
    pub fn push(&mut self, context: impl fmt::Display, refusal: &Refusal) {
        self.reasons.push(format!("{context}: {refusal}"));
        if refusal.kind.undecided() && self.undecided != Some(RefusalKind::Unavailable) {
            self.undecided = Some(refusal.kind);
        }
    }

    /// One piece of evidence refused for a reason stated here.
    pub fn refused(&mut self, reason: String) {
        self.reasons.push(reason);
    }

    pub fn is_empty(&self) -> bool {
        self.reasons.is_empty()
    }

    pub fn into_refusal(self, stage: &'static str) -> Refusal {
        Refusal::of(
            self.undecided.unwrap_or(RefusalKind::Refused),
            stage,
            self.reasons.join("; "),
        )
    }
}

/// `result.refuse("stage")?` turns any displayable error into a `Refusal`.
pub trait RefuseExt<T> {
    fn refuse(self, stage: &'static str) -> Result<T, Refusal>;
    fn refuse_ctx(self, stage: &'static str, ctx: &str) -> Result<T, Refusal>;
}

impl<T, E: fmt::Display> RefuseExt<T> for Result<T, E> {
    fn refuse(self, stage: &'static str) -> Result<T, Refusal> {
        self.map_err(|e| Refusal::new(stage, e.to_string()))
    }
    fn refuse_ctx(self, stage: &'static str, ctx: &str) -> Result<T, Refusal> {
        self.map_err(|e| Refusal::new(stage, format!("{ctx}: {e}")))
    }
}

impl<T> RefuseExt<T> for Option<T> {
    fn refuse(self, stage: &'static str) -> Result<T, Refusal> {
        self.ok_or_else(|| Refusal::new(stage, "missing"))
    }
    fn refuse_ctx(self, stage: &'static str, ctx: &str) -> Result<T, Refusal> {
        self.ok_or_else(|| Refusal::new(stage, ctx.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_exit_codes() {
        assert_eq!(RefusalKind::Refused.exit_code(), exit::FINDING);
        assert_eq!(RefusalKind::Unsupported.exit_code(), exit::UNDECIDED);
        assert_eq!(RefusalKind::Unavailable.exit_code(), exit::UNDECIDED);
        assert_eq!(RefusalKind::Malformed.exit_code(), exit::USAGE);
        use RefusalKind::*;
        assert_eq!(RefusalKind::combined_exit_code([]), exit::HOLDS);
        assert_eq!(
            RefusalKind::combined_exit_code([Unsupported, Refused]),
            exit::FINDING
        );
        assert_eq!(
            RefusalKind::combined_exit_code([Refused, Malformed]),
            exit::USAGE
        );
        assert_eq!(
            RefusalKind::combined_exit_code([Unavailable]),
            exit::UNDECIDED
        );
    }

    /// The kind never depends on the reason's text.
    #[test]
    fn the_word_unsupported_in_a_reason_is_only_text() {
        let r = Refusal::new("bundle", "mediaType unsupported (unsupported)");
        assert_eq!(r.kind, RefusalKind::Refused);
        assert_eq!(r.kind.exit_code(), exit::FINDING);
    }

    #[test]
    fn alternatives_are_undecided_when_one_could_not_be_checked() {
        let mut a = Alternatives::default();
        a.push("sig", &Refusal::new("tlog", "bad SET"));
        assert_eq!(a.into_refusal("signature").kind, RefusalKind::Refused);
        let mut a = Alternatives::default();
        a.push("sig", &Refusal::new("tlog", "bad SET"));
        a.push("bundle", &Refusal::unsupported("tlog", "Rekor v2"));
        let r = a.into_refusal("signature");
        assert_eq!(r.kind, RefusalKind::Unsupported);
        assert!(r.reason.contains("bad SET") && r.reason.contains("Rekor v2"));
        let mut a = Alternatives::default();
        a.push("bundle", &Refusal::malformed("bundle", "not JSON"));
        assert_eq!(a.into_refusal("signature").kind, RefusalKind::Refused);
    }
}
