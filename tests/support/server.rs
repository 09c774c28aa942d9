//! Shared by the server tests: a way to run a server suite through the
//! library and read its verdicts (fixtures are built by `support`).

#![allow(dead_code)] // Each test file uses part of this module.

use std::path::{Path, PathBuf};

use ipcspec::report::Report;
use ipcspec::spec::{self, Ctx, Profile, Selection, Verdict};
use ipcspec::target::CommandSpec;

/// The fixture sources.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/servers")
}

/// `argv` as the tests run it: a Python fixture, `python3 SCRIPT ARGS...`,
/// becomes `python3 -S DIR/SCRIPT ARGS...` ([`crate::support::PYTHON`]),
/// the script found in [`fixtures`]; any other command stays as it is.
pub fn resolve_python(argv: &[&str]) -> Vec<String> {
    match argv {
        ["python3", script, rest @ ..] => crate::support::PYTHON
            .iter()
            .map(|word| word.to_string())
            .chain([fixtures().join(script).display().to_string()])
            .chain(rest.iter().map(|arg| arg.to_string()))
            .collect(),
        _ => argv.iter().map(|arg| arg.to_string()).collect(),
    }
}

/// Runs `argv` as a server claiming `variant`, on the properties `only` selects.
pub fn check(argv: &[impl AsRef<str>], variant: &str, only: &[&str]) -> Report {
    check_as(Profile::Server, argv, variant, only)
}

/// Runs `argv` as a `profile` target (server or http) claiming `variant`,
/// on the properties `only` selects.
pub fn check_as(
    profile: Profile,
    argv: &[impl AsRef<str>],
    variant: &str,
    only: &[&str],
) -> Report {
    let argv: Vec<String> = argv.iter().map(|s| s.as_ref().to_string()).collect();
    let command = CommandSpec::new(&argv).expect("a command");
    let suite = spec::target_suite(profile, command, Some(variant), &crate::support::refs())
        .expect("a valid request");
    let selection = Selection {
        only: only.iter().map(|s| s.to_string()).collect(),
    };
    crate::support::in_private_network(|| suite.run(&Ctx::default(), &selection, None))
}

/// Asserts that every `profile` property but those `passing` names failed
/// or hung, none decided by waiting out a time bound, and that those
/// `passing` names passed: a server that cannot serve is found out by
/// observation, so its check is as quick as a correct one's (the time it
/// takes is measured by `cargo bench --bench suite`, never by a test).
pub fn assert_every_property_fails_by_observation(
    report: &Report,
    profile: Profile,
    passing: &[&str],
) {
    let results: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.meta.profile == profile)
        .collect();
    assert!(!results.is_empty(), "no {} property ran", profile.name());
    for result in results {
        let as_expected = match &result.verdict {
            Verdict::Pass => passing.contains(&result.meta.id),
            Verdict::Fail(f) | Verdict::Hang(f) => {
                !passing.contains(&result.meta.id) && !f.observed.contains(spec::OUT_OF_TIME)
            }
            _ => false,
        };
        assert!(
            as_expected,
            "{}: must fail or hang by observation, or pass if named: {:#?}",
            result.meta.id,
            verdicts(report)
        );
    }
}

/// Every property's ID and verdict name, for assertion messages.
pub fn verdicts(report: &Report) -> Vec<(String, String)> {
    report
        .results
        .iter()
        .map(|r| (r.meta.id.to_string(), describe(&r.verdict)))
        .collect()
}

fn describe(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Pass => "pass".into(),
        Verdict::Skip { reason } => format!("skip: {reason}"),
        Verdict::Error { message } => format!("error: {message}"),
        Verdict::Fail(f) | Verdict::Hang(f) => format!(
            "{}: expected {}; observed {}; threads {:?}; output {:?}",
            verdict.name(),
            f.expected,
            f.observed,
            f.threads,
            f.output
        ),
    }
}

/// Asserts that every property checked passed, but for those declared not
/// applicable up front (the start-up rules over a Unix socket).
pub fn assert_conforms(report: &Report) {
    let bad: Vec<_> = verdicts(report)
        .into_iter()
        .filter(|(_, v)| v != "pass" && !v.starts_with("skip: not applicable: "))
        .collect();
    assert!(!report.results.is_empty(), "no property was checked");
    assert!(bad.is_empty(), "{}: {bad:#?}", report.target);
}
