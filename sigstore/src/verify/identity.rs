//! Who may sign an image, for `verify` and the lab's evidence: a thin layer
//! over `trustswap_model::identity` that turns a mismatch into a refusal.
//! The semantics are chosen where the rule is built and named there: a vendor
//! profile's matchers are Kyverno's ([`Pattern::kyverno`]), the
//! `--certificate-identity[-regexp]` flags are cosign's ([`Pattern::cosign`]).
//! Either way a signature passes when one of its certificate SANs matches, as
//! cosign checks; the embedded engine applies Kyverno's one-subject rule
//! itself.

pub use trustswap_model::identity::{Identity, Pattern};

use super::refusal::Refusal;

/// A subject pattern over the certificate SANs, and optionally an issuer
/// pattern over the OIDC issuer extension.
#[derive(Debug, Clone)]
pub struct IdentityRule {
    pub subject: Pattern,
    pub issuer: Option<Pattern>,
}

impl IdentityRule {
    /// The first SAN the rule admits; refuses with Kyverno's wording.
    pub fn check(&self, sans: &[String], issuer: Option<&str>) -> Result<String, Refusal> {
        Identity::new(self.subject.clone(), self.issuer.clone())
            .first_matching_san(sans, issuer)
            .map(str::to_owned)
            .map_err(|m| Refusal::new("identity", m.to_string()))
    }
}

/// A regular expression from a profile or a flag; an invalid one is a policy
/// refusal naming it.
pub fn regexp(re: &str) -> Result<Pattern, Refusal> {
    Pattern::kyverno_regexp(re)
        .map_err(|e| Refusal::new("policy", format!("invalid regular expression `{re}`: {e}")))
}
