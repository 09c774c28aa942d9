//! One client of a server under test ([`super::server::Instance`]), with
//! every read bounded.
//!
//! [`Client::exchange`] writes on its own thread while it reads, so a large
//! payload never deadlocks on full buffers of the checker's own making. A
//! read ends when the reply is complete, at EOF or an error, at the deadline
//! — or once the server is gone, or still with nothing in flight
//! ([`Patience`]): what it has not sent by then, it never will.
//!
//! # References
//! - [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html), [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html): `SO_LINGER`, `TCP_NODELAY`, `MSG_PEEK`
//! - [shutdown(2)](https://man7.org/linux/man-pages/man2/shutdown.2.html): the half-close

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use socket2::Socket;

use super::observe;
use super::server::{Activity, Instance};
use super::settle::{self, Bound, Gaps, Look, Pacing, Shown};

/// How long a client waits for the server: until `deadline`, or until the
/// server is still (or gone) while `ready` holds (every byte it is owed was sent):
/// then it will send nothing more.
#[derive(Clone, Copy)]
pub struct Patience<'a> {
    /// The bound on the wait.
    pub deadline: Instant,
    /// The server waited on.
    pub server: &'a Instance,
    /// Whether the client side has done all it will do, so that stillness counts.
    pub ready: &'a (dyn Fn() -> bool + Sync),
}

fn always() -> bool {
    true
}

fn never() -> bool {
    false
}

