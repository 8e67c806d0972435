//! Decoding policy documents into the typed Kyverno model
//! (`trustswap_model::kyverno`), with errors that name the document and field.

use crate::error::PolicyError;
use serde_json::Value;
use std::cell::RefCell;

/// One policy document being compiled: its label for errors, and where the
/// unmodelled fields go when the caller allows them.
pub(crate) struct Doc<'a> {
    pub name: &'a str,
    /// `Some`: unmodelled fields are recorded here and ignored
    /// (`EngineOptions::allow_unmodelled`); `None`: the first one is an error.
    ignored: Option<&'a RefCell<Vec<PolicyError>>>,
}

impl<'a> Doc<'a> {
    /// A document whose unmodelled fields are refused.
    pub fn strict(name: &'a str) -> Doc<'a> {
        Doc {
            name,
            ignored: None,
        }
    }

    /// A document whose unmodelled fields are recorded in `ignored` and
    /// compiled as if absent.
    pub fn lenient(name: &'a str, ignored: &'a RefCell<Vec<PolicyError>>) -> Doc<'a> {
        Doc {
            name,
            ignored: Some(ignored),
        }
    }

    /// Whether unmodelled fields are listed and ignored rather than refused.
    pub fn is_lenient(&self) -> bool {
        self.ignored.is_some()
    }

    pub fn err(&self, field: impl Into<String>, msg: impl Into<String>) -> PolicyError {
        PolicyError::new(self.name, field, msg)
    }

    pub fn unsupported(&self, field: impl Into<String>) -> PolicyError {
        PolicyError::unsupported(self.name, field)
    }

    /// Refuses the first field that is set (`(set, path)`) and that the
    /// engine does not model; a lenient document records every such field
    /// instead, and the caller compiles on as if it were absent.
    pub fn refuse_unmodelled<F: AsRef<str>>(
        &self,
        fields: &[(bool, F)],
    ) -> Result<(), PolicyError> {
        let mut set = fields.iter().filter(|(set, _)| *set);
        match self.ignored {
            None => match set.next() {
                Some((_, name)) => Err(self.unsupported(name.as_ref())),
                None => Ok(()),
            },
            Some(ignored) => {
                ignored
                    .borrow_mut()
                    .extend(set.map(|(_, name)| self.unsupported(name.as_ref())));
                Ok(())
            }
        }
    }

    /// Decodes a document into the typed Kyverno model. An error names the
    /// field as a dotted path (`spec.rules[0].verifyImages[0].attestors`),
    /// including the field a "missing field" error is about.
    pub fn decode<T: serde::de::DeserializeOwned>(&self, v: &Value) -> Result<T, PolicyError> {
        serde_path_to_error::deserialize::<_, T>(v).map_err(|e| {
            let mut path = e.path().to_string();
            if path == "." {
                path.clear();
            }
            let message = e.inner().to_string();
            if let Some(missing) = message
                .strip_prefix("missing field `")
                .and_then(|m| m.split('`').next())
            {
                path = if path.is_empty() {
                    missing.to_string()
                } else {
                    format!("{path}.{missing}")
                };
            }
            self.err(path, message)
        })
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
