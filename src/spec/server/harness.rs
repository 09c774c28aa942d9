//! Running a server target and talking to it as its clients.
//!
//! [`Instance::start`] fills `{port}` (a free port of 127.0.0.1) or `{socket}`
//! (a path in a fresh temp dir, removed with the target), starts the target
//! under the spine's [`Target`] and waits until the listening socket shows in
//! `/proc/net` — never a blind sleep; [`Instance::dial`] connects a
//! [`Client`] over TCP or Unix.
//!
//! Every wait on the server ends early, by observation: when the server is
//! *gone* (its first process exited: what it did not do, it never will, and
//! [`Instance::conclude`] turns the property's finding into `it exited:
//! <status>`), or when it is *still* ([`super::still`]). Then one last look
//! decides.
//!
//! # References
//! - [connect(2)](https://man7.org/linux/man-pages/man2/connect.2.html), [unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html): a blocking Unix connect waits for backlog room, bounded by `SO_SNDTIMEO`
//! - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html): `fd/`, `net/tcp`, `net/unix`

use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use socket2::{Domain, SockAddr, Socket, Type};

use super::client::{Client, End};
use super::still::{Pace, Stillness, Watch};
use super::Server;
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::observe::{self, ThreadState};
use crate::target::process::describe_status;
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

/// The sockets of one connection as the server sees them (`socket:[inode]`).
#[derive(Clone, Copy, Debug)]
pub struct Sockets {
    /// The listening socket.
    pub listening: u64,
    /// The server side of the connection.
    pub connection: u64,
}

/// Descriptors that refer to one socket: which process, which fd.
pub type Holders = Vec<(Pid, i32)>;

/// A running server target and the address it listens on.
pub struct Instance {
    /// The target: its processes, output, exit status.
    pub target: Target,
    /// Where it listens.
    pub endpoint: Endpoint,
    /// Looks at how still it is.
    watch: Watch,
}

