//! The report of a `run`: the static check plus every hypothesis, as
//! `result.json`, `summary.md`, `junit.xml`, a self-contained `report.html`
//! (matrices as inline SVG) and `evidence/` (each admission request and
//! decision, the rendered policies, the audit output). Formats only; the
//! verdicts come from the check and the runner.

use std::fmt::Write as _;
use std::path::Path;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;
use serde_json::Value;

use crate::check::CheckResult;
use crate::error::{Error, Result};
use crate::exit::Verdict;
use crate::experiment::RunOutcome;
use crate::experiment::real::RealRun;
use crate::experiment::runner::{ScenarioResult, Status};
use crate::yaml::write_atomic;

/// Everything a run decided.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport<'a> {
    pub schema_version: u32,
    pub tool: Value,
    pub command: &'static str,
    pub backend: &'a str,
    pub seed: u64,
    pub verdict: Verdict,
    /// The process's exit code: the claim's when there is one, else the
    /// verdict's.
    pub exit_code: u8,
    pub counts: Counts,
    pub lab: Value,
    pub static_check: &'a CheckResult,
    /// `run --policies`: each hand-written set's trust edits and the proof
    /// that they are trust-root class only.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub own_policies: &'a [crate::experiment::own::OwnReport],
    pub scenarios: &'a [ScenarioResult],
    /// Real clusters: versions, relocation, leftovers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Value>,
    /// Real clusters: every change of the applied policy set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swaps: Option<&'a [crate::backend::kube::Swap]>,
    /// `--compare embedded`: where the engines disagree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<&'a crate::experiment::compare::Comparison>,
    /// `--claim agreement`: the claim the exit code answers instead of the
    /// hypotheses (`verdict` stays the hypotheses').
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    /// `--backend local`: the control plane's logs (name, last bytes), written
    /// to `logs/` for diagnosis (timestamps: not deterministic).
    #[serde(skip)]
    pub logs: &'a [(String, Vec<u8>)],
    /// The lab's clock (unix seconds), for the terminal summary.
    #[serde(skip)]
    pub clock: i64,
}

/// `--claim agreement` and its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Claim {
    pub claim: &'static str,
    pub verdict: Verdict,
    pub exit_code: u8,
}

impl<'a> RunReport<'a> {
    /// The report of a run, from what the runner produced and, on a real
    /// cluster, what the real run added; `claim_agreement`: `--claim
    /// agreement` (it only applies to a real run compared with the embedded
    /// engine).
    pub fn new(
        outcome: &'a RunOutcome,
        real: Option<&'a RealRun>,
        seed: u64,
        claim_agreement: bool,
    ) -> RunReport<'a> {
        let verdict = real.map_or_else(|| outcome.verdict(), RealRun::verdict);
        let claim = match real {
            Some(r) if claim_agreement => {
                let v = r.agreement();
                Some(Claim {
                    claim: "agreement",
                    verdict: v,
                    exit_code: v.exit_code(),
                })
            }
            _ => None,
        };
        RunReport {
            schema_version: super::SCHEMA_VERSION,
            tool: serde_json::json!({ "name": "trustswap", "version": env!("CARGO_PKG_VERSION") }),
            command: "run",
            backend: real.map_or("embedded", |r| r.backend),
            seed,
            verdict,
            exit_code: claim.map_or(verdict.exit_code(), |c| c.exit_code),
            counts: Counts::of(&outcome.scenarios),
            lab: serde_json::json!({
                "sctRequired": outcome.lab.catalogue.trust.sct,
                "fixtures": outcome.lab.catalogue.fixtures.len(),
                "notApplicable": outcome.lab.catalogue.not_applicable.len(),
                // The trust root and clock every signature of the run was verified with.
                "trustRoot": "the trust material each policy names: the lab's (built from the seed), inline in a ClusterPolicy, through the lab's TUF repository in an ImageValidatingPolicy",
                "clock": rfc3339(outcome.lab.now),
            }),
            static_check: &outcome.check,
            own_policies: &outcome.own,
            scenarios: &outcome.scenarios,
            cluster: real.map(|r| r.cluster.clone()),
            swaps: real.map(|r| r.swaps.as_slice()),
            comparison: real.and_then(|r| r.comparison.as_ref()),
            claim,
            logs: real.map_or(&[][..], |r| r.logs.as_slice()),
            clock: outcome.lab.now,
        }
    }

    /// `result.json`'s content. Serialising cannot fail for these types; if
    /// it ever does, the run is undecided rather than reported empty.
    pub fn to_json(&self) -> Result<Value> {
        serde_json::to_value(self).map_err(|e| Error::Internal {
            message: format!("cannot serialise the run report: {e}"),
        })
    }
}

