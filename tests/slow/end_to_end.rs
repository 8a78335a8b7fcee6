//! The whole training command on real data: a `--limit`ed Fashion-MNIST run of 2 epochs
//! writes every run-folder file, each parses, and the test loss falls. Then `sample` and
//! `plot` work from the saved run.
use crate::common::*;
use std::collections::HashSet;
use std::path::Path;
use tch_vae::eval::report::EvalReport;
use tch_vae::run;
use tch_vae::run::metrics;

/// Decodes a greyscale PNG into (width, height, pixels).
fn read_png(path: &Path) -> (usize, usize, Vec<u8>) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    buf.truncate(info.buffer_size());
    (info.width as usize, info.height as usize, buf)
}

/// The tiles of an 8-column grid of 28x28 images drawn at 2x with 2-pixel padding.
fn tiles(path: &Path, rows: usize) -> Vec<Vec<u8>> {
    let (w, h, px) = read_png(path);
    let tile = 28 * 2 + 2;
    assert_eq!(
        (w, h),
        (8 * tile + 2, rows * tile + 2),
        "{}",
        path.display()
    );
    let mut out = Vec::new();
    for r in 0..rows {
        for c in 0..8 {
            let (top, left) = (r * tile + 2, c * tile + 2);
            out.push(
                (0..56)
                    .flat_map(|y| px[(top + y) * w + left..][..56].to_vec())
                    .collect(),
            );
        }
    }
    out
}

const FIGURES: [&str; 5] = [
    "loss.svg",
    "samples.png",
    "reconstructions.png",
    "latent.svg",
    "interpolation.png",
];

