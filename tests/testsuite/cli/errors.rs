//! Bad input gets one clear line on stderr and exit 2: malformed weights,
//! manifests and shards, unknown formats; and `list` prints the catalog.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use rstest::rstest;

use crate::support::cli::assert_one_line_error;

fn ipcspec() -> Command {
    Command::cargo_bin("ipcspec").unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Exit 2 and exactly one line on stderr, containing `wanted`.
fn one_line_error(command: &mut Command, wanted: &str) {
    assert_one_line_error(&command.output().unwrap(), wanted);
}

#[rstest]
#[case("\"relay.*\" = \"lots\"\n", "must be a number of points")]
#[case("\"relay.*\" = -2\n", "zero or more")]
#[case("\"relay.* = 2\n", "line 1")]
fn check_refuses_a_malformed_weights_file(#[case] text: &str, #[case] wanted: &str) {
    let dir = tempfile::tempdir().unwrap();
    let weights = write(dir.path(), "weights.toml", text);
    one_line_error(
        ipcspec().args([
            "check",
            "relay",
            "--format",
            "gradescope",
            "--weights",
            &weights,
            "--",
            "cat",
        ]),
        wanted,
    );
}

#[test]
fn check_refuses_a_missing_weights_file() {
    one_line_error(
        ipcspec().args([
            "check",
            "relay",
            "--weights",
            "/no/such/weights.toml",
            "--",
            "cat",
        ]),
        "weights file /no/such/weights.toml",
    );
}

#[rstest]
#[case(&["--format", "yaml"])]
#[case(&["--report", "yaml:out.txt"])]
#[case(&["--report", "junit"])]
fn check_refuses_an_unknown_format(#[case] args: &[&str]) {
    ipcspec()
        .args(["check", "relay"])
        .args(args)
        .args(["--", "cat"])
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with("error: invalid value"));
}

#[rstest]
#[case("[[submission]\nname = \"a\"\n", "line 1")]
#[case(
    "[[submission]]\nname = \"a\"\nprofile = \"relay\"\n",
    "missing field `run`"
)]
#[case(
    "[[submission]]\nname = \"a\"\nprofile = \"printer\"\nrun = \"cat\"\n",
    "unknown profile `printer`"
)]
#[case(
    "[[submission]]\nname = \"a/b\"\nprofile = \"relay\"\nrun = \"cat\"\n",
    "name `a/b`"
)]
#[case("", "no [[submission]] to grade")]
fn grade_refuses_a_malformed_manifest(#[case] text: &str, #[case] wanted: &str) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write(dir.path(), "grade.toml", text);
    let out = dir.path().join("out");
    one_line_error(
        ipcspec().args(["grade", &manifest, "--out"]).arg(&out),
        &format!("manifest {manifest}: "),
    );
    one_line_error(
        ipcspec().args(["grade", &manifest, "--out"]).arg(&out),
        wanted,
    );
    assert!(!out.exists(), "nothing is graded from a bad manifest");
}

#[test]
fn grade_refuses_a_missing_manifest() {
    one_line_error(
        ipcspec().args(["grade", "/no/such/grade.toml"]),
        "manifest /no/such/grade.toml",
    );
}

#[rstest]
#[case("0/2")]
#[case("3/2")]
#[case("two")]
fn grade_refuses_a_bad_shard(#[case] shard: &str) {
    ipcspec()
        .args(["grade", "grade.toml", "--shard", shard])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a shard K/N"));
}

#[test]
fn grade_refuses_a_malformed_weights_file() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write(
        dir.path(),
        "grade.toml",
        "[[submission]]\nname = \"a\"\nprofile = \"relay\"\nrun = \"cat\"\n",
    );
    let weights = write(dir.path(), "weights.toml", "x = [1]\n");
    one_line_error(
        ipcspec().args(["grade", &manifest, "--weights", &weights]),
        "must be a number of points",
    );
}

