//! CEL policies: `ImageValidatingPolicy`, `ValidatingPolicy` and the CEL `PolicyException`
//! (`policies.kyverno.io`), evaluated with the `cel` crate (cel-rust).

use crate::cpol::{FailurePolicy, compile_regex};
use crate::decision::{Action, Phase, PolicyKind, RuleResult, RuleStatus};
use crate::error::PolicyError;
use crate::image::{ContainerKind, ImageRef, pod_images};
use crate::request::AdmissionRequest;
use crate::selector::{LabelSelector, labels_of};
use crate::util::Doc;
use crate::verifier::{
    AttestorSpec, CtlogSpec, EvidenceFormat, EvidenceVerifier, IdentitySpec, RekorSpec,
    TrustSource, Verification, match_cosign_identity,
};
use cel::objects::{Key, Map};
use cel::{Context, Env, ExecutionError, Program, Value as CelValue};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use trustswap_model::kyverno::defaults;
use trustswap_model::kyverno::ivpol as iv;
use trustswap_model::wildcard::Glob;

/// How an IVP treats a verifier `Error` inside `verifyImageSignatures` /
/// `verifyAttestationSignatures`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IvpVerifierErrorMode {
    /// Kyverno 1.19: the error is only logged and the attestor is not counted (so the
    /// validation usually fails, whatever `failurePolicy` says).
    #[default]
    CountAsUnverified,
    /// The CEL function errors, the policy result is `error`, and `failurePolicy` decides.
    PolicyError,
}

/// JSON → CEL value.
pub fn json_to_cel(v: &Value) -> CelValue {
    match v {
        Value::Null => CelValue::Null,
        Value::Bool(b) => CelValue::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                CelValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                CelValue::UInt(u)
            } else {
                CelValue::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => CelValue::String(Arc::new(s.clone())),
        Value::Array(a) => CelValue::List(Arc::new(a.iter().map(json_to_cel).collect())),
        Value::Object(m) => {
            let map: HashMap<Key, CelValue> = m
                .iter()
                .map(|(k, v)| (Key::from(k.as_str()), json_to_cel(v)))
                .collect();
            CelValue::Map(Map { map: Arc::new(map) })
        }
    }
}

fn cel_map(entries: Vec<(String, CelValue)>) -> CelValue {
    let map: HashMap<Key, CelValue> = entries
        .into_iter()
        .map(|(k, v)| (Key::from(k), v))
        .collect();
    CelValue::Map(Map { map: Arc::new(map) })
}

