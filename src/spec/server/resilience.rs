//! Resilience and idleness: clients that leave in every way, or come in
//! numbers, do not take the server down, and a server with nothing to do
//! sleeps.
//!
//! A client leaving is judged by what follows: the server closes its side
//! of that connection (or is still), its first process is still running,
//! and a new client gets its echo. A forking server's child that dies of
//! `SIGPIPE` while writing to a client that left is acceptable — the rule
//! is that the server keeps serving, and the child's client was gone anyway.
//!
//! Idle CPU is a measurement — CPU ticks of every target process across a
//! fixed window, and whether a thread ran in it without once waiting — not
//! a verdict by waiting: a busy-polling server burns most of a core in any
//! window, and on a loaded machine, where it gets less, it still never
//! waits; a blocked one does neither.
//!
//! # References
//! - [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html): `SO_LINGER` with a zero timeout resets the connection
//! - [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html): closing with unread data sends a reset; a write after a reset fails with `ECONNRESET`, then `EPIPE`
//! - [signal(7)](https://man7.org/linux/man-pages/man7/signal.7.html): `SIGPIPE` on a write to a connection the peer has left; [send(2)](https://man7.org/linux/man-pages/man2/send.2.html): `MSG_NOSIGNAL`

use std::time::{Duration, Instant};

use nix::unistd::Pid;

use super::echo::Reading;
use super::harness::Verdicts;
use super::{with_instance, Server};
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::connection::{Client, Patience};
use crate::target::net::more_than_buffers;
use crate::target::observe;
use crate::target::server::{waiters, Instance};
use crate::target::settle::{self, Bound, Gaps, Look, Shown};
use crate::workload::server::Seeds;

/// After a client left (`how`), the server lets go of its connection (or is
/// still), keeps running, and serves a new client.
fn still_serving(
    server: &Server,
    instance: &mut Instance,
    ctx: &Ctx,
    connection: Option<u64>,
    how: &str,
    seeds: &mut Seeds,
) -> Outcome {
    if let Some(inode) = connection {
        instance.released(inode, ctx.timeout);
    }
    let payload = seeds.text(1000);
    instance
        .alive()
        .and_then(|()| {
            server.protocol.once(
                instance,
                ctx,
                &format!("a new client after one {how}"),
                &payload,
                payload.len,
            )
        })
        .map_err(|finding| match &finding {
            Finding::Violated(f) if f.observed.starts_with("it exited: ") => {
                finding.expecting(|expected| format!("{expected} after a client {how}"))
            }
            _ => finding,
        })
}

/// `server.resilience.reset-client`.
pub fn reset_client(server: &Server, ctx: &Ctx) -> Outcome {
    let mut seeds = Seeds::new(ctx.seed);
    with_instance(server, ctx, |instance| {
        for i in 0..3 {
            let client = instance.connect(ctx)?;
            // Echoed: the server is serving it, and now waits to read from it.
            server.protocol.engage(
                instance,
                &client,
                ctx,
                &format!("client {} of 3 that then reset", i + 1),
                &seeds.text(1000).bytes(),
            )?;
            let connection = instance.sockets(&client, ctx.timeout).map(|s| s.connection);
            client.reset();
            still_serving(
                server,
                instance,
                ctx,
                connection,
                "reset its connection while the server waited to read from it",
                &mut seeds,
            )?;
        }
        Ok(())
    })
}

/// Sends from `client`, reading nothing, until the server stops taking its
/// bytes ([`Instance::not_reading`]) and stays stopped from one look to the
/// next ([`stall_look`]): it is blocked writing an echo nobody reads, with
/// more of the client's bytes waiting. Or until [`more_than_buffers`] went
/// out (a server that drops or discards never stops taking them), or
/// `bound` passes.
pub(super) fn stall(instance: &Instance, client: &Client, bound: Duration) {
    let most = more_than_buffers();
    let mut sent = 0;
    let mut last = None;
    let _ = settle::wait(bound, &mut Bound(Shown::Nothing, Gaps::BackingOff), || {
        sent += client.flood(most - sent);
        if sent >= most {
            return Look::Done(());
        }
        let look = stall_look(instance, client);
        if look.is_some() && look == last {
            return Look::Done(());
        }
        last = look;
        Look::Waiting
    });
}

/// One look at a stall: the threads waiting on the client's connection,
/// each with its context switches, and the echo bytes that reached the
/// client unread; `None` while the server takes the client's bytes. Two
/// equal looks a pause apart mean the writer slept through the pause while
/// no byte of the echo moved: it is blocked, not between two writes (a
/// send buffer that grew, or a window that opened, would have let it go on
/// and then read again, and a reset would then hit its `read`).
fn stall_look(instance: &Instance, client: &Client) -> Option<(Vec<(Pid, u64)>, u64)> {
    if !instance.not_reading(client) {
        return None;
    }
    // Over Unix sockets there is no queue to read: stillness alone decided.
    let Some(peer) = client.local_tcp() else {
        return Some((Vec::new(), 0));
    };
    let sockets = observe::tcp_sockets();
    let client_side = sockets.iter().find(|e| e.local_address == peer)?;
    let waiting = match sockets
        .iter()
        .find(|e| e.remote_address == peer && e.inode != 0)
    {
        Some(server_side) => waiters(&instance.holders(server_side.inode))
            .into_iter()
            .map(|(thread, _)| (thread.tid, thread.switches))
            .collect(),
        // Never accepted, by a server that is idle (else it would be
        // reading): no thread waits on it, and none will.
        None => Vec::new(),
    };
    Some((waiting, u64::from(client_side.rx_queue)))
}

