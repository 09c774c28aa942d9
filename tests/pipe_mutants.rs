//! The pipe suite has teeth: each mutant — a small wrapper over the
//! reference pipe that breaks one promise — is rejected by the property that
//! states that promise, with the right verdict.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ipcspec::reference::pipe::{Bounded, PipeImpl, PipeReader, PipeWriter, DEFAULT_CAPACITY};
use ipcspec::spec::pipe::suite;
use ipcspec::spec::{Ctx, Verdict};
use rstest::rstest;

/// How a mutant breaks the reference.
#[derive(Clone, Copy, Debug)]
enum Mutant {
    /// Reads end-of-file as soon as any write handle closes, clones or not.
    EofWhileCloneAlive,
    /// Drops the last byte of every write, yet reports it written.
    DropsLastByte,
    /// Never blocks a writer: the buffer grows without bound, while it claims a capacity.
    NeverBlocks,
    /// Writes byte by byte, so concurrent small writes interleave.
    InterleavesSmallWrites,
    /// Closing a write handle never releases it: nobody is woken, no EOF ever comes.
    WakesNobodyOnClose,
}

impl PipeImpl for Mutant {
    fn name(&self) -> &str {
        "mutant"
    }

    fn open(
        &self,
        capacity: Option<usize>,
    ) -> io::Result<(Box<dyn PipeReader>, Box<dyn PipeWriter>)> {
        let inner_capacity = match self {
            Mutant::NeverBlocks => Some(usize::MAX / 2),
            _ => capacity,
        };
        let (reader, writer) = Bounded.open(inner_capacity)?;
        let closed = Arc::new(AtomicBool::new(false));
        Ok((
            Box::new(Reader {
                inner: reader,
                closed: closed.clone(),
            }),
            Box::new(Writer {
                inner: Some(writer),
                mutant: *self,
                capacity: capacity.unwrap_or(DEFAULT_CAPACITY),
                closed,
            }),
        ))
    }
}

struct Reader {
    inner: Box<dyn PipeReader>,
    /// Set when any write handle closed (used by `EofWhileCloneAlive` only).
    closed: Arc<AtomicBool>,
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.closed.load(Ordering::SeqCst) {
            return Ok(0);
        }
        self.inner.read(buf)
    }
}

impl PipeReader for Reader {
    fn try_clone(&self) -> io::Result<Box<dyn PipeReader>> {
        Ok(Box::new(Reader {
            inner: self.inner.try_clone()?,
            closed: self.closed.clone(),
        }))
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking)
    }
}

struct Writer {
    /// Always `Some` until dropped.
    inner: Option<Box<dyn PipeWriter>>,
    mutant: Mutant,
    capacity: usize,
    closed: Arc<AtomicBool>,
}

impl Writer {
    fn inner(&self) -> &dyn PipeWriter {
        self.inner.as_deref().expect("open until dropped")
    }

    fn inner_mut(&mut self) -> &mut dyn PipeWriter {
        self.inner.as_deref_mut().expect("open until dropped")
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.mutant {
            Mutant::DropsLastByte if !buf.is_empty() => {
                self.inner_mut().write_all(&buf[..buf.len() - 1])?;
                Ok(buf.len())
            }
            Mutant::InterleavesSmallWrites => {
                for byte in buf {
                    self.inner_mut().write_all(std::slice::from_ref(byte))?;
                }
                Ok(buf.len())
            }
            _ => self.inner_mut().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl PipeWriter for Writer {
    fn try_clone(&self) -> io::Result<Box<dyn PipeWriter>> {
        Ok(Box::new(Writer {
            inner: Some(self.inner().try_clone()?),
            mutant: self.mutant,
            capacity: self.capacity,
            closed: self.closed.clone(),
        }))
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner().set_nonblocking(nonblocking)
    }

    fn capacity(&self) -> io::Result<usize> {
        match self.mutant {
            Mutant::NeverBlocks => Ok(self.capacity),
            _ => self.inner().capacity(),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        match self.mutant {
            // The inner handle is leaked: the pipe counts it open forever.
            Mutant::WakesNobodyOnClose => std::mem::forget(self.inner.take()),
            Mutant::EofWhileCloneAlive => self.closed.store(true, Ordering::SeqCst),
            _ => {}
        }
    }
}

/// A short bound: each hang costs one bound per shrinking step.
fn ctx() -> Ctx {
    Ctx {
        timeout: Duration::from_secs(1),
        ..Ctx::default()
    }
}

#[rstest]
#[case::eof_while_clone_alive(Mutant::EofWhileCloneAlive, "pipe.eof.after-last-writer", "fail")]
#[case::drops_last_byte(Mutant::DropsLastByte, "pipe.order.lossless", "fail")]
#[case::never_blocks(Mutant::NeverBlocks, "pipe.block.write-after-capacity", "fail")]
#[case::interleaves_small_writes(
    Mutant::InterleavesSmallWrites,
    "pipe.atomic.up-to-pipe-buf",
    "fail"
)]
#[case::wakes_nobody_on_close(
    Mutant::WakesNobodyOnClose,
    "pipe.wake.reader-on-last-writer-close",
    "hang"
)]
fn mutant_is_rejected(#[case] mutant: Mutant, #[case] id: &str, #[case] verdict: &str) {
    let suite = suite(format!("{mutant:?}"), Arc::new(mutant));
    let check = suite
        .checks
        .iter()
        .find(|c| c.meta.id == id)
        .expect("property in the suite");
    let seen = Verdict::from(check.check(&ctx()));
    assert_eq!(seen.name(), verdict, "{mutant:?} on {id}: {seen:?}");
    let failure = seen.failure().expect("a failure");
    assert!(
        failure.counterexample.is_some(),
        "the shrunk input is reported: {failure:?}"
    );
}
