//! `cargo bench --bench grade_scale`: grading a class of generated
//! submissions, for the memory budget (the grading process stays under
//! 1 GiB however many submissions there are) and the time it takes.
//!
//! For each class size (`IPCSPEC_GRADE_SIZES`, default `50,500`) it writes
//! a manifest of that many submissions into a temporary folder — copies of
//! four small relays (`fixtures/relays/*.sh`, correct and broken) and of a
//! Python threaded echo server (`fixtures/servers/thread_server.py`), each
//! under its own name — and runs the release `ipcspec grade` on it with one
//! property per profile (`--only eof`: `relay.eof.exits`,
//! `server.eof.after-half-close`; the grading machinery is what is
//! measured, not the checks). It prints a Markdown table: submissions, wall time, the
//! grading process's peak RSS (`VmHWM` of `/proc/PID/status`, read until it
//! exits), the largest peak RSS of any process it started (`ru_maxrss` of
//! [`getrusage(2)`] `RUSAGE_CHILDREN`, over the sizes run so far: a check
//! or a target), and whether every submission got its row in `summary.csv`
//! (with a verdict: `pass` or `fail`, never `error`) and its `grade.json`.
//! The bench exits 1 if a row is missing or has no verdict, or the grading
//! process's peak RSS reaches 1 GiB.
//!
//! [`getrusage(2)`]: https://man7.org/linux/man-pages/man2/getrusage.2.html

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::resource::{getrusage, UsageWho};

const BIN: &str = env!("CARGO_BIN_EXE_ipcspec");
const BUDGET_KIB: u64 = 1024 * 1024;

/// The programs a generated class is made of: (file, profile, variant, run).
const PROGRAMS: [(&str, &str, Option<&str>, &str); 5] = [
    ("relays/cat-pipe-cat.sh", "relay", None, "./cat-pipe-cat.sh"),
    ("relays/exits-3.sh", "relay", None, "./exits-3.sh"),
    ("relays/swaps-bytes.sh", "relay", None, "./swaps-bytes.sh"),
    ("relays/exec-cat.sh", "relay", None, "./exec-cat.sh"),
    (
        "servers/thread_server.py",
        "server",
        Some("thread"),
        "python3 thread_server.py {port}",
    ),
];

/// Writes `count` submissions under `dir` (one folder each) and their manifest.
fn generate(dir: &Path, count: usize) -> std::path::PathBuf {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut manifest = String::new();
    for i in 0..count {
        let (file, profile, variant, run) = PROGRAMS[i % PROGRAMS.len()];
        let name = format!("student-{i:04}");
        let folder = dir.join("submissions").join(&name);
        std::fs::create_dir_all(&folder).unwrap();
        let source = fixtures.join(file);
        std::fs::copy(&source, folder.join(source.file_name().unwrap())).unwrap();
        let variant = variant
            .map(|v| format!("variant = \"{v}\"\n"))
            .unwrap_or_default();
        manifest += &format!(
            "[[submission]]\nname = \"{name}\"\nprofile = \"{profile}\"\n{variant}dir = \"submissions/{name}\"\nrun = \"{run}\"\n\n"
        );
    }
    let path = dir.join("grade.toml");
    std::fs::write(&path, manifest).unwrap();
    path
}

/// The `VmHWM` of process `pid` in KiB, while it is alive.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

struct Measured {
    wall: Duration,
    grader_kib: u64,
    rows: usize,
    recorded: usize,
}

fn grade(count: usize) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let manifest = generate(dir.path(), count);
    let out = dir.path().join("grades");
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .arg("grade")
        .arg(&manifest)
        .arg("--out")
        .arg(&out)
        .args(["--format", "csv", "--only", "eof"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the ipcspec binary runs");
    let mut grader_kib = 0;
    // VmHWM only grows: its last reading before the exit is the peak, to within one interval.
    while child.try_wait().unwrap().is_none() {
        grader_kib = grader_kib.max(peak_rss_kib(child.id()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(100));
    }
    let wall = started.elapsed();
    let rows = csv::Reader::from_path(out.join("summary.csv"))
        .map(|mut r| {
            r.records()
                .filter_map(Result::ok)
                .filter(|row| matches!(&row[3], "pass" | "fail"))
                .count()
        })
        .unwrap_or(0);
    let recorded = (0..count)
        .filter(|i| out.join(format!("student-{i:04}/grade.json")).is_file())
        .count();
    Measured {
        wall,
        grader_kib,
        rows,
        recorded,
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::var("IPCSPEC_GRADE_SIZES")
        .unwrap_or_else(|_| "50,500".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!("| submissions | wall time (s) | grader peak RSS (MiB) | largest child peak RSS (MiB) | rows |");
    println!("|---:|---:|---:|---:|---|");
    let mut bad = false;
    for count in sizes {
        let m = grade(count);
        let children = getrusage(UsageWho::RUSAGE_CHILDREN).map_or(0, |u| u.max_rss());
        let complete = m.rows == count && m.recorded == count;
        bad |= !complete || m.grader_kib >= BUDGET_KIB;
        println!(
            "| {count} | {:.1} | {:.1} | {:.1} | {}/{count} with a verdict in summary.csv, {}/{count} grade.json |",
            m.wall.as_secs_f64(),
            m.grader_kib as f64 / 1024.0,
            children as f64 / 1024.0,
            m.rows,
            m.recorded,
        );
    }
    if bad {
        eprintln!("a submission lacks its row or a verdict, or grading reached the 1 GiB budget");
        std::process::exit(1);
    }
}
