//! Properties of the `http` profile: a static-file web server in any
//! language, started as a command with `{port}` or `{socket}` and `{dir}` (a
//! document root the check generates from its seed,
//! [`crate::workload::http::Site`]), is checked black-box to serve it as the
//! lecture's appendix draws it (Appendix: A web server) and RFC 9112
//! requires of one request per connection.
//!
//! The subject is the server profile's [`Server`] speaking
//! [`Protocol::Http`]: each property starts its own instance, as the server
//! properties do ([`with_instance`], [`forall_on`]), and talks to it through
//! the check's HTTP client ([`exchange`]). A redirect to the slash form of a
//! directory is the way to reach it and is followed once.
//!
//! # References
//! - [RFC 9112](https://www.rfc-editor.org/rfc/rfc9112): HTTP/1.1 message syntax; [RFC 9110](https://www.rfc-editor.org/rfc/rfc9110): semantics and status codes

pub mod exchange;
mod files;
mod path;
mod request;
mod transfer;

use std::sync::Arc;

use super::server::{self, forall_on, with_instance, Protocol, Server, REFERENCE_VARIANTS};
use super::{Ctx, Finding, Meta, Profile, Property, References, Scope, Suite};
use crate::target::{CommandSpec, TargetError, UsageError};
use crate::workload::http::{Site, Tree};

const WEB: &str = "Appendix: A web server";

const fn meta(id: &'static str, statement: &'static str, source: &'static str) -> Meta {
    Meta {
        id,
        statement,
        source,
        profile: Profile::Http,
        scope: Scope::All,
    }
}

/// Every `http` property, in catalog order.
pub static PROPERTIES: &[Property<Server>] = &[
    Property {
        meta: meta(
            "http.get.exact-body",
            "A GET for any file of the document root is answered 200 with a Content-Length of its size and exactly its bytes, NUL bytes included.",
            WEB,
        ),
        check: files::get_exact_body,
    },
    Property {
        meta: meta(
            "http.head.no-body",
            "A HEAD for a file is answered with the headers a GET would get, its Content-Length included, and no body.",
            "beyond the lecture: RFC 9110 §9.3.2 HEAD",
        ),
        check: files::head_no_body,
    },
    Property {
        meta: meta(
            "http.status.not-found",
            "A GET for a path that names nothing is answered 404, and the server goes on serving.",
            "beyond the lecture: RFC 9110 §15.5.5 404 Not Found",
        ),
        check: files::not_found,
    },
    Property {
        meta: meta(
            "http.dir.index",
            "A GET for a directory that holds an index.html is answered with that file (after at most one redirect to the directory's name with a trailing slash).",
            WEB,
        ),
        check: files::dir_index,
    },
    Property {
        meta: meta(
            "http.dir.listing",
            "A GET for a directory without an index.html is answered 200 with a listing that links every entry.",
            WEB,
        ),
        check: files::dir_listing,
    },
    Property {
        meta: meta(
            "http.request.split",
            "A request that arrives in pieces, down to one byte each with pauses between them, is served the same as one sent whole.",
            "beyond the lecture: RFC 9112 §2.2 (a message is a byte stream), read(2) returns what has arrived",
        ),
        check: request::split,
    },
    Property {
        meta: meta(
            "http.request.headers",
            "Header names are matched in any case and unknown header fields are ignored: the file is served the same.",
            "beyond the lecture: RFC 9112 §5, RFC 9110 §5.1 (field names are case-insensitive)",
        ),
        check: request::headers,
    },
    Property {
        meta: meta(
            "http.request.malformed",
            "A request line that is not HTTP is answered with a 4xx status, and the server goes on serving other clients.",
            "beyond the lecture: RFC 9112 §3 request line, RFC 9110 §15.5.1 400 Bad Request",
        ),
        check: request::malformed,
    },
    Property {
        meta: meta(
            "http.path.no-traversal",
            "No request reaches outside the document root: `..` segments, percent-encoded dots and slashes, absolute-form targets and a symlink to a file beside the root are refused (400, 403 or 404) and never get that file's bytes.",
            "beyond the lecture: RFC 9110 §17.1 (path traversal), realpath(3)",
        ),
        check: path::no_traversal,
    },
    Property {
        meta: meta(
            "http.transfer.slow-reader",
            "A client that reads only after the server had to stop writing still gets a large file whole: the server copes with blocking and short writes.",
            WEB,
        ),
        check: transfer::slow_reader,
    },
    Property {
        meta: meta(
            "http.transfer.client-leaves",
            "A client that disconnects in the middle of a download neither kills nor wedges the server: it serves the next client.",
            "beyond the lecture: signal(7) SIGPIPE, send(2) MSG_NOSIGNAL",
        ),
        check: transfer::client_leaves,
    },
];

/// The document root a server serves, generated for the run's seed.
fn tree(server: &Server, ctx: &Ctx) -> Result<Arc<Tree>, Finding> {
    let Protocol::Http(site) = &server.protocol else {
        unreachable!("the http properties are only bound to http servers")
    };
    site_tree(site, ctx)
}

/// `site`'s tree for the run's seed; a root that cannot be written is the
/// checker's trouble, not the target's.
pub(crate) fn site_tree(site: &Site, ctx: &Ctx) -> Result<Arc<Tree>, Finding> {
    site.tree(ctx.seed)
        .map_err(|e| TargetError::setup("the generated document root", e).into())
}

/// The reference web servers' suites: every variant, over TCP and over Unix.
pub fn reference_suites(refs: &References) -> Vec<Suite> {
    server::references(Profile::Http, REFERENCE_VARIANTS, refs)
}

/// The reference web servers' suites for `variant`, over TCP and over Unix.
pub fn reference_suites_of(variant: &str, refs: &References) -> Result<Vec<Suite>, UsageError> {
    server::parse_variant(Profile::Http, variant)?;
    Ok(server::references(Profile::Http, &[variant], refs))
}

/// The suite for a web server command claiming `variant`: the `http.*`
/// properties, then the server model's ([`server::model`]: shape,
/// concurrency, process model, leaks, resilience, idling) over HTTP. Its
/// `{dir}` is filled with a fresh [`Site`], which lives as long as the suite.
pub fn target_suite(
    command: CommandSpec,
    variant: Option<&str>,
    _refs: &References,
) -> Result<Suite, TargetError> {
    if !command.uses("dir") {
        return Err(UsageError::NoDirPlaceholder {
            command: command.display(),
        }
        .into());
    }
    // Shown as given: the temp dir's name would change from run to run.
    let label = command.display();
    let site =
        Site::new().map_err(|e| TargetError::setup("a temp dir for the document root", e))?;
    let command = command.fill(&[("dir", &site.root().to_string_lossy())]);
    let mut suite = server::server_suite(
        Profile::Http,
        command,
        variant,
        Protocol::Http(Arc::new(site)),
        PROPERTIES.iter().chain(server::model()),
    )?;
    suite.label = label;
    Ok(suite)
}
