//! What a program's processes and threads are doing, read from `/proc`.
//!
//! The suite decides "blocked", "not served" and "leaking" by observation,
//! not by waiting and hoping:
//! - a thread is *asleep indefinitely* when its state is `S` and
//!   `/proc/<pid>/task/<tid>/syscall` shows a call that has no timeout (`read`,
//!   `accept`, `futex` wait with no timeout, `poll` with -1, ...);
//! - a set of processes is *quiescent* when two samples, taken one after the
//!   other, find every thread asleep indefinitely with unchanged context-switch
//!   counts: then there was an instant when none could run, and without new
//!   input none ever will;
//! - sockets' unread bytes come from `/proc/net/tcp{,6}` (`rx_queue`).
//!
//! # References
//! - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html): `stat`, `status`, `syscall`, `wchan`, `task/`, `fd/`, `net/tcp`

use std::fmt;
use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::unistd::Pid;

/// The fields of `/proc/<pid>/stat` (or `task/<tid>/stat`) the suite uses.
#[derive(Clone, Debug)]
pub struct Stat {
    /// Process or thread ID.
    pub pid: Pid,
    /// Command name (from `comm`).
    pub comm: String,
    /// State letter: `R` running, `S` sleeping, `D` disk wait, `Z` zombie, `T` stopped, ...
    pub state: char,
    /// Parent process ID.
    pub ppid: Pid,
    /// Process-group ID.
    pub pgrp: Pid,
    /// User + system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Threads in the process.
    pub threads: u64,
    /// Whether it is exiting (`PF_EXITING`): its descriptors may already be
    /// closed, and it is about to become a zombie.
    pub exiting: bool,
    /// Page faults of the process and of the children it reaped (minflt,
    /// majflt, cminflt, cmajflt): they grow when it forks (copy on write)
    /// or reaps, which no I/O counter shows.
    pub faults: u64,
}

/// The fields of `/proc` text that separates them with spaces (`stat`,
/// `syscall`, `children`, the `net` tables; not `status`, which uses
/// tabs). `split_whitespace` decodes every character through generic code,
/// which the unoptimised test build runs slowly, and every look parses
/// these files; a split on one byte is a `memchr`.
fn fields(text: &str) -> impl Iterator<Item = &str> {
    text.trim_end().split(' ').filter(|field| !field.is_empty())
}

fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let comm = text[open + 1..close].to_string();
    let rest: Vec<&str> = fields(&text[close + 1..]).collect();
    // Fields after comm, 0-based: 0 state, 1 ppid, 2 pgrp, 6 flags, 7-10 faults, 11 utime, 12 stime, 17 num_threads.
    let field = |i: usize| rest.get(i).and_then(|s| s.parse::<i64>().ok());
    Some(Stat {
        pid: Pid::from_raw(pid),
        comm,
        state: rest.first()?.chars().next()?,
        ppid: Pid::from_raw(field(1)? as i32),
        pgrp: Pid::from_raw(field(2)? as i32),
        cpu_ticks: (field(11)? + field(12)?) as u64,
        threads: field(17)? as u64,
        exiting: field(6)? & PF_EXITING != 0,
        faults: (field(7)? + field(8)? + field(9)? + field(10)?) as u64,
    })
}

/// `PF_EXITING` in the `flags` field of `/proc/<pid>/stat` (include/linux/sched.h).
const PF_EXITING: i64 = 0x4;

/// The CPU time, in clock ticks, that the live processes of `pids` have
/// used (their `stat`s' `utime` plus `stime`).
pub fn cpu_ticks(pids: &[Pid]) -> u64 {
    pids.iter()
        .filter_map(|&p| stat(p))
        .map(|s| s.cpu_ticks)
        .sum()
}

/// The clock ticks, the unit of `stat`'s CPU times, in `span`.
pub fn ticks_in(span: Duration) -> f64 {
    rustix::param::clock_ticks_per_second() as f64 * span.as_secs_f64()
}

/// `/proc/<pid>/stat`, or `None` if the process is gone.
pub fn stat(pid: Pid) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every process on the machine, as far as `/proc` shows them.
pub fn all_processes() -> Vec<Stat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| stat(Pid::from_raw(pid)))
        .collect()
}

/// Whether `pid` exists and is not a zombie.
pub fn is_alive(pid: Pid) -> bool {
    stat(pid).is_some_and(|s| !matches!(s.state, 'Z' | 'X' | 'x'))
}

/// Processes whose process group is `pgid`.
pub fn group_members(pgid: Pid) -> Vec<Pid> {
    all_processes()
        .into_iter()
        .filter(|s| s.pgrp == pgid)
        .map(|s| s.pid)
        .collect()
}

/// Direct children of `pid`, zombies included.
pub fn children(pid: Pid) -> Vec<Stat> {
    match child_pids(pid) {
        Some(pids) => pids.into_iter().filter_map(stat).collect(),
        None => all_processes()
            .into_iter()
            .filter(|s| s.ppid == pid)
            .collect(),
    }
}

