//! Decisions, rule results, policy-report entries and Kyverno message formatting.

use serde_json::Value;
use std::collections::BTreeMap;

/// Result of one rule (ClusterPolicy) or one policy (CEL policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleStatus {
    Pass,
    Fail,
    Skip,
    Error,
    Warn,
}

impl RuleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleStatus::Pass => "pass",
            RuleStatus::Fail => "fail",
            RuleStatus::Skip => "skip",
            RuleStatus::Error => "error",
            RuleStatus::Warn => "warn",
        }
    }
}

/// Which admission webhook produced a result (Kyverno splits ClusterPolicy `verifyImages` into a
/// mutating part and a validating part).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// ClusterPolicy verifyImages (mutating webhook) and IVP mutateDigest.
    Mutate,
    /// ClusterPolicy validate rules and the verifyImages digest / required checks.
    Validate,
    /// ValidatingPolicy.
    ValidatingPolicy,
    /// ImageValidatingPolicy validations.
    ImageValidatingPolicy,
}

/// The kind of policy that produced a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    ClusterPolicy,
    ImageValidatingPolicy,
    ValidatingPolicy,
}

impl PolicyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::ClusterPolicy => "ClusterPolicy",
            PolicyKind::ImageValidatingPolicy => "ImageValidatingPolicy",
            PolicyKind::ValidatingPolicy => "ValidatingPolicy",
        }
    }
}

/// Whether a failing result blocks (Enforce / Deny) or is only reported (Audit) / warned (Warn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Enforce,
    Audit,
    Warn,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleResult {
    pub policy: String,
    pub policy_kind: PolicyKind,
    /// Rule name (ClusterPolicy) or the policy name (CEL policies, as Kyverno reports them).
    pub rule: String,
    pub status: RuleStatus,
    pub message: String,
    pub phase: Phase,
    /// For ClusterPolicy: the effective failure action of the rule; CEL policies: Enforce when
    /// `validationActions` contains Deny, else Audit/Warn.
    pub action: Action,
    /// Image the result is about, when it is about one.
    pub image: Option<String>,
}

/// A policy-report entry (one per failing or erroring result whose failure did not block).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportEntry {
    pub policy: String,
    pub rule: String,
    pub result: RuleStatus,
    pub message: String,
    /// `{apiVersion, kind, namespace, name}` of the resource.
    pub resource: Value,
}

/// An internal error that was ignored because of `failurePolicy: Ignore`.
#[derive(Debug, Clone, PartialEq)]
pub struct IgnoredError {
    pub policy: String,
    pub rule: String,
    pub message: String,
}

/// One webhook's denial.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    /// e.g. `mutate.kyverno.svc-fail`, `validate.kyverno.svc-fail`, `vpol.validate.kyverno.svc-fail`.
    pub webhook: String,
    pub message: String,
}

/// The admission decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    /// The message the API server would return (the first denying webhook's message).
    pub message: Option<String>,
    /// Every denying webhook, in webhook order (mutating first).
    pub denials: Vec<Denial>,
    pub warnings: Vec<String>,
    pub results: Vec<RuleResult>,
    pub report: Vec<ReportEntry>,
    /// JSON patch operations (digest mutation), as Kyverno would return them.
    pub patches: Vec<Value>,
    /// The error path: internal errors admitted because of `failurePolicy: Ignore`.
    pub ignored_errors: Vec<IgnoredError>,
}

impl Decision {
    /// Admitted, with nothing to say: what no policy decides.
    pub fn admitted() -> Decision {
        Decision {
            allowed: true,
            message: None,
            denials: vec![],
            warnings: vec![],
            results: vec![],
            report: vec![],
            patches: vec![],
            ignored_errors: vec![],
        }
    }

    /// Results of one policy.
    pub fn results_for<'a>(&'a self, policy: &'a str) -> impl Iterator<Item = &'a RuleResult> + 'a {
        self.results.iter().filter(move |r| r.policy == policy)
    }

    /// Status of the last result recorded for `policy`/`rule`.
    pub fn status_of(&self, policy: &str, rule: &str) -> Option<RuleStatus> {
        self.results
            .iter()
            .rev()
            .find(|r| r.policy == policy && r.rule == rule)
            .map(|r| r.status)
    }
}

/// Kyverno `GetBlockedMessages`: `"\n\nresource %s was blocked due to the following policies \n\n%s"`
/// where the second part is the YAML map `policy: {rule: message}` emitted like go-yaml v2
/// (sorted keys, 2-space indent, single-quoted when needed, folded past column 80).
pub fn blocked_message(
    resource_key: &str,
    failures: &BTreeMap<String, BTreeMap<String, String>>,
) -> String {
    let mut yaml = String::new();
    for (policy, rules) in failures {
        yaml.push_str(&yaml_scalar(policy, 0, 0));
        yaml.push_str(":\n");
        for (rule, msg) in rules {
            let key = yaml_scalar(rule, 2, 2);
            let prefix = format!("  {key}: ");
            let value = yaml_scalar(msg, prefix.chars().count(), 4);
            yaml.push_str(&prefix);
            yaml.push_str(&value);
            yaml.push('\n');
        }
    }
    format!("\n\nresource {resource_key} was blocked due to the following policies \n\n{yaml}")
}

const BEST_WIDTH: usize = 80;

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    let reserved = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", "-.inf", ".nan",
    ];
    if reserved.contains(&lower.as_str()) || s.parse::<f64>().is_ok() {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first)
        && !(first == '-' && s.len() > 1 && !s[1..].starts_with(' '))
    {
        return true;
    }
    if first == '-' && s.len() == 1 {
        return true;
    }
    if s.starts_with(' ') || s.ends_with(' ') || s.ends_with(':') {
        return true;
    }
    s.contains(": ") || s.contains(" #") || s.contains('\n') || s.contains('\t')
}

/// Emits a scalar as go-yaml v2 would: plain when possible, else single-quoted (double-quoted
/// when it holds line breaks or control characters), folding at spaces once the column passes 80.
/// `column` is the column where the scalar starts; `indent` the continuation indent.
pub fn yaml_scalar(s: &str, column: usize, indent: usize) -> String {
    if s.chars().any(|c| c.is_control()) {
        return serde_json::to_string(s).unwrap_or_default();
    }
    let quoted = needs_quotes(s);
    let mut out = String::new();
    let mut col = column;
    if quoted {
        out.push('\'');
        col += 1;
    }
    let chars: Vec<char> = s.chars().collect();
    let mut prev_space = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let next_is_space = chars.get(i + 1) == Some(&' ');
            if !prev_space && col > BEST_WIDTH && i > 0 && i + 1 < chars.len() && !next_is_space {
                out.push('\n');
                out.push_str(&" ".repeat(indent));
                col = indent;
            } else {
                out.push(' ');
                col += 1;
            }
            prev_space = true;
        } else {
            if quoted && c == '\'' {
                out.push('\'');
                col += 1;
            }
            out.push(c);
            col += 1;
            prev_space = false;
        }
    }
    if quoted {
        out.push('\'');
    }
    out
}
