//! Typed errors for malformed policies and requests.

use thiserror::Error;

/// A policy (or exception) document could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{document}: field {field}: {message}")]
pub struct PolicyError {
    /// `Kind/name` of the document (or `document[<index>]` when it has no name).
    pub document: String,
    /// Dotted path of the offending field, e.g. `spec.rules[0].verifyImages[0].attestors[0].count`.
    pub field: String,
    pub message: String,
}

impl PolicyError {
    pub fn new(document: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            document: document.to_string(),
            field: field.into(),
            message: message.into(),
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
