//! Every output format renders every verdict: the human tree, JSON, JUnit
//! XML, Gradescope's results.json (with weights) and Markdown.

use crate::support::reports;

use ipcspec::report::{Format, Weights};
use rstest::rstest;

#[test]
fn human_explains_each_failure_with_its_replay() {
    let text = reports::rendered(&[reports::mixed()], Format::Human, &Weights::default());
    assert!(text.starts_with("relay ./relay <&>  (seed 7)\n"), "{text}");
    assert!(text.contains("  ✗ FAIL  relay.eof.after-writer-closes"));
    assert!(text.contains("      expected: end-of-file after 3 bytes\n"));
    assert!(text.contains("      observed: the read blocked\n                with 0 bytes\n"));
    assert!(text.contains("      smallest input:\n        | [\n        |     \"abc\",\n"));
    assert!(text.contains("      replay:   ipcspec check relay --only 'relay.eof.after-writer-closes' --seed 7 -- ./relay"));
    assert!(text.contains("      threads:\n        | 1234 relay: S in read(0)"));
    assert!(text.contains("      why:      no pids cgroup here"));
    assert!(text.contains("1 passed, 2 failed, 1 skipped, 1 errors"));
}

#[test]
fn junit_has_a_testcase_per_property_named_by_its_id() {
    let xml = reports::rendered(&[reports::mixed()], Format::Junit, &Weights::default());
    assert!(xml.contains(r#"<testsuite name="relay ./relay &lt;&amp;&gt;" tests="5" skipped="1" errors="1" failures="2""#), "{xml}");
    for id in [
        "relay.bytes.all-forwarded",
        "relay.eof.after-writer-closes",
        "relay.exit.after-eof",
    ] {
        assert!(
            xml.contains(&format!(r#"<testcase name="{id}""#)),
            "{id} in {xml}"
        );
    }
    assert!(xml.contains(
        r#"<failure message="expected end-of-file after 3 bytes, was the read blocked""#
    ));
    assert!(xml.contains(r#"type="hang""#));
    assert!(xml.contains(r#"<skipped message="skipped: no pids cgroup here""#));
    assert!(xml.contains(r#"<error message="./relay: command not found""#));
    assert!(xml.contains(
        "replay:   ipcspec check relay --only &apos;relay.eof.after-writer-closes&apos; --seed 7"
    ));
}

#[test]
fn gradescope_scores_with_weights_and_skips_earn_nothing() {
    let weights = Weights::parse("\"relay.*\" = 2\n\"relay.bytes.*\" = 5\n").unwrap();
    let text = reports::rendered(&[reports::mixed()], Format::Gradescope, &weights);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["score"], 5.0);
    assert_eq!(doc["max_score"], 13.0);
    let tests = doc["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 5);
    assert_eq!(tests[0]["name"], "relay.bytes.all-forwarded");
    assert_eq!(tests[1]["score"], 0.0);
    assert_eq!(tests[1]["max_score"], 2.0);
    assert_eq!(tests[3]["score"], 0.0);
    assert_eq!(tests[3]["max_score"], 2.0);
    assert!(tests.iter().all(|t| t["visibility"] == "visible"));
    let output = tests[1]["output"].as_str().unwrap();
    assert!(
        output.contains("smallest input:") && output.contains("replay:"),
        "{output}"
    );
}

#[test]
fn markdown_has_a_table_row_per_property_and_details_per_failure() {
    let text = reports::rendered(&[reports::mixed()], Format::Markdown, &Weights::default());
    assert!(
        text.starts_with("### ipcspec: relay ./relay <&> (seed 7)\n"),
        "{text}"
    );
    assert!(text.contains("| ✓ | `relay.bytes.all-forwarded` | pass | 0.25 s |"));
    assert!(text.contains("| ✗ | `relay.eof.after-writer-closes` | FAIL | 0.25 s |"));
    assert_eq!(text.matches("<details>").count(), 4, "{text}");
    // The target printed a backtick run: the fence must be longer.
    assert!(text.contains("````text\n"), "{text}");
}

#[test]
fn json_carries_every_verdict_and_the_exit_code() {
    let text = reports::rendered(&[reports::mixed()], Format::Json, &Weights::default());
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["exit_code"], 2);
    let verdicts: Vec<&str> = doc["reports"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["pass", "fail", "hang", "skip", "error"]);
}

#[rstest]
#[case(Format::Human, "")]
#[case(Format::Json, "\"exit_code\": 2")]
#[case(Format::Junit, r#"<testsuites name="ipcspec" tests="0""#)]
#[case(Format::Gradescope, "\"max_score\": 0.0")]
#[case(Format::Markdown, "")]
/// A run that checked nothing is no pass: exit code 2.
fn every_format_renders_an_empty_run(#[case] format: Format, #[case] wanted: &str) {
    let text = reports::rendered(&[], format, &Weights::default());
    assert!(text.contains(wanted), "{text}");
    assert_eq!(text.is_empty(), wanted.is_empty(), "{text}");
}
