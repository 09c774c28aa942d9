//! Properties of the `server` profile: a program in any language, started
//! as a command with `{port}` or `{socket}`, is checked black-box to be the
//! echo-server variant it claims (sequential, fork-wait, fork, thread, pool:N,
//! event-loop).
//!
//! Each property starts its own instance of the server (so baselines are
//! fresh) and kills it, with everything it spawned, when it ends. Verdicts
//! that depend on timing are decided by observation through `/proc`
//! ([`crate::target::observe`]); time bounds only bound hangs.

mod concurrency;
mod conversation;
mod echo;
pub(super) mod harness;
mod hostile;
mod leaks;
mod process;
mod resilience;
mod shape;
mod signals;
mod startup;

pub use conversation::Protocol;
pub use hostile::IDLE_CLIENTS;
pub use resilience::{CLIENTS_AT_ONCE, CONNECTIONS_IN_SEQUENCE};
pub use shape::{EVENT_LOOP_CLIENTS, POOL_CLIENTS_PER_WORKER, THREAD_CLIENTS};

use std::sync::Arc;

use super::{Ctx, Meta, Outcome, Profile, Property, References, Scope, Suite};
use crate::reference::server::{UnknownVariant, Variant, ACCEPTED};
use crate::target::server::Instance;
use crate::target::{CommandSpec, TargetError, UsageError};
use harness::Verdicts;

/// A server to check: its command line and the variant it claims.
#[derive(Clone, Debug)]
pub struct Server {
    /// The command, with `{port}` or `{socket}` still to fill.
    pub command: CommandSpec,
    /// The variant it claims.
    pub variant: Variant,
    /// What its clients say to it.
    pub protocol: Protocol,
}

/// Starts a fresh instance of `server`, runs `check` on it, and concludes:
/// a server that exited fails with its exit status, whatever `check` saw.
pub(super) fn with_instance(
    server: &Server,
    ctx: &Ctx,
    check: impl FnOnce(&mut Instance) -> Outcome,
) -> Outcome {
    let mut instance = harness::start(server, ctx)?;
    let outcome = check(&mut instance);
    instance.conclude(outcome)
}

const ECHO: &str = "Simple Example: Echo Server";
const V1: &str = "Sockets in concept";
const CONCURRENT: &str = "Concurrent Server";
const POOL: &str = "Thread Pool";
const FORK_KINDS: &[&str] = &["fork", "fork-wait"];
const CONCURRENT_KINDS: &[&str] = &["fork", "thread", "pool", "event-loop"];
/// The concurrent variants that serve each client on a worker of its own
/// (a child process or a thread); an event loop has none to block.
const WORKER_KINDS: &[&str] = &["fork", "thread", "pool"];
const EVENT_LOOP: &str = "beyond the lecture: poll(2), epoll(7), select(2)";
const SERIAL_KINDS: &[&str] = &["sequential", "fork-wait"];

const fn meta(
    id: &'static str,
    statement: &'static str,
    source: &'static str,
    scope: Scope,
) -> Meta {
    Meta {
        id,
        statement,
        source,
        profile: Profile::Server,
        scope,
    }
}

