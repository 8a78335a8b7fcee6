//! Adam (Kingma & Ba 2015) with state we own, so that checkpoints can hold it and resume
//! exactly (tch's optimiser cannot save its moments). The update itself is libtorch's
//! fused kernel (`torch.optim.Adam(fused=True)`): one pass over each tensor.
use crate::native::ffi;
use anyhow::{ensure, Context, Result};
use std::collections::HashMap;
use tch::{nn::VarStore, Kind, Tensor};

/// PyTorch's defaults, which the reference uses too.
pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.999;
pub const EPS: f64 = 1e-8;

pub struct Adam {
    /// The learning rate, a 1-element float tensor on the device: a CUDA graph reads it
    /// at every replay, so a schedule can change it between replays.
    lr: Tensor,
    names: Vec<String>,
    /// The VarStore's variables (shallow clones: the same storage).
    params: Vec<Tensor>,
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
    /// Steps taken, a 1-element float tensor on the device (the fused kernel's input).
    step: Tensor,
}

impl Adam {
    /// Adam over the variables `names` of `vs`, in that order, with zero moments.
    pub fn new(vs: &VarStore, names: &[String], lr: f64) -> Result<Self> {
        let vars = vs.variables();
        let params = names
            .iter()
            .map(|n| {
                vars.get(n)
                    .map(|t| t.shallow_clone())
                    .with_context(|| format!("no variable {n}"))
            })
            .collect::<Result<Vec<_>>>()?;
        let zeros = |p: &Tensor| p.zeros_like();
        Ok(Adam {
            lr: Tensor::from_slice(&[lr as f32]).to_device(vs.device()),
            names: names.to_vec(),
            exp_avg: params.iter().map(zeros).collect(),
            exp_avg_sq: params.iter().map(zeros).collect(),
            step: Tensor::zeros([1], (Kind::Float, vs.device())),
            params,
        })
    }

    /// Drops the gradients (set to none, as PyTorch's default `zero_grad`), so that the
    /// next backward pass writes fresh ones instead of accumulating into zeros.
    pub fn zero_grad(&mut self) -> Result<()> {
        let ptrs: Vec<*const torch_sys::C_tensor> =
            self.params.iter().map(|p| p.as_ptr()).collect();
        // SAFETY: the pointers are the live parameters held by self.
        unsafe {
            ffi::check(
                ffi::tchvae_clear_grads(ptrs.as_ptr(), ptrs.len()),
                "clearing gradients failed",
            )
        }
    }

    /// The gradients, in the parameters' order (shallow: the same storage).
    pub fn grads(&self) -> Result<Vec<Tensor>> {
        let grads: Vec<Tensor> = self.params.iter().map(|p| p.grad()).collect();
        ensure!(
            grads.iter().all(|g| g.defined()),
            "gradients asked for before any backward pass"
        );
        Ok(grads)
    }

    /// The L2 norm of all gradients together, a 0-d tensor on the device (no host sync).
    pub fn grad_norm(&self) -> Result<Tensor> {
        norm_of(&self.grads()?)
    }

    /// Scales the gradients so that their joint norm is at most `max_norm`, given their
    /// `norm` (as torch.nn.utils.clip_grad_norm_ does).
    pub fn clip_grad(&self, norm: &Tensor, max_norm: f64) {
        let scale = (norm + 1e-6)
            .reciprocal()
            .multiply_scalar(max_norm)
            .clamp_max(1.0);
        for p in &self.params {
            let mut g = p.grad();
            g *= &scale;
        }
    }

