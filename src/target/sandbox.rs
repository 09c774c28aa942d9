//! The sandbox a checker puts around every target it starts, so that code
//! nobody has read can be checked as root without reaching past its check.
//!
//! [`enter`] is called once, while the checker still has one thread, and
//! sets up what all of its targets share:
//! - a **network namespace** with loopback alone, which the checker's own
//!   clients, servers and `/proc/net` observations live in too: a target
//!   reaches nothing but the check ([network_namespaces(7)]);
//! - a **mount namespace** for the checker, in which a size-bounded tmpfs,
//!   the *scratch*, holds every temp file of the run (the checker's
//!   `TMPDIR` and the targets'); it vanishes with the checker, even a
//!   killed one;
//! - an **identity** for the targets that cannot reach the checker: for a
//!   root checker, a uid and gid of their own (derived from the checker's
//!   pid, so concurrent checkers differ), never the checker's; otherwise
//!   the checker's own, in a user namespace ([user_namespaces(7)]) the
//!   checker enters first, with a pid namespace per target (see [`Identity`]).
//!
//! Each target then starts ([`Sandbox::confinement`], entered by
//! `sys::spawn_limited` between fork and exec) in mount and IPC namespaces
//! of its own where the whole filesystem is read-only except the scratch,
//! the [hidden](Sandbox::hidden) directories (the other submissions, the
//! reports) are empty, and it runs with that identity and `no_new_privs`:
//! it cannot signal or trace the checker, write outside the scratch, or
//! keep SysV IPC objects beyond its life. Memory and process counts are
//! bounded by its cgroups when the checker is root (see
//! [`super::process`]), by rlimits otherwise.
//!
//! What it does not guarantee: protection from kernel exploits, or from a
//! target that exhausts the CPU (bounded by `RLIMIT_CPU` and the check's
//! timeouts only). [`Mode::Auto`] keeps whichever layers the kernel grants
//! (inside Docker without `CAP_SYS_ADMIN`, only the user) and says which
//! are off; [`Mode::Strict`] refuses to run without all of them.
//!
//! [network_namespaces(7)]: https://man7.org/linux/man-pages/man7/network_namespaces.7.html
//! [user_namespaces(7)]: https://man7.org/linux/man-pages/man7/user_namespaces.7.html

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::unistd::{Gid, Uid};

use crate::sys::{Confinement, MountPlan, Reveal};

/// How much a check sandboxes its targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// No sandbox: targets run as the checker's user, in its network and filesystem.
    None,
    /// Every layer the kernel grants; those it refuses are named on stderr.
    #[default]
    Auto,
    /// Every layer, or no check at all (exit 2).
    Strict,
}

/// The first uid (and gid) of the range sandboxed targets run as; the
/// checker's pid is added. Far above any account a distribution creates,
/// and below the 32-bit overflow uid.
const UID_BASE: u32 = 0x5000_0000;

/// The size of the scratch tmpfs: every file a run and its targets may
/// write (an HTTP check keeps a generated site of up to 32 MiB per suite).
const SCRATCH_BYTES: u64 = 1 << 30;

/// Why the sandbox could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A layer the strict mode needs is missing.
    #[error("--sandbox strict: {0}; run as root with CAP_SYS_ADMIN (in Docker: --cap-add SYS_ADMIN --security-opt seccomp=unconfined) or where user namespaces are allowed, or choose --sandbox auto or none")]
    Unavailable(String),
    /// A directory to hide does not exist or is not a directory.
    #[error("--sandbox-hide {}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// Hiding `/` would hide the programs themselves.
    #[error("--sandbox-hide /: the root cannot be hidden (hide the directories that hold the submissions and the reports)")]
    HidingTheRoot,
    /// Setting up a layer failed after the kernel granted it.
    #[error("setting up the sandbox ({what}): {error}")]
    Setup {
        /// What was being set up.
        what: &'static str,
        /// The OS error (in the message: not a source, which error chains would print again).
        error: std::io::Error,
    },
}

