//! `ipcspec grade MANIFEST`: build and check every submission a manifest
//! lists, in parallel, and summarize (see [`ipcspec::grade`]).

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use ipcspec::grade::{self, bounded, summary, Graded, Manifest, Options, Shard};
use ipcspec::report::{ExitCode, Weights};
use ipcspec::spec::Selection;
use ipcspec::target::process;

use super::positive_seconds;

/// Arguments of `grade`.
#[derive(Debug, Args)]
pub struct GradeArgs {
    /// The manifest: a TOML file of `[[submission]]` tables (name, profile, variant, dir, build, run).
    pub manifest: PathBuf,
    /// Submissions graded at once [default: the number of cores].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Grade only every N-th submission starting at the K-th (1-based), for a CI matrix.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Folder for the reports: OUT/NAME/{report.txt,report.json,junit.xml,results.json,report.md} and OUT/summary.csv.
    #[arg(long, default_value = "grades")]
    pub out: PathBuf,
    /// How to print the summary on stdout.
    #[arg(long, value_enum, default_value = "human")]
    pub format: SummaryFormat,
    /// Points per property: a TOML file of `"ID-pattern" = points`.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Seed for every check's random workloads.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Random cases per randomized property.
    #[arg(long)]
    pub cases: Option<u32>,
    /// Bound, in seconds, on any single wait inside a check.
    #[arg(long, value_parser = positive_seconds)]
    pub timeout: Option<f64>,
    /// Check only properties whose ID contains this (or matches this `*` glob); repeatable.
    #[arg(long)]
    pub only: Vec<String>,
    /// Bound, in seconds, on one build.
    #[arg(long, default_value_t = 300.0, value_parser = positive_seconds)]
    pub build_timeout: f64,
    /// Bound, in seconds, on one submission's whole check.
    #[arg(long, default_value_t = 900.0, value_parser = positive_seconds)]
    pub check_timeout: f64,
}

/// How `grade` prints its summary.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum SummaryFormat {
    /// An aligned table.
    Human,
    /// The same CSV as `summary.csv`.
    Csv,
    /// A JSON array, one object per submission.
    Json,
}

/// What a grading run has done so far, shared with the interrupt handler.
#[derive(Default)]
struct Progress {
    /// The submissions being graded now.
    running: Vec<String>,
    /// Those graded, in the order they finished.
    graded: Vec<Graded>,
    /// Grading finished or was stopped: nothing more is taken.
    over: bool,
}

/// Runs `grade`: exit 0 when grading completed, whatever the verdicts.
/// Stopped by a signal, it stops every check under way (each kills its own
/// targets), prints the table of the submissions graded so far and names
/// those in flight; it writes no summary, which would pass for a whole one.
pub fn run(args: &GradeArgs) -> anyhow::Result<ExitCode> {
    let manifest = Manifest::load(&args.manifest)?;
    let weights = match &args.weights {
        Some(path) => Weights::load(path)?,
        None => Weights::default(),
    };
    let shard = args.shard.unwrap_or(Shard { index: 1, count: 1 });
    let submissions: Vec<_> = manifest
        .submissions
        .into_iter()
        .enumerate()
        .filter(|&(i, _)| shard.takes(i))
        .map(|(_, s)| s)
        .collect();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let out = args.out.canonicalize()?;
    let mut check_args = Vec::new();
    for (flag, value) in [
        ("--seed", args.seed.map(|s| s.to_string())),
        ("--cases", args.cases.map(|c| c.to_string())),
        ("--timeout", args.timeout.map(|t| t.to_string())),
        ("--weights", args.weights.as_ref().map(|w| absolute(w))),
    ] {
        if let Some(value) = value {
            check_args.extend([flag.to_string(), value]);
        }
    }
    for pattern in &args.only {
        check_args.extend(["--only".to_string(), pattern.clone()]);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let options = Options {
        bin: std::env::current_exe()?,
        out: out.clone(),
        jobs: args.jobs.map_or(cores, |j| j as usize),
        check_args,
        selection: Selection {
            only: args.only.clone(),
        },
        weights,
        build_timeout: Duration::from_secs_f64(args.build_timeout),
        check_timeout: Duration::from_secs_f64(args.check_timeout),
    };
    let total = submissions.len();
    let progress = Arc::new(Mutex::new(Progress::default()));
    {
        let (progress, names) = (progress.clone(), submissions.iter().map(|s| s.name.clone()));
        let order: Vec<String> = names.collect();
        process::on_interrupt(move |kill| {
            let mut progress = progress.lock().unwrap_or_else(|e| e.into_inner());
            progress.over = true;
            kill();
            // Each check kills its own targets on SIGTERM.
            bounded::stop_all();
            let mut graded = std::mem::take(&mut progress.graded);
            graded.sort_by_key(|g| order.iter().position(|name| *name == g.name));
            let mut stdout = std::io::stdout().lock();
            let _ = summary::write_table(&graded, &mut stdout).and_then(|()| stdout.flush());
            let running = progress.running.join(", ");
            Some(format!(
                "while grading {running}: {} of {total} submissions graded, none written to the summary",
                graded.len()
            ))
        });
    }
    let graded = grade::grade_all(
        &submissions,
        &options,
        |s| {
            let mut progress = progress.lock().unwrap_or_else(|e| e.into_inner());
            progress.running.push(s.name.clone());
        },
        |g| {
            let mut progress = progress.lock().unwrap_or_else(|e| e.into_inner());
            if progress.over {
                return;
            }
            progress.running.retain(|name| *name != g.name);
            progress.graded.push(g.clone());
            eprintln!(
                "[{}/{total}] {}: {} ({}/{} points, {:.1} s)",
                progress.graded.len(),
                g.name,
                g.status.name(),
                g.score,
                g.max_score,
                g.seconds
            );
        },
    );
    progress.lock().unwrap_or_else(|e| e.into_inner()).over = true;
    let csv_path = out.join("summary.csv");
    summary::save_csv(&graded, &csv_path)
        .with_context(|| format!("writing {}", csv_path.display()))?;
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    match args.format {
        SummaryFormat::Human => {
            summary::write_table(&graded, &mut stdout)?;
            writeln!(
                stdout,
                "reports: {}/NAME/, summary: {}",
                out.display(),
                csv_path.display()
            )?;
        }
        SummaryFormat::Csv => summary::write_csv(&graded, &mut stdout)?,
        SummaryFormat::Json => writeln!(stdout, "{}", serde_json::to_string_pretty(&graded)?)?,
    }
    stdout.flush()?;
    Ok(ExitCode::Conforms)
}

/// `path` made absolute, since each check runs in its submission's folder.
fn absolute(path: &std::path::Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
