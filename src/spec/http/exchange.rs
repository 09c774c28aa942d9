//! The check's HTTP client: one request per connection to a server under
//! test ([`Instance`]), and what came back, judged against a file.
//!
//! Guarantees:
//! - a [`Request`] is sent whole or in pieces down to one byte; between two
//!   pieces the client waits until the server has taken the first (over TCP
//!   its socket shows nothing unread in `/proc/net/tcp`) or is still, so a
//!   server that parses a single `read` sees a piece, not the request —
//!   every time, not by luck of scheduling;
//! - a [`Response`] is read with the bounded reads of
//!   [`Client::receive`]: to EOF (every request asks for `Connection:
//!   close`), or until the server is provably still or gone, or the bound;
//!   never a sleep. Its head is parsed with `httparse`; the body is
//!   delimited by `Content-Length` (nothing for `HEAD`), or runs to EOF, and
//!   whatever follows it is kept apart as [`Response::excess`];
//! - [`expect_file`] is the one judgement of "this file came back": status,
//!   `Content-Length`, the bytes (first differing offset and sizes), nothing
//!   after them — or a hang saying what was awaited.
//!
//! # References
//! - [RFC 9112](https://www.rfc-editor.org/rfc/rfc9112): §2 message format, §6.3 message body length, §9.6 `Connection: close`
//! - [RFC 9110](https://www.rfc-editor.org/rfc/rfc9110): §5.1 field names are case-insensitive, §15.4.2 301

use std::fmt;
use std::ops::Range;
use std::time::{Duration, Instant};

use super::super::server::harness::Verdicts;
use crate::spec::diff::same_bytes;
use crate::spec::{Ctx, Finding, Outcome};
use crate::target::connection::{Client, End, Patience};
use crate::target::server::Instance;

/// How many bytes one bounded read asks for while reading to EOF.
const READ_AHEAD: usize = 1 << 20;

/// A request, as the check sends it.
#[derive(Clone, Debug)]
pub struct Request {
    /// The method (`GET`, `HEAD`, ...).
    pub method: String,
    /// The request target as sent (`/a/b`, `http://host/a`, `/%2e%2e/x`).
    pub target: String,
    /// The header fields, in order.
    pub headers: Vec<(String, String)>,
    /// Bytes sent instead of the request built from the fields: a
    /// malformed request, described by `target`.
    raw: Option<Vec<u8>>,
}

impl Request {
    /// `METHOD TARGET HTTP/1.1` with `Host` and `Connection: close`, so the
    /// server closes after one response.
    pub fn new(method: &str, target: &str) -> Request {
        Request {
            method: method.into(),
            target: target.into(),
            headers: vec![
                ("Host".into(), "localhost".into()),
                ("Connection".into(), "close".into()),
            ],
            raw: None,
        }
    }

    /// `GET TARGET`.
    pub fn get(target: &str) -> Request {
        Request::new("GET", target)
    }

    /// `HEAD TARGET`.
    pub fn head(target: &str) -> Request {
        Request::new("HEAD", target)
    }

    /// Exactly `bytes`, whatever they are; `what` names them in findings.
    pub fn raw(what: &str, bytes: &[u8]) -> Request {
        Request {
            method: String::new(),
            target: what.into(),
            headers: Vec::new(),
            raw: Some(bytes.to_vec()),
        }
    }

    /// The same request with one more header field.
    pub fn with_header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The same request to another target.
    pub fn to(&self, target: &str) -> Request {
        Request {
            target: target.into(),
            ..self.clone()
        }
    }

    /// The bytes on the wire.
    pub fn bytes(&self) -> Vec<u8> {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.target);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head.into_bytes()
    }

    /// Whether the response carries no body (RFC 9112 §6.3: `HEAD`).
    fn head_only(&self) -> bool {
        self.method.eq_ignore_ascii_case("HEAD")
    }
}

