//! What a GET or HEAD of the document root gets: files byte-exact, 404 for
//! what is missing, a directory's index or its listing.
//!
//! # References
//! - [RFC 9110](https://www.rfc-editor.org/rfc/rfc9110) §9.3.1 GET, §9.3.2 HEAD, §15.5.5 404
//! - [RFC 3986 §5.2](https://www.rfc-editor.org/rfc/rfc3986#section-5.2): resolving a listing's relative links

use std::collections::BTreeSet;

use percent_encoding::percent_decode_str;
use proptest::sample::select;

use super::exchange::{expect_file, fetch, fetch_following, Request};
use super::{forall_on, tree, with_instance, Server};
use crate::spec::{Ctx, Finding, Outcome};
use crate::workload::http::{SiteDir, SiteFile, Tree};

/// `http.get.exact-body`: every file, whatever the seed made of the tree,
/// from the empty one to the largest, each on a new connection.
pub fn get_exact_body(server: &Server, ctx: &Ctx) -> Outcome {
    let tree = tree(server, ctx)?;
    forall_on(server, ctx, select(tree.files.clone()), |instance, file| {
        let request = Request::get(&file.url);
        let response = fetch(instance, ctx, &request, &[])?;
        expect_file(instance, &request, &response, &file.bytes())
    })
}

/// `http.head.no-body`: the empty file, a small one and the largest.
pub fn head_no_body(server: &Server, ctx: &Ctx) -> Outcome {
    let tree = tree(server, ctx)?;
    with_instance(server, ctx, |instance| {
        for file in picks(&tree) {
            let request = Request::head(&file.url);
            let response = fetch(instance, ctx, &request, &[])?;
            expect_file(instance, &request, &response, &file.bytes())?;
        }
        Ok(())
    })
}

/// The empty file, the smallest non-empty text file and the largest.
fn picks(tree: &Tree) -> Vec<&SiteFile> {
    let empty = tree.files.iter().find(|f| f.len == 0);
    let small = tree
        .texts()
        .into_iter()
        .filter(|f| f.len > 0)
        .min_by_key(|f| f.len);
    empty
        .into_iter()
        .chain(small)
        .chain([tree.large()])
        .collect()
}

/// `http.status.not-found`: names missing at the root, in a nested
/// directory and under a missing directory; after each, a file is still served.
pub fn not_found(server: &Server, ctx: &Ctx) -> Outcome {
    let tree = tree(server, ctx)?;
    let nested = &tree.dirs[tree.dirs.len() - 1].url;
    let missing = [
        format!("/missing-{:x}.html", ctx.seed),
        format!("{nested}missing-{:x}", ctx.seed),
        format!("/missing-{:x}/file.txt", ctx.seed),
    ];
    let texts = tree.texts();
    let witness = texts[texts.len() / 2];
    with_instance(server, ctx, |instance| {
        for target in &missing {
            let request = Request::get(target);
            let response = fetch(instance, ctx, &request, &[])?;
            let head = response.head_or_finding(instance, &request)?;
            if head.status != 404 {
                return Err(Finding::violated(
                    format!("404 Not Found for {request}, a path that names nothing"),
                    head.status_line(),
                ));
            }
            let request = Request::get(&witness.url);
            let response = fetch(instance, ctx, &request, &[])?;
            expect_file(instance, &request, &response, &witness.bytes())
                .map_err(|f| f.expecting(|e| format!("{e}, after a 404 for {target}")))?;
        }
        Ok(())
    })
}

/// `http.dir.index`: each directory with an index.html, named without its
/// trailing slash (a redirect to it followed once) and with it.
pub fn dir_index(server: &Server, ctx: &Ctx) -> Outcome {
    let tree = tree(server, ctx)?;
    with_instance(server, ctx, |instance| {
        for dir in tree.dirs.iter().filter(|d| d.index.is_some()) {
            let index = &tree.files[dir.index.unwrap_or_default()];
            for target in [dir.url.trim_end_matches('/'), dir.url.as_str()] {
                let (response, request) = fetch_following(instance, ctx, &Request::get(target))?;
                expect_file(instance, &request, &response, &index.bytes())
                    .map_err(|f| f.expecting(|e| format!("{e} (the directory's index.html)")))?;
            }
        }
        Ok(())
    })
}

