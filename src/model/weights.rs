//! `weights.safetensors` in both directions: a VarStore's variables saved by name, and
//! read back into a VarStore with every name and shape checked. Checkpoints store the same
//! tensors under a `model.` prefix and reuse [`restore`].
use crate::native::error::libtorch_reason;
use anyhow::{ensure, Context, Result};
use std::collections::HashMap;
use std::path::Path;
use tch::{nn::VarStore, Tensor};

/// Saves every variable of `vs` to `path`, atomically, each in row-major order (a
/// channels-last weight, as the hierarchical model keeps its own on the CPU, is written as
/// any other: safetensors holds no strides).
pub fn save(vs: &VarStore, path: &Path) -> Result<()> {
    let named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(name, t)| (name, t.contiguous()))
        .collect();
    crate::native::atomic::write_with(path, |tmp| Ok(Tensor::write_safetensors(&named, tmp)?))
}

/// Every tensor of a safetensors file, by name, on the CPU. Errors name the file.
pub fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    ensure!(path.is_file(), "{} is missing", path.display());
    let list = Tensor::read_safetensors(path).map_err(|e| {
        anyhow::anyhow!(
            "{}: not a readable safetensors file ({})",
            path.display(),
            libtorch_reason(&e.to_string())
        )
    })?;
    Ok(list.into_iter().collect())
}

/// Copies `<prefix><name>` of `tensors` into each variable of `vs`, checking that every
/// name is there with the variable's shape; with an empty prefix, also that no tensor is
/// left over (a file written for another model).
pub fn restore(vs: &VarStore, tensors: &HashMap<String, Tensor>, prefix: &str) -> Result<()> {
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for name in names {
        let mut var = vars[name].shallow_clone();
        let key = format!("{prefix}{name}");
        let t = named_like(tensors, &key, &var)?;
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

/// The tensor `key` of `tensors`, checked to have the shape of `like`.
pub fn named_like<'a>(
    tensors: &'a HashMap<String, Tensor>,
    key: &str,
    like: &Tensor,
) -> Result<&'a Tensor> {
    let t = tensors
        .get(key)
        .with_context(|| format!("no tensor {key}"))?;
    ensure!(
        t.size() == like.size(),
        "{key}: expected shape {:?}, found {:?}",
        like.size(),
        t.size()
    );
    Ok(t)
}

/// Reads `path` into `vs` (see [`restore`]).
pub fn load(vs: &VarStore, path: &Path) -> Result<()> {
    restore(vs, &read_tensors(path)?, "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Device, Kind};

    fn store(width: i64) -> VarStore {
        let vs = VarStore::new(Device::Cpu);
        let _ = nn::linear(vs.root() / "fc", 3, width, Default::default());
        vs
    }

    #[test]
    fn saved_weights_load_back_equal_and_a_wrong_shape_is_named() {
        let _rng = crate::rng_lock();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weights.safetensors");
        let a = store(4);
        save(&a, &path).unwrap();
        let b = store(4);
        load(&b, &path).unwrap();
        for (name, t) in a.variables() {
            assert!(t.equal(&b.variables()[&name]), "{name}");
        }
        let e = format!("{:#}", load(&store(5), &path).unwrap_err());
        assert!(e.contains("fc.bias: expected shape [5], found [4]"), "{e}");
        let ints = HashMap::from([
            (
                "fc.weight".to_string(),
                Tensor::zeros([4, 3], (Kind::Int64, Device::Cpu)),
            ),
            (
                "fc.bias".to_string(),
                Tensor::zeros([4], (Kind::Float, Device::Cpu)),
            ),
        ]);
        let e = format!("{:#}", restore(&store(4), &ints, "").unwrap_err());
        assert!(e.contains("expected floating-point values"), "{e}");
    }
}
