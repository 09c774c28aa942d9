//! Properties of the `client` profile: the lecture's line client, checked
//! against a server that this check runs in-process on 127.0.0.1 (see
//! `session`): a plain echo, an adversarial one that splits its replies,
//! a late one that replies only after the client's half-close, one that
//! closes first and one that closes after half the replies; a server on
//! `::1` and on the last address `localhost` has, for each spelling of
//! `{host}`; and no server at all, where the client must report the error.
//!
//! Every session's verdict comes from what the client printed, how it
//! ended, and what the check's server saw of it: a client that exits 0
//! without ever connecting does not pass an exit property. A client that
//! exits with a non-zero status before it connects, as one given the wrong
//! arguments does, could not be run at all: the suite's preflight refuses
//! it in one line that quotes what it said (exit 2), instead of failing
//! every property.

mod session;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use socket2::{Domain, Socket, Type};

use self::session::{ServerBehaviour, Stdin, Transcript, Venue};
use super::diff::same_bytes;
use super::socket::ipv6_loopback;
use super::{Ctx, Finding, Meta, Outcome, Profile, Property, References, Scope, Suite};
use crate::reference::socket::lookup;
use crate::target::process::describe_status;
use crate::target::{CommandSpec, TargetError, UsageError};
use crate::workload::socket::{concat, lines};

/// A client command line with `{port}` (and optionally `{host}`) to fill.
#[derive(Clone, Debug)]
pub struct ClientCommand(pub CommandSpec);

/// Checks that the session's stdout is `input`, byte for byte; a client
/// that fell short says how it ended, or that it never connected.
fn printed_everything(session: &Transcript, input: &[u8]) -> Outcome {
    printed(
        session,
        "the client's stdout: every byte typed, echoed back in order",
        input,
    )
}

/// Checks that the session's stdout is `expected` (`what` says what that
/// is), as [`printed_everything`] does.
fn printed(session: &Transcript, what: &str, expected: &[u8]) -> Outcome {
    same_bytes(what, expected, &session.stdout).map_err(|finding| {
        let finding = match &session.exit {
            Ok(status) => finding.observed_then(&format!(
                "; {}it exited: {}",
                if session.served.connected {
                    ""
                } else {
                    "it never connected to the server, and "
                },
                describe_status(*status)
            )),
            Err(_) => finding,
        };
        finding.with_output(session.output.clone())
    })
}

/// Checks that the client took part in the session: it connected, sent
/// bytes and got their echo, before its exit can count for anything.
fn took_part(session: &Transcript) -> Outcome {
    let served = session.served;
    let observed = if !served.connected {
        "it never connected to the server".to_string()
    } else if served.received == 0 {
        "it connected, but sent nothing".to_string()
    } else if served.echoed == 0 {
        format!(
            "it connected and sent {} bytes, but was gone before any echo",
            served.received
        )
    } else {
        return Ok(());
    };
    let ended = match &session.exit {
        Ok(status) => format!("; it exited: {}", describe_status(*status)),
        Err(_) => String::new(),
    };
    Err(Finding::violated(
        "the client to connect, send its input and get the echo before it exits",
        format!("{observed}{ended}"),
    )
    .with_output(session.output.clone()))
}

