//! Same seed, same numbers: the process-wide settings that decide a CPU run's last bits,
//! set before libtorch's first operation, and their record in `config.json`.
//!
//! What made a CPU run's bits depend on more than its config and seed (measured with
//! `scripts/numerics_probe.py`, log in `notebooks-export/reproducibility/`):
//! 1. MKL's matrix products split their sums by the thread count unless its conditional
//!    numerical reproducibility (CNR) mode is on in its strict form: on an Intel Xeon the
//!    weights differed at 1 and 2 threads (`MKL_VERBOSE=1` printed `CNR:OFF`). MKL fixes
//!    its mode at its first computation, so [`init`] sets it (`mkl_cbwr_set`) before any
//!    libtorch work; a user's own `MKL_CBWR` wins and is recorded. Intel documents strict
//!    mode for its AVX2 and AVX-512 branches only, which MKL runs on Intel's CPUs only; on
//!    an AMD EPYC `AUTO,STRICT` still gave other bits at 1 to 4 threads for products of 12
//!    to 47 columns and fewer rows (a VampPrior's 8 pseudo-inputs through 16 hidden units),
//!    and for a layer's forward product of 2 or 3 rows
//!    (`notebooks-export/reproducibility/mkl-small-products-2026-12-07/`). So only where
//!    [`NumericsRecord::products_thread_invariant`] holds do MLP runs follow the load;
//!    elsewhere every CPU run keeps its count, as conv runs with oneDNN do (note 3).
//! 2. Across CPUs, MKL's AUTO branch and ATen's kernels follow the instruction set (AVX-512
//!    on one machine, AVX2 on another) and MKL its maker. The portable mode pins ATen's
//!    kernels to AVX2 (`ATEN_CPU_CAPABILITY=avx2`), which every x86-64 CPU of the last
//!    decade has, and MKL on Intel's CPUs to its AVX2 branch (`MKL_CBWR=AVX2,STRICT`). On
//!    other makers' CPUs MKL accepts only AUTO and COMPATIBLE, and only AUTO is strict there
//!    (`mkl_cbwr.rs`), so the portable mode runs AUTO,STRICT on them: the same bits on CPUs
//!    of one maker, other bits on Intel's and AMD's (measured 2026-12-07; no MKL setting
//!    gives both the same bits at every thread count).
//! 3. oneDNN's convolutions split the batch's weight-gradient sum between threads, so a
//!    conv run's bits depend on the thread count (measured: other weights at 1, 2, 3 and 4
//!    threads); oneDNN has no setting that fixes the split (its deterministic mode holds
//!    for one thread count), and its kernels' blocking follows the CPU. ATen's own
//!    convolutions (im2col and MKL matrix products) give the same bits at any count under
//!    MKL's strict mode (where it holds: note 1), at about 3.6 times oneDNN's time for the
//!    convolutions alone. So: in the machine mode conv runs keep oneDNN and a fixed thread
//!    count (they resume exactly at the count they started with); the portable mode turns
//!    oneDNN off, and its conv runs follow the machine's load like MLP runs.
//! 4. A few of ATen's element-wise kernels (sigmoid, softplus and log-sigmoid, and so binary
//!    cross-entropy from logits) compute the tail of each thread's share with a scalar
//!    formula that rounds differently from their vector one; where a share is not a multiple
//!    of the vector width (3 threads on 128 x 784 values: shares of 33,451), other elements
//!    take the scalar path. The losses use `invariant.rs` instead, built from kernels that
//!    compute every element alike.
//! 5. MKL's vector math (VML: ATen's exp, log, tanh, ... on the CPU) sets itself up at its
//!    first call, and when that call is split between threads, now and then one thread's
//!    share comes out at VML's lowest accuracy (about one process in a hundred on a loaded
//!    2-core machine; the odd runs of issue 23 differed from the first forward pass on). So
//!    [`init`] makes the first calls on its own thread, and [`warm_threads`] on every
//!    thread of libtorch's pool once the count is set.
use crate::native::{ffi, mkl_cbwr};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// `--reproducible`: which machines give a run the same bits.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Reproducible {
    /// The same bits on one kind of machine (same CPU instruction set, same libtorch), at
    /// any thread count and load where MKL's strict mode holds (Intel's CPUs), at the run's
    /// thread count elsewhere: MKL's strict mode on its fastest branch for this CPU
    /// (measured at 1.02x the time without it).
    #[default]
    Machine,
    /// The same bits on any x86-64 CPU with AVX2 of one maker (Intel's alike, AMD's alike,
    /// not the two: module note 2; on AMD's at one thread count: note 1): ATen's kernels
    /// pinned to AVX2, MKL to its AVX2 branch on Intel's CPUs, convolutions without oneDNN.
    /// Slower where the CPU has AVX-512, and conv models slower everywhere.
    Portable,
}

