//! Hostile and demanding clients: one that trickles its request a byte at a
//! time, two hundred that connect and say nothing, one that never reads
//! its echo, and more clients than the server has descriptors for. A
//! concurrent server lets none of them hold up the others, and none of
//! them kills it.
//!
//! Every verdict is an order of events, not a latency: another client is
//! served completely while the slow one has provably not finished its
//! request (the server took each byte sent so far, `/proc/net/tcp`), or
//! while the server is provably blocked writing to a client that never
//! reads ([`stall`]). Only the open-file rule measures something — the CPU
//! a server burns while it is out of descriptors, over a fixed window
//! ([`idle_within_budget`]), as `server.idle.blocked` does.
//!
//! # References
//! - [recv(2)](https://man7.org/linux/man-pages/man2/recv.2.html): a read returns what has arrived, one byte if need be
//! - [listen(2)](https://man7.org/linux/man-pages/man2/listen.2.html): the backlog of connections not yet accepted
//! - [send(2)](https://man7.org/linux/man-pages/man2/send.2.html): a send blocks while the peer's buffers are full
//! - [accept(2)](https://man7.org/linux/man-pages/man2/accept.2.html) `EMFILE`, [prlimit(2)](https://man7.org/linux/man-pages/man2/prlimit.2.html) `RLIMIT_NOFILE`

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use super::echo::{echo_once, ping};
use super::harness::Verdicts;
use super::resilience::{idle_within_budget, stall};
use super::{with_instance, Server};
use crate::reference::server::Variant;
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::connection::Client;
use crate::target::observe;
use crate::target::process::{self, limit_open_files};
use crate::target::server::Instance;
use crate::target::settle::{self, Gaps};
use crate::target::TargetError;
use crate::workload::server::Seeds;

/// `server.hostile.slow-client`.
pub fn slow_client(server: &Server, ctx: &Ctx) -> Outcome {
    let mut seeds = Seeds::new(ctx.seed);
    with_instance(server, ctx, |instance| {
        let slow = instance.connect(ctx)?;
        let (request, errand) = server.protocol.errand(
            ctx,
            b"a slow client, trickling its request one byte at a time",
        )?;
        let len = request.len();
        // Pauses after its first byte, about half of them, and all but its last.
        let pauses = [1, len / 2, len - 1];
        for (i, byte) in request.iter().enumerate() {
            let sent = i + 1;
            slow.send(std::slice::from_ref(byte)).map_err(|e| {
                instance.explain(Finding::violated(
                    format!("the slow client sends all {len} bytes of its request, one at a time"),
                    format!("sending byte {sent} failed: {e} (the server closed the connection mid-request)"),
                ))
            })?;
            if !pauses.contains(&sent) {
                continue;
            }
            // The server took the byte (nothing unread in its socket): it
            // now waits for the rest, and the slow client is provably mid-request.
            let _ = instance.wait_for(ctx.timeout, || (slow.taken() != Some(false)).then_some(()));
            let payload = seeds.text(100);
            server.protocol.once(
                instance,
                ctx,
                &format!(
                    "another client, while a slow client has sent {sent} of the {len} bytes of its request, one at a time"
                ),
                &payload,
                payload.len,
            )?;
        }
        // Slow to read too: its answer waits unread while another client is served.
        let _ = instance.wait_for(ctx.timeout, || {
            server.protocol.answer_arrived(&slow).then_some(())
        });
        let payload = seeds.text(100);
        server.protocol.once(
            instance,
            ctx,
            &format!(
                "another client, while a slow client leaves its {} unread",
                server.protocol.answer()
            ),
            &payload,
            payload.len,
        )?;
        server
            .protocol
            .answered(instance, &slow, &errand, ctx, "the slow client")
    })
}

/// Connections `server.hostile.many-idle` holds open at once.
pub const IDLE_CLIENTS: usize = 200;

/// Clients connected one after the other, once the listen backlog is
/// empty, without a look at it in between: a backlog of 5 (Python's
/// default) holds 6, and a connection beyond a full backlog is retried only
/// a second or more later.
const BATCH: usize = 6;

