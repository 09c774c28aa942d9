//! The shape a variant claims, read from `/proc` before any behaviour is
//! judged: who holds which socket, and which threads wait on which
//! connection ([`observe::waits_on`]).
//!
//! - `fork`, `fork-wait`: the child serving a connection has closed the
//!   listening socket, and the parent has closed the connection (the
//!   lecture's v2 and concurrent server do both right after `fork`).
//! - `thread`: with [`THREAD_CLIENTS`] clients connected and each served,
//!   every connection is waited on by a thread that waits on no other
//!   client's connection: a pool, or one thread running a `select` loop, is
//!   not a thread per connection.
//! - `pool:N`: a *worker* is a thread that waits on a client connection.
//!   With [`POOL_CLIENTS_PER_WORKER`]·N clients connected — N served, the rest waiting their turn —
//!   exactly N threads are workers, and no thread exists that did not exist
//!   before the first client (counted once the idle server is still): the
//!   workers are made up front, a fixed number of them.
//! - `event-loop`: with [`EVENT_LOOP_CLIENTS`] clients connected and each
//!   served, one thread of the server process waits, in one `poll`,
//!   `select` or `epoll_wait`, on the listening socket and on every
//!   connection; the server has no child process, and no thread appeared
//!   since before the first client (a thread pool or a thread per
//!   connection running its own loop is not one event loop).
//!
//! Each check waits for its condition until the server is still (or the
//! bound passes), then one last look decides.
//!
//! # References
//! - [fork(2)](https://man7.org/linux/man-pages/man2/fork.2.html): the child gets copies of every descriptor
//! - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html): `fd/`, `task/`, `net/tcp`, `net/unix`

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use nix::unistd::Pid;

use super::harness::Verdicts;
use super::process::{served, Served};
use super::{with_instance, Server};
use crate::reference::server::Variant;
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::connection::Client;
use crate::target::net::Endpoint;
use crate::target::observe;
use crate::target::server::{list, waiters, Instance};

/// Idle clients connected at once for the thread-per-connection check.
pub const THREAD_CLIENTS: usize = 16;

/// Clients per worker connected at once for the fixed-pool check: more
/// than the pool can serve, so a pool that grows on demand shows it.
pub const POOL_CLIENTS_PER_WORKER: usize = 4;

/// The children of the server process that hold the connection, once one does.
fn serving_children(instance: &Instance, served: &Served, ctx: &Ctx) -> Result<Vec<Pid>, Finding> {
    let children = || {
        let descendants = observe::descendants(served.main);
        let holding: Vec<Pid> = instance
            .holders(served.sockets.connection)
            .into_iter()
            .map(|(pid, _)| pid)
            .filter(|pid| descendants.contains(pid))
            .collect();
        (!holding.is_empty()).then_some(holding)
    };
    instance.wait_for(ctx.timeout, children).ok_or_else(|| {
        Finding::violated(
            format!("a child process of the server process {} serving the connection", served.main),
            format!(
                "no child holds it: the connection is held by {} (see server.process.connection-owner)",
                list(&instance.holders(served.sockets.connection))
            ),
        )
    })
}

/// `server.shape.fork-child-closes-listener`.
pub fn fork_child_closes_listener(server: &Server, ctx: &Ctx) -> Outcome {
    with_instance(server, ctx, |instance| {
        let served = served(server, instance, ctx)?;
        let children = serving_children(instance, &served, ctx)?;
        let kept = || {
            instance
                .holders(served.sockets.listening)
                .into_iter()
                .filter(|(pid, _)| children.contains(pid))
                .collect::<Vec<_>>()
        };
        match instance.wait_for(ctx.timeout, || kept().is_empty().then_some(())) {
            Some(()) => Ok(()),
            None => Err(Finding::violated(
                "the child serving the connection closes the listening socket it inherited",
                format!(
                    "the child still holds the listening socket: {} (every child keeps the server's port open and can accept)",
                    list(&kept())
                ),
            )),
        }
    })
}

