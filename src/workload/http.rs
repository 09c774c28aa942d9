//! A document root for the `http` check: [`Site`], a fresh temp directory
//! filled from the check's seed, so that a replay with `--seed` serves
//! exactly the same tree.
//!
//! Guarantees:
//! - names are drawn from `[a-z0-9_-]` with an extension, so that every
//!   URL path is the file's path as is (no percent-encoding needed) and
//!   never holds a `..`; no name collides within a directory;
//! - the tree is nested three levels deep; `.bin` files and those
//!   without an extension are binary, with NUL bytes, the others text
//!   (none), so that only the property about bodies meets a server that
//!   mistakes a file for a C string; sizes run from 0 bytes to one text
//!   file of 24–32 MiB; one directory has an `index.html`, the others get
//!   a listing;
//! - a secret file lies *beside* the root (never under it) and a symlink
//!   inside the root points at it, so that a server that follows links out
//!   of its root, or walks up with `..`, is caught serving its bytes;
//! - every file's bytes derive from its own seed ([`SiteFile::bytes`]):
//!   the check compares with what was generated, not with what is on disk.
//!
//! The directory lives as long as the [`Site`] (the suite that serves it).
//!
//! # References
//! - [symlink(7)](https://man7.org/linux/man-pages/man7/symlink.7.html): links are followed by `open`
//! - [RFC 3986 §3.3](https://www.rfc-editor.org/rfc/rfc3986#section-3.3): path segments

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::server::{Payload, Seeds};
use super::splitmix64;

/// The size range of the one large file: more than loopback TCP buffers hold.
fn large() -> std::ops::Range<usize> {
    let most = crate::target::net::more_than_buffers();
    most..most + most / 2
}

/// A generated document root and the secret beside it.
#[derive(Debug)]
pub struct Site {
    /// Holds `root/` and the secret; removed with the site.
    _dir: tempfile::TempDir,
    root: PathBuf,
    tree: Mutex<Option<Arc<Tree>>>,
}

/// What the root holds for one seed.
#[derive(Debug)]
pub struct Tree {
    /// The seed it was generated from.
    pub seed: u64,
    /// Every regular file under the root, the largest last.
    pub files: Vec<SiteFile>,
    /// Every directory, the root first.
    pub dirs: Vec<SiteDir>,
    /// The file beside the root that must never be served.
    pub secret: SiteFile,
    /// The secret's name, beside the root: `/../NAME` from the root.
    pub secret_name: String,
    /// The URL path of the symlink inside the root that points at the secret.
    pub link: String,
}

/// A regular file of the site.
#[derive(Clone)]
pub struct SiteFile {
    /// Its URL path: `/a/b.bin`.
    pub url: String,
    /// Its size.
    pub len: usize,
    /// Whether it is binary (NUL bytes may occur), not text.
    pub binary: bool,
    seed: u64,
}

impl SiteFile {
    /// Its bytes, regenerated from its seed.
    pub fn bytes(&self) -> Vec<u8> {
        Payload {
            len: self.len,
            seed: self.seed,
            nul: self.binary,
        }
        .bytes()
    }
}

/// `/a/b.bin (56146 bytes, binary)`: how a counterexample names it.
impl std::fmt::Debug for SiteFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.binary { "binary" } else { "text" };
        write!(f, "{} ({} bytes, {kind})", self.url, self.len)
    }
}

impl Tree {
    /// The largest file (text).
    pub fn large(&self) -> &SiteFile {
        &self.files[self.files.len() - 1]
    }

    /// The text files but the largest, `index.html` among them: what the
    /// properties that are not about bodies ask for.
    pub fn texts(&self) -> Vec<&SiteFile> {
        let large = &self.large().url;
        self.files
            .iter()
            .filter(|f| !f.binary && &f.url != large)
            .collect()
    }
}

/// A directory of the site.
#[derive(Clone, Debug)]
pub struct SiteDir {
    /// Its URL path, with the trailing slash: `/`, `/a/`.
    pub url: String,
    /// The names of its entries (the symlink to the secret excluded).
    pub entries: Vec<String>,
    /// Its `index.html`, an index into [`Tree::files`], if it has one.
    pub index: Option<usize>,
}

