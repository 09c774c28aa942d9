//! The hostile-client rules (`server.hostile.*`) on the servers that show
//! them best: each broken fixture fails its rule with a finding that names
//! what happened, and the same server written right passes it. (The exact
//! failing sets are the kill matrix's.)

use crate::support::built;
use crate::support::server::{assert_conforms, check, resolve_python, verdicts};
use ipcspec::spec::Verdict;
use rstest::rstest;

/// `argv` with its program resolved: a C fixture of `fixtures/servers/`
/// built, or the script `python3` runs found there.
fn resolve(argv: &[&str]) -> Vec<String> {
    if argv[0] == "python3" {
        return resolve_python(argv);
    }
    let mut argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    argv[0] = built("servers", &argv[0]).display().to_string();
    argv
}

/// The server `argv` claiming `variant`, checked on `property` alone: its
/// failure's expected and observed text, or `None` when it passed.
fn failure(argv: &[&str], variant: &str, property: &str) -> Option<String> {
    let report = check(&resolve(argv), variant, &[property]);
    assert_eq!(report.results.len(), 1, "{:#?}", verdicts(&report));
    let verdict = &report.results[0].verdict;
    match verdict.failure() {
        None if matches!(verdict, Verdict::Pass) => None,
        None => panic!("{property}: neither a pass nor a failure: {verdict:?}"),
        Some(f) => Some(format!("{} / {}", f.expected, f.observed)),
    }
}

#[rstest]
#[case::accept_waits_for_first_bytes(&["sniffs_first_bytes", "{port}"], "thread", "server.hostile.slow-client", "while a slow client has sent 1 of")]
#[case::accept_waits_for_first_bytes_of_idle_clients(&["sniffs_first_bytes", "{port}"], "thread", "server.hostile.many-idle", "the server stopped accepting")]
#[case::turns_away_clients_beyond_64(&["fork_capped", "{port}"], "fork", "server.hostile.many-idle", "idle client 65 of 200")]
#[case::writes_under_one_shared_lock(&["write_lock", "{port}"], "thread", "server.hostile.never-reading-client", "never reads has the server blocked writing")]
#[case::exits_when_accept_fails(&["accept_error_exits", "{port}"], "thread", "server.hostile.emfile", "it exited: exit status 1")]
#[case::retries_accept_at_once(&["accept_spins", "{port}"], "thread", "server.hostile.emfile", "busy polling")]
#[case::python_socketserver_as_shipped(&["python3", "thread_server.py", "{port}", "stock"], "thread", "server.hostile.emfile", "busy polling")]
fn server_hostile_rule_fails_on_the_broken_fixture(
    #[case] argv: &[&str],
    #[case] variant: &str,
    #[case] property: &str,
    #[case] says: &str,
) {
    let failure = failure(argv, variant, property).unwrap_or_else(|| panic!("{property} passed"));
    assert!(failure.contains(says), "{property}: {failure}");
}

#[rstest]
#[case::thread(&["thread", "{port}"], "thread")]
#[case::fork(&["fork", "{port}"], "fork")]
#[case::pool(&["pool", "{port}", "4"], "pool:4")]
#[case::pool_of_event_loops(&["pool_poll", "{port}", "4"], "pool:4")]
#[case::python_socketserver_backing_off(&["python3", "thread_server.py", "{port}"], "thread")]
fn server_hostile_rules_hold_on_a_correct_fixture(#[case] argv: &[&str], #[case] variant: &str) {
    assert_conforms(&check(&resolve(argv), variant, &["server.hostile.*"]));
}