/// `server.shape.fork-parent-closes-connection`.
pub fn fork_parent_closes_connection(server: &Server, ctx: &Ctx) -> Outcome {
    with_instance(server, ctx, |instance| {
        let served = served(server, instance, ctx)?;
        let children = serving_children(instance, &served, ctx)?;
        let kept = || {
            instance
                .holders(served.sockets.connection)
                .into_iter()
                .filter(|(pid, _)| *pid == served.main)
                .collect::<Vec<_>>()
        };
        match instance.wait_for(ctx.timeout, || kept().is_empty().then_some(())) {
            Some(()) => Ok(()),
            None => Err(Finding::violated(
                format!(
                    "the server process {} closes the connection once its child {} serves it",
                    served.main,
                    children.iter().map(Pid::to_string).collect::<Vec<_>>().join(", ")
                ),
                format!(
                    "it still holds it: {} (the client cannot see EOF until the parent closes it too)",
                    list(&kept())
                ),
            )),
        }
    })
}

/// Reads of `/proc/net/tcp` that [`connections`] takes at most while it
/// finds fewer connections than clients.
const TABLE_READS: usize = 3;

/// The server sides of `clients`' connections, as far as the server has accepted them.
///
/// `/proc/net/tcp` is read a page at a time, and a line can be skipped when
/// other sockets come and go between two pages (other properties' clients
/// under `--jobs`, anything else on the machine): while fewer connections
/// than clients are found, the table is read again, up to [`TABLE_READS`]
/// times in all, and what each read found is kept. Every connection found is
/// one the server accepted and the table listed: no read adds one that is not.
fn connections(instance: &Instance, clients: &[Client]) -> Vec<u64> {
    match &instance.endpoint {
        Endpoint::Tcp { port, .. } => {
            let peers: Vec<_> = clients.iter().filter_map(Client::local_tcp).collect();
            let mut found = BTreeSet::new();
            for _ in 0..TABLE_READS {
                found.extend(
                    observe::tcp_sockets()
                        .into_iter()
                        .filter(|e| {
                            e.local_address.port() == *port
                                && peers.contains(&e.remote_address)
                                && e.inode != 0
                        })
                        .map(|e| e.inode),
                );
                if found.len() >= peers.len() {
                    break;
                }
            }
            found.into_iter().collect()
        }
        Endpoint::Unix(path) => observe::unix_inodes(path, false)
            .into_iter()
            // Inode 0: still in the accept queue.
            .filter(|&inode| inode != 0)
            .collect(),
    }
}

/// Who waits on which connection: for each connection (by inode), the
/// threads waiting on it; for each thread, how many of them it waits on.
struct Waits {
    on: BTreeMap<u64, Vec<Pid>>,
    per_thread: BTreeMap<Pid, usize>,
    describe: BTreeMap<Pid, String>,
}

impl Waits {
    fn of(instance: &Instance, connections: &[u64]) -> Waits {
        let mut waits = Waits {
            on: BTreeMap::new(),
            per_thread: BTreeMap::new(),
            describe: BTreeMap::new(),
        };
        for &connection in connections {
            let waiting: Vec<Pid> = waiters(&instance.holders(connection))
                .into_iter()
                .map(|(thread, _)| {
                    waits.describe.insert(thread.tid, thread.to_string());
                    thread.tid
                })
                .collect();
            for &tid in &waiting {
                *waits.per_thread.entry(tid).or_default() += 1;
            }
            waits.on.insert(connection, waiting);
        }
        waits
    }

    /// The threads that wait on at least one connection.
    fn workers(&self) -> BTreeSet<Pid> {
        self.per_thread.keys().copied().collect()
    }

    /// Connections no thread waits on by itself alone: none waits on them,
    /// or each that does waits on other connections too.
    fn unowned(&self) -> usize {
        self.on
            .values()
            .filter(|tids| !tids.iter().any(|tid| self.per_thread[tid] == 1))
            .count()
    }

