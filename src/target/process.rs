//! Running an untrusted target: its own process group and cgroups,
//! resource limits, its sandbox, drained output, and a kill that leaves
//! nothing behind.
//!
//! Guarantees:
//! - the target starts in a new process group ([setpgid(2)]) and, when
//!   `/sys/fs/cgroup/pids` is writable, in a fresh pids cgroup, so a fork bomb
//!   stops at [`Limits::processes`] and a process that calls `setsid` is still found;
//!   when `/sys/fs/cgroup/memory` is, in a fresh memory cgroup bounding all its
//!   processes together to [`Limits::memory_total`];
//! - when the checker entered a [sandbox](super::sandbox), the target starts
//!   inside it (another user, its own view of the filesystem); a sandbox
//!   without root also gives it a pid namespace, where it runs under a
//!   supervisor that ends as it does and an init that reaps its orphans
//!   (`sys::Spawned`): [`Target::pid`] and [`Target::processes`] are the
//!   target's own, never those two;
//! - `setrlimit` bounds address space, CPU time, open files and file size
//!   (and process count, where the kernel enforces it for this uid); a
//!   check may lower a running process's open-file limit further
//!   ([`limit_open_files`], [prlimit(2)]);
//! - its stdout/stderr, unless handed to the check, are read continuously into
//!   a small ring of last lines, so a logging target never blocks on a full pipe;
//! - [`Target::kill`] (and `Drop`) sends SIGKILL to the group and every cgroup
//!   member, reaps what became our child, removes the cgroup and temp paths;
//!   [`install_interrupt_handler`] does the same for every live target on
//!   Ctrl-C, SIGTERM or SIGHUP, after the run's [`on_interrupt`] hook froze its results.
//!
//! [setpgid(2)]: https://man7.org/linux/man-pages/man2/setpgid.2.html
//! [prlimit(2)]: https://man7.org/linux/man-pages/man2/prlimit.2.html

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::resource::Resource;
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

use super::settle::{self, Bound, Gaps, Look, Shown};
use super::{observe, CommandSpec, TargetError};
use crate::report::quote;
use crate::sys::Supervised;

/// Resource limits for a target and everything it spawns.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Processes and threads, together (pids cgroup; RLIMIT_NPROC where enforced).
    pub processes: u64,
    /// Address space per process, bytes (RLIMIT_AS).
    pub memory: u64,
    /// Memory of all its processes together, bytes (memory cgroup).
    pub memory_total: u64,
    /// CPU seconds per process (RLIMIT_CPU).
    pub cpu_seconds: u64,
    /// Open files per process (RLIMIT_NOFILE).
    pub open_files: u64,
    /// Largest file it may write, bytes (RLIMIT_FSIZE).
    pub file_size: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            // 200 idle clients at once (`server.hostile.many-idle`) of a
            // fork server that execs a program per client are 400 processes.
            processes: 1024,
            memory: 4 << 30,
            memory_total: 4 << 30,
            cpu_seconds: 120,
            open_files: 1024,
            file_size: 256 << 20,
        }
    }
}

/// `limit_open_files()`—sets the soft open-file limit (`RLIMIT_NOFILE`)
/// of the running process `pid` to `limit`, its hard limit unchanged, and
/// returns the soft limit it had (`None`: unlimited), to put back with
/// [`restore_open_files`]. From then on it can open no descriptor numbered
/// `limit` or above (`EMFILE`); processes it forks meanwhile inherit the limit.
pub fn limit_open_files(pid: Pid, limit: u64) -> std::io::Result<Option<u64>> {
    set_open_files(pid, Some(limit))
}

/// `restore_open_files()`—puts back the soft open-file limit `soft` that
/// [`limit_open_files`] returned.
pub fn restore_open_files(pid: Pid, soft: Option<u64>) -> std::io::Result<()> {
    set_open_files(pid, soft).map(drop)
}