/// A TCP port of 127.0.0.1 that is free, and below the ephemeral range
/// (`ip_local_port_range`) when there is room: between the moment it is
/// found free and the moment the server binds it, no `connect()` on the
/// machine takes it as its source port, as one may take a port `bind(:0)`
/// handed out. The kernel's own choice is the fallback.
fn free_port() -> Result<u16, TargetError> {
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let low = (ephemeral / 2).max(1024);
    if ephemeral > low {
        let mut random = std::collections::hash_map::RandomState::new().build_hasher();
        for attempt in 0u32..64 {
            random.write_u32(attempt);
            let port = low + (random.finish() % u64::from(ephemeral - low)) as u16;
            // Without SO_REUSEADDR (which std's bind sets): free for a
            // server that does not set it either, as the lecture's does not.
            let probe = Socket::new(Domain::IPV4, Type::STREAM, None)
                .and_then(|s| s.bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], port)))));
            if probe.is_ok() {
                return Ok(port);
            }
        }
    }
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
        Ok(Instance {
            target,
            endpoint,
            watch: Watch::default(),
        })
    }

    /// Every live process of the server.
    pub fn processes(&self) -> Vec<Pid> {
        self.target.processes()
    }

    /// Whether the server's first process has exited (it is then a zombie of
    /// ours, or reaped): a look that needs no `&mut`, for any thread's waits.
    pub fn gone(&self) -> bool {
        !observe::is_alive(self.target.pid())
    }

    /// `Ok` while the server's first process runs; else a violation naming its exit.
    pub fn alive(&mut self) -> Outcome {
        match self.target.try_status() {
            None => Ok(()),
            Some(status) => Err(Finding::violated(
                "the server keeps running",
                format!("it exited: {}", describe_status(status)),
            )
            .with_output(self.target.final_output(Duration::from_millis(200)))),
        }
    }

    /// The verdict on a property's `outcome`: if the server exited, that is
    /// the finding — whatever the property then saw follows from it — with
    /// what the property was waiting for as context; a pass on a server that
    /// exited is no pass.
    pub fn conclude(&mut self, outcome: Outcome) -> Outcome {
        self.finish_exiting();
        let Err(died) = self.alive() else {
            return outcome.map_err(|f| self.explain(f));
        };
        let Finding::Violated(mut exit) = died else {
            return Err(died);
        };
        match outcome {
            Err(Finding::Broken(e)) => Err(Finding::Broken(e)),
            // Already the exit, with its context.
            Err(Finding::Violated(f)) if f.observed.starts_with("it exited: ") => {
                Err(Finding::Violated(f))
            }
            Err(mut finding) => {
                if let Some(failure) = finding.failure_mut() {
                    exit.expected =
                        format!("{} (while awaiting: {})", exit.expected, failure.expected);
                }
                Err(Finding::Violated(exit))
            }
            Ok(()) => {
                exit.expected.push_str(" after serving");
                Err(Finding::Violated(exit))
            }
        }
    }

    /// Waits, at most a second, until a first process that is exiting can
    /// be reaped: one that crashes closes its sockets first, so its clients
    /// see a reset while it still looks alive, and a thread group's leader
    /// shows as a zombie before `waitpid` reports it (its other threads are
    /// still exiting).
    fn finish_exiting(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut pace = Pace::default();
        while self.target.try_status().is_none()
            && observe::stat(self.target.pid()).is_some_and(|s| s.exiting || s.state == 'Z')
            && Instant::now() < deadline
        {
            pace.pause(deadline);
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
                socket.set_tcp_nodelay(true)?;
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

    /// Waits, at most `bound` (or until the server is still or gone), until
    /// the server has accepted every connection made so far: a TCP listener
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
    /// bound ran out or the server was seen still first.
    pub fn hung_after(&self, awaited: impl Into<String>, end: &End) -> Finding {
        let mut finding = self.hung(awaited);
        if let (End::Stalled, Some(failure)) = (end, finding.failure_mut()) {
            failure.observed =
                "the server went still (every thread asleep; none read or wrote a byte when it woke) without doing it".into();
        }
        finding
    }

    /// Waits, at most `bound`, until the server is still (settled or idling)
    /// or gone; whether it was. `false` alone is no failure: a server that
    /// spins is never still.
    pub fn still(&self, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        let mut pace = Pace::default();
        loop {
            if self.idle() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            pace.pause(deadline);
        }
    }

    /// Whether the server will not act again without new input: gone,
    /// settled or idling.
    pub fn idle(&self) -> bool {
        self.stillness() != Stillness::Busy
    }

    /// How still the server is right now (see [`Stillness`]).
    pub fn stillness(&self) -> Stillness {
        self.watch.stillness(&self.target, self.gone())
    }

    /// The result of `outcome` once it is `Some`, looked for until `bound` —
    /// or until the server is still or gone, after which one last look
    /// decides: what the server has not done by then, it will not do
    /// without new input.
    pub fn wait_for<T>(
        &self,
        bound: Duration,
        mut outcome: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + bound;
        let mut pace = Pace::default();
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
            pace.pause(deadline);
        }
    }

    /// The listening socket and the server side of `client`'s connection,
    /// looked for within `bound` (or until the server is still or gone):
    /// `/proc/net/tcp` is read in pieces and may skip a line while other
    /// sockets come and go. Over Unix, the
    /// connection is the one accepted socket carrying the path's name, so
    /// only one client may be connected.
    pub fn sockets(&self, client: &Client, bound: Duration) -> Option<Sockets> {
        let deadline = Instant::now() + bound;
        let mut pace = Pace::default();
        for look in 1.. {
            if let Some(found) = self.sockets_now(client) {
                return Some(found);
            }
            // A few looks even once still, for a line skipped while sockets came and went.
            if Instant::now() >= deadline || (look >= 3 && self.idle()) {
                return None;
            }
            pace.pause(deadline);
        }
        None
    }

    fn sockets_now(&self, client: &Client) -> Option<Sockets> {
        match &self.endpoint {
            Endpoint::Tcp(addr) => {
                let sockets = observe::tcp_sockets();
                let peer = client.local_tcp()?;
                let listening = sockets.iter().find(|e| {
                    e.state == procfs::net::TcpState::Listen
                        && e.local_address.port() == addr.port()
                })?;
                // Inode 0: still in the accept queue, not yet any process's descriptor.
                let connection = sockets.iter().find(|e| {
                    e.local_address.port() == addr.port()
                        && e.remote_address == peer
                        && e.inode != 0
                })?;
                Some(Sockets {
                    listening: listening.inode,
                    connection: connection.inode,
                })
            }
            Endpoint::Unix(path) => {
                let listening = *observe::unix_inodes(path, true).first()?;
                let accepted: Vec<u64> = observe::unix_inodes(path, false)
                    .into_iter()
                    .filter(|&inode| inode != 0)
                    .collect();
                match accepted[..] {
                    [connection] => Some(Sockets {
                        listening,
                        connection,
                    }),
                    _ => None,
                }
            }
        }
    }

    /// Whether the server has stopped taking `client`'s bytes: it is still
    /// or gone; or (over TCP) a thread of the server that waits on that
    /// connection sleeps on through two looks, no context switch in between,
    /// while between the looks the client's bytes wait unread in the
    /// server's socket. Waiting bytes wake a thread that waits for input
    /// (`read`, or `poll` for it), so that thread waits to write: in
    /// `write`, or in `poll` for room.
    pub fn not_reading(&self, client: &Client) -> bool {
        if self.idle() {
            return true;
        }
        let (Endpoint::Tcp(addr), Some(peer)) = (&self.endpoint, client.local_tcp()) else {
            return false;
        };
        let connection = || {
            observe::tcp_sockets().into_iter().find(|e| {
                e.local_address.port() == addr.port() && e.remote_address == peer && e.inode != 0
            })
        };
        let Some(inode) = connection().map(|e| e.inode) else {
            return false;
        };
        let first = waiters(&self.holders(inode));
        if first.is_empty() || connection().is_none_or(|e| e.rx_queue == 0) {
            return false;
        }
        first.iter().any(|(before, _)| {
            observe::thread(before.pid, before.tid)
                .is_some_and(|after| after.state == 'S' && after.switches == before.switches)
        })
    }

    /// The descriptors of the server's processes that refer to socket `inode`.
    pub fn holders(&self, inode: u64) -> Holders {
        observe::socket_holders(&self.processes(), inode)
    }

    /// The server process: the holder of the listening socket whose parent
    /// does not hold it (a forked child may keep it too).
    pub fn main_process(&self, listening: u64) -> Option<Pid> {
        let holders: Vec<Pid> = self
            .holders(listening)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        holders
            .iter()
            .copied()
            .find(|&pid| !matches!(observe::stat(pid), Some(s) if holders.contains(&s.ppid)))
    }

    /// Waits, at most `bound`, until the server no longer holds socket
    /// `inode` — it has closed its side of a connection — or is still or gone.
    pub fn released(&self, inode: u64, bound: Duration) -> bool {
        self.wait_for(bound, || self.holders(inode).is_empty().then_some(()))
            .is_some()
    }
}

/// The threads of the holders' processes asleep waiting on one of the
/// holders' descriptors (in `read`, `poll`, `select`, `epoll_wait`, ...; see
/// [`observe::waits_on`]), with the descriptors each waits on.
pub fn waiters(holders: &[(Pid, i32)]) -> Vec<(ThreadState, Vec<i32>)> {
    let mut pids: Vec<Pid> = holders.iter().map(|(p, _)| *p).collect();
    pids.dedup();
    observe::threads(&pids)
        .into_iter()
        .filter(|t| t.state == 'S')
        .filter_map(|t| {
            let fds = observe::waits_on(&t)?;
            let on = fds.iter().any(|fd| holders.contains(&(t.pid, *fd)));
            on.then_some((t, fds))
        })
        .collect()
}

/// `pid N (fd F), ...` or `no process`.
pub fn list(holders: &[(Pid, i32)]) -> String {
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
