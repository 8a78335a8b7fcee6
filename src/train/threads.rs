//! The CPU thread count of a training run given no `--threads`: libtorch's default (the
//! physical cores) on a quiet machine, fewer while other programs keep cores busy.
//!
//! Why: libtorch's OpenMP threads split every operation evenly and wait for the slowest
//! part. When another program holds one of the cores, the thread that shares it runs at
//! half speed or waits out the other program's time slice, and every operation waits for
//! it: beside one `yes` on a 2-core machine, fused-Adam PyTorch on 2 threads took 4.0x its
//! quiet epoch, tch-vae with this policy 1.35x (README, "A busy machine").
//!
//! How: twice a second, the CPU time that other processes used on the cores this
//! process may run on (`/proc/stat`'s counters of those cores less this process's own,
//! `/proc/self/stat`) says how many cores they leave free, and the thread count follows,
//! between 1 and the default, once two readings in a row agree. Where `/proc` cannot be
//! read (not Linux), the count stays.
//!
//! Only for models whose numbers do not depend on the thread count (numerics.rs says how,
//! tests/fast/threads.rs and tests/numerics/matrix.rs check it at 1 to 4 threads, beside a
//! busy core): MLPs, and conv models in the portable mode, on CPUs where MKL's strict
//! mode holds (Intel's). oneDNN's convolutions, and MKL's products on other makers' CPUs,
//! give other last bits at other counts, so those runs keep theirs (and resume exactly);
//! for them the policy only advises ([`ThreadPolicy::advising`]): it reads the load the
//! same way, and the epoch's summary says when fewer threads would have run faster.
use std::time::{Duration, Instant};

/// How often the load is read (two small files; a few microseconds), and the first
/// time: soon, so that a short epoch on a busy machine is not run on too many threads
/// (a change takes two readings that agree: the first after 0.1 s, the second 0.5 s later).
const EVERY: Duration = Duration::from_millis(500);
const FIRST: Duration = Duration::from_millis(100);

/// A core is counted free when other processes leave at least this much of it unused
/// (with 0.75 of a core free, a second thread gains little and risks waiting a time slice).
const FREE_ENOUGH: f64 = 0.75;

/// The adaptive thread count of one training run.
pub struct ThreadPolicy {
    /// libtorch's default: the most threads the run uses.
    max: usize,
    /// The logical CPUs this process may run on.
    cpus: Vec<usize>,
    current: usize,
    last: Option<Sample>,
    /// Whether the first reading of the load was taken.
    decided: bool,
    /// The count that the last reading asked for, when it differs from the current one.
    pending: Option<usize>,
    /// Whether the count is set (false: a run whose bits depend on the count only learns
    /// what the load asks for, to tell the user).
    apply: bool,
}

/// CPU time counters at one moment, in clock ticks.
#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    /// Busy and total (busy + idle) ticks of the allowed CPUs together.
    busy: u64,
    total: u64,
    /// This process's user + system ticks.
    own: u64,
}

