//! One operation on a helper thread, watched from outside: has it returned,
//! and if not, is its thread asleep in a call with no timeout?
//!
//! This is how the pipe and socket properties show "blocks" without sleeping
//! and hoping: the operation has not returned, and two samples of
//! `/proc/self/task/<tid>` find its thread asleep indefinitely (the kernel
//! pipe in `read`/`write`, the reference in `futex`). It is also how a check
//! calls an implementation it does not trust: any call that could hang runs
//! here, so the check itself never does.
//!
//! Every wait is bounded. Where only threads can move what is awaited
//! (pipes, futexes: [`Wakers::Check`]), a wait also ends early, as a hang,
//! once nothing can make the operation return any more: every other thread
//! of the process and of its descendants asleep indefinitely
//! ([`Standstill`]) while the caller only waits. A wait that runs out is
//! reported with the thread's state. A forked child is waited for the same
//! way ([`wait_child`]).
//!
//! # References
//! - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html): `task/<tid>/stat`, `syscall`, `wchan`
//! - [waitpid(2)](https://man7.org/linux/man-pages/man2/waitpid.2.html) (`WNOHANG`)

use std::cell::RefCell;
use std::fmt::Debug;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::spec::{Failure, Finding, Outcome};
use crate::target::settle::Standstill;
use crate::target::{observe, TargetError};

/// A handle moved through a helper thread and back; prints as its role, so
/// an operation's result can carry it.
pub(crate) struct Kept<H>(pub(crate) H);

impl<H> std::fmt::Debug for Kept<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<handle>")
    }
}

/// What, besides the threads and processes of the check, may still end a wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wakers {
    /// Nothing: a pipe or a futex moves only when a thread acts, so a wait
    /// ends, as a hang, once no thread but the waiting one can act.
    Check,
    /// The kernel on its own time too: TCP acknowledges, retransmits and
    /// probes on timers, so a sleeping connection may still move, and only
    /// the bound ends the wait.
    Kernel,
}

/// An operation running on its own thread.
pub(crate) struct Op<T> {
    what: String,
    tid: Pid,
    result: Receiver<T>,
    /// A result seen early, while checking whether the operation blocked.
    early: RefCell<Option<T>>,
}

/// Where an operation stands once it has settled.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Its thread is asleep indefinitely and it has not returned.
    Blocked,
    /// It returned.
    Returned,
}

/// The longest pause between two looks at an operation that has not
/// returned: how late, at worst, a stuck operation is noticed.
const LONGEST_LOOK: Duration = Duration::from_millis(32);

