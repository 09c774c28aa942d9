//! Pipe mutants: each breaks one promise of pipe(7), and exactly the
//! property that states it must reject it.
//!
//! All but one are a [`Gate`]: the reference pipe, used non-blocking
//! underneath, with the blocking and the waking done here, where one
//! [`Flaw`] bends one rule. Without a flaw a gate is a correct pipe written
//! differently (its own condition variables over a non-blocking queue), so
//! whatever else fails on a mutant is the suite's fault, not the gate's.
//! The signal property needs kernel descriptors: its mutant is the kernel
//! pipe with a descriptor that lies ([`SpareReader`]).

use std::io::{self, Read, Write};
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use ipcspec::reference::pipe::{
    Bounded, Kernel, PipeImpl, PipeReader, PipeWriter, DEFAULT_CAPACITY, PIPE_BUF,
};
use ipcspec::spec::pipe::suite;

use super::{Killer, Subject};

/// A killer whose subject is a [`Gate`] with `flaw`.
macro_rules! gate {
    ($name:literal, $flaw:ident, $kills:expr) => {
        Killer {
            name: $name,
            subject: Subject::Suite(|| suite("mutant", gate(Flaw::$flaw))),
            kills: $kills,
        }
    };
}

/// The pipe killers.
pub fn killers() -> Vec<Killer> {
    vec![
        gate!(
            "pipe/loses-the-rest-of-a-large-write",
            LosesTheRestOfALargeWrite,
            &["pipe.order.lossless"]
        ),
        gate!(
            "pipe/fills-every-read",
            FillsEveryRead,
            &["pipe.read.partial"]
        ),
        gate!(
            "pipe/eintr-on-a-drained-pipe",
            InterruptedOnceDrained,
            &["pipe.block.read-on-empty"]
        ),
        gate!(
            "pipe/one-byte-over-capacity",
            OneByteOverCapacity,
            &["pipe.block.write-after-capacity"]
        ),
        gate!(
            "pipe/first-bytes-wake-nobody",
            FirstBytesWakeNobody,
            &["pipe.wake.reader-on-data"]
        ),
        gate!(
            "pipe/last-writer-close-wakes-nobody",
            LastWriterCloseWakesNobody,
            &["pipe.wake.reader-on-last-writer-close"]
        ),
        gate!(
            "pipe/reads-wake-no-writer",
            ReadsWakeNoWriter,
            &["pipe.wake.writer-on-space"]
        ),
        gate!(
            "pipe/last-reader-close-wakes-nobody",
            LastReaderCloseWakesNobody,
            &["pipe.wake.writer-on-reader-close"]
        ),
        gate!(
            "pipe/eof-once-any-writer-closed",
            EofOnceAnyWriterClosed,
            &["pipe.eof.after-last-writer"]
        ),
        gate!(
            "pipe/swallows-writes-with-no-reader",
            SwallowsWritesWithNoReader,
            &["pipe.epipe.no-reader"]
        ),
        gate!(
            "pipe/splits-small-writes",
            SplitsSmallWrites,
            &["pipe.atomic.up-to-pipe-buf"]
        ),
        gate!(
            "pipe/non-blocking-writes-block",
            NonBlockingWritesBlock,
            &["pipe.nonblock.would-block"]
        ),
        Killer {
            name: "pipe/descriptor-with-a-spare-reader",
            subject: Subject::Suite(|| suite("mutant", Arc::new(SpareReader))),
            kills: &["pipe.sigpipe.default-kills-writer"],
        },
    ]
}

fn gate(flaw: Flaw) -> Arc<dyn PipeImpl> {
    Arc::new(Gate(flaw))
}

/// The one rule a [`Gate`] bends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flaw {
    /// A blocking write of more than `PIPE_BUF` bytes that does not fit stores
    /// what fits and reports the whole buffer written.
    LosesTheRestOfALargeWrite,
    /// A blocking read waits until its buffer is full (or end-of-file).
    FillsEveryRead,
    /// Once bytes have gone through, a blocking read on the empty pipe fails
    /// with `EINTR` instead of sleeping (a caller that retries spins).
    InterruptedOnceDrained,
    /// The pipe takes one byte more than the capacity it reports.
    OneByteOverCapacity,
    /// Bytes written into an empty pipe wake no reader; only a write into a
    /// pipe that already holds bytes, a writer about to sleep, or a close does.
    FirstBytesWakeNobody,
    /// Closing a write handle wakes no reader: one already asleep sleeps on,
    /// though a read made afterwards sees end-of-file.
    LastWriterCloseWakesNobody,
    /// Reads wake no writer; only a reader about to sleep on the empty pipe does.
    ReadsWakeNoWriter,
    /// Closing a read handle wakes no writer: one already asleep sleeps on,
    /// though a write made afterwards fails with `EPIPE`.
    LastReaderCloseWakesNobody,
    /// A non-blocking read on the empty pipe reports end-of-file as soon as
    /// any write handle has closed, not the last one.
    EofOnceAnyWriterClosed,
    /// A write that finds no reader reports its bytes written instead of
    /// failing with `EPIPE` (a blocked writer woken by the last close still gets it).
    SwallowsWritesWithNoReader,
    /// A blocking write of at most `PIPE_BUF` bytes goes in as two halves, so
    /// another writer's bytes can come between them.
    SplitsSmallWrites,
    /// In non-blocking mode a write on the full pipe still blocks.
    NonBlockingWritesBlock,
}

