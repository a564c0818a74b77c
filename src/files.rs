//! Opening the files evacctl reads or appends to so that nothing waits for ever or reads
//! without end: a FIFO blocks `open(2)` and `read(2)` until a writer comes, `/dev/zero` never
//! ends, `/dev/full` takes no byte. Files are opened without waiting (`O_NONBLOCK`, which
//! means nothing for a regular file), then refused unless they are regular files; reads are
//! capped. Knows nothing of evacctl: callers put the file's role in their messages.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

/// What a file is, for messages: `a FIFO`, `a directory`, ...
pub fn describe(ft: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    if ft.is_dir() {
        "a directory"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

fn not_regular(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {what}, not a regular file"),
    )
}

/// Refuses an open file that is not a regular file, then makes its reads and writes
/// blocking again (they were opened with `O_NONBLOCK` only so that opening could not wait).
fn check_regular(file: &File) -> io::Result<()> {
    let ft = file.metadata()?.file_type();
    if !ft.is_file() {
        return Err(not_regular(describe(&ft)));
    }
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        let fd = file.as_raw_fd();
        // SAFETY: fcntl(2) on a descriptor this function's caller owns; no memory is shared.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
            }
        }
    }
    Ok(())
}

/// Adds `O_NONBLOCK` (and `O_NOFOLLOW` when `follow` is false) to `opts`.
fn flags(opts: &mut OpenOptions, follow: bool) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = libc::O_NONBLOCK;
        if !follow {
            f |= libc::O_NOFOLLOW;
        }
        opts.custom_flags(f);
    }
    #[cfg(not(unix))]
    let _ = (opts, follow);
}

/// A symbolic link refused by `O_NOFOLLOW` fails with `ELOOP`: said plainly.
fn explain_link(path: &Path, e: io::Error) -> io::Error {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if is_link {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is a symbolic link: refused (give the file itself)",
        )
    } else {
        e
    }
}

/// Opens a regular file for reading, following symbolic links (`follow`) or not.
pub fn open_regular(path: &Path, follow: bool) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    flags(&mut opts, follow);
    let file = opts.open(path).map_err(|e| explain_link(path, e))?;
    check_regular(&file)?;
    Ok(file)
}

/// Opens (creating it with `mode` if needed) a regular file for appending and reading,
/// never through a symbolic link: evacctl runs as root, and a link planted where its journal
/// or log goes would make it write wherever the link points.
pub fn open_append(path: &Path, mode: u32) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).append(true).create(true);
    flags(&mut opts, false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let file = opts.open(path).map_err(|e| explain_link(path, e))?;
    check_regular(&file)?;
    Ok(file)
}

/// Replaces the file at `path` by `bytes`, mode `mode` whatever the umask, never half-written:
/// a temporary file in the same directory (a dot first: readers of `*.ext` skip it, never
/// through a link) renamed over the old one. `sync`: on disk before the rename.
pub fn replace(path: &Path, bytes: &[u8], mode: u32, sync: bool) -> io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Reads a whole regular file of at most `max` bytes (following links). A larger file is an
/// error naming the limit: the path is probably wrong.
pub fn read_limited(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path, true)?;
    read_to_limit(file, max)
}

/// Reads an open file to its end, refusing more than `max` bytes.
pub fn read_to_limit(file: File, max: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large(max));
    }
    Ok(bytes)
}

/// The error of a file larger than `max` bytes.
pub fn too_large(max: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "it is larger than {} (the limit): is it the right file?",
            size(max)
        ),
    )
}

/// `64 KiB`, `1 MiB`, or bytes.
pub fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn fifo(dir: &Path) -> std::path::PathBuf {
        let p = dir.join("fifo");
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        p
    }

    #[test]
    fn fifos_devices_links_and_large_files_are_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let f = fifo(dir.path());
        let e = read_limited(&f, 10).unwrap_err();
        assert!(e.to_string().contains("a FIFO, not a regular file"), "{e}");
        let e = open_append(&f, 0o600).unwrap_err();
        // No reader: opening for writing without waiting fails at once (ENXIO), or is refused.
        assert!(!e.to_string().is_empty());
        let e = read_limited(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        let e = open_append(Path::new("/dev/full"), 0o600).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        let e = read_limited(dir.path(), 10).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");

        let real = dir.path().join("real");
        std::fs::write(&real, b"0123456789").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = open_append(&link, 0o600).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(open_regular(&link, false).is_err());
        assert_eq!(read_limited(&link, 10).unwrap(), b"0123456789");
        let e = read_limited(&real, 9).unwrap_err();
        assert!(e.to_string().contains("larger than 9 bytes"), "{e}");
        assert_eq!(size(64 << 10), "64 KiB");
        assert_eq!(size(1 << 20), "1 MiB");
    }

    #[test]
    fn created_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        open_append(&p, 0o600).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
