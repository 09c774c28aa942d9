//! Large transfers: a client that reads late gets the whole file, and one
//! that leaves mid-download costs the server nothing but that download.
//!
//! The large file (24–32 MiB) is more than loopback buffers hold, so the
//! server has to block in `write` (or `sendfile`) before it is done; the
//! client waits until it is seen still ([`Instance::still`]) before it
//! reads, or leaves.
//!
//! # References
//! - [send(2)](https://man7.org/linux/man-pages/man2/send.2.html), [sendfile(2)](https://man7.org/linux/man-pages/man2/sendfile.2.html): short writes
//! - [signal(7)](https://man7.org/linux/man-pages/man7/signal.7.html) `SIGPIPE`; [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html) `SO_LINGER`

use super::exchange::{expect_file, fetch, receive, send, Request};
use super::{tree, with_instance, Server};
use crate::spec::server::harness::Verdicts;
use crate::spec::{Ctx, Outcome};
use crate::target::connection::Patience;
use crate::target::server::Instance;
use crate::workload::http::Tree;

/// `http.transfer.slow-reader`.
pub fn slow_reader(server: &Server, ctx: &Ctx) -> Outcome {
    let tree = tree(server, ctx)?;
    let large = tree.large();
    with_instance(server, ctx, |instance| {
        let client = instance.connect(ctx)?;
        let request = Request::get(&large.url);
        send(instance, &client, &request, &[], ctx.timeout);
        // Reading starts once the server had to stop writing (or after the
        // bound, for one never seen still: reading then decides).
        instance.still(ctx.timeout);
        let response = receive(&client, &request, Patience::on(instance, ctx.timeout * 2));
        expect_file(instance, &request, &response, &large.bytes()).map_err(|f| {
            f.expecting(|e| format!("{e}, to a client that read only once the server had to wait"))
        })
    })
}

/// How a downloading client leaves.
#[derive(Clone, Copy, Debug)]
enum Leaving {
    /// After its first 64 KiB: half-closes, then closes with the rest
    /// unread. The FIN puts the server's side in CLOSE_WAIT, so the reset
    /// that follows makes its next write fail with `EPIPE`, which raises
    /// `SIGPIPE` unless the server ignores it (a reset alone fails the
    /// write with `ECONNRESET`, which raises nothing).
    AfterFirstBytes,
    /// Once the server blocks writing to it, with a reset (`SO_LINGER` 0).
    WhileServerBlocks,
}

/// `http.transfer.client-leaves`.
pub fn client_leaves(server: &Server, ctx: &Ctx) -> Outcome {
    let tree = tree(server, ctx)?;
    with_instance(server, ctx, |instance| {
        for leaving in [Leaving::AfterFirstBytes, Leaving::WhileServerBlocks] {
            leave_mid_download(instance, ctx, &tree, leaving)?;
        }
        Ok(())
    })
}

/// One client leaves in the middle of the large file, then another gets a small one.
fn leave_mid_download(
    instance: &mut Instance,
    ctx: &Ctx,
    tree: &Tree,
    leaving: Leaving,
) -> Outcome {
    let large = tree.large();
    let client = instance.connect(ctx)?;
    let request = Request::get(&large.url);
    send(instance, &client, &request, &[], ctx.timeout);
    match leaving {
        Leaving::AfterFirstBytes => {
            let _ = client.receive(64 << 10, Patience::on(instance, ctx.timeout));
            let _ = client.half_close();
            drop(client);
        }
        Leaving::WhileServerBlocks => {
            instance.still(ctx.timeout);
            client.reset();
        }
    }
    let how = match leaving {
        Leaving::AfterFirstBytes => "half-closed, then closed, after its first 64 KiB",
        Leaving::WhileServerBlocks => {
            "reset the connection while the server was blocked writing to it"
        }
    };
    let context = |e: &str| format!("{e}, after a client downloading {} {how}", large.url);
    instance.alive().map_err(|f| f.expecting(context))?;
    let texts = tree.texts();
    let next = texts[texts.len() / 2];
    let request = Request::get(&next.url);
    let response = fetch(instance, ctx, &request, &[])?;
    expect_file(instance, &request, &response, &next.bytes()).map_err(|f| f.expecting(context))
}
