//! A target's command line: resolving the program and filling placeholders.
//!
//! Placeholders are `{port}`, `{socket}`, `{host}`, `{dir}` (a directory the
//! check prepared for the target: a web server's document root) and any other
//! `{name}` a check defines; [`CommandSpec::fill`] substitutes them inside arguments
//! (`--listen={port}` works) and [`CommandSpec::uses`] tells which ones a
//! command line mentions, so a check can refuse one that lacks what it needs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{TargetError, UsageError};

/// A program and its arguments, possibly with `{placeholders}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// The program: a path, or a name looked up on `PATH`.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
}

impl CommandSpec {
    /// A command from `argv` (program first); an error if `argv` is empty.
    pub fn new(argv: &[String]) -> Result<CommandSpec, TargetError> {
        let (program, args) = argv.split_first().ok_or(UsageError::NoCommand)?;
        Ok(CommandSpec {
            program: program.clone(),
            args: args.to_vec(),
        })
    }

    /// Whether any argument (or the program) mentions `{name}`.
    pub fn uses(&self, name: &str) -> bool {
        let token = format!("{{{name}}}");
        std::iter::once(&self.program)
            .chain(&self.args)
            .any(|a| a.contains(&token))
    }

    /// A copy with every `{name}` replaced by its value.
    pub fn fill(&self, values: &[(&str, &str)]) -> CommandSpec {
        let fill_one = |s: &String| {
            values.iter().fold(s.clone(), |s, (name, value)| {
                s.replace(&format!("{{{name}}}"), value)
            })
        };
        CommandSpec {
            program: fill_one(&self.program),
            args: self.args.iter().map(fill_one).collect(),
        }
    }

    /// The program as an executable path: a path is checked as given, a bare
    /// name is looked up on `PATH`.
    pub fn resolve(&self) -> Result<PathBuf, TargetError> {
        let program = &self.program;
        let candidate = if program.contains('/') {
            let path = PathBuf::from(program);
            if !path.exists() {
                return Err(TargetError::NotFound {
                    program: program.clone(),
                });
            }
            path
        } else {
            std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths)
                .map(|dir| dir.join(program))
                .find(|p| p.is_file())
                .ok_or_else(|| TargetError::NotFound {
                    program: program.clone(),
                })?
        };
        if is_executable(&candidate) {
            Ok(candidate)
        } else {
            Err(TargetError::NotExecutable { path: candidate })
        }
    }

    /// The command line as a shell would show it.
    pub fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// `word` quoted for a POSIX shell when it needs it.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%{}".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(argv: &[&str]) -> CommandSpec {
        CommandSpec::new(&argv.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn placeholders_fill_inside_arguments() {
        let cmd = spec(&["srv", "--listen=127.0.0.1:{port}", "{port}"]);
        assert!(cmd.uses("port") && !cmd.uses("socket"));
        assert_eq!(
            cmd.fill(&[("port", "4000")]).args,
            ["--listen=127.0.0.1:4000", "4000"]
        );
    }

    #[test]
    fn the_directory_fills_beside_the_address() {
        let cmd = spec(&[
            "python3",
            "-m",
            "http.server",
            "{port}",
            "--directory={dir}",
        ]);
        assert!(cmd.uses("dir") && cmd.uses("port"));
        let filled = cmd.fill(&[("dir", "/tmp/site root"), ("port", "80")]);
        assert_eq!(filled.args[2..], ["80", "--directory=/tmp/site root"]);
        assert!(!filled.uses("dir"));
    }

    #[test]
    fn missing_programs_and_plain_files_are_told_apart() {
        assert!(matches!(
            spec(&["/no/such/prog"]).resolve(),
            Err(TargetError::NotFound { .. })
        ));
        assert!(matches!(
            spec(&["no-such-prog-xyz"]).resolve(),
            Err(TargetError::NotFound { .. })
        ));
        let file = tempfile::NamedTempFile::new().unwrap();
        let path = file.path().to_str().unwrap();
        assert!(matches!(
            spec(&[path]).resolve(),
            Err(TargetError::NotExecutable { .. })
        ));
        assert!(spec(&["sh"]).resolve().is_ok());
    }

    #[test]
    fn quoting_round_trips_through_sh() {
        assert_eq!(shell_quote("a b'c"), r"'a b'\''c'");
        assert_eq!(shell_quote("{port}"), "{port}");
    }
}
