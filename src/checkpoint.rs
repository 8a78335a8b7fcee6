//! `checkpoint.safetensors`: everything needed to continue a run bit for bit, in one file
//! written atomically. Plain tensors, no pickles: loading it runs no code.
//!
//! | name                         | content                                              |
//! |------------------------------|------------------------------------------------------|
//! | `model.<param>`              | the weights (the names of `weights.safetensors`)     |
//! | `adam.exp_avg.<param>`, `adam.exp_avg_sq.<param>`, `adam.step` | Adam's state      |
//! | `position`                   | int64 `[4]`: format version, epoch in progress (1-based), next batch, images seen in it |
//! | `order`                      | int64 `[n]`: the epoch's data order (empty between epochs) |
//! | `sums`                       | float `[5]`: the epoch's loss sums so far              |
//! | `seconds`                    | double `[1]`: the epoch's training seconds so far      |
//! | `history`                    | double [epochs done, 14]: the rows of `metrics.csv`  |
//!
//! Random draws are keyed by (seed, epoch, batch) (see `train.rs`), so there is no
//! generator state to store.
use crate::metrics::EpochMetrics;
use crate::train::{Position, Trainer};
use anyhow::{ensure, Context, Result};
use std::collections::HashMap;
use std::path::Path;
use tch::{nn::VarStore, Device, Kind, Tensor};

pub const FILE: &str = "checkpoint.safetensors";
const FORMAT_VERSION: i64 = 1;

/// Writes the trainer's state and the history so far to `path`, atomically.
pub fn write(path: &Path, trainer: &Trainer, history: &[EpochMetrics]) -> Result<()> {
    let cpu = |t: &Tensor| t.detach().to_device(Device::Cpu).contiguous();
    let mut named: Vec<(String, Tensor)> = Vec::new();
    let mut vars: Vec<(String, Tensor)> = trainer.var_store().variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, t) in vars {
        named.push((format!("model.{name}"), cpu(&t)));
    }
    for (name, t) in trainer.optimizer().state() {
        named.push((name, cpu(&t)));
    }
    let pos = trainer.position();
    named.push((
        "position".into(),
        Tensor::from_slice(&[
            FORMAT_VERSION,
            pos.epoch as i64,
            pos.batch as i64,
            pos.images as i64,
        ]),
    ));
    let order = pos
        .order
        .as_ref()
        .map_or_else(|| Tensor::zeros([0], (Kind::Int64, Device::Cpu)), cpu);
    named.push(("order".into(), order));
    named.push(("sums".into(), cpu(&pos.sums)));
    named.push(("seconds".into(), Tensor::from_slice(&[pos.seconds])));
    let rows: Vec<f64> = history.iter().flat_map(|m| m.to_row()).collect();
    named.push((
        "history".into(),
        Tensor::from_slice(&rows).view([history.len() as i64, 14]),
    ));
    crate::atomic::write_with(path, |tmp| Ok(Tensor::write_safetensors(&named, tmp)?))
}

/// A checkpoint read back, its tensors by name (on the CPU).
pub struct Checkpoint {
    pub tensors: HashMap<String, Tensor>,
    pub history: Vec<EpochMetrics>,
    pub epoch: usize,
    pub batch: usize,
    pub images: usize,
}

impl Checkpoint {
    pub fn read(path: &Path) -> Result<Self> {
        let tensors = read_tensors(path)?;
        let get = |name: &str| {
            tensors.get(name).with_context(|| {
                format!(
                    "{}: no tensor {name}; is it a tch-vae checkpoint?",
                    path.display()
                )
            })
        };
        let position = get("position")?;
        ensure!(
            position.size() == [4] && position.kind() == Kind::Int64,
            "{}: position has shape {:?} ({:?}), expected [4] int64",
            path.display(),
            position.size(),
            position.kind()
        );
        let p = Vec::<i64>::try_from(position)?;
        ensure!(
            p[0] == FORMAT_VERSION,
            "{}: checkpoint format {} (this tch-vae reads {FORMAT_VERSION})",
            path.display(),
            p[0]
        );
        ensure!(
            p[1] >= 1 && p[2] >= 0 && p[3] >= 0,
            "{}: invalid position {p:?}",
            path.display()
        );
        let history_t = get("history")?;
        ensure!(
            history_t.dim() == 2 && history_t.size()[1] == 14,
            "{}: history has shape {:?}, expected [epochs, 14]",
            path.display(),
            history_t.size()
        );
        let flat = Vec::<f64>::try_from(history_t.to_kind(Kind::Double).contiguous().view([-1]))?;
        let history = flat.chunks_exact(14).map(EpochMetrics::from_row).collect();
        Ok(Checkpoint {
            tensors,
            history,
            epoch: p[1] as usize,
            batch: p[2] as usize,
            images: p[3] as usize,
        })
    }

    /// Copies `model.<name>` into each variable of `vs`, checking names and shapes.
    pub fn restore_weights(&self, vs: &VarStore) -> Result<()> {
        restore_weights(vs, &self.tensors, "model.")
    }

    pub fn position(&self, device: Device) -> Result<Position> {
        let order = self
            .tensors
            .get("order")
            .context("the checkpoint has no order")?;
        let sums = self
            .tensors
            .get("sums")
            .context("the checkpoint has no sums")?;
        let seconds = self
            .tensors
            .get("seconds")
            .context("the checkpoint has no seconds")?;
        ensure!(
            sums.size() == [5],
            "sums: expected shape [5], found {:?}",
            sums.size()
        );
        ensure!(
            order.dim() == 1 && order.kind() == Kind::Int64,
            "order: expected a 1-D int64 tensor"
        );
        Ok(Position {
            epoch: self.epoch,
            batch: self.batch,
            order: (order.size()[0] > 0).then(|| order.to_device(device)),
            sums: sums.to_kind(Kind::Float).to_device(device),
            images: self.images,
            seconds: seconds.double_value(&[0]),
        })
    }
}

/// Every tensor of a safetensors file, by name, on the CPU. Errors name the file.
pub fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    ensure!(path.is_file(), "{} is missing", path.display());
    let list = Tensor::read_safetensors(path).map_err(|e| {
        anyhow::anyhow!(
            "{}: not a readable safetensors file ({})",
            path.display(),
            first_line(&e.to_string())
        )
    })?;
    Ok(list.into_iter().collect())
}

/// Copies `<prefix><name>` of `tensors` into each variable of `vs`, checking that every
/// name is there with the variable's shape, and that no tensor is left over.
pub fn restore_weights(
    vs: &VarStore,
    tensors: &HashMap<String, Tensor>,
    prefix: &str,
) -> Result<()> {
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for name in names {
        let mut var = vars[name].shallow_clone();
        let key = format!("{prefix}{name}");
        let t = tensors
            .get(&key)
            .with_context(|| format!("no tensor {key}"))?;
        ensure!(
            t.size() == var.size(),
            "{key}: expected shape {:?}, found {:?}",
            var.size(),
            t.size()
        );
        ensure!(
            t.is_floating_point(),
            "{key}: expected floating-point values, found {:?}",
            t.kind()
        );
        tch::no_grad(|| var.copy_(&t.to_kind(var.kind())));
    }
    let extra: Vec<&String> = tensors
        .keys()
        .filter(|k| k.starts_with(prefix) && !vars.contains_key(&k[prefix.len()..]))
        .collect();
    ensure!(
        !prefix.is_empty() || extra.is_empty(),
        "unexpected tensors {extra:?}: the file was written for another model"
    );
    Ok(())
}

/// libtorch's messages end in a C++ backtrace; users need the first line.
pub fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or_default()
}
