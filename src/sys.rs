//! The crate's only `unsafe` code: safe wrappers over calls the safe crates
//! leave unsafe, each `unsafe` block with the reason it is sound.
//!
//! The rest of the library denies `unsafe_code` (`lib.rs`), and the binary
//! forbids it. Forking goes through [`fork_run`], [`sigpipe_writer`] and
//! [`spawn_limited`], which all take one fork lock exclusively; code whose
//! descriptors no forked child may copy (a check that waits for EOF on its
//! own pipe) holds it shared through [`no_fork`].

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::panic::AssertUnwindSafe;
use std::process::{Child, Command};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use nix::errno::Errno;
use nix::sys::resource::Resource;
use nix::sys::signal::{self, SigHandler, Signal};
use nix::unistd::{ForkResult, Pid};

/// A fork copies every descriptor of the process into the child, which
/// would keep other threads' pipe and socket ends open behind their backs
/// until it execs or exits. Every fork of the crate holds this lock
/// exclusively; [`no_fork`] holds it shared.
static FORK_LOCK: RwLock<()> = RwLock::new(());

/// `no_fork()`—while the guard lives, no fork of this crate happens: held
/// by code whose descriptors no child may copy (a pipe check that waits
/// for the EOF of a write end it closed).
pub fn no_fork() -> RwLockReadGuard<'static, ()> {
    FORK_LOCK.read().unwrap_or_else(PoisonError::into_inner)
}

/// Held across one fork, until the child is running on its own.
fn forking() -> RwLockWriteGuard<'static, ()> {
    FORK_LOCK.write().unwrap_or_else(PoisonError::into_inner)
}

/// `fork_run()`—runs `child` in a forked child process, which then
/// `_exit`s with the code `child` returned (101 if it panicked); returns
/// the child's pid to the parent, which must wait for it.
///
/// In a process with more than one thread, `child` should make only
/// async-signal-safe calls (`read`, `write`, `close`, `sigaction`, ...; see
/// signal-safety(7)): a lock another thread held at the fork stays held in
/// the child, so taking it (`println!`, a `Mutex`) deadlocks the child,
/// which its parent then sees as a child that never ends. The child never
/// returns into the caller's code, even by panicking.
///
/// # References
/// - [fork(2)](https://man7.org/linux/man-pages/man2/fork.2.html), [_exit(2)](https://man7.org/linux/man-pages/man2/_exit.2.html), [signal-safety(7)](https://man7.org/linux/man-pages/man7/signal-safety.7.html)
pub fn fork_run(child: impl FnOnce() -> i32) -> nix::Result<Pid> {
    let _forking = forking();
    // SAFETY: the child runs only `child` and then `_exit`s: it never
    // returns into code that assumes the parent's other threads still run.
    // What `child` may not do is documented above; the allocator is fork-safe
    // (glibc resets its locks in the child), so the failure left is a
    // deadlock, which is not undefined behaviour.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => {
            let code = std::panic::catch_unwind(AssertUnwindSafe(child)).unwrap_or(101);
            exit_now(code)
        }
        ForkResult::Parent { child } => Ok(child),
    }
}

/// The stack of a [`spawn_detached`] thread: what std gives its threads.
/// `pthread_create`'s default follows `ulimit -s`, which may be far larger,
/// and every thread's stack counts against a target's address-space limit.
const DETACHED_STACK: usize = 2 << 20;

