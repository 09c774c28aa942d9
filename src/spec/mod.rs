//! The specification: every property as a value, and the engine that runs them.
//!
//! A [`Property`] pairs a [`Meta`] (stable ID, one-sentence statement, lecture
//! section, profile, variants it applies to) with one check function over a
//! *subject* — a pipe implementation, a server command, a relay, a shell. Each
//! area lists its properties in a `PROPERTIES` slice; the registry of
//! profiles ([`Profile::spec`], in `profile.rs`) says which slice, which
//! suites and which command form belong to each profile, and [`catalog`]
//! gathers their metadata from it. A [`Suite`] binds a subject to the
//! properties that apply to it; [`Suite::run`] turns each outcome into a
//! [`Verdict`], and [`run_each`] runs several suites, several properties at
//! once where none of them [runs alone](Meta::runs_alone). Checks never
//! panic on a bad target: they return a [`Finding`].
//!
//! Randomized checks go through [`Ctx::forall`], which drives proptest with the
//! run's seed, so a failure carries the shrunk counterexample and replays
//! exactly with `--seed`.

pub mod client;
pub mod diff;
mod evidence;
pub mod http;
mod op;
pub mod pipe;
mod profile;
pub mod relay;
mod run;
pub mod server;
pub mod shell;
pub mod socket;

use std::cell::RefCell;
use std::fmt::Debug;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner,
};
use serde::Serialize;

use crate::target::TargetError;

pub use evidence::OUT_OF_TIME;
pub use profile::{Choice, Profile, ProfileSpec, TargetForm, Variants};
pub use run::{plan, run_each, Step};

/// Which variants of its profile a property applies to.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every subject of the profile.
    All,
    /// Only these variants (by kind name: `sequential`, `fork-wait`, `fork`, `thread`, `pool`).
    Only(&'static [&'static str]),
}

impl Scope {
    /// Whether a subject of variant `kind` (None: the profile has no variants) is in scope.
    pub fn covers(self, kind: Option<&str>) -> bool {
        match (self, kind) {
            (Scope::All, _) => true,
            (Scope::Only(kinds), Some(kind)) => kinds.contains(&kind),
            (Scope::Only(_), None) => false,
        }
    }
}

/// What a property is: everything but how it is checked.
#[derive(Debug, Serialize)]
pub struct Meta {
    /// Stable, dotted ID: `area.topic.claim`. Tests and reports use it verbatim.
    pub id: &'static str,
    /// The claim, one sentence.
    pub statement: &'static str,
    /// The lecture section it comes from, by heading.
    pub source: &'static str,
    /// The profile whose subjects it is checked on.
    pub profile: Profile,
    /// The variants of that profile it applies to.
    pub scope: Scope,
}

/// What a source that the lecture does not state starts with; the man
/// pages it cites follow (`beyond the lecture: shutdown(2)`).
pub const BEYOND_THE_LECTURE: &str = "beyond the lecture";

impl Meta {
    /// Where the rule comes from, for people: `lecture: SECTION`, or the
    /// source as written when the lecture does not state the rule.
    pub fn citation(&self) -> String {
        if self.source.starts_with(BEYOND_THE_LECTURE) {
            self.source.to_string()
        } else {
            format!("lecture: {}", self.source)
        }
    }
}

/// The result of one check: `Ok` when the property holds.
pub type Outcome = Result<(), Finding>;

/// A property: its metadata and the one function that checks it on a subject `S`.
pub struct Property<S: ?Sized> {
    /// What the property claims.
    pub meta: Meta,
    /// Checks the claim on a subject.
    pub check: fn(&S, &Ctx) -> Outcome,
}

/// Why a check did not pass.
#[derive(Debug)]
pub enum Finding {
    /// The property does not hold.
    Violated(Failure),
    /// Something the property awaits never happened within the bound.
    Hung(Failure),
    /// The target could not be run at all (bad command, crash at start, ...).
    Broken(TargetError),
}

