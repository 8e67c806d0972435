//! Plain-text table for the terminal: fixed-width columns, overflowing
//! cells cut with `~`, the hint last and never cut.

use std::fmt::Write as _;

use crate::image::short_digest;
use crate::output::{DriftReport, Finding, Verdict};

/// (header, width); the hint column follows, unbounded.
const COLUMNS: [(&str, usize); 10] = [
    ("STATUS", 18),
    ("NAMESPACE", 20),
    ("WORKLOAD", 30),
    ("POD", 24),
    ("TEAM", 12),
    ("CONTAINER", 16),
    ("IMAGE", 36),
    ("DIGEST", 12),
    ("AGE", 5),
    ("FLAGS", 5),
];

/// Which findings the table lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TableFilter {
    /// Every container.
    All,
    /// Only containers that are not `compliant` (waived ones included).
    #[default]
    NotCompliant,
}

fn push_cell(out: &mut String, value: &str, width: usize) {
    let n = value.chars().count();
    if n <= width {
        out.push_str(value);
        out.extend(std::iter::repeat_n(' ', width - n));
    } else {
        out.extend(value.chars().take(width.saturating_sub(1)));
        out.push('~');
    }
    out.push_str("  ");
}

fn row(out: &mut String, cells: [&str; 10], hint: &str) {
    for ((_, width), cell) in COLUMNS.iter().zip(cells) {
        push_cell(out, cell, *width);
    }
    out.push_str(hint);
    // Trailing spaces of an empty hint are noise.
    let trimmed = out.trim_end_matches(' ').len();
    out.truncate(trimmed);
    out.push('\n');
}

fn finding_row(out: &mut String, f: &Finding<'_>) {
    let status = if f.waived {
        format!("{}*", f.status)
    } else {
        f.status.to_string()
    };
    let workload = format!("{}/{}", f.workload_kind, f.workload_name);
    let age = f
        .age_days
        .map_or_else(|| "-".to_owned(), |d| format!("{d}d"));
    let digest = f.digest.as_deref().map_or("-", short_digest);
    let flags = f.flags.len().to_string();
    row(
        out,
        [
            &status,
            &f.namespace,
            &workload,
            &f.pod,
            &f.team,
            &f.container,
            &f.image,
            digest,
            &age,
            &flags,
        ],
        &f.hint,
    );
}

/// Renders the findings (filtered) and the summary as a fixed-column table.
/// A `*` after a status marks a finding waived by an active exception.
pub fn render_table(report: &DriftReport<'_>, filter: TableFilter) -> String {
    let mut out = String::new();
    let headers = COLUMNS.map(|(h, _)| h);
    row(&mut out, headers, "HINT");
    for f in &report.findings {
        if filter == TableFilter::NotCompliant && f.status == crate::Status::Compliant {
            continue;
        }
        finding_row(&mut out, f);
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "\n{} pods, {} containers: {} non-compliant, {} waived; verdict: {}",
        s.pods,
        s.containers,
        s.non_compliant,
        s.waived,
        match s.verdict {
            Verdict::Compliant => "compliant",
            Verdict::NonCompliant => "non-compliant",
        }
    );
    for (status, n) in &s.by_status {
        let _ = writeln!(out, "  {:<20}{n:>8}", status.as_str());
    }
    out
}
