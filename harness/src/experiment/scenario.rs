//! Hypothesis files (`scenarios/<id>.yaml`): the raw YAML, then a validated
//! plan. Steps are a closed, typed set; an unknown step, an unknown fixture
//! variant, a bad duration or an expectation that cannot be evaluated is
//! rejected before anything runs, naming the file, the step and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::policy::Engine;
use crate::policy::kyverno::FailurePolicy;
use crate::policy::kyverno::cpol::FailureAction;

/// The lab's fixture variants a step may name.
pub const VARIANTS: [&str; 13] = [
    "good",
    "unsigned",
    "other-vendor",
    "foreign-ca",
    "tampered",
    "moved-tag",
    "sbom-missing",
    "sbom-other-identity",
    "expired-no-tlog",
    "rotated",
    "look-alike",
    "two-signers",
    "bundle-other-signer",
];

/// Drift-audit statuses an expectation may name: the drift audit's own
/// (`trustswap_drift::Status`), in its precedence order.
pub use crate::audit::drift::Status as AuditStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    SupplyChain,
    Trust,
    Enforcement,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppliesTo {
    #[default]
    All,
    Keyless,
    KeyBased,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Ordered steps with expectations.
    #[default]
    Steps,
    /// The policy-vendor x signer-vendor matrix: each vendor's policy must
    /// admit exactly its own signer's image (a diagonal matrix).
    Matrix,
}

/// How the scenario sets the vendor's identity matcher.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityMode {
    /// The profile's own identity (exact or anchored).
    #[default]
    Profile,
    /// A careless prefix match: `subject: https://github.com/<org>*` (ClusterPolicy
    /// wildcard) or an unanchored `subjectRegExp` (ImageValidatingPolicy).
    CarelessWildcard,
    /// Key-based: also trust the rotated-out key (a broad matcher after rotation).
    TrustRotatedKey,
}

/// Which certificate authorities the policy names as its trust root
/// (ClusterPolicy `keyless.roots`; an ImageValidatingPolicy carries the same
/// field, which Kyverno does not read: its TUF root decides).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrustRootMode {
    /// The lab's CA, which signs the vendor's fixtures.
    #[default]
    Lab,
    /// The lab's foreign CA, which signs only the `foreign-ca` fixture.
    ForeignCa,
}

