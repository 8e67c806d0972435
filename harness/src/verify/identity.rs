//! Identity matching as Kyverno's `matchCertificateData` does it: `subject` and
//! `issuer` are wildcards (`*` any run, `/` included; `?` one character),
//! `subjectRegExp` and `issuerRegExp` are regular expressions (unanchored, as
//! Go's `regexp.MatchString`). Mismatches read as Kyverno's: `subject
//! mismatch: expected X, received Y`.

use regex::Regex;
use wildmatch::WildMatch;

use super::refusal::Refusal;

#[derive(Debug, Clone)]
pub enum Pattern {
    /// A Kyverno wildcard; a string without `*`/`?` is exact.
    Wildcard(String),
    RegExp(Regex),
}

impl Pattern {
    pub fn regexp(re: &str) -> Result<Pattern, Refusal> {
        Regex::new(re)
            .map(Pattern::RegExp)
            .map_err(|e| Refusal::new("policy", format!("invalid regular expression `{re}`: {e}")))
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Wildcard(w) => WildMatch::new(w).matches(value),
            Pattern::RegExp(r) => r.is_match(value),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Pattern::Wildcard(w) => w.clone(),
            Pattern::RegExp(r) => r.as_str().to_owned(),
        }
    }

    /// The exact value, when the pattern admits only one.
    pub fn exact(&self) -> Option<&str> {
        match self {
            Pattern::Wildcard(w) if !w.contains(['*', '?']) => Some(w),
            _ => None,
        }
    }
}

/// Who may sign: a subject pattern over the certificate SANs, and optionally
/// an issuer pattern over the OIDC issuer extension.
#[derive(Debug, Clone)]
pub struct IdentityRule {
    pub subject: Pattern,
    pub issuer: Option<Pattern>,
}

impl IdentityRule {
    /// The first SAN the rule admits; refuses with Kyverno's wording.
    pub fn check(&self, sans: &[String], issuer: Option<&str>) -> Result<String, Refusal> {
        let Some(san) = sans.iter().find(|s| self.subject.matches(s)) else {
            return Err(Refusal::new(
                "identity",
                format!(
                    "subject mismatch: expected {}, received {}",
                    self.subject.describe(),
                    sans.join(", ")
                ),
            ));
        };
        if let Some(want) = &self.issuer {
            let got = issuer.unwrap_or("");
            if !want.matches(got) {
                return Err(Refusal::new(
                    "identity",
                    format!(
                        "issuer mismatch: expected {}, received {got}",
                        want.describe()
                    ),
                ));
            }
        }
        Ok(san.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(subject: Pattern) -> IdentityRule {
        IdentityRule {
            subject,
            issuer: Some(Pattern::Wildcard(
                "https://token.actions.githubusercontent.com".into(),
            )),
        }
    }

    const ISSUER: Option<&str> = Some("https://token.actions.githubusercontent.com");
    const GOOD: &str =
        "https://github.com/example-org/platform/.github/workflows/release.yaml@refs/heads/main";
    const EVIL: &str = "https://github.com/example-org-evil/platform/.github/workflows/release.yaml@refs/heads/main";

    #[test]
    fn careless_wildcard_admits_the_look_alike_org() {
        let r = rule(Pattern::Wildcard("https://github.com/example-org*".into()));
        assert!(r.check(&[EVIL.into()], ISSUER).is_ok());
    }

    #[test]
    fn anchored_regexp_refuses_the_look_alike_org() {
        let r = rule(Pattern::regexp(r"^https://github\.com/example-org/platform/\.github/workflows/release\.yaml@refs/heads/main$").unwrap());
        assert!(r.check(&[GOOD.into()], ISSUER).is_ok());
        let e = r.check(&[EVIL.into()], ISSUER).unwrap_err();
        assert!(
            e.reason
                .starts_with("subject mismatch: expected ^https://github"),
            "{e}"
        );
        assert!(e.reason.ends_with(&format!("received {EVIL}")), "{e}");
    }

    #[test]
    fn unanchored_regexp_matches_anywhere_like_go() {
        let r = rule(Pattern::regexp(r"github\.com/example-org").unwrap());
        assert!(r.check(&[EVIL.into()], ISSUER).is_ok());
    }

    #[test]
    fn issuer_mismatch_reads_like_kyverno() {
        let r = rule(Pattern::Wildcard(GOOD.into()));
        let e = r
            .check(&[GOOD.into()], Some("https://accounts.google.com"))
            .unwrap_err();
        assert_eq!(
            e.reason,
            "issuer mismatch: expected https://token.actions.githubusercontent.com, received https://accounts.google.com"
        );
    }

    #[test]
    fn question_mark_is_one_character() {
        assert!(Pattern::Wildcard("a?c".into()).matches("abc"));
        assert!(!Pattern::Wildcard("a?c".into()).matches("abbc"));
        assert!(Pattern::Wildcard("*".into()).matches("x/y/z"));
    }
}