/// A compiled CEL expression with its source.
pub(crate) struct Expr {
    pub source: String,
    pub program: Program,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

/// Rewrites the member call `.matches(` (outside string literals) to `.__matchesCached(`, a
/// regex-caching equivalent: cel-rust compiles the regex on every `matches` call.
pub fn rewrite_matches(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len() + 16);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\'' || c == b'"' {
            // copy a string literal (handles triple quotes and escapes; raw strings have no escapes)
            let raw = i > 0 && (b[i - 1] == b'r' || b[i - 1] == b'R');
            let triple = b.len() >= i + 3 && b[i + 1] == c && b[i + 2] == c;
            let q = if triple { 3 } else { 1 };
            let start = i;
            i += q;
            while i < b.len() {
                if !raw && b[i] == b'\\' {
                    i += 2;
                    continue;
                }
                if b[i] == c && (!triple || (b.len() >= i + 3 && b[i + 1] == c && b[i + 2] == c)) {
                    i += q;
                    break;
                }
                i += 1;
            }
            out.push_str(&src[start..i.min(b.len())]);
            continue;
        }
        if src[i..].starts_with(".matches(") {
            out.push_str(".__matchesCached(");
            i += ".matches(".len();
            continue;
        }
        let ch = src[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

type RegexCache = Mutex<HashMap<String, Result<regex::Regex, String>>>;

fn regex_cache() -> &'static RegexCache {
    static CACHE: std::sync::OnceLock<RegexCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn cached_matches(s: &str, re: &str) -> Result<bool, ExecutionError> {
    let mut cache = regex_cache()
        .lock()
        .map_err(|_| fn_err("matches", "regex cache poisoned"))?;
    if cache.len() > 4096 {
        cache.clear();
    }
    let entry = cache
        .entry(re.to_string())
        .or_insert_with(|| regex::Regex::new(re).map_err(|e| e.to_string()));
    match entry {
        Ok(r) => Ok(r.is_match(s)),
        Err(e) => Err(fn_err("matches", format!("'{re}' not a valid regex:\n{e}"))),
    }
}

pub(crate) fn compile_expr(
    env: &Env,
    src: &str,
    doc: &Doc,
    field: &str,
) -> Result<Expr, PolicyError> {
    let rewritten = rewrite_matches(src);
    let program = env
        .compile(&rewritten)
        .map_err(|e| doc.err(field, format!("failed to compile CEL expression: {e}")))?;
    Ok(Expr {
        source: src.to_string(),
        program,
    })
}

// ------------------------------------------------------------------------------------------
// matchConstraints

#[derive(Debug, Clone, PartialEq, Default)]
struct RuleWithOps {
    operations: Vec<String>,
    api_groups: Vec<String>,
    api_versions: Vec<String>,
    resources: Vec<String>,
    resource_names: Vec<String>,
    /// `scope: Cluster`: only cluster-scoped resources match, never a Pod.
    cluster_only: bool,
}

impl RuleWithOps {
    fn compile(
        r: &iv::NamedRuleWithOperations,
        doc: &Doc,
        field: &str,
    ) -> Result<Self, PolicyError> {
        let cluster_only = match r.scope.as_deref() {
            None | Some("*") | Some("Namespaced") => false,
            Some("Cluster") => true,
            Some(o) => {
                return Err(doc.err(
                    format!("{field}.scope"),
                    format!("must be Cluster, Namespaced or *, got {o:?}"),
                ));
            }
        };
        Ok(RuleWithOps {
            operations: r.operations.clone(),
            api_groups: r.api_groups.clone(),
            api_versions: r.api_versions.clone(),
            resources: r.resources.clone(),
            resource_names: r.resource_names.clone(),
            cluster_only,
        })
    }

    fn matches(&self, req: &AdmissionRequest) -> bool {
        if self.cluster_only && !req.namespace.is_empty() {
            return false;
        }
        let any =
            |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == "*" || x == v);
        let res = if req.sub_resource.is_empty() {
            req.resource.2.clone()
        } else {
            format!("{}/{}", req.resource.2, req.sub_resource)
        };
        let res_ok = self.resources.iter().any(|r| {
            r == "*"
                || r == &res
                || (r.ends_with("/*")
                    && !req.sub_resource.is_empty()
                    && r.trim_end_matches("/*") == req.resource.2)
                || (r.starts_with("*/")
                    && !req.sub_resource.is_empty()
                    && r.trim_start_matches("*/") == req.sub_resource)
        });
        self.operations
            .iter()
            .any(|o| o == "*" || o == req.operation.as_str())
            && any(&self.api_groups, &req.resource.0)
            && any(&self.api_versions, &req.resource.1)
            && res_ok
            && (self.resource_names.is_empty() || self.resource_names.contains(&req.name()))
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct MatchConstraints {
    rules: Vec<RuleWithOps>,
    exclude: Vec<RuleWithOps>,
    namespace_selector: Option<LabelSelector>,
    object_selector: Option<LabelSelector>,
    present: bool,
}

impl MatchConstraints {
    fn compile(
        m: Option<&iv::MatchResources>,
        doc: &Doc,
        field: &str,
    ) -> Result<MatchConstraints, PolicyError> {
        let Some(m) = m else {
            return Ok(MatchConstraints::default());
        };
        let rules = |list: &[iv::NamedRuleWithOperations], key: &str| {
            list.iter()
                .enumerate()
                .map(|(i, r)| RuleWithOps::compile(r, doc, &format!("{field}.{key}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
        };
        let selector = |s: &Option<trustswap_model::kyverno::LabelSelector>, key: &str| {
            s.as_ref()
                .map(|s| LabelSelector::from_model(s, doc.name, &format!("{field}.{key}"), false))
                .transpose()
        };
        Ok(MatchConstraints {
            rules: rules(&m.resource_rules, "resourceRules")?,
            exclude: rules(&m.exclude_resource_rules, "excludeResourceRules")?,
            namespace_selector: selector(&m.namespace_selector, "namespaceSelector")?,
            object_selector: selector(&m.object_selector, "objectSelector")?,
            present: true,
        })
    }

    fn matches(&self, req: &AdmissionRequest) -> bool {
        if !self.present {
            return true;
        }
        if !self.rules.iter().any(|r| r.matches(req)) || self.exclude.iter().any(|r| r.matches(req))
        {
            return false;
        }
        if let Some(s) = &self.namespace_selector
            && !req.namespace.is_empty()
            && !s.matches(&req.namespace_labels)
        {
            return false;
        }
        if let Some(s) = &self.object_selector
            && !s.matches(&labels_of(req.subject()))
        {
            return false;
        }
        true
    }
}

// ------------------------------------------------------------------------------------------
// shared policy parts

#[derive(Debug)]
struct Validation {
    expr: Expr,
    message: String,
    message_expr: Option<Expr>,
}

fn parse_actions(actions: &[iv::ValidationAction]) -> Vec<Action> {
    if actions.is_empty() {
        return vec![Action::Enforce];
    }
    actions
        .iter()
        .map(|a| match a {
            iv::ValidationAction::Deny => Action::Enforce,
            iv::ValidationAction::Audit => Action::Audit,
            iv::ValidationAction::Warn => Action::Warn,
        })
        .collect()
}

fn compile_validations(
    env: &Env,
    doc: &Doc,
    list: &[iv::Validation],
) -> Result<Vec<Validation>, PolicyError> {
    if list.is_empty() {
        return Err(doc.err("spec.validations", "required non-empty list"));
    }
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            let f = format!("spec.validations[{i}]");
            if v.expression.is_empty() {
                return Err(doc.err(format!("{f}.expression"), "required string"));
            }
            Ok(Validation {
                expr: compile_expr(env, &v.expression, doc, &format!("{f}.expression"))?,
                message: v.message.clone().unwrap_or_default(),
                message_expr: v
                    .message_expression
                    .as_deref()
                    .map(|m| compile_expr(env, m, doc, &format!("{f}.messageExpression")))
                    .transpose()?,
            })
        })
        .collect()
}

/// Named expressions: `variables` and `matchConditions`.
fn compile_named<'a>(
    env: &Env,
    doc: &Doc,
    key: &str,
    list: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<(String, Expr)>, PolicyError> {
    list.enumerate()
        .map(|(i, (name, src))| {
            let f = format!("spec.{key}[{i}]");
            if name.is_empty() {
                return Err(doc.err(format!("{f}.name"), "required string"));
            }
            Ok((
                name.to_string(),
                compile_expr(env, src, doc, &format!("{f}.expression"))?,
            ))
        })
        .collect()
}

/// What every CEL policy compiles alike: its match constraints, its match
/// conditions and its variables.
#[allow(clippy::type_complexity)]
fn compile_selection(
    env: &Env,
    doc: &Doc,
    constraints: Option<&iv::MatchResources>,
    match_conditions: &[iv::MatchCondition],
    vars: &[iv::Variable],
) -> Result<(MatchConstraints, Vec<(String, Expr)>, Vec<(String, Expr)>), PolicyError> {
    Ok((
        MatchConstraints::compile(constraints, doc, "spec.matchConstraints")?,
        compile_named(env, doc, "matchConditions", conditions(match_conditions))?,
        compile_named(env, doc, "variables", variables(vars))?,
    ))
}

fn variables(list: &[iv::Variable]) -> impl Iterator<Item = (&str, &str)> {
    list.iter()
        .map(|v| (v.name.as_str(), v.expression.as_str()))
}

fn conditions(list: &[iv::MatchCondition]) -> impl Iterator<Item = (&str, &str)> {
    list.iter()
        .map(|v| (v.name.as_str(), v.expression.as_str()))
}

fn policy_name(
    meta: &trustswap_model::kyverno::ObjectMeta,
    doc: &Doc,
) -> Result<String, PolicyError> {
    if meta.name.is_empty() {
        return Err(doc.err("metadata.name", "required string"));
    }
    Ok(meta.name.clone())
}

/// The request variables every CEL policy sees.
const INPUT_NAMES: [&str; 4] = ["object", "oldObject", "request", "namespaceObject"];

/// Inputs shared by all CEL policies: per request. cel-rust copies a value
/// deeply each time it is bound to a context, so these are bound through a
/// resolver instead: each is converted once per request, on first use, and
/// every policy's context borrows it (an expression that never reads
/// `request` never pays for it).
pub(crate) struct CelInputs {
    values: [CelValue; 4],
    bound: [std::sync::OnceLock<Option<Box<dyn cel::common::value::Val>>>; 4],
}

impl std::fmt::Debug for CelInputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CelInputs")
    }
}

impl CelInputs {
    pub fn new(req: &AdmissionRequest, object: &Value) -> CelInputs {
        let object = json_to_cel(object);
        // `request.object` is the (patched) object: converted once, shared.
        let request = match req.raw.as_object() {
            Some(m) => {
                let mut map: HashMap<Key, CelValue> = m
                    .iter()
                    .filter(|(k, _)| k.as_str() != "object")
                    .map(|(k, v)| (Key::from(k.as_str()), json_to_cel(v)))
                    .collect();
                map.insert(Key::from("object"), object.clone());
                CelValue::Map(Map { map: Arc::new(map) })
            }
            None => json_to_cel(&req.raw),
        };
        CelInputs {
            values: [
                object,
                json_to_cel(&req.old_object),
                request,
                json_to_cel(&req.namespace_object()),
            ],
            bound: Default::default(),
        }
    }

    fn context<'a>(&'a self, env: &Arc<Env>) -> Context<'a, 'a> {
        let mut ctx = Context::with_env(env.clone());
        let _ = ctx.add_function(
            "__matchesCached",
            |cel::extractors::This(s): cel::extractors::This<Arc<String>>,
             re: Arc<String>|
             -> cel::ResolveResult { cached_matches(&s, &re).map(CelValue::Bool) },
        );
        ctx.set_variable_resolver(self);
        ctx
    }
}

impl cel::context::VariableResolver for CelInputs {
    fn resolve<'b>(&'b self, variable: &str) -> Option<cel::common::value::CowVal<'b, 'b>> {
        let i = INPUT_NAMES.iter().position(|n| *n == variable)?;
        let val = self.bound[i].get_or_init(|| self.values[i].clone().try_into().ok());
        val.as_deref().map(cel::common::value::CowVal::Borrowed)
    }
}

