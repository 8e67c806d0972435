//! Hand-written policy sets in the hypothesis suite (`run --policies
//! VENDOR=PATH`). Each set replaces the policies rendered from the contract
//! for its vendor. To run against the lab, only trust material that names the
//! vendor's real signer is re-pointed to the lab's (a key whose fingerprint is
//! the profile's; a keyless attestor's roots, Rekor, CT and TUF settings, for
//! which the lab's Sigstore stands in for the public one), every such edit is
//! listed, and the static diff proves the edits are trust-root class only.
//! Identity matchers are never rewritten: the lab signs as the profile says
//! the vendor signs, so a set that trusts another identity is a finding.
//!
//! Scenario edits (switch to Audit, a failure policy, a careless matcher, a
//! rotated key, a foreign CA, a break-glass exception) are applied to the
//! user's documents structurally; a scenario that would need a rule added or
//! removed (`requireSbom`) is not applicable, with the reason.

use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::admit::Skipped;
use crate::check::Verdict;
use crate::check::{Comparison, Counts};
use crate::diff::Class;
use crate::error::{Error, Result};
use crate::experiment::lab::LabContext;
use crate::experiment::scenario::{Action, IdentityMode, Scenario, TrustRootMode};
use crate::policy::render::{REKOR_URL, TrustOverrides};
use crate::policy::{Contract, Document, Engine, PolicySet};
use crate::profile::keys::parse_public_key;
use crate::profile::{Identity, Matcher, Vendor};
use trustswap_model::kyverno::cpol::FailureAction;
use trustswap_model::kyverno::meta::FailurePolicy;

/// One vendor's hand-written policy set, as read.
#[derive(Debug, Clone)]
pub struct OwnSet {
    pub vendor: String,
    pub path: PathBuf,
    /// The Kyverno documents, each with the file it came from.
    pub documents: Vec<(String, Value)>,
    /// Documents read but not used, with the reason.
    pub skipped: Vec<Skipped>,
}

/// One change of trust material, for the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustEdit {
    /// The file and `Kind/name` of the document.
    pub file: String,
    pub document: String,
    /// JSON path of the field.
    pub field: String,
    pub change: String,
}

/// What the report says of one vendor's set.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnReport {
    pub vendor: String,
    pub path: String,
    pub engines: Vec<Engine>,
    pub skipped: Vec<Skipped>,
    pub edits: Vec<TrustEdit>,
    /// The static diff between the set as written and the set re-pointed at
    /// the lab: holds when every difference is trust-root class.
    pub proof: Comparison,
}

/// `VENDOR=PATH`, the value of `--policies`.
pub fn parse_arg(s: &str) -> std::result::Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((v, p)) if !v.is_empty() && !p.is_empty() => Ok((v.to_owned(), PathBuf::from(p))),
        _ => Err(format!(
            "`{s}` is not VENDOR=PATH (a vendor profile's name, then a policy file or folder)"
        )),
    }
}

/// Reads each `VENDOR=PATH`: the vendor must have a profile, and only one set.
pub fn load(args: &[(String, PathBuf)], vendors: &[Vendor]) -> Result<Vec<OwnSet>> {
    let mut out: Vec<OwnSet> = Vec::new();
    for (vendor, path) in args {
        if !vendors.iter().any(|v| &v.name == vendor) {
            return Err(Error::UnknownVendor {
                name: vendor.clone(),
                known: vendors.iter().map(|v| v.name.clone()).collect(),
            });
        }
        if let Some(first) = out.iter().find(|s| &s.vendor == vendor) {
            return Err(Error::Usage {
                message: format!(
                    "two policy sets for vendor `{vendor}`: {} and {}",
                    first.path.display(),
                    path.display()
                ),
                hint: "give one --policies per vendor; a folder holds several files".into(),
            });
        }
        let read = crate::admit::read_policies(std::slice::from_ref(path), "default")?;
        let set = OwnSet {
            vendor: vendor.clone(),
            path: path.clone(),
            documents: read.documents,
            skipped: read.skipped,
        };
        if set.engines().is_empty() {
            return Err(Error::Usage {
                message: format!(
                    "{}: no ClusterPolicy or ImageValidatingPolicy for vendor `{vendor}`: nothing verifies its images",
                    path.display()
                ),
                hint: "give the files holding the set's image-verification policies".into(),
            });
        }
        out.push(set);
    }
    Ok(out)
}

fn kind(doc: &Value) -> &str {
    doc.get("kind").and_then(Value::as_str).unwrap_or_default()
}

fn api_group(doc: &Value) -> &str {
    doc.get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|a| a.split_once('/'))
        .map_or("", |(g, _)| g)
}

