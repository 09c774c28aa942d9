//! Properties of blocking and waking: reads block on an empty pipe, writes
//! on a full one; the right event (data, room, the last close of the other
//! end) wakes them; non-blocking mode refuses instead of blocking.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use proptest::prelude::*;

use super::signal::sigpipe_ignored;
use super::{bounded, clones, close, failed, no_fork, open, succeeds, Ends};
use crate::reference::pipe::{PipeImpl, PipeReader, PIPE_BUF};
use crate::spec::diff::same_bytes;
use crate::spec::op::{Kept, Op};
use crate::spec::{ensure, Ctx, Finding, Outcome};
use crate::workload::pipe::{capacity, labelled, order, page_size};
use crate::workload::seeded;

/// A read's outcome, with the reader it was made on.
type ReadOutcome = (Kept<Box<dyn PipeReader>>, io::Result<Vec<u8>>);

/// A read of up to `len` bytes on its own thread; the reader comes back
/// with the result, so it stays open as long as the check wants.
fn spawn_read(reader: Box<dyn PipeReader>, len: usize) -> Result<Op<ReadOutcome>, Finding> {
    Op::spawn("the read", move || {
        let mut reader = reader;
        let mut buf = vec![0; len];
        let read = reader.read(&mut buf).map(|n| {
            buf.truncate(n);
            buf
        });
        (Kept(reader), read)
    })
}

/// Opens a pipe of `capacity` and fills it with one write of exactly its
/// capacity, which a correct pipe takes whole without blocking.
/// Returns the ends and the bytes written.
fn full_pipe(
    pipe: &dyn PipeImpl,
    capacity: usize,
    seed: u64,
    ctx: &Ctx,
) -> Result<(Ends, Vec<u8>), Finding> {
    let (reader, writer) = open(pipe, Some(capacity))?;
    let (writer, capacity) = succeeds(writer, "asking the capacity", ctx, |w| w.capacity())?;
    let fill = seeded(capacity, seed);
    let sent = fill.clone();
    let (writer, ()) = succeeds(
        writer,
        &format!("one write of the whole capacity ({capacity} bytes)"),
        ctx,
        move |w| w.write_all(&sent),
    )?;
    Ok(((reader, writer), fill))
}

/// Closes `handles` in `order`; after each close but the last, `op` must still be blocked.
fn close_in_order<H: Send + 'static, T: std::fmt::Debug + Send + 'static>(
    mut handles: Vec<Option<H>>,
    order: &[usize],
    op: &Op<T>,
    ctx: &Ctx,
) -> Outcome {
    for (step, &i) in order.iter().enumerate() {
        if let Some(handle) = handles[i].take() {
            close(handle, "closing a handle of the other end", ctx)?;
        }
        if step + 1 < order.len() {
            op.blocked(ctx.timeout).map_err(|finding| match finding {
                Finding::Violated(mut f) => {
                    f.expected = format!(
                        "{} while {} handle(s) of the other end are open",
                        f.expected,
                        order.len() - step - 1
                    );
                    Finding::Violated(f)
                }
                other => other,
            })?;
        }
    }
    Ok(())
}

/// `pipe.block.read-on-empty`: after `pre` bytes go through, a read on the
/// now empty pipe is seen blocked.
pub(super) fn read_on_empty(pipe: &dyn PipeImpl, ctx: &Ctx) -> Outcome {
    let _no_fork = no_fork();
    ctx.forall(
        labelled(
            "(bytes through first, read buffer, seed)",
            (0..=2 * PIPE_BUF, 1..=2 * PIPE_BUF, any::<u64>()),
        ),
        |case| {
            let &(pre, len, seed) = &case.value;
            let (reader, writer) = open(pipe, None)?;
            let data = seeded(pre, seed);
            let (writer, ()) =
                succeeds(writer, "the first write", ctx, move |w| w.write_all(&data))?;
            let (reader, ()) = succeeds(reader, "reading the first bytes back", ctx, move |r| {
                r.read_exact(&mut vec![0; pre])
            })?;
            let read = spawn_read(reader, len)?;
            let blocked = read.blocked(ctx.timeout);
            // Not this property's claim: the close only frees the reader.
            close(writer, "closing the write end", ctx)?;
            let _ = read.finish("end-of-file", ctx.timeout);
            blocked
        },
    )
}

