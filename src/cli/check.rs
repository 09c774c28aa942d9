//! `ipcspec check PROFILE [--variant V] [OPTIONS] [-- CMD...]`: one handler
//! for every profile. The subcommands, their options and their help are
//! built from the registry ([`Profile::spec`]): `--variant` for a profile
//! with variants, `--impl` (or another [`Choice`](ipcspec::spec::Choice)) for
//! one whose references are alternatives, `-- CMD` for one that checks a
//! program; every profile takes the options of [`CheckOpts`].

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::builder::PossibleValue;
use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches, Subcommand, ValueEnum};

use ipcspec::report::{self, ExitCode, Format, Report, Weights};
use ipcspec::spec::{self, Ctx, Profile, References, Selection, Step, Suite};
use ipcspec::target::{process, sandbox, CommandSpec, TargetError};

use super::live::Live;
use super::progress;

/// What `check` was asked to do: a profile, and how to check it.
#[derive(Debug)]
pub struct CheckCommand {
    profile: Profile,
    /// The claimed variant (`--variant`), for a profile with variants.
    variant: Option<String>,
    /// The chosen reference (`--impl`), for a profile with a [`spec::Choice`].
    choice: Option<String>,
    opts: CheckOpts,
    /// The target's command line after `--`; empty: check the references.
    command: Vec<String>,
}

const VARIANT: &str = "variant";
const CHOICE: &str = "choice";
const COMMAND: &str = "command";

/// `check NAME` for `profile`, as its registry entry describes it.
fn subcommand(profile: Profile) -> clap::Command {
    let spec = profile.spec();
    let mut command = clap::Command::new(spec.name);
    if let Some(variants) = &spec.variants {
        command = command.arg(
            Arg::new(VARIANT)
                .long(VARIANT)
                .value_name("VARIANT")
                .help(variants.help),
        );
    }
    if let Some(choice) = &spec.choice {
        let labels = choice
            .labels
            .iter()
            .map(|(label, help)| PossibleValue::new(*label).help(*help));
        command = command.arg(
            Arg::new(CHOICE)
                .long(choice.flag)
                .value_name(choice.value_name)
                .help(choice.help)
                .value_parser(clap::builder::PossibleValuesParser::new(labels)),
        );
    }
    // After the options: they would give the subcommand their struct's doc as its about.
    command = CheckOpts::augment_args(command).about(spec.about);
    if let Some(target) = &spec.target {
        command = command.arg(
            Arg::new(COMMAND)
                .value_name("CMD")
                .help(target.command_help)
                .num_args(1..)
                .action(ArgAction::Append)
                .last(true),
        );
    }
    command
}