fn name(doc: &Value) -> &str {
    doc.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The engine a document verifies images for, if it is one engine's.
fn engine_of(doc: &Value) -> Option<Engine> {
    match (api_group(doc), kind(doc)) {
        ("kyverno.io", "ClusterPolicy") => Some(Engine::Cpol),
        ("policies.kyverno.io", "ImageValidatingPolicy") => Some(Engine::Ivpol),
        _ => None,
    }
}

/// Whether `doc` is applied on `engine`'s runs: that engine's policies, the
/// exceptions of its API group, and what belongs to no engine (a
/// ValidatingPolicy).
fn belongs(doc: &Value, engine: Engine) -> bool {
    match (kind(doc), api_group(doc)) {
        ("PolicyException", "kyverno.io") => engine == Engine::Cpol,
        ("PolicyException", _) => engine == Engine::Ivpol,
        _ => engine_of(doc).is_none_or(|e| e == engine),
    }
}

impl OwnSet {
    /// The engines whose image-verification policies the set holds.
    pub fn engines(&self) -> Vec<Engine> {
        Engine::ALL
            .into_iter()
            .filter(|e| self.documents.iter().any(|(_, d)| engine_of(d) == Some(*e)))
            .collect()
    }

    /// The documents applied on `engine`'s runs, as written.
    pub fn documents_for(&self, engine: Engine) -> Vec<(String, Value)> {
        self.documents
            .iter()
            .filter(|(_, d)| belongs(d, engine))
            .cloned()
            .collect()
    }

    fn policy_set(&self, label: &str, docs: &[(String, Value)]) -> PolicySet {
        PolicySet {
            label: label.to_owned(),
            documents: docs
                .iter()
                .map(|(origin, value)| Document {
                    origin: origin.clone(),
                    value: value.clone(),
                    source: None,
                })
                .collect(),
            files: Vec::new(),
        }
    }

    /// The set re-pointed at the lab, the edits, and the proof that they are
    /// trust-root class only.
    pub fn report(&self, profile: &Vendor, lab: &LabContext) -> Result<OwnReport> {
        let (lab_vendor, trust) = lab.vendor(profile, IdentityMode::Profile, Engine::Cpol)?;
        let mut docs = self.documents.clone();
        let edits = repoint(&mut docs, profile, &lab_vendor, &trust);
        let written = self.policy_set(&self.path.display().to_string(), &self.documents);
        let repointed = self.policy_set("re-pointed at the lab", &docs);
        let d = crate::diff::diff_sets(&written, &repointed);
        let trust_only = d.differences.iter().all(|x| x.class == Class::TrustRoot)
            && only_trust_fields(&self.documents, &docs, &edits);
        Ok(OwnReport {
            vendor: self.vendor.clone(),
            path: self.path.display().to_string(),
            engines: self.engines(),
            skipped: self.skipped.clone(),
            edits,
            proof: Comparison {
                vendor: self.vendor.clone(),
                baseline: written.label.clone(),
                verdict: Verdict::of(trust_only),
                counts: Counts::of(&d),
                differences: d.differences,
                warnings: Vec::new(),
            },
        })
    }
}

/// The fields a re-pointing may change: trust material, nothing that says
/// who signs or what is verified.
const TRUST_FIELDS: [&str; 8] = [
    "roots",
    "url",
    "pubkey",
    "publicKeys",
    "data",
    "tuf",
    "rekorPubKey",
    "ctLogPubKey",
];

/// The proof that re-pointing changed trust material only: every edit is of
/// a [`TRUST_FIELDS`] leaf, and with the edited fields taken out (and the
/// empty objects re-pointing created) the documents are the ones written.
/// The static diff's classes cannot prove it alone: an attestor's identity
/// is trust-root class too.
fn only_trust_fields(
    written: &[(String, Value)],
    run: &[(String, Value)],
    edits: &[TrustEdit],
) -> bool {
    fn remove(doc: &mut Value, ptr: &str) {
        if let Some((parent, key)) = ptr.rsplit_once('/')
            && let Some(Value::Object(m)) = doc.pointer_mut(parent)
        {
            m.shift_remove(key);
        }
    }
    fn prune(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.values_mut().for_each(prune);
                m.retain(|_, x| !(x.is_object() && x.as_object().is_some_and(Map::is_empty)));
            }
            Value::Array(items) => items.iter_mut().for_each(prune),
            _ => {}
        }
    }
    if written.len() != run.len()
        || !edits.iter().all(|e| {
            e.field
                .rsplit('.')
                .next()
                .is_some_and(|leaf| TRUST_FIELDS.contains(&leaf))
        })
    {
        return false;
    }
    written.iter().zip(run).all(|((file, a), (_, b))| {
        let (mut a, mut b) = (a.clone(), b.clone());
        let document = format!("{}/{}", kind(&a), name(&a));
        for e in edits
            .iter()
            .filter(|e| &e.file == file && e.document == document)
        {
            let ptr = pointer(&e.field);
            remove(&mut a, &ptr);
            remove(&mut b, &ptr);
        }
        prune(&mut a);
        prune(&mut b);
        a == b
    })
}

/// Why `scenario` cannot run on a hand-written set for `engine`, if it cannot
/// (`relocated`: on a real cluster, which reaches the lab's images under its
/// registry's name).
pub fn not_applicable(
    scenario: &Scenario,
    engine: Engine,
    set: &OwnSet,
    base: &Contract,
    relocated: bool,
) -> Option<String> {
    if !set.engines().contains(&engine) {
        return Some(format!(
            "the hand-written set for `{}` has no {}",
            set.vendor,
            engine.title()
        ));
    }
    if relocated
        && set.documents_for(engine).iter().any(|(_, d)| {
            d.pointer("/spec/matchImageReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| refs.iter().any(|r| r.get("expression").is_some()))
        })
    {
        return Some(
            "a matchImageReferences expression names images in CEL, which trustswap cannot relocate to the cluster's registry".into(),
        );
    }
    let patches =
        std::iter::once(&scenario.contract).chain(scenario.steps.iter().filter_map(|s| {
            match &s.action {
                Action::Contract { patch } => Some(patch),
                _ => None,
            }
        }));
    for p in patches {
        match p.require_sbom {
            Some(true) if !base.require_sbom => {
                return Some(
                    "needs the policies to require an SBOM; trustswap does not write attestation checks into a hand-written set".into(),
                );
            }
            Some(false) if base.require_sbom && engine == Engine::Ivpol => {
                return Some(
                    "needs the policies to not require an SBOM, which in an ImageValidatingPolicy means rewriting its CEL validations; trustswap does not rewrite CEL".into(),
                );
            }
            _ => {}
        }
    }
    let rotated = std::iter::once(scenario.identity)
        .chain(scenario.steps.iter().filter_map(|s| match &s.action {
            Action::Identity { mode } => Some(*mode),
            _ => None,
        }))
        .any(|m| m == IdentityMode::TrustRotatedKey);
    if rotated && engine == Engine::Ivpol {
        return Some(
            "needs a second key attestor, which an ImageValidatingPolicy's CEL validations would also have to name; trustswap does not rewrite CEL".into(),
        );
    }
    None
}

/// The state a run applies the set in.
pub struct State<'a> {
    pub engine: Engine,
    pub identity: IdentityMode,
    pub trust_root: TrustRootMode,
    pub contract: &'a Contract,
    pub base: &'a Contract,
}

