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

/// Runs `ipcspec grade MANIFEST --out OUT` with `extra` arguments.
fn run_grade(manifest: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    Command::cargo_bin("ipcspec")
        .unwrap()
        .arg("grade")
        .arg(manifest)
        .arg("--out")
        .arg(out)
        .args(["--cases", "4", "--seed", "7"])
        .args(extra)
        .output()
        .unwrap()
}

fn summary(out: &Path) -> String {
    std::fs::read_to_string(out.join("summary.csv")).unwrap()
}

/// `grade merge SHARDS... --out OUT`, expected to refuse: its one line.
fn merge_refusal(shards: &[&Path], out: &Path) -> String {
    let output = Command::cargo_bin("ipcspec")
        .unwrap()
        .args(["grade", "merge"])
        .args(shards)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn merged_shards_give_the_unsharded_summary_and_misfits_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest(dir.path());
    let only = ["--only", "exit"];
    let whole = dir.path().join("whole");
    assert!(run_grade(&manifest, &whole, &only).status.success());
    let shards: Vec<_> = (1..=3)
        .map(|k| {
            let out = dir.path().join(format!("shard-{k}"));
            let shard = format!("{k}/3");
            let output = run_grade(&manifest, &out, &["--only", "exit", "--shard", &shard]);
            assert!(output.status.success());
            out
        })
        .collect();
    let merged = dir.path().join("merged");
    let output = Command::cargo_bin("ipcspec")
        .unwrap()
        .args(["grade", "merge"])
        .args(&shards)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(summary(&merged), summary(&whole));
    assert!(String::from_utf8_lossy(&output.stdout).contains("7 submissions: "));
    for name in ["correct", "no-compile", "exec-cat"] {
        assert!(merged.join(name).join("report.txt").is_file(), "{name}");
    }

    let [one, two, three] = [&shards[0], &shards[1], &shards[2]].map(PathBuf::as_path);
    let refused = dir.path().join("refused");
    assert!(merge_refusal(&[one, one, two], &refused).contains("are both shard 1/3"));
    assert!(merge_refusal(&[one, two], &refused).contains("shard 3/3 is missing"));
    let other = dir.path().join("other");
    let output = run_grade(&manifest, &other, &["--only", "eof", "--shard", "1/3"]);
    assert!(output.status.success());
    assert!(merge_refusal(&[&other, two, three], &refused).contains("not shares of one run"));
    assert!(
        merge_refusal(&[one, two, dir.path()], &refused).contains("not the folder of a finished")
    );
    std::fs::remove_file(three.join("exits-3/grade.json")).unwrap();
    assert!(merge_refusal(&[one, two, three], &refused).contains("exits-3 has no finished grade"));
}

#[test]
fn resume_grades_only_what_an_interrupted_run_left_unfinished() {
    use std::io::BufRead;

    let dir = tempfile::tempdir().unwrap();
    let subs = dir.path().join("subs");
    std::fs::create_dir(&subs).unwrap();
    for program in ["cat-pipe-cat.sh", "exits-3.sh"] {
        std::fs::copy(fixtures().join(program), subs.join(program)).unwrap();
    }
    let builds = dir.path().join("builds.txt");
    let names: Vec<String> = (1..=6).map(|i| format!("r{i}")).collect();
    let mut text = String::new();
    for (i, name) in names.iter().enumerate() {
        let program = ["cat-pipe-cat.sh", "exits-3.sh"][i % 2];
        text += &format!(
            "[[submission]]\nname = \"{name}\"\nprofile = \"relay\"\ndir = \"subs\"\nbuild = \"echo {name} >> {}\"\nrun = \"./{program}\"\n\n",
            builds.display()
        );
    }
    let manifest = dir.path().join("grade.toml");
    std::fs::write(&manifest, text).unwrap();
    let out = dir.path().join("out");
    let only = ["--only", "relay.exit", "--jobs", "1"];

    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ipcspec"))
        .arg("grade")
        .arg(&manifest)
        .arg("--out")
        .arg(&out)
        .args(["--cases", "4", "--seed", "7"])
        .args(only)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("[1/6]") {
        assert!(stderr.read_line(&mut said).unwrap() > 0, "{said}");
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    said += &rest;
    assert_eq!(child.wait().unwrap().code(), Some(130), "{said}");
    let finished: Vec<&String> = names
        .iter()
        .filter(|n| said.contains(&format!("] {n}: ")))
        .collect();
    assert!(
        !finished.is_empty() && finished.len() < names.len(),
        "{said}"
    );

    let resumed = run_grade(&manifest, &out, &[&only[..], &["--resume"]].concat());
    assert!(resumed.status.success(), "{resumed:?}");
    let built = std::fs::read_to_string(&builds).unwrap();
    for name in &names {
        let times = built.lines().filter(|l| l == name).count();
        if finished.contains(&name) {
            assert_eq!(
                times, 1,
                "{name} finished before the interruption: not rebuilt"
            );
        } else {
            assert!(times >= 1, "{name} graded");
        }
    }
    let whole = dir.path().join("whole");
    assert!(run_grade(&manifest, &whole, &only).status.success());
    assert_eq!(summary(&out), summary(&whole));
}

#[test]
fn grade_refuses_reports_inside_a_submission_folder() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest(dir.path());
    let output = run_grade(&manifest, &fixtures().join("grades"), &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("must not contain one another"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1);
    let _ = std::fs::remove_dir(fixtures().join("grades"));
}

#[test]
fn a_flooding_build_leaves_a_bounded_log_and_a_quoted_note() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("grade.toml");
    std::fs::write(
        &manifest,
        format!(
            "[[submission]]\nname = \"flood\"\nprofile = \"relay\"\ndir = \"{}\"\nbuild = \"head -c 10000000 /dev/zero | tr '\\\\\\\\0' x; printf '\\\\n\\\\033[31merror: forged\\\\n'; exit 1\"\nrun = \"./relay\"\n",
            fixtures().display()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    assert!(run_grade(&manifest, &out, &[]).status.success());
    let log = std::fs::read(out.join("flood/build.log")).unwrap();
    assert!(log.len() < 70 * 1024, "{} bytes", log.len());
    assert!(String::from_utf8_lossy(&log).contains("bytes omitted"));
    let csv = summary(&out);
    assert!(
        csv.contains("build-failed") && csv.contains("\\u{1b}[31merror: forged"),
        "{csv}"
    );
    assert!(!csv.contains('\x1b'));
}
