//! Correct servers pass every property of the variant they claim: the
//! student-style C fixtures (`fixtures/servers/`), the same written
//! differently (waiting in `poll`, logging every byte, `exec` in the
//! child), event loops in C (`poll`) and Python (`selectors`, `asyncio`),
//! and real third-party servers. A server that crashes or never
//! answers fails every property, within the time budget. (Broken servers
//! and the exact properties they fail are the kill matrix's:
//! `tests/conformance/killers/server.rs`.)

use std::time::{Duration, Instant};

use crate::support::built;
use crate::support::server::{assert_conforms, check, fixtures, verdicts};
use ipcspec::spec::Verdict;
use rstest::rstest;

#[rstest]
#[case::sequential("sequential", "sequential")]
#[case::fork_wait("fork_wait", "fork-wait")]
#[case::fork("fork", "fork")]
#[case::fork_exec_in_the_child("fork_exec", "fork")]
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
#[case::python_selectors_event_loop(&["python3", "selectors_server.py", "{port}"], "event-loop")]
#[case::python_asyncio_event_loop(&["python3", "asyncio_server.py", "{port}"], "event-loop")]
#[case::python_asyncio_event_loop_over_unix(&["python3", "asyncio_server.py", "{socket}"], "event-loop")]
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

/// The budget for a whole `check server`, whatever the server does.
const BUDGET: Duration = Duration::from_secs(15);

#[rstest]
#[case::crashes_on_its_first_client("crashes_on_first_client")]
#[case::never_answers("never_answers")]
fn server_that_cannot_serve_fails_every_property_within_budget(#[case] fixture: &str) {
    let program = built("servers", fixture);
    let started = Instant::now();
    let report = check(
        &[program.to_str().expect("a UTF-8 path"), "{port}"],
        "thread",
        &[],
    );
    let took = started.elapsed();
    assert!(
        !report.results.is_empty()
            && report
                .results
                .iter()
                .all(|r| matches!(r.verdict, Verdict::Fail(_) | Verdict::Hang(_))),
        "{fixture}: every property must fail or hang: {:#?}",
        verdicts(&report)
    );
    assert!(took < BUDGET, "{fixture}: took {took:?}, over {BUDGET:?}");
}
