//! Running a server target and talking to it as its clients.
//!
//! [`Instance::start`] fills `{port}` (a free port of 127.0.0.1) or `{socket}`
//! (a path in a fresh temp dir, removed with the target), starts the target
//! under the spine's [`Target`] and waits until the listening socket shows in
//! `/proc/net` — never a blind sleep. [`Client`] is one connection, over TCP
//! or Unix, with every read bounded by a deadline; [`Client::exchange`] writes
//! on its own thread while it reads, so a large payload never deadlocks on
//! full buffers of the checker's own making.
//!
//! # References
//! - [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html), [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html), [unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html)
//! - [shutdown(2)](https://man7.org/linux/man-pages/man2/shutdown.2.html): the half-close

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use socket2::{Domain, SockAddr, Socket, Type};

use super::Server;
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::observe::{self, ThreadState};
use crate::target::{Target, TargetConfig, TargetError};

/// Where a server listens.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// A TCP port of 127.0.0.1.
    Tcp(SocketAddr),
    /// A Unix stream socket path.
    Unix(PathBuf),
}

impl Endpoint {
    fn sockaddr(&self) -> io::Result<SockAddr> {
        match self {
            Endpoint::Tcp(addr) => Ok(SockAddr::from(*addr)),
            Endpoint::Unix(path) => SockAddr::unix(path),
        }
    }

    fn listening(&self) -> bool {
        match self {
            Endpoint::Tcp(addr) => observe::tcp_listening(*addr),
            Endpoint::Unix(path) => observe::unix_listening(path),
        }
    }

    fn describe(&self) -> String {
        match self {
            Endpoint::Tcp(addr) => format!("listening on {addr}"),
            Endpoint::Unix(path) => format!("listening on {}", path.display()),
        }
    }
}

/// A running server target and the address it listens on.
pub struct Instance {
    /// The target: its processes, output, exit status.
    pub target: Target,
    /// Where it listens.
    pub endpoint: Endpoint,
}

/// A free TCP port of 127.0.0.1, as the kernel hands one out.
fn free_port() -> Result<u16, TargetError> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| TargetError::setup("a free TCP port", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| TargetError::setup("a free TCP port", e))?
        .port();
    Ok(port)
}

impl Instance {
    /// Starts `server` on a fresh endpoint and waits, at most `ctx.timeout`,
    /// until it listens.
    pub fn start(server: &Server, ctx: &Ctx) -> Result<Instance, Finding> {
        let (endpoint, command, cleanup) = if server.command.uses("socket") {
            let dir = tempfile::Builder::new()
                .prefix("ipcspec-server-")
                .tempdir()
                .map_err(|e| TargetError::setup("a temp dir for the Unix socket", e))?
                .keep();
            let path = dir.join("echo.sock");
            let command = server.command.fill(&[("socket", &path.to_string_lossy())]);
            (Endpoint::Unix(path), command, vec![dir])
        } else {
            let port = free_port()?;
            let command = server.command.fill(&[("port", &port.to_string())]);
            (
                Endpoint::Tcp(SocketAddr::from(([127, 0, 0, 1], port))),
                command,
                Vec::new(),
            )
        };
        let mut config = TargetConfig::new(command);
        config.cleanup = cleanup;
        let mut target = Target::spawn(config)?;
        target.wait_ready(&endpoint.describe(), ctx.timeout, || endpoint.listening())?;
        Ok(Instance { target, endpoint })
    }

    /// Every live process of the server.
    pub fn processes(&self) -> Vec<Pid> {
        self.target.processes()
    }

    /// `Ok` while the server's first process runs; else a violation naming its exit.
    pub fn alive(&mut self) -> Outcome {
        match self.target.try_status() {
            None => Ok(()),
            Some(status) => Err(Finding::violated(
                "the server keeps running",
                format!(
                    "it exited: {}",
                    crate::target::process::describe_status(status)
                ),
            )
            .with_output(self.target.final_output(Duration::from_millis(200)))),
        }
    }

