//! NumPy arrays (`--data faces.npz`): an `.npz` holding `x_train` (and `x_test`, `y_train`,
//! `y_test` when there are a test split and labels), or a single `.npy` of images. Values
//! are `uint8` (0..255) or floats in [0, 1] (kept as the nearest of 256 levels); layouts
//! `[N, H, W]`, `[N, H, W, C]` or `[N, C, H, W]` with 1 or 3 channels.
use super::RawData;
use anyhow::{bail, ensure, Context, Result};
use npyz::{NpyFile, Order, TypeChar};
use std::io::{Read, Seek};
use std::path::Path;
use values::{to_channels_first, unit_floats};

mod values;

/// Values accepted in one array (16 GiB of bytes): a header may declare any shape.
const MAX_VALUES: u64 = 1 << 34;

/// The longest header read: NumPy's own bound (`numpy.load`'s `max_header_size`, 10,000
/// bytes since NumPy 1.24, set against the same attack).
const MAX_HEADER: usize = 10_000;

/// The deepest nesting of brackets in a header that tch-vae reads: NumPy writes a dict
/// holding a tuple (2); a structured dtype's list of tuples adds 2.
const MAX_HEADER_DEPTH: usize = 4;

/// The images of one array, channel by channel within each image.
struct Images {
    bytes: Vec<u8>,
    /// The images read: the array's first `n` of its `declared`.
    n: usize,
    declared: usize,
    shape: (usize, usize, usize),
}

/// The arrays of `path`; with `limit`, an `.npz` that holds `x_test` gives only the first
/// `limit` training images and labels, and reads no further into `x_train` (without
/// `x_test` the test images are drawn from the whole array, so all of it is read).
pub fn read(path: &Path, limit: Option<usize>) -> Result<RawData> {
    let name = path.display();
    let is_npz = path.extension().is_some_and(|e| e == "npz");
    if !is_npz {
        let mut file = std::io::BufReader::new(crate::native::files::open_regular(path)?);
        let room = file.get_ref().metadata().ok().map(|m| m.len());
        check_header(&mut file, &format!("{name}"))?;
        file.rewind()
            .with_context(|| format!("cannot read {name}"))?;
        let npy = NpyFile::new(file).with_context(|| format!("{name}: not a NumPy .npy file"))?;
        let images = read_images(npy, &format!("{name}"), room, None)?;
        return Ok(raw(images, Vec::new(), None));
    }
    let file = std::io::BufReader::new(crate::native::files::open_regular(path)?);
    let mut npz = npyz::npz::NpzArchive::new(file)
        .with_context(|| format!("{name}: not a NumPy .npz file"))?;
    let keys: Vec<String> = npz.array_names().map(String::from).collect();
    // The zip reader keeps one entry of a name; which one is the zip library's choice.
    ensure!(
        npz.zip_archive().len() == npz.zip_archive().file_names().count(),
        "{name} holds two or more entries of the same name, so which array is meant is \
         unclear; save it again with np.savez"
    );
    ensure!(
        keys.iter().any(|k| k == "x_train"),
        "{name} holds the arrays {keys:?}, not x_train: an .npz needs x_train (images), and \
         may hold x_test, y_train and y_test (labels). Save it with \
         np.savez(path, x_train=..., x_test=..., y_train=..., y_test=...)"
    );
    let keep = limit.filter(|_| keys.iter().any(|k| k == "x_test"));
    let train = images_of(&mut npz, "x_train", &name, keep)?.expect("listed above");
    let mut train_labels =
        labels_of(&mut npz, "y_train", &name, train.declared)?.unwrap_or_default();
    train_labels.truncate(train.n);
    let test = match images_of(&mut npz, "x_test", &name, None)? {
        Some(x) => {
            ensure!(
                x.shape == train.shape,
                "{name}: x_train holds {:?} images (channels, height, width) but x_test {:?}",
                train.shape,
                x.shape
            );
            let labels = labels_of(&mut npz, "y_test", &name, x.n)?.unwrap_or_default();
            Some((x, labels))
        }
        None => None,
    };
    ensure!(
        test.as_ref()
            .is_none_or(|(_, l)| l.is_empty() == train_labels.is_empty()),
        "{name}: labels for one split only (y_train and y_test go together)"
    );
    Ok(raw(train, train_labels, test))
}