impl TrustRootMode {
    pub fn is_lab(&self) -> bool {
        *self == TrustRootMode::Lab
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContractPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_action: Option<FailureAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_policy: Option<FailurePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_sbom: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawScenario {
    id: String,
    title: String,
    layer: Layer,
    hypothesis: String,
    #[serde(default = "yes")]
    identical_across_vendors: bool,
    #[serde(default)]
    applies_to: AppliesTo,
    #[serde(default)]
    kind: Kind,
    #[serde(default)]
    setup: RawSetup,
    #[serde(default)]
    steps: Vec<RawStep>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSetup {
    #[serde(default)]
    contract: ContractPatch,
    #[serde(default)]
    identity: IdentityMode,
    #[serde(default)]
    trust_root: TrustRootMode,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawStep {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    admit: Option<RawPod>,
    #[serde(default)]
    bypass: Option<RawPod>,
    #[serde(default)]
    outage: Option<RawPod>,
    #[serde(default)]
    contract: Option<ContractPatch>,
    #[serde(default)]
    identity: Option<IdentityMode>,
    #[serde(default)]
    trust_root: Option<TrustRootMode>,
    #[serde(default)]
    exception: Option<RawException>,
    #[serde(default)]
    advance: Option<String>,
    #[serde(default)]
    repush: Option<String>,
    #[serde(default)]
    revoke: Option<Revocation>,
    #[serde(default)]
    audit: Option<RawAudit>,
    #[serde(default)]
    update: Option<RawUpdate>,
    #[serde(default)]
    expect: Option<RawExpect>,
}

/// `update: {pod, namespace, relabel: true | image: <variant> | debug: <variant>}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawUpdate {
    pod: String,
    #[serde(default = "default_namespace")]
    namespace: String,
    #[serde(default)]
    relabel: bool,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    debug: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPod {
    name: String,
    #[serde(default = "default_namespace")]
    namespace: String,
    #[serde(default = "default_team")]
    team: String,
    image: String,
    #[serde(default)]
    init_image: Option<String>,
}

fn default_namespace() -> String {
    "apps".into()
}

fn default_team() -> String {
    "payments".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawException {
    name: String,
    #[serde(default = "default_namespace")]
    namespace: String,
    /// Pod name glob the exception covers.
    pod: String,
    expires_in: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {}

/// Which signer is revoked (for the drift audit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Revocation {
    /// The key-based vendor's rotated-out key.
    RotatedKey,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawExpect {
    #[serde(default)]
    decision: Option<Outcome>,
    #[serde(default)]
    reported: Option<bool>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    findings: Option<BTreeMap<String, String>>,
    /// What the ClusterPolicy engine is expected to do instead (its fields
    /// replace the step's; findings are merged).
    #[serde(default)]
    cpol: Option<Box<RawExpect>>,
    /// The same for the ImageValidatingPolicy engine.
    #[serde(default)]
    ivpol: Option<Box<RawExpect>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Admitted,
    Denied,
}

/// An image chosen from the vendor's lab fixtures: a variant, and for
/// `moved-tag@previous` the digest the tag pointed at before the re-push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageSel {
    pub variant: String,
    pub previous: bool,
    /// By digest (`repository@sha256:...`) rather than by tag.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pinned: bool,
}

impl ImageSel {
    /// `signed`, `signed by digest`, `moved-tag@previous`.
    pub fn describe(&self) -> String {
        format!(
            "{}{}{}",
            self.variant,
            if self.previous { "@previous" } else { "" },
            if self.pinned { " by digest" } else { "" }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    pub name: String,
    pub namespace: String,
    pub team: String,
    pub image: ImageSel,
    pub init_image: Option<ImageSel>,
}

/// An UPDATE of a pod an earlier `admit` step of the run created: that step
/// stores the pod (a real backend creates it, not a dry run), and this one
/// sends the stored object, changed, as a dry-run UPDATE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Update {
    pub namespace: String,
    pub pod: String,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Change {
    /// A label added: no image changes (a controller's or `kubectl label`'s
    /// UPDATE).
    Relabel,
    /// The `app` container's image set to another fixture (`kubectl set image`).
    Image(ImageSel),
    /// An ephemeral container added through the `ephemeralcontainers`
    /// subresource (`kubectl debug`).
    Debug(ImageSel),
}

impl Change {
    pub fn describe(&self) -> String {
        match self {
            Change::Relabel => "relabelled".into(),
            Change::Image(sel) => format!("image set to {}", sel.describe()),
            Change::Debug(sel) => format!("debug container {}", sel.describe()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exception {
    pub name: String,
    pub namespace: String,
    pub pod: String,
    pub expires_in_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "step")]
pub enum Action {
    Admit {
        pod: Pod,
    },
    /// Created by a path that skips admission (a static pod, a controller with
    /// a bypass): the pod runs, nothing is verified.
    Bypass {
        pod: Pod,
    },
    /// Created while the admission webhook is down: `failurePolicy` decides.
    Outage {
        pod: Pod,
    },
    Contract {
        patch: ContractPatch,
    },
    Identity {
        mode: IdentityMode,
    },
    /// The policy names another trust root and is re-applied.
    TrustRoot {
        mode: TrustRootMode,
    },
    Exception {
        exception: Exception,
    },
    Advance {
        seconds: i64,
    },
    /// The vendor moves the `moved-tag` variant's tag to its new, unsigned digest.
    Repush {
        variant: String,
    },
    Revoke {
        revocation: Revocation,
    },
    Audit,
    Update {
        update: Update,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Expect {
    pub decision: Option<Outcome>,
    pub reported: Option<bool>,
    pub message: Option<String>,
    pub findings: BTreeMap<String, AuditStatus>,
    /// Per-engine overrides (`expect.cpol`, `expect.ivpol`): where the
    /// engines really decide differently (a Kyverno behaviour of one policy
    /// kind), the scenario says so rather than hiding it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub engines: BTreeMap<Engine, Expect>,
}

impl Expect {
    /// The expectation for `engine`: its override's fields over the step's.
    pub fn for_engine(&self, engine: Engine) -> Expect {
        let mut e = Expect {
            engines: BTreeMap::new(),
            ..self.clone()
        };
        if let Some(o) = self.engines.get(&engine) {
            // A different decision makes the step's message (a denial's text)
            // and report expectation meaningless: only the override's hold.
            if o.decision.is_some() && o.decision != self.decision {
                e.message = None;
                e.reported = None;
            }
            e.decision = o.decision.or(e.decision);
            e.reported = o.reported.or(e.reported);
            if o.message.is_some() {
                e.message = o.message.clone();
            }
            e.findings
                .extend(o.findings.iter().map(|(k, v)| (k.clone(), *v)));
        }
        e
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub label: String,
    pub action: Action,
    pub expect: Option<Expect>,
}

/// A validated hypothesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scenario {
    pub id: String,
    pub title: String,
    pub layer: Layer,
    pub hypothesis: String,
    pub identical_across_vendors: bool,
    pub applies_to: AppliesTo,
    pub kind: Kind,
    pub contract: ContractPatch,
    pub identity: IdentityMode,
    /// The certificate authorities the policies name at the start.
    #[serde(skip_serializing_if = "TrustRootMode::is_lab")]
    pub trust_root: TrustRootMode,
    pub steps: Vec<Step>,
    /// Edits of the rendered policies (the generated fidelity corpus).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<crate::experiment::patch::PolicyPatch>,
    #[serde(skip)]
    pub source: PathBuf,
}

/// The longest duration a scenario may name: 100 years. Longer ones (up to
/// overflowing `i64`) are not durations: the clock they advance must stay
/// representable.
pub const MAX_DURATION_SECONDS: i64 = 100 * 365 * 86400;

/// `30s`, `15m`, `2h`, `90d` (positive, at most [`MAX_DURATION_SECONDS`]).
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => return None,
    };
    n.checked_mul(mult)
        .filter(|t| n > 0 && *t <= MAX_DURATION_SECONDS)
}

struct Ctx<'a> {
    path: &'a Path,
}

impl Ctx<'_> {
    /// A step's expectation, with its per-engine overrides, checked against
    /// what the step (`kind`) can produce.
    fn expect(&self, e: RawExpect, kind: &str, f: &dyn Fn(&str) -> String) -> Result<Expect> {
        let mut engines = BTreeMap::new();
        for (engine, raw) in [(Engine::Cpol, e.cpol), (Engine::Ivpol, e.ivpol)] {
            let Some(raw) = raw else { continue };
            let field = f(&format!("expect.{}", engine.id()));
            if raw.cpol.is_some() || raw.ivpol.is_some() {
                return Err(self.err(
                    field,
                    "an engine's expectation cannot name engines again".into(),
                    "put `cpol:` / `ivpol:` directly under `expect`",
                ));
            }
            let sub = |s: &str| format!("{field}.{}", s.trim_start_matches("expect."));
            engines.insert(engine, self.expect_fields(*raw, kind, &sub, false)?);
        }
        let mut base = self.expect_fields(
            RawExpect {
                cpol: None,
                ivpol: None,
                ..e
            },
            kind,
            f,
            engines.len() < Engine::ALL.len(),
        )?;
        if matches!(kind, "admit" | "update" | "outage")
            && base.decision.is_none()
            && let Some((engine, _)) = engines.iter().find(|(_, o)| o.decision.is_none())
        {
            return Err(self.err(
                f(&format!("expect.{}.decision", engine.id())),
                "missing (the step names no decision for every engine)".into(),
                "say `decision: admitted` or `decision: denied`",
            ));
        }
        base.engines = engines;
        Ok(base)
    }

    fn expect_fields(
        &self,
        e: RawExpect,
        kind: &str,
        f: &dyn Fn(&str) -> String,
        needs_decision: bool,
    ) -> Result<Expect> {
        let decides = matches!(kind, "admit" | "update" | "outage");
        if (e.decision.is_some() || e.reported.is_some() || e.message.is_some()) && !decides {
            return Err(self.err(
                f("expect"),
                format!("a `{kind}` step has no admission decision to expect"),
                "expect `decision`/`reported`/`message` on admit or outage steps",
            ));
        }
        if e.findings.is_some() && kind != "audit" {
            return Err(self.err(
                f("expect.findings"),
                format!("a `{kind}` step produces no audit findings"),
                "expect `findings` on an audit step",
            ));
        }
        if decides && needs_decision && e.decision.is_none() {
            return Err(self.err(
                f("expect.decision"),
                "missing".into(),
                "say `decision: admitted` or `decision: denied`",
            ));
        }
        let mut findings = BTreeMap::new();
        for (pod, status) in e.findings.unwrap_or_default() {
            let Some(s) = AuditStatus::ALL.into_iter().find(|s| s.as_str() == status) else {
                let all: Vec<&str> = AuditStatus::ALL.iter().map(|s| s.as_str()).collect();
                return Err(self.err(
                    f(&format!("expect.findings.{pod}")),
                    format!("unknown audit status `{status}`"),
                    &format!("use one of: {}", all.join(", ")),
                ));
            };
            findings.insert(pod, s);
        }
        Ok(Expect {
            decision: e.decision,
            reported: e.reported,
            message: e.message,
            findings,
            engines: BTreeMap::new(),
        })
    }

    fn err(&self, field: String, message: String, hint: &str) -> Error {
        Error::invalid(self.path, None, field, message, hint)
    }

    fn image(&self, field: String, s: &str) -> Result<ImageSel> {
        let (variant, previous) = match s.strip_suffix("@previous") {
            Some(v) => (v, true),
            None => (s, false),
        };
        if !VARIANTS.contains(&variant) {
            return Err(self.err(
                field,
                format!("unknown fixture variant `{variant}`"),
                &format!("use one of: {}", VARIANTS.join(", ")),
            ));
        }
        if previous && variant != "moved-tag" {
            return Err(self.err(
                field,
                format!("`{s}`: only `moved-tag` has a previous digest"),
                "write `moved-tag@previous`",
            ));
        }
        Ok(ImageSel {
            variant: variant.to_owned(),
            previous,
            pinned: false,
        })
    }

    fn update(&self, field: &str, u: RawUpdate, earlier: &[Step]) -> Result<Update> {
        let created = earlier.iter().any(|st| {
            matches!(&st.action, Action::Admit { pod } if pod.name == u.pod && pod.namespace == u.namespace)
        });
        if !created {
            return Err(self.err(
                format!("{field}.pod"),
                format!(
                    "no earlier `admit` step creates `{}/{}`",
                    u.namespace, u.pod
                ),
                "admit the pod in an earlier step, then update it",
            ));
        }
        let change = match (u.relabel, u.image, u.debug) {
            (true, None, None) => Change::Relabel,
            (false, Some(i), None) => Change::Image(self.image(format!("{field}.image"), &i)?),
            (false, None, Some(d)) => Change::Debug(self.image(format!("{field}.debug"), &d)?),
            _ => {
                return Err(self.err(
                    field.to_owned(),
                    "an update changes exactly one thing".into(),
                    "give one of `relabel: true`, `image: <variant>` or `debug: <variant>`",
                ));
            }
        };
        Ok(Update {
            namespace: u.namespace,
            pod: u.pod,
            change,
        })
    }

    fn pod(&self, field: &str, p: RawPod) -> Result<Pod> {
        let dns = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if !dns(&p.name) || !dns(&p.namespace) {
            return Err(self.err(
                format!("{field}.name"),
                format!(
                    "`{}/{}` is not a valid namespace/pod name",
                    p.namespace, p.name
                ),
                "use lowercase letters, digits and '-'",
            ));
        }
        Ok(Pod {
            image: self.image(format!("{field}.image"), &p.image)?,
            init_image: p
                .init_image
                .map(|i| self.image(format!("{field}.initImage"), &i))
                .transpose()?,
            name: p.name,
            namespace: p.namespace,
            team: p.team,
        })
    }
}

impl RawScenario {
    fn validate(self, path: &Path) -> Result<Scenario> {
        let cx = Ctx { path };
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if self.id != stem {
            return Err(cx.err(
                "id".into(),
                format!("id `{}` differs from the file name `{stem}`", self.id),
                "name the file <id>.yaml",
            ));
        }
        match (self.kind, self.steps.is_empty()) {
            (Kind::Steps, true) => {
                return Err(cx.err(
                    "steps".into(),
                    "no steps".into(),
                    "add at least one step, or set `kind: matrix`",
                ));
            }
            (Kind::Matrix, false) => {
                return Err(cx.err(
                    "steps".into(),
                    "a matrix scenario has no steps".into(),
                    "remove `steps`, or drop `kind: matrix`",
                ));
            }
            _ => {}
        }
        let mut steps = Vec::new();
        for (i, raw) in self.steps.into_iter().enumerate() {
            let f = |name: &str| format!("steps[{i}].{name}");
            let mut actions: Vec<(&str, Action)> = Vec::new();
            if let Some(p) = raw.admit {
                actions.push((
                    "admit",
                    Action::Admit {
                        pod: cx.pod(&f("admit"), p)?,
                    },
                ));
            }
            if let Some(p) = raw.bypass {
                actions.push((
                    "bypass",
                    Action::Bypass {
                        pod: cx.pod(&f("bypass"), p)?,
                    },
                ));
            }
            if let Some(p) = raw.outage {
                actions.push((
                    "outage",
                    Action::Outage {
                        pod: cx.pod(&f("outage"), p)?,
                    },
                ));
            }
            if let Some(patch) = raw.contract {
                actions.push(("contract", Action::Contract { patch }));
            }
            if let Some(mode) = raw.identity {
                actions.push(("identity", Action::Identity { mode }));
            }
            if let Some(mode) = raw.trust_root {
                actions.push(("trustRoot", Action::TrustRoot { mode }));
            }
            if let Some(e) = raw.exception {
                let seconds = parse_duration(&e.expires_in).ok_or_else(|| {
                    cx.err(
                        f("exception.expiresIn"),
                        format!("`{}` is not a duration", e.expires_in),
                        "write e.g. 30m, 2h or 7d",
                    )
                })?;
                actions.push((
                    "exception",
                    Action::Exception {
                        exception: Exception {
                            name: e.name,
                            namespace: e.namespace,
                            pod: e.pod,
                            expires_in_seconds: seconds,
                        },
                    },
                ));
            }
            if let Some(a) = raw.advance {
                let seconds = parse_duration(&a).ok_or_else(|| {
                    cx.err(
                        f("advance"),
                        format!("`{a}` is not a duration"),
                        "write e.g. 30m, 2h or 180d",
                    )
                })?;
                actions.push(("advance", Action::Advance { seconds }));
            }
            if let Some(v) = raw.repush {
                if v != "moved-tag" {
                    return Err(cx.err(
                        f("repush"),
                        format!("`{v}` has no re-pushed tag"),
                        "only `moved-tag` is re-pushed by the vendor",
                    ));
                }
                actions.push(("repush", Action::Repush { variant: v }));
            }
            if let Some(revocation) = raw.revoke {
                actions.push(("revoke", Action::Revoke { revocation }));
            }
            if raw.audit.is_some() {
                actions.push(("audit", Action::Audit));
            }
            if let Some(u) = raw.update {
                let update = cx.update(&f("update"), u, &steps)?;
                actions.push(("update", Action::Update { update }));
            }
            let (kind, action) = match actions.len() {
                1 => actions.remove(0),
                0 => return Err(cx.err(format!("steps[{i}]"), "the step does nothing".into(), "give exactly one of admit, update, bypass, outage, contract, identity, trustRoot, exception, advance, repush, revoke, audit")),
                _ => {
                    let names: Vec<&str> = actions.iter().map(|a| a.0).collect();
                    return Err(cx.err(format!("steps[{i}]"), format!("one step, several actions: {}", names.join(", ")), "split them into separate steps"));
                }
            };
            let expect = match raw.expect {
                None => None,
                Some(e) => Some(cx.expect(e, kind, &f)?),
            };
            if expect.is_none() && kind == "audit" {
                return Err(cx.err(
                    f("expect"),
                    "an audit step needs expected findings".into(),
                    "add `expect: {findings: {<pod>: <status>}}`",
                ));
            }
            steps.push(Step {
                label: raw.name.unwrap_or_else(|| format!("{}: {kind}", i + 1)),
                action,
                expect,
            });
        }
        Ok(Scenario {
            id: self.id,
            title: self.title,
            layer: self.layer,
            hypothesis: self.hypothesis,
            identical_across_vendors: self.identical_across_vendors,
            applies_to: self.applies_to,
            kind: self.kind,
            contract: self.setup.contract,
            identity: self.setup.identity,
            trust_root: self.setup.trust_root,
            steps,
            patches: Vec::new(),
            source: path.to_path_buf(),
        })
    }
}

/// Load and validate every `*.yaml` scenario in `dir`, sorted by id.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>> {
    let files = crate::yaml::yaml_files(dir)?;
    if files.is_empty() {
        return Err(Error::Usage {
            message: format!("no scenarios (*.yaml) in {}", dir.display()),
            hint: "pass --scenarios DIR".into(),
        });
    }
    let mut out = Vec::new();
    for f in files {
        let raw: RawScenario = crate::yaml::parse_file(&f)?;
        out.push(raw.validate(&f)?);
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The hypotheses built into the binary (`scenarios/*.yaml` as shipped),
/// validated and sorted as [`load_dir`] does.
pub fn load_shipped() -> Result<Vec<Scenario>> {
    let mut out = Vec::new();
    for (path, text) in crate::shipped::yaml(crate::shipped::SCENARIOS) {
        let raw: RawScenario = crate::yaml::parse_str(path, text)?;
        out.push(raw.validate(path)?);
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{Engine, Expect, Outcome, parse_duration};
    use std::collections::BTreeMap;

    fn expect(decision: Outcome, message: Option<&str>) -> Expect {
        Expect {
            decision: Some(decision),
            reported: None,
            message: message.map(str::to_owned),
            findings: BTreeMap::new(),
            engines: BTreeMap::new(),
        }
    }

    #[test]
    fn an_engine_override_replaces_the_step_s_expectation_for_that_engine_only() {
        let mut step = expect(Outcome::Denied, Some("failed to verify"));
        step.engines
            .insert(Engine::Cpol, expect(Outcome::Admitted, None));
        // The denial's message does not follow the decision the override flips.
        assert_eq!(
            step.for_engine(Engine::Cpol),
            expect(Outcome::Admitted, None)
        );
        assert_eq!(
            step.for_engine(Engine::Ivpol),
            expect(Outcome::Denied, Some("failed to verify"))
        );
        // An override that keeps the decision keeps the message too.
        step.engines
            .insert(Engine::Cpol, expect(Outcome::Denied, None));
        assert_eq!(
            step.for_engine(Engine::Cpol),
            expect(Outcome::Denied, Some("failed to verify"))
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d"), Some(90 * 86400));
        assert_eq!(parse_duration("2h"), Some(7200));
        assert_eq!(parse_duration("0h"), None);
        assert_eq!(parse_duration("2w"), None);
        assert_eq!(parse_duration(""), None);
    }
}
