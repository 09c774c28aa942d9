//! Properties of the `pipe` profile: what pipe(7) promises, checked on the
//! kernel's pipe, on the reference, and on any [`PipeImpl`] plugged in.
//!
//! Every property is written once against the [`PipeImpl`] traits and must
//! hold on the kernel: the kernel is the oracle. "Blocks" is observed, not
//! guessed: the operation runs on a helper thread (`op::Op`) that must be
//! seen asleep in a call with no timeout while it has not returned.
//!
//! A plugged-in pipe is not trusted: every call into it (reads, writes,
//! clones, mode changes, closes the check relies on) runs on a helper
//! thread, so a pipe that hangs there hangs that thread, never the check.
//! Every wait is bounded by `ctx.timeout`, and ends sooner, as a hang, once
//! nothing but the waiting check could still make the call return. No loop
//! trusts the pipe to stop it: reads stop at the bytes due, a write that
//! returns 0 fails, `EINTR` is retried only for so long. A check unblocks
//! its helpers (by closing the other end) before it returns, except on a
//! pipe that ignores the close, whose helpers stay asleep.
//!
//! Rules the lecture does not state (the exact capacity, `PIPE_BUF`,
//! `O_NONBLOCK`) cite pipe(7) instead, and say so.
//!
//! # References
//! - [pipe(7)](https://man7.org/linux/man-pages/man7/pipe.7.html): "Pipe capacity", "PIPE_BUF", "I/O on pipes and FIFOs"
//! - [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html): `F_SETPIPE_SZ`, `O_NONBLOCK`

mod block;
mod signal;
mod stream;

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::op::{Kept, Op};
use super::{ensure, Ctx, Finding, Meta, Outcome, Profile, Property, Scope, Suite};
use crate::reference::pipe::{Bounded, Kernel, PipeImpl, PipeReader, PipeWriter};
use crate::sys::no_fork;
use crate::target::TargetError;

const PIPES: &str = "Pipes";
const EOF: &str = "When do we get EOF on a pipe?";
/// The lecture says a read "gets whatever is there at the time", of files,
/// sockets and pipes alike, in its echo-server walk-through.
const WHATEVER_IS_THERE: &str = "Simple Example: Echo Server";

const fn meta(id: &'static str, statement: &'static str, source: &'static str) -> Meta {
    Meta {
        id,
        statement,
        source,
        profile: Profile::Pipe,
        scope: Scope::All,
    }
}

/// Every `pipe` property, in catalog order.
pub static PROPERTIES: &[Property<dyn PipeImpl>] = &[
    Property {
        meta: meta(
            "pipe.order.lossless",
            "Bytes written by one thread are read by another in the same order, none lost and none duplicated, whatever the sizes of the writes and reads.",
            PIPES,
        ),
        check: stream::order_lossless,
    },
    Property {
        meta: meta(
            "pipe.read.partial",
            "A read returns the bytes that are in the pipe without waiting for more to fill its buffer.",
            WHATEVER_IS_THERE,
        ),
        check: stream::read_partial,
    },
    Property {
        meta: meta(
            "pipe.block.read-on-empty",
            "A read on an empty pipe whose write end is open blocks.",
            PIPES,
        ),
        check: block::read_on_empty,
    },
    Property {
        meta: meta(
            "pipe.block.write-after-capacity",
            "Filled in writes of one size that divides the page size (or in one write), a pipe accepts exactly its capacity, to the byte, and the next write blocks.",
            "Pipes; the exact capacity is beyond the lecture: pipe(7), \"Pipe capacity\"",
        ),
        check: block::write_after_capacity,
    },
    Property {
        meta: meta(
            "pipe.wake.reader-on-data",
            "A reader blocked on an empty pipe wakes when bytes are written and returns them.",
            PIPES,
        ),
        check: block::reader_on_data,
    },
    Property {
        meta: meta(
            "pipe.wake.reader-on-last-writer-close",
            "A reader blocked on an empty pipe stays blocked while any write handle is open and reads end-of-file when the last one closes.",
            EOF,
        ),
        check: block::reader_on_last_writer_close,
    },
    Property {
        meta: meta(
            "pipe.wake.writer-on-space",
            "A writer blocked on a full pipe wakes when the pipe is drained and its bytes follow the earlier ones.",
            PIPES,
        ),
        check: block::writer_on_space,
    },
    Property {
        meta: meta(
            "pipe.wake.writer-on-reader-close",
            "A writer blocked on a full pipe stays blocked while any read handle is open and fails with EPIPE when the last one closes.",
            EOF,
        ),
        check: block::writer_on_reader_close,
    },
    Property {
        meta: meta(
            "pipe.eof.after-last-writer",
            "A read reports end-of-file only after every write handle has closed, and only after every byte written before.",
            EOF,
        ),
        check: stream::eof_after_last_writer,
    },
    Property {
        meta: meta(
            "pipe.epipe.no-reader",
            "A write on a pipe whose read handles are all closed fails with EPIPE in a process that ignores SIGPIPE.",
            EOF,
        ),
        check: signal::epipe_no_reader,
    },
    Property {
        meta: meta(
            "pipe.sigpipe.default-kills-writer",
            "A process with the default SIGPIPE action that writes on a pipe with no reader is killed by SIGPIPE, and with SIGPIPE ignored gets EPIPE.",
            EOF,
        ),
        check: signal::default_kills_writer,
    },
    Property {
        meta: meta(
            "pipe.atomic.up-to-pipe-buf",
            "Concurrent writes of at most PIPE_BUF bytes each are never interleaved with one another.",
            "beyond the lecture: pipe(7), \"PIPE_BUF\"",
        ),
        check: stream::atomic_up_to_pipe_buf,
    },
    Property {
        meta: meta(
            "pipe.nonblock.would-block",
            "In non-blocking mode a read on an empty pipe and a write on a full pipe fail with EAGAIN instead of blocking.",
            "beyond the lecture: pipe(7), \"I/O on pipes and FIFOs\" (O_NONBLOCK)",
        ),
        check: block::nonblock_would_block,
    },
];

