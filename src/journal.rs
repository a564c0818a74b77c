//! The journal: an append-only file of JSON lines, fsynced, one record before each request is
//! sent (`intent`) and one after it is answered (`result`), per host and per server, with a run
//! id and timestamps. It is how a killed run resumes without doing anything twice, and the
//! evacuation history operators read (`jq`, `grep`).
//!
//! The record is general (kind, action, host, target, server, status, detail) so that
//! `migrate-volumes` and `watch` write to the same file. A manual command's records also say
//! who ran it ([`Operator`]: the user, `SUDO_USER`, the machine, the command line with its
//! secrets masked); `watch`'s records have none.
//!
//! The file's directory is created (mode 0700) when it does not exist: at 3 a.m. a missing
//! `/var/lib/evacctl` must not stop an evacuation. The file itself is created 0600, and only a
//! regular file is used: a symbolic link, a FIFO or a device (`/dev/full`) is refused.
//!
//! A line that cannot be parsed (a torn last line after a crash, a full disk or a power loss)
//! is skipped with a warning when reading. Opening closes such a line off with a newline
//! before anything is appended, so the next record is never glued to it (and lost with it).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

mod checkpoint;
pub use checkpoint::{checkpoint_path, summary};

pub use crate::core::records::{
    Accepted, Kind, NO_ANSWER, Record, TAKEOVER_ACTION, accepted_from, episode_of,
    evacuations_from, takeover,
};

/// The environment variable that overrides `[journal] path` (so does `--journal`).
pub const ENV_VAR: &str = "EVACCTL_JOURNAL";

/// The journal file to use: `EVACCTL_JOURNAL` when set and not empty, else the configured one.
pub fn path_from(configured: &Path) -> PathBuf {
    match std::env::var_os(ENV_VAR) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => configured.to_path_buf(),
    }
}

/// The optional fields of a record.
#[derive(Clone, Debug, Default)]
pub struct Fields<'a> {
    pub host: Option<&'a str>,
    pub target: Option<&'a str>,
    pub server: Option<&'a str>,
    pub server_name: Option<&'a str>,
    pub server_status: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub detail: Option<&'a str>,
    pub data: Option<&'a serde_json::Value>,
}

/// The journal, open for appending. Shared between worker threads.
pub struct Journal {
    path: PathBuf,
    run_id: String,
    file: File,
    write_lock: Mutex<()>,
    /// A write failed part-way (a full disk): the file may end mid-line, so the next write
    /// starts with a newline.
    torn: AtomicBool,
    /// Who ran the command, written into every record (`None`: `watch`, tests).
    operator: Option<Operator>,
}

/// Who ran a manual command: the audit part of its journal records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// The account evacctl runs as (its name, else `USER`, else `uid N`).
    pub user: String,
    /// Who ran it through sudo (`SUDO_USER`), when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sudo_user: Option<String>,
    /// This machine's host name.
    pub host: String,
    /// The command line, secrets masked.
    pub command: String,
}

impl Operator {
    /// The current user on this machine, running `argv` (evacctl's own, program first).
    pub fn current<I, S>(argv: I) -> Operator
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let argv: Vec<String> = argv
            .into_iter()
            .map(|a| a.into().to_string_lossy().into_owned())
            .collect();
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Operator {
            user: user_name()
                .or_else(|| env("USER"))
                .unwrap_or_else(|| format!("uid {}", current_uid())),
            sudo_user: env("SUDO_USER"),
            host: host_name(),
            command: crate::process::shell_words(&mask_argv(&argv)),
        }
    }

    /// [`Operator::current`] for a manual command; `None` for `watch`, whose records stay as
    /// they are (it runs unattended, and writes a record per state change).
    pub fn for_command<I, S>(argv: I) -> Option<Operator>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
        let words: Vec<String> = argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        (subcommand(&words) != Some("watch")).then(|| Operator::current(argv))
    }
}

/// The subcommand of evacctl's argv: its first word that is neither an option nor the value
/// of a global option that takes one (these follow `cli::GlobalArgs`).
fn subcommand(argv: &[String]) -> Option<&str> {
    const TAKE_A_VALUE: &[&str] = &[
        "--os-cloud",
        "--os-region-name",
        "--config",
        "--format",
        "-f",
        "--log-file",
        "--journal",
    ];
    let mut words = argv.iter().skip(1);
    while let Some(w) = words.next() {
        if TAKE_A_VALUE.contains(&w.as_str()) {
            words.next();
        } else if !w.starts_with('-') {
            return Some(w);
        }
    }
    None
}

