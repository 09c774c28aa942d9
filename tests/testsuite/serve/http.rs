//! `ipcspec serve http`: every claim of `reference::http`, checked from
//! outside on every variant with the test support's own client — exact
//! bytes and headers for GET and HEAD, HTTP/1.0 and 1.1, the directory
//! rules, 404/405/400, traversal refused (a secret file sits beside the
//! root), requests in pieces, slow readers, clients that leave — and the
//! command line refusing a bad `--files`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rstest::rstest;

use super::{binary_payload, launch, Server};
use crate::support::cli::{assert_one_line_error, ipcspec};
use crate::support::http::{self, dial, exchange, get, receive, send, Reading, Sending};

/// What the secret beside the root holds: no response may ever contain it.
const SECRET: &[u8] = b"TOP SECRET: beside the document root";

/// A document root (`docs/`) in a temp dir, with a secret file beside it.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn root(&self) -> PathBuf {
        self.dir.path().join("docs")
    }

    fn serve(&self, variant: &str, transport: &str) -> Server {
        let root = self.root().to_string_lossy().into_owned();
        launch(&["http", "--files", &root], variant, transport)
    }
}

/// The files served, by URL path, and the `Content-Type` each must have.
const FILES: &[(&str, &str)] = &[
    ("/a.txt", "text/plain; charset=utf-8"),
    ("/empty.txt", "text/plain; charset=utf-8"),
    ("/page.html", "text/html; charset=utf-8"),
    ("/style.css", "text/css"),
    ("/data.json", "application/json"),
    ("/image.PNG", "image/png"),
    ("/blob", "application/octet-stream"),
    ("/sub/deeper/nested.bin", "application/octet-stream"),
];

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    for sub in ["sub/deeper", "list/d", "trap"] {
        std::fs::create_dir_all(docs.join(sub)).unwrap();
    }
    for (i, (path, _)) in FILES.iter().enumerate() {
        let bytes = match *path {
            "/a.txt" => b"hello\0world".to_vec(),
            "/empty.txt" => Vec::new(),
            _ => binary_payload(1000 * i + (i << 16)),
        };
        std::fs::write(docs.join(&path[1..]), bytes).unwrap();
    }
    std::fs::write(docs.join("sub/index.html"), b"<p>sub</p>\n").unwrap();
    for name in ["x.txt", "odd name <&>.bin"] {
        std::fs::write(docs.join("list").join(name), b"listed").unwrap();
    }
    let secret = dir.path().join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    let link = |to: &Path, at: &str| std::os::unix::fs::symlink(to, docs.join(at)).unwrap();
    link(&secret, "escape");
    link(dir.path(), "outside");
    link(&secret, "trap/index.html");
    Site { dir }
}

fn read(site: &Site, path: &str) -> Vec<u8> {
    std::fs::read(site.root().join(path.trim_start_matches('/'))).unwrap()
}

