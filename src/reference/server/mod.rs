//! The reference servers, one per variant the lecture builds up to:
//! `sequential` (v1), `fork-wait` (v2), `fork` (the concurrent server),
//! `thread` (a thread per connection) and `pool:N` (the thread pool), and
//! `event-loop` (one thread serving every connection from a `poll` loop).
//!
//! A variant says how connections are accepted and spread; a [`Service`] says
//! what is done with each one, and every variant serves every service:
//! - [`Service::Echo`] echoes each connection byte for byte — binary data and
//!   NUL bytes included, unlike the lecture's `strlen` — until the client
//!   half-closes, then closes its end;
//! - [`Service::Http`] answers one HTTP request per connection from a
//!   document root ([`super::http`], the lecture's "Appendix: A web server").
//!
//! Guarantees shared by all variants and services:
//! - short reads and writes are resumed, `EINTR` is retried;
//! - `SIGPIPE` never kills a server: every reply is sent with `MSG_NOSIGNAL`
//!   (a vanished client turns into an `EPIPE`/`ECONNRESET` error that ends that
//!   connection only), and [`serve`] also sets the disposition to ignored, so
//!   the forked children inherit "ignored" explicitly too;
//! - out of descriptors (`EMFILE`), accepting backs off 10 ms instead of
//!   spinning or exiting, so the server serves again once clients leave;
//! - one line `listening on ADDR` goes to stderr once the socket listens.
//!
//! # References
//! - [recv(2)](https://man7.org/linux/man-pages/man2/recv.2.html), [send(2)](https://man7.org/linux/man-pages/man2/send.2.html) (`MSG_NOSIGNAL`)
//! - [shutdown(2)](https://man7.org/linux/man-pages/man2/shutdown.2.html)

mod event_loop;
mod fork;
mod threads;

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;
use std::sync::Arc;

use nix::errno::Errno;
use socket2::Socket;

use super::http::{self, DocumentRoot};
use super::socket;
use crate::sys::{self, SigpipeDisposition};
use crate::target::net::{send_all, Endpoint};

/// How a server serves concurrent connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// v1: accept, serve, close, repeat; one connection at a time.
    Sequential,
    /// v2: a child process per connection; the parent waits for it before accepting again.
    ForkWait,
    /// A child process per connection; `SIGCHLD` ignored, the parent accepts again at once.
    Fork,
    /// A thread per connection.
    Thread,
    /// This many worker threads fed by a bounded queue of accepted connections.
    Pool(usize),
    /// One thread serving every connection: it waits for any of them, and
    /// for new ones, in one readiness call, and never blocks on one client.
    EventLoop,
}

/// The values [`Variant::from_str`] accepts, for error messages and help.
pub const ACCEPTED: &str = "sequential, fork-wait, fork, thread, pool:N (N >= 1), event-loop";

/// Why a variant name was refused.
#[derive(Debug, thiserror::Error)]
#[error("unknown server variant `{0}`; expected one of: {ACCEPTED}")]
pub struct UnknownVariant(pub String);

impl FromStr for Variant {
    type Err = UnknownVariant;

    fn from_str(text: &str) -> Result<Variant, UnknownVariant> {
        match text {
            "sequential" => Ok(Variant::Sequential),
            "fork-wait" => Ok(Variant::ForkWait),
            "fork" => Ok(Variant::Fork),
            "thread" => Ok(Variant::Thread),
            "event-loop" => Ok(Variant::EventLoop),
            _ => text
                .strip_prefix("pool:")
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n >= 1)
                .map(Variant::Pool)
                .ok_or_else(|| UnknownVariant(text.to_string())),
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Variant::Pool(n) => write!(f, "pool:{n}"),
            other => f.write_str(other.kind()),
        }
    }
}

impl Variant {
    /// The variant's kind, as [`crate::spec::Scope::Only`] names it: `pool` for `pool:4`.
    pub fn kind(&self) -> &'static str {
        match self {
            Variant::Sequential => "sequential",
            Variant::ForkWait => "fork-wait",
            Variant::Fork => "fork",
            Variant::Thread => "thread",
            Variant::Pool(_) => "pool",
            Variant::EventLoop => "event-loop",
        }
    }
}

/// What a server does with each connection it accepts.
#[derive(Clone, Debug)]
pub enum Service {
    /// Echo every byte back until the client half-closes ([`echo`]).
    Echo,
    /// Answer one HTTP request from this document root ([`http::respond`]).
    Http(DocumentRoot),
}

impl Service {
    /// `connection()`—serves one accepted connection to its end; an error
    /// means the client went away, which ends this connection only.
    ///
    /// The forking variants call it in a child forked from the
    /// single-threaded `serve` process, where allocating is safe.
    pub fn connection(&self, conn: &Socket) -> io::Result<()> {
        match self {
            Service::Echo => echo(conn),
            Service::Http(root) => http::respond(conn, root),
        }
    }
}

