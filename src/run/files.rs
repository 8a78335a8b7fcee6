//! The run folder's files: the name of every file in it, the default folder, preparing,
//! locking and checking it, and `config.json`. Other modules take paths; this one knows
//! what the paths are. It depends on nothing above the config (`load.rs` does the loading).
use crate::config::RunConfig;
use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};

/// Everything needed to rebuild the model and how it was trained.
pub const CONFIG: &str = "config.json";
/// The trained parameters, by the names of `arch.rs`.
pub const WEIGHTS: &str = "weights.safetensors";
/// The trainer's state for `--resume` (`checkpoint.rs`).
pub const CHECKPOINT: &str = "checkpoint.safetensors";
/// One row per epoch (`metrics.rs`).
pub const METRICS: &str = "metrics.csv";
/// Batches of each epoch at each CPU thread count (`thread_record.rs`).
pub const THREADS: &str = "threads.csv";
/// The loss curves (`plot.rs`).
pub const LOSS_SVG: &str = "loss.svg";
/// The TorchScript module (`export/mod.rs`).
pub const TORCHSCRIPT: &str = "vae.pt";
/// `tch-vae eval`'s report (`eval/report.rs`).
pub const EVAL: &str = "eval.json";
/// The figures drawn from the trained model (`figures/grids.rs`).
pub const SAMPLES: &str = "samples.png";
pub const RECONSTRUCTIONS: &str = "reconstructions.png";
pub const LATENT: &str = "latent.svg";
pub const INTERPOLATION: &str = "interpolation.png";
pub const MANIFOLD: &str = "manifold.png";
/// `tch-vae fit-prior`'s mixture over the posterior codes (`model/fitted`), its report,
/// and the samples it draws.
pub const FITTED_PRIOR: &str = "fitted-prior.safetensors";
pub const FITTED_PRIOR_REPORT: &str = "fitted-prior.json";
pub const SAMPLES_FITTED: &str = "samples-fitted.png";
/// Held (an advisory lock) by the process writing the folder; holds its process id.
pub const LOCK: &str = ".tch-vae.lock";
/// Every file a run folder may hold: an `--output` never replaces one of another kind.
/// TensorBoard event files start so (TensorBoard finds them by "tfevents").
pub const EVENTS_PREFIX: &str = "events.out.tfevents.";

pub const FILES: [&str; 17] = [
    CONFIG,
    WEIGHTS,
    CHECKPOINT,
    METRICS,
    THREADS,
    LOSS_SVG,
    TORCHSCRIPT,
    EVAL,
    SAMPLES,
    RECONSTRUCTIONS,
    LATENT,
    INTERPOLATION,
    MANIFOLD,
    FITTED_PRIOR,
    FITTED_PRIOR_REPORT,
    SAMPLES_FITTED,
    LOCK,
];

/// `models/<dataset folder name>-<UTC date-time>`, made unique if it exists.
pub fn default_dir(data: &Path) -> PathBuf {
    let dataset = data
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".to_string());
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let base = PathBuf::from("models").join(format!("{dataset}-{stamp}"));
    (1..)
        .map(|i| {
            if i == 1 {
                base.clone()
            } else {
                PathBuf::from(format!("{}-{i}", base.display()))
            }
        })
        .find(|p| !p.exists())
        .expect("an unused name exists")
}

/// Refuses an `--out` that already holds a run, before any work. A folder whose run
/// never reached its first checkpoint (killed, or stopped by an error, during its first
/// epoch) may be used again: returns true for it.
pub fn check_new(dir: &Path) -> Result<bool> {
    if let Ok(meta) = std::fs::metadata(dir) {
        ensure!(
            meta.is_dir(),
            "--out {}: that is {}, not a folder; --out names the run folder to create",
            dir.display(),
            crate::native::files::describe(meta.file_type())
        );
    }
    if !dir.join(CONFIG).exists() {
        return Ok(false);
    }
    let taken = format!(
        "--out {}: this folder already holds a run ({CONFIG}). Choose another --out, \
         continue it with --resume, or remove the folder to start over",
        dir.display()
    );
    // Only a tch-vae run that never got a checkpoint is reused; any other config.json
    // (another tool's, or a damaged one) is left alone.
    ensure!(read_config(dir).is_ok(), "{taken}");
    ensure!(
        !dir.join(CHECKPOINT).exists()
            && !dir.join(METRICS).exists()
            && !dir.join(WEIGHTS).exists(),
        "{taken}"
    );
    Ok(true)
}

