//! `cargo bench`: the wall time of each `check` the README budgets, and
//! whether its verdict holds, run through the release-built `ipcspec`
//! binary exactly as a user runs it.
//!
//! Two families of scenarios:
//! - the checks users run: the kernel, the references, third-party servers
//!   and shells, and grading a class; each must conform;
//! - `fixture ...`: every program of the kill matrix
//!   (`tests/conformance/killers/`), each of which must fail exactly the
//!   properties the matrix names for it. Run many times in a row, with and
//!   without CPU load, this is the stability run of every broken fixture.
//!
//! `cargo bench` runs every scenario; `cargo bench -- PATTERN` only those
//! whose name contains PATTERN (`cargo bench -- fixture` for the kill
//! matrix, `-- fixture/server` for its servers); `IPCSPEC_BENCH_RUNS` sets
//! the runs per scenario (default 3). The output is a Markdown table (best,
//! median and worst wall time, and how many runs gave the expected verdict:
//! the exit code and, for a check, the exact set of failing property IDs),
//! which is what the README quotes. The bench exits 1 if any run's verdict
//! differed from what was expected.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/support/mod.rs"]
mod support;

// The bench uses the killers' table only, not the harness's checks.
#[allow(dead_code)]
#[path = "../tests/conformance/killers/mod.rs"]
mod killers;

use ipcspec::report::ExitCode;
use ipcspec::spec::server::REFERENCE_VARIANTS;
use ipcspec::spec::Profile;

const BIN: &str = env!("CARGO_BIN_EXE_ipcspec");

/// One benchmarked command line and the verdict it must give every time.
struct Scenario {
    name: String,
    args: Vec<String>,
    /// The properties that must fail (empty: the target conforms).
    fails: BTreeSet<String>,
}

/// What one run gave: the exit code and, for a check, the failing IDs.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Outcome {
    exit: i32,
    failed: BTreeSet<String>,
}

impl Scenario {
    fn conforms(name: &str, args: &str) -> Scenario {
        Scenario {
            name: name.to_string(),
            args: args
                .split_whitespace()
                .map(|a| a.replace("IPCSPEC", BIN))
                .collect(),
            fails: BTreeSet::new(),
        }
    }

    fn failing(mut self, ids: &[&str]) -> Scenario {
        self.fails = ids.iter().map(|id| id.to_string()).collect();
        self
    }

    fn is_check(&self) -> bool {
        self.args.first().is_some_and(|a| a == "check")
    }

    fn expected(&self) -> Outcome {
        Outcome {
            exit: i32::from(if self.fails.is_empty() {
                ExitCode::Conforms
            } else {
                ExitCode::Failed
            }),
            failed: self.fails.clone(),
        }
    }

    fn run_once(&self) -> (Duration, Outcome) {
        let mut args = self.args.clone();
        if self.is_check() {
            // A JSON report names the failing properties; options go before `--`.
            let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
            args.splice(at..at, ["--format".to_string(), "json".to_string()]);
        }
        let started = Instant::now();
        let output = Command::new(BIN)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .output()
            .expect("the ipcspec binary runs");
        let elapsed = started.elapsed();
        let failed = if self.is_check() {
            failing(&output.stdout)
        } else {
            BTreeMap::new()
        };
        let exit = output.status.code().unwrap_or(-1);
        let outcome = Outcome {
            exit,
            failed: failed.keys().cloned().collect(),
        };
        // A verdict other than expected is what a stability run is for: keep what was seen.
        if outcome != self.expected() {
            for (id, observed) in failed.iter().filter(|(id, _)| !self.fails.contains(*id)) {
                eprintln!("{}: unexpected {id}: {observed}", self.name);
            }
        }
        (elapsed, outcome)
    }
}

