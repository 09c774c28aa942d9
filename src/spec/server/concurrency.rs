//! Who gets served when: concurrent variants serve a second client while a
//! first one idles; sequential and fork-wait make it wait; a pool of N makes
//! client N+1 wait.
//!
//! "Not served" is decided by stillness ([`Instance::stillness`]): every
//! thread of the server asleep waiting for input — settled, or idling (its
//! timed waits woke and it read and wrote nothing) — while the waiting
//! client's bytes have got no echo. A server that spins is never still;
//! then the check falls back to "still no echo when the time bound ran
//! out", which can only pass, never fail, a correct server.

use super::conversation::Errand;
use super::harness::Verdicts;
use super::{with_instance, Server};
use crate::reference::server::Variant;
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::connection::Client;
use crate::target::server::Instance;

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
