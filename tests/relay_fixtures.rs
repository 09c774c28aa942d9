//! `check relay` on student-style C relays, correct and buggy: each
//! property's verdict on each fixture, and the reference relay conforming.

mod relay_support;
mod support;

use rstest::rstest;

use relay_support::{assert_verdict, ipcspec};
use support::built;

fn check(id: &str, name: &str, expected: &str) {
    let relay = built("relays", name);
    assert_verdict("relay", id, &[relay.to_str().unwrap()], expected);
}

#[rstest]
#[case::good("good", "pass")]
#[case::single_read("single_read", "fail")]
fn relay_bytes_exact(#[case] name: &str, #[case] expected: &str) {
    check("relay.bytes.exact", name, expected);
}

#[rstest]
#[case::good("good", "pass")]
#[case::child_keeps_write_end("child_keeps_write_end", "hang")]
#[case::parent_keeps_write_end("parent_keeps_write_end", "hang")]
fn relay_eof_exits(#[case] name: &str, #[case] expected: &str) {
    check("relay.eof.exits", name, expected);
}

#[rstest]
#[case::good("good", "pass")]
#[case::wrong_status("wrong_status", "fail")]
#[case::never_exits("child_keeps_write_end", "hang")]
fn relay_exit_success(#[case] name: &str, #[case] expected: &str) {
    check("relay.exit.success", name, expected);
}

#[rstest]
#[case::good("good", "pass")]
#[case::unbounded_buffer("unbounded_buffer", "fail")]
fn relay_backpressure_bounded(#[case] name: &str, #[case] expected: &str) {
    check("relay.backpressure.bounded", name, expected);
}

#[rstest]
#[case::good("good", "pass")]
#[case::ignores_epipe("ignores_epipe", "hang")]
fn relay_sigpipe_stops(#[case] name: &str, #[case] expected: &str) {
    check("relay.sigpipe.stops", name, expected);
}

#[test]
fn relay_reference_conforms() {
    let output = ipcspec().args(["check", "relay"]).output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn relay_hang_names_the_process_holding_the_write_end() {
    let relay = built("relays", "child_keeps_write_end");
    let output = ipcspec()
        .args(["check", "relay", "--only", "relay.eof.exits", "--"])
        .arg(&relay)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("whose write end is still open in pid")
            && text.contains("(the reader itself)"),
        "{text}"
    );
}

#[test]
fn relay_check_of_a_missing_program_is_one_line_and_exit_2() {
    let output = ipcspec()
        .args(["check", "relay", "--", "/no/such/relay"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/no/such/relay"), "{stderr}");
}

#[test]
fn relay_reference_copies_bytes_and_exits_zero() {
    let input: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let assert = assert_cmd::Command::from_std(ipcspec())
        .arg("relay")
        .write_stdin(input.clone())
        .assert()
        .code(0);
    assert_eq!(assert.get_output().stdout, input);
}
