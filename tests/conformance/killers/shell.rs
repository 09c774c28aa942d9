//! Broken shells (`fixtures/shells/`, one bug each over `minishell.h`).
//!
//! Most fail one property. Those that fail several break rules that are
//! coupled by nature, and say why: SIGPIPE reaches an endless producer only
//! if it starts with SIGPIPE at its default action, nobody else holds its
//! pipe's read end, and its consumer runs at the same time; a write end
//! the shell keeps holds EOF away from every line that has a pipe.

use ipcspec::spec::Profile;

use super::{Killer, Subject};

const fn shell(argv: &'static [&'static str]) -> Subject {
    Subject::Command {
        profile: Profile::Shell,
        variant: None,
        argv,
    }
}

const FORKS: &str = "shell.shape.forks-each-stage";
const PIPES: &str = "shell.shape.joined-by-pipes";
const KEEPS: &str = "shell.shape.keeps-no-end";
const BYTES: &str = "shell.pipeline.bytes-exact";
const EOF: &str = "shell.pipeline.eof-reaches-last";
const CONCURRENT: &str = "shell.pipeline.concurrent";
const CLEAN: &str = "shell.child.clean-start";
const SIGPIPE: &str = "shell.sigpipe.ends-producer";
const REAPED: &str = "shell.line.reaped-then-next";

/// The shell killers.
pub fn killers() -> Vec<Killer> {
    vec![
        Killer {
            name: "shell/hands-lines-to-system",
            subject: shell(&["fixtures/shells/system_shell.c"]),
            kills: &[FORKS],
        },
        Killer {
            name: "shell/joins-stages-by-sockets",
            subject: shell(&["fixtures/shells/socket_pairs.c"]),
            kills: &[PIPES],
        },
        Killer {
            name: "shell/keeps-the-last-read-end",
            subject: shell(&["fixtures/shells/keeps_last_read_end.c"]),
            kills: &[KEEPS],
        },
        // The write ends it keeps while it waits hold EOF away from every
        // line with a pipe, whatever the line checks.
        Killer {
            name: "shell/keeps-pipes-while-waiting",
            subject: shell(&["fixtures/shells/parent_keeps_pipes.c"]),
            kills: &[KEEPS, BYTES, EOF, CONCURRENT, CLEAN, SIGPIPE, REAPED],
        },
        Killer {
            name: "shell/traces-into-the-pipe",
            subject: shell(&["fixtures/shells/trace_on_stdout.c"]),
            kills: &[BYTES],
        },
        // An endless producer ends only if its consumer runs at the same time.
        Killer {
            name: "shell/runs-stages-one-after-another",
            subject: shell(&["fixtures/shells/sequential.c"]),
            kills: &[CONCURRENT, SIGPIPE],
        },
        Killer {
            name: "shell/leaks-its-history-file",
            subject: shell(&["fixtures/shells/history_fd.c"]),
            kills: &[CLEAN],
        },
        // The producer starts holding its own pipe's read end: no SIGPIPE.
        Killer {
            name: "shell/children-keep-pipe-descriptors",
            subject: shell(&["fixtures/shells/children_leak_fds.c"]),
            kills: &[CLEAN, SIGPIPE],
        },
        // A producer that starts with SIGPIPE ignored ends on EPIPE instead.
        Killer {
            name: "shell/ignores-sigpipe",
            subject: shell(&["fixtures/shells/sigpipe_ignored.c"]),
            kills: &[CLEAN, SIGPIPE],
        },
        // The same, from a real shell: signals ignored at entry stay ignored.
        Killer {
            name: "shell/bash-under-trap-pipe",
            subject: shell(&["bash", "-c", "trap '' PIPE; exec bash"]),
            kills: &[CLEAN, SIGPIPE],
        },
        Killer {
            name: "shell/never-waits",
            subject: shell(&["fixtures/shells/no_wait.c"]),
            kills: &[REAPED],
        },
    ]
}
