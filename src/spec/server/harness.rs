//! Running a server target and talking to it as its clients.
//!
//! [`Instance::start`] fills `{port}` (a free port of 127.0.0.1) or `{socket}`
//! (a path in a fresh temp dir, removed with the target), starts the target
//! under the spine's [`Target`] and waits until the listening socket shows in
//! `/proc/net` — never a blind sleep; [`Instance::dial`] connects a
//! [`Client`] over TCP or Unix. Quiescence of the server ([`Instance::idle`])
//! is what lets a wait end before its bound without guessing.
//!
//! # References
//! - [connect(2)](https://man7.org/linux/man-pages/man2/connect.2.html), [unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html): a blocking Unix connect waits for backlog room, bounded by `SO_SNDTIMEO`

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use socket2::{Domain, SockAddr, Socket, Type};

use super::client::{Client, End};
use super::Server;
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::{observe, settle};
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
        Ok(Client::new(socket))
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

    /// A hang report for a reply that stopped coming: says whether the time
    /// bound ran out or the server was seen quiescent first.
    pub fn hung_after(&self, awaited: impl Into<String>, end: &End) -> Finding {
        let mut finding = self.hung(awaited);
        if let (End::Stalled, Some(failure)) = (end, finding.failure_mut()) {
            failure.observed =
                "the server went quiescent (every thread asleep in a call without timeout) without doing it".into();
        }
        finding
    }

    /// Waits, at most `bound`, until every thread of the server is asleep in a
    /// call without timeout; whether it was. `false` alone is no failure: a
    /// correct server may poll with a timeout and never be quiescent.
    pub fn quiescent(&self, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        loop {
            if self.idle() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            // Pacing only: each look is itself the observation.
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    /// Whether the server is settled right now (quiescent, complete, none
    /// about to reap): without new input, it will never act again.
    pub fn idle(&self) -> bool {
        settle::settled(&self.target, &[]).is_some()
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
