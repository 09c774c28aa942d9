//! The reference mini-shell (`ipcspec shell`): reads command lines from
//! stdin and runs each as a pipeline, then reads the next.
//!
//! Words are split on spaces, `|` separates stages, programs are looked up
//! on `PATH`; there is no prompt, quoting or redirection. Each stage is
//! started with [`std::process::Command`], whose pipes are close-on-exec and
//! whose children start with `SIGPIPE` at its default action; the shell
//! drops its copy of every pipe end as soon as the stage that uses it has
//! started, so EOF and SIGPIPE travel along the line, and it waits for
//! every stage before reading on.
//!
//! # References
//! - [pipe(2)](https://man7.org/linux/man-pages/man2/pipe.2.html),
//!   [execve(2)](https://man7.org/linux/man-pages/man2/execve.2.html),
//!   [wait(2)](https://man7.org/linux/man-pages/man2/wait.2.html)

use std::io::{self, BufRead};
use std::process::{Child, ChildStdout, Command, Stdio};

/// Runs every line of stdin as a pipeline; returns the exit code.
pub fn run() -> io::Result<i32> {
    for line in io::stdin().lock().lines() {
        run_line(&line?);
    }
    Ok(0)
}

/// Runs one pipeline and waits for all of its stages.
fn run_line(line: &str) {
    let stages: Vec<Vec<&str>> = line
        .split('|')
        .map(|stage| stage.split(' ').filter(|w| !w.is_empty()).collect())
        .collect();
    if stages.iter().all(Vec::is_empty) {
        return;
    }
    if stages.iter().any(Vec::is_empty) {
        eprintln!("ipcspec shell: syntax error: empty stage in `{line}`");
        return;
    }
    let mut children: Vec<Child> = Vec::new();
    // The read end of the previous stage's stdout; `None` with `previous_failed` means /dev/null.
    let mut upstream: Option<ChildStdout> = None;
    let mut previous_failed = false;
    for (i, words) in stages.iter().enumerate() {
        let mut command = Command::new(words[0]);
        command.args(&words[1..]);
        if let Some(pipe) = upstream.take() {
            command.stdin(pipe);
        } else if previous_failed {
            command.stdin(Stdio::null());
        }
        if i + 1 < stages.len() {
            command.stdout(Stdio::piped());
        }
        // `command` holds the read end it was given until it is dropped at
        // the end of this iteration: then the shell keeps no pipe end.
        match command.spawn() {
            Ok(mut child) => {
                upstream = child.stdout.take();
                previous_failed = false;
                children.push(child);
            }
            Err(e) => {
                eprintln!("ipcspec shell: {}: {e}", words[0]);
                previous_failed = true;
            }
        }
    }
    drop(upstream);
    for mut child in children {
        let _ = child.wait();
    }
}
