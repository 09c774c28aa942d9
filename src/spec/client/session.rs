//! One client session: the client under test, started with lines on its
//! stdin, against a server this check runs in-process on one loopback
//! address ([`Venue`]: 127.0.0.1 unless a property says otherwise), or, for
//! the errors a client must report, against no server at all
//! ([`ClientCommand::alone`]).
//!
//! The server is a plain echo, or an adversarial one that coalesces what has
//! arrived, cuts each reply into pieces and hands over the next piece only
//! once the client has consumed the previous one (its receive queue, seen in
//! `/proc/net/tcp`, is empty) — so a client that assumes one `read` returns
//! one whole reply meets a split reply every time, not by luck of timing.
//! The server counts what it accepted, read and echoed ([`Served`]), so a
//! verdict can tell a client that never connected from one that did.
//!
//! A server that closes early ([`ServerBehaviour::CloseEarly`]) sends its
//! FIN and then resets the connection, so the client's very next write
//! fails with `EPIPE` (and raises `SIGPIPE` unless the client ignores it),
//! while its reads still return every reply and then end-of-file. What the
//! client's stdin holds after that ([`Stdin::ThenAfterClose`]) is fed only
//! once the client has exited or gone still: a client that stops at the
//! server's end-of-file never meets it, whatever the scheduling.
//!
//! A client run [`alone`](ClientCommand::alone) gets a line and end-of-file
//! on stdin and a `{host}` and `{port}` where nothing accepts: its exit
//! status and stderr are the verdict's material.
//!
//! Guarantees:
//! - a session ends once the client closed its stdout and exited; it ends
//!   sooner, as a hang, once the client and the check's own server, feeder
//!   and reader are all asleep in calls nothing pending can end (three looks
//!   in a row, [`Stillness`]), or after `ctx.timeout` without progress;
//! - a client that exits ends its session at once: the server's `accept` is
//!   woken by shutting the listener down, every other call of the server
//!   gives up after `ctx.timeout`;
//! - the client and everything it spawned are killed when the session ends.
//!
//! # References
//! - [shutdown(2)](https://man7.org/linux/man-pages/man2/shutdown.2.html) (on a listening socket, it wakes `accept`)
//! - [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html) (`SO_LINGER` with a zero timeout: `close` resets the connection)
//! - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html) (`/proc/net/tcp`: `rx_queue`)

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown};
use std::process::{ChildStdin, ExitStatus};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::unistd::Pid;
use socket2::Socket;

use super::ClientCommand;
use crate::spec::socket::Listening;
use crate::spec::{Ctx, Finding};
use crate::target::net::send_all;
use crate::target::observe::{TcpState, ThreadState};
use crate::target::settle::{self, Bound, Gaps, Look, Shown, Stillness, Watched};
use crate::target::{observe, Stream, Target, TargetConfig, TargetError};

/// How the in-process server treats the client's connection.
#[derive(Clone, Debug)]
pub(super) enum ServerBehaviour {
    /// Echo each chunk as it arrives, until EOF.
    Plain,
    /// Coalesce what has arrived, reply in pieces cut by these sizes, each
    /// handed over once the client consumed the previous one; until EOF.
    Split(Vec<usize>),
    /// Read everything until EOF, then reply in pieces cut by these sizes.
    AfterHalfClose(Vec<usize>),
    /// Echo the first line, then close the connection.
    CloseAfterFirstLine,
    /// Read `sent` bytes, echoing only the first `answered` of them, then
    /// close the connection: a FIN, then a reset.
    CloseEarly {
        /// Bytes echoed back.
        answered: usize,
        /// Bytes read before closing: all the client is given before the close.
        sent: usize,
    },
}

/// Where the check's server listens, and the `{host}` that names it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Venue {
    /// What `{host}` becomes.
    pub host: &'static str,
    /// The one address the server listens on.
    pub ip: IpAddr,
}

