//! Build steps around libtorch, whose location torch-sys exports as `DEP_TCH_LIBTORCH_LIB`
//! (its `links` key is "tch"; we depend on torch-sys directly to receive it):
//! * an rpath, so the binary and the tests run with no `LD_LIBRARY_PATH`;
//! * `libtorch_cuda.so` forced into the binary's NEEDED list. The linker's `--as-needed`
//!   otherwise drops it (no symbol of ours refers to it), and CUDA then silently reports
//!   unavailable on a GPU machine (tch-rs issues 907 and 980);
//! * the C++ glue in `src/native/cpp/` ([`CPP_SOURCES`]), compiled against libtorch's headers
//!   with warnings on (libtorch's own headers are system headers, so only ours warn):
//!   `torchscript.cpp` builds TorchScript modules with named parameters (see
//!   `src/export/mod.rs`), `optim.cpp` is libtorch's fused Adam (see `src/train/optim.rs`),
//!   `numerics.cpp` reads back MKL's reproducibility mode and ATen's CPU capability (see
//!   `src/native/numerics.rs`), `mixture.cpp` is the logistic mixture's likelihood and
//!   gradient in one pass (see `src/native/mixture.rs`), `layout.cpp` moves tensors
//!   between NCHW and channels-last with their gradients (see `src/native/layout.rs`), `c10d.cpp` is the distributed engine's Gloo process group
//!   (see `src/native/c10d.rs`; built when libtorch has c10d's headers, with our own
//!   declarations of Gloo's in `src/native/cpp/gloo_decls/`), and
//! * `cuda_graph.cpp` (see `src/native/cuda_graph.rs`) also needs the CUDA runtime
//!   headers: the PyTorch wheel's `nvidia/cu*/include` (or `CUDA_HOME`). Without them it
//!   is compiled to functions that report "no CUDA graph support", and training on CUDA
//!   runs eagerly.
use std::path::{Path, PathBuf};

/// The C++ files, compiled into one archive; `ffi_message.h` is their shared header.
const CPP_SOURCES: [&str; 7] = [
    "src/native/cpp/torchscript.cpp",
    "src/native/cpp/mixture.cpp",
    "src/native/cpp/layout.cpp",
    "src/native/cpp/c10d.cpp",
    "src/native/cpp/optim.cpp",
    "src/native/cpp/cuda_graph.cpp",
    "src/native/cpp/numerics.cpp",
];
/// Compiled apart, with AVX2 and FMA (see `main`).
const MIXTURE_AVX2: &str = "src/native/cpp/mixture_avx2.cpp";
const CPP_HEADERS: [&str; 6] = [
    "src/native/cpp/ffi_message.h",
    "src/native/cpp/gloo_decls/gloo/algorithm.h",
    "src/native/cpp/gloo_decls/gloo/common/error.h",
    "src/native/cpp/gloo_decls/gloo/context.h",
    "src/native/cpp/gloo_decls/gloo/rendezvous/store.h",
    "src/native/cpp/gloo_decls/gloo/transport/device.h",
];

/// The folder holding `cuda_runtime_api.h`: `$CUDA_HOME/include`, else the CUDA wheels
/// installed beside torch (`site-packages/nvidia/cu13/include` for torch 2.11+cu130).
fn cuda_include(torch_lib: &Path) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(home) = std::env::var_os("CUDA_HOME") {
        candidates.push(PathBuf::from(home).join("include"));
    }
    let nvidia = torch_lib.join("../../nvidia");
    if let Ok(entries) = std::fs::read_dir(&nvidia) {
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("include"))
            .collect();
        dirs.sort();
        candidates.extend(dirs);
    }
    candidates.push(PathBuf::from("/usr/local/cuda/include"));
    candidates
        .into_iter()
        .find(|dir| dir.join("cuda_runtime_api.h").exists())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for file in CPP_SOURCES
        .iter()
        .chain(&CPP_HEADERS)
        .chain([&MIXTURE_AVX2])
    {
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let lib = PathBuf::from(
        std::env::var_os("DEP_TCH_LIBTORCH_LIB")
            .expect("torch-sys did not export DEP_TCH_LIBTORCH_LIB; run scripts/setup.sh"),
    );
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    let libtorch_cuda = lib.join("libtorch_cuda.so").exists();
    // Lets a test check that a CUDA libtorch gave this build CUDA graph support.
    println!(
        "cargo:rustc-env=TCHVAE_LIBTORCH_CUDA={}",
        u8::from(libtorch_cuda)
    );
    if libtorch_cuda {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }

    let include = lib.join("../include");
    // The same C++ ABI as the libtorch we link (scripts/setup.sh asks torch for it).
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_string());
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .pic(true)
        .warnings(true)
        .extra_warnings(true)
        .flag(format!("-isystem{}", include.display()))
        .flag(format!(
            "-isystem{}",
            include.join("torch/csrc/api/include").display()
        ))
        .flag("-std=c++17")
        // No fused multiply-adds where the source has none: mixture.cpp's bits must not
        // follow the compiler's or the CPU's choice.
        .flag("-ffp-contract=off")
        // at::parallel_for is a header template whose threads are OpenMP pragmas (libtorch's
        // CPU builds use OpenMP): without this flag it runs on one thread. The runtime is
        // the libgomp that libtorch_cpu itself loads (the rpath finds torch's own copy).
        .flag("-fopenmp")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .files(CPP_SOURCES);
    // c10d's Gloo process group: in every Linux PyTorch wheel and libtorch archive built
    // with USE_DISTRIBUTED (whose headers it ships).
    let c10d = include.join("torch/csrc/distributed/c10d/ProcessGroupGloo.hpp");
    if c10d.exists() {
        build
            .include("src/native/cpp/gloo_decls")
            .define("TCHVAE_C10D", None)
            .define("USE_C10D_GLOO", None);
    }
    println!("cargo:rustc-env=TCHVAE_C10D={}", u8::from(c10d.exists()));
    let cuda = cuda_include(&lib).filter(|_| lib.join("libc10_cuda.so").exists());
    if let Some(cuda) = &cuda {
        build
            .flag(format!("-isystem{}", cuda.display()))
            .define("TCHVAE_CUDA_GRAPHS", None);
    }
    build.compile("tchvae_cpp");
    println!("cargo:rustc-link-lib=dylib=gomp");
    // The mixture's vector kernel: AVX2 and FMA for this file only (mixture.cpp runs it only
    // on a CPU that has them), no libtorch header (its comment says why); its SLEEF
    // functions come from libtorch_cpu.
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(true)
        .extra_warnings(true)
        .flag("-std=c++17")
        .flag("-mavx2")
        .flag("-mfma")
        .flag("-ffp-contract=off")
        .file(MIXTURE_AVX2)
        .compile("tchvae_mixture_avx2");
    // What this build can do, for `tch-vae --version`.
    println!(
        "cargo:rustc-env=TCHVAE_BUILT_WITH=several processes: {}; NCCL: not built (several \
         processes train on the CPU); CUDA graphs: {}",
        if c10d.exists() {
            "c10d's Gloo group (torchrun)"
        } else {
            "no (libtorch without c10d's headers)"
        },
        if cuda.is_some() { "yes" } else { "no" }
    );
    if cuda.is_some() {
        // After the archive, so that its references to c10's CUDA streams resolve.
        println!("cargo:rustc-link-lib=dylib=c10_cuda");
    }
}