impl Reproducible {
    pub fn name(self) -> &'static str {
        match self {
            Reproducible::Machine => "machine",
            Reproducible::Portable => "portable",
        }
    }

    /// MKL's branch for this mode on a CPU whose maker is `vendor`: the portable mode's
    /// AVX2 on Intel's CPUs, and AUTO elsewhere, the only strict branch MKL offers there
    /// (`mkl_cbwr.rs`).
    fn mkl_branch(self, vendor: &str) -> i32 {
        match self {
            Reproducible::Portable if vendor == mkl_cbwr::INTEL => mkl_cbwr::AVX2,
            _ => mkl_cbwr::AUTO,
        }
    }

    /// The `MKL_CBWR` spelling of this mode on a CPU of `vendor`.
    fn mkl_cbwr(self, vendor: &str) -> String {
        mkl_cbwr::mode_name(self.mkl_branch(vendor) | mkl_cbwr::STRICT)
    }
}

/// What decided a run's CPU numbers, as `config.json` records it: two runs whose records
/// differ may differ in their last bits.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct NumericsRecord {
    /// The mode the process was started in.
    pub mode: Reproducible,
    /// The user's `MKL_CBWR`, if any (theirs wins), and whether it was theirs.
    pub mkl_cbwr: Option<String>,
    pub mkl_cbwr_from_user: bool,
    /// MKL's own answer (`mkl_cbwr_get`), e.g. "AUTO,STRICT"; None: libtorch has no MKL.
    pub mkl_mode: Option<String>,
    /// The code branch MKL runs: the pinned one, or the one AUTO picks on this CPU.
    pub mkl_branch: Option<String>,
    /// ATen's CPU kernels: "avx512", "avx2" or "default".
    pub aten_cpu_capability: String,
    /// `ATEN_CPU_CAPABILITY` as the process saw it, and whether the user set it.
    pub aten_cpu_capability_env: Option<String>,
    pub aten_cpu_capability_from_user: bool,
    /// The CPU's model name (`/proc/cpuinfo`).
    pub cpu: String,
    /// The CPU's maker (`/proc/cpuinfo`'s vendor_id: "GenuineIntel", "AuthenticAMD"):
    /// MKL computes other bits on other makers' CPUs (empty in runs made before
    /// 2026-12-07).
    #[serde(default)]
    pub cpu_vendor: String,
    /// The libtorch version the binary was built against.
    pub libtorch: String,
    /// Whether convolutions ran through oneDNN (off in the portable mode).
    #[serde(default)]
    pub onednn: bool,
}

/// How the process was started: the mode and who set each variable.
#[derive(Clone, Debug)]
struct Started {
    mode: Reproducible,
    mkl_from_user: bool,
    aten_from_user: bool,
    /// Why MKL's mode could not be set (it had computed before [`init`]).
    mkl_refused: Option<String>,
}

static STARTED: OnceLock<Started> = OnceLock::new();

const MKL_CBWR: &str = "MKL_CBWR";
const ATEN_CPU_CAPABILITY: &str = "ATEN_CPU_CAPABILITY";

/// Puts the process in `mode`. Call it first, before any libtorch operation: MKL fixes
/// its mode at its first computation, and ATen reads `ATEN_CPU_CAPABILITY` (which the
/// portable mode sets) at its first kernel. The binary calls it before anything else;
/// `commands::train` and `commands::resume` call it too, for library users. A user's own
/// `MKL_CBWR` and `ATEN_CPU_CAPABILITY` are kept. Later calls must ask for the same mode.
///
/// Errors: another mode than the first call's; MKL or ATen already in use, so that the
/// mode's promise cannot hold (in the portable mode, or when MKL has computed already).
pub fn init(mode: Reproducible) -> Result<()> {
    // get_or_init: threads that call at once wait for the first to finish setting up.
    let started = STARTED.get_or_init(|| start(mode));
    if started.mode != mode {
        bail!(
            "this process already runs in --reproducible {}; --reproducible {} needs a \
             process of its own",
            started.mode.name(),
            mode.name()
        );
    }
    if let Some(why) = &started.mkl_refused {
        bail!("{why}");
    }
    if mode == Reproducible::Portable {
        check_portable(&record())?;
    }
    Ok(())
}

