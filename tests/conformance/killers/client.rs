//! Broken line clients (`fixtures/clients/`), and the client properties
//! that reject each.
//!
//! The three echo properties compare the client's stdout with its stdin,
//! against servers that differ only in how they reply: a client that loses
//! bytes whatever the server does fails all three, and the late echo cuts
//! its replies into pieces just as the splitting echo does, so a client
//! that mishandles pieces fails both of those. Those couplings are the only
//! reasons a killer here fails more than one property, with one more: a
//! client meets a write to a server that closed early only if it still
//! copies stdin after the server's end-of-file, which is the bug that
//! `client.exit.when-server-closes-first` rejects.
//!
//! What `localhost` resolves to is the machine's: where it is `::1` and
//! `127.0.0.1`, a client that tries only the first address cannot reach the
//! check's server on the second; where it is one address, as on a host whose
//! `/etc/hosts` names only `127.0.0.1`, that client is correct, and its
//! killer shows it passes everything.

use std::net::ToSocketAddrs;

use ipcspec::spec::Profile;

use super::{Killer, Subject};

const fn client(argv: &'static [&'static str]) -> Subject {
    Subject::Command {
        profile: Profile::Client,
        variant: None,
        argv,
    }
}

/// The client killers.
pub fn killers() -> Vec<Killer> {
    vec![
        Killer {
            name: "client/truncates-long-lines",
            subject: client(&["fixtures/clients/truncating_client.c", "{host}", "{port}"]),
            // Lost input is lost whatever the server does; the server that
            // closes early waits for all of it first.
            kills: &[
                "client.echo.every-byte-in-order",
                "client.echo.split-replies",
                "client.echo.replies-after-half-close",
                "client.eof.server-closes-early",
            ],
        },
        Killer {
            name: "client/drops-short-pieces",
            subject: client(&["fixtures/clients/short_pieces_client.c", "{host}", "{port}"]),
            // Both the splitting and the late echo send pieces.
            kills: &[
                "client.echo.split-replies",
                "client.echo.replies-after-half-close",
            ],
        },
        Killer {
            name: "client/quits-at-eof",
            subject: client(&["fixtures/clients/quits_at_eof_client.c", "{host}", "{port}"]),
            // Whatever echo is still on its way at stdin's end is lost, whatever the server.
            kills: &[
                "client.echo.every-byte-in-order",
                "client.echo.split-replies",
                "client.echo.replies-after-half-close",
            ],
        },
        Killer {
            name: "client/exits-1-after-a-clean-end",
            subject: client(&["fixtures/clients/exit_1_client.c", "{host}", "{port}"]),
            kills: &["client.exit.after-stdin-eof"],
        },
        Killer {
            name: "client/waits-for-stdin-after-the-server-closed",
            subject: client(&[
                "fixtures/clients/waits_for_stdin_client.c",
                "{host}",
                "{port}",
            ]),
            kills: &["client.exit.when-server-closes-first"],
        },
        Killer {
            name: "client/lecture",
            subject: client(&["fixtures/clients/lecture_client.c", "{host}", "{port}"]),
            // Three bugs of the lecture's loop: one read per line (split
            // replies), no half-close and a wait for each reply (the late
            // echo never comes), stdin read while the server has closed
            // (it waits for stdin, then dies of SIGPIPE writing what came).
            kills: &[
                "client.echo.split-replies",
                "client.echo.replies-after-half-close",
                "client.exit.when-server-closes-first",
                "client.eof.server-closes-early",
            ],
        },
        Killer {
            name: "client/never-half-closes",
            subject: client(&[
                "fixtures/clients/no_half_close_client.c",
                "{host}",
                "{port}",
            ]),
            // The echo sessions end with the half-close it never sends; when
            // the server closes first, it still waits for stdin to end, and
            // dies of SIGPIPE writing what comes.
            kills: &[
                "client.echo.every-byte-in-order",
                "client.echo.split-replies",
                "client.echo.replies-after-half-close",
                "client.exit.after-stdin-eof",
                "client.exit.when-server-closes-first",
                "client.eof.server-closes-early",
            ],
        },
        Killer {
            name: "client/exits-0-without-connecting",
            subject: client(&["sh", "-c", "exit 0", "{port}"]),
            // It prints nothing and never connects: no session happens at all.
            kills: &[
                "client.echo.every-byte-in-order",
                "client.echo.split-replies",
                "client.echo.replies-after-half-close",
                "client.exit.after-stdin-eof",
                "client.exit.when-server-closes-first",
                "client.eof.server-closes-early",
                "client.connect.host-spellings",
                "client.errors.refused",
                "client.errors.unknown-host",
            ],
        },
        Killer {
            name: "client/retries-a-refused-connection-forever",
            subject: client(&[
                "fixtures/clients/retry_forever_client.c",
                "{host}",
                "{port}",
            ]),
            kills: &["client.errors.refused"],
        },
        Killer {
            name: "client/exits-0-on-an-unknown-host",
            subject: client(&[
                "fixtures/clients/unknown_host_exit_0_client.c",
                "{host}",
                "{port}",
            ]),
            kills: &["client.errors.unknown-host"],
        },
        Killer {
            name: "client/gethostbyname-ipv4-only",
            subject: client(&[
                "fixtures/clients/gethostbyname_client.c",
                "{host}",
                "{port}",
            ]),
            kills: &["client.connect.host-spellings"],
        },
        Killer {
            name: "client/python-af-inet-only",
            subject: client(&["fixtures/clients/ipv4_only_client.py", "{host}", "{port}"]),
            kills: &["client.connect.host-spellings"],
        },
        Killer {
            name: "client/first-address-only",
            subject: client(&[
                "fixtures/clients/first_address_client.c",
                "{host}",
                "{port}",
            ]),
            kills: if localhost_has_several_addresses() {
                &["client.connect.host-spellings"]
            } else {
                &[]
            },
        },
        Killer {
            name: "client/dies-of-sigpipe-after-the-server-closed",
            subject: client(&["fixtures/clients/sigpipe_client.c", "{host}", "{port}"]),
            // It keeps copying stdin after the server's end-of-file: it waits
            // for stdin when the server closes first, and writes when stdin goes on.
            kills: &[
                "client.exit.when-server-closes-first",
                "client.eof.server-closes-early",
            ],
        },
        Killer {
            name: "client/calls-an-early-close-an-error",
            subject: client(&[
                "fixtures/clients/early_close_is_error_client.c",
                "{host}",
                "{port}",
            ]),
            kills: &["client.eof.server-closes-early"],
        },
    ]
}

/// Whether `localhost` names more than one address here (`::1` and
/// `127.0.0.1`, say), so that trying only the first can miss the server.
fn localhost_has_several_addresses() -> bool {
    ("localhost", 0)
        .to_socket_addrs()
        .is_ok_and(|found| found.count() > 1)
}
