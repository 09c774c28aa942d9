//! Properties of the byte stream: order, partial reads, end-of-file, and the
//! atomicity of small writes.

use std::io::{self, Read, Write};

use proptest::prelude::*;

use super::{
    bounded, clones, close, failed, no_fork, nothing_more, open, read_up_to, succeeds, write_chunks,
};
use crate::reference::pipe::{PipeImpl, PIPE_BUF};
use crate::spec::diff::same_bytes;
use crate::spec::op::{Kept, Op};
use crate::spec::{ensure, Ctx, Finding, Outcome};
use crate::workload::pipe::{labelled, order, page_size, transfer};
use crate::workload::seeded;

/// `pipe.order.lossless`: a writer thread and a reader thread move a random
/// stream with random write and read sizes; the reader must get it
/// byte-exact, and then end-of-file once the writer has closed.
///
/// The reader asks for no more than is still due, so a correct pipe never
/// makes it wait for the close: whether a close wakes a sleeping reader is
/// `pipe.wake.reader-on-last-writer-close`'s claim, not this one's.
pub(super) fn order_lossless(pipe: &dyn PipeImpl, ctx: &Ctx) -> Outcome {
    let _no_fork = no_fork();
    ctx.forall(transfer(), |t| {
        let (reader, writer) = open(pipe, None)?;
        let data = seeded(t.len, t.seed);
        let sent = data.clone();
        let writes = t.sizes(&t.writes);
        let reads = t.sizes(&t.reads);
        let (len, patience) = (t.len, ctx.timeout);
        // The writer closes its end when done: a pipe that lost bytes then
        // gives the reader end-of-file early, and the loss shows as a short stream.
        let write = Op::spawn("the writer", move || {
            let mut writer = writer;
            write_chunks(&mut writer, &sent, &writes)
        })?;
        let read = Op::spawn("the reader", move || {
            let mut reader = reader;
            let got = read_up_to(&mut reader, len, &reads, patience);
            (Kept(reader), got)
        })?;
        let (reader, got) = read.finish("the whole stream", ctx.timeout)?;
        write
            .finish("the whole stream written", ctx.timeout)?
            .map_err(|e| failed("every write", &e))?;
        same_bytes(
            "the bytes read",
            &data,
            &got.map_err(|e| failed("every read", &e))?,
        )?;
        nothing_more(reader.0, "the whole stream, the writer closed", ctx)
    })
}

/// `pipe.read.partial`: `k` bytes sit in the pipe, the writer stays open, and
/// a read with a larger buffer must return exactly those `k` bytes.
pub(super) fn read_partial(pipe: &dyn PipeImpl, ctx: &Ctx) -> Outcome {
    let _no_fork = no_fork();
    let case = (
        1..=PIPE_BUF,
        1..=PIPE_BUF,
        any::<u64>(),
        prop::collection::vec(1..=PIPE_BUF, 1..=4),
    );
    ctx.forall(
        labelled("(bytes in the pipe, extra buffer, seed, write sizes)", case),
        |case| {
            let &(k, extra, seed, ref writes) = &case.value;
            let (reader, writer) = open(pipe, None)?;
            let data = seeded(k, seed);
            let sent = data.clone();
            let writes = writes.clone();
            let (_writer, ()) = succeeds(writer, "the writes", ctx, move |w| {
                write_chunks(w, &sent, &writes)
            })?;
            let (_reader, read) = succeeds(
                reader,
                &format!(
                    "a read with a {}-byte buffer on a pipe holding {k}",
                    k + extra
                ),
                ctx,
                move |r| {
                    let mut buf = vec![0; k + extra];
                    r.read(&mut buf).map(|n| {
                        buf.truncate(n);
                        buf
                    })
                },
            )?;
            same_bytes(
                &format!(
                    "one read with a {}-byte buffer on a pipe holding {k}",
                    k + extra
                ),
                &data,
                &read,
            )
        },
    )
}