/// The ways a client leaves with its echo in flight, for `leaves-mid-echo`.
/// In each, the server is blocked writing to the client when it leaves, so
/// that its writes fail (a client that leaves while the server waits to read
/// is `reset-client`'s case).
const WAYS: [&str; 4] = [
    "reset its connection while the server was blocked writing its echo",
    "read what had arrived and closed, its echo still in flight",
    "half-closed, read a little of its echo and then closed",
    "vanished in the middle of a multi-MiB echo",
];

/// `server.resilience.leaves-mid-echo`.
pub fn leaves_mid_echo(server: &Server, ctx: &Ctx) -> Outcome {
    let mut seeds = Seeds::new(ctx.seed);
    with_instance(server, ctx, |instance| {
        for (way, how) in WAYS.iter().enumerate() {
            let client = instance.connect(ctx)?;
            let connection = instance.sockets(&client, ctx.timeout).map(|s| s.connection);
            match way {
                0 => {
                    stall(instance, &client, ctx.timeout);
                    client.reset();
                }
                1 => {
                    stall(instance, &client, ctx.timeout);
                    client.close_draining();
                }
                2 => {
                    stall(instance, &client, ctx.timeout);
                    let _ = client.half_close();
                    let _ = client.receive(64 << 10, Patience::on(instance, ctx.timeout));
                    drop(client);
                }
                _ => {
                    // More than the buffers hold beyond what it reads, so
                    // the server is left blocked writing the echo.
                    let after = 1 << 20;
                    let bytes = seeds.text(more_than_buffers() + after).bytes();
                    client.vanish_mid_echo(&bytes, after, Patience::on(instance, ctx.timeout));
                }
            }
            still_serving(server, instance, ctx, connection, how, &mut seeds)?;
        }
        Ok(())
    })
}

/// Connections made one after another by `server.resilience.many-in-sequence`.
pub const CONNECTIONS_IN_SEQUENCE: usize = 200;

/// Clients connecting at once in `server.resilience.many-at-once`.
pub const CLIENTS_AT_ONCE: usize = 32;

/// `server.resilience.many-in-sequence`.
pub fn many_in_sequence(server: &Server, ctx: &Ctx) -> Outcome {
    let mut seeds = Seeds::new(ctx.seed);
    with_instance(server, ctx, |instance| {
        for i in 0..CONNECTIONS_IN_SEQUENCE {
            server.protocol.once(
                instance,
                ctx,
                &format!("connection {} of {CONNECTIONS_IN_SEQUENCE} in a row", i + 1),
                &seeds.text(32),
                32,
            )?;
        }
        Ok(())
    })
}

/// `server.resilience.many-at-once`.
pub fn many_at_once(server: &Server, ctx: &Ctx) -> Outcome {
    let mut seeds = Seeds::new(ctx.seed);
    let payloads: Vec<_> = (0..CLIENTS_AT_ONCE).map(|_| seeds.text(2_000)).collect();
    // A thread or process per connection serves them all at the same time;
    // the other variants serve them in turn.
    let reading = match server.variant.kind() {
        "fork" | "thread" | "event-loop" => Reading::Held,
        _ => Reading::Along,
    };
    with_instance(server, ctx, |instance| {
        server
            .protocol
            .at_once(instance, ctx, &payloads, reading)
            .map_err(|finding| match &finding {
            Finding::Violated(f) | Finding::Hung(f)
                if f.observed.contains("connect failed") || f.observed.contains("reset") =>
            {
                finding.observed_then(&format!(
                    " (hint: with a listen(2) backlog under {CLIENTS_AT_ONCE}, the kernel drops or resets some of {CLIENTS_AT_ONCE} connections made at once)",
                ))
            }
            _ => finding,
        })
    })
}

/// The longest window over which idle CPU is measured.
const WINDOW: Duration = Duration::from_millis(500);
/// The most CPU an idle server may use across the window, as a fraction of one core.
const IDLE_SHARE: f64 = 0.1;
/// How long a server must be seen asleep, without one tick of CPU, for the
/// window to end early, once it is idle too: asleep in calls that only an
/// outside event ends, or woken from its timed waits without doing anything.
const QUIET: Duration = Duration::from_millis(100);
/// The most a thread of an idle server may run across the window without
/// once waiting: a spinning thread runs and never waits, and even on a
/// loaded machine it gets more than this; one that backs off waits at every turn.
const SPIN_RUN: Duration = Duration::from_millis(5);

/// How a look at an idle server's CPU ended before the window did.
enum Idled {
    /// Seen still and using no CPU for [`QUIET`]: the rest of the window can only be the same.
    Quiet,
    /// Used more than the whole window's budget already: more time cannot take it back.
    Spent(u64),
}

