//! When a target can no longer move: quiescence made robust enough to
//! decide a hang or "not served" on.
//!
//! [`observe::quiescent`] is one instant's proof. A verdict needs more,
//! because `/proc` is read one file at a time while the target runs:
//! - a process forked between listing the target and sampling it is not
//!   sampled, and one that exited is silently missing: the list is taken
//!   again after the samples and must be the same;
//! - a parent can show asleep in `wait4` for the instant after its child died
//!   and before it is woken to reap it: a thread waiting for a zombie it may
//!   reap is not settled ([`reaping`]);
//! - bytes handed to loopback may not yet have woken their reader, and the
//!   check's own helper threads (feeders, readers, in-process servers) can
//!   wake the target: [`Stillness`] wants the same settled state, with the
//!   helpers asleep too, on [`LOOKS`] looks in a row.
//!
//! Each look is itself the observation; nothing here sleeps to decide.

use nix::unistd::Pid;

use super::observe::{self, Syscall, ThreadState};
use super::Target;

/// Settled looks in a row, unchanged, that make a verdict.
pub const LOOKS: u32 = 3;

/// Whether a thread of `threads` waits in `wait4`/`waitid` for a zombie
/// child it may reap: then it is about to be woken.
pub fn reaping(threads: &[ThreadState]) -> bool {
    threads.iter().any(|t| {
        let Syscall::In { args, .. } = t.syscall else {
            return false;
        };
        let waits_for = |zombie: Pid| match t.syscall.name() {
            // wait4(pid, ...): -1 any child, > 0 that child, otherwise a process group.
            Some("wait4") => {
                let pid = args[0] as i32;
                pid <= 0 || pid == zombie.as_raw()
            }
            // waitid(idtype, id, ...): P_PID (1) names one child; P_ALL and groups may match.
            Some("waitid") => args[0] != 1 || args[1] as i32 == zombie.as_raw(),
            _ => false,
        };
        matches!(t.syscall.name(), Some("wait4" | "waitid"))
            && observe::children(t.pid)
                .iter()
                .any(|c| c.state == 'Z' && waits_for(c.pid))
    })
}

/// One settled look at `target`, with `ours` (threads of this process that
/// feed or read it) asleep indefinitely before and after: every target
/// process is quiescent, none about to reap, not one context switch since
/// the quiescent sample, and the same processes listed before and after.
/// Returns the target's processes and threads.
pub fn settled(target: &Target, ours: &[Pid]) -> Option<(Vec<Pid>, Vec<ThreadState>)> {
    let me = nix::unistd::getpid();
    // A helper that has exited wakes no one; one that exits between the two
    // samples changes their length, which `same_sleep` refuses.
    let ours_now = || {
        ours.iter()
            .filter_map(|&tid| observe::thread(me, tid))
            .collect::<Vec<_>>()
    };
    let ours_before = ours_now();
    let pids = target.processes();
    let threads = observe::quiescent(&pids).ok()?;
    let complete = pids.iter().all(|&pid| threads.iter().any(|t| t.pid == pid));
    if !complete || reaping(&threads) {
        return None;
    }
    let again = observe::threads(&pids);
    let ours_after = ours_now();
    let still = same_sleep(&threads, &again)
        && same_sleep(&ours_before, &ours_after)
        && target.processes() == pids;
    still.then_some((pids, threads))
}

/// Whether nothing but the calling thread can act, in one look: every
/// other thread of this process, and every thread of its live descendants,
/// asleep indefinitely on two samples with no context switch in between,
/// none about to reap a zombie. Returns those threads.
fn others_asleep() -> Option<Vec<ThreadState>> {
    let me = nix::unistd::getpid();
    let caller = nix::unistd::gettid();
    let sample = || {
        let mut pids = vec![me];
        pids.extend(
            observe::descendants(me)
                .into_iter()
                .filter(|&pid| observe::is_alive(pid)),
        );
        let mut threads = observe::threads(&pids);
        threads.retain(|t| t.tid != caller);
        threads
    };
    let first = sample();
    let second = sample();
    (same_sleep(&first, &second) && !reaping(&second)).then_some(second)
}

