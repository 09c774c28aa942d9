//! `check client`: the reference client and correct clients written
//! differently (threads in C, a select loop in C, a poll loop in Python)
//! pass every property; the command line refuses what cannot be checked.
//! What each broken client fails is asserted by the kill matrix
//! (`tests/conformance/killers/client.rs`).

use std::path::Path;
use std::time::Duration;

use crate::support::{built, in_private_network, refs};
use ipcspec::spec::{self, Ctx, Profile, Selection, Verdict};
use ipcspec::target::CommandSpec;
use rstest::rstest;

fn ctx() -> Ctx {
    Ctx {
        cases: 4,
        timeout: Duration::from_secs(3),
        ..Ctx::default()
    }
}

/// The command line of `client`: "reference", a C fixture's name, or a
/// script in `fixtures/clients/`.
fn argv(client: &str) -> Option<Vec<String>> {
    let program = match client {
        "reference" => return None,
        script if script.ends_with(".py") => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/clients")
            .join(script),
        name => built("clients", name),
    };
    Some(vec![
        program.to_string_lossy().into_owned(),
        "{host}".into(),
        "{port}".into(),
    ])
}

/// The verdict of property `id` on `client`, after the suite's preflight.
fn verdict(client: &str, id: &str) -> Verdict {
    let suite = match argv(client) {
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
    let mut report = in_private_network(|| {
        suite.preflight(&ctx()).expect("a correct client starts");
        suite.run(&ctx(), &selection, None)
    });
    assert_eq!(report.results.len(), 1, "{id} selects one property");
    report.results.remove(0).verdict
}

#[rstest]
fn correct_clients_pass(
    #[values(
        "client.echo.every-byte-in-order",
        "client.echo.split-replies",
        "client.echo.replies-after-half-close",
        "client.exit.after-stdin-eof",
        "client.exit.when-server-closes-first",
        "client.eof.server-closes-early",
        "client.connect.host-spellings",
        "client.errors.refused",
        "client.errors.unknown-host"
    )]
    id: &str,
    #[values("reference", "echo_client", "select_client", "poll_client.py")] client: &str,
) {
    match verdict(client, id) {
        Verdict::Pass => {}
        other => panic!("{client} on {id}: {other:#?}"),
    }
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

/// `ipcspec check client OPTIONS -- FIXTURE {host} {port}` on the C client
/// `fixture`, bounded to a minute.
fn check_fixture(fixture: &str, options: &[&str]) -> assert_cmd::assert::Assert {
    assert_cmd::Command::cargo_bin("ipcspec")
        .expect("the ipcspec binary is built")
        .args(["check", "client"])
        .args(options)
        .arg("--")
        .arg(built("clients", fixture))
        .args(["{host}", "{port}"])
        .timeout(Duration::from_secs(60))
        .assert()
}

#[test]
fn check_client_fails_the_lecture_client_with_a_replay_line() {
    check_fixture(
        "lecture_client",
        &[
            "--timeout",
            "2",
            "--cases",
            "2",
            "--only",
            "when-server-closes-first",
        ],
    )
    .code(1)
    .stdout(predicates::str::contains(
        "client.exit.when-server-closes-first",
    ))
    .stdout(predicates::str::contains("in read(fd 0)"))
    .stdout(predicates::str::contains(
        "--only 'client.exit.when-server-closes-first' --seed 465944256 -- ",
    ));
}

#[test]
fn check_client_refuses_a_client_that_exits_at_once_quoting_what_it_said() {
    let started = std::time::Instant::now();
    assert_cmd::Command::cargo_bin("ipcspec")
        .unwrap()
        .args(["check", "client", "--"])
        .arg(built("clients", "echo_client"))
        .arg("{port}")
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicates::str::contains(
            "exited at start (exit status 2) before connecting to the check's server",
        ))
        .stderr(predicates::str::contains("usage:"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refused at once, not after every property: {:?}",
        started.elapsed()
    );
}

#[test]
fn client_eof_server_closes_early_names_sigpipe() {
    check_fixture(
        "sigpipe_client",
        &[
            "--timeout",
            "2",
            "--cases",
            "2",
            "--only",
            "server-closes-early",
        ],
    )
    .code(1)
    .stdout(predicates::str::contains("client.eof.server-closes-early"))
    .stdout(predicates::str::contains("killed by SIGPIPE"));
}

#[test]
fn client_errors_refused_bounds_a_client_that_retries_forever() {
    let started = std::time::Instant::now();
    check_fixture(
        "retry_forever_client",
        &["--timeout", "1", "--only", "client.errors.refused"],
    )
    .code(1)
    .stdout(predicates::str::contains("HANG  client.errors.refused"))
    .stdout(predicates::str::contains("nanosleep"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a hang within the bound, not a wait for ever: {:?}",
        started.elapsed()
    );
}
