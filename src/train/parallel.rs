//! Data parallelism over libtorch's c10d (`native::c10d`), launched by `torchrun`:
//! P processes at `--batch-size B` each step like one process at batch P*B.
//!
//! Every process holds the whole dataset and the same weights (rank 0's, broadcast at the
//! start). Each global batch (the same shuffled order everywhere) is cut into P
//! consecutive shares; each process binarizes the global batch and keeps its share, and
//! draws the normal noise of the whole batch and keeps its rows (`model::noise`), so
//! every image meets the numbers one process would give it. Each process scales its
//! batch-mean objective by its share of the rows; one all-reduce per step sums the
//! gradients, that objective, the batch's metric sums and a stop flag, after which every
//! process makes the same clipping, skipping and Adam step.
use crate::native::c10d::{ProcessGroup, Reduce, Rendezvous, BUILT};
use anyhow::{bail, ensure, Context, Result};
use std::cell::Cell;
use std::time::{Duration, Instant};
use tch::{Kind, Tensor};

/// How long the processes wait for each other at the start (data loading, the
/// rendezvous), and by default at each collective afterwards.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(600);
const DEFAULT_TIMEOUT_S: u64 = 60;
/// How long a process that saw a collective fail waits for the others to say they saw it
/// too: 20 polls of 250 ms.
const SILENT_POLLS: usize = 20;
const SILENT_POLL: Duration = Duration::from_millis(250);
/// The environment variable that changes the collective timeout, in seconds.
pub const TIMEOUT_VAR: &str = "TCH_VAE_TIMEOUT";

/// This process's place in a run of several, from torchrun's environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct World {
    pub rendezvous: Rendezvous,
    /// The collectives' timeout after the start.
    pub timeout: Duration,
}

impl World {
    /// torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, and
    /// TORCHELASTIC_USE_AGENT_STORE with TORCHELASTIC_RESTART_COUNT); None for a single
    /// process (no WORLD_SIZE, or 1).
    pub fn from_env() -> Result<Option<World>> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<World>> {
        let number = |name: &str| -> Result<Option<u64>> {
            var(name)
                .map(|v| {
                    v.trim().parse::<u64>().with_context(|| {
                        format!("environment variable {name}={v:?} is not a whole number")
                    })
                })
                .transpose()
        };
        let size = number("WORLD_SIZE")?.unwrap_or(1);
        if size <= 1 {
            return Ok(None);
        }
        let need = |name: &str| -> Result<String> {
            var(name).with_context(|| {
                format!(
                    "WORLD_SIZE={size} but {name} is not set: start the processes with \
                     torchrun (torchrun --nproc-per-node {size} --no-python tch-vae train ...), \
                     which sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT"
                )
            })
        };
        need("RANK")?;
        let rank = number("RANK")?.unwrap_or(0);
        ensure!(
            rank < size && size <= i32::MAX as u64,
            "RANK={rank} with WORLD_SIZE={size}: the rank must be below the process count"
        );
        let addr = need("MASTER_ADDR")?;
        let port = need("MASTER_PORT")?;
        let port: u16 = port.trim().parse().with_context(|| {
            format!("environment variable MASTER_PORT={port:?} is not a port number")
        })?;
        let agent_store = var("TORCHELASTIC_USE_AGENT_STORE").as_deref() == Some("True");
        // torchrun's workers keep their keys under this prefix of the agent's store, as
        // PyTorch's env:// rendezvous does.
        let prefix = if agent_store {
            format!(
                "/worker/attempt_{}",
                number("TORCHELASTIC_RESTART_COUNT")?.unwrap_or(0)
            )
        } else {
            String::new()
        };
        let seconds = number(TIMEOUT_VAR)?.unwrap_or(DEFAULT_TIMEOUT_S);
        ensure!(
            (1..=86_400).contains(&seconds),
            "{TIMEOUT_VAR}={seconds}: give the collective timeout in seconds, 1 to 86400"
        );
        Ok(Some(World {
            rendezvous: Rendezvous {
                addr,
                port,
                rank: rank as usize,
                size: size as usize,
                agent_store,
                prefix,
            },
            timeout: Duration::from_secs(seconds),
        }))
    }

    pub fn rank(&self) -> usize {
        self.rendezvous.rank
    }

    pub fn size(&self) -> usize {
        self.rendezvous.size
    }
}

/// The processes of one run, joined.
pub struct DataParallel {
    group: ProcessGroup,
    timeout: Duration,
    /// Seconds spent in the steps' all-reduces since the last take.
    reducing: Cell<f64>,
}

