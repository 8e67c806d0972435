//! Certificate identities: who may sign, and how a signer's certificate is
//! matched against that. One [`Pattern`] type; each consumer's semantics has a
//! named constructor, because they differ on purpose and a reader must see
//! which one is in force:
//!
//! | consumer | exact field | regexp field | which SAN |
//! |---|---|---|---|
//! | Kyverno ClusterPolicy `keyless`, IVP `cosign.keyless.identities` ([`Pattern::kyverno`], [`Pattern::kyverno_regexp`]) | go-wildcard (`*`, `?`) | unanchored (`regexp.MatchString`) | the one subject Kyverno's cosign reports ([`Identity::check_subject`]) |
//! | cosign CLI `--certificate-identity[-regexp]` ([`Pattern::cosign`], [`Pattern::cosign_regexp`]) | literal | unanchored | any SAN ([`Identity::first_matching_san`]) |
//! | the drift audit's `trustPolicy` ([`Pattern::audit`], [`Pattern::audit_regexp`]) | literal | anchored `^(?:re)$` | the manifest's one subject |
//!
//! Mismatches read as Kyverno's do: `subject mismatch: expected X, received Y`.

use std::fmt;

use regex::Regex;

use crate::wildcard;

/// One constraint on a certificate field.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// The value must equal the string.
    Exact(String),
    /// go-wildcard: `*` any run (including `/`), `?` one character.
    Wildcard(String),
    /// A regular expression, as written (`source`); `anchored` compiles it as `^(?:re)$`.
    Regex {
        source: String,
        anchored: bool,
        re: Regex,
    },
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Pattern::Exact(a), Pattern::Exact(b))
            | (Pattern::Wildcard(a), Pattern::Wildcard(b)) => a == b,
            (
                Pattern::Regex {
                    source: a,
                    anchored: x,
                    ..
                },
                Pattern::Regex {
                    source: b,
                    anchored: y,
                    ..
                },
            ) => a == b && x == y,
            _ => false,
        }
    }
}

impl Pattern {
    /// Kyverno's `subject` / `issuer`: a go-wildcard.
    pub fn kyverno(s: &str) -> Pattern {
        Pattern::Wildcard(s.to_owned())
    }

    /// Kyverno's `subjectRegExp` / `issuerRegExp`: unanchored (Go `regexp.MatchString`).
    pub fn kyverno_regexp(re: &str) -> Result<Pattern, regex::Error> {
        Self::regex(re, false)
    }

    /// cosign's `--certificate-identity` / `--certificate-oidc-issuer`: literal.
    pub fn cosign(s: &str) -> Pattern {
        Pattern::Exact(s.to_owned())
    }

    /// cosign's `--certificate-identity-regexp`: unanchored (Go `regexp.MatchString`).
    pub fn cosign_regexp(re: &str) -> Result<Pattern, regex::Error> {
        Self::regex(re, false)
    }

    /// The drift audit's `subject` / `issuer`: literal.
    pub fn audit(s: &str) -> Pattern {
        Pattern::Exact(s.to_owned())
    }

    /// The drift audit's `subjectRegExp` / `issuerRegExp`: anchored, the whole
    /// value must match (DRIFT.md).
    pub fn audit_regexp(re: &str) -> Result<Pattern, regex::Error> {
        Self::regex(re, true)
    }

    fn regex(source: &str, anchored: bool) -> Result<Pattern, regex::Error> {
        let re = if anchored {
            Regex::new(&format!("^(?:{source})$"))?
        } else {
            Regex::new(source)?
        };
        Ok(Pattern::Regex {
            source: source.to_owned(),
            anchored,
            re,
        })
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Exact(s) => s == value,
            Pattern::Wildcard(w) => wildcard::wildcard_match(w, value),
            Pattern::Regex { re, .. } => re.is_match(value),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        match self {
            Pattern::Exact(s) | Pattern::Wildcard(s) => s,
            Pattern::Regex { source, .. } => source,
        }
    }

    /// The one value the pattern admits, if it admits only one.
    pub fn exact_value(&self) -> Option<&str> {
        match self {
            Pattern::Exact(s) => Some(s),
            Pattern::Wildcard(w) if !wildcard::contains_wildcard(w) => Some(w),
            Pattern::Regex { .. } | Pattern::Wildcard(_) => None,
        }
    }
}

/// Which certificate field a mismatch is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Subject,
    Issuer,
}

/// A certificate that does not match, in Kyverno's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub field: Field,
    pub expected: String,
    pub received: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = match self.field {
            Field::Subject => "subject",
            Field::Issuer => "issuer",
        };
        write!(
            f,
            "{field} mismatch: expected {}, received {}",
            self.expected, self.received
        )
    }
}

impl std::error::Error for Mismatch {}

