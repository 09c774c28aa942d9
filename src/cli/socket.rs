//! `ipcspec check socket`: the kernel's stream sockets against the socket properties.

use clap::Args;

use ipcspec::spec::{self, Profile};

use super::CheckOpts;

/// Arguments of `check socket`.
#[derive(Debug, Args)]
pub struct SocketArgs {
    #[command(flatten)]
    pub opts: CheckOpts,
}

/// Runs `check socket`.
pub fn run(args: &SocketArgs) -> anyhow::Result<ipcspec::report::ExitCode> {
    let suites = spec::reference_suites(Profile::Socket, &super::references()?);
    super::run_suites(&suites, &args.opts)
}