/// `spawn_detached()`—runs `work` on a new detached thread, made by
/// `pthread_create` as a C server makes one, with a [`DETACHED_STACK`]; a
/// panic in `work` ends that thread only.
///
/// `std::thread::spawn` also maps a signal stack for every thread (unmapped
/// when the thread ends) and allocates a handle and a result slot: for a
/// thread per short connection, enough to cost the reference thread server
/// a fifth of its connection rate against C's (`cargo bench --bench
/// compare`). A stack overflow on such a thread is a plain `SIGSEGV`,
/// without std's message.
///
/// # References
/// - [pthread_create(3)](https://man7.org/linux/man-pages/man3/pthread_create.3.html), [pthread_attr_init(3)](https://man7.org/linux/man-pages/man3/pthread_attr_init.3.html)
pub fn spawn_detached<F: FnOnce() + Send + 'static>(work: F) -> io::Result<()> {
    extern "C" fn start<F: FnOnce() + Send + 'static>(
        work: *mut libc::c_void,
    ) -> *mut libc::c_void {
        // SAFETY: `work` is the `Box<F>` that `spawn_detached` leaked for
        // this thread alone, and it is taken back exactly once, here.
        let work = unsafe { Box::from_raw(work.cast::<F>()) };
        // Unwinding out of an `extern "C"` function would abort the process.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(work));
        std::ptr::null_mut()
    }
    let mut attributes = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: `pthread_attr_init` initialises the attributes it is given,
    // which are only set, used and destroyed after it.
    unsafe {
        libc::pthread_attr_init(attributes.as_mut_ptr());
        libc::pthread_attr_setstacksize(attributes.as_mut_ptr(), DETACHED_STACK);
        libc::pthread_attr_setdetachstate(attributes.as_mut_ptr(), libc::PTHREAD_CREATE_DETACHED);
    }
    let work = Box::into_raw(Box::new(work));
    let mut thread = std::mem::MaybeUninit::<libc::pthread_t>::uninit();
    // SAFETY: `start::<F>` matches the start routine's C signature and is
    // handed the leaked box it expects; the attributes are initialised.
    let error = unsafe {
        libc::pthread_create(
            thread.as_mut_ptr(),
            attributes.as_ptr(),
            start::<F>,
            work.cast(),
        )
    };
    // SAFETY: initialised above, and no longer needed once the thread is made.
    unsafe { libc::pthread_attr_destroy(attributes.as_mut_ptr()) };
    if error != 0 {
        // SAFETY: no thread was made, so nothing else took the box back.
        drop(unsafe { Box::from_raw(work) });
        return Err(io::Error::from_raw_os_error(error));
    }
    Ok(())
}

/// `release_free_heap()`—gives the kernel back the pages of the heap that
/// hold no live allocation.
///
/// A fork copies the page-table entry of every anonymous page the parent
/// has touched, and the child's exit drops them again: a server that forks
/// per connection pays for whatever its start-up (parsing the command
/// line) allocated and freed, on every connection, unless it releases it
/// first.
///
/// # References
/// - [malloc_trim(3)](https://man7.org/linux/man-pages/man3/malloc_trim.3.html)
pub fn release_free_heap() {
    // SAFETY: malloc_trim only returns free memory of glibc's allocator to
    // the kernel; every live allocation stays where it is.
    unsafe { libc::malloc_trim(0) };
}

/// How a [`sigpipe_writer`] child exits when its write failed with `EPIPE`.
pub const WRITER_EPIPE: i32 = 3;
/// How a [`sigpipe_writer`] child exits when a write failed otherwise than
/// with `EPIPE`, `ECONNRESET` (a socket's peer reset, reported once) or
/// `EINTR`, or when it could not set its `SIGPIPE` action.
pub const WRITER_FAILED: i32 = 4;

