//! Leaks: zombie children, and descriptors, threads and live processes
//! that do not return to their baseline once clients are gone. (Zombies are
//! the first rule's alone: the baseline counts live processes only.)
//!
//! Counts are compared after the clients left, waiting (at most the time
//! bound, or until the server is still) for the server to catch up — a
//! forking server reaps a moment after its child exits, Python's
//! socketserver only on its next poll — so only a leak that persists is reported.
//!
//! For `fork`, the clients that come at once to `no-zombies` are taken up
//! together and their children made to exit at the same instant
//! ([`super::signals`]): left to chance, a handler that reaps one child per
//! SIGCHLD would be caught in some runs and not in others.
//!
//! # References
//! - [wait(2)](https://man7.org/linux/man-pages/man2/wait.2.html): zombies and reaping

use std::time::Duration;

use nix::unistd::Pid;

use super::echo::Reading;
use super::{signals, with_instance, Server};
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::observe;
use crate::target::server::Instance;
use crate::workload::server::{Payload, Seeds};

/// `count` connections, one after another.
fn in_sequence(
    server: &Server,
    instance: &mut Instance,
    ctx: &Ctx,
    seeds: &mut Seeds,
    count: usize,
) -> Outcome {
    for i in 0..count {
        server
            .protocol
            .once(instance, ctx, "", &seeds.text(100 + i), 100 + i)?;
    }
    Ok(())
}

/// Some connections, one after another and then several at once, all closed after.
fn traffic(
    server: &Server,
    instance: &mut Instance,
    ctx: &Ctx,
    seeds: &mut Seeds,
    sequential: usize,
) -> Outcome {
    in_sequence(server, instance, ctx, seeds, sequential)?;
    let batch: Vec<Payload> = (0..4).map(|_| seeds.text(10_000)).collect();
    server
        .protocol
        .at_once(instance, ctx, &batch, Reading::Along)
}

/// Measures until `settled` holds — or the server is still and it still
/// does not, or the bound passes; `Err` carries the last measure.
fn measure_until<T>(
    instance: &Instance,
    bound: Duration,
    measure: impl Fn() -> T,
    settled: impl Fn(&T) -> bool,
) -> Result<T, T> {
    instance
        .wait_for(bound, || Some(measure()).filter(&settled))
        .ok_or_else(measure)
}

fn zombies(instance: &Instance) -> Vec<Pid> {
    observe::descendants(instance.target.pid())
        .into_iter()
        .filter(|&pid| observe::stat(pid).is_some_and(|s| s.state == 'Z'))
        .collect()
}

/// `server.leaks.no-zombies`.
pub fn no_zombies(server: &Server, ctx: &Ctx) -> Outcome {
    let mut seeds = Seeds::new(ctx.seed);
    with_instance(server, ctx, |instance| {
        if server.variant.kind() == "fork" {
            // Children that exit at the same instant, for sure: a handler
            // that reaps one child per SIGCHLD is then caught every time.
            in_sequence(server, instance, ctx, &mut seeds, 8)?;
            signals::children_exit_together(server, instance, ctx)?;
        } else {
            traffic(server, instance, ctx, &mut seeds, 8)?;
        }
        none_left(instance, ctx, "once every client has gone")
    })
}

/// No zombie among the server's descendants, `when` (in findings) the
/// clients have gone: awaited until no child is left or the server is
/// still, since a child may still be exiting until then.
pub(super) fn none_left(instance: &Instance, ctx: &Ctx, when: &str) -> Outcome {
    let done = || {
        let none = zombies(instance).is_empty()
            && (observe::descendants(instance.target.pid()).is_empty() || instance.idle());
        none.then_some(())
    };
    let _ = instance.wait_for(ctx.timeout, done);
    let left = zombies(instance);
    if left.is_empty() {
        return Ok(());
    }
    Err(Finding::violated(
        format!("no zombie children {when}"),
        format!(
            "{} zombies remain (pids {:?}): the server has not waited for these children, and does not ignore SIGCHLD",
            left.len(),
            left.iter().map(|p| p.as_raw()).collect::<Vec<_>>()
        ),
    ))
}

/// What the server holds: open descriptors, threads, live processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Holdings {
    fds: usize,
    threads: usize,
    processes: usize,
}

impl Holdings {
    fn of(instance: &Instance) -> Holdings {
        let alive = instance.processes();
        Holdings {
            fds: alive.iter().filter_map(|&p| observe::fd_count(p)).sum(),
            threads: observe::threads(&alive).len(),
            processes: alive.len(),
        }
    }

    fn within(&self, baseline: &Holdings) -> bool {
        self.fds <= baseline.fds
            && self.threads <= baseline.threads
            && self.processes <= baseline.processes
    }
}

/// `server.leaks.back-to-baseline`.
pub fn back_to_baseline(server: &Server, ctx: &Ctx) -> Outcome {
    let mut seeds = Seeds::new(ctx.seed);
    with_instance(server, ctx, |instance| {
        // A first connection lets lazily started workers appear before the baseline.
        server.protocol.once(instance, ctx, "", &seeds.text(7), 7)?;
        instance.started_up(ctx.timeout.min(Duration::from_secs(1)));
        let baseline = Holdings::of(instance);
        traffic(server, instance, ctx, &mut seeds, 20)?;
        measure_until(instance, ctx.timeout, || Holdings::of(instance), |now| now.within(&baseline))
            .map(drop)
            .map_err(|now| {
                Finding::violated(
                    format!(
                        "back to at most {} open descriptors, {} threads, {} live processes once the clients left",
                        baseline.fds, baseline.threads, baseline.processes
                    ),
                    format!(
                        "{} descriptors, {} threads, {} live processes after 24 connections came and went",
                        now.fds, now.threads, now.processes
                    ),
                )
            })
    })
}