/// All descendants of `root` (not `root` itself), zombies included: from
/// the `children` files ([`child_pids`]), or where there are none from one
/// scan of every process.
pub fn descendants(root: Pid) -> Vec<Pid> {
    descendants_by(root, child_pids).unwrap_or_else(|| {
        let all = all_processes();
        let children_of = |parent| {
            Some(
                all.iter()
                    .filter(|s| s.ppid == parent)
                    .map(|s| s.pid)
                    .collect(),
            )
        };
        descendants_by(root, children_of).unwrap_or_default()
    })
}

/// The descendants of `root`, level by level, as `children_of` lists each
/// process's children; `None` as soon as it gives none.
fn descendants_by(
    root: Pid,
    mut children_of: impl FnMut(Pid) -> Option<Vec<Pid>>,
) -> Option<Vec<Pid>> {
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        found.extend(children_of(found[i])?);
        i += 1;
    }
    found.remove(0);
    Some(found)
}

/// The pids of `pid`'s children, zombies included, from the `children`
/// file of each of its threads (a process's children are those of all its
/// threads): a few small reads where a scan of `/proc` reads a file per
/// process on the machine, and stillness looks list descendants twice a
/// look. Each file is read in one call, a consistent list of that thread's
/// children; a child forked or reaped between two threads' files shows as
/// a change, as it would in a scan. `None` where the kernel has no such
/// files (`CONFIG_PROC_CHILDREN`) or they may not be read.
fn child_pids(pid: Pid) -> Option<Vec<Pid>> {
    static FILES_EXIST: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let files_exist = FILES_EXIST.get_or_init(|| {
        let me = nix::unistd::getpid();
        Path::new(&format!("/proc/{me}/task/{me}/children")).exists()
    });
    if !files_exist {
        return None;
    }
    let mut found = Vec::new();
    for tid in tids(pid) {
        let list = match fs::read_to_string(format!("/proc/{pid}/task/{tid}/children")) {
            Ok(list) => list,
            // A thread that exited meanwhile has no children left to list.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            // Not ours to read (a hardened /proc): the scan reads every `stat`.
            Err(_) => return None,
        };
        found.extend(fields(&list).filter_map(|child| child.parse().ok().map(Pid::from_raw)));
    }
    Some(found)
}

/// Open file descriptors of `pid`.
pub fn fd_count(pid: Pid) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// The numbers of `pid`'s open file descriptors, in no order.
pub fn fds(pid: Pid) -> Option<Vec<i32>> {
    let entries = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
    )
}

/// Where a thread is, as `/proc/<pid>/task/<tid>/syscall` tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// On a CPU (or runnable).
    Running,
    /// Blocked, but not in a system call (e.g. a page fault).
    NotInSyscall,
    /// Inside system call `nr` with these six arguments.
    In {
        /// The system call number.
        nr: i64,
        /// Its arguments, raw.
        args: [u64; 6],
    },
    /// The file could not be read (the thread is gone, or permission).
    Unknown,
}

fn parse_syscall(text: &str) -> Syscall {
    let mut words = fields(text);
    match words.next() {
        Some("running") => Syscall::Running,
        Some("-1") => Syscall::NotInSyscall,
        Some(nr) => {
            let Ok(nr) = nr.parse::<i64>() else {
                return Syscall::Unknown;
            };
            let mut args = [0u64; 6];
            for slot in &mut args {
                *slot = words
                    .next()
                    .and_then(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).ok())
                    .unwrap_or(0);
            }
            Syscall::In { nr, args }
        }
        None => Syscall::Unknown,
    }
}