/// `sigpipe_writer()`—forks a child that closes every descriptor but 0, 1,
/// 2 and `fd`, sets `disposition` for `SIGPIPE` and writes on `fd`, a pipe
/// or socket whose reader is gone, until a write fails: it is killed by
/// `SIGPIPE`, or exits [`WRITER_EPIPE`] or [`WRITER_FAILED`]. Returns the
/// child's pid, for the caller to wait for.
///
/// # References
/// - [pipe(7), "I/O on pipes and FIFOs"](https://man7.org/linux/man-pages/man7/pipe.7.html), [send(2)](https://man7.org/linux/man-pages/man2/send.2.html) (`EPIPE`)
/// - [close_range(2)](https://man7.org/linux/man-pages/man2/close_range.2.html)
pub fn sigpipe_writer(fd: BorrowedFd<'_>, disposition: SigpipeDisposition) -> nix::Result<Pid> {
    // Prepared before the fork: the child allocates nothing.
    let block = [b'x'; 4096];
    let raw = fd.as_raw_fd() as libc::c_uint;
    fork_run(|| {
        // SAFETY: close_range(2) only closes descriptors of this child; none
        // but `fd` is used from here on, and closing runs no code in it.
        unsafe {
            libc::close_range(3, raw.saturating_sub(1), 0);
            libc::close_range(raw + 1, libc::c_uint::MAX, 0);
        }
        if set_sigpipe(disposition).is_err() {
            return WRITER_FAILED;
        }
        loop {
            match nix::unistd::write(fd, &block) {
                Ok(_) | Err(Errno::EINTR | Errno::ECONNRESET) => {}
                Err(Errno::EPIPE) => return WRITER_EPIPE,
                Err(_) => return WRITER_FAILED,
            }
        }
    })
}

/// How this process treats `SIGPIPE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigpipeDisposition {
    /// The default action: the process dies when it writes to a pipe or socket with no reader.
    Default,
    /// Ignored: the write fails with `EPIPE` instead.
    Ignore,
}

/// Sets the process-wide disposition of `SIGPIPE`.
///
/// # References
/// - [sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html)
pub fn set_sigpipe(disposition: SigpipeDisposition) -> nix::Result<()> {
    let handler = match disposition {
        SigpipeDisposition::Default => SigHandler::SigDfl,
        SigpipeDisposition::Ignore => SigHandler::SigIgn,
    };
    // SAFETY: SIG_DFL and SIG_IGN are not handlers, so no code runs in signal context.
    unsafe { signal::signal(Signal::SIGPIPE, handler) }.map(drop)
}

/// Ignores `SIGCHLD`, so that the kernel reaps this process's children as
/// they exit and none is left a zombie for want of a `wait`.
///
/// # References
/// - [sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html) (`SIGCHLD` set to `SIG_IGN`), [wait(2)](https://man7.org/linux/man-pages/man2/wait.2.html)
pub fn ignore_sigchld() -> nix::Result<()> {
    // SAFETY: SIG_IGN is not a handler, so no code runs in signal context.
    unsafe { signal::signal(Signal::SIGCHLD, SigHandler::SigIgn) }.map(drop)
}

/// Makes this process the reaper of its orphaned descendants, so that a
/// killed target's grandchildren become our children and can be reaped
/// rather than left as zombies of an init that may not reap.
///
/// # References
/// - [prctl(2) `PR_SET_CHILD_SUBREAPER`](https://man7.org/linux/man-pages/man2/prctl.2.html)
pub fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// What a target's process does between its fork and its exec, all of it
/// prepared before the fork: no step allocates.
pub struct ChildSetup {
    /// Limits to set, soft = hard.
    pub limits: Vec<(Resource, u64)>,
    /// The `cgroup.procs` files of the cgroups to join.
    pub cgroups: Vec<OwnedFd>,
    /// The sandbox to enter, last, if any.
    pub confinement: Option<Confinement>,
}

/// A target's sandbox, as [`ChildSetup`] enters it: with `mounts`, mount
/// and IPC namespaces of its own; with `user`, another user and no
/// supplementary groups; with `pid_namespace`, a pid namespace of its own;
/// always `no_new_privs`. The network namespace is the checker's own
/// ([`enter_private_network`]), entered before any target starts.
pub struct Confinement {
    /// The filesystem the target sees, if it gets a mount namespace.
    pub mounts: Option<MountPlan>,
    /// The user and group to become (a root checker's targets); `None`
    /// keeps the checker's, in the user namespace the checker made, whose
    /// capabilities the target's exec then drops (its uid there is not 0).
    pub user: Option<(u32, u32)>,
    /// Whether the target runs in a pid namespace of its own, under an
    /// init that reaps its orphans: then it can name no process outside,
    /// so it cannot signal its checker even with the checker's uid. See
    /// [`Spawned::supervised`].
    pub pid_namespace: bool,
}

