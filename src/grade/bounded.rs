//! Running a command for at most a given time, killing its whole process
//! group when it overruns: SIGTERM, a grace period, then SIGKILL.
//!
//! The command gets its own process group ([`setpgid(2)`] through
//! `process_group(0)`) so that a build's or a check's children go with it.
//! A checker (`ipcspec check`) catches SIGTERM and kills its targets before
//! it exits, which is why SIGTERM comes first.
//!
//! What it prints can be kept in a log of at most [`LOG_BYTES`]
//! ([`run_logged`]): it goes through a [`pipe(2)`] the grader drains, which
//! keeps the first and last halves and counts the bytes between, so a build
//! or a check that floods fills neither the disk nor the grader's memory.
//!
//! [`stop_all`] ends every group still running when grading is
//! interrupted, the same way, and from then on [`stopping`] says so: a
//! result cut short is not a result to record.
//!
//! [`setpgid(2)`]: https://man7.org/linux/man-pages/man2/setpgid.2.html
//! [`pipe(2)`]: https://man7.org/linux/man-pages/man2/pipe.2.html

use std::collections::{BTreeSet, VecDeque};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::{mpsc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::report::quote;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// How long a process group gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// The most bytes a log keeps: its first and last halves.
pub const LOG_BYTES: usize = 64 * 1024;

/// Which of a command's streams go to its log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Streams {
    /// Stdout and stderr, interleaved as written.
    Both,
    /// Stderr only: stdout is set by the caller.
    Stderr,
}

/// [`run`], with `streams` kept in the file at `log`, bounded to [`LOG_BYTES`].
pub fn run_logged(
    mut command: Command,
    bound: Duration,
    log: &Path,
    streams: Streams,
) -> io::Result<Option<ExitStatus>> {
    let file = File::create(log)?;
    let (reader, writer) = io::pipe()?;
    if streams == Streams::Both {
        command.stdout(writer.try_clone()?);
    }
    command.stderr(writer);
    let (drained, done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = drained.send(keep_ends(reader, file));
    });
    let status = run(command, bound)?;
    // A process the command left behind may hold the pipe open: the log is
    // then what came until now, and the drain goes on alone until it closes.
    if let Ok(written) = done.recv_timeout(GRACE) {
        written?;
    }
    Ok(status)
}

/// Copies `input` to `log` until EOF, keeping its first and last
/// `LOG_BYTES / 2` around a line saying how many bytes were left out.
fn keep_ends(mut input: impl Read, mut log: File) -> io::Result<()> {
    let half = LOG_BYTES / 2;
    let (mut head, mut tail, mut dropped) = (0, VecDeque::with_capacity(half), 0);
    let mut buf = vec![0; 8192];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let to_head = n.min(half - head);
        log.write_all(&buf[..to_head])?;
        head += to_head;
        tail.extend(&buf[to_head..n]);
        let excess = tail.len().saturating_sub(half);
        tail.drain(..excess);
        dropped += excess;
    }
    if dropped > 0 {
        writeln!(log, "\n{}", quote::omitted(dropped))?;
    }
    let (a, b) = tail.as_slices();
    log.write_all(a)?;
    log.write_all(b)
}

/// The process groups of the commands running now, and whether
/// [`stop_all`] was called (then no command starts any more).
struct Running {
    groups: Mutex<(BTreeSet<Pid>, bool)>,
    ended: Condvar,
}

fn running() -> &'static Running {
    static RUNNING: Running = Running {
        groups: Mutex::new((BTreeSet::new(), false)),
        ended: Condvar::new(),
    };
    &RUNNING
}

fn groups() -> MutexGuard<'static, (BTreeSet<Pid>, bool)> {
    running().groups.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether [`stop_all`] was called: what ends from now on was cut short.
pub fn stopping() -> bool {
    groups().1
}

/// Runs `command` in its own process group; `Ok(None)` if it was still
/// running after `bound` (it has then been killed and reaped). After
/// [`stop_all`], refuses to start it (`ErrorKind::Interrupted`).
pub fn run(mut command: Command, bound: Duration) -> io::Result<Option<ExitStatus>> {
    let (mut child, group) = {
        // Spawned and registered under the lock: `stop_all` sees every group.
        let mut groups = groups();
        if groups.1 {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let child = command.process_group(0).spawn()?;
        let group = Pid::from_raw(child.id() as i32);
        groups.0.insert(group);
        (child, group)
    };
    // The command holds the write end of a log's pipe: only the child may keep it open.
    drop(command);
    let (done, exited) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let status = match exited.recv_timeout(bound) {
        Ok(status) => Some(status),
        Err(_) => {
            let _ = killpg(group, Signal::SIGTERM);
            if exited.recv_timeout(GRACE).is_err() {
                let _ = killpg(group, Signal::SIGKILL);
                let _ = exited.recv();
            }
            None
        }
    };
    let _ = waiter.join();
    groups().0.remove(&group);
    running().ended.notify_all();
    status.transpose()
}

/// Stops every command [`run`] is running, as an overrun stops one
/// (SIGTERM, at most [`GRACE`] for all of them to end, then SIGKILL), and
/// any command asked for later; returns once every one was reaped or the
/// grace ran out.
pub fn stop_all() {
    let mut groups = groups();
    groups.1 = true;
    for &group in &groups.0 {
        let _ = killpg(group, Signal::SIGTERM);
    }
    let deadline = Instant::now() + GRACE;
    while !groups.0.is_empty() {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        groups = running()
            .ended
            .wait_timeout(groups, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    for &group in &groups.0 {
        let _ = killpg(group, Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_that_overruns_is_killed_with_its_children() {
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 30 & sleep 30; wait"]);
        let started = std::time::Instant::now();
        assert!(run(command, Duration::from_millis(300)).unwrap().is_none());
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_command_that_finishes_gives_its_status() {
        let mut command = Command::new("sh");
        command.args(["-c", "exit 3"]);
        let status = run(command, Duration::from_secs(10)).unwrap().unwrap();
        assert_eq!(status.code(), Some(3));
    }

    #[test]
    fn a_log_keeps_both_ends_of_a_flood() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo first; head -c 10000000 /dev/zero | tr '\\0' x; echo; echo last >&2",
        ]);
        let status = run_logged(command, Duration::from_secs(60), &log, Streams::Both)
            .unwrap()
            .unwrap();
        assert!(status.success());
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.len() <= LOG_BYTES + 100, "{} bytes", text.len());
        assert!(text.starts_with("first\n") && text.ends_with("x\nlast\n"));
        let left_out = 6 + 10_000_001 + 5 - LOG_BYTES;
        assert!(text.contains(&quote::omitted(left_out)), "{left_out}");
    }
}
