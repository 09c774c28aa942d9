//! `ipcspec check server` exit codes: 0 conforms, 1 a property failed, 2 the
//! request is unusable or the target cannot run — in one line, quickly.

use std::time::{Duration, Instant};

use crate::support::built;
use assert_cmd::Command;
use predicates::prelude::*;
use rstest::rstest;

fn check(args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("ipcspec")
        .expect("the binary")
        .args(["check", "server"])
        .args(args)
        .timeout(Duration::from_secs(60))
        .assert()
}

#[rstest]
#[case::missing_program(&["--variant", "thread", "--", "/no/such/server", "{port}"], "command not found")]
#[case::unknown_variant(&["--variant", "threaded", "--", "sh", "{port}"], "unknown server variant")]
#[case::no_placeholder(&["--variant", "thread", "--", "sh", "-c", "exit 0"], "{port} or {socket}")]
#[case::no_variant(&["--", "sh", "{port}"], "--variant")]
#[case::crashes_at_start(&["--variant", "thread", "--", "sh", "-c", "echo bye >&2; exit 3", "{port}"], "exited at start (exit status 3)")]
fn server_cli_refuses_with_exit_2(#[case] args: &[&str], #[case] says: &str) {
    check(args).code(2).stderr(predicate::str::contains(says));
}

#[test]
fn server_cli_never_listening_is_exit_2_quickly() {
    let started = Instant::now();
    check(&[
        "--timeout",
        "1",
        "--variant",
        "thread",
        "--",
        "sleep",
        "30",
        "{port}",
    ])
    .code(2)
    .stderr(predicate::str::contains("not listening on 127.0.0.1:"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn server_cli_conforming_server_exits_0() {
    let program = built("servers", "thread");
    check(&[
        "--variant",
        "thread",
        "--",
        program.to_str().expect("UTF-8"),
        "{port}",
    ])
    .code(0)
    .stdout(predicate::str::contains("server.echo.byte-exact"));
}

#[test]
fn server_cli_failing_server_exits_1_with_replay() {
    let program = built("servers", "strlen");
    check(&[
        "--only",
        "server.echo.byte-exact",
        "--format",
        "json",
        "--variant",
        "sequential",
        "--",
        program.to_str().expect("UTF-8"),
        "{port}",
    ])
    .code(1)
    .stdout(
        predicate::str::contains("\"verdict\": \"fail\"")
            .and(predicate::str::contains("first NUL at offset")),
    );
}
