//! Writing to a connection whose peer has closed: `EPIPE` for a writer that
//! asks for no signal, death by `SIGPIPE` for one with the default action.
//!
//! "The peer's reset has arrived" is observed, not waited for: a TCP
//! connection leaves `/proc/net/tcp` once the reset closes it, and a Unix
//! end learns of its peer's close at once. The `SIGPIPE` writer is a forked
//! child ([`sys::sigpipe_writer`]), and its writes are counted in its
//! `/proc/<pid>/io`.
//!
//! # References
//! - [send(2)](https://man7.org/linux/man-pages/man2/send.2.html) (`EPIPE`, `MSG_NOSIGNAL`), [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html)
//! - [fork(2)](https://man7.org/linux/man-pages/man2/fork.2.html), [close_range(2)](https://man7.org/linux/man-pages/man2/close_range.2.html), [waitpid(2)](https://man7.org/linux/man-pages/man2/waitpid.2.html)
//! - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html) (`/proc/<pid>/io`, `/proc/net/tcp`)

use std::net::SocketAddr;
use std::time::Duration;

use nix::sys::signal::Signal;
use socket2::SockRef;

use super::{connected, setup, Stream, StreamImpl};
use crate::spec::op::{wait_child, Ended, Wakers};
use crate::spec::{ensure, Ctx, Failure, Finding, Outcome};
use crate::sys::{self, SigpipeDisposition};
use crate::target::observe;
use crate::target::settle::{self, Bound, Gaps, Look, Shown};

/// How to tell that a closed peer's reset has come back to a TCP end:
/// the connection leaves `/proc/net/tcp` once the reset closes it. A Unix
/// end, or one in user space, learns of its peer's close at once.
enum Reset {
    /// The connection's addresses, as `/proc/net/tcp{,6}` lists it.
    Tcp { local: SocketAddr, peer: SocketAddr },
    /// Nothing to wait for.
    Immediate,
}

impl Reset {
    /// For the connection behind `stream`; call it while the peer is still there.
    fn of(stream: &dyn Stream) -> Reset {
        let inet = stream.as_fd().and_then(|fd| {
            let socket = SockRef::from(&fd);
            Some((
                socket.local_addr().ok()?.as_socket()?,
                socket.peer_addr().ok()?.as_socket()?,
            ))
        });
        match inet {
            Some((local, peer)) => Reset::Tcp { local, peer },
            None => Reset::Immediate,
        }
    }

    /// Whether the peer's close has fully arrived.
    fn arrived(&self) -> bool {
        match self {
            Reset::Tcp { local, peer } => observe::tcp_unread(*local, *peer).is_none(),
            Reset::Immediate => true,
        }
    }

    /// Whether the connection is still open at both ends (TCP state
    /// `ESTABLISHED`): its peer has not even begun to close.
    fn established(&self) -> bool {
        let Reset::Tcp { local, peer } = self else {
            return false;
        };
        observe::tcp_sockets().iter().any(|e| {
            e.local_address == *local
                && e.remote_address == *peer
                && e.state == observe::TcpState::Established
        })
    }
}

/// Writes one may still make after the peer's reset arrived before a write
/// must fail: the one that reports the reset itself (`ECONNRESET`), then
/// the one that finds the connection gone.
const WRITES_AFTER_RESET: usize = 2;

