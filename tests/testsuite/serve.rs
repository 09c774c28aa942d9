//! The reference servers (`ipcspec serve`): every variant echoes byte for byte
//! over TCP/IPv4, TCP/IPv6 and Unix sockets, and a client that vanishes
//! mid-echo never takes a server down; `serve http` keeps every claim of
//! `reference::http` in every variant (see [`http`]).

mod http;

use std::io::Read;
use std::net::Shutdown;
use std::path::PathBuf;
use std::time::Duration;

use ipcspec::reference::socket::connect;
use ipcspec::target::net::send_all;
use ipcspec::target::net::Endpoint;
use ipcspec::target::settle::{self, Bound, Gaps, Look, Shown};
use ipcspec::target::{CommandSpec, Limits, Target, TargetConfig};
use rstest::rstest;
use socket2::Socket;

const BOUND: Duration = Duration::from_secs(10);

/// A running `ipcspec serve`, and where it listens.
struct Server {
    target: Target,
    endpoint: Endpoint,
    _dir: tempfile::TempDir,
}

fn start(variant: &str, transport: &str) -> Server {
    launch(&[], variant, transport)
}

/// Starts `ipcspec serve SERVICE... --variant VARIANT` on `transport` and
/// waits for its `listening on` line.
fn launch(service: &[&str], variant: &str, transport: &str) -> Server {
    launch_with(service, variant, transport, |_| {})
}

/// [`launch`], its target's configuration changed by `setup` first.
fn launch_with(
    service: &[&str],
    variant: &str,
    transport: &str,
    setup: impl FnOnce(&mut TargetConfig),
) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("echo.sock");
    let mut args = vec!["serve".to_string()];
    args.extend(service.iter().map(|s| s.to_string()));
    args.extend(["--variant".to_string(), variant.into()]);
    match transport {
        "tcp4" => args.extend(["--port", "0"].map(String::from)),
        "tcp6" => args.extend(["--host", "::1", "--port", "0"].map(String::from)),
        _ => args.extend(["--unix".to_string(), socket.to_string_lossy().into_owned()]),
    }
    let command = CommandSpec {
        program: env!("CARGO_BIN_EXE_ipcspec").into(),
        args,
    };
    let mut config = TargetConfig::new(command);
    setup(&mut config);
    let mut target = Target::spawn(config).unwrap();
    let addr = said(&mut target, "stderr: listening on ");
    let endpoint = match transport {
        "unix" => Endpoint::Unix(PathBuf::from(&addr)),
        _ => {
            let (host, port) = addr.rsplit_once(':').unwrap();
            Endpoint::Tcp {
                host: host.trim_matches(['[', ']']).to_string(),
                port: port.parse().unwrap(),
            }
        }
    };
    Server {
        target,
        endpoint,
        _dir: dir,
    }
}

/// The rest of the first line of `target`'s output that starts with
/// `prefix`, waited for while the target runs.
fn said(target: &mut Target, prefix: &str) -> String {
    // Looks paced every 2 ms: the line is the signal.
    let pacing = &mut Bound(Shown::Nothing, Gaps::Steady(Duration::from_millis(2)));
    let heard = settle::wait(BOUND, pacing, || {
        let line = target
            .output()
            .iter()
            .find_map(|l| l.strip_prefix(prefix).map(str::to_string));
        match line {
            Some(line) => Look::Done(Ok(line)),
            None => target
                .try_status()
                .map_or(Look::Waiting, |status| Look::Done(Err(status))),
        }
    });
    match heard {
        Ok(Ok(line)) => line,
        Ok(Err(status)) => panic!("serve exited ({status}): {:?}", target.output()),
        Err(_) => panic!("serve never said `{prefix}`: {:?}", target.output()),
    }
}

fn client(server: &Server) -> Socket {
    let conn = connect(&server.endpoint).unwrap();
    conn.set_read_timeout(Some(BOUND)).unwrap();
    conn.set_write_timeout(Some(BOUND)).unwrap();
    conn
}

/// Sends `payload` (from a thread, so a large one cannot deadlock), half-closes, reads to EOF.
fn echo_through(conn: Socket, payload: Vec<u8>) -> Vec<u8> {
    let sender = conn.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        send_all(&sender, &payload).unwrap();
        sender.shutdown(Shutdown::Write).unwrap();
    });
    let mut back = Vec::new();
    (&conn).read_to_end(&mut back).unwrap();
    writer.join().unwrap();
    back
}

