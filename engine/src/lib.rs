//! Embedded Kyverno 1.19 admission engine for Pods.
//!
//! Compile a policy set once with [`CompiledPolicySet::compile`], then call
//! [`CompiledPolicySet::evaluate`] per admission request. See `SEMANTICS.md` beside this file for the semantics and
//! every known difference from Kyverno.

#![forbid(unsafe_code)]

pub mod celpol;
pub mod conditions;
pub mod cpol;
pub mod decision;
pub mod error;
pub mod image;
pub mod ivcache;
pub mod ivm;
pub mod pattern;
pub mod request;
pub mod selector;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod util;
pub use trustswap_model::wildcard;
pub mod verifier;

pub use celpol::{
    CelPolicyException, ImageValidatingPolicy, IvpVerifierErrorMode, ValidatingPolicy,
};
pub use cpol::{ClusterPolicy, FailurePolicy, PolicyExceptionV2};
pub use decision::{
    Action, Decision, Denial, IgnoredError, Phase, PolicyKind, ReportEntry, RuleResult, RuleStatus,
};
pub use error::{PolicyError, PolicyErrorKind, RequestError};
pub use image::{ContainerKind, ImageRef};
pub use ivcache::VerificationCache;
pub use request::{AdmissionRequest, Operation, UserInfo};
#[cfg(any(test, feature = "testing"))]
pub use testing::{FakeAttestation, FakeImage, FakeSigner, FakeVerifier};
pub use verifier::{
    AttestorSpec, CtlogSpec, EvidenceVerifier, IdentitySpec, RekorSpec, ResolveError,
    SignerIdentity, Verification,
};

use celpol::{CelInputs, IvpShared, cel_result};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Kyverno's PolicyException feature flags (`--enablePolicyException`,
/// `--exceptionNamespace`: `cmd/internal/flag.go:139-140`). Off by default,
/// in Kyverno's binary as in its Helm chart (`features.policyExceptions`),
/// and then every PolicyException is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExceptionSettings {
    pub enabled: bool,
    /// `--exceptionNamespace`: where kyverno.io/v2 exceptions are read from
    /// (`*`: every namespace; empty: none, however `enabled` is set).
    pub namespace: String,
}

impl ExceptionSettings {
    /// `--enablePolicyException=true --exceptionNamespace=*`.
    pub fn every_namespace() -> Self {
        ExceptionSettings {
            enabled: true,
            namespace: "*".into(),
        }
    }

    /// Why Kyverno does not read a kyverno.io/v2 PolicyException in
    /// `namespace`, if it does not: the feature off or no exception
    /// namespace (`cmd/internal/engine.go:63-69` builds no exception
    /// selector), or another namespace
    /// (`pkg/controllers/exceptions/controller.go:139-143`).
    pub fn refuses_v2(&self, namespace: &str) -> Option<String> {
        if !self.enabled {
            Some("Kyverno runs with --enablePolicyException=false (its default)".into())
        } else if self.namespace.is_empty() {
            Some("Kyverno runs without --exceptionNamespace, so it reads no kyverno.io/v2 PolicyException".into())
        } else if self.namespace != "*" && self.namespace != namespace {
            Some(format!(
                "Kyverno reads PolicyExceptions from namespace {:?} only (--exceptionNamespace)",
                self.namespace
            ))
        } else {
            None
        }
    }

    /// Why Kyverno does not read a CEL PolicyException in `namespace`, if it
    /// does not: the feature off (`cmd/kyverno/main.go:752-758`, the policy
    /// providers list no exception), or another namespace
    /// (`pkg/cel/engine/exception.go:54`: empty or `*` reads every one).
    pub fn refuses_cel(&self, namespace: &str) -> Option<String> {
        if !self.enabled {
            Some("Kyverno runs with --enablePolicyException=false (its default)".into())
        } else if !self.namespace.is_empty() && self.namespace != "*" && self.namespace != namespace
        {
            Some(format!(
                "Kyverno reads PolicyExceptions from namespace {:?} only (--exceptionNamespace)",
                self.namespace
            ))
        } else {
            None
        }
    }
}

