//! Atomic file writes: a file the project writes appears whole or not at all.
//!
//! The content goes to a temporary file in the destination's own folder (so the final
//! `rename` never crosses a file system), is flushed to disk, and is then renamed over
//! the destination. A crash or an error leaves at worst a stray temporary file, never a
//! truncated `weights.safetensors` or `metrics.csv`.
//!
//! Only regular files are ever replaced: a symbolic link is followed (its target is
//! written, the link stays), and a folder, device, FIFO or socket at the path is an error.
use anyhow::{bail, Context, Result};
use std::fs::{self, File};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Symbolic links followed at most, as the kernel does (ELOOP beyond).
const MAX_LINKS: usize = 40;

/// Writes `path` atomically. `write` receives a temporary path in the same folder that
/// keeps `path`'s extension (tch picks the format from it) and must create that file.
pub fn write_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let path = &destination(path)?;
    let tmp = temp_path(path)?;
    let result = write(&tmp).and_then(|()| {
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot flush {}", tmp.display()))?;
        fs::rename(&tmp, path)
            .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))?;
    // Make the rename itself durable. Some file systems refuse fsync on a folder; the file
    // is already complete then, so that is not an error worth failing a run for.
    if let Some(dir) = path.parent() {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Where a write to `path` lands: `path` itself when it is a regular file or does not
/// exist, the file a symbolic link points to (followed, never replaced), and an error for
/// anything else.
pub fn destination(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let meta = match fs::symlink_metadata(&current) {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", path.display())),
            Ok(meta) => meta,
        };
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&current)
                .with_context(|| format!("cannot read the link {}", current.display()))?;
            current = match current.parent() {
                Some(dir) if target.is_relative() => dir.join(target),
                _ => target,
            };
        } else if meta.is_file() {
            return Ok(current);
        } else {
            bail!(
                "{} exists and is not a regular file (a folder, device, FIFO or socket): \
                 tch-vae never replaces one. Give the path of a file",
                path.display()
            );
        }
    }
    bail!("{}: too many levels of symbolic links", path.display())
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, |tmp| {
        fs::write(tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))
    })
}

/// Writes `rows` as a CSV file with a header row (serde's field names), atomically: a
/// reader never sees half a row.
pub fn write_csv<T: serde::Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in rows {
        w.serialize(row)?;
    }
    let bytes = w
        .into_inner()
        .with_context(|| format!("cannot encode {}", path.display()))?;
    write_bytes(path, &bytes)
}

/// `dir/name.ext` -> `dir/.name.ext.tmp-<pid>.ext`: hidden, unique per process, same extension.
fn temp_path(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?
        .to_string_lossy();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    Ok(path.with_file_name(format!(".{name}.tmp-{}{ext}", std::process::id())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn writes_whole_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        write_bytes(&path, b"x,y\n1,2\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"x,y\n1,2\n");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "a temporary file was left behind");
    }

    #[test]
    fn failed_write_keeps_previous_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        write_bytes(&path, b"old").unwrap();
        let err = write_with(&path, |tmp| {
            assert!(tmp.to_string_lossy().ends_with(".safetensors"));
            fs::write(tmp, b"half")?;
            anyhow::bail!("disk full")
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("disk full"));
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn links_are_followed_and_special_files_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.json");
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink("target.json", &link).unwrap();
        write_bytes(&link, b"through the link").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"through the link");
        // A folder, a character device and a FIFO stay what they are.
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        for special in [dir.path(), Path::new("/dev/null"), fifo.as_path()] {
            let e = format!("{:#}", write_bytes(special, b"x").unwrap_err());
            assert!(e.contains("is not a regular file"), "{e}");
        }
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    }
}