fn eval_bool(expr: &Expr, ctx: &Context) -> Result<bool, String> {
    match expr.program.execute(ctx) {
        Ok(CelValue::Bool(b)) => Ok(b),
        Ok(other) => Err(format!(
            "expression {:?} returned {:?}, expected bool",
            expr.source,
            other.type_of()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Evaluates `matchConditions`: Ok(true) when all are true.
fn eval_match_conditions(
    conds: &[(String, Expr)],
    ctx: &Context,
    fp: FailurePolicy,
) -> Result<bool, String> {
    let mut errs = Vec::new();
    for (name, c) in conds {
        match eval_bool(c, ctx) {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => errs.push(format!("matchCondition {name}: {e}")),
        }
    }
    if errs.is_empty() {
        Ok(true)
    } else if fp == FailurePolicy::Ignore {
        Ok(false)
    } else {
        Err(errs.join("; "))
    }
}

// ------------------------------------------------------------------------------------------
// CEL PolicyException

#[derive(Debug)]
pub struct CelPolicyException {
    pub key: String,
    /// `metadata.namespace` (empty when none is given).
    pub namespace: String,
    refs: Vec<(String, String)>,
    match_conditions: Vec<(String, Expr)>,
    expires_at: Option<DateTime<Utc>>,
}

impl CelPolicyException {
    pub(crate) fn compile(
        env: &Env,
        v: &Value,
        doc: &Doc,
    ) -> Result<CelPolicyException, PolicyError> {
        let e: iv::PolicyException = doc.decode(v)?;
        let name = policy_name(&e.metadata, doc)?;
        let spec = &e.spec;
        doc.refuse_unmodelled(&[
            (!spec.images.is_empty(), "spec.images"),
            (!spec.allowed_values.is_empty(), "spec.allowedValues"),
            (spec.evaluation_mode.is_some(), "spec.evaluationMode"),
        ])?;
        if spec.policy_refs.is_empty() {
            return Err(doc.err("spec.policyRefs", "required non-empty list"));
        }
        let mut refs = Vec::new();
        for (i, r) in spec.policy_refs.iter().enumerate() {
            let f = format!("spec.policyRefs[{i}]");
            for (value, key) in [(&r.name, "name"), (&r.kind, "kind")] {
                if value.is_empty() {
                    return Err(doc.err(format!("{f}.{key}"), "required string"));
                }
            }
            refs.push((r.name.clone(), r.kind.clone()));
        }
        let expires_at = match &spec.expires_at {
            None => None,
            Some(s) => Some(
                DateTime::parse_from_rfc3339(s)
                    .map_err(|e| {
                        doc.err(
                            "spec.expiresAt",
                            format!("invalid RFC3339 timestamp {s:?}: {e}"),
                        )
                    })?
                    .with_timezone(&Utc),
            ),
        };
        let ns = e.metadata.namespace.clone().unwrap_or_default();
        Ok(CelPolicyException {
            key: if ns.is_empty() {
                name
            } else {
                format!("{ns}/{name}")
            },
            namespace: ns,
            refs,
            match_conditions: compile_named(
                env,
                doc,
                "matchConditions",
                conditions(&spec.match_conditions),
            )?,
            expires_at,
        })
    }

    /// Kyverno `IsExpired`: `now.After(expiresAt)`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|e| now > e)
    }

    fn refers_to(&self, name: &str, kinds: &[&str]) -> bool {
        self.refs
            .iter()
            .any(|(n, k)| n == name && kinds.contains(&k.as_str()))
    }
}

/// Keys of the exceptions that apply (not expired, referencing the policy, all matchConditions
/// true). Condition errors make the exception not apply.
fn matching_exceptions(
    excs: &[CelPolicyException],
    name: &str,
    kinds: &[&str],
    ctx: &Context,
    now: DateTime<Utc>,
) -> Vec<String> {
    excs.iter()
        .filter(|e| !e.is_expired(now) && e.refers_to(name, kinds))
        .filter(|e| {
            e.match_conditions
                .iter()
                .all(|(_, c)| eval_bool(c, ctx).unwrap_or(false))
        })
        .map(|e| e.key.clone())
        .collect()
}

// ------------------------------------------------------------------------------------------
// ValidatingPolicy

#[derive(Debug)]
pub struct ValidatingPolicy {
    pub name: String,
    pub failure_policy: FailurePolicy,
    pub actions: Vec<Action>,
    constraints: MatchConstraints,
    match_conditions: Vec<(String, Expr)>,
    variables: Vec<(String, Expr)>,
    validations: Vec<Validation>,
}

/// Outcome of one CEL policy evaluation.
pub(crate) struct CelOutcome {
    pub status: RuleStatus,
    pub message: String,
}

impl ValidatingPolicy {
    pub(crate) fn compile(
        env: &Env,
        v: &Value,
        doc: &Doc,
    ) -> Result<ValidatingPolicy, PolicyError> {
        let p: iv::ValidatingPolicy = doc.decode(v)?;
        let name = policy_name(&p.metadata, doc)?;
        let spec = &p.spec;
        doc.refuse_unmodelled(&[(spec.evaluation.is_some(), "spec.evaluation")])?;
        let (constraints, match_conditions, variables) = compile_selection(
            env,
            doc,
            spec.match_constraints.as_ref(),
            &spec.match_conditions,
            &spec.variables,
        )?;
        Ok(ValidatingPolicy {
            name,
            failure_policy: spec.failure_policy.unwrap_or(FailurePolicy::Fail),
            actions: parse_actions(&spec.validation_actions),
            constraints,
            match_conditions,
            variables,
            validations: compile_validations(env, doc, &spec.validations)?,
        })
    }

    pub(crate) fn evaluate(
        &self,
        env: &Arc<Env>,
        req: &AdmissionRequest,
        inputs: &CelInputs,
        excs: &[CelPolicyException],
        now: DateTime<Utc>,
    ) -> Option<CelOutcome> {
        if !self.constraints.matches(req) {
            return None;
        }
        let mut ctx = inputs.context(env);
        match eval_match_conditions(&self.match_conditions, &ctx, self.failure_policy) {
            Ok(false) => return None,
            Ok(true) => {}
            Err(e) => {
                return Some(CelOutcome {
                    status: RuleStatus::Error,
                    message: format!("failed to evaluate match conditions: {e}"),
                });
            }
        }
        let keys = matching_exceptions(
            excs,
            &self.name,
            &["ValidatingPolicy", "NamespacedValidatingPolicy"],
            &ctx,
            now,
        );
        if !keys.is_empty() {
            return Some(CelOutcome {
                status: RuleStatus::Skip,
                message: format!(
                    "rule is skipped due to policy exception: {}",
                    keys.join(", ")
                ),
            });
        }
        if let Err(e) = bind_variables(&self.variables, &mut ctx) {
            return Some(CelOutcome {
                status: RuleStatus::Error,
                message: e,
            });
        }
        Some(run_validations(&self.validations, &ctx))
    }
}

/// Evaluates `variables` in order, each seeing the previous ones as `variables.<name>`.
fn bind_variables(vars: &[(String, Expr)], ctx: &mut Context<'_, '_>) -> Result<(), String> {
    let mut bound: Vec<(String, CelValue)> = Vec::new();
    ctx.add_variable_from_value("variables", cel_map(vec![]));
    for (name, expr) in vars {
        let v = expr
            .program
            .execute(ctx)
            .map_err(|e| format!("failed to evaluate variable {name}: {e}"))?;
        bound.push((name.clone(), v));
        ctx.add_variable_from_value("variables", cel_map(bound.clone()));
    }
    Ok(())
}

fn run_validations(validations: &[Validation], ctx: &Context) -> CelOutcome {
    for (i, v) in validations.iter().enumerate() {
        match v.expr.program.execute(ctx) {
            Ok(CelValue::Bool(true)) => {}
            Ok(CelValue::Bool(false)) => {
                let mut message = v.message.clone();
                if let Some(me) = &v.message_expr {
                    message = match me.program.execute(ctx) {
                        Ok(CelValue::String(s)) => s.to_string(),
                        Ok(other) => format!(
                            "failed to convert message expression to string: {:?}",
                            other.type_of()
                        ),
                        Err(e) => format!("failed to evaluate message expression: {e}"),
                    };
                }
                if message.is_empty() {
                    message = format!("CEL expression validation failed at index {i}");
                }
                return CelOutcome {
                    status: RuleStatus::Fail,
                    message,
                };
            }
            Ok(other) => {
                return CelOutcome {
                    status: RuleStatus::Error,
                    message: format!(
                        "error: validation[{i}] returned {:?}, expected bool",
                        other.type_of()
                    ),
                };
            }
            Err(e) => {
                return CelOutcome {
                    status: RuleStatus::Error,
                    message: format!("failed to evaluate policy: {e}"),
                };
            }
        }
    }
    CelOutcome {
        status: RuleStatus::Pass,
        message: "success".into(),
    }
}

// ------------------------------------------------------------------------------------------
// ImageValidatingPolicy

#[derive(Debug)]
enum ImageMatcher {
    Glob(Glob),
    Expr(Expr),
}

#[derive(Debug)]
struct IvpAttestor {
    spec: AttestorSpec,
    repository: Option<String>,
}

#[derive(Debug, Clone)]
enum IvpAttestation {
    Intoto(String),
    Referrer(String),
}

/// The parts of an IVP the CEL functions need (shared with the closures).
struct IvpData {
    env: Arc<Env>,
    matchers: Vec<ImageMatcher>,
    attestors: HashMap<String, IvpAttestor>,
    attestations: HashMap<String, IvpAttestation>,
}

impl std::fmt::Debug for IvpData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IvpData")
            .field("matchers", &self.matchers)
            .field("attestors", &self.attestors)
            .finish()
    }
}

impl IvpData {
    /// Whether an image matches `matchImageReferences` (empty list matches everything).
    fn image_matches(&self, image: &str) -> Result<bool, String> {
        if self.matchers.is_empty() {
            return Ok(true);
        }
        for m in &self.matchers {
            match m {
                ImageMatcher::Glob(g) => {
                    if g.is_match(image) {
                        return Ok(true);
                    }
                }
                ImageMatcher::Expr(e) => {
                    let mut ctx = Context::with_env(self.env.clone());
                    let _ = ctx.add_function(
                        "__matchesCached",
                        |cel::extractors::This(s): cel::extractors::This<Arc<String>>,
                         re: Arc<String>|
                         -> cel::ResolveResult {
                            cached_matches(&s, &re).map(CelValue::Bool)
                        },
                    );
                    ctx.add_variable_from_value(
                        "ref",
                        CelValue::String(Arc::new(image.to_string())),
                    );
                    if eval_bool(e, &ctx)? {
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }
}

#[derive(Debug)]
pub struct ImageValidatingPolicy {
    pub name: String,
    pub failure_policy: FailurePolicy,
    pub actions: Vec<Action>,
    pub mutate_digest: bool,
    pub verify_digest: bool,
    pub required: bool,
    constraints: MatchConstraints,
    match_conditions: Vec<(String, Expr)>,
    variables: Vec<(String, Expr)>,
    validations: Vec<Validation>,
    attestors_value: CelValue,
    attestations_value: CelValue,
    data: Arc<IvpData>,
}

/// A `StringOrExpression`: CEL-valued attestor material is not modelled.
fn literal(
    v: &Option<iv::StringOrExpression>,
    doc: &Doc,
    field: &str,
) -> Result<Option<String>, PolicyError> {
    match v {
        None => Ok(None),
        // upstream's omitempty: an empty expression is no expression
        Some(iv::StringOrExpression {
            expression: Some(e),
            ..
        }) if !e.is_empty() => Err(doc.unsupported(format!("{field}.expression"))),
        Some(s) => Ok(s.value.clone()),
    }
}

fn ivp_attestor(a: &iv::Attestor, doc: &Doc, f: &str) -> Result<IvpAttestor, PolicyError> {
    match (&a.cosign, &a.notary) {
        (Some(c), None) => {
            let cf = format!("{f}.cosign");
            let tag_prefix = c
                .source
                .as_ref()
                .is_some_and(|s| s.tag_prefix.as_deref().is_some_and(|t| !t.is_empty()));
            doc.refuse_unmodelled(&[
                (!c.annotations.is_empty(), &format!("{cf}.annotations")),
                (
                    c.trusted_root
                        .as_ref()
                        .is_some_and(|t| t.value.is_some() || t.expression.is_some()),
                    &format!("{cf}.trustedRoot"),
                ),
                (tag_prefix, &format!("{cf}.source.tagPrefix")),
            ])?;
            // The trust comes from TUF (`cosign.tuf`, or the default
            // repository), never from `rekorPubKey`, `ctLogPubKey` or `roots`:
            // `TrustedMaterial` is always set (ivpol/cosign/opts.go:145) and
            // cosign prefers it to each of them; they are still loaded, so a
            // malformed one fails. A key or certificate that ignores the log
            // needs no Sigstore infrastructure at all (opts.go:82-87).
            let ct = c.ctlog.as_ref();
            let ignore_tlog = ct.is_some_and(|ct| ct.insecure_ignore_tlog.unwrap_or(false));
            let trust = if c.keyless.is_none()
                && (c.key.is_some() || c.certificate.is_some())
                && ignore_tlog
            {
                TrustSource::Nothing
            } else {
                TrustSource::Tuf(c.tuf.clone())
            };
            let rekor = ct.map(|ct| RekorSpec {
                url: ct.url.clone(),
                pubkey: ct.rekor_pub_key.clone(),
                ignore_tlog: ct.insecure_ignore_tlog.unwrap_or(false),
            });
            let ctlog = ct.map(|ct| CtlogSpec {
                ignore_sct: ct.insecure_ignore_sct.unwrap_or(false),
                pubkey: ct.ct_log_pub_key.clone(),
                tsa_cert_chain: ct.tsa_cert_chain.clone(),
            });
            let repository = c
                .source
                .as_ref()
                .map(|s| s.repository.clone())
                .filter(|s| !s.is_empty());
            let spec = match (&c.key, &c.keyless, &c.certificate) {
                (Some(k), None, None) => {
                    let kf = format!("{cf}.key");
                    if k.expression.as_deref().is_some_and(|e| !e.is_empty()) {
                        return Err(doc.unsupported(format!("{kf}.expression")));
                    }
                    let data = k.data.clone().unwrap_or_default();
                    if data.trim().is_empty() && k.kms.is_none() {
                        return Err(doc.err(&kf, "one of data or kms is required"));
                    }
                    AttestorSpec::Keys {
                        public_keys: data,
                        kms: k.kms.clone(),
                        secret: None,
                        signature_algorithm: k.hash_algorithm.clone(),
                        rekor,
                        ctlog,
                        trust,
                        // Kyverno picks the bundle path per image when any
                        // bundle referrer exists (ivpol/cosign/verifier.go:32-47)
                        format: EvidenceFormat::Detect,
                    }
                }
                (None, Some(k), None) => {
                    let kf = format!("{cf}.keyless");
                    doc.refuse_unmodelled(&[(
                        !k.additional_extensions.is_empty(),
                        format!("{kf}.additionalExtensions"),
                    )])?;
                    if k.identities.is_empty() {
                        return Err(doc.err(format!("{kf}.identities"), "required non-empty list"));
                    }
                    let mut identities = Vec::new();
                    for (i, id) in k.identities.iter().enumerate() {
                        let idf = format!("{kf}.identities[{i}]");
                        if id
                            .subject_expression
                            .as_deref()
                            .is_some_and(|e| !e.is_empty())
                        {
                            return Err(doc.unsupported(format!("{idf}.subjectExpression")));
                        }
                        let re = |v: &Option<String>, key: &str| {
                            v.as_deref()
                                .filter(|s| !s.is_empty())
                                .map(|s| compile_regex(s, doc, &format!("{idf}.{key}")))
                                .transpose()
                        };
                        identities.push(IdentitySpec {
                            issuer: id.issuer.clone(),
                            subject: id.subject.clone(),
                            issuer_regexp: re(&id.issuer_reg_exp, "issuerRegExp")?,
                            subject_regexp: re(&id.subject_reg_exp, "subjectRegExp")?,
                        });
                    }
                    AttestorSpec::Keyless {
                        identities,
                        roots: k.roots.clone(),
                        additional_extensions: BTreeMap::new(),
                        rekor,
                        ctlog,
                        trust,
                        format: EvidenceFormat::Detect,
                    }
                }
                (None, None, Some(k)) => {
                    let kf = format!("{cf}.certificate");
                    AttestorSpec::Certificates {
                        cert: literal(&k.cert, doc, &format!("{kf}.cert"))?,
                        cert_chain: literal(&k.cert_chain, doc, &format!("{kf}.certChain"))?,
                        rekor,
                        ctlog,
                        format: EvidenceFormat::Detect,
                    }
                }
                _ => {
                    return Err(doc.err(
                        &cf,
                        "exactly one of key, keyless or certificate is required",
                    ));
                }
            };
            Ok(IvpAttestor { spec, repository })
        }
        (None, Some(n)) => {
            let nf = format!("{f}.notary");
            Ok(IvpAttestor {
                spec: AttestorSpec::Notary {
                    certs: literal(&n.certs, doc, &format!("{nf}.certs"))?,
                    tsa_certs: literal(&n.tsa_certs, doc, &format!("{nf}.tsaCerts"))?,
                },
                repository: None,
            })
        }
        _ => Err(doc.err(f, "exactly one of cosign or notary is required")),
    }
}

impl ImageValidatingPolicy {
    pub(crate) fn compile(
        env: &Arc<Env>,
        v: &Value,
        doc: &Doc,
    ) -> Result<ImageValidatingPolicy, PolicyError> {
        let p: iv::ImageValidatingPolicy = doc.decode(v)?;
        let name = policy_name(&p.metadata, doc)?;
        let spec = &p.spec;
        doc.refuse_unmodelled(&[
            (!spec.images.is_empty(), "spec.images"),
            (spec.credentials.is_some(), "spec.credentials"),
            (spec.evaluation.is_some(), "spec.evaluation"),
        ])?;
        let mut matchers = Vec::new();
        for (i, m) in spec.match_image_references.iter().enumerate() {
            let f = format!("spec.matchImageReferences[{i}]");
            match (&m.glob, &m.expression) {
                (Some(g), None) => matchers
                    .push(ImageMatcher::Glob(Glob::compile(g).map_err(|e| {
                        doc.err(format!("{f}.glob"), format!("invalid glob: {e}"))
                    })?)),
                (None, Some(e)) => matchers.push(ImageMatcher::Expr(compile_expr(
                    env,
                    e,
                    doc,
                    &format!("{f}.expression"),
                )?)),
                _ => return Err(doc.err(&f, "exactly one of glob or expression is required")),
            }
        }
        let mut attestors = HashMap::new();
        let mut attestor_vals = Vec::new();
        if spec.attestors.is_empty() {
            return Err(doc.err("spec.attestors", "required non-empty list"));
        }
        for (i, a) in spec.attestors.iter().enumerate() {
            let f = format!("spec.attestors[{i}]");
            if a.name.is_empty() {
                return Err(doc.err(format!("{f}.name"), "required string"));
            }
            let att = ivp_attestor(a, doc, &f)?;
            if attestors.insert(a.name.clone(), att).is_some() {
                return Err(doc.err(
                    format!("{f}.name"),
                    format!("duplicate attestor name {:?}", a.name),
                ));
            }
            // CEL sees the attestor as written
            let raw = v
                .pointer(&format!("/spec/attestors/{i}"))
                .cloned()
                .unwrap_or(Value::Null);
            attestor_vals.push((a.name.clone(), json_to_cel(&raw)));
        }
        let mut attestations = HashMap::new();
        let mut attestation_vals = Vec::new();
        for (i, a) in spec.attestations.iter().enumerate() {
            let f = format!("spec.attestations[{i}]");
            if a.name.is_empty() {
                return Err(doc.err(format!("{f}.name"), "required string"));
            }
            let typ = |t: &str, key: &str| {
                if t.is_empty() {
                    Err(doc.err(format!("{f}.{key}.type"), "required string"))
                } else {
                    Ok(t.to_string())
                }
            };
            let att = match (&a.intoto, &a.referrer) {
                (Some(t), None) => IvpAttestation::Intoto(typ(&t.type_, "intoto")?),
                (None, Some(t)) => IvpAttestation::Referrer(typ(&t.type_, "referrer")?),
                _ => return Err(doc.err(&f, "exactly one of intoto or referrer is required")),
            };
            attestations.insert(a.name.clone(), att);
            attestation_vals.push((a.name.clone(), CelValue::String(Arc::new(a.name.clone()))));
        }
        let vc = spec.validation_configurations.clone().unwrap_or_default();
        let validations = compile_validations(env, doc, &spec.validations)?;
        let (constraints, match_conditions, variables) = compile_selection(
            env,
            doc,
            spec.match_constraints.as_ref(),
            &spec.match_conditions,
            &spec.variables,
        )?;
        Ok(ImageValidatingPolicy {
            name,
            failure_policy: spec.failure_policy.unwrap_or(FailurePolicy::Fail),
            actions: parse_actions(&spec.validation_actions),
            mutate_digest: vc.mutate_digest.unwrap_or(defaults::MUTATE_DIGEST),
            verify_digest: vc.verify_digest.unwrap_or(defaults::VERIFY_DIGEST),
            required: vc.required.unwrap_or(defaults::REQUIRED),
            constraints,
            match_conditions,
            variables,
            validations,
            attestors_value: cel_map(attestor_vals),
            attestations_value: cel_map(attestation_vals),
            data: Arc::new(IvpData {
                env: env.clone(),
                matchers,
                attestors,
                attestations,
            }),
        })
    }

    /// Whether the policy applies (matchConstraints + matchConditions); Err on condition errors
    /// with failurePolicy Fail.
    fn applies(
        &self,
        env: &Arc<Env>,
        req: &AdmissionRequest,
        inputs: &CelInputs,
    ) -> Result<bool, String> {
        if !self.constraints.matches(req) {
            return Ok(false);
        }
        if self.match_conditions.is_empty() {
            return Ok(true);
        }
        let ctx = inputs.context(env);
        eval_match_conditions(&self.match_conditions, &ctx, self.failure_policy)
    }

    fn excepted(
        &self,
        env: &Arc<Env>,
        inputs: &CelInputs,
        excs: &[CelPolicyException],
        now: DateTime<Utc>,
    ) -> Vec<String> {
        if !excs.iter().any(|e| {
            e.refers_to(
                &self.name,
                &["ImageValidatingPolicy", "NamespacedImageValidatingPolicy"],
            )
        }) {
            return vec![];
        }
        let ctx = inputs.context(env);
        matching_exceptions(
            excs,
            &self.name,
            &["ImageValidatingPolicy", "NamespacedImageValidatingPolicy"],
            &ctx,
            now,
        )
    }

    /// Mutating webhook: digest pinning. Returns patches and an optional error outcome.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn mutate_digest(
        &self,
        env: &Arc<Env>,
        req: &AdmissionRequest,
        inputs: &CelInputs,
        object: &Value,
        excs: &[CelPolicyException],
        now: DateTime<Utc>,
        verifier: &dyn EvidenceVerifier,
    ) -> (Vec<Value>, Option<CelOutcome>) {
        if !self.mutate_digest {
            return (vec![], None);
        }
        match self.applies(env, req, inputs) {
            Ok(true) => {}
            Ok(false) => return (vec![], None),
            Err(e) => {
                return (
                    vec![],
                    Some(CelOutcome {
                        status: RuleStatus::Error,
                        message: format!("failed to update digest: {e}"),
                    }),
                );
            }
        }
        if !self.excepted(env, inputs, excs, now).is_empty() {
            return (vec![], None);
        }
        let mut patches = Vec::new();
        let mut errs = Vec::new();
        for pi in pod_images(object) {
            let Ok(info) = &pi.parsed else { continue };
            if info.digest.is_some() {
                continue;
            }
            let image = info.normalized();
            match self.data.image_matches(&image) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    errs.push(e);
                    continue;
                }
            }
            match verifier.resolve_digest(info) {
                Ok(d) => patches.push(
                    json!({"op": "replace", "path": pi.pointer, "value": format!("{image}@{d}")}),
                ),
                Err(e) => errs.push(format!("failed to resolve digest for image {image}: {e}")),
            }
        }
        let outcome = (!errs.is_empty()).then(|| CelOutcome {
            status: RuleStatus::Error,
            message: format!("failed to update digest: {}", errs.join("; ")),
        });
        (patches, outcome)
    }

    /// Validating webhook. Returns the outcome and the matched raw images (for `required`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn evaluate(
        &self,
        env: &Arc<Env>,
        req: &AdmissionRequest,
        inputs: &CelInputs,
        object: &Value,
        excs: &[CelPolicyException],
        now: DateTime<Utc>,
        shared: &Arc<IvpShared>,
    ) -> Option<(CelOutcome, Vec<String>)> {
        match self.applies(env, req, inputs) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                return Some((
                    CelOutcome {
                        status: RuleStatus::Error,
                        message: format!("failed to evaluate policy: {e}"),
                    },
                    vec![],
                ));
            }
        }
        let keys = self.excepted(env, inputs, excs, now);
        if !keys.is_empty() {
            return Some((
                CelOutcome {
                    status: RuleStatus::Skip,
                    message: format!(
                        "rule is skipped due to policy exception: {}",
                        keys.join(", ")
                    ),
                },
                vec![],
            ));
        }
        let mut by_kind: BTreeMap<ContainerKind, Vec<CelValue>> =
            ContainerKind::ALL.iter().map(|k| (*k, vec![])).collect();
        let mut matched = Vec::new();
        for pi in pod_images(object) {
            match self.data.image_matches(&pi.raw) {
                Ok(true) => {
                    by_kind
                        .entry(pi.kind)
                        .or_default()
                        .push(CelValue::String(Arc::new(pi.raw.clone())));
                    matched.push(pi.raw.clone());
                }
                Ok(false) => {}
                Err(e) => {
                    return Some((
                        CelOutcome {
                            status: RuleStatus::Error,
                            message: format!("failed to evaluate policy: {e}"),
                        },
                        vec![],
                    ));
                }
            }
        }
        if self.verify_digest {
            for img in &matched {
                match ImageRef::kyverno(img) {
                    Ok(r) if r.digest.is_some() => {}
                    Ok(_) => {
                        return Some((
                            CelOutcome {
                                status: RuleStatus::Fail,
                                message: format!("image {img} does not have a digest"),
                            },
                            matched.clone(),
                        ));
                    }
                    Err(e) => {
                        return Some((
                            CelOutcome {
                                status: RuleStatus::Error,
                                message: format!(
                                    "failed to evaluate policy: failed to parse image reference {img}: {e}"
                                ),
                            },
                            vec![],
                        ));
                    }
                }
            }
        }
        let mut ctx = inputs.context(env);
        ctx.add_variable_from_value(
            "images",
            cel_map(
                by_kind
                    .into_iter()
                    .map(|(k, v)| (k.field().to_string(), CelValue::List(Arc::new(v))))
                    .collect(),
            ),
        );
        ctx.add_variable_from_value("attestors", self.attestors_value.clone());
        ctx.add_variable_from_value("attestations", self.attestations_value.clone());
        register_functions(&mut ctx, &self.data, shared);
        if let Err(e) = bind_variables(&self.variables, &mut ctx) {
            return Some((
                CelOutcome {
                    status: RuleStatus::Error,
                    message: e,
                },
                matched,
            ));
        }
        Some((run_validations(&self.validations, &ctx), matched))
    }
}

