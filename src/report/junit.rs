//! The JUnit XML report, for CI systems that render test results: one
//! `<testsuite>` per [`Report`], one `<testcase>` per property named by its
//! ID; a failure's message is "expected X, was Y" and its body the full
//! explanation with the replay command. Hangs are failures of type `hang`,
//! targets that could not run are errors, skips are skipped.

use std::io::{self, Write};

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::human::{explanation, headline};
use super::Report;
use crate::spec::Verdict;

pub(super) fn render(reports: &[Report], out: &mut dyn Write) -> io::Result<()> {
    let mut junit = quick_junit::Report::new("ipcspec");
    for report in reports {
        let title = report.title();
        let mut suite = TestSuite::new(title.as_str());
        suite.add_property(("seed", report.seed.to_string().as_str()));
        for result in &report.results {
            let mut status = match &result.verdict {
                Verdict::Pass => TestCaseStatus::success(),
                Verdict::Fail(_) => TestCaseStatus::non_success(NonSuccessKind::Failure),
                Verdict::Hang(_) => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    status.set_type("hang");
                    status
                }
                Verdict::Error { .. } => TestCaseStatus::non_success(NonSuccessKind::Error),
                Verdict::Skip { .. } => TestCaseStatus::skipped(),
            };
            if !matches!(result.verdict, Verdict::Pass) {
                status.set_message(headline(result));
                status.set_description(explanation(result));
            }
            let mut case = TestCase::new(result.meta.id, status);
            case.set_classname(title.as_str()).set_time(result.seconds);
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    junit.serialize(&mut *out).map_err(io::Error::other)?;
    writeln!(out)
}
