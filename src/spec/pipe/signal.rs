//! What a write on a pipe with no reader does: `EPIPE` in a process that
//! ignores `SIGPIPE`, death by `SIGPIPE` in one that does not.
//!
//! The second claim needs a real descriptor and a process to kill, so it
//! forks ([`sys::sigpipe_writer`]): the child inherits the write end, sets
//! its `SIGPIPE` action, and writes until the write fails. The fork waits
//! for every other pipe check to end ([`sys::no_fork`]), so it copies no
//! other check's pipe ends.
//!
//! # References
//! - [pipe(7), "I/O on pipes and FIFOs"](https://man7.org/linux/man-pages/man7/pipe.7.html)
//! - [write(2), `EPIPE`](https://man7.org/linux/man-pages/man2/write.2.html)
//! - [fork(2)](https://man7.org/linux/man-pages/man2/fork.2.html), [waitpid(2)](https://man7.org/linux/man-pages/man2/waitpid.2.html)

use std::io::{self, Write};
use std::os::fd::BorrowedFd;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use proptest::prelude::*;

use super::{bounded, clones, close, no_fork, open, succeeds};
use crate::reference::pipe::{PipeImpl, PIPE_BUF};
use crate::spec::op::{wait_child, Ended, Wakers};
use crate::spec::{ensure, Ctx, Finding, Outcome};
use crate::sys::{self, SigpipeDisposition, WRITER_EPIPE, WRITER_FAILED};
use crate::target::settle::{self, Gaps};
use crate::target::{observe, TargetError};
use crate::workload::pipe::{labelled, order};
use crate::workload::seeded;

/// `Ok` when this process ignores `SIGPIPE`, as the Rust runtime arranges;
/// otherwise a write with no reader would kill the suite itself, so the
/// check is skipped with the reason.
pub(super) fn sigpipe_ignored() -> Outcome {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let ignored = status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (Signal::SIGPIPE as i32 - 1)) != 0);
    if ignored {
        Ok(())
    } else {
        Err(Finding::Broken(TargetError::setup(
            "a checker that survives writes with no reader",
            io::Error::other("this process does not ignore SIGPIPE, so such a write would kill it"),
        )))
    }
}

/// `pipe.epipe.no-reader`: after `pre` bytes, every read handle closes (in
/// random order); a write of 1 to 2·`PIPE_BUF` bytes then fails with EPIPE.
pub(super) fn epipe_no_reader(pipe: &dyn PipeImpl, ctx: &Ctx) -> Outcome {
    let _no_fork = no_fork();
    sigpipe_ignored()?;
    ctx.forall(
        labelled("(read handles in closing order, bytes written first, bytes in the refused write, seed)", (order(1..=3), 0..=PIPE_BUF, 1..=2 * PIPE_BUF, any::<u64>())),
        |case| {
            let (order, pre, len, seed) = &case.value;
            let (reader, writer) = open(pipe, None)?;
            let first = seeded(*pre, *seed);
            let (writer, ()) = succeeds(writer, "a first write", ctx, move |w| w.write_all(&first))?;
            let mut readers = clones(reader, order.len() - 1, ctx)?;
            for &i in order {
                if let Some(reader) = readers[i].take() {
                    close(reader, "closing a read handle", ctx)?;
                }
            }
            let data = seeded(*len, !*seed);
            let (_writer, result) =
                bounded(writer, "a write with no reader", ctx, move |w| w.write(&data))?;
            ensure(
                matches!(&result, Err(e) if e.kind() == io::ErrorKind::BrokenPipe),
                || {
                    format!(
                        "a write of {len} bytes with every read handle closed to fail with EPIPE"
                    )
                },
                || format!("{result:?}"),
            )
        },
    )
}

