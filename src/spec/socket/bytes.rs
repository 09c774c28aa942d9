//! Properties of the byte stream: each direction a lossless ordered queue,
//! the half-close, and no message boundaries.

use std::io::{Read, Write};
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;

use super::{
    connected, io_finding, nothing_more, read_to_eof, read_until, send, send_then_shut, setup,
    Stream, StreamImpl,
};
use crate::spec::diff::same_bytes;
use crate::spec::op::{Kept, Op, Wakers};
use crate::spec::{ensure, Ctx, Finding, Outcome};
use crate::target::settle::{self, Gaps};
use crate::workload::socket::{chunking, payload};

/// What one end of a connection got, and the end itself.
type Side = (Kept<Box<dyn Stream>>, Result<Vec<u8>, Finding>);

/// One end's part in a two-way transfer, on its own thread: a second handle
/// sends `bytes` in `chunks` while this one reads the `due` bytes the other
/// end sends (or until end-of-file); once both are done, and only then, the
/// end shuts down its sending half. So neither end half-closes while bytes
/// are still on their way to it, and an end whose bytes went missing is
/// freed by the other end's half-close.
fn side(
    name: &'static str,
    stream: Box<dyn Stream>,
    bytes: Vec<u8>,
    chunks: Vec<usize>,
    due: usize,
) -> Result<Op<Side>, Finding> {
    Op::spawn(format!("end {name}"), move || {
        let mut stream = stream;
        let part = || -> Result<Vec<u8>, Finding> {
            let mut sender = stream
                .try_clone()
                .map_err(|e| setup("dup of a stream", e))?;
            let writer = std::thread::spawn(move || {
                send(
                    &mut *sender,
                    &bytes,
                    &chunks,
                    &format!("sending from end {name}"),
                )
            });
            let got = read_until(
                &mut *stream,
                Some(due),
                &format!("the bytes due to end {name}"),
            )?;
            writer
                .join()
                .unwrap_or_else(|_| Err(Finding::violated("the sender", "its thread panicked")))?;
            stream
                .shutdown_write()
                .map_err(|e| io_finding("shutdown(SHUT_WR)", e))?;
            Ok(got)
        };
        let got = part();
        (Kept(stream), got)
    })
}

/// `socket.stream.ordered-lossless-each-way`: each direction is its own
/// lossless, ordered byte queue, and both run at once without deadlock.
pub(super) fn ordered_lossless_each_way(sockets: &dyn StreamImpl, ctx: &Ctx) -> Outcome {
    let strategy = (
        payload(256 * 1024),
        chunking(),
        payload(256 * 1024),
        chunking(),
    );
    ctx.forall(strategy, |(ab, ab_chunks, ba, ba_chunks)| {
        let (a, b) = connected(sockets, ctx)?;
        let side_a = side("a", a, ab.to_vec(), ab_chunks.clone(), ba.len())?;
        let side_b = side("b", b, ba.to_vec(), ba_chunks.clone(), ab.len())?;
        // TCP moves on its timers too: only the bound can tell these waits are hung.
        let (Kept(mut a), at_a) = side_a.finish_with(
            "the bytes b sent, then its half-close",
            ctx.timeout,
            Wakers::Kernel,
        )?;
        let (Kept(mut b), at_b) = side_b.finish_with(
            "the bytes a sent, then its half-close",
            ctx.timeout,
            Wakers::Kernel,
        )?;
        same_bytes("bytes a→b", ab, &at_b?)?;
        same_bytes("bytes b→a", ba, &at_a?)?;
        nothing_more(&mut *b, "every byte a sent, a half-closed")?;
        nothing_more(&mut *a, "every byte b sent, b half-closed")
    })
}

/// `socket.shutdown.peer-reads-eof-then-replies`.
pub(super) fn peer_reads_eof_then_replies(sockets: &dyn StreamImpl, ctx: &Ctx) -> Outcome {
    ctx.forall(
        (payload(16 * 1024), payload(16 * 1024)),
        |(request, reply)| {
            let (mut a, mut b) = connected(sockets, ctx)?;
            send_then_shut(&mut *a, request, &[], "sending the request")?;
            same_bytes(
                "the request, then EOF",
                request,
                &read_to_eof(&mut *b, "EOF after shutdown(SHUT_WR)")?,
            )?;
            send_then_shut(&mut *b, reply, &[], "replying after reading EOF")?;
            drop(b);
            same_bytes(
                "the reply to the half-closed side",
                reply,
                &read_to_eof(&mut *a, "the reply, then EOF")?,
            )
        },
    )
}

/// Waits until `stream` has `total` bytes queued (a non-blocking peek),
/// at most `bound`.
fn wait_queued(stream: &dyn Stream, total: usize, bound: Duration) -> Result<(), Finding> {
    let mut queued = 0;
    let arrived = settle::until(bound, Gaps::Steady(Duration::from_micros(200)), || {
        queued = stream.queued(total + 1).unwrap_or(0);
        queued >= total
    });
    arrived.then_some(()).ok_or_else(|| {
        Finding::hung(
            format!("{total} bytes queued at the receiver (saw {queued})"),
            "",
        )
    })
}

/// `socket.stream.no-message-boundaries`.
pub(super) fn no_message_boundaries(sockets: &dyn StreamImpl, ctx: &Ctx) -> Outcome {
    ctx.forall(vec(vec(any::<u8>(), 1..512), 2..8), |writes| {
        let (mut a, mut b) = connected(sockets, ctx)?;
        for write in writes {
            a.write_all(write).map_err(|e| io_finding("a small write", e))?;
        }
        let total: usize = writes.iter().map(Vec::len).sum();
        wait_queued(&*b, total, ctx.timeout)?;
        let mut buf = vec![0u8; total + 1];
        let n = b.read(&mut buf).map_err(|e| io_finding("one read", e))?;
        let largest = writes.iter().map(Vec::len).max().unwrap_or(0);
        ensure(
            n == total && n > largest,
            || format!("one read to return all {total} bytes of {} writes (none larger than {largest})", writes.len()),
            || format!("it returned {n} bytes"),
        )?;
        same_bytes("the writes, concatenated", &writes.concat(), &buf[..n])
    })
}