    fn summary(&self) -> String {
        let unwaited = self.on.values().filter(|t| t.is_empty()).count();
        let mut parts = vec![format!(
            "{} threads wait on the {} connections; {unwaited} connections are waited on by no thread",
            self.per_thread.len(),
            self.on.len()
        )];
        for (tid, count) in self.per_thread.iter().filter(|(_, &c)| c > 1) {
            parts.push(format!(
                "{} waits on {count} connections at once",
                self.describe[tid]
            ));
        }
        parts.join("; ")
    }
}

/// `server.shape.thread-per-connection`.
pub fn thread_per_connection(server: &Server, ctx: &Ctx) -> Outcome {
    with_instance(server, ctx, |instance| {
        let mut clients = Vec::with_capacity(THREAD_CLIENTS);
        for i in 0..THREAD_CLIENTS {
            let client = instance.connect(ctx)?;
            server.protocol.engage(
                instance,
                &client,
                ctx,
                &format!(
                    "client {} of {THREAD_CLIENTS}, the ones before it connected and idle",
                    i + 1
                ),
                format!("client {i} of {THREAD_CLIENTS}").as_bytes(),
            )?;
            clients.push(client);
        }
        let own = || {
            let found = connections(instance, &clients);
            let waits = Waits::of(instance, &found);
            (found.len() == THREAD_CLIENTS && waits.unowned() == 0).then_some(())
        };
        if instance.wait_for(ctx.timeout, own).is_some() {
            return Ok(());
        }
        let found = connections(instance, &clients);
        let waits = Waits::of(instance, &found);
        let finding = Finding::violated(
            format!("each of {THREAD_CLIENTS} served connections waited on by a thread of its own"),
            format!(
                "{} of {} connections have no thread of their own: {}",
                waits.unowned() + THREAD_CLIENTS.saturating_sub(found.len()),
                THREAD_CLIENTS,
                waits.summary()
            ),
        );
        Err(finding.with_threads(&observe::threads(&instance.processes())))
    })
}

/// The server's threads, by ID.
fn thread_ids(instance: &Instance) -> BTreeSet<Pid> {
    observe::threads(&instance.processes())
        .into_iter()
        .map(|t| t.tid)
        .collect()
}

