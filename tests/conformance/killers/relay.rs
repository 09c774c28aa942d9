//! Broken relays (`fixtures/relays/`) and programs that are no relay at all.

use ipcspec::spec::Profile;

use super::{Killer, Subject};

const fn relay(argv: &'static [&'static str]) -> Subject {
    Subject::Command {
        profile: Profile::Relay,
        variant: None,
        argv,
    }
}

/// The relay killers.
pub fn killers() -> Vec<Killer> {
    vec![Killer {
        name: "relay/single-read",
        subject: relay(&["fixtures/relays/single_read.c"]),
        kills: &["relay.bytes.exact"],
    }]
}