/// `len` bytes with a NUL every seventh, no two neighbours alike: one
/// period (7 x 251 bytes) made byte by byte, then copied whole, for an
/// unoptimised loop per byte over tens of MiB is what a test would spend
/// its time on.
fn binary_payload(len: usize) -> Vec<u8> {
    const PERIOD: usize = 7 * 251;
    let period: Vec<u8> = (0..PERIOD)
        .map(|i| if i % 7 == 0 { 0 } else { (i * 31 % 251) as u8 })
        .collect();
    let mut payload = period.repeat(len.div_ceil(PERIOD));
    payload.truncate(len);
    payload
}

#[rstest]
fn serve_echoes_bytes_exactly(
    #[values("sequential", "fork-wait", "fork", "thread", "pool:2", "event-loop")] variant: &str,
    #[values("tcp4", "tcp6", "unix")] transport: &str,
) {
    let server = start(variant, transport);
    // 4096 and 4097: the first read fills the first, one-page buffer.
    for len in [0, 1, 4096, 4097, 3 << 20] {
        let payload = binary_payload(len);
        let back = echo_through(client(&server), payload.clone());
        assert!(
            back == payload,
            "{variant} over {transport}: {len} bytes sent, {} came back",
            back.len()
        );
    }
}

#[rstest]
fn serve_survives_a_client_that_vanishes_mid_echo(
    #[values("sequential", "fork-wait", "fork", "thread", "pool:2", "event-loop")] variant: &str,
) {
    let server = start(variant, "tcp4");
    // 8 MiB never read back: the server's sends hit a closed peer (EPIPE or ECONNRESET).
    let conn = client(&server);
    conn.set_nonblocking(true).unwrap();
    // As much as the buffers take, without ever blocking; the rest is never sent.
    let _ = send_all(&conn, &binary_payload(8 << 20));
    drop(conn);
    let mut server = server;
    let payload = binary_payload(100_000);
    assert_eq!(echo_through(client(&server), payload.clone()), payload);
    assert!(
        server.target.try_status().is_none(),
        "the server died: {:?}",
        server.target.output()
    );
}

#[test]
fn serve_thread_closes_a_connection_it_has_no_thread_for_and_serves_on() {
    if !nix::unistd::Uid::effective().is_root() {
        // Without root no pids cgroup holds the server, and RLIMIT_NPROC
        // counts every process of the user.
        eprintln!("skipped: the pids cgroup that refuses the thread needs root");
        return;
    }
    // One task in all: the accepting thread, and no thread for any connection.
    let limits = Limits {
        processes: 1,
        ..Limits::default()
    };
    let mut server = launch_with(&[], "thread", "tcp4", |config| config.limits = limits);
    for _ in 0..2 {
        // Nothing sent, so the close is a FIN, not a reset of unread bytes.
        let mut back = Vec::new();
        (&client(&server)).read_to_end(&mut back).unwrap();
        assert!(
            back.is_empty(),
            "read {back:?} from a connection with no thread"
        );
    }
    // Said once the connection is closed: waited for, while the server lives.
    said(&mut server.target, "stderr: no thread for a connection");
}

#[test]
fn serve_thread_gives_its_threads_small_stacks_whatever_ulimit_s_says() {
    const CLIENTS: usize = 16;
    // Stacks of `ulimit -s` (1 GiB) would exhaust the 4 GiB address space
    // at the fourth thread; the reference's 2 MiB ones serve them all.
    let mut server = launch_with(&[], "thread", "tcp4", |config| {
        let serve = std::mem::replace(
            &mut config.command,
            CommandSpec {
                program: "sh".into(),
                args: vec![
                    "-c".into(),
                    "ulimit -s 1048576 && exec \"$@\"".into(),
                    "sh".into(),
                ],
            },
        );
        config.command.args.push(serve.program);
        config.command.args.extend(serve.args);
    });
    let connected: Vec<Socket> = (0..CLIENTS).map(|_| client(&server)).collect();
    for (i, conn) in connected.into_iter().enumerate() {
        let payload = format!("client {i} of {CLIENTS}").into_bytes();
        assert_eq!(echo_through(conn, payload.clone()), payload, "client {i}");
    }
    assert!(
        server.target.try_status().is_none(),
        "{:?}",
        server.target.output()
    );
}
