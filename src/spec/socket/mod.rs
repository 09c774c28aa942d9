//! Properties of the `socket` profile: what stream sockets guarantee,
//! written once against [`StreamImpl`] and checked on the kernel (the
//! oracle) over a socketpair, TCP loopback on IPv4 and IPv6, and a Unix
//! socket — and, in the kill matrix, on broken implementations.
//!
//! Every stream a check makes gives up any blocking call after
//! `ctx.timeout`, so every wait is bounded: a call that runs out is a hang,
//! never a wait forever; a wait whose end nothing can bring ends at once,
//! as a hang (see `op`). "All bytes queued" is observed with a non-blocking
//! `MSG_PEEK`, and "the peer's reset has arrived" by the connection leaving
//! `/proc/net/tcp`, never assumed after a sleep.
//!
//! # References
//! - [socketpair(2)](https://man7.org/linux/man-pages/man2/socketpair.2.html), [shutdown(2)](https://man7.org/linux/man-pages/man2/shutdown.2.html)
//! - [send(2)](https://man7.org/linux/man-pages/man2/send.2.html) (`MSG_NOSIGNAL`, `EPIPE`), [recv(2)](https://man7.org/linux/man-pages/man2/recv.2.html) (`MSG_PEEK`, `MSG_DONTWAIT`)
//! - [accept(2)](https://man7.org/linux/man-pages/man2/accept.2.html), [listen(2)](https://man7.org/linux/man-pages/man2/listen.2.html), [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html)
//! - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html) (`/proc/<pid>/io`, `/proc/net/tcp`)
#![allow(unsafe_code)] // The SIGPIPE check forks; the child's only calls are named at the fork.

mod stream;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::ForkResult;
use proptest::collection::vec;
use proptest::prelude::*;
use socket2::SockRef;

use super::diff::same_bytes;
use super::op::{wait_child, Ended, Kept, Op, Wakers};
use super::{ensure, Ctx, Failure, Finding, Meta, Outcome, Profile, Property, Scope, Suite};
use crate::reference::socket::describe;
use crate::sys::{self, SigpipeDisposition};
use crate::target::{observe, TargetError};
use crate::workload::socket::{chunking, payload, pieces};

pub use stream::{Listener, Listening, Pair, Stream, StreamImpl, Transport, TRANSPORTS};

/// The transports that have a listening socket (all but the socketpair).
const LISTENING: &[&str] = &["tcp4", "tcp6", "unix"];

fn setup(what: &str, e: io::Error) -> Finding {
    Finding::Broken(TargetError::setup(what, e))
}

/// An I/O error as a finding: a timeout is a hang, anything else a violation.
fn io_finding(what: &str, e: io::Error) -> Finding {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Finding::hung(what, ""),
        _ => Finding::violated(what, format!("the call failed: {e}")),
    }
}

/// Two connected streams of `sockets`.
fn connected(sockets: &dyn StreamImpl, ctx: &Ctx) -> Result<Pair, Finding> {
    sockets
        .connected(ctx.timeout)
        .map_err(|e| io_finding("two connected streams", e))
}

/// A listener of `sockets`.
fn listener(sockets: &dyn StreamImpl, ctx: &Ctx) -> Result<Box<dyn Listener>, Finding> {
    sockets
        .listener(ctx.timeout)
        .map_err(|e| setup("a listening socket", e))
}

/// Reads until end-of-file, or until `due` bytes came when `due` is given;
/// a timeout or error is a finding about `what`.
fn read_until(stream: &mut dyn Stream, due: Option<usize>, what: &str) -> Result<Vec<u8>, Finding> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while due.is_none_or(|due| all.len() < due) {
        let ask = due.map_or(buf.len(), |due| (due - all.len()).min(buf.len()));
        match stream.read(&mut buf[..ask]) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(io_finding(
                    &format!("{what} ({} bytes so far)", all.len()),
                    e,
                ))
            }
        }
    }
    Ok(all)
}

