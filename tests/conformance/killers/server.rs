//! Broken echo servers (`fixtures/servers/`), and references claiming a
//! variant they are not.

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
        Killer {
            name: "server/strlen-loses-bytes-after-a-nul",
            subject: server("sequential", &["fixtures/servers/strlen.c", "{port}"]),
            kills: &["server.echo.byte-exact", "server.eof.after-half-close"],
        },
        Killer {
            name: "server/zombie-factory",
            subject: server("fork", &["fixtures/servers/zombie.c", "{port}"]),
            kills: &["server.leaks.no-zombies"],
        },
    ]
}
