//! The whole spec as named tests: `cargo test --test conformance`.
//!
//! Both directions of the spec are checked here: every property passes on
//! the kernel and the references, and every property fails on a broken
//! implementation made to break it — the kill matrix of [`killers`], one
//! test `kill::NAME` per killer and `kill::every-property-has-a-killer`.
//!
//! Every applicable property of every reference suite (the kernel and the
//! built-in references, for every profile) becomes one test named
//! `ID::LABEL`, e.g. `pipe.eof.after-last-writer::kernel` (`ID::target` for
//! the program `IPCSPEC_TARGET` names, relative to the crate's root), so
//! `cargo test --test conformance -- eof` filters as users expect and
//! `cargo nextest run --test conformance` partitions and reports them like
//! any other test. A failing check fails its test with the human
//! explanation and the command that replays it. A property a suite declares
//! inapplicable (the reference pipe raises no SIGPIPE) is no test at all;
//! any other skip would be a check that decided nothing, and fails.
//!
//! Environment variables point the same tests at any program instead:
//!
//! | variable           | meaning                                                        |
//! |--------------------|----------------------------------------------------------------|
//! | `IPCSPEC_TARGET`   | the command to check, split like a shell (`./echo {port}`)     |
//! | `IPCSPEC_PROFILE`  | its profile (`server`, `client`, `relay`, `shell`); without a target, only this profile's references |
//! | `IPCSPEC_VARIANT`  | the variant the target claims (`fork`, `pool:4`, ...)          |
//! | `IPCSPEC_SEED`     | the seed of the random workloads                               |
//! | `IPCSPEC_CASES`    | random cases per randomized property                           |
//! | `IPCSPEC_TIMEOUT`  | the bound, in seconds, on any single wait                      |
//!
//! An invalid combination stops the run with one line on stderr and exit 2.
//!
//! Each test runs in a process of its own, as under nextest: checks fork
//! inside the process that runs them, and a child forked for one check
//! would inherit the pipe ends another check holds open, so that its EOF
//! never comes. The harness re-executes itself for each test
//! (`IPCSPEC_CONFORMANCE_TEST=NAME` marks the child, which runs that one
//! test and exits 0 or 1), keeps the child's output and shows it when the
//! test fails. So tests run in parallel, two per core unless
//! `--test-threads N` or `RUST_TEST_THREADS` say otherwise
//! (`support::test_threads`);
//! under nextest, which already gives each test a process, a test runs in
//! the process nextest started. Run as root, that process has a network
//! namespace of its own (loopback alone): no other test's sockets crowd the
//! `/proc/net/tcp` its observations parse, which made a run a third faster.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use libtest_mimic::{Arguments, Failed, Trial};

#[path = "../support/mod.rs"]
mod support;

mod killers;

use ipcspec::report::{explanation, ExitCode};
use ipcspec::spec::{self, Ctx, Profile, PropertyResult, References, Suite, Verdict};
use ipcspec::target::command::shell_quote;
use ipcspec::target::CommandSpec;

/// The variables this harness reads, in the order a replay line sets them.
const VARIABLES: [&str; 6] = [
    "IPCSPEC_TARGET",
    "IPCSPEC_PROFILE",
    "IPCSPEC_VARIANT",
    "IPCSPEC_SEED",
    "IPCSPEC_CASES",
    "IPCSPEC_TIMEOUT",
];

/// Marks a child process that runs one test, named by the value.
const CHILD: &str = "IPCSPEC_CONFORMANCE_TEST";

fn main() {
    support::python_without_shims();
    let in_own_process =
        std::env::var("NEXTEST_EXECUTION_MODE").is_ok_and(|mode| mode == "process-per-test");
    let alone = in_own_process || std::env::var(CHILD).is_ok();
    if alone {
        // No port another test just used, either.
        support::private_network_if_root();
    }
    let tests = match tests() {
        Ok(tests) => tests,
        Err(message) => {
            eprintln!("ipcspec conformance: {message}");
            std::process::exit(ExitCode::Unusable.into());
        }
    };
    if let Ok(name) = std::env::var(CHILD) {
        std::process::exit(run_alone(tests, &name));
    }
    let mut args = Arguments::from_args();
    args.test_threads = args.test_threads.or_else(|| Some(support::test_threads()));
    let trials = tests
        .into_iter()
        .map(|test| {
            if in_own_process {
                Trial::test(test.name, test.run)
            } else {
                let name = test.name.clone();
                Trial::test(test.name, move || in_child(&name))
            }
        })
        .collect();
    libtest_mimic::run(&args, trials).exit()
}