/// The `href`s of a listing page, in order.
fn hrefs(page: &str) -> BTreeSet<String> {
    page.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

#[rstest]
fn http_get_and_head_serve_every_file_byte_exact(
    #[values("sequential", "fork-wait", "fork", "thread", "pool:2", "event-loop")] variant: &str,
    #[values("tcp4", "unix")] transport: &str,
) {
    let site = site();
    let server = site.serve(variant, transport);
    for &(path, content_type) in FILES {
        let bytes = read(&site, path);
        for version in ["HTTP/1.0", "HTTP/1.1"] {
            for method in ["GET", "HEAD"] {
                let request = format!("{method} {path} {version}\r\nHost: test\r\n\r\n");
                let seen = exchange(
                    &server.endpoint,
                    request.as_bytes(),
                    Sending::Whole,
                    Reading::Fast,
                )
                .unwrap();
                let context = format!("{variant}/{transport}: {method} {path} {version}");
                assert_eq!(seen.code, 200, "{context}: {seen:?}");
                assert_eq!(
                    seen.header("content-length"),
                    Some(bytes.len().to_string().as_str()),
                    "{context}"
                );
                assert_eq!(seen.header("content-type"), Some(content_type), "{context}");
                assert_eq!(seen.header("connection"), Some("close"), "{context}");
                let body: &[u8] = if method == "GET" { &bytes } else { b"" };
                assert!(
                    seen.body == body,
                    "{context}: {} bytes, expected {}",
                    seen.body.len(),
                    body.len()
                );
            }
        }
    }
}

#[rstest]
fn http_directories_redirect_then_serve_their_index_or_a_listing(
    #[values("sequential", "fork-wait", "fork", "thread", "pool:2", "event-loop")] variant: &str,
    #[values("tcp4", "unix")] transport: &str,
) {
    let site = site();
    let server = site.serve(variant, transport);
    let at = &server.endpoint;
    for dir in ["/sub", "/list", "/sub/deeper", "/list/d"] {
        let moved = get(at, dir).unwrap();
        assert_eq!(moved.code, 301, "{dir}: {moved:?}");
        assert_eq!(moved.header("location"), Some(format!("{dir}/").as_str()));
    }
    let index = get(at, "/sub/").unwrap();
    assert_eq!(
        (index.code, index.header("content-type")),
        (200, Some("text/html; charset=utf-8"))
    );
    assert_eq!(index.body, read(&site, "/sub/index.html"));
    let listing = get(at, "/list/").unwrap();
    assert_eq!(listing.code, 200, "{listing:?}");
    assert_eq!(
        hrefs(&listing.text()),
        BTreeSet::from(["d/", "odd%20name%20%3C&%3E.bin", "x.txt"].map(String::from)),
        "{}",
        listing.text()
    );
    // Every link of the root's listing leads somewhere: 200 or a redirect to a directory.
    let top = get(at, "/").unwrap();
    for href in hrefs(&top.text()) {
        let code = get(at, &format!("/{href}")).unwrap().code;
        assert!(matches!(code, 200 | 301 | 403), "/{href}: {code}");
    }
}

#[rstest]
fn http_errors_get_their_status_and_the_server_keeps_serving(
    #[values("sequential", "fork-wait", "fork", "thread", "pool:2", "event-loop")] variant: &str,
) {
    let site = site();
    let server = site.serve(variant, "tcp4");
    let long_header = format!(
        "GET /a.txt HTTP/1.1\r\nX-Long: {}\r\n\r\n",
        "y".repeat(20_000)
    );
    let cases: [(&[u8], u16); 9] = [
        (b"GET /missing HTTP/1.1\r\n\r\n", 404),
        (b"GET /sub/missing/ HTTP/1.0\r\n\r\n", 404),
        (b"GET /a.txt/ HTTP/1.1\r\n\r\n", 404),
        (b"POST /a.txt HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", 405),
        (b"DELETE /a.txt HTTP/1.1\r\n\r\n", 405),
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /a.txt HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"GET /a.txt HTTP/9.9\r\n\r\n", 400),
        (long_header.as_bytes(), 400),
    ];
    for (request, code) in cases {
        let seen = exchange(&server.endpoint, request, Sending::Whole, Reading::Fast).unwrap();
        let shown = String::from_utf8_lossy(&request[..request.len().min(40)]);
        assert_eq!(seen.code, code, "{shown:?}: {seen:?}");
        if code == 405 {
            assert_eq!(seen.header("allow"), Some("GET, HEAD"));
        }
        assert_eq!(
            seen.header("content-length"),
            Some(seen.body.len().to_string().as_str())
        );
        let after = get(&server.endpoint, "/a.txt").unwrap();
        assert_eq!((after.code, &after.body[..]), (200, &b"hello\0world"[..]));
    }
}

#[rstest]
fn http_nothing_outside_the_root_is_ever_served(
    #[values("sequential", "fork-wait", "fork", "thread", "pool:2", "event-loop")] variant: &str,
) {
    let site = site();
    let server = site.serve(variant, "tcp4");
    for target in [
        "/../secret",
        "/..",
        "/sub/../../secret",
        "/sub/../a.txt",
        "/%2e%2e/secret",
        "/%2E%2E/secret",
        "/.%2e/secret",
        "/%2e%2e%2fsecret",
        "/sub%2f..%2f..%2fsecret",
        "/sub/..%2F..%2Fsecret",
        "/escape",
        "/outside/secret",
        "/outside/",
        "/trap/",
        "/trap/index.html",
        "http://test/../secret",
        "http://test/%2e%2e/secret",
        "http://test/escape",
    ] {
        let seen = get(&server.endpoint, target).unwrap();
        assert_eq!(seen.code, 403, "{variant}: {target}: {}", seen.text());
        assert!(
            !seen.body.windows(SECRET.len()).any(|w| w == SECRET),
            "{variant}: {target} served the secret"
        );
    }
    // Absolute-form targets inside the root are served like origin-form ones.
    let absolute = get(&server.endpoint, "http://test/a.txt?q=1").unwrap();
    assert_eq!(
        (absolute.code, &absolute.body[..]),
        (200, &b"hello\0world"[..])
    );
}

