//! CIFAR-10 and CIFAR-100 in their binary form (Krizhevsky 2009): `data_batch_1.bin` ..
//! `data_batch_5.bin` and `test_batch.bin` (CIFAR-10: a label byte, then 3,072 pixel bytes
//! per image), or `train.bin` and `test.bin` (CIFAR-100: a coarse and a fine label byte,
//! then the pixels). Pixels are 32x32, the red plane, then green, then blue.
use super::RawData;
use anyhow::{ensure, Result};
use std::path::{Path, PathBuf};

const SIDE: usize = 32;
const PIXELS: usize = 3 * SIDE * SIDE;

/// Whether `dir` holds CIFAR binary files.
/// (`exists`, not `is_file`: a FIFO or device in a batch's place is then named by the
/// reader as what it is, instead of the folder being taken for a folder of images).
pub fn is_cifar(dir: &Path) -> bool {
    dir.join("data_batch_1.bin").exists() || dir.join("train.bin").exists()
}

pub fn read(dir: &Path) -> Result<RawData> {
    // CIFAR-10 names its batches; CIFAR-100 has one training file and two labels per image.
    let ten = dir.join("data_batch_1.bin").exists();
    let (train_files, test_file, names_file) = if ten {
        let batches: Vec<PathBuf> = (1..=5)
            .map(|i| dir.join(format!("data_batch_{i}.bin")))
            .collect();
        (batches, dir.join("test_batch.bin"), "batches.meta.txt")
    } else {
        (
            vec![dir.join("train.bin")],
            dir.join("test.bin"),
            "fine_label_names.txt",
        )
    };
    let format = if ten { Format::TEN } else { Format::HUNDRED };
    let mut train = (Vec::new(), Vec::new());
    for file in &train_files {
        // A folder or FIFO in its place is not "missing": read_regular says what it is.
        ensure!(
            file.symlink_metadata().is_ok(),
            "{} is missing: CIFAR-10 has data_batch_1.bin to data_batch_5.bin and test_batch.bin",
            file.display()
        );
        read_file(file, format, &mut train)?;
    }
    ensure!(
        test_file.symlink_metadata().is_ok(),
        "{} is missing: the CIFAR test split",
        test_file.display()
    );
    let mut test = (Vec::new(), Vec::new());
    read_file(&test_file, format, &mut test)?;
    Ok(RawData {
        train: train.0,
        train_labels: train.1,
        test: test.0,
        test_labels: test.1,
        has_test: true,
        drawn_test: false,
        has_labels: true,
        channels: 3,
        height: SIDE,
        width: SIDE,
        class_names: class_names(&dir.join(names_file)),
    })
}

/// The record layout of each CIFAR: its label bytes and the classes each may name.
#[derive(Clone, Copy)]
struct Format {
    name: &'static str,
    /// The number of classes of each label byte (CIFAR-100: coarse, then fine).
    classes: &'static [u8],
}

impl Format {
    const TEN: Format = Format {
        name: "CIFAR-10",
        classes: &[10],
    };
    const HUNDRED: Format = Format {
        name: "CIFAR-100",
        classes: &[20, 100],
    };
}

/// Appends the images and labels of one file (the fine label for CIFAR-100), checking
/// that it is whole records of the format and that every label is one of its classes.
fn read_file(path: &Path, format: Format, into: &mut (Vec<u8>, Vec<i64>)) -> Result<()> {
    let bytes = crate::native::files::read_regular(path)?;
    let label_bytes = format.classes.len();
    let record = label_bytes + PIXELS;
    ensure!(
        !bytes.is_empty() && bytes.len() % record == 0,
        "{}: {} bytes, not a whole number of {record}-byte {} records (truncated, or a file \
         of the other CIFAR?)",
        path.display(),
        bytes.len(),
        format.name
    );
    for (i, r) in bytes.chunks_exact(record).enumerate() {
        for (k, (&label, &classes)) in r.iter().zip(format.classes).enumerate() {
            ensure!(
                label < classes,
                "{}: image {} has {}label {label}, but {} labels are 0 to {} (a damaged file, \
                 or one of the other CIFAR?)",
                path.display(),
                i + 1,
                match (label_bytes, k) {
                    (2, 0) => "coarse ",
                    (2, _) => "fine ",
                    _ => "",
                },
                format.name,
                classes - 1
            );
        }
        into.1.push(i64::from(r[label_bytes - 1]));
        into.0.extend_from_slice(&r[label_bytes..]);
    }
    Ok(())
}

/// One class name per line, where the file exists (CIFAR ships them beside the data); a
/// names file that is not a regular file or not text is left out, as a missing one is.
fn class_names(path: &Path) -> Vec<String> {
    crate::native::files::read_regular(path)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}
