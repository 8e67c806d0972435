//! The terminal form: a table per comparison set, the differences, warnings,
//! and a closing verdict line.

use super::{Subject, show};
use crate::check::Comparison;

fn table(rows: &[(String, &Comparison)]) -> String {
    let mut out = format!(
        "{:<7} {:<12} {:<12} {:>10} {:>11} {:>8} {:>10}  {}\n",
        "ENGINE",
        "VENDOR",
        "BASELINE",
        "TRUST-ROOT",
        "IMAGE-SCOPE",
        "EVIDENCE",
        "STRUCTURAL",
        "VERDICT"
    );
    for (engine, c) in rows {
        out.push_str(&format!(
            "{:<7} {:<12} {:<12} {:>10} {:>11} {:>8} {:>10}  {}\n",
            engine,
            c.vendor,
            c.baseline,
            c.counts.trust_root,
            c.counts.image_scope,
            c.counts.evidence,
            c.counts.structural,
            c.verdict.id()
        ));
    }
    out
}

fn details(title: &str, c: &Comparison, out: &mut String) {
    if c.differences.is_empty() {
        return;
    }
    out.push_str(&format!("\n{title}\n"));
    for d in &c.differences {
        out.push_str(&format!(
            "  {:<11} {} {}\n              {} -> {}\n",
            d.class,
            d.document,
            d.path,
            show(d.left.as_ref()),
            show(d.right.as_ref())
        ));
        for at in [&d.left_at, &d.right_at].into_iter().flatten() {
            out.push_str(&format!("              {at}\n"));
        }
    }
    for w in &c.warnings {
        out.push_str(&format!("  warning: {w}\n"));
    }
}

pub fn render(subject: &Subject<'_>, warnings: &[String]) -> String {
    let mut out = String::new();
    match subject {
        Subject::Check { result } => {
            let rows: Vec<(String, &Comparison)> = result
                .engines
                .iter()
                .flat_map(|e| e.comparisons.iter().map(|c| (e.engine.id().to_owned(), c)))
                .collect();
            out.push_str(&table(&rows));
            for e in &result.engines {
                for c in &e.comparisons {
                    details(
                        &format!("{}: {} vs {}", e.engine.id(), c.vendor, c.baseline),
                        c,
                        &mut out,
                    );
                }
            }
        }
        Subject::Diff { comparison, .. } => {
            out.push_str(&table(&[("-".to_owned(), comparison)]));
            details(
                &format!("{} vs {}", comparison.vendor, comparison.baseline),
                comparison,
                &mut out,
            );
        }
    }
    for w in warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out.push_str(&format!(
        "\nverdict: the substitution {}\n",
        if subject.verdict().holds() {
            "holds: only trust root, image scope and evidence differ"
        } else {
            "does NOT hold: structural differences found"
        }
    ));
    out
}

/// The terminal summary of a `run`: one line per hypothesis, the comparison
/// with the embedded engine, the counts and the verdict (and the claim).
pub fn run(report: &super::experiment::RunReport<'_>) -> String {
    use crate::experiment::runner::Status;
    let mut t = format!("{:<24} {:<14} {}\n", "HYPOTHESIS", "RESULT", "WHY");
    for s in report.scenarios {
        let why = match s.status {
            Status::Held => String::new(),
            _ => s.reason.clone().unwrap_or_default(),
        };
        t.push_str(&format!("{:<24} {:<14} {}\n", s.id, s.status.id(), why));
    }
    if let Some(cmp) = report.comparison {
        t.push_str(&format!(
            "\ncompared with the embedded engine: {} observations, {} disagreements\n",
            cmp.compared,
            cmp.disagreements.len()
        ));
        for d in &cmp.disagreements {
            t.push_str(&format!(
                "  {} {}/{} `{}`: embedded {}, {} {}\n",
                d.scenario, d.engine, d.vendor, d.step, d.embedded, cmp.backend, d.cluster
            ));
        }
        for k in &cmp.known {
            t.push_str(&format!(
                "  known: {} {}/{} `{}`: embedded {}, Kyverno {} ({})\n",
                k.scenario, k.engine, k.vendor, k.step, k.embedded, k.kyverno, k.source
            ));
        }
        for k in &cmp.stale {
            t.push_str(&format!(
                "  fixed, remove from the known list: {} {}/{} `{}` ({})\n",
                k.scenario, k.engine, k.vendor, k.step, k.source
            ));
        }
        for d in &cmp.unconfirmed {
            t.push_str(&format!(
                "  did not reproduce when run again: {} {}/{} `{}`: embedded {}, {} {} once\n",
                d.scenario, d.engine, d.vendor, d.step, d.embedded, cmp.backend, d.cluster
            ));
        }
    }
    let c = report.counts;
    t.push_str(&format!(
        "\nsignatures verified at {} against the trust material each policy names: the lab's, inline or through its TUF repository (lab material, never trust)\nstatic substitution check: {}\nhypotheses: {} held, {} deviated, {} errored, {} not applicable\nverdict: {}\n",
        super::experiment::rfc3339(report.clock),
        report.static_check.verdict.id(),
        c.held,
        c.deviated,
        c.errored,
        c.not_applicable,
        report.verdict
    ));
    if let Some(c) = &report.claim {
        t.push_str(&format!(
            "claim: the embedded engine agrees with {}: {} (exit {})\n",
            report.backend, c.verdict, c.exit_code
        ));
    }
    t
}

