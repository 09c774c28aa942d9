//! The crate's only `unsafe` code: thin wrappers over calls the safe crates
//! leave unsafe, each with the reason it is sound.
//!
//! Everything else in the crate is `#![deny(unsafe_code)]`; modules that must
//! fork (the reference relay and fork servers) call [`fork`] under a
//! `// SAFETY:` line of their own.

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::sys::resource::Resource;
use nix::sys::signal::{self, SigHandler, Signal};
use nix::unistd::ForkResult;

/// `fork()`—creates a child process that is a copy of this one.
///
/// # Safety
///
/// If the calling process has more than one thread, the child may only make
/// async-signal-safe calls (`write`, `close`, `dup2`, `execve`, `_exit`, ...,
/// see signal-safety(7)) before it `exec`s or `_exit`s: no allocation, no
/// locks, no `println!`.
///
/// # References
/// - [fork(2)](https://man7.org/linux/man-pages/man2/fork.2.html)
pub unsafe fn fork() -> nix::Result<ForkResult> {
    // SAFETY: forwarded to the caller, who upholds the contract above.
    unsafe { nix::unistd::fork() }
}

/// How this process treats `SIGPIPE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigpipeDisposition {
    /// The default action: the process dies when it writes to a pipe or socket with no reader.
    Default,
    /// Ignored: the write fails with `EPIPE` instead.
    Ignore,
}

/// Sets the process-wide disposition of `SIGPIPE`.
///
/// # References
/// - [sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html)
pub fn set_sigpipe(disposition: SigpipeDisposition) -> nix::Result<()> {
    let handler = match disposition {
        SigpipeDisposition::Default => SigHandler::SigDfl,
        SigpipeDisposition::Ignore => SigHandler::SigIgn,
    };
    // SAFETY: SIG_DFL and SIG_IGN are not handlers, so no code runs in signal context.
    unsafe { signal::signal(Signal::SIGPIPE, handler) }.map(drop)
}

/// Makes this process the reaper of its orphaned descendants, so that a
/// killed target's grandchildren become our children and can be reaped
/// rather than left as zombies of an init that may not reap.
///
/// # References
/// - [prctl(2) `PR_SET_CHILD_SUBREAPER`](https://man7.org/linux/man-pages/man2/prctl.2.html)
pub fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// Arranges for `command`'s child, between fork and exec, to set each of
/// `limits` (soft = hard) and, if given, to join the cgroup whose
/// `cgroup.procs` file is open as `cgroup_procs`.
///
/// # References
/// - [setrlimit(2)](https://man7.org/linux/man-pages/man2/setrlimit.2.html)
/// - [cgroups(7), "cgroup.procs"](https://man7.org/linux/man-pages/man7/cgroups.7.html)
pub fn limit_child(
    command: &mut Command,
    limits: Vec<(Resource, u64)>,
    cgroup_procs: Option<OwnedFd>,
) {
    let hook = move || -> std::io::Result<()> {
        if let Some(fd) = &cgroup_procs {
            // Writing "0" moves the writing process into the cgroup.
            nix::unistd::write(fd, b"0")?;
        }
        for &(resource, value) in &limits {
            nix::sys::resource::setrlimit(resource, value, value)?;
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec; it only calls
    // write(2) and setrlimit(2), both async-signal-safe, on data captured
    // before the fork, and allocates nothing.
    unsafe { command.pre_exec(hook) };
}

static SIGPIPE_IGNORED_AT_EXEC: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Runs from `.init_array`, before Rust's runtime sets `SIGPIPE` to ignored,
/// to record the disposition this process inherited across `execve`.
extern "C" fn record_sigpipe_at_exec() {
    // SAFETY: `sigaction` is plain old data; all-zero is a valid value.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `old`.
    let rc = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) };
    SIGPIPE_IGNORED_AT_EXEC.store(
        rc == 0 && old.sa_sigaction == libc::SIG_IGN,
        std::sync::atomic::Ordering::Relaxed,
    );
}

#[used]
#[link_section = ".init_array"]
static RECORD_SIGPIPE_AT_EXEC: extern "C" fn() = record_sigpipe_at_exec;

/// Whether `SIGPIPE` was ignored when this program was started, i.e. what its
/// parent left it (Rust's runtime ignores it later, before `main`).
///
/// # References
/// - [execve(2)](https://man7.org/linux/man-pages/man2/execve.2.html): ignored signals stay ignored across exec
pub fn sigpipe_ignored_at_exec() -> bool {
    SIGPIPE_IGNORED_AT_EXEC.load(std::sync::atomic::Ordering::Relaxed)
}

/// `unread_bytes()`—the bytes written into the pipe `fd` and not yet read
/// (`FIONREAD`, which Linux answers on either end of a pipe: the writer
/// learns how much its reader has taken).
///
/// # References
/// - [ioctl(2)](https://man7.org/linux/man-pages/man2/ioctl.2.html),
///   [pipe(7)](https://man7.org/linux/man-pages/man7/pipe.7.html); Linux `fs/pipe.c`, `pipe_ioctl`
pub fn unread_bytes(fd: std::os::fd::BorrowedFd<'_>) -> nix::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut count: libc::c_int = 0;
    // SAFETY: `fd` is open for the borrow's lifetime, and FIONREAD writes one
    // `int` through the pointer, which points at `count`.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut count) };
    nix::errno::Errno::result(rc)?;
    Ok(usize::try_from(count).unwrap_or(0))
}
