//! `check relay` on relays written in different ways that must conform,
//! on programs that exit at once, and on the evidence a failure gives. What
//! each broken relay fails is the kill matrix's (`tests/conformance/killers/relay.rs`).

use std::path::Path;
use std::time::{Duration, Instant};

use rstest::rstest;

use crate::support::built;
use crate::support::cli::{assert_conforms, assert_one_line_error, ipcspec};

/// A relay fixture's command line: `fixtures/relays/NAME.c` built, a
/// script of `fixtures/relays/` by path, or the reference relay.
fn relay(name: &str) -> Vec<String> {
    if name == "reference" {
        let bin = assert_cmd::cargo::cargo_bin("ipcspec");
        return vec![bin.display().to_string(), "relay".into()];
    }
    if name.ends_with(".sh") {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/relays")
            .join(name);
        return vec![script.display().to_string()];
    }
    vec![built("relays", name).display().to_string()]
}

#[rstest]
#[case::reference("reference")]
#[case::fork_and_copy("good")]
#[case::child_execs_cat("exec_cat")]
#[case::both_wait_in_poll("poll")]
#[case::both_splice("splice")]
#[case::sh_runs_cat_into_cat("cat-pipe-cat.sh")]
fn relay_correct_programs_pass_every_property(#[case] name: &str) {
    let argv = relay(name);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    assert_conforms("relay", &argv);
}

#[rstest]
#[case::cat(&["cat", "--bogus"], "unrecognized option")]
#[case::missing_library(&["sh", "-c", "echo 'relay: error while loading shared libraries' >&2; exit 127"], "shared libraries")]
fn relay_that_exits_at_once_with_an_error_could_not_be_run(
    #[case] argv: &[&str],
    #[case] said: &str,
) {
    let output = ipcspec()
        .args(["check", "relay", "--"])
        .args(argv)
        .output()
        .unwrap();
    assert_one_line_error(&output, said);
    assert!(output.stdout.is_empty(), "no property ran");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("exited at start"), "{stderr}");
}

#[test]
fn relay_that_exits_at_once_with_status_0_fails_as_a_relay() {
    let output = ipcspec()
        .args(["check", "relay", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("✗ FAIL  relay.shape.pipe-carries-stdin")
            && text.contains("it exited (exit status 0)"),
        "{text}"
    );
}

#[test]
fn relay_that_exits_mid_property_ends_it_at_once_with_its_status() {
    // Reads 100 kB, then exits: far less than the bound on what it may read.
    let started = Instant::now();
    let output = ipcspec()
        .args([
            "check",
            "relay",
            "--only",
            "relay.backpressure.bounded",
            // Far beyond what the check takes even on a loaded machine: had it
            // waited out its bound, the time below would show it.
            "--timeout",
            "60",
            "--",
        ])
        .args(["sh", "-c", "head -c 100000 >/dev/null; exit 4"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("it exited: exit status 4"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn relay_sigpipe_stops_names_a_death_by_another_signal() {
    let output = ipcspec()
        .args(["check", "relay", "--only", "relay.sigpipe.stops", "--"])
        .args(["sh", "-c", "head -c 1 >/dev/null; kill -TERM $$"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("killed by SIGTERM, not by SIGPIPE"), "{text}");
}

#[test]
fn relay_hang_names_the_process_holding_the_write_end() {
    let relay = built("relays", "child_keeps_write_end");
    let output = ipcspec()
        .args(["check", "relay", "--only", "relay.eof.exits", "--"])
        .arg(&relay)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("whose write end is still open in pid")
            && text.contains("(the reader itself)"),
        "{text}"
    );
}

#[test]
fn relay_shape_names_the_process_holding_both_ends() {
    let relay = built("relays", "parent_keeps_read_end");
    let output = ipcspec()
        .args(["check", "relay", "--only", "relay.shape.one-end-each", "--"])
        .arg(&relay)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("holds both ends of pipe:["), "{text}");
}

#[test]
fn relay_check_of_a_missing_program_is_one_line_and_exit_2() {
    let output = ipcspec()
        .args(["check", "relay", "--", "/no/such/relay"])
        .output()
        .unwrap();
    assert_one_line_error(&output, "/no/such/relay");
}

#[test]
fn relay_reference_copies_bytes_and_exits_zero() {
    let input: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let assert = assert_cmd::Command::from_std(ipcspec())
        .arg("relay")
        .write_stdin(input.clone())
        .assert()
        .code(0);
    assert_eq!(assert.get_output().stdout, input);
}
