//! The command tree: `check` (one handler for every profile, built from the
//! registry), `list`, `grade`, and the reference programs. Each family's
//! arguments and handler live in the module named after it.
//!
//! Exit codes are [`ExitCode`]'s: 0 conforms, 1 a property failed, 2 usage
//! error or the target could not be run (one line on stderr, never a
//! panic), 130 interrupted. The reference programs (`relay`, `shell`,
//! `stage`) exit with their own statuses instead, as the programs they are.

mod check;
mod client;
mod grade;
mod live;
mod progress;
mod relay;
mod serve;
mod shell;

use std::io::Write as _;

use clap::{Args, Parser, Subcommand};

use ipcspec::report::ExitCode;
use ipcspec::spec::{self, Profile};

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
    Check(check::CheckCommand),
    /// Build and check every submission a manifest lists; write reports and a summary.
    Grade(grade::GradeArgs),
    /// The reference relay: stdin to stdout through a pipe to a forked child.
    Relay,
    /// The reference mini-shell: runs each line of stdin as a pipeline.
    Shell,
    /// The shell probe: stages that `check shell` runs inside pipelines.
    #[command(subcommand)]
    Stage(shell::StageCommand),
    /// Run a reference server: echo (the default) or http.
    Serve(serve::ServeArgs),
    /// Run the reference line client: stdin to the server, replies to stdout.
    Client(client::ClientArgs),
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

/// `text` as a positive, finite number of seconds.
pub fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => Ok(s),
        _ => Err(format!("`{text}` is not a positive number of seconds")),
    }
}

fn list(args: &ListArgs) -> anyhow::Result<ExitCode> {
    let catalog: Vec<_> = match args.profile {
        None => spec::catalog(),
        Some(profile) => {
            let spec = profile.spec();
            (spec.properties)()
                .into_iter()
                .chain((spec.shared)())
                .collect()
        }
    };
    match args.format {
        ListFormat::Json => print_lines([serde_json::to_string_pretty(&catalog)?])?,
        ListFormat::Human => print_lines(catalog.into_iter().map(|meta| {
            let scope = match meta.scope {
                spec::Scope::All => String::new(),
                spec::Scope::Only(kinds) => format!(" [{}]", kinds.join(", ")),
            };
            format!(
                "{}{scope}\n    {}\n    ({})",
                meta.id,
                meta.statement,
                meta.citation()
            )
        }))?,
    }
    Ok(ExitCode::Conforms)
}

/// Writes a listing to stdout, a line per item. A reader that stops early
/// (`ipcspec list | head`) ends the listing quietly, as it would any Unix
/// filter's: no verdict depends on a listing.
pub fn print_lines(lines: impl IntoIterator<Item = String>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for line in lines {
        match writeln!(out, "{line}") {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            written => written?,
        }
    }
    Ok(())
}

/// Parses the command line, runs it, and returns the exit code; errors are
/// printed as one line.
pub fn main() -> std::process::ExitCode {
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
    // Namespaces are entered per thread: before the interrupt handler's.
    if let Command::Check(command) = &cli.command {
        if let Err(e) = check::enter_sandbox(command) {
            eprintln!("ipcspec: {e}");
            return ExitCode::Unusable.into();
        }
    }
    // Only checks and grading start targets to kill on Ctrl-C; the handler's thread
    // would make the reference programs multi-threaded, and the forking ones must not be.
    if matches!(cli.command, Command::Check(_) | Command::Grade(_)) {
        if let Err(e) = ipcspec::target::process::install_interrupt_handler() {
            eprintln!("ipcspec: warning: cannot catch Ctrl-C: {e}");
        }
    }
    let result = match &cli.command {
        Command::List(args) => list(args).map(Into::into),
        Command::Check(command) => check::run(command).map(Into::into),
        Command::Grade(args) => grade::run(args).map(Into::into),
        Command::Relay => relay::relay().map(program_status),
        Command::Shell => shell::shell().map(program_status),
        Command::Stage(stage) => shell::stage(stage).map(program_status),
        Command::Serve(args) => serve::serve(args).map(Into::into),
        Command::Client(args) => client::client(args).map(Into::into),
    };
    ipcspec::target::process::wait_if_interrupted();
    ipcspec::target::sandbox::release();
    result.unwrap_or_else(|e| {
        eprintln!("ipcspec: {e:#}");
        ExitCode::Unusable.into()
    })
}

/// A reference program's own exit status (a relay that could not write
/// exits 1, as any program would), which is not a verdict.
fn program_status(status: i32) -> std::process::ExitCode {
    u8::try_from(status).map_or(std::process::ExitCode::FAILURE, Into::into)
}
