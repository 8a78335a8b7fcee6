//! How the training steps of a pass are executed: eagerly, one kernel launch at a time,
//! or (on CUDA) recorded once into a [`CudaGraph`] and replayed. The training loop hands
//! each step to a [`PassSteps`] and does not care which happens.
use crate::native::cuda_graph::{self, CudaGraph};
use anyhow::Result;
use tch::{Device, Tensor};

/// Steps of each pass run eagerly before the step is recorded into a CUDA graph, so that
/// libtorch makes its per-stream handles and workspaces outside the recording.
pub const EAGER_STEPS: usize = 3;

/// The execution policy of one training run, and what it has done so far.
pub struct Steps {
    device: Device,
    /// False after `--no-cuda-graphs`.
    requested: bool,
    kl_warmup: f64,
    /// Whether this thread's CUDA work was moved to a side stream (done once).
    on_side_stream: bool,
    /// Steps replayed from a CUDA graph so far in this process.
    replayed: usize,
}

impl Steps {
    pub fn new(device: Device, kl_warmup: f64) -> Self {
        Steps {
            device,
            requested: true,
            kl_warmup,
            on_side_stream: false,
            replayed: 0,
        }
    }

    /// Turns the recording of training steps into CUDA graphs off, or back on (the
    /// default; see [`Steps::eager_reason`] for when they are used).
    pub fn set_cuda_graphs(&mut self, on: bool) {
        self.requested = on;
    }

    /// On CUDA, why steps run eagerly instead of being replayed from a CUDA graph; None
    /// where they are replayed, and on the CPU.
    pub fn eager_reason(&self) -> Option<&'static str> {
        eager_reason(
            self.device.is_cuda(),
            self.requested,
            self.kl_warmup,
            cuda_graph::supported,
        )
    }

    /// Whether steps are recorded into CUDA graphs: on CUDA, unless there is a reason not to.
    pub fn uses_cuda_graphs(&self) -> bool {
        self.device.is_cuda() && self.eager_reason().is_none()
    }

    /// Steps replayed from a CUDA graph so far (the others ran eagerly).
    pub fn replayed(&self) -> usize {
        self.replayed
    }

    /// The executor of a pass that starts at batch `start`, with full batches of
    /// `batch_size` rows. Add its replays back with [`Steps::count`].
    pub fn begin_pass(&mut self, start: usize, batch_size: usize) -> Result<PassSteps> {
        let graphs = self.uses_cuda_graphs();
        if graphs && !self.on_side_stream {
            cuda_graph::use_side_stream(self.device)?;
            self.on_side_stream = true;
        }
        Ok(PassSteps {
            graphs,
            start,
            batch_size,
            recorded: None,
            replayed: 0,
        })
    }

    /// Adds a finished (or stopped) pass's replays to the run's count.
    pub fn count(&mut self, pass: &PassSteps) {
        self.replayed += pass.replayed;
    }
}

/// Runs the steps of one pass; owns the pass's recording, if any.
pub struct PassSteps {
    graphs: bool,
    start: usize,
    batch_size: usize,
    /// The recorded step and the fixed index tensor (`[batch_size]` int64) it reads.
    recorded: Option<(CudaGraph, Tensor)>,
    replayed: usize,
}

impl PassSteps {
    /// Runs step `i` of the pass on the rows `index` (`[b]` int64): `step(index)` eagerly,
    /// or the pass's recording of `step` replayed with `index` copied into its input.
    /// `step` must read nothing back to the host (see [`CudaGraph::capture`]).
    pub fn run(
        &mut self,
        i: usize,
        index: &Tensor,
        mut step: impl FnMut(&Tensor) -> Result<()>,
    ) -> Result<()> {
        if !(self.graphs && replays(i, self.start, index.size()[0] as usize, self.batch_size)) {
            return step(index);
        }
        if self.recorded.is_none() {
            let fixed = index.copy();
            let (graph, ()) = CudaGraph::capture(|| step(&fixed))?;
            self.recorded = Some((graph, fixed));
        }
        let (graph, fixed) = self.recorded.as_mut().expect("recorded above");
        fixed.copy_(index);
        graph.replay()?;
        self.replayed += 1;
        Ok(())
    }
}