/// Sets the soft `RLIMIT_NOFILE` of `pid`, keeping its hard limit (read
/// from `/proc/<pid>/limits`); the soft limit it had.
fn set_open_files(pid: Pid, soft: Option<u64>) -> std::io::Result<Option<u64>> {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits"))?;
    let hard = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(|fields| fields.split_whitespace().nth(1))
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
    let pid = rustix::process::Pid::from_raw(pid.as_raw())
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let limit = rustix::process::Rlimit {
        current: soft,
        maximum: hard.parse().ok(),
    };
    // Without CAP_SYS_RESOURCE (which containers often drop), only the
    // target's own user may change its limits.
    let old = super::sandbox::as_target_user(|| {
        rustix::process::prlimit(Some(pid), rustix::process::Resource::Nofile, limit)
            .map_err(Into::into)
    })?;
    Ok(old.current)
}

/// What to do with one of the target's standard streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Connected to /dev/null.
    Null,
    /// Read (for output) into the ring of last lines.
    Capture,
    /// A pipe handed to the check ([`Target::take_stdin`], [`Target::take_stdout`]).
    Piped,
}

/// How to start a target.
#[derive(Clone, Debug)]
pub struct TargetConfig {
    /// The command, placeholders already filled.
    pub command: CommandSpec,
    /// Its stdin.
    pub stdin: Stream,
    /// Its stdout (stderr is always captured).
    pub stdout: Stream,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Resource limits.
    pub limits: Limits,
    /// Paths to remove when the target is killed (e.g. a socket's temp dir).
    pub cleanup: Vec<PathBuf>,
}

impl TargetConfig {
    /// A config for `command` with output captured, stdin from /dev/null and default limits.
    pub fn new(command: CommandSpec) -> TargetConfig {
        TargetConfig {
            command,
            stdin: Stream::Null,
            stdout: Stream::Capture,
            env: Vec::new(),
            limits: Limits::default(),
            cleanup: Vec::new(),
        }
    }
}

/// How many of a target's last output lines a failure shows.
const TAIL_LINES: usize = 40;
/// How many bytes of each of those lines are kept.
const TAIL_LINE_BYTES: usize = 300;

/// The last lines a target printed, shared with the threads that drain it.
#[derive(Clone, Default)]
struct Tail(Arc<(Mutex<TailState>, Condvar)>);

#[derive(Default)]
struct TailState {
    lines: VecDeque<String>,
    open_streams: usize,
}

impl Tail {
    fn state(&self) -> std::sync::MutexGuard<'_, TailState> {
        self.0 .0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lines(&self) -> Vec<String> {
        self.state().lines.iter().cloned().collect()
    }

    /// Waits, at most `bound`, until every drained stream has closed.
    fn wait_closed(&self, bound: Duration) {
        let guard = self.state();
        let _ = self
            .0
             .1
            .wait_timeout_while(guard, bound, |s| s.open_streams > 0);
    }

    /// Drains `stream` line by line on a detached thread until it closes,
    /// keeping at most [`TAIL_LINE_BYTES`] of each line however long it is
    /// (a target may print megabytes without a newline), control characters
    /// escaped ([`quote::neutralised`]).
    fn drain(&self, stream: impl Read + Send + 'static, label: &'static str) {
        self.state().open_streams += 1;
        let tail = self.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let (mut line, mut omitted) = (Vec::new(), 0);
            loop {
                let buf = match reader.fill_buf() {
                    Ok([]) => break,
                    Ok(buf) => buf,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                // A target may log every byte it moves: tens of MiB a check.
                let end = memchr::memchr(b'\n', buf);
                let chunk = &buf[..end.unwrap_or(buf.len())];
                let room = TAIL_LINE_BYTES.saturating_sub(line.len());
                line.extend_from_slice(&chunk[..chunk.len().min(room)]);
                omitted += chunk.len().saturating_sub(room);
                let used = end.map_or(buf.len(), |at| at + 1);
                reader.consume(used);
                if end.is_some() {
                    tail.push(label, &line, omitted);
                    (line, omitted) = (Vec::new(), 0);
                }
            }
            if !line.is_empty() || omitted > 0 {
                tail.push(label, &line, omitted);
            }
            tail.state().open_streams -= 1;
            tail.0 .1.notify_all();
        });
    }

    /// Keeps one line (of which `omitted` bytes were dropped), forgetting the oldest beyond [`TAIL_LINES`].
    fn push(&self, label: &str, line: &[u8], omitted: usize) {
        let text = quote::neutralised(String::from_utf8_lossy(line).trim_end());
        let cut = if omitted > 0 {
            format!(" {}", quote::omitted(omitted))
        } else {
            String::new()
        };
        let mut state = self.state();
        if state.lines.len() == TAIL_LINES {
            state.lines.pop_front();
        }
        state.lines.push_back(format!("{label}: {text}{cut}"));
    }
}