/// An argv with the values of secret-looking options masked: the value after `--password`,
/// `--token`, or any option whose name holds `password`, `token` or `secret` (its next word,
/// or what follows its `=`), and `NAME=value` words whose name holds one of them.
pub fn mask_argv(argv: &[String]) -> Vec<String> {
    let secret_name = |name: &str| {
        let n = name.to_ascii_lowercase();
        ["password", "token", "secret", "passwd"]
            .iter()
            .any(|w| n.contains(w))
    };
    let mut out = Vec::with_capacity(argv.len());
    let mut mask_next = false;
    for w in argv {
        if mask_next {
            out.push("***".to_string());
            mask_next = false;
            continue;
        }
        match w.split_once('=') {
            Some((name, _)) if secret_name(name) => out.push(format!("{name}=***")),
            None if w.starts_with('-') && secret_name(w) => {
                out.push(w.clone());
                mask_next = true;
            }
            _ => out.push(w.clone()),
        }
    }
    out
}

fn current_uid() -> u32 {
    // SAFETY: getuid(2) cannot fail and touches no memory of ours.
    unsafe { libc::getuid() }
}

/// The name of the account evacctl runs as, from the user database.
fn user_name() -> Option<String> {
    // SAFETY: `passwd` is plain data (integers and pointers); all zeros is a valid value.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to memory owned here, `buf` with its true length; the name
    // read below lies in `buf`, alive until this function returns.
    unsafe {
        let rc = libc::getpwuid_r(
            current_uid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(pwd.pw_name)
            .to_string_lossy()
            .into_owned();
        Some(name).filter(|n| !n.is_empty())
    }
}

/// This machine's host name (the kernel's).
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer and its length are ours; gethostname writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
        .filter(|h| rc == 0 && !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// A record as written: the record, then who wrote it.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    record: &'a Record,
    #[serde(skip_serializing_if = "Option::is_none")]
    operator: Option<&'a Operator>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("run_id", &self.run_id)
            .finish_non_exhaustive()
    }
}

/// `20261122T031209Z-3f2a9c1d`: sortable, and unique enough across controllers.
pub fn new_run_id() -> String {
    let t = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let compact: String = t.chars().filter(|c| *c != '-' && *c != ':').collect();
    format!("{compact}-{}", crate::ids::random_hex(4))
}

fn now() -> String {
    humantime::format_rfc3339_micros(SystemTime::now()).to_string()
}