type Npz = npyz::npz::NpzArchive<std::io::BufReader<std::fs::File>>;

/// The images in array `key` of the archive (its first `keep`), if it holds one.
fn images_of(
    npz: &mut Npz,
    key: &str,
    name: &impl std::fmt::Display,
    keep: Option<usize>,
) -> Result<Option<Images>> {
    let what = format!("{name}: {key}");
    if !check_entry_header(npz, key, &what)? {
        return Ok(None);
    }
    // The entry's uncompressed size as the archive declares it: the zip reader stops
    // there, so a header that declares more values is refused before they are allocated.
    let room = npz
        .zip_archive()
        .by_name(&npyz::npz::file_name_from_array_name(key))
        .ok()
        .map(|entry| entry.size());
    match npz
        .by_name(key)
        .with_context(|| format!("{what}: cannot read"))?
    {
        Some(array) => Ok(Some(read_images(array, &what, room, keep)?)),
        None => Ok(None),
    }
}

/// The labels in array `key` of the archive (`n` of them), if it holds one.
fn labels_of(
    npz: &mut Npz,
    key: &str,
    name: &impl std::fmt::Display,
    n: usize,
) -> Result<Option<Vec<i64>>> {
    let what = format!("{name}: {key}");
    if !check_entry_header(npz, key, &what)? {
        return Ok(None);
    }
    match npz
        .by_name(key)
        .with_context(|| format!("{what}: cannot read"))?
    {
        Some(array) => Ok(Some(read_labels(array, &what, n)?)),
        None => Ok(None),
    }
}

/// [`check_header`] on the archive's entry for array `key`; false if there is none.
fn check_entry_header(npz: &mut Npz, key: &str, what: &str) -> Result<bool> {
    let file = npyz::npz::file_name_from_array_name(key);
    let zip = npz.zip_archive();
    if !zip.file_names().any(|n| n == file) {
        return Ok(false);
    }
    let mut entry = zip
        .by_name(&file)
        .with_context(|| format!("{what}: cannot read"))?;
    check_header(&mut entry, what)?;
    Ok(true)
}

/// Reads an array's header (from the start of `r`) and refuses, before the NumPy parser
/// sees it, one longer than [`MAX_HEADER`] or nested deeper than [`MAX_HEADER_DEPTH`]: the
/// parser's work grows without bound with the nesting (measured: a 20,000-byte header of
/// nested brackets kept it busy past 120 s).
fn check_header(r: &mut impl Read, what: &str) -> Result<()> {
    let cut =
        || format!("{what}: the file ends inside its NumPy header (a truncated or damaged file)");
    let mut lead = [0u8; 8];
    r.read_exact(&mut lead).with_context(cut)?;
    ensure!(
        lead.starts_with(b"\x93NUMPY"),
        "{what}: not a NumPy array (it does not start with NumPy's \\x93NUMPY); save it with \
         np.save or np.savez"
    );
    let len = match lead[6] {
        1 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).with_context(cut)?;
            u16::from_le_bytes(b) as usize
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b).with_context(cut)?;
            u32::from_le_bytes(b) as usize
        }
        v => bail!(
            "{what}: NumPy format version {v}.{}; tch-vae reads versions 1 to 3 (np.save writes \
             them)",
            lead[7]
        ),
    };
    ensure!(
        len <= MAX_HEADER,
        "{what}: a header of {len} bytes, more than the {MAX_HEADER} that NumPy itself reads \
         (numpy.load's max_header_size): a damaged or hostile file"
    );
    let mut header = vec![0u8; len];
    r.read_exact(&mut header).with_context(|| {
        format!(
            "{what}: its header declares {len} bytes but the file ends before them (a truncated \
             or damaged file)"
        )
    })?;
    let (mut depth, mut deepest) = (0usize, 0usize);
    for b in header {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    ensure!(
        deepest <= MAX_HEADER_DEPTH,
        "{what}: its header nests brackets {deepest} deep; NumPy's headers nest at most \
         {MAX_HEADER_DEPTH}: a damaged or hostile file"
    );
    Ok(())
}

