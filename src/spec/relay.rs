//! Properties of the `relay` profile: a program that copies stdin to stdout
//! through a pipe between a parent and a child it forks.
//!
//! The check owns both ends of the target's stdin and stdout. Every verdict
//! about "it stopped" is taken by observation: the target's processes are
//! quiescent (asleep in calls without timeout, no context switch between two
//! samples) while the check's own reader sleeps in `read` on an empty pipe.
//! `ctx.timeout` only bounds waits for something that keeps running.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::{ChildStdin, ChildStdout, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::Pid;

use super::diff::same_bytes;
use super::{Ctx, Finding, Meta, Outcome, Profile, Property, References, Scope, Suite};
use crate::target::observe::{self, ThreadState};
use crate::target::process::describe_status;
use crate::target::settle::Stillness;
use crate::target::{CommandSpec, Stream, Target, TargetConfig, TargetError};
use crate::workload::relay::{feed, payload, Feed};

/// A relay under test: any command that should copy stdin to stdout.
#[derive(Clone, Debug)]
pub struct Relay {
    /// The command line.
    pub command: CommandSpec,
}

/// The most stdin a relay may take while nobody reads its stdout: three
/// pipes (stdin, its inner pipe, stdout) even at the largest capacity an
/// unprivileged process may set (`/proc/sys/fs/pipe-max-size`, 1 MiB by
/// default), plus 1 MiB of the relay's own buffers.
pub const BACKLOG_BOUND: usize = 4 << 20;

/// Where the backpressure check gives up on a relay that keeps taking stdin.
pub const BACKLOG_GIVE_UP: usize = 64 << 20;

