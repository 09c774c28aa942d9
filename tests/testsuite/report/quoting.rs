//! What a hostile target prints reaches every report format quoted and
//! bounded: `fixtures/relays/hostile.sh` prints ANSI escapes, a forged
//! "✓ pass" line, XML that closes the JUnit elements, a Markdown table row,
//! heading and HTML, and 10 MB on one line, then fails `relay.exit.success`.

use std::path::Path;

use assert_cmd::Command;

#[test]
fn every_format_quotes_and_bounds_what_the_target_printed() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/relays");
    let file = |name: &str| dir.path().join(name);
    let mut command = Command::cargo_bin("ipcspec").unwrap();
    command.current_dir(&fixtures).args([
        "check",
        "relay",
        "--only",
        "relay.exit.success",
        "--cases",
        "2",
        "--format",
        "json",
    ]);
    for (format, name) in [
        ("human", "report.txt"),
        ("junit", "junit.xml"),
        ("gradescope", "results.json"),
        ("markdown", "report.md"),
    ] {
        command
            .arg("--report")
            .arg(format!("{format}:{}", file(name).display()));
    }
    let output = command.args(["--", "./hostile.sh"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "the relay fails");
    std::fs::write(file("report.json"), &output.stdout).unwrap();

    for name in [
        "report.json",
        "report.txt",
        "junit.xml",
        "results.json",
        "report.md",
    ] {
        let bytes = std::fs::read(file(name)).unwrap();
        assert!(bytes.len() < 64 * 1024, "{name}: {} bytes", bytes.len());
        assert!(!bytes.contains(&0x1b), "{name} carries a raw ESC");
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.contains("bytes omitted") && text.contains("last words"),
            "{name} shows the end of the flood and says what it left out"
        );
    }
    for name in ["report.json", "results.json"] {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file(name)).unwrap()).unwrap();
        assert!(
            doc.to_string().contains("forged"),
            "{name} quotes the output"
        );
    }
    let junit = quick_junit::Report::deserialize_from_str(
        &std::fs::read_to_string(file("junit.xml")).unwrap(),
    )
    .expect("junit.xml stays well-formed");
    let cases: Vec<_> = junit
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .collect();
    assert_eq!(cases.len(), 1);
    assert!(cases[0].system_out.is_none(), "no forged <system-out>");

    let human = std::fs::read_to_string(file("report.txt")).unwrap();
    let marks: Vec<&str> = human
        .lines()
        .filter(|l| l.starts_with("  ✓") || l.starts_with("  ✗"))
        .collect();
    assert_eq!(
        marks.len(),
        1,
        "only the real verdict is a mark line: {marks:?}"
    );
    assert!(marks[0].starts_with("  ✗ FAIL  relay.exit.success"));
    assert!(
        human.contains("| stderr: \\u{1b}[2J"),
        "escapes shown, not run"
    );

    let markdown = std::fs::read_to_string(file("report.md")).unwrap();
    let (mut fenced, mut fence) = (false, String::new());
    for line in markdown.lines() {
        if fenced {
            fenced = line != fence;
            continue;
        }
        if line.starts_with("```") {
            (fenced, fence) = (true, line.trim_end_matches("text").to_string());
            continue;
        }
        assert!(
            !line.contains("forged") && !line.contains("<script>"),
            "the target's words outside a fence: {line:?}"
        );
    }
    let rows = markdown.lines().filter(|l| l.starts_with('|')).count();
    assert_eq!(rows, 3, "header, rule and the one real row");
}
