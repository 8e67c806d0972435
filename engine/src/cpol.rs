//! `kyverno.io/v1` ClusterPolicy (verifyImages + validate.pattern) and `kyverno.io/v2`
//! PolicyException.

use crate::conditions::AnyAll;
use crate::decision::{Action, Phase, PolicyKind, RuleResult, RuleStatus};
use crate::error::PolicyError;
use crate::image::{ImageRef, PodImage, pod_images};
use crate::ivcache;
use crate::ivm;
use crate::pattern::{PatternOutcome, validate_pattern};
use crate::request::{AdmissionRequest, Operation, UserInfo};
use crate::selector::{LabelSelector, labels_of};
use crate::util::Doc;
use crate::verifier::{
    AttestorSpec, CtlogSpec, EvidenceFormat, EvidenceVerifier, IdentitySpec, RekorSpec,
    TrustSource, Verification, match_bundle_identity, match_identity,
};
use regex::Regex;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use trustswap_model::kyverno::cpol as k;
use trustswap_model::kyverno::defaults;
use trustswap_model::wildcard::wildcard_match;

/// `failurePolicy`: the model's.
pub use trustswap_model::kyverno::FailurePolicy;

fn action(a: k::FailureAction) -> Action {
    match a {
        k::FailureAction::Enforce => Action::Enforce,
        k::FailureAction::Audit => Action::Audit,
    }
}

// ------------------------------------------------------------------------------------------
// match / exclude

#[derive(Debug, Clone, PartialEq)]
struct KindSpec {
    group: Option<String>,
    version: Option<String>,
    kind: String,
}

#[derive(Debug, Clone, PartialEq)]
enum SubjectSpec {
    User(String),
    Group(String),
    ServiceAccount { namespace: String, name: String },
}

/// The inline `UserInfo` of a `match` block or a `ResourceFilter`.
#[derive(Clone, Copy)]
struct UserInfoRef<'a> {
    roles: &'a [String],
    cluster_roles: &'a [String],
    subjects: &'a [k::Subject],
}

impl UserInfoRef<'_> {
    fn is_empty(&self) -> bool {
        self.roles.is_empty() && self.cluster_roles.is_empty() && self.subjects.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ResourceFilter {
    kinds: Vec<KindSpec>,
    names: Vec<String>,
    namespaces: Vec<String>,
    operations: Vec<Operation>,
    annotations: BTreeMap<String, String>,
    selector: Option<LabelSelector>,
    namespace_selector: Option<LabelSelector>,
    subjects: Vec<SubjectSpec>,
    roles: Vec<String>,
    cluster_roles: Vec<String>,
}

impl ResourceFilter {
    fn compile(
        resources: Option<&k::ResourceDescription>,
        user: UserInfoRef,
        doc: &Doc,
        field: &str,
    ) -> Result<ResourceFilter, PolicyError> {
        let mut f = ResourceFilter::default();
        if let Some(r) = resources {
            let rf = format!("{field}.resources");
            for k in &r.kinds {
                let parts: Vec<&str> = k.split('/').collect();
                // Pod, v1/Pod, apps/v1/Deployment, Pod/status (subresource ignored)
                let ks = match parts.as_slice() {
                    [kind] => KindSpec {
                        group: None,
                        version: None,
                        kind: kind.to_string(),
                    },
                    [a, b]
                        if b.chars()
                            .next()
                            .is_some_and(|c| c.is_ascii_uppercase() || c == '*') =>
                    {
                        KindSpec {
                            group: None,
                            version: Some(a.to_string()),
                            kind: b.to_string(),
                        }
                    }
                    [a, _sub] => KindSpec {
                        group: None,
                        version: None,
                        kind: a.to_string(),
                    },
                    [g, ver, kind, ..] => KindSpec {
                        group: Some(g.to_string()),
                        version: Some(ver.to_string()),
                        kind: kind.to_string(),
                    },
                    [] => return Err(doc.err(format!("{rf}.kinds"), "empty kind")),
                };
                f.kinds.push(ks);
            }
            f.names = r.names.clone();
            if let Some(n) = &r.name {
                if !f.names.is_empty() {
                    return Err(doc.err(format!("{rf}.name"), "name and names cannot both be set"));
                }
                f.names.push(n.clone());
            }
            f.namespaces = r.namespaces.clone();
            for (i, op) in r.operations.iter().enumerate() {
                f.operations.push(Operation::parse(op).ok_or_else(|| {
                    doc.err(
                        format!("{rf}.operations[{i}]"),
                        format!("unknown operation {op:?}"),
                    )
                })?);
            }
            f.annotations = r.annotations.clone();
            if let Some(s) = &r.selector {
                f.selector = Some(LabelSelector::from_model(
                    s,
                    doc.name,
                    &format!("{rf}.selector"),
                    true,
                )?);
            }
            if let Some(s) = &r.namespace_selector {
                f.namespace_selector = Some(LabelSelector::from_model(
                    s,
                    doc.name,
                    &format!("{rf}.namespaceSelector"),
                    true,
                )?);
            }
        }
        for (i, s) in user.subjects.iter().enumerate() {
            let name = s.name.clone();
            f.subjects.push(match s.kind.as_str() {
                "User" => SubjectSpec::User(name),
                "Group" => SubjectSpec::Group(name),
                "ServiceAccount" => SubjectSpec::ServiceAccount {
                    namespace: s.namespace.clone().unwrap_or_default(),
                    name,
                },
                o => {
                    return Err(doc.err(
                        format!("{field}.subjects[{i}].kind"),
                        format!("unknown subject kind {o:?}"),
                    ));
                }
            });
        }
        f.roles = user.roles.to_vec();
        f.cluster_roles = user.cluster_roles.to_vec();
        Ok(f)
    }

    fn matches(&self, req: &AdmissionRequest) -> bool {
        let obj = req.subject();
        if !self.kinds.is_empty() {
            let (g, v, k) = &req.kind;
            let ok = self.kinds.iter().any(|ks| {
                wildcard_match(&ks.kind, k)
                    && ks.group.as_deref().is_none_or(|pg| wildcard_match(pg, g))
                    && ks.version.as_deref().is_none_or(|pv| wildcard_match(pv, v))
            });
            if !ok {
                return false;
            }
        }
        if !self.names.is_empty() {
            let name = req.name();
            if !self.names.iter().any(|n| wildcard_match(n, &name)) {
                return false;
            }
        }
        if !self.namespaces.is_empty()
            && !self
                .namespaces
                .iter()
                .any(|n| wildcard_match(n, &req.namespace))
        {
            return false;
        }
        if !self.operations.is_empty() && !self.operations.contains(&req.operation) {
            return false;
        }
        if !self.annotations.is_empty() {
            let ann: BTreeMap<String, String> = obj
                .get("metadata")
                .and_then(|m| m.get("annotations"))
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            let ok = self.annotations.iter().all(|(k, v)| {
                ann.iter()
                    .any(|(ak, av)| wildcard_match(k, ak) && wildcard_match(v, av))
            });
            if !ok {
                return false;
            }
        }
        if let Some(s) = &self.selector
            && !s.matches(&labels_of(obj))
        {
            return false;
        }
        if let Some(s) = &self.namespace_selector
            && (req.namespace.is_empty() || !s.matches(&req.namespace_labels))
        {
            return false;
        }
        let ui = req.user_info.clone().unwrap_or_default();
        if !self.subjects.is_empty() {
            let ok = self.subjects.iter().any(|s| match s {
                SubjectSpec::User(n) => wildcard_match(n, &ui.username),
                SubjectSpec::Group(n) => ui.groups.iter().any(|g| wildcard_match(n, g)),
                SubjectSpec::ServiceAccount { namespace, name } => {
                    ui.username == format!("system:serviceaccount:{namespace}:{name}")
                }
            });
            if !ok {
                return false;
            }
        }
        if !self.roles.is_empty()
            && !self
                .roles
                .iter()
                .any(|r| ui.roles.iter().any(|x| wildcard_match(r, x)))
        {
            return false;
        }
        if !self.cluster_roles.is_empty()
            && !self
                .cluster_roles
                .iter()
                .any(|r| ui.cluster_roles.iter().any(|x| wildcard_match(r, x)))
        {
            return false;
        }
        true
    }
}

/// `match` / `exclude`: `{any: [...]}` or `{all: [...]}` (or the deprecated top-level form).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct MatchResources {
    any: Vec<ResourceFilter>,
    all: Vec<ResourceFilter>,
}