/// A named test and how to run it in this process.
struct Test {
    name: String,
    run: Box<dyn FnOnce() -> Result<(), Failed> + Send>,
}

impl Test {
    fn new(name: String, run: impl FnOnce() -> Result<(), Failed> + Send + 'static) -> Self {
        Test {
            name,
            run: Box::new(run),
        }
    }
}

/// Runs the test `name` here, as the child [`in_child`] started: its
/// failure on stderr, and the exit status says whether it passed.
fn run_alone(tests: Vec<Test>, name: &str) -> i32 {
    let Some(test) = tests.into_iter().find(|t| t.name == name) else {
        eprintln!("ipcspec conformance: no test is named `{name}`");
        return 2;
    };
    match (test.run)() {
        Ok(()) => 0,
        Err(failed) => {
            eprintln!("{}", failed.message().unwrap_or("failed"));
            1
        }
    }
}

/// Runs the test `name` in a child process, this same executable; its
/// output is the failure's message.
fn in_child(name: &str) -> Result<(), Failed> {
    let exe = std::env::current_exe().map_err(|e| format!("the harness's own path: {e}"))?;
    let output = Command::new(&exe)
        .env(CHILD, name)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("run {} for {name}: {e}", exe.display()))?;
    if output.status.success() {
        return Ok(());
    }
    let mut message = String::from_utf8_lossy(&output.stderr).into_owned();
    message.push_str(&String::from_utf8_lossy(&output.stdout));
    if output.status.code() != Some(1) {
        message.push_str(&format!(
            "\nthe test's process ended with {}",
            output.status
        ));
    }
    Err(message.trim_end().into())
}

/// The profiles' names, as a list for people: `a, b, c` or `a, b or c`.
fn names(profiles: impl Iterator<Item = Profile>, last: &str) -> String {
    let names: Vec<_> = profiles.map(Profile::name).collect();
    match names.split_last() {
        Some((final_name, [])) => final_name.to_string(),
        Some((final_name, rest)) => format!("{}{last}{final_name}", rest.join(", ")),
        None => String::new(),
    }
}

/// A variable's value; an empty one counts as unset.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parsed<T: std::str::FromStr>(name: &str, what: &str) -> Result<Option<T>, String> {
    var(name)
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| format!("{name}=`{v}` is not {what}"))
        })
        .transpose()
}

