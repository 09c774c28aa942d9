//! The human report: a tree of properties, a mark per verdict, and for each
//! failure the rule, expected vs observed, the smallest input, the target's
//! last words and the command that replays it.

use std::io::{self, Write};

use super::Report;
use crate::spec::{Failure, Verdict};

pub(super) fn render(reports: &[Report], out: &mut dyn Write) -> io::Result<()> {
    for report in reports {
        let variant = report.variant.as_deref().map(|v| format!(" as {v}")).unwrap_or_default();
        writeln!(out, "{} {}{variant}  (seed {})", report.profile.name(), report.target, report.seed)?;
        for result in &report.results {
            let (mark, word) = match &result.verdict {
                Verdict::Pass => ("✓", "pass"),
                Verdict::Fail(_) => ("✗", "FAIL"),
                Verdict::Hang(_) => ("⧗", "HANG"),
                Verdict::Skip { .. } => ("-", "skip"),
                Verdict::Error { .. } => ("!", "ERROR"),
            };
            writeln!(
                out,
                "  {mark} {word:<5} {:<48} {:>6.2} s",
                result.meta.id,
                result.seconds.as_secs_f64()
            )?;
            match &result.verdict {
                Verdict::Fail(failure) | Verdict::Hang(failure) => {
                    explain(out, result.meta.statement, result.meta.source, failure)?;
                    if let Some(replay) = &result.replay {
                        writeln!(out, "      replay:   {replay}")?;
                    }
                }
                Verdict::Skip { reason } => writeln!(out, "      why:      {reason}")?,
                Verdict::Error { message } => writeln!(out, "      error:    {message}")?,
                Verdict::Pass => {}
            }
        }
        let (pass, fail, skip, error) = report.counts();
        writeln!(out, "  {pass} passed, {fail} failed, {skip} skipped, {error} errors\n")?;
    }
    Ok(())
}

fn explain(out: &mut dyn Write, statement: &str, source: &str, failure: &Failure) -> io::Result<()> {
    writeln!(out, "      rule:     {statement} (lecture: {source})")?;
    writeln!(out, "      expected: {}", indent(&failure.expected))?;
    writeln!(out, "      observed: {}", indent(&failure.observed))?;
    if let Some(input) = &failure.counterexample {
        writeln!(out, "      smallest input:\n{}", block(input))?;
    }
    if let Some(threads) = &failure.threads {
        writeln!(out, "      threads:\n{}", block(threads))?;
    }
    if !failure.output.is_empty() {
        writeln!(out, "      target's last output:\n{}", block(&failure.output.join("\n")))?;
    }
    Ok(())
}

fn indent(text: &str) -> String {
    text.replace('\n', "\n                ")
}

fn block(text: &str) -> String {
    text.lines().map(|l| format!("        | {l}")).collect::<Vec<_>>().join("\n")
}
