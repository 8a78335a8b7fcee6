//! `--device auto|cpu|cuda|cuda:N`, resolved against what libtorch finds.
use anyhow::{bail, ensure, Context, Result};
use tch::{Cuda, Device};

/// Parses a device flag and checks that the device exists.
pub fn resolve(spec: &str) -> Result<Device> {
    let count = Cuda::device_count();
    let cuda = |index: usize| -> Result<Device> {
        if count == 0 {
            bail!(
                "--device {spec}: CUDA is not available (libtorch found 0 CUDA devices; \
                 this libtorch {} CUDA support). Use --device cpu, or --device auto to \
                 take a GPU only when there is one",
                if tch::utils::has_cuda() {
                    "has"
                } else {
                    "was built without"
                }
            );
        }
        if index as i64 >= count {
            bail!(
                "--device {spec}: there is no CUDA device {index}; found {count} (0..{})",
                count - 1
            );
        }
        Ok(Device::Cuda(index))
    };
    match spec {
        "auto" => Ok(if count > 0 {
            Device::Cuda(0)
        } else {
            Device::Cpu
        }),
        "cpu" => Ok(Device::Cpu),
        "cuda" => cuda(0),
        _ => match spec.strip_prefix("cuda:") {
            Some(n) => cuda(n.parse().with_context(|| {
                format!("--device {spec}: the CUDA index must be a number, as in cuda:0")
            })?),
            None => bail!("--device {spec}: expected auto, cpu, cuda or cuda:N"),
        },
    }
}

/// `--deterministic`: cuDNN's deterministic convolution algorithms from now on (slower;
/// on CUDA, two runs of a convolutional model then give the same numbers). No effect on
/// the CPU, whose kernels are deterministic already.
pub fn set_cudnn_deterministic(on: bool) -> Result<()> {
    // SAFETY: plain call; the C++ side catches its own exceptions.
    unsafe {
        crate::native::ffi::check(
            crate::native::ffi::tchvae_set_cudnn_deterministic(on),
            "setting cuDNN's deterministic mode",
        )
    }
}

/// "cpu" or "cuda:N": how config.json records the device.
pub fn name(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".to_string(),
    }
}

/// The memory `device` offers: on the CPU what Linux reports available now, on CUDA the
/// card's total. None where it cannot be told.
pub fn available_bytes(device: Device) -> Option<u64> {
    match device {
        Device::Cuda(index) => {
            let mut total = 0u64;
            // SAFETY: plain call writing one integer; the C++ side catches its exceptions.
            let ok = unsafe {
                crate::native::ffi::check(
                    crate::native::ffi::tchvae_cuda_total_memory(index as i32, &mut total),
                    "",
                )
            };
            ok.ok().map(|()| total)
        }
        _ => {
            let info = std::fs::read_to_string("/proc/meminfo").ok()?;
            let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            kib.checked_mul(1024)
        }
    }
}

/// `--threads`: at most this many per logical CPU (more only makes threads wait on each
/// other; 100,000 of them stalled the machine).
const THREADS_PER_CPU: usize = 4;

/// Sets libtorch's intra-op threads (`--threads`), checked against the machine. Without
/// it, libtorch's default, capped at the CPUs this process may use.
pub fn set_threads(threads: Option<usize>) -> Result<()> {
    let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
    match threads {
        Some(n) => {
            let max = THREADS_PER_CPU * cpus;
            ensure!(
                (1..=max).contains(&n),
                "--threads must be from 1 to {max} ({THREADS_PER_CPU} per logical CPU; this \
                 machine has {cpus}) (got {n})"
            );
            tch::set_num_threads(n as i32);
        }
        None => {
            if let Some(n) = capped_default(tch::get_num_threads().max(1) as usize, cpus) {
                tch::set_num_threads(n as i32);
            }
        }
    }
    // The most threads this run uses: the load-following count only lowers it.
    crate::native::numerics::warm_threads(tch::get_num_threads().max(1) as usize);
    Ok(())
}

/// The thread count to set instead of libtorch's `default`, if any: libtorch counts the
/// machine's cores, while a container's CPU quota or the process's affinity may allow
/// fewer (`allowed`, from `available_parallelism`), and threads beyond those only wait for
/// each other.
fn capped_default(default: usize, allowed: usize) -> Option<usize> {
    (default > allowed).then_some(allowed.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_thread_count_never_exceeds_the_allowed_cpus() {
        assert_eq!(capped_default(32, 2), Some(2)); // a 2-CPU quota on a 64-core host
        assert_eq!(capped_default(2, 2), None); // libtorch's choice stands
        assert_eq!(capped_default(4, 16), None); // physical cores below the logical CPUs
        assert_eq!(capped_default(8, 0), Some(1));
    }

    #[test]
    fn parses_cpu_and_rejects_nonsense() {
        assert_eq!(resolve("cpu").unwrap(), Device::Cpu);
        let e = format!("{:#}", resolve("gpu").unwrap_err());
        assert!(e.contains("expected auto, cpu, cuda or cuda:N"), "{e}");
        let e = format!("{:#}", resolve("cuda:x").unwrap_err());
        assert!(e.contains("must be a number"), "{e}");
    }

    #[test]
    fn cuda_is_refused_clearly_where_there_is_none() {
        if Cuda::device_count() > 0 {
            assert_eq!(resolve("cuda").unwrap(), Device::Cuda(0));
            return;
        }
        assert_eq!(resolve("auto").unwrap(), Device::Cpu);
        let e = format!("{:#}", resolve("cuda").unwrap_err());
        assert!(e.contains("CUDA is not available"), "{e}");
    }
}