impl FromArgMatches for CheckCommand {
    fn from_arg_matches(matches: &ArgMatches) -> Result<CheckCommand, clap::Error> {
        let (name, matches) = matches
            .subcommand()
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::MissingSubcommand))?;
        let profile = Profile::named(name)
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidSubcommand))?;
        // A profile without the option has no such argument at all.
        let text = |id: &str| matches.try_get_one::<String>(id).ok().flatten().cloned();
        Ok(CheckCommand {
            profile,
            variant: text(VARIANT),
            choice: text(CHOICE),
            opts: CheckOpts::from_arg_matches(matches)?,
            command: matches
                .try_get_many::<String>(COMMAND)
                .ok()
                .flatten()
                .map(|words| words.cloned().collect())
                .unwrap_or_default(),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = CheckCommand::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Subcommand for CheckCommand {
    fn augment_subcommands(command: clap::Command) -> clap::Command {
        Profile::ALL.into_iter().fold(command, |command, profile| {
            command.subcommand(subcommand(profile))
        })
    }

    fn augment_subcommands_for_update(command: clap::Command) -> clap::Command {
        CheckCommand::augment_subcommands(command)
    }

    fn has_subcommand(name: &str) -> bool {
        Profile::named(name).is_some()
    }
}

/// Enters the sandbox `check` asks for; before any other thread starts
/// (see [`sandbox::enter`]). A listing starts no target and needs none.
pub fn enter_sandbox(check: &CheckCommand) -> Result<(), sandbox::SandboxError> {
    if !check.opts.list {
        sandbox::enter(check.opts.sandbox, &check.opts.sandbox_hide)?;
    }
    Ok(())
}

/// Runs `check`: the target command if one was given, else the references
/// (of the claimed variant, or the chosen one, when asked).
pub fn run(check: &CheckCommand) -> anyhow::Result<ExitCode> {
    let refs = references()?;
    let profile = check.profile;
    let suites = if check.command.is_empty() {
        match (&check.variant, &profile.spec().variants) {
            (Some(variant), Some(variants)) => {
                (variants.references_of)(variant, &refs).map_err(TargetError::from)?
            }
            _ => profile
                .reference_suites(&refs)
                .into_iter()
                .filter(|suite| check.choice.as_ref().is_none_or(|c| *c == suite.label))
                .collect(),
        }
    } else {
        let command = CommandSpec::new(&check.command)?;
        vec![profile.target_suite(command, check.variant.as_deref(), &refs)?]
    };
    run_suites(&suites, &check.opts)
}

/// Options every `check` takes.
#[derive(Clone, Debug, Args)]
pub struct CheckOpts {
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Seed for the random workloads (a failure prints the one that replays it).
    #[arg(long, default_value_t = spec::DEFAULT_SEED)]
    pub seed: u64,
    /// Random cases per randomized property.
    #[arg(long, default_value_t = 16)]
    pub cases: u32,
    /// Bound, in seconds, on any single wait; a wait that runs out is a hang.
    #[arg(long, default_value_t = 5.0, value_parser = super::positive_seconds)]
    pub timeout: f64,
    /// Seconds a failing property may spend shrinking its input to a smaller one.
    #[arg(long, default_value_t = 1.0, value_parser = super::positive_seconds)]
    pub shrink_time: f64,
    /// Check only properties whose ID contains this (or matches this `*` glob); repeatable.
    #[arg(long)]
    pub only: Vec<String>,
    /// List the properties that would be checked, and stop.
    #[arg(long)]
    pub list: bool,
    /// Points per property, for `--format gradescope`: a TOML file of `"ID-pattern" = points`.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Also write the reports in FORMAT to PATH (e.g. `junit:report.xml`); repeatable.
    #[arg(long, value_name = "FORMAT:PATH", value_parser = report_destination)]
    pub report: Vec<(Format, PathBuf)>,
    /// How to sandbox the target (another user, loopback only, a read-only filesystem): `auto` keeps what the kernel grants, `strict` refuses to run without all of it.
    #[arg(long, value_enum, default_value = "auto")]
    pub sandbox: sandbox::Mode,
    /// A directory the sandboxed target must not see (other submissions, reports); repeatable.
    #[arg(long, value_name = "DIR")]
    pub sandbox_hide: Vec<PathBuf>,
    /// Properties checked at once; those that measure CPU use or timing, or
    /// share this process's state, always run alone [default: 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
}

/// Properties run at once by default: one. Two gave the same verdicts in
/// every run but two (README, "Speed and stability"), and saved 5 to 25 %
/// of a check: not enough to let a rare false verdict in by default.
pub const DEFAULT_JOBS: usize = 1;

fn report_destination(text: &str) -> Result<(Format, PathBuf), String> {
    let (format, path) = text
        .split_once(':')
        .filter(|(_, path)| !path.is_empty())
        .ok_or_else(|| format!("`{text}` is not FORMAT:PATH (e.g. junit:report.xml)"))?;
    let format = Format::from_str(format, true).map_err(|_| {
        format!("`{format}` is not a format (human, json, junit, gradescope, markdown)")
    })?;
    Ok((format, PathBuf::from(path)))
}

impl CheckOpts {
    /// The run context these options describe.
    pub fn ctx(&self) -> Ctx {
        Ctx {
            cases: self.cases,
            seed: self.seed,
            timeout: Duration::from_secs_f64(self.timeout),
            shrink_time: Duration::from_secs_f64(self.shrink_time),
            ..Ctx::default()
        }
    }

    /// How many properties may run at once: `--jobs`, or [`DEFAULT_JOBS`].
    pub fn jobs(&self) -> usize {
        self.jobs.map_or(DEFAULT_JOBS, |jobs| jobs as usize)
    }

    /// The selection of properties these options describe.
    pub fn selection(&self) -> Selection {
        Selection {
            only: self.only.clone(),
        }
    }
}

/// The command line that reproduces this run for a person: without
/// `--only`, `--seed`, `--report` and `--format` (a replay explains itself
/// in the human format), split where a failure's `--only ID --seed S` goes: the
/// options part, and the ` -- TARGET...` part (empty when there is none),
/// since nothing may follow the `--` but the target.
fn replay_base() -> (String, String) {
    let mut args = std::env::args();
    let program = args.next().unwrap_or_else(|| "ipcspec".into());
    let mut head = vec![program];
    let mut skip_value = false;
    for arg in args.by_ref() {
        if arg == "--" {
            break;
        }
        if std::mem::take(&mut skip_value) {
            continue;
        }
        let dropped = ["--only", "--seed", "--report", "--format"];
        if dropped.contains(&arg.as_str()) {
            skip_value = true;
        } else if !dropped
            .iter()
            .any(|flag| arg.starts_with(&format!("{flag}=")))
        {
            head.push(arg);
        }
    }
    let quote = |w: &String| ipcspec::target::command::shell_quote(w);
    let tail: String = args.map(|w| format!(" {}", quote(&w))).collect();
    let head = head.iter().map(quote).collect::<Vec<_>>().join(" ");
    (
        head,
        if tail.is_empty() {
            tail
        } else {
            format!(" --{tail}")
        },
    )
}

/// Runs `suites` as `opts` say and prints the reports (and writes the
/// `--report` files); returns the exit code. With `--list`, prints the IDs
/// that would be checked instead. Before any property, an `--only` pattern
/// that selects nothing and a target that cannot run at all (each suite's
/// preflight) are refused in one line. A progress bar on stderr shows which
/// property runs, when stderr is a terminal; the human report on a stdout
/// that is not a terminal (a CI log, `tee`) comes result by result instead.
/// Stopped by a signal, the run kills its targets and delivers what it
/// found so far, naming the property in flight (see [`Live`]).
fn run_suites(suites: &[Suite], opts: &CheckOpts) -> anyhow::Result<ExitCode> {
    let selection = opts.selection();
    let ids = suites
        .iter()
        .flat_map(|s| s.checks.iter().map(|c| c.meta.id));
    selection.check_against(ids)?;
    if opts.list {
        super::print_lines(suites.iter().flat_map(|suite| {
            suite
                .checks
                .iter()
                .filter(|c| selection.selects(c.meta.id))
                .map(|check| format!("{}  ({})", check.meta.id, suite.label))
        }))?;
        return Ok(ExitCode::Conforms);
    }
    // A bad weights file must stop the run before any check starts.
    let weights = match &opts.weights {
        Some(path) => Weights::load(path)?,
        None => Weights::default(),
    };
    let ctx = opts.ctx();
    for suite in suites {
        suite.preflight(&ctx)?;
    }
    let (replay, target) = replay_base();
    let bar = progress::bar(suites, &selection);
    let stream = opts.format == Format::Human && !std::io::stdout().is_terminal();
    let reports = suites.iter().map(|suite| suite.report(&ctx)).collect();
    let plan = spec::plan(suites, &selection)
        .into_iter()
        .map(|(suite, _)| suite)
        .collect();
    let live = Arc::new(Live::new(reports, plan, stream));
    {
        let (live, bar, opts, weights) = (live.clone(), bar.clone(), opts.clone(), weights.clone());
        process::on_interrupt(move |kill| {
            live.interrupt(kill, |reports, streamed| {
                bar.finish_and_clear();
                deliver(reports, streamed, &opts, &weights)
            })
        });
    }
    let mut ended = 0;
    spec::run_each(
        suites,
        &ctx,
        &selection,
        Some(&replay),
        opts.jobs(),
        |step| match step {
            Step::Started { at, suite, meta } => {
                progress::step(&bar, ended, &suites[suite].label, meta.id);
                live.start(at, meta);
            }
            Step::Ended { at, mut result, .. } => {
                // `run_each` appends `--only ID --seed S`; the target goes after them.
                if let Some(line) = result.replay.as_mut() {
                    line.push_str(&target);
                }
                ended += 1;
                bar.set_position(ended);
                live.end(at, result);
            }
        },
    );
    bar.finish_and_clear();
    live.finish(|reports, streamed| {
        deliver(reports, streamed, opts, &weights)?;
        let ran = reports
            .iter()
            .flat_map(|r| &r.results)
            .any(|r| !matches!(r.verdict, spec::Verdict::Skip { .. }));
        if !ran {
            eprintln!("ipcspec: nothing was checked: every selected property is inapplicable here");
        }
        Ok(report::exit_code(reports))
    })
}

/// Writes the `--report` files, and the report on stdout unless it was
/// streamed there already.
fn deliver(
    reports: &[Report],
    streamed: bool,
    opts: &CheckOpts,
    weights: &Weights,
) -> anyhow::Result<()> {
    for (format, path) in &opts.report {
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("writing {}", path.display()))?,
        );
        report::render_weighted(reports, *format, weights, &mut file)?;
        file.flush()?;
    }
    if !streamed {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        report::render_weighted(reports, opts.format, weights, &mut out)?;
        out.flush()?;
    }
    Ok(())
}

