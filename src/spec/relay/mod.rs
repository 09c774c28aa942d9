//! Properties of the `relay` profile: a program that copies stdin to stdout
//! through a pipe between two processes of its own, as the lecture's
//! fork + pipe example does ("Pipes").
//!
//! The check owns both ends of the target's stdin and stdout, and looks at
//! its processes through `/proc`. Shape comes first (`shape.rs`): the relay
//! is at least two processes joined by a pipe that stdin's bytes go
//! through, each holding only the end it uses. Then behaviour: bytes,
//! EOF and exit (`stream.rs`), backpressure and SIGPIPE (`pressure.rs`).
//!
//! Every verdict about "it stopped" is taken by observation: the target's
//! processes are settled ([`crate::target::settle`]) while the check's own
//! threads sleep too. `ctx.timeout` only bounds waits for something that
//! keeps running, and a relay that exits mid-property ends that property at
//! once with its exit status.
//!
//! # References
//! - [pipe(2)](https://man7.org/linux/man-pages/man2/pipe.2.html),
//!   [fork(2)](https://man7.org/linux/man-pages/man2/fork.2.html),
//!   [pipe(7)](https://man7.org/linux/man-pages/man7/pipe.7.html)

mod evidence;
mod pressure;
mod shape;
mod stream;

use std::os::fd::AsFd;
use std::process::{ChildStdin, ChildStdout, ExitStatus};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};

use super::{Ctx, Finding, Meta, Profile, Property, References, Scope, Suite};
use crate::target::process::describe_status;
use crate::target::settle::{self, Gaps, Look};
use crate::target::{CommandSpec, Stream, Target, TargetConfig, TargetError};

pub use evidence::{pipe_hang, pipe_holders, why_stuck, PipeWait};

/// A relay under test: any command that should copy stdin to stdout.
#[derive(Clone, Debug)]
pub struct Relay {
    /// The command line.
    pub command: CommandSpec,
}

/// The most stdin a relay may read while nobody reads its stdout: its inner
/// pipe and its stdout, even at the largest capacity an unprivileged process
/// may set (`/proc/sys/fs/pipe-max-size`, 1 MiB by default), plus 2 MiB of
/// its own buffers. More than that, and it buffers without bound.
pub const BACKLOG_BOUND: usize = 4 << 20;

const PIPES: &str = "Pipes";
const EOF: &str = "When do we get EOF on a pipe?";

const fn meta(id: &'static str, statement: &'static str, source: &'static str) -> Meta {
    Meta {
        id,
        statement,
        source,
        profile: Profile::Relay,
        scope: Scope::All,
    }
}

/// Every `relay` property, in catalog order: shape first.
pub static PROPERTIES: &[Property<Relay>] = &[
    Property {
        meta: meta(
            "relay.shape.pipe-carries-stdin",
            "The relay's stdin goes through a pipe from one of its processes to another: with stdout unread, a process waits to write into a pipe whose read end another process holds.",
            PIPES,
        ),
        check: shape::pipe_carries_stdin,
    },
    Property {
        meta: meta(
            "relay.shape.one-end-each",
            "After the fork, no process of the relay holds both ends of a pipe it shares with another: the writer closed the read end, the reader the write end.",
            PIPES,
        ),
        check: shape::one_end_each,
    },
    Property {
        meta: meta(
            "relay.bytes.exact",
            "Every byte written to the relay's stdin comes out of its stdout exactly once and in order, NUL bytes included, whatever the sizes of the writes.",
            PIPES,
        ),
        check: stream::bytes_exact,
    },
    Property {
        meta: meta(
            "relay.eof.exits",
            "After EOF on stdin, stdout reaches EOF and every process of the relay exits, because each one closed the pipe ends it does not use.",
            EOF,
        ),
        check: stream::eof_exits,
    },
    Property {
        meta: meta(
            "relay.exit.success",
            "After EOF on stdin, the relay exits with status 0.",
            "beyond the lecture: exit(3), wait(2)",
        ),
        check: stream::exit_success,
    },
    Property {
        meta: meta(
            "relay.backpressure.bounded",
            "While nobody reads its stdout, the relay blocks after reading a bounded amount of stdin instead of buffering without limit.",
            PIPES,
        ),
        check: pressure::backpressure_bounded,
    },
    Property {
        meta: meta(
            "relay.sigpipe.stops",
            "When its stdout has no reader left, the relay terminates because of it even though stdin keeps coming: killed by SIGPIPE, or stopping when a write fails with EPIPE.",
            EOF,
        ),
        check: pressure::sigpipe_stops,
    },
];

