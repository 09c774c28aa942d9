//! Properties of the `socket` profile: what the kernel's stream sockets
//! guarantee, checked on the kernel itself (the oracle) over a socketpair,
//! TCP loopback on IPv4 and IPv6, and a Unix socket.
//!
//! Every socket a check makes has read and write timeouts of `ctx.timeout`,
//! so every blocking call is bounded: a call that runs out is a hang, never a
//! wait forever. "All bytes queued" is observed with a non-blocking
//! `MSG_PEEK`, never assumed after a sleep.
//!
//! # References
//! - [socketpair(2)](https://man7.org/linux/man-pages/man2/socketpair.2.html), [shutdown(2)](https://man7.org/linux/man-pages/man2/shutdown.2.html)
//! - [send(2)](https://man7.org/linux/man-pages/man2/send.2.html) (`MSG_NOSIGNAL`, `EPIPE`), [recv(2)](https://man7.org/linux/man-pages/man2/recv.2.html) (`MSG_PEEK`, `MSG_DONTWAIT`)
//! - [accept(2)](https://man7.org/linux/man-pages/man2/accept.2.html), [listen(2)](https://man7.org/linux/man-pages/man2/listen.2.html)
#![allow(unsafe_code)] // The SIGPIPE check forks; the child's only calls are named at the fork.

use std::io::{self, Read};
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::ForkResult;
use proptest::collection::vec;
use proptest::prelude::*;
use socket2::{Domain, SockAddr, Socket, Type};

use super::diff::same_bytes;
use super::{ensure, Finding, Meta, Outcome, Profile, Property, Scope, Suite};
use crate::reference::server::send_all;
use crate::reference::socket::describe;
use crate::sys::{self, SigpipeDisposition};
use crate::target::TargetError;
use crate::workload::socket::{chunking, payload, pieces};

/// A kind of connected stream socket the kernel offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `socketpair(AF_UNIX, SOCK_STREAM)`: connected from birth, no listener.
    Socketpair,
    /// TCP over 127.0.0.1.
    Tcp4,
    /// TCP over ::1.
    Tcp6,
    /// A Unix stream socket bound to a path.
    Unix,
}

/// Every transport, in report order.
pub const TRANSPORTS: [Transport; 4] = [
    Transport::Socketpair,
    Transport::Tcp4,
    Transport::Tcp6,
    Transport::Unix,
];

/// The transports that have a listening socket (all but the socketpair).
const LISTENING: &[&str] = &["tcp4", "tcp6", "unix"];

/// A listening socket, and the temp dir its path lives in (Unix).
pub struct Listening {
    /// The passive socket.
    pub socket: Socket,
    /// Its address, for `connect`.
    pub addr: SockAddr,
    _dir: Option<tempfile::TempDir>,
}

impl Transport {
    /// The label reports and `Scope::Only` use: `socketpair`, `tcp4`, `tcp6`, `unix`.
    pub fn label(self) -> &'static str {
        match self {
            Transport::Socketpair => "socketpair",
            Transport::Tcp4 => "tcp4",
            Transport::Tcp6 => "tcp6",
            Transport::Unix => "unix",
        }
    }

    /// A fresh listening socket on a free port or a fresh path.
    pub fn listen(self) -> Result<Listening, Finding> {
        let (domain, addr, dir) = match self {
            Transport::Socketpair => {
                return Err(setup(
                    "a listening socket",
                    io::Error::other("a socketpair has no listener"),
                ))
            }
            Transport::Tcp4 => (Domain::IPV4, loopback(Ipv4Addr::LOCALHOST.into()), None),
            Transport::Tcp6 => (Domain::IPV6, loopback(Ipv6Addr::LOCALHOST.into()), None),
            Transport::Unix => {
                let dir =
                    tempfile::tempdir().map_err(|e| setup("a temp dir for a Unix socket", e))?;
                let addr = SockAddr::unix(dir.path().join("s"))
                    .map_err(|e| setup("a Unix socket path", e))?;
                (Domain::UNIX, addr, Some(dir))
            }
        };
        let socket =
            Socket::new(domain, Type::STREAM, None).map_err(|e| setup("a listening socket", e))?;
        socket
            .bind(&addr)
            .map_err(|e| setup("binding a listening socket", e))?;
        socket.listen(128).map_err(|e| setup("listen", e))?;
        let addr = socket.local_addr().map_err(|e| setup("getsockname", e))?;
        Ok(Listening {
            socket,
            addr,
            _dir: dir,
        })
    }

    /// Two connected stream sockets, both with `timeout` on every blocking call.
    pub fn pair(self, timeout: Duration) -> Result<(Socket, Socket), Finding> {
        let (a, b) = if self == Transport::Socketpair {
            Socket::pair(Domain::UNIX, Type::STREAM, None).map_err(|e| setup("socketpair", e))?
        } else {
            let listening = self.listen()?;
            let a = connect(&listening, timeout)?;
            let (b, _) = listening.socket.accept().map_err(|e| setup("accept", e))?;
            (a, b)
        };
        bound(&a, timeout)?;
        bound(&b, timeout)?;
        Ok((a, b))
    }
}

