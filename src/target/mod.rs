//! Launching and observing a program under test.
//!
//! A target is any command. [`command`] resolves it and fills its
//! placeholders; [`process`] starts it in its own process group (and, when the
//! machine allows, its own pids cgroup) under resource limits, drains its
//! output, and kills everything it spawned when the check ends, times out or
//! the user presses Ctrl-C; [`sandbox`] keeps code nobody has read from
//! reaching past its check (another user, loopback only, a read-only
//! filesystem without the other submissions); [`observe`] reads `/proc` to tell what its threads
//! are doing — asleep in which call, quiescent, leaking — without perturbing it;
//! [`settle`] is the one way to wait on it: until what is awaited comes, until
//! it provably can no longer move, or until a bound.
//!
//! The network harness, for every profile that talks over sockets:
//! [`net`] (the crate's one [`net::Endpoint`], free ports, `send_all`),
//! [`server`] (a server target launched on a fresh endpoint, its sockets and
//! stillness seen in `/proc`) and [`connection`] (the check's clients of it).

pub mod command;
pub mod connection;
pub mod net;
pub mod observe;
pub mod process;
pub mod sandbox;
pub mod server;
pub mod settle;

use std::path::PathBuf;

pub use command::CommandSpec;
pub use process::{Limits, Stream, Target, TargetConfig};

/// Why a target could not be run. Each message is one line that names the target.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The program is not on `PATH` and not a file.
    #[error("{program}: command not found")]
    NotFound {
        /// The program as given.
        program: String,
    },
    /// The file exists but cannot be executed.
    #[error("{}: not executable (check its permissions, or run it through an interpreter)", path.display())]
    NotExecutable {
        /// The resolved path.
        path: PathBuf,
    },
    /// The request is unusable: no command, a missing placeholder, an unknown variant.
    #[error("bad target command: {0}")]
    Usage(UsageError),
    /// `spawn` failed.
    #[error("{program}: could not start: {error}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error (in the message: not a source, which error chains would print again).
        error: std::io::Error,
    },
    /// `spawn` failed inside the sandbox.
    #[error("{program}: could not start in the sandbox ({error}); it runs as uid {uid}, which must be able to read and run it (or choose --sandbox none)")]
    SpawnSandboxed {
        /// The program.
        program: String,
        /// The user the sandbox runs targets as.
        uid: u32,
        /// The OS error (in the message: not a source, which error chains would print again).
        error: std::io::Error,
    },
    /// The target exited before it became ready.
    #[error("{program}: exited at start ({status}) before {awaited}{}", last_words(.output))]
    ExitedAtStart {
        /// The program.
        program: String,
        /// Its exit status, with the signal named.
        status: String,
        /// What the check was waiting for (e.g. "listening on 127.0.0.1:4000").
        awaited: String,
        /// Its last output lines.
        output: Vec<String>,
    },
    /// The target never became ready within the bound.
    #[error("{program}: not {awaited} after {seconds:.1} s{}", last_words(.output))]
    NeverReady {
        /// The program.
        program: String,
        /// What the check was waiting for.
        awaited: String,
        /// How long it waited.
        seconds: f64,
        /// Its last output lines.
        output: Vec<String>,
    },
    /// Setting up the target's surroundings (temp dir, cgroup, pipes) failed.
    #[error("setting up {what}: {error}")]
    Setup {
        /// What was being set up.
        what: String,
        /// The OS error (in the message: not a source, which error chains would print again).
        error: std::io::Error,
    },
}

// Not a `#[from]`: the message already says it, and a source would repeat it in error chains.
impl From<UsageError> for TargetError {
    fn from(error: UsageError) -> TargetError {
        TargetError::Usage(error)
    }
}

/// Why a `check` request cannot be run as given: the command line (or the
/// manifest entry, or the harness's variables) is wrong, and nothing was started.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// Nothing follows the `--` that starts a target command.
    #[error("no command given after `--`")]
    NoCommand,
    /// The profile has variants, and the target does not say which one it claims.
    #[error("say which variant the {profile} claims: --variant")]
    NoVariant {
        /// The profile's name.
        profile: &'static str,
    },
    /// The claimed variant is not one the profile knows.
    #[error("unknown {profile} variant `{given}`; expected one of: {accepted}")]
    UnknownVariant {
        /// The profile's name.
        profile: &'static str,
        /// The variant as given.
        given: String,
        /// The variants the profile accepts, for people.
        accepted: &'static str,
    },
    /// A variant claimed for a profile that has none.
    #[error("the {profile} profile has no variants, so a target cannot claim one (`{given}`)")]
    NoVariants {
        /// The profile's name.
        profile: &'static str,
        /// The variant as given.
        given: String,
    },
    /// A server command with neither `{port}` nor `{socket}`: the check cannot tell it where to listen.
    #[error("{command}: put {{port}} or {{socket}} where the server takes its address")]
    NoListeningPlaceholder {
        /// The command line as given.
        command: String,
    },
    /// A web server command without `{dir}`: the check cannot tell it which document root to serve.
    #[error("{command}: put {{dir}} where the server takes the directory to serve (the check fills it with a generated document root)")]
    NoDirPlaceholder {
        /// The command line as given.
        command: String,
    },
    /// A client command without `{port}`: the check cannot tell it where its server listens.
    #[error("`{command}` never mentions {{port}}; the check must tell the client where its server listens (e.g. `-- ./client {{host}} {{port}}`)")]
    NoConnectingPlaceholder {
        /// The command line as given.
        command: String,
    },
    /// A command given to a profile that checks built-in implementations only.
    #[error("the {profile} profile checks built-in implementations only; plug your own pipe in through the `PipeImpl` trait")]
    BuiltInOnly {
        /// The profile's name.
        profile: &'static str,
    },
}

/// What the target said, in one line: its last line, and its first one
/// too when there were more (a usage error states the problem first and
/// ends with the usage, `bash --bogus` with a list of options).
fn last_words(output: &[String]) -> String {
    match output {
        [] => String::new(),
        [line] => format!("; it last said: {line}"),
        [first, .., last] => format!("; it said: {first} … {last}"),
    }
}

impl TargetError {
    /// A [`TargetError::Setup`] for `what`.
    pub fn setup(what: impl Into<String>, source: impl Into<std::io::Error>) -> TargetError {
        TargetError::Setup {
            what: what.into(),
            error: source.into(),
        }
    }
}
