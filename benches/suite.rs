//! `cargo bench`: the wall time of each `check` the README budgets, run
//! through the release-built `ipcspec` binary exactly as a user runs it.
//!
//! `cargo bench -- PATTERN` runs only scenarios whose name contains PATTERN;
//! `IPCSPEC_BENCH_RUNS` sets the runs per scenario (default 3). The output is
//! a Markdown table (best and median of the runs, and the exit codes seen),
//! which is what the README quotes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ipcspec");

/// One benchmarked command line: its name and the arguments after `ipcspec`.
struct Scenario {
    name: String,
    args: Vec<String>,
}

fn scenario(name: &str, args: &str) -> Scenario {
    Scenario {
        name: name.to_string(),
        args: args
            .split_whitespace()
            .map(|a| a.replace("IPCSPEC", BIN))
            .collect(),
    }
}

fn scenarios() -> Vec<Scenario> {
    let mut all = vec![
        scenario("check pipe (kernel + reference)", "check pipe"),
        scenario("check socket (kernel)", "check socket"),
    ];
    for variant in ["sequential", "fork-wait", "fork", "thread", "pool:4"] {
        all.push(scenario(
            &format!("check server {variant} (reference, tcp)"),
            &format!("check server --variant {variant} -- IPCSPEC serve --variant {variant} --port {{port}}"),
        ));
    }
    all.push(scenario(
        "check server thread (reference, unix)",
        "check server --variant thread -- IPCSPEC serve --variant thread --unix {socket}",
    ));
    all.push(scenario(
        "check server sequential (reference thread, rejected)",
        "check server --variant sequential -- IPCSPEC serve --variant thread --port {port}",
    ));
    all.push(scenario(
        "check server fork (socat)",
        "check server --variant fork -- socat TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork EXEC:cat",
    ));
    // The stock ForkingTCPServer keeps the listener in every child (rejected);
    // the benchmark times the one that closes it, which passes.
    for (variant, script) in [
        ("thread", "thread_server.py"),
        ("fork", "fork_server_closes_listener.py"),
    ] {
        all.push(scenario(
            &format!("check server {variant} (Python socketserver)"),
            &format!(
                "check server --variant {variant} -- python3 fixtures/servers/{script} {{port}}"
            ),
        ));
    }
    all.push(scenario(
        "check client (reference)",
        "check client -- IPCSPEC client --host {host} --port {port}",
    ));
    all.push(scenario(
        "check relay (reference)",
        "check relay -- IPCSPEC relay",
    ));
    for shell in ["bash", "dash", "busybox sh", "IPCSPEC shell"] {
        let name = shell.replace("IPCSPEC", "ipcspec");
        all.push(scenario(
            &format!("check shell ({name})"),
            &format!("check shell -- {shell}"),
        ));
    }
    all.push(scenario(
        "grade 20 C servers (fixtures/grading/servers.toml)",
        "grade fixtures/grading/servers.toml --out target/bench-grades",
    ));
    all
}

fn main() {
    // `cargo bench` passes `--bench`; anything else is a name filter.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let runs: usize = std::env::var("IPCSPEC_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    println!("| scenario | best (s) | median (s) | exit codes |");
    println!("|---|---:|---:|---|");
    for scenario in scenarios() {
        if !filter.is_empty() && !filter.iter().any(|f| scenario.name.contains(f.as_str())) {
            continue;
        }
        let mut times = Vec::new();
        let mut codes = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            let status = Command::new(BIN)
                .args(&scenario.args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("the ipcspec binary runs");
            times.push(started.elapsed());
            codes.push(status.code().unwrap_or(-1));
        }
        times.sort();
        codes.dedup();
        let secs = |d: Duration| d.as_secs_f64();
        println!(
            "| {} | {:.2} | {:.2} | {:?} |",
            scenario.name,
            secs(times[0]),
            secs(times[times.len() / 2]),
            codes
        );
    }
}