/// The reference relay's suite.
pub fn reference_suites(refs: &References) -> Vec<Suite> {
    let command = CommandSpec {
        program: refs.bin.to_string_lossy().into_owned(),
        args: vec!["relay".into()],
    };
    vec![suite("reference relay", command)]
}

/// The suite for a target command.
pub fn target_suite(command: CommandSpec, _refs: &References) -> Result<Suite, TargetError> {
    command.resolve()?;
    Ok(suite(&command.display(), command))
}

fn suite(label: &str, command: CommandSpec) -> Suite {
    let relay = Arc::new(Relay { command });
    let started = relay.clone();
    Suite::new(Profile::Relay, label, None, None, PROPERTIES, relay)
        .with_preflight(move |ctx| preflight(&started, ctx))
}

/// A relay that exits at once with a non-zero status, before it was given
/// any input, could not be run (a usage error, a missing library): that is
/// exit 2 with its last words, not a failure of every property. One that
/// exits with status 0 is run: it fails as a relay.
fn preflight(relay: &Relay, ctx: &Ctx) -> Result<(), TargetError> {
    let (mut target, _stdin, _stdout) = start(relay)?;
    refuse_usage_error(&mut target, "reading its stdin", ctx)
}

/// Watches a program that reads its stdin, given nothing yet, until it
/// waits for input (settled) or exits; a non-zero exit then is a usage
/// error, before `awaited`. The relay's and the shell's preflight.
pub fn refuse_usage_error(
    target: &mut Target,
    awaited: &str,
    ctx: &Ctx,
) -> Result<(), TargetError> {
    let exited = settle::wait_on(ctx.timeout, target, Vec::new, Gaps::QuickFirst, |target| {
        target.try_status().map_or(Look::Waiting, Look::Done)
    });
    // Waiting for input, or still busy after the bound: it runs; the properties judge it.
    match exited {
        Ok(status) if !status.success() => Err(TargetError::ExitedAtStart {
            program: target.program().to_string(),
            status: describe_status(status),
            awaited: awaited.into(),
            output: target.final_output(Duration::from_millis(200)),
        }),
        _ => Ok(()),
    }
}

/// Starts the relay with both stdin and stdout handed to the check.
fn start(relay: &Relay) -> Result<(Target, ChildStdin, ChildStdout), TargetError> {
    let mut config = TargetConfig::new(relay.command.clone());
    config.stdin = Stream::Piped;
    config.stdout = Stream::Piped;
    let mut target = Target::spawn(config)?;
    let stdin = target.take_stdin();
    let stdout = target.take_stdout();
    match (stdin, stdout) {
        (Some(stdin), Some(stdout)) => Ok((target, stdin, stdout)),
        _ => Err(TargetError::setup(
            "the relay's stdin and stdout",
            Errno::EBADF,
        )),
    }
}

fn set_nonblocking(stdin: &ChildStdin) -> Result<(), Finding> {
    fcntl(stdin, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
        .map(drop)
        .map_err(|e| TargetError::setup("a non-blocking stdin for the relay", e).into())
}

/// Bytes written to the relay's stdin that it has read, given that `written` went in.
fn read_by_relay(stdin: &ChildStdin, written: usize) -> usize {
    let unread = crate::sys::unread_bytes(stdin.as_fd()).unwrap_or(0);
    written.saturating_sub(unread)
}

/// The first process's exit status, once every process of the relay is gone.
fn ended(target: &mut Target) -> Option<ExitStatus> {
    target
        .try_status()
        .filter(|_| target.processes().is_empty())
}

/// `finding`, with the relay's exit status added to what was observed if
/// its first process exits within `grace` (it is on its way out when its
/// stdin or stdout has closed): why the bytes stopped, in its own words.
fn with_exit(finding: Finding, target: &mut Target, grace: Duration) -> Finding {
    let Some(status) = target.wait_exit(grace) else {
        return finding.with_output(target.output());
    };
    // Its last words may still be in the stderr pipe.
    finding
        .observed_then(&format!("; it exited: {}", describe_status(status)))
        .with_output(target.final_output(Duration::from_millis(200)))
}

/// How long a relay whose stdin or stdout closed may take to exit before a
/// finding is reported without its exit status.
const EXIT_GRACE: Duration = Duration::from_millis(500);
