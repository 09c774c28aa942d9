//! `ipcspec check server`: is a program the echo-server variant it claims?

use clap::Args;

use ipcspec::report::ExitCode;
use ipcspec::spec::{self, Profile};
use ipcspec::target::CommandSpec;

use super::CheckOpts;

/// Arguments of `check server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The variant the server claims: sequential, fork-wait, fork, thread or
    /// pool:N. Without a command, the reference of that variant is checked.
    #[arg(long)]
    pub variant: Option<String>,
    #[command(flatten)]
    pub opts: CheckOpts,
    /// The server's command line, with {port} (TCP on 127.0.0.1) or {socket}
    /// (a Unix socket path) where it takes its address. Without one, the
    /// reference servers are checked.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Runs `check server`.
pub fn run(args: &ServerArgs) -> anyhow::Result<ExitCode> {
    let refs = super::references()?;
    let suites = if args.command.is_empty() {
        match &args.variant {
            Some(variant) => spec::server::reference_suites_of(&[variant], &refs)?,
            None => spec::reference_suites(Profile::Server, &refs),
        }
    } else {
        let command = CommandSpec::new(&args.command)?;
        vec![spec::target_suite(
            Profile::Server,
            command,
            args.variant.as_deref(),
            &refs,
        )?]
    };
    super::run_suites(&suites, &args.opts)
}
