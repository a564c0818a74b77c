//! [`ConfigError`]: everything that can be wrong with the configuration file, located.

use std::fmt;
use std::path::PathBuf;

/// What kind of problem a [`ConfigError`] reports (for tests and for callers that react
/// differently, e.g. a missing explicit file vs. a typo).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The file could not be read (missing, unreadable, not UTF-8).
    Io,
    /// The file is not valid TOML.
    Syntax,
    /// A key that evacctl does not know (a typo, or a key in the wrong table).
    UnknownKey,
    /// A value of the wrong type, out of range, not one of the allowed values, or a bad
    /// duration, URL or argv.
    InvalidValue,
    /// A key that is required (alone, or together with another key) is missing.
    MissingKey,
    /// Two keys that exclude each other are both set.
    Conflict,
    /// A secret (password, token) could not be read from where the configuration says it is.
    Secret,
}

/// An error in evacctl's configuration: always maps to [`ExitCode::Config`].
///
/// Displays as `FILE:LINE:COLUMN: MESSAGE` (or `FILE: MESSAGE` when there is no position),
/// for example:
///
/// ```text
/// /etc/evacctl/config.toml:12:1: unknown key `adress` in [hosts."compute-1".bmc]; did you mean `address`? (valid keys: driver, address, port, ...)
/// ```
///
/// The details are public fields of [`ConfigErrorDetails`], reached through `Deref`
/// (`err.line`, `err.key`); they are boxed so that `Result<_, ConfigError>` stays small.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(Box<ConfigErrorDetails>);

/// The fields of a [`ConfigError`]. `message` is the whole text after the position (it
/// repeats the key and the suggestion, so it reads on its own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrorDetails {
    pub kind: ConfigErrorKind,
    /// The configuration file (the path given, or the default path), when there is one.
    pub path: Option<PathBuf>,
    /// 1-based line in `path`.
    pub line: Option<usize>,
    /// 1-based column in `path`, counted in characters.
    pub column: Option<usize>,
    /// The full key, with its table path as TOML writes it, e.g. `hosts."compute-1".bmc.port`
    /// or `consul.storage.addresses[1]`.
    pub key: Option<String>,
    /// What is wrong, in words (does not repeat the file and position).
    pub message: String,
    /// For an unknown key or value: the closest valid one, if any is close.
    pub suggestion: Option<String>,
    /// For an unknown key or value: all the valid ones, in the order of the documentation.
    pub valid: Vec<String>,
}

impl std::ops::Deref for ConfigError {
    type Target = ConfigErrorDetails;

    fn deref(&self) -> &ConfigErrorDetails {
        &self.0
    }
}

impl std::ops::DerefMut for ConfigError {
    fn deref_mut(&mut self) -> &mut ConfigErrorDetails {
        &mut self.0
    }
}

impl From<ConfigErrorDetails> for ConfigError {
    fn from(details: ConfigErrorDetails) -> Self {
        ConfigError(Box::new(details))
    }
}

impl ConfigError {
    pub(crate) fn new(kind: ConfigErrorKind, message: impl Into<String>) -> Self {
        ConfigErrorDetails {
            kind,
            path: None,
            line: None,
            column: None,
            key: None,
            message: message.into(),
            suggestion: None,
            valid: Vec::new(),
        }
        .into()
    }

    pub(crate) fn with_path(mut self, path: Option<PathBuf>) -> Self {
        self.path = path;
        self
    }

    /// The details, owned.
    pub fn into_details(self) -> ConfigErrorDetails {
        *self.0
    }

    /// The position as `FILE:LINE:COLUMN`, `FILE`, `line L, column C`, or `None`.
    pub fn location(&self) -> Option<String> {
        match (&self.path, self.line) {
            (Some(p), Some(l)) => Some(format!(
                "{}:{}:{}",
                p.display(),
                l,
                self.column.unwrap_or(1)
            )),
            (Some(p), None) => Some(p.display().to_string()),
            (None, Some(l)) => Some(format!("line {}, column {}", l, self.column.unwrap_or(1))),
            (None, None) => None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location() {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}
