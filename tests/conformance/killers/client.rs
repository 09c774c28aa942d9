//! Broken line clients (`fixtures/clients/`), and the client properties
//! that reject each.
//!
//! The three echo properties compare the client's stdout with its stdin,
//! against servers that differ only in how they reply: a client that loses
//! bytes whatever the server does fails all three, and the late echo cuts
//! its replies into pieces just as the splitting echo does, so a client
//! that mishandles pieces fails both of those. Those couplings are the only
//! reasons a killer here fails more than one property.

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
            // Lost input is lost whatever the server does.
            kills: &[
                "client.echo.every-byte-in-order",
                "client.echo.split-replies",
                "client.echo.replies-after-half-close",
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
            // echo never comes), stdin read while the server has closed.
            kills: &[
                "client.echo.split-replies",
                "client.echo.replies-after-half-close",
                "client.exit.when-server-closes-first",
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
            // the server closes first, it still waits for stdin to end.
            kills: &[
                "client.echo.every-byte-in-order",
                "client.echo.split-replies",
                "client.echo.replies-after-half-close",
                "client.exit.after-stdin-eof",
                "client.exit.when-server-closes-first",
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
            ],
        },
    ]
}