/// `pipe.block.write-after-capacity`: a pipe of capacity `C` (set with
/// `F_SETPIPE_SZ`, a power-of-two number of pages) is filled in writes of
/// `chunk` bytes, then written one byte at a time: the pipe must take
/// exactly `C` bytes, to the byte, and the first write after them must block.
///
/// Why one chunk size that divides the page size: a Linux pipe is a ring of
/// pages, and a write is merged into the last page only if its
/// `len % PAGE_SIZE` fits in what that page has left; otherwise it takes a
/// fresh page. With mixed sizes pages are left part-empty and the pipe blocks
/// before `C` bytes. Writes of one size dividing the page size (or one write
/// of `C`) fill every page exactly, so then the capacity is exact, and a
/// single byte more finds no page to go in.
pub(super) fn write_after_capacity(pipe: &dyn PipeImpl, ctx: &Ctx) -> Outcome {
    let _no_fork = no_fork();
    sigpipe_ignored()?;
    // Writes of a power of two up to the page size (at most 1024 of them to
    // fill the pipe), or a single write of the whole capacity.
    let case = capacity().prop_flat_map(|capacity| {
        let sizes: Vec<usize> = (0..=page_size().trailing_zeros())
            .map(|e| 1usize << e)
            .filter(|&size| size >= capacity / 1024)
            .chain([capacity])
            .collect();
        (Just(capacity), prop::sample::select(sizes))
    });
    ctx.forall(labelled("(capacity, write size)", case), |case| {
        let &(requested, chunk) = &case.value;
        let (reader, writer) = open(pipe, Some(requested))?;
        let (writer, capacity) = succeeds(writer, "asking the capacity", ctx, |w| w.capacity())?;
        // A pipe that rounds the capacity differently is filled in one write.
        let chunk = if capacity == requested { chunk } else { capacity };
        let data = seeded(chunk, requested as u64);
        let written = Arc::new(AtomicUsize::new(0));
        let progress = written.clone();
        // At most PIPE_BUF single bytes over: enough to see any excess, and a
        // pipe that never blocks cannot keep the thread writing forever.
        let op = Op::spawn(
            format!("{} writes of {chunk} bytes, then writes of 1 byte", capacity / chunk),
            move || {
                let mut writer = writer;
                let writes = (0..capacity / chunk)
                    .map(|_| &data[..])
                    .chain((0..PIPE_BUF).map(|i| &data[i % chunk..][..1]));
                let result = writes.into_iter().try_for_each(|bytes| {
                    writer.write_all(bytes)?;
                    progress.fetch_add(bytes.len(), Ordering::SeqCst);
                    Ok::<(), io::Error>(())
                });
                (Kept(writer), result)
            },
        )?;
        let blocked = op.blocked(ctx.timeout);
        let so_far = written.load(Ordering::SeqCst);
        // A blocked writer now fails with EPIPE, which frees its thread.
        close(reader, "closing the read end", ctx)?;
        match blocked {
            Err(Finding::Violated(_)) => match op.finish("its result", ctx.timeout)?.1 {
                Ok(()) => Err(Finding::violated(
                    format!("a write to block once the pipe holds its capacity of {capacity} bytes"),
                    format!("{} bytes went in without blocking (its capacity, then {PIPE_BUF} single bytes)", capacity + PIPE_BUF),
                )),
                Err(e) => Err(failed(&format!("the writes up to the capacity of {capacity} bytes"), &e)),
            },
            Err(other) => Err(other),
            Ok(()) => {
                // Not this property's claim: the close only frees the writer.
                let _ = op.finish("EPIPE once the read end closed", ctx.timeout);
                ensure(
                    so_far == capacity,
                    || format!("the pipe to take exactly its capacity of {capacity} bytes, in writes of {chunk} then of 1 byte, before a write blocks"),
                    || {
                        if so_far > capacity {
                            format!("it took {so_far} bytes, {} over its capacity, before a write blocked", so_far - capacity)
                        } else {
                            format!("a write blocked after {so_far} bytes")
                        }
                    },
                )
            }
        }
    })
}