impl Syscall {
    /// The call's name, when known to the suite.
    pub fn name(&self) -> Option<&'static str> {
        match self {
            Syscall::In { nr, .. } => syscall_name(*nr),
            _ => None,
        }
    }

    /// The file descriptor the call works on, for calls whose first argument is one.
    pub fn fd(&self) -> Option<i64> {
        let fd_first = matches!(
            self.name()?,
            "read"
                | "write"
                | "readv"
                | "writev"
                | "pread64"
                | "pwrite64"
                | "recvfrom"
                | "sendto"
                | "recvmsg"
                | "sendmsg"
                | "accept"
                | "accept4"
                | "connect"
                | "flock"
                | "splice"
                | "epoll_wait"
                | "epoll_pwait"
                | "epoll_pwait2"
                | "close"
        );
        match self {
            Syscall::In { args, .. } if fd_first => Some(args[0] as i32 as i64),
            _ => None,
        }
    }

    fn is_epoll(&self) -> bool {
        matches!(
            self.name(),
            Some("epoll_wait" | "epoll_pwait" | "epoll_pwait2")
        )
    }

    /// Whether the call can only return on an outside event (no timeout).
    pub fn is_indefinite(&self) -> bool {
        let Syscall::In { nr, args } = self else {
            return false;
        };
        let null = |i: usize| args[i] == 0;
        let negative = |i: usize| (args[i] as i32) < 0;
        match syscall_name(*nr) {
            Some(
                "read" | "write" | "readv" | "writev" | "pread64" | "pwrite64" | "recvfrom"
                | "sendto" | "recvmsg" | "sendmsg" | "accept" | "accept4" | "connect" | "wait4"
                | "waitid" | "pause" | "rt_sigsuspend" | "flock" | "splice" | "sendfile" | "openat"
                | "msgrcv",
            ) => true,
            // FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_LOCK_PI, FUTEX_WAIT_REQUEUE_PI: timeout in arg 3.
            Some("futex") => matches!(args[1] & 0x7f, 0 | 6 | 9 | 11) && null(3),
            Some("futex_waitv") => null(3),
            Some("poll") => negative(2),
            Some("ppoll") => null(2),
            Some("select" | "pselect6") => null(4),
            Some("epoll_wait" | "epoll_pwait") => negative(3),
            Some("epoll_pwait2") => null(3),
            Some("rt_sigtimedwait") => null(2),
            _ => false,
        }
    }
}

macro_rules! syscall_names {
    ($nr:expr; $($name:ident),* $(,)?) => {
        match $nr {
            $(n if n == libc::$name => Some(&stringify!($name)[4..]),)*
            _ => None,
        }
    };
}

/// The name of system call `nr` on this architecture, for those the suite knows.
pub fn syscall_name(nr: i64) -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    if let Some(name) =
        syscall_names!(nr; SYS_poll, SYS_select, SYS_epoll_wait, SYS_pause, SYS_accept)
    {
        return Some(name);
    }
    syscall_names!(nr;
        SYS_read, SYS_write, SYS_readv, SYS_writev, SYS_pread64, SYS_pwrite64, SYS_recvfrom,
        SYS_sendto, SYS_recvmsg, SYS_sendmsg, SYS_accept4, SYS_connect, SYS_wait4,
        SYS_waitid, SYS_rt_sigsuspend, SYS_flock, SYS_splice, SYS_sendfile, SYS_openat,
        SYS_msgrcv, SYS_futex, SYS_futex_waitv, SYS_ppoll, SYS_pselect6, SYS_epoll_pwait,
        SYS_epoll_pwait2, SYS_rt_sigtimedwait, SYS_nanosleep, SYS_clock_nanosleep,
        SYS_close, SYS_exit_group,
    )
}

/// One thread, sampled.
#[derive(Clone, Debug)]
pub struct ThreadState {
    /// Its process.
    pub pid: Pid,
    /// The thread itself.
    pub tid: Pid,
    /// Thread name.
    pub comm: String,
    /// State letter from `stat`.
    pub state: char,
    /// Where it is.
    pub syscall: Syscall,
    /// The kernel function it sleeps in (`wchan`), if any.
    pub wchan: String,
    /// Voluntary plus involuntary context switches so far.
    pub switches: u64,
}

impl ThreadState {
    /// Asleep in a call that only an outside event ends.
    pub fn asleep_indefinitely(&self) -> bool {
        self.state == 'S' && self.syscall.is_indefinite()
    }
}

impl fmt::Display for ThreadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} tid {} ({}) state {}",
            self.pid, self.tid, self.comm, self.state
        )?;
        match &self.syscall {
            Syscall::Running => write!(f, ", running")?,
            Syscall::NotInSyscall => write!(f, ", not in a system call")?,
            Syscall::In { nr, args } => {
                let name =
                    syscall_name(*nr).map_or_else(|| format!("syscall {nr}"), str::to_string);
                match (self.syscall.fd(), name.as_str()) {
                    (Some(fd), _) => write!(f, ", in {name}(fd {fd})")?,
                    (_, "wait4") => write!(f, ", in wait4(pid {})", args[0] as i32)?,
                    _ => write!(f, ", in {name}(0x{:x}, ...)", args[0])?,
                }
            }
            Syscall::Unknown => {}
        }
        if !self.wchan.is_empty() && self.wchan != "0" {
            write!(f, ", wchan {}", self.wchan)?;
        }
        Ok(())
    }
}

/// Samples thread `tid` of process `pid`.
pub fn thread(pid: Pid, tid: Pid) -> Option<ThreadState> {
    let base = format!("/proc/{pid}/task/{tid}");
    let stat = parse_stat(&fs::read_to_string(format!("{base}/stat")).ok()?)?;
    let switches = switches(&base);
    let syscall = fs::read_to_string(format!("{base}/syscall"))
        .map(|t| parse_syscall(&t))
        .unwrap_or(Syscall::Unknown);
    let wchan = fs::read_to_string(format!("{base}/wchan")).unwrap_or_default();
    Some(ThreadState {
        pid,
        tid,
        comm: stat.comm,
        state: stat.state,
        syscall,
        wchan,
        switches,
    })
}

