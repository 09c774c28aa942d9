//! `cargo bench --bench sandbox`: what the sandbox costs and that it
//! changes no verdict. Each target's whole `check server` runs
//! `IPCSPEC_BENCH_RUNS` times (default 5; 20 for the budget) with
//! `--sandbox strict` and with `--sandbox none`, one after the other, so
//! both meet the same machine load. It prints a Markdown table: the median
//! wall time of each, their ratio, and whether every run in both modes gave
//! the same verdict on every property. It exits 1 if one did not. Needs
//! root, as the sandbox does.

use std::process::Command;
use std::time::{Duration, Instant};

#[path = "../tests/support/mod.rs"]
mod support;

const BIN: &str = env!("CARGO_BIN_EXE_ipcspec");

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
            vec!["python3".into(), script, "{port}".into()],
        ),
    ]
}

/// One run: its wall time and each property's ID and verdict kind.
fn run(mode: &str, variant: &str, command: &[String]) -> (Duration, Vec<String>) {
    let started = Instant::now();
    let mut check = Command::new(BIN);
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
    println!("| target | none, median (s) | strict, median (s) | strict / none | verdicts the same in {runs} runs of each |");
    println!("|---|---:|---:|---:|---|");
    let mut differed = false;
    for (name, variant, command) in targets() {
        let (mut none, mut strict, mut seen) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            for (mode, times) in [("none", &mut none), ("strict", &mut strict)] {
                let (elapsed, verdicts) = run(mode, variant, &command);
                times.push(elapsed);
                if !seen.contains(&verdicts) {
                    seen.push(verdicts);
                }
            }
        }
        let same = seen.len() == 1;
        differed |= !same;
        let (none, strict) = (median(none), median(strict));
        println!(
            "| {name} | {none:.2} | {strict:.2} | {:.2} | {} |",
            strict / none,
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
