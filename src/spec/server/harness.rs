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
use std::sync::atomic::{AtomicBool, Ordering};
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

    /// A new client connection, within `ctx.timeout`.
    pub fn connect(&mut self, ctx: &Ctx) -> Result<Client, Finding> {
        self.alive()?;
        let (domain, addr) = match &self.endpoint {
            Endpoint::Tcp(_) => (Domain::IPV4, self.endpoint.sockaddr()),
            Endpoint::Unix(_) => (Domain::UNIX, self.endpoint.sockaddr()),
        };
        let connected = addr.and_then(|addr| {
            let socket = Socket::new(domain, Type::STREAM, None)?;
            socket.connect_timeout(&addr, ctx.timeout)?;
            Ok(socket)
        });
        match connected {
            Ok(socket) => Ok(Client { socket }),
            Err(e) => {
                self.alive()?;
                Err(self.explain(Finding::violated(
                    format!(
                        "the server accepts connections ({})",
                        self.endpoint.describe()
                    ),
                    format!("connect failed: {e}"),
                )))
            }
        }
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
    /// The connection failed (e.g. reset by the server).
    Failed(io::Error),
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

    /// Reads until `want` bytes arrived, EOF, an error or `deadline`.
    pub fn receive(&self, want: usize, deadline: Instant) -> Reply {
        let mut bytes = Vec::with_capacity(want);
        let mut buf = vec![0u8; 65_536];
        let end = loop {
            if bytes.len() >= want {
                break End::Complete;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break End::TimedOut;
            }
            if let Err(e) = self.socket.set_read_timeout(Some(left)) {
                break End::Failed(e);
            }
            match (&self.socket).read(&mut buf) {
                Ok(0) => break End::Eof,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break End::Failed(e),
            }
        };
        Reply { bytes, end }
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
    /// until `payload.len()` bytes, EOF, an error or `deadline`.
    pub fn exchange(
        &self,
        payload: &[u8],
        chunk: usize,
        half_close: bool,
        deadline: Instant,
    ) -> Reply {
        let done = AtomicBool::new(false);
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
                done.store(true, Ordering::Relaxed);
            });
            let reply = self.receive(payload.len(), deadline);
            self.unblock_writer(&reply, &done);
            reply
        })
    }

    /// Like [`Client::exchange`] (whole payload, then a half-close), but
    /// reads nothing until the writing thread is seen stalled — asleep in
    /// `write` on full buffers — or has written everything: by then the
    /// server has had to stop writing to this client.
    pub fn exchange_after_stall(&self, payload: &[u8], deadline: Instant) -> Reply {
        let done = AtomicBool::new(false);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let _ = tx.send(nix::unistd::gettid());
                let _ = self.send(payload);
                let _ = self.half_close();
                done.store(true, Ordering::Relaxed);
            });
            if let Ok(tid) = rx.recv() {
                // Short looks, so that a writer that finishes is noticed at once.
                while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
                    if observe::wait_thread_asleep(tid, Duration::from_millis(5)).is_ok() {
                        break;
                    }
                }
            }
            let reply = self.receive(payload.len(), deadline);
            self.unblock_writer(&reply, &done);
            reply
        })
    }

    /// When reading stopped short, a writer may be stuck on full buffers:
    /// shut the connection down so it returns. (A complete echo means every
    /// byte was written; the connection then stays open.)
    fn unblock_writer(&self, reply: &Reply, done: &AtomicBool) {
        if !matches!(reply.end, End::Complete) && !done.load(Ordering::Relaxed) {
            let _ = self.socket.shutdown(Shutdown::Both);
        }
    }
}
