//! Shared by every test that runs a C fixture or a reference program: the
//! fixtures compiled once per test process, and where the references live;
//! [`cli`] runs `ipcspec check`, [`server`] runs a server suite in-process,
//! [`reports`] holds hand-made reports, [`http`] is a small HTTP client.

// Each test file uses part of this module.
#![allow(dead_code)]

pub mod cli;
pub mod http;
pub mod reports;
pub mod server;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use ipcspec::spec::References;

/// How the tests start Python: without the `site` module (`-S`). Every
/// Python fixture needs the standard library alone, and `site` runs the
/// machine's `.pth` hooks at each start: one here imports `certifi`, 24 of
/// a start's 34 ms, and a client's check starts it once per case. The
/// fixtures with a `#!` line say `-S` there.
pub const PYTHON: [&str; 2] = ["python3", "-S"];

/// Puts the directory of the interpreter `python3` runs first on `PATH`, so
/// that Python fixtures, started as `python3 ...` or through
/// `#!/usr/bin/env python3`, skip a version manager's shim: pyenv's is a
/// bash script that costs 0.1 to 0.3 s a start, and a check starts a
/// Python server some twenty times (a client, once per case). The
/// interpreter is the same one either way. When the first `python3` on
/// `PATH` is already a program, not a script (a conformance child inherits
/// the `PATH` its parent resolved), nothing is run: asking the shim costs
/// every test process 0.1 s. Call while the process has one thread: it
/// changes the environment.
pub fn python_without_shims() {
    let Some(path) = std::env::var_os("PATH") else {
        return;
    };
    let first = std::env::split_paths(&path)
        .map(|dir| dir.join("python3"))
        .find(|candidate| candidate.is_file());
    if first.is_some_and(|python| is_compiled_program(&python)) {
        return;
    }
    let Ok(output) = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
    else {
        return; // No Python: the tests that need one say so.
    };
    let executable = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let Some(dir) = executable.parent() else {
        return;
    };
    if output.status.success() && dir.is_absolute() {
        let dirs = std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&path));
        if let Ok(joined) = std::env::join_paths(dirs) {
            std::env::set_var("PATH", joined);
        }
    }
}

/// Whether `file` (symbolic links followed) is an ELF program rather than a
/// script a shell or another interpreter would run.
fn is_compiled_program(file: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(file)
        .and_then(|mut opened| opened.read_exact(&mut magic))
        .is_ok_and(|()| magic == *b"\x7fELF")
}

/// How many tests run at once when neither `--test-threads` nor
/// `RUST_TEST_THREADS` says: two per core. A test spends most of its time
/// waiting on what it checks (a target's timers, paced looks at `/proc`),
/// so one per core left the cores a third idle, and the whole `cargo test`
/// took half as long again. Verdicts do not depend on it: checks decide
/// by observation, and pass with both cores loaded by `stress-ng` too.
pub fn test_threads() -> usize {
    std::env::var("RUST_TEST_THREADS")
        .ok()
        .and_then(|threads| threads.parse().ok())
        .unwrap_or_else(|| 2 * std::thread::available_parallelism().map_or(1, usize::from))
}

/// Run as root, moves the calling thread into a network namespace of its
/// own (loopback alone, a TCP table of its own:
/// `sys::enter_private_network`), so that the checks it runs parse a
/// `/proc/net/tcp` holding their own sockets, not every other test's, and
/// walk a small table, not the machine's. Refused (a container without
/// `CAP_SYS_ADMIN`), it stays in its process's. Call while the process has
/// one thread to move the whole process.
pub fn private_network_if_root() {
    if nix::unistd::Uid::effective().is_root() {
        let _ = ipcspec::sys::enter_private_network();
    }
}

/// Runs `check` on a thread of its own, in a network namespace of its own
/// when root ([`private_network_if_root`]): a test process runs hundreds
/// of checks, and every look of each parses the TCP tables, where the
/// connections of the checks before it would linger (`TIME_WAIT`, a
/// minute) by the thousand.
pub fn in_private_network<T: Send>(check: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                private_network_if_root();
                check()
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// `nobody`'s `PATH`: the system's programs (a version manager's shims
/// live under `/root`, closed to it).
pub const NOBODY_PATH: &str = "/usr/bin:/bin";

/// `program` run as `nobody` through `setpriv` (util-linux), which execs
/// it, so the pid is the program's; with [`NOBODY_PATH`], and `TMPDIR` set
/// to `tmp`, a folder it may write ([`open_temp_dir`]).
pub fn as_nobody(program: &str, tmp: &Path) -> Command {
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .args(["--", program])
        .env("PATH", NOBODY_PATH)
        .env("TMPDIR", tmp);
    command
}

/// A temp folder anyone may write in: `nobody`'s `TMPDIR`.
pub fn open_temp_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a temp folder");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
        .expect("a temp folder open to nobody");
    dir
}

/// The built-in references: the `ipcspec` binary under test.
pub fn refs() -> References {
    References {
        bin: PathBuf::from(env!("CARGO_BIN_EXE_ipcspec")),
    }
}

/// `fixtures/KIND/NAME.c` compiled with `cc`, built on first use and kept
/// under cargo's target tmpdir, in a folder named after a hash of the source
/// and the headers beside it: every test process (the conformance harness
/// runs each check in a process of its own) reuses it, and an edit builds
/// it afresh. The file is named `KIND-NAME`, as a target's command name is
/// shown in evidence.
pub fn built(kind: &str, name: &str) -> PathBuf {
    built_with(kind, name, "-O1")
}

/// `fixtures/KIND/NAME.c` compiled as [`built`] does, at optimization level
/// `opt` (`-O2` for the benchmarks, which compare it with the references).
pub fn built_with(kind: &str, name: &str, opt: &str) -> PathBuf {
    let sources = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(kind);
    let source = sources.join(format!("{name}.c"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fixtures")
        .join(format!("{:016x}{opt}", content_hash(&source, &sources)));
    let binary = dir.join(format!("{kind}-{name}"));
    if !binary.exists() {
        std::fs::create_dir_all(&dir).expect("the fixtures folder under the target tmpdir");
        // Build under a name no other thread or process uses, then rename:
        // nobody ever runs a half-written file.
        let partial = dir.join(format!(
            "{kind}-{name}.{}.{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let status = Command::new("cc")
            .args([opt, "-pthread", "-w", "-o"])
            .arg(&partial)
            .arg(&source)
            .status()
            .expect("cc runs (bash ci/setup.sh installs it)");
        assert!(status.success(), "cc failed on {}", source.display());
        std::fs::rename(&partial, &binary).expect("rename the built fixture");
    }
    binary
}

/// A hash of `source` and of every header in `headers`, which it may include.
fn content_hash(source: &Path, headers: &Path) -> u64 {
    let mut hasher = DefaultHasher::new();
    let mut files = vec![source.to_path_buf()];
    let mut found: Vec<PathBuf> = std::fs::read_dir(headers)
        .expect("the fixtures folder")
        .map(|entry| entry.expect("a fixtures entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "h"))
        .collect();
    found.sort();
    files.extend(found);
    for file in files {
        let text = std::fs::read(&file)
            .unwrap_or_else(|e| panic!("read the fixture {}: {e}", file.display()));
        file.hash(&mut hasher);
        text.hash(&mut hasher);
    }
    hasher.finish()
}