/// Every `server` property, in catalog order: the shape the variant claims,
/// read from `/proc`, before the behaviour.
pub static PROPERTIES: &[Property<Server>] = &[
    Property {
        meta: meta(
            "server.shape.fork-child-closes-listener",
            "The child process that serves a connection does not hold the listening socket.",
            V1,
            Scope::Only(FORK_KINDS),
        ),
        check: shape::fork_child_closes_listener,
    },
    Property {
        meta: meta(
            "server.shape.fork-parent-closes-connection",
            "Once a child process serves a connection, the parent no longer holds it.",
            V1,
            Scope::Only(FORK_KINDS),
        ),
        check: shape::fork_parent_closes_connection,
    },
    Property {
        meta: meta(
            "server.shape.thread-per-connection",
            "With 16 clients connected and served, each connection is waited on by a thread of its own, one that waits on no other client's connection.",
            CONCURRENT,
            Scope::Only(&["thread"]),
        ),
        check: shape::thread_per_connection,
    },
    Property {
        meta: meta(
            "server.shape.pool-fixed-workers",
            "A pool of N has all its threads before the first client and no more under 4N clients, of which exactly N threads wait on client connections.",
            POOL,
            Scope::Only(&["pool"]),
        ),
        check: shape::pool_fixed_workers,
    },
    Property {
        meta: meta(
            "server.shape.event-loop-one-thread",
            "With 8 clients connected and served, one thread of the server process waits on the listening socket and on every connection at once, with no child process and no thread made for a client.",
            EVENT_LOOP,
            Scope::Only(&["event-loop"]),
        ),
        check: shape::event_loop_one_thread,
    },
    Property {
        meta: meta(
            "server.echo.byte-exact",
            "Every byte a client sends comes back to it, in order, none lost or duplicated, NUL bytes included.",
            ECHO,
            Scope::All,
        ),
        check: echo::byte_exact,
    },
    Property {
        meta: meta(
            "server.echo.slow-reader",
            "A client that reads only after the server had to stop writing still receives every byte: the server blocks, it does not drop.",
            ECHO,
            Scope::All,
        ),
        check: echo::slow_reader,
    },
    Property {
        meta: meta(
            "server.eof.after-half-close",
            "After a client half-closes its side, the server echoes everything and then closes the connection in order: the client reads EOF, not a reset.",
            "beyond the lecture: shutdown(2)",
            Scope::All,
        ),
        check: echo::eof_after_half_close,
    },
    Property {
        meta: meta(
            "server.isolation.concurrent-clients",
            "Clients connected at the same time each receive exactly their own bytes, never another client's.",
            CONCURRENT,
            Scope::All,
        ),
        check: echo::isolation,
    },
    Property {
        meta: meta(
            "server.concurrency.serves-while-busy",
            "A concurrent server serves a second client while a first, idle client stays connected.",
            CONCURRENT,
            Scope::Only(CONCURRENT_KINDS),
        ),
        check: concurrency::serves_while_busy,
    },
    Property {
        meta: meta(
            "server.concurrency.one-at-a-time",
            "A sequential or fork-wait server does not serve a second client until the first leaves, and then serves it without losing its bytes.",
            CONCURRENT,
            Scope::Only(SERIAL_KINDS),
        ),
        check: concurrency::one_at_a_time,
    },
    Property {
        meta: meta(
            "server.event-loop.never-reading-client",
            "A client that sends a lot and never reads stalls neither other clients nor accept, and once it reads it gets every byte it sent, in order: writes are non-blocking and buffered per connection.",
            EVENT_LOOP,
            Scope::Only(&["event-loop"]),
        ),
        check: concurrency::never_reading_client,
    },
    Property {
        meta: meta(
            "server.process.connection-owner",
            "A connection is waited on by a thread of a child process in fork variants and of the server process itself otherwise, for thread and pool by a thread that does not also wait for new connections, for event-loop by the thread that does.",
            CONCURRENT,
            Scope::All,
        ),
        check: process::connection_owner,
    },
    Property {
        meta: meta(
            "server.pool.bounded",
            "A pool of N serves at most N clients at once, makes the next ones wait their turn, and then serves them without losing their bytes.",
            POOL,
            Scope::Only(&["pool"]),
        ),
        check: concurrency::pool_bounded,
    },
    Property {
        meta: meta(
            "server.leaks.no-zombies",
            "Once its clients are gone, the server leaves no zombie children.",
            CONCURRENT,
            Scope::All,
        ),
        check: leaks::no_zombies,
    },
    Property {
        meta: meta(
            "server.leaks.back-to-baseline",
            "After connections have come and gone, the server's open descriptors, threads and live processes return to what they were before.",
            V1,
            Scope::All,
        ),
        check: leaks::back_to_baseline,
    },
    Property {
        meta: meta(
            "server.signals.sigchld-reaps",
            "A fork server whose children all exit at the same instant keeps accepting (a SIGCHLD handler that interrupts accept is restarted or retried) and leaves no zombie (a handler reaps every child that exited, not one per signal).",
            "beyond the lecture: signal(7), sigaction(2) SA_RESTART, waitpid(2) WNOHANG",
            Scope::Only(&["fork"]),
        ),
        check: signals::sigchld_reaps,
    },
    Property {
        meta: meta(
            "server.resilience.reset-client",
            "A client that resets its connection (RST) while the server waits to read from it neither kills nor wedges the server: it keeps serving other clients.",
            "beyond the lecture: tcp(7), socket(7) SO_LINGER",
            Scope::All,
        ),
        check: resilience::reset_client,
    },
    Property {
        meta: meta(
            "server.resilience.leaves-mid-echo",
            "A client that leaves while the server is blocked writing its echo (resetting, closing, half-closing and then closing, or vanishing in the middle of a multi-MiB echo) neither kills nor wedges the server: its writes fail with EPIPE and it keeps serving other clients.",
            "beyond the lecture: signal(7) SIGPIPE, send(2) MSG_NOSIGNAL",
            Scope::All,
        ),
        check: resilience::leaves_mid_echo,
    },
    Property {
        meta: meta(
            "server.resilience.many-in-sequence",
            "Two hundred short connections in a row are all served.",
            V1,
            Scope::All,
        ),
        check: resilience::many_in_sequence,
    },
    Property {
        meta: meta(
            "server.resilience.many-at-once",
            "Thirty-two clients connecting at once are all served: by fork, thread and event-loop at the same time, each while the others stay connected; by the other variants in turn.",
            CONCURRENT,
            Scope::All,
        ),
        check: resilience::many_at_once,
    },
    Property {
        meta: meta(
            "server.idle.blocked",
            "With no client, and with one idle client connected, the server sleeps in blocking calls instead of burning CPU.",
            "beyond the lecture: accept(2), poll(2), proc(5) CPU time",
            Scope::All,
        ),
        check: resilience::idle_blocked,
    },
    Property {
        meta: meta(
            "server.startup.restart-on-same-port",
            "A server stopped while a client was connected, started again at once on the same TCP port (its connections there in TIME_WAIT), listens and serves.",
            "beyond the lecture: socket(7) SO_REUSEADDR, tcp(7) TIME_WAIT",
            Scope::All,
        ),
        check: startup::restart_on_same_port,
    },
    Property {
        meta: meta(
            "server.startup.port-in-use",
            "A server given a TCP port that another process listens on exits with a non-zero status and a message on stderr, instead of hanging or serving elsewhere.",
            "beyond the lecture: bind(2) EADDRINUSE",
            Scope::All,
        ),
        check: startup::port_in_use,
    },
    Property {
        meta: meta(
            "server.hostile.slow-client",
            "A client that sends its request one byte at a time, pausing, and is slow to read its answer does not hold up other clients: each of them is served completely while the slow one is still mid-request.",
            "beyond the lecture: recv(2) returns what has arrived (Concurrent Server)",
            Scope::Only(CONCURRENT_KINDS),
        ),
        check: hostile::slow_client,
    },
    Property {
        meta: meta(
            "server.hostile.many-idle",
            "Two hundred clients that connect and stay idle are all held open at once, and then each is served: by fork and thread while all stay connected, by a pool in turn, as its workers free up.",
            "beyond the lecture: listen(2) backlog (Concurrent Server, Thread Pool)",
            Scope::Only(CONCURRENT_KINDS),
        ),
        check: hostile::many_idle,
    },
    Property {
        meta: meta(
            "server.hostile.never-reading-client",
            "A client that sends more than the buffers hold and never reads its echo blocks at most the worker serving it: a client already connected and a new one are still served.",
            "beyond the lecture: send(2) blocks on full buffers (Concurrent Server, Thread Pool)",
            Scope::Only(WORKER_KINDS),
        ),
        check: hostile::never_reading_client,
    },
    Property {
        meta: meta(
            "server.hostile.emfile",
            "Out of file descriptors (its RLIMIT_NOFILE lowered by the check, and more clients connecting than it can accept), the server neither exits nor spins, and it serves a new client once those clients leave.",
            "beyond the lecture: accept(2) EMFILE, prlimit(2) RLIMIT_NOFILE",
            Scope::Only(CONCURRENT_KINDS),
        ),
        check: hostile::emfile,
    },
];