/// What was expected, what was seen instead, and the evidence.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Failure {
    /// What the property required.
    pub expected: String,
    /// What happened instead.
    pub observed: String,
    /// The minimal input proptest shrank to, when the check was randomized.
    pub counterexample: Option<String>,
    /// Where each thread of the target slept, for hangs and blocking checks.
    pub threads: Option<String>,
    /// The last lines the target printed (stdout and stderr).
    pub output: Vec<String>,
}

impl Finding {
    /// The property was violated: `expected` was required, `observed` was seen.
    pub fn violated(expected: impl Into<String>, observed: impl Into<String>) -> Finding {
        Finding::Violated(Failure {
            expected: expected.into(),
            observed: observed.into(),
            ..Failure::default()
        })
    }

    /// `awaited` never happened; `threads` says where the target's threads sleep.
    pub fn hung(awaited: impl Into<String>, threads: impl Into<String>) -> Finding {
        let threads = threads.into();
        Finding::Hung(Failure {
            expected: awaited.into(),
            observed: evidence::OUT_OF_TIME.into(),
            threads: (!threads.is_empty()).then_some(threads),
            ..Failure::default()
        })
    }

    /// The failure inside, if this finding carries one.
    pub fn failure_mut(&mut self) -> Option<&mut Failure> {
        match self {
            Finding::Violated(f) | Finding::Hung(f) => Some(f),
            Finding::Broken(_) => None,
        }
    }

    /// Attaches the target's last output lines, if this finding carries a failure.
    pub fn with_output(mut self, lines: Vec<String>) -> Finding {
        if let Some(failure) = self.failure_mut() {
            if failure.output.is_empty() {
                failure.output = lines;
            }
        }
        self
    }
}

impl From<TargetError> for Finding {
    fn from(error: TargetError) -> Finding {
        Finding::Broken(error)
    }
}

/// Returns `Ok` when `holds`, else a [`Finding::Violated`] built lazily.
pub fn ensure(
    holds: bool,
    expected: impl FnOnce() -> String,
    observed: impl FnOnce() -> String,
) -> Outcome {
    if holds {
        Ok(())
    } else {
        Err(Finding::violated(expected(), observed()))
    }
}

/// How a run is configured; shared by every check in it.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// Random cases per randomized property.
    pub cases: u32,
    /// The seed every randomized property starts from.
    pub seed: u64,
    /// The bound on any single wait (for a reply, an exit, a wake-up).
    pub timeout: Duration,
    /// Directory for proptest regression files; set only for runs that must
    /// never fail (kernel and reference), so a failure found there is replayed forever.
    pub regressions: Option<PathBuf>,
    /// The ID of the property being checked (set by [`SuiteCheck::check`]).
    pub property: &'static str,
    /// How many smaller inputs a failing randomized property may try while
    /// shrinking: a target quick enough to try them all within
    /// [`Ctx::shrink_time`] shrinks to the same input on every run, so a
    /// replay shows what the report showed.
    pub shrink_steps: u32,
    /// How long a failing property may spend shrinking (`--shrink-time`),
    /// so that a slow target's verdict comes as fast as a quick one's;
    /// reaching it ends shrinking with the smallest failing input so far.
    pub shrink_time: Duration,
}

impl Default for Ctx {
    fn default() -> Ctx {
        Ctx {
            cases: 16,
            seed: DEFAULT_SEED,
            timeout: Duration::from_secs(5),
            regressions: None,
            property: "",
            shrink_steps: 32,
            shrink_time: Duration::from_secs(1),
        }
    }
}

/// The seed used when none is given, so that two runs on the same target agree.
pub const DEFAULT_SEED: u64 = 0x1bc5_bec0;