/// The terminal form of `admit`: where signatures came from, what was read,
/// then per resource its decision and every rule's result, grouped by
/// container (results about no image last).
pub fn admit(report: &crate::admit::AdmitReport) -> String {
    let e = &report.evidence;
    let mut t = format!(
        "evidence: {} {}\ndefault trust: {}\nclock: {}\npolicies: {}\n",
        e.kind,
        e.path,
        e.default_trust,
        e.clock,
        report.policies.join(", ")
    );
    if let Some(c) = &report.cluster {
        t.push_str(&format!(
            "decided by: real Kyverno ({} backend, Kubernetes {}); the embedded engine decided the same requests: {} disagreement(s)\n",
            c.backend,
            c.cluster["kubernetes"].as_str().unwrap_or("version unknown"),
            c.disagreements.len()
        ));
        for e in &c.default_trust {
            t.push_str(&format!(
                "cluster default: {} in {}: {} ({})\n",
                e.field, e.document, e.change, e.file
            ));
        }
        for d in &c.disagreements {
            t.push_str(&format!(
                "DISAGREEMENT: {} ({}, document {}): embedded {}, Kyverno {}\n",
                d.resource,
                d.file,
                d.document,
                if d.embedded { "admits" } else { "denies" },
                if d.kyverno { "admits" } else { "denies" }
            ));
        }
    }
    for s in &report.skipped {
        t.push_str(&format!(
            "skipped: {} in {} ({})\n",
            s.document, s.file, s.reason
        ));
    }
    for i in &report.ignored {
        t.push_str(&format!(
            "warning: {} in {}: field {} is not modelled by the embedded engine and was \
             ignored (--allow-unmodelled); real Kyverno may decide differently\n",
            i.document, i.file, i.field
        ));
    }
    for u in &report.unread_exceptions {
        t.push_str(&format!(
            "warning: {} in {} is never applied: {} (--enable-policy-exceptions models a Kyverno \
             that reads it)\n",
            u.document, u.file, u.why
        ));
    }
    for r in &report.resources {
        let res = &r.resource;
        t.push_str(&format!(
            "\n{} {}/{}{} ({}, document {}): {}\n",
            res.kind,
            res.namespace,
            res.name,
            if res.kind == "Pod" {
                ""
            } else {
                ", as the Pod its controller creates"
            },
            res.file,
            res.document,
            if r.allowed { "ADMITTED" } else { "DENIED" }
        ));
        let mut groups: Vec<(Option<&str>, Vec<&crate::admit::RuleOutcome>)> = Vec::new();
        for x in &r.results {
            let key = x.container.as_deref().or(x.image.as_deref());
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => v.push(x),
                None => groups.push((key, vec![x])),
            }
        }
        groups.sort_by_key(|(k, _)| k.is_none());
        for (key, results) in groups {
            match (key, results[0].image.as_deref()) {
                (Some(c), Some(img)) if c != img => {
                    t.push_str(&format!("  container {c}: {img}\n"))
                }
                (Some(img), _) => t.push_str(&format!("  image {img}\n")),
                (None, _) => t.push_str("  the resource\n"),
            }
            for x in results {
                t.push_str(&format!(
                    "    {:<5} {}/{}: {}\n",
                    x.status, x.policy, x.rule, x.message
                ));
            }
        }
        if r.results.is_empty() {
            t.push_str("  no policy applies\n");
        }
        for w in &r.warnings {
            t.push_str(&format!("  warning: {w}\n"));
        }
        // a denied request is not mutated
        for p in r.patches.iter().filter(|_| r.allowed) {
            let (Some(path), Some(v)) = (
                p.get("path").and_then(|p| p.as_str()),
                p.get("value").and_then(|v| v.as_str()),
            ) else {
                continue;
            };
            // Kyverno's verification metadata, then the digest pins.
            match path.strip_prefix("/metadata/annotations/") {
                Some(key) => t.push_str(&format!(
                    "  annotate: {} = {v}\n",
                    key.replace("~1", "/").replace("~0", "~")
                )),
                None => t.push_str(&format!("  mutate: {path} -> {v}\n")),
            }
        }
        if let Some(m) = &r.message {
            t.push_str("  denied:\n");
            for line in m.trim().lines() {
                t.push_str(&format!("    {line}\n"));
            }
        }
    }
    let denied = report.resources.iter().filter(|r| !r.allowed).count();
    t.push_str(&format!(
        "\n{} resources: {} admitted, {} denied\n",
        report.resources.len(),
        report.resources.len() - denied,
        denied
    ));
    t
}