/// Removes the TensorBoard event files of a run that never reached its first checkpoint,
/// whose folder is being reused.
pub fn remove_stale_events(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        let stale = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(EVENTS_PREFIX));
        if stale && path.is_file() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// Creates the run folder, proves it writable and locks it (see [`lock`]).
pub fn prepare(dir: &Path) -> Result<RunLock> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--out {}: cannot create the output folder", dir.display()))?;
    let probe = dir.join(".tch-vae-write-test");
    std::fs::write(&probe, b"")
        .with_context(|| format!("--out {}: the output folder is not writable", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    lock(dir)
}

/// The lock of a run folder: while a process holds it, no other tch-vae process writes
/// the folder. The kernel releases it when the process ends, however it ends.
pub struct RunLock {
    _file: std::fs::File,
}

/// Takes the folder's lock, or says which process holds it. Also removes the temporaries
/// a killed process left (nobody else is writing now).
pub fn lock(dir: &Path) -> Result<RunLock> {
    use std::io::{Read, Seek, Write};
    let path = dir.join(LOCK);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    if let Err(e) = file.try_lock() {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        anyhow::bail!(
            "{} is in use by another tch-vae process (pid {}): wait for it to end, or use \
             another folder ({e})",
            dir.display(),
            if holder.is_empty() { "unknown" } else { holder }
        );
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| write!(file, "{}", std::process::id()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    remove_stale_temporaries(dir);
    Ok(RunLock { _file: file })
}

/// Refuses an `--output` that would replace one of the run folder's own files other than
/// `own`, the one the command writes by default (symbolic links followed, as the write
/// would follow them).
pub fn check_output(run_dir: &Path, output: &Path, own: &str) -> Result<()> {
    crate::native::files::check_folder(run_dir)?;
    let dest = crate::native::atomic::destination(output)?;
    let name = dest
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    ensure!(
        !is_inside(run_dir, &dest) || !FILES.contains(&name) || name == own,
        "--output {}: that is the run's own {name}, which this command never replaces. \
         Choose another file",
        output.display()
    );
    Ok(())
}

/// Whether `output` lands in the run folder (it then takes the folder's lock).
pub fn is_inside(run_dir: &Path, output: &Path) -> bool {
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    matches!((parent.canonicalize(), run_dir.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// Removes the hidden temporary files (`.name.tmp-PID.ext`) that a killed process can
/// leave behind; the files they were to replace are intact.
pub fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp-") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The largest `config.json` read (one is a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads and checks a run's `config.json`.
pub fn read_config(dir: &Path) -> Result<RunConfig> {
    crate::native::files::check_folder(dir)?;
    let path = dir.join(CONFIG);
    check_regular(&path)?;
    // Opened without blocking and checked again on the handle (files.rs): a FIFO swapped
    // in after the check above cannot block either.
    let bytes =
        crate::native::files::read_bounded(&path, MAX_CONFIG_BYTES, "a config.json may hold");
    let text = bytes
        .and_then(|b| Ok(String::from_utf8(b)?))
        .with_context(|| {
            format!(
                "cannot read {}: is {} a run folder made by `tch-vae train`?",
                path.display(),
                dir.display()
            )
        })?;
    let config = RunConfig::from_json(&text)
        .with_context(|| format!("{} is not a valid tch-vae config", path.display()))?;
    config
        .validate()
        .with_context(|| format!("{} holds a value out of range", path.display()))?;
    Ok(config)
}

/// Refuses a run file that exists but is not a regular file (a FIFO would block a read
/// forever); a missing file is left to the reader's own message.
pub fn check_regular(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => anyhow::bail!(
            "{} is not a regular file (a folder, device, FIFO or socket); a run folder's \
             files are plain files",
            path.display()
        ),
        _ => Ok(()),
    }
}

/// Writes `config.json`, atomically.
pub fn write_config(dir: &Path, run: &RunConfig) -> Result<()> {
    crate::native::atomic::write_bytes(&dir.join(CONFIG), run.to_json()?.as_bytes())
}
