//! The process model, read from `/proc`: which process holds the server side
//! of a connection (`/proc/<pid>/fd` → `socket:[inode]`), and which thread
//! sleeps reading it (`/proc/<pid>/task/<tid>/syscall`).
//!
//! The server side of a TCP connection is found in `/proc/net/tcp` by its
//! address pair; a Unix connection accepted on the socket path carries the
//! path's name in `/proc/net/unix` (a fresh instance has exactly one).
//!
//! # References
//! - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html): `fd/`, `net/tcp`, `net/unix`, `task/<tid>/syscall`

use std::time::{Duration, Instant};

use nix::unistd::Pid;

use super::client::Client;
use super::echo::ping;
use super::harness::{Endpoint, Instance};
use super::{with_instance, Server};
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::observe::{self, ThreadState};

/// The inodes of the listening socket and of the server side of `client`'s connection.
fn inodes(instance: &Instance, client: &Client) -> Option<(u64, u64)> {
    match &instance.endpoint {
        Endpoint::Tcp(addr) => {
            let sockets = observe::tcp_sockets();
            let peer = client.local_tcp()?;
            let listening = sockets.iter().find(|e| {
                e.state == procfs::net::TcpState::Listen && e.local_address.port() == addr.port()
            })?;
            let connection = sockets
                .iter()
                .find(|e| e.local_address.port() == addr.port() && e.remote_address == peer)?;
            Some((listening.inode, connection.inode))
        }
        Endpoint::Unix(path) => {
            let listening = *observe::unix_inodes(path, true).first()?;
            match observe::unix_inodes(path, false)[..] {
                [connection] => Some((listening, connection)),
                _ => None,
            }
        }
    }
}

/// The server process: the holder of the listening socket whose parent does not hold it.
fn main_process(instance: &Instance, listening: u64) -> Option<Pid> {
    let holders: Vec<Pid> = observe::socket_holders(&instance.processes(), listening)
        .into_iter()
        .map(|(pid, _)| pid)
        .collect();
    holders
        .iter()
        .copied()
        .find(|&pid| !matches!(observe::stat(pid), Some(s) if holders.contains(&s.ppid)))
}

/// The thread of `pid` asleep reading `fd`, looked for at most `bound` (or
/// until the server is quiescent).
fn reading_thread(instance: &Instance, pid: Pid, fd: i32, bound: Duration) -> Option<ThreadState> {
    instance.wait_for(bound, || {
        observe::threads(&[pid]).into_iter().find(|t| {
            let reads = matches!(
                t.syscall.name(),
                Some("read" | "readv" | "recvfrom" | "recvmsg")
            );
            let on_fd =
                matches!(t.syscall, observe::Syscall::In { args, .. } if args[0] as i32 == fd);
            t.asleep_indefinitely() && reads && on_fd
        })
    })
}

/// Descriptors that refer to one socket: which process, which fd.
type Holders = Vec<(Pid, i32)>;

/// Waits at most `bound` (or until the server is quiescent) for `holds` over
/// the holders of `inode`; returns the last holders.
fn holders_until(
    instance: &Instance,
    inode: u64,
    bound: Duration,
    holds: impl Fn(&[(Pid, i32)]) -> bool,
) -> Result<Holders, Holders> {
    let holders = || observe::socket_holders(&instance.processes(), inode);
    instance
        .wait_for(bound, || Some(holders()).filter(|h| holds(h)))
        .ok_or_else(holders)
}

fn list(holders: &[(Pid, i32)]) -> String {
    let each: Vec<String> = holders
        .iter()
        .map(|(pid, fd)| format!("pid {pid} (fd {fd})"))
        .collect();
    if each.is_empty() {
        "no process".into()
    } else {
        each.join(", ")
    }
}

/// `server.process.connection-owner`.
pub fn connection_owner(server: &Server, ctx: &Ctx) -> Outcome {
    with_instance(server, ctx, |instance| {
        let client = instance.connect(ctx)?;
        ping(instance, &client, ctx, "the client", b"who serves me?")?;
        // /proc/net/tcp is read in pieces and may skip a line while other sockets come
        // and go, so look again, within the bound, until the connection shows.
        let deadline = Instant::now() + ctx.timeout;
        let found = std::iter::repeat_with(|| inodes(instance, &client))
            .find(|found| found.is_some() || Instant::now() >= deadline)
            .flatten();
        let Some((listening, connection)) = found else {
            return Err(Finding::violated(
                "the server side of the connection, listed in /proc/net",
                "no such socket: the connection was echoed, yet no socket of this machine is its server side",
            ));
        };
        let Some(main) = main_process(instance, listening) else {
            return Err(Finding::violated(
                "a process of the server holding its listening socket",
                "none of the server's processes holds it",
            ));
        };
        match server.variant.kind() {
            "fork" | "fork-wait" => {
                let children = observe::descendants(main);
                let in_child = |h: &[(Pid, i32)]| {
                    !h.is_empty() && h.iter().all(|(pid, _)| children.contains(pid))
                };
                holders_until(instance, connection, ctx.timeout, in_child)
                    .map(drop)
                    .map_err(|holders| {
                        Finding::violated(
                            format!(
                                "the connection held only by a child of the server process {main}"
                            ),
                            format!("held by {}", list(&holders)),
                        )
                    })
            }
            kind => {
                let holders = holders_until(instance, connection, ctx.timeout, |h| {
                    !h.is_empty() && h.iter().all(|(pid, _)| *pid == main)
                })
                .map_err(|holders| {
                    Finding::violated(
                        format!("the connection held by the server process {main} itself"),
                        format!("held by {}", list(&holders)),
                    )
                })?;
                if kind == "sequential" {
                    return Ok(());
                }
                let (_, fd) = holders[0];
                match reading_thread(instance, main, fd, ctx.timeout) {
                    Some(thread) if thread.tid == main => Err(Finding::violated(
                        "the connection read by a thread other than the server's main (accepting) thread",
                        format!("the main thread reads it: {thread}"),
                    )),
                    _ => Ok(()),
                }
            }
        }
    })
}