impl Venue {
    /// `127.0.0.1`, as itself.
    pub const LOOPBACK: Venue = Venue {
        host: "127.0.0.1",
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
}

/// What the client's stdin holds after the session's input.
#[derive(Clone, Debug)]
pub(super) enum Stdin {
    /// End-of-file.
    Closed,
    /// Nothing: it stays open until the session ends.
    KeptOpen,
    /// These bytes and end-of-file, fed once the check's server has closed
    /// the connection and the client has exited or gone still.
    ThenAfterClose(Vec<u8>),
}

/// What the check's server saw of the client.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Served {
    /// Whether the client connected.
    pub connected: bool,
    /// Bytes the client sent.
    pub received: usize,
    /// Bytes the server echoed back to it.
    pub echoed: usize,
    /// Whether the server has closed its end of the connection.
    pub closed: bool,
}

/// What one client session produced.
pub(super) struct Transcript {
    /// Everything the client printed, in order.
    pub stdout: Vec<u8>,
    /// How the client ended once its stdout closed; `Err` holds its threads'
    /// states when it was still running.
    pub exit: Result<ExitStatus, String>,
    /// The client's last stderr lines.
    pub output: Vec<String>,
    /// What the server saw.
    pub served: Served,
}

/// Most pieces one reply is cut into, so replies stay few and the check fast.
const MAX_PIECES: usize = 6;

/// How often the check looks at a client that printed nothing new, and how
/// long one look waits to see the check's server asleep in `accept`.
const LOOK: Duration = Duration::from_millis(20);

/// Shuts the listener down when the session ends, however it ends: an
/// `accept` still waiting for a client that is gone returns at once.
struct WakeOnDrop(Socket);

impl Drop for WakeOnDrop {
    fn drop(&mut self) {
        let _ = self.0.shutdown(Shutdown::Read);
    }
}

