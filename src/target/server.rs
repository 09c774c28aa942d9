//! A server under test: launched with its address filled in, watched until
//! it listens, and observed from `/proc` while the check's clients
//! ([`super::connection`]) talk to it.
//!
//! [`Instance::launch`] fills `{port}` (a free port of 127.0.0.1, see
//! [`net::free_port`]) or `{socket}` (a path in a fresh temp dir, removed
//! with the target), starts the target and waits until the listening socket
//! shows in `/proc/net` — never a blind sleep.
//!
//! Every wait on the server ends early, by observation: when the server is
//! *gone* (its first process exited: what it did not do, it never will), or
//! when it will not act again without new input ([`Activity`]). Then one
//! last look decides.
//!
//! A server is *still* when it is:
//! - *settled* ([`settle::settled`]): every thread asleep in a call without
//!   timeout, twice, with no context switch in between, the same processes
//!   before and after, none about to reap; or
//! - *idling*: every thread asleep, some in waits with a timeout (Python's
//!   `socketserver` polls every 0.5 s), and since a first look each of those
//!   has woken at least once while no process read or wrote a byte
//!   (`/proc/<pid>/io`), forked or reaped (its page faults in
//!   `/proc/<pid>/stat`, reaped children's included), opened or closed a
//!   descriptor (an `accept` moves no byte), and nothing else changed: the
//!   same processes and threads, those in waits without timeout not
//!   switched once. A server that woke and did nothing had its chance to
//!   act on what was pending. (A client waiting for bytes also wants its own
//!   bytes read by the server, see [`super::connection::Client::receive`]:
//!   one still unread may be what the next wake-up acts on.)
//!
//! A server's *start-up is over* ([`Instance::started_up`], which checks
//! of its shape and CPU use wait for first) once it is still, or once it
//! has run for [`STEADY`] changing nothing a look can see: a server that
//! spins from the start is never still.
//!
//! The first look of a streak stays while later looks catch a thread awake:
//! only a look that finds every thread asleep again is compared with it.
//! What it compares either only grows (bytes, faults, context switches) or
//! is the whole state then (processes, threads, descriptors), so a look in
//! between that saw a timed sleeper mid-wake adds nothing the comparison
//! misses, as a wake between two looks never did. Starting the streak over
//! there instead cost another whole period, more often on a loaded machine,
//! where a woken thread waits longer for a core.
//!
//! Why a timed sleeper must be seen to wake, and is not judged idle from
//! what it waits on: when its timeout expires it runs whatever the program
//! does then, and no `/proc` file tells what that is.
//! - Its wait set (`poll`/`select` sets from its memory, an `epoll`
//!   instance's `fdinfo`) says what ends the wait early, not what the
//!   program does after it: a loop that sleeps on a timer and only then
//!   reaps and accepts (`fixtures/servers/fork_on_tick.c`, Python's
//!   `ForkingMixIn` between its polls), or reads a socket it does not poll,
//!   acts on input its set never shows. A ready descriptor in the set only
//!   says the thread is about to wake.
//! - Nothing pending anywhere (empty backlogs and receive queues, no
//!   zombie) does not prove it either: another thread may have left it work
//!   in memory, or the program may act on time alone.
//! - Per-thread counters (`task/<tid>/io`, `schedstat`) could tell one
//!   thread's barren wake from another's work, but a wake matters only when
//!   it comes after everything else stopped: earlier ones saw a different
//!   program state. Python's `serve_forever` re-enters its `poll` right
//!   after accepting, before the handler ran, so its first wake after the
//!   work is the one to wait for.
//!
//! # References
//! - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html): `fd/`, `net/tcp`, `net/unix`, `/proc/<pid>/io`, `stat`, `task/<tid>/syscall`
//! - [poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html), [select(2)](https://man7.org/linux/man-pages/man2/select.2.html), [epoll_wait(2)](https://man7.org/linux/man-pages/man2/epoll_wait.2.html), [futex(2)](https://man7.org/linux/man-pages/man2/futex.2.html): the waits that may time out

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use nix::unistd::Pid;

