//! Datasets in MNIST's IDX layout, loaded once as tensors on the training device.
use crate::config::{Binarize, BINARIZE_SEED};
use crate::idx;
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// One split: images and labels with the same number of rows.
pub struct Split {
    /// [n, height * width] float32 in [0, 1] (grey level / 255)
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
}

pub struct Dataset {
    pub train: Split,
    pub test: Split,
    pub height: usize,
    pub width: usize,
}

impl Dataset {
    /// Pixels per image: the model's input dimension.
    pub fn input_dim(&self) -> usize {
        self.height * self.width
    }

    /// Loads the four IDX files of `dir` onto `device`; `limit` keeps the first N training
    /// images (the test split is always whole, so test numbers stay comparable).
    pub fn load(dir: &Path, limit: Option<usize>, device: Device) -> Result<Self> {
        ensure!(
            !dir.is_file(),
            "--data {}: that is a file; --data takes the folder that holds the four \
             MNIST-format IDX files",
            dir.display()
        );
        ensure!(
            dir.is_dir(),
            "data folder {} does not exist. The default dataset comes from Debian: \
             `apt-get install dataset-fashion-mnist` (or run scripts/setup.sh); \
             any folder of MNIST-format IDX files works with --data DIR",
            dir.display()
        );
        // The two splits decompress on two threads (gzip inflation is serial).
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
        let train = match limit {
            Some(n) => {
                ensure!(n > 0, "--limit must be at least 1");
                let n = n.min(train.labels.len());
                RawSplit {
                    images: train.images[..n * h * w].to_vec(),
                    labels: train.labels[..n].to_vec(),
                }
            }
            None => train,
        };
        Ok(Dataset {
            train: train.to_tensors(h * w, device),
            test: test.to_tensors(h * w, device),
            height: h,
            width: w,
        })
    }
}

impl Dataset {
    /// Applies `--binarize` to the loaded data: static binarises both splits once, dynamic
    /// only the test split (training batches are redrawn by [`binarize_batch`]). It reseeds
    /// libtorch's generator with [`BINARIZE_SEED`]; training seeds it again afterwards.
    pub fn binarize_fixed(&mut self, mode: Binarize) {
        if mode == Binarize::None {
            return;
        }
        tch::manual_seed(BINARIZE_SEED);
        self.test.images = self.test.images.bernoulli();
        if mode == Binarize::Static {
            self.train.images = self.train.images.bernoulli();
        }
    }
}

/// A training batch as the model sees it: redrawn binary pixels under dynamic
/// binarisation, the batch itself otherwise. [b, pixels] -> [b, pixels].
pub fn binarize_batch(x: Tensor, mode: Binarize) -> Tensor {
    match mode {
        Binarize::Dynamic => x.bernoulli(),
        Binarize::None | Binarize::Static => x,
    }
}

struct RawSplit {
    images: Vec<u8>,
    labels: Vec<u8>,
}

impl RawSplit {
    fn to_tensors(&self, dim: usize, device: Device) -> Split {
        let n = self.labels.len() as i64;
        // Convert on the device: the bytes travel, the floats are made where they live.
        let mut images = Tensor::from_slice(&self.images)
            .to_device(device)
            .view([n, dim as i64])
            .to_kind(Kind::Float);
        images /= 255.0; // in place: a second 188 MB buffer would cost more than the division
        let labels = Tensor::from_slice(&self.labels)
            .to_device(device)
            .to_kind(Kind::Int64);
        Split { images, labels }
    }
}

/// Reads `<prefix>-images-idx3-ubyte[.gz]` and `<prefix>-labels-idx1-ubyte[.gz]` and checks
/// that they agree. Returns the split and the image height and width.
fn read_split(dir: &Path, prefix: &str) -> Result<(RawSplit, usize, usize)> {
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
    let split = RawSplit {
        images: images.data,
        labels: labels.data,
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
        .find(|p| p.is_file())
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
