//! What is wrong with a configuration: each [`Problem`] with its file,
//! line and key, and the [`ConfigError`] that lists them all.

use std::fmt;

/// One thing wrong with the configuration, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file as given (or the origin a test passed to `from_str`).
    pub file: String,
    /// 1-based line in `file`, when the problem is in its text.
    pub line: Option<usize>,
    /// The key or table, spelled as in the file: `[http] listen`,
    /// `[[alarms]] pattern`, `public_url`, `[alerts.ops]`.
    pub key: Option<String>,
    /// One line, no trailing period.
    pub message: String,
}

/// `FILE:LINE: KEY: MESSAGE`, leaving out what is not known.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why the configuration cannot be used: every problem found, in file and
/// line order (at least one). A file that is not valid TOML stops at its
/// first syntax or type error; bad values are all collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub(crate) problems: Vec<Problem>,
}

impl ConfigError {
    pub(crate) fn new(problem: Problem) -> ConfigError {
        ConfigError {
            problems: vec![problem],
        }
    }

    /// Every problem found, in file and line order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

/// One problem per line.
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
