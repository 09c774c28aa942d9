//! `check shell` on student-style C shells, correct and buggy, and on the
//! reference shell and the installed shells: each property's verdict.

mod relay_support;
mod support;

use rstest::rstest;

use relay_support::{assert_verdict, ipcspec};
use support::built;

fn check(id: &str, name: &str, expected: &str) {
    let shell = built("shells", name);
    assert_verdict("shell", id, &[shell.to_str().unwrap()], expected);
}

#[rstest]
#[case::good("good", "pass")]
#[case::parent_keeps_pipes("parent_keeps_pipes", "hang")]
fn shell_pipeline_bytes_exact(#[case] name: &str, #[case] expected: &str) {
    check("shell.pipeline.bytes-exact", name, expected);
}

#[rstest]
#[case::good("good", "pass")]
#[case::parent_keeps_pipes("parent_keeps_pipes", "hang")]
fn shell_pipeline_eof_reaches_last(#[case] name: &str, #[case] expected: &str) {
    check("shell.pipeline.eof-reaches-last", name, expected);
}

#[rstest]
#[case::good("good", "pass")]
#[case::sequential("sequential", "hang")]
fn shell_pipeline_concurrent(#[case] name: &str, #[case] expected: &str) {
    check("shell.pipeline.concurrent", name, expected);
}

#[rstest]
#[case::good("good", "pass")]
#[case::children_leak_fds("children_leak_fds", "fail")]
#[case::sigpipe_ignored("sigpipe_ignored", "fail")]
fn shell_child_clean_start(#[case] name: &str, #[case] expected: &str) {
    check("shell.child.clean-start", name, expected);
}

#[rstest]
#[case::good("good", "pass")]
#[case::children_leak_fds("children_leak_fds", "hang")]
fn shell_sigpipe_ends_producer(#[case] name: &str, #[case] expected: &str) {
    check("shell.sigpipe.ends-producer", name, expected);
}

#[rstest]
#[case::good("good", "pass")]
#[case::no_wait("no_wait", "fail")]
fn shell_line_reaped_then_next(#[case] name: &str, #[case] expected: &str) {
    check("shell.line.reaped-then-next", name, expected);
}

#[rstest]
#[case::bash(&["bash"])]
#[case::dash(&["dash"])]
#[case::busybox(&["busybox", "sh"])]
fn shell_installed_shells_conform(#[case] shell: &[&str]) {
    let output = ipcspec()
        .args(["check", "shell", "--"])
        .args(shell)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn shell_reference_shell_conforms() {
    let bin = assert_cmd::cargo::cargo_bin("ipcspec");
    let output = ipcspec()
        .args(["check", "shell", "--"])
        .arg(&bin)
        .arg("shell")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
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