#[test]
fn list_prints_every_property_with_its_statement() {
    let output = ipcspec().arg("list").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for meta in ipcspec::spec::catalog() {
        assert!(
            text.contains(meta.id) && text.contains(meta.statement),
            "{} listed",
            meta.id
        );
    }
}

#[test]
fn list_of_http_shows_its_rules_then_the_server_models_it_checks_too() {
    let output = ipcspec()
        .args(["list", "--profile", "http"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let ids: Vec<&str> = text.lines().filter(|l| !l.starts_with(' ')).collect();
    let first_server = ids.iter().position(|id| id.starts_with("server."));
    assert!(ids[0].starts_with("http."), "{ids:?}");
    assert!(
        first_server.is_some_and(|at| ids[at..].iter().all(|id| id.starts_with("server."))),
        "{ids:?}"
    );
    assert!(!text.contains("server.echo.byte-exact"), "{text}");
}

#[test]
fn list_into_a_reader_that_went_away_ends_quietly() {
    // A pipe whose reader is gone before the first line, as after `head`:
    // every write fails with EPIPE.
    let (reader, writer) = nix::unistd::pipe().unwrap();
    drop(reader);
    let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("ipcspec"))
        .arg("list")
        .stdout(std::process::Stdio::from(writer))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn list_json_gives_id_statement_source_and_profile_for_every_entry() {
    let output = ipcspec()
        .args(["list", "--format", "json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(entries.len(), ipcspec::spec::catalog().len());
    assert!(!entries.is_empty());
    for entry in &entries {
        for field in ["id", "statement", "source", "profile"] {
            assert!(
                entry[field].as_str().is_some_and(|s| !s.is_empty()),
                "{field} in {entry}"
            );
        }
    }
}

#[test]
fn check_refuses_a_missing_or_unexecutable_program() {
    one_line_error(
        ipcspec().args(["check", "relay", "--", "/no/such/relay"]),
        "/no/such/relay: command not found",
    );
    let dir = tempfile::tempdir().unwrap();
    let plain = write(dir.path(), "relay.c", "int main(void) { return 0; }\n");
    one_line_error(
        ipcspec().args(["check", "relay", "--", &plain]),
        "not executable",
    );
}

#[test]
fn check_list_prints_the_selected_ids_and_runs_nothing() {
    let output = ipcspec()
        .args(["check", "relay", "--list", "--only", "relay.eof"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        !text.is_empty() && text.lines().all(|l| l.starts_with("relay.eof")),
        "{text}"
    );
}

#[rstest]
#[case::typo(&["check", "pipe", "--only", "nomatch"], "--only `nomatch` selects no property")]
#[case::with_list(&["check", "pipe", "--list", "--only", "pipe.eof.after-last-writr"], "closest: pipe.eof.after-last-writer")]
#[case::out_of_scope(&["check", "server", "--variant", "thread", "--only", "server.pool.bounded"], "selects no property checked here")]
fn check_refuses_an_only_pattern_that_selects_nothing(#[case] args: &[&str], #[case] wanted: &str) {
    one_line_error(ipcspec().args(args), wanted);
}

#[test]
fn check_server_refuses_an_unknown_variant_even_with_list() {
    one_line_error(
        ipcspec().args(["check", "server", "--variant", "bogus", "--list"]),
        "unknown server variant `bogus`",
    );
}

#[test]
fn check_server_runs_the_reference_of_any_pool_size() {
    ipcspec()
        .args(["check", "server", "--variant", "pool:2", "--list"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "server.pool.bounded  (reference pool:2 over tcp)",
        ));
}

#[test]
fn a_run_that_checks_only_inapplicable_properties_is_no_pass() {
    let output = ipcspec()
        .args([
            "check",
            "pipe",
            "--impl",
            "reference",
            "--only",
            "pipe.sigpipe.default-kills-writer",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nothing was checked"));
}
