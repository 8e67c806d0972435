//! Parsing what the API server says about an admission: the `Status.message`
//! of a denial (Kyverno's ClusterPolicy "blocked" YAML, or the CEL policies'
//! `Policy X failed: ...` lines) and `Warning` headers.

/// One policy result named in a denial message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyViolation {
    /// Policy name.
    pub policy: String,
    /// Rule name (ClusterPolicy); empty for CEL policies, whose denials name no rule.
    pub rule: String,
    /// Kyverno's message for that rule.
    pub message: String,
}

const BLOCKED_MARKER: &str = "was blocked due to the following policies";

/// The policy results in a Kyverno denial message, in message order.
///
/// Understands the ClusterPolicy form
/// ```text
/// admission webhook "mutate.kyverno.svc-fail" denied the request:
///
/// resource Pod/apps/web was blocked due to the following policies
///
/// trustswap-verify-images:
///   verify-signature-and-sbom: 'failed to verify image ...: .attestors[0].entries[0].keyless:
///     no matching signatures'
/// ```
/// and the CEL policy form (`Policy NAME failed: MESSAGE`, `Policy NAME error: MESSAGE`,
/// one per line). Anything else gives an empty list.
pub fn parse_denial(message: &str) -> Vec<PolicyViolation> {
    if let Some(pos) = message.find(BLOCKED_MARKER) {
        let rest = &message[pos + BLOCKED_MARKER.len()..];
        // The marker line may end with ':' and spaces before the newline.
        let body = match rest.find('\n') {
            Some(nl) => &rest[nl + 1..],
            None => "",
        };
        return parse_blocked_yaml(body);
    }
    parse_cel_lines(message)
}

/// The YAML Kyverno writes (`GetBlockedMessages`: go-yaml of a map from
/// policy to a map from rule to message), parsed with the YAML library; the
/// order is the message's. A body that is not that shape gives an empty list.
fn parse_blocked_yaml(body: &str) -> Vec<PolicyViolation> {
    let options = crate::yaml::options_for(body.len());
    let Ok(serde_json::Value::Object(policies)) =
        serde_saphyr::from_str_with_options::<serde_json::Value>(body, options)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (policy, rules) in policies {
        let serde_json::Value::Object(rules) = rules else {
            continue;
        };
        for (rule, message) in rules {
            let message = match message {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            out.push(PolicyViolation {
                policy: policy.clone(),
                rule,
                message,
            });
        }
    }
    out
}

/// `Policy NAME failed: MESSAGE` / `Policy NAME error: MESSAGE` anywhere in the
/// message (after the webhook prefix), one per line.
fn parse_cel_lines(message: &str) -> Vec<PolicyViolation> {
    let mut out = Vec::new();
    for line in message.lines() {
        let mut rest = line;
        while let Some(pos) = rest.find("Policy ") {
            let after = &rest[pos + "Policy ".len()..];
            let parsed = after.split_once(' ').and_then(|(name, tail)| {
                let msg = tail
                    .strip_prefix("failed: ")
                    .or_else(|| tail.strip_prefix("error: "))?;
                Some((name, msg))
            });
            match parsed {
                Some((name, msg)) => {
                    out.push(PolicyViolation {
                        policy: name.to_string(),
                        rule: String::new(),
                        message: msg.trim().to_string(),
                    });
                    break;
                }
                None => rest = after,
            }
        }
    }
    out
}

/// The text of an HTTP `Warning` header (`299 - "text"`), unescaped; other shapes
/// are returned as they are.
pub fn parse_warning(value: &str) -> String {
    let v = value.trim();
    let mut parts = v.splitn(3, ' ');
    let code = parts.next().unwrap_or_default();
    let agent = parts.next();
    let text = parts.next();
    match (
        code.len() == 3 && code.chars().all(|c| c.is_ascii_digit()),
        agent,
        text,
    ) {
        (true, Some(_), Some(text)) => {
            let text = text.trim();
            // The quoted text may be followed by a quoted date; take the first quoted string.
            if let Some(inner) = text.strip_prefix('"') {
                let mut out = String::new();
                let mut chars = inner.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                out.push(n);
                            }
                        }
                        '"' => break,
                        other => out.push(other),
                    }
                }
                out
            } else {
                text.to_string()
            }
        }
        _ => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_yaml_with_folded_quoted_value() {
        let msg = "admission webhook \"mutate.kyverno.svc-fail\" denied the request: \n\nresource Pod/apps/web was blocked due to the following policies \n\ntrustswap-verify-images:\n  verify-signature-and-sbom: 'failed to verify image cgr.dev/chainguard/nginx:latest: .attestors[0].entries[0].keyless:\n    no matching signatures: it''s unsigned'\n";
        let v = parse_denial(msg);
        assert_eq!(
            v,
            vec![PolicyViolation {
                policy: "trustswap-verify-images".into(),
                rule: "verify-signature-and-sbom".into(),
                message: "failed to verify image cgr.dev/chainguard/nginx:latest: .attestors[0].entries[0].keyless: no matching signatures: it's unsigned".into(),
            }]
        );
    }

    #[test]
    fn blocked_yaml_two_policies_two_rules() {
        let msg = "admission webhook \"validate.kyverno.svc-fail\" denied the request: \n\nresource Pod/apps/web was blocked due to the following policies \n\nrestrict:\n  registries: 'validation error: image not allowed. rule registries failed at path /spec/containers/0/image/'\n  tags: latest tag\nverify:\n  sig: \"bad \\\"sig\\\"\"\n";
        let v = parse_denial(msg);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].policy, "restrict");
        assert_eq!(v[1].rule, "tags");
        assert_eq!(v[1].message, "latest tag");
        assert_eq!(v[2].policy, "verify");
        assert_eq!(v[2].message, "bad \"sig\"");
    }

    #[test]
    fn cel_policy_lines() {
        let msg = "admission webhook \"ivpol.validate.kyverno.svc-fail\" denied the request: Policy trustswap-verify-images failed: failed to verify image signatures\nPolicy trustswap-restrict-registries error: no such key";
        let v = parse_denial(msg);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].policy, "trustswap-verify-images");
        assert_eq!(v[0].rule, "");
        assert_eq!(v[0].message, "failed to verify image signatures");
        assert_eq!(v[1].message, "no such key");
    }

    /// As real Kyverno 1.19.1 answered on the local backend (fine-grained
    /// webhook per ImageValidatingPolicy).
    #[test]
    fn real_kyverno_fine_grained_ivpol_denial() {
        let msg = "admission webhook \"ivpol.validate.kyverno.svc-fail-finegrained-trustswap-verify-images\" denied the request: Policy trustswap-verify-images failed: failed to verify the SBOM attestation";
        let v = parse_denial(msg);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].policy, "trustswap-verify-images");
        assert_eq!(v[0].message, "failed to verify the SBOM attestation");
    }

    #[test]
    fn unrelated_message_has_no_violations() {
        assert!(parse_denial("pods \"x\" is forbidden: exceeded quota").is_empty());
    }

    #[test]
    fn warning_header_forms() {
        assert_eq!(
            parse_warning("299 - \"Policy p failed: \\\"quoted\\\" text\""),
            "Policy p failed: \"quoted\" text"
        );
        assert_eq!(parse_warning("just text"), "just text");
    }
}