/// A running target. Dropping it kills everything it spawned.
pub struct Target {
    /// The process forked: the target, or its supervisor (see `sys::Spawned`).
    child: Child,
    /// The target's process.
    pid: Pid,
    /// The processes around it, when it has a pid namespace.
    supervised: Option<Supervised>,
    program: String,
    cgroups: Cgroups,
    cleanup: Vec<PathBuf>,
    tail: Tail,
    status: Option<ExitStatus>,
    registration: u64,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The live targets, for the interrupt handler.
#[derive(Default)]
struct Registry {
    /// Live targets by registration number.
    targets: BTreeMap<u64, Remains>,
    /// The handler killed every target: none may start any more.
    closed: bool,
}

/// The registry. A target is started and registered under its lock, so the
/// handler, which closes it and takes the targets under the same lock, kills
/// every target that ever started. Lock order: this lock, then the fork lock
/// inside `spawn_limited`; no code holds `sys::no_fork()` (only the
/// in-process pipe checks take it) while it starts or kills a target.
fn live() -> MutexGuard<'static, Registry> {
    static LIVE: OnceLock<Mutex<Registry>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// What must go when a target goes.
#[derive(Clone)]
struct Remains {
    pgid: Pid,
    /// The supervisor and init of its pid namespace, if it has one: they
    /// go with it (the init's death kills everything in the namespace).
    supervised: Option<Supervised>,
    cgroups: Cgroups,
    paths: Vec<PathBuf>,
}

impl Remains {
    /// Kills every process of the target, reaps those that are our children,
    /// and removes its cgroup and paths.
    fn destroy(&self) {
        let mut members = observe::group_members(self.pgid);
        let keepers: Vec<Pid> = self
            .supervised
            .iter()
            .flat_map(|s| [s.init, s.supervisor])
            .collect();
        members.extend(&keepers);
        for round in 0..100 {
            let mut found = self.cgroups.members().unwrap_or_default();
            found.extend(observe::group_members(self.pgid));
            found.extend(&keepers);
            found.retain(|pid| !members.contains(pid) || observe::is_alive(*pid));
            // ESRCH: the group is already gone, which is what we want.
            let _ = killpg(self.pgid, Signal::SIGKILL);
            for &pid in &found {
                let _ = kill(pid, Signal::SIGKILL);
            }
            let known = members.len();
            members.extend(found.iter().copied());
            members.sort();
            members.dedup();
            // A dead member whose parent is a member still exiting comes to us
            // (a subreaper) a moment later, to be reaped: wait for it too.
            let pending = members.iter().any(|&pid| {
                observe::stat(pid).is_some_and(|s| {
                    !matches!(s.state, 'Z' | 'X' | 'x') || members.contains(&s.ppid)
                })
            });
            reap(&members);
            // A process forked just before the kill shows only in a look after
            // it: unless the group is already gone (ESRCH), look once more, and
            // stop when a look after a kill finds no one new.
            let new = members.len() > known
                || (round == 0 && killpg(self.pgid, None) != Err(nix::errno::Errno::ESRCH));
            if !pending && !new {
                break;
            }
            // Pacing only: SIGKILL is asynchronous and orphans reach us a moment later.
            std::thread::sleep(Duration::from_millis(2));
        }
        reap(&members);
        self.cgroups.remove();
        for path in &self.paths {
            let _ = if path.is_dir() {
                fs::remove_dir_all(path)
            } else {
                fs::remove_file(path)
            };
        }
    }
}

/// Reaps each of `pids` that is a dead child of ours; others are left alone.
fn reap(pids: &[Pid]) {
    for &pid in pids {
        let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
    }
}

/// Removes a cgroup whose members were killed. A killed task still counts
/// (`pids.current`) until it is reaped, and rmdir fails with EBUSY until then:
/// reap those that became our children, and wait for the rest to be released.
fn remove_cgroup(cgroup: &Path) {
    let name = cgroup
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let me = nix::unistd::getpid();
    let deadline = Instant::now() + Duration::from_secs(2);
    while fs::remove_dir(cgroup).is_err() && cgroup.exists() && Instant::now() < deadline {
        let ours: Vec<Pid> = observe::children(me)
            .into_iter()
            .filter(|s| s.state == 'Z')
            .filter(|s| {
                fs::read_to_string(format!("/proc/{}/cgroup", s.pid))
                    .is_ok_and(|groups| groups.lines().any(|l| l.ends_with(&format!("/{name}"))))
            })
            .map(|s| s.pid)
            .collect();
        reap(&ours);
        // Pacing only: the kernel releases killed tasks asynchronously.
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Where the v1 controllers are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The controllers a target gets a cgroup of.
const CONTROLLERS: [&str; 2] = ["pids", "memory"];

/// Removes the empty cgroups that ipcspec processes which are gone left
/// behind (e.g. a run killed by SIGKILL); once per process.
fn sweep_stale_cgroups() {
    static SWEPT: OnceLock<()> = OnceLock::new();
    SWEPT.get_or_init(|| {
        let roots = CONTROLLERS.map(|c| Path::new(CGROUP_ROOT).join(c));
        for entry in roots
            .iter()
            .filter_map(|root| fs::read_dir(root).ok())
            .flatten()
            .flatten()
        {
            let name = entry.file_name();
            let owner = name
                .to_str()
                .and_then(|n| n.strip_prefix("ipcspec-"))
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<i32>().ok());
            if owner.is_some_and(|pid| observe::stat(Pid::from_raw(pid)).is_none()) {
                // Fails, harmlessly, if something still lives in it.
                let _ = fs::remove_dir(entry.path());
            }
        }
    });
}

fn cgroup_members(cgroup: &Path) -> Option<Vec<Pid>> {
    let procs = fs::read_to_string(cgroup.join("cgroup.procs")).ok()?;
    Some(
        procs
            .lines()
            .filter_map(|l| l.trim().parse().ok().map(Pid::from_raw))
            .collect(),
    )
}

/// What a run does when it is stopped, given the means to kill every live
/// target; it returns what the run was doing ("during ID (LABEL)"), or nothing.
type InterruptHook = Box<dyn FnOnce(&dyn Fn()) -> Option<String> + Send>;

fn interrupt_hook() -> &'static Mutex<Option<InterruptHook>> {
    static HOOK: OnceLock<Mutex<Option<InterruptHook>>> = OnceLock::new();
    HOOK.get_or_init(Default::default)
}

/// Kills every live target and removes what they left.
fn kill_every_target() {
    let remains: Vec<Remains> = {
        let mut live = live();
        live.closed = true;
        live.targets.values().cloned().collect()
    };
    for r in remains {
        r.destroy();
    }
}

/// Set by the interrupt handler when it starts.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Once the interrupt handler has started, blocks for ever: the handler
/// ends the process (130) with the run's results so far, and what the
/// calling thread saw since then, such as a target dying of the handler's
/// kill ("exited at start"), is no result of the run. Otherwise returns.
pub fn wait_if_interrupted() {
    if INTERRUPTED.load(Ordering::SeqCst) {
        wait_for_interrupt_exit();
    }
}

/// For a run whose [`on_interrupt`] hook has taken over (it found the run
/// stopped): blocks until the handler, which is delivering the results,
/// ends the process. Returning instead could end it first, or write what
/// the handler writes a second time.
pub fn wait_for_interrupt_exit() -> ! {
    loop {
        std::thread::park();
    }
}

/// Sets what happens on Ctrl-C, SIGTERM or SIGHUP, in place of only killing
/// every live target: `hook` is handed the kill, to call once it has frozen
/// what it reports (so that no verdict is taken from a target the kill
/// ended), and then prints what the run found so far. The last hook set wins.
pub fn on_interrupt(hook: impl FnOnce(&dyn Fn()) -> Option<String> + Send + 'static) {
    *interrupt_hook().lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(hook));
}