/// Request-scoped verification state shared by every IVP (Kyverno `ImageVerificationResults`).
pub(crate) struct IvpShared {
    pub verifier: Arc<dyn EvidenceVerifier>,
    pub error_mode: IvpVerifierErrorMode,
    /// raw image → (verified, attempted)
    pub status: Mutex<HashMap<String, (bool, bool)>>,
    /// (raw image, attestation name) → verified in-toto statement
    pub payloads: Mutex<HashMap<(String, String), Arc<Value>>>,
    /// verifier errors seen (always recorded, whatever the mode)
    pub errors: Mutex<Vec<String>>,
}

impl IvpShared {
    pub fn new(verifier: Arc<dyn EvidenceVerifier>, error_mode: IvpVerifierErrorMode) -> Self {
        IvpShared {
            verifier,
            error_mode,
            status: Mutex::new(HashMap::new()),
            payloads: Mutex::new(HashMap::new()),
            errors: Mutex::new(Vec::new()),
        }
    }

    fn mark(&self, image: &str, verified: bool) {
        if let Ok(mut s) = self.status.lock() {
            let e = s.entry(image.to_string()).or_insert((false, false));
            e.1 = true;
            e.0 |= verified;
        }
    }

    pub fn image_status(&self, image: &str) -> (bool, bool) {
        self.status
            .lock()
            .ok()
            .and_then(|s| s.get(image).copied())
            .unwrap_or((false, false))
    }
}

