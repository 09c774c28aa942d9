//! `ipcspec serve`: the reference echo servers, and where to listen or connect.

use std::path::PathBuf;

use clap::Args;

use ipcspec::reference::server::{self, Variant};
use ipcspec::report::ExitCode;
use ipcspec::target::net::Endpoint;

/// Where to listen or connect: a TCP port (and host) or a Unix socket path.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Place {
    /// TCP port (0: any free port; the `listening on` line tells which).
    #[arg(long)]
    pub port: Option<u16>,
    /// Unix stream socket path.
    #[arg(long)]
    pub unix: Option<PathBuf>,
}

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// How connections are served: sequential, fork-wait, fork, thread, pool:N.
    #[arg(long, value_parser = parse_variant)]
    pub variant: Variant,
    #[command(flatten)]
    pub place: Place,
    /// Host or address to listen on (IPv4 or IPv6).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
}

fn parse_variant(text: &str) -> Result<Variant, String> {
    text.parse()
        .map_err(|e: server::UnknownVariant| e.to_string())
}

pub fn endpoint(place: &Place, host: &str) -> Endpoint {
    match (&place.unix, place.port) {
        (Some(path), _) => Endpoint::Unix(path.clone()),
        (None, port) => Endpoint::Tcp {
            host: host.to_string(),
            port: port.unwrap_or(0),
        },
    }
}

/// Runs `serve`; returns only when the server cannot go on.
pub fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let endpoint = endpoint(&args.place, &args.host);
    server::serve(args.variant, &endpoint)
        .map_err(|e| anyhow::anyhow!("serve {} on {endpoint}: {e}", args.variant))?;
    Ok(ExitCode::Conforms)
}
