//! Broken echo servers (`fixtures/servers/`), and references claiming a
//! variant they are not.
//!
//! Most kill one property. Those that kill several do so because the
//! rules are one mistake seen from several sides; each says why.

use ipcspec::spec::Profile;

use super::{Killer, Subject};

const fn server(variant: &'static str, argv: &'static [&'static str]) -> Subject {
    Subject::Command {
        profile: Profile::Server,
        variant: Some(variant),
        argv,
    }
}

/// The server killers.
pub fn killers() -> Vec<Killer> {
    vec![
        // Shape.
        Killer {
            // Stock ForkingMixIn: besides the listener in every child, it
            // stops accepting while it has 40 children (max_children).
            name: "server/python-forking-server-keeps-the-listener",
            subject: server(
                "fork",
                &["python3", "-S", "fixtures/servers/fork_server.py", "{port}"],
            ),
            kills: &[
                "server.shape.fork-child-closes-listener",
                "server.hostile.many-idle",
            ],
        },
        Killer {
            // The child accepts in turn, so it must keep the listener; each
            // such child is one more live process after its client left.
            name: "server/child-falls-back-into-accept",
            subject: server("fork", &["fixtures/servers/fork_no_exit.c", "{port}"]),
            kills: &[
                "server.shape.fork-child-closes-listener",
                "server.leaks.back-to-baseline",
            ],
        },
        Killer {
            name: "server/parent-closes-the-connection-after-wait",
            subject: server(
                "fork-wait",
                &["fixtures/servers/fork_wait_late_close.c", "{port}"],
            ),
            kills: &["server.shape.fork-parent-closes-connection"],
        },
        Killer {
            // The descriptor the parent keeps is a leak, and keeps the
            // connection open after the child closed it: no EOF.
            name: "server/parent-keeps-the-connection",
            subject: server("fork", &["fixtures/servers/fork_keeps_fd.c", "{port}"]),
            kills: &[
                "server.shape.fork-parent-closes-connection",
                "server.eof.after-half-close",
                "server.leaks.back-to-baseline",
            ],
        },
        Killer {
            // No child at all: neither fork rule can hold, and the
            // connection is served in the server process.
            name: "server/sequential-claimed-as-fork-wait",
            subject: server(
                "fork-wait",
                &[
                    "{ipcspec}",
                    "serve",
                    "--variant",
                    "sequential",
                    "--port",
                    "{port}",
                ],
            ),
            kills: &[
                "server.shape.fork-child-closes-listener",
                "server.shape.fork-parent-closes-connection",
                "server.process.connection-owner",
            ],
        },
        Killer {
            name: "server/pool-of-event-loops-claimed-as-thread",
            subject: server("thread", &["fixtures/servers/pool_poll.c", "{port}", "4"]),
            kills: &["server.shape.thread-per-connection"],
        },
        Killer {
            // One thread both accepts and serves every client, so one
            // blocked write stalls them all.
            name: "server/select-loop-claimed-as-thread",
            subject: server("thread", &["fixtures/servers/select_loop.c", "{port}"]),
            kills: &[
                "server.shape.thread-per-connection",
                "server.process.connection-owner",
                "server.hostile.never-reading-client",
            ],
        },
        Killer {
            // Four workers serve 32 (or 200 idle) clients only in turn, not at once.
            name: "server/pool-claimed-as-thread",
            subject: server(
                "thread",
                &[
                    "{ipcspec}",
                    "serve",
                    "--variant",
                    "pool:4",
                    "--port",
                    "{port}",
                ],
            ),
            kills: &[
                "server.shape.thread-per-connection",
                "server.resilience.many-at-once",
                "server.hostile.many-idle",
            ],
        },
        Killer {
            name: "server/pool-makes-its-workers-late",
            subject: server("pool:4", &["fixtures/servers/pool_lazy.c", "{port}", "4"]),
            kills: &["server.shape.pool-fixed-workers"],
        },
        Killer {
            // A thread per connection: threads appear, and nobody waits.
            name: "server/pool-without-bound",
            subject: server(
                "pool:4",
                &["fixtures/servers/pool_unbounded.c", "{port}", "4"],
            ),
            kills: &["server.shape.pool-fixed-workers", "server.pool.bounded"],
        },
        // Echo and EOF.
        Killer {
            name: "server/strlen-loses-bytes-after-a-nul",
            subject: server("sequential", &["fixtures/servers/strlen.c", "{port}"]),
            kills: &["server.echo.byte-exact"],
        },
        Killer {
            name: "server/drops-what-does-not-fit",
            subject: server(
                "sequential",
                &["fixtures/servers/drops_when_full.c", "{port}"],
            ),
            kills: &["server.echo.slow-reader"],
        },
        Killer {
            name: "server/resets-instead-of-closing",
            subject: server(
                "sequential",
                &["fixtures/servers/reset_at_close.c", "{port}"],
            ),
            kills: &["server.eof.after-half-close"],
        },
        Killer {
            name: "server/threads-share-one-buffer",
            subject: server(
                "thread",
                &["fixtures/servers/thread_shared_buffer.c", "{port}"],
            ),
            kills: &["server.isolation.concurrent-clients"],
        },
        // Who serves when, and where.
        Killer {
            // One client at a time: no second client beside an idle first,
            // a slow one or one that never reads, no 32 (or 200 idle) served
            // at the same time, and no 8 children to exit together (which
            // no-zombies and sigchld-reaps ask of fork).
            name: "server/fork-wait-claimed-as-fork",
            subject: server(
                "fork",
                &[
                    "{ipcspec}",
                    "serve",
                    "--variant",
                    "fork-wait",
                    "--port",
                    "{port}",
                ],
            ),
            kills: &[
                "server.concurrency.serves-while-busy",
                "server.leaks.no-zombies",
                "server.signals.sigchld-reaps",
                "server.resilience.many-at-once",
                "server.hostile.slow-client",
                "server.hostile.many-idle",
                "server.hostile.never-reading-client",
            ],
        },
        Killer {
            name: "server/fork-claimed-as-fork-wait",
            subject: server(
                "fork-wait",
                &[
                    "{ipcspec}",
                    "serve",
                    "--variant",
                    "fork",
                    "--port",
                    "{port}",
                ],
            ),
            kills: &["server.concurrency.one-at-a-time"],
        },
        Killer {
            name: "server/thread-claimed-as-sequential",
            subject: server(
                "sequential",
                &[
                    "{ipcspec}",
                    "serve",
                    "--variant",
                    "thread",
                    "--port",
                    "{port}",
                ],
            ),
            kills: &["server.concurrency.one-at-a-time"],
        },
        Killer {
            name: "server/select-loop-claimed-as-sequential",
            subject: server("sequential", &["fixtures/servers/select_loop.c", "{port}"]),
            kills: &["server.concurrency.one-at-a-time"],
        },
        Killer {
            name: "server/fork-claimed-as-thread",
            subject: server(
                "thread",
                &[
                    "{ipcspec}",
                    "serve",
                    "--variant",
                    "fork",
                    "--port",
                    "{port}",
                ],
            ),
            kills: &["server.process.connection-owner"],
        },
        Killer {
            name: "server/fork-wait-claimed-as-sequential",
            subject: server(
                "sequential",
                &[
                    "{ipcspec}",
                    "serve",
                    "--variant",
                    "fork-wait",
                    "--port",
                    "{port}",
                ],
            ),
            kills: &["server.process.connection-owner"],
        },
        Killer {
            name: "server/pool-of-event-loops",
            subject: server("pool:4", &["fixtures/servers/pool_poll.c", "{port}", "4"]),
            kills: &["server.pool.bounded"],
        },
        // Event loops, and what is not one.
        Killer {
            // A select() loop that writes with a blocking write: one client
            // that never reads holds the one thread, and everyone with it.
            name: "server/event-loop-blocks-writing",
            subject: server("event-loop", &["fixtures/servers/select_loop.c", "{port}"]),
            kills: &["server.event-loop.never-reading-client"],
        },
        Killer {
            // Dropping what a non-blocking send did not take loses bytes for
            // every client that reads later than the server writes.
            name: "server/event-loop-drops-on-eagain",
            subject: server(
                "event-loop",
                &["fixtures/servers/event_loop_drops.c", "{port}"],
            ),
            kills: &[
                "server.echo.slow-reader",
                "server.isolation.concurrent-clients",
                "server.event-loop.never-reading-client",
            ],
        },
        Killer {
            name: "server/event-loop-claimed-as-sequential",
            subject: server(
                "sequential",
                &[
                    "{ipcspec}",
                    "serve",
                    "--variant",
                    "event-loop",
                    "--port",
                    "{port}",
                ],
            ),
            kills: &["server.concurrency.one-at-a-time"],
        },
        Killer {
            // One thread waits on every connection and on the listener.
            name: "server/event-loop-claimed-as-thread",
            subject: server(
                "thread",
                &[
                    "{ipcspec}",
                    "serve",
                    "--variant",
                    "event-loop",
                    "--port",
                    "{port}",
                ],
            ),
            kills: &[
                "server.shape.thread-per-connection",
                "server.process.connection-owner",
            ],
        },
        Killer {
            // One worker, which also accepts, and no bound on who is served.
            name: "server/event-loop-claimed-as-pool",
            subject: server("pool:4", &["fixtures/servers/event_loop.c", "{port}"]),
            kills: &[
                "server.shape.pool-fixed-workers",
                "server.process.connection-owner",
                "server.pool.bounded",
            ],
        },
        Killer {
            // A thread per connection, none of which waits for new ones.
            name: "server/thread-claimed-as-event-loop",
            subject: server(
                "event-loop",
                &[
                    "{ipcspec}",
                    "serve",
                    "--variant",
                    "thread",
                    "--port",
                    "{port}",
                ],
            ),
            kills: &[
                "server.shape.event-loop-one-thread",
                "server.process.connection-owner",
            ],
        },
        Killer {
            // Connections are served in children, not by the accepting thread.
            name: "server/fork-claimed-as-event-loop",
            subject: server(
                "event-loop",
                &[
                    "{ipcspec}",
                    "serve",
                    "--variant",
                    "fork",
                    "--port",
                    "{port}",
                ],
            ),
            kills: &[
                "server.shape.event-loop-one-thread",
                "server.process.connection-owner",
            ],
        },
        // Leaks.
        Killer {
            // No reaping at all: the zombies of children exiting together
            // are zombies too.
            name: "server/zombie-factory",
            subject: server("fork", &["fixtures/servers/zombie.c", "{port}"]),
            kills: &["server.leaks.no-zombies", "server.signals.sigchld-reaps"],
        },
        Killer {
            // One SIGCHLD stands for all the children that exited before
            // the handler ran: of 8 exiting at the same instant, 7 stay
            // zombies, whether or not a client comes after them.
            name: "server/sigchld-handler-reaps-one-child",
            subject: server(
                "fork",
                &["fixtures/servers/fork_sigchld_wait_once.c", "{port}"],
            ),
            kills: &["server.leaks.no-zombies", "server.signals.sigchld-reaps"],
        },
        Killer {
            // A thread server: no children to make exit together, so only
            // the zombies its helpers leave are seen.
            name: "server/thread-server-never-waits-for-its-helpers",
            subject: server(
                "thread",
                &["fixtures/servers/thread_helper_zombies.c", "{port}"],
            ),
            kills: &["server.leaks.no-zombies"],
        },
        Killer {
            name: "server/leaks-a-descriptor-per-client",
            subject: server(
                "sequential",
                &["fixtures/servers/leaks_log_file.c", "{port}"],
            ),
            kills: &["server.leaks.back-to-baseline"],
        },
        // Peers that leave, clients in numbers, idleness.
        Killer {
            name: "server/read-error-exits",
            subject: server("thread", &["fixtures/servers/read_error_exits.c", "{port}"]),
            kills: &["server.resilience.reset-client"],
        },
        Killer {
            name: "server/killed-by-sigpipe",
            subject: server("thread", &["fixtures/servers/thread_sigpipe.c", "{port}"]),
            kills: &["server.resilience.leaves-mid-echo"],
        },
        Killer {
            // Its cap of 128 also turns away the 129th of 200 idle clients.
            name: "server/counts-clients-in-never-out",
            subject: server("thread", &["fixtures/servers/counts_clients.c", "{port}"]),
            kills: &[
                "server.resilience.many-in-sequence",
                "server.hostile.many-idle",
            ],
        },
        Killer {
            name: "server/exits-when-its-client-table-is-full",
            subject: server(
                "thread",
                &["fixtures/servers/thread_table_full.c", "{port}"],
            ),
            kills: &["server.resilience.many-at-once", "server.hostile.many-idle"],
        },
        Killer {
            // Workers that spin idle spin out of descriptors too.
            name: "server/pool-workers-spin",
            subject: server("pool:4", &["fixtures/servers/pool_spin.c", "{port}", "4"]),
            kills: &["server.idle.blocked", "server.hostile.emfile"],
        },
        // Hostile and demanding clients.
        Killer {
            // The accepting thread waits for each client's first bytes: a
            // client that trickles them, or an idle one, holds up accept.
            name: "server/reads-first-bytes-before-handing-over",
            subject: server(
                "thread",
                &["fixtures/servers/sniffs_first_bytes.c", "{port}"],
            ),
            // The client restart-on-same-port leaves connected sends 4 bytes:
            // short of 8, it is never handed over.
            kills: &[
                "server.hostile.slow-client",
                "server.hostile.many-idle",
                "server.startup.restart-on-same-port",
            ],
        },
        Killer {
            name: "server/turns-away-clients-beyond-64",
            subject: server("fork", &["fixtures/servers/fork_capped.c", "{port}"]),
            kills: &["server.hostile.many-idle"],
        },
        Killer {
            name: "server/writes-under-one-shared-lock",
            subject: server("thread", &["fixtures/servers/write_lock.c", "{port}"]),
            kills: &["server.hostile.never-reading-client"],
        },
        Killer {
            name: "server/exits-when-accept-fails",
            subject: server(
                "thread",
                &["fixtures/servers/accept_error_exits.c", "{port}"],
            ),
            kills: &["server.hostile.emfile"],
        },
        Killer {
            name: "server/retries-accept-at-once-out-of-descriptors",
            subject: server("thread", &["fixtures/servers/accept_spins.c", "{port}"]),
            kills: &["server.hostile.emfile"],
        },
        Killer {
            // socketserver as shipped: out of descriptors, its listener
            // stays readable and serve_forever retries accept at once.
            name: "server/python-socketserver-spins-out-of-descriptors",
            subject: server(
                "thread",
                &[
                    "python3",
                    "-S",
                    "fixtures/servers/thread_server.py",
                    "{port}",
                    "stock",
                ],
            ),
            kills: &["server.hostile.emfile"],
        },
        // Start-up.
        Killer {
            name: "server/binds-without-so-reuseaddr",
            subject: server("sequential", &["fixtures/servers/no_reuseaddr.c", "{port}"]),
            kills: &["server.startup.restart-on-same-port"],
        },
        Killer {
            name: "server/runs-on-when-bind-fails",
            subject: server("sequential", &["fixtures/servers/bind_ignored.c", "{port}"]),
            kills: &["server.startup.port-in-use"],
        },
        Killer {
            name: "server/exits-quietly-with-0-when-bind-fails",
            subject: server(
                "sequential",
                &["fixtures/servers/bind_fails_quietly.c", "{port}"],
            ),
            kills: &["server.startup.port-in-use"],
        },
    ]
}
