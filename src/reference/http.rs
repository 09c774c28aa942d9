//! The reference static-file web server's handler: one request per
//! connection, as the lecture's appendix draws it (Appendix: A web server) —
//! read a request, find the file, send it back.
//!
//! [`respond`] serves `GET` and `HEAD` for HTTP/1.0 and HTTP/1.1, always
//! with `Connection: close`. Guarantees:
//! - a regular file under the document root is sent byte for byte (NUL bytes
//!   included) with its exact `Content-Length` and a `Content-Type` from its
//!   extension; `HEAD` sends the same headers and no body;
//! - a directory is redirected (301) to its name with a trailing `/`; then its
//!   `index.html` is served, or else a listing that links every entry;
//! - nothing outside the root is ever served: a `..` segment (also
//!   percent-encoded, `%2e%2e`, or hidden behind an encoded `/`, `%2f`) is
//!   refused with 403 before the file system is touched, and a path that
//!   resolves through a symlink to outside the root — a directory's
//!   `index.html` included — is refused with 403;
//! - a missing path (or a file named as a directory, `/a.txt/`) is 404, a
//!   method other than `GET`/`HEAD` is 405, and a request that does not
//!   parse (or whose head exceeds [`MAX_HEAD`]) is 400;
//! - a request may arrive in any number of pieces: the head is read until
//!   its blank line; short writes are resumed (`send` with `MSG_NOSIGNAL`),
//!   so a slow reader gets every byte, and a client that vanishes ends its
//!   own connection only.
//!
//! Requests are parsed with `httparse` and paths percent-decoded with
//! `percent-encoding`; neither is done by hand.
//!
//! # References
//! - [RFC 9112](https://www.rfc-editor.org/rfc/rfc9112) (HTTP/1.1 message syntax), [RFC 9110](https://www.rfc-editor.org/rfc/rfc9110) (status codes)
//! - [send(2)](https://man7.org/linux/man-pages/man2/send.2.html) (`MSG_NOSIGNAL`)
//! - [realpath(3)](https://man7.org/linux/man-pages/man3/realpath.3.html): how symlinks are resolved before the root check

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use percent_encoding::{percent_decode, AsciiSet, CONTROLS};
use socket2::Socket;

use crate::target::net::send_all;

/// The longest request head (request line and headers) read before refusing it.
pub const MAX_HEAD: usize = 16 * 1024;

/// How long, after responding, the server keeps reading what the client
/// still sends, so that closing does not reset a response still in flight.
pub const LINGER: Duration = Duration::from_secs(1);

/// A document root, resolved once: every path served must resolve under it.
#[derive(Clone, Debug)]
pub struct DocumentRoot {
    canonical: PathBuf,
}

impl DocumentRoot {
    /// The root at `dir`, which must be a directory.
    pub fn new(dir: &Path) -> io::Result<DocumentRoot> {
        let canonical = dir.canonicalize()?;
        if !canonical.is_dir() {
            return Err(io::ErrorKind::NotADirectory.into());
        }
        Ok(DocumentRoot { canonical })
    }

    /// The directory served.
    pub fn path(&self) -> &Path {
        &self.canonical
    }
}

/// What a request asked for, once parsed and resolved.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// A regular file; `head` when the method was HEAD.
    File { path: PathBuf, head: bool },
    /// A directory listing (or its `index.html`, which is a `File`).
    Listing {
        dir: PathBuf,
        url: String,
        head: bool,
    },
    /// A redirect to `location` (a directory named without its trailing `/`).
    Moved { location: String, head: bool },
    /// An error status with a one-line reason for the body.
    Status { code: u16, reason: &'static str },
}

