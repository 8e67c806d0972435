//! `junit.xml`: one test case per engine x vendor pair (the baseline's case
//! checks that it renders); a structural difference is a failure.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{Subject, show};
use crate::check::Comparison;
use crate::diff::Class;
use crate::error::{Error, Result};

fn case(suite: &str, c: &Comparison) -> TestCase {
    let status = if c.verdict.holds() {
        TestCaseStatus::success()
    } else {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        s.set_message(format!(
            "{} structural difference(s) from {}",
            c.counts.structural, c.baseline
        ));
        s.set_type("structural-difference");
        let lines: Vec<String> = c
            .differences
            .iter()
            .filter(|d| d.class == Class::Structural)
            .map(|d| {
                format!(
                    "{} {}: {} -> {}",
                    d.document,
                    d.path,
                    show(d.left.as_ref()),
                    show(d.right.as_ref())
                )
            })
            .collect();
        s.set_description(lines.join("\n"));
        s
    };
    let mut t = TestCase::new(format!("{} vs {}", c.vendor, c.baseline), status);
    t.set_classname(format!("trustswap.{suite}"));
    if !c.warnings.is_empty() {
        t.set_system_out(c.warnings.join("\n"));
    }
    t
}

pub fn report(subject: &Subject<'_>) -> Result<String> {
    let mut report = Report::new("trustswap");
    match subject {
        Subject::Check { result } => {
            for e in &result.engines {
                let name = format!("check.{}", e.engine.id());
                let mut suite = TestSuite::new(name.clone());
                let mut base = TestCase::new(
                    format!("{} (baseline) renders", e.baseline),
                    TestCaseStatus::success(),
                );
                base.set_classname(format!("trustswap.{name}"));
                suite.add_test_case(base);
                suite.add_test_cases(e.comparisons.iter().map(|c| case(&name, c)));
                report.add_test_suite(suite);
            }
        }
        Subject::Diff { comparison, .. } => {
            let mut suite = TestSuite::new("diff");
            suite.add_test_case(case("diff", comparison));
            report.add_test_suite(suite);
        }
    }
    report.to_string().map_err(|e| Error::Internal {
        message: format!("failed to write JUnit XML: {e}"),
    })
}