impl fmt::Display for Request {
    /// `GET /a/b`, or the description of a raw request.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.raw.is_some() {
            write!(f, "{}", self.target)
        } else {
            write!(f, "{} {}", self.method, self.target)
        }
    }
}

/// A parsed status line and header section.
#[derive(Clone, Debug)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The header fields, in order, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    /// The value of header `name`, looked up case-insensitively (the first, if repeated).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// `Content-Length`: `Ok(None)` when absent, an error naming the value
    /// when it is not one decimal number.
    pub fn content_length(&self) -> Result<Option<usize>, String> {
        let Some(value) = self.header("content-length") else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(value);
        text.trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("Content-Length: {text:?}"))
    }

    /// `301 Moved Permanently`.
    pub fn status_line(&self) -> String {
        format!("{} {}", self.status, self.reason)
    }
}

/// What a server sent back for one request.
#[derive(Debug)]
pub struct Response {
    /// Every byte received, in order.
    pub bytes: Vec<u8>,
    /// The head, once complete and parsed; `None` when none arrived or it
    /// does not parse ([`Response::bytes`] then shows what came).
    pub head: Option<Head>,
    /// Where the body lies in [`Response::bytes`]: `Content-Length` bytes
    /// after the head (fewer if fewer came; none for `HEAD`), or all the rest.
    body: Range<usize>,
    /// How reading ended.
    pub end: End,
}

impl Response {
    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.bytes[self.body.clone()]
    }

    /// What arrived after the body: nothing, from a correct server.
    pub fn excess(&self) -> &[u8] {
        &self.bytes[self.body.end..]
    }

    /// Splits `bytes` into head, body and excess for a response to a
    /// request whose response has no body when `head_only`.
    fn parse(bytes: Vec<u8>, end: End, head_only: bool) -> Response {
        let parsed = parse_head(&bytes);
        let (head, body) = match parsed {
            Some((head, len)) => {
                let body_len = match head.content_length() {
                    _ if head_only => 0,
                    Ok(Some(n)) => n,
                    _ => bytes.len() - len,
                };
                let end = (len + body_len).min(bytes.len());
                (Some(head), len..end)
            }
            None => (None, bytes.len()..bytes.len()),
        };
        Response {
            bytes,
            head,
            body,
            end,
        }
    }

    /// The head, or the finding for a response that never became one: a
    /// hang when nothing came and the server fell still or time ran out,
    /// a violation when it closed, failed, or sent what is not HTTP.
    pub fn head_or_finding(
        &self,
        instance: &Instance,
        request: &Request,
    ) -> Result<&Head, Finding> {
        if let Some(head) = &self.head {
            return Ok(head);
        }
        let expected = || format!("an HTTP response to {request}");
        if self.bytes.is_empty() {
            return Err(match &self.end {
                End::Eof => Finding::violated(
                    expected(),
                    "the server closed the connection without sending a byte",
                ),
                End::Failed(e) => Finding::violated(
                    expected(),
                    format!("the connection failed before a byte came: {e}"),
                ),
                end => instance.hung_after(format!("a response to {request}"), end),
            });
        }
        let shown = String::from_utf8_lossy(&self.bytes[..self.bytes.len().min(120)]).into_owned();
        if self.end.waited_in_vain() && !garbled(&self.bytes) {
            return Err(instance.hung_after(
                format!("the end of the response head to {request} (so far: {shown:?})"),
                &self.end,
            ));
        }
        Err(Finding::violated(
            format!(
                "{} (a status line and headers ending in a blank line)",
                expected()
            ),
            format!(
                "{} bytes that do not parse as one{}: {shown:?}",
                self.bytes.len(),
                ending(&self.end)
            ),
        ))
    }
}

/// The head at the start of `bytes` and its length, once complete and parseable.
fn parse_head(bytes: &[u8]) -> Option<(Head, usize)> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut fields);
    match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => Some((
            Head {
                status: response.code?,
                reason: response.reason.unwrap_or_default().to_string(),
                headers: response
                    .headers
                    .iter()
                    .map(|h| (h.name.to_string(), h.value.to_vec()))
                    .collect(),
            },
            len,
        )),
        _ => None,
    }
}

