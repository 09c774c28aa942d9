//! Findings assembled from what was observed. A hang report is built in
//! one place ([`Finding::hang`]) from what a wait observed
//! ([`crate::target::settle::Evidence`]): what was awaited, why it cannot
//! come or that the bound ran out, and where every thread sleeps. Callers
//! say in their profile's words why a stuck target cannot go on, and add
//! context through named builders (threads, what came next, what needed
//! it); they do not patch the text.

use super::{Failure, Finding};
use crate::target::observe::{self, ThreadState};
use crate::target::settle::{Ending, Evidence};

/// What a hang says when the bound ran out before anything was seen stuck.
pub const OUT_OF_TIME: &str = "nothing happened before the time bound ran out";

impl Finding {
    /// `awaited` did not come: when the wait found what it watched stuck,
    /// `stuck` says why nothing more can come (from the evidence); when the
    /// bound ran out, that it did ([`Finding::hung`]'s words). The threads
    /// are the evidence's.
    pub fn hang(
        awaited: impl Into<String>,
        evidence: &Evidence,
        stuck: impl FnOnce(&Evidence) -> String,
    ) -> Finding {
        let observed = match evidence.ending {
            Ending::Stuck => stuck(evidence),
            Ending::OutOfTime => OUT_OF_TIME.into(),
        };
        Finding::hang_observed(awaited, observed, evidence)
    }

    /// `awaited` did not come, and `observed` says what was seen instead,
    /// with the evidence's threads.
    pub fn hang_observed(
        awaited: impl Into<String>,
        observed: impl Into<String>,
        evidence: &Evidence,
    ) -> Finding {
        let threads = observe::describe(&evidence.threads);
        Finding::Hung(Failure {
            expected: awaited.into(),
            observed: observed.into(),
            threads: (!threads.is_empty()).then_some(threads),
            ..Failure::default()
        })
    }
}

/// Context a caller adds to a finding it did not assemble: each says what
/// it adds, and a finding without a failure (a broken target) is left alone.
impl Finding {
    /// Where the target's threads were when the violation was seen.
    pub fn with_threads(mut self, threads: &[ThreadState]) -> Finding {
        if let Some(failure) = self.failure_mut() {
            failure.threads = Some(observe::describe(threads));
        }
        self
    }

    /// What was seen next, appended to what was observed (`then` starts
    /// with its own separator: "; it exited: ...").
    pub fn observed_then(mut self, then: &str) -> Finding {
        if let Some(failure) = self.failure_mut() {
            failure.observed.push_str(then);
        }
        self
    }

    /// What was expected, restated by `context` (which property needed it, after what).
    pub fn expecting(mut self, context: impl FnOnce(&str) -> String) -> Finding {
        if let Some(failure) = self.failure_mut() {
            failure.expected = context(&failure.expected);
        }
        self
    }
}
