//! `ipcspec check server`: is a program the echo-server variant it claims?

use clap::Args;

use ipcspec::spec::{self, Profile};
use ipcspec::target::CommandSpec;

use super::CheckOpts;

/// Arguments of `check server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The variant the server claims: sequential, fork-wait, fork, thread or pool:N.
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
pub fn run(args: &ServerArgs) -> anyhow::Result<i32> {
    let refs = super::references()?;
    let suites = if args.command.is_empty() {
        let mut suites = spec::reference_suites(Profile::Server, &refs);
        if let Some(variant) = &args.variant {
            suites.retain(|s| s.variant.as_ref() == Some(variant));
        }
        suites
    } else {
        let command = CommandSpec::new(&args.command)?;
        let variant = args.variant.as_deref();
        let suite = spec::target_suite(Profile::Server, command.clone(), variant, &refs)?;
        if !args.opts.list {
            spec::server::preflight(&command, &args.opts.ctx())?;
        }
        vec![suite]
    };
    super::run_suites(&suites, &args.opts)
}
