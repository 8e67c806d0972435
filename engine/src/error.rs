//! Typed errors for malformed policies and requests.

use thiserror::Error;

/// Why a policy document could not be compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyErrorKind {
    /// The document is not a valid Kyverno policy (Kyverno or the API server
    /// would refuse it too): a usage or input error.
    Invalid,
    /// A valid Kyverno field the embedded engine does not model: it cannot
    /// decide what Kyverno would, so it refuses rather than ignore the field.
    Unsupported,
}

/// A policy (or exception) document could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{document}: field {field}: {message}")]
pub struct PolicyError {
    /// `Kind/name` of the document (or `document[<index>]` when it has no name).
    pub document: String,
    /// Dotted path of the offending field, e.g. `spec.rules[0].verifyImages[0].attestors[0].count`.
    pub field: String,
    pub message: String,
    pub kind: PolicyErrorKind,
}

impl PolicyError {
    pub fn new(document: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            document: document.to_string(),
            field: field.into(),
            message: message.into(),
            kind: PolicyErrorKind::Invalid,
        }
    }

    /// A Kyverno field the engine does not model.
    pub fn unsupported(document: &str, field: impl Into<String>) -> Self {
        Self {
            document: document.to_string(),
            field: field.into(),
            message: "a Kyverno 1.19 field the embedded engine does not model; it refuses the \
                      policy rather than decide without it"
                .to_string(),
            kind: PolicyErrorKind::Unsupported,
        }
    }
}

/// The admission request could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid admission request: field {field}: {message}")]
pub struct RequestError {
    pub field: String,
    pub message: String,
}

impl RequestError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
