//! Reports: consumers of results. Nothing here decides a verdict; it only
//! formats what the check (and later the experiment runner) decided. Every
//! report folder holds `summary.md`, `result.json`, `junit.xml` and the
//! rendered policies, and is byte-identical between runs on the same input
//! (no wall-clock time inside; the folder name carries the time).

pub mod experiment;
pub mod junit;
pub mod markdown;
pub mod terminal;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::check::{CheckResult, Comparison, Verdict};
use crate::error::{Error, Result};
use crate::yaml::write_atomic;

/// Version of `result.json`'s layout; bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 2;

/// What a report is about: a vendor check, or a diff of two hand-written sets.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case", tag = "command")]
pub enum Subject<'a> {
    Check {
        #[serde(flatten)]
        result: &'a CheckResult,
    },
    Diff {
        verdict: Verdict,
        comparison: &'a Comparison,
    },
}

impl Subject<'_> {
    pub fn verdict(&self) -> Verdict {
        match self {
            Subject::Check { result } => result.verdict,
            Subject::Diff { verdict, .. } => *verdict,
        }
    }
}

/// Pretty JSON of `value` and a final newline. Serialising trustswap's
/// report types cannot fail; if it ever does, the command is undecided
/// (exit 3) rather than writing or printing an empty document.
pub fn pretty(value: &impl Serialize) -> Result<String> {
    serde_json::to_string_pretty(value)
        .map(|t| t + "\n")
        .map_err(|e| Error::Internal {
            message: format!("cannot serialise a report: {e}"),
        })
}

/// The `result.json` document.
pub fn result_json(subject: &Subject<'_>, exit_code: u8, warnings: &[String]) -> Result<Value> {
    let mut v = json!({
        "schemaVersion": SCHEMA_VERSION,
        "tool": { "name": "trustswap", "version": env!("CARGO_PKG_VERSION") },
        "exitCode": exit_code,
        "warnings": warnings,
    });
    let subject = serde_json::to_value(subject).map_err(|e| Error::Internal {
        message: format!("cannot serialise the result: {e}"),
    })?;
    if let (Value::Object(m), Value::Object(s)) = (&mut v, subject) {
        m.extend(s);
    }
    Ok(v)
}

/// Create the report folder: `out` if given, else `<root>/<UTC time>-<id>`
/// where the id is derived from the result, so equal results share it.
pub fn folder(out: Option<&Path>, root: &Path, result: &Value) -> PathBuf {
    if let Some(out) = out {
        return out.to_path_buf();
    }
    let id = hex::encode(&Sha256::digest(result.to_string().as_bytes())[..4]);
    let time = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    root.join(format!("{time}-{id}"))
}

/// Write a full report for a subject into `dir`.
pub fn write(dir: &Path, subject: &Subject<'_>, exit_code: u8, warnings: &[String]) -> Result<()> {
    let result = result_json(subject, exit_code, warnings)?;
    write_atomic(&dir.join("result.json"), pretty(&result)?.as_bytes())?;
    write_atomic(
        &dir.join("summary.md"),
        markdown::summary(subject, warnings).as_bytes(),
    )?;
    write_atomic(&dir.join("junit.xml"), junit::report(subject)?.as_bytes())?;
    if let Subject::Check { result } = subject {
        for engine in &result.engines {
            for set in &engine.sets {
                set.write(
                    &dir.join("policies")
                        .join(engine.engine.id())
                        .join(&set.label),
                )?;
            }
        }
    }
    Ok(())
}

/// A short, one-line form of a value for tables: PEM blocks are named, long
/// strings and structures are cut with an ellipsis.
pub fn show(v: Option<&Value>) -> String {
    const MAX: usize = 72;
    let text = match v {
        None => return "(absent)".to_owned(),
        Some(Value::String(s)) if s.trim_start().starts_with("-----BEGIN") => {
            let label = s
                .trim_start()
                .lines()
                .next()
                .unwrap_or("")
                .trim_matches('-')
                .trim()
                .to_owned();
            let digest = hex::encode(&Sha256::digest(s.trim().as_bytes())[..6]);
            return format!("<PEM {label}, text sha256 {digest}…>");
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let one_line = text.replace('\n', "⏎");
    if one_line.chars().count() > MAX {
        format!("{}…", one_line.chars().take(MAX - 1).collect::<String>())
    } else {
        one_line
    }
}
