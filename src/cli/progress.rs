//! The progress bar of a `check` run: how many properties are done and which
//! one runs now. Drawn on stderr only when stderr is a terminal, so logs, CI
//! output and `--format json` pipelines never see it.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use ipcspec::spec::{Selection, Suite};

/// A bar over every selected check of `suites`; hidden unless stderr is a terminal.
pub fn bar(suites: &[Suite], selection: &Selection) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total(suites, selection) as u64);
    if let Ok(style) = ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// How many checks of `suites` are selected.
pub fn total(suites: &[Suite], selection: &Selection) -> usize {
    suites
        .iter()
        .flat_map(|s| &s.checks)
        .filter(|c| selection.selects(c.meta.id))
        .count()
}

/// Shows that `done` checks are finished and `id` on `label` runs now.
pub fn step(bar: &ProgressBar, done: u64, label: &str, id: &str) {
    bar.set_message(format!("{id} ({label})"));
    bar.set_position(done);
}
