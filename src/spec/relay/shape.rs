//! The relay's shape, proved from `/proc` before its behaviour: at least two
//! processes joined by a pipe of their own that stdin goes through
//! (`relay.shape.pipe-carries-stdin`), each holding only the end it uses
//! (`relay.shape.one-end-each`), as in the lecture's fork + pipe example.
//! `cat`, `tee` or `sh -c cat` copy stdin to stdout too, without any of it.
//!
//! Both are decided on a settled relay, where what each process holds and
//! waits on cannot change: idle at start (for the ends), and pressed, with
//! stdin written until it blocks and stdout unread. Pressed, the pipe that
//! carries stdin shows itself: a process waits to write into it (a write on
//! its write end, or a poll/select/epoll set that holds that end) while
//! another process holds its read end. A relay that drains the pipe into
//! memory instead shows it by its reader: waiting on the read end, having
//! read (`/proc/<pid>/io` `rchar`, counted from its fork) at least the bytes
//! waiting on stdout. A relay that holds stdin until EOF moves it only then,
//! so without that evidence the check closes stdin and looks once more.
//!
//! The check's own pipes (the relay's stdin, stdout and stderr) are never
//! the relay's pipe: any pipe the check holds an end of is left out.
//!
//! # References
//! - [pipe(2)](https://man7.org/linux/man-pages/man2/pipe.2.html), [fork(2)](https://man7.org/linux/man-pages/man2/fork.2.html),
//!   [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html) `/proc/<pid>/fd`, `fdinfo`, `io`

use std::collections::HashSet;
use std::io::{ErrorKind, Write};
use std::os::fd::AsFd;
use std::process::ChildStdin;
use std::time::Duration;

use nix::unistd::Pid;

use super::{ended, pipe_hang, read_by_relay, set_nonblocking, start, Relay, BACKLOG_BOUND};
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::observe::{self, PipeEnd, Syscall, ThreadState};
use crate::target::process::describe_status;
use crate::target::settle::{self, Gaps, Look};
use crate::target::Target;
use crate::workload::relay::filler;

/// What the check expects of the relay's shape, for failures.
const CARRIES: &str = "stdin going through a pipe from one process of the relay to another: with stdout unread, a process waiting to write into a pipe whose read end another process holds";

/// The pipes this process holds an end of: the relay's stdin, stdout and
/// stderr among them. Taken when the relay starts, so that its stdin stays
/// the check's after the check closes it.
fn our_pipes() -> HashSet<u64> {
    observe::pipe_ends(nix::unistd::getpid())
        .into_iter()
        .map(|e| e.inode)
        .collect()
}

/// The descriptors a sleeping thread waits on ([`observe::waits_on`]); a
/// `splice` waits on the pipe it writes into as well as the one it reads.
fn waits_on(thread: &ThreadState) -> Vec<i32> {
    let mut fds = observe::waits_on(thread).unwrap_or_default();
    if let (Some("splice"), Syscall::In { args, .. }) = (thread.syscall.name(), &thread.syscall) {
        fds.push(args[2] as i32);
    }
    fds
}

/// The relay at a settled moment.
struct Snapshot {
    threads: Vec<ThreadState>,
    pids: Vec<Pid>,
    /// The ends of the pipes that two or more of its processes hold.
    shared: Vec<PipeEnd>,
}

impl Snapshot {
    /// The relay's processes now; `ours` are the check's own pipes, to leave out.
    fn take(pids: Vec<Pid>, threads: Vec<ThreadState>, ours: &HashSet<u64>) -> Snapshot {
        let ends: Vec<PipeEnd> = pids
            .iter()
            .flat_map(|&pid| observe::pipe_ends(pid))
            .filter(|e| !ours.contains(&e.inode))
            .collect();
        let shared = ends
            .iter()
            .filter(|e| ends.iter().any(|o| o.inode == e.inode && o.pid != e.pid))
            .cloned()
            .collect();
        Snapshot {
            threads,
            pids,
            shared,
        }
    }

    /// `pid 123 (relay)`.
    fn who(&self, pid: Pid) -> String {
        let comm = self
            .threads
            .iter()
            .find(|t| t.pid == pid)
            .map_or("?", |t| &t.comm);
        format!("pid {pid} ({comm})")
    }

