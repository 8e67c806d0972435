//! Structural diff of two policy sets. Documents are paired by kind and name,
//! canonicalised (`canon`), and compared path by path: maps by key, lists of
//! named items by `name`, lists of scalars as sets, other lists by position.
//! Every differing path is classified (`classify`): only a structural
//! difference breaks the substitution claim.

pub mod canon;
mod classify;
pub mod written;

pub use written::Written;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

pub use classify::{classify, predicate_family};

use crate::policy::{Document, PolicySet};

/// What a difference is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// Who may sign: attestors, identities, keys, roots, transparency-log settings.
    TrustRoot,
    /// Which images are covered, and where their signatures live.
    ImageScope,
    /// Which attestations are required (predicate types, conditions).
    Evidence,
    /// Anything else: the substitution claim does not hold.
    Structural,
}

impl Class {
    pub const ALL: [Class; 4] = [
        Class::TrustRoot,
        Class::ImageScope,
        Class::Evidence,
        Class::Structural,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Class::TrustRoot => "trust-root",
            Class::ImageScope => "image-scope",
            Class::Evidence => "evidence",
            Class::Structural => "structural",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.id())
    }
}

/// One differing path.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    /// `Kind/name` of the document (the left one's when names differ).
    pub document: String,
    /// Path inside the document with named list items spelt `name=<name>`,
    /// e.g. `/spec/rules/name=verify/verifyImages/0/attestors/0/entries/0/keyless/subject`.
    pub path: String,
    /// RFC 6901 JSON pointers of the value in each canonical document (absent
    /// on the side that lacks it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_pointer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub right_pointer: Option<String>,
    /// The values; absent on the side that lacks the path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub right: Option<Value>,
    pub class: Class,
    /// Where each side writes the field, for documents read from files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_at: Option<Written>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub right_at: Option<Written>,
}

/// The differences between two policy sets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetDiff {
    pub left: String,
    pub right: String,
    pub differences: Vec<Difference>,
}

impl SetDiff {
    /// The substitution holds when nothing outside trust root, image scope and
    /// evidence differs.
    pub fn holds(&self) -> bool {
        !self
            .differences
            .iter()
            .any(|d| d.class == Class::Structural)
    }

    pub fn count(&self, class: Class) -> usize {
        self.differences.iter().filter(|d| d.class == class).count()
    }
}

/// A path segment: a map key, a list position, or a named list item.
#[derive(Debug, Clone)]
pub enum Seg {
    Key(String),
    Index(usize),
    Named {
        name: String,
        left: usize,
        right: usize,
    },
}

fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn render_path(segs: &[Seg]) -> String {
    segs.iter()
        .map(|s| match s {
            Seg::Key(k) => format!("/{}", escape(k)),
            Seg::Index(i) => format!("/{i}"),
            Seg::Named { name, .. } => format!("/name={}", escape(name)),
        })
        .collect()
}

fn render_pointer(segs: &[Seg], left: bool) -> String {
    segs.iter()
        .map(|s| match s {
            Seg::Key(k) => format!("/{}", escape(k)),
            Seg::Index(i) => format!("/{i}"),
            Seg::Named {
                left: l, right: r, ..
            } => format!("/{}", if left { l } else { r }),
        })
        .collect()
}

struct Ctx<'a> {
    document: String,
    kind: &'a str,
    out: Vec<Difference>,
}

impl Ctx<'_> {
    fn emit(&mut self, segs: &[Seg], left: Option<&Value>, right: Option<&Value>) {
        let mut class = classify(self.kind, segs);
        // A predicate type may change format (CycloneDX for SPDX), not family
        // (an SBOM for a provenance): that is a different requirement.
        let is_type =
            matches!(segs.last(), Some(Seg::Key(k)) if k == "type" || k == "predicateType");
        if class == Class::Evidence && is_type {
            let family = |v: Option<&Value>| {
                v.and_then(Value::as_str)
                    .map(|t| predicate_family(t).to_owned())
            };
            if family(left).is_none() || family(left) != family(right) {
                class = Class::Structural;
            }
        }
        self.out.push(Difference {
            document: self.document.clone(),
            path: render_path(segs),
            left_pointer: left.map(|_| render_pointer(segs, true)),
            right_pointer: right.map(|_| render_pointer(segs, false)),
            left: left.cloned(),
            right: right.cloned(),
            class,
            left_at: None,
            right_at: None,
        });
    }
}

fn named(items: &[Value]) -> Option<Vec<&str>> {
    let names: Vec<&str> = items
        .iter()
        .map(|i| i.get("name").and_then(Value::as_str))
        .collect::<Option<_>>()?;
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    (sorted.len() == names.len()).then_some(names)
}

fn scalar(v: &Value) -> bool {
    !v.is_object() && !v.is_array()
}

