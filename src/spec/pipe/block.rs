//! Properties of blocking and waking: reads block on an empty pipe, writes
//! on a full one; the right event (data, room, the last close of the other
//! end) wakes them; non-blocking mode refuses instead of blocking.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use proptest::prelude::*;

use super::op::Op;
use super::signal::sigpipe_ignored;
use super::{bounded, failed, no_fork, open, Ends};
use crate::reference::pipe::{PipeImpl, PipeReader, PIPE_BUF};
use crate::spec::diff::same_bytes;
use crate::spec::{ensure, Ctx, Finding, Outcome};
use crate::workload::pipe::{capacity, labelled, order, page_size};
use crate::workload::seeded;

/// A read of up to `len` bytes on its own thread.
fn spawn_read(
    mut reader: Box<dyn PipeReader>,
    len: usize,
) -> Result<Op<io::Result<Vec<u8>>>, Finding> {
    Op::spawn("the read", move || {
        let mut buf = vec![0; len];
        let n = reader.read(&mut buf)?;
        buf.truncate(n);
        Ok(buf)
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
    let capacity = writer
        .capacity()
        .map_err(|e| failed("asking the capacity", &e))?;
    let fill = seeded(capacity, seed);
    let sent = fill.clone();
    let (writer, wrote) = bounded(
        writer,
        "one write of the whole capacity",
        ctx.timeout,
        move |w| w.write_all(&sent),
    )?;
    wrote.map_err(|e| failed(&format!("one write of the capacity ({capacity} bytes)"), &e))?;
    Ok(((reader, writer), fill))
}

/// Closes `handles` in `order`; after each close but the last, `op` must still be blocked.
fn close_in_order<H, T: std::fmt::Debug + Send + 'static>(
    mut handles: Vec<Option<H>>,
    order: &[usize],
    op: &Op<T>,
    ctx: &Ctx,
) -> Outcome {
    for (step, &i) in order.iter().enumerate() {
        drop(handles[i].take());
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
            let (writer, wrote) = bounded(writer, "the first write", ctx.timeout, move |w| {
                w.write_all(&data)
            })?;
            wrote.map_err(|e| failed("the first write", &e))?;
            let (reader, read) = bounded(
                reader,
                "reading the first bytes back",
                ctx.timeout,
                move |r| r.read_exact(&mut vec![0; pre]),
            )?;
            read.map_err(|e| failed("reading the first bytes back", &e))?;
            let read = spawn_read(reader, len)?;
            let blocked = read.blocked(ctx.timeout);
            drop(writer);
            // Not this property's claim: the close only frees the reader.
            let _ = read.finish("end-of-file", ctx.timeout);
            blocked
        },
    )
}

