//! Kyverno `validate.pattern` overlay semantics (the subset used by registry allow-lists):
//! string wildcards `*`/`?`, `|` (or) and `&` (and) alternatives, `!` negation, numeric
//! comparisons (`>`, `>=`, `<`, `<=`), anchors `=(key)` (equality: if present must match),
//! `(key)` (conditional: if it does not match the whole pattern is skipped), `X(key)`
//! (negation: must be absent) and `^(key)` (global, treated like a conditional anchor), and
//! lists where every resource element must match the pattern's element.

use serde_json::Value;
use trustswap_model::wildcard::wildcard_match;

/// The outcome of matching a resource against a pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum PatternOutcome {
    Pass,
    /// A conditional anchor did not match: the rule does not apply.
    Skip(String),
    /// Mismatch, with Kyverno's path (e.g. `/spec/containers/0/image/`).
    Fail {
        path: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Anchor {
    None,
    Equality,
    Conditional,
    Negation,
    Global,
    Existence,
    AddIfNotPresent,
}

fn parse_key(k: &str) -> (Anchor, &str) {
    let strip = |prefix: &str| k.strip_prefix(prefix).and_then(|r| r.strip_suffix(')'));
    if let Some(r) = strip("=(") {
        (Anchor::Equality, r)
    } else if let Some(r) = strip("X(") {
        (Anchor::Negation, r)
    } else if let Some(r) = strip("^(") {
        (Anchor::Global, r)
    } else if let Some(r) = strip("<(") {
        (Anchor::Existence, r)
    } else if let Some(r) = strip("+(") {
        (Anchor::AddIfNotPresent, r)
    } else if let Some(r) = strip("(") {
        (Anchor::Conditional, r)
    } else {
        (Anchor::None, k)
    }
}

/// Matches `resource` against `pattern`.
pub fn validate_pattern(resource: &Value, pattern: &Value) -> PatternOutcome {
    match walk(resource, pattern, "/") {
        Ok(()) => PatternOutcome::Pass,
        Err(Mismatch::Skip(m)) => PatternOutcome::Skip(m),
        Err(Mismatch::Fail(path)) => PatternOutcome::Fail { path },
    }
}

enum Mismatch {
    Skip(String),
    Fail(String),
}

fn walk(resource: &Value, pattern: &Value, path: &str) -> Result<(), Mismatch> {
    match pattern {
        Value::Object(pm) => {
            let Some(rm) = resource.as_object() else {
                return Err(Mismatch::Fail(path.to_string()));
            };
            // conditional anchors first: a non-matching one skips the whole pattern
            for (k, pv) in pm {
                let (anchor, key) = parse_key(k);
                if matches!(anchor, Anchor::Conditional | Anchor::Global) {
                    let child = format!("{path}{key}/");
                    match rm.get(key) {
                        None => {
                            return Err(Mismatch::Skip(format!(
                                "conditional anchor mismatch at {child}"
                            )));
                        }
                        Some(rv) => {
                            if walk(rv, pv, &child).is_err() {
                                return Err(Mismatch::Skip(format!(
                                    "conditional anchor mismatch at {child}"
                                )));
                            }
                        }
                    }
                }
            }
            for (k, pv) in pm {
                let (anchor, key) = parse_key(k);
                let child = format!("{path}{key}/");
                match anchor {
                    Anchor::Conditional | Anchor::Global | Anchor::AddIfNotPresent => {}
                    Anchor::Negation => {
                        if rm.contains_key(key) {
                            return Err(Mismatch::Fail(child));
                        }
                    }
                    Anchor::Equality => {
                        if let Some(rv) = rm.get(key) {
                            walk(rv, pv, &child)?;
                        }
                    }
                    Anchor::Existence => {
                        let Some(list) = rm.get(key).and_then(Value::as_array) else {
                            return Err(Mismatch::Fail(child));
                        };
                        let elem = pv.as_array().and_then(|a| a.first()).unwrap_or(pv);
                        let any = list
                            .iter()
                            .enumerate()
                            .any(|(i, rv)| walk(rv, elem, &format!("{child}{i}/")).is_ok());
                        if !any {
                            return Err(Mismatch::Fail(child));
                        }
                    }
                    Anchor::None => match rm.get(key) {
                        Some(rv) => walk(rv, pv, &child)?,
                        None => {
                            // a missing field only matches a pattern that accepts "nothing"
                            if !pattern_accepts_missing(pv) {
                                return Err(Mismatch::Fail(child));
                            }
                        }
                    },
                }
            }
            Ok(())
        }
        Value::Array(pa) => {
            let Some(ra) = resource.as_array() else {
                return Err(Mismatch::Fail(path.to_string()));
            };
            let Some(first) = pa.first() else {
                return Ok(());
            };
            if first.is_object() {
                for (i, rv) in ra.iter().enumerate() {
                    walk(rv, first, &format!("{path}{i}/"))?;
                }
                Ok(())
            } else {
                if ra.len() < pa.len() {
                    return Err(Mismatch::Fail(path.to_string()));
                }
                for (i, p) in pa.iter().enumerate() {
                    walk(&ra[i], p, &format!("{path}{i}/"))?;
                }
                Ok(())
            }
        }
        scalar => {
            if value_matches(resource, scalar) {
                Ok(())
            } else {
                Err(Mismatch::Fail(path.to_string()))
            }
        }
    }
}

fn pattern_accepts_missing(p: &Value) -> bool {
    matches!(p, Value::Null)
        || p.as_str().is_some_and(|s| {
            s.split('|')
                .any(|a| a.trim() == "null" || a.trim().is_empty())
        })
}

/// Scalar comparison of a resource value with a pattern value.
pub fn value_matches(resource: &Value, pattern: &Value) -> bool {
    match pattern {
        Value::String(p) => p.split('|').any(|alt| {
            alt.split('&')
                .all(|conj| string_op_matches(resource, conj.trim()))
        }),
        Value::Number(pn) => match resource {
            Value::Number(rn) => rn.as_f64() == pn.as_f64(),
            Value::String(s) => s.parse::<f64>().ok() == pn.as_f64(),
            _ => false,
        },
        Value::Bool(b) => match resource {
            Value::Bool(r) => r == b,
            Value::String(s) => s == &b.to_string(),
            _ => false,
        },
        Value::Null => resource.is_null(),
        _ => false,
    }
}

fn string_op_matches(resource: &Value, p: &str) -> bool {
    for (op, f) in [
        (">=", (|a: f64, b: f64| a >= b) as fn(f64, f64) -> bool),
        ("<=", |a, b| a <= b),
        (">", |a, b| a > b),
        ("<", |a, b| a < b),
    ] {
        if let Some(rest) = p.strip_prefix(op)
            && let Ok(b) = rest.trim().parse::<f64>()
        {
            return number_of(resource).is_some_and(|a| f(a, b));
        }
    }
    if let Some(rest) = p.strip_prefix("!=").or_else(|| p.strip_prefix('!')) {
        return resource_present(resource) && !string_matches(resource, rest.trim());
    }
    string_matches(resource, p)
}

fn resource_present(v: &Value) -> bool {
    !v.is_null()
}

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn string_matches(resource: &Value, p: &str) -> bool {
    match resource {
        Value::String(s) => wildcard_match(p, s),
        Value::Number(n) => {
            let s = n.to_string();
            wildcard_match(p, &s) || p.parse::<f64>().ok() == n.as_f64()
        }
        Value::Bool(b) => wildcard_match(p, &b.to_string()),
        Value::Null => p == "null" || p.is_empty(),
        // "*" accepts any present value (maps, lists)
        _ => p == "*",
    }
}
