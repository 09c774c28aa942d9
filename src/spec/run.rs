//! Running the properties of one or more suites, several at once where they
//! cannot disturb each other (`check --jobs N`).
//!
//! Guarantees:
//! - every [`Step`] carries the property's position in catalog order
//!   (suite by suite, as selected), so a caller can report in catalog order
//!   whatever ends first;
//! - with `jobs` = 1, properties run one by one in catalog order on the
//!   calling thread, as they did before `--jobs`;
//! - with more, suite by suite: first the properties that may run
//!   alongside others, at most `jobs` at once, each on a thread of its own;
//!   then those that [run alone](Meta::runs_alone), one by one, each on the
//!   calling thread, started once every property before it has ended,
//!   nothing starting until it ends;
//! - every step is handed to the caller on the calling thread, and a check
//!   that panics panics the run, as it did when properties ran one by one.
//!
//! Whether a property runs alone is decided here and only here, by
//! [`ALONE`]: a property measures CPU use or timing a busy machine would
//! perturb, or it shares process-wide state (the descriptors of this
//! process, its other threads' sleep, forks of this process) with whatever
//! else runs. Every other property works on a target of its own (its own
//! server instance, port or socket path, its own program): what another
//! property does to the machine is load, which its verdicts are built to bear.

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Instant;

use super::{
    matches_pattern, replay_line, Ctx, Meta, PropertyResult, Selection, Suite, SuiteCheck, Verdict,
};

/// The stack of a thread that runs a check: the main thread's usual 8 MiB.
const WORKER_STACK: usize = 8 << 20;

/// The properties that run alone, by ID pattern (as `--only` matches), each
/// with the reason. An audit of every check, kept in one place.
pub const ALONE: &[(&str, &str)] = &[
    (
        "pipe.*",
        "in-process pipes: a blocked call is proven stuck when every other thread of this process is asleep (`Standstill`), and the checks hold the fork lock against forks copying their pipe ends",
    ),
    (
        "socket.*",
        "in-process sockets: the same proof that every other thread of this process is asleep, and a forked SIGPIPE writer",
    ),
    (
        "relay.*",
        "tells the relay's pipes from the check's by the pipe ends this whole process holds",
    ),
    (
        "shell.*",
        "tells the shell's pipes from the check's by the pipe ends this whole process holds, and the descriptors it passes on by this process's own",
    ),
    (
        "server.idle.blocked",
        "measures the server's CPU use over a window, and its threads' running time without a wait",
    ),
    (
        "server.hostile.*",
        "emfile measures CPU use as idle.blocked does; many-idle holds 200 clients (and as many threads or processes) and decides within a grace period; slow-client and never-reading-client decide on a stalled server",
    ),
    (
        "server.resilience.leaves-mid-echo",
        "a stall is a writer seen blocked from one look to the next with no byte of the echo moving, after a flood larger than every loopback buffer",
    ),
    (
        "server.event-loop.never-reading-client",
        "floods more than every loopback buffer holds and decides while the server is stalled writing it",
    ),
    (
        "server.echo.slow-reader",
        "reads only once the server is seen stalled on full buffers (32 MiB): a stall seen too early on a starved server would test less",
    ),
    (
        "server.isolation.concurrent-clients",
        "its first clients read only once the server is seen stalled writing to each of them (8 MiB each)",
    ),
    (
        "http.transfer.*",
        "24-32 MiB downloads stalled on full buffers before the client reads or leaves",
    ),
];

impl Meta {
    /// Whether this property runs with nothing else running (`ALONE`, in `spec/run.rs`).
    pub fn runs_alone(&self) -> bool {
        ALONE
            .iter()
            .any(|(pattern, _)| matches_pattern(pattern, self.id))
    }
}

/// Where a run is: a property starts, or one ended with its result. `at`
/// is the property's position among the run's selected properties, in
/// catalog order; `suite` the index of its suite.
#[derive(Debug)]
pub enum Step {
    /// This property's check starts now.
    Started {
        /// Position in the run.
        at: usize,
        /// Index of its suite.
        suite: usize,
        /// The property.
        meta: &'static Meta,
    },
    /// A property's check ended with this result.
    Ended {
        /// Position in the run.
        at: usize,
        /// Index of its suite.
        suite: usize,
        /// Its result.
        result: PropertyResult,
    },
}

/// The selected checks of `suites`, each with the index of its suite, in
/// catalog order: a check's position here is its `at` in a run.
pub fn plan<'a>(suites: &'a [Suite], selection: &Selection) -> Vec<(usize, &'a SuiteCheck)> {
    suites
        .iter()
        .enumerate()
        .flat_map(|(s, suite)| suite.checks.iter().map(move |c| (s, c)))
        .filter(|(_, c)| selection.selects(c.meta.id))
        .collect()
}