/// What one step's all-reduce adds up besides the gradients.
pub struct StepTotals {
    /// The global batch's mean objective.
    pub objective: Tensor,
    /// The global batch's metric sums (`train::sums` order).
    pub sums: Tensor,
    /// Whether any process asked to stop.
    pub stop: bool,
}

impl DataParallel {
    /// Joins the run's other processes (waiting for them up to the start's timeout).
    pub fn join(world: &World) -> Result<Self> {
        ensure!(
            BUILT,
            "several processes (WORLD_SIZE={}) need c10d, which this build lacks: build \
             against the PyTorch wheel that scripts/setup.sh installs",
            world.size()
        );
        let group = ProcessGroup::join(&world.rendezvous, STARTUP_TIMEOUT).with_context(|| {
            format!(
                "rank {} of {}: meeting the other processes at {}:{}",
                world.rank(),
                world.size(),
                world.rendezvous.addr,
                world.rendezvous.port
            )
        })?;
        Ok(DataParallel {
            group,
            timeout: world.timeout,
            reducing: Cell::new(0.0),
        })
    }

    /// From here on every collective waits at most the world's timeout (the start may
    /// take longer: data loading, the other processes' start).
    pub fn started(&self) -> Result<()> {
        self.group.set_timeout(self.timeout)
    }

    pub fn rank(&self) -> usize {
        self.group.rank()
    }

    pub fn size(&self) -> usize {
        self.group.size()
    }

    /// This process's rows of a global batch of `m` rows: (offset, len), consecutive
    /// shares as even as the count allows (the first m % P shares one row longer).
    pub fn share(&self, m: usize) -> (usize, usize) {
        share(m, self.rank(), self.size())
    }

    /// Refuses to go on unless every process computed the same `fingerprint` (of its
    /// resolved flags and data); every process fails together.
    pub fn check_same(&self, fingerprint: u64, what: &str) -> Result<()> {
        let mine = Tensor::from_slice(&[fingerprint as i64]);
        let theirs = mine.copy();
        self.group.broadcast(&theirs, 0)?;
        let differs = i64::from(theirs.int64_value(&[0]) != mine.int64_value(&[0]));
        let any = Tensor::from_slice(&[differs]);
        self.group.allreduce(&any, Reduce::Max)?;
        if any.int64_value(&[0]) != 0 {
            if differs != 0 {
                bail!(
                    "rank {}: {what} differ from rank 0's; start every process with the same \
                     command, build and data",
                    self.rank()
                );
            }
            bail!(
                "rank {}: another process's {what} differ from rank 0's (its own message \
                 says which)",
                self.rank()
            );
        }
        Ok(())
    }

    /// Makes every process's `tensors` (contiguous, CPU) rank 0's.
    pub fn broadcast_all(&self, tensors: &[Tensor]) -> Result<()> {
        tch::no_grad(|| {
            for t in tensors {
                // Gloo sends contiguous memory: a channels-last weight (the hierarchical
                // model's on the CPU) travels as a contiguous copy.
                let sent = t.contiguous();
                self.group
                    .broadcast(&sent, 0)
                    .with_context(|| self.failure("broadcasting the weights"))?;
                if !t.is_contiguous() {
                    t.shallow_clone().copy_(&sent);
                }
            }
            Ok(())
        })
    }

    /// The step's one all-reduce: every gradient summed in place, and the totals of this
    /// process's share of the batch (its scaled objective `[]`, its metric sums `[S]`,
    /// and `stop`).
    pub fn reduce_step(
        &self,
        grads: &[Tensor],
        objective: &Tensor,
        sums: &Tensor,
        stop: bool,
    ) -> Result<StepTotals> {
        tch::no_grad(|| {
            let mut parts: Vec<Tensor> = grads.iter().map(|g| g.reshape([-1])).collect();
            parts.push(objective.to_kind(Kind::Float).reshape([1]));
            parts.push(Tensor::from_slice(&[f32::from(u8::from(stop))]));
            parts.push(sums.to_kind(Kind::Float).reshape([-1]));
            let bucket = Tensor::cat(&parts, 0); // [params + 2 + S]
            let start = Instant::now();
            self.group
                .allreduce(&bucket, Reduce::Sum)
                .with_context(|| self.failure("adding up the gradients"))?;
            self.reducing
                .set(self.reducing.get() + start.elapsed().as_secs_f64());
            let mut offset = 0;
            for g in grads {
                let n = g.numel() as i64;
                let mut g = g.shallow_clone();
                g.copy_(&bucket.narrow(0, offset, n).view_as(&g));
                offset += n;
            }
            let s = sums.numel() as i64;
            Ok(StepTotals {
                objective: bucket.get(offset),
                stop: bucket.double_value(&[offset + 1]) > 0.0,
                sums: bucket.narrow(0, offset + 2, s).view_as(sums),
            })
        })
    }

