//! Opening the files a user points at: regular files only. A FIFO, socket or device named
//! like a data file would block a plain open or read forever (a FIFO named like an image in
//! an image folder hung training), so each file is opened non-blocking and checked with
//! fstat on the open handle, with no gap between the check and the use; the message says
//! what the entry is instead.
use anyhow::{bail, Context, Result};
use std::fs::{File, FileType};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Opens `path` for reading if it is a regular file (or a link to one).
pub fn open_regular(path: &Path) -> Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let kind = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?
        .file_type();
    if !kind.is_file() {
        bail!(
            "{} is {}, not a regular file: tch-vae reads data and run files only from regular \
             files; put the file itself there",
            path.display(),
            describe(kind)
        );
    }
    Ok(file)
}

/// Refuses a run folder (`--run`, `--resume`) that exists but is not a folder, saying what
/// it is; a missing one is left to the reader's own message.
pub fn check_folder(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => bail!(
            "{} is {}, not a run folder (a folder made by `tch-vae train`)",
            dir.display(),
            describe(meta.file_type())
        ),
        _ => Ok(()),
    }
}

/// The whole content of the regular file `path`, if it fits in the memory available.
pub fn read_regular(path: &Path) -> Result<Vec<u8>> {
    let available = crate::native::device::available_bytes(tch::Device::Cpu);
    read_bounded(path, available.unwrap_or(u64::MAX), "of memory available")
}

/// The whole content of the regular file `path`, refused before it is read when it holds
/// more than `limit` bytes (`what` says what the bound is, for the message).
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let file = open_regular(path)?;
    let len = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if len > limit {
        bail!(
            "{} is {} MiB, more than the {} MiB {what}",
            path.display(),
            len >> 20,
            limit >> 20
        );
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // `take`: a file that grows while it is read stops at the bound too.
    file.take(limit)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(bytes)
}

/// What a file system entry is, in words ("a FIFO (named pipe)").
pub fn describe(kind: FileType) -> &'static str {
    if kind.is_file() {
        "a regular file"
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_and_a_folder_are_refused_at_once_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("image.png");
        // mkfifo(1), as a user would make one; no writer ever opens it.
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = format!("{:#}", read_regular(&fifo).unwrap_err());
        assert!(err.contains("image.png is a FIFO (named pipe)"), "{err}");
        let err = format!("{:#}", read_regular(dir.path()).unwrap_err());
        assert!(err.contains("is a folder, not a regular file"), "{err}");
        let file = dir.path().join("data.bin");
        std::fs::write(&file, b"bytes").unwrap();
        assert_eq!(read_regular(&file).unwrap(), b"bytes");
    }
}