impl ClientCommand {
    /// Runs the client against `server`, listening at `venue`, with `input`
    /// and then what `stdin` says on its stdin; returns once the client closed
    /// its stdout and exited, or a hang (see the module's guarantees).
    pub(super) fn session(
        &self,
        venue: Venue,
        server: ServerBehaviour,
        input: &[u8],
        stdin: Stdin,
        ctx: &Ctx,
    ) -> Result<Transcript, Finding> {
        let setup = |e| TargetError::setup(format!("the check's server on {}", venue.ip), e);
        let listening = Listening::tcp(venue.ip).map_err(setup)?;
        // accept(2) honours SO_RCVTIMEO: a live client that never connects cannot hold the server.
        listening
            .socket
            .set_read_timeout(Some(ctx.timeout))
            .map_err(setup)?;
        let wake = WakeOnDrop(listening.socket.try_clone().map_err(setup)?);
        let port = listening.addr.as_socket().map_or(0, |a| a.port());
        let mut config = TargetConfig::new(
            self.0
                .fill(&[("host", venue.host), ("port", &port.to_string())]),
        );
        config.stdin = Stream::Piped;
        config.stdout = Stream::Piped;
        let mut target = Target::spawn(config)?;
        let timeout = ctx.timeout;
        let served = Arc::new(Mutex::new(Served::default()));
        let (tids, ours) = mpsc::channel();
        let (server_tid, server_is) = mpsc::channel();
        let server = {
            let served = served.clone();
            std::thread::spawn(move || -> io::Result<()> {
                let _ = server_tid.send(nix::unistd::gettid());
                let (conn, _) = listening.socket.accept()?;
                tally(&served).connected = true;
                conn.set_read_timeout(Some(timeout))?;
                conn.set_write_timeout(Some(timeout))?;
                let conn = Tallied {
                    conn,
                    served: served.clone(),
                };
                serve(&conn, &server, timeout)?;
                // While no fork is under way, as `Client` closes (see its
                // `Drop`): a copy in a child between fork and exec would
                // hold the connection open, and the reset `CloseEarly`
                // arms would not come.
                let no_fork = crate::sys::no_fork();
                drop(conn);
                drop(no_fork);
                tally(&served).closed = true;
                Ok(())
            })
        };
        let input = input.to_vec();
        let (later, after_close) = mpsc::channel::<()>();
        let later = matches!(stdin, Stdin::ThenAfterClose(_)).then_some(later);
        let feeder = target.take_stdin().map(|mut pipe| {
            let tids = tids.clone();
            std::thread::spawn(move || -> Option<ChildStdin> {
                let _ = tids.send(nix::unistd::gettid());
                // A client that exits early breaks the pipe: its verdict comes from what it printed.
                let _ = pipe.write_all(&input);
                match stdin {
                    Stdin::Closed => None,
                    Stdin::KeptOpen => Some(pipe),
                    Stdin::ThenAfterClose(rest) => {
                        // The session ends without a word when the client never goes still.
                        if after_close.recv().is_ok() {
                            let _ = pipe.write_all(&rest);
                        }
                        None
                    }
                }
            })
        });
        let (tx, printed) = mpsc::channel();
        let mut helpers = usize::from(feeder.is_some());
        if let Some(mut out) = target.take_stdout() {
            helpers += 1;
            std::thread::spawn(move || {
                let _ = tids.send(nix::unistd::gettid());
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = out.read(&mut buf) {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            });
        }
        // Each helper sends its tid first thing: the server, feeder and stdout reader.
        let server_tid = server_is.recv().map_err(|_| {
            TargetError::setup(
                "the check's server",
                io::Error::other("its thread died at start"),
            )
        })?;
        let helpers: Vec<Pid> = std::iter::once(server_tid)
            .chain(ours.iter().take(helpers))
            .collect();
        let closed = || tally(&served).closed;
        let stdout = collect(&target, &printed, &helpers, port, (later, &closed), ctx)?;
        let exit = wait_exit(&mut target, &helpers, ctx);
        let output = target.final_output(Duration::from_millis(100));
        // Killing the client first ends a feeder still blocked writing to its stdin;
        // a stdin kept open stays open until the client is gone.
        drop(target);
        drop(feeder.map(std::thread::JoinHandle::join));
        release(wake, &server, server_tid, ctx.timeout);
        // Bounded: accept was woken above, every other call gives up after ctx.timeout.
        let _ = server.join();
        let served = *tally(&served);
        Ok(Transcript {
            stdout,
            exit,
            output,
            served,
        })
    }
}

/// The line a client run [`alone`](ClientCommand::alone) reads on stdin.
const LONE_LINE: &[u8] = b"nobody will answer this line\n";

impl ClientCommand {
    /// Runs the client with `{host}` and `{port}` as given, where no server
    /// of the check's listens, [`LONE_LINE`] and EOF on its stdin and its
    /// stdout to /dev/null; returns once it exited, or a hang.
    pub(super) fn alone(&self, host: &str, port: u16, ctx: &Ctx) -> Result<Transcript, Finding> {
        let mut config =
            TargetConfig::new(self.0.fill(&[("host", host), ("port", &port.to_string())]));
        config.stdin = Stream::Piped;
        config.stdout = Stream::Null;
        let mut target = Target::spawn(config)?;
        if let Some(mut pipe) = target.take_stdin() {
            // One short line fits in the pipe: this neither blocks nor fails but on a client gone.
            let _ = pipe.write_all(LONE_LINE);
        }
        let exit = wait_exit(&mut target, &[], ctx);
        let output = target.final_output(Duration::from_millis(100));
        Ok(Transcript {
            stdout: Vec::new(),
            exit,
            output,
            served: Served::default(),
        })
    }
}

/// Wakes the server's `accept` ([`WakeOnDrop`]) once it has no connection
/// left to take: the server thread returned, or it sleeps in `accept`, which
/// it could not with a connection queued. A client that connected and left
/// at once is still accepted, and counted, first. At most `bound`.
fn release<T>(wake: WakeOnDrop, server: &JoinHandle<T>, tid: Pid, bound: Duration) {
    let _ = settle::wait(
        bound,
        &mut Bound(Shown::Nothing, Gaps::Steady(Duration::ZERO)),
        || {
            let accepting = || {
                observe::wait_thread_asleep(tid, LOOK)
                    .is_ok_and(|state| matches!(state.syscall.name(), Some("accept" | "accept4")))
            };
            if server.is_finished() || accepting() {
                Look::Done(())
            } else {
                Look::Waiting
            }
        },
    );
    drop(wake);
}

/// What the client prints, until it closes its stdout; a hang when it stops
/// making progress (see the module's guarantees). The first time it goes
/// still (or runs out the bound) once `closed` holds, it is no hang yet:
/// `later`, given for [`Stdin::ThenAfterClose`], tells the feeder to go on.
fn collect(
    target: &Target,
    printed: &Receiver<Vec<u8>>,
    helpers: &[Pid],
    port: u16,
    (mut later, closed): (Option<Sender<()>>, &dyn Fn() -> bool),
    ctx: &Ctx,
) -> Result<Vec<u8>, Finding> {
    let mut stdout = Vec::new();
    loop {
        // Each chunk printed is progress: the bound and the looks start over.
        let mut stillness = Delivered {
            still: Stillness::with_helpers(target, || helpers.to_vec()).paced(Gaps::Steady(LOOK)),
            port,
        };
        match settle::receive(printed, ctx.timeout, &mut stillness) {
            Ok(Some(bytes)) => stdout.extend_from_slice(&bytes),
            Ok(None) => return Ok(stdout),
            Err(_) if later.is_some() && closed() => {
                // No hang yet: the rest of stdin may wake the client.
                let _ = later.take().map(|later| later.send(()));
            }
            Err(evidence) => {
                let awaited = format!(
                    "the client to print every reply and then close its stdout (it printed {} bytes)",
                    stdout.len()
                );
                return Err(Finding::hang(awaited, &evidence, |_| {
                    "the client, and the check's server and stdin feeder, all asleep in calls \
                    that nothing pending can end (seen three times in a row)"
                        .into()
                })
                .with_output(target.output()));
            }
        }
    }
}

/// A [`Stillness`] that is not stuck while the client's bytes are on their
/// way to the check's server on `port`: sent on an established connection,
/// not yet acknowledged, and none waiting unread on the server's side.
/// Loopback delivers them from a softirq, which a loaded machine defers
/// while every thread involved sleeps: the client, the server that will
/// read them and the feeder were once seen asleep three looks in a row, and
/// a correct client failed.
struct Delivered<'a> {
    still: Stillness<'a>,
    port: u16,
}