/// `respond()`—reads one request from `conn`, answers it from `root`, and
/// closes the sending side; an I/O error means the client went away.
pub fn respond(conn: &Socket, root: &DocumentRoot) -> io::Result<()> {
    let mut response = match read_head(conn)? {
        Some(head) => Response::to(&head, root)?,
        // The client closed before finishing its request: nobody to answer.
        None => return Ok(()),
    };
    send_all(conn, response.start())?;
    let mut buf = vec![0u8; FILE_CHUNK];
    loop {
        match response.read_body(&mut buf)? {
            0 => break,
            n => send_all(conn, &buf[..n])?,
        }
    }
    conn.shutdown(std::net::Shutdown::Write)?;
    linger(conn);
    Ok(())
}

/// Reads until the blank line that ends a request head; `None` if the
/// client closed first, an over-long head is returned as is (and refused).
fn read_head(conn: &Socket) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    loop {
        if head_complete(&head) {
            return Ok(Some(head));
        }
        match (&mut &*conn).read(&mut buf) {
            Ok(0) => return Ok(None),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// `head_complete()`—whether `bytes`, read so far, hold all of a request
/// head that will be read: up to its blank line, or more than [`MAX_HEAD`]
/// (then refused).
pub fn head_complete(bytes: &[u8]) -> bool {
    head_end(bytes).is_some() || bytes.len() > MAX_HEAD
}

/// Where the head ends: after `\r\n\r\n` (or a bare `\n\n`, which httparse accepts).
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    crlf.into_iter().chain(lf).min()
}

const fn status(code: u16, reason: &'static str) -> Answer {
    Answer::Status { code, reason }
}

/// Parses `head` and decides the answer.
fn answer(head: &[u8], root: &DocumentRoot) -> Answer {
    if head.len() > MAX_HEAD {
        return status(400, "request head too long");
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    let (method, target) = match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => match (request.method, request.path) {
            (Some(method), Some(target)) => (method, target),
            _ => return status(400, "incomplete request line"),
        },
        _ => return status(400, "malformed request"),
    };
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return status(405, "only GET and HEAD are served"),
    };
    let Some(path) = origin_path(target) else {
        return status(400, "unsupported request target");
    };
    let segments = match segments(path) {
        Ok(segments) => segments,
        Err(refusal) => return refusal,
    };
    let mut candidate = root.canonical.clone();
    candidate.extend(segments.iter().map(|s| OsStr::from_bytes(s)));
    let resolved = match within(root, &candidate) {
        Ok(resolved) => resolved,
        Err(refusal) => return refusal,
    };
    match fs::metadata(&resolved) {
        Ok(meta) if meta.is_dir() => {
            if !path.ends_with('/') {
                return Answer::Moved {
                    location: format!("{path}/"),
                    head: head_only,
                };
            }
            // The index is a path like any other: a symlink out of the root is refused.
            match within(root, &resolved.join("index.html")) {
                Ok(index) if index.is_file() => Answer::File {
                    path: index,
                    head: head_only,
                },
                Err(refusal @ Answer::Status { code: 403, .. }) => refusal,
                _ => Answer::Listing {
                    dir: resolved,
                    url: path.to_string(),
                    head: head_only,
                },
            }
        }
        // `/file/` names a directory that is not there, as `open("file/")` says (ENOTDIR).
        Ok(meta) if meta.is_file() && path.ends_with('/') => status(404, "not found"),
        Ok(meta) if meta.is_file() => Answer::File {
            path: resolved,
            head: head_only,
        },
        Ok(_) => status(403, "not a regular file"),
        Err(_) => status(404, "not found"),
    }
}

/// `candidate` with every symlink resolved, if that is under the root:
/// 403 if it resolves outside (or may not be looked at), 404 if it is missing.
fn within(root: &DocumentRoot, candidate: &Path) -> Result<PathBuf, Answer> {
    match candidate.canonicalize() {
        Ok(resolved) if resolved.starts_with(&root.canonical) => Ok(resolved),
        Ok(_) => Err(status(403, "outside the document root")),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Err(status(403, "forbidden")),
        Err(_) => Err(status(404, "not found")),
    }
}