/// The start-up rules, about a TCP port: not applicable to a server that
/// listens on a Unix socket path.
const TCP_ONLY: &[&str] = &[
    "server.startup.restart-on-same-port",
    "server.startup.port-in-use",
];

/// The rules of the echo profile alone: the byte stream echoed back, EOF
/// after a half-close, leaving mid-echo, and never reading it. Every other server property is
/// a rule of the server model, checked over any [`Protocol`] ([`model`]).
const ECHO_ONLY: &[&str] = &[
    "server.echo.byte-exact",
    "server.echo.slow-reader",
    "server.eof.after-half-close",
    "server.isolation.concurrent-clients",
    "server.resilience.leaves-mid-echo",
    "server.hostile.never-reading-client",
    "server.event-loop.never-reading-client",
];

/// The server-model properties, in catalog order: shape, process model,
/// concurrency, pool bound, leaks, resilience and idling, whatever the
/// server serves (the http profile checks them too).
pub fn model() -> impl Iterator<Item = &'static Property<Server>> {
    PROPERTIES
        .iter()
        .filter(|p| !ECHO_ONLY.contains(&p.meta.id))
}

/// The variants the references come in, as `serve --variant` spells them.
pub const REFERENCE_VARIANTS: &[&str] = &[
    "sequential",
    "fork-wait",
    "fork",
    "thread",
    "pool:4",
    "event-loop",
];

