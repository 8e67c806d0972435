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
