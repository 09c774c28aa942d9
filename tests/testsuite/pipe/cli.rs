//! `ipcspec check pipe` from the outside: verdicts in both formats, the
//! `--impl` filter, and a clear exit 2 on bad input.

use assert_cmd::Command;
use predicates::prelude::*;

fn ipcspec() -> Command {
    Command::cargo_bin("ipcspec").expect("the ipcspec binary")
}

#[test]
fn check_pipe_passes_on_kernel_and_reference() {
    ipcspec()
        .args(["check", "pipe", "--cases", "4"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("pipe kernel"))
        .stdout(predicate::str::contains("pipe reference"))
        .stdout(predicate::str::contains("pipe.order.lossless"));
}

#[test]
fn check_pipe_json_names_each_property_and_verdict() {
    let output = ipcspec()
        .args([
            "check",
            "pipe",
            "--impl",
            "reference",
            "--format",
            "json",
            "--cases",
            "4",
        ])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    let reports = json["reports"].as_array().expect("reports");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["target"], "reference");
    let results = reports[0]["results"].as_array().expect("results");
    assert_eq!(results.len(), ipcspec::spec::pipe::PROPERTIES.len());
    let sigpipe = results
        .iter()
        .find(|r| r["id"] == "pipe.sigpipe.default-kills-writer")
        .expect("listed");
    assert_eq!(sigpipe["verdict"], "skip");
}

#[test]
fn check_pipe_rejects_an_unknown_implementation() {
    ipcspec()
        .args(["check", "pipe", "--impl", "mine"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid value 'mine'"));
}