fn start(mode: Reproducible) -> Started {
    let mkl_from_user = std::env::var_os(MKL_CBWR).is_some();
    let aten_from_user = std::env::var_os(ATEN_CPU_CAPABILITY).is_some();
    if mode == Reproducible::Portable && !aten_from_user {
        // Read by ATen at its first kernel dispatch, which has not happened yet when the
        // binary calls this first (check_portable reads the capability back).
        std::env::set_var(ATEN_CPU_CAPABILITY, "avx2");
    }
    if mode == Reproducible::Portable {
        // SAFETY: a plain C function taking a bool (src/native/cpp/numerics.cpp).
        unsafe { ffi::tchvae_set_onednn(false) };
    }
    let mut mkl_refused = None;
    if !mkl_from_user {
        let vendor = mkl_cbwr::cpuinfo("vendor_id");
        let branch = mode.mkl_branch(&vendor);
        // SAFETY: a plain C function taking an int (src/native/cpp/numerics.cpp).
        let code = unsafe { ffi::tchvae_mkl_cbwr_set(branch | mkl_cbwr::STRICT) };
        if code < 0 {
            let spelled = mode.mkl_cbwr(&vendor);
            let why = match code {
                -8 => format!(
                    "MKL had computed already: call tch_vae::native::numerics::init before \
                     any libtorch operation, or set MKL_CBWR={spelled} in the environment"
                ),
                -3 => "MKL has no such branch for this CPU: use --reproducible machine, and \
                       report it with this CPU's name"
                    .into(),
                _ => format!("set MKL_CBWR={spelled} in the environment, or report it"),
            };
            mkl_refused = Some(format!(
                "MKL refused its reproducible mode {spelled} (error {code}; {}): {why}",
                mkl_cbwr::cpuinfo("model name")
            ));
        }
    }
    // After MKL's mode (fixed at its first computation), before any parallel work.
    // A handful of values: below ATen's grain, so the calls run here, unsplit.
    warm_vector_math(16);
    Started {
        mode,
        mkl_from_user,
        aten_from_user,
        mkl_refused,
    }
}

/// Values a thread gets in [`warm_threads`]: more than ATen's grain for its vector-math
/// kernels (2,048), so that every thread of the pool gets a share.
const WARM_VALUES_PER_THREAD: i64 = 8192;

/// Makes the first call of each of MKL's vector-math functions on every thread of
/// libtorch's pool at `threads` threads (module note 5); the binary calls it where it sets
/// the count (`native::device::set_threads`), before any training or evaluation.
pub fn warm_threads(threads: usize) {
    warm_vector_math(WARM_VALUES_PER_THREAD * threads.max(1) as i64);
}

fn warm_vector_math(values: i64) {
    // SAFETY: a plain C function taking a count (src/native/cpp/numerics.cpp). A false
    // answer means libtorch threw on a few constants: the run's first operation reports it.
    let _ = unsafe { ffi::tchvae_warm_vector_math(values) };
}

/// The portable mode's promise needs both pins to hold; a CPU without AVX2, or a user's
/// variable that asks for something else, breaks it.
fn check_portable(r: &NumericsRecord) -> Result<()> {
    let mkl_ok = r
        .mkl_mode
        .as_deref()
        .is_none_or(|m| m == Reproducible::Portable.mkl_cbwr(&r.cpu_vendor));
    if !mkl_ok || r.aten_cpu_capability != "avx2" {
        bail!(
            "--reproducible portable pins MKL to {} on this CPU and ATen's kernels to avx2, \
             but this process runs MKL {} and ATen {} (MKL_CBWR={}, ATEN_CPU_CAPABILITY={}). \
             It needs an x86-64 CPU with AVX2 ({}) and neither variable set to another value",
            Reproducible::Portable.mkl_cbwr(&r.cpu_vendor),
            r.mkl_mode.as_deref().unwrap_or("absent"),
            r.aten_cpu_capability,
            r.mkl_cbwr.as_deref().unwrap_or("unset"),
            r.aten_cpu_capability_env.as_deref().unwrap_or("unset"),
            r.cpu
        );
    }
    Ok(())
}

/// Whether convolutions run through oneDNN, whose bits depend on the thread count (off in
/// the portable mode).
pub fn onednn_enabled() -> bool {
    // SAFETY: a plain C function without arguments (src/native/cpp/numerics.cpp).
    unsafe { ffi::tchvae_onednn_enabled() }
}

/// Why a CPU run computes other last bits at other thread counts in this process, or None
/// where its bits do not depend on the count (`conv`: a model with convolutions). Such a
/// run keeps its count instead of following the load (`commands::open`).
pub fn why_threads_change_bits(conv: bool) -> Option<String> {
    if conv && onednn_enabled() {
        return Some("oneDNN's convolutions split their sums by the thread count".into());
    }
    let r = record();
    (!r.products_thread_invariant()).then(|| {
        format!(
            "on this CPU ({}) MKL's matrix products split some sums by the thread count \
             (MKL {} on its {} branch; its strict mode holds on Intel's AVX2 and AVX-512 \
             branches only)",
            r.cpu,
            r.mkl_mode.as_deref().unwrap_or("absent"),
            r.mkl_branch.as_deref().unwrap_or("no")
        )
    })
}