use super::connection::Client;
use super::net::{self, Endpoint};
use super::observe::{self, Io, Syscall, ThreadState};
use super::settle::{self, Bound, Gaps, Look, Pacing, Shown, Watched};
use super::{CommandSpec, Target, TargetConfig, TargetError};

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
    /// The last [`Instance::accepted_all`] saw it still with connections
    /// left in its backlog.
    left_in_backlog: AtomicBool,
}

impl Instance {
    /// Starts `command` on a fresh endpoint (its `{socket}` or `{port}`
    /// filled) and waits, at most `bound`, until it listens.
    pub fn launch(command: &CommandSpec, bound: Duration) -> Result<Instance, TargetError> {
        if command.uses("socket") {
            let dir = tempfile::Builder::new()
                .prefix("ipcspec-server-")
                .tempdir()
                .map_err(|e| TargetError::setup("a temp dir for the Unix socket", e))?
                .keep();
            // A sandboxed server runs as another user, who must create the socket there.
            super::sandbox::hand_over(&dir)
                .map_err(|e| TargetError::setup("the Unix socket's directory", e))?;
            let endpoint = Endpoint::Unix(dir.join("echo.sock"));
            Instance::start(command, endpoint, vec![dir], bound)
        } else {
            Instance::launch_on(command, net::free_port()?, bound)
        }
    }

    /// Starts `command` with `{port}` filled with `port` of 127.0.0.1 (where
    /// a previous instance may have just run) and waits, at most `bound`,
    /// until it listens.
    pub fn launch_on(
        command: &CommandSpec,
        port: u16,
        bound: Duration,
    ) -> Result<Instance, TargetError> {
        Instance::start(command, Endpoint::loopback(port), Vec::new(), bound)
    }

    fn start(
        command: &CommandSpec,
        endpoint: Endpoint,
        cleanup: Vec<PathBuf>,
        bound: Duration,
    ) -> Result<Instance, TargetError> {
        let mut target = spawn_on(command, &endpoint, cleanup)?;
        target.wait_ready(&endpoint.describe(), bound, || endpoint.listening())?;
        Ok(Instance {
            target,
            endpoint,
            watch: Watch::default(),
            left_in_backlog: AtomicBool::new(false),
        })
    }

