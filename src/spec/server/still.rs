//! When a server will not act again without new input: the early end of
//! every wait on it.
//!
//! A server is *still* when it is:
//! - *settled* ([`settle::settled`]): every thread asleep in a call without
//!   timeout, twice, with no context switch in between, the same processes
//!   before and after, none about to reap; or
//! - *idling*: every thread asleep, some in waits with a timeout (Python's
//!   `socketserver` polls every 0.5 s), and since a first look each of those
//!   has woken at least once while no process read or wrote a byte
//!   (`/proc/<pid>/io`), forked or reaped (its page faults in
//!   `/proc/<pid>/stat`, reaped children's included), and nothing else
//!   changed: the same processes and threads, those in waits without timeout
//!   not switched once. A server that woke and did nothing had its chance to
//!   act on what was pending. (A client waiting for bytes also wants its own
//!   bytes read by the server, see [`super::client::Client::receive`]: one
//!   still unread may be what the next wake-up acts on.)
//!
//! Each look is itself the observation; [`Pace`] only spaces the looks, from
//! 1 ms up to 25 ms, so that a long wait costs the checker little CPU while
//! a quick one stays quick.
//!
//! # References
//! - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html): `/proc/<pid>/io`, `stat`, `task/<tid>/syscall`
//! - [poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html), [select(2)](https://man7.org/linux/man-pages/man2/select.2.html), [epoll_wait(2)](https://man7.org/linux/man-pages/man2/epoll_wait.2.html), [futex(2)](https://man7.org/linux/man-pages/man2/futex.2.html): the waits that may time out

use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::target::observe::{self, Io, Syscall, ThreadState};
use crate::target::{settle, Target};

/// How still a server is right now; see the module doc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stillness {
    /// Its first process has exited.
    Gone,
    /// Every thread asleep in a call without timeout, with no context switch.
    Settled,
    /// Asleep, and woke from its timed waits without doing anything.
    Idling,
    /// Running, or not yet seen still.
    Busy,
}

/// Successive looks at one server, remembering the first look of the
/// current idling streak.
#[derive(Default)]
pub struct Watch {
    anchor: Mutex<Option<Look>>,
}

/// What one look at the server saw, to compare the next look with.
struct Look {
    pids: Vec<Pid>,
    /// Each thread: its ID, context switches, and whether its wait has a timeout.
    threads: Vec<(Pid, u64, bool)>,
    /// Each process: what it read and wrote, and its page faults (which
    /// grow when it forks or reaps).
    activity: Vec<(Option<Io>, Option<u64>)>,
}

impl Look {
    /// Whether `later` saw nothing happen since this look but timed
    /// sleepers waking: the same processes and threads, no byte read or
    /// written, no fork or reaping, and each thread that waited without
    /// timeout still in such a wait, with no context switch.
    fn continued_by(&self, later: &Look) -> bool {
        self.pids == later.pids
            && self.activity == later.activity
            && self.threads.len() == later.threads.len()
            && self
                .threads
                .iter()
                .zip(&later.threads)
                .all(|(a, b)| a.0 == b.0 && (a.2 || (b.1 == a.1 && !b.2)))
    }
}

/// What one look found the server's threads doing.
enum Sleep {
    /// Some thread is not asleep in a wait.
    No,
    /// Every thread asleep in a call without timeout (the strict look decides).
    Indefinite,
    /// Some asleep in timed waits, not all of those woken yet since the streak began.
    Timed,
    /// Idling (see [`Stillness::Idling`]).
    Idling,
}

/// A wait with a timeout the thread may wake from by itself.
fn timed_wait(syscall: &Syscall) -> bool {
    !syscall.is_indefinite()
        && matches!(
            syscall.name(),
            Some(
                "poll"
                    | "ppoll"
                    | "select"
                    | "pselect6"
                    | "epoll_wait"
                    | "epoll_pwait"
                    | "epoll_pwait2"
                    | "futex"
                    | "futex_waitv"
                    | "nanosleep"
                    | "clock_nanosleep"
                    | "rt_sigtimedwait"
            )
        )
}

impl Watch {
    /// How still `target` is right now; `gone` when its first process exited.
    pub fn stillness(&self, target: &Target, gone: bool) -> Stillness {
        if gone {
            return Stillness::Gone;
        }
        match self.look(target) {
            Sleep::Indefinite if settle::settled(target, &[]).is_some() => Stillness::Settled,
            Sleep::Idling => Stillness::Idling,
            _ => Stillness::Busy,
        }
    }

    /// One look for idling, compared with the first look of the streak.
    fn look(&self, target: &Target) -> Sleep {
        let pids = target.processes();
        let threads = observe::threads(&pids);
        let mut anchor = self.anchor.lock().unwrap_or_else(|e| e.into_inner());
        let waiting = |t: &ThreadState| {
            t.state == 'S' && (t.syscall.is_indefinite() || timed_wait(&t.syscall))
        };
        let complete = pids.iter().all(|&p| threads.iter().any(|t| t.pid == p));
        if threads.is_empty()
            || !complete
            || !threads.iter().all(waiting)
            || settle::reaping(&threads)
        {
            *anchor = None;
            return Sleep::No;
        }
        let look = Look {
            activity: pids
                .iter()
                .map(|&p| (observe::io(p), observe::stat(p).map(|s| s.faults)))
                .collect(),
            threads: threads
                .iter()
                .map(|t| (t.tid, t.switches, timed_wait(&t.syscall)))
                .collect(),
            pids,
        };
        if !look.threads.iter().any(|t| t.2) {
            *anchor = None;
            return Sleep::Indefinite;
        }
        match anchor.as_ref() {
            Some(first) if first.continued_by(&look) => {
                let woke = first
                    .threads
                    .iter()
                    .zip(&look.threads)
                    .filter(|(a, _)| a.2)
                    .all(|(a, b)| b.1 > a.1);
                if woke {
                    Sleep::Idling
                } else {
                    Sleep::Timed
                }
            }
            _ => {
                *anchor = Some(look);
                Sleep::Timed
            }
        }
    }
}

/// The time between two looks of a wait: 1 ms at first, doubling up to
/// 25 ms, so that quick verdicts stay quick and long waits cost little CPU.
pub struct Pace(Duration);

impl Default for Pace {
    fn default() -> Pace {
        Pace(Duration::from_millis(1))
    }
}

impl Pace {
    /// The longest pause between two looks.
    const MOST: Duration = Duration::from_millis(25);

    /// The next pause, at most `left`.
    pub fn next(&mut self, left: Duration) -> Duration {
        let pause = self.0.min(left);
        self.0 = (self.0 * 2).min(Pace::MOST);
        pause
    }

    /// Sleeps for the next pause, at most until `deadline`.
    pub fn pause(&mut self, deadline: Instant) {
        // Pacing only: each look is itself the observation.
        std::thread::sleep(self.next(deadline.saturating_duration_since(Instant::now())));
    }
}
