//! `trustswap swap --from V1 --to V2 PATH... --out DIR`: a hand-written policy
//! set rewritten for another vendor with the two profiles. What names the
//! vendor changes: identity matchers and keys (with their Rekor and CT
//! settings), image references (and the registry allow-lists beside them),
//! the signature repository, the SBOM predicate type. Everything else is kept
//! as written, in its order; comments cannot be kept (the YAML library reads
//! none) beyond each file's leading comment block, and the command says how
//! many were dropped. The static check between input and output then says
//! which classes changed. What cannot be swapped without a structural change
//! is a finding with the vendor-neutral alternative (exit 1): an entry that
//! also verifies other vendors' images, a per-image signature repository, an
//! attestation the target does not publish, image references in CEL.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::check::{self, Comparison};
use crate::error::{Error, Result};
use crate::experiment::own::{items, items_mut};
use crate::policy::{Document, PolicySet};
use crate::profile::{Identity, Matcher, Requirement, Vendor};
use trustswap_model::wildcard::wildcard_match;

/// A swapped set: the files to write, the findings, and what was not kept.
pub struct Swapped {
    /// File name (relative to `--out`) and YAML text.
    pub files: Vec<(PathBuf, String)>,
    pub findings: Vec<String>,
    /// What the rewrite could not keep (comments).
    pub notes: Vec<String>,
    pub comparison: Comparison,
}

/// CEL variables holding a registry allow-list (as the static check reads them).
pub(crate) const IMAGE_VARIABLES: [&str; 3] =
    ["allowedImages", "allowedRegistries", "allowedImagePatterns"];

struct Swap<'a> {
    from: &'a Vendor,
    to: &'a Vendor,
    /// The target's public key (PEM), for a key-based target.
    to_key: Option<String>,
    findings: Vec<String>,
    /// Policies (ClusterPolicy `verifyImages` entries, ImageValidatingPolicies)
    /// that verify the source's images, swapped or a finding.
    swapped: usize,
}

/// Rewrites the sets at `paths` from vendor `from` to vendor `to`.
pub fn swap(from: &Vendor, to: &Vendor, paths: &[PathBuf]) -> Result<Swapped> {
    if from.name == to.name {
        return Err(Error::Usage {
            message: format!("--from and --to are both `{}`", from.name),
            hint: "name the vendor the set is written for and the one to swap to".into(),
        });
    }
    let to_key = match &to.identity {
        Identity::Key(k) => Some(k.pem.clone().ok_or_else(|| {
            Error::invalid(
                &to.source,
                None,
                "trustRoot.key",
                format!(
                    "the target's key sha256:{} is not in the key cache, so no policy can name it",
                    k.sha256
                ),
                "pass --key-cache DIR holding the vendor's published key",
            )
        })?),
        Identity::Keyless { .. } => None,
    };
    let mut s = Swap {
        from,
        to,
        to_key,
        findings: Vec::new(),
        swapped: 0,
    };
    let mut files = Vec::new();
    let mut notes = Vec::new();
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for path in paths {
        for file in crate::yaml::yaml_files(path)? {
            let rel = if path.is_dir() {
                file.strip_prefix(path).unwrap_or(&file).to_path_buf()
            } else {
                PathBuf::from(file.file_name().unwrap_or_default())
            };
            if files.iter().any(|(r, _)| r == &rel) {
                return Err(Error::Usage {
                    message: format!(
                        "two input files would be written as {} in --out",
                        rel.display()
                    ),
                    hint: "swap sets with distinct file names, one command per set".into(),
                });
            }
            let text = crate::yaml::read_to_string(&file)?;
            let docs = crate::yaml::parse_documents(&file)?;
            let mut out_docs = Vec::new();
            for (i, doc) in docs.into_iter().enumerate() {
                let at = format!("{}#{}", file.display(), i + 1);
                let mut new = doc.clone();
                s.document(&at, &mut new);
                before.push(document(&file, doc));
                after.push(document(&file, new.clone()));
                out_docs.push(new);
            }
            let (header, dropped) = comments(&text);
            if dropped > 0 {
                notes.push(format!(
                    "{}: {dropped} comment line(s) after the leading block not kept (the YAML library reads no comments)",
                    file.display()
                ));
            }
            let mut yaml = header;
            yaml.push_str(&format!(
                "# Swapped from `{}` to `{}` by `trustswap swap`.\n",
                from.name, to.name
            ));
            for (i, d) in out_docs.iter().enumerate() {
                if i > 0 {
                    yaml.push_str("---\n");
                }
                yaml.push_str(&crate::yaml::to_yaml(d)?);
            }
            files.push((rel, yaml));
        }
    }
    if s.swapped == 0 {
        return Err(Error::Usage {
            message: format!(
                "nothing in {} verifies `{}`'s images ({}): there is nothing to swap",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                from.name,
                from.images.join(", ")
            ),
            hint: "name the vendor the set is written for with --from".into(),
        });
    }
    s.findings.sort();
    s.findings.dedup();
    let set = |label: &str, documents| PolicySet {
        label: label.to_owned(),
        documents,
        files: Vec::new(),
    };
    let comparison = check::diff_paths(
        &set(&format!("{} (as written)", from.name), before),
        &set(&format!("{} (swapped)", to.name), after),
    );
    Ok(Swapped {
        files,
        findings: s.findings,
        notes,
        comparison,
    })
}