impl MatchResources {
    pub(crate) fn compile(
        m: &k::MatchResources,
        doc: &Doc,
        field: &str,
    ) -> Result<MatchResources, PolicyError> {
        let filter = |f: &k::ResourceFilter, field: String| {
            let user = UserInfoRef {
                roles: &f.roles,
                cluster_roles: &f.cluster_roles,
                subjects: &f.subjects,
            };
            ResourceFilter::compile(Some(&f.resources), user, doc, &field)
        };
        let mut out = MatchResources::default();
        for (i, f) in m.any.iter().enumerate() {
            out.any.push(filter(f, format!("{field}.any[{i}]"))?);
        }
        for (i, f) in m.all.iter().enumerate() {
            out.all.push(filter(f, format!("{field}.all[{i}]"))?);
        }
        if !out.any.is_empty() && !out.all.is_empty() {
            return Err(doc.err(field, "cannot set both any and all"));
        }
        let user = UserInfoRef {
            roles: &m.roles,
            cluster_roles: &m.cluster_roles,
            subjects: &m.subjects,
        };
        // the deprecated top-level form: `resources` and `UserInfo` inline
        if out.any.is_empty() && out.all.is_empty() && (m.resources.is_some() || !user.is_empty()) {
            out.all.push(ResourceFilter::compile(
                m.resources.as_ref(),
                user,
                doc,
                field,
            )?);
        }
        Ok(out)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.any.is_empty() && self.all.is_empty()
    }

    pub(crate) fn matches(&self, req: &AdmissionRequest) -> bool {
        if !self.any.is_empty() {
            return self.any.iter().any(|f| f.matches(req));
        }
        if !self.all.is_empty() {
            return self.all.iter().all(|f| f.matches(req));
        }
        false
    }
}

// ------------------------------------------------------------------------------------------
// policy model

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AttestorSet {
    count: Option<usize>,
    entries: Vec<AttestorEntry>,
}

#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
enum AttestorEntry {
    Spec {
        spec: AttestorSpec,
        repository: Option<String>,
    },
    Nested(Box<AttestorSet>),
}

#[derive(Debug, Clone, PartialEq)]
struct Attestation {
    predicate_type: String,
    attestors: Vec<AttestorSet>,
    conditions: Vec<AnyAll>,
}

#[derive(Debug, Clone, PartialEq)]
struct ImageVerification {
    action: Action,
    image_references: Vec<String>,
    skip_image_references: Vec<String>,
    attestors: Vec<AttestorSet>,
    attestations: Vec<Attestation>,
    repository: Option<String>,
    mutate_digest: bool,
    verify_digest: bool,
    required: bool,
    /// `useCache` (default true): passed verifications are cached ([`super::ivcache`]).
    use_cache: bool,
    /// The evidence `type` reads (`Cosign`: legacy tags, `SigstoreBundle`: bundles).
    format: EvidenceFormat,
}

#[derive(Debug, Clone, PartialEq)]
enum RuleBody {
    VerifyImages(Vec<ImageVerification>),
    Validate {
        patterns: Vec<Value>,
        any_pattern: bool,
        message: String,
        action: Action,
        /// `validate.allowExistingViolations` (default true).
        allow_existing_violations: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    name: String,
    matcher: MatchResources,
    exclude: Option<MatchResources>,
    preconditions: Option<AnyAll>,
    body: RuleBody,
}

/// A compiled ClusterPolicy.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterPolicy {
    pub name: String,
    pub failure_policy: FailurePolicy,
    /// `spec.admission` (default true): a policy with `admission: false` is
    /// never evaluated at admission (Kyverno leaves it out of its policy cache).
    pub admission: bool,
    rules: Vec<Rule>,
    /// A hash of the policy document: the verification cache's stand-in for
    /// Kyverno's UID and resourceVersion.
    revision: String,
}

fn compile_rekor(v: Option<&k::Rekor>) -> Option<RekorSpec> {
    v.map(|r| RekorSpec {
        url: r.url.clone(),
        pubkey: r.pubkey.clone(),
        ignore_tlog: r.ignore_tlog.unwrap_or(false),
    })
}

fn compile_ctlog(v: Option<&k::Ctlog>) -> Option<CtlogSpec> {
    v.map(|c| CtlogSpec {
        ignore_sct: c.ignore_sct.unwrap_or(false),
        pubkey: c.pubkey.clone(),
        tsa_cert_chain: c.tsa_cert_chain.clone(),
    })
}

pub(crate) fn compile_regex(s: &str, doc: &Doc, field: &str) -> Result<Regex, PolicyError> {
    Regex::new(s).map_err(|e| doc.err(field, format!("invalid regular expression: {e}")))
}

fn split_pem(keys: &str) -> Vec<String> {
    let marker = "-----END PUBLIC KEY-----";
    let parts: Vec<&str> = keys.split_inclusive(marker).collect();
    if parts.len() <= 1 {
        return vec![keys.to_string()];
    }
    parts
        .iter()
        .filter(|p| p.contains(marker))
        .map(|p| p.to_string())
        .collect()
}

