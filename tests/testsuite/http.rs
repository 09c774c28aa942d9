//! `check http`: the correct fixture web servers (`fixtures/http/`) of every
//! variant pass every property, over TCP and over Unix; a server that
//! cannot serve fails every `http.*` one within the budget (the server
//! model's shape rules may hold on it: it accepts and reads); a command line without
//! `{dir}` or a variant is refused in one line. (Broken servers, Python's
//! `http.server` and busybox `httpd`, with the exact properties each fails,
//! are the kill matrix's: `tests/conformance/killers/http.rs`.)

use ipcspec::spec::Profile;
use rstest::rstest;

use crate::support::built;
use crate::support::cli::{assert_one_line_error, ipcspec};
use crate::support::server::{
    assert_conforms, assert_every_property_fails_by_observation, check_as,
};

fn check(argv: &[&str], variant: &str) -> ipcspec::report::Report {
    check_as(Profile::Http, argv, variant, &[])
}

#[rstest]
#[case::sequential("http_sequential", "sequential")]
#[case::fork_wait("http_fork_wait", "fork-wait")]
#[case::fork("http_fork", "fork")]
#[case::thread("http_thread", "thread")]
#[case::pool("http_pool", "pool:4")]
fn http_correct_fixture_conforms(#[case] fixture: &str, #[case] variant: &str) {
    let program = built("http", fixture);
    let program = program.to_str().expect("a UTF-8 path");
    assert_conforms(&check(&[program, "{port}", "{dir}", "4"], variant));
}

#[rstest]
#[case::unix_thread("http_thread", "thread")]
#[case::unix_fork("http_fork", "fork")]
fn http_correct_fixture_conforms_over_unix(#[case] fixture: &str, #[case] variant: &str) {
    let program = built("http", fixture);
    let program = program.to_str().expect("a UTF-8 path");
    assert_conforms(&check(&[program, "{socket}", "{dir}"], variant));
}

#[rstest]
#[case::crashes_on_its_first_client("crashes_on_first_client")]
#[case::never_answers("never_answers")]
fn http_server_that_cannot_serve_fails_every_http_property_by_observation(#[case] fixture: &str) {
    let program = built("servers", fixture);
    let report = check(
        &[program.to_str().expect("a UTF-8 path"), "{port}", "{dir}"],
        "thread",
    );
    assert_every_property_fails_by_observation(&report, Profile::Http, &[]);
}

#[rstest]
#[case::without_dir(&["check", "http", "--variant", "thread", "--", "srv", "{port}"], "put {dir} where the server takes the directory to serve")]
#[case::without_variant(&["check", "http", "--", "srv", "{port}", "{dir}"], "--variant")]
#[case::without_address(&["check", "http", "--variant", "fork", "--", "srv", "{dir}"], "put {port} or {socket}")]
fn http_unusable_command_lines_are_refused_in_one_line(
    #[case] args: &[&str],
    #[case] wanted: &str,
) {
    assert_one_line_error(
        &ipcspec().args(args).output().expect("ipcspec runs"),
        wanted,
    );
}