fn loopback(ip: IpAddr) -> SockAddr {
    SocketAddr::new(ip, 0).into()
}

fn setup(what: &str, e: io::Error) -> Finding {
    Finding::Broken(TargetError::setup(what, e))
}

fn bound(socket: &Socket, timeout: Duration) -> Result<(), Finding> {
    socket
        .set_read_timeout(Some(timeout))
        .and_then(|()| socket.set_write_timeout(Some(timeout)))
        .map_err(|e| setup("socket timeouts", e))
}

/// A client socket connected to `listening`, bounded by `timeout`.
fn connect(listening: &Listening, timeout: Duration) -> Result<Socket, Finding> {
    let domain = Domain::from(i32::from(listening.addr.family()));
    let socket =
        Socket::new(domain, Type::STREAM, None).map_err(|e| setup("a client socket", e))?;
    bound(&socket, timeout)?;
    socket
        .connect(&listening.addr)
        .map_err(|e| io_finding("connect to return", e))?;
    Ok(socket)
}

/// An I/O error as a finding: a timeout is a hang, anything else a violation.
fn io_finding(what: &str, e: io::Error) -> Finding {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Finding::hung(what, ""),
        _ => Finding::violated(what, format!("the call failed: {e}")),
    }
}

/// Reads `socket` until EOF; a timeout or error is a finding about `what`.
fn read_to_eof(socket: &Socket, what: &str) -> Result<Vec<u8>, Finding> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match (&mut &*socket).read(&mut buf) {
            Ok(0) => return Ok(all),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(io_finding(
                    &format!("{what} (EOF after {} bytes so far)", all.len()),
                    e,
                ))
            }
        }
    }
}

/// Sends `bytes` in `chunks`, then half-closes.
fn send_then_shut(socket: &Socket, bytes: &[u8], chunks: &[usize], what: &str) -> Outcome {
    for piece in pieces(bytes, chunks) {
        send_all(socket, piece).map_err(|e| io_finding(what, e))?;
    }
    socket
        .shutdown(Shutdown::Write)
        .map_err(|e| io_finding("shutdown(SHUT_WR)", e))
}

fn clone(socket: &Socket) -> Result<Socket, Finding> {
    socket.try_clone().map_err(|e| setup("dup of a socket", e))
}

/// `socket.stream.ordered-lossless-each-way`: each direction is its own
/// lossless, ordered byte queue, and both run at once without deadlock.
fn ordered_lossless_each_way(transport: &Transport, ctx: &super::Ctx) -> Outcome {
    let strategy = (
        payload(256 * 1024),
        chunking(),
        payload(256 * 1024),
        chunking(),
    );
    ctx.forall(strategy, |(ab, ab_chunks, ba, ba_chunks)| {
        let (a, b) = transport.pair(ctx.timeout)?;
        let (a2, b2) = (clone(&a)?, clone(&b)?);
        let (ab2, abc, ba2, bac) = (ab.clone(), ab_chunks.clone(), ba.clone(), ba_chunks.clone());
        let writers = [
            std::thread::spawn(move || send_then_shut(&a2, &ab2, &abc, "sending a→b")),
            std::thread::spawn(move || send_then_shut(&b2, &ba2, &bac, "sending b→a")),
        ];
        let at_a = std::thread::spawn(move || read_to_eof(&a, "reading b→a to EOF"));
        let at_b = read_to_eof(&b, "reading a→b to EOF");
        let at_a = at_a
            .join()
            .unwrap_or_else(|_| Err(Finding::violated("a reader", "it panicked")));
        for writer in writers {
            writer
                .join()
                .unwrap_or_else(|_| Err(Finding::violated("a writer", "it panicked")))?;
        }
        same_bytes("bytes a→b", ab, &at_b?)?;
        same_bytes("bytes b→a", ba, &at_a?)
    })
}

