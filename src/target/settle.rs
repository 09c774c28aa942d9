//! Waiting on a target: the one primitive every check waits with, and the
//! observations that end a wait early because nothing can move any more.
//!
//! [`wait`] looks until what it awaits is done, or until what it watches
//! ([`Watched`]) is provably stuck, or until the bound; it returns the
//! value, or the [`Evidence`] of why there is none: how the wait ended and
//! the threads seen then. The looks are paced by [`Pacing`] (1 ms apart at
//! first, then widening to 16 ms, or 25 ms for costly looks: [`Gaps`]), so a
//! target that settles soon is seen at once and one that runs until the
//! bound does not cost the checker a core.
//! Each look is itself the observation; nothing here sleeps to decide.
//!
//! What counts as stuck depends on what can still move:
//! - a target and the check's helpers ([`Stillness`]): the target
//!   [`settled`] and unchanged, context switches included, on [`LOOKS`]
//!   looks in a row, with the helpers asleep too;
//! - everything but the waiting thread ([`Standstill`]): an operation only
//!   the check's own threads could end;
//! - a server that will not act again without new input
//!   ([`crate::target::server::Instance`], idling included);
//! - nothing but the bound ([`Bound`]): the kernel may still move it.
//!
//! A single look is not enough, because `/proc` is read one file at a time
//! while the target runs:
//! - a process forked between listing the target and sampling it is not
//!   sampled, and one that exited is silently missing: the list is taken
//!   again after the samples and must be the same;
//! - a parent can show asleep in `wait4` for the instant after its child died
//!   and before it is woken to reap it: a thread waiting for a zombie it may
//!   reap, or for a child already exiting, is not settled ([`reaping`]);
//! - bytes handed to loopback may not yet have woken their reader, and the
//!   check's own helper threads (feeders, readers, in-process servers) can
//!   wake the target: [`Stillness`] wants the same settled state, with the
//!   helpers asleep too, on [`LOOKS`] looks in a row.
//!
//! # References
//! - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html): `task/<tid>/stat`, `syscall`, `wchan`
//! - [wait4(2)](https://man7.org/linux/man-pages/man2/wait4.2.html), [waitid(2)](https://man7.org/linux/man-pages/man2/waitid.2.html): the reaping a parent is about to do

use std::cell::RefCell;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use super::observe::{self, Syscall, ThreadState};
use super::Target;

/// Settled looks in a row, unchanged, that make a verdict.
pub const LOOKS: u32 = 3;

/// What one look at a wait's progress found.
pub enum Look<T> {
    /// What was awaited: the wait ends with it.
    Done(T),
    /// Nothing yet.
    Waiting,
    /// Progress, not yet the end: the bound starts over and the looks come
    /// quickly again.
    Moved,
    /// Something moved that does not count as progress: look again at
    /// once, and quickly after that, within the same bound.
    Again,
}

/// How a wait ended without what it awaited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// What it watches can no longer move: what has not come, cannot.
    Stuck,
    /// The bound ran out first.
    OutOfTime,
}

/// Why a wait has no value: how it ended and what was seen then.
#[derive(Clone, Debug)]
pub struct Evidence {
    /// Stuck, or out of time.
    pub ending: Ending,
    /// The processes watched, when the wait watched a target.
    pub pids: Vec<Pid>,
    /// Their threads: the settled sample when stuck, a fresh one when the
    /// bound ran out.
    pub threads: Vec<ThreadState>,
}

impl Evidence {
    /// Evidence seen now by a wait that watched `pids` itself and ended as `ending`.
    pub fn now(ending: Ending, pids: Vec<Pid>) -> Evidence {
        let threads = observe::threads(&pids);
        Evidence {
            ending,
            pids,
            threads,
        }
    }

    /// Whether what was watched was seen stuck (rather than the bound running out).
    pub fn stuck(&self) -> bool {
        self.ending == Ending::Stuck
    }
}

/// What a wait watches to tell "stuck" from "still busy".
pub trait Watched {
    /// One look: the processes and threads, once nothing watched can move
    /// any more; `None` while something still may.
    fn stuck(&mut self) -> Option<(Vec<Pid>, Vec<ThreadState>)>;

