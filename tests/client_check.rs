//! `check client`: the reference client and a correct C client pass; each
//! buggy fixture in `fixtures/clients/` fails with the property it breaks.

mod support;

use std::time::Duration;

use ipcspec::spec::{self, Ctx, Profile, Selection, Verdict};
use ipcspec::target::CommandSpec;
use rstest::rstest;
use support::{built, refs};

fn ctx() -> Ctx {
    Ctx {
        cases: 4,
        timeout: Duration::from_secs(3),
        ..Ctx::default()
    }
}

/// The verdict of property `id` on the client `argv` (none: the reference client).
fn verdict(argv: Option<Vec<String>>, id: &str) -> Verdict {
    let suite = match argv {
        None => spec::reference_suites(Profile::Client, &refs()).remove(0),
        Some(argv) => spec::target_suite(
            Profile::Client,
            CommandSpec::new(&argv).unwrap(),
            None,
            &refs(),
        )
        .unwrap(),
    };
    let selection = Selection {
        only: vec![id.to_string()],
    };
    let mut report = suite.run(&ctx(), &selection, None, |_| {});
    assert_eq!(report.results.len(), 1, "{id} selects one property");
    report.results.remove(0).verdict
}

fn fixture_argv(name: &str) -> Option<Vec<String>> {
    Some(vec![
        built("clients", name).to_string_lossy().into_owned(),
        "{host}".into(),
        "{port}".into(),
    ])
}

/// Checks that `id` gets one of the `expected` verdicts (`|`-separated) on
/// `client` ("reference" or a fixture's name), and that a hang says where the
/// client's threads sleep.
fn expect(id: &str, client: &str, expected: &str) {
    let argv = (client != "reference")
        .then(|| fixture_argv(client))
        .flatten();
    let verdict = verdict(argv, id);
    assert!(
        expected.split('|').any(|e| e == verdict.name()),
        "{client} on {id}, expected {expected}: {verdict:#?}"
    );
    if verdict.name() == "hang" {
        let failure = verdict.failure().unwrap();
        assert!(
            failure.threads.is_some(),
            "a hang names where the client's threads sleep"
        );
    }
}

// Only verdicts that cannot depend on timing are listed: a buggy client that
// merely *may* lose a race is not asserted on the property it may pass.

#[rstest]
#[case::reference("reference", "pass")]
#[case::echo_client("echo_client", "pass")]
#[case::no_half_close_waits_for_a_close_that_never_comes("no_half_close_client", "hang")]
fn client_echo_every_byte_in_order(#[case] client: &str, #[case] expected: &str) {
    expect("client.echo.every-byte-in-order", client, expected);
}

#[rstest]
#[case::reference("reference", "pass")]
#[case::echo_client("echo_client", "pass")]
// One read per line either loses the pieces still unread at EOF (fail) or
// waits for a piece the server sends only after more input (hang).
#[case::lecture_reads_once_per_line("lecture_client", "fail|hang")]
#[case::no_half_close_waits_for_a_close_that_never_comes("no_half_close_client", "hang")]
fn client_echo_split_replies(#[case] client: &str, #[case] expected: &str) {
    expect("client.echo.split-replies", client, expected);
}

#[rstest]
#[case::reference("reference", "pass")]
#[case::echo_client("echo_client", "pass")]
#[case::lecture_waits_for_a_reply_before_eof("lecture_client", "hang")]
#[case::quitting_at_eof_loses_the_replies("quits_at_eof_client", "fail")]
#[case::no_half_close_never_lets_the_server_reply("no_half_close_client", "hang")]
fn client_echo_replies_after_half_close(#[case] client: &str, #[case] expected: &str) {
    expect("client.echo.replies-after-half-close", client, expected);
}

#[rstest]
#[case::reference("reference", "pass")]
#[case::echo_client("echo_client", "pass")]
#[case::quitting_at_eof_does_exit_0("quits_at_eof_client", "pass")]
#[case::no_half_close_deadlocks("no_half_close_client", "hang")]
fn client_exit_after_stdin_eof(#[case] client: &str, #[case] expected: &str) {
    expect("client.exit.after-stdin-eof", client, expected);
}

#[rstest]
#[case::reference("reference", "pass")]
#[case::echo_client("echo_client", "pass")]
#[case::quitting_when_the_reader_sees_eof("quits_at_eof_client", "pass")]
#[case::lecture_blocks_reading_stdin("lecture_client", "hang")]
#[case::no_half_close_blocks_reading_stdin("no_half_close_client", "hang")]
fn client_exit_when_server_closes_first(#[case] client: &str, #[case] expected: &str) {
    expect("client.exit.when-server-closes-first", client, expected);
}

#[test]
fn check_client_refuses_a_command_without_port() {
    assert_cmd::Command::cargo_bin("ipcspec")
        .unwrap()
        .args(["check", "client", "--", "nc", "{host}"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("{port}"));
}

#[test]
fn check_client_reports_a_missing_program_in_one_line() {
    assert_cmd::Command::cargo_bin("ipcspec")
        .unwrap()
        .args(["check", "client", "--", "/no/such/client", "{port}"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("command not found"));
}

#[test]
fn check_client_fails_the_lecture_client_with_a_replay_line() {
    assert_cmd::Command::cargo_bin("ipcspec")
        .unwrap()
        .args([
            "check",
            "client",
            "--timeout",
            "2",
            "--cases",
            "2",
            "--only",
            "when-server-closes-first",
            "--",
        ])
        .arg(built("clients", "lecture_client"))
        .args(["{host}", "{port}"])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1)
        .stdout(predicates::str::contains(
            "client.exit.when-server-closes-first",
        ))
        .stdout(predicates::str::contains("in read(fd 0)"))
        .stdout(predicates::str::contains(
            "--only 'client.exit.when-server-closes-first' --seed 465944256 -- ",
        ));
}
