//! `check shell` on shells written in different ways that must conform
//! (the installed shells, the reference, shells that wait in `select`), on
//! shells that exit at once, and on the evidence a failure gives. What each
//! broken shell fails is the kill matrix's (`tests/conformance/killers/shell.rs`).

use std::path::Path;

use rstest::rstest;

use crate::support::cli::{assert_conforms, assert_one_line_error, ipcspec};
use crate::support::{built, PYTHON};

#[rstest]
#[case::bash(&["bash"])]
#[case::dash(&["dash"])]
#[case::busybox(&["busybox", "sh"])]
fn shell_installed_shells_pass_every_property(#[case] shell: &[&str]) {
    assert_conforms("shell", shell);
}

#[test]
fn shell_reference_passes_every_property() {
    let bin = assert_cmd::cargo::cargo_bin("ipcspec");
    assert_conforms("shell", &[bin.to_str().unwrap(), "shell"]);
}

#[rstest]
#[case::fork_exec_and_wait("good")]
#[case::waits_in_select("select")]
fn shell_correct_c_shells_pass_every_property(#[case] name: &str) {
    let shell = built("shells", name);
    assert_conforms("shell", &[shell.to_str().unwrap()]);
}

#[test]
fn shell_python_shell_waiting_in_select_passes_every_property() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/shells/select_shell.py");
    let [python, flags] = PYTHON;
    assert_conforms("shell", &[python, flags, script.to_str().unwrap()]);
}

#[test]
fn shell_that_exits_at_once_with_a_usage_error_could_not_be_run() {
    let output = ipcspec()
        .args(["check", "shell", "--", "bash", "--bogus"])
        .output()
        .unwrap();
    assert_one_line_error(&output, "--bogus: invalid option");
    assert!(output.stdout.is_empty(), "no property ran");
}

#[test]
fn shell_that_exits_at_once_with_status_0_fails_every_property_with_its_status() {
    let output = ipcspec()
        .args(["check", "shell", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("0 passed") && text.contains("it exited: exit status 0"),
        "{text}"
    );
}

#[test]
fn shell_hang_names_the_shell_holding_a_write_end() {
    let shell = built("shells", "parent_keeps_pipes");
    let output = ipcspec()
        .args([
            "check",
            "shell",
            "--only",
            "shell.pipeline.eof-reaches-last",
            "--",
        ])
        .arg(&shell)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("whose write end is still open in pid"),
        "{text}"
    );
}

#[test]
fn shell_sigpipe_hang_names_the_producer_holding_its_read_end() {
    let shell = built("shells", "children_leak_fds");
    let output = ipcspec()
        .args([
            "check",
            "shell",
            "--only",
            "shell.sigpipe.ends-producer",
            "--",
        ])
        .arg(&shell)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("whose read end is still open in pid")
            && text.contains("(the writer itself)"),
        "{text}"
    );
}