/// `serve()`—listens on `endpoint`, says so on stderr, and serves `service`
/// forever as `variant` does.
///
/// Returns only on an error that stops the server: it cannot listen, or
/// `accept` fails for a reason other than an interrupted call, an aborted
/// connection or a lack of descriptors (see [`accept`]).
pub fn serve(variant: Variant, service: Service, endpoint: &Endpoint) -> io::Result<()> {
    sys::set_sigpipe(SigpipeDisposition::Ignore).map_err(io::Error::from)?;
    let listener = socket::listen(endpoint)?;
    eprintln!("listening on {}", socket::describe(&listener.local_addr()?));
    match variant {
        Variant::Sequential => loop {
            let conn = accept(&listener)?;
            // A client that vanishes ends its own connection, not the server.
            let _ = service.connection(&conn);
        },
        Variant::ForkWait => fork::serve(&listener, &service, fork::Reaping::WaitForEach),
        Variant::Fork => fork::serve(&listener, &service, fork::Reaping::IgnoreSigchld),
        Variant::Thread => threads::per_connection(&listener, Arc::new(service)),
        Variant::Pool(workers) => threads::pool(&listener, Arc::new(service), workers),
        Variant::EventLoop => event_loop::serve(&listener, &service),
    }
}

/// How long [`accept`] backs off when the server is out of descriptors.
const OUT_OF_DESCRIPTORS_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// `accept()`, retried when a signal interrupts it or a client gave up
/// before it was accepted, and after a pause of
/// [`OUT_OF_DESCRIPTORS_PAUSE`] when the server is out of descriptors or
/// kernel memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`): the client then
/// stays in the backlog and the listener readable, so retrying at once
/// would spin until another client leaves, and giving up would end the
/// server.
///
/// # References
/// - [accept(2)](https://man7.org/linux/man-pages/man2/accept.2.html): the errors
fn accept(listener: &Socket) -> io::Result<Socket> {
    loop {
        match listener.accept() {
            Ok((conn, _)) => return Ok(conn),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                ) => {}
            Err(e)
                if matches!(
                    Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                    Errno::EMFILE | Errno::ENFILE | Errno::ENOBUFS | Errno::ENOMEM
                ) =>
            {
                std::thread::sleep(OUT_OF_DESCRIPTORS_PAUSE);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Bytes moved per read once a connection streams. A read takes what is
/// queued up to this, so the larger it is, the fewer calls and wake-ups a
/// stream costs: the thread server streamed one connection at 0.96 of
/// Python's `socketserver` rate through 64 KiB (which Python's `recv`
/// asks for too), at 1.15 through 256 KiB (`cargo bench --bench compare`,
/// 15 rounds). An eighth of a [`crate::sys::spawn_detached`] thread's stack.
const STREAM_CHUNK: usize = 256 * 1024;

/// Bytes moved per read until a read fills them: one page. A buffer on the
/// stack is touched page by page when its frame is entered (stack probes),
/// and every connection's thread or child starts on fresh stack pages, so a
/// short connection served through [`STREAM_CHUNK`] would pay 64 page
/// faults where C's usual 4 KiB buffer pays one (through 64 KiB, sixteen
/// cost a fifth of the thread server's connection rate against C's).
const FIRST_CHUNK: usize = 4 * 1024;

/// `echo()`—sends back every byte `conn` receives, in order, until the peer
/// half-closes; then shuts down the sending side so the peer reads EOF.
///
/// Reads [`FIRST_CHUNK`] at a time, and [`STREAM_CHUNK`] from the first
/// read that fills it on. Allocates nothing and takes no lock (only `recv`,
/// `send`, `shutdown`), so a child forked from a multi-threaded process may
/// call it.
pub fn echo(conn: &Socket) -> io::Result<()> {
    if echo_through::<FIRST_CHUNK>(conn, Echoed::Filled)? == Echoed::Filled {
        echo_through::<STREAM_CHUNK>(conn, Echoed::Eof)?;
    }
    conn.shutdown(std::net::Shutdown::Write)
}

/// Where [`echo_through`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Echoed {
    /// The peer half-closed.
    Eof,
    /// A read filled the buffer.
    Filled,
}

/// Echoes through a buffer of `N` bytes until the peer half-closes, or
/// until a read fills the buffer if `until` is [`Echoed::Filled`].
///
/// Never inlined: the buffer lives in this function's own frame, so a
/// larger `N` costs nothing until it is called.
#[inline(never)]
fn echo_through<const N: usize>(conn: &Socket, until: Echoed) -> io::Result<Echoed> {
    let mut buf = [0u8; N];
    loop {
        let n = match (&mut &*conn).read(&mut buf) {
            Ok(0) => return Ok(Echoed::Eof),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        send_all(conn, &buf[..n])?;
        if n == N && until == Echoed::Filled {
            return Ok(Echoed::Filled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_round_trip_through_their_names() {
        for text in [
            "sequential",
            "fork-wait",
            "fork",
            "thread",
            "pool:1",
            "pool:16",
            "event-loop",
        ] {
            let variant: Variant = text.parse().unwrap();
            assert_eq!(variant.to_string(), text);
        }
        assert_eq!("pool:4".parse::<Variant>().unwrap().kind(), "pool");
    }

    #[test]
    fn bad_variant_names_list_the_accepted_ones() {
        for text in [
            "pool:0",
            "pool:",
            "pool:+3",
            "pool",
            "Thread",
            "forkwait",
            "event_loop",
            "",
        ] {
            let err = text.parse::<Variant>().unwrap_err().to_string();
            assert!(
                err.contains("fork-wait") && err.contains("pool:N") && err.contains("event-loop"),
                "{text}: {err}"
            );
        }
    }
}
