//! Shared by the relay and shell tests: running `ipcspec check` on a target
//! (fixtures are built by `support`).

use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;

/// The `ipcspec` executable under test.
pub fn ipcspec() -> Command {
    Command::cargo_bin("ipcspec").expect("the ipcspec binary is built")
}

/// Asserts exit 2 and exactly one line on stderr, containing `wanted`: how
/// every command line or target that cannot be used is refused.
pub fn assert_one_line_error(output: &Output, wanted: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(wanted), "{stderr:?} should say {wanted:?}");
}

/// Asserts that `ipcspec check PROFILE -- TARGET...` passes every property
/// (exit 0), with the report as the message if not.
pub fn assert_conforms(profile: &str, target: &[&str]) {
    let output = ipcspec()
        .args(["check", profile, "--"])
        .args(target)
        .output()
        .expect("ipcspec runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{target:?} must conform:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