/// Starts the server once (on its generated document root, over HTTP) and
/// waits until it listens: a server that cannot run at all is refused in
/// one line before any property.
fn preflight(server: &Server, ctx: &Ctx) -> Result<(), TargetError> {
    if let Protocol::Http(site) = &server.protocol {
        site.tree(ctx.seed)
            .map_err(|e| TargetError::setup("the generated document root", e))?;
    }
    Instance::launch(&server.command, ctx.timeout).map(drop)
}

/// The reference servers' suites: every variant, over TCP and over Unix.
pub fn reference_suites(refs: &References) -> Vec<Suite> {
    references(Profile::Server, REFERENCE_VARIANTS, refs)
}

/// The reference servers' suites for `variant` (as `serve --variant`
/// spells it), over TCP and over Unix; an unknown variant is an error.
pub fn reference_suites_of(variant: &str, refs: &References) -> Result<Vec<Suite>, UsageError> {
    parse_variant(Profile::Server, variant)?;
    Ok(references(Profile::Server, &[variant], refs))
}

/// `claimed` as a [`Variant`] of a `profile` server, or the usage error
/// that names what is accepted.
pub(crate) fn parse_variant(profile: Profile, claimed: &str) -> Result<Variant, UsageError> {
    claimed
        .parse()
        .map_err(|UnknownVariant(given)| UsageError::UnknownVariant {
            profile: profile.name(),
            given,
            accepted: ACCEPTED,
        })
}

/// The built-in reference servers of `profile` (`server`: echo; `http`:
/// the web server, on a generated document root) for `variants`, each over
/// TCP and over Unix, checked as `profile` checks a command.
pub(crate) fn references(profile: Profile, variants: &[&str], refs: &References) -> Vec<Suite> {
    let bin = refs.bin.to_string_lossy().into_owned();
    // What `serve` is told to speak, and how the suites are named.
    let (service, files, named): (&[&str], &[&str], &str) = match profile {
        Profile::Http => (&["http"], &["--files", "{dir}"], "reference web server"),
        _ => (&[], &[], "reference"),
    };
    let target = profile
        .spec()
        .target
        .as_ref()
        .expect("a server profile checks commands");
    variants
        .iter()
        .flat_map(|variant| {
            [("tcp", "--port", "{port}"), ("unix", "--unix", "{socket}")].map(
                |(transport, flag, placeholder)| {
                    let argv: Vec<String> = [bin.as_str(), "serve"]
                        .iter()
                        .chain(service)
                        .chain(&["--variant", variant, flag, placeholder])
                        .chain(files)
                        .map(|word| word.to_string())
                        .collect();
                    let command = CommandSpec::new(&argv).expect("a non-empty argv");
                    let mut suite = (target.suite)(command, Some(variant), refs)
                        .expect("reference variants parse");
                    suite.label = format!("{named} {variant} over {transport}");
                    suite
                },
            )
        })
        .collect()
}

