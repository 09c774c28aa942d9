//! The shell's shape, proved before its behaviour, on gated lines
//! ([`Session::run_gated`]) whose every stage is the probe and reports what
//! it was started as: a process of its own, forked by the shell
//! (`shell.shape.forks-each-stage`); its stdout the very pipe the next
//! stage reads (`shell.shape.joined-by-pipes`); and, while all stages wait
//! at the gate, no end of those pipes left in the shell
//! (`shell.shape.keeps-no-end`). A shell that hands the line to `sh -c`,
//! joins stages by sockets or files, or keeps its copies of the pipe ends
//! fails here, whatever its pipelines produce.
//!
//! # References
//! - [fork(2)](https://man7.org/linux/man-pages/man2/fork.2.html), [pipe(2)](https://man7.org/linux/man-pages/man2/pipe.2.html),
//!   [dup2(2)](https://man7.org/linux/man-pages/man2/dup2.2.html), [pipe(7)](https://man7.org/linux/man-pages/man7/pipe.7.html)

use nix::unistd::Pid;

use super::session::{Gated, Session};
use super::Shell;
use crate::spec::{ensure, Ctx, Finding, Outcome};

/// The stage counts of the gated lines each shape property runs: the
/// shortest pipeline, and the longest the profile tries.
const LINES: [usize; 2] = [2, 5];

/// Stage `i` of a gated line of `of` stages, in words.
fn stage(i: usize, of: usize) -> String {
    let name = match i {
        0 => "emit",
        _ if i + 1 == of => "verify",
        _ => "copy",
    };
    format!("stage {i} (`{name}`)")
}

/// Stage `i` of `of`, run by `pid`, in words.
fn stage_pid(i: usize, of: usize, pid: Pid) -> String {
    format!("{} in pid {pid}", stage(i, of))
}

/// Runs each of [`LINES`] gated in a fresh shell and hands it to `judge`,
/// which lists what is wrong; the first line with a problem fails.
fn each_gated(
    shell: &Shell,
    ctx: &Ctx,
    expected: impl Fn(&Gated) -> String,
    judge: impl Fn(&Session, &Gated) -> Vec<String>,
) -> Outcome {
    // One shell for every line while each finishes; a new one after a line that does not.
    let mut kept: Option<Session> = None;
    for stages in LINES {
        let mut session = match kept.take() {
            Some(session) => session,
            None => Session::start(shell)?,
        };
        let gated = session.run_gated(stages, ctx.timeout)?;
        let problems = judge(&session, &gated);
        ensure(
            problems.is_empty(),
            || expected(&gated),
            || problems.join("\n"),
        )
        .map_err(|finding: Finding| {
            finding
                .with_threads(&gated.threads)
                .with_output(session.target.output())
        })?;
        if session.finish(&gated, ctx.timeout).is_ok() {
            kept = Some(session);
        }
    }
    Ok(())
}

/// The stages that never started, as problems.
fn missing(gated: &Gated) -> Vec<String> {
    let of = gated.reports.len();
    (0..of)
        .filter(|&i| gated.reports[i].is_none())
        .map(|i| format!("{} never started", stage(i, of)))
        .collect()
}

/// `shell.shape.forks-each-stage`
pub fn forks_each_stage(shell: &Shell, ctx: &Ctx) -> Outcome {
    each_gated(
        shell,
        ctx,
        |gated| {
            format!(
                "each stage of `{}` in a process of its own, forked by the shell",
                gated.line
            )
        },
        |session, gated| {
            // The stages report pids as they see them, and so is the shell's here.
            let me = session.target.pid_inside();
            let exe = session.exe.as_deref();
            let of = gated.reports.len();
            let mut problems = missing(gated);
            let mut pids = Vec::new();
            for (i, report) in gated.reports.iter().enumerate() {
                let Some(probe) = report.as_ref().map(|r| &r.probe) else {
                    continue;
                };
                let pid = Pid::from_raw(probe.pid as i32);
                let parent = Pid::from_raw(probe.ppid as i32);
                if pid == me || pids.contains(&pid) {
                    problems.push(format!(
                        "{}, which is not a process of its own",
                        stage_pid(i, of, pid)
                    ));
                }
                pids.push(pid);
                let forked_by_shell =
                    parent == me || (exe.is_some() && probe.parent_exe.as_deref() == exe);
                if !forked_by_shell {
                    let by = probe
                        .parent_exe
                        .as_ref()
                        .map_or("a program the check could not see".into(), |p| {
                            p.display().to_string()
                        });
                    let shell_exe = exe.map_or(String::new(), |p| format!(", {}", p.display()));
                    problems.push(format!(
                        "{} was forked by pid {parent} ({by}), not by the shell (pid {me}{shell_exe}): the shell handed the line to another program",
                        stage_pid(i, of, pid)
                    ));
                }
            }
            problems
        },
    )
}

/// `shell.shape.joined-by-pipes`
pub fn joined_by_pipes(shell: &Shell, ctx: &Ctx) -> Outcome {
    each_gated(
        shell,
        ctx,
        |gated| {
            format!(
                "each stage of `{}` writing into the pipe the next one reads",
                gated.line
            )
        },
        |_, gated| {
            let of = gated.reports.len();
            let mut problems = missing(gated);
            for i in 1..of {
                let (Some(before), Some(after)) = (&gated.reports[i - 1], &gated.reports[i]) else {
                    continue;
                };
                let out = before.probe.stdout.as_deref().unwrap_or("nothing");
                let into = after.probe.stdin.as_deref().unwrap_or("nothing");
                if out != into {
                    problems.push(format!(
                        "{} writes to {out} but {} reads {into}",
                        stage(i - 1, of),
                        stage(i, of)
                    ));
                } else if !out.starts_with("pipe:[") {
                    problems.push(format!(
                        "{} and {} are joined by {out}, which is not a pipe",
                        stage(i - 1, of),
                        stage(i, of)
                    ));
                }
            }
            problems
        },
    )
}

/// `shell.shape.keeps-no-end`
pub fn keeps_no_end(shell: &Shell, ctx: &Ctx) -> Outcome {
    each_gated(
        shell,
        ctx,
        |gated| {
            format!("the shell holding no end of the pipes it handed to the stages of `{}`, once they started", gated.line)
        },
        |_, gated| {
            let of = gated.reports.len();
            let stage_of = |pid: Pid| {
                gated
                    .stage_pids
                    .iter()
                    .position(|&p| p == Some(pid))
                    .map_or(format!("pid {pid}"), |i| stage(i, of))
            };
            let mut problems = Vec::new();
            for (pid, comm, ends) in &gated.keepers {
                for end in ends {
                    let users: Vec<String> = gated
                        .stage_ends
                        .iter()
                        .filter(|e| e.inode == end.inode && e.write == end.write)
                        .map(|e| stage_of(e.pid))
                        .collect();
                    if users.is_empty() {
                        continue;
                    }
                    let which = if end.write { "write" } else { "read" };
                    problems.push(format!(
                        "pid {pid} ({comm}) holds fd {}, the {which} end of pipe:[{}] that {} uses",
                        end.fd,
                        end.inode,
                        users.join(" and ")
                    ));
                }
            }
            problems
        },
    )
}