    /// Whether the last look found everything asleep, so the looks that
    /// confirm it should come quickly.
    fn settling(&self) -> bool {
        false
    }

    /// How the gaps between looks grow.
    fn gaps(&self) -> Gaps {
        Gaps::QuickFirst
    }

    /// The processes and their threads, for a wait whose bound ran out.
    fn snapshot(&self) -> (Vec<Pid>, Vec<ThreadState>);
}

/// `wait()`—looks until `done` gives what is awaited, until `watched` is
/// stuck (then `done` decides once more: it may have come between the last
/// look and the samples), or until `bound` passes since the start or the
/// last [`Look::Moved`]. The looks are paced by [`Pacing`].
pub fn wait<T>(
    bound: Duration,
    watched: &mut (impl Watched + ?Sized),
    done: impl FnMut() -> Look<T>,
) -> Result<T, Evidence> {
    looks(bound, watched, done, std::thread::sleep)
}

/// `until()`—looks at `holds` alone, paced by `gaps`, until it holds
/// (`true`) or `bound` passes (`false`): a [`wait`] on something no
/// thread's stillness can decide.
pub fn until(bound: Duration, gaps: Gaps, mut holds: impl FnMut() -> bool) -> bool {
    wait(bound, &mut Bound(Shown::Nothing, gaps), || match holds() {
        true => Look::Done(()),
        false => Look::Waiting,
    })
    .is_ok()
}

/// [`wait`] for a value on `channel`: the pause between looks is a receive
/// with a timeout, so a value that arrives ends the wait at once. `Ok(None)`
/// when every sender is gone without sending.
pub fn receive<T>(
    channel: &Receiver<T>,
    bound: Duration,
    watched: &mut (impl Watched + ?Sized),
) -> Result<Option<T>, Evidence> {
    let arrived = RefCell::new(None);
    looks(
        bound,
        watched,
        || {
            if let Some(value) = arrived.borrow_mut().take() {
                return Look::Done(value);
            }
            match channel.try_recv() {
                Ok(value) => Look::Done(Some(value)),
                Err(TryRecvError::Empty) => Look::Waiting,
                Err(TryRecvError::Disconnected) => Look::Done(None),
            }
        },
        |gap| match channel.recv_timeout(gap) {
            Ok(value) => *arrived.borrow_mut() = Some(Some(value)),
            Err(RecvTimeoutError::Disconnected) => *arrived.borrow_mut() = Some(None),
            Err(RecvTimeoutError::Timeout) => {}
        },
    )
}

/// The loop behind [`wait`] and [`receive`]: `pause` spends each gap.
fn looks<T>(
    bound: Duration,
    watched: &mut (impl Watched + ?Sized),
    mut done: impl FnMut() -> Look<T>,
    mut pause: impl FnMut(Duration),
) -> Result<T, Evidence> {
    let mut deadline = Instant::now() + bound;
    let mut pacing = Pacing::new(watched.gaps());
    // Seen stuck on the last look: what was awaited may still have come
    // between the look before and the samples, so `done` decides once more.
    let mut stuck = None;
    loop {
        match done() {
            Look::Done(value) => return Ok(value),
            Look::Moved => {
                deadline = Instant::now() + bound;
                pacing = Pacing::new(watched.gaps());
                stuck = None;
                continue;
            }
            Look::Again => {
                pacing = Pacing::new(watched.gaps());
                stuck = None;
                continue;
            }
            Look::Waiting => {
                if let Some(evidence) = stuck.take() {
                    return Err(evidence);
                }
            }
        }
        if let Some((pids, threads)) = watched.stuck() {
            stuck = Some(Evidence {
                ending: Ending::Stuck,
                pids,
                threads,
            });
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let (pids, threads) = watched.snapshot();
            return Err(Evidence {
                ending: Ending::OutOfTime,
                pids,
                threads,
            });
        }
        pause(pacing.next(watched.settling()).min(left));
    }
}