    /// The shared pipes' inodes, each once.
    fn pipes(&self) -> Vec<u64> {
        let mut inodes: Vec<u64> = self.shared.iter().map(|e| e.inode).collect();
        inodes.sort_unstable();
        inodes.dedup();
        inodes
    }

    fn ends(&self, inode: u64, write: bool) -> impl Iterator<Item = &PipeEnd> {
        self.shared
            .iter()
            .filter(move |e| e.inode == inode && e.write == write)
    }

    /// `pipe:[X] (write end in pid 1 fd 4, read end in pid 2 fd 3)`.
    fn describe(&self, inode: u64) -> String {
        let list = |write| {
            self.ends(inode, write)
                .map(|e| format!("{} fd {}", self.who(e.pid), e.fd))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "pipe:[{inode}] (write end in {}; read end in {})",
            list(true),
            list(false)
        )
    }

    /// Whether stdin goes through a shared pipe, given `on_stdout` bytes
    /// waiting unread on the relay's stdout; `Err` says what is missing.
    fn carrying(&self, on_stdout: usize) -> Result<(), String> {
        if self.pids.len() < 2 {
            let who = self
                .pids
                .first()
                .map_or("no process".into(), |&p| self.who(p));
            return Err(format!(
                "the relay is one process, {who}: it never forked, so no pipe can join two of its processes"
            ));
        }
        let pipes = self.pipes();
        if pipes.is_empty() {
            let all: Vec<String> = self.pids.iter().map(|&p| self.who(p)).collect();
            return Err(format!(
                "its processes ({}) share no pipe besides the stdin, stdout and stderr the check gave them",
                all.join(", ")
            ));
        }
        for &inode in &pipes {
            for thread in &self.threads {
                let waits = waits_on(thread);
                let holds = |write: bool| {
                    self.ends(inode, write)
                        .any(|e| e.pid == thread.pid && waits.contains(&e.fd))
                };
                let others_hold =
                    |write: bool| self.ends(inode, write).any(|e| e.pid != thread.pid);
                // A writer waiting on the pipe's write end, another process at its read end.
                if holds(true) && others_hold(false) {
                    return Ok(());
                }
                // Or a reader that drains it: waiting on its read end, another
                // process at its write end, having read what came out.
                let reader_only = self.ends(inode, true).all(|e| e.pid != thread.pid);
                if holds(false) && others_hold(true) && reader_only {
                    let read = observe::io(thread.pid).map_or(0, |io| io.rchar);
                    if on_stdout > 0 && read >= on_stdout as u64 {
                        return Ok(());
                    }
                }
            }
        }
        let described: Vec<String> = pipes.iter().map(|&i| self.describe(i)).collect();
        let (join, it) = if pipes.len() == 1 {
            ("joins", "it")
        } else {
            ("join", "them")
        };
        Err(format!(
            "{} {join} its processes, but stdin does not go through {it}: with stdout unread ({on_stdout} bytes waiting there), no process waits to write into {it}, and no reader of {it} has read what came out",
            described.join(" and ")
        ))
    }

    /// A violation seen on this snapshot, with its threads as evidence.
    fn violated(&self, expected: &str, observed: String, target: &Target) -> Finding {
        Finding::violated(expected, observed)
            .with_output(target.output())
            .with_threads(&self.threads)
    }

    /// The processes that hold both ends of a shared pipe, one line each.
    fn both_ends(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for inode in self.pipes() {
            for &pid in &self.pids {
                let fd = |write| self.ends(inode, write).find(|e| e.pid == pid).map(|e| e.fd);
                if let (Some(read), Some(write)) = (fd(false), fd(true)) {
                    lines.push(format!(
                        "{} holds both ends of {}: fd {read} reads, fd {write} writes",
                        self.who(pid),
                        self.describe(inode)
                    ));
                }
            }
        }
        lines
    }
}

