//! Where a secret is ([`SecretRef`]) and reading it on demand into a [`Secret`].
//!
//! The configuration never holds a secret value, only a file or an environment variable
//! name, so a `{:?}` of the config cannot leak one. The value is read when it is needed (at
//! fence time for a BMC password), and the error says whose secret it is and where the
//! configuration says to find it, never the value.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, ConfigErrorKind};
use crate::secret::Secret;

/// Secret files larger than this are refused: the path is probably wrong (a binary, a log).
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Where a secret is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// A file holding only the secret; trailing line breaks are removed.
    File(PathBuf),
    /// An environment variable holding the secret (taken as is).
    Env(String),
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::File(p) => write!(f, "file {}", p.display()),
            SecretSource::Env(v) => write!(f, "environment variable {v}"),
        }
    }
}

/// A reference to a secret, and where the configuration set it (for error messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    pub source: SecretSource,
    /// Whose secret, for messages: e.g. "the BMC password of host `compute-1`".
    pub what: String,
    /// The configuration file and the key that set `source`
    /// (e.g. `bmc_defaults.password_file` for a host that inherits it).
    pub config_path: Option<PathBuf>,
    pub key: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl SecretRef {
    /// Reads the secret from its file or environment variable.
    ///
    /// Errors ([`ConfigErrorKind::Secret`], exit code `config`) name whose secret it is, the
    /// file or variable, and the config key and line that point there: a missing or
    /// unreadable file, an empty file, an unset or empty variable.
    pub fn read(&self) -> Result<Secret, ConfigError> {
        self.read_with(|name| std::env::var_os(name))
    }

    /// [`read`](Self::read) with another environment (tests, the simulator).
    pub fn read_with(&self, env: impl Fn(&str) -> Option<OsString>) -> Result<Secret, ConfigError> {
        let value = match &self.source {
            SecretSource::File(path) => read_secret_file(path).map_err(|why| self.error(why))?,
            SecretSource::Env(name) => {
                let v = env(name)
                    .ok_or_else(|| self.error(format!("environment variable {name} is not set")))?;
                let v = v.into_string().map_err(|_| {
                    self.error(format!("environment variable {name} is not valid UTF-8"))
                })?;
                if v.is_empty() {
                    return Err(self.error(format!("environment variable {name} is empty")));
                }
                v
            }
        };
        Ok(Secret::new(value))
    }

    fn error(&self, why: String) -> ConfigError {
        let mut e = ConfigError::new(
            ConfigErrorKind::Secret,
            format!("cannot read {} (set by `{}`): {why}", self.what, self.key),
        )
        .with_path(self.config_path.clone());
        e.line = self.line;
        e.column = self.column;
        e.key = Some(self.key.clone());
        e
    }
}

/// Reads a secret file; the error text names the file but never its content. Only a regular
/// file is read (a FIFO would block the read until someone writes to it, a device may never
/// end), and at most [`MAX_SECRET_FILE_BYTES`] of it.
fn read_secret_file(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let file = crate::files::open_regular(path, true).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("file {shown} does not exist"),
        std::io::ErrorKind::InvalidInput => format!("cannot use {shown}: {e}"),
        _ => format!("cannot open file {shown}: {e}"),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot stat file {shown}: {e}"))?;
    check_secret_file_permissions(path, &meta)?;
    let bytes = crate::files::read_to_limit(file, MAX_SECRET_FILE_BYTES).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            format!(
                "file {shown} is larger than {} (the limit for a secret file): is it the right file?",
                crate::files::size(MAX_SECRET_FILE_BYTES)
            )
        } else {
            format!("cannot read file {shown}: {e}")
        }
    })?;
    let mut text =
        String::from_utf8(bytes).map_err(|_| format!("file {shown} is not valid UTF-8"))?;
    let len = text.trim_end_matches(['\n', '\r']).len();
    text.truncate(len);
    if text.is_empty() {
        return Err(format!("file {shown} is empty"));
    }
    Ok(text)
}

/// As ssh does with private keys: a secret file that its group or other users may read or
/// write is refused (and never read), so a BMC password or token does not sit readable by
/// every account of the controller. Checked on the open file, so the file checked is the file
/// read. The owner is not checked (evacctl usually runs as root, who may read anything anyway).
fn check_secret_file_permissions(path: &Path, meta: &fs::Metadata) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            let shown = path.display();
            return Err(format!(
                "permissions {mode:04o} of {shown} are too open: a secret file must be \
                 accessible by its owner only (chmod 600 {shown}); it was not used"
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta);
    Ok(())
}
