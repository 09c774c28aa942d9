//! `cargo bench --bench sandbox`: what the sandbox costs and that it
//! changes no verdict. Each target's whole `check server` runs
//! `IPCSPEC_BENCH_RUNS` times (default 5; 20 for the budget) in
//! each of three ways, one after the other, so all meet the same machine
//! load: as root with `--sandbox none` and with `--sandbox strict`
//! (targets get a uid of their own), and as `nobody` with `--sandbox
//! strict` (targets get user and pid namespaces). It prints a Markdown
//! table: the median wall time of each, each sandbox's ratio to none, and
//! whether every run gave the same verdict on every property. It exits 1
//! if one did not. Run it as root.

use std::process::Command;
use std::time::{Duration, Instant};

#[path = "../tests/support/mod.rs"]
mod support;

const BIN: &str = env!("CARGO_BIN_EXE_ipcspec");

/// The system's interpreter, which `nobody` may run too (root's `python3`
/// may be a pyenv shim under `/root`), so that every way runs the same one.
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// A target: its name, the variant it claims, its command (empty: the reference).
fn targets() -> Vec<(&'static str, &'static str, Vec<String>)> {
    let c = |name| support::built("servers", name).display().to_string();
    let script = format!(
        "{}/fixtures/servers/thread_server.py",
        env!("CARGO_MANIFEST_DIR")
    );
    vec![
        ("reference thread (tcp + unix)", "thread", Vec::new()),
        ("thread.c", "thread", vec![c("thread"), "{port}".into()]),
        ("fork.c", "fork", vec![c("fork"), "{port}".into()]),
        (
            "strlen.c (broken)",
            "sequential",
            vec![c("strlen"), "{port}".into()],
        ),
        (
            "thread_server.py",
            "thread",
            vec![SYSTEM_PYTHON.into(), script, "{port}".into()],
        ),
    ]
}

/// How a run is made: its sandbox mode, and whether `nobody` runs the checker.
#[derive(Clone, Copy)]
struct Way {
    mode: &'static str,
    unprivileged: bool,
}

const WAYS: [Way; 3] = [
    Way {
        mode: "none",
        unprivileged: false,
    },
    Way {
        mode: "strict",
        unprivileged: false,
    },
    Way {
        mode: "strict",
        unprivileged: true,
    },
];

/// One run: its wall time and each property's ID and verdict kind.
fn run(
    way: Way,
    tmp: &std::path::Path,
    variant: &str,
    command: &[String],
) -> (Duration, Vec<String>) {
    let Way { mode, unprivileged } = way;
    let started = Instant::now();
    let mut check = match unprivileged {
        false => Command::new(BIN),
        true => support::as_nobody(BIN, tmp),
    };
    check.args([
        "check",
        "server",
        "--variant",
        variant,
        "--sandbox",
        mode,
        "--format",
        "json",
    ]);
    if !command.is_empty() {
        check.arg("--").args(command);
    }
    let output = check.output().expect("ipcspec runs");
    let elapsed = started.elapsed();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "no report from {mode} {command:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let verdicts = doc["reports"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["results"].as_array().into_iter().flatten())
        .map(|p| {
            let kind = match &p["verdict"] {
                serde_json::Value::String(kind) => kind.clone(),
                other => other
                    .as_object()
                    .and_then(|o| o.keys().next().cloned())
                    .unwrap_or_default(),
            };
            format!("{} {kind}", p["id"].as_str().unwrap_or_default())
        })
        .collect();
    (elapsed, verdicts)
}

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64()
}

fn main() {
    let runs: usize = std::env::var("IPCSPEC_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
        .max(1);
    let tmp = support::open_temp_dir();
    println!("| target | none, median (s) | strict as root, median (s) | / none | strict as nobody, median (s) | / none | verdicts the same in {runs} runs of each |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    let mut differed = false;
    for (name, variant, command) in targets() {
        let mut times = [Vec::new(), Vec::new(), Vec::new()];
        let mut seen = Vec::new();
        for _ in 0..runs {
            for (way, times) in WAYS.into_iter().zip(&mut times) {
                let (elapsed, verdicts) = run(way, tmp.path(), variant, &command);
                times.push(elapsed);
                if !seen.contains(&verdicts) {
                    seen.push(verdicts);
                }
            }
        }
        let same = seen.len() == 1;
        differed |= !same;
        let [none, root, nobody] = times.map(median);
        println!(
            "| {name} | {none:.2} | {root:.2} | {:.2} | {nobody:.2} | {:.2} | {} |",
            root / none,
            nobody / none,
            if same {
                "yes".to_string()
            } else {
                format!("NO: {} different lists", seen.len())
            }
        );
    }
    if differed {
        std::process::exit(1);
    }
}