impl<T: Debug + Send + 'static> Op<T> {
    /// Starts `operation` on a new thread; `what` names it in findings ("the read").
    pub(crate) fn spawn(
        what: impl Into<String>,
        operation: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Op<T>, Finding> {
        let what = what.into();
        let (tid_tx, tid_rx) = mpsc::channel();
        let (result_tx, result) = mpsc::channel();
        std::thread::Builder::new()
            .name("ipcspec-op".into())
            .spawn(move || {
                let _ = tid_tx.send(nix::unistd::gettid());
                let _ = result_tx.send(operation());
            })
            .map_err(|e| TargetError::setup(format!("a thread for {what}"), e))?;
        // The thread sends its tid before anything else; only a dead runtime fails this.
        let tid = tid_rx.recv().map_err(|_| {
            TargetError::setup(
                format!("a thread for {what}"),
                std::io::Error::other("it died at start"),
            )
        })?;
        Ok(Op {
            what,
            tid,
            result,
            early: RefCell::new(None),
        })
    }

    /// Waits, at most `bound`, until the operation returns or is seen
    /// blocked: not returned, its thread asleep indefinitely across two
    /// samples. Neither within `bound` is a hang.
    pub(crate) fn settle(&self, bound: Duration) -> Result<Settled, Finding> {
        let deadline = Instant::now() + bound;
        loop {
            if self.returned()? {
                return Ok(Settled::Returned);
            }
            let slice = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(5));
            if observe::wait_thread_asleep(self.tid, slice).is_ok() {
                // It slept across both samples; whether it returned since decides.
                return Ok(if self.returned()? {
                    Settled::Returned
                } else {
                    Settled::Blocked
                });
            }
            if Instant::now() >= deadline {
                return Err(Finding::hung(
                    format!(
                        "{} to block (sleep in a call with no timeout) or return",
                        self.what
                    ),
                    self.describe(),
                ));
            }
        }
    }

    /// `Ok` once the operation is seen blocked; returning instead is a violation.
    pub(crate) fn blocked(&self, bound: Duration) -> Outcome {
        match self.settle(bound)? {
            Settled::Blocked => Ok(()),
            Settled::Returned => Err(Finding::violated(
                format!("{} to block", self.what),
                format!(
                    "it returned {}",
                    self.early
                        .borrow()
                        .as_ref()
                        .map(|v| format!("{v:?}"))
                        .unwrap_or_default()
                ),
            )),
        }
    }

    fn returned(&self) -> Result<bool, Finding> {
        if self.early.borrow().is_some() {
            return Ok(true);
        }
        match self.result.try_recv() {
            Ok(value) => {
                *self.early.borrow_mut() = Some(value);
                Ok(true)
            }
            Err(TryRecvError::Empty) => Ok(false),
            Err(TryRecvError::Disconnected) => Err(self.panicked()),
        }
    }

    fn panicked(&self) -> Finding {
        Finding::violated(format!("{} to return", self.what), "its thread panicked")
    }

    /// The operation's result, awaited at most `bound`; else a hang naming
    /// `awaited`. The calling thread must do nothing else meanwhile: the wait
    /// ends early, as a hang, once nothing else can make the operation return.
    pub(crate) fn finish(self, awaited: &str, bound: Duration) -> Result<T, Finding> {
        self.finish_with(awaited, bound, Wakers::Check)
    }

    /// [`Op::finish`], for an operation that `wakers` may still end.
    pub(crate) fn finish_with(
        self,
        awaited: &str,
        bound: Duration,
        wakers: Wakers,
    ) -> Result<T, Finding> {
        if let Some(value) = self.early.take() {
            return Ok(value);
        }
        let deadline = Instant::now() + bound;
        // Looks start quick (most calls return within a millisecond) and back
        // off, so a long transfer is not slowed by looks at /proc.
        let mut look = Duration::from_millis(1);
        let mut standstill = Standstill::default();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.result.recv_timeout(look.min(left)) {
                Ok(value) => return Ok(value),
                Err(RecvTimeoutError::Disconnected) => return Err(self.panicked()),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= deadline {
                return Err(Finding::hung(
                    format!("{} to return: {awaited}", self.what),
                    self.describe(),
                ));
            }
            if wakers == Wakers::Check && standstill.look() {
                // It may have returned between the last look and the samples.
                if let Ok(value) = self.result.try_recv() {
                    return Ok(value);
                }
                return Err(Finding::Hung(Failure {
                    expected: format!("{} to return: {awaited}", self.what),
                    observed: "it sleeps in a call that nothing can end: every other thread of the check, and every process it started, sleeps too"
                        .into(),
                    threads: Some(self.describe()).filter(|t| !t.is_empty()),
                    ..Failure::default()
                }));
            }
            look = (look * 2).min(LONGEST_LOOK);
        }
    }

    fn describe(&self) -> String {
        observe::thread(nix::unistd::getpid(), self.tid)
            .map(|state| observe::describe(&[state]))
            .unwrap_or_default()
    }
}

/// How a forked child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// It exited with this status.
    Exited(i32),
    /// A signal killed it.
    Signaled(Signal),
}

/// Waits for `child`, that very child and never another, at most `bound`.
///
/// Before each look, `decided` may end the wait with a finding from what it
/// observes (a child that has done enough to be judged). Unless `wakers`
/// says the kernel may still wake it, the wait also ends once the child
/// sleeps where nothing can wake it (see [`Standstill`]): a hang naming
/// `awaited`, as when the bound runs out. A child still running then is
/// killed and reaped.
pub(crate) fn wait_child(
    child: Pid,
    bound: Duration,
    awaited: &str,
    wakers: Wakers,
    mut decided: impl FnMut() -> Option<Finding>,
) -> Result<Ended, Finding> {
    let ended = || match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Some(Ok(Ended::Exited(code))),
        Ok(WaitStatus::Signaled(_, signal, _)) => Some(Ok(Ended::Signaled(signal))),
        Ok(_) => None,
        Err(e) => Some(Err(Finding::Broken(TargetError::setup(
            "waitpid on a forked child",
            std::io::Error::from(e),
        )))),
    };
    let deadline = Instant::now() + bound;
    let mut standstill = Standstill::default();
    let finding = loop {
        if let Some(ended) = ended() {
            return ended;
        }
        if let Some(finding) = decided() {
            break finding;
        }
        let threads = || observe::describe(&observe::threads(&[child]));
        if wakers == Wakers::Check && standstill.look() {
            // A child that died since the last look is a zombie now, which
            // the samples leave out: it ended, it is not stuck.
            if let Some(ended) = ended() {
                return ended;
            }
            break Finding::Hung(Failure {
                expected: awaited.to_string(),
                observed:
                    "it sleeps in a call that nothing can end: every thread of the check sleeps too"
                        .into(),
                threads: Some(threads()),
                ..Failure::default()
            });
        }
        if Instant::now() >= deadline {
            break Finding::hung(awaited, threads());
        }
        // Pacing only: each look is a waitpid and a look at /proc.
        std::thread::sleep(Duration::from_millis(1));
    };
    let _ = kill(child, Signal::SIGKILL);
    let _ = waitpid(child, None);
    Err(finding)
}
