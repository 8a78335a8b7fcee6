//! Datasets on the training device. A source reads its files into [`RawData`]:
//! `idx_folder.rs` (MNIST-format folders), `cifar.rs` (CIFAR-10/100 binary), `numpy.rs`
//! (`.npy`/`.npz`) and `folder.rs` (folders of images), detected from what `--data` names;
//! `transform.rs` applies `--channels` and `--image-size`. A source without a test split is
//! split with the run's seed (`split.rs`). [`Dataset`] keeps the pixels as `uint8` on the
//! device (one byte per value) and turns the rows a batch needs into floats in [0, 1].
mod cifar;
mod folder;
mod folder_cache;
pub mod idx;
mod idx_folder;
mod numpy;
pub(crate) mod split;
mod transform;

use crate::config::{Binarize, DataInfo, DataShape, BINARIZE_SEED};
use anyhow::{ensure, Context, Result};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// One split: images and labels with the same number of rows.
pub struct Split {
    /// `[n, channels * height * width]` uint8, each image channel by channel.
    pub images: Tensor,
    /// `[n]` int64
    pub labels: Tensor,
}

impl Split {
    pub fn len(&self) -> usize {
        self.images.size()[0] as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows `index` (`[b]` int64) as the model's input: `[b, values]` float32 in [0, 1].
    pub fn batch(&self, index: &Tensor) -> Tensor {
        to_unit(self.images.index_select(0, index))
    }

    /// `len` rows from `start` as the model's input, `[len, values]` float32 in [0, 1].
    pub fn rows(&self, start: usize, len: usize) -> Tensor {
        to_unit(self.images.narrow(0, start as i64, len as i64))
    }

    /// The first `n` rows as the model's input, `[n, values]` float32 in [0, 1].
    pub fn head(&self, n: usize) -> Tensor {
        to_unit(self.images.narrow(0, 0, n.min(self.len()) as i64))
    }

    /// `n` row numbers spread evenly over the split, `[min(n, len)]` int64 on the split's
    /// device: row `i * len / n` for i in 0..n. A folder lists its images class by class,
    /// so the first rows of a split can all be one class; these show the whole split.
    pub fn spread(&self, n: usize) -> Tensor {
        let (len, n) = (self.len() as i64, n.min(self.len()) as i64);
        let rows: Vec<i64> = (0..n).map(|i| i * len / n).collect();
        Tensor::from_slice(&rows).to_device(self.images.device())
    }

    /// Every row as the model's input, `[n, values]` float32 in [0, 1].
    pub fn all(&self) -> Tensor {
        to_unit(self.images.shallow_clone())
    }
}

/// uint8 values -> float32 in [0, 1] (value / 255), as the model reads them.
fn to_unit(bytes: Tensor) -> Tensor {
    bytes.to_kind(Kind::Float) / 255.0
}

/// A dataset as a source reads it, in host memory, before it moves to the device.
pub struct RawData {
    /// `[n, channels * height * width]` bytes of each split, row after row.
    pub train: Vec<u8>,
    pub test: Vec<u8>,
    pub train_labels: Vec<i64>,
    pub test_labels: Vec<i64>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Whether the data have a test split (else it is drawn with `--test-fraction`).
    pub has_test: bool,
    /// Whether that test split was drawn with `--test-fraction` (not the source's own).
    pub drawn_test: bool,
    /// The names of the classes, by label, where the source has them.
    pub class_names: Vec<String>,
    /// Whether the source gave labels (else they are all 0).
    pub has_labels: bool,
}

/// Refuses `images` of `values` bytes each that would not fit twice in the memory
/// available (the bytes are held twice while they move into a tensor), before they are
/// decoded or resized (`--image-size 4096` makes 48 MiB of each colour image).
pub(crate) fn check_memory(images: usize, values: usize, path: &Path) -> Result<()> {
    let needed = 2 * (images as u128) * (values as u128);
    let available = crate::native::device::available_bytes(Device::Cpu);
    ensure!(
        available.is_none_or(|a| needed <= u128::from(a)),
        "{}: {images} images of {values} values need {} MiB while they load, more than the {} \
         MiB of memory available; use --limit, a smaller --image-size, or fewer images",
        path.display(),
        needed >> 20,
        available.unwrap_or_default() >> 20
    );
    Ok(())
}

impl RawData {
    /// Keeps the first `limit` training images (all of them without one).
    pub fn keep_train(&mut self, limit: Option<usize>) {
        let keep = limit.map_or(self.train_labels.len(), |n| n.min(self.train_labels.len()));
        self.train
            .truncate(keep * self.channels * self.height * self.width);
        self.train_labels.truncate(keep);
    }
}

/// How to load a dataset, beyond its path.
#[derive(Clone, Copy, Debug)]
pub struct LoadOptions<'a> {
    /// Keep the first N training images (the test split stays whole).
    pub limit: Option<usize>,
    /// `--channels`: convert every image to 1 (grey) or 3 (RGB) channels.
    pub channels: Option<usize>,
    /// `--image-size`: resize every image to fill (height, width), then centre-crop.
    pub image_size: Option<(usize, usize)>,
    /// Where decoded image folders are cached (none: decode every time).
    pub cache: Option<&'a Path>,
    /// For sources without a test split: the share of images held out for testing.
    pub test_fraction: f64,
    /// The seed of that split (the run's seed).
    pub seed: u64,
}