/// The filesystem of a confined target: the hidden directories empty,
/// everything but its scratch directory read-only.
pub struct MountPlan {
    /// Directories to cover with an empty tmpfs, none inside another.
    pub hidden: Vec<CString>,
    /// Directories inside hidden ones that must stay visible where they are.
    pub revealed: Vec<Reveal>,
    /// The one mount left writable (the scratch tmpfs).
    pub writable: CString,
}

/// A directory shown again inside a hidden one, where it is.
pub struct Reveal {
    /// The directories to create inside the hiding tmpfs, outermost first,
    /// the last of them the directory itself.
    pub path: Vec<CString>,
    /// The directory, opened before it was hidden.
    opened: Option<OwnedFd>,
}

impl Reveal {
    /// Shows the last of `path` again, creating the ones before it.
    pub fn new(path: Vec<CString>) -> Reveal {
        Reveal { path, opened: None }
    }
}

/// `spawn_limited()`—spawns `command` under the fork lock, its child
/// joining the cgroups, setting the limits and entering the confinement
/// of `setup` between fork and exec (with a pid namespace, the child
/// forked becomes the target's supervisor: see [`Spawned`]).
///
/// # References
/// - [setrlimit(2)](https://man7.org/linux/man-pages/man2/setrlimit.2.html)
/// - [cgroups(7), "cgroup.procs"](https://man7.org/linux/man-pages/man7/cgroups.7.html)
/// - [unshare(2)](https://man7.org/linux/man-pages/man2/unshare.2.html), [mount(2)](https://man7.org/linux/man-pages/man2/mount.2.html), [mount_setattr(2)](https://man7.org/linux/man-pages/man2/mount_setattr.2.html)
/// - [setresuid(2)](https://man7.org/linux/man-pages/man2/setresuid.2.html), [prctl(2) `PR_SET_NO_NEW_PRIVS`](https://man7.org/linux/man-pages/man2/prctl.2.html)
pub fn spawn_limited(command: &mut Command, setup: ChildSetup) -> io::Result<Spawned> {
    let mut setup = setup;
    // The pid report is made under the fork lock: a child forked by another
    // thread meanwhile would hold its write end, and the read below wait for it.
    let _forking = forking();
    let supervised = setup.confinement.as_ref().is_some_and(|c| c.pid_namespace);
    let report = match supervised {
        true => Some(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?),
        false => None,
    };
    let report_to = report.as_ref().map(|(_, write)| write.as_raw_fd());
    let hook = move || -> io::Result<()> {
        for fd in &setup.cgroups {
            // Writing "0" moves the writing process into the cgroup.
            nix::unistd::write(fd, b"0")?;
        }
        for &(resource, value) in &setup.limits {
            nix::sys::resource::setrlimit(resource, value, value)?;
        }
        if let Some(confinement) = &mut setup.confinement {
            confine(confinement, report_to)?;
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec; it only makes
    // system calls (write(2), setrlimit(2), and those of `confine`, each a
    // plain system call, async-signal-safe, fork(2) and waitpid(2)
    // included) on data prepared before the fork, and allocates nothing
    // (`CStr` paths go to the kernel as they are).
    unsafe { command.pre_exec(hook) };
    // A hook makes the standard library fork rather than spawn: the child
    // holds copies of every descriptor until its exec.
    let spawned = command.spawn();
    let Some((read, write)) = report else {
        return spawned.map(|child| Spawned {
            child,
            supervised: None,
        });
    };
    drop(write);
    let pids = read_pid_report(read);
    match (spawned, pids) {
        (Ok(child), Some((init, target))) => Ok(Spawned {
            supervised: Some(Supervised {
                target,
                supervisor: Pid::from_raw(child.id() as i32),
                init,
            }),
            child,
        }),
        (spawned, pids) => {
            // The target's own set-up failed after its supervisor started:
            // the init would wait on, alone, for ever.
            if let Some((init, _)) = pids {
                let _ = signal::kill(init, Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(init, None);
            }
            let mut child = spawned?;
            let _ = child.kill();
            let _ = child.wait();
            Err(io::Error::other("the target's supervisor reported no pids"))
        }
    }
}

/// A target [`spawn_limited`] started.
pub struct Spawned {
    /// The process forked: the target, or its supervisor when it has a pid
    /// namespace, which exits as the target does (its code, or killed by
    /// its signal) and holds none of its descriptors.
    pub child: Child,
    /// With a pid namespace, the processes around the target.
    pub supervised: Option<Supervised>,
}

/// The processes of a target's pid namespace besides the target, by their
/// pids here. The target is in a process group of its own; the supervisor
/// and the init are not in it, so a target that signals its own group
/// (`kill(0, ...)`) reaches neither.
#[derive(Clone, Copy, Debug)]
pub struct Supervised {
    /// The target, the supervisor's child (pid 2 in its namespace).
    pub target: Pid,
    /// The supervisor: the child forked, outside the namespace.
    pub supervisor: Pid,
    /// The namespace's init (pid 1 in it): it reaps the target's orphans,
    /// and when it is killed the kernel kills everything in the namespace.
    pub init: Pid,
}

/// Reads the pids a supervisor wrote, (init, target), if it wrote them.
fn read_pid_report(read: OwnedFd) -> Option<(Pid, Pid)> {
    let mut bytes = [0u8; 8];
    let mut got = 0;
    while got < bytes.len() {
        match nix::unistd::read(&read, &mut bytes[got..]) {
            Ok(0) => return None,
            Ok(n) => got += n,
            Err(Errno::EINTR) => {}
            Err(_) => return None,
        }
    }
    let pid = |at: usize| {
        let mut raw = [0u8; 4];
        raw.copy_from_slice(&bytes[at..at + 4]);
        Pid::from_raw(i32::from_ne_bytes(raw))
    };
    Some((pid(0), pid(4)))
}

/// Enters `c` in a forked child: see [`Confinement`]. With a pid
/// namespace, returns only in the target's process, which the forked child
/// started and now supervises (see [`supervise`]); `report_to` is where
/// the supervisor writes the pids.
fn confine(c: &mut Confinement, report_to: Option<std::os::fd::RawFd>) -> io::Result<()> {
    if let (true, Some(fd)) = (c.pid_namespace, report_to) {
        supervise(fd)?;
    }
    if let Some(plan) = &mut c.mounts {
        mount_as_planned(plan, c.pid_namespace)?;
    }
    if let Some((uid, gid)) = c.user {
        nix::unistd::setgroups(&[])?;
        let gid = nix::unistd::Gid::from_raw(gid);
        nix::unistd::setresgid(gid, gid, gid)?;
        let uid = nix::unistd::Uid::from_raw(uid);
        nix::unistd::setresuid(uid, uid, uid)?;
    }
    nix::sys::prctl::set_no_new_privs()?;
    Ok(())
}

/// In the forked child: makes a pid namespace, forks its init (which
/// reaps orphans until it is killed) and the target into it, writes their
/// pids to `report_to` and becomes the target's supervisor, which never
/// returns; returns in the target, in a process group of its own.
///
/// The target is not the init: an init ignores every signal it has no
/// handler for (even a `SIGPIPE` from its own write), which would change
/// the behaviour under test.
///
/// # References
/// - [pid_namespaces(7)](https://man7.org/linux/man-pages/man7/pid_namespaces.7.html), [unshare(2) `CLONE_NEWPID`](https://man7.org/linux/man-pages/man2/unshare.2.html)
fn supervise(report_to: std::os::fd::RawFd) -> io::Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID)?;
    // SAFETY: this process is a child forked from a threaded one and runs
    // only async-signal-safe calls from here on; so do both children, and
    // the init never returns from `reap_orphans`.
    let init = match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => reap_orphans(),
        ForkResult::Parent { child } => child,
    };
    // SAFETY: as above; the target goes on with the rest of the hook and execs.
    let target = match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => {
            nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
            return Ok(());
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => {
            let _ = signal::kill(init, Signal::SIGKILL);
            return Err(e.into());
        }
    };
    let mut pids = [0u8; 8];
    pids[..4].copy_from_slice(&init.as_raw().to_ne_bytes());
    pids[4..].copy_from_slice(&target.as_raw().to_ne_bytes());
    // SAFETY: `report_to` is the pipe's write end, open in this process
    // (inherited from the fork) until the close_range below.
    let report = unsafe { BorrowedFd::borrow_raw(report_to) };
    let _ = nix::unistd::write(report, &pids);
    exit_as(target)
}

