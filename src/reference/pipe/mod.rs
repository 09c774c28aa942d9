//! Pipes as one interface: the kernel's `pipe(2)` and the lecture's in-memory
//! queue behind the same traits, so the pipe properties run unchanged on both
//! and on any pipe you plug in.
//!
//! A pipe is a pair of ends. Each end is a handle that can be cloned, as
//! `dup(2)` or `fork(2)` copy a descriptor: the pipe reports end-of-file once
//! every writer handle is gone, and `EPIPE` once every reader handle is gone.
//!
//! To plug in your own pipe, implement [`PipeImpl`], [`PipeReader`] and
//! [`PipeWriter`], then run `ipcspec::spec::pipe::suite("mine", Arc::new(MyPipe))`.
//!
//! # References
//! - [pipe(7)](https://man7.org/linux/man-pages/man7/pipe.7.html): capacity, `PIPE_BUF`, `O_NONBLOCK`, EOF and `SIGPIPE`

mod bounded;
mod kernel;

use std::io;
use std::os::fd::BorrowedFd;

pub use bounded::Bounded;
pub use kernel::Kernel;

/// The largest write that pipe(7) guarantees to be atomic: it is never
/// interleaved with the bytes of another writer.
pub const PIPE_BUF: usize = libc::PIPE_BUF;

/// The capacity of a pipe nobody resized: 16 pages, as on Linux.
pub const DEFAULT_CAPACITY: usize = 65_536;

/// A pipe implementation: something that opens fresh pipes.
pub trait PipeImpl: Send + Sync {
    /// A short name for reports (`kernel`, `reference`, ...).
    fn name(&self) -> &str;

    /// `open()`—creates a pipe; with `Some(capacity)`, asks for at least that
    /// many bytes of buffer (the kernel rounds up to a power-of-two number of
    /// pages; [`PipeWriter::capacity`] tells what was granted).
    fn open(
        &self,
        capacity: Option<usize>,
    ) -> io::Result<(Box<dyn PipeReader>, Box<dyn PipeWriter>)>;

    /// Whether its ends are kernel descriptors ([`PipeWriter::as_fd`] is
    /// `Some`): only then can a write raise `SIGPIPE`, so only then does
    /// `pipe.sigpipe.default-kills-writer` apply.
    fn kernel_descriptors(&self) -> bool {
        false
    }
}

/// The read end of a pipe. `read` returns what is there (at least one byte),
/// blocks while the pipe is empty and a writer exists, and returns 0 at EOF.
pub trait PipeReader: io::Read + Send {
    /// `try_clone()`—another handle on the same read end, as `dup(2)` makes.
    fn try_clone(&self) -> io::Result<Box<dyn PipeReader>>;

    /// `set_nonblocking()`—in non-blocking mode a read that would block fails
    /// with [`io::ErrorKind::WouldBlock`] instead.
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()>;

    /// The kernel descriptor behind this end, for properties that need a real
    /// file descriptor (signals on `write(2)`); `None` for user-space pipes.
    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// The write end of a pipe. `write` blocks while the pipe is full and a
/// reader exists, fails with [`io::ErrorKind::BrokenPipe`] when no reader
/// exists, and never interleaves a write of at most [`PIPE_BUF`] bytes.
pub trait PipeWriter: io::Write + Send {
    /// `try_clone()`—another handle on the same write end, as `dup(2)` makes.
    fn try_clone(&self) -> io::Result<Box<dyn PipeWriter>>;

    /// `set_nonblocking()`—in non-blocking mode a write that would block fails
    /// with [`io::ErrorKind::WouldBlock`] instead.
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()>;

    /// `capacity()`—how many bytes the pipe holds before a write blocks.
    fn capacity(&self) -> io::Result<usize>;

    /// The kernel descriptor behind this end; `None` for user-space pipes.
    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}
