//! A small HTTP/1.x client for the tests and the throughput bench: sends a
//! request whole or in pieces, reads the response to EOF (as fast as it
//! comes or slowly) and parses its head with `httparse`. No curl: every byte
//! sent and received is the test's own.
//!
//! # References
//! - [RFC 9112](https://www.rfc-editor.org/rfc/rfc9112): message syntax, `Content-Length`

use std::io::{self, Read};
use std::time::Duration;

use ipcspec::target::net::{send_all, Endpoint};
use socket2::Socket;

/// The bound on connecting and on any single read or write.
pub const BOUND: Duration = Duration::from_secs(10);

/// How a request is sent.
#[derive(Clone, Copy, Debug)]
pub enum Sending {
    /// In one `send`.
    Whole,
    /// In pieces of this many bytes, with a pause after each (TCP pieces go
    /// out as segments of their own: the connection has Nagle off).
    Pieces(usize, Duration),
}

/// How the response is read.
#[derive(Clone, Copy, Debug)]
pub enum Reading {
    /// In large reads, as fast as it comes.
    Fast,
    /// At most this many bytes per read, with a pause after each: the
    /// server's sends fill the socket buffers and come back short.
    Slow(usize, Duration),
}

/// A parsed response: status, headers, and the body as received up to EOF.
#[derive(Debug)]
pub struct Response {
    pub code: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The value of header `name` (case-insensitive), if sent once or more.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text, for messages and listings.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A connection to `endpoint` whose reads and writes are bounded by [`BOUND`].
pub fn dial(endpoint: &Endpoint) -> io::Result<Socket> {
    let conn = endpoint.dial(BOUND)?;
    conn.set_read_timeout(Some(BOUND))?;
    conn.set_write_timeout(Some(BOUND))?;
    Ok(conn)
}

/// Sends `request` on `conn` as `sending` says.
pub fn send(conn: &Socket, request: &[u8], sending: Sending) -> io::Result<()> {
    match sending {
        Sending::Whole => send_all(conn, request),
        Sending::Pieces(size, pause) => {
            for piece in request.chunks(size.max(1)) {
                send_all(conn, piece)?;
                // Pacing only: the pieces must reach the server apart.
                std::thread::sleep(pause);
            }
            Ok(())
        }
    }
}

/// Reads `conn` to EOF as `reading` says and parses the response; an error
/// if the connection fails or the head does not parse.
pub fn receive(conn: &Socket, reading: Reading) -> io::Result<Response> {
    let mut raw = Vec::new();
    match reading {
        Reading::Fast => {
            (&mut &*conn).read_to_end(&mut raw)?;
        }
        Reading::Slow(size, pause) => {
            let mut buf = vec![0u8; size.max(1)];
            loop {
                match (&mut &*conn).read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => raw.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
                // Pacing only: a slow reader.
                std::thread::sleep(pause);
            }
        }
    }
    parse(raw)
}

/// `raw` (a whole response) split into its parsed head and its body.
pub fn parse(mut raw: Vec<u8>) -> io::Result<Response> {
    let Some((mut response, length)) = head(&raw)? else {
        return Err(not_http(&raw));
    };
    response.body = raw.split_off(length);
    Ok(response)
}

/// The head `raw` starts with, as a response without body, and its
/// length; `None` while it is incomplete, an error if it does not parse.
fn head(raw: &[u8]) -> io::Result<Option<(Response, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(raw) {
        Ok(httparse::Status::Complete(length)) => {
            let code = response.code.ok_or_else(|| not_http(raw))?;
            let headers = response
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            let body = Vec::new();
            Ok(Some((
                Response {
                    code,
                    headers,
                    body,
                },
                length,
            )))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(not_http(raw)),
    }
}

fn not_http(raw: &[u8]) -> io::Error {
    let start = String::from_utf8_lossy(&raw[..raw.len().min(200)]);
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not an HTTP response: {start:?}"),
    )
}

/// `GET target` with the body counted and dropped as it comes, so that the
/// client copies nothing (the throughput bench); the status and the body's
/// length.
pub fn download(endpoint: &Endpoint, target: &str) -> io::Result<(u16, u64)> {
    let conn = dial(endpoint)?;
    send_all(&conn, get_request(target).as_bytes())?;
    let mut buf = vec![0u8; 256 << 10];
    let mut start = Vec::new();
    let mut status = None;
    let mut body = 0u64;
    loop {
        let n = match (&mut &conn).read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if status.is_some() {
            body += n as u64;
            continue;
        }
        start.extend_from_slice(&buf[..n]);
        if let Some((response, length)) = head(&start)? {
            status = Some(response.code);
            body = (start.len() - length) as u64;
        }
    }
    let code = status.ok_or_else(|| not_http(&start))?;
    Ok((code, body))
}

/// One whole exchange: connects, sends `request` as `sending` says, reads
/// the response as `reading` says.
pub fn exchange(
    endpoint: &Endpoint,
    request: &[u8],
    sending: Sending,
    reading: Reading,
) -> io::Result<Response> {
    let conn = dial(endpoint)?;
    send(&conn, request, sending)?;
    receive(&conn, reading)
}

/// `GET target HTTP/1.1`, sent whole and read fast.
pub fn get(endpoint: &Endpoint, target: &str) -> io::Result<Response> {
    exchange(
        endpoint,
        get_request(target).as_bytes(),
        Sending::Whole,
        Reading::Fast,
    )
}

/// `GET target HTTP/1.1`, as a browser sends it on a connection of its own.
fn get_request(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
}
