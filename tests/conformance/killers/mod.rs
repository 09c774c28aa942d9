//! The kill matrix: for every property, a known-broken implementation that
//! the suite must reject, and by exactly which properties.
//!
//! A property no broken program can fail proves nothing, so each one is
//! shown able to fail here. A [`Killer`] is a program (a fixture of
//! `fixtures/`, a script, the reference claiming the wrong variant) or an
//! in-process mutant (pipes, sockets), with the exact set of property IDs
//! it fails or hangs: every other property of its profile must pass on it,
//! so a killer also shows that the rest of the spec does not over-reach.
//! The harness turns each into a test `kill::NAME`, and one test walks the
//! catalog: a property without a killer fails CI.
//!
//! Each profile lists its killers in a module of its own.

mod client;
mod http;
mod pipe;
mod relay;
mod server;
mod shell;
mod socket;

use std::collections::BTreeSet;
use std::path::Path;

use ipcspec::spec::{self, Ctx, Profile, References, Suite, Verdict};
use ipcspec::target::CommandSpec;

use crate::support;

/// A known-broken implementation and what it must fail.
pub struct Killer {
    /// The test's name after `kill::`: `PROFILE/what-is-broken`.
    pub name: &'static str,
    /// The broken implementation.
    pub subject: Subject,
    /// Exactly the properties that fail or hang on it.
    pub kills: &'static [&'static str],
}

/// What a killer runs.
pub enum Subject {
    /// A command checked as `profile`, claiming `variant`. An argument
    /// `fixtures/KIND/NAME.c` is compiled and replaced by the binary, any
    /// other `fixtures/...` by its absolute path, and `{ipcspec}` by the
    /// reference binary. Python runs as `python3 -S` (`support::PYTHON`).
    Command {
        /// The profile it is checked as.
        profile: Profile,
        /// The variant it claims, for servers.
        variant: Option<&'static str>,
        /// Its command line.
        argv: &'static [&'static str],
    },
    /// An in-process implementation: its suite.
    Suite(fn() -> Suite),
}

/// Every killer of every profile.
pub fn all() -> Vec<Killer> {
    Profile::ALL
        .into_iter()
        .flat_map(|profile| match profile {
            Profile::Pipe => pipe::killers(),
            Profile::Socket => socket::killers(),
            Profile::Server => server::killers(),
            Profile::Client => client::killers(),
            Profile::Relay => relay::killers(),
            Profile::Shell => shell::killers(),
            Profile::Http => http::killers(),
        })
        .collect()
}

impl Killer {
    /// The suite that checks this killer.
    pub fn suite(&self, refs: &References) -> Suite {
        match &self.subject {
            Subject::Suite(build) => build(),
            Subject::Command {
                profile,
                variant,
                argv,
            } => {
                let argv: Vec<String> = argv.iter().map(|a| resolve(a, refs)).collect();
                let command = CommandSpec::new(&argv).expect("a killer has a command");
                spec::target_suite(*profile, command, *variant, refs)
                    .unwrap_or_else(|e| panic!("{}: not a valid request: {e}", self.name))
            }
        }
    }

    /// The `ipcspec` arguments that check a program killer the way a user
    /// does (`check PROFILE [--variant V] -- ARGV`); `None` for an
    /// in-process mutant, which only a test can run.
    pub fn command_line(&self, refs: &References) -> Option<Vec<String>> {
        let Subject::Command {
            profile,
            variant,
            argv,
        } = &self.subject
        else {
            return None;
        };
        let mut args = vec!["check".to_string(), profile.name().to_string()];
        if let Some(variant) = variant {
            args.extend(["--variant".to_string(), variant.to_string()]);
        }
        args.push("--".into());
        args.extend(argv.iter().map(|a| resolve(a, refs)));
        Some(args)
    }

    /// Runs every property of the killer's suite; `Err` says how the
    /// properties that failed differ from [`Killer::kills`].
    pub fn check(&self, refs: &References, ctx: &Ctx) -> Result<(), String> {
        let suite = self.suite(refs);
        suite
            .preflight(ctx)
            .map_err(|e| format!("{}: a killer must start: {e}", self.name))?;
        let mut failed = BTreeSet::new();
        let mut evidence = Vec::new();
        for check in suite.checks.iter().filter(|c| c.not_applicable.is_none()) {
            let ctx = ctx.clone();
            let verdict = Verdict::from(check.check(&ctx));
            match &verdict {
                Verdict::Pass => {}
                Verdict::Fail(f) | Verdict::Hang(f) => {
                    failed.insert(check.meta.id);
                    evidence.push(format!(
                        "{} {}: expected {}; observed {}",
                        verdict.name(),
                        check.meta.id,
                        f.expected,
                        f.observed
                    ));
                }
                other => evidence.push(format!("{} {}: {other:?}", other.name(), check.meta.id)),
            }
        }
        let expected: BTreeSet<&str> = self.kills.iter().copied().collect();
        let errors = evidence
            .iter()
            .any(|e| !e.starts_with("fail") && !e.starts_with("hang"));
        if failed == expected && !errors {
            return Ok(());
        }
        let by_hand = match self.command_line(refs) {
            Some(args) => format!("\nby hand: ipcspec {}", shell_words::join(&args)),
            None => String::new(),
        };
        Err(format!(
            "{} must fail exactly {expected:?}; failed {failed:?}\n{}{by_hand}",
            self.name,
            evidence.join("\n")
        ))
    }
}

/// One argument of a killer's command line, made runnable.
fn resolve(arg: &str, refs: &References) -> String {
    if arg == "{ipcspec}" {
        return refs.bin.display().to_string();
    }
    let Some(rest) = arg.strip_prefix("fixtures/") else {
        return arg.to_string();
    };
    match rest.strip_suffix(".c").and_then(|r| r.split_once('/')) {
        Some((kind, name)) => support::built(kind, name).display().to_string(),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(arg)
            .display()
            .to_string(),
    }
}

/// The catalog's IDs that no killer fails, and the killers' IDs that are not in it.
pub fn coverage(killers: &[Killer]) -> (Vec<&'static str>, Vec<String>) {
    let catalog: BTreeSet<&str> = spec::catalog().iter().map(|m| m.id).collect();
    let killed: BTreeSet<&str> = killers
        .iter()
        .flat_map(|k| k.kills.iter().copied())
        .collect();
    let unkilled = catalog.difference(&killed).copied().collect();
    let unknown = killed
        .difference(&catalog)
        .map(|id| id.to_string())
        .collect();
    (unkilled, unknown)
}