/// Whether `bytes` can no longer become a response head, whatever follows.
fn garbled(bytes: &[u8]) -> bool {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    httparse::Response::new(&mut fields).parse(bytes).is_err()
}

/// How reading ended, as a clause that follows what was received: EOF is
/// how every response here ends (`Connection: close`), so it says nothing.
fn ending(end: &End) -> String {
    match end {
        End::Eof => String::new(),
        end => end.then(),
    }
}

/// Sends `request` on `client`, in pieces of the sizes in `pieces` (the
/// rest whole): after each piece but the last, waits until the server took
/// it ([`Client::taken`]) or is still, all the pauses together at most
/// `bound`. A send that fails ends sending: a server may answer, and close,
/// before the end.
pub fn send(
    instance: &Instance,
    client: &Client,
    request: &Request,
    pieces: &[usize],
    bound: Duration,
) {
    let deadline = Instant::now() + bound;
    let bytes = request.bytes();
    let mut rest = &bytes[..];
    for &size in pieces {
        if rest.is_empty() {
            break;
        }
        let (piece, after) = rest.split_at(size.clamp(1, rest.len()));
        if client.send(piece).is_err() {
            return;
        }
        rest = after;
        if !rest.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            instance.wait_for(left, || client.taken().unwrap_or(false).then_some(()));
        }
    }
    if !rest.is_empty() {
        let _ = client.send(rest);
    }
}

/// Reads the response to `request` from `client` until EOF, the server is
/// still or gone with nothing more coming, or `patience` runs out.
pub fn receive(client: &Client, request: &Request, patience: Patience<'_>) -> Response {
    let mut bytes = Vec::new();
    let end = loop {
        let reply = client.receive(READ_AHEAD, patience);
        bytes.extend_from_slice(&reply.bytes);
        if !matches!(reply.end, End::Complete) {
            break reply.end;
        }
    };
    Response::parse(bytes, end, request.head_only())
}

/// One request on a new connection, sent in `pieces` (empty: whole), and its response.
pub fn fetch(
    instance: &mut Instance,
    ctx: &Ctx,
    request: &Request,
    pieces: &[usize],
) -> Result<Response, Finding> {
    let client = instance.connect(ctx)?;
    send(instance, &client, request, pieces, ctx.timeout);
    Ok(receive(
        &client,
        request,
        Patience::on(instance, ctx.timeout),
    ))
}

/// Like [`fetch`] (sent whole), following one redirect to the slash form of
/// a directory (`/d` → `/d/`, RFC 9110 §15.4.2): the way to reach it. The
/// response and the request it answers.
pub fn fetch_following(
    instance: &mut Instance,
    ctx: &Ctx,
    request: &Request,
) -> Result<(Response, Request), Finding> {
    let response = fetch(instance, ctx, request, &[])?;
    let slash = format!("{}/", request.target);
    let moved = response.head.as_ref().is_some_and(|h| {
        matches!(h.status, 301 | 302 | 307 | 308)
            && h.header("location")
                .is_some_and(|l| location_path(l) == Some(slash.as_str()))
    });
    if !moved {
        return Ok((response, request.clone()));
    }
    let again = request.to(&slash);
    Ok((fetch(instance, ctx, &again, &[])?, again))
}

/// The path of a `Location` value: itself if it starts with `/`, else
/// what follows the authority of an absolute URL.
fn location_path(location: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(location).ok()?.trim();
    if text.starts_with('/') {
        return Some(text);
    }
    let after_scheme = text.split_once("://")?.1;
    after_scheme.find('/').map(|at| &after_scheme[at..])
}

