//! `summary.md`: the verdict first, then one row per engine x vendor, then the
//! warnings, then every difference.

use super::{Subject, show};
use crate::check::{Comparison, Verdict};

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'")
}

fn verdict_line(v: Verdict) -> &'static str {
    match v {
        Verdict::Holds => {
            "**HOLDS**: only the trust root, image scope and evidence differ between vendors"
        }
        Verdict::DoesNotHold => {
            "**DOES NOT HOLD**: at least one structural difference between vendors"
        }
    }
}

fn row(engine: &str, c: &Comparison) -> String {
    format!(
        "| {engine} | {} | {} | {} | {} | {} | {} | {} |\n",
        c.vendor,
        c.baseline,
        c.counts.trust_root,
        c.counts.image_scope,
        c.counts.evidence,
        c.counts.structural,
        c.verdict.id()
    )
}

fn differences(title: &str, c: &Comparison, out: &mut String) {
    out.push_str(&format!("\n### {title}\n\n"));
    if c.differences.is_empty() {
        out.push_str("No differences.\n");
        return;
    }
    out.push_str(&format!(
        "| class | document | path | {} | {} |\n|---|---|---|---|---|\n",
        cell(&c.baseline),
        cell(&c.vendor)
    ));
    for d in &c.differences {
        out.push_str(&format!(
            "| {} | {} | `{}` | `{}` | `{}` |\n",
            d.class,
            cell(&d.document),
            cell(&d.path),
            cell(&show(d.left.as_ref())),
            cell(&show(d.right.as_ref()))
        ));
    }
}

pub fn summary(subject: &Subject<'_>, warnings: &[String]) -> String {
    let mut out = String::new();
    const HEADER: &str = "| engine | vendor | baseline | trust root | image scope | evidence | structural | verdict |\n|---|---|---|---|---|---|---|---|\n";
    match subject {
        Subject::Check { result } => {
            out.push_str(&format!("# trustswap check: {}\n\n", result.verdict.id()));
            out.push_str(&format!("{}\n\n", verdict_line(result.verdict)));
            out.push_str(&format!(
                "Vendors: {}. Engines: {}.\n\n",
                result.vendors.join(", "),
                result
                    .engines
                    .iter()
                    .map(|e| e.engine.id())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            out.push_str(HEADER);
            for e in &result.engines {
                for c in &e.comparisons {
                    out.push_str(&row(e.engine.id(), c));
                }
            }
        }
        Subject::Diff {
            verdict,
            comparison,
        } => {
            out.push_str(&format!(
                "# trustswap diff: {}\n\n{}\n\n",
                verdict.id(),
                verdict_line(*verdict)
            ));
            out.push_str(HEADER);
            out.push_str(&row("-", comparison));
        }
    }
    let all_warnings: Vec<&String> = warnings
        .iter()
        .chain(match subject {
            Subject::Check { result } => result
                .engines
                .iter()
                .flat_map(|e| e.comparisons.iter())
                .flat_map(|c| c.warnings.iter())
                .collect::<Vec<_>>(),
            Subject::Diff { comparison, .. } => comparison.warnings.iter().collect(),
        })
        .collect();
    if !all_warnings.is_empty() {
        out.push_str("\n## Warnings\n\n");
        let mut seen = std::collections::BTreeSet::new();
        for w in all_warnings {
            if seen.insert(w) {
                out.push_str(&format!("- {w}\n"));
            }
        }
    }
    out.push_str("\n## Differences\n");
    match subject {
        Subject::Check { result } => {
            for e in &result.engines {
                for c in &e.comparisons {
                    differences(
                        &format!("{}: {} vs {}", e.engine.id(), c.vendor, c.baseline),
                        c,
                        &mut out,
                    );
                }
            }
        }
        Subject::Diff { comparison, .. } => differences(
            &format!("{} vs {}", comparison.vendor, comparison.baseline),
            comparison,
            &mut out,
        ),
    }
    out
}
