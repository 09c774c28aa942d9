//! `check client`: the reference client and a correct C client pass; each
//! buggy fixture in `fixtures/clients/` fails with the property it breaks.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use ipcspec::spec::{self, Ctx, Profile, References, Selection, Verdict};
use ipcspec::target::CommandSpec;
use rstest::rstest;

fn refs() -> References {
    References {
        bin: env!("CARGO_BIN_EXE_ipcspec").into(),
    }
}

/// The fixtures, built once with `cc` into a temp dir that lives as long as the tests.
fn fixture(name: &str) -> PathBuf {
    static BUILT: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/clients");
        for name in [
            "echo_client",
            "lecture_client",
            "quits_at_eof_client",
            "no_half_close_client",
        ] {
            let status = Command::new("cc")
                .args(["-O1", "-pthread", "-o"])
                .arg(dir.path().join(name))
                .arg(src.join(format!("{name}.c")))
                .status()
                .expect("cc must be installed");
            assert!(status.success(), "cc failed on {name}.c");
        }
        dir
    });
    dir.path().join(name)
}

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
        fixture(name).to_string_lossy().into_owned(),
        "{host}".into(),
        "{port}".into(),
    ])
}

const ALL: [&str; 5] = [
    "client.echo.every-byte-in-order",
    "client.echo.split-replies",
    "client.echo.replies-after-half-close",
    "client.exit.after-stdin-eof",
    "client.exit.when-server-closes-first",
];

#[rstest]
fn client_properties_hold_on_correct_clients(
    #[values("reference", "echo_client")] client: &str,
    #[values(
        "client.echo.every-byte-in-order",
        "client.echo.split-replies",
        "client.echo.replies-after-half-close",
        "client.exit.after-stdin-eof",
        "client.exit.when-server-closes-first"
    )]
    id: &str,
) {
    let argv = (client != "reference")
        .then(|| fixture_argv(client))
        .flatten();
    let verdict = verdict(argv, id);
    assert!(
        matches!(verdict, Verdict::Pass),
        "{client} on {id}: {verdict:#?}"
    );
}

/// Each known defect, the property that must catch it, and how.
#[rstest]
// One read per line either loses the pieces still unread at EOF (fail) or
// waits for a piece the server will not send before more input (hang).
#[case::lecture_loses_split_replies("lecture_client", "client.echo.split-replies", "fail|hang")]
#[case::lecture_waits_on_stdin_after_server_closed(
    "lecture_client",
    "client.exit.when-server-closes-first",
    "hang"
)]
#[case::lecture_waits_for_a_reply_before_eof(
    "lecture_client",
    "client.echo.replies-after-half-close",
    "hang"
)]
#[case::quitting_at_eof_loses_late_replies(
    "quits_at_eof_client",
    "client.echo.replies-after-half-close",
    "fail"
)]
#[case::no_half_close_deadlocks("no_half_close_client", "client.exit.after-stdin-eof", "hang")]
#[case::no_half_close_never_exits_when_server_closes(
    "no_half_close_client",
    "client.exit.when-server-closes-first",
    "hang"
)]
fn client_defects_are_caught(#[case] fixture: &str, #[case] id: &str, #[case] expected: &str) {
    assert!(ALL.contains(&id));
    let verdict = verdict(fixture_argv(fixture), id);
    assert!(
        expected.split('|').any(|e| e == verdict.name()),
        "{fixture} on {id}, expected {expected}: {verdict:#?}"
    );
    let failure = verdict.failure().unwrap();
    if verdict.name() == "hang" {
        assert!(
            failure.threads.is_some(),
            "a hang names where the client's threads sleep"
        );
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
        .arg(fixture("lecture_client"))
        .args(["{host}", "{port}"])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1)
        .stdout(predicates::str::contains(
            "client.exit.when-server-closes-first",
        ))
        .stdout(predicates::str::contains("in read(fd/arg0 0)"))
        .stdout(predicates::str::contains(
            "--only 'client.exit.when-server-closes-first' --seed",
        ));
}