impl Journal {
    /// Opens (creating it, and its directory, if needed) for appending under a new run id.
    pub fn open(path: &Path) -> io::Result<Journal> {
        let context = |what: &str, e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("journal {}: cannot {what}: {e}", path.display()),
            )
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            create_private_dir(dir).map_err(|e| context("create its directory", e))?;
            tracing::info!("created the journal directory {}", dir.display());
        }
        let file = crate::files::open_append(path, 0o600).map_err(|e| context("open it", e))?;
        close_torn_line(path, &file).map_err(|e| context("repair its last line", e))?;
        Ok(Journal {
            path: path.to_path_buf(),
            run_id: new_run_id(),
            file,
            write_lock: Mutex::new(()),
            torn: AtomicBool::new(false),
            operator: None,
        })
    }

    /// [`Journal::open`], its records saying who ran `argv` ([`Operator::for_command`]: none
    /// for `watch`).
    pub fn open_for_command<I, S>(path: &Path, argv: I) -> io::Result<Journal>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Ok(Journal::open(path)?.with_operator(Operator::for_command(argv)))
    }

    /// Every record from now on says who ran the command (`None`: nobody, as for `watch`).
    pub fn with_operator(mut self, operator: impl Into<Option<Operator>>) -> Journal {
        self.operator = operator.into();
        self
    }

    pub fn operator(&self) -> Option<&Operator> {
        self.operator.as_ref()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Appends one record and syncs it to disk before returning.
    pub fn append(&self, kind: Kind, action: &str, status: &str, f: Fields<'_>) -> io::Result<()> {
        self.write_lines(&[(kind, action, status, f)])?;
        self.sync()
    }

    /// Appends several records with one sync: the intents of a whole batch of requests,
    /// durable before the first is sent.
    pub fn append_all(&self, records: &[(Kind, &str, &str, Fields<'_>)]) -> io::Result<()> {
        self.write_lines(records)?;
        self.sync()
    }

    /// Appends a record without waiting for the disk: for results of a batch whose intents are
    /// already durable. A crash can lose such a record; its intent then reads "in doubt", and
    /// Nova's own records decide (see [`evacuations_from`]). [`Journal::sync`] ends the batch.
    pub fn append_unsynced(
        &self,
        kind: Kind,
        action: &str,
        status: &str,
        f: Fields<'_>,
    ) -> io::Result<()> {
        self.write_lines(&[(kind, action, status, f)])
    }

    /// Makes every record written so far durable.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data().map_err(|e| self.error(e))
    }

    fn error(&self, e: io::Error) -> io::Error {
        io::Error::new(
            e.kind(),
            format!("journal {}: cannot write: {e}", self.path.display()),
        )
    }

    fn write_lines(&self, records: &[(Kind, &str, &str, Fields<'_>)]) -> io::Result<()> {
        let ts = now();
        let mut buf = Vec::new();
        for (kind, action, status, f) in records {
            let record = Record {
                ts: ts.clone(),
                run_id: self.run_id.clone(),
                kind: *kind,
                action: action.to_string(),
                host: f.host.map(str::to_string),
                target: f.target.map(str::to_string),
                server: f.server.map(str::to_string),
                server_name: f.server_name.map(str::to_string),
                status: status.to_string(),
                server_status: f.server_status.map(str::to_string),
                request_id: f.request_id.map(str::to_string),
                detail: f.detail.map(str::to_string),
                data: f.data.cloned(),
            };
            let line = Line {
                record: &record,
                operator: self.operator.as_ref(),
            };
            serde_json::to_writer(&mut buf, &line)?;
            buf.push(b'\n');
        }
        // The lock keeps lines whole; syncs run outside it, so concurrent writers share the
        // disk's flushes (a sync makes every line written before it durable).
        // A poisoned lock only means another writer panicked; the file is still whole.
        let _guard = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.torn.load(Ordering::Relaxed) {
            buf.insert(0, b'\n');
        }
        match (&self.file).write_all(&buf) {
            Ok(()) => {
                self.torn.store(false, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.torn.store(true, Ordering::Relaxed);
                Err(self.error(e))
            }
        }
    }
}

/// Closes off a last line without its newline (a record cut by a crash, a full disk or a
/// power loss), synced, with a warning naming where it starts: appended to as it is, the
/// file would glue the next record to it, and a reader would lose both.
fn close_torn_line(path: &Path, file: &File) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata()?.len();
    let mut last = [0u8; 1];
    if len == 0 || (file.read_exact_at(&mut last, len - 1).is_ok() && last[0] == b'\n') {
        return Ok(());
    }
    // Where the torn line starts: after the last newline before the end.
    let mut start = 0;
    let mut end = len;
    let mut chunk = vec![0u8; 8192];
    while end > 0 {
        let from = end.saturating_sub(chunk.len() as u64);
        let n = usize::try_from(end - from).unwrap_or(chunk.len());
        file.read_exact_at(&mut chunk[..n], from)?;
        if let Some(i) = chunk[..n].iter().rposition(|b| *b == b'\n') {
            start = from + i as u64 + 1;
            break;
        }
        end = from;
    }
    (&*file).write_all(b"\n")?;
    file.sync_data()?;
    tracing::warn!(
        "journal {}: its last line (bytes {start}..{len}) was cut off (a crash, a full disk or \
         a power loss?): closed it with a newline; it is skipped when reading",
        path.display()
    );
    Ok(())
}

pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Where a reader of a journal file got to: just after a complete (newline-ended) line, with
/// what identifies the file and the bytes before that point. The journal is append-only: a
/// reader that kept its position reads only what was appended since.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Position {
    pub dev: u64,
    pub ino: u64,
    /// Just after the last complete line read.
    pub offset: u64,
    /// The complete lines up to `offset` (for the line numbers of warnings).
    pub lines: usize,
    /// The lines up to `offset` that were not records.
    pub bad: usize,
    /// SHA-256 (hex) of the bytes before `offset` (at most [`CHECK_BYTES`]): a file rewritten
    /// in place (same inode) no longer has them, and is read again from the start.
    pub check: String,
}

const CHECK_BYTES: u64 = 4096;

impl Position {
    pub fn start(meta: &std::fs::Metadata) -> Position {
        use std::os::unix::fs::MetadataExt;
        Position {
            dev: meta.dev(),
            ino: meta.ino(),
            offset: 0,
            lines: 0,
            bad: 0,
            check: String::new(),
        }
    }

    /// Still within `file` (the same file, its bytes before `offset` unchanged)?
    pub fn holds_for(&self, file: &File, meta: &std::fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino()) == (self.dev, self.ino)
            && meta.len() >= self.offset
            && check_of(file, self.offset).is_ok_and(|c| c == self.check)
    }

    /// Reads `file` from this position to its end: each complete line's record goes to
    /// `complete`, and the position moves past it (a line that is not a record is counted in
    /// `bad` and warned of); a last line without its newline (being written, or torn) goes to
    /// `partial` and is read again next time. The lines of that kind that were not records.
    pub fn read_on(
        &mut self,
        path: &Path,
        file: &File,
        mut complete: impl FnMut(Record),
        mut partial: impl FnMut(Record),
    ) -> io::Result<usize> {
        use std::io::{Seek, SeekFrom};
        let mut reader = BufReader::new(file);
        reader.seek(SeekFrom::Start(self.offset))?;
        let mut partial_bad = 0;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            let whole = line.last() == Some(&b'\n');
            let number = self.lines + 1;
            if whole {
                self.offset += n as u64;
                self.lines += 1;
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Record>(text) {
                Ok(r) if whole => complete(r),
                Ok(r) => partial(r),
                Err(e) => {
                    if whole {
                        self.bad += 1;
                    } else {
                        partial_bad += 1;
                    }
                    tracing::warn!(
                        "journal {}: line {number} skipped (not a record: {e})",
                        path.display(),
                    );
                }
            }
        }
        self.check = check_of(file, self.offset)?;
        Ok(partial_bad)
    }
}

/// SHA-256 (hex) of the bytes of `file` before `offset`, at most [`CHECK_BYTES`] of them.
fn check_of(file: &File, offset: u64) -> io::Result<String> {
    use std::os::unix::fs::FileExt;
    let keep = offset.min(CHECK_BYTES);
    let mut bytes = vec![0u8; usize::try_from(keep).unwrap_or(0)];
    file.read_exact_at(&mut bytes, offset - keep)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    Ok(digest.as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

/// What [`read`] parsed of a journal file, kept for the next read in this process (a year of
/// journal is not parsed again at every step of a long `watch`).
struct Parsed {
    at: Position,
    /// Shared with the callers: a read hands out the same records, not a copy (a year of
    /// journal is hundreds of thousands of them).
    records: Arc<Vec<Record>>,
}

static PARSED: Kept<Parsed> = Kept::new();

/// What a reader of journal files keeps between its reads in this process, by path.
pub(crate) struct Kept<T>(Mutex<Option<HashMap<PathBuf, T>>>);

impl<T> Kept<T> {
    pub const fn new() -> Kept<T> {
        Kept(Mutex::new(None))
    }

    fn map(&self) -> std::sync::MutexGuard<'_, Option<HashMap<PathBuf, T>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What was kept for `path` (taken: kept again with [`Kept::keep`] after the read).
    pub fn take(&self, path: &Path) -> Option<T> {
        self.map().as_mut()?.remove(path)
    }

    pub fn keep(&self, path: &Path, value: T) {
        self.map()
            .get_or_insert_with(HashMap::new)
            .insert(path.to_path_buf(), value);
    }

    /// Forgets everything (a test's "new process").
    #[cfg(test)]
    pub fn clear(&self) {
        self.map().take();
    }
}

/// Opens a journal for reading; `None` when it does not exist.
pub(crate) fn open_for_reading(path: &Path) -> io::Result<Option<File>> {
    match crate::files::open_regular(path, false) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("journal {}: cannot read it: {e}", path.display()),
        )),
    }
}

