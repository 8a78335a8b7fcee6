//! Folders of images (`--data ~/photos`): PNG, JPEG, BMP, GIF, TIFF and WebP files, with
//! `train/` and `test/` subfolders when present, and class subfolders as labels (sorted
//! names, as torchvision's ImageFolder). Images are decoded on every core; the decoded
//! bytes are cached outside the run folder, keyed on the file list, sizes, modification
//! times and the `--channels`/`--image-size` asked for, so a second run starts at once.
use super::folder_cache::{cache_key, read_cache, write_cache};
use super::transform::{self, Fit};
use super::{LoadOptions, RawData};
use anyhow::{bail, ensure, Context, Result};
use rayon::prelude::*;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

const EXTENSIONS: [&str; 8] = ["png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp"];

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

/// Files and folders of `dir`, sorted by name; hidden ones (names starting with '.') are
/// added to `skipped` instead.
fn entries(dir: &Path, skipped: &mut Vec<PathBuf>) -> Result<Vec<PathBuf>> {
    let (hidden, mut out): (Vec<PathBuf>, Vec<PathBuf>) = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the folder {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .partition(|p| {
            p.file_name()
                .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."))
        });
    skipped.extend(hidden);
    out.sort();
    Ok(out)
}

/// The images of one split root with their labels: class subfolders when there are any
/// (their sorted names are the classes, compared as the raw bytes the file system holds,
/// so that two names that differ only in bytes that are not UTF-8 stay two classes), else
/// the images of the root itself.
/// Hidden entries and files that are not images are added to `skipped`.
fn list(
    root: &Path,
    classes: &mut Vec<OsString>,
    fixed: bool,
    skipped: &mut Vec<PathBuf>,
) -> Result<Vec<(PathBuf, i64)>> {
    let all = entries(root, skipped)?;
    let subfolders: Vec<&PathBuf> = all.iter().filter(|p| p.is_dir()).collect();
    skipped.extend(all.iter().filter(|p| !p.is_dir() && !is_image(p)).cloned());
    let mut files = Vec::new();
    if subfolders.is_empty() {
        files.extend(all.iter().filter(|p| is_image(p)).map(|p| (p.clone(), 0)));
        return Ok(files);
    }
    // Images beside class folders would have no class: refused, not dropped (and an empty
    // subfolder does not silently turn a folder of images into one of classes).
    let loose: Vec<String> = all
        .iter()
        .filter(|p| is_image(p))
        .map(|p| display_name(p.file_name().unwrap_or_default()))
        .collect();
    ensure!(
        loose.is_empty(),
        "{}: {} image(s) ({}{}) beside the subfolder(s) {}: with subfolders, each is a class and \
         images belong in one. Move the images into class folders, or the subfolders out",
        root.display(),
        loose.len(),
        loose[..loose.len().min(3)].join(", "),
        if loose.len() > 3 { ", ..." } else { "" },
        subfolders
            .iter()
            .take(3)
            .map(|p| display_name(p.file_name().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(", ")
    );
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
        let (images, others): (Vec<PathBuf>, Vec<PathBuf>) = entries(sub, skipped)?
            .into_iter()
            .partition(|p| is_image(p));
        skipped.extend(others);
        files.extend(images.into_iter().map(|p| (p, label as i64)));
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

/// The largest image one file may decode to: the `image` crate's own default limit.
const MAX_DECODED_BYTES: u64 = 512 << 20;

/// Reads the images of `dir`; also returns the entries skipped: hidden ones (names starting
/// with '.') and files that are not images, which are never opened.
pub fn read(
    dir: &Path,
    wanted: Wanted,
    options: &LoadOptions<'_>,
) -> Result<(RawData, Vec<PathBuf>)> {
    let (train_root, test_root) = (dir.join("train"), dir.join("test"));
    let split = train_root.is_dir() && test_root.is_dir();
    let mut classes = Vec::new();
    let mut skipped = Vec::new();
    let mut train = list(
        if split { &train_root } else { dir },
        &mut classes,
        false,
        &mut skipped,
    )?;
    let mut test = if split {
        list(&test_root, &mut classes, true, &mut skipped)?
    } else {
        Vec::new()
    };
    if train.is_empty() {
        let others: Vec<String> = entries(dir, &mut Vec::new())?
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
    // The test split and --limit are chosen from the file list, before anything is
    // decoded: the same images as splitting the decoded set, without decoding the rest.
    // --limit draws its images with the seed (the list runs class by class), keeping their
    // order.
    if !split {
        let is_test = super::split::test_mask(train.len(), options.test_fraction, options.seed)
            .with_context(|| format!("--data {}", dir.display()))?;
        let mut held_out = is_test.into_iter();
        (test, train) = train
            .into_iter()
            .partition(|_| held_out.next().unwrap_or(false));
    }
    if let Some(limit) = options.limit.filter(|&n| n < train.len()) {
        let mut kept = super::split::limit_mask(train.len(), limit, options.seed).into_iter();
        train.retain(|_| kept.next().unwrap_or(false));
    }
    let classes: Vec<String> = classes.iter().map(|c| display_name(c)).collect();
    let key = cache_key(&train, &test, wanted)?;
    let cache_file = options
        .cache
        .map(|c| c.join(format!("folder-{key:016x}.bin")));
    let found = |raw: RawData| RawData {
        has_test: true,
        drawn_test: !split,
        has_labels: !classes.is_empty(),
        class_names: classes.clone(),
        ..raw
    };
    if let Some(raw) = cache_file.as_deref().and_then(read_cache) {
        return Ok((found(raw), skipped));
    }
    let headers: Vec<Header> = train
        .par_iter()
        .chain(test.par_iter())
        .map(|(path, _)| Header::read(path))
        .collect::<Result<_>>()?;
    let (train_headers, test_headers) = headers.split_at(train.len());
    let fit = Fit {
        channels: match wanted.channels {
            Some(c) => c,
            None => common_channels(&train, train_headers)?,
        },
        size: Some(match wanted.size {
            Some(s) => s,
            None => common_size(&train, train_headers)?,
        }),
    };
    for (files, headers) in [(&train, train_headers), (&test, test_headers)] {
        check_fits(files, headers, wanted, fit)?;
    }
    let (h, w) = fit.size.expect("set above");
    super::check_memory(train.len() + test.len(), fit.channels * h * w, dir)?;
    let raw = RawData {
        train: decode(&train, fit)?,
        test: decode(&test, fit)?,
        train_labels: train.iter().map(|(_, l)| *l).collect(),
        test_labels: test.iter().map(|(_, l)| *l).collect(),
        has_test: true,
        drawn_test: !split,
        has_labels: false,
        channels: fit.channels,
        height: h,
        width: w,
        class_names: Vec::new(),
    };
    if let Some(file) = &cache_file {
        // A cache that cannot be written costs only time on the next run.
        let _ = write_cache(file, &raw);
    }
    Ok((found(raw), skipped))
}

/// What an image file's header says, read without decoding its pixels.
struct Header {
    height: usize,
    width: usize,
    colour: bool,
}

impl Header {
    /// Reads the header of `path` (a regular file, its format told by its content) and
    /// refuses an image whose pixels would take more than [`MAX_DECODED_BYTES`].
    fn read(path: &Path) -> Result<Self> {
        use image::ImageDecoder;
        let decoder = reader(path)?
            .into_decoder()
            .with_context(|| cannot_decode(path))?;
        let (width, height) = decoder.dimensions();
        let bytes = decoder.total_bytes();
        ensure!(
            bytes <= MAX_DECODED_BYTES,
            "{}: {width}x{height} pixels would take {} MiB once decoded, more than the {} MiB \
             one image may take; shrink the file",
            path.display(),
            bytes >> 20,
            MAX_DECODED_BYTES >> 20
        );
        Ok(Header {
            height: height as usize,
            width: width as usize,
            colour: decoder.color_type().has_color(),
        })
    }
}

/// A reader of the regular file `path`, its format told by its content, not its name.
fn reader(path: &Path) -> Result<image::ImageReader<std::io::BufReader<std::fs::File>>> {
    let file = crate::native::files::open_regular(path)?;
    image::ImageReader::new(std::io::BufReader::new(file))
        .with_guessed_format()
        .with_context(|| cannot_decode(path))
}

fn cannot_decode(path: &Path) -> String {
    format!(
        "{}: cannot decode the image; remove or replace it",
        path.display()
    )
}

/// Refuses images that `fit` cannot hold: of other channels or another size where the
/// flags do not convert them.
fn check_fits(
    files: &[(PathBuf, i64)],
    headers: &[Header],
    wanted: Wanted,
    fit: Fit,
) -> Result<()> {
    let size = fit.size.expect("set by the caller");
    for ((path, _), header) in files.iter().zip(headers) {
        let colour = |c: bool| if c { "colour" } else { "one grey channel" };
        ensure!(
            wanted.channels.is_some() || header.colour == (fit.channels == 3),
            "{} has {} but the training images have {}; pass --channels 1 or 3 to convert them all",
            path.display(),
            colour(header.colour),
            colour(fit.channels == 3)
        );
        ensure!(
            wanted.size.is_some() || (header.height, header.width) == size,
            "{} is {}x{} but the training images are {}x{}; pass --image-size to resize them all",
            path.display(),
            header.height,
            header.width,
            size.0,
            size.1
        );
    }
    Ok(())
}

/// Decodes `files` on every core, each fitted as soon as it is decoded (one full-size
/// image per core at a time), in order.
fn decode(files: &[(PathBuf, i64)], fit: Fit) -> Result<Vec<u8>> {
    let parts: Vec<Vec<u8>> = files
        .par_iter()
        .map(|(path, _)| {
            let bytes = crate::native::files::read_regular(path)?;
            check_complete(path, &bytes)?;
            let image = image::ImageReader::new(std::io::Cursor::new(bytes))
                .with_guessed_format()
                .map_err(anyhow::Error::from)
                .and_then(|reader| reader.decode().map_err(anyhow::Error::from))
                .with_context(|| cannot_decode(path))?;
            Ok(transform::fit(image, fit))
        })
        .collect::<Result<_>>()?;
    Ok(parts.concat())
}

/// Refuses a JPEG cut short: its decoder fills the missing rows without a word, so the
/// end-of-image marker (FF D9) must close the file (allowing a little padding after it).
fn check_complete(path: &Path, bytes: &[u8]) -> Result<()> {
    let jpeg = bytes.starts_with(&[0xFF, 0xD8, 0xFF]);
    let tail = &bytes[bytes.len().saturating_sub(64)..];
    ensure!(
        !jpeg || tail.windows(2).any(|w| w == [0xFF, 0xD9]),
        "{}: a JPEG without its end marker: the file is cut short; replace it",
        path.display()
    );
    Ok(())
}

fn common_channels(files: &[(PathBuf, i64)], headers: &[Header]) -> Result<usize> {
    let first = headers[0].colour;
    if let Some(k) = headers.iter().position(|h| h.colour != first) {
        let (grey, col) = if first { (k, 0) } else { (0, k) };
        bail!(
            "{} is grey but {} is in colour; pass --channels 1 or --channels 3 to convert them all",
            files[grey].0.display(),
            files[col].0.display()
        );
    }
    Ok(if first { 3 } else { 1 })
}

fn common_size(files: &[(PathBuf, i64)], headers: &[Header]) -> Result<(usize, usize)> {
    let size = |h: &Header| (h.height, h.width);
    let first = size(&headers[0]);
    if let Some(k) = headers.iter().position(|h| size(h) != first) {
        let (h, w) = size(&headers[k]);
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
