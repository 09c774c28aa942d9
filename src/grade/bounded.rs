//! Running a command for at most a given time, killing its whole process
//! group when it overruns: SIGTERM, a grace period, then SIGKILL.
//!
//! The command gets its own process group ([`setpgid(2)`] through
//! `process_group(0)`) so that a build's or a check's children go with it.
//! A checker (`ipcspec check`) catches SIGTERM and kills its targets before
//! it exits, which is why SIGTERM comes first. [`stop_all`] does the same
//! to every command still running, for a grading run that is itself stopped.
//!
//! [`setpgid(2)`]: https://man7.org/linux/man-pages/man2/setpgid.2.html

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus};
use std::sync::{mpsc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// How long a process group gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// The process groups of the commands running now, and whether
/// [`stop_all`] was called (then no command starts any more).
struct Running {
    groups: Mutex<(BTreeSet<Pid>, bool)>,
    ended: Condvar,
}

fn running() -> &'static Running {
    static RUNNING: Running = Running {
        groups: Mutex::new((BTreeSet::new(), false)),
        ended: Condvar::new(),
    };
    &RUNNING
}

fn groups() -> MutexGuard<'static, (BTreeSet<Pid>, bool)> {
    running().groups.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `command` in its own process group; `Ok(None)` if it was still
/// running after `bound` (it has then been killed and reaped). After
/// [`stop_all`], refuses to start it (`ErrorKind::Interrupted`).
pub fn run(mut command: Command, bound: Duration) -> std::io::Result<Option<ExitStatus>> {
    let (mut child, group) = {
        // Spawned and registered under the lock: `stop_all` sees every group.
        let mut groups = groups();
        if groups.1 {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let child = command.process_group(0).spawn()?;
        let group = Pid::from_raw(child.id() as i32);
        groups.0.insert(group);
        (child, group)
    };
    let (done, exited) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let status = match exited.recv_timeout(bound) {
        Ok(status) => Some(status?),
        Err(_) => {
            let _ = killpg(group, Signal::SIGTERM);
            if exited.recv_timeout(GRACE).is_err() {
                let _ = killpg(group, Signal::SIGKILL);
                let _ = exited.recv();
            }
            None
        }
    };
    let _ = waiter.join();
    groups().0.remove(&group);
    running().ended.notify_all();
    Ok(status)
}

/// Stops every command [`run`] is running, as an overrun stops one
/// (SIGTERM, at most [`GRACE`] for all of them to end, then SIGKILL), and
/// any command asked for later; returns once every one was reaped or the
/// grace ran out.
pub fn stop_all() {
    let mut groups = groups();
    groups.1 = true;
    for &group in &groups.0 {
        let _ = killpg(group, Signal::SIGTERM);
    }
    let deadline = Instant::now() + GRACE;
    while !groups.0.is_empty() {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        groups = running()
            .ended
            .wait_timeout(groups, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    for &group in &groups.0 {
        let _ = killpg(group, Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_that_overruns_is_killed_with_its_children() {
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 30 & sleep 30; wait"]);
        let started = std::time::Instant::now();
        assert!(run(command, Duration::from_millis(300)).unwrap().is_none());
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_command_that_finishes_gives_its_status() {
        let mut command = Command::new("sh");
        command.args(["-c", "exit 3"]);
        let status = run(command, Duration::from_secs(10)).unwrap().unwrap();
        assert_eq!(status.code(), Some(3));
    }
}
