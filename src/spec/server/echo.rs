//! Echo, EOF and isolation: what every variant owes each client's byte stream.
//!
//! The checking client always reads while it writes ([`Client::exchange`]),
//! so a large payload cannot deadlock on buffers the checker itself filled.
//! Only `byte-exact` sends NUL bytes; every client of a run sends its own bytes.
//!
//! # References
//! - [shutdown(2)](https://man7.org/linux/man-pages/man2/shutdown.2.html): the half-close; [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html): a reset reads as `ECONNRESET`

use super::harness::Verdicts;
use super::{forall_on, with_instance, Server};
use crate::spec::diff::same_bytes;
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::connection::{Client, End, Gate, Patience, Reply};
use crate::target::net::more_than_buffers;
use crate::target::server::Instance;
use crate::workload::server::{chunk, concurrent_payloads, payload, Payload, Seeds};

/// Compares a reply with what was sent; a short reply says how reading ended.
pub(super) fn compare(what: &str, sent: &[u8], reply: &Reply) -> Outcome {
    same_bytes(what, sent, &reply.bytes).map_err(|finding| finding.observed_then(&reply.end.then()))
}

/// Sends `bytes` on a new connection, half-closes, and checks the echo.
pub(super) fn echo_once(
    instance: &mut Instance,
    ctx: &Ctx,
    what: &str,
    bytes: &[u8],
    chunk: usize,
) -> Outcome {
    let client = instance.connect(ctx)?;
    let reply = client.exchange(bytes, chunk, true, Patience::on(instance, ctx.timeout));
    compare(what, bytes, &reply)?;
    let extra = client.pending();
    if extra > 0 {
        return Err(Finding::violated(
            format!("{what}: exactly {} bytes back", bytes.len()),
            format!("{extra} more bytes arrived after them (duplicated)"),
        ));
    }
    Ok(())
}

/// `server.echo.byte-exact`.
pub fn byte_exact(server: &Server, ctx: &Ctx) -> Outcome {
    forall_on(
        server,
        ctx,
        (payload(), chunk()),
        |instance, (payload, chunk)| {
            let bytes = payload.bytes();
            // At most a few thousand writes per case, so a MiB is never sent byte by byte.
            let chunk = (*chunk).max(bytes.len() / 4096);
            echo_once(instance, ctx, "the echo", &bytes, chunk)
        },
    )
}

/// What the slow reader of `server.echo.slow-reader` sends at least: more
/// than a server could reasonably queue in its own memory for a client
/// (the fixture `drops_when_full.c` queues 12 MiB, then drops), not only
/// more than the kernel's buffers hold ([`more_than_buffers`]).
const SLOW_READER_BYTES: usize = 32 << 20;

/// `server.echo.slow-reader`.
pub fn slow_reader(server: &Server, ctx: &Ctx) -> Outcome {
    let bytes = Payload::text(SLOW_READER_BYTES.max(more_than_buffers()), ctx.seed).bytes();
    with_instance(server, ctx, |instance| {
        let client = instance.connect(ctx)?;
        let reply = client.exchange_after_stall(
            &bytes,
            Patience::on(instance, ctx.timeout * 2),
            &Gate::default(),
            1,
        );
        compare("the echo to a client that read late", &bytes, &reply)
    })
}

/// `server.eof.after-half-close`.
pub fn eof_after_half_close(server: &Server, ctx: &Ctx) -> Outcome {
    let mut seeds = Seeds::new(ctx.seed);
    with_instance(server, ctx, |instance| {
        for len in [0, 1, 70_000] {
            let bytes = seeds.text(len).bytes();
            let client = instance.connect(ctx)?;
            let reply = client.exchange(
                &bytes,
                len.max(1),
                true,
                Patience::on(instance, ctx.timeout),
            );
            compare("the echo", &bytes, &reply)?;
            await_eof(instance, &client, ctx, len)?;
        }
        Ok(())
    })
}

/// The client reads an orderly EOF — not a reset, not more bytes — once
/// the echo of its `sent` bytes is complete.
fn await_eof(instance: &Instance, client: &Client, ctx: &Ctx, sent: usize) -> Outcome {
    let after = client.receive(1, Patience::on(instance, ctx.timeout));
    let expected =
        || format!("an orderly EOF (the server closes its side) after the echo of {sent} bytes");
    match after.end {
        _ if !after.bytes.is_empty() => Err(Finding::violated(
            expected(),
            format!("{} more bytes", after.bytes.len()),
        )),
        End::Eof => Ok(()),
        End::Failed(e) => Err(Finding::violated(
            expected(),
            format!("the connection was reset instead: {e} (a close that discards unread data, or SO_LINGER 0, sends a reset)"),
        )),
        End::TimedOut | End::Stalled | End::Complete => Err(instance.hung_after(
            format!(
                "EOF on the client after it sent {sent} bytes, half-closed, and got them all back"
            ),
            &after.end,
        )),
    }
}

/// How the clients of [`echo_concurrently`] read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Reading {
    /// While they write.
    Along,
    /// Only once their writes stall: every server thread is then left
    /// blocked mid-`write`, which is when a buffer shared between them is
    /// overwritten — every time, not by luck of scheduling.
    Late,
    /// Once every client is connected, all at once and without
    /// half-closing, each staying connected until every one got its echo:
    /// all of them are served at the same time.
    Held,
}