/// On Ctrl-C, SIGTERM or SIGHUP: runs the hook set by [`on_interrupt`] (or
/// only kills every live target and removes what they left), then exits
/// with 130. Call once, early, from a binary. The handler runs on a thread
/// of its own (ctrlc's), not in signal context, so it may lock and print.
pub fn install_interrupt_handler() -> Result<(), ctrlc::Error> {
    ctrlc::set_handler(|| {
        // Before any target is killed: see `wait_if_interrupted`.
        INTERRUPTED.store(true, Ordering::SeqCst);
        let hook = interrupt_hook()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let during = match hook {
            Some(hook) => hook(&kill_every_target),
            None => {
                kill_every_target();
                None
            }
        };
        super::sandbox::release();
        let during = during.map(|d| format!(" {d}")).unwrap_or_default();
        eprintln!("ipcspec: interrupted{during}; every target was killed");
        std::process::exit(crate::report::ExitCode::Interrupted.into());
    })
}

/// A target's cgroups, each made for it alone and removed with it.
#[derive(Clone, Debug, Default)]
struct Cgroups {
    /// Its pids cgroup, which also tells its members.
    pids: Option<PathBuf>,
    /// Its memory cgroup.
    memory: Option<PathBuf>,
}

impl Cgroups {
    /// Fresh cgroups for target `id` under `limits`, in each v1 controller
    /// that is writable here, and their `cgroup.procs` files for the child to join.
    fn make(limits: &Limits, id: u64) -> (Cgroups, Vec<OwnedFd>) {
        let mut joins = Vec::new();
        let mut make = |controller: &str, file: &str, value: u64| {
            let (dir, procs) = make_cgroup(controller, file, value, id)?;
            joins.push(procs.into());
            Some(dir)
        };
        let cgroups = Cgroups {
            pids: make("pids", "pids.max", limits.processes),
            memory: make("memory", "memory.limit_in_bytes", limits.memory_total),
        };
        (cgroups, joins)
    }