impl Site {
    /// An empty site in a fresh temp directory; [`Site::tree`] fills it.
    pub fn new() -> io::Result<Site> {
        let dir = tempfile::Builder::new().prefix("ipcspec-site-").tempdir()?;
        let root = dir.path().join("root");
        fs::create_dir(&root)?;
        Ok(Site {
            _dir: dir,
            root,
            tree: Mutex::new(None),
        })
    }

    /// The document root: what `{dir}` is filled with.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The tree for `seed`, generated on first use (and again, from
    /// scratch, if a run asks for another seed).
    pub fn tree(&self, seed: u64) -> io::Result<Arc<Tree>> {
        let mut tree = self.tree.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tree) = tree.as_ref().filter(|t| t.seed == seed) {
            return Ok(tree.clone());
        }
        let parent = self.root.parent().unwrap_or(&self.root);
        for entry in fs::read_dir(parent)? {
            let path = entry?.path();
            if path == self.root {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
        }
        fs::create_dir(&self.root)?;
        let fresh = Arc::new(generate(&self.root, seed)?);
        // A sandboxed server runs as another user, who must read it all.
        crate::target::sandbox::hand_over(parent)?;
        *tree = Some(fresh.clone());
        Ok(fresh)
    }
}

/// Random draws from a seed.
struct Draws(Seeds);

impl Draws {
    fn next(&mut self) -> u64 {
        splitmix64(self.0.next_seed())
    }

    /// A number in `range`.
    fn within(&mut self, range: std::ops::Range<usize>) -> usize {
        range.start + (self.next() % (range.end - range.start) as u64) as usize
    }

    /// A name of 3 to 12 characters of `[a-z0-9_-]`, then `extension`.
    fn name(&mut self, extension: &str) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_-";
        let len = self.within(3..13);
        let mut name: String = (0..len)
            .map(|_| ALPHABET[self.within(0..ALPHABET.len())] as char)
            .collect();
        name.push_str(extension);
        name
    }
}

/// Builds the tree under `root` (which exists and is empty).
fn generate(root: &Path, seed: u64) -> io::Result<Tree> {
    let mut draws = Draws(Seeds::new(seed));
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    // Directories: the root, three under it, one under the first and one
    // under that (three levels deep). The second has an index.html.
    let mut urls = vec!["/".to_string()];
    for parent in [0, 0, 0, 1, 4] {
        let url = format!("{}{}/", urls[parent], unique(&mut draws, &urls, ""));
        urls.push(url);
    }
    let mut seeds = Seeds::new(draws.next());
    for (i, url) in urls.iter().enumerate() {
        let path = root.join(&url[1..]);
        fs::create_dir_all(&path)?;
        let mut entries: Vec<String> = urls[1..]
            .iter()
            .filter_map(|u| u.strip_prefix(url.as_str()))
            .filter(|rest| rest.matches('/').count() == 1)
            .map(|rest| rest.trim_end_matches('/').to_string())
            .collect();
        // The root's last file is binary and large enough to hold NUL bytes.
        let sizes: &[(usize, Option<&str>)] = match i {
            0 => &[
                (0, None),
                (1, None),
                (draws.within(2..4096), None),
                (draws.within(64 << 10..1 << 20), Some(".bin")),
            ],
            _ => &[(draws.within(1..70_000), None), (draws.within(0..3), None)],
        };
        for &(len, forced) in sizes {
            let drawn = [".bin", ".txt", ".html", ""][draws.within(0..4)];
            let extension = forced.unwrap_or(drawn);
            let name = unique(&mut draws, &entries, extension);
            entries.push(name.clone());
            files.push(write(&path, url, &name, len, seeds.next_seed())?);
        }
        let index = (i == 2).then(|| {
            entries.push("index.html".into());
            files.len()
        });
        if index.is_some() {
            let len = draws.within(1..5000);
            files.push(write(&path, url, "index.html", len, seeds.next_seed())?);
        }
        dirs.push(SiteDir {
            url: url.clone(),
            entries,
            index,
        });
    }
    // The large file, in the deepest directory.
    let deepest = dirs.len() - 1;
    let name = unique(&mut draws, &dirs[deepest].entries, ".txt");
    let url = dirs[deepest].url.clone();
    dirs[deepest].entries.push(name.clone());
    let len = draws.within(large());
    files.push(write(
        &root.join(&url[1..]),
        &url,
        &name,
        len,
        seeds.next_seed(),
    )?);

    let beside = root.parent().unwrap_or(root);
    let secret_name = format!("secret-{}", draws.name(".txt"));
    let secret = write(beside, "/../", &secret_name, 4096, seeds.next_seed())?;
    let link_name = unique(&mut draws, &dirs[0].entries, ".txt");
    std::os::unix::fs::symlink(beside.join(&secret_name), root.join(&link_name))?;
    Ok(Tree {
        seed,
        files,
        dirs,
        secret,
        secret_name,
        link: format!("/{link_name}"),
    })
}

