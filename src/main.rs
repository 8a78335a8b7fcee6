//! The `tch-vae` binary: the command line lives in `cli/`, the library in `lib.rs`.
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