    /// One update. `skip` (1-element float, 1 = skip) leaves weights, moments and the
    /// step count unchanged: a non-finite batch is dropped without a host sync.
    pub fn step(&mut self, skip: Option<&Tensor>) -> Result<()> {
        tch::no_grad(|| match skip {
            Some(skip) => self.step += 1.0 - skip,
            None => self.step += 1.0,
        });
        let grads: Vec<Tensor> = self.params.iter().map(|p| p.grad()).collect();
        ensure!(
            grads.iter().all(|g| g.defined()),
            "Adam step before any backward pass"
        );
        let ptrs = |ts: &[Tensor]| ts.iter().map(|t| t.as_ptr()).collect::<Vec<_>>();
        let steps = vec![self.step.as_ptr(); self.params.len()];
        let (p, g, m, v) = (
            ptrs(&self.params),
            ptrs(&grads),
            ptrs(&self.exp_avg),
            ptrs(&self.exp_avg_sq),
        );
        // SAFETY: every pointer is a live tensor held above for the whole call; the C++
        // side catches its own exceptions.
        let err = unsafe {
            ffi::tchvae_fused_adam(
                p.as_ptr(),
                g.as_ptr(),
                m.as_ptr(),
                v.as_ptr(),
                steps.as_ptr(),
                p.len(),
                self.lr.as_ptr(),
                BETA1,
                BETA2,
                EPS,
                0.0,
                skip.map_or(std::ptr::null(), |s| s.as_ptr()),
            )
        };
        // SAFETY: `err` is the C++ function's result, checked once.
        unsafe { ffi::check(err, "Adam update failed") }
    }

    /// Sets the learning rate of the steps that follow (in place: graphs see it).
    pub fn set_lr(&mut self, lr: f64) {
        tch::no_grad(|| {
            let _ = self.lr.fill_(lr);
        });
    }

    /// The optimiser's state by name: `adam.exp_avg.<param>`, `adam.exp_avg_sq.<param>`
    /// and `adam.step`.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, name) in self.names.iter().enumerate() {
            out.push((
                format!("adam.exp_avg.{name}"),
                self.exp_avg[i].shallow_clone(),
            ));
            out.push((
                format!("adam.exp_avg_sq.{name}"),
                self.exp_avg_sq[i].shallow_clone(),
            ));
        }
        out.push(("adam.step".to_string(), self.step.shallow_clone()));
        out
    }

    /// Restores [`Adam::state`], checking every name and shape.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        let take = |key: String, like: &Tensor| -> Result<Tensor> {
            let t = crate::model::weights::named_like(tensors, &key, like)?;
            Ok(t.to_kind(like.kind()).to_device(like.device()))
        };
        for i in 0..self.names.len() {
            let name = &self.names[i];
            let m = take(format!("adam.exp_avg.{name}"), &self.exp_avg[i])?;
            let v = take(format!("adam.exp_avg_sq.{name}"), &self.exp_avg_sq[i])?;
            tch::no_grad(|| {
                self.exp_avg[i].copy_(&m);
                self.exp_avg_sq[i].copy_(&v);
            });
        }
        let step = take("adam.step".to_string(), &self.step)?;
        tch::no_grad(|| self.step.copy_(&step));
        Ok(())
    }
}

