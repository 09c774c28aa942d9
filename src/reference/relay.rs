//! The reference relay (`ipcspec relay`): stdin to stdout through a pipe
//! between two processes, as the lecture's fork + pipe example does it.
//!
//! The parent copies stdin into the pipe, closes its write end at EOF and
//! waits for the child; the child closes the write end it inherited, copies
//! the pipe to stdout and exits. Both run with `SIGPIPE` at its default
//! action: when stdout's reader goes away the child dies of SIGPIPE, then
//! the parent's next write into the now reader-less pipe kills it too, so
//! the relay stops instead of consuming stdin forever.
//!
//! Exit status: 0 when every byte was relayed and the child exited 0; 1 when
//! a read or write failed or the child failed.
//!
//! # References
//! - [pipe(2)](https://man7.org/linux/man-pages/man2/pipe.2.html),
//!   [fork(2)](https://man7.org/linux/man-pages/man2/fork.2.html),
//!   [waitpid(2)](https://man7.org/linux/man-pages/man2/waitpid.2.html),
//!   [pipe(7) "I/O on pipes and FIFOs"](https://man7.org/linux/man-pages/man7/pipe.7.html)

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};

use crate::sys::{self, SigpipeDisposition};

/// Runs the relay on this process's stdin and stdout; returns the exit code.
pub fn run() -> nix::Result<i32> {
    sys::set_sigpipe(SigpipeDisposition::Default)?;
    let (read_end, write_end) = nix::unistd::pipe()?;
    let stdout = std::io::stdout();
    let child = sys::fork_run(|| {
        // The child's copy of the write end would keep its own EOF away.
        let _ = nix::unistd::close(write_end.as_raw_fd());
        match copy(read_end.as_fd(), stdout.as_fd()) {
            Ok(()) => 0,
            Err(_) => 1,
        }
    })?;
    drop(read_end);
    let copied = copy(std::io::stdin().as_fd(), write_end.as_fd());
    // The child sees EOF only once the last write end is closed.
    drop(write_end);
    let child_ok = matches!(waitpid(child, None), Ok(WaitStatus::Exited(_, 0)));
    Ok(if copied.is_ok() && child_ok { 0 } else { 1 })
}

/// Copies `from` to `to` until EOF, retrying interrupted calls and short writes.
fn copy(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> nix::Result<()> {
    let mut buf = [0u8; 64 << 10];
    loop {
        let n = match nix::unistd::read(from, &mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        };
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            match nix::unistd::write(to, rest) {
                Ok(written) => rest = &rest[written..],
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e),
            }
        }
    }
}