/// A pipe made of the reference pipe, non-blocking, plus blocking and
/// waking done here, with one flaw.
struct Gate(Flaw);

/// What the ends of one gate share. Every call on the inner pipe is made
/// with `state` locked and never blocks, so the byte count is exact and a
/// waiter cannot miss a wake-up the gate means to send.
struct Shared {
    flaw: Flaw,
    /// The capacity the pipe reports.
    capacity: usize,
    state: Mutex<State>,
    /// Signalled when bytes arrive or a writer leaves.
    readable: Condvar,
    /// Signalled when room frees up or a reader leaves.
    writable: Condvar,
}

#[derive(Default)]
struct State {
    /// Bytes in the pipe.
    queued: usize,
    /// Whether any byte was ever written.
    carried: bool,
    /// Whether any write handle has closed.
    writer_closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, condvar: &Condvar, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        condvar.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }

    fn has(&self, flaw: Flaw) -> bool {
        self.flaw == flaw
    }
}

impl PipeImpl for Gate {
    fn name(&self) -> &str {
        "mutant"
    }

    fn open(
        &self,
        capacity: Option<usize>,
    ) -> io::Result<(Box<dyn PipeReader>, Box<dyn PipeWriter>)> {
        let capacity = capacity.unwrap_or(DEFAULT_CAPACITY);
        let slack = usize::from(self.0 == Flaw::OneByteOverCapacity);
        let (reader, writer) = Bounded.open(Some(capacity + slack))?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            flaw: self.0,
            capacity,
            state: Mutex::new(State::default()),
            readable: Condvar::new(),
            writable: Condvar::new(),
        });
        Ok((
            Box::new(GateReader {
                inner: Some(reader),
                shared: shared.clone(),
                nonblocking: AtomicBool::new(false),
            }),
            Box::new(GateWriter {
                inner: Some(writer),
                shared,
                nonblocking: AtomicBool::new(false),
            }),
        ))
    }
}

/// A read end of a [`Gate`]; `inner` is `Some` until dropped.
struct GateReader {
    inner: Option<Box<dyn PipeReader>>,
    shared: Arc<Shared>,
    nonblocking: AtomicBool,
}

impl Read for GateReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let shared = self.shared.clone();
        let nonblocking = self.nonblocking.load(Ordering::Relaxed);
        let inner = self.inner.as_mut().expect("open until dropped");
        let mut state = shared.lock();
        let mut got = 0;
        loop {
            match inner.read(&mut buf[got..]) {
                Ok(0) => return Ok(got),
                Ok(n) => {
                    got += n;
                    state.queued -= n;
                    if !shared.has(Flaw::ReadsWakeNoWriter) {
                        shared.writable.notify_all();
                    }
                    let fill = shared.has(Flaw::FillsEveryRead) && !nonblocking;
                    if !fill || got == buf.len() {
                        return Ok(got);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if nonblocking {
                        if shared.has(Flaw::EofOnceAnyWriterClosed) && state.writer_closed {
                            return Ok(0);
                        }
                        return Err(e);
                    }
                    if shared.has(Flaw::InterruptedOnceDrained) && state.carried && got == 0 {
                        return Err(io::ErrorKind::Interrupted.into());
                    }
                    if shared.has(Flaw::ReadsWakeNoWriter) {
                        shared.writable.notify_all();
                    }
                    state = shared.wait(&shared.readable, state);
                }
                Err(_) if got > 0 => return Ok(got),
                Err(e) => return Err(e),
            }
        }
    }
}

