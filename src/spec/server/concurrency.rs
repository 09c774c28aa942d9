//! Who gets served when: concurrent variants serve a second client while a
//! first one idles; sequential and fork-wait make it wait; a pool of N makes
//! client N+1 wait; an event loop serves others while one client sends a
//! lot and never reads (its one thread must never block writing to it).
//!
//! "Not served" is decided by stillness ([`Instance::stillness`]): every
//! thread of the server asleep waiting for input — settled, or idling (its
//! timed waits woke and it read and wrote nothing) — while the waiting
//! client's bytes have got no echo. A server that spins is never still;
//! then the check falls back to "still no echo when the time bound ran
//! out", which can only pass, never fail, a correct server.

use super::conversation::Errand;
use super::echo::{compare, ping};
use super::harness::Verdicts;
use super::{with_instance, Server};
use crate::reference::server::Variant;
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::connection::{Client, Gate, Patience};
use crate::target::net::more_than_buffers;
use crate::target::server::Instance;
use crate::workload::server::Payload;

/// Waits until the server has done all it will do without new input
/// (stillness, or at most `ctx.timeout`), then counts the `waiting` clients
/// that got an answer anyway.
fn served_meanwhile(server: &Server, instance: &Instance, waiting: &[Client], ctx: &Ctx) -> usize {
    let _ = instance.still(ctx.timeout);
    waiting
        .iter()
        .filter(|c| server.protocol.answer_arrived(c))
        .count()
}

/// After the clients ahead of them left, `waiting` clients each get the
/// answer to their `errands` (in the same order), nothing lost from their backlog.
fn served_in_turn(
    server: &Server,
    instance: &Instance,
    waiting: &[Client],
    ctx: &Ctx,
    errands: &[Errand],
) -> Outcome {
    for (i, (client, errand)) in waiting.iter().zip(errands).enumerate() {
        server.protocol.answered(
            instance,
            client,
            errand,
            ctx,
            &format!("waiting client {}", i + 1),
        )?;
    }
    Ok(())
}

/// `server.concurrency.serves-while-busy`.
pub fn serves_while_busy(server: &Server, ctx: &Ctx) -> Outcome {
    with_instance(server, ctx, |instance| {
        let first = instance.connect(ctx)?;
        server
            .protocol
            .engage(instance, &first, ctx, "the first client", b"first client")?;
        let second = instance.connect(ctx)?;
        server.protocol.engage(
            instance,
            &second,
            ctx,
            "a second client while the first stays connected",
            b"second client",
        )
    })
}

/// `server.concurrency.one-at-a-time`.
pub fn one_at_a_time(server: &Server, ctx: &Ctx) -> Outcome {
    with_instance(server, ctx, |instance| {
        let first = instance.connect(ctx)?;
        server
            .protocol
            .engage(instance, &first, ctx, "the first client", b"first client")?;
        let second = instance.connect(ctx)?;
        let errand = server
            .protocol
            .send_errand(&second, ctx, b"second client, waiting")?;
        let waiting = [second];
        if served_meanwhile(server, instance, &waiting, ctx) > 0 {
            return Err(Finding::violated(
                format!(
                    "no {} to a second client while the first is still connected",
                    server.protocol.answer()
                ),
                format!(
                    "the second client got its {} at once: the server serves clients concurrently",
                    server.protocol.answer()
                ),
            ));
        }
        drop(first);
        served_in_turn(server, instance, &waiting, ctx, &[errand])
    })
}

/// `server.pool.bounded`.
pub fn pool_bounded(server: &Server, ctx: &Ctx) -> Outcome {
    let n = match server.variant {
        Variant::Pool(n) => n,
        _ => 1,
    };
    with_instance(server, ctx, |instance| {
        let busy = (0..n)
            .map(|i| {
                let client = instance.connect(ctx)?;
                server.protocol.engage(
                    instance,
                    &client,
                    ctx,
                    &format!("client {} of the pool's {n}", i + 1),
                    format!("busy client {i}").as_bytes(),
                )?;
                Ok(client)
            })
            .collect::<Result<Vec<Client>, Finding>>()?;
        let mut errands = Vec::with_capacity(n);
        let waiting = (0..n)
            .map(|i| {
                let client = instance.connect(ctx)?;
                let tag = format!("waiting client {i}, beyond the pool");
                errands.push(server.protocol.send_errand(&client, ctx, tag.as_bytes())?);
                Ok(client)
            })
            .collect::<Result<Vec<Client>, Finding>>()?;
        let served = served_meanwhile(server, instance, &waiting, ctx);
        if served > 0 {
            return Err(Finding::violated(
                format!("with {n} clients connected, the next ones wait for a free worker of the pool of {n}"),
                format!("{served} of {n} further clients were served at once: more than {n} at a time"),
            ));
        }
        drop(busy);
        served_in_turn(server, instance, &waiting, ctx, &errands)
    })
}

/// `server.event-loop.never-reading-client`.
pub fn never_reading_client(server: &Server, ctx: &Ctx) -> Outcome {
    // More than every buffer between the hog and the server holds, so the
    // server must stop writing to it (and, if it buffers, stop reading it).
    let bytes = Payload::text(more_than_buffers(), ctx.seed).bytes();
    with_instance(server, ctx, |instance| {
        let before = instance.connect(ctx)?;
        ping(
            instance,
            &before,
            ctx,
            "a client connected before",
            b"first here",
        )?;
        let hog = instance.connect(ctx)?;
        let instance = &*instance;
        let stalled = Gate::default();
        let patience = Patience::on(instance, ctx.timeout * 2);
        let deadline = patience.deadline;
        std::thread::scope(|scope| {
            let hog_reply = scope.spawn(|| hog.exchange_after_stall(&bytes, patience, &stalled, 2));
            // The hog has stopped writing (its buffers are full) or sent everything, unread.
            stalled.wait_for(1, deadline);
            let others = ping(
                instance,
                &before,
                ctx,
                "a client connected before, while another never reads",
                b"still served?",
            )
            .and_then(|()| {
                let after = instance.dial(ctx.timeout).map_err(|e| {
                    Finding::violated(
                        "a new client connects while another never reads",
                        format!("connect failed: {e}"),
                    )
                })?;
                ping(
                    instance,
                    &after,
                    ctx,
                    "a new client, while another never reads",
                    b"accepted?",
                )
            });
            // The hog now reads, whatever the others saw.
            stalled.arrive();
            let reply = hog_reply.join().map_err(|_| {
                Finding::violated("the never-reading client's thread ends", "it panicked")
            })?;
            others?;
            if reply.end.waited_in_vain() && reply.bytes.is_empty() {
                return Err(instance.hung_after(
                    "the echo to a client that read only after sending a lot",
                    &reply.end,
                ));
            }
            compare(
                "the echo to a client that read only after sending a lot",
                &bytes,
                &reply,
            )
        })
    })
}
