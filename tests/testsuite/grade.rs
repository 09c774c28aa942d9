//! `ipcspec grade` on a folder of relay submissions, correct and broken:
//! a result per submission (build failures and missing programs included),
//! the reports in `OUT/NAME/`, a CSV summary, sharding, and the same
//! verdicts as checking each submission by itself.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/relays")
}

/// A manifest over the relay fixtures (`exec cat`, which copies but is no
/// relay, among them), plus a build that fails, a program that does not
/// exist and a folder that does not exist.
fn manifest(dir: &Path) -> PathBuf {
    let fixtures = fixtures().display().to_string();
    let text = format!(
        r#"
[[submission]]
name = "correct"
profile = "relay"
dir = "{fixtures}"
run = ["./cat-pipe-cat.sh"]

[[submission]]
name = "swaps-bytes"
profile = "relay"
dir = "{fixtures}"
build = "test -x swaps-bytes.sh"
run = "./swaps-bytes.sh"

[[submission]]
name = "exits-3"
profile = "relay"
dir = "{fixtures}"
run = "./exits-3.sh"

[[submission]]
name = "no-compile"
profile = "relay"
dir = "{fixtures}"
build = "echo 'relay.c:3:5: error: expected ; before return' >&2; exit 1"
run = "./relay"

[[submission]]
name = "no-program"
profile = "relay"
dir = "{fixtures}"
run = "./relay-never-built"

[[submission]]
name = "no-folder"
profile = "relay"
dir = "does-not-exist"
run = "./relay"

[[submission]]
name = "exec-cat"
profile = "relay"
dir = "{fixtures}"
run = "./exec-cat.sh"
"#
    );
    let path = dir.join("grade.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn grade(dir: &Path, extra: &[&str]) -> Vec<csv::StringRecord> {
    let out = dir.join("out");
    let output = Command::cargo_bin("ipcspec")
        .unwrap()
        .arg("grade")
        .arg(manifest(dir))
        .arg("--out")
        .arg(&out)
        .args(["--jobs", "2", "--cases", "4"])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "grading completes: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut reader = csv::Reader::from_path(out.join("summary.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    assert_eq!(
        header.iter().collect::<Vec<_>>(),
        [
            "name",
            "profile",
            "variant",
            "status",
            "passed",
            "failed",
            "score",
            "max_score",
            "first_failure",
            "note"
        ]
    );
    reader.records().map(Result::unwrap).collect()
}

fn row<'a>(rows: &'a [csv::StringRecord], name: &str) -> &'a csv::StringRecord {
    rows.iter()
        .find(|r| &r[0] == name)
        .unwrap_or_else(|| panic!("{name} in the summary"))
}

#[test]
fn grade_gives_every_submission_a_result_and_its_reports() {
    let dir = tempfile::tempdir().unwrap();
    let rows = grade(dir.path(), &[]);
    let names: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(
        names,
        [
            "correct",
            "swaps-bytes",
            "exits-3",
            "no-compile",
            "no-program",
            "no-folder",
            "exec-cat"
        ]
    );

    let correct = row(&rows, "correct");
    assert_eq!((&correct[3], &correct[6]), ("pass", &correct[7]));
    let swaps = row(&rows, "swaps-bytes");
    assert_eq!((&swaps[3], &swaps[8]), ("fail", "relay.bytes.exact"));
    let exits = row(&rows, "exits-3");
    assert_eq!((&exits[3], &exits[8]), ("fail", "relay.exit.success"));
    let exec_cat = row(&rows, "exec-cat");
    assert_eq!(
        (&exec_cat[3], &exec_cat[8]),
        ("fail", "relay.shape.pipe-carries-stdin"),
        "copying stdin to stdout without a fork and a pipe is no relay"
    );
    let no_compile = row(&rows, "no-compile");
    assert_eq!((&no_compile[3], &no_compile[6]), ("build-failed", "0"));
    assert!(
        no_compile[9].contains("relay.c:3:5: error: expected ;"),
        "{:?}",
        &no_compile[9]
    );
    assert_eq!(no_compile[7], correct[7], "scored out of the same total");
    let no_program = row(&rows, "no-program");
    assert_eq!(&no_program[3], "error");
    assert!(
        no_program[9].contains("command not found"),
        "{:?}",
        &no_program[9]
    );
    assert!(row(&rows, "no-folder")[9].contains("no such directory"));

    let out = dir.path().join("out");
    for file in [
        "report.txt",
        "report.json",
        "junit.xml",
        "results.json",
        "report.md",
    ] {
        assert!(
            out.join("swaps-bytes").join(file).is_file(),
            "swaps-bytes/{file}"
        );
    }
    let human = std::fs::read_to_string(out.join("swaps-bytes/report.txt")).unwrap();
    assert!(
        human.contains("✗ FAIL  relay.bytes.exact") && human.contains("replay:"),
        "{human}"
    );
    let build_log = std::fs::read_to_string(out.join("no-compile/build.log")).unwrap();
    assert!(build_log.contains("error: expected ;"));
    let gradescope: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("exits-3/results.json")).unwrap())
            .unwrap();
    assert_eq!(gradescope["score"].as_f64().unwrap().to_string(), exits[6]);
}

#[test]
fn grade_agrees_with_checking_each_submission_alone() {
    let dir = tempfile::tempdir().unwrap();
    let rows = grade(dir.path(), &["--shard", "1/1"]);
    for (name, program) in [
        ("correct", "cat-pipe-cat.sh"),
        ("swaps-bytes", "swaps-bytes.sh"),
        ("exits-3", "exits-3.sh"),
        ("exec-cat", "exec-cat.sh"),
    ] {
        let alone = Command::cargo_bin("ipcspec")
            .unwrap()
            .current_dir(fixtures())
            .args([
                "check",
                "relay",
                "--cases",
                "4",
                "--",
                &format!("./{program}"),
            ])
            .output()
            .unwrap();
        let status = match alone.status.code() {
            Some(0) => "pass",
            Some(1) => "fail",
            other => panic!("{name} alone exited with {other:?}"),
        };
        assert_eq!(&row(&rows, name)[3], status, "{name}");
    }
}

#[test]
fn shards_split_the_manifest_between_machines() {
    let dir = tempfile::tempdir().unwrap();
    let first: Vec<String> = grade(dir.path(), &["--shard", "1/2", "--only", "exit"])
        .iter()
        .map(|r| r[0].to_string())
        .collect();
    let second: Vec<String> = grade(dir.path(), &["--shard", "2/2", "--only", "exit"])
        .iter()
        .map(|r| r[0].to_string())
        .collect();
    assert_eq!(first, ["correct", "exits-3", "no-program", "exec-cat"]);
    assert_eq!(second, ["swaps-bytes", "no-compile", "no-folder"]);
}
