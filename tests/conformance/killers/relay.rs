//! Broken relays (`fixtures/relays/`) and programs that are no relay at all.
//!
//! Most fail one property. Those that fail several break rules that are
//! coupled by nature, and say why: a relay that never exits has no exit
//! status to be 0; one that exits before EOF cannot be watched carrying,
//! or blocking on, its stdin; the pipe end a process keeps is exactly what
//! keeps EOF or SIGPIPE away.

use ipcspec::spec::Profile;

use super::{Killer, Subject};

const fn relay(argv: &'static [&'static str]) -> Subject {
    Subject::Command {
        profile: Profile::Relay,
        variant: None,
        argv,
    }
}

const CARRIES: &str = "relay.shape.pipe-carries-stdin";
const ONE_END: &str = "relay.shape.one-end-each";
const BYTES: &str = "relay.bytes.exact";
const EOF: &str = "relay.eof.exits";
const EXIT: &str = "relay.exit.success";
const BOUNDED: &str = "relay.backpressure.bounded";
const SIGPIPE: &str = "relay.sigpipe.stops";

/// The relay killers.
pub fn killers() -> Vec<Killer> {
    vec![
        Killer {
            name: "relay/cat-is-one-process",
            subject: relay(&["cat"]),
            kills: &[CARRIES],
        },
        Killer {
            name: "relay/tee-is-one-process",
            subject: relay(&["tee"]),
            kills: &[CARRIES],
        },
        Killer {
            name: "relay/sh-c-cat-shares-no-pipe",
            subject: relay(&["sh", "-c", "cat"]),
            kills: &[CARRIES],
        },
        Killer {
            name: "relay/bypasses-its-pipe",
            subject: relay(&["fixtures/relays/bypasses_pipe.c"]),
            kills: &[CARRIES],
        },
        // `true` reads nothing and exits 0: every property that needs a
        // relay running, or its bytes, fails; it does exit, with status 0.
        Killer {
            name: "relay/true-does-nothing",
            subject: relay(&["true"]),
            kills: &[CARRIES, ONE_END, BYTES, BOUNDED, SIGPIPE],
        },
        // It exits after one read: bytes are lost, and it is gone before it
        // could block, or be seen carrying stdin, with its stdout unread.
        Killer {
            name: "relay/single-read",
            subject: relay(&["fixtures/relays/single_read.c"]),
            kills: &[CARRIES, BYTES, BOUNDED],
        },
        Killer {
            name: "relay/strlen-loses-bytes-after-a-nul",
            subject: relay(&["fixtures/relays/strlen.c"]),
            kills: &[BYTES],
        },
        // The write end the child keeps is the one its own EOF waits for:
        // it never exits, so it has no status either.
        Killer {
            name: "relay/child-keeps-write-end",
            subject: relay(&["fixtures/relays/child_keeps_write_end.c"]),
            kills: &[ONE_END, EOF, EXIT],
        },
        // Each process holds only its end, closed too late: it never exits,
        // so it has no status either.
        Killer {
            name: "relay/parent-keeps-write-end-while-waiting",
            subject: relay(&["fixtures/relays/parent_keeps_write_end.c"]),
            kills: &[EOF, EXIT],
        },
        // The read end the parent keeps is what keeps SIGPIPE from it.
        Killer {
            name: "relay/parent-keeps-read-end",
            subject: relay(&["fixtures/relays/parent_keeps_read_end.c"]),
            kills: &[ONE_END, SIGPIPE],
        },
        Killer {
            name: "relay/wrong-exit-status",
            subject: relay(&["fixtures/relays/wrong_status.c"]),
            kills: &[EXIT],
        },
        Killer {
            name: "relay/poll-into-an-unbounded-buffer",
            subject: relay(&["fixtures/relays/poll_unbounded.c"]),
            kills: &[BOUNDED],
        },
        // It reads all of stdin before writing anything, so it never writes
        // into its stdout, and never learns that nobody reads it.
        Killer {
            name: "relay/reads-everything-first",
            subject: relay(&["fixtures/relays/unbounded_buffer.c"]),
            kills: &[BOUNDED, SIGPIPE],
        },
        Killer {
            name: "relay/ignores-epipe",
            subject: relay(&["fixtures/relays/ignores_epipe.c"]),
            kills: &[SIGPIPE],
        },
    ]
}
