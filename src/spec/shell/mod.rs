//! Properties of the `shell` profile: a shell that reads command lines from
//! stdin and runs each as a pipeline.
//!
//! The check writes lines whose stages are its own probe, `ipcspec stage`
//! (see [`crate::reference::stage`]), found through a temp dir put first on
//! the shell's `PATH`; so it needs nothing from the shell but `|`, `PATH`
//! lookup, and reading the next line (`session.rs`). Shape comes first
//! (`shape.rs`): one process per stage, forked by the shell, joined by pipes,
//! none of whose ends the shell keeps. Then behaviour (`pipeline.rs`).
//!
//! Shells are beyond the lecture, which stops at one pipe between a parent
//! and its child: each property cites the manual pages its rule comes from.
//!
//! # References
//! - [pipe(7)](https://man7.org/linux/man-pages/man7/pipe.7.html), [fork(2)](https://man7.org/linux/man-pages/man2/fork.2.html),
//!   [execve(2)](https://man7.org/linux/man-pages/man2/execve.2.html), [wait(2)](https://man7.org/linux/man-pages/man2/wait.2.html)

mod pipeline;
mod session;
mod shape;

pub use pipeline::EOF_LINE_STAGES;

use std::sync::Arc;

use super::relay::refuse_usage_error;
use super::{Ctx, Meta, Profile, Property, References, Scope, Suite};
use crate::target::{CommandSpec, TargetError};
use session::Session;

/// A shell under test, and the probe its lines run.
#[derive(Clone, Debug)]
pub struct Shell {
    /// The command that starts the shell.
    pub command: CommandSpec,
    /// Where the probe (`ipcspec stage`) is.
    pub refs: References,
}

const fn meta(id: &'static str, statement: &'static str, source: &'static str) -> Meta {
    Meta {
        id,
        statement,
        source,
        profile: Profile::Shell,
        scope: Scope::All,
    }
}

/// Every `shell` property, in catalog order: shape first.
pub static PROPERTIES: &[Property<Shell>] = &[
    Property {
        meta: meta(
            "shell.shape.forks-each-stage",
            "The shell runs each stage of a line in a process of its own, forked by the shell itself rather than by another shell it hands the line to.",
            "beyond the lecture: fork(2), execve(2)",
        ),
        check: shape::forks_each_stage,
    },
    Property {
        meta: meta(
            "shell.shape.joined-by-pipes",
            "Each stage's stdout is the very pipe the next stage reads as its stdin.",
            "beyond the lecture: pipe(2), dup2(2)",
        ),
        check: shape::joined_by_pipes,
    },
    Property {
        meta: meta(
            "shell.shape.keeps-no-end",
            "While a line runs, the shell holds no end of a pipe that it has handed to a stage.",
            "beyond the lecture: pipe(7)",
        ),
        check: shape::keeps_no_end,
    },
    Property {
        meta: meta(
            "shell.pipeline.bytes-exact",
            "Bytes written by a pipeline's first stage reach its last stage exactly, through any number of stages in between.",
            "beyond the lecture: pipe(7)",
        ),
        check: pipeline::bytes_exact,
    },
    Property {
        meta: meta(
            "shell.pipeline.eof-reaches-last",
            "Every pipeline of one to five stages finishes, because the shell and each stage close the pipe ends they do not use, so EOF reaches the last stage.",
            "beyond the lecture: pipe(7)",
        ),
        check: pipeline::eof_reaches_last,
    },
    Property {
        meta: meta(
            "shell.pipeline.concurrent",
            "The stages of a pipeline run at the same time, so more than a pipe's capacity flows through it without deadlock.",
            "beyond the lecture: pipe(7)",
        ),
        check: pipeline::concurrent,
    },
    Property {
        meta: meta(
            "shell.child.clean-start",
            "Each stage starts with only descriptors 0, 1 and 2 open and with SIGPIPE neither ignored nor blocked.",
            "beyond the lecture: execve(2), signal(7)",
        ),
        check: pipeline::clean_start,
    },
    Property {
        meta: meta(
            "shell.sigpipe.ends-producer",
            "An endless producer piped into a stage that exits early is killed by SIGPIPE, and the line finishes.",
            "beyond the lecture: pipe(7), signal(7)",
        ),
        check: pipeline::sigpipe_ends_producer,
    },
    Property {
        meta: meta(
            "shell.line.reaped-then-next",
            "After a line the shell has reaped every stage, leaving no zombie, and goes on to run the next line.",
            "beyond the lecture: wait(2)",
        ),
        check: pipeline::reaped_then_next,
    },
];

/// The reference shell's suite, and those of `bash`, `dash` and `busybox sh` when installed.
pub fn reference_suites(refs: &References) -> Vec<Suite> {
    let reference = CommandSpec {
        program: refs.bin.to_string_lossy().into_owned(),
        args: vec!["shell".into()],
    };
    let mut suites = vec![suite("reference shell", reference, refs)];
    for argv in [&["bash"][..], &["dash"], &["busybox", "sh"]] {
        let command = CommandSpec {
            program: argv[0].into(),
            args: argv[1..].iter().map(|a| a.to_string()).collect(),
        };
        if command.resolve().is_ok() {
            suites.push(suite(&command.display(), command, refs));
        }
    }
    suites
}

/// The suite for a target command.
pub fn target_suite(command: CommandSpec, refs: &References) -> Result<Suite, TargetError> {
    command.resolve()?;
    Ok(suite(&command.display(), command, refs))
}

fn suite(label: &str, command: CommandSpec, refs: &References) -> Suite {
    let shell = Arc::new(Shell {
        command,
        refs: refs.clone(),
    });
    let started = shell.clone();
    Suite::new(Profile::Shell, label, None, None, PROPERTIES, shell)
        .with_preflight(move |ctx| preflight(&started, ctx))
}

/// A shell that exits at once with a non-zero status, before it was given
/// a line, could not be run (`bash --bogus`): exit 2 with its last words,
/// not a failure of every property. One that exits with status 0 is run:
/// it fails as a shell.
fn preflight(shell: &Shell, ctx: &Ctx) -> Result<(), TargetError> {
    let mut session = Session::start(shell)?;
    refuse_usage_error(&mut session.target, "reading its first line", ctx)
}