fn compile_attestor_set(
    set: &k::AttestorSet,
    doc: &Doc,
    field: &str,
    format: EvidenceFormat,
) -> Result<AttestorSet, PolicyError> {
    let count = match &set.count {
        None | Some(Value::Null) => None,
        Some(c) => {
            let n = c
                .as_u64()
                .filter(|n| *n >= 1)
                .ok_or_else(|| doc.err(format!("{field}.count"), "must be an integer >= 1"))?;
            Some(n as usize)
        }
    };
    if set.entries.is_empty() {
        return Err(doc.err(format!("{field}.entries"), "at least one entry is required"));
    }
    let mut entries = Vec::new();
    for (i, e) in set.entries.iter().enumerate() {
        let ef = format!("{field}.entries[{i}]");
        let repository = e.repository.clone();
        let present = [
            e.keys.is_some(),
            e.keyless.is_some(),
            e.certificates.is_some(),
            e.attestor.is_some(),
        ];
        if present.iter().filter(|p| **p).count() != 1 {
            return Err(doc.err(
                &ef,
                "exactly one of keys, keyless, certificates or attestor is required",
            ));
        }
        doc.refuse_unmodelled(&[(!e.annotations.is_empty(), format!("{ef}.annotations"))])?;
        if let Some(k) = &e.keys {
            let kf = format!("{ef}.keys");
            let public_keys = k.public_keys.clone().unwrap_or_default();
            let secret = k
                .secret
                .as_ref()
                .map(|s| (s.namespace.clone(), s.name.clone()));
            if public_keys.trim().is_empty() && k.kms.is_none() && secret.is_none() {
                return Err(doc.err(&kf, "one of publicKeys, kms or secret is required"));
            }
            let rekor = compile_rekor(k.rekor.as_ref());
            let ctlog = compile_ctlog(k.ctlog.as_ref());
            let alg = e
                .signature_algorithm
                .clone()
                .or(k.signature_algorithm.clone());
            // ExpandStaticKeys: several PEM keys become several entries
            for pk in split_pem(&public_keys) {
                entries.push(AttestorEntry::Spec {
                    spec: AttestorSpec::Keys {
                        public_keys: pk,
                        kms: k.kms.clone(),
                        secret: secret.clone(),
                        signature_algorithm: alg.clone(),
                        rekor: rekor.clone(),
                        ctlog: ctlog.clone(),
                        trust: TrustSource::Inline,
                        format,
                    },
                    repository: repository.clone(),
                });
            }
        } else if let Some(k) = &e.keyless {
            let kf = format!("{ef}.keyless");
            let re = |value: &Option<String>, key: &str| -> Result<Option<Regex>, PolicyError> {
                value
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .map(|s| compile_regex(s, doc, &format!("{kf}.{key}")))
                    .transpose()
            };
            entries.push(AttestorEntry::Spec {
                spec: AttestorSpec::Keyless {
                    identities: vec![IdentitySpec {
                        issuer: k.issuer.clone(),
                        subject: k.subject.clone(),
                        issuer_regexp: re(&k.issuer_reg_exp, "issuerRegExp")?,
                        subject_regexp: re(&k.subject_reg_exp, "subjectRegExp")?,
                    }],
                    roots: k.roots.clone(),
                    additional_extensions: k.additional_extensions.clone(),
                    rekor: compile_rekor(k.rekor.as_ref()),
                    ctlog: compile_ctlog(k.ctlog.as_ref()),
                    trust: TrustSource::Inline,
                    format,
                },
                repository,
            });
        } else if let Some(k) = &e.certificates {
            entries.push(AttestorEntry::Spec {
                spec: AttestorSpec::Certificates {
                    cert: k.cert.clone(),
                    cert_chain: k.cert_chain.clone(),
                    rekor: compile_rekor(k.rekor.as_ref()),
                    ctlog: compile_ctlog(k.ctlog.as_ref()),
                    format,
                },
                repository,
            });
        } else if let Some(nested) = &e.attestor {
            let nested = compile_attestor_set(nested, doc, &format!("{ef}.attestor"), format)?;
            entries.push(AttestorEntry::Nested(Box::new(nested)));
        }
    }
    Ok(AttestorSet { count, entries })
}

/// Kyverno's `ImageVerification.Convert`: the deprecated top-level `image`,
/// `key`, `issuer`/`subject`/`roots` and `annotations` become an
/// `imageReferences` entry and one attestor set. As upstream, nothing happens
/// unless `image`, `key` or `issuer` is set; a key wins over keyless; and with
/// attestations the converted set is dropped (upstream appends it to a copy of
/// the attestations, then restores the originals).
fn convert_deprecated(iv: &k::ImageVerification) -> k::ImageVerification {
    let mut copy = iv.clone();
    let set = |s: &Option<String>| s.as_deref().is_some_and(|x| !x.is_empty());
    if !set(&iv.image) && !set(&iv.key) && !set(&iv.issuer) {
        return copy;
    }
    copy.image = None;
    copy.issuer = None;
    copy.subject = None;
    copy.roots = None;
    if let Some(image) = iv.image.clone().filter(|s| !s.is_empty()) {
        copy.image_references.push(image);
    }
    if !iv.annotations.is_empty() || set(&iv.key) || set(&iv.issuer) {
        let mut attestor = k::Attestor {
            annotations: iv.annotations.clone(),
            ..Default::default()
        };
        if set(&iv.key) {
            attestor.keys = Some(k::StaticKeyAttestor {
                public_keys: iv.key.clone(),
                ..Default::default()
            });
        } else if set(&iv.issuer) {
            attestor.keyless = Some(k::KeylessAttestor {
                issuer: iv.issuer.clone(),
                subject: iv.subject.clone(),
                roots: iv.roots.clone(),
                ..Default::default()
            });
        }
        if iv.attestations.is_empty() {
            copy.attestors.push(k::AttestorSet {
                count: None,
                entries: vec![attestor],
            });
        }
    }
    copy
}

fn compile_image_verification(
    iv: &k::ImageVerification,
    doc: &Doc,
    field: &str,
    spec_action: Action,
) -> Result<ImageVerification, PolicyError> {
    let action = iv.failure_action.map(action).unwrap_or(spec_action);
    // `Cosign` reads cosign's legacy tags only, `SigstoreBundle` the bundle
    // referrers only (`pkg/image/verifiers/cpol/cosign/verifier.go:31-60`).
    let format = match iv.type_.as_deref() {
        None | Some("Cosign") => EvidenceFormat::Legacy,
        Some("SigstoreBundle") => EvidenceFormat::Bundle,
        Some("Notary") => return Err(doc.unsupported(format!("{field}.type"))),
        Some(o) => return Err(doc.err(format!("{field}.type"), format!("unknown type {o:?}"))),
    };
    doc.refuse_unmodelled(&[
        (!iv.annotations.is_empty(), format!("{field}.annotations")),
        (
            iv.cosign_oci11 == Some(true),
            format!("{field}.cosignOCI11"),
        ),
        // `validate` only acts through `deny` (Go writes `validate: {}` for
        // every entry: a value type)
        (
            iv.validate
                .as_ref()
                .is_some_and(|v| v.get("deny").is_some_and(|d| !d.is_null())),
            format!("{field}.validate.deny"),
        ),
    ])?;
    let iv = &convert_deprecated(iv);
    let mut attestors = Vec::new();
    for (i, a) in iv.attestors.iter().enumerate() {
        attestors.push(compile_attestor_set(
            a,
            doc,
            &format!("{field}.attestors[{i}]"),
            format,
        )?);
    }
    let mut attestations = Vec::new();
    for (i, a) in iv.attestations.iter().enumerate() {
        let af = format!("{field}.attestations[{i}]");
        let predicate_type = a
            .type_
            .clone()
            .filter(|t| !t.is_empty())
            .or(a.predicate_type.clone())
            .unwrap_or_default();
        let mut sets = Vec::new();
        for (j, s) in a.attestors.iter().enumerate() {
            sets.push(compile_attestor_set(
                s,
                doc,
                &format!("{af}.attestors[{j}]"),
                format,
            )?);
        }
        let mut conditions = Vec::new();
        for (j, c) in a.conditions.iter().enumerate() {
            conditions.push(AnyAll::compile(
                c,
                doc.name,
                &format!("{af}.conditions[{j}]"),
            )?);
        }
        attestations.push(Attestation {
            predicate_type,
            attestors: sets,
            conditions,
        });
    }
    let mutate_digest = iv.mutate_digest.unwrap_or(defaults::MUTATE_DIGEST);
    if mutate_digest && action == Action::Audit {
        return Err(doc.err(
            format!("{field}.mutateDigest"),
            "mutateDigest must be set to false for Audit failure action",
        ));
    }
    Ok(ImageVerification {
        format,
        action,
        image_references: iv.image_references.clone(),
        skip_image_references: iv.skip_image_references.clone(),
        attestors,
        attestations,
        repository: iv.repository.clone().filter(|s| !s.is_empty()),
        mutate_digest,
        verify_digest: iv.verify_digest.unwrap_or(defaults::VERIFY_DIGEST),
        required: iv.required.unwrap_or(defaults::REQUIRED),
        use_cache: iv.use_cache.unwrap_or(defaults::USE_CACHE),
    })
}