impl PipeReader for GateReader {
    fn try_clone(&self) -> io::Result<Box<dyn PipeReader>> {
        let _state = self.shared.lock();
        Ok(Box::new(GateReader {
            inner: Some(self.inner.as_ref().expect("open").try_clone()?),
            shared: self.shared.clone(),
            nonblocking: AtomicBool::new(self.nonblocking.load(Ordering::Relaxed)),
        }))
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.nonblocking.store(nonblocking, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for GateReader {
    fn drop(&mut self) {
        let _state = self.shared.lock();
        drop(self.inner.take());
        if !self.shared.has(Flaw::LastReaderCloseWakesNobody) {
            self.shared.writable.notify_all();
        }
    }
}

/// A write end of a [`Gate`]; `inner` is `Some` until dropped.
struct GateWriter {
    inner: Option<Box<dyn PipeWriter>>,
    shared: Arc<Shared>,
    nonblocking: AtomicBool,
}

impl Write for GateWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let shared = self.shared.clone();
        let inner = self.inner.as_mut().expect("open until dropped");
        let nonblocking =
            self.nonblocking.load(Ordering::Relaxed) && !shared.has(Flaw::NonBlockingWritesBlock);
        let halves = shared.has(Flaw::SplitsSmallWrites) && !nonblocking && buf.len() <= PIPE_BUF;
        let mut state = shared.lock();
        let (mut written, mut waited) = (0, false);
        loop {
            let rest = &buf[written..];
            let piece = if halves && written == 0 {
                &rest[..rest.len().div_ceil(2)]
            } else {
                rest
            };
            match inner.write(piece) {
                Ok(n) => {
                    let was_empty = state.queued == 0;
                    state.queued += n;
                    state.carried = true;
                    written += n;
                    if !(shared.has(Flaw::FirstBytesWakeNobody) && was_empty) {
                        shared.readable.notify_all();
                    }
                    let loses = shared.has(Flaw::LosesTheRestOfALargeWrite) && buf.len() > PIPE_BUF;
                    if written == buf.len() || nonblocking {
                        return Ok(written);
                    }
                    if loses {
                        return Ok(buf.len());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if nonblocking {
                        return if written > 0 { Ok(written) } else { Err(e) };
                    }
                    // A writer about to sleep on a full pipe wakes the readers first.
                    shared.readable.notify_all();
                    state = shared.wait(&shared.writable, state);
                    waited = true;
                }
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    if shared.has(Flaw::SwallowsWritesWithNoReader) && !waited && written == 0 {
                        return Ok(buf.len());
                    }
                    return if written > 0 { Ok(written) } else { Err(e) };
                }
                Err(e) => return if written > 0 { Ok(written) } else { Err(e) },
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl PipeWriter for GateWriter {
    fn try_clone(&self) -> io::Result<Box<dyn PipeWriter>> {
        let _state = self.shared.lock();
        Ok(Box::new(GateWriter {
            inner: Some(self.inner.as_ref().expect("open").try_clone()?),
            shared: self.shared.clone(),
            nonblocking: AtomicBool::new(self.nonblocking.load(Ordering::Relaxed)),
        }))
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.nonblocking.store(nonblocking, Ordering::Relaxed);
        Ok(())
    }

    fn capacity(&self) -> io::Result<usize> {
        Ok(self.shared.capacity)
    }
}

impl Drop for GateWriter {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        drop(self.inner.take());
        state.writer_closed = true;
        if !self.shared.has(Flaw::LastWriterCloseWakesNobody) {
            self.shared.readable.notify_all();
        }
    }
}

/// The kernel pipe, but `as_fd` hands out the write end of a second pipe
/// whose read end the mutant keeps: a process writing on that descriptor
/// never meets "no reader", so no `SIGPIPE` (everything else goes through
/// the real pipe, whose ends behave).
struct SpareReader;

impl PipeImpl for SpareReader {
    fn name(&self) -> &str {
        "mutant"
    }

    fn kernel_descriptors(&self) -> bool {
        true
    }

    fn open(
        &self,
        capacity: Option<usize>,
    ) -> io::Result<(Box<dyn PipeReader>, Box<dyn PipeWriter>)> {
        let (reader, writer) = Kernel.open(capacity)?;
        let spare = Kernel.open(None)?;
        Ok((reader, Box::new(Lying { writer, spare })))
    }
}

/// A kernel write end whose `as_fd` is another pipe's (see [`SpareReader`]).
struct Lying {
    writer: Box<dyn PipeWriter>,
    spare: (Box<dyn PipeReader>, Box<dyn PipeWriter>),
}

impl Write for Lying {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl PipeWriter for Lying {
    fn try_clone(&self) -> io::Result<Box<dyn PipeWriter>> {
        self.writer.try_clone()
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.writer.set_nonblocking(nonblocking)
    }

    fn capacity(&self) -> io::Result<usize> {
        self.writer.capacity()
    }

    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        self.spare.1.as_fd()
    }
}