fn document(file: &Path, value: Value) -> Document {
    Document {
        origin: file.display().to_string(),
        value,
        source: None,
    }
}

/// The leading comment block of a YAML text (kept), and how many comment
/// lines come after it (dropped).
fn comments(text: &str) -> (String, usize) {
    let mut header = String::new();
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.peek() {
        if l.trim_start().starts_with('#') || l.trim().is_empty() {
            if l.trim_start().starts_with('#') {
                header.push_str(l);
                header.push('\n');
            }
            lines.next();
        } else {
            break;
        }
    }
    let dropped = lines
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with('#') || t.contains(" #")
        })
        .count();
    (header, dropped)
}

fn kind(doc: &Value) -> (&str, &str) {
    let group = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|a| a.split_once('/'))
        .map_or("", |(g, _)| g);
    (
        group,
        doc.get("kind").and_then(Value::as_str).unwrap_or_default(),
    )
}

/// Rewrites the registry allow-lists of a policy's CEL variables (those named
/// as the static check reads them): each `from` image prefix, written plain or
/// as a regexp, becomes its `to`, in one pass (a replacement is never
/// rewritten again).
pub fn rewrite_allow_lists(doc: &mut Value, prefixes: &[(String, String)]) -> bool {
    let Some(vars) = doc
        .pointer_mut("/spec/variables")
        .and_then(Value::as_array_mut)
    else {
        return false;
    };
    let mut changed = false;
    let mut pairs: Vec<(String, String)> = prefixes
        .iter()
        .filter(|(a, _)| !a.is_empty())
        .flat_map(|(a, b)| [(a.clone(), b.clone()), (regex::escape(a), regex::escape(b))])
        .collect();
    pairs.sort_by(|x, y| y.0.len().cmp(&x.0.len()).then(x.0.cmp(&y.0)));
    pairs.dedup_by(|x, y| x.0 == y.0);
    for v in vars {
        let named = v
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| IMAGE_VARIABLES.contains(&n));
        if let (true, Some(e)) = (named, v.get("expression").and_then(Value::as_str)) {
            let new = replace_once(e, &pairs);
            changed |= new != e;
            v["expression"] = json!(new);
        }
    }
    changed
}