impl<'a> LoadOptions<'a> {
    /// The options a run recorded in its `config.json` (`cache`: see [`cache_dir`]).
    pub fn of_run(train: &crate::config::TrainConfig, cache: Option<&'a Path>) -> Self {
        LoadOptions {
            limit: train.limit,
            channels: train.channels,
            image_size: train.image_size.map(|[h, w]| (h, w)),
            cache,
            test_fraction: train.test_fraction,
            seed: train.seed,
        }
    }
}

/// Where decoded image folders are cached: `$TCH_VAE_CACHE/datasets`, else
/// `$XDG_CACHE_HOME/tch-vae/datasets` or `~/.cache/tch-vae/datasets` (beside the Python
/// environment of `scripts/setup.sh`).
pub fn cache_dir() -> Option<std::path::PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
    };
    let root = env("TCH_VAE_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|c| c.join("tch-vae")))
        .or_else(|| env("HOME").map(|h| h.join(".cache/tch-vae")))?;
    Some(root.join("datasets"))
}

/// What kind of source a dataset came from, and how its test split was made.
#[derive(Clone, Debug, PartialEq)]
pub struct Origin {
    /// "idx", "cifar", "numpy" or "folder".
    pub source: &'static str,
    /// Whether the test split was drawn with `--test-fraction` (else the source's own).
    pub drawn_test_split: bool,
}

pub struct Dataset {
    pub train: Split,
    pub test: Split,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// The names of the classes, by label (empty when the source has none).
    pub class_names: Vec<String>,
    /// Whether the source gave labels (else they are all 0).
    pub has_labels: bool,
    pub origin: Origin,
    /// Entries of an image folder that were not read: hidden ones and files that are not
    /// images (the command says so).
    pub skipped: Vec<std::path::PathBuf>,
}

