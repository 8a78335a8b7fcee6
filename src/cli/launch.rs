//! `tch-vae train --nproc N`: this process starts N - 1 copies of itself and becomes rank
//! 0 of one run on N processes, as `torchrun --standalone --nproc-per-node N --no-python
//! tch-vae train ...` would start them. The processes meet through the environment that
//! torchrun sets (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), with rank 0 hosting the
//! rendezvous store (`train::parallel`), so what follows is torchrun's path, tested with it.
use anyhow::{bail, ensure, Context, Result};
use std::ffi::OsString;
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The variables that make a process one rank of a run (torchrun's names).
const WORLD_VARS: [&str; 6] = [
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
];

/// How long the other ranks may take to end after rank 0 failed or was stopped: they end
/// at their next collective, at the latest after the collectives' timeout.
const GRACE: Duration = Duration::from_secs(90);

/// The ranks this process started.
pub struct Launch {
    children: Vec<Child>,
}

/// Starts ranks 1..n (`args`: this process's arguments after the program's name) and makes
/// this process rank 0; `threads`: each process's CPU threads. Call before any thread
/// starts: it sets this process's environment.
pub fn start(n: usize, args: &[OsString], threads: usize) -> Result<Launch> {
    ensure!(
        std::env::var_os("WORLD_SIZE").is_none(),
        "--nproc {n} under torchrun (WORLD_SIZE is set): torchrun starts the processes \
         already; give --nproc or use torchrun, not both"
    );
    // A free port for rank 0's store, the kernel's choice (freed again just before rank 0
    // listens on it).
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .context("--nproc: finding a free local port for the processes to meet")?
        .port();
    let exe = std::env::current_exe().context("--nproc: finding this program's path")?;
    let mut child_args = without_nproc(args);
    if !given(args, "--threads") {
        child_args.extend(["--threads".into(), threads.to_string().into()]);
    }
    let world = |rank: usize| {
        let (rank, n, port) = (rank.to_string(), n.to_string(), port.to_string());
        [rank.clone(), rank, n.clone(), n, "127.0.0.1".into(), port]
    };
    let mut launch = Launch {
        children: Vec::with_capacity(n - 1),
    };
    for rank in 1..n {
        let mut command = Command::new(&exe);
        command
            .args(&child_args)
            .envs(WORLD_VARS.iter().zip(world(rank)))
            .env_remove("TORCHELASTIC_USE_AGENT_STORE")
            .stdin(Stdio::null());
        match command.spawn() {
            Ok(child) => launch.children.push(child),
            Err(e) => {
                launch.kill();
                bail!(
                    "--nproc: starting process {rank} of {n} ({}): {e}",
                    exe.display()
                );
            }
        }
    }
    for (name, value) in WORLD_VARS.iter().zip(world(0)) {
        // Before any other thread (main calls this first), so no reader races the write.
        std::env::set_var(name, value);
    }
    std::env::remove_var("TORCHELASTIC_USE_AGENT_STORE");
    Ok(launch)
}

impl Launch {
    /// Waits for the other ranks after rank 0 ended with `result`: they end with it (a
    /// stop is agreed at the next step, a failure breaks their next collective); one that
    /// has not ended after [`GRACE`] is killed. A rank that failed when rank 0 did not
    /// makes the run fail; when rank 0 failed too, the ranks that a signal ended are named
    /// (the others said their own error).
    pub fn finish(mut self, result: Result<()>) -> Result<()> {
        let deadline = Instant::now() + GRACE;
        let mut failed = Vec::new();
        for (i, child) in self.children.iter_mut().enumerate() {
            let rank = i + 1;
            match wait_until(child, deadline)? {
                Some(status) if status.success() => {}
                Some(status) if status.code().is_some() && result.is_err() => {}
                Some(status) if status.code().is_some() => {
                    failed.push(format!("rank {rank} ended with {status}"));
                }
                Some(status) => failed.push(format!("rank {rank} was killed by {status}")),
                None => failed.push(format!("rank {rank} did not end and was killed")),
            }
        }
        if failed.is_empty() {
            return result;
        }
        let failed = format!("--nproc: {}", failed.join("; "));
        match result {
            Ok(()) => bail!(failed),
            Err(e) => {
                eprintln!("{failed}");
                Err(e)
            }
        }
    }

    fn kill(&mut self) {
        for child in &mut self.children {
            // Already ended is fine.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `child`'s exit status, or None after killing it at `deadline`.
fn wait_until(child: &mut Child, deadline: Instant) -> Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `flag` is among `args`, as `--flag value` or `--flag=value`.
fn given(args: &[OsString], flag: &str) -> bool {
    args.iter().any(|a| {
        let a = a.to_string_lossy();
        a == flag || a.starts_with(&format!("{flag}="))
    })
}

/// `args` without `--nproc N` or `--nproc=N` (clap has checked its value).
fn without_nproc(args: &[OsString]) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut skip_value = false;
    for a in args {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        let text = a.to_string_lossy();
        if text == "--nproc" {
            skip_value = true;
        } else if !text.starts_with("--nproc=") {
            out.push(a.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<OsString> {
        s.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn the_other_ranks_get_every_flag_but_nproc() {
        assert_eq!(
            without_nproc(&args("train --nproc 3 --lr 1e-3 --nproc=2 --out r")),
            args("train --lr 1e-3 --out r")
        );
        assert!(given(&args("train --threads=2"), "--threads"));
        assert!(given(&args("train --threads 2"), "--threads"));
        assert!(!given(&args("train --threads-x 2"), "--threads"));
    }
}