/// `server.hostile.many-idle`.
pub fn many_idle(server: &Server, ctx: &Ctx) -> Outcome {
    // A pool takes N clients at a time: the others wait in its queue and
    // the backlog, and the oldest are served to make room for the next.
    let in_turn = matches!(server.variant, Variant::Pool(_));
    with_instance(server, ctx, |instance| {
        let mut held: VecDeque<(usize, Client)> = VecDeque::new();
        let mut connected = 0;
        while connected < IDLE_CLIENTS {
            let waiting = instance.backlog().unwrap_or(1);
            if in_turn && waiting > 0 {
                // Served in turn: the oldest, ahead of those waiting.
                let oldest = held.len().min(waiting.max(BATCH));
                serve_idle(server, instance, ctx, held.drain(..oldest))?;
                continue;
            }
            let accepted = || instance.backlog() == Some(0);
            if waiting > 0 && !soon(instance, ctx, accepted) && !instance.accepted_all(ctx.timeout)
            {
                // The server fell still (or the bound passed) with clients in its backlog.
                return Err(instance.explain(
                    Finding::violated(
                        format!(
                            "{IDLE_CLIENTS} idle clients connected at once, each accepted while the others stay connected"
                        ),
                        format!(
                            "with {} idle clients connected, the server stopped accepting: {} more wait in its listen backlog (a cap on children or threads, or an accept loop that waits on a client, shows this way)",
                            held.len(),
                            instance.backlog().unwrap_or(0)
                        ),
                    )
                    .with_threads(&observe::threads(&instance.processes())),
                ));
            }
            for _ in 0..BATCH.min(IDLE_CLIENTS - connected) {
                held.push_back((connected, instance.connect(ctx)?));
                connected += 1;
            }
        }
        serve_idle(server, instance, ctx, held.drain(..))
    })
}

/// Idle clients (each with its number) send their requests, then, in
/// order, each gets its answer and leaves: by the time the check reads an
/// answer, a server that serves them all at once has long sent it.
fn serve_idle(
    server: &Server,
    instance: &Instance,
    ctx: &Ctx,
    clients: impl Iterator<Item = (usize, Client)>,
) -> Outcome {
    let whom = |i: usize| format!("idle client {} of {IDLE_CLIENTS} connected at once", i + 1);
    let errands = clients
        .map(|(i, client)| {
            let errand = server
                .protocol
                .send_errand(&client, ctx, whom(i).as_bytes())?;
            Ok((i, client, errand))
        })
        .collect::<Result<Vec<_>, Finding>>()?;
    for (i, client, errand) in errands {
        soon(instance, ctx, || server.protocol.answer_arrived(&client));
        server
            .protocol
            .answered(instance, &client, &errand, ctx, &whom(i))?;
    }
    Ok(())
}

/// The longest [`soon`] looks before a wait that also watches the server's
/// stillness takes over.
const GRACE: Duration = Duration::from_secs(1);

/// The shortest.
const LEAST_GRACE: Duration = Duration::from_millis(100);

/// How many looks at the server's stillness [`soon`]'s looks may cost.
const LOOKS_OF_GRACE: u32 = 20;

/// Whether `done` holds within a grace (at most `ctx.timeout`), with looks
/// at `done` alone. With hundreds of clients, the server has hundreds of
/// threads or processes, and a look at whether all of them are still costs
/// far more, on a loaded machine, than serving a client takes: the waits
/// that decide, watching stillness, come only after this one. So the grace
/// is [`LEAST_GRACE`], or, if `done` did not hold by then, [`LOOKS_OF_GRACE`]
/// times what one such look takes now, at most [`GRACE`]: a server that
/// stopped with few threads is not waited on for a whole second.
fn soon(instance: &Instance, ctx: &Ctx, mut done: impl FnMut() -> bool) -> bool {
    let mut looking =
        |bound: Duration| settle::until(bound.min(ctx.timeout), Gaps::QuickFirst, &mut done);
    if looking(LEAST_GRACE) {
        return true;
    }
    let look = Instant::now();
    let _ = instance.idle();
    let grace = (look.elapsed() * LOOKS_OF_GRACE).min(GRACE);
    grace > LEAST_GRACE && looking(grace - LEAST_GRACE)
}