/// The supervisor's life: holding no descriptor of the target's (its
/// pipes must reach EOF without it), it waits for `target` and ends as it
/// did: the same exit code, or killed by the same signal.
fn exit_as(target: Pid) -> ! {
    use nix::sys::wait::WaitStatus;
    // SAFETY: closes only this process's descriptors, none used afterwards.
    unsafe { libc::close_range(0, libc::c_uint::MAX, 0) };
    // Named for `ps` and the target's /proc: no longer the checker.
    let _ = nix::sys::prctl::set_name(c"ipcspec-watch");
    loop {
        // Any child: the init, if it dies first, is reaped here.
        match nix::sys::wait::waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == target => exit_now(code),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == target => {
                // SAFETY: SIG_DFL is not a handler: no code runs in signal context.
                let _ = unsafe { signal::signal(signal, SigHandler::SigDfl) };
                let mut only = signal::SigSet::empty();
                only.add(signal);
                let _ = only.thread_unblock();
                let _ = signal::raise(signal);
                exit_now(128 + signal as i32)
            }
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => exit_now(127),
        }
    }
}

/// A pid namespace's init: holding no descriptor, it reaps whatever child
/// it gets (orphans of the target's processes) until it is killed.
fn reap_orphans() -> ! {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    // SAFETY: closes only this process's descriptors, none used afterwards.
    unsafe { libc::close_range(0, libc::c_uint::MAX, 0) };
    let _ = nix::sys::prctl::set_name(c"ipcspec-init");
    // Blocked, SIGCHLD stays pending for sigwait even where it is ignored
    // by default: an orphan dying between the reaping and the wait is not missed.
    let mut child_died = signal::SigSet::empty();
    child_died.add(Signal::SIGCHLD);
    let _ = child_died.thread_block();
    loop {
        while matches!(
            waitpid(None, Some(WaitPidFlag::WNOHANG)),
            Ok(status) if status != WaitStatus::StillAlive
        ) {}
        let _ = child_died.wait();
    }
}