/// The set as a run applies it in `state`: re-pointed at the lab, then the
/// scenario's edits.
pub fn documents(
    set: &OwnSet,
    profile: &Vendor,
    lab: &LabContext,
    state: &State<'_>,
) -> Result<Vec<Value>> {
    let (lab_vendor, trust) = lab.vendor(profile, state.identity, state.engine)?;
    let trust = lab.trust_root(trust, state.trust_root);
    let mut docs = set.documents_for(state.engine);
    repoint(&mut docs, profile, &lab_vendor, &trust);
    let mut docs: Vec<Value> = docs.into_iter().map(|(_, d)| d).collect();
    if state.identity == IdentityMode::CarelessWildcard
        && let Identity::Keyless { subject, .. } = &lab_vendor.identity
    {
        for doc in &mut docs {
            for path in entry_paths(doc) {
                if let Some(keyless) = doc
                    .pointer_mut(&format!("{}/keyless", pointer(&path)))
                    .filter(|k| k.is_object())
                {
                    set_subject(keyless, subject);
                }
            }
        }
    }
    if state.engine == Engine::Cpol {
        for doc in &mut docs {
            add_keys(doc, &lab_vendor, &trust.extra_keys);
        }
    }
    if !state.contract.require_sbom && state.base.require_sbom {
        for doc in &mut docs {
            drop_attestations(doc);
        }
    }
    if state.contract.failure_action != state.base.failure_action {
        for doc in &mut docs {
            set_failure_action(doc, state.contract.failure_action);
        }
    }
    if state.contract.failure_policy != state.base.failure_policy {
        for doc in &mut docs {
            if doc.get("spec").is_some_and(Value::is_object) && engine_of_or_vp(doc) {
                let word = json!(match state.contract.failure_policy {
                    FailurePolicy::Fail => "Fail",
                    FailurePolicy::Ignore => "Ignore",
                });
                doc["spec"]["failurePolicy"] = word.clone();
                // A ClusterPolicy's `webhookConfiguration.failurePolicy` wins
                // over the deprecated `spec.failurePolicy` (Kyverno
                // api/kyverno/v1/spec_types.go:277-286, GetFailurePolicy).
                if engine_of(doc) == Some(Engine::Cpol) {
                    object(&mut doc["spec"], "webhookConfiguration")["failurePolicy"] = word;
                }
            }
        }
    }
    Ok(docs)
}

fn engine_of_or_vp(doc: &Value) -> bool {
    engine_of(doc).is_some() || kind(doc) == "ValidatingPolicy"
}

/// A pattern string that names an image under a registry host
/// (`ghcr.io/org/*`, `localhost:5000/x`): no spaces, no negation, a first
/// path segment with a dot or a port.
fn registry_like(s: &str) -> bool {
    let Some((host, _)) = s.split_once('/') else {
        return false;
    };
    !s.contains(char::is_whitespace)
        && !s.starts_with(['!', '*', '?', '(', '<', '>', '='])
        && (host.contains(['.', ':']) || host == "localhost")
}

/// Names the lab's trust where a policy names none, as the cluster's default
/// (what `admit` on a cluster needs: Kyverno's own default is Sigstore's
/// public-good root, which the lab's signatures do not chain to, and the
/// embedded `admit` stands the lab's root in for it): a ClusterPolicy
/// attestor without `roots`, Rekor or CT keys gets the lab's; an
/// ImageValidatingPolicy attestor without `tuf` or `trustedRoot` the lab's
/// TUF repository. What a policy names is kept.
pub fn default_trust(docs: &mut [(String, Value)], trust: &TrustOverrides) -> Vec<TrustEdit> {
    let mut edits = Vec::new();
    let absent = |v: &Value, key: &str| v.get(key).is_none_or(Value::is_null);
    for (file, doc) in docs.iter_mut() {
        let document = format!("{}/{}", kind(doc), name(doc));
        let mut ed = Edits {
            list: &mut edits,
            file: file.as_str(),
            document: document.as_str(),
        };
        let engine = engine_of(doc);
        for path in entry_paths(doc) {
            let Some(entry) = doc.pointer_mut(&pointer(&path)) else {
                continue;
            };
            if engine == Some(Engine::Cpol) {
                for key in ["keyless", "keys"] {
                    if !entry.get(key).is_some_and(Value::is_object) {
                        continue;
                    }
                    let p = format!("{path}.{key}");
                    let signer = &mut entry[key];
                    if key == "keyless" && absent(signer, "roots") {
                        ed.set(
                            signer,
                            &p,
                            "roots",
                            pem(&trust.fulcio_roots),
                            "the lab's CA chain (the cluster default)",
                        );
                    }
                    let rekor = object(signer, "rekor");
                    if absent(rekor, "pubkey") {
                        ed.set(
                            rekor,
                            &format!("{p}.rekor"),
                            "pubkey",
                            pem(&trust.rekor_pubkey),
                            "the lab's Rekor key (the cluster default)",
                        );
                    }
                    let ctlog = object(signer, "ctlog");
                    if absent(ctlog, "pubkey") {
                        ed.set(
                            ctlog,
                            &format!("{p}.ctlog"),
                            "pubkey",
                            pem(&trust.ctlog_pubkey),
                            "the lab's CT log key (the cluster default)",
                        );
                    }
                }
            } else if absent(entry, "tuf")
                && absent(entry, "trustedRoot")
                && let Some(tuf) = &trust.tuf
                && let Ok(tuf) = serde_json::to_value(tuf)
            {
                ed.set(
                    entry,
                    &path,
                    "tuf",
                    tuf,
                    "the lab's TUF repository (the cluster default)",
                );
            }
        }
    }
    edits
}