fn compile_rule(
    r: &k::Rule,
    doc: &Doc,
    rf: &str,
    spec_action: Action,
) -> Result<Option<Rule>, PolicyError> {
    if r.name.is_empty() {
        return Err(doc.err(format!("{rf}.name"), "required string"));
    }
    let matcher = MatchResources::compile(&r.match_, doc, &format!("{rf}.match"))?;
    let exclude = match &r.exclude {
        Some(e) => Some(MatchResources::compile(e, doc, &format!("{rf}.exclude"))?),
        None => None,
    };
    let preconditions = match r.preconditions.as_ref().filter(|x| !x.is_null()) {
        Some(p) => Some(AnyAll::compile(
            p,
            doc.name,
            &format!("{rf}.preconditions"),
        )?),
        None => None,
    };
    doc.refuse_unmodelled(&[
        (r.mutate.is_some(), format!("{rf}.mutate")),
        (r.generate.is_some(), format!("{rf}.generate")),
        (!r.context.is_empty(), format!("{rf}.context")),
        (
            !r.cel_preconditions.is_empty(),
            format!("{rf}.celPreconditions"),
        ),
        (
            r.image_extractors.is_some(),
            format!("{rf}.imageExtractors"),
        ),
    ])?;
    let body = match (&r.verify_images[..], &r.validate) {
        ([_, ..], None) => {
            let mut ivs = Vec::new();
            for (j, iv) in r.verify_images.iter().enumerate() {
                ivs.push(compile_image_verification(
                    iv,
                    doc,
                    &format!("{rf}.verifyImages[{j}]"),
                    spec_action,
                )?);
            }
            RuleBody::VerifyImages(ivs)
        }
        ([], Some(val)) => {
            let vf = format!("{rf}.validate");
            doc.refuse_unmodelled(&[
                (val.deny.is_some(), format!("{vf}.deny")),
                (val.foreach.is_some(), format!("{vf}.foreach")),
                (val.pod_security.is_some(), format!("{vf}.podSecurity")),
                (val.cel.is_some(), format!("{vf}.cel")),
                (val.manifests.is_some(), format!("{vf}.manifests")),
                (val.assert.is_some(), format!("{vf}.assert")),
                (
                    !val.failure_action_overrides.is_empty(),
                    format!("{vf}.failureActionOverrides"),
                ),
            ])?;
            let (patterns, any_pattern) = match (&val.pattern, &val.any_pattern) {
                (Some(p), None) if !p.is_null() => (vec![p.clone()], false),
                (None, Some(Value::Array(a))) => (a.clone(), true),
                // the rule validates only through unmodelled fields, which
                // a lenient compile listed: nothing of it is left to evaluate
                (None, None) if doc.is_lenient() => return Ok(None),
                _ => {
                    return Err(doc.err(
                        &vf,
                        "exactly one of pattern or anyPattern (a list) is required",
                    ));
                }
            };
            RuleBody::Validate {
                patterns,
                any_pattern,
                message: val.message.clone().unwrap_or_default(),
                action: val.failure_action.map(action).unwrap_or(spec_action),
                allow_existing_violations: val.allow_existing_violations.unwrap_or(true),
            }
        }
        // a mutate or generate rule, listed by a lenient compile
        ([], None) if doc.is_lenient() && (r.mutate.is_some() || r.generate.is_some()) => {
            return Ok(None);
        }
        _ => {
            return Err(doc.err(rf, "exactly one of verifyImages or validate is required"));
        }
    };
    Ok(Some(Rule {
        name: r.name.clone(),
        matcher,
        exclude,
        preconditions,
        body,
    }))
}

impl ClusterPolicy {
    pub(crate) fn compile(v: &Value, doc: &Doc) -> Result<ClusterPolicy, PolicyError> {
        let p: k::ClusterPolicy = doc.decode(v)?;
        if p.metadata.name.is_empty() {
            return Err(doc.err("metadata.name", "required string"));
        }
        let spec = &p.spec;
        let spec_action = spec
            .validation_failure_action
            .map(action)
            .unwrap_or(Action::Audit);
        let webhook = spec.webhook_configuration.as_ref();
        let failure_policy = webhook
            .and_then(|w| w.failure_policy)
            .or(spec.failure_policy)
            .unwrap_or(FailurePolicy::Fail);
        doc.refuse_unmodelled(&[
            (
                spec.apply_rules == Some(k::ApplyRules::One),
                "spec.applyRules",
            ),
            (
                !spec.validation_failure_action_overrides.is_empty(),
                "spec.validationFailureActionOverrides",
            ),
            (
                webhook.is_some_and(|w| !w.match_conditions.is_empty()),
                "spec.webhookConfiguration.matchConditions",
            ),
        ])?;
        let mut rules = Vec::new();
        for (i, r) in spec.rules.iter().enumerate() {
            // `None`: a rule whose only body is unmodelled, left out under
            // `allow_unmodelled` (its fields are listed)
            rules.extend(compile_rule(
                r,
                doc,
                &format!("spec.rules[{i}]"),
                spec_action,
            )?);
        }
        // Kyverno's policy validation (pkg/validation/policy/validate.go): a
        // policy that is not processed at admission may only validate.
        let admission = spec.admission.unwrap_or(true);
        if !admission {
            if !spec.background.unwrap_or(true) {
                return Err(doc.err(
                    "spec.admission",
                    "disabling both admission and background processing is not allowed",
                ));
            }
            if rules
                .iter()
                .any(|r| matches!(r.body, RuleBody::VerifyImages(_)))
            {
                return Err(doc.err(
                    "spec.admission",
                    "disabling admission processing is only allowed with validation policies",
                ));
            }
        }
        // Kyverno keys its verification cache by the policy's UID and
        // resourceVersion; without them (a policy file), a hash of the content.
        let revision = match (&p.metadata.uid, &p.metadata.resource_version) {
            (Some(uid), Some(rv)) => format!("{uid};{rv}"),
            _ => {
                use sha2::Digest as _;
                hex::encode(sha2::Sha256::digest(v.to_string().as_bytes()))
            }
        };
        Ok(ClusterPolicy {
            name: p.metadata.name,
            failure_policy,
            admission,
            rules,
            revision,
        })
    }
}