/// `2026-12-01T00:00:00Z`, or the number when out of range.
pub fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| unix.to_string())
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub held: usize,
    pub deviated: usize,
    pub errored: usize,
    pub not_applicable: usize,
}

impl Counts {
    pub fn of(scenarios: &[ScenarioResult]) -> Counts {
        let mut c = Counts::default();
        for s in scenarios {
            match s.status {
                Status::Held => c.held += 1,
                Status::Deviated => c.deviated += 1,
                Status::Errored => c.errored += 1,
                Status::NotApplicable => c.not_applicable += 1,
            }
        }
        c
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn mark(s: Status) -> &'static str {
    match s {
        Status::Held => "held",
        Status::Deviated => "**DEVIATED**",
        Status::Errored => "**ERRORED**",
        Status::NotApplicable => "n/a",
    }
}

/// The (engine, vendor) columns present in the results, in order.
fn columns(r: &RunReport<'_>) -> Vec<(String, String)> {
    let mut cols: Vec<(String, String)> = Vec::new();
    for s in r.scenarios {
        for run in &s.runs {
            let c = (run.engine.id().to_owned(), run.vendor.clone());
            if run.vendor != "all" && !cols.contains(&c) {
                cols.push(c);
            }
        }
    }
    cols
}

pub fn markdown(r: &RunReport<'_>) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# trustswap run: {}\n", r.verdict.id().to_uppercase());
    let c = r.counts;
    let _ = writeln!(
        o,
        "**{}** hypotheses held, **{}** deviated, **{}** errored, {} not applicable. Static substitution check: **{}**. Backend: {}, seed {}.\n",
        c.held,
        c.deviated,
        c.errored,
        c.not_applicable,
        r.static_check.verdict.id(),
        r.backend,
        r.seed
    );
    if let (Some(root), Some(clock)) = (r.lab["trustRoot"].as_str(), r.lab["clock"].as_str()) {
        let _ = writeln!(
            o,
            "Signatures verified with {root}, at {clock}: lab material, never trust.\n"
        );
    }
    let deviated: Vec<&ScenarioResult> = r
        .scenarios
        .iter()
        .filter(|s| s.status == Status::Deviated || s.status == Status::Errored)
        .collect();
    if !deviated.is_empty() {
        o.push_str("## Findings\n\n");
        for s in deviated {
            let _ = writeln!(
                o,
                "- `{}` {}: {}",
                s.id,
                s.status.id(),
                s.reason.as_deref().unwrap_or("see below")
            );
        }
        o.push('\n');
    }
    let cols = columns(r);
    o.push_str("## Hypotheses\n\n| hypothesis | layer | result |");
    for (e, v) in &cols {
        let _ = write!(o, " {e}/{v} |");
    }
    o.push_str("\n|---|---|---|");
    o.push_str(&"---|".repeat(cols.len()));
    o.push('\n');
    for s in r.scenarios {
        let layer = serde_json::to_value(s.layer)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = write!(
            o,
            "| [{}](#{}) {} | {layer} | {} |",
            s.id,
            s.id,
            cell(&s.title),
            mark(s.status)
        );
        for (e, v) in &cols {
            let st = status_at(s, e, v);
            let _ = write!(o, " {} |", st.map(mark).unwrap_or("-"));
        }
        o.push('\n');
    }
    for s in r.scenarios {
        for m in &s.matrices {
            let _ = writeln!(
                o,
                "\n## Cross-vendor matrix ({}): {}\n",
                m.engine,
                if m.diagonal {
                    "diagonal"
                } else {
                    "NOT diagonal"
                }
            );
            o.push_str("| policy \\ signer |");
            for v in &m.vendors {
                let _ = write!(o, " {v} |");
            }
            o.push_str("\n|---|");
            o.push_str(&"---|".repeat(m.vendors.len()));
            o.push('\n');
            for (i, row) in m.admitted.iter().enumerate() {
                let _ = write!(o, "| {} |", m.vendors[i]);
                for a in row {
                    o.push_str(if *a { " admitted |" } else { " denied |" });
                }
                o.push('\n');
            }
        }
    }
    o.push_str("\n## Static substitution check\n\n| engine | vendor | trust root | image scope | evidence | structural | verdict |\n|---|---|---|---|---|---|---|\n");
    for e in &r.static_check.engines {
        for cmp in &e.comparisons {
            let _ = writeln!(
                o,
                "| {} | {} vs {} | {} | {} | {} | {} | {} |",
                e.engine,
                cmp.vendor,
                cmp.baseline,
                cmp.counts.trust_root,
                cmp.counts.image_scope,
                cmp.counts.evidence,
                cmp.counts.structural,
                cmp.verdict.id()
            );
        }
    }
    own_section(&mut o, r);
    real_sections(&mut o, r);
    o.push_str("\n## Details\n");
    for s in r.scenarios {
        let _ = writeln!(
            o,
            "\n### {}\n\n{} ({})\n\n> {}\n",
            s.id,
            s.title,
            mark(s.status),
            cell(&s.hypothesis)
        );
        for run in &s.runs {
            let _ = writeln!(
                o,
                "- {}/{}: {}{}",
                run.engine,
                run.vendor,
                run.status.id(),
                run.reason
                    .as_ref()
                    .map(|x| format!(": {}", cell(x)))
                    .unwrap_or_default()
            );
            for st in &run.steps {
                if let Some(ok) = st.ok {
                    let _ = writeln!(
                        o,
                        "  - {} {}: expected {}, observed {}",
                        if ok { "ok" } else { "FAIL" },
                        cell(&st.label),
                        st.expected.as_deref().unwrap_or("-"),
                        cell(&st.observed.word())
                    );
                }
            }
        }
    }
    o.push_str("\nEvidence: `evidence/<scenario>/<engine>-<vendor>.json` (each admission request and decision, audit findings); rendered policies under `policies/`.\n");
    o
}

/// The cluster, the comparison with the embedded engine, and the policy
/// swaps (real-cluster runs only).
fn real_sections(o: &mut String, r: &RunReport<'_>) {
    if let Some(c) = &r.cluster {
        let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("unknown");
        let _ = writeln!(
            o,
            "\n## Cluster\n\nBackend {}: Kubernetes {}, Kyverno image `{}`; fixtures served as `{}`; run id `{}`.",
            r.backend,
            text("kubernetes"),
            text("kyvernoImage"),
            text("fixturesServedAs"),
            text("runId")
        );
        let leftovers: Vec<&str> = c
            .get("leftovers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if leftovers.is_empty() {
            o.push_str("Cleanup removed everything the run created.\n");
        } else {
            o.push_str("\nLeft behind by cleanup:\n\n");
            for l in leftovers {
                let _ = writeln!(o, "- {}", cell(l));
            }
        }
        if c.get("interrupted").and_then(Value::as_bool) == Some(true) {
            o.push_str("\n**The run was interrupted**: runs after the interruption are errored.\n");
        }
    }
    if let Some(cmp) = r.comparison {
        let _ = writeln!(
            o,
            "\n## Comparison with the embedded engine\n\n{} observations compared, **{} disagreements**{}.\n",
            cmp.compared,
            cmp.disagreements.len(),
            if cmp.skipped.is_empty() {
                String::new()
            } else {
                format!(", {} runs not compared", cmp.skipped.len())
            }
        );
        if !cmp.disagreements.is_empty() {
            let _ = writeln!(
                o,
                "| scenario | engine | vendor | step | embedded | {} |\n|---|---|---|---|---|---|",
                cmp.backend
            );
            for d in &cmp.disagreements {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} |",
                    d.scenario,
                    d.engine,
                    d.vendor,
                    cell(&d.step),
                    cell(&d.embedded),
                    cell(&d.cluster)
                );
            }
        }
        if !cmp.known.is_empty() {
            o.push_str("\nKnown disagreements, explained by Kyverno's source (real Kyverno is the judge):\n\n| scenario | engine | vendor | step | embedded | Kyverno | source | why |\n|---|---|---|---|---|---|---|---|\n");
            for k in &cmp.known {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} | `{}` | {} |",
                    k.scenario,
                    k.engine,
                    k.vendor,
                    cell(&k.step),
                    cell(&k.embedded),
                    cell(&k.kyverno),
                    k.source,
                    cell(&k.why)
                );
            }
        }
        for k in &cmp.stale {
            let _ = writeln!(
                o,
                "\n**Fixed, remove from the known list:** {} {}/{} `{}` ({}).",
                k.scenario, k.engine, k.vendor, k.step, k.source
            );
        }
        for d in &cmp.unconfirmed {
            let _ = writeln!(
                o,
                "\n**Did not reproduce** (run again, {} decided otherwise): {} {}/{} `{}`: embedded {}, {} {} once.",
                cmp.backend,
                d.scenario,
                d.engine,
                d.vendor,
                cell(&d.step),
                cell(&d.embedded),
                cmp.backend,
                cell(&d.cluster)
            );
        }
        for s in &cmp.skipped {
            let _ = writeln!(o, "- not compared: {}", cell(s));
        }
    }
    if let Some(swaps) = r.swaps {
        let _ = writeln!(
            o,
            "\n## Policy swaps on the cluster\n\n{} applies changed the policy set. Changed paths per class:\n\n| run | replaced | objects (generation) | trust root | image scope | evidence | structural |\n|---|---|---|---|---|---|---|",
            swaps.len()
        );
        for w in swaps {
            let n = |k: &str| w.classes.get(k).copied().unwrap_or(0);
            let objects: Vec<String> = w
                .objects
                .iter()
                .map(|(o, g)| format!("{o} ({})", g.map_or("-".into(), |g| g.to_string())))
                .collect();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                w.case,
                w.previous.as_deref().unwrap_or("-"),
                cell(&objects.join(", ")),
                n("trust-root"),
                n("image-scope"),
                n("evidence"),
                n("structural")
            );
        }
    }
}

