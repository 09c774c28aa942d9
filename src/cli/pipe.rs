//! `ipcspec check pipe`: the pipe properties on the kernel and the reference.

use clap::Args;

use ipcspec::spec::{self, Profile};

use super::CheckOpts;

/// Arguments of `check pipe`.
#[derive(Debug, Args)]
pub struct PipeArgs {
    #[command(flatten)]
    pub opts: CheckOpts,
}

/// Runs `check pipe`.
pub fn run(args: &PipeArgs) -> anyhow::Result<i32> {
    let suites = spec::reference_suites(Profile::Pipe, &super::references()?);
    super::run_suites(&suites, &args.opts)
}