/// Reads until end-of-file.
fn read_to_eof(stream: &mut dyn Stream, what: &str) -> Result<Vec<u8>, Finding> {
    read_until(stream, None, what)
}

/// Sends `bytes` in pieces of the sizes `chunks` gives, in turn.
fn send(stream: &mut dyn Stream, bytes: &[u8], chunks: &[usize], what: &str) -> Outcome {
    pieces(bytes, chunks)
        .try_for_each(|piece| stream.write_all(piece).map_err(|e| io_finding(what, e)))
}

/// Sends `bytes` in `chunks`, then half-closes.
fn send_then_shut(stream: &mut dyn Stream, bytes: &[u8], chunks: &[usize], what: &str) -> Outcome {
    send(stream, bytes, chunks, what)?;
    stream
        .shutdown_write()
        .map_err(|e| io_finding("shutdown(SHUT_WR)", e))
}

/// Checks that `stream`, whose peer has shut down after everything was
/// read, reads end-of-file: nothing duplicated or invented after it.
fn nothing_more(stream: &mut dyn Stream, after: &str) -> Outcome {
    let mut buf = [0u8; 64];
    let n = stream
        .read(&mut buf)
        .map_err(|e| io_finding(&format!("end-of-file after {after}"), e))?;
    ensure(
        n == 0,
        || format!("end-of-file after {after}"),
        || format!("{n} more bytes: {}", super::diff::window(&buf[..n], 0)),
    )
}

/// What one end of a connection got, and the end itself.
type Side = (Kept<Box<dyn Stream>>, Result<Vec<u8>, Finding>);

/// One end's part in a two-way transfer, on its own thread: a second handle
/// sends `bytes` in `chunks` while this one reads the `due` bytes the other
/// end sends (or until end-of-file); once both are done, and only then, the
/// end shuts down its sending half. So neither end half-closes while bytes
/// are still on their way to it, and an end whose bytes went missing is
/// freed by the other end's half-close.
fn side(
    name: &'static str,
    stream: Box<dyn Stream>,
    bytes: Vec<u8>,
    chunks: Vec<usize>,
    due: usize,
) -> Result<Op<Side>, Finding> {
    Op::spawn(format!("end {name}"), move || {
        let mut stream = stream;
        let part = || -> Result<Vec<u8>, Finding> {
            let mut sender = stream
                .try_clone()
                .map_err(|e| setup("dup of a stream", e))?;
            let writer = std::thread::spawn(move || {
                send(
                    &mut *sender,
                    &bytes,
                    &chunks,
                    &format!("sending from end {name}"),
                )
            });
            let got = read_until(
                &mut *stream,
                Some(due),
                &format!("the bytes due to end {name}"),
            )?;
            writer
                .join()
                .unwrap_or_else(|_| Err(Finding::violated("the sender", "its thread panicked")))?;
            stream
                .shutdown_write()
                .map_err(|e| io_finding("shutdown(SHUT_WR)", e))?;
            Ok(got)
        };
        let got = part();
        (Kept(stream), got)
    })
}

/// `socket.stream.ordered-lossless-each-way`: each direction is its own
/// lossless, ordered byte queue, and both run at once without deadlock.
fn ordered_lossless_each_way(sockets: &dyn StreamImpl, ctx: &Ctx) -> Outcome {
    let strategy = (
        payload(256 * 1024),
        chunking(),
        payload(256 * 1024),
        chunking(),
    );
    ctx.forall(strategy, |(ab, ab_chunks, ba, ba_chunks)| {
        let (a, b) = connected(sockets, ctx)?;
        let side_a = side("a", a, ab.to_vec(), ab_chunks.clone(), ba.len())?;
        let side_b = side("b", b, ba.to_vec(), ba_chunks.clone(), ab.len())?;
        // TCP moves on its timers too: only the bound can tell these waits are hung.
        let (Kept(mut a), at_a) = side_a.finish_with(
            "the bytes b sent, then its half-close",
            ctx.timeout,
            Wakers::Kernel,
        )?;
        let (Kept(mut b), at_b) = side_b.finish_with(
            "the bytes a sent, then its half-close",
            ctx.timeout,
            Wakers::Kernel,
        )?;
        same_bytes("bytes a→b", ab, &at_b?)?;
        same_bytes("bytes b→a", ba, &at_a?)?;
        nothing_more(&mut *b, "every byte a sent, a half-closed")?;
        nothing_more(&mut *a, "every byte b sent, b half-closed")
    })
}

