//! The grading manifest: which submissions to grade, how to build and run each.
//!
//! ```toml
//! [[submission]]
//! name = "alice"                 # unique; names the report folder
//! profile = "server"             # server, client, relay, shell or http
//! variant = "fork"               # optional: the variant the program claims
//! dir = "alice"                  # optional, relative to the manifest; default: its folder
//! build = "make"                 # optional: run as `sh -c BUILD` in `dir`
//! run = ["./echo", "{port}"]     # or one string, split like a shell: "./echo {port}"
//! ```
//!
//! [`Manifest::load`] refuses a file that is not TOML, lacks a field, names
//! an unknown profile or a profile that takes no command (see [`Profile::is_gradable`]), repeats a name, or
//! has no submission at all; every error is one line naming the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::record::fingerprint;
use crate::report::weights::toml_error;
use crate::spec::Profile;

/// One submission to grade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    /// Its unique name, safe as a folder name.
    pub name: String,
    /// The profile it is checked against.
    pub profile: Profile,
    /// The variant it claims, where the profile has variants.
    pub variant: Option<String>,
    /// The folder it is built and run in.
    pub dir: PathBuf,
    /// The build command, run as `sh -c BUILD` in [`Submission::dir`].
    pub build: Option<String>,
    /// The program and its arguments, with the check's `{placeholders}`.
    pub run: Vec<String>,
    /// A fingerprint of the entry as written (its `dir` relative to the
    /// manifest), the same on every machine: see [`super::record`].
    pub key: String,
}

/// A parsed, validated manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The submissions, in file order.
    pub submissions: Vec<Submission>,
    /// A fingerprint of every entry, in order.
    pub key: String,
}

/// Why a manifest was refused. Each message is one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("manifest {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error (in the message: not a source, which error chains would print again).
        error: std::io::Error,
    },
    /// The file is not a valid manifest.
    #[error("manifest {}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line or submission when known.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default)]
    submission: Vec<RawSubmission>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubmission {
    name: String,
    profile: String,
    variant: Option<String>,
    dir: Option<PathBuf>,
    build: Option<String>,
    run: Run,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Run {
    Argv(Vec<String>),
    Line(String),
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|error| ManifestError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Manifest::parse(&text, base).map_err(|message| ManifestError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses manifest text whose relative `dir`s are relative to `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Manifest, String> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        if raw.submission.is_empty() {
            return Err("no [[submission]] to grade".into());
        }
        let mut submissions: Vec<Submission> = Vec::new();
        for (index, raw) in raw.submission.into_iter().enumerate() {
            let submission = validate(raw, base)
                .map_err(|message| format!("submission {}: {message}", index + 1))?;
            if submissions.iter().any(|s| s.name == submission.name) {
                return Err(format!(
                    "submission {}: name `{}` is used twice",
                    index + 1,
                    submission.name
                ));
            }
            submissions.push(submission);
        }
        let keys: Vec<&str> = submissions.iter().map(|s| s.key.as_str()).collect();
        Ok(Manifest {
            key: fingerprint(&keys.join(" ")),
            submissions,
        })
    }
}

fn validate(raw: RawSubmission, base: &Path) -> Result<Submission, String> {
    let key = fingerprint(&format!("{raw:?}"));
    let name_ok = !raw.name.is_empty()
        && !raw.name.starts_with('.')
        && raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !name_ok {
        return Err(format!(
            "name `{}` must be letters, digits, `-`, `_` or `.` (it names a folder)",
            raw.name
        ));
    }
    let names = || {
        Profile::gradable()
            .map(Profile::name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let profile = Profile::named(&raw.profile).ok_or_else(|| {
        format!(
            "unknown profile `{}` (expected one of {})",
            raw.profile,
            names()
        )
    })?;
    if !profile.is_gradable() {
        return Err(format!(
            "profile `{}` checks built-in implementations only (gradable: {})",
            raw.profile,
            names()
        ));
    }
    let run = match raw.run {
        Run::Argv(argv) => argv,
        Run::Line(line) => shell_words::split(&line).map_err(|e| format!("run `{line}`: {e}"))?,
    };
    if run.is_empty() {
        return Err("`run` is empty".into());
    }
    Ok(Submission {
        name: raw.name,
        profile,
        variant: raw.variant,
        dir: base.join(raw.dir.unwrap_or_default()),
        build: raw.build,
        run,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_argv_lists_or_shell_lines_and_dirs_are_relative_to_the_manifest() {
        let manifest = Manifest::parse(
            r#"
            [[submission]]
            name = "alice"
            profile = "server"
            variant = "fork"
            dir = "alice"
            build = "make"
            run = ["./echo", "{port}"]

            [[submission]]
            name = "bob"
            profile = "relay"
            run = "python3 'my relay.py'"

            [[submission]]
            name = "carol"
            profile = "http"
            variant = "pool:4"
            run = "./web {port} {dir} 4"
            "#,
            Path::new("/course"),
        )
        .unwrap();
        let [alice, bob, carol] = &manifest.submissions[..] else {
            panic!("three submissions")
        };
        assert_eq!(carol.profile, Profile::Http);
        assert_eq!(carol.run, ["./web", "{port}", "{dir}", "4"]);
        assert_eq!(alice.dir, Path::new("/course/alice"));
        assert_eq!(alice.variant.as_deref(), Some("fork"));
        assert_eq!(alice.run, ["./echo", "{port}"]);
        assert_eq!(bob.dir, Path::new("/course/"));
        assert_eq!(bob.run, ["python3", "my relay.py"]);
    }

    #[test]
    fn malformed_manifests_are_one_line_errors() {
        let one = |body: &str| format!("[[submission]]\nname = \"a\"\n{body}");
        for (text, wanted) in [
            (
                "[[submission]]\nname = \"a\"\nprofile = \"server\"\n".to_string(),
                "missing field `run`",
            ),
            (
                one("profile = \"printer\"\nrun = \"x\""),
                "unknown profile `printer`",
            ),
            (
                one("profile = \"pipe\"\nrun = \"x\""),
                "built-in implementations only",
            ),
            (one("profile = \"relay\"\nrun = []"), "`run` is empty"),
            (
                one("profile = \"relay\"\nrun = \"x\"\ncolour = 1"),
                "unknown field `colour`",
            ),
            (one("profile = \"relay\"\nrun = \"x 'y\""), "run `x 'y`"),
            ("[[submission]\n".to_string(), "line 1"),
            (String::new(), "no [[submission]]"),
            (
                one("profile = \"relay\"\nrun = \"x\"\n")
                    + &one("profile = \"relay\"\nrun = \"x\"\n"),
                "used twice",
            ),
        ] {
            let error = Manifest::parse(&text, Path::new(".")).unwrap_err();
            assert!(error.contains(wanted), "{error:?} should say {wanted:?}");
            assert!(!error.contains('\n'), "{error:?} is one line");
        }
    }
}
