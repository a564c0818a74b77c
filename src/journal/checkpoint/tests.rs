use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::core::records::{Kind, Record};
use crate::core::testkit::record;
use crate::core::watch::STATE_ACTION;

/// Journal lines: host states, failed observations, evacuation intents.
fn lines(from: usize, n: usize) -> String {
    let mut out = String::new();
    for i in from..from + n {
        let host = format!("compute-{}", i % 50);
        let mut r = match i % 11 {
            0 => record(Kind::Event, "observe", None, "failed"),
            5 => {
                let mut r = record(Kind::Intent, "evacuate", Some(&host), "sending");
                r.server = Some(format!("vm-{i}"));
                r
            }
            _ => {
                let mut r = record(Kind::Event, STATE_ACTION, Some(&host), "suspect");
                r.detail = Some(format!("seen {i} times: {}", "x".repeat(200)));
                r
            }
        };
        r.ts = format!("2026-12-03T10:00:{:02}.{i:06}Z", i % 60);
        out.push_str(&serde_json::to_string(&r).unwrap());
        out.push('\n');
    }
    out
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// What a reader of every record would fold.
fn whole(path: &Path) -> Summary {
    let text = std::fs::read_to_string(path).unwrap();
    let records: Vec<Record> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    Summary::of(&records)
}

/// A journal of more than [`CHECKPOINT_EVERY`] bytes, and its checkpoint (written now).
fn journal_with_checkpoint(dir: &Path) -> PathBuf {
    let path = dir.join("journal.jsonl");
    append(&path, &lines(0, 5_000));
    assert!(std::fs::metadata(&path).unwrap().len() > CHECKPOINT_EVERY);
    forget();
    summary(&path, true).unwrap();
    assert!(checkpoint_path(&path).exists());
    path
}

/// Puts a host only the checkpoint knows of into it: an answer that has it came from the
/// checkpoint, not from reading the journal.
fn mark(path: &Path) {
    let cp = checkpoint_path(path);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&cp).unwrap()).unwrap();
    v["summary"]["memories"]["only-in-the-checkpoint"] = serde_json::json!({"reason": "marker"});
    std::fs::write(&cp, serde_json::to_vec(&v).unwrap()).unwrap();
}

fn from_checkpoint(s: &Summary) -> bool {
    s.memories.contains_key("only-in-the-checkpoint")
}

#[test]
fn a_checkpoint_is_written_by_writers_once_enough_was_appended() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let cp = checkpoint_path(&path);
    assert_eq!(cp, dir.path().join("journal.jsonl.checkpoint"));
    // No journal: nothing folded, nothing written.
    assert_eq!(summary(&path, true).unwrap(), (Summary::default(), 0));
    append(&path, &lines(0, 100));
    forget();
    assert_eq!(summary(&path, true).unwrap().0, whole(&path));
    assert!(!cp.exists(), "a small journal needs no checkpoint");
    append(&path, &lines(100, 5_000));
    forget();
    // A reader (a dry run) leaves nothing behind.
    assert_eq!(summary(&path, false).unwrap().0, whole(&path));
    assert!(!cp.exists());
    assert_eq!(summary(&path, true).unwrap().0, whole(&path));
    let mode = std::fs::metadata(&cp).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // No temporary file left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

/// A new process reads the checkpoint and only the records appended after it, and answers
/// as a reader of the whole journal would.
#[test]
fn a_new_process_folds_the_checkpoint_and_what_came_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_with_checkpoint(dir.path());
    mark(&path);
    append(&path, &lines(5_000, 300));
    forget();
    let (mut s, bad) = summary(&path, false).unwrap();
    assert_eq!(bad, 0);
    assert!(from_checkpoint(&s), "the checkpoint was not used");
    s.memories.remove("only-in-the-checkpoint");
    assert_eq!(s, whole(&path));
    assert_eq!(s.memories.len(), 50);
}

/// A checkpoint that does not fit the journal (rewritten in place, replaced by a copy), or
/// that is torn, of another format, or a link, is not trusted: the whole journal is read.
#[test]
fn a_checkpoint_that_does_not_fit_is_ignored() {
    type Spoil = fn(&Path);
    let cases: [(&str, Spoil); 5] = [
        ("rewritten in place", |path| {
            let mut text = std::fs::read(path).unwrap();
            let n = text.len();
            // One byte of the last record: the same length, other bytes.
            text[n - 10] = if text[n - 10] == b'1' { b'2' } else { b'1' };
            std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .unwrap()
                .write_all(&text)
                .unwrap();
        }),
        ("replaced by a copy", |path| {
            let copy = path.with_extension("copy");
            std::fs::copy(path, &copy).unwrap();
            std::fs::rename(&copy, path).unwrap();
        }),
        ("torn", |path| {
            let cp = checkpoint_path(path);
            let text = std::fs::read(&cp).unwrap();
            std::fs::write(&cp, &text[..text.len() / 2]).unwrap();
        }),
        ("of another format", |path| {
            let cp = checkpoint_path(path);
            let mut v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&cp).unwrap()).unwrap();
            v["format"] = serde_json::json!(FORMAT + 1);
            std::fs::write(&cp, serde_json::to_vec(&v).unwrap()).unwrap();
        }),
        ("a link", |path| {
            let cp = checkpoint_path(path);
            let elsewhere = path.with_extension("elsewhere");
            std::fs::rename(&cp, &elsewhere).unwrap();
            std::os::unix::fs::symlink(&elsewhere, &cp).unwrap();
        }),
    ];
    for (what, spoil) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = journal_with_checkpoint(dir.path());
        mark(&path);
        spoil(&path);
        forget();
        let (s, _) = summary(&path, false).unwrap();
        assert!(!from_checkpoint(&s), "{what}: the checkpoint was trusted");
        assert_eq!(s, whole(&path), "{what}");
        // A writer replaces it with one that fits (a link is replaced, not followed).
        forget();
        summary(&path, true).unwrap();
        forget();
        assert_eq!(summary(&path, false).unwrap().0, whole(&path), "{what}");
        assert!(
            !std::fs::symlink_metadata(checkpoint_path(&path))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
}

/// A last line without its newline (being written, or torn) is in the answer, never in the
/// checkpoint; completed, it is folded once.
#[test]
fn a_last_line_being_written_is_folded_once_complete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    append(&path, &lines(0, 5_000));
    let last = lines(5_000, 1);
    let (head, rest) = last.split_at(last.len() - 1);
    append(&path, head);
    forget();
    let (s, _) = summary(&path, true).unwrap();
    let with_last = whole(&path);
    assert_eq!(s, with_last, "the whole last record is in the answer");
    append(&path, rest);
    forget();
    assert_eq!(summary(&path, false).unwrap().0, with_last);
    // Torn for good: skipped, and counted as one line that is not a record.
    append(&path, "{\"ts\": \"2026\n");
    forget();
    let (s, bad) = summary(&path, false).unwrap();
    assert_eq!((s, bad), (with_last, 1));
}