/// How the gaps between the looks of a wait grow: from [`Pacing::FIRST`] up
/// to a widest gap, so a target that settles or exits soon is seen at once,
/// and one that keeps running until the time bound does not cost the
/// checker a core (each look reads `/proc`); or not at all, for cheap looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gaps {
    /// [`Pacing::QUICK`] looks at the first gap, then doubling up to
    /// [`Pacing::MOST`]: for cheap looks, and for targets that settle within
    /// a few milliseconds (relays, shells, a server starting to listen).
    QuickFirst,
    /// Doubling at every look up to [`Pacing::MOST_BACKING_OFF`]: for looks
    /// that read every thread of a server or of the checker itself.
    BackingOff,
    /// The same gap every time: for a look at one cheap thing (a `waitpid`,
    /// a socket's queue) that should see the moment it changes.
    Steady(Duration),
}

/// The gaps between the looks of a wait, as [`Gaps`] says; once a look
/// finds the target settling, the looks that confirm it come quickly again.
#[derive(Debug)]
pub struct Pacing {
    gaps: Gaps,
    gap: Duration,
    looks: u32,
}

impl Pacing {
    /// The first gap.
    pub const FIRST: Duration = Duration::from_millis(1);
    /// The looks made at the first gap, some 50 ms, before it widens ([`Gaps::QuickFirst`]).
    pub const QUICK: u32 = 32;
    /// The widest gap of [`Gaps::QuickFirst`].
    pub const MOST: Duration = Duration::from_millis(16);
    /// The widest gap of [`Gaps::BackingOff`].
    pub const MOST_BACKING_OFF: Duration = Duration::from_millis(25);

    /// Gaps that grow as `gaps` says, from [`Pacing::FIRST`].
    pub fn new(gaps: Gaps) -> Pacing {
        let gap = match gaps {
            Gaps::Steady(gap) => gap,
            Gaps::QuickFirst | Gaps::BackingOff => Pacing::FIRST,
        };
        Pacing {
            gaps,
            gap,
            looks: 0,
        }
    }

    /// The next gap; the first one again when `settling`.
    pub fn next(&mut self, settling: bool) -> Duration {
        if settling {
            *self = Pacing::new(self.gaps);
        }
        let gap = self.gap;
        self.looks += 1;
        self.gap = match self.gaps {
            Gaps::QuickFirst if self.looks < Pacing::QUICK => self.gap,
            Gaps::QuickFirst => (self.gap * 2).min(Pacing::MOST),
            Gaps::BackingOff => (self.gap * 2).min(Pacing::MOST_BACKING_OFF),
            Gaps::Steady(gap) => gap,
        };
        gap
    }
}

/// Nothing the check can see ends the wait early: only what it awaits, or
/// the bound (the kernel moves a TCP connection on its own timers). The
/// evidence shows what [`Shown`] says; the looks come as [`Gaps`] says.
pub struct Bound(pub Shown, pub Gaps);

impl Watched for Bound {
    fn stuck(&mut self) -> Option<(Vec<Pid>, Vec<ThreadState>)> {
        None
    }

    fn gaps(&self) -> Gaps {
        self.1
    }

    fn snapshot(&self) -> (Vec<Pid>, Vec<ThreadState>) {
        self.0.snapshot()
    }
}

/// Whose threads a wait's evidence shows.
#[derive(Clone, Debug)]
pub enum Shown {
    /// None: what the wait awaits is no thread's doing.
    Nothing,
    /// One thread of this process (the one running an awaited operation).
    Thread(Pid),
    /// Every thread of these processes.
    Processes(Vec<Pid>),
}

impl Shown {
    fn snapshot(&self) -> (Vec<Pid>, Vec<ThreadState>) {
        match self {
            Shown::Nothing => (Vec::new(), Vec::new()),
            Shown::Thread(tid) => {
                let me = nix::unistd::getpid();
                (vec![me], observe::thread(me, *tid).into_iter().collect())
            }
            Shown::Processes(pids) => (pids.clone(), observe::threads(pids)),
        }
    }
}

/// A target is stuck once it has been [`settled`] and unchanged, context
/// switches included, for [`LOOKS`] looks in a row, with the check's own
/// helpers (threads of this process that feed or read it) asleep
/// indefinitely too.
pub struct Stillness<'a> {
    target: Watching<'a>,
    helpers: Box<dyn Fn() -> Vec<Pid> + 'a>,
    repeats: Repeats,
    gaps: Gaps,
}