/// A `RawData` from the arrays read; missing labels are all 0.
fn raw(train: Images, train_labels: Vec<i64>, test: Option<(Images, Vec<i64>)>) -> RawData {
    let labels = |l: Vec<i64>, n: usize| if l.is_empty() { vec![0; n] } else { l };
    let (c, h, w) = train.shape;
    let has_test = test.is_some();
    let has_labels = !train_labels.is_empty();
    let (test_bytes, test_labels) = match test {
        Some((x, l)) => {
            let n = x.n;
            (x.bytes, labels(l, n))
        }
        None => (Vec::new(), Vec::new()),
    };
    RawData {
        train_labels: labels(train_labels, train.n),
        train: train.bytes,
        test: test_bytes,
        test_labels,
        has_test,
        drawn_test: false,
        has_labels,
        channels: c,
        height: h,
        width: w,
        class_names: Vec::new(),
    }
}

/// The images of one array, its first `keep` if given; `room`: the bytes its file or
/// archive entry holds, if known.
fn read_images<R: Read>(
    npy: NpyFile<R>,
    what: &str,
    room: Option<u64>,
    keep: Option<usize>,
) -> Result<Images> {
    ensure!(
        npy.order() == Order::C,
        "{what}: the array is in Fortran order; save a C-ordered one (np.ascontiguousarray)"
    );
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let (declared, layout) = match shape[..] {
        [n, h, w] => (n, (1, h, w, false)),
        [n, h, w, c] if matches!(c, 1 | 3) && !matches!(h, 1 | 3) => (n, (c, h, w, true)),
        [n, c, h, w] if matches!(c, 1 | 3) => (n, (c, h, w, false)),
        [n, h, w, c] if matches!(c, 1 | 3) => (n, (c, h, w, true)),
        _ => bail!(
            "{what}: an array of shape {shape:?}; images are [N, H, W], [N, H, W, C] or \
             [N, C, H, W] with C = 1 or 3"
        ),
    };
    let (c, h, w, channels_last) = layout;
    ensure!(
        declared > 0 && h > 0 && w > 0,
        "{what}: no images (shape {shape:?})"
    );
    let n = keep.map_or(declared, |k| k.min(declared));
    let dtype = npy.dtype();
    let npyz::DType::Plain(ty) = &dtype else {
        bail!("{what}: a structured array ({dtype:?}); images are uint8 or float")
    };
    check_size(&shape, ty.size_field(), what, room, n)?;
    let cut = || format!("{what}: the array's values end early (a truncated or damaged file)");
    let values = n * c * h * w;
    let big_endian = ty.endianness() == npyz::Endianness::Big;
    let bytes: Vec<u8> = match (ty.type_char(), ty.size_field()) {
        // The values are the bytes: read whole. npyz's `into_vec` reads one value at a time
        // (a 400 MB array: 7.5 s for the whole command, 2.6 s read whole;
        // notebooks-export/logs/cpu-2026-12-07/npz-read.log).
        (TypeChar::Uint, 1) => {
            let mut bytes = vec![0u8; values];
            npy.into_inner().read_exact(&mut bytes).with_context(cut)?;
            bytes
        }
        (TypeChar::Float, size @ (4 | 8)) => {
            let format = (size as usize, big_endian);
            unit_floats(npy.into_inner(), values, format, what, &cut)?
        }
        _ => bail!(
            "{what}: values of type {ty}; images are uint8 (0..255) or float32/float64 in [0, 1]"
        ),
    };
    let bytes = if channels_last {
        to_channels_first(&bytes, n, c, h * w)
    } else {
        bytes
    };
    Ok(Images {
        bytes,
        n,
        declared,
        shape: (c, h, w),
    })
}

