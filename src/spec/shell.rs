//! Properties of the `shell` profile: a shell that reads command lines from
//! stdin and runs each as a pipeline.
//!
//! The check writes lines whose stages are its own probe, `ipcspec stage`
//! (see [`crate::reference::stage`]), found through a temp dir put first on
//! the shell's `PATH`; so it needs nothing from the shell but `|`, `PATH`
//! lookup, and reading the next line. Stages write JSON reports; a line is
//! *finished* when its reports exist, no process but the shell is left, and
//! the shell is quiescent (asleep reading stdin). A line is *stuck* when the
//! shell and its children are quiescent before that: the hang report names
//! who holds which pipe end. `ctx.timeout` only bounds lines that keep running.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ChildStdin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::relay::stuck_finding;
use super::{ensure, Ctx, Finding, Meta, Outcome, Profile, Property, References, Scope, Suite};
use crate::reference::stage::{read_report, StageReport};
use crate::target::observe;
use crate::target::process::describe_status;
use crate::target::settle::Stillness;
use crate::target::{CommandSpec, Stream, Target, TargetConfig, TargetError};
use crate::workload::relay::length;

/// A shell under test, and the probe its lines run.
#[derive(Clone, Debug)]
pub struct Shell {
    /// The command that starts the shell.
    pub command: CommandSpec,
    /// Where the probe (`ipcspec stage`) is.
    pub refs: References,
}

/// Every `shell` property, in catalog order.
pub static PROPERTIES: &[Property<Shell>] = &[
    Property {
        meta: Meta {
            id: "shell.pipeline.bytes-exact",
            statement: "Bytes written by a pipeline's first stage reach its last stage exactly, through any number of stages in between.",
            source: "Pipes",
            profile: Profile::Shell,
            scope: Scope::All,
        },
        check: bytes_exact,
    },
    Property {
        meta: Meta {
            id: "shell.pipeline.eof-reaches-last",
            statement: "Every pipeline finishes because the shell and each stage close the pipe ends they do not use, so EOF reaches the last stage.",
            source: "When do we get EOF on a pipe?",
            profile: Profile::Shell,
            scope: Scope::All,
        },
        check: eof_reaches_last,
    },
    Property {
        meta: Meta {
            id: "shell.pipeline.concurrent",
            statement: "The stages of a pipeline run at the same time, so more than a pipe's capacity flows through it without deadlock.",
            source: "Pipes",
            profile: Profile::Shell,
            scope: Scope::All,
        },
        check: concurrent,
    },
    Property {
        meta: Meta {
            id: "shell.child.clean-start",
            statement: "Each stage starts with only descriptors 0, 1 and 2 open and with SIGPIPE neither ignored nor blocked.",
            source: "When do we get EOF on a pipe?",
            profile: Profile::Shell,
            scope: Scope::All,
        },
        check: clean_start,
    },
    Property {
        meta: Meta {
            id: "shell.sigpipe.ends-producer",
            statement: "An endless producer piped into a stage that exits early is ended by SIGPIPE, and the line finishes.",
            source: "When do we get EOF on a pipe?",
            profile: Profile::Shell,
            scope: Scope::All,
        },
        check: sigpipe_ends_producer,
    },
    Property {
        meta: Meta {
            id: "shell.line.reaped-then-next",
            statement: "After a line the shell has reaped every stage, leaving no zombie, and goes on to run the next line.",
            source: "Pipes",
            profile: Profile::Shell,
            scope: Scope::All,
        },
        check: reaped_then_next,
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
    Suite::new(Profile::Shell, label, None, None, PROPERTIES, shell)
}

/// A running shell, the pipe to its stdin, and the directory its probes report into.
struct Session {
    // Declared first so the shell dies before its directory goes.
    target: Target,
    stdin: ChildStdin,
    dir: tempfile::TempDir,
    lines: usize,
    /// Descriptors beyond 0-2 the shell inherited from the check's own
    /// environment (not close-on-exec here): a shell rightly passes them on.
    inherited: Vec<i32>,
}

/// This process's descriptors above 2 that a child started now would inherit.
fn inheritable_fds() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fdinfo") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| {
            let fd: i32 = entry.file_name().to_str()?.parse().ok()?;
            let info = std::fs::read_to_string(entry.path()).ok()?;
            let flags = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())?;
            (fd > 2 && flags & libc::O_CLOEXEC as u32 == 0).then_some(fd)
        })
        .collect()
}

