//! `check --jobs N`: properties run several at once give the same verdicts,
//! reported in catalog order, as one at a time; `--jobs 0` is refused.

use std::process::Output;

use crate::support::cli::ipcspec;

/// Each result of a JSON report document, as (suite, ID, verdict), in report order.
fn verdicts(json: &str) -> Vec<(String, String, String)> {
    let doc: serde_json::Value = serde_json::from_str(json).expect("a JSON report");
    doc["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .flat_map(|report| {
            let target = report["target"].as_str().unwrap().to_string();
            report["results"].as_array().unwrap().iter().map(move |r| {
                let text = |key: &str| r[key].as_str().unwrap().to_string();
                (target.clone(), text("id"), text("verdict"))
            })
        })
        .collect()
}

fn run(args: &[&str]) -> Output {
    ipcspec()
        .args(["check", "server", "--variant", "thread"])
        .args(args)
        .output()
        .expect("ipcspec runs")
}

#[test]
fn check_jobs_2_gives_the_verdicts_of_jobs_1_in_catalog_order() {
    let one = run(&["--jobs", "1", "--format", "json"]);
    assert_eq!(
        one.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    // Human on a pipe: streamed as the properties end; the JSON file beside it.
    let two = run(&[
        "--jobs",
        "2",
        "--report",
        &format!("json:{}", json.display()),
    ]);
    assert_eq!(
        two.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&two.stderr)
    );

    let one = verdicts(&String::from_utf8_lossy(&one.stdout));
    let two_verdicts = verdicts(&std::fs::read_to_string(&json).unwrap());
    assert!(
        one.len() > 20,
        "both suites of the thread reference: {one:?}"
    );
    assert_eq!(one, two_verdicts);
    // The stream, too, lists every property in catalog order.
    let streamed: Vec<String> = String::from_utf8_lossy(&two.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().find(|w| w.starts_with("server.")))
        .map(str::to_string)
        .collect();
    let ids: Vec<String> = one.into_iter().map(|(_, id, _)| id).collect();
    assert_eq!(streamed, ids);
}

#[test]
fn check_refuses_jobs_0() {
    let output = ipcspec()
        .args(["check", "relay", "--jobs", "0", "--", "cat"])
        .output()
        .expect("ipcspec runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--jobs"), "{stderr}");
}