/// See [`Steps::eager_reason`]: `requested` is false after `--no-cuda-graphs`, and
/// `supported` says whether this build can record graphs.
fn eager_reason(
    cuda: bool,
    requested: bool,
    kl_warmup: f64,
    supported: impl Fn() -> bool,
) -> Option<&'static str> {
    if !cuda {
        None
    } else if !requested {
        Some("--no-cuda-graphs")
    } else if kl_warmup != 0.0 {
        // A recording holds its scalars fixed; warm-up changes beta every batch.
        Some("--kl-warmup changes beta at every batch, which a recorded step would hold fixed")
    } else if !supported() {
        Some(
            "this build cannot record CUDA graphs (its libtorch came without the CUDA headers; \
             scripts/setup.sh installs them, then rebuild)",
        )
    } else {
        None
    }
}

/// Whether batch `i` of a pass that started at batch `start` is replayed from the pass's
/// CUDA graph: every full batch (`len` rows of `batch_size`) after the first
/// [`EAGER_STEPS`] of the pass; a smaller last batch runs eagerly, since the recording
/// has the full batch's shapes.
fn replays(i: usize, start: usize, len: usize, batch_size: usize) -> bool {
    len == batch_size && i >= start + EAGER_STEPS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_steps_are_replayed_unless_a_reason_says_otherwise() {
        let yes = || true;
        assert_eq!(eager_reason(false, true, 0.0, yes), None); // the CPU: no graphs, no reason
        assert_eq!(eager_reason(true, true, 0.0, yes), None);
        assert_eq!(
            eager_reason(true, false, 0.0, yes),
            Some("--no-cuda-graphs")
        );
        assert!(eager_reason(true, true, 2.0, yes)
            .unwrap()
            .contains("--kl-warmup"));
        assert!(eager_reason(true, true, 0.0, || false)
            .unwrap()
            .contains("CUDA headers"));
    }

    #[test]
    fn full_batches_after_the_first_few_of_each_pass_are_replayed() {
        let (bs, batches, last_len) = (128, 469, 96); // Fashion-MNIST's 60,000 images
        let replayed = |start: usize| -> Vec<usize> {
            (start..batches)
                .filter(|&i| replays(i, start, if i + 1 == batches { last_len } else { bs }, bs))
                .collect()
        };
        // A pass from the start: batches 0-2 eager, 3..467 replayed, the last eager.
        let fresh = replayed(0);
        assert_eq!(fresh.first(), Some(&EAGER_STEPS));
        assert_eq!(fresh.last(), Some(&(batches - 2)));
        assert_eq!(fresh.len(), batches - 1 - EAGER_STEPS);
        // A pass resumed mid-epoch records after its own first few batches.
        let resumed = replayed(200);
        assert_eq!(resumed.first(), Some(&(200 + EAGER_STEPS)));
        assert_eq!(resumed.len(), batches - 1 - 200 - EAGER_STEPS);
        // An epoch of one exact batch, or fewer batches than the eager ones: no replay.
        assert!(!replays(0, 0, bs, bs));
        assert!(replayed(batches - 2).is_empty());
    }

    #[test]
    fn on_the_cpu_every_step_runs_eagerly() {
        let mut steps = Steps::new(Device::Cpu, 0.0);
        let mut pass = steps.begin_pass(0, 2).unwrap();
        let mut seen = Vec::new();
        for i in 0..6 {
            let index = Tensor::from_slice(&[i as i64, i as i64 + 1]);
            pass.run(i, &index, |t| {
                seen.push(t.int64_value(&[0]));
                Ok(())
            })
            .unwrap();
        }
        steps.count(&pass);
        assert_eq!(seen, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(steps.replayed(), 0);
    }
}