/// The settings in force now, read back from MKL and ATen themselves.
pub fn record() -> NumericsRecord {
    let (mode, mkl_from_user, aten_from_user) = STARTED
        .get()
        .map_or((Reproducible::Machine, false, false), |s| {
            (s.mode, s.mkl_from_user, s.aten_from_user)
        });
    // SAFETY: plain C functions without arguments (src/native/cpp/numerics.cpp).
    let (cbwr, auto_branch, capability, version, onednn) = unsafe {
        (
            ffi::tchvae_mkl_cbwr_get(),
            ffi::tchvae_mkl_auto_branch(),
            ffi::tchvae_aten_cpu_capability(),
            ffi::tchvae_libtorch_version(),
            ffi::tchvae_onednn_enabled(),
        )
    };
    let mkl_mode = (cbwr >= 0).then(|| mkl_cbwr::mode_name(cbwr));
    let mkl_branch = (cbwr >= 0).then(|| {
        let branch = cbwr & mkl_cbwr::BRANCH_MASK;
        // AUTO and OFF run the branch MKL detects for this CPU.
        if branch <= mkl_cbwr::AUTO {
            mkl_cbwr::branch_name(auto_branch)
        } else {
            mkl_cbwr::branch_name(branch)
        }
    });
    NumericsRecord {
        mode,
        mkl_cbwr: std::env::var(MKL_CBWR).ok(),
        mkl_cbwr_from_user: mkl_from_user,
        mkl_mode,
        mkl_branch,
        aten_cpu_capability: match capability {
            1 => "avx2",
            2 => "avx512",
            _ => "default",
        }
        .to_string(),
        aten_cpu_capability_env: std::env::var(ATEN_CPU_CAPABILITY).ok(),
        aten_cpu_capability_from_user: aten_from_user,
        cpu: mkl_cbwr::cpuinfo("model name"),
        cpu_vendor: mkl_cbwr::cpuinfo("vendor_id"),
        libtorch: format!(
            "{}.{}.{}",
            version / 10000,
            version / 100 % 100,
            version % 100
        ),
        onednn,
    }
}

/// MKL's branches whose strict mode holds at any thread count: Intel's CNR guide names
/// strict mode for ?gemm on its AVX2 and AVX-512 branches only, and MKL takes those on
/// Intel's CPUs only (`mkl_cbwr.rs`).
const STRICT_BRANCHES: [&str; 3] = ["AVX2", "AVX512", "AVX512_E1"];

impl NumericsRecord {
    /// Whether MKL's matrix products give the same bits at any thread count: its strict
    /// mode on a branch that Intel documents it for (module note 1). Not without MKL, not
    /// on other makers' CPUs (AUTO,STRICT there still splits some products' sums by the
    /// thread count: module note 2), not under a user's non-strict `MKL_CBWR`.
    pub fn products_thread_invariant(&self) -> bool {
        match (&self.mkl_mode, &self.mkl_branch) {
            (Some(mode), Some(branch)) => {
                mode.ends_with(",STRICT") && STRICT_BRANCHES.contains(&branch.as_str())
            }
            _ => false,
        }
    }

    /// What differs between `self` and `now` among the settings that decide the bits (the
    /// CPU's name does not: two names of one instruction set give the same bits).
    pub fn differences(&self, now: &NumericsRecord) -> Vec<String> {
        let mut out = Vec::new();
        let mut compare = |what: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{what} {a} then, {b} now"));
            }
        };
        compare("mode", self.mode.name().into(), now.mode.name().into());
        compare(
            "MKL",
            format!("{:?}", self.mkl_mode),
            format!("{:?}", now.mkl_mode),
        );
        compare(
            "MKL branch",
            format!("{:?}", self.mkl_branch),
            format!("{:?}", now.mkl_branch),
        );
        compare(
            "ATen kernels",
            self.aten_cpu_capability.clone(),
            now.aten_cpu_capability.clone(),
        );
        if !self.cpu_vendor.is_empty() {
            compare("CPU maker", self.cpu_vendor.clone(), now.cpu_vendor.clone());
        }
        compare("libtorch", self.libtorch.clone(), now.libtorch.clone());
        compare("oneDNN", self.onednn.to_string(), now.onednn.to_string());
        out
    }
}
