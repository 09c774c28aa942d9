//! Stream sockets as one interface: the kernel's — a socketpair, TCP over
//! IPv4 and IPv6, a Unix socket bound to a path — behind the traits the
//! socket properties are written against, so the same checks run on a
//! broken implementation (the kill matrix wraps the kernel's streams in
//! mutants) and the kernel stays the oracle.
//!
//! Guarantees of the kernel's streams ([`Transport`]):
//! - every blocking call is bounded by the timeout given at creation:
//!   `SO_RCVTIMEO`/`SO_SNDTIMEO` on each connection, and on the listener,
//!   whose `accept` honours `SO_RCVTIMEO`;
//! - writes are `send(MSG_NOSIGNAL)`: a vanished peer is `EPIPE` for the
//!   writer, never a `SIGPIPE` that would kill the checker;
//! - descriptors are close-on-exec, so no program a check starts inherits them.
//!
//! # References
//! - [socketpair(2)](https://man7.org/linux/man-pages/man2/socketpair.2.html), [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html) (`SO_RCVTIMEO`, `SO_SNDTIMEO`)
//! - [send(2)](https://man7.org/linux/man-pages/man2/send.2.html) (`MSG_NOSIGNAL`), [recv(2)](https://man7.org/linux/man-pages/man2/recv.2.html) (`MSG_PEEK`, `MSG_DONTWAIT`)
//! - [listen(2)](https://man7.org/linux/man-pages/man2/listen.2.html), [accept(2)](https://man7.org/linux/man-pages/man2/accept.2.html), [shutdown(2)](https://man7.org/linux/man-pages/man2/shutdown.2.html)

use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

/// Two streams connected to each other.
pub type Pair = (Box<dyn Stream>, Box<dyn Stream>);

/// A stream-socket implementation: something that makes connected streams
/// and, unless it is a socketpair, listeners.
pub trait StreamImpl: Send + Sync {
    /// The kind of transport, as scopes name it: `socketpair`, `tcp4`, `tcp6` or `unix`.
    fn kind(&self) -> &'static str;

    /// Two streams connected to each other; every blocking call on them
    /// gives up after `timeout`.
    fn connected(&self, timeout: Duration) -> io::Result<Pair>;

    /// A listening socket on a fresh address; `connect` and `accept` on it,
    /// and every blocking call on what they return, give up after `timeout`.
    fn listener(&self, timeout: Duration) -> io::Result<Box<dyn Listener>>;

    /// Whether its streams are kernel descriptors ([`Stream::as_fd`] is
    /// `Some`): only then can a write raise `SIGPIPE`.
    fn kernel_descriptors(&self) -> bool {
        false
    }
}

/// A passive socket: clients connect to it, the server side accepts them.
pub trait Listener: Send {
    /// A new client connection to this listener.
    fn connect(&self) -> io::Result<Box<dyn Stream>>;

    /// The next connection waiting to be accepted.
    fn accept(&self) -> io::Result<Box<dyn Stream>>;
}

/// One end of a connection: `read` returns what has arrived (0 at
/// end-of-file), `write` sends (and fails with `EPIPE` once the peer is
/// gone, without a signal).
pub trait Stream: Read + Write + Send {
    /// Another handle on the same end, as `dup(2)` makes.
    fn try_clone(&self) -> io::Result<Box<dyn Stream>>;

    /// `shutdown(SHUT_WR)`: no more sending; the peer reads end-of-file
    /// after the bytes already sent.
    fn shutdown_write(&self) -> io::Result<()>;

    /// How many bytes (at most `most`) a read would return now, without
    /// waiting and without taking them.
    fn queued(&self, most: usize) -> io::Result<usize>;

    /// The kernel descriptor behind this end, for properties that need one
    /// (a forked writer, the connection's state in /proc); `None` for a
    /// stream in user space.
    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// A kind of connected stream socket the kernel offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `socketpair(AF_UNIX, SOCK_STREAM)`: connected from birth, no listener.
    Socketpair,
    /// TCP over 127.0.0.1.
    Tcp4,
    /// TCP over ::1.
    Tcp6,
    /// A Unix stream socket bound to a path.
    Unix,
}

/// Every transport, in report order.
pub const TRANSPORTS: [Transport; 4] = [
    Transport::Socketpair,
    Transport::Tcp4,
    Transport::Tcp6,
    Transport::Unix,
];

/// A listening socket, and the temp dir its path lives in (Unix).
pub struct Listening {
    /// The passive socket.
    pub socket: Socket,
    /// Its address, for `connect`.
    pub addr: SockAddr,
    _dir: Option<tempfile::TempDir>,
}

