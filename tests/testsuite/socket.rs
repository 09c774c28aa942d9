//! The `socket` properties hold on the kernel (the oracle) over every
//! transport: socketpair, TCP/IPv4, TCP/IPv6 and a Unix socket.

use ipcspec::spec::{socket, Ctx};
use rstest::rstest;

/// Checks property `id` on the suite labelled `transport`; properties out of
/// the transport's scope (accept/listen on a socketpair) are absent by design.
fn holds(id: &str, transport: &str) {
    let suite = socket::reference_suites()
        .into_iter()
        .find(|s| s.label == transport)
        .unwrap_or_else(|| panic!("no suite {transport}"));
    let check = suite.checks.iter().find(|c| c.meta.id == id);
    let in_scope = transport != "socketpair"
        || !(id.starts_with("socket.accept") || id.starts_with("socket.listen"));
    assert_eq!(check.is_some(), in_scope, "{id} on {transport}: scope");
    if let Some(check) = check {
        let ctx = Ctx {
            cases: 4,
            ..Ctx::default()
        };
        if let Err(finding) = check.check(&ctx) {
            panic!("{id} on {transport}: {finding:#?}");
        }
    }
}

#[rstest]
fn socket_stream_ordered_lossless_each_way(
    #[values("socketpair", "tcp4", "tcp6", "unix")] transport: &str,
) {
    holds("socket.stream.ordered-lossless-each-way", transport);
}

#[rstest]
fn socket_shutdown_peer_reads_eof_then_replies(
    #[values("socketpair", "tcp4", "tcp6", "unix")] transport: &str,
) {
    holds("socket.shutdown.peer-reads-eof-then-replies", transport);
}

#[rstest]
fn socket_write_epipe_after_peer_closed(
    #[values("socketpair", "tcp4", "tcp6", "unix")] transport: &str,
) {
    holds("socket.write.epipe-after-peer-closed", transport);
}

#[rstest]
fn socket_write_sigpipe_after_peer_closed(
    #[values("socketpair", "tcp4", "tcp6", "unix")] transport: &str,
) {
    holds("socket.write.sigpipe-after-peer-closed", transport);
}

#[rstest]
fn socket_stream_no_message_boundaries(
    #[values("socketpair", "tcp4", "tcp6", "unix")] transport: &str,
) {
    holds("socket.stream.no-message-boundaries", transport);
}

#[rstest]
fn socket_accept_distinct_connections(
    #[values("socketpair", "tcp4", "tcp6", "unix")] transport: &str,
) {
    holds("socket.accept.distinct-connections", transport);
}

#[rstest]
fn socket_listen_backlog_holds_connections(
    #[values("socketpair", "tcp4", "tcp6", "unix")] transport: &str,
) {
    holds("socket.listen.backlog-holds-connections", transport);
}

#[test]
fn check_socket_passes_on_the_kernel_and_exits_0() {
    assert_cmd::Command::cargo_bin("ipcspec")
        .unwrap()
        .args(["check", "socket", "--cases", "2", "--format", "json"])
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "socket.listen.backlog-holds-connections",
        ));
}