    /// A new client connection, within `ctx.timeout`; a refusal is a violation.
    pub fn connect(&mut self, ctx: &Ctx) -> Result<Client, Finding> {
        self.alive()?;
        self.dial(ctx).map_err(|e| self.refused(e))
    }

    /// A new client connection, within `ctx.timeout`, from any thread.
    pub fn dial(&self, ctx: &Ctx) -> io::Result<Client> {
        let addr = self.endpoint.sockaddr()?;
        let socket = match &self.endpoint {
            Endpoint::Tcp(_) => {
                let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
                socket.connect_timeout(&addr, ctx.timeout)?;
                // The checker's own writes go out at once, never held back by Nagle.
                socket.set_nodelay(true)?;
                socket
            }
            Endpoint::Unix(_) => {
                // A non-blocking Unix connect fails at once on a full backlog;
                // a blocking one waits for room, as long as the send timeout says.
                let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
                socket.set_write_timeout(Some(ctx.timeout))?;
                socket.connect(&addr)?;
                socket.set_write_timeout(None)?;
                socket
            }
        };
        Ok(Client { socket })
    }

    /// Waits, at most `bound` (or until the server is quiescent), until the
    /// server has accepted every connection made so far: a TCP listener
    /// whose short backlog overflows drops handshakes, and the client only
    /// retries a second or more later. (Unix connects wait for room by themselves.)
    pub fn await_accepted(&self, bound: Duration) {
        let Endpoint::Tcp(addr) = &self.endpoint else {
            return;
        };
        let queued = || {
            observe::tcp_sockets()
                .into_iter()
                .find(|e| {
                    e.state == procfs::net::TcpState::Listen
                        && e.local_address.port() == addr.port()
                })
                .map(|e| e.rx_queue)
        };
        let _ = self.wait_for(bound, || (queued() == Some(0)).then_some(()));
    }

    /// The finding for a connection that could not be made: the server died,
    /// or it did not accept in time.
    pub fn refused(&mut self, error: io::Error) -> Finding {
        if let Err(died) = self.alive() {
            return died;
        }
        self.explain(Finding::violated(
            format!("the server accepts connections ({})", self.endpoint.describe()),
            format!(
                "connect failed: {error} (a listen backlog smaller than the clients connecting at once, \
                 with none accepted meanwhile, shows this way)"
            ),
        ))
    }

    /// `finding` with the server's last output lines attached.
    pub fn explain(&self, finding: Finding) -> Finding {
        finding.with_output(self.target.output())
    }

    /// A hang report: `awaited` never happened; where the server's threads sleep.
    pub fn hung(&self, awaited: impl Into<String>) -> Finding {
        self.explain(Finding::hung(
            awaited,
            observe::describe(&observe::threads(&self.processes())),
        ))
    }

    /// Waits, at most `bound`, until every thread of the server is asleep in a
    /// call without timeout. `Err` (with the last sample) means it never was
    /// seen so — a correct server may poll with a timeout, so callers must not
    /// turn that alone into a failure.
    pub fn quiescent(&self, bound: Duration) -> Result<Vec<ThreadState>, Vec<ThreadState>> {
        observe::wait_quiescent(bound, || self.target.processes())
    }

    /// Whether the server is quiescent right now: without new input, it will
    /// never act again.
    pub fn idle(&self) -> bool {
        observe::quiescent(&self.target.processes()).is_ok()
    }

