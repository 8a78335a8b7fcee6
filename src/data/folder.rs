//! Folders of images (`--data ~/photos`): PNG, JPEG, BMP, GIF, TIFF and WebP files, with
//! `train/` and `test/` subfolders when present, and class subfolders as labels (sorted
//! names, as torchvision's ImageFolder). Images are decoded on every core; the decoded
//! bytes are cached outside the run folder, keyed on the file list, sizes, modification
//! times and the `--channels`/`--image-size` asked for, so a second run starts at once.
use super::transform::{self, Fit};
use super::RawData;
use anyhow::{bail, ensure, Context, Result};
use rayon::prelude::*;
use std::ffi::OsString;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

const EXTENSIONS: [&str; 8] = ["png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp"];
/// The cache file's first bytes; a new layout takes a new tag.
const CACHE_MAGIC: &[u8; 8] = b"TVAEIMG1";

/// What `--channels` and `--image-size` ask of the images (None: as the files are).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Wanted {
    pub channels: Option<usize>,
    pub size: Option<(usize, usize)>,
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Files and folders of `dir`, sorted by name.
fn entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the folder {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The images of one split root with their labels: class subfolders when there are any
/// (their sorted names are the classes, compared as the raw bytes the file system holds,
/// so that two names that differ only in bytes that are not UTF-8 stay two classes), else
/// the images of the root itself.
fn list(root: &Path, classes: &mut Vec<OsString>, fixed: bool) -> Result<Vec<(PathBuf, i64)>> {
    let all = entries(root)?;
    let subfolders: Vec<&PathBuf> = all.iter().filter(|p| p.is_dir()).collect();
    let mut files = Vec::new();
    if subfolders.is_empty() {
        files.extend(all.iter().filter(|p| is_image(p)).map(|p| (p.clone(), 0)));
        return Ok(files);
    }
    for sub in subfolders {
        let name = sub.file_name().unwrap_or_default().to_os_string();
        let label = match classes.iter().position(|c| *c == name) {
            Some(i) => i,
            None => {
                ensure!(
                    !fixed,
                    "{}: class folder {} is not among the training classes {:?}",
                    sub.display(),
                    display_name(&name),
                    classes.iter().map(|c| display_name(c)).collect::<Vec<_>>()
                );
                classes.push(name);
                classes.len() - 1
            }
        };
        let images = entries(sub)?.into_iter().filter(|p| is_image(p));
        files.extend(images.map(|p| (p, label as i64)));
    }
    Ok(files)
}

/// A class folder's name as the figures and `config.json` show it: the name itself, or,
/// where it is not UTF-8, the name with its other bytes escaped (`caf\xE9`), so that
/// two classes never show as one.
fn display_name(name: &std::ffi::OsStr) -> String {
    match name.to_str() {
        Some(text) => text.to_string(),
        None => name
            .as_encoded_bytes()
            .utf8_chunks()
            .map(|chunk| {
                let bad: String = chunk
                    .invalid()
                    .iter()
                    .map(|b| format!("\\x{b:02X}"))
                    .collect();
                format!("{}{bad}", chunk.valid())
            })
            .collect(),
    }
}

pub fn read(dir: &Path, wanted: Wanted, cache: Option<&Path>) -> Result<RawData> {
    let (train_root, test_root) = (dir.join("train"), dir.join("test"));
    let split = train_root.is_dir() && test_root.is_dir();
    let mut classes = Vec::new();
    let train = list(if split { &train_root } else { dir }, &mut classes, false)?;
    let test = if split {
        list(&test_root, &mut classes, true)?
    } else {
        Vec::new()
    };
    if train.is_empty() {
        let others: Vec<String> = entries(dir)?
            .iter()
            .take(3)
            .map(|p| {
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        bail!(
            "{} holds no images ({}){}. --data takes a folder of images (class subfolders \
             give labels), of MNIST-format IDX or CIFAR files, or a .npy/.npz file",
            dir.display(),
            EXTENSIONS.join(", "),
            if others.is_empty() {
                ": it is empty".to_string()
            } else {
                format!(": found {}", others.join(", "))
            }
        );
    }
    ensure!(
        !split || !test.is_empty(),
        "{} holds no images: a test/ folder beside train/ must hold the test images",
        test_root.display()
    );
    let classes: Vec<String> = classes.iter().map(|c| display_name(c)).collect();
    let key = cache_key(&train, &test, wanted)?;
    let cache_file = cache.map(|c| c.join(format!("folder-{key:016x}.bin")));
    if let Some(raw) = cache_file.as_deref().and_then(read_cache) {
        return Ok(RawData {
            has_test: split,
            has_labels: !classes.is_empty(),
            class_names: classes,
            ..raw
        });
    }
    let (train_bytes, fit) = decode(&train, wanted, None)?;
    let (test_bytes, _) = decode(&test, wanted, Some(fit))?;
    let (h, w) = fit.size.expect("decode fixes the size");
    let raw = RawData {
        train: train_bytes,
        test: test_bytes,
        train_labels: train.iter().map(|(_, l)| *l).collect(),
        test_labels: test.iter().map(|(_, l)| *l).collect(),
        has_test: split,
        has_labels: !classes.is_empty(),
        channels: fit.channels,
        height: h,
        width: w,
        class_names: if classes.is_empty() {
            Vec::new()
        } else {
            classes
        },
    };
    if let Some(file) = &cache_file {
        // A cache that cannot be written costs only time on the next run.
        let _ = write_cache(file, &raw);
    }
    Ok(raw)
}

/// Decodes `files` on every core and fits them: to `fixed` when given (the test split
/// follows the training split), else to the wanted channels and size or, where not
/// asked, those every file shares (two files that differ are named).
fn decode(files: &[(PathBuf, i64)], wanted: Wanted, fixed: Option<Fit>) -> Result<(Vec<u8>, Fit)> {
    let images: Vec<image::DynamicImage> = files
        .par_iter()
        .map(|(path, _)| {
            // Read as a regular file (files.rs), decoded by its content, not its name.
            let bytes = crate::native::files::read_regular(path)?;
            image::ImageReader::new(std::io::Cursor::new(bytes))
                .with_guessed_format()
                .map_err(anyhow::Error::from)
                .and_then(|reader| reader.decode().map_err(anyhow::Error::from))
                .with_context(|| {
                    format!(
                        "{}: cannot decode the image; remove or replace it",
                        path.display()
                    )
                })
        })
        .collect::<Result<_>>()?;
    let fit = match fixed {
        Some(fit) => fit,
        None => Fit {
            channels: match wanted.channels {
                Some(c) => c,
                None => common_channels(files, &images)?,
            },
            size: Some(match wanted.size {
                Some(s) => s,
                None => common_size(files, &images)?,
            }),
        },
    };
    let first_size = fit.size.expect("set above");
    let parts: Vec<Vec<u8>> = images
        .into_par_iter()
        .zip(files.par_iter())
        .map(|(img, (path, _))| {
            let size = (img.height() as usize, img.width() as usize);
            ensure!(
                wanted.channels.is_some() || img.color().has_color() == (fit.channels == 3),
                "{} has {} but the training images have {}; pass --channels 1 or 3 to convert them all",
                path.display(),
                if img.color().has_color() { "colour" } else { "one grey channel" },
                if fit.channels == 3 { "colour" } else { "one grey channel" }
            );
            ensure!(
                wanted.size.is_some() || size == first_size,
                "{} is {}x{} but the training images are {}x{}; pass --image-size to resize them all",
                path.display(),
                size.0,
                size.1,
                first_size.0,
                first_size.1
            );
            Ok(transform::fit(img, fit))
        })
        .collect::<Result<_>>()?;
    Ok((parts.concat(), fit))
}

fn common_channels(files: &[(PathBuf, i64)], images: &[image::DynamicImage]) -> Result<usize> {
    let colour = |i: &image::DynamicImage| i.color().has_color();
    let first = colour(&images[0]);
    if let Some(k) = images.iter().position(|i| colour(i) != first) {
        let (grey, col) = if first { (k, 0) } else { (0, k) };
        bail!(
            "{} is grey but {} is in colour; pass --channels 1 or --channels 3 to convert them all",
            files[grey].0.display(),
            files[col].0.display()
        );
    }
    Ok(if first { 3 } else { 1 })
}

fn common_size(files: &[(PathBuf, i64)], images: &[image::DynamicImage]) -> Result<(usize, usize)> {
    let size = |i: &image::DynamicImage| (i.height() as usize, i.width() as usize);
    let first = size(&images[0]);
    if let Some(k) = images.iter().position(|i| size(i) != first) {
        let (h, w) = size(&images[k]);
        bail!(
            "{} is {}x{} but {} is {h}x{w}: images of several sizes need --image-size H[xW] \
             (each is resized to fill it, then centre-cropped)",
            files[0].0.display(),
            first.0,
            first.1,
            files[k].0.display()
        );
    }
    Ok(first)
}

/// A hash of every file's path, label, size, modification time, inode and status-change
/// time, and of what was asked. The status-change time moves with every write and no
/// user can set it back (`touch -d` sets the modification time only), so a file rewritten
/// with its old size and time is decoded again.
fn cache_key(train: &[(PathBuf, i64)], test: &[(PathBuf, i64)], wanted: Wanted) -> Result<u64> {
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

fn read_cache(path: &Path) -> Option<RawData> {
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
        has_test: false,
        has_labels: false,
        channels: c,
        height: h,
        width: w,
        class_names: Vec::new(),
    })
}

fn write_cache(path: &Path, raw: &RawData) -> Result<()> {
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