/// How many times the thread at `base` (`/proc/PID/task/TID`) was switched
/// to so far: `schedstat`'s third number, which counts what `status`'s two
/// `ctxt_switches` lines add up to at half the cost of reading `status` (a
/// thread is sampled at every look). From `status` where `schedstat` is
/// absent or says nothing (zeros: scheduler statistics off), as a thread
/// that ever ran was switched to once at least.
///
/// # References
/// - [proc_pid_status(5)](https://man7.org/linux/man-pages/man5/proc_pid_status.5.html), [sched-stats](https://docs.kernel.org/scheduler/sched-stats.html) (`/proc/<pid>/schedstat`)
fn switches(base: &str) -> u64 {
    let scheduled = fs::read_to_string(format!("{base}/schedstat"))
        .ok()
        .and_then(|text| fields(&text).nth(2)?.parse::<u64>().ok());
    if let Some(count @ 1..) = scheduled {
        return count;
    }
    switches_in_status(base)
}

/// The thread at `base`'s voluntary and involuntary context switches
/// together, from its `status`.
fn switches_in_status(base: &str) -> u64 {
    fs::read_to_string(format!("{base}/status"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("ctxt_switches:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// The pid of `pid` in the innermost pid namespace it is in (the last of
/// `NSpid` in its `status`): what it and the processes beside it call it.
/// `pid` itself when it is in this process's namespace.
///
/// # References
/// - [proc_pid_status(5)](https://man7.org/linux/man-pages/man5/proc_pid_status.5.html) (`NSpid`), [pid_namespaces(7)](https://man7.org/linux/man-pages/man7/pid_namespaces.7.html)
pub fn innermost_pid(pid: Pid) -> Option<Pid> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let nspid = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
    Some(Pid::from_raw(
        nspid.split_whitespace().last()?.parse().ok()?,
    ))
}

/// How much thread `tid` of `pid` has run, in nanoseconds
/// (`/proc/<pid>/task/<tid>/schedstat`, absent on a kernel without
/// `CONFIG_SCHED_INFO`), and how many times it gave up its CPU to wait
/// (`voluntary_ctxt_switches` in its `status`). A thread that spins runs
/// without ever waiting, however little CPU a loaded machine leaves it; one
/// that backs off waits at every turn.
pub fn run_and_waits(pid: Pid, tid: Pid) -> Option<(u64, u64)> {
    let base = format!("/proc/{pid}/task/{tid}");
    let sched = fs::read_to_string(format!("{base}/schedstat")).ok()?;
    let ran = sched.split_whitespace().next()?.parse().ok()?;
    let status = fs::read_to_string(format!("{base}/status")).ok()?;
    let waits = status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))?
        .trim()
        .parse()
        .ok()?;
    Some((ran, waits))
}

/// Thread IDs of process `pid`.
pub fn tids(pid: Pid) -> Vec<Pid> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        e.ok()?
            .file_name()
            .to_str()?
            .parse()
            .ok()
            .map(Pid::from_raw)
    })
    .collect()
}

/// Samples every thread of every process in `pids`.
pub fn threads(pids: &[Pid]) -> Vec<ThreadState> {
    pids.iter()
        .flat_map(|&pid| {
            tids(pid)
                .into_iter()
                .filter_map(move |tid| thread(pid, tid))
        })
        .collect()
}