/// Ends this forked process at once with `code`.
fn exit_now(code: i32) -> ! {
    // SAFETY: _exit(2) ends the process at once, running none of the
    // parent's exit handlers and flushing none of its copied buffers.
    unsafe { libc::_exit(code) }
}

/// Gives a forked child the filesystem `plan` describes, in mount and IPC
/// namespaces of its own; with `own_proc`, a `/proc` of the pid namespace
/// it is in, so that only that namespace's processes show there.
///
/// # References
/// - [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html), [pid_namespaces(7), "/proc and PID namespaces"](https://man7.org/linux/man-pages/man7/pid_namespaces.7.html)
fn mount_as_planned(plan: &mut MountPlan, own_proc: bool) -> io::Result<()> {
    use nix::fcntl::OFlag;
    use nix::mount::{mount, MsFlags};
    use nix::sched::{unshare, CloneFlags};
    use nix::sys::stat::Mode;
    const NONE: Option<&CStr> = None;
    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWIPC)?;
    // What this namespace mounts stays in it.
    mount(
        NONE,
        c"/",
        NONE,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        NONE,
    )?;
    // Opened here, in the new namespace: a mount of another cannot be bound.
    for reveal in &mut plan.revealed {
        if let Some(dir) = reveal.path.last() {
            let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
            reveal.opened = Some(nix::fcntl::open(dir.as_c_str(), flags, Mode::empty())?);
        }
    }
    for dir in &plan.hidden {
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let options = Some(c"size=64k,mode=755");
        mount(
            Some(c"tmpfs"),
            dir.as_c_str(),
            Some(c"tmpfs"),
            flags,
            options,
        )?;
    }
    for reveal in &plan.revealed {
        for dir in &reveal.path {
            match nix::unistd::mkdir(dir.as_c_str(), Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let (Some(place), Some(opened)) = (reveal.path.last(), &reveal.opened) {
            let mut buffer = [0; 32];
            let source = descriptor_path(opened.as_raw_fd(), &mut buffer);
            let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
            mount(Some(source), place.as_c_str(), NONE, flags, NONE)?;
        }
    }
    if own_proc {
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some(c"proc"), c"/proc", Some(c"proc"), flags, NONE)?;
    }
    set_mount_read_only(c"/", true, true)?;
    set_mount_read_only(&plan.writable, false, false)?;
    Ok(())
}

