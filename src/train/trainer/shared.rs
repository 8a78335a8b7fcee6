//! The trainer with the run's other processes (`train::parallel`): joining them, agreeing
//! on a stop, and the step on this process's share of each batch.
use super::Trainer;
use crate::model::noise::{self, Rows};
use crate::model::objective;
use crate::train::fault::FaultRecord;
use crate::train::parallel::DataParallel;
use crate::train::sums::PassSums;
use anyhow::{ensure, Result};
use tch::{Device, Tensor};

impl Trainer {
    /// Trains with the run's other processes from here on: every process takes rank 0's
    /// weights and Adam state (the same checkpoint or seed gives the same ones already;
    /// this makes sure), then steps on its share of each batch.
    pub fn join(&mut self, parallel: DataParallel) -> Result<()> {
        ensure!(
            self.vs.device() == Device::Cpu,
            "several processes train on the CPU only for now (c10d's Gloo group)"
        );
        // In name order: every process must pair the same tensors.
        let mut named: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        named.extend(self.opt.state());
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let tensors: Vec<Tensor> = named.into_iter().map(|(_, t)| t).collect();
        parallel.broadcast_all(&tensors)?;
        self.parallel = Some(parallel);
        Ok(())
    }

    /// The run's other processes, if it has several.
    pub fn parallel(&self) -> Option<&DataParallel> {
        self.parallel.as_ref()
    }

    /// Whether any process of the run asked to stop (`local`: this one did); a single
    /// process answers `local`.
    pub fn agree_stop(&mut self, local: bool) -> Result<bool> {
        let Some(parallel) = &self.parallel else {
            return Ok(local);
        };
        let flag = Tensor::from_slice(&[f32::from(u8::from(local || self.stop_asked))]);
        parallel.sum(&flag, "agreeing on a stop")?;
        (self.stop_asked, self.stop_agreed) = (false, false);
        Ok(flag.double_value(&[0]) > 0.0)
    }

    /// [`Trainer::step`] on this process's share of the global batch `x` (`[m, values]`,
    /// binarized as one process would): its rows, the global batch's noise for them, its
    /// objective (under free bits, floored by the global batch's KL means, one small
    /// all-reduce more) weighted by its share of the rows, then one all-reduce of the gradients
    /// with the step's totals (`parallel.rs`). A process with no rows (a last batch
    /// smaller than the process count) runs one row at weight 0.
    pub(super) fn shared_step(
        &mut self,
        x: &Tensor,
        y: Option<&Tensor>,
        beta: f64,
        fault: &mut FaultRecord,
    ) -> Result<()> {
        let parallel = self
            .parallel
            .as_ref()
            .expect("called with several processes");
        let m = x.size()[0] as usize;
        let (offset, len) = parallel.share(m);
        // A process left without rows runs one at weight 0, and its sums count nothing.
        let (offset, len, weight, counted) = match len {
            0 => (0, 1, 0.0, 0.0),
            len => (offset, len, len as f64 / m as f64, 1.0),
        };
        let rows = Rows {
            offset: offset as i64,
            len: len as i64,
            total: m as i64,
        };
        let mine = |t: &Tensor| t.narrow(0, offset as i64, len as i64);
        let (x, y) = (mine(x), y.map(mine));
        let step = noise::with_rows(rows, || {
            objective::step_terms(&self.vae, &x, y.as_ref(), &self.config, beta)
        })?;
        let objective = match &step.free_bits {
            // Free bits floor each KL unit by the whole batch's mean: the shares' sums of
            // each unit's KL, added up (a process with no rows adds nothing).
            Some(parts) => {
                let sums = tch::no_grad(|| parts.kl_mean.detach() * (len as f64 * counted));
                parallel.sum(&sums, "adding up the free bits' KL")?;
                parts.objective(&(sums / m as f64))
            }
            None => step.objective.shallow_clone(),
        } * weight;
        self.opt.zero_grad()?;
        objective.backward();
        let sums = tch::no_grad(|| PassSums::of_batch(&step.loss, &step.terms) * counted);
        let grads = self.opt.grads()?;
        let totals = parallel.reduce_step(&grads, &objective.detach(), &sums, self.stop_asked)?;
        self.stop_agreed = totals.stop;
        // The same gradients, now the sums of every process's.
        let norm = crate::train::optim::norm_of(&grads)?;
        self.apply(&totals.objective, &norm, fault)?;
        tch::no_grad(|| self.pos.sums.add_batch(&totals.sums));
        Ok(())
    }
}