/// `http.dir.listing`: each directory without an index.html, the root included.
pub fn dir_listing(server: &Server, ctx: &Ctx) -> Outcome {
    let tree = tree(server, ctx)?;
    with_instance(server, ctx, |instance| {
        for dir in tree.dirs.iter().filter(|d| d.index.is_none()) {
            let target = match dir.url.as_str() {
                "/" => "/",
                url => url.trim_end_matches('/'),
            };
            let (response, request) = fetch_following(instance, ctx, &Request::get(target))?;
            let head = response.head_or_finding(instance, &request)?;
            if head.status != 200 {
                return Err(Finding::violated(
                    format!("200 OK and a listing for {request}, a directory without index.html"),
                    head.status_line(),
                ));
            }
            let linked = links(response.body(), &dir.url);
            let unlinked = unlinked(dir, &linked);
            if !unlinked.is_empty() {
                return Err(Finding::violated(
                    format!(
                        "a listing of {} linking each of its {} entries",
                        dir.url,
                        dir.entries.len()
                    ),
                    format!(
                        "no link to {} (links found: {})",
                        unlinked.join(", "),
                        describe(&linked)
                    ),
                ));
            }
        }
        Ok(())
    })
}

/// The entries of `dir` that no link names.
fn unlinked<'a>(dir: &'a SiteDir, linked: &BTreeSet<String>) -> Vec<&'a str> {
    dir.entries
        .iter()
        .map(String::as_str)
        .filter(|name| !linked.contains(*name))
        .collect()
}

fn describe(linked: &BTreeSet<String>) -> String {
    if linked.is_empty() {
        "none".into()
    } else {
        linked.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// The names of the entries of the directory at `base` that the `href`s
/// of `page` link to: percent-decoded, resolved against `base` (relative,
/// `./`, absolute path or absolute URL), with a trailing `/` dropped.
fn links(page: &[u8], base: &str) -> BTreeSet<String> {
    let page = String::from_utf8_lossy(page);
    let mut found = BTreeSet::new();
    let mut rest = page.as_ref();
    while let Some(at) = rest.to_ascii_lowercase().find("href=") {
        rest = &rest[at + 5..];
        let (quote, body) = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => (q, &rest[1..]),
            _ => continue,
        };
        let Some(end) = body.find(quote) else { break };
        let href = body[..end].replace("&amp;", "&");
        rest = &body[end..];
        let path = match href.split_once("://") {
            Some((_, after)) => after.find('/').map_or("/", |i| &after[i..]).to_string(),
            None => href.clone(),
        };
        let decoded = percent_decode_str(&path).decode_utf8_lossy().into_owned();
        let relative = match decoded.strip_prefix(base) {
            Some(inside) => inside.to_string(),
            None if decoded.starts_with('/') => continue,
            None => decoded.trim_start_matches("./").to_string(),
        };
        let name = relative.trim_end_matches('/');
        if !matches!(name, "" | "." | "..") && !name.contains('/') {
            found.insert(name.to_string());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_read_in_any_form_a_listing_writes_them() {
        let page = br#"<a href="a.bin">a</a> <A HREF='sub/'>s</A> <a href="/d/b%2Dc.txt">x</a>
            <a href="http://127.0.0.1:8000/d/e">e</a> <a href="./f">f</a> <a href="../">up</a>
            <a href="/elsewhere/g">g</a>"#;
        let found: Vec<_> = links(page, "/d/").into_iter().collect();
        assert_eq!(found, ["a.bin", "b-c.txt", "e", "f", "sub"]);
    }
}
