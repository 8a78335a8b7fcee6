//! The figures of a run folder drawn from a trained model: prior samples, reconstructions,
//! the latent space, an interpolation and (for 2-D latents) the manifold. `loss.svg` comes
//! from the metrics alone (`plot.rs`).
use crate::data::Dataset;
use crate::model::fitted::FittedPrior;
use crate::model::mixture::Picture;
use crate::model::Vae;
use crate::run::{INTERPOLATION, LATENT, MANIFOLD, RECONSTRUCTIONS, SAMPLES};
use crate::{figures::images, figures::plot};
use anyhow::Result;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// The sample grid is 8 x 8.
const GRID_COLS: usize = 8;
const GRID_IMAGES: usize = 64;
/// The manifold is a 20 x 20 grid over the quantiles 0.05 .. 0.95 of N(0, 1).
const MANIFOLD_SIDE: usize = 20;
/// Interpolation: 4 pairs of test images, 8 steps between each pair's ends.
const INTERPOLATION_PAIRS: usize = 4;
const INTERPOLATION_STEPS: usize = 8;
/// The latent scatter shows this many test images.
const LATENT_POINTS: usize = 3000;
/// A conditional model's samples figure has a row per class, for at most this many.
const MAX_CLASS_ROWS: usize = 32;

/// The image shape of the model's input (channels, height, width).
fn shape(c: &crate::config::ModelConfig) -> images::Shape {
    (c.channels, c.image_height, c.image_width)
}

/// Draws every figure into `dir` with libtorch's generator seeded by `seed`, so `plot`
/// redraws exactly what `train` drew. Returns the files written.
pub fn write_all(vae: &Vae, data: &Dataset, dir: &Path, seed: u64) -> Result<Vec<PathBuf>> {
    tch::manual_seed(seed as i64);
    let mut written = Vec::new();
    let mut add = |name: &str| {
        written.push(dir.join(name));
        dir.join(name)
    };
    write_samples(vae, &add(SAMPLES), None, 1.0, Picture::Mode)?;
    write_reconstructions(vae, data, &add(RECONSTRUCTIONS))?;
    write_latent(vae, data, &add(LATENT))?;
    // An interpolation needs a pair of test images.
    if data.test.len() >= 2 {
        write_interpolation(vae, data, &add(INTERPOLATION))?;
    }
    // A conditional model has a manifold per class, a hierarchical one a z of many
    // groups; none is drawn.
    let flat_2d = vae.config().latent == 2 && vae.hierarchy().is_none();
    if flat_2d && vae.config().classes.is_none() {
        write_manifold(vae, &add(MANIFOLD))?;
    }
    Ok(written)
}

/// Images decoded from z ~ p(z) (generation as in Kingma & Welling 2013, figure 4), 8 to a
/// row: 64 of them; for a conditional model, 64 of class `label`, or without one a row of
/// 8 per class (the first 32 classes).
pub fn write_samples(
    vae: &Vae,
    path: &Path,
    label: Option<i64>,
    temperature: f64,
    picture: Picture,
) -> Result<()> {
    let x = sample_grid(vae, label, temperature, picture)?;
    images::write_grid(path, &x, shape(vae.config()), GRID_COLS)
}

/// [`write_samples`] with z drawn from an ex-post prior instead (`model::fitted`): a flat
/// model's z, or a hierarchical model's top groups (the rest from its own prior); the
/// mixture's spread and the model's prior's both times `temperature`.
pub fn write_fitted_samples(
    vae: &Vae,
    prior: &FittedPrior,
    path: &Path,
    temperature: f64,
    picture: Picture,
) -> Result<()> {
    let z = prior
        .sample(GRID_IMAGES as i64, temperature)
        .to_device(vae.device());
    let x = tch::no_grad(|| -> Result<Tensor> {
        Ok(vae.picture_as(&vae.codes_logits(&z, temperature)?, picture))
    })?;
    images::write_grid(path, &x, shape(vae.config()), GRID_COLS)
}