/// Checks that the client exited with status 0 after its output ended.
fn exited_cleanly(session: &Transcript, when: &str) -> Outcome {
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

/// Checks that a client that reached no server exited by itself with a
/// non-zero status, having said something on stderr.
fn reported_error(session: &Transcript, when: &str) -> Outcome {
    let expected = format!("a non-zero exit status and a message on stderr {when}");
    match &session.exit {
        Ok(status) if status.code().is_some_and(|code| code != 0) => {
            if session.output.is_empty() {
                Err(Finding::violated(
                    expected,
                    format!("{}, and nothing on stderr", describe_status(*status)),
                ))
            } else {
                Ok(())
            }
        }
        Ok(status) => Err(Finding::violated(expected, describe_status(*status))),
        Err(threads) => Err(Finding::hung(
            format!("the client to exit {when}"),
            threads.clone(),
        )),
    }
    .map_err(|f| f.with_output(session.output.clone()))
}

/// A socket bound to a free port of 127.0.0.1 that never listens, and its
/// port: a connection there is refused, and no one else can take the port
/// while the socket is held.
fn refusing_port() -> Result<(Socket, u16), TargetError> {
    let setup = |e| TargetError::setup("a port that refuses connections", e);
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(setup)?;
    socket
        .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .map_err(setup)?;
    let port = socket.local_addr().map_err(setup)?.as_socket();
    Ok((socket, port.map_or(0, |a| a.port())))
}

/// A name under `.invalid`, which RFC 6761 reserves never to resolve.
const NO_SUCH_HOST: &str = "no-such-host.invalid";

/// Checks, with the check's own lookup, that `host` does not resolve here
/// and that the resolver says so within `bound`: otherwise no client could be
/// judged by it.
fn unresolvable(host: &'static str, bound: Duration) -> Result<(), TargetError> {
    let (answer, answered) = mpsc::channel();
    // A resolver that never answers keeps this thread, not the check.
    std::thread::spawn(move || answer.send(lookup(host, 0)));
    let setup =
        |why: String| TargetError::setup(format!("looking up {host}"), io::Error::other(why));
    match answered.recv_timeout(bound) {
        Ok(Err(_)) => Ok(()),
        Ok(Ok(found)) => Err(setup(format!(
            "it resolves here (to {found:?}), though .invalid names never should"
        ))),
        Err(_) => Err(setup(format!(
            "this machine's resolver gave no answer within {bound:?}"
        ))),
    }
}

/// The spellings of `{host}` a client must accept, each with the one address
/// the check's server listens on: `127.0.0.1`; `::1` where this machine has
/// IPv6 loopback; `localhost` on the last address getaddrinfo gives for it
/// (of those this machine can bind), which only a client that tries each
/// address in turn reaches when there are several.
fn venues() -> Result<Vec<Venue>, TargetError> {
    let ipv6 = ipv6_loopback();
    let mut venues = vec![Venue::LOOPBACK];
    if ipv6 {
        venues.push(Venue {
            host: "::1",
            ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    // An IPv6 address the machine cannot bind is one no client can reach either.
    let localhost = lookup("localhost", 0)
        .map_err(|e| TargetError::setup("looking up localhost", e))?
        .into_iter()
        .rfind(|addr| ipv6 || addr.is_ipv4())
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |addr| addr.ip());
    venues.push(Venue {
        host: "localhost",
        ip: localhost,
    });
    Ok(venues)
}

/// What the client's stdin goes on with once the server has closed early.
const AFTER_CLOSE: &[u8] = b"a line typed after the server left\nand one more\n";

/// Sizes to cut replies at: tiny first pieces, so even short lines split.
fn cuts() -> impl Strategy<Value = Vec<usize>> {
    vec(prop_oneof![1usize..=8, 9usize..=9000], 1..4)
}

fn echo_in_order(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    ctx.forall(lines(), |lines| {
        let input = concat(lines);
        printed_everything(
            &client.session(
                Venue::LOOPBACK,
                ServerBehaviour::Plain,
                &input,
                Stdin::Closed,
                ctx,
            )?,
            &input,
        )
    })
}

fn echo_split_replies(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    ctx.forall((lines(), cuts()), |(lines, cuts)| {
        let input = concat(lines);
        printed_everything(
            &client.session(
                Venue::LOOPBACK,
                ServerBehaviour::Split(cuts.clone()),
                &input,
                Stdin::Closed,
                ctx,
            )?,
            &input,
        )
    })
}

fn echo_after_half_close(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    ctx.forall((lines(), cuts()), |(lines, cuts)| {
        let input = concat(lines);
        printed_everything(
            &client.session(
                Venue::LOOPBACK,
                ServerBehaviour::AfterHalfClose(cuts.clone()),
                &input,
                Stdin::Closed,
                ctx,
            )?,
            &input,
        )
    })
}

fn exit_after_stdin_eof(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    ctx.forall(lines(), |lines| {
        let session = client.session(
            Venue::LOOPBACK,
            ServerBehaviour::Plain,
            &concat(lines),
            Stdin::Closed,
            ctx,
        )?;
        took_part(&session)?;
        exited_cleanly(&session, "once its stdin ended and the server closed")
    })
}

fn exit_when_server_closes_first(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    // Not randomized: the claim is about who closes first, not about the bytes.
    let input = b"the server closes after this line\n";
    let session = client.session(
        Venue::LOOPBACK,
        ServerBehaviour::CloseAfterFirstLine,
        input,
        Stdin::KeptOpen,
        ctx,
    )?;
    printed_everything(&session, input)?;
    exited_cleanly(
        &session,
        "when the server closed first, its stdin still open",
    )
}

fn error_refused(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    // Not randomized: the claim is about one refused connection.
    let (held, port) = refusing_port()?;
    let session = client.alone("127.0.0.1", port, ctx)?;
    drop(held);
    reported_error(&session, "when its connection is refused")
}

fn error_unknown_host(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    unresolvable(NO_SUCH_HOST, ctx.timeout)?;
    // Should the client connect to something after all, it is refused too.
    let (held, port) = refusing_port()?;
    let session = client.alone(NO_SUCH_HOST, port, ctx)?;
    drop(held);
    reported_error(
        &session,
        &format!("when {{host}} ({NO_SUCH_HOST}) does not resolve"),
    )
}

fn connect_host_spellings(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    // Not randomized: the claim is about the address, not the bytes. The
    // server closes after the line, so no echo rule is needed to end the session.
    for venue in venues()? {
        let session = client.session(
            venue,
            ServerBehaviour::CloseAfterFirstLine,
            b"one line\n",
            Stdin::Closed,
            ctx,
        )?;
        if !session.served.connected {
            let ended = match &session.exit {
                Ok(status) => format!("; it exited: {}", describe_status(*status)),
                Err(_) => String::new(),
            };
            return Err(Finding::violated(
                format!(
                    "the client to connect, with {{host}} {} and the server on {} alone",
                    venue.host, venue.ip
                ),
                format!("it never connected{ended}"),
            )
            .with_output(session.output));
        }
    }
    Ok(())
}

fn exit_when_server_closes_early(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    let two_or_more = lines().prop_filter("two lines at least", |lines| lines.len() >= 2);
    ctx.forall(two_or_more, |lines| {
        let sent = concat(lines);
        let answered = concat(&lines[..lines.len() / 2]).len();
        let session = client.session(
            Venue::LOOPBACK,
            ServerBehaviour::CloseEarly {
                answered,
                sent: sent.len(),
            },
            &sent,
            Stdin::ThenAfterClose(AFTER_CLOSE.to_vec()),
            ctx,
        )?;
        printed(
            &session,
            "the client's stdout: the replies the server sent before it closed, in order",
            &sent[..answered],
        )?;
        exited_cleanly(
            &session,
            "when the server closed after half the replies, its stdin going on",
        )
    })
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
            source: "beyond the lecture: shutdown(2)",
            profile: Profile::Client,
            scope: Scope::All,
        },
        check: echo_after_half_close,
    },
    Property {
        meta: Meta {
            id: "client.exit.after-stdin-eof",
            statement: "Once its stdin has ended and the server has closed the connection, the client, having connected and had its input echoed, exits with status 0.",
            source: "beyond the lecture: shutdown(2), exit(3)",
            profile: Profile::Client,
            scope: Scope::All,
        },
        check: exit_after_stdin_eof,
    },
    Property {
        meta: Meta {
            id: "client.exit.when-server-closes-first",
            statement: "When the server closes the connection first, the client prints what it received and exits with status 0 without waiting for stdin to end.",
            source: "beyond the lecture: read(2) (end-of-file), exit(3)",
            profile: Profile::Client,
            scope: Scope::All,
        },
        check: exit_when_server_closes_first,
    },
    Property {
        meta: Meta {
            id: "client.eof.server-closes-early",
            statement: "When the server answers half the lines and closes while the client's stdin goes on, the client prints the replies it got and exits with status 0: its next write fails (EPIPE), which must neither kill it (SIGPIPE) nor hang it.",
            source: "beyond the lecture: send(2) (EPIPE), signal(7) (SIGPIPE), exit(3)",
            profile: Profile::Client,
            scope: Scope::All,
        },
        check: exit_when_server_closes_early,
    },
    Property {
        meta: Meta {
            id: "client.connect.host-spellings",
            statement: "The client reaches the server with {host} as 127.0.0.1, ::1 or localhost, trying each address getaddrinfo gives in turn: the server listens on that one address (for localhost, the last one it has).",
            source: "beyond the lecture: getaddrinfo(3), connect(2) (the lecture connects to the first address only)",
            profile: Profile::Client,
            scope: Scope::All,
        },
        check: connect_host_spellings,
    },
    Property {
        meta: Meta {
            id: "client.errors.refused",
            statement: "When nothing listens at {host} {port}, the client exits by itself with a non-zero status and a message on stderr: it neither hangs, nor retries forever, nor exits 0.",
            source: "beyond the lecture: connect(2) (ECONNREFUSED), exit(3)",
            profile: Profile::Client,
            scope: Scope::All,
        },
        check: error_refused,
    },
    Property {
        meta: Meta {
            id: "client.errors.unknown-host",
            statement: "When {host} is a name that does not resolve (no-such-host.invalid), the client exits by itself with a non-zero status and a message on stderr.",
            source: "beyond the lecture: getaddrinfo(3) (gai_strerror), exit(3)",
            profile: Profile::Client,
            scope: Scope::All,
        },
        check: error_unknown_host,
    },
];

/// The suite that checks `client`, labelled `label`, with its preflight.
fn suite(label: String, client: ClientCommand) -> Suite {
    let client = Arc::new(client);
    let checked = client.clone();
    Suite::new(Profile::Client, label, None, None, PROPERTIES, client)
        .with_preflight(move |ctx| preflight(&checked, ctx))
}

/// One session against the plain echo, a line on stdin: a client that
/// exits with a non-zero status before it connects (wrong arguments, a
/// missing library, a crash at start) could not be run, and is refused
/// with what it said. Anything else, even an exit 0 without connecting or
/// a hang, is for the properties to judge.
fn preflight(client: &ClientCommand, ctx: &Ctx) -> Result<(), TargetError> {
    match client.session(
        Venue::LOOPBACK,
        ServerBehaviour::Plain,
        b"ipcspec preflight\n",
        Stdin::Closed,
        ctx,
    ) {
        Ok(Transcript {
            exit: Ok(status),
            served,
            output,
            ..
        }) if !status.success() && !served.connected => Err(TargetError::ExitedAtStart {
            program: client.0.program.clone(),
            status: describe_status(status),
            awaited: "connecting to the check's server".into(),
            output,
        }),
        Err(Finding::Broken(e)) => Err(e),
        _ => Ok(()),
    }
}

/// The reference client's suite: `ipcspec client --host {host} --port {port}`.
pub fn reference_suites(refs: &References) -> Vec<Suite> {
    let command = CommandSpec {
        program: refs.bin.to_string_lossy().into_owned(),
        args: ["client", "--host", "{host}", "--port", "{port}"]
            .map(String::from)
            .to_vec(),
    };
    vec![suite("reference client".into(), ClientCommand(command))]
}

/// The suite for a target client command, which must mention `{port}`.
pub fn target_suite(command: CommandSpec, _refs: &References) -> Result<Suite, TargetError> {
    if !command.uses("port") {
        return Err(UsageError::NoConnectingPlaceholder {
            command: command.display(),
        }
        .into());
    }
    command.resolve()?;
    Ok(suite(command.display(), ClientCommand(command)))
}