/// `/proc/self/fd/FD`, written into `buffer` without allocating: a path
/// that reaches the descriptor's file even where a mount covers its own path.
fn descriptor_path(fd: std::os::fd::RawFd, buffer: &mut [u8; 32]) -> &CStr {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buffer[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 10];
    let mut count = 0;
    let mut rest = fd.unsigned_abs();
    loop {
        digits[count] = b'0' + (rest % 10) as u8;
        count += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for (slot, digit) in buffer[PREFIX.len()..]
        .iter_mut()
        .zip(digits[..count].iter().rev())
    {
        *slot = *digit;
    }
    buffer[PREFIX.len() + count] = 0;
    CStr::from_bytes_until_nul(&buffer[..]).unwrap_or(c"/")
}

/// Makes the mount at `path` (and, if `recursive`, every mount below it)
/// read-only or writable.
///
/// # References
/// - [mount_setattr(2)](https://man7.org/linux/man-pages/man2/mount_setattr.2.html)
fn set_mount_read_only(path: &CStr, read_only: bool, recursive: bool) -> nix::Result<()> {
    let (set, clear) = if read_only {
        (libc::MOUNT_ATTR_RDONLY, 0)
    } else {
        (0, libc::MOUNT_ATTR_RDONLY)
    };
    let attr = libc::mount_attr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: `path` is a NUL-terminated string and `attr` a `mount_attr`,
    // both alive for the call, whose size is passed with it; the kernel only reads them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    Errno::result(rc).map(drop)
}

/// The buckets of a private network namespace's table of TCP connections:
/// room for the thousands a check makes (a chain per bucket holds the rest).
const PRIVATE_TCP_BUCKETS: u32 = 4096;

/// The most a TCP socket's send or receive buffer grows to in a private
/// network namespace (the kernel's defaults: 4 and 6 MiB). Checks that
/// must fill every buffer between a client and a server send more than
/// they hold (`target::net::more_than_buffers`): 5 MiB with this cap, 21
/// without, which made filling them most of a server check's work. What
/// a correct program does never depends on how large the buffers are.
const PRIVATE_TCP_BUFFER_MOST: usize = 1 << 20;

/// `enter_private_network()`—moves the calling thread into a new network
/// namespace in which only the loopback interface exists, up. Threads it
/// starts afterwards, and children, are in it too; other threads are not,
/// so a process calls it while it has one thread, or a thread to give
/// what it runs a namespace of its own.
///
/// The namespace has a table of TCP connections of its own, of
/// [`PRIVATE_TCP_BUCKETS`] buckets, where the kernel allows it (Linux 6.1,
/// `tcp_child_ehash_entries`, set in an intermediate namespace made for
/// it): otherwise it shares the machine's (262144 buckets here), which
/// every read of `/proc/net/tcp` walks whole, page after page, however few
/// sockets the namespace has. Its TCP buffers grow to at most
/// [`PRIVATE_TCP_BUFFER_MOST`] each.
///
/// # References
/// - [network_namespaces(7)](https://man7.org/linux/man-pages/man7/network_namespaces.7.html), [netdevice(7) `SIOCSIFFLAGS`](https://man7.org/linux/man-pages/man7/netdevice.7.html)
/// - [ip-sysctl, `tcp_child_ehash_entries`](https://docs.kernel.org/networking/ip-sysctl.html)
pub fn enter_private_network() -> io::Result<()> {
    const TIME_WAIT_MOST: &str = "/proc/sys/net/ipv4/tcp_max_tw_buckets";
    let time_wait_most = std::fs::read_to_string(TIME_WAIT_MOST);
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
    let own_table = std::fs::write(
        "/proc/sys/net/ipv4/tcp_child_ehash_entries",
        PRIVATE_TCP_BUCKETS.to_string(),
    );
    if own_table.is_ok() {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
        // A table of its own also caps TIME_WAIT connections at half its
        // buckets: past that, closed connections would skip TIME_WAIT,
        // which `server.startup.restart-on-same-port` needs to see.
        if let Ok(most) = time_wait_most {
            std::fs::write(TIME_WAIT_MOST, most.trim())?;
        }
    }
    // Only a saving: refused, the floods are sized from what is there.
    for buffers in ["/proc/sys/net/ipv4/tcp_rmem", "/proc/sys/net/ipv4/tcp_wmem"] {
        if let Ok(sizes) = std::fs::read_to_string(buffers) {
            let mut sizes: Vec<&str> = sizes.split_whitespace().collect();
            let most = PRIVATE_TCP_BUFFER_MOST.to_string();
            if let Some(last) = sizes.last_mut() {
                *last = &most;
            }
            let _ = std::fs::write(buffers, sizes.join(" "));
        }
    }
    let socket = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: `ifreq` is plain old data; all-zero is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    request.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: the socket is open, and SIOCSIFFLAGS reads one `ifreq`
    // through the pointer, which points at `request`.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) };
    Errno::result(rc)?;
    Ok(())
}

static SIGPIPE_IGNORED_AT_EXEC: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Runs from `.init_array`, before Rust's runtime sets `SIGPIPE` to ignored,
/// to record the disposition this process inherited across `execve`.
extern "C" fn record_sigpipe_at_exec() {
    // SAFETY: `sigaction` is plain old data; all-zero is a valid value.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `old`.
    let rc = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) };
    SIGPIPE_IGNORED_AT_EXEC.store(
        rc == 0 && old.sa_sigaction == libc::SIG_IGN,
        std::sync::atomic::Ordering::Relaxed,
    );
}