fn tests() -> Result<Vec<Test>, String> {
    let profile = var("IPCSPEC_PROFILE")
        .map(|p| {
            Profile::from_str(&p, true).map_err(|_| {
                format!(
                    "IPCSPEC_PROFILE=`{p}` is not a profile ({})",
                    names(Profile::ALL.into_iter(), ", ")
                )
            })
        })
        .transpose()?;
    let variant = var("IPCSPEC_VARIANT");
    let mut ctx = Ctx::default();
    if let Some(seed) = parsed("IPCSPEC_SEED", "a number")? {
        ctx.seed = seed;
    }
    if let Some(cases) = parsed("IPCSPEC_CASES", "a number of cases")? {
        ctx.cases = cases;
    }
    if let Some(seconds) = parsed::<f64>("IPCSPEC_TIMEOUT", "a number of seconds")? {
        if !(seconds > 0.0 && seconds.is_finite()) {
            return Err(format!(
                "IPCSPEC_TIMEOUT=`{seconds}` is not a positive number of seconds"
            ));
        }
        ctx.timeout = Duration::from_secs_f64(seconds);
    }
    let refs = References {
        bin: env!("CARGO_BIN_EXE_ipcspec").into(),
    };
    let target = var("IPCSPEC_TARGET").is_some();
    let suites = match var("IPCSPEC_TARGET") {
        Some(line) => {
            let profile = profile.ok_or_else(|| {
                format!(
                    "IPCSPEC_TARGET needs IPCSPEC_PROFILE ({})",
                    names(Profile::gradable(), " or ")
                )
            })?;
            let argv =
                shell_words::split(&line).map_err(|e| format!("IPCSPEC_TARGET=`{line}`: {e}"))?;
            let command = CommandSpec::new(&argv).map_err(|e| format!("IPCSPEC_TARGET: {e}"))?;
            vec![
                spec::target_suite(profile, command, variant.as_deref(), &refs)
                    .map_err(|e| e.to_string())?,
            ]
        }
        None => {
            if variant.is_some() {
                return Err(
                    "IPCSPEC_VARIANT needs IPCSPEC_TARGET: it is the variant the target claims"
                        .into(),
                );
            }
            // Kernel and references must never fail: keep what proptest finds there forever.
            ctx.regressions =
                Some(concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions").into());
            Profile::ALL
                .into_iter()
                .filter(|p| profile.is_none_or(|wanted| wanted == *p))
                .flat_map(|p| spec::reference_suites(p, &refs))
                .collect()
        }
    };
    let mut tests = Vec::new();
    if !target {
        // What a killer fails is expected: nothing to keep for replay.
        let ctx = Ctx {
            regressions: None,
            ..ctx.clone()
        };
        tests.extend(kill_matrix(&refs, &ctx));
    }
    for suite in suites.into_iter().map(Arc::new) {
        for index in 0..suite.checks.len() {
            if suite.checks[index].not_applicable.is_some() {
                continue;
            }
            let label = if target { "target" } else { &suite.label };
            let name = trial_name(suite.checks[index].meta.id, label);
            let (suite, ctx) = (suite.clone(), ctx.clone());
            tests.push(Test::new(name.clone(), move || {
                run(&suite, index, &ctx, &name)
            }));
        }
    }
    Ok(tests)
}

/// One test per killer, and one that every property of the catalog has one.
fn kill_matrix(refs: &References, ctx: &Ctx) -> Vec<Test> {
    let killers = Arc::new(killers::all());
    let coverage = {
        let killers = killers.clone();
        Test::new("kill::every-property-has-a-killer".into(), move || {
            let (unkilled, unknown) = killers::coverage(&killers);
            if unkilled.is_empty() && unknown.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "properties no killer fails: {unkilled:?}; killers name unknown IDs: {unknown:?}"
                )
                .into())
            }
        })
    };
    let mut tests = vec![coverage];
    for index in 0..killers.len() {
        let (killers, refs, ctx) = (killers.clone(), refs.clone(), ctx.clone());
        let name = format!("kill::{}", killers[index].name);
        tests.push(Test::new(name, move || {
            killers[index].check(&refs, &ctx).map_err(Failed::from)
        }));
    }
    tests
}

/// `ID::LABEL` (`ID::target` for `IPCSPEC_TARGET`), with the label's blanks
/// made dashes so that every test runner passes the name around as one word.
fn trial_name(id: &str, label: &str) -> String {
    let label: String = label.split_whitespace().collect::<Vec<_>>().join("-");
    format!("{id}::{label}")
}

fn run(suite: &Suite, index: usize, ctx: &Ctx, name: &str) -> Result<(), Failed> {
    let check = &suite.checks[index];
    let started = Instant::now();
    let verdict = Verdict::from(check.check(ctx));
    match verdict {
        Verdict::Pass => Ok(()),
        verdict => {
            let result = PropertyResult {
                meta: check.meta,
                verdict,
                seconds: started.elapsed(),
                replay: Some(replay(ctx, name)),
            };
            Err(format!("{}\n{}", suite.label, explanation(&result)).into())
        }
    }
}

/// The command that reruns one test with the same workload.
fn replay(ctx: &Ctx, name: &str) -> String {
    let mut words: Vec<String> = VARIABLES
        .iter()
        .filter(|&&v| v != "IPCSPEC_SEED")
        .filter_map(|&v| var(v).map(|value| format!("{v}={}", shell_quote(&value))))
        .collect();
    words.insert(0, format!("IPCSPEC_SEED={}", ctx.seed));
    words.push(format!(
        "cargo test --test conformance -- --exact {}",
        shell_quote(name)
    ));
    words.join(" ")
}