impl ThreadPolicy {
    /// A policy that uses up to `max` threads (libtorch's current count), or None where
    /// the load cannot be read.
    pub fn new(max: usize) -> Option<Self> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .and_then(|list| parse_cpu_list(list.trim()))?;
        let mut policy = ThreadPolicy {
            max: max.max(1),
            cpus,
            current: max.max(1),
            last: None,
            decided: false,
            pending: None,
            apply: true,
        };
        policy.last = Some(policy.sample()?);
        Some(policy)
    }

    /// A policy that reads the load as [`ThreadPolicy::new`]'s does but never sets the
    /// count: for runs whose bits depend on it, which keep theirs and say what the load
    /// would have asked for.
    pub fn advising(max: usize) -> Option<Self> {
        Self::new(max).map(|p| ThreadPolicy { apply: false, ..p })
    }

    /// The most threads the run uses.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The count the load asks for now (the one in force, unless the policy only advises).
    pub fn wanted(&self) -> usize {
        self.current
    }

    /// Whether the policy only advises.
    pub fn advises(&self) -> bool {
        !self.apply
    }

    /// Called before each training batch: twice a second reads the load and sets
    /// libtorch's thread count to what the other processes leave free.
    pub fn before_batch(&mut self) {
        let Some(last) = self.last else { return };
        let wait = if self.decided { EVERY } else { FIRST };
        if last.at.elapsed() < wait {
            return;
        }
        self.decided = true;
        let Some(now) = self.sample() else {
            self.last = None; // unreadable now: keep the count from here on
            return;
        };
        self.last = Some(now);
        let Some(busy) = others_busy_cores(&last, &now, self.cpus.len()) else {
            return;
        };
        let threads = threads_for(busy, self.cpus.len(), self.max);
        if let Some(threads) = self.settle(threads).filter(|_| self.apply) {
            tch::set_num_threads(threads as i32);
        }
    }

    /// The count to change to, if any, given a reading's: a change needs two readings in a
    /// row that ask for it, so that a brief burst of other work (a compaction, a cron job)
    /// does not cost a quiet run half its threads.
    fn settle(&mut self, threads: usize) -> Option<usize> {
        if threads == self.current {
            self.pending = None;
            return None;
        }
        if self.pending != Some(threads) {
            self.pending = Some(threads);
            return None;
        }
        self.pending = None;
        self.current = threads;
        Some(threads)
    }

    fn sample(&self) -> Option<Sample> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        let (busy, total) = cpu_ticks(&stat, &self.cpus)?;
        Some(Sample {
            at: Instant::now(),
            busy,
            total,
            own: own_ticks(&own)?,
        })
    }
}

/// The cores' worth of CPU time that processes other than this one used between two
/// samples, on `cpus` CPUs; None when no time passed.
fn others_busy_cores(a: &Sample, b: &Sample, cpus: usize) -> Option<f64> {
    let total = b.total.checked_sub(a.total)? as f64 / cpus.max(1) as f64; // ticks per CPU
    if total <= 0.0 {
        return None;
    }
    let busy = b.busy.saturating_sub(a.busy) as f64;
    let own = b.own.saturating_sub(a.own) as f64;
    Some(((busy - own) / total).max(0.0))
}

/// The threads to use when other processes keep `busy` cores' worth of `cpus` CPUs busy:
/// one per core they leave free enough, between 1 and `max`.
fn threads_for(busy: f64, cpus: usize, max: usize) -> usize {
    let free = cpus as f64 - busy;
    ((free + 1.0 - FREE_ENOUGH).floor().max(1.0) as usize).min(max)
}

/// Busy and total ticks of the CPUs `cpus` from the text of `/proc/stat` (lines `cpuN
/// user nice system idle iowait irq softirq steal ...`); None when one is missing.
fn cpu_ticks(stat: &str, cpus: &[usize]) -> Option<(u64, u64)> {
    let (mut busy, mut total, mut found) = (0u64, 0u64, 0usize);
    for line in stat.lines() {
        let mut fields = line.split_whitespace();
        let Some(cpu) = fields
            .next()
            .and_then(|name| name.strip_prefix("cpu"))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        if !cpus.contains(&cpu) {
            continue;
        }
        let v: Vec<u64> = fields.take(8).filter_map(|f| f.parse().ok()).collect();
        if v.len() < 8 {
            return None;
        }
        // user nice system idle iowait irq softirq steal: idle and iowait are free time.
        let idle = v[3] + v[4];
        let used = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
        busy += used;
        total += used + idle;
        found += 1;
    }
    (found == cpus.len()).then_some((busy, total))
}