/// One line per thread, for hang reports.
pub fn describe(threads: &[ThreadState]) -> String {
    threads
        .iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Two samples of `pids`' threads prove quiescence: same threads, all asleep
/// indefinitely both times, no context switch in between. Returns the second
/// sample when quiescent.
pub fn quiescent(pids: &[Pid]) -> Result<Vec<ThreadState>, Vec<ThreadState>> {
    let first = threads(pids);
    let second = threads(pids);
    let still = first.len() == second.len()
        && !second.is_empty()
        && first.iter().zip(&second).all(|(a, b)| {
            a.tid == b.tid
                && a.switches == b.switches
                && a.asleep_indefinitely()
                && b.asleep_indefinitely()
        });
    if still {
        Ok(second)
    } else {
        Err(second)
    }
}

/// Waits, at most `bound`, until thread `tid` of this process is asleep
/// indefinitely and stays so across two samples. `Err` carries the last sample.
// The large `Err` is the hang's evidence, built once per check: not worth a box.
#[allow(clippy::result_large_err)]
pub fn wait_thread_asleep(tid: Pid, bound: Duration) -> Result<ThreadState, Option<ThreadState>> {
    let pid = nix::unistd::getpid();
    let deadline = Instant::now() + bound;
    loop {
        let first = thread(pid, tid);
        let second = thread(pid, tid);
        if let (Some(a), Some(b)) = (&first, &second) {
            if a.asleep_indefinitely() && b.asleep_indefinitely() && a.switches == b.switches {
                return Ok(b.clone());
            }
        }
        // A thread that has exited will never fall asleep: no need to wait out the bound.
        if second.is_none() || Instant::now() >= deadline {
            return Err(second);
        }
        // Pacing only.
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// The descriptors a sleeping thread waits on: the one a `read`, `write`,
/// `accept`, ... works on; every descriptor of a `poll`/`ppoll` set or of a
/// `select`/`pselect6` set (read from the process's memory, which only a
/// process allowed to trace it may do, as its parent may); every descriptor
/// an `epoll` instance watches (its `fdinfo`). `None` when the call waits on
/// no descriptor, or they cannot be read.
///
/// This is how a check tells "asleep waiting for this client" from "asleep
/// in the same call for another reason", whatever call the target chose.
///
/// # References
/// - [poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html), [select(2)](https://man7.org/linux/man-pages/man2/select.2.html), [epoll_wait(2)](https://man7.org/linux/man-pages/man2/epoll_wait.2.html)
/// - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html): `/proc/<pid>/mem`, `/proc/<pid>/fdinfo` (epoll `tfd:` lines)
pub fn waits_on(thread: &ThreadState) -> Option<Vec<i32>> {
    let Syscall::In { args, .. } = thread.syscall else {
        return None;
    };
    if let Some(fd) = thread.syscall.fd().filter(|_| !thread.syscall.is_epoll()) {
        return Some(vec![fd as i32]);
    }
    match thread.syscall.name()? {
        "poll" | "ppoll" => {
            let count = usize::try_from(args[1]).ok().filter(|&n| n <= 4096)?;
            let bytes = read_memory(thread.pid, args[0], count * 8)?;
            Some(
                bytes
                    .chunks_exact(8)
                    .map(|pollfd| i32::from_ne_bytes([pollfd[0], pollfd[1], pollfd[2], pollfd[3]]))
                    .filter(|&fd| fd >= 0)
                    .collect(),
            )
        }
        "select" | "pselect6" => {
            let count = usize::try_from(args[0]).ok().filter(|&n| n <= 65_536)?;
            let mut fds = Vec::new();
            for &set in &args[1..4] {
                if set == 0 {
                    continue;
                }
                let bytes = read_memory(thread.pid, set, count.div_ceil(64) * 8)?;
                fds.extend((0..count).filter(|&fd| bytes[fd / 8] & (1 << (fd % 8)) != 0));
            }
            fds.sort_unstable();
            fds.dedup();
            Some(fds.into_iter().map(|fd| fd as i32).collect())
        }
        "epoll_wait" | "epoll_pwait" | "epoll_pwait2" => {
            let info =
                fs::read_to_string(format!("/proc/{}/fdinfo/{}", thread.pid, args[0] as i32))
                    .ok()?;
            Some(
                info.lines()
                    .filter_map(|line| {
                        line.strip_prefix("tfd:")?
                            .split_whitespace()
                            .next()?
                            .parse()
                            .ok()
                    })
                    .collect(),
            )
        }
        _ => None,
    }
}

/// `len` bytes of process `pid`'s memory at `address`.
fn read_memory(pid: Pid, address: u64, len: usize) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mem = fs::File::open(format!("/proc/{pid}/mem")).ok()?;
    let mut bytes = vec![0u8; len];
    mem.read_exact_at(&mut bytes, address).ok()?;
    Some(bytes)
}

/// A process's I/O counters, from `/proc/<pid>/io`: what its `read`- and
/// `write`-family calls moved, on any kind of descriptor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Io {
    /// Bytes returned by read-family calls.
    pub rchar: u64,
    /// Bytes passed to write-family calls.
    pub wchar: u64,
    /// Read-family calls made.
    pub syscr: u64,
    /// Write-family calls made.
    pub syscw: u64,
}

/// `/proc/<pid>/io`, or `None` if the process is gone (or not ours to read).
///
/// # References
/// - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html): `/proc/<pid>/io`
pub fn io(pid: Pid) -> Option<Io> {
    let text = fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
    };
    Some(Io {
        rchar: field("rchar")?,
        wchar: field("wchar")?,
        syscr: field("syscr")?,
        syscw: field("syscw")?,
    })
}

/// The TCP tables of the network namespace of the calling thread, which
/// may differ from its process's (`/proc/net` is the process's): a test
/// process gives each check a namespace of its own on the thread that runs
/// it, and the threads that thread starts share it.
const TCP_TABLES: [&str; 2] = ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"];

/// The Unix sockets of the network namespace of the calling thread.
const UNIX_TABLE: &str = "/proc/thread-self/net/unix";