    /// The processes in them, or `None` without a pids cgroup (or when its
    /// list cannot be read).
    fn members(&self) -> Option<Vec<Pid>> {
        self.pids.as_deref().and_then(cgroup_members)
    }

    /// Removes them, once their members were killed.
    fn remove(&self) {
        for cgroup in self.pids.iter().chain(&self.memory) {
            remove_cgroup(cgroup);
        }
    }
}

/// A fresh cgroup of the v1 `controller` with `file` set to `value`, if the
/// controller is writable; its directory and its open `cgroup.procs`.
fn make_cgroup(controller: &str, file: &str, value: u64, id: u64) -> Option<(PathBuf, fs::File)> {
    let root = Path::new(CGROUP_ROOT).join(controller);
    if !root.join("cgroup.procs").exists() {
        return None;
    }
    sweep_stale_cgroups();
    let dir = root.join(format!("ipcspec-{}-{id}", std::process::id()));
    fs::create_dir(&dir).ok()?;
    let procs = fs::write(dir.join(file), value.to_string()).and_then(|()| {
        fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
    });
    match procs {
        Ok(file) => Some((dir, file)),
        Err(_) => {
            let _ = fs::remove_dir(&dir);
            None
        }
    }
}

impl Target {
    /// Starts the target described by `config`.
    pub fn spawn(config: TargetConfig) -> Result<Target, TargetError> {
        let program = config.command.program.clone();
        let path = config.command.resolve()?;
        // Orphans of the target must come to us, to be reaped; see `Remains::destroy`.
        let _ = crate::sys::become_subreaper();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let sandbox = super::sandbox::current();
        let confinement = match sandbox {
            Some(sandbox) => Some(
                std::env::current_dir()
                    .and_then(|cwd| sandbox.confinement(&cwd, &path))
                    .map_err(|e| TargetError::setup("the target's sandbox", e))?,
            ),
            None => None,
        };
        let (cgroups, joins) = Cgroups::make(&config.limits, id);

        let mut command = Command::new(&path);
        command
            .arg0(&program)
            .args(&config.command.args)
            .envs(config.env.iter().map(|(k, v)| (k, v)))
            .process_group(0)
            .stdin(stdio(config.stdin))
            .stdout(stdio(config.stdout))
            .stderr(Stdio::piped());
        let l = config.limits;
        let limits = vec![
            (Resource::RLIMIT_AS, l.memory),
            (Resource::RLIMIT_CPU, l.cpu_seconds),
            (Resource::RLIMIT_NOFILE, l.open_files),
            (Resource::RLIMIT_FSIZE, l.file_size),
            (Resource::RLIMIT_NPROC, l.processes),
            (Resource::RLIMIT_CORE, 0),
        ];
        let setup = crate::sys::ChildSetup {
            limits,
            cgroups: joins,
            confinement,
        };
        let mut live = live();
        let spawned = if live.closed {
            Err(std::io::ErrorKind::Interrupted.into())
        } else {
            crate::sys::spawn_limited(&mut command, setup)
        };
        let crate::sys::Spawned {
            mut child,
            supervised,
        } = match spawned {
            Ok(spawned) => spawned,
            Err(error) => {
                cgroups.remove();
                return Err(match sandbox {
                    Some(sandbox) => TargetError::SpawnSandboxed {
                        program,
                        uid: sandbox.uid().as_raw(),
                        error,
                    },
                    None => TargetError::Spawn { program, error },
                });
            }
        };
        let pid = supervised.map_or(Pid::from_raw(child.id() as i32), |s| s.target);
        let registration = Remains {
            pgid: pid,
            supervised,
            cgroups: cgroups.clone(),
            paths: config.cleanup.clone(),
        };
        live.targets.insert(id, registration);
        drop(live);
        let tail = Tail::default();
        if let Some(stderr) = child.stderr.take() {
            tail.drain(stderr, "stderr");
        }
        if config.stdout == Stream::Capture {
            if let Some(stdout) = child.stdout.take() {
                tail.drain(stdout, "stdout");
            }
        }
        Ok(Target {
            child,
            pid,
            supervised,
            program,
            cgroups,
            cleanup: config.cleanup,
            tail,
            status: None,
            registration: id,
        })
    }

