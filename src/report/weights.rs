//! Points per property, for graded formats (Gradescope, `grade`'s summary).
//!
//! A weights file is TOML mapping ID patterns to points:
//!
//! ```toml
//! "server.echo.*" = 3
//! "server.eof.after-half-close" = 5
//! ```
//!
//! Patterns follow [`spec::matches_pattern`](crate::spec::matches_pattern)
//! (a `*` glob, else a substring). When several match, the longest pattern
//! wins, so a specific ID overrides a glob whatever the file's order; a
//! property no pattern matches is worth one point. A passing property earns
//! its points; any other verdict earns none out of the same points, a skip
//! included (it was not shown to hold), so every submission checked with the
//! same selection is scored out of the same total.

use std::path::{Path, PathBuf};

use crate::spec::{matches_pattern, Verdict};

/// Why a weights file was refused. Each message is one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be read.
    #[error("weights file {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error (in the message: not a source, which error chains would print again).
        error: std::io::Error,
    },
    /// The file is not TOML, or an entry is not `"pattern" = points`.
    #[error("weights file {}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line when known.
        message: String,
    },
}

/// Points per property ID pattern; the default gives every property one point.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Weights {
    rules: Vec<(String, f64)>,
}

impl Weights {
    /// Reads a weights file.
    pub fn load(path: &Path) -> Result<Weights, WeightsError> {
        let text = std::fs::read_to_string(path).map_err(|error| WeightsError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Weights::parse(&text).map_err(|message| WeightsError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses weights from TOML text; the error is one line.
    pub fn parse(text: &str) -> Result<Weights, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        let rules = table
            .into_iter()
            .map(|(pattern, value)| {
                let points = match value {
                    toml::Value::Integer(n) => n as f64,
                    toml::Value::Float(x) => x,
                    other => {
                        return Err(format!(
                            "`{pattern}` must be a number of points, not a {}",
                            other.type_str()
                        ))
                    }
                };
                if points.is_finite() && points >= 0.0 {
                    Ok((pattern, points))
                } else {
                    Err(format!(
                        "`{pattern}` = {points}: points must be zero or more"
                    ))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Weights { rules })
    }

    /// The points property `id` is worth.
    pub fn points(&self, id: &str) -> f64 {
        self.rules
            .iter()
            .filter(|(pattern, _)| matches_pattern(pattern, id))
            .max_by_key(|(pattern, _)| pattern.len())
            .map_or(1.0, |&(_, points)| points)
    }

    /// (earned, possible) points for property `id` with a verdict named
    /// `verdict` (as [`Verdict::name`] spells it, which is also the JSON's).
    pub fn score(&self, id: &str, verdict: &str) -> (f64, f64) {
        let points = self.points(id);
        let earned = if verdict == "pass" { points } else { 0.0 };
        (earned, points)
    }

    /// (earned, possible) points for a verdict.
    pub fn score_verdict(&self, id: &str, verdict: &Verdict) -> (f64, f64) {
        self.score(id, verdict.name())
    }
}

/// A TOML error as one line: `line N: message`.
pub fn toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().replace('\n', " ");
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_matching_pattern_wins_and_the_rest_are_worth_one() {
        let weights = Weights::parse(
            r#"
            "server.echo.*" = 3
            "server.echo.large-payload" = 5
            "eof" = 0.5
            "#,
        )
        .unwrap();
        assert_eq!(weights.points("server.echo.one-line"), 3.0);
        assert_eq!(weights.points("server.echo.large-payload"), 5.0);
        assert_eq!(weights.points("pipe.eof.after-last-writer"), 0.5);
        assert_eq!(weights.points("relay.exit.status"), 1.0);
        assert_eq!(weights.score("server.echo.one-line", "fail"), (0.0, 3.0));
        assert_eq!(weights.score("server.echo.one-line", "pass"), (3.0, 3.0));
        assert_eq!(weights.score("server.echo.one-line", "skip"), (0.0, 3.0));
    }

    #[test]
    fn malformed_weights_are_one_line_errors() {
        for (text, wanted) in [
            ("\"server.*\" = \"three\"", "must be a number"),
            ("\"server.*\" = -1", "zero or more"),
            ("x = 1\n\"server.* = 3", "line 2"),
        ] {
            let error = Weights::parse(text).unwrap_err();
            assert!(error.contains(wanted), "{error:?} should say {wanted:?}");
            assert!(!error.contains('\n'), "{error:?} is one line");
        }
    }
}
