//! Helpers shared by the integration tests: running the binary and making IDX folders.
#![allow(dead_code)] // each test file uses a different subset

use flate2::{write::GzEncoder, Compression};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The real default dataset (Debian's dataset-fashion-mnist, installed by scripts/setup.sh).
pub const FASHION_MNIST: &str = tch_vae::config::defaults::DATA_DIR;

pub fn fashion_mnist() -> PathBuf {
    let dir = PathBuf::from(FASHION_MNIST);
    assert!(
        dir.join("train-images-idx3-ubyte.gz").is_file(),
        "{FASHION_MNIST} is missing: run scripts/setup.sh (apt-get install dataset-fashion-mnist)"
    );
    dir
}

/// Runs `tch-vae ARGS` with stdout a pipe (so no progress bar is drawn).
pub fn tch_vae(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tch-vae"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the tch-vae binary runs")
}

/// Runs `tch-vae ARGS`, expects exit 1, every needle in stderr, and no panic, C++
/// exception or backtrace.
pub fn fails_with(args: &[&str], needles: &[&str]) -> String {
    let o = tch_vae(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    for bad in [
        "panicked",
        "Exception raised",
        "frame #",
        "terminate called",
    ] {
        assert!(!err.contains(bad), "{args:?} printed {bad}: {err}");
    }
    for needle in needles {
        assert!(
            err.contains(needle),
            "{args:?}: expected '{needle}' in: {err}"
        );
    }
    err
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Writes a tiny dataset in MNIST layout (gzip): `n_train` / `n_test` random 28x28 images.
pub fn write_idx_folder(dir: &Path, n_train: u32, n_test: u32) {
    write_idx_images(dir, n_train, n_test, 28, 28);
}

/// Writes a dataset in MNIST layout (gzip) of `n_train` / `n_test` pseudo-random images of
/// `height` x `width` pixels, labels 0..9 in turn.
pub fn write_idx_images(dir: &Path, n_train: u32, n_test: u32, height: u32, width: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
        let pixels: Vec<u8> = (0..n * height * width)
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let images = tch_vae::data::idx::encode(&[n, height, width], &pixels);
        let labels = tch_vae::data::idx::encode(&[n], &labels);
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
            gzip(&images),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte.gz")),
            gzip(&labels),
        )
        .unwrap();
    }
}

/// Writes a small IDX dataset (300 training and 100 test images of 28x28) into `dir` and
/// returns the folder: the fixture of every fast test that trains.
pub fn tiny_data(dir: &Path) -> PathBuf {
    let data = dir.join("tiny-data");
    write_idx_folder(&data, 300, 100);
    data
}

/// Trains on the tiny dataset (see [`tiny_data`]) in `dir` into `dir/run`, 1 epoch of a
/// small model with `extra` flags, and returns the run folder.
pub fn tiny_run(dir: &Path, extra: &[&str]) -> PathBuf {
    let run = dir.join("run");
    let small = ["--epochs", "1", "--hidden", "16", "--latent", "2"];
    let args = train_args_on(&tiny_data(dir), &run, &[&small[..], extra].concat());
    train_ok(&args);
    run
}

/// The arguments of `tch-vae train` on the real Fashion-MNIST, on the CPU, into `run`,
/// followed by `extra`.
pub fn train_args(run: &Path, extra: &[&str]) -> Vec<String> {
    train_args_on(&fashion_mnist(), run, extra)
}

/// The arguments of `tch-vae train` on `data`, on the CPU, into `run`, then `extra`.
pub fn train_args_on(data: &Path, run: &Path, extra: &[&str]) -> Vec<String> {
    let base = [
        "train",
        "--data",
        data.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--device",
        "cpu",
    ];
    base.iter().chain(extra).map(|s| s.to_string()).collect()
}

/// Trains on the real Fashion-MNIST on the CPU into `run` with `extra` flags (a `--limit`
/// and `--epochs` keep it short) and checks that it succeeded.
pub fn train_fashion_mnist(run: &Path, extra: &[&str]) -> Output {
    train_ok(&train_args(run, extra))
}

/// Runs `tch-vae` with `args` and checks that it succeeded.
pub fn train_ok(args: &[String]) -> Output {
    let o = tch_vae(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        stdout(&o),
        stderr(&o)
    );
    o
}

