//! Reference socket plumbing: where a server listens or a client connects,
//! address lookup for clients, and passive setup for servers.
//!
//! Every connection is a [`socket2::Socket`], whatever its family, so the
//! servers and the client handle TCP (IPv4 or IPv6) and Unix stream sockets
//! with one code path.
//!
//! # References
//! - [getaddrinfo(3)](https://man7.org/linux/man-pages/man3/getaddrinfo.3.html): lookup with `AF_UNSPEC`, as the lecture's `lookup_host`
//! - [socket(2)](https://man7.org/linux/man-pages/man2/socket.2.html)
//! - [bind(2)](https://man7.org/linux/man-pages/man2/bind.2.html)
//! - [listen(2)](https://man7.org/linux/man-pages/man2/listen.2.html)
//! - [accept(2)](https://man7.org/linux/man-pages/man2/accept.2.html)
//! - [connect(2)](https://man7.org/linux/man-pages/man2/connect.2.html)

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::target::net::Endpoint;

/// `lookup()`—every address `host:port` names, IPv4 and IPv6 (`AF_UNSPEC`).
///
/// An empty list is an error that names the host, like `gai_strerror` would.
pub fn lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let found: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    if found.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host}: no address found"),
        ));
    }
    Ok(found)
}

/// `connect()`—a stream connected to `endpoint`, trying each looked-up address in turn.
pub fn connect(endpoint: &Endpoint) -> io::Result<Socket> {
    match endpoint {
        Endpoint::Unix(path) => {
            let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
            socket.connect(&SockAddr::unix(path)?)?;
            Ok(socket)
        }
        Endpoint::Tcp { host, port } => {
            let mut last = None;
            for addr in lookup(host, *port)? {
                let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
                match socket.connect(&addr.into()) {
                    Ok(()) => return Ok(socket),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrNotAvailable)))
        }
    }
}

/// How many connections may wait, completed but not yet accepted.
pub const BACKLOG: i32 = 128;

/// `listen()`—a passive socket bound to `endpoint` and listening with [`BACKLOG`].
///
/// TCP sockets set `SO_REUSEADDR`, so a restarted server can bind while old
/// connections linger in `TIME_WAIT`; a stale Unix socket file is removed first
/// (a non-socket file at that path is left alone, and `bind` reports it).
pub fn listen(endpoint: &Endpoint) -> io::Result<Socket> {
    let (socket, addr) = match endpoint {
        Endpoint::Unix(path) => {
            remove_stale_socket(path)?;
            (
                Socket::new(Domain::UNIX, Type::STREAM, None)?,
                SockAddr::unix(path)?,
            )
        }
        Endpoint::Tcp { host, port } => {
            let addr = *lookup(host, *port)?
                .first()
                .expect("lookup returns at least one address");
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
            socket.set_reuse_address(true)?;
            (socket, addr.into())
        }
    };
    socket.bind(&addr)?;
    socket.listen(BACKLOG)?;
    Ok(socket)
}

fn remove_stale_socket(path: &std::path::Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path),
        _ => Ok(()),
    }
}

/// A socket address as people write it: `127.0.0.1:4000`, `[::1]:4000`, or a path.
pub fn describe(addr: &SockAddr) -> String {
    if let Some(inet) = addr.as_socket() {
        inet.to_string()
    } else if let Some(path) = addr.as_pathname() {
        path.display().to_string()
    } else {
        "an unnamed socket".into()
    }
}