pub fn junit(r: &RunReport<'_>) -> Result<String> {
    let mut report = Report::new("trustswap");
    for s in r.scenarios {
        let mut suite = TestSuite::new(format!("hypothesis.{}", s.id));
        let mut cases: Vec<(String, Status, Option<String>)> = s
            .runs
            .iter()
            .map(|x| {
                (
                    format!("{} {}/{}", s.id, x.engine, x.vendor),
                    x.status,
                    x.reason.clone(),
                )
            })
            .collect();
        cases.extend(s.matrices.iter().map(|m| {
            (
                format!("{} {}/matrix", s.id, m.engine),
                if m.diagonal {
                    Status::Held
                } else {
                    Status::Deviated
                },
                (!m.diagonal).then(|| "the policy x signer matrix is not diagonal".to_owned()),
            )
        }));
        for (name, status, reason) in cases {
            let st = match status {
                Status::Held => TestCaseStatus::success(),
                Status::NotApplicable => TestCaseStatus::skipped(),
                Status::Deviated => {
                    let mut t = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    t.set_message(reason.unwrap_or_default())
                        .set_type("deviated");
                    t
                }
                Status::Errored => {
                    let mut t = TestCaseStatus::non_success(NonSuccessKind::Error);
                    t.set_message(reason.unwrap_or_default())
                        .set_type("errored");
                    t
                }
            };
            let mut tc = TestCase::new(name, st);
            tc.set_classname(format!("trustswap.{}", s.id));
            suite.add_test_case(tc);
        }
        report.add_test_suite(suite);
    }
    let mut suite = TestSuite::new("static-check");
    for e in &r.static_check.engines {
        for c in &e.comparisons {
            let st = if c.verdict.holds() {
                TestCaseStatus::success()
            } else {
                let mut t = TestCaseStatus::non_success(NonSuccessKind::Failure);
                t.set_message(format!("{} structural difference(s)", c.counts.structural));
                t
            };
            suite.add_test_case(TestCase::new(
                format!("{} {} vs {}", e.engine, c.vendor, c.baseline),
                st,
            ));
        }
    }
    report.add_test_suite(suite);
    report.to_string().map_err(|e| Error::Internal {
        message: format!("failed to write JUnit XML: {e}"),
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const HELD: &str = "#2e7d32";
const DEVIATED: &str = "#c62828";
const ERRORED: &str = "#ef6c00";
const NA: &str = "#bdbdbd";

fn colour(s: Status) -> &'static str {
    match s {
        Status::Held => HELD,
        Status::Deviated => DEVIATED,
        Status::Errored => ERRORED,
        Status::NotApplicable => NA,
    }
}

/// The status of a scenario for one engine/vendor column (a matrix scenario
/// has one status per engine).
fn status_at(s: &ScenarioResult, engine: &str, vendor: &str) -> Option<Status> {
    s.runs
        .iter()
        .find(|x| x.engine.id() == engine && x.vendor == vendor)
        .map(|x| x.status)
        .or_else(|| {
            s.matrices
                .iter()
                .find(|m| m.engine.id() == engine)
                .map(|m| {
                    if m.diagonal {
                        Status::Held
                    } else {
                        Status::Deviated
                    }
                })
        })
}

/// Hypothesis x (engine, vendor) grid as SVG.
fn grid_svg(r: &RunReport<'_>) -> String {
    let cols = columns(r);
    let (cw, rh, left, top) = (64, 22, 230, 110);
    // Room on the right for the last rotated column label.
    let w = left + cw * cols.len().max(1) + 90;
    let h = top + rh * r.scenarios.len() + 10;
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"hypotheses by engine and vendor\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    for (j, (e, v)) in cols.iter().enumerate() {
        let x = left + j * cw + cw / 2;
        let _ = write!(
            o,
            "<text transform=\"translate({x},{}) rotate(-45)\">{}/{}</text>",
            top - 8,
            esc(e),
            esc(v)
        );
    }
    for (i, s) in r.scenarios.iter().enumerate() {
        let y = top + i * rh;
        let _ = write!(o, "<text x=\"4\" y=\"{}\">{}</text>", y + 15, esc(&s.id));
        for (j, (e, v)) in cols.iter().enumerate() {
            let st = status_at(s, e, v).unwrap_or(Status::NotApplicable);
            let _ = write!(
                o,
                "<rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{} {e}/{v}: {}</title></rect>",
                left + j * cw + 2,
                cw - 4,
                rh - 4,
                colour(st),
                esc(&s.id),
                st.id()
            );
        }
    }
    o.push_str("</svg>");
    o
}

fn matrix_svg(m: &crate::experiment::runner::Matrix) -> String {
    let (c, left, top) = (70, 110, 140);
    let n = m.vendors.len();
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"policy vendor by signer vendor\" font-family=\"sans-serif\" font-size=\"12\">",
        left + c * n + 120,
        top + c * n + 10
    );
    for (j, v) in m.vendors.iter().enumerate() {
        let _ = write!(
            o,
            "<text transform=\"translate({},{}) rotate(-45)\">signed by {}</text>",
            left + j * c + c / 2,
            top - 8,
            esc(v)
        );
        let _ = write!(
            o,
            "<text x=\"4\" y=\"{}\">policy {}</text>",
            top + j * c + c / 2,
            esc(v)
        );
    }
    for (i, row) in m.admitted.iter().enumerate() {
        for (j, a) in row.iter().enumerate() {
            let expected = i == j;
            let fill = if *a == expected { HELD } else { DEVIATED };
            let _ = write!(
                o,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{fill}\"/><text x=\"{}\" y=\"{}\" fill=\"white\" text-anchor=\"middle\">{}</text>",
                left + j * c + 2,
                top + i * c + 2,
                c - 4,
                c - 4,
                left + j * c + c / 2,
                top + i * c + c / 2 + 4,
                if *a { "admit" } else { "deny" }
            );
        }
    }
    o.push_str("</svg>");
    o
}

