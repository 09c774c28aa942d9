//! `ipcspec check pipe`: the pipe properties on the kernel and the reference.

use clap::{Args, ValueEnum};

use ipcspec::spec::{self, Profile};

use super::CheckOpts;

/// Arguments of `check pipe`.
#[derive(Debug, Args)]
pub struct PipeArgs {
    /// Check only this implementation (default: both).
    #[arg(long = "impl", value_enum)]
    pub implementation: Option<Implementation>,
    #[command(flatten)]
    pub opts: CheckOpts,
}

/// A built-in pipe implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Implementation {
    /// The kernel's pipe(2).
    Kernel,
    /// The reference in-memory pipe.
    Reference,
}

/// Runs `check pipe`.
pub fn run(args: &PipeArgs) -> anyhow::Result<ipcspec::report::ExitCode> {
    let wanted = args
        .implementation
        .and_then(|i| i.to_possible_value())
        .map(|v| v.get_name().to_string());
    let suites: Vec<_> = spec::reference_suites(Profile::Pipe, &super::references()?)
        .into_iter()
        .filter(|s| wanted.as_ref().is_none_or(|w| *w == s.label))
        .collect();
    super::run_suites(&suites, &args.opts)
}
