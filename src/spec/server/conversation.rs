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
//!   sent by a client that may have to wait its turn (or, from
//!   [`Protocol::errand`], sent a byte at a time), and the check of its
//!   answer once the turn has come;
//! - [`Protocol::once`]: one whole exchange on a fresh connection;
//! - [`Protocol::at_once`]: many clients, each exchanging its own request.
//!
//! Over HTTP a client is taken up once the server accepted its connection
//! and a thread of it waits to read the request ([`Instance::taken_up`]):
//! the request is not sent, since the answer would end the connection. The
//! files asked for are the site's small text files, so that no property but
//! those about bodies meets a server that mistakes a file for a C string.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::echo::{compare, each_connected, echo_concurrently, echo_once, ping, Reading};
use super::harness::{Verdicts, WENT_STILL};
use crate::spec::http::exchange::{self, expect_file, Request};
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::connection::{Client, Patience};
use crate::target::server::{Idle, Instance};
use crate::target::settle::{self, Look};
use crate::workload::http::{Site, SiteFile};
use crate::workload::server::Payload;

/// What the clients of a server say, and what answers them.
#[derive(Clone, Debug)]
pub enum Protocol {
    /// The echo profile: every byte a client sends comes back to it.
    Echo,
    /// The http profile: one request per connection, for a file of the
    /// document root the server was started on (`{dir}`).
    Http(Arc<Site>),
}

/// A whole request a client has sent, and the answer it is owed.
pub(super) enum Errand {
    /// The bytes sent, owed back.
    Echo(Vec<u8>),
    /// A request for a file, owed its bytes.
    Http(Request, SiteFile),
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
            Protocol::Http(_) => {
                let taken = settle::wait(ctx.timeout, &mut Idle(instance), || {
                    if instance.taken_up(client) {
                        Look::Done(())
                    } else {
                        Look::Waiting
                    }
                });
                taken.map_err(|evidence| {
                    instance.explain(Finding::hang(
                        format!("the server taking up {what}: accepting its connection, and a thread waiting to read its request"),
                        &evidence,
                        |_| WENT_STILL.into(),
                    ))
                })
            }
        }
    }

    /// A whole request tagged `tag`, so that no two clients' answers are
    /// alike: the bytes to send, and the errand they make.
    pub(super) fn errand(&self, ctx: &Ctx, tag: &[u8]) -> Result<(Vec<u8>, Errand), Finding> {
        match self {
            Protocol::Echo => Ok((tag.to_vec(), Errand::Echo(tag.to_vec()))),
            Protocol::Http(site) => {
                let file = pick(site, ctx, key(tag))?;
                let request = Request::get(&file.url);
                Ok((request.bytes(), Errand::Http(request, file)))
            }
        }
    }

    /// Sends a whole request on `client`, tagged `tag` (see
    /// [`Protocol::errand`]); its answer may have to wait its turn.
    pub(super) fn send_errand(
        &self,
        client: &Client,
        ctx: &Ctx,
        tag: &[u8],
    ) -> Result<Errand, Finding> {
        let (bytes, errand) = self.errand(ctx, tag)?;
        client.send(&bytes).map_err(|e| {
            Finding::violated("a waiting client can send its request", e.to_string())
        })?;
        Ok(errand)
    }

    /// What a server's answer is called in findings.
    pub(super) fn answer(&self) -> &'static str {
        match self {
            Protocol::Echo => "echo",
            Protocol::Http(_) => "response",
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
            Errand::Http(request, file) => {
                let response =
                    exchange::receive(client, request, Patience::on(instance, ctx.timeout));
                expect_file(instance, request, &response, &file.bytes())
                    .map_err(|f| f.expecting(|e| format!("{e}, to {whom}")))
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
            Protocol::Http(site) => {
                let file = pick(site, ctx, payload.seed)?;
                let request = Request::get(&file.url);
                let response = exchange::fetch(instance, ctx, &request, &[])?;
                expect_file(instance, &request, &response, &file.bytes()).map_err(|f| {
                    if whom.is_empty() {
                        f
                    } else {
                        f.expecting(|e| format!("{e}, to {whom}"))
                    }
                })
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
            Protocol::Http(site) => fetch_concurrently(instance, ctx, site, payloads),
        }
    }
}

/// The file of `site` (for the check's seed) that `key` asks for: one of
/// its small text files.
fn pick(site: &Site, ctx: &Ctx, key: u64) -> Result<SiteFile, Finding> {
    let tree = crate::spec::http::site_tree(site, ctx)?;
    let texts = tree.texts();
    Ok(texts[(key % texts.len() as u64) as usize].clone())
}

/// A key for [`pick`] from a client's tag, the same in every run.
fn key(tag: &[u8]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    tag.hash(&mut hasher);
    hasher.finish()
}

/// One client per payload, connected as [`each_connected`] does, each
/// asking on its own thread for the file its payload picks, and each
/// getting exactly that file. A client waits out the whole bound: a
/// neighbour still sending may be what a sequential server waits on.
fn fetch_concurrently(
    instance: &mut Instance,
    ctx: &Ctx,
    site: &Site,
    payloads: &[Payload],
) -> Outcome {
    instance.alive()?;
    let files = payloads
        .iter()
        .map(|p| pick(site, ctx, p.seed))
        .collect::<Result<Vec<_>, _>>()?;
    let n = files.len();
    let answers = each_connected(instance, ctx, n, |i, client| {
        let client = client?;
        let request = Request::get(&files[i].url);
        client.send(&request.bytes())?;
        let patience = Patience::ignoring_stillness(instance, ctx.timeout);
        let response = exchange::receive(&client, &request, patience);
        Ok((request, response))
    });
    for (i, (file, answer)) in files.iter().zip(answers).enumerate() {
        let (request, response) = answer.map_err(|e| instance.refused(e))?;
        expect_file(instance, &request, &response, &file.bytes()).map_err(|f| {
            f.expecting(|e| format!("{e}, to client {} of {n} connected at once", i + 1))
        })?;
    }
    Ok(())
}