/// How a [`Stillness`] reaches its target: shared, or lent by [`wait_on`]
/// between the looks of a `done` that needs it mutably.
enum Watching<'a> {
    Shared(&'a Target),
    Lent(&'a RefCell<&'a mut Target>),
}

impl<'a> Stillness<'a> {
    /// Watches `target` alone.
    pub fn of(target: &'a Target) -> Stillness<'a> {
        Stillness::with_helpers(target, Vec::new)
    }

    /// Watches `target` and the check's helper threads that `helpers`
    /// lists at each look (one that finished wakes no one).
    pub fn with_helpers(target: &'a Target, helpers: impl Fn() -> Vec<Pid> + 'a) -> Stillness<'a> {
        Stillness {
            target: Watching::Shared(target),
            helpers: Box::new(helpers),
            repeats: Repeats::default(),
            gaps: Gaps::QuickFirst,
        }
    }

    /// The same, with its looks growing apart as `gaps` says.
    pub fn paced(self, gaps: Gaps) -> Stillness<'a> {
        Stillness { gaps, ..self }
    }

    fn look<R>(&self, at: impl FnOnce(&Target) -> R) -> R {
        match self.target {
            Watching::Shared(target) => at(target),
            Watching::Lent(cell) => at(&cell.borrow()),
        }
    }
}

impl Watched for Stillness<'_> {
    fn stuck(&mut self) -> Option<(Vec<Pid>, Vec<ThreadState>)> {
        let ours = (self.helpers)();
        let settled = self.look(|target| settled(target, &ours));
        let seen = self.repeats.see(settled.as_ref().map(|s| &s.threads[..]));
        settled
            .filter(|_| seen >= LOOKS)
            .map(|s| (s.pids, s.threads))
    }

    fn settling(&self) -> bool {
        self.repeats.seen > 0
    }

    fn gaps(&self) -> Gaps {
        self.gaps
    }

    fn snapshot(&self) -> (Vec<Pid>, Vec<ThreadState>) {
        let pids = self.look(Target::processes);
        let threads = observe::threads(&pids);
        (pids, threads)
    }
}

/// [`wait`] on `target` with its [`Stillness`] (and that of the helper
/// threads `helpers` lists), for a `done` that needs the target mutably
/// (to reap its exit status, say); the looks come as `gaps` says.
pub fn wait_on<T>(
    bound: Duration,
    target: &mut Target,
    helpers: impl Fn() -> Vec<Pid>,
    gaps: Gaps,
    mut done: impl FnMut(&mut Target) -> Look<T>,
) -> Result<T, Evidence> {
    let cell = RefCell::new(&mut *target);
    let mut stillness = Stillness {
        target: Watching::Lent(&cell),
        helpers: Box::new(helpers),
        repeats: Repeats::default(),
        gaps,
    };
    wait(bound, &mut stillness, || done(&mut cell.borrow_mut()))
}

/// Nothing but the calling thread can act any more: every other thread of
/// this process and of its live descendants asleep indefinitely, unchanged
/// (context switches included) for [`LOOKS`] looks in a row.
///
/// A check that waits for an operation it started (a call on a plugged-in
/// pipe, a forked writer) may stop waiting then: only the caller could still
/// wake the operation, and it is busy waiting for it, so a bound would only
/// wait longer for the same outcome. Several looks, not one, because bytes
/// handed to loopback may wake their reader a moment later. A thread that
/// runs, or sleeps with a timeout, keeps the looks from agreeing, and the
/// bound decides. A process outside this tree cannot hold the descriptors
/// the check made: they are close-on-exec, and inheritance only goes down.
///
/// The evidence shows `shown`: the thread or the process whose call is awaited.
pub struct Standstill {
    shown: Shown,
    gaps: Gaps,
    repeats: Repeats,
}

impl Standstill {
    /// Watches everything but the calling thread, showing `shown`, its
    /// looks growing apart as `gaps` says.
    pub fn showing(shown: Shown, gaps: Gaps) -> Standstill {
        Standstill {
            shown,
            gaps,
            repeats: Repeats::default(),
        }
    }
}

impl Watched for Standstill {
    fn stuck(&mut self) -> Option<(Vec<Pid>, Vec<ThreadState>)> {
        (self.repeats.see(others_asleep().as_deref()) >= LOOKS).then(|| self.snapshot())
    }