impl Ctx {
    /// The proptest runner for this run's seed and case count.
    fn runner(&self) -> TestRunner {
        let persistence = self.regressions.as_ref().map(|dir| {
            let file = dir.join(format!("{}.txt", self.property));
            // proptest wants a `&'static str`; one small path per property per run.
            let file: &'static str =
                Box::leak(file.to_string_lossy().into_owned().into_boxed_str());
            Box::new(FileFailurePersistence::Direct(file)) as Box<_>
        });
        let config = Config {
            cases: self.cases.max(1),
            failure_persistence: persistence,
            // `forall` bounds shrinking by time itself, quietly; this is a backstop.
            max_shrink_iters: 1024,
            max_global_rejects: 4096,
            ..Config::default()
        };
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&self.seed.to_le_bytes());
        seed[8..16].copy_from_slice(&fnv1a(self.property.as_bytes()).to_le_bytes());
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed))
    }

    /// Checks `test` on `cases` random inputs from `strategy`; on failure,
    /// shrinks to a minimal input and returns the finding seen on it, with
    /// the input as its counterexample.
    ///
    /// Shrinking tries at most [`Ctx::shrink_steps`] inputs after the first
    /// failure (fewer if [`Ctx::shrink_time`] runs out first), and none
    /// after a [`Finding::Broken`]: every further candidate then counts as
    /// passing, so proptest settles quietly on the smallest failing input
    /// found so far (its own limits would print to stderr).
    pub fn forall<S>(&self, strategy: S, test: impl Fn(&S::Value) -> Outcome) -> Outcome
    where
        S: Strategy,
        S::Value: Debug,
    {
        // proptest keeps the last failing input as the current minimum, so the
        // last finding recorded here belongs to the input it reports.
        let last: RefCell<Option<Finding>> = RefCell::new(None);
        // Once shrinking starts: the steps left, and when its time is up.
        let shrinking: std::cell::Cell<Option<(u32, Instant)>> = std::cell::Cell::new(None);
        let result = self.runner().run(&strategy, |input| {
            if let Some((steps, until)) = shrinking.get() {
                if steps == 0 || Instant::now() >= until {
                    return Ok(());
                }
                shrinking.set(Some((steps - 1, until)));
            }
            match test(&input) {
                Ok(()) => Ok(()),
                Err(finding) => {
                    let reason = finding_summary(&finding);
                    if matches!(finding, Finding::Broken(_)) {
                        shrinking.set(Some((0, Instant::now())));
                    } else if shrinking.get().is_none() {
                        shrinking.set(Some((self.shrink_steps, Instant::now() + self.shrink_time)));
                    }
                    *last.borrow_mut() = Some(finding);
                    Err(TestCaseError::fail(reason))
                }
            }
        });
        match result {
            Ok(()) => Ok(()),
            Err(TestError::Fail(reason, minimal)) => {
                let mut finding = last
                    .into_inner()
                    .unwrap_or_else(|| Finding::violated("the check to pass", reason.to_string()));
                if let Some(failure) = finding.failure_mut() {
                    failure.counterexample = Some(format!("{minimal:#?}"));
                }
                Err(finding)
            }
            // No check rejects a case, so only a strategy that filters too hard gets here.
            Err(TestError::Abort(reason)) => Err(Finding::Broken(TargetError::setup(
                "random inputs for the property",
                std::io::Error::other(reason.to_string()),
            ))),
        }
    }
}

fn finding_summary(finding: &Finding) -> String {
    match finding {
        Finding::Violated(f) => format!("expected {}, was {}", f.expected, f.observed),
        Finding::Hung(f) => format!("hang: awaited {}", f.expected),
        Finding::Broken(e) => e.to_string(),
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A property's verdict in a report.
#[derive(Debug, Serialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Verdict {
    /// The property holds on every case tried.
    Pass,
    /// The property was violated.
    Fail(Failure),
    /// The check waited for something that never happened.
    Hang(Failure),
    /// Not checked, with the reason.
    Skip {
        /// Why the property was not checked.
        reason: String,
    },
    /// The target could not be run for this property.
    Error {
        /// What went wrong, in one line.
        message: String,
    },
}

impl Verdict {
    /// The verdict's one-word name.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail(_) => "fail",
            Verdict::Hang(_) => "hang",
            Verdict::Skip { .. } => "skip",
            Verdict::Error { .. } => "error",
        }
    }

    /// Whether this verdict counts against the target.
    pub fn is_failure(&self) -> bool {
        matches!(self, Verdict::Fail(_) | Verdict::Hang(_))
    }

    /// The failure, for `fail` and `hang`.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Verdict::Fail(f) | Verdict::Hang(f) => Some(f),
            _ => None,
        }
    }
}