/// `socket.write.epipe-after-peer-closed`: writes after the peer closed;
/// once its reset has arrived (at once for Unix), within
/// [`WRITES_AFTER_RESET`] writes, one must fail with `EPIPE`.
pub(super) fn epipe_after_peer_closed(sockets: &dyn StreamImpl, ctx: &Ctx) -> Outcome {
    let (mut a, b) = connected(sockets, ctx)?;
    let reset = Reset::of(&*a);
    drop(b);
    let (mut seen, mut after_reset) = (Vec::new(), 0);
    // Awaited by looking at /proc/net/tcp; once the reset is there, every write counts.
    let written = settle::wait(
        ctx.timeout,
        &mut Bound(Shown::Nothing, Gaps::Steady(Duration::from_millis(1))),
        || {
            let arrived = reset.arrived();
            match a.write(b"x") {
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => return Look::Done(Ok(())),
                Ok(_) => seen.push("ok".to_string()),
                Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => {
                    seen.push("ECONNRESET".into())
                }
                Err(e) => seen.push(e.to_string()),
            }
            if !arrived {
                return Look::Waiting;
            }
            after_reset += 1;
            if after_reset <= WRITES_AFTER_RESET {
                return Look::Again;
            }
            Look::Done(Err(Finding::violated(
                "a write to fail with EPIPE, at the latest once the peer's reset has arrived",
                format!(
                    "{} writes, {after_reset} of them after the reset, none EPIPE: {}",
                    seen.len(),
                    summarize(&seen)
                ),
            )))
        },
    );
    written.unwrap_or_else(|_| {
        Err(Finding::hung(
            format!(
                "the peer's reset to arrive ({} writes: {})",
                seen.len(),
                summarize(&seen)
            ),
            "",
        ))
    })
}

fn summarize(seen: &[String]) -> String {
    let mut runs: Vec<(usize, &str)> = Vec::new();
    for s in seen {
        match runs.last_mut() {
            Some((n, last)) if *last == s.as_str() => *n += 1,
            _ => runs.push((1, s)),
        }
    }
    runs.iter()
        .map(|(n, s)| format!("{n}× {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `socket.write.sigpipe-after-peer-closed`: under the default disposition
/// a forked child writes on a connection whose peer has closed, until a
/// write fails; it must be killed by `SIGPIPE` within
/// [`WRITES_AFTER_RESET`] writes of the reset's arrival (counted in its
/// `/proc/<pid>/io`).
pub(super) fn sigpipe_after_peer_closed(sockets: &dyn StreamImpl, ctx: &Ctx) -> Outcome {
    let expected = "the writer to be killed by SIGPIPE (default disposition) once the peer is gone";
    let (a, b) = connected(sockets, ctx)?;
    let Some(fd) = a.as_fd() else {
        return Err(Finding::violated(
            "a kernel descriptor behind the stream (the implementation declares kernel descriptors)",
            "Stream::as_fd returned None",
        ));
    };
    let reset = Reset::of(&*a);
    drop(b);
    let child = sys::sigpipe_writer(fd, SigpipeDisposition::Default)
        .map_err(|e| setup("fork", e.into()))?;
    drop(a);
    let mut since_reset: Option<u64> = None;
    let ended = wait_child(child, ctx.timeout, expected, Wakers::Kernel, || {
        // A write on a connection whose peer has closed never waits for room:
        // asleep in it, on a connection still open at both ends, the writer
        // was given a descriptor whose peer is alive.
        if reset.established() {
            if let Ok(threads) = observe::quiescent(&[child]) {
                return Some(Finding::Violated(Failure {
                    expected: expected.into(),
                    observed: "it sleeps in a write on a connection still open at both ends (TCP state ESTABLISHED): the peer of the descriptor it was given never closed".into(),
                    threads: Some(observe::describe(&threads)),
                    ..Failure::default()
                }));
            }
        }
        if since_reset.is_none() && reset.arrived() {
            since_reset = observe::io(child).map(|io| io.syscw);
        }
        let writes = observe::io(child)?.syscw - since_reset?;
        (writes > WRITES_AFTER_RESET as u64).then(|| {
            Finding::violated(
                expected,
                format!(
                    "{writes} writes after the peer's reset had arrived, and it is still alive"
                ),
            )
        })
    })?;
    ensure(
        ended == Ended::Signaled(Signal::SIGPIPE),
        || expected.into(),
        || match ended {
            Ended::Exited(sys::WRITER_EPIPE | sys::WRITER_FAILED) => {
                "a write failed with an error other than ECONNRESET, without SIGPIPE".into()
            }
            Ended::Exited(code) => format!("it exited with status {code}"),
            Ended::Signaled(signal) => format!("killed by {}", signal.as_str()),
        },
    )
}
