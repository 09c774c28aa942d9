//! The event-loop server: one thread serves every connection. It waits in
//! one `poll` call for the listening socket and every connection, and acts
//! only on what is ready, so no client can hold it up.
//!
//! Guarantees:
//! - every socket is non-blocking; what a client is owed goes to that
//!   connection's own outgoing buffer and is sent as the socket takes it: a
//!   short write keeps the rest, `EAGAIN` keeps all of it, nothing is dropped;
//! - a client that sends and never reads stalls only itself: once its
//!   outgoing buffer holds [`HIGH_WATER`] bytes, its connection is no longer
//!   read (its bytes wait in the kernel, and the client blocks in `write`),
//!   while the others and `accept` go on;
//! - idle, the thread sleeps in `poll` without a timeout; the one timed
//!   wait is an HTTP connection lingering after its response
//!   ([`http::LINGER`]);
//! - the HTTP service is the same [`http::Response`] the blocking servers
//!   send, read head and streamed file alike, only a piece at a time.
//!
//! # References
//! - [poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html), [accept(2)](https://man7.org/linux/man-pages/man2/accept.2.html) (`EAGAIN` on a non-blocking listener)
//! - [send(2)](https://man7.org/linux/man-pages/man2/send.2.html): `EAGAIN` on a full non-blocking socket, `MSG_NOSIGNAL`

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use socket2::Socket;

use super::{accept, Service};
use crate::reference::http::{self, DocumentRoot, Response};

/// Bytes read from one connection at a time: they wait in its outgoing
/// buffer until sent, so this and [`HIGH_WATER`] bound what a client that
/// never reads costs.
const CHUNK: usize = 64 * 1024;

/// Bytes a connection may owe its client before the server stops reading
/// from it: the bound on what one client that never reads costs.
pub const HIGH_WATER: usize = 256 * 1024;