/// metrics.csv without the wall-clock column, which no two runs share, each number as its
/// exact decimal form (so that equal rows compare equal, NaN columns included).
pub fn metrics_without_time(run: &Path) -> Vec<Vec<String>> {
    tch_vae::run::metrics::read(&run.join("metrics.csv"))
        .unwrap()
        .iter()
        .map(|m: &tch_vae::run::metrics::EpochMetrics| {
            let r = m.to_row();
            r[..12]
                .iter()
                .chain(&r[13..])
                .map(|v| format!("{v:?}"))
                .collect()
        })
        .collect()
}

/// Each test process computes as the binary does: MKL's reproducible mode is set before any
/// test thread runs libtorch (MKL fixes its mode at its first computation), so runs made
/// in-process compare bit for bit with runs of the binary.
#[ctor::ctor(unsafe)]
fn reproducible_numerics() {
    tch_vae::native::numerics::init(tch_vae::native::numerics::Reproducible::Machine)
        .expect("MKL's reproducible mode");
}

/// Whether an MLP's bits are the same at any CPU thread count in this process: MKL's
/// strict mode on a branch Intel documents it for (numerics.rs, note 1). Where not, a run
/// keeps the machine's default count, and that is what the tests hold it to.
pub fn counts_keep_bits() -> bool {
    tch_vae::native::numerics::record().products_thread_invariant()
}

/// The one thread count every training batch of `run` ran on (its `threads.csv`).
pub fn one_thread_count(run: &Path) -> String {
    let rows = tch_vae::train::thread_record::read(&run.join("threads.csv")).unwrap();
    let counts: std::collections::BTreeSet<usize> = rows.iter().map(|r| r.threads).collect();
    assert_eq!(
        counts.len(),
        1,
        "{}: batches ran on {counts:?} threads",
        run.display()
    );
    counts.first().unwrap().to_string()
}

/// A core kept busy by a spinning thread until dropped: the load of another program.
pub struct BusyCore {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BusyCore {
    pub fn start() -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut x = 0u64;
            while !flag.load(Ordering::Relaxed) {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        });
        BusyCore {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for BusyCore {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A run's numbers as one SHA-256: every weight's name, shape and bytes in name order,
/// then metrics.csv without its wall-clock column.
pub fn fingerprint(run: &Path) -> String {
    use sha2::{Digest, Sha256};
    let tensors = tch_vae::model::weights::read_tensors(&run.join("weights.safetensors")).unwrap();
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut hash = Sha256::new();
    for name in names {
        let t = tensors[name].to_kind(tch::Kind::Float).contiguous();
        let values = Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
        hash.update(name.as_bytes());
        hash.update(format!("{:?}", t.size()).as_bytes());
        for v in values {
            hash.update(v.to_le_bytes());
        }
    }
    for row in metrics_without_time(run) {
        hash.update(row.join(",").as_bytes());
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The smallest `--arch hierarchical` model with the mixture: width 8, one group of 2
/// channels at each resolution, 2 components.
pub const TINY_HIERARCHICAL: [&str; 12] = [
    "--arch",
    "hierarchical",
    "--width",
    "8",
    "--depth",
    "1",
    "--latent",
    "2",
    "--likelihood",
    "logistic-mixture",
    "--mixtures",
    "2",
];

/// 300 colour 8x8 images of uniformly drawn bytes in an `.npy`.
pub fn uniform_bytes(dir: &std::path::Path) -> std::path::PathBuf {
    let npy = dir.join("bytes.npy");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&npy).unwrap());
    use npyz::WriterBuilder;
    let mut w = npyz::WriteOptions::<u8>::new()
        .default_dtype()
        .shape(&[300, 8, 8, 3])
        .writer(&mut file)
        .begin_nd()
        .unwrap();
    w.extend((0..300u64 * 192).map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8))
        .unwrap();
    w.finish().unwrap();
    npy
}

/// `a` equals `b` to 1e-5 of `b`'s largest magnitude (at least 1): float32 rounding of
/// the same computation done twice.
pub fn assert_close(a: &tch::Tensor, b: &tch::Tensor, what: &str) {
    assert_eq!(a.size(), b.size(), "{what}: shapes differ");
    let diff = (a - b).abs().max().double_value(&[]);
    let scale = b.abs().max().double_value(&[]).max(1.0);
    assert!(
        diff <= 1e-5 * scale,
        "{what}: max difference {diff} (scale {scale})"
    );
}