/// Engine options.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// How IVP verify functions treat a verifier `Error` (default: Kyverno's behaviour).
    pub ivp_verifier_errors: IvpVerifierErrorMode,
    /// Namespaces never admitted to policy evaluation (Kyverno's `resourceFilters` /
    /// webhook namespaceSelector configuration). Empty by default.
    pub excluded_namespaces: Vec<String>,
    /// Kyverno's ClusterPolicy image verification cache, shared across
    /// evaluations ([`ivcache`]). `None`: every evaluation verifies afresh
    /// (Kyverno with `--imageVerifyCacheEnabled=false`).
    pub verification_cache: Option<Arc<VerificationCache>>,
    /// A Kyverno field the engine does not model is recorded
    /// ([`CompiledPolicySet::ignored`]) and compiled as if absent, instead of
    /// refusing the document (`--allow-unmodelled`). The decisions are then
    /// the engine's without that field, which Kyverno's may not be.
    pub allow_unmodelled: bool,
    /// Which PolicyExceptions Kyverno reads; the others are compiled (so
    /// that their errors show), listed by
    /// [`CompiledPolicySet::unread_exceptions`], and never applied.
    pub exceptions: ExceptionSettings,
}

/// A compiled set of policies and exceptions.
pub struct CompiledPolicySet {
    env: Arc<cel::Env>,
    cluster_policies: Vec<ClusterPolicy>,
    exceptions_v2: Vec<PolicyExceptionV2>,
    ivps: Vec<ImageValidatingPolicy>,
    vps: Vec<ValidatingPolicy>,
    cel_exceptions: Vec<CelPolicyException>,
    options: EngineOptions,
    ignored: Vec<PolicyError>,
    unread_exceptions: Vec<(String, String)>,
}

impl std::fmt::Debug for CompiledPolicySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPolicySet")
            .field(
                "cluster_policies",
                &self
                    .cluster_policies
                    .iter()
                    .map(|p| &p.name)
                    .collect::<Vec<_>>(),
            )
            .field(
                "image_validating_policies",
                &self.ivps.iter().map(|p| &p.name).collect::<Vec<_>>(),
            )
            .field(
                "validating_policies",
                &self.vps.iter().map(|p| &p.name).collect::<Vec<_>>(),
            )
            .field("exceptions_v2", &self.exceptions_v2.len())
            .field("cel_exceptions", &self.cel_exceptions.len())
            .finish()
    }
}

impl CompiledPolicySet {
    /// Compiles policy documents (as parsed from YAML). Unknown kinds are an error.
    pub fn compile(docs: &[Value]) -> Result<CompiledPolicySet, PolicyError> {
        Self::compile_with(docs, EngineOptions::default())
    }