    /// Seconds this process spent in the steps' all-reduces (waiting for the others
    /// included) since the last call.
    pub fn take_reduce_seconds(&self) -> f64 {
        self.reducing.replace(0.0)
    }

    /// Sums `tensor` (contiguous, CPU) over the processes in place.
    pub fn sum(&self, tensor: &Tensor, what: &str) -> Result<()> {
        self.group
            .allreduce(tensor, Reduce::Sum)
            .with_context(|| self.failure(what))
    }

    /// The message of a failed collective, naming the processes that went silent.
    fn failure(&self, what: &str) -> String {
        let who = match self.silent_ranks() {
            Some(ranks) if !ranks.is_empty() => format!(
                "rank {} stopped, hung or was killed (no word from it within {} s, \
                 {TIMEOUT_VAR} sets it)",
                ranks
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                self.timeout.as_secs()
            ),
            _ => format!(
                "another process of the run stopped, failed or did not answer within {} s \
                 ({TIMEOUT_VAR} sets it)",
                self.timeout.as_secs()
            ),
        };
        format!(
            "rank {} of {}: {what} failed: {who}; the run stops, and its last checkpoint is \
             whole (resume with --resume)",
            self.rank(),
            self.size(),
        )
    }

    /// After a failed collective: every live process marks itself in the rendezvous
    /// store, and those with no mark after a few seconds are the ones that went silent
    /// (None when the store is gone too).
    fn silent_ranks(&self) -> Option<Vec<usize>> {
        let key = |r: usize| format!("tch-vae/alive-after-failure/{r}");
        self.group.mark(&key(self.rank())).ok()?;
        let mut silent: Vec<usize> = (0..self.size()).collect();
        for _ in 0..SILENT_POLLS {
            let mut still = Vec::new();
            for r in silent {
                if !self.group.has(&key(r)).ok()? {
                    still.push(r);
                }
            }
            silent = still;
            if silent.is_empty() {
                break;
            }
            std::thread::sleep(SILENT_POLL);
        }
        Some(silent)
    }
}

/// Rows `offset..offset + len` of `m` for `rank` of `size`.
pub fn share(m: usize, rank: usize, size: usize) -> (usize, usize) {
    let (base, extra) = (m / size, m % size);
    (
        rank * base + rank.min(extra),
        base + usize::from(rank < extra),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn world(vars: &[(&str, &str)]) -> Result<Option<World>> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        World::from_vars(|name| map.get(name).cloned())
    }

    #[test]
    fn shares_cover_the_batch_once_in_order() {
        for (m, size) in [(128, 2), (7, 3), (1, 2), (0, 4), (10, 10)] {
            let mut next = 0;
            for rank in 0..size {
                let (offset, len) = share(m, rank, size);
                assert_eq!(offset, next, "m {m}, {size} processes");
                next += len;
                assert!(len.abs_diff(m / size) <= 1);
            }
            assert_eq!(next, m);
        }
        assert_eq!(share(128, 1, 2), (64, 64));
    }

    #[test]
    fn torchruns_environment_names_the_rendezvous() {
        assert_eq!(world(&[]).unwrap(), None);
        assert_eq!(world(&[("WORLD_SIZE", "1")]).unwrap(), None);
        let w = world(&[
            ("WORLD_SIZE", "2"),
            ("RANK", "1"),
            ("MASTER_ADDR", "127.0.0.1"),
            ("MASTER_PORT", "29500"),
            ("TORCHELASTIC_USE_AGENT_STORE", "True"),
            ("TORCHELASTIC_RESTART_COUNT", "3"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((w.rank(), w.size(), w.rendezvous.port), (1, 2, 29500));
        assert!(w.rendezvous.agent_store);
        assert_eq!(w.rendezvous.prefix, "/worker/attempt_3");
        assert_eq!(w.timeout, Duration::from_secs(DEFAULT_TIMEOUT_S));
        let e = world(&[("WORLD_SIZE", "2"), ("RANK", "0")]).unwrap_err();
        assert!(format!("{e:#}").contains("MASTER_ADDR is not set"), "{e:#}");
        let e = world(&[("WORLD_SIZE", "2"), ("RANK", "2")]).unwrap_err();
        assert!(
            format!("{e:#}").contains("below the process count"),
            "{e:#}"
        );
        let e = world(&[("WORLD_SIZE", "two")]).unwrap_err();
        assert!(format!("{e:#}").contains("WORLD_SIZE=\"two\""), "{e:#}");
    }
}
