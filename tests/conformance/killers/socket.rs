//! Socket mutants: the kernel's TCP streams over 127.0.0.1, wrapped, each
//! wrapper breaking one promise, and exactly the property that states it
//! must reject it.
//!
//! A [`Mutant`] hands out the kernel's streams and listeners, wrapped so
//! that one [`Flaw`] bends one rule; everything else goes straight to the
//! kernel, so whatever else fails on a mutant is the suite's fault.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ipcspec::spec::socket::{suite, Listener, Pair, Stream, StreamImpl, Transport};

use super::{Killer, Subject};

/// A killer whose subject is a [`Mutant`] with `flaw`.
macro_rules! mutant {
    ($name:literal, $flaw:ident, $kills:expr) => {
        Killer {
            name: $name,
            subject: Subject::Suite(|| suite("mutant", Arc::new(Mutant::new(Flaw::$flaw)))),
            kills: $kills,
        }
    };
}

/// The socket killers.
pub fn killers() -> Vec<Killer> {
    vec![
        mutant!(
            "socket/drops-a-byte-every-64-kib",
            DropsAByteEvery64KiB,
            &["socket.stream.ordered-lossless-each-way"]
        ),
        mutant!(
            "socket/half-close-closes-both-ways",
            HalfCloseClosesBothWays,
            &["socket.shutdown.peer-reads-eof-then-replies"]
        ),
        mutant!(
            "socket/swallows-epipe",
            SwallowsEpipe,
            &["socket.write.epipe-after-peer-closed"]
        ),
        mutant!(
            "socket/descriptor-with-a-spare-peer",
            DescriptorWithASparePeer,
            &["socket.write.sigpipe-after-peer-closed"]
        ),
        mutant!(
            "socket/keeps-message-boundaries",
            KeepsMessageBoundaries,
            &["socket.stream.no-message-boundaries"]
        ),
        mutant!(
            "socket/accept-reuses-an-idle-connection",
            ReusesAnIdleConnection,
            &["socket.accept.distinct-connections"]
        ),
        mutant!(
            "socket/accepts-newest-first",
            AcceptsNewestFirst,
            &["socket.listen.backlog-holds-connections"]
        ),
    ]
}

/// The one rule a [`Mutant`] bends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flaw {
    /// The first end of a connected pair loses the byte at each 64 KiB
    /// boundary of what it reads (an off-by-one in a 64 KiB ring).
    DropsAByteEvery64KiB,
    /// After `shutdown(SHUT_WR)` an end reads end-of-file at once: the
    /// half-close closes both ways.
    HalfCloseClosesBothWays,
    /// A write that fails with `EPIPE` or `ECONNRESET` reports its bytes sent.
    SwallowsEpipe,
    /// `as_fd` of the first end hands out another connection's descriptor,
    /// whose peer the mutant keeps open: a process writing on it never
    /// meets a closed peer.
    DescriptorWithASparePeer,
    /// A read returns at most the bytes of one write of the peer.
    KeepsMessageBoundaries,
    /// `accept` hands out the last connection again while nothing has been
    /// read from it (a pool of idle connections, reused).
    ReusesAnIdleConnection,
    /// `accept` takes every waiting connection and returns the newest first.
    AcceptsNewestFirst,
}

/// The kernel's TCP over 127.0.0.1, with a flaw.
struct Mutant {
    flaw: Flaw,
    /// The peers of the spare connections handed out, kept open for as long
    /// as the mutant lives (see [`Flaw::DescriptorWithASparePeer`]).
    spare_peers: Mutex<Vec<OwnedFd>>,
}

impl Mutant {
    fn new(flaw: Flaw) -> Mutant {
        Mutant {
            flaw,
            spare_peers: Mutex::default(),
        }
    }
}

const KERNEL: Transport = Transport::Tcp4;

impl StreamImpl for Mutant {
    fn kind(&self) -> &'static str {
        KERNEL.label()
    }

    fn kernel_descriptors(&self) -> bool {
        true
    }

    fn connected(&self, timeout: Duration) -> io::Result<Pair> {
        let (a, b) = KERNEL.connected(timeout)?;
        let (ab, ba) = (Frames::default(), Frames::default());
        let spare = match self.flaw {
            Flaw::DescriptorWithASparePeer => {
                let (end, peer) = KERNEL.connected(timeout)?;
                let owned = |s: &dyn Stream| {
                    s.as_fd()
                        .ok_or_else(|| io::Error::other("a kernel stream has a descriptor"))?
                        .try_clone_to_owned()
                };
                self.spare_peers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(owned(&*peer)?);
                Some(Arc::new(owned(&*end)?))
            }
            _ => None,
        };
        let first = Wrapped {
            first: true,
            spare,
            sends: ab.clone(),
            receives: ba.clone(),
            ..Wrapped::new(a, self.flaw)
        };
        let second = Wrapped {
            sends: ba,
            receives: ab,
            ..Wrapped::new(b, self.flaw)
        };
        Ok((Box::new(first), Box::new(second)))
    }

    fn listener(&self, timeout: Duration) -> io::Result<Box<dyn Listener>> {
        Ok(Box::new(MutantListener {
            inner: KERNEL.listener(timeout)?,
            flaw: self.flaw,
            state: Mutex::default(),
        }))
    }
}

/// Sizes of the writes on their way in one direction, oldest first.
type Frames = Arc<Mutex<VecDeque<usize>>>;