fn fn_err(name: &str, msg: impl ToString) -> ExecutionError {
    ExecutionError::function_error(name, msg)
}

/// `insecureIgnoreTlog` on the attestor (IVP `cosign.ctlog`).
fn ignores_tlog(spec: &AttestorSpec) -> bool {
    let rekor = match spec {
        AttestorSpec::Keys { rekor, .. }
        | AttestorSpec::Keyless { rekor, .. }
        | AttestorSpec::Certificates { rekor, .. } => rekor,
        AttestorSpec::Notary { .. } => return false,
    };
    rekor.as_ref().is_some_and(|r| r.ignore_tlog)
}

/// Verifies `image` against each attestor; returns the number that verified.
fn count_verified(
    data: &IvpData,
    shared: &IvpShared,
    fname: &str,
    image: &str,
    attestors: Result<Vec<String>, ExecutionError>,
    attestation: Option<&str>,
) -> Result<i64, ExecutionError> {
    if !data.image_matches(image).map_err(|e| fn_err(fname, e))? {
        return Ok(0);
    }
    let info = ImageRef::kyverno(image).map_err(|e| fn_err(fname, e))?;
    let (att_name, predicate) = match attestation {
        None => (None, None),
        Some(a) => match data.attestations.get(a) {
            Some(IvpAttestation::Intoto(t)) | Some(IvpAttestation::Referrer(t)) => {
                (Some(a), Some(t.clone()))
            }
            None => return Err(fn_err(fname, format!("unknown attestation {a:?}"))),
        },
    };
    let mut count = 0i64;
    for name in attestors? {
        let Some(att) = data.attestors.get(&name) else {
            return Err(fn_err(fname, format!("unknown attestor {name:?}")));
        };
        let v = match &predicate {
            None => shared
                .verifier
                .verify_signature(&info, &att.spec, att.repository.as_deref()),
            Some(t) => {
                shared
                    .verifier
                    .verify_attestation(&info, t, &att.spec, att.repository.as_deref())
            }
        };
        match v {
            // Kyverno's IVP cosign verifier refuses an attestation cosign
            // reports as `bundleVerified=false` ("cosign bundle verification
            // failed", pkg/image/verifiers/ivpol/cosign/verifier.go:161-164):
            // a legacy `.att` attestation verified with `insecureIgnoreTlog`
            // (cosign v3 pkg/cosign/verify.go:831 skips the tlog, so nothing
            // is "bundle verified"). Signatures tolerate it (:105-111).
            Verification::Verified { bundle: false, .. }
                if predicate.is_some() && ignores_tlog(&att.spec) => {}
            Verification::Verified {
                identities,
                payloads,
                ..
            } => {
                let ok = match &att.spec {
                    AttestorSpec::Keyless {
                        identities: exp, ..
                    } => match_cosign_identity(exp, &identities),
                    _ => true,
                };
                if ok {
                    count += 1;
                    if let (Some(a), Some(t)) = (att_name, &predicate) {
                        let stmt = payloads
                            .iter()
                            .find(|p| {
                                p.get("predicateType").and_then(Value::as_str) == Some(t.as_str())
                            })
                            .or(payloads.first())
                            .cloned()
                            .unwrap_or_else(|| Arc::new(Value::Null));
                        if let Ok(mut p) = shared.payloads.lock() {
                            p.insert((image.to_string(), a.to_string()), stmt);
                        }
                    }
                }
            }
            Verification::Refused { .. } => {}
            Verification::Error { reason } => {
                let msg = format!("failed to verify image {image} with attestor {name}: {reason}");
                if let Ok(mut e) = shared.errors.lock() {
                    e.push(msg.clone());
                }
                if shared.error_mode == IvpVerifierErrorMode::PolicyError {
                    shared.mark(image, false);
                    return Err(fn_err(fname, msg));
                }
            }
        }
    }
    shared.mark(image, count > 0);
    Ok(count)
}