    fn settling(&self) -> bool {
        self.repeats.seen > 0
    }

    fn gaps(&self) -> Gaps {
        self.gaps
    }

    fn snapshot(&self) -> (Vec<Pid>, Vec<ThreadState>) {
        self.shown.snapshot()
    }
}

/// A target seen settled: its processes, and their threads all asleep in
/// calls without timeout.
pub struct Settled {
    /// The target's processes.
    pub pids: Vec<Pid>,
    /// Their threads.
    pub threads: Vec<ThreadState>,
}

/// Whether a thread of `threads` waits in `wait4`/`waitid` for a zombie
/// child it may reap, or for one that is exiting: then it is about to be
/// woken.
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
                .any(|c| (c.state == 'Z' || c.exiting) && waits_for(c.pid))
    })
}

/// One settled look at `target`, with `ours` (threads of this process that
/// feed or read it) asleep indefinitely before and after: every target
/// process is quiescent, none about to reap, not one context switch since
/// the quiescent sample, and the same processes listed before and after.
pub fn settled(target: &Target, ours: &[Pid]) -> Option<Settled> {
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
    still.then_some(Settled { pids, threads })
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
pub fn same_sleep(before: &[ThreadState], after: &[ThreadState]) -> bool {
    before.len() == after.len()
        && before.iter().zip(after).all(|(a, b)| {
            a.tid == b.tid
                && a.switches == b.switches
                && a.asleep_indefinitely()
                && b.asleep_indefinitely()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_ends_with_what_done_gives() {
        let mut looks = 0;
        let waited = wait(
            Duration::from_secs(5),
            &mut Bound(Shown::Nothing, Gaps::QuickFirst),
            || {
                looks += 1;
                if looks == 3 {
                    Look::Done(looks)
                } else {
                    Look::Waiting
                }
            },
        );
        assert_eq!(waited.ok(), Some(3));
    }

    #[test]
    fn a_wait_on_nothing_ends_out_of_time_at_the_bound() {
        let bound = Duration::from_millis(30);
        let start = Instant::now();
        let waited = wait(bound, &mut Bound(Shown::Nothing, Gaps::QuickFirst), || {
            Look::<()>::Waiting
        });
        let evidence = waited.expect_err("nothing came");
        assert_eq!(evidence.ending, Ending::OutOfTime);
        assert!(start.elapsed() >= bound, "{:?}", start.elapsed());
    }

    #[test]
    fn progress_starts_the_bound_over() {
        let bound = Duration::from_millis(30);
        let start = Instant::now();
        let mut moves = 0;
        let waited = wait(bound, &mut Bound(Shown::Nothing, Gaps::QuickFirst), || {
            if moves < 3 && start.elapsed() >= bound / 2 * (moves + 1) {
                moves += 1;
                return Look::Moved;
            }
            Look::<()>::Waiting
        });
        assert!(waited.is_err());
        assert!(start.elapsed() >= bound * 2, "{:?}", start.elapsed());
    }

    #[test]
    fn a_value_received_ends_the_wait_at_once() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            tx.send(7).unwrap();
        });
        let start = Instant::now();
        let got = receive(
            &rx,
            Duration::from_secs(5),
            &mut Bound(Shown::Nothing, Gaps::QuickFirst),
        );
        assert_eq!(got.ok(), Some(Some(7)));
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn the_gaps_widen_from_the_first_to_the_widest_and_settling_makes_them_quick() {
        let mut pacing = Pacing::new(Gaps::QuickFirst);
        let gaps: Vec<Duration> = (0..64).map(|_| pacing.next(false)).collect();
        assert!(gaps[..Pacing::QUICK as usize]
            .iter()
            .all(|&gap| gap == Pacing::FIRST));
        assert_eq!(gaps.last(), Some(&Pacing::MOST));
        assert_eq!(pacing.next(true), Pacing::FIRST);
        let mut backing_off = Pacing::new(Gaps::BackingOff);
        let gaps: Vec<Duration> = (0..8).map(|_| backing_off.next(false)).collect();
        assert_eq!(gaps[..3], [1, 2, 4].map(Duration::from_millis));
        assert_eq!(gaps.last(), Some(&Pacing::MOST_BACKING_OFF));
    }
}
