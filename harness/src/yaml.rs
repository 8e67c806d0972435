//! YAML and file input. Every parse error names the file, line and column
//! (serde-saphyr renders a snippet); nothing here interprets content.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Read a named input file: a regular file under the input cap (see `input`).
pub fn read_to_string(path: &Path) -> Result<String> {
    crate::input::read_to_string(path)
}

/// Parse one YAML document from a file into a typed value.
pub fn parse_file<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = read_to_string(path)?;
    parse_str(path, &text)
}

pub fn parse_str<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    serde_saphyr::from_str(text).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Parse every document of a (possibly multi-document) YAML file as generic JSON
/// values. Empty documents (a lone `---`) are skipped.
pub fn parse_documents(path: &Path) -> Result<Vec<serde_json::Value>> {
    let text = read_to_string(path)?;
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_str_multiple(&text).map_err(|e| Error::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// The YAML files directly inside `dir` (or `dir` itself if it is a file), sorted
/// so that every run reads them in the same order.
pub fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        let is_yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if !is_yaml || path.is_dir() {
            continue;
        }
        if !path.is_file() {
            // A FIFO, a device or a link to one (or a dangling link): refused by
            // name, never skipped in silence and never read.
            crate::input::open_regular(&path)?;
        }
        files.push(path);
    }
    files.sort();
    Ok(files)
}

pub fn to_yaml<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_saphyr::to_string(value).map_err(|e| Error::Internal {
        message: format!("failed to serialise YAML: {e}"),
    })
}

/// Write a file atomically: a temporary file beside it, then a rename, so that
/// nothing is ever half-written.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let tmp = path.with_extension(format!(
        "{}.tmp-{}",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ));
    std::fs::write(&tmp, contents).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