/// `pipe.wake.reader-on-data`: a reader blocked on the empty pipe returns,
/// with the start of the bytes, once they are written.
pub(super) fn reader_on_data(pipe: &dyn PipeImpl, ctx: &Ctx) -> Outcome {
    let _no_fork = no_fork();
    ctx.forall(
        labelled("(bytes written, seed)", (1..=PIPE_BUF, any::<u64>())),
        |case| {
            let &(len, seed) = &case.value;
            let (reader, writer) = open(pipe, None)?;
            let read = spawn_read(reader, len)?;
            read.blocked(ctx.timeout)?;
            let data = seeded(len, seed);
            let sent = data.clone();
            let (_writer, ()) = succeeds(writer, "the write", ctx, move |w| w.write_all(&sent))?;
            let (_reader, got) = read.finish("the bytes just written", ctx.timeout)?;
            let got = got.map_err(|e| failed("the woken read", &e))?;
            ensure(
                !got.is_empty(),
                || "at least one byte".into(),
                || "end-of-file".into(),
            )?;
            same_bytes("the first bytes written", &data[..got.len()], &got)
        },
    )
}

/// `pipe.wake.reader-on-last-writer-close`: with 1–4 write handles open, a
/// reader blocks on the empty pipe; the handles close in random order; the
/// reader stays blocked until the last closes, then reads end-of-file.
pub(super) fn reader_on_last_writer_close(pipe: &dyn PipeImpl, ctx: &Ctx) -> Outcome {
    let _no_fork = no_fork();
    ctx.forall(
        labelled("write handles in closing order", order(1..=4)),
        |case| {
            let order = &case.value;
            let (reader, writer) = open(pipe, None)?;
            let writers = clones(writer, order.len() - 1, ctx)?;
            let read = spawn_read(reader, 1)?;
            read.blocked(ctx.timeout)?;
            close_in_order(writers, order, &read, ctx)?;
            let (_reader, got) = read.finish(
                "end-of-file after the last write handle closed",
                ctx.timeout,
            )?;
            let got = got.map_err(|e| failed("the woken read", &e))?;
            ensure(
                got.is_empty(),
                || "end-of-file (a read of 0 bytes)".into(),
                || format!("{} bytes", got.len()),
            )
        },
    )
}

/// `pipe.wake.writer-on-space`: a writer blocks on a full pipe; the pipe is
/// drained; the writer returns, and its bytes follow the earlier ones.
pub(super) fn writer_on_space(pipe: &dyn PipeImpl, ctx: &Ctx) -> Outcome {
    let _no_fork = no_fork();
    let small = prop::sample::select(vec![1usize, 2, 4, 16]).prop_map(|pages| pages * page_size());
    ctx.forall(
        labelled(
            "(capacity, bytes in the blocked write, seed)",
            (small, 1..=PIPE_BUF, any::<u64>()),
        ),
        |case| {
            let &(capacity, len, seed) = &case.value;
            let ((reader, writer), mut expected) = full_pipe(pipe, capacity, seed, ctx)?;
            let data = seeded(len, !seed);
            expected.extend_from_slice(&data);
            let write = Op::spawn("the write on the full pipe", move || {
                let mut writer = writer;
                let wrote = writer.write_all(&data);
                (Kept(writer), wrote)
            })?;
            write.blocked(ctx.timeout)?;
            let filled = expected.len() - len;
            let (reader, mut got) = succeeds(reader, "draining the pipe", ctx, move |r| {
                let mut got = vec![0; filled];
                r.read_exact(&mut got).map(|()| got)
            })?;
            let (_writer, wrote) = write.finish("room, once the pipe was drained", ctx.timeout)?;
            wrote.map_err(|e| failed("the woken write", &e))?;
            let (_reader, tail) =
                succeeds(reader, "reading the woken write's bytes", ctx, move |r| {
                    let mut tail = vec![0; len];
                    r.read_exact(&mut tail).map(|()| tail)
                })?;
            got.extend(tail);
            same_bytes("the fill, then the woken write's bytes", &expected, &got)
        },
    )
}

