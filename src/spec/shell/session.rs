//! A shell under test, started with the probe first on its `PATH`, fed
//! one line at a time, and watched until each line has finished.
//!
//! A line is *finished* when the reports it names exist, no process but the
//! shell is left, the shell is settled, and one of its threads waits on its
//! stdin, in whatever call it chose (`read`, `select`, `poll`, `epoll`...;
//! [`observe::waits_on`]). A line is *stuck* when the shell and its children
//! are settled before that: the hang report names who holds which pipe
//! end. `bound` only ends lines that keep running.
//!
//! A *gated* line's first stage waits on a FIFO before it writes anything
//! (`stage emit --gate`), so the check can look at a pipeline whose stages
//! have all started and none has moved a byte: what each stage is joined
//! to, and which pipe ends the shell kept. Then the check opens the gate.
//!
//! # References
//! - [fifo(7)](https://man7.org/linux/man-pages/man7/fifo.7.html): opening a FIFO blocks until both ends are open;
//!   with `O_NONBLOCK`, opening it for writing fails with `ENXIO` when it has no reader
//! - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html) `/proc/<pid>/exe`, `fd/`, `fdinfo/`

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::ChildStdin;
use std::time::Duration;

use nix::sys::stat::Mode;
use nix::unistd::Pid;

use super::Shell;
use crate::reference::stage::{read_report, StageReport};
use crate::spec::relay::{pipe_hang, why_stuck};
use crate::spec::{Finding, Outcome};
use crate::target::observe::{self, PipeEnd, ThreadState};
use crate::target::process::describe_status;
use crate::target::settle::{self, Gaps, Look};
use crate::target::{Stream, Target, TargetConfig, TargetError};

