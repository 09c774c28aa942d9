//! Path traversal: no request target reaches the secret the site keeps
//! beside the document root ([`crate::workload::http::Tree::secret`]).
//!
//! Each attempt must be refused — 400, 403 or 404: a server may take a
//! target that climbs above the root for a bad request (busybox httpd
//! does), or not take the absolute form at all (RFC 9112 §3.2.2 asks it
//! to, but refusing it reaches nothing) — and the secret's bytes must
//! appear nowhere in the response.
//!
//! # References
//! - [RFC 9110 §17.1](https://www.rfc-editor.org/rfc/rfc9110#section-17.1), [RFC 3986 §5.2.4](https://www.rfc-editor.org/rfc/rfc3986#section-5.2.4) (dot segments)
//! - [RFC 9112 §3.2](https://www.rfc-editor.org/rfc/rfc9112#section-3.2): origin-form and absolute-form targets
//! - [realpath(3)](https://man7.org/linux/man-pages/man3/realpath.3.html), [symlink(7)](https://man7.org/linux/man-pages/man7/symlink.7.html)

use super::exchange::{fetch, Request};
use super::{tree, with_instance, Server};
use crate::spec::{Ctx, Finding, Outcome};

/// The statuses that refuse a request without revealing anything.
const REFUSALS: [u16; 3] = [400, 403, 404];

/// How many of the secret's first bytes found in a response betray it.
const BETRAYS: usize = 64;

/// `http.path.no-traversal`.
pub fn no_traversal(server: &Server, ctx: &Ctx) -> Outcome {
    let tree = tree(server, ctx)?;
    let secret = tree.secret.bytes();
    let name = &tree.secret_name;
    let sub = &tree.dirs[1].url;
    let attempts = [
        format!("/../{name}"),
        format!("/%2e%2e/{name}"),
        format!("/%2E%2E/{name}"),
        format!("{sub}../../{name}"),
        format!("/..%2f{name}"),
        format!("{sub}..%2f..%2f{name}"),
        format!("http://localhost/../{name}"),
        tree.link.clone(),
    ];
    with_instance(server, ctx, |instance| {
        for target in &attempts {
            let what = if *target == tree.link {
                format!("GET {target} (a symlink inside the root to the secret beside it)")
            } else {
                format!("GET {target}")
            };
            let request = Request::get(target);
            let response = fetch(instance, ctx, &request, &[])?;
            let betrayed = response
                .bytes
                .windows(BETRAYS)
                .any(|w| w == &secret[..BETRAYS]);
            if betrayed {
                return Err(Finding::violated(
                    format!("{what} refused: the file beside the document root is never served"),
                    format!(
                        "the response carries the secret's bytes ({})",
                        response
                            .head
                            .as_ref()
                            .map_or("no parseable head".into(), |h| h.status_line())
                    ),
                ));
            }
            let head = response.head_or_finding(instance, &request)?;
            if !REFUSALS.contains(&head.status) {
                return Err(Finding::violated(
                    format!("{what} refused with 400, 403 or 404"),
                    head.status_line(),
                ));
            }
        }
        Ok(())
    })
}