/// Successive looks at everything but the calling thread, until nothing
/// but it can act any more: every other thread of this process and of its
/// live descendants asleep indefinitely, unchanged (context switches
/// included) for [`LOOKS`] looks in a row.
///
/// A check that waits for an operation it started (a call on a plugged-in
/// pipe, a forked writer) may stop waiting then: only the caller could still
/// wake the operation, and it is busy waiting for it, so a bound would only
/// wait longer for the same outcome. Several looks, not one, because bytes
/// handed to loopback may wake their reader a moment later. A thread that
/// runs, or sleeps with a timeout, keeps the looks from agreeing, and the
/// bound decides. A process outside this tree cannot hold the descriptors
/// the check made: they are close-on-exec, and inheritance only goes down.
#[derive(Default)]
pub struct Standstill(Repeats);

impl Standstill {
    /// Looks once; `true` once nothing else has moved for [`LOOKS`] looks in a row.
    pub fn look(&mut self) -> bool {
        self.0.see(others_asleep().as_deref()) >= LOOKS
    }
}

/// How many looks in a row found the same sleeping threads, context
/// switches included.
#[derive(Default)]
struct Repeats {
    last: Option<Vec<(Pid, u64)>>,
    seen: u32,
}

impl Repeats {
    /// Counts one look: `None` when it found something awake. Returns the
    /// looks in a row that found these same threads asleep.
    fn see(&mut self, asleep: Option<&[ThreadState]>) -> u32 {
        let Some(threads) = asleep else {
            *self = Repeats::default();
            return 0;
        };
        let key: Vec<(Pid, u64)> = threads.iter().map(|t| (t.tid, t.switches)).collect();
        if self.last.as_ref() == Some(&key) {
            self.seen += 1;
        } else {
            self.last = Some(key);
            self.seen = 1;
        }
        self.seen
    }
}

/// The same threads, each asleep indefinitely in both samples, with no
/// context switch in between.
fn same_sleep(before: &[ThreadState], after: &[ThreadState]) -> bool {
    before.len() == after.len()
        && before.iter().zip(after).all(|(a, b)| {
            a.tid == b.tid
                && a.switches == b.switches
                && a.asleep_indefinitely()
                && b.asleep_indefinitely()
        })
}

/// Successive looks at a target until it is [`settled`] and unchanged,
/// context switches included, for [`LOOKS`] looks in a row.
#[derive(Default)]
pub struct Stillness(Repeats);

impl Stillness {
    /// Looks once. Returns the settled processes and threads, and whether
    /// they have been the same for [`LOOKS`] looks in a row.
    pub fn look(
        &mut self,
        target: &Target,
        ours: &[Pid],
    ) -> Option<(Vec<Pid>, Vec<ThreadState>, bool)> {
        let settled = settled(target, ours);
        let seen = self
            .0
            .see(settled.as_ref().map(|(_, threads)| &threads[..]));
        settled.map(|(pids, threads)| (pids, threads, seen >= LOOKS))
    }
}

/// The gaps between the looks of an observation loop: the first
/// [`Pacing::QUICK`] looks come [`Pacing::FIRST`] apart, so a target that
/// settles or exits soon is seen at once; then, while nothing moves, the gap
/// doubles up to [`Pacing::MOST`], so a target that keeps running until the
/// time bound does not cost the checker a core (each look reads `/proc` for
/// every process). Once a look finds the target settled, the looks that
/// confirm it come quickly again.
#[derive(Debug)]
pub struct Pacing {
    gap: std::time::Duration,
    looks: u32,
}

impl Default for Pacing {
    fn default() -> Pacing {
        Pacing {
            gap: Pacing::FIRST,
            looks: 0,
        }
    }
}

impl Pacing {
    /// The first gap.
    pub const FIRST: std::time::Duration = std::time::Duration::from_millis(1);
    /// The looks made at the first gap, some 50 ms, before it widens.
    pub const QUICK: u32 = 32;
    /// The widest gap.
    pub const MOST: std::time::Duration = std::time::Duration::from_millis(16);

    /// Sleeps for the current gap, then widens it; the first gap again
    /// when `stillness` last saw the target settled. Pacing only: the looks
    /// decide, this spaces them.
    pub fn pause(&mut self, stillness: &Stillness) {
        if stillness.0.seen > 0 {
            self.reset();
        }
        std::thread::sleep(self.gap);
        self.looks += 1;
        if self.looks >= Pacing::QUICK {
            self.gap = (self.gap * 2).min(Pacing::MOST);
        }
    }

    /// Something moved: the next looks come quickly again.
    pub fn reset(&mut self) {
        *self = Pacing::default();
    }
}