/// The set as a real cluster sees it: every image reference, glob, signature
/// repository and registry allow-list under the registry that serves the lab
/// (`relocation`), as the rendered policies are; `globs` are the vendor's
/// image globs, which a registry pattern written as a plain string must match.
pub fn relocate(
    docs: &mut [Value],
    relocation: &crate::backend::relocate::Relocation,
    globs: &[String],
) {
    use trustswap_model::wildcard::wildcard_match;
    let moved = |s: &mut Value| {
        if let Some(t) = s.as_str() {
            *s = json!(relocation.image(t));
        }
    };
    let covered = |s: &str| globs.iter().any(|g| g == s || wildcard_match(g, s));
    /// Every string under an `image` key (`image`, `=(image)`, ...).
    fn images(v: &mut Value, f: &dyn Fn(&mut Value)) {
        match v {
            Value::Array(items) => items.iter_mut().for_each(|i| images(i, f)),
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    let bare = k
                        .trim_start_matches(['=', '^', '+', 'X', '<'])
                        .trim_matches(['(', ')']);
                    if bare == "image" && x.is_string() {
                        f(x);
                    } else {
                        images(x, f);
                    }
                }
            }
            _ => {}
        }
    }
    for doc in docs.iter_mut() {
        match engine_of(doc) {
            Some(Engine::Cpol) => {
                for path in entry_paths(doc) {
                    if let Some(r) = doc.pointer_mut(&format!("{}/repository", pointer(&path))) {
                        moved(r);
                    }
                }
                for rule in items_mut(doc, "/spec/rules") {
                    // Image patterns: the vendors' globs, and any image that
                    // starts with a registry host (an allow-list of other
                    // registries moves with the pods it judges).
                    for key in ["pattern", "anyPattern"] {
                        if let Some(p) = rule.pointer_mut(&format!("/validate/{key}")) {
                            images(p, &|s| {
                                if s.as_str().is_some_and(|t| covered(t) || registry_like(t)) {
                                    moved(s);
                                }
                            });
                        }
                    }
                    for vi in items_mut(rule, "/verifyImages") {
                        for key in ["imageReferences", "skipImageReferences"] {
                            for r in vi
                                .get_mut(key)
                                .and_then(Value::as_array_mut)
                                .into_iter()
                                .flatten()
                            {
                                moved(r);
                            }
                        }
                        if let Some(r) = vi.get_mut("repository") {
                            moved(r);
                        }
                    }
                }
            }
            Some(Engine::Ivpol) => {
                for r in items_mut(doc, "/spec/matchImageReferences") {
                    if let Some(g) = r.get_mut("glob") {
                        moved(g);
                    }
                }
                for a in items_mut(doc, "/spec/attestors") {
                    if let Some(r) = a.pointer_mut("/cosign/source/repository") {
                        moved(r);
                    }
                }
                relocate_allow_lists(doc, &relocation.prefix);
            }
            None => relocate_allow_lists(doc, &relocation.prefix),
        }
    }
}

/// The registry allow-lists of a policy's CEL variables (named as the
/// static check reads them) under `prefix`: each quoted literal that names
/// an image under a registry host, plain or as a regexp (`^cgr\\.dev/...`).
fn relocate_allow_lists(doc: &mut Value, prefix: &str) {
    static LITERALS: std::sync::OnceLock<[regex::Regex; 2]> = std::sync::OnceLock::new();
    let literals = LITERALS.get_or_init(|| {
        [r"'([^']*)'", r#""([^"]*)""#].map(|r| regex::Regex::new(r).expect("a fixed regexp"))
    });
    let Some(vars) = doc
        .pointer_mut("/spec/variables")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    let escaped = regex::escape(prefix);
    for v in vars {
        let named = v
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| crate::swap::IMAGE_VARIABLES.contains(&n));
        let Some(mut e) = v
            .get("expression")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            continue;
        };
        if !named {
            continue;
        }
        for re in literals {
            e = re
                .replace_all(&e, |c: &regex::Captures<'_>| {
                    let whole = &c[0];
                    let (q, body) = (&whole[..1], &c[1]);
                    match body.strip_prefix('^') {
                        Some(rest) if registry_like(&rest.replace('\\', "")) => {
                            format!("{q}^{escaped}/{rest}{q}")
                        }
                        None if registry_like(body) => format!("{q}{prefix}/{body}{q}"),
                        _ => whole.to_owned(),
                    }
                })
                .into_owned();
        }
        v["expression"] = json!(e);
    }
}

/// A break-glass exception for `pod` in `namespace` of every
/// image-verification policy of the set `docs` (ClusterPolicy: each rule that
/// verifies images; ImageValidatingPolicy: each policy).
pub fn exception_document(
    docs: &[Value],
    engine: Engine,
    e: &crate::experiment::scenario::Exception,
    namespace: &str,
    expires: &str,
) -> Value {
    match engine {
        Engine::Cpol => {
            let exceptions: Vec<Value> = docs
                .iter()
                .filter(|d| engine_of(d) == Some(Engine::Cpol))
                .filter_map(|d| {
                    let rules: Vec<&str> = items(d, "/spec/rules")
                        .filter(|r| r.get("verifyImages").is_some())
                        .filter_map(|r| r.get("name").and_then(Value::as_str))
                        .collect();
                    (!rules.is_empty())
                        .then(|| json!({ "policyName": name(d), "ruleNames": rules }))
                })
                .collect();
            json!({
                "apiVersion": "kyverno.io/v2",
                "kind": "PolicyException",
                "metadata": { "name": e.name, "namespace": namespace, "labels": { "cleanup.kyverno.io/ttl": format!("{}s", e.expires_in_seconds) } },
                "spec": {
                    "exceptions": exceptions,
                    "match": { "any": [{ "resources": { "kinds": ["Pod"], "namespaces": [namespace], "names": [e.pod] } }] }
                }
            })
        }
        Engine::Ivpol => {
            let refs: Vec<Value> = docs
                .iter()
                .filter(|d| engine_of(d) == Some(Engine::Ivpol))
                .map(|d| json!({ "name": name(d), "kind": "ImageValidatingPolicy" }))
                .collect();
            json!({
                "apiVersion": "policies.kyverno.io/v1",
                "kind": "PolicyException",
                "metadata": { "name": e.name, "namespace": namespace },
                "spec": {
                    "policyRefs": refs,
                    "matchConditions": [{ "name": "break-glass-pod", "expression": format!("object.metadata.namespace == '{}' && object.metadata.name.matches('{}')", namespace, crate::policy::render::glob_to_regex(&e.pod)) }],
                    "expiresAt": expires
                }
            })
        }
    }
}

/// Every attestor entry of a ClusterPolicy (`verifyImages[].attestors`, each
/// attestation's, and the nested `attestor` sets of entries), or every
/// attestor's `cosign` of an ImageValidatingPolicy, as paths
/// (`spec.rules[0].verifyImages[0].attestors[0].entries[0]`).
fn entry_paths(doc: &Value) -> Vec<String> {
    fn sets(out: &mut Vec<String>, base: &str, sets: Option<&Value>) {
        for (s, set) in sets
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            set_entries(out, &format!("{base}[{s}]"), set);
        }
    }
    fn set_entries(out: &mut Vec<String>, base: &str, set: &Value) {
        for (e, entry) in items(set, "/entries").enumerate() {
            let path = format!("{base}.entries[{e}]");
            out.push(path.clone());
            if let Some(nested) = entry.get("attestor").filter(|n| n.is_object()) {
                set_entries(out, &format!("{path}.attestor"), nested);
            }
        }
    }
    let mut out = Vec::new();
    match engine_of(doc) {
        Some(Engine::Cpol) => {
            for (r, rule) in items(doc, "/spec/rules").enumerate() {
                for (v, vi) in items(rule, "/verifyImages").enumerate() {
                    let base = format!("spec.rules[{r}].verifyImages[{v}]");
                    sets(&mut out, &format!("{base}.attestors"), vi.get("attestors"));
                    for (t, att) in items(vi, "/attestations").enumerate() {
                        sets(
                            &mut out,
                            &format!("{base}.attestations[{t}].attestors"),
                            att.get("attestors"),
                        );
                    }
                }
            }
        }
        Some(Engine::Ivpol) => {
            for (a, attestor) in items(doc, "/spec/attestors").enumerate() {
                if attestor.get("cosign").is_some() {
                    out.push(format!("spec.attestors[{a}].cosign"));
                }
            }
        }
        None => {}
    }
    out
}