fn sorted_repr(items: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(Value::to_string).collect();
    v.sort();
    v
}

fn walk(ctx: &mut Ctx<'_>, segs: &mut Vec<Seg>, l: &Value, r: &Value) {
    match (l, r) {
        (Value::Object(lm), Value::Object(rm)) => {
            let keys: std::collections::BTreeSet<&String> = lm.keys().chain(rm.keys()).collect();
            for k in keys {
                segs.push(Seg::Key(k.clone()));
                match (lm.get(k), rm.get(k)) {
                    (Some(a), Some(b)) => walk(ctx, segs, a, b),
                    (a, b) => ctx.emit(segs, a, b),
                }
                segs.pop();
            }
        }
        (Value::Array(la), Value::Array(ra)) => {
            if let (Some(ln), Some(rn)) = (named(la), named(ra)) {
                let mut names: Vec<&str> = ln.iter().chain(rn.iter()).copied().collect();
                names.sort_unstable();
                names.dedup();
                for n in names {
                    let li = ln.iter().position(|x| *x == n);
                    let ri = rn.iter().position(|x| *x == n);
                    segs.push(Seg::Named {
                        name: n.to_owned(),
                        left: li.unwrap_or(usize::MAX),
                        right: ri.unwrap_or(usize::MAX),
                    });
                    match (li, ri) {
                        (Some(a), Some(b)) => walk(ctx, segs, &la[a], &ra[b]),
                        (a, b) => ctx.emit(segs, a.map(|i| &la[i]), b.map(|i| &ra[i])),
                    }
                    segs.pop();
                }
            } else if la.iter().chain(ra).all(scalar) {
                if sorted_repr(la) != sorted_repr(ra) {
                    ctx.emit(segs, Some(l), Some(r));
                }
            } else {
                for i in 0..la.len().max(ra.len()) {
                    segs.push(Seg::Index(i));
                    match (la.get(i), ra.get(i)) {
                        (Some(a), Some(b)) => walk(ctx, segs, a, b),
                        (a, b) => ctx.emit(segs, a, b),
                    }
                    segs.pop();
                }
            }
        }
        _ if l == r => {}
        _ => ctx.emit(segs, Some(l), Some(r)),
    }
}

/// Diff two documents (already paired) after canonicalising both.
pub fn diff_documents(left: &Document, right: &Document) -> Vec<Difference> {
    let (l, r) = (
        canon::canonicalise(&left.value),
        canon::canonicalise(&right.value),
    );
    let mut ctx = Ctx {
        document: left.id(),
        kind: left.kind(),
        out: Vec::new(),
    };
    walk(&mut ctx, &mut Vec::new(), &l, &r);
    for d in &mut ctx.out {
        d.left_at = d
            .left_pointer
            .as_deref()
            .and_then(|p| written::locate(left, p));
        d.right_at = d
            .right_pointer
            .as_deref()
            .and_then(|p| written::locate(right, p));
    }
    ctx.out
}

type DocKey = (String, String, String, String);

fn key(d: &Document) -> DocKey {
    (
        d.api_version().split('/').next().unwrap_or("").to_owned(),
        d.kind().to_owned(),
        d.namespace().to_owned(),
        d.name().to_owned(),
    )
}

/// Diff two policy sets. Documents pair by API group, kind, namespace and name;
/// then a leftover document pairs with the one leftover of the same kind on
/// the other side (hand-written sets often name policies after the vendor: the
/// name then shows as a structural difference, not as two missing documents).
pub fn diff_sets(left: &PolicySet, right: &PolicySet) -> SetDiff {
    let mut differences = Vec::new();
    let mut rest_l: BTreeMap<DocKey, &Document> =
        left.documents.iter().map(|d| (key(d), d)).collect();
    let mut rest_r: BTreeMap<DocKey, &Document> =
        right.documents.iter().map(|d| (key(d), d)).collect();
    let mut pairs: Vec<(&Document, &Document)> = Vec::new();
    let common: Vec<DocKey> = rest_l
        .keys()
        .filter(|k| rest_r.contains_key(*k))
        .cloned()
        .collect();
    for k in common {
        if let (Some(a), Some(b)) = (rest_l.remove(&k), rest_r.remove(&k)) {
            pairs.push((a, b));
        }
    }
    let kinds: std::collections::BTreeSet<(String, String)> =
        rest_l.keys().map(|k| (k.0.clone(), k.1.clone())).collect();
    for (group, kind) in kinds {
        let of = |m: &BTreeMap<DocKey, &Document>| -> Vec<DocKey> {
            m.keys()
                .filter(|k| k.0 == group && k.1 == kind)
                .cloned()
                .collect()
        };
        let (lk, rk) = (of(&rest_l), of(&rest_r));
        if let ([a], [b]) = (lk.as_slice(), rk.as_slice())
            && let (Some(a), Some(b)) = (rest_l.remove(a), rest_r.remove(b))
        {
            pairs.push((a, b));
        }
    }
    for (a, b) in pairs {
        differences.extend(diff_documents(a, b));
    }
    for d in rest_l.values() {
        differences.push(whole(d, true));
    }
    for d in rest_r.values() {
        differences.push(whole(d, false));
    }
    differences.sort_by(|a, b| (&a.document, &a.path).cmp(&(&b.document, &b.path)));
    SetDiff {
        left: left.label.clone(),
        right: right.label.clone(),
        differences,
    }
}