/// `pipe.block.write-after-capacity`: a pipe of capacity `C` (set with
/// `F_SETPIPE_SZ`, a power-of-two number of pages) is filled in writes of
/// `chunk` bytes; the write after `C` bytes must block, and none before.
///
/// Why one chunk size that divides the page size: a Linux pipe is a ring of
/// pages, and a write is merged into the last page only if its
/// `len % PAGE_SIZE` fits in what that page has left; otherwise it takes a
/// fresh page. With mixed sizes pages are left part-empty and the pipe blocks
/// before `C` bytes. Writes of one size dividing the page size (or one write
/// of `C`) fill every page exactly, so then the capacity is exact.
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
        let (reader, mut writer) = open(pipe, Some(requested))?;
        let capacity = writer
            .capacity()
            .map_err(|e| failed("asking the capacity", &e))?;
        // A pipe that rounds the capacity differently is filled in one write.
        let chunk = if capacity == requested { chunk } else { capacity };
        let data = seeded(chunk, requested as u64);
        let written = Arc::new(AtomicUsize::new(0));
        let progress = written.clone();
        let writes = capacity / chunk + 1;
        let op = Op::spawn(format!("write {writes} of {chunk} bytes"), move || {
            (0..writes).try_for_each(|_| {
                writer.write_all(&data)?;
                progress.fetch_add(data.len(), Ordering::SeqCst);
                Ok::<(), io::Error>(())
            })
        })?;
        let blocked = op.blocked(ctx.timeout);
        let so_far = written.load(Ordering::SeqCst);
        drop(reader);
        // A blocked writer now fails with EPIPE, which frees its thread.
        let result = op.finish("EPIPE once the reader closed", ctx.timeout);
        match blocked {
            Err(Finding::Violated(_)) => match result? {
                Ok(()) => Err(Finding::violated(
                    format!("a write to block once the pipe holds its capacity of {capacity} bytes"),
                    format!("{} bytes went in without blocking, in writes of {chunk}", writes * chunk),
                )),
                Err(e) => Err(failed(&format!("the writes of {chunk} bytes up to the capacity"), &e)),
            },
            Err(other) => Err(other),
            Ok(()) => ensure(
                so_far == capacity,
                || format!("the pipe to take exactly its capacity of {capacity} bytes, in writes of {chunk}, before a write blocks"),
                || format!("a write blocked after {so_far} bytes"),
            ),
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
            let (reader, mut writer) = open(pipe, None)?;
            let read = spawn_read(reader, len)?;
            read.blocked(ctx.timeout)?;
            let data = seeded(len, seed);
            writer
                .write_all(&data)
                .map_err(|e| failed("the write", &e))?;
            let got = read
                .finish("the bytes just written", ctx.timeout)?
                .map_err(|e| failed("the woken read", &e))?;
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
            let mut writers = vec![Some(writer)];
            for _ in 1..order.len() {
                let clone = writers[0].as_ref().map(|w| w.try_clone()).transpose();
                writers.push(clone.map_err(|e| failed("cloning the write end", &e))?);
            }
            let read = spawn_read(reader, 1)?;
            read.blocked(ctx.timeout)?;
            close_in_order(writers, order, &read, ctx)?;
            let got = read
                .finish(
                    "end-of-file after the last write handle closed",
                    ctx.timeout,
                )?
                .map_err(|e| failed("the woken read", &e))?;
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
            let ((mut reader, mut writer), mut expected) = full_pipe(pipe, capacity, seed, ctx)?;
            let data = seeded(len, !seed);
            expected.extend_from_slice(&data);
            let write = Op::spawn("the write on the full pipe", move || {
                writer.write_all(&data)
            })?;
            write.blocked(ctx.timeout)?;
            let mut got = vec![0; expected.len() - len];
            reader
                .read_exact(&mut got)
                .map_err(|e| failed("draining the pipe", &e))?;
            write
                .finish("room, once the pipe was drained", ctx.timeout)?
                .map_err(|e| failed("the woken write", &e))?;
            let (_reader, tail) = bounded(
                reader,
                "reading the woken write's bytes",
                ctx.timeout,
                move |r| {
                    let mut tail = vec![0; len];
                    r.read_exact(&mut tail).map(|()| tail)
                },
            )?;
            got.extend(tail.map_err(|e| failed("reading the woken write's bytes", &e))?);
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
            let ((reader, mut writer), _) = full_pipe(pipe, page_size(), *seed, ctx)?;
            let mut readers = vec![Some(reader)];
            for _ in 1..order.len() {
                let clone = readers[0].as_ref().map(|r| r.try_clone()).transpose();
                readers.push(clone.map_err(|e| failed("cloning the read end", &e))?);
            }
            let data = seeded(*len, *seed);
            let write = Op::spawn("the write on the full pipe", move || writer.write(&data))?;
            write.blocked(ctx.timeout)?;
            close_in_order(readers, order, &write, ctx)?;
            let result = write.finish("EPIPE after the last read handle closed", ctx.timeout)?;
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
        let (mut reader, mut writer) = open(pipe, None)?;
        reader.set_nonblocking(true).map_err(|e| failed("entering non-blocking mode", &e))?;
        writer.set_nonblocking(true).map_err(|e| failed("entering non-blocking mode", &e))?;
        let capacity = writer.capacity().map_err(|e| failed("asking the capacity", &e))?;
        let first = seeded(pre, seed);
        writer.write_all(&first).map_err(|e| failed("a first small write", &e))?;
        let mut back = vec![0; pre];
        reader.read_exact(&mut back).map_err(|e| failed("reading the first bytes back", &e))?;
        would_block("a read on the empty pipe", reader.read(&mut [0; 1]))?;
        let fill = seeded(capacity, !seed);
        let mut total = 0;
        // A correct pipe refuses within a capacity's worth of bytes; bound the loop by twice that.
        loop {
            match writer.write(&fill) {
                Ok(n) if total <= 2 * capacity => total += n,
                Ok(_) => {
                    return Err(Finding::violated(
                        format!("writes to fail with EAGAIN once the pipe holds its capacity of {capacity} bytes"),
                        format!("{total} bytes were accepted"),
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(failed("filling the pipe", &e)),
            }
        }
        would_block(
            &format!("a write of {len} bytes on the full pipe"),
            writer.write(&seeded(len, seed)),
        )
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