/// The items of the array at `pointer` in `v` (none when absent or not an
/// array).
pub(crate) fn items_mut<'a>(
    v: &'a mut Value,
    pointer: &str,
) -> impl Iterator<Item = &'a mut Value> {
    v.pointer_mut(pointer)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// As [`items_mut`], read only.
pub(crate) fn items<'a>(v: &'a Value, pointer: &str) -> impl Iterator<Item = &'a Value> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The JSON pointer of a path as `entry_paths` and the edits write it.
fn pointer(field: &str) -> String {
    let mut p = String::new();
    for part in field.split('.') {
        let mut pieces = part.split('[');
        if let Some(key) = pieces.next() {
            p.push('/');
            p.push_str(key);
        }
        for idx in pieces {
            p.push('/');
            p.push_str(idx.trim_end_matches(']'));
        }
    }
    p
}

fn pem_summary(pem: &str) -> String {
    match parse_public_key(pem) {
        Ok((_, sha)) => format!("key sha256:{}", &sha[..12.min(sha.len())]),
        Err(_) => "PEM".into(),
    }
}

fn short(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "absent".into(),
        Some(Value::String(s)) if s.contains("-----BEGIN") => {
            if s.contains("CERTIFICATE") {
                "certificates".into()
            } else {
                pem_summary(s)
            }
        }
        Some(Value::String(s)) => format!("`{s}`"),
        Some(_) => "set".into(),
    }
}

/// The trust edits of one document, as they are made.
struct Edits<'a> {
    list: &'a mut Vec<TrustEdit>,
    file: &'a str,
    document: &'a str,
}

impl Edits<'_> {
    /// Sets `obj[key]` to `value`, recording the change when there is one.
    fn set(&mut self, obj: &mut Value, path: &str, key: &str, value: Value, now: &str) {
        let Some(map) = obj.as_object_mut() else {
            return;
        };
        if map.get(key) == Some(&value) {
            return;
        }
        let was = short(map.get(key));
        map.insert(key.to_owned(), value);
        self.list.push(TrustEdit {
            file: self.file.to_owned(),
            document: self.document.to_owned(),
            field: format!("{path}.{key}"),
            change: format!("{was} -> {now}"),
        });
    }
}

/// A PEM from the trust overrides as a JSON value (`null` when absent).
fn pem(s: &Option<String>) -> Value {
    s.clone().map_or(Value::Null, Value::String)
}

fn object<'a>(parent: &'a mut Value, key: &str) -> &'a mut Value {
    if !parent.get(key).is_some_and(Value::is_object) {
        parent[key] = json!({});
    }
    &mut parent[key]
}

/// Sigstore's public-good instance, which the lab stands in for: what a
/// policy may pin and still name the vendor's real signer. SHA-256 of the
/// log keys' DER SubjectPublicKeyInfo (Rekor v1 and the 2025 shard, the CT
/// logs) and of the Fulcio certificates' DER, from the public-good
/// `trusted_root.json` (`shared/realworld/trust/sigstore-public-good`).
const PUBLIC_GOOD_LOG_KEYS: [&str; 4] = [
    "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d",
    "b54813cb63d8859870a5e78500cc6adcfdf59723edae93ee8d25faf2475a0690",
    "086092f02852ff6845d1d16b27849c456718ac163dc338d26de6bc2206366f72",
    "dd3d306ac6c7113263191e1c99673702a24a5eb8de3cadff878a72802f29ee8e",
];
const PUBLIC_GOOD_CERTS: [&str; 3] = [
    "03a38ffb1f450100c2596d1d10b900ac4d504058006dda58199576bbeb9c73d0",
    "15d795348226b4649f750f5802592c393bee7cc53c3b86982175b7ad087efe47",
    "3ba7b6cc4e95469d4d334b49cb257ad8537076fa84b0ca87ff4ecfe6a54680c1",
];
const PUBLIC_GOOD_REKOR: &str = "https://rekor.sigstore.dev";
const PUBLIC_GOOD_TUF: &str = "https://tuf-repo-cdn.sigstore.dev";

/// What a pinned field may name for trustswap to re-point it: nothing, or
/// Sigstore's public-good instance. Anything else is kept as written (a
/// policy that trusts another CA, log or TUF root is a finding).
#[derive(Clone, Copy)]
enum Pinned {
    Roots,
    LogKey,
    RekorUrl,
    Tuf,
}

fn public_good_or_absent(v: Option<&Value>, what: Pinned) -> bool {
    use sha2::Digest as _;
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return true;
    };
    match what {
        Pinned::Roots => v.as_str().is_some_and(|pem| {
            crate::verify::certs::pem_chain_to_der(pem).is_ok_and(|ders| {
                !ders.is_empty()
                    && ders.iter().all(|d| {
                        PUBLIC_GOOD_CERTS.contains(&hex::encode(sha2::Sha256::digest(d)).as_str())
                    })
            })
        }),
        Pinned::LogKey => v
            .as_str()
            .and_then(|pem| parse_public_key(pem).ok())
            .is_some_and(|(_, sha)| PUBLIC_GOOD_LOG_KEYS.contains(&sha.as_str())),
        Pinned::RekorUrl => v
            .as_str()
            .is_some_and(|u| u.trim_end_matches('/') == PUBLIC_GOOD_REKOR),
        Pinned::Tuf => {
            v.get("root").is_none_or(Value::is_null)
                && v.get("mirror")
                    .and_then(Value::as_str)
                    .is_none_or(|m| m.trim_end_matches('/') == PUBLIC_GOOD_TUF)
        }
    }
}