    /// The result of `outcome` once it is `Some`, polled until the bound — or
    /// until the server is quiescent, after which one last look decides: what
    /// the server has not done by then, it will not do without new input.
    pub fn wait_for<T>(
        &self,
        bound: Duration,
        mut outcome: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(value) = outcome() {
                return Some(value);
            }
            if self.idle() {
                return outcome();
            }
            if Instant::now() >= deadline {
                return None;
            }
            // Pacing only: each look is itself the observation.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// How long a client waits for the server: until `deadline`, or until the
/// server is quiescent while `ready` holds (every byte it is owed was sent):
/// then it will send nothing more.
#[derive(Clone, Copy)]
pub struct Patience<'a> {
    /// The bound on the wait.
    pub deadline: Instant,
    /// The server waited on.
    pub server: &'a Instance,
    /// Whether the client side has done all it will do, so that quiescence counts.
    pub ready: &'a (dyn Fn() -> bool + Sync),
}

fn always() -> bool {
    true
}

fn never() -> bool {
    false
}

impl<'a> Patience<'a> {
    /// Waiting on `server` for at most `bound` from now, or until it is quiescent.
    pub fn on(server: &'a Instance, bound: Duration) -> Patience<'a> {
        Patience {
            deadline: Instant::now() + bound,
            server,
            ready: &always,
        }
    }

    /// Waiting the whole `bound`, quiescent or not: for clients whose
    /// neighbours may still be sending what the server waits for.
    pub fn bounded(server: &'a Instance, bound: Duration) -> Patience<'a> {
        Patience {
            ready: &never,
            ..Patience::on(server, bound)
        }
    }

    fn idle(&self) -> bool {
        (self.ready)() && self.server.idle()
    }

    /// The same patience, counting quiescence only once `ready` also holds.
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
    /// The server went quiescent — every thread asleep waiting for input —
    /// with the reply incomplete.
    Stalled,
    /// The connection failed (e.g. reset by the server).
    Failed(io::Error),
}

impl End {
    /// Whether reading stopped because nothing more came (not EOF, not an error).
    pub fn waited_in_vain(&self) -> bool {
        matches!(self, End::TimedOut | End::Stalled)
    }
}

/// What a client received for what it sent.
pub struct Reply {
    /// The bytes received, in order.
    pub bytes: Vec<u8>,
    /// Why reading stopped.
    pub end: End,
}

/// One client connection.
pub struct Client {
    socket: Socket,
}

impl Client {
    /// The client's own address (TCP only; Unix clients are unnamed).
    pub fn local_tcp(&self) -> Option<SocketAddr> {
        self.socket.local_addr().ok()?.as_socket()
    }

    /// Writes all of `bytes`.
    pub fn send(&self, bytes: &[u8]) -> io::Result<()> {
        (&self.socket).write_all(bytes)
    }

    /// Writes at most `max` bytes without ever blocking: stops when the
    /// buffers towards the server are full. Returns how many were sent.
    pub fn flood(&self, max: usize) -> usize {
        let block = vec![0x5au8; 65_536];
        let mut sent = 0;
        let _ = self.socket.set_nonblocking(true);
        while sent < max {
            match (&self.socket).write(&block) {
                Ok(n) if n > 0 => sent += n,
                _ => break,
            }
        }
        let _ = self.socket.set_nonblocking(false);
        sent
    }

    /// Half-closes: the server reads EOF, the client can still read.
    pub fn half_close(&self) -> io::Result<()> {
        self.socket.shutdown(Shutdown::Write)
    }

    /// Closes with a reset (SO_LINGER 0) instead of an orderly FIN.
    pub fn reset(self) {
        let _ = self.socket.set_linger(Some(Duration::ZERO));
    }

    /// Reads until `want` bytes arrived, EOF, an error, the deadline, or the
    /// server fell idle short of them.
    pub fn receive(&self, want: usize, patience: Patience<'_>) -> Reply {
        let mut bytes = Vec::with_capacity(want);
        let mut buf = vec![0u8; 65_536];
        let mut idle = false;
        let end = loop {
            if bytes.len() >= want {
                break End::Complete;
            }
            let left = patience.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break End::TimedOut;
            }
            // Short reads, so that a server fallen idle is noticed early.
            let slice = left.min(Duration::from_millis(10));
            if let Err(e) = self.socket.set_read_timeout(Some(slice)) {
                break End::Failed(e);
            }
            match (&self.socket).read(&mut buf) {
                Ok(0) => break End::Eof,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    // Idle was seen before this read timed out: all it sent is here.
                    if idle {
                        break End::Stalled;
                    }
                    idle = patience.idle() && self.nothing_in_flight();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break End::Failed(e),
            }
        };
        Reply { bytes, end }
    }

    /// Whether every byte either side wrote on this connection has been
    /// acknowledged: for TCP, Nagle's algorithm and delayed ACKs may hold a
    /// tail in a send queue while every thread sleeps. (Unix sockets deliver
    /// at once.) A connection missing from `/proc/net/tcp` counts as busy.
    fn nothing_in_flight(&self) -> bool {
        let (Some(local), Some(peer)) = (
            self.local_tcp(),
            self.socket.peer_addr().ok().and_then(|a| a.as_socket()),
        ) else {
            return true;
        };
        let sockets = observe::tcp_sockets();
        let flushed = |from: SocketAddr, to: SocketAddr| {
            sockets
                .iter()
                .any(|e| e.local_address == from && e.remote_address == to && e.tx_queue == 0)
        };
        flushed(local, peer) && flushed(peer, local)
    }

    /// Bytes already waiting for the client, without blocking or consuming them.
    pub fn pending(&self) -> usize {
        use nix::sys::socket::{recv, MsgFlags};
        use std::os::fd::AsRawFd;
        let mut buf = [0u8; 65_536];
        recv(
            self.socket.as_raw_fd(),
            &mut buf,
            MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
        )
        .unwrap_or(0)
    }

    /// Sends `payload` in writes of `chunk` bytes on a separate thread
    /// (half-closing after it when `half_close`), while reading the echo
    /// until `payload.len()` bytes, EOF, an error or the patience runs out.
    /// The server counts as idle only once every byte was written.
    pub fn exchange(
        &self,
        payload: &[u8],
        chunk: usize,
        half_close: bool,
        patience: Patience<'_>,
    ) -> Reply {
        let done = Done::default();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for piece in payload.chunks(chunk.max(1)) {
                    if self.send(piece).is_err() {
                        break;
                    }
                }
                if half_close {
                    let _ = self.half_close();
                }
                done.set();
            });
            let ready = || done.is_set() && (patience.ready)();
            let reply = self.receive(payload.len(), patience.also(&ready));
            self.unblock_writer(&done, patience.deadline);
            reply
        })
    }

    /// Like [`Client::exchange`] (whole payload, then a half-close), but
    /// reads nothing until the writing thread is seen stalled — asleep in
    /// `write` on full buffers — or has written everything: by then the
    /// server has had to stop writing to this client.
    pub fn exchange_after_stall(&self, payload: &[u8], patience: Patience<'_>) -> Reply {
        let done = Done::default();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let _ = tx.send(nix::unistd::gettid());
                let _ = self.send(payload);
                let _ = self.half_close();
                done.set();
            });
            if let Ok(tid) = rx.recv() {
                // Short looks, so that a writer that finishes is noticed at once.
                while !done.is_set() && Instant::now() < patience.deadline {
                    if observe::wait_thread_asleep(tid, Duration::from_millis(5)).is_ok() {
                        break;
                    }
                }
            }
            let ready = || done.is_set() && (patience.ready)();
            let reply = self.receive(payload.len(), patience.also(&ready));
            self.unblock_writer(&done, patience.deadline);
            reply
        })
    }

    /// Gives the writer until `deadline` to finish — a complete echo means it
    /// has, or is about to — and otherwise shuts the connection down so that
    /// a writer stuck on full buffers returns and the scope can end.
    fn unblock_writer(&self, done: &Done, deadline: Instant) {
        if !done.wait_until(deadline) {
            let _ = self.socket.shutdown(Shutdown::Both);
        }
    }
}

/// A writer thread's "finished" flag, which the reader can test or wait on.
#[derive(Default)]
struct Done {
    flag: Mutex<bool>,
    changed: Condvar,
}

impl Done {
    fn set(&self) {
        *self.flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.changed.notify_all();
    }

    fn is_set(&self) -> bool {
        *self.flag.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until set or `deadline`; whether it was set.
    fn wait_until(&self, deadline: Instant) -> bool {
        let guard = self.flag.lock().unwrap_or_else(|e| e.into_inner());
        let left = deadline.saturating_duration_since(Instant::now());
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, left, |set| !*set)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }
}