/// A name with `extension` not among `taken` (nor `index.html`).
fn unique(draws: &mut Draws, taken: &[String], extension: &str) -> String {
    loop {
        let name = draws.name(extension);
        let clash = taken.iter().any(|t| {
            t == &name || t.trim_end_matches('/') == name || t.ends_with(&format!("/{name}/"))
        });
        if !clash && name != "index.html" {
            return name;
        }
    }
}

/// Writes file `name` of `len` bytes from `seed` into `dir`, whose URL is `url`.
fn write(dir: &Path, url: &str, name: &str, len: usize, seed: u64) -> io::Result<SiteFile> {
    let file = SiteFile {
        url: format!("{url}{name}"),
        len,
        binary: name.ends_with(".bin") || !name.contains('.'),
        seed,
    };
    fs::write(dir.join(name), file.bytes())?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_tree_and_the_bytes_on_disk() {
        let site = Site::new().unwrap();
        let tree = site.tree(7).unwrap();
        let urls: Vec<_> = tree.files.iter().map(|f| f.url.clone()).collect();
        for file in &tree.files {
            let on_disk = fs::read(site.root().join(&file.url[1..])).unwrap();
            assert_eq!(on_disk.len(), file.len, "{}", file.url);
            assert!(on_disk == file.bytes(), "{}", file.url);
        }
        assert!(tree.files.iter().any(|f| f.len == 0));
        assert!(large().contains(&tree.files.last().unwrap().len));
        assert!(tree.files.iter().any(|f| f.bytes().contains(&0)));
        assert!(tree.texts().iter().all(|f| !f.bytes().contains(&0)));
        assert!(tree.texts().iter().any(|f| f.url.ends_with("/index.html")));
        assert!(!tree.large().binary);
        assert_eq!(tree.dirs.iter().filter(|d| d.index.is_some()).count(), 1);
        assert_eq!(
            tree.dirs.iter().map(|d| d.url.matches('/').count()).max(),
            Some(4)
        );
        let other = site.tree(8).unwrap();
        assert_ne!(
            urls,
            other
                .files
                .iter()
                .map(|f| f.url.clone())
                .collect::<Vec<_>>()
        );
        let again = site.tree(7).unwrap();
        assert_eq!(
            urls,
            again
                .files
                .iter()
                .map(|f| f.url.clone())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_secret_lies_beside_the_root_and_a_link_inside_points_at_it() {
        let site = Site::new().unwrap();
        let tree = site.tree(1).unwrap();
        let secret = site.root().parent().unwrap().join(&tree.secret_name);
        assert_eq!(fs::read(&secret).unwrap(), tree.secret.bytes());
        let link = site.root().join(&tree.link[1..]);
        assert_eq!(fs::read(link).unwrap(), tree.secret.bytes());
        assert!(!secret.starts_with(site.root()));
        for dir in &tree.dirs {
            let on_disk = fs::read_dir(site.root().join(&dir.url[1..]))
                .unwrap()
                .count();
            let link_here = usize::from(dir.url == "/");
            assert_eq!(dir.entries.len() + link_here, on_disk, "{}", dir.url);
        }
    }
}