/// Who may sign: every subject pattern and every issuer pattern must match
/// (Kyverno checks `subject` then `subjectRegExp`, `issuer` then
/// `issuerRegExp`); no pattern means unconstrained.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    pub subject: Vec<Pattern>,
    pub issuer: Vec<Pattern>,
}

impl Identity {
    /// One subject pattern and an optional issuer pattern.
    pub fn new(subject: Pattern, issuer: Option<Pattern>) -> Identity {
        Identity {
            subject: vec![subject],
            issuer: issuer.into_iter().collect(),
        }
    }

    /// Kyverno's `matchCertificateData` for one subject and issuer
    /// (`pkg/cosign/cosign.go`); also the drift audit's rule.
    pub fn check_subject(&self, subject: &str, issuer: &str) -> Result<(), Mismatch> {
        check_all(&self.subject, Field::Subject, subject)?;
        check_all(&self.issuer, Field::Issuer, issuer)
    }

    /// cosign's rule: the first SAN every subject pattern admits, then the
    /// issuer. With no SAN admitted, the mismatch lists every SAN received.
    pub fn first_matching_san<'a>(
        &self,
        sans: &'a [String],
        issuer: Option<&str>,
    ) -> Result<&'a str, Mismatch> {
        let Some(san) = sans
            .iter()
            .find(|s| self.subject.iter().all(|p| p.matches(s)))
        else {
            let expected = self
                .subject
                .iter()
                .find(|p| !sans.iter().any(|s| p.matches(s)))
                .or(self.subject.first())
                .map(Pattern::as_str)
                .unwrap_or_default();
            return Err(Mismatch {
                field: Field::Subject,
                expected: expected.to_owned(),
                received: sans.join(", "),
            });
        };
        check_all(&self.issuer, Field::Issuer, issuer.unwrap_or(""))?;
        Ok(san)
    }
}

fn check_all(patterns: &[Pattern], field: Field, value: &str) -> Result<(), Mismatch> {
    match patterns.iter().find(|p| !p.matches(value)) {
        None => Ok(()),
        Some(p) => Err(Mismatch {
            field,
            expected: p.as_str().to_owned(),
            received: value.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "https://github.com/example-org/platform/.github/workflows/release.yaml@refs/heads/main";
    const EVIL: &str = "https://github.com/example-org-evil/platform/.github/workflows/release.yaml@refs/heads/main";

    /// The three semantics side by side: what each consumer admits for the
    /// same written pattern.
    #[test]
    fn one_pattern_three_semantics() {
        // (written, value, kyverno, cosign, audit)
        let exact = [
            ("https://github.com/example-org*", EVIL, true, false, false),
            (GOOD, GOOD, true, true, true),
            ("a?c", "abc", true, false, false),
            ("a?c", "a?c", true, true, true),
        ];
        for (w, v, ky, co, au) in exact {
            assert_eq!(Pattern::kyverno(w).matches(v), ky, "kyverno {w} {v}");
            assert_eq!(Pattern::cosign(w).matches(v), co, "cosign {w} {v}");
            assert_eq!(Pattern::audit(w).matches(v), au, "audit {w} {v}");
        }
        let regexps = [
            (r"github\.com/example-org", EVIL, true, true, false),
            (
                r"https://github\.com/example-org/.*",
                GOOD,
                true,
                true,
                true,
            ),
            (
                r"^https://github\.com/example-org/",
                EVIL,
                false,
                false,
                false,
            ),
        ];
        for (w, v, ky, co, au) in regexps {
            assert_eq!(
                Pattern::kyverno_regexp(w).expect("re").matches(v),
                ky,
                "kyverno {w}"
            );
            assert_eq!(
                Pattern::cosign_regexp(w).expect("re").matches(v),
                co,
                "cosign {w}"
            );
            assert_eq!(
                Pattern::audit_regexp(w).expect("re").matches(v),
                au,
                "audit {w}"
            );
        }
    }

    #[test]
    fn mismatches_read_like_kyverno() {
        let id = Identity::new(
            Pattern::kyverno(GOOD),
            Some(Pattern::kyverno(
                "https://token.actions.githubusercontent.com",
            )),
        );
        assert_eq!(
            id.check_subject(GOOD, "https://accounts.google.com")
                .expect_err("issuer")
                .to_string(),
            "issuer mismatch: expected https://token.actions.githubusercontent.com, received https://accounts.google.com"
        );
        assert_eq!(
            id.check_subject(EVIL, "").expect_err("subject").to_string(),
            format!("subject mismatch: expected {GOOD}, received {EVIL}")
        );
    }

    #[test]
    fn cosign_takes_any_san() {
        let id = Identity::new(Pattern::cosign(GOOD), None);
        let sans = vec!["mailto:x@example.com".to_owned(), GOOD.to_owned()];
        assert_eq!(id.first_matching_san(&sans, None), Ok(GOOD));
        let e = id.first_matching_san(&sans[..1], None).expect_err("no SAN");
        assert_eq!(e.received, "mailto:x@example.com");
    }
}