#[rstest]
fn http_a_request_in_pieces_is_served_as_one_sent_whole(
    #[values("sequential", "fork-wait", "fork", "thread", "pool:2", "event-loop")] variant: &str,
    #[values("tcp4", "unix")] transport: &str,
) {
    let site = site();
    let server = site.serve(variant, transport);
    // Header names in any case, extra headers: all ignored but the request line.
    let request = b"GET /blob HTTP/1.1\r\nhOsT: test\r\nX-Extra: 1\r\nACCEPT: */*\r\n\r\n";
    let whole = exchange(&server.endpoint, request, Sending::Whole, Reading::Fast).unwrap();
    for piece in [1, 7] {
        let sending = Sending::Pieces(piece, Duration::from_millis(2));
        let pieces = exchange(&server.endpoint, request, sending, Reading::Fast).unwrap();
        assert_eq!(pieces.code, 200, "{variant}/{transport}: pieces of {piece}");
        assert!(pieces.body == whole.body && whole.body == read(&site, "/blob"));
    }
}

#[rstest]
fn http_a_slow_reader_gets_a_large_file_whole(
    #[values("sequential", "fork-wait", "fork", "thread", "pool:2", "event-loop")] variant: &str,
    #[values("tcp4", "unix")] transport: &str,
) {
    let site = site();
    let big = binary_payload(6 << 20);
    std::fs::write(site.root().join("big.bin"), &big).unwrap();
    let server = site.serve(variant, transport);
    let seen = exchange(
        &server.endpoint,
        b"GET /big.bin HTTP/1.0\r\n\r\n",
        Sending::Whole,
        Reading::Slow(64 << 10, Duration::from_millis(1)),
    )
    .unwrap();
    assert_eq!(seen.code, 200);
    assert!(
        seen.body == big,
        "{variant}/{transport}: {} bytes of {}",
        seen.body.len(),
        big.len()
    );
}

#[rstest]
fn http_a_client_that_leaves_ends_only_its_connection(
    #[values("sequential", "fork-wait", "fork", "thread", "pool:2", "event-loop")] variant: &str,
) {
    let site = site();
    std::fs::write(site.root().join("big.bin"), binary_payload(32 << 20)).unwrap();
    let mut server = site.serve(variant, "tcp4");
    // Mid-download: a few KiB read, then gone with the rest unread (a reset).
    let conn = dial(&server.endpoint).unwrap();
    send(&conn, b"GET /big.bin HTTP/1.1\r\n\r\n", Sending::Whole).unwrap();
    let mut some = [0u8; 4096];
    assert!(std::io::Read::read(&mut &conn, &mut some).unwrap() > 0);
    drop(conn);
    // Mid-request: half a head, then gone.
    let conn = dial(&server.endpoint).unwrap();
    send(&conn, b"GET /a.tx", Sending::Whole).unwrap();
    drop(conn);
    // Before the request: connected, half-closed, nothing said.
    let conn = dial(&server.endpoint).unwrap();
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(
        receive(&conn, Reading::Fast).is_err(),
        "no request, no response"
    );
    let after = get(&server.endpoint, "/a.txt").unwrap();
    assert_eq!((after.code, &after.body[..]), (200, &b"hello\0world"[..]));
    assert!(
        server.target.try_status().is_none(),
        "the server died: {:?}",
        server.target.output()
    );
}

#[rstest]
#[case::http_without_files(&["http"], "serve http needs --files DIR")]
#[case::echo_with_files(&["echo", "--files", "."], "--files is for serve http")]
#[case::missing_dir(&["http", "--files", "/no/such/dir"], "--files /no/such/dir: No such file")]
#[case::a_file(&["http", "--files", "Cargo.toml"], "--files Cargo.toml: not a directory")]
fn serve_http_refuses_a_bad_document_root(#[case] args: &[&str], #[case] wanted: &str) {
    let output = ipcspec()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("serve")
        .args(args)
        .args(["--variant", "thread", "--port", "0"])
        .output()
        .unwrap();
    assert_one_line_error(&output, wanted);
}

/// The client itself: a response parses into status, headers and body.
#[test]
fn http_test_client_parses_a_response() {
    let seen = http::parse(b"HTTP/1.1 301 Moved\r\nLocation: /d/\r\n\r\nbody".to_vec()).unwrap();
    assert_eq!(
        (seen.code, seen.header("LOCATION"), &seen.body[..]),
        (301, Some("/d/"), &b"body"[..])
    );
}
