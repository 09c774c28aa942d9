//! `ipcspec grade MANIFEST`: build and check every submission a manifest
//! lists, in parallel, and summarize (see [`ipcspec::grade`]);
//! `ipcspec grade merge OUT...`: join the folders of `--shard K/N` runs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};

use ipcspec::grade::record::{self, ShardRecord, SHARD_FILE};
use ipcspec::grade::{self, bounded, merge, summary, Graded, Manifest, Options, Shard};
use ipcspec::report::{ExitCode, Weights};
use ipcspec::spec::Selection;
use ipcspec::target::{process, sandbox};

use super::positive_seconds;

/// Arguments of `grade`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct GradeArgs {
    /// `merge`: join the folders of `--shard K/N` runs.
    #[command(subcommand)]
    pub merge: Option<GradeCommand>,
    /// The manifest: a TOML file of `[[submission]]` tables (name, profile, variant, dir, build, run).
    #[arg(required = true)]
    pub manifest: Option<PathBuf>,
    /// Keep the results a previous run left in OUT for the same manifest entries and options; grade the rest.
    #[arg(long)]
    pub resume: bool,
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
    /// How to sandbox each submission's program (see `check --sandbox`); the other submissions and OUT are hidden from it.
    #[arg(long, value_enum, default_value = "auto")]
    pub sandbox: sandbox::Mode,
}

/// What `grade` does besides grading.
#[derive(Debug, Subcommand)]
pub enum GradeCommand {
    /// Join the OUT folders of `--shard K/N` runs into one summary and one folder of reports.
    Merge(MergeArgs),
}

/// Arguments of `grade merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' OUT folders: every K of one K/N split, each once.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Folder for the merged reports and summary.csv.
    #[arg(long)]
    pub out: PathBuf,
    /// How to print the summary on stdout.
    #[arg(long, value_enum, default_value = "human")]
    pub format: SummaryFormat,
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
/// Stopped by a signal, it stops every build and check under way (each
/// check kills its own targets), prints the table of the submissions graded
/// so far and names those in flight, and exits 130; it records nothing cut
/// short (no `grade.json` for those in flight, no `shard.json`, no
/// summary, which would pass for a whole one), so `--resume` grades them again.
pub fn run(args: &GradeArgs) -> anyhow::Result<ExitCode> {
    if let Some(GradeCommand::Merge(merge)) = &args.merge {
        return run_merge(merge);
    }
    let path = args.manifest.as_deref().context("no manifest given")?;
    let manifest = Manifest::load(path)?;
    let manifest_key = manifest.key.clone();
    let weights = match &args.weights {
        Some(path) => Weights::load(path)?,
        None => Weights::default(),
    };
    let shard = args.shard.unwrap_or(Shard { index: 1, count: 1 });
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let out = args.out.canonicalize()?;
    // Every submission's folder, this shard's or not, is out of sight.
    let mut sandbox_args = vec!["--sandbox".to_string(), sandbox_name(args.sandbox)];
    if args.sandbox != sandbox::Mode::None {
        for dir in out_of_sight(&out, &manifest.submissions) {
            sandbox_args.extend(["--sandbox-hide".to_string(), dir.display().to_string()]);
        }
    }
    let submissions: Vec<_> = manifest
        .submissions
        .into_iter()
        .enumerate()
        .filter(|&(i, _)| shard.takes(i))
        .map(|(_, s)| s)
        .collect();
    out_of_reach(&out, &submissions)?;
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
        sandbox_args,
        selection: Selection {
            only: args.only.clone(),
        },
        weights,
        build_timeout: Duration::from_secs_f64(args.build_timeout),
        check_timeout: Duration::from_secs_f64(args.check_timeout),
        resume: args.resume,
    };
    let total = submissions.len();
    let bar = super::progress::grading_bar(total);
    let progress = Arc::new(Mutex::new(Progress::default()));
    {
        let (progress, bar) = (progress.clone(), bar.clone());
        let order: Vec<String> = submissions.iter().map(|s| s.name.clone()).collect();
        process::on_interrupt(move |kill| {
            let mut progress = progress.lock().unwrap_or_else(|e| e.into_inner());
            // Grading had finished: the summary, written under this lock, is whole.
            let finished = progress.over;
            progress.over = true;
            kill();
            // Each check kills its own targets on SIGTERM; what they cut
            // short is not recorded (`bounded::stopping`).
            bounded::stop_all();
            if finished {
                return None;
            }
            bar.finish_and_clear();
            let mut graded = std::mem::take(&mut progress.graded);
            graded.sort_by_key(|g| order.iter().position(|name| *name == g.name));
            let mut stdout = std::io::stdout().lock();
            let _ = summary::write_table(&graded, &mut stdout).and_then(|()| stdout.flush());
            let running = progress.running.join(", ");
            Some(format!(
                "while grading {running}: {} of {total} submissions graded, none written to the summary (resume with --resume)",
                graded.len()
            ))
        });
    }
    let started = Instant::now();
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
            let n = progress.graded.len();
            let line = format!(
                "{}: {} ({}/{} points, {:.1} s)",
                g.name,
                g.status.name(),
                g.score,
                g.max_score,
                g.seconds
            );
            if bar.is_hidden() {
                let left = started.elapsed().mul_f64((total - n) as f64 / n as f64);
                eprintln!("[{n}/{total}] {line}, about {} left", clock(left));
            } else {
                bar.set_message(line);
                bar.inc(1);
            }
        },
    );
    // Held until the summary is written: a stop from now on waits for it.
    let mut progress = progress.lock().unwrap_or_else(|e| e.into_inner());
    if progress.over {
        // Stopped: nothing more is recorded. The interrupt handler, done
        // with the lock, names what was in flight and exits with 130.
        drop(progress);
        process::wait_for_interrupt_exit();
    }
    progress.over = true;
    bar.finish_and_clear();
    let shard_path = out.join(SHARD_FILE);
    let finished_run = ShardRecord {
        manifest: record::fingerprint(&format!("{manifest_key} {}", options.key())),
        index: shard.index,
        count: shard.count,
        submissions: graded.iter().map(|g| g.name.clone()).collect(),
    };
    record::save(&shard_path, &finished_run)
        .with_context(|| format!("writing {}", shard_path.display()))?;
    summarize(&graded, &out, args.format)
}