/// The images of [`write_samples`], `[n, pixels]`, 8 to a row.
pub fn sample_grid(
    vae: &Vae,
    label: Option<i64>,
    temperature: f64,
    picture: Picture,
) -> Result<Tensor> {
    let c = vae.config();
    let device = vae.device();
    let labels = match (c.classes, label) {
        (None, None) => None,
        (None, Some(_)) => anyhow::bail!(
            "--label: this model is not conditional (it was trained without --conditional)"
        ),
        (Some(classes), Some(l)) => {
            anyhow::ensure!(
                (0..classes as i64).contains(&l),
                "--label {l}: this model's classes are 0 to {}",
                classes - 1
            );
            Some(Tensor::full([GRID_IMAGES as i64], l, (Kind::Int64, device)))
        }
        (Some(classes), None) => {
            let rows = classes.min(MAX_CLASS_ROWS) as i64;
            let per_row = Tensor::arange(rows, (Kind::Int64, device)).unsqueeze(1);
            Some(per_row.repeat([1, GRID_COLS as i64]).view([-1])) // [rows * 8]
        }
    };
    let n = labels.as_ref().map_or(GRID_IMAGES as i64, |l| l.size()[0]);
    tch::no_grad(|| {
        let out = vae.sample_logits(n, temperature, labels.as_ref())?;
        Ok(vae.picture_as(&out, picture))
    })
    // [n, pixels]
}

/// `n` test images spread over the test set ([`crate::data::Split::spread`]: a folder's
/// first images are often all one class), `[n, values]`, with their labels `[n]` for a
/// conditional model (None otherwise) and all their labels `[n]`.
fn shown_tests(vae: &Vae, data: &Dataset, n: usize) -> (Tensor, Option<Tensor>, Tensor) {
    let rows = data.test.spread(n);
    let labels = data.test.labels.index_select(0, &rows);
    let given = vae.config().classes.map(|_| labels.shallow_clone());
    (data.test.batch(&rows), given, labels)
}

/// 16 test images spread over the test set, each row of 8 above its reconstructions
/// decode(mu(x)).
pub fn write_reconstructions(vae: &Vae, data: &Dataset, path: &Path) -> Result<()> {
    let (grid, cols) = reconstruction_grid(vae, data)?;
    images::write_grid(path, &grid, shape(vae.config()), cols)
}

/// The images of [`write_reconstructions`], `[n, pixels]`, and the columns of its grid.
pub fn reconstruction_grid(vae: &Vae, data: &Dataset) -> Result<(Tensor, usize)> {
    let cols = GRID_COLS.min(data.test.len());
    let rows = (16 / cols).min(data.test.len() / cols);
    let (x, y, _) = shown_tests(vae, data, rows * cols); // [rows*cols, values]
    let recon = tch::no_grad(|| vae.decode(&vae.encode(&x, y.as_ref())?.0, y.as_ref()))?;
    let d = x.size()[1];
    let (r, c) = (rows as i64, cols as i64);
    // [rows, 2, cols, pixels]: each row of originals followed by its reconstructions.
    let grid = Tensor::stack(&[x.view([r, c, d]), recon.view([r, c, d])], 1).reshape([-1, d]);
    Ok((grid, cols))
}

/// The sample and reconstruction grids as PNG bytes (for TensorBoard), the samples drawn
/// with libtorch's generator seeded by `seed` (the same z at every epoch).
pub fn epoch_pngs(vae: &Vae, data: &Dataset, seed: u64) -> Result<[images::Png; 2]> {
    tch::manual_seed(seed as i64);
    let s = shape(vae.config());
    let samples = images::grid_png(&sample_grid(vae, None, 1.0, Picture::Mode)?, s, GRID_COLS)?;
    let (grid, cols) = reconstruction_grid(vae, data)?;
    Ok([samples, images::grid_png(&grid, s, cols)?])
}

/// Test-set posterior means (of at most 3,000 spread over the set) coloured by label: the
/// latent itself when it is 2-D, else its projection on the first two principal components
/// (a hierarchical model's: those of its top groups).
pub fn write_latent(vae: &Vae, data: &Dataset, path: &Path) -> Result<()> {
    let n = data.test.len().min(LATENT_POINTS);
    let (x, y, labels) = shown_tests(vae, data, n);
    let rows = crate::model::memory::encoded_chunk_rows(vae.device(), vae.config());
    let (mu, _) = vae.encode_all(&x, y.as_ref(), rows)?;
    // A hierarchical model: its top (1x1) groups, the code of the whole image.
    let mu = match vae.hierarchy() {
        Some(net) => mu.narrow(1, 0, (net.layout().depths[0] * net.layout().latent) as i64),
        None => mu,
    };
    let mu = mu.to_device(Device::Cpu);
    let (points, axis) = project_2d(&mu)?;
    let labels = Vec::<i64>::try_from(labels.to_device(Device::Cpu))?;
    plot::write_latent_svg(path, &points, &labels, &data.class_names, &axis)
}

