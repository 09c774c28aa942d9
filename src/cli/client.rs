//! `ipcspec client` (the reference line client) and `ipcspec check client`.

use clap::Args;

use ipcspec::reference::client;
use ipcspec::report::ExitCode;

use super::serve::{endpoint, Place};

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
pub fn client(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let endpoint = endpoint(&args.place, &args.host);
    client::run(&endpoint, std::io::stdin(), std::io::stdout().lock())
        .map_err(|e| anyhow::anyhow!("client of {endpoint}: {e}"))?;
    Ok(ExitCode::Conforms)
}