fn whole(d: &Document, left: bool) -> Difference {
    let v = Some(d.value.clone());
    Difference {
        document: d.id(),
        path: String::new(),
        left_pointer: left.then(String::new),
        right_pointer: (!left).then(String::new),
        left: if left { v.clone() } else { None },
        right: if left { None } else { v },
        class: Class::Structural,
        left_at: None,
        right_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(label: &str, docs: Vec<Value>) -> PolicySet {
        PolicySet {
            label: label.into(),
            documents: docs
                .into_iter()
                .map(|value| Document {
                    origin: String::new(),
                    value,
                    source: None,
                })
                .collect(),
            files: vec![],
        }
    }

    fn cpol(name: &str, spec: Value) -> Value {
        json!({"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": name}, "spec": spec})
    }

    #[test]
    fn crd_defaults_make_absent_and_explicit_equal() {
        let a = cpol(
            "p",
            json!({"rules": [{"name": "r", "match": {}, "verifyImages": [{"imageReferences": ["x/*"]}]}]}),
        );
        let b = cpol(
            "p",
            json!({"validationFailureAction": "audit", "background": true, "rules": [{"name": "r", "match": {},
            "verifyImages": [{"imageReferences": ["x/*"], "mutateDigest": true, "verifyDigest": true, "required": true, "failureAction": "Audit", "skipImageReferences": []}]}]}),
        );
        let d = diff_sets(&set("a", vec![a]), &set("b", vec![b]));
        assert!(d.differences.is_empty(), "{:#?}", d.differences);
    }

    #[test]
    fn spec_level_action_moves_into_rules_and_differs() {
        let a = cpol(
            "p",
            json!({"validationFailureAction": "Enforce", "rules": [{"name": "r", "match": {}, "validate": {"pattern": {}}}]}),
        );
        let b = cpol(
            "p",
            json!({"rules": [{"name": "r", "match": {}, "validate": {"pattern": {}, "failureAction": "Audit"}}]}),
        );
        let d = diff_sets(&set("a", vec![a]), &set("b", vec![b]));
        assert_eq!(d.differences.len(), 1);
        assert_eq!(
            d.differences[0].path,
            "/spec/rules/name=r/validate/failureAction"
        );
        assert_eq!(d.differences[0].class, Class::Structural);
        assert!(!d.holds());
    }

    #[test]
    fn named_items_match_by_name_whatever_their_order() {
        let a = cpol(
            "p",
            json!({"rules": [{"name": "a", "match": {}}, {"name": "b", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]}}]}),
        );
        let b = cpol(
            "p",
            json!({"rules": [{"name": "b", "match": {"any": [{"resources": {"kinds": ["Pod", "Job"]}}]}}, {"name": "a", "match": {}}]}),
        );
        let d = diff_sets(&set("a", vec![a]), &set("b", vec![b]));
        assert_eq!(d.differences.len(), 1, "{:#?}", d.differences);
        let x = &d.differences[0];
        assert_eq!(x.path, "/spec/rules/name=b/match/any/0/resources/kinds");
        assert_eq!(
            x.left_pointer.as_deref(),
            Some("/spec/rules/1/match/any/0/resources/kinds")
        );
        assert_eq!(
            x.right_pointer.as_deref(),
            Some("/spec/rules/0/match/any/0/resources/kinds")
        );
    }

    #[test]
    fn scalar_lists_compare_as_sets() {
        let a = cpol(
            "p",
            json!({"rules": [{"name": "r", "match": {"any": [{"resources": {"namespaces": ["a", "b"]}}]}}]}),
        );
        let b = cpol(
            "p",
            json!({"rules": [{"name": "r", "match": {"any": [{"resources": {"namespaces": ["b", "a"]}}]}}]}),
        );
        assert!(
            diff_sets(&set("a", vec![a]), &set("b", vec![b]))
                .differences
                .is_empty()
        );
    }

    #[test]
    fn lone_documents_of_a_kind_pair_across_names() {
        let a = cpol("verify-dhi", json!({"rules": []}));
        let b = cpol("verify-chainguard", json!({"rules": []}));
        let d = diff_sets(&set("a", vec![a]), &set("b", vec![b]));
        assert_eq!(d.differences.len(), 1);
        assert_eq!(d.differences[0].path, "/metadata/name");
        assert_eq!(d.differences[0].class, Class::Structural);
    }

    #[test]
    fn a_document_on_one_side_only_is_structural() {
        let a = cpol("p", json!({"rules": []}));
        let extra = json!({"apiVersion": "kyverno.io/v2", "kind": "PolicyException", "metadata": {"name": "x", "namespace": "n"}, "spec": {}});
        let d = diff_sets(&set("a", vec![a.clone()]), &set("b", vec![a, extra]));
        assert_eq!(d.differences.len(), 1);
        assert_eq!(d.differences[0].document, "PolicyException/n/x");
        assert!(d.differences[0].left.is_none());
        assert!(!d.holds());
    }

    #[test]
    fn predicate_type_may_change_format_not_family() {
        let ivp = |t: &str| {
            json!({"apiVersion": "policies.kyverno.io/v1", "kind": "ImageValidatingPolicy", "metadata": {"name": "p"},
            "spec": {"attestors": [], "validations": [], "attestations": [{"name": "sbom", "intoto": {"type": t}}]}})
        };
        let spdx = ivp("https://spdx.dev/Document");
        let d = diff_sets(
            &set("a", vec![spdx.clone()]),
            &set("b", vec![ivp("https://cyclonedx.org/bom/v1.6")]),
        );
        assert_eq!(d.differences[0].class, Class::Evidence);
        assert!(d.holds());
        let d = diff_sets(
            &set("a", vec![spdx]),
            &set("b", vec![ivp("https://slsa.dev/provenance/v1")]),
        );
        assert_eq!(
            d.differences[0].path,
            "/spec/attestations/name=sbom/intoto/type"
        );
        assert_eq!(d.differences[0].class, Class::Structural);
    }

    #[test]
    fn classes_of_known_paths() {
        let k = |s: &str| Seg::Key(s.into());
        let n = |s: &str| Seg::Named {
            name: s.into(),
            left: 0,
            right: 0,
        };
        let i = Seg::Index;
        let vi = [k("spec"), k("rules"), n("r"), k("verifyImages"), i(0)];
        let path = |tail: Vec<Seg>| vi.iter().cloned().chain(tail).collect::<Vec<_>>();
        assert_eq!(
            classify(
                "",
                &path(vec![
                    k("attestors"),
                    i(0),
                    k("entries"),
                    i(0),
                    k("keyless"),
                    k("subject")
                ])
            ),
            Class::TrustRoot
        );
        assert_eq!(
            classify("", &path(vec![k("repository")])),
            Class::ImageScope
        );
        assert_eq!(
            classify(
                "",
                &path(vec![
                    k("attestors"),
                    i(0),
                    k("entries"),
                    i(0),
                    k("repository")
                ])
            ),
            Class::ImageScope
        );
        assert_eq!(
            classify("", &path(vec![k("imageReferences")])),
            Class::ImageScope
        );
        assert_eq!(
            classify("", &path(vec![k("mutateDigest")])),
            Class::Structural
        );
        assert_eq!(
            classify("", &path(vec![k("failureAction")])),
            Class::Structural
        );
        assert_eq!(
            classify("", &path(vec![k("attestations"), n("sbom")])),
            Class::Structural
        );
        assert_eq!(
            classify(
                "",
                &path(vec![k("attestations"), n("sbom"), k("conditions")])
            ),
            Class::Evidence
        );
        assert_eq!(
            classify(
                "",
                &[
                    k("spec"),
                    k("attestors"),
                    n("t"),
                    k("cosign"),
                    k("source"),
                    k("repository")
                ]
            ),
            Class::ImageScope
        );
        assert_eq!(
            classify(
                "",
                &[
                    k("spec"),
                    k("attestors"),
                    n("t"),
                    k("cosign"),
                    k("ctlog"),
                    k("insecureIgnoreTlog")
                ]
            ),
            Class::TrustRoot
        );
        assert_eq!(
            classify("", &[k("spec"), k("validations"), i(0), k("expression")]),
            Class::Structural
        );
        assert_eq!(
            classify(
                "",
                &[
                    k("spec"),
                    k("variables"),
                    n("allowedImages"),
                    k("expression")
                ]
            ),
            Class::ImageScope
        );
        assert_eq!(
            classify(
                "",
                &[k("spec"), k("variables"), n("other"), k("expression")]
            ),
            Class::Structural
        );
        assert_eq!(
            classify("", &[k("spec"), k("matchImageReferences"), i(0), k("glob")]),
            Class::ImageScope
        );
    }
}
