//! The `tch-vae` binary: the command line lives in `cli/`, the library in `lib.rs`.
mod cli;

/// jemalloc serves every allocation of the process, libtorch's tensors included (its
/// unprefixed `malloc` and `free` replace glibc's). glibc hands a freed block of more than
/// its mmap threshold back to the kernel, and the next step's tensor of the same size costs
/// page faults again: the hierarchical model spent a tenth of its epoch in the kernel so
/// (notebooks-export/SPEED.md, "The allocator").
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options (its `malloc_conf` variable, read when it starts; a user's
/// `MALLOC_CONF` environment variable is read after it and wins): keep freed pages for the
/// next step instead of returning them to the kernel after 10 s, as training reuses the same
/// sizes every step. The process's memory stays at its peak until it ends.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[export_name = "malloc_conf"]
static MALLOC_CONF: Option<&u8> = Some(&b"dirty_decay_ms:-1,muzzy_decay_ms:-1\0"[0]);

fn main() -> std::process::ExitCode {
    cli::main()
}