/// Clients that may connect without waiting for the previous one to be
/// accepted: a listen backlog of 5 (Python's default) queues 6.
const MOST_UNPACED: usize = 6;

/// `n` clients connected one after the other, each once the server
/// accepted the one before (past [`MOST_UNPACED`], so that a short listen
/// backlog is not overrun), each talking on its own thread (`talk(i,
/// connection)`) as soon as it is connected, so that one waiting for room
/// in the backlog never holds up those already connected. What each said,
/// in order.
pub(super) fn each_connected<T: Send>(
    server: &Instance,
    ctx: &Ctx,
    n: usize,
    talk: impl Fn(usize, std::io::Result<Client>) -> std::io::Result<T> + Sync,
) -> Vec<std::io::Result<T>> {
    let talk = &talk;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                if n > MOST_UNPACED {
                    server.await_accepted(ctx.timeout);
                }
                let client = server.dial(ctx.timeout);
                scope.spawn(move || talk(i, client))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("a client thread panicked")))
            })
            .collect()
    })
}

/// Connects one client per payload, then runs every exchange at once (each
/// half-closes after writing, unless [`Reading::Held`]) and checks each
/// client got exactly its own bytes.
pub(super) fn echo_concurrently(
    instance: &mut Instance,
    ctx: &Ctx,
    payloads: &[Payload],
    reading: Reading,
) -> Outcome {
    instance.alive()?;
    let sent: Vec<Vec<u8>> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| p.for_client(i).bytes())
        .collect();
    let bound = ctx.timeout * if reading == Reading::Late { 2 } else { 1 };
    let server = &*instance;
    let gates: [Gate; 4] = Default::default();
    let [stalled, connected, wrote, echoed] = &gates;
    let clients = sent.len();
    // Held clients come back connected, so that a hang shows the server serving the others.
    let replies: Vec<std::io::Result<(Reply, Option<Client>)>> =
        each_connected(server, ctx, clients, |i, client| {
            let bytes = &sent[i];
            // A client that could not connect counts as having arrived
            // everywhere: nobody waits for it.
            let client = client.inspect_err(|_| {
                for gate in &gates {
                    gate.arrive();
                }
            })?;
            // A neighbour still sending may be what a sequential server waits
            // on, so stillness proves nothing here: wait the whole bound.
            let patience = Patience::ignoring_stillness(server, bound);
            Ok(match reading {
                Reading::Along => (
                    client.exchange(bytes, bytes.len().max(1), true, patience),
                    None,
                ),
                Reading::Late => (
                    client.exchange_after_stall(bytes, patience, stalled, clients),
                    None,
                ),
                Reading::Held => {
                    let deadline = patience.deadline;
                    connected.arrive();
                    connected.wait_for(clients, deadline);
                    // Every client is connected and sends: once all have
                    // sent (a server may wait on a neighbour's first bytes
                    // before it takes the next client), a server that falls
                    // still without echoing has not served them all. A few
                    // KiB fit in the buffers of any connection, taken or not.
                    let sending = client.send(bytes);
                    wrote.arrive();
                    let all_wrote = || wrote.reached(clients);
                    let reply = match sending {
                        Ok(()) => client.receive(
                            bytes.len(),
                            Patience {
                                ready: &all_wrote,
                                ..Patience::on(server, bound)
                            },
                        ),
                        Err(e) => Reply {
                            bytes: Vec::new(),
                            end: End::Failed(e),
                        },
                    };
                    echoed.arrive();
                    echoed.wait_for(clients, deadline);
                    (reply, Some(client))
                }
            })
        });
    let n = sent.len();
    for (i, (bytes, reply)) in sent.iter().zip(replies).enumerate() {
        let (reply, _held) = reply.map_err(|e| instance.refused(e))?;
        if reply.end.waited_in_vain() && reply.bytes.is_empty() && !bytes.is_empty() {
            return Err(instance.hung_after(
                format!("the echo to client {} of {n} connected at once", i + 1),
                &reply.end,
            ));
        }
        compare(
            &format!("the echo to client {} of {n} connected at once", i + 1),
            bytes,
            &reply,
        )?;
    }
    Ok(())
}

/// `server.isolation.concurrent-clients`.
pub fn isolation(server: &Server, ctx: &Ctx) -> Outcome {
    // First four clients that read late, each with more than the buffers
    // of one direction hold.
    let mut seeds = Seeds::new(ctx.seed);
    let late: Vec<Payload> = (0..4)
        .map(|_| seeds.text(more_than_buffers() / 2))
        .collect();
    with_instance(server, ctx, |instance| {
        echo_concurrently(instance, ctx, &late, Reading::Late)
    })?;
    forall_on(server, ctx, concurrent_payloads(6), |instance, payloads| {
        echo_concurrently(instance, ctx, payloads, Reading::Along)
    })
}

/// Sends `bytes` on `client` without closing and waits for their echo: the
/// client is being served, and stays connected afterwards.
pub(super) fn ping(
    instance: &Instance,
    client: &Client,
    ctx: &Ctx,
    what: &str,
    bytes: &[u8],
) -> Outcome {
    let reply = client.exchange(
        bytes,
        bytes.len(),
        false,
        Patience::on(instance, ctx.timeout),
    );
    if reply.end.waited_in_vain() && reply.bytes.is_empty() {
        return Err(instance.hung_after(
            format!("the echo of {} bytes to {what}", bytes.len()),
            &reply.end,
        ));
    }
    compare(&format!("the echo to {what}"), bytes, &reply)
}
