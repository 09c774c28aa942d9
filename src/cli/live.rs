//! The state of a `check` run that is under way, shared by the thread that
//! runs the properties and the interrupt handler's thread: the reports so
//! far, the property in flight, and whether the human report is streamed.
//!
//! Guarantees:
//! - streamed (`--format human` with stdout not a terminal), each result is
//!   printed as soon as its property ends, with the same lines as the whole
//!   report ([`report::human`]), so the output is the same document, only sooner;
//! - everything is printed under the one lock, so a line is never cut by the
//!   handler's output, and once the handler holds it ([`Live::interrupt`]),
//!   no result is taken any more: a verdict seen after the kill of every
//!   target is the kill's doing, not the target's;
//! - the handler waits at most for the line being printed, never for a check.

use std::io::{self, Write};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use ipcspec::report::{self, Report};
use ipcspec::spec::{Meta, PropertyResult, Verdict};

/// A run under way; see the module's doc.
pub struct Live {
    state: Mutex<State>,
}

struct State {
    reports: Vec<Report>,
    /// The property that runs now, on which suite (its label), since when.
    in_flight: Option<(&'static Meta, String, Instant)>,
    /// Properties selected in the whole run, to say how many were not run.
    total: usize,
    /// Results ended so far, in every report.
    ended: usize,
    /// Print the human report piece by piece on stdout.
    stream: bool,
    /// The last report's footer is still to be printed (streamed only).
    open: bool,
    /// The run is over (finished or stopped): nothing more is taken or printed.
    over: bool,
    /// The first error writing the stream (e.g. a reader that went away).
    failed: Option<io::Error>,
}

impl Live {
    /// A run of `total` selected properties, streamed when `stream` is set.
    pub fn new(total: usize, stream: bool) -> Live {
        Live {
            state: Mutex::new(State {
                reports: Vec::new(),
                in_flight: None,
                total,
                ended: 0,
                stream,
                open: false,
                over: false,
                failed: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A suite starts: `report` (empty) will take its results.
    pub fn begin(&self, report: Report) {
        let mut state = self.lock();
        if state.over {
            return;
        }
        state.print(|out| report::human::header(&report, out));
        state.open = state.stream;
        state.reports.push(report);
    }

    /// `meta`'s check starts, on the suite labelled `label`.
    pub fn start(&self, meta: &'static Meta, label: &str) {
        let mut state = self.lock();
        state.in_flight = Some((meta, label.to_string(), Instant::now()));
    }

    /// A property ended with `result`: it joins the current report (and is
    /// printed, when streamed), unless the run was stopped meanwhile.
    pub fn end(&self, result: PropertyResult) {
        let mut state = self.lock();
        if state.over {
            return;
        }
        state.in_flight = None;
        state.ended += 1;
        state.print(|out| report::human::entry(&result, out));
        if let Some(report) = state.reports.last_mut() {
            report.results.push(result);
        }
    }

    /// The current suite is done: its counts are printed, when streamed.
    pub fn close(&self) {
        let mut state = self.lock();
        if state.over || !state.open {
            return;
        }
        state.open = false;
        let State {
            reports,
            stream,
            failed,
            ..
        } = &mut *state;
        if let Some(report) = reports.last() {
            print(*stream, failed, |out| report::human::footer(report, out));
        }
    }

    /// The run finished: `deliver` gets the reports and whether they were
    /// streamed already, under the lock, so a signal now waits for it and
    /// then adds nothing; an error writing the stream comes back first.
    pub fn finish<T>(
        &self,
        deliver: impl FnOnce(&[Report], bool) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let mut state = self.lock();
        state.over = true;
        if let Some(e) = state.failed.take() {
            return Err(e.into());
        }
        deliver(&state.reports, state.stream)
    }

    /// The run is stopped: takes no result from now on, calls `kill`, marks
    /// the report under way as interrupted (the property in flight becomes
    /// an error saying so), finishes the stream, and hands the reports to
    /// `deliver` as [`Live::finish`] does. Returns what was in flight, as
    /// "during ID (LABEL)", for the last word on stderr.
    pub fn interrupt(
        &self,
        kill: &dyn Fn(),
        deliver: impl FnOnce(&[Report], bool) -> anyhow::Result<()>,
    ) -> Option<String> {
        let mut state = self.lock();
        if state.over {
            kill();
            return None;
        }
        state.over = true;
        kill();
        let in_flight = state.in_flight.take();
        let not_run = state.total.saturating_sub(state.ended + 1);
        if let Some((meta, _, started)) = &in_flight {
            let rest = match not_run {
                0 => String::new(),
                n => format!("; {n} more selected properties were not run"),
            };
            let result = PropertyResult {
                meta,
                verdict: Verdict::Error {
                    message: format!(
                        "stopped during this property: the run was interrupted \
                         (Ctrl-C, SIGTERM or SIGHUP){rest}"
                    ),
                },
                seconds: started.elapsed(),
                replay: None,
            };
            state.print(|out| report::human::entry(&result, out));
            if let Some(report) = state.reports.last_mut() {
                report.results.push(result);
            }
        }
        if let Some(report) = state.reports.last_mut() {
            report.interrupted = true;
        }
        if std::mem::take(&mut state.open) {
            let State {
                reports,
                stream,
                failed,
                ..
            } = &mut *state;
            if let Some(report) = reports.last() {
                print(*stream, failed, |out| report::human::footer(report, out));
            }
        }
        if let Err(e) = deliver(&state.reports, state.stream) {
            eprintln!("ipcspec: {e:#}");
        }
        in_flight.map(|(meta, label, _)| format!("during {} ({label})", meta.id))
    }
}

impl State {
    /// Writes a piece of the human report on stdout, when streamed.
    fn print(&mut self, piece: impl FnOnce(&mut dyn Write) -> io::Result<()>) {
        print(self.stream, &mut self.failed, piece);
    }
}

/// Writes `piece` on stdout and flushes it, if `stream`; after a first
/// failure (kept in `failed`), writes nothing more.
fn print(
    stream: bool,
    failed: &mut Option<io::Error>,
    piece: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) {
    if !stream || failed.is_some() {
        return;
    }
    let mut out = io::stdout().lock();
    if let Err(e) = piece(&mut out).and_then(|()| out.flush()) {
        *failed = Some(e);
    }
}