/// The built-in references: this very executable.
fn references() -> anyhow::Result<References> {
    Ok(References {
        bin: std::env::current_exe()?,
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::{Cli, Command};
    use super::*;

    fn parse(words: &[&str]) -> Result<CheckCommand, clap::Error> {
        let argv = ["ipcspec", "check"].iter().chain(words);
        match Cli::try_parse_from(argv)?.command {
            Command::Check(check) => Ok(check),
            other => panic!("`check` parsed as {other:?}"),
        }
    }

    #[test]
    fn every_profile_is_a_check_subcommand_with_the_options_its_entry_declares() {
        for profile in Profile::ALL {
            let spec = profile.spec();
            let name = profile.name();
            let check = parse(&[name, "--seed", "7"]).unwrap();
            assert_eq!(check.profile, profile);
            assert_eq!(check.opts.seed, 7);
            assert!(check.command.is_empty() && check.variant.is_none());

            let with_command = parse(&[name, "--", "./prog", "{port}"]);
            assert_eq!(
                with_command.map(|c| c.command).ok(),
                spec.target
                    .is_some()
                    .then(|| vec!["./prog".into(), "{port}".into()]),
                "{name}: `-- CMD` only where the profile checks a command"
            );
            let with_variant = parse(&[name, "--variant", "fork"]);
            assert_eq!(
                with_variant.map(|c| c.variant).ok(),
                spec.variants.as_ref().map(|_| Some("fork".into())),
                "{name}: `--variant` only where the profile has variants"
            );
            if let Some(choice) = &spec.choice {
                for (label, _) in choice.labels {
                    let flag = format!("--{}", choice.flag);
                    let chosen = parse(&[name, &flag, label]).unwrap();
                    assert_eq!(chosen.choice.as_deref(), Some(*label));
                }
            }
        }
    }
}