fn register_functions(ctx: &mut Context<'_, '_>, data: &Arc<IvpData>, shared: &Arc<IvpShared>) {
    // The arguments are read where they lie: an `[attestors.x]` list holds
    // whole attestor maps, which converting to `Value` would copy on every
    // call (the warm admission decision's largest cost).
    let (d, s) = (data.clone(), shared.clone());
    let _ = ctx.add_function(
        "verifyImageSignatures",
        move |ftx: &cel::FunctionContext| -> cel::ResolveResult {
            const F: &str = "verifyImageSignatures";
            let image = arg_string(ftx, 0, F)?;
            let attestors = arg_attestor_names(ftx, 1, F)?;
            count_verified(&d, &s, F, &image, attestors, None).map(CelValue::Int)
        },
    );
    let (d, s) = (data.clone(), shared.clone());
    let _ = ctx.add_function(
        "verifyAttestationSignatures",
        move |ftx: &cel::FunctionContext| -> cel::ResolveResult {
            const F: &str = "verifyAttestationSignatures";
            let image = arg_string(ftx, 0, F)?;
            let attestation = arg_string(ftx, 1, F)?;
            let attestors = arg_attestor_names(ftx, 2, F)?;
            count_verified(&d, &s, F, &image, attestors, Some(&attestation)).map(CelValue::Int)
        },
    );
    let s = shared.clone();
    let _ = ctx.add_function("extractPayload", move |image: Arc<String>, attestation: Arc<String>| -> cel::ResolveResult {
        let p = s.payloads.lock().ok().and_then(|p| p.get(&(image.to_string(), attestation.to_string())).cloned());
        match p {
            Some(v) => Ok(json_to_cel(&v)),
            None => Err(fn_err("extractPayload", "intoto attestation payload cannot be fetch before verifying intoto attestation")),
        }
    });
}