/// Every `relay` property, in catalog order.
pub static PROPERTIES: &[Property<Relay>] = &[
    Property {
        meta: Meta {
            id: "relay.bytes.exact",
            statement: "Every byte written to the relay's stdin comes out of its stdout exactly once and in order, NUL bytes included, whatever the sizes of the writes.",
            source: "Pipes",
            profile: Profile::Relay,
            scope: Scope::All,
        },
        check: bytes_exact,
    },
    Property {
        meta: Meta {
            id: "relay.eof.exits",
            statement: "After EOF on stdin, stdout reaches EOF and every process of the relay exits, because each one closed the pipe ends it does not use.",
            source: "When do we get EOF on a pipe?",
            profile: Profile::Relay,
            scope: Scope::All,
        },
        check: eof_exits,
    },
    Property {
        meta: Meta {
            id: "relay.exit.success",
            statement: "A relay that copied all of its input exits with status 0.",
            source: "Pipes",
            profile: Profile::Relay,
            scope: Scope::All,
        },
        check: exit_success,
    },
    Property {
        meta: Meta {
            id: "relay.backpressure.bounded",
            statement: "While nobody reads its stdout, the relay blocks after taking a bounded amount of stdin instead of buffering without limit.",
            source: "Pipes",
            profile: Profile::Relay,
            scope: Scope::All,
        },
        check: backpressure_bounded,
    },
    Property {
        meta: Meta {
            id: "relay.sigpipe.stops",
            statement: "When its stdout has no reader left, the relay terminates even though stdin keeps coming, by SIGPIPE or by stopping on EPIPE.",
            source: "When do we get EOF on a pipe?",
            profile: Profile::Relay,
            scope: Scope::All,
        },
        check: sigpipe_stops,
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
    Suite::new(Profile::Relay, label, None, None, PROPERTIES, relay)
}

/// Starts the relay with both stdin and stdout handed to the check.
fn start(relay: &Relay) -> Result<(Target, ChildStdin, ChildStdout), Finding> {
    let mut config = TargetConfig::new(relay.command.clone());
    config.stdin = Stream::Piped;
    config.stdout = Stream::Piped;
    let mut target = Target::spawn(config)?;
    let stdin = target.take_stdin();
    let stdout = target.take_stdout();
    match (stdin, stdout) {
        (Some(stdin), Some(stdout)) => Ok((target, stdin, stdout)),
        _ => Err(TargetError::setup("the relay's stdin and stdout", Errno::EBADF).into()),
    }
}

/// A thread of the check that moves bytes to or from the target.
struct Worker {
    tid: Pid,
    done: Arc<AtomicBool>,
}

impl Worker {
    fn spawn(work: impl FnOnce() + Send + 'static) -> Worker {
        let done = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let flag = done.clone();
        std::thread::spawn(move || {
            let _ = tx.send(nix::unistd::gettid());
            work();
            flag.store(true, Ordering::SeqCst);
        });
        let tid = rx.recv().unwrap_or_else(|_| nix::unistd::gettid());
        Worker { tid, done }
    }

    fn done(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }
}

/// What came out of a relay fed one payload.
struct Relayed {
    target: Target,
    output: Vec<u8>,
    /// Whether stdout reached EOF; `false` means the relay was seen stuck.
    eof: bool,
    /// The threads of the relay when it was seen stuck.
    stuck: Vec<ThreadState>,
}

/// Feeds `input` in writes of `chunks` sizes while reading stdout, until
/// stdout's EOF or until the relay is seen stuck. A relay that keeps running
/// without progress for `ctx.timeout` is a hang.
fn relay_input(
    relay: &Relay,
    input: Arc<Vec<u8>>,
    chunks: &[usize],
    ctx: &Ctx,
) -> Result<Relayed, Finding> {
    let (target, mut stdin, mut stdout) = start(relay)?;
    let written = Arc::new(AtomicUsize::new(0));
    let sent = written.clone();
    let chunks = chunks.to_vec();
    let writer = Worker::spawn(move || {
        let mut at = 0;
        for size in chunks.iter().cycle() {
            if at >= input.len() {
                break;
            }
            let end = (at + size).min(input.len());
            if stdin.write_all(&input[at..end]).is_err() {
                break;
            }
            at = end;
            sent.store(at, Ordering::SeqCst);
        }
        // Dropping stdin is the EOF the relay waits for.
    });
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let reader = Worker::spawn(move || {
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(&buf[..n]);
        }
    });
    let mut progress = (0, 0);
    let mut deadline = Instant::now() + ctx.timeout;
    let mut stillness = Stillness::default();
    let stuck = loop {
        if reader.done() && writer.done() {
            break Vec::new();
        }
        let now = (
            written.load(Ordering::SeqCst),
            received.lock().map_or(0, |r| r.len()),
        );
        if now != progress {
            progress = now;
            deadline = Instant::now() + ctx.timeout;
        }
        let ours: Vec<Pid> = [&writer, &reader]
            .iter()
            .filter(|w| !w.done())
            .map(|w| w.tid)
            .collect();
        // Settled with our feeder and reader asleep too: no byte can move any more.
        if let Some((_, threads, true)) = stillness.look(&target, &ours) {
            break threads;
        }
        if Instant::now() >= deadline {
            return Err(Finding::hung(
                "the relay to take its stdin and produce stdout",
                observe::describe(&observe::threads(&target.processes())),
            )
            .with_output(target.output()));
        }
        // Pacing only: each pass observes the target afresh.
        std::thread::sleep(Duration::from_micros(500));
    };
    let output = std::mem::take(&mut *received.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(Relayed {
        target,
        output,
        eof: reader.done(),
        stuck,
    })
}

/// Names, for each thread asleep reading a pipe, who still holds that pipe's
/// write end: the reason it never sees EOF.
pub fn pipe_holders(threads: &[ThreadState]) -> String {
    let mut pids: Vec<Pid> = threads.iter().map(|t| t.pid).collect();
    pids.dedup();
    let ends: Vec<_> = pids
        .iter()
        .flat_map(|&pid| observe::pipe_ends(pid))
        .collect();
    let mut lines = Vec::new();
    for thread in threads.iter().filter(|t| t.syscall.name() == Some("read")) {
        let observe::Syscall::In { args, .. } = thread.syscall else {
            continue;
        };
        let Some(pipe) = ends
            .iter()
            .find(|e| e.pid == thread.pid && e.fd as u64 == args[0] && !e.write)
        else {
            continue;
        };
        let writers: Vec<String> = ends
            .iter()
            .filter(|e| e.inode == pipe.inode && e.write)
            .map(|e| {
                let who = if e.pid == thread.pid {
                    " (the reader itself)"
                } else {
                    ""
                };
                format!("pid {} fd {}{who}", e.pid, e.fd)
            })
            .collect();
        if !writers.is_empty() {
            lines.push(format!(
                "pid {} ({}) waits in read(fd {}) on pipe:[{}], whose write end is still open in {}",
                thread.pid,
                thread.comm,
                pipe.fd,
                pipe.inode,
                writers.join(", ")
            ));
        }
    }
    lines.join("\n")
}

/// A hang of a quiescent target: its threads, and who holds which pipe end.
pub fn stuck_finding(awaited: &str, threads: &[ThreadState], target: &Target) -> Finding {
    let holders = pipe_holders(threads);
    let mut finding =
        Finding::hung(awaited, observe::describe(threads)).with_output(target.output());
    if let Some(failure) = finding.failure_mut() {
        failure.observed = if holders.is_empty() {
            "every process sleeps in a call without timeout, waiting for something that cannot come"
                .into()
        } else {
            format!("every process sleeps in a call without timeout; EOF cannot arrive because:\n{holders}")
        };
    }
    finding
}

/// `relay.bytes.exact`
fn bytes_exact(relay: &Relay, ctx: &Ctx) -> Outcome {
    ctx.forall(feed(4 << 20), |feed: &Feed| {
        let input = Arc::new(feed.bytes());
        let relayed = relay_input(relay, input.clone(), &feed.chunks, ctx)?;
        let short = relayed.output.len() < input.len() && input.starts_with(&relayed.output);
        if !relayed.eof && short {
            let awaited = format!(
                "the rest of the {} bytes on stdout ({} came)",
                input.len(),
                relayed.output.len()
            );
            return Err(stuck_finding(&awaited, &relayed.stuck, &relayed.target));
        }
        same_bytes("the relay's stdout", &input, &relayed.output)
            .map_err(|f| f.with_output(relayed.target.output()))
    })
}

/// The feed the exit properties use: more than a pipe holds, in uneven writes.
fn exit_feed() -> Feed {
    Feed {
        seed: 162,
        len: 200_000,
        chunks: vec![4096, 1, 65536, 777],
    }
}

/// Relays [`exit_feed`] and waits until every process of the relay is gone;
/// returns the first process's exit status.
fn relay_to_exit(relay: &Relay, ctx: &Ctx) -> Result<(Target, ExitStatus), Finding> {
    let feed = exit_feed();
    let mut relayed = relay_input(relay, Arc::new(feed.bytes()), &feed.chunks, ctx)?;
    if !relayed.eof {
        return Err(stuck_finding(
            "EOF on the relay's stdout after EOF on its stdin",
            &relayed.stuck,
            &relayed.target,
        ));
    }
    let target = &mut relayed.target;
    let deadline = Instant::now() + ctx.timeout;
    let mut stillness = Stillness::default();
    loop {
        let status = target.try_status();
        let alive = target.processes();
        if let (Some(status), true) = (status, alive.is_empty()) {
            return Ok((relayed.target, status));
        }
        if let Some((_, threads, true)) = stillness.look(target, &[]) {
            return Err(stuck_finding(
                "every process of the relay to exit after EOF",
                &threads,
                target,
            ));
        }
        if Instant::now() >= deadline {
            return Err(Finding::hung(
                "every process of the relay to exit after EOF",
                observe::describe(&observe::threads(&alive)),
            )
            .with_output(target.output()));
        }
        // Pacing only: exits are observed, this spaces the looks.
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `relay.eof.exits`
fn eof_exits(relay: &Relay, ctx: &Ctx) -> Outcome {
    relay_to_exit(relay, ctx).map(drop)
}

/// `relay.exit.success`
fn exit_success(relay: &Relay, ctx: &Ctx) -> Outcome {
    // A relay that never exits has no exit status to be 0: the hang is this property's failure too.
    let (target, status) = relay_to_exit(relay, ctx)?;
    super::ensure(
        status.success(),
        || "exit status 0 after relaying every byte".into(),
        || describe_status(status),
    )
    .map_err(|f| f.with_output(target.output()))
}

fn set_nonblocking(stdin: &ChildStdin) -> Result<(), Finding> {
    fcntl(stdin.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
        .map(drop)
        .map_err(|e| TargetError::setup("a non-blocking stdin for the relay", e).into())
}

/// `relay.backpressure.bounded`
fn backpressure_bounded(relay: &Relay, ctx: &Ctx) -> Outcome {
    let (target, mut stdin, _unread_stdout) = start(relay)?;
    set_nonblocking(&stdin)?;
    let chunk = payload(7, 64 << 10);
    let mut taken = 0usize;
    let mut deadline = Instant::now() + ctx.timeout;
    let mut stillness = Stillness::default();
    loop {
        match stdin.write(&chunk) {
            Ok(n) => {
                taken += n;
                deadline = Instant::now() + ctx.timeout;
                if taken >= BACKLOG_GIVE_UP {
                    return Err(Finding::violated(
                        format!("the relay to block after at most {BACKLOG_BOUND} bytes of stdin while its stdout is not read"),
                        format!("it took {taken} bytes and kept taking more: it buffers without bound"),
                    )
                    .with_output(target.output()));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // Full for now; full for good only once the relay cannot run.
                if let Some((_, _, true)) = stillness.look(&target, &[]) {
                    match stdin.write(&chunk) {
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Ok(n) => taken += n,
                        Err(e) => return Err(stdin_closed(&target, taken, e)),
                    }
                } else if Instant::now() >= deadline {
                    return Err(Finding::hung(
                        "the relay to block on its full stdout, or to take more stdin",
                        observe::describe(&observe::threads(&target.processes())),
                    )
                    .with_output(target.output()));
                } else {
                    // Pacing only: the relay is still moving bytes.
                    std::thread::sleep(Duration::from_micros(500));
                }
            }
            Err(e) => return Err(stdin_closed(&target, taken, e)),
        }
    }
    super::ensure(
        taken <= BACKLOG_BOUND,
        || format!("at most {BACKLOG_BOUND} bytes of stdin taken while stdout is not read"),
        || format!("{taken} bytes taken before it blocked"),
    )
    .map_err(|f| f.with_output(target.output()))
}

/// The relay closed its stdin (or died) while its stdout was merely unread.
fn stdin_closed(target: &Target, taken: usize, error: std::io::Error) -> Finding {
    Finding::violated(
        "the relay to keep its stdin open while its stdout is merely unread",
        format!("writing to its stdin failed after {taken} bytes: {error}"),
    )
    .with_output(target.output())
}

/// `relay.sigpipe.stops`
fn sigpipe_stops(relay: &Relay, ctx: &Ctx) -> Outcome {
    let (mut target, mut stdin, stdout) = start(relay)?;
    // The reader of the relay's stdout goes away before the first byte.
    drop(stdout);
    set_nonblocking(&stdin)?;
    let chunk = payload(9, 16 << 10);
    let deadline = Instant::now() + ctx.timeout;
    let mut open = true;
    let mut taken = 0usize;
    loop {
        if target.try_status().is_some() && target.processes().is_empty() {
            return Ok(());
        }
        let mut took = false;
        if open {
            match stdin.write(&chunk) {
                Ok(n) => {
                    took = true;
                    taken += n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // EPIPE: it closed stdin, which is fine on its way out.
                Err(_) => open = false,
            }
        }
        if Instant::now() >= deadline {
            let mut finding = Finding::hung(
                "the relay to terminate once its stdout has no reader (SIGPIPE, or exit on EPIPE)",
                observe::describe(&observe::threads(&target.processes())),
            );
            if let Some(failure) = finding.failure_mut() {
                failure.observed = format!(
                    "still running after {:.1} s, having taken {taken} bytes of stdin that nobody could read",
                    ctx.timeout.as_secs_f64()
                );
            }
            return Err(finding.with_output(target.output()));
        }
        if !took {
            // Pacing only: termination is observed, this spaces the looks.
            std::thread::sleep(Duration::from_micros(500));
        }
    }
}