/// `socket.shutdown.peer-reads-eof-then-replies`.
fn peer_reads_eof_then_replies(sockets: &dyn StreamImpl, ctx: &Ctx) -> Outcome {
    ctx.forall(
        (payload(16 * 1024), payload(16 * 1024)),
        |(request, reply)| {
            let (mut a, mut b) = connected(sockets, ctx)?;
            send_then_shut(&mut *a, request, &[], "sending the request")?;
            same_bytes(
                "the request, then EOF",
                request,
                &read_to_eof(&mut *b, "EOF after shutdown(SHUT_WR)")?,
            )?;
            send_then_shut(&mut *b, reply, &[], "replying after reading EOF")?;
            drop(b);
            same_bytes(
                "the reply to the half-closed side",
                reply,
                &read_to_eof(&mut *a, "the reply, then EOF")?,
            )
        },
    )
}

/// How to tell that a closed peer's reset has come back to a TCP end:
/// the connection leaves `/proc/net/tcp` once the reset closes it. A Unix
/// end, or one in user space, learns of its peer's close at once.
enum Reset {
    /// The connection's addresses, as `/proc/net/tcp{,6}` lists it.
    Tcp { local: SocketAddr, peer: SocketAddr },
    /// Nothing to wait for.
    Immediate,
}

impl Reset {
    /// For the connection behind `stream`; call it while the peer is still there.
    fn of(stream: &dyn Stream) -> Reset {
        let inet = stream.as_fd().and_then(|fd| {
            let socket = SockRef::from(&fd);
            Some((
                socket.local_addr().ok()?.as_socket()?,
                socket.peer_addr().ok()?.as_socket()?,
            ))
        });
        match inet {
            Some((local, peer)) => Reset::Tcp { local, peer },
            None => Reset::Immediate,
        }
    }

    /// Whether the peer's close has fully arrived.
    fn arrived(&self) -> bool {
        match self {
            Reset::Tcp { local, peer } => observe::tcp_unread(*local, *peer).is_none(),
            Reset::Immediate => true,
        }
    }

    /// Whether the connection is still open at both ends (TCP state
    /// `ESTABLISHED`): its peer has not even begun to close.
    fn established(&self) -> bool {
        let Reset::Tcp { local, peer } = self else {
            return false;
        };
        observe::tcp_sockets().iter().any(|e| {
            e.local_address == *local
                && e.remote_address == *peer
                && e.state == procfs::net::TcpState::Established
        })
    }
}

/// Writes one may still make after the peer's reset arrived before a write
/// must fail: the one that reports the reset itself (`ECONNRESET`), then
/// the one that finds the connection gone.
const WRITES_AFTER_RESET: usize = 2;