impl<'a> Patience<'a> {
    /// Waiting on `server` for at most `bound` from now, or until it is still.
    pub fn on(server: &'a Instance, bound: Duration) -> Patience<'a> {
        Patience {
            deadline: Instant::now() + bound,
            server,
            ready: &always,
        }
    }

    /// Waiting the whole `bound`, still or not: for clients whose
    /// neighbours may still be sending what the server waits for.
    pub fn ignoring_stillness(server: &'a Instance, bound: Duration) -> Patience<'a> {
        Patience {
            ready: &never,
            ..Patience::on(server, bound)
        }
    }

    /// The time left until the deadline.
    pub fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The same patience, counting stillness only once `ready` also holds.
    fn also(self, ready: &'a (dyn Fn() -> bool + Sync)) -> Patience<'a> {
        Patience { ready, ..self }
    }
}

/// How reading a reply ended.
#[derive(Debug)]
pub enum End {
    /// Every expected byte arrived.
    Complete,
    /// The server closed the connection first.
    Eof,
    /// The deadline passed first.
    TimedOut,
    /// The server went still (every thread asleep waiting for input, see
    /// [`Activity`]) or exited, with the reply incomplete.
    Stalled,
    /// The connection failed (e.g. reset by the server).
    Failed(io::Error),
}

impl End {
    /// Whether reading stopped because nothing more came (not EOF, not an error).
    pub fn waited_in_vain(&self) -> bool {
        matches!(self, End::TimedOut | End::Stalled)
    }

    /// How reading ended, as a clause that follows what was received
    /// (`"; then ..."`); empty when every expected byte came.
    pub fn then(&self) -> String {
        match self {
            End::Complete => String::new(),
            End::Eof => "; then the server closed the connection".into(),
            End::TimedOut => "; then nothing more arrived before the time bound".into(),
            End::Stalled => {
                "; then the server sat idle, every thread asleep, sending nothing more".into()
            }
            End::Failed(e) => format!("; then the connection failed: {e}"),
        }
    }
}

/// What a client received for what it sent.
pub struct Reply {
    /// The bytes received, in order.
    pub bytes: Vec<u8>,
    /// Why reading stopped.
    pub end: End,
}

/// What `/proc/net/tcp` shows of one connection's queues.
struct Queues {
    /// Every byte either side wrote has been acknowledged: Nagle's algorithm
    /// and delayed ACKs may hold a tail in a send queue while every thread sleeps.
    flushed: bool,
    /// The server has read every byte that reached it.
    read: bool,
}

/// One client connection.
pub struct Client {
    /// Always `Some` until the client is dropped, which takes it to close
    /// it while no fork is under way ([`Drop`]).
    socket: Option<Socket>,
}

/// A fork copies every descriptor, this client's socket included, into a
/// child that holds it until its `exec` (another target of the same
/// process starting, under `check --jobs` or in a test process): a close
/// then would not end the connection, and a server blocked writing to a
/// client that had left would be seen still, waiting for it. Closing while
/// no fork is under way (`sys::no_fork`) ends it at once.
impl Drop for Client {
    fn drop(&mut self) {
        let _no_fork = crate::sys::no_fork();
        drop(self.socket.take());
    }
}

impl Client {
    /// A client on a connected `socket`.
    pub fn new(socket: Socket) -> Client {
        Client {
            socket: Some(socket),
        }
    }

    fn socket(&self) -> &Socket {
        self.socket
            .as_ref()
            .expect("a client's socket is open until it is dropped")
    }

    /// The client's own address (TCP only; Unix clients are unnamed).
    pub fn local_tcp(&self) -> Option<SocketAddr> {
        self.socket().local_addr().ok()?.as_socket()
    }

    /// Writes all of `bytes`.
    pub fn send(&self, bytes: &[u8]) -> io::Result<()> {
        self.socket().write_all(bytes)
    }

    /// Writes 64 KiB blocks without ever blocking until `max` bytes or more
    /// went out (the last block is written whole), or the buffers towards
    /// the server are full. Returns how many were sent.
    pub fn flood(&self, max: usize) -> usize {
        let block = vec![0x5au8; 65_536];
        let mut sent = 0;
        while sent < max {
            match self.send_without_blocking(&block) {
                Some(n) => sent += n,
                None => break,
            }
        }
        sent
    }

    /// Writes what of `bytes` the buffers towards the server take at once
    /// (`MSG_DONTWAIT`, and `MSG_NOSIGNAL`: a server that left is an error,
    /// not a signal); how many, or `None` once they take nothing: full, or
    /// the connection is gone.
    fn send_without_blocking(&self, bytes: &[u8]) -> Option<usize> {
        loop {
            match self
                .socket()
                .send_with_flags(bytes, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
            {
                Ok(n) if n > 0 => return Some(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => return None,
            }
        }
    }

    /// Half-closes: the server reads EOF, the client can still read.
    pub fn half_close(&self) -> io::Result<()> {
        self.socket().shutdown(Shutdown::Write)
    }

    /// Closes with a reset (SO_LINGER 0) instead of an orderly FIN.
    pub fn reset(self) {
        let _ = self.socket().set_linger(Some(Duration::ZERO));
    }

    /// Reads what has arrived, without waiting, and closes: a FIN, unless
    /// more bytes arrive in between (then the kernel sends a reset).
    pub fn close_draining(self) {
        let mut buf = vec![0u8; 65_536];
        let _ = self.socket().set_nonblocking(true);
        while matches!(self.socket().read(&mut buf), Ok(n) if n > 0) {}
    }

    /// Sends `payload` on a separate thread while reading its echo; once
    /// `after` bytes came back, stops reading, and once the server no longer
    /// takes its bytes ([`Instance::not_reading`]: it is blocked writing the
    /// echo), vanishes: the connection is shut down and closed with the rest
    /// unread, as the kernel closes a killed client's sockets.
    pub fn vanish_mid_echo(self, payload: &[u8], after: usize, patience: Patience<'_>) {
        let done = Gate::default();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for piece in payload.chunks(65_536) {
                    if self.send(piece).is_err() {
                        break;
                    }
                }
                done.arrive();
            });
            let ready = || done.reached(1) && (patience.ready)();
            let _ = self.receive(after.min(payload.len()), patience.also(&ready));
            settle::until(patience.left(), Gaps::BackingOff, || {
                done.reached(1) || patience.server.not_reading(&self)
            });
            // Unblocks the writer, which may be stuck on full buffers.
            let _ = self.socket().shutdown(Shutdown::Both);
        });
    }

    /// Reads until `want` bytes arrived, EOF, an error, the deadline, or the
    /// server fell still (or exited) short of them.
    pub fn receive(&self, want: usize, patience: Patience<'_>) -> Reply {
        let mut bytes = Vec::with_capacity(want);
        let mut buf = vec![0u8; 65_536];
        let mut idle = false;
        // Short reads at first, so that a server fallen still is noticed early;
        // longer ones later, so that a long wait costs little CPU.
        let mut pacing = Pacing::new(Gaps::BackingOff);
        let end = loop {
            if bytes.len() >= want {
                break End::Complete;
            }
            let left = patience.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break End::TimedOut;
            }
            if let Err(e) = self
                .socket()
                .set_read_timeout(Some(pacing.next(false).min(left)))
            {
                break End::Failed(e);
            }
            match self.socket().read(&mut buf) {
                Ok(0) => break End::Eof,
                Ok(n) => {
                    bytes.extend_from_slice(&buf[..n]);
                    // Acknowledged now, not a delayed-ACK timer (40 ms) later: a
                    // server that waits until its bytes are acknowledged (to
                    // close with a reset, say) would wait that long per client.
                    // Over Unix it fails, harmlessly: there are no ACKs.
                    let _ = self.socket().set_tcp_quickack(true);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    // Still was seen before this read timed out: all it sent is here.
                    if idle {
                        break End::Stalled;
                    }
                    idle = (patience.ready)() && self.server_done(patience.server);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break End::Failed(e),
            }
        };
        Reply { bytes, end }
    }

    /// Whether `server` will send nothing more on this connection without
    /// new input: it is gone; or settled with nothing in flight; or idling
    /// with nothing in flight and every byte this client sent read by it
    /// (a byte still unread may be what its next wake-up acts on).
    fn server_done(&self, server: &Instance) -> bool {
        match server.activity() {
            Activity::Gone => true,
            Activity::Settled => self.queues().is_none_or(|q| q.flushed),
            Activity::Idling => self.queues().is_some_and(|q| q.flushed && q.read),
            Activity::Busy => false,
        }
    }

    /// The state of this TCP connection's queues (`None` over Unix, whose
    /// sockets deliver at once and show no queues in `/proc`).
    fn queues(&self) -> Option<Queues> {
        let local = self.local_tcp()?;
        let peer = self.socket().peer_addr().ok()?.as_socket()?;
        let sockets = observe::tcp_sockets();
        let entry = |from: SocketAddr, to: SocketAddr| {
            sockets
                .iter()
                .find(|e| e.local_address == from && e.remote_address == to)
        };
        let (ours, theirs) = (entry(local, peer), entry(peer, local));
        // A connection missing from `/proc/net/tcp` counts as busy.
        Some(Queues {
            flushed: ours.is_some_and(|e| e.tx_queue == 0)
                && theirs.is_some_and(|e| e.tx_queue == 0),
            read: theirs.is_some_and(|e| e.rx_queue == 0),
        })
    }

    /// Whether the server has read every byte of this client's that reached
    /// it: nothing unread in its socket (`/proc/net/tcp`). Over loopback a
    /// write is mostly delivered before `send` returns, so this is mostly
    /// every byte sent, but a loaded machine may defer the delivery to a
    /// softirq: callers use it to pace a client (the slow client, a request
    /// in pieces), never to decide a verdict. The acknowledgement may lag
    /// (delayed ACKs), so it is not awaited. `None` over Unix, whose queues
    /// `/proc` does not show.
    pub fn taken(&self) -> Option<bool> {
        self.queues().map(|q| q.read)
    }

    /// Bytes already waiting for the client, without blocking or consuming them.
    pub fn pending(&self) -> usize {
        use nix::sys::socket::{recv, MsgFlags};
        use std::os::fd::AsRawFd;
        let mut buf = [0u8; 65_536];
        recv(
            self.socket().as_raw_fd(),
            &mut buf,
            MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
        )
        .unwrap_or(0)
    }

    /// Sends `payload` in writes of `chunk` bytes (half-closing after it
    /// when `half_close`), while reading the echo until `payload.len()`
    /// bytes, EOF, an error or the patience runs out. The server counts as
    /// idle only once every byte was written.
    ///
    /// What the buffers towards the server take at once is written before
    /// reading; only the rest is left to a writer thread: a new thread
    /// waits for a core behind every busy thread of a loaded machine (with
    /// a pool whose idle workers spin, 2–4 ms for each short exchange).
    pub fn exchange(
        &self,
        payload: &[u8],
        chunk: usize,
        half_close: bool,
        patience: Patience<'_>,
    ) -> Reply {
        let chunk = chunk.max(1);
        let sent = self.send_what_fits(payload, chunk);
        let done = Gate::default();
        let send_the_rest = || {
            for piece in pieces(payload, chunk, sent) {
                if self.send(piece).is_err() {
                    break;
                }
            }
            if half_close {
                let _ = self.half_close();
            }
            done.arrive();
        };
        std::thread::scope(|scope| {
            if sent == payload.len() {
                send_the_rest();
            } else {
                scope.spawn(send_the_rest);
            }
            let ready = || done.reached(1) && (patience.ready)();
            let reply = self.receive(payload.len(), patience.also(&ready));
            self.unblock_writer(&done, patience.deadline);
            reply
        })
    }

    /// Writes `payload` in writes of `chunk` bytes for as long as the
    /// buffers towards the server take them without blocking; how many
    /// bytes were written.
    fn send_what_fits(&self, payload: &[u8], chunk: usize) -> usize {
        let mut sent = 0;
        while let Some(piece) = pieces(payload, chunk, sent).next() {
            match self.send_without_blocking(piece) {
                Some(n) => sent += n,
                None => break,
            }
        }
        sent
    }

    /// Like [`Client::exchange`] (whole payload, then a half-close), but
    /// reads nothing until the writing thread is seen stalled — asleep in
    /// `write` on full buffers while the server no longer takes its bytes
    /// ([`Instance::not_reading`]; a server merely slower than the client
    /// also makes it wait a moment) — or has written everything: by then
    /// the server has had to stop writing to this client. It then arrives
    /// at `stalled` and waits until `clients` have, so that every server
    /// thread is blocked at once before any is let go.
    pub fn exchange_after_stall(
        &self,
        payload: &[u8],
        patience: Patience<'_>,
        stalled: &Gate,
        clients: usize,
    ) -> Reply {
        let done = Gate::default();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let _ = tx.send(nix::unistd::gettid());
                let _ = self.send(payload);
                let _ = self.half_close();
                done.arrive();
            });
            if let Ok(tid) = rx.recv() {
                // Short looks, so that a writer that finishes is noticed at once.
                let _ = settle::wait(
                    patience.left(),
                    &mut Bound(Shown::Nothing, Gaps::BackingOff),
                    || {
                        let stalled = || {
                            observe::wait_thread_asleep(tid, Duration::from_millis(5)).is_ok()
                                && patience.server.not_reading(self)
                        };
                        if done.reached(1) || stalled() {
                            Look::Done(())
                        } else {
                            Look::Waiting
                        }
                    },
                );
            }
            stalled.arrive();
            stalled.wait_for(clients, patience.deadline);
            let ready = || done.reached(1) && (patience.ready)();
            let reply = self.receive(payload.len(), patience.also(&ready));
            self.unblock_writer(&done, patience.deadline);
            reply
        })
    }

    /// Gives the writer until `deadline` to finish — a complete echo means it
    /// has, or is about to — and otherwise shuts the connection down so that
    /// a writer stuck on full buffers returns and the scope can end.
    fn unblock_writer(&self, done: &Gate, deadline: Instant) {
        if !done.wait_for(1, deadline) {
            let _ = self.socket().shutdown(Shutdown::Both);
        }
    }
}