#[test]
fn two_epochs_write_a_complete_run_folder_and_the_test_loss_falls() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let o = train_fashion_mnist(&run, &["--limit", "3000", "--epochs", "2", "--seed", "7"]);
    let out = stdout(&o);
    // Not a terminal: one summary line per epoch and no progress bar.
    assert!(
        out.contains("epoch 1/2 |") && out.contains("epoch 2/2 |"),
        "{out}"
    );
    assert!(
        !out.contains("batches |"),
        "a progress bar was drawn into a pipe: {out}"
    );

    let config = run::read_config(&run).unwrap();
    assert_eq!(config.model.describe(), "784-400-20");
    assert_eq!(
        (
            config.train.limit,
            config.train.seed,
            config.train.device.as_str()
        ),
        (Some(3000), 7, "cpu")
    );

    let history = metrics::read(&run.join("metrics.csv")).unwrap();
    assert_eq!(history.len(), 2);
    assert!(
        history[1].test_loss < history[0].test_loss,
        "test loss did not fall: {history:?}"
    );
    for m in &history {
        assert!(
            m.mean_var > 0.0 && m.mean_var < 1.5 && m.epoch_seconds > 0.0,
            "{m:?}"
        );
    }

    let svg = std::fs::read_to_string(run.join("loss.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("epoch") && svg.contains("nats per image"));

    let samples = tiles(&run.join("samples.png"), 8);
    let distinct: HashSet<&Vec<u8>> = samples.iter().collect();
    assert_eq!(distinct.len(), 64, "the 64 samples are not all different");
    // Reconstructions: rows 0 and 2 are test images, rows 1 and 3 their reconstructions.
    let recon = tiles(&run.join("reconstructions.png"), 4);
    let mean_abs = |a: &[u8], b: &[u8]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (*x as f64 - *y as f64).abs())
            .sum::<f64>()
            / a.len() as f64
    };
    let paired = mean_abs(&recon[0], &recon[8]);
    let unpaired = mean_abs(&recon[0], &recon[9]);
    assert!(
        paired < unpaired,
        "a reconstruction is further from its image ({paired}) than another's ({unpaired})"
    );

    // vae.pt is written at the end of training (its contents: tests/fast/export.rs).
    tch::CModule::load(run.join("vae.pt")).expect("vae.pt loads with tch::CModule");
    // The weights load back into the model config.json describes.
    let loaded = run::load(&run, tch::Device::Cpu).unwrap();
    assert_eq!(loaded.vs.variables().len(), 10); // 5 linear layers: weight and bias each

    // `sample` draws a new grid from the weights; the same seed gives the same grid.
    let again = tmp.path().join("again.png");
    let draw = || {
        let o = tch_vae(&[
            "sample",
            "--run",
            run.to_str().unwrap(),
            "--seed",
            "3",
            "--output",
            again.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::read(&again).unwrap()
    };
    let first = draw();
    assert_eq!(draw(), first, "the same seed drew a different grid");
    assert_ne!(
        tiles(&again, 8),
        samples,
        "sample --seed 3 repeated the training-time grid"
    );

    // The latent figure and the interpolation (4 pairs, 10 columns); no manifold for
    // latent = 20.
    let latent = std::fs::read_to_string(run.join("latent.svg")).unwrap();
    // Fashion-MNIST's class names label the legend (class 9 is "Ankle boot").
    assert!(latent.contains("principal component") && latent.contains("Ankle boot"));
    let (w, h, _) = read_png(&run.join("interpolation.png"));
    assert_eq!((w, h), (10 * 58 + 2, 4 * 58 + 2));
    assert!(!run.join("manifold.png").exists());

    // `plot` redraws every figure identically: loss.svg from metrics.csv, the others
    // from the weights with the run's seed.
    let before: Vec<Vec<u8>> = FIGURES
        .iter()
        .map(|f| std::fs::read(run.join(f)).unwrap())
        .collect();
    for f in FIGURES {
        std::fs::remove_file(run.join(f)).unwrap();
    }
    let o = tch_vae(&["plot", "--run", run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (f, old) in FIGURES.iter().zip(&before) {
        assert_eq!(
            &std::fs::read(run.join(f)).unwrap(),
            old,
            "plot redrew {f} differently"
        );
    }
    assert_eq!(std::fs::read_to_string(run.join("loss.svg")).unwrap(), svg);
    // No temporary file is left behind by the atomic writes (the lock file stays).
    let stray: Vec<_> = std::fs::read_dir(&run)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .filter(|e| e.file_name() != run::LOCK)
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

/// The research options: dynamic binarisation, KL warm-up and free bits round-trip
/// through config.json, the warm-up shows in the `beta` column, the test images are
/// binary, and `eval` reports the standard numbers consistently.
#[test]
fn binarised_warm_up_run_and_its_evaluation() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train_fashion_mnist(
        &run,
        &[
            "--limit",
            "2000",
            "--epochs",
            "2",
            "--latent",
            "2",
            "--binarize",
            "dynamic",
            "--kl-warmup",
            "2",
            "--free-bits",
            "0.05",
        ],
    );
    let config = run::read_config(&run).unwrap();
    assert_eq!(config.train.binarize, tch_vae::config::Binarize::Dynamic);
    assert_eq!(
        (config.train.kl_warmup, config.train.free_bits),
        (2.0, 0.05)
    );
    let history = metrics::read(&run.join("metrics.csv")).unwrap();
    assert_eq!((history[0].beta, history[1].beta), (0.5, 1.0));
    // Binary test images: every reconstruction-figure original pixel is 0 or 255.
    let originals = &tiles(&run.join("reconstructions.png"), 4)[..8];
    assert!(originals.iter().flatten().all(|&p| p == 0 || p == 255));
    assert!(
        run.join("manifold.png").is_file(),
        "latent = 2 draws the manifold"
    );

    let o = tch_vae(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--iw-samples",
        "50",
        "--limit",
        "500",
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: EvalReport =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    assert_eq!(
        (report.test_images, report.iw_samples, report.latent),
        (500, 50, 2)
    );
    assert!(report.nll < report.neg_elbo, "{report:?}");
    assert!(report.nll > 0.0 && report.nll_stderr.is_some_and(|s| s > 0.0));
    // The numbers themselves are recomputed independently, in float64 from the weights,
    // by tests/python/test_eval_oracle.py.
    assert!(
        report.kl_per_dim.windows(2).all(|w| w[0] >= w[1]),
        "not sorted: {:?}",
        report.kl_per_dim
    );
    assert_eq!(report.unit_activity.len(), 2);
    assert_eq!(
        report.aggregate_posterior_train.as_ref().unwrap().images,
        2000
    );
    let out = stdout(&o);
    assert!(
        out.contains("-log p(x)") && out.contains("bits/dim") && out.contains("active units"),
        "{out}"
    );
}

/// The KL term's role in miniature: without it the posterior variances fall
/// epoch after epoch, far below those of the same model trained with it.
#[test]
fn without_the_kl_term_the_variances_collapse() {
    let tmp = tempfile::tempdir().unwrap();
    let mean_var = |beta: &str| -> Vec<f64> {
        let run = tmp.path().join(format!("beta{beta}"));
        train_fashion_mnist(&run, &["--limit", "10000", "--epochs", "2", "--beta", beta]);
        metrics::read(&run.join("metrics.csv"))
            .unwrap()
            .iter()
            .map(|m| m.mean_var)
            .collect()
    };
    let (collapsing, kept) = (mean_var("0"), mean_var("1"));
    assert!(
        collapsing[1] < collapsing[0] / 2.0,
        "beta 0: {collapsing:?}"
    );
    assert!(kept[1] > 0.2, "beta 1: {kept:?}");
    assert!(
        collapsing[1] * 4.0 < kept[1],
        "beta 0 {collapsing:?}, beta 1 {kept:?}"
    );
}
