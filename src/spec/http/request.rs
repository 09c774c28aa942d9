//! How a request may arrive: in pieces, with headers in any case and
//! unknown ones, or not as HTTP at all. The files asked for are text
//! ([`crate::workload::http::Tree::texts`]): these rules are about requests.
//!
//! A split request waits, between pieces, until the server has taken the
//! piece before ([`super::exchange::send`]): a server that parses one
//! `read` as the whole request is then shown a piece, every time.
//!
//! # References
//! - [RFC 9112](https://www.rfc-editor.org/rfc/rfc9112) §2.2 message parsing, §3 request line, §5 field syntax
//! - [read(2)](https://man7.org/linux/man-pages/man2/read.2.html): a read returns what has arrived, possibly less than asked

use proptest::collection::vec;
use proptest::sample::select;

use super::exchange::{expect_file, fetch, Request};
use super::{forall_on, tree, with_instance, Server};
use crate::spec::{Ctx, Finding, Outcome};
use crate::workload::http::SiteFile;

/// `http.request.split`: one request byte by byte, then requests cut in
/// up to four random pieces of 1 to 16 bytes, then the rest (each pause
/// costs a look at `/proc/net/tcp`).
pub fn split(server: &Server, ctx: &Ctx) -> Outcome {
    let tree = tree(server, ctx)?;
    let files: Vec<SiteFile> = tree.texts().into_iter().cloned().collect();
    let bytewise = &files[files.len() / 2];
    with_instance(server, ctx, |instance| {
        let request = Request::get(&bytewise.url);
        let pieces = vec![1; request.bytes().len()];
        let response = fetch(instance, ctx, &request, &pieces)?;
        expect_file(instance, &request, &response, &bytewise.bytes())
            .map_err(|f| f.expecting(|e| format!("{e}, the request sent one byte at a time")))
    })?;
    let cuts = (select(files), vec(1usize..17, 1..5));
    forall_on(server, ctx, cuts, |instance, (file, pieces)| {
        let request = Request::get(&file.url);
        let response = fetch(instance, ctx, &request, pieces)?;
        expect_file(instance, &request, &response, &file.bytes()).map_err(|f| {
            f.expecting(|e| {
                format!("{e}, the request sent in pieces of {pieces:?} bytes, then the rest")
            })
        })
    })
}

/// `http.request.headers`: the fields a browser sends, names in odd case,
/// and unknown ones, some long.
pub fn headers(server: &Server, ctx: &Ctx) -> Outcome {
    let tree = tree(server, ctx)?;
    let files = tree.texts();
    let file = files[files.len() / 3];
    let noise = format!("{:x}", ctx.seed).repeat(64);
    let mut request = Request::get(&file.url);
    request.headers = vec![
        ("hOsT".into(), "localhost".into()),
        ("user-agent".into(), "ipcspec/1 (conformance check)".into()),
        ("ACCEPT".into(), "*/*".into()),
        ("X-Ipcspec-Noise".into(), noise),
        ("x-empty".into(), String::new()),
        ("CoNnEcTiOn".into(), "close".into()),
    ];
    with_instance(server, ctx, |instance| {
        let response = fetch(instance, ctx, &request, &[])?;
        expect_file(instance, &request, &response, &file.bytes()).map_err(|f| {
            f.expecting(|e| format!("{e}, with header names in mixed case and unknown headers"))
        })
    })
}

/// Request heads that no reading of RFC 9112 makes a request: each must
/// get a 4xx. (A bare `GET` line is left out: it reads as an HTTP/0.9
/// request, answered without a status line.)
const MALFORMED: &[(&str, &[u8])] = &[
    (
        "a line of words that is no request line",
        b"this is not an http request at all\r\n\r\n",
    ),
    (
        "control bytes where the method and target belong",
        b"\x16\x03\x01 \x02\x03 HTTP/1.1\r\n\r\n",
    ),
];

/// `http.request.malformed`: each malformed head gets a 4xx, and a file is
/// served after each.
pub fn malformed(server: &Server, ctx: &Ctx) -> Outcome {
    let tree = tree(server, ctx)?;
    let files = tree.texts();
    let witness = files[files.len() / 2];
    with_instance(server, ctx, |instance| {
        for (what, bytes) in MALFORMED {
            let request = Request::raw(what, bytes);
            let response = fetch(instance, ctx, &request, &[])?;
            let head = response.head_or_finding(instance, &request)?;
            if !(400..500).contains(&head.status) {
                return Err(Finding::violated(
                    format!(
                        "a 4xx status for {what}: {:?}",
                        String::from_utf8_lossy(bytes)
                    ),
                    head.status_line(),
                ));
            }
            let request = Request::get(&witness.url);
            let response = fetch(instance, ctx, &request, &[])?;
            expect_file(instance, &request, &response, &witness.bytes())
                .map_err(|f| f.expecting(|e| format!("{e}, after {what}")))?;
        }
        Ok(())
    })
}