/// A TCP socket as `/proc/net/tcp{,6}` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpEntry {
    /// Its own address.
    pub local_address: SocketAddr,
    /// Its peer's (all zeros while it listens).
    pub remote_address: SocketAddr,
    /// Its state.
    pub state: TcpState,
    /// Bytes sent and not yet acknowledged.
    pub tx_queue: u32,
    /// Bytes received and not yet read; a listener's backlog of connections.
    pub rx_queue: u32,
    /// Its inode, which `/proc/<pid>/fd/*` links name (`socket:[INODE]`);
    /// 0 once no descriptor holds it (`TIME_WAIT`).
    pub inode: u64,
}

/// The state of a TCP socket (`include/net/tcp_states.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpState {
    /// `TCP_ESTABLISHED`.
    Established,
    /// `TCP_SYN_SENT`.
    SynSent,
    /// `TCP_SYN_RECV`.
    SynRecv,
    /// `TCP_FIN_WAIT1`.
    FinWait1,
    /// `TCP_FIN_WAIT2`.
    FinWait2,
    /// `TCP_TIME_WAIT`.
    TimeWait,
    /// `TCP_CLOSE`.
    Close,
    /// `TCP_CLOSE_WAIT`.
    CloseWait,
    /// `TCP_LAST_ACK`.
    LastAck,
    /// `TCP_LISTEN`.
    Listen,
    /// `TCP_CLOSING`.
    Closing,
    /// `TCP_NEW_SYN_RECV`, or a state this list does not know.
    Other,
}

impl TcpState {
    fn from_code(code: u8) -> TcpState {
        use TcpState::*;
        match code {
            0x01 => Established,
            0x02 => SynSent,
            0x03 => SynRecv,
            0x04 => FinWait1,
            0x05 => FinWait2,
            0x06 => TimeWait,
            0x07 => Close,
            0x08 => CloseWait,
            0x09 => LastAck,
            0x0A => Listen,
            0x0B => Closing,
            _ => Other,
        }
    }
}

/// Every TCP socket in this network namespace, IPv4 and IPv6.
pub fn tcp_sockets() -> Vec<TcpEntry> {
    TCP_TABLES
        .iter()
        .filter_map(|table| fs::read_to_string(table).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(parse_tcp_line)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// One line of `/proc/net/tcp{,6}`: `sl local rem st tx_queue:rx_queue tr:when
/// retrnsmt uid timeout inode ...`, addresses as `HEX_IP:HEX_PORT`.
fn parse_tcp_line(line: &str) -> Option<TcpEntry> {
    let mut cols = fields(line);
    let _slot = cols.next()?;
    let local_address = parse_tcp_address(cols.next()?)?;
    let remote_address = parse_tcp_address(cols.next()?)?;
    let state = TcpState::from_code(u8::from_str_radix(cols.next()?, 16).ok()?);
    let (tx, rx) = cols.next()?.split_once(':')?;
    let inode = cols.nth(4)?.parse().ok()?;
    Some(TcpEntry {
        local_address,
        remote_address,
        state,
        tx_queue: u32::from_str_radix(tx, 16).ok()?,
        rx_queue: u32::from_str_radix(rx, 16).ok()?,
        inode,
    })
}

/// `HEX_IP:HEX_PORT` as the kernel prints it: the address as 32-bit words
/// in host byte order (one for IPv4, four for IPv6), the port as a number.
fn parse_tcp_address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |at: usize| -> Option<[u8; 4]> {
        let word = u32::from_str_radix(ip.get(at..at + 8)?, 16).ok()?;
        Some(word.to_ne_bytes())
    };
    let ip = match ip.len() {
        8 => std::net::IpAddr::from(word(0)?),
        32 => {
            let mut octets = [0u8; 16];
            for (i, chunk) in octets.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(i * 8)?);
            }
            std::net::IpAddr::from(octets)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Connections waiting to be accepted by the TCP socket listening on
/// `port` (its `rx_queue` in `/proc/net/tcp{,6}`), found by scanning the
/// lines rather than parsing them all: even the check's private table holds
/// a line per connection it closed (`TIME_WAIT`), and a whole check of
/// `thread.c` took 3 % longer, its user time 20 % more, through
/// [`tcp_sockets`].
pub fn tcp_accept_queue(port: u16) -> Option<usize> {
    let local = format!(":{port:04X}");
    TCP_TABLES.iter().find_map(|table| {
        let text = fs::read_to_string(table).ok()?;
        text.lines().skip(1).find_map(|line| {
            // sl, local address, remote address, state, tx_queue:rx_queue
            let cols: Vec<&str> = fields(line).take(5).collect();
            let listening = cols.get(1)?.ends_with(&local) && *cols.get(3)? == "0A";
            let waiting = cols.get(4)?.split(':').nth(1)?;
            listening.then(|| usize::from_str_radix(waiting, 16).ok())?
        })
    })
}

/// Bytes the peer sent that sit unread in the socket `local` ↔ `remote`.
pub fn tcp_unread(local: SocketAddr, remote: SocketAddr) -> Option<u32> {
    tcp_sockets()
        .into_iter()
        .find(|e| same_addr(e.local_address, local) && same_addr(e.remote_address, remote))
        .map(|e| e.rx_queue)
}

/// Whether some socket listens on `addr` (IPv4-mapped and wildcard addresses count).
pub fn tcp_listening(addr: SocketAddr) -> bool {
    tcp_sockets().into_iter().any(|e| {
        e.state == TcpState::Listen
            && e.local_address.port() == addr.port()
            && (same_addr(e.local_address, addr) || e.local_address.ip().is_unspecified())
    })
}

fn same_addr(a: SocketAddr, b: SocketAddr) -> bool {
    let canon = |s: SocketAddr| match s.ip() {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(s.ip(), std::net::IpAddr::V4),
        ip => ip,
    };
    a.port() == b.port() && canon(a) == canon(b)
}

/// Whether a Unix stream socket listens on `path`.
pub fn unix_listening(path: &Path) -> bool {
    // Columns: Num RefCount Protocol Flags Type St Inode [Path].
    let table = fs::read_to_string(UNIX_TABLE).unwrap_or_default();
    table.lines().skip(1).any(|line| {
        let cols: Vec<&str> = fields(line).collect();
        let flags = cols
            .get(3)
            .and_then(|f| u32::from_str_radix(f, 16).ok())
            .unwrap_or(0);
        let stream = cols.get(4).and_then(|t| u16::from_str_radix(t, 16).ok())
            == Some(libc::SOCK_STREAM as u16);
        stream && flags & ACCEPTCON != 0 && cols.get(7).map(Path::new) == Some(path)
    })
}

/// Inodes of the Unix stream sockets named `path`: the listening one when
/// `listening`, else the connections accepted on it (they carry its name).
pub fn unix_inodes(path: &Path, listening: bool) -> Vec<u64> {
    let table = fs::read_to_string(UNIX_TABLE).unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = fields(line).collect();
            let flags = u32::from_str_radix(cols.get(3)?, 16).ok()?;
            let named = cols.get(7).map(Path::new) == Some(path);
            (named && (flags & ACCEPTCON != 0) == listening).then(|| cols.get(6)?.parse().ok())?
        })
        .collect()
}