    pub fn compile_with(
        docs: &[Value],
        options: EngineOptions,
    ) -> Result<CompiledPolicySet, PolicyError> {
        let env = Arc::new(cel::Env::stdlib());
        let mut set = CompiledPolicySet {
            env: env.clone(),
            cluster_policies: vec![],
            exceptions_v2: vec![],
            ivps: vec![],
            vps: vec![],
            cel_exceptions: vec![],
            options,
            ignored: vec![],
            unread_exceptions: vec![],
        };
        let ignored = std::cell::RefCell::new(Vec::new());
        for (i, d) in docs.iter().enumerate() {
            let label = util::doc_label(d, i);
            let doc = if set.options.allow_unmodelled {
                util::Doc::lenient(&label, &ignored)
            } else {
                util::Doc::strict(&label)
            };
            let api = d
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let kind = d.get("kind").and_then(Value::as_str).unwrap_or_default();
            let group = api.split('/').next().unwrap_or_default();
            match (group, kind) {
                ("kyverno.io", "ClusterPolicy")
                    if api == "kyverno.io/v1" || api == "kyverno.io/v2beta1" =>
                {
                    // a policy with `spec.admission: false` is compiled (so
                    // that errors show) but never evaluated at admission:
                    // pkg/controllers/policycache/controller.go:121 leaves it
                    // out of the policy cache
                    let p = ClusterPolicy::compile(d, &doc)?;
                    if p.admission {
                        set.cluster_policies.push(p)
                    }
                }
                ("kyverno.io", "PolicyException")
                    if api == "kyverno.io/v2" || api == "kyverno.io/v2beta1" =>
                {
                    let e = PolicyExceptionV2::compile(d, &doc)?;
                    match set.options.exceptions.refuses_v2(&e.namespace) {
                        None => set.exceptions_v2.push(e),
                        Some(why) => set.unread_exceptions.push((label.clone(), why)),
                    }
                }
                ("policies.kyverno.io", _) => {
                    let version = api.split('/').nth(1).unwrap_or_default();
                    if !["v1", "v1beta1", "v1alpha1"].contains(&version) {
                        return Err(PolicyError::new(
                            &label,
                            "apiVersion",
                            format!("unsupported version {api:?}"),
                        ));
                    }
                    match kind {
                        "ImageValidatingPolicy" => set
                            .ivps
                            .push(ImageValidatingPolicy::compile(&env, d, &doc)?),
                        "ValidatingPolicy" => {
                            set.vps.push(ValidatingPolicy::compile(&env, d, &doc)?)
                        }
                        "PolicyException" => {
                            let e = CelPolicyException::compile(&env, d, &doc)?;
                            match set.options.exceptions.refuses_cel(&e.namespace) {
                                None => set.cel_exceptions.push(e),
                                Some(why) => set.unread_exceptions.push((label.clone(), why)),
                            }
                        }
                        // Kyverno 1.19 admission kinds the engine does not
                        // evaluate: unmodelled, not invalid
                        "MutatingPolicy"
                        | "GeneratingPolicy"
                        | "NamespacedValidatingPolicy"
                        | "NamespacedImageValidatingPolicy"
                        | "NamespacedMutatingPolicy"
                        | "NamespacedGeneratingPolicy" => {
                            doc.refuse_unmodelled(&[(true, "kind")])?
                        }
                        _ => {
                            return Err(PolicyError::new(
                                &label,
                                "kind",
                                format!("unsupported kind {kind:?} in {api}"),
                            ));
                        }
                    }
                }
                ("kyverno.io", "Policy")
                    if api == "kyverno.io/v1" || api == "kyverno.io/v2beta1" =>
                {
                    doc.refuse_unmodelled(&[(true, "kind")])?
                }
                _ => {
                    return Err(PolicyError::new(
                        &label,
                        "apiVersion/kind",
                        format!("unsupported document {api} {kind}"),
                    ));
                }
            }
        }
        set.ignored = ignored.into_inner();
        Ok(set)
    }

    /// The unmodelled fields compiled as if absent (only with
    /// [`EngineOptions::allow_unmodelled`]), in the order they were
    /// compiled (documents in order, a policy's fields before its rules'): each is a
    /// [`PolicyErrorKind::Unsupported`] error naming the document and field.
    pub fn ignored(&self) -> &[PolicyError] {
        &self.ignored
    }

    /// The PolicyExceptions Kyverno would not read under
    /// [`EngineOptions::exceptions`], as (document, why): compiled, never
    /// applied.
    pub fn unread_exceptions(&self) -> &[(String, String)] {
        &self.unread_exceptions
    }