pub fn html(r: &RunReport<'_>) -> String {
    let c = r.counts;
    let good = r.verdict == Verdict::Holds;
    let mut o = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>trustswap run</title><style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#212121}h1{font-size:2em}.v{padding:.6em 1em;border-radius:6px;color:white;display:inline-block}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px;font-size:13px;text-align:left}code{font-size:12px}.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}</style></head><body>",
    );
    let _ = write!(
        o,
        "<h1>trustswap run: <span class=\"v\" style=\"background:{}\">{}</span></h1><p><b>{}</b> held, <b>{}</b> deviated, <b>{}</b> errored, {} not applicable &middot; static substitution check: <b>{}</b> &middot; backend {} &middot; seed {}</p>",
        if good {
            HELD
        } else if r.verdict == Verdict::DoesNotHold {
            DEVIATED
        } else {
            ERRORED
        },
        esc(&r.verdict.id().to_uppercase()),
        c.held,
        c.deviated,
        c.errored,
        c.not_applicable,
        r.static_check.verdict.id(),
        esc(r.backend),
        r.seed
    );
    let _ = write!(
        o,
        "<p class=\"legend\"><span style=\"background:{HELD}\"></span>held<span style=\"background:{DEVIATED}\"></span>deviated<span style=\"background:{ERRORED}\"></span>errored<span style=\"background:{NA}\"></span>not applicable</p>"
    );
    o.push_str(&grid_svg(r));
    for s in r.scenarios {
        for m in &s.matrices {
            let _ = write!(
                o,
                "<h2>Cross-vendor matrix, {}: {}</h2>",
                m.engine,
                if m.diagonal {
                    "diagonal (each policy admits only its own signer)"
                } else {
                    "NOT diagonal"
                }
            );
            o.push_str(&matrix_svg(m));
        }
    }
    o.push_str("<h2>Hypotheses</h2><table><tr><th>id</th><th>result</th><th>hypothesis</th><th>why</th></tr>");
    for s in r.scenarios {
        let _ = write!(
            o,
            "<tr><td><code>{}</code></td><td style=\"color:{}\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.id),
            colour(s.status),
            s.status.id(),
            esc(&s.hypothesis),
            esc(s.reason.as_deref().unwrap_or(""))
        );
    }
    o.push_str("</table><h2>Static substitution check</h2><table><tr><th>engine</th><th>vendor</th><th>trust root</th><th>image scope</th><th>evidence</th><th>structural</th><th>verdict</th></tr>");
    for e in &r.static_check.engines {
        for cmp in &e.comparisons {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{} vs {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e.engine,
                esc(&cmp.vendor),
                esc(&cmp.baseline),
                cmp.counts.trust_root,
                cmp.counts.image_scope,
                cmp.counts.evidence,
                cmp.counts.structural,
                cmp.verdict.id()
            );
        }
    }
    o.push_str("</table>");
    html_real_cluster(&mut o, r);
    o.push_str("<p>Evidence: <code>evidence/</code>; machine form: <code>result.json</code>.</p></body></html>\n");
    o
}

