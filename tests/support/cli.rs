//! Shared by the relay and shell tests: running `ipcspec check` on a target
//! (fixtures are built by `support`).

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

/// The `ipcspec` executable under test.
pub fn ipcspec() -> Command {
    Command::cargo_bin("ipcspec").expect("the ipcspec binary is built")
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
