//! Broken web servers (`fixtures/http/`): each differs from the correct
//! `http_thread.c` by one `BUG_` macro, and fails exactly the rule it
//! breaks. And the two real web servers the course points to, each with the
//! rules it really breaks: they are checked here, as they are, and every
//! other rule must hold on them.

use ipcspec::spec::Profile;

use super::{Killer, Subject};

const fn http(variant: &'static str, argv: &'static [&'static str]) -> Subject {
    Subject::Command {
        profile: Profile::Http,
        variant: Some(variant),
        argv,
    }
}

/// The http killers.
pub fn killers() -> Vec<Killer> {
    vec![
        Killer {
            // Only files with a NUL byte are cut short, and only the body
            // property asks for binary files.
            name: "http/content-length-by-strlen",
            subject: http(
                "thread",
                &["fixtures/http/http_strlen_length.c", "{port}", "{dir}"],
            ),
            kills: &["http.get.exact-body"],
        },
        Killer {
            // A request sent a byte at a time is the split request at its
            // most: its first byte is all the first read returns.
            name: "http/parses-the-first-read-only",
            subject: http(
                "thread",
                &["fixtures/http/http_first_read.c", "{port}", "{dir}"],
            ),
            kills: &["http.request.split", "server.hostile.slow-client"],
        },
        Killer {
            name: "http/joins-the-url-to-the-root",
            subject: http(
                "thread",
                &["fixtures/http/http_traversal.c", "{port}", "{dir}"],
            ),
            kills: &["http.path.no-traversal"],
        },
        Killer {
            name: "http/answers-200-for-missing-files",
            subject: http(
                "thread",
                &["fixtures/http/http_no_404.c", "{port}", "{dir}"],
            ),
            kills: &["http.status.not-found"],
        },
        Killer {
            name: "http/lists-directories-that-have-an-index",
            subject: http(
                "thread",
                &["fixtures/http/http_no_index.c", "{port}", "{dir}"],
            ),
            kills: &["http.dir.index"],
        },
        Killer {
            name: "http/host-header-by-exact-case",
            subject: http(
                "thread",
                &["fixtures/http/http_host_case.c", "{port}", "{dir}"],
            ),
            kills: &["http.request.headers"],
        },
        Killer {
            name: "http/killed-by-sigpipe",
            subject: http(
                "thread",
                &["fixtures/http/http_sigpipe.c", "{port}", "{dir}"],
            ),
            kills: &["http.transfer.client-leaves"],
        },
        Killer {
            // Only a client that stops reading for a second meets the timeout.
            name: "http/drops-a-slow-reader",
            subject: http(
                "thread",
                &["fixtures/http/http_write_timeout.c", "{port}", "{dir}"],
            ),
            kills: &["http.transfer.slow-reader"],
        },
        Killer {
            // A "pool" that starts a thread per request, on top of its
            // workers: the server-model rules catch it over HTTP as over echo.
            name: "http/pool-spawns-per-request",
            subject: http(
                "pool:4",
                &["fixtures/http/http_pool_spawns.c", "{port}", "{dir}", "4"],
            ),
            kills: &["server.shape.pool-fixed-workers", "server.pool.bounded"],
        },
        Killer {
            // Python's http.server (thread per connection, ThreadingHTTPServer)
            // answers a request line it cannot parse before it knows the
            // version, so as HTTP/0.9 would: an HTML error page with no
            // status line (BaseHTTPRequestHandler.parse_request). And it
            // follows symlinks out of its directory, as its documentation
            // warns: the link to the secret serves the secret. Out of
            // descriptors, socketserver retries accept at once: it spins.
            name: "http/python-http-server",
            subject: http(
                "thread",
                &[
                    "python3",
                    "-S",
                    "-m",
                    "http.server",
                    "--bind",
                    "127.0.0.1",
                    "{port}",
                    "--directory",
                    "{dir}",
                ],
            ),
            kills: &[
                "http.request.malformed",
                "http.path.no-traversal",
                "server.hostile.emfile",
            ],
        },
        Killer {
            // busybox httpd forks a child per connection and ignores
            // SIGCHLD (its children are reaped by the kernel), so it is
            // `fork`. It sends the body after the head of a HEAD response
            // too; lists no directory (it answers 404 where there is no
            // index.html: listings are left to a CGI script); and, like
            // Python's, follows a symlink out of its root. (It refuses a
            // target that climbs above the root with 400, a refusal.)
            name: "http/busybox-httpd",
            subject: http(
                "fork",
                &[
                    "busybox",
                    "httpd",
                    "-f",
                    "-p",
                    "127.0.0.1:{port}",
                    "-h",
                    "{dir}",
                ],
            ),
            kills: &[
                "http.head.no-body",
                "http.dir.listing",
                "http.path.no-traversal",
            ],
        },
    ]
}
