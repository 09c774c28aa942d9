//! Hand-made reports with every verdict, for the format tests.

use std::time::Duration;

use ipcspec::report::Report;
use ipcspec::spec::{Failure, Meta, Profile, PropertyResult, Scope, Verdict};

pub static PASSING: Meta = Meta {
    id: "relay.bytes.all-forwarded",
    statement: "Every byte read from stdin is written to stdout, in order.",
    source: "Pipes Between Processes",
    profile: Profile::Relay,
    scope: Scope::All,
};
pub static FAILING: Meta = Meta {
    id: "relay.eof.after-writer-closes",
    statement: "The relay sees end-of-file once every writer has closed its end.",
    source: "End of File on a Pipe",
    profile: Profile::Relay,
    scope: Scope::All,
};
pub static HANGING: Meta = Meta {
    id: "relay.exit.after-eof",
    statement: "The relay exits once its input is exhausted.",
    source: "Pipes Between Processes",
    profile: Profile::Relay,
    scope: Scope::All,
};
pub static SKIPPED: Meta = Meta {
    id: "relay.sigpipe.reader-gone",
    statement: "A write with no reader left kills the writer with SIGPIPE.",
    source: "SIGPIPE",
    profile: Profile::Relay,
    scope: Scope::All,
};
pub static ERRORED: Meta = Meta {
    id: "relay.status.exit-code",
    statement: "The relay exits with status 0 after a clean run.",
    source: "Pipes Between Processes",
    profile: Profile::Relay,
    scope: Scope::All,
};

fn result(meta: &'static Meta, verdict: Verdict) -> PropertyResult {
    let replay = verdict.is_failure().then(|| {
        format!(
            "ipcspec check relay --only '{}' --seed 7 -- ./relay",
            meta.id
        )
    });
    PropertyResult {
        meta,
        verdict,
        seconds: Duration::from_millis(250),
        replay,
    }
}

/// One report with a pass, a fail (with a counterexample and output), a hang, a skip and an error.
pub fn mixed() -> Report {
    Report {
        profile: Profile::Relay,
        target: "./relay <&>".into(),
        variant: None,
        seed: 7,
        results: vec![
            result(&PASSING, Verdict::Pass),
            result(
                &FAILING,
                Verdict::Fail(Failure {
                    expected: "end-of-file after 3 bytes".into(),
                    observed: "the read blocked\nwith 0 bytes".into(),
                    counterexample: Some("[\n    \"abc\",\n]".into()),
                    threads: None,
                    output: vec!["relay: reading ```".into()],
                }),
            ),
            result(
                &HANGING,
                Verdict::Hang(Failure {
                    expected: "the relay to exit".into(),
                    observed: "nothing happened before the time bound ran out".into(),
                    threads: Some("1234 relay: S in read(0)".into()),
                    ..Failure::default()
                }),
            ),
            result(
                &SKIPPED,
                Verdict::Skip {
                    reason: "no pids cgroup here".into(),
                },
            ),
            result(
                &ERRORED,
                Verdict::Error {
                    message: "./relay: command not found".into(),
                },
            ),
        ],
        interrupted: false,
    }
}

/// `reports` rendered in `format` with `weights`, as text.
pub fn rendered(
    reports: &[Report],
    format: ipcspec::report::Format,
    weights: &ipcspec::report::Weights,
) -> String {
    let mut out = Vec::new();
    ipcspec::report::render_weighted(reports, format, weights, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}
