//! Properties of the `client` profile: the lecture's line client, checked
//! against a server that this check runs in-process on 127.0.0.1.
//!
//! The server is either a plain echo, or an adversarial one that coalesces
//! what has arrived, cuts each reply into pieces and hands over the next piece
//! only once the client has consumed the previous one (its receive queue, seen
//! in `/proc/net/tcp`, is empty) — so a client that assumes one `read` returns
//! one whole reply meets a split reply every time, not by luck of timing.
//!
//! Waits are bounded by `ctx.timeout` of *no progress*: a client that stops
//! printing for that long, or does not exit that long after its output ended,
//! is reported as hung, with where its threads sleep.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::process::{ChildStdin, ExitStatus};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use proptest::collection::vec;
use proptest::prelude::*;
use socket2::Socket;

use super::diff::same_bytes;
use super::socket::Transport;
use super::{Ctx, Finding, Meta, Outcome, Profile, Property, References, Scope, Suite};
use crate::reference::server::send_all;
use crate::target::process::describe_status;
use crate::target::settle::Stillness;
use crate::target::{observe, CommandSpec, Stream, Target, TargetConfig, TargetError};
use crate::workload::socket::{concat, lines};

/// A client command line with `{port}` (and optionally `{host}`) to fill.
#[derive(Clone, Debug)]
pub struct ClientCommand(pub CommandSpec);

/// How the in-process server treats the client's connection.
#[derive(Clone, Debug)]
enum Server {
    /// Echo each chunk as it arrives, until EOF.
    Plain,
    /// Coalesce what has arrived, reply in pieces cut by these sizes, each
    /// handed over once the client consumed the previous one; until EOF.
    Split(Vec<usize>),
    /// Read everything until EOF, then reply in pieces cut by these sizes.
    AfterHalfClose(Vec<usize>),
    /// Echo the first line, then close the connection.
    CloseAfterFirstLine,
}

/// What one client session produced.
struct Session {
    /// Everything the client printed, in order.
    stdout: Vec<u8>,
    /// How the client ended once its stdout closed; `Err` holds its threads'
    /// states when it was still running `ctx.timeout` later.
    exit: Result<ExitStatus, String>,
    /// The client's last stderr lines.
    output: Vec<String>,
}

/// Most pieces one reply is cut into, so replies stay few and the check fast.
const MAX_PIECES: usize = 6;

