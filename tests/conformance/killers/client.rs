//! Broken line clients (`fixtures/clients/`).

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
    vec![Killer {
        name: "client/quits-at-eof",
        subject: client(&["fixtures/clients/quits_at_eof_client.c", "{host}", "{port}"]),
        kills: &["client.echo.replies-after-half-close"],
    }]
}