#[used]
#[link_section = ".init_array"]
static RECORD_SIGPIPE_AT_EXEC: extern "C" fn() = record_sigpipe_at_exec;

/// Whether `SIGPIPE` was ignored when this program was started, i.e. what its
/// parent left it (Rust's runtime ignores it later, before `main`).
///
/// # References
/// - [execve(2)](https://man7.org/linux/man-pages/man2/execve.2.html): ignored signals stay ignored across exec
pub fn sigpipe_ignored_at_exec() -> bool {
    SIGPIPE_IGNORED_AT_EXEC.load(std::sync::atomic::Ordering::Relaxed)
}

/// `unread_bytes()`—the bytes written into the pipe `fd` and not yet read
/// (`FIONREAD`, which Linux answers on either end of a pipe: the writer
/// learns how much its reader has taken).
///
/// # References
/// - [ioctl(2)](https://man7.org/linux/man-pages/man2/ioctl.2.html),
///   [pipe(7)](https://man7.org/linux/man-pages/man7/pipe.7.html); Linux `fs/pipe.c`, `pipe_ioctl`
pub fn unread_bytes(fd: std::os::fd::BorrowedFd<'_>) -> nix::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut count: libc::c_int = 0;
    // SAFETY: `fd` is open for the borrow's lifetime, and FIONREAD writes one
    // `int` through the pointer, which points at `count`.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut count) };
    nix::errno::Errno::result(rc)?;
    Ok(usize::try_from(count).unwrap_or(0))
}