/// The path of an origin-form (`/a/b?q`) or absolute-form
/// (`http://host/a/b`) request target, without its query.
fn origin_path(target: &str) -> Option<&str> {
    let path = match target.strip_prefix("http://") {
        Some(rest) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => target,
    };
    let path = path.split(['?', '#']).next()?;
    path.starts_with('/').then_some(path)
}

/// The decoded segments of `path`, empty ones and `.` dropped; a `..`, a
/// NUL byte or an encoded `/` hiding a segment is refused up front.
fn segments(path: &str) -> Result<Vec<Vec<u8>>, Answer> {
    let mut kept = Vec::new();
    for raw in path.split('/') {
        let decoded: Vec<u8> = percent_decode(raw.as_bytes()).collect();
        if decoded.contains(&0) {
            return Err(status(400, "NUL byte in path"));
        }
        // An encoded slash would make one segment two after decoding: whatever
        // it hides (`..%2f..`), it names no file a client may ask for.
        if decoded.contains(&b'/') {
            return Err(status(403, "encoded slash in path"));
        }
        match decoded.as_slice() {
            b"" | b"." => {}
            b".." => return Err(status(403, "`..` in path")),
            _ => kept.push(decoded),
        }
    }
    Ok(kept)
}

/// Characters escaped in a listing's links: controls, space and the
/// characters that would end or change an `href`.
const HREF: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\'')
    .add(b'`');

/// The `Content-Type` for a file named `path`, by extension.
fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(OsStr::to_str)
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("txt") => "text/plain; charset=utf-8",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("pdf") => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// The reason phrase of the status codes this server sends.
fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        301 => "Moved Permanently",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Internal Server Error",
    }
}

/// A response head: status line, the given headers, `Connection: close`.
fn response_head(code: u16, headers: &[(&str, &str)]) -> String {
    let mut head = format!("HTTP/1.1 {code} {}\r\n", reason_phrase(code));
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head + "Connection: close\r\n\r\n"
}

/// A response to one request: what is sent first (the head, and a body
/// held in memory), then the file it serves, if any, read piece by piece.
///
/// Built once and sent by any server: the blocking ones send it whole
/// ([`respond`]), the event loop a piece at a time as the socket takes it.
pub struct Response {
    start: Vec<u8>,
    /// The file's bytes still to send (no more than promised, should the
    /// file grow meanwhile), and how many the head promised.
    file: Option<(io::Take<File>, u64)>,
    /// Body bytes read from the file so far.
    read: u64,
}

impl Response {
    /// `to()`—the response to request `head` (read until
    /// [`head_complete`]) from `root`; an error is a listing or a file
    /// that could not be read, which ends the connection.
    pub fn to(head: &[u8], root: &DocumentRoot) -> io::Result<Response> {
        Response::of(&answer(head, root))
    }

    fn of(answer: &Answer) -> io::Result<Response> {
        let in_memory = |start: Vec<u8>| Response {
            start,
            file: None,
            read: 0,
        };
        Ok(match answer {
            Answer::File { path, head } => match File::open(path) {
                Ok(file) => {
                    let length = file.metadata()?.len();
                    let start = response_head(
                        200,
                        &[
                            ("Content-Type", content_type(path)),
                            ("Content-Length", &length.to_string()),
                        ],
                    )
                    .into_bytes();
                    Response {
                        start,
                        file: (!head).then(|| (file.take(length), length)),
                        read: 0,
                    }
                }
                Err(_) => in_memory(small(
                    403,
                    "text/plain; charset=utf-8",
                    b"forbidden\n",
                    false,
                )),
            },
            Answer::Listing { dir, url, head } => {
                let page = listing(dir, url)?;
                in_memory(small(
                    200,
                    "text/html; charset=utf-8",
                    page.as_bytes(),
                    *head,
                ))
            }
            Answer::Moved { location, head } => {
                let body = format!("moved to {location}\n");
                let length = body.len().to_string();
                let mut start = response_head(
                    301,
                    &[
                        ("Location", location),
                        ("Content-Type", "text/plain; charset=utf-8"),
                        ("Content-Length", &length),
                    ],
                )
                .into_bytes();
                if !*head {
                    start.extend_from_slice(body.as_bytes());
                }
                in_memory(start)
            }
            Answer::Status { code, reason } => {
                let body = format!("{code} {}: {reason}\n", reason_phrase(*code));
                let length = body.len().to_string();
                let mut headers = vec![
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", length.as_str()),
                ];
                if *code == 405 {
                    headers.push(("Allow", "GET, HEAD"));
                }
                let mut start = response_head(*code, &headers).into_bytes();
                start.extend_from_slice(body.as_bytes());
                in_memory(start)
            }
        })
    }