/// The suite for a target command claiming `variant`.
pub fn target_suite(
    command: CommandSpec,
    variant: Option<&str>,
    _refs: &References,
) -> Result<Suite, TargetError> {
    server_suite(
        Profile::Server,
        command,
        variant,
        Protocol::Echo,
        PROPERTIES,
    )
}

/// The suite of `profile` for a server `command` claiming `variant` whose
/// clients speak `protocol`: `properties`, those in scope for the variant.
pub(crate) fn server_suite(
    profile: Profile,
    command: CommandSpec,
    variant: Option<&str>,
    protocol: Protocol,
    properties: impl IntoIterator<Item = &'static Property<Server>>,
) -> Result<Suite, TargetError> {
    let claimed = variant.ok_or(UsageError::NoVariant {
        profile: profile.name(),
    })?;
    let variant = parse_variant(profile, claimed)?;
    if !command.uses("port") && !command.uses("socket") {
        return Err(UsageError::NoListeningPlaceholder {
            command: command.display(),
        }
        .into());
    }
    let label = command.display();
    let kind = variant.kind();
    // `Instance::launch` prefers the socket when both are given.
    let unix = command.uses("socket");
    let server = Arc::new(Server {
        command,
        variant,
        protocol,
    });
    let started = server.clone();
    let suite = Suite::of(
        profile,
        label,
        Some(claimed),
        Some(kind),
        properties,
        server,
    )
    .with_preflight(move |ctx| preflight(&started, ctx));
    let suite = if unix {
        TCP_ONLY.iter().fold(suite, |suite, id| {
            suite.not_applicable(id, "it listens on a Unix socket path, which has no port to be taken or left in TIME_WAIT")
        })
    } else {
        suite
    };
    Ok(match variant {
        Variant::Pool(1) => [
            "server.concurrency.serves-while-busy",
            "server.hostile.slow-client",
            "server.hostile.never-reading-client",
        ]
        .into_iter()
        .fold(suite, |suite, id| {
            suite.not_applicable(id, "a pool of one worker serves one client at a time")
        }),
        _ => suite,
    })
}

/// [`Ctx::forall`] over one instance of `server` shared by the cases. A
/// server that exits fails the case that was running (see
/// [`Instance::conclude`]), or, if it exited after that case passed, the
/// next one; only while proptest then shrinks does a smaller input get a
/// freshly started server.
pub(super) fn forall_on<S>(
    server: &Server,
    ctx: &Ctx,
    strategy: S,
    test: impl Fn(&mut Instance, &S::Value) -> Outcome,
) -> Outcome
where
    S: proptest::strategy::Strategy,
    S::Value: std::fmt::Debug,
{
    // Started before the cases, so that a server that cannot start is reported once, not shrunk.
    let shared = std::cell::RefCell::new(harness::start(server, ctx)?);
    let shrinking = std::cell::Cell::new(false);
    ctx.forall(strategy, |input| {
        let mut instance = shared.borrow_mut();
        if instance.gone() {
            if !shrinking.replace(true) {
                return instance.alive().map_err(|exit| {
                    exit.observed_then(" (between two cases, after the previous one passed)")
                });
            }
            *instance = harness::start(server, ctx)?;
        }
        let outcome = test(&mut instance, input);
        let outcome = instance.conclude(outcome);
        if outcome.is_err() {
            shrinking.set(true);
        }
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_echo_only_and_tcp_only_rule_is_a_server_property() {
        for id in ECHO_ONLY.iter().chain(TCP_ONLY) {
            assert!(PROPERTIES.iter().any(|p| p.meta.id == *id), "{id}");
        }
    }
}