/// Every record of a journal file (none if it does not exist). Lines that do not parse are
/// skipped and counted. A last line without its newline (being written, or torn) is parsed
/// at every read until it is complete. The records are shared with the next reads of the
/// same file in this process (they only parse what was appended since).
pub fn read(path: &Path) -> io::Result<(Arc<Vec<Record>>, usize)> {
    let Some(file) = open_for_reading(path)? else {
        return Ok((Arc::new(Vec::new()), 0));
    };
    let meta = file.metadata()?;
    let mut parsed = match PARSED.take(path) {
        Some(p) if p.at.holds_for(&file, &meta) => p,
        _ => Parsed {
            at: Position::start(&meta),
            records: Arc::new(Vec::new()),
        },
    };
    let mut tail = Vec::new();
    let mut appended = Vec::new();
    let tail_bad = parsed
        .at
        .read_on(path, &file, |r| appended.push(r), |r| tail.push(r))?;
    if !appended.is_empty() {
        // A copy only when a caller still holds the records of an earlier read.
        Arc::make_mut(&mut parsed.records).append(&mut appended);
    }
    let records = if tail.is_empty() {
        Arc::clone(&parsed.records)
    } else {
        let mut all = Vec::with_capacity(parsed.records.len() + tail.len());
        all.extend_from_slice(&parsed.records);
        all.append(&mut tail);
        Arc::new(all)
    };
    let bad = parsed.at.bad + tail_bad;
    PARSED.keep(path, parsed);
    Ok((records, bad))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::evacuable::JournalState;
    use crate::core::summary::Summary;
    use crate::core::time::parse_timestamp;
    use std::time::Duration;

    fn fields<'a>(server: &'a str) -> Fields<'a> {
        Fields {
            host: Some("compute-1"),
            server: Some(server),
            server_status: Some("ACTIVE"),
            ..Default::default()
        }
    }

    /// A second read parses only what was appended, and answers as a first read would: a
    /// last line still being written is not kept until it is complete, and a file replaced
    /// or rewritten in place is read again from the start.
    #[test]
    fn reads_again_only_what_was_appended_with_the_same_answers() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let fresh = |path: &Path| {
            // What a reader without the cache would say.
            PARSED.take(path);
            read(path).unwrap()
        };
        let j = Journal::open(&path).unwrap();
        j.append(Kind::Intent, "evacuate", "sending", fields("a"))
            .unwrap();
        let first = read(&path).unwrap();
        assert_eq!(first.0.len(), 1);
        j.append(Kind::Result, "evacuate", "accepted", fields("a"))
            .unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"not json\n{\"half\": ").unwrap();
        let second = read(&path).unwrap();
        assert_eq!((second.0.len(), second.1), (2, 2), "{second:?}");
        assert_eq!(second, fresh(&path));
        // The last line completed: a record now, and the bad line still counted once.
        let line = serde_json::to_string(&second.0[1]).unwrap();
        file.write_all(b"1}\n").unwrap();
        let third = read(&path).unwrap();
        assert_eq!(third.1, 2, "{third:?}");
        drop(file);
        // In place, the same inode, longer than what was read: its old bytes are gone.
        std::fs::write(&path, format!("{line}\n{line}\n{line}\n")).unwrap();
        let rewritten = read(&path).unwrap();
        assert_eq!((rewritten.0.len(), rewritten.1), (3, 0), "{rewritten:?}");
        assert_eq!(rewritten, fresh(&path));
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, format!("{line}\n{line}\n")).unwrap();
        let replaced = read(&path).unwrap();
        assert_eq!(replaced.0.len(), 2);
        assert_eq!(replaced, fresh(&path));
    }

    #[test]
    fn a_request_without_a_clear_answer_stays_in_doubt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let j = Journal::open(&path).unwrap();
        for (server, status) in [("a", NO_ANSWER), ("b", "failed")] {
            j.append(Kind::Intent, "evacuate", "sending", fields(server))
                .unwrap();
            j.append(Kind::Result, "evacuate", status, fields(server))
                .unwrap();
        }
        let (records, _) = read(&path).unwrap();
        let got = evacuations_from(&records, "compute-1");
        assert!(
            matches!(got.get("a"), Some(JournalState::InDoubt { .. })),
            "{got:?}"
        );
        // A refusal Nova answered leaves nothing to wait for: it may be sent again.
        assert!(!got.contains_key("b"), "{got:?}");
    }

    #[test]
    fn appends_syncs_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/journal.jsonl");
        let j = Journal::open(&path).unwrap();
        assert!(path.exists(), "directory and file created");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        j.append(Kind::Intent, "evacuate", "sending", fields("a"))
            .unwrap();
        j.append(
            Kind::Result,
            "evacuate",
            "accepted",
            Fields {
                target: Some("compute-2"),
                request_id: Some("req-1"),
                ..fields("a")
            },
        )
        .unwrap();
        j.append(Kind::Intent, "evacuate", "sending", fields("b"))
            .unwrap();
        j.append(
            Kind::Intent,
            "evacuate",
            "sending",
            Fields {
                host: Some("compute-9"),
                ..fields("c")
            },
        )
        .unwrap();
        j.append(Kind::Intent, "evacuate", "sending", fields("d"))
            .unwrap();
        j.append(
            Kind::Result,
            "evacuate",
            "failed",
            Fields {
                detail: Some("HTTP 409"),
                ..fields("d")
            },
        )
        .unwrap();
        // A torn line from a crash is skipped.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"ts\": \"2026")
            .unwrap();
        let (records, bad) = read(&path).unwrap();
        assert_eq!((records.len(), bad), (6, 1));
        assert!(records.iter().all(|r| r.run_id == j.run_id()));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().next().unwrap().contains("\"kind\":\"intent\""));

        let state = evacuations_from(&records, "compute-1");
        assert!(matches!(state["a"], JournalState::Accepted { .. }));
        assert!(matches!(state["b"], JournalState::InDoubt { .. }));
        assert!(!state.contains_key("c"), "another host");
        assert!(!state.contains_key("d"), "refused: nothing to skip");
        let acc = accepted_from(&records, "compute-1");
        assert_eq!(acc.len(), 1);
        assert_eq!(acc["a"].target.as_deref(), Some("compute-2"));
        assert_eq!(acc["a"].status_before.as_deref(), Some("ACTIVE"));
    }

    /// A host evacuated, restored, and failing again: the first failure's records neither
    /// skip a server (moved back since) nor count for the new verification.
    #[test]
    fn a_host_back_in_service_starts_a_new_episode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let j = Journal::open(&path).unwrap();
        let state = |status: &str| {
            j.append(
                Kind::Event,
                crate::core::watch::STATE_ACTION,
                status,
                Fields {
                    host: Some("compute-1"),
                    ..Default::default()
                },
            )
            .unwrap()
        };
        state("suspect");
        j.append(Kind::Intent, "evacuate", "sending", fields("a"))
            .unwrap();
        j.append(Kind::Result, "evacuate", "accepted", fields("a"))
            .unwrap();
        let (records, _) = read(&path).unwrap();
        assert_eq!(episode_of(&records, "compute-1").0, 0);
        assert!(matches!(
            evacuations_from(&records, "compute-1")["a"],
            JournalState::Accepted { .. }
        ));
        state("evacuated");
        state(crate::core::watch::RESTORED);
        state("suspect");
        j.append(Kind::Intent, "evacuate", "sending", fields("b"))
            .unwrap();
        let (records, _) = read(&path).unwrap();
        let (start, since) = episode_of(&records, "compute-1");
        assert_eq!(start, 5);
        assert_eq!(since, Some(records[5].ts.as_str()));
        let now = evacuations_from(&records, "compute-1");
        assert_eq!(now.keys().collect::<Vec<_>>(), ["b"]);
        assert!(accepted_from(&records, "compute-1").is_empty());
        assert_eq!(episode_of(&records, "compute-2"), (0, None));
    }

    /// A record cut at any byte (a crash, a full disk) loses only itself: the records before
    /// it are read, and every record appended after opening again is read too.
    #[test]
    fn a_torn_last_record_is_closed_off_at_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let whole = dir.path().join("whole.jsonl");
        let j = Journal::open(&whole).unwrap();
        j.append(Kind::Intent, "evacuate", "sending", fields("a"))
            .unwrap();
        j.append(Kind::Result, "evacuate", "accepted", fields("a"))
            .unwrap();
        j.append(Kind::Intent, "evacuate", "sending", fields("b"))
            .unwrap();
        let bytes = std::fs::read(&whole).unwrap();
        let last_start = bytes[..bytes.len() - 1]
            .iter()
            .rposition(|b| *b == b'\n')
            .unwrap()
            + 1;
        // Every cut inside the last record, up to its missing newline.
        for cut in last_start + 1..bytes.len() {
            let path = dir.path().join(format!("cut-{cut}.jsonl"));
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let j = Journal::open(&path).unwrap();
            j.append(Kind::Intent, "evacuate", "sending", fields("c"))
                .unwrap();
            j.append(Kind::Result, "evacuate", "accepted", fields("c"))
                .unwrap();
            let (records, bad) = read(&path).unwrap();
            let servers: Vec<&str> = records.iter().filter_map(|r| r.server.as_deref()).collect();
            if cut == bytes.len() - 1 {
                // Only its newline was lost: the record is whole, and read.
                assert_eq!(
                    (servers.as_slice(), bad),
                    (&["a", "a", "b", "c", "c"][..], 0)
                );
                continue;
            }
            assert_eq!(servers, ["a", "a", "c", "c"], "cut at byte {cut}");
            assert_eq!(bad, 1, "cut at byte {cut}: only the torn record is lost");
            let state = evacuations_from(&records, "compute-1");
            assert!(
                matches!(state["c"], JournalState::Accepted { .. }),
                "cut at byte {cut}"
            );
        }
        // A whole file is left as it is.
        let j = Journal::open(&whole).unwrap();
        drop(j);
        assert_eq!(std::fs::read(&whole).unwrap(), bytes);
    }

    /// A journal that ends mid-record, then `watch`-style appends (events, an evacuation
    /// accepted): the accepted evacuations stay visible, so nothing is sent twice.
    #[test]
    fn accepted_evacuations_stay_visible_after_a_torn_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let j = Journal::open(&path).unwrap();
        j.append(Kind::Intent, "evacuate", "sending", fields("a"))
            .unwrap();
        j.append(Kind::Result, "evacuate", "accepted", fields("a"))
            .unwrap();
        drop(j);
        // A power loss in the middle of the intent of b.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"ts\":\"2026-11-22T03:12:09.000000Z\",\"run_id\":\"x\",\"kin")
            .unwrap();
        drop(f);
        for _cycle in 0..3 {
            let j = Journal::open(&path).unwrap();
            j.append(
                Kind::Event,
                crate::core::watch::STATE_ACTION,
                "evacuating",
                Fields {
                    host: Some("compute-1"),
                    ..Default::default()
                },
            )
            .unwrap();
        }
        let j = Journal::open(&path).unwrap();
        j.append(Kind::Intent, "evacuate", "sending", fields("b"))
            .unwrap();
        j.append(Kind::Result, "evacuate", "accepted", fields("b"))
            .unwrap();
        let (records, bad) = read(&path).unwrap();
        assert_eq!((records.len(), bad), (7, 1));
        let accepted = accepted_from(&records, "compute-1");
        assert_eq!(accepted.keys().collect::<Vec<_>>(), ["a", "b"]);
    }

    /// A write that failed part-way (a full disk) leaves the file mid-line: the next record
    /// starts on a line of its own.
    #[test]
    fn a_failed_write_does_not_glue_the_next_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let j = Journal::open(&path).unwrap();
        j.append(Kind::Intent, "evacuate", "sending", fields("a"))
            .unwrap();
        // What a short write leaves behind, as the journal sees it.
        (&j.file).write_all(b"{\"ts\": \"20").unwrap();
        j.torn.store(true, Ordering::Relaxed);
        j.append(Kind::Intent, "evacuate", "sending", fields("b"))
            .unwrap();
        let (records, bad) = read(&path).unwrap();
        assert_eq!((records.len(), bad), (2, 1));
    }

    #[cfg(unix)]
    #[test]
    fn links_fifos_and_devices_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.jsonl");
        Journal::open(&real).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&real).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = Journal::open(&link).unwrap_err().to_string();
        assert!(
            e.contains("symbolic link") && e.contains("link.jsonl"),
            "{e}"
        );
        assert!(read(&link).is_err());
        let e = Journal::open(Path::new("/dev/full"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/dev/full") && e.contains("not a regular file"),
            "{e}"
        );
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(Journal::open(&fifo).is_err());
        let e = read(&fifo).unwrap_err().to_string();
        assert!(e.contains("FIFO"), "{e}");
        assert!(Journal::open(dir.path()).is_err());
    }

    /// A manual command's records say who ran it, with its secrets masked; records written
    /// without an operator (watch's) have no such field.
    #[test]
    fn records_carry_the_operator_with_secrets_masked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let argv = [
            "evacctl",
            "--config",
            "watch",
            "host-evacuate",
            "compute-1",
            "--os-password",
            "hunter2",
            "--token=tok-secret",
            "--password",
            "pw-secret",
            "db_password=pw2-secret",
            "--yes",
        ];
        let op = Operator::for_command(argv).expect("a manual command");
        assert!(!op.user.is_empty() && !op.host.is_empty(), "{op:?}");
        assert_eq!(
            op.command,
            "evacctl --config watch host-evacuate compute-1 --os-password '***' \
             '--token=***' --password '***' 'db_password=***' --yes"
        );
        let j = Journal::open(&path).unwrap().with_operator(op.clone());
        j.append(Kind::Intent, "evacuate", "sending", fields("a"))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("secret") && !text.contains("hunter2"),
            "{text}"
        );
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["operator"]["user"], op.user.as_str());
        assert_eq!(line["operator"]["host"], op.host.as_str());
        assert_eq!(line["operator"]["command"], op.command.as_str());
        assert_eq!(line["server"], "a");
        // The record still reads as before.
        let (records, bad) = read(&path).unwrap();
        assert_eq!((records.len(), bad), (1, 0));

        // `watch` gets no operator, and its records no field.
        assert_eq!(Operator::for_command(["evacctl", "watch", "--once"]), None);
        assert_eq!(
            Operator::for_command(["evacctl", "-f", "json", "--journal", "/j", "watch"]),
            None
        );
        let j = Journal::open(&path).unwrap().with_operator(None);
        j.append(Kind::Event, "state", "healthy", Fields::default())
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.lines().nth(1).unwrap().contains("operator"), "{text}");
    }

    #[test]
    fn a_missing_journal_is_empty_and_run_ids_differ() {
        let dir = tempfile::tempdir().unwrap();
        let (r, bad) = read(&dir.path().join("none.jsonl")).unwrap();
        assert!(r.is_empty() && bad == 0);
        let (a, b) = (new_run_id(), new_run_id());
        assert_ne!(a, b);
        assert!(a.len() > 20 && a.contains('T') && a.contains("Z-"), "{a}");
    }

    #[test]
    fn concurrent_writers_keep_lines_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let j = Journal::open(&path).unwrap();
        let ids: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
        crate::pool::map_bounded(&ids, 8, |id| {
            j.append(Kind::Intent, "evacuate", "sending", fields(id))
                .unwrap()
        });
        let (records, bad) = read(&path).unwrap();
        assert_eq!((records.len(), bad), (40, 0));
    }

    #[test]
    fn takeover_holds_name_their_hosts_and_the_latest_end_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let j = Journal::open(&path).unwrap();
        let (records, _) = read(&path).unwrap();
        assert_eq!(takeover(&records, "compute-3"), None);
        let take = |holder: &str, data: serde_json::Value| {
            j.append(
                Kind::Event,
                TAKEOVER_ACTION,
                "in-doubt",
                Fields {
                    target: Some(holder),
                    data: Some(&data),
                    ..Default::default()
                },
            )
            .unwrap();
        };
        take(
            "ctl-1",
            serde_json::json!({"hosts": ["compute-3"], "until": "2026-11-22T01:41:00Z"}),
        );
        // A later take-over that holds nothing does not end the earlier hold.
        take(
            "ctl-2",
            serde_json::json!({"hosts": [], "until": "2026-11-22T01:40:30Z"}),
        );
        let (records, _) = read(&path).unwrap();
        assert_eq!(takeover(&records, "compute-2"), None);
        let t = takeover(&records, "compute-3").unwrap();
        assert_eq!(
            (t.holder.as_str(), t.until.as_str()),
            ("ctl-1", "2026-11-22T01:41:00Z")
        );
        // `null` hosts: every host.
        take(
            "ctl-3",
            serde_json::json!({"hosts": null, "until": "2026-11-22T01:42:00Z"}),
        );
        let (records, _) = read(&path).unwrap();
        assert_eq!(takeover(&records, "compute-2").unwrap().holder, "ctl-3");
        assert_eq!(takeover(&records, "compute-3").unwrap().holder, "ctl-3");
    }

    #[test]
    fn a_hand_over_passes_on_what_is_still_in_doubt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let j = Journal::open(&path).unwrap();
        let ev = |host: &str, server: &str, kind: Kind, status: &str| {
            j.append(
                kind,
                "evacuate",
                status,
                Fields {
                    host: Some(host),
                    server: Some(server),
                    ..Default::default()
                },
            )
            .unwrap();
        };
        ev("compute-3", "a", Kind::Intent, "sending");
        ev("compute-3", "a", Kind::Result, "accepted");
        let (records, _) = read(&path).unwrap();
        let now = SystemTime::now();
        let minute = Duration::from_secs(60);
        assert_eq!(
            Summary::of(&records).hand_over_hold(j.run_id(), minute, now),
            None
        );
        // No clear answer for b on compute-4: held a minute, on compute-4 only.
        ev("compute-4", "b", Kind::Intent, "sending");
        ev("compute-4", "b", Kind::Result, NO_ANSWER);
        let (records, _) = read(&path).unwrap();
        let hold = Summary::of(&records)
            .hand_over_hold(j.run_id(), minute, now)
            .unwrap();
        assert_eq!(hold.hosts, Some(vec!["compute-4".to_string()]));
        let until = parse_timestamp(&hold.until).unwrap();
        assert!(until > now && until <= now + minute + Duration::from_secs(1));
        // Another run's records are its own; a minute later nothing is in doubt any more.
        assert_eq!(
            Summary::of(&records).hand_over_hold("another-run", minute, now),
            None
        );
        assert_eq!(
            Summary::of(&records).hand_over_hold(j.run_id(), minute, now + 2 * minute),
            None
        );
        // A take-over hold of this journal still running is passed on too (all hosts here).
        let data = serde_json::json!({
            "hosts": null,
            "until": humantime::format_rfc3339_seconds(now + 3 * minute).to_string(),
        });
        j.append(
            Kind::Event,
            TAKEOVER_ACTION,
            "in-doubt",
            Fields {
                data: Some(&data),
                ..Default::default()
            },
        )
        .unwrap();
        let (records, _) = read(&path).unwrap();
        let hold = Summary::of(&records)
            .hand_over_hold(j.run_id(), minute, now)
            .unwrap();
        assert_eq!(hold.hosts, None);
        assert!(parse_timestamp(&hold.until).unwrap() > now + 2 * minute);
    }
}