/// User + system ticks of this process (all its threads) from `/proc/self/stat`: fields
/// 14 and 15, counted after the command name's closing parenthesis (a name may hold
/// spaces).
fn own_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A list such as "0-3,8,10-11" (`Cpus_allowed_list` in `/proc/self/status`).
fn parse_cpu_list(list: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<usize>().ok()?..=b.parse::<usize>().ok()?),
            None => cpus.push(part.parse().ok()?),
        }
    }
    (!cpus.is_empty()).then_some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_as_the_kernel_writes_them() {
        assert_eq!(parse_cpu_list("0-1"), Some(vec![0, 1]));
        assert_eq!(
            parse_cpu_list("0-2,8,10-11"),
            Some(vec![0, 1, 2, 8, 10, 11])
        );
        assert_eq!(parse_cpu_list("5"), Some(vec![5]));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("a-b"), None);
    }

    #[test]
    fn ticks_are_read_for_the_allowed_cpus_only() {
        let stat = "cpu  100 0 50 1000 10 0 0 0 0 0\n\
                    cpu0 60 0 30 400 5 0 0 0 0 0\n\
                    cpu1 40 0 20 600 5 1 2 3 0 0\n\
                    cpu2 999 0 999 0 0 0 0 0 0 0\n\
                    intr 12345\n";
        // cpu0: used 90, idle 405; cpu1: used 66, idle 605.
        assert_eq!(cpu_ticks(stat, &[0, 1]), Some((156, 156 + 1010)));
        assert_eq!(cpu_ticks(stat, &[1]), Some((66, 671)));
        assert_eq!(cpu_ticks(stat, &[3]), None, "a CPU that is not listed");
    }

    #[test]
    fn own_time_is_read_after_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (tch vae (x)) R 1 4242 4242 0 -1 4194304 100 0 0 0 737 21 0 0 20 0 3";
        assert_eq!(own_ticks(stat), Some(758));
        assert_eq!(own_ticks("4242 (short) R 1"), None);
        // The real file of this process parses.
        let real = std::fs::read_to_string("/proc/self/stat");
        if let Ok(text) = real {
            assert!(own_ticks(&text).is_some(), "{text}");
        }
    }

    #[test]
    fn other_processes_load_is_the_busy_time_that_is_not_ours() {
        let at = Instant::now();
        let s = |busy, total, own| Sample {
            at,
            busy,
            total,
            own,
        };
        // Two CPUs over 100 ticks each: 200 ticks, 150 busy, 50 of them ours.
        let b = others_busy_cores(&s(0, 0, 0), &s(150, 200, 50), 2).unwrap();
        assert!((b - 1.0).abs() < 1e-12, "{b}");
        // All the busy time ours: nobody else.
        assert_eq!(
            others_busy_cores(&s(0, 0, 0), &s(120, 200, 120), 2),
            Some(0.0)
        );
        // No time passed.
        assert_eq!(others_busy_cores(&s(5, 10, 0), &s(5, 10, 0), 2), None);
    }

    #[test]
    fn threads_follow_the_cores_that_others_leave_free() {
        assert_eq!(threads_for(0.0, 2, 2), 2); // a quiet machine: all
        assert_eq!(threads_for(0.2, 2, 2), 2); // a little background work: still all
        assert_eq!(threads_for(1.0, 2, 2), 1); // one busy program on two cores
        assert_eq!(threads_for(0.6, 2, 2), 1); // most of a core taken
        assert_eq!(threads_for(5.0, 2, 2), 1); // never fewer than one
        assert_eq!(threads_for(3.0, 16, 8), 8); // never more than the default
        assert_eq!(threads_for(9.1, 16, 16), 7); // 6.9 cores free: the seventh is free enough
        assert_eq!(threads_for(9.3, 16, 16), 6); // 6.7 free: it is not
    }

    fn policy() -> ThreadPolicy {
        ThreadPolicy {
            max: 2,
            cpus: vec![0, 1],
            current: 2,
            last: None,
            decided: false,
            pending: None,
            apply: true,
        }
    }

    #[test]
    fn a_change_needs_two_readings_in_a_row() {
        let mut p = policy();
        assert_eq!(p.settle(1), None, "one busy reading: a burst, maybe");
        assert_eq!(p.settle(2), None, "quiet again: nothing changes");
        assert_eq!(p.settle(1), None);
        assert_eq!(p.settle(1), Some(1), "busy twice: one thread");
        assert_eq!(p.current, 1);
        assert_eq!(p.settle(1), None, "already there");
        assert_eq!(p.settle(2), None);
        assert_eq!(p.settle(2), Some(2), "quiet twice: back to two");
    }
}
