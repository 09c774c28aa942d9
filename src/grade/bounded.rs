//! Running a command for at most a given time, killing its whole process
//! group when it overruns: SIGTERM, a grace period, then SIGKILL.
//!
//! The command gets its own process group ([`setpgid(2)`] through
//! `process_group(0)`) so that a build's or a check's children go with it.
//! A checker (`ipcspec check`) catches SIGTERM and kills its targets before
//! it exits, which is why SIGTERM comes first.
//!
//! [`setpgid(2)`]: https://man7.org/linux/man-pages/man2/setpgid.2.html

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// How long a process group gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// Runs `command` in its own process group; `Ok(None)` if it was still
/// running after `bound` (it has then been killed and reaped).
pub fn run(mut command: Command, bound: Duration) -> std::io::Result<Option<ExitStatus>> {
    let mut child = command.process_group(0).spawn()?;
    let group = Pid::from_raw(child.id() as i32);
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
    Ok(status)
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