/// `server.shape.pool-fixed-workers`.
pub fn pool_fixed_workers(server: &Server, ctx: &Ctx) -> Outcome {
    let n = match server.variant {
        Variant::Pool(n) => n,
        _ => 1,
    };
    with_instance(server, ctx, |instance| {
        // Start-up work (making the workers) is over (at most a second).
        instance.started_up(ctx.timeout.min(Duration::from_secs(1)));
        let before = thread_ids(instance);
        let mut clients = Vec::with_capacity(POOL_CLIENTS_PER_WORKER * n);
        for i in 0..n {
            let client = instance.connect(ctx)?;
            server.protocol.engage(
                instance,
                &client,
                ctx,
                &format!("client {} of the pool's {n}", i + 1),
                format!("worker {i}").as_bytes(),
            )?;
            clients.push(client);
        }
        for i in n..POOL_CLIENTS_PER_WORKER * n {
            let client = instance.connect(ctx)?;
            server
                .protocol
                .send_errand(&client, ctx, format!("waiting client {i}").as_bytes())?;
            clients.push(client);
        }
        let look = || {
            let waits = Waits::of(instance, &connections(instance, &clients));
            let now = thread_ids(instance);
            let new: Vec<Pid> = now.difference(&before).copied().collect();
            (waits, new)
        };
        let fixed = || {
            let (waits, new) = look();
            (new.is_empty() && waits.workers().len() == n).then_some(())
        };
        if instance.wait_for(ctx.timeout, fixed).is_some() {
            return Ok(());
        }
        let (waits, new) = look();
        let observed = if new.is_empty() {
            format!("{} workers: {}", waits.workers().len(), waits.summary())
        } else {
            format!(
                "{} threads appeared after the first client (tids {}): {} before, {} now",
                new.len(),
                new.iter()
                    .map(Pid::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                before.len(),
                thread_ids(instance).len()
            )
        };
        let finding = Finding::violated(
            format!(
                "with {} clients connected, exactly {n} threads waiting on client connections, all made before the first client ({} threads then)",
                POOL_CLIENTS_PER_WORKER * n,
                before.len()
            ),
            observed,
        );
        Err(finding.with_threads(&observe::threads(&instance.processes())))
    })
}

/// Clients connected at once for the event-loop check.
pub const EVENT_LOOP_CLIENTS: usize = 8;

/// `server.shape.event-loop-one-thread`.
pub fn event_loop_one_thread(server: &Server, ctx: &Ctx) -> Outcome {
    with_instance(server, ctx, |instance| {
        // Start-up work (an executor's threads, say) is over (at most a second).
        instance.started_up(ctx.timeout.min(Duration::from_secs(1)));
        let before = thread_ids(instance);
        // The first client alone, so that its connection and the listener are found over Unix too.
        let first = served(server, instance, ctx)?;
        let mut clients = Vec::with_capacity(EVENT_LOOP_CLIENTS - 1);
        for i in 1..EVENT_LOOP_CLIENTS {
            let client = instance.connect(ctx)?;
            server.protocol.engage(
                instance,
                &client,
                ctx,
                &format!(
                    "client {} of {EVENT_LOOP_CLIENTS}, the ones before it connected and idle",
                    i + 1
                ),
                format!("client {i} of {EVENT_LOOP_CLIENTS}").as_bytes(),
            )?;
            clients.push(client);
        }
        let main = first.main;
        let look = || {
            let mut found = connections(instance, &clients);
            found.push(first.sockets.connection);
            found.sort_unstable();
            found.dedup();
            let listening = instance.holders(first.sockets.listening);
            // The threads of the server process that wait for new
            // connections, each with how many connections it waits on too.
            let loops: Vec<(String, usize)> = waiters(&listening)
                .into_iter()
                .filter(|(thread, _)| thread.pid == main)
                .map(|(thread, fds)| {
                    let on = found
                        .iter()
                        .filter(|&&c| {
                            instance
                                .holders(c)
                                .iter()
                                .any(|(pid, fd)| *pid == main && fds.contains(fd))
                        })
                        .count();
                    (thread.to_string(), on)
                })
                .collect();
            let children = observe::descendants(main);
            let new: Vec<Pid> = thread_ids(instance).difference(&before).copied().collect();
            (found, loops, children, new)
        };
        let one_thread = || {
            let (found, loops, children, new) = look();
            let all = found.len() == EVENT_LOOP_CLIENTS
                && loops.iter().any(|(_, on)| *on == EVENT_LOOP_CLIENTS);
            (all && children.is_empty() && new.is_empty()).then_some(())
        };
        if instance.wait_for(ctx.timeout, one_thread).is_some() {
            return Ok(());
        }
        let (found, loops, children, new) = look();
        let mut seen = Vec::new();
        if loops.is_empty() {
            seen.push(format!(
                "no thread of the server process {main} waits on the listening socket"
            ));
        }
        for (thread, on) in &loops {
            seen.push(format!(
                "{thread} waits on the listening socket and on {on} of the {} connections",
                found.len()
            ));
        }
        if !children.is_empty() {
            seen.push(format!(
                "child processes {}",
                children
                    .iter()
                    .map(Pid::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !new.is_empty() {
            seen.push(format!(
                "{} threads appeared once clients came (tids {})",
                new.len(),
                new.iter()
                    .map(Pid::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        seen.push(Waits::of(instance, &found).summary());
        let finding = Finding::violated(
            format!(
                "one thread of the server process {main} waiting on the listening socket and on all {EVENT_LOOP_CLIENTS} connections, no child process, no thread made for a client"
            ),
            seen.join("; "),
        );
        Err(finding.with_threads(&observe::threads(&instance.processes())))
    })
}
