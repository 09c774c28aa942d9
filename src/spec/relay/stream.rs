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
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use super::{ended, start, stuck_finding, with_exit, Relay, EXIT_GRACE};
use crate::spec::diff::same_bytes;
use crate::spec::{ensure, Ctx, Finding, Outcome};
use crate::target::observe::{self, ThreadState};
use crate::target::process::describe_status;
use crate::target::settle::{Pacing, Stillness};
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
    let mut pacing = Pacing::default();
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
            pacing.reset();
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
        pacing.pause(&stillness);
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
        let mut relayed = relay_input(relay, input.clone(), &feed.chunks, ctx)?;
        let short = relayed.output.len() < input.len() && input.starts_with(&relayed.output);
        if !relayed.eof && short {
            let awaited = format!(
                "the rest of the {} bytes on stdout ({} came)",
                input.len(),
                relayed.output.len()
            );
            return Err(stuck_finding(&awaited, &relayed.stuck, &relayed.target));
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
    let mut pacing = Pacing::default();
    loop {
        if let Some(status) = ended(target) {
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
                observe::describe(&observe::threads(&target.processes())),
            )
            .with_output(target.output()));
        }
        pacing.pause(&stillness);
    }
}

/// `relay.eof.exits`
pub fn eof_exits(relay: &Relay, ctx: &Ctx) -> Outcome {
    relay_to_exit(relay, ctx).map(drop)
}

/// `relay.exit.success`
pub fn exit_success(relay: &Relay, ctx: &Ctx) -> Outcome {
    // A relay that never exits has no status to be 0: the hang is this property's failure too.
    let (target, status) = relay_to_exit(relay, ctx).map_err(|mut finding| {
        if let Some(failure) = finding.failure_mut() {
            failure.expected = format!(
                "exit status 0 after EOF on stdin, which first needs {}",
                failure.expected
            );
        }
        finding
    })?;
    ensure(
        status.success(),
        || "exit status 0 after EOF on stdin".into(),
        || describe_status(status),
    )
    .map_err(|f| f.with_output(target.final_output(Duration::from_millis(200))))
}
