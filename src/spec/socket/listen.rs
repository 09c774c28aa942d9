//! Properties of the listening socket: a new connection per `accept`, and
//! connections queued, with their data, before any `accept`.

use std::io::{self, Read, Write};

use proptest::collection::vec;
use proptest::prelude::*;
use socket2::SockRef;

use super::{io_finding, listener, read_to_eof, send_then_shut, Stream, StreamImpl};
use crate::reference::socket::describe;
use crate::spec::diff::same_bytes;
use crate::spec::{ensure, Ctx, Outcome};
use crate::workload::socket::payload;

/// `local ↔ peer` of a kernel stream, as people write addresses.
fn tuple(stream: &dyn Stream) -> Option<String> {
    let fd = stream.as_fd()?;
    let socket = SockRef::from(&fd);
    let addr = |a: io::Result<socket2::SockAddr>| {
        a.map(|a| describe(&a)).unwrap_or_else(|e| e.to_string())
    };
    Some(format!(
        "{} ↔ {}",
        addr(socket.local_addr()),
        addr(socket.peer_addr())
    ))
}

/// `socket.accept.distinct-connections`.
pub(super) fn distinct_connections(sockets: &dyn StreamImpl, ctx: &Ctx) -> Outcome {
    ctx.forall(2usize..6, |&k| {
        let listening = listener(sockets, ctx)?;
        let mut clients = (0..k)
            .map(|_| {
                listening
                    .connect()
                    .map_err(|e| io_finding("connect to return", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut accepted = Vec::new();
        for _ in 0..k {
            accepted.push(listening.accept().map_err(|e| io_finding("accept", e))?);
        }
        // Unix peers are unnamed: only TCP connections have a 5-tuple to compare.
        if sockets.kind() != "unix" {
            if let Some(tuples) = accepted
                .iter()
                .map(|c| tuple(&**c))
                .collect::<Option<std::collections::BTreeSet<String>>>()
            {
                ensure(
                    tuples.len() == k,
                    || format!("{k} accepted sockets with {k} distinct (address, port) pairs"),
                    || format!("{} distinct: {tuples:?}", tuples.len()),
                )?;
            }
        }
        // Each client tags its connection; each tag must come out of exactly one accepted socket.
        for (i, client) in clients.iter_mut().enumerate() {
            client
                .write_all(&[i as u8])
                .map_err(|e| io_finding("a client's tag", e))?;
        }
        let mut tags = Vec::new();
        for conn in &mut accepted {
            let mut tag = [0u8; 1];
            conn.read_exact(&mut tag)
                .map_err(|e| io_finding("a client's tag", e))?;
            tags.push(tag[0]);
        }
        tags.sort_unstable();
        ensure(
            tags == (0..k as u8).collect::<Vec<_>>(),
            || format!("each of the {k} clients' bytes on its own accepted socket"),
            || format!("tags read: {tags:?}"),
        )
    })
}

/// `socket.listen.backlog-holds-connections`.
pub(super) fn backlog_holds_connections(sockets: &dyn StreamImpl, ctx: &Ctx) -> Outcome {
    ctx.forall(
        vec(
            payload(1024).prop_filter("non-empty", |p| !p.is_empty()),
            2..6,
        ),
        |payloads| {
            let listening = listener(sockets, ctx)?;
            let mut clients = Vec::new();
            for p in payloads {
                // connect() returns and the data is sent before the server ever calls accept().
                let mut client = listening
                    .connect()
                    .map_err(|e| io_finding("connect to return", e))?;
                send_then_shut(&mut *client, p, &[], "sending before accept")?;
                clients.push(client);
            }
            for (i, p) in payloads.iter().enumerate() {
                let mut conn = listening.accept().map_err(|e| io_finding("accept", e))?;
                same_bytes(
                    &format!(
                        "connection {i} (in connect order) carrying what was sent before accept"
                    ),
                    p,
                    &read_to_eof(&mut *conn, "the queued bytes")?,
                )?;
            }
            Ok(())
        },
    )
}
