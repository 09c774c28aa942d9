//! Signals: a fork server whose children exit while it waits for the next
//! client. Whether it ignores SIGCHLD or reaps from a handler, it keeps
//! accepting (a handler interrupts `accept`: `SA_RESTART`, or a retry on
//! `EINTR`) and leaves no zombie, even when many children exit at once (one
//! SIGCHLD may stand for them all, so a handler must reap in a loop).
//!
//! "At once" is made exact rather than hoped for: the check stops the
//! server process (SIGSTOP) while its children exit, and lets it go on
//! (SIGCONT) only once they all have, so every exit is pending together, as
//! when a loaded machine runs the children before their parent. The server
//! cannot tell the difference from being descheduled for that long.
//!
//! # References
//! - [signal(7)](https://man7.org/linux/man-pages/man7/signal.7.html): standard signals do not queue; interruption of system calls and `SA_RESTART`
//! - [sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html): `SA_RESTART`
//! - [waitpid(2)](https://man7.org/linux/man-pages/man2/waitpid.2.html): `WNOHANG`

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::harness::Verdicts;
use super::{leaks, with_instance, Server};
use crate::spec::{Ctx, Outcome};
use crate::target::observe;
use crate::target::server::Instance;
use crate::target::settle::{self, Bound, Gaps, Look, Shown, LOOKS};
use crate::workload::server::Seeds;

/// Clients served at the same time, whose children then exit together.
const CHILDREN_AT_ONCE: usize = 8;

/// A process stopped with SIGSTOP, continued (SIGCONT) when this is dropped.
struct Stopped(Pid);

impl Stopped {
    /// Stops `pid` and waits, at most `bound`, until `/proc` shows it stopped.
    fn stop(pid: Pid, bound: Duration) -> Stopped {
        // ESRCH: the server is gone, which the property's conclusion reports.
        let _ = kill(pid, Signal::SIGSTOP);
        let stopped = Stopped(pid);
        let _ = settle::wait(
            bound,
            &mut Bound(Shown::Nothing, Gaps::Steady(Duration::from_millis(1))),
            || match observe::stat(pid) {
                Some(s) if s.state != 'T' && s.state != 'Z' => Look::Waiting,
                _ => Look::Done(()),
            },
        );
        stopped
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

/// Waits, at most `bound`, until each of `children` is a zombie or gone —
/// or the live ones are asleep in calls without timeout for [`LOOKS`] looks
/// in a row (a child that does not exit once its client left is another
/// rule's finding, not a reason to wait out the bound).
fn exited(children: &[Pid], bound: Duration) {
    let mut quiet = 0;
    let _ = settle::wait(bound, &mut Bound(Shown::Nothing, Gaps::QuickFirst), || {
        let live: Vec<Pid> = children
            .iter()
            .copied()
            .filter(|&c| observe::stat(c).is_some_and(|s| s.state != 'Z'))
            .collect();
        quiet = if observe::quiescent(&live).is_ok() {
            quiet + 1
        } else {
            0
        };
        if live.is_empty() || quiet >= LOOKS {
            Look::Done(())
        } else {
            Look::Waiting
        }
    });
}

/// Connects [`CHILDREN_AT_ONCE`] clients, each taken up by a child of
/// the server, then has all of them leave while the server process is
/// stopped, and lets it go on once every child exited: their SIGCHLDs are
/// pending at the same instant. (Used by `server.leaks.no-zombies` for
/// fork too: "at once" by chance would make its verdict a coin toss.)
pub(super) fn children_exit_together(
    server: &Server,
    instance: &mut Instance,
    ctx: &Ctx,
) -> Outcome {
    let mut clients = Vec::with_capacity(CHILDREN_AT_ONCE);
    for i in 1..=CHILDREN_AT_ONCE {
        let client = instance.connect(ctx)?;
        let what = format!("client {i} of {CHILDREN_AT_ONCE} connected at once");
        let tag = format!("child {i}");
        server
            .protocol
            .engage(instance, &client, ctx, &what, tag.as_bytes())?;
        clients.push(client);
    }
    // The process that forks: the holder of the listener whose parent does not hold it.
    let parent = instance
        .listener()
        .and_then(|listening| instance.main_process(listening))
        .unwrap_or_else(|| instance.target.pid());
    let children: Vec<Pid> = observe::children(parent)
        .into_iter()
        .filter(|c| c.state != 'Z')
        .map(|c| c.pid)
        .collect();
    let _stopped = Stopped::stop(parent, ctx.timeout);
    drop(clients);
    exited(&children, ctx.timeout);
    Ok(())
}

/// `server.signals.sigchld-reaps`.
pub fn sigchld_reaps(server: &Server, ctx: &Ctx) -> Outcome {
    let mut seeds = Seeds::new(ctx.seed);
    with_instance(server, ctx, |instance| {
        children_exit_together(server, instance, ctx)?;
        let after = format!("a client right after {CHILDREN_AT_ONCE} children exited at once");
        server
            .protocol
            .once(instance, ctx, &after, &seeds.text(100), 100)?;
        leaks::none_left(
            instance,
            ctx,
            &format!("once {CHILDREN_AT_ONCE} children exited at the same instant and one more client was served"),
        )
    })
}