    /// The port of a TCP server (127.0.0.1); `None` over Unix.
    pub fn tcp_port(&self) -> Option<u16> {
        match &self.endpoint {
            Endpoint::Tcp { port, .. } => Some(*port),
            Endpoint::Unix(_) => None,
        }
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

    /// Waits, at most a second, until a first process that is exiting can
    /// be reaped: one that crashes closes its sockets first, so its clients
    /// see a reset while it still looks alive, and a thread group's leader
    /// shows as a zombie before `waitpid` reports it (its other threads are
    /// still exiting).
    pub fn finish_exiting(&mut self) {
        let first = self.target.pid();
        let target = &mut self.target;
        let _ = settle::wait(
            Duration::from_secs(1),
            &mut Bound(Shown::Nothing, Gaps::BackingOff),
            || {
                let exiting = target.try_status().is_none()
                    && observe::stat(first).is_some_and(|s| s.exiting || s.state == 'Z');
                if exiting {
                    Look::Waiting
                } else {
                    Look::Done(())
                }
            },
        );
    }

    /// A new client connection, within `bound`, from any thread.
    pub fn dial(&self, bound: Duration) -> io::Result<Client> {
        self.endpoint.dial(bound).map(Client::new)
    }

    /// Waits, at most `bound` (or until the server is still or gone), until
    /// the server has accepted every connection made so far: a TCP listener
    /// whose short backlog overflows drops handshakes, and the client only
    /// retries a second or more later. (Unix connects wait for room by themselves.)
    pub fn await_accepted(&self, bound: Duration) {
        if self.tcp_port().is_some() {
            self.accepted_all(bound);
        }
    }

    /// Waits, at most `bound` (or until the server is still or gone), until
    /// no connection waits in its listen backlog ([`Instance::backlog`]);
    /// whether none does. The first looks, for some 50 ms, are at the
    /// backlog alone: a server with hundreds of processes makes each look
    /// at its stillness cost more than accepting a few clients takes.
    ///
    /// Once a wait ended with the server still and connections left in its
    /// backlog, the next (the next client of a line of them) skips those
    /// first looks: a server that took none of them has to be seen still
    /// again anyway, and the looks would only delay that by each client.
    pub fn accepted_all(&self, bound: Duration) -> bool {
        let empty = || self.backlog() == Some(0);
        let quick = Pacing::FIRST * Pacing::QUICK * 2;
        let at_once = !self.left_in_backlog.load(Ordering::Relaxed)
            && settle::until(quick.min(bound), Gaps::QuickFirst, empty);
        let accepted = at_once || self.wait_for(bound, || empty().then_some(())).is_some();
        self.left_in_backlog.store(!accepted, Ordering::Relaxed);
        accepted
    }

    /// How many connections wait in the listen backlog, made but not yet
    /// accepted: the listener's `rx_queue` in `/proc/net/tcp`, or over Unix
    /// the connections to the path that no descriptor holds yet (inode 0 in
    /// `/proc/net/unix`). `None` while the listener does not show.
    pub fn backlog(&self) -> Option<usize> {
        match &self.endpoint {
            Endpoint::Tcp { port, .. } => observe::tcp_accept_queue(*port),
            Endpoint::Unix(path) => Some(
                observe::unix_inodes(path, false)
                    .into_iter()
                    .filter(|&inode| inode == 0)
                    .count(),
            ),
        }
    }

    /// Waits, at most `bound`, until the server is still (settled or idling)
    /// or gone; whether it was. `false` alone is no failure: a server that
    /// spins is never still.
    pub fn still(&self, bound: Duration) -> bool {
        settle::wait(bound, &mut Idle(self), || Look::<()>::Waiting).is_err_and(|e| e.stuck())
    }

    /// Waits, at most `bound`, until the server's start-up is over: it is
    /// still or gone, or it has run for [`STEADY`] changing nothing a look
    /// can see — the same processes and threads, no byte read or written,
    /// no page fault, no descriptor opened or closed — with a thread of it
    /// running at every look, and for half that time at least. A server
    /// that spins from the start is never still, and what it has by then
    /// it keeps: its threads, descriptors and workers are what a check of
    /// its shape counts. Start-up work that computes for long without
    /// touching new memory would count as over too; a server that only
    /// sleeps does not (it may make its workers when it wakes): that is
    /// stillness's to decide.
    pub fn started_up(&self, bound: Duration) {
        let mut watched = StartedUp {
            instance: self,
            steady: None,
        };
        let _ = settle::wait(bound, &mut watched, || Look::<()>::Waiting);
    }

    /// Whether the server will not act again without new input: gone,
    /// settled or idling.
    pub fn idle(&self) -> bool {
        self.activity() != Activity::Busy
    }

    /// How still the server is right now (see [`Activity`]).
    pub fn activity(&self) -> Activity {
        self.watch.activity(&self.target, self.gone())
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
        settle::wait(bound, &mut Idle(self), || match outcome() {
            Some(value) => Look::Done(value),
            None => Look::Waiting,
        })
        .ok()
    }

    /// The listening socket and the server side of `client`'s connection,
    /// looked for within `bound` (or until the server is still or gone):
    /// `/proc/net/tcp` is read in pieces and may skip a line while other
    /// sockets come and go. Over Unix, the
    /// connection is the one accepted socket carrying the path's name, so
    /// only one client may be connected.
    pub fn sockets(&self, client: &Client, bound: Duration) -> Option<Sockets> {
        let mut looks = 0;
        let found = settle::wait(bound, &mut Bound(Shown::Nothing, Gaps::BackingOff), || {
            looks += 1;
            match self.sockets_now(client) {
                Some(found) => Look::Done(Some(found)),
                // A few looks even once still, for a line skipped while sockets came and went.
                None if looks >= 3 && self.idle() => Look::Done(None),
                None => Look::Waiting,
            }
        });
        found.ok().flatten()
    }

    fn sockets_now(&self, client: &Client) -> Option<Sockets> {
        match &self.endpoint {
            Endpoint::Tcp { port, .. } => {
                let sockets = observe::tcp_sockets();
                let peer = client.local_tcp()?;
                let listening = listen_entry(&sockets, *port)?;
                // Inode 0: still in the accept queue, not yet any process's descriptor.
                let connection = sockets.iter().find(|e| {
                    e.local_address.port() == *port && e.remote_address == peer && e.inode != 0
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

    /// The inode of the socket listening on the server's endpoint, if one does now.
    pub fn listener(&self) -> Option<u64> {
        match &self.endpoint {
            Endpoint::Tcp { port, .. } => {
                listen_entry(&observe::tcp_sockets(), *port).map(|e| e.inode)
            }
            Endpoint::Unix(path) => observe::unix_inodes(path, true).first().copied(),
        }
    }

    /// Whether the server has taken up `client`: it accepted the connection
    /// and a thread of it waits on it (to read what the client will send).
    /// Over Unix, where `/proc/net/unix` does not pair a connection's two
    /// ends, every connection to the path must be: none left in the accept
    /// queue, and each accepted one waited on.
    pub fn taken_up(&self, client: &Client) -> bool {
        let waited = |inode: u64| !waiters(&self.holders(inode)).is_empty();
        match &self.endpoint {
            Endpoint::Tcp { .. } => self
                .sockets_now(client)
                .is_some_and(|found| waited(found.connection)),
            Endpoint::Unix(path) => {
                let connections = observe::unix_inodes(path, false);
                // Inode 0: still in the accept queue.
                !connections.is_empty()
                    && connections.iter().all(|&inode| inode != 0 && waited(inode))
            }
        }
    }

    /// Whether the server has stopped taking `client`'s bytes: it is gone,
    /// or over TCP some of them wait unread in the server's socket (`rx_queue`),
    /// accepted or not, while the server does not run: either no thread of
    /// it ran at all, every one asleep in a call without timeout from a
    /// look before those bytes were seen to one after, with the server
    /// still meanwhile; or a thread of it that waits on that connection
    /// slept on that way. Waiting bytes wake a thread that waits for input
    /// (`read`, or `poll` for it), so such a thread waits to write, in
    /// `write` or in `poll` for room. A server merely seen still while
    /// bytes wait is not enough: it may have read them just before, and
    /// the client's next bytes be on their way (loopback delivers them
    /// from a softirq, which a loaded machine defers); the client then
    /// read early and a server that drops what its queue cannot hold was
    /// never made to drop. Over Unix, where a write reaches the reader's
    /// queue within the call, the server being still or gone.
    pub fn not_reading(&self, client: &Client) -> bool {
        let (Some(port), Some(peer)) = (self.tcp_port(), client.local_tcp()) else {
            return self.idle();
        };
        // The connection's one server-side entry: inode 0 until accepted.
        let server_side = || {
            observe::tcp_sockets()
                .into_iter()
                .find(|e| e.local_address.port() == port && e.remote_address == peer)
        };
        if self.gone() {
            return true;
        }
        let before = observe::threads(&self.processes());
        let Some(waiting) = server_side().filter(|e| e.rx_queue > 0) else {
            return false;
        };
        if self.idle() && settle::same_sleep(&before, &observe::threads(&self.processes())) {
            return true;
        }
        if waiting.inode == 0 {
            return false;
        }
        let first = waiters(&self.holders(waiting.inode));
        if first.is_empty() || server_side().is_none_or(|e| e.rx_queue == 0) {
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

/// The socket of `sockets` listening on TCP `port`.
fn listen_entry(sockets: &[observe::TcpEntry], port: u16) -> Option<&observe::TcpEntry> {
    sockets
        .iter()
        .find(|e| e.state == observe::TcpState::Listen && e.local_address.port() == port)
}

/// Starts `command` (not awaited) with its placeholder filled for
/// `endpoint`: `{port}` for TCP, `{socket}` for Unix; `cleanup` goes with
/// the target.
pub fn spawn_on(
    command: &CommandSpec,
    endpoint: &Endpoint,
    cleanup: Vec<PathBuf>,
) -> Result<Target, TargetError> {
    let command = match endpoint {
        Endpoint::Tcp { port, .. } => command.fill(&[("port", &port.to_string())]),
        Endpoint::Unix(path) => command.fill(&[("socket", &path.to_string_lossy())]),
    };
    let mut config = TargetConfig::new(command);
    config.cleanup = cleanup;
    Target::spawn(config)
}

/// A server is stuck, for a wait, once it will not act again without new
/// input: gone, settled or idling ([`Instance::idle`]).
pub struct Idle<'a>(pub &'a Instance);

impl Watched for Idle<'_> {
    fn stuck(&mut self) -> Option<(Vec<Pid>, Vec<observe::ThreadState>)> {
        self.0.idle().then(|| self.snapshot())
    }

    fn gaps(&self) -> Gaps {
        Gaps::BackingOff
    }

    fn snapshot(&self) -> (Vec<Pid>, Vec<observe::ThreadState>) {
        let pids = self.0.processes();
        let threads = observe::threads(&pids);
        (pids, threads)
    }
}

/// How long a running server must change nothing for its start-up to be
/// over ([`Instance::started_up`]): start-up work shows a change well
/// within it (a page fault, a byte read, a thread made; Python's imports
/// fault and read all along), and it is a fifth of the second the
/// start-up waits allow.
pub const STEADY: Duration = Duration::from_millis(200);

/// A server is stuck, for a wait on its start-up, once it is still, or has
/// run for [`STEADY`] without changing what it has ([`Made`]).
struct StartedUp<'a> {
    instance: &'a Instance,
    /// Since when every look found a thread running and the same [`Made`],
    /// and the CPU ticks the server had used then.
    steady: Option<(std::time::Instant, u64, Made)>,
}

/// What a server has made and done so far, as far as looks can compare.
#[derive(PartialEq, Eq)]
struct Made {
    pids: Vec<Pid>,
    tids: Vec<Pid>,
    footprints: Vec<Footprint>,
}

impl Watched for StartedUp<'_> {
    fn stuck(&mut self) -> Option<(Vec<Pid>, Vec<observe::ThreadState>)> {
        if self.instance.gone() {
            return Some(self.snapshot());
        }
        let pids = self.instance.processes();
        let threads = observe::threads(&pids);
        // A thread running is a server `idle` finds busy at once: the look
        // at its stillness, which reads all this again, is only for the rest.
        if !threads.iter().any(|t| t.state == 'R') {
            self.steady = None;
            return self.instance.idle().then(|| self.snapshot());
        }
        let (footprints, ticks): (Vec<Footprint>, Vec<u64>) =
            pids.iter().map(|&p| Footprint::with_cpu_ticks(p)).unzip();
        let ran: u64 = ticks.iter().sum();
        let made = Made {
            tids: threads.iter().map(|t| t.tid).collect(),
            footprints,
            pids,
        };
        match &self.steady {
            Some((since, ran_before, before)) if *before == made => {
                // Runnable is not running: a thread a loaded machine leaves
                // waiting for a core also shows `R`, and it changes nothing.
                let ran_most =
                    ran.saturating_sub(*ran_before) as f64 >= observe::ticks_in(STEADY / 2);
                (since.elapsed() >= STEADY && ran_most).then_some((made.pids, threads))
            }
            _ => {
                self.steady = Some((std::time::Instant::now(), ran, made));
                None
            }
        }
    }

    fn gaps(&self) -> Gaps {
        Gaps::BackingOff
    }

    fn snapshot(&self) -> (Vec<Pid>, Vec<observe::ThreadState>) {
        Idle(self.instance).snapshot()
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

/// How still a server is right now; see the module doc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    /// Its first process has exited.
    Gone,
    /// Every thread asleep in a call without timeout, with no context switch.
    Settled,
    /// Asleep, and woke from its timed waits without doing anything.
    Idling,
    /// Running, or not yet seen still.
    Busy,
}

/// Successive looks at one server, remembering the first look of the
/// current idling streak.
#[derive(Default)]
struct Watch {
    anchor: Mutex<Option<Sample>>,
}

/// What one look at the server saw, to compare the next look with.
struct Sample {
    pids: Vec<Pid>,
    /// Each thread: its ID, context switches, and whether its wait has a timeout.
    threads: Vec<(Pid, u64, bool)>,
    /// Each process: what it has done that a later look can tell.
    activity: Vec<Footprint>,
}

/// What one process has done so far, as far as a later look can compare:
/// a wake that changed none of it did nothing the check can see.
#[derive(Debug, PartialEq, Eq)]
struct Footprint {
    /// Bytes read and written, and the calls that moved them.
    io: Option<Io>,
    /// Page faults, reaped children's included: they grow when it forks
    /// (copy on write) or reaps, which no I/O counter shows.
    faults: Option<u64>,
    /// Open descriptors: `accept` moves no byte, so a wake that only took
    /// a connection off the backlog shows here (and in no counter above).
    fds: Option<usize>,
}

impl Footprint {
    fn of(pid: Pid) -> Footprint {
        Footprint::with_cpu_ticks(pid).0
    }

    /// The footprint of `pid`, and the CPU ticks it has used, from one
    /// read of its `stat`.
    fn with_cpu_ticks(pid: Pid) -> (Footprint, u64) {
        let stat = observe::stat(pid);
        let footprint = Footprint {
            io: observe::io(pid),
            faults: stat.as_ref().map(|s| s.faults),
            fds: observe::fd_count(pid),
        };
        (footprint, stat.map_or(0, |s| s.cpu_ticks))
    }
}

impl Sample {
    /// A look at `target` with every thread asleep in a wait, with or
    /// without timeout; `None` when one is not (running, or in a call that
    /// is neither), when a process shows no thread, or when a thread is
    /// about to reap.
    fn take(target: &Target) -> Option<Sample> {
        let pids = target.processes();
        let threads = observe::threads(&pids);
        let waiting = |t: &ThreadState| {
            t.state == 'S' && (t.syscall.is_indefinite() || timed_wait(&t.syscall))
        };
        let complete = pids.iter().all(|&p| threads.iter().any(|t| t.pid == p));
        if threads.is_empty()
            || !complete
            || !threads.iter().all(waiting)
            || settle::reaping(&threads)
        {
            return None;
        }
        Some(Sample {
            activity: pids.iter().map(|&p| Footprint::of(p)).collect(),
            threads: threads
                .iter()
                .map(|t| (t.tid, t.switches, timed_wait(&t.syscall)))
                .collect(),
            pids,
        })
    }

    /// Whether `later` saw nothing happen since this look but timed
    /// sleepers waking: the same processes and threads, no byte read or
    /// written, no fork or reaping, no descriptor opened or closed, and
    /// each thread that waited without timeout still in such a wait, with
    /// no context switch.
    fn continued_by(&self, later: &Sample) -> bool {
        self.pids == later.pids
            && self.activity == later.activity
            && self.threads.len() == later.threads.len()
            && self
                .threads
                .iter()
                .zip(&later.threads)
                .all(|(a, b)| a.0 == b.0 && (a.2 || (b.1 == a.1 && !b.2)))
    }

    /// Whether every thread in a timed wait at this look has woken (been
    /// switched out again) by `later`'s.
    fn woken_by(&self, later: &Sample) -> bool {
        self.threads
            .iter()
            .zip(&later.threads)
            .filter(|(a, _)| a.2)
            .all(|(a, b)| b.1 > a.1)
    }
}

/// What one look found the server's threads doing.
enum Sleep {
    /// Some thread is not asleep in a wait.
    No,
    /// Every thread asleep in a call without timeout (the strict look decides).
    Indefinite,
    /// Some asleep in timed waits, not all of those woken yet since the streak began.
    Timed,
    /// Idling (see [`Activity::Idling`]).
    Idling,
}

/// A wait with a timeout the thread may wake from by itself.
fn timed_wait(syscall: &Syscall) -> bool {
    !syscall.is_indefinite()
        && matches!(
            syscall.name(),
            Some(
                "poll"
                    | "ppoll"
                    | "select"
                    | "pselect6"
                    | "epoll_wait"
                    | "epoll_pwait"
                    | "epoll_pwait2"
                    | "futex"
                    | "futex_waitv"
                    | "nanosleep"
                    | "clock_nanosleep"
                    | "rt_sigtimedwait"
            )
        )
}

impl Watch {
    /// How still `target` is right now; `gone` when its first process exited.
    fn activity(&self, target: &Target, gone: bool) -> Activity {
        if gone {
            return Activity::Gone;
        }
        match self.look(target) {
            Sleep::Indefinite if settle::settled(target, &[]).is_some() => Activity::Settled,
            Sleep::Idling => Activity::Idling,
            _ => Activity::Busy,
        }
    }

    /// One look for idling, compared with the first look of the streak.
    fn look(&self, target: &Target) -> Sleep {
        self.judge(Sample::take(target))
    }

    /// Judges `look` (`None` when some thread was not asleep in a wait)
    /// against the first look of the streak, which it may start.
    fn judge(&self, look: Option<Sample>) -> Sleep {
        let mut anchor = self.anchor.lock().unwrap_or_else(|e| e.into_inner());
        // A look that caught a thread awake leaves the streak's first look
        // (see the module doc): the next one that finds all asleep decides.
        let Some(look) = look else {
            return Sleep::No;
        };
        if !look.threads.iter().any(|t| t.2) {
            *anchor = None;
            return Sleep::Indefinite;
        }
        match anchor.as_ref() {
            Some(first) if first.continued_by(&look) => {
                if first.woken_by(&look) {
                    Sleep::Idling
                } else {
                    Sleep::Timed
                }
            }
            _ => {
                *anchor = Some(look);
                Sleep::Timed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server of one process with a thread in a timed wait (tid 1) and
    /// one in a wait without timeout (tid 2), after `wakes` wakes of the
    /// first, holding `fds` descriptors.
    fn sample(wakes: u64, fds: usize) -> Sample {
        let pid = Pid::from_raw(1);
        Sample {
            pids: vec![pid],
            threads: vec![(pid, 10 + wakes, true), (Pid::from_raw(2), 5, false)],
            activity: vec![Footprint {
                io: Some(Io::default()),
                faults: Some(100),
                fds: Some(fds),
            }],
        }
    }

    fn idling(sleep: Sleep) -> bool {
        matches!(sleep, Sleep::Idling)
    }

    #[test]
    fn idling_wants_every_timed_sleeper_woken_since_the_first_look() {
        let watch = Watch::default();
        assert!(!idling(watch.judge(Some(sample(0, 4)))));
        assert!(!idling(watch.judge(Some(sample(0, 4)))));
        assert!(idling(watch.judge(Some(sample(1, 4)))));
    }

    #[test]
    fn a_thread_caught_mid_wake_does_not_start_the_streak_over() {
        let watch = Watch::default();
        watch.judge(Some(sample(0, 4)));
        assert!(!idling(watch.judge(None)));
        assert!(idling(watch.judge(Some(sample(1, 4)))));
    }

    #[test]
    fn a_wake_that_accepted_a_connection_is_progress() {
        let watch = Watch::default();
        watch.judge(Some(sample(0, 4)));
        assert!(!idling(watch.judge(Some(sample(1, 5)))));
        assert!(idling(watch.judge(Some(sample(2, 5)))));
    }

    #[test]
    fn a_thread_waiting_without_timeout_that_ran_is_progress() {
        let watch = Watch::default();
        watch.judge(Some(sample(0, 4)));
        let mut ran = sample(1, 4);
        ran.threads[1].1 += 1;
        assert!(!idling(watch.judge(Some(ran))));
    }
}
