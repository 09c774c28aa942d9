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

use super::echo::{compare, ping};
use super::harness::Verdicts;
use super::{with_instance, Server};
use crate::reference::server::Variant;
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::connection::{Client, Patience};
use crate::target::server::Instance;

/// Waits until the server has done all it will do without new input
/// (stillness, or at most `ctx.timeout`), then counts the `waiting` clients
/// that got an echo anyway.
fn served_meanwhile(instance: &Instance, waiting: &[Client], ctx: &Ctx) -> usize {
    let _ = instance.still(ctx.timeout);
    waiting.iter().filter(|c| c.pending() > 0).count()
}

/// After the clients ahead of them left, `waiting` clients each get the echo
/// of what they sent (`sent`, in the same order), nothing lost from their backlog.
fn served_in_turn(instance: &Instance, waiting: &[Client], ctx: &Ctx, sent: &[Vec<u8>]) -> Outcome {
    for (i, (client, bytes)) in waiting.iter().zip(sent).enumerate() {
        let reply = client.receive(bytes.len(), Patience::on(instance, ctx.timeout));
        if reply.end.waited_in_vain() && reply.bytes.is_empty() {
            return Err(instance.hung_after(
                format!(
                    "the echo to waiting client {} once the clients before it had left",
                    i + 1
                ),
                &reply.end,
            ));
        }
        compare(
            &format!("the echo to waiting client {}", i + 1),
            bytes,
            &reply,
        )?;
    }
    Ok(())
}

/// `server.concurrency.serves-while-busy`.
pub fn serves_while_busy(server: &Server, ctx: &Ctx) -> Outcome {
    with_instance(server, ctx, |instance| {
        let first = instance.connect(ctx)?;
        ping(instance, &first, ctx, "the first client", b"first client")?;
        let second = instance.connect(ctx)?;
        ping(
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
        ping(instance, &first, ctx, "the first client", b"first client")?;
        let second = instance.connect(ctx)?;
        let bytes = b"second client, waiting";
        second
            .send(bytes)
            .map_err(|e| Finding::violated("the second client can send", e.to_string()))?;
        let waiting = [second];
        if served_meanwhile(instance, &waiting, ctx) > 0 {
            return Err(Finding::violated(
                "no echo to a second client while the first is still connected",
                "the second client got its echo at once: the server serves clients concurrently",
            ));
        }
        drop(first);
        served_in_turn(instance, &waiting, ctx, &[bytes.to_vec()])
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
                ping(
                    instance,
                    &client,
                    ctx,
                    &format!("client {} of the pool's {n}", i + 1),
                    format!("busy client {i}").as_bytes(),
                )?;
                Ok(client)
            })
            .collect::<Result<Vec<Client>, Finding>>()?;
        let sent: Vec<Vec<u8>> = (0..n)
            .map(|i| format!("waiting client {i}, beyond the pool").into_bytes())
            .collect();
        let waiting = sent
            .iter()
            .map(|bytes| {
                let client = instance.connect(ctx)?;
                client
                    .send(bytes)
                    .map_err(|e| Finding::violated("a waiting client can send", e.to_string()))?;
                Ok(client)
            })
            .collect::<Result<Vec<Client>, Finding>>()?;
        let served = served_meanwhile(instance, &waiting, ctx);
        if served > 0 {
            return Err(Finding::violated(
                format!("with {n} clients connected, the next ones wait for a free worker of the pool of {n}"),
                format!("{served} of {n} further clients were served at once: more than {n} at a time"),
            ));
        }
        drop(busy);
        served_in_turn(instance, &waiting, ctx, &sent)
    })
}
