//! Student-style fixture servers (fixtures/servers/): the correct ones and
//! real third-party servers pass; each buggy one is rejected by the property
//! its bug violates. This table is the record of expected verdicts.

mod server_support;
mod support;

use rstest::rstest;
use server_support::{assert_conforms, assert_rejected_by, check, fixtures};
use support::built;

#[rstest]
#[case::sequential("sequential", "sequential")]
#[case::fork_wait("fork_wait", "fork-wait")]
#[case::fork("fork", "fork")]
#[case::thread("thread", "thread")]
#[case::pool("pool", "pool:4")]
fn server_correct_fixture_conforms(#[case] fixture: &str, #[case] variant: &str) {
    let program = built("servers", fixture);
    let report = check(
        &[program.to_str().expect("a UTF-8 path"), "{port}", "4"],
        variant,
        &[],
    );
    assert_conforms(&report);
}

#[rstest]
#[case::unix_thread("thread", "thread")]
#[case::unix_fork_wait("fork_wait", "fork-wait")]
fn server_correct_fixture_conforms_over_unix(#[case] fixture: &str, #[case] variant: &str) {
    let program = built("servers", fixture);
    let report = check(
        &[program.to_str().expect("a UTF-8 path"), "{socket}"],
        variant,
        &[],
    );
    assert_conforms(&report);
}

#[rstest]
#[case::strlen_loses_bytes_after_nul("strlen", "sequential", "server.echo.byte-exact")]
#[case::parent_keeps_connection_fd("fork_keeps_fd", "fork", "server.eof.after-half-close")]
#[case::zombie_factory("zombie", "fork", "server.leaks.no-zombies")]
#[case::child_falls_back_into_accept("fork_no_exit", "fork", "server.leaks.back-to-baseline")]
#[case::thread_killed_by_sigpipe("thread_sigpipe", "thread", "server.resilience.reset-client")]
#[case::threads_share_one_buffer(
    "thread_shared_buffer",
    "thread",
    "server.isolation.concurrent-clients"
)]
#[case::pool_without_bound("pool_unbounded", "pool:4", "server.pool.bounded")]
#[case::pool_workers_spin("pool_spin", "pool:4", "server.idle.blocked")]
fn server_buggy_fixture_is_rejected(
    #[case] fixture: &str,
    #[case] variant: &str,
    #[case] id: &str,
) {
    let program = built("servers", fixture);
    let report = check(
        &[program.to_str().expect("a UTF-8 path"), "{port}", "4"],
        variant,
        &[id],
    );
    assert_rejected_by(&report, id);
}

#[rstest]
#[case::socat_fork(&["socat", "TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork", "EXEC:cat"], "fork")]
#[case::python_threading_server(&["python3", "thread_server.py", "{port}"], "thread")]
#[case::python_forking_server(&["python3", "fork_server.py", "{port}"], "fork")]
fn server_third_party_conforms(#[case] argv: &[&str], #[case] variant: &str) {
    let script;
    let mut argv = argv.to_vec();
    if argv[0] == "python3" {
        script = fixtures().join(argv[1]);
        argv[1] = script.to_str().expect("a UTF-8 path");
    }
    let report = check(&argv, variant, &[]);
    assert_conforms(&report);
}