    /// The pid of the target's process (also its process-group ID).
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The target's pid as it and its processes call it: other than
    /// [`Target::pid`] when it has a pid namespace of its own.
    pub fn pid_inside(&self) -> Pid {
        match self.supervised {
            Some(_) => observe::innermost_pid(self.pid).unwrap_or(self.pid),
            None => self.pid,
        }
    }

    /// The pid here of the live process of the target that calls itself
    /// `inside` (a pid it reported, as a shell's stage reports its own).
    pub fn pid_here(&self, inside: Pid) -> Option<Pid> {
        match self.supervised {
            Some(_) => self
                .processes()
                .into_iter()
                .find(|&pid| observe::innermost_pid(pid) == Some(inside)),
            None => Some(inside),
        }
    }

    /// The program's name as given, for messages.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// Every live process of the target: its first process and their
    /// descendants, the orphans its pid namespace's init adopted, and the
    /// members of its pids cgroup, which every process it forks joins
    /// before it runs (`sys::spawn_limited`) and cannot leave, or without
    /// one the members of its process group. Descendants are listed even
    /// with a cgroup: a process leaves it early in its exit, before its
    /// parent is woken to reap it, and a parent asleep in `wait4`, or in
    /// `accept` with a `SIGCHLD` handler, is about to run. (The cgroup
    /// spares a scan of every process on the machine, twice a look.)
    pub fn processes(&self) -> Vec<Pid> {
        let mut pids = vec![self.pid()];
        pids.extend(observe::descendants(self.pid()));
        if let Some(supervised) = &self.supervised {
            pids.extend(observe::descendants(supervised.init));
        }
        match self.cgroups.members() {
            Some(members) => pids.extend(members),
            None => pids.extend(observe::group_members(self.pid())),
        }
        pids.sort();
        pids.dedup();
        pids.retain(|&p| observe::is_alive(p));
        pids
    }

