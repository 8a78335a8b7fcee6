//! `threads.csv`: how many training batches of each epoch ran at each CPU thread count.
//!
//! Why a file of its own: with `--reproducible` the thread count does not change an MLP's
//! bits (numerics.rs), but when two runs do differ, their folders alone should say whether
//! they ran alike. metrics.csv keeps its columns, a contract shared with the Python package
//! and with the runs of other tools; this file is the run's execution record beside it.
//! One row per epoch and thread count: `epoch,threads,batches`.
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Batches run at each thread count (threads -> batches).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ThreadCounts(pub BTreeMap<usize, usize>);

impl ThreadCounts {
    /// Counts one batch run at `threads`.
    pub fn add(&mut self, threads: usize) {
        *self.0.entry(threads).or_default() += 1;
    }

    /// "257 of 469 batches on 2 threads, 212 on 1 thread (other programs kept cores busy)"
    /// when some batches ran on fewer than `max` threads; None otherwise.
    pub fn summary(&self, max: usize) -> Option<String> {
        let all: usize = self.0.values().sum();
        if self.0.keys().all(|&t| t >= max) {
            return None;
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .rev()
            .enumerate()
            .map(|(i, (&t, &n))| {
                let s = if t == 1 { "" } else { "s" };
                let of = if i == 0 {
                    format!(" of {all} batches")
                } else {
                    String::new()
                };
                format!("{n}{of} on {t} thread{s}")
            })
            .collect();
        Some(format!(
            "{} (other programs kept cores busy)",
            parts.join(", ")
        ))
    }

    /// For a run that keeps `max` threads, counting the batches per count the load asked
    /// for: where it asked for fewer, "other programs kept cores busy during 450 of 469
    /// batches, when 1 thread would have run faster; ..." (the count asked for most); None
    /// otherwise.
    pub fn advice(&self, max: usize) -> Option<String> {
        let all: usize = self.0.values().sum();
        let fewer = self.0.iter().filter(|(&t, _)| t < max);
        let slow: usize = fewer.clone().map(|(_, &n)| n).sum();
        let (&t, _) = fewer.max_by_key(|(_, &n)| n)?;
        let s = if t == 1 { "" } else { "s" };
        Some(format!(
            "other programs kept cores busy during {slow} of {all} batches, when {t} \
             thread{s} would have run faster; this run keeps {max} for the same bits \
             (--threads {t} runs faster on a machine this busy, with that count's bits)"
        ))
    }
}

/// One row of `threads.csv`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct Row {
    pub epoch: usize,
    pub threads: usize,
    pub batches: usize,
}

/// The rows of `counts` for `epoch`.
pub fn rows(epoch: usize, counts: &ThreadCounts) -> Vec<Row> {
    counts
        .0
        .iter()
        .map(|(&threads, &batches)| Row {
            epoch,
            threads,
            batches,
        })
        .collect()
}

/// Writes every row (atomically).
pub fn write(path: &Path, rows: &[Row]) -> Result<()> {
    crate::native::atomic::write_csv(path, rows)
}

/// Every row of `path`.
pub fn read(path: &Path) -> Result<Vec<Row>> {
    let bytes = crate::native::files::read_bounded(
        path,
        crate::run::metrics::MAX_METRICS_BYTES,
        "a threads.csv may hold",
    )?;
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    r.deserialize()
        .collect::<Result<Vec<Row>, _>>()
        .with_context(|| format!("{} is not a tch-vae thread record", path.display()))
}

/// The rows of the first `epochs` epochs in `path`, for a resumed run; none when the file
/// is missing or unreadable (a record, not an input: the run goes on and rewrites it).
pub fn read_first(path: &Path, epochs: usize) -> Vec<Row> {
    read(path)
        .map(|rows| rows.into_iter().filter(|r| r.epoch <= epochs).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_the_batches_run_on_fewer_threads() {
        let mut c = ThreadCounts::default();
        assert_eq!(c.summary(2), None);
        for _ in 0..257 {
            c.add(2);
        }
        assert_eq!(c.summary(2), None);
        for _ in 0..212 {
            c.add(1);
        }
        assert_eq!(
            c.summary(2).unwrap(),
            "257 of 469 batches on 2 threads, 212 on 1 thread (other programs kept cores busy)"
        );
    }

    #[test]
    fn the_advice_names_the_busy_batches_and_the_count_the_load_asked_for_most() {
        let mut c = ThreadCounts::default();
        for _ in 0..19 {
            c.add(2);
        }
        assert_eq!(c.advice(2), None, "a quiet epoch");
        for _ in 0..450 {
            c.add(1);
        }
        assert_eq!(
            c.advice(2).unwrap(),
            "other programs kept cores busy during 450 of 469 batches, when 1 thread would \
             have run faster; this run keeps 2 for the same bits (--threads 1 runs faster on \
             a machine this busy, with that count's bits)"
        );
        // On 8 threads: 3 batches asked for 6, 5 for 7: the busy ones are 8, 7 the most asked.
        let mut c = ThreadCounts::default();
        for (t, n) in [(8, 10), (6, 3), (7, 5)] {
            for _ in 0..n {
                c.add(t);
            }
        }
        assert!(c
            .advice(8)
            .unwrap()
            .starts_with("other programs kept cores busy during 8 of 18 batches, when 7 threads"));
    }

    #[test]
    fn the_file_round_trips_and_a_resumed_run_keeps_the_finished_epochs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("threads.csv");
        let mut c = ThreadCounts::default();
        c.add(2);
        c.add(1);
        c.add(2);
        let all = [rows(1, &c), rows(2, &c)].concat();
        write(&path, &all).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "epoch,threads,batches\n1,1,1\n1,2,2\n2,1,1\n2,2,2\n"
        );
        assert_eq!(read_first(&path, 1), all[..2].to_vec());
        assert!(read_first(&dir.path().join("missing.csv"), 3).is_empty());
    }
}