impl Verdict {
    /// The verdict with every text in it quoted ([`crate::report::quote`]):
    /// any of them may carry what the target printed.
    fn quoted(self) -> Verdict {
        use crate::report::quote::quoted;
        match self {
            Verdict::Fail(f) => Verdict::Fail(f.quoted()),
            Verdict::Hang(f) => Verdict::Hang(f.quoted()),
            Verdict::Skip { reason } => Verdict::Skip {
                reason: quoted(&reason),
            },
            Verdict::Error { message } => Verdict::Error {
                message: quoted(&message),
            },
            Verdict::Pass => Verdict::Pass,
        }
    }
}

impl Failure {
    fn quoted(self) -> Failure {
        use crate::report::quote::quoted;
        Failure {
            expected: quoted(&self.expected),
            observed: quoted(&self.observed),
            counterexample: self.counterexample.as_deref().map(quoted),
            threads: self.threads.as_deref().map(quoted),
            output: self.output.iter().map(|line| quoted(line)).collect(),
        }
    }
}

/// Every verdict a check reaches is [quoted](Verdict::quoted) on its way out.
impl From<Outcome> for Verdict {
    fn from(outcome: Outcome) -> Verdict {
        Verdict::unquoted(outcome).quoted()
    }
}

impl Verdict {
    fn unquoted(outcome: Outcome) -> Verdict {
        match outcome {
            Ok(()) => Verdict::Pass,
            Err(Finding::Violated(f)) => Verdict::Fail(f),
            Err(Finding::Hung(f)) => Verdict::Hang(f),
            // The preflight saw this target start: failing to start again is its
            // own misbehaviour, not a run that could not happen.
            Err(Finding::Broken(
                e @ (TargetError::ExitedAtStart { .. } | TargetError::NeverReady { .. }),
            )) => Verdict::Fail(Failure {
                expected: "the target to start as it did before".into(),
                observed: e.to_string(),
                ..Failure::default()
            }),
            Err(Finding::Broken(e)) => Verdict::Error {
                message: e.to_string(),
            },
        }
    }
}

/// One property's result in a run.
#[derive(Debug, Serialize)]
pub struct PropertyResult {
    /// The property checked.
    #[serde(flatten)]
    pub meta: &'static Meta,
    /// Its verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Wall time the check took.
    #[serde(serialize_with = "serialize_secs")]
    pub seconds: Duration,
    /// The command that replays this check with the same workload.
    pub replay: Option<String>,
}

fn serialize_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// `base` with `--only ID --seed SEED` added before the `--` that starts a
/// target command, if any: after it they would be the target's arguments.
fn replay_line(base: &str, id: &str, seed: u64) -> String {
    let extra = format!("--only '{id}' --seed {seed}");
    match base.find(" -- ") {
        Some(at) => format!("{} {extra}{}", &base[..at], &base[at..]),
        None => format!("{base} {extra}"),
    }
}

/// Which properties of a slice a run checks.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Substrings or `*` globs of IDs; empty selects all.
    pub only: Vec<String>,
}

