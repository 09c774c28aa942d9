//! The reference pipe: the lecture's in-memory queue, in user space, with the
//! kernel's semantics.
//!
//! Guarantees (those of pipe(7)):
//! - a fixed capacity; a read blocks while the queue is empty, a write while it is full;
//! - a read returns what is there, without waiting to fill its buffer;
//! - EOF (a read of 0) once every writer handle is dropped, after the bytes
//!   written before it; `EPIPE` on write once every reader handle is dropped,
//!   which also wakes writers blocked on a full queue;
//! - a write of at most `min(PIPE_BUF, capacity)` bytes waits for room for all
//!   of it, so it is never interleaved with another writer's bytes; a larger
//!   write may be split;
//! - non-blocking mode fails with `EAGAIN` where the call would block. Unlike
//!   the kernel's `O_NONBLOCK`, it belongs to the handle, not to all its clones.
//!
//! Blocking is a [`Condvar::wait`] with no timeout, so a blocked thread sleeps
//! in `futex(2)` and the suite can see it blocked in /proc.
//!
//! # References
//! - [pipe(7)](https://man7.org/linux/man-pages/man7/pipe.7.html): the semantics copied here

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::{PipeImpl, PipeReader, PipeWriter, DEFAULT_CAPACITY, PIPE_BUF};

/// The reference pipe implementation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bounded;

impl PipeImpl for Bounded {
    fn name(&self) -> &str {
        "reference"
    }

    fn open(
        &self,
        capacity: Option<usize>,
    ) -> io::Result<(Box<dyn PipeReader>, Box<dyn PipeWriter>)> {
        let capacity = capacity.unwrap_or(DEFAULT_CAPACITY);
        if capacity == 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                bytes: VecDeque::new(),
                capacity,
                readers: 1,
                writers: 1,
            }),
            readable: Condvar::new(),
            writable: Condvar::new(),
        });
        Ok((
            Box::new(BoundedReader {
                shared: shared.clone(),
                nonblocking: AtomicBool::new(false),
            }),
            Box::new(BoundedWriter {
                shared,
                nonblocking: AtomicBool::new(false),
            }),
        ))
    }
}

struct Queue {
    bytes: VecDeque<u8>,
    capacity: usize,
    readers: usize,
    writers: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when bytes arrive or the last writer leaves.
    readable: Condvar,
    /// Signalled when room frees up or the last reader leaves.
    writable: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue stays consistent even if a holder panicked: every update is one step.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, condvar: &Condvar, guard: MutexGuard<'a, Queue>) -> MutexGuard<'a, Queue> {
        condvar.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }
}

fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// A read end of a [`Bounded`] pipe.
struct BoundedReader {
    shared: Arc<Shared>,
    nonblocking: AtomicBool,
}

impl Read for BoundedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut queue = self.shared.lock();
        while queue.bytes.is_empty() {
            if queue.writers == 0 {
                return Ok(0);
            }
            if self.nonblocking.load(Ordering::Relaxed) {
                return Err(errno(libc::EAGAIN));
            }
            queue = self.shared.wait(&self.shared.readable, queue);
        }
        let n = buf.len().min(queue.bytes.len());
        // The queue is a ring: its bytes are at most two slices, copied whole.
        let (front, back) = queue.bytes.as_slices();
        let from_front = n.min(front.len());
        buf[..from_front].copy_from_slice(&front[..from_front]);
        buf[from_front..n].copy_from_slice(&back[..n - from_front]);
        queue.bytes.drain(..n);
        self.shared.writable.notify_all();
        Ok(n)
    }
}

impl PipeReader for BoundedReader {
    fn try_clone(&self) -> io::Result<Box<dyn PipeReader>> {
        self.shared.lock().readers += 1;
        Ok(Box::new(BoundedReader {
            shared: self.shared.clone(),
            nonblocking: AtomicBool::new(self.nonblocking.load(Ordering::Relaxed)),
        }))
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.nonblocking.store(nonblocking, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for BoundedReader {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.readers -= 1;
        if queue.readers == 0 {
            self.shared.writable.notify_all();
        }
    }
}

/// A write end of a [`Bounded`] pipe.
struct BoundedWriter {
    shared: Arc<Shared>,
    nonblocking: AtomicBool,
}

impl Write for BoundedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let nonblocking = self.nonblocking.load(Ordering::Relaxed);
        let mut queue = self.shared.lock();
        let atomic = buf.len() <= PIPE_BUF.min(queue.capacity);
        let mut written = 0;
        while written < buf.len() {
            if queue.readers == 0 {
                // As the kernel does: report the bytes already written, else EPIPE.
                return if written > 0 {
                    Ok(written)
                } else {
                    Err(errno(libc::EPIPE))
                };
            }
            let room = queue.capacity - queue.bytes.len();
            let wanted = if atomic { buf.len() } else { 1 };
            if room < wanted {
                if written > 0 && nonblocking {
                    return Ok(written);
                }
                if nonblocking {
                    return Err(errno(libc::EAGAIN));
                }
                queue = self.shared.wait(&self.shared.writable, queue);
                continue;
            }
            let n = room.min(buf.len() - written);
            queue.bytes.extend(&buf[written..written + n]);
            written += n;
            self.shared.readable.notify_all();
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl PipeWriter for BoundedWriter {
    fn try_clone(&self) -> io::Result<Box<dyn PipeWriter>> {
        self.shared.lock().writers += 1;
        Ok(Box::new(BoundedWriter {
            shared: self.shared.clone(),
            nonblocking: AtomicBool::new(self.nonblocking.load(Ordering::Relaxed)),
        }))
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.nonblocking.store(nonblocking, Ordering::Relaxed);
        Ok(())
    }

    fn capacity(&self) -> io::Result<usize> {
        Ok(self.shared.lock().capacity)
    }
}

impl Drop for BoundedWriter {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.writers -= 1;
        if queue.writers == 0 {
            self.shared.readable.notify_all();
        }
    }
}