/// Who a sandbox's targets run as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Identity {
    /// A uid and gid of their own, which cannot signal or trace the
    /// checker: the checker is root, with those ids mapped.
    Dedicated,
    /// The checker's own ids, in a user namespace the checker made, where
    /// the targets' exec drops every capability; each target in a pid
    /// namespace of its own with a `/proc` of that namespace, from which
    /// the checker cannot be named: neither signalled, nor traced, nor
    /// read through `/proc`.
    Namespaced,
}

/// The sandbox of this checker process, once [`enter`]ed.
#[derive(Debug)]
pub struct Sandbox {
    identity: Identity,
    /// The user targets run as (the checker's own when [`Identity::Namespaced`]).
    uid: Uid,
    gid: Gid,
    /// The scratch tmpfs, when the checker has a mount namespace of its own.
    scratch: Option<PathBuf>,
    /// Directories targets must not see (absolute, none inside another).
    hidden: Vec<PathBuf>,
    /// For each `PATH` entry under a directory others may not enter: that
    /// directory, and the one inside it to show again (see [`Sandbox::confinement`]).
    closed_on_path: Vec<(PathBuf, PathBuf)>,
}

static SANDBOX: OnceLock<Sandbox> = OnceLock::new();

/// The sandbox this process entered, if any.
pub fn current() -> Option<&'static Sandbox> {
    SANDBOX.get()
}

/// `enter()`—sets up the sandbox `mode` asks for, hiding `hidden` from
/// every target; what [`current`] returns from then on. Call once, while
/// the process has a single thread (namespaces are per thread until then).
/// In [`Mode::Auto`], a layer the kernel refuses is left out and named on
/// stderr; in [`Mode::Strict`] it is an error.
pub fn enter(mode: Mode, hidden: &[PathBuf]) -> Result<Option<&'static Sandbox>, SandboxError> {
    if mode == Mode::None {
        return Ok(None);
    }
    let hidden = outermost(absolute_dirs(hidden)?);
    let mut missing = Vec::new();
    let dedicated = UID_BASE + std::process::id();
    let (identity, uid, gid) = if Uid::effective().is_root() && maps_id(dedicated) {
        (
            Identity::Dedicated,
            Uid::from_raw(dedicated),
            Gid::from_raw(dedicated),
        )
    } else {
        let who = match Uid::effective().is_root() {
            true => format!("uid {dedicated} is not mapped here"),
            false => "not running as root".to_string(),
        };
        match enter_user_namespace(dedicated) {
            Ok((uid, gid)) => {
                missing.push(format!(
                    "cgroups ({who}: rlimits bound the target's processes and memory)"
                ));
                (Identity::Namespaced, uid, gid)
            }
            Err(e) => {
                let why = format!("{who}, and the kernel refused a user namespace ({e})");
                if mode == Mode::Strict {
                    return Err(SandboxError::Unavailable(why));
                }
                eprintln!("ipcspec: note: targets run unsandboxed: {why} (see --sandbox)");
                return Ok(None);
            }
        }
    };
    let scratch = match private_namespaces() {
        Ok(scratch) => Some(scratch),
        Err(SandboxError::Unavailable(why)) if mode == Mode::Auto => {
            missing.push(format!("network and filesystem isolation ({why})"));
            None
        }
        Err(e) => return Err(e),
    };
    if !hidden.is_empty() && scratch.is_none() {
        missing.push("hiding directories".into());
    }
    let search = std::env::var_os("PATH").unwrap_or_default();
    let sandbox = Sandbox {
        identity,
        uid,
        gid,
        scratch,
        hidden,
        closed_on_path: std::env::split_paths(&search)
            .filter_map(|dir| closed_ancestor_of(&dir))
            .collect(),
    };
    report_missing(&missing);
    Ok(Some(SANDBOX.get_or_init(|| sandbox)))
}

fn report_missing(missing: &[String]) {
    if !missing.is_empty() {
        eprintln!(
            "ipcspec: note: the sandbox runs without {} (see --sandbox)",
            missing.join(", ")
        );
    }
}