/// Refuses, from the header alone, an array whose values (`item` bytes each) overflow a
/// count, pass [`MAX_VALUES`], are more than its file or archive entry holds (`room`
/// bytes, header included) or whose first `read` images would not fit in the memory
/// available, before any of them is read (a compressed `.npz` entry can declare far more
/// than its file holds).
fn check_size(
    shape: &[usize],
    item: u64,
    what: &str,
    room: Option<u64>,
    read: usize,
) -> Result<()> {
    let values = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&v| v <= MAX_VALUES);
    let Some(values) = values else {
        bail!("{what}: shape {shape:?} declares more than the {MAX_VALUES} values accepted");
    };
    let bytes = values.saturating_mul(item.max(1));
    if let Some(room) = room {
        ensure!(
            bytes <= room,
            "{what}: its header declares shape {shape:?} ({bytes} bytes of values) but the \
             file holds only {room} bytes: a truncated or damaged array; save it again \
             with NumPy"
        );
    }
    // The images read, of the shape's first axis (the check above allows no overflow).
    let bytes = bytes / shape[0].max(1) as u64 * read as u64;
    let available = crate::native::device::available_bytes(tch::Device::Cpu);
    let images = if read < shape[0] {
        format!("its first {read} images (of shape {shape:?}) take")
    } else {
        format!("shape {shape:?} takes")
    };
    ensure!(
        available.is_none_or(|a| bytes <= a),
        "{what}: {images} {} MiB, more than the {} MiB of memory available; save fewer \
         images, or smaller ones (or, with x_test beside x_train, give --limit)",
        bytes >> 20,
        available.unwrap_or_default() >> 20
    );
    Ok(())
}

fn read_labels<R: Read>(npy: NpyFile<R>, what: &str, n: usize) -> Result<Vec<i64>> {
    ensure!(
        npy.shape().len() == 1 && npy.shape()[0] == n as u64,
        "{what}: labels of shape {:?} for {n} images; they must be [{n}]",
        npy.shape()
    );
    let dtype = npy.dtype();
    let npyz::DType::Plain(ty) = &dtype else {
        bail!("{what}: a structured array ({dtype:?}); labels are integers")
    };
    let cut = || format!("{what}: the labels end early (a truncated or damaged file)");
    let labels: Vec<i64> = match (ty.type_char(), ty.size_field()) {
        (TypeChar::Uint, 1) => widen(npy.into_vec::<u8>().with_context(cut)?),
        (TypeChar::Uint, 2) => widen(npy.into_vec::<u16>().with_context(cut)?),
        (TypeChar::Uint, 4) => widen(npy.into_vec::<u32>().with_context(cut)?),
        (TypeChar::Int, 1) => widen(npy.into_vec::<i8>().with_context(cut)?),
        (TypeChar::Int, 2) => widen(npy.into_vec::<i16>().with_context(cut)?),
        (TypeChar::Int, 4) => widen(npy.into_vec::<i32>().with_context(cut)?),
        (TypeChar::Int, 8) => npy.into_vec::<i64>().with_context(cut)?,
        _ => bail!("{what}: labels of type {ty}; labels are integers"),
    };
    ensure!(
        labels.iter().all(|&l| (0..=u16::MAX as i64).contains(&l)),
        "{what}: labels must be integers from 0 to 65535"
    );
    Ok(labels)
}

fn widen<T: Into<i64>>(values: Vec<T>) -> Vec<i64> {
    values.into_iter().map(Into::into).collect()
}