/// `server.hostile.never-reading-client`.
pub fn never_reading_client(server: &Server, ctx: &Ctx) -> Outcome {
    let mut seeds = Seeds::new(ctx.seed);
    // The client that never reads leaves only once the server is gone: its
    // leaving mid-echo is `leaves-mid-echo`'s case, not this rule's.
    let mut never_leaves = None;
    let outcome = with_instance(server, ctx, |instance| {
        let neighbour = instance.connect(ctx)?;
        ping(
            instance,
            &neighbour,
            ctx,
            "a client connected first",
            b"a neighbour, connected first",
        )?;
        let hog = never_leaves.insert(instance.connect(ctx)?);
        // The server is blocked writing an echo the hog never reads.
        stall(instance, hog, ctx.timeout);
        let meanwhile =
            "while another client that never reads has the server blocked writing its echo";
        ping(
            instance,
            &neighbour,
            ctx,
            &format!("the client connected first, {meanwhile}"),
            b"the neighbour again",
        )?;
        let payload = seeds.text(1000);
        echo_once(
            instance,
            ctx,
            &format!("the echo to a new client, {meanwhile}"),
            &payload.bytes(),
            payload.len,
        )
    });
    drop(never_leaves);
    outcome
}

/// Descriptors a server may still open once the check lowered its limit.
const SPARE: usize = 3;

/// Clients beyond those the server's free descriptors can hold.
const BEYOND: usize = 2;

/// `server.hostile.emfile`.
pub fn emfile(server: &Server, ctx: &Ctx) -> Outcome {
    let mut seeds = Seeds::new(ctx.seed);
    with_instance(server, ctx, |instance| {
        // Start-up done (at most a second): its descriptors are all open.
        instance.started_up(ctx.timeout.min(Duration::from_secs(1)));
        let limits = lower_open_files(instance)?;
        let out = || {
            limits
                .iter()
                .any(|&(pid, limit, _)| free_descriptors(pid, limit) == 0)
        };
        let free = limits
            .iter()
            .map(|&(pid, limit, _)| free_descriptors(pid, limit))
            .max()
            .unwrap_or(0);
        let clients = (0..free + BEYOND)
            .map(|_| {
                let client = instance.connect(ctx)?;
                // Accepted, or the server is out of descriptors (or still).
                let _ = instance.wait_for(ctx.timeout, || {
                    (instance.backlog() == Some(0) || out()).then_some(())
                });
                Ok(client)
            })
            .collect::<Result<Vec<Client>, Finding>>()?;
        instance.alive()?;
        let lowest = limits.iter().map(|&(_, limit, _)| limit).min().unwrap_or(0);
        idle_within_budget(
            instance,
            &format!(
                "with {} clients connected, beyond what an open-file limit of {lowest} lets it accept",
                clients.len()
            ),
        )?;
        drop(clients);
        // Children forked meanwhile keep the low limit; new ones need not.
        restore_open_files(&limits)?;
        let payload = seeds.text(1000);
        server.protocol.once(
            instance,
            ctx,
            "a new client, once the clients that used up its descriptors left",
            &payload,
            payload.len,
        )
    })
}

/// Lowers the soft open-file limit of every process of the server so that
/// exactly [`SPARE`] descriptor numbers below it are free (descriptors it
/// holds above the limit stay usable; it just cannot open new ones there);
/// each process, its new limit and the soft limit it had.
fn lower_open_files(instance: &Instance) -> Result<Vec<(Pid, u64, Option<u64>)>, Finding> {
    instance
        .processes()
        .into_iter()
        .filter_map(|pid| {
            let open = observe::fds(pid)?;
            let limit = (0..)
                .filter(|fd| !open.contains(fd))
                .nth(SPARE - 1)
                .map_or(0, |fd| fd as u64 + 1);
            Some(
                limit_open_files(pid, limit)
                    .map(|had| (pid, limit, had))
                    .map_err(|e| {
                        Finding::from(TargetError::setup(
                            format!("the open-file limit of pid {pid}, lowered to {limit}"),
                            e,
                        ))
                    }),
            )
        })
        .collect()
}

/// Puts back the soft open-file limits [`lower_open_files`] lowered, of the
/// processes still there.
fn restore_open_files(limits: &[(Pid, u64, Option<u64>)]) -> Outcome {
    for &(pid, _, had) in limits {
        if let Err(e) = process::restore_open_files(pid, had) {
            if observe::is_alive(pid) {
                return Err(TargetError::setup(
                    format!("the open-file limit of pid {pid}, put back"),
                    e,
                )
                .into());
            }
        }
    }
    Ok(())
}

/// Descriptors `pid` can still open under `limit`: numbers below it not in use.
fn free_descriptors(pid: Pid, limit: u64) -> usize {
    let used = observe::fds(pid).map_or(limit as usize, |fds| {
        fds.iter().filter(|&&fd| (fd as u64) < limit).count()
    });
    (limit as usize).saturating_sub(used)
}