impl Dataset {
    /// Values per image: the model's input dimension.
    pub fn input_dim(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Loads the dataset at `path` onto `device`: a folder of IDX or CIFAR files, or a
    /// `.npy`/`.npz` file.
    pub fn load(path: &Path, options: &LoadOptions<'_>, device: Device) -> Result<Self> {
        ensure!(options.limit != Some(0), "--limit must be at least 1");
        let mut skipped = Vec::new();
        // Anything but a folder is taken for a file (the reader names a FIFO or device).
        let (mut raw, source) = if path.exists() && !path.is_dir() {
            ensure!(
                path.extension().is_some_and(|e| e == "npy" || e == "npz"),
                "--data {}: that is {}; --data takes a folder (MNIST-format IDX files, CIFAR \
                 binary files or images) or a NumPy .npy/.npz file",
                path.display(),
                std::fs::metadata(path)
                    .map_or("a file", |m| crate::native::files::describe(m.file_type()))
            );
            (numpy::read(path, options.limit)?, "numpy")
        } else if cifar::is_cifar(path) {
            (cifar::read(path)?, "cifar")
        } else if path.is_dir() && !idx_folder::is_idx(path) {
            // Not IDX files: a folder of images, or (with none) an error saying what is there.
            let wanted = folder::Wanted {
                channels: options.channels,
                size: options.image_size,
            };
            let (raw, passed) = folder::read(path, wanted, options)?;
            skipped = passed;
            (raw, "folder")
        } else {
            (idx_folder::read(path)?, "idx")
        };
        if !raw.has_test {
            split::hold_out_test(&mut raw, options.test_fraction, options.seed)
                .with_context(|| format!("--data {}", path.display()))?;
        }
        // --limit before any resizing: only the images kept are converted.
        raw.keep_train(options.limit);
        let fitted = options.channels.unwrap_or(raw.channels)
            * options
                .image_size
                .map_or(raw.height * raw.width, |(h, w)| h * w);
        let images = raw.train_labels.len() + raw.test_labels.len();
        check_memory(images, fitted, path)?;
        transform::refit(&mut raw, options.channels, options.image_size);
        let drawn = raw.drawn_test;
        let mut dataset = Self::from_raw(raw, None, device);
        dataset.origin = Origin {
            source,
            drawn_test_split: drawn,
        };
        dataset.skipped = skipped;
        Ok(dataset)
    }

    /// Moves `raw` to `device` (the bytes travel; nothing is converted to floats there).
    pub fn from_raw(raw: RawData, limit: Option<usize>, device: Device) -> Self {
        let dim = raw.channels * raw.height * raw.width;
        let keep = limit.map_or(raw.train_labels.len(), |n| n.min(raw.train_labels.len()));
        let split = |bytes: &[u8], labels: &[i64]| Split {
            images: Tensor::from_slice(bytes)
                .view([labels.len() as i64, dim as i64])
                .to_device(device),
            labels: Tensor::from_slice(labels).to_device(device),
        };
        Dataset {
            train: split(&raw.train[..keep * dim], &raw.train_labels[..keep]),
            test: split(&raw.test, &raw.test_labels),
            channels: raw.channels,
            height: raw.height,
            width: raw.width,
            class_names: raw.class_names,
            has_labels: raw.has_labels,
            origin: Origin {
                source: "idx",
                drawn_test_split: false,
            },
            skipped: Vec::new(),
        }
    }

    /// The classes a conditional model of these data needs: one more than the largest
    /// label, or the source's named classes if more. An error, naming `path`, when the
    /// source has no labels.
    /// What the configuration needs to know of the data read from `path`: the image shape,
    /// the number of classes when `conditional` asks for it, and what is recorded.
    pub fn shape(&self, path: &Path, conditional: bool) -> Result<DataShape> {
        Ok(DataShape {
            channels: self.channels,
            height: self.height,
            width: self.width,
            classes: conditional.then(|| self.classes(path)).transpose()?,
            train_images: self.train.len(),
            info: DataInfo {
                source: self.origin.source.to_string(),
                drawn_test_split: self.origin.drawn_test_split,
                class_names: self.class_names.clone(),
            },
        })
    }

    pub fn classes(&self, path: &Path) -> Result<usize> {
        ensure!(
            self.has_labels,
            "--conditional needs labels, and {} has none: give an IDX folder with its label \
             files, CIFAR files, an .npz with y_train and y_test, or a folder of images in \
             one subfolder per class",
            path.display()
        );
        let largest = |s: &Split| s.labels.max().int64_value(&[]);
        let top = largest(&self.train).max(if self.test.is_empty() {
            0
        } else {
            largest(&self.test)
        });
        Ok((top as usize + 1).max(self.class_names.len()))
    }

    /// Applies `--binarize` to the loaded data: static binarises both splits once, dynamic
    /// only the test split (training batches are redrawn by [`binarize_batch`]). It reseeds
    /// libtorch's generator with [`BINARIZE_SEED`]; training seeds it again afterwards.
    /// Binary pixels are kept as the bytes 0 and 255.
    pub fn binarize_fixed(&mut self, mode: Binarize) {
        if mode == Binarize::None {
            return;
        }
        tch::manual_seed(BINARIZE_SEED);
        let draw = |split: &Split| (split.all().bernoulli() * 255.0).to_kind(Kind::Uint8);
        self.test.images = draw(&self.test);
        if mode == Binarize::Static {
            self.train.images = draw(&self.train);
        }
    }
}

/// A training batch as the model sees it: redrawn binary pixels under dynamic
/// binarisation, the batch itself otherwise. [b, values] -> [b, values].
pub fn binarize_batch(x: Tensor, mode: Binarize) -> Tensor {
    match mode {
        Binarize::Dynamic => x.bernoulli(),
        Binarize::None | Binarize::Static => x,
    }
}

/// Yields the row indices of each batch of an epoch: `order` (`[n]` int64) cut into
/// consecutive chunks of `batch_size`; the last batch is smaller when n is not a multiple,
/// so no image is dropped.
pub fn batches(order: &Tensor, batch_size: usize) -> impl Iterator<Item = Tensor> + '_ {
    let n = order.size()[0];
    (0..n)
        .step_by(batch_size)
        .map(move |start| order.narrow(0, start, (batch_size as i64).min(n - start)))
}

/// A fresh random order of `n` rows (`[n]` int64 on `device`), drawn from tch's global
/// generator on the CPU so that the order for a given seed is the same on every device.
pub fn shuffled_order(n: usize, device: Device) -> Tensor {
    Tensor::randperm(n as i64, (Kind::Int64, Device::Cpu)).to_device(device)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_every_row_once_with_a_smaller_last_batch() {
        let _rng = crate::rng_lock();
        tch::manual_seed(0);
        let order = shuffled_order(10, Device::Cpu);
        let sizes: Vec<i64> = batches(&order, 4).map(|b| b.size()[0]).collect();
        assert_eq!(sizes, vec![4, 4, 2]);
        let all = Tensor::cat(&batches(&order, 4).collect::<Vec<_>>(), 0)
            .sort(0, false)
            .0;
        assert_eq!(
            Vec::<i64>::try_from(&all).unwrap(),
            (0..10).collect::<Vec<_>>()
        );
    }

    #[test]
    fn order_changes_between_epochs_and_repeats_with_the_seed() {
        let _rng = crate::rng_lock();
        tch::manual_seed(7);
        let (a, b) = (
            shuffled_order(50, Device::Cpu),
            shuffled_order(50, Device::Cpu),
        );
        tch::manual_seed(7);
        let a2 = shuffled_order(50, Device::Cpu);
        assert!(!a.equal(&b));
        assert!(a.equal(&a2));
    }
}