/// Whether `response` to `request` is `expected`'s bytes: status 200, a
/// `Content-Length` of its size, the body byte-exact, nothing after it.
pub fn expect_file(
    instance: &Instance,
    request: &Request,
    response: &Response,
    expected: &[u8],
) -> Outcome {
    let head = response.head_or_finding(instance, request)?;
    if head.status != 200 {
        return Err(Finding::violated(
            format!("200 OK for {request}"),
            format!("{}{}", head.status_line(), ending(&response.end)),
        ));
    }
    let size = expected.len();
    match head.content_length() {
        Ok(Some(n)) if n == size => {}
        Ok(Some(n)) => {
            return Err(Finding::violated(
                format!("Content-Length: {size} for {request} (the file's size)"),
                format!("Content-Length: {n}"),
            ))
        }
        Ok(None) => {
            return Err(Finding::violated(
                format!("Content-Length: {size} for {request}"),
                "no Content-Length header",
            ))
        }
        Err(bad) => {
            return Err(Finding::violated(
                format!("Content-Length: {size} for {request}"),
                bad,
            ))
        }
    }
    let body = response.body();
    if request.head_only() {
        if !response.excess().is_empty() {
            return Err(Finding::violated(
                format!("no body after the head of the response to {request}"),
                format!("{} bytes after the head", response.excess().len()),
            ));
        }
        return Ok(());
    }
    if body.len() < size && response.end.waited_in_vain() {
        return Err(instance.hung_after(
            format!(
                "the rest of the body of {request}: {} of {size} bytes arrived",
                body.len()
            ),
            &response.end,
        ));
    }
    same_bytes(&format!("the body of {request}"), expected, body)
        .map_err(|f| f.observed_then(&ending(&response.end)))?;
    let excess = response.excess();
    if !excess.is_empty() {
        return Err(Finding::violated(
            format!("exactly the {size} bytes of Content-Length for {request}, then the end of the response"),
            format!(
                "{} more bytes after them: {:?}",
                excess.len(),
                String::from_utf8_lossy(&excess[..excess.len().min(40)])
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(bytes: &[u8], head_only: bool) -> Response {
        Response::parse(bytes.to_vec(), End::Eof, head_only)
    }

    #[test]
    fn the_body_is_delimited_by_content_length_and_the_rest_is_excess() {
        let r = parsed(b"HTTP/1.0 200 OK\r\nconTent-LENGTH: 3\r\n\r\na\0bcd", false);
        let head = r.head.as_ref().unwrap();
        assert_eq!((head.status, head.content_length()), (200, Ok(Some(3))));
        assert_eq!((r.body(), r.excess()), (&b"a\0b"[..], &b"cd"[..]));
    }

    #[test]
    fn without_content_length_the_body_runs_to_eof_and_head_has_none() {
        let r = parsed(b"HTTP/1.1 200 OK\r\n\r\nabc", false);
        assert_eq!((r.body(), r.excess()), (&b"abc"[..], &b""[..]));
        let r = parsed(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", true);
        assert_eq!((r.body(), r.excess()), (&b""[..], &b"abc"[..]));
    }

    #[test]
    fn an_incomplete_head_is_no_head_and_garbage_is_garbled() {
        assert!(parsed(b"HTTP/1.1 200 OK\r\nA: b\r\n", false).head.is_none());
        assert!(!garbled(b"HTTP/1.1 200 OK\r\n"));
        assert!(garbled(b"hello\0"));
    }

    #[test]
    fn requests_ask_for_close_and_pieces_cover_them() {
        let r = Request::get("/a b").with_header("X-Extra", "1");
        let text = String::from_utf8(r.bytes()).unwrap();
        assert!(text.starts_with("GET /a b HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"));
        assert!(text.ends_with("X-Extra: 1\r\n\r\n"));
        assert_eq!(
            Request::raw("a bare line", b"GET\r\n\r\n").to_string(),
            "a bare line"
        );
    }

    #[test]
    fn locations_give_their_path() {
        assert_eq!(location_path(b"/d/"), Some("/d/"));
        assert_eq!(location_path(b"http://127.0.0.1:80/d/"), Some("/d/"));
        assert_eq!(location_path(b"d/"), None);
    }
}