    /// The target's stdin, if it was [`Stream::Piped`] and not yet taken.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// The target's stdout, if it was [`Stream::Piped`] and not yet taken.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// The last lines the target wrote to stderr (and stdout, when captured).
    pub fn output(&self) -> Vec<String> {
        self.tail.lines()
    }

    /// The last lines, once its captured streams closed (at most `bound` from now).
    pub fn final_output(&self, bound: Duration) -> Vec<String> {
        self.tail.wait_closed(bound);
        self.tail.lines()
    }

    /// The first process's exit status, if it has exited (reaps it).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits until the first process exits, at most `bound`.
    pub fn wait_exit(&mut self, bound: Duration) -> Option<ExitStatus> {
        // No portable way to wait on a child with a deadline: looks at waitpid.
        settle::wait(
            bound,
            &mut Bound(Shown::Nothing, Gaps::Steady(Duration::from_millis(1))),
            || self.try_status().map_or(Look::Waiting, Look::Done),
        )
        .ok()
    }

    /// Polls `ready` until it holds, failing if the target exits first or
    /// `bound` passes. `awaited` names the state for the error message.
    pub fn wait_ready(
        &mut self,
        awaited: &str,
        bound: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), TargetError> {
        let exited = settle::wait(
            bound,
            &mut Bound(Shown::Nothing, Gaps::Steady(Duration::from_millis(2))),
            || {
                if ready() {
                    return Look::Done(None);
                }
                self.try_status()
                    .map_or(Look::Waiting, |status| Look::Done(Some(status)))
            },
        );
        match exited {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                // Its last words may still be in the pipe; grandchildren may hold it open.
                self.tail.wait_closed(Duration::from_millis(200));
                Err(TargetError::ExitedAtStart {
                    program: self.program.clone(),
                    status: describe_status(status),
                    awaited: awaited.to_string(),
                    output: self.output(),
                })
            }
            Err(_) => Err(TargetError::NeverReady {
                program: self.program.clone(),
                awaited: awaited.to_string(),
                seconds: bound.as_secs_f64(),
                output: self.output(),
            }),
        }
    }

    /// Kills the target and everything it spawned; removes its cgroup and paths.
    pub fn kill(&mut self) {
        let remains = Remains {
            pgid: self.pid(),
            supervised: self.supervised,
            cgroups: std::mem::take(&mut self.cgroups),
            paths: std::mem::take(&mut self.cleanup),
        };
        remains.destroy();
        if self.status.is_none() {
            self.status = self.child.wait().ok();
        }
        live().targets.remove(&self.registration);
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.kill();
    }
}

fn stdio(stream: Stream) -> Stdio {
    match stream {
        Stream::Null => Stdio::null(),
        Stream::Capture | Stream::Piped => Stdio::piped(),
    }
}