/// The IDs that failed, hung or erred in a JSON report, each with what was
/// observed (a skip is a property declared inapplicable up front: the
/// reference pipe's SIGPIPE).
fn failing(json: &[u8]) -> BTreeMap<String, String> {
    let Ok(report) = serde_json::from_slice::<serde_json::Value>(json) else {
        return BTreeMap::from([("<no JSON report>".to_string(), String::new())]);
    };
    report["reports"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["results"].as_array().into_iter().flatten())
        .filter(|result| !matches!(result["verdict"].as_str(), Some("pass" | "skip")))
        .filter_map(|result| {
            let observed = result["observed"].as_str().unwrap_or_default().to_string();
            Some((result["id"].as_str()?.to_string(), observed))
        })
        .collect()
}

/// The checks users run, profile by profile (the `match` makes a new
/// profile say what its scenarios are), then grading a class.
fn scenarios() -> Vec<Scenario> {
    let mut all: Vec<Scenario> = Profile::ALL
        .into_iter()
        .flat_map(reference_scenarios)
        .collect();
    all.push(Scenario::conforms(
        "grade a class: 20 C servers (grading/servers.toml)",
        "grade fixtures/grading/servers.toml --out target/bench-grades",
    ));
    all
}

/// The kernel, the references and third-party programs `check NAME` must pass.
fn reference_scenarios(profile: Profile) -> Vec<Scenario> {
    match profile {
        Profile::Pipe => vec![Scenario::conforms(
            "check pipe (kernel + reference)",
            "check pipe",
        )],
        Profile::Socket => vec![Scenario::conforms("check socket (kernel)", "check socket")],
        Profile::Server => server_scenarios(),
        Profile::Client => vec![Scenario::conforms(
            "check client (reference)",
            "check client -- IPCSPEC client --host {host} --port {port}",
        )],
        Profile::Relay => vec![Scenario::conforms(
            "check relay (reference)",
            "check relay -- IPCSPEC relay",
        )],
        Profile::Http => http_scenarios(),
        Profile::Shell => ["bash", "dash", "busybox sh", "IPCSPEC shell"]
            .into_iter()
            .map(|shell| {
                let label = shell.replace("IPCSPEC", "ipcspec");
                Scenario::conforms(
                    &format!("check shell ({label})"),
                    &format!("check shell -- {shell}"),
                )
            })
            .collect(),
    }
}

fn server_scenarios() -> Vec<Scenario> {
    let mut all = Vec::new();
    for variant in REFERENCE_VARIANTS {
        all.push(Scenario::conforms(
            &format!("check server {variant} (reference, tcp)"),
            &format!("check server --variant {variant} -- IPCSPEC serve --variant {variant} --port {{port}}"),
        ));
    }
    all.push(Scenario::conforms(
        "check server thread (reference, unix)",
        "check server --variant thread -- IPCSPEC serve --variant thread --unix {socket}",
    ));
    all.push(
        Scenario::conforms(
            "check server sequential (reference thread, rejected)",
            "check server --variant sequential -- IPCSPEC serve --variant thread --port {port}",
        )
        .failing(&["server.concurrency.one-at-a-time"]),
    );
    all.push(Scenario::conforms(
        "check server fork (socat)",
        "check server --variant fork -- socat TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork EXEC:cat",
    ));
    // The stock ForkingTCPServer keeps the listener in every child (rejected,
    // and in the kill matrix); the benchmark times the one that closes it.
    for (variant, script) in [
        ("thread", "thread_server.py"),
        ("fork", "fork_server_closes_listener.py"),
    ] {
        all.push(Scenario::conforms(
            &format!("check server {variant} (Python socketserver)"),
            &format!(
                "check server --variant {variant} -- python3 fixtures/servers/{script} {{port}}"
            ),
        ));
    }
    all
}

