//! The `server` profile's verdicts on a running server
//! ([`crate::target::server::Instance`]): a server that exited is the
//! finding, whatever a property then saw ([`Verdicts::conclude`]); a refused
//! connection and a hang say what the server was doing.
//!
//! Launching, dialling and observing the server is the generic network
//! harness in [`crate::target::server`] and [`crate::target::connection`];
//! only what turns its observations into findings lives here.

use std::io;
use std::time::Duration;

use super::Server;
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::connection::{Client, End};
use crate::target::process::describe_status;
use crate::target::server::Instance;
use crate::target::settle::{Ending, Evidence};

/// Starts `server` on a fresh endpoint and waits, at most `ctx.timeout`,
/// until it listens.
pub fn start(server: &Server, ctx: &Ctx) -> Result<Instance, Finding> {
    Ok(Instance::launch(&server.command, ctx.timeout)?)
}

/// Why a stuck server cannot do what was awaited, in a hang report.
pub(super) const WENT_STILL: &str =
    "the server went still (every thread asleep; none read or wrote a byte when it woke) without doing it";

/// What a property concludes from a running server.
pub trait Verdicts {
    /// `Ok` while the server's first process runs; else a violation naming its exit.
    fn alive(&mut self) -> Outcome;

    /// The verdict on a property's `outcome`: if the server exited, that is
    /// the finding — whatever the property then saw follows from it — with
    /// what the property was waiting for as context; a pass on a server that
    /// exited is no pass.
    fn conclude(&mut self, outcome: Outcome) -> Outcome;

    /// A new client connection, within `ctx.timeout`; a refusal is a violation.
    fn connect(&mut self, ctx: &Ctx) -> Result<Client, Finding>;

    /// The finding for a connection that could not be made: the server died,
    /// or it did not accept in time.
    fn refused(&mut self, error: io::Error) -> Finding;

    /// `finding` with the server's last output lines attached.
    fn explain(&self, finding: Finding) -> Finding;

    /// A hang report for a reply that stopped coming: `awaited` never
    /// happened; whether the time bound ran out or the server was seen still
    /// first; where the server's threads sleep.
    fn hung_after(&self, awaited: impl Into<String>, end: &End) -> Finding;
}

impl Verdicts for Instance {
    fn alive(&mut self) -> Outcome {
        match self.target.try_status() {
            None => Ok(()),
            Some(status) => Err(Finding::violated(
                "the server keeps running",
                format!("it exited: {}", describe_status(status)),
            )
            .with_output(self.target.final_output(Duration::from_millis(200)))),
        }
    }

    fn conclude(&mut self, outcome: Outcome) -> Outcome {
        self.finish_exiting();
        let Err(died) = self.alive() else {
            return outcome.map_err(|f| self.explain(f));
        };
        let Finding::Violated(mut exit) = died else {
            return Err(died);
        };
        match outcome {
            Err(Finding::Broken(e)) => Err(Finding::Broken(e)),
            // Already the exit, with its context.
            Err(Finding::Violated(f)) if f.observed.starts_with("it exited: ") => {
                Err(Finding::Violated(f))
            }
            Err(Finding::Violated(awaited) | Finding::Hung(awaited)) => {
                exit.expected = format!("{} (while awaiting: {})", exit.expected, awaited.expected);
                Err(Finding::Violated(exit))
            }
            Ok(()) => {
                exit.expected.push_str(" after serving");
                Err(Finding::Violated(exit))
            }
        }
    }

    fn connect(&mut self, ctx: &Ctx) -> Result<Client, Finding> {
        self.alive()?;
        self.dial(ctx.timeout).map_err(|e| self.refused(e))
    }

    fn refused(&mut self, error: io::Error) -> Finding {
        if let Err(died) = self.alive() {
            return died;
        }
        self.explain(Finding::violated(
            format!("the server accepts connections ({})", self.endpoint.describe()),
            format!(
                "connect failed: {error} (a listen backlog smaller than the clients connecting at once, \
                 with none accepted meanwhile, shows this way)"
            ),
        ))
    }

    fn explain(&self, finding: Finding) -> Finding {
        finding.with_output(self.target.output())
    }

    fn hung_after(&self, awaited: impl Into<String>, end: &End) -> Finding {
        let ending = match end {
            End::Stalled => Ending::Stuck,
            _ => Ending::OutOfTime,
        };
        let evidence = Evidence::now(ending, self.processes());
        self.explain(Finding::hang(awaited, &evidence, |_| WENT_STILL.into()))
    }
}