/// `dirs`, each made absolute, all of them directories other than `/`.
fn absolute_dirs(dirs: &[PathBuf]) -> Result<Vec<PathBuf>, SandboxError> {
    let dirs = dirs
        .iter()
        .map(|dir| {
            dir.canonicalize()
                .ok()
                .filter(|d| d.is_dir())
                .ok_or_else(|| SandboxError::NotADirectory(dir.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    match dirs.iter().any(|d| d.parent().is_none()) {
        true => Err(SandboxError::HidingTheRoot),
        false => Ok(dirs),
    }
}

/// `dirs` without those inside another (a mount over the outer one hides them already).
fn outermost(mut dirs: Vec<PathBuf>) -> Vec<PathBuf> {
    dirs.sort();
    dirs.dedup();
    let all = dirs.clone();
    dirs.retain(|d| !all.iter().any(|outer| outer != d && d.starts_with(outer)));
    dirs
}

/// Whether `id` is a uid and a gid of this user namespace (all are in the
/// machine's own; a container's may map only a few).
fn maps_id(id: u32) -> bool {
    ["uid_map", "gid_map"].iter().all(|map| {
        let text = std::fs::read_to_string(Path::new("/proc/self").join(map)).unwrap_or_default();
        text.lines().any(|line| {
            let fields: Vec<u64> = line.split_whitespace().filter_map(|f| f.parse().ok()).collect();
            matches!(fields[..], [inside, _, count] if (inside..inside + count).contains(&u64::from(id)))
        })
    })
}

/// Moves this process into a user namespace of its own in which it keeps
/// its uid and gid (or, if one is 0 here, takes `instead_of_root`: a target
/// that is root in the namespace could undo the mounts that hide), with
/// every capability there. Returns the ids it has in the namespace. Call
/// while the process has one thread.
///
/// # References
/// - [user_namespaces(7)](https://man7.org/linux/man-pages/man7/user_namespaces.7.html) ("uid_map", "setgroups")
fn enter_user_namespace(instead_of_root: u32) -> std::io::Result<(Uid, Gid)> {
    let inside = |outside: u32| match outside {
        0 => instead_of_root,
        id => id,
    };
    let (uid, gid) = (Uid::effective().as_raw(), Gid::effective().as_raw());
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)?;
    // setgroups(2) must be refused before an unprivileged gid_map is written.
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", format!("{} {uid} 1", inside(uid)))?;
    std::fs::write("/proc/self/gid_map", format!("{} {gid} 1", inside(gid)))?;
    Ok((Uid::from_raw(inside(uid)), Gid::from_raw(inside(gid))))
}

/// Moves this process into a network namespace of its own (loopback up)
/// and a mount namespace of its own holding the scratch tmpfs, which it
/// makes `TMPDIR`; returns the scratch.
fn private_namespaces() -> Result<PathBuf, SandboxError> {
    use nix::mount::{mount, MsFlags};
    let setup = |what| move |error: std::io::Error| SandboxError::Setup { what, error };
    let refused = |what: &str, e: nix::Error| {
        SandboxError::Unavailable(format!("the kernel refused {what} ({e})"))
    };
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| refused("a mount namespace", e))?;
    // Mounts of the machine still show here; this namespace's stay here.
    const NONE: Option<&str> = None;
    mount(NONE, "/", NONE, MsFlags::MS_REC | MsFlags::MS_SLAVE, NONE)
        .map_err(|e| refused("a private mount tree", e))?;
    crate::sys::enter_private_network().map_err(|e| match e.raw_os_error() {
        Some(code) => refused("a network namespace", nix::Error::from_raw(code)),
        None => setup("the loopback interface")(e),
    })?;
    let base = std::env::temp_dir();
    sweep_stale_scratches(&base);
    let scratch = base.join(format!("ipcspec-sandbox-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(setup("the scratch directory"))?;
    let options = format!("size={SCRATCH_BYTES},mode=1777");
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount(
        Some("tmpfs"),
        &scratch,
        Some("tmpfs"),
        flags,
        Some(options.as_str()),
    )
    .map_err(|e| setup("the scratch tmpfs")(e.into()))?;
    // The process has one thread: nothing reads the environment meanwhile.
    std::env::set_var("TMPDIR", &scratch);
    Ok(scratch)
}

/// Removes the empty scratch directories that checkers which are gone left
/// in `base` (their tmpfs went with their mount namespace).
fn sweep_stale_scratches(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let owner = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix("ipcspec-sandbox-"))
            .and_then(|pid| pid.parse::<i32>().ok());
        if owner.is_some_and(|pid| !super::observe::is_alive(nix::unistd::Pid::from_raw(pid))) {
            // Fails, harmlessly, if it is not empty.
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

/// Unmounts the scratch and removes its directory; for the end of a run
/// (the kernel would drop the tmpfs with the namespace, not the directory).
pub fn release() {
    if let Some(scratch) = current().and_then(|s| s.scratch.as_deref()) {
        let _ = nix::mount::umount2(scratch, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(scratch);
    }
}

impl Sandbox {
    /// The user targets run as.
    pub fn uid(&self) -> Uid {
        self.uid
    }

    /// What a target's process enters between fork and exec; its working
    /// directory is `cwd` and it runs `program`.
    ///
    /// A program (or an interpreter on `PATH`) installed under a directory
    /// others may not enter, such as pyenv's `python3` under `/root`, would
    /// not run as the target's user: that directory is hidden too, and the
    /// one inside it that holds the program is shown again.
    pub fn confinement(&self, cwd: &Path, program: &Path) -> std::io::Result<Confinement> {
        let ids = |mounts| Confinement {
            mounts,
            user: (self.identity == Identity::Dedicated)
                .then(|| (self.uid.as_raw(), self.gid.as_raw())),
            pid_namespace: self.identity == Identity::Namespaced,
        };
        let Some(scratch) = &self.scratch else {
            return Ok(ids(None));
        };
        let mut hidden = self.hidden.clone();
        let mut shown = vec![cwd.to_path_buf(), scratch.clone()];
        let of_program = program.parent().and_then(closed_ancestor_of);
        for (closed, inside) in of_program.iter().chain(&self.closed_on_path) {
            shown.push(inside.clone());
            hidden.push(closed.clone());
        }
        shown.sort();
        shown.dedup();
        let hidden = outermost(hidden);
        let mut revealed = Vec::new();
        for dir in shown {
            if let Some(path) = path_inside(&hidden, &dir)? {
                revealed.push(Reveal::new(path));
            }
        }
        Ok(ids(Some(MountPlan {
            hidden: hidden.iter().map(|d| c_path(d)).collect::<Result<_, _>>()?,
            revealed,
            writable: c_path(scratch)?,
        })))
    }

    /// Gives the target's user `path` and everything under it: a directory
    /// the checker made for a target to write in (a socket's directory) or
    /// read (a document root).
    pub fn hand_over(&self, path: &Path) -> std::io::Result<()> {
        if self.identity == Identity::Namespaced {
            // The checker made it: its user is the targets' already.
            return Ok(());
        }
        std::os::unix::fs::lchown(path, Some(self.uid.as_raw()), Some(self.gid.as_raw()))?;
        if path.is_dir() && !path.is_symlink() {
            for entry in std::fs::read_dir(path)? {
                self.hand_over(&entry?.path())?;
            }
        }
        Ok(())
    }
}

/// `as_target_user()`—runs `action` on a thread of its own that became the
/// current sandbox's user (or here, without a sandbox): what a process may
/// do to another of its own user without privileges (`prlimit`), the
/// checker can do to its targets then even without `CAP_SYS_RESOURCE`.
/// Only that thread changes user: [setresuid(2)] as a system call is
/// per thread (the C library's wrapper is what makes it process-wide).
///
/// [setresuid(2)]: https://man7.org/linux/man-pages/man2/setresuid.2.html
pub fn as_target_user<T: Send>(
    action: impl FnOnce() -> std::io::Result<T> + Send,
) -> std::io::Result<T> {
    let Some(sandbox) = current().filter(|s| s.identity == Identity::Dedicated) else {
        return action();
    };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                use rustix::thread::{set_thread_res_gid, set_thread_res_uid};
                let gid = rustix::process::Gid::from_raw(sandbox.gid.as_raw());
                set_thread_res_gid(gid, gid, gid)?;
                let uid = rustix::process::Uid::from_raw(sandbox.uid.as_raw());
                set_thread_res_uid(uid, uid, uid)?;
                action()
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::ErrorKind::Other.into()))
    })
}

/// [`Sandbox::hand_over`] `path` to the current sandbox's user, if there is one.
pub fn hand_over(path: &Path) -> std::io::Result<()> {
    current().map_or(Ok(()), |sandbox| sandbox.hand_over(path))
}

/// When `dir` lies inside one of `hidden`: each directory from just inside
/// that one down to `dir`, to recreate in the empty tmpfs.
fn path_inside(hidden: &[PathBuf], dir: &Path) -> std::io::Result<Option<Vec<CString>>> {
    let Some(outer) = hidden.iter().find(|h| dir.starts_with(h)) else {
        return Ok(None);
    };
    let mut dirs = Vec::new();
    let mut at = outer.clone();
    for part in dir
        .strip_prefix(outer)
        .unwrap_or(Path::new(""))
        .components()
    {
        at.push(part);
        dirs.push(c_path(&at)?);
    }
    Ok(Some(dirs))
}

/// [`closed_ancestor`] of `dir` made absolute, if it exists.
fn closed_ancestor_of(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    closed_ancestor(&dir.canonicalize().ok()?)
}

/// The first directory on the way to `dir` (absolute) that others may not
/// enter, and the directory just inside it on the way.
fn closed_ancestor(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    use std::os::unix::fs::PermissionsExt;
    let mut ancestors: Vec<&Path> = dir.ancestors().collect();
    ancestors.reverse();
    ancestors.windows(2).find_map(|pair| {
        let mode = std::fs::metadata(pair[0]).ok()?.permissions().mode();
        (mode & 0o001 == 0).then(|| (pair[0].to_path_buf(), pair[1].to_path_buf()))
    })
}

fn c_path(path: &Path) -> std::io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_inside_hidden_ones_are_left_to_them() {
        let root = tempfile::tempdir().unwrap();
        let inner = root.path().join("a/b");
        std::fs::create_dir_all(&inner).unwrap();
        let other = tempfile::tempdir().unwrap();
        let given = [inner, root.path().into(), other.path().into()];
        let dirs = outermost(absolute_dirs(&given).unwrap());
        let mut expected = vec![
            root.path().canonicalize().unwrap(),
            other.path().canonicalize().unwrap(),
        ];
        expected.sort();
        assert_eq!(dirs, expected);
    }

    #[test]
    fn a_missing_directory_to_hide_is_named_and_the_root_refused() {
        let err = absolute_dirs(&[PathBuf::from("/no/such/dir")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--sandbox-hide /no/such/dir: not a directory"
        );
        assert!(matches!(
            absolute_dirs(&["/".into()]),
            Err(SandboxError::HidingTheRoot)
        ));
    }

    #[test]
    fn a_directory_inside_a_hidden_one_is_recreated_down_to_itself() {
        let hidden = ["/class".into()];
        let path = path_inside(&hidden, Path::new("/class/alice/src")).unwrap();
        assert_eq!(
            path,
            Some(vec![
                c"/class/alice".to_owned(),
                c"/class/alice/src".to_owned()
            ])
        );
        assert_eq!(path_inside(&hidden, Path::new("/home/bob")).unwrap(), None);
    }

    #[test]
    fn a_program_under_a_closed_directory_is_reached_through_the_one_inside_it() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let bin = home.path().join("tools/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let home = home.path().canonicalize().unwrap();
        assert_eq!(
            closed_ancestor(&bin.canonicalize().unwrap()),
            Some((home.clone(), home.join("tools")))
        );
        assert_eq!(closed_ancestor(Path::new("/usr/bin")), None);
    }
}
