//! The replay line printed under a failure, run as printed, reproduces the
//! failure with the same counterexample.

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/relays")
        .join(name)
        .display()
        .to_string()
}

/// The "smallest input" block of the first failure, and its replay line.
fn failure(output: &str) -> (String, String) {
    let lines: Vec<&str> = output.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == "smallest input:")
        .expect("a counterexample");
    let block: Vec<&str> = lines[start + 1..]
        .iter()
        .take_while(|l| l.trim_start().starts_with('|'))
        .copied()
        .collect();
    let replay = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("replay:"))
        .expect("a replay line")
        .trim()
        .to_string();
    (block.join("\n"), replay)
}

#[test]
fn relay_bytes_exact_replays_with_the_same_counterexample() {
    let first = Command::cargo_bin("ipcspec")
        .unwrap()
        .args([
            "check",
            "relay",
            "--cases",
            "8",
            "--seed",
            "99",
            // Every one of the 32 shrinking steps, however loaded the machine.
            "--shrink-time",
            "600",
            "--",
            &fixture("swaps-bytes.sh"),
        ])
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(1));
    let (counterexample, replay) = failure(&String::from_utf8_lossy(&first.stdout));
    assert!(
        replay.contains("--shrink-time 600 --only 'relay.bytes.exact' --seed 99 -- "),
        "{replay}"
    );

    let again = Command::new("sh").args(["-c", &replay]).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    let text = String::from_utf8_lossy(&again.stdout);
    assert_eq!(
        text.matches("FAIL").count(),
        1,
        "only the failing property reruns: {text}"
    );
    let (replayed, replay_again) = failure(&text);
    assert_eq!(replayed, counterexample);
    assert_eq!(replay_again, replay, "the replay of a replay is itself");
}
