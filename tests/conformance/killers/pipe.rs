//! Pipe mutants: small wrappers over the reference pipe, each breaking one
//! promise of pipe(7), and the properties that reject them.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ipcspec::reference::pipe::{Bounded, PipeImpl, PipeReader, PipeWriter, DEFAULT_CAPACITY};
use ipcspec::spec::pipe::suite;

use super::{Killer, Subject};

/// The pipe killers.
pub fn killers() -> Vec<Killer> {
    vec![
        Killer {
            name: "pipe/eof-while-a-clone-is-open",
            subject: Subject::Suite(|| suite("mutant", Arc::new(Mutant::EofWhileCloneAlive))),
            kills: &["pipe.eof.after-last-writer"],
        },
        Killer {
            name: "pipe/drops-the-last-byte-of-each-write",
            subject: Subject::Suite(|| suite("mutant", Arc::new(Mutant::DropsLastByte))),
            kills: &["pipe.order.lossless"],
        },
        Killer {
            name: "pipe/never-blocks-a-writer",
            subject: Subject::Suite(|| suite("mutant", Arc::new(Mutant::NeverBlocks))),
            kills: &["pipe.block.write-after-capacity"],
        },
        Killer {
            name: "pipe/interleaves-small-writes",
            subject: Subject::Suite(|| suite("mutant", Arc::new(Mutant::InterleavesSmallWrites))),
            kills: &["pipe.atomic.up-to-pipe-buf"],
        },
        Killer {
            name: "pipe/wakes-nobody-on-close",
            subject: Subject::Suite(|| suite("mutant", Arc::new(Mutant::WakesNobodyOnClose))),
            kills: &["pipe.wake.reader-on-last-writer-close"],
        },
    ]
}

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
