//! Why a settled relay or pipeline cannot move: for each process asleep on
//! a pipe, who else holds the other end of that pipe.
//!
//! A reader waits for EOF as long as some process holds a write end, and a
//! writer into a full pipe waits for SIGPIPE (or a reader) as long as some
//! process holds a read end; the process holding it is often the waiter
//! itself, which is the bug the lecture warns about ("When do we get EOF on
//! a pipe?").
//!
//! # References
//! - [pipe(7)](https://man7.org/linux/man-pages/man7/pipe.7.html) "I/O on pipes and FIFOs",
//!   [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html) `/proc/<pid>/fd`, `fdinfo`

use nix::unistd::Pid;

use crate::spec::Finding;
use crate::target::observe::{self, PipeEnd, ThreadState};
use crate::target::settle::Evidence;
use crate::target::Target;

/// What the sleepers of interest wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipeWait {
    /// Readers of a pipe, for EOF: the holders of its write end keep it away.
    Eof,
    /// Writers into a pipe, for its reader to go: the holders of its read end keep SIGPIPE away.
    Sigpipe,
}

/// Names, for each thread asleep on a pipe as `wait` says, who still holds
/// the other end of that pipe: one line per such thread.
pub fn pipe_holders(threads: &[ThreadState], wait: PipeWait) -> String {
    let mut pids: Vec<Pid> = threads.iter().map(|t| t.pid).collect();
    pids.sort();
    pids.dedup();
    let ends: Vec<PipeEnd> = pids
        .iter()
        .flat_map(|&pid| observe::pipe_ends(pid))
        .collect();
    let (waiting_end, other, itself) = match wait {
        PipeWait::Eof => (false, "write", " (the reader itself)"),
        PipeWait::Sigpipe => (true, "read", " (the writer itself)"),
    };
    let mut lines = Vec::new();
    for thread in threads {
        let Some(fds) = observe::waits_on(thread) else {
            continue;
        };
        for fd in fds {
            let Some(pipe) = ends
                .iter()
                .find(|e| e.pid == thread.pid && e.fd == fd && e.write == waiting_end)
            else {
                continue;
            };
            let holders: Vec<String> = ends
                .iter()
                .filter(|e| e.inode == pipe.inode && e.write != waiting_end)
                .map(|e| {
                    let who = if e.pid == thread.pid { itself } else { "" };
                    format!("pid {} fd {}{who}", e.pid, e.fd)
                })
                .collect();
            if !holders.is_empty() {
                let name = thread.syscall.name().unwrap_or("a call");
                // read(fd 3), or poll on fd 3 when it waits on a set.
                let how = match thread.syscall.fd() {
                    Some(_) => format!("{name}(fd {fd})"),
                    None => format!("{name} on fd {fd}"),
                };
                lines.push(format!(
                    "pid {} ({}) waits in {how} on pipe:[{}], whose {other} end is still open in {}",
                    thread.pid,
                    thread.comm,
                    pipe.inode,
                    holders.join(", ")
                ));
            }
        }
    }
    lines.join("\n")
}

/// Why a settled relay or shell cannot go on, from its threads: who holds
/// which pipe end, for the readers that wait for EOF and the writers that
/// wait on a full pipe (which SIGPIPE would end, were its read end closed).
pub fn why_stuck(threads: &[ThreadState]) -> String {
    let mut observed = String::from("every process sleeps in a call without timeout");
    let eof = pipe_holders(threads, PipeWait::Eof);
    let sigpipe = pipe_holders(threads, PipeWait::Sigpipe);
    if !eof.is_empty() {
        observed += &format!("; EOF cannot arrive because:\n{eof}");
    }
    if !sigpipe.is_empty() {
        observed += &format!("; no write can fail with SIGPIPE because:\n{sigpipe}");
    }
    if eof.is_empty() && sigpipe.is_empty() {
        observed += ", waiting for something that cannot come";
    }
    observed
}

/// A hang of a relay or shell awaiting `awaited`: when it was seen stuck,
/// who holds which pipe end ([`why_stuck`]); its last output lines attached.
pub fn pipe_hang(awaited: &str, evidence: &Evidence, target: &Target) -> Finding {
    Finding::hang(awaited, evidence, |e| why_stuck(&e.threads)).with_output(target.output())
}
