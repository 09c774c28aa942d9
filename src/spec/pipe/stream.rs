//! Properties of the byte stream: order, partial reads, end-of-file, and the
//! atomicity of small writes.

use std::io::{self, Read, Write};

use proptest::prelude::*;

use super::op::Op;
use super::{bounded, failed, no_fork, open, read_chunks, write_chunks};
use crate::reference::pipe::{PipeImpl, PipeWriter, PIPE_BUF};
use crate::spec::diff::same_bytes;
use crate::spec::{ensure, Ctx, Finding, Outcome};
use crate::workload::pipe::{labelled, order, page_size, transfer};
use crate::workload::seeded;

/// `pipe.order.lossless`: a writer thread and a reader thread move a random
/// stream with random write and read sizes; the reader must get it byte-exact.
pub(super) fn order_lossless(pipe: &dyn PipeImpl, ctx: &Ctx) -> Outcome {
    let _no_fork = no_fork();
    ctx.forall(transfer(), |t| {
        let (mut reader, mut writer) = open(pipe, None)?;
        let data = seeded(t.len, t.seed);
        let sent = data.clone();
        let writes = t.sizes(&t.writes);
        let reads = t.sizes(&t.reads);
        let write = Op::spawn("the writer", move || {
            write_chunks(&mut writer, &sent, &writes)
        })?;
        let read = Op::spawn("the reader", move || read_chunks(&mut reader, &reads))?;
        let got = read.finish("end-of-file after the whole stream", ctx.timeout)?;
        write
            .finish("the whole stream written", ctx.timeout)?
            .map_err(|e| failed("every write", &e))?;
        same_bytes(
            "the bytes read until end-of-file",
            &data,
            &got.map_err(|e| failed("every read", &e))?,
        )
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
            let (_writer, wrote) = bounded(writer, "the writes", ctx.timeout, move |w| {
                write_chunks(w, &sent, &writes)
            })?;
            wrote.map_err(|e| failed("the writes", &e))?;
            let (_reader, read) = bounded(
                reader,
                "a read with a larger buffer",
                ctx.timeout,
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
                &read.map_err(|e| failed("the read", &e))?,
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
            let (mut reader, writer) = open(pipe, None)?;
            let mut writers: Vec<Option<Box<dyn PipeWriter>>> = vec![Some(writer)];
            for _ in 1..order.len() {
                let clone = writers[0].as_ref().map(|w| w.try_clone()).transpose();
                writers.push(clone.map_err(|e| failed("cloning the write end", &e))?);
            }
            reader
                .set_nonblocking(true)
                .map_err(|e| failed("entering non-blocking mode", &e))?;
            let data = seeded(sizes.iter().sum(), *seed);
            let (mut expected, mut got) = (Vec::new(), Vec::new());
            let mut rest = &data[..];
            for (step, &i) in order.iter().enumerate() {
                let (part, tail) = rest.split_at(sizes[step]);
                rest = tail;
                let mut writer = writers[i]
                    .take()
                    .unwrap_or_else(|| unreachable!("each handle closes once"));
                writer.write_all(part).map_err(|e| failed("a write", &e))?;
                expected.extend_from_slice(part);
                drop(writer);
                let open_left = order.len() - step - 1;
                if open_left == 0 {
                    break;
                }
                let mut buf = [0u8; 4096];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) => {
                            return Err(Finding::violated(
                                format!(
                                    "no end-of-file while {open_left} write handle(s) are open"
                                ),
                                format!(
                                    "end-of-file after {} of {} handles closed",
                                    step + 1,
                                    order.len()
                                ),
                            ))
                        }
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(failed("a non-blocking read", &e)),
                    }
                }
                same_bytes("the bytes written so far, all readable", &expected, &got)?;
            }
            reader
                .set_nonblocking(false)
                .map_err(|e| failed("leaving non-blocking mode", &e))?;
            let read = Op::spawn("the read after the last close", move || {
                read_chunks(&mut reader, &[4096])
            })?;
            let tail = read.finish(
                "end-of-file after the last write handle closed",
                ctx.timeout,
            )?;
            got.extend(tail.map_err(|e| failed("the final reads", &e))?);
            same_bytes("every byte written, then end-of-file", &expected, &got)
        },
    )
}

/// `pipe.atomic.up-to-pipe-buf`: 2–4 writer threads each write records of
/// one size (at most `PIPE_BUF`) filled with the writer's tag, into a
/// one-page pipe. The readers start only once every writer is blocked on the
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
            let (mut reader, writer) = open(pipe, Some(page_size()))?;
            let mut ops = Vec::new();
            for tag in 1..=writers {
                let mut clone = writer
                    .try_clone()
                    .map_err(|e| failed("cloning the write end", &e))?;
                let record = vec![tag as u8; size];
                ops.push(Op::spawn(format!("writer {tag}"), move || {
                    (0..records).try_for_each(|_| clone.write_all(&record))
                })?);
            }
            drop(writer);
            for op in &ops {
                op.settle(ctx.timeout)?;
            }
            let read = Op::spawn("the reader", move || read_chunks(&mut reader, &[65_536]))?;
            let got = read.finish("end-of-file after every writer finished", ctx.timeout)?;
            for op in ops {
                op.finish("its records written", ctx.timeout)?
                    .map_err(|e| failed("every write", &e))?;
            }
            let got = got.map_err(|e| failed("the reads", &e))?;
            ensure(
                got.len() == writers * records * size,
                || {
                    format!(
                        "{} bytes: {writers} writers × {records} records × {size} bytes",
                        writers * records * size
                    )
                },
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