/// The L2 norm of `grads` together (from [`Adam::grads`]), a 0-d tensor on their device
/// (no host sync).
pub fn norm_of(grads: &[Tensor]) -> Result<Tensor> {
    let ptrs: Vec<*const torch_sys::C_tensor> = grads.iter().map(|g| g.as_ptr()).collect();
    let mut out: *mut torch_sys::C_tensor = std::ptr::null_mut();
    // SAFETY: the pointers are live tensors that `grads` holds; on success the C++ side
    // hands over a heap-allocated tensor, which Tensor::from_ptr takes ownership of.
    unsafe {
        ffi::check(
            ffi::tchvae_grad_norm(ptrs.as_ptr(), ptrs.len(), &mut out),
            "gradient norm failed",
        )?;
        Ok(Tensor::from_ptr(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// Three steps on f(p) = sum(c * p^2) against Adam's definition (Kingma & Ba,
    /// Algorithm 1) computed by hand in double precision.
    #[test]
    fn matches_the_definition_and_skips_on_request() {
        let vs = VarStore::new(Device::Cpu);
        let p = vs.root().var("p", &[3], tch::nn::Init::Const(1.0));
        let c = Tensor::from_slice(&[1.0f32, -2.0, 0.5]);
        let mut opt = Adam::new(&vs, &["p".to_string()], 0.1).unwrap();
        let (mut m, mut v, mut x) = ([0.0f64; 3], [0.0f64; 3], [1.0f64; 3]);
        let cs = [1.0, -2.0, 0.5];
        let no = Tensor::zeros([1], (Kind::Float, Device::Cpu));
        for t in 1..=3 {
            opt.zero_grad().unwrap();
            (&p * &p * &c).sum(Kind::Float).backward();
            opt.step((t == 2).then_some(&no)).unwrap(); // no flag, or a 0 flag
            for i in 0..3 {
                let g = 2.0 * cs[i] * x[i];
                m[i] = BETA1 * m[i] + (1.0 - BETA1) * g;
                v[i] = BETA2 * v[i] + (1.0 - BETA2) * g * g;
                let (mh, vh) = (m[i] / (1.0 - BETA1.powi(t)), v[i] / (1.0 - BETA2.powi(t)));
                x[i] -= 0.1 * mh / (vh.sqrt() + EPS);
            }
        }
        let got = Vec::<f64>::try_from(p.to_kind(Kind::Double)).unwrap();
        for i in 0..3 {
            assert!((got[i] - x[i]).abs() < 1e-5, "{got:?} vs {x:?}");
        }
        let step = opt
            .state()
            .into_iter()
            .find(|(n, _)| n == "adam.step")
            .unwrap()
            .1;
        assert_eq!(step.double_value(&[0]), 3.0);
        // A skipped step changes nothing at all.
        let before = p.copy();
        let state: Vec<Tensor> = opt.state().into_iter().map(|(_, t)| t.copy()).collect();
        opt.zero_grad().unwrap();
        (&p * &p * &c).sum(Kind::Float).backward();
        opt.step(Some(&Tensor::ones([1], (Kind::Float, Device::Cpu))))
            .unwrap();
        assert!(p.equal(&before));
        for (a, (_, b)) in state.iter().zip(opt.state()) {
            assert!(a.equal(&b));
        }
    }

    /// A channels-last parameter given an NCHW gradient takes the step that the same
    /// parameter stored NCHW takes: the fused kernel walks the tensors' memory in step, so
    /// the gradient is laid out as the parameter first. (Autograd hands a parameter its
    /// gradient in the parameter's layout; a gradient written otherwise, as here, would
    /// be read in the wrong order.) Oracle: the NCHW parameter's steps.
    #[test]
    fn a_gradient_laid_out_otherwise_than_its_parameter_updates_the_right_values() {
        let c = Tensor::randn([2, 3, 2, 2], (Kind::Float, Device::Cpu));
        let start = Tensor::randn([2, 3, 2, 2], (Kind::Float, Device::Cpu));
        let run = |nhwc: bool| {
            let vs = VarStore::new(Device::Cpu);
            let mut p = vs.root().var_copy("p", &start);
            if nhwc {
                tch::no_grad(|| p.set_data(&crate::native::layout::relayout(&p, true)));
            }
            let mut opt = Adam::new(&vs, &["p".to_string()], 0.1).unwrap();
            for _ in 0..2 {
                opt.zero_grad().unwrap();
                (&p * &p * &c).sum(Kind::Float).backward();
                let mut g = p.grad();
                tch::no_grad(|| g.set_data(&g.contiguous()));
                assert!(p.grad().is_contiguous(), "the gradient is NCHW");
                opt.step(None).unwrap();
            }
            p.detach().contiguous()
        };
        let (nchw, nhwc) = (run(false), run(true));
        assert!(!nchw.equal(&start), "the steps moved the parameter");
        assert!(nhwc.equal(&nchw));
    }

    #[test]
    fn clipping_bounds_the_joint_norm() {
        let vs = VarStore::new(Device::Cpu);
        let p = vs.root().var("p", &[4], tch::nn::Init::Const(3.0));
        let opt = Adam::new(&vs, &["p".to_string()], 0.1).unwrap();
        (&p * &p).sum(Kind::Float).backward(); // gradient 6 everywhere, norm 12
        let norm = opt.grad_norm().unwrap();
        assert!((norm.double_value(&[]) - 12.0).abs() < 1e-5);
        opt.clip_grad(&norm, 3.0);
        assert!((opt.grad_norm().unwrap().double_value(&[]) - 3.0).abs() < 1e-4);
    }
}
