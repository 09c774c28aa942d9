//! The shell probe (`ipcspec stage ...`): pipeline stages that report, in a
//! JSON file the check reads, what they saw of the shell that started them.
//!
//! Every stage records at start its pid, its parent and the parent's
//! program, which descriptors it has open and what its stdin and stdout are
//! (`pipe:[inode]`, `socket:[inode]`, a path), whether `SIGPIPE` was ignored
//! when it was exec'd ([`sys::sigpipe_ignored_at_exec`]) and whether it is
//! blocked; then it does its job:
//! - `emit`: writes payload `--seed`/`--len` (or endlessly), with the
//!   `SIGPIPE` disposition it inherited, so a dead reader kills it as it would
//!   kill `yes`; it stops on `EPIPE` when the signal was ignored. With
//!   `--gate FIFO` it first waits until the check opens and closes the FIFO,
//!   so the check can look at a line whose stages have all started and none
//!   has moved a byte. Its report says at the end how it ended;
//! - `copy`: copies stdin to stdout, as `cat` does;
//! - `verify`: reads stdin to EOF and compares it with the payload;
//! - `meet`: announces itself in a directory and waits (bounded) until every
//!   peer of its line is there, which only stages running at once can do;
//! - `head`: reads `--bytes` bytes and exits, closing the pipe early.
//!
//! Reports are written to a temporary name and renamed, so a report that
//! exists is complete; `emit` and `verify` write theirs when they start and
//! again, completed, when they end.
//!
//! # How `emit` tells SIGPIPE from EPIPE
//! A process killed by a signal runs no more code, so `emit` cannot report
//! its own death. When it starts with `SIGPIPE` at its default action, it
//! keeps the signal blocked while it writes: a write into a pipe without
//! readers then fails with `EPIPE` and leaves `SIGPIPE` pending. The stage
//! records that, unblocks the signal, and dies of it, as a C program would
//! have. When `SIGPIPE` was ignored (or blocked) at exec, the write just
//! fails and the stage exits with status 1, as `yes` does.
//!
//! # References
//! - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html) `/proc/self/fd`, `/proc/self/status` (`SigBlk`, `SigPnd`, `ShdPnd`)
//! - [pipe(7)](https://man7.org/linux/man-pages/man7/pipe.7.html), [signal(7)](https://man7.org/linux/man-pages/man7/signal.7.html),
//!   [sigprocmask(2)](https://man7.org/linux/man-pages/man2/sigprocmask.2.html), [fifo(7)](https://man7.org/linux/man-pages/man7/fifo.7.html)

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
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
    /// Its parent's pid.
    pub ppid: u32,
    /// The program its parent runs (`/proc/PPID/exe`), if readable.
    pub parent_exe: Option<PathBuf>,
    /// Descriptors open at start (the listing's own descriptor excluded).
    pub fds: Vec<i32>,
    /// What descriptor 0 is (`pipe:[inode]`, `socket:[inode]`, a path).
    pub stdin: Option<String>,
    /// What descriptor 1 is.
    pub stdout: Option<String>,
    /// Whether `SIGPIPE` was ignored when it was exec'd.
    pub sigpipe_ignored: bool,
    /// Whether `SIGPIPE` was blocked.
    pub sigpipe_blocked: bool,
}

/// How an `emit` stage ended.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Ending {
    /// A write failed with `EPIPE` and raised `SIGPIPE`, which killed it.
    KilledBySigpipe,
    /// A write failed with `EPIPE` while `SIGPIPE` was ignored or blocked: it exited with status 1.
    Epipe,
    /// It wrote its whole payload and exited with status 0.
    Done,
}

/// A stage's report.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StageReport {
    /// The stage: `emit`, `copy`, `verify`, `meet`, `head`.
    pub stage: String,
    /// How it was started.
    pub probe: Probe,
    /// `verify`: bytes received, once it saw EOF.
    pub received: Option<usize>,
    /// `verify`: what differed, as expected / observed, when the bytes were wrong.
    pub mismatch: Option<(String, String)>,
    /// `meet`: whether every peer was seen while this stage ran.
    pub met: Option<bool>,
    /// `emit`: how it ended, once it has.
    pub ended: Option<Ending>,
}

/// The value of mask `field` (`SigBlk:`, `SigPnd:`, ...) in a `/proc/*/status` text.
fn signal_mask(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .unwrap_or(0)
}

/// `SIGPIPE`'s bit in a signal mask.
const SIGPIPE_BIT: u64 = 1 << (libc::SIGPIPE - 1);

/// Whether `SIGPIPE` is pending for this thread or this process.
fn sigpipe_pending() -> bool {
    let status = fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
    (signal_mask(&status, "SigPnd:") | signal_mask(&status, "ShdPnd:")) & SIGPIPE_BIT != 0
}

