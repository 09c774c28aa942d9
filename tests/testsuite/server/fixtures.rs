//! Correct servers pass every property of the variant they claim: the
//! student-style C fixtures (`fixtures/servers/`), the same written
//! differently (waiting in `poll`, logging every byte, `exec` in the
//! child), event loops in C (`poll`) and Python (`selectors`, `asyncio`),
//! and real third-party servers. A server that crashes or never
//! answers fails every property, within the time budget. (Broken servers
//! and the exact properties they fail are the kill matrix's:
//! `tests/conformance/killers/server.rs`.)

use crate::support::built;
use crate::support::server::{
    assert_conforms, assert_every_property_fails_by_observation, check, resolve_python, verdicts,
};
use ipcspec::spec::{Profile, Verdict};
use rstest::rstest;

#[rstest]
#[case::sequential("sequential", "sequential")]
#[case::fork_wait("fork_wait", "fork-wait")]
#[case::fork("fork", "fork")]
#[case::fork_exec_in_the_child("fork_exec", "fork")]
#[case::fork_reaps_from_a_sigchld_handler("fork_sigchld", "fork")]
#[case::fork_accepts_and_reaps_on_a_timer("fork_on_tick", "fork")]
#[case::thread("thread", "thread")]
#[case::thread_waits_in_poll("thread_poll", "thread")]
#[case::thread_logs_every_byte_to_stderr("thread_logging", "thread")]
#[case::pool("pool", "pool:4")]
#[case::event_loop_in_poll("event_loop", "event-loop")]
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
#[case::unix_thread_waits_in_poll("thread_poll", "thread")]
#[case::unix_fork_wait("fork_wait", "fork-wait")]
#[case::unix_event_loop_in_poll("event_loop", "event-loop")]
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
#[case::socat_fork(&["socat", "TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork", "EXEC:cat"], "fork")]
#[case::python_threading_server(&["python3", "thread_server.py", "{port}"], "thread")]
#[case::python_forking_server_that_closes_the_listener(&["python3", "fork_server_closes_listener.py", "{port}"], "fork")]
#[case::python_fork_server_reaping_from_a_sigchld_handler(&["python3", "fork_sigchld.py", "{port}"], "fork")]
#[case::python_selectors_event_loop(&["python3", "selectors_server.py", "{port}"], "event-loop")]
#[case::python_asyncio_event_loop(&["python3", "asyncio_server.py", "{port}"], "event-loop")]
#[case::python_asyncio_event_loop_over_unix(&["python3", "asyncio_server.py", "{socket}"], "event-loop")]
fn server_third_party_conforms(#[case] argv: &[&str], #[case] variant: &str) {
    let report = check(&resolve_python(argv), variant, &[]);
    assert_conforms(&report);
}

#[rstest]
#[case::crashes_on_its_first_client("crashes_on_first_client")]
#[case::never_answers("never_answers")]
fn server_that_cannot_serve_fails_every_property_by_observation(#[case] fixture: &str) {
    let program = built("servers", fixture);
    let report = check(
        &[program.to_str().expect("a UTF-8 path"), "{port}"],
        "thread",
        &[],
    );
    // The one rule that asks for no client served: both refuse a taken
    // port as they should (`perror("bind")`, exit 1).
    assert_every_property_fails_by_observation(
        &report,
        Profile::Server,
        &["server.startup.port-in-use"],
    );
}

/// The stock `socketserver.ThreadingTCPServer` leaves `allow_reuse_address`
/// False: started again on the port it just served on, it cannot bind.
/// (`thread_server.py`, the same with it True, passes every property.)
#[test]
fn server_startup_restart_on_same_port_fails_the_stock_python_tcp_server() {
    let only = [
        "server.startup.restart-on-same-port",
        "server.startup.port-in-use",
    ];
    let report = check(
        &resolve_python(&["python3", "stock_tcp_server.py", "{port}"]),
        "thread",
        &only,
    );
    let got: Vec<(&str, bool)> = report
        .results
        .iter()
        .map(|r| (r.meta.id, r.verdict.is_failure()))
        .collect();
    assert_eq!(
        got,
        [(only[0], true), (only[1], false)],
        "{:#?}",
        verdicts(&report)
    );
}

/// A server on a Unix socket path has no port to be taken or left in
/// TIME_WAIT: the start-up rules are declared not applicable, never passed.
#[test]
fn server_startup_rules_are_not_applicable_over_a_unix_socket() {
    let program = built("servers", "thread");
    let report = check(
        &[program.to_str().expect("a UTF-8 path"), "{socket}"],
        "thread",
        &["server.startup.*"],
    );
    assert_eq!(report.results.len(), 2, "{:#?}", verdicts(&report));
    for result in &report.results {
        assert!(
            matches!(&result.verdict, Verdict::Skip { reason } if reason.contains("Unix socket path")),
            "{:#?}",
            verdicts(&report)
        );
    }
}

/// A SIGCHLD handler installed without `SA_RESTART` makes `accept` fail
/// with EINTR when children exit, and this server takes that as fatal.
/// Only this property is asserted: the server dies whenever any child exits
/// while it waits in `accept`, so which other properties see it die
/// depends on timing (which is why it is not in the kill matrix), but with
/// its children made to exit together, this one sees it every time.
#[test]
fn server_signals_sigchld_reaps_fails_a_server_that_exits_on_eintr() {
    let program = built("servers", "fork_sigchld_no_restart");
    let report = check(
        &[program.to_str().expect("a UTF-8 path"), "{port}"],
        "fork",
        &["server.signals.sigchld-reaps"],
    );
    let [result] = &report.results[..] else {
        panic!("one property: {:#?}", verdicts(&report));
    };
    let failure = match &result.verdict {
        Verdict::Fail(f) => f,
        _ => panic!("it must fail: {:#?}", verdicts(&report)),
    };
    assert!(
        failure.observed.contains("it exited: exit status 1")
            && failure
                .output
                .iter()
                .any(|l| l.contains("Interrupted system call")),
        "{:#?}",
        verdicts(&report)
    );
}
