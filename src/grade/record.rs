//! What a grading run leaves in `OUT` for the runs after it: a
//! `grade.json` per submission and a `shard.json` per run.
//!
//! `OUT/NAME/grade.json` holds the submission's summary row and a
//! fingerprint of what produced it (its manifest entry and the check
//! options). It is written last, after every report of the submission, and
//! atomically (a temporary file [`rename(2)`]d into place), so a grade.json
//! that exists is a finished submission: `grade --resume` keeps it instead
//! of grading again when the fingerprint still matches.
//!
//! `OUT/shard.json`, written when a run finishes, says which share of which
//! manifest the folder holds and lists its submissions in manifest order:
//! what `grade merge` needs to refuse shards that do not fit together and to
//! put the rows back in manifest order.
//!
//! Fingerprints are 64-bit FNV-1a hashes written in hex: stable across
//! machines and builds, unlike std's `DefaultHasher`.
//!
//! [`rename(2)`]: https://man7.org/linux/man-pages/man2/rename.2.html

use std::io;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Graded, Shard};

/// The per-submission record's file name.
pub const GRADE_FILE: &str = "grade.json";
/// The per-run record's file name.
pub const SHARD_FILE: &str = "shard.json";

/// A fingerprint of `text`: 64-bit FNV-1a, 16 hex digits.
pub fn fingerprint(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// A finished submission: its row and what produced it.
#[derive(Debug, Serialize, Deserialize)]
pub struct GradeRecord {
    /// The fingerprint of the manifest entry and the check options.
    pub key: String,
    /// The summary row.
    pub graded: Graded,
}

/// A finished run: which share of which manifest, with which submissions.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// The fingerprint of the whole manifest and the check options.
    pub manifest: String,
    /// This share, from 1.
    pub index: usize,
    /// How many shares.
    pub count: usize,
    /// The submissions graded, in manifest order.
    pub submissions: Vec<String>,
}

impl ShardRecord {
    /// The share this record is.
    pub fn shard(&self) -> Shard {
        Shard {
            index: self.index,
            count: self.count,
        }
    }
}

/// Writes `value` as JSON to `path` atomically: to a temporary file beside
/// it, then renamed over it.
pub fn save(path: &Path, value: &impl Serialize) -> io::Result<()> {
    let temporary = path.with_extension("json.partial");
    std::fs::write(&temporary, serde_json::to_vec_pretty(value)?)?;
    std::fs::rename(&temporary, path)
}

/// The JSON document at `path`, or why not.
pub fn load<T: DeserializeOwned>(path: &Path) -> io::Result<T> {
    let text = std::fs::read(path)?;
    serde_json::from_slice(&text).map_err(io::Error::other)
}

/// The row kept in `dir`'s grade.json if it was produced with `key`.
pub fn finished(dir: &Path, key: &str) -> Option<Graded> {
    load::<GradeRecord>(&dir.join(GRADE_FILE))
        .ok()
        .filter(|record| record.key == key)
        .map(|record| record.graded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_fnv1a() {
        // The FNV-1a test vectors.
        assert_eq!(fingerprint(""), "cbf29ce484222325");
        assert_eq!(fingerprint("a"), "af63dc4c8601ec8c");
        assert_eq!(fingerprint("foobar"), "85944171f73967e8");
    }
}
