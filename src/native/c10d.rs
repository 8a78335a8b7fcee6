//! libtorch's distributed engine, c10d, as data-parallel training needs it: a Gloo process
//! group joined through a TCPStore (the rendezvous that `torchrun` and PyTorch's `env://`
//! use) and four collectives on CPU tensors. tch has no c10d bindings; the C++ side is
//! `cpp/c10d.cpp`.
//!
//! Every collective waits at most the group's timeout: a process of the run that died or
//! hangs makes the others' next collective fail with c10d's message instead of waiting
//! for ever.
use super::ffi;
use anyhow::{ensure, Result};
use std::ffi::{c_void, CString};
use std::time::Duration;
use tch::{Device, Tensor};

/// Whether this build has c10d (libtorch with c10d's headers; see build.rs).
pub const BUILT: bool = matches!(env!("TCHVAE_C10D").as_bytes(), b"1");

/// Where and how to meet the other processes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendezvous {
    /// The TCPStore's host and port (torchrun's MASTER_ADDR, MASTER_PORT).
    pub addr: String,
    pub port: u16,
    pub rank: usize,
    pub size: usize,
    /// torchrun's agent hosts the store and every rank is a client, its keys under
    /// `prefix` (TORCHELASTIC_USE_AGENT_STORE); otherwise rank 0 hosts it.
    pub agent_store: bool,
    pub prefix: String,
}

/// The reductions of [`ProcessGroup::allreduce`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduce {
    Sum = 0,
    Min = 1,
    Max = 2,
}

/// A joined Gloo process group.
pub struct ProcessGroup {
    handle: *mut c_void,
    rank: usize,
    size: usize,
}

impl ProcessGroup {
    /// Joins the group (every rank must call it); waits at most `timeout` for the others,
    /// and every later collective as long.
    pub fn join(at: &Rendezvous, timeout: Duration) -> Result<Self> {
        ensure!(
            at.rank < at.size,
            "rank {} of {} processes: a rank is below the process count",
            at.rank,
            at.size
        );
        let addr = CString::new(at.addr.as_str())?;
        let prefix = CString::new(at.prefix.as_str())?;
        let mut handle = std::ptr::null_mut();
        // SAFETY: the strings live across the call; `handle` is written on success only.
        unsafe {
            ffi::check(
                ffi::tchvae_c10d_new(
                    addr.as_ptr(),
                    i32::from(at.port),
                    at.rank as i32,
                    at.size as i32,
                    at.agent_store,
                    prefix.as_ptr(),
                    millis(timeout),
                    &mut handle,
                ),
                "joining the process group",
            )?;
        }
        let group = ProcessGroup {
            handle,
            rank: at.rank,
            size: at.size,
        };
        // SAFETY: a live handle.
        unsafe {
            ffi::check(
                ffi::tchvae_c10d_check_layout(group.handle),
                "checking c10d's Gloo process group",
            )?
        };
        Ok(group)
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// `tensor` (contiguous, CPU) becomes its reduction over every rank, in place.
    pub fn allreduce(&self, tensor: &Tensor, op: Reduce) -> Result<()> {
        check_tensor(tensor)?;
        // SAFETY: a live handle and tensor.
        unsafe {
            ffi::check(
                ffi::tchvae_c10d_allreduce(self.handle, tensor.as_ptr(), op as i32),
                "all-reduce across the processes of the run",
            )
        }
    }

    /// `tensor` (contiguous, CPU) becomes rank `root`'s, in place.
    pub fn broadcast(&self, tensor: &Tensor, root: usize) -> Result<()> {
        check_tensor(tensor)?;
        // SAFETY: a live handle and tensor.
        unsafe {
            ffi::check(
                ffi::tchvae_c10d_broadcast(self.handle, tensor.as_ptr(), root as i32),
                "broadcast across the processes of the run",
            )
        }
    }

    /// Sets how long each later collective may wait for the other ranks.
    pub fn set_timeout(&self, timeout: Duration) -> Result<()> {
        // SAFETY: a live handle.
        unsafe {
            ffi::check(
                ffi::tchvae_c10d_set_timeout(self.handle, millis(timeout)),
                "setting the collectives' timeout",
            )
        }
    }

    /// Sets `key` in the rendezvous store (which outlives a broken collective while the
    /// store's host lives: torchrun's agent).
    pub fn mark(&self, key: &str) -> Result<()> {
        let key = CString::new(key)?;
        // SAFETY: a live handle; the string lives across the call.
        unsafe {
            ffi::check(
                ffi::tchvae_c10d_store_mark(self.handle, key.as_ptr()),
                "writing to the rendezvous store",
            )
        }
    }

    /// Whether `key` is set in the rendezvous store.
    pub fn has(&self, key: &str) -> Result<bool> {
        let key = CString::new(key)?;
        let mut out = false;
        // SAFETY: a live handle; the string and `out` live across the call.
        unsafe {
            ffi::check(
                ffi::tchvae_c10d_store_has(self.handle, key.as_ptr(), &mut out),
                "reading the rendezvous store",
            )?
        };
        Ok(out)
    }

    /// Returns when every rank has called it.
    pub fn barrier(&self) -> Result<()> {
        // SAFETY: a live handle.
        unsafe {
            ffi::check(
                ffi::tchvae_c10d_barrier(self.handle),
                "barrier across the processes of the run",
            )
        }
    }
}

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

fn check_tensor(tensor: &Tensor) -> Result<()> {
    ensure!(
        tensor.device() == Device::Cpu && tensor.is_contiguous(),
        "c10d's Gloo group takes contiguous CPU tensors (got a {} one on {:?})",
        if tensor.is_contiguous() {
            "contiguous"
        } else {
            "non-contiguous"
        },
        tensor.device()
    );
    Ok(())
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // SAFETY: the handle came from tchvae_c10d_new and is freed once.
        unsafe { ffi::tchvae_c10d_free(self.handle) }
    }
}