/// `pipe`'s suite on any implementation: how to run the spec on your own pipe.
pub fn suite(label: impl Into<String>, pipe: Arc<dyn PipeImpl>) -> Suite {
    let kernel = pipe.kernel_descriptors();
    let suite = Suite::new(Profile::Pipe, label, None, None, PROPERTIES, pipe);
    if kernel {
        suite
    } else {
        suite.not_applicable(
            "pipe.sigpipe.default-kills-writer",
            "a pipe without kernel descriptors raises no signal; pipe.epipe.no-reader checks its EPIPE",
        )
    }
}

/// The kernel's and the reference's suites, labelled `kernel` and `reference`.
pub fn reference_suites() -> Vec<Suite> {
    vec![
        suite("kernel", Arc::new(Kernel)),
        suite("reference", Arc::new(Bounded)),
    ]
}

/// Both ends of a freshly opened pipe.
type Ends = (Box<dyn PipeReader>, Box<dyn PipeWriter>);

/// Opens a pipe of `capacity`; a pipe that cannot be opened cannot be checked.
fn open(pipe: &dyn PipeImpl, capacity: Option<usize>) -> Result<Ends, Finding> {
    pipe.open(capacity)
        .map_err(|e| Finding::Broken(TargetError::setup(format!("a {} pipe", pipe.name()), e)))
}

/// The finding for an I/O call that should have worked and did not.
fn failed(what: &str, error: &io::Error) -> Finding {
    Finding::violated(format!("{what} to succeed"), format!("it failed: {error}"))
}

/// Runs `call` on `handle` on a helper thread, for a call that returns at
/// once on a correct pipe: a plugged-in pipe that hangs there (a lock held
/// by a blocked operation, a write that waits for nothing) hangs that
/// thread, never the check. Returns the handle and what `call` returned.
fn bounded<H, T>(
    handle: H,
    what: &str,
    ctx: &Ctx,
    call: impl FnOnce(&mut H) -> T + Send + 'static,
) -> Result<(H, T), Finding>
where
    H: Send + 'static,
    T: std::fmt::Debug + Send + 'static,
{
    let op = Op::spawn(what, move || {
        let mut handle = handle;
        let value = call(&mut handle);
        (Kept(handle), value)
    })?;
    let (Kept(handle), value) = op.finish("the pipe has room or data for it", ctx.timeout)?;
    Ok((handle, value))
}

