//! What a client and the server under test say to each other, as far as the
//! server-model properties (shape, process model, concurrency, pool bound,
//! leaks, resilience, idling) need it: those rules hold whatever the server
//! serves, so they are written once over a [`Protocol`] and checked on echo
//! servers and web servers alike.
//!
//! Four moves are all the model properties make:
//! - [`Protocol::engage`]: the server takes up a client, which then stays
//!   connected and idle (the server waits to read from it);
//! - [`Protocol::send_errand`] and [`Protocol::answered`]: a whole request
//!   sent by a client that may have to wait its turn, and the check of its
//!   answer once the turn has come;
//! - [`Protocol::once`]: one whole exchange on a fresh connection;
//! - [`Protocol::at_once`]: many clients, each exchanging its own request.

use super::echo::{compare, echo_concurrently, echo_once, ping, Reading};
use super::harness::Verdicts;
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::connection::{Client, Patience};
use crate::target::server::Instance;
use crate::workload::server::Payload;

/// What the clients of a server say, and what answers them.
#[derive(Clone, Debug)]
pub enum Protocol {
    /// The echo profile: every byte a client sends comes back to it.
    Echo,
}

/// A whole request a client has sent, and the answer it is owed.
pub(super) enum Errand {
    /// The bytes sent, owed back.
    Echo(Vec<u8>),
}

impl Protocol {
    /// Makes the server take up `client` (`what`, in findings) and leaves
    /// it connected and idle: for echo, a round trip of `tag`.
    pub(super) fn engage(
        &self,
        instance: &Instance,
        client: &Client,
        ctx: &Ctx,
        what: &str,
        tag: &[u8],
    ) -> Outcome {
        match self {
            Protocol::Echo => ping(instance, client, ctx, what, tag),
        }
    }

    /// Sends a whole request on `client`, tagged `tag` so that no two
    /// clients' answers are alike; its answer may have to wait its turn.
    pub(super) fn send_errand(&self, client: &Client, tag: &[u8]) -> Result<Errand, Finding> {
        match self {
            Protocol::Echo => {
                client
                    .send(tag)
                    .map_err(|e| Finding::violated("a waiting client can send", e.to_string()))?;
                Ok(Errand::Echo(tag.to_vec()))
            }
        }
    }

    /// Whether any answer has reached `client` yet (without consuming it).
    pub(super) fn answer_arrived(&self, client: &Client) -> bool {
        client.pending() > 0
    }

    /// `client` (`whom`, in findings) gets the answer to `errand`, now that
    /// the clients ahead of it have left.
    pub(super) fn answered(
        &self,
        instance: &Instance,
        client: &Client,
        errand: &Errand,
        ctx: &Ctx,
        whom: &str,
    ) -> Outcome {
        match errand {
            Errand::Echo(bytes) => {
                let reply = client.receive(bytes.len(), Patience::on(instance, ctx.timeout));
                if reply.end.waited_in_vain() && reply.bytes.is_empty() {
                    return Err(instance.hung_after(
                        format!("the echo to {whom} once the clients before it had left"),
                        &reply.end,
                    ));
                }
                compare(&format!("the echo to {whom}"), bytes, &reply)
            }
        }
    }

    /// One whole exchange on a fresh connection, the client named `whom` in
    /// findings (empty: just "the echo"): for echo, `payload` sent in writes
    /// of `chunk` bytes, a half-close, and exactly its bytes back.
    pub(super) fn once(
        &self,
        instance: &mut Instance,
        ctx: &Ctx,
        whom: &str,
        payload: &Payload,
        chunk: usize,
    ) -> Outcome {
        match self {
            Protocol::Echo => {
                let what = if whom.is_empty() {
                    "the echo".to_string()
                } else {
                    format!("the echo to {whom}")
                };
                echo_once(instance, ctx, &what, &payload.bytes(), chunk)
            }
        }
    }

    /// One client per payload, connected at once, each exchanging its own
    /// request as `reading` says (see [`Reading`]).
    pub(super) fn at_once(
        &self,
        instance: &mut Instance,
        ctx: &Ctx,
        payloads: &[Payload],
        reading: Reading,
    ) -> Outcome {
        match self {
            Protocol::Echo => echo_concurrently(instance, ctx, payloads, reading),
        }
    }
}