/// The PEM blocks of a key field with every key whose fingerprint is
/// `vendor_key` replaced by `lab_key`; `None` when none is the vendor's.
fn replace_vendor_keys(text: &str, vendor_key: &str, lab_key: &str) -> Option<String> {
    let blocks = pem::parse_many(text.trim()).ok()?;
    let mut replaced = false;
    let out: Vec<String> = blocks
        .iter()
        .map(|b| {
            let block = pem::encode(b);
            match parse_public_key(&block) {
                Ok((_, sha)) if sha == vendor_key => {
                    replaced = true;
                    lab_key.trim_end().to_owned()
                }
                _ => block.trim_end().to_owned(),
            }
        })
        .collect();
    replaced.then(|| out.join("\n"))
}

/// Re-points the trust material of `docs` that names the vendor's real
/// signer at the lab: a key whose fingerprint is the profile's becomes the
/// lab's key for that vendor (other keys beside it stay); roots, Rekor and
/// CT keys and URLs, and TUF settings that are absent or name Sigstore's
/// public-good instance become the lab's, as the lab's Sigstore stands in for
/// it. Roots, logs or a TUF root of another instance are kept as written;
/// identities, image references, attestations and everything else too.
pub fn repoint(
    docs: &mut [(String, Value)],
    profile: &Vendor,
    lab_vendor: &Vendor,
    trust: &TrustOverrides,
) -> Vec<TrustEdit> {
    let mut edits = Vec::new();
    let vendor_key = match &profile.identity {
        Identity::Key(k) => Some(k.sha256.clone()),
        Identity::Keyless { .. } => None,
    };
    let lab_key = match &lab_vendor.identity {
        Identity::Key(k) => k.pem.clone(),
        Identity::Keyless { .. } => None,
    };
    let tuf = trust
        .tuf
        .as_ref()
        .and_then(|t| serde_json::to_value(t).ok());
    for (file, doc) in docs.iter_mut() {
        let document = format!("{}/{}", kind(doc), name(doc));
        let mut ed = Edits {
            list: &mut edits,
            file: file.as_str(),
            document: document.as_str(),
        };
        let engine = engine_of(doc);
        for path in entry_paths(doc) {
            let Some(entry) = doc.pointer_mut(&pointer(&path)) else {
                continue;
            };
            let is_cpol = engine == Some(Engine::Cpol);
            // A key the vendor's real signer holds.
            let (key_obj, key_field) = if is_cpol {
                ("keys", "publicKeys")
            } else {
                ("key", "data")
            };
            let replaced = match (
                &vendor_key,
                &lab_key,
                entry
                    .pointer(&format!("/{key_obj}/{key_field}"))
                    .and_then(Value::as_str),
            ) {
                (Some(v), Some(l), Some(text)) => replace_vendor_keys(text, v, l),
                _ => None,
            };
            let matches_vendor = replaced.is_some();
            if let (Some(new), Some(pem_text)) = (replaced, &lab_key) {
                let k = &mut entry[key_obj];
                ed.set(
                    k,
                    &format!("{path}.{key_obj}"),
                    key_field,
                    json!(new),
                    &format!(
                        "the lab's key for `{}` ({}) in place of the vendor's",
                        profile.name,
                        pem_summary(pem_text)
                    ),
                );
                if is_cpol {
                    repoint_cpol_logs(&mut ed, k, &format!("{path}.keys"), trust);
                }
            }
            let keyless = entry.get("keyless").is_some_and(Value::is_object);
            if keyless {
                let k = &mut entry["keyless"];
                let p = format!("{path}.keyless");
                // A ClusterPolicy names its roots inline (absent: the
                // cluster's TUF root); an ImageValidatingPolicy reads TUF and
                // only loads `roots`, so they are re-pointed where written.
                if (is_cpol || k.get("roots").is_some())
                    && public_good_or_absent(k.get("roots"), Pinned::Roots)
                {
                    ed.set(
                        k,
                        &p,
                        "roots",
                        pem(&trust.fulcio_roots),
                        "the lab's CA chain",
                    );
                }
                if is_cpol {
                    repoint_cpol_logs(&mut ed, k, &p, trust);
                }
            }
            if !is_cpol && (keyless || matches_vendor) {
                if let Some(tuf) = &tuf
                    && public_good_or_absent(entry.get("tuf"), Pinned::Tuf)
                {
                    ed.set(entry, &path, "tuf", tuf.clone(), "the lab's TUF repository");
                }
                let ctlog = object(entry, "ctlog");
                let p = format!("{path}.ctlog");
                if public_good_or_absent(ctlog.get("url"), Pinned::RekorUrl) {
                    ed.set(ctlog, &p, "url", json!(REKOR_URL), "the lab's Rekor");
                }
                for (field, value, now) in [
                    ("rekorPubKey", &trust.rekor_pubkey, "the lab's Rekor key"),
                    ("ctLogPubKey", &trust.ctlog_pubkey, "the lab's CT log key"),
                ] {
                    if public_good_or_absent(ctlog.get(field), Pinned::LogKey) {
                        ed.set(ctlog, &p, field, pem(value), now);
                    }
                }
            }
        }
    }
    edits
}

fn repoint_cpol_logs(ed: &mut Edits<'_>, attestor: &mut Value, path: &str, trust: &TrustOverrides) {
    let rekor = object(attestor, "rekor");
    let p = format!("{path}.rekor");
    if public_good_or_absent(rekor.get("url"), Pinned::RekorUrl) {
        ed.set(rekor, &p, "url", json!(REKOR_URL), "the lab's Rekor");
    }
    if public_good_or_absent(rekor.get("pubkey"), Pinned::LogKey) {
        ed.set(
            rekor,
            &p,
            "pubkey",
            pem(&trust.rekor_pubkey),
            "the lab's Rekor key",
        );
    }
    let ctlog = object(attestor, "ctlog");
    if public_good_or_absent(ctlog.get("pubkey"), Pinned::LogKey) {
        ed.set(
            ctlog,
            &format!("{path}.ctlog"),
            "pubkey",
            pem(&trust.ctlog_pubkey),
            "the lab's CT log key",
        );
    }
}

/// A careless matcher in place of the subject (the look-alike scenario).
fn set_subject(keyless: &mut Value, subject: &Matcher) {
    let targets: Vec<&mut Value> = match keyless.get_mut("identities").and_then(Value::as_array_mut)
    {
        Some(ids) => ids.iter_mut().collect(),
        None => vec![keyless],
    };
    for t in targets {
        let Some(map) = t.as_object_mut() else {
            continue;
        };
        map.remove("subject");
        map.remove("subjectRegExp");
        match subject {
            Matcher::Exact(s) => map.insert("subject".into(), json!(s)),
            Matcher::RegExp(r) => map.insert("subjectRegExp".into(), json!(r)),
        };
    }
}

