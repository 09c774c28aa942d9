//! The forking servers (lecture v2 and the concurrent server): one child
//! process per connection.
//!
//! `fork` is sound here because the child does only async-signal-safe work
//! before `_exit`: it closes the listener, runs [`echo`] (which allocates
//! nothing and takes no lock: `recv`, `send`, `shutdown`) and calls `_exit(2)`.
//! The `serve` command keeps the server single-threaded besides.
//! Children inherit `SIGPIPE` ignored from [`super::serve`] and send with
//! `MSG_NOSIGNAL` too.
//!
//! # References
//! - [fork(2)](https://man7.org/linux/man-pages/man2/fork.2.html), [waitpid(2)](https://man7.org/linux/man-pages/man2/waitpid.2.html), [_exit(2)](https://man7.org/linux/man-pages/man2/_exit.2.html)
//! - [sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html): `SIGCHLD` set to `SIG_IGN` means children are reaped by the kernel
#![allow(unsafe_code)] // fork(2), signal(2) and _exit(2) are unsafe; each use says why it is sound.

use std::io;

use nix::errno::Errno;
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::ForkResult;
use socket2::Socket;

use super::{accept, echo};
use crate::sys;

/// What the parent does about finished children.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reaping {
    /// v2: wait for this connection's child before accepting the next one.
    WaitForEach,
    /// Concurrent: `SIGCHLD` ignored, so no zombies and no waiting.
    IgnoreSigchld,
}

/// Accepts forever, echoing each connection in a child process.
pub(super) fn serve(listener: &Socket, reaping: Reaping) -> io::Result<()> {
    if reaping == Reaping::IgnoreSigchld {
        // SAFETY: SIG_IGN is not a handler: no code runs in signal context.
        unsafe { signal(Signal::SIGCHLD, SigHandler::SigIgn) }.map_err(io::Error::from)?;
    }
    loop {
        let conn = accept(listener)?;
        // SAFETY: the child only closes a descriptor, runs `echo` (recv, send,
        // shutdown; no allocation, no lock) and calls `_exit`, all async-signal-safe.
        match unsafe { sys::fork() }.map_err(io::Error::from)? {
            ForkResult::Child => {
                let _ = nix::unistd::close(std::os::fd::AsRawFd::as_raw_fd(listener));
                let code = if echo(&conn).is_ok() { 0 } else { 1 };
                // SAFETY: _exit(2) is async-signal-safe and skips the exit handlers
                // and buffers the child shares with its parent.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                // The child owns the connection now; the parent's copy must go,
                // or the client would never read EOF after the child closes.
                drop(conn);
                if reaping == Reaping::WaitForEach {
                    while let Err(Errno::EINTR) = waitpid(child, None) {}
                }
            }
        }
    }
}