// ------------------------------------------------------------------------------------------
// PolicyException kyverno.io/v2

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyExceptionV2 {
    pub key: String,
    /// `metadata.namespace` (empty when none is given).
    pub namespace: String,
    exceptions: Vec<(String, Vec<String>)>,
    matcher: MatchResources,
    conditions: Option<AnyAll>,
}

impl PolicyExceptionV2 {
    pub(crate) fn compile(v: &Value, doc: &Doc) -> Result<PolicyExceptionV2, PolicyError> {
        let label = doc.name;
        let e: k::PolicyException = doc.decode(v)?;
        let key = match e.metadata.namespace.as_deref().filter(|n| !n.is_empty()) {
            Some(ns) => format!("{ns}/{}", e.metadata.name),
            None => e.metadata.name.clone(),
        };
        if e.spec.exceptions.is_empty() {
            return Err(doc.err("spec.exceptions", "required non-empty list"));
        }
        let mut exceptions = Vec::new();
        for (i, x) in e.spec.exceptions.iter().enumerate() {
            if x.policy_name.is_empty() {
                return Err(doc.err(
                    format!("spec.exceptions[{i}].policyName"),
                    "required string",
                ));
            }
            exceptions.push((x.policy_name.clone(), x.rule_names.clone()));
        }
        let m = k::MatchResources {
            any: e.spec.match_.any.clone(),
            all: e.spec.match_.all.clone(),
            ..Default::default()
        };
        let matcher = MatchResources::compile(&m, doc, "spec.match")?;
        let conditions = match e.spec.conditions.as_ref().filter(|x| !x.is_null()) {
            Some(c) => Some(AnyAll::compile(c, label, "spec.conditions")?),
            None => None,
        };
        Ok(PolicyExceptionV2 {
            key,
            namespace: e.metadata.namespace.clone().unwrap_or_default(),
            exceptions,
            matcher,
            conditions,
        })
    }

    fn applies(&self, policy: &str, rule: &str, req: &AdmissionRequest, ctx: &Value) -> bool {
        self.exceptions
            .iter()
            .any(|(p, rules)| p == policy && rules.iter().any(|r| wildcard_match(r, rule)))
            && self.matcher.matches(req)
            && self
                .conditions
                .as_ref()
                .is_none_or(|c| c.eval(ctx).unwrap_or(false))
    }
}

// ------------------------------------------------------------------------------------------
// evaluation

impl ivm::Status {
    /// `ruleStatusToImageVerificationStatus` (`pkg/engine/internal/utils.go:66-81`).
    fn of(status: RuleStatus) -> ivm::Status {
        match status {
            RuleStatus::Pass => ivm::Status::Pass,
            RuleStatus::Skip | RuleStatus::Warn => ivm::Status::Skip,
            _ => ivm::Status::Fail,
        }
    }
}

/// Per-request ClusterPolicy state shared by the mutating and validating phases.
#[derive(Default)]
pub(crate) struct CpolState {
    /// Kyverno's verification metadata of this request, over every
    /// policy: written to the pod's annotations by the mutating webhook.
    pub ivm: ivm::Metadata,
    pub patches: Vec<Value>,
}

pub(crate) struct CpolCtx<'a> {
    pub req: &'a AdmissionRequest,
    pub verifier: &'a dyn EvidenceVerifier,
    pub exceptions: &'a [PolicyExceptionV2],
    pub json_ctx: &'a Value,
    pub now: chrono::DateTime<chrono::Utc>,
    pub cache: Option<&'a super::ivcache::VerificationCache>,
}

fn result(
    p: &ClusterPolicy,
    rule: &str,
    status: RuleStatus,
    msg: String,
    phase: Phase,
    action: Action,
    image: Option<String>,
) -> RuleResult {
    RuleResult {
        policy: p.name.clone(),
        policy_kind: PolicyKind::ClusterPolicy,
        rule: rule.to_string(),
        status,
        message: msg,
        phase,
        action,
        image,
    }
}

impl ClusterPolicy {
    /// Returns Some(skip result) / None when the rule applies, or Err(()) when it does not match.
    fn gate(
        &self,
        rule: &Rule,
        cx: &CpolCtx,
        phase: Phase,
        action: Action,
    ) -> Result<Option<RuleResult>, ()> {
        if !rule.matcher.matches(cx.req) {
            return Err(());
        }
        if rule
            .exclude
            .as_ref()
            .is_some_and(|e| !e.is_empty() && e.matches(cx.req))
        {
            return Err(());
        }
        let keys: Vec<&str> = cx
            .exceptions
            .iter()
            .filter(|e| e.applies(&self.name, &rule.name, cx.req, cx.json_ctx))
            .map(|e| e.key.as_str())
            .collect();
        if !keys.is_empty() {
            return Ok(Some(result(
                self,
                &rule.name,
                RuleStatus::Skip,
                format!(
                    "rule is skipped due to policy exceptions{}",
                    keys.join(", ")
                ),
                phase,
                action,
                None,
            )));
        }
        if let Some(pre) = &rule.preconditions {
            match pre.eval(cx.json_ctx) {
                Ok(true) => {}
                Ok(false) => {
                    return Ok(Some(result(
                        self,
                        &rule.name,
                        RuleStatus::Skip,
                        "preconditions not met".into(),
                        phase,
                        action,
                        None,
                    )));
                }
                Err(e) => {
                    return Ok(Some(result(
                        self,
                        &rule.name,
                        RuleStatus::Error,
                        format!("failed to evaluate preconditions: {e}"),
                        phase,
                        action,
                        None,
                    )));
                }
            }
        }
        Ok(None)
    }

