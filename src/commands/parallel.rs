//! What `train` does differently on several processes (`torchrun --nproc-per-node N
//! --no-python tch-vae train ...`; `train::parallel` has the mechanics): `--batch-size`
//! is each process's share, the run's batch is all of them together; the processes
//! check that they were given the same flags and data; only rank 0 writes and speaks.
use crate::config::{RunConfig, TrainConfig, TrainRequest};
use crate::data::Dataset;
use crate::report::Reporter;
use crate::train::parallel::{DataParallel, World};
use crate::train::Trainer;
use anyhow::{ensure, Result};
use std::hash::{Hash, Hasher};
use tch::{Device, Kind};

/// The request of one process among `world`'s: the run's batch is `--batch-size` times
/// the process count (`TrainRequest::resolve` multiplies).
pub(super) fn global_request(req: &TrainRequest, world: Option<&World>) -> TrainRequest {
    let mut req = req.clone();
    if let Some(world) = world {
        req.train.processes = world.size();
    }
    req
}

/// What several processes cannot do yet, refused before any file is made. `resumed`: the
/// config of a run being resumed, whose batch (of all processes) is cut into shares; a new
/// run's `--batch-size` is each process's share, at least 1.
pub(super) fn check(
    world: Option<&World>,
    device: Device,
    resumed: Option<&TrainConfig>,
) -> Result<()> {
    let Some(world) = world else {
        return Ok(());
    };
    let size = world.size();
    ensure!(
        device == Device::Cpu,
        "several processes train on the CPU only for now (c10d's Gloo group; NCCL's glue for \
         CUDA is not built): give --device cpu, or train on one process"
    );
    if let Some(train) = resumed {
        ensure!(
            train.batch_size >= size,
            "the run's batch of {} images cannot be shared by {size} processes: resume it on \
             at most {} processes",
            train.batch_size,
            train.batch_size
        );
    }
    Ok(())
}

/// Meets the run's other processes and refuses flags or data that differ between them
/// (before rank 0 writes anything).
pub(super) fn meet(world: &World, run: &RunConfig, data: &Dataset) -> Result<DataParallel> {
    let parallel = DataParallel::join(world)?;
    parallel.check_same(fingerprint(run, data), "flags or data")?;
    parallel.started()?;
    Ok(parallel)
}

/// Makes `trainer` step with the other processes, and says so.
pub(super) fn join(
    trainer: &mut Trainer,
    parallel: DataParallel,
    run: &RunConfig,
    report: &mut dyn Reporter,
) -> Result<()> {
    let size = parallel.size();
    report.note(&format!(
        "{size} processes (c10d, Gloo): {} images a step in all, about {} each; this is rank 0, \
         which writes the run folder",
        run.train.batch_size,
        run.train.batch_size / size
    ));
    trainer.join(parallel)
}

/// A digest of what every process must agree on: the resolved config (but the data's
/// path and the CPU's numerics, which may differ between hosts) and the images.
fn fingerprint(run: &RunConfig, data: &Dataset) -> u64 {
    let mut run = run.clone();
    run.train.data = run.train.data.file_name().unwrap_or_default().into();
    run.numerics = None;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&run).unwrap_or_default().hash(&mut h);
    for split in [&data.train, &data.test] {
        split.len().hash(&mut h);
        for t in [&split.images, &split.labels] {
            t.sum(Kind::Double).double_value(&[]).to_bits().hash(&mut h);
        }
    }
    h.finish()
}
