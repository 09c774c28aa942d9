//! `ipcspec client` (the reference line client) and `ipcspec check client`.

use clap::Args;

use ipcspec::reference::client;
use ipcspec::spec::{self, Profile};
use ipcspec::target::CommandSpec;

use super::serve::{endpoint, Place};
use super::CheckOpts;

/// Arguments of `client`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    #[command(flatten)]
    pub place: Place,
    /// Host or address of the server (looked up as IPv4 or IPv6).
    #[arg(long, default_value = "localhost")]
    pub host: String,
}

/// Runs `client` until the server closes the connection.
pub fn client(args: &ClientArgs) -> anyhow::Result<i32> {
    let endpoint = endpoint(&args.place, &args.host);
    client::run(&endpoint, std::io::stdin(), std::io::stdout().lock())
        .map_err(|e| anyhow::anyhow!("client of {endpoint}: {e}"))?;
    Ok(0)
}

/// Arguments of `check client`.
#[derive(Debug, Args)]
pub struct CheckClientArgs {
    #[command(flatten)]
    pub opts: CheckOpts,
    /// The client to check, after `--`; `{host}` and `{port}` are filled in
    /// (`{port}` is required). Without it, the reference client is checked.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Runs `check client`.
pub fn check(args: &CheckClientArgs) -> anyhow::Result<ipcspec::report::ExitCode> {
    let refs = super::references()?;
    let suites = if args.command.is_empty() {
        spec::reference_suites(Profile::Client, &refs)
    } else {
        let command = CommandSpec::new(&args.command)?;
        vec![spec::target_suite(Profile::Client, command, None, &refs)?]
    };
    super::run_suites(&suites, &args.opts)
}