/// What descriptor `fd` of this process is, as `/proc/self/fd` links it.
fn link(fd: i32) -> Option<String> {
    let target = fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    Some(target.to_string_lossy().into_owned())
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
        let ppid = std::os::unix::process::parent_id();
        Probe {
            pid: std::process::id(),
            ppid,
            parent_exe: fs::read_link(format!("/proc/{ppid}/exe")).ok(),
            fds,
            stdin: link(0),
            stdout: link(1),
            sigpipe_ignored: sys::sigpipe_ignored_at_exec(),
            sigpipe_blocked: signal_mask(&status, "SigBlk:") & SIGPIPE_BIT != 0,
        }
    }

    /// Gives `SIGPIPE` back the disposition this stage inherited, as a C
    /// program started the same way would have it (Rust's runtime ignores it).
    fn restore_sigpipe(&self) -> io::Result<()> {
        let disposition = if self.sigpipe_ignored {
            SigpipeDisposition::Ignore
        } else {
            SigpipeDisposition::Default
        };
        sys::set_sigpipe(disposition).map_err(io::Error::from)
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

/// A report of `stage` as started.
fn started(stage: &str, probe: &Probe) -> StageReport {
    StageReport {
        stage: stage.into(),
        probe: probe.clone(),
        ..StageReport::default()
    }
}

/// `stage emit`: writes payload `seed` of `len` bytes, or repeats it forever;
/// with `gate`, only once the check has opened and closed that FIFO.
pub fn emit(
    seed: u64,
    len: usize,
    endless: bool,
    report: Option<&Path>,
    gate: Option<&Path>,
) -> io::Result<i32> {
    let probe = Probe::now();
    probe.restore_sigpipe()?;
    // At the default action, hold SIGPIPE while writing, to record it before dying of it.
    let hold = !probe.sigpipe_ignored && !probe.sigpipe_blocked;
    let sigpipe = {
        let mut set = SigSet::empty();
        set.add(Signal::SIGPIPE);
        set
    };
    if hold {
        sigpipe.thread_block().map_err(io::Error::from)?;
    }
    let mut state = started("emit", &probe);
    if let Some(path) = report {
        write_report(path, &state)?;
    }
    if let Some(gate) = gate {
        // Opening a FIFO for reading blocks until the check opens it for writing.
        io::copy(&mut fs::File::open(gate)?, &mut io::sink())?;
    }
    let bytes = payload(seed, len.max(usize::from(endless)));
    let mut out = io::stdout().lock();
    let ending = loop {
        match out.write_all(&bytes).and_then(|()| out.flush()) {
            Ok(()) if endless => {}
            Ok(()) => break Ending::Done,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                break if hold && sigpipe_pending() {
                    Ending::KilledBySigpipe
                } else {
                    Ending::Epipe
                };
            }
            Err(e) => return Err(e),
        }
    };
    state.ended = Some(ending);
    if let Some(path) = report {
        write_report(path, &state)?;
    }
    if hold {
        // The pending SIGPIPE, if any, is delivered now and ends the process.
        sigpipe.thread_unblock().map_err(io::Error::from)?;
    }
    Ok(i32::from(ending != Ending::Done))
}

/// `stage copy`: copies stdin to stdout until EOF, as `cat` does.
pub fn copy(report: Option<&Path>) -> io::Result<i32> {
    let probe = Probe::now();
    probe.restore_sigpipe()?;
    if let Some(path) = report {
        write_report(path, &started("copy", &probe))?;
    }
    match io::copy(&mut io::stdin().lock(), &mut io::stdout().lock()) {
        Ok(_) => Ok(0),
        // With SIGPIPE ignored, a reader that left is an error, as for `cat`.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(1),
        Err(e) => Err(e),
    }
}

/// `stage verify`: reads stdin to EOF and reports whether it was payload `seed`/`len`.
pub fn verify(seed: u64, len: usize, report: &Path) -> io::Result<i32> {
    let probe = Probe::now();
    let mut state = started("verify", &probe);
    write_report(report, &state)?;
    let mut received = Vec::new();
    io::stdin().lock().read_to_end(&mut received)?;
    let mismatch = match same_bytes("the last stage's stdin", &payload(seed, len), &received) {
        Err(Finding::Violated(f)) => Some((f.expected, f.observed)),
        _ => None,
    };
    let code = i32::from(mismatch.is_some());
    state.received = Some(received.len());
    state.mismatch = mismatch;
    write_report(report, &state)?;
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
    let report = StageReport {
        met: Some(met),
        ..started("meet", &probe)
    };
    write_report(&dir.join(format!("{id}.json")), &report)?;
    Ok(i32::from(!met))
}

/// `stage head`: reads `bytes` bytes of stdin (fewer at EOF), then exits.
pub fn head(bytes: u64, report: Option<&Path>) -> io::Result<i32> {
    let probe = Probe::now();
    io::copy(&mut io::stdin().lock().take(bytes), &mut io::sink())?;
    if let Some(path) = report {
        write_report(path, &started("head", &probe))?;
    }
    Ok(0)
}