    /// Mutating webhook: verifyImages rules.
    pub(crate) fn mutate(&self, cx: &CpolCtx, state: &mut CpolState, out: &mut Vec<RuleResult>) {
        if cx.req.operation == Operation::Delete {
            return;
        }
        for rule in &self.rules {
            let RuleBody::VerifyImages(ivs) = &rule.body else {
                continue;
            };
            let action = ivs.first().map(|i| i.action).unwrap_or(Action::Audit);
            match self.gate(rule, cx, Phase::Mutate, action) {
                Err(()) => continue,
                Ok(Some(skip)) => {
                    out.push(skip);
                    continue;
                }
                Ok(None) => {}
            }
            let images = pod_images(cx.req.subject());
            let old_images = pod_images(&cx.req.old_object);
            for iv in ivs {
                for pi in &images {
                    let info = match &pi.parsed {
                        Ok(i) => i,
                        Err(e) => {
                            out.push(result(
                                self,
                                &rule.name,
                                RuleStatus::Error,
                                format!("failed to parse image {}: {e}", pi.raw),
                                Phase::Mutate,
                                iv.action,
                                Some(pi.raw.clone()),
                            ));
                            continue;
                        }
                    };
                    // Images matching `imageReferences` are verified; the
                    // skip list is decided inside, so a skipped image is still
                    // digest-pinned (imageverifier.go:116-131, 176-179).
                    let norm = info.normalized();
                    if !iv.image_references.iter().any(|r| wildcard_match(r, &norm)) {
                        continue;
                    }
                    // UPDATE: an unchanged image (JSONContext.HasChanged)
                    // that the old object's scoped annotation says this
                    // policy and rule verified (isPreviouslyVerified) is not
                    // verified again and counts as passed
                    // (imageverifier.go:75-80, 140-144).
                    if cx.req.operation == Operation::Update
                        && old_images
                            .iter()
                            .any(|o| o.pointer == pi.pointer && o.raw == pi.raw)
                        && ivm::previously_verified(
                            &cx.req.old_object,
                            &self.name,
                            &rule.name,
                            &norm,
                        )
                    {
                        state
                            .ivm
                            .add(&self.name, &rule.name, &norm, ivm::Status::Pass);
                        continue;
                    }
                    self.verify_one(rule, iv, pi, info, cx, state, out);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn verify_one(
        &self,
        rule: &Rule,
        iv: &ImageVerification,
        pi: &PodImage,
        info: &ImageRef,
        cx: &CpolCtx,
        state: &mut CpolState,
        out: &mut Vec<RuleResult>,
    ) {
        let mut image = info.normalized();
        // Kyverno's verification cache (imageverifier.go:83-113): a passed
        // verification of this image string (the tag for a tag reference)
        // passes the rule without verifying, for the cache TTL.
        let cache = cx.cache.filter(|_| iv.use_cache);
        let key = ivcache::VerificationCache::key(&self.name, &self.revision, &rule.name, &image);
        let (resp, digest) = if cache.is_some_and(|c| c.get(&key, cx.now)) {
            (
                Some((RuleStatus::Pass, "verified from cache".to_string())),
                info.digest.clone(),
            )
        } else {
            let (resp, digest) = self.verify_image(&rule.name, iv, info, cx);
            if let (Some(c), Some((RuleStatus::Pass, _))) = (cache, &resp) {
                c.set(key, cx.now);
            }
            (resp, digest)
        };
        let mut resp = resp.map(|(s, m)| {
            result(
                self,
                &rule.name,
                s,
                m,
                Phase::Mutate,
                iv.action,
                Some(image.clone()),
            )
        });
        if iv.mutate_digest && info.digest.is_none() {
            let d = match digest {
                Some(d) if !d.is_empty() => Ok(d),
                _ => cx.verifier.resolve_digest(info),
            };
            match d {
                Err(e) => out.push(result(
                    self,
                    &rule.name,
                    RuleStatus::Error,
                    format!("failed to update digest: {e}"),
                    Phase::Mutate,
                    iv.action,
                    Some(image.clone()),
                )),
                Ok(d) => {
                    state.patches.push(json!({"op": "replace", "path": pi.pointer, "value": format!("{}@{}", info.with_tag(), d)}));
                    if resp.is_none() {
                        resp = Some(result(
                            self,
                            &rule.name,
                            RuleStatus::Pass,
                            "mutated image digest".into(),
                            Phase::Mutate,
                            iv.action,
                            Some(image.clone()),
                        ));
                    }
                    let mut with_digest = info.clone();
                    with_digest.digest = Some(d);
                    image = with_digest.normalized();
                }
            }
        }
        if let Some(r) = resp {
            if !iv.attestors.is_empty() || !iv.attestations.is_empty() {
                state
                    .ivm
                    .add(&self.name, &rule.name, &image, ivm::Status::of(r.status));
            }
            out.push(r);
        }
    }

    /// Returns the rule response (status, message) and the digest learnt from verification.
    fn verify_image(
        &self,
        rule_name: &str,
        iv: &ImageVerification,
        info: &ImageRef,
        cx: &CpolCtx,
    ) -> (Option<(RuleStatus, String)>, Option<String>) {
        if iv.attestors.is_empty() && iv.attestations.is_empty() {
            return (None, None);
        }
        let mut info = info.clone();
        let image = info.normalized();
        // imageverifier.go:176-179: a skipped image is not verified (Kyverno
        // also emits a warning for it, not modelled here).
        if iv
            .skip_image_references
            .iter()
            .any(|r| wildcard_match(r, &image))
        {
            return (
                Some((
                    RuleStatus::Skip,
                    format!(
                        "skipping image reference image {image}, policy {} ruleName {rule_name}",
                        self.name
                    ),
                )),
                None,
            );
        }
        let mut digest = None;
        if !iv.attestors.is_empty() {
            for (i, set) in iv.attestors.iter().enumerate() {
                match self.verify_attestor_set(set, iv, &info, cx, &format!(".attestors[{i}]")) {
                    Ok(d) => digest = d,
                    Err((is_err, e)) => {
                        let st = if is_err {
                            RuleStatus::Error
                        } else {
                            RuleStatus::Fail
                        };
                        return (
                            Some((st, format!("failed to verify image {image}: {e}"))),
                            None,
                        );
                    }
                }
            }
            if iv.attestations.is_empty() {
                return (
                    Some((
                        RuleStatus::Pass,
                        format!("verified image signatures for {image}"),
                    )),
                    digest,
                );
            }
            if info.digest.is_none() {
                info.digest = digest.clone();
            }
        }
        let (r, d) = self.verify_attestations(iv, info, cx);
        (Some(r), d.or(digest))
    }

    /// One entry of an attestation's attestor set: fetch and verify the
    /// attestations it names, then the predicate and the conditions. The
    /// error is the entry's line of Kyverno's combined message.
    fn verify_attestation_entry(
        &self,
        iv: &ImageVerification,
        att: &Attestation,
        entry: &AttestorEntry,
        entry_path: &str,
        info: &mut ImageRef,
        cx: &CpolCtx,
    ) -> Result<(), String> {
        let AttestorEntry::Spec { spec, repository } = entry else {
            return Err(format!(
                "{entry_path}: nested attestors are not supported in attestations"
            ));
        };
        let image = info.normalized();
        let repo = repository.as_deref().or(iv.repository.as_deref());
        let (digest, identities, payloads) =
            match cx
                .verifier
                .verify_attestation(info, &att.predicate_type, spec, repo)
            {
                Verification::Verified {
                    digest,
                    identities,
                    payloads,
                    ..
                } => (digest, identities, payloads),
                Verification::Refused { reason } | Verification::Error { reason } => {
                    return Err(format!("failed to verify image {image}: {reason}"));
                }
            };
        if let AttestorSpec::Keyless {
            identities: exp,
            additional_extensions,
            ..
        } = spec
        {
            for id in &identities {
                match spec.format() {
                    EvidenceFormat::Bundle => match_bundle_identity(exp, std::slice::from_ref(id)),
                    _ => match_identity(exp, additional_extensions, std::slice::from_ref(id))
                        .map_err(|e| e.to_string()),
                }
                .map_err(|e| format!("failed to verify image {image}: {e}"))?;
            }
        }
        if info.digest.is_none() {
            info.digest = Some(digest);
        }
        let image = info.normalized();
        let statements: Vec<&Value> = payloads
            .iter()
            .map(|s| &**s)
            .filter(|s| {
                s.get("predicateType").and_then(Value::as_str) == Some(att.predicate_type.as_str())
            })
            .collect();
        let seg = spec.path_segment();
        if statements.is_empty() {
            return Err(format!(
                "{entry_path}{seg}: attestions not found for predicate type {}",
                att.predicate_type
            ));
        }
        for s in statements {
            let mut ctx = s.get("predicate").cloned().unwrap_or(Value::Null);
            if !ctx.is_object() {
                return Err(format!(
                    "{entry_path}{seg}: failed to check attestations: failed to extract predicate from statement: {s}"
                ));
            }
            if let (Some(m), Some(r)) = (ctx.as_object_mut(), cx.json_ctx.get("request")) {
                m.entry("request").or_insert(r.clone());
            }
            for c in &att.conditions {
                match c.eval(&ctx) {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(format!(
                            "{entry_path}{seg}: attestation checks failed for {image} and predicate {}",
                            att.predicate_type
                        ));
                    }
                    Err(e) => {
                        return Err(format!(
                            "{entry_path}{seg}: failed to check attestations: failed to substitute variables in attestation conditions: {e}"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Ok(digest) or Err((is_internal_error, message)).
    fn verify_attestor_set(
        &self,
        set: &AttestorSet,
        iv: &ImageVerification,
        info: &ImageRef,
        cx: &CpolCtx,
        path: &str,
    ) -> Result<Option<String>, (bool, String)> {
        let required = set.count.unwrap_or(set.entries.len());
        let mut verified = 0;
        let mut errs = Vec::new();
        let mut internal = false;
        for (i, entry) in set.entries.iter().enumerate() {
            let entry_path = format!("{path}.entries[{i}]");
            let res = match entry {
                AttestorEntry::Nested(n) => {
                    self.verify_attestor_set(n, iv, info, cx, &format!("{entry_path}.attestor"))
                }
                AttestorEntry::Spec { spec, repository } => {
                    let repo = repository.as_deref().or(iv.repository.as_deref());
                    let seg = spec.path_segment();
                    match cx.verifier.verify_signature(info, spec, repo) {
                        Verification::Verified {
                            digest, identities, ..
                        } => match spec {
                            AttestorSpec::Keyless {
                                identities: exp,
                                additional_extensions,
                                ..
                            } => match spec.format() {
                                EvidenceFormat::Bundle => match_bundle_identity(exp, &identities),
                                _ => match_identity(exp, additional_extensions, &identities)
                                    .map_err(|e| e.to_string()),
                            }
                            .map(|()| Some(digest))
                            .map_err(|e| (false, format!("{entry_path}{seg}: {e}"))),
                            _ => Ok(Some(digest)),
                        },
                        Verification::Refused { reason } => {
                            Err((false, format!("{entry_path}{seg}: {reason}")))
                        }
                        Verification::Error { reason } => {
                            Err((true, format!("{entry_path}{seg}: {reason}")))
                        }
                    }
                }
            };
            match res {
                Ok(d) => {
                    verified += 1;
                    if verified >= required {
                        return Ok(d);
                    }
                }
                Err((is_err, e)) => {
                    internal |= is_err;
                    errs.push(e);
                }
            }
        }
        Err((internal, errs.join("; ")))
    }

    fn verify_attestations(
        &self,
        iv: &ImageVerification,
        mut info: ImageRef,
        cx: &CpolCtx,
    ) -> ((RuleStatus, String), Option<String>) {
        let mut image = info.normalized();
        let empty = vec![AttestorSet {
            count: None,
            entries: vec![AttestorEntry::Spec {
                spec: AttestorSpec::Keyless {
                    identities: vec![],
                    roots: None,
                    additional_extensions: BTreeMap::new(),
                    rekor: None,
                    ctlog: None,
                    trust: TrustSource::Inline,
                    format: iv.format,
                },
                repository: None,
            }],
        }];
        for (i, att) in iv.attestations.iter().enumerate() {
            let path = format!(".attestations[{i}]");
            if att.predicate_type.is_empty() {
                return (
                    (RuleStatus::Fail, format!("{path}: missing predicateType")),
                    None,
                );
            }
            let sets = if att.attestors.is_empty() {
                &empty
            } else {
                &att.attestors
            };
            // imageverifier.go:238-318: within one attestation, an entry
            // that fails (fetching, identity, predicate, conditions) is an
            // error collected for the message, and the next entry is tried;
            // only too few verified entries fail the rule (never as an
            // internal error).
            let mut errors: Vec<String> = Vec::new();
            for (j, set) in sets.iter().enumerate() {
                let required = set.count.unwrap_or(set.entries.len());
                let mut verified = 0;
                for entry in &set.entries {
                    // Kyverno builds this path with the attestation index (sic)
                    let entry_path = format!("{path}.attestors[{j}].entries[{i}]");
                    match self.verify_attestation_entry(iv, att, entry, &entry_path, &mut info, cx)
                    {
                        Ok(()) => {
                            image = info.normalized();
                            verified += 1;
                            if verified >= required {
                                break;
                            }
                        }
                        Err(e) => errors.push(e),
                    }
                }
                if verified < required {
                    let error = if errors.is_empty() {
                        "attestations verification failed".to_owned()
                    } else {
                        errors.join("; ")
                    };
                    return (
                        (
                            RuleStatus::Fail,
                            format!(
                                "image attestations verification failed, verifiedCount: {verified}, requiredCount: {required}, error: {error}"
                            ),
                        ),
                        None,
                    );
                }
            }
        }
        (
            (
                RuleStatus::Pass,
                format!("verified image attestations for {image}"),
            ),
            info.digest.clone(),
        )
    }

    /// Validating webhook: validate.pattern rules and the verifyImages digest/required checks,
    /// on the (mutated) object.
    pub(crate) fn validate(&self, cx: &CpolCtx, object: &Value, out: &mut Vec<RuleResult>) {
        for rule in &self.rules {
            match &rule.body {
                RuleBody::Validate {
                    patterns,
                    any_pattern,
                    message,
                    action,
                    allow_existing_violations,
                } => {
                    if cx.req.operation == Operation::Delete {
                        continue;
                    }
                    match self.gate(rule, cx, Phase::Validate, *action) {
                        Err(()) => continue,
                        Ok(Some(skip)) => {
                            out.push(skip);
                            continue;
                        }
                        Ok(None) => {}
                    }
                    let mut res = self.validate_patterns(
                        rule,
                        patterns,
                        *any_pattern,
                        message,
                        *action,
                        object,
                    );
                    // validate_resource.go:164-180: an enforced rule that fails an
                    // UPDATE is skipped when the old object, validated as if it
                    // were created, fails it too.
                    if res.status == RuleStatus::Fail
                        && *action == Action::Enforce
                        && *allow_existing_violations
                        && cx.req.operation == Operation::Update
                        && self.old_object_fails(rule, cx, patterns, *any_pattern, message, *action)
                    {
                        res.status = RuleStatus::Skip;
                        res.message =
                            "skipping the rule evaluation as pre-existing violations are allowed"
                                .to_string();
                    }
                    out.push(res);
                }
                RuleBody::VerifyImages(ivs) => {
                    if cx.req.operation == Operation::Delete {
                        continue;
                    }
                    // No validate-image handler without a digest or required
                    // check (`HasVerifyImageChecks`, rule_types.go:156-163;
                    // pkg/engine/validation.go:34-38).
                    if !ivs.iter().any(|iv| iv.verify_digest || iv.required) {
                        continue;
                    }
                    let action = ivs.first().map(|i| i.action).unwrap_or(Action::Audit);
                    let images = pod_images(object);
                    // The validate-image handler exists when an image matches
                    // `imageReferences`; `skipImageReferences` is not read here
                    // (`GetMatchingImages`, pkg/engine/utils/image.go:27-43).
                    let any_matching = ivs.iter().any(|iv| {
                        images.iter().any(|pi| {
                            pi.parsed.as_ref().is_ok_and(|i| {
                                let n = i.normalized();
                                iv.image_references.iter().any(|r| wildcard_match(r, &n))
                            })
                        })
                    });
                    if !any_matching {
                        continue;
                    }
                    match self.gate(rule, cx, Phase::Validate, action) {
                        Err(()) => continue,
                        Ok(Some(skip)) => {
                            out.push(skip);
                            continue;
                        }
                        Ok(None) => {}
                    }
                    // validate_image.go:80-102: the first image that fails ends
                    // the rule with its error (Kyverno walks a Go map, in no
                    // fixed order; here containers, init, ephemeral); an image
                    // that is not `required` is neither passed nor skipped
                    // (`validateImage` returns the zero status, :113-128).
                    let (mut skipped, mut passed, mut failed) =
                        (Vec::new(), Vec::new(), None::<String>);
                    'images: for iv in ivs {
                        for pi in &images {
                            let Ok(info) = &pi.parsed else { continue };
                            let image = info.normalized();
                            if !iv
                                .image_references
                                .iter()
                                .any(|r| wildcard_match(r, &image))
                            {
                                continue;
                            }
                            if iv.verify_digest && info.digest.is_none() {
                                failed = Some(format!("missing digest for {image}"));
                                break 'images;
                            }
                            if iv.required {
                                // This policy's and rule's entry in the new
                                // object's scoped annotation, which the
                                // mutating webhook wrote when it recorded
                                // anything (the request's own otherwise); none
                                // is unverified (validate_image.go:122-131,
                                // image.go:72-86).
                                match ivm::scoped_status(object, &self.name, &rule.name, &image) {
                                    Ok(ivm::Status::Pass) => passed.push(image),
                                    Ok(ivm::Status::Skip) => skipped.push(image),
                                    Ok(ivm::Status::Fail) => {
                                        failed = Some(format!("unverified image {image}"));
                                        break 'images;
                                    }
                                    Ok(ivm::Status::Other(_)) => {}
                                    Err(e) => {
                                        failed = Some(e);
                                        break 'images;
                                    }
                                }
                            }
                        }
                    }
                    let r = if let Some(f) = failed {
                        (RuleStatus::Fail, f)
                    } else if !passed.is_empty() || skipped.is_empty() {
                        if skipped.is_empty() {
                            (RuleStatus::Pass, "image verified".to_string())
                        } else {
                            (
                                RuleStatus::Pass,
                                format!("image verified, skipped images: {}", skipped.join(" ")),
                            )
                        }
                    } else {
                        (
                            RuleStatus::Skip,
                            format!("image skipped, skipped images: {}", skipped.join(" ")),
                        )
                    };
                    out.push(result(
                        self,
                        &rule.name,
                        r.0,
                        r.1,
                        Phase::Validate,
                        action,
                        None,
                    ));
                }
            }
        }
    }

    /// Kyverno's `validateOldObject` (`validate_resource.go:184-220`): the old
    /// object, as if it were created, must meet the rule's preconditions and
    /// match it (`utils.go:15-41`: matched with a placeholder user, never the
    /// requester, so a rule matched on subjects or roles does not match it),
    /// then fail the same patterns.
    fn old_object_fails(
        &self,
        rule: &Rule,
        cx: &CpolCtx,
        patterns: &[Value],
        any: bool,
        message: &str,
        action: Action,
    ) -> bool {
        let old = &cx.req.old_object;
        if !old.is_object() {
            return false;
        }
        // SetResources(empty, old) and SetOperation(Create) rewrite the JSON
        // context the preconditions read; the requester stays.
        let ctx = json!({
            "request": {
                "operation": Operation::Create.as_str(),
                "namespace": cx.req.namespace,
                "object": old,
                "oldObject": Value::Null,
                "userInfo": cx.json_ctx.pointer("/request/userInfo").cloned().unwrap_or(Value::Null),
            }
        });
        if let Some(pre) = &rule.preconditions
            && !pre.eval(&ctx).unwrap_or(false)
        {
            return false;
        }
        let as_created = AdmissionRequest {
            operation: Operation::Create,
            object: old.clone(),
            old_object: Value::Null,
            user_info: Some(UserInfo {
                username: "kyverno:kyverno-invalid-controller".into(),
                groups: vec!["kyverno:invalidgroup".into()],
                roles: vec!["kyverno:invalidrole".into()],
                cluster_roles: vec!["kyverno:invalidrole".into()],
            }),
            ..cx.req.clone()
        };
        let matched = rule.matcher.matches(&as_created)
            && !rule
                .exclude
                .as_ref()
                .is_some_and(|e| !e.is_empty() && e.matches(&as_created));
        matched
            && self
                .validate_patterns(rule, patterns, any, message, action, old)
                .status
                == RuleStatus::Fail
    }

    fn validate_patterns(
        &self,
        rule: &Rule,
        patterns: &[Value],
        any: bool,
        message: &str,
        action: Action,
        object: &Value,
    ) -> RuleResult {
        let msg_prefix = if message.is_empty() {
            String::new()
        } else if message.ends_with('.') {
            format!("{message} ")
        } else {
            format!("{message}. ")
        };
        if !any {
            let outcome = validate_pattern(object, &patterns[0]);
            return match outcome {
                PatternOutcome::Pass => result(
                    self,
                    &rule.name,
                    RuleStatus::Pass,
                    format!("validation rule '{}' passed.", rule.name),
                    Phase::Validate,
                    action,
                    None,
                ),
                PatternOutcome::Skip(m) => result(
                    self,
                    &rule.name,
                    RuleStatus::Skip,
                    m,
                    Phase::Validate,
                    action,
                    None,
                ),
                PatternOutcome::Fail { path } => result(
                    self,
                    &rule.name,
                    RuleStatus::Fail,
                    format!(
                        "validation error: {msg_prefix}rule {} failed at path {path}",
                        rule.name
                    ),
                    Phase::Validate,
                    action,
                    None,
                ),
            };
        }
        let mut errs = Vec::new();
        let mut skips = 0;
        for (i, p) in patterns.iter().enumerate() {
            match validate_pattern(object, p) {
                PatternOutcome::Pass => {
                    return result(
                        self,
                        &rule.name,
                        RuleStatus::Pass,
                        format!("validation rule '{}' anyPattern[{i}] passed.", rule.name),
                        Phase::Validate,
                        action,
                        None,
                    );
                }
                PatternOutcome::Skip(_) => skips += 1,
                PatternOutcome::Fail { path } => {
                    errs.push(format!("rule {}[{i}] failed at path {path}.", rule.name))
                }
            }
        }
        if errs.is_empty() && skips > 0 {
            return result(
                self,
                &rule.name,
                RuleStatus::Skip,
                "all patterns skipped".into(),
                Phase::Validate,
                action,
                None,
            );
        }
        let body = errs.join(" ");
        let m = if message.is_empty() {
            format!("validation error: {body}")
        } else {
            format!("validation error: {msg_prefix}{body}")
        };
        result(
            self,
            &rule.name,
            RuleStatus::Fail,
            m,
            Phase::Validate,
            action,
            None,
        )
    }
}
