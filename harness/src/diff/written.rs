//! Where a difference is written: the file, line and column of the field in
//! the user's own document, and the field as the document spells it, beside
//! the canonical path the diff reports. The canonical form moves a few
//! deprecated spellings (`canon`): a difference on the moved field is shown
//! where the user wrote the old spelling; a value the user did not write at
//! all (a Kyverno default) is shown at its nearest written parent.
use serde::Serialize;
use serde_json::Value;

use crate::policy::Document;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Written {
    pub file: String,
    pub line: u64,
    pub column: u64,
    /// The field as the document spells it, e.g. `spec.validationFailureAction`.
    pub field: String,
    /// The field is not written: Kyverno's default applies, and the location
    /// is its nearest written parent's.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub defaulted: bool,
}

impl std::fmt::Display for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at {}:{}:{}",
            self.field, self.file, self.line, self.column
        )?;
        if self.defaulted {
            f.write_str(" (not written: Kyverno's default)")?;
        }
        Ok(())
    }
}

/// Where `pointer` (into the canonical form of `doc`) is written in `doc`'s
/// file, when the document came from a file.
pub fn locate(doc: &Document, pointer: &str) -> Option<Written> {
    let source = doc.source.as_ref()?;
    let found = |p: &str| source.get(p).map(|at| (p.to_owned(), at));
    let (written, defaulted) =
        match found(pointer).or_else(|| moved_from(pointer).and_then(|p| found(&p))) {
            Some(hit) => (hit, false),
            None => {
                // Not written: the nearest written parent.
                let mut p = pointer;
                loop {
                    let (parent, _) = p.rsplit_once('/')?;
                    if let Some(hit) = found(parent) {
                        break (hit, true);
                    }
                    if parent.is_empty() {
                        return None;
                    }
                    p = parent;
                }
            }
        };
    let (written_at, (line, column)) = written;
    let field_pointer = if defaulted {
        pointer.to_owned()
    } else {
        written_at
    };
    Some(Written {
        file: doc.origin.clone(),
        line,
        column,
        field: spelled(&doc.value, &field_pointer),
        defaulted,
    })
}

/// The spelling the canonical form moved `pointer` from (`canon.rs`).
fn moved_from(pointer: &str) -> Option<String> {
    let segs: Vec<&str> = pointer.split('/').collect();
    match segs.as_slice() {
        // A rule's or an entry's failureAction, from the spec-level action.
        ["", "spec", "rules", _, "validate", "failureAction"]
        | ["", "spec", "rules", _, "verifyImages", _, "failureAction"] => {
            Some("/spec/validationFailureAction".into())
        }
        ["", "spec", "webhookConfiguration", "failurePolicy"] => Some("/spec/failurePolicy".into()),
        ["", "spec", "webhookConfiguration", "timeoutSeconds"] => {
            Some("/spec/webhookTimeoutSeconds".into())
        }
        [.., "attestations", _, "type"] => {
            Some(format!("{}/predicateType", pointer.strip_suffix("/type")?))
        }
        _ => None,
    }
}

/// `spec.rules[0].verifyImages[0].failureAction` for
/// `/spec/rules/0/verifyImages/0/failureAction`, reading which segments
/// index a list from the document itself.
fn spelled(doc: &Value, pointer: &str) -> String {
    let mut out = String::new();
    let mut at = Some(doc);
    for raw in pointer.split('/').skip(1) {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        match at {
            Some(Value::Array(items)) => {
                out.push_str(&format!("[{seg}]"));
                at = seg.parse::<usize>().ok().and_then(|i| items.get(i));
            }
            other => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&seg);
                at = other.and_then(|v| v.get(&seg));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(yaml: &str) -> (tempfile::TempDir, Document) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("p.yaml");
        std::fs::write(&file, yaml).expect("write");
        let (value, source) = crate::yaml::parse_documents_located(&file)
            .expect("parse")
            .remove(0);
        let doc = Document {
            origin: "p.yaml".into(),
            value,
            source: Some(std::sync::Arc::new(source)),
        };
        (dir, doc)
    }

    const POLICY: &str = "\
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: p
spec:
  failurePolicy: Ignore
  rules:
    - name: r
      verifyImages:
        - imageReferences: [\"*\"]
          attestations:
            - predicateType: https://spdx.dev/Document
";

    #[test]
    fn moved_spellings_are_found_where_the_user_wrote_them() {
        let (_d, doc) = document(POLICY);
        let at = |p: &str| locate(&doc, p).map(|w| w.to_string());
        assert_eq!(
            at("/spec/rules/0/verifyImages/0/attestations/0/type").as_deref(),
            Some("spec.rules[0].verifyImages[0].attestations[0].predicateType at p.yaml:12:15")
        );
        assert_eq!(
            at("/spec/webhookConfiguration/failurePolicy").as_deref(),
            Some("spec.failurePolicy at p.yaml:6:3")
        );
        assert_eq!(
            at("/spec/rules/0/verifyImages/0/imageReferences").as_deref(),
            Some("spec.rules[0].verifyImages[0].imageReferences at p.yaml:10:11")
        );
    }

    #[test]
    fn a_default_is_shown_at_its_nearest_written_parent() {
        let (_d, doc) = document(POLICY);
        let w = locate(&doc, "/spec/webhookConfiguration/timeoutSeconds").expect("located");
        assert!(w.defaulted);
        assert_eq!((w.line, w.column), (5, 1));
        assert_eq!(w.field, "spec.webhookConfiguration.timeoutSeconds");
        let w = locate(&doc, "/spec/rules/0/verifyImages/0/mutateDigest").expect("located");
        assert!(w.defaulted);
        assert_eq!((w.line, w.column), (10, 11));
    }

    #[test]
    fn a_rendered_document_has_no_location() {
        let (_d, mut doc) = document(POLICY);
        doc.source = None;
        assert_eq!(locate(&doc, "/spec/failurePolicy"), None);
    }
}
