//! Reports: what a run found, rendered for people and for machines.
//!
//! A [`Report`] is one subject checked against one profile; a run may produce
//! several (the pipe check covers the kernel and the reference). Every format
//! renders the same reports; [`exit_code`] turns them into the process's
//! exit status ([`ExitCode`]).

mod gradescope;
pub mod human;
mod json;
mod junit;
mod markdown;
pub mod quote;
pub mod weights;

use std::io::{self, Write};

use serde::Serialize;

use crate::spec::{Profile, PropertyResult, Verdict};

pub use human::explanation;
pub use weights::Weights;

/// Output formats for `check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A tree of properties with a mark per verdict; failures explained.
    Human,
    /// One JSON document: every report with each property's ID and verdict.
    Json,
    /// JUnit XML: a testsuite per report, a testcase per property.
    Junit,
    /// Gradescope's `results.json`, with points from `--weights`.
    Gradescope,
    /// Markdown for a pull-request comment: a table, then each failure explained.
    Markdown,
}

/// One subject checked against one profile.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The profile checked.
    pub profile: Profile,
    /// What was checked: a command line, or a built-in implementation's name.
    pub target: String,
    /// The claimed variant, where the profile has variants.
    pub variant: Option<String>,
    /// The seed of the randomized workloads.
    pub seed: u64,
    /// One entry per property checked, in catalog order.
    pub results: Vec<PropertyResult>,
    /// The run was stopped (Ctrl-C, SIGTERM, SIGHUP) while this report was
    /// under way: each property in flight is an error saying so, and the
    /// selected properties it lacks were not run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

impl Report {
    /// "PROFILE TARGET as VARIANT": what this report is about, in one line.
    pub fn title(&self) -> String {
        let variant = self
            .variant
            .as_deref()
            .map(|v| format!(" as {v}"))
            .unwrap_or_default();
        format!("{} {}{variant}", self.profile.name(), self.target)
    }

    /// How many results have each verdict: (pass, fail or hang, skip, error).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        self.results
            .iter()
            .fold((0, 0, 0, 0), |(p, f, s, e), r| match r.verdict {
                Verdict::Pass => (p + 1, f, s, e),
                Verdict::Fail(_) | Verdict::Hang(_) => (p, f + 1, s, e),
                Verdict::Skip { .. } => (p, f, s + 1, e),
                Verdict::Error { .. } => (p, f, s, e + 1),
            })
    }
}

/// What a run's exit status means. Scripts and CI read it, so each value
/// says one thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "i32")]
pub enum ExitCode {
    /// At least one property ran, and every property that ran passed (for
    /// a command that checks nothing, such as `list` or `grade`: it did its job).
    Conforms = 0,
    /// A property failed or hung.
    Failed = 1,
    /// The command line is wrong, the target could not be run, or nothing
    /// was checked at all.
    Unusable = 2,
    /// The run was stopped (Ctrl-C, SIGTERM, SIGHUP) before it finished.
    Interrupted = 130,
}

impl From<ExitCode> for i32 {
    fn from(code: ExitCode) -> i32 {
        code as i32
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> std::process::ExitCode {
        std::process::ExitCode::from(code as u8)
    }
}

impl ExitCode {
    /// Every exit code, in order.
    pub const ALL: [ExitCode; 4] = [
        ExitCode::Conforms,
        ExitCode::Failed,
        ExitCode::Unusable,
        ExitCode::Interrupted,
    ];

    /// The exit code a process exited with, if it is one of ipcspec's.
    pub fn of_status(status: Option<i32>) -> Option<ExitCode> {
        ExitCode::ALL
            .into_iter()
            .find(|code| status == Some(i32::from(*code)))
    }
}

/// The exit status for a run: [`ExitCode::Interrupted`] if it was stopped
/// before it finished, else [`ExitCode::Unusable`] if a target could not
/// be run or no property passed (every one selected was inapplicable), else
/// [`ExitCode::Failed`] if a property failed or hung, else
/// [`ExitCode::Conforms`].
pub fn exit_code(reports: &[Report]) -> ExitCode {
    let counts: Vec<_> = reports.iter().map(Report::counts).collect();
    if reports.iter().any(|r| r.interrupted) {
        ExitCode::Interrupted
    } else if counts.iter().any(|c| c.3 > 0) {
        ExitCode::Unusable
    } else if counts.iter().any(|c| c.1 > 0) {
        ExitCode::Failed
    } else if counts.iter().all(|c| c.0 == 0) {
        ExitCode::Unusable
    } else {
        ExitCode::Conforms
    }
}

/// Writes `reports` to `out` in `format`, every property worth one point.
pub fn render(reports: &[Report], format: Format, out: &mut dyn Write) -> io::Result<()> {
    render_weighted(reports, format, &Weights::default(), out)
}

/// Writes `reports` to `out` in `format`, with points per property from `weights`.
pub fn render_weighted(
    reports: &[Report],
    format: Format,
    weights: &Weights,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Human => human::render(reports, out),
        Format::Json => json::render(reports, out),
        Format::Junit => junit::render(reports, out),
        Format::Gradescope => gradescope::render(reports, weights, out),
        Format::Markdown => markdown::render(reports, out),
    }
}

#[cfg(test)]
mod tests {
    use super::ExitCode;

    #[test]
    fn an_exit_status_reads_back_as_its_exit_code() {
        for code in ExitCode::ALL {
            assert_eq!(ExitCode::of_status(Some(i32::from(code))), Some(code));
        }
        assert_eq!(ExitCode::of_status(Some(3)), None);
        assert_eq!(ExitCode::of_status(None), None, "killed by a signal");
    }
}