/// `pipe.wake.writer-on-reader-close`: with 1–3 read handles open, a writer
/// blocks on a full pipe; the handles close in random order; the writer
/// stays blocked until the last closes, then fails with EPIPE.
pub(super) fn writer_on_reader_close(pipe: &dyn PipeImpl, ctx: &Ctx) -> Outcome {
    let _no_fork = no_fork();
    sigpipe_ignored()?;
    ctx.forall(
        labelled(
            "(read handles in closing order, bytes in the blocked write, seed)",
            (order(1..=3), 1..=PIPE_BUF, any::<u64>()),
        ),
        |case| {
            let (order, len, seed) = &case.value;
            let ((reader, writer), _) = full_pipe(pipe, page_size(), *seed, ctx)?;
            let readers = clones(reader, order.len() - 1, ctx)?;
            let data = seeded(*len, *seed);
            let write = Op::spawn("the write on the full pipe", move || {
                let mut writer = writer;
                let wrote = writer.write(&data);
                (Kept(writer), wrote)
            })?;
            write.blocked(ctx.timeout)?;
            close_in_order(readers, order, &write, ctx)?;
            let (_writer, result) =
                write.finish("EPIPE after the last read handle closed", ctx.timeout)?;
            ensure(
                matches!(&result, Err(e) if e.kind() == io::ErrorKind::BrokenPipe),
                || "the write to fail with EPIPE (broken pipe)".into(),
                || format!("{result:?}"),
            )
        },
    )
}

/// `pipe.nonblock.would-block`: in non-blocking mode, a read on the empty
/// pipe and, once writes have filled it, a write of up to `PIPE_BUF` bytes
/// fail with EAGAIN.
pub(super) fn nonblock_would_block(pipe: &dyn PipeImpl, ctx: &Ctx) -> Outcome {
    let _no_fork = no_fork();
    ctx.forall(labelled("(bytes through first, bytes in the refused write, seed)", (0..=PIPE_BUF, 1..=PIPE_BUF, any::<u64>())), |case| {
        let &(pre, len, seed) = &case.value;
        let (reader, writer) = open(pipe, None)?;
        let (reader, ()) = succeeds(reader, "entering non-blocking mode", ctx, |r| r.set_nonblocking(true))?;
        let (writer, ()) = succeeds(writer, "entering non-blocking mode", ctx, |w| w.set_nonblocking(true))?;
        let (writer, capacity) = succeeds(writer, "asking the capacity", ctx, |w| w.capacity())?;
        let first = seeded(pre, seed);
        let (writer, ()) = succeeds(writer, "a first small write", ctx, move |w| w.write_all(&first))?;
        let (reader, ()) = succeeds(reader, "reading the first bytes back", ctx, move |r| r.read_exact(&mut vec![0; pre]))?;
        let (_reader, read) = bounded(reader, "a read on the empty pipe", ctx, |r| r.read(&mut [0; 1]))?;
        would_block("a read on the empty pipe", read)?;
        let fill = seeded(capacity, !seed);
        // A correct pipe refuses within a capacity's worth of bytes; the loop
        // stops at twice that, and at a write that takes nothing.
        let (writer, filled) = bounded(writer, "writes filling the pipe", ctx, move |w| {
            let mut total = 0;
            loop {
                match w.write(&fill) {
                    Ok(0) => return Err(format!("a write of {} bytes returned 0, neither taking bytes nor failing", fill.len())),
                    Ok(n) if total <= 2 * capacity => total += n,
                    Ok(_) => return Err(format!("{total} bytes were accepted")),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) => return Err(format!("filling the pipe failed: {e}")),
                }
            }
        })?;
        filled.map_err(|seen| Finding::violated(
            format!("writes to fail with EAGAIN once the pipe holds its capacity of {capacity} bytes"),
            seen,
        ))?;
        let refused = seeded(len, seed);
        let (_writer, wrote) = bounded(writer, "a write on the full pipe", ctx, move |w| w.write(&refused))?;
        would_block(&format!("a write of {len} bytes on the full pipe"), wrote)
    })
}

/// `Ok` when `result` is EAGAIN (`WouldBlock`).
fn would_block(what: &str, result: io::Result<usize>) -> Outcome {
    ensure(
        matches!(&result, Err(e) if e.kind() == io::ErrorKind::WouldBlock),
        || format!("{what} to fail with EAGAIN (would block)"),
        || format!("{result:?}"),
    )
}