fn http_scenarios() -> Vec<Scenario> {
    let mut all: Vec<Scenario> = REFERENCE_VARIANTS
        .iter()
        .map(|variant| {
            Scenario::conforms(
                &format!("check http {variant} (reference, tcp)"),
                &format!("check http --variant {variant} -- IPCSPEC serve http --variant {variant} --port {{port}} --files {{dir}}"),
            )
        })
        .collect();
    // Their deviations, explained in tests/conformance/killers/http.rs.
    all.push(
        Scenario::conforms(
            "check http thread (python3 -m http.server)",
            "check http --variant thread -- python3 -m http.server --bind 127.0.0.1 {port} --directory {dir}",
        )
        .failing(&[
            "http.request.malformed",
            "http.path.no-traversal",
            "server.hostile.emfile",
        ]),
    );
    all.push(
        Scenario::conforms(
            "check http fork (busybox httpd)",
            "check http --variant fork -- busybox httpd -f -p 127.0.0.1:{port} -h {dir}",
        )
        .failing(&[
            "http.head.no-body",
            "http.dir.listing",
            "http.path.no-traversal",
        ]),
    );
    all
}

/// The programs of the kill matrix whose scenario name is `wanted`, each
/// expected to fail exactly its properties.
fn fixtures(wanted: &dyn Fn(&str) -> bool) -> Vec<Scenario> {
    let refs = support::refs();
    killers::all()
        .iter()
        .filter_map(|killer| {
            let name = format!("fixture {}", killer.name);
            if !wanted(&name) {
                return None;
            }
            Some(Scenario {
                name,
                args: killer.command_line(&refs)?,
                fails: killer.kills.iter().map(|id| id.to_string()).collect(),
            })
        })
        .collect()
}

/// How long the `python3` on `PATH` takes to start and exit (median of 5
/// runs of `python3 -c pass`): a Python target's checks start it once a
/// property, so its figures depend on the interpreter's start as much as on
/// ipcspec (a pyenv shim, or site hooks, can triple it).
fn python_start() -> String {
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let ran = Command::new("python3")
            .args(["-c", "pass"])
            .stdin(Stdio::null())
            .status();
        match ran {
            Ok(status) if status.success() => times.push(started.elapsed()),
            _ => return "python3 on PATH: does not run".to_string(),
        }
    }
    times.sort();
    format!(
        "python3 on PATH starts in {:.0} ms (median of 5 runs of `python3 -c pass`)",
        times[2].as_secs_f64() * 1e3
    )
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
        .unwrap_or(3)
        .max(1);
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    // Fixtures are compiled only when they run, and before any timing.
    let mut chosen: Vec<Scenario> = scenarios()
        .into_iter()
        .filter(|s| wanted(&s.name))
        .collect();
    chosen.extend(fixtures(&wanted));
    println!("{}", python_start());
    println!();
    println!("| scenario | best (s) | median (s) | worst (s) | verdict |");
    println!("|---|---:|---:|---:|---|");
    let mut deviations = 0;
    for scenario in chosen {
        let expected = scenario.expected();
        let mut times = Vec::new();
        let mut outcomes: BTreeMap<Outcome, usize> = BTreeMap::new();
        for _ in 0..runs {
            let (elapsed, outcome) = scenario.run_once();
            times.push(elapsed);
            *outcomes.entry(outcome).or_default() += 1;
        }
        times.sort();
        let as_expected = outcomes.get(&expected).copied().unwrap_or(0);
        let verdict = if as_expected == runs {
            format!("{runs}/{runs} as expected")
        } else {
            deviations += runs - as_expected;
            let seen: Vec<String> = outcomes
                .iter()
                .map(|(o, n)| format!("{n}× exit {} failing {:?}", o.exit, o.failed))
                .collect();
            format!("**{as_expected}/{runs} as expected**: {}", seen.join("; "))
        };
        let secs = |d: Duration| d.as_secs_f64();
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {verdict} |",
            scenario.name,
            secs(times[0]),
            secs(times[times.len() / 2]),
            secs(times[times.len() - 1]),
        );
    }
    if deviations > 0 {
        eprintln!("{deviations} run(s) gave another verdict than expected");
        std::process::exit(ExitCode::Failed.into());
    }
}
