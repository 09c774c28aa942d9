//! The relay as a stream: every byte through, in order (`relay.bytes.exact`);
//! EOF travels through and every process exits (`relay.eof.exits`), with
//! status 0 (`relay.exit.success`).
//!
//! The check feeds stdin from one thread and reads stdout on another; the
//! relay is done when stdout reaches EOF, and stuck when it is settled with
//! both of the check's threads asleep in their calls too.

use std::io::{Read, Write};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use nix::unistd::Pid;

use super::{ended, pipe_hang, start, with_exit, Relay, EXIT_GRACE};
use crate::spec::diff::same_bytes;
use crate::spec::{ensure, Ctx, Finding, Outcome};
use crate::target::process::describe_status;
use crate::target::settle::{self, Ending, Evidence, Gaps, Look, Stillness};
use crate::target::Target;
use crate::workload::relay::{feed, Feed};

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
    /// What the wait saw when the relay was seen stuck.
    stuck: Option<Evidence>,
}

impl Relayed {
    /// The hang of a relay seen stuck before `awaited`.
    fn hang(&self, awaited: &str) -> Finding {
        let none_seen = Evidence {
            ending: Ending::Stuck,
            pids: Vec::new(),
            threads: Vec::new(),
        };
        pipe_hang(
            awaited,
            self.stuck.as_ref().unwrap_or(&none_seen),
            &self.target,
        )
    }
}

/// Feeds `input` in writes of `chunks` sizes while reading stdout, until
/// stdout's EOF or until the relay is seen stuck. A relay that keeps running
/// without progress for `ctx.timeout` is a hang, awaiting what `awaiting`
/// makes of its words (for a property that needs the relaying first).
fn relay_input(
    relay: &Relay,
    input: Arc<Vec<u8>>,
    chunks: &[usize],
    ctx: &Ctx,
    awaiting: impl Fn(&str) -> String,
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
    // Settled with our feeder and reader asleep too: no byte can move any more.
    let ours = || -> Vec<Pid> {
        [&writer, &reader]
            .iter()
            .filter(|w| !w.done())
            .map(|w| w.tid)
            .collect()
    };
    let waited = settle::wait(
        ctx.timeout,
        &mut Stillness::with_helpers(&target, ours),
        || {
            if reader.done() && writer.done() {
                return Look::Done(());
            }
            let now = (
                written.load(Ordering::SeqCst),
                received.lock().map_or(0, |r| r.len()),
            );
            if now == progress {
                return Look::Waiting;
            }
            progress = now;
            Look::Moved
        },
    );
    let stuck = match waited {
        Ok(()) => None,
        Err(evidence) if evidence.stuck() => Some(evidence),
        Err(evidence) => {
            return Err(pipe_hang(
                &awaiting("the relay to take its stdin and produce stdout"),
                &evidence,
                &target,
            ))
        }
    };
    let output = std::mem::take(&mut *received.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(Relayed {
        target,
        output,
        eof: reader.done(),
        stuck,
    })
}

/// `relay.bytes.exact`
pub fn bytes_exact(relay: &Relay, ctx: &Ctx) -> Outcome {
    ctx.forall(feed(4 << 20), |feed: &Feed| {
        let input = Arc::new(feed.bytes());
        let mut relayed = relay_input(relay, input.clone(), &feed.chunks, ctx, str::to_string)?;
        let short = relayed.output.len() < input.len() && input.starts_with(&relayed.output);
        if !relayed.eof && short {
            let awaited = format!(
                "the rest of the {} bytes on stdout ({} came)",
                input.len(),
                relayed.output.len()
            );
            return Err(relayed.hang(&awaited));
        }
        // Stdout at EOF: the relay is on its way out, and its status says why.
        let grace = if relayed.eof {
            EXIT_GRACE
        } else {
            Duration::ZERO
        };
        same_bytes("the relay's stdout", &input, &relayed.output)
            .map_err(|f| with_exit(f, &mut relayed.target, grace))
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
/// returns the first process's exit status. A hang says what it awaited as
/// `exits_after` words it (for a property that needs the exit first).
fn relay_to_exit(
    relay: &Relay,
    ctx: &Ctx,
    exits_after: impl Fn(&str) -> String,
) -> Result<(Target, ExitStatus), Finding> {
    let feed = exit_feed();
    let relayed = relay_input(
        relay,
        Arc::new(feed.bytes()),
        &feed.chunks,
        ctx,
        &exits_after,
    )?;
    if !relayed.eof {
        return Err(relayed.hang(&exits_after(EOF_AFTER_EOF)));
    }
    let mut target = relayed.target;
    match settle::wait_on(
        ctx.timeout,
        &mut target,
        Vec::new,
        Gaps::QuickFirst,
        |target| ended(target).map_or(Look::Waiting, Look::Done),
    ) {
        Ok(status) => Ok((target, status)),
        Err(evidence) => Err(pipe_hang(&exits_after(EXITS_AFTER_EOF), &evidence, &target)),
    }
}

/// What `relay.eof.exits` awaits first.
const EOF_AFTER_EOF: &str = "EOF on the relay's stdout after EOF on its stdin";
/// What it awaits then.
const EXITS_AFTER_EOF: &str = "every process of the relay to exit after EOF";

/// `relay.eof.exits`
pub fn eof_exits(relay: &Relay, ctx: &Ctx) -> Outcome {
    relay_to_exit(relay, ctx, str::to_string).map(drop)
}

/// `relay.exit.success`
pub fn exit_success(relay: &Relay, ctx: &Ctx) -> Outcome {
    // A relay that never exits has no status to be 0: the hang is this property's failure too.
    let (target, status) = relay_to_exit(relay, ctx, |awaited| {
        format!("exit status 0 after EOF on stdin, which first needs {awaited}")
    })?;
    ensure(
        status.success(),
        || "exit status 0 after EOF on stdin".into(),
        || describe_status(status),
    )
    .map_err(|f| f.with_output(target.final_output(Duration::from_millis(200))))
}
