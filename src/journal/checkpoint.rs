//! The journal folded ([`Summary`]), kept in a checkpoint file beside it: the quiet path of
//! `watch` (its resumption, the metrics' counters, the hold handed over with the leader lock)
//! reads the checkpoint and the records appended since, not a year of journal at every cron
//! run. Steps that act on a host still read the whole journal (once per process: [`super::read`]
//! keeps what it parsed).
//!
//! The checkpoint is a cache, never the record: it holds where it got to in the journal
//! (device, inode, offset, a hash of the 4 KiB before), and one that does not fit the journal
//! any more (rotated, rewritten, restored from a backup), that is torn, of another format or
//! unreadable, is ignored: the journal is read whole, and the checkpoint written again. It is
//! written (mode 0600, a temporary file renamed over the old one) only by runs that write
//! the journal, once at least [`CHECKPOINT_EVERY`] bytes were appended since the last one.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Kept, Position, open_for_reading};
use crate::core::summary::{FORMAT, Summary};

/// The records appended since the last checkpoint before a new one is written: below it,
/// reading them costs a few milliseconds.
pub const CHECKPOINT_EVERY: u64 = 1 << 20;

/// The largest checkpoint read (a fold of 50,000 hosts' memories is a few tens of MiB).
const MAX_CHECKPOINT: u64 = 256 << 20;

/// The checkpoint of the journal at `journal`: the same name with `.checkpoint` added.
pub fn checkpoint_path(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".checkpoint");
    PathBuf::from(name)
}

#[derive(Deserialize)]
struct Checkpoint {
    format: u32,
    /// The evacctl that wrote it (for people: [`FORMAT`] decides).
    written_by: String,
    at: Position,
    summary: Summary,
}

/// A fold kept in this process, and where the checkpoint on disk got to.
struct Folded {
    at: Position,
    summary: Summary,
    saved: u64,
}

static FOLDED: Kept<Folded> = Kept::new();

/// The whole journal at `path` folded (the default when it does not exist), and the lines of
/// it that were not records. Reads the checkpoint (or this process's last fold) and what was
/// appended since; `save`: writes a new checkpoint when enough was appended (only a run that
/// writes the journal: a dry run or a reader leaves nothing behind). A last line without
/// its newline is folded into the answer, not into the checkpoint.
pub fn summary(path: &Path, save: bool) -> io::Result<(Summary, usize)> {
    let Some(file) = open_for_reading(path)? else {
        return Ok((Summary::default(), 0));
    };
    let meta = file.metadata()?;
    let mut folded = match FOLDED.take(path) {
        Some(f) if f.at.holds_for(&file, &meta) => f,
        _ => load(path, &file, &meta).unwrap_or_else(|| Folded {
            at: Position::start(&meta),
            summary: Summary::default(),
            saved: 0,
        }),
    };
    let mut partial = Vec::new();
    let Folded { at, summary, .. } = &mut folded;
    let partial_bad = at.read_on(path, &file, |r| summary.apply(&r), |r| partial.push(r))?;
    let mut answer = folded.summary.clone();
    for r in &partial {
        answer.apply(r);
    }
    let bad = folded.at.bad + partial_bad;
    if save && folded.at.offset >= folded.saved + CHECKPOINT_EVERY {
        match store(path, &folded) {
            Ok(()) => folded.saved = folded.at.offset,
            // A cache: the next run reads more of the journal, nothing worse.
            Err(e) => tracing::warn!(
                "journal {}: cannot write its checkpoint {}: {e}",
                path.display(),
                checkpoint_path(path).display()
            ),
        }
    }
    FOLDED.keep(path, folded);
    Ok((answer, bad))
}

/// The checkpoint beside `path`, if there is one that fits the journal as it is.
fn load(path: &Path, file: &File, meta: &std::fs::Metadata) -> Option<Folded> {
    let cp = checkpoint_path(path);
    // Never through a link: a checkpoint is evacctl's own file.
    let read = crate::files::open_regular(&cp, false)
        .and_then(|f| crate::files::read_to_limit(f, MAX_CHECKPOINT));
    let why = match read {
        Ok(bytes) => match serde_json::from_slice::<Checkpoint>(&bytes) {
            Ok(c) if c.format != FORMAT => format!(
                "of format {} (evacctl {}), not {FORMAT}",
                c.format, c.written_by
            ),
            Ok(c) if !c.at.holds_for(file, meta) => {
                "of another journal (rotated, rewritten or restored since)".to_string()
            }
            Ok(c) => {
                tracing::debug!(
                    "journal {}: from its checkpoint at byte {}",
                    path.display(),
                    c.at.offset
                );
                return Some(Folded {
                    saved: c.at.offset,
                    at: c.at,
                    summary: c.summary,
                });
            }
            Err(e) => format!("not readable ({e})"),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => format!("not readable ({e})"),
    };
    tracing::info!(
        "journal {}: its checkpoint {} is {why}: reading the whole journal",
        path.display(),
        cp.display()
    );
    None
}

/// A [`Checkpoint`] as written (borrowed: a fold may be tens of MiB).
#[derive(Serialize)]
struct CheckpointOut<'a> {
    format: u32,
    written_by: &'a str,
    at: &'a Position,
    summary: &'a Summary,
}

fn store(path: &Path, folded: &Folded) -> io::Result<()> {
    let text = serde_json::to_vec(&CheckpointOut {
        format: FORMAT,
        written_by: env!("CARGO_PKG_VERSION"),
        at: &folded.at,
        summary: &folded.summary,
    })?;
    // Not synced: a checkpoint lost or torn by a crash is read as none.
    crate::files::replace(&checkpoint_path(path), &text, 0o600, false)
}

/// Forgets this process's folds (a test's "new process").
#[cfg(test)]
pub(crate) fn forget() {
    FOLDED.clear();
}

#[cfg(test)]
mod tests;