impl Watched for Delivered<'_> {
    fn stuck(&mut self) -> Option<(Vec<Pid>, Vec<ThreadState>)> {
        let stuck = self.still.stuck()?;
        (!in_flight(self.port)).then_some(stuck)
    }

    fn settling(&self) -> bool {
        self.still.settling()
    }

    fn gaps(&self) -> Gaps {
        self.still.gaps()
    }

    fn snapshot(&self) -> (Vec<Pid>, Vec<ThreadState>) {
        self.still.snapshot()
    }
}

/// Whether bytes sent to the server on `port` are neither acknowledged nor
/// waiting in a socket of the server (`/proc/net/tcp`: `tx_queue`,
/// `rx_queue`). A server that does not read leaves them waiting on its
/// side: that stillness is real.
fn in_flight(port: u16) -> bool {
    let sockets = observe::tcp_sockets();
    let waiting_at_server = sockets
        .iter()
        .any(|e| e.local_address.port() == port && e.state != TcpState::Listen && e.rx_queue > 0);
    !waiting_at_server
        && sockets.iter().any(|e| {
            e.remote_address.port() == port && e.state == TcpState::Established && e.tx_queue > 0
        })
}

/// How the client ends once its stdout closed: its status, or (`Err`) its
/// threads' states when it is still running after `ctx.timeout`, or sooner
/// when it and the check's helpers are all asleep for good.
fn wait_exit(target: &mut Target, helpers: &[Pid], ctx: &Ctx) -> Result<ExitStatus, String> {
    settle::wait_on(
        ctx.timeout,
        target,
        || helpers.to_vec(),
        Gaps::Steady(LOOK),
        |target| target.try_status().map_or(Look::Waiting, Look::Done),
    )
    .map_err(|evidence| observe::describe(&evidence.threads))
}

fn tally(served: &Mutex<Served>) -> std::sync::MutexGuard<'_, Served> {
    served.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The server's connection, counting what goes through it.