impl ClientCommand {
    /// Runs the client against `server` with `input` on stdin (closed after it
    /// unless `keep_stdin_open`); returns once the client closed its stdout and
    /// exited, or a hang when it printed nothing for `ctx.timeout`.
    fn session(
        &self,
        server: Server,
        input: &[u8],
        keep_stdin_open: bool,
        ctx: &Ctx,
    ) -> Result<Session, Finding> {
        let listening = Transport::Tcp4
            .listen()
            .map_err(|e| TargetError::setup("the check's server", e))?;
        // accept(2) honours SO_RCVTIMEO: a client that never connects cannot hold the server.
        listening
            .socket
            .set_read_timeout(Some(ctx.timeout))
            .map_err(|e| TargetError::setup("the check's server", e))?;
        let port = listening
            .addr
            .as_socket()
            .map_or(0, |a| a.port())
            .to_string();
        let mut config = TargetConfig::new(self.0.fill(&[("host", "127.0.0.1"), ("port", &port)]));
        config.stdin = Stream::Piped;
        config.stdout = Stream::Piped;
        let mut target = Target::spawn(config)?;
        let timeout = ctx.timeout;
        let (tids, ours) = mpsc::channel();
        let server_tids = tids.clone();
        let reader_tids_source = tids.clone();
        let server = std::thread::spawn(move || {
            let _ = server_tids.send(nix::unistd::gettid());
            let (conn, _) = listening.socket.accept()?;
            conn.set_read_timeout(Some(timeout))?;
            conn.set_write_timeout(Some(timeout))?;
            serve(&conn, &server, timeout)
        });

        let input = input.to_vec();
        let feeder = target.take_stdin().map(|mut pipe| {
            std::thread::spawn(move || -> Option<ChildStdin> {
                let _ = tids.send(nix::unistd::gettid());
                // A client that exits early breaks the pipe: its verdict comes from what it printed.
                let _ = pipe.write_all(&input);
                keep_stdin_open.then_some(pipe)
            })
        });
        let (tx, rx) = mpsc::channel();
        let mut helpers = 1 + usize::from(feeder.is_some());
        if let Some(mut out) = target.take_stdout() {
            helpers += 1;
            let reader_tids = reader_tids_source.clone();
            std::thread::spawn(move || {
                let _ = reader_tids.send(nix::unistd::gettid());
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = out.read(&mut buf) {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            });
        }
        // Each helper sends its tid first thing; the server, feeder and stdout reader.
        let helpers: Vec<Pid> = ours.iter().take(helpers).collect();
        let mut stdout = Vec::new();
        let mut last_progress = Instant::now();
        let mut stillness = Stillness::default();
        loop {
            match rx.recv_timeout(LOOK) {
                Ok(bytes) => {
                    stdout.extend_from_slice(&bytes);
                    last_progress = Instant::now();
                    stillness = Stillness::default();
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    // Settled looks in a row, with the check's server, feeder and reader
                    // asleep too and nothing printed in between: nothing can move any more.
                    let still = matches!(stillness.look(&target, &helpers), Some((_, _, true)));
                    if still || last_progress.elapsed() >= ctx.timeout {
                        let threads = observe::describe(&observe::threads(&target.processes()));
                        let awaited = format!(
                            "the client to print every reply and then close its stdout (it printed {} bytes)",
                            stdout.len()
                        );
                        let mut finding = Finding::hung(awaited, threads);
                        if let (true, Some(failure)) = (still, finding.failure_mut()) {
                            failure.observed = "the client, and the check's server and stdin feeder, all asleep in calls \
                                that nothing pending can end (seen three times in a row)"
                                .into();
                        }
                        return Err(finding.with_output(target.output()));
                    }
                }
            }
        }
        let exit = target
            .wait_exit(ctx.timeout)
            .ok_or_else(|| observe::describe(&observe::threads(&target.processes())));
        let output = target.final_output(Duration::from_millis(100));
        // Killing the client first ends a feeder still blocked writing to its stdin;
        // a stdin kept open stays open until the client is gone.
        drop(target);
        drop(feeder.map(std::thread::JoinHandle::join));
        // Bounded: every call the server makes times out after ctx.timeout.
        let _ = server.join();
        Ok(Session {
            stdout,
            exit,
            output,
        })
    }
}

/// How often the check looks at a client that printed nothing new.
const LOOK: Duration = Duration::from_millis(20);

/// Serves one connection as `server` says.
fn serve(conn: &Socket, server: &Server, timeout: Duration) -> io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    match server {
        Server::Plain => loop {
            match (&mut &*conn).read(&mut buf)? {
                0 => break,
                n => send_all(conn, &buf[..n])?,
            }
        },
        Server::Split(cuts) => loop {
            let n = (&mut &*conn).read(&mut buf)?;
            if n == 0 {
                break;
            }
            // Coalesce whatever else has already arrived into the same reply.
            let mut len = n;
            conn.set_nonblocking(true)?;
            while len < buf.len() {
                match (&mut &*conn).read(&mut buf[len..]) {
                    Ok(m @ 1..) => len += m,
                    _ => break,
                }
            }
            conn.set_nonblocking(false)?;
            reply_in_pieces(conn, &buf[..len], cuts, timeout)?;
        },
        Server::AfterHalfClose(cuts) => {
            let mut all = Vec::new();
            loop {
                match (&mut &*conn).read(&mut buf)? {
                    0 => break,
                    n => all.extend_from_slice(&buf[..n]),
                }
            }
            reply_in_pieces(conn, &all, cuts, timeout)?;
        }
        Server::CloseAfterFirstLine => {
            let mut line = Vec::new();
            while !line.contains(&b'\n') {
                match (&mut &*conn).read(&mut buf)? {
                    0 => break,
                    n => line.extend_from_slice(&buf[..n]),
                }
            }
            send_all(conn, &line)?;
            conn.shutdown(Shutdown::Both)?;
            return Ok(());
        }
    }
    conn.shutdown(Shutdown::Write)
}