/// The cluster, the comparison with the embedded engine and the policy swaps
/// of a real-cluster run (as `summary.md` shows them).
fn html_real_cluster(o: &mut String, r: &RunReport<'_>) {
    if let Some(c) = &r.cluster {
        let text = serde_json::to_string_pretty(c).unwrap_or_default();
        let _ = write!(o, "<h2>Cluster</h2><pre><code>{}</code></pre>", esc(&text));
    }
    if let Some(cmp) = r.comparison {
        let _ = write!(
            o,
            "<h2>Comparison with the embedded engine</h2><p>{} observations compared, <b>{} disagreements</b>, {} known (explained by Kyverno's source), {} fixed entries to remove, {} not reproduced when run again, {} runs not compared.</p>",
            cmp.compared,
            cmp.disagreements.len(),
            cmp.known.len(),
            cmp.stale.len(),
            cmp.unconfirmed.len(),
            cmp.skipped.len()
        );
        for d in &cmp.unconfirmed {
            let _ = write!(
                o,
                "<p><b>Did not reproduce</b> (run again, {} decided otherwise): {} {}/{} <code>{}</code>: embedded {}, {} {} once.</p>",
                esc(&cmp.backend),
                esc(&d.scenario),
                esc(&d.engine),
                esc(&d.vendor),
                esc(&d.step),
                esc(&d.embedded),
                esc(&cmp.backend),
                esc(&d.cluster)
            );
        }
        if !cmp.disagreements.is_empty() {
            let _ = write!(
                o,
                "<table><tr><th>scenario</th><th>engine</th><th>vendor</th><th>step</th><th>embedded</th><th>{}</th></tr>",
                esc(&cmp.backend)
            );
            for d in &cmp.disagreements {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&d.scenario),
                    esc(&d.engine),
                    esc(&d.vendor),
                    esc(&d.step),
                    esc(&d.embedded),
                    esc(&d.cluster)
                );
            }
            o.push_str("</table>");
        }
        if !cmp.known.is_empty() {
            o.push_str("<h3>Known disagreements</h3><table><tr><th>scenario</th><th>engine</th><th>vendor</th><th>step</th><th>embedded</th><th>Kyverno</th><th>source</th><th>why</th></tr>");
            for k in &cmp.known {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                    esc(&k.scenario),
                    esc(&k.engine),
                    esc(&k.vendor),
                    esc(&k.step),
                    esc(&k.embedded),
                    esc(&k.kyverno),
                    esc(&k.source),
                    esc(&k.why)
                );
            }
            o.push_str("</table>");
        }
    }
    if let Some(swaps) = r.swaps {
        let _ = write!(
            o,
            "<h2>Policy swaps on the cluster</h2><table><tr><th>run</th><th>replaced</th><th>trust root</th><th>image scope</th><th>evidence</th><th>structural</th></tr>"
        );
        for w in swaps {
            let n = |k: &str| w.classes.get(k).copied().unwrap_or(0);
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&w.case),
                esc(w.previous.as_deref().unwrap_or("")),
                n("trust-root"),
                n("image-scope"),
                n("evidence"),
                n("structural")
            );
        }
        o.push_str("</table>");
    }
}

