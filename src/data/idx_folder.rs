//! MNIST-format folders: the four IDX files (`train-images-idx3-ubyte[.gz]`, ...) that
//! MNIST and Fashion-MNIST ship; `data/idx.rs` parses each file.
use super::RawData;
use crate::data::idx;
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};

/// Fashion-MNIST's ten classes (Xiao et al. 2017), by label.
const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

struct IdxSplit {
    images: Vec<u8>,
    labels: Vec<i64>,
}

/// Whether `dir` looks like an MNIST-format folder: it holds a file named like an IDX file
/// (`...-ubyte`, `...idx3...`), complete or not.
pub fn is_idx(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().to_lowercase();
            name.contains("-ubyte") || name.contains(".idx")
        })
    })
}

/// Reads the training and test files of `dir` (on two threads: gzip inflation is serial).
pub fn read(dir: &Path) -> Result<RawData> {
    ensure!(
        dir.is_dir(),
        "data folder {} does not exist. The default dataset comes from Debian: \
         `apt-get install dataset-fashion-mnist` (or run scripts/setup.sh); \
         any folder of MNIST-format IDX files works with --data DIR",
        dir.display()
    );
    let (train, test) = std::thread::scope(|s| {
        let test = s.spawn(|| read_split(dir, "t10k"));
        let train = read_split(dir, "train");
        // A panic there is a bug: pass it on to main's report, not as a data error.
        let test = test.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (train, test)
    });
    let (train, h, w) = train?;
    let (test, th, tw) = test?;
    ensure!(
        (h, w) == (th, tw),
        "{}: training images are {h}x{w} but test images are {th}x{tw}",
        dir.display()
    );
    // IDX files carry no class names; Fashion-MNIST's are known (and its folder says so).
    let fashion = dir.to_string_lossy().to_lowercase().contains("fashion");
    Ok(RawData {
        train: train.images,
        test: test.images,
        train_labels: train.labels,
        test_labels: test.labels,
        has_test: true,
        drawn_test: false,
        has_labels: true,
        channels: 1,
        height: h,
        width: w,
        class_names: if fashion {
            FASHION_MNIST_CLASSES
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            Vec::new()
        },
    })
}

/// Reads `<prefix>-images-idx3-ubyte[.gz]` and `<prefix>-labels-idx1-ubyte[.gz]` and checks
/// that they agree. Returns the split and the image height and width.
fn read_split(dir: &Path, prefix: &str) -> Result<(IdxSplit, usize, usize)> {
    let images_path = find_file(dir, prefix, "images", 3)?;
    let labels_path = find_file(dir, prefix, "labels", 1)?;
    let images = idx::read_file(&images_path)?;
    let labels = idx::read_file(&labels_path)?;
    let [n, h, w] = images.dims[..] else {
        bail!(
            "{}: expected 3 dimensions [count, rows, columns], found {:?}",
            images_path.display(),
            images.dims
        );
    };
    ensure!(
        n > 0 && h > 0 && w > 0,
        "{}: empty images {:?}",
        images_path.display(),
        images.dims
    );
    ensure!(
        labels.dims.len() == 1,
        "{}: expected 1 dimension [count], found {:?}",
        labels_path.display(),
        labels.dims
    );
    ensure!(
        labels.dims[0] == n,
        "{} holds {} labels but {} holds {n} images; they must match",
        labels_path.display(),
        labels.dims[0],
        images_path.display()
    );
    let split = IdxSplit {
        images: images.data,
        labels: labels.data.iter().map(|&l| i64::from(l)).collect(),
    };
    Ok((split, h, w))
}

/// Finds one IDX file under the names MNIST mirrors use: `train-images-idx3-ubyte`,
/// with or without `.gz`, and the `train-images.idx3-ubyte` spelling.
fn find_file(dir: &Path, prefix: &str, what: &str, ndims: u8) -> Result<PathBuf> {
    let stems = [
        format!("{prefix}-{what}-idx{ndims}-ubyte"),
        format!("{prefix}-{what}.idx{ndims}-ubyte"),
    ];
    let candidates: Vec<PathBuf> = stems
        .iter()
        .flat_map(|s| [dir.join(format!("{s}.gz")), dir.join(s)])
        .collect();
    candidates
        .iter()
        // `exists`: a FIFO or device under the name is named by the reader as what it is.
        .find(|p| p.exists())
        .cloned()
        .with_context(|| {
            format!(
                "no {prefix} {what} file in {}: looked for {}. A data folder needs the four \
                 MNIST-format IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, \
                 t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)",
                dir.display(),
                stems.join(", ")
            )
        })
}
