//! The whole training command on real data: a `--limit`ed Fashion-MNIST run of 2 epochs
//! writes every run-folder file, each parses, and the test loss falls. Then `sample` and
//! `plot` work from the saved run.
mod common;
use common::*;
use std::collections::HashSet;
use std::path::Path;
use tch_vae::config::RunConfig;
use tch_vae::metrics;

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

    let config = RunConfig::read(&run).unwrap();
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
        assert!((m.test_loss - (m.test_recon + m.test_kl)).abs() < 1e-3 * m.test_loss);
        assert!((m.test_kl - (m.test_kl_mu + m.test_kl_var)).abs() < 1e-3 * m.test_kl.max(1.0));
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

    // vae.pt is written at the end of training (its contents: tests/export.rs).
    tch::CModule::load(run.join("vae.pt")).expect("vae.pt loads with tch::CModule");
    // The weights load back into the model config.json describes.
    let loaded = tch_vae::run::load_run(&run, tch::Device::Cpu).unwrap();
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

    // `plot` redraws every figure; loss.svg comes out identical from metrics.csv.
    for f in ["loss.svg", "samples.png", "reconstructions.png"] {
        std::fs::remove_file(run.join(f)).unwrap();
    }
    let o = tch_vae(&["plot", "--run", run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(run.join("loss.svg")).unwrap(), svg);
    assert_eq!(tiles(&run.join("reconstructions.png"), 4), recon);
    assert_eq!(tiles(&run.join("samples.png"), 8).len(), 64);
    // No temporary file is left behind by the atomic writes.
    let stray: Vec<_> = std::fs::read_dir(&run)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}