/// Write the whole report into `dir`.
/// `run --policies`: per hand-written set, what was left out, every trust
/// edit that points it at the lab, and the diff's proof that the edits are
/// trust-root class only.
fn own_section(o: &mut String, r: &RunReport<'_>) {
    if r.own_policies.is_empty() {
        return;
    }
    o.push_str("\n## Hand-written policy sets\n\nEach set replaces the policies rendered from the contract. Only trust material naming the vendor's real signer is pointed at the lab; identity matchers are as written.\n");
    for set in r.own_policies {
        let engines: Vec<&str> = set.engines.iter().map(|e| e.id()).collect();
        let _ = writeln!(
            o,
            "\n### {} (`{}`, {})\n\nRe-pointing proof: **{}** ({} trust-root, {} image-scope, {} evidence, {} structural differences between the set as written and as run).\n",
            set.vendor,
            set.path,
            engines.join(", "),
            set.proof.verdict.id(),
            set.proof.counts.trust_root,
            set.proof.counts.image_scope,
            set.proof.counts.evidence,
            set.proof.counts.structural,
        );
        for s in &set.skipped {
            let _ = writeln!(o, "- skipped {} in `{}`: {}", s.document, s.file, s.reason);
        }
        if !set.skipped.is_empty() {
            o.push('\n');
        }
        if set.edits.is_empty() {
            o.push_str("No trust edit: the set names no trust material of the vendor's signer.\n");
            continue;
        }
        o.push_str("| file | document | field | change |\n|---|---|---|---|\n");
        for e in &set.edits {
            let _ = writeln!(
                o,
                "| {} | {} | `{}` | {} |",
                cell(&e.file),
                cell(&e.document),
                e.field,
                cell(&e.change)
            );
        }
    }
}

pub fn write(dir: &Path, r: &RunReport<'_>) -> Result<()> {
    write_atomic(&dir.join("result.json"), super::pretty(r)?.as_bytes())?;
    write_atomic(&dir.join("summary.md"), markdown(r).as_bytes())?;
    write_atomic(&dir.join("junit.xml"), junit(r)?.as_bytes())?;
    write_atomic(&dir.join("report.html"), html(r).as_bytes())?;
    for (name, bytes) in r.logs {
        write_atomic(&dir.join("logs").join(name), bytes)?;
    }
    for s in r.scenarios {
        for run in &s.runs {
            let file = dir
                .join("evidence")
                .join(&s.id)
                .join(format!("{}-{}.json", run.engine, run.vendor));
            write_atomic(&file, super::pretty(run)?.as_bytes())?;
        }
        for m in &s.matrices {
            let file = dir
                .join("evidence")
                .join(&s.id)
                .join(format!("{}-matrix.json", m.engine));
            write_atomic(&file, super::pretty(m)?.as_bytes())?;
        }
    }
    for e in &r.static_check.engines {
        for set in &e.sets {
            set.write(&dir.join("policies").join(e.engine.id()).join(&set.label))?;
        }
    }
    Ok(())
}
