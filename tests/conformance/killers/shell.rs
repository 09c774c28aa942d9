//! Broken shells (`fixtures/shells/`).

use ipcspec::spec::Profile;

use super::{Killer, Subject};

const fn shell(argv: &'static [&'static str]) -> Subject {
    Subject::Command {
        profile: Profile::Shell,
        variant: None,
        argv,
    }
}

/// The shell killers.
pub fn killers() -> Vec<Killer> {
    vec![Killer {
        name: "shell/no-wait",
        subject: shell(&["fixtures/shells/no_wait.c"]),
        kills: &["shell.line.reaped-then-next"],
    }]
}