/// `text` with every occurrence of a pair's first string replaced by its
/// second, longest first, scanning once.
fn replace_once(text: &str, pairs: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while !rest.is_empty() {
        for (a, b) in pairs {
            if let Some(after) = rest.strip_prefix(a.as_str()) {
                out.push_str(b);
                rest = after;
                continue 'scan;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

/// The part of a glob before its first wildcard (`cgr.dev/chainguard/`).
pub fn prefix(glob: &str) -> &str {
    &glob[..glob.find(['*', '?']).unwrap_or(glob.len())]
}

impl Swap<'_> {
    /// Whether an image reference names the source vendor's images.
    fn is_from(&self, r: &str) -> bool {
        self.from
            .images
            .iter()
            .any(|g| g == r || wildcard_match(g, r))
    }

    /// Whether an attestor's signer (a ClusterPolicy entry's `keyless` or
    /// `keys`, an ImageValidatingPolicy `cosign`'s `keyless` or `key`) is the
    /// source vendor's: its key's fingerprint, or an identity the source
    /// profile's matchers write or match.
    fn names_from(&self, kind: &str, signer: &Value) -> bool {
        match (&self.from.identity, kind) {
            (Identity::Key(k), "keys" | "key") => {
                let text = signer
                    .get("publicKeys")
                    .or_else(|| signer.get("data"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                pem::parse_many(text.trim()).is_ok_and(|blocks| {
                    blocks.iter().any(|b| {
                        crate::profile::keys::parse_public_key(&pem::encode(b))
                            .is_ok_and(|(_, sha)| sha == k.sha256)
                    })
                })
            }
            (Identity::Keyless { issuer, subject }, "keyless") => {
                let names = |id: &Value| {
                    let field = |f: &str| id.get(f).and_then(Value::as_str);
                    let fits = |m: &Matcher, exact: Option<&str>, re: Option<&str>| match m {
                        Matcher::Exact(want) => {
                            exact.is_some_and(|e| e == want || wildcard_match(want, e))
                                || re == Some(want.as_str())
                        }
                        Matcher::RegExp(want) => {
                            re == Some(want.as_str())
                                || exact.is_some_and(|e| {
                                    regex::Regex::new(want).is_ok_and(|r| r.is_match(e))
                                })
                        }
                    };
                    fits(subject, field("subject"), field("subjectRegExp"))
                        && (field("issuer").is_none() && field("issuerRegExp").is_none()
                            || fits(issuer, field("issuer"), field("issuerRegExp")))
                };
                match signer.get("identities").and_then(Value::as_array) {
                    Some(ids) => ids.iter().any(names),
                    None => names(signer),
                }
            }
            _ => false,
        }
    }

    fn document(&mut self, at: &str, doc: &mut Value) {
        match kind(doc) {
            ("kyverno.io", "ClusterPolicy" | "Policy") => self.cluster_policy(at, doc),
            ("policies.kyverno.io", "ImageValidatingPolicy") => self.ivpol(at, doc),
            ("policies.kyverno.io", _) => self.variables(at, doc),
            _ => {}
        }
    }

    fn cluster_policy(&mut self, at: &str, doc: &mut Value) {
        let Some(rules) = doc.pointer_mut("/spec/rules").and_then(Value::as_array_mut) else {
            return;
        };
        for (r, rule) in rules.iter_mut().enumerate() {
            let name = rule
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let here = format!("{at} rule `{name}`");
            if let Some(validate) = rule.get_mut("validate")
                && self.globs_in(validate)
            {
                self.one_of_several(&here, "an image pattern");
            }
            let Some(vis) = rule.get_mut("verifyImages").and_then(Value::as_array_mut) else {
                continue;
            };
            for (v, vi) in vis.iter_mut().enumerate() {
                self.verify_images(&format!("{here} verifyImages[{v}] (spec.rules[{r}])"), vi);
            }
        }
    }

    fn verify_images(&mut self, at: &str, vi: &mut Value) {
        let refs: Vec<String> = items(vi, "/imageReferences")
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect();
        let (ours, others): (Vec<&String>, Vec<&String>) =
            refs.iter().partition(|r| self.is_from(r));
        if ours.is_empty() {
            return;
        }
        self.swapped += 1;
        if !others.is_empty() {
            self.findings.push(format!(
                "{at} also verifies {} with `{}`'s attestors: swapping them would change those images' verification too; left as written. Vendor-neutral alternative: one verifyImages entry per vendor, each with its own imageReferences and attestors",
                others.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", "),
                self.from.name
            ));
            return;
        }
        vi["imageReferences"] = json!(self.to.images);
        self.repository(at, vi, "repository");
        if let Some(sets) = vi.get_mut("attestors") {
            self.cpol_attestor_sets(at, sets);
        }
        if let Some(atts) = vi.get_mut("attestations").and_then(Value::as_array_mut) {
            for att in atts {
                let key = if att.get("type").is_some() {
                    "type"
                } else {
                    "predicateType"
                };
                self.predicate(at, att, key);
                if let Some(sets) = att.get_mut("attestors") {
                    self.cpol_attestor_sets(at, sets);
                }
            }
        }
    }

    /// The signature repository: the target's, or none when its signatures
    /// sit beside its images.
    fn repository(&mut self, at: &str, obj: &mut Value, key: &str) {
        let Some(map) = obj.as_object_mut() else {
            return;
        };
        match &self.to.signatures.repository {
            Some(repo) => {
                map.insert(key.to_owned(), json!(repo));
                self.per_image_repository(at);
            }
            None => {
                map.shift_remove(key);
            }
        }
    }

    /// The finding for a target whose signatures live in a repository per
    /// image family, when the source's sit beside its images.
    fn per_image_repository(&mut self, at: &str) {
        if let Some(repo) = &self.to.signatures.repository
            && self.from.signatures.repository.is_none()
        {
            self.findings.push(format!(
                        "{at}: `{}` keeps each image's signatures in a repository of its own (`{repo}`) and Kyverno takes one repository per entry, so the swapped entry verifies only {}; every further `{}` image family needs an entry of its own with its repository (vendor-neutral alternative: one entry per signature repository, or a vendor that publishes signatures beside its images)",
                        self.to.name,
                        self.to.images.iter().map(|g| format!("`{g}`")).collect::<Vec<_>>().join(", "),
                        self.to.name
                    ));
        }
    }

    /// An attestation's predicate type: kept when the target publishes it,
    /// else the target's type of the same kind (SBOM), else a finding.
    fn predicate(&mut self, at: &str, att: &mut Value, key: &str) {
        let Some(t) = att.get(key).and_then(Value::as_str).map(str::to_owned) else {
            return;
        };
        let publishes = |v: &Vendor, t: &str| {
            let a = &v.attestations;
            a.sbom
                .iter()
                .chain(&a.provenance)
                .chain(&a.vex)
                .chain(&a.other)
                .any(|x| x == t)
        };
        if publishes(self.to, &t) {
            return;
        }
        let is_sbom = self.from.attestations.sbom.contains(&t)
            || t.contains("spdx")
            || t.contains("cyclonedx");
        match (is_sbom, self.to.sbom_type()) {
            (true, Some(new)) => att[key] = json!(new),
            _ => self.findings.push(format!(
                "{at}: `{}` does not publish `{t}` attestations; left as written, so every `{}` image would be denied (vendor-neutral alternative: require a predicate type both vendors publish, or accept several in an ImageValidatingPolicy)",
                self.to.name, self.to.name
            )),
        }
    }

    fn cpol_attestor_sets(&mut self, at: &str, sets: &mut Value) {
        for set in sets.as_array_mut().into_iter().flatten() {
            self.cpol_set(at, set);
        }
    }

    /// One attestor set's entries, nested sets (`entries[].attestor`) too.
    fn cpol_set(&mut self, at: &str, set: &mut Value) {
        for entry in items_mut(set, "/entries") {
            if let Some(nested) = entry.get_mut("attestor").filter(|n| n.is_object()) {
                self.cpol_set(at, nested);
            }
            if entry.get("repository").is_some() {
                self.repository(at, entry, "repository");
            }
            self.cpol_entry(at, entry);
        }
    }

    /// A ClusterPolicy attestor entry naming a signer becomes the target's,
    /// in place (its other fields and their order kept).
    fn cpol_entry(&mut self, at: &str, entry: &mut Value) {
        let Some(map) = entry.as_object_mut() else {
            return;
        };
        let Some(old_key) = ["keyless", "keys"]
            .into_iter()
            .find(|k| map.contains_key(*k))
        else {
            return;
        };
        let old = map.get(old_key).cloned().unwrap_or(Value::Null);
        if !self.names_from(old_key, &old) {
            self.findings.push(format!(
                "{at}: an attestor that does not name `{}`'s signer is kept as written (it is not the vendor being swapped; vendor-neutral alternative: give each signer an entry of its own)",
                self.from.name
            ));
            return;
        }
        let url = old.pointer("/rekor/url").cloned();
        let mut rekor = Map::new();
        if let Some(u) = url {
            rekor.insert("url".into(), u);
        }
        if self.to.transparency_log == Requirement::Ignored {
            rekor.insert("ignoreTlog".into(), json!(true));
        }
        let mut ctlog = Map::new();
        if self.to.certificate_transparency == Requirement::Ignored {
            ctlog.insert("ignoreSCT".into(), json!(true));
        }
        let (new_key, mut signer) = match (&self.to.identity, &self.to_key) {
            (Identity::Keyless { issuer, subject }, _) => {
                let mut m = Map::new();
                matcher(&mut m, "issuer", issuer);
                matcher(&mut m, "subject", subject);
                ("keyless", m)
            }
            (Identity::Key(_), Some(pem)) => {
                let mut m = Map::new();
                m.insert("publicKeys".into(), json!(pem));
                ("keys", m)
            }
            (Identity::Key(_), None) => return,
        };
        if !rekor.is_empty() {
            signer.insert("rekor".into(), Value::Object(rekor));
        }
        if !ctlog.is_empty() {
            signer.insert("ctlog".into(), Value::Object(ctlog));
        }
        *map = std::mem::take(map)
            .into_iter()
            .map(|(k, v)| {
                if k == old_key {
                    (new_key.to_owned(), Value::Object(signer.clone()))
                } else {
                    (k, v)
                }
            })
            .collect();
    }

    fn ivpol(&mut self, at: &str, doc: &mut Value) {
        let globs: Vec<String> = items(doc, "/spec/matchImageReferences")
            .filter_map(|r| r.get("glob").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let (ours, others): (Vec<&String>, Vec<&String>) =
            globs.iter().partition(|g| self.is_from(g));
        if ours.is_empty() {
            return;
        }
        self.swapped += 1;
        if !others.is_empty() {
            self.findings.push(format!(
                "{at} also matches {} with `{}`'s attestors: swapping them would change those images' verification too; left as written. Vendor-neutral alternative: one ImageValidatingPolicy per vendor",
                others.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", "),
                self.from.name
            ));
            return;
        }
        if let Some(refs) = doc
            .pointer_mut("/spec/matchImageReferences")
            .and_then(Value::as_array_mut)
        {
            let mut out = Vec::new();
            let mut swapped = false;
            for r in refs.drain(..) {
                match r.get("glob").and_then(Value::as_str) {
                    Some(g) if self.is_from(g) => swapped = true,
                    _ => {
                        if let Some(e) = r.get("expression").and_then(Value::as_str)
                            && e.contains(prefix(&self.from.images[0]))
                        {
                            self.findings.push(format!(
                                "{at}: a matchImageReferences expression names `{}`'s images in CEL, which trustswap does not rewrite (vendor-neutral alternative: `glob` references)",
                                self.from.name
                            ));
                        }
                        out.push(r);
                    }
                }
            }
            if swapped {
                for g in &self.to.images {
                    out.push(json!({ "glob": g }));
                }
            }
            *refs = out;
        }
        if let Some(attestors) = doc
            .pointer_mut("/spec/attestors")
            .and_then(Value::as_array_mut)
        {
            for a in attestors {
                if let Some(cosign) = a.get_mut("cosign") {
                    self.cosign(at, cosign);
                }
            }
        }
        if let Some(atts) = doc
            .pointer_mut("/spec/attestations")
            .and_then(Value::as_array_mut)
        {
            for att in atts {
                if let Some(intoto) = att.get_mut("intoto") {
                    self.predicate(at, intoto, "type");
                }
            }
        }
        self.variables(at, doc);
    }

    fn cosign(&mut self, at: &str, cosign: &mut Value) {
        let Some(map) = cosign.as_object_mut() else {
            return;
        };
        let Some(old_key) = ["keyless", "key"]
            .into_iter()
            .find(|k| map.contains_key(*k))
        else {
            return;
        };
        if !self.names_from(old_key, map.get(old_key).unwrap_or(&Value::Null)) {
            self.findings.push(format!(
                "{at}: an attestor that does not name `{}`'s signer is kept as written (vendor-neutral alternative: give each signer an attestor of its own)",
                self.from.name
            ));
            return;
        }
        let signer = match (&self.to.identity, &self.to_key) {
            (Identity::Keyless { issuer, subject }, _) => {
                let mut id = Map::new();
                matcher(&mut id, "issuer", issuer);
                matcher(&mut id, "subject", subject);
                ("keyless", json!({ "identities": [id] }))
            }
            (Identity::Key(_), Some(pem)) => ("key", json!({ "data": pem })),
            (Identity::Key(_), None) => return,
        };
        *map = std::mem::take(map)
            .into_iter()
            .map(|(k, v)| {
                if k == old_key {
                    (signer.0.to_owned(), signer.1.clone())
                } else {
                    (k, v)
                }
            })
            .collect();
        let ctlog = map.entry("ctlog").or_insert_with(|| json!({}));
        if let Some(c) = ctlog.as_object_mut() {
            for (field, req) in [
                ("insecureIgnoreTlog", self.to.transparency_log),
                ("insecureIgnoreSCT", self.to.certificate_transparency),
            ] {
                if req == Requirement::Ignored {
                    c.insert(field.into(), json!(true));
                } else {
                    c.shift_remove(field);
                }
            }
        }
        if map
            .get("ctlog")
            .is_some_and(|c| c.as_object().is_some_and(Map::is_empty))
        {
            map.shift_remove("ctlog");
        }
        match (&self.to.signatures.repository, map.get_mut("source")) {
            (Some(_), Some(source)) => self.repository(at, source, "repository"),
            (Some(repo), None) => {
                map.insert("source".into(), json!({ "repository": repo }));
                self.per_image_repository(at);
            }
            (None, Some(source)) => {
                if let Some(s) = source.as_object_mut() {
                    s.shift_remove("repository");
                }
            }
            (None, None) => {}
        }
    }

    /// Registry allow-lists in CEL variables: the source's image prefixes
    /// (plain or as a regexp) become the target's.
    fn variables(&mut self, at: &str, doc: &mut Value) {
        let to = prefix(&self.to.images[0]).to_owned();
        let pairs: Vec<(String, String)> = self
            .from
            .images
            .iter()
            .map(|f| (prefix(f).to_owned(), to.clone()))
            .collect();
        if rewrite_allow_lists(doc, &pairs) {
            self.one_of_several(at, "a registry allow-list");
        }
    }

    /// A finding when the target publishes under several globs and `what`
    /// can name only its first.
    fn one_of_several(&mut self, at: &str, what: &str) {
        if self.to.images.len() > 1 {
            self.findings.push(format!(
                "{at}: {what} now names `{}` only, the first of `{}`'s images ({}); add the others by hand",
                self.to.images[0],
                self.to.name,
                self.to.images.join(", ")
            ));
        }
    }

    /// Image globs written as strings (a `validate.pattern`'s images).
    fn globs_in(&self, v: &mut Value) -> bool {
        match v {
            Value::String(s) if self.from.images.contains(s) => {
                *s = self.to.images[0].clone();
                true
            }
            Value::Array(items) => items.iter_mut().fold(false, |c, i| self.globs_in(i) | c),
            Value::Object(m) => m.values_mut().fold(false, |c, i| self.globs_in(i) | c),
            _ => false,
        }
    }
}

fn matcher(m: &mut Map<String, Value>, field: &str, value: &Matcher) {
    match value {
        Matcher::Exact(s) => m.insert(field.into(), json!(s)),
        Matcher::RegExp(r) => m.insert(format!("{field}RegExp"), json!(r)),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leading_comment_block_is_kept_and_later_comments_counted() {
        let (header, dropped) =
            comments("# one\n# two\n\napiVersion: v1 # inline\n# later\nkind: X\n");
        assert_eq!(header, "# one\n# two\n");
        assert_eq!(dropped, 2);
    }

    #[test]
    fn allow_lists_are_rewritten_once_plain_and_as_regexps() {
        let mut doc = json!({"spec": {"variables": [
            {"name": "allowedRegistries", "expression": "['a.io/x/', r'^a\\.io/x/.*$']"},
            {"name": "other", "expression": "'a.io/x/'"}
        ]}});
        rewrite_allow_lists(&mut doc, &[("a.io/x/".into(), "h:5000/a.io/x/".into())]);
        assert_eq!(
            doc["spec"]["variables"][0]["expression"],
            "['h:5000/a.io/x/', r'^h:5000/a\\.io/x/.*$']"
        );
        assert_eq!(doc["spec"]["variables"][1]["expression"], "'a.io/x/'");
    }

    #[test]
    fn a_glob_prefix_stops_at_the_first_wildcard() {
        assert_eq!(prefix("cgr.dev/chainguard/*"), "cgr.dev/chainguard/");
        assert_eq!(prefix("dhi.io/python:*"), "dhi.io/python:");
        assert_eq!(prefix("exact/ref"), "exact/ref");
    }
}