/// [n, d] -> ([n] of (x, y), axis name): identity for d = 2, else the first two principal
/// components (SVD of the centred means) with the share of variance each explains.
fn project_2d(mu: &Tensor) -> Result<(Vec<(f64, f64)>, String)> {
    let mu = mu.to_kind(Kind::Double);
    let (n, d) = (mu.size()[0], mu.size()[1]);
    // Two principal components need two points; fewer are drawn at their first two
    // coordinates.
    let (xy, axis) = if d <= 2 || n < 2 {
        let xy = match d {
            1 => Tensor::cat(&[&mu, &mu.zeros_like()], 1),
            _ => mu.narrow(1, 0, 2),
        };
        (xy, "z".to_string())
    } else {
        let centred = &mu - mu.mean_dim(&[0i64][..], true, None::<Kind>);
        let (_, s, v) = centred.f_svd(true, true)?; // centred = U diag(s) V^T
        let share = s.square() / s.square().sum(Kind::Double);
        let (a, b) = (share.double_value(&[0]), share.double_value(&[1]));
        let axis = format!(
            "principal component ({:.0}% and {:.0}% of the variance)",
            100.0 * a,
            100.0 * b
        );
        (centred.matmul(&v.narrow(1, 0, 2)), axis)
    };
    let flat = Vec::<f64>::try_from(xy.contiguous().view([-1]))?;
    Ok((flat.chunks_exact(2).map(|p| (p[0], p[1])).collect(), axis))
}

/// Rows of [test image a, 8 decoded points on mu(a) -> mu(b), test image b], the 4 pairs
/// spread over the test set (for a conditional model, each encoded with its own label and
/// decoded with a's).
pub fn write_interpolation(vae: &Vae, data: &Dataset, path: &Path) -> Result<()> {
    let pairs = INTERPOLATION_PAIRS.min(data.test.len() / 2) as i64;
    let (x, y, _) = shown_tests(vae, data, 2 * pairs as usize); // [2p, values]
    let d = x.size()[1];
    let grid = tch::no_grad(|| -> Result<Tensor> {
        let mu = vae.encode(&x, y.as_ref())?.0.view([pairs, 2, -1]); // [p, 2, latent]
                                                                     // a's label for each decoded point: [p * steps].
        let steps = INTERPOLATION_STEPS as i64;
        let y_a = y.map(|y| {
            y.view([pairs, 2])
                .select(1, 0)
                .repeat_interleave_self_int(steps, 0, None)
        });
        let (a, b) = (mu.select(1, 0).unsqueeze(1), mu.select(1, 1).unsqueeze(1)); // [p, 1, latent]
        let t = Tensor::linspace(
            0.0,
            1.0,
            INTERPOLATION_STEPS as i64,
            (Kind::Float, x.device()),
        )
        .view([1, -1, 1]);
        let one_minus_t: Tensor = 1.0 - &t;
        let z = &a * one_minus_t + &b * &t; // [p, steps, latent]
        let decoded = vae
            .decode(&z.view([pairs * steps, -1]), y_a.as_ref())?
            .view([pairs, -1, d]);
        let ends = x.view([pairs, 2, d]);
        Ok(Tensor::cat(&[ends.narrow(1, 0, 1), decoded, ends.narrow(1, 1, 1)], 1).view([-1, d]))
    })?;
    let c = vae.config();
    images::write_grid(path, &grid, shape(c), INTERPOLATION_STEPS + 2)
}

/// For a 2-D latent: decoded images over a 20 x 20 grid of N(0, 1) quantiles, z1 growing
/// to the right and z2 upwards (Kingma & Welling 2013, figure 4).
pub fn write_manifold(vae: &Vae, path: &Path) -> Result<()> {
    let device = vae.device();
    let side = MANIFOLD_SIDE as i64;
    let p = Tensor::linspace(0.05, 0.95, side, (Kind::Float, device));
    // The standard normal quantile function: sqrt(2) erfinv(2p - 1).
    let q = (p * 2.0 - 1.0).erfinv() * std::f64::consts::SQRT_2; // [side]
    let z1 = q.view([1, side]).expand([side, side], false);
    let z2 = q.flip([0]).view([side, 1]).expand([side, side], false);
    let z = Tensor::stack(&[z1, z2], 2).view([side * side, 2]);
    let x = tch::no_grad(|| vae.decode(&z, None))?;
    let c = vae.config();
    images::write_grid(path, &x, shape(c), MANIFOLD_SIDE)
}