/// Accepts and serves forever, every connection from this one thread.
pub(super) fn serve(listener: &Socket, service: &Service) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut connections: Vec<Connection<'_>> = Vec::new();
    let mut buf = vec![0u8; http::FILE_CHUNK];
    loop {
        let now = Instant::now();
        let timeout = connections
            .iter()
            .filter_map(Connection::deadline)
            .min()
            // Rounded up: a wait cut short to 0 ms would spin until the deadline.
            .map_or(PollTimeout::NONE, |deadline| {
                let left = deadline.saturating_duration_since(now) + Duration::from_millis(1);
                PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)
            });
        let mut set: Vec<PollFd> =
            std::iter::once(PollFd::new(listener.as_fd(), PollFlags::POLLIN))
                .chain(
                    connections
                        .iter()
                        .map(|c| PollFd::new(c.socket.as_fd(), c.interest())),
                )
                .collect();
        match poll(&mut set, timeout) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<PollFlags> = set
            .iter()
            .map(|fd| fd.revents().unwrap_or_else(PollFlags::empty))
            .collect();
        drop(set);
        let now = Instant::now();
        // A connection that fails or ends is dropped, which closes it.
        connections = connections
            .into_iter()
            .zip(&ready[1..])
            .filter_map(|(mut c, &ready)| {
                matches!(c.step(ready, now, &mut buf), Ok(true)).then_some(c)
            })
            .collect();
        if ready[0].contains(PollFlags::POLLIN) {
            loop {
                match accept(listener) {
                    Ok(socket) => connections.push(Connection::new(socket, service)?),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

/// Where a connection is in its service.
enum Phase<'s> {
    /// Echoing; `eof` once the client half-closed.
    Echo { eof: bool },
    /// Reading an HTTP request head, to answer from this root.
    Head(Vec<u8>, &'s DocumentRoot),
    /// Sending the response, its file a piece at a time.
    Body(Response),
    /// Response sent and sending side shut down: reading and dropping what
    /// the client still sends until it closes or the deadline passes.
    Lingering(Instant),
}

/// One accepted connection and what it still owes its client.
struct Connection<'s> {
    socket: Socket,
    /// Bytes owed to the client, oldest first, not yet taken by the socket.
    out: Vec<u8>,
    phase: Phase<'s>,
}

impl<'s> Connection<'s> {
    fn new(socket: Socket, service: &'s Service) -> io::Result<Connection<'s>> {
        socket.set_nonblocking(true)?;
        let phase = match service {
            Service::Echo => Phase::Echo { eof: false },
            Service::Http(root) => Phase::Head(Vec::with_capacity(1024), root),
        };
        Ok(Connection {
            socket,
            out: Vec::new(),
            phase,
        })
    }

    /// What to wait for on this connection.
    fn interest(&self) -> PollFlags {
        let mut events = PollFlags::empty();
        let reading = match self.phase {
            Phase::Echo { eof } => !eof && self.out.len() < HIGH_WATER,
            Phase::Head(..) | Phase::Lingering(_) => true,
            Phase::Body(_) => false,
        };
        if reading {
            events |= PollFlags::POLLIN;
        }
        if !self.out.is_empty() || matches!(self.phase, Phase::Body(_)) {
            events |= PollFlags::POLLOUT;
        }
        events
    }

    /// When a lingering connection is closed whatever the client does.
    fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Lingering(deadline) => Some(deadline),
            _ => None,
        }
    }

    /// Acts on what `ready` says; whether the connection goes on. An error
    /// means the client went away, which ends this connection only.
    fn step(&mut self, ready: PollFlags, now: Instant, buf: &mut [u8]) -> io::Result<bool> {
        let readable = ready
            .intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
            && self.interest().contains(PollFlags::POLLIN);
        match &mut self.phase {
            Phase::Echo { eof } => {
                if readable {
                    match read_some(&self.socket, &mut buf[..CHUNK])? {
                        Some(0) => *eof = true,
                        Some(n) => self.out.extend_from_slice(&buf[..n]),
                        None => {}
                    }
                }
                self.flush()?;
                if matches!(self.phase, Phase::Echo { eof: true }) && self.out.is_empty() {
                    self.socket.shutdown(std::net::Shutdown::Write)?;
                    return Ok(false);
                }
                Ok(true)
            }
            Phase::Head(head, root) => {
                if !readable {
                    return Ok(true);
                }
                let n = match read_some(&self.socket, buf)? {
                    // The client closed before finishing its request: nobody to answer.
                    Some(0) => return Ok(false),
                    Some(n) => n,
                    None => return Ok(true),
                };
                head.extend_from_slice(&buf[..n]);
                if !http::head_complete(head) {
                    return Ok(true);
                }
                let response = Response::to(head, root)?;
                self.out.extend_from_slice(response.start());
                self.phase = Phase::Body(response);
                self.send_body(now, buf)
            }
            Phase::Body(_) => self.send_body(now, buf),
            Phase::Lingering(deadline) => {
                if now >= *deadline {
                    return Ok(false);
                }
                if readable {
                    // Until the socket has no more to give; EOF ends the wait.
                    while let Some(n) = read_some(&self.socket, buf)? {
                        if n == 0 {
                            return Ok(false);
                        }
                    }
                }
                Ok(true)
            }
        }
    }

    /// Sends the response as far as the socket takes it, reading the next
    /// piece of its file each time the last one is gone; once all is sent,
    /// shuts the sending side down and lingers.
    fn send_body(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<bool> {
        loop {
            self.flush()?;
            if !self.out.is_empty() {
                return Ok(true);
            }
            let Phase::Body(response) = &mut self.phase else {
                return Ok(true);
            };
            match response.read_body(buf)? {
                0 => {
                    self.socket.shutdown(std::net::Shutdown::Write)?;
                    self.phase = Phase::Lingering(now + http::LINGER);
                    return Ok(true);
                }
                n => self.out.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// Sends what is owed until the socket takes no more; keeps the rest.
    fn flush(&mut self) -> io::Result<()> {
        let mut sent = 0;
        let outcome = loop {
            if sent == self.out.len() {
                break Ok(());
            }
            match self
                .socket
                .send_with_flags(&self.out[sent..], libc::MSG_NOSIGNAL)
            {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if would_wait(&e) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.out.drain(..sent);
        outcome
    }
}

/// One `read` from a non-blocking `socket`: `Some(0)` at EOF, `None` if
/// nothing is there yet.
fn read_some(socket: &Socket, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        match (&mut &*socket).read(buf) {
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if would_wait(&e) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

/// A non-blocking call that would have had to wait.
fn would_wait(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}