impl Transport {
    /// The label reports and `Scope::Only` use: `socketpair`, `tcp4`, `tcp6`, `unix`.
    pub fn label(self) -> &'static str {
        match self {
            Transport::Socketpair => "socketpair",
            Transport::Tcp4 => "tcp4",
            Transport::Tcp6 => "tcp6",
            Transport::Unix => "unix",
        }
    }

    /// A fresh listening socket on a free port of the loopback address or a
    /// fresh path; a socketpair has none.
    pub fn listen(self) -> io::Result<Listening> {
        let (domain, addr, dir) = match self {
            Transport::Socketpair => {
                return Err(io::Error::other("a socketpair has no listener"));
            }
            Transport::Tcp4 => return Listening::tcp(Ipv4Addr::LOCALHOST.into()),
            Transport::Tcp6 => return Listening::tcp(Ipv6Addr::LOCALHOST.into()),
            Transport::Unix => {
                let dir = tempfile::tempdir()?;
                let addr = SockAddr::unix(dir.path().join("s"))?;
                (Domain::UNIX, addr, Some(dir))
            }
        };
        Listening::bound(domain, &addr, dir)
    }
}

impl Listening {
    /// A fresh listening TCP socket on a free port of `ip` alone: bound to
    /// `::1`, it takes no IPv4 connection.
    pub fn tcp(ip: IpAddr) -> io::Result<Listening> {
        let addr = SocketAddr::new(ip, 0);
        Listening::bound(Domain::for_address(addr), &addr.into(), None)
    }

    fn bound(
        domain: Domain,
        addr: &SockAddr,
        dir: Option<tempfile::TempDir>,
    ) -> io::Result<Listening> {
        let socket = Socket::new(domain, Type::STREAM, None)?;
        socket.bind(addr)?;
        socket.listen(128)?;
        let addr = socket.local_addr()?;
        Ok(Listening {
            socket,
            addr,
            _dir: dir,
        })
    }
}

/// `socket` with every blocking call bounded by `timeout`.
fn bounded(socket: Socket, timeout: Duration) -> io::Result<Socket> {
    socket.set_read_timeout(Some(timeout))?;
    socket.set_write_timeout(Some(timeout))?;
    Ok(socket)
}

impl StreamImpl for Transport {
    fn kind(&self) -> &'static str {
        self.label()
    }

    fn connected(&self, timeout: Duration) -> io::Result<Pair> {
        if *self == Transport::Socketpair {
            let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
            return Ok((
                Box::new(Kernel(bounded(a, timeout)?)),
                Box::new(Kernel(bounded(b, timeout)?)),
            ));
        }
        let listener = self.listener(timeout)?;
        let a = listener.connect()?;
        let b = listener.accept()?;
        Ok((a, b))
    }

    fn listener(&self, timeout: Duration) -> io::Result<Box<dyn Listener>> {
        let listening = self.listen()?;
        listening.socket.set_read_timeout(Some(timeout))?;
        Ok(Box::new(KernelListener { listening, timeout }))
    }

    fn kernel_descriptors(&self) -> bool {
        true
    }
}

/// A kernel listener with its timeout.
struct KernelListener {
    listening: Listening,
    timeout: Duration,
}

impl Listener for KernelListener {
    fn connect(&self) -> io::Result<Box<dyn Stream>> {
        let domain = Domain::from(i32::from(self.listening.addr.family()));
        let socket = bounded(Socket::new(domain, Type::STREAM, None)?, self.timeout)?;
        socket.connect(&self.listening.addr)?;
        Ok(Box::new(Kernel(socket)))
    }

    fn accept(&self) -> io::Result<Box<dyn Stream>> {
        let (socket, _) = self.listening.socket.accept()?;
        Ok(Box::new(Kernel(bounded(socket, self.timeout)?)))
    }
}

/// One end of a kernel connection.
struct Kernel(Socket);

impl Read for Kernel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.0).read(buf)
    }
}

impl Write for Kernel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send_with_flags(buf, libc::MSG_NOSIGNAL)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for Kernel {
    fn try_clone(&self) -> io::Result<Box<dyn Stream>> {
        Ok(Box::new(Kernel(self.0.try_clone()?)))
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.0.shutdown(Shutdown::Write)
    }

    fn queued(&self, most: usize) -> io::Result<usize> {
        let mut buf = vec![MaybeUninit::<u8>::uninit(); most];
        match self
            .0
            .recv_with_flags(&mut buf, libc::MSG_PEEK | libc::MSG_DONTWAIT)
        {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            other => other,
        }
    }

    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.0.as_fd())
    }
}