/// Waits, at most `bound`, until no other process holds a descriptor of the
/// kernel pipe behind `fd`.
///
/// Whoever forks in this process (another check starting a program) copies
/// every descriptor into the child until it `exec`s and close-on-exec drops
/// them. A read end closed here may live on there for that moment, and a write
/// then succeeds. Once the read end is closed in this process no new copy can
/// appear, so when no descendant holds the pipe, the pipe truly has no reader.
fn sole_holder(fd: BorrowedFd<'_>, bound: Duration) -> Outcome {
    let Ok(stat) = nix::sys::stat::fstat(fd) else {
        return Ok(());
    };
    let name = format!("pipe:[{}]", stat.st_ino);
    let holds = |pid: &Pid| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|entry| {
                std::fs::read_link(entry.path())
                    .is_ok_and(|target| target.as_os_str() == name.as_str())
            })
    };
    let holders = || -> Vec<Pid> {
        observe::descendants(nix::unistd::getpid())
            .into_iter()
            .filter(holds)
            .collect()
    };
    let mut others = Vec::new();
    let dropped = settle::until(bound, Gaps::Steady(Duration::from_millis(1)), || {
        others = holders();
        others.is_empty()
    });
    dropped.then_some(()).ok_or_else(|| {
        Finding::hung(
            format!("processes {others:?}, forked from this one, to drop their copies of the pipe"),
            observe::describe(&observe::threads(&others)),
        )
    })
}

/// `pipe.sigpipe.default-kills-writer` (kernel pipes only): a forked child
/// writes on a pipe with no reader; with the default `SIGPIPE` action it is
/// killed by `SIGPIPE`, with `SIGPIPE` ignored it exits on `EPIPE`.
pub(super) fn default_kills_writer(pipe: &dyn PipeImpl, ctx: &Ctx) -> Outcome {
    sigpipe_ignored()?;
    for (disposition, expected) in [
        (
            SigpipeDisposition::Default,
            Ended::Signaled(Signal::SIGPIPE),
        ),
        (SigpipeDisposition::Ignore, Ended::Exited(WRITER_EPIPE)),
    ] {
        let (reader, writer) = open(pipe, None)?;
        let Some(fd) = writer.as_fd() else {
            return Err(Finding::violated(
                "a kernel descriptor behind the write end (the pipe declares kernel descriptors)",
                "PipeWriter::as_fd returned None",
            ));
        };
        close(reader, "closing the read end", ctx)?;
        sole_holder(fd, ctx.timeout)?;
        let seen = run_writer(fd, disposition, ctx.timeout).map_err(|finding| {
            let Finding::Hung(mut f) = finding else {
                return finding;
            };
            f.expected = format!(
                "a child with SIGPIPE {disposition:?} writing with no reader: {}",
                describe(expected)
            );
            Finding::Hung(f)
        })?;
        ensure(
            seen == expected,
            || {
                format!(
                    "a child with SIGPIPE {disposition:?} writing with no reader: {}",
                    describe(expected)
                )
            },
            || describe(seen),
        )?;
        close(writer, "closing the write end", ctx)?;
    }
    Ok(())
}

/// How the forked writer ended, in words.
fn describe(ended: Ended) -> String {
    match ended {
        Ended::Exited(WRITER_EPIPE) => {
            format!("exit status {WRITER_EPIPE} (its write failed with EPIPE)")
        }
        Ended::Exited(WRITER_FAILED) => {
            format!("exit status {WRITER_FAILED} (its write failed, not with EPIPE)")
        }
        Ended::Exited(code) => format!("exit status {code}"),
        Ended::Signaled(signal) => format!("killed by {}", signal.as_str()),
    }
}

/// Forks a child that sets `disposition` for `SIGPIPE` and writes on `fd`
/// until a write fails; waits for that very child, at most `bound`.
fn run_writer(
    fd: BorrowedFd<'_>,
    disposition: SigpipeDisposition,
    bound: Duration,
) -> Result<Ended, Finding> {
    let child = sys::sigpipe_writer(fd, disposition).map_err(|e| {
        Finding::Broken(TargetError::setup(
            "fork for the SIGPIPE child",
            io::Error::from(e),
        ))
    })?;
    wait_child(
        child,
        bound,
        "the writing child to end once its write failed",
        Wakers::Check,
        || None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::pipe::Kernel;
    use std::process::{Command, Stdio};

    #[test]
    fn a_write_waits_out_a_child_holding_the_read_end() {
        let (reader, mut writer) = Kernel.open(None).unwrap();
        let copy = reader.as_fd().unwrap().try_clone_to_owned().unwrap();
        let mut child = Command::new("sleep")
            .arg("0.2")
            .stdin(Stdio::from(copy))
            .spawn()
            .unwrap();
        drop(reader);
        sole_holder(writer.as_fd().unwrap(), Duration::from_secs(5)).unwrap();
        // The only other holder was the child: it must be gone now.
        assert!(
            child.try_wait().unwrap().is_some()
                || !observe::is_alive(Pid::from_raw(child.id() as i32))
        );
        let error = writer.write(b"x").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
        let _ = child.wait();
    }
}
