//! The static substitution check: render the trust contract for every vendor
//! and engine, diff each vendor's set against the baseline vendor's, and decide
//! whether only the trust root (plus image scope and evidence) differs.
//! Pure: takes validated vendors and a contract, returns a `CheckResult`.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::diff::{self, Class, SetDiff};
use crate::error::{Error, Result};
use crate::policy::render::{TrustOverrides, render_with};
use crate::policy::{Contract, Engine, PolicySet};
use crate::profile::Vendor;

/// The verdict of a comparison, an engine, or a whole check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Holds,
    DoesNotHold,
}

impl Verdict {
    pub fn of(holds: bool) -> Verdict {
        if holds {
            Verdict::Holds
        } else {
            Verdict::DoesNotHold
        }
    }
    pub fn holds(self) -> bool {
        self == Verdict::Holds
    }
    pub fn id(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::DoesNotHold => "does-not-hold",
        }
    }
}

/// One vendor's rendered set compared with the baseline's.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub vendor: String,
    pub baseline: String,
    pub verdict: Verdict,
    pub counts: Counts,
    pub differences: Vec<diff::Difference>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub trust_root: usize,
    pub image_scope: usize,
    pub evidence: usize,
    pub structural: usize,
}

impl Counts {
    pub fn of(d: &SetDiff) -> Counts {
        Counts {
            trust_root: d.count(Class::TrustRoot),
            image_scope: d.count(Class::ImageScope),
            evidence: d.count(Class::Evidence),
            structural: d.count(Class::Structural),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EngineResult {
    pub engine: Engine,
    pub title: &'static str,
    pub verdict: Verdict,
    pub baseline: String,
    pub comparisons: Vec<Comparison>,
    /// Rendered sets, per vendor, in vendor order (not serialised: written as files).
    #[serde(skip)]
    pub sets: Vec<PolicySet>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub verdict: Verdict,
    pub vendors: Vec<String>,
    pub engines: Vec<EngineResult>,
}

/// Render and compare. The baseline is `baseline` if given, else the first vendor.
pub fn check(
    contract: &Contract,
    vendors: &[Vendor],
    engines: &[Engine],
    baseline: Option<&str>,
    trust: &TrustOverrides,
) -> Result<CheckResult> {
    if vendors.len() < 2 {
        return Err(Error::Usage {
            message: format!(
                "the substitution check needs at least two vendors, got {}",
                vendors.len()
            ),
            hint: "select two or more vendors with --vendor, or add profiles".into(),
        });
    }
    let base_idx = match baseline {
        None => 0,
        Some(b) => {
            vendors
                .iter()
                .position(|v| v.name == b)
                .ok_or_else(|| Error::UnknownVendor {
                    name: b.to_owned(),
                    known: vendors.iter().map(|v| v.name.clone()).collect(),
                })?
        }
    };
    let mut results = Vec::new();
    for &engine in engines {
        let sets: Vec<PolicySet> = vendors
            .iter()
            .map(|v| render_with(contract, v, engine, trust))
            .collect::<Result<_>>()?;
        results.push(compare(engine, vendors, sets, base_idx));
    }
    Ok(CheckResult {
        verdict: Verdict::of(results.iter().all(|r| r.verdict.holds())),
        vendors: vendors.iter().map(|v| v.name.clone()).collect(),
        engines: results,
    })
}

/// Compare already-rendered sets (one per vendor, in vendor order) with the
/// baseline's. Cost is linear in the number of vendors: each is diffed once.
pub fn compare(
    engine: Engine,
    vendors: &[Vendor],
    sets: Vec<PolicySet>,
    base_idx: usize,
) -> EngineResult {
    let base = &sets[base_idx];
    let comparisons: Vec<Comparison> = vendors
        .iter()
        .zip(&sets)
        .enumerate()
        .filter(|(i, _)| *i != base_idx)
        .map(|(_, (vendor, set))| {
            let d = diff::diff_sets(base, set);
            let warnings = evidence_warnings(engine, &vendors[base_idx], vendor, &d);
            Comparison {
                vendor: vendor.name.clone(),
                baseline: base.label.clone(),
                verdict: Verdict::of(d.holds()),
                counts: Counts::of(&d),
                differences: d.differences,
                warnings,
            }
        })
        .collect();
    EngineResult {
        engine,
        title: engine.title(),
        verdict: Verdict::of(comparisons.iter().all(|c| c.verdict.holds())),
        baseline: base.label.clone(),
        comparisons,
        sets,
    }
}

/// Advice for evidence differences: what a vendor-neutral form would be.
pub fn evidence_warnings(
    engine: Engine,
    base: &Vendor,
    other: &Vendor,
    d: &SetDiff,
) -> Vec<String> {
    if d.count(Class::Evidence) == 0 {
        return Vec::new();
    }
    let (a, b) = (
        base.sbom_type().unwrap_or("(none)"),
        other.sbom_type().unwrap_or("(none)"),
    );
    let mut out = vec![format!(
        "the SBOM requirement is not vendor-neutral: {} publishes `{a}`, {} publishes `{b}`",
        base.name, other.name
    )];
    let common: BTreeSet<&String> = base
        .attestations
        .sbom
        .iter()
        .filter(|t| other.attestations.sbom.contains(t))
        .collect();
    if let Some(t) = common.iter().next() {
        out.push(format!(
            "both publish `{t}`: requiring that type would be neutral for this pair"
        ));
    }
    out.push(match engine {
        Engine::Ivpol => format!(
            "neutral form: declare one attestation per accepted type and OR them in the validation, e.g. `verifyAttestationSignatures(image, attestations.sbom_a, [attestors.trusted]) > 0 || verifyAttestationSignatures(image, attestations.sbom_b, [attestors.trusted]) > 0` with types `{a}` and `{b}`"
        ),
        Engine::Cpol => format!(
            "neutral form: a ClusterPolicy requires every `attestations[]` entry, so it cannot accept `{a}` OR `{b}` in one rule; use ImageValidatingPolicy, or require a type every vendor publishes"
        ),
    });
    out
}

/// Compare two hand-written sets (any repository): the `diff` command.
pub fn diff_paths(left: &PolicySet, right: &PolicySet) -> Comparison {
    let d = diff::diff_sets(left, right);
    let mut warnings = Vec::new();
    let types = |side: bool| -> BTreeSet<String> {
        d.differences
            .iter()
            .filter(|x| x.class == Class::Evidence)
            .filter_map(|x| {
                if side {
                    x.left.as_ref()
                } else {
                    x.right.as_ref()
                }
            })
            .flat_map(predicate_types)
            .collect()
    };
    let (lt, rt) = (types(true), types(false));
    if !lt.is_empty() || !rt.is_empty() {
        let all: Vec<String> = lt.union(&rt).map(|t| format!("`{t}`")).collect();
        warnings.push(format!(
            "required attestation types differ; a vendor-neutral policy accepts any of {}",
            if all.is_empty() {
                "the types above".to_owned()
            } else {
                all.join(", ")
            }
        ));
    }
    Comparison {
        vendor: d.right.clone(),
        baseline: d.left.clone(),
        verdict: Verdict::of(d.holds()),
        counts: Counts::of(&d),
        differences: d.differences,
        warnings,
    }
}

/// The predicate types named in an evidence value: strings under `type` or
/// `predicateType` keys (a bare string is itself a type), never attestor fields.
fn predicate_types(v: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Object(m) => m
            .iter()
            .flat_map(|(k, v)| match (k.as_str(), v) {
                ("type" | "predicateType", Value::String(s)) => vec![s.clone()],
                ("attestors", _) => Vec::new(),
                (_, Value::Object(_) | Value::Array(_)) => predicate_types(v),
                _ => Vec::new(),
            })
            .collect(),
        Value::Array(a) => a.iter().flat_map(predicate_types).collect(),
        _ => Vec::new(),
    }
}
