//! Results as they come, and a run that is stopped: a check whose stdout is
//! a pipe prints each verdict line as its property ends; SIGTERM or Ctrl-C
//! mid-check kills every target, prints the results so far with the property
//! in flight, and exits 130; `grade` stopped prints what it graded.
//!
//! The known point in a run is `fixtures/relays/stalls-after-first.sh`: its
//! first property passes, and its second waits out the check's time bound
//! (a minute), so a run that has printed the first verdict is provably not over.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use rstest::rstest;

use crate::support::cli::ipcspec;

fn stalling_relay() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/relays/stalls-after-first.sh")
}

/// `command` started with stdout and stderr piped, and a reader over its stdout.
fn start(command: &mut Command) -> (Child, BufReader<ChildStdout>) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ipcspec runs");
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    (child, stdout)
}

/// The next line of `out`, without its newline; empty at EOF.
fn line(out: &mut impl BufRead) -> String {
    let mut line = String::new();
    out.read_line(&mut line).expect("read stdout");
    line.trim_end().to_string()
}

/// `ipcspec check relay OPTIONS` on the stalling relay, which records its
/// runs in `dir`: unsandboxed, for a sandboxed target could not write there.
fn stalling_check(dir: &Path, options: &[String]) -> Command {
    let mut command = ipcspec();
    command
        .args(["check", "relay", "--timeout", "60", "--only", "relay.shape"])
        .args(["--sandbox", "none"])
        .args(options)
        .arg("--")
        .arg(stalling_relay())
        .arg(dir);
    command
}

/// The process groups of the targets run so far: each run's pid, as it recorded it.
fn target_groups(dir: &Path) -> Vec<Pid> {
    std::fs::read_to_string(dir.join("runs"))
        .unwrap_or_default()
        .lines()
        .map(|pid| Pid::from_raw(pid.parse().expect("a pid")))
        .collect()
}

/// Waits until the target has run `runs` times, while `child` runs: the
/// third run of the stalling relay is its second property's, which waits
/// out the time bound, so that property is then in flight.
fn wait_for_runs(dir: &Path, runs: usize, child: &mut Child) {
    while target_groups(dir).len() < runs {
        assert!(child.try_wait().unwrap().is_none(), "the run is under way");
        // Pacing only: the wait ends on what the target wrote.
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Asserts that no process is left in any of `groups`.
fn assert_gone(groups: &[Pid]) {
    assert!(!groups.is_empty(), "the target ran");
    for &group in groups {
        let left: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter(|stat| {
                let fields: Vec<&str> = stat
                    .rsplit(')')
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .collect();
                fields[2] == group.to_string()
            })
            .collect();
        assert_eq!(
            killpg(group, None),
            Err(Errno::ESRCH),
            "process group {group} is gone: {left:?}"
        );
    }
}

#[test]
fn check_prints_each_verdict_as_it_ends_when_stdout_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut out) = start(&mut stalling_check(dir.path(), &[]));
    assert!(line(&mut out).starts_with("relay "), "the report's header");
    let first = line(&mut out);
    assert!(
        first.contains("✓ pass  relay.shape.pipe-carries-stdin"),
        "{first}"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first verdict came while the check still runs (its second property waits a minute)"
    );
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    child.wait().unwrap();
    assert_gone(&target_groups(dir.path()));
}

#[rstest]
#[case::sigterm(Signal::SIGTERM)]
#[case::sigint(Signal::SIGINT)]
fn check_stopped_prints_the_results_so_far_and_the_property_in_flight(#[case] signal: Signal) {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut out) = start(&mut stalling_check(dir.path(), &[]));
    line(&mut out);
    assert!(line(&mut out).contains("relay.shape.pipe-carries-stdin"));
    wait_for_runs(dir.path(), 3, &mut child);
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();

    assert_eq!(status.code(), Some(130), "stdout: {rest}\nstderr: {stderr}");
    let mut lines = rest.lines();
    let in_flight = lines.next().unwrap_or_default();
    assert!(
        in_flight.contains("! ERROR relay.shape.one-end-each"),
        "{rest}"
    );
    assert!(
        lines.next().is_some_and(
            |l| l.contains("error:    stopped during this property: the run was interrupted")
        ),
        "{rest}"
    );
    assert_eq!(
        lines.next(),
        Some("  1 passed, 0 failed, 0 skipped, 1 errors"),
        "{rest}"
    );
    assert!(
        stderr.contains("ipcspec: interrupted during relay.shape.one-end-each (")
            && stderr.contains("every target was killed"),
        "{stderr}"
    );
    assert_gone(&target_groups(dir.path()));
}

#[test]
fn check_stopped_writes_its_report_files_marked_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let report = ["--report".into(), format!("json:{}", json.display())];
    let (mut child, mut out) = start(&mut stalling_check(dir.path(), &report));
    line(&mut out);
    line(&mut out);
    wait_for_runs(dir.path(), 3, &mut child);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["exit_code"], 130);
    let report = &doc["reports"][0];
    assert_eq!(report["interrupted"], true);
    let verdicts: Vec<_> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("relay.shape.pipe-carries-stdin", "pass"),
            ("relay.shape.one-end-each", "error")
        ]
    );
}

#[test]
fn grade_stopped_prints_what_it_graded_and_names_what_was_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let relays = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/relays");
    let manifest = dir.path().join("grade.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"
[[submission]]
name = "correct"
profile = "relay"
dir = "{relays}"
run = ["./cat-pipe-cat.sh"]

[[submission]]
name = "stalls"
profile = "relay"
dir = "{relays}"
run = ["{stalls}", "{dir}"]
"#,
            relays = relays.display(),
            stalls = stalling_relay().display(),
            dir = dir.path().display(),
        ),
    )
    .unwrap();
    let mut command = ipcspec();
    command
        .args([
            "grade",
            "--jobs",
            "1",
            "--timeout",
            "60",
            "--only",
            "relay.shape",
            "--sandbox",
            "none",
        ])
        .arg("--out")
        .arg(dir.path().join("grades"))
        .arg(&manifest);
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ipcspec runs");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    assert!(line(&mut stderr).starts_with("[1/2] correct: pass"));
    // One job: the second submission is under way once the first is done.
    wait_for_runs(dir.path(), 3, &mut child);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();

    assert_eq!(status.code(), Some(130), "stdout: {stdout}\nstderr: {rest}");
    assert!(
        stdout.lines().any(|l| l.starts_with("correct ")),
        "{stdout}"
    );
    assert!(!stdout.contains("stalls"), "{stdout}");
    assert!(
        rest.contains("interrupted while grading stalls: 1 of 2 submissions graded"),
        "{rest}"
    );
    assert!(!dir.path().join("grades/summary.csv").exists());
    assert_gone(&target_groups(dir.path()));
}
