//! Grading a folder of submissions: build each, check it in a subprocess,
//! score it, and summarize.
//!
//! Each submission is built with `sh -c BUILD` in its folder and checked by
//! running this very executable as `ipcspec check PROFILE --format json ...
//! -- RUN...`, so a submission that crashes, hangs or floods can take down
//! only its own checker. At most [`Options::jobs`] submissions are graded at
//! once; every build and every check is bounded in time. A build failure, a
//! checker that could not run the program, or a checker that overran its
//! bound is a *result* (score 0 with the reason), never an error of the
//! grading itself. Reports land in `OUT/NAME/`: `report.txt`, `report.json`,
//! `junit.xml`, `results.json` (Gradescope), `report.md`, `build.log` and
//! `stderr.txt` (each log at most [`bounded::LOG_BYTES`]), then, last,
//! `grade.json` ([`record`]), which lets `--resume` skip what is finished.
//!
//! Only the grader writes there: a submission's build and check run in its
//! own folder, which the command line refuses to have inside `OUT` or around
//! it. What a submission prints reaches a report only quoted and bounded
//! ([`crate::report::quote`]).

pub mod bounded;
pub mod manifest;
pub mod merge;
pub mod record;
pub mod summary;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use manifest::{Manifest, ManifestError, Submission};

use crate::report::{quote, Weights};
use crate::spec::{self, Selection};
use bounded::Streams;

/// Grade only every N-th submission starting at the K-th (1-based), so a CI
/// matrix of N machines shares the work: `--shard K/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which share, from 1.
    pub index: usize,
    /// How many shares.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || format!("`{text}` is not a shard K/N with 1 <= K <= N (e.g. 2/4)");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether the submission at `position` (0-based, in manifest order) is in this shard.
    pub fn takes(self, position: usize) -> bool {
        position % self.count == self.index - 1
    }
}

/// How a grading run is done.
#[derive(Clone, Debug)]
pub struct Options {
    /// The `ipcspec` executable that checks each submission.
    pub bin: PathBuf,
    /// Where per-submission reports go (`OUT/NAME/`).
    pub out: PathBuf,
    /// Submissions graded at once.
    pub jobs: usize,
    /// Arguments passed to every `check` (seed, cases, timeout, only, weights).
    pub check_args: Vec<String>,
    /// The sandbox's arguments for every `check`: not part of the options a
    /// result was graded with (verdicts are the same in and out of it, and
    /// the folders it hides differ from machine to machine).
    pub sandbox_args: Vec<String>,
    /// The `--only` patterns among them, to know the possible points without a report.
    pub selection: Selection,
    /// Points per property.
    pub weights: Weights,
    /// The bound on one build.
    pub build_timeout: Duration,
    /// The bound on one submission's whole check.
    pub check_timeout: Duration,
    /// Keep the rows of submissions already finished with the same entry and options.
    pub resume: bool,
}

impl Options {
    /// The fingerprint of the options that change a grade: the check's
    /// arguments, the points, the bounds and this version of ipcspec (not
    /// the jobs, the output folder or the shard).
    pub fn key(&self) -> String {
        record::fingerprint(&format!(
            "{} {:?} {:?} {:?} {:?}",
            env!("CARGO_PKG_VERSION"),
            self.check_args,
            self.weights,
            self.build_timeout,
            self.check_timeout
        ))
    }
}

/// How grading one submission ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every property checked held.
    Pass,
    /// Some property failed or hung.
    Fail,
    /// The build command failed or overran; nothing was checked.
    BuildFailed,
    /// The checker could not run the program (see the note).
    Error,
    /// The check overran its bound and was killed.
    Timeout,
}

impl Status {
    /// The status as the summary spells it.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::BuildFailed => "build-failed",
            Status::Error => "error",
            Status::Timeout => "timeout",
        }
    }
}

/// One submission's grade.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Graded {
    /// The submission's name.
    pub name: String,
    /// Its profile.
    pub profile: String,
    /// Its claimed variant.
    pub variant: Option<String>,
    /// How grading ended.
    pub status: Status,
    /// Properties that held.
    pub passed: usize,
    /// Properties that failed or hung.
    pub failed: usize,
    /// Points earned.
    pub score: f64,
    /// Points possible.
    pub max_score: f64,
    /// The first property that failed, hung or errored.
    pub first_failure: Option<String>,
    /// One line on why, for build failures, errors and timeouts.
    pub note: Option<String>,
    /// Wall time spent on it, build included.
    pub seconds: f64,
}

