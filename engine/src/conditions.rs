//! Kyverno `conditions` (any/all with operators) on a JSON context, with `{{ path }}` variables
//! restricted to simple dotted paths (`a.b[0].c`).

use crate::error::PolicyError;
use serde_json::Value;
use trustswap_model::wildcard::wildcard_match;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    NotEquals,
    In,
    AnyIn,
    AllIn,
    NotIn,
    AnyNotIn,
    AllNotIn,
    GreaterThan,
    GreaterThanOrEquals,
    LessThan,
    LessThanOrEquals,
}

impl Operator {
    pub fn parse(s: &str) -> Option<Operator> {
        Some(match s.to_ascii_lowercase().as_str() {
            "equals" | "equal" => Operator::Equals,
            "notequals" | "notequal" => Operator::NotEquals,
            "in" => Operator::In,
            "anyin" => Operator::AnyIn,
            "allin" => Operator::AllIn,
            "notin" => Operator::NotIn,
            "anynotin" => Operator::AnyNotIn,
            "allnotin" => Operator::AllNotIn,
            "greaterthan" => Operator::GreaterThan,
            "greaterthanorequals" => Operator::GreaterThanOrEquals,
            "lessthan" => Operator::LessThan,
            "lessthanorequals" => Operator::LessThanOrEquals,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub key: Value,
    pub operator: Operator,
    pub value: Value,
}

/// `{any: [...], all: [...]}`: passes when every `all` condition holds and, if `any` is
/// non-empty, at least one `any` condition holds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AnyAll {
    pub any: Vec<Condition>,
    pub all: Vec<Condition>,
}

impl AnyAll {
    pub fn compile(v: &Value, doc: &str, field: &str) -> Result<AnyAll, PolicyError> {
        let mut out = AnyAll::default();
        if let Some(list) = v.as_array() {
            // legacy form: a plain list means "all"
            out.all = compile_list(list, doc, field)?;
            return Ok(out);
        }
        let obj = v
            .as_object()
            .ok_or_else(|| PolicyError::new(doc, field, "must be an object with any/all"))?;
        for (k, target) in [("any", &mut out.any), ("all", &mut out.all)] {
            match obj.get(k) {
                None | Some(Value::Null) => {}
                Some(Value::Array(list)) => {
                    *target = compile_list(list, doc, &format!("{field}.{k}"))?
                }
                Some(_) => {
                    return Err(PolicyError::new(
                        doc,
                        format!("{field}.{k}"),
                        "must be a list",
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Evaluates on `ctx`; an unresolvable variable is an error.
    pub fn eval(&self, ctx: &Value) -> Result<bool, UnresolvedVariable> {
        for c in &self.all {
            if !c.eval(ctx)? {
                return Ok(false);
            }
        }
        if self.any.is_empty() {
            return Ok(true);
        }
        for c in &self.any {
            if c.eval(ctx)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn compile_list(list: &[Value], doc: &str, field: &str) -> Result<Vec<Condition>, PolicyError> {
    list.iter()
        .enumerate()
        .map(|(i, c)| {
            let f = format!("{field}[{i}]");
            let op_s = c
                .get("operator")
                .and_then(Value::as_str)
                .ok_or_else(|| PolicyError::new(doc, format!("{f}.operator"), "required string"))?;
            let operator = Operator::parse(op_s).ok_or_else(|| {
                PolicyError::new(
                    doc,
                    format!("{f}.operator"),
                    format!("unknown operator {op_s:?}"),
                )
            })?;
            Ok(Condition {
                key: c.get("key").cloned().unwrap_or(Value::Null),
                operator,
                value: c.get("value").cloned().unwrap_or(Value::Null),
            })
        })
        .collect()
}

/// Resolves a simple JMESPath-like path (`a.b[0].c`, `"quoted.key"`) on `ctx`.
pub fn lookup_path<'a>(ctx: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = ctx;
    let chars: Vec<char> = path.trim().chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => i += 1,
            '[' => {
                let end = chars[i..].iter().position(|&c| c == ']')? + i;
                let idx: String = chars[i + 1..end].iter().collect();
                let idx: usize = idx.trim().parse().ok()?;
                cur = cur.as_array()?.get(idx)?;
                i = end + 1;
            }
            '"' => {
                let end = chars[i + 1..].iter().position(|&c| c == '"')? + i + 1;
                let key: String = chars[i + 1..end].iter().collect();
                cur = cur.as_object()?.get(&key)?;
                i = end + 1;
            }
            _ => {
                let end = chars[i..]
                    .iter()
                    .position(|&c| c == '.' || c == '[')
                    .map(|p| p + i)
                    .unwrap_or(chars.len());
                let key: String = chars[i..end].iter().collect();
                cur = cur.as_object()?.get(key.trim())?;
                i = end;
            }
        }
    }
    Some(cur)
}

/// A `{{ path }}` variable with nothing at its path in the context; Kyverno's
/// message for it (`pkg/engine/variables/vars.go:355`) begins with the text shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to resolve {path} at path")]
pub struct UnresolvedVariable {
    pub path: String,
}

/// Substitutes `{{ path }}` variables. A string that is exactly one variable keeps the JSON type.
pub fn substitute(v: &Value, ctx: &Value) -> Result<Value, UnresolvedVariable> {
    match v {
        Value::String(s) => substitute_str(s, ctx),
        Value::Array(a) => a
            .iter()
            .map(|x| substitute(x, ctx))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                out.insert(k.clone(), substitute(x, ctx)?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

fn substitute_str(s: &str, ctx: &Value) -> Result<Value, UnresolvedVariable> {
    let unresolved = |path: &str| UnresolvedVariable {
        path: path.to_owned(),
    };
    let t = s.trim();
    if t.starts_with("{{") && t.ends_with("}}") && t.matches("{{").count() == 1 {
        let path = t[2..t.len() - 2].trim();
        return lookup_path(ctx, path)
            .cloned()
            .ok_or_else(|| unresolved(path));
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let path = rest[start + 2..start + end].trim();
        let val = lookup_path(ctx, path).ok_or_else(|| unresolved(path))?;
        match val {
            Value::String(x) => out.push_str(x),
            other => out.push_str(&other.to_string()),
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

impl Condition {
    pub fn eval(&self, ctx: &Value) -> Result<bool, UnresolvedVariable> {
        let key = substitute(&self.key, ctx)?;
        let value = substitute(&self.value, ctx)?;
        Ok(match self.operator {
            Operator::Equals => equals(&key, &value),
            Operator::NotEquals => !equals(&key, &value),
            Operator::In => in_op(&key, &value, false),
            Operator::NotIn => !in_op(&key, &value, false),
            Operator::AnyIn => any_in(&key, &value),
            Operator::AllIn => all_in(&key, &value),
            Operator::AnyNotIn => as_list(&key).iter().any(|k| !member(k, &value)),
            Operator::AllNotIn => as_list(&key).iter().all(|k| !member(k, &value)),
            Operator::GreaterThan => compare(&key, &value).is_some_and(|o| o.is_gt()),
            Operator::GreaterThanOrEquals => compare(&key, &value).is_some_and(|o| o.is_ge()),
            Operator::LessThan => compare(&key, &value).is_some_and(|o| o.is_lt()),
            Operator::LessThanOrEquals => compare(&key, &value).is_some_and(|o| o.is_le()),
        })
    }
}

fn equals(key: &Value, value: &Value) -> bool {
    match (key, value) {
        (Value::String(k), Value::String(v)) => wildcard_match(v, k),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::String(k), Value::Number(n)) | (Value::Number(n), Value::String(k)) => {
            k.parse::<f64>().ok() == n.as_f64()
        }
        (Value::String(k), Value::Bool(b)) | (Value::Bool(b), Value::String(k)) => {
            k == &b.to_string()
        }
        (a, b) => a == b,
    }
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

fn member(k: &Value, set: &Value) -> bool {
    match set {
        Value::Array(a) => a.iter().any(|v| equals(k, v)),
        Value::String(s) => match k {
            Value::String(ks) => wildcard_match(s, ks),
            _ => false,
        },
        other => equals(k, other),
    }
}

fn in_op(key: &Value, value: &Value, _any: bool) -> bool {
    match key {
        Value::Array(keys) => keys.iter().all(|k| member(k, value)),
        k => member(k, value),
    }
}

fn any_in(key: &Value, value: &Value) -> bool {
    as_list(key).iter().any(|k| member(k, value))
}

fn all_in(key: &Value, value: &Value) -> bool {
    as_list(key).iter().all(|k| member(k, value))
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn compare(key: &Value, value: &Value) -> Option<std::cmp::Ordering> {
    num(key)?.partial_cmp(&num(value)?)
}
