//! Resilience and idleness: clients that misbehave or come in numbers do not
//! take the server down, and a server with nothing to do sleeps.
//!
//! Idle CPU is a measurement — CPU ticks of every target process across a
//! fixed window — not a verdict by waiting: a busy-polling server burns most
//! of a core in any window, a blocked one burns none.
//!
//! # References
//! - [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html): `SO_LINGER` with a zero timeout resets the connection
//! - [signal(7)](https://man7.org/linux/man-pages/man7/signal.7.html): `SIGPIPE` on a write to a connection the peer has reset

use std::time::Duration;

use super::echo::{echo_concurrently, echo_once, ping, Reading};
use super::harness::Instance;
use super::{with_instance, Server};
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::observe;
use crate::workload::server::Payload;

/// `server.resilience.reset-client`.
pub fn reset_client(server: &Server, ctx: &Ctx) -> Outcome {
    with_instance(server, ctx, |instance| {
        for _ in 0..3 {
            let client = instance.connect(ctx)?;
            client.flood(8 << 20);
            client.reset();
        }
        // The server has handled the resets once it sleeps again (or the bound ran out).
        let _ = instance.quiescent(ctx.timeout);
        instance.alive()?;
        echo_once(
            instance,
            ctx,
            "the echo to a client after three others reset their connections",
            b"still there?",
            12,
        )
    })
}

/// `server.resilience.many-in-sequence`.
pub fn many_in_sequence(server: &Server, ctx: &Ctx) -> Outcome {
    with_instance(server, ctx, |instance| {
        for i in 0..200 {
            let bytes = Payload {
                len: 32,
                seed: ctx.seed + i,
            }
            .bytes();
            echo_once(
                instance,
                ctx,
                &format!("the echo to connection {} of 200 in a row", i + 1),
                &bytes,
                32,
            )?;
        }
        Ok(())
    })
}

/// `server.resilience.many-at-once`.
pub fn many_at_once(server: &Server, ctx: &Ctx) -> Outcome {
    with_instance(server, ctx, |instance| {
        let payloads: Vec<Payload> = (0..32)
            .map(|i| Payload {
                len: 2_000,
                seed: ctx.seed + i,
            })
            .collect();
        echo_concurrently(instance, ctx, &payloads, Reading::Along).map_err(|mut finding| {
            if let Some(failure) = finding.failure_mut() {
                failure.observed.push_str(
                    " (hint: with a listen(2) backlog under 32, the kernel drops or resets some of 32 connections made at once)",
                );
            }
            finding
        })
    })
}

/// The window over which idle CPU is measured.
const WINDOW: Duration = Duration::from_millis(500);
/// The most CPU an idle server may use across the window, as a fraction of one core.
const IDLE_SHARE: f64 = 0.1;

/// CPU ticks the server's processes used across [`WINDOW`].
fn ticks_over_window(instance: &Instance) -> u64 {
    let total = |pids: &[nix::unistd::Pid]| -> u64 {
        pids.iter()
            .filter_map(|&p| observe::stat(p))
            .map(|s| s.cpu_ticks)
            .sum()
    };
    let pids = instance.processes();
    let before = total(&pids);
    // Pacing only: this is the measurement window, not a wait for an event.
    std::thread::sleep(WINDOW);
    total(&pids).saturating_sub(before)
}

fn idle_within_budget(instance: &Instance, when: &str) -> Outcome {
    let ticks_per_second = procfs::ticks_per_second() as f64;
    let budget = (ticks_per_second * WINDOW.as_secs_f64() * IDLE_SHARE).ceil() as u64;
    let used = ticks_over_window(instance);
    if used <= budget {
        return Ok(());
    }
    let share = used as f64 / (ticks_per_second * WINDOW.as_secs_f64()) * 100.0;
    let mut finding = Finding::violated(
        format!(
            "{when}: at most {:.0}% of a core (asleep in blocking calls)",
            IDLE_SHARE * 100.0
        ),
        format!(
            "{share:.0}% of a core over {} ms: busy polling",
            WINDOW.as_millis()
        ),
    );
    if let Some(failure) = finding.failure_mut() {
        failure.threads = Some(observe::describe(&observe::threads(&instance.processes())));
    }
    Err(finding)
}

/// `server.idle.blocked`.
pub fn idle_blocked(server: &Server, ctx: &Ctx) -> Outcome {
    with_instance(server, ctx, |instance| {
        // Let start-up work finish before measuring (quiescence, or at most a second).
        let _ = instance.quiescent(ctx.timeout.min(Duration::from_secs(1)));
        idle_within_budget(instance, "with no client")?;
        let client = instance.connect(ctx)?;
        ping(instance, &client, ctx, "the idle client", b"then silence")?;
        idle_within_budget(instance, "with one idle client connected")
    })
}
