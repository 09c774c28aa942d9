//! The replay line a failure prints reruns it with exactly the same
//! workload: parse `--only ID --seed S` back out of the human report, run
//! again, and the same counterexample comes out.

// Checks return the spine's `Outcome`, whose `Finding` carries the evidence.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use proptest::prelude::*;

use ipcspec::report::{self, Format};
use ipcspec::spec::{Ctx, Meta, Outcome, Profile, Property, Scope, Selection, Suite};

/// Fails on every input, and its input does not shrink: the counterexample
/// is the first value drawn, so it depends on the seed alone.
fn always_fails(_: &(), ctx: &Ctx) -> Outcome {
    ctx.forall(any::<u64>().no_shrink(), |n| {
        ipcspec::spec::ensure(false, || "nothing".into(), || format!("drew {n}"))
    })
}

fn passes(_: &(), _: &Ctx) -> Outcome {
    Ok(())
}

static PROPERTIES: &[Property<()>] = &[
    Property {
        meta: Meta {
            id: "relay.demo.passes",
            statement: "Always holds.",
            source: "Pipes Between Processes",
            profile: Profile::Relay,
            scope: Scope::All,
        },
        check: passes,
    },
    Property {
        meta: Meta {
            id: "relay.demo.fails",
            statement: "Never holds.",
            source: "Pipes Between Processes",
            profile: Profile::Relay,
            scope: Scope::All,
        },
        check: always_fails,
    },
];

fn suite() -> Suite {
    Suite::new(
        Profile::Relay,
        "./demo",
        None,
        None,
        PROPERTIES,
        Arc::new(()),
    )
}

fn counterexample(report: &report::Report) -> Option<String> {
    report
        .results
        .iter()
        .find_map(|r| r.verdict.failure()?.counterexample.clone())
}

#[test]
fn the_replay_line_reproduces_the_same_counterexample() {
    let ctx = Ctx {
        seed: 4242,
        cases: 4,
        ..Ctx::default()
    };
    let first = suite().run(
        &ctx,
        &Selection::default(),
        Some("ipcspec check relay -- ./demo"),
    );
    let mut text = Vec::new();
    report::render(std::slice::from_ref(&first), Format::Human, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay:"))
        .expect("a replay line");
    let words = shell_words::split(line).unwrap();
    let value = |flag: &str| words[words.iter().position(|w| w == flag).unwrap() + 1].clone();
    let (only, seed) = (value("--only"), value("--seed").parse::<u64>().unwrap());
    assert_eq!(only, "relay.demo.fails");

    let replayed = suite().run(
        &Ctx {
            seed,
            ..ctx.clone()
        },
        &Selection { only: vec![only] },
        None,
    );
    assert_eq!(
        replayed.results.len(),
        1,
        "only the failing property reruns"
    );
    assert_eq!(counterexample(&replayed), counterexample(&first));
    assert!(counterexample(&first).is_some());

    // The seed is what carries the workload: another seed draws another input.
    let other = suite().run(
        &Ctx {
            seed: seed + 1,
            ..ctx
        },
        &Selection::default(),
        None,
    );
    assert_ne!(counterexample(&other), counterexample(&first));
}