    /// Evaluates one admission request. `now` is used for `expiresAt`; the wall clock is never read.
    pub fn evaluate(
        &self,
        req: &AdmissionRequest,
        now: DateTime<Utc>,
        verifier: &Arc<dyn EvidenceVerifier>,
    ) -> Decision {
        let mut d = Decision::admitted();
        if self
            .options
            .excluded_namespaces
            .iter()
            .any(|n| trustswap_model::wildcard::wildcard_match(n, &req.namespace))
        {
            return d;
        }
        let resource = json!({
            "apiVersion": req.subject().get("apiVersion").cloned().unwrap_or(json!("v1")),
            "kind": req.kind.2,
            "namespace": req.namespace,
            "name": req.name(),
        });
        let json_ctx = json!({
            "request": {
                "operation": req.operation.as_str(),
                "namespace": req.namespace,
                "object": req.object,
                "oldObject": req.old_object,
                "userInfo": req.raw.get("userInfo").cloned().unwrap_or(Value::Null),
            }
        });
        let cx = cpol::CpolCtx {
            req,
            verifier: verifier.as_ref(),
            exceptions: &self.exceptions_v2,
            json_ctx: &json_ctx,
            now,
            cache: self.options.verification_cache.as_deref(),
        };

        // ---- mutating webhook: ClusterPolicy verifyImages
        let mut state = cpol::CpolState::default();
        let mut mutate_results = Vec::new();
        for p in &self.cluster_policies {
            p.mutate(&cx, &mut state, &mut mutate_results);
        }
        let blocked = self.cpol_block(req, &mutate_results, "mutate.kyverno.svc-fail", &mut d);
        d.results.extend(mutate_results);
        if blocked {
            return finish(d, &resource);
        }
        let mut object = req.subject().clone();
        // The verification metadata's annotations go first
        // (`imageverification/handler.go:131-139`), then the digest pins.
        if !state.ivm.is_empty() {
            d.patches.extend(state.ivm.patches(&object));
        }
        d.patches.extend(state.patches.iter().cloned());
        apply_patches(&mut object, &d.patches);

        // ---- mutating webhook: IVP digest pinning
        let inputs = CelInputs::new(req, &object);
        let mut seen = std::collections::HashSet::new();
        let mut ivp_mut_denials = Vec::new();
        let mut ivp_patches = Vec::new();
        for p in &self.ivps {
            let (patches, outcome) = p.mutate_digest(
                &self.env,
                req,
                &inputs,
                &object,
                &self.cel_exceptions,
                now,
                verifier.as_ref(),
            );
            for patch in patches {
                if seen.insert(patch["path"].as_str().unwrap_or_default().to_string()) {
                    ivp_patches.push(patch);
                }
            }
            if let Some(o) = outcome {
                self.record_cel(
                    &mut d,
                    p.name.as_str(),
                    PolicyKind::ImageValidatingPolicy,
                    &p.actions,
                    p.failure_policy,
                    &o,
                    Phase::Mutate,
                    &mut ivp_mut_denials,
                );
            }
        }
        d.patches.extend(ivp_patches.iter().cloned());
        if !ivp_mut_denials.is_empty() {
            d.denials.push(Denial {
                webhook: "ivpol.mutate.kyverno.svc-fail".into(),
                message: ivp_mut_denials.join("; "),
            });
            return finish(d, &resource);
        }
        let inputs = if ivp_patches.is_empty() {
            inputs
        } else {
            apply_patches(&mut object, &ivp_patches);
            CelInputs::new(req, &object)
        };

        // ---- validating webhooks
        let mut validate_results = Vec::new();
        for p in &self.cluster_policies {
            p.validate(&cx, &object, &mut validate_results);
        }
        self.cpol_block(req, &validate_results, "validate.kyverno.svc-fail", &mut d);
        d.results.extend(validate_results);

        let mut vp_denials = Vec::new();
        for p in &self.vps {
            if let Some(o) = p.evaluate(&self.env, req, &inputs, &self.cel_exceptions, now) {
                self.record_cel(
                    &mut d,
                    &p.name,
                    PolicyKind::ValidatingPolicy,
                    &p.actions,
                    p.failure_policy,
                    &o,
                    Phase::ValidatingPolicy,
                    &mut vp_denials,
                );
            }
        }
        if !vp_denials.is_empty() {
            d.denials.push(Denial {
                webhook: "vpol.validate.kyverno.svc-fail".into(),
                message: vp_denials.join("; "),
            });
        }

        let shared = Arc::new(IvpShared::new(
            verifier.clone(),
            self.options.ivp_verifier_errors,
        ));
        let mut outcomes = Vec::new();
        for p in &self.ivps {
            if let Some((o, matched)) = p.evaluate(
                &self.env,
                req,
                &inputs,
                &object,
                &self.cel_exceptions,
                now,
                &shared,
            ) {
                outcomes.push((p, o, matched));
            }
        }
        // required: enforced after every IVP has contributed its verifications
        for (p, o, matched) in outcomes.iter_mut() {
            if o.status != RuleStatus::Pass || !p.required {
                continue;
            }
            for img in matched.iter() {
                let (verified, attempted) = shared.image_status(img);
                if verified {
                    continue;
                }
                o.status = RuleStatus::Fail;
                o.message = if attempted {
                    format!("image {img} failed signature or attestation verification")
                } else {
                    format!(
                        "image {img} is not verified: no policy performed a signature or attestation check on it"
                    )
                };
                break;
            }
        }
        let mut ivp_denials = Vec::new();
        for (p, o, _) in &outcomes {
            self.record_cel(
                &mut d,
                &p.name,
                PolicyKind::ImageValidatingPolicy,
                &p.actions,
                p.failure_policy,
                o,
                Phase::ImageValidatingPolicy,
                &mut ivp_denials,
            );
        }
        if !ivp_denials.is_empty() {
            d.denials.push(Denial {
                webhook: "ivpol.validate.kyverno.svc-fail".into(),
                message: ivp_denials.join("; "),
            });
        }
        finish(d, &resource)
    }