impl Session {
    /// Starts the shell with the probe first on its `PATH`.
    fn start(shell: &Shell) -> Result<Session, Finding> {
        let dir =
            tempfile::tempdir().map_err(|e| TargetError::setup("a temp dir for the probe", e))?;
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin)
            .and_then(|()| std::os::unix::fs::symlink(&shell.refs.bin, bin.join("ipcspec")))
            .map_err(|e| TargetError::setup("the probe's directory on PATH", e))?;
        let path = std::env::var("PATH").unwrap_or_default();
        let mut config = TargetConfig::new(shell.command.clone());
        config.stdin = Stream::Piped;
        config.stdout = Stream::Capture;
        config.env = vec![("PATH".into(), format!("{}:{path}", bin.display()))];
        let inherited = inheritable_fds();
        let mut target = Target::spawn(config)?;
        let stdin = target.take_stdin().ok_or_else(|| {
            TargetError::setup("the shell's stdin", std::io::ErrorKind::BrokenPipe)
        })?;
        Ok(Session {
            target,
            stdin,
            dir,
            lines: 0,
            inherited,
        })
    }

    /// A fresh path in the session's directory, for a report.
    fn report_path(&mut self, stage: &str) -> PathBuf {
        self.lines += 1;
        self.dir.path().join(format!("{}-{stage}.json", self.lines))
    }

    /// Writes `line` and waits until it finished (its `reports` exist, the
    /// shell alone is left, asleep reading stdin); at most `bound` without
    /// finishing while something still runs.
    fn run_line(&mut self, line: &str, reports: &[&Path], bound: Duration) -> Outcome {
        let written = self
            .stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| self.stdin.flush());
        if let Err(e) = written {
            return Err(self.exited(line, &format!("writing the line to its stdin failed: {e}")));
        }
        let deadline = Instant::now() + bound;
        let shell = self.target.pid();
        let mut stillness = Stillness::default();
        loop {
            if self.target.try_status().is_some() {
                return Err(self.exited(line, "it exited"));
            }
            let look = stillness.look(&self.target, &[]);
            if let Some((alive, threads, _)) = &look {
                let done = reports.iter().all(|r| r.exists())
                    && *alive == [shell]
                    && threads.iter().all(|t| t.syscall.name() == Some("read"));
                if done {
                    return Ok(());
                }
            }
            if let Some((_, threads, true)) = look {
                let missing: Vec<String> = reports
                    .iter()
                    .filter(|r| !r.exists())
                    .map(|r| r.display().to_string())
                    .collect();
                let awaited =
                    format!("the line to finish, then the shell to read the next one: `{line}`");
                let mut finding = stuck_finding(&awaited, &threads, &self.target);
                if let (Some(failure), false) = (finding.failure_mut(), missing.is_empty()) {
                    failure.observed += &format!("\nreports never written: {}", missing.join(", "));
                }
                return Err(finding);
            }
            if Instant::now() >= deadline {
                return Err(Finding::hung(
                    format!("the line to finish: `{line}`"),
                    observe::describe(&observe::threads(&self.target.processes())),
                )
                .with_output(self.target.output()));
            }
            // Pacing only: each pass observes the shell afresh.
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The shell stopped before it finished `line`.
    fn exited(&mut self, line: &str, what: &str) -> Finding {
        let status = self.target.wait_exit(Duration::from_millis(200));
        let status = status.map_or("still running".into(), describe_status);
        Finding::violated(
            format!("the shell to run `{line}` and read the next line"),
            format!("{what} ({status})"),
        )
        .with_output(self.target.final_output(Duration::from_millis(200)))
    }

    /// The report at `path`, which [`Session::run_line`] saw exist.
    fn report(&self, path: &Path) -> Result<StageReport, Finding> {
        read_report(path).ok_or_else(|| {
            Finding::violated(
                "a readable report from each stage",
                format!("{} is not a stage report", path.display()),
            )
        })
    }
}

/// `emit | cat × cats | verify` for payload `seed`/`len`; returns the verify report.
fn relay_line(
    shell: &Shell,
    seed: u64,
    len: usize,
    cats: usize,
    ctx: &Ctx,
) -> Result<StageReport, Finding> {
    let mut session = Session::start(shell)?;
    let report = session.report_path("verify");
    let mut line = format!("ipcspec stage emit --seed {seed} --len {len}");
    for _ in 0..cats {
        line += " | cat";
    }
    line += &format!(
        " | ipcspec stage verify --seed {seed} --len {len} --report {}",
        report.display()
    );
    session.run_line(&line, &[&report], ctx.timeout)?;
    let verified = session.report(&report)?;
    match &verified.mismatch {
        Some((expected, observed)) => Err(Finding::violated(expected.clone(), observed.clone())
            .with_output(session.target.output())),
        None => Ok(verified),
    }
}

/// `shell.pipeline.bytes-exact`
fn bytes_exact(shell: &Shell, ctx: &Ctx) -> Outcome {
    let lines = (any::<u64>(), length(1 << 20), 0usize..=3);
    ctx.forall(lines, |&(seed, len, cats)| {
        relay_line(shell, seed, len, cats, ctx).map(drop)
    })
}

