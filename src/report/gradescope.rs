//! The Gradescope autograder `results.json`: a total `score` and
//! `max_score`, and one test per property with its own points (from the
//! [`Weights`]), the explanation of a failure as its `output`, all visible.
//! A skipped property earns nothing out of its points (see [`super::weights`]).
//!
//! Format: <https://gradescope-autograders.readthedocs.io/en/latest/specs/>

use std::io::{self, Write};

use serde_json::json;

use super::human::explanation;
use super::{Report, Weights};
use crate::spec::Verdict;

pub(super) fn render(reports: &[Report], weights: &Weights, out: &mut dyn Write) -> io::Result<()> {
    let several = reports.len() > 1;
    let mut tests = Vec::new();
    let (mut score, mut max_score) = (0.0, 0.0);
    for report in reports {
        for result in &report.results {
            let (earned, possible) = weights.score_verdict(result.meta.id, &result.verdict);
            score += earned;
            max_score += possible;
            let name = if several {
                format!("{} ({})", result.meta.id, report.target)
            } else {
                result.meta.id.to_string()
            };
            let output = match &result.verdict {
                Verdict::Pass => result.meta.statement.to_string(),
                _ => explanation(result),
            };
            tests.push(json!({
                "name": name,
                "score": earned,
                "max_score": possible,
                "status": if matches!(result.verdict, Verdict::Pass) { "passed" } else { "failed" },
                "output": output,
                "visibility": "visible",
            }));
        }
    }
    let summary: Vec<String> = reports
        .iter()
        .map(|r| {
            let (pass, fail, skip, error) = r.counts();
            format!(
                "{}: {pass} passed, {fail} failed, {skip} skipped, {error} errors",
                r.title()
            )
        })
        .collect();
    let doc = json!({
        "score": score,
        "max_score": max_score,
        "output": summary.join("\n"),
        "visibility": "visible",
        "stdout_visibility": "visible",
        "tests": tests,
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}
