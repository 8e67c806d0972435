//! YAML and file input. Every parse error names the file, line and column
//! (serde-saphyr renders a snippet); nothing here interprets content.
//!
//! serde-saphyr's default budget (250,000 nodes, 1,000,000 events, 64 MiB of
//! scalars) would refuse any file past a few MB. The file is already in
//! memory and under the input cap (`--max-input-size`), and without aliases
//! a document cannot hold more nodes than it has bytes, so the budget grows
//! with the text ([`options_for`]); the alias and anchor limits, which guard
//! against expansion ("billion laughs"), keep their defaults.

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

/// Parser options for a text of `len` bytes: the default budget, raised to
/// what `len` bytes can hold (a node takes at least two bytes, an event at
/// most one node's start or end, a scalar at most its own bytes).
pub fn options_for(len: usize) -> serde_saphyr::Options {
    let defaults = serde_saphyr::Budget::default();
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_nodes: defaults.max_nodes.max(len / 2 + 1),
            max_events: defaults.max_events.max(len.saturating_add(1024)),
            max_total_scalar_bytes: defaults.max_total_scalar_bytes.max(len),
        },
    }
}

pub fn parse_str<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    serde_saphyr::from_str_with_options(text, options_for(text.len())).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Parse every document of a (possibly multi-document) YAML file as generic JSON
/// values. Empty documents (a lone `---`) are skipped.
pub fn parse_documents(path: &Path) -> Result<Vec<serde_json::Value>> {
    let text = read_to_string(path)?;
    let docs = documents(path, &text)?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Every document of `text` (read from `path`) as JSON, empty ones included.
fn documents(path: &Path, text: &str) -> Result<Vec<serde_json::Value>> {
    serde_saphyr::from_str_multiple_with_options(text, options_for(text.len())).map_err(|e| {
        Error::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    })
}

/// Parse a data file that may be large (a drift-audit state): JSON when the
/// file is named `*.json`, or starts with `{` or `[` and parses as JSON
/// (a YAML flow mapping starts the same way, so a JSON syntax error there
/// falls back to YAML); YAML otherwise.
pub fn parse_data_file<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = read_to_string(path)?;
    let named_json = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let body = text.trim_start_matches('\u{feff}');
    let looks_json = body.trim_start().starts_with(['{', '[']);
    if named_json || looks_json {
        match serde_json::from_str(body) {
            Ok(v) => return Ok(v),
            Err(e) if named_json || e.classify() == serde_json::error::Category::Data => {
                return Err(Error::Parse {
                    path: path.to_path_buf(),
                    message: format!("invalid JSON: {e}"),
                });
            }
            Err(_) => {} // not JSON: YAML in flow style
        }
    }
    parse_str(path, &text)
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

/// Where the nodes of one YAML document are written: the RFC 6901 pointer of
/// each map entry and list item, to the 1-based line and column of its key
/// (of the item, in a list). Built from serde-saphyr's `Spanned`; a document
/// whose locations cannot be read has an empty map (locations are a help for
/// the reader, never a reason to refuse the input).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMap {
    nodes: std::collections::BTreeMap<String, (u64, u64)>,
}

impl SourceMap {
    /// The line and column of the node at `pointer`, if it is written.
    pub fn get(&self, pointer: &str) -> Option<(u64, u64)> {
        self.nodes.get(pointer).copied()
    }

    fn walk(&mut self, pointer: &str, tree: &Tree) {
        match tree {
            Tree::Map(entries) => {
                for (key, value) in entries {
                    let p = format!(
                        "{pointer}/{}",
                        key.value.replace('~', "~0").replace('/', "~1")
                    );
                    self.nodes
                        .insert(p.clone(), (key.referenced.line(), key.referenced.column()));
                    self.walk(&p, &value.value);
                }
            }
            Tree::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{pointer}/{i}");
                    self.nodes.insert(
                        p.clone(),
                        (item.referenced.line(), item.referenced.column()),
                    );
                    self.walk(&p, &item.value);
                }
            }
            Tree::Null | Tree::Scalar => {}
        }
    }
}

/// A YAML node's shape with the locations of its keys and items.
enum Tree {
    Map(Vec<(serde_saphyr::Spanned<String>, serde_saphyr::Spanned<Tree>)>),
    Seq(Vec<serde_saphyr::Spanned<Tree>>),
    Null,
    Scalar,
}

impl<'de> serde::Deserialize<'de> for Tree {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Tree;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a YAML node")
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<Tree, E> {
                Ok(Tree::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<Tree, E> {
                Ok(Tree::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<Tree, E> {
                Ok(Tree::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<Tree, E> {
                Ok(Tree::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<Tree, E> {
                Ok(Tree::Scalar)
            }
            fn visit_bytes<E>(self, _: &[u8]) -> std::result::Result<Tree, E> {
                Ok(Tree::Scalar)
            }
            fn visit_unit<E>(self) -> std::result::Result<Tree, E> {
                Ok(Tree::Null)
            }
            fn visit_none<E>(self) -> std::result::Result<Tree, E> {
                Ok(Tree::Null)
            }
            fn visit_some<D2: serde::Deserializer<'de>>(
                self,
                d: D2,
            ) -> std::result::Result<Tree, D2::Error> {
                serde::Deserialize::deserialize(d)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Tree, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Tree::Seq(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Tree, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(Tree::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// [`parse_documents`], each document with where its nodes are written.
pub fn parse_documents_located(path: &Path) -> Result<Vec<(serde_json::Value, SourceMap)>> {
    let text = read_to_string(path)?;
    let docs = documents(path, &text)?;
    let trees: Vec<serde_saphyr::Spanned<Tree>> =
        serde_saphyr::from_str_multiple_with_options(&text, options_for(text.len()))
            .unwrap_or_default();
    let mut maps: Vec<SourceMap> = trees
        .iter()
        .map(|t| {
            let mut m = SourceMap::default();
            m.walk("", &t.value);
            m
        })
        .collect();
    // The two readings must see the same documents; otherwise no locations.
    if maps.len() != docs.len() {
        maps = vec![SourceMap::default(); docs.len()];
    }
    Ok(docs
        .into_iter()
        .zip(maps)
        .filter(|(d, _)| !d.is_null())
        .collect())
}