/// [`bounded`] for a call that must succeed: its error is a violation that names `what`.
fn succeeds<H, T>(
    handle: H,
    what: &str,
    ctx: &Ctx,
    call: impl FnOnce(&mut H) -> io::Result<T> + Send + 'static,
) -> Result<(H, T), Finding>
where
    H: Send + 'static,
    T: std::fmt::Debug + Send + 'static,
{
    let (handle, result) = bounded(handle, what, ctx, call)?;
    Ok((handle, result.map_err(|e| failed(what, &e))?))
}

/// Closes `handle` (drops it) on a helper thread, for closes the check
/// relies on: the close itself is a call into the pipe.
fn close<H: Send + 'static>(handle: H, what: &str, ctx: &Ctx) -> Outcome {
    Op::spawn(what, move || drop(handle))?.finish("the handle closed", ctx.timeout)
}

/// A handle on one end of a pipe, as the checks clone it.
trait End: Send + Sized + 'static {
    /// Which end, for messages.
    const NAME: &'static str;
    /// `try_clone`, returning the same type.
    fn duplicate(&self) -> io::Result<Self>;
}

impl End for Box<dyn PipeReader> {
    const NAME: &'static str = "read";
    fn duplicate(&self) -> io::Result<Self> {
        self.try_clone()
    }
}

impl End for Box<dyn PipeWriter> {
    const NAME: &'static str = "write";
    fn duplicate(&self) -> io::Result<Self> {
        self.try_clone()
    }
}

/// `first` and `count` clones of it, each made on a helper thread.
fn clones<H: End>(first: H, count: usize, ctx: &Ctx) -> Result<Vec<Option<H>>, Finding> {
    let what = format!("cloning the {} end", H::NAME);
    let mut handles = vec![Some(first)];
    for _ in 0..count {
        let original = handles[0]
            .take()
            .unwrap_or_else(|| unreachable!("put back below"));
        let (original, copy) = succeeds(original, &what, ctx, |h| h.duplicate().map(Kept))?;
        handles[0] = Some(original);
        handles.push(Some(copy.0));
    }
    Ok(handles)
}

/// Writes `data` in calls whose sizes cycle through `sizes`; a write that
/// returns 0 fails (`write_all` turns it into `WriteZero`), so none spins.
fn write_chunks(writer: &mut dyn Write, data: &[u8], sizes: &[usize]) -> io::Result<()> {
    let mut sizes = sizes.iter().copied().filter(|&s| s > 0).cycle();
    let mut rest = data;
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        writer.write_all(&rest[..n])?;
        rest = &rest[n..];
    }
    Ok(())
}

/// Reads until `len` bytes came or end-of-file, with buffers whose sizes
/// cycle through `sizes` (never asking for more than is still due, so a
/// correct pipe never makes it wait for a close). `EINTR` is retried, as
/// a caller must, for at most `patience` in a row: a pipe that never stops
/// failing so cannot keep this thread spinning.
fn read_up_to(
    reader: &mut dyn Read,
    len: usize,
    sizes: &[usize],
    patience: Duration,
) -> io::Result<Vec<u8>> {
    let mut sizes = sizes.iter().copied().filter(|&s| s > 0).cycle();
    let mut got = Vec::with_capacity(len);
    let mut interrupted: Option<Instant> = None;
    while got.len() < len {
        let mut buf = vec![0; sizes.next().unwrap_or(4096).min(len - got.len())];
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n.min(buf.len())]);
                interrupted = None;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                let since = *interrupted.get_or_insert_with(Instant::now);
                if since.elapsed() > patience {
                    return Err(io::Error::other(format!(
                        "reads kept failing with EINTR for {patience:?}"
                    )));
                }
                // Lets the writer run on a loaded machine before the retry.
                std::thread::yield_now();
            }
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Checks that `reader`, whose every write handle has closed and whose bytes
/// were all read, reads end-of-file: one read, on a helper thread.
fn nothing_more(reader: Box<dyn PipeReader>, after: &str, ctx: &Ctx) -> Outcome {
    let (_reader, extra) = succeeds(reader, &format!("a read after {after}"), ctx, |r| {
        let mut buf = [0u8; 64];
        r.read(&mut buf).map(|n| buf[..n].to_vec())
    })?;
    ensure(
        extra.is_empty(),
        || format!("end-of-file after {after}"),
        || {
            format!(
                "{} more bytes: {}",
                extra.len(),
                crate::spec::diff::window(&extra, 0)
            )
        },
    )
}