/// `shell.pipeline.eof-reaches-last`
fn eof_reaches_last(shell: &Shell, ctx: &Ctx) -> Outcome {
    relay_line(shell, 4, 100_000, 2, ctx).map(drop)
}

/// `shell.pipeline.concurrent`
fn concurrent(shell: &Shell, ctx: &Ctx) -> Outcome {
    // Sixteen times a default pipe's capacity: stages run one after another stall here.
    relay_line(shell, 5, 1 << 20, 0, ctx)?;
    let mut session = Session::start(shell)?;
    let dir = session.dir.path().join("meet");
    std::fs::create_dir(&dir).map_err(|e| TargetError::setup("the meeting directory", e))?;
    const STAGES: usize = 3;
    let line = (0..STAGES)
        .map(|id| {
            format!(
                "ipcspec stage meet --id {id} --of {STAGES} --dir {} --timeout {}",
                dir.display(),
                ctx.timeout.as_secs_f64()
            )
        })
        .collect::<Vec<_>>()
        .join(" | ");
    let reports: Vec<PathBuf> = (0..STAGES)
        .map(|id| dir.join(format!("{id}.json")))
        .collect();
    let paths: Vec<&Path> = reports.iter().map(PathBuf::as_path).collect();
    // The stages give up after ctx.timeout; allow the line as long again to end.
    session.run_line(&line, &paths, ctx.timeout * 2)?;
    let alone: Vec<usize> = (0..STAGES)
        .filter(|&id| {
            !session
                .report(&reports[id])
                .is_ok_and(|r| r.met == Some(true))
        })
        .collect();
    ensure(
        alone.is_empty(),
        || format!("all {STAGES} stages of `{line}` running at once"),
        || {
            format!("stages {alone:?} waited {:.1} s without seeing every other stage start: they ran one after another", ctx.timeout.as_secs_f64())
        },
    )
}

/// `shell.child.clean-start`
fn clean_start(shell: &Shell, ctx: &Ctx) -> Outcome {
    let mut session = Session::start(shell)?;
    let first = session.report_path("emit");
    let last = session.report_path("verify");
    let line = format!(
        "ipcspec stage emit --seed 6 --len 1000 --report {} | cat | ipcspec stage verify --seed 6 --len 1000 --report {}",
        first.display(),
        last.display()
    );
    session.run_line(&line, &[&first, &last], ctx.timeout)?;
    let mut problems = Vec::new();
    for path in [&first, &last] {
        let report = session.report(path)?;
        let probe = &report.probe;
        let who = format!("stage `{}` (pid {})", report.stage, probe.pid);
        let leaked: Vec<i32> = probe
            .fds
            .iter()
            .copied()
            .filter(|fd| *fd > 2 && !session.inherited.contains(fd))
            .collect();
        let standard = (0..3).all(|fd| probe.fds.contains(&fd));
        if !leaked.is_empty() || !standard {
            problems.push(format!(
                "{who} started with descriptors {:?} open ({leaked:?} beyond 0-2 that the shell should have closed)",
                probe.fds
            ));
        }
        if probe.sigpipe_ignored {
            problems.push(format!("{who} started with SIGPIPE ignored"));
        }
        if probe.sigpipe_blocked {
            problems.push(format!("{who} started with SIGPIPE blocked"));
        }
    }
    ensure(
        problems.is_empty(),
        || "every stage started with descriptors [0, 1, 2] and SIGPIPE at its default action, unblocked".into(),
        || problems.join("; "),
    )
    .map_err(|f| f.with_output(session.target.output()))
}

/// `shell.sigpipe.ends-producer`
fn sigpipe_ends_producer(shell: &Shell, ctx: &Ctx) -> Outcome {
    let mut session = Session::start(shell)?;
    let report = session.report_path("head");
    let line = format!(
        "ipcspec stage emit --seed 7 --len 65536 --endless | ipcspec stage head --bytes 1000 --report {}",
        report.display()
    );
    session.run_line(&line, &[&report], ctx.timeout)
}

/// `shell.line.reaped-then-next`
fn reaped_then_next(shell: &Shell, ctx: &Ctx) -> Outcome {
    let mut session = Session::start(shell)?;
    for seed in [8, 9] {
        let report = session.report_path("verify");
        let line = format!(
            "ipcspec stage emit --seed {seed} --len 5000 | cat | ipcspec stage verify --seed {seed} --len 5000 --report {}",
            report.display()
        );
        session.run_line(&line, &[&report], ctx.timeout)?;
        let zombies: Vec<String> = observe::children(session.target.pid())
            .into_iter()
            .filter(|c| c.state == 'Z')
            .map(|c| format!("pid {} ({})", c.pid, c.comm))
            .collect();
        ensure(
            zombies.is_empty(),
            || format!("no zombie left after `{line}`: the shell waits for every stage"),
            || format!("zombies: {}", zombies.join(", ")),
        )?;
    }
    Ok(())
}
