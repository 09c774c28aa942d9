//! `grade merge`: joining the `OUT` folders of `--shard K/N` runs into one.
//!
//! Each shard's `shard.json` ([`super::record`]) says which share of which
//! manifest it holds. The shards merge only if they are every share
//! `1..=N` of one split of one manifest graded with the same options, each
//! once, and each finished (its `shard.json` written, a `grade.json` for
//! every submission it lists). Their rows then go back to manifest order —
//! a shard takes every N-th submission ([`Shard::takes`]), so the order
//! interleaves them — and their report folders are copied into the merged
//! folder, which gets its own `shard.json` (1/1) and can be resumed or
//! merged like any run's.

use std::path::{Path, PathBuf};

use super::record::{self, ShardRecord, GRADE_FILE, SHARD_FILE};
use super::{Graded, Shard};

/// Why shards were not merged. Each message is one line.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A folder without a readable `shard.json`: not a finished run.
    #[error("{}: no readable {SHARD_FILE}: not the folder of a finished `grade` run", dir.display())]
    Unfinished {
        /// The folder.
        dir: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// Two folders graded different manifests, options or splits.
    #[error("{} and {} are not shares of one run: their manifests, options or shard counts differ", first.display(), other.display())]
    Mismatch {
        /// The first folder.
        first: PathBuf,
        /// The folder that differs from it.
        other: PathBuf,
    },
    /// Two folders hold the same share.
    #[error("{} and {} are both shard {}/{}", first.display(), other.display(), shard.index, shard.count)]
    Overlap {
        /// The first folder.
        first: PathBuf,
        /// The other.
        other: PathBuf,
        /// The share both hold.
        shard: Shard,
    },
    /// A share of the split is not among the folders.
    #[error("shard {}/{} is missing", shard.index, shard.count)]
    Missing {
        /// The share missing.
        shard: Shard,
    },
    /// A shard lacks a finished submission, or lists a wrong number of them.
    #[error("{}: {what}", dir.display())]
    Incomplete {
        /// The shard's folder.
        dir: PathBuf,
        /// What is missing.
        what: String,
    },
    /// Writing the merged folder failed.
    #[error("writing {}", path.display())]
    Write {
        /// What was being written.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Merges the shard folders `dirs` into `out` (made if need be, only once
/// the shards are known to fit); returns the rows in manifest order.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Vec<Graded>, MergeError> {
    let mut shards: Vec<(PathBuf, ShardRecord)> = Vec::new();
    for dir in dirs {
        let shard: ShardRecord =
            record::load(&dir.join(SHARD_FILE)).map_err(|source| MergeError::Unfinished {
                dir: dir.clone(),
                source,
            })?;
        if let Some((first, taken)) = shards.first() {
            if (&taken.manifest, taken.count) != (&shard.manifest, shard.count) {
                return Err(MergeError::Mismatch {
                    first: first.clone(),
                    other: dir.clone(),
                });
            }
        }
        if let Some((first, _)) = shards.iter().find(|(_, s)| s.index == shard.index) {
            return Err(MergeError::Overlap {
                first: first.clone(),
                other: dir.clone(),
                shard: shard.shard(),
            });
        }
        shards.push((dir.clone(), shard));
    }
    let Some(count) = shards.first().map(|(_, s)| s.count) else {
        return Ok(Vec::new());
    };
    shards.sort_by_key(|(_, s)| s.index);
    if let Some(index) = (1..=count).find(|&k| shards.get(k - 1).is_none_or(|(_, s)| s.index != k))
    {
        return Err(MergeError::Missing {
            shard: Shard { index, count },
        });
    }
    let total: usize = shards.iter().map(|(_, s)| s.submissions.len()).sum();
    for (dir, shard) in &shards {
        let wanted = (0..total).filter(|&i| shard.shard().takes(i)).count();
        if shard.submissions.len() != wanted {
            return Err(MergeError::Incomplete {
                dir: dir.clone(),
                what: format!(
                    "lists {} submissions where shard {}/{count} of {total} takes {wanted}",
                    shard.submissions.len(),
                    shard.index
                ),
            });
        }
    }
    let write = |path: &Path| {
        let path = path.to_path_buf();
        move |source| MergeError::Write { path, source }
    };
    std::fs::create_dir_all(out).map_err(write(out))?;
    let mut rows = Vec::with_capacity(total);
    for position in 0..total {
        let (dir, shard) = &shards[position % count];
        let name = &shard.submissions[position / count];
        let from = dir.join(name);
        let row: record::GradeRecord =
            record::load(&from.join(GRADE_FILE)).map_err(|e| MergeError::Incomplete {
                dir: dir.clone(),
                what: format!("{name} has no finished grade ({e})"),
            })?;
        let to = out.join(name);
        if !same_file(&from, &to) {
            copy_folder(&from, &to).map_err(write(&to))?;
        }
        rows.push(row.graded);
    }
    let merged = ShardRecord {
        manifest: shards[0].1.manifest.clone(),
        index: 1,
        count: 1,
        submissions: rows.iter().map(|g| g.name.clone()).collect(),
    };
    let path = out.join(SHARD_FILE);
    record::save(&path, &merged).map_err(write(&path))?;
    Ok(rows)
}

/// Whether `a` and `b` name one folder (merging into one of the shards).
fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// Copies the files of the flat folder `from` into `to`, made if need be.
fn copy_folder(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}