    /// What is sent first: the head, with any body held in memory.
    pub fn start(&self) -> &[u8] {
        &self.start
    }

    /// `read_body()`—the next piece of the file served into `buf`; `Ok(0)`
    /// once all of it was read (or there is none). A file that shrank under
    /// us is an `UnexpectedEof`: what the head promised cannot be sent.
    pub fn read_body(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some((bytes, promised)) = &mut self.file else {
            return Ok(0);
        };
        loop {
            match bytes.read(buf) {
                Ok(0) if self.read < *promised => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    self.read += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// A whole response whose body is in memory (none sent for `head`).
fn small(code: u16, content_type: &str, body: &[u8], head: bool) -> Vec<u8> {
    let length = body.len().to_string();
    let mut response = response_head(
        code,
        &[("Content-Type", content_type), ("Content-Length", &length)],
    )
    .into_bytes();
    if !head {
        response.extend_from_slice(body);
    }
    response
}

/// Bytes of a file read per `read` and sent per `send`: small enough for the
/// buffer to stay in the CPU's cache between the two, large enough for few
/// calls. (`sendfile(2)` copies less, yet on loopback, side by side in one
/// run of `cargo bench --bench http_serve`, this copy was as fast or faster:
/// the sender's copying overlaps the receiver's.)
pub const FILE_CHUNK: usize = 128 * 1024;

/// An HTML page linking every entry of `dir` (subdirectories with a
/// trailing `/`), in name order; `url` is the directory's own path.
fn listing(dir: &Path, url: &str) -> io::Result<String> {
    let mut names: Vec<(Vec<u8>, bool)> = fs::read_dir(dir)?
        .flatten()
        .map(|entry| {
            let is_dir = entry.path().is_dir();
            (entry.file_name().as_bytes().to_vec(), is_dir)
        })
        .collect();
    names.sort();
    let title = html_escape(url);
    let mut page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n<body><h1>Index of {title}</h1>\n<ul>\n"
    );
    for (name, is_dir) in names {
        let slash = if is_dir { "/" } else { "" };
        let href = percent_encoding::percent_encode(&name, HREF);
        let text = html_escape(&String::from_utf8_lossy(&name));
        let _ = writeln!(page, "<li><a href=\"{href}{slash}\">{text}{slash}</a></li>");
    }
    page.push_str("</ul></body></html>\n");
    Ok(page)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Reads and drops what the client still sends, for at most [`LINGER`],
/// so that closing with unread bytes does not reset the response in flight.
fn linger(conn: &Socket) {
    if conn.set_read_timeout(Some(LINGER)).is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    while matches!((&mut &*conn).read(&mut sink), Ok(1..)) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> (tempfile::TempDir, DocumentRoot) {
        let dir = tempfile::tempdir().unwrap();
        let docs = dir.path().join("docs");
        fs::create_dir_all(docs.join("sub/deeper")).unwrap();
        fs::write(docs.join("a.txt"), b"hello\0world").unwrap();
        fs::write(docs.join("sub/index.html"), b"<p>sub</p>").unwrap();
        fs::write(dir.path().join("secret"), b"top secret").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), docs.join("escape")).unwrap();
        fs::create_dir(docs.join("trap")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), docs.join("trap/index.html"))
            .unwrap();
        let root = DocumentRoot::new(&docs).unwrap();
        (dir, root)
    }

    fn code(answer: &Answer) -> u16 {
        match answer {
            Answer::File { .. } | Answer::Listing { .. } => 200,
            Answer::Moved { .. } => 301,
            Answer::Status { code, .. } => *code,
        }
    }

    fn get(target: &str, root: &DocumentRoot) -> Answer {
        answer(format!("GET {target} HTTP/1.0\r\n\r\n").as_bytes(), root)
    }

    #[test]
    fn files_directories_and_missing_paths_get_their_statuses() {
        let (_dir, root) = root();
        assert!(matches!(
            get("/a.txt", &root),
            Answer::File { head: false, .. }
        ));
        assert!(
            matches!(get("/sub/", &root), Answer::File { ref path, .. } if path.ends_with("index.html"))
        );
        assert!(
            matches!(get("/sub", &root), Answer::Moved { ref location, .. } if location == "/sub/")
        );
        assert!(matches!(get("/sub/deeper/", &root), Answer::Listing { .. }));
        assert_eq!(code(&get("/missing", &root)), 404);
        assert_eq!(code(&get("/a.txt/", &root)), 404);
        assert_eq!(code(&get("/a.txt?x=1", &root)), 200);
        assert_eq!(code(&get("http://example.org/a.txt", &root)), 200);
    }

    #[test]
    fn nothing_outside_the_root_is_served() {
        let (_dir, root) = root();
        for target in [
            "/../secret",
            "/sub/../../secret",
            "/%2e%2e/secret",
            "/%2E%2E%2Fsecret",
            "/sub%2f..%2f..%2fsecret",
            "/escape",
            "/trap/",
            "http://example.org/../secret",
        ] {
            let seen = get(target, &root);
            assert!(matches!(code(&seen), 403 | 404), "{target}: {seen:?}");
        }
    }

    #[test]
    fn bad_requests_and_other_methods_are_refused() {
        let (_dir, root) = root();
        assert_eq!(code(&answer(b"POST /a.txt HTTP/1.1\r\n\r\n", &root)), 405);
        assert_eq!(code(&answer(b"GARBAGE\r\n\r\n", &root)), 400);
        assert_eq!(code(&answer(b"GET a.txt HTTP/1.1\r\n\r\n", &root)), 400);
        assert_eq!(code(&answer(b"GET /a%00.txt HTTP/1.1\r\n\r\n", &root)), 400);
        assert!(matches!(
            answer(b"HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", &root),
            Answer::File { head: true, .. }
        ));
    }

    #[test]
    fn a_listing_links_every_entry() {
        let (_dir, root) = root();
        fs::write(root.path().join("sub/deeper/odd name <&>.bin"), b"").unwrap();
        let page = listing(&root.path().join("sub/deeper"), "/sub/deeper/").unwrap();
        assert!(page.contains("href=\"odd%20name%20%3C&%3E.bin\""), "{page}");
        assert!(page.contains("odd name &lt;&amp;&gt;.bin"), "{page}");
    }

    #[test]
    fn a_whole_exchange_over_a_socketpair() {
        let (_dir, root) = root();
        let (server, client) =
            Socket::pair(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
        let handle = std::thread::spawn(move || respond(&server, &root));
        // Sent in two pieces: the head is read until its blank line.
        send_all(&client, b"GET /a.txt HT").unwrap();
        send_all(&client, b"TP/1.1\r\nhOsT: x\r\nX-Extra: 1\r\n\r\n").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut response = Vec::new();
        (&client).read_to_end(&mut response).unwrap();
        handle.join().unwrap().unwrap();
        let text = String::from_utf8_lossy(&response);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Length: 11\r\n"), "{text}");
        assert!(response.ends_with(b"\r\n\r\nhello\0world"), "{text}");
    }
}
