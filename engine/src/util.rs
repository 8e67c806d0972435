//! Small helpers to read policy JSON with typed errors.

use crate::error::PolicyError;
use serde_json::Value;

pub(crate) struct Doc<'a> {
    pub name: &'a str,
}

impl Doc<'_> {
    pub fn err(&self, field: impl Into<String>, msg: impl Into<String>) -> PolicyError {
        PolicyError::new(self.name, field, msg)
    }

    /// Optional string field (null/absent → None).
    pub fn opt_str(
        &self,
        v: &Value,
        key: &str,
        field: &str,
    ) -> Result<Option<String>, PolicyError> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.err(format!("{field}.{key}"), "must be a string")),
        }
    }

    pub fn opt_bool(&self, v: &Value, key: &str, field: &str) -> Result<Option<bool>, PolicyError> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.err(format!("{field}.{key}"), "must be a boolean")),
        }
    }

    /// Optional list (null/absent → empty).
    pub fn list<'v>(
        &self,
        v: &'v Value,
        key: &str,
        field: &str,
    ) -> Result<&'v [Value], PolicyError> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) => Ok(a.as_slice()),
            Some(_) => Err(self.err(format!("{field}.{key}"), "must be a list")),
        }
    }

    pub fn str_list(&self, v: &Value, key: &str, field: &str) -> Result<Vec<String>, PolicyError> {
        self.list(v, key, field)?
            .iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| self.err(format!("{field}.{key}[{i}]"), "must be a string"))
            })
            .collect()
    }

    pub fn obj<'v>(
        &self,
        v: &'v Value,
        key: &str,
        field: &str,
    ) -> Result<Option<&'v Value>, PolicyError> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(o @ Value::Object(_)) => Ok(Some(o)),
            Some(_) => Err(self.err(format!("{field}.{key}"), "must be an object")),
        }
    }
}

/// `Kind/name` label of a document for error messages.
pub(crate) fn doc_label(doc: &Value, index: usize) -> String {
    let kind = doc
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("document");
    match doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
    {
        Some(n) => format!("{kind}/{n}"),
        None => format!("{kind} (document[{index}])"),
    }
}