/// Also trusts `extra` keys (the rotated-key scenario): each attestor set
/// holding the lab's key gains an entry per extra key, and one entry must
/// verify.
fn add_keys(doc: &mut Value, lab_vendor: &Vendor, extra: &[String]) {
    let Identity::Key(k) = &lab_vendor.identity else {
        return;
    };
    let (Some(lab_pem), false) = (&k.pem, extra.is_empty()) else {
        return;
    };
    let Some(rules) = doc.pointer_mut("/spec/rules").and_then(Value::as_array_mut) else {
        return;
    };
    let sets = rules
        .iter_mut()
        .filter_map(|r| r.get_mut("verifyImages").and_then(Value::as_array_mut))
        .flatten()
        .filter_map(|vi| vi.get_mut("attestors").and_then(Value::as_array_mut))
        .flatten();
    for set in sets {
        let Some(entries) = set.get_mut("entries").and_then(Value::as_array_mut) else {
            continue;
        };
        let lab_fp = trustswap_model::fingerprint::KeyFingerprint::of_pem(lab_pem);
        let Some(ours) = entries
            .iter()
            .find(|e| {
                e.pointer("/keys/publicKeys")
                    .and_then(Value::as_str)
                    .and_then(|pem| pem::parse_many(pem.trim()).ok())
                    .is_some_and(|blocks| {
                        blocks.iter().any(|b| {
                            trustswap_model::fingerprint::KeyFingerprint::of_pem(&pem::encode(b))
                                == lab_fp
                        })
                    })
            })
            .cloned()
        else {
            continue;
        };
        for pem in extra {
            let mut e = ours.clone();
            e["keys"]["publicKeys"] = json!(pem);
            entries.push(e);
        }
        set["count"] = json!(1);
    }
}

/// Without attestation checks (a scenario that needs only signatures): every
/// ClusterPolicy `verifyImages[].attestations` is removed.
fn drop_attestations(doc: &mut Value) {
    if engine_of(doc) != Some(Engine::Cpol) {
        return;
    }
    for rule in items_mut(doc, "/spec/rules") {
        for vi in items_mut(rule, "/verifyImages") {
            if let Some(map) = vi.as_object_mut() {
                map.remove("attestations");
            }
        }
    }
}

/// Every rule's and the policy's failure action (ClusterPolicy), or the
/// validation actions (ImageValidatingPolicy, ValidatingPolicy).
fn set_failure_action(doc: &mut Value, action: FailureAction) {
    let word = match action {
        FailureAction::Enforce => "Enforce",
        FailureAction::Audit => "Audit",
    };
    match engine_of(doc) {
        Some(Engine::Cpol) => {
            if !doc.get("spec").is_some_and(Value::is_object) {
                return;
            }
            doc["spec"]["validationFailureAction"] = json!(word);
            for rule in items_mut(doc, "/spec/rules") {
                if let Some(v) = rule
                    .get_mut("validate")
                    .filter(|v| v.get("failureAction").is_some())
                {
                    v["failureAction"] = json!(word);
                }
                for vi in items_mut(rule, "/verifyImages") {
                    if vi.get("failureAction").is_some() {
                        vi["failureAction"] = json!(word);
                    }
                    // Kyverno refuses a ClusterPolicy that audits and mutates
                    // digests (`mutateDigest` defaults to true):
                    // api/kyverno/v1/image_verification_types.go Validate.
                    if action == FailureAction::Audit && vi.is_object() {
                        vi["mutateDigest"] = json!(false);
                    }
                }
            }
        }
        _ if engine_of_or_vp(doc) && doc.get("spec").is_some_and(Value::is_object) => {
            doc["spec"]["validationActions"] = json!([match action {
                FailureAction::Enforce => "Deny",
                FailureAction::Audit => "Audit",
            }]);
        }
        _ => {}
    }
}