/// An exit status in words, with a signal named and explained:
/// "killed by SIGPIPE (write on a pipe with no one to read)".
pub fn describe_status(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal().and_then(|s| Signal::try_from(s).ok()) {
        Some(signal) => {
            let why = match signal {
                Signal::SIGPIPE => " (write on a pipe or socket with no one to read)",
                Signal::SIGSEGV => " (invalid memory access)",
                Signal::SIGABRT => " (abort)",
                Signal::SIGKILL => " (killed, e.g. by a resource limit or a timeout)",
                Signal::SIGXCPU => " (CPU time limit exceeded)",
                Signal::SIGXFSZ => " (file size limit exceeded)",
                _ => "",
            };
            let core = if status.core_dumped() {
                ", core dumped"
            } else {
                ""
            };
            format!("killed by {}{why}{core}", signal.as_str())
        }
        None => format!("{status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> TargetConfig {
        TargetConfig::new(CommandSpec {
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
        })
    }

    #[test]
    fn kill_takes_grandchildren_that_left_the_group() {
        // The grandchild calls setsid to leave the process group.
        let mut target = Target::spawn(sh("setsid sleep 300 & sleep 300 & wait")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while target.processes().len() < 3 && Instant::now() < deadline {
            // Pacing only: each look at the process list is the observation.
            std::thread::sleep(Duration::from_millis(5));
        }
        let spawned = target.processes();
        target.kill();
        for pid in spawned {
            assert!(!observe::is_alive(pid), "{pid} survived the kill");
        }
    }

    #[test]
    fn kill_removes_the_cgroup_once_its_tasks_are_released() {
        let mut target = Target::spawn(sh("sleep 300 & sleep 300 & wait")).unwrap();
        // The machines ipcspec is tested on (see ci/setup.sh) have the v1 pids
        // controller; without it this test has nothing to check and must say so.
        // The machines ipcspec is tested on (see ci/setup.sh) have the v1 pids
        // and memory controllers; without them this test has nothing to check.
        let cgroups = target.cgroups.clone();
        let made = [("pids", &cgroups.pids), ("memory", &cgroups.memory)].map(|(name, dir)| {
            dir.clone().unwrap_or_else(|| {
                panic!("a {name} cgroup for the target: /sys/fs/cgroup/{name} must be writable")
            })
        });
        target.kill();
        for cgroup in made {
            assert!(!cgroup.exists(), "{} is left behind", cgroup.display());
        }
    }

    #[test]
    fn a_usage_error_is_reported_with_its_first_and_last_lines() {
        let mut target = Target::spawn(sh(
            "echo 'bad option -x' >&2; echo 'usage: it [-y]' >&2; exit 2",
        ))
        .unwrap();
        let err = target
            .wait_ready("reading its stdin", Duration::from_secs(5), || false)
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("bad option -x") && text.contains("usage: it [-y]"),
            "{text}"
        );
    }

    #[test]
    fn exiting_at_start_is_reported_with_last_words() {
        let mut target = Target::spawn(sh("echo cannot bind >&2; exit 3")).unwrap();
        let err = target
            .wait_ready("listening", Duration::from_secs(5), || false)
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("exit status 3") && text.contains("cannot bind"),
            "{text}"
        );
    }

    #[test]
    fn a_chatty_target_never_blocks_on_its_output() {
        let mut target = Target::spawn(sh("yes line | head -c 2000000; echo done")).unwrap();
        let status = target
            .wait_exit(Duration::from_secs(20))
            .expect("it must finish");
        assert!(status.success());
        let output = target.final_output(Duration::from_secs(5));
        assert!(
            output.last().is_some_and(|l| l.ends_with("done")),
            "{output:?}"
        );
    }

    #[test]
    fn signals_are_named_in_statuses() {
        let mut target = Target::spawn(sh("kill -PIPE $$")).unwrap();
        let status = target.wait_exit(Duration::from_secs(5)).unwrap();
        assert_eq!(
            describe_status(status),
            "killed by SIGPIPE (write on a pipe or socket with no one to read)"
        );
    }
}
