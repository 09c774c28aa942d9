//! Properties of the `client` profile: the lecture's line client, checked
//! against a server that this check runs in-process on 127.0.0.1 (see
//! `session`): a plain echo, an adversarial one that splits its replies,
//! a late one that replies only after the client's half-close, and one that
//! closes first.
//!
//! Every session's verdict comes from what the client printed, how it
//! ended, and what the check's server saw of it: a client that exits 0
//! without ever connecting does not pass an exit property. A client that
//! exits with a non-zero status before it connects, as one given the wrong
//! arguments does, could not be run at all: the suite's preflight refuses
//! it in one line that quotes what it said (exit 2), instead of failing
//! every property.

mod session;

use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;

use self::session::{ServerBehaviour, Transcript};
use super::diff::same_bytes;
use super::{Ctx, Finding, Meta, Outcome, Profile, Property, References, Scope, Suite};
use crate::target::process::describe_status;
use crate::target::{CommandSpec, TargetError, UsageError};
use crate::workload::socket::{concat, lines};

/// A client command line with `{port}` (and optionally `{host}`) to fill.
#[derive(Clone, Debug)]
pub struct ClientCommand(pub CommandSpec);

/// Checks that the session's stdout is `input`, byte for byte; a client
/// that fell short says how it ended, or that it never connected.
fn printed_everything(session: &Transcript, input: &[u8]) -> Outcome {
    same_bytes(
        "the client's stdout: every byte typed, echoed back in order",
        input,
        &session.stdout,
    )
    .map_err(|finding| {
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

/// Sizes to cut replies at: tiny first pieces, so even short lines split.
fn cuts() -> impl Strategy<Value = Vec<usize>> {
    vec(prop_oneof![1usize..=8, 9usize..=9000], 1..4)
}

fn echo_in_order(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    ctx.forall(lines(), |lines| {
        let input = concat(lines);
        printed_everything(
            &client.session(ServerBehaviour::Plain, &input, false, ctx)?,
            &input,
        )
    })
}

fn echo_split_replies(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    ctx.forall((lines(), cuts()), |(lines, cuts)| {
        let input = concat(lines);
        printed_everything(
            &client.session(ServerBehaviour::Split(cuts.clone()), &input, false, ctx)?,
            &input,
        )
    })
}

fn echo_after_half_close(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    ctx.forall((lines(), cuts()), |(lines, cuts)| {
        let input = concat(lines);
        printed_everything(
            &client.session(
                ServerBehaviour::AfterHalfClose(cuts.clone()),
                &input,
                false,
                ctx,
            )?,
            &input,
        )
    })
}

fn exit_after_stdin_eof(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    ctx.forall(lines(), |lines| {
        let session = client.session(ServerBehaviour::Plain, &concat(lines), false, ctx)?;
        took_part(&session)?;
        exited_cleanly(&session, "once its stdin ended and the server closed")
    })
}

fn exit_when_server_closes_first(client: &ClientCommand, ctx: &Ctx) -> Outcome {
    // Not randomized: the claim is about who closes first, not about the bytes.
    let input = b"the server closes after this line\n";
    let session = client.session(ServerBehaviour::CloseAfterFirstLine, input, true, ctx)?;
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
    match client.session(ServerBehaviour::Plain, b"ipcspec preflight\n", false, ctx) {
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