/// Grades `submissions` with at most `options.jobs` at once, calling
/// `started` as each starts and `done` as each finishes; returns the grades
/// in the submissions' order. After [`bounded::stop_all`], what ends was
/// cut short: it is neither passed to `done` nor returned.
pub fn grade_all(
    submissions: &[Submission],
    options: &Options,
    started: impl Fn(&Submission) + Sync,
    done: impl Fn(&Graded) + Sync,
) -> Vec<Graded> {
    let next = AtomicUsize::new(0);
    let graded: Mutex<Vec<Option<Graded>>> = Mutex::new(vec![None; submissions.len()]);
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.clamp(1, submissions.len().max(1)) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(submission) = submissions.get(index) else {
                    break;
                };
                started(submission);
                let grade = grade(submission, options);
                if bounded::stopping() {
                    break; // cut short: neither a result nor progress
                }
                done(&grade);
                graded.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(grade);
            });
        }
    });
    graded
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// Builds and checks one submission, and records its row in its folder;
/// with [`Options::resume`], gives the recorded row instead if it was made
/// from the same manifest entry and options.
pub fn grade(submission: &Submission, options: &Options) -> Graded {
    let out = options.out.join(&submission.name);
    let key = record::fingerprint(&format!("{} {}", submission.key, options.key()));
    if options.resume {
        if let Some(graded) = record::finished(&out, &key) {
            return graded;
        }
    }
    // Until it is graded again, the folder holds no finished submission.
    let _ = std::fs::remove_file(out.join(record::GRADE_FILE));
    let graded = grade_afresh(submission, options, &out);
    if bounded::stopping() {
        return graded;
    }
    let saved = record::save(
        &out.join(record::GRADE_FILE),
        &record::GradeRecord {
            key,
            graded: graded.clone(),
        },
    );
    if let Err(e) = saved {
        // Graded all the same; only a resumed run will grade it again.
        eprintln!("ipcspec: cannot record {}: {e}", submission.name);
    }
    graded
}

fn grade_afresh(submission: &Submission, options: &Options, out: &Path) -> Graded {
    let started = Instant::now();
    let mut graded = Graded {
        name: submission.name.clone(),
        profile: submission.profile.name().to_string(),
        variant: submission.variant.clone(),
        status: Status::Error,
        passed: 0,
        failed: 0,
        score: 0.0,
        max_score: possible_points(submission, options),
        first_failure: None,
        note: None,
        seconds: 0.0,
    };
    let result = std::fs::create_dir_all(out)
        .map_err(|e| Stop::from(format!("cannot create {}: {e}", out.display())))
        .and_then(|()| build(submission, out, options))
        .and_then(|()| check(submission, out, options, &mut graded));
    if let Err(Stop(status, note)) = result {
        graded.status = status;
        graded.note = Some(note.clone());
        // Whatever happened, the folder explains it to a person.
        let _ = std::fs::write(
            out.join("report.txt"),
            format!("{}: {note}\n", status.name()),
        );
    }
    graded.seconds = started.elapsed().as_secs_f64();
    graded
}

/// Why a submission did not get to a verdict: its status and one line.
struct Stop(Status, String);

impl From<String> for Stop {
    fn from(note: String) -> Stop {
        Stop(Status::Error, note)
    }
}

fn build(submission: &Submission, out: &Path, options: &Options) -> Result<(), Stop> {
    if !submission.dir.is_dir() {
        return Err(Stop(
            Status::Error,
            format!("{}: no such directory", submission.dir.display()),
        ));
    }
    let Some(script) = &submission.build else {
        return Ok(());
    };
    let log_path = out.join("build.log");
    let mut command = Command::new("sh");
    command
        .args(["-c", script])
        .current_dir(&submission.dir)
        .stdin(Stdio::null());
    let failed = |why: String| {
        let tail = telling_line(&log_path)
            .map(|l| format!(": {l}"))
            .unwrap_or_default();
        Stop(Status::BuildFailed, format!("build failed ({why}){tail}"))
    };
    match bounded::run_logged(command, options.build_timeout, &log_path, Streams::Both) {
        Err(e) => Err(Stop(Status::BuildFailed, format!("cannot run sh: {e}"))),
        Ok(None) => Err(failed(format!(
            "overran {:.0} s",
            options.build_timeout.as_secs_f64()
        ))),
        Ok(Some(status)) if !status.success() => {
            Err(failed(crate::target::process::describe_status(status)))
        }
        Ok(Some(_)) => Ok(()),
    }
}