/// `socket.write.epipe-after-peer-closed`: writes after the peer closed;
/// once its reset has arrived (at once for Unix), within
/// [`WRITES_AFTER_RESET`] writes, one must fail with `EPIPE`.
fn epipe_after_peer_closed(sockets: &dyn StreamImpl, ctx: &Ctx) -> Outcome {
    let (mut a, b) = connected(sockets, ctx)?;
    let reset = Reset::of(&*a);
    drop(b);
    let deadline = Instant::now() + ctx.timeout;
    let (mut seen, mut after_reset) = (Vec::new(), 0);
    loop {
        let arrived = reset.arrived();
        match a.write(b"x") {
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => return Ok(()),
            Ok(_) => seen.push("ok".to_string()),
            Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => seen.push("ECONNRESET".into()),
            Err(e) => seen.push(e.to_string()),
        }
        if arrived {
            after_reset += 1;
            if after_reset > WRITES_AFTER_RESET {
                return Err(Finding::violated(
                    "a write to fail with EPIPE, at the latest once the peer's reset has arrived",
                    format!(
                        "{} writes, {after_reset} of them after the reset, none EPIPE: {}",
                        seen.len(),
                        summarize(&seen)
                    ),
                ));
            }
        } else if Instant::now() >= deadline {
            return Err(Finding::hung(
                format!(
                    "the peer's reset to arrive ({} writes: {})",
                    seen.len(),
                    summarize(&seen)
                ),
                "",
            ));
        } else {
            // Pacing only: the reset is awaited by looking at /proc/net/tcp.
            std::thread::sleep(Duration::from_millis(1));
        }
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

/// How the forked writer ends when a write fails otherwise than by the
/// reset being reported (`ECONNRESET`) or by `SIGPIPE`.
const EXIT_OTHER: i32 = 4;

/// `socket.write.sigpipe-after-peer-closed`: under the default disposition
/// a forked child writes on a connection whose peer has closed, until a
/// write fails; it must be killed by `SIGPIPE` within
/// [`WRITES_AFTER_RESET`] writes of the reset's arrival (counted in its
/// `/proc/<pid>/io`).
fn sigpipe_after_peer_closed(sockets: &dyn StreamImpl, ctx: &Ctx) -> Outcome {
    // One such fork at a time: a child forked by a concurrent check must not
    // inherit (and so keep open) the peer this check has just closed.
    static FORK: Mutex<()> = Mutex::new(());
    let _one_at_a_time = FORK.lock().unwrap_or_else(|e| e.into_inner());
    let expected = "the writer to be killed by SIGPIPE (default disposition) once the peer is gone";
    let (a, b) = connected(sockets, ctx)?;
    let Some(fd) = a.as_fd().map(|fd| fd.as_raw_fd()) else {
        return Err(Finding::violated(
            "a kernel descriptor behind the stream (the implementation declares kernel descriptors)",
            "Stream::as_fd returned None",
        ));
    };
    let reset = Reset::of(&*a);
    drop(b);
    let fd = fd as libc::c_uint;
    // Prepared before the fork: the child must not allocate.
    let block = [b'x'; 4096];
    // SAFETY: the child only calls close_range, sigaction (set_sigpipe), write
    // and _exit, all async-signal-safe, on data that exists before the fork.
    let child = match unsafe { sys::fork() }.map_err(|e| setup("fork", e.into()))? {
        ForkResult::Child => {
            // SAFETY: close_range(2) only closes descriptors; none but `fd` is used
            // from here on, and dropping none of them runs code in this child.
            unsafe {
                libc::close_range(3, fd - 1, 0);
                libc::close_range(fd + 1, libc::c_uint::MAX, 0);
            }
            let code = if sys::set_sigpipe(SigpipeDisposition::Default).is_err() {
                EXIT_OTHER
            } else {
                loop {
                    // SAFETY: `fd` stays open in this child, and `block` outlives the call.
                    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd as i32) };
                    match nix::unistd::write(fd, &block) {
                        Ok(_) | Err(nix::errno::Errno::ECONNRESET | nix::errno::Errno::EINTR) => {}
                        Err(_) => break EXIT_OTHER,
                    }
                }
            };
            // SAFETY: _exit(2) is async-signal-safe and runs none of the parent's exit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(a);
    let mut since_reset: Option<u64> = None;
    let ended = wait_child(child, ctx.timeout, expected, Wakers::Kernel, || {
        // A write on a connection whose peer has closed never waits for room:
        // asleep in it, on a connection still open at both ends, the writer
        // was given a descriptor whose peer is alive.
        if reset.established() {
            if let Ok(threads) = observe::quiescent(&[child]) {
                return Some(Finding::Violated(Failure {
                    expected: expected.into(),
                    observed: "it sleeps in a write on a connection still open at both ends (TCP state ESTABLISHED): the peer of the descriptor it was given never closed".into(),
                    threads: Some(observe::describe(&threads)),
                    ..Failure::default()
                }));
            }
        }
        if since_reset.is_none() && reset.arrived() {
            since_reset = observe::io(child).map(|io| io.syscw);
        }
        let writes = observe::io(child)?.syscw - since_reset?;
        (writes > WRITES_AFTER_RESET as u64).then(|| {
            Finding::violated(
                expected,
                format!(
                    "{writes} writes after the peer's reset had arrived, and it is still alive"
                ),
            )
        })
    })?;
    ensure(
        ended == Ended::Signaled(Signal::SIGPIPE),
        || expected.into(),
        || match ended {
            Ended::Exited(EXIT_OTHER) => {
                "a write failed with an error other than ECONNRESET, without SIGPIPE".into()
            }
            Ended::Exited(code) => format!("it exited with status {code}"),
            Ended::Signaled(signal) => format!("killed by {}", signal.as_str()),
        },
    )
}

/// Waits until `stream` has `total` bytes queued (a non-blocking peek),
/// at most `bound`.
fn wait_queued(stream: &dyn Stream, total: usize, bound: Duration) -> Result<(), Finding> {
    let deadline = Instant::now() + bound;
    loop {
        let queued = stream.queued(total + 1).unwrap_or(0);
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
fn no_message_boundaries(sockets: &dyn StreamImpl, ctx: &Ctx) -> Outcome {
    ctx.forall(vec(vec(any::<u8>(), 1..512), 2..8), |writes| {
        let (mut a, mut b) = connected(sockets, ctx)?;
        for write in writes {
            a.write_all(write).map_err(|e| io_finding("a small write", e))?;
        }
        let total: usize = writes.iter().map(Vec::len).sum();
        wait_queued(&*b, total, ctx.timeout)?;
        let mut buf = vec![0u8; total + 1];
        let n = b.read(&mut buf).map_err(|e| io_finding("one read", e))?;
        let largest = writes.iter().map(Vec::len).max().unwrap_or(0);
        ensure(
            n == total && n > largest,
            || format!("one read to return all {total} bytes of {} writes (none larger than {largest})", writes.len()),
            || format!("it returned {n} bytes"),
        )?;
        same_bytes("the writes, concatenated", &writes.concat(), &buf[..n])
    })
}

/// `local ↔ peer` of a kernel stream, as people write addresses.
fn tuple(stream: &dyn Stream) -> Option<String> {
    let fd = stream.as_fd()?;
    let socket = SockRef::from(&fd);
    let addr = |a: io::Result<socket2::SockAddr>| {
        a.map(|a| describe(&a)).unwrap_or_else(|e| e.to_string())
    };
    Some(format!(
        "{} ↔ {}",
        addr(socket.local_addr()),
        addr(socket.peer_addr())
    ))
}

/// `socket.accept.distinct-connections`.
fn distinct_connections(sockets: &dyn StreamImpl, ctx: &Ctx) -> Outcome {
    ctx.forall(2usize..6, |&k| {
        let listening = listener(sockets, ctx)?;
        let mut clients = (0..k)
            .map(|_| {
                listening
                    .connect()
                    .map_err(|e| io_finding("connect to return", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut accepted = Vec::new();
        for _ in 0..k {
            accepted.push(listening.accept().map_err(|e| io_finding("accept", e))?);
        }
        // Unix peers are unnamed: only TCP connections have a 5-tuple to compare.
        if sockets.kind() != "unix" {
            if let Some(tuples) = accepted
                .iter()
                .map(|c| tuple(&**c))
                .collect::<Option<std::collections::BTreeSet<String>>>()
            {
                ensure(
                    tuples.len() == k,
                    || format!("{k} accepted sockets with {k} distinct (address, port) pairs"),
                    || format!("{} distinct: {tuples:?}", tuples.len()),
                )?;
            }
        }
        // Each client tags its connection; each tag must come out of exactly one accepted socket.
        for (i, client) in clients.iter_mut().enumerate() {
            client
                .write_all(&[i as u8])
                .map_err(|e| io_finding("a client's tag", e))?;
        }
        let mut tags = Vec::new();
        for conn in &mut accepted {
            let mut tag = [0u8; 1];
            conn.read_exact(&mut tag)
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

/// `socket.listen.backlog-holds-connections`.
fn backlog_holds_connections(sockets: &dyn StreamImpl, ctx: &Ctx) -> Outcome {
    ctx.forall(
        vec(
            payload(1024).prop_filter("non-empty", |p| !p.is_empty()),
            2..6,
        ),
        |payloads| {
            let listening = listener(sockets, ctx)?;
            let mut clients = Vec::new();
            for p in payloads {
                // connect() returns and the data is sent before the server ever calls accept().
                let mut client = listening
                    .connect()
                    .map_err(|e| io_finding("connect to return", e))?;
                send_then_shut(&mut *client, p, &[], "sending before accept")?;
                clients.push(client);
            }
            for (i, p) in payloads.iter().enumerate() {
                let mut conn = listening.accept().map_err(|e| io_finding("accept", e))?;
                same_bytes(
                    &format!(
                        "connection {i} (in connect order) carrying what was sent before accept"
                    ),
                    p,
                    &read_to_eof(&mut *conn, "the queued bytes")?,
                )?;
            }
            Ok(())
        },
    )
}

const SOURCE_DETAIL: &str = "Sockets in detail";

/// Every `socket` property, in catalog order.
pub static PROPERTIES: &[Property<dyn StreamImpl>] = &[
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
            source: "beyond the lecture: shutdown(2)",
            profile: Profile::Socket,
            scope: Scope::All,
        },
        check: peer_reads_eof_then_replies,
    },
    Property {
        meta: Meta {
            id: "socket.write.epipe-after-peer-closed",
            statement: "Writing to a connection whose peer has closed fails with EPIPE, at the latest once the peer's reset has arrived.",
            source: "beyond the lecture: send(2) (EPIPE; the lecture states it for pipes only)",
            profile: Profile::Socket,
            scope: Scope::All,
        },
        check: epipe_after_peer_closed,
    },
    Property {
        meta: Meta {
            id: "socket.write.sigpipe-after-peer-closed",
            statement: "Under the default SIGPIPE disposition, a process that keeps writing to a connection whose peer has closed is killed by SIGPIPE.",
            source: "beyond the lecture: send(2) (SIGPIPE; the lecture states it for pipes only)",
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
            source: "beyond the lecture: listen(2) (the backlog)",
            profile: Profile::Socket,
            scope: Scope::Only(LISTENING),
        },
        check: backlog_holds_connections,
    },
];

/// `socket`'s suite on any stream implementation; `label` names it in reports.
pub fn suite(label: impl Into<String>, sockets: Arc<dyn StreamImpl>) -> Suite {
    let kind = sockets.kind();
    let kernel = sockets.kernel_descriptors();
    let suite = Suite::new(
        Profile::Socket,
        label,
        None,
        Some(kind),
        PROPERTIES,
        sockets,
    );
    if kernel {
        suite
    } else {
        suite.not_applicable(
            "socket.write.sigpipe-after-peer-closed",
            "streams without kernel descriptors raise no signal; socket.write.epipe-after-peer-closed checks their EPIPE",
        )
    }
}

/// The kernel's suites: one per transport.
///
/// A machine without IPv6 loopback has no `tcp6` suite at all: that is the
/// machine's limit, not the kernel's, so nothing is checked or skipped there.
pub fn reference_suites() -> Vec<Suite> {
    TRANSPORTS
        .iter()
        .filter(|&&t| t != Transport::Tcp6 || ipv6_loopback())
        .map(|&t| suite(t.label(), Arc::new(t)))
        .collect()
}

/// Whether `::1` can be bound here.
fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind((std::net::Ipv6Addr::LOCALHOST, 0)).is_ok()
}
