//! The error type of the harness. Messages are lowercase fragments that read after
//! "failed to ..." or name the offending input; `hint` says how to fix it; the
//! source chain is printed as `Caused by:` by the CLI, never repeated in the message.

use std::path::PathBuf;

use crate::exit;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("failed to write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Malformed YAML or a field of the wrong shape; the parser's text already
    /// carries line, column and a snippet.
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },

    /// A field that parsed but is not acceptable (bad regexp, PEM, fingerprint...).
    #[error("{}{}: {field}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        line: Option<u64>,
        field: String,
        message: String,
        hint: String,
    },

    /// A named input file that is refused before it is parsed: not a regular
    /// file, over the size cap, not text.
    #[error("{}: {message}", path.display())]
    Input {
        path: PathBuf,
        message: String,
        hint: String,
    },

    /// A user-named output path that cannot be used (exists as a file, is not
    /// empty, cannot be created): a usage error, not a harness failure.
    #[error("cannot write to {}: {message}", path.display())]
    Output {
        path: PathBuf,
        message: String,
        hint: String,
    },

    #[error("unknown vendor `{name}` (known: {})", known.join(", "))]
    UnknownVendor { name: String, known: Vec<String> },

    #[error("{message}")]
    Usage { message: String, hint: String },

    /// The harness itself could not complete (not a finding, not bad input).
    #[error("{message}")]
    Internal { message: String },

    /// The harness could not complete because of `source` (printed as
    /// `Caused by:`): what it was doing, and why it failed.
    #[error("{context}")]
    Harness {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Read { .. }
            | Error::Parse { .. }
            | Error::Invalid { .. }
            | Error::Input { .. }
            | Error::Output { .. }
            | Error::UnknownVendor { .. }
            | Error::Usage { .. } => exit::USAGE,
            Error::Write { .. } | Error::Internal { .. } | Error::Harness { .. } => exit::UNDECIDED,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Invalid { hint, .. }
            | Error::Usage { hint, .. }
            | Error::Input { hint, .. }
            | Error::Output { hint, .. }
                if !hint.is_empty() =>
            {
                Some(hint.clone())
            }
            Error::UnknownVendor { .. } => Some(
                "add configs/vendors/<name>.yaml or pass --vendors DIR with the profile".into(),
            ),
            Error::Parse { .. } => {
                Some("fix the field named above; unknown fields are rejected".into())
            }
            _ => None,
        }
    }

    pub fn invalid(
        path: impl Into<PathBuf>,
        line: Option<u64>,
        field: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            path: path.into(),
            line,
            field: field.into(),
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// The full human form: message, hint, then the `Caused by:` chain.
    /// The harness failed at `context` because of `source`.
    pub fn harness(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Error::Harness {
            context: context.into(),
            source: source.into(),
        }
    }

    pub fn render(&self) -> String {
        let mut out = format!("error: {self}");
        if let Some(hint) = self.hint() {
            out.push_str(&format!("\n  (hint: {hint})"));
        }
        let mut source = std::error::Error::source(self);
        if source.is_some() {
            out.push_str("\nCaused by:");
        }
        while let Some(err) = source {
            out.push_str(&format!("\n    {err}"));
            source = err.source();
        }
        out
    }
}

#[cfg(test)]
mod harness_tests {
    use super::*;

    #[test]
    fn a_harness_error_exits_3_and_prints_its_causes() {
        let io = std::io::Error::other("connection refused");
        let e = Error::harness("cannot push the lab fixtures to 127.0.0.1:5000", io);
        assert_eq!(e.exit_code(), exit::UNDECIDED);
        assert_eq!(
            e.render(),
            "error: cannot push the lab fixtures to 127.0.0.1:5000\nCaused by:\n    connection refused"
        );
    }
}