/// Runs the selected checks of `suites` with at most `jobs` at once (see the
/// module's doc), telling `step` when each starts and handing it each
/// result as soon as it ends; `replay` is the command line that reruns the
/// suites, to which a failure's replay appends `--only ID --seed S`.
pub fn run_each(
    suites: &[Suite],
    ctx: &Ctx,
    selection: &Selection,
    replay: Option<&str>,
    jobs: usize,
    mut step: impl FnMut(Step),
) {
    let queue = plan(suites, selection);
    let (done, ended) = mpsc::channel::<(usize, usize, std::thread::Result<PropertyResult>)>();
    std::thread::scope(|scope| {
        // Properties running on threads of their own.
        let mut running = 0;
        let take_one = |step: &mut dyn FnMut(Step)| {
            let (at, suite, result) = ended.recv().expect("every worker sends its result");
            step(Step::Ended {
                at,
                suite,
                result: result.unwrap_or_else(|panic| panic::resume_unwind(panic)),
            });
        };
        for at in start_order(&queue, jobs) {
            let (suite, check) = queue[at];
            let alone = jobs <= 1 || check.meta.runs_alone();
            while running > 0 && (alone || running >= jobs) {
                take_one(&mut step);
                running -= 1;
            }
            step(Step::Started {
                at,
                suite,
                meta: check.meta,
            });
            if alone {
                let result = checked(check, ctx, replay);
                step(Step::Ended { at, suite, result });
            } else {
                running += 1;
                let done = done.clone();
                let worker = move || {
                    let result =
                        panic::catch_unwind(AssertUnwindSafe(|| checked(check, ctx, replay)));
                    // The receiver lives until every worker is done.
                    let _ = done.send((at, suite, result));
                };
                // The stack a check had on the main thread (a spawned
                // thread's default is a quarter of it).
                let spawned = std::thread::Builder::new()
                    .stack_size(WORKER_STACK)
                    .spawn_scoped(scope, worker);
                if spawned.is_err() {
                    // No thread to be had: this one checks it, as with one job.
                    running -= 1;
                    let result = checked(check, ctx, replay);
                    step(Step::Ended { at, suite, result });
                }
            }
        }
        for _ in 0..running {
            take_one(&mut step);
        }
    });
}

/// The positions of `queue` in the order they start: catalog order with
/// one job; with more, suite by suite, first the properties that may run
/// alongside others, then those that run alone, so that the first kind
/// run together instead of a few at a time between the second.
fn start_order(queue: &[(usize, &SuiteCheck)], jobs: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..queue.len()).collect();
    if jobs > 1 {
        // Stable: catalog order within each kind of each suite.
        order.sort_by_key(|&at| (queue[at].0, queue[at].1.meta.runs_alone()));
    }
    order
}

/// Checks one property (or skips it, when it does not apply) and times it.
fn checked(check: &SuiteCheck, ctx: &Ctx, replay: Option<&str>) -> PropertyResult {
    let started = Instant::now();
    let verdict = match &check.not_applicable {
        Some(why) => Verdict::Skip {
            reason: format!("not applicable: {why}"),
        },
        None => Verdict::from(check.check(ctx)),
    };
    let replay = replay
        .filter(|_| verdict.is_failure())
        .map(|base| replay_line(base, check.meta.id, ctx.seed));
    PropertyResult {
        meta: check.meta,
        verdict,
        seconds: started.elapsed(),
        replay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::catalog;

    #[test]
    fn every_pattern_of_those_that_run_alone_names_a_property() {
        let catalog = catalog();
        for (pattern, why) in ALONE {
            assert!(
                catalog.iter().any(|m| matches_pattern(pattern, m.id)),
                "{pattern} ({why}) selects no property"
            );
        }
    }

    #[test]
    fn what_measures_cpu_or_shares_this_process_runs_alone() {
        let catalog = catalog();
        let alone = |id: &str| catalog.iter().find(|m| m.id == id).expect(id).runs_alone();
        for id in [
            "server.idle.blocked",
            "server.hostile.emfile",
            "pipe.eof.after-last-writer",
            "relay.shape.one-end-each",
        ] {
            assert!(alone(id), "{id} runs alone");
        }
        for id in ["server.echo.byte-exact", "server.leaks.no-zombies"] {
            assert!(!alone(id), "{id} may run alongside others");
        }
    }
}