fn check(
    submission: &Submission,
    out: &Path,
    options: &Options,
    graded: &mut Graded,
) -> Result<(), Stop> {
    let file = |name: &str| out.join(name);
    let mut command = Command::new(&options.bin);
    command.args(["check", submission.profile.name()]);
    if let Some(variant) = &submission.variant {
        command.args(["--variant", variant]);
    }
    command.args(["--format", "json"]);
    // Grading runs submissions side by side already (its own `--jobs`):
    // each check runs its properties one by one, the load grading was
    // measured and proven exact with.
    command.args(["--jobs", "1"]);
    for (format, name) in [
        ("human", "report.txt"),
        ("junit", "junit.xml"),
        ("gradescope", "results.json"),
        ("markdown", "report.md"),
    ] {
        command
            .arg("--report")
            .arg(format!("{format}:{}", file(name).display()));
    }
    command
        .args(&options.check_args)
        .args(&options.sandbox_args)
        .arg("--")
        .args(&submission.run);
    let create =
        |name: &str| File::create(file(name)).map_err(|e| format!("cannot create {name}: {e}"));
    command
        .current_dir(&submission.dir)
        .stdin(Stdio::null())
        .stdout(create("report.json")?);
    let checked = bounded::run_logged(
        command,
        options.check_timeout,
        &file("stderr.txt"),
        Streams::Stderr,
    );
    let status = match checked {
        Err(e) => return Err(format!("cannot run {}: {e}", options.bin.display()).into()),
        Ok(None) => {
            return Err(Stop(
                Status::Timeout,
                format!(
                    "the check overran {:.0} s and was killed",
                    options.check_timeout.as_secs_f64()
                ),
            ))
        }
        Ok(Some(status)) => status,
    };
    let scored = std::fs::read_to_string(file("report.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .map(|doc| score(&doc, &options.weights, graded))
        .is_some();
    let why = || {
        telling_line(&file("stderr.txt"))
            .unwrap_or_else(|| crate::target::process::describe_status(status))
    };
    use crate::report::ExitCode;
    match ExitCode::of_status(status.code()) {
        Some(ExitCode::Conforms) if scored => graded.status = Status::Pass,
        Some(ExitCode::Failed) if scored => graded.status = Status::Fail,
        // Unusable with a report: some property could not run the target.
        Some(ExitCode::Unusable) if scored => {
            graded.status = Status::Error;
            graded.note = Some(why());
        }
        _ => return Err(why().into()),
    }
    Ok(())
}

/// Fills counts, score and first failure from a `--format json` document.
fn score(doc: &serde_json::Value, weights: &Weights, graded: &mut Graded) {
    let results = doc["reports"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|report| report["results"].as_array().into_iter().flatten());
    let (mut score, mut max_score) = (0.0, 0.0);
    for result in results {
        let (id, verdict) = (
            result["id"].as_str().unwrap_or("?"),
            result["verdict"].as_str().unwrap_or("?"),
        );
        let (earned, possible) = weights.score(id, verdict);
        score += earned;
        max_score += possible;
        match verdict {
            "pass" => graded.passed += 1,
            "fail" | "hang" => graded.failed += 1,
            _ => {}
        }
        if matches!(verdict, "fail" | "hang" | "error") && graded.first_failure.is_none() {
            graded.first_failure = Some(id.to_string());
        }
    }
    graded.score = score;
    graded.max_score = max_score;
}

/// The points a submission could earn, from the catalog: what a submission
/// whose check produced no report is scored out of.
fn possible_points(submission: &Submission, options: &Options) -> f64 {
    let kind = submission
        .variant
        .as_deref()
        .map(|v| v.split(':').next().unwrap_or(v));
    spec::catalog()
        .into_iter()
        .filter(|m| {
            m.profile == submission.profile
                && m.scope.covers(kind)
                && options.selection.selects(m.id)
        })
        .map(|m| options.weights.points(m.id))
        .sum()
}

/// The line of a log that best says what went wrong: the first that
/// mentions an error (a compiler's first error, `ipcspec: ...`, clap's
/// `error: ...`), else the last non-blank one; trimmed to a readable length,
/// control characters escaped (the build prints what the submission says).
fn telling_line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let line = lines
        .clone()
        .find(|l| l.to_lowercase().contains("error") || l.starts_with("ipcspec:"))
        .or_else(|| lines.next_back())?;
    Some(quote::neutralised(
        &line.chars().take(200).collect::<String>(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_submissions_round_robin() {
        let shard: Shard = "2/3".parse().unwrap();
        let taken: Vec<usize> = (0..8).filter(|&i| shard.takes(i)).collect();
        assert_eq!(taken, [1, 4, 7]);
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad} is not a shard");
        }
    }
}
