//! One pipe operation on a helper thread, watched from outside: has it
//! returned, and if not, is its thread asleep in a call with no timeout?
//!
//! This is how the pipe properties show "blocks" without sleeping and
//! hoping: the operation has not returned, and two samples of
//! `/proc/self/task/<tid>` find its thread asleep indefinitely (the kernel
//! pipe in `read`/`write`, the reference in `futex`). Every wait is bounded;
//! a wait that runs out is reported with the thread's state.

use std::cell::RefCell;
use std::fmt::Debug;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::spec::{Finding, Outcome};
use crate::target::{observe, TargetError};

/// An operation running on its own thread.
pub(super) struct Op<T> {
    what: String,
    tid: Pid,
    result: Receiver<T>,
    /// A result seen early, while checking whether the operation blocked.
    early: RefCell<Option<T>>,
}

/// Where an operation stands once it has settled.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Settled {
    /// Its thread is asleep indefinitely and it has not returned.
    Blocked,
    /// It returned.
    Returned,
}

impl<T: Debug + Send + 'static> Op<T> {
    /// Starts `operation` on a new thread; `what` names it in findings ("the read").
    pub(super) fn spawn(
        what: impl Into<String>,
        operation: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Op<T>, Finding> {
        let what = what.into();
        let (tid_tx, tid_rx) = mpsc::channel();
        let (result_tx, result) = mpsc::channel();
        std::thread::Builder::new()
            .name("ipcspec-pipe-op".into())
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
    pub(super) fn settle(&self, bound: Duration) -> Result<Settled, Finding> {
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
    pub(super) fn blocked(&self, bound: Duration) -> Outcome {
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

    /// The operation's result, awaited at most `bound`; else a hang naming `awaited`.
    pub(super) fn finish(self, awaited: &str, bound: Duration) -> Result<T, Finding> {
        if let Some(value) = self.early.take() {
            return Ok(value);
        }
        match self.result.recv_timeout(bound) {
            Ok(value) => Ok(value),
            Err(RecvTimeoutError::Timeout) => Err(Finding::hung(
                format!("{} to return: {awaited}", self.what),
                self.describe(),
            )),
            Err(RecvTimeoutError::Disconnected) => Err(self.panicked()),
        }
    }

    fn describe(&self) -> String {
        observe::thread(nix::unistd::getpid(), self.tid)
            .map(|state| observe::describe(&[state]))
            .unwrap_or_default()
    }
}
