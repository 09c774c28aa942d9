//! `ipcspec serve [echo|http]`: the reference servers, and where to listen or connect.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};

use ipcspec::reference::http::DocumentRoot;
use ipcspec::reference::server::{self, Service, Variant};
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

/// What a reference server does with each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// Echo every byte back until the client half-closes.
    Echo,
    /// Answer one HTTP GET or HEAD per connection with a file under `--files`.
    Http,
}

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// What each connection is served.
    #[arg(value_enum, default_value = "echo")]
    pub protocol: Protocol,
    /// How connections are served: sequential, fork-wait, fork, thread, pool:N, event-loop.
    #[arg(long, value_parser = parse_variant)]
    pub variant: Variant,
    #[command(flatten)]
    pub place: Place,
    /// Host or address to listen on (IPv4 or IPv6).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The document root `http` serves (required for http, refused for echo).
    #[arg(long, value_name = "DIR")]
    pub files: Option<PathBuf>,
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
    let service = match (args.protocol, &args.files) {
        (Protocol::Echo, None) => Service::Echo,
        (Protocol::Http, Some(dir)) => Service::Http(
            DocumentRoot::new(dir).with_context(|| format!("--files {}", dir.display()))?,
        ),
        (Protocol::Http, None) => bail!("serve http needs --files DIR, the document root"),
        (Protocol::Echo, Some(_)) => bail!("--files is for serve http; serve echo serves no files"),
    };
    let endpoint = endpoint(&args.place, &args.host);
    server::serve(args.variant, service, &endpoint)
        .map_err(|e| anyhow::anyhow!("serve {} on {endpoint}: {e}", args.variant))?;
    Ok(ExitCode::Conforms)
}