/// `socket.shutdown.peer-reads-eof-then-replies`.
fn peer_reads_eof_then_replies(transport: &Transport, ctx: &super::Ctx) -> Outcome {
    ctx.forall(
        (payload(16 * 1024), payload(16 * 1024)),
        |(request, reply)| {
            let (a, b) = transport.pair(ctx.timeout)?;
            send_then_shut(&a, request, &[], "sending the request")?;
            same_bytes(
                "the request, then EOF",
                request,
                &read_to_eof(&b, "EOF after shutdown(SHUT_WR)")?,
            )?;
            send_then_shut(&b, reply, &[], "replying after reading EOF")?;
            drop(b);
            same_bytes(
                "the reply to the half-closed side",
                reply,
                &read_to_eof(&a, "the reply, then EOF")?,
            )
        },
    )
}

/// `socket.write.epipe-after-peer-closed`.
fn epipe_after_peer_closed(transport: &Transport, ctx: &super::Ctx) -> Outcome {
    let (a, b) = transport.pair(ctx.timeout)?;
    drop(b);
    let deadline = Instant::now() + ctx.timeout;
    let mut seen = Vec::new();
    loop {
        match a.send_with_flags(b"x", libc::MSG_NOSIGNAL) {
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => return Ok(()),
            Ok(_) => seen.push("ok".to_string()),
            Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => seen.push("ECONNRESET".into()),
            Err(e) => seen.push(e.to_string()),
        }
        if Instant::now() >= deadline || seen.len() >= 1000 {
            return Err(Finding::violated(
                "a write to fail with EPIPE, at the latest once the peer's reset arrived",
                format!("{} writes, none EPIPE: {}", seen.len(), summarize(&seen)),
            ));
        }
        // Pacing only: gives the peer's RST time to arrive; the verdict is the errno seen.
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn summarize(seen: &[String]) -> String {
    let mut runs: Vec<(usize, &str)> = Vec::new();
    for s in seen {
        match runs.last_mut() {
            Some((n, last)) if *last == s.as_str() => *n += 1,
            _ => runs.push((1, s)),
        }
    }
    runs.iter()
        .map(|(n, s)| format!("{n}× {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `socket.write.sigpipe-after-peer-closed`: under the default disposition the
/// writer dies of SIGPIPE; checked in a forked child, which the parent waits for.
fn sigpipe_after_peer_closed(transport: &Transport, ctx: &super::Ctx) -> Outcome {
    // One such fork at a time: a child forked by a concurrent check must not
    // inherit (and so keep open) the peer this check has just closed.
    static FORK: Mutex<()> = Mutex::new(());
    let _one_at_a_time = FORK.lock().unwrap_or_else(|e| e.into_inner());
    let (a, b) = transport.pair(ctx.timeout)?;
    drop(b);
    // Computed before the fork: the child must not allocate.
    let attempts = ctx.timeout.as_millis().max(1) as usize;
    let fd = a.as_raw_fd() as libc::c_uint;
    // SAFETY: the child only calls close_range, sigaction (set_sigpipe), write,
    // nanosleep and _exit, all async-signal-safe, on data that exists before the fork.
    let child = match unsafe { sys::fork() }.map_err(|e| setup("fork", e.into()))? {
        ForkResult::Child => {
            // SAFETY: close_range(2) only closes descriptors; none but `a` is used
            // from here on, and dropping none of them runs code in this child.
            unsafe {
                libc::close_range(3, fd - 1, 0);
                libc::close_range(fd + 1, libc::c_uint::MAX, 0);
            }
            let code = if sys::set_sigpipe(SigpipeDisposition::Default).is_err() {
                3
            } else {
                let mut code = 2;
                for _ in 0..attempts {
                    match nix::unistd::write(&a, b"x") {
                        Ok(_) | Err(nix::errno::Errno::ECONNRESET) => {}
                        Err(_) => {
                            code = 4;
                            break;
                        }
                    }
                    // Pacing only: lets the peer's RST arrive between writes.
                    std::thread::sleep(Duration::from_millis(1));
                }
                code
            };
            // SAFETY: _exit(2) is async-signal-safe and runs none of the parent's exit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(a);
    let status = loop {
        match waitpid(child, None) {
            Err(nix::errno::Errno::EINTR) => {}
            other => break other.map_err(|e| setup("waitpid", e.into()))?,
        }
    };
    ensure(
        matches!(status, WaitStatus::Signaled(_, Signal::SIGPIPE, _)),
        || "the writer to be killed by SIGPIPE (default disposition) once the peer is gone".into(),
        || match status {
            WaitStatus::Exited(_, 2) => format!("{attempts} writes, none raised SIGPIPE"),
            WaitStatus::Exited(_, 4) => {
                "a write failed with an error other than ECONNRESET, without SIGPIPE".into()
            }
            other => format!("the writer ended with {other:?}"),
        },
    )
}

/// Waits until `socket` has exactly `total` bytes queued (non-blocking peek),
/// at most `bound`.
fn wait_queued(socket: &Socket, total: usize, bound: Duration) -> Result<(), Finding> {
    let mut buf = vec![MaybeUninit::<u8>::uninit(); total + 1];
    let deadline = Instant::now() + bound;
    loop {
        let queued = socket
            .recv_with_flags(&mut buf, libc::MSG_PEEK | libc::MSG_DONTWAIT)
            .unwrap_or(0);
        if queued >= total {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Finding::hung(
                format!("{total} bytes queued at the receiver (saw {queued})"),
                "",
            ));
        }
        // Pacing only: each look is itself the observation.
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// `socket.stream.no-message-boundaries`.
fn no_message_boundaries(transport: &Transport, ctx: &super::Ctx) -> Outcome {
    ctx.forall(vec(vec(any::<u8>(), 1..512), 2..8), |writes| {
        let (a, b) = transport.pair(ctx.timeout)?;
        for write in writes {
            send_all(&a, write).map_err(|e| io_finding("a small write", e))?;
        }
        let total: usize = writes.iter().map(Vec::len).sum();
        wait_queued(&b, total, ctx.timeout)?;
        let mut buf = vec![0u8; total + 1];
        let n = (&mut &b).read(&mut buf).map_err(|e| io_finding("one read", e))?;
        let largest = writes.iter().map(Vec::len).max().unwrap_or(0);
        ensure(
            n == total && n > largest,
            || format!("one read to return all {total} bytes of {} writes (none larger than {largest})", writes.len()),
            || format!("it returned {n} bytes"),
        )?;
        same_bytes("the writes, concatenated", &writes.concat(), &buf[..n])
    })
}

/// `socket.accept.distinct-connections`.
fn distinct_connections(transport: &Transport, ctx: &super::Ctx) -> Outcome {
    ctx.forall(2usize..6, |&k| {
        let listening = transport.listen()?;
        let clients = (0..k)
            .map(|_| connect(&listening, ctx.timeout))
            .collect::<Result<Vec<_>, _>>()?;
        let mut accepted = Vec::new();
        for _ in 0..k {
            let (conn, _) = listening
                .socket
                .accept()
                .map_err(|e| io_finding("accept", e))?;
            bound(&conn, ctx.timeout)?;
            accepted.push(conn);
        }
        if *transport != Transport::Unix {
            let tuples: std::collections::BTreeSet<String> = accepted
                .iter()
                .map(|c| format!("{} ↔ {}", addr(c.local_addr()), addr(c.peer_addr())))
                .collect();
            ensure(
                tuples.len() == k,
                || format!("{k} accepted sockets with {k} distinct (address, port) pairs"),
                || format!("{} distinct: {tuples:?}", tuples.len()),
            )?;
        }
        // Each client tags its connection; each tag must come out of exactly one accepted socket.
        for (i, client) in clients.iter().enumerate() {
            send_all(client, &[i as u8]).map_err(|e| io_finding("a client's tag", e))?;
        }
        let mut tags = Vec::new();
        for conn in &accepted {
            let mut tag = [0u8; 1];
            (&mut &*conn)
                .read_exact(&mut tag)
                .map_err(|e| io_finding("a client's tag", e))?;
            tags.push(tag[0]);
        }
        tags.sort_unstable();
        ensure(
            tags == (0..k as u8).collect::<Vec<_>>(),
            || format!("each of the {k} clients' bytes on its own accepted socket"),
            || format!("tags read: {tags:?}"),
        )
    })
}

fn addr(a: io::Result<SockAddr>) -> String {
    a.map(|a| describe(&a)).unwrap_or_else(|e| e.to_string())
}

/// `socket.listen.backlog-holds-connections`.
fn backlog_holds_connections(transport: &Transport, ctx: &super::Ctx) -> Outcome {
    ctx.forall(
        vec(
            payload(1024).prop_filter("non-empty", |p| !p.is_empty()),
            2..6,
        ),
        |payloads| {
            let listening = transport.listen()?;
            let mut clients = Vec::new();
            for p in payloads {
                // connect() returns and the data is sent before the server ever calls accept().
                let client = connect(&listening, ctx.timeout)?;
                send_all(&client, p).map_err(|e| io_finding("sending before accept", e))?;
                client
                    .shutdown(Shutdown::Write)
                    .map_err(|e| io_finding("shutdown(SHUT_WR)", e))?;
                clients.push(client);
            }
            for (i, p) in payloads.iter().enumerate() {
                let (conn, _) = listening
                    .socket
                    .accept()
                    .map_err(|e| io_finding("accept", e))?;
                bound(&conn, ctx.timeout)?;
                same_bytes(
                    &format!(
                        "connection {i} (in connect order) carrying what was sent before accept"
                    ),
                    p,
                    &read_to_eof(&conn, "the queued bytes")?,
                )?;
            }
            Ok(())
        },
    )
}

const SOURCE_DETAIL: &str = "Sockets in detail";

/// Every `socket` property, in catalog order.
pub static PROPERTIES: &[Property<Transport>] = &[
    Property {
        meta: Meta {
            id: "socket.stream.ordered-lossless-each-way",
            statement: "Each direction of a connection delivers every byte in order, independently of the other, even when both directions carry data at once.",
            source: SOURCE_DETAIL,
            profile: Profile::Socket,
            scope: Scope::All,
        },
        check: ordered_lossless_each_way,
    },
    Property {
        meta: Meta {
            id: "socket.shutdown.peer-reads-eof-then-replies",
            statement: "After one side shuts down its sending half, the peer reads all data then EOF, and can still send back to it.",
            source: "Sockets Creation",
            profile: Profile::Socket,
            scope: Scope::All,
        },
        check: peer_reads_eof_then_replies,
    },
    Property {
        meta: Meta {
            id: "socket.write.epipe-after-peer-closed",
            statement: "Writing to a connection whose peer has closed fails with EPIPE, at the latest once the peer's reset has arrived.",
            source: SOURCE_DETAIL,
            profile: Profile::Socket,
            scope: Scope::All,
        },
        check: epipe_after_peer_closed,
    },
    Property {
        meta: Meta {
            id: "socket.write.sigpipe-after-peer-closed",
            statement: "Under the default SIGPIPE disposition, a process that keeps writing to a connection whose peer has closed is killed by SIGPIPE.",
            source: SOURCE_DETAIL,
            profile: Profile::Socket,
            scope: Scope::All,
        },
        check: sigpipe_after_peer_closed,
    },
    Property {
        meta: Meta {
            id: "socket.stream.no-message-boundaries",
            statement: "A stream keeps no message boundaries: once several writes are queued, one read returns the bytes of more than one write.",
            source: SOURCE_DETAIL,
            profile: Profile::Socket,
            scope: Scope::All,
        },
        check: no_message_boundaries,
    },
    Property {
        meta: Meta {
            id: "socket.accept.distinct-connections",
            statement: "Each accept returns a new socket for a distinct connection, with its own 5-tuple.",
            source: "Connection Setup over TCP/IP",
            profile: Profile::Socket,
            scope: Scope::Only(LISTENING),
        },
        check: distinct_connections,
    },
    Property {
        meta: Meta {
            id: "socket.listen.backlog-holds-connections",
            statement: "Connections complete and queue their data in the listen backlog before any accept, and accept returns them in the order they connected.",
            source: "Connection Setup over TCP/IP",
            profile: Profile::Socket,
            scope: Scope::Only(LISTENING),
        },
        check: backlog_holds_connections,
    },
];

/// The kernel's suites: one per transport.
///
/// A machine without IPv6 loopback has no `tcp6` suite at all: that is the
/// machine's limit, not the kernel's, so nothing is checked or skipped there.
pub fn reference_suites() -> Vec<Suite> {
    TRANSPORTS
        .iter()
        .filter(|&&t| t != Transport::Tcp6 || ipv6_loopback())
        .map(|&t| {
            Suite::new(
                Profile::Socket,
                t.label(),
                None,
                Some(t.label()),
                PROPERTIES,
                Arc::new(t),
            )
        })
        .collect()
}

/// Whether `::1` can be bound here.
fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}
