//! The process model, read from `/proc`: which process holds the server side
//! of a connection (`/proc/<pid>/fd` → `socket:[inode]`), and which thread
//! waits on it ([`observe::waits_on`]: in `read`, or in `poll`, `select`,
//! `epoll_wait` with it in the set).
//!
//! The owner a variant needs: a thread of a child process (fork variants);
//! a thread of the server process (sequential); one that does not also
//! wait for new connections (thread, pool); the one that does (event-loop:
//! one thread waits on the listener and on every connection).
//!
//! Every claim here needs its evidence: a connection counts as served by a
//! thread only when that thread is seen asleep waiting on it, never because
//! no other thread was seen reading it.
//!
//! The server side of a TCP connection is found in `/proc/net/tcp` by its
//! address pair; a Unix connection accepted on the socket path carries the
//! path's name in `/proc/net/unix` (with one client connected, there is one).
//!
//! # References
//! - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html): `fd/`, `net/tcp`, `net/unix`, `task/<tid>/syscall`

use nix::unistd::Pid;

use super::harness::Verdicts;
use super::{with_instance, Server};
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::connection::Client;
use crate::target::observe::{self, ThreadState};
use crate::target::server::{list, waiters, Instance, Sockets};

/// A client, connected and echoed once (so the server is serving it), with
/// the sockets of its connection and the server process.
pub(super) struct Served {
    /// The client, kept so that its connection stays open while it is looked at.
    pub _client: Client,
    /// The listening socket and the server side of the connection.
    pub sockets: Sockets,
    /// The server process: it holds the listening socket, its parent does not.
    pub main: Pid,
}

/// Connects a client, pings it, and finds its connection's sockets and the
/// server process; a server without them fails.
pub(super) fn served(
    server: &Server,
    instance: &mut Instance,
    ctx: &Ctx,
) -> Result<Served, Finding> {
    let client = instance.connect(ctx)?;
    server
        .protocol
        .engage(instance, &client, ctx, "the client", b"who serves me?")?;
    let Some(sockets) = instance.sockets(&client, ctx.timeout) else {
        return Err(Finding::violated(
            "the server side of the connection, listed in /proc/net and held by a process of the server",
            "no such socket: the server took the client up, yet no process of the server holds the connection",
        ));
    };
    let Some(main) = instance.main_process(sockets.listening) else {
        return Err(Finding::violated(
            "a process of the server holding its listening socket",
            "none of the server's processes holds it",
        ));
    };
    Ok(Served {
        _client: client,
        sockets,
        main,
    })
}

/// The threads waiting on the connection, each with the descriptors it waits on.
fn connection_waiters(instance: &Instance, connection: u64) -> Vec<(ThreadState, Vec<i32>)> {
    waiters(&instance.holders(connection))
}

/// A thread of the server that waits on the connection as `kind` requires.
fn owner(instance: &Instance, served: &Served, kind: &str) -> Option<ThreadState> {
    let Served { sockets, main, .. } = served;
    let listeners = instance.holders(sockets.listening);
    let children = observe::descendants(*main);
    connection_waiters(instance, sockets.connection)
        .into_iter()
        .find(|(thread, fds)| match kind {
            "fork" | "fork-wait" => children.contains(&thread.pid),
            "sequential" => thread.pid == *main,
            // One thread waits for every connection and for new ones.
            "event-loop" => {
                thread.pid == *main && fds.iter().any(|fd| listeners.contains(&(*main, *fd)))
            }
            // A thread that also waits for new connections is the accepting one.
            _ => thread.pid == *main && !fds.iter().any(|fd| listeners.contains(&(*main, *fd))),
        })
        .map(|(thread, _)| thread)
}

/// What `kind` requires of the thread serving a connection, in words.
fn required(kind: &str, main: Pid) -> String {
    match kind {
        "fork" | "fork-wait" => {
            format!("the connection waited on by a thread of a child process of the server process {main}")
        }
        "sequential" => format!("the connection waited on by a thread of the server process {main} itself"),
        "event-loop" => format!(
            "the connection waited on by the thread of the server process {main} that also waits for new connections"
        ),
        _ => format!(
            "the connection waited on by a thread of the server process {main} that does not also wait for new connections"
        ),
    }
}

/// `server.process.connection-owner`.
pub fn connection_owner(server: &Server, ctx: &Ctx) -> Outcome {
    with_instance(server, ctx, |instance| {
        let served = served(server, instance, ctx)?;
        let kind = server.variant.kind();
        if instance
            .wait_for(ctx.timeout, || owner(instance, &served, kind))
            .is_some()
        {
            return Ok(());
        }
        let waiting: Vec<String> = connection_waiters(instance, served.sockets.connection)
            .iter()
            .map(|(thread, fds)| format!("{thread} (waits on fds {fds:?})"))
            .collect();
        let listening = list(&instance.holders(served.sockets.listening));
        let finding = Finding::violated(
            required(kind, served.main),
            format!(
                "the connection is held by {}; the listening socket by {listening}; {}",
                list(&instance.holders(served.sockets.connection)),
                if waiting.is_empty() {
                    "no thread was seen waiting on the connection".to_string()
                } else {
                    format!("waiting on it: {}", waiting.join("; "))
                }
            ),
        );
        Err(finding.with_threads(&observe::threads(&instance.processes())))
    })
}
