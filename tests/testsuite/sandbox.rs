//! The sandbox (`--sandbox`, `src/target/sandbox.rs`) against the hostile
//! fixture `fixtures/hostile/attacker.py`: an echo server that first
//! attacks what lies outside its check. Sandboxed, every attack is
//! contained — the check ends with a verdict on the server, and nothing the
//! attack started, wrote or mounted remains; unsandboxed, the harmless ones
//! get through, which shows each attack is real.
//!
//! Each containment test runs twice: with the checker as root (targets get
//! a uid of their own) and as an unprivileged user, `nobody`, through
//! `setpriv` (targets get user and pid namespaces). Either way the tests
//! need root to start with (CI runs as root).

use std::fs::Permissions;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use rstest::rstest;

use crate::support::cli::{assert_one_line_error, ipcspec};
use crate::support::{as_nobody, open_temp_dir, PYTHON};

fn attacker() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/hostile/attacker.py")
}

/// A word no other check's processes carry, not even another test's of the same attack.
fn mark(attack: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("ipcspec-test-{attack}-{}-{n}", std::process::id())
}

/// Who runs the checker.
#[derive(Clone, Copy, Debug)]
enum Checker {
    /// Root: its targets run as a uid of their own.
    Root,
    /// `nobody`: its targets run in a user namespace and a pid namespace.
    Unprivileged,
}

impl Checker {
    /// The command that runs `ipcspec` as this user, with temp files in `tmp`.
    fn ipcspec(self, tmp: &Path) -> Command {
        match self {
            Checker::Root => Command::new(env!("CARGO_BIN_EXE_ipcspec")),
            Checker::Unprivileged => as_nobody(env!("CARGO_BIN_EXE_ipcspec"), tmp),
        }
    }
}

/// One finished check of the attacker.
struct Run {
    output: Output,
    /// The checker's pid.
    pid: u32,
    /// The word in the command line of every process of this check.
    mark: String,
    /// The checker's temp folder.
    tmp: tempfile::TempDir,
}

/// Sandboxed with every layer.
const STRICT: &[&str] = &["--sandbox", "strict"];
/// Not sandboxed.
const NONE: &[&str] = &["--sandbox", "none"];

