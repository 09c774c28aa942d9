//! Reports: what a run found, rendered for people and for machines.
//!
//! A [`Report`] is one subject checked against one profile; a run may produce
//! several (the pipe check covers the kernel and the reference). Every format
//! renders the same reports; [`exit_code`] turns them into the process's
//! exit status: 0 conforms, 1 a property failed, 2 the target could not be run.

mod human;
mod json;

use std::io::{self, Write};

use serde::Serialize;

use crate::spec::{Profile, PropertyResult, Verdict};

/// Output formats for `check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A tree of properties with a mark per verdict; failures explained.
    Human,
    /// One JSON document: every report with each property's ID and verdict.
    Json,
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
}

impl Report {
    /// How many results have each verdict: (pass, fail or hang, skip, error).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        self.results.iter().fold((0, 0, 0, 0), |(p, f, s, e), r| match r.verdict {
            Verdict::Pass => (p + 1, f, s, e),
            Verdict::Fail(_) | Verdict::Hang(_) => (p, f + 1, s, e),
            Verdict::Skip { .. } => (p, f, s + 1, e),
            Verdict::Error { .. } => (p, f, s, e + 1),
        })
    }
}

/// The exit status for a run: 2 if a target could not be run, else 1 if a
/// property failed or hung, else 0.
pub fn exit_code(reports: &[Report]) -> i32 {
    let counts: Vec<_> = reports.iter().map(Report::counts).collect();
    if counts.iter().any(|c| c.3 > 0) {
        2
    } else if counts.iter().any(|c| c.1 > 0) {
        1
    } else {
        0
    }
}

/// Writes `reports` to `out` in `format`.
pub fn render(reports: &[Report], format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Human => human::render(reports, out),
        Format::Json => json::render(reports, out),
    }
}
