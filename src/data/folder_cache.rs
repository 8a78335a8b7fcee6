//! The cache of decoded image folders (`folder.rs`): one file per folder and request,
//! outside the run folder, keyed on every file's identity and on what was asked.
use super::folder::Wanted;
use super::RawData;
use anyhow::{Context, Result};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// The cache file's first bytes; a new layout takes a new tag.
const CACHE_MAGIC: &[u8; 8] = b"TVAEIMG1";

/// A hash of every file's path, label, size, modification time, inode and status-change
/// time, and of what was asked. The status-change time moves with every write and no
/// user can set it back (`touch -d` sets the modification time only), so a file rewritten
/// with its old size and time is decoded again.
pub(super) fn cache_key(
    train: &[(PathBuf, i64)],
    test: &[(PathBuf, i64)],
    wanted: Wanted,
) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (CACHE_MAGIC, wanted, train.len()).hash(&mut h);
    for (path, label) in train.iter().chain(test) {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        let times = (
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec(),
        );
        (path, label, meta.len(), meta.ino(), meta.dev(), times).hash(&mut h);
    }
    Ok(h.finish())
}

pub(super) fn read_cache(path: &Path) -> Option<RawData> {
    let bytes = std::fs::read(path).ok()?;
    let rest = bytes.strip_prefix(CACHE_MAGIC)?;
    let word = |i: usize| -> Option<usize> {
        Some(u64::from_le_bytes(rest.get(i * 8..i * 8 + 8)?.try_into().ok()?) as usize)
    };
    let (n_train, n_test, c, h, w) = (word(0)?, word(1)?, word(2)?, word(3)?, word(4)?);
    let dim = c.checked_mul(h)?.checked_mul(w)?;
    let mut at: usize = 40;
    let mut take = |len: usize| -> Option<&[u8]> {
        let s = rest.get(at..at.checked_add(len)?)?;
        at += len;
        Some(s)
    };
    let train = take(n_train.checked_mul(dim)?)?.to_vec();
    let test = take(n_test.checked_mul(dim)?)?.to_vec();
    let labels = |b: &[u8]| -> Vec<i64> {
        b.chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect()
    };
    let train_labels = labels(take(n_train.checked_mul(8)?)?);
    let test_labels = labels(take(n_test.checked_mul(8)?)?);
    (at == rest.len()).then_some(RawData {
        train,
        test,
        train_labels,
        test_labels,
        has_test: true,
        drawn_test: false,
        has_labels: false,
        channels: c,
        height: h,
        width: w,
        class_names: Vec::new(),
    })
}

pub(super) fn write_cache(path: &Path, raw: &RawData) -> Result<()> {
    std::fs::create_dir_all(path.parent().expect("a file in the cache folder"))?;
    let mut bytes = CACHE_MAGIC.to_vec();
    let counts = [
        raw.train_labels.len(),
        raw.test_labels.len(),
        raw.channels,
        raw.height,
        raw.width,
    ];
    for v in counts {
        bytes.extend((v as u64).to_le_bytes());
    }
    bytes.extend(&raw.train);
    bytes.extend(&raw.test);
    for l in raw.train_labels.iter().chain(&raw.test_labels) {
        bytes.extend(l.to_le_bytes());
    }
    crate::native::atomic::write_bytes(path, &bytes)
}