/// A kernel stream with the mutant's flaw.
struct Wrapped {
    inner: Box<dyn Stream>,
    flaw: Flaw,
    /// The first end of a connected pair.
    first: bool,
    /// Bytes read so far.
    read: usize,
    /// Set once this end (or a clone) has shut down its sending half.
    shut: Arc<AtomicBool>,
    /// Set once a byte has been read from this connection.
    used: Arc<AtomicBool>,
    /// An end of another connection, whose descriptor `as_fd` hands out.
    spare: Option<Arc<OwnedFd>>,
    /// Sizes of this end's writes, and of the peer's.
    sends: Frames,
    receives: Frames,
}

impl Wrapped {
    fn new(inner: Box<dyn Stream>, flaw: Flaw) -> Wrapped {
        Wrapped {
            inner,
            flaw,
            first: false,
            read: 0,
            shut: Arc::default(),
            used: Arc::default(),
            spare: None,
            sends: Frames::default(),
            receives: Frames::default(),
        }
    }

    fn frames(frames: &Frames) -> std::sync::MutexGuard<'_, VecDeque<usize>> {
        frames.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Read for Wrapped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.flaw == Flaw::HalfCloseClosesBothWays && self.shut.load(Ordering::SeqCst) {
            return Ok(0);
        }
        loop {
            let ask = match self.flaw {
                Flaw::KeepsMessageBoundaries => Wrapped::frames(&self.receives)
                    .front()
                    .map_or(buf.len(), |&frame| frame.min(buf.len())),
                _ => buf.len(),
            };
            let n = self.inner.read(&mut buf[..ask])?;
            if n > 0 {
                self.used.store(true, Ordering::SeqCst);
            }
            if self.flaw == Flaw::KeepsMessageBoundaries {
                let mut frames = Wrapped::frames(&self.receives);
                if let Some(front) = frames.front_mut() {
                    *front -= n.min(*front);
                    if *front == 0 {
                        frames.pop_front();
                    }
                }
            }
            let start = self.read;
            self.read += n;
            if !(self.flaw == Flaw::DropsAByteEvery64KiB && self.first) {
                return Ok(n);
            }
            // The byte at each multiple of 64 KiB (but 0) that this read covers is lost.
            let mut kept = 0;
            for i in 0..n {
                let at = start + i;
                if at == 0 || !at.is_multiple_of(65_536) {
                    buf[kept] = buf[i];
                    kept += 1;
                }
            }
            // A read that lost its only byte must not look like end-of-file.
            if kept > 0 || n == 0 {
                return Ok(kept);
            }
        }
    }
}

impl Write for Wrapped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.inner.write(buf) {
            Err(e)
                if self.flaw == Flaw::SwallowsEpipe
                    && matches!(e.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)) =>
            {
                Ok(buf.len())
            }
            Ok(n) => {
                if self.flaw == Flaw::KeepsMessageBoundaries {
                    Wrapped::frames(&self.sends).push_back(n);
                }
                Ok(n)
            }
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for Wrapped {
    fn try_clone(&self) -> io::Result<Box<dyn Stream>> {
        Ok(Box::new(Wrapped {
            inner: self.inner.try_clone()?,
            flaw: self.flaw,
            first: self.first,
            read: self.read,
            shut: self.shut.clone(),
            used: self.used.clone(),
            spare: self.spare.clone(),
            sends: self.sends.clone(),
            receives: self.receives.clone(),
        }))
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.shut.store(true, Ordering::SeqCst);
        self.inner.shutdown_write()
    }

    fn queued(&self, most: usize) -> io::Result<usize> {
        self.inner.queued(most)
    }

    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.spare {
            Some(spare) => Some(spare.as_fd()),
            None => self.inner.as_fd(),
        }
    }
}

/// A kernel listener with the mutant's flaw.
struct MutantListener {
    inner: Box<dyn Listener>,
    flaw: Flaw,
    state: Mutex<Accepting>,
}

/// What a [`MutantListener`] remembers between calls.
#[derive(Default)]
struct Accepting {
    /// Connections made and not yet accepted.
    waiting: usize,
    /// Connections accepted ahead, newest last.
    ahead: Vec<Box<dyn Stream>>,
    /// The last connection handed out, and whether it has been read from.
    last: Option<(Box<dyn Stream>, Arc<AtomicBool>)>,
}

impl Listener for MutantListener {
    fn connect(&self) -> io::Result<Box<dyn Stream>> {
        let stream = self.inner.connect()?;
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .waiting += 1;
        Ok(stream)
    }

    fn accept(&self) -> io::Result<Box<dyn Stream>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match self.flaw {
            Flaw::AcceptsNewestFirst => {
                if state.ahead.is_empty() {
                    // Every connection made has completed: none of these accepts waits.
                    for _ in 0..state.waiting.max(1) {
                        let stream = self.inner.accept()?;
                        state.ahead.push(stream);
                    }
                    state.waiting = 0;
                }
                Ok(state.ahead.pop().expect("filled above"))
            }
            Flaw::ReusesAnIdleConnection => {
                if let Some((stream, used)) = &state.last {
                    if !used.load(Ordering::SeqCst) {
                        let mut again = Wrapped::new(stream.try_clone()?, self.flaw);
                        again.used = used.clone();
                        return Ok(Box::new(again));
                    }
                }
                let stream = Wrapped::new(self.inner.accept()?, self.flaw);
                state.last = Some((stream.inner.try_clone()?, stream.used.clone()));
                Ok(Box::new(stream))
            }
            _ => self.inner.accept(),
        }
    }
}
