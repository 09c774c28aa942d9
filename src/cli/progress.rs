//! The progress bars of `check` (how many properties are done and which one
//! runs now) and `grade` (how many submissions are done, the last one's
//! result and the time left). Drawn on stderr only when stderr is a
//! terminal, so logs, CI output and `--format json` pipelines never see them.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use ipcspec::spec::{Selection, Suite};

/// A bar over every selected check of `suites`; hidden unless stderr is a terminal.
pub fn bar(suites: &[Suite], selection: &Selection) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    drawn(
        total(suites, selection),
        "{elapsed:>4} [{bar:30}] {pos}/{len} {msg}",
    )
}

/// A bar over `total` submissions with the time left; hidden unless stderr is a terminal.
pub fn grading_bar(total: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    drawn(
        total,
        "{elapsed:>4} [{bar:30}] {pos}/{len} (about {eta} left) {msg}",
    )
}

/// A bar over `total` steps drawn with `template`.
fn drawn(total: usize, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// How many checks of `suites` are selected.
pub fn total(suites: &[Suite], selection: &Selection) -> usize {
    ipcspec::spec::plan(suites, selection).len()
}

/// Shows that `done` checks are finished and `id` on `label` runs now.
pub fn step(bar: &ProgressBar, done: u64, label: &str, id: &str) {
    bar.set_message(format!("{id} ({label})"));
    bar.set_position(done);
}