/// Waits until the relay is settled, writing `stdin` (if given) without
/// blocking as long as it has read at most [`BACKLOG_BOUND`]; `written`
/// counts what went in. `None` when every process of the relay is gone.
fn settle(
    target: &mut Target,
    mut stdin: Option<&mut ChildStdin>,
    written: &mut usize,
    ours: &HashSet<u64>,
    ctx: &Ctx,
) -> Result<Option<Snapshot>, Finding> {
    let chunk = filler(64 << 10);
    let waited = settle::wait_on(ctx.timeout, target, Vec::new, Gaps::QuickFirst, |target| {
        if let Some(pipe) = stdin.as_deref_mut() {
            if read_by_relay(pipe, *written) <= BACKLOG_BOUND {
                match pipe.write(&chunk) {
                    Ok(n) => {
                        *written += n;
                        return Look::Moved;
                    }
                    // Full, or closed by a relay on its way out: what it does is observed below.
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => stdin = None,
                }
            }
        }
        ended(target).map_or(Look::Waiting, |_| Look::Done(()))
    });
    match waited {
        Ok(()) => Ok(None),
        Err(evidence) if evidence.stuck() => {
            Ok(Some(Snapshot::take(evidence.pids, evidence.threads, ours)))
        }
        Err(evidence) => Err(pipe_hang(
            "the relay to settle: waiting for input, or blocked on its unread stdout",
            &evidence,
            target,
        )),
    }
}

/// The relay ended before the check could see its shape.
fn exited(target: &mut Target, expected: &str, when: &str) -> Finding {
    let status = target
        .try_status()
        .map_or("still running".into(), describe_status);
    Finding::violated(expected, format!("it exited ({status}) {when}"))
        .with_output(target.final_output(Duration::from_millis(200)))
}

/// `relay.shape.pipe-carries-stdin`
pub fn pipe_carries_stdin(relay: &Relay, ctx: &Ctx) -> Outcome {
    let (mut target, mut stdin, stdout) = start(relay)?;
    let ours = our_pipes();
    set_nonblocking(&stdin)?;
    let mut written = 0;
    let on_stdout =
        |stdout: &std::process::ChildStdout| crate::sys::unread_bytes(stdout.as_fd()).unwrap_or(0);
    let Some(pressed) = settle(&mut target, Some(&mut stdin), &mut written, &ours, ctx)? else {
        let read = read_by_relay(&stdin, written);
        return Err(exited(
            &mut target,
            CARRIES,
            &format!("after reading {read} bytes of stdin, while its stdout was merely unread"),
        ));
    };
    let (seen, missing) = match pressed.carrying(on_stdout(&stdout)) {
        Ok(()) => return Ok(()),
        Err(missing) if pressed.pipes().is_empty() => (pressed, missing),
        // A relay that holds stdin until EOF moves it into its pipe only then.
        Err(_) => {
            drop(stdin);
            let Some(flushing) = settle(&mut target, None, &mut written, &ours, ctx)? else {
                return Err(exited(
                    &mut target,
                    CARRIES,
                    "after EOF on stdin, with its stdout unread, before anything was seen going through a pipe",
                ));
            };
            match flushing.carrying(on_stdout(&stdout)) {
                Ok(()) => return Ok(()),
                Err(missing) => (flushing, missing),
            }
        }
    };
    Err(seen.violated(CARRIES, missing, &target))
}

/// `relay.shape.one-end-each`
pub fn one_end_each(relay: &Relay, ctx: &Ctx) -> Outcome {
    let expected = "each process of the relay holding only the end of the pipe it uses";
    let (mut target, mut stdin, _unread_stdout) = start(relay)?;
    let ours = our_pipes();
    set_nonblocking(&stdin)?;
    let mut written = 0;
    // Right after the fork, waiting for input.
    let Some(idle) = settle(&mut target, None, &mut written, &ours, ctx)? else {
        return Err(exited(
            &mut target,
            expected,
            "before it could be seen waiting for input",
        ));
    };
    let mut seen = vec![idle];
    // Pressed too, for a relay that forks or closes only once input comes;
    // one that exits then was seen idle, which decides.
    if let Some(pressed) = settle(&mut target, Some(&mut stdin), &mut written, &ours, ctx)? {
        seen.push(pressed);
    }
    for snapshot in &seen {
        let both = snapshot.both_ends();
        if !both.is_empty() {
            return Err(snapshot.violated(expected, both.join("\n"), &target));
        }
    }
    Ok(())
}
