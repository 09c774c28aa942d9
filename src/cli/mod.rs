//! The command tree and what is shared by every `check`: options, replay
//! line, rendering, exit codes. Each area's arguments and handler live in
//! the module named after it.
//!
//! Exit codes: 0 conforms, 1 a property failed, 2 usage error or the target
//! could not be run (one line on stderr, never a panic).

mod client;
mod grade;
mod pipe;
mod progress;
mod relay;
mod serve;
mod server;
mod shell;
mod socket;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use ipcspec::report::{self, ExitCode, Format, Report, Weights};
use ipcspec::spec::{self, Ctx, Profile, References, Selection, Suite};

/// A property-tested conformance suite for pipes, sockets and echo servers.
#[derive(Debug, Parser)]
#[command(name = "ipcspec", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the catalog of properties.
    List(ListArgs),
    /// Check an implementation against the spec.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Build and check every submission a manifest lists; write reports and a summary.
    Grade(grade::GradeArgs),
    /// The reference relay: stdin to stdout through a pipe to a forked child.
    Relay,
    /// The reference mini-shell: runs each line of stdin as a pipeline.
    Shell,
    /// The shell probe: stages that `check shell` runs inside pipelines.
    #[command(subcommand)]
    Stage(shell::StageCommand),
    /// Run a reference echo server.
    Serve(serve::ServeArgs),
    /// Run the reference line client: stdin to the server, replies to stdout.
    Client(client::ClientArgs),
}

#[derive(Debug, Subcommand)]
enum CheckCommand {
    /// The pipe properties, on the kernel's pipe(2) and the reference pipe.
    Pipe(pipe::PipeArgs),
    /// The relay properties, on the reference relay or on a command.
    Relay(relay::CheckRelayArgs),
    /// The shell properties, on the reference shell and installed shells, or on a command.
    Shell(shell::CheckShellArgs),
    /// An echo server: any command, checked to be the variant it claims.
    Server(server::ServerArgs),
    /// The socket properties, on the kernel's socketpair, TCP (IPv4, IPv6) and Unix sockets.
    Socket(socket::SocketArgs),
    /// The client properties, on the reference client or on `-- CMD ARGS` (with `{host}`, `{port}`).
    Client(client::CheckClientArgs),
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    format: ListFormat,
    /// Only this profile's properties.
    #[arg(long, value_enum)]
    profile: Option<Profile>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ListFormat {
    Human,
    Json,
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
    #[arg(long, default_value_t = 5.0, value_parser = positive_seconds)]
    pub timeout: f64,
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
}

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

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => Ok(s),
        _ => Err(format!("`{text}` is not a positive number of seconds")),
    }
}

impl CheckOpts {
    /// The run context these options describe.
    pub fn ctx(&self) -> Ctx {
        Ctx {
            cases: self.cases,
            seed: self.seed,
            timeout: Duration::from_secs_f64(self.timeout),
            ..Ctx::default()
        }
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
pub fn replay_base() -> (String, String) {
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
/// property runs, when stderr is a terminal.
pub fn run_suites(suites: &[Suite], opts: &CheckOpts) -> anyhow::Result<ExitCode> {
    let selection = opts.selection();
    let ids = suites
        .iter()
        .flat_map(|s| s.checks.iter().map(|c| c.meta.id));
    selection.check_against(ids)?;
    if opts.list {
        for suite in suites {
            for check in suite.checks.iter().filter(|c| selection.selects(c.meta.id)) {
                println!("{}  ({})", check.meta.id, suite.label);
            }
        }
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
    let mut done = 0;
    let reports: Vec<Report> = suites
        .iter()
        .map(|suite| {
            let mut report = suite.run(&ctx, &selection, Some(&replay), |meta| {
                progress::step(&bar, done, &suite.label, meta.id);
                done += 1;
            });
            // `Suite::run` appends `--only ID --seed S`; the target goes after them.
            for line in report.results.iter_mut().filter_map(|r| r.replay.as_mut()) {
                line.push_str(&target);
            }
            report
        })
        .collect();
    bar.finish_and_clear();
    for (format, path) in &opts.report {
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("writing {}", path.display()))?,
        );
        report::render_weighted(&reports, *format, &weights, &mut file)?;
        file.flush()?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    report::render_weighted(&reports, opts.format, &weights, &mut out)?;
    out.flush()?;
    let code = report::exit_code(&reports);
    let ran = reports
        .iter()
        .flat_map(|r| &r.results)
        .any(|r| !matches!(r.verdict, spec::Verdict::Skip { .. }));
    if !ran {
        eprintln!("ipcspec: nothing was checked: every selected property is inapplicable here");
    }
    Ok(code)
}

/// The built-in references: this very executable.
pub fn references() -> anyhow::Result<References> {
    Ok(References {
        bin: std::env::current_exe()?,
    })
}

fn list(args: &ListArgs) -> anyhow::Result<i32> {
    let catalog: Vec<_> = spec::catalog()
        .into_iter()
        .filter(|m| args.profile.is_none_or(|p| m.profile == p))
        .collect();
    match args.format {
        ListFormat::Json => println!("{}", serde_json::to_string_pretty(&catalog)?),
        ListFormat::Human => {
            for meta in catalog {
                let scope = match meta.scope {
                    spec::Scope::All => String::new(),
                    spec::Scope::Only(kinds) => format!(" [{}]", kinds.join(", ")),
                };
                println!(
                    "{}{scope}\n    {}\n    ({})",
                    meta.id,
                    meta.statement,
                    meta.citation()
                );
            }
        }
    }
    Ok(0)
}

/// Parses the command line, runs it, and returns the exit code; errors are
/// printed as one line.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                ExitCode::Unusable
            } else {
                ExitCode::Conforms
            };
            let _ = e.print();
            return code.into();
        }
    };
    // Only checks and grading start targets to kill on Ctrl-C; the handler's thread
    // would make the reference programs multi-threaded, and the forking ones must not be.
    if matches!(cli.command, Command::Check(_) | Command::Grade(_)) {
        if let Err(e) = ipcspec::target::process::install_interrupt_handler() {
            eprintln!("ipcspec: warning: cannot catch Ctrl-C: {e}");
        }
    }
    let result = match &cli.command {
        Command::List(args) => list(args),
        Command::Check(check) => self::check(check).map(i32::from),
        Command::Grade(args) => grade::run(args),
        Command::Relay => relay::relay(),
        Command::Shell => shell::shell(),
        Command::Stage(stage) => shell::stage(stage),
        Command::Serve(args) => serve::serve(args),
        Command::Client(args) => client::client(args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("ipcspec: {e:#}");
        ExitCode::Unusable.into()
    })
}

fn check(command: &CheckCommand) -> anyhow::Result<ExitCode> {
    match command {
        CheckCommand::Pipe(args) => pipe::run(args),
        CheckCommand::Relay(args) => relay::check(args),
        CheckCommand::Shell(args) => shell::check(args),
        CheckCommand::Server(args) => server::run(args),
        CheckCommand::Socket(args) => socket::run(args),
        CheckCommand::Client(args) => client::check(args),
    }
}