struct Tallied {
    conn: Socket,
    served: Arc<Mutex<Served>>,
}

impl Tallied {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (&mut &self.conn).read(buf)?;
        tally(&self.served).received += n;
        Ok(n)
    }

    fn send(&self, bytes: &[u8]) -> io::Result<()> {
        send_all(&self.conn, bytes)?;
        tally(&self.served).echoed += bytes.len();
        Ok(())
    }
}

/// Serves one connection as `server` says.
fn serve(conn: &Tallied, server: &ServerBehaviour, timeout: Duration) -> io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    match server {
        ServerBehaviour::Plain => loop {
            match conn.read(&mut buf)? {
                0 => break,
                n => conn.send(&buf[..n])?,
            }
        },
        ServerBehaviour::Split(cuts) => loop {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                break;
            }
            // Coalesce whatever else has already arrived into the same reply.
            let mut len = n;
            conn.conn.set_nonblocking(true)?;
            while len < buf.len() {
                match conn.read(&mut buf[len..]) {
                    Ok(m @ 1..) => len += m,
                    _ => break,
                }
            }
            conn.conn.set_nonblocking(false)?;
            reply_in_pieces(conn, &buf[..len], cuts, timeout)?;
        },
        ServerBehaviour::AfterHalfClose(cuts) => {
            let mut all = Vec::new();
            loop {
                match conn.read(&mut buf)? {
                    0 => break,
                    n => all.extend_from_slice(&buf[..n]),
                }
            }
            reply_in_pieces(conn, &all, cuts, timeout)?;
        }
        ServerBehaviour::CloseEarly { answered, sent } => {
            let mut got = 0;
            while got < *sent {
                let n = conn.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                let echo = n.min(answered.saturating_sub(got));
                if echo > 0 {
                    conn.send(&buf[..echo])?;
                }
                got += n;
            }
            conn.conn.shutdown(Shutdown::Write)?;
            // Dropping the connection now resets it: the client's next write meets EPIPE.
            conn.conn.set_linger(Some(Duration::ZERO))?;
            return Ok(());
        }
        ServerBehaviour::CloseAfterFirstLine => {
            let mut line = Vec::new();
            while !line.contains(&b'\n') {
                match conn.read(&mut buf)? {
                    0 => break,
                    n => line.extend_from_slice(&buf[..n]),
                }
            }
            conn.send(&line)?;
            conn.conn.shutdown(Shutdown::Both)?;
            return Ok(());
        }
    }
    conn.conn.shutdown(Shutdown::Write)
}

/// Sends `reply` cut into pieces of the sizes `cuts` gives in turn (at most
/// [`MAX_PIECES`]), each only once the client has consumed the one before.
fn reply_in_pieces(
    conn: &Tallied,
    reply: &[u8],
    cuts: &[usize],
    timeout: Duration,
) -> io::Result<()> {
    let mut rest = reply;
    let mut sizes = cuts.iter().copied().cycle();
    for piece in 1..=MAX_PIECES {
        if rest.is_empty() {
            break;
        }
        let n = if piece == MAX_PIECES {
            rest.len()
        } else {
            sizes.next().unwrap_or(rest.len()).clamp(1, rest.len())
        };
        conn.send(&rest[..n])?;
        rest = &rest[n..];
        if !rest.is_empty() {
            wait_consumed(&conn.conn, timeout)?;
        }
    }
    Ok(())
}

/// Waits, at most `bound`, until the client's receive queue for `conn` is
/// empty (or the client's socket is gone), as `/proc/net/tcp` shows it.
fn wait_consumed(conn: &Socket, bound: Duration) -> io::Result<()> {
    let client = conn.peer_addr()?.as_socket();
    let server = conn.local_addr()?.as_socket();
    let (Some(client), Some(server)) = (client, server) else {
        return Ok(());
    };
    let _ = settle::wait(
        bound,
        &mut Bound(Shown::Nothing, Gaps::Steady(Duration::from_micros(300))),
        || match observe::tcp_unread(client, server) {
            Some(1..) => Look::Waiting,
            _ => Look::Done(()),
        },
    );
    Ok(())
}