/// Runs `grade merge`: exit 0 when the shards were merged, 2 if they do not fit together.
fn run_merge(args: &MergeArgs) -> anyhow::Result<ExitCode> {
    let graded = merge::merge(&args.shards, &args.out)?;
    summarize(&graded, &args.out.canonicalize()?, args.format)
}

/// Writes `OUT/summary.csv` and prints the summary in `format`.
fn summarize(graded: &[Graded], out: &Path, format: SummaryFormat) -> anyhow::Result<ExitCode> {
    let csv_path = out.join("summary.csv");
    summary::save_csv(graded, &csv_path)
        .with_context(|| format!("writing {}", csv_path.display()))?;
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    match format {
        SummaryFormat::Human => {
            summary::write_table(graded, &mut stdout)?;
            writeln!(
                stdout,
                "reports: {}/NAME/, summary: {}",
                out.display(),
                csv_path.display()
            )?;
        }
        SummaryFormat::Csv => summary::write_csv(graded, &mut stdout)?,
        SummaryFormat::Json => writeln!(stdout, "{}", serde_json::to_string_pretty(graded)?)?,
    }
    stdout.flush()?;
    Ok(ExitCode::Conforms)
}

/// Refuses an `out` (canonical) inside a submission's folder, where the
/// program checked there could write into the reports, or around one.
fn out_of_reach(out: &Path, submissions: &[grade::Submission]) -> anyhow::Result<()> {
    for submission in submissions {
        let Ok(dir) = submission.dir.canonicalize() else {
            continue; // graded as "no such directory"
        };
        if out.starts_with(&dir) || dir.starts_with(out) {
            anyhow::bail!(
                "--out {} and {}'s folder {} must not contain one another: the program checked there could write into the reports",
                out.display(),
                submission.name,
                dir.display()
            );
        }
    }
    Ok(())
}

/// The directories a submission's program must not see: OUT, and the
/// folders that hold the submissions (each submission's own is shown again
/// inside, see [`sandbox`]); a submission directly under `/` is hidden itself.
fn out_of_sight(out: &Path, submissions: &[grade::Submission]) -> Vec<PathBuf> {
    let mut dirs = vec![out.to_path_buf()];
    for dir in submissions.iter().filter_map(|s| s.dir.canonicalize().ok()) {
        match dir.parent() {
            Some(parent) if parent.parent().is_some() => dirs.push(parent.to_path_buf()),
            _ => dirs.push(dir),
        }
    }
    dirs.sort();
    dirs.dedup();
    dirs
}

fn sandbox_name(mode: sandbox::Mode) -> String {
    use clap::ValueEnum;
    mode.to_possible_value()
        .map_or_else(|| "auto".to_string(), |v| v.get_name().to_string())
}

/// A duration as people read an estimate: `42 s`, `3 min 05 s`.
fn clock(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds < 60 {
        format!("{seconds} s")
    } else {
        format!("{} min {:02} s", seconds / 60, seconds % 60)
    }
}

/// `path` made absolute, since each check runs in its submission's folder.
fn absolute(path: &std::path::Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
