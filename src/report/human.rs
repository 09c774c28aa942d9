//! The human report: a tree of properties, a mark per verdict, and for each
//! failure the rule, expected vs observed, the smallest input, the target's
//! last words and the command that replays it.
//!
//! The report is a stream: [`header`], an [`entry`] per result in the order
//! the properties ran, [`footer`]. A run whose output is not a terminal
//! prints each piece as soon as it is known, and the whole report reads the
//! same as if it had been printed at the end.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::Report;
use crate::spec::{PropertyResult, Verdict};

pub(super) fn render(reports: &[Report], out: &mut dyn Write) -> io::Result<()> {
    for report in reports {
        header(report, out)?;
        for result in &report.results {
            entry(result, out)?;
        }
        footer(report, out)?;
    }
    Ok(())
}

/// A report's first line: what is checked, and the seed.
pub fn header(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}  (seed {})", report.title(), report.seed)
}

/// One result: its verdict line, then (for any verdict but a pass) its explanation.
pub fn entry(result: &PropertyResult, out: &mut dyn Write) -> io::Result<()> {
    let (mark, word) = mark(&result.verdict);
    writeln!(
        out,
        "  {mark} {word:<5} {:<48} {:>6.2} s",
        result.meta.id,
        result.seconds.as_secs_f64()
    )?;
    for line in explanation(result).lines() {
        writeln!(out, "      {line}")?;
    }
    Ok(())
}

/// A report's last line: the counts, and a blank line.
pub fn footer(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let (pass, fail, skip, error) = report.counts();
    writeln!(
        out,
        "  {pass} passed, {fail} failed, {skip} skipped, {error} errors\n"
    )
}

/// The mark and word the human and Markdown reports show for a verdict.
pub(super) fn mark(verdict: &Verdict) -> (&'static str, &'static str) {
    match verdict {
        Verdict::Pass => ("✓", "pass"),
        Verdict::Fail(_) => ("✗", "FAIL"),
        Verdict::Hang(_) => ("⧗", "HANG"),
        Verdict::Skip { .. } => ("-", "skip"),
        Verdict::Error { .. } => ("!", "ERROR"),
    }
}

/// Everything a reader needs about one result, as plain text: for a failure
/// the rule, expected vs observed, the smallest input, the threads, the
/// target's last output and the replay command; for a skip or an error the
/// reason; nothing for a pass. Every format that explains a result uses this.
pub fn explanation(result: &PropertyResult) -> String {
    let mut text = String::new();
    match &result.verdict {
        Verdict::Fail(failure) | Verdict::Hang(failure) => {
            let meta = result.meta;
            let _ = writeln!(text, "rule:     {} ({})", meta.statement, meta.citation());
            let _ = writeln!(text, "expected: {}", indent(&failure.expected));
            let _ = writeln!(text, "observed: {}", indent(&failure.observed));
            for (title, body) in [
                ("smallest input", failure.counterexample.clone()),
                ("threads", failure.threads.clone()),
                (
                    "target's last output",
                    (!failure.output.is_empty()).then(|| failure.output.join("\n")),
                ),
            ] {
                if let Some(body) = body {
                    let _ = writeln!(text, "{title}:\n{}", block(&body));
                }
            }
            if let Some(replay) = &result.replay {
                let _ = writeln!(text, "replay:   {replay}");
            }
        }
        Verdict::Skip { reason } => {
            let _ = writeln!(text, "why:      {reason}");
        }
        Verdict::Error { message } => {
            let _ = writeln!(text, "error:    {message}");
        }
        Verdict::Pass => {}
    }
    text
}

/// The one-line summary of a result that is not a pass: "expected X, was Y".
pub(super) fn headline(result: &PropertyResult) -> String {
    match &result.verdict {
        Verdict::Fail(f) => format!(
            "expected {}, was {}",
            first_line(&f.expected),
            first_line(&f.observed)
        ),
        Verdict::Hang(f) => format!("hang: awaited {}", first_line(&f.expected)),
        Verdict::Skip { reason } => format!("skipped: {reason}"),
        Verdict::Error { message } => message.clone(),
        Verdict::Pass => "pass".into(),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

fn indent(text: &str) -> String {
    text.replace('\n', "\n          ")
}

fn block(text: &str) -> String {
    text.lines()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
