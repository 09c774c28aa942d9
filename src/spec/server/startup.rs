//! Start-up: a server started again on the port it just served on (its
//! connections of a moment ago in TIME_WAIT) starts and serves, and a
//! server given a port another process holds says so and exits, rather
//! than hanging or serving elsewhere.
//!
//! Both are about a TCP port; over a Unix socket they do not apply (the
//! suite declares them not applicable: see `server_suite`).
//!
//! Guarantees: the restart is checked only once `/proc/net/tcp` shows a
//! connection of the first run in TIME_WAIT on the port (the server's side
//! closed first: the check kills the server while a client is connected), so
//! the rule is tested, not assumed; the port the target is given is held by
//! a socket of the check's own, bound without `SO_REUSEADDR` or
//! `SO_REUSEPORT`, so no option the target sets can share it; a target that
//! neither exits nor goes on running past the bound is seen settled in
//! `/proc`, never guessed by sleeping.
//!
//! # References
//! - [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html): `SO_REUSEADDR`, `SO_REUSEPORT`
//! - [bind(2)](https://man7.org/linux/man-pages/man2/bind.2.html): `EADDRINUSE`
//! - [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html): TIME_WAIT, `tcp_fin_timeout`

use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

use super::harness::{self, Verdicts};
use super::Server;
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::net;
use crate::target::observe::{self, TcpState};
use crate::target::process::{describe_status, Target};
use crate::target::server::{spawn_on, Instance};
use crate::target::settle::{self, Bound, Ending, Gaps, Look, Shown};
use crate::target::TargetError;
use crate::workload::server::Seeds;

/// The server side's connections on `port` in TIME_WAIT.
fn time_wait(port: u16) -> usize {
    observe::tcp_sockets()
        .iter()
        .filter(|e| e.state == TcpState::TimeWait && e.local_address.port() == port)
        .count()
}

/// `server.startup.restart-on-same-port`.
pub fn restart_on_same_port(server: &Server, ctx: &Ctx) -> Outcome {
    let mut seeds = Seeds::new(ctx.seed);
    let mut first = harness::start(server, ctx)?;
    let port = first
        .tcp_port()
        .expect("declared not applicable over a Unix socket");
    // Served once, then one client left connected, taken up: killing the
    // server then closes the server's side first, and once the client
    // closes too, that side waits out TIME_WAIT on the server's port.
    let served = (|| {
        server
            .protocol
            .once(&mut first, ctx, "the first client", &seeds.text(64), 64)?;
        let client = first.connect(ctx)?;
        server
            .protocol
            .engage(&first, &client, ctx, "a client left connected", b"stay")?;
        Ok(client)
    })();
    let client = match served {
        Ok(client) => client,
        Err(finding) => return first.conclude(Err(finding)),
    };
    first.conclude(Ok(()))?;
    first.target.kill();
    client.close_draining();
    let waiting = settle::wait(
        ctx.timeout,
        &mut Bound(Shown::Nothing, Gaps::Steady(Duration::from_millis(1))),
        || match time_wait(port) {
            0 => Look::Waiting,
            n => Look::Done(n),
        },
    )
    .map_err(|_| {
        TargetError::setup(
            format!("a connection in TIME_WAIT on port {port} after the server was killed"),
            std::io::Error::from(std::io::ErrorKind::TimedOut),
        )
    })?;
    let connections = if waiting == 1 {
        "connection"
    } else {
        "connections"
    };
    let expected = format!(
        "started again at once on port {port}, where {waiting} {connections} of its first run waited out TIME_WAIT, the server listens and serves (SO_REUSEADDR)"
    );
    let mut again = match Instance::launch_on(&server.command, port, ctx.timeout) {
        Ok(again) => again,
        Err(TargetError::ExitedAtStart { status, output, .. }) => {
            return Err(Finding::violated(
                expected,
                format!("it exited at start ({status}) without listening"),
            )
            .with_output(output))
        }
        Err(TargetError::NeverReady {
            seconds, output, ..
        }) => {
            return Err(Finding::hung(
                expected,
                format!("not listening on 127.0.0.1:{port} after {seconds:.1} s"),
            )
            .with_output(output))
        }
        Err(other) => return Err(other.into()),
    };
    let outcome = server.protocol.once(
        &mut again,
        ctx,
        "a client of the restarted server",
        &seeds.text(64),
        64,
    );
    again.conclude(outcome)
}

/// A listening TCP socket on 127.0.0.1:`port` without `SO_REUSEADDR` or
/// `SO_REUSEPORT`, as another program holding the port would have.
fn hold(port: u16) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], port))))?;
    socket.listen(1)?;
    Ok(socket)
}

/// The TCP ports some process of `target` listens on.
fn listening_ports(target: &Target) -> Vec<u16> {
    let pids = target.processes();
    let mut ports: Vec<u16> = observe::tcp_sockets()
        .into_iter()
        .filter(|e| e.state == TcpState::Listen)
        .filter(|e| !observe::socket_holders(&pids, e.inode).is_empty())
        .map(|e| e.local_address.port())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// `server.startup.port-in-use`.
pub fn port_in_use(server: &Server, ctx: &Ctx) -> Outcome {
    let port = net::free_port()?;
    let _holder =
        hold(port).map_err(|e| TargetError::setup(format!("a socket holding port {port}"), e))?;
    let mut target = spawn_on(&server.command, &net::Endpoint::loopback(port), Vec::new())?;
    let expected = format!(
        "given port {port}, which another process listens on, the server exits with a non-zero status and a message on stderr"
    );
    let exited = settle::wait_on(ctx.timeout, &mut target, Vec::new, Gaps::QuickFirst, |t| {
        t.try_status().map_or(Look::Waiting, Look::Done)
    });
    let status = match exited {
        Ok(status) => status,
        Err(evidence) => {
            let elsewhere = listening_ports(&target);
            let finding = if elsewhere.is_empty() {
                let observed = match evidence.ending {
                    Ending::Stuck => {
                        "it went on running, every thread asleep in a call without timeout"
                            .to_string()
                    }
                    Ending::OutOfTime => format!(
                        "it was still running after {:.1} s",
                        ctx.timeout.as_secs_f64()
                    ),
                };
                Finding::hang_observed(expected, observed, &evidence)
            } else {
                let ports: Vec<String> = elsewhere.iter().map(u16::to_string).collect();
                let noun = if ports.len() == 1 { "port" } else { "ports" };
                Finding::violated(
                    expected,
                    format!(
                        "it went on running, listening on {noun} {} instead",
                        ports.join(", ")
                    ),
                )
                .with_threads(&evidence.threads)
            };
            return Err(finding.with_output(target.output()));
        }
    };
    let output = target.final_output(Duration::from_millis(200));
    let said = output.iter().any(|line| line.starts_with("stderr: "));
    if status.success() || !said {
        let how = if said {
            ""
        } else {
            ", saying nothing on stderr"
        };
        return Err(Finding::violated(
            expected,
            format!("it exited: {}{how}", describe_status(status)),
        )
        .with_output(output));
    }
    Ok(())
}
