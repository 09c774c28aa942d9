//! The Markdown report, for pull-request comments: per [`Report`] a heading,
//! a table with a row per property, the counts, then a collapsible section
//! per failure with the full explanation in a code block.

use std::io::{self, Write};

use super::human::{explanation, mark};
use super::Report;
use crate::spec::Verdict;

pub(super) fn render(reports: &[Report], out: &mut dyn Write) -> io::Result<()> {
    for report in reports {
        writeln!(
            out,
            "### ipcspec: {} (seed {})\n",
            cell(&report.title()),
            report.seed
        )?;
        writeln!(out, "| | property | verdict | time |")?;
        writeln!(out, "|---|---|---|---:|")?;
        for result in &report.results {
            let (sign, word) = mark(&result.verdict);
            writeln!(
                out,
                "| {sign} | `{}` | {word} | {:.2} s |",
                result.meta.id,
                result.seconds.as_secs_f64()
            )?;
        }
        let (pass, fail, skip, error) = report.counts();
        writeln!(
            out,
            "\n**{pass} passed, {fail} failed, {skip} skipped, {error} errors**\n"
        )?;
        for result in report
            .results
            .iter()
            .filter(|r| !matches!(r.verdict, Verdict::Pass))
        {
            let (sign, word) = mark(&result.verdict);
            writeln!(
                out,
                "<details><summary>{sign} {word} <code>{}</code>: {}</summary>\n",
                result.meta.id,
                html(result.meta.statement)
            )?;
            writeln!(out, "{}", fenced(&explanation(result)))?;
            writeln!(out, "</details>\n")?;
        }
    }
    Ok(())
}

/// Text made safe inside a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Text made safe inside HTML.
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A fenced code block whose fence is longer than any backtick run inside.
fn fenced(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}text\n{}\n{fence}", text.trim_end())
}
