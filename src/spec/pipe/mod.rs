//! Properties of the `pipe` profile: what pipe(7) promises, checked on the
//! kernel's pipe, on the reference, and on any [`PipeImpl`] plugged in.
//!
//! Every property is written once against the [`PipeImpl`] traits and must
//! hold on the kernel: the kernel is the oracle. "Blocks" is observed, not
//! guessed: the operation runs on a helper thread (`op::Op`) that must be
//! seen asleep in a call with no timeout while it has not returned. Every wait
//! is bounded by `ctx.timeout`, and a check unblocks its helpers (by closing
//! the other end) before it returns, except on a pipe that ignores the close.

mod block;
mod signal;
mod stream;

use std::io::{self, Read, Write};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use super::op;
use super::{Finding, Meta, Profile, Property, Scope, Suite};
use crate::reference::pipe::{Bounded, Kernel, PipeImpl, PipeReader, PipeWriter};
use crate::target::TargetError;

const PIPES: &str = "Pipes";
const EOF: &str = "When do we get EOF on a pipe?";

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
            PIPES,
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
            "Filled in writes of one size that divides the page size (or in one write), a pipe accepts exactly its capacity and the next write blocks.",
            PIPES,
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
            PIPES,
        ),
        check: stream::atomic_up_to_pipe_buf,
    },
    Property {
        meta: meta(
            "pipe.nonblock.would-block",
            "In non-blocking mode a read on an empty pipe and a write on a full pipe fail with EAGAIN instead of blocking.",
            PIPES,
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

/// A handle moved through a helper thread and back; prints as its role, so
/// an operation's result can carry it.
struct Kept<H>(H);

impl<H> std::fmt::Debug for Kept<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<handle>")
    }
}

/// Runs `call` on `handle` on a helper thread, waiting at most `bound`:
/// for calls that return at once on a correct pipe but might hang on a broken one.
fn bounded<H, T>(
    handle: H,
    what: &str,
    bound: std::time::Duration,
    call: impl FnOnce(&mut H) -> T + Send + 'static,
) -> Result<(H, T), Finding>
where
    H: Send + 'static,
    T: std::fmt::Debug + Send + 'static,
{
    let op = op::Op::spawn(what, move || {
        let mut handle = handle;
        let value = call(&mut handle);
        (Kept(handle), value)
    })?;
    let (Kept(handle), value) = op.finish("the pipe has room or data for it", bound)?;
    Ok((handle, value))
}

/// Writes `data` in calls whose sizes cycle through `sizes`.
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

/// Reads until end-of-file with buffers whose sizes cycle through `sizes`.
fn read_chunks(reader: &mut dyn Read, sizes: &[usize]) -> io::Result<Vec<u8>> {
    let mut sizes = sizes.iter().copied().filter(|&s| s > 0).cycle();
    let mut got = Vec::new();
    loop {
        let mut buf = vec![0; sizes.next().unwrap_or(4096)];
        match reader.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Forking copies every descriptor of the process into the child, which
/// would keep other checks' pipe ends open behind their backs. Checks hold
/// this lock shared; the one that forks holds it exclusively.
static FORKING: RwLock<()> = RwLock::new(());

/// Held by every check but the forking one: no fork happens meanwhile.
fn no_fork() -> RwLockReadGuard<'static, ()> {
    FORKING.read().unwrap_or_else(PoisonError::into_inner)
}