/// The vendors of a run with hand-written sets: exactly the named ones.
pub fn vendors_of(sets: &[OwnSet], vendors: &[Vendor]) -> Vec<Vendor> {
    vendors
        .iter()
        .filter(|v| sets.iter().any(|s| s.vendor == v.name))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::relocate::Relocation;

    fn trust() -> TrustOverrides {
        TrustOverrides {
            fulcio_roots: Some("LAB-CA".into()),
            rekor_pubkey: Some("LAB-REKOR".into()),
            ctlog_pubkey: Some("LAB-CT".into()),
            ..TrustOverrides::default()
        }
    }

    fn cpol(entry: Value) -> Value {
        json!({
            "apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "p"},
            "spec": {"rules": [
                {"name": "allow", "validate": {"message": "from cgr.dev/x only", "pattern": {"spec": {"containers": [{"image": "cgr.dev/chainguard/*"}, {"image": "!*:latest"}]}}}},
                {"name": "verify", "verifyImages": [{
                    "imageReferences": ["cgr.dev/chainguard/*"],
                    "repository": "cgr.dev/chainguard/sigs",
                    "attestors": [{"entries": [entry]}]
                }]}
            ]}
        })
    }

    #[test]
    fn the_cluster_default_is_named_only_where_a_policy_names_none() {
        let keyless = json!({"keyless": {"subject": "s", "issuer": "i", "roots": "MINE"}});
        let mut docs = vec![("f.yaml".to_owned(), cpol(keyless))];
        let edits = default_trust(&mut docs, &trust());
        let entry = &docs[0].1["spec"]["rules"][1]["verifyImages"][0]["attestors"][0]["entries"][0]
            ["keyless"];
        assert_eq!(entry["roots"], "MINE", "named trust is kept");
        assert_eq!(entry["rekor"]["pubkey"], "LAB-REKOR");
        assert_eq!(entry["ctlog"]["pubkey"], "LAB-CT");
        assert_eq!(
            (entry["subject"].clone(), entry["issuer"].clone()),
            (json!("s"), json!("i"))
        );
        assert_eq!(edits.len(), 2, "{edits:?}");
        assert!(
            edits
                .iter()
                .all(|e| e.file == "f.yaml" && e.document == "ClusterPolicy/p")
        );
    }

    #[test]
    fn relocation_moves_references_and_registry_patterns_once() {
        let mut docs = vec![cpol(json!({"keyless": {"subject": "s", "issuer": "i"}}))];
        let r = Relocation::new("reg:5000");
        relocate(&mut docs, &r, &["cgr.dev/chainguard/*".to_owned()]);
        let spec = &docs[0]["spec"]["rules"];
        let vi = &spec[1]["verifyImages"][0];
        assert_eq!(
            vi["imageReferences"],
            json!(["reg:5000/cgr.dev/chainguard/*"])
        );
        assert_eq!(vi["repository"], "reg:5000/cgr.dev/chainguard/sigs");
        let images = &spec[0]["validate"]["pattern"]["spec"]["containers"];
        assert_eq!(images[0]["image"], "reg:5000/cgr.dev/chainguard/*");
        assert_eq!(
            images[1]["image"], "!*:latest",
            "a negation is not an image"
        );
        assert_eq!(
            spec[0]["validate"]["message"], "from cgr.dev/x only",
            "messages stay"
        );
        let mut vp = vec![json!({
            "apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy", "metadata": {"name": "v"},
            "spec": {"variables": [
                {"name": "allowedRegistries", "expression": "['cgr.dev/chainguard/', r'^ghcr\\.io/org/.*$', 'not an image']"},
                {"name": "other", "expression": "'cgr.dev/chainguard/'"}
            ]}
        })];
        relocate(&mut vp, &r, &[]);
        assert_eq!(
            vp[0]["spec"]["variables"][0]["expression"],
            "['reg:5000/cgr.dev/chainguard/', r'^reg:5000/ghcr\\.io/org/.*$', 'not an image']"
        );
        assert_eq!(
            vp[0]["spec"]["variables"][1]["expression"],
            "'cgr.dev/chainguard/'"
        );
    }

    #[test]
    fn only_trust_naming_the_public_good_instance_or_nothing_is_re_pointed() {
        let keys = crate::profile::keys::KeyResolver::new(Vec::new());
        let cg = crate::profile::load_shipped(&keys)
            .unwrap()
            .into_iter()
            .find(|v| v.name == "chainguard")
            .unwrap();
        let private_ca = "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBATAKBggqhkjOPQQDAjAAMB4XDTI2MDEwMTAwMDAwMFoX\n-----END CERTIFICATE-----\n";
        let entry = |roots: Option<&str>, url: &str| {
            let mut k = json!({"subject": "s", "issuer": "i", "rekor": {"url": url}});
            if let Some(r) = roots {
                k["roots"] = json!(r);
            }
            json!({ "keyless": k })
        };
        let keyless = |docs: &[(String, Value)]| {
            docs[0].1["spec"]["rules"][1]["verifyImages"][0]["attestors"][0]["entries"][0]
                ["keyless"]
                .clone()
        };
        // Nothing pinned, the public Rekor: the lab's stand in.
        let mut docs = vec![(
            "f".to_owned(),
            cpol(entry(None, "https://rekor.sigstore.dev/")),
        )];
        repoint(&mut docs, &cg, &cg, &trust());
        let k = keyless(&docs);
        assert_eq!(
            (k["roots"].clone(), k["rekor"]["pubkey"].clone()),
            (json!("LAB-CA"), json!("LAB-REKOR"))
        );
        // A private CA and a private Rekor: kept, so the run says the lab's
        // signatures do not verify (a finding), not that they do.
        let mut docs = vec![(
            "f".to_owned(),
            cpol(entry(Some(private_ca), "https://rekor.internal.example")),
        )];
        repoint(&mut docs, &cg, &cg, &trust());
        let k = keyless(&docs);
        assert_eq!(k["roots"], json!(private_ca));
        assert_eq!(k["rekor"]["url"], "https://rekor.internal.example");
    }

    #[test]
    fn the_proof_refuses_an_edit_of_anything_but_trust_material() {
        let written = vec![(
            "f.yaml".to_owned(),
            cpol(json!({"keyless": {"subject": "s", "issuer": "i"}})),
        )];
        let mut run = written.clone();
        let edits = default_trust(&mut run, &trust());
        assert!(only_trust_fields(&written, &run, &edits));
        // The same trust edits, and an identity rewritten beside them.
        run[0].1["spec"]["rules"][1]["verifyImages"][0]["attestors"][0]["entries"][0]["keyless"]
            ["subject"] = json!("someone-else");
        assert!(!only_trust_fields(&written, &run, &edits));
    }

    #[test]
    fn only_the_vendor_s_key_of_a_bundle_is_replaced() {
        let key = |label: &str| {
            crate::supply::lab::keys::LabKey::derive(7, label)
                .unwrap()
                .public_pem()
                .unwrap()
        };
        let (vendor, other, lab) = (key("vendor"), key("other"), key("lab"));
        let vendor_fp = parse_public_key(&vendor).unwrap().1;
        let bundle = format!("{other}{vendor}");
        let out = replace_vendor_keys(&bundle, &vendor_fp, &lab).unwrap();
        let fps: Vec<String> = pem::parse_many(&out)
            .unwrap()
            .iter()
            .map(|b| parse_public_key(&pem::encode(b)).unwrap().1)
            .collect();
        assert_eq!(
            fps,
            [
                parse_public_key(&other).unwrap().1,
                parse_public_key(&lab).unwrap().1
            ]
        );
        assert_eq!(replace_vendor_keys(&other, &vendor_fp, &lab), None);
    }

    #[test]
    fn scenario_edits_switch_every_failure_action_and_broaden_only_the_subject() {
        let mut doc = cpol(json!({"keyless": {"subject": "s", "issuer": "i"}}));
        doc["spec"]["rules"][1]["verifyImages"][0]["failureAction"] = json!("Enforce");
        set_failure_action(&mut doc, FailureAction::Audit);
        assert_eq!(doc["spec"]["validationFailureAction"], "Audit");
        let vi = &doc["spec"]["rules"][1]["verifyImages"][0];
        assert_eq!(
            (vi["failureAction"].clone(), vi["mutateDigest"].clone()),
            (json!("Audit"), json!(false))
        );
        let mut keyless = json!({"subject": "s", "issuer": "i"});
        set_subject(
            &mut keyless,
            &Matcher::Exact("https://github.com/org*".into()),
        );
        assert_eq!(
            keyless,
            json!({"issuer": "i", "subject": "https://github.com/org*"})
        );
    }
}