/// The argument `i` of a call, as CEL evaluated it.
fn arg<'a, 'c, 'l>(
    ftx: &'a cel::FunctionContext<'c, 'l>,
    i: usize,
) -> Result<&'a (dyn cel::common::value::Val + 'l), ExecutionError> {
    ftx.args
        .get(i)
        .map(|v| v.as_ref())
        .ok_or_else(|| ExecutionError::invalid_argument_count(i + 1, ftx.args.len()))
}

/// A string argument.
fn arg_string(ftx: &cel::FunctionContext, i: usize, fname: &str) -> Result<String, ExecutionError> {
    use cel::common::value::FromVal as _;
    let v = arg(ftx, i)?;
    cel::common::types::CelString::from_val(v)
        .map(|s| s.inner().to_owned())
        .ok_or_else(|| {
            fn_err(
                fname,
                format!("argument {} must be a string, got {v:?}", i + 1),
            )
        })
}

/// The `name` of every attestor in a list argument (`[attestors.x, ...]`).
/// An argument that is no list fails the call at once; an element that is
/// no attestor fails it only once the image matches (the inner result), as
/// when the list was converted whole.
fn arg_attestor_names(
    ftx: &cel::FunctionContext,
    i: usize,
    fname: &str,
) -> Result<Result<Vec<String>, ExecutionError>, ExecutionError> {
    use cel::common::value::FromVal as _;
    let list = arg(ftx, i)?;
    let items = list.as_iterable().ok_or_else(|| {
        fn_err(
            fname,
            format!("argument {} must be a list of attestors", i + 1),
        )
    })?;
    let key = cel::common::types::CelString::from("name");
    let mut names = Vec::new();
    let mut it = items.iter();
    while let Some(a) = it.next() {
        let name = a
            .as_indexer()
            .and_then(|ix| ix.get(&key).ok())
            .and_then(|n| {
                cel::common::types::CelString::from_val(n.as_ref()).map(|s| s.inner().to_owned())
            });
        match name {
            Some(n) => names.push(n),
            None => {
                return Ok(Err(fn_err(
                    fname,
                    "attestor must be an attestors.<name> value",
                )));
            }
        }
    }
    Ok(Ok(names))
}

pub(crate) fn cel_result(
    policy: &str,
    kind: PolicyKind,
    o: &CelOutcome,
    phase: Phase,
    action: Action,
) -> RuleResult {
    RuleResult {
        policy: policy.to_string(),
        policy_kind: kind,
        rule: policy.to_string(),
        status: o.status,
        message: o.message.clone(),
        phase,
        action,
        image: None,
    }
}