/// `ipcspec check server`, run by `checker`, on the attacker running
/// `attack` with `args`, sandboxed as `sandbox` (the options) says, on one
/// property, from `cwd`.
fn check(checker: Checker, sandbox: &[&str], attack: &str, args: &[&str], cwd: &Path) -> Run {
    let mark = mark(attack);
    let tmp = open_temp_dir();
    let child = checker
        .ipcspec(tmp.path())
        .args(["check", "server", "--variant", "thread"])
        .args(sandbox)
        .args(["--only", "server.echo.byte-exact", "--"])
        .args(PYTHON)
        .arg(attacker())
        .args(["{port}", &mark, attack])
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ipcspec runs");
    let pid = child.id();
    let output = child.wait_with_output().expect("ipcspec ends");
    Run {
        output,
        pid,
        mark,
        tmp,
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Processes whose command line carries `mark`.
fn carrying(mark: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let mut cmdline = String::new();
        let read = std::fs::File::open(entry.path().join("cmdline"))
            .and_then(|mut f| f.read_to_string(&mut cmdline));
        if read.is_ok() && cmdline.contains(mark) {
            found.push(format!(
                "{}: {}",
                entry.path().display(),
                cmdline.replace('\0', " ")
            ));
        }
    }
    found
}

/// Asserts that nothing of the check `run` remains: no process, no scratch
/// directory, no cgroup.
fn assert_nothing_left(run: &Run) {
    let Run { pid, mark, .. } = run;
    assert_eq!(carrying(mark), Vec::<String>::new(), "left running");
    // Root's checker keeps its scratch under the machine's temp folder.
    for base in [run.tmp.path(), &std::env::temp_dir()] {
        let scratch = base.join(format!("ipcspec-sandbox-{pid}"));
        assert!(!scratch.exists(), "{} left behind", scratch.display());
    }
    for controller in ["pids", "memory"] {
        let root = Path::new("/sys/fs/cgroup").join(controller);
        let prefix = format!("ipcspec-{pid}-");
        let left: Vec<_> = std::fs::read_dir(&root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .collect();
        assert!(
            left.is_empty(),
            "cgroups left in {}: {left:?}",
            root.display()
        );
    }
}

/// A listener outside the sandbox, on every address of the machine, and
/// the addresses to reach it by: its loopback and, if it has one, the
/// address its default route leaves from. No sandboxed target may reach it.
fn outside_listener() -> (TcpListener, Vec<String>) {
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut addresses = vec![format!("127.0.0.1:{port}")];
    // Connecting a UDP socket sends nothing; it only picks the route's source address.
    let routed = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|udp| udp.connect("192.0.2.1:9").and_then(|()| udp.local_addr()));
    if let Ok(local) = routed.map(|a| a.ip()) {
        if !local.is_loopback() {
            addresses.push(format!("{local}:{port}"));
        }
    }
    (listener, addresses)
}

#[rstest]
fn sandbox_contains_the_attack_and_the_server_passes(
    #[values(Checker::Root, Checker::Unprivileged)] checker: Checker,
    #[values("signal-parent", "kill-everyone", "hog-memory", "fill-disk", "daemon")] attack: &str,
) {
    let run = check(
        checker,
        STRICT,
        attack,
        &[],
        Path::new(env!("CARGO_MANIFEST_DIR")),
    );
    let output = &run.output;
    let report = text(output);
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert!(report.contains("1 passed"), "{report}");
    assert_nothing_left(&run);
}

#[rstest]
fn sandbox_stops_a_fork_bomb_and_the_check_still_ends_in_a_verdict(
    #[values(Checker::Root, Checker::Unprivileged)] checker: Checker,
) {
    let run = check(
        checker,
        STRICT,
        "fork-bomb",
        &[],
        Path::new(env!("CARGO_MANIFEST_DIR")),
    );
    let output = &run.output;
    let report = text(output);
    // Out of processes, the server may fail to start a thread per client:
    // a verdict on the server either way, never the checker's failure.
    assert!(matches!(output.status.code(), Some(0 | 1)), "{report}");
    assert!(report.contains("server.echo.byte-exact"), "{report}");
    assert_nothing_left(&run);
}

#[rstest]
fn sandbox_keeps_writes_out_of_the_filesystem(
    #[values(Checker::Root, Checker::Unprivileged)] checker: Checker,
) {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    // Even a folder anyone may write to is read-only from inside.
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(dir.path(), Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&open, Permissions::from_mode(0o777)).unwrap();
    let targets = [
        open.join("planted"),
        work.join("planted"),
        PathBuf::from("/var/tmp/ipcspec-planted"),
    ];
    let args: Vec<&str> = targets.iter().map(|p| p.to_str().unwrap()).collect();
    let run = check(checker, STRICT, "write", &args, &work);
    let output = &run.output;
    assert_eq!(output.status.code(), Some(0), "{}", text(output));
    for path in &targets {
        assert!(!path.exists(), "{} was written", path.display());
    }
    assert_nothing_left(&run);
}

#[rstest]
fn sandbox_leaves_the_target_only_the_checks_loopback(
    #[values(Checker::Root, Checker::Unprivileged)] checker: Checker,
) {
    let (listener, addresses) = outside_listener();
    listener.set_nonblocking(true).unwrap();
    let args: Vec<&str> = addresses.iter().map(String::as_str).collect();
    let run = check(
        checker,
        STRICT,
        "connect",
        &args,
        Path::new(env!("CARGO_MANIFEST_DIR")),
    );
    let output = &run.output;
    assert_eq!(output.status.code(), Some(0), "{}", text(output));
    let reached = listener.accept().map(|(_, peer)| peer);
    assert!(
        reached.is_err(),
        "the target reached one of {addresses:?}: {reached:?}"
    );
    assert_nothing_left(&run);
}

#[rstest]
fn sandbox_hides_the_other_submissions(
    #[values(Checker::Root, Checker::Unprivileged)] checker: Checker,
) {
    let class = tempfile::tempdir().unwrap();
    let (alice, bob) = (class.path().join("alice"), class.path().join("bob"));
    std::fs::create_dir(&alice).unwrap();
    std::fs::create_dir(&bob).unwrap();
    std::fs::set_permissions(class.path(), Permissions::from_mode(0o755)).unwrap();
    let secret = bob.join("solution.c");
    std::fs::write(&secret, "bob's work").unwrap();
    let read_from_alice = |sandbox: &[&str]| {
        let run = check(
            checker,
            sandbox,
            "read",
            &[secret.to_str().unwrap()],
            &alice,
        );
        (run.output.status.code(), text(&run.output))
    };
    // Bob's file is readable by anyone: only hiding the class keeps it from Alice's program.
    let (code, report) = read_from_alice(STRICT);
    assert_eq!(code, Some(2), "{report}");
    assert!(report.contains("got through: read"), "{report}");
    // Alice's own folder stays where it was: her program runs from it.
    let hide = [
        "--sandbox",
        "strict",
        "--sandbox-hide",
        class.path().to_str().unwrap(),
    ];
    let (code, report) = read_from_alice(&hide);
    assert_eq!(code, Some(0), "{report}");
}

/// The IDs of the properties a JSON report does not pass.
fn not_passed(output: &Output) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("a JSON report: {}", text(output)));
    doc["reports"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["results"].as_array().into_iter().flatten())
        .filter(|p| p["verdict"] != "pass")
        .filter_map(|p| p["id"].as_str().map(String::from))
        .collect()
}