    /// Kyverno `BlockRequest` + `GetBlockedMessages` for one ClusterPolicy webhook phase.
    fn cpol_block(
        &self,
        req: &AdmissionRequest,
        results: &[RuleResult],
        webhook: &str,
        d: &mut Decision,
    ) -> bool {
        let fp_of = |name: &str| {
            self.cluster_policies
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.failure_policy)
                .unwrap_or(FailurePolicy::Fail)
        };
        let mut blocked = false;
        let mut failures: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for r in results {
            match r.status {
                RuleStatus::Fail | RuleStatus::Warn => {
                    if r.status == RuleStatus::Fail && r.action == Action::Enforce {
                        blocked = true;
                    }
                }
                RuleStatus::Error => {
                    if fp_of(&r.policy) == FailurePolicy::Fail {
                        blocked = true;
                    } else {
                        d.ignored_errors.push(IgnoredError {
                            policy: r.policy.clone(),
                            rule: r.rule.clone(),
                            message: r.message.clone(),
                        });
                    }
                }
                _ => continue,
            }
            failures
                .entry(r.policy.clone())
                .or_default()
                .insert(r.rule.clone(), r.message.clone());
        }
        if blocked {
            d.denials.push(Denial {
                webhook: webhook.to_string(),
                message: decision::blocked_message(&req.resource_key(), &failures),
            });
        }
        blocked
    }

    #[allow(clippy::too_many_arguments)]
    fn record_cel(
        &self,
        d: &mut Decision,
        name: &str,
        kind: PolicyKind,
        actions: &[Action],
        fp: FailurePolicy,
        o: &celpol::CelOutcome,
        phase: Phase,
        denials: &mut Vec<String>,
    ) {
        let primary = if actions.contains(&Action::Enforce) {
            Action::Enforce
        } else if actions.contains(&Action::Warn) {
            Action::Warn
        } else {
            Action::Audit
        };
        d.results.push(cel_result(name, kind, o, phase, primary));
        let verb = match o.status {
            RuleStatus::Fail => "failed",
            RuleStatus::Error => "error",
            _ => return,
        };
        let text = format!("Policy {name} {verb}: {}", o.message);
        if o.status == RuleStatus::Error && fp == FailurePolicy::Ignore {
            d.ignored_errors.push(IgnoredError {
                policy: name.to_string(),
                rule: name.to_string(),
                message: o.message.clone(),
            });
            return;
        }
        if actions.contains(&Action::Enforce) {
            denials.push(text.clone());
        }
        if actions.contains(&Action::Warn) {
            d.warnings.push(text);
        }
    }
}

fn finish(mut d: Decision, resource: &Value) -> Decision {
    d.allowed = d.denials.is_empty();
    d.message = d.denials.first().map(|x| x.message.clone());
    let ignored: Vec<(String, String)> = d
        .ignored_errors
        .iter()
        .map(|e| (e.policy.clone(), e.rule.clone()))
        .collect();
    for r in &d.results {
        let reportable = match r.status {
            RuleStatus::Fail | RuleStatus::Warn => r.action != Action::Enforce,
            RuleStatus::Error => {
                ignored.contains(&(r.policy.clone(), r.rule.clone())) || r.action != Action::Enforce
            }
            _ => false,
        };
        if reportable {
            d.report.push(ReportEntry {
                policy: r.policy.clone(),
                rule: r.rule.clone(),
                result: r.status,
                message: r.message.clone(),
                resource: resource.clone(),
            });
        }
    }
    d
}

/// Applies the engine's JSON patches (RFC 6902 `add` and `replace`), each on
/// its own: one whose path is missing is left out, as before.
pub fn apply_patches(obj: &mut Value, patches: &[Value]) {
    for p in patches {
        let Ok(op) = serde_json::from_value::<json_patch::PatchOperation>(p.clone()) else {
            continue;
        };
        let _ = json_patch::patch(obj, &[op]);
    }
}