/// A run of looks that found the server still, with nothing changed.
struct StillStreak {
    /// When it began.
    since: Instant,
    /// The server's CPU ticks then.
    ticks: u64,
    /// Each thread, with its context switches if it waits without timeout.
    sleepers: Vec<(Pid, u64)>,
}

/// Each thread of `pids`: how long it has run and how often it waited
/// ([`observe::run_and_waits`]).
fn runs(pids: &[Pid]) -> Vec<((Pid, Pid), (u64, u64))> {
    pids.iter()
        .flat_map(|&p| observe::tids(p).into_iter().map(move |t| (p, t)))
        .filter_map(|(p, t)| Some(((p, t), observe::run_and_waits(p, t)?)))
        .collect()
}

/// Whether the server stays within [`IDLE_SHARE`] of a core across
/// [`WINDOW`] with none of its threads running [`SPIN_RUN`] or more in it
/// without once waiting; `when` says what the server was left with.
/// Decided as soon as the evidence is clear: CPU time only grows, so a
/// server over the window's budget fails at once; one seen asleep and using
/// no CPU for [`QUIET`], and idle at the end of it, passes (its threads wait
/// for an event no one sends); otherwise the window decides.
pub(super) fn idle_within_budget(instance: &Instance, when: &str) -> Outcome {
    let budget = (observe::ticks_in(WINDOW) * IDLE_SHARE).ceil() as u64;
    let pids = instance.processes();
    let ticks = || observe::cpu_ticks(&pids);
    let start = (Instant::now(), ticks(), runs(&pids));
    let mut streak: Option<StillStreak> = None;
    let decided = settle::wait(WINDOW, &mut Bound(Shown::Nothing, Gaps::BackingOff), || {
        let now = (Instant::now(), ticks());
        if now.1.saturating_sub(start.1) > budget {
            return Look::Done(Idled::Spent(now.1 - start.1));
        }
        let threads = observe::threads(&pids);
        let awake = threads.iter().any(|t| t.state != 'S');
        // A thread awake is a server `idle` finds busy at once, unless it
        // is gone: the look at its stillness, which reads all this again,
        // is only for the rest.
        let idle = if awake {
            instance.gone()
        } else {
            instance.idle()
        };
        // A timed sleeper not yet seen to wake keeps the server from being
        // idle, not from being quiet: the streak runs on while every thread
        // sleeps, and ends the window once the server is idle too.
        if !idle && awake {
            streak = None;
            return Look::Waiting;
        }
        let sleepers: Vec<(Pid, u64)> = threads
            .iter()
            .map(|t| (t.tid, t.switches * u64::from(t.asleep_indefinitely())))
            .collect();
        match &streak {
            Some(still) if still.ticks == now.1 && still.sleepers == sleepers => {
                if idle && now.0.duration_since(still.since) >= QUIET {
                    return Look::Done(Idled::Quiet);
                }
            }
            _ => {
                streak = Some(StillStreak {
                    since: now.0,
                    ticks: now.1,
                    sleepers,
                })
            }
        }
        Look::Waiting
    });
    let (used, spinning) = match decided {
        Ok(Idled::Quiet) => return Ok(()),
        Ok(Idled::Spent(used)) => (used, None),
        Err(_) => {
            let spinning = runs(&pids).into_iter().find_map(|(thread, (ran, waits))| {
                let (_, (ran_before, waits_before)) = start.2.iter().find(|(t, _)| *t == thread)?;
                let ran = Duration::from_nanos(ran.saturating_sub(*ran_before));
                (ran >= SPIN_RUN && waits == *waits_before).then_some((thread.1, ran))
            });
            (ticks().saturating_sub(start.1), spinning)
        }
    };
    if used <= budget && spinning.is_none() {
        return Ok(());
    }
    let over = start.0.elapsed();
    let share = used as f64 / observe::ticks_in(over) * 100.0;
    let never_waited = spinning.map_or(String::new(), |(tid, ran)| {
        format!(
            "; thread {tid} ran {} ms of it without once waiting",
            ran.as_millis()
        )
    });
    let finding = Finding::violated(
        format!(
            "{when}: at most {:.0}% of a core over {} ms, every thread asleep in blocking calls",
            IDLE_SHARE * 100.0,
            WINDOW.as_millis()
        ),
        format!(
            "{share:.0}% of a core over {} ms{never_waited}: busy polling",
            over.as_millis()
        ),
    );
    Err(finding.with_threads(&observe::threads(&instance.processes())))
}

/// `server.idle.blocked`.
pub fn idle_blocked(server: &Server, ctx: &Ctx) -> Outcome {
    with_instance(server, ctx, |instance| {
        // Let start-up work finish before measuring (at most a second).
        instance.started_up(ctx.timeout.min(Duration::from_secs(1)));
        idle_within_budget(instance, "with no client")?;
        let client = instance.connect(ctx)?;
        server
            .protocol
            .engage(instance, &client, ctx, "the idle client", b"then silence")?;
        idle_within_budget(instance, "with one idle client connected")
    })
}
