//! Properties of the `socket` profile: what stream sockets guarantee,
//! written once against [`StreamImpl`] and checked on the kernel (the
//! oracle) over a socketpair, TCP loopback on IPv4 and IPv6, and a Unix
//! socket — and, in the kill matrix, on broken implementations.
//!
//! Every stream a check makes gives up any blocking call after
//! `ctx.timeout`, so every wait is bounded: a call that runs out is a hang,
//! never a wait forever. (Unlike a pipe, a TCP connection moves on kernel
//! timers too, so a socket wait is not cut short because every thread
//! sleeps.) "All bytes queued" is observed with a non-blocking `MSG_PEEK`,
//! and "the peer's reset has arrived" by the connection leaving
//! `/proc/net/tcp`, never assumed after a sleep.
//!
//! The properties are split by what they are about: `bytes` (the
//! stream), `closed` (writing to a closed peer), `listen` (the
//! listening socket); `stream` is the interface and the kernel's side of it.
//!
//! # References
//! - [socketpair(2)](https://man7.org/linux/man-pages/man2/socketpair.2.html), [shutdown(2)](https://man7.org/linux/man-pages/man2/shutdown.2.html)
//! - [send(2)](https://man7.org/linux/man-pages/man2/send.2.html) (`MSG_NOSIGNAL`, `EPIPE`), [recv(2)](https://man7.org/linux/man-pages/man2/recv.2.html) (`MSG_PEEK`, `MSG_DONTWAIT`)
//! - [accept(2)](https://man7.org/linux/man-pages/man2/accept.2.html), [listen(2)](https://man7.org/linux/man-pages/man2/listen.2.html), [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html)
//! - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html) (`/proc/<pid>/io`, `/proc/net/tcp`)

mod bytes;
mod closed;
mod listen;
mod stream;

use std::io;
use std::sync::Arc;

use super::{ensure, Ctx, Finding, Meta, Outcome, Profile, Property, Scope, Suite};
use crate::target::TargetError;
use crate::workload::socket::pieces;

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
        check: bytes::ordered_lossless_each_way,
    },
    Property {
        meta: Meta {
            id: "socket.shutdown.peer-reads-eof-then-replies",
            statement: "After one side shuts down its sending half, the peer reads all data then EOF, and can still send back to it.",
            source: "beyond the lecture: shutdown(2)",
            profile: Profile::Socket,
            scope: Scope::All,
        },
        check: bytes::peer_reads_eof_then_replies,
    },
    Property {
        meta: Meta {
            id: "socket.write.epipe-after-peer-closed",
            statement: "Writing to a connection whose peer has closed fails with EPIPE, at the latest once the peer's reset has arrived.",
            source: "beyond the lecture: send(2) (EPIPE; the lecture states it for pipes only)",
            profile: Profile::Socket,
            scope: Scope::All,
        },
        check: closed::epipe_after_peer_closed,
    },
    Property {
        meta: Meta {
            id: "socket.write.sigpipe-after-peer-closed",
            statement: "Under the default SIGPIPE disposition, a process that keeps writing to a connection whose peer has closed is killed by SIGPIPE.",
            source: "beyond the lecture: send(2) (SIGPIPE; the lecture states it for pipes only)",
            profile: Profile::Socket,
            scope: Scope::All,
        },
        check: closed::sigpipe_after_peer_closed,
    },
    Property {
        meta: Meta {
            id: "socket.stream.no-message-boundaries",
            statement: "A stream keeps no message boundaries: once several writes are queued, one read returns the bytes of more than one write.",
            source: SOURCE_DETAIL,
            profile: Profile::Socket,
            scope: Scope::All,
        },
        check: bytes::no_message_boundaries,
    },
    Property {
        meta: Meta {
            id: "socket.accept.distinct-connections",
            statement: "Each accept returns a new socket for a distinct connection, with its own 5-tuple.",
            source: "Connection Setup over TCP/IP",
            profile: Profile::Socket,
            scope: Scope::Only(LISTENING),
        },
        check: listen::distinct_connections,
    },
    Property {
        meta: Meta {
            id: "socket.listen.backlog-holds-connections",
            statement: "Connections complete and queue their data in the listen backlog before any accept, and accept returns them in the order they connected.",
            source: "beyond the lecture: listen(2) (the backlog)",
            profile: Profile::Socket,
            scope: Scope::Only(LISTENING),
        },
        check: listen::backlog_holds_connections,
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
pub(crate) fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind((std::net::Ipv6Addr::LOCALHOST, 0)).is_ok()
}