impl Selection {
    /// Whether `id` is selected.
    pub fn selects(&self, id: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|pattern| matches_pattern(pattern, id))
    }

    /// Checks that every pattern selects at least one of `ids`: a pattern
    /// that selects nothing is a typo, and a run that checks nothing must
    /// not pass. The error names the pattern and the closest IDs.
    pub fn check_against<'a>(
        &self,
        ids: impl Iterator<Item = &'a str> + Clone,
    ) -> Result<(), UnmatchedPattern> {
        let Some(pattern) = self
            .only
            .iter()
            .find(|pattern| !ids.clone().any(|id| matches_pattern(pattern, id)))
        else {
            return Ok(());
        };
        let mut scored: Vec<(f64, &str)> = ids
            .map(|id| {
                let last = id.rsplit('.').next().unwrap_or(id);
                let score =
                    strsim::jaro_winkler(pattern, id).max(strsim::jaro_winkler(pattern, last));
                (score, id)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        scored.dedup_by(|a, b| a.1 == b.1);
        Err(UnmatchedPattern {
            pattern: pattern.clone(),
            closest: scored
                .iter()
                .take(3)
                .map(|(_, id)| id.to_string())
                .collect(),
        })
    }
}

/// An `--only` pattern that selects no property of the run.
#[derive(Debug, thiserror::Error)]
#[error("--only `{pattern}` selects no property checked here{}", closest_ids(.closest))]
pub struct UnmatchedPattern {
    /// The pattern as given.
    pub pattern: String,
    /// The IDs closest to it, best first.
    pub closest: Vec<String>,
}

fn closest_ids(ids: &[String]) -> String {
    if ids.is_empty() {
        String::new()
    } else {
        format!("; closest: {}", ids.join(", "))
    }
}

/// `pattern` matches `id` as a `*` glob when it has a `*`, else as a substring.
pub fn matches_pattern(pattern: &str, id: &str) -> bool {
    if !pattern.contains('*') {
        return id.contains(pattern);
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = id;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// A subject bound to the properties that apply to it: what one `check`
/// runs, what the `cargo test` harness turns into named tests, and what
/// `grade` runs per submission. Areas build suites; nobody else needs to
/// know their subject types.
pub struct Suite {
    /// The profile checked.
    pub profile: Profile,
    /// What is checked: `kernel`, `reference thread over tcp`, a command line.
    pub label: String,
    /// The claimed variant (e.g. `pool:4`), where the profile has variants.
    pub variant: Option<String>,
    /// One entry per property in scope, in catalog order.
    pub checks: Vec<SuiteCheck>,
    /// Runs once before any property (not for `--list`): a target that cannot
    /// run at all is refused in one line instead of failing every property.
    pub preflight: Option<Preflight>,
}

/// A suite's start-up check: `Err` means the target could not be run (exit 2).
pub type Preflight = Box<dyn Fn(&Ctx) -> Result<(), TargetError> + Send + Sync>;

/// One property of a [`Suite`], ready to run.
pub struct SuiteCheck {
    /// The property.
    pub meta: &'static Meta,
    /// Why the property cannot apply to this kind of subject, decided when the
    /// suite was built (the reference pipe has no kernel descriptor to raise
    /// SIGPIPE on): the only way a property is skipped.
    pub not_applicable: Option<String>,
    run: Box<dyn Fn(&Ctx) -> Outcome + Send + Sync>,
}

impl SuiteCheck {
    /// Checks the property, with `ctx.property` set to its ID.
    pub fn check(&self, ctx: &Ctx) -> Outcome {
        let ctx = Ctx {
            property: self.meta.id,
            ..ctx.clone()
        };
        (self.run)(&ctx)
    }
}

impl Suite {
    /// Binds `subject` to those `properties` whose scope covers `kind`
    /// (the variant's kind: `pool` for `pool:4`; `None` where there are no variants).
    pub fn new<S: ?Sized + Send + Sync + 'static>(
        profile: Profile,
        label: impl Into<String>,
        variant: Option<&str>,
        kind: Option<&str>,
        properties: &'static [Property<S>],
        subject: std::sync::Arc<S>,
    ) -> Suite {
        Suite::of(profile, label, variant, kind, properties, subject)
    }

    /// [`Suite::new`] over properties drawn from several tables (a profile's
    /// own, then rules it shares with another profile).
    pub fn of<S: ?Sized + Send + Sync + 'static>(
        profile: Profile,
        label: impl Into<String>,
        variant: Option<&str>,
        kind: Option<&str>,
        properties: impl IntoIterator<Item = &'static Property<S>>,
        subject: std::sync::Arc<S>,
    ) -> Suite {
        let checks = properties
            .into_iter()
            .filter(|p| p.meta.scope.covers(kind))
            .map(|p| {
                let subject = subject.clone();
                SuiteCheck {
                    meta: &p.meta,
                    not_applicable: None,
                    run: Box::new(move |ctx: &Ctx| (p.check)(&subject, ctx)),
                }
            })
            .collect();
        Suite {
            profile,
            label: label.into(),
            variant: variant.map(str::to_string),
            checks,
            preflight: None,
        }
    }

    /// Declares property `id` inapplicable to this suite's subject, for `why`.
    ///
    /// # Panics
    /// If the suite has no property `id`: a typo here would silently run it.
    pub fn not_applicable(mut self, id: &str, why: impl Into<String>) -> Suite {
        let check = self
            .checks
            .iter_mut()
            .find(|c| c.meta.id == id)
            .unwrap_or_else(|| panic!("{id} is not a property of the {} suite", self.label));
        check.not_applicable = Some(why.into());
        self
    }

    /// The same suite with `preflight` run before its properties.
    pub fn with_preflight(
        mut self,
        preflight: impl Fn(&Ctx) -> Result<(), TargetError> + Send + Sync + 'static,
    ) -> Suite {
        self.preflight = Some(Box::new(preflight));
        self
    }

    /// Runs the preflight, if any.
    pub fn preflight(&self, ctx: &Ctx) -> Result<(), TargetError> {
        self.preflight.as_ref().map_or(Ok(()), |check| check(ctx))
    }

    /// An empty report on this suite, for the results of a run with `ctx`.
    pub fn report(&self, ctx: &Ctx) -> crate::report::Report {
        crate::report::Report {
            profile: self.profile,
            target: self.label.clone(),
            variant: self.variant.clone(),
            seed: ctx.seed,
            results: Vec::new(),
            interrupted: false,
        }
    }

    /// Runs the selected checks one after another and returns their
    /// report; `replay` is the command line that reruns this suite, to which
    /// a failure's replay appends `--only ID --seed S`.
    pub fn run(
        &self,
        ctx: &Ctx,
        selection: &Selection,
        replay: Option<&str>,
    ) -> crate::report::Report {
        let mut report = self.report(ctx);
        run_each(
            std::slice::from_ref(self),
            ctx,
            selection,
            replay,
            1,
            |step| {
                if let Step::Ended { result, .. } = step {
                    report.results.push(result);
                }
            },
        );
        report
    }
}

/// Where the built-in reference programs live: the `ipcspec` binary that
/// runs `serve`, `relay`, `shell` and the shell probe `stage`.
#[derive(Clone, Debug)]
pub struct References {
    /// Path of the `ipcspec` executable.
    pub bin: PathBuf,
}

/// The suites that check the built-in references (and the kernel) on
/// `profile`; what `cargo test` runs and `check PROFILE` runs with no command.
pub fn reference_suites(profile: Profile, refs: &References) -> Vec<Suite> {
    profile.reference_suites(refs)
}

/// The suite that checks `command` as a `profile` target claiming `variant`.
/// An error means the request itself is unusable (unknown variant, missing
/// placeholder, no such program, a profile that takes no command): exit 2.
pub fn target_suite(
    profile: Profile,
    command: crate::target::CommandSpec,
    variant: Option<&str>,
    refs: &References,
) -> Result<Suite, TargetError> {
    profile.target_suite(command, variant, refs)
}

/// Every property of every profile, in catalog order.
pub fn catalog() -> Vec<&'static Meta> {
    Profile::ALL
        .into_iter()
        .flat_map(|p| (p.spec().properties)())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_ids_are_unique_and_dotted() {
        let mut seen = std::collections::HashSet::new();
        for meta in catalog() {
            assert!(seen.insert(meta.id), "duplicate property ID {}", meta.id);
            assert!(
                meta.id.starts_with(meta.profile.name()) && meta.id.split('.').count() >= 3,
                "ID {} must read profile.topic.claim",
                meta.id
            );
            assert!(
                meta.statement.ends_with('.'),
                "{}: statement is one sentence",
                meta.id
            );
            assert!(
                !meta.source.is_empty(),
                "{}: cites a lecture section",
                meta.id
            );
        }
    }

    /// `n` (below a thousand) in words, as a statement spells a count: "thirty-two".
    fn spelled(n: usize) -> String {
        const ONES: [&str; 20] = [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ];
        const TENS: [&str; 10] = [
            "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
        ];
        match n {
            0..20 => ONES[n].to_string(),
            20..100 if n.is_multiple_of(10) => TENS[n / 10].to_string(),
            20..100 => format!("{}-{}", TENS[n / 10], ONES[n % 10]),
            100..1000 if n.is_multiple_of(100) => format!("{} hundred", ONES[n / 100]),
            100..1000 => format!("{} hundred and {}", ONES[n / 100], spelled(n % 100)),
            _ => panic!("{n}: no statement spells a count this large"),
        }
    }

    /// The same, starting a sentence: "Thirty-two".
    fn capitalized(words: String) -> String {
        let mut chars = words.chars();
        chars.next().map_or(String::new(), |first| {
            first.to_uppercase().chain(chars).collect()
        })
    }

    #[test]
    fn counts_quoted_in_statements_are_the_checks_constants() {
        let quoted = [
            (
                "server.shape.thread-per-connection",
                format!("With {} clients connected", server::THREAD_CLIENTS),
            ),
            (
                "server.shape.pool-fixed-workers",
                format!("under {}N clients", server::POOL_CLIENTS_PER_WORKER),
            ),
            (
                "server.resilience.many-in-sequence",
                format!(
                    "{} short connections in a row",
                    capitalized(spelled(server::CONNECTIONS_IN_SEQUENCE))
                ),
            ),
            (
                "server.resilience.many-at-once",
                format!(
                    "{} clients connecting at once",
                    capitalized(spelled(server::CLIENTS_AT_ONCE))
                ),
            ),
            (
                "shell.pipeline.eof-reaches-last",
                format!(
                    "of {} to {} stages",
                    spelled(*shell::EOF_LINE_STAGES.start()),
                    spelled(*shell::EOF_LINE_STAGES.end())
                ),
            ),
        ];
        let catalog = catalog();
        for (id, phrase) in quoted {
            let meta = catalog.iter().find(|m| m.id == id).expect(id);
            assert!(
                meta.statement.contains(&phrase),
                "{id}: the statement must quote its check's count as `{phrase}`: {}",
                meta.statement
            );
        }
        assert_eq!(spelled(200), "two hundred");
        assert_eq!(capitalized(spelled(32)), "Thirty-two");
    }

    #[test]
    fn replay_options_go_before_the_target_command() {
        assert_eq!(
            replay_line("ipcspec check client -- ./c {port}", "a.b.c", 7),
            "ipcspec check client --only 'a.b.c' --seed 7 -- ./c {port}"
        );
        assert_eq!(
            replay_line("ipcspec check pipe", "a.b.c", 7),
            "ipcspec check pipe --only 'a.b.c' --seed 7"
        );
    }

    #[test]
    fn patterns_match_substrings_and_globs() {
        assert!(matches_pattern("eof", "pipe.eof.after-last-writer"));
        assert!(matches_pattern(
            "pipe.*.after-*",
            "pipe.eof.after-last-writer"
        ));
        assert!(!matches_pattern("server.*", "pipe.eof.after-last-writer"));
        assert!(matches_pattern("*writer", "pipe.eof.after-last-writer"));
    }

    #[test]
    fn forall_reports_the_shrunk_input() {
        let ctx = Ctx {
            cases: 64,
            property: "test.forall.shrinks",
            ..Ctx::default()
        };
        let finding = ctx
            .forall(0usize..10_000, |&n| {
                ensure(n < 100, || "n < 100".into(), || format!("n = {n}"))
            })
            .unwrap_err();
        let Finding::Violated(failure) = finding else {
            panic!("expected a violation")
        };
        assert_eq!(failure.counterexample.as_deref(), Some("100"));
        assert_eq!(failure.observed, "n = 100");
    }
}