/// Sends `reply` cut into pieces of the sizes `cuts` gives in turn (at most
/// [`MAX_PIECES`]), each only once the client has consumed the one before.
fn reply_in_pieces(
    conn: &Socket,
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
        send_all(conn, &rest[..n])?;
        rest = &rest[n..];
        if !rest.is_empty() {
            wait_consumed(conn, timeout)?;
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
    let deadline = Instant::now() + bound;
    while matches!(observe::tcp_unread(client, server), Some(1..)) && Instant::now() < deadline {
        // Pacing only: each look at /proc/net/tcp is the observation.
        std::thread::sleep(Duration::from_micros(300));
    }
    Ok(())
}

/// Checks that the session's stdout is `input`, byte for byte.
fn printed_everything(session: &Session, input: &[u8]) -> Outcome {
    same_bytes(
        "the client's stdout: every byte typed, echoed back in order",
        input,
        &session.stdout,
    )
    .map_err(|f| f.with_output(session.output.clone()))
}

/// Checks that the client exited with status 0 after its output ended.
fn exited_cleanly(session: &Session, when: &str) -> Outcome {
    match &session.exit {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(Finding::violated(
            format!("exit status 0 {when}"),
            describe_status(*status),
        )),
        Err(threads) => Err(Finding::hung(
            format!("the client to exit {when}"),
            threads.clone(),
        )),
    }
    .map_err(|f| f.with_output(session.output.clone()))
}

/// Sizes to cut replies at: tiny first pieces, so even short lines split.
fn cuts() -> impl Strategy<Value = Vec<usize>> {
    vec(prop_oneof![1usize..=8, 9usize..=9000], 1..4)
}

fn echo_in_order(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    ctx.forall(lines(), |lines| {
        let input = concat(lines);
        printed_everything(&client.session(Server::Plain, &input, false, ctx)?, &input)
    })
}

fn echo_split_replies(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    ctx.forall((lines(), cuts()), |(lines, cuts)| {
        let input = concat(lines);
        printed_everything(
            &client.session(Server::Split(cuts.clone()), &input, false, ctx)?,
            &input,
        )
    })
}

fn echo_after_half_close(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    ctx.forall((lines(), cuts()), |(lines, cuts)| {
        let input = concat(lines);
        printed_everything(
            &client.session(Server::AfterHalfClose(cuts.clone()), &input, false, ctx)?,
            &input,
        )
    })
}

fn exit_after_stdin_eof(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    ctx.forall(lines(), |lines| {
        let session = client.session(Server::Plain, &concat(lines), false, ctx)?;
        exited_cleanly(&session, "once its stdin ended and the server closed")
    })
}

fn exit_when_server_closes_first(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    // Not randomized: the claim is about who closes first, not about the bytes.
    let input = b"the server closes after this line\n";
    let session = client.session(Server::CloseAfterFirstLine, input, true, ctx)?;
    printed_everything(&session, input)?;
    exited_cleanly(
        &session,
        "when the server closed first, its stdin still open",
    )
}

const SOURCE_ECHO: &str = "Simple Example: Echo Server";

/// Every `client` property, in catalog order.
pub static PROPERTIES: &[Property<ClientCommand>] = &[
    Property {
        meta: Meta {
            id: "client.echo.every-byte-in-order",
            statement: "Against an echo server, the client prints every byte it read from stdin, in order, and nothing else.",
            source: SOURCE_ECHO,
            profile: Profile::Client,
            scope: Scope::All,
        },
        check: echo_in_order,
    },
    Property {
        meta: Meta {
            id: "client.echo.split-replies",
            statement: "The client prints every byte even when the server splits and coalesces its replies, so one read never equals one line.",
            source: "Sockets in detail",
            profile: Profile::Client,
            scope: Scope::All,
        },
        check: echo_split_replies,
    },
    Property {
        meta: Meta {
            id: "client.echo.replies-after-half-close",
            statement: "At stdin EOF the client half-closes and keeps printing, so replies the server sends only after reading EOF still arrive.",
            source: "Sockets Creation",
            profile: Profile::Client,
            scope: Scope::All,
        },
        check: echo_after_half_close,
    },
    Property {
        meta: Meta {
            id: "client.exit.after-stdin-eof",
            statement: "Once its stdin has ended and the server has closed the connection, the client exits with status 0.",
            source: SOURCE_ECHO,
            profile: Profile::Client,
            scope: Scope::All,
        },
        check: exit_after_stdin_eof,
    },
    Property {
        meta: Meta {
            id: "client.exit.when-server-closes-first",
            statement: "When the server closes the connection first, the client prints what it received and exits with status 0 without waiting for stdin to end.",
            source: SOURCE_ECHO,
            profile: Profile::Client,
            scope: Scope::All,
        },
        check: exit_when_server_closes_first,
    },
];

/// The reference client's suite: `ipcspec client --host {host} --port {port}`.
pub fn reference_suites(refs: &References) -> Vec<Suite> {
    let command = CommandSpec {
        program: refs.bin.to_string_lossy().into_owned(),
        args: ["client", "--host", "{host}", "--port", "{port}"]
            .map(String::from)
            .to_vec(),
    };
    vec![Suite::new(
        Profile::Client,
        "reference client",
        None,
        None,
        PROPERTIES,
        Arc::new(ClientCommand(command)),
    )]
}

/// The suite for a target client command, which must mention `{port}`.
pub fn target_suite(command: CommandSpec, _refs: &References) -> Result<Suite, TargetError> {
    if !command.uses("port") {
        return Err(TargetError::Command(format!(
            "`{}` never mentions {{port}}; the check must tell the client where its server listens (e.g. `-- ./client {{host}} {{port}}`)",
            command.display()
        )));
    }
    command.resolve()?;
    let label = command.display();
    Ok(Suite::new(
        Profile::Client,
        label,
        None,
        None,
        PROPERTIES,
        Arc::new(ClientCommand(command)),
    ))
}
