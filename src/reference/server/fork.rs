//! The forking servers (lecture v2 and the concurrent server): one child
//! process per connection.
//!
//! The child ([`sys::fork_run`]) closes the listener, serves the connection
//! ([`Service::connection`]) and exits. The `serve` command keeps the server
//! single-threaded, so no lock is held by another thread at the fork and the
//! child may allocate (the HTTP service does; the echo allocates nothing).
//! Children inherit `SIGPIPE` ignored from [`super::serve`] and send with
//! `MSG_NOSIGNAL` too. The heap start-up freed is released before the first
//! fork ([`sys::release_free_heap`]): each fork would copy it.
//!
//! # References
//! - [fork(2)](https://man7.org/linux/man-pages/man2/fork.2.html), [waitpid(2)](https://man7.org/linux/man-pages/man2/waitpid.2.html), [_exit(2)](https://man7.org/linux/man-pages/man2/_exit.2.html)
//! - [sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html): `SIGCHLD` set to `SIG_IGN` means children are reaped by the kernel

use std::io;

use nix::errno::Errno;
use nix::sys::wait::waitpid;
use socket2::Socket;

use super::{accept, Service};
use crate::sys;

/// What the parent does about finished children.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reaping {
    /// v2: wait for this connection's child before accepting the next one.
    WaitForEach,
    /// Concurrent: `SIGCHLD` ignored, so no zombies and no waiting.
    IgnoreSigchld,
}

/// Accepts forever, serving each connection in a child process.
pub(super) fn serve(listener: &Socket, service: &Service, reaping: Reaping) -> io::Result<()> {
    if reaping == Reaping::IgnoreSigchld {
        sys::ignore_sigchld().map_err(io::Error::from)?;
    }
    sys::release_free_heap();
    loop {
        let conn = accept(listener)?;
        let child = sys::fork_run(|| {
            let _ = nix::unistd::close(std::os::fd::AsRawFd::as_raw_fd(listener));
            if service.connection(&conn).is_ok() {
                0
            } else {
                1
            }
        })
        .map_err(io::Error::from)?;
        // The child owns the connection now; the parent's copy must go,
        // or the client would never read EOF after the child closes.
        drop(conn);
        if reaping == Reaping::WaitForEach {
            while let Err(Errno::EINTR) = waitpid(child, None) {}
        }
    }
}