/// A running shell, the pipe to its stdin, and the directory its probes report into.
pub struct Session {
    // Declared first so the shell dies before its directory goes.
    pub target: Target,
    stdin: ChildStdin,
    /// The inode of the pipe that is the shell's stdin.
    stdin_pipe: u64,
    pub dir: tempfile::TempDir,
    lines: usize,
    /// Descriptors beyond 0-2 the shell inherited from the check's own
    /// environment (not close-on-exec here): a shell rightly passes them on.
    pub inherited: Vec<i32>,
    /// The pipes the check holds an end of (the shell's stdin, stdout and
    /// stderr among them): never a pipe of the shell's own.
    ours: HashSet<u64>,
    /// The shell's program, as `/proc/<pid>/exe` links it.
    pub exe: Option<PathBuf>,
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

/// What a gated line showed: each stage's start report, by position, and
/// the pipe ends held when it stood at the gate.
pub struct Gated {
    /// The line as written.
    pub line: String,
    /// Where each stage reports.
    paths: Vec<PathBuf>,
    /// Each stage's report, if it started.
    pub reports: Vec<Option<StageReport>>,
    /// At the gate: the processes that are not stages (the shell, and any
    /// process of its own between it and them) with the pipe ends they held.
    pub keepers: Vec<(Pid, String, Vec<PipeEnd>)>,
    /// At the gate: each stage's pid here, by position, if it had started
    /// (its report gives the pid it calls itself, which differs in a
    /// sandbox's pid namespace).
    pub stage_pids: Vec<Option<Pid>>,
    /// At the gate: the pipe ends the stages held.
    pub stage_ends: Vec<PipeEnd>,
    /// At the gate: every thread, for evidence.
    pub threads: Vec<ThreadState>,
}

impl Session {
    /// Starts the shell with the probe first on its `PATH`.
    pub fn start(shell: &Shell) -> Result<Session, TargetError> {
        let dir =
            tempfile::tempdir().map_err(|e| TargetError::setup("a temp dir for the probe", e))?;
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin)
            .and_then(|()| std::os::unix::fs::symlink(&shell.refs.bin, bin.join("ipcspec")))
            .and_then(|()| crate::target::sandbox::hand_over(dir.path()))
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
        let stdin_pipe = std::fs::File::from(
            stdin
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| TargetError::setup("the shell's stdin", e))?,
        )
        .metadata()
        .map_err(|e| TargetError::setup("the shell's stdin", e))?
        .ino();
        let ours = observe::pipe_ends(nix::unistd::getpid())
            .into_iter()
            .map(|e| e.inode)
            .collect();
        // `spawn` returns once the program was exec'd: this is the shell's own.
        let exe = std::fs::read_link(format!("/proc/{}/exe", target.pid())).ok();
        Ok(Session {
            target,
            stdin,
            stdin_pipe,
            dir,
            lines: 0,
            inherited,
            ours,
            exe,
        })
    }

    /// A fresh path in the session's directory, for a report.
    pub fn report_path(&mut self, stage: &str) -> PathBuf {
        self.lines += 1;
        self.dir.path().join(format!("{}-{stage}.json", self.lines))
    }

    /// Writes `line` to the shell's stdin.
    fn send(&mut self, line: &str) -> Outcome {
        let written = self
            .stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| self.stdin.flush());
        written.map_err(|e| {
            self.exited(
                line,
                Some(&format!("writing the line to its stdin failed ({e})")),
            )
        })
    }

    /// Writes `line` and waits until it finished (its `reports` exist, the
    /// shell alone is left, settled and waiting on its stdin); at most
    /// `bound` without finishing while something still runs.
    pub fn run_line(&mut self, line: &str, reports: &[&Path], bound: Duration) -> Outcome {
        self.send(line)?;
        self.wait_finished(line, reports, bound)
    }

    fn wait_finished(&mut self, line: &str, reports: &[&Path], bound: Duration) -> Outcome {
        let shell = self.target.pid();
        let stdin_pipe = self.stdin_pipe;
        let waited = settle::wait_on(
            bound,
            &mut self.target,
            Vec::new,
            Gaps::QuickFirst,
            |target| {
                if target.try_status().is_some() {
                    return Look::Done(false);
                }
                let finished = reports.iter().all(|r| r.exists())
                    && settle::settled(target, &[]).is_some_and(|s| {
                        s.pids == [shell] && waits_for_input(shell, stdin_pipe, &s.threads)
                    });
                if finished {
                    Look::Done(true)
                } else {
                    Look::Waiting
                }
            },
        );
        match waited {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.exited(line, None)),
            Err(evidence) if evidence.stuck() => {
                let missing: Vec<String> = reports
                    .iter()
                    .filter(|r| !r.exists())
                    .map(|r| r.display().to_string())
                    .collect();
                let awaited =
                    format!("the line to finish, then the shell to read the next one: `{line}`");
                Err(Finding::hang(&awaited, &evidence, |evidence| {
                    let why = why_stuck(&evidence.threads);
                    if missing.is_empty() {
                        why
                    } else {
                        format!("{why}\nreports never written: {}", missing.join(", "))
                    }
                })
                .with_output(self.target.output()))
            }
            Err(evidence) => Err(pipe_hang(
                &format!("the line to finish: `{line}`"),
                &evidence,
                &self.target,
            )),
        }
    }

    /// Runs a gated line of `stages` probe stages (`emit`, then `copy`s,
    /// then `verify`, over a small payload): looks at it at the gate, opens
    /// the gate, and waits until every stage has started (or the line
    /// finished, or is stuck). The line may still be running afterwards.
    pub fn run_gated(&mut self, stages: usize, bound: Duration) -> Result<Gated, Finding> {
        let gate = self.dir.path().join(format!("gate-{}", self.lines));
        nix::unistd::mkfifo(&gate, Mode::S_IRUSR | Mode::S_IWUSR)
            .map_err(std::io::Error::from)
            .and_then(|()| crate::target::sandbox::hand_over(&gate))
            .map_err(|e| TargetError::setup("the gate FIFO", e))?;
        let paths: Vec<PathBuf> = (0..stages)
            .map(|i| self.report_path(&format!("stage{i}")))
            .collect();
        let (seed, len) = (13, 1000);
        let line = paths
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let report = path.display();
                if i == 0 {
                    format!(
                        "ipcspec stage emit --seed {seed} --len {len} --gate {} --report {report}",
                        gate.display()
                    )
                } else if i + 1 < stages {
                    format!("ipcspec stage copy --report {report}")
                } else {
                    format!("ipcspec stage verify --seed {seed} --len {len} --report {report}")
                }
            })
            .collect::<Vec<_>>()
            .join(" | ");
        self.send(&line)?;
        let awaited = format!("the stages of `{line}` to start and wait for input");
        let (alive, threads) = self.settle(&line, &awaited, bound)?;
        let reports =
            || -> Vec<Option<StageReport>> { paths.iter().map(|p| read_report(p)).collect() };
        let at_gate = reports();
        // Stages at the gate are alive: each waits for the gate or its input.
        let stage_pids: Vec<Option<Pid>> = at_gate
            .iter()
            .map(|r| {
                let inside = Pid::from_raw(r.as_ref()?.probe.pid as i32);
                self.target.pid_here(inside)
            })
            .collect();
        let ends = |pid: Pid| -> Vec<PipeEnd> {
            observe::pipe_ends(pid)
                .into_iter()
                .filter(|e| !self.ours.contains(&e.inode))
                .collect()
        };
        let keepers = alive
            .iter()
            .filter(|&&pid| !stage_pids.contains(&Some(pid)))
            .map(|&pid| {
                let comm = threads
                    .iter()
                    .find(|t| t.pid == pid)
                    .map_or(String::new(), |t| t.comm.clone());
                (pid, comm, ends(pid))
            })
            .collect();
        let stage_ends = stage_pids
            .iter()
            .flatten()
            .flat_map(|&pid| ends(pid))
            .collect();
        // Opening the gate for writing and closing it lets the first stage
        // go. It fails (ENXIO) while the first stage is not waiting there:
        // then the check tries again as the line goes on.
        let open_gate = || {
            OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&gate)
                .is_ok()
        };
        let mut opened = open_gate();
        // A shell that runs stages one after another starts the next ones only now.
        let started = settle::wait_on(
            bound,
            &mut self.target,
            Vec::new,
            Gaps::QuickFirst,
            |target| {
                opened = opened || open_gate();
                if paths.iter().all(|p| p.exists()) {
                    return Look::Done(true);
                }
                if target.try_status().is_some() {
                    return Look::Done(false);
                }
                Look::Waiting
            },
        );
        // Stuck or out of time, the line is judged on the stages that did start.
        if matches!(started, Ok(false)) {
            return Err(self.exited(&line, None));
        }
        let reports = reports();
        Ok(Gated {
            line,
            paths,
            reports,
            keepers,
            stage_pids,
            stage_ends,
            threads,
        })
    }

    /// Waits until a gated line has finished, as [`Session::run_line`] does.
    pub fn finish(&mut self, gated: &Gated, bound: Duration) -> Outcome {
        let paths: Vec<&Path> = gated.paths.iter().map(PathBuf::as_path).collect();
        self.wait_finished(&gated.line, &paths, bound)
    }

    /// Waits until the shell and what it runs are settled; `awaited` names it for a hang.
    fn settle(
        &mut self,
        line: &str,
        awaited: &str,
        bound: Duration,
    ) -> Result<(Vec<Pid>, Vec<ThreadState>), Finding> {
        let waited = settle::wait_on(
            bound,
            &mut self.target,
            Vec::new,
            Gaps::QuickFirst,
            |target| match target.try_status() {
                Some(_) => Look::Done(()),
                None => Look::Waiting,
            },
        );
        match waited {
            Ok(()) => Err(self.exited(line, None)),
            Err(evidence) if evidence.stuck() => Ok((evidence.pids, evidence.threads)),
            Err(evidence) => Err(pipe_hang(awaited, &evidence, &self.target)),
        }
    }

    /// The shell stopped before it finished `line`; `cause` is what the check saw first.
    pub fn exited(&mut self, line: &str, cause: Option<&str>) -> Finding {
        let status = self.target.wait_exit(Duration::from_millis(200));
        let status = status.map_or("it is still running".into(), |s| {
            format!("it exited: {}", describe_status(s))
        });
        let observed = match cause {
            Some(cause) => format!("{cause}; {status}"),
            None => status,
        };
        Finding::violated(
            format!("the shell to run `{line}` and read the next line"),
            observed,
        )
        .with_output(self.target.final_output(Duration::from_millis(200)))
    }

    /// The report at `path`, which [`Session::run_line`] saw exist.
    pub fn report(&self, path: &Path) -> Result<StageReport, Finding> {
        read_report(path).ok_or_else(|| {
            Finding::violated(
                "a readable report from each stage",
                format!("{} is not a stage report", path.display()),
            )
        })
    }
}

/// Whether a thread of `shell` waits on its stdin (pipe `stdin_pipe`),
/// whatever the call and whichever descriptor of it refers to that pipe.
fn waits_for_input(shell: Pid, stdin_pipe: u64, threads: &[ThreadState]) -> bool {
    let stdin_fds: Vec<i32> = observe::pipe_ends(shell)
        .into_iter()
        .filter(|e| e.inode == stdin_pipe && !e.write)
        .map(|e| e.fd)
        .collect();
    threads.iter().filter(|t| t.pid == shell).any(|t| {
        observe::waits_on(t).is_some_and(|fds| fds.iter().any(|fd| stdin_fds.contains(fd)))
    })
}