/// `pipe.eof.after-last-writer`: several write handles each write a part and
/// close, in random order. After every close but the last, draining the pipe
/// (non-blocking) must end in "would block", not end-of-file; after the last,
/// the remaining bytes then end-of-file.
pub(super) fn eof_after_last_writer(pipe: &dyn PipeImpl, ctx: &Ctx) -> Outcome {
    let _no_fork = no_fork();
    let case = (
        order(1..=4),
        prop::collection::vec(0..=PIPE_BUF, 4),
        any::<u64>(),
    );
    ctx.forall(
        labelled(
            "(write handles in closing order, bytes each writes, seed)",
            case,
        ),
        |case| {
            let (order, sizes, seed) = &case.value;
            let (reader, writer) = open(pipe, None)?;
            let mut writers = clones(writer, order.len() - 1, ctx)?;
            let (mut reader, ()) = succeeds(reader, "entering non-blocking mode", ctx, |r| {
                r.set_nonblocking(true)
            })?;
            let data = seeded(sizes.iter().sum(), *seed);
            let (mut expected, mut got) = (Vec::new(), Vec::new());
            let mut rest = &data[..];
            for (step, &i) in order.iter().enumerate() {
                let (part, tail) = rest.split_at(sizes[step]);
                rest = tail;
                let writer = writers[i]
                    .take()
                    .unwrap_or_else(|| unreachable!("each handle closes once"));
                let sent = part.to_vec();
                let (writer, ()) = succeeds(writer, "a write", ctx, move |w| w.write_all(&sent))?;
                expected.extend_from_slice(part);
                close(writer, "closing a write handle", ctx)?;
                let open_left = order.len() - step - 1;
                if open_left == 0 {
                    break;
                }
                // At most what was written, plus one buffer: a pipe that
                // invents bytes cannot keep the drain going.
                let most = expected.len() - got.len();
                let (back, drained) = bounded(reader, "a non-blocking drain", ctx, move |r| {
                    let mut got = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        match r.read(&mut buf) {
                            Ok(0) => return (got, Ok(true)),
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                return (got, Ok(false))
                            }
                            Err(e) => return (got, Err(e)),
                        }
                        if got.len() > most {
                            return (got, Ok(false));
                        }
                    }
                })?;
                reader = back;
                let (bytes, eof) = drained;
                got.extend_from_slice(&bytes);
                if eof.map_err(|e| failed("a non-blocking read", &e))? {
                    return Err(Finding::violated(
                        format!("no end-of-file while {open_left} write handle(s) are open"),
                        format!(
                            "end-of-file after {} of {} handles closed",
                            step + 1,
                            order.len()
                        ),
                    ));
                }
                same_bytes("the bytes written so far, all readable", &expected, &got)?;
            }
            let (reader, ()) = succeeds(reader, "leaving non-blocking mode", ctx, |r| {
                r.set_nonblocking(false)
            })?;
            let due = expected.len() - got.len();
            let patience = ctx.timeout;
            let (reader, tail) =
                succeeds(reader, "the reads after the last close", ctx, move |r| {
                    read_up_to(r, due, &[4096], patience)
                })?;
            got.extend(tail);
            same_bytes("every byte written", &expected, &got)?;
            nothing_more(reader, "every byte, the last write handle closed", ctx)
        },
    )
}

/// `pipe.atomic.up-to-pipe-buf`: 2–4 writer threads each write records of
/// one size (at most `PIPE_BUF`) filled with the writer's tag, into a
/// one-page pipe. The reader starts only once every writer is blocked on the
/// full pipe or done, so writers do wait with records pending; every
/// `size`-byte record read must carry one tag, and each writer's count must match.
pub(super) fn atomic_up_to_pipe_buf(pipe: &dyn PipeImpl, ctx: &Ctx) -> Outcome {
    let _no_fork = no_fork();
    let size = prop_oneof![
        Just(PIPE_BUF),
        Just(PIPE_BUF - 1),
        Just(PIPE_BUF / 2 + 1),
        1..=PIPE_BUF
    ];
    ctx.forall(
        labelled(
            "(writers, records each, record size)",
            (2..=4usize, 4..=24usize, size),
        ),
        |case| {
            let &(writers, records, size) = &case.value;
            let (reader, writer) = open(pipe, Some(page_size()))?;
            let handles = clones(writer, writers, ctx)?;
            let mut handles = handles.into_iter().flatten();
            let original = handles
                .next()
                .unwrap_or_else(|| unreachable!("clones keeps the first"));
            let mut ops = Vec::new();
            for (tag, mut clone) in (1..=writers).zip(handles) {
                let record = vec![tag as u8; size];
                ops.push(Op::spawn(format!("writer {tag}"), move || {
                    (0..records).try_for_each(|_| clone.write_all(&record))
                })?);
            }
            close(original, "closing the original write handle", ctx)?;
            for op in &ops {
                op.settle(ctx.timeout)?;
            }
            let total = writers * records * size;
            let patience = ctx.timeout;
            let read = Op::spawn("the reader", move || {
                let mut reader = reader;
                read_up_to(&mut reader, total, &[65_536], patience)
            })?;
            let got = read.finish("every record", ctx.timeout)?;
            for op in ops {
                op.finish("its records written", ctx.timeout)?
                    .map_err(|e| failed("every write", &e))?;
            }
            let got = got.map_err(|e| failed("the reads", &e))?;
            ensure(
                got.len() == total,
                || format!("{total} bytes: {writers} writers × {records} records × {size} bytes"),
                || format!("{} bytes", got.len()),
            )?;
            let mut counts = vec![0usize; writers + 1];
            for (i, record) in got.chunks(size).enumerate() {
                let tag = record[0];
                if let Some(at) = record.iter().position(|&b| b != tag) {
                    return Err(Finding::violated(
                        format!(
                            "record {i} (offset {}) to hold only writer {tag}'s bytes",
                            i * size
                        ),
                        format!(
                            "writer {}'s bytes at offset {} inside it: {}",
                            record[at],
                            i * size + at,
                            crate::spec::diff::window(record, at)
                        ),
                    ));
                }
                if let Some(count) = counts.get_mut(usize::from(tag)) {
                    *count += 1;
                }
            }
            ensure(
                counts[1..].iter().all(|&c| c == records),
                || format!("{records} records from each writer"),
                || format!("records per writer: {:?}", &counts[1..]),
            )
        },
    )
}
