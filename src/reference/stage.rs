//! The shell probe (`ipcspec stage ...`): pipeline stages that report, in a
//! JSON file the check reads, what they saw of the shell that started them.
//!
//! Every stage records at start which descriptors it has open, whether
//! `SIGPIPE` was ignored when it was exec'd ([`sys::sigpipe_ignored_at_exec`])
//! and whether it is blocked; then it does its job:
//! - `emit`: writes payload `--seed`/`--len` (or endlessly), with the
//!   `SIGPIPE` disposition it inherited, so a dead reader kills it as it would
//!   kill `yes`; it stops on `EPIPE` when the signal was ignored;
//! - `verify`: reads stdin to EOF and compares it with the payload;
//! - `meet`: announces itself in a directory and waits (bounded) until every
//!   peer of its line is there, which only stages running at once can do;
//! - `head`: reads `--bytes` bytes and exits, closing the pipe early.
//!
//! Reports are written to a temporary name and renamed, so a report that
//! exists is complete.
//!
//! # References
//! - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html) `/proc/self/fd`, `/proc/self/status` (`SigBlk`)

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::spec::diff::same_bytes;
use crate::spec::Finding;
use crate::sys::{self, SigpipeDisposition};
use crate::workload::relay::payload;

/// What a stage found about how it was started.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Probe {
    /// Its pid.
    pub pid: u32,
    /// Descriptors open at start (the listing's own descriptor excluded).
    pub fds: Vec<i32>,
    /// Whether `SIGPIPE` was ignored when it was exec'd.
    pub sigpipe_ignored: bool,
    /// Whether `SIGPIPE` was blocked.
    pub sigpipe_blocked: bool,
}

/// A stage's report.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StageReport {
    /// The stage: `emit`, `verify`, `meet`, `head`.
    pub stage: String,
    /// How it was started.
    pub probe: Probe,
    /// `verify`: bytes received.
    pub received: Option<usize>,
    /// `verify`: what differed, as expected / observed, when the bytes were wrong.
    pub mismatch: Option<(String, String)>,
    /// `meet`: whether every peer was seen while this stage ran.
    pub met: Option<bool>,
}

impl Probe {
    /// Looks at this process now.
    pub fn now() -> Probe {
        let listing = fs::read_dir("/proc/self/fd");
        let own = format!("/proc/{}/fd", std::process::id());
        let mut fds: Vec<i32> = listing
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| fs::read_link(e.path()).map_or(true, |l| l != Path::new(&own)))
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        fds.sort_unstable();
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        let blocked = status
            .lines()
            .find_map(|l| l.strip_prefix("SigBlk:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .unwrap_or(0);
        Probe {
            pid: std::process::id(),
            fds,
            sigpipe_ignored: sys::sigpipe_ignored_at_exec(),
            sigpipe_blocked: blocked & (1 << (libc::SIGPIPE - 1)) != 0,
        }
    }
}

/// Writes `report` to `path` atomically.
fn write_report(path: &Path, report: &StageReport) -> io::Result<()> {
    let partial = path.with_extension("partial");
    fs::write(
        &partial,
        serde_json::to_vec(report).map_err(io::Error::other)?,
    )?;
    fs::rename(partial, path)
}

/// Reads a report, if the stage wrote one.
pub fn read_report(path: &Path) -> Option<StageReport> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

/// `stage emit`: writes payload `seed` of `len` bytes, or repeats it forever.
pub fn emit(seed: u64, len: usize, endless: bool, report: Option<&Path>) -> io::Result<i32> {
    let probe = Probe::now();
    // Behave as a C program started this way would: die of SIGPIPE unless it was ignored.
    let disposition = if probe.sigpipe_ignored {
        SigpipeDisposition::Ignore
    } else {
        SigpipeDisposition::Default
    };
    sys::set_sigpipe(disposition).map_err(io::Error::from)?;
    if let Some(path) = report {
        write_report(
            path,
            &StageReport {
                stage: "emit".into(),
                probe,
                ..StageReport::default()
            },
        )?;
    }
    let bytes = payload(seed, len.max(usize::from(endless)));
    let mut out = io::stdout().lock();
    loop {
        // EPIPE ends the stage like `yes`: the caller sees exit status 1.
        if out.write_all(&bytes).and_then(|()| out.flush()).is_err() {
            return Ok(1);
        }
        if !endless {
            return Ok(0);
        }
    }
}

/// `stage verify`: reads stdin to EOF and reports whether it was payload `seed`/`len`.
pub fn verify(seed: u64, len: usize, report: &Path) -> io::Result<i32> {
    let probe = Probe::now();
    let mut received = Vec::new();
    io::stdin().lock().read_to_end(&mut received)?;
    let mismatch = match same_bytes("the last stage's stdin", &payload(seed, len), &received) {
        Err(Finding::Violated(f)) => Some((f.expected, f.observed)),
        _ => None,
    };
    let code = i32::from(mismatch.is_some());
    write_report(
        report,
        &StageReport {
            stage: "verify".into(),
            probe,
            received: Some(received.len()),
            mismatch,
            ..StageReport::default()
        },
    )?;
    Ok(code)
}

/// The file in `dir` by which stage `id` announces itself.
fn announcement(dir: &Path, id: usize) -> PathBuf {
    dir.join(format!("{id}.here"))
}

/// `stage meet`: announces stage `id` of `of` in `dir`, waits at most
/// `bound` until all are announced, and reports in `dir/ID.json`.
pub fn meet(id: usize, of: usize, dir: &Path, bound: Duration) -> io::Result<i32> {
    let probe = Probe::now();
    fs::write(announcement(dir, id), b"")?;
    let deadline = Instant::now() + bound;
    let met = loop {
        if (0..of).all(|peer| announcement(dir, peer).exists()) {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        // Pacing only: peers are observed by their files; the bound ends the wait.
        std::thread::sleep(Duration::from_millis(2));
    };
    write_report(
        &dir.join(format!("{id}.json")),
        &StageReport {
            stage: "meet".into(),
            probe,
            met: Some(met),
            ..StageReport::default()
        },
    )?;
    Ok(i32::from(!met))
}

/// `stage head`: reads `bytes` bytes of stdin (fewer at EOF), then exits.
pub fn head(bytes: u64, report: Option<&Path>) -> io::Result<i32> {
    let probe = Probe::now();
    io::copy(&mut io::stdin().lock().take(bytes), &mut io::sink())?;
    if let Some(path) = report {
        write_report(
            path,
            &StageReport {
                stage: "head".into(),
                probe,
                ..StageReport::default()
            },
        )?;
    }
    Ok(0)
}
