//! Stream-socket addresses and byte moving shared by everything that talks
//! over the network: the references, the check's in-process servers and
//! the harness that drives a server under test ([`super::server`]).
//!
//! Guarantees: one [`Endpoint`] type names where any stream socket of the
//! crate listens or connects; [`free_port`] hands out a port below the
//! ephemeral range, so no outgoing `connect()` can take it before the server
//! binds it, and never one it handed out lately, so properties checked at
//! once (`check --jobs`) never share a port; [`send_all`] never raises
//! `SIGPIPE`; [`more_than_buffers`] is more than the TCP buffers between
//! two sockets hold.
//!
//! # References
//! - [connect(2)](https://man7.org/linux/man-pages/man2/connect.2.html), [unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html): a blocking Unix connect waits for backlog room, bounded by `SO_SNDTIMEO`
//! - [send(2)](https://man7.org/linux/man-pages/man2/send.2.html): `MSG_NOSIGNAL`
//! - [ip(7)](https://man7.org/linux/man-pages/man7/ip.7.html): `ip_local_port_range`

use std::collections::VecDeque;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

use super::observe;
use super::TargetError;

/// More than every buffer between a client and a server can hold, in both
/// directions. Each side's send and receive buffers grow on demand up to
/// the kernel's maxima (the third field of `tcp_wmem` and `tcp_rmem`,
/// tcp(7): 4 and 6 MiB by default, 1 MiB each in the checker's own network
/// namespace, `sys::enter_private_network`), so a fixed figure can fall
/// short: a flood would then end while the server still reads. Read from
/// the namespace the caller is in.
pub fn more_than_buffers() -> usize {
    let most = |sysctl: &str, default: usize| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/{sysctl}"))
            .ok()
            .and_then(|fields| fields.split_whitespace().nth(2)?.parse().ok())
            .unwrap_or(default)
    };
    2 * (most("tcp_rmem", 6 << 20) + most("tcp_wmem", 4 << 20)) + (1 << 20)
}

/// Where a server listens, or a client connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP host (name or address) and port.
    Tcp {
        /// Host name or numeric address; looked up with `AF_UNSPEC`.
        host: String,
        /// Port number; 0 asks the kernel for a free one (servers only).
        port: u16,
    },
    /// A Unix stream socket at this path.
    Unix(PathBuf),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Endpoint {
    /// TCP port `port` of 127.0.0.1.
    pub fn loopback(port: u16) -> Endpoint {
        Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port,
        }
    }

    /// The TCP address, when the host is a numeric address (as the
    /// harness's endpoints always are); `None` for Unix or a host name.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        match self {
            Endpoint::Tcp { host, port } => {
                Some(SocketAddr::new(host.parse::<IpAddr>().ok()?, *port))
            }
            Endpoint::Unix(_) => None,
        }
    }

    /// Whether a socket listens here, as `/proc/net` shows it.
    pub fn listening(&self) -> bool {
        match self {
            Endpoint::Tcp { .. } => self.tcp_addr().is_some_and(observe::tcp_listening),
            Endpoint::Unix(path) => observe::unix_listening(path),
        }
    }

    /// `listening on ADDRESS`: what a server that started is awaited to do.
    pub fn describe(&self) -> String {
        format!("listening on {self}")
    }

    /// A connection to this endpoint (numeric TCP or Unix), made within
    /// `bound`: a TCP connect times out, a Unix one waits for backlog room
    /// at most that long (a non-blocking one would fail at once on a full
    /// backlog). TCP connections send at once, never held back by Nagle.
    pub fn dial(&self, bound: Duration) -> io::Result<Socket> {
        match self {
            Endpoint::Tcp { .. } => {
                let addr = self
                    .tcp_addr()
                    .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
                let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
                socket.connect_timeout(&addr.into(), bound)?;
                socket.set_tcp_nodelay(true)?;
                Ok(socket)
            }
            Endpoint::Unix(path) => {
                let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
                socket.set_write_timeout(Some(bound))?;
                socket.connect(&SockAddr::unix(path)?)?;
                socket.set_write_timeout(None)?;
                Ok(socket)
            }
        }
    }
}

/// Ports [`free_port`] handed out lately, newest last: a check may bind one
/// (or bind it again, to restart a server on it) at any moment, so none is
/// handed out again while it may still be in use.
fn handed_out() -> MutexGuard<'static, VecDeque<u16>> {
    static PORTS: Mutex<VecDeque<u16>> = Mutex::new(VecDeque::new());
    PORTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// How many ports [`handed_out`] remembers: far more than a run binds in
/// the time one property takes.
const REMEMBERED: usize = 1024;

/// A TCP port of 127.0.0.1 that is free, and below the ephemeral range
/// (`ip_local_port_range`) when there is room: between the moment it is
/// found free and the moment the server binds it, no `connect()` on the
/// machine takes it as its source port, as one may take a port `bind(:0)`
/// handed out, and no other property of this run is handed it. The
/// kernel's own choice is the fallback.
pub fn free_port() -> Result<u16, TargetError> {
    let mut handed_out = handed_out();
    let port = pick_free_port(&handed_out)?;
    if handed_out.len() == REMEMBERED {
        handed_out.pop_front();
    }
    handed_out.push_back(port);
    Ok(port)
}

/// A free port, as [`free_port`] says, other than those in `taken`.
fn pick_free_port(taken: &VecDeque<u16>) -> Result<u16, TargetError> {
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let low = (ephemeral / 2).max(1024);
    if ephemeral > low {
        let mut random = std::collections::hash_map::RandomState::new().build_hasher();
        for attempt in 0u32..64 {
            random.write_u32(attempt);
            let port = low + (random.finish() % u64::from(ephemeral - low)) as u16;
            if taken.contains(&port) {
                continue;
            }
            // Without SO_REUSEADDR (which std's bind sets): free for a
            // server that does not set it either, as the lecture's does not.
            let probe = Socket::new(Domain::IPV4, Type::STREAM, None)
                .and_then(|s| s.bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], port)))));
            if probe.is_ok() {
                return Ok(port);
            }
        }
    }
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| TargetError::setup("a free TCP port", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| TargetError::setup("a free TCP port", e))?
        .port();
    Ok(port)
}

/// Sends all of `bytes`, resuming short writes and retrying `EINTR`;
/// `MSG_NOSIGNAL` turns a vanished peer into `EPIPE` rather than `SIGPIPE`.
pub fn send_all(conn: &Socket, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match conn.send_with_flags(bytes, libc::MSG_NOSIGNAL) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_never_handed_out_twice_in_a_row_of_many() {
        let ports: Vec<u16> = (0..200).map(|_| free_port().unwrap()).collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    }

    #[test]
    fn loopback_endpoints_have_a_numeric_address_and_unix_ones_none() {
        let tcp = Endpoint::loopback(4000);
        assert_eq!(
            tcp.tcp_addr(),
            Some(SocketAddr::from(([127, 0, 0, 1], 4000)))
        );
        assert_eq!(tcp.describe(), "listening on 127.0.0.1:4000");
        assert_eq!(Endpoint::Unix("/tmp/x.sock".into()).tcp_addr(), None);
    }
}
