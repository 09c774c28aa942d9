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
            name: "server/python-forking-server-keeps-the-listener",
            subject: server(
                "fork",
                &["python3", "fixtures/servers/fork_server.py", "{port}"],
            ),
            kills: &["server.shape.fork-child-closes-listener"],
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
            // One thread both accepts and serves every client.
            name: "server/select-loop-claimed-as-thread",
            subject: server("thread", &["fixtures/servers/select_loop.c", "{port}"]),
            kills: &[
                "server.shape.thread-per-connection",
                "server.process.connection-owner",
            ],
        },
        Killer {
            // Four workers serve 32 clients only in turn, not at once.
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
            // and no 32 served at the same time.
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
                "server.resilience.many-at-once",
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
            name: "server/zombie-factory",
            subject: server("fork", &["fixtures/servers/zombie.c", "{port}"]),
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
            name: "server/counts-clients-in-never-out",
            subject: server("thread", &["fixtures/servers/counts_clients.c", "{port}"]),
            kills: &["server.resilience.many-in-sequence"],
        },
        Killer {
            name: "server/exits-when-its-client-table-is-full",
            subject: server(
                "thread",
                &["fixtures/servers/thread_table_full.c", "{port}"],
            ),
            kills: &["server.resilience.many-at-once"],
        },
        Killer {
            name: "server/pool-workers-spin",
            subject: server("pool:4", &["fixtures/servers/pool_spin.c", "{port}", "4"]),
            kills: &["server.idle.blocked"],
        },
    ]
}
