//! The relay under pressure from its stdout: nobody reads it
//! (`relay.backpressure.bounded`), or nobody can any more
//! (`relay.sigpipe.stops`).
//!
//! The check writes stdin without blocking and measures what the relay
//! actually read: what went in minus what still sits in the stdin pipe
//! (`FIONREAD`, [`crate::sys::unread_bytes`]). A relay that reads more than
//! [`BACKLOG_BOUND`] in either situation is decided by that count, at once;
//! one that stops is decided by observation ([`crate::target::settle`]); the time bound
//! only ends a relay that keeps running without doing either.
//!
//! # References
//! - [pipe(7)](https://man7.org/linux/man-pages/man7/pipe.7.html) "Pipe capacity", "I/O on pipes and FIFOs",
//!   [signal(7)](https://man7.org/linux/man-pages/man7/signal.7.html)

use std::io::{ErrorKind, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::{
    ended, pipe_hang, pipe_holders, read_by_relay, set_nonblocking, start, with_exit, PipeWait,
    Relay, BACKLOG_BOUND, EXIT_GRACE,
};
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::process::describe_status;
use crate::target::settle::{self, Ending, Gaps, Look};
use crate::target::Target;
use crate::workload::relay::filler;

/// `relay.backpressure.bounded`
pub fn backpressure_bounded(relay: &Relay, ctx: &Ctx) -> Outcome {
    let (mut target, mut stdin, _unread_stdout) = start(relay)?;
    set_nonblocking(&stdin)?;
    let chunk = filler(64 << 10);
    let mut written = 0usize;
    // Full for now; full for good only once the relay cannot run.
    let waited = settle::wait_on(
        ctx.timeout,
        &mut target,
        Vec::new,
        Gaps::QuickFirst,
        |target| {
            let read = read_by_relay(&stdin, written);
            if read > BACKLOG_BOUND {
                return Look::Done(Err(Finding::violated(
                format!("the relay to block after reading at most {BACKLOG_BOUND} bytes of stdin while its stdout is not read"),
                format!("it read {read} bytes and kept reading: it buffers without bound"),
            )
            .with_output(target.output())));
            }
            match stdin.write(&chunk) {
                Ok(n) => {
                    written += n;
                    Look::Moved
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => match ended(target) {
                    Some(_) => Look::Done(Err(stdin_closed(
                        target,
                        read,
                        ErrorKind::BrokenPipe.into(),
                    ))),
                    None => Look::Waiting,
                },
                Err(e) => Look::Done(Err(stdin_closed(target, read, e))),
            }
        },
    );
    match waited {
        Ok(outcome) => outcome,
        Err(evidence) if evidence.stuck() => Ok(()),
        Err(evidence) => Err(pipe_hang(
            "the relay to block on its full stdout, or to read more stdin",
            &evidence,
            &target,
        )),
    }
}

/// The relay closed its stdin (or exited) while its stdout was merely unread.
fn stdin_closed(target: &mut Target, read: usize, error: std::io::Error) -> Finding {
    let finding = Finding::violated(
        "the relay to keep reading its stdin, and block, while its stdout is merely unread",
        format!("it stopped after reading {read} bytes: writing to its stdin failed ({error})"),
    );
    with_exit(finding, target, EXIT_GRACE)
}

/// What `relay.sigpipe.stops` expects, for every way it can fail.
const STOPS: &str = "the relay to terminate because its stdout has no reader: killed by SIGPIPE, or exiting when a write fails with EPIPE";

/// `relay.sigpipe.stops`
pub fn sigpipe_stops(relay: &Relay, ctx: &Ctx) -> Outcome {
    let (mut target, mut stdin, stdout) = start(relay)?;
    // The reader of the relay's stdout goes away before the first byte.
    drop(stdout);
    set_nonblocking(&stdin)?;
    let chunk = filler(16 << 10);
    let mut open = true;
    let mut written = 0usize;
    let mut read = 0;
    let waited = settle::wait_on(
        ctx.timeout,
        &mut target,
        Vec::new,
        Gaps::QuickFirst,
        |target| {
            read = read_by_relay(&stdin, written);
            if let Some(status) = ended(target) {
                return Look::Done(
                    why_it_stopped(status, read).map_err(|f| {
                        f.with_output(target.final_output(Duration::from_millis(200)))
                    }),
                );
            }
            if read > BACKLOG_BOUND {
                return Look::Done(Err(Finding::violated(
                STOPS,
                format!("it read {read} bytes of stdin after its stdout lost its reader, more than its pipes can hold, and kept reading: it buffers or throws away what it cannot write"),
            )
            .with_output(target.output())));
            }
            if open {
                match stdin.write(&chunk) {
                    Ok(n) => {
                        written += n;
                        return Look::Again;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    // EPIPE: it closed stdin, which is fine on its way out.
                    Err(_) => open = false,
                }
            }
            Look::Waiting
        },
    );
    let evidence = match waited {
        Ok(outcome) => return outcome,
        Err(evidence) => evidence,
    };
    let observed = match evidence.ending {
        Ending::Stuck => {
            let holders = pipe_holders(&evidence.threads, PipeWait::Sigpipe);
            if holders.is_empty() {
                format!("after reading {read} bytes it sleeps in calls without timeout, and no write of it can fail any more")
            } else {
                format!("after reading {read} bytes every process sleeps in a call without timeout; SIGPIPE cannot arrive because:\n{holders}")
            }
        }
        // How much it read while it kept running says more than "nothing happened".
        Ending::OutOfTime => format!(
            "still running after {:.1} s, having read {read} bytes of stdin that nobody could read",
            ctx.timeout.as_secs_f64()
        ),
    };
    let hang = Finding::hang_observed(STOPS, observed, &evidence);
    Err(hang.with_output(target.output()))
}

/// Whether a relay that ended, having read `read` bytes of stdin, ended
/// because its stdout lost its reader: killed by SIGPIPE, or exiting after
/// it tried to pass stdin on (a write that failed with EPIPE). Another
/// signal, or an exit before reading anything, is not that.
fn why_it_stopped(status: ExitStatus, read: usize) -> Outcome {
    match status.signal().map(Signal::try_from) {
        Some(Ok(Signal::SIGPIPE)) => Ok(()),
        Some(_) => Err(Finding::violated(
            STOPS,
            format!("it was {}, not by SIGPIPE", describe_status(status)),
        )),
        None if read == 0 => Err(Finding::violated(
            STOPS,
            format!(
                "it exited ({}) without reading any of its stdin, so no write of its can have failed",
                describe_status(status)
            ),
        )),
        None => Ok(()),
    }
}
