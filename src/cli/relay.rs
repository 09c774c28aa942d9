//! `ipcspec relay` (the reference relay) and `ipcspec check relay`.

use clap::Args;

use ipcspec::spec::{self, Profile};
use ipcspec::target::CommandSpec;

use super::CheckOpts;

/// Arguments of `check relay`.
#[derive(Debug, Args)]
pub struct CheckRelayArgs {
    #[command(flatten)]
    pub opts: CheckOpts,
    /// The relay to check, after `--` (default: the reference relay).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Runs `check relay`.
pub fn check(args: &CheckRelayArgs) -> anyhow::Result<ipcspec::report::ExitCode> {
    let refs = super::references()?;
    let suites = if args.command.is_empty() {
        spec::reference_suites(Profile::Relay, &refs)
    } else {
        let command = CommandSpec::new(&args.command)?;
        vec![spec::target_suite(Profile::Relay, command, None, &refs)?]
    };
    super::run_suites(&suites, &args.opts)
}

/// Runs the reference relay on stdin and stdout.
pub fn relay() -> anyhow::Result<i32> {
    Ok(ipcspec::reference::relay::run()?)
}
