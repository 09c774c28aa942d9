//! The shell's pipelines at work: bytes through (`shell.pipeline.bytes-exact`),
//! EOF through (`shell.pipeline.eof-reaches-last`), stages at once
//! (`shell.pipeline.concurrent`), how each stage starts
//! (`shell.child.clean-start`), SIGPIPE back to the producer
//! (`shell.sigpipe.ends-producer`), and the shell reaping and reading on
//! (`shell.line.reaped-then-next`).
//!
//! Randomized properties run their lines one after another in one shell
//! while it keeps passing them, and start a new one only after a failure.
//! Their payloads stay below a pipe's capacity: pushing more than that
//! through a line is `shell.pipeline.concurrent`'s claim alone.

use std::cell::RefCell;
use std::fmt::Debug;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use proptest::strategy::Strategy;

use super::session::Session;
use super::Shell;
use crate::reference::stage::{Ending, StageReport};
use crate::spec::{ensure, Ctx, Finding, Outcome};
use crate::target::observe;
use crate::target::TargetError;
use crate::workload::relay::length;

/// The largest payload of a line whose stages need not run at once: less
/// than a pipe's default capacity (64 KiB), so each stage could write all
/// of it before the next one starts.
const FITS_A_PIPE: usize = 60_000;

/// Runs `test` on random inputs from `strategy`, each with the shell left
/// by the input before while it keeps passing, else a fresh one.
fn forall_lines<S>(
    shell: &Shell,
    ctx: &Ctx,
    strategy: S,
    test: impl Fn(&mut Session, &S::Value) -> Outcome,
) -> Outcome
where
    S: Strategy,
    S::Value: Debug,
{
    let kept: RefCell<Option<Session>> = RefCell::new(None);
    ctx.forall(strategy, |input| {
        let mut session = match kept.take() {
            Some(session) => session,
            None => Session::start(shell)?,
        };
        let outcome = test(&mut session, input);
        if outcome.is_ok() {
            kept.replace(Some(session));
        }
        outcome
    })
}

/// Runs `emit | cat × cats | verify` over payload `seed`/`len` and returns
/// the report of `verify`, which saw EOF. What a shell does does not depend
/// on the bytes, so randomized lines take the length as the seed: fewer
/// inputs to shrink.
fn cat_pipeline(
    session: &mut Session,
    seed: u64,
    len: usize,
    cats: usize,
    ctx: &Ctx,
) -> Result<(String, StageReport), Finding> {
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
    ensure(
        verified.received.is_some(),
        || format!("EOF at the last stage of `{line}`"),
        || "it ended without reaching EOF on its stdin".into(),
    )?;
    Ok((line, verified))
}

/// `shell.pipeline.bytes-exact`
pub fn bytes_exact(shell: &Shell, ctx: &Ctx) -> Outcome {
    let lines = (length(FITS_A_PIPE), 0usize..=3);
    forall_lines(shell, ctx, lines, |session, &(len, cats)| {
        let (_, verified) = cat_pipeline(session, len as u64, len, cats, ctx)?;
        match verified.mismatch {
            Some((expected, observed)) => {
                Err(Finding::violated(expected, observed).with_output(session.target.output()))
            }
            None => Ok(()),
        }
    })
}

/// How many stages the lines of `shell.pipeline.eof-reaches-last` have.
pub const EOF_LINE_STAGES: RangeInclusive<usize> = 1..=5;

/// `shell.pipeline.eof-reaches-last`
pub fn eof_reaches_last(shell: &Shell, ctx: &Ctx) -> Outcome {
    let lines = (length(FITS_A_PIPE), EOF_LINE_STAGES);
    forall_lines(shell, ctx, lines, |session, &(len, stages)| {
        if stages > 1 {
            return cat_pipeline(session, len as u64, len, stages - 2, ctx).map(drop);
        }
        // A line of one stage: no pipe at all, and it must finish all the same.
        let report = session.report_path("emit");
        let line = format!(
            "ipcspec stage emit --seed 0 --len 0 --report {}",
            report.display()
        );
        session.run_line(&line, &[&report], ctx.timeout)
    })
}

/// `shell.pipeline.concurrent`
pub fn concurrent(shell: &Shell, ctx: &Ctx) -> Outcome {
    // Sixteen times a default pipe's capacity: stages run one after another stall here.
    let mut session = Session::start(shell)?;
    cat_pipeline(&mut session, 5, 1 << 20, 0, ctx)?;
    let dir = session.dir.path().join("meet");
    std::fs::create_dir(&dir)
        .and_then(|()| crate::target::sandbox::hand_over(&dir))
        .map_err(|e| TargetError::setup("the meeting directory", e))?;
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
pub fn clean_start(shell: &Shell, ctx: &Ctx) -> Outcome {
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
pub fn sigpipe_ends_producer(shell: &Shell, ctx: &Ctx) -> Outcome {
    let mut session = Session::start(shell)?;
    let producer = session.report_path("emit");
    let consumer = session.report_path("head");
    let line = format!(
        "ipcspec stage emit --seed 7 --len 65536 --endless --report {} | ipcspec stage head --bytes 1000 --report {}",
        producer.display(),
        consumer.display()
    );
    session.run_line(&line, &[&producer, &consumer], ctx.timeout)?;
    let report = session.report(&producer)?;
    let pid = report.probe.pid;
    let observed = match report.ended {
        Some(Ending::KilledBySigpipe) => return Ok(()),
        Some(Ending::Epipe) => {
            let how = if report.probe.sigpipe_ignored { "ignored" } else { "blocked" };
            format!("the producer (pid {pid}) started with SIGPIPE {how}: its write failed with EPIPE and it exited with status 1, not killed by SIGPIPE")
        }
        Some(Ending::Done) | None => format!(
            "the producer (pid {pid}) ended while none of its writes had failed: something else than SIGPIPE ended it"
        ),
    };
    Err(Finding::violated(
        format!("the endless producer of `{line}` killed by SIGPIPE once the last stage exited"),
        observed,
    )
    .with_output(session.target.output()))
}

/// `shell.line.reaped-then-next`
pub fn reaped_then_next(shell: &Shell, ctx: &Ctx) -> Outcome {
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