/// Shell checks compare the pids the stages report (as they see them)
/// with what the checker sees: in a pid namespace the two differ, and a
/// check that did not translate would pass these broken shells.
#[rstest]
#[case::holds_a_stage_pipe_end("keeps_last_read_end", "shell.shape.keeps-no-end")]
#[case::hands_the_line_to_system("system_shell", "shell.shape.forks-each-stage")]
fn sandbox_keeps_the_verdicts_that_rest_on_reported_pids(
    #[values(Checker::Root, Checker::Unprivileged)] checker: Checker,
    #[case] shell: &str,
    #[case] fails: &str,
) {
    let tmp = open_temp_dir();
    let output = checker
        .ipcspec(tmp.path())
        .args(["check", "shell", "--sandbox", "strict", "--format", "json"])
        .args(["--only", fails, "--"])
        .arg(crate::support::built("shells", shell))
        .current_dir(tmp.path())
        .output()
        .expect("ipcspec runs");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(not_passed(&output), [fails]);
}

/// Without the sandbox the same attacks get through: each fixture is a
/// real attack, and the tests above show the sandbox stopping it.
#[rstest]
#[case::signal_the_checker("signal-parent", 130, "interrupted")]
#[case::write_a_file("write", 2, "got through: wrote")]
#[case::reach_another_network("connect", 2, "got through: connected")]
#[case::read_a_sibling("read", 2, "got through: read")]
fn without_the_sandbox_the_attack_gets_through(
    #[case] attack: &str,
    #[case] code: i32,
    #[case] says: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "a sibling's work").unwrap();
    let (listener, addresses) = outside_listener();
    let arg = match attack {
        "connect" => addresses[0].clone(),
        "write" => dir.path().join("planted").display().to_string(),
        _ => file.display().to_string(),
    };
    let run = check(Checker::Root, NONE, attack, &[&arg], dir.path());
    let output = &run.output;
    drop(listener);
    let report = text(output);
    assert_eq!(output.status.code(), Some(code), "{report}");
    assert!(report.contains(says), "{report}");
}

/// `ipcspec ARGS` as root in a user namespace that maps root alone and
/// allows no user namespace inside it: no uid to give targets, no way to
/// make one (a container's root without `CAP_SETUID` over more ids is like it).
fn ipcspec_without_user_namespaces(args: &[&str]) -> Output {
    Command::new("unshare")
        .args(["--user", "--map-root-user", "sh", "-c"])
        .arg("echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_ipcspec"))
        .args(args)
        .current_dir("/")
        .output()
        .expect("unshare runs")
}

#[test]
fn sandbox_strict_without_a_user_to_give_is_refused_in_one_line() {
    let output = ipcspec_without_user_namespaces(&["check", "relay", "--sandbox", "strict"]);
    assert_one_line_error(&output, "--sandbox strict: uid ");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("refused a user namespace"),
        "{}",
        text(&output)
    );
}

#[test]
fn sandbox_auto_without_a_user_to_give_runs_unsandboxed_and_says_so() {
    let output = ipcspec_without_user_namespaces(&["check", "relay", "--sandbox", "auto"]);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert!(
        report.contains("ipcspec: note: targets run unsandboxed: uid "),
        "{report}"
    );
}

#[test]
fn sandbox_hide_of_a_missing_folder_is_refused_in_one_line() {
    let output = ipcspec()
        .args(["check", "relay", "--sandbox-hide", "/no/such/folder"])
        .output()
        .unwrap();
    assert_one_line_error(&output, "--sandbox-hide /no/such/folder: not a directory");
}

#[test]
fn grade_hides_the_other_submissions_and_the_reports_from_each_program() {
    let class = tempfile::tempdir().unwrap();
    std::fs::set_permissions(class.path(), Permissions::from_mode(0o755)).unwrap();
    let out = class.path().join("grades");
    for name in ["alice", "bob"] {
        std::fs::create_dir(class.path().join(name)).unwrap();
    }
    let solution = class.path().join("bob/solution.c");
    std::fs::write(&solution, "bob's work").unwrap();
    // Alice's program reads Bob's work; Bob's plants a report of its own.
    let planted = out.join("planted.txt");
    let attacker = attacker().display().to_string();
    let python = PYTHON.map(|word| format!("\"{word}\"")).join(", ");
    let entry = |name: &str, attack: &str, arg: &Path| {
        format!(
            "[[submission]]\nname = \"{name}\"\nprofile = \"server\"\nvariant = \"thread\"\n\
             dir = \"{name}\"\nrun = [{python}, \"{attacker}\", \"{{port}}\", \"{}\", \"{attack}\", \"{}\"]\n",
            mark(attack),
            arg.display()
        )
    };
    let manifest = class.path().join("manifest.toml");
    let entries = entry("alice", "read", &solution) + &entry("bob", "write", &planted);
    std::fs::write(&manifest, entries).unwrap();
    let output = ipcspec()
        .arg("grade")
        .arg(&manifest)
        .args([
            "--sandbox",
            "strict",
            "--only",
            "server.echo.byte-exact",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    for name in ["alice", "bob"] {
        let row = summary
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default();
        assert!(
            row.contains(",pass,"),
            "{name} must pass, contained: {summary}"
        );
    }
    assert!(!planted.exists(), "{} was written", planted.display());
}
