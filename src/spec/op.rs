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
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::spec::{Finding, Outcome};
use crate::target::settle::{self, Bound, Gaps, Look, Shown, Standstill, Watched};
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

/// How long one look at an operation's thread waits to see it asleep.
const LOOK_ASLEEP: Duration = Duration::from_millis(5);

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
        let settled = settle::wait(
            bound,
            &mut Bound(Shown::Thread(self.tid), Gaps::Steady(Duration::ZERO)),
            || {
                if let returned @ (Ok(true) | Err(_)) = self.returned() {
                    return Look::Done(returned.map(|_| Settled::Returned));
                }
                if observe::wait_thread_asleep(self.tid, LOOK_ASLEEP).is_err() {
                    return Look::Waiting;
                }
                // It slept across both samples; whether it returned since decides.
                Look::Done(self.returned().map(|returned| {
                    if returned {
                        Settled::Returned
                    } else {
                        Settled::Blocked
                    }
                }))
            },
        );
        settled.unwrap_or_else(|evidence| {
            Err(Finding::hang(
                format!(
                    "{} to block (sleep in a call with no timeout) or return",
                    self.what
                ),
                &evidence,
                |_| OTHERS_ASLEEP.into(),
            ))
        })
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
        let shown = Shown::Thread(self.tid);
        match settle::receive(
            &self.result,
            bound,
            &mut *wakers.watch(shown, Gaps::BackingOff),
        ) {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(self.panicked()),
            Err(evidence) => Err(Finding::hang(
                format!("{} to return: {awaited}", self.what),
                &evidence,
                |_| OTHERS_ASLEEP.into(),
            )),
        }
    }
}

/// Why an operation of the check is stuck, when nothing else can act.
const OTHERS_ASLEEP: &str = "it sleeps in a call that nothing can end: every other thread of the check, and every process it started, sleeps too";

impl Wakers {
    /// What a wait watches to tell an operation stuck, showing `shown`,
    /// its looks growing apart as `gaps` says.
    fn watch(self, shown: Shown, gaps: Gaps) -> Box<dyn Watched> {
        match self {
            Wakers::Check => Box::new(Standstill::showing(shown, gaps)),
            Wakers::Kernel => Box::new(Bound(shown, gaps)),
        }
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
    // A child that died between two looks is a zombie, which the samples
    // leave out: the look after them reaps it, so it ended, it is not stuck.
    let waited = settle::wait(
        bound,
        &mut *wakers.watch(
            Shown::Processes(vec![child]),
            Gaps::Steady(Duration::from_millis(1)),
        ),
        || {
            if let Some(ended) = ended() {
                return Look::Done(Ok(ended));
            }
            decided().map_or(Look::Waiting, |finding| Look::Done(Err(finding)))
        },
    );
    let finding = match waited {
        Ok(Ok(ended)) => return ended,
        Ok(Err(decided)) => decided,
        Err(evidence) => Finding::hang(awaited, &evidence, |_| {
            "it sleeps in a call that nothing can end: every thread of the check sleeps too".into()
        }),
    };
    let _ = kill(child, Signal::SIGKILL);
    let _ = waitpid(child, None);
    Err(finding)
}
