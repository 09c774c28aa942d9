//! Shared by the relay and shell tests: running `ipcspec check` on a target
//! with a JSON report (fixtures are built by `support`).

// Each test file uses part of this module.
#![allow(dead_code)]

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

/// Runs `ipcspec check PROFILE --only ID --format json [-- TARGET...]`;
/// returns the property's verdict and the exit code.
pub fn verdict(profile: &str, id: &str, target: &[&str]) -> (String, i32) {
    let mut command = ipcspec();
    command.args(["check", profile, "--only", id, "--format", "json"]);
    if !target.is_empty() {
        command.arg("--").args(target);
    }
    let output = command.output().expect("ipcspec runs");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    let results: Vec<&serde_json::Value> = json["reports"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["results"].as_array().into_iter().flatten())
        .filter(|r| r["id"] == id)
        .collect();
    assert_eq!(results.len(), 1, "one result for {id}: {json:#}");
    let verdict = results[0]["verdict"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (verdict, output.status.code().unwrap_or(-1))
}

/// Asserts that property `id` gets `expected` on `target`, with the matching exit code.
pub fn assert_verdict(profile: &str, id: &str, target: &[&str], expected: &str) {
    let (verdict, code) = verdict(profile, id, target);
    assert_eq!(verdict, expected, "{id} on {target:?}");
    let failing = matches!(expected, "fail" | "hang");
    assert_eq!(
        code,
        i32::from(failing),
        "exit code of check {profile} on {target:?}"
    );
}
