//! Correct servers pass every property of the variant they claim: the
//! student-style C fixtures (`fixtures/servers/`), the same written
//! differently (waiting in `poll`, logging every byte, `exec` in the
//! child), and real third-party servers. A server that crashes or never
//! answers fails every property, within the time budget. (Broken servers
//! and the exact properties they fail are the kill matrix's:
//! `tests/conformance/killers/server.rs`.)

use crate::support::built;
use crate::support::server::{
    assert_conforms, assert_every_property_fails_by_observation, check, fixtures,
};
use ipcspec::spec::Profile;
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
    assert_every_property_fails_by_observation(&report, Profile::Server);
}