/// The descriptors, per process of `pids`, that refer to the socket with `inode`
/// (`/proc/<pid>/fd/<n>` links to `socket:[inode]`).
pub fn socket_holders(pids: &[Pid], inode: u64) -> Vec<(Pid, i32)> {
    let link = format!("socket:[{inode}]");
    pids.iter()
        .flat_map(|&pid| {
            let fds = fs::read_dir(format!("/proc/{pid}/fd"))
                .into_iter()
                .flatten()
                .flatten();
            let link = &link;
            fds.filter_map(move |entry| {
                let target = fs::read_link(entry.path()).ok()?;
                (target.as_os_str() == link.as_str())
                    .then(|| Some((pid, entry.file_name().to_str()?.parse().ok()?)))?
            })
        })
        .collect()
}

/// `__SO_ACCEPTCON`: the flag `/proc/net/unix` shows on listening sockets.
const ACCEPTCON: u32 = 1 << 16;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::mpsc;

    #[test]
    fn tcp_lines_parse_as_the_kernel_prints_them() {
        let v4 = "   3: 0100007F:1F90 0100007F:D2C6 01 00000010:00000020 00:00000000 00000000     0        0 4242 1 0000000000000000 20 4 30 10 -1";
        let entry = parse_tcp_line(v4).unwrap();
        assert_eq!(entry.local_address, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(entry.remote_address, "127.0.0.1:53958".parse().unwrap());
        assert_eq!(entry.state, TcpState::Established);
        assert_eq!(
            (entry.tx_queue, entry.rx_queue, entry.inode),
            (16, 32, 4242)
        );
        let v6 = "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 77 1 0000000000000000 100 0 0 10 0";
        let entry = parse_tcp_line(v6).unwrap();
        assert_eq!(entry.local_address, "[::1]:8080".parse().unwrap());
        assert_eq!(
            (entry.state, entry.rx_queue, entry.inode),
            (TcpState::Listen, 2, 77)
        );
    }

    #[test]
    fn a_listener_and_its_connection_show_in_the_tcp_tables() {
        for host in ["127.0.0.1:0", "[::1]:0"] {
            let listener = std::net::TcpListener::bind(host).unwrap();
            let addr = listener.local_addr().unwrap();
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            let (_served, peer) = listener.accept().unwrap();
            client.write_all(b"unread").unwrap();
            assert!(tcp_listening(addr), "{addr} listens");
            let unread = || tcp_unread(addr, peer);
            let seen = crate::target::settle::until(
                Duration::from_secs(5),
                crate::target::settle::Gaps::BackingOff,
                || unread() == Some(6),
            );
            assert!(seen, "6 bytes unread at {addr} from {peer}: {:?}", unread());
        }
    }

    #[test]
    fn a_thread_blocked_in_read_is_seen_asleep_in_read() {
        let (mut reader, _writer) = std::io::pipe().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            tx.send(nix::unistd::gettid()).unwrap();
            let _ = reader.read(&mut [0u8; 1]);
        });
        let tid = rx.recv().unwrap();
        let state = wait_thread_asleep(tid, Duration::from_secs(5)).expect("blocked in read");
        assert_eq!(state.syscall.name(), Some("read"));
    }

    #[test]
    fn a_sleeping_thread_was_switched_to_as_often_as_status_counts() {
        let (mut reader, mut writer) = std::io::pipe().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            tx.send(nix::unistd::gettid()).unwrap();
            for _ in 0..3 {
                let _ = reader.read(&mut [0u8; 1]);
            }
        });
        let tid = rx.recv().unwrap();
        for _ in 0..2 {
            wait_thread_asleep(tid, Duration::from_secs(5)).expect("blocked in read");
            writer.write_all(b"x").unwrap();
        }
        wait_thread_asleep(tid, Duration::from_secs(5)).expect("blocked in read");
        let base = format!("/proc/{}/task/{tid}", nix::unistd::getpid());
        let counted = switches_in_status(&base);
        assert!(counted >= 3, "woken twice, switched to {counted} times");
        assert_eq!(switches(&base), counted);
    }

    #[test]
    fn a_thread_in_poll_is_seen_waiting_on_every_descriptor_of_its_set() {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::{AsFd, AsRawFd};
        let (first, _first_writer) = std::io::pipe().unwrap();
        let (second, _second_writer) = std::io::pipe().unwrap();
        let fds = [first.as_raw_fd(), second.as_raw_fd()];
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            tx.send(nix::unistd::gettid()).unwrap();
            let mut set = [
                PollFd::new(first.as_fd(), PollFlags::POLLIN),
                PollFd::new(second.as_fd(), PollFlags::POLLIN),
            ];
            let _ = poll(&mut set, PollTimeout::NONE);
        });
        let tid = rx.recv().unwrap();
        let state = wait_thread_asleep(tid, Duration::from_secs(5)).expect("blocked in poll");
        assert_eq!(waits_on(&state), Some(fds.to_vec()), "{state}");
    }

    #[test]
    fn io_counters_see_this_process_read() {
        let before = io(nix::unistd::getpid()).unwrap();
        let _ = fs::read("/proc/self/stat").unwrap();
        let after = io(nix::unistd::getpid()).unwrap();
        assert!(after.rchar > before.rchar && after.syscr > before.syscr);
    }

    #[test]
    fn a_timed_sleep_is_not_indefinite() {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            tx.send(nix::unistd::gettid()).unwrap();
            // The workload itself: a sleep with a timeout, which is not "blocked".
            std::thread::sleep(Duration::from_secs(3));
        });
        let tid = rx.recv().unwrap();
        assert!(wait_thread_asleep(tid, Duration::from_millis(300)).is_err());
    }

    #[test]
    fn stat_parses_names_with_parentheses() {
        let s = parse_stat("42 (a) b) S 1 42 42 0 -1 0 0 0 0 0 7 3 0 0 20 0 5 0 1 1 1").unwrap();
        assert_eq!(
            (s.comm.as_str(), s.state, s.cpu_ticks, s.threads),
            ("a) b", 'S', 10, 5)
        );
        let exiting =
            parse_stat("7 (x) R 1 7 7 0 -1 4194564 1 2 3 4 0 0 0 0 20 0 1 0 1 1 1").unwrap();
        assert!(exiting.exiting && !s.exiting);
        assert_eq!((exiting.faults, s.faults), (10, 0));
    }
}

/// One end of a pipe held open by a process, from `/proc/<pid>/fd` and `fdinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipeEnd {
    /// The process holding it.
    pub pid: Pid,
    /// The descriptor number in that process.
    pub fd: i32,
    /// The pipe's inode: both ends of one pipe share it.
    pub inode: u64,
    /// Whether this is a write end (opened `O_WRONLY`).
    pub write: bool,
}

/// The pipe ends `pid` holds open.
pub fn pipe_ends(pid: Pid) -> Vec<PipeEnd> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let entry = entry.ok()?;
        let fd: i32 = entry.file_name().to_str()?.parse().ok()?;
        let link = fs::read_link(entry.path()).ok()?;
        let inode = link
            .to_str()?
            .strip_prefix("pipe:[")?
            .strip_suffix(']')?
            .parse()
            .ok()?;
        let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())?;
        Some(PipeEnd {
            pid,
            fd,
            inode,
            write: flags & libc::O_ACCMODE as u32 == libc::O_WRONLY as u32,
        })
    })
    .collect()
}
