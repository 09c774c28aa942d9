//! The state of a `check` run that is under way, shared by the thread that
//! runs the properties and the interrupt handler's thread: the reports so
//! far, the properties in flight, and whether the human report is streamed.
//!
//! Guarantees:
//! - results join their reports in catalog order, whatever order the
//!   properties end in (`--jobs`): one that ends before a property ahead of
//!   it is held until that one ends;
//! - streamed (`--format human` with stdout not a terminal), each result is
//!   printed as soon as it joins its report, with the same lines as the whole
//!   report ([`report::human`]), so the output is the same document, only sooner;
//! - everything is printed under the one lock, so a line is never cut by the
//!   handler's output, and once the handler holds it ([`Live::interrupt`]),
//!   no result is taken any more: a verdict seen after the kill of every
//!   target is the kill's doing, not the target's;
//! - stopped, the report holds every result that ended, in catalog order,
//!   and every property in flight as an error saying so;
//! - the handler waits at most for the line being printed, never for a check.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use ipcspec::report::{self, Report};
use ipcspec::spec::{Meta, PropertyResult, Verdict};
use ipcspec::target::process;

/// A run under way; see the module's doc.
pub struct Live {
    state: Mutex<State>,
}

struct State {
    /// One (empty) report per suite of the run; the first `begun` are under
    /// way or done, and hold the results delivered so far.
    reports: Vec<Report>,
    begun: usize,
    /// The suite of each selected property, by its position in the run.
    plan: Vec<usize>,
    /// The position of the next result to deliver: every one before it is in its report.
    next: usize,
    /// Results that ended before a property ahead of them: by position.
    held: BTreeMap<usize, PropertyResult>,
    /// The properties that run now, by position: each, and since when.
    in_flight: BTreeMap<usize, (&'static Meta, Instant)>,
    /// Properties started so far.
    started: usize,
    /// Print the human report piece by piece on stdout.
    stream: bool,
    /// The last begun report's footer is still to be printed (streamed only).
    open: bool,
    /// The run is over (finished or stopped): nothing more is taken or printed.
    over: bool,
    /// The first error writing the stream (e.g. a reader that went away).
    failed: Option<io::Error>,
}

impl Live {
    /// A run with one empty report per suite, `plan` giving the suite of
    /// each selected property in catalog order; streamed when `stream` is set.
    pub fn new(reports: Vec<Report>, plan: Vec<usize>, stream: bool) -> Live {
        Live {
            state: Mutex::new(State {
                reports,
                begun: 0,
                plan,
                next: 0,
                held: BTreeMap::new(),
                in_flight: BTreeMap::new(),
                started: 0,
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

    /// The property at position `at` of the run starts.
    pub fn start(&self, at: usize, meta: &'static Meta) {
        let mut state = self.lock();
        if state.over {
            return;
        }
        state.started += 1;
        state.in_flight.insert(at, (meta, Instant::now()));
        // Its report's header comes now, when nothing ahead of it is still due.
        if state.next == at {
            let suite = state.plan[at];
            state.reach(suite);
        }
    }

    /// The property at position `at` ended with `result`: it joins its
    /// report (and is printed, when streamed) once every property ahead of
    /// it has, unless the run was stopped meanwhile.
    pub fn end(&self, at: usize, result: PropertyResult) {
        let mut state = self.lock();
        if state.over {
            return;
        }
        state.in_flight.remove(&at);
        state.held.insert(at, result);
        state.deliver_held();
    }

    /// The run finished: `deliver` gets the reports and whether they were
    /// streamed already, under the lock, so a signal now waits for it and
    /// then adds nothing; an error writing the stream comes back first. If
    /// a signal stopped the run first, blocks until its handler, which
    /// delivers the reports, ends the process.
    pub fn finish<T>(
        &self,
        deliver: impl FnOnce(&[Report], bool) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let mut state = self.lock();
        if state.over {
            // Stopped first: the handler delivered the reports and ends the
            // process with 130. Delivering again would recreate its report
            // files, and its exit could cut them empty.
            drop(state);
            process::wait_for_interrupt_exit();
        }
        state.over = true;
        let last = state.reports.len().saturating_sub(1);
        state.reach(last);
        state.close();
        if let Some(e) = state.failed.take() {
            return Err(e.into());
        }
        deliver(&state.reports, state.stream)
    }

    /// The run is stopped: takes no result from now on, calls `kill`, adds
    /// every result that ended, and each property in flight as an error
    /// saying so, in catalog order, marks the reports under way as
    /// interrupted, finishes the stream, and hands the reports begun to
    /// `deliver` as [`Live::finish`] does. Returns what was in flight, as
    /// "during ID (LABEL), ...", for the last word on stderr.
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
        let in_flight = std::mem::take(&mut state.in_flight);
        let not_run = state.plan.len().saturating_sub(state.started);
        let last = in_flight.keys().next_back().copied();
        for (&at, &(meta, started)) in &in_flight {
            let rest = match not_run {
                n if n > 0 && Some(at) == last => {
                    format!("; {n} more selected properties were not run")
                }
                _ => String::new(),
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
            state.held.insert(at, result);
        }
        // Properties not started may lie between those that were: none is waited for.
        while let Some(&at) = state.held.keys().next() {
            state.next = at;
            state.deliver_held();
        }
        // The report under way: that of the last property started (or the first).
        let current = state
            .plan
            .get(state.next.max(1) - 1)
            .copied()
            .unwrap_or(0)
            .min(state.reports.len().saturating_sub(1));
        state.reach(current);
        let stopped: Vec<usize> = in_flight.keys().map(|&at| state.plan[at]).collect();
        let begun = state.begun;
        for (suite, report) in state.reports[..begun].iter_mut().enumerate() {
            if suite + 1 == begun || stopped.contains(&suite) {
                report.interrupted = true;
            }
        }
        state.close();
        if let Err(e) = deliver(&state.reports[..begun], state.stream) {
            eprintln!("ipcspec: {e:#}");
        }
        let during: Vec<String> = in_flight
            .iter()
            .map(|(&at, (meta, _))| {
                format!("{} ({})", meta.id, state.reports[state.plan[at]].target)
            })
            .collect();
        (!during.is_empty()).then(|| format!("during {}", during.join(", ")))
    }
}

impl State {
    /// Moves the results held, from the next position on and without a
    /// gap, into their reports (printing them, when streamed).
    fn deliver_held(&mut self) {
        while let Some(result) = self.held.remove(&self.next) {
            let suite = self.plan[self.next];
            self.reach(suite);
            self.print(|out| report::human::entry(&result, out));
            self.reports[suite].results.push(result);
            self.next += 1;
        }
    }

    /// Begins every report up to that of `suite`: the one before is
    /// done (its counts printed, when streamed), the new one's header printed.
    fn reach(&mut self, suite: usize) {
        while self.begun <= suite && self.begun < self.reports.len() {
            self.close();
            let beginning = &self.reports[self.begun];
            print(self.stream, &mut self.failed, |out| {
                report::human::header(beginning, out)
            });
            self.begun += 1;
            self.open = self.stream;
        }
    }

    /// The last begun report is done: its counts are printed, when streamed.
    fn close(&mut self) {
        if !std::mem::take(&mut self.open) {
            return;
        }
        if let Some(done) = self.reports[..self.begun].last() {
            print(self.stream, &mut self.failed, |out| {
                report::human::footer(done, out)
            });
        }
    }

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ipcspec::spec::{catalog, Profile};

    use super::*;

    fn report(target: &str) -> Report {
        Report {
            profile: Profile::Server,
            target: target.into(),
            variant: None,
            seed: 0,
            results: Vec::new(),
            interrupted: false,
        }
    }

    fn passed(meta: &'static Meta) -> PropertyResult {
        PropertyResult {
            meta,
            verdict: Verdict::Pass,
            seconds: Duration::ZERO,
            replay: None,
        }
    }

    /// The (target, ID, verdict) of every result of `reports`, in order.
    fn listed(reports: &[Report]) -> Vec<(String, &'static str, &'static str)> {
        reports
            .iter()
            .flat_map(|r| {
                r.results
                    .iter()
                    .map(|x| (r.target.clone(), x.meta.id, x.verdict.name()))
            })
            .collect()
    }

    #[test]
    fn results_join_their_reports_in_catalog_order_whatever_ends_first() {
        let metas = catalog();
        let live = Live::new(vec![report("a"), report("b")], vec![0, 0, 1], false);
        for at in [0, 1, 2] {
            live.start(at, metas[at]);
        }
        live.end(2, passed(metas[2]));
        live.end(1, passed(metas[1]));
        live.end(0, passed(metas[0]));
        let got = live.finish(|reports, _| Ok(listed(reports))).unwrap();
        assert_eq!(
            got,
            [
                ("a".to_string(), metas[0].id, "pass"),
                ("a".to_string(), metas[1].id, "pass"),
                ("b".to_string(), metas[2].id, "pass"),
            ]
        );
    }

    #[test]
    fn stopped_names_every_property_in_flight_and_keeps_what_ended() {
        let metas = catalog();
        let live = Live::new(
            vec![report("a"), report("b"), report("c")],
            vec![0, 0, 1, 1, 2],
            false,
        );
        // 0 and 2 run, 1 ended, 3 and 4 never started.
        for at in [0, 1, 2] {
            live.start(at, metas[at]);
        }
        live.end(1, passed(metas[1]));
        let mut delivered = Vec::new();
        let during = live.interrupt(&|| {}, |reports, _| {
            delivered = listed(reports);
            assert!(reports.iter().all(|r| r.interrupted), "both under way");
            Ok(())
        });
        assert_eq!(
            delivered,
            [
                ("a".to_string(), metas[0].id, "error"),
                ("a".to_string(), metas[1].id, "pass"),
                ("b".to_string(), metas[2].id, "error"),
            ]
        );
        assert_eq!(
            during.unwrap(),
            format!("during {} (a), {} (b)", metas[0].id, metas[2].id)
        );
        // Nothing is taken once stopped.
        live.end(0, passed(metas[0]));
    }
}