/// `payload[from..]` in the writes of `chunk` bytes that sending the whole
/// payload makes: the rest of the write `from` falls in, then whole ones.
fn pieces(payload: &[u8], chunk: usize, from: usize) -> impl Iterator<Item = &[u8]> {
    let boundary = (from / chunk + 1) * chunk;
    let head = payload
        .get(from..boundary.min(payload.len()))
        .unwrap_or(&[]);
    let tail = payload.get(boundary..).unwrap_or(&[]);
    std::iter::once(head)
        .filter(|head| !head.is_empty())
        .chain(tail.chunks(chunk))
}

/// A count that threads raise and others wait on, with a deadline: a
/// writer's "finished" (a count of one), or clients all stalled before any reads.
#[derive(Default)]
pub struct Gate {
    count: Mutex<usize>,
    changed: Condvar,
}

impl Gate {
    /// Raises the count by one.
    pub fn arrive(&self) {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.changed.notify_all();
    }

    /// Whether the count has reached `n`.
    pub fn reached(&self, n: usize) -> bool {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) >= n
    }

    /// Waits until the count reaches `n` or `deadline`; whether it did.
    pub fn wait_for(&self, n: usize, deadline: Instant) -> bool {
        let guard = self.count.lock().unwrap_or_else(|e| e.into_inner());
        let left = deadline.saturating_duration_since(Instant::now());
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, left, |count| *count < n)
            .unwrap_or_else(|e| e.into_inner());
        *guard >= n
    }
}

#[cfg(test)]
mod tests {
    use super::pieces;

    fn lengths(payload: &[u8], chunk: usize, from: usize) -> Vec<usize> {
        pieces(payload, chunk, from).map(<[u8]>::len).collect()
    }

    #[test]
    fn the_rest_of_a_payload_keeps_the_writes_of_the_whole() {
        let payload = [7u8; 10];
        assert_eq!(lengths(&payload, 4, 0), [4, 4, 2]);
        assert_eq!(lengths(&payload, 4, 1), [3, 4, 2]);
        assert_eq!(lengths(&payload, 4, 4), [4, 2]);
        assert_eq!(lengths(&payload, 4, 9), [1]);
        assert!(lengths(&payload, 4, 10).is_empty());
        assert!(lengths(&[], 4, 0).is_empty());
    }
}
